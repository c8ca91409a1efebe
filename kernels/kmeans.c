/*
 * kmeans.c: the `kmeans` kernel: Lloyd's k-means over the rows of an HDF5 float64 dataset.
 *
 *   ringmaster run kmeans --dataset NAME --k K --iterations N --seed S --input F.h5... --output O
 *
 * The initial centroids are K distinct rows picked by the seed (splitmix64; every rank reads
 * them before the job starts, so all agree). Each iteration is one stage with one task per row
 * block (h5data.h): the task assigns each point of its block to the nearest of the stage's
 * centroids (squared distance; a tie goes to the lower index) and outputs, per centroid, the
 * sum of its points and their count, together with the centroids it used. The centroids are
 * the stage's shared state and travel through the coordinator: when a stage starts, the leader
 * combines the previous stage's outputs in block order into the new centroids (a centroid is
 * the mean of its points, or stays where it was if it has none) and commits them to the task
 * table, and the stage announcement carries them to every rank. A last stage labels every
 * point with the final centroids and writes one part per block; the finishing leader joins
 * them.
 * Output: with a .h5 name, /centroids (K x D float64) and /clusters (one uint32 per row, in input
 * order); otherwise TSV: `centroid<TAB>i<TAB>x1...` lines, then `point<TAB>row<TAB>cluster`.
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
#include "kernels/stagestate.h"
#include "ringmaster.h"
#include "runtime/log.h"

struct km {
    void (*release)(void *ctx); /* first: see rm_kernel_close */
    struct rm_h5data d;
    const char *output;
    char *parts;
    uint32_t k, iterations;
    uint64_t dims;
    double *init;              /* k x dims: the initial centroids */
    uint64_t *stage_tasks;     /* iterations + 1 stages of m tasks */
    double *final;             /* k x dims, the final centroids (finish) */
    struct rm_stagestate cent; /* per stage after the first: its k x dims centroids */
    double **blk;              /* per block: its points, once read here (worker thread only) */
    size_t *blk_n, blk_bytes;
};

/* A block's tasks have the same key in every stage, so they come back to the same rank: a
 * worker keeps the blocks it has read, up to this many bytes, instead of reading them from
 * the file again at every iteration. */
#define BLOCK_CACHE_BYTES (256u << 20)

static void km_release(void *ctx)
{
    struct km *k = ctx;
    rm_h5data_close(&k->d);
    free(k->parts);
    free(k->init);
    free(k->stage_tasks);
    free(k->final);
    rm_stagestate_close(&k->cent);
    for (size_t b = 0; k->blk && b < k->d.m; b++)
        free(k->blk[b]);
    free(k->blk);
    free(k->blk_n);
}

/* Block b's points (n values), from the cache or the file. *pts is borrowed from the cache when
 * *owned is false; otherwise the caller frees it. */
static int block_points(struct km *k, size_t b, double **pts, size_t *n, bool *owned, char *err,
                        size_t cap)
{
    *owned = false;
    if (k->blk && k->blk[b]) {
        *pts = k->blk[b];
        *n = k->blk_n[b];
        return 0;
    }
    int rc = rm_h5data_read(&k->d, b, pts, n, err, cap);
    if (rc != 0)
        return rc;
    if (k->blk && k->blk_bytes + *n * sizeof **pts <= BLOCK_CACHE_BYTES) {
        k->blk[b] = *pts;
        k->blk_n[b] = *n;
        k->blk_bytes += *n * sizeof **pts;
    } else {
        *owned = true;
    }
    return 0;
}

/* Output of an iteration task: k x (dims + 1) (sums, count), then k x dims (centroids used). */
static size_t out_doubles(const struct km *k)
{
    return (size_t)k->k * (k->dims + 1) + (size_t)k->k * k->dims;
}

static void km_keys(void *ctx, uint64_t first, uint64_t n, uint64_t *hashes)
{
    struct km *k = ctx;
    for (uint64_t i = 0; i < n; i++) /* every stage reads the same block: same key, same rank */
        hashes[i] = rm_h5data_key(&k->d, (size_t)((first + i) % k->d.m));
}

static void km_describe(void *ctx, uint64_t id, char *buf, size_t cap)
{
    struct km *k = ctx;
    uint64_t st = id / k->d.m, b = id % k->d.m;
    snprintf(buf, cap, "kmeans %s %llu task %llu (rows %llu-%llu)",
             st < k->iterations ? "iteration" : "labelling", (unsigned long long)st,
             (unsigned long long)id, (unsigned long long)k->d.blocks[b].first,
             (unsigned long long)(k->d.blocks[b].first + k->d.blocks[b].rows));
}

static int km_attach(void *ctx, int rank, int size, struct rm_shuffle *shuffle)
{
    struct km *k = ctx;
    (void)size;
    k->d.rank = rank;
    k->d.shuffle = shuffle;
    return shuffle ? 0 : RM_EINVAL;
}

static void km_holders(void *ctx, uint32_t stage, uint64_t first, uint32_t n,
                       const uint32_t *holders)
{
    struct km *k = ctx;
    rm_h5data_holders(&k->d, stage, first, n, holders);
}

/* Leader: the centroids of stage st (> 0), from stage st - 1's outputs, in block order, so
 * that any leader computes the same bytes. */
static int km_stage_state(void *ctx, uint32_t st, unsigned char **data, size_t *len, char *err,
                          size_t cap)
{
    struct km *k = ctx;
    size_t kd = (size_t)k->k * k->dims, want = out_doubles(k) * sizeof(double);
    unsigned char *all = malloc(k->d.m * want + 1);
    double *sum = calloc((size_t)k->k * (k->dims + 1), sizeof *sum);
    double *c = malloc(kd * sizeof *c);
    int rc = all && sum && c ? rm_h5data_gather(&k->d, st - 1, want, all, err, cap) : RM_ENOMEM;
    for (size_t b = 0; rc == 0 && b < k->d.m; b++) {
        const double *o = (const double *)(const void *)(all + b * want);
        for (size_t i = 0; i < (size_t)k->k * (k->dims + 1); i++)
            sum[i] += o[i];
    }
    if (rc == 0) {
        const double *used = (const double *)(const void *)(all + (size_t)k->k * (k->dims + 1) * 8);
        for (uint32_t j = 0; j < k->k; j++) {
            double n = sum[(size_t)j * (k->dims + 1) + k->dims];
            for (uint64_t x = 0; x < k->dims; x++)
                c[j * k->dims + x] =
                    n > 0 ? sum[(size_t)j * (k->dims + 1) + x] / n : used[j * k->dims + x];
        }
        *data = (unsigned char *)c;
        *len = kd * sizeof *c;
        c = NULL;
    }
    free(all);
    free(sum);
    free(c);
    return rc;
}

static void km_state(void *ctx, uint32_t stage, const void *data, size_t len)
{
    struct km *k = ctx;
    rm_stagestate_set(&k->cent, stage, data, len);
}

/* The centroids for stage st: the initial ones, or those the coordinator committed. */
static int centroids(struct km *k, uint32_t st, double *c, char *err, size_t cap)
{
    size_t kd = (size_t)k->k * k->dims;
    if (st == 0) {
        memcpy(c, k->init, kd * sizeof *c);
        return 0;
    }
    return rm_stagestate_get(&k->cent, st, c, kd * sizeof *c, err, cap);
}

static uint32_t nearest(const struct km *k, const double *p, const double *c)
{
    uint32_t best = 0;
    double bd = INFINITY;
    for (uint32_t j = 0; j < k->k; j++) {
        double dist = 0;
        for (uint64_t x = 0; x < k->dims; x++) {
            double t = p[x] - c[j * k->dims + x];
            dist += t * t;
        }
        if (dist < bd) {
            bd = dist;
            best = j;
        }
    }
    return best;
}

static int run_iteration(struct km *k, uint64_t id, uint32_t st, size_t b, char *err, size_t cap)
{
    double *out = calloc(out_doubles(k), sizeof *out), *pts = NULL;
    size_t n = 0;
    bool owned = false;
    int rc = out ? centroids(k, st, out + (size_t)k->k * (k->dims + 1), err, cap) : RM_ENOMEM;
    if (rc == 0)
        rc = block_points(k, b, &pts, &n, &owned, err, cap);
    const double *c = out ? out + (size_t)k->k * (k->dims + 1) : NULL;
    for (size_t i = 0; rc == 0 && i < n / k->dims; i++) {
        const double *p = pts + i * k->dims;
        uint32_t j = nearest(k, p, c);
        for (uint64_t x = 0; x < k->dims; x++)
            out[(size_t)j * (k->dims + 1) + x] += p[x];
        out[(size_t)j * (k->dims + 1) + k->dims] += 1;
    }
    if (rc == 0)
        rc = rm_h5data_put(&k->d, id, out, out_doubles(k) * sizeof *out);
    free(out);
    if (owned)
        free(pts);
    return rc;
}

/* The last stage: label block b's points; its part holds the centroids, then the labels. */
static int run_labels(struct km *k, uint32_t attempt, size_t b, char *err, size_t cap)
{
    size_t kd = (size_t)k->k * k->dims;
    double *c = malloc(kd * sizeof *c), *pts = NULL;
    size_t n = 0;
    bool owned = false;
    int rc = c ? centroids(k, k->iterations, c, err, cap) : RM_ENOMEM;
    if (rc == 0)
        rc = block_points(k, b, &pts, &n, &owned, err, cap);
    size_t plen = strlen(k->parts) + 64;
    char *tmp = malloc(plen), *part = malloc(plen);
    if (rc == 0 && (!tmp || !part))
        rc = RM_ENOMEM;
    FILE *f = NULL;
    if (rc == 0) {
        snprintf(tmp, plen, "%s/%zu.tmp.%d.%u", k->parts, b, k->d.rank, attempt);
        snprintf(part, plen, "%s/%zu", k->parts, b);
        f = fopen(tmp, "we");
        if (!f || fwrite(c, sizeof *c, kd, f) != kd)
            rc = RM_EIO;
    }
    for (size_t i = 0; rc == 0 && i < n / k->dims; i++) {
        uint32_t j = nearest(k, pts + i * k->dims, c);
        if (fwrite(&j, sizeof j, 1, f) != 1)
            rc = RM_EIO;
    }
    if (f && fclose(f) != 0 && rc == 0)
        rc = RM_EIO;
    if (rc == 0 && rename(tmp, part) != 0)
        rc = RM_EIO;
    if (rc == RM_EIO) {
        snprintf(err, cap, "cannot write %s: %s", tmp, strerror(errno));
        unlink(tmp);
    }
    free(c);
    if (owned)
        free(pts);
    free(tmp);
    free(part);
    return rc;
}

static int km_run(void *ctx, uint64_t id, uint32_t attempt, char *err, size_t cap)
{
    struct km *k = ctx;
    uint32_t st = (uint32_t)(id / k->d.m);
    size_t b = (size_t)(id % k->d.m);
    return st < k->iterations ? run_iteration(k, id, st, b, err, cap)
                              : run_labels(k, attempt, b, err, cap);
}

/* Reads part b: its centroids into c (when c is not NULL) and its labels into labels. */
static int read_part(struct km *k, size_t b, double *c, uint32_t *labels)
{
    size_t plen = strlen(k->parts) + 32, kd = (size_t)k->k * k->dims;
    char *path = malloc(plen);
    if (!path)
        return RM_ENOMEM;
    snprintf(path, plen, "%s/%zu", k->parts, b);
    FILE *f = fopen(path, "re");
    double *skip = c ? c : malloc(kd * sizeof *skip);
    size_t rows = (size_t)k->d.blocks[b].rows;
    int rc = f && skip && fread(skip, sizeof *skip, kd, f) == kd &&
                     fread(labels, sizeof *labels, rows, f) == rows && fgetc(f) == EOF
                 ? 0
                 : RM_EIO;
    if (rc != 0)
        rm_error("kmeans: part %zu of the output is missing or damaged (%s): is the output "
                 "directory shared by every rank?",
                 b, path);
    if (f)
        fclose(f);
    if (!c)
        free(skip);
    free(path);
    return rc;
}

static int write_h5(struct km *k, const char *path, const uint32_t *labels)
{
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t cd[2] = {k->k, k->dims}, ld = k->d.rows;
    hid_t sc = H5Screate_simple(2, cd, NULL), sl = H5Screate_simple(1, &ld, NULL);
    hid_t dc = f >= 0 ? H5Dcreate2(f, "/centroids", H5T_IEEE_F64LE, sc, H5P_DEFAULT, H5P_DEFAULT,
                                   H5P_DEFAULT)
                      : -1;
    hid_t dl = f >= 0 ? H5Dcreate2(f, "/clusters", H5T_STD_U32LE, sl, H5P_DEFAULT, H5P_DEFAULT,
                                   H5P_DEFAULT)
                      : -1;
    int rc =
        dc >= 0 && dl >= 0 &&
                H5Dwrite(dc, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, k->final) >= 0 &&
                (ld == 0 ||
                 H5Dwrite(dl, H5T_NATIVE_UINT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, labels) >= 0)
            ? 0
            : RM_EIO;
    if (dc >= 0)
        H5Dclose(dc);
    if (dl >= 0)
        H5Dclose(dl);
    H5Sclose(sc);
    H5Sclose(sl);
    if ((f < 0 || H5Fclose(f) < 0) && rc == 0)
        rc = RM_EIO;
    return rc;
}

static int write_tsv(struct km *k, const char *path, const uint32_t *labels)
{
    FILE *f = fopen(path, "we");
    int rc = f ? 0 : RM_EIO;
    for (uint32_t j = 0; rc == 0 && j < k->k; j++) {
        fprintf(f, "centroid\t%u", j);
        for (uint64_t x = 0; x < k->dims; x++)
            fprintf(f, "\t%.17g", k->final[j * k->dims + x]);
        if (fputc('\n', f) == EOF)
            rc = RM_EIO;
    }
    for (uint64_t r = 0; rc == 0 && r < k->d.rows; r++)
        if (fprintf(f, "point\t%llu\t%u\n", (unsigned long long)r, labels[r]) < 0)
            rc = RM_EIO;
    if (f && (fflush(f) != 0 || fsync(fileno(f)) != 0) && rc == 0)
        rc = RM_EIO;
    if (f && fclose(f) != 0 && rc == 0)
        rc = RM_EIO;
    return rc;
}

static int km_finish(void *ctx)
{
    struct km *k = ctx;
    uint32_t *labels = malloc((k->d.rows ? k->d.rows : 1) * sizeof *labels);
    size_t ol = strlen(k->output) + 32;
    char *tmp = malloc(ol);
    free(k->final);
    k->final = malloc((size_t)k->k * k->dims * sizeof *k->final);
    int rc = labels && tmp && k->final ? 0 : RM_ENOMEM;
    for (size_t b = 0; rc == 0 && b < k->d.m; b++)
        rc = read_part(k, b, b == 0 ? k->final : NULL, labels + k->d.blocks[b].first);
    if (rc == 0) {
        snprintf(tmp, ol, "%s.tmp.%d", k->output, (int)getpid());
        size_t n = strlen(k->output);
        bool h5 = n >= 3 && strcmp(k->output + n - 3, ".h5") == 0;
        rc = h5 ? write_h5(k, tmp, labels) : write_tsv(k, tmp, labels);
        if (rc == 0 && rename(tmp, k->output) != 0)
            rc = RM_EIO;
        if (rc != 0) {
            rm_error("kmeans: cannot write %s: %s", k->output, strerror(errno));
            unlink(tmp);
        }
    }
    if (rc == 0)
        rm_output_remove_parts(k->parts);
    free(labels);
    free(tmp);
    return rc;
}

static void km_summary(void *ctx, const struct rm_farm_stats *st, const struct rm_tasktable *tt)
{
    struct km *k = ctx;
    printf("kmeans: %u centroids of %llu points (%llu dims), %u iterations, in %.3f s; %zu "
           "blocks, %llu rescheduled, %llu outputs recomputed; output: %s\n",
           k->k, (unsigned long long)k->d.rows, (unsigned long long)k->dims, k->iterations,
           st->seconds, k->d.m, (unsigned long long)tt->rescheduled, (unsigned long long)tt->lost,
           k->output);
}

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* K distinct rows picked by the seed: the initial centroids. */
static int pick_initial(struct km *k, uint64_t seed, char *err, size_t cap)
{
    uint64_t *rows = malloc(k->k * sizeof *rows), s = seed;
    k->init = malloc((size_t)k->k * k->dims * sizeof *k->init);
    if (!rows || !k->init) {
        free(rows);
        return RM_ENOMEM;
    }
    for (uint32_t j = 0; j < k->k; j++) {
        bool again;
        do {
            rows[j] = splitmix(&s) % k->d.rows;
            again = false;
            for (uint32_t i = 0; i < j; i++)
                again |= rows[i] == rows[j];
        } while (again);
        if (rm_h5data_read_row(&k->d, rows[j], k->init + (size_t)j * k->dims) != 0) {
            snprintf(err, cap, "kmeans: cannot read row %llu of %s", (unsigned long long)rows[j],
                     k->d.dataset);
            free(rows);
            return RM_EUSAGE;
        }
    }
    free(rows);
    return 0;
}

int rm_kernel_kmeans_open(const struct rm_options *opts, int rank, struct rm_farm_kernel **out,
                          char *err, size_t cap)
{
    struct {
        struct rm_farm_kernel k;
        struct km m;
    } *b = calloc(1, sizeof *b);
    if (!b)
        return RM_ENOMEM;
    struct km *k = &b->m;
    k->release = km_release;
    k->output = opts->output;
    k->k = opts->k;
    k->iterations = opts->iterations;
    int rc = rm_h5data_open(&k->d, opts->inputs, opts->n_inputs, opts->dataset, 2, opts->split_size,
                            err, cap);
    if (rc != 0) {
        free(b);
        return rc;
    }
    k->d.rank = rank;
    k->dims = k->d.cols;
    if (k->d.rows < k->k) {
        snprintf(err, cap, "kmeans: --k %u but the dataset has only %llu rows", k->k,
                 (unsigned long long)k->d.rows);
        rc = RM_EUSAGE;
    }
    uint32_t stages = k->iterations + 1;
    if (rc == 0)
        rc = rm_stagestate_init(&k->cent, stages);
    if (rc == 0) {
        k->blk = calloc(k->d.m ? k->d.m : 1, sizeof *k->blk);
        k->blk_n = calloc(k->d.m ? k->d.m : 1, sizeof *k->blk_n);
        rc = k->blk && k->blk_n ? 0 : RM_ENOMEM;
    }
    if (rc == 0 && !(k->stage_tasks = malloc(stages * sizeof *k->stage_tasks)))
        rc = RM_ENOMEM;
    for (uint32_t s = 0; rc == 0 && s < stages; s++)
        k->stage_tasks[s] = k->d.m;
    if (rc == 0)
        rc = rm_h5data_stages(&k->d, stages, k->stage_tasks);
    if (rc == 0)
        rc = pick_initial(k, opts->seed, err, cap);
    if (rc == 0) /* last: it creates the parts directory */
        rc = rm_output_prepare(opts->output, &k->parts, err, cap);
    if (rc != 0) {
        km_release(k);
        free(b);
        return rc;
    }
    b->k = (struct rm_farm_kernel){.name = "kmeans",
                                   .ctx = k,
                                   .tasks = (uint64_t)stages * k->d.m,
                                   .stages = stages,
                                   .stage_tasks = k->stage_tasks,
                                   .held_outputs = true,
                                   .input_bytes = k->d.rows * k->d.cols * 8,
                                   .attach = km_attach,
                                   .holders = km_holders,
                                   .stage_state = km_stage_state,
                                   .state = km_state,
                                   .keys = km_keys,
                                   .describe = km_describe,
                                   .run = km_run,
                                   .finish = km_finish,
                                   .summary = km_summary};
    *out = &b->k;
    return 0;
}
