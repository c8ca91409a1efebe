/*
 * transport.h: framed, batched, validated point-to-point messages over MPI.
 *
 * Small frames to the same peer are appended to a per-peer batch and leave as one message on
 * rm_transport_flush() or when the batch fills; a frame larger than a batch travels as a run
 * of fragments. A batch to a rank of the same node goes through that pair's shared-memory ring
 * (nodeshm.h), waiting behind the earlier ones while the ring is full; MPI carries the batches
 * to other nodes, and all of them when the rings are off. Every batch carries a
 * per-peer sequence number (reorder.h). The receiver keeps 16 receives posted with MPI_ANY_SOURCE,
 * so no receive ever names a rank that may be dead, and delivers each peer's frames in the order
 * they were sent. Every frame is validated (frame.h) and its sender must match the MPI envelope;
 * malformed frames and frames from dead ranks are dropped and counted, never delivered.
 *
 * Not thread-safe: only the control thread may call these functions (it owns every MPI call).
 */
#ifndef RM_TRANSPORT_H
#define RM_TRANSPORT_H

#include <mpi.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/frame.h"

struct rm_transport_config {
    MPI_Comm comm;      /* borrowed; must outlive the transport */
    int tag;            /* MPI tag used for every batch */
    size_t batch_bytes; /* largest batch, and the size of each posted receive [16 KiB];
                         * every rank of a job must use the same value */
    size_t max_payload; /* largest frame payload accepted or sent [RM_FRAME_DEFAULT_MAX_PAYLOAD] */
    size_t shm_ring_bytes; /* data bytes of each ring to a rank of the same node (nodeshm.h);
                            * 0: MPI only. When set, rm_transport_create is collective */
};

#define RM_TRANSPORT_SHM_RING (64u << 10) /* the runtime's ring size */

/* Returns the ring size the environment asks for: 0 when RINGMASTER_SHM=0 (MPI only, as
 * between nodes), else RM_TRANSPORT_SHM_RING. Can't fail. */
size_t rm_transport_shm_env(void);

struct rm_transport_stats {
    uint64_t frames_sent, frames_received;
    uint64_t batches_sent, batches_received;
    uint64_t bytes_sent, bytes_received;
    uint64_t malformed;    /* frames or batches dropped as invalid */
    uint64_t from_dead;    /* batches dropped because their sender was declared dead */
    uint64_t refused_dead; /* sends refused because the destination is dead */
    uint64_t batches_shm;  /* of batches_sent, those that went through a same-node ring */
    uint64_t shm_waits;    /* batches that had to wait for room in a full ring */
};

/* Called once per delivered frame. payload is borrowed for the duration of the call. */
typedef void (*rm_frame_fn)(void *ctx, const struct rm_frame_header *hdr, const void *payload);

struct rm_transport;

/* Creates a transport over cfg->comm. cfg: borrowed, copied. Collective over cfg->comm when
 * cfg->shm_ring_bytes is set (every rank must be alive: call it at start-up). On success *out is
 * owned by the caller and released with rm_transport_destroy. Returns 0, RM_EINVAL, RM_ENOMEM,
 * RM_EMPI. */
int rm_transport_create(const struct rm_transport_config *cfg, struct rm_transport **out);

/* Frees the transport. Sends still in flight to live peers are completed first, within
 * timeout_ms; sends to dead peers are abandoned (their buffers leak deliberately, since MPI
 * may still read them). Safe with NULL. */
void rm_transport_destroy(struct rm_transport *t, int timeout_ms);

/* Stamps every later frame with this term and epoch. Can't fail. */
void rm_transport_set_stamp(struct rm_transport *t, uint64_t term, uint64_t epoch);

/* Queues one frame for dest; payload is borrowed and copied before return.
 * Returns 0, RM_EDEAD when dest is known dead (nothing is posted), RM_EINVAL for a bad rank or
 * type, RM_EMSGSIZE when len exceeds max_payload, RM_ENOMEM, RM_EMPI. */
int rm_transport_send(struct rm_transport *t, int dest, uint8_t type, const void *payload,
                      size_t len);

/* Posts every non-empty batch. Returns 0 or the first error (RM_ENOMEM, RM_EMPI). */
int rm_transport_flush(struct rm_transport *t);

/* Receives pending batches, validates them and calls fn for each good frame, then completes
 * finished sends: up to max_batches from the same-node rings, and what one pass over MPI
 * brings (one batch on the fast path; call again while there is activity). *activity is set
 * to the number of batches received plus sends completed. Returns 0, or RM_EMPI/RM_ENOMEM (the
 * transport stays usable).
 * The fast path tests only the oldest posted receive, where MPI puts the next message; every
 * FULL_EVERY polls, or always when thorough is set, it tests every request. Pass thorough when
 * the caller is idle: a receive matched to a message from a rank that died mid-transfer never
 * completes, and only the thorough test sees past it. */
int rm_transport_poll(struct rm_transport *t, int max_batches, bool thorough, rm_frame_fn fn,
                      void *ctx, int *activity);

/* Declares rank dead: its queued batch is dropped, later sends to it are refused, and frames
 * from it are dropped. Permanent. Can't fail; out-of-range ranks are ignored. */
void rm_transport_mark_dead(struct rm_transport *t, int rank);

/* Returns whether rank was declared dead. Can't fail. */
bool rm_transport_is_dead(const struct rm_transport *t, int rank);

/* Returns the number of sends posted and not yet completed, and of batches waiting for room in
 * a same-node ring. */
size_t rm_transport_pending(const struct rm_transport *t);

/* Copies the counters. Can't fail. */
void rm_transport_stats(const struct rm_transport *t, struct rm_transport_stats *out);

/* Validates one received batch from `source` and delivers its good frames to fn; counts the
 * rest in stats. Exposed for the unit tests (no MPI involved). Returns the frames delivered. */
int rm__transport_deliver(struct rm_transport_stats *stats, int source, const void *buf, size_t len,
                          size_t max_payload, rm_frame_fn fn, void *ctx);

#endif /* RM_TRANSPORT_H */
