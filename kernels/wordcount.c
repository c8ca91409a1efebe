/* wordcount.c: the word -> count table, the tokenizer, the shuffle codec and the sorted output
 * of the wordcount kernel. See wordcount.h for the contract and the wire layout. */
#include "kernels/wordcount.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include <endian.h>
/* One hash per token, most under 16 bytes: a call into the library would cost more than it. */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "runtime/frame.h"

/* The table is an index of 8-byte slots over a dense array of items in insertion order. A
 * text's frequent words come first, so their items share a few cache lines, and the index is
 * a quarter of the size a slot holding the whole item would make it. */
struct rm_wc_slot {
    uint32_t tag;  /* low 32 bits of the word's hash */
    uint32_t item; /* index into items, plus 1; 0 marks an empty slot */
};

/* One word: 32 bytes, two per cache line. Words of up to WC_INLINE bytes (nearly all words)
 * are kept in the item, zero-padded, and compared as two 8-byte words; longer ones live in the
 * arena. The words' hashes, needed only to grow the index and to encode, are kept apart in
 * t->hashes so that they do not take up cache space here. */
struct rm_wc_item {
    uint64_t count; /* >= 1 */
    size_t len;
    union {
        char bytes[16]; /* len <= WC_INLINE: the word, then zeros */
        size_t off;     /* len > WC_INLINE: the word is arena[off .. off+len) */
    } w;
};

#define WC_INLINE 16u
#define WC_MAX_ITEMS (UINT32_MAX - 1u) /* distinct words one table can hold */
#define WC_HUGE_PAGE ((size_t)2 << 20)
#define WC_INIT_BITS 12u /* 4,096 slots */
#define WC_INIT_ITEMS 1024u
#define WC_INIT_ARENA 65536u /* bytes */
#define WC_MAX_VARINT 10u    /* bytes of a LEB128 uint64 */
#define WC_BATCH 32u         /* tokens hashed and prefetched before they are counted */
#define WC_KEY_MAX 64u       /* longer tokens bypass the batch */

/* ---- the table -------------------------------------------------------------------------- */

int rm_wc_init(struct rm_wc *t)
{
    if (!t)
        return RM_EINVAL;
    memset(t, 0, sizeof *t);
    t->bits = WC_INIT_BITS;
    t->cap = (size_t)1 << WC_INIT_BITS;
    t->slots = calloc(t->cap, sizeof *t->slots);
    t->items = malloc(WC_INIT_ITEMS * sizeof *t->items);
    t->hashes = malloc(WC_INIT_ITEMS * sizeof *t->hashes);
    t->arena = malloc(WC_INIT_ARENA);
    if (!t->slots || !t->items || !t->hashes || !t->arena) {
        rm_wc_free(t);
        return RM_ENOMEM;
    }
    t->items_cap = WC_INIT_ITEMS;
    t->arena_cap = WC_INIT_ARENA;
    return 0;
}

void rm_wc_free(struct rm_wc *t)
{
    if (!t)
        return;
    free(t->slots);
    free(t->items);
    free(t->hashes);
    free(t->arena);
    memset(t, 0, sizeof *t);
}

size_t rm_wc_bytes(const struct rm_wc *t)
{
    if (!t)
        return 0;
    return sizeof *t + t->cap * sizeof *t->slots +
           t->items_cap * (sizeof *t->items + sizeof *t->hashes) + t->arena_cap;
}

/* The bytes of an item's word. */
static const char *wc_word(const struct rm_wc *t, const struct rm_wc_item *it)
{
    return it->len <= WC_INLINE ? it->w.bytes : t->arena + it->w.off;
}

/* A word's home slot: the top bits of its hash. The shuffle partitions by h % parts, so on the
 * reduce side the low bits of every word in a table can be equal. */
static size_t wc_home(const struct rm_wc *t, uint64_t h)
{
    return (size_t)(h >> (64 - t->bits));
}

static inline uint64_t wc_load64(const void *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline uint64_t wc_mum(uint64_t a, uint64_t b)
{
    __extension__ typedef unsigned __int128 u128;
    u128 m = (u128)a * b;
    return (uint64_t)m ^ (uint64_t)(m >> 64);
}

/* The table's own hash of the word in key (padded as wc_find wants when short): for a short
 * word, two multiply-folds of its two 8-byte halves and its length, which costs a third of
 * XXH3 at this size and inlines; XXH3-64 for a long one. It only places words in the index:
 * partitions use rm_wc_partition (XXH3-64), computed once per distinct word when encoding. */
static inline uint64_t wc_key_hash(const char *key, size_t len)
{
    if (len > WC_INLINE)
        return XXH3_64bits(key, len);
    uint64_t lo = wc_load64(key), hi = wc_load64(key + 8);
    uint64_t h = wc_mum(lo ^ UINT64_C(0xa0761d6478bd642f), hi ^ UINT64_C(0xe7037ed1a0b428db) ^ len);
    return wc_mum(h ^ UINT64_C(0x8ebc6af09c88c6e3), UINT64_C(0x589965cc75374cc3));
}

/* True if the item holds the word in key (see wc_find). */
static inline bool wc_item_is(const struct rm_wc *t, const struct rm_wc_item *it, const char *key,
                              size_t len)
{
    if (it->len != len)
        return false;
    if (len <= WC_INLINE)
        return wc_load64(it->w.bytes) == wc_load64(key) &&
               wc_load64(it->w.bytes + 8) == wc_load64(key + 8);
    return memcmp(t->arena + it->w.off, key, len) == 0;
}

/* The slot pointing at the word, or the empty slot where it would go. key holds len bytes;
 * when len <= WC_INLINE it must hold 16, zero after the word. The index is never full, so the
 * probe ends. Can't fail. */
static struct rm_wc_slot *wc_find(const struct rm_wc *t, const char *key, size_t len, uint64_t h)
{
    size_t mask = t->cap - 1;
    for (size_t i = wc_home(t, h);; i = (i + 1) & mask) {
        struct rm_wc_slot *s = &t->slots[i];
        if (s->item == 0)
            return s;
        if (s->tag == (uint32_t)h && wc_item_is(t, &t->items[s->item - 1], key, len))
            return s;
    }
}

/* True if an index of cap slots can hold `words` words (load at most 3/4). */
static bool wc_fits(size_t cap, size_t words)
{
    return words <= cap / 4 * 3;
}

/* A zeroed array of n slots. Arrays of 2 MB and more ask for transparent huge pages: lookups
 * land on random slots, and with 4 KB pages most of them would also miss the TLB. */
static struct rm_wc_slot *wc_slots_alloc(size_t n)
{
    size_t bytes = n * sizeof(struct rm_wc_slot);
    if (bytes < WC_HUGE_PAGE)
        return calloc(n, sizeof(struct rm_wc_slot));
    void *p;
    if (posix_memalign(&p, WC_HUGE_PAGE, bytes) != 0)
        return NULL;
    (void)madvise(p, bytes, MADV_HUGEPAGE); /* a hint: failure only costs speed */
    memset(p, 0, bytes);
    return p;
}

/* Doubles the index until it fits `words` words, rehashing from the stored hashes.
 * Returns 0 or RM_ENOMEM (the table unchanged). */
static int wc_reserve_slots(struct rm_wc *t, size_t words)
{
    unsigned bits = t->bits;
    while (!wc_fits((size_t)1 << bits, words)) {
        if (bits >= sizeof(size_t) * 8 - 4) /* the array size would overflow size_t */
            return RM_ENOMEM;
        bits++;
    }
    if (bits == t->bits)
        return 0;
    struct rm_wc_slot *slots = wc_slots_alloc((size_t)1 << bits);
    if (!slots)
        return RM_ENOMEM;
    free(t->slots);
    t->slots = slots;
    t->bits = bits;
    t->cap = (size_t)1 << bits;
    for (size_t i = 0; i < t->distinct; i++) {
        uint64_t h = t->hashes[i];
        size_t j = wc_home(t, h);
        while (slots[j].item != 0)
            j = (j + 1) & (t->cap - 1);
        slots[j] = (struct rm_wc_slot){.tag = (uint32_t)h, .item = (uint32_t)(i + 1)};
    }
    return 0;
}

/* Grows the item array, by doubling, to hold `words` words.
 * Returns 0 or RM_ENOMEM (the table unchanged, also past WC_MAX_ITEMS). */
static int wc_reserve_items(struct rm_wc *t, size_t words)
{
    if (words <= t->items_cap)
        return 0;
    if (words > WC_MAX_ITEMS)
        return RM_ENOMEM;
    size_t cap = t->items_cap ? t->items_cap : WC_INIT_ITEMS;
    while (cap < words)
        cap *= 2;
    struct rm_wc_item *items = realloc(t->items, cap * sizeof *items);
    if (!items)
        return RM_ENOMEM;
    t->items = items;
    uint64_t *hashes = realloc(t->hashes, cap * sizeof *hashes);
    if (!hashes)
        return RM_ENOMEM; /* items is bigger but the same: the table is unchanged */
    t->hashes = hashes;
    t->items_cap = cap;
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

/* Makes room for one more word of len bytes. Returns 0 or RM_ENOMEM (the table unchanged, but
 * for spare capacity). */
static int wc_reserve_one(struct rm_wc *t, size_t len, bool in_tail)
{
    int rc = wc_reserve_slots(t, t->distinct + 1);
    if (rc == 0)
        rc = wc_reserve_items(t, t->distinct + 1);
    if (rc == 0 && len > WC_INLINE && !in_tail)
        rc = wc_reserve_arena(t, len);
    return rc;
}

/* Adds count to the word in key (see wc_find; hash h). If in_tail, a long key is already at
 * arena + arena_len (put there by the tokenizer) and is kept by advancing arena_len; otherwise
 * it is copied in. The caller has checked that t->total cannot overflow.
 * Returns 0 or RM_ENOMEM (the table unchanged). */
static int wc_upsert(struct rm_wc *t, const char *key, size_t len, uint64_t h, uint64_t count,
                     bool in_tail)
{
    struct rm_wc_slot *s = wc_find(t, key, len, h);
    if (s->item == 0) {
        if (!wc_fits(t->cap, t->distinct + 1) || t->distinct == t->items_cap ||
            (len > WC_INLINE && !in_tail && t->arena_cap - t->arena_len < len)) {
            int rc = wc_reserve_one(t, len, in_tail);
            if (rc < 0)
                return rc;
            s = wc_find(t, key, len, h);
        }
        struct rm_wc_item *it = &t->items[t->distinct];
        *it = (struct rm_wc_item){.len = len};
        t->hashes[t->distinct] = h;
        if (len <= WC_INLINE) {
            memcpy(it->w.bytes, key, 16);
        } else {
            if (!in_tail)
                memcpy(t->arena + t->arena_len, key, len);
            it->w.off = t->arena_len;
            t->arena_len += len;
        }
        *s = (struct rm_wc_slot){.tag = (uint32_t)h, .item = (uint32_t)++t->distinct};
    }
    t->items[s->item - 1].count += count;
    t->total += count;
    return 0;
}

/* wc_upsert for a word from outside: pads a short word as wc_find wants. */
static int wc_upsert_word(struct rm_wc *t, const char *w, size_t len, uint64_t count)
{
    char pad[16] = {0};
    if (len <= WC_INLINE) {
        memcpy(pad, w, len);
        w = pad;
    }
    return wc_upsert(t, w, len, wc_key_hash(w, len), count, false);
}

int rm_wc_add(struct rm_wc *t, const char *w, size_t len, uint64_t count)
{
    if (!t || !w || len == 0 || count == 0 || count > UINT64_MAX - t->total)
        return RM_EINVAL;
    return wc_upsert_word(t, w, len, count);
}

uint64_t rm_wc_get(const struct rm_wc *t, const char *w, size_t len)
{
    if (!t || !w || !t->slots)
        return 0;
    char pad[16] = {0};
    const char *key = w;
    if (len <= WC_INLINE) {
        memcpy(pad, w, len);
        key = pad;
    }
    const struct rm_wc_slot *s = wc_find(t, key, len, wc_key_hash(key, len));
    return s->item ? t->items[s->item - 1].count : 0;
}

uint32_t rm_wc_partition(const char *w, size_t len, uint32_t parts)
{
    if (parts == 0)
        return 0;
    return (uint32_t)(XXH3_64bits(w, len) % parts);
}

/* ---- the tokenizer ---------------------------------------------------------------------- */

/* Tokens waiting to be counted. Hashing a token and prefetching its slot some tokens before
 * the lookup lets the table's cache misses overlap instead of queueing one after another. */
struct wc_batch {
    size_t n;
    size_t len[WC_BATCH];
    uint64_t hash[WC_BATCH];
    char key[WC_BATCH][WC_KEY_MAX]; /* the token, folded if asked, zero-padded to 16 bytes */
};

/* [A-Za-z]: setting bit 5 maps A-Z onto a-z and nothing else onto a-z. */
static inline bool wc_is_letter(unsigned char c)
{
    return (unsigned char)((c | 0x20u) - 'a') < 26u;
}

/* Bit i set iff p[i] is a letter, for the n <= 64 bytes at p; higher bits 0. */
static uint64_t wc_letters_tail(const unsigned char *p, size_t n)
{
    uint64_t m = 0;
    for (size_t i = 0; i < n; i++)
        m |= (uint64_t)wc_is_letter(p[i]) << i;
    return m;
}

/* Bit i set iff p[i] is a letter, for the 64 bytes at p. */
static inline uint64_t wc_letters64(const unsigned char *p)
{
#ifdef __SSE2__
    /* (c | 0x20) - 'a' + 0x80 lands in [-128, -103] as a signed byte exactly for letters. */
    const __m128i bit5 = _mm_set1_epi8(0x20);
    const __m128i shift = _mm_set1_epi8((char)(0x80 - 'a'));
    const __m128i limit = _mm_set1_epi8((char)(0x80 + 26));
    uint64_t m = 0;
    for (unsigned i = 0; i < 4; i++) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + 16 * i));
        v = _mm_add_epi8(_mm_or_si128(v, bit5), shift);
        m |= (uint64_t)(uint16_t)_mm_movemask_epi8(_mm_cmplt_epi8(v, limit)) << (16 * i);
    }
    return m;
#else
    return wc_letters_tail(p, 64);
#endif
}

/* Copies token s[0..len), folded unless case_sensitive, into key, zero-padded to at least 16
 * bytes. avail is how many bytes may be read at s (>= len): with 16 of them, a short token is
 * copied as two masked 8-byte words instead of byte by byte. */
static inline void wc_key_copy(char *key, const unsigned char *s, size_t len, size_t avail,
                               uint64_t fold)
{
    if (len <= 16 && avail >= 16) {
        uint64_t lo = le64toh(wc_load64(s)) | fold, hi = le64toh(wc_load64(s + 8)) | fold;
        if (len < 8) {
            lo &= (UINT64_C(1) << (8 * len)) - 1;
            hi = 0;
        } else {
            hi &= len == 16 ? UINT64_MAX : (UINT64_C(1) << (8 * (len - 8))) - 1;
        }
        lo = htole64(lo);
        hi = htole64(hi);
        memcpy(key, &lo, 8);
        memcpy(key + 8, &hi, 8);
        return;
    }
    memset(key, 0, 16);
    for (size_t i = 0; i < len; i++)
        key[i] = (char)(s[i] | (unsigned char)fold);
}

/* Copies a token of len <= WC_KEY_MAX letters into the batch, hashes it and prefetches its
 * home slot. */
static inline void wc_batch_add(const struct rm_wc *t, struct wc_batch *b, const unsigned char *s,
                                size_t len, size_t avail, uint64_t fold)
{
    char *k = b->key[b->n];
    wc_key_copy(k, s, len, avail, fold);
    uint64_t h = wc_key_hash(k, len);
    __builtin_prefetch(&t->slots[wc_home(t, h)]);
    b->len[b->n] = len;
    b->hash[b->n++] = h;
}

/* Counts the batched tokens and empties the batch. Returns 0, RM_EINVAL (t->total would
 * overflow) or RM_ENOMEM; on error the tokens not yet counted are dropped. */
static int wc_batch_flush(struct rm_wc *t, struct wc_batch *b)
{
    size_t n = b->n;
    b->n = 0;
    if (n > UINT64_MAX - t->total)
        return RM_EINVAL;            /* 2^64 tokens: unreachable in practice */
    for (size_t i = 0; i < n; i++) { /* the slots are in cache by now: fetch the items */
        const struct rm_wc_slot *s = &t->slots[wc_home(t, b->hash[i])];
        if (s->item != 0)
            __builtin_prefetch(&t->items[s->item - 1]);
    }
    for (size_t i = 0; i < n; i++) {
        int rc = wc_upsert(t, b->key[i], b->len[i], b->hash[i], 1, false);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Counts one token longer than WC_KEY_MAX: folded (or copied) straight into the arena tail,
 * which is the lookup key and becomes the stored word if the word is new. */
static int wc_count_long(struct rm_wc *t, const unsigned char *s, size_t len, uint64_t fold)
{
    if (t->total == UINT64_MAX)
        return RM_EINVAL;
    int rc = wc_reserve_arena(t, len);
    if (rc < 0)
        return rc;
    char *dst = t->arena + t->arena_len;
    for (size_t i = 0; i < len; i++)
        dst[i] = (char)(s[i] | (unsigned char)fold);
    return wc_upsert(t, dst, len, wc_key_hash(dst, len), 1, true);
}

/* The tokenizer's state between 64-byte blocks. */
struct wc_scan {
    struct rm_wc *t;
    const unsigned char *text;
    size_t len;
    uint64_t fold; /* 0x20 in every byte to fold case, else 0 */
    struct wc_batch b;
};

/* Counts the token text[s..e). Returns 0 or an error from the table. */
static inline int wc_token(struct wc_scan *sc, size_t s, size_t e)
{
    if (e - s > WC_KEY_MAX) {
        int rc = wc_batch_flush(sc->t, &sc->b);
        return rc < 0 ? rc : wc_count_long(sc->t, sc->text + s, e - s, sc->fold);
    }
    wc_batch_add(sc->t, &sc->b, sc->text + s, e - s, sc->len - s, sc->fold);
    return sc->b.n == WC_BATCH ? wc_batch_flush(sc->t, &sc->b) : 0;
}

/* Counts the tokens that end in the 64-byte block at base, whose letters are the bits of m.
 * *open is the start of a token still running into the next block, or SIZE_MAX.
 * A token starts at a letter after a non-letter and ends at a non-letter after a letter, so
 * the starts and ends of a block alternate. */
static int wc_block(struct wc_scan *sc, size_t base, uint64_t m, size_t *open)
{
    uint64_t prev = (m << 1) | (*open != SIZE_MAX); /* bit i: byte i-1 is a letter */
    uint64_t starts = m & ~prev, ends = ~m & prev;
    int rc = 0;
    if (*open != SIZE_MAX) {
        if (ends == 0)
            return 0;
        rc = wc_token(sc, *open, base + (size_t)__builtin_ctzll(ends));
        ends &= ends - 1;
        *open = SIZE_MAX;
    }
    while (starts != 0 && rc == 0) {
        size_t s = base + (size_t)__builtin_ctzll(starts);
        starts &= starts - 1;
        if (ends == 0) {
            *open = s;
            break;
        }
        rc = wc_token(sc, s, base + (size_t)__builtin_ctzll(ends));
        ends &= ends - 1;
    }
    return rc;
}

int rm_wc_map(struct rm_wc *t, const char *text, size_t len, bool case_sensitive)
{
    if (!t || (!text && len > 0))
        return RM_EINVAL;
    struct wc_scan sc = {.t = t,
                         .text = (const unsigned char *)text,
                         .len = len,
                         .fold = case_sensitive ? 0 : UINT64_C(0x2020202020202020)};
    sc.b.n = 0;
    size_t open = SIZE_MAX, base = 0;
    int rc = 0;
    for (; rc == 0 && len - base >= 64; base += 64)
        rc = wc_block(&sc, base, wc_letters64(sc.text + base), &open);
    if (rc == 0 && base < len) /* the bits past the end are 0: a token there ends at len */
        rc = wc_block(&sc, base, wc_letters_tail(sc.text + base, len - base), &open);
    if (rc == 0 && open != SIZE_MAX)
        rc = wc_token(&sc, open, len);
    return rc == 0 ? wc_batch_flush(t, &sc.b) : rc;
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

/* Finds every word's partition (into part) and sizes every partition's buffer into lens and
 * allocates it. Returns 0 or RM_ENOMEM. */
static int wc_encode_alloc(const struct rm_wc *t, uint32_t parts, struct wc_part *pp,
                           uint32_t *part, unsigned char **bufs, size_t *lens)
{
    for (uint32_t i = 0; i < parts; i++)
        lens[i] = RM_WC_WIRE_HEADER_SIZE;
    for (size_t i = 0; i < t->distinct; i++) {
        const struct rm_wc_item *it = &t->items[i];
        uint32_t p = part[i] = rm_wc_partition(wc_word(t, it), it->len, parts);
        lens[p] += wc_varint_len(it->len) + it->len + wc_varint_len(it->count);
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
    uint32_t *part = malloc((t->distinct ? t->distinct : 1) * sizeof *part);
    int rc = pp && part ? wc_encode_alloc(t, parts, pp, part, bufs, lens) : RM_ENOMEM;
    if (rc < 0)
        goto err_after_parts;
    for (size_t i = 0; i < t->distinct; i++) {
        const struct rm_wc_item *it = &t->items[i];
        struct wc_part *p = &pp[part[i]];
        p->next = wc_varint_put(p->next, it->len);
        memcpy(p->next, wc_word(t, it), it->len);
        p->next = wc_varint_put(p->next + it->len, it->count);
    }
    for (uint32_t i = 0; i < parts; i++)
        wc_encode_header(bufs[i], lens[i], i, parts, pp[i].records);
    free(pp);
    free(part);
    return 0;

err_after_parts:
    wc_free_bufs(bufs, parts);
    free(pp);
    free(part);
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
    uint64_t total;    /* sum of the counts */
    size_t word_bytes; /* arena bytes the words need */
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
        c->word_bytes += r.len > WC_INLINE ? r.len : 0;
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
    size_t words = t->distinct + (size_t)c.nrecords;
    if (wc_reserve_slots(t, words) < 0 || wc_reserve_items(t, words) < 0 ||
        wc_reserve_arena(t, c.word_bytes) < 0)
        return RM_ENOMEM;
    for (const unsigned char *p = c.records; p < c.end;) {
        struct wc_record r;
        if (wc_record_get(&p, c.end, &r) != 0) /* can't happen: wc_check read the same bytes */
            return RM_ECORRUPT;
        if ((rc = wc_upsert_word(t, r.word, r.len, r.count)) != 0) /* room was reserved above */
            return rc;
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
    for (size_t i = 0; i < t->distinct; i++) {
        const struct rm_wc_item *it = &t->items[i];
        e[i] = (struct rm_wc_entry){wc_word(t, it), it->len, it->count};
    }
    qsort(e, t->distinct, sizeof *e, wc_entry_cmp);
    *out = e;
    *n = t->distinct;
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
