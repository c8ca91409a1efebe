/* control.c: see control.h. */
#include "runtime/control.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "ringmaster.h"
#include "runtime/detector.h"
#include "runtime/log.h"

#define CONTROL_TAG 7
#define MAX_LISTENERS 8
#define POLL_BATCHES 64
#define SPIN_NS (50 * RM_NS_PER_US)
/* A peer not yet heard from since the start may be silent this many suspicion timeouts. */
#define STARTUP_GRACE 5
#define IDLE_MIN_US 20
#define IDLE_MAX_US 2000

struct call {
    struct call *next;
    rm_call_fn fn;
    void *arg;
};

struct rm_control {
    struct rm_control_config cfg;
    int rank, size;
    struct rm_transport *tp;
    struct rm_detector det;
    struct rm_detector_actions act;
    struct {
        rm_handler_fn fn;
        void *ctx;
    } handlers[RM_MSG_TYPE_COUNT];
    struct {
        rm_death_fn fn;
        void *ctx;
    } deaths[MAX_LISTENERS];
    int n_deaths;
    struct {
        rm_tick_fn fn;
        void *ctx;
    } ticks[MAX_LISTENERS];
    int n_ticks;
    rm_fence_fn fence_fn;
    void *fence_ctx;
    pthread_t thread;
    bool started;
    int efd;
    pthread_mutex_t call_mu;
    struct call *calls, *calls_tail;
    bool calls_closed;
    atomic_bool stop;
    bool fenced;
    bool idle; /* the previous pass found nothing to do */
    int error;
    uint64_t now;
    uint64_t linger_until;
    uint64_t unhandled;
};

int rm_control_create(const struct rm_control_config *cfg, struct rm_control **out)
{
    struct rm_control *c = calloc(1, sizeof *c);
    if (!c)
        return RM_ENOMEM;
    c->cfg = *cfg;
    c->efd = -1;
    if (!c->cfg.clock.now_ns)
        c->cfg.clock = rm_clock_system();
    int rc = RM_EMPI;
    if (MPI_Comm_rank(cfg->comm, &c->rank) != MPI_SUCCESS ||
        MPI_Comm_size(cfg->comm, &c->size) != MPI_SUCCESS)
        goto err_free;
    struct rm_transport_config tc = {
        .comm = cfg->comm,
        .tag = CONTROL_TAG,
        .batch_bytes = cfg->batch_bytes,
        .shm_ring_bytes = rm_transport_shm_env()};
    if ((rc = rm_transport_create(&tc, &c->tp)) != 0)
        goto err_free;
    c->now = rm_clock_now(&c->cfg.clock);
    struct rm_detector_config dc = {.self = (uint32_t)c->rank,
                                    .size = (uint32_t)c->size,
                                    .heartbeat_ns = cfg->heartbeat_ns,
                                    .suspect_ns = cfg->suspect_ns,
                                    .watchers = cfg->watchers,
                                    .no_self_fence = cfg->no_self_fence,
                                    .startup_ns = STARTUP_GRACE * cfg->suspect_ns};
    if ((rc = rm_detector_init(&c->det, &dc, c->now)) != 0)
        goto err_after_transport;
    rc = RM_ENOMEM;
    c->act.send_to = calloc((size_t)c->size, sizeof *c->act.send_to);
    c->act.suspected = calloc((size_t)c->size, sizeof *c->act.suspected);
    if (!c->act.send_to || !c->act.suspected)
        goto err_after_detector;
    rc = RM_EIO;
    if ((c->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
        goto err_after_detector;
    if (pthread_mutex_init(&c->call_mu, NULL) != 0)
        goto err_after_efd;
    *out = c;
    return 0;
err_after_efd:
    close(c->efd);
err_after_detector:
    free(c->act.send_to);
    free(c->act.suspected);
    rm_detector_close(&c->det);
err_after_transport:
    rm_transport_destroy(c->tp, 0);
err_free:
    free(c);
    return rc;
}

int rm_control_on(struct rm_control *c, uint8_t type, rm_handler_fn fn, void *ctx)
{
    if (type >= RM_MSG_TYPE_COUNT || type == RM_MSG_INVALID || type == RM_MSG_HEARTBEAT ||
        type == RM_MSG_DEATH)
        return RM_EINVAL;
    c->handlers[type].fn = fn;
    c->handlers[type].ctx = ctx;
    return 0;
}

int rm_control_on_death(struct rm_control *c, rm_death_fn fn, void *ctx)
{
    if (c->n_deaths == MAX_LISTENERS)
        return RM_EBUSY;
    c->deaths[c->n_deaths].fn = fn;
    c->deaths[c->n_deaths++].ctx = ctx;
    return 0;
}

int rm_control_on_tick(struct rm_control *c, rm_tick_fn fn, void *ctx)
{
    if (c->n_ticks == MAX_LISTENERS)
        return RM_EBUSY;
    c->ticks[c->n_ticks].fn = fn;
    c->ticks[c->n_ticks++].ctx = ctx;
    return 0;
}

void rm_control_set_stamp(struct rm_control *c, uint64_t term, uint64_t epoch)
{
    rm_transport_set_stamp(c->tp, term, epoch);
}

void rm_control_on_fence(struct rm_control *c, rm_fence_fn fn, void *ctx)
{
    c->fence_fn = fn;
    c->fence_ctx = ctx;
}

/* ---- deaths and fencing ----------------------------------------------------------------- */

static void fence(struct rm_control *c, const char *why)
{
    if (c->fenced)
        return;
    c->fenced = true;
    rm_error("fenced: %s; this rank stops acting and exits", why);
    if (c->fence_fn)
        c->fence_fn(c, c->fence_ctx);
}

static void notify_death(struct rm_control *c, uint32_t rank, enum rm_death_cause cause)
{
    rm_transport_mark_dead(c->tp, (int)rank);
    for (int i = 0; i < c->n_deaths; i++)
        c->deaths[i].fn(c, c->deaths[i].ctx, rank, cause);
}

static void on_death_notice(struct rm_control *c, const struct rm_frame_header *h,
                            const void *payload)
{
    if (h->length != 4) {
        rm_warn("dropped a death notice of %u bytes from rank %u", h->length, h->sender);
        return;
    }
    uint32_t rank = rm_get_u32(payload);
    if (rank == (uint32_t)c->rank) {
        char why[96];
        snprintf(why, sizeof why, "rank %u declared this rank dead", h->sender);
        fence(c, why);
        return;
    }
    if (!rm_detector_mark_dead(&c->det, rank, c->now))
        return;
    rm_warn("rank %u declared dead (announced by rank %u)", rank, h->sender);
    notify_death(c, rank, RM_DEATH_ANNOUNCED);
}

/* Announces a rank this detector timed out, then tells the listeners. */
static void on_suspected(struct rm_control *c, uint32_t rank)
{
    uint64_t silent = c->now - c->det.last_heard[rank];
    rm_warn("rank %u declared dead (silent for %llu ms, timeout %llu ms)", rank,
            (unsigned long long)(silent / RM_NS_PER_MS),
            (unsigned long long)(c->cfg.suspect_ns / RM_NS_PER_MS));
    rm_transport_mark_dead(c->tp, (int)rank);
    unsigned char p[4];
    rm_put_u32(p, rank);
    int rc = rm_control_broadcast(c, RM_MSG_DEATH, p, sizeof p);
    if (rc != 0)
        rm_warn("announcing the death of rank %u: %s", rank, rm_strerror(rc));
    notify_death(c, rank, RM_DEATH_SUSPECTED);
}

/* ---- the loop ---------------------------------------------------------------------------- */

static void on_frame(void *ctx, const struct rm_frame_header *h, const void *payload)
{
    struct rm_control *c = ctx;
    if (c->fenced)
        return;
    rm_detector_heard(&c->det, h->sender, c->now);
    if (h->type == RM_MSG_HEARTBEAT)
        return;
    if (h->type == RM_MSG_DEATH) {
        on_death_notice(c, h, payload);
        return;
    }
    if (c->handlers[h->type].fn)
        c->handlers[h->type].fn(c, c->handlers[h->type].ctx, h, payload);
    else
        c->unhandled++;
}

static void run_detector(struct rm_control *c)
{
    rm_detector_tick(&c->det, c->now, &c->act);
    if (c->act.fence_self) {
        char why[128];
        snprintf(why, sizeof why,
                 "this rank was paused for %llu ms, longer than the %llu ms after which peers "
                 "declare it dead",
                 (unsigned long long)(c->act.pause_ns / RM_NS_PER_MS),
                 (unsigned long long)(c->cfg.suspect_ns / RM_NS_PER_MS));
        fence(c, why);
        return;
    }
    if (c->act.pause_ns)
        rm_warn("control thread stalled for %llu ms; restarting the silence timers",
                (unsigned long long)(c->act.pause_ns / RM_NS_PER_MS));
    for (uint32_t i = 0; i < c->act.n_send; i++) {
        int rc = rm_transport_send(c->tp, (int)c->act.send_to[i], RM_MSG_HEARTBEAT, NULL, 0);
        if (rc != 0 && rc != RM_EDEAD)
            rm_warn("heartbeat to rank %u: %s", c->act.send_to[i], rm_strerror(rc));
    }
    for (uint32_t i = 0; i < c->act.n_suspected && !c->fenced; i++)
        on_suspected(c, c->act.suspected[i]);
}

/* Takes the queued closures; returns how many ran. */
static int run_calls(struct rm_control *c)
{
    pthread_mutex_lock(&c->call_mu);
    struct call *list = c->calls;
    c->calls = c->calls_tail = NULL;
    pthread_mutex_unlock(&c->call_mu);
    int n = 0;
    while (list) {
        struct call *k = list;
        list = k->next;
        k->fn(c, k->arg);
        free(k);
        n++;
    }
    return n;
}

/* Sleeps until woken or for timeout_us. */
static void idle_wait(struct rm_control *c, unsigned timeout_us)
{
    struct pollfd pfd = {.fd = c->efd, .events = POLLIN};
    struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)timeout_us * 1000};
    if (ppoll(&pfd, 1, &ts, NULL) > 0) {
        uint64_t v;
        ssize_t r = read(c->efd, &v, sizeof v);
        (void)r; /* EAGAIN is fine: another wake-up drained it */
    }
}

/* One pass of the loop; returns the amount of work done. */
static int loop_once(struct rm_control *c)
{
    c->now = rm_clock_now(&c->cfg.clock);
    if (!atomic_load(&c->stop)) /* once the job is over, silence is expected, not a failure */
        run_detector(c);
    if (c->fenced)
        return 0;
    int work = run_calls(c);
    int got = 0;
    int rc = rm_transport_poll(c->tp, POLL_BATCHES, c->idle, on_frame, c, &got);
    if (rc != 0 && c->error == 0)
        c->error = rc;
    for (int i = 0; i < c->n_ticks && !c->fenced; i++)
        c->ticks[i].fn(c, c->ticks[i].ctx, c->now);
    if (c->fenced)
        return 0;
    rc = rm_transport_flush(c->tp);
    if (rc != 0 && c->error == 0)
        c->error = rc;
    return work + got;
}

static bool calls_pending(struct rm_control *c)
{
    pthread_mutex_lock(&c->call_mu);
    bool pending = c->calls != NULL;
    pthread_mutex_unlock(&c->call_mu);
    return pending;
}

/* After a stop request, the loop goes on until the closures queued before it have run and
 * every send has completed, or the linger time is up. */
static bool should_exit(struct rm_control *c)
{
    if (c->fenced)
        return true;
    if (!atomic_load(&c->stop))
        return false;
    if (c->now >= c->linger_until)
        return true;
    return !calls_pending(c) && rm_transport_pending(c->tp) == 0;
}

/* Closures that raced with the stop: run them, then give their sends the rest of the linger
 * time. */
static void final_calls(struct rm_control *c)
{
    pthread_mutex_lock(&c->call_mu);
    c->calls_closed = true;
    pthread_mutex_unlock(&c->call_mu);
    if (run_calls(c) == 0 || c->fenced)
        return;
    rm_transport_flush(c->tp);
    while (rm_transport_pending(c->tp) > 0 && rm_clock_now(&c->cfg.clock) < c->linger_until) {
        int got;
        rm_transport_poll(c->tp, POLL_BATCHES, true, on_frame, c, &got);
    }
}

static void *control_main(void *arg)
{
    struct rm_control *c = arg;
    uint64_t spin_until = 0;
    unsigned idle_us = 0;
    while (!should_exit(c)) {
        c->idle = loop_once(c) == 0;
        if (!c->idle) {
            spin_until = c->now + SPIN_NS;
            idle_us = 0;
            continue;
        }
        if (c->now < spin_until) {
            sched_yield();
            continue;
        }
        idle_us = idle_us ? (idle_us * 2 > IDLE_MAX_US ? IDLE_MAX_US : idle_us * 2) : IDLE_MIN_US;
        idle_wait(c, idle_us);
    }
    final_calls(c); /* closures own their arguments: they must run to free them */
    return NULL;
}

int rm_control_start(struct rm_control *c)
{
    if (pthread_create(&c->thread, NULL, control_main, c) != 0)
        return RM_EIO;
    c->started = true;
    return 0;
}

static void wake(struct rm_control *c)
{
    uint64_t one = 1;
    ssize_t w = write(c->efd, &one, sizeof one);
    (void)w; /* EAGAIN means the counter is already non-zero: the thread will wake */
}

int rm_control_call(struct rm_control *c, rm_call_fn fn, void *arg)
{
    struct call *k = malloc(sizeof *k);
    if (!k)
        return RM_ENOMEM;
    *k = (struct call){NULL, fn, arg};
    pthread_mutex_lock(&c->call_mu);
    if (c->calls_closed) {
        pthread_mutex_unlock(&c->call_mu);
        free(k);
        return RM_ESHUTDOWN;
    }
    if (c->calls_tail)
        c->calls_tail->next = k;
    else
        c->calls = k;
    c->calls_tail = k;
    pthread_mutex_unlock(&c->call_mu);
    wake(c);
    return 0;
}

int rm_control_stop(struct rm_control *c, int linger_ms)
{
    if (!c->started)
        return c->error;
    c->linger_until = rm_clock_now(&c->cfg.clock) + (uint64_t)linger_ms * RM_NS_PER_MS;
    atomic_store(&c->stop, true);
    wake(c);
    pthread_join(c->thread, NULL);
    c->started = false;
    return c->error;
}

void rm_control_request_stop(struct rm_control *c)
{
    if (c->linger_until == 0)
        c->linger_until = c->now + 2000 * RM_NS_PER_MS;
    atomic_store(&c->stop, true);
}

void rm_control_destroy(struct rm_control *c)
{
    if (!c)
        return;
    rm_transport_destroy(c->tp, 0);
    rm_detector_close(&c->det);
    free(c->act.send_to);
    free(c->act.suspected);
    close(c->efd);
    pthread_mutex_destroy(&c->call_mu);
    free(c);
}

int rm_control_send(struct rm_control *c, int dest, uint8_t type, const void *payload, size_t len)
{
    if (c->fenced)
        return RM_ESHUTDOWN;
    return rm_transport_send(c->tp, dest, type, payload, len);
}

int rm_control_broadcast(struct rm_control *c, uint8_t type, const void *payload, size_t len)
{
    int first = 0;
    for (int r = 0; r < c->size; r++) {
        if (r == c->rank || rm_transport_is_dead(c->tp, r))
            continue;
        int rc = rm_control_send(c, r, type, payload, len);
        if (rc != 0 && first == 0)
            first = rc;
    }
    return first;
}

MPI_Comm rm_control_comm(const struct rm_control *c)
{
    return c->cfg.comm;
}

int rm_control_rank(const struct rm_control *c)
{
    return c->rank;
}

int rm_control_size(const struct rm_control *c)
{
    return c->size;
}

bool rm_control_is_dead(const struct rm_control *c, int rank)
{
    return rm_transport_is_dead(c->tp, rank);
}

uint64_t rm_control_silence(const struct rm_control *c, int rank)
{
    if (rank < 0 || rank >= c->size || !c->det.last_heard)
        return 0;
    uint64_t heard = c->det.last_heard[rank];
    return c->now > heard ? c->now - heard : 0;
}

int rm_control_live_count(const struct rm_control *c)
{
    return (int)c->det.live;
}

uint64_t rm_control_now(const struct rm_control *c)
{
    return c->now;
}

bool rm_control_fenced(const struct rm_control *c)
{
    return c->fenced;
}

void rm_control_stats(const struct rm_control *c, struct rm_transport_stats *out)
{
    rm_transport_stats(c->tp, out);
}
