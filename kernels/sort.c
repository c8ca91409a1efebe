/*
 * sort.c: the `sort` kernel: TeraSort-format records (100 bytes, the first 10 the key) sorted
 * by key into one output file.
 *
 * Every rank samples the input the same way before the job starts (up to 1,000 keys per
 * partition at evenly spaced records) and takes the keys at the partition quantiles as
 * splitters, so all ranks agree on them without talking. Map tasks read record-aligned splits
 * and cut them into partitions by splitter (binary search); reduce task r sorts partition r and
 * writes it as OUTPUT.parts/r; since partitions are key ranges in order, the finishing leader
 * just concatenates the parts. Records with equal keys are ordered by their remaining 90 bytes,
 * so the output is the same on every run. Balanced partitions follow from the sampling:
 * skewed keys still split evenly unless one key repeats across a whole partition's worth.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels/mrjob.h"
#include "kernels/output.h"
#include "ringmaster.h"
#include "runtime/log.h"
#include "scheduler/shuffle.h"

#define REC 100u
#define KEY 10u
#define SAMPLES_PER_PART 1000u

struct sorter {
    struct rm_mrjob base;     /* first: see mrjob.h */
    unsigned char *splitters; /* r - 1 keys, ascending */
    uint64_t records;
    uint64_t largest; /* records in the largest partition, found by finish */
};

static int key_cmp(const void *a, const void *b)
{
    return memcmp(a, b, KEY);
}

static int rec_cmp(const void *a, const void *b)
{
    return memcmp(*(unsigned char *const *)a, *(unsigned char *const *)b, REC);
}

/* Reads len bytes at off of path into buf. Returns 0 or RM_EIO (errno set). */
static int read_at(const char *path, uint64_t off, void *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return RM_EIO;
    size_t got = 0;
    while (got < len) {
        ssize_t r = pread(fd, (char *)buf + got, len - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (r == 0)
                errno = EIO; /* the file shrank */
            close(fd);
            return RM_EIO;
        }
        got += (size_t)r;
    }
    close(fd);
    return 0;
}

/* The partition of a key: the number of splitters at or below it. */
static uint32_t partition_of(const struct sorter *s, const unsigned char *key)
{
    uint32_t lo = 0, hi = s->base.r - 1;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (memcmp(s->splitters + (size_t)mid * KEY, key, KEY) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Picks the splitters from evenly spaced samples of the whole input. */
static int choose_splitters(struct sorter *s, char *err, size_t cap)
{
    uint64_t total = s->base.in_bytes / REC;
    s->splitters = calloc(s->base.r > 1 ? s->base.r - 1 : 1, KEY);
    if (!s->splitters)
        return RM_ENOMEM;
    if (s->base.r == 1 || total == 0)
        return 0;
    uint64_t want = (uint64_t)SAMPLES_PER_PART * s->base.r, n = want < total ? want : total;
    unsigned char *keys = malloc(n * KEY);
    if (!keys)
        return RM_ENOMEM;
    size_t f = 0;
    uint64_t before = 0; /* records in files before f */
    for (uint64_t i = 0; i < n; i++) {
        uint64_t rec = (uint64_t)((unsigned __int128)i * total / n);
        while (rec >= before + s->base.in.files[f].size / REC)
            before += s->base.in.files[f++].size / REC;
        if (read_at(s->base.in.files[f].path, (rec - before) * REC, keys + i * KEY, KEY) != 0) {
            snprintf(err, cap, "cannot read --input %s: %s", s->base.in.files[f].path,
                     strerror(errno));
            free(keys);
            return RM_EUSAGE;
        }
    }
    qsort(keys, n, KEY, key_cmp);
    for (uint32_t p = 1; p < s->base.r; p++)
        memcpy(s->splitters + (size_t)(p - 1) * KEY, keys + (n * p / s->base.r) * KEY, KEY);
    free(keys);
    return 0;
}

static int run_map(struct sorter *s, uint64_t id, char *err, size_t cap)
{
    const struct rm_split *sp = &s->base.splits[id];
    const char *path = s->base.in.files[sp->file].path;
    uint32_t r = s->base.r;
    size_t len = (size_t)(sp->end - sp->start);
    unsigned char *data = malloc(len ? len : 1);
    unsigned char **bufs = calloc(r, sizeof *bufs);
    size_t *lens = calloc(r, sizeof *lens), *caps = calloc(r, sizeof *caps);
    int rc = data && bufs && lens && caps ? 0 : RM_ENOMEM;
    if (rc == 0 && read_at(path, sp->start, data, len) != 0) {
        snprintf(err, cap, "cannot read %s: %s", path, strerror(errno));
        rc = RM_EIO;
    }
    uint32_t *part = rc == 0 ? malloc((len / REC + 1) * sizeof *part) : NULL;
    if (rc == 0 && !part)
        rc = RM_ENOMEM;
    for (size_t i = 0; rc == 0 && i < len / REC; i++) { /* sizes first, then one copy each */
        part[i] = partition_of(s, data + i * REC);
        caps[part[i]] += REC;
    }
    for (uint32_t p = 0; rc == 0 && p < r; p++)
        if (!(bufs[p] = malloc(caps[p] ? caps[p] : 1)))
            rc = RM_ENOMEM;
    for (size_t i = 0; rc == 0 && i < len / REC; i++) {
        memcpy(bufs[part[i]] + lens[part[i]], data + i * REC, REC);
        lens[part[i]] += REC;
    }
    if (rc == 0)
        rc = rm_shuffle_put(s->base.shuffle, id, r, bufs, lens);
    for (uint32_t p = 0; bufs && p < r; p++)
        free(bufs[p]);
    free(bufs);
    free(lens);
    free(caps);
    free(part);
    free(data);
    return rc;
}

struct gathered {
    unsigned char **got; /* per map task: its fetched partition, owned */
    size_t *len;
    size_t total; /* records */
    unsigned char **recs;
};

static int gather_records(void *arg, size_t m, unsigned char *buf, size_t len)
{
    struct gathered *g = arg;
    g->got[m] = buf;
    g->len[m] = len;
    g->total += len / REC;
    return len % REC == 0 ? 0 : RM_ECORRUPT;
}

static int write_records(void *arg, FILE *f)
{
    struct gathered *g = arg;
    for (size_t i = 0; i < g->total; i++)
        if (fwrite(g->recs[i], 1, REC, f) != REC)
            return RM_EIO;
    return 0;
}

static int run_reduce(struct sorter *s, uint32_t r, uint32_t attempt, char *err, size_t cap)
{
    size_t m = s->base.m ? s->base.m : 1;
    struct gathered g = {.got = calloc(m, sizeof *g.got), .len = calloc(m, sizeof *g.len)};
    int rc =
        g.got && g.len ? rm_mrjob_gather(&s->base, r, gather_records, &g, err, cap) : RM_ENOMEM;
    if (rc == 0 && !(g.recs = malloc((g.total ? g.total : 1) * sizeof *g.recs)))
        rc = RM_ENOMEM;
    for (size_t k = 0, n = 0; rc == 0 && k < s->base.m; k++)
        for (size_t i = 0; i < g.len[k] / REC; i++)
            g.recs[n++] = g.got[k] + i * REC;
    if (rc == 0) {
        qsort(g.recs, g.total, sizeof *g.recs, rec_cmp);
        rc = rm_mrjob_write_part(&s->base, r, attempt, write_records, &g, err, cap);
    }
    for (size_t k = 0; g.got && k < s->base.m; k++)
        free(g.got[k]);
    free(g.got);
    free(g.len);
    free(g.recs);
    return rc;
}

static int sort_run(void *ctx, uint64_t id, uint32_t attempt, char *err, size_t cap)
{
    struct sorter *s = ctx;
    return id < s->base.m ? run_map(s, id, err, cap)
                          : run_reduce(s, (uint32_t)(id - s->base.m), attempt, err, cap);
}

/* Concatenates the parts in order into the output. */
static int sort_finish(void *ctx)
{
    struct sorter *s = ctx;
    size_t plen = strlen(s->base.parts) + 32, olen = strlen(s->base.output) + 32;
    char *path = malloc(plen), *tmp = malloc(olen);
    char *buf = malloc(1 << 20);
    if (!path || !tmp || !buf) {
        free(path);
        free(tmp);
        free(buf);
        return RM_ENOMEM;
    }
    snprintf(tmp, olen, "%s.tmp.%d", s->base.output, (int)getpid());
    int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), rc = 0;
    if (out < 0) {
        rm_error("sort: cannot create %s: %s", tmp, strerror(errno));
        rc = RM_EIO;
    }
    s->records = s->largest = 0;
    for (uint32_t r = 0; rc == 0 && r < s->base.r; r++) {
        uint64_t bytes = 0;
        snprintf(path, plen, "%s/%u", s->base.parts, r);
        int in = open(path, O_RDONLY | O_CLOEXEC);
        if (in < 0) {
            rm_error("sort: part %u is missing (%s): is the output directory shared by every "
                     "rank?",
                     r, path);
            rc = RM_EIO;
            break;
        }
        for (;;) {
            ssize_t got = read(in, buf, 1 << 20);
            if (got < 0 && errno == EINTR)
                continue;
            if (got < 0 || (got > 0 && rm_output_write_all(out, buf, (size_t)got) != 0)) {
                rm_error("sort: copying %s: %s", path, strerror(errno));
                rc = RM_EIO;
            }
            if (got <= 0 || rc != 0)
                break;
            bytes += (uint64_t)got;
        }
        close(in);
        s->records += bytes / REC;
        s->largest = bytes / REC > s->largest ? bytes / REC : s->largest;
    }
    if (out >= 0 && rc == 0 && (fsync(out) != 0 || close(out) != 0)) {
        rm_error("sort: cannot write %s: %s", tmp, strerror(errno));
        rc = RM_EIO;
    } else if (out >= 0 && rc != 0) {
        close(out);
    }
    if (rc == 0 && rename(tmp, s->base.output) != 0) {
        rm_error("sort: cannot rename %s to %s: %s", tmp, s->base.output, strerror(errno));
        rc = RM_EIO;
    }
    if (rc != 0)
        unlink(tmp);
    else
        rm_output_remove_parts(s->base.parts);
    free(path);
    free(tmp);
    free(buf);
    return rc;
}

static void sort_summary(void *ctx, const struct rm_farm_stats *st, const struct rm_tasktable *tt)
{
    struct sorter *s = ctx;
    double mb = (double)s->base.in_bytes / 1e6;
    double mean = s->base.r ? (double)s->records / s->base.r : 0;
    printf("sort: %llu records (%.1f MB) in %.3f s (%.1f MB/s); %zu map and %u reduce tasks "
           "(largest partition %.2fx the mean), %llu rescheduled, %llu outputs recomputed; "
           "output: %s\n",
           (unsigned long long)s->records, mb, st->seconds, st->seconds > 0 ? mb / st->seconds : 0,
           s->base.m, s->base.r, mean > 0 ? (double)s->largest / mean : 0.0,
           (unsigned long long)tt->rescheduled, (unsigned long long)tt->lost, s->base.output);
}

static void sort_release(void *ctx)
{
    struct sorter *s = ctx;
    free(s->splitters);
    rm_mrjob_close(&s->base);
}

int rm_kernel_sort_open(const struct rm_options *opts, int rank, struct rm_farm_kernel **out,
                        char *err, size_t cap)
{
    struct {
        struct rm_farm_kernel k;
        struct sorter s;
    } *b = calloc(1, sizeof *b);
    if (!b)
        return RM_ENOMEM;
    struct sorter *s = &b->s;
    s->base.release = sort_release;
    uint64_t split = opts->split_size / REC * REC;
    int rc = rm_mrjob_open(&s->base, "sort", opts, split ? split : REC, rank, err, cap);
    for (size_t i = 0; rc == 0 && i < s->base.in.n; i++)
        if (s->base.in.files[i].size % REC != 0) {
            snprintf(err, cap,
                     "--input %s: %llu bytes is not a whole number of 100-byte "
                     "records",
                     s->base.in.files[i].path, (unsigned long long)s->base.in.files[i].size);
            rc = RM_EUSAGE;
        }
    if (rc == 0)
        rc = choose_splitters(s, err, cap);
    if (rc == 0) /* last: it creates the parts directory */
        rc = rm_mrjob_prepare_output(&s->base, opts, err, cap);
    if (rc != 0) {
        free(s->splitters);
        rm_mrjob_close(&s->base);
        free(b);
        return rc;
    }
    rm_mrjob_kernel(&s->base, &b->k);
    b->k.output_kept = rm_mrjob_output_kept;
    b->k.run = sort_run;
    b->k.finish = sort_finish;
    b->k.summary = sort_summary;
    *out = &b->k;
    return 0;
}
