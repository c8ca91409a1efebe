/*
 * ring.c: consistent-hash ring with virtual nodes and a dense lookup table.
 *
 * Layout: `ranks` lists the members in increasing rank order; a member's index in it is its
 * "member id" inside this file. The ring's points are parallel arrays sorted by (position,
 * member id): `pos`, the full positions, and `owner`, the member ids, both ended by a sentinel
 * point at UINT64_MAX owned like point 0, so that a forward scan needs no bounds check and
 * wraps by itself.
 *
 * Lookups read one derived array, rebuilt on every membership change: the hash space is split
 * into 2^kbits equal buckets, and each bucket is one 64-byte cache line of 16 words. Word 0 holds
 * the number of points in the bucket (BUCKET_FULL if more than BUCKET_POINTS) and, above it, the
 * member id of the first point after the bucket, which owns the keys above the bucket's last
 * point. Words 1..15 hold the bucket's points in order, each as its fragment (the bits of its
 * position just below the top kbits) above its member id (the low mbits). A lookup reads that
 * one line, counts without branches the points whose fragment is below the key's, and reads the
 * owner from the next word, or from word 0. A bucket holds 4 to 8 points on average; the rare
 * full bucket, and the rarer tie of fragments, take a binary search over `pos`.
 * At 1,000 ranks x 4,096 vnodes the lines take 32 MB.
 */
#include "scheduler/ring.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

/* Buckets per point, as a power of two: 2^-3, so a bucket holds 4 to 8 points on average and
 * is full (more than BUCKET_POINTS) for about 0.6% of keys at 1,000 ranks x 4,096 vnodes.
 * Measured in bench_ring. */
#ifndef TABLE_EXTRA_BITS
#define TABLE_EXTRA_BITS (-3)
#endif
#define BUCKET_WORDS 16u
#define BUCKET_POINTS (BUCKET_WORDS - 1)
#define BUCKET_FULL 31u /* count field of a bucket with more than BUCKET_POINTS points */
#define COUNT_BITS 5u
/* Member ids take at most this many of the 32 bits of a packed point; the rest, at least 8,
 * hold the key fragment. */
#define MAX_MEMBER_BITS 24u
/* Point batches larger than this are radix-sorted; smaller ones go through qsort. */
#define RADIX_MIN 65536u
/* Successor sets up to this size are deduplicated by a linear scan, larger ones by a bitmap. */
#define SUCC_LINEAR_MAX 64u

struct rm_ring {
    uint32_t vnodes;
    uint32_t nmembers;
    uint32_t *ranks;   /* nmembers, increasing */
    uint32_t npoints;  /* nmembers * vnodes, not counting the sentinel */
    uint64_t *pos;     /* npoints + 1, sorted */
    uint32_t *owner;   /* npoints + 1, member ids */
    uint32_t mbits;    /* bits of a member id in a bucket word */
    uint32_t kbits;    /* the bucket of a hash is its top kbits */
    uint32_t shift;    /* 64 - kbits */
    uint32_t fshift;   /* 32 - kbits */
    uint32_t mmask;    /* the member bits of a bucket word */
    uint32_t *bucket;  /* 2^kbits + 1 lines of BUCKET_WORDS; the last is padding */
};

/* One point while building: position, then member id, the sort key. */
struct point {
    uint64_t pos;
    uint32_t member;
};

/* The arrays that one membership change builds and then swaps into the ring. */
struct layout {
    uint32_t nmembers;
    uint32_t *ranks;
    uint32_t npoints;
    uint64_t *pos;
    uint32_t *owner;
    uint32_t mbits, kbits;
    uint32_t shift;
    uint32_t *bucket;
};

uint64_t rm_ring_hash(const void *key, size_t len)
{
    return XXH3_64bits(key, len);
}

/* Position of vnode `idx` of `rank`: XXH3 of both as little-endian bytes. Can't fail. */
static uint64_t vnode_pos(uint32_t rank, uint32_t idx)
{
    unsigned char buf[8];
    for (int i = 0; i < 4; i++) {
        buf[i] = (unsigned char)(rank >> (8 * i));
        buf[4 + i] = (unsigned char)(idx >> (8 * i));
    }
    return XXH3_64bits_withSeed(buf, sizeof buf, RM_RING_VNODE_SEED);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static int cmp_point(const void *a, const void *b)
{
    const struct point *x = a, *y = b;
    if (x->pos != y->pos)
        return x->pos < y->pos ? -1 : 1;
    return (x->member > y->member) - (x->member < y->member);
}

/* Stable LSD radix sort on pos, 16 bits per pass. Points arrive in member-id order, so
 * stability orders equal positions by member id, matching cmp_point(). */
static int radix_sort_points(struct point *pts, size_t n)
{
    struct point *tmp = malloc(n * sizeof *tmp);
    size_t *count = malloc(65536 * sizeof *count);
    int rc = RM_ENOMEM;
    if (!tmp || !count)
        goto out;
    for (unsigned pass = 0; pass < 4; pass++) {
        unsigned sh = 16 * pass;
        memset(count, 0, 65536 * sizeof *count);
        for (size_t i = 0; i < n; i++)
            count[(pts[i].pos >> sh) & 0xffff]++;
        size_t sum = 0;
        for (size_t d = 0; d < 65536; d++) {
            size_t c = count[d];
            count[d] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            tmp[count[(pts[i].pos >> sh) & 0xffff]++] = pts[i];
        memcpy(pts, tmp, n * sizeof *pts);
    }
    rc = 0;
out:
    free(count);
    free(tmp);
    return rc;
}

static int sort_points(struct point *pts, size_t n)
{
    if (n >= RADIX_MIN)
        return radix_sort_points(pts, n);
    qsort(pts, n, sizeof *pts, cmp_point);
    return 0;
}

/* Index of the first of the n sorted values >= x; n if none. Can't fail. */
static size_t lower_bound_u64(const uint64_t *v, size_t n, uint64_t x)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Member id of rank, or -1. Can't fail. */
static int64_t member_id(const struct rm_ring *ring, uint32_t rank)
{
    size_t lo = 0, hi = ring->nmembers;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ring->ranks[mid] < rank)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < ring->nmembers && ring->ranks[lo] == rank)
        return (int64_t)lo;
    return -1;
}

static void layout_free(struct layout *l)
{
    free(l->ranks);
    free(l->pos);
    free(l->owner);
    free(l->bucket);
    memset(l, 0, sizeof *l);
}

/* Allocates ranks (when nmembers > 0) and the point arrays of l, with the sentinel slot. */
static int layout_alloc(struct layout *l, uint32_t nmembers, uint32_t npoints)
{
    memset(l, 0, sizeof *l);
    l->nmembers = nmembers;
    l->npoints = npoints;
    l->ranks = malloc((nmembers ? nmembers : 1) * sizeof *l->ranks);
    l->pos = malloc(((size_t)npoints + 1) * sizeof *l->pos);
    l->owner = malloc(((size_t)npoints + 1) * sizeof *l->owner);
    if (!l->ranks || !l->pos || !l->owner) {
        layout_free(l);
        return RM_ENOMEM;
    }
    return 0;
}

/* Table size for n points: 2^bits buckets, bits in [4, 30]. Can't fail. */
static uint32_t table_bits(uint32_t npoints)
{
    int bits = 0;
    while (bits < 30 && (UINT64_C(1) << bits) < npoints)
        bits++;
    bits += TABLE_EXTRA_BITS;
    if (bits < 4)
        bits = 4;
    return (uint32_t)(bits > 30 ? 30 : bits);
}

/* Bits needed for member ids below n, at least 1. Can't fail. */
static uint32_t member_bits(uint32_t n)
{
    uint32_t bits = 1;
    while (bits < 32 && (UINT64_C(1) << bits) < n)
        bits++;
    return bits;
}

/* The fragment of hash in place: the 32 bits below its top kbits, with the low mbits (where a
 * bucket word keeps the member id) cleared. Can't fail. */
static inline uint32_t fragment(uint64_t hash, uint32_t kbits, uint32_t mbits)
{
    return (uint32_t)(hash >> (32 - kbits)) & ~(uint32_t)(UINT32_MAX >> (32 - mbits));
}

/* Fills bucket line w from points [i, j), those of the bucket; point j owns the keys above them.
 * Can't fail. */
static void fill_bucket(const struct layout *l, uint32_t *w, uint32_t i, uint32_t j)
{
    uint32_t c = j - i;
    w[0] = l->owner[j] << COUNT_BITS | (c > BUCKET_POINTS ? BUCKET_FULL : c);
    for (uint32_t k = 0; k < BUCKET_POINTS; k++)
        w[1 + k] = k < c ? fragment(l->pos[i + k], l->kbits, l->mbits) | l->owner[i + k]
                         : UINT32_MAX;
}

/* Writes the sentinel point and the bucket lines of a layout whose points are in place. */
static int layout_finish(struct layout *l)
{
    uint32_t np = l->npoints;
    l->pos[np] = UINT64_MAX;
    l->owner[np] = np ? l->owner[0] : 0;
    l->mbits = member_bits(l->nmembers);
    if (l->mbits > MAX_MEMBER_BITS)
        return RM_EINVAL;
    l->kbits = table_bits(np);
    l->shift = 64 - l->kbits;
    size_t nb = (size_t)1 << l->kbits, bytes = (nb + 1) * BUCKET_WORDS * sizeof *l->bucket;
    l->bucket = aligned_alloc(64, bytes);
    if (!l->bucket)
        return RM_ENOMEM;
    memset(l->bucket, 0, bytes);
    uint32_t i = 0, j = 0;
    for (size_t b = 0; b < nb; b++, i = j) {
        uint64_t end = (uint64_t)b << l->shift | ((UINT64_C(1) << l->shift) - 1);
        while (j < np && l->pos[j] <= end)
            j++;
        fill_bucket(l, l->bucket + b * BUCKET_WORDS, i, j);
    }
    return 0;
}

/* Frees the ring's arrays and takes those of l. Can't fail. */
static void ring_swap_in(struct rm_ring *ring, struct layout *l)
{
    free(ring->ranks);
    free(ring->pos);
    free(ring->owner);
    free(ring->bucket);
    ring->nmembers = l->nmembers;
    ring->ranks = l->ranks;
    ring->npoints = l->npoints;
    ring->pos = l->pos;
    ring->owner = l->owner;
    ring->mbits = l->mbits;
    ring->kbits = l->kbits;
    ring->shift = l->shift;
    ring->fshift = 32 - l->kbits;
    ring->mmask = (uint32_t)(UINT32_MAX >> (32 - l->mbits));
    ring->bucket = l->bucket;
    memset(l, 0, sizeof *l);
}

int rm_ring_create(uint32_t vnodes, struct rm_ring **out)
{
    if (!out || vnodes > RM_RING_MAX_VNODES)
        return RM_EINVAL;
    struct rm_ring *ring = calloc(1, sizeof *ring);
    if (!ring)
        return RM_ENOMEM;
    ring->vnodes = vnodes ? vnodes : RM_RING_DEFAULT_VNODES;
    struct layout l;
    int rc = layout_alloc(&l, 0, 0);
    if (rc < 0)
        goto err_after_ring;
    rc = layout_finish(&l);
    if (rc < 0)
        goto err_after_layout;
    ring_swap_in(ring, &l);
    *out = ring;
    return 0;
err_after_layout:
    layout_free(&l);
err_after_ring:
    free(ring);
    return rc;
}

void rm_ring_destroy(struct rm_ring *ring)
{
    if (!ring)
        return;
    free(ring->ranks);
    free(ring->pos);
    free(ring->owner);
    free(ring->bucket);
    free(ring);
}

/* Checks that the sorted new ranks are distinct and not yet members. */
static int check_new_ranks(const struct rm_ring *ring, const uint32_t *sorted, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && sorted[i] == sorted[i - 1])
            return RM_EINVAL;
        if (member_id(ring, sorted[i]) >= 0)
            return RM_EINVAL;
    }
    return 0;
}

/* Merges old members and the sorted new ranks into l->ranks. old_to_new[k] receives the new
 * id of old member k; new_ids[j] that of sorted[j]. Can't fail. */
static void merge_members(const struct rm_ring *ring, const uint32_t *sorted, size_t n,
                          struct layout *l, uint32_t *old_to_new, uint32_t *new_ids)
{
    size_t a = 0, b = 0, k = 0;
    while (a < ring->nmembers || b < n) {
        if (b == n || (a < ring->nmembers && ring->ranks[a] < sorted[b])) {
            old_to_new[a] = (uint32_t)k;
            l->ranks[k++] = ring->ranks[a++];
        } else {
            new_ids[b] = (uint32_t)k;
            l->ranks[k++] = sorted[b++];
        }
    }
}

/* Builds the sorted points of the new members. *out receives an array the caller frees. */
static int new_points(const struct rm_ring *ring, const uint32_t *sorted, const uint32_t *ids,
                      size_t n, struct point **out)
{
    size_t count = n * ring->vnodes;
    struct point *pts = malloc((count ? count : 1) * sizeof *pts);
    if (!pts)
        return RM_ENOMEM;
    for (size_t j = 0; j < n; j++)
        for (uint32_t v = 0; v < ring->vnodes; v++) {
            struct point *p = &pts[j * ring->vnodes + v];
            p->pos = vnode_pos(sorted[j], v);
            p->member = ids[j];
        }
    int rc = sort_points(pts, count);
    if (rc < 0) {
        free(pts);
        return rc;
    }
    *out = pts;
    return 0;
}

/* Merges the ring's points (renumbered by old_to_new) with the sorted new points into l. */
static void merge_points(const struct rm_ring *ring, const uint32_t *old_to_new,
                         const struct point *add, size_t nadd, struct layout *l)
{
    size_t a = 0, b = 0, k = 0;
    while (a < ring->npoints || b < nadd) {
        bool take_old = b == nadd;
        if (!take_old && a < ring->npoints) {
            struct point p = {ring->pos[a], old_to_new[ring->owner[a]]};
            take_old = cmp_point(&p, &add[b]) < 0;
        }
        if (take_old) {
            l->pos[k] = ring->pos[a];
            l->owner[k++] = old_to_new[ring->owner[a++]];
        } else {
            l->pos[k] = add[b].pos;
            l->owner[k++] = add[b++].member;
        }
    }
}

/* Builds the layout of ring plus the n sorted, checked new ranks. */
static int build_added(const struct rm_ring *ring, const uint32_t *sorted, size_t n,
                       struct layout *l)
{
    uint32_t nm = ring->nmembers + (uint32_t)n;
    uint32_t *ids = malloc((ring->nmembers + n + 1) * sizeof *ids);
    struct point *add = NULL;
    int rc = RM_ENOMEM;
    if (!ids)
        return rc;
    rc = layout_alloc(l, nm, nm * ring->vnodes);
    if (rc < 0)
        goto out;
    merge_members(ring, sorted, n, l, ids, ids + ring->nmembers);
    rc = new_points(ring, sorted, ids + ring->nmembers, n, &add);
    if (rc < 0)
        goto out;
    merge_points(ring, ids, add, n * ring->vnodes, l);
    rc = layout_finish(l);
out:
    if (rc < 0)
        layout_free(l);
    free(add);
    free(ids);
    return rc;
}

int rm_ring_add_many(struct rm_ring *ring, const uint32_t *ranks, size_t n)
{
    if (!ring || (!ranks && n > 0))
        return RM_EINVAL;
    if (n == 0)
        return 0;
    if (n > RM_RING_MAX_POINTS || (ring->nmembers + n) * ring->vnodes > RM_RING_MAX_POINTS ||
        ring->nmembers + n > RM_RING_MAX_MEMBERS)
        return RM_EINVAL;
    uint32_t *sorted = malloc(n * sizeof *sorted);
    if (!sorted)
        return RM_ENOMEM;
    memcpy(sorted, ranks, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, cmp_u32);
    struct layout l;
    int rc = check_new_ranks(ring, sorted, n);
    if (rc < 0)
        goto out;
    rc = build_added(ring, sorted, n, &l);
    if (rc < 0)
        goto out;
    ring_swap_in(ring, &l);
out:
    free(sorted);
    return rc;
}

int rm_ring_add(struct rm_ring *ring, uint32_t rank)
{
    return rm_ring_add_many(ring, &rank, 1);
}

/* Builds the layout of ring without member id `gone`. */
static int build_removed(const struct rm_ring *ring, uint32_t gone, struct layout *l)
{
    int rc = layout_alloc(l, ring->nmembers - 1, ring->npoints - ring->vnodes);
    if (rc < 0)
        return rc;
    for (uint32_t m = 0, k = 0; m < ring->nmembers; m++)
        if (m != gone)
            l->ranks[k++] = ring->ranks[m];
    uint32_t k = 0;
    for (uint32_t i = 0; i < ring->npoints; i++) {
        uint32_t m = ring->owner[i];
        if (m == gone)
            continue;
        l->pos[k] = ring->pos[i];
        l->owner[k++] = m > gone ? m - 1 : m;
    }
    rc = layout_finish(l);
    if (rc < 0)
        layout_free(l);
    return rc;
}

int rm_ring_remove(struct rm_ring *ring, uint32_t rank)
{
    if (!ring)
        return RM_EINVAL;
    int64_t m = member_id(ring, rank);
    if (m < 0)
        return RM_ENOENT;
    struct layout l;
    int rc = build_removed(ring, (uint32_t)m, &l);
    if (rc < 0)
        return rc;
    ring_swap_in(ring, &l);
    return 0;
}

size_t rm_ring_size(const struct rm_ring *ring)
{
    return ring ? ring->nmembers : 0;
}

uint32_t rm_ring_vnodes(const struct rm_ring *ring)
{
    return ring ? ring->vnodes : 0;
}

int rm_ring_contains(const struct rm_ring *ring, uint32_t rank)
{
    return ring && member_id(ring, rank) >= 0;
}

int rm_ring_members(const struct rm_ring *ring, uint32_t *out, size_t cap)
{
    if (!ring || (!out && cap > 0))
        return RM_EINVAL;
    size_t n = cap < ring->nmembers ? cap : ring->nmembers;
    if (n)
        memcpy(out, ring->ranks, n * sizeof *out);
    return (int)ring->nmembers;
}

/* Index of the first point at or after hash; npoints (the sentinel) if none. Can't fail. */
static uint32_t point_at(const struct rm_ring *ring, uint64_t hash)
{
    return (uint32_t)lower_bound_u64(ring->pos, ring->npoints, hash);
}

/* Member id owning hash; the ring must not be empty. The hot path reads one cache line, in
 * about 60 instructions without data-dependent branches: a lookup waits for its cache miss, so
 * the fewer instructions and mispredictions per lookup, the more lookups the CPU overlaps. The
 * one branch (full bucket or tied fragment) is almost never taken. */
static inline uint32_t lookup_member(const struct rm_ring *ring, uint64_t hash)
{
    const uint32_t *w = ring->bucket + (hash >> ring->shift) * BUCKET_WORDS;
    w = __builtin_assume_aligned(w, 64);
    uint32_t mmask = ring->mmask;
    uint32_t key = (uint32_t)(hash >> ring->fshift) & ~mmask; /* as fragment() */
    uint32_t c = w[0] & BUCKET_FULL, n = 0;
    /* Unused words hold UINT32_MAX, above any key, so the whole aligned line can be compared
     * (the compiler vectorises this); word 0, the header, is taken back out. */
    for (uint32_t j = 0; j < BUCKET_WORDS; j++)
        n += w[j] < key;
    n -= w[0] < key;
    uint32_t next = w[1 + n]; /* n <= 15: at worst word 0 of the next line, or the padding */
    if ((c == BUCKET_FULL) | ((n < c) & ((next & ~mmask) == key)))
        return ring->owner[point_at(ring, hash)];
    /* The owner: the next point of the bucket if there is one, else the first after it. */
    uint32_t inside = 0u - (uint32_t)(n < c);
    return (next & inside & mmask) | (w[0] >> COUNT_BITS & ~inside);
}

int rm_ring_owner(const struct rm_ring *ring, uint64_t hash, uint32_t *rank)
{
    if (!ring || !rank)
        return RM_EINVAL;
    if (ring->nmembers == 0)
        return RM_ENOENT;
    *rank = ring->ranks[lookup_member(ring, hash)];
    return 0;
}

int rm_ring_owner_many(const struct rm_ring *ring, const uint64_t *hashes, size_t n,
                       uint32_t *ranks)
{
    if (!ring || (n > 0 && (!hashes || !ranks)))
        return RM_EINVAL;
    if (n == 0)
        return 0;
    if (ring->nmembers == 0)
        return RM_ENOENT;
    enum { AHEAD = 12 };
    for (size_t i = 0; i < n; i++) {
        if (i + AHEAD < n)
            __builtin_prefetch(ring->bucket + (hashes[i + AHEAD] >> ring->shift) * BUCKET_WORDS);
        ranks[i] = ring->ranks[lookup_member(ring, hashes[i])];
    }
    return 0;
}

/* Adds member m to out[*count] unless already there; seen is NULL for a linear check. */
static void succ_push(const struct rm_ring *ring, uint32_t m, uint64_t *seen, uint32_t *out,
                      size_t *count)
{
    uint32_t rank = ring->ranks[m];
    if (seen) {
        if (seen[m / 64] & (UINT64_C(1) << (m % 64)))
            return;
        seen[m / 64] |= UINT64_C(1) << (m % 64);
    } else {
        for (size_t j = 0; j < *count; j++)
            if (out[j] == rank)
                return;
    }
    out[(*count)++] = rank;
}

int rm_ring_successors(const struct rm_ring *ring, uint64_t hash, uint32_t *out, size_t n)
{
    if (!ring || !out || n == 0)
        return RM_EINVAL;
    if (ring->nmembers == 0)
        return RM_ENOENT;
    size_t want = n < ring->nmembers ? n : ring->nmembers, count = 0;
    uint64_t *seen = NULL;
    if (want > SUCC_LINEAR_MAX) {
        seen = calloc(ring->nmembers / 64 + 1, sizeof *seen);
        if (!seen)
            return RM_ENOMEM;
    }
    size_t i = lower_bound_u64(ring->pos, ring->npoints, hash);
    for (size_t step = 0; step < ring->npoints && count < want; step++, i++) {
        if (i == ring->npoints)
            i = 0;
        succ_push(ring, ring->owner[i], seen, out, &count);
    }
    free(seen);
    return (int)count;
}

/* Adds each point's arc, (previous point, point], to its member's entry of sum, which has
 * nmembers entries. Point 0's arc wraps, which unsigned arithmetic handles. Can't fail. */
static void sum_arcs(const struct rm_ring *ring, double *sum)
{
    for (uint32_t i = 0; i < ring->npoints; i++) {
        uint64_t prev = ring->pos[i ? i - 1 : ring->npoints - 1];
        sum[ring->owner[i]] += (double)(ring->pos[i] - prev);
    }
    for (uint32_t m = 0; m < ring->nmembers; m++)
        sum[m] /= 18446744073709551616.0;
}

int rm_ring_shares(const struct rm_ring *ring, double *shares, size_t cap)
{
    if (!ring || (!shares && cap > 0))
        return RM_EINVAL;
    if (cap < ring->nmembers)
        return (int)ring->nmembers;
    memset(shares, 0, ring->nmembers * sizeof *shares);
    if (ring->nmembers == 1)
        shares[0] = 1.0; /* one point's arc is the whole ring, 2^64, which wraps to 0 */
    else
        sum_arcs(ring, shares);
    return (int)ring->nmembers;
}

int rm_ring_share(const struct rm_ring *ring, uint32_t rank, double *share)
{
    if (!ring || !share)
        return RM_EINVAL;
    int64_t m = member_id(ring, rank);
    if (m < 0)
        return RM_ENOENT;
    double *all = malloc(ring->nmembers * sizeof *all);
    if (!all)
        return RM_ENOMEM;
    rm_ring_shares(ring, all, ring->nmembers);
    *share = all[m];
    free(all);
    return 0;
}

/* The per-member cap of a bounded batch: ceil(c * n / members), at least 1. Can't fail. */
static size_t bounded_cap(size_t n, uint32_t nmembers, double c)
{
    double cap = ceil(c * (double)n / (double)nmembers);
    if (cap >= (double)n)
        return n;
    return cap < 1.0 ? 1 : (size_t)cap;
}

/* Member id that takes hash under the cap: the first one from the owner on that is not full.
 * Some member is never full while keys remain, because cap * members >= n. */
static uint32_t bounded_pick(const struct rm_ring *ring, uint64_t hash, const size_t *load,
                             size_t cap)
{
    uint32_t m = lookup_member(ring, hash);
    if (load[m] < cap)
        return m;
    size_t i = lower_bound_u64(ring->pos, ring->npoints, hash);
    for (;;) {
        if (i >= ring->npoints)
            i = 0;
        m = ring->owner[i++];
        if (load[m] < cap)
            return m;
    }
}

int rm_ring_assign_bounded(const struct rm_ring *ring, const uint64_t *hashes, size_t n, double c,
                           uint32_t *ranks)
{
    if (!ring || (n > 0 && (!hashes || !ranks)) || !isfinite(c) || c < 1.0)
        return RM_EINVAL;
    if (n == 0)
        return 0;
    if (ring->nmembers == 0)
        return RM_ENOENT;
    size_t *load = calloc(ring->nmembers, sizeof *load);
    if (!load)
        return RM_ENOMEM;
    size_t cap = bounded_cap(n, ring->nmembers, c);
    for (size_t k = 0; k < n; k++) {
        uint32_t m = bounded_pick(ring, hashes[k], load, cap);
        load[m]++;
        ranks[k] = ring->ranks[m];
    }
    free(load);
    return 0;
}
