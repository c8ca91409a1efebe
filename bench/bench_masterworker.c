/*
 * bench_masterworker.c: a plain MPI master-worker loop of empty tasks, the baseline that
 * bench_scheduler.py runs against `ringmaster run noop` in the same session. No Ringmaster
 * code is used here (the build links the library into every bench program; it is ignored).
 *
 * Rank 0 is the master, every other rank a worker. The master hands out contiguous ranges of
 * task ids ("batches"), keeping `--outstanding` batches in flight per worker (2 by default:
 * double buffering, so a worker finds its next batch already queued when it finishes one).
 * A worker runs each task through a function pointer, then replies with the number it
 * completed; the master counts completions and refills that worker. When all N are counted
 * the clock stops and the master tells every worker to stop. Small messages go eager, so the
 * master's blocking MPI_Send never waits on a worker.
 *
 * Usage: mpirun -np P bench_masterworker [--tasks N] [--batch B] [--outstanding D]
 * Prints one JSON object on rank 0's stdout. Exit status 0, or 2 on a usage error.
 */
#include <errno.h>
#include <inttypes.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TAG_WORK 21
#define TAG_DONE 22
#define TAG_STOP 23

struct mw_options {
    int64_t tasks;
    int64_t batch;
    int64_t outstanding;
};

/* The empty task. Called through a volatile pointer so the compiler cannot drop the call. */
static void noop_task(int64_t id)
{
    (void)id;
}

static void (*volatile task_fn)(int64_t) = noop_task;

static void usage(FILE *f)
{
    fputs("Usage: mpirun -np P bench_masterworker [options]   (P >= 2)\n"
          "  --tasks N        empty tasks to run [1000000]\n"
          "  --batch B        task ids per work message [64]\n"
          "  --outstanding D  batches in flight per worker [2]\n",
          f);
}

/* Parses a positive integer; returns 0, or -1 if `s` is not one. */
static int parse_positive(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v <= 0)
        return -1;
    *out = v;
    return 0;
}

/* Fills `o` from argv; returns 0, 1 for --help, or -1 with a message in `err`. */
static int parse_args(int argc, char **argv, struct mw_options *o, char *err, size_t errlen)
{
    *o = (struct mw_options){.tasks = 1000000, .batch = 64, .outstanding = 2};
    for (int i = 1; i < argc; i++) {
        int64_t *dst = NULL;
        if (strcmp(argv[i], "--help") == 0)
            return 1;
        if (strcmp(argv[i], "--tasks") == 0)
            dst = &o->tasks;
        else if (strcmp(argv[i], "--batch") == 0)
            dst = &o->batch;
        else if (strcmp(argv[i], "--outstanding") == 0)
            dst = &o->outstanding;
        if (dst == NULL) {
            snprintf(err, errlen, "unknown option '%s'", argv[i]);
            return -1;
        }
        if (i + 1 >= argc || parse_positive(argv[i + 1], dst) != 0) {
            snprintf(err, errlen, "%s needs a positive integer", argv[i]);
            return -1;
        }
        i++;
    }
    return 0;
}

/* Sends worker `w` the next batch of at most `batch` ids, advancing *next. */
static void send_batch(int w, int64_t *next, int64_t n, int64_t batch)
{
    int64_t range[2] = {*next, n - *next < batch ? n - *next : batch};
    *next += range[1];
    MPI_Send(range, 2, MPI_INT64_T, w, TAG_WORK, MPI_COMM_WORLD);
}

/* Runs `n` tasks over ranks 1..size-1; returns the seconds until the last completion. */
static double master_run(int64_t n, const struct mw_options *o, int size)
{
    int64_t next = 0, done = 0;
    double t0 = MPI_Wtime();
    for (int64_t d = 0; d < o->outstanding; d++)
        for (int w = 1; w < size && next < n; w++)
            send_batch(w, &next, n, o->batch);
    while (done < n) {
        int64_t got;
        MPI_Status st;
        MPI_Recv(&got, 1, MPI_INT64_T, MPI_ANY_SOURCE, TAG_DONE, MPI_COMM_WORLD, &st);
        done += got;
        if (next < n)
            send_batch(st.MPI_SOURCE, &next, n, o->batch);
    }
    return MPI_Wtime() - t0;
}

static void master_stop(int size)
{
    int64_t none[2] = {0, 0};
    for (int w = 1; w < size; w++)
        MPI_Send(none, 2, MPI_INT64_T, w, TAG_STOP, MPI_COMM_WORLD);
}

/* Runs batches until the master says stop. */
static void worker_loop(void)
{
    for (;;) {
        int64_t range[2];
        MPI_Status st;
        MPI_Recv(range, 2, MPI_INT64_T, 0, MPI_ANY_TAG, MPI_COMM_WORLD, &st);
        if (st.MPI_TAG == TAG_STOP)
            return;
        for (int64_t id = range[0]; id < range[0] + range[1]; id++)
            task_fn(id);
        MPI_Send(&range[1], 1, MPI_INT64_T, 0, TAG_DONE, MPI_COMM_WORLD);
    }
}

static void report(const struct mw_options *o, int size, double seconds)
{
    printf("{\"bench\":\"masterworker\",\"tasks\":%" PRId64 ",\"ranks\":%d,\"workers\":%d,"
           "\"batch\":%" PRId64 ",\"outstanding\":%" PRId64 ",\"seconds\":%.6f,"
           "\"tasks_per_s\":%.0f,\"us_per_task\":%.4f}\n",
           o->tasks, size, size - 1, o->batch, o->outstanding, seconds, o->tasks / seconds,
           seconds * 1e6 / (double)o->tasks);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    int rank, size;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    struct mw_options o;
    char err[128];
    int prc = parse_args(argc, argv, &o, err, sizeof err);
    if (prc != 0 || size < 2) {
        if (rank == 0 && prc < 0)
            fprintf(stderr, "bench_masterworker: %s\n", err);
        else if (rank == 0 && prc == 0)
            fprintf(stderr, "bench_masterworker: run with at least 2 ranks\n");
        if (rank == 0)
            usage(prc == 1 ? stdout : stderr);
        MPI_Finalize();
        return prc == 1 ? 0 : 2;
    }
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0) {
        /* Warm-up: one round of batches per worker, so connections and buffers exist. */
        master_run((size - 1) * o.batch * o.outstanding, &o, size);
        double seconds = master_run(o.tasks, &o, size);
        master_stop(size);
        report(&o, size, seconds);
    } else {
        worker_loop();
    }
    MPI_Finalize();
    return 0;
}
