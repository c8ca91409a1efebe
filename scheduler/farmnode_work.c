/* farmnode_work.c: a farm node's worker side; see farmnode_int.h. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ringmaster.h"
#include "runtime/clock.h"
#include "runtime/frame.h"
#include "runtime/log.h"
#include "runtime/mailbox.h"
#include "scheduler/checkpoint.h"
#include "scheduler/farmnode_int.h"
#include "scheduler/ring.h"
#include "scheduler/trace.h"

struct report {
    struct rm_farmnode *k;
    uint32_t n;  /* DONE records; or 0 for a failure */
    uint64_t id; /* failure: task, attempt and reason */
    uint32_t attempt;
    char error[RM_TT_MAX_ERROR + 1];
    unsigned char recs[]; /* n x done_rec */
};

static void deliver(struct rm_control *c, void *arg)
{
    struct report *r = arg;
    (void)c;
    int rc = r->n ? rm_farm_completed(r->k->farm, r->recs, r->n)
                  : rm_farm_task_failed(r->k->farm, r->id, r->attempt, r->error);
    if (rc != 0)
        rm_error("worker: reporting to the coordinator: %s", rm_strerror(rc));
    free(r);
}

static int call(struct rm_farmnode *k, struct report *r)
{
    int rc = rm_control_call(k->ctl, deliver, r);
    if (rc != 0)
        free(r);
    return rc;
}

static int report_done(struct rm_farmnode *k, const unsigned char *recs, uint32_t n)
{
    if (n == 0)
        return 0;
    struct report *r = malloc(sizeof *r + (size_t)n * k->done_rec);
    if (!r)
        return RM_ENOMEM;
    r->k = k;
    r->n = n;
    memcpy(r->recs, recs, (size_t)n * k->done_rec);
    return call(k, r);
}

static int report_failure(struct rm_farmnode *k, uint64_t id, uint32_t attempt, const char *err)
{
    struct report *r = malloc(sizeof *r);
    if (!r)
        return RM_ENOMEM;
    r->k = k;
    r->n = 0;
    r->id = id;
    r->attempt = attempt;
    snprintf(r->error, sizeof r->error, "%s", err);
    return call(k, r);
}

/* Sleeps ms milliseconds in 10 ms steps, cut short when the job ends. */
static void sleep_ms(struct rm_farmnode *k, uint32_t ms)
{
    for (uint32_t left = ms; left > 0 && !atomic_load(&k->over);) {
        uint32_t step = left < 10 ? left : 10;
        struct timespec ts = {0, (long)step * 1000000L};
        while (nanosleep(&ts, &ts) != 0)
            ;
        left -= step;
    }
}

/* A completion waiting for its copies (rm_shuffle_replicate_async's arg). */
struct copying {
    struct rm_farmnode *k;
    unsigned char rec[]; /* done_rec bytes */
};

/* Sends the completions whose copies are over (control thread, every loop pass). */
void rm__farmnode_flush_copied(struct rm_farmnode *k)
{
    for (uint32_t i = 0; i < k->n_copied; i += RM_TT_MAX_BATCH) {
        uint32_t n = k->n_copied - i < RM_TT_MAX_BATCH ? k->n_copied - i : RM_TT_MAX_BATCH;
        int rc = rm_farm_completed(k->farm, k->copied + (size_t)i * k->done_rec, n);
        if (rc != 0)
            rm_error("worker: reporting to the coordinator: %s", rm_strerror(rc));
    }
    k->n_copied = 0;
}

/* The copies of a task's output are over: its completion names the ranks that hold one. */
static void on_copied(void *arg, uint64_t id, const uint32_t *to, const bool *ok, uint32_t n)
{
    struct copying *c = arg;
    struct rm_farmnode *k = c->k;
    (void)id;
    for (uint32_t j = 0, w = 0; j < n; j++)
        if (ok[j])
            rm_put_u32(c->rec + RM_FARM_DONE_REC + 4 * (size_t)w++, to[j]);
    if (k->n_copied == k->cap_copied) {
        uint32_t cap = k->cap_copied ? 2 * k->cap_copied : 64;
        unsigned char *g = realloc(k->copied, (size_t)cap * k->done_rec);
        if (!g) { /* report it alone */
            if (rm_farm_completed(k->farm, c->rec, 1) != 0)
                rm_error("worker: reporting to the coordinator: out of memory");
            free(c);
            return;
        }
        k->copied = g;
        k->cap_copied = cap;
    }
    memcpy(k->copied + (size_t)k->n_copied++ * k->done_rec, c->rec, k->done_rec);
    free(c);
}

/* Copies task id's output (just stored) to the next copies - 1 live ranks of its key's ring.
 * Its completion d (done_rec bytes, replicas RM_TT_NONE) is reported once the copies are over,
 * naming the ranks that hold one (a copy that could not be made leaves RM_TT_NONE: the task
 * then has fewer copies, and is recomputed sooner if its holders die), while this worker goes
 * on to its next task. Returns false when d must be reported now (no copy could start). */
static bool replicate(struct rm_farmnode *k, uint64_t id, const unsigned char *d)
{
    uint32_t want = k->copies - 1, succ[2 * RM_TT_MAX_COPIES + 2], to[RM_TT_MAX_COPIES], m = 0;
    uint64_t h;
    k->kernel->keys(k->kernel->ctx, id, 1, &h);
    int n = rm_ring_successors(k->ring, h, succ, sizeof succ / sizeof *succ);
    for (int i = 0; i < n && m < want; i++)
        if ((int)succ[i] != k->rank && !atomic_load(&k->dead[succ[i]]))
            to[m++] = succ[i];
    struct copying *c = m ? malloc(sizeof *c + k->done_rec) : NULL;
    if (!c)
        return false;
    c->k = k;
    memcpy(c->rec, d, k->done_rec);
    if (rm_shuffle_replicate_async(k->shuffle, id, to, m, on_copied, c) != 0) {
        free(c);
        return false;
    }
    return true;
}

/* The stage of task id. */
static uint32_t task_stage(const struct rm_farmnode *k, uint64_t id)
{
    uint32_t lo = 0, hi = k->kernel->stages - 1;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (id < k->stage_end[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* Runs one mailbox batch of (id, attempt) records. */
int rm__farmnode_run_assignment(struct rm_farmnode *k, const struct rm_mail *m)
{
    uint32_t n = (uint32_t)(m->len / RM_FARM_ASSIGN_REC), nt = 0;
    unsigned char *done = malloc((size_t)n * k->done_rec + 1);
    struct rm_trace_event *spans = rm_trace_on() ? malloc((size_t)n * sizeof *spans) : NULL;
    if (!done) {
        free(spans);
        return RM_ENOMEM;
    }
    uint32_t nd = 0;
    uint64_t oldest = 0;
    int rc = 0;
    for (uint32_t i = 0; i < n && rc == 0; i++) {
        const unsigned char *rec = m->data + (size_t)RM_FARM_ASSIGN_REC * i;
        uint64_t id = rm_get_u64(rec);
        uint32_t att = rm_get_u32(rec + 8);
        char err[RM_TT_MAX_ERROR + 1] = "";
        if (atomic_load(&k->over))
            break; /* the job is over: the rest of this batch is moot */
        uint64_t asked = atomic_load(&k->ckpt_asked);
        if (asked > k->ckpt_written &&
            (rc = rm__farmnode_write_checkpoint(k, asked, NULL, 0, false)) != 0)
            break;
        uint64_t t0 = rm_clock_monotonic_ns();
        if (k->slow_ms)
            sleep_ms(k, k->slow_ms);
        if (id >= k->slow_first && id < k->slow_end)
            sleep_ms(k, k->slow_stage_ms);
        int trc =
            id == k->fail_task ? RM_EIO : k->kernel->run(k->kernel->ctx, id, att, err, sizeof err);
        if (id == k->fail_task)
            snprintf(err, sizeof err, "injected failure (RINGMASTER_FAULT_FAIL_TASK)");
        uint64_t t1 = rm_clock_monotonic_ns(), us = (t1 - t0) / 1000;
        if (spans) /* recorded once per batch: one lock, not one per task */
            spans[nt++] = (struct rm_trace_event){
                .stage = task_stage(k, id), .a = att, .b = id, .c = trc != 0, .t0 = t0, .t1 = t1};
        if (trc != 0 && atomic_load(&k->over))
            break; /* cut short by the end of the job */
        if (trc == RM_EDEAD) {
            rm_info("task %llu (attempt %u): an input's holder died; the coordinator "
                    "reschedules it",
                    (unsigned long long)id, att);
            continue;
        }
        if (trc != 0) {
            if (!err[0])
                snprintf(err, sizeof err, "%s", rm_strerror(trc));
            rm_warn("task %llu (attempt %u) failed: %s", (unsigned long long)id, att, err);
            rc = report_failure(k, id, att, err);
            continue;
        }
        unsigned char *d = done + k->done_rec * nd++;
        rm_put_u64(d, id);
        rm_put_u32(d + 8, att);
        rm_put_u32(d + 12, us > UINT32_MAX ? UINT32_MAX : (uint32_t)us);
        memset(d + RM_FARM_DONE_REC, 0xff, k->done_rec - RM_FARM_DONE_REC); /* RM_TT_NONE */
        if (k->copies > 1 && id < k->held_end && replicate(k, id, d)) {
            nd--; /* reported by on_copied */
            continue;
        }
        if (nd == 1)
            oldest = t0;
        if (t1 - oldest >= REPORT_NS) {
            rc = report_done(k, done, nd);
            nd = 0;
        }
    }
    if (rc == 0)
        rc = report_done(k, done, nd);
    rm_trace_tasks(spans, nt);
    free(spans);
    free(done);
    return rc;
}

struct state_reply {
    struct rm_farmnode *k;
    uint32_t stage;
    uint64_t gen;
    int rc;
    unsigned char *data;
    size_t len;
};

static void state_call(struct rm_control *c, void *arg)
{
    struct state_reply *r = arg;
    (void)c;
    rm_farm_state(r->k->farm, r->stage, r->gen, r->rc, r->data, r->len);
    free(r->data);
    free(r);
}

/* The leader computes a stage's shared state here, off the control thread (it fetches the
 * earlier stages' outputs), and hands it to the farm, which commits it. */
int rm__farmnode_compute_state(struct rm_farmnode *k, const struct rm_mail *m)
{
    struct state_reply *r = calloc(1, sizeof *r);
    if (!r)
        return RM_ENOMEM;
    r->k = k;
    r->stage = rm_get_u32(m->data);
    r->gen = rm_get_u64(m->data + 4);
    char err[RM_TT_MAX_ERROR + 1] = "";
    r->rc = k->kernel->stage_state(k->kernel->ctx, r->stage, &r->data, &r->len, err, sizeof err);
    if (r->rc != 0 && r->rc != RM_EDEAD && !atomic_load(&k->over))
        rm_error("stage %u: computing the shared state: %s", r->stage,
                 err[0] ? err : rm_strerror(r->rc));
    int rc = rm_control_call(k->ctl, state_call, r);
    if (rc != 0) {
        free(r->data);
        free(r);
    }
    return rc;
}

struct replicated {
    struct rm_farmnode *k;
    uint64_t id;
    uint32_t target;
    bool ok;
};

static void replicated_call(struct rm_control *c, void *arg)
{
    struct replicated *r = arg;
    (void)c;
    rm_farm_replicated(r->k->farm, r->id, r->target, r->ok);
    free(r);
}

/* The leader asked for another copy of a held output (a copy was lost with a rank): made here,
 * between tasks, then reported through the control thread. */
int rm__farmnode_copy_again(struct rm_farmnode *k, const struct rm_mail *m)
{
    struct replicated *r = malloc(sizeof *r);
    if (!r)
        return RM_ENOMEM;
    *r = (struct replicated){.k = k, .id = rm_get_u64(m->data), .target = rm_get_u32(m->data + 8)};
    if (atomic_load(&k->dead[r->target]) ||
        rm_shuffle_replicate(k->shuffle, r->id, &r->target, 1, &r->ok) != 0)
        r->ok = false;
    int rc = rm_control_call(k->ctl, replicated_call, r);
    if (rc != 0)
        free(r);
    return rc;
}

struct written {
    struct rm_farmnode *k;
    uint64_t seq;
    int rc;
    bool job_file;
};

static void written_call(struct rm_control *c, void *arg)
{
    struct written *w = arg;
    (void)c;
    if (w->job_file)
        rm_farm_job_written(w->k->farm, w->seq, w->rc);
    else
        rm_farm_checkpoint_written(w->k->farm, w->seq, w->rc);
    free(w);
}

/* Writes this rank's checkpoint file for round seq, or (the leader) the job file (data: the
 * table), between tasks. */
int rm__farmnode_write_checkpoint(struct rm_farmnode *k, uint64_t seq, const unsigned char *data,
                                  size_t len, bool job_file)
{
    if (!job_file) {
        if (seq <= k->ckpt_written)
            return 0; /* served already, before a task */
        k->ckpt_written = seq;
    }
    struct written *w = malloc(sizeof *w);
    if (!w)
        return RM_ENOMEM;
    *w = (struct written){.k = k, .seq = seq, .job_file = job_file};
    char err[512] = "";
    uint64_t recs = 0, bytes = 0, t0 = rm_clock_monotonic_ns();
    if (job_file)
        w->rc = rm_ckpt_write_job(k->opts->checkpoint_dir, k->identity, k->job, (uint32_t)k->size,
                                  data, len, err, sizeof err);
    else
        w->rc =
            rm_ckpt_write_rank(k->opts->checkpoint_dir, k->rank, k->job, (int)k->opts->compression,
                               k->shuffle, k->held_end, &recs, &bytes, err, sizeof err);
    rm_trace_event(RM_TRACE_CHECKPOINT, 0, job_file, seq, job_file ? len : bytes, t0,
                   rm_clock_monotonic_ns());
    if (w->rc != 0)
        rm_error("%s", err);
    else if (!job_file)
        rm_info("checkpoint %llu: %llu outputs, %.1f MB written in %.3f s",
                (unsigned long long)w->seq, (unsigned long long)recs, (double)bytes / 1e6,
                (double)(rm_clock_monotonic_ns() - t0) / 1e9);
    int rc = rm_control_call(k->ctl, written_call, w);
    if (rc != 0)
        free(w);
    return rc;
}