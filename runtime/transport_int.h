/*
 * transport_int.h: the transport's state, shared by its MPI path (transport.c) and its
 * same-node ring path (transport_shm.c). Private to those two files.
 */
#ifndef RM_TRANSPORT_INT_H
#define RM_TRANSPORT_INT_H

#include <mpi.h>
#include <stdbool.h>
#include <stdint.h>

#include "runtime/nodeshm.h"
#include "runtime/shmring.h"
#include "runtime/transport.h"

#define RECVS 16       /* MPI receives kept posted */
#define FULL_EVERY 256 /* every this many polls, test every request (see progress) */

/* A stamped batch waiting for room in a full ring. */
struct backlog_item {
    struct backlog_item *next;
    unsigned char *buf;
    size_t len;
    bool pooled;
};

struct backlog {
    struct backlog_item *head, *tail;
};

struct batch {
    unsigned char *buf;
    size_t len, cap;
};

/* A posted send; its request is reqs[RECVS + index]. */
struct pending_send {
    unsigned char *buf; /* owned until the request completes; NULL once it did */
    int dest;
    bool pooled; /* a batch_bytes buffer that goes back to the pool */
};

#define POOL_MAX 32  /* spare batch buffers kept for reuse */
#define MPI_QUIET 64 /* polls that found no MPI traffic before MPI is tested less often */
#define MPI_SKIP 4   /* then it is tested on one poll in this many (a power of two) */
#define SEND_EVERY 8 /* fast polls per test of the oldest pending send (a power of two) */

struct rm_transport {
    struct rm_transport_config cfg;
    int rank, size;
    uint64_t term, epoch;
    struct batch *out; /* per peer */
    bool *dead;        /* per peer */
    struct pending_send *pend;
    size_t n_pend, cap_pend;
    uint64_t *seq_out; /* per peer: seq of the last batch posted */
    struct rm_reorder *rx;
    MPI_Request *reqs;       /* RECVS posted receives (MPI_ANY_SOURCE), then one per pending
                              * send: one MPI_Testsome progresses both */
    unsigned char *recv_buf; /* RECVS x batch_bytes */
    bool *deferred_forget;   /* per peer: dead, stash not yet dropped */
    int order[RECVS];        /* ring slots, oldest posted receive first (circular from head) */
    int head;
    unsigned polls;      /* polls since the last full Testsome */
    unsigned send_polls; /* fast polls, for SEND_EVERY */
    int repost[RECVS]; /* slots taken and not yet posted again, oldest first */
    int n_repost;
    unsigned char *pool[POOL_MAX]; /* spare batch buffers */
    int n_pool;
    int *dirty; /* peers whose batch holds frames, each once (queued[] says which) */
    int n_dirty;
    bool *queued;
    bool any_forget; /* some deferred_forget is set */
    /* Same-node rings (nodeshm.h); shm is NULL when every peer is reached through MPI. */
    struct rm_nodeshm *shm;
    struct rm_shmring *ring_out, *ring_in; /* per local index: to it, from it */
    struct backlog *backlog;               /* per local index: stamped batches waiting for
                                            * room in ring_out, oldest first */
    size_t n_backlog;                      /* batches in every backlog */
    bool *ring_broken;                     /* per local index: its inbound ring was corrupt */
    int *rank_of_local;                    /* local index -> rank */
    int n_local, ring_next;
    unsigned mpi_quiet, mpi_skip; /* see skip_mpi in transport.c */
    struct rm_transport_stats st;
};

/* Gives a sent batch's buffer back to the pool, or frees it. */
void rm__transport_release(struct rm_transport *t, unsigned char *buf, bool pooled);

/* The ring path (transport_shm.c). */

/* Maps the node's rings (collective over the communicator); leaves t->shm NULL when there are
 * none to use. Returns 0, RM_ENOMEM or RM_EMPI. */
int rm__tshm_open(struct rm_transport *t);

/* Frees the ring state and unmaps the segment. Safe when there is none. */
void rm__tshm_close(struct rm_transport *t);

/* Sends a stamped batch to dest through its ring, or queues it behind earlier ones while the
 * ring is full, so that a pair's batches never overtake each other. Takes buf when it returns
 * 1; returns 0 when dest is on another node (MPI must carry it), or RM_ENOMEM. */
int rm__tshm_send(struct rm_transport *t, int dest, unsigned char *buf, size_t len, bool pooled);

/* Moves queued batches into rings that have room again. Can't fail. */
void rm__tshm_retry(struct rm_transport *t);

/* Delivers up to max batches from the inbound rings, one peer after another; returns how many.
 * A delivery error goes to *rc when it is still 0. */
int rm__tshm_drain(struct rm_transport *t, int max, rm_frame_fn fn, void *ctx, int *rc);

/* Drops what is queued for dead rank dest. */
void rm__tshm_drop(struct rm_transport *t, int dest);

#endif /* RM_TRANSPORT_INT_H */
