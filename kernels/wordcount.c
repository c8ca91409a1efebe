/* wordcount.c: the word -> count table, the tokenizer, the shuffle codec and the sorted output
 * of the wordcount kernel. See wordcount.h for the contract and the wire layout. */
#include "kernels/wordcount.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#define XXH_INLINE_ALL /* one hash per token, most under 16 bytes: the library call would dominate */
#include <xxhash.h>

#include "runtime/frame.h"

/* One slot: 32 bytes, two per cache line. count == 0 marks an empty slot. */
struct rm_wc_slot {
    uint64_t hash;  /* XXH3-64 of the word */
    uint64_t count; /* >= 1 when the slot is used */
    size_t off;     /* the word's bytes are arena[off .. off+len) */
    size_t len;
};

#define WC_INIT_BITS 12u       /* 4,096 slots: 128 KB */
#define WC_INIT_ARENA 65536u   /* bytes */
#define WC_MAX_VARINT 10u      /* bytes of a LEB128 uint64 */

/* ---- the table -------------------------------------------------------------------------- */

int rm_wc_init(struct rm_wc *t)
{
    if (!t)
        return RM_EINVAL;
    memset(t, 0, sizeof *t);
    t->bits = WC_INIT_BITS;
    t->cap = (size_t)1 << WC_INIT_BITS;
    t->slots = calloc(t->cap, sizeof *t->slots);
    t->arena = malloc(WC_INIT_ARENA);
    if (!t->slots || !t->arena) {
        rm_wc_free(t);
        return RM_ENOMEM;
    }
    t->arena_cap = WC_INIT_ARENA;
    return 0;
}

void rm_wc_free(struct rm_wc *t)
{
    if (!t)
        return;
    free(t->slots);
    free(t->arena);
    memset(t, 0, sizeof *t);
}

size_t rm_wc_bytes(const struct rm_wc *t)
{
    if (!t)
        return 0;
    return sizeof *t + t->cap * sizeof *t->slots + t->arena_cap;
}

/* The slot holding the word, or the empty slot where it would go. The table is never full, so
 * the probe ends. Can't fail. */
static struct rm_wc_slot *wc_find(const struct rm_wc *t, const char *w, size_t len, uint64_t h)
{
    size_t mask = t->cap - 1;
    /* The top bits pick the home slot: the shuffle partitions by h % parts, so on the reduce
     * side the low bits of every word in a table can be equal. */
    size_t i = (size_t)(h >> (64 - t->bits));
    for (;; i = (i + 1) & mask) {
        struct rm_wc_slot *s = &t->slots[i];
        if (s->count == 0)
            return s;
        if (s->hash == h && s->len == len && memcmp(t->arena + s->off, w, len) == 0)
            return s;
    }
}

/* True if the table can hold `words` words without growing (load at most 2/3). */
static bool wc_fits(size_t cap, size_t words)
{
    return words <= cap / 3 * 2;
}

/* Doubles the slot array until it fits `words` words, rehashing from the stored hashes.
 * Returns 0 or RM_ENOMEM (the table unchanged). */
static int wc_reserve_slots(struct rm_wc *t, size_t words)
{
    unsigned bits = t->bits;
    while (!wc_fits((size_t)1 << bits, words)) {
        if (bits >= sizeof(size_t) * 8 - 6) /* the array size would overflow size_t */
            return RM_ENOMEM;
        bits++;
    }
    if (bits == t->bits)
        return 0;
    struct rm_wc_slot *old = t->slots;
    size_t old_cap = t->cap;
    t->slots = calloc((size_t)1 << bits, sizeof *t->slots);
    if (!t->slots) {
        t->slots = old;
        return RM_ENOMEM;
    }
    t->bits = bits;
    t->cap = (size_t)1 << bits;
    for (size_t i = 0; i < old_cap; i++) {
        if (old[i].count == 0)
            continue;
        size_t j = (size_t)(old[i].hash >> (64 - bits));
        while (t->slots[j].count != 0)
            j = (j + 1) & (t->cap - 1);
        t->slots[j] = old[i];
    }
    free(old);
    return 0;
}

/* Makes room for `more` bytes at the end of the arena, at least doubling it.
 * Returns 0 or RM_ENOMEM (the arena unchanged). */
static int wc_reserve_arena(struct rm_wc *t, size_t more)
{
    if (t->arena_cap - t->arena_len >= more)
        return 0;
    if (more > SIZE_MAX / 2 - t->arena_len)
        return RM_ENOMEM;
    size_t cap = t->arena_cap ? t->arena_cap : WC_INIT_ARENA;
    while (cap - t->arena_len < more)
        cap *= 2;
    char *a = realloc(t->arena, cap);
    if (!a)
        return RM_ENOMEM;
    t->arena = a;
    t->arena_cap = cap;
    return 0;
}

/* Adds count to word w (hash h). If in_tail, w is already at arena + arena_len (put there by
 * the tokenizer) and is kept by advancing arena_len; otherwise it is copied in. The caller has
 * checked that t->total cannot overflow. Returns 0 or RM_ENOMEM (the table unchanged). */
static int wc_upsert(struct rm_wc *t, const char *w, size_t len, uint64_t h, uint64_t count,
                     bool in_tail)
{
    struct rm_wc_slot *s = wc_find(t, w, len, h);
    if (s->count == 0) {
        if (!wc_fits(t->cap, t->distinct + 1)) {
            int rc = wc_reserve_slots(t, t->distinct + 1);
            if (rc < 0)
                return rc;
            s = wc_find(t, w, len, h);
        }
        if (!in_tail) {
            int rc = wc_reserve_arena(t, len);
            if (rc < 0)
                return rc;
            memcpy(t->arena + t->arena_len, w, len);
        }
        *s = (struct rm_wc_slot){.hash = h, .off = t->arena_len, .len = len};
        t->arena_len += len;
        t->distinct++;
    }
    s->count += count;
    t->total += count;
    return 0;
}

int rm_wc_add(struct rm_wc *t, const char *w, size_t len, uint64_t count)
{
    if (!t || !w || len == 0 || count == 0 || count > UINT64_MAX - t->total)
        return RM_EINVAL;
    return wc_upsert(t, w, len, XXH3_64bits(w, len), count, false);
}

uint64_t rm_wc_get(const struct rm_wc *t, const char *w, size_t len)
{
    if (!t || !w || !t->slots)
        return 0;
    return wc_find(t, w, len, XXH3_64bits(w, len))->count;
}

uint32_t rm_wc_partition(const char *w, size_t len, uint32_t parts)
{
    if (parts == 0)
        return 0;
    return (uint32_t)(XXH3_64bits(w, len) % parts);
}

/* ---- the tokenizer ---------------------------------------------------------------------- */

/* [A-Za-z]: setting bit 5 maps A-Z onto a-z and nothing else onto a-z. */
static inline bool wc_is_letter(unsigned char c)
{
    return (unsigned char)((c | 0x20u) - 'a') < 26u;
}

/* Counts one token s[0..len), all letters, folding it to lower case on the way into the arena
 * tail: that copy is the lookup key, and becomes the stored word if the word is new. */
static int wc_count_folded(struct rm_wc *t, const unsigned char *s, size_t len)
{
    int rc = wc_reserve_arena(t, len);
    if (rc < 0)
        return rc;
    char *dst = t->arena + t->arena_len;
    for (size_t i = 0; i < len; i++)
        dst[i] = (char)(s[i] | 0x20u);
    return wc_upsert(t, dst, len, XXH3_64bits(dst, len), 1, true);
}

int rm_wc_map(struct rm_wc *t, const char *text, size_t len, bool case_sensitive)
{
    if (!t || (!text && len > 0))
        return RM_EINVAL;
    const unsigned char *p = (const unsigned char *)text;
    const unsigned char *end = p + len;
    while (p < end) {
        while (p < end && !wc_is_letter(*p))
            p++;
        if (p == end)
            break;
        const unsigned char *s = p;
        while (p < end && wc_is_letter(*p))
            p++;
        size_t n = (size_t)(p - s);
        if (t->total == UINT64_MAX)
            return RM_EINVAL; /* 2^64 tokens: unreachable in practice */
        int rc = case_sensitive
                     ? wc_upsert(t, (const char *)s, n, XXH3_64bits(s, n), 1, false)
                     : wc_count_folded(t, s, n);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* ---- the shuffle codec ------------------------------------------------------------------ */

static size_t wc_varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static unsigned char *wc_varint_put(unsigned char *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    *p++ = (unsigned char)v;
    return p;
}

/* Reads one LEB128 varint from [*pp, end). Refuses truncation, more than 64 bits and overlong
 * forms (a last byte of 0 after the first). Returns 0 and advances *pp, or RM_ECORRUPT. */
static int wc_varint_get(const unsigned char **pp, const unsigned char *end, uint64_t *out)
{
    const unsigned char *p = *pp;
    uint64_t v = 0;
    for (unsigned i = 0; i < WC_MAX_VARINT; i++) {
        if (p == end)
            return RM_ECORRUPT;
        unsigned b = *p++;
        if (i == WC_MAX_VARINT - 1 && b > 1)
            return RM_ECORRUPT;
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            if (b == 0 && i > 0)
                return RM_ECORRUPT;
            *out = v;
            *pp = p;
            return 0;
        }
    }
    return RM_ECORRUPT;
}

/* The checksum of a buffer: XXH3-64 of the records seeded with XXH3-64 of header bytes 0..23. */
static uint64_t wc_checksum(const unsigned char *buf, size_t len)
{
    uint64_t seed = XXH3_64bits(buf, 24);
    return XXH3_64bits_withSeed(buf + RM_WC_WIRE_HEADER_SIZE, len - RM_WC_WIRE_HEADER_SIZE, seed);
}

/* Records per partition and the cursor where the next record goes. */
struct wc_part {
    uint64_t records;
    unsigned char *next;
};

static void wc_free_bufs(unsigned char **bufs, uint32_t parts)
{
    for (uint32_t i = 0; i < parts; i++) {
        free(bufs[i]);
        bufs[i] = NULL;
    }
}

/* Sizes every partition's buffer into lens and allocates it. Returns 0 or RM_ENOMEM. */
static int wc_encode_alloc(const struct rm_wc *t, uint32_t parts, struct wc_part *pp,
                           unsigned char **bufs, size_t *lens)
{
    for (uint32_t i = 0; i < parts; i++)
        lens[i] = RM_WC_WIRE_HEADER_SIZE;
    for (size_t i = 0; i < t->cap; i++) {
        const struct rm_wc_slot *s = &t->slots[i];
        if (s->count == 0)
            continue;
        uint32_t p = (uint32_t)(s->hash % parts);
        lens[p] += wc_varint_len(s->len) + s->len + wc_varint_len(s->count);
        pp[p].records++;
    }
    for (uint32_t i = 0; i < parts; i++) {
        bufs[i] = malloc(lens[i]);
        if (!bufs[i])
            return RM_ENOMEM;
        pp[i].next = bufs[i] + RM_WC_WIRE_HEADER_SIZE;
    }
    return 0;
}

static void wc_encode_header(unsigned char *b, size_t len, uint32_t part, uint32_t parts,
                             uint64_t records)
{
    rm_put_u32(b, RM_WC_WIRE_MAGIC);
    rm_put_u32(b + 4, RM_WC_WIRE_VERSION);
    rm_put_u32(b + 8, part);
    rm_put_u32(b + 12, parts);
    rm_put_u64(b + 16, records);
    rm_put_u64(b + 24, wc_checksum(b, len));
}

int rm_wc_encode(const struct rm_wc *t, uint32_t parts, unsigned char **bufs, size_t *lens)
{
    if (!bufs || !lens)
        return RM_EINVAL;
    for (uint32_t i = 0; i < parts; i++)
        bufs[i] = NULL;
    if (!t || parts == 0)
        return RM_EINVAL;
    struct wc_part *pp = calloc(parts, sizeof *pp);
    if (!pp)
        return RM_ENOMEM;
    int rc = wc_encode_alloc(t, parts, pp, bufs, lens);
    if (rc < 0)
        goto err_after_parts;
    for (size_t i = 0; i < t->cap; i++) {
        const struct rm_wc_slot *s = &t->slots[i];
        if (s->count == 0)
            continue;
        struct wc_part *p = &pp[s->hash % parts];
        p->next = wc_varint_put(p->next, s->len);
        memcpy(p->next, t->arena + s->off, s->len);
        p->next = wc_varint_put(p->next + s->len, s->count);
    }
    for (uint32_t i = 0; i < parts; i++)
        wc_encode_header(bufs[i], lens[i], i, parts, pp[i].records);
    free(pp);
    return 0;

err_after_parts:
    wc_free_bufs(bufs, parts);
    free(pp);
    return rc;
}

/* One record read from a buffer. */
struct wc_record {
    const char *word;
    size_t len;
    uint64_t count;
};

/* Reads the record at *pp. Returns 0 and advances *pp, or RM_ECORRUPT. */
static int wc_record_get(const unsigned char **pp, const unsigned char *end, struct wc_record *r)
{
    uint64_t len;
    if (wc_varint_get(pp, end, &len) < 0 || len == 0 || len > (uint64_t)(end - *pp))
        return RM_ECORRUPT;
    r->word = (const char *)*pp;
    r->len = (size_t)len;
    *pp += len;
    if (wc_varint_get(pp, end, &r->count) < 0 || r->count == 0)
        return RM_ECORRUPT;
    return 0;
}

/* What a checked buffer holds. */
struct wc_checked {
    const unsigned char *records; /* first record */
    const unsigned char *end;
    uint64_t nrecords;
    uint64_t total;      /* sum of the counts */
    size_t word_bytes;   /* sum of the word lengths */
};

/* Checks the header and the checksum. Returns 0, RM_EPROTO or RM_ECORRUPT. */
static int wc_check_header(const unsigned char *buf, size_t len, uint32_t *part, uint32_t *parts,
                           uint64_t *records)
{
    if (len < RM_WC_WIRE_HEADER_SIZE || rm_get_u32(buf) != RM_WC_WIRE_MAGIC ||
        rm_get_u32(buf + 4) != RM_WC_WIRE_VERSION)
        return RM_EPROTO;
    *part = rm_get_u32(buf + 8);
    *parts = rm_get_u32(buf + 12);
    *records = rm_get_u64(buf + 16);
    if (*parts == 0 || *part >= *parts)
        return RM_EPROTO;
    if (rm_get_u64(buf + 24) != wc_checksum(buf, len))
        return RM_ECORRUPT;
    return 0;
}

/* Checks a whole buffer without touching any table. Returns 0, RM_EPROTO or RM_ECORRUPT. */
static int wc_check(const unsigned char *buf, size_t len, struct wc_checked *c)
{
    uint32_t part, parts;
    uint64_t records;
    int rc = wc_check_header(buf, len, &part, &parts, &records);
    if (rc < 0)
        return rc;
    *c = (struct wc_checked){.records = buf + RM_WC_WIRE_HEADER_SIZE, .end = buf + len};
    for (const unsigned char *p = c->records; p < c->end; c->nrecords++) {
        struct wc_record r;
        if (wc_record_get(&p, c->end, &r) < 0 || r.count > UINT64_MAX - c->total)
            return RM_ECORRUPT;
        if (XXH3_64bits(r.word, r.len) % parts != part)
            return RM_ECORRUPT;
        c->total += r.count;
        c->word_bytes += r.len;
    }
    return c->nrecords == records ? 0 : RM_ECORRUPT;
}

int rm_wc_decode_into(struct rm_wc *t, const unsigned char *buf, size_t len)
{
    if (!t || (!buf && len > 0))
        return RM_EINVAL;
    struct wc_checked c;
    int rc = wc_check(buf, len, &c);
    if (rc < 0)
        return rc;
    if (c.total > UINT64_MAX - t->total)
        return RM_ECORRUPT;
    /* Reserve first so that the merge below cannot fail half-way. The record count is bounded
     * by len, so the sum cannot overflow. */
    if (wc_reserve_slots(t, t->distinct + (size_t)c.nrecords) < 0 ||
        wc_reserve_arena(t, c.word_bytes) < 0)
        return RM_ENOMEM;
    for (const unsigned char *p = c.records; p < c.end;) {
        struct wc_record r;
        rc = wc_record_get(&p, c.end, &r);
        assert(rc == 0); /* wc_check read the same bytes */
        rc = wc_upsert(t, r.word, r.len, XXH3_64bits(r.word, r.len), r.count, false);
        assert(rc == 0); /* the room was reserved above */
        (void)rc;
    }
    return 0;
}

/* ---- sorted output ---------------------------------------------------------------------- */

static int wc_entry_cmp(const void *a, const void *b)
{
    const struct rm_wc_entry *x = a, *y = b;
    int c = memcmp(x->word, y->word, x->len < y->len ? x->len : y->len);
    if (c != 0)
        return c;
    return (x->len > y->len) - (x->len < y->len);
}

int rm_wc_sorted(const struct rm_wc *t, struct rm_wc_entry **out, size_t *n)
{
    if (!out || !n)
        return RM_EINVAL;
    *out = NULL;
    *n = 0;
    if (!t)
        return RM_EINVAL;
    if (t->distinct == 0)
        return 0;
    struct rm_wc_entry *e = malloc(t->distinct * sizeof *e);
    if (!e)
        return RM_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < t->cap; i++) {
        const struct rm_wc_slot *s = &t->slots[i];
        if (s->count != 0)
            e[k++] = (struct rm_wc_entry){t->arena + s->off, s->len, s->count};
    }
    qsort(e, k, sizeof *e, wc_entry_cmp);
    *out = e;
    *n = k;
    return 0;
}

/* Formats "\t<count>\n" into buf (at least 22 bytes). Returns its length. */
static size_t wc_format_count(char *buf, uint64_t v)
{
    char digits[20];
    size_t n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    buf[0] = '\t';
    for (size_t i = 0; i < n; i++)
        buf[1 + i] = digits[n - 1 - i];
    buf[n + 1] = '\n';
    return n + 2;
}

int rm_wc_write_tsv(const struct rm_wc_entry *e, size_t n, FILE *f)
{
    if (!f || (!e && n > 0))
        return RM_EINVAL;
    char tail[24];
    for (size_t i = 0; i < n; i++) {
        size_t k = wc_format_count(tail, e[i].count);
        if (fwrite(e[i].word, 1, e[i].len, f) != e[i].len || fwrite(tail, 1, k, f) != k)
            return RM_EIO;
    }
    if (fflush(f) != 0 || ferror(f))
        return RM_EIO;
    return 0;
}
