/*
 * noop.h: the `noop` kernel: N empty (or CPU-spinning) tasks dispatched by a coordinator to
 * workers in credit-limited batches, so the runtime can be exercised and its overhead measured.
 *
 * Rank 0 is the coordinator and runs no tasks while any worker is alive; when every worker has
 * died it runs the rest itself. Tasks of a dead worker return to the queue with a new attempt.
 * Until the Raft module lands, the coordinator is a single point of failure: when rank 0 dies
 * the job fails with exit status 3 on every survivor.
 *
 * Lifecycle: rm_noop_create (main thread, before rm_control_start: registers handlers),
 * rm_noop_run (main thread, blocks, acts as this rank's worker thread), rm_noop_destroy (after
 * rm_control_stop).
 */
#ifndef RM_NOOP_H
#define RM_NOOP_H

#include <stdint.h>

#include "runtime/control.h"
#include "runtime/options.h"

struct rm_noop;

struct rm_noop_summary {
    uint64_t tasks, done, rescheduled, stale;
    uint32_t workers_start, workers_end;
    double seconds;
};

/* ctl and opts are borrowed and must outlive the kernel. Returns 0, RM_ENOMEM, RM_EINVAL. */
int rm_noop_create(struct rm_control *ctl, const struct rm_options *opts, struct rm_noop **out);

/* Runs this rank's part until the job ends. Returns the job's exit status: 0 done, 3 failed
 * (this rank was fenced, or the coordinator died). Fills *sum on the coordinator.
 * Main thread. */
int rm_noop_run(struct rm_noop *k, struct rm_noop_summary *sum);

/* Frees the kernel. The control thread must be stopped. Safe with NULL. */
void rm_noop_destroy(struct rm_noop *k);

#endif /* RM_NOOP_H */
