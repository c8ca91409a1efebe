/* h5data.c: see h5data.h. */
#include "kernels/h5data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>

#include "ringmaster.h"
#include "scheduler/trace.h"
#include "runtime/frame.h"
#include "scheduler/ring.h"

/* Opens file path's dataset; fills its rank and dims. Returns the dataset or -1 (and the file
 * in *f, or -1). */
static hid_t open_dataset(const char *path, const char *name, hid_t *f, int *rank, hsize_t *dims,
                          bool *is_f64)
{
    *f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t ds = *f >= 0 ? H5Dopen2(*f, name, H5P_DEFAULT) : -1;
    hid_t fs = ds >= 0 ? H5Dget_space(ds) : -1, ty = ds >= 0 ? H5Dget_type(ds) : -1;
    *rank = fs >= 0 ? H5Sget_simple_extent_ndims(fs) : -1;
    if (*rank >= 1 && *rank <= H5S_MAX_RANK && H5Sget_simple_extent_dims(fs, dims, NULL) != *rank)
        *rank = -1;
    *is_f64 = ty >= 0 && H5Tget_class(ty) == H5T_FLOAT && H5Tget_size(ty) == 8;
    if (ty >= 0)
        H5Tclose(ty);
    if (fs >= 0)
        H5Sclose(fs);
    return ds;
}

static int add_block(struct rm_h5data *d, size_t *capb, struct rm_h5block b)
{
    if (d->m == *capb) {
        *capb = *capb ? 2 * *capb : 64;
        struct rm_h5block *nb = realloc(d->blocks, *capb * sizeof *nb);
        if (!nb)
            return RM_ENOMEM;
        d->blocks = nb;
    }
    d->blocks[d->m++] = b;
    return 0;
}

int rm_h5data_open(struct rm_h5data *d, char *const *paths, size_t n, const char *dataset,
                   int min_rank, uint64_t split_size, char *err, size_t cap)
{
    memset(d, 0, sizeof *d);
    pthread_mutex_init(&d->mu, NULL);
    d->dataset = dataset;
    int rc = rm_inputs_expand(paths, n, &d->in, err, cap);
    if (rc == RM_ENOENT || rc == RM_EIO || rc == RM_EINVAL)
        rc = RM_EUSAGE;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* errors are reported here, once */
    size_t capb = 0;
    for (size_t i = 0; rc == 0 && i < d->in.n; i++) {
        const char *path = d->in.files[i].path;
        hid_t f;
        int rank;
        hsize_t dims[H5S_MAX_RANK];
        bool f64;
        hid_t ds = open_dataset(path, dataset, &f, &rank, dims, &f64);
        if (ds >= 0)
            H5Dclose(ds);
        if (f >= 0)
            H5Fclose(f);
        uint64_t cols = 1;
        for (int k = 1; k < rank; k++)
            cols *= dims[k];
        if (f < 0) {
            snprintf(err, cap, "--input %s is not an HDF5 file", path);
            rc = RM_EUSAGE;
        } else if (ds < 0 || rank < 1 || !f64) {
            snprintf(err, cap, "--input %s has no float64 dataset '%s'", path, dataset);
            rc = RM_EUSAGE;
        } else if (rank < min_rank) {
            snprintf(err, cap, "--input %s: dataset '%s' must have %d dimensions (rows, values)",
                     path, dataset, min_rank);
            rc = RM_EUSAGE;
        } else if (i > 0 && cols != d->cols) {
            snprintf(err, cap,
                     "--input %s: dataset '%s' rows hold %llu values, not %llu as in "
                     "the first file",
                     path, dataset, (unsigned long long)cols, (unsigned long long)d->cols);
            rc = RM_EUSAGE;
        }
        if (rc != 0)
            break;
        d->cols = cols;
        uint64_t per = split_size / (8 * (cols ? cols : 1));
        per = per ? per : 1;
        for (uint64_t r = 0; rc == 0 && r < dims[0]; r += per)
            rc = add_block(
                d, &capb,
                (struct rm_h5block){i, r, dims[0] - r < per ? dims[0] - r : per, d->rows + r});
        d->rows += dims[0];
    }
    if (rc != 0)
        rm_h5data_close(d);
    return rc;
}

int rm_h5data_stages(struct rm_h5data *d, uint32_t stages, const uint64_t *tasks)
{
    if (stages > RM_H5_MAX_STAGES)
        return RM_EINVAL;
    d->stages = stages;
    for (uint32_t s = 0; s < stages; s++) {
        d->stage_first[s + 1] = d->stage_first[s] + tasks[s];
        if (!(d->holder[s] = calloc(tasks[s] ? tasks[s] : 1, sizeof *d->holder[s])))
            return RM_ENOMEM;
    }
    return 0;
}

void rm_h5data_close(struct rm_h5data *d)
{
    rm_inputs_free(&d->in);
    free(d->blocks);
    d->blocks = NULL;
    for (uint32_t s = 0; s < d->stages; s++)
        free(d->holder[s]);
    d->stages = 0;
    pthread_mutex_destroy(&d->mu);
}

/* Reads rows [row0, row0 + rows) of file f into out. 0 or RM_EIO. */
static int read_rows(const struct rm_h5data *d, size_t file, uint64_t row0, uint64_t rows,
                     double *out)
{
    hid_t f;
    int rank;
    hsize_t dims[H5S_MAX_RANK], start[H5S_MAX_RANK] = {0}, count[H5S_MAX_RANK];
    bool f64;
    hid_t ds = open_dataset(d->in.files[file].path, d->dataset, &f, &rank, dims, &f64);
    int rc = RM_EIO;
    hid_t fs = ds >= 0 ? H5Dget_space(ds) : -1, ms = -1;
    if (fs >= 0 && rank >= 1 && row0 + rows <= dims[0]) {
        memcpy(count, dims, sizeof dims);
        start[0] = row0;
        count[0] = rows;
        hsize_t flat = rows * d->cols;
        ms = H5Screate_simple(1, &flat, NULL);
        if (ms >= 0 && H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) >= 0 &&
            H5Dread(ds, H5T_NATIVE_DOUBLE, ms, fs, H5P_DEFAULT, out) >= 0)
            rc = 0;
    }
    if (ms >= 0)
        H5Sclose(ms);
    if (fs >= 0)
        H5Sclose(fs);
    if (ds >= 0)
        H5Dclose(ds);
    if (f >= 0)
        H5Fclose(f);
    return rc;
}

int rm_h5data_read(const struct rm_h5data *d, size_t b, double **vals, size_t *n, char *err,
                   size_t cap)
{
    const struct rm_h5block *bl = &d->blocks[b];
    *n = (size_t)(bl->rows * d->cols);
    *vals = malloc((*n ? *n : 1) * sizeof **vals);
    if (!*vals)
        return RM_ENOMEM;
    if (read_rows(d, bl->file, bl->row0, bl->rows, *vals) != 0) {
        snprintf(err, cap, "cannot read %s:%s rows %llu-%llu", d->in.files[bl->file].path,
                 d->dataset, (unsigned long long)bl->row0,
                 (unsigned long long)(bl->row0 + bl->rows));
        free(*vals);
        *vals = NULL;
        return RM_EIO;
    }
    rm_trace_count(RM_TRACE_READ, *n * sizeof **vals);
    return 0;
}

int rm_h5data_read_row(const struct rm_h5data *d, uint64_t row, double *out)
{
    for (size_t b = 0; b < d->m; b++) {
        const struct rm_h5block *bl = &d->blocks[b];
        if (row >= bl->first && row < bl->first + bl->rows)
            return read_rows(d, bl->file, bl->row0 + (row - bl->first), 1, out);
    }
    return RM_EIO;
}

uint64_t rm_h5data_key(const struct rm_h5data *d, size_t b)
{
    const char *path = d->in.files[d->blocks[b].file].path;
    size_t pl = strlen(path), dl = strlen(d->dataset);
    unsigned char *key = malloc(pl + dl + 10);
    if (!key) /* cannot place by data: any rank will do */
        return rm_ring_hash(&b, sizeof b);
    memcpy(key, path, pl + 1);
    memcpy(key + pl + 1, d->dataset, dl + 1);
    rm_put_u64(key + pl + dl + 2, d->blocks[b].row0);
    uint64_t h = rm_ring_hash(key, pl + dl + 10);
    free(key);
    return h;
}

void rm_h5data_holders(struct rm_h5data *d, uint32_t stage, uint64_t first, uint32_t n,
                       const uint32_t *holders)
{
    if (stage == 0 || stage > d->stages || first != 0 || n < d->stage_first[stage])
        return;
    pthread_mutex_lock(&d->mu);
    for (uint32_t k = 0; k < stage; k++) /* every earlier stage's holders */
        memcpy(d->holder[k], holders + d->stage_first[k],
               (size_t)(d->stage_first[k + 1] - d->stage_first[k]) * sizeof *holders);
    pthread_mutex_unlock(&d->mu);
}

int rm_h5data_put(struct rm_h5data *d, uint64_t id, const void *data, size_t len)
{
    unsigned char *p = (unsigned char *)(uintptr_t)data;
    return rm_shuffle_put(d->shuffle, id, 1, &p, &len);
}

struct h5gather {
    size_t want;
    unsigned char *all;
};

static int take_output(void *arg, size_t i, unsigned char *buf, size_t len)
{
    struct h5gather *g = arg;
    int rc = len == g->want ? 0 : RM_ECORRUPT;
    if (rc == 0)
        memcpy(g->all + i * g->want, buf, g->want);
    free(buf);
    return rc;
}

int rm_h5data_gather(struct rm_h5data *d, uint32_t st, size_t want, unsigned char *all, char *err,
                     size_t cap)
{
    uint64_t first = d->stage_first[st], n = d->stage_first[st + 1] - first;
    uint32_t *h = malloc((n ? n : 1) * sizeof *h);
    uint64_t *ids = malloc((n ? n : 1) * sizeof *ids);
    if (!h || !ids) {
        free(h);
        free(ids);
        return RM_ENOMEM;
    }
    pthread_mutex_lock(&d->mu);
    for (uint64_t i = 0; i < n; i++) {
        h[i] = d->holder[st][i];
        ids[i] = first + i;
    }
    pthread_mutex_unlock(&d->mu);
    struct h5gather g = {want, all};
    size_t bad = 0;
    int rc = rm_shuffle_fetch_all(d->shuffle, (size_t)n, h, ids, 0, take_output, &g, &bad);
    if (rc != 0 && rc != RM_EDEAD)
        snprintf(err, cap, "output of task %llu from rank %u: %s",
                 (unsigned long long)(first + bad), bad < n ? h[bad] : 0, rm_strerror(rc));
    free(h);
    free(ids);
    return rc;
}
