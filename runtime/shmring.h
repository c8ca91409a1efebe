/*
 * shmring.h: a one-writer, one-reader ring of variable-length records in memory that two
 * processes of one node share (pure code: no MPI, no allocation, no system calls).
 *
 * A ring's region is RM_SHMRING_CTL bytes of control (the reader's position, on a cache line
 * of its own) followed by `cap` data bytes. A record is an 8-byte header word, (seq << 32) |
 * length, then the record's bytes, padded to 8. The writer copies the bytes first and then
 * publishes the header word with a release store; the reader polls the header word at its
 * position with an acquire load, so a small record costs the reader one cache-line transfer,
 * and a writer that dies mid-record leaves nothing visible. seq counts records 1, 2, 3, ...
 * (never 0), so a header left from an earlier lap is never mistaken for a new one; the reader
 * also zeroes every byte it consumes, so stale bytes can never look like a header. A record
 * that would run past the end is preceded by a wrap marker and starts again at offset 0.
 *
 * The region must be zero-filled before either side attaches. Each side keeps its own
 * struct rm_shmring; only the writer may call write, only the reader peek and consume.
 * Neither blocks: a full ring is reported, and the caller sends another way.
 */
#ifndef RM_SHMRING_H
#define RM_SHMRING_H

#include <stddef.h>
#include <stdint.h>

#define RM_SHMRING_CTL 64u      /* control bytes at the start of a region */
#define RM_SHMRING_MIN_CAP 512u /* smallest data area accepted */

/* One side's private view of a ring. */
struct rm_shmring {
    unsigned char *ctl;  /* borrowed: the region's first byte; the region outlives this view */
    unsigned char *data; /* ctl + RM_SHMRING_CTL */
    uint64_t cap;        /* data bytes, a power of two */
    uint64_t pos;        /* writer: next byte to write; reader: next byte to read (never wraps) */
    uint64_t peer_pos;   /* writer: the reader's position when last read from the region */
    uint32_t seq;        /* the next record's number */
};

/* Bytes a region with `cap` data bytes needs. */
static inline size_t rm_shmring_region_bytes(size_t cap)
{
    return RM_SHMRING_CTL + cap;
}

/* Sets up a view of region (borrowed, 8-byte aligned, zero-filled before first use,
 * rm_shmring_region_bytes(cap) long). Returns 0, or RM_EINVAL when cap is not a power of two
 * or is below RM_SHMRING_MIN_CAP, or region is misaligned. */
int rm_shmring_attach(struct rm_shmring *r, void *region, size_t cap);

/* Writer: appends one record of len bytes (data borrowed, copied). Returns 0, RM_EBUSY when
 * the reader has not yet freed enough room (nothing is written), or RM_EMSGSIZE when len can
 * never fit. */
int rm_shmring_write(struct rm_shmring *w, const void *data, size_t len);

/* Reader: looks at the next record. Returns 1 and sets *data (pointing into the region,
 * valid until rm_shmring_consume) and *len; 0 when there is none yet; RM_EPROTO when the
 * header at the reader's position is impossible (the ring can't be read any further). */
int rm_shmring_peek(struct rm_shmring *r, const void **data, size_t *len);

/* Reader: releases the record just peeked (len as peek returned it): zeroes it and hands its
 * room back to the writer. */
void rm_shmring_consume(struct rm_shmring *r, size_t len);

#endif /* RM_SHMRING_H */
