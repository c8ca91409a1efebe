/* noop.c: see noop.h. */
#include "scheduler/noop.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ringmaster.h"
#include "runtime/clock.h"
#include "runtime/log.h"
#include "runtime/mailbox.h"

#define COORD 0
#define MAX_BATCH 4096u

enum task_state { TASK_PENDING = 0, TASK_ASSIGNED = 1, TASK_DONE = 2 };
enum mail_type { MAIL_ASSIGN = 1, MAIL_END = 2 };

struct rm_noop {
    struct rm_control *ctl;
    const struct rm_options *opts;
    int rank, size;
    struct rm_mailbox mb;
    int status; /* written by the control thread before MAIL_END */
    /* coordinator only (control thread) */
    uint8_t *state;
    int32_t *owner;
    uint64_t *queue; /* pending task ids, used as a stack */
    uint64_t n_queue;
    uint32_t *inflight; /* per rank */
    uint32_t batch, credits;
    bool finished;
    uint64_t t_start;
    struct rm_noop_summary sum;
};

/* Encodes `n` task ids as u32 count + u64 ids into a fresh buffer; NULL on ENOMEM. */
static unsigned char *encode_ids(const uint64_t *ids, uint32_t n, size_t *len)
{
    *len = 4 + 8 * (size_t)n;
    unsigned char *p = malloc(*len);
    if (!p)
        return NULL;
    rm_put_u32(p, n);
    for (uint32_t i = 0; i < n; i++)
        rm_put_u64(p + 4 + 8 * i, ids[i]);
    return p;
}

/* Validates an id list; returns the count, or -1 when malformed. */
static long decode_count(const void *payload, size_t len)
{
    if (len < 4)
        return -1;
    uint32_t n = rm_get_u32(payload);
    if (n > MAX_BATCH || len != 4 + 8 * (size_t)n)
        return -1;
    return n;
}

/* ---- coordinator (control thread) --------------------------------------------------------- */

static uint32_t live_workers(struct rm_noop *k)
{
    uint32_t n = 0;
    for (int r = 0; r < k->size; r++)
        n += r != COORD && !rm_control_is_dead(k->ctl, r);
    return n;
}

/* The coordinator runs tasks itself only when no worker is left. */
static bool is_worker(struct rm_noop *k, int r)
{
    if (rm_control_is_dead(k->ctl, r))
        return false;
    return r != COORD || live_workers(k) == 0;
}

static void end_job(struct rm_noop *k, int status)
{
    k->status = status;
    if (rm_mailbox_put(&k->mb, MAIL_END, NULL, 0) != 0)
        rm_mailbox_shut(&k->mb);
}

static void finish(struct rm_noop *k)
{
    k->finished = true;
    k->sum.seconds = (double)(rm_control_now(k->ctl) - k->t_start) / 1e9;
    k->sum.workers_end = live_workers(k);
    unsigned char st[4];
    rm_put_u32(st, 0);
    int rc = rm_control_broadcast(k->ctl, RM_MSG_SHUTDOWN, st, sizeof st);
    if (rc != 0)
        rm_warn("announcing the end of the job: %s", rm_strerror(rc));
    end_job(k, 0);
}

/* Sends one batch of assignments to worker w (to the own mailbox for the coordinator). */
static int assign(struct rm_noop *k, int w, const uint64_t *ids, uint32_t n)
{
    size_t len;
    unsigned char *p = encode_ids(ids, n, &len);
    if (!p)
        return RM_ENOMEM;
    int rc = w == k->rank ? rm_mailbox_put(&k->mb, MAIL_ASSIGN, p, len)
                          : rm_control_send(k->ctl, w, RM_MSG_ASSIGN, p, len);
    free(p);
    return rc;
}

/* Tops worker w up to its credit limit. */
static void refill(struct rm_noop *k, int w)
{
    uint64_t ids[MAX_BATCH];
    while (k->n_queue > 0 && k->inflight[w] < k->credits) {
        uint32_t n = 0;
        while (n < k->batch && k->n_queue > 0 && k->inflight[w] + n < k->credits)
            ids[n++] = k->queue[--k->n_queue];
        int rc = assign(k, w, ids, n);
        for (uint32_t i = 0; i < n; i++) {
            if (rc != 0) {
                k->queue[k->n_queue++] = ids[i];
                continue;
            }
            k->state[ids[i]] = TASK_ASSIGNED;
            k->owner[ids[i]] = w;
        }
        if (rc != 0)
            return; /* the worker is dead or unreachable; its death handler reschedules */
        k->inflight[w] += n;
    }
}

static void refill_all(struct rm_noop *k)
{
    for (int r = 0; r < k->size; r++)
        if (is_worker(k, r))
            refill(k, r);
}

static void complete(struct rm_noop *k, int from, const unsigned char *p, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        uint64_t id = rm_get_u64(p + 4 + 8 * (size_t)i);
        if (id >= k->sum.tasks || k->state[id] != TASK_ASSIGNED || k->owner[id] != from) {
            k->sum.stale++; /* a duplicate, or a completion of a rescheduled attempt */
            continue;
        }
        k->state[id] = TASK_DONE;
        k->inflight[from]--;
        k->sum.done++;
    }
    if (k->sum.done == k->sum.tasks)
        finish(k);
    else if (is_worker(k, from))
        refill(k, from);
}

static void on_done(struct rm_control *c, void *ctx, const struct rm_frame_header *h,
                    const void *payload)
{
    struct rm_noop *k = ctx;
    (void)c;
    long n = decode_count(payload, h->length);
    if (k->rank != COORD || n < 0 || k->finished) {
        rm_warn("dropped a malformed or unexpected completion from rank %u", h->sender);
        return;
    }
    complete(k, (int)h->sender, payload, (uint32_t)n);
}

/* Returns the tasks of a dead worker to the queue and redistributes. */
static void reschedule(struct rm_noop *k, uint32_t dead)
{
    uint64_t moved = 0;
    for (uint64_t id = 0; id < k->sum.tasks; id++) {
        if (k->state[id] == TASK_ASSIGNED && k->owner[id] == (int32_t)dead) {
            k->state[id] = TASK_PENDING;
            k->queue[k->n_queue++] = id;
            moved++;
        }
    }
    k->inflight[dead] = 0;
    k->sum.rescheduled += moved;
    rm_warn("rescheduled %llu tasks of rank %u on %u live workers", (unsigned long long)moved,
            dead, live_workers(k));
    refill_all(k);
}

static void on_death(struct rm_control *c, void *ctx, uint32_t rank, enum rm_death_cause cause)
{
    struct rm_noop *k = ctx;
    (void)c;
    (void)cause;
    if (k->rank == COORD && !k->finished) {
        reschedule(k, rank);
        return;
    }
    if (rank == COORD && k->rank != COORD) {
        rm_error("the coordinator (rank 0) died; coordinator failover needs the Raft module, "
                 "which this build does not have yet: the job fails");
        end_job(k, 3);
    }
}

static void on_fence(struct rm_control *c, void *ctx)
{
    (void)c;
    end_job(ctx, 3);
}

/* Starts the job on the coordinator: runs on the control thread once it is up. */
static void coord_start(struct rm_control *c, void *arg)
{
    struct rm_noop *k = arg;
    k->t_start = rm_control_now(c);
    k->sum.workers_start = live_workers(k);
    if (k->sum.tasks == 0)
        finish(k);
    else
        refill_all(k);
}

/* ---- worker side ------------------------------------------------------------------------- */

static void on_assign(struct rm_control *c, void *ctx, const struct rm_frame_header *h,
                      const void *payload)
{
    struct rm_noop *k = ctx;
    (void)c;
    if (h->sender != COORD || decode_count(payload, h->length) < 0) {
        rm_warn("dropped a malformed or misdirected assignment from rank %u", h->sender);
        return;
    }
    if (rm_mailbox_put(&k->mb, MAIL_ASSIGN, payload, h->length) != 0)
        rm_warn("dropped an assignment: this rank is stopping");
}

static void on_shutdown(struct rm_control *c, void *ctx, const struct rm_frame_header *h,
                        const void *payload)
{
    struct rm_noop *k = ctx;
    (void)c;
    if (h->sender != COORD || h->length != 4) {
        rm_warn("dropped a malformed or misdirected shutdown from rank %u", h->sender);
        return;
    }
    end_job(k, (int)rm_get_u32(payload));
}

struct done_msg {
    struct rm_noop *k;
    size_t len;
    unsigned char data[];
};

/* Delivers a worker's completions: runs on the control thread. Owns and frees arg. */
static void send_done(struct rm_control *c, void *arg)
{
    struct done_msg *m = arg;
    struct rm_noop *k = m->k;
    if (k->rank == COORD) {
        if (!k->finished)
            complete(k, COORD, m->data, (uint32_t)decode_count(m->data, m->len));
    } else {
        int rc = rm_control_send(c, COORD, RM_MSG_DONE, m->data, m->len);
        if (rc != 0 && rc != RM_ESHUTDOWN)
            rm_warn("reporting completions: %s", rm_strerror(rc));
    }
    free(m);
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

static int run_assignment(struct rm_noop *k, const struct rm_mail *m)
{
    uint32_t n = rm_get_u32(m->data);
    for (uint32_t i = 0; i < n; i++)
        if (k->opts->task_ms)
            spin(k->opts->task_ms);
    struct done_msg *d = malloc(sizeof *d + m->len);
    if (!d)
        return RM_ENOMEM;
    d->k = k;
    d->len = m->len;
    memcpy(d->data, m->data, m->len);
    int rc = rm_control_call(k->ctl, send_done, d);
    if (rc != 0)
        free(d);
    return rc;
}

int rm_noop_run(struct rm_noop *k, struct rm_noop_summary *sum)
{
    if (k->rank == COORD && rm_control_call(k->ctl, coord_start, k) != 0)
        return 3;
    struct rm_mail *m;
    while (rm_mailbox_get(&k->mb, &m) == 0) {
        int type = m->type;
        int rc = type == MAIL_ASSIGN ? run_assignment(k, m) : 0;
        free(m);
        if (type == MAIL_END)
            break;
        if (rc != 0 && rc != RM_ESHUTDOWN) {
            rm_error("worker: %s", rm_strerror(rc));
            return 3;
        }
    }
    if (sum)
        *sum = k->sum;
    return k->status;
}

/* ---- lifecycle ----------------------------------------------------------------------------- */

static uint32_t auto_batch(uint64_t tasks, int size)
{
    uint64_t workers = size > 1 ? (uint64_t)size - 1 : 1;
    uint64_t b = tasks / (4 * workers);
    return (uint32_t)(b < 1 ? 1 : b > 256 ? 256 : b);
}

static int coord_init(struct rm_noop *k)
{
    uint64_t n = k->opts->tasks;
    k->sum.tasks = n;
    k->state = calloc(n ? n : 1, sizeof *k->state);
    k->owner = calloc(n ? n : 1, sizeof *k->owner);
    k->queue = malloc((n ? n : 1) * sizeof *k->queue);
    k->inflight = calloc((size_t)k->size, sizeof *k->inflight);
    if (!k->state || !k->owner || !k->queue || !k->inflight)
        return RM_ENOMEM;
    for (uint64_t i = 0; i < n; i++)
        k->queue[i] = n - 1 - i; /* a stack: task 0 leaves first */
    k->n_queue = n;
    k->batch = k->opts->batch_size ? k->opts->batch_size : auto_batch(n, k->size);
    if (k->batch > MAX_BATCH)
        k->batch = MAX_BATCH;
    k->credits = 2 * k->batch;
    return 0;
}

int rm_noop_create(struct rm_control *ctl, const struct rm_options *opts, struct rm_noop **out)
{
    struct rm_noop *k = calloc(1, sizeof *k);
    if (!k)
        return RM_ENOMEM;
    k->ctl = ctl;
    k->opts = opts;
    k->rank = rm_control_rank(ctl);
    k->size = rm_control_size(ctl);
    int rc = rm_mailbox_init(&k->mb);
    if (rc != 0) {
        free(k);
        return rc;
    }
    if (k->rank == COORD && (rc = coord_init(k)) != 0)
        goto err;
    if ((rc = rm_control_on(ctl, RM_MSG_ASSIGN, on_assign, k)) != 0 ||
        (rc = rm_control_on(ctl, RM_MSG_DONE, on_done, k)) != 0 ||
        (rc = rm_control_on(ctl, RM_MSG_SHUTDOWN, on_shutdown, k)) != 0 ||
        (rc = rm_control_on_death(ctl, on_death, k)) != 0)
        goto err;
    rm_control_on_fence(ctl, on_fence, k);
    *out = k;
    return 0;
err:
    rm_noop_destroy(k);
    return rc;
}

void rm_noop_destroy(struct rm_noop *k)
{
    if (!k)
        return;
    rm_mailbox_close(&k->mb);
    free(k->state);
    free(k->owner);
    free(k->queue);
    free(k->inflight);
    free(k);
}
