/*
 * test_ring: the consistent-hash ring (scheduler/ring.h) at 1,000 ranks and on small rings.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>
#include <xxhash.h>

#include "scheduler/ring.h"

#define NRANKS 1000u
#define NKEYS (1u << 20)
/* Balance is judged on 4M keys: with 1M keys over 1,000 ranks the sampling noise alone puts
 * the fullest rank about 10% over the mean, whatever the ring does. */
#define NKEYS_BALANCE (1u << 22)

static struct rm_ring *g_ring; /* NRANKS ranks 0..999, default vnodes */
static uint64_t *g_keys;       /* NKEYS_BALANCE hashes of distinct 8-byte keys */

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static void shuffle(uint32_t *v, size_t n, uint64_t seed)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(splitmix64(&seed) % i);
        uint32_t t = v[i - 1];
        v[i - 1] = v[j];
        v[j] = t;
    }
}

/* A ring with ranks first, first + stride, ... (n of them), added in one call. */
static struct rm_ring *make_ring(uint32_t vnodes, uint32_t n, uint32_t first, uint32_t stride)
{
    struct rm_ring *ring = NULL;
    uint32_t *ranks = malloc(n * sizeof *ranks);
    if (!ranks || rm_ring_create(vnodes, &ring) < 0)
        goto out;
    for (uint32_t i = 0; i < n; i++)
        ranks[i] = first + i * stride;
    if (rm_ring_add_many(ring, ranks, n) < 0) {
        rm_ring_destroy(ring);
        ring = NULL;
    }
out:
    free(ranks);
    return ring;
}

static int suite_init(void)
{
    g_ring = make_ring(0, NRANKS, 0, 1);
    g_keys = malloc(NKEYS_BALANCE * sizeof *g_keys);
    if (!g_ring || !g_keys)
        return -1;
    for (uint64_t i = 0; i < NKEYS_BALANCE; i++)
        g_keys[i] = rm_ring_hash(&i, sizeof i);
    return 0;
}

static int suite_clean(void)
{
    rm_ring_destroy(g_ring);
    free(g_keys);
    return 0;
}

static uint32_t *owners_of(const struct rm_ring *ring, size_t n)
{
    uint32_t *out = malloc(n * sizeof *out);
    if (out && rm_ring_owner_many(ring, g_keys, n, out) < 0) {
        free(out);
        out = NULL;
    }
    return out;
}

static double peak_to_mean(const uint32_t *owner, size_t n, uint32_t ranks)
{
    size_t *count = calloc(ranks + 1, sizeof *count), peak = 0;
    CU_ASSERT_FATAL(count != NULL);
    for (size_t i = 0; i < n; i++)
        count[owner[i] < ranks ? owner[i] : ranks]++;
    CU_ASSERT_EQUAL(count[ranks], 0); /* no owner outside 0..ranks-1 */
    for (uint32_t r = 0; r < ranks; r++)
        peak = count[r] > peak ? count[r] : peak;
    free(count);
    return (double)peak / ((double)n / ranks);
}

static void test_hash_is_xxh3(void)
{
    const char key[] = "input.txt:0-65536";
    CU_ASSERT_EQUAL(rm_ring_hash(key, strlen(key)), XXH3_64bits(key, strlen(key)));
    CU_ASSERT_EQUAL(rm_ring_hash(NULL, 0), XXH3_64bits(NULL, 0));
}

static void test_balance_keys(void)
{
    uint32_t *owner = owners_of(g_ring, NKEYS_BALANCE);
    CU_ASSERT_FATAL(owner != NULL);
    CU_ASSERT(peak_to_mean(owner, NKEYS_BALANCE, NRANKS) <= 1.10);
    free(owner);
}

static void test_balance_exact_shares(void)
{
    static double shares[NRANKS];
    double sum = 0.0, peak = 0.0, one = -1.0;
    CU_ASSERT_EQUAL(rm_ring_shares(g_ring, shares, NRANKS - 1), (int)NRANKS);
    CU_ASSERT_EQUAL_FATAL(rm_ring_shares(g_ring, shares, NRANKS), (int)NRANKS);
    for (uint32_t r = 0; r < NRANKS; r++) {
        sum += shares[r];
        peak = shares[r] > peak ? shares[r] : peak;
    }
    CU_ASSERT(fabs(sum - 1.0) < 1e-9);
    CU_ASSERT(peak * NRANKS <= 1.10);
    CU_ASSERT_EQUAL(rm_ring_share(g_ring, 123, &one), 0);
    CU_ASSERT(one == shares[123]);
}

/* Removing rank `gone` moves only its keys, each to the key's former second successor, and
 * about 1/N of all keys. Adding it back moves exactly those keys back: the ring depends only
 * on its membership. Runs on g_ring and leaves it as it found it. */
static void test_remove_and_add_back(void)
{
    const uint32_t gone = 417;
    uint32_t *before = owners_of(g_ring, NKEYS), succ[2];
    CU_ASSERT_FATAL(before != NULL);
    size_t owned = 0, wrong_heir = 0;
    for (size_t i = 0; i < NKEYS; i++)
        if (before[i] == gone) {
            owned++;
            CU_ASSERT_EQUAL_FATAL(rm_ring_successors(g_ring, g_keys[i], succ, 2), 2);
            before[i] = succ[1]; /* where the key should go */
        }
    CU_ASSERT_EQUAL_FATAL(rm_ring_remove(g_ring, gone), 0);
    uint32_t *after = owners_of(g_ring, NKEYS);
    CU_ASSERT_FATAL(after != NULL);
    for (size_t i = 0; i < NKEYS; i++)
        wrong_heir += before[i] != after[i];
    CU_ASSERT_EQUAL(wrong_heir, 0); /* unmoved keys kept their owner, moved ones went on */
    CU_ASSERT(owned > 0);
    CU_ASSERT((double)owned / NKEYS <= 1.1 / NRANKS);
    CU_ASSERT_EQUAL_FATAL(rm_ring_add(g_ring, gone), 0);
    uint32_t *back = owners_of(g_ring, NKEYS);
    CU_ASSERT_FATAL(back != NULL);
    size_t moved = 0, bad = 0;
    for (size_t i = 0; i < NKEYS; i++)
        if (back[i] != after[i]) {
            moved++;
            bad += back[i] != gone;
        }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(moved, owned);
    free(before);
    free(after);
    free(back);
}

static int has_duplicate(const uint32_t *v, int n)
{
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (v[i] == v[j])
                return 1;
    return 0;
}

static void check_successors(const struct rm_ring *ring, size_t n, size_t nkeys)
{
    uint32_t *out = malloc(n * sizeof *out);
    size_t want = n < rm_ring_size(ring) ? n : rm_ring_size(ring);
    CU_ASSERT_FATAL(out != NULL);
    for (size_t i = 0; i < nkeys; i++) {
        uint32_t owner = UINT32_MAX;
        int got = rm_ring_successors(ring, g_keys[i], out, n);
        CU_ASSERT_EQUAL_FATAL(got, (int)want);
        CU_ASSERT_EQUAL(rm_ring_owner(ring, g_keys[i], &owner), 0);
        CU_ASSERT_EQUAL(out[0], owner);
        CU_ASSERT_FATAL(!has_duplicate(out, got));
        for (int j = 0; j < got; j++)
            CU_ASSERT(rm_ring_contains(ring, out[j]));
    }
    free(out);
}

static void test_successors(void)
{
    check_successors(g_ring, 1, 1000);
    check_successors(g_ring, 3, 10000);
    check_successors(g_ring, 5, 10000);
    check_successors(g_ring, 64, 200);
    check_successors(g_ring, 65, 50);
    check_successors(g_ring, NRANKS, 3);
    check_successors(g_ring, NRANKS + 7, 3);
    struct rm_ring *small = make_ring(8, 3, 10, 10);
    CU_ASSERT_FATAL(small != NULL);
    check_successors(small, 5, 1000); /* only 3 members: 3 successors */
    check_successors(small, 2, 1000);
    rm_ring_destroy(small);
}

static void check_same_lookups(const struct rm_ring *a, const struct rm_ring *b, size_t nkeys)
{
    uint32_t sa[4], sb[4];
    size_t diff = 0;
    CU_ASSERT_EQUAL_FATAL(rm_ring_size(a), rm_ring_size(b));
    for (size_t i = 0; i < nkeys; i++) {
        int na = rm_ring_successors(a, g_keys[i], sa, 4);
        int nb = rm_ring_successors(b, g_keys[i], sb, 4);
        diff += na != nb || memcmp(sa, sb, (size_t)(na > 0 ? na : 0) * sizeof *sa) != 0;
    }
    CU_ASSERT_EQUAL(diff, 0);
}

/* One by one in shuffled order, in two shuffled batches, and with extra ranks added then
 * removed: all give the same ring. */
static void test_insertion_order(void)
{
    enum { N = 300, VN = 64 };
    uint32_t ranks[N + 20];
    struct rm_ring *a = make_ring(VN, N, 0, 3), *b = NULL, *c = NULL;
    CU_ASSERT_FATAL(a != NULL);
    CU_ASSERT_FATAL(rm_ring_create(VN, &b) == 0 && rm_ring_create(VN, &c) == 0);
    for (uint32_t i = 0; i < N; i++)
        ranks[i] = 3 * i;
    shuffle(ranks, N, 7);
    for (uint32_t i = 0; i < N; i++)
        CU_ASSERT_EQUAL_FATAL(rm_ring_add(b, ranks[i]), 0);
    for (uint32_t i = 0; i < 20; i++)
        ranks[N + i] = 3 * i + 1;
    shuffle(ranks, N + 20, 11);
    CU_ASSERT_EQUAL_FATAL(rm_ring_add_many(c, ranks, 150), 0);
    CU_ASSERT_EQUAL_FATAL(rm_ring_add_many(c, ranks + 150, N + 20 - 150), 0);
    for (uint32_t i = 0; i < 20; i++)
        CU_ASSERT_EQUAL_FATAL(rm_ring_remove(c, 3 * i + 1), 0);
    check_same_lookups(a, b, 50000);
    check_same_lookups(a, c, 50000);
    rm_ring_destroy(a);
    rm_ring_destroy(b);
    rm_ring_destroy(c);
}

struct ref_point {
    uint64_t pos;
    uint32_t rank;
};

static int cmp_ref_point(const void *x, const void *y)
{
    const struct ref_point *a = x, *b = y;
    if (a->pos != b->pos)
        return a->pos < b->pos ? -1 : 1;
    return (a->rank > b->rank) - (a->rank < b->rank);
}

/* The documented point formula, computed here independently of ring.c. */
static uint64_t doc_point(uint32_t rank, uint32_t idx)
{
    unsigned char buf[8];
    for (int i = 0; i < 4; i++) {
        buf[i] = (unsigned char)(rank >> (8 * i));
        buf[4 + i] = (unsigned char)(idx >> (8 * i));
    }
    return XXH3_64bits_withSeed(buf, sizeof buf, RM_RING_VNODE_SEED);
}

/* Owner of h by the definition: first point at or after h, else the first point. */
static uint32_t ref_owner(const struct ref_point *pts, size_t np, uint64_t h)
{
    size_t lo = 0, hi = np;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (pts[mid].pos < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    return pts[lo == np ? 0 : lo].rank;
}

static size_t count_mismatches(const struct rm_ring *ring, const struct ref_point *pts,
                               size_t np, const uint64_t *probe, size_t n)
{
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t got = UINT32_MAX;
        bad += rm_ring_owner(ring, probe[i], &got) != 0 || got != ref_owner(pts, np, probe[i]);
    }
    return bad;
}

/* Owners match the documented formula at, just before and just after every point, at both
 * ends of the hash space and for random hashes; on coarse and fine rings. */
static void check_documented_points(uint32_t n, uint32_t vn)
{
    size_t np = (size_t)n * vn;
    struct ref_point *pts = malloc(np * sizeof *pts);
    uint64_t *probe = malloc((3 * np + 2) * sizeof *probe);
    struct rm_ring *ring = make_ring(vn, n, 100, 7);
    CU_ASSERT_FATAL(pts && probe && ring);
    for (uint32_t m = 0; m < n; m++)
        for (uint32_t v = 0; v < vn; v++)
            pts[m * vn + v] = (struct ref_point){doc_point(100 + 7 * m, v), 100 + 7 * m};
    qsort(pts, np, sizeof *pts, cmp_ref_point);
    for (size_t i = 0; i < np; i++) {
        probe[3 * i] = pts[i].pos;
        probe[3 * i + 1] = pts[i].pos - 1;
        probe[3 * i + 2] = pts[i].pos + 1;
    }
    probe[3 * np] = 0;
    probe[3 * np + 1] = UINT64_MAX;
    CU_ASSERT_EQUAL(count_mismatches(ring, pts, np, probe, 3 * np + 2), 0);
    CU_ASSERT_EQUAL(count_mismatches(ring, pts, np, g_keys, 100000), 0);
    free(pts);
    free(probe);
    rm_ring_destroy(ring);
}

static void test_matches_documented_points(void)
{
    check_documented_points(1, 1);
    check_documented_points(3, 2);
    check_documented_points(20, 10);
    check_documented_points(100, 300);
    check_documented_points(20000, 1); /* 15-bit member ids, 17-bit fragments */
}

static void test_remove_any_member(void)
{
    struct rm_ring *ring = make_ring(32, 10, 0, 1);
    uint32_t got = 0, members[16];
    CU_ASSERT_FATAL(ring != NULL);
    CU_ASSERT_EQUAL(rm_ring_remove(ring, 4), 0);
    CU_ASSERT_EQUAL(rm_ring_remove(ring, 0), 0);
    CU_ASSERT_EQUAL(rm_ring_remove(ring, 4), RM_ENOENT);
    CU_ASSERT_EQUAL(rm_ring_size(ring), 8);
    CU_ASSERT(!rm_ring_contains(ring, 4) && rm_ring_contains(ring, 9));
    CU_ASSERT_EQUAL(rm_ring_members(ring, members, 16), 8);
    CU_ASSERT(members[0] == 1 && members[3] == 5 && members[7] == 9);
    size_t bad = 0;
    for (size_t i = 0; i < 100000; i++)
        bad += rm_ring_owner(ring, g_keys[i], &got) != 0 || got == 4 || got == 0 || got >= 10;
    CU_ASSERT_EQUAL(bad, 0);
    for (uint32_t r = 1; r < 10; r++)
        if (r != 4)
            CU_ASSERT_EQUAL(rm_ring_remove(ring, r), 0);
    CU_ASSERT_EQUAL(rm_ring_size(ring), 0);
    CU_ASSERT_EQUAL(rm_ring_owner(ring, 1, &got), RM_ENOENT);
    CU_ASSERT_EQUAL(rm_ring_add(ring, 77), 0);
    CU_ASSERT_EQUAL(rm_ring_owner(ring, 1, &got), 0);
    CU_ASSERT_EQUAL(got, 77);
    double share = 0.0;
    CU_ASSERT_EQUAL(rm_ring_share(ring, 77, &share), 0);
    CU_ASSERT(share == 1.0);
    rm_ring_destroy(ring);
}

static size_t max_load(const uint32_t *owner, size_t n, uint32_t ranks)
{
    size_t *count = calloc(ranks, sizeof *count), peak = 0;
    CU_ASSERT_FATAL(count != NULL);
    for (size_t i = 0; i < n; i++)
        count[owner[i]]++;
    for (uint32_t r = 0; r < ranks; r++)
        peak = count[r] > peak ? count[r] : peak;
    free(count);
    return peak;
}

/* Skewed keys (200 hot keys, each repeated) overload a few ranks on the plain ring; the
 * bounded mode caps every rank at ceil(c * n / members), deterministically. */
static void test_bounded_load(void)
{
    enum { N = 200000 };
    uint64_t *skew = malloc(N * sizeof *skew);
    uint32_t *a = malloc(N * sizeof *a), *b = malloc(N * sizeof *b);
    CU_ASSERT_FATAL(skew && a && b);
    for (size_t i = 0; i < N; i++)
        skew[i] = g_keys[i % 200];
    CU_ASSERT_EQUAL_FATAL(rm_ring_owner_many(g_ring, skew, N, a), 0);
    size_t cap = (size_t)ceil(1.25 * N / NRANKS);
    CU_ASSERT(max_load(a, N, NRANKS) >= 3 * cap);
    CU_ASSERT_EQUAL_FATAL(rm_ring_assign_bounded(g_ring, skew, N, 1.25, a), 0);
    CU_ASSERT(max_load(a, N, NRANKS) <= cap);
    CU_ASSERT_EQUAL_FATAL(rm_ring_assign_bounded(g_ring, skew, N, 1.25, b), 0);
    CU_ASSERT(memcmp(a, b, N * sizeof *a) == 0);
    /* Uniform keys: most keep their plain owner. */
    CU_ASSERT_EQUAL_FATAL(rm_ring_assign_bounded(g_ring, g_keys, N, 1.25, a), 0);
    CU_ASSERT_EQUAL_FATAL(rm_ring_owner_many(g_ring, g_keys, N, b), 0);
    CU_ASSERT(max_load(a, N, NRANKS) <= cap);
    size_t same = 0;
    for (size_t i = 0; i < N; i++)
        same += a[i] == b[i];
    CU_ASSERT(same > N * 99 / 100);
    /* c = 1 fills every rank to exactly n / members. */
    CU_ASSERT_EQUAL_FATAL(rm_ring_assign_bounded(g_ring, skew, N, 1.0, a), 0);
    CU_ASSERT(max_load(a, N, NRANKS) == N / NRANKS);
    free(skew);
    free(a);
    free(b);
}

static void test_errors(void)
{
    struct rm_ring *ring = NULL;
    uint32_t r = 0, out[4];
    uint64_t h = 1;
    double s = 0.0;
    CU_ASSERT_EQUAL(rm_ring_create(0, NULL), RM_EINVAL);
    CU_ASSERT_EQUAL(rm_ring_create(RM_RING_MAX_VNODES + 1, &ring), RM_EINVAL);
    CU_ASSERT_EQUAL_FATAL(rm_ring_create(16, &ring), 0);
    CU_ASSERT_EQUAL(rm_ring_vnodes(ring), 16);
    CU_ASSERT_EQUAL(rm_ring_owner(ring, 1, &r), RM_ENOENT);
    CU_ASSERT_EQUAL(rm_ring_owner_many(ring, &h, 1, &r), RM_ENOENT);
    CU_ASSERT_EQUAL(rm_ring_successors(ring, 1, out, 3), RM_ENOENT);
    CU_ASSERT_EQUAL(rm_ring_assign_bounded(ring, &h, 1, 1.25, &r), RM_ENOENT);
    CU_ASSERT_EQUAL(rm_ring_remove(ring, 3), RM_ENOENT);
    CU_ASSERT_EQUAL(rm_ring_share(ring, 3, &s), RM_ENOENT);
    CU_ASSERT_EQUAL(rm_ring_add(NULL, 1), RM_EINVAL);
    CU_ASSERT_EQUAL(rm_ring_add_many(ring, NULL, 2), RM_EINVAL);
    uint32_t dup[3] = {5, 6, 5};
    CU_ASSERT_EQUAL(rm_ring_add_many(ring, dup, 3), RM_EINVAL);
    CU_ASSERT_EQUAL(rm_ring_size(ring), 0);
    CU_ASSERT_EQUAL(rm_ring_add_many(ring, dup, 2), 0);
    CU_ASSERT_EQUAL(rm_ring_add(ring, 6), RM_EINVAL);
    CU_ASSERT_EQUAL(rm_ring_size(ring), 2);
    CU_ASSERT_EQUAL(rm_ring_remove(NULL, 5), RM_EINVAL);
    CU_ASSERT_EQUAL(rm_ring_remove(ring, 7), RM_ENOENT);
    CU_ASSERT_EQUAL(rm_ring_owner(NULL, 1, &r), RM_EINVAL);
    CU_ASSERT_EQUAL(rm_ring_owner(ring, 1, NULL), RM_EINVAL);
    CU_ASSERT_EQUAL(rm_ring_owner_many(ring, NULL, 1, &r), RM_EINVAL);
    CU_ASSERT_EQUAL(rm_ring_successors(ring, 1, NULL, 3), RM_EINVAL);
    CU_ASSERT_EQUAL(rm_ring_successors(ring, 1, out, 0), RM_EINVAL);
    CU_ASSERT_EQUAL(rm_ring_share(ring, 5, NULL), RM_EINVAL);
    CU_ASSERT_EQUAL(rm_ring_assign_bounded(ring, &h, 1, 0.9, &r), RM_EINVAL);
    CU_ASSERT_EQUAL(rm_ring_assign_bounded(ring, &h, 1, NAN, &r), RM_EINVAL);
    CU_ASSERT_EQUAL(rm_ring_assign_bounded(ring, NULL, 1, 1.5, &r), RM_EINVAL);
    CU_ASSERT_EQUAL(rm_ring_members(NULL, out, 4), RM_EINVAL);
    CU_ASSERT_EQUAL(rm_ring_shares(NULL, &s, 1), RM_EINVAL);
    CU_ASSERT_EQUAL(rm_ring_shares(ring, NULL, 1), RM_EINVAL);
    CU_ASSERT_EQUAL(rm_ring_members(ring, NULL, 0), 2);
    CU_ASSERT_EQUAL(rm_ring_size(NULL), 0);
    CU_ASSERT(!rm_ring_contains(NULL, 5));
    rm_ring_destroy(ring);
    rm_ring_destroy(NULL);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return CU_get_error();
    CU_pSuite s = CU_add_suite("ring", suite_init, suite_clean);
    if (!s || !CU_add_test(s, "hash is XXH3-64", test_hash_is_xxh3) ||
        !CU_add_test(s, "balance over 4M keys", test_balance_keys) ||
        !CU_add_test(s, "balance of exact shares", test_balance_exact_shares) ||
        !CU_add_test(s, "remove and add back", test_remove_and_add_back) ||
        !CU_add_test(s, "successors", test_successors) ||
        !CU_add_test(s, "insertion order", test_insertion_order) ||
        !CU_add_test(s, "documented points", test_matches_documented_points) ||
        !CU_add_test(s, "remove any member", test_remove_any_member) ||
        !CU_add_test(s, "bounded load", test_bounded_load) ||
        !CU_add_test(s, "errors", test_errors)) {
        CU_cleanup_registry();
        return CU_get_error();
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failures = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failures > 0 ? 1 : 0;
}
