/* kernel.c: see kernel.h. */
#include "kernels/kernel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringmaster.h"

struct kernel_entry {
    const char *name;
    int (*open)(const struct rm_options *, int, struct rm_farm_kernel **, char *, size_t);
};

static const struct kernel_entry table[] = {
    {"grep", rm_kernel_grep_open},           {"histogram", rm_kernel_histogram_open},
    {"invindex", rm_kernel_invindex_open},   {"kmeans", rm_kernel_kmeans_open},
    {"noop", rm_kernel_noop_open},           {"pagerank", rm_kernel_pagerank_open},
    {"sort", rm_kernel_sort_open},           {"tasks", rm_kernel_tasks_open},
    {"wordcount", rm_kernel_wordcount_open},
};

int rm_kernel_open(const struct rm_options *opts, int rank, struct rm_farm_kernel **out, char *err,
                   size_t cap)
{
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp(opts->kernel, table[i].name) == 0)
            return table[i].open(opts, rank, out, err, cap);
    snprintf(err, cap, "unknown kernel '%s'", opts->kernel);
    return RM_ENOENT;
}

/* Every kernel allocates its context and the struct in one block (see each kernel's open), so
 * one free releases both; a kernel with more to release says so in its ctx's first member. */
void rm_kernel_close(struct rm_farm_kernel *k)
{
    if (!k)
        return;
    struct kernel_ctx_head {
        void (*release)(void *ctx);
    } *head = k->ctx;
    if (head && head->release)
        head->release(k->ctx);
    free(k);
}
