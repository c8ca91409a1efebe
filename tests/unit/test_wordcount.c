/* test_wordcount.c: the wordcount kernel without MPI: the tokenizer's edge cases, the table
 * growing to a million words, the shuffle codec (round trips across partitions, every word in
 * its partition, and thousands of truncated, bit-flipped, resealed and garbage buffers that
 * must be refused without reading out of bounds), byte-order sorting, exact TSV output, and
 * agreement with a small independent reference on random text. Also prints the map's speed
 * (informational; set RM_WC_BENCH_FILE to time a file such as gen_corpus output). */
#include <CUnit/Basic.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

#include "kernels/wordcount.h"
#include "ringmaster.h"
#include "runtime/frame.h"

/* ---- helpers ---------------------------------------------------------------------------- */

static uint64_t g_rng = 0x9e3779b97f4a7c15u;

static uint64_t rnd(void)
{
    uint64_t z = (g_rng += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static size_t rnd_below(size_t n)
{
    return (size_t)(rnd() % n);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Maps a NUL-terminated string into a fresh table. */
static void map_str(struct rm_wc *t, const char *s, bool cs)
{
    CU_ASSERT_EQUAL_FATAL(rm_wc_init(t), 0);
    CU_ASSERT_EQUAL_FATAL(rm_wc_map(t, s, strlen(s), cs), 0);
}

static uint64_t get_str(const struct rm_wc *t, const char *w)
{
    return rm_wc_get(t, w, strlen(w));
}

/* Maps a copy of text in an exactly sized allocation, so that ASan sees any overread. */
static int map_exact(struct rm_wc *t, const char *text, size_t len, bool cs)
{
    char *c = malloc(len ? len : 1);
    memcpy(c, text, len);
    int rc = rm_wc_map(t, len ? c : NULL, len, cs);
    free(c);
    return rc;
}

/* Renders a table as its TSV text (malloc'd, NUL-terminated). */
static char *tsv_of(const struct rm_wc *t)
{
    struct rm_wc_entry *e;
    size_t n;
    CU_ASSERT_EQUAL_FATAL(rm_wc_sorted(t, &e, &n), 0);
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_EQUAL(rm_wc_write_tsv(e, n, f), 0);
    fclose(f);
    free(e);
    return text;
}

/* Random text: words from a small vocabulary in random case, plus digits, punctuation, UTF-8,
 * NUL bytes and the odd long word, so that tokens repeat and every separator kind shows up. */
static char *random_text(size_t len)
{
    static const char *const seps[] = {" ", "  ",  "\n",       ", ",           ". ",  "'", "-",
                                       "3", "42 ", "\xc3\xa9", "\xe2\x80\x94", "\t",  "_", "@",
                                       "[", "`",   "{",        "\x7f",         "\xff"};
    static const char *const vocab[] = {"the", "a",   "of",    "and",   "ringmaster", "Raft", "zed",
                                        "x",   "MPI", "hello", "World", "abc",        "ab",   "b"};
    char *s = malloc(len + 1);
    size_t n = 0;
    while (n < len) {
        char piece[64];
        size_t k;
        if (rnd_below(50) == 0) { /* a random letter run */
            k = 1 + rnd_below(sizeof piece - 1);
            for (size_t i = 0; i < k; i++)
                piece[i] = (char)((rnd_below(2) ? 'a' : 'A') + rnd_below(26));
        } else {
            const char *w = vocab[rnd_below(sizeof vocab / sizeof *vocab)];
            k = strlen(w);
            for (size_t i = 0; i < k; i++)
                piece[i] = rnd_below(8) == 0 ? (char)(w[i] ^ 0x20) : w[i];
        }
        const char *sep = rnd_below(40) == 0 ? "\0" : seps[rnd_below(sizeof seps / sizeof *seps)];
        size_t sl = *sep ? strlen(sep) : 1;
        for (size_t i = 0; i < k && n < len; i++)
            s[n++] = piece[i];
        for (size_t i = 0; i < sl && n < len; i++)
            s[n++] = sep[i];
    }
    s[len] = '\0';
    return s;
}

/* ---- the independent reference: split, lower, sort, count runs ---------------------------- */

static int cmp_strp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Returns the expected TSV of text (malloc'd). Written the slow, obvious way with <ctype.h> in
 * the C locale, where isalpha is exactly [A-Za-z]. */
static char *reference_tsv(const char *text, size_t len, bool cs)
{
    char **tok = malloc((len / 2 + 1) * sizeof *tok);
    size_t ntok = 0;
    for (size_t i = 0; i < len;) {
        if (!isalpha((unsigned char)text[i])) {
            i++;
            continue;
        }
        size_t j = i;
        while (j < len && isalpha((unsigned char)text[j]))
            j++;
        char *w = malloc(j - i + 1);
        for (size_t k = i; k < j; k++)
            w[k - i] = cs ? text[k] : (char)tolower((unsigned char)text[k]);
        w[j - i] = '\0';
        tok[ntok++] = w;
        i = j;
    }
    qsort(tok, ntok, sizeof *tok, cmp_strp);
    char *out = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&out, &size);
    for (size_t i = 0; i < ntok;) {
        size_t j = i;
        while (j < ntok && strcmp(tok[i], tok[j]) == 0)
            j++;
        fprintf(f, "%s\t%zu\n", tok[i], j - i);
        i = j;
    }
    fclose(f);
    for (size_t i = 0; i < ntok; i++)
        free(tok[i]);
    free(tok);
    return out;
}

/* Moves a cut at x forward until it no longer falls inside a word. */
static size_t uncut(const char *text, size_t len, size_t x)
{
    while (x > 0 && x < len && isalpha((unsigned char)text[x - 1]) &&
           isalpha((unsigned char)text[x]))
        x++;
    return x;
}

/* ---- tokenizer ---------------------------------------------------------------------------- */

static void test_empty_and_separators(void)
{
    struct rm_wc t;
    CU_ASSERT_EQUAL_FATAL(rm_wc_init(&t), 0);
    CU_ASSERT_EQUAL(rm_wc_map(&t, NULL, 0, false), 0);
    CU_ASSERT_EQUAL(rm_wc_map(&t, "", 0, false), 0);
    static const char seps[] = " \t\r\n0123456789.,;:'\"-_@[`{~\x7f\x80\xc3\xa9\xff\0\x01";
    CU_ASSERT_EQUAL(rm_wc_map(&t, seps, sizeof seps, false), 0);
    CU_ASSERT_EQUAL(t.distinct, 0);
    CU_ASSERT_EQUAL(t.total, 0);
    char *tsv = tsv_of(&t);
    CU_ASSERT_STRING_EQUAL(tsv, "");
    free(tsv);
    rm_wc_free(&t);
}

/* Every byte value: "a" c "a" is one token iff c is an ASCII letter. */
static void test_every_byte(void)
{
    for (unsigned c = 0; c < 256; c++) {
        struct rm_wc t;
        CU_ASSERT_EQUAL_FATAL(rm_wc_init(&t), 0);
        char s[3] = {'a', (char)c, 'a'};
        CU_ASSERT_EQUAL(rm_wc_map(&t, s, 3, true), 0);
        bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        CU_ASSERT_EQUAL(t.total, letter ? 1 : 2);
        uint64_t want_count = letter ? rm_wc_get(&t, s, 3) : get_str(&t, "a");
        CU_ASSERT_EQUAL(want_count, letter ? 1 : 2);
        rm_wc_free(&t);
    }
}

static void test_words_at_edges(void)
{
    struct rm_wc t;
    map_str(&t, "start middle end", false);
    CU_ASSERT_EQUAL(t.distinct, 3);
    CU_ASSERT_EQUAL(get_str(&t, "start"), 1);
    CU_ASSERT_EQUAL(get_str(&t, "end"), 1);
    /* A buffer cut inside a word counts the piece it has. */
    CU_ASSERT_EQUAL(rm_wc_map(&t, "endless", 3, false), 0);
    CU_ASSERT_EQUAL(get_str(&t, "end"), 2);
    CU_ASSERT_EQUAL(rm_wc_map(&t, "Q", 1, false), 0);
    CU_ASSERT_EQUAL(get_str(&t, "q"), 1);
    CU_ASSERT_EQUAL(t.total, 5);
    rm_wc_free(&t);
}

static void test_separators_split(void)
{
    struct rm_wc t;
    const char s[] = "don't abc123def caf\xc3\xa9 na\xc3\xafve x\0y e-mail snake_case @A[z`b{";
    CU_ASSERT_EQUAL_FATAL(rm_wc_init(&t), 0);
    CU_ASSERT_EQUAL_FATAL(rm_wc_map(&t, s, sizeof s - 1, false), 0);
    static const char *const want[] = {"don", "t", "abc",  "def",   "caf",  "na", "ve", "x",
                                       "y",   "e", "mail", "snake", "case", "a",  "z",  "b"};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        CU_ASSERT_EQUAL(get_str(&t, want[i]), 1);
    CU_ASSERT_EQUAL(t.total, 16);
    CU_ASSERT_EQUAL(t.distinct, 16);
    rm_wc_free(&t);
}

static void test_case_folding(void)
{
    struct rm_wc t;
    const char *s = "Hello HELLO hello hElLo ZZ zz";
    map_str(&t, s, false);
    CU_ASSERT_EQUAL(t.distinct, 2);
    CU_ASSERT_EQUAL(get_str(&t, "hello"), 4);
    CU_ASSERT_EQUAL(get_str(&t, "Hello"), 0);
    CU_ASSERT_EQUAL(get_str(&t, "zz"), 2);
    rm_wc_free(&t);
    map_str(&t, s, true);
    CU_ASSERT_EQUAL(t.distinct, 6);
    CU_ASSERT_EQUAL(get_str(&t, "Hello"), 1);
    CU_ASSERT_EQUAL(get_str(&t, "HELLO"), 1);
    CU_ASSERT_EQUAL(get_str(&t, "hello"), 1);
    CU_ASSERT_EQUAL(get_str(&t, "ZZ"), 1);
    rm_wc_free(&t);
}

static void test_long_words(void)
{
    enum { N = 100000 };
    char *s = malloc(2 * N + 2);
    char *lower = malloc(N);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    for (size_t i = 0; i < N; i++) {
        char c = (char)('a' + i % 26);
        lower[i] = c;
        s[i] = (i % 3 == 0) ? (char)(c - 'a' + 'A') : c;
        s[N + 1 + i] = c;
    }
    s[N] = ' ';
    struct rm_wc t;
    CU_ASSERT_EQUAL_FATAL(rm_wc_init(&t), 0);
    CU_ASSERT_EQUAL(rm_wc_map(&t, s, 2 * N + 1, false), 0); /* the second word ends the buffer */
    CU_ASSERT_EQUAL(t.distinct, 1);
    CU_ASSERT_EQUAL(rm_wc_get(&t, lower, N), 2);
    CU_ASSERT_EQUAL(rm_wc_get(&t, lower, N - 1), 0);
    struct rm_wc_entry *e;
    size_t n;
    CU_ASSERT_EQUAL_FATAL(rm_wc_sorted(&t, &e, &n), 0);
    CU_ASSERT_EQUAL_FATAL(n, 1);
    CU_ASSERT_EQUAL(e[0].len, N);
    CU_ASSERT_EQUAL(memcmp(e[0].word, lower, N), 0);
    free(e);
    rm_wc_free(&t);
    CU_ASSERT_EQUAL_FATAL(rm_wc_init(&t), 0);
    CU_ASSERT_EQUAL(rm_wc_map(&t, s, 2 * N + 1, true), 0);
    CU_ASSERT_EQUAL(t.distinct, 2);
    CU_ASSERT_EQUAL(rm_wc_get(&t, s, N), 1);
    CU_ASSERT_EQUAL(rm_wc_get(&t, lower, N), 1);
    rm_wc_free(&t);
    free(lower);
    free(s);
}

/* The table against the reference on random text, folded and case-sensitive, in one call and
 * in pieces cut at separators. */
static void test_against_reference(void)
{
    for (int round = 0; round < 20; round++) {
        size_t len = 1 + rnd_below(round < 10 ? 200 : 200000);
        char *text = random_text(len);
        for (int cs = 0; cs < 2; cs++) {
            struct rm_wc t;
            CU_ASSERT_EQUAL_FATAL(rm_wc_init(&t), 0);
            size_t at = 0;
            while (at < len) { /* random pieces, none cutting a word */
                size_t end = uncut(text, len, at + 1 + rnd_below(len - at));
                CU_ASSERT_EQUAL(map_exact(&t, text + at, end - at, cs), 0);
                at = end;
            }
            char *got = tsv_of(&t);
            char *want = reference_tsv(text, len, cs);
            CU_ASSERT_STRING_EQUAL(got, want);
            free(got);
            free(want);
            rm_wc_free(&t);
        }
        free(text);
    }
}

/* Texts of every length up to 300 bytes with letter runs of every length, at every offset of
 * the tokenizer's 64-byte blocks and 16-byte copies, against the reference. */
static void test_block_boundaries(void)
{
    static const unsigned char others[] = {' ', '0', '@', '[', '`', '{', 0x80, 0xc3, 0xff, 0};
    char text[301];
    size_t bad = 0;
    for (size_t len = 0; len <= 300; len++) {
        for (int round = 0; round < 12; round++) {
            size_t odds = (size_t)1 << (1 + round % 6); /* a non-letter every ~2..64 bytes */
            for (size_t i = 0; i < len; i++)
                text[i] = rnd_below(odds) == 0 ? (char)others[rnd_below(sizeof others)]
                                               : (char)((rnd_below(2) ? 'a' : 'A') + rnd_below(26));
            for (int cs = 0; cs < 2; cs++) {
                struct rm_wc t;
                CU_ASSERT_EQUAL_FATAL(rm_wc_init(&t), 0);
                CU_ASSERT_EQUAL(map_exact(&t, text, len, cs), 0);
                char *got = tsv_of(&t);
                char *want = reference_tsv(text, len, cs);
                bad += strcmp(got, want) != 0;
                free(got);
                free(want);
                rm_wc_free(&t);
            }
        }
    }
    CU_ASSERT_EQUAL(bad, 0);
}

/* ---- the table ---------------------------------------------------------------------------- */

/* Writes the base-26 letters of i, at least 4 of them, into w. Returns the length. */
static size_t word_of(size_t i, char *w)
{
    size_t n = 0;
    do {
        w[n++] = (char)('a' + i % 26);
        i /= 26;
    } while (i > 0 || n < 4);
    return n;
}

static void test_million_words(void)
{
    enum { N = 1000000 };
    struct rm_wc t;
    CU_ASSERT_EQUAL_FATAL(rm_wc_init(&t), 0);
    size_t before = rm_wc_bytes(&t);
    char w[16];
    uint64_t total = 0;
    for (size_t i = 0; i < N; i++) {
        size_t n = word_of(i, w);
        CU_ASSERT_EQUAL_FATAL(rm_wc_add(&t, w, n, 1 + i % 7), 0);
        total += 1 + i % 7;
    }
    CU_ASSERT_EQUAL(t.distinct, N);
    CU_ASSERT_EQUAL(t.total, total);
    for (size_t i = 0; i < N; i += 3) { /* again, on the grown table: counts add up */
        size_t n = word_of(i, w);
        CU_ASSERT_EQUAL_FATAL(rm_wc_add(&t, w, n, 10), 0);
    }
    size_t bad = 0;
    for (size_t i = 0; i < N; i++) {
        size_t n = word_of(i, w);
        bad += rm_wc_get(&t, w, n) != 1 + i % 7 + (i % 3 == 0 ? 10 : 0);
    }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(t.distinct, N);
    CU_ASSERT_EQUAL(rm_wc_get(&t, "zzzzzzzzz", 9), 0);
    size_t bytes = rm_wc_bytes(&t);
    CU_ASSERT_TRUE(bytes > before);
    CU_ASSERT_TRUE(bytes >= (size_t)N * 32 * 3 / 2 && bytes <= (size_t)N * 96 + (64u << 20));
    printf("\n    1M words: %.1f MB (%.0f bytes/word) ", (double)bytes / 1e6, (double)bytes / N);
    struct rm_wc_entry *e;
    size_t n;
    double t0 = now_s();
    CU_ASSERT_EQUAL_FATAL(rm_wc_sorted(&t, &e, &n), 0);
    printf("sorted in %.2f s ", now_s() - t0);
    CU_ASSERT_EQUAL(n, N);
    free(e);
    rm_wc_free(&t);
    CU_ASSERT_EQUAL(rm_wc_bytes(&t), sizeof t); /* freed: only the struct */
}

static void test_bad_arguments(void)
{
    struct rm_wc t;
    CU_ASSERT_EQUAL(rm_wc_init(NULL), RM_EINVAL);
    CU_ASSERT_EQUAL_FATAL(rm_wc_init(&t), 0);
    CU_ASSERT_EQUAL(rm_wc_add(NULL, "a", 1, 1), RM_EINVAL);
    CU_ASSERT_EQUAL(rm_wc_add(&t, NULL, 1, 1), RM_EINVAL);
    CU_ASSERT_EQUAL(rm_wc_add(&t, "a", 0, 1), RM_EINVAL);
    CU_ASSERT_EQUAL(rm_wc_add(&t, "a", 1, 0), RM_EINVAL);
    CU_ASSERT_EQUAL(rm_wc_add(&t, "a", 1, UINT64_MAX - 1), 0);
    CU_ASSERT_EQUAL(rm_wc_add(&t, "b", 1, 2), RM_EINVAL); /* total would overflow */
    CU_ASSERT_EQUAL(t.distinct, 1);
    CU_ASSERT_EQUAL(rm_wc_map(NULL, "a", 1, false), RM_EINVAL);
    CU_ASSERT_EQUAL(rm_wc_map(&t, NULL, 1, false), RM_EINVAL);
    unsigned char *bufs[2];
    size_t lens[2];
    CU_ASSERT_EQUAL(rm_wc_encode(&t, 0, bufs, lens), RM_EINVAL);
    CU_ASSERT_EQUAL(rm_wc_encode(NULL, 2, bufs, lens), RM_EINVAL);
    CU_ASSERT_PTR_NULL(bufs[0]);
    CU_ASSERT_EQUAL(rm_wc_encode(&t, 2, NULL, lens), RM_EINVAL);
    CU_ASSERT_EQUAL(rm_wc_decode_into(NULL, (const unsigned char *)"x", 1), RM_EINVAL);
    CU_ASSERT_EQUAL(rm_wc_decode_into(&t, NULL, 1), RM_EINVAL);
    CU_ASSERT_EQUAL(rm_wc_decode_into(&t, NULL, 0), RM_EPROTO);
    struct rm_wc_entry *e;
    size_t n;
    CU_ASSERT_EQUAL(rm_wc_sorted(NULL, &e, &n), RM_EINVAL);
    CU_ASSERT_EQUAL(rm_wc_sorted(&t, NULL, &n), RM_EINVAL);
    CU_ASSERT_EQUAL(rm_wc_write_tsv(NULL, 1, stdout), RM_EINVAL);
    CU_ASSERT_EQUAL(rm_wc_write_tsv(NULL, 0, NULL), RM_EINVAL);
    CU_ASSERT_EQUAL(rm_wc_partition("a", 1, 0), 0);
    CU_ASSERT_EQUAL(rm_wc_get(NULL, "a", 1), 0);
    CU_ASSERT_EQUAL(rm_wc_bytes(NULL), 0);
    rm_wc_free(&t);
    rm_wc_free(&t); /* twice is harmless */
    rm_wc_free(NULL);
}

/* ---- the shuffle codec -------------------------------------------------------------------- */

/* Recomputes a buffer's checksum the way wordcount.h documents it. */
static void reseal(unsigned char *b, size_t len)
{
    uint64_t seed = XXH3_64bits(b, 24);
    rm_put_u64(b + 24, XXH3_64bits_withSeed(b + 32, len - 32, seed));
}

/* Decodes a copy of buf in an exactly sized allocation, so that ASan sees any overread. */
static int decode_copy(struct rm_wc *t, const unsigned char *buf, size_t len)
{
    unsigned char *c = malloc(len ? len : 1);
    memcpy(c, buf, len);
    int rc = rm_wc_decode_into(t, c, len);
    free(c);
    return rc;
}

static void free_bufs(unsigned char **bufs, uint32_t parts)
{
    for (uint32_t i = 0; i < parts; i++)
        free(bufs[i]);
}

/* Mappers count random pieces of one text; each encodes its table into P partitions; reducer
 * p decodes partition p from every mapper. The reducers' words are disjoint, each is in its
 * partition, and together they equal a direct count. */
static void test_shuffle_round_trip(void)
{
    static const uint32_t part_counts[] = {1, 2, 3, 8, 17, 64};
    enum { MAPPERS = 5 };
    size_t len = 300000;
    char *text = random_text(len);
    struct rm_wc direct;
    CU_ASSERT_EQUAL_FATAL(rm_wc_init(&direct), 0);
    CU_ASSERT_EQUAL_FATAL(rm_wc_map(&direct, text, len, false), 0);
    char *want = tsv_of(&direct);
    for (size_t pc = 0; pc < sizeof part_counts / sizeof *part_counts; pc++) {
        uint32_t parts = part_counts[pc];
        struct rm_wc *red = calloc(parts, sizeof *red);
        for (uint32_t p = 0; p < parts; p++)
            CU_ASSERT_EQUAL_FATAL(rm_wc_init(&red[p]), 0);
        for (size_t m = 0; m < MAPPERS; m++) {
            size_t a = uncut(text, len, len * m / MAPPERS);
            size_t b = uncut(text, len, len * (m + 1) / MAPPERS);
            struct rm_wc t;
            CU_ASSERT_EQUAL_FATAL(rm_wc_init(&t), 0);
            CU_ASSERT_EQUAL(rm_wc_map(&t, text + a, b - a, false), 0);
            unsigned char **bufs = calloc(parts, sizeof *bufs);
            size_t *lens = calloc(parts, sizeof *lens);
            CU_ASSERT_EQUAL_FATAL(rm_wc_encode(&t, parts, bufs, lens), 0);
            for (uint32_t p = 0; p < parts; p++)
                CU_ASSERT_EQUAL(decode_copy(&red[p], bufs[p], lens[p]), 0);
            free_bufs(bufs, parts);
            free(bufs);
            free(lens);
            rm_wc_free(&t);
        }
        struct rm_wc all;
        CU_ASSERT_EQUAL_FATAL(rm_wc_init(&all), 0);
        size_t distinct = 0, misplaced = 0;
        for (uint32_t p = 0; p < parts; p++) {
            struct rm_wc_entry *e;
            size_t n;
            CU_ASSERT_EQUAL_FATAL(rm_wc_sorted(&red[p], &e, &n), 0);
            for (size_t i = 0; i < n; i++) {
                misplaced += rm_wc_partition(e[i].word, e[i].len, parts) != p;
                CU_ASSERT_EQUAL(rm_wc_add(&all, e[i].word, e[i].len, e[i].count), 0);
            }
            distinct += n;
            free(e);
            rm_wc_free(&red[p]);
        }
        CU_ASSERT_EQUAL(misplaced, 0);
        CU_ASSERT_EQUAL(distinct, direct.distinct); /* partitions are disjoint */
        char *got = tsv_of(&all);
        CU_ASSERT_STRING_EQUAL(got, want);
        free(got);
        rm_wc_free(&all);
        free(red);
    }
    free(want);
    free(text);
    rm_wc_free(&direct);
}

static void test_encode_empty_and_self_merge(void)
{
    struct rm_wc t, u;
    CU_ASSERT_EQUAL_FATAL(rm_wc_init(&t), 0);
    CU_ASSERT_EQUAL_FATAL(rm_wc_init(&u), 0);
    unsigned char *bufs[3];
    size_t lens[3];
    CU_ASSERT_EQUAL_FATAL(rm_wc_encode(&t, 3, bufs, lens), 0);
    for (int p = 0; p < 3; p++) {
        CU_ASSERT_EQUAL(lens[p], RM_WC_WIRE_HEADER_SIZE);
        CU_ASSERT_EQUAL(rm_get_u32(bufs[p]), RM_WC_WIRE_MAGIC);
        CU_ASSERT_EQUAL(rm_get_u32(bufs[p] + 8), (uint32_t)p);
        CU_ASSERT_EQUAL(rm_get_u32(bufs[p] + 12), 3);
        CU_ASSERT_EQUAL(decode_copy(&u, bufs[p], lens[p]), 0);
    }
    free_bufs(bufs, 3);
    CU_ASSERT_EQUAL(u.distinct, 0);
    /* A table merged with its own encoding doubles every count. */
    CU_ASSERT_EQUAL(rm_wc_map(&t, "one two two three three three", 29, false), 0);
    CU_ASSERT_EQUAL_FATAL(rm_wc_encode(&t, 1, bufs, lens), 0);
    CU_ASSERT_EQUAL(rm_get_u64(bufs[0] + 16), 3);
    CU_ASSERT_EQUAL(decode_copy(&t, bufs[0], lens[0]), 0);
    free(bufs[0]);
    char *tsv = tsv_of(&t);
    CU_ASSERT_STRING_EQUAL(tsv, "one\t2\nthree\t6\ntwo\t4\n");
    free(tsv);
    rm_wc_free(&t);
    rm_wc_free(&u);
}

/* A buffer by hand: partition part of parts, records given as (word, count) pairs. */
static size_t craft(unsigned char *b, uint32_t part, uint32_t parts, const char *const *words,
                    const uint64_t *counts, size_t n)
{
    rm_put_u32(b, RM_WC_WIRE_MAGIC);
    rm_put_u32(b + 4, RM_WC_WIRE_VERSION);
    rm_put_u32(b + 8, part);
    rm_put_u32(b + 12, parts);
    rm_put_u64(b + 16, n);
    size_t at = 32;
    for (size_t i = 0; i < n; i++) {
        size_t wl = strlen(words[i]);
        b[at++] = (unsigned char)wl;
        memcpy(b + at, words[i], wl);
        at += wl;
        for (uint64_t v = counts[i];; v >>= 7) {
            b[at++] = (unsigned char)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
            if (v < 0x80)
                break;
        }
    }
    reseal(b, at);
    return at;
}

/* Expects rc, and t to hold exactly the words of `want` (its TSV). */
static void expect_decode(struct rm_wc *t, unsigned char *b, size_t len, int rc, const char *want)
{
    CU_ASSERT_EQUAL(decode_copy(t, b, len), rc);
    char *got = tsv_of(t);
    CU_ASSERT_STRING_EQUAL(got, want);
    free(got);
}

static void test_decode_crafted(void)
{
    struct rm_wc t;
    CU_ASSERT_EQUAL_FATAL(rm_wc_init(&t), 0);
    unsigned char b[256];
    const char *w2[] = {"hello", "world"};
    uint64_t c2[] = {3, 300};
    size_t len = craft(b, 0, 1, w2, c2, 2);
    expect_decode(&t, b, len, 0, "hello\t3\nworld\t300\n");
    const char *base = "hello\t3\nworld\t300\n";

    len = craft(b, 0, 1, w2, c2, 2);
    rm_put_u32(b, 0x12345678);
    expect_decode(&t, b, len, RM_EPROTO, base); /* magic */
    len = craft(b, 0, 1, w2, c2, 2);
    rm_put_u32(b + 4, 2);
    reseal(b, len);
    expect_decode(&t, b, len, RM_EPROTO, base); /* version */
    len = craft(b, 1, 1, w2, c2, 2);
    expect_decode(&t, b, len, RM_EPROTO, base); /* partition >= parts */
    len = craft(b, 0, 0, w2, c2, 2);
    expect_decode(&t, b, len, RM_EPROTO, base); /* no parts */
    expect_decode(&t, b, 31, RM_EPROTO, base);  /* shorter than a header */
    len = craft(b, 0, 1, w2, c2, 2);
    b[40] ^= 1;
    expect_decode(&t, b, len, RM_ECORRUPT, base); /* checksum */
    len = craft(b, 0, 1, w2, c2, 2);
    rm_put_u64(b + 16, 3);
    reseal(b, len);
    expect_decode(&t, b, len, RM_ECORRUPT, base); /* record count */

    const char *w1[] = {"x"};
    uint64_t zero[] = {0};
    len = craft(b, 0, 1, w1, zero, 1);
    expect_decode(&t, b, len, RM_ECORRUPT, base); /* count 0 */
    const char *empty[] = {""};
    uint64_t one[] = {1};
    len = craft(b, 0, 1, empty, one, 1);
    expect_decode(&t, b, len, RM_ECORRUPT, base); /* empty word */
    len = craft(b, 0, 1, w1, one, 1);
    b[len - 1] = 0x81; /* count continues past the end */
    reseal(b, len);
    expect_decode(&t, b, len, RM_ECORRUPT, base);
    memcpy(b + len - 1, "\x81\x00", 2); /* overlong: 1 in two bytes */
    reseal(b, len + 1);
    expect_decode(&t, b, len + 1, RM_ECORRUPT, base);
    memcpy(b + len - 1, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02", 10); /* 65 bits */
    reseal(b, len + 9);
    expect_decode(&t, b, len + 9, RM_ECORRUPT, base);
    memcpy(b + len - 1, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 10); /* 2^64-1: fine */
    reseal(b, len + 9);
    expect_decode(&t, b, len + 9, RM_ECORRUPT, base); /* ...but overflows t->total */
    len = craft(b, 0, 1, w1, one, 1);
    b[32] = 5; /* the word runs past the end */
    reseal(b, len);
    expect_decode(&t, b, len, RM_ECORRUPT, base);
    len = craft(b, 0, 1, w1, one, 1);
    b[len++] = 0; /* a trailing byte */
    reseal(b, len);
    expect_decode(&t, b, len, RM_ECORRUPT, base);

    /* A word in the wrong partition: find one that is not in partition 0 of 2. */
    const char *cand[] = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta"};
    size_t k = 0;
    while (rm_wc_partition(cand[k], strlen(cand[k]), 2) == 0)
        k++;
    len = craft(b, 0, 2, &cand[k], one, 1);
    expect_decode(&t, b, len, RM_ECORRUPT, base);
    len = craft(b, 1, 2, &cand[k], one, 1);
    CU_ASSERT_EQUAL(decode_copy(&t, b, len), 0);
    CU_ASSERT_EQUAL(rm_wc_get(&t, cand[k], strlen(cand[k])), 1);
    rm_wc_free(&t);
}

/* Applies one random mutation to b (len bytes, cap room). Returns the new length. */
static size_t mutate(unsigned char *b, size_t len, size_t cap)
{
    switch (rnd_below(5)) {
    case 0: /* flip 1 to 3 bits */
        for (size_t i = 1 + rnd_below(3); i > 0; i--)
            b[rnd_below(len)] ^= (unsigned char)(1u << rnd_below(8));
        return len;
    case 1: /* truncate */
        return rnd_below(len);
    case 2: /* overwrite a run with random bytes */
        for (size_t i = rnd_below(len), k = 1 + rnd_below(8); i < len && k > 0; i++, k--)
            b[i] = (unsigned char)rnd();
        return len;
    case 3: /* insert random bytes */
        if (len + 8 <= cap) {
            size_t at = rnd_below(len + 1), k = 1 + rnd_below(8);
            memmove(b + at + k, b + at, len - at);
            for (size_t i = 0; i < k; i++)
                b[at + i] = (unsigned char)rnd();
            return len + k;
        }
        return len;
    default: /* change a byte to a boundary value */
        b[rnd_below(len)] = (unsigned char[]){0, 1, 0x7f, 0x80, 0xff}[rnd_below(5)];
        return len;
    }
}

/* Thousands of damaged buffers: as damaged (the checksum must catch them) and resealed (the
 * record parser must). Either way no crash, no overread, and the table is unchanged unless
 * the call succeeded. */
static void test_decode_fuzz(void)
{
    char *text = random_text(600);
    struct rm_wc src, t;
    CU_ASSERT_EQUAL_FATAL(rm_wc_init(&src), 0);
    CU_ASSERT_EQUAL_FATAL(rm_wc_map(&src, text, 600, true), 0);
    unsigned char *bufs[3];
    size_t lens[3];
    CU_ASSERT_EQUAL_FATAL(rm_wc_encode(&src, 3, bufs, lens), 0);
    CU_ASSERT_EQUAL_FATAL(rm_wc_init(&t), 0);
    CU_ASSERT_EQUAL(rm_wc_map(&t, "seed words Seed", 15, true), 0);
    char *before = tsv_of(&t);
    size_t caught = 0, resealed_ok = 0, cap = 4096;
    unsigned char *b = malloc(cap);
    for (int i = 0; i < 20000; i++) {
        int p = (int)rnd_below(3);
        CU_ASSERT_FATAL(lens[p] + 64 <= cap);
        memcpy(b, bufs[p], lens[p]);
        size_t len = mutate(b, lens[p], cap);
        bool reseal_it = i % 2 == 1 && len >= 32;
        if (reseal_it)
            reseal(b, len);
        bool same = len == lens[p] && memcmp(b, bufs[p], len) == 0;
        uint64_t total = t.total;
        int rc = decode_copy(&t, b, len);
        if (rc == 0) {
            CU_ASSERT_TRUE(reseal_it || same); /* the checksum catches every real change */
            resealed_ok += reseal_it && !same;
            CU_ASSERT_TRUE(t.total > total || lens[p] == 32);
            free(before);
            before = tsv_of(&t);
            continue;
        }
        CU_ASSERT_TRUE(rc == RM_EPROTO || rc == RM_ECORRUPT);
        caught++;
        CU_ASSERT_EQUAL(t.total, total);
        if (i % 500 == 0) { /* the full check is slow; sample it */
            char *now = tsv_of(&t);
            CU_ASSERT_STRING_EQUAL(now, before);
            free(now);
        }
    }
    for (int i = 0; i < 5000; i++) { /* garbage, sometimes behind a valid header */
        size_t len = rnd_below(200);
        for (size_t k = 0; k < len; k++)
            b[k] = (unsigned char)rnd();
        if (len >= 32 && i % 2) {
            rm_put_u32(b, RM_WC_WIRE_MAGIC);
            rm_put_u32(b + 4, RM_WC_WIRE_VERSION);
            rm_put_u32(b + 8, 0);
            rm_put_u32(b + 12, 1);
            rm_put_u64(b + 16, rnd_below(4));
            reseal(b, len);
        }
        uint64_t total = t.total;
        int rc = decode_copy(&t, b, len);
        CU_ASSERT_TRUE(rc == 0 || rc == RM_EPROTO || rc == RM_ECORRUPT);
        if (rc != 0)
            CU_ASSERT_EQUAL(t.total, total);
    }
    printf("\n    %zu of 20000 damaged buffers refused, %zu resealed ones parsed as valid ", caught,
           resealed_ok);
    CU_ASSERT_TRUE(caught > 10000);
    free(b);
    free(before);
    free_bufs(bufs, 3);
    rm_wc_free(&src);
    rm_wc_free(&t);
    free(text);
}

/* ---- sorted output and TSV ---------------------------------------------------------------- */

static void test_sorted_byte_order(void)
{
    struct rm_wc t;
    CU_ASSERT_EQUAL_FATAL(rm_wc_init(&t), 0);
    static const char *const words[] = {"b",     "abc",  "a", "ab",    "Zebra", "apple",
                                        "Apple", "\xff", "z", "\x80x", "aa",    "A"};
    for (size_t i = 0; i < sizeof words / sizeof *words; i++)
        CU_ASSERT_EQUAL(rm_wc_add(&t, words[i], strlen(words[i]), i + 1), 0);
    char *tsv = tsv_of(&t);
    CU_ASSERT_STRING_EQUAL(tsv, "A\t12\nApple\t7\nZebra\t5\na\t3\naa\t11\nab\t4\nabc\t2\n"
                                "apple\t6\nb\t1\nz\t9\n\x80x\t10\n\xff\t8\n");
    free(tsv);
    rm_wc_free(&t);

    char *text = random_text(100000); /* and on many words: strictly increasing */
    CU_ASSERT_EQUAL_FATAL(rm_wc_init(&t), 0);
    CU_ASSERT_EQUAL(rm_wc_map(&t, text, 100000, true), 0);
    struct rm_wc_entry *e;
    size_t n;
    CU_ASSERT_EQUAL_FATAL(rm_wc_sorted(&t, &e, &n), 0);
    CU_ASSERT_EQUAL(n, t.distinct);
    size_t bad = 0;
    for (size_t i = 1; i < n; i++) {
        size_t m = e[i - 1].len < e[i].len ? e[i - 1].len : e[i].len;
        int c = memcmp(e[i - 1].word, e[i].word, m);
        bad += c > 0 || (c == 0 && e[i - 1].len >= e[i].len);
    }
    CU_ASSERT_EQUAL(bad, 0);
    free(e);
    free(text);
    rm_wc_free(&t);
}

static void test_tsv_exact(void)
{
    struct rm_wc_entry e[] = {{"a", 1, 1}, {"bc", 2, 10}, {"def", 3, UINT64_MAX}, {"xyz", 1, 0}};
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_EQUAL(rm_wc_write_tsv(e, 4, f), 0);
    CU_ASSERT_EQUAL(rm_wc_write_tsv(NULL, 0, f), 0);
    fclose(f);
    CU_ASSERT_EQUAL(size, 39);
    CU_ASSERT_STRING_EQUAL(text, "a\t1\nbc\t10\ndef\t18446744073709551615\nx\t0\n");
    free(text);
    f = fopen("/dev/full", "w");
    if (f) {
        CU_ASSERT_EQUAL(rm_wc_write_tsv(e, 4, f), RM_EIO);
        fclose(f);
    }
}

/* ---- speed (informational) ---------------------------------------------------------------- */

/* English-like text: Zipf-ish words, some capitalised, punctuation, the odd number. */
static char *english_text(size_t len)
{
    enum { VOCAB = 20000 };
    char(*vocab)[16] = malloc(VOCAB * sizeof *vocab);
    for (size_t i = 0; i < VOCAB; i++) {
        size_t n = 2 + rnd_below(4) + rnd_below(6);
        for (size_t k = 0; k < n; k++)
            vocab[i][k] = (char)('a' + rnd_below(26));
        vocab[i][n] = '\0';
    }
    char *s = malloc(len + 32);
    size_t n = 0;
    while (n < len) {
        double u = (double)(rnd() >> 11) / 9007199254740992.0;
        size_t r = (size_t)((double)VOCAB * u * u * u); /* skewed to the front */
        size_t k = strlen(vocab[r]);
        memcpy(s + n, vocab[r], k);
        if (rnd_below(10) == 0)
            s[n] = (char)(s[n] - 32);
        n += k;
        uint64_t x = rnd_below(20);
        if (x == 0)
            s[n++] = ',';
        else if (x == 1)
            s[n++] = '.';
        else if (x == 2)
            n += (size_t)sprintf(s + n, " %u", (unsigned)rnd_below(1000));
        s[n++] = x == 3 ? '\n' : ' ';
    }
    free(vocab);
    return s;
}

/* Seconds of CPU time this thread has used: steadier than wall time on a busy machine. */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void time_map(const char *what, const char *text, size_t len)
{
    for (int cs = 0; cs < 2; cs++) {
        struct rm_wc t;
        CU_ASSERT_EQUAL_FATAL(rm_wc_init(&t), 0);
        double t0 = cpu_s();
        CU_ASSERT_EQUAL(rm_wc_map(&t, text, len, cs), 0);
        double dt = cpu_s() - t0;
        printf("\n    rm_wc_map %s%s: %.1f MB in %.3f s CPU = %.0f MB/s, %zu words, %.1f MB table ",
               what, cs ? " (case-sensitive)" : "", (double)len / 1e6, dt, (double)len / 1e6 / dt,
               t.distinct, (double)rm_wc_bytes(&t) / 1e6);
        rm_wc_free(&t);
    }
}

static void test_map_speed(void)
{
    size_t len = 32u << 20;
    char *text = english_text(len);
    time_map("on synthetic English", text, len);
    free(text);
    const char *path = getenv("RM_WC_BENCH_FILE");
    FILE *f = path ? fopen(path, "rb") : NULL;
    if (!f)
        return;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    rewind(f);
    text = malloc((size_t)size + 1);
    CU_ASSERT_EQUAL_FATAL(fread(text, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    time_map(path, text, (size_t)size);
    free(text);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return CU_get_error();
    CU_pSuite s = CU_add_suite("wordcount", NULL, NULL);
    if (!s || !CU_add_test(s, "empty input and only separators", test_empty_and_separators) ||
        !CU_add_test(s, "every byte value", test_every_byte) ||
        !CU_add_test(s, "words at the buffer's edges", test_words_at_edges) ||
        !CU_add_test(s, "digits, punctuation, UTF-8, NUL split", test_separators_split) ||
        !CU_add_test(s, "case folding and case-sensitive", test_case_folding) ||
        !CU_add_test(s, "100k-letter words", test_long_words) ||
        !CU_add_test(s, "random text against a reference", test_against_reference) ||
        !CU_add_test(s, "64-byte block boundaries", test_block_boundaries) ||
        !CU_add_test(s, "a million distinct words", test_million_words) ||
        !CU_add_test(s, "bad arguments", test_bad_arguments) ||
        !CU_add_test(s, "shuffle round trip across partitions", test_shuffle_round_trip) ||
        !CU_add_test(s, "empty table, self merge", test_encode_empty_and_self_merge) ||
        !CU_add_test(s, "crafted bad buffers", test_decode_crafted) ||
        !CU_add_test(s, "damaged and garbage buffers", test_decode_fuzz) ||
        !CU_add_test(s, "sorted in byte order", test_sorted_byte_order) ||
        !CU_add_test(s, "TSV output exact", test_tsv_exact) ||
        !CU_add_test(s, "map speed (informational)", test_map_speed)) {
        CU_cleanup_registry();
        return CU_get_error();
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failures = CU_get_number_of_failures() + CU_get_number_of_suites_failed();
    CU_cleanup_registry();
    return failures > 0 ? 1 : 0;
}
