/* resume.c: see resume.h. */
#include "scheduler/resume.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringmaster.h"
#include "scheduler/checkpoint.h"
#include "scheduler/tasktable.h"

void rm_resume_free(struct rm_resume *r)
{
    if (!r)
        return;
    free(r->ids);
    free(r->by);
    *r = (struct rm_resume){0};
}

/* The ids this rank loaded that the table had done, in place; returns how many. */
static size_t keep_done(const struct rm_tasktable *tt, uint64_t *ids, size_t n, uint64_t tasks)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (tt->initialized && tt->n == tasks && ids[i] < tt->n &&
            tt->state[ids[i]] == RM_TASK_DONE)
            ids[k++] = ids[i];
    return k;
}

/* Every rank's kept ids, gathered; each task once, held by the lowest rank that has it. */
static int exchange(MPI_Comm comm, const uint64_t *mine, size_t n, uint64_t tasks,
                    struct rm_resume *r)
{
    int size;
    MPI_Comm_size(comm, &size);
    int *counts = calloc((size_t)size, sizeof *counts),
        *displs = calloc((size_t)size, sizeof *displs);
    int cnt = (int)n, rc = counts && displs ? 0 : RM_ENOMEM;
    if (rc == 0 && MPI_Allgather(&cnt, 1, MPI_INT, counts, 1, MPI_INT, comm) != MPI_SUCCESS)
        rc = RM_EMPI;
    size_t total = 0;
    for (int i = 0; rc == 0 && i < size; i++) {
        displs[i] = (int)total;
        total += (size_t)counts[i];
    }
    uint64_t *all = rc == 0 ? malloc((total ? total : 1) * sizeof *all) : NULL;
    bool *seen = rc == 0 ? calloc(tasks ? tasks : 1, sizeof *seen) : NULL;
    r->ids = rc == 0 ? malloc((total ? total : 1) * sizeof *r->ids) : NULL;
    r->by = rc == 0 ? malloc((total ? total : 1) * sizeof *r->by) : NULL;
    if (rc == 0 && (!all || !seen || !r->ids || !r->by))
        rc = RM_ENOMEM;
    if (rc == 0 && MPI_Allgatherv(mine, cnt, MPI_UINT64_T, all, counts, displs, MPI_UINT64_T,
                                  comm) != MPI_SUCCESS)
        rc = RM_EMPI;
    for (int src = 0; rc == 0 && src < size; src++)
        for (int i = 0; i < counts[src]; i++) {
            uint64_t id = all[displs[src] + i];
            if (id >= tasks || seen[id])
                continue;
            seen[id] = true;
            r->ids[r->n] = id;
            r->by[r->n++] = (uint32_t)src;
        }
    free(counts);
    free(displs);
    free(all);
    free(seen);
    return rc;
}

/* Rank 0 adds the done tasks of the last stage whose outputs are still whole on disk. */
static int add_kept(const struct rm_tasktable *tt, uint64_t tasks, uint64_t first,
                    bool (*kept)(void *ctx, uint64_t id), void *ctx, uint64_t **ids, size_t *n)
{
    if (!kept || !tt->initialized || tt->n != tasks)
        return 0;
    for (uint64_t id = first; id < tasks; id++) {
        if (tt->state[id] != RM_TASK_DONE || !kept(ctx, id))
            continue;
        uint64_t *g = realloc(*ids, (*n + 1) * sizeof *g);
        if (!g)
            return RM_ENOMEM;
        *ids = g;
        (*ids)[(*n)++] = id;
    }
    return 0;
}

int rm_resume_load(const char *dir, const char *identity, uint64_t job, MPI_Comm comm,
                   struct rm_shuffle *s, uint64_t tasks, uint64_t held_end,
                   bool (*kept)(void *ctx, uint64_t id), void *ctx, struct rm_resume *r)
{
    *r = (struct rm_resume){0};
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    char err[512] = "", *ident = NULL;
    unsigned char *table = NULL;
    size_t len = 0;
    uint64_t cjob = 0;
    uint32_t files = 0;
    int rc = rm_ckpt_read_job(dir, &ident, &cjob, &files, &table, &len, err, sizeof err);
    if (rc == RM_ENOENT || (rc == 0 && (cjob != job || strcmp(ident, identity) != 0))) {
        if (rank == 0)
            fprintf(stderr, "ringmaster: error: %s\n",
                    rc ? err
                       : "--resume: the checkpoint is of another job (its kernel, options or "
                         "input files differ); exit status 2");
        free(ident);
        free(table);
        return RM_EUSAGE;
    }
    struct rm_tasktable tt;
    rm_tasktable_init(&tt);
    if (rc == 0 && rm_tasktable_decode(&tt, table, len) != 0) {
        snprintf(err, sizeof err, "--resume: the task table in %s/job.h5 is damaged", dir);
        rc = RM_ECORRUPT;
    }
    free(ident);
    free(table);
    if (rc == RM_ENOMEM)
        return rc;
    if (rc != 0) { /* damaged: nothing can be trusted, everything runs again */
        if (rank == 0)
            fprintf(stderr, "ringmaster: warning: %s; every task runs again\n", err);
        files = 0;
    }
    r->was_done = tt.initialized && tt.n == tasks ? tt.done : 0;
    uint64_t *ids = NULL;
    size_t n = 0;
    for (uint32_t f = (uint32_t)rank; f < files; f += (uint32_t)size) {
        int lrc = rm_ckpt_load_rank(dir, (int)f, job, s, held_end, &ids, &n, err, sizeof err);
        if (lrc == RM_ENOMEM) {
            rc = lrc;
            break;
        }
        if (lrc != 0)
            fprintf(stderr, "ringmaster: warning: %s; its tasks run again\n", err);
    }
    n = keep_done(&tt, ids, n, tasks);
    if (rc == 0 && rank == 0 && tt.stages > 0)
        rc = add_kept(&tt, tasks, tt.stage_first[tt.stages - 1], kept, ctx, &ids, &n);
    rm_tasktable_close(&tt);
    int xrc = exchange(comm, ids, rc == 0 ? n : 0, tasks, r);
    free(ids);
    if (rc == 0)
        rc = xrc;
    if (rc != 0)
        rm_resume_free(r);
    return rc == RM_ECORRUPT ? 0 : rc;
}
