/*
 * farm.h: the fault-tolerant task farm, as a pure state machine: the coordinator (on the Raft
 * leader) and the worker bookkeeping (on every rank).
 *
 * The task table (tasktable.h) is the replicated state. The leader places each pending task on
 * the first live worker among its key's ring successors (ring.h; the leader itself runs no
 * tasks while any other rank lives), keeps one queue per worker, and commits assignments in
 * batches while each worker holds fewer than `credits` tasks; a worker whose own queue is empty
 * takes work from the longest other queue, so none sits idle. Only committed assignments are
 * sent. Workers drop duplicate (task, attempt) pairs, run the rest, and report completions
 * (with each task's run time) or failures; the leader commits them. A failed attempt is retried
 * with a new attempt number until a task has failed `max_attempts` times; then the job fails.
 * When a rank dies the leader commits its death: its unfinished tasks go to their new ring
 * owners at a new attempt, and only its tasks move. When the leader dies, the next one rebuilds
 * everything from the table, re-sends what was in flight and announces itself; workers re-send
 * their completions and failures to it. Stages run one after the other. Once `after` of a
 * stage is done, a task in flight for longer than `factor` x the stage's median time gets one
 * backup copy on another replica holder of its key; the first completion wins, so tasks must be
 * idempotent. With cfg.copies > 1, each held output has replicas named in its DONE record;
 * once a rank has died, the leader has the outputs left with fewer live copies copied again, in
 * the background, to the next live ranks of their keys (farm_replica.c).
 *
 * Liveness is what rm_farm_death() reported plus the deaths committed in the table.
 *
 * Seams: everything outside (time, the Raft log, the network, this rank's worker
 * thread) goes through struct rm_farm_io, so the same code runs over MPI (farmnode.c) and in
 * the deterministic simulator (tests/sim/sim_farm.c). No MPI, no clock, no threads here; every
 * function must be called from one thread (the control thread under MPI).
 */
#ifndef RM_FARM_H
#define RM_FARM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "scheduler/tasktable.h"

/* Message types the farm sends and handles; the values are those of frame.h's enum. */
enum rm_farm_msg {
    RM_FARM_ASSIGN = 5,       /* leader -> worker: u32 n, n x (u64 id, u32 attempt) */
    RM_FARM_DONE = 6,         /* worker -> leader: u32 n, n x (u64 id, u32 attempt, u32 us,
                                 (copies - 1) x u32 replica holder or RM_TT_NONE) */
    RM_FARM_SHUTDOWN = 7,     /* leader -> all: u32 exit status */
    RM_FARM_LEADER = 9,       /* leader -> all: u64 term, u64 epoch, u32 size, live bitmap */
    RM_FARM_FAIL = 10,        /* worker -> leader: u64 id, u32 attempt, u16 len, error text */
    RM_FARM_REREPLICATE = 16, /* leader -> holder: u64 id, u32 target: copy id's output there */
    RM_FARM_REPLICATED = 17,  /* holder -> leader: u64 id, u32 target: target holds a copy */
    RM_FARM_CKPT = 18,        /* leader -> all: u64 seq: write your checkpoint file */
    RM_FARM_CKPT_DONE = 19,   /* rank -> leader: u64 seq, u32 status (0 or an error code) */
    RM_FARM_STOP = 20,        /* rank -> leader: a stop signal arrived here */
    RM_FARM_STAGE = 11,       /* leader -> all: u32 stage, u64 first, u32 n, n x u32 holder of the
                                 tasks [first, first + n) of the earlier stages, u32 state length
                                 + 1 (0: not committed yet), the state's bytes */
};

#define RM_FARM_ASSIGN_REC 12u
#define RM_FARM_DONE_REC 16u /* a DONE record without replicas; see rm_farm_done_rec */

/* Bytes of a DONE record in a job keeping `copies` copies of each held output. */
static inline size_t rm_farm_done_rec(uint32_t copies)
{
    return RM_FARM_DONE_REC + 4 * (size_t)(copies > 1 ? copies - 1 : 0);
}

struct rm_farm_io {
    void *ctx;
    uint64_t (*now)(void *ctx); /* monotonic ns */
    /* Appends an entry to the Raft log (leader only); 0 or an error (not leader, busy). */
    int (*propose)(void *ctx, const void *entry, size_t len);
    /* Sends to another rank, stamped with this rank's (term, epoch); 0 or an error. */
    int (*send)(void *ctx, uint32_t to, uint32_t type, const void *payload, size_t len);
    int (*broadcast)(void *ctx, uint32_t type, const void *payload, size_t len);
    /* Hands n fresh (u64 id, u32 attempt) records to this rank's worker. */
    void (*run)(void *ctx, const unsigned char *recs, uint32_t n);
    /* A membership epoch was announced with its live set (one bit per rank): by this rank,
     * just before its announcement goes out, or by the leader. May be NULL. */
    void (*epoch)(void *ctx, uint64_t epoch, const unsigned char *live);
    /* Leader: every task is done. The caller assembles any output, then calls
     * rm_farm_end(f, status). */
    void (*finished)(void *ctx);
    /* The job is over for this rank, with this exit status. Called once. */
    void (*ended)(void *ctx, int status);
    /* Writes a one-line description of task id into buf (for error messages). May be NULL. */
    void (*describe)(void *ctx, uint64_t id, char *buf, size_t cap);
    /* Stage `stage` (> 0) starts or restarts: holders[i] holds the output of task first + i,
     * for every task of the stages before it (first is 0). Called on every rank before any
     * task of the stage reaches it. May be NULL. */
    void (*holders)(void *ctx, uint32_t stage, uint64_t first, uint32_t n, const uint32_t *holders);
    /* Computes the ring hashes of the data keys of tasks [first, first + n). */
    void (*keys)(void *ctx, uint64_t first, uint64_t n, uint64_t *hashes);
    /* With cfg.stage_state. Leader: compute stage `stage`'s shared state from the outputs of
     * the earlier stages (their holders were given just before), off this thread, and hand it
     * to rm_farm_state with this request's gen. Every rank: stage `stage`'s committed state,
     * before any task of the stage reaches it (data borrowed: copy it). */
    void (*need_state)(void *ctx, uint32_t stage, uint64_t gen);
    /* Holder, with cfg.copies > 1: copy task id's held output to rank target, off this thread,
     * then call rm_farm_replicated. May be NULL (requests are then ignored). */
    void (*replicate)(void *ctx, uint64_t id, uint32_t target);
    /* With cfg.checkpoint. Every rank: write this rank's checkpoint file off this thread, then
     * call rm_farm_checkpoint_written. Leader, once every live rank has: write the job file
     * with this table snapshot (borrowed: copy it), then call rm_farm_job_written. */
    void (*checkpoint)(void *ctx, uint64_t seq);
    void (*checkpointed)(void *ctx, uint64_t seq, const unsigned char *table, size_t len);
    void (*state)(void *ctx, uint32_t stage, const void *data, size_t len);
};

struct rm_farm_config {
    uint32_t rank, size;
    uint64_t tasks;
    uint32_t stages;             /* at least 1 */
    const uint64_t *stage_tasks; /* per stage, summing to tasks; copied */
    uint32_t max_attempts;       /* failures before a task fails the job [3 if 0] */
    uint32_t batch;              /* tasks per assignment entry and message, <= RM_TT_MAX_BATCH */
    uint32_t credits;            /* tasks in flight per worker [2 x batch if 0] */
    uint32_t vnodes;             /* ring virtual nodes per rank [ring default if 0] */
    bool speculation;            /* backup copies of stragglers */
    double bounded_load;         /* >= 1: cap each member at this x its share of a stage's
                                    tasks (consistent hashing with bounded loads); 0: off */
    bool held_outputs;           /* outputs live in their holders' memory (RM_TT_HELD_OUTPUTS) */
    uint32_t copies;             /* with held_outputs: copies of each output, the holder's and
                                    replicas named in the DONE records [1 if 0; at most
                                    RM_TT_MAX_COPIES] */
    const uint64_t *reused_ids;  /* a resumed job: tasks that start done (their outputs were */
    const uint32_t *reused_by;   /* loaded from a checkpoint) and the rank holding each; */
    uint32_t reused;             /* borrowed until rm_farm_destroy */
    bool checkpoint;             /* checkpoints: at the end of every stage, every
                                    checkpoint_ns (0: never), and on rm_farm_stop */
    uint64_t checkpoint_ns;
    bool stage_state;        /* every stage after the first has a shared state (STATE entry)
                                that the leader has computed and committed before any of
                                its tasks is assigned; the stage announcement carries it */
    double straggler_after;  /* fraction of a stage done before backups [0.75 if 0] */
    double straggler_factor; /* x the median task time [1.5 if 0] */
    uint64_t leaderless_ns;  /* no leader this long: the majority is lost, the job fails */
};

struct rm_farm_stats {
    uint64_t dispatched, stolen, backups, resent, stale_done, failures_reported;
    uint32_t leader_changes;
    uint64_t term;
    double seconds; /* from this leader's taking office to the end, on the finishing leader */
    bool finished_here;
    uint32_t workers_end;
};

struct rm_farm;

/* Creates a farm; cfg and io are copied. Returns 0, RM_EINVAL or RM_ENOMEM. */
int rm_farm_create(const struct rm_farm_config *cfg, const struct rm_farm_io *io,
                   struct rm_farm **out);
void rm_farm_destroy(struct rm_farm *f);

/* Raft callbacks: a committed entry (every Raft member, in log order), the snapshot hooks and a
 * leader change (leader -1: none known; self: this rank leads now). */
void rm_farm_apply(struct rm_farm *f, const void *entry, size_t len, uint64_t index);
int rm_farm_snapshot(struct rm_farm *f, unsigned char **data, size_t *len);
int rm_farm_restore(struct rm_farm *f, const void *data, size_t len);
void rm_farm_leader(struct rm_farm *f, int leader, uint64_t term, bool self);

/* A farm message arrived (see enum rm_farm_msg); the frame was validated by the transport, the
 * payload is checked here. Malformed or stale messages are dropped and return RM_EPROTO. */
int rm_farm_message(struct rm_farm *f, uint32_t type, uint32_t sender, uint64_t term,
                    uint64_t epoch, const void *payload, size_t len);

/* This rank's detector found rank dead; this rank was fenced; time passed. */
void rm_farm_death(struct rm_farm *f, uint32_t rank);
void rm_farm_fenced(struct rm_farm *f);
void rm_farm_tick(struct rm_farm *f, uint64_t now);

/* This rank's worker finished tasks: n records of rm_farm_done_rec(copies) bytes: u64 id, u32
 * attempt, u32 us, then the ranks holding replicas of the output (RM_TT_NONE for none). */
int rm_farm_completed(struct rm_farm *f, const unsigned char *recs, uint32_t n);
/* This rank's worker failed task id at attempt, with a one-line reason. */
int rm_farm_task_failed(struct rm_farm *f, uint64_t id, uint32_t attempt, const char *error);

/* The answer to io->need_state(stage, gen): rc 0 and the state (len <= RM_TT_MAX_STATE), or
 * an error: RM_EDEAD (an input's holder died: asked again shortly, after the death commits),
 * anything else fails the job. Ignored if no longer awaited. data is borrowed. */
void rm_farm_state(struct rm_farm *f, uint32_t stage, uint64_t gen, int rc, const void *data,
                   size_t len);

/* The answer to io->replicate: ok when target holds a copy of id's output now. */
void rm_farm_replicated(struct rm_farm *f, uint64_t id, uint32_t target, bool ok);

/* A stop signal (SIGTERM, SIGUSR1) arrived at this rank: with cfg.checkpoint, the leader takes
 * a last checkpoint and ends the job with RM_FARM_STOPPED; without, the job fails (status 3)
 * at once. */
#define RM_FARM_STOPPED 4
void rm_farm_stop(struct rm_farm *f);
/* The answers to io->checkpoint and io->checkpointed (rc 0 or an error code). */
void rm_farm_checkpoint_written(struct rm_farm *f, uint64_t seq, int rc);
void rm_farm_job_written(struct rm_farm *f, uint64_t seq, int rc);

/* Leader, after io->finished: ends the job for every rank with status (0, or 3 when the output
 * could not be written). */
void rm_farm_end(struct rm_farm *f, int status);

const struct rm_tasktable *rm_farm_table(const struct rm_farm *f);
int rm_farm_leader_rank(const struct rm_farm *f);
uint64_t rm_farm_leader_term(const struct rm_farm *f);
void rm_farm_stats(const struct rm_farm *f, struct rm_farm_stats *out);

#endif /* RM_FARM_H */
