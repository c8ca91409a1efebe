/* test_tasktable.c: the replicated task table's apply rules, snapshots and bad input. */
#include <CUnit/Basic.h>
#include <stdlib.h>
#include <string.h>

#include "ringmaster.h"
#include "scheduler/tasktable.h"

static void apply_owned(struct rm_tasktable *tt, unsigned char *e, size_t len)
{
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_EQUAL(rm_tasktable_apply(tt, e, len), 0);
    free(e);
}

static void init_table(struct rm_tasktable *tt, uint64_t n)
{
    size_t len;
    rm_tasktable_init(tt);
    {
        unsigned char *e_ = rm_tt_encode_init(n, &len);
        apply_owned(tt, e_, len);
    }
    CU_ASSERT_TRUE(tt->initialized);
    CU_ASSERT_EQUAL(tt->n, n);
}

static void assign(struct rm_tasktable *tt, uint32_t owner, const uint64_t *ids, uint32_t n)
{
    size_t len;
    {
        unsigned char *e_ = rm_tt_encode_assign(owner, ids, n, &len);
        apply_owned(tt, e_, len);
    }
}

static void done(struct rm_tasktable *tt, uint32_t owner, const uint64_t *ids, const uint32_t *att,
                 uint32_t n)
{
    size_t len;
    {
        unsigned char *e_ = rm_tt_encode_done(owner, ids, att, n, &len);
        apply_owned(tt, e_, len);
    }
}

static void test_lifecycle(void)
{
    struct rm_tasktable tt;
    init_table(&tt, 4);
    uint64_t ids[] = {0, 1, 2};
    assign(&tt, 7, ids, 3);
    CU_ASSERT_EQUAL(tt.assigned, 3);
    CU_ASSERT_EQUAL(tt.state[1], RM_TASK_ASSIGNED);
    CU_ASSERT_EQUAL(tt.owner[1], 7);
    CU_ASSERT_EQUAL(tt.attempt[1], 1);
    uint32_t att[] = {1, 1};
    done(&tt, 7, ids, att, 2);
    CU_ASSERT_EQUAL(tt.done, 2);
    CU_ASSERT_EQUAL(tt.assigned, 1);
    /* A second INIT (from a later leader) changes nothing. */
    size_t len;
    {
        unsigned char *e_ = rm_tt_encode_init(99, &len);
        apply_owned(&tt, e_, len);
    }
    CU_ASSERT_EQUAL(tt.n, 4);
    CU_ASSERT_EQUAL(tt.done, 2);
    rm_tasktable_close(&tt);
}

static void test_stale_and_duplicate_ignored(void)
{
    struct rm_tasktable tt;
    init_table(&tt, 2);
    uint64_t id0[] = {0};
    uint32_t a1[] = {1}, a2[] = {2};
    assign(&tt, 3, id0, 1);
    done(&tt, 4, id0, a1, 1); /* wrong owner */
    done(&tt, 3, id0, a2, 1); /* wrong attempt */
    CU_ASSERT_EQUAL(tt.done, 0);
    assign(&tt, 5, id0, 1); /* already assigned: ignored */
    CU_ASSERT_EQUAL(tt.owner[0], 3);
    done(&tt, 3, id0, a1, 1);
    done(&tt, 3, id0, a1, 1); /* duplicate */
    CU_ASSERT_EQUAL(tt.done, 1);
    uint64_t bad[] = {9};
    assign(&tt, 3, bad, 1); /* out of range */
    CU_ASSERT_EQUAL(tt.assigned, 0);
    rm_tasktable_close(&tt);
}

static void test_dead_owner_rescheduled_with_new_attempt(void)
{
    struct rm_tasktable tt;
    init_table(&tt, 3);
    uint64_t ids[] = {0, 1, 2};
    assign(&tt, 2, ids, 2);
    assign(&tt, 3, ids + 2, 1);
    size_t len;
    {
        unsigned char *e_ = rm_tt_encode_dead(2, &len);
        apply_owned(&tt, e_, len);
    }
    CU_ASSERT_EQUAL(tt.rescheduled, 2);
    CU_ASSERT_EQUAL(tt.epoch, 1);
    CU_ASSERT_TRUE(rm_tasktable_is_dead(&tt, 2));
    CU_ASSERT_FALSE(rm_tasktable_is_dead(&tt, 3));
    {
        unsigned char *e_ = rm_tt_encode_dead(2, &len); /* from a later leader: no new epoch */
        apply_owned(&tt, e_, len);
    }
    CU_ASSERT_EQUAL(tt.epoch, 1);
    unsigned char *snap;
    size_t slen;
    struct rm_tasktable copy;
    rm_tasktable_init(&copy);
    CU_ASSERT_EQUAL_FATAL(rm_tasktable_encode(&tt, &snap, &slen), 0);
    CU_ASSERT_EQUAL(rm_tasktable_decode(&copy, snap, slen), 0);
    CU_ASSERT_EQUAL(copy.epoch, 1);
    CU_ASSERT_TRUE(rm_tasktable_is_dead(&copy, 2));
    free(snap);
    rm_tasktable_close(&copy);
    CU_ASSERT_EQUAL(tt.state[0], RM_TASK_PENDING);
    CU_ASSERT_EQUAL(tt.state[2], RM_TASK_ASSIGNED);
    assign(&tt, 3, ids, 1);
    CU_ASSERT_EQUAL(tt.attempt[0], 2);
    uint32_t old[] = {1}, cur[] = {2};
    done(&tt, 2, ids, old, 1); /* the dead rank's late completion */
    CU_ASSERT_EQUAL(tt.done, 0);
    done(&tt, 3, ids, cur, 1);
    CU_ASSERT_EQUAL(tt.done, 1);
    rm_tasktable_close(&tt);
}

static void test_snapshot_roundtrip(void)
{
    struct rm_tasktable tt, copy;
    init_table(&tt, 5);
    uint64_t ids[] = {0, 1, 2, 3};
    uint32_t att[] = {1};
    assign(&tt, 1, ids, 4);
    done(&tt, 1, ids + 3, att, 1);
    unsigned char *snap;
    size_t len;
    CU_ASSERT_EQUAL_FATAL(rm_tasktable_encode(&tt, &snap, &len), 0);
    rm_tasktable_init(&copy);
    CU_ASSERT_EQUAL(rm_tasktable_decode(&copy, snap, len), 0);
    CU_ASSERT_EQUAL(copy.n, 5);
    CU_ASSERT_EQUAL(copy.done, 1);
    CU_ASSERT_EQUAL(copy.assigned, 3);
    CU_ASSERT_EQUAL(memcmp(copy.state, tt.state, 5), 0);
    CU_ASSERT_EQUAL(memcmp(copy.attempt, tt.attempt, 5 * sizeof *tt.attempt), 0);
    /* Damaged snapshots are refused and leave the table as it was. */
    CU_ASSERT_EQUAL(rm_tasktable_decode(&copy, snap, len - 1), RM_EPROTO);
    snap[0] ^= 1;
    CU_ASSERT_EQUAL(rm_tasktable_decode(&copy, snap, len), RM_EPROTO);
    snap[0] ^= 1;
    snap[len - 9] = 7; /* an impossible task state */
    CU_ASSERT_EQUAL(rm_tasktable_decode(&copy, snap, len), RM_EPROTO);
    CU_ASSERT_EQUAL(copy.done, 1);
    free(snap);
    rm_tasktable_close(&copy);
    rm_tasktable_close(&tt);
}

static void test_malformed_entries(void)
{
    struct rm_tasktable tt;
    init_table(&tt, 2);
    unsigned char junk[16] = {0};
    CU_ASSERT_EQUAL(rm_tasktable_apply(&tt, junk, 0), RM_EPROTO);
    junk[0] = 9;
    CU_ASSERT_EQUAL(rm_tasktable_apply(&tt, junk, 5), RM_EPROTO);
    junk[0] = RM_TT_ASSIGN;
    junk[5] = 3; /* claims 3 ids, carries none */
    CU_ASSERT_EQUAL(rm_tasktable_apply(&tt, junk, 9), RM_EPROTO);
    junk[0] = RM_TT_DEAD;
    CU_ASSERT_EQUAL(rm_tasktable_apply(&tt, junk, 6), RM_EPROTO);
    junk[0] = RM_TT_INIT;
    CU_ASSERT_EQUAL(rm_tasktable_apply(&tt, junk, 3), RM_EPROTO);
    CU_ASSERT_EQUAL(tt.applied, 1); /* only the INIT */
    rm_tasktable_close(&tt);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("tasktable", NULL, NULL);
    CU_add_test(s, "assign, complete, re-init ignored", test_lifecycle);
    CU_add_test(s, "stale attempts and duplicates ignored", test_stale_and_duplicate_ignored);
    CU_add_test(s, "dead owner's tasks rescheduled with a new attempt",
                test_dead_owner_rescheduled_with_new_attempt);
    CU_add_test(s, "snapshot round trip; damaged snapshots refused", test_snapshot_roundtrip);
    CU_add_test(s, "malformed entries refused", test_malformed_entries);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
