/*
 * wordcount_job.c: the `wordcount` kernel as a two-stage map-reduce job on the task farm.
 *
 * Stage 0, map: one task per input split (scheduler/split.h; the task key is the file and
 * offset, so placement follows the data). A map task counts its split's words with the
 * combiner (kernels/wordcount.c), cuts the counts into --partitions shuffle buffers by word
 * hash, and keeps them in this rank's shuffle store (scheduler/shuffle.h), compressed.
 * Stage 1, reduce: task r gathers buffer r of every map output from its holder, merges them,
 * and writes its words sorted as OUTPUT.parts/r. The finishing leader merges the R sorted parts
 * (their words are disjoint) into OUTPUT. If a holder dies, the farm recomputes the map outputs
 * it held (RM_TT_HELD_OUTPUTS) before the reduce stage goes on.
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
#include "kernels/wordcount.h"
#include "ringmaster.h"
#include "runtime/frame.h"
#include "runtime/log.h"
#include "scheduler/ring.h"
#include "scheduler/split.h"

#define TOP 10

struct wc_job {
    void (*release)(void *ctx); /* first: see rm_kernel_close */
    uint64_t stage_tasks[2];
    struct rm_input_set in;
    struct rm_split *splits;
    size_t m;                 /* map tasks */
    uint32_t r;               /* reduce tasks */
    bool case_sensitive;
    const char *output;
    char *parts;
    uint64_t input_bytes;
    int rank;
    struct rm_shuffle *shuffle;
    pthread_mutex_t mu;
    uint32_t *holder;         /* per map task, from the last stage announcement (under mu) */
    /* filled by finish, for the summary */
    uint64_t words, distinct;
    char top_word[TOP][64];   /* the most frequent words, cut at 63 bytes */
    uint64_t top_count[TOP];
    size_t n_top;
};

static void job_release(void *ctx)
{
    struct wc_job *j = ctx;
    rm_inputs_free(&j->in);
    rm_splits_free(j->splits);
    free(j->parts);
    free(j->holder);
    pthread_mutex_destroy(&j->mu);
}

static void job_keys(void *ctx, uint64_t first, uint64_t n, uint64_t *hashes)
{
    struct wc_job *j = ctx;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t id = first + i;
        if (id < j->m) {
            hashes[i] = rm_split_key_hash(&j->in, &j->splits[id]);
        } else {
            unsigned char b[12] = {'r', 'e', 'd', 'u'};
            rm_put_u64(b + 4, id - j->m);
            hashes[i] = rm_ring_hash(b, sizeof b);
        }
    }
}

static void job_describe(void *ctx, uint64_t id, char *buf, size_t cap)
{
    struct wc_job *j = ctx;
    if (id < j->m)
        snprintf(buf, cap, "map task %llu (%s bytes %llu-%llu)", (unsigned long long)id,
                 j->in.files[j->splits[id].file].path,
                 (unsigned long long)j->splits[id].start, (unsigned long long)j->splits[id].end);
    else
        snprintf(buf, cap, "reduce task %llu (partition %llu)", (unsigned long long)id,
                 (unsigned long long)(id - j->m));
}

static int job_attach(void *ctx, int rank, int size, struct rm_shuffle *shuffle)
{
    struct wc_job *j = ctx;
    (void)size;
    j->rank = rank;
    j->shuffle = shuffle;
    return shuffle ? 0 : RM_EINVAL;
}

static void job_holders(void *ctx, uint32_t stage, uint64_t first, uint32_t n,
                        const uint32_t *holders)
{
    struct wc_job *j = ctx;
    if (stage != 1 || first != 0 || n != j->m)
        return;
    pthread_mutex_lock(&j->mu);
    memcpy(j->holder, holders, (size_t)n * sizeof *holders);
    pthread_mutex_unlock(&j->mu);
}

static int run_map(struct wc_job *j, uint64_t id, char *err, size_t cap)
{
    char *text = NULL;
    size_t len = 0;
    int rc = rm_split_read(&j->in, &j->splits[id], &text, &len, err, cap);
    if (rc != 0)
        return rc;
    struct rm_wc t;
    rc = rm_wc_init(&t);
    if (rc == 0)
        rc = rm_wc_map(&t, text, len, j->case_sensitive);
    free(text);
    unsigned char **bufs = calloc(j->r, sizeof *bufs);
    size_t *lens = calloc(j->r, sizeof *lens);
    if (rc == 0 && (!bufs || !lens))
        rc = RM_ENOMEM;
    if (rc == 0)
        rc = rm_wc_encode(&t, j->r, bufs, lens);
    rm_wc_free(&t);
    if (rc == 0)
        rc = rm_shuffle_put(j->shuffle, id, j->r, bufs, lens);
    for (uint32_t i = 0; bufs && i < j->r; i++)
        free(bufs[i]);
    free(bufs);
    free(lens);
    if (rc != 0 && !err[0])
        snprintf(err, cap, "map: %s", rm_strerror(rc));
    return rc;
}

/* Writes the sorted table as part file r (temporary name, then rename). */
static int write_part(struct wc_job *j, const struct rm_wc *t, uint32_t r, uint32_t attempt,
                      char *err, size_t cap)
{
    struct rm_wc_entry *e = NULL;
    size_t n = 0;
    int rc = rm_wc_sorted(t, &e, &n);
    if (rc != 0)
        return rc;
    size_t plen = strlen(j->parts) + 64;
    char *tmp = malloc(plen), *part = malloc(plen);
    FILE *f = NULL;
    if (!tmp || !part) {
        rc = RM_ENOMEM;
        goto out;
    }
    snprintf(tmp, plen, "%s/%u.tmp.%d.%u", j->parts, r, j->rank, attempt);
    snprintf(part, plen, "%s/%u", j->parts, r);
    f = fopen(tmp, "we");
    if (!f || rm_wc_write_tsv(e, n, f) != 0) {
        snprintf(err, cap, "cannot write %s: %s", tmp, strerror(errno));
        rc = RM_EIO;
    }
    if (f && fclose(f) != 0 && rc == 0) {
        snprintf(err, cap, "cannot write %s: %s", tmp, strerror(errno));
        rc = RM_EIO;
    }
    if (rc == 0 && rename(tmp, part) != 0) {
        snprintf(err, cap, "cannot rename %s: %s", tmp, strerror(errno));
        rc = RM_EIO;
    }
    if (rc != 0 && tmp)
        unlink(tmp);
out:
    free(e);
    free(tmp);
    free(part);
    return rc;
}

static int run_reduce(struct wc_job *j, uint32_t r, uint32_t attempt, char *err, size_t cap)
{
    struct rm_wc t;
    int rc = rm_wc_init(&t);
    for (size_t m = 0; rc == 0 && m < j->m; m++) {
        pthread_mutex_lock(&j->mu);
        uint32_t h = j->holder[m];
        pthread_mutex_unlock(&j->mu);
        unsigned char *buf = NULL;
        size_t len = 0;
        rc = rm_shuffle_fetch(j->shuffle, h, m, r, &buf, &len);
        if (rc == RM_EDEAD)
            break; /* the farm recomputes what the holder held, then reruns this task */
        if (rc != 0) {
            snprintf(err, cap, "fetching partition %u of map task %zu from rank %u: %s", r, m,
                     h, rm_strerror(rc));
            break;
        }
        rc = rm_wc_decode_into(&t, buf, len);
        free(buf);
        if (rc != 0)
            snprintf(err, cap, "partition %u of map task %zu from rank %u: %s", r, m, h,
                     rm_strerror(rc));
    }
    if (rc == 0)
        rc = write_part(j, &t, r, attempt, err, cap);
    rm_wc_free(&t);
    return rc;
}

static int job_run(void *ctx, uint64_t id, uint32_t attempt, char *err, size_t cap)
{
    struct wc_job *j = ctx;
    return id < j->m ? run_map(j, id, err, cap)
                     : run_reduce(j, (uint32_t)(id - j->m), attempt, err, cap);
}

/* ---- finish: merge the sorted parts ------------------------------------------------------------ */

/* Keeps the TOP most frequent words (ties: the earlier word in byte order, seen first). */
static void note_top(struct wc_job *j, const char *w, size_t len, uint64_t count)
{
    size_t n = j->n_top;
    if (n == TOP && count <= j->top_count[TOP - 1])
        return;
    size_t i = n < TOP ? n : TOP - 1;
    while (i > 0 && j->top_count[i - 1] < count) {
        j->top_count[i] = j->top_count[i - 1];
        memcpy(j->top_word[i], j->top_word[i - 1], sizeof j->top_word[i]);
        i--;
    }
    size_t l = len < sizeof j->top_word[i] - 1 ? len : sizeof j->top_word[i] - 1;
    memcpy(j->top_word[i], w, l);
    j->top_word[i][l] = '\0';
    j->top_count[i] = count;
    if (n < TOP)
        j->n_top++;
}

static void count_line(void *ctx, const char *line, size_t klen, size_t len)
{
    struct wc_job *j = ctx;
    (void)len;
    uint64_t count = strtoull(line + klen + 1, NULL, 10);
    j->words += count;
    j->distinct++;
    note_top(j, line, klen, count);
}

static int job_finish(void *ctx)
{
    struct wc_job *j = ctx;
    j->words = j->distinct = 0;
    j->n_top = 0;
    return rm_output_merge_sorted(j->parts, j->r, j->output, count_line, j, "wordcount");
}

static void job_summary(void *ctx, const struct rm_farm_stats *st, const struct rm_tasktable *tt)
{
    struct wc_job *j = ctx;
    double mb = (double)j->input_bytes / 1e6;
    printf("wordcount: %llu words, %llu distinct, from %.1f MB in %.3f s (%.1f MB/s); %llu map "
           "and %u reduce tasks, %llu rescheduled, %llu outputs recomputed\n",
           (unsigned long long)j->words, (unsigned long long)j->distinct, mb, st->seconds,
           st->seconds > 0 ? mb / st->seconds : 0.0, (unsigned long long)j->m, j->r,
           (unsigned long long)tt->rescheduled, (unsigned long long)tt->lost);
    printf("top %zu words:", j->n_top);
    for (size_t i = 0; i < j->n_top; i++)
        printf(" %s (%llu)%s", j->top_word[i], (unsigned long long)j->top_count[i],
               i + 1 < j->n_top ? "," : "");
    printf("\noutput: %s\n", j->output);
}

int rm_kernel_wordcount_open(const struct rm_options *opts, int rank,
                             struct rm_farm_kernel **out, char *err, size_t cap)
{
    struct {
        struct rm_farm_kernel k;
        struct wc_job j;
    } *b = calloc(1, sizeof *b);
    if (!b)
        return RM_ENOMEM;
    struct wc_job *j = &b->j;
    j->release = job_release;
    pthread_mutex_init(&j->mu, NULL);
    j->rank = rank;
    j->r = opts->partitions;
    j->case_sensitive = opts->case_sensitive;
    j->output = opts->output;
    size_t ol = strlen(opts->output);
    int rc = 0;
    if (ol >= 3 && strcmp(opts->output + ol - 3, ".h5") == 0) {
        snprintf(err, cap, "--output %s: HDF5 output is not available yet; use a .tsv name",
                 opts->output);
        rc = RM_EUSAGE;
    }
    if (rc == 0)
        rc = rm_inputs_expand(opts->inputs, opts->n_inputs, &j->in, err, cap);
    if (rc == RM_ENOENT || rc == RM_EIO)
        rc = RM_EUSAGE;
    if (rc == 0)
        rc = rm_splits_make(&j->in, opts->split_size, &j->splits, &j->m);
    for (size_t i = 0; rc == 0 && i < j->in.n; i++)
        j->input_bytes += j->in.files[i].size;
    if (rc == 0 && j->m > RM_TT_MAX_TASKS - j->r) {
        snprintf(err, cap, "%zu map tasks are too many; raise --split-size", j->m);
        rc = RM_EUSAGE;
    }
    if (rc == 0) {
        j->holder = calloc(j->m ? j->m : 1, sizeof *j->holder);
        if (!j->holder)
            rc = RM_ENOMEM;
    }
    if (rc == 0) /* last: it creates the parts directory */
        rc = rm_output_prepare(opts->output, &j->parts, err, cap);
    if (rc != 0) {
        job_release(j);
        free(b);
        return rc;
    }
    j->stage_tasks[0] = j->m;
    j->stage_tasks[1] = j->r;
    b->k = (struct rm_farm_kernel){.name = "wordcount", .ctx = j, .tasks = j->m + j->r,
                                   .stages = 2, .stage_tasks = j->stage_tasks,
                                   .held_outputs = true, .attach = job_attach,
                                   .holders = job_holders, .keys = job_keys,
                                   .describe = job_describe, .run = job_run,
                                   .finish = job_finish, .summary = job_summary};
    *out = &b->k;
    return 0;
}
