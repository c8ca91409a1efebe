/*
 * nodeshm.h: one shared-memory segment per node, holding a shmring (shmring.h) for every
 * ordered pair of ranks of a communicator that run on that node.
 *
 * Ranks on one node exchange control messages through these rings instead of MPI: a small
 * message then costs one cache-line transfer and a few hundred instructions, where MPI's
 * matching engine costs more than the whole of the framing. The segment is a POSIX shared
 * memory object that the node's first rank creates and unlinks as soon as every rank of the
 * node has mapped it, so nothing is left behind in /dev/shm, even after a crash. The mapping
 * stays valid while any rank holds it, so the death of a rank, including the creator, does not
 * disturb the others' rings.
 */
#ifndef RM_NODESHM_H
#define RM_NODESHM_H

#include <mpi.h>
#include <stddef.h>

#define RM_NODESHM_MAX_BYTES (256u << 20) /* the most one node's segment may take */

struct rm_nodeshm;

/*
 * Maps the node's segment, with rings of up to ring_cap data bytes (the power of two at most
 * ring_cap, halved until the node's segment fits RM_NODESHM_MAX_BYTES; at least 32 KiB, so up to 90
 * ranks on a node). Collective over comm, and must be called while every rank is alive (at
 * start-up). Sets *out to NULL, and returns 0, when there is nothing to share (a single rank on
 * this node) or the segment can't be had (no /dev/shm, not enough room in it, too many ranks on the
 * node): the caller then uses MPI alone, and a debug line says why. On success *out is owned by the
 * caller and released with rm_nodeshm_close. Returns 0, RM_ENOMEM or RM_EMPI.
 */
int rm_nodeshm_open(MPI_Comm comm, size_t ring_cap, struct rm_nodeshm **out);

/* Unmaps the segment. Local, not collective. Safe with NULL. */
void rm_nodeshm_close(struct rm_nodeshm *s);

/* Returns rank's index among the ranks of this node, or -1 when it runs on another node. */
int rm_nodeshm_local(const struct rm_nodeshm *s, int rank);

/* Returns this rank's index on the node, the number of ranks on the node, and the data bytes
 * of each ring. */
int rm_nodeshm_self(const struct rm_nodeshm *s);
int rm_nodeshm_count(const struct rm_nodeshm *s);
size_t rm_nodeshm_ring_cap(const struct rm_nodeshm *s);

/* Returns the region of the ring that carries messages from local index `from` to local index
 * `to` (borrowed; valid until rm_nodeshm_close). */
void *rm_nodeshm_ring(const struct rm_nodeshm *s, int to, int from);

#endif /* RM_NODESHM_H */
