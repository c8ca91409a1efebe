/* mrjob.c: see mrjob.h. */
#include "kernels/mrjob.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kernels/output.h"
#include "ringmaster.h"
#include "runtime/frame.h"
#include "scheduler/ring.h"
#include "scheduler/shuffle.h"

int rm_mrjob_open(struct rm_mrjob *j, const char *name, const struct rm_options *opts,
                  uint64_t split_size, int rank, char *err, size_t cap)
{
    j->name = name;
    j->rank = rank;
    j->r = opts->partitions;
    j->output = opts->output;
    pthread_mutex_init(&j->mu, NULL);
    int rc = rm_inputs_expand(opts->inputs, opts->n_inputs, &j->in, err, cap);
    if (rc == RM_ENOENT || rc == RM_EIO || rc == RM_EINVAL)
        rc = RM_EUSAGE;
    for (size_t i = 0; rc == 0 && i < j->in.n; i++)
        j->in_bytes += j->in.files[i].size;
    if (rc == 0)
        rc = rm_splits_make(&j->in, split_size, &j->splits, &j->m);
    if (rc == 0 && j->m > RM_TT_MAX_TASKS - j->r) {
        snprintf(err, cap, "%zu map tasks are too many; raise --split-size", j->m);
        rc = RM_EUSAGE;
    }
    if (rc == 0 && !(j->holder = calloc(j->m ? j->m : 1, sizeof *j->holder)))
        rc = RM_ENOMEM;
    if (rc != 0)
        rm_mrjob_close(j);
    return rc;
}

int rm_mrjob_prepare_output(struct rm_mrjob *j, const struct rm_options *opts, char *err,
                            size_t cap)
{
    int rc = rm_output_prepare(opts->output, &j->parts, err, cap);
    if (rc != 0)
        rm_mrjob_close(j);
    return rc;
}

void rm_mrjob_close(struct rm_mrjob *j)
{
    if (!j->name)
        return; /* zeroed, or closed already */
    rm_inputs_free(&j->in);
    rm_splits_free(j->splits);
    free(j->parts);
    free(j->holder);
    rm_split_buf_free(&j->rbuf);
    pthread_mutex_destroy(&j->mu);
    j->splits = NULL;
    j->parts = NULL;
    j->holder = NULL;
    j->name = NULL;
}

void rm_mrjob_keys(void *ctx, uint64_t first, uint64_t n, uint64_t *hashes)
{
    struct rm_mrjob *j = ctx;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t id = first + i;
        if (id < j->m) {
            hashes[i] = rm_split_key_hash(&j->in, &j->splits[id]);
        } else { /* a reduce task's key: its partition number */
            unsigned char b[12] = {'r', 'e', 'd', 'u'};
            rm_put_u64(b + 4, id - j->m);
            hashes[i] = rm_ring_hash(b, sizeof b);
        }
    }
}

void rm_mrjob_describe(void *ctx, uint64_t id, char *buf, size_t cap)
{
    struct rm_mrjob *j = ctx;
    if (id < j->m)
        snprintf(buf, cap, "%s map task %llu (%s bytes %llu-%llu)", j->name, (unsigned long long)id,
                 j->in.files[j->splits[id].file].path, (unsigned long long)j->splits[id].start,
                 (unsigned long long)j->splits[id].end);
    else
        snprintf(buf, cap, "%s reduce task %llu (partition %llu)", j->name, (unsigned long long)id,
                 (unsigned long long)(id - j->m));
}

int rm_mrjob_attach(void *ctx, int rank, int size, struct rm_shuffle *shuffle)
{
    struct rm_mrjob *j = ctx;
    (void)size;
    j->rank = rank;
    j->shuffle = shuffle;
    return shuffle ? 0 : RM_EINVAL;
}

void rm_mrjob_holders(void *ctx, uint32_t stage, uint64_t first, uint32_t n,
                      const uint32_t *holders)
{
    struct rm_mrjob *j = ctx;
    if (stage != 1 || first != 0 || n < j->m) /* the map tasks are ids [0, m) */
        return;
    pthread_mutex_lock(&j->mu);
    memcpy(j->holder, holders, (size_t)n * sizeof *holders);
    pthread_mutex_unlock(&j->mu);
}

void rm_mrjob_kernel(struct rm_mrjob *j, struct rm_farm_kernel *k)
{
    j->stage_tasks[0] = j->m;
    j->stage_tasks[1] = j->r;
    k->name = j->name;
    k->ctx = j;
    k->tasks = j->m + j->r;
    k->stages = 2;
    k->stage_tasks = j->stage_tasks;
    k->held_outputs = true;
    k->input_bytes = j->in_bytes;
    k->attach = rm_mrjob_attach;
    k->holders = rm_mrjob_holders;
    k->keys = rm_mrjob_keys;
    k->describe = rm_mrjob_describe;
}

bool rm_mrjob_output_kept(void *ctx, uint64_t id)
{
    struct rm_mrjob *j = ctx;
    if (id < j->m || id >= j->m + j->r)
        return false;
    size_t plen = strlen(j->parts) + 32;
    char *part = malloc(plen);
    struct stat sb;
    bool kept = false;
    if (part) {
        snprintf(part, plen, "%s/%llu", j->parts, (unsigned long long)(id - j->m));
        kept = stat(part, &sb) == 0 && S_ISREG(sb.st_mode);
    }
    free(part);
    return kept;
}

int rm_mrjob_read_split(struct rm_mrjob *j, uint64_t id, char **buf, size_t *len, char *err,
                        size_t cap)
{
    return rm_split_read_buf(&j->in, &j->splits[id], &j->rbuf, buf, len, err, cap);
}

int rm_mrjob_gather(struct rm_mrjob *j, uint32_t r,
                    int (*fn)(void *arg, size_t m, unsigned char *buf, size_t len), void *arg,
                    char *err, size_t cap)
{
    uint32_t *h = malloc((j->m ? j->m : 1) * sizeof *h);
    uint64_t *ids = malloc((j->m ? j->m : 1) * sizeof *ids);
    if (!h || !ids) {
        free(h);
        free(ids);
        return RM_ENOMEM;
    }
    pthread_mutex_lock(&j->mu);
    for (size_t m = 0; m < j->m; m++) {
        h[m] = j->holder[m];
        ids[m] = m;
    }
    pthread_mutex_unlock(&j->mu);
    size_t bad = 0;
    int rc = rm_shuffle_fetch_all(j->shuffle, j->m, h, ids, r, fn, arg, &bad);
    /* RM_EDEAD: the farm recomputes what the holder held, then reruns this task */
    if (rc != 0 && rc != RM_EDEAD && !err[0])
        snprintf(err, cap, "partition %u of map task %zu from rank %u: %s", r, bad,
                 bad < j->m ? h[bad] : 0, rm_strerror(rc));
    free(h);
    free(ids);
    return rc;
}

int rm_mrjob_write_part(struct rm_mrjob *j, uint32_t r, uint32_t attempt,
                        int (*write)(void *arg, FILE *f), void *arg, char *err, size_t cap)
{
    size_t plen = strlen(j->parts) + 64;
    char *tmp = malloc(plen), *part = malloc(plen);
    int rc = tmp && part ? 0 : RM_ENOMEM;
    FILE *f = NULL;
    if (rc == 0) {
        snprintf(tmp, plen, "%s/%u.tmp.%d.%u", j->parts, r, j->rank, attempt);
        snprintf(part, plen, "%s/%u", j->parts, r);
        if (!(f = fopen(tmp, "we"))) {
            snprintf(err, cap, "cannot create %s: %s", tmp, strerror(errno));
            rc = RM_EIO;
        }
    }
    if (rc == 0) {
        rc = write(arg, f);
        if (rc == RM_EIO && !err[0])
            snprintf(err, cap, "cannot write %s: %s", tmp, strerror(errno));
    }
    if (f && fclose(f) != 0 && rc == 0) {
        snprintf(err, cap, "cannot write %s: %s", tmp, strerror(errno));
        rc = RM_EIO;
    }
    if (rc == 0 && rename(tmp, part) != 0) {
        snprintf(err, cap, "cannot rename %s: %s", tmp, strerror(errno));
        rc = RM_EIO;
    }
    if (rc != 0 && f)
        unlink(tmp);
    free(tmp);
    free(part);
    return rc;
}
