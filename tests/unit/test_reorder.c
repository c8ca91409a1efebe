/* test_reorder.c: per-peer ordering, stashing, fragment joining and batch validation. */
#include <CUnit/Basic.h>
#include <stdlib.h>
#include <string.h>

#include "ringmaster.h"
#include "runtime/frame.h"
#include "runtime/reorder.h"

struct seen {
    int n;
    uint32_t val[64];
    size_t len[64];
};

static void collect(void *ctx, const struct rm_frame_header *h, const void *payload)
{
    struct seen *s = ctx;
    if (s->n < 64) {
        s->val[s->n] = h->length >= 4 ? rm_get_u32(payload) : 0;
        s->len[s->n] = h->length;
    }
    s->n++;
}

/* Builds a batch from `sender` with seq holding one PING frame whose payload starts with v. */
static size_t batch(unsigned char *buf, uint32_t sender, uint64_t seq, uint32_t v)
{
    unsigned char payload[8] = {0};
    rm_put_u32(payload, v);
    struct rm_frame_header h = {.type = RM_MSG_PING, .sender = sender, .length = 8};
    rm_batch_header_write(buf, sender, seq, 0);
    long n = rm_frame_encode(&h, payload, 8, buf + RM_BATCH_HEADER_SIZE, 256, 1024);
    CU_ASSERT_FATAL(n > 0);
    return RM_BATCH_HEADER_SIZE + (size_t)n;
}

static void test_in_order(void)
{
    struct rm_reorder *r;
    CU_ASSERT_FATAL(rm_reorder_create(4, 1024, &r) == 0);
    struct rm_transport_stats st = {0};
    struct seen s = {0};
    unsigned char b[512];
    for (uint32_t i = 1; i <= 5; i++) {
        size_t n = batch(b, 2, i, i);
        CU_ASSERT_EQUAL(rm_reorder_accept(r, &st, 2, b, n, collect, &s), 1);
    }
    CU_ASSERT_EQUAL(s.n, 5);
    for (int i = 0; i < 5; i++)
        CU_ASSERT_EQUAL(s.val[i], (uint32_t)i + 1);
    rm_reorder_destroy(r);
}

static void test_out_of_order_is_restored(void)
{
    struct rm_reorder *r;
    CU_ASSERT_FATAL(rm_reorder_create(4, 1024, &r) == 0);
    struct rm_transport_stats st = {0};
    struct seen s = {0};
    unsigned char b[512];
    uint64_t order[] = {3, 2, 5, 1, 4};
    int delivered[] = {0, 0, 0, 3, 2};
    for (int k = 0; k < 5; k++) {
        size_t n = batch(b, 1, order[k], (uint32_t)order[k]);
        CU_ASSERT_EQUAL(rm_reorder_accept(r, &st, 1, b, n, collect, &s), delivered[k]);
    }
    CU_ASSERT_EQUAL(s.n, 5);
    for (int i = 0; i < 5; i++)
        CU_ASSERT_EQUAL(s.val[i], (uint32_t)i + 1);
    /* Peers are independent: rank 3 starts at seq 1 regardless of rank 1. */
    size_t n = batch(b, 3, 1, 77);
    CU_ASSERT_EQUAL(rm_reorder_accept(r, &st, 3, b, n, collect, &s), 1);
    CU_ASSERT_EQUAL(st.malformed, 0);
    rm_reorder_destroy(r);
}

static void test_bad_batches(void)
{
    struct rm_reorder *r;
    CU_ASSERT_FATAL(rm_reorder_create(4, 1024, &r) == 0);
    struct rm_transport_stats st = {0};
    struct seen s = {0};
    unsigned char b[512];
    size_t n = batch(b, 2, 1, 1);
    CU_ASSERT_EQUAL(rm_reorder_accept(r, &st, 1, b, n, collect, &s), 0); /* wrong envelope */
    CU_ASSERT_EQUAL(rm_reorder_accept(r, &st, 2, b, 10, collect, &s), 0); /* truncated */
    b[0] ^= 1;
    CU_ASSERT_EQUAL(rm_reorder_accept(r, &st, 2, b, n, collect, &s), 0); /* bad magic */
    b[0] ^= 1;
    CU_ASSERT_EQUAL(rm_reorder_accept(r, &st, 9, b, n, collect, &s), 0); /* unknown peer */
    CU_ASSERT_EQUAL(st.malformed, 4);
    CU_ASSERT_EQUAL(rm_reorder_accept(r, &st, 2, b, n, collect, &s), 1);
    CU_ASSERT_EQUAL(rm_reorder_accept(r, &st, 2, b, n, collect, &s), 0); /* replayed seq */
    CU_ASSERT_EQUAL(st.malformed, 5);
    CU_ASSERT_EQUAL(s.n, 1);
    rm_reorder_destroy(r);
}

static void test_fragments_join(void)
{
    struct rm_reorder *r;
    CU_ASSERT_FATAL(rm_reorder_create(2, 4096, &r) == 0);
    unsigned char payload[3000];
    for (size_t i = 0; i < sizeof payload; i++)
        payload[i] = (unsigned char)(i * 13);
    rm_put_u32(payload, 4242);
    unsigned char frame[RM_FRAME_HEADER_SIZE + sizeof payload];
    struct rm_frame_header h = {.type = RM_MSG_PING, .sender = 1, .length = sizeof payload};
    CU_ASSERT_FATAL(rm_frame_encode(&h, payload, sizeof payload, frame, sizeof frame, 4096) > 0);
    /* Three fragments of at most 1200 bytes, delivered out of order. */
    unsigned char frag[3][RM_BATCH_HEADER_SIZE + 1200];
    size_t flen[3];
    for (int i = 0; i < 3; i++) {
        size_t off = (size_t)i * 1200, n = sizeof frame - off < 1200 ? sizeof frame - off : 1200;
        rm_batch_header_write(frag[i], 1, (uint64_t)i + 1, i < 2 ? RM_BATCH_MORE : 0);
        memcpy(frag[i] + RM_BATCH_HEADER_SIZE, frame + off, n);
        flen[i] = RM_BATCH_HEADER_SIZE + n;
    }
    struct rm_transport_stats st = {0};
    struct seen s = {0};
    CU_ASSERT_EQUAL(rm_reorder_accept(r, &st, 1, frag[2], flen[2], collect, &s), 0);
    CU_ASSERT_EQUAL(rm_reorder_accept(r, &st, 1, frag[0], flen[0], collect, &s), 0);
    CU_ASSERT_EQUAL(rm_reorder_accept(r, &st, 1, frag[1], flen[1], collect, &s), 1);
    CU_ASSERT_EQUAL(s.n, 1);
    CU_ASSERT_EQUAL(s.val[0], 4242);
    CU_ASSERT_EQUAL(s.len[0], sizeof payload);
    CU_ASSERT_EQUAL(st.malformed, 0);
    rm_reorder_destroy(r);
}

static void test_oversized_join_refused(void)
{
    struct rm_reorder *r;
    CU_ASSERT_FATAL(rm_reorder_create(2, 100, &r) == 0); /* frames up to 132 bytes */
    unsigned char b[RM_BATCH_HEADER_SIZE + 100] = {0};
    struct rm_transport_stats st = {0};
    struct seen s = {0};
    rm_batch_header_write(b, 1, 1, RM_BATCH_MORE);
    CU_ASSERT_EQUAL(rm_reorder_accept(r, &st, 1, b, sizeof b, collect, &s), 0);
    rm_batch_header_write(b, 1, 2, RM_BATCH_MORE);
    CU_ASSERT_EQUAL(rm_reorder_accept(r, &st, 1, b, sizeof b, collect, &s), 0);
    CU_ASSERT_EQUAL(st.malformed, 1);
    CU_ASSERT_EQUAL(s.n, 0);
    rm_reorder_destroy(r);
}

static void test_forget(void)
{
    struct rm_reorder *r;
    CU_ASSERT_FATAL(rm_reorder_create(2, 1024, &r) == 0);
    struct rm_transport_stats st = {0};
    struct seen s = {0};
    unsigned char b[512];
    size_t n = batch(b, 1, 5, 5);
    CU_ASSERT_EQUAL(rm_reorder_accept(r, &st, 1, b, n, collect, &s), 0); /* stashed */
    rm_reorder_forget(r, 1);
    rm_reorder_forget(r, 7); /* out of range: ignored */
    rm_reorder_destroy(r);   /* ASan: nothing leaks */
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("reorder", NULL, NULL);
    CU_add_test(s, "in order", test_in_order);
    CU_add_test(s, "out of order is restored per peer", test_out_of_order_is_restored);
    CU_add_test(s, "bad batches dropped and counted", test_bad_batches);
    CU_add_test(s, "fragments join into one frame", test_fragments_join);
    CU_add_test(s, "oversized join refused", test_oversized_join_refused);
    CU_add_test(s, "forget drops the stash", test_forget);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
