/*
 * pagerank.c: the `pagerank` kernel: PageRank over an edge list, `src dst` per line.
 *
 *   ringmaster run pagerank --iterations N --damping D --input EDGES... --output RANKS.tsv
 *
 * Vertices are unsigned integers; every vertex named on a line is in the graph; repeated edges
 * count as many times as they appear; blank lines and lines starting with # are skipped. With V
 * vertices, every rank starts at 1/V and each iteration gives
 *     r'(v) = (1 - D) / V + D * (sum over edges u->v of r(u) / outdeg(u) + dangling / V),
 * where dangling is the rank held by vertices without out-edges. Output: `vertex<TAB>rank` lines
 * sorted by vertex (numerically).
 *
 * Vertices are split into --partitions parts by hash. Stages:
 *   parse      one task per input split: its edges go to the part of their source, and every
 *              vertex is also named in its own part (both kept in the shuffle store);
 *   count      one task per part: how many vertices it has;
 *   iteration  N stages of one task per part: rebuild the part's vertices and out-edges from
 *              the parse outputs, take their ranks from the previous iteration's contributions
 *              (or 1/V), and output the contributions to every part, summed per destination
 *              vertex (the combiner), plus the part's dangling rank;
 *   write      one task per part: the final ranks, as a part file.
 * The small shared state, V and the previous iteration's total dangling rank, travels through
 * the coordinator: when an iteration or the write stage starts, the leader sums the count
 * outputs and the previous iteration's dangling ranks (in task order) and commits the two
 * numbers to the task table; the stage announcement carries them to every rank.
 * The finishing leader sorts the parts' lines by vertex into the output.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xxhash.h>

#include "kernels/mrjob.h"
#include "kernels/output.h"
#include "kernels/stagestate.h"
#include "ringmaster.h"
#include "runtime/frame.h"
#include "runtime/log.h"
#include "scheduler/shuffle.h"

#define NONE UINT64_MAX /* a "vertex only" record: (v, NONE) */

struct pr {
    struct rm_mrjob base; /* first: see mrjob.h; its m splits are the parse tasks */
    uint32_t iterations;
    double damping;
    uint64_t *stage_tasks;
    uint32_t stages;
    uint64_t first[4];   /* first id of the count, first iteration, write stages; and the end */
    uint64_t vertices;   /* found by finish, for the summary */
    struct graph *cache; /* per part: its graph, once built here (nv == 0 and v NULL: not) */
    size_t cache_bytes;
    struct rm_stagestate shared; /* per stage from the first iteration: u64 V, f64 dangling */
};

static uint32_t part_of(uint64_t v, uint32_t parts)
{
    return (uint32_t)(XXH3_64bits(&v, sizeof v) % parts);
}

/* ---- the buffers: arrays of (u64, u64) records ----------------------------------------------- */

struct recs {
    unsigned char *p;
    size_t n, cap; /* records */
};

static int rec_add(struct recs *r, uint64_t a, uint64_t b)
{
    if (r->n == r->cap) {
        size_t c = r->cap ? 2 * r->cap : 1024;
        unsigned char *q = realloc(r->p, c * 16);
        if (!q)
            return RM_ENOMEM;
        r->p = q;
        r->cap = c;
    }
    rm_put_u64(r->p + 16 * r->n, a);
    rm_put_u64(r->p + 16 * r->n + 8, b);
    r->n++;
    return 0;
}

static void recs_free(struct recs *r, uint32_t n)
{
    for (uint32_t i = 0; r && i < n; i++)
        free(r[i].p);
    free(r);
}

/* Stores n record buffers (and optional extra parts) as task id's output. */
static int put_recs(struct pr *p, uint64_t id, struct recs *r, uint32_t n, const void *extra,
                    size_t extra_len)
{
    unsigned char **bufs = calloc(n + 1, sizeof *bufs);
    size_t *lens = calloc(n + 1, sizeof *lens);
    int rc = bufs && lens ? 0 : RM_ENOMEM;
    for (uint32_t i = 0; rc == 0 && i < n; i++) {
        bufs[i] = r[i].p;
        lens[i] = r[i].n * 16;
    }
    if (rc == 0 && extra) {
        bufs[n] = (unsigned char *)(uintptr_t)extra;
        lens[n] = extra_len;
    }
    if (rc == 0)
        rc = rm_shuffle_put(p->base.shuffle, id, n + (extra ? 1 : 0), bufs, lens);
    free(bufs);
    free(lens);
    return rc;
}

/* ---- parse --------------------------------------------------------------------------------------
 */

static int run_parse(struct pr *p, uint64_t id, char *err, size_t cap)
{
    char *text = NULL;
    size_t len = 0;
    int rc = rm_mrjob_read_split(&p->base, id, &text, &len, err, cap);
    if (rc != 0)
        return rc;
    uint32_t parts = p->base.r;
    struct recs *r = calloc(parts, sizeof *r);
    rc = r ? 0 : RM_ENOMEM;
    for (char *line = text, *next; rc == 0 && line < text + len; line = next) {
        char *nl = memchr(line, '\n', (size_t)(text + len - line));
        next = nl ? nl + 1 : text + len;
        if (nl)
            *nl = '\0';
        char *s = line + strspn(line, " \t\r");
        if (*s == '\0' || *s == '#')
            continue;
        unsigned long long a, b;
        int used = 0;
        if (sscanf(s, "%llu %llu %n", &a, &b, &used) != 2 || s[used] != '\0' || s[0] == '-' ||
            a == NONE || b == NONE) {
            snprintf(err, cap, "%s: not a 'src dst' line: '%.60s'",
                     p->base.in.files[p->base.splits[id].file].path, s);
            rc = RM_EINVAL;
            break;
        }
        rc = rec_add(&r[part_of(a, parts)], a, b);
        if (rc == 0)
            rc = rec_add(&r[part_of(b, parts)], b, NONE);
    }
    if (rc == 0)
        rc = put_recs(p, id, r, parts, NULL, 0);
    recs_free(r, parts);
    return rc;
}

/* ---- a part's graph
 * ------------------------------------------------------------------------------ */

struct vert {
    uint64_t v, deg;
    uint64_t first; /* its out-edges: dst[first .. first + deg) */
};

struct graph {
    struct vert *v;
    size_t nv;
    uint64_t *dst;
    bool cached; /* owned by the part cache (struct pr), not by the holder of this copy */
};

/* A part's graph follows from the parse outputs alone, which never change (a recomputed one
 * has the same bytes), so a worker keeps the graphs it built for the iterations that follow:
 * a part's tasks have the same key in every stage, so they come back to the same rank. The
 * cache is used by the worker thread only, up to this many bytes per rank. */
#define GRAPH_CACHE_BYTES (256u << 20)

static int cmp_rec(const void *a, const void *b)
{
    uint64_t x = rm_get_u64(a), y = rm_get_u64(b);
    if (x != y)
        return x < y ? -1 : 1;
    uint64_t p = rm_get_u64((const unsigned char *)a + 8),
             q = rm_get_u64((const unsigned char *)b + 8);
    return (p > q) - (p < q);
}

struct gathered {
    struct recs all;
};
static int gather_graph(void *arg, size_t m, unsigned char *buf, size_t len)
{
    struct gathered *g = arg;
    (void)m;
    int rc = len % 16 ? RM_ECORRUPT : 0;
    for (size_t i = 0; rc == 0 && i < len / 16; i++)
        rc = rec_add(&g->all, rm_get_u64(buf + 16 * i), rm_get_u64(buf + 16 * i + 8));
    free(buf);
    return rc;
}

/* Builds part r's vertices (sorted) and their out-edges from the parse outputs, or takes them
 * from the cache. */
static int load_graph(struct pr *p, uint32_t r, struct graph *g, char *err, size_t cap)
{
    if (p->cache && p->cache[r].v) {
        *g = p->cache[r];
        return 0;
    }
    struct gathered ga = {{0}};
    int rc = rm_mrjob_gather(&p->base, r, gather_graph, &ga, err, cap);
    if (rc != 0) {
        free(ga.all.p);
        return rc;
    }
    if (ga.all.n > 1) /* by vertex, then destination (NONE last) */
        qsort(ga.all.p, ga.all.n, 16, cmp_rec);
    g->v = malloc((ga.all.n + 1) * sizeof *g->v);
    g->dst = malloc((ga.all.n + 1) * sizeof *g->dst);
    g->nv = 0;
    if (!g->v || !g->dst) {
        free(ga.all.p);
        return RM_ENOMEM;
    }
    uint64_t ne = 0;
    for (size_t i = 0; i < ga.all.n; i++) {
        uint64_t a = rm_get_u64(ga.all.p + 16 * i), b = rm_get_u64(ga.all.p + 16 * i + 8);
        if (g->nv == 0 || g->v[g->nv - 1].v != a)
            g->v[g->nv++] = (struct vert){a, 0, ne};
        if (b != NONE) {
            g->dst[ne++] = b;
            g->v[g->nv - 1].deg++;
        }
    }
    free(ga.all.p);
    size_t bytes = (g->nv + 1) * sizeof *g->v + (ne + 1) * sizeof *g->dst;
    if (p->cache && p->cache_bytes + bytes <= GRAPH_CACHE_BYTES) {
        g->cached = true;
        p->cache[r] = *g;
        p->cache_bytes += bytes;
    }
    return 0;
}

static void graph_free(struct graph *g)
{
    if (g->cached)
        return;
    free(g->v);
    free(g->dst);
}

/* ---- the shared state: V, contributions, dangling rank
 * ------------------------------------------- */

/* Fetches part `part` of each task of stage st and hands it to fn. */
static int gather_stage(struct pr *p, uint32_t st, uint32_t part,
                        int (*fn)(void *arg, size_t m, unsigned char *buf, size_t len), void *arg,
                        char *err, size_t cap)
{
    uint64_t first = 0, n = p->stage_tasks[st];
    for (uint32_t k = 0; k < st; k++)
        first += p->stage_tasks[k];
    uint32_t *h = malloc((n ? n : 1) * sizeof *h);
    uint64_t *ids = malloc((n ? n : 1) * sizeof *ids);
    if (!h || !ids) {
        free(h);
        free(ids);
        return RM_ENOMEM;
    }
    pthread_mutex_lock(&p->base.mu);
    for (uint64_t i = 0; i < n; i++) {
        h[i] = p->base.holder[first + i];
        ids[i] = first + i;
    }
    pthread_mutex_unlock(&p->base.mu);
    size_t bad = 0;
    int rc = rm_shuffle_fetch_all(p->base.shuffle, (size_t)n, h, ids, part, fn, arg, &bad);
    if (rc != 0 && rc != RM_EDEAD && !err[0])
        snprintf(err, cap, "output %u of task %llu from rank %u: %s", part,
                 (unsigned long long)(first + bad), bad < n ? h[bad] : 0, rm_strerror(rc));
    free(h);
    free(ids);
    return rc;
}

static int sum_u64(void *arg, size_t m, unsigned char *buf, size_t len)
{
    (void)m;
    int rc = len == 8 ? 0 : RM_ECORRUPT;
    if (rc == 0)
        *(uint64_t *)arg += rm_get_u64(buf);
    free(buf);
    return rc;
}

static int sum_f64(void *arg, size_t m, unsigned char *buf, size_t len)
{
    (void)m;
    int rc = len == 8 ? 0 : RM_ECORRUPT;
    if (rc == 0) {
        uint64_t bits = rm_get_u64(buf);
        double x;
        memcpy(&x, &bits, 8);
        *(double *)arg += x;
    }
    free(buf);
    return rc;
}

struct contrib {
    const struct graph *g;
    double *in; /* per vertex of the part */
};

static int add_contribs(void *arg, size_t m, unsigned char *buf, size_t len)
{
    struct contrib *c = arg;
    (void)m;
    int rc = len % 16 ? RM_ECORRUPT : 0;
    for (size_t i = 0; rc == 0 && i < len / 16; i++) {
        uint64_t v = rm_get_u64(buf + 16 * i), bits = rm_get_u64(buf + 16 * i + 8);
        double x;
        memcpy(&x, &bits, 8);
        size_t lo = 0, hi = c->g->nv; /* binary search: the vertices are sorted */
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (c->g->v[mid].v < v)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo == c->g->nv || c->g->v[lo].v != v)
            rc = RM_ECORRUPT; /* a contribution to a vertex that is not in this part */
        else
            c->in[lo] += x;
    }
    free(buf);
    return rc;
}

/* The ranks of part r's vertices going into iteration it (0-based): 1/V, or from the previous
 * iteration's outputs. */
static int ranks_in(struct pr *p, uint32_t r, uint32_t it, const struct graph *g, uint64_t nv,
                    double dangling, double *rank, char *err, size_t cap)
{
    if (it == 0) {
        for (size_t i = 0; i < g->nv; i++)
            rank[i] = 1.0 / (double)nv;
        return 0;
    }
    uint32_t prev = 2 + it - 1; /* the stage of the previous iteration */
    struct contrib c = {g, rank};
    for (size_t i = 0; i < g->nv; i++)
        rank[i] = 0;
    int rc = gather_stage(p, prev, r, add_contribs, &c, err, cap);
    double d = p->damping;
    for (size_t i = 0; rc == 0 && i < g->nv; i++)
        rank[i] = (1.0 - d) / (double)nv + d * (rank[i] + dangling / (double)nv);
    return rc;
}

/* Leader: the shared state of stage st: none for the count stage; from the first iteration
 * on, V (the sum of the count outputs) and the total dangling rank of the previous iteration
 * (0 for the first), summed in task order so that any leader computes the same bytes. */
static int pr_stage_state(void *ctx, uint32_t st, unsigned char **data, size_t *len, char *err,
                          size_t cap)
{
    struct pr *p = ctx;
    *len = st < 2 ? 0 : 16;
    if (!(*data = malloc(16)))
        return RM_ENOMEM;
    uint64_t nv = 0;
    double dangling = 0;
    int rc = st < 2 ? 0 : gather_stage(p, 1, 0, sum_u64, &nv, err, cap);
    if (rc == 0 && st > 2)
        rc = gather_stage(p, st - 1, p->base.r, sum_f64, &dangling, err, cap);
    uint64_t bits;
    memcpy(&bits, &dangling, 8);
    rm_put_u64(*data, nv);
    rm_put_u64(*data + 8, bits);
    return rc;
}

static void pr_state(void *ctx, uint32_t stage, const void *data, size_t len)
{
    struct pr *p = ctx;
    rm_stagestate_set(&p->shared, stage, data, len);
}

/* V and the previous iteration's dangling rank, as the coordinator committed them for stage
 * st (an iteration or the write stage). */
static int shared_state(struct pr *p, uint32_t st, uint64_t *nv, double *dangling, char *err,
                        size_t cap)
{
    unsigned char b[16];
    int rc = rm_stagestate_get(&p->shared, st, b, sizeof b, err, cap);
    if (rc != 0)
        return rc;
    *nv = rm_get_u64(b);
    uint64_t bits = rm_get_u64(b + 8);
    memcpy(dangling, &bits, 8);
    return 0;
}

/* ---- the stages
 * ----------------------------------------------------------------------------------- */

static int run_count(struct pr *p, uint64_t id, uint32_t r, char *err, size_t cap)
{
    struct graph g = {0};
    int rc = load_graph(p, r, &g, err, cap);
    unsigned char n[8];
    rm_put_u64(n, g.nv);
    if (rc == 0)
        rc = put_recs(p, id, NULL, 0, n, sizeof n);
    graph_free(&g);
    return rc;
}

/* Part r's graph and its vertices' ranks going into iteration it; *rank is malloc'd (the
 * caller frees it and the graph, on error too). */
static int part_ranks(struct pr *p, uint32_t r, uint32_t it, struct graph *g, double **rank,
                      char *err, size_t cap)
{
    uint64_t nv = 0;
    double dangling = 0;
    *rank = NULL;
    int rc = shared_state(p, 2 + it, &nv, &dangling, err, cap);
    if (rc == 0)
        rc = load_graph(p, r, g, err, cap);
    if (rc == 0 && !(*rank = malloc((g->nv + 1) * sizeof **rank)))
        rc = RM_ENOMEM;
    if (rc == 0)
        rc = ranks_in(p, r, it, g, nv, dangling, *rank, err, cap);
    return rc;
}

/* The map-side combiner of an iteration: one sum per destination vertex, in an open-addressing
 * table (linear probing; NONE marks a free slot). Shares are added in edge order and the table
 * is walked in slot order, so the same graph always gives the same bytes. */
struct combiner {
    uint64_t *v;
    double *x;
    size_t mask;
};

static int combiner_init(struct combiner *c, uint64_t edges)
{
    size_t cap = 16;
    while (cap < 2 * edges + 2)
        cap *= 2;
    c->mask = cap - 1;
    c->v = malloc(cap * sizeof *c->v);
    c->x = calloc(cap, sizeof *c->x);
    if (!c->v || !c->x)
        return RM_ENOMEM;
    memset(c->v, 0xff, cap * sizeof *c->v);
    return 0;
}

static void combiner_add(struct combiner *c, uint64_t w, double share)
{
    size_t i = (size_t)((w * UINT64_C(0x9E3779B97F4A7C15)) >> 20) & c->mask;
    while (c->v[i] != NONE && c->v[i] != w)
        i = (i + 1) & c->mask;
    c->v[i] = w;
    c->x[i] += share;
}

static int run_iteration(struct pr *p, uint64_t id, uint32_t r, uint32_t it, char *err, size_t cap)
{
    struct graph g = {0};
    double *rank;
    struct combiner cb = {0};
    int rc = part_ranks(p, r, it, &g, &rank, err, cap);
    struct recs *out = rc == 0 ? calloc(p->base.r, sizeof *out) : NULL;
    if (rc == 0 && !out)
        rc = RM_ENOMEM;
    if (rc == 0)
        rc = combiner_init(&cb, g.nv ? g.v[g.nv - 1].first + g.v[g.nv - 1].deg : 0);
    double dangling = 0;
    for (size_t i = 0; rc == 0 && i < g.nv; i++) {
        if (g.v[i].deg == 0) {
            dangling += rank[i];
            continue;
        }
        double share = rank[i] / (double)g.v[i].deg;
        for (uint64_t e = 0; e < g.v[i].deg; e++)
            combiner_add(&cb, g.dst[g.v[i].first + e], share);
    }
    for (size_t i = 0; rc == 0 && i <= cb.mask; i++) {
        if (cb.v[i] == NONE)
            continue;
        uint64_t bits;
        memcpy(&bits, &cb.x[i], 8);
        rc = rec_add(&out[part_of(cb.v[i], p->base.r)], cb.v[i], bits);
    }
    unsigned char d[8];
    uint64_t dbits;
    memcpy(&dbits, &dangling, 8);
    rm_put_u64(d, dbits);
    if (rc == 0)
        rc = put_recs(p, id, out, p->base.r, d, sizeof d);
    recs_free(out, p->base.r);
    free(cb.v);
    free(cb.x);
    free(rank);
    graph_free(&g);
    return rc;
}

struct writing {
    const struct graph *g;
    const double *rank;
};

static int write_ranks(void *arg, FILE *f)
{
    struct writing *w = arg;
    for (size_t i = 0; i < w->g->nv; i++)
        if (fprintf(f, "%" PRIu64 "\t%.17g\n", w->g->v[i].v, w->rank[i]) < 0)
            return RM_EIO;
    return 0;
}

static int run_write(struct pr *p, uint32_t r, uint32_t attempt, char *err, size_t cap)
{
    struct graph g = {0};
    double *rank;
    int rc = part_ranks(p, r, p->iterations, &g, &rank, err, cap);
    struct writing w = {&g, rank};
    if (rc == 0)
        rc = rm_mrjob_write_part(&p->base, r, attempt, write_ranks, &w, err, cap);
    free(rank);
    graph_free(&g);
    return rc;
}

static int pr_run(void *ctx, uint64_t id, uint32_t attempt, char *err, size_t cap)
{
    struct pr *p = ctx;
    if (id < p->first[0])
        return run_parse(p, id, err, cap);
    if (id < p->first[1])
        return run_count(p, id, (uint32_t)(id - p->first[0]), err, cap);
    if (id < p->first[2]) {
        uint64_t k = id - p->first[1];
        return run_iteration(p, id, (uint32_t)(k % p->base.r), (uint32_t)(k / p->base.r), err, cap);
    }
    return run_write(p, (uint32_t)(id - p->first[2]), attempt, err, cap);
}

/* ---- finish: the parts' lines sorted by vertex
 * ---------------------------------------------------- */

struct line {
    uint64_t v;
    char *text;
};

static int by_vertex(const void *a, const void *b)
{
    uint64_t x = ((const struct line *)a)->v, y = ((const struct line *)b)->v;
    return (x > y) - (x < y);
}

static int pr_finish(void *ctx)
{
    struct pr *p = ctx;
    size_t plen = strlen(p->base.parts) + 32, n = 0, capl = 0;
    char *path = malloc(plen), *buf = NULL;
    size_t bcap = 0;
    struct line *lines = NULL;
    int rc = path ? 0 : RM_ENOMEM;
    for (uint32_t r = 0; rc == 0 && r < p->base.r; r++) {
        snprintf(path, plen, "%s/%u", p->base.parts, r);
        FILE *f = fopen(path, "re");
        if (!f) {
            rm_error("pagerank: part %u of the output is missing (%s): is the output directory "
                     "shared by every rank?",
                     r, path);
            rc = RM_EIO;
            break;
        }
        ssize_t got;
        while (rc == 0 && (got = getline(&buf, &bcap, f)) > 0) {
            if (n == capl) {
                capl = capl ? 2 * capl : 4096;
                struct line *q = realloc(lines, capl * sizeof *q);
                if (!q) {
                    rc = RM_ENOMEM;
                    break;
                }
                lines = q;
            }
            lines[n].v = strtoull(buf, NULL, 10);
            if (!(lines[n].text = strndup(buf, (size_t)got)))
                rc = RM_ENOMEM;
            else
                n++;
        }
        fclose(f);
    }
    if (rc == 0 && n > 1)
        qsort(lines, n, sizeof *lines, by_vertex);
    size_t ol = strlen(p->base.output) + 32;
    char *tmp = malloc(ol);
    FILE *out = NULL;
    if (rc == 0 && tmp) {
        snprintf(tmp, ol, "%s.tmp.%d", p->base.output, (int)getpid());
        out = fopen(tmp, "we");
    }
    if (rc == 0 && !out)
        rc = RM_EIO;
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (fputs(lines[i].text, out) == EOF)
            rc = RM_EIO;
    if (out && (fflush(out) != 0 || fsync(fileno(out)) != 0) && rc == 0)
        rc = RM_EIO;
    if (out && fclose(out) != 0 && rc == 0)
        rc = RM_EIO;
    if (rc == 0 && rename(tmp, p->base.output) != 0)
        rc = RM_EIO;
    if (rc == RM_EIO)
        rm_error("pagerank: cannot write %s: %s", p->base.output, strerror(errno));
    if (rc != 0 && tmp)
        unlink(tmp);
    if (rc == 0)
        rm_output_remove_parts(p->base.parts);
    p->vertices = n;
    for (size_t i = 0; i < n; i++)
        free(lines[i].text);
    free(lines);
    free(buf);
    free(path);
    free(tmp);
    return rc;
}

static void pr_summary(void *ctx, const struct rm_farm_stats *st, const struct rm_tasktable *tt)
{
    struct pr *p = ctx;
    printf("pagerank: %" PRIu64 " vertices, %u iterations (damping %g) in %.3f s; %llu "
           "rescheduled, %llu outputs recomputed; output: %s\n",
           p->vertices, p->iterations, p->damping, st->seconds, (unsigned long long)tt->rescheduled,
           (unsigned long long)tt->lost, p->base.output);
}

static void pr_describe(void *ctx, uint64_t id, char *buf, size_t cap)
{
    struct pr *p = ctx;
    if (id < p->first[0])
        rm_mrjob_describe(ctx, id, buf, cap);
    else if (id < p->first[1])
        snprintf(buf, cap, "pagerank count task %llu", (unsigned long long)id);
    else if (id < p->first[2])
        snprintf(buf, cap, "pagerank iteration %llu task %llu",
                 (unsigned long long)((id - p->first[1]) / p->base.r + 1), (unsigned long long)id);
    else
        snprintf(buf, cap, "pagerank write task %llu", (unsigned long long)id);
}

static void pr_holders(void *ctx, uint32_t stage, uint64_t first, uint32_t n,
                       const uint32_t *holders)
{
    struct pr *p = ctx;
    if (first != 0 || n > p->first[3])
        return;
    pthread_mutex_lock(&p->base.mu);
    memcpy(p->base.holder, holders, (size_t)n * sizeof *holders);
    pthread_mutex_unlock(&p->base.mu);
    (void)stage;
}

static void pr_release(void *ctx)
{
    struct pr *p = ctx;
    for (uint32_t i = 0; p->cache && i < p->base.r; i++) {
        free(p->cache[i].v);
        free(p->cache[i].dst);
    }
    free(p->cache);
    free(p->stage_tasks);
    rm_stagestate_close(&p->shared);
    rm_mrjob_close(&p->base);
}

int rm_kernel_pagerank_open(const struct rm_options *opts, int rank, struct rm_farm_kernel **out,
                            char *err, size_t cap)
{
    struct {
        struct rm_farm_kernel k;
        struct pr p;
    } *b = calloc(1, sizeof *b);
    if (!b)
        return RM_ENOMEM;
    struct pr *p = &b->p;
    p->base.release = pr_release;
    p->iterations = opts->iterations;
    p->damping = opts->damping;
    int rc = rm_mrjob_open(&p->base, "pagerank", opts, opts->split_size, rank, err, cap);
    if (rc != 0) {
        free(b);
        return rc;
    }
    uint32_t r = p->base.r;
    p->stages = 2 + p->iterations + 1;
    p->stage_tasks = malloc(p->stages * sizeof *p->stage_tasks);
    uint64_t total = p->base.m + (uint64_t)r * (p->iterations + 2);
    free(p->base.holder); /* the holders of every task, not only the parse tasks */
    p->base.holder = calloc(total, sizeof *p->base.holder);
    p->cache = calloc(r, sizeof *p->cache);
    if (!p->stage_tasks || !p->base.holder || !p->cache)
        rc = RM_ENOMEM;
    if (rc == 0)
        rc = rm_stagestate_init(&p->shared, p->stages);
    if (rc == 0) {
        p->stage_tasks[0] = p->base.m;
        for (uint32_t s = 1; s < p->stages; s++)
            p->stage_tasks[s] = r;
        p->first[0] = p->base.m;
        p->first[1] = p->first[0] + r;
        p->first[2] = p->first[1] + (uint64_t)r * p->iterations;
        p->first[3] = p->first[2] + r;
        rc = rm_mrjob_prepare_output(&p->base, opts, err, cap); /* last: makes the parts dir */
    }
    if (rc != 0) {
        pr_release(p);
        free(b);
        return rc;
    }
    rm_mrjob_kernel(&p->base, &b->k);
    b->k.tasks = total;
    b->k.stages = p->stages;
    b->k.stage_tasks = p->stage_tasks;
    b->k.holders = pr_holders;
    b->k.stage_state = pr_stage_state;
    b->k.state = pr_state;
    b->k.describe = pr_describe;
    b->k.run = pr_run;
    b->k.finish = pr_finish;
    b->k.summary = pr_summary;
    *out = &b->k;
    return 0;
}
