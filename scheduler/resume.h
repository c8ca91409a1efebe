/*
 * resume.h: what a resumed job (--resume) takes from its checkpoint (checkpoint.h), before its
 * control thread starts.
 *
 * Every rank reads the job file and checks that the checkpoint is of this job (same identity);
 * then it loads the rank files whose number is its own modulo the new job size (so any number
 * of ranks, from 1 up, shares them), keeping each output whose parts verify and whose task the
 * checkpointed table says was committed done, into its shuffle store. A collective exchange
 * then tells every rank which rank holds which loaded output, so that all of them, leader or
 * not, agree on the tasks that start done. A missing or damaged rank file is named on stderr,
 * and its tasks run again. A task of the last stage that the table had done starts done too
 * when kept(ctx, id) says its output (a file) is still whole; without kept, that stage runs
 * again.
 *
 * Main thread, before rm_control_start (it calls MPI collectives on comm).
 */
#ifndef RM_SCHEDULER_RESUME_H
#define RM_SCHEDULER_RESUME_H

#include <mpi.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "scheduler/shuffle.h"

struct rm_resume {
    uint64_t *ids; /* tasks that start done (malloc'd) */
    uint32_t *by;  /* the rank holding each one's output */
    uint32_t n;
    uint64_t was_done; /* tasks the checkpoint's table had done (all stages) */
};

/* Fills r. identity and job: this job's (rm_ckpt_identity). held_end: tasks below it have
 * outputs held in memory (the stages before the last). Returns 0; RM_EUSAGE (no checkpoint in
 * dir, or one of another job: rank 0 has said so on stderr, in one line); RM_ENOMEM; RM_EMPI.
 * A damaged job file is not an error: it is named, and nothing is reused. Free with
 * rm_resume_free. */
int rm_resume_load(const char *dir, const char *identity, uint64_t job, MPI_Comm comm,
                   struct rm_shuffle *s, uint64_t tasks, uint64_t held_end,
                   bool (*kept)(void *ctx, uint64_t id), void *ctx, struct rm_resume *r);

void rm_resume_free(struct rm_resume *r);

#endif /* RM_SCHEDULER_RESUME_H */
