/*
 * stagestate.h: a kernel's copy of each stage's shared state (k-means' centroids, PageRank's
 * dangling rank), as the farm delivers it (rm_farm_kernel.state, control thread) for the
 * worker thread's tasks to read. Thread-safe: set and get take the store's lock. The store
 * owns its copies.
 */
#ifndef RM_KERNELS_STAGESTATE_H
#define RM_KERNELS_STAGESTATE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

struct rm_stagestate {
    pthread_mutex_t mu;
    uint32_t stages;
    unsigned char **data; /* per stage: a malloc'd copy, or NULL until delivered */
    size_t *len;
};

/* 0 or RM_ENOMEM. Close with rm_stagestate_close (also after a failed init). */
int rm_stagestate_init(struct rm_stagestate *s, uint32_t stages);
void rm_stagestate_close(struct rm_stagestate *s);

/* Keeps a copy of stage's state (a repeat replaces it: every delivery carries the same bytes).
 * Out of memory, it logs a warning and keeps nothing: the stage's tasks then fail and are
 * retried. */
void rm_stagestate_set(struct rm_stagestate *s, uint32_t stage, const void *data, size_t len);

/* Copies stage's state, which must be exactly len bytes, into out. Returns 0, or RM_ENOENT
 * (not delivered: a one-line reason goes to err) or RM_ECORRUPT (another size). */
int rm_stagestate_get(struct rm_stagestate *s, uint32_t stage, void *out, size_t len, char *err,
                      size_t cap);

#endif /* RM_KERNELS_STAGESTATE_H */
