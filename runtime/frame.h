/*
 * frame.h: the wire format of every runtime message.
 *
 * A frame is a 32-byte little-endian header followed by `length` payload bytes:
 *
 *   off size field
 *     0    2 magic     0x4D52 ("RM")
 *     2    1 version   RM_FRAME_VERSION
 *     3    1 type      enum rm_msg_type
 *     4    4 sender    MPI rank of the sender in the job communicator
 *     8    4 length    payload bytes
 *    12    4 checksum  low 32 bits of XXH3-64 over header bytes 0..11, 16..31 and the payload
 *    16    8 term      Raft term the sender acted in (0 before Raft)
 *    24    8 epoch     membership epoch the sender acted in
 *
 * One MPI message (a batch) carries one or more frames back to back. Decoding checks every
 * field before anything is trusted. Pure code: no MPI, no allocation; safe from any thread.
 */
#ifndef RM_FRAME_H
#define RM_FRAME_H

#include <endian.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define RM_FRAME_MAGIC 0x4D52u
#define RM_FRAME_VERSION 1u
#define RM_FRAME_HEADER_SIZE 32u
/* Default and hard ceiling for one frame's payload. */
#define RM_FRAME_DEFAULT_MAX_PAYLOAD (64u << 20)
#define RM_FRAME_HARD_MAX_PAYLOAD (1u << 30)

/* Every message type of the runtime. Values are part of the wire format: append only. */
enum rm_msg_type {
    RM_MSG_INVALID = 0,
    RM_MSG_HEARTBEAT = 1, /* empty; "I am alive" */
    RM_MSG_DEATH = 2,     /* u32 rank: the sender has declared that rank dead */
    RM_MSG_PING = 3,      /* benchmarks and tests: echoed back by the receiver's handler */
    RM_MSG_PONG = 4,
    RM_MSG_ASSIGN = 5,   /* coordinator -> worker: a batch of task ids */
    RM_MSG_DONE = 6,     /* worker -> coordinator: a batch of completed task ids */
    RM_MSG_SHUTDOWN = 7, /* coordinator -> all: u32 exit status; the job is over */
    RM_MSG_RAFT = 8,     /* a Raft message; payload encoded by the Raft codec */
    RM_MSG_LEADER = 9,   /* new leader -> all: u64 term; "send your completions to me" */
    RM_MSG_FAIL = 10,    /* worker -> coordinator: a task attempt failed, with the reason */
    RM_MSG_STAGE = 11,   /* coordinator -> all: a stage starts; who holds the last one's outputs */
    RM_MSG_FETCH = 12,   /* reducer -> holder: send me part p of task t's output */
    RM_MSG_DATA = 13,    /* holder -> reducer: that part, or why not */
    RM_MSG_REPLICA = 14, /* holder -> replica: a copy of a task's stored output */
    RM_MSG_REPLICA_ACK = 15, /* replica -> holder: stored, or why not */
    RM_MSG_REREPLICATE = 16, /* coordinator -> holder: copy a task's output to another rank */
    RM_MSG_REPLICATED = 17,  /* holder -> coordinator: that rank holds a copy now */
    RM_MSG_CKPT = 18,        /* coordinator -> all: write your checkpoint file */
    RM_MSG_CKPT_DONE = 19,   /* rank -> coordinator: written, or why not */
    RM_MSG_STOP = 20,        /* rank -> coordinator: a stop signal arrived here */
    RM_MSG_STATS_ASK = 21,   /* finishing leader -> all: send me your trace record */
    RM_MSG_STATS = 22,       /* rank -> leader: its trace record (trace.h) */
    RM_MSG_TYPE_COUNT        /* one past the last valid type */
};

struct rm_frame_header {
    uint8_t type;
    uint8_t version;
    uint32_t sender;
    uint32_t length;
    uint64_t term;
    uint64_t epoch;
};

/*
 * Writes one frame (header and payload) into out.
 *  hdr: borrowed; hdr->length must equal len, and type must be valid. version is ignored
 *       (RM_FRAME_VERSION is written).
 *  payload: borrowed, len bytes (may be NULL when len is 0).
 *  out: borrowed, at least RM_FRAME_HEADER_SIZE + len bytes.
 *  max_payload: frames with a larger payload are refused.
 * Returns the bytes written (> 0), RM_EINVAL for a bad type or length mismatch, or
 * RM_EMSGSIZE when len > max_payload.
 */
long rm_frame_encode(const struct rm_frame_header *hdr, const void *payload, size_t len, void *out,
                     size_t out_cap, size_t max_payload);

/*
 * Reads the frame at the start of buf.
 *  buf: borrowed, len bytes. On success *payload points inside buf (borrowed from the caller's
 *       buffer) and *consumed is the size of the frame.
 *  max_payload: frames announcing a larger payload are refused.
 * Returns 0, RM_EPROTO for a truncated, mis-versioned, unknown-type or corrupt frame, or
 * RM_EMSGSIZE for an oversized one. On error nothing in buf can be trusted past this point.
 */
int rm_frame_decode(const void *buf, size_t len, size_t max_payload, struct rm_frame_header *hdr,
                    const void **payload, size_t *consumed);

/* Returns a static name for a message type ("heartbeat", ...) or "unknown". Can't fail. */
const char *rm_msg_type_name(unsigned type);

/* Little-endian helpers shared by every payload codec. They can't fail. memcpy of a fixed
 * size compiles to one load or store. */
static inline void rm_put_u32(unsigned char *p, uint32_t v)
{
    v = htole32(v);
    memcpy(p, &v, 4);
}

static inline void rm_put_u64(unsigned char *p, uint64_t v)
{
    v = htole64(v);
    memcpy(p, &v, 8);
}

static inline uint32_t rm_get_u32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return le32toh(v);
}

static inline uint64_t rm_get_u64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return le64toh(v);
}

#endif /* RM_FRAME_H */
