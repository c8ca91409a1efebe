/*
 * wordcount.h: the compute of the `wordcount` kernel, without MPI: a word -> count table, the
 * tokenizer that fills it (the map and its combiner), the shuffle wire format between map and
 * reduce, and the sorted TSV output.
 *
 * Tokens (shared/INTERFACE.md): a token is a maximal run of ASCII letters [A-Za-z], folded to
 * lower case unless the job is case-sensitive. Every other byte (digits, apostrophes, '-',
 * UTF-8 bytes >= 0x80, NUL) separates tokens.
 *
 * The table: an index of 8-byte slots (32 bits of the word's hash and an item number;
 * open addressing, linear probing, a power of two in size, doubled at 3/4 load) over a dense
 * array of 32-byte items (count, length, and the word itself when it has at most 16 bytes) in
 * the order the words first came. Longer words go to one arena, grown by doubling; there is no
 * per-word allocation. The full hashes are kept in a side array, so growing never rehashes a
 * word. The index hashes a word of up to 16 bytes with two 64x64->128-bit multiply-folds of
 * its zero-padded bytes (inlined, cheaper than XXH3 there) and a longer one with XXH3-64; the
 * partition of a word (below) is computed once per distinct word, when encoding. About 54
 * bytes per distinct word in all.
 *
 * The map: the text is scanned 64 bytes at a time into a bit mask of letters (SSE2 where the
 * compiler offers it), tokens are cut from the mask's edges, folded and hashed, and their
 * slots prefetched a batch of tokens ahead of the lookups, so that cache misses overlap. See
 * tools/wc_serial and the README's benchmarks for its speed on one core.
 *
 * The map/reduce contract: a word belongs to partition rm_wc_partition(word, len, parts), which
 * is XXH3-64 (seed 0) of its bytes modulo parts. Every map task and every reduce task of a job
 * must use the same `parts` and the same case folding; the decoder checks every word against
 * the partition named in its buffer, so a mismatch is reported, not silently miscounted.
 *
 * Shuffle buffer (one per partition), little-endian:
 *
 *   off size field
 *     0    4 magic     "RMWC" (0x43574d52)
 *     4    4 version   RM_WC_WIRE_VERSION
 *     8    4 partition this buffer's partition, < parts
 *    12    4 parts     number of partitions, >= 1
 *    16    8 records   number of records that follow
 *    24    8 checksum  XXH3-64 of the records, seeded with XXH3-64 of header bytes 0..23
 *    32      records   each: varint word length (>= 1), the word's bytes, varint count (>= 1)
 *
 * Varints are LEB128 (7 bits per byte, low group first, at most 10 bytes, no overlong forms).
 * The encoder writes each word once per buffer, in no particular order; the decoder adds up a
 * word that repeats.
 *
 * Threads: a table is not locked. One thread at a time may use a given table; different tables
 * may be used from different threads at once. rm_wc_partition() is pure and may be called from
 * any thread. Nothing here is collective and nothing calls MPI.
 */
#ifndef RM_KERNELS_WORDCOUNT_H
#define RM_KERNELS_WORDCOUNT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "include/ringmaster.h"

#define RM_WC_WIRE_MAGIC 0x43574d52u /* "RMWC" as little-endian bytes */
#define RM_WC_WIRE_VERSION 1u
#define RM_WC_WIRE_HEADER_SIZE 32u

struct rm_wc_slot; /* private to wordcount.c */
struct rm_wc_item;

/* A word -> count table. The caller allocates it (on the stack or inside another object) and
 * calls rm_wc_init() and rm_wc_free(). Fields are read-only for callers; `distinct` and `total`
 * may be read directly. */
struct rm_wc {
    struct rm_wc_slot *slots; /* the index: cap slots */
    size_t cap;               /* power of two, 2^bits */
    unsigned bits;            /* a word's home slot is the top `bits` bits of its hash */
    struct rm_wc_item *items; /* the words, in the order they were first added */
    uint64_t *hashes;         /* the index's hash of each item's word */
    size_t items_cap;
    size_t distinct; /* words in the table */
    uint64_t total;  /* sum of all counts (tokens seen) */
    char *arena;     /* bytes of the words too long to keep in their item */
    size_t arena_len;
    size_t arena_cap;
};

/* One word of a sorted listing. `word` points into the table (not NUL-terminated) and stays
 * valid until the table is next changed (add, map, decode_into) or freed. */
struct rm_wc_entry {
    const char *word;
    size_t len;
    uint64_t count;
};

/*
 * Makes t an empty table with room for a few thousand words.
 * t: caller's memory; after success the caller must call rm_wc_free(t).
 * Returns 0, RM_EINVAL (t is NULL) or RM_ENOMEM (t is then safe to rm_wc_free but needn't be).
 */
int rm_wc_init(struct rm_wc *t);

/*
 * Frees what the table holds and leaves it empty but unusable until rm_wc_init() again.
 * NULL, and a table already freed, are ignored. This function can't fail.
 */
void rm_wc_free(struct rm_wc *t);

/*
 * Adds count to the word's count, inserting the word if it is new. The word is stored as
 * given: no folding, and any bytes are accepted (the table itself is not limited to letters).
 * t: borrowed. w: borrowed, len bytes; must not point into t itself (such as a word from
 * rm_wc_sorted(t)): growing the table may move it.
 * Returns 0; RM_EINVAL if t or w is NULL, len is 0, count is 0, or t->total would overflow
 * (the table is then unchanged); RM_ENOMEM, also when the table already holds 2^32 - 2 words
 * (the table is unchanged).
 */
int rm_wc_add(struct rm_wc *t, const char *w, size_t len, uint64_t count);

/*
 * Returns the count of a word, or 0 if it is not in the table (or t or w is NULL).
 * t, w: borrowed. This function can't fail.
 */
uint64_t rm_wc_get(const struct rm_wc *t, const char *w, size_t len);

/*
 * The map with its combiner: tokenizes text (see the top of this file) and counts each token
 * into t. A token cut by the end of the buffer is counted as it is; the caller splits input on
 * separators if it must not cut words.
 * t: borrowed. text: borrowed, len bytes, any content (may be NULL when len is 0).
 * case_sensitive: false folds A-Z to a-z before counting.
 * Returns 0; RM_EINVAL (t NULL, text NULL with len > 0, or t->total would pass 2^64 - 1);
 * RM_ENOMEM. After an error the table is valid but holds only part of the text's tokens:
 * discard it (or redo the task).
 */
int rm_wc_map(struct rm_wc *t, const char *text, size_t len, bool case_sensitive);

/*
 * Returns the bytes of memory the table holds (index, items, hashes, arena and the struct).
 * This function can't fail; NULL gives 0.
 */
size_t rm_wc_bytes(const struct rm_wc *t);

/*
 * The shuffle partition of a word: XXH3-64 (seed 0) of its bytes, modulo parts. Part of the
 * contract between map and reduce (see the top of this file); never change it.
 * w: borrowed, len bytes. parts: >= 1 (0 gives 0).
 * This function can't fail. Any thread may call it.
 */
uint32_t rm_wc_partition(const char *w, size_t len, uint32_t parts);

/*
 * Encodes the table as one shuffle buffer per partition (layout at the top of this file).
 * Every buffer is written, with a header, even when its partition has no words.
 * t: borrowed, not changed. parts: >= 1.
 * bufs, lens: caller's arrays of parts elements; on success bufs[i] is a malloc'd buffer of
 * lens[i] bytes that the caller frees with free(). On error every bufs[i] is NULL.
 * Returns 0; RM_EINVAL (a NULL argument or parts 0); RM_ENOMEM.
 */
int rm_wc_encode(const struct rm_wc *t, uint32_t parts, unsigned char **bufs, size_t *lens);

/*
 * The reduce side: checks a shuffle buffer completely, then merges its counts into t. All or
 * nothing: on any error t is unchanged. Never reads outside buf, whatever it holds.
 * t: borrowed. buf: borrowed, len bytes (may be NULL when len is 0).
 * Returns 0; RM_EINVAL (t NULL, or buf NULL with len > 0); RM_EPROTO if buf is not a wordcount
 * buffer of this version (too short for a header, wrong magic or version, partition >= parts
 * or parts 0); RM_ECORRUPT if the checksum does not match, the records are malformed or do not
 * fill the buffer exactly, their number differs from the header's, a word is empty or does not
 * belong to the buffer's partition, or a count is 0 or would overflow t->total; RM_ENOMEM.
 */
int rm_wc_decode_into(struct rm_wc *t, const unsigned char *buf, size_t len);

/*
 * Lists the table's words sorted by their bytes (memcmp order; a word sorts before every longer
 * word it is a prefix of), which is the order of the output files.
 * t: borrowed, not changed. out: receives a malloc'd array of *n entries that the caller frees
 * with free() (NULL when the table is empty); its words point into t (see rm_wc_entry).
 * Returns 0; RM_EINVAL (a NULL argument); RM_ENOMEM (*out is then NULL and *n 0).
 */
int rm_wc_sorted(const struct rm_wc *t, struct rm_wc_entry **out, size_t *n);

/*
 * Writes entries as `word<TAB>count<LF>` lines, in the order given, then flushes f.
 * e: borrowed array of n entries (may be NULL when n is 0). f: borrowed, open for writing;
 * the caller closes it (and should check fclose, which can still fail).
 * Returns 0; RM_EINVAL (f NULL, or e NULL with n > 0); RM_EIO if a write or the flush failed
 * (errno says why; part of the output may have been written).
 */
int rm_wc_write_tsv(const struct rm_wc_entry *e, size_t n, FILE *f);

#endif /* RM_KERNELS_WORDCOUNT_H */
