/*
 * bench_ring: lookup time, balance and movement of the consistent-hash ring, against modulo
 * hashing and jump hashing (Lamping and Veach 2014) measured in the same run.
 *
 * Usage: bench_ring [--ranks N] [--vnodes V] [--runs R] [--keys K]
 * Prints one JSON object on stdout. Times are medians (with min, max and n) over R runs of K
 * lookups each; building the ring and removing a rank are timed once (n 1). Balance and movement
 * are exact counts for the fixed-seed keys, not samples, so they are plain numbers. Keys are K
 * random 64-bit hashes drawn from a fixed-seed generator before the clock starts ("prehashed"); the
 * "xxh3" rows instead hash a 16-byte key per lookup ("task-000" and the key's number) inside the
 * timed loop. "mem_random_read" is the machine's reference: one random 4-byte read per key from an
 * array the size of the ring's packed points, in the same run.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "scheduler/ring.h"

#define KEY_LEN 16
/* Balance is counted over at least this many keys: with 1M keys over 1,000 ranks, sampling
 * noise alone puts the fullest rank ~10% above the mean (see the modulo row). */
#define BALANCE_KEYS (1u << 22)

struct opts {
    uint32_t ranks, vnodes, runs;
    size_t keys;
};

struct stats {
    double median, min, max;
    uint32_t n;
};

/* The state of every lookup loop is summed here, so the compiler keeps the loops. */
static volatile uint64_t g_sink;

static double clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static double now_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

/* Lookup passes are timed in this thread's CPU time, so that time spent descheduled on a shared
 * machine does not count; the wall clock is reported next to it. */
static double cpu_ns(void)
{
    return clock_ns(CLOCK_THREAD_CPUTIME_ID);
}

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* Jump consistent hash: bucket in [0, n) for key. */
static int32_t jump_hash(uint64_t key, int32_t n)
{
    int64_t b = -1, j = 0;
    while (j < n) {
        b = j;
        key = key * UINT64_C(2862933555777941757) + 1;
        j = (int64_t)((double)(b + 1) * ((double)(INT64_C(1) << 31) / (double)((key >> 33) + 1)));
    }
    return (int32_t)b;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static struct stats summarize(double *v, uint32_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    struct stats s = {n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2, v[0], v[n - 1], n};
    return s;
}

enum method { M_RING, M_RING_XXH3, M_RING_BATCH, M_MODULO, M_JUMP, M_MEM, M_COUNT };
static const char *const method_name[M_COUNT] = {"ring",   "ring_xxh3", "ring_batch",
                                                 "modulo", "jump",      "mem_random_read"};

struct ctx {
    const struct opts *o;
    struct rm_ring *ring;
    uint64_t *hashes;
    uint32_t *out;
    size_t bkeys;  /* keys for balance and movement, at least BALANCE_KEYS */
    uint32_t *mem; /* ranks * vnodes words, the size of the ring's packed points */
    size_t mem_words;
    double build_ms;
};

/* The 16-byte key of task i: "task-000" and i's 8 bytes. Returns buf. */
static const char *key_of(char *buf, uint64_t i)
{
    memcpy(buf + 8, &i, sizeof i);
    return buf;
}

/* One timed pass of K lookups with method m; returns CPU ns per lookup, and wall ns in *wall. */
static double time_pass(const struct ctx *c, enum method m, double *wall)
{
    size_t k = c->o->keys;
    uint64_t acc = 0;
    uint32_t r = 0;
    char key[KEY_LEN] = "task-000";
    double w0 = now_ns(), t0 = cpu_ns();
    for (size_t i = 0; i < k && m != M_RING_BATCH; i++) {
        if (m == M_RING)
            rm_ring_owner(c->ring, c->hashes[i], &r);
        else if (m == M_RING_XXH3)
            rm_ring_owner(c->ring, rm_ring_hash(key_of(key, i), KEY_LEN), &r);
        else if (m == M_MEM)
            r = c->mem[c->hashes[i] >> 40 & (c->mem_words - 1)];
        else if (m == M_MODULO)
            r = (uint32_t)(c->hashes[i] % c->o->ranks);
        else
            r = (uint32_t)jump_hash(c->hashes[i], (int32_t)c->o->ranks);
        acc += r;
    }
    if (m == M_RING_BATCH) {
        rm_ring_owner_many(c->ring, c->hashes, k, c->out);
        acc += c->out[k - 1];
    }
    double t1 = cpu_ns();
    *wall = (now_ns() - w0) / (double)k;
    g_sink += acc;
    return (t1 - t0) / (double)k;
}

/* Runs the methods in turn within each run, so that all of them see the same machine. */
static void bench_lookups(const struct ctx *c, struct stats *res, struct stats *wall)
{
    uint32_t runs = c->o->runs;
    double *v = malloc(2 * M_COUNT * runs * sizeof *v), w;
    if (!v)
        exit(1);
    for (int m = 0; m < M_COUNT; m++)
        time_pass(c, (enum method)m, &w); /* warm-up */
    for (uint32_t r = 0; r < runs; r++)
        for (int m = 0; m < M_COUNT; m++)
            v[m * runs + r] = time_pass(c, (enum method)m, &v[(M_COUNT + m) * runs + r]);
    for (int m = 0; m < M_COUNT; m++) {
        res[m] = summarize(v + m * runs, runs);
        wall[m] = summarize(v + (M_COUNT + m) * runs, runs);
    }
    free(v);
}

/* Peak-to-mean of per-member counts. */
static double peak_to_mean(const uint32_t *owner, size_t k, uint32_t ranks)
{
    size_t *count = calloc(ranks, sizeof *count), peak = 0;
    if (!count)
        exit(1);
    for (size_t i = 0; i < k; i++)
        count[owner[i]]++;
    for (uint32_t r = 0; r < ranks; r++)
        peak = count[r] > peak ? count[r] : peak;
    free(count);
    return (double)peak / ((double)k / (double)ranks);
}

static double share_peak_to_mean(const struct rm_ring *ring, uint32_t ranks)
{
    double peak = 0.0, *s = malloc(ranks * sizeof *s);
    if (!s || rm_ring_shares(ring, s, ranks) != (int)ranks)
        exit(1);
    for (uint32_t r = 0; r < ranks; r++)
        peak = s[r] > peak ? s[r] : peak;
    free(s);
    return peak * ranks;
}

static size_t count_moved(const uint32_t *a, const uint32_t *b, size_t k)
{
    size_t moved = 0;
    for (size_t i = 0; i < k; i++)
        moved += a[i] != b[i];
    return moved;
}

struct balance {
    double ring_keys, ring_exact, modulo, jump;
    double moved_ring, moved_modulo, moved_jump; /* fractions of keys */
    double build_ms, remove_ms;
};

/* Grows the key set to BALANCE_KEYS, continuing the same generator. */
static void grow_keys(struct ctx *c)
{
    if (c->bkeys >= BALANCE_KEYS)
        return;
    uint64_t *h = realloc(c->hashes, BALANCE_KEYS * sizeof *h);
    uint32_t *out = h ? realloc(c->out, BALANCE_KEYS * sizeof *out) : NULL;
    if (!out)
        exit(1);
    uint64_t seed = 42 + c->bkeys * UINT64_C(0x9e3779b97f4a7c15);
    for (size_t i = c->bkeys; i < BALANCE_KEYS; i++)
        h[i] = splitmix64(&seed);
    c->hashes = h;
    c->out = out;
    c->bkeys = BALANCE_KEYS;
}

/* Owners under modulo and jump hashing; `gone` (or none if gone >= ranks) leaves by moving the
 * last rank into its slot, the usual way to remove from a numbered scheme. */
static void baseline_owners(const struct ctx *c, uint32_t n, uint32_t gone, int jump)
{
    for (size_t i = 0; i < c->bkeys; i++) {
        uint32_t s =
            jump ? (uint32_t)jump_hash(c->hashes[i], (int32_t)n) : (uint32_t)(c->hashes[i] % n);
        c->out[i] = (s == gone) ? c->o->ranks - 1 : s;
    }
}

static void bench_baselines(const struct ctx *c, uint32_t gone, struct balance *b)
{
    size_t k = c->bkeys;
    uint32_t n = c->o->ranks, *before = malloc(k * sizeof *before);
    if (!before)
        exit(1);
    for (int jump = 0; jump < 2; jump++) {
        baseline_owners(c, n, n, jump);
        memcpy(before, c->out, k * sizeof *before);
        double ptm = peak_to_mean(before, k, n);
        baseline_owners(c, n - 1, gone, jump);
        double moved = (double)count_moved(before, c->out, k) / (double)k;
        *(jump ? &b->jump : &b->modulo) = ptm;
        *(jump ? &b->moved_jump : &b->moved_modulo) = moved;
    }
    free(before);
}

static void bench_balance(struct ctx *c, uint32_t gone, struct balance *b)
{
    size_t k = c->bkeys;
    uint32_t *before = malloc(k * sizeof *before);
    if (!before)
        exit(1);
    rm_ring_owner_many(c->ring, c->hashes, k, before);
    b->ring_keys = peak_to_mean(before, k, c->o->ranks);
    b->ring_exact = share_peak_to_mean(c->ring, c->o->ranks);
    double t0 = now_ns();
    if (rm_ring_remove(c->ring, gone) < 0)
        exit(1);
    b->remove_ms = (now_ns() - t0) / 1e6;
    rm_ring_owner_many(c->ring, c->hashes, k, c->out);
    b->moved_ring = (double)count_moved(before, c->out, k) / (double)k;
    free(before);
    bench_baselines(c, gone, b);
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
    *o = (struct opts){1000, 0, 9, 1u << 20};
    for (int i = 1; i + 1 < argc; i += 2) {
        unsigned long v = strtoul(argv[i + 1], NULL, 10);
        if (!strcmp(argv[i], "--ranks"))
            o->ranks = (uint32_t)v;
        else if (!strcmp(argv[i], "--vnodes"))
            o->vnodes = (uint32_t)v;
        else if (!strcmp(argv[i], "--runs"))
            o->runs = (uint32_t)v;
        else if (!strcmp(argv[i], "--keys"))
            o->keys = v;
        else
            return -1;
    }
    if (argc % 2 == 0 || o->ranks < 2 || o->runs < 1 || o->keys < 1)
        return -1;
    return 0;
}

static int setup(struct ctx *c, const struct opts *o)
{
    memset(c, 0, sizeof *c);
    c->o = o;
    c->hashes = malloc(o->keys * sizeof *c->hashes);
    c->out = malloc(o->keys * sizeof *c->out);
    uint32_t *ranks = malloc(o->ranks * sizeof *ranks);
    c->mem_words = 1;
    while (c->mem_words < (size_t)o->ranks * (o->vnodes ? o->vnodes : RM_RING_DEFAULT_VNODES))
        c->mem_words *= 2;
    c->mem = malloc(c->mem_words * sizeof *c->mem);
    if (!c->mem)
        return -1;
    for (size_t i = 0; i < c->mem_words; i++)
        c->mem[i] = (uint32_t)i;
    if (!c->hashes || !c->out || !ranks || rm_ring_create(o->vnodes, &c->ring) < 0)
        return -1;
    uint64_t seed = 42;
    for (size_t i = 0; i < o->keys; i++)
        c->hashes[i] = splitmix64(&seed);
    c->bkeys = o->keys;
    for (uint32_t r = 0; r < o->ranks; r++)
        ranks[r] = r;
    double t0 = now_ns();
    int rc = rm_ring_add_many(c->ring, ranks, o->ranks);
    c->build_ms = (now_ns() - t0) / 1e6;
    free(ranks);
    return rc;
}

/* Prints "name":{"median":..,"min":..,"max":..,"n":..} and then `after`. */
static void print_stats(const char *name, const struct stats *s, const char *after)
{
    printf("\"%s\":{\"median\":%.2f,\"min\":%.2f,\"max\":%.2f,\"n\":%" PRIu32 "}%s", name,
           s->median, s->min, s->max, s->n, after);
}

static void report(const struct ctx *c, const struct stats *res, const struct stats *wall,
                   const struct balance *b)
{
    const struct opts *o = c->o;
    printf("{\"bench\":\"ring_lookup\",\"ranks\":%" PRIu32 ",\"vnodes\":%" PRIu32
           ",\"keys\":%zu,\"runs\":%" PRIu32 ",\"keys_kind\":\"prehashed random u64; "
           "xxh3 rows hash a 16-byte key in the loop\",\"clock\":\"thread cpu time\",",
           o->ranks, rm_ring_vnodes(c->ring), o->keys, o->runs);
    char name[64];
    for (int m = 0; m < M_COUNT; m++) {
        snprintf(name, sizeof name, "%s_ns", method_name[m]);
        print_stats(name, &res[m], ",");
    }
    printf("\"wall_clock_ns\":{");
    for (int m = 0; m < M_COUNT; m++)
        print_stats(method_name[m], &wall[m], m + 1 < M_COUNT ? "," : "},");
    printf("\"balance_keys\":%zu,\"peak_to_mean\":{\"ring_keys\":%.4f,\"ring_exact_share\":%.4f,"
           "\"modulo\":%.4f,"
           "\"jump\":%.4f},",
           c->bkeys, b->ring_keys, b->ring_exact, b->modulo, b->jump);
    printf("\"moved_fraction_remove_one\":{\"ideal\":%.6f,\"ring\":%.6f,\"modulo\":%.6f,"
           "\"jump_swap_last\":%.6f},",
           1.0 / o->ranks, b->moved_ring, b->moved_modulo, b->moved_jump);
    /* Timed once each: a sample of one. */
    printf("\"build_ms\":{\"median\":%.1f,\"min\":%.1f,\"max\":%.1f,\"n\":1},"
           "\"remove_ms\":{\"median\":%.1f,\"min\":%.1f,\"max\":%.1f,\"n\":1}}\n",
           b->build_ms, b->build_ms, b->build_ms, b->remove_ms, b->remove_ms, b->remove_ms);
}

int main(int argc, char **argv)
{
    struct opts o;
    struct ctx c;
    if (parse_opts(argc, argv, &o) < 0) {
        fprintf(stderr, "usage: bench_ring [--ranks N] [--vnodes V] [--runs R] [--keys K]\n");
        return 2;
    }
    if (setup(&c, &o) < 0) {
        fprintf(stderr, "bench_ring: setup failed\n");
        return 1;
    }
    struct balance b = {0};
    b.build_ms = c.build_ms;
    struct stats res[M_COUNT], wall[M_COUNT];
    bench_lookups(&c, res, wall);
    grow_keys(&c);
    bench_balance(&c, o.ranks / 2 - 1, &b);
    report(&c, res, wall, &b);
    rm_ring_destroy(c.ring);
    free(c.hashes);
    free(c.out);
    free(c.mem);
    return 0;
}
