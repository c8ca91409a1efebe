/*
 * bench_transport.c: the framed, batched message layer against plain MPI, in one run.
 * Run with exactly 2 ranks. Prints one JSON object on rank 0's stdout.
 *
 *  latency: ping-pong of 8-byte messages; plain MPI_Send/MPI_Recv versus rm_transport_send +
 *           flush and rm_transport_poll (framing, checksum, validation, reordering). The
 *           transport is configured as the runtime configures it: with same-node rings unless
 *           RINGMASTER_SHM=0 (set it, with --mca btl self,tcp, to measure the path between
 *           nodes). With the rings on, the transport over MPI alone is measured too
 *           ("ringmaster_mpi_only"), so that both of our paths are on record.
 *  rate:    rank 0 streams small messages to rank 1; plain MPI uses a window of 64 Isends
 *           (the OSU message-rate pattern), ours appends to the per-peer batch and flushes
 *           every 64 messages. The receiver acknowledges the end.
 * Each measurement is repeated `reps` times; medians, minima, maxima and counts (n) are
 * reported. The ratios are of the medians.
 * `bench_transport 1 plain|rm` runs one latency variant alone (for callgrind).
 */
#include <mpi.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringmaster.h"
#include "runtime/transport.h"

#define TAG_PLAIN 11
#define TAG_RM 12
#define WINDOW 64

static int rank;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Prints "name":{"median":..,"min":..,"max":..,"n":..}, with `prec` decimals; `v` is sorted
 * (median() sorts it). */
static void print_spread(const char *name, int prec, double med, const double *v, int n)
{
    printf("\"%s\":{\"median\":%.*f,\"min\":%.*f,\"max\":%.*f,\"n\":%d},", name, prec, med, prec,
           v[0], prec, v[n - 1], n);
}

static double plain_pingpong(int iters)
{
    char buf[8] = {0};
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = MPI_Wtime();
    for (int i = 0; i < iters; i++) {
        if (rank == 0) {
            MPI_Send(buf, 8, MPI_BYTE, 1, TAG_PLAIN, MPI_COMM_WORLD);
            MPI_Recv(buf, 8, MPI_BYTE, 1, TAG_PLAIN, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        } else {
            MPI_Recv(buf, 8, MPI_BYTE, 0, TAG_PLAIN, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            MPI_Send(buf, 8, MPI_BYTE, 0, TAG_PLAIN, MPI_COMM_WORLD);
        }
    }
    return (MPI_Wtime() - t0) / iters / 2 * 1e6; /* one-way, us */
}

static void count_frame(void *ctx, const struct rm_frame_header *h, const void *payload)
{
    (void)h;
    (void)payload;
    ++*(long *)ctx;
}

/* Polls until `want` frames have arrived. */
static void wait_frames(struct rm_transport *t, long *got, long want)
{
    int act;
    while (*got < want)
        rm_transport_poll(t, 64, false, count_frame, got, &act);
}

static double rm_pingpong(struct rm_transport *t, int iters)
{
    char buf[8] = {0};
    long got = 0;
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = MPI_Wtime();
    for (int i = 0; i < iters; i++) {
        if (rank == 0) {
            rm_transport_send(t, 1, RM_MSG_PING, buf, 8);
            rm_transport_flush(t);
            wait_frames(t, &got, i + 1);
        } else {
            wait_frames(t, &got, i + 1);
            rm_transport_send(t, 0, RM_MSG_PONG, buf, 8);
            rm_transport_flush(t);
        }
    }
    return (MPI_Wtime() - t0) / iters / 2 * 1e6;
}

static double plain_rate(int n)
{
    char buf[8] = {0}, ack = 0;
    MPI_Request req[WINDOW];
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = MPI_Wtime();
    for (int i = 0; i < n; i += WINDOW) {
        for (int w = 0; w < WINDOW; w++) {
            if (rank == 0)
                MPI_Isend(buf, 8, MPI_BYTE, 1, TAG_PLAIN, MPI_COMM_WORLD, &req[w]);
            else
                MPI_Irecv(buf, 8, MPI_BYTE, 0, TAG_PLAIN, MPI_COMM_WORLD, &req[w]);
        }
        MPI_Waitall(WINDOW, req, MPI_STATUSES_IGNORE);
    }
    if (rank == 1)
        MPI_Send(&ack, 1, MPI_BYTE, 0, TAG_PLAIN + 1, MPI_COMM_WORLD);
    else
        MPI_Recv(&ack, 1, MPI_BYTE, 1, TAG_PLAIN + 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    return n / (MPI_Wtime() - t0);
}

static double rm_rate(struct rm_transport *t, int n)
{
    char buf[8] = {0};
    long got = 0;
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = MPI_Wtime();
    if (rank == 0) {
        int act;
        for (int i = 0; i < n; i++) {
            rm_transport_send(t, 1, RM_MSG_PING, buf, 8);
            if ((i + 1) % WINDOW == 0) {
                rm_transport_flush(t);
                rm_transport_poll(t, 0, false, count_frame, &got, &act); /* reap sends */
            }
        }
        rm_transport_flush(t);
        wait_frames(t, &got, 1);
    } else {
        wait_frames(t, &got, n);
        rm_transport_send(t, 0, RM_MSG_PONG, buf, 1);
        rm_transport_flush(t);
    }
    double rate = n / (MPI_Wtime() - t0);
    int act = 1;
    while (rm_transport_pending(t) > 0)
        rm_transport_poll(t, 0, false, count_frame, &got, &act);
    return rate;
}

int main(int argc, char **argv)
{
    int provided, size;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (size != 2) {
        if (rank == 0)
            fprintf(stderr, "bench_transport: run with exactly 2 ranks\n");
        MPI_Finalize();
        return 2;
    }
    int reps = argc > 1 ? atoi(argv[1]) : 9, n = 1000000;
    int iters = getenv("BENCH_ITERS") ? atoi(getenv("BENCH_ITERS")) : 20000;
    MPI_Comm comm;
    MPI_Comm_dup(MPI_COMM_WORLD, &comm);
    struct rm_transport_config cfg = {
        .comm = comm, .tag = TAG_RM, .shm_ring_bytes = rm_transport_shm_env()};
    struct rm_transport_config cfg_mpi = cfg;
    cfg_mpi.shm_ring_bytes = 0;
    bool both = cfg.shm_ring_bytes > 0;
    struct rm_transport *t;
    if (rm_transport_create(&cfg, &t) != 0)
        MPI_Abort(MPI_COMM_WORLD, 1);
    double *lp = calloc((size_t)reps, sizeof(double)), *lr = calloc((size_t)reps, sizeof(double));
    double *rp = calloc((size_t)reps, sizeof(double)), *rr = calloc((size_t)reps, sizeof(double));
    double *lm = calloc((size_t)reps, sizeof(double));
    if (argc > 2) { /* profiling aid: only one latency variant, e.g. under callgrind */
        double us = strcmp(argv[2], "plain") == 0 ? plain_pingpong(iters) : rm_pingpong(t, iters);
        if (rank == 0)
            printf("{\"variant\":\"%s\",\"latency_us\":%.3f}\n", argv[2], us);
        rm_transport_destroy(t, 1000);
        MPI_Finalize();
        return 0;
    }
    plain_pingpong(2000); /* warm-up */
    rm_pingpong(t, 2000);
    rm_transport_destroy(t, 1000);
    /* Interleaved so that machine noise hits both alike. The transport exists only during its
     * own phases, so its posted receives cannot slow the plain MPI baseline down. */
    for (int r = 0; r < reps; r++) {
        lp[r] = plain_pingpong(iters);
        if (rm_transport_create(&cfg, &t) != 0)
            MPI_Abort(MPI_COMM_WORLD, 1);
        lr[r] = rm_pingpong(t, iters);
        rm_transport_destroy(t, 1000);
        if (both) {
            if (rm_transport_create(&cfg_mpi, &t) != 0)
                MPI_Abort(MPI_COMM_WORLD, 1);
            lm[r] = rm_pingpong(t, iters);
            rm_transport_destroy(t, 1000);
        }
        rp[r] = plain_rate(n);
        if (rm_transport_create(&cfg, &t) != 0)
            MPI_Abort(MPI_COMM_WORLD, 1);
        rr[r] = rm_rate(t, n);
        rm_transport_destroy(t, 1000);
    }
    if (rank == 0) {
        double mlp = median(lp, reps), mlr = median(lr, reps);
        double mrp = median(rp, reps), mrr = median(rr, reps);
        printf("{\"bench\":\"transport\",\"reps\":%d,\"latency_us\":{", reps);
        print_spread("plain_mpi", 3, mlp, lp, reps);
        print_spread("ringmaster", 3, mlr, lr, reps);
        if (both) {
            double mlm = median(lm, reps);
            print_spread("ringmaster_mpi_only", 3, mlm, lm, reps);
            printf("\"ratio_mpi_only\":%.3f,", mlm / mlp);
        }
        printf("\"shm_rings\":%s,", both ? "true" : "false");
        printf("\"ratio\":%.3f},\"rate_msgs_per_s\":{", mlr / mlp);
        print_spread("plain_mpi", 0, mrp, rp, reps);
        print_spread("ringmaster", 0, mrr, rr, reps);
        printf("\"ratio\":%.3f}}\n", mrr / mrp);
    }
    free(lp);
    free(lr);
    free(rp);
    free(rr);
    free(lm);
    MPI_Finalize();
    return 0;
}
