/*
 * transport_check.c: every rank sends every other rank FRAMES frames of mixed sizes through
 * rm_transport (small ones batched, some larger than a batch and so fragmented), and checks
 * that each peer's frames arrive complete, unaltered and in order. Rank 1 stops polling for a
 * while at the start, so that the others' rings to it fill up and their batches wait for room
 * (with same-node rings on). Prints one line per rank and exits 0, or 1 on any mismatch.
 * Run by test_transport.py, with RINGMASTER_SHM unset (rings) and =0 (MPI only).
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ringmaster.h"
#include "runtime/transport.h"

#define FRAMES 6000
#define STALL_MS 300

struct rx {
    int size;
    unsigned *next; /* per source: the next frame number expected */
    long bad, total;
};

/* Frame k from a source has size_of(k) bytes: a u32 k, then bytes (k + i) & 0xff. */
static size_t size_of(unsigned k)
{
    if (k % 997 == 0)
        return 40000; /* fragments: more than a 16 KiB batch */
    if (k % 61 == 0)
        return 3000 + k % 500;
    return 4 + k % 120;
}

static void on_frame(void *ctx, const struct rm_frame_header *h, const void *payload)
{
    struct rx *x = ctx;
    const unsigned char *p = payload;
    int src = (int)h->sender;
    x->total++;
    if (src < 0 || src >= x->size || h->length < 4) {
        x->bad++;
        return;
    }
    unsigned k = (unsigned)p[0] | (unsigned)p[1] << 8 | (unsigned)p[2] << 16 | (unsigned)p[3] << 24;
    if (k != x->next[src] || h->length != size_of(k)) {
        if (x->bad++ < 5)
            fprintf(stderr, "frame %u (%u bytes) from %d where %u was expected\n", k, h->length,
                    src, x->next[src]);
        x->next[src] = k + 1;
        return;
    }
    for (size_t i = 4; i < h->length; i++)
        x->bad += p[i] != (unsigned char)(k + i);
    x->next[src]++;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Sends this rank's share, polling between bursts, until everything went out and came in. */
static int exchange(struct rm_transport *t, int rank, int size, struct rx *x)
{
    static unsigned char buf[40000];
    unsigned sent = 0;
    int act;
    double start = now_ms(), deadline = start + 60000;
    for (;;) {
        bool stalled = rank == 1 && now_ms() < start + STALL_MS;
        for (int burst = 0; burst < 40 && sent < FRAMES; burst++, sent++) {
            size_t n = size_of(sent);
            buf[0] = (unsigned char)sent;
            buf[1] = (unsigned char)(sent >> 8);
            buf[2] = (unsigned char)(sent >> 16);
            buf[3] = (unsigned char)(sent >> 24);
            for (size_t i = 4; i < n; i++)
                buf[i] = (unsigned char)(sent + i);
            for (int d = 0; d < size; d++)
                if (d != rank && rm_transport_send(t, d, RM_MSG_PING, buf, n) != 0)
                    return 1;
        }
        if (rm_transport_flush(t) != 0)
            return 1;
        if (!stalled && rm_transport_poll(t, 64, false, on_frame, x, &act) != 0)
            return 1;
        bool all_in = true;
        for (int s = 0; s < size; s++)
            all_in &= s == rank || x->next[s] >= FRAMES;
        if (sent == FRAMES && all_in && rm_transport_pending(t) == 0)
            return 0;
        if (now_ms() > deadline) {
            fprintf(stderr, "rank %d: timed out\n", rank);
            return 1;
        }
    }
}

int main(int argc, char **argv)
{
    int provided, rank, size;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    MPI_Comm comm;
    MPI_Comm_dup(MPI_COMM_WORLD, &comm);
    MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    struct rm_transport_config cfg = {
        .comm = comm, .tag = 7, .shm_ring_bytes = rm_transport_shm_env()};
    struct rm_transport *t;
    if (rm_transport_create(&cfg, &t) != 0) {
        fprintf(stderr, "rank %d: creating the transport failed\n", rank);
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    struct rx x = {.size = size, .next = calloc((size_t)size, sizeof(unsigned))};
    int rc = exchange(t, rank, size, &x);
    struct rm_transport_stats st;
    rm_transport_stats(t, &st);
    rm_transport_destroy(t, 2000);
    rc |= x.bad != 0 || x.total != (long)FRAMES * (size - 1) || st.malformed != 0;
    printf("rank %d: %s: %ld frames received, %ld bad, %llu batches sent, %llu through shared "
           "memory, %llu waited for ring room, %llu malformed\n",
           rank, rc ? "FAILED" : "ok", x.total, x.bad, (unsigned long long)st.batches_sent,
           (unsigned long long)st.batches_shm, (unsigned long long)st.shm_waits,
           (unsigned long long)st.malformed);
    fflush(stdout);
    free(x.next);
    MPI_Barrier(MPI_COMM_WORLD);
    MPI_Comm_free(&comm);
    MPI_Finalize();
    return rc;
}
