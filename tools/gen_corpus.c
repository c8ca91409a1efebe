/*
 * gen_corpus: writes a deterministic, English-like text corpus for the wordcount kernel.
 *
 *   gen_corpus --bytes N --seed S [--out FILE]
 *
 * Lines of 5 to 20 words drawn from a fixed synthetic vocabulary of 50,000 distinct
 * pseudo-words (syllables glued together; frequent words are short) with a Zipf-like
 * frequency (weight of rank r ~ 1/(r+3)). Lines start with a capital; some words are proper
 * nouns (always capitalised) or shouted (all capitals); there are commas, semicolons, quotes,
 * apostrophes ("word's"), hyphens, numbers and the odd non-ASCII letter (U+00E9 in UTF-8,
 * which splits its word in two tokens), and lines end with '.', '?' or '!'. A large corpus
 * holds about 60,000 distinct tokens, 7.6 bytes of text per token.
 *
 * The output is exactly N bytes and ends with a newline: the first N - 1 bytes of the text
 * for the seed (which does not depend on N), then '\n'.
 *
 * The vocabulary is the same for every seed (it is the "language"); the seed picks the text.
 * Everything is integer arithmetic on our own PRNG (splitmix64), so the same arguments give
 * byte-identical output on any machine and with any C library.
 *
 * Exit status: 0, 1 on an I/O error, 2 on a usage error (one line on stderr).
 */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VOCAB_SIZE 50000u
#define VOCAB_SEED UINT64_C(0x436f72707573) /* "Corpus": fixed, so the language never changes */
#define MAX_WORD 32u
#define OUT_CHUNK (1u << 20)
#define MAX_PIECE 128u        /* bytes one word with its decorations can take (about 60 at most) */
#define SEEN_SLOTS (1u << 18) /* a power of two, over 4 x VOCAB_SIZE */

/* ---- randomness ------------------------------------------------------------------------- */

static uint64_t next_u64(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* Uniform in [0, n), n > 0. The modulo bias (< n / 2^64) does not matter here. */
static uint32_t below(uint64_t *state, uint32_t n)
{
    return (uint32_t)(next_u64(state) % n);
}

/* ---- the vocabulary ----------------------------------------------------------------------- */

struct vocab {
    char words[VOCAB_SIZE][MAX_WORD]; /* lower case, NUL-terminated */
    uint8_t lens[VOCAB_SIZE];
    uint8_t proper[VOCAB_SIZE]; /* always written capitalised */
    uint64_t cdf[VOCAB_SIZE];   /* cumulative weights, strictly increasing */
    uint32_t guide[VOCAB_SIZE]; /* guide[j]: first rank whose cdf exceeds j * total / SIZE */
    uint32_t *seen;             /* open-addressing set of word hashes while building */
};

static const char *const ONSETS[] = {"",   "b",  "c",  "d",  "f",  "g",  "h",  "j",  "k",
                                     "l",  "m",  "n",  "p",  "r",  "s",  "t",  "v",  "w",
                                     "th", "sh", "ch", "st", "tr", "br", "pl", "gr", "wh"};
static const char *const NUCLEI[] = {"a",  "e",  "i", "o", "u", "ea", "ou", "ai",
                                     "ee", "oo", "y", "a", "e", "i",  "o"};
static const char *const CODAS[] = {"",  "",   "",   "n",  "r",  "s", "t",
                                    "l", "nd", "st", "ng", "ck", "m", "x"};
#define COUNT(a) ((uint32_t)(sizeof(a) / sizeof *(a)))

/* Appends one random syllable to w at *n. */
static void add_syllable(uint64_t *st, char *w, size_t *n)
{
    const char *parts[3] = {ONSETS[below(st, COUNT(ONSETS))], NUCLEI[below(st, COUNT(NUCLEI))],
                            CODAS[below(st, COUNT(CODAS))]};
    for (int i = 0; i < 3; i++)
        for (const char *p = parts[i]; *p; p++)
            w[(*n)++] = *p;
}

/* FNV-1a of a word, never 0 (0 marks a free set slot). */
static uint32_t word_hash(const char *w)
{
    uint32_t h = 2166136261u;
    for (; *w; w++)
        h = (h ^ (uint8_t)*w) * 16777619u;
    return h ? h : 1;
}

/* Adds w to the set of words made so far. Returns 0 if it was new, -1 if already there. The
 * set holds hashes only, so a hash collision also counts as a repeat: that only makes the
 * generator draw another word, which is still deterministic. */
static int remember(uint32_t *seen, const char *w)
{
    uint32_t h = word_hash(w), mask = SEEN_SLOTS - 1;
    for (uint32_t i = h & mask;; i = (i + 1) & mask) {
        if (seen[i] == h)
            return -1;
        if (seen[i] == 0) {
            seen[i] = h;
            return 0;
        }
    }
}

/* Frequent words are short: one syllable in the top 150, up to four in the long tail. */
static void make_word(uint64_t *st, uint32_t rank, char *w)
{
    uint32_t syl = rank < 150 ? 1 : rank < 3000 ? 1 + below(st, 2) : 2 + below(st, 3);
    size_t n = 0;
    for (uint32_t s = 0; s < syl; s++)
        add_syllable(st, w, &n);
    w[n] = '\0';
}

static int build_vocab(struct vocab *v)
{
    uint64_t st = VOCAB_SEED;
    v->seen = calloc(SEEN_SLOTS, sizeof *v->seen);
    if (!v->seen)
        return -1;
    uint64_t total = 0;
    for (uint32_t r = 0; r < VOCAB_SIZE; r++) {
        do
            make_word(&st, r, v->words[r]);
        while (v->words[r][0] == '\0' || remember(v->seen, v->words[r]) < 0);
        v->lens[r] = (uint8_t)strlen(v->words[r]);
        v->proper[r] = r >= 200 && below(&st, 100) < 4;
        total += (UINT64_C(1) << 40) / (r + 3);
        v->cdf[r] = total;
    }
    free(v->seen);
    v->seen = NULL;
    for (uint32_t j = 0, r = 0; j < VOCAB_SIZE; j++) {
        uint64_t at = total / VOCAB_SIZE * j;
        while (v->cdf[r] <= at)
            r++;
        v->guide[j] = r;
    }
    return 0;
}

/* A rank with probability proportional to its weight: the guide table lands within a step or
 * two of the answer. */
static uint32_t draw_rank(const struct vocab *v, uint64_t *st)
{
    uint64_t total = v->cdf[VOCAB_SIZE - 1];
    uint64_t u = next_u64(st) % total;
    uint64_t j = u / (total / VOCAB_SIZE);
    uint32_t r = v->guide[j < VOCAB_SIZE ? j : VOCAB_SIZE - 1];
    while (v->cdf[r] <= u)
        r++;
    return r;
}

/* ---- the text ----------------------------------------------------------------------------- */

/* Writes one vocabulary word at p, capitalised if asked or if it is a proper noun, shouted if
 * asked. Returns the new end. */
static char *put_vocab(const struct vocab *v, uint64_t *st, char *p, int capital, int shout)
{
    uint32_t r = draw_rank(v, st);
    memcpy(p, v->words[r], v->lens[r]);
    if (capital || v->proper[r])
        p[0] = (char)(p[0] - 32);
    for (uint32_t i = 0; shout && i < v->lens[r]; i++)
        p[i] = (char)(p[i] & ~0x20);
    return p + v->lens[r];
}

/* Writes one word and what goes with it (the space before, quotes, punctuation after) at p.
 * Returns the new end; writes at most MAX_PIECE bytes. */
static char *put_word(const struct vocab *v, uint64_t *st, char *p, int first, int last)
{
    uint64_t bits = next_u64(st); /* one draw decides every decoration */
    uint32_t kind = (uint32_t)(bits % 1000);
    bits /= 1000;
    if (!first)
        *p++ = ' ';
    int quoted = kind >= 80 && kind < 86;
    if (quoted)
        *p++ = '"';
    if (kind < 15) { /* a number, 1 to 4 digits */
        p += sprintf(p, "%u", (unsigned)(bits % 10000) >> (bits / 10000 % 4 * 3));
    } else {
        char *w = p;
        p = put_vocab(v, st, p, first || kind < 60, kind < 17);
        if (kind >= 60 && kind < 62 && p - w > 3) { /* the third letter becomes U+00E9 */
            memmove(w + 4, w + 3, (size_t)(p - w - 3));
            memcpy(w + 2, "\xc3\xa9", 2);
            p += 1;
        }
        if (kind >= 62 && kind < 72)
            p += sprintf(p, "'s");
        if (kind >= 72 && kind < 80) { /* hyphenated with another word */
            *p++ = '-';
            p = put_vocab(v, st, p, 0, 0);
        }
    }
    if (quoted)
        *p++ = '"';
    if (last)
        *p++ = kind % 10 == 0 ? '?' : kind % 10 == 1 ? '!' : '.';
    else if (kind >= 900)
        *p++ = kind < 990 ? ',' : kind < 995 ? ';' : ':';
    return p;
}

/* Writes one line of 5 to 20 words and its newline at p. Returns the new end. */
static char *put_line(const struct vocab *v, uint64_t *st, char *p)
{
    uint32_t words = 5 + below(st, 16);
    for (uint32_t i = 0; i < words; i++)
        p = put_word(v, st, p, i == 0, i + 1 == words);
    *p++ = '\n';
    return p;
}

/* Writes exactly `bytes` bytes of text to f, the last one a newline (the last line is cut
 * short to fit). Returns 0, or -1 on a write error (errno set). */
static int generate(const struct vocab *v, uint64_t seed, uint64_t bytes, FILE *f)
{
    char *buf = malloc(OUT_CHUNK + 20 * MAX_PIECE + 2);
    if (!buf)
        return -1;
    uint64_t st = seed;
    while (bytes > 0) {
        char *p = buf;
        while ((size_t)(p - buf) < OUT_CHUNK && (uint64_t)(p - buf) < bytes)
            p = put_line(v, &st, p);
        size_t n = (size_t)(p - buf);
        if (n >= bytes) {
            n = (size_t)bytes;
            buf[n - 1] = '\n';
        }
        if (fwrite(buf, 1, n, f) != n) {
            free(buf);
            return -1;
        }
        bytes -= n;
    }
    free(buf);
    return 0;
}

/* ---- the command line --------------------------------------------------------------------- */

static const char USAGE[] =
    "usage: gen_corpus --bytes N --seed S [--out FILE]\n"
    "Writes exactly N bytes of deterministic English-like text: lines of 5-20 words from a\n"
    "fixed 50,000-word synthetic vocabulary with Zipf-like frequencies, punctuation, numbers.\n"
    "The same N and S give the same bytes on every machine.\n"
    "  --bytes N   size of the output; accepts K, M, G (powers of 1024); at least 1\n"
    "  --seed S    any unsigned 64-bit number (decimal, or hex with 0x)\n"
    "  --out FILE  write to FILE instead of standard output\n";

/* Prints "gen_corpus: <what> '<arg>'" and returns the usage exit status. */
static int usage_error(const char *what, const char *arg)
{
    fprintf(stderr, "gen_corpus: %s%s%s%s (see gen_corpus --help)\n", what, arg ? " '" : "",
            arg ? arg : "", arg ? "'" : "");
    return 2;
}

/* Parses "123", "4K", "2M", "1G". Returns 0 or -1. */
static int parse_size(const char *s, uint64_t *out)
{
    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    char *end;
    unsigned long long n = strtoull(s, &end, 10);
    unsigned shift = *end == 'K' || *end == 'k'   ? 10
                     : *end == 'M' || *end == 'm' ? 20
                     : *end == 'G' || *end == 'g' ? 30
                                                  : 0;
    if (shift)
        end++;
    if (errno || *end != '\0' || n > (UINT64_MAX >> shift))
        return -1;
    *out = (uint64_t)n << shift;
    return 0;
}

static int parse_u64(const char *s, uint64_t *out)
{
    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    char *end;
    unsigned long long n = strtoull(s, &end, 0);
    if (errno || *end != '\0')
        return -1;
    *out = n;
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"bytes", required_argument, NULL, 'b'},
                                         {"seed", required_argument, NULL, 's'},
                                         {"out", required_argument, NULL, 'o'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    uint64_t bytes = 0, seed = 0;
    int have_bytes = 0, have_seed = 0;
    const char *out = NULL;
    opterr = 0;
    for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
        if (c == 'h') {
            fputs(USAGE, stdout);
            return 0;
        } else if (c == 'b') {
            if (parse_size(optarg, &bytes) < 0 || bytes == 0)
                return usage_error("--bytes wants a positive size like 1000, 64K or 2M, not",
                                   optarg);
            have_bytes = 1;
        } else if (c == 's') {
            if (parse_u64(optarg, &seed) < 0)
                return usage_error("--seed wants an unsigned 64-bit number, not", optarg);
            have_seed = 1;
        } else if (c == 'o') {
            out = optarg;
        } else {
            return usage_error("unknown option or missing value:", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument", argv[optind]);
    if (!have_bytes || !have_seed)
        return usage_error(have_bytes ? "--seed is required" : "--bytes is required", NULL);

    struct vocab *v = malloc(sizeof *v);
    if (!v || build_vocab(v) < 0) {
        fputs("gen_corpus: out of memory\n", stderr);
        free(v);
        return 1;
    }
    FILE *f = out ? fopen(out, "wb") : stdout;
    if (!f) {
        fprintf(stderr, "gen_corpus: cannot create %s: %s\n", out, strerror(errno));
        free(v);
        return 1;
    }
    int rc = generate(v, seed, bytes, f);
    if (rc == 0 && (out ? fclose(f) : fflush(f)) != 0)
        rc = -1;
    else if (rc < 0 && out)
        fclose(f);
    if (rc < 0)
        fprintf(stderr, "gen_corpus: cannot write %s: %s\n", out ? out : "standard output",
                strerror(errno));
    free(v);
    return rc < 0 ? 1 : 0;
}
