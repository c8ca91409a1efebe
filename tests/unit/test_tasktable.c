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
        uint64_t counts[] = {n};
        unsigned char *e_ = rm_tt_encode_init(n, 3, 1, counts, &len);
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
        uint64_t counts[] = {99};
        unsigned char *e_ = rm_tt_encode_init(99, 3, 1, counts, &len);
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
    snap[len - 28 - 4 - 22] = 7; /* an impossible task state (the last task's record; then
                                  * the one stage's state length, copies and counters) */
    CU_ASSERT_EQUAL(rm_tasktable_decode(&copy, snap, len), RM_EPROTO);
    CU_ASSERT_EQUAL(copy.done, 1);
    free(snap);
    rm_tasktable_close(&copy);
    rm_tasktable_close(&tt);
}

static void backup(struct rm_tasktable *tt, uint32_t rank, const uint64_t *ids, uint32_t n)
{
    size_t len;
    unsigned char *e = rm_tt_encode_backup(rank, ids, n, &len);
    apply_owned(tt, e, len);
}

static void fail(struct rm_tasktable *tt, uint32_t rank, uint64_t id, uint32_t attempt,
                 const char *why)
{
    size_t len;
    unsigned char *e = rm_tt_encode_fail(rank, id, attempt, why, &len);
    apply_owned(tt, e, len);
}

static void dead(struct rm_tasktable *tt, uint32_t rank)
{
    size_t len;
    unsigned char *e = rm_tt_encode_dead(rank, &len);
    apply_owned(tt, e, len);
}

static void test_backup_first_completion_wins(void)
{
    struct rm_tasktable tt;
    init_table(&tt, 2);
    uint64_t ids[] = {0, 1};
    assign(&tt, 1, ids, 2);
    backup(&tt, 1, ids, 1); /* the owner itself: refused */
    CU_ASSERT_EQUAL(tt.backup[0], RM_TT_NONE);
    backup(&tt, 2, ids, 2);
    CU_ASSERT_EQUAL(tt.backup[0], 2);
    CU_ASSERT_EQUAL(tt.backup_attempt[0], 2); /* unique attempt numbers */
    CU_ASSERT_EQUAL(tt.backups, 2);
    backup(&tt, 3, ids, 1); /* one backup at a time */
    CU_ASSERT_EQUAL(tt.backup[0], 2);
    CU_ASSERT_TRUE(rm_tasktable_runs(&tt, 0, 1, 1));
    CU_ASSERT_TRUE(rm_tasktable_runs(&tt, 0, 2, 2));
    CU_ASSERT_FALSE(rm_tasktable_runs(&tt, 0, 2, 1));
    uint32_t a2[] = {2}, a1[] = {1};
    done(&tt, 2, ids, a2, 1); /* the backup wins task 0 */
    CU_ASSERT_EQUAL(tt.state[0], RM_TASK_DONE);
    CU_ASSERT_EQUAL(tt.owner[0], 2); /* the result holder */
    done(&tt, 1, ids, a1, 1);        /* the slow owner's completion is stale */
    CU_ASSERT_EQUAL(tt.done, 1);
    CU_ASSERT_EQUAL(tt.owner[0], 2);
    done(&tt, 1, ids + 1, a1, 1); /* the owner wins task 1 */
    CU_ASSERT_EQUAL(tt.owner[1], 1);
    CU_ASSERT_EQUAL(tt.done, 2);
    CU_ASSERT_EQUAL(tt.assigned, 0);
    CU_ASSERT_EQUAL(tt.stage_done[0], 2);
    rm_tasktable_close(&tt);
}

static void test_dead_owner_hands_over_to_backup(void)
{
    struct rm_tasktable tt;
    init_table(&tt, 3);
    uint64_t ids[] = {0, 1, 2};
    assign(&tt, 1, ids, 3);
    backup(&tt, 2, ids, 1);
    backup(&tt, 1, ids + 1, 1); /* refused: owner */
    dead(&tt, 1);
    CU_ASSERT_EQUAL(tt.state[0], RM_TASK_ASSIGNED); /* the backup carries on, not rerun */
    CU_ASSERT_EQUAL(tt.owner[0], 2);
    CU_ASSERT_EQUAL(tt.attempt[0], 2);
    CU_ASSERT_EQUAL(tt.backup[0], RM_TT_NONE);
    CU_ASSERT_EQUAL(tt.state[1], RM_TASK_PENDING);
    CU_ASSERT_EQUAL(tt.rescheduled, 2);
    CU_ASSERT_EQUAL(tt.assigned, 1);
    assign(&tt, 1, ids + 1, 1); /* to a dead rank: refused */
    CU_ASSERT_EQUAL(tt.state[1], RM_TASK_PENDING);
    assign(&tt, 3, ids + 1, 2);
    CU_ASSERT_EQUAL(tt.attempt[1], 2);
    backup(&tt, 2, ids + 1, 1);
    dead(&tt, 2); /* task 0's new owner and task 1's backup die */
    CU_ASSERT_EQUAL(tt.state[0], RM_TASK_PENDING);
    CU_ASSERT_EQUAL(tt.backup[1], RM_TT_NONE);
    CU_ASSERT_EQUAL(tt.owner[1], 3);
    CU_ASSERT_EQUAL(tt.epoch, 2);
    rm_tasktable_close(&tt);
}

static void test_failures_retried_then_fail_the_job(void)
{
    struct rm_tasktable tt;
    init_table(&tt, 2); /* max_attempts 3 */
    uint64_t ids[] = {0, 1};
    assign(&tt, 1, ids, 2);
    fail(&tt, 1, 0, 7, "wrong attempt"); /* stale: ignored */
    CU_ASSERT_EQUAL(tt.failures, 0);
    fail(&tt, 1, 0, 1, "disk full");
    CU_ASSERT_EQUAL(tt.state[0], RM_TASK_PENDING);
    CU_ASSERT_EQUAL(tt.fails[0], 1);
    assign(&tt, 2, ids, 1);
    backup(&tt, 3, ids, 1);
    fail(&tt, 3, 0, 3, "backup broke"); /* the backup fails: the owner carries on */
    CU_ASSERT_EQUAL(tt.state[0], RM_TASK_ASSIGNED);
    CU_ASSERT_EQUAL(tt.owner[0], 2);
    CU_ASSERT_EQUAL(tt.backup[0], RM_TT_NONE);
    CU_ASSERT_FALSE(tt.job_failed);
    fail(&tt, 2, 0, 2, "no space left on device");
    CU_ASSERT_TRUE(tt.job_failed);
    CU_ASSERT_EQUAL(tt.state[0], RM_TASK_FAILED);
    CU_ASSERT_EQUAL(tt.failed_task, 0);
    CU_ASSERT_EQUAL(tt.failed_rank, 2);
    CU_ASSERT_STRING_EQUAL(tt.failed_error, "no space left on device");
    CU_ASSERT_EQUAL(tt.assigned, 1); /* only task 1 */
    unsigned char *snap;
    size_t slen;
    struct rm_tasktable copy;
    rm_tasktable_init(&copy);
    CU_ASSERT_EQUAL_FATAL(rm_tasktable_encode(&tt, &snap, &slen), 0);
    CU_ASSERT_EQUAL(rm_tasktable_decode(&copy, snap, slen), 0);
    CU_ASSERT_TRUE(copy.job_failed);
    CU_ASSERT_STRING_EQUAL(copy.failed_error, "no space left on device");
    CU_ASSERT_EQUAL(copy.state[0], RM_TASK_FAILED);
    CU_ASSERT_EQUAL(copy.fails[0], 3);
    CU_ASSERT_EQUAL(copy.assigned, 1);
    free(snap);
    rm_tasktable_close(&copy);
    rm_tasktable_close(&tt);
}

static void test_stages(void)
{
    struct rm_tasktable tt;
    rm_tasktable_init(&tt);
    uint64_t counts[] = {3, 0, 2};
    size_t len;
    CU_ASSERT_PTR_NULL(rm_tt_encode_init(5, 3, 0, counts, &len)); /* no stages */
    CU_ASSERT_PTR_NULL(rm_tt_encode_init(5, 0, 3, counts, &len)); /* no attempts allowed */
    unsigned char *e = rm_tt_encode_init(5, 2, 3, counts, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    e[17] = 4; /* counts no longer sum to the tasks */
    CU_ASSERT_EQUAL(rm_tasktable_apply(&tt, e, len), RM_EPROTO);
    e[17] = 3;
    e[len - 4] = 2; /* an unknown flag */
    CU_ASSERT_EQUAL(rm_tasktable_apply(&tt, e, len), RM_EPROTO);
    e[len - 4] = 0;
    apply_owned(&tt, e, len);
    CU_ASSERT_EQUAL(tt.stages, 3);
    CU_ASSERT_EQUAL(rm_tasktable_stage(&tt, 0), 0);
    CU_ASSERT_EQUAL(rm_tasktable_stage(&tt, 2), 0);
    CU_ASSERT_EQUAL(rm_tasktable_stage(&tt, 3), 2); /* stage 1 is empty */
    CU_ASSERT_EQUAL(rm_tasktable_stage(&tt, 4), 2);
    uint64_t ids[] = {0, 1, 2, 4};
    uint32_t att[] = {1, 1, 1, 1};
    assign(&tt, 0, ids + 3, 1); /* stage 2 before stage 0 is done: refused */
    CU_ASSERT_EQUAL(tt.state[4], RM_TASK_PENDING);
    assign(&tt, 0, ids, 3);
    done(&tt, 0, ids, att, 3);
    assign(&tt, 0, ids + 3, 1); /* stage 1 is empty, so stage 2 may start */
    done(&tt, 0, ids + 3, att, 1);
    CU_ASSERT_EQUAL(tt.stage_done[0], 3);
    CU_ASSERT_EQUAL(tt.stage_done[2], 1);
    unsigned char *snap;
    struct rm_tasktable copy;
    rm_tasktable_init(&copy);
    CU_ASSERT_EQUAL_FATAL(rm_tasktable_encode(&tt, &snap, &len), 0);
    CU_ASSERT_EQUAL(rm_tasktable_decode(&copy, snap, len), 0);
    CU_ASSERT_EQUAL(copy.stage_done[2], 1);
    CU_ASSERT_EQUAL(copy.stage_done[0], 3);
    CU_ASSERT_EQUAL(copy.stage_first[2], 3);
    CU_ASSERT_EQUAL(copy.max_attempts, 2);
    free(snap);
    rm_tasktable_close(&copy);
    rm_tasktable_close(&tt);
}

static void test_held_outputs_lost_with_their_holder(void)
{
    struct rm_tasktable tt;
    rm_tasktable_init(&tt);
    uint64_t counts[] = {3, 2}; /* 3 maps, 2 reduces */
    size_t len;
    unsigned char *e = rm_tt_encode_init_flags(5, 3, 2, counts, RM_TT_HELD_OUTPUTS, &len);
    apply_owned(&tt, e, len);
    CU_ASSERT_EQUAL(tt.flags, RM_TT_HELD_OUTPUTS);
    uint64_t maps[] = {0, 1, 2}, reds[] = {3, 4};
    uint32_t one[] = {1, 1, 1};
    assign(&tt, 1, maps, 2);
    assign(&tt, 2, maps + 2, 1);
    done(&tt, 1, maps, one, 2);
    done(&tt, 2, maps + 2, one, 1);
    CU_ASSERT_EQUAL(tt.stage_done[0], 3);
    assign(&tt, 2, reds, 1);
    assign(&tt, 3, reds + 1, 1);
    done(&tt, 3, reds + 1, one, 1); /* reduce 4 is done: its output is on disk, kept */
    dead(&tt, 1);                   /* held the outputs of maps 0 and 1 */
    assign(&tt, 2, reds, 1);        /* proposed before the death: refused, stage 0 is open again */
    CU_ASSERT_EQUAL(tt.state[3], RM_TASK_PENDING);
    CU_ASSERT_EQUAL(tt.state[0], RM_TASK_PENDING);
    CU_ASSERT_EQUAL(tt.state[1], RM_TASK_PENDING);
    CU_ASSERT_EQUAL(tt.state[2], RM_TASK_DONE);
    CU_ASSERT_EQUAL(tt.stage_done[0], 1);
    CU_ASSERT_EQUAL(tt.lost, 2);
    CU_ASSERT_EQUAL(tt.state[3], RM_TASK_PENDING); /* its inputs are incomplete */
    CU_ASSERT_EQUAL(tt.state[4], RM_TASK_DONE);
    CU_ASSERT_EQUAL(tt.done, 2);
    CU_ASSERT_EQUAL(tt.assigned, 0);
    unsigned char *snap;
    struct rm_tasktable copy;
    rm_tasktable_init(&copy);
    CU_ASSERT_EQUAL_FATAL(rm_tasktable_encode(&tt, &snap, &len), 0);
    CU_ASSERT_EQUAL(rm_tasktable_decode(&copy, snap, len), 0);
    CU_ASSERT_EQUAL(copy.flags, RM_TT_HELD_OUTPUTS);
    CU_ASSERT_EQUAL(copy.lost, 2);
    CU_ASSERT_EQUAL(copy.stage_done[0], 1);
    free(snap);
    rm_tasktable_close(&copy);
    rm_tasktable_close(&tt);
}

/* Replicas: a dead holder's outputs survive on a live replica (the task stays done, held there
 * now); with every copy gone the task is redone; the lists survive a snapshot. */
static void test_replicas(void)
{
    struct rm_tasktable tt;
    rm_tasktable_init(&tt);
    uint64_t counts[] = {3, 1};
    size_t len;
    {
        unsigned char *e_ = rm_tt_encode_init_copies(4, 3, 2, counts, RM_TT_HELD_OUTPUTS, 2, &len);
        apply_owned(&tt, e_, len);
    }
    CU_ASSERT_EQUAL_FATAL(tt.copies, 2);
    uint64_t maps[] = {0, 1, 2};
    uint32_t one[] = {1, 1, 1}, reps[] = {2, 3, 1};
    assign(&tt, 1, maps, 3);
    {
        unsigned char *e_ = rm_tt_encode_done_r(1, maps, one, reps, 2, 3, &len);
        apply_owned(&tt, e_, len);
    }
    CU_ASSERT_EQUAL(tt.done, 3);
    CU_ASSERT_EQUAL(tt.replica[0], 2);
    CU_ASSERT_EQUAL(tt.replica[2], RM_TT_NONE); /* the holder itself is no replica */
    dead(&tt, 1); /* held 0, 1 and 2: 0 and 1 have replicas on 2 and 3 */
    CU_ASSERT_EQUAL(tt.state[0], RM_TASK_DONE);
    CU_ASSERT_EQUAL(tt.owner[0], 2);
    CU_ASSERT_EQUAL(tt.owner[1], 3);
    CU_ASSERT_EQUAL(tt.state[2], RM_TASK_PENDING);
    CU_ASSERT_EQUAL(tt.saved, 2);
    CU_ASSERT_EQUAL(tt.lost, 1);
    CU_ASSERT_EQUAL(tt.replica[0], RM_TT_NONE); /* promoted: one copy left */
    dead(&tt, 2);                               /* task 0's last copy */
    CU_ASSERT_EQUAL(tt.state[0], RM_TASK_PENDING);
    CU_ASSERT_EQUAL(tt.state[1], RM_TASK_DONE);
    CU_ASSERT_EQUAL(tt.lost, 2);
    uint64_t two[] = {2};
    uint32_t rep5[] = {5}, att2[] = {2};
    assign(&tt, 4, two, 1);
    {
        unsigned char *e_ = rm_tt_encode_done_r(4, two, att2, rep5, 2, 1, &len);
        apply_owned(&tt, e_, len);
    }
    CU_ASSERT_EQUAL(tt.replica[2], 5);
    {
        unsigned char *e_ = rm_tt_encode_replica(1, 4, &len); /* task 1: held by 3, no replica */
        apply_owned(&tt, e_, len);
        e_ = rm_tt_encode_replica(1, 2, &len); /* rank 2 is dead; and the slot is taken */
        apply_owned(&tt, e_, len);
    }
    CU_ASSERT_EQUAL(tt.replica[1], 4);
    CU_ASSERT_EQUAL(tt.recopied, 1);
    CU_ASSERT_EQUAL(rm_tasktable_copies(&tt, 1), 2);
    unsigned char *snap;
    struct rm_tasktable copy;
    rm_tasktable_init(&copy);
    CU_ASSERT_EQUAL_FATAL(rm_tasktable_encode(&tt, &snap, &len), 0);
    CU_ASSERT_EQUAL_FATAL(rm_tasktable_decode(&copy, snap, len), 0);
    CU_ASSERT_EQUAL(copy.copies, 2);
    CU_ASSERT_EQUAL(copy.saved, 2);
    CU_ASSERT_EQUAL(copy.replica[2], 5);
    CU_ASSERT_EQUAL(copy.recopied, 1);
    CU_ASSERT_EQUAL(copy.reused, 0);
    CU_ASSERT_EQUAL(rm_tasktable_decode(&copy, snap, len - 4), RM_EPROTO);
    free(snap);
    rm_tasktable_close(&copy);
    {
        unsigned char *e_ = rm_tt_encode_done_r(4, two, att2, rep5, 2, 1, &len);
        CU_ASSERT_EQUAL(rm_tasktable_apply(&tt, e_, len - 1), RM_EPROTO);
        free(e_);
    }
    rm_tasktable_close(&tt);
}

/* A resumed job's INIT: the tasks it names start done, held where their outputs were loaded. */
static void test_init_resume(void)
{
    struct rm_tasktable tt;
    rm_tasktable_init(&tt);
    uint64_t counts[] = {3, 2}, ids[] = {0, 2, 2, 9};
    uint32_t holders[] = {1, 0, 1, 1};
    size_t len;
    unsigned char *e =
        rm_tt_encode_init_resume(5, 3, 2, counts, RM_TT_HELD_OUTPUTS, 2, ids, holders, 4, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_EQUAL(rm_tasktable_apply(&tt, e, len - 1), RM_EPROTO); /* cut short */
    apply_owned(&tt, e, len); /* 2 named twice: once; 9 does not exist: ignored */
    CU_ASSERT_EQUAL(tt.done, 2);
    CU_ASSERT_EQUAL(tt.reused, 2);
    CU_ASSERT_EQUAL(tt.state[0], RM_TASK_DONE);
    CU_ASSERT_EQUAL(tt.owner[2], 0);
    CU_ASSERT_EQUAL(tt.state[1], RM_TASK_PENDING);
    CU_ASSERT_EQUAL(tt.stage_done[0], 2);
    rm_tasktable_close(&tt);
}

/* STATE: the first one of a stage stands; it survives a snapshot; damaged ones are refused. */
static void test_stage_state(void)
{
    struct rm_tasktable tt;
    size_t len;
    rm_tasktable_init(&tt);
    uint64_t counts[] = {2, 2, 1};
    {
        unsigned char *e_ = rm_tt_encode_init(5, 3, 3, counts, &len);
        apply_owned(&tt, e_, len);
    }
    CU_ASSERT_FALSE(rm_tasktable_has_state(&tt, 1));
    {
        unsigned char *e_ = rm_tt_encode_state(1, "abc", 3, &len);
        apply_owned(&tt, e_, len);
    }
    {
        unsigned char *e_ = rm_tt_encode_state(1, "xyz!", 4, &len);
        apply_owned(&tt, e_, len);
    } /* ignored */
    {
        unsigned char *e_ = rm_tt_encode_state(2, NULL, 0, &len);
        apply_owned(&tt, e_, len);
    } /* empty, but present */
    CU_ASSERT_TRUE(rm_tasktable_has_state(&tt, 1));
    CU_ASSERT_TRUE(rm_tasktable_has_state(&tt, 2));
    CU_ASSERT_FALSE(rm_tasktable_has_state(&tt, 0));
    CU_ASSERT_FALSE(rm_tasktable_has_state(&tt, 3));
    CU_ASSERT_EQUAL(tt.state_len[1], 3);
    CU_ASSERT_EQUAL(memcmp(tt.stage_state[1], "abc", 3), 0);
    CU_ASSERT_EQUAL(tt.state_len[2], 0);

    unsigned char *snap;
    size_t slen;
    CU_ASSERT_EQUAL_FATAL(rm_tasktable_encode(&tt, &snap, &slen), 0);
    struct rm_tasktable copy;
    rm_tasktable_init(&copy);
    CU_ASSERT_EQUAL(rm_tasktable_decode(&copy, snap, slen), 0);
    CU_ASSERT_FALSE(rm_tasktable_has_state(&copy, 0));
    CU_ASSERT_TRUE(rm_tasktable_has_state(&copy, 2));
    CU_ASSERT_EQUAL_FATAL(copy.state_len[1], 3);
    CU_ASSERT_EQUAL(memcmp(copy.stage_state[1], "abc", 3), 0);
    /* cut short, or one byte too many: refused, and the table keeps what it had */
    CU_ASSERT_EQUAL(rm_tasktable_decode(&copy, snap, slen - 1), RM_EPROTO);
    unsigned char *longer = malloc(slen + 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(longer);
    memcpy(longer, snap, slen);
    longer[slen] = 0;
    CU_ASSERT_EQUAL(rm_tasktable_decode(&copy, longer, slen + 1), RM_EPROTO);
    CU_ASSERT_EQUAL(copy.state_len[1], 3);
    free(longer);
    free(snap);
    rm_tasktable_close(&copy);

    unsigned char *e = rm_tt_encode_state(9, "a", 1, &len); /* no such stage */
    CU_ASSERT_EQUAL(rm_tasktable_apply(&tt, e, len), RM_EPROTO);
    CU_ASSERT_EQUAL(rm_tasktable_apply(&tt, e, len - 1), RM_EPROTO); /* length disagrees */
    free(e);
    rm_tasktable_close(&tt);
}

static void test_malformed_entries(void)
{
    struct rm_tasktable tt;
    init_table(&tt, 2);
    unsigned char junk[32] = {0};
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
    junk[0] = RM_TT_FAIL;
    junk[17] = 200; /* claims 200 bytes of error text, carries none */
    CU_ASSERT_EQUAL(rm_tasktable_apply(&tt, junk, 19), RM_EPROTO);
    junk[0] = RM_TT_BACKUP;
    junk[5] = 1; /* claims 1 id, carries 7 bytes */
    CU_ASSERT_EQUAL(rm_tasktable_apply(&tt, junk, 16), RM_EPROTO);
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
    CU_add_test(s, "backup copies: the first completion wins", test_backup_first_completion_wins);
    CU_add_test(s, "a dead owner hands over to its backup", test_dead_owner_hands_over_to_backup);
    CU_add_test(s, "failures are retried, then fail the job",
                test_failures_retried_then_fail_the_job);
    CU_add_test(s, "stages", test_stages);
    CU_add_test(s, "held outputs are lost with their holder",
                test_held_outputs_lost_with_their_holder);
    CU_add_test(s, "malformed entries refused", test_malformed_entries);
    CU_add_test(s, "stage state: first stands, snapshots, damage refused", test_stage_state);
    CU_add_test(s, "replicas take over a dead holder's outputs", test_replicas);
    CU_add_test(s, "a resumed job's INIT starts tasks done", test_init_resume);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
