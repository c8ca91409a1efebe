/*
 * ring.h: the consistent-hash ring that places tasks on ranks.
 *
 * Members are MPI ranks (uint32 ids, never reused). Each member owns `vnodes` points on a 64-bit
 * ring; the point of vnode i of rank r is XXH3-64 of the little-endian bytes (r, i) under the
 * fixed seed RM_RING_VNODE_SEED, so every process that holds the same membership (and vnode
 * count) computes the same ring, whatever order the members were added and removed in. Points
 * that collide are ordered by rank.
 *
 * A key is hashed with rm_ring_hash() (XXH3-64, seed 0). Its owner is the member of the first
 * point at or after the hash, wrapping at the top. Its successors (the replica set) are the
 * distinct members met walking on from there, owner first. Removing a member moves only the
 * keys that member owned; adding one moves only the keys it now owns.
 *
 * Owner lookups go through a dense table derived from the sorted points and rebuilt on every
 * membership change: one 64-byte cache line per lookup, no search. Successor lookups
 * binary-search the points. Membership changes cost O(points) (plus sorting the new points).
 *
 * Threads: the ring is not locked. Lookups (owner, successors, share, assign) only read it and
 * may run from many threads at once as long as no thread is changing the membership. Changes
 * (add, remove, destroy) need exclusive access.
 *
 * Nothing here is collective and nothing calls MPI.
 */
#ifndef RM_SCHEDULER_RING_H
#define RM_SCHEDULER_RING_H

#include <stddef.h>
#include <stdint.h>

#include "include/ringmaster.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Virtual nodes per member when rm_ring_create() is given 0. At 1,000 members the fullest
 * member's exact share of the hash space is 1.044 x the mean, and 1.07 x counted over 4M random
 * keys (2,048 vnodes give 1.080 and 1.11: too close to the 1.10 goal); see bench_ring. Memory is
 * about 20 bytes per point, 82 MB at 1,000 members, and twice that while a membership change
 * builds the new layout. */
#define RM_RING_DEFAULT_VNODES 4096u

/* Upper bounds on vnodes per member, on members * vnodes and on members. */
#define RM_RING_MAX_VNODES 65536u
#define RM_RING_MAX_POINTS (1u << 30)
#define RM_RING_MAX_MEMBERS (1u << 24)

/* Seed of the vnode point hash. Changing it moves every key: it is part of the wire contract. */
#define RM_RING_VNODE_SEED UINT64_C(0x52696e676d617374) /* "Ringmast" */

struct rm_ring;

/*
 * Hashes a key to its 64-bit ring position (XXH3-64, seed 0).
 * key: borrowed, `len` bytes; may be NULL only when len is 0.
 * Returns the hash. This function can't fail. Any thread may call it.
 */
uint64_t rm_ring_hash(const void *key, size_t len);

/*
 * Creates an empty ring.
 * vnodes: virtual nodes per member, 1..RM_RING_MAX_VNODES, or 0 for RM_RING_DEFAULT_VNODES.
 * out: receives the ring, which the caller frees with rm_ring_destroy().
 * Returns 0, RM_EINVAL (out is NULL or vnodes too large) or RM_ENOMEM.
 */
int rm_ring_create(uint32_t vnodes, struct rm_ring **out);

/*
 * Frees a ring and everything it holds. NULL is ignored. Needs exclusive access.
 */
void rm_ring_destroy(struct rm_ring *ring);

/*
 * Adds members and rebuilds the lookup table once. All or nothing: on error the ring is
 * unchanged. Adding many members in one call is much cheaper than adding them one by one.
 * ring: borrowed. ranks: borrowed array of n distinct ranks, none of them already a member.
 * Returns 0; RM_EINVAL if an argument is NULL (ranks may be NULL when n is 0), a rank repeats
 * or is already a member, or the ring would exceed RM_RING_MAX_POINTS or RM_RING_MAX_MEMBERS;
 * RM_ENOMEM.
 * Needs exclusive access.
 */
int rm_ring_add_many(struct rm_ring *ring, const uint32_t *ranks, size_t n);

/*
 * Adds one member: rm_ring_add_many(ring, &rank, 1).
 */
int rm_ring_add(struct rm_ring *ring, uint32_t rank);

/*
 * Removes a member, any member, and rebuilds the lookup table. Only the keys it owned move,
 * each to the next member on the ring. All or nothing: on error the ring is unchanged.
 * ring: borrowed.
 * Returns 0, RM_EINVAL (ring is NULL), RM_ENOENT (rank is not a member) or RM_ENOMEM.
 * Needs exclusive access.
 */
int rm_ring_remove(struct rm_ring *ring, uint32_t rank);

/*
 * Number of members; 0 for an empty ring or NULL. This function can't fail.
 */
size_t rm_ring_size(const struct rm_ring *ring);

/*
 * Virtual nodes per member, as fixed at creation; 0 for NULL. This function can't fail.
 */
uint32_t rm_ring_vnodes(const struct rm_ring *ring);

/*
 * Tells whether rank is a member: 1 if it is, 0 if not (or ring is NULL). Read-only.
 */
int rm_ring_contains(const struct rm_ring *ring, uint32_t rank);

/*
 * Copies the members, in increasing rank order, into out.
 * ring: borrowed. out: caller's array of cap entries; may be NULL when cap is 0.
 * Returns the number of members (which may exceed cap; only cap are written), or RM_EINVAL.
 * Read-only.
 */
int rm_ring_members(const struct rm_ring *ring, uint32_t *out, size_t cap);

/*
 * Finds the owner of a hashed key (see rm_ring_hash()).
 * ring: borrowed. rank: receives the owner.
 * Returns 0, RM_EINVAL (NULL argument) or RM_ENOENT (the ring is empty).
 * Read-only: safe from many threads while nobody changes the ring.
 */
int rm_ring_owner(const struct rm_ring *ring, uint64_t hash, uint32_t *rank);

/*
 * Finds the owners of n hashed keys, faster per key than rm_ring_owner() for large batches.
 * ring: borrowed. hashes: borrowed array of n hashes. ranks: caller's array of n entries.
 * Arrays may be NULL when n is 0.
 * Returns 0, RM_EINVAL or RM_ENOENT (the ring is empty and n > 0). Read-only.
 */
int rm_ring_owner_many(const struct rm_ring *ring, const uint64_t *hashes, size_t n,
                       uint32_t *ranks);

/*
 * Finds the replica set of a hashed key: the first n distinct members at or after the hash,
 * owner first.
 * ring: borrowed. out: caller's array of at least n entries.
 * Returns the number written, min(n, rm_ring_size(ring)); RM_EINVAL (NULL argument or n is 0);
 * RM_ENOENT (the ring is empty); RM_ENOMEM (only when n > 64, for a scratch bitmap).
 * Read-only: safe from many threads while nobody changes the ring.
 */
int rm_ring_successors(const struct rm_ring *ring, uint64_t hash, uint32_t *out, size_t n);

/*
 * Computes the exact fraction of the hash space that rank owns (its expected share of
 * uniformly hashed keys). ring: borrowed. share: receives a value in [0, 1].
 * Returns 0, RM_EINVAL, RM_ENOENT (rank is not a member) or RM_ENOMEM. Read-only; costs
 * O(points): use rm_ring_shares() for all members at once.
 */
int rm_ring_share(const struct rm_ring *ring, uint32_t rank, double *share);

/*
 * Computes every member's share, as rm_ring_share() does, in one pass.
 * ring: borrowed. shares: caller's array of cap entries; entry k receives the share of the k-th
 * member in increasing rank order (see rm_ring_members()). Nothing is written when cap is
 * smaller than the number of members. shares may be NULL when cap is 0.
 * Returns the number of members, or RM_EINVAL. Read-only.
 */
int rm_ring_shares(const struct rm_ring *ring, double *shares, size_t cap);

/*
 * Bounded-load assignment (consistent hashing with bounded loads, Mirrokni, Thorup and
 * Zadimoghaddam 2018). Assigns the n keys in array order: each goes to the first member, walking
 * the ring from the key's hash, that holds fewer than cap = ceil(c * n / members) keys of this
 * batch. The result depends only on the membership, the hashes, their order and c.
 * ring: borrowed. hashes: borrowed array of n hashes. ranks: caller's array of n entries,
 * receives each key's member. Arrays may be NULL when n is 0.
 * c: load factor, at least 1.0 (1.25 is a good start); finite. A key's walk past full members
 * is short for c well above 1 and can reach O(points) as c nears 1.
 * Returns 0, RM_EINVAL (NULL argument, c < 1 or not finite), RM_ENOENT (empty ring, n > 0) or
 * RM_ENOMEM. Read-only on the ring.
 */
int rm_ring_assign_bounded(const struct rm_ring *ring, const uint64_t *hashes, size_t n, double c,
                           uint32_t *ranks);

#ifdef __cplusplus
}
#endif

#endif /* RM_SCHEDULER_RING_H */
