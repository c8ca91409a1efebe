/* test_frame.c: the frame codec and batch validation (no MPI). */
#include <CUnit/Basic.h>
#include <stdlib.h>
#include <string.h>

#include "ringmaster.h"
#include "runtime/frame.h"
#include "runtime/transport.h"

static struct rm_frame_header hdr(uint8_t type, uint32_t sender, uint32_t len)
{
    struct rm_frame_header h = {.type = type, .sender = sender, .length = len, .term = 7,
                                .epoch = 3};
    return h;
}

static void test_roundtrip(void)
{
    unsigned char buf[256];
    const char msg[] = "hello, ring";
    struct rm_frame_header h = hdr(RM_MSG_PING, 5, sizeof msg);
    long n = rm_frame_encode(&h, msg, sizeof msg, buf, sizeof buf, 1024);
    CU_ASSERT_EQUAL(n, RM_FRAME_HEADER_SIZE + sizeof msg);
    struct rm_frame_header got;
    const void *payload;
    size_t used;
    CU_ASSERT_EQUAL(rm_frame_decode(buf, (size_t)n, 1024, &got, &payload, &used), 0);
    CU_ASSERT_EQUAL(used, (size_t)n);
    CU_ASSERT_EQUAL(got.type, RM_MSG_PING);
    CU_ASSERT_EQUAL(got.version, RM_FRAME_VERSION);
    CU_ASSERT_EQUAL(got.sender, 5);
    CU_ASSERT_EQUAL(got.length, sizeof msg);
    CU_ASSERT_EQUAL(got.term, 7);
    CU_ASSERT_EQUAL(got.epoch, 3);
    CU_ASSERT_EQUAL(memcmp(payload, msg, sizeof msg), 0);
}

static void test_empty_payload(void)
{
    unsigned char buf[RM_FRAME_HEADER_SIZE];
    struct rm_frame_header h = hdr(RM_MSG_HEARTBEAT, 1, 0);
    CU_ASSERT_EQUAL(rm_frame_encode(&h, NULL, 0, buf, sizeof buf, 16), RM_FRAME_HEADER_SIZE);
    struct rm_frame_header got;
    const void *p;
    size_t used;
    CU_ASSERT_EQUAL(rm_frame_decode(buf, sizeof buf, 16, &got, &p, &used), 0);
    CU_ASSERT_EQUAL(got.length, 0);
}

static void test_encode_rejects(void)
{
    unsigned char buf[64];
    char payload[40] = {0};
    struct rm_frame_header h = hdr(RM_MSG_INVALID, 0, 0);
    CU_ASSERT_EQUAL(rm_frame_encode(&h, NULL, 0, buf, sizeof buf, 16), RM_EINVAL);
    h = hdr(RM_MSG_TYPE_COUNT, 0, 0);
    CU_ASSERT_EQUAL(rm_frame_encode(&h, NULL, 0, buf, sizeof buf, 16), RM_EINVAL);
    h = hdr(RM_MSG_PING, 0, 40);
    CU_ASSERT_EQUAL(rm_frame_encode(&h, payload, 40, buf, sizeof buf, 16), RM_EMSGSIZE);
    CU_ASSERT_EQUAL(rm_frame_encode(&h, payload, 40, buf, sizeof buf, 1024), RM_EINVAL);
    h = hdr(RM_MSG_PING, 0, 3); /* length disagrees with len */
    CU_ASSERT_EQUAL(rm_frame_encode(&h, payload, 4, buf, sizeof buf, 1024), RM_EINVAL);
}

/* Encodes a PING with a 16-byte payload into buf; returns its size. */
static size_t sample(unsigned char *buf, size_t cap)
{
    unsigned char payload[16];
    for (int i = 0; i < 16; i++)
        payload[i] = (unsigned char)(i * 7);
    struct rm_frame_header h = hdr(RM_MSG_PING, 2, 16);
    long n = rm_frame_encode(&h, payload, 16, buf, cap, 1024);
    CU_ASSERT_FATAL(n > 0);
    return (size_t)n;
}

static void test_truncated(void)
{
    unsigned char buf[128];
    size_t n = sample(buf, sizeof buf);
    struct rm_frame_header got;
    const void *p;
    size_t used;
    for (size_t cut = 0; cut < n; cut++)
        CU_ASSERT_EQUAL(rm_frame_decode(buf, cut, 1024, &got, &p, &used), RM_EPROTO);
}

static void test_every_bit_flip_detected(void)
{
    unsigned char buf[128];
    size_t n = sample(buf, sizeof buf);
    struct rm_frame_header got;
    const void *p;
    size_t used;
    int accepted = 0;
    for (size_t byte = 0; byte < n; byte++) {
        for (int bit = 0; bit < 8; bit++) {
            buf[byte] ^= (unsigned char)(1u << bit);
            int rc = rm_frame_decode(buf, n, 1024, &got, &p, &used);
            accepted += rc == 0;
            CU_ASSERT(rc == RM_EPROTO || rc == RM_EMSGSIZE);
            buf[byte] ^= (unsigned char)(1u << bit);
        }
    }
    CU_ASSERT_EQUAL(accepted, 0);
    CU_ASSERT_EQUAL(rm_frame_decode(buf, n, 1024, &got, &p, &used), 0);
}

static void test_oversized(void)
{
    unsigned char buf[128];
    size_t n = sample(buf, sizeof buf);
    struct rm_frame_header got;
    const void *p;
    size_t used;
    CU_ASSERT_EQUAL(rm_frame_decode(buf, n, 15, &got, &p, &used), RM_EMSGSIZE);
    /* A header that claims 1 GiB + 1 is refused before the checksum is even computed. */
    rm_put_u32(buf + 8, RM_FRAME_HARD_MAX_PAYLOAD + 1u);
    CU_ASSERT_EQUAL(rm_frame_decode(buf, n, UINT32_MAX, &got, &p, &used), RM_EMSGSIZE);
}

static void test_bad_version_and_type(void)
{
    unsigned char buf[128];
    size_t n = sample(buf, sizeof buf);
    struct rm_frame_header got;
    const void *p;
    size_t used;
    buf[2] = RM_FRAME_VERSION + 1;
    CU_ASSERT_EQUAL(rm_frame_decode(buf, n, 1024, &got, &p, &used), RM_EPROTO);
    n = sample(buf, sizeof buf);
    buf[3] = 200;
    CU_ASSERT_EQUAL(rm_frame_decode(buf, n, 1024, &got, &p, &used), RM_EPROTO);
}

struct seen {
    int frames;
    uint32_t senders[8];
};

static void collect(void *ctx, const struct rm_frame_header *h, const void *payload)
{
    struct seen *s = ctx;
    (void)payload;
    if (s->frames < 8)
        s->senders[s->frames] = h->sender;
    s->frames++;
}

static void test_batch_delivery(void)
{
    unsigned char buf[512];
    size_t n = 0;
    for (int i = 0; i < 3; i++)
        n += sample(buf + n, sizeof buf - n);
    struct rm_transport_stats st = {0};
    struct seen s = {0};
    CU_ASSERT_EQUAL(rm__transport_deliver(&st, 2, buf, n, 1024, collect, &s), 3);
    CU_ASSERT_EQUAL(s.frames, 3);
    CU_ASSERT_EQUAL(st.frames_received, 3);
    CU_ASSERT_EQUAL(st.malformed, 0);

    /* Corrupt the second frame: the first is delivered, the rest of the batch dropped. */
    buf[RM_FRAME_HEADER_SIZE + 16 + RM_FRAME_HEADER_SIZE + 3] ^= 0x40;
    memset(&s, 0, sizeof s);
    memset(&st, 0, sizeof st);
    CU_ASSERT_EQUAL(rm__transport_deliver(&st, 2, buf, n, 1024, collect, &s), 1);
    CU_ASSERT_EQUAL(st.malformed, 1);
}

static void test_spoofed_sender(void)
{
    unsigned char buf[128];
    size_t n = sample(buf, sizeof buf); /* claims sender 2 */
    struct rm_transport_stats st = {0};
    struct seen s = {0};
    CU_ASSERT_EQUAL(rm__transport_deliver(&st, 3, buf, n, 1024, collect, &s), 0);
    CU_ASSERT_EQUAL(s.frames, 0);
    CU_ASSERT_EQUAL(st.malformed, 1);
}

static void test_trailing_garbage(void)
{
    unsigned char buf[128];
    size_t n = sample(buf, sizeof buf);
    buf[n] = 0xAB; /* one stray byte after a good frame */
    struct rm_transport_stats st = {0};
    struct seen s = {0};
    CU_ASSERT_EQUAL(rm__transport_deliver(&st, 2, buf, n + 1, 1024, collect, &s), 1);
    CU_ASSERT_EQUAL(st.malformed, 1);
}

static void test_random_garbage_never_crashes(void)
{
    unsigned char buf[256];
    struct rm_transport_stats st = {0};
    struct seen s = {0};
    uint64_t x = 88172645463325252ull;
    for (int round = 0; round < 20000; round++) {
        size_t len = (size_t)(x % sizeof buf);
        for (size_t i = 0; i < len; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            buf[i] = (unsigned char)x;
        }
        rm__transport_deliver(&st, 1, buf, len, 1024, collect, &s);
    }
    CU_ASSERT_EQUAL(s.frames, 0);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("frame", NULL, NULL);
    CU_add_test(s, "round trip", test_roundtrip);
    CU_add_test(s, "empty payload", test_empty_payload);
    CU_add_test(s, "encode rejects bad frames", test_encode_rejects);
    CU_add_test(s, "every truncation rejected", test_truncated);
    CU_add_test(s, "every single-bit flip rejected", test_every_bit_flip_detected);
    CU_add_test(s, "oversized frames rejected", test_oversized);
    CU_add_test(s, "bad version and type rejected", test_bad_version_and_type);
    CU_add_test(s, "batches deliver good frames and stop at a bad one", test_batch_delivery);
    CU_add_test(s, "sender must match the envelope", test_spoofed_sender);
    CU_add_test(s, "trailing garbage counted", test_trailing_garbage);
    CU_add_test(s, "random garbage never delivered", test_random_garbage_never_crashes);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
