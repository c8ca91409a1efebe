/*
 * mrjob.h: what every two-stage (map, then reduce) kernel over split --input files shares: the
 * inputs and their splits, the reduce partitions, the parts directory of the output, the
 * shuffle store, the holders of the map outputs, and the farm hooks that only depend on those.
 *
 * A kernel's context struct starts with a struct rm_mrjob (whose own first member is the
 * release hook that rm_kernel_close calls), so the hooks here take the kernel's ctx as is.
 * Threads: the holders are written on the control thread and read on the worker thread, under
 * the job's mutex; everything else is set before the job starts and only read afterwards.
 */
#ifndef RM_KERNELS_MRJOB_H
#define RM_KERNELS_MRJOB_H

#include <pthread.h>
#include <stdio.h>

#include "kernels/kernel.h"
#include "scheduler/split.h"

struct rm_mrjob {
    void (*release)(void *ctx); /* first: see rm_kernel_close; the kernel's own */
    const char *name;
    struct rm_input_set in;
    struct rm_split *splits;
    size_t m;   /* map tasks: ids [0, m) */
    uint32_t r; /* reduce tasks: ids [m, m + r) */
    uint64_t stage_tasks[2];
    uint64_t in_bytes;
    const char *output; /* borrowed from the options */
    char *parts;        /* OUTPUT.parts */
    int rank;
    struct rm_shuffle *shuffle;
    pthread_mutex_t mu;
    uint32_t *holder;         /* per map task (under mu) */
    struct rm_split_buf rbuf; /* the worker thread's read buffer, reused from split to split */
};

/* Expands the inputs and makes splits of split_size bytes, for opts->partitions reduce tasks;
 * does not touch the output (see rm_mrjob_prepare_output). Returns 0, RM_EUSAGE with one line
 * in err, or RM_ENOMEM. On error j is closed. */
int rm_mrjob_open(struct rm_mrjob *j, const char *name, const struct rm_options *opts,
                  uint64_t split_size, int rank, char *err, size_t cap);

/* Checks the output and creates its parts directory: call it last in a kernel's open, so that a
 * usage error leaves nothing behind. Same returns. */
int rm_mrjob_prepare_output(struct rm_mrjob *j, const struct rm_options *opts, char *err,
                            size_t cap);

/* Frees what rm_mrjob_open made. Safe on a zeroed or closed job. */
void rm_mrjob_close(struct rm_mrjob *j);

/* Fills the farm kernel's job description and the hooks below; the kernel sets run, finish,
 * summary (and may override describe). */
void rm_mrjob_kernel(struct rm_mrjob *j, struct rm_farm_kernel *k);

/* The output_kept hook (farmnode.h) of a job whose reduce task m + r writes part r: whether
 * that part file is in place (renamed only when whole). ctx: the rm_mrjob. */
bool rm_mrjob_output_kept(void *ctx, uint64_t id);

/* The farm hooks (ctx is the kernel's context, which starts with the rm_mrjob). */
void rm_mrjob_keys(void *ctx, uint64_t first, uint64_t n, uint64_t *hashes);
void rm_mrjob_describe(void *ctx, uint64_t id, char *buf, size_t cap);
int rm_mrjob_attach(void *ctx, int rank, int size, struct rm_shuffle *shuffle);
void rm_mrjob_holders(void *ctx, uint32_t stage, uint64_t first, uint32_t n,
                      const uint32_t *holders);

/* Reads map task id's input split (whole lines) into the job's read buffer: *buf is valid
 * until the next call (worker thread only) and is not freed by the caller. Same returns as
 * rm_split_read. */
int rm_mrjob_read_split(struct rm_mrjob *j, uint64_t id, char **buf, size_t *len, char *err,
                        size_t cap);

/* Gathers partition r of every map output: fetches each from its holder and hands it to fn
 * (fn owns the buffer and must free it). Returns 0; RM_EDEAD when a holder died (the farm
 * recomputes its outputs, then reruns the task); fn's error; or a fetch error, described in
 * err. Worker thread. */
int rm_mrjob_gather(struct rm_mrjob *j, uint32_t r,
                    int (*fn)(void *arg, size_t m, unsigned char *buf, size_t len), void *arg,
                    char *err, size_t cap);

/* Writes part file r: opens a temporary file, calls write (which returns 0 or an error code,
 * RM_EIO for a failed write), closes it and renames it into place. Returns 0 or an error code
 * with err set. Worker thread. */
int rm_mrjob_write_part(struct rm_mrjob *j, uint32_t r, uint32_t attempt,
                        int (*write)(void *arg, FILE *f), void *arg, char *err, size_t cap);

#endif /* RM_KERNELS_MRJOB_H */
