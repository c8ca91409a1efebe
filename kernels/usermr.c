/*
 * usermr.c: a user's map-reduce job (struct rm_job, ringmaster.h) as a kernel of the farm.
 *
 * Stage 0 maps the splits; each map task's pairs are cut into partitions by XXH3-64(key) mod
 * partitions, combined per key when the job has a combiner, and kept in the shuffle store.
 * Stage 1 reduces: task r gathers partition r of every map output, sorts the pairs by key
 * (then by map task and emit order, so equal keys keep a stable order), calls reduce() once per
 * key and writes its output lines as OUTPUT.parts/r. The finishing leader merges the sorted
 * parts into OUTPUT. As for wordcount, outputs held by a dead rank are recomputed.
 *
 * Pair records in a partition buffer: u32 key length, u32 value length, key, value.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xxhash.h>

#include "kernels/mrjob.h"
#include "kernels/output.h"
#include "ringmaster.h"
#include "runtime/frame.h"
#include "runtime/log.h"
#include "scheduler/shuffle.h"

#define MAX_KEY 65535u
#define MAX_VALUE (1u << 30)

struct buf {
    unsigned char *p;
    size_t len, cap;
};

enum emit_mode { EMIT_PARTS, EMIT_OUTPUT };

struct rm_emitter {
    enum emit_mode mode;
    uint32_t parts;
    struct buf *bufs; /* EMIT_PARTS: one per partition */
    FILE *out;        /* EMIT_OUTPUT */
    const char *path; /* the split's file, while mapping */
    int error;
};

struct pair {
    const unsigned char *key, *value;
    uint32_t klen, vlen;
    uint64_t seq; /* stable order among equal keys */
};

struct rm_values {
    const struct pair *p;
    size_t n, next;
};

struct umr {
    struct rm_mrjob base; /* first: see mrjob.h */
    const struct rm_job *job;
    uint64_t lines; /* output lines, counted by finish */
};

/* ---- emitting ----------------------------------------------------------------------------------
 */

static int buf_append(struct buf *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        unsigned char *q = realloc(b->p, cap);
        if (!q)
            return RM_ENOMEM;
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
    return 0;
}

int rm_emit(struct rm_emitter *out, const char *key, size_t klen, const char *value, size_t vlen)
{
    if (!out || !key || klen == 0 || klen > MAX_KEY || (!value && vlen) || vlen > MAX_VALUE)
        return RM_EINVAL;
    int rc = 0;
    if (out->mode == EMIT_OUTPUT) {
        if (memchr(key, '\t', klen) || memchr(key, '\n', klen) ||
            (vlen && memchr(value, '\n', vlen)))
            return RM_EINVAL;
        if (fwrite(key, 1, klen, out->out) != klen || fputc('\t', out->out) == EOF ||
            (vlen && fwrite(value, 1, vlen, out->out) != vlen) || fputc('\n', out->out) == EOF)
            rc = RM_EIO;
    } else {
        struct buf *b = &out->bufs[XXH3_64bits(key, klen) % out->parts];
        unsigned char h[8];
        rm_put_u32(h, (uint32_t)klen);
        rm_put_u32(h + 4, (uint32_t)vlen);
        rc = buf_append(b, h, 8);
        if (rc == 0)
            rc = buf_append(b, key, klen);
        if (rc == 0 && vlen)
            rc = buf_append(b, value, vlen);
    }
    if (rc != 0 && out->error == 0)
        out->error = rc;
    return rc;
}

const char *rm_emitter_path(const struct rm_emitter *out)
{
    return out ? out->path : NULL;
}

int rm_values_next(struct rm_values *v, const char **value, size_t *vlen)
{
    if (!v || v->next >= v->n)
        return 0;
    const struct pair *p = &v->p[v->next++];
    *value = (const char *)p->value;
    *vlen = p->vlen;
    return 1;
}

/* ---- pairs: parse, sort, group ------------------------------------------------------------------
 */

/* Appends the pairs of one buffer to *ps; seq continues from *seq. RM_ECORRUPT if malformed. */
static int parse_pairs(const unsigned char *p, size_t len, struct pair **ps, size_t *n, size_t *cap,
                       uint64_t *seq)
{
    for (size_t off = 0; off < len;) {
        if (len - off < 8)
            return RM_ECORRUPT;
        uint32_t kl = rm_get_u32(p + off), vl = rm_get_u32(p + off + 4);
        if (kl == 0 || kl > MAX_KEY || vl > MAX_VALUE || len - off - 8 < (size_t)kl + vl)
            return RM_ECORRUPT;
        if (*n == *cap) {
            size_t c = *cap ? *cap * 2 : 1024;
            struct pair *q = realloc(*ps, c * sizeof *q);
            if (!q)
                return RM_ENOMEM;
            *ps = q;
            *cap = c;
        }
        (*ps)[(*n)++] = (struct pair){p + off + 8, p + off + 8 + kl, kl, vl, (*seq)++};
        off += 8 + (size_t)kl + vl;
    }
    return 0;
}

static int pair_cmp(const void *a, const void *b)
{
    const struct pair *x = a, *y = b;
    size_t n = x->klen < y->klen ? x->klen : y->klen;
    int c = memcmp(x->key, y->key, n);
    if (c)
        return c;
    if (x->klen != y->klen)
        return x->klen < y->klen ? -1 : 1;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

static bool same_key(const struct pair *a, const struct pair *b)
{
    return a->klen == b->klen && memcmp(a->key, b->key, a->klen) == 0;
}

/* Sorts the pairs and calls fn once per key, emitting into out. */
static int group(const struct rm_job *job, rm_reduce_fn fn, struct pair *ps, size_t n,
                 struct rm_emitter *out, char *err, size_t cap)
{
    if (n > 1) /* ps may be NULL when there is nothing */
        qsort(ps, n, sizeof *ps, pair_cmp);
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && same_key(&ps[i], &ps[j]))
            j++;
        struct rm_values v = {ps + i, j - i, 0};
        int rc = fn(job->user, (const char *)ps[i].key, ps[i].klen, &v, out);
        if (rc == 0)
            rc = out->error;
        if (rc != 0) {
            snprintf(err, cap, "%s: %s() failed on key '%.*s': %s", job->name,
                     fn == job->reduce ? "reduce" : "combine",
                     (int)(ps[i].klen > 60 ? 60 : ps[i].klen), (const char *)ps[i].key,
                     rm_strerror(rc));
            return rc;
        }
        i = j;
    }
    return 0;
}

/* ---- tasks -------------------------------------------------------------------------------------
 */

static void free_bufs(struct buf *b, uint32_t n)
{
    for (uint32_t i = 0; b && i < n; i++)
        free(b[i].p);
    free(b);
}

/* Replaces each partition's pairs by the combiner's output for them. */
static int combine_parts(struct umr *u, struct buf **bufs, char *err, size_t cap)
{
    uint32_t r = u->base.r;
    struct buf *out = calloc(r, sizeof *out);
    struct rm_emitter em = {.mode = EMIT_PARTS, .parts = r, .bufs = out};
    struct pair *ps = NULL;
    size_t n, pcap = 0;
    int rc = out ? 0 : RM_ENOMEM;
    for (uint32_t p = 0; rc == 0 && p < r; p++) {
        uint64_t seq = 0;
        n = 0;
        rc = parse_pairs((*bufs)[p].p, (*bufs)[p].len, &ps, &n, &pcap, &seq);
        if (rc == 0)
            rc = group(u->job, u->job->combine, ps, n, &em, err, cap);
    }
    free(ps);
    if (rc != 0) {
        free_bufs(out, r);
        return rc;
    }
    free_bufs(*bufs, r);
    *bufs = out;
    return 0;
}

static int run_map(struct umr *u, uint64_t id, char *err, size_t cap)
{
    char *text = NULL;
    size_t len = 0;
    int rc = rm_mrjob_read_split(&u->base, id, &text, &len, err, cap);
    if (rc != 0)
        return rc;
    uint32_t r = u->base.r;
    struct buf *bufs = calloc(r, sizeof *bufs);
    struct rm_emitter em = {.mode = EMIT_PARTS,
                            .parts = r,
                            .bufs = bufs,
                            .path = u->base.in.files[u->base.splits[id].file].path};
    rc = bufs ? u->job->map(u->job->user, text, len, &em) : RM_ENOMEM;
    if (rc == 0)
        rc = em.error;
    if (rc != 0 && !err[0])
        snprintf(err, cap, "%s: map() failed on split %llu: %s", u->job->name,
                 (unsigned long long)id, rm_strerror(rc));
    if (rc == 0 && u->job->combine)
        rc = combine_parts(u, &bufs, err, cap);
    unsigned char **ptrs = calloc(r, sizeof *ptrs);
    size_t *lens = calloc(r, sizeof *lens);
    if (rc == 0 && (!ptrs || !lens))
        rc = RM_ENOMEM;
    for (uint32_t p = 0; rc == 0 && p < r; p++) {
        ptrs[p] = bufs[p].p;
        lens[p] = bufs[p].len;
    }
    if (rc == 0)
        rc = rm_shuffle_put(u->base.shuffle, id, r, ptrs, lens);
    free(ptrs);
    free(lens);
    free_bufs(bufs, r);
    return rc;
}

struct gathered {
    unsigned char **got; /* per map task: its fetched partition, owned */
    struct pair *ps;
    size_t n, cap;
    uint64_t seq;
};

static int gather_pairs(void *arg, size_t m, unsigned char *buf, size_t len)
{
    struct gathered *g = arg;
    g->got[m] = buf;
    return parse_pairs(buf, len, &g->ps, &g->n, &g->cap, &g->seq);
}

struct reducing {
    struct umr *u;
    struct gathered *g;
    char *err;
    size_t cap;
};

static int write_groups(void *arg, FILE *f)
{
    struct reducing *rd = arg;
    struct rm_emitter em = {.mode = EMIT_OUTPUT, .out = f};
    return group(rd->u->job, rd->u->job->reduce, rd->g->ps, rd->g->n, &em, rd->err, rd->cap);
}

static int run_reduce(struct umr *u, uint32_t r, uint32_t attempt, char *err, size_t cap)
{
    struct gathered g = {.got = calloc(u->base.m ? u->base.m : 1, sizeof *g.got)};
    int rc = g.got ? rm_mrjob_gather(&u->base, r, gather_pairs, &g, err, cap) : RM_ENOMEM;
    struct reducing rd = {u, &g, err, cap};
    if (rc == 0)
        rc = rm_mrjob_write_part(&u->base, r, attempt, write_groups, &rd, err, cap);
    for (size_t m = 0; g.got && m < u->base.m; m++)
        free(g.got[m]);
    free(g.got);
    free(g.ps);
    return rc;
}

static int umr_run(void *ctx, uint64_t id, uint32_t attempt, char *err, size_t cap)
{
    struct umr *u = ctx;
    return id < u->base.m ? run_map(u, id, err, cap)
                          : run_reduce(u, (uint32_t)(id - u->base.m), attempt, err, cap);
}

/* ---- the rest of the kernel --------------------------------------------------------------------
 */

static void umr_release(void *ctx)
{
    rm_mrjob_close(ctx);
}

static void count_line(void *ctx, const char *line, size_t klen, size_t len)
{
    struct umr *u = ctx;
    (void)line;
    (void)klen;
    (void)len;
    u->lines++;
}

static int umr_finish(void *ctx)
{
    struct umr *u = ctx;
    u->lines = 0;
    return rm_output_merge_sorted(u->base.parts, u->base.r, u->base.output, count_line, u,
                                  u->job->name);
}

static void umr_summary(void *ctx, const struct rm_farm_stats *st, const struct rm_tasktable *tt)
{
    struct umr *u = ctx;
    printf("%s: %llu output lines in %.3f s; %zu map and %u reduce tasks, %llu rescheduled, "
           "%llu outputs recomputed; output: %s\n",
           u->job->name, (unsigned long long)u->lines, st->seconds, u->base.m, u->base.r,
           (unsigned long long)tt->rescheduled, (unsigned long long)tt->lost, u->base.output);
}

int rm_kernel_usermr_open(const struct rm_options *opts, const struct rm_job *job, int rank,
                          struct rm_farm_kernel **out, char *err, size_t cap)
{
    if (!job || !job->map || !job->reduce || !job->name) {
        snprintf(err, cap, "the job needs a name, a map and a reduce function");
        return RM_EINVAL;
    }
    struct {
        struct rm_farm_kernel k;
        struct umr u;
    } *b = calloc(1, sizeof *b);
    if (!b)
        return RM_ENOMEM;
    struct umr *u = &b->u;
    u->base.release = umr_release;
    u->job = job;
    int rc = rm_mrjob_open(&u->base, job->name, opts, opts->split_size, rank, err, cap);
    if (rc == 0) /* last: it creates the parts directory */
        rc = rm_mrjob_prepare_output(&u->base, opts, err, cap);
    if (rc != 0) {
        free(b);
        return rc;
    }
    rm_mrjob_kernel(&u->base, &b->k);
    b->k.output_kept = rm_mrjob_output_kept;
    b->k.run = umr_run;
    b->k.finish = umr_finish;
    b->k.summary = umr_summary;
    *out = &b->k;
    return 0;
}
