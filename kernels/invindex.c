/*
 * invindex.c: the `invindex` kernel, an inverted index, written as a job of the C API
 * (ringmaster.h) and run by the same engine as user jobs (usermr.c).
 *
 * Output: one line per word (maximal runs of ASCII letters, folded to lower case), sorted by
 * word in byte order: `word<TAB>file<TAB>count[<TAB>file<TAB>count...]`, the files sorted by
 * path in byte order, each with the number of times the word occurs in it.
 *
 * Map counts a split's words with the wordcount table and emits (word, "count<TAB>path") per
 * distinct word; reduce adds up the counts per file.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernel.h"
#include "kernels/wordcount.h"
#include "ringmaster.h"

static int ii_map(void *user, const char *text, size_t len, struct rm_emitter *out)
{
    (void)user;
    const char *path = rm_emitter_path(out);
    size_t plen = strlen(path);
    struct rm_wc t;
    int rc = rm_wc_init(&t);
    if (rc == 0)
        rc = rm_wc_map(&t, text, len, false);
    struct rm_wc_entry *e = NULL;
    size_t n = 0;
    if (rc == 0)
        rc = rm_wc_sorted(&t, &e, &n);
    char *v = malloc(plen + 32);
    if (rc == 0 && !v)
        rc = RM_ENOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        int vl = snprintf(v, plen + 32, "%" PRIu64 "\t%s", e[i].count, path);
        rc = rm_emit(out, e[i].word, e[i].len, v, (size_t)vl);
    }
    free(v);
    free(e);
    rm_wc_free(&t);
    return rc;
}

struct posting {
    const char *path;
    size_t len;
    uint64_t count;
};

static int by_path(const void *a, const void *b)
{
    const struct posting *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->path, y->path, n);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

static int ii_reduce(void *user, const char *key, size_t klen, struct rm_values *values,
                     struct rm_emitter *out)
{
    (void)user;
    struct posting *p = NULL;
    size_t n = 0, cap = 0, bytes = 0;
    const char *v;
    size_t vlen;
    while (rm_values_next(values, &v, &vlen)) {
        const char *tab = memchr(v, '\t', vlen);
        if (!tab)
            return RM_ECORRUPT;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            struct posting *q = realloc(p, cap * sizeof *q);
            if (!q) {
                free(p);
                return RM_ENOMEM;
            }
            p = q;
        }
        p[n++] = (struct posting){tab + 1, vlen - (size_t)(tab + 1 - v), strtoull(v, NULL, 10)};
        bytes += vlen + 2;
    }
    if (n > 1)
        qsort(p, n, sizeof *p, by_path);
    char *line = malloc(bytes + 1), *w = line;
    for (size_t i = 0; line && i < n;) { /* one entry per file, its counts summed */
        uint64_t c = 0;
        size_t j = i;
        while (j < n && by_path(&p[i], &p[j]) == 0)
            c += p[j++].count;
        w += sprintf(w, "%s%.*s\t%" PRIu64, i ? "\t" : "", (int)p[i].len, p[i].path, c);
        i = j;
    }
    int rc = line ? rm_emit(out, key, klen, line, (size_t)(w - line)) : RM_ENOMEM;
    free(line);
    free(p);
    return rc;
}

static const struct rm_job invindex_job = {.name = "invindex", .map = ii_map, .reduce = ii_reduce};

int rm_kernel_invindex_open(const struct rm_options *opts, int rank, struct rm_farm_kernel **out,
                            char *err, size_t cap)
{
    return rm_kernel_usermr_open(opts, &invindex_job, rank, out, err, cap);
}
