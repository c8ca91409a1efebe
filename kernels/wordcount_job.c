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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels/h5out.h"
#include "kernels/mrjob.h"
#include "kernels/output.h"
#include "kernels/wordcount.h"
#include "ringmaster.h"
#include "runtime/log.h"
#include "scheduler/shuffle.h"

#define TOP 10

struct wc_job {
    struct rm_mrjob base; /* first: see mrjob.h */
    bool case_sensitive;
    bool h5;         /* the output is HDF5: /words and /counts */
    char **h5_words; /* the merged words and counts, collected for HDF5 (finish) */
    uint64_t *h5_counts;
    size_t h5_n, h5_cap;
    bool h5_nomem;
    /* filled by finish, for the summary */
    uint64_t words, distinct;
    char top_word[TOP][64]; /* the most frequent words, cut at 63 bytes */
    uint64_t top_count[TOP];
    size_t n_top;
};

static void free_h5(struct wc_job *j);

static void job_release(void *ctx)
{
    free_h5(ctx);
    rm_mrjob_close(ctx);
}

static int run_map(struct wc_job *j, uint64_t id, char *err, size_t cap)
{
    char *text = NULL;
    size_t len = 0;
    int rc = rm_mrjob_read_split(&j->base, id, &text, &len, err, cap);
    if (rc != 0)
        return rc;
    uint32_t r = j->base.r;
    struct rm_wc t;
    rc = rm_wc_init(&t);
    if (rc == 0)
        rc = rm_wc_map(&t, text, len, j->case_sensitive);
    unsigned char **bufs = calloc(r, sizeof *bufs);
    size_t *lens = calloc(r, sizeof *lens);
    if (rc == 0 && (!bufs || !lens))
        rc = RM_ENOMEM;
    if (rc == 0)
        rc = rm_wc_encode(&t, r, bufs, lens);
    rm_wc_free(&t);
    if (rc == 0)
        rc = rm_shuffle_put(j->base.shuffle, id, r, bufs, lens);
    for (uint32_t i = 0; bufs && i < r; i++)
        free(bufs[i]);
    free(bufs);
    free(lens);
    if (rc != 0 && !err[0])
        snprintf(err, cap, "map: %s", rm_strerror(rc));
    return rc;
}

static int merge_part(void *arg, size_t m, unsigned char *buf, size_t len)
{
    (void)m;
    int rc = rm_wc_decode_into(arg, buf, len);
    free(buf);
    return rc;
}

static int write_sorted(void *arg, FILE *f)
{
    struct rm_wc_entry *e = NULL;
    size_t n = 0;
    int rc = rm_wc_sorted(arg, &e, &n);
    if (rc == 0)
        rc = rm_wc_write_tsv(e, n, f);
    free(e);
    return rc;
}

static int run_reduce(struct wc_job *j, uint32_t r, uint32_t attempt, char *err, size_t cap)
{
    struct rm_wc t;
    int rc = rm_wc_init(&t);
    if (rc == 0)
        rc = rm_mrjob_gather(&j->base, r, merge_part, &t, err, cap);
    if (rc == 0)
        rc = rm_mrjob_write_part(&j->base, r, attempt, write_sorted, &t, err, cap);
    rm_wc_free(&t);
    return rc;
}

static int job_run(void *ctx, uint64_t id, uint32_t attempt, char *err, size_t cap)
{
    struct wc_job *j = ctx;
    return id < j->base.m ? run_map(j, id, err, cap)
                          : run_reduce(j, (uint32_t)(id - j->base.m), attempt, err, cap);
}

/* ---- finish: merge the sorted parts ------------------------------------------------------------
 */

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
    if (!j->h5 || j->h5_nomem)
        return;
    if (j->h5_n == j->h5_cap) {
        size_t c = j->h5_cap ? 2 * j->h5_cap : 4096;
        char **w = realloc(j->h5_words, c * sizeof *w);
        if (w)
            j->h5_words = w;
        uint64_t *n = w ? realloc(j->h5_counts, c * sizeof *n) : NULL;
        if (n)
            j->h5_counts = n;
        if (!w || !n) {
            j->h5_nomem = true;
            return;
        }
        j->h5_cap = c;
    }
    char *word = strndup(line, klen);
    if (!word) {
        j->h5_nomem = true;
        return;
    }
    j->h5_words[j->h5_n] = word;
    j->h5_counts[j->h5_n++] = count;
}

static void free_h5(struct wc_job *j)
{
    for (size_t i = 0; i < j->h5_n; i++)
        free(j->h5_words[i]);
    free(j->h5_words);
    free(j->h5_counts);
    j->h5_words = NULL;
    j->h5_counts = NULL;
    j->h5_n = j->h5_cap = 0;
}

/* HDF5 output: merge the parts into a scratch TSV beside the output (collecting the words),
 * write /words and /counts under a temporary name, rename. */
static int finish_h5(struct wc_job *j)
{
    const char *output = j->base.output;
    size_t ol = strlen(output) + 48;
    char *merged = malloc(ol), *tmp = malloc(ol);
    int rc = merged && tmp ? 0 : RM_ENOMEM;
    if (rc == 0) {
        snprintf(merged, ol, "%s.merged.%d", output, (int)getpid());
        snprintf(tmp, ol, "%s.tmp.%d", output, (int)getpid());
        rc = rm_output_merge_sorted(j->base.parts, j->base.r, merged, count_line, j, "wordcount");
        unlink(merged);
    }
    if (rc == 0 && j->h5_nomem)
        rc = RM_ENOMEM;
    if (rc == 0)
        rc = rm_h5_write_words(tmp, (const char *const *)j->h5_words, j->h5_counts, j->h5_n);
    if (rc == 0 && rename(tmp, output) != 0)
        rc = RM_EIO;
    if (rc != 0 && tmp) {
        rm_error("wordcount: cannot write %s: %s", output, rm_strerror(rc));
        unlink(tmp);
    }
    free_h5(j);
    free(merged);
    free(tmp);
    return rc;
}

static int job_finish(void *ctx)
{
    struct wc_job *j = ctx;
    j->words = j->distinct = 0;
    j->n_top = 0;
    if (j->h5)
        return finish_h5(j);
    return rm_output_merge_sorted(j->base.parts, j->base.r, j->base.output, count_line, j,
                                  "wordcount");
}

static void job_summary(void *ctx, const struct rm_farm_stats *st, const struct rm_tasktable *tt)
{
    struct wc_job *j = ctx;
    double mb = (double)j->base.in_bytes / 1e6;
    printf("wordcount: %llu words, %llu distinct, from %.1f MB in %.3f s (%.1f MB/s); %llu map "
           "and %u reduce tasks, %llu rescheduled, %llu outputs recomputed\n",
           (unsigned long long)j->words, (unsigned long long)j->distinct, mb, st->seconds,
           st->seconds > 0 ? mb / st->seconds : 0.0, (unsigned long long)j->base.m, j->base.r,
           (unsigned long long)tt->rescheduled, (unsigned long long)tt->lost);
    printf("top %zu words:", j->n_top);
    for (size_t i = 0; i < j->n_top; i++)
        printf(" %s (%llu)%s", j->top_word[i], (unsigned long long)j->top_count[i],
               i + 1 < j->n_top ? "," : "");
    printf("\noutput: %s\n", j->base.output);
}

int rm_kernel_wordcount_open(const struct rm_options *opts, int rank, struct rm_farm_kernel **out,
                             char *err, size_t cap)
{
    size_t ol = strlen(opts->output);
    struct {
        struct rm_farm_kernel k;
        struct wc_job j;
    } *b = calloc(1, sizeof *b);
    if (!b)
        return RM_ENOMEM;
    struct wc_job *j = &b->j;
    j->base.release = job_release;
    j->case_sensitive = opts->case_sensitive;
    j->h5 = ol >= 3 && strcmp(opts->output + ol - 3, ".h5") == 0;
    int rc = rm_mrjob_open(&j->base, "wordcount", opts, opts->split_size, rank, err, cap);
    if (rc == 0) /* last: it creates the parts directory */
        rc = rm_mrjob_prepare_output(&j->base, opts, err, cap);
    if (rc != 0) {
        free(b);
        return rc;
    }
    rm_mrjob_kernel(&j->base, &b->k);
    b->k.output_kept = rm_mrjob_output_kept;
    b->k.run = job_run;
    b->k.finish = job_finish;
    b->k.summary = job_summary;
    *out = &b->k;
    return 0;
}
