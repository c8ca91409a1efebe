/* frame.c: encoding and validation of runtime frames. See frame.h for the layout. */
#include "runtime/frame.h"

#include <string.h>
#define XXH_INLINE_ALL /* the hot path hashes 28-byte headers: inlining beats the library call */
#include <xxhash.h>

#include "ringmaster.h"

/* Checksum over the header (without the checksum field) and the payload. */
static uint32_t frame_checksum(const unsigned char *hdr, const void *payload, size_t len)
{
    unsigned char h[RM_FRAME_HEADER_SIZE - 4];
    memcpy(h, hdr, 12);
    memcpy(h + 12, hdr + 16, RM_FRAME_HEADER_SIZE - 16);
    XXH64_hash_t seed = XXH3_64bits(h, sizeof h);
    return (uint32_t)XXH3_64bits_withSeed(payload, len, seed);
}

long rm_frame_encode(const struct rm_frame_header *hdr, const void *payload, size_t len, void *out,
                     size_t out_cap, size_t max_payload)
{
    if (hdr->type == RM_MSG_INVALID || hdr->type >= RM_MSG_TYPE_COUNT || hdr->length != len)
        return RM_EINVAL;
    if (len > max_payload || len > RM_FRAME_HARD_MAX_PAYLOAD)
        return RM_EMSGSIZE;
    if (out_cap < RM_FRAME_HEADER_SIZE + len || (len > 0 && payload == NULL))
        return RM_EINVAL;
    unsigned char *p = out;
    p[0] = (unsigned char)(RM_FRAME_MAGIC & 0xff);
    p[1] = (unsigned char)(RM_FRAME_MAGIC >> 8);
    p[2] = RM_FRAME_VERSION;
    p[3] = hdr->type;
    rm_put_u32(p + 4, hdr->sender);
    rm_put_u32(p + 8, (uint32_t)len);
    rm_put_u64(p + 16, hdr->term);
    rm_put_u64(p + 24, hdr->epoch);
    if (len > 0)
        memcpy(p + RM_FRAME_HEADER_SIZE, payload, len);
    rm_put_u32(p + 12, frame_checksum(p, p + RM_FRAME_HEADER_SIZE, len));
    return (long)(RM_FRAME_HEADER_SIZE + len);
}

int rm_frame_decode(const void *buf, size_t len, size_t max_payload, struct rm_frame_header *hdr,
                    const void **payload, size_t *consumed)
{
    const unsigned char *p = buf;
    if (len < RM_FRAME_HEADER_SIZE)
        return RM_EPROTO;
    if ((p[0] | (unsigned)p[1] << 8) != RM_FRAME_MAGIC || p[2] != RM_FRAME_VERSION)
        return RM_EPROTO;
    if (p[3] == RM_MSG_INVALID || p[3] >= RM_MSG_TYPE_COUNT)
        return RM_EPROTO;
    uint32_t plen = rm_get_u32(p + 8);
    if (plen > max_payload || plen > RM_FRAME_HARD_MAX_PAYLOAD)
        return RM_EMSGSIZE;
    if (plen > len - RM_FRAME_HEADER_SIZE)
        return RM_EPROTO;
    if (rm_get_u32(p + 12) != frame_checksum(p, p + RM_FRAME_HEADER_SIZE, plen))
        return RM_EPROTO;
    hdr->version = p[2];
    hdr->type = p[3];
    hdr->sender = rm_get_u32(p + 4);
    hdr->length = plen;
    hdr->term = rm_get_u64(p + 16);
    hdr->epoch = rm_get_u64(p + 24);
    *payload = p + RM_FRAME_HEADER_SIZE;
    *consumed = RM_FRAME_HEADER_SIZE + plen;
    return 0;
}

const char *rm_msg_type_name(unsigned type)
{
    static const char *const names[RM_MSG_TYPE_COUNT] = {
        [RM_MSG_INVALID] = "invalid",
        [RM_MSG_HEARTBEAT] = "heartbeat",
        [RM_MSG_DEATH] = "death",
        [RM_MSG_PING] = "ping",
        [RM_MSG_PONG] = "pong",
        [RM_MSG_ASSIGN] = "assign",
        [RM_MSG_DONE] = "done",
        [RM_MSG_SHUTDOWN] = "shutdown",
        [RM_MSG_RAFT] = "raft",
        [RM_MSG_LEADER] = "leader",
        [RM_MSG_FAIL] = "fail",
        [RM_MSG_STAGE] = "stage",
        [RM_MSG_FETCH] = "fetch",
        [RM_MSG_DATA] = "data",
        [RM_MSG_REPLICA] = "replica",
        [RM_MSG_REPLICA_ACK] = "replica-ack",
        [RM_MSG_REREPLICATE] = "rereplicate",
        [RM_MSG_REPLICATED] = "replicated",
        [RM_MSG_CKPT] = "checkpoint",
        [RM_MSG_CKPT_DONE] = "checkpoint-done",
        [RM_MSG_STOP] = "stop",
        [RM_MSG_STATS_ASK] = "stats-ask",
        [RM_MSG_STATS] = "stats",
    };
    return type < RM_MSG_TYPE_COUNT && names[type] ? names[type] : "unknown";
}
