/*
 * reorder.h: per-peer ordering and reassembly of received batches (pure; no MPI).
 *
 * Every MPI message of the transport starts with a 24-byte batch header:
 *
 *   off size field
 *     0    4 magic   0x31424D52 ("RMB1")
 *     4    4 sender  MPI rank of the sender
 *     8    8 seq     1, 2, 3, ... per (sender, receiver) pair
 *    16    4 flags   RM_BATCH_MORE: a fragment of a frame that continues in the next batch
 *    20    4 reserved, zero
 *
 * The receiver posts several receives at once, and MPI may complete them out of order, so
 * batches are delivered strictly by seq: early ones wait in a per-peer stash. Fragments are
 * joined before their frames are decoded. Not thread-safe: the control thread owns it.
 */
#ifndef RM_REORDER_H
#define RM_REORDER_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/transport.h"

#define RM_BATCH_MAGIC 0x31424D52u
#define RM_BATCH_HEADER_SIZE 24u
#define RM_BATCH_MORE 1u
#define RM_REORDER_MAX_STASH 4096u /* early batches kept per peer before the stream is dropped */

struct rm_reorder;

/* Creates the state for `peers` senders. max_payload bounds a reassembled frame.
 * Returns 0 or RM_ENOMEM; free with rm_reorder_destroy. */
int rm_reorder_create(int peers, size_t max_payload, struct rm_reorder **out);

/* Frees everything. Safe with NULL. */
void rm_reorder_destroy(struct rm_reorder *r);

/* Writes a batch header. Can't fail. */
void rm_batch_header_write(unsigned char *p, uint32_t sender, uint64_t seq, uint32_t flags);

/*
 * Accepts one received MPI message from `source` (buf is borrowed; copied if it must wait) and
 * delivers, in order, every frame that became deliverable. Malformed batches are counted in
 * stats->malformed and dropped. fn must not make this object forget `source` (defer that to
 * after the call). Returns the frames delivered, or RM_ENOMEM.
 */
int rm_reorder_accept(struct rm_reorder *r, struct rm_transport_stats *stats, int source,
                      const void *buf, size_t len, rm_frame_fn fn, void *ctx);

/* Forgets everything waiting from a peer (it was declared dead). Can't fail. */
void rm_reorder_forget(struct rm_reorder *r, int source);

#endif /* RM_REORDER_H */
