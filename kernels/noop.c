/* noop.c: the `noop` kernel: N empty (or CPU-spinning) tasks, to measure the farm's overhead. */
#include <stdio.h>
#include <stdlib.h>

#include "kernels/kernel.h"
#include "ringmaster.h"
#include "runtime/clock.h"
#include "runtime/frame.h"
#include "scheduler/ring.h"

struct noop {
    void (*release)(void *ctx); /* first: see rm_kernel_close */
    uint64_t stage_tasks[1];
    uint32_t task_ms;
};

/* The key of task i is its id, as 8 little-endian bytes. */
static void noop_keys(void *ctx, uint64_t first, uint64_t n, uint64_t *hashes)
{
    (void)ctx;
    for (uint64_t i = 0; i < n; i++) {
        unsigned char b[8];
        rm_put_u64(b, first + i);
        hashes[i] = rm_ring_hash(b, sizeof b);
    }
}

/* Spins the CPU for ms milliseconds: a CPU-bound task that cannot answer heartbeats itself. */
static void spin(uint32_t ms)
{
    uint64_t until = rm_clock_monotonic_ns() + ms * RM_NS_PER_MS;
    volatile uint64_t x = 0;
    while (rm_clock_monotonic_ns() < until)
        for (int i = 0; i < 1000; i++)
            x += (uint64_t)i;
}

static int noop_run(void *ctx, uint64_t id, uint32_t attempt, char *err, size_t cap)
{
    struct noop *k = ctx;
    (void)id;
    (void)attempt;
    (void)err;
    (void)cap;
    if (k->task_ms)
        spin(k->task_ms);
    return 0;
}

static void noop_summary(void *ctx, const struct rm_farm_stats *st, const struct rm_tasktable *tt)
{
    (void)ctx;
    char who[64];
    if (st->workers_end == 0)
        snprintf(who, sizeof who, "by the leader alone");
    else
        snprintf(who, sizeof who, "with %u workers alive at the end", st->workers_end);
    printf("noop: %llu tasks done in %.3f s (%.0f tasks/s) %s; %llu rescheduled, %llu backup "
           "copies\n",
           (unsigned long long)tt->done, st->seconds,
           st->seconds > 0 ? (double)tt->done / st->seconds : 0.0, who,
           (unsigned long long)tt->rescheduled, (unsigned long long)tt->backups);
}

int rm_kernel_noop_open(const struct rm_options *opts, int rank, struct rm_farm_kernel **out,
                        char *err, size_t cap)
{
    (void)rank;
    (void)err;
    (void)cap;
    struct {
        struct rm_farm_kernel k;
        struct noop n;
    } *b = calloc(1, sizeof *b);
    if (!b)
        return RM_ENOMEM;
    b->n.stage_tasks[0] = opts->tasks;
    b->n.task_ms = opts->task_ms;
    b->k = (struct rm_farm_kernel){.name = "noop",
                                   .ctx = &b->n,
                                   .tasks = opts->tasks,
                                   .stages = 1,
                                   .stage_tasks = b->n.stage_tasks,
                                   .keys = noop_keys,
                                   .run = noop_run,
                                   .summary = noop_summary};
    *out = &b->k;
    return 0;
}
