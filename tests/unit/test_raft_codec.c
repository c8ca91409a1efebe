/*
 * test_raft_codec.c: the Raft wire codec. Round trips of every message type, and malformed
 * input: every truncation, every single-byte corruption, trailing bytes, oversized counts and
 * lengths, bad memberships. A malformed buffer must give RM_EPROTO, never a crash (the
 * sanitizer build checks the "never a crash" part).
 */
#include <CUnit/Basic.h>
#include <stdlib.h>
#include <string.h>

#include "ringmaster.h"
#include "runtime/raft.h"

static struct rm_raft_entry g_ents[3];
static const uint8_t g_payload[] = "hello raft";

static struct rm_raft_msg sample(uint32_t type)
{
    struct rm_raft_msg m;
    memset(&m, 0, sizeof(m));
    m.type = type;
    m.from = 3;
    m.to = 7;
    m.term = 42;
    switch (type) {
    case RM_RAFT_MSG_VOTE:
        m.prevote = 1;
        m.last_index = 100;
        m.last_term = 41;
        break;
    case RM_RAFT_MSG_VOTE_RESP:
        m.reject = 1;
        break;
    case RM_RAFT_MSG_APPEND:
        m.prev_index = 10;
        m.prev_term = 40;
        m.commit = 9;
        m.n_entries = 3;
        m.entries = g_ents;
        for (int i = 0; i < 3; i++) {
            g_ents[i].index = 11 + (uint64_t)i;
            g_ents[i].term = 41 + (uint64_t)(i / 2);
            g_ents[i].type = i == 1 ? RM_RAFT_ENTRY_NOOP : RM_RAFT_ENTRY_NORMAL;
            g_ents[i].len = i == 1 ? 0 : (uint32_t)sizeof(g_payload);
            g_ents[i].data = i == 1 ? NULL : g_payload;
        }
        break;
    case RM_RAFT_MSG_APPEND_RESP:
        m.reject = 1;
        m.index = 10;
        m.hint_index = 7;
        m.hint_term = 39;
        break;
    case RM_RAFT_MSG_HEARTBEAT:
        m.commit = 77;
        break;
    case RM_RAFT_MSG_HEARTBEAT_RESP:
        m.index = 78;
        break;
    case RM_RAFT_MSG_SNAPSHOT:
        m.snap.index = 500;
        m.snap.term = 40;
        m.snap.conf.n_voters = 3;
        m.snap.conf.voters[0] = 1;
        m.snap.conf.voters[1] = 3;
        m.snap.conf.voters[2] = 7;
        m.snap.conf.n_learners = 1;
        m.snap.conf.learners[0] = 9;
        m.snap_len = sizeof(g_payload);
        m.snap_data = g_payload;
        break;
    default:
        break;
    }
    return m;
}

static uint8_t *encode(const struct rm_raft_msg *m, size_t *len)
{
    size_t cap = rm_raft_msg_size(m);
    uint8_t *buf = malloc(cap);
    CU_ASSERT_FATAL(buf != NULL);
    CU_ASSERT_EQUAL_FATAL(rm_raft_msg_encode(m, buf, cap, len), 0);
    CU_ASSERT_EQUAL(*len, cap);
    return buf;
}

static void same(const struct rm_raft_msg *a, const struct rm_raft_msg *b)
{
    CU_ASSERT_EQUAL(a->type, b->type);
    CU_ASSERT_EQUAL(a->from, b->from);
    CU_ASSERT_EQUAL(a->to, b->to);
    CU_ASSERT_EQUAL(a->term, b->term);
    CU_ASSERT_EQUAL(a->prevote, b->prevote);
    CU_ASSERT_EQUAL(a->reject, b->reject);
    CU_ASSERT_EQUAL(a->last_index, b->last_index);
    CU_ASSERT_EQUAL(a->last_term, b->last_term);
    CU_ASSERT_EQUAL(a->prev_index, b->prev_index);
    CU_ASSERT_EQUAL(a->prev_term, b->prev_term);
    CU_ASSERT_EQUAL(a->commit, b->commit);
    CU_ASSERT_EQUAL(a->index, b->index);
    CU_ASSERT_EQUAL(a->hint_index, b->hint_index);
    CU_ASSERT_EQUAL(a->hint_term, b->hint_term);
    CU_ASSERT_EQUAL_FATAL(a->n_entries, b->n_entries);
    for (uint32_t i = 0; i < a->n_entries; i++) {
        CU_ASSERT_EQUAL(a->entries[i].index, b->entries[i].index);
        CU_ASSERT_EQUAL(a->entries[i].term, b->entries[i].term);
        CU_ASSERT_EQUAL(a->entries[i].type, b->entries[i].type);
        CU_ASSERT_EQUAL_FATAL(a->entries[i].len, b->entries[i].len);
        if (a->entries[i].len)
            CU_ASSERT(!memcmp(a->entries[i].data, b->entries[i].data, a->entries[i].len));
    }
    CU_ASSERT(!memcmp(&a->snap, &b->snap, sizeof(a->snap)));
    CU_ASSERT_EQUAL_FATAL(a->snap_len, b->snap_len);
    if (a->snap_len)
        CU_ASSERT(!memcmp(a->snap_data, b->snap_data, (size_t)a->snap_len));
}

static void test_round_trip(void)
{
    for (uint32_t t = RM_RAFT_MSG_VOTE; t <= RM_RAFT_MSG_SNAPSHOT; t++) {
        struct rm_raft_msg m = sample(t), d;
        size_t len;
        uint8_t *buf = encode(&m, &len);
        CU_ASSERT_EQUAL_FATAL(rm_raft_msg_decode(buf, len, &d), 0);
        same(&m, &d);
        rm_raft_msg_close(&d);
        free(buf);
    }
}

static void test_truncated_and_trailing(void)
{
    for (uint32_t t = RM_RAFT_MSG_VOTE; t <= RM_RAFT_MSG_SNAPSHOT; t++) {
        struct rm_raft_msg m = sample(t), d;
        size_t len;
        uint8_t *buf = encode(&m, &len);
        for (size_t cut = 0; cut < len; cut++) {
            uint8_t *copy = malloc(cut ? cut : 1); /* exact size, so ASan sees overreads */
            memcpy(copy, buf, cut);
            CU_ASSERT_EQUAL(rm_raft_msg_decode(copy, cut, &d), RM_EPROTO);
            free(copy);
        }
        uint8_t *longer = malloc(len + 1);
        memcpy(longer, buf, len);
        longer[len] = 0;
        CU_ASSERT_EQUAL(rm_raft_msg_decode(longer, len + 1, &d), RM_EPROTO);
        free(longer);
        free(buf);
    }
    CU_ASSERT_EQUAL(rm_raft_msg_decode(NULL, 0, &(struct rm_raft_msg){0}), RM_EPROTO);
}

/* Every single-byte change either decodes to something valid or fails cleanly. */
static void test_corruption(void)
{
    for (uint32_t t = RM_RAFT_MSG_VOTE; t <= RM_RAFT_MSG_SNAPSHOT; t++) {
        struct rm_raft_msg m = sample(t), d;
        size_t len;
        uint8_t *buf = encode(&m, &len);
        for (size_t i = 0; i < len; i++) {
            for (int v = 0; v < 256; v += 51) {
                uint8_t *copy = malloc(len);
                memcpy(copy, buf, len);
                copy[i] ^= (uint8_t)(v | 1);
                int rc = rm_raft_msg_decode(copy, len, &d);
                CU_ASSERT(rc == 0 || rc == RM_EPROTO);
                if (rc == 0)
                    rm_raft_msg_close(&d);
                free(copy);
            }
        }
        free(buf);
    }
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void test_oversized_counts(void)
{
    struct rm_raft_msg m = sample(RM_RAFT_MSG_APPEND), d;
    size_t len;
    uint8_t *buf = encode(&m, &len);
    /* entry count at offset 32 + 24: claim 2^32-1 entries in a tiny buffer */
    put32(buf + 56, 0xffffffffu);
    CU_ASSERT_EQUAL(rm_raft_msg_decode(buf, len, &d), RM_EPROTO);
    put32(buf + 56, 3);
    /* first entry's length (offset 56 + 4 + 12): beyond the buffer, then beyond the maximum */
    put32(buf + 72, 1000);
    CU_ASSERT_EQUAL(rm_raft_msg_decode(buf, len, &d), RM_EPROTO);
    put32(buf + 72, 0xffffffffu);
    CU_ASSERT_EQUAL(rm_raft_msg_decode(buf, len, &d), RM_EPROTO);
    /* unknown entry type */
    put32(buf + 72, (uint32_t)sizeof(g_payload));
    buf[68] = 9;
    CU_ASSERT_EQUAL(rm_raft_msg_decode(buf, len, &d), RM_EPROTO);
    free(buf);

    m = sample(RM_RAFT_MSG_SNAPSHOT);
    buf = encode(&m, &len);
    put32(buf + 48, 1000); /* n_voters far above RM_RAFT_MAX_VOTERS */
    CU_ASSERT_EQUAL(rm_raft_msg_decode(buf, len, &d), RM_EPROTO);
    free(buf);
}

static void test_header_checks(void)
{
    struct rm_raft_msg m = sample(RM_RAFT_MSG_HEARTBEAT), d;
    size_t len;
    uint8_t *buf = encode(&m, &len);
    uint8_t saved;
    const size_t fields[] = {0, 1, 2, 3, 4, 5};
    const uint8_t bad[] = {0x00, 0x00, 2, 99, 1, 1}; /* magic, magic, version, type, flags, pad */
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        saved = buf[fields[i]];
        buf[fields[i]] = bad[i];
        CU_ASSERT_EQUAL(rm_raft_msg_decode(buf, len, &d), RM_EPROTO);
        buf[fields[i]] = saved;
    }
    memset(buf + 8, 0, 8); /* from = 0 */
    CU_ASSERT_EQUAL(rm_raft_msg_decode(buf, len, &d), RM_EPROTO);
    free(buf);
    /* encoder refuses unknown types and short buffers */
    m.type = 99;
    CU_ASSERT_EQUAL(rm_raft_msg_encode(&m, NULL, 0, &len), RM_EINVAL);
    m = sample(RM_RAFT_MSG_VOTE);
    uint8_t small[8];
    CU_ASSERT_EQUAL(rm_raft_msg_encode(&m, small, sizeof(small), &len), RM_EMSGSIZE);
}

static void test_membership(void)
{
    struct rm_raft_membership m = {0}, d;
    uint8_t buf[512];
    m.n_voters = 2;
    m.voters[0] = 5;
    m.voters[1] = 6;
    m.n_learners = 1;
    m.learners[0] = 8;
    int n = rm_raft_membership_encode(&m, buf, sizeof(buf));
    CU_ASSERT_EQUAL_FATAL(n, (int)rm_raft_membership_size(&m));
    CU_ASSERT_EQUAL(rm_raft_membership_decode(buf, (size_t)n, &d), 0);
    CU_ASSERT(rm_raft_membership_is_voter(&d, 6));
    CU_ASSERT(rm_raft_membership_is_learner(&d, 8));
    CU_ASSERT(!rm_raft_membership_is_voter(&d, 8));
    CU_ASSERT_EQUAL(rm_raft_membership_decode(buf, (size_t)n - 1, &d), RM_EPROTO);
    CU_ASSERT_EQUAL(rm_raft_membership_decode(buf, 3, &d), RM_EPROTO);
    m.learners[0] = 5; /* duplicate id */
    n = rm_raft_membership_encode(&m, buf, sizeof(buf));
    CU_ASSERT_EQUAL(rm_raft_membership_decode(buf, (size_t)n, &d), RM_EPROTO);
    m.learners[0] = 0; /* zero id */
    n = rm_raft_membership_encode(&m, buf, sizeof(buf));
    CU_ASSERT_EQUAL(rm_raft_membership_decode(buf, (size_t)n, &d), RM_EPROTO);
    CU_ASSERT_EQUAL(rm_raft_membership_encode(&m, buf, 4), RM_EMSGSIZE);
}

int main(void)
{
    CU_pSuite s;
    unsigned failures;
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    s = CU_add_suite("raft_codec", NULL, NULL);
    if (!s || !CU_add_test(s, "round trip of every type", test_round_trip) ||
        !CU_add_test(s, "truncated and trailing bytes", test_truncated_and_trailing) ||
        !CU_add_test(s, "single-byte corruption", test_corruption) ||
        !CU_add_test(s, "oversized counts and lengths", test_oversized_counts) ||
        !CU_add_test(s, "header checks", test_header_checks) ||
        !CU_add_test(s, "membership", test_membership)) {
        CU_cleanup_registry();
        return 1;
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failures = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failures ? 1 : 0;
}
