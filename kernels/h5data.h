/*
 * h5data.h: an HDF5 float64 dataset spread over one or more input files, cut into row blocks
 * (hyperslabs of the first dimension) of about --split-size bytes: the tasks of the numeric
 * kernels (histogram, kmeans). A block's key is its file, dataset and first row, so placement
 * follows the data. Also what those kernels share for their small per-stage outputs: the
 * holders announced for each stage, and gathering one fixed-size output per task.
 *
 * HDF5 is used by every rank before MPI starts (open) and then only by the worker thread
 * (reads); the library here is not built thread-safe. Holders are written on the control
 * thread and read on the worker thread, under the mutex.
 */
#ifndef RM_KERNELS_H5DATA_H
#define RM_KERNELS_H5DATA_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "scheduler/shuffle.h"
#include "scheduler/split.h"

#define RM_H5_MAX_STAGES 1024u

struct rm_h5block {
    size_t file;
    uint64_t row0, rows; /* rows [row0, row0 + rows) of that file */
    uint64_t first;      /* the global index of its first row, over all the files */
};

struct rm_h5data {
    struct rm_input_set in;
    const char *dataset; /* borrowed */
    uint64_t cols;       /* values per row (the product of the other dimensions) */
    uint64_t rows;       /* over all the files */
    struct rm_h5block *blocks;
    size_t m;
    /* stage outputs */
    int rank;
    struct rm_shuffle *shuffle;
    pthread_mutex_t mu;
    uint32_t stages;
    uint32_t *holder[RM_H5_MAX_STAGES]; /* per stage: who holds each task's output */
    uint64_t stage_first[RM_H5_MAX_STAGES + 1];
};

/* Expands the inputs and cuts the dataset into blocks. Every file must hold `dataset` as
 * float64 with the same row shape; with min_rank 2 it must have 2 dimensions or more.
 * Returns 0, RM_EUSAGE with one line in err, or RM_ENOMEM; on error d is closed. */
int rm_h5data_open(struct rm_h5data *d, char *const *paths, size_t n, const char *dataset,
                   int min_rank, uint64_t split_size, char *err, size_t cap);

/* Sets the job's stages (tasks per stage) for the holders; 0 or RM_ENOMEM. */
int rm_h5data_stages(struct rm_h5data *d, uint32_t stages, const uint64_t *tasks);

void rm_h5data_close(struct rm_h5data *d);

/* Reads block b: rows x cols values into a malloc'd array. 0, RM_ENOMEM or RM_EIO (err). */
int rm_h5data_read(const struct rm_h5data *d, size_t b, double **vals, size_t *n, char *err,
                   size_t cap);

/* Reads one row (global index) into out (cols values). 0 or RM_EIO. */
int rm_h5data_read_row(const struct rm_h5data *d, uint64_t row, double *out);

/* The ring hash of block b's key. */
uint64_t rm_h5data_key(const struct rm_h5data *d, size_t b);

/* Farm hooks for the holders (ctx is the rm_h5data) and the shuffle store. */
void rm_h5data_holders(struct rm_h5data *d, uint32_t stage, uint64_t first, uint32_t n,
                       const uint32_t *holders);

/* Stores task id's output (one part). 0 or an error code. */
int rm_h5data_put(struct rm_h5data *d, uint64_t id, const void *data, size_t len);

/* Fetches the output of every task of stage st, each exactly `want` bytes, into all
 * (tasks x want). 0; RM_EDEAD (a holder died: the farm recomputes); or an error (err). */
int rm_h5data_gather(struct rm_h5data *d, uint32_t st, size_t want, unsigned char *all, char *err,
                     size_t cap);

#endif /* RM_KERNELS_H5DATA_H */
