/*
 * farmnode_int.h: the state of a rank's farm node, shared by its control-thread side
 * (farmnode.c: the farm's seams, messages, ticks, the job's end and lifecycle) and its worker
 * side (farmnode_work.c: running assignments, replica copies, stage state, checkpoint files).
 * Private to those two files.
 */
#ifndef RM_FARMNODE_INT_H
#define RM_FARMNODE_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/mailbox.h"
#include "scheduler/farmnode.h"
#include "scheduler/gather.h"
#include "scheduler/progress.h"
#include "scheduler/resume.h"

enum mail_type {
    MAIL_ASSIGN = 1,
    MAIL_FINISH = 2,
    MAIL_END = 3,
    MAIL_STATE = 4,
    MAIL_REPLICATE = 5,
    MAIL_CKPT = 6,    /* write this rank's checkpoint file: u64 seq */
    MAIL_JOBFILE = 7, /* leader: write the job file: u64 seq, then the table */
};

/* Completions are reported when a batch of assignments is done, or sooner once this long has
 * passed since the oldest unreported one, so that long tasks are reported one by one. */
#define REPORT_NS (5 * RM_NS_PER_MS)

struct rm_farmnode {
    struct rm_control *ctl;
    const struct rm_options *opts;
    const struct rm_rank_info *info;
    const struct rm_farm_kernel *kernel;
    struct rm_farm *farm;
    struct rm_raftnode *raft;
    struct rm_epochcomm *ecomm;
    struct rm_shuffle *shuffle; /* outputs held for the next stage; NULL unless held_outputs */
    struct rm_mailbox mb;
    uint8_t *roles;     /* per rank, for the status file */
    uint64_t status_at; /* when the status file was last written */
    int rank, size;
    int status;         /* written by the control thread before MAIL_END */
    uint32_t slow_ms;   /* test-only fault: extra time per task on this rank */
    uint64_t fail_task; /* test-only fault: this task always fails; UINT64_MAX for none */
    uint32_t slow_stage, slow_stage_ms; /* test-only fault: tasks [slow_first, slow_end) */
    uint64_t slow_first, slow_end;      /* (one stage) take slow_stage_ms longer */
    uint64_t stamp_epoch;               /* the epoch this rank's frames carry */
    /* replicas: tasks below held_end keep their outputs in memory; the worker copies each to
     * the next copies - 1 live ranks of its key on a ring of every rank (read-only once made),
     * skipping those this rank found dead (set by the control thread) */
    uint32_t copies;
    uint64_t held_end;
    size_t done_rec;
    struct rm_ring *ring;
    atomic_bool *dead;
    /* checkpoints (--checkpoint-dir): the job's identity and its hash; a resumed job's start */
    char *identity;
    uint64_t job;
    bool stop_seen;
    struct rm_resume resume;
    /* the latest checkpoint round this rank was asked to write (set by the control thread),
     * and the latest written (worker thread): a request is served before the next task */
    atomic_uint_fast64_t ckpt_asked;
    uint64_t ckpt_written;
    struct rm_progress progress; /* the leader's progress line (control thread) */
    atomic_bool over; /* the job has ended (set by the control thread, read by the worker) */
    /* --report, --trace: the finishing leader gathers every live rank's trace record */
    bool reporting, gathered;
    struct rm_gather gather;
    uint64_t *stage_end; /* per stage: one past its last task id */
    /* completions of replicated outputs, reported once their copies are acknowledged
     * (control thread): n_copied records of done_rec bytes, sent on the next tick */
    unsigned char *copied;
    uint32_t n_copied, cap_copied;
};

/* The worker side (farmnode_work.c). Each runs on the worker (main) thread, handling one mail,
 * and returns 0 or an RM_E* code, except rm__farmnode_flush_copied. */

/* Runs an assignment's tasks, reports them, copies held outputs to their replicas. */
int rm__farmnode_run_assignment(struct rm_farmnode *k, const struct rm_mail *m);

/* The leader computes a stage's shared state from the previous stage's outputs. */
int rm__farmnode_compute_state(struct rm_farmnode *k, const struct rm_mail *m);

/* Copies a held output to one more rank after a death. */
int rm__farmnode_copy_again(struct rm_farmnode *k, const struct rm_mail *m);

/* Writes this rank's checkpoint file for round seq, or with job_file the leader's job file
 * from the task table in data (len bytes, borrowed). */
int rm__farmnode_write_checkpoint(struct rm_farmnode *k, uint64_t seq, const unsigned char *data,
                                  size_t len, bool job_file);

/* Control thread, every loop pass: reports the completions whose copies are acknowledged. */
void rm__farmnode_flush_copied(struct rm_farmnode *k);

#endif /* RM_FARMNODE_INT_H */
