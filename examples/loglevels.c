/*
 * loglevels.c: analytics over web-server-like logs with the Ringmaster C API.
 *
 *   mpirun --enable-recovery -np 4 ./loglevels --input logs/ --output report.tsv
 *
 * Each input line looks like
 *   2026-11-26T10:00:00Z INFO service=api status=200 latency_ms=123 path=/v1/items
 * (fields after the level in any order; other lines are skipped). The output has, for each
 * level, `level:LEVEL<TAB>count` and, for each service, `service:NAME<TAB>requests errors
 * mean_ms max_ms`, where an error is a status of 500 or more. Map emits one compact record
 * per line, the combiner folds a split's records per key, and reduce folds them again.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ringmaster.h>

/* A partial aggregate, as text: "count errors latency_sum latency_max". */
struct agg {
    uint64_t count, errors, sum, max;
};

static int emit_agg(struct rm_emitter *out, const char *key, size_t klen, const struct agg *a)
{
    char v[96];
    int n = snprintf(v, sizeof v, "%" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64, a->count,
                     a->errors, a->sum, a->max);
    return rm_emit(out, key, klen, v, (size_t)n);
}

/* The value of `name=` in the line [p, end), or NULL. */
static const char *field(const char *p, const char *end, const char *name, size_t *len)
{
    size_t nl = strlen(name);
    for (const char *q = p; q + nl < end; q++) {
        if ((q == p || q[-1] == ' ') && memcmp(q, name, nl) == 0 && q[nl] == '=') {
            const char *v = q + nl + 1, *e = memchr(v, ' ', (size_t)(end - v));
            *len = (size_t)((e ? e : end) - v);
            return v;
        }
    }
    return NULL;
}

static int map_line(const char *p, const char *end, struct rm_emitter *out)
{
    const char *sp = memchr(p, ' ', (size_t)(end - p));
    if (!sp)
        return 0;
    const char *lv = sp + 1, *lend = memchr(lv, ' ', (size_t)(end - lv));
    if (!lend || lend == lv)
        return 0;
    char key[160];
    int kn = snprintf(key, sizeof key, "level:%.*s", (int)(lend - lv), lv);
    struct agg one = {1, 0, 0, 0};
    int rc = emit_agg(out, key, (size_t)kn, &one);
    size_t sl = 0, tl = 0, ll = 0;
    const char *svc = field(lend, end, "service", &sl), *st = field(lend, end, "status", &tl),
               *lat = field(lend, end, "latency_ms", &ll);
    if (rc != 0 || !svc || !st || !lat || sl == 0 || sl > 100)
        return rc;
    one.errors = strtoul(st, NULL, 10) >= 500;
    one.sum = one.max = strtoull(lat, NULL, 10);
    kn = snprintf(key, sizeof key, "service:%.*s", (int)sl, svc);
    return emit_agg(out, key, (size_t)kn, &one);
}

static int map(void *user, const char *text, size_t len, struct rm_emitter *out)
{
    (void)user;
    for (const char *p = text, *end = text + len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        int rc = map_line(p, nl ? nl : end, out);
        if (rc != 0)
            return rc;
        p = nl ? nl + 1 : end;
    }
    return 0;
}

static void fold(struct rm_values *values, struct agg *a)
{
    const char *v;
    size_t vlen;
    while (rm_values_next(values, &v, &vlen)) {
        char buf[96];
        struct agg b = {0};
        snprintf(buf, sizeof buf, "%.*s", (int)(vlen < 95 ? vlen : 95), v);
        sscanf(buf, "%" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64, &b.count, &b.errors, &b.sum,
               &b.max);
        a->count += b.count;
        a->errors += b.errors;
        a->sum += b.sum;
        a->max = b.max > a->max ? b.max : a->max;
    }
}

static int combine(void *user, const char *key, size_t klen, struct rm_values *values,
                   struct rm_emitter *out)
{
    (void)user;
    struct agg a = {0};
    fold(values, &a);
    return emit_agg(out, key, klen, &a);
}

static int reduce(void *user, const char *key, size_t klen, struct rm_values *values,
                  struct rm_emitter *out)
{
    (void)user;
    struct agg a = {0};
    fold(values, &a);
    char v[96];
    int n = klen > 6 && memcmp(key, "level:", 6) == 0
                ? snprintf(v, sizeof v, "%" PRIu64, a.count)
                : snprintf(v, sizeof v, "%" PRIu64 " %" PRIu64 " %.1f %" PRIu64, a.count, a.errors,
                           a.count ? (double)a.sum / (double)a.count : 0.0, a.max);
    return rm_emit(out, key, klen, v, (size_t)n);
}

int main(int argc, char **argv)
{
    struct rm_job job = {.name = "loglevels", .map = map, .combine = combine, .reduce = reduce};
    return rm_job_main(argc, argv, &job);
}
