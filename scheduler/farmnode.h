/*
 * farmnode.h: runs a task-farm kernel on one MPI rank: the farm state machine (farm.h) wired to
 * the control thread, the Raft node, the status file and this rank's worker thread.
 *
 * Threads: the farm, Raft and every handler run on the control thread. Tasks run on the thread
 * that calls rm_farmnode_run (the main thread, pinned to this rank's core), which reaches the
 * control thread only through rm_control_call; so a long task never delays heartbeats.
 *
 * Lifecycle: rm_farmnode_create (main thread, before rm_control_start: registers handlers),
 * rm_farmnode_run (blocks until the job ends), rm_farmnode_destroy (after rm_control_stop).
 */
#ifndef RM_FARMNODE_H
#define RM_FARMNODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/control.h"
#include "runtime/options.h"
#include "runtime/world.h"
#include "scheduler/farm.h"
#include "scheduler/shuffle.h"

/*
 * A kernel that runs on the farm. Every rank builds the same description from the same command
 * line and input, so task ids, stages and keys agree everywhere. Tasks must be idempotent: a
 * task may run more than once (after a failure, a death, or as a straggler's backup copy), and
 * only one completion counts.
 */
struct rm_farm_kernel {
    const char *name;
    void *ctx; /* the kernel's own state; passed to every hook */
    uint64_t tasks;
    uint32_t stages;             /* at least 1 */
    const uint64_t *stage_tasks; /* per stage; borrowed until rm_farmnode_destroy */
    uint64_t input_bytes;        /* the job's input, for the progress line's rate; 0 unknown */
    /* Outputs of tasks done in all stages but the last live in their holders' memory, in the
     * shuffle store (shuffle.h), and are lost with them: the farm then recomputes them. */
    bool held_outputs;
    /* After MPI start-up, before any task: this rank, the job size and its shuffle store
     * (NULL unless held_outputs). Returns 0 or an error code. Main thread. May be NULL. */
    int (*attach)(void *ctx, int rank, int size, struct rm_shuffle *shuffle);
    /* Stage `stage` starts: holders[i] holds the output of task first + i, for every task of
     * the earlier stages (see farm.h).
     * Control thread, while the worker thread may run tasks: copy under a lock. May be
     * NULL. */
    void (*holders)(void *ctx, uint32_t stage, uint64_t first, uint32_t n, const uint32_t *holders);
    /* A shared state per stage (k-means' centroids, PageRank's dangling rank), or NULL for
     * none. When set, every stage after the first starts only once the leader has computed its
     * state with stage_state, from the outputs of the earlier stages (their holders are known),
     * and committed it to the task table, so it outlives the leader; every rank then gets it
     * through state() before any task of the stage. stage_state: the leader's main thread;
     * *data is malloc'd (freed by the caller); returns 0, RM_EDEAD (an input's holder died: the
     * leader asks again once the death is committed), or an error code with a one-line reason
     * in err (the job fails). state: control thread, while tasks may run: copy under a lock. */
    int (*stage_state)(void *ctx, uint32_t stage, unsigned char **data, size_t *len, char *err,
                       size_t cap);
    void (*state)(void *ctx, uint32_t stage, const void *data, size_t len);
    /* Ring hashes of the data keys of tasks [first, first + n). Control thread. */
    void (*keys)(void *ctx, uint64_t first, uint64_t n, uint64_t *hashes);
    /* One line naming task id for messages ("line 7: make test"). Control thread. May be
     * NULL. */
    void (*describe)(void *ctx, uint64_t id, char *buf, size_t cap);
    /* Runs task id at attempt on this rank. Returns 0, or an error code with a one-line reason
     * in err; the task is then retried elsewhere, up to --max-attempts. RM_EDEAD means an
     * input's holder died: nothing is reported, since the holder's committed death sends the
     * task back to the queue without counting a failure. Worker thread. */
    int (*run)(void *ctx, uint64_t id, uint32_t attempt, char *err, size_t cap);
    /* On the finishing leader once every task is done: writes the job's output. Returns 0 or
     * an error code (after logging one line); the job then ends with status 3. Worker thread.
     * May be NULL. */
    int (*finish)(void *ctx);
    /* A resumed job: whether the output of task id, of the last stage and done when the
     * checkpoint was taken, is still whole where the task left it (its part file, on the file
     * system every rank sees); the task then starts done instead of running again. Main
     * thread, before the job starts. May be NULL: the last stage then runs again. */
    bool (*output_kept)(void *ctx, uint64_t id);
    /* Prints the kernel's summary line(s) on the finishing leader. May be NULL. */
    void (*summary)(void *ctx, const struct rm_farm_stats *st, const struct rm_tasktable *tt);
};

struct rm_farmnode;

struct rm_farmnode_summary {
    struct rm_farm_stats st;
    uint64_t tasks, done, rescheduled, backups, failures;
};

/* ctl, opts, info (one row per rank, for the status file) and kernel are borrowed and must
 * outlive the node. Returns 0, RM_ENOMEM, RM_EINVAL, RM_EBUSY. */
int rm_farmnode_create(struct rm_control *ctl, const struct rm_options *opts,
                       const struct rm_rank_info *info, const struct rm_farm_kernel *kernel,
                       struct rm_farmnode **out);

/* Runs this rank's part until the job ends. Returns the job's exit status: 0 done, 3 failed
 * (a task failed too often, this rank was fenced, or no leader could be elected for too long).
 * Fills *sum. Main thread. */
int rm_farmnode_run(struct rm_farmnode *k, struct rm_farmnode_summary *sum);

/* Frees the node. The control thread must be stopped. Safe with NULL. */
void rm_farmnode_destroy(struct rm_farmnode *k);

#endif /* RM_FARMNODE_H */
