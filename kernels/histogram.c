/*
 * histogram.c: the `histogram` kernel: bin the values of an HDF5 float64 dataset.
 *
 *   ringmaster run histogram --dataset NAME --bins N [--min X --max Y] --input F.h5... --output O
 *
 * The dataset (any shape; its values taken in storage order) is read in row blocks of the first
 * dimension (hyperslabs) of about --split-size bytes, one task each; the task key is the file,
 * dataset and first row, so placement follows the data. Stages:
 *   range  (only without --min/--max): each task finds its block's finite min and max;
 *   count  each task fetches every range output (the bounds are the same on every rank, as the
 *          combination is deterministic) and counts its block into N equal bins on [min, max]
 *          (max itself goes in the last bin; NaN and values outside are counted apart);
 *   sum    one task fetches every count output, adds them up and writes the output: TSV lines
 *          `low<TAB>high<TAB>count`, or with a .h5 output the datasets /edges (N + 1 float64)
 *          and /counts (N uint64), readable by h5dump and h5py.
 * Outputs of the first two stages live in the shuffle store (RM_TT_HELD_OUTPUTS).
 * HDF5 is used only on the worker thread (and by every rank before MPI starts).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hdf5.h>

#include "kernels/h5data.h"
#include "kernels/kernel.h"
#include "kernels/output.h"
#include "ringmaster.h"
#include "runtime/frame.h"
#include "scheduler/ring.h"
#include "scheduler/shuffle.h"

struct hist {
    void (*release)(void *ctx); /* first: see rm_kernel_close */
    struct rm_h5data d;         /* the blocks, and the holders of each stage's outputs */
    const char *dataset, *output;
    char *parts;
    uint32_t bins;
    bool bounded; /* --min and --max given */
    double lo, hi;
    size_t m; /* blocks */
    uint32_t stages;
    uint64_t stage_tasks[3];
    uint64_t count_first; /* first id of the count stage */
    /* for the summary */
    uint64_t total, below, above, nan;
};

/* A count output: the bin counts, then the below, above and NaN counts, then the bounds used
 * (float64 bits), all u64 little-endian. The sum task takes the bounds from here, so it never
 * needs the range outputs, which may be gone by then. */
#define OUT_EXTRA 5

static void hist_release(void *ctx)
{
    struct hist *h = ctx;
    rm_h5data_close(&h->d);
    free(h->parts);
}

/* The stage of task id and its block (count and range tasks share the blocks). */
static uint32_t stage_of(const struct hist *h, uint64_t id, size_t *b)
{
    if (h->stages == 3 && id < h->m) {
        *b = (size_t)id;
        return 0;
    }
    if (id < h->count_first + h->m) {
        *b = (size_t)(id - h->count_first);
        return h->stages - 2;
    }
    *b = 0;
    return h->stages - 1;
}

static void hist_keys(void *ctx, uint64_t first, uint64_t n, uint64_t *hashes)
{
    struct hist *h = ctx;
    for (uint64_t i = 0; i < n; i++) {
        size_t b;
        uint32_t st = stage_of(h, first + i, &b);
        hashes[i] =
            st + 1 < h->stages ? rm_h5data_key(&h->d, b) : rm_ring_hash("histogram-sum", 13);
    }
}

static void hist_describe(void *ctx, uint64_t id, char *buf, size_t cap)
{
    struct hist *h = ctx;
    size_t b;
    uint32_t st = stage_of(h, id, &b);
    static const char *const names[3] = {"range", "count", "sum"};
    const char *name = names[st + (h->stages == 2)];
    if (st + 1 == h->stages)
        snprintf(buf, cap, "histogram sum task %llu", (unsigned long long)id);
    else
        snprintf(buf, cap, "histogram %s task %llu (%s:%s rows %llu-%llu)", name,
                 (unsigned long long)id, h->d.in.files[h->d.blocks[b].file].path, h->dataset,
                 (unsigned long long)h->d.blocks[b].row0,
                 (unsigned long long)(h->d.blocks[b].row0 + h->d.blocks[b].rows));
}

static int hist_attach(void *ctx, int rank, int size, struct rm_shuffle *shuffle)
{
    struct hist *h = ctx;
    (void)size;
    h->d.rank = rank;
    h->d.shuffle = shuffle;
    return shuffle ? 0 : RM_EINVAL;
}

static void hist_holders(void *ctx, uint32_t stage, uint64_t first, uint32_t n,
                         const uint32_t *holders)
{
    struct hist *h = ctx;
    rm_h5data_holders(&h->d, stage, first, n, holders);
}

/* The bounds: given, or combined (in task order) from every range output. */
static int bounds(struct hist *h, double *lo, double *hi, char *err, size_t cap)
{
    if (h->bounded) {
        *lo = h->lo;
        *hi = h->hi;
        return 0;
    }
    unsigned char *all = malloc(h->m * 16 + 1);
    if (!all)
        return RM_ENOMEM;
    int rc = rm_h5data_gather(&h->d, 0, 16, all, err, cap);
    *lo = INFINITY;
    *hi = -INFINITY;
    for (size_t i = 0; rc == 0 && i < h->m; i++) {
        double a, b;
        memcpy(&a, all + 16 * i, 8);
        memcpy(&b, all + 16 * i + 8, 8);
        *lo = a < *lo ? a : *lo;
        *hi = b > *hi ? b : *hi;
    }
    free(all);
    if (rc == 0 && !(*lo <= *hi)) { /* no finite value at all */
        *lo = 0;
        *hi = 1;
    }
    return rc;
}

static int run_range(struct hist *h, uint64_t id, char *err, size_t cap)
{
    double *v;
    size_t n;
    int rc = rm_h5data_read(&h->d, (size_t)id, &v, &n, err, cap);
    if (rc != 0)
        return rc;
    double mm[2] = {INFINITY, -INFINITY};
    for (size_t i = 0; i < n; i++)
        if (isfinite(v[i])) {
            mm[0] = v[i] < mm[0] ? v[i] : mm[0];
            mm[1] = v[i] > mm[1] ? v[i] : mm[1];
        }
    free(v);
    return rm_h5data_put(&h->d, id, mm, sizeof mm);
}

static int run_count(struct hist *h, uint64_t id, size_t b, char *err, size_t cap)
{
    double lo, hi;
    int rc = bounds(h, &lo, &hi, err, cap);
    double *v = NULL;
    size_t n = 0;
    if (rc == 0)
        rc = rm_h5data_read(&h->d, b, &v, &n, err, cap);
    uint64_t *c = rc == 0 ? calloc(h->bins + OUT_EXTRA, sizeof *c) : NULL;
    if (rc == 0 && !c)
        rc = RM_ENOMEM;
    double width = (hi - lo) / h->bins;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        double x = v[i];
        if (isnan(x))
            c[h->bins + 2]++;
        else if (x < lo)
            c[h->bins]++;
        else if (x > hi)
            c[h->bins + 1]++;
        else {
            uint64_t k = width > 0 ? (uint64_t)((x - lo) / width) : 0;
            c[k < h->bins ? k : h->bins - 1]++;
        }
    }
    if (rc == 0) {
        memcpy(&c[h->bins + 3], &lo, 8);
        memcpy(&c[h->bins + 4], &hi, 8);
        for (uint32_t k = 0; k < h->bins + OUT_EXTRA; k++) /* little-endian on the wire */
            rm_put_u64((unsigned char *)&c[k], c[k]);
        rc = rm_h5data_put(&h->d, id, c, (h->bins + OUT_EXTRA) * sizeof *c);
    }
    free(c);
    free(v);
    return rc;
}

/* Writes the histogram as the output's part 0, in TSV or HDF5. */
static int write_result(struct hist *h, const uint64_t *sum, double lo, double hi, uint32_t attempt,
                        char *err, size_t cap)
{
    size_t plen = strlen(h->parts) + 64, ol = strlen(h->output);
    char *tmp = malloc(plen), *part = malloc(plen);
    double *edges = malloc((h->bins + 1) * sizeof *edges);
    if (!tmp || !part || !edges) {
        free(tmp);
        free(part);
        free(edges);
        return RM_ENOMEM;
    }
    snprintf(tmp, plen, "%s/0.tmp.%d.%u", h->parts, h->d.rank, attempt);
    snprintf(part, plen, "%s/0", h->parts);
    for (uint32_t k = 0; k <= h->bins; k++)
        edges[k] = k == h->bins ? hi : lo + (hi - lo) * k / h->bins;
    int rc = 0;
    if (ol >= 3 && strcmp(h->output + ol - 3, ".h5") == 0) {
        hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
        hsize_t ne = h->bins + 1, nc = h->bins;
        hid_t se = H5Screate_simple(1, &ne, NULL), sc = H5Screate_simple(1, &nc, NULL);
        hid_t de = f >= 0 ? H5Dcreate2(f, "/edges", H5T_IEEE_F64LE, se, H5P_DEFAULT, H5P_DEFAULT,
                                       H5P_DEFAULT)
                          : -1;
        hid_t dc = f >= 0 ? H5Dcreate2(f, "/counts", H5T_STD_U64LE, sc, H5P_DEFAULT, H5P_DEFAULT,
                                       H5P_DEFAULT)
                          : -1;
        if (de < 0 || dc < 0 ||
            H5Dwrite(de, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, edges) < 0 ||
            H5Dwrite(dc, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, sum) < 0)
            rc = RM_EIO;
        if (de >= 0)
            H5Dclose(de);
        if (dc >= 0)
            H5Dclose(dc);
        H5Sclose(se);
        H5Sclose(sc);
        if ((f < 0 || H5Fclose(f) < 0) && rc == 0)
            rc = RM_EIO;
    } else {
        FILE *f = fopen(tmp, "we");
        for (uint32_t k = 0; f && k < h->bins; k++)
            if (fprintf(f, "%.17g\t%.17g\t%llu\n", edges[k], edges[k + 1],
                        (unsigned long long)sum[k]) < 0)
                rc = RM_EIO;
        if (!f || (fclose(f) != 0 && rc == 0))
            rc = RM_EIO;
    }
    if (rc == 0 && rename(tmp, part) != 0)
        rc = RM_EIO;
    if (rc != 0) {
        snprintf(err, cap, "cannot write %s: %s", tmp, strerror(errno));
        unlink(tmp);
    }
    free(tmp);
    free(part);
    free(edges);
    return rc;
}

static int run_sum(struct hist *h, uint32_t attempt, char *err, size_t cap)
{
    size_t want = (h->bins + OUT_EXTRA) * sizeof(uint64_t);
    unsigned char *all = malloc(h->m * want + 1);
    uint64_t *sum = calloc(h->bins + OUT_EXTRA, sizeof *sum);
    int rc = all && sum ? rm_h5data_gather(&h->d, h->stages - 2, want, all, err, cap) : RM_ENOMEM;
    for (size_t i = 0; rc == 0 && i < h->m; i++)
        for (uint32_t k = 0; k < h->bins + 3; k++)
            sum[k] += rm_get_u64(all + i * want + 8 * k);
    double lo = h->lo, hi = h->hi; /* no blocks at all: the given bounds, or 0 and 0 */
    if (rc == 0 && h->m > 0) {
        uint64_t a = rm_get_u64(all + 8 * (h->bins + 3)), z = rm_get_u64(all + 8 * (h->bins + 4));
        memcpy(&lo, &a, 8);
        memcpy(&hi, &z, 8);
    }
    if (rc == 0)
        rc = write_result(h, sum, lo, hi, attempt, err, cap);
    if (rc == 0) {
        h->below = sum[h->bins];
        h->above = sum[h->bins + 1];
        h->nan = sum[h->bins + 2];
        h->total = 0;
        for (uint32_t k = 0; k < h->bins; k++)
            h->total += sum[k];
    }
    free(all);
    free(sum);
    return rc;
}

static int hist_run(void *ctx, uint64_t id, uint32_t attempt, char *err, size_t cap)
{
    struct hist *h = ctx;
    size_t b;
    uint32_t st = stage_of(h, id, &b);
    if (st + 1 == h->stages)
        return run_sum(h, attempt, err, cap);
    if (st == 0 && h->stages == 3)
        return run_range(h, id, err, cap);
    return run_count(h, id, b, err, cap);
}

/* The sum task wrote the whole output as part 0: move it into place. */
static int hist_finish(void *ctx)
{
    struct hist *h = ctx;
    size_t plen = strlen(h->parts) + 8;
    char *part = malloc(plen);
    if (!part)
        return RM_ENOMEM;
    snprintf(part, plen, "%s/0", h->parts);
    int rc = 0;
    if (rename(part, h->output) != 0) {
        fprintf(stderr, "histogram: cannot move %s to %s: %s\n", part, h->output, strerror(errno));
        rc = RM_EIO;
    }
    free(part);
    if (rc == 0)
        rm_output_remove_parts(h->parts);
    return rc;
}

static void hist_summary(void *ctx, const struct rm_farm_stats *st, const struct rm_tasktable *tt)
{
    struct hist *h = ctx;
    printf("histogram: %u bins of %s in %.3f s; %zu blocks, %llu rescheduled, %llu outputs "
           "recomputed; output: %s\n",
           h->bins, h->dataset, st->seconds, h->m, (unsigned long long)tt->rescheduled,
           (unsigned long long)tt->lost, h->output);
}

int rm_kernel_histogram_open(const struct rm_options *opts, int rank, struct rm_farm_kernel **out,
                             char *err, size_t cap)
{
    struct {
        struct rm_farm_kernel k;
        struct hist h;
    } *b = calloc(1, sizeof *b);
    if (!b)
        return RM_ENOMEM;
    struct hist *h = &b->h;
    h->release = hist_release;
    h->dataset = opts->dataset;
    h->output = opts->output;
    h->bins = opts->bins;
    h->bounded = opts->have_min && opts->have_max;
    h->lo = opts->min;
    h->hi = opts->max;
    int rc = 0;
    if (opts->have_min != opts->have_max) {
        snprintf(err, cap, "histogram needs both --min and --max, or neither");
        rc = RM_EUSAGE;
    } else if (h->bounded && !(h->lo < h->hi)) {
        snprintf(err, cap, "histogram: --min must be below --max");
        rc = RM_EUSAGE;
    }
    if (rc != 0) {
        free(b);
        return rc;
    }
    rc = rm_h5data_open(&h->d, opts->inputs, opts->n_inputs, opts->dataset, 1, opts->split_size,
                        err, cap);
    if (rc != 0) {
        free(b);
        return rc;
    }
    h->d.rank = rank;
    h->m = h->d.m;
    h->stages = h->bounded ? 2 : 3;
    h->count_first = h->bounded ? 0 : h->m;
    for (uint32_t s = 0; s + 1 < h->stages; s++)
        h->stage_tasks[s] = h->m;
    h->stage_tasks[h->stages - 1] = 1;
    rc = rm_h5data_stages(&h->d, h->stages, h->stage_tasks);
    if (rc == 0) /* last: it creates the parts directory */
        rc = rm_output_prepare(opts->output, &h->parts, err, cap);
    if (rc != 0) {
        hist_release(h);
        free(b);
        return rc;
    }
    b->k = (struct rm_farm_kernel){.name = "histogram",
                                   .ctx = h,
                                   .tasks = (h->stages - 1) * (uint64_t)h->m + 1,
                                   .stages = h->stages,
                                   .stage_tasks = h->stage_tasks,
                                   .held_outputs = true,
                                   .attach = hist_attach,
                                   .holders = hist_holders,
                                   .keys = hist_keys,
                                   .describe = hist_describe,
                                   .run = hist_run,
                                   .finish = hist_finish,
                                   .summary = hist_summary};
    *out = &b->k;
    return 0;
}
