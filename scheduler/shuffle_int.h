/*
 * shuffle_int.h: the shuffle store's state, shared by the store, fetching and serving
 * (shuffle.c) and the replica copies (shuffle_replica.c). Private to those two files.
 * Locking: every field marked "under mu" is read and written with s->mu held.
 */
#ifndef RM_SHUFFLE_INT_H
#define RM_SHUFFLE_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/control.h"
#include "runtime/frame.h"
#include "scheduler/shuffle.h"

#define PART_HEAD 17u /* u8 codec, u64 raw length, u64 checksum */
enum codec { CODEC_RAW = 0, CODEC_ZSTD = 1 };

struct stored { /* one task's output */
    uint64_t id;
    uint32_t n;
    unsigned char **part; /* n stored parts: PART_HEAD then the (compressed) bytes */
    size_t *len;
};

struct request { /* a fetch waiting for its DATA, or a copy waiting for its REPLICA_ACK */
    uint64_t req;
    uint32_t holder;
    bool done;
    int status;
    unsigned char *data; /* the stored part, malloc'd */
    size_t len;
    struct request *next;
};

/* An asynchronous copy to several ranks (rm_shuffle_replicate_async), reaped on the control
 * thread once every one of its requests is done. */
struct group {
    uint64_t id;
    uint32_t n;
    uint32_t to[RM_SHUFFLE_MAX_REPLICAS];
    struct request r[RM_SHUFFLE_MAX_REPLICAS];
    size_t bytes;
    uint64_t t0;
    rm_shuffle_copied_fn done;
    void *arg;
    struct group *next;
};

struct rm_shuffle {
    struct rm_control *ctl;
    int level;
    uint32_t timeout_ms;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct stored *store; /* open addressing on id, cap a power of two */
    size_t n_store, cap_store;
    struct request *pending;
    struct group *groups; /* asynchronous copies in flight (under mu) */
    uint64_t next_req;
    uint64_t held, sent, received, replicated;
    bool *dead;   /* per rank, as this rank's detector found (under mu) */
    bool aborted; /* the job is over (under mu) */
    int size;
};

/* The store's slot for task id (open addressing; the slot is free or holds id). */
size_t rm__shuffle_slot_of(const struct rm_shuffle *s, uint64_t id);

/* Frees a stored output's parts (not st itself). */
void rm__shuffle_free_stored(struct stored *st);

/* Puts st (owned) into the store, replacing an earlier copy of its task. 0 or RM_ENOMEM (st is
 * freed). Under mu. */
int rm__shuffle_insert_stored(struct rm_shuffle *s, struct stored *st, uint64_t bytes);

/* Sends a request of `type` (payload msg, len bytes, its first 8 left for the request number)
 * to r->holder, another rank, and links r into the pending list. Returns 0 (r is then pending
 * until it is waited for and unlinked), or an error (r is not linked). */
int rm__shuffle_start_request(struct rm_shuffle *s, struct request *r, uint32_t type,
                              const unsigned char *msg, size_t len);

/* Waits for r under mu until done or the deadline. */
void rm__shuffle_wait_request(struct rm_shuffle *s, struct request *r);

/* Takes r off the pending list. Under mu. */
void rm__shuffle_unlink_request(struct rm_shuffle *s, struct request *r);

/* Runs the callbacks of the asynchronous copies whose every request is done. Control thread,
 * without mu. */
void rm__shuffle_reap_groups(struct rm_shuffle *s);

/* The replica side (shuffle_replica.c): the handlers of REPLICA (store a copy, answer) and
 * REPLICA_ACK (complete the copy's request). Control thread. */
void rm__shuffle_on_replica(struct rm_control *c, void *ctx, const struct rm_frame_header *h,
                            const void *payload);
void rm__shuffle_on_replica_ack(struct rm_control *c, void *ctx, const struct rm_frame_header *h,
                                const void *payload);

#endif /* RM_SHUFFLE_INT_H */
