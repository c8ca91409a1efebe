/*
 * kernel.h: opening the kernels that run on the task farm, by name.
 *
 * A kernel reads and checks its input before MPI starts, on every rank alike, so that bad input
 * is a usage error (exit 2) reported once. The kernels' compute is free of MPI; the farm
 * (scheduler/farmnode.h) runs their tasks.
 */
#ifndef RM_KERNEL_H
#define RM_KERNEL_H

#include <stddef.h>

#include "ringmaster.h"
#include "runtime/options.h"
#include "scheduler/farmnode.h"

/*
 * Opens opts->kernel for this rank. opts is borrowed and must outlive the kernel.
 * out: receives the kernel; free it with rm_kernel_close().
 * Returns 0; RM_EUSAGE with one line in err (bad or missing input: exit 2); RM_ENOENT
 * (no such kernel); RM_ENOMEM.
 */
int rm_kernel_open(const struct rm_options *opts, int rank, struct rm_farm_kernel **out, char *err,
                   size_t cap);

/* Frees a kernel. NULL is ignored. */
void rm_kernel_close(struct rm_farm_kernel *k);

/* The kernels; same contract as rm_kernel_open. */
int rm_kernel_noop_open(const struct rm_options *opts, int rank, struct rm_farm_kernel **out,
                        char *err, size_t cap);
int rm_kernel_wordcount_open(const struct rm_options *opts, int rank, struct rm_farm_kernel **out,
                             char *err, size_t cap);
int rm_kernel_invindex_open(const struct rm_options *opts, int rank, struct rm_farm_kernel **out,
                            char *err, size_t cap);
int rm_kernel_sort_open(const struct rm_options *opts, int rank, struct rm_farm_kernel **out,
                        char *err, size_t cap);
int rm_kernel_histogram_open(const struct rm_options *opts, int rank, struct rm_farm_kernel **out,
                             char *err, size_t cap);
int rm_kernel_kmeans_open(const struct rm_options *opts, int rank, struct rm_farm_kernel **out,
                          char *err, size_t cap);
int rm_kernel_pagerank_open(const struct rm_options *opts, int rank, struct rm_farm_kernel **out,
                            char *err, size_t cap);
int rm_kernel_grep_open(const struct rm_options *opts, int rank, struct rm_farm_kernel **out,
                        char *err, size_t cap);
int rm_kernel_tasks_open(const struct rm_options *opts, int rank, struct rm_farm_kernel **out,
                         char *err, size_t cap);

/* A user's map-reduce job (ringmaster.h); job is borrowed and must outlive the kernel. */
int rm_kernel_usermr_open(const struct rm_options *opts, const struct rm_job *job, int rank,
                          struct rm_farm_kernel **out, char *err, size_t cap);

#endif /* RM_KERNEL_H */
