/*
 * bench_raft.c: Raft commit latency and throughput over MPI, through the real control thread,
 * message layer and driver. Run with 3 ranks (3 voters). Prints one JSON object on the leader.
 *
 *  latency:    the main thread asks the control thread to propose one 64-byte entry and waits
 *              until the leader applies it; repeated `rounds` times.
 *  throughput: the leader keeps up to `window` entries uncommitted and proposes more as they
 *              commit, until `total` entries are applied.
 * Both run with the module's batching (256 entries per append) and without (1 per append).
 * Latency is summarised over its `rounds` samples, throughput over `reps` streams (median, min,
 * max and n of each).
 * Usage: mpirun -np 3 bench_raft [rounds] [total] [reps]
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringmaster.h"
#include "runtime/clock.h"
#include "runtime/control.h"
#include "runtime/log.h"
#include "runtime/mailbox.h"
#include "runtime/raftnode.h"
#include "runtime/world.h"

#define WINDOW 512

/* The median, extremes and count of a set of samples. */
struct spread {
    double median, min, max;
    int n;
};

struct bench {
    struct rm_control *c;
    struct rm_raftnode *raft;
    struct rm_mailbox mb;
    long applied, proposed, target; /* throughput phase */
    bool streaming;
};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void on_apply(void *ctx, const void *data, size_t len, uint64_t index)
{
    struct bench *b = ctx;
    (void)data;
    (void)len;
    (void)index;
    b->applied++;
    if (!rm_raftnode_is_leader(b->raft))
        return;
    if (!b->streaming || b->applied == b->target)
        rm_mailbox_put(&b->mb, 1, NULL, 0);
}

static void on_leader(void *ctx, int leader, uint64_t term, bool self)
{
    struct bench *b = ctx;
    (void)leader;
    (void)term;
    if (self)
        rm_mailbox_put(&b->mb, 2, NULL, 0);
}

static void propose_one(struct rm_control *c, void *arg)
{
    struct bench *b = arg;
    unsigned char entry[64] = {1};
    (void)c;
    if (rm_raftnode_propose(b->raft, entry, sizeof entry) != 0)
        rm_mailbox_put(&b->mb, 3, NULL, 0);
}

/* Keeps the window full while streaming (control thread, every loop pass). */
static void on_tick(struct rm_control *c, void *ctx, uint64_t now)
{
    struct bench *b = ctx;
    unsigned char entry[64] = {1};
    (void)c;
    (void)now;
    while (b->streaming && b->proposed < b->target && b->proposed - b->applied < WINDOW &&
           rm_raftnode_propose(b->raft, entry, sizeof entry) == 0)
        b->proposed++;
}

static void start_stream(struct rm_control *c, void *arg)
{
    struct bench *b = arg;
    b->proposed = b->applied = 0;
    b->streaming = true;
    on_tick(c, b, 0);
}

static void on_shutdown(struct rm_control *c, void *ctx, const struct rm_frame_header *h,
                        const void *payload)
{
    struct bench *b = ctx;
    (void)c;
    (void)h;
    (void)payload;
    rm_mailbox_put(&b->mb, 4, NULL, 0);
}

static void send_shutdown(struct rm_control *c, void *arg)
{
    (void)arg;
    rm_control_broadcast(c, RM_MSG_SHUTDOWN, "\0\0\0\0", 4);
}

static void wait_mail(struct bench *b)
{
    struct rm_mail *m;
    if (rm_mailbox_get(&b->mb, &m) == 0)
        free(m);
}

/* Sorts v[0..n) and summarises it. */
static struct spread spread_of(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    double med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    return (struct spread){med, v[0], v[n - 1], n};
}

/* Returns the commit latencies in microseconds, one per round. */
static struct spread latency(struct bench *b, int rounds)
{
    double *v = malloc((size_t)rounds * sizeof *v);
    if (!v)
        MPI_Abort(MPI_COMM_WORLD, 1);
    for (int i = 0; i < rounds; i++) {
        uint64_t t0 = rm_clock_monotonic_ns();
        rm_control_call(b->c, propose_one, b);
        wait_mail(b);
        v[i] = (double)(rm_clock_monotonic_ns() - t0) / 1e3;
    }
    struct spread s = spread_of(v, rounds);
    free(v);
    return s;
}

static double throughput(struct bench *b, long total)
{
    b->target = total;
    uint64_t t0 = rm_clock_monotonic_ns();
    rm_control_call(b->c, start_stream, b);
    wait_mail(b);
    double s = (double)(rm_clock_monotonic_ns() - t0) / 1e9;
    b->streaming = false; /* the control thread only reads it; the stream is complete */
    return total / s;
}

/* Streams `total` entries `reps` times; returns the entries per second of each stream. */
static struct spread throughputs(struct bench *b, long total, int reps)
{
    double *v = malloc((size_t)reps * sizeof *v);
    if (!v)
        MPI_Abort(MPI_COMM_WORLD, 1);
    for (int i = 0; i < reps; i++)
        v[i] = throughput(b, total);
    struct spread s = spread_of(v, reps);
    free(v);
    return s;
}

/* One configuration: returns through *lat_us and *tput. Collective. */
static void run(struct rm_world *w, uint32_t batch, int rounds, long total, int reps,
                struct spread *lat_us, struct spread *tput)
{
    struct bench b = {0};
    rm_mailbox_init(&b.mb);
    MPI_Comm comm; /* a fresh communicator per run: nothing of an earlier run can leak in */
    MPI_Comm_dup(w->comm, &comm);
    struct rm_control_config cc = {.comm = comm,
                                   .heartbeat_ns = 100 * RM_NS_PER_MS,
                                   .suspect_ns = 400 * RM_NS_PER_MS,
                                   .watchers = 3};
    struct rm_raftnode_config rc = {.voters = 3, .max_batch_entries = batch, .seed = 42};
    struct rm_raftnode_app app = {.apply = on_apply, .leader_changed = on_leader, .ctx = &b};
    if (rm_control_create(&cc, &b.c) != 0 || rm_raftnode_create(b.c, &rc, &app, &b.raft) != 0 ||
        rm_control_on_tick(b.c, on_tick, &b) != 0 ||
        rm_control_on(b.c, RM_MSG_SHUTDOWN, on_shutdown, &b) != 0 || rm_control_start(b.c) != 0)
        MPI_Abort(MPI_COMM_WORLD, 1);
    *lat_us = *tput = (struct spread){0};
    if (w->rank == 0) { /* the lowest rank campaigns first and wins on a quiet start */
        wait_mail(&b);
        *lat_us = latency(&b, rounds);
        *tput = throughputs(&b, total, reps);
        rm_control_call(b.c, send_shutdown, NULL);
    } else {
        struct rm_mail *m; /* followers serve until the leader is done */
        while (rm_mailbox_get(&b.mb, &m) == 0) {
            int type = m->type;
            free(m);
            if (type == 4)
                break;
        }
    }
    rm_control_stop(b.c, 1000);
    MPI_Barrier(comm); /* everyone stops its control thread before the next round */
    MPI_Comm_free(&comm);
    rm_raftnode_destroy(b.raft);
    rm_control_destroy(b.c);
    rm_mailbox_close(&b.mb);
}

/* Prints "name":{"median":..,"min":..,"max":..,"n":..} with `prec` decimals, then `after`. */
static void print_spread(const char *name, int prec, const struct spread *s, const char *after)
{
    printf("\"%s\":{\"median\":%.*f,\"min\":%.*f,\"max\":%.*f,\"n\":%d}%s", name, prec, s->median,
           prec, s->min, prec, s->max, s->n, after);
}

int main(int argc, char **argv)
{
    struct rm_world w;
    if (rm_world_init(&argc, &argv, &w) != 0)
        return 1;
    rm_log_init(w.rank, RM_LOG_WARN);
    int rounds = argc > 1 ? atoi(argv[1]) : 2000;
    long total = argc > 2 ? atol(argv[2]) : 200000;
    int reps = argc > 3 ? atoi(argv[3]) : 5;
    if (rounds < 1 || total < 1 || reps < 1) {
        if (w.rank == 0)
            fprintf(stderr, "usage: mpirun -np 3 bench_raft [rounds] [total] [reps]\n");
        rm_world_finalize(&w, false);
        return 2;
    }
    struct spread lb, tb, l1, t1;
    run(&w, 0, rounds, total, reps, &lb, &tb);
    run(&w, 1, rounds, total, reps, &l1, &t1);
    if (w.rank == 0) {
        printf("{\"bench\":\"raft_commit\",\"voters\":3,\"entry_bytes\":64,\"rounds\":%d,"
               "\"total\":%ld,\"reps\":%d,\"window\":%d,\"batched\":{",
               rounds, total, reps, WINDOW);
        print_spread("latency_us", 1, &lb, ",");
        print_spread("entries_per_s", 0, &tb, "},\"unbatched\":{");
        print_spread("latency_us", 1, &l1, ",");
        print_spread("entries_per_s", 0, &t1, "}}\n");
    }
    rm_world_finalize(&w, false);
    return 0;
}
