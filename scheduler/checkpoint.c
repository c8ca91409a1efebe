/* checkpoint.c: see checkpoint.h. */
#include "scheduler/checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hdf5.h>
#include <xxhash.h>

#include "ringmaster.h"
#include "scheduler/trace.h"
#include "scheduler/split.h"

#define CHUNK_BYTES ((hsize_t)1 << 20)

/* ---- the identity ---------------------------------------------------------------------------- */

/* Options that tune a run without changing its tasks or results; with whether they take a
 * value. */
static const struct {
    const char *name;
    bool value;
} run_only[] = {
    {"--resume", false},
    {"--checkpoint-dir", true},
    {"--checkpoint-interval", true},
    {"--status", true},
    {"--quiet", false},
    {"--verbose", false},
    {"--heartbeat-ms", true},
    {"--suspect-ms", true},
    {"--watchers", true},
    {"--voters", true},
    {"--election-timeout-ms", true},
    {"--snapshot-entries", true},
    {"--batch-size", true},
    {"--max-attempts", true},
    {"--replicas", true},
    {"--no-speculation", false},
    {"--vnodes", true},
    {"--bounded-load", true},
    {"--bind", true},
    {"--bind-policy", true},
    {"--startup-timeout", true},
    {"--timeout", true},
    {"--retries", true},
    {"--output", true},
};

/* 1 or 2 if argv[i] is a run-only option (the words it takes), else 0. */
static int run_only_words(const char *arg)
{
    for (size_t k = 0; k < sizeof run_only / sizeof *run_only; k++)
        if (strcmp(arg, run_only[k].name) == 0)
            return run_only[k].value ? 2 : 1;
    return 0;
}

struct text {
    char *p;
    size_t n, cap;
    bool oom;
};

static void add(struct text *t, const char *s)
{
    size_t l = strlen(s);
    if (t->oom)
        return;
    if (t->n + l + 1 > t->cap) {
        size_t c = t->cap ? t->cap * 2 : 1024;
        while (c < t->n + l + 1)
            c *= 2;
        char *q = realloc(t->p, c);
        if (!q) {
            t->oom = true;
            return;
        }
        t->p = q;
        t->cap = c;
    }
    memcpy(t->p + t->n, s, l + 1);
    t->n += l;
}

char *rm_ckpt_identity(int argc, char *const *argv, char *const *inputs, size_t n_inputs,
                       uint64_t *job, char *err, size_t cap)
{
    struct text t = {0};
    add(&t, "ringmaster job\nrun");
    for (int i = 0; i < argc; i++) {
        int skip = run_only_words(argv[i]);
        if (skip) {
            i += skip - 1;
            continue;
        }
        add(&t, " ");
        add(&t, argv[i]);
    }
    add(&t, "\n");
    struct rm_input_set in = {0};
    if (n_inputs && rm_inputs_expand(inputs, n_inputs, &in, err, cap) != 0) {
        free(t.p);
        return NULL;
    }
    for (size_t i = 0; i < in.n; i++) {
        char line[64];
        add(&t, "input ");
        add(&t, in.files[i].path);
        snprintf(line, sizeof line, " %llu %lld.%09ld\n", (unsigned long long)in.files[i].size,
                 (long long)in.files[i].mtime.tv_sec, in.files[i].mtime.tv_nsec);
        add(&t, line);
    }
    rm_inputs_free(&in);
    if (t.oom) {
        free(t.p);
        snprintf(err, cap, "out of memory");
        return NULL;
    }
    *job = XXH3_64bits(t.p, t.n);
    return t.p;
}

/* ---- HDF5 helpers ---------------------------------------------------------------------------- */

static int put_attr(hid_t obj, const char *name, hid_t type, const void *v)
{
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = sp >= 0 ? H5Acreate2(obj, name, type, sp, H5P_DEFAULT, H5P_DEFAULT) : -1;
    int rc = a >= 0 && H5Awrite(a, type, v) >= 0 ? 0 : RM_EIO;
    if (a >= 0)
        H5Aclose(a);
    if (sp >= 0)
        H5Sclose(sp);
    return rc;
}

static int put_string_attr(hid_t obj, const char *name, const char *v)
{
    hid_t ty = H5Tcopy(H5T_C_S1);
    int rc = ty >= 0 && H5Tset_size(ty, strlen(v) + 1) >= 0 ? put_attr(obj, name, ty, v) : RM_EIO;
    if (ty >= 0)
        H5Tclose(ty);
    return rc;
}

static int get_attr(hid_t obj, const char *name, hid_t type, void *v)
{
    hid_t a = H5Aexists(obj, name) > 0 ? H5Aopen(obj, name, H5P_DEFAULT) : -1;
    int rc = a >= 0 && H5Aread(a, type, v) >= 0 ? 0 : RM_ECORRUPT;
    if (a >= 0)
        H5Aclose(a);
    return rc;
}

/* Whether obj's "format" attribute is RM_CKPT_FORMAT. */
static bool format_ok(hid_t obj)
{
    char buf[64] = "";
    hid_t ty = H5Tcopy(H5T_C_S1);
    bool ok = ty >= 0 && H5Tset_size(ty, sizeof buf) >= 0 &&
              get_attr(obj, "format", ty, buf) == 0 && strcmp(buf, RM_CKPT_FORMAT) == 0;
    if (ty >= 0)
        H5Tclose(ty);
    return ok;
}

/* Writes a dataset of `rank` dims; u8 data is chunked (when not empty), deflated at level and
 * Fletcher32-checked. */
static int put_data(hid_t f, const char *name, hid_t mem, hid_t file_type, int rank,
                    const hsize_t *dims, const void *data, int level, bool chunked)
{
    hid_t sp = H5Screate_simple(rank, dims, NULL), pl = H5Pcreate(H5P_DATASET_CREATE);
    hsize_t total = 1;
    for (int i = 0; i < rank; i++)
        total *= dims[i];
    int rc = sp >= 0 && pl >= 0 ? 0 : RM_EIO;
    if (rc == 0 && chunked && total > 0) {
        hsize_t chunk[2] = {dims[0] < CHUNK_BYTES ? dims[0] : CHUNK_BYTES, rank > 1 ? dims[1] : 1};
        if (H5Pset_chunk(pl, rank, chunk) < 0 || H5Pset_fletcher32(pl) < 0 ||
            (level > 0 && H5Pset_deflate(pl, (unsigned)(level > 9 ? 9 : level)) < 0))
            rc = RM_EIO;
    }
    hid_t d = rc == 0 ? H5Dcreate2(f, name, file_type, sp, H5P_DEFAULT, pl, H5P_DEFAULT) : -1;
    if (d < 0 || (total > 0 && H5Dwrite(d, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0))
        rc = RM_EIO;
    else
        rm_trace_count(RM_TRACE_CHECKPOINTED, (uint64_t)total * H5Tget_size(mem));
    if (d >= 0 && H5Dclose(d) < 0)
        rc = RM_EIO;
    if (pl >= 0)
        H5Pclose(pl);
    if (sp >= 0)
        H5Sclose(sp);
    return rc;
}

/* Reads a whole dataset of n elements (checked) into a malloc'd buffer. */
static int get_data(hid_t f, const char *name, hid_t mem, size_t elem, hsize_t want_rank,
                    void **out, hsize_t *dims)
{
    *out = NULL;
    hid_t d = H5Lexists(f, name, H5P_DEFAULT) > 0 ? H5Dopen2(f, name, H5P_DEFAULT) : -1;
    hid_t sp = d >= 0 ? H5Dget_space(d) : -1;
    int rc = sp >= 0 && H5Sget_simple_extent_ndims(sp) == (int)want_rank &&
                     H5Sget_simple_extent_dims(sp, dims, NULL) >= 0
                 ? 0
                 : RM_ECORRUPT;
    hsize_t total = 1;
    for (hsize_t i = 0; rc == 0 && i < want_rank; i++)
        total *= dims[i];
    if (rc == 0 && total > ((hsize_t)1 << 40) / elem)
        rc = RM_ECORRUPT;
    if (rc == 0 && !(*out = malloc(total ? (size_t)total * elem : 1)))
        rc = RM_ENOMEM;
    if (rc == 0 && total > 0 && H5Dread(d, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, *out) < 0)
        rc = RM_ECORRUPT;
    if (rc != 0) {
        free(*out);
        *out = NULL;
    }
    if (sp >= 0)
        H5Sclose(sp);
    if (d >= 0)
        H5Dclose(d);
    return rc;
}

/* Flushes path's data to the disk and renames it to final. */
static int commit_file(const char *tmp, const char *final)
{
    int fd = open(tmp, O_RDONLY | O_CLOEXEC);
    int rc = fd >= 0 && fsync(fd) == 0 ? 0 : RM_EIO;
    if (fd >= 0)
        close(fd);
    if (rc == 0 && rename(tmp, final) != 0)
        rc = RM_EIO;
    return rc;
}

/* Closes a file written under tmp and, if all went well, commits it as final; otherwise says
 * why in err and removes tmp. Returns rc, or the error closing or committing met. */
static int finish_file(hid_t f, int rc, const char *tmp, const char *final, char *err, size_t cap)
{
    if (f >= 0 && H5Fclose(f) < 0 && rc == 0)
        rc = RM_EIO;
    if (rc == 0)
        rc = commit_file(tmp, final);
    if (rc != 0) {
        snprintf(err, cap, "writing the checkpoint %s: %s", final,
                 rc == RM_ENOMEM ? "out of memory"
                 : errno         ? strerror(errno)
                                 : "HDF5 error");
        unlink(tmp);
    }
    return rc;
}

static void rank_path(char *buf, size_t cap, const char *dir, int rank)
{
    snprintf(buf, cap, "%s/rank-%05d.h5", dir, rank);
}

/* ---- rank files ------------------------------------------------------------------------------ */

struct collect {
    uint64_t *index; /* 2 per record */
    uint64_t *sizes;
    unsigned char *data;
    size_t records, parts, bytes, cap_records, cap_parts, cap_bytes;
};

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q)
        return RM_ENOMEM;
    *p = q;
    *cap = c;
    return 0;
}

static int collect_one(void *arg, uint64_t id, uint32_t n, unsigned char *const *parts,
                       const size_t *lens)
{
    struct collect *c = arg;
    size_t add_bytes = 0;
    for (uint32_t i = 0; i < n; i++)
        add_bytes += lens[i];
    if (grow((void **)&c->index, &c->cap_records, 2 * (c->records + 1), sizeof *c->index) ||
        grow((void **)&c->sizes, &c->cap_parts, c->parts + n, sizeof *c->sizes) ||
        grow((void **)&c->data, &c->cap_bytes, c->bytes + add_bytes, 1))
        return RM_ENOMEM;
    c->index[2 * c->records] = id;
    c->index[2 * c->records + 1] = n;
    c->records++;
    for (uint32_t i = 0; i < n; i++) {
        c->sizes[c->parts++] = lens[i];
        memcpy(c->data + c->bytes, parts[i], lens[i]);
        c->bytes += lens[i];
    }
    return 0;
}

int rm_ckpt_write_rank(const char *dir, int rank, uint64_t job, int level, struct rm_shuffle *s,
                       uint64_t id_end, uint64_t *records, uint64_t *bytes, char *err, size_t cap)
{
    char final[4096], tmp[4200];
    rank_path(final, sizeof final, dir, rank);
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", final, (int)getpid());
    struct collect c = {0};
    int rc = s ? rm_shuffle_each(s, id_end, collect_one, &c) : 0;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = rc == 0 ? H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT) : -1;
    if (rc == 0 && f < 0)
        rc = RM_EIO;
    uint32_t r32 = (uint32_t)rank;
    hsize_t di[2] = {c.records, 2}, ds = c.parts, dd = c.bytes;
    if (rc == 0 &&
        (put_string_attr(f, "format", RM_CKPT_FORMAT) ||
         put_attr(f, "rank", H5T_NATIVE_UINT32, &r32) ||
         put_attr(f, "job", H5T_NATIVE_UINT64, &job) ||
         put_data(f, "/index", H5T_NATIVE_UINT64, H5T_STD_U64LE, 2, di, c.index, 0, false) ||
         put_data(f, "/sizes", H5T_NATIVE_UINT64, H5T_STD_U64LE, 1, &ds, c.sizes, 0, false) ||
         put_attr(f, "compression", H5T_NATIVE_INT, &level) ||
         put_data(f, "/data", H5T_NATIVE_UCHAR, H5T_STD_U8LE, 1, &dd, c.data, 0, true)))
        rc = RM_EIO;
    rc = finish_file(f, rc, tmp, final, err, cap);
    *records = c.records;
    *bytes = c.bytes;
    free(c.index);
    free(c.sizes);
    free(c.data);
    return rc;
}

/* Reads bytes [off, off + len) of /data into buf. */
static int read_range(hid_t d, hsize_t off, hsize_t len, unsigned char *buf)
{
    if (len == 0)
        return 0;
    hid_t fs = H5Dget_space(d), ms = H5Screate_simple(1, &len, NULL);
    int rc = fs >= 0 && ms >= 0 &&
                     H5Sselect_hyperslab(fs, H5S_SELECT_SET, &off, NULL, &len, NULL) >= 0 &&
                     H5Dread(d, H5T_NATIVE_UCHAR, ms, fs, H5P_DEFAULT, buf) >= 0
                 ? 0
                 : RM_ECORRUPT;
    if (ms >= 0)
        H5Sclose(ms);
    if (fs >= 0)
        H5Sclose(fs);
    return rc;
}

/* Loads each record of an open rank file; a damaged one is named and skipped. */
static int load_records(hid_t f, const char *path, struct rm_shuffle *s, uint64_t id_end,
                        uint64_t **ids, size_t *n, char *err, size_t cap)
{
    uint64_t *index = NULL, *sizes = NULL;
    hsize_t di[2], ds[1], dd[1];
    int rc = get_data(f, "/index", H5T_NATIVE_UINT64, 8, 2, (void **)&index, di);
    if (rc == 0)
        rc = get_data(f, "/sizes", H5T_NATIVE_UINT64, 8, 1, (void **)&sizes, ds);
    hid_t d =
        rc == 0 && H5Lexists(f, "/data", H5P_DEFAULT) > 0 ? H5Dopen2(f, "/data", H5P_DEFAULT) : -1;
    hid_t sp = d >= 0 ? H5Dget_space(d) : -1;
    if (rc == 0 && (di[1] != 2 || sp < 0 || H5Sget_simple_extent_dims(sp, dd, NULL) != 1))
        rc = RM_ECORRUPT;
    if (rc != 0)
        snprintf(err, cap, "checkpoint %s: its index cannot be read", path);
    hsize_t part = 0, off = 0;
    for (hsize_t r = 0; rc == 0 && r < di[0]; r++) {
        uint64_t id = index[2 * r], np = index[2 * r + 1];
        if (np > ds[0] - part) {
            snprintf(err, cap, "checkpoint %s: its index is damaged", path);
            rc = RM_ECORRUPT;
            break;
        }
        size_t total = 0;
        bool sane = true;
        for (uint64_t i = 0; i < np; i++) {
            sane &= sizes[part + i] <= dd[0] && total + sizes[part + i] >= total;
            total += (size_t)sizes[part + i];
        }
        sane &= off + total <= dd[0];
        unsigned char *buf = sane ? malloc(total ? total : 1) : NULL;
        unsigned char **pp = sane ? calloc(np ? np : 1, sizeof *pp) : NULL;
        size_t *lens = sane ? calloc(np ? np : 1, sizeof *lens) : NULL;
        int lrc = !sane ? RM_ECORRUPT : !buf || !pp || !lens ? RM_ENOMEM : 0;
        if (lrc == 0)
            lrc = read_range(d, off, total, buf);
        for (uint64_t i = 0, at = 0; lrc == 0 && i < np; i++) {
            pp[i] = buf + at;
            lens[i] = (size_t)sizes[part + i];
            at += lens[i];
        }
        if (lrc == 0 && id < id_end)
            lrc = rm_shuffle_import(s, id, (uint32_t)np, pp, lens);
        if (lrc == 0 && id < id_end && (*n & (*n - 1)) == 0) { /* full at 0, 1, 2, 4, ... */
            uint64_t *q = realloc(*ids, (*n ? 2 * *n : 1) * sizeof **ids);
            if (q)
                *ids = q;
            else
                lrc = RM_ENOMEM;
        }
        if (lrc == 0 && id < id_end)
            (*ids)[(*n)++] = id;
        if (lrc == RM_ECORRUPT)
            fprintf(stderr,
                    "ringmaster: warning: checkpoint %s: the output of task %llu is damaged; "
                    "the task runs again\n",
                    path, (unsigned long long)id);
        else if (lrc != 0)
            rc = lrc;
        free(buf);
        free(pp);
        free(lens);
        part += np;
        off += total;
        if (!sane) { /* the offsets of later records cannot be trusted */
            snprintf(err, cap, "checkpoint %s: its index is damaged", path);
            rc = RM_ECORRUPT;
        }
    }
    if (sp >= 0)
        H5Sclose(sp);
    if (d >= 0)
        H5Dclose(d);
    free(index);
    free(sizes);
    return rc;
}

int rm_ckpt_load_rank(const char *dir, int file, uint64_t job, struct rm_shuffle *s,
                      uint64_t id_end, uint64_t **ids, size_t *n, char *err, size_t cap)
{
    char path[4096];
    rank_path(path, sizeof path, dir, file);
    if (access(path, F_OK) != 0) {
        snprintf(err, cap, "checkpoint %s is missing", path);
        return RM_ENOENT;
    }
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    uint64_t j = 0;
    int rc =
        f >= 0 && format_ok(f) && get_attr(f, "job", H5T_NATIVE_UINT64, &j) == 0 ? 0 : RM_ECORRUPT;
    if (rc != 0)
        snprintf(err, cap, "checkpoint %s is damaged or not a Ringmaster checkpoint", path);
    else if (j != job) {
        snprintf(err, cap, "checkpoint %s belongs to another job", path);
        rc = RM_ECORRUPT;
    }
    if (rc == 0)
        rc = load_records(f, path, s, id_end, ids, n, err, cap);
    if (f >= 0)
        H5Fclose(f);
    return rc;
}

/* ---- the job file ---------------------------------------------------------------------------- */

int rm_ckpt_write_job(const char *dir, const char *identity, uint64_t job, uint32_t ranks,
                      const unsigned char *table, size_t len, char *err, size_t cap)
{
    char final[4096], tmp[4200];
    snprintf(final, sizeof final, "%s/job.h5", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", final, (int)getpid());
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    uint64_t sum = XXH3_64bits(table, len);
    hsize_t dl = len, one = 1;
    hid_t str = H5Tcopy(H5T_C_S1);
    int rc = f >= 0 && str >= 0 && H5Tset_size(str, H5T_VARIABLE) >= 0 ? 0 : RM_EIO;
    if (rc == 0 && (put_string_attr(f, "format", RM_CKPT_FORMAT) ||
                    put_attr(f, "job", H5T_NATIVE_UINT64, &job) ||
                    put_attr(f, "ranks", H5T_NATIVE_UINT32, &ranks) ||
                    put_attr(f, "table_xxh3", H5T_NATIVE_UINT64, &sum) ||
                    put_data(f, "/identity", str, str, 1, &one, &identity, 0, false) ||
                    put_data(f, "/table", H5T_NATIVE_UCHAR, H5T_STD_U8LE, 1, &dl, table, 0, true)))
        rc = RM_EIO;
    if (str >= 0)
        H5Tclose(str);
    return finish_file(f, rc, tmp, final, err, cap);
}

int rm_ckpt_read_job(const char *dir, char **identity, uint64_t *job, uint32_t *ranks,
                     unsigned char **table, size_t *len, char *err, size_t cap)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/job.h5", dir);
    *identity = NULL;
    *table = NULL;
    if (access(path, F_OK) != 0) {
        snprintf(err, cap, "--resume: no checkpoint in %s (%s is missing)", dir, path);
        return RM_ENOENT;
    }
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    uint64_t sum = 0;
    int rc = f >= 0 && format_ok(f) && get_attr(f, "job", H5T_NATIVE_UINT64, job) == 0 &&
                     get_attr(f, "ranks", H5T_NATIVE_UINT32, ranks) == 0 &&
                     get_attr(f, "table_xxh3", H5T_NATIVE_UINT64, &sum) == 0
                 ? 0
                 : RM_ECORRUPT;
    hsize_t dims[1];
    if (rc == 0)
        rc = get_data(f, "/table", H5T_NATIVE_UCHAR, 1, 1, (void **)table, dims);
    if (rc == 0 && XXH3_64bits(*table, (size_t)dims[0]) != sum)
        rc = RM_ECORRUPT;
    hid_t str = H5Tcopy(H5T_C_S1);
    char *id = NULL;
    if (rc == 0 && (str < 0 || H5Tset_size(str, H5T_VARIABLE) < 0))
        rc = RM_ECORRUPT;
    hid_t d = rc == 0 && H5Lexists(f, "/identity", H5P_DEFAULT) > 0
                  ? H5Dopen2(f, "/identity", H5P_DEFAULT)
                  : -1;
    if (rc == 0 && (d < 0 || H5Dread(d, str, H5S_ALL, H5S_ALL, H5P_DEFAULT, &id) < 0 || !id))
        rc = RM_ECORRUPT;
    if (rc == 0 && !(*identity = strdup(id)))
        rc = RM_ENOMEM;
    if (id)
        H5free_memory(id);
    if (d >= 0)
        H5Dclose(d);
    if (str >= 0)
        H5Tclose(str);
    if (f >= 0)
        H5Fclose(f);
    if (rc != 0) {
        snprintf(err, cap, "--resume: the checkpoint %s is damaged", path);
        free(*identity);
        free(*table);
        *identity = NULL;
        *table = NULL;
        return rc == RM_ENOMEM ? rc : RM_ECORRUPT;
    }
    *len = (size_t)dims[0];
    return 0;
}
