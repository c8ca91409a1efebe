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
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels/kernel.h"
#include "kernels/output.h"
#include "ringmaster.h"
#include "runtime/frame.h"
#include "runtime/log.h"
#include "scheduler/ring.h"
#include "scheduler/split.h"

#define REC 100u
#define KEY 10u
#define SAMPLES_PER_PART 1000u

struct sorter {
    void (*release)(void *ctx); /* first: see rm_kernel_close */
    uint64_t stage_tasks[2];
    struct rm_input_set in;
    struct rm_split *splits;
    size_t m;
    uint32_t r;
    unsigned char *splitters; /* r - 1 keys, ascending */
    const char *output;
    char *parts;
    int rank;
    struct rm_shuffle *shuffle;
    pthread_mutex_t mu;
    uint32_t *holder;
    uint64_t records, in_bytes;
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
    uint32_t lo = 0, hi = s->r - 1;
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
    uint64_t total = s->in_bytes / REC;
    s->splitters = calloc(s->r > 1 ? s->r - 1 : 1, KEY);
    if (!s->splitters)
        return RM_ENOMEM;
    if (s->r == 1 || total == 0)
        return 0;
    uint64_t want = (uint64_t)SAMPLES_PER_PART * s->r, n = want < total ? want : total;
    unsigned char *keys = malloc(n * KEY);
    if (!keys)
        return RM_ENOMEM;
    size_t f = 0;
    uint64_t before = 0; /* records in files before f */
    for (uint64_t i = 0; i < n; i++) {
        uint64_t rec = (uint64_t)((unsigned __int128)i * total / n);
        while (rec >= before + s->in.files[f].size / REC)
            before += s->in.files[f++].size / REC;
        if (read_at(s->in.files[f].path, (rec - before) * REC, keys + i * KEY, KEY) != 0) {
            snprintf(err, cap, "cannot read --input %s: %s", s->in.files[f].path,
                     strerror(errno));
            free(keys);
            return RM_EUSAGE;
        }
    }
    qsort(keys, n, KEY, key_cmp);
    for (uint32_t p = 1; p < s->r; p++)
        memcpy(s->splitters + (size_t)(p - 1) * KEY, keys + (n * p / s->r) * KEY, KEY);
    free(keys);
    return 0;
}

static int run_map(struct sorter *s, uint64_t id, char *err, size_t cap)
{
    const struct rm_split *sp = &s->splits[id];
    size_t len = (size_t)(sp->end - sp->start);
    unsigned char *data = malloc(len ? len : 1);
    unsigned char **bufs = calloc(s->r, sizeof *bufs);
    size_t *lens = calloc(s->r, sizeof *lens), *caps = calloc(s->r, sizeof *caps);
    int rc = data && bufs && lens && caps ? 0 : RM_ENOMEM;
    if (rc == 0 && read_at(s->in.files[sp->file].path, sp->start, data, len) != 0) {
        snprintf(err, cap, "cannot read %s: %s", s->in.files[sp->file].path, strerror(errno));
        rc = RM_EIO;
    }
    uint32_t *part = rc == 0 ? malloc((len / REC + 1) * sizeof *part) : NULL;
    if (rc == 0 && !part)
        rc = RM_ENOMEM;
    for (size_t i = 0; rc == 0 && i < len / REC; i++) { /* sizes first, then one copy each */
        part[i] = partition_of(s, data + i * REC);
        caps[part[i]] += REC;
    }
    for (uint32_t p = 0; rc == 0 && p < s->r; p++)
        if (!(bufs[p] = malloc(caps[p] ? caps[p] : 1)))
            rc = RM_ENOMEM;
    for (size_t i = 0; rc == 0 && i < len / REC; i++) {
        memcpy(bufs[part[i]] + lens[part[i]], data + i * REC, REC);
        lens[part[i]] += REC;
    }
    if (rc == 0)
        rc = rm_shuffle_put(s->shuffle, id, s->r, bufs, lens);
    for (uint32_t p = 0; bufs && p < s->r; p++)
        free(bufs[p]);
    free(bufs);
    free(lens);
    free(caps);
    free(part);
    free(data);
    return rc;
}

static int write_part(struct sorter *s, uint32_t r, uint32_t attempt, unsigned char **recs,
                      size_t n, char *err, size_t cap)
{
    size_t plen = strlen(s->parts) + 64;
    char *tmp = malloc(plen), *part = malloc(plen);
    if (!tmp || !part) {
        free(tmp);
        free(part);
        return RM_ENOMEM;
    }
    snprintf(tmp, plen, "%s/%u.tmp.%d.%u", s->parts, r, s->rank, attempt);
    snprintf(part, plen, "%s/%u", s->parts, r);
    int rc = 0;
    FILE *f = fopen(tmp, "we");
    for (size_t i = 0; f && rc == 0 && i < n; i++)
        if (fwrite(recs[i], 1, REC, f) != REC)
            rc = RM_EIO;
    if (!f || (fclose(f) != 0 && rc == 0))
        rc = RM_EIO;
    if (rc == 0 && rename(tmp, part) != 0)
        rc = RM_EIO;
    if (rc != 0) {
        snprintf(err, cap, "cannot write %s: %s", tmp, strerror(errno));
        unlink(tmp);
    }
    free(tmp);
    free(part);
    return rc;
}

static int run_reduce(struct sorter *s, uint32_t r, uint32_t attempt, char *err, size_t cap)
{
    unsigned char **got = calloc(s->m ? s->m : 1, sizeof *got);
    size_t *len = calloc(s->m ? s->m : 1, sizeof *len), total = 0;
    int rc = got && len ? 0 : RM_ENOMEM;
    for (size_t m = 0; rc == 0 && m < s->m; m++) {
        pthread_mutex_lock(&s->mu);
        uint32_t h = s->holder[m];
        pthread_mutex_unlock(&s->mu);
        rc = rm_shuffle_fetch(s->shuffle, h, m, r, &got[m], &len[m]);
        if (rc == 0 && len[m] % REC != 0)
            rc = RM_ECORRUPT;
        if (rc != 0 && rc != RM_EDEAD)
            snprintf(err, cap, "partition %u of map task %zu from rank %u: %s", r, m, h,
                     rm_strerror(rc));
        total += len[m] / REC;
    }
    unsigned char **recs = rc == 0 ? malloc((total ? total : 1) * sizeof *recs) : NULL;
    if (rc == 0 && !recs)
        rc = RM_ENOMEM;
    size_t n = 0;
    for (size_t m = 0; rc == 0 && m < s->m; m++)
        for (size_t i = 0; i < len[m] / REC; i++)
            recs[n++] = got[m] + i * REC;
    if (rc == 0) {
        qsort(recs, n, sizeof *recs, rec_cmp);
        rc = write_part(s, r, attempt, recs, n, err, cap);
    }
    for (size_t m = 0; got && m < s->m; m++)
        free(got[m]);
    free(got);
    free(len);
    free(recs);
    return rc;
}

static int sort_run(void *ctx, uint64_t id, uint32_t attempt, char *err, size_t cap)
{
    struct sorter *s = ctx;
    return id < s->m ? run_map(s, id, err, cap)
                     : run_reduce(s, (uint32_t)(id - s->m), attempt, err, cap);
}

/* Concatenates the parts in order into the output. */
static int sort_finish(void *ctx)
{
    struct sorter *s = ctx;
    size_t plen = strlen(s->parts) + 32, olen = strlen(s->output) + 32;
    char *path = malloc(plen), *tmp = malloc(olen);
    char *buf = malloc(1 << 20);
    if (!path || !tmp || !buf) {
        free(path);
        free(tmp);
        free(buf);
        return RM_ENOMEM;
    }
    snprintf(tmp, olen, "%s.tmp.%d", s->output, (int)getpid());
    int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), rc = 0;
    if (out < 0) {
        rm_error("sort: cannot create %s: %s", tmp, strerror(errno));
        rc = RM_EIO;
    }
    s->records = s->largest = 0;
    for (uint32_t r = 0; rc == 0 && r < s->r; r++) {
        uint64_t bytes = 0;
        snprintf(path, plen, "%s/%u", s->parts, r);
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
    if (rc == 0 && rename(tmp, s->output) != 0) {
        rm_error("sort: cannot rename %s to %s: %s", tmp, s->output, strerror(errno));
        rc = RM_EIO;
    }
    if (rc != 0)
        unlink(tmp);
    else
        rm_output_remove_parts(s->parts);
    free(path);
    free(tmp);
    free(buf);
    return rc;
}

static void sort_summary(void *ctx, const struct rm_farm_stats *st, const struct rm_tasktable *tt)
{
    struct sorter *s = ctx;
    double mb = (double)s->in_bytes / 1e6;
    double mean = s->r ? (double)s->records / s->r : 0;
    printf("sort: %llu records (%.1f MB) in %.3f s (%.1f MB/s); %zu map and %u reduce tasks "
           "(largest partition %.2fx the mean), %llu rescheduled, %llu outputs recomputed; "
           "output: %s\n",
           (unsigned long long)s->records, mb, st->seconds, st->seconds > 0 ? mb / st->seconds : 0,
           s->m, s->r, mean > 0 ? (double)s->largest / mean : 0.0,
           (unsigned long long)tt->rescheduled, (unsigned long long)tt->lost, s->output);
}

static void sort_release(void *ctx)
{
    struct sorter *s = ctx;
    rm_inputs_free(&s->in);
    rm_splits_free(s->splits);
    free(s->splitters);
    free(s->parts);
    free(s->holder);
    pthread_mutex_destroy(&s->mu);
}

static void sort_keys(void *ctx, uint64_t first, uint64_t n, uint64_t *hashes)
{
    struct sorter *s = ctx;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t id = first + i;
        if (id < s->m) {
            hashes[i] = rm_split_key_hash(&s->in, &s->splits[id]);
        } else {
            unsigned char b[12] = {'s', 'o', 'r', 't'};
            rm_put_u64(b + 4, id - s->m);
            hashes[i] = rm_ring_hash(b, sizeof b);
        }
    }
}

static void sort_describe(void *ctx, uint64_t id, char *buf, size_t cap)
{
    struct sorter *s = ctx;
    if (id < s->m)
        snprintf(buf, cap, "sort map task %llu (%s bytes %llu-%llu)", (unsigned long long)id,
                 s->in.files[s->splits[id].file].path, (unsigned long long)s->splits[id].start,
                 (unsigned long long)s->splits[id].end);
    else
        snprintf(buf, cap, "sort reduce task %llu (partition %llu)", (unsigned long long)id,
                 (unsigned long long)(id - s->m));
}

static int sort_attach(void *ctx, int rank, int size, struct rm_shuffle *shuffle)
{
    struct sorter *s = ctx;
    (void)size;
    s->rank = rank;
    s->shuffle = shuffle;
    return shuffle ? 0 : RM_EINVAL;
}

static void sort_holders(void *ctx, uint32_t stage, uint64_t first, uint32_t n,
                         const uint32_t *holders)
{
    struct sorter *s = ctx;
    if (stage != 1 || first != 0 || n != s->m)
        return;
    pthread_mutex_lock(&s->mu);
    memcpy(s->holder, holders, (size_t)n * sizeof *holders);
    pthread_mutex_unlock(&s->mu);
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
    s->release = sort_release;
    pthread_mutex_init(&s->mu, NULL);
    s->rank = rank;
    s->r = opts->partitions;
    s->output = opts->output;
    int rc = rm_inputs_expand(opts->inputs, opts->n_inputs, &s->in, err, cap);
    if (rc == RM_ENOENT || rc == RM_EIO)
        rc = RM_EUSAGE;
    for (size_t i = 0; rc == 0 && i < s->in.n; i++) {
        if (s->in.files[i].size % REC != 0) {
            snprintf(err, cap, "--input %s: %llu bytes is not a whole number of 100-byte "
                     "records",
                     s->in.files[i].path, (unsigned long long)s->in.files[i].size);
            rc = RM_EUSAGE;
        }
        s->in_bytes += s->in.files[i].size;
    }
    uint64_t split = opts->split_size / REC * REC;
    if (rc == 0)
        rc = rm_splits_make(&s->in, split ? split : REC, &s->splits, &s->m);
    if (rc == 0)
        rc = choose_splitters(s, err, cap);
    if (rc == 0 && !(s->holder = calloc(s->m ? s->m : 1, sizeof *s->holder)))
        rc = RM_ENOMEM;
    if (rc == 0) /* last: it creates the parts directory */
        rc = rm_output_prepare(opts->output, &s->parts, err, cap);
    if (rc != 0) {
        sort_release(s);
        free(b);
        return rc;
    }
    s->stage_tasks[0] = s->m;
    s->stage_tasks[1] = s->r;
    b->k = (struct rm_farm_kernel){.name = "sort", .ctx = s, .tasks = s->m + s->r,
                                   .stages = 2, .stage_tasks = s->stage_tasks,
                                   .held_outputs = true, .attach = sort_attach,
                                   .holders = sort_holders, .keys = sort_keys,
                                   .describe = sort_describe, .run = sort_run,
                                   .finish = sort_finish, .summary = sort_summary};
    *out = &b->k;
    return 0;
}
