/*
 * tasktable.h: the task table, the state machine that Raft replicates.
 *
 * Each task has an id (0..n-1), a stage, a key (the 64-bit ring hash of its data key, set by
 * the kernel on every rank, since it follows from the job itself and is never logged), a state,
 * an owner rank and an attempt number, at most one backup copy (another rank running the same
 * task at its own attempt number: the first completion wins), a count of failed attempts, and
 * once done the rank that holds its result (for now, the rank that completed it). Commands
 * arrive as committed log entries and are applied in log order on every replica, so all
 * replicas hold the same table. Commands that do not fit the current state (a completion of a
 * stale attempt, an assignment of a task already done) are ignored deterministically, which is
 * what makes duplicates and replays harmless. Pure code: no MPI, no clock. Not thread-safe.
 *
 * Attempt numbers are unique per task: every assignment and every backup takes the next one,
 * so a completion or failure names exactly one copy.
 *
 * Entry payloads (little-endian):
 *   INIT   u8 op=1, u64 tasks, u32 max_attempts, u32 stages, stages x u64 count, u32 flags
 *          [, u32 copies     defines the job; first entry only; stage s holds the next count[s]
 *          [, u32 n, n x (u64 id, u32 holder)]]
 *                            ids; flags: RM_TT_HELD_OUTPUTS; copies: of each held output, the
 *                            holder's and copies - 1 replicas (1 when absent; at most
 *                            RM_TT_MAX_COPIES); the n tasks start done, held by holder (a
 *                            resumed job: their outputs were loaded from a checkpoint)
 *   ASSIGN u8 op=2, u32 owner, u32 n, n x u64 id
 *                            pending, and every earlier stage done -> assigned to owner at the
 *                            next attempt
 *   DONE   u8 op=3, u32 rank, u32 n, n x (u64 id, u32 attempt)
 *                            assigned, and rank runs it (as owner or backup) at that attempt
 *                            -> done, held by rank
 *   DONE_R u8 op=8, u32 rank, u32 n, n x (u64 id, u32 attempt, (copies - 1) x u32 replica)
 *                            DONE, and the ranks holding replicas of the output (RM_TT_NONE
 *                            for none; ranks committed dead are ignored)
 *   REPLICA u8 op=9, u64 id, u32 rank
 *                            done, rank live, neither its holder nor a replica yet, and a free
 *                            replica slot -> rank holds a replica (a copy made after a death)
 *   DEAD   u8 op=4, u32 rank rank's assigned tasks -> their backup becomes the owner, or,
 *                            without one, pending; backups on rank are dropped. With
 *                            RM_TT_HELD_OUTPUTS, the outputs held on rank are lost too: it is
 *                            dropped from every replica list, a done task it held whose output
 *                            a live replica holds gets that replica's rank as its holder (and
 *                            stays done), and the others of every stage but the last go back
 *                            to pending; then the assigned tasks of every later stage, whose
 *                            inputs are now incomplete or held elsewhere, go back to pending
 *                            as well
 *   BACKUP u8 op=5, u32 rank, u32 n, n x u64 id
 *                            assigned, no backup yet, rank is not the owner -> rank runs a
 *                            backup copy at the next attempt
 *   FAIL   u8 op=6, u32 rank, u64 id, u32 attempt, u16 len, len bytes of error text
 *                            that copy failed: fails + 1; a failed backup is dropped; a failed
 *                            owner hands over to its backup or the task goes back to pending;
 *                            at max_attempts failures the task is FAILED and the job with it
 *   STATE  u8 op=7, u32 stage, u32 len, len bytes
 *                            the stage's shared state (k-means centroids, PageRank's dangling
 *                            rank), computed by the leader from the earlier stages' outputs;
 *                            the first STATE of a stage stands, later ones are ignored (every
 *                            leader computes the same bytes from the same deterministic outputs)
 */
#ifndef RM_TASKTABLE_H
#define RM_TASKTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum rm_task_state {
    RM_TASK_PENDING = 0,
    RM_TASK_ASSIGNED = 1,
    RM_TASK_DONE = 2,
    RM_TASK_FAILED = 3,
};
enum rm_tt_op {
    RM_TT_INIT = 1,
    RM_TT_ASSIGN = 2,
    RM_TT_DONE = 3,
    RM_TT_DEAD = 4,
    RM_TT_BACKUP = 5,
    RM_TT_FAIL = 6,
    RM_TT_STATE = 7,
    RM_TT_DONE_R = 8,
    RM_TT_REPLICA = 9,
};

#define RM_TT_MAX_TASKS 100000000ull
#define RM_TT_MAX_BATCH 4096u
#define RM_TT_MAX_STAGES 1024u
#define RM_TT_MAX_ERROR 512u       /* bytes of error text kept from a FAIL */
#define RM_TT_NONE UINT32_MAX      /* no rank (no backup) */
#define RM_TT_MAX_STATE (4u << 20) /* bytes of one stage's shared state */
#define RM_TT_MAX_COPIES 4u        /* copies of a held output: the holder's and replicas */
/* INIT flag: a done task's output lives only in its holder's memory (map outputs awaiting the
 * shuffle), so it dies with the holder. */
#define RM_TT_HELD_OUTPUTS 1u

struct rm_tasktable {
    uint64_t n; /* tasks; 0 until INIT */
    bool initialized;
    uint32_t max_attempts; /* failures that fail the task (and the job) */
    uint32_t flags;        /* RM_TT_HELD_OUTPUTS */
    uint64_t lost;         /* done tasks whose outputs died with their holder */
    uint32_t copies;       /* of each held output (1: no replicas) */
    uint32_t *replica;     /* n x (copies - 1): replica holders of a done task, RM_TT_NONE */
    uint64_t saved;        /* done tasks whose holder died and whose replica took over */
    uint64_t recopied;     /* replicas made again after a death (REPLICA entries that took) */
    uint64_t reused;       /* tasks that started done: loaded from a checkpoint (INIT) */
    uint32_t stages;
    uint64_t *stage_first; /* stages + 1: stage s is ids [stage_first[s], stage_first[s + 1]) */
    uint64_t *stage_done;  /* per stage */
    uint8_t *state;        /* enum rm_task_state per task */
    uint32_t *owner;   /* rank per task: the owner while assigned, the result holder when done */
    uint32_t *attempt; /* the owner's attempt; 0 = never assigned */
    uint32_t *backup;  /* rank running a backup copy, or RM_TT_NONE */
    uint32_t *backup_attempt;
    uint32_t *issued; /* highest attempt number given out */
    uint8_t *fails;   /* failed attempts, saturating at 255 */
    uint64_t *key;    /* ring hash per task, set by the kernel after INIT (not replicated) */
    uint64_t done, assigned, rescheduled, backups, failures;
    uint64_t failed_task; /* the task that failed the job, valid when job_failed */
    bool job_failed;
    char failed_error[RM_TT_MAX_ERROR + 1];
    uint32_t failed_rank;
    uint64_t epoch;              /* number of distinct ranks declared dead (DEAD entries applied) */
    uint32_t *dead;              /* those ranks, in commit order */
    uint64_t applied;            /* entries applied */
    unsigned char **stage_state; /* per stage: its STATE bytes (malloc'd), or NULL until then */
    uint32_t *state_len;         /* per stage */
};

/* Initializes an empty table (caller-allocated). Can't fail. */
void rm_tasktable_init(struct rm_tasktable *tt);

/* Frees the arrays. Safe on an initialized, empty table. */
void rm_tasktable_close(struct rm_tasktable *tt);

/* Applies one committed entry. data is borrowed. Returns 0 (including for commands ignored as
 * stale), RM_EPROTO for a malformed payload (nothing changes), RM_ENOMEM (INIT, DEAD only). */
int rm_tasktable_apply(struct rm_tasktable *tt, const void *data, size_t len);

/* Stage of task id (id < n). Can't fail. */
uint32_t rm_tasktable_stage(const struct rm_tasktable *tt, uint64_t id);

/* Encoders for the commands. Each returns a malloc'd buffer (the caller frees it) and its
 * length in *len, or NULL on ENOMEM or a bad argument. n <= RM_TT_MAX_BATCH;
 * 1 <= stages <= RM_TT_MAX_STAGES; counts sum to tasks. Error text is cut at RM_TT_MAX_ERROR. */
unsigned char *rm_tt_encode_init(uint64_t tasks, uint32_t max_attempts, uint32_t stages,
                                 const uint64_t *counts, size_t *len);
unsigned char *rm_tt_encode_init_flags(uint64_t tasks, uint32_t max_attempts, uint32_t stages,
                                       const uint64_t *counts, uint32_t flags, size_t *len);
unsigned char *rm_tt_encode_assign(uint32_t owner, const uint64_t *ids, uint32_t n, size_t *len);
unsigned char *rm_tt_encode_backup(uint32_t rank, const uint64_t *ids, uint32_t n, size_t *len);
unsigned char *rm_tt_encode_done(uint32_t rank, const uint64_t *ids, const uint32_t *attempts,
                                 uint32_t n, size_t *len);
/* INIT with a replica count (copies >= 1); DONE_R with n x (copies - 1) replica ranks. */
unsigned char *rm_tt_encode_init_copies(uint64_t tasks, uint32_t max_attempts, uint32_t stages,
                                        const uint64_t *counts, uint32_t flags, uint32_t copies,
                                        size_t *len);
unsigned char *rm_tt_encode_init_resume(uint64_t tasks, uint32_t max_attempts, uint32_t stages,
                                        const uint64_t *counts, uint32_t flags, uint32_t copies,
                                        const uint64_t *ids, const uint32_t *holders,
                                        uint32_t reused, size_t *len);
unsigned char *rm_tt_encode_done_r(uint32_t rank, const uint64_t *ids, const uint32_t *attempts,
                                   const uint32_t *replicas, uint32_t copies, uint32_t n,
                                   size_t *len);
unsigned char *rm_tt_encode_dead(uint32_t rank, size_t *len);
unsigned char *rm_tt_encode_replica(uint64_t id, uint32_t rank, size_t *len);

/* Live copies of done task id's output: its holder and its replicas not committed dead. */
uint32_t rm_tasktable_copies(const struct rm_tasktable *tt, uint64_t id);
unsigned char *rm_tt_encode_fail(uint32_t rank, uint64_t id, uint32_t attempt, const char *error,
                                 size_t *len);
unsigned char *rm_tt_encode_state(uint32_t stage, const void *data, uint32_t n, size_t *len);

/* Whether stage s's STATE has been committed. Can't fail. */
bool rm_tasktable_has_state(const struct rm_tasktable *tt, uint32_t s);

/* Whether rank was committed dead. Can't fail. */
bool rm_tasktable_is_dead(const struct rm_tasktable *tt, uint32_t rank);

/* Whether rank runs task id at attempt (as owner or backup) in the committed table. */
bool rm_tasktable_runs(const struct rm_tasktable *tt, uint64_t id, uint32_t rank, uint32_t attempt);

/* Snapshot: the whole table as bytes (malloc'd; caller frees) and back. decode replaces tt's
 * contents, keys excepted (the caller sets them again). Returns 0, RM_ENOMEM, or RM_EPROTO for
 * a malformed snapshot (tt unchanged). */
int rm_tasktable_encode(const struct rm_tasktable *tt, unsigned char **out, size_t *len);
int rm_tasktable_decode(struct rm_tasktable *tt, const void *data, size_t len);

#endif /* RM_TASKTABLE_H */
