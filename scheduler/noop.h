/*
 * noop.h: the `noop` kernel: N empty (or CPU-spinning) tasks run by a fault-tolerant task farm.
 *
 * The coordinator is the Raft leader (raftnode.h). The task table (tasktable.h) is the
 * replicated state: the leader commits assignments in batches and sends each worker only
 * committed ones, with per-worker credits; workers report completions, which count once
 * committed. When a worker dies the leader commits its death and its unfinished tasks go back
 * to the queue with a new attempt number. When the leader dies, a new one is elected, rebuilds
 * its state from the log, re-sends what was in flight and announces itself; workers drop
 * duplicate (task, attempt) pairs and re-send their completions to it. The leader runs no
 * tasks while any other rank lives.
 *
 * Lifecycle: rm_noop_create (main thread, before rm_control_start: registers handlers),
 * rm_noop_run (main thread, blocks, acts as this rank's worker thread), rm_noop_destroy (after
 * rm_control_stop).
 */
#ifndef RM_NOOP_H
#define RM_NOOP_H

#include <stdbool.h>
#include <stdint.h>

#include "runtime/control.h"
#include "runtime/options.h"
#include "runtime/world.h"

struct rm_noop;

struct rm_noop_summary {
    bool finished_here;   /* this rank was the leader that saw the job finish */
    uint64_t tasks, done, rescheduled;
    uint32_t workers_end; /* live ranks besides the leader at the end */
    uint32_t leader_changes;
    uint64_t term;
    double seconds;       /* from this leader's first look at the job to the end */
};

/* ctl, opts and info (one row per rank, for the status file) are borrowed and must outlive the
 * kernel. Returns 0, RM_ENOMEM, RM_EINVAL, RM_EBUSY. */
int rm_noop_create(struct rm_control *ctl, const struct rm_options *opts,
                   const struct rm_rank_info *info, struct rm_noop **out);

/* Runs this rank's part until the job ends. Returns the job's exit status: 0 done, 3 failed
 * (this rank was fenced, or no leader could be elected for too long). Fills *sum.
 * Main thread. */
int rm_noop_run(struct rm_noop *k, struct rm_noop_summary *sum);

/* Frees the kernel. The control thread must be stopped. Safe with NULL. */
void rm_noop_destroy(struct rm_noop *k);

#endif /* RM_NOOP_H */
