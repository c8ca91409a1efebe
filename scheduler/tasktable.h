/*
 * tasktable.h: the task table, the state machine that Raft replicates.
 *
 * Each task has an id (0..n-1), a state, an owner rank and an attempt number. Commands arrive
 * as committed log entries and are applied in log order on every replica, so all replicas hold
 * the same table. Commands that do not fit the current state (a completion of a stale attempt,
 * an assignment of a task already done) are ignored deterministically, which is what makes
 * duplicates and replays harmless. Pure code: no MPI, no clock. Not thread-safe.
 *
 * Entry payloads (little-endian):
 *   INIT   u8 op=1, u64 tasks                          defines the job; first entry only
 *   ASSIGN u8 op=2, u32 owner, u32 n, n x u64 id        pending -> assigned, attempt + 1
 *   DONE   u8 op=3, u32 owner, u32 n, n x (u64 id, u32 attempt)
 *                                                       assigned to owner at attempt -> done
 *   DEAD   u8 op=4, u32 rank                            rank's assigned tasks -> pending
 */
#ifndef RM_TASKTABLE_H
#define RM_TASKTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum rm_task_state { RM_TASK_PENDING = 0, RM_TASK_ASSIGNED = 1, RM_TASK_DONE = 2 };
enum rm_tt_op { RM_TT_INIT = 1, RM_TT_ASSIGN = 2, RM_TT_DONE = 3, RM_TT_DEAD = 4 };

#define RM_TT_MAX_TASKS 100000000ull
#define RM_TT_MAX_BATCH 4096u

struct rm_tasktable {
    uint64_t n;          /* tasks; 0 until INIT */
    bool initialized;
    uint8_t *state;      /* enum rm_task_state per task */
    uint32_t *owner;     /* rank per task (valid when assigned or done) */
    uint32_t *attempt;   /* per task; 0 = never assigned */
    uint64_t done, assigned, rescheduled;
    uint64_t epoch;      /* number of distinct ranks declared dead (DEAD entries applied) */
    uint32_t *dead;      /* those ranks, in commit order */
    uint64_t applied;    /* entries applied */
};

/* Initializes an empty table (caller-allocated). Can't fail. */
void rm_tasktable_init(struct rm_tasktable *tt);

/* Frees the arrays. Safe on an initialized, empty table. */
void rm_tasktable_close(struct rm_tasktable *tt);

/* Applies one committed entry. data is borrowed. Returns 0 (including for commands ignored as
 * stale), RM_EPROTO for a malformed payload (nothing changes), RM_ENOMEM (INIT only). */
int rm_tasktable_apply(struct rm_tasktable *tt, const void *data, size_t len);

/* Encoders for the commands. Each returns a malloc'd buffer (the caller frees it) and its
 * length in *len, or NULL on ENOMEM. n <= RM_TT_MAX_BATCH. */
unsigned char *rm_tt_encode_init(uint64_t tasks, size_t *len);
unsigned char *rm_tt_encode_assign(uint32_t owner, const uint64_t *ids, uint32_t n, size_t *len);
unsigned char *rm_tt_encode_done(uint32_t owner, const uint64_t *ids, const uint32_t *attempts,
                                 uint32_t n, size_t *len);
unsigned char *rm_tt_encode_dead(uint32_t rank, size_t *len);

/* Whether rank was committed dead. Can't fail. */
bool rm_tasktable_is_dead(const struct rm_tasktable *tt, uint32_t rank);

/* Snapshot: the whole table as bytes (malloc'd; caller frees) and back. decode replaces tt's
 * contents. Returns 0, RM_ENOMEM, or RM_EPROTO for a malformed snapshot (tt unchanged). */
int rm_tasktable_encode(const struct rm_tasktable *tt, unsigned char **out, size_t *len);
int rm_tasktable_decode(struct rm_tasktable *tt, const void *data, size_t len);

#endif /* RM_TASKTABLE_H */
