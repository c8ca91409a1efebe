/*
 * shuffle.h: where task outputs wait for the next stage, and how they travel.
 *
 * Each rank keeps the outputs of the tasks it completed in memory, split into parts (one per
 * reduce partition), each compressed with zstd and carrying an XXH3 checksum of its raw bytes.
 * A task of the next stage gathers part p of every output: from this rank's own store, or by a
 * FETCH message to the holder, answered with a DATA message by the holder's control thread
 * (never blocked by its worker). The checksum is verified on use: a damaged part is an error,
 * never data.
 *
 * Threads: rm_shuffle_put and rm_shuffle_fetch are for the worker thread (fetch blocks it until
 * the answer, the holder's death, or the timeout); the message handlers run on the control
 * thread. The store is guarded by a mutex.
 *
 * Wire: FETCH u64 request, u64 task, u32 part. DATA u64 request, i32 status (0 or an RM_E*
 * code), then the stored part as is (u8 codec, u64 raw length, u64 checksum, bytes).
 */
#ifndef RM_SHUFFLE_H
#define RM_SHUFFLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/control.h"

struct rm_shuffle;

/* Creates this rank's store and registers its handlers; before rm_control_start.
 * level: zstd level for stored parts, 0 = stored raw. timeout_ms: longest wait for a fetch.
 * Returns 0, RM_ENOMEM or a registration error. */
int rm_shuffle_create(struct rm_control *ctl, int level, uint32_t timeout_ms,
                      struct rm_shuffle **out);

/* Frees the store. The control thread must be stopped. NULL is ignored. */
void rm_shuffle_destroy(struct rm_shuffle *s);

/* Stores the n parts of task id's output, replacing an earlier copy. bufs and lens are
 * borrowed; the parts are compressed into the store. Returns 0, RM_ENOMEM, RM_EINVAL. */
int rm_shuffle_put(struct rm_shuffle *s, uint64_t id, uint32_t n, unsigned char *const *bufs,
                   const size_t *lens);

/* Gets part `part` of task id's output from rank holder (this rank's store when it is this
 * rank): a malloc'd copy of the raw bytes, which the caller frees.
 * Returns 0; RM_ENOENT (the holder does not have it); RM_EDEAD (the holder died or is dead);
 * RM_ECORRUPT (checksum or codec error); RM_EBUSY (timeout); RM_ENOMEM; RM_ESHUTDOWN. */
int rm_shuffle_fetch(struct rm_shuffle *s, uint32_t holder, uint64_t id, uint32_t part,
                     unsigned char **buf, size_t *len);

/* Fetches part `part` of the outputs of tasks ids[0..n) from their holders, with up to
 * RM_SHUFFLE_WINDOW requests in flight at once (a fetch costs a round trip through both
 * control threads: one after the other, they add up), and hands them to fn in order i = 0, 1,
 * ...; fn owns buf, and returns 0 or an error that stops the fetch. Returns 0, fn's error, or
 * rm_shuffle_fetch's for output i; *failed is then that i. Worker thread. */
#define RM_SHUFFLE_WINDOW 16u
int rm_shuffle_fetch_all(struct rm_shuffle *s, size_t n, const uint32_t *holders,
                         const uint64_t *ids, uint32_t part,
                         int (*fn)(void *arg, size_t i, unsigned char *buf, size_t len), void *arg,
                         size_t *failed);

/* Copies task id's stored output to the ranks to[0..n) (n <= RM_SHUFFLE_MAX_REPLICAS), which
 * keep it in their stores as if they had computed it, and waits for their answers: ok[i] says
 * whether rank to[i] holds it now (false when it died, refused or timed out). Returns 0,
 * RM_ENOENT (this rank does not hold id), RM_ENOMEM or RM_EINVAL. Worker thread. */
#define RM_SHUFFLE_MAX_REPLICAS 4u
int rm_shuffle_replicate(struct rm_shuffle *s, uint64_t id, const uint32_t *to, uint32_t n,
                         bool *ok);

/* Called once an asynchronous copy is over: ok[i] says whether to[i] holds the output now.
 * Control thread; arrays borrowed for the call. */
typedef void (*rm_shuffle_copied_fn)(void *arg, uint64_t id, const uint32_t *to, const bool *ok,
                                     uint32_t n);

/* Like rm_shuffle_replicate, but returns once the copies are on their way: done(arg, ...)
 * runs later on the control thread, once every target has answered, refused or died (or the
 * shuffle was aborted: then nothing is ok). Returns 0 (done will be called once, unless the
 * shuffle is destroyed first: arg, malloc'd, is then freed), or RM_ENOENT, RM_ENOMEM or
 * RM_EINVAL (done will not be called; arg stays the caller's). Worker thread. */
int rm_shuffle_replicate_async(struct rm_shuffle *s, uint64_t id, const uint32_t *to, uint32_t n,
                               rm_shuffle_copied_fn done, void *arg);

/* For checkpoints: calls fn for each output stored here of a task below id_end, one at a time,
 * with a copy of its parts as stored (compressed, each with its checksum; borrowed for the
 * call), without holding the store's lock during fn. Stops at fn's first error and returns it;
 * otherwise 0 or RM_ENOMEM. Worker thread. */
int rm_shuffle_each(struct rm_shuffle *s, uint64_t id_end,
                    int (*fn)(void *arg, uint64_t id, uint32_t n, unsigned char *const *parts,
                              const size_t *lens),
                    void *arg);

/* Stores task id's output from parts as rm_shuffle_each gave them, once each decodes and
 * matches its checksum. Returns 0, RM_ECORRUPT (then nothing is stored), RM_ENOMEM. */
int rm_shuffle_import(struct rm_shuffle *s, uint64_t id, uint32_t n, unsigned char *const *parts,
                      const size_t *lens);

/* The job is over: every waiting fetch returns RM_ESHUTDOWN now, and later ones at once.
 * Any thread. */
void rm_shuffle_abort(struct rm_shuffle *s);

/* Bytes held in the store (compressed), and bytes sent and received by fetches. */
void rm_shuffle_stats(struct rm_shuffle *s, uint64_t *held, uint64_t *sent, uint64_t *received);

#endif /* RM_SHUFFLE_H */
