/* farmnode.c: see farmnode.h. */
#include "scheduler/farmnode.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ringmaster.h"
#include "runtime/clock.h"
#include "runtime/epochcomm.h"
#include "runtime/frame.h"
#include "runtime/log.h"
#include "runtime/mailbox.h"
#include "runtime/raftnode.h"
#include "runtime/status.h"
#include "scheduler/checkpoint.h"
#include "scheduler/gather.h"
#include "scheduler/progress.h"
#include "scheduler/report.h"
#include "scheduler/resume.h"
#include "scheduler/ring.h"
#include "scheduler/trace.h"

enum mail_type {
    MAIL_ASSIGN = 1,
    MAIL_FINISH = 2,
    MAIL_END = 3,
    MAIL_STATE = 4,
    MAIL_REPLICATE = 5,
    MAIL_CKPT = 6,    /* write this rank's checkpoint file: u64 seq */
    MAIL_JOBFILE = 7, /* leader: write the job file: u64 seq, then the table */
};

/* A stop signal (SIGTERM, SIGUSR1) arrived: set by the handler, acted on by the tick. */
static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_signal = 1;
}

/* Completions are reported when a batch of assignments is done, or sooner once this long has
 * passed since the oldest unreported one, so that long tasks are reported one by one. */
#define REPORT_NS (5 * RM_NS_PER_MS)

struct rm_farmnode {
    struct rm_control *ctl;
    const struct rm_options *opts;
    const struct rm_rank_info *info;
    const struct rm_farm_kernel *kernel;
    struct rm_farm *farm;
    struct rm_raftnode *raft;
    struct rm_epochcomm *ecomm;
    struct rm_shuffle *shuffle; /* outputs held for the next stage; NULL unless held_outputs */
    struct rm_mailbox mb;
    uint8_t *roles;     /* per rank, for the status file */
    uint64_t status_at; /* when the status file was last written */
    int rank, size;
    int status;         /* written by the control thread before MAIL_END */
    uint32_t slow_ms;   /* test-only fault: extra time per task on this rank */
    uint64_t fail_task; /* test-only fault: this task always fails; UINT64_MAX for none */
    uint32_t slow_stage, slow_stage_ms; /* test-only fault: tasks [slow_first, slow_end) */
    uint64_t slow_first, slow_end;      /* (one stage) take slow_stage_ms longer */
    uint64_t stamp_epoch;               /* the epoch this rank's frames carry */
    /* replicas: tasks below held_end keep their outputs in memory; the worker copies each to
     * the next copies - 1 live ranks of its key on a ring of every rank (read-only once made),
     * skipping those this rank found dead (set by the control thread) */
    uint32_t copies;
    uint64_t held_end;
    size_t done_rec;
    struct rm_ring *ring;
    atomic_bool *dead;
    /* checkpoints (--checkpoint-dir): the job's identity and its hash; a resumed job's start */
    char *identity;
    uint64_t job;
    bool stop_seen;
    struct rm_resume resume;
    /* the latest checkpoint round this rank was asked to write (set by the control thread),
     * and the latest written (worker thread): a request is served before the next task */
    atomic_uint_fast64_t ckpt_asked;
    uint64_t ckpt_written;
    struct rm_progress progress; /* the leader's progress line (control thread) */
    atomic_bool over; /* the job has ended (set by the control thread, read by the worker) */
    /* --report, --trace: the finishing leader gathers every live rank's trace record */
    bool reporting, gathered;
    struct rm_gather gather;
    uint64_t *stage_end; /* per stage: one past its last task id */
    /* completions of replicated outputs, reported once their copies are acknowledged
     * (control thread): n_copied records of done_rec bytes, sent on the next tick */
    unsigned char *copied;
    uint32_t n_copied, cap_copied;
};

/* ---- the farm's seams ---------------------------------------------------------------------- */

static uint64_t io_now(void *ctx)
{
    struct rm_farmnode *k = ctx;
    return rm_control_now(k->ctl);
}

static int io_propose(void *ctx, const void *entry, size_t len)
{
    struct rm_farmnode *k = ctx;
    return rm_raftnode_propose(k->raft, entry, len);
}

static int io_send(void *ctx, uint32_t to, uint32_t type, const void *payload, size_t len)
{
    struct rm_farmnode *k = ctx;
    int rc = rm_control_send(k->ctl, (int)to, (uint8_t)type, payload, len);
    if (rc != 0 && rc != RM_EDEAD && rc != RM_ESHUTDOWN)
        rm_warn("sending a %s message to rank %u: %s", rm_msg_type_name(type), to, rm_strerror(rc));
    return rc;
}

static int io_broadcast(void *ctx, uint32_t type, const void *payload, size_t len)
{
    struct rm_farmnode *k = ctx;
    return rm_control_broadcast(k->ctl, (uint8_t)type, payload, len);
}

static void io_run(void *ctx, const unsigned char *recs, uint32_t n)
{
    struct rm_farmnode *k = ctx;
    if (rm_mailbox_put(&k->mb, MAIL_ASSIGN, recs, (size_t)n * RM_FARM_ASSIGN_REC) != 0)
        rm_warn("dropped an assignment: this rank is stopping");
}

static void io_epoch(void *ctx, uint64_t epoch, const unsigned char *live)
{
    struct rm_farmnode *k = ctx;
    if (epoch > k->stamp_epoch) { /* later frames carry the new epoch */
        k->stamp_epoch = epoch;
        rm_raftnode_set_epoch(k->raft, epoch);
    }
    if (epoch > 0 && rm_epochcomm_request(k->ecomm, epoch, live, k->size) != 0)
        rm_warn("cannot start building the epoch %llu communicator", (unsigned long long)epoch);
}

static void write_status(struct rm_farmnode *k, const char *state);

static void io_finished(void *ctx)
{
    struct rm_farmnode *k = ctx;
    write_status(k, "running");
    if (rm_mailbox_put(&k->mb, MAIL_FINISH, NULL, 0) != 0)
        rm_farm_end(k->farm, 3);
}

static void io_ended(void *ctx, int status)
{
    struct rm_farmnode *k = ctx;
    k->status = status;
    atomic_store(&k->over, true);
    rm_raftnode_quiesce(k->raft);
    rm_progress_end(&k->progress);
    rm_shuffle_abort(k->shuffle); /* a copy still fetching its inputs gives up now */
    /* The job is over: the control loop finishes its sends and stops, so the failure detector
     * does not go on to report ranks that simply exited while this rank's worker still runs
     * a last task copy (it reports nothing any more). */
    rm_control_request_stop(k->ctl);
    if (rm_farm_leader_rank(k->farm) == k->rank || status != 0)
        write_status(k, status == 0 ? "done" : "failed");
    if (rm_mailbox_put(&k->mb, MAIL_END, NULL, 0) != 0)
        rm_mailbox_shut(&k->mb);
}

static void io_describe(void *ctx, uint64_t id, char *buf, size_t cap)
{
    struct rm_farmnode *k = ctx;
    if (k->kernel->describe)
        k->kernel->describe(k->kernel->ctx, id, buf, cap);
    else
        snprintf(buf, cap, "task %llu", (unsigned long long)id);
}

static void io_holders(void *ctx, uint32_t stage, uint64_t first, uint32_t n,
                       const uint32_t *holders)
{
    struct rm_farmnode *k = ctx;
    if (k->kernel->holders)
        k->kernel->holders(k->kernel->ctx, stage, first, n, holders);
}

static void io_need_state(void *ctx, uint32_t stage, uint64_t gen)
{
    struct rm_farmnode *k = ctx;
    unsigned char m[12];
    rm_put_u32(m, stage);
    rm_put_u64(m + 4, gen);
    if (rm_mailbox_put(&k->mb, MAIL_STATE, m, sizeof m) != 0)
        rm_warn("cannot compute stage %u's shared state: this rank is stopping", stage);
}

static void io_replicate(void *ctx, uint64_t id, uint32_t target)
{
    struct rm_farmnode *k = ctx;
    unsigned char m[12];
    rm_put_u64(m, id);
    rm_put_u32(m + 8, target);
    if (rm_mailbox_put(&k->mb, MAIL_REPLICATE, m, sizeof m) != 0)
        rm_debug("not copying task %llu's output: this rank is stopping", (unsigned long long)id);
}

static void io_checkpoint(void *ctx, uint64_t seq)
{
    struct rm_farmnode *k = ctx;
    atomic_store(&k->ckpt_asked, seq);
    unsigned char m[8]; /* wakes an idle worker; a busy one sees ckpt_asked between tasks */
    rm_put_u64(m, seq);
    if (rm_mailbox_put(&k->mb, MAIL_CKPT, m, sizeof m) != 0)
        rm_farm_checkpoint_written(k->farm, seq, RM_ESHUTDOWN);
}

static void io_checkpointed(void *ctx, uint64_t seq, const unsigned char *table, size_t len)
{
    struct rm_farmnode *k = ctx;
    unsigned char *m = malloc(8 + len);
    if (m) {
        rm_put_u64(m, seq);
        memcpy(m + 8, table, len);
    }
    if (!m || rm_mailbox_put(&k->mb, MAIL_JOBFILE, m, 8 + len) != 0)
        rm_farm_job_written(k->farm, seq, m ? RM_ESHUTDOWN : RM_ENOMEM);
    free(m);
}

static void io_state(void *ctx, uint32_t stage, const void *data, size_t len)
{
    struct rm_farmnode *k = ctx;
    k->kernel->state(k->kernel->ctx, stage, data, len);
}

static void io_keys(void *ctx, uint64_t first, uint64_t n, uint64_t *hashes)
{
    struct rm_farmnode *k = ctx;
    k->kernel->keys(k->kernel->ctx, first, n, hashes);
}

/* ---- status file ---------------------------------------------------------------------------- */

static void write_status(struct rm_farmnode *k, const char *state)
{
    if (!k->opts->status_path)
        return;
    const struct rm_tasktable *tt = rm_farm_table(k->farm);
    int leader = rm_farm_leader_rank(k->farm);
    for (int r = 0; r < k->size; r++)
        k->roles[r] = rm_control_is_dead(k->ctl, r)      ? RM_ROLE_DEAD
                      : r == leader                      ? RM_ROLE_LEADER
                      : rm_raftnode_is_voter(k->raft, r) ? RM_ROLE_VOTER
                                                         : RM_ROLE_WORKER;
    struct rm_status st = {.state = state,
                           .leader = leader,
                           .term = rm_farm_leader_term(k->farm),
                           .epoch = tt->epoch,
                           .size = k->size,
                           .ranks = k->info,
                           .roles = k->roles,
                           .total = k->kernel->tasks,
                           .done = tt->done,
                           .running = tt->assigned,
                           .rescheduled = tt->rescheduled};
    if (rm_status_write(k->opts->status_path, &st) != 0 && k->status_at == 0)
        rm_warn("cannot write the status file %s", k->opts->status_path);
    k->status_at = rm_control_now(k->ctl);
}

/* ---- Raft and control-thread callbacks ------------------------------------------------------ */

static void on_apply(void *ctx, const void *data, size_t len, uint64_t index)
{
    struct rm_farmnode *k = ctx;
    const struct rm_tasktable *tt = rm_farm_table(k->farm);
    uint64_t moved = tt->rescheduled + tt->lost, deaths = tt->epoch;
    rm_farm_apply(k->farm, data, len, index);
    if (tt->epoch > deaths && rm_farm_leader_rank(k->farm) == k->rank) {
        uint64_t now = rm_clock_monotonic_ns();
        rm_trace_event(RM_TRACE_RESCHEDULE, 0, tt->dead[tt->epoch - 1], 0,
                       tt->rescheduled + tt->lost - moved, now, now);
    }
    uint64_t epoch = tt->epoch;
    if (epoch > k->stamp_epoch) {
        k->stamp_epoch = epoch;
        rm_raftnode_set_epoch(k->raft, epoch);
    }
}

static void on_leader_changed(void *ctx, int leader, uint64_t term, bool self)
{
    struct rm_farmnode *k = ctx;
    uint64_t now = rm_clock_monotonic_ns();
    if (leader >= 0)
        rm_trace_event(RM_TRACE_ELECTION, 0, (uint32_t)leader, term, 0, now, now);
    rm_farm_leader(k->farm, leader, term, self);
}

static int snapshot_table(void *ctx, unsigned char **data, size_t *len)
{
    struct rm_farmnode *k = ctx;
    return rm_farm_snapshot(k->farm, data, len);
}

static int restore_table(void *ctx, const void *data, size_t len)
{
    struct rm_farmnode *k = ctx;
    int rc = rm_farm_restore(k->farm, data, len);
    if (rc == 0)
        rm_raftnode_set_epoch(k->raft, rm_farm_table(k->farm)->epoch);
    return rc;
}

static void on_message(struct rm_control *c, void *ctx, const struct rm_frame_header *h,
                       const void *payload)
{
    struct rm_farmnode *k = ctx;
    (void)c;
    if (rm_farm_message(k->farm, h->type, h->sender, h->term, h->epoch, payload, h->length) != 0)
        rm_debug("dropped a malformed or stale %s message from rank %u (term %llu, epoch %llu)",
                 rm_msg_type_name(h->type), h->sender, (unsigned long long)h->term,
                 (unsigned long long)h->epoch);
}

/* STATS_ASK: the finishing leader wants this rank's trace record. */
static void on_stats_ask(struct rm_control *c, void *ctx, const struct rm_frame_header *h,
                         const void *payload)
{
    struct rm_farmnode *k = ctx;
    (void)payload;
    unsigned char *rec = NULL;
    size_t len = 0;
    if (!k->reporting || h->length != 0 || rm_trace_encode(&rec, &len) != 0)
        return;
    int rc = rm_control_send(c, (int)h->sender, RM_MSG_STATS, rec, len);
    if (rc != 0 && rc != RM_EDEAD && rc != RM_ESHUTDOWN)
        rm_warn("sending this rank's trace record to rank %u: %s", h->sender, rm_strerror(rc));
    free(rec);
}

static void on_stats(struct rm_control *c, void *ctx, const struct rm_frame_header *h,
                     const void *payload)
{
    struct rm_farmnode *k = ctx;
    (void)c;
    if (k->reporting)
        rm_gather_put(&k->gather, (int)h->sender, payload, h->length);
}

static void on_death(struct rm_control *c, void *ctx, uint32_t rank, enum rm_death_cause cause)
{
    struct rm_farmnode *k = ctx;
    uint64_t now = rm_clock_monotonic_ns();
    bool own = cause == RM_DEATH_SUSPECTED;
    rm_trace_event(RM_TRACE_FAILURE, own, rank, 0, own ? rm_control_silence(c, (int)rank) : 0, now,
                   now);
    if ((int)rank < k->size)
        atomic_store(&k->dead[rank], true);
    rm_farm_death(k->farm, rank);
}

static void on_fence(struct rm_control *c, void *ctx)
{
    struct rm_farmnode *k = ctx;
    (void)c;
    rm_farm_fenced(k->farm);
}

static void flush_copied(struct rm_farmnode *k);

static void on_tick(struct rm_control *c, void *ctx, uint64_t now)
{
    struct rm_farmnode *k = ctx;
    (void)c;
    flush_copied(k);
    rm_farm_tick(k->farm, now);
    if (!atomic_load(&k->over) && rm_farm_leader_rank(k->farm) == k->rank)
        rm_progress_tick(&k->progress, now, rm_farm_table(k->farm), k->kernel->input_bytes,
                         (uint32_t)k->size, k->rank, rm_farm_leader_term(k->farm));
    if (stop_signal && !k->stop_seen) {
        k->stop_seen = true;
        rm_farm_stop(k->farm);
    }
    if (!atomic_load(&k->over) && rm_farm_leader_rank(k->farm) == k->rank &&
        now - k->status_at >= 400 * RM_NS_PER_MS && rm_farm_table(k->farm)->initialized)
        write_status(k, "running");
}

/* ---- worker thread -------------------------------------------------------------------------- */

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
static void flush_copied(struct rm_farmnode *k)
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

static int write_checkpoint(struct rm_farmnode *k, uint64_t seq, const unsigned char *data,
                            size_t len, bool job_file);

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
static int run_assignment(struct rm_farmnode *k, const struct rm_mail *m)
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
        if (asked > k->ckpt_written && (rc = write_checkpoint(k, asked, NULL, 0, false)) != 0)
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

static void end_call(struct rm_control *c, void *arg)
{
    struct report *r = arg;
    (void)c;
    rm_farm_end(r->k->farm, (int)r->n);
    free(r);
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
static int compute_state(struct rm_farmnode *k, const struct rm_mail *m)
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
static int copy_again(struct rm_farmnode *k, const struct rm_mail *m)
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
static int write_checkpoint(struct rm_farmnode *k, uint64_t seq, const unsigned char *data,
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

static void ask_stats(struct rm_control *c, void *arg)
{
    (void)arg;
    int rc = rm_control_broadcast(c, RM_MSG_STATS_ASK, NULL, 0);
    if (rc != 0)
        rm_warn("report: asking the ranks for their records: %s", rm_strerror(rc));
}

/* --report, --trace: the finishing leader collects every live rank's trace record before the
 * job ends (the files are written once it has: see rm_farmnode_run). */
#define GATHER_NS (5000 * RM_NS_PER_MS)

static void gather_records(struct rm_farmnode *k)
{
    rm_gather_open(&k->gather);
    if (rm_control_call(k->ctl, ask_stats, k) != 0)
        return;
    uint32_t n = rm_gather_wait(&k->gather, k->rank, k->dead, GATHER_NS);
    k->gathered = true;
    rm_debug("report: %u ranks sent their records", n);
}

/* The finishing leader writes the output here, off the control thread, then ends the job. */
static int finish_job(struct rm_farmnode *k)
{
    int status = 0;
    if (k->kernel->finish && k->kernel->finish(k->kernel->ctx) != 0)
        status = 3;
    if (k->reporting)
        gather_records(k);
    struct report *r = malloc(sizeof *r);
    if (!r)
        return RM_ENOMEM;
    r->k = k;
    r->n = (uint32_t)status;
    int rc = rm_control_call(k->ctl, end_call, r);
    if (rc != 0)
        free(r);
    return rc;
}

/* The leader at the end writes --report and --trace: with every live rank's record when the
 * job finished, with its own alone when it failed or stopped. */
static void write_reports(struct rm_farmnode *k, const struct rm_farmnode_summary *s)
{
    bool *dead = calloc((size_t)k->size, sizeof *dead);
    if (!dead)
        return;
    for (int r = 0; r < k->size; r++)
        dead[r] = atomic_load(&k->dead[r]);
    const struct rm_tasktable *tt = rm_farm_table(k->farm);
    struct rm_report_job j = {.opts = k->opts,
                              .kernel = k->kernel->name,
                              .size = k->size,
                              .info = k->info,
                              .dead = dead,
                              .status = k->status,
                              .ended = rm_trace_wall(rm_clock_monotonic_ns()),
                              .tt = tt,
                              .st = &s->st,
                              .map_reduce = k->kernel->held_outputs && k->kernel->stages == 2};
    if (rm_report_files(&j, k->gathered ? k->gather.data : NULL, k->gather.len) == 0 &&
        k->opts->verbosity >= 0) {
        if (k->opts->report_path)
            printf("report: %s\n", k->opts->report_path);
        if (k->opts->trace_path)
            printf("trace: %s (open in https://ui.perfetto.dev or 'ringmaster timeline')\n",
                   k->opts->trace_path);
    }
    free(dead);
}

int rm_farmnode_run(struct rm_farmnode *k, struct rm_farmnode_summary *sum)
{
    struct rm_mail *m;
    int rc = 0;
    while (rm_mailbox_get(&k->mb, &m) == 0) {
        int type = m->type;
        if (type == MAIL_ASSIGN)
            rc = run_assignment(k, m);
        else if (type == MAIL_FINISH)
            rc = finish_job(k);
        else if (type == MAIL_STATE)
            rc = compute_state(k, m);
        else if (type == MAIL_REPLICATE)
            rc = copy_again(k, m);
        else if (type == MAIL_CKPT || type == MAIL_JOBFILE)
            rc = write_checkpoint(k, rm_get_u64(m->data), m->data + 8, m->len - 8,
                                  type == MAIL_JOBFILE);
        free(m);
        if (type == MAIL_END)
            break;
        if (rc != 0 && rc != RM_ESHUTDOWN) {
            rm_error("worker: %s", rm_strerror(rc));
            return 3;
        }
    }
    /* The control thread wrote the table before MAIL_END (the mailbox lock orders them). */
    const struct rm_tasktable *tt = rm_farm_table(k->farm);
    struct rm_farmnode_summary s = {.tasks = k->kernel->tasks,
                                    .done = tt->done,
                                    .rescheduled = tt->rescheduled,
                                    .backups = tt->backups,
                                    .failures = tt->failures};
    rm_farm_stats(k->farm, &s.st);
    if (k->status == 0 && s.st.finished_here && k->kernel->summary)
        k->kernel->summary(k->kernel->ctx, &s.st, tt);
    if (k->status == 0 && s.st.finished_here && k->kernel->held_outputs && k->kernel->stages > 1)
        printf("replicas: %u copies of each intermediate output; %llu outputs kept by a replica "
               "when their holder died, %llu recomputed, %llu copied again\n",
               k->copies, (unsigned long long)tt->saved, (unsigned long long)tt->lost,
               (unsigned long long)tt->recopied);
    if (k->status == 0 && s.st.finished_here && k->opts->resume)
        printf("resume: %llu tasks reused from the checkpoint, %llu of the %llu it had done run "
               "again\n",
               (unsigned long long)tt->reused,
               (unsigned long long)(k->resume.was_done - tt->reused),
               (unsigned long long)k->resume.was_done);
    if (k->reporting && rm_farm_leader_rank(k->farm) == k->rank)
        write_reports(k, &s);
    if (sum)
        *sum = s;
    return k->status;
}

/* ---- lifecycle ----------------------------------------------------------------------------- */

/* Tasks per assignment when --batch-size is not given: at least 16 batches per worker, so that
 * a job of few long tasks (a few dozen map splits) keeps one task queued per worker, not
 * several (a worker's queue cannot be stolen from, and would hold the end of a stage), while
 * a job of many short tasks gets batches of up to 256. */
static uint32_t auto_batch(uint64_t tasks, int size)
{
    uint64_t workers = size > 1 ? (uint64_t)size - 1 : 1;
    uint64_t b = tasks / (16 * workers);
    return (uint32_t)(b < 1 ? 1 : b > 256 ? 256 : b);
}

/* RINGMASTER_FAULT_SLOW_STAGE=S:MS (tests only): every task of stage S takes MS longer. */
static void slow_stage_fault(struct rm_farmnode *k)
{
    const char *s = getenv("RINGMASTER_FAULT_SLOW_STAGE");
    unsigned st, ms;
    k->slow_stage = UINT32_MAX;
    if (!s || sscanf(s, "%u:%u", &st, &ms) != 2 || st >= k->kernel->stages)
        return;
    k->slow_stage = st;
    k->slow_stage_ms = ms;
    k->slow_first = 0;
    for (uint32_t i = 0; i < st; i++)
        k->slow_first += k->kernel->stage_tasks[i];
    k->slow_end = k->slow_first + k->kernel->stage_tasks[st];
}

/* RINGMASTER_FAULT_SLOW_RANK=R:MS (tests only): rank R spends MS more on every task. */
static uint32_t slow_fault(int rank)
{
    const char *s = getenv("RINGMASTER_FAULT_SLOW_RANK");
    unsigned r, ms;
    if (!s || sscanf(s, "%u:%u", &r, &ms) != 2 || (int)r != rank)
        return 0;
    rm_warn("test fault: this rank is slowed down by %u ms per task", ms);
    return ms;
}

/* RINGMASTER_FAULT_FAIL_TASK=ID (tests only): task ID fails on every rank, every time. */
static uint64_t fail_fault(void)
{
    const char *s = getenv("RINGMASTER_FAULT_FAIL_TASK");
    unsigned long long id;
    return s && sscanf(s, "%llu", &id) == 1 ? (uint64_t)id : UINT64_MAX;
}

static int register_all(struct rm_farmnode *k)
{
    struct rm_raftnode_config cfg = {.voters = k->opts->voters,
                                     .election_timeout_ms = k->opts->election_ms,
                                     .seed = rm_clock_monotonic_ns(),
                                     .snapshot_entries = k->opts->snapshot_entries};
    struct rm_raftnode_app app = {.apply = on_apply,
                                  .leader_changed = on_leader_changed,
                                  .snapshot = snapshot_table,
                                  .restore = restore_table,
                                  .ctx = k};
    static const uint8_t types[] = {RM_MSG_ASSIGN,      RM_MSG_DONE,       RM_MSG_FAIL,
                                    RM_MSG_LEADER,      RM_MSG_STAGE,      RM_MSG_SHUTDOWN,
                                    RM_MSG_REREPLICATE, RM_MSG_REPLICATED, RM_MSG_CKPT,
                                    RM_MSG_CKPT_DONE,   RM_MSG_STOP};
    int rc = rm_raftnode_create(k->ctl, &cfg, &app, &k->raft);
    for (size_t i = 0; rc == 0 && i < sizeof types; i++)
        rc = rm_control_on(k->ctl, types[i], on_message, k);
    if (rc == 0)
        rc = rm_control_on(k->ctl, RM_MSG_STATS_ASK, on_stats_ask, k);
    if (rc == 0)
        rc = rm_control_on(k->ctl, RM_MSG_STATS, on_stats, k);
    if (rc == 0)
        rc = rm_control_on_death(k->ctl, on_death, k);
    if (rc == 0)
        rc = rm_control_on_tick(k->ctl, on_tick, k);
    if (rc == 0)
        rm_control_on_fence(k->ctl, on_fence, k);
    return rc;
}

/* --checkpoint-dir: the job's identity, the stop signals, and with --resume what the
 * checkpoint gives (before the control thread starts: collective). 0, RM_EUSAGE (said),
 * RM_ENOMEM, RM_EMPI. */
static int open_checkpoints(struct rm_farmnode *k)
{
    const struct rm_options *o = k->opts;
    if (!o->checkpoint_dir)
        return 0;
    char err[512] = "";
    k->identity =
        rm_ckpt_identity(o->argc, o->argv, o->inputs, o->n_inputs, &k->job, err, sizeof err);
    if (!k->identity) {
        if (k->rank == 0)
            fprintf(stderr, "ringmaster: error: %s\n", err);
        return RM_EUSAGE;
    }
    struct sigaction sa = {.sa_handler = on_stop_signal};
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGUSR1, &sa, NULL) != 0)
        rm_warn("cannot catch SIGTERM and SIGUSR1: a stop will not checkpoint");
    if (!o->resume)
        return 0;
    int rc = rm_resume_load(o->checkpoint_dir, k->identity, k->job, rm_control_comm(k->ctl),
                            k->shuffle, k->kernel->tasks, k->held_end, k->kernel->output_kept,
                            k->kernel->ctx, &k->resume);
    if (rc == 0 && k->rank == 0)
        rm_info("resume: %u tasks start done (outputs loaded from %s); the checkpoint had %llu "
                "done",
                k->resume.n, o->checkpoint_dir, (unsigned long long)k->resume.was_done);
    return rc;
}

int rm_farmnode_create(struct rm_control *ctl, const struct rm_options *opts,
                       const struct rm_rank_info *info, const struct rm_farm_kernel *kernel,
                       struct rm_farmnode **out)
{
    if (kernel->stage_state && !kernel->state)
        return RM_EINVAL;
    struct rm_farmnode *k = calloc(1, sizeof *k);
    if (!k)
        return RM_ENOMEM;
    k->ctl = ctl;
    k->opts = opts;
    k->info = info;
    k->kernel = kernel;
    k->rank = rm_control_rank(ctl);
    k->size = rm_control_size(ctl);
    k->slow_ms = slow_fault(k->rank);
    rm_progress_init(&k->progress, opts->verbosity < 0);
    k->fail_task = fail_fault();
    slow_stage_fault(k);
    int rc = rm_mailbox_init(&k->mb);
    if (rc != 0) {
        free(k);
        return rc;
    }
    k->copies = kernel->held_outputs && kernel->stages > 1 ? opts->replicas : 1;
    k->copies = k->copies < 1 ? 1 : k->copies > RM_TT_MAX_COPIES ? RM_TT_MAX_COPIES : k->copies;
    k->done_rec = rm_farm_done_rec(k->copies);
    for (uint32_t st = 0; st + 1 < kernel->stages; st++)
        k->held_end += kernel->stage_tasks[st];
    k->reporting = opts->report_path || opts->trace_path;
    k->stage_end = calloc(kernel->stages ? kernel->stages : 1, sizeof *k->stage_end);
    for (uint32_t st = 0; k->stage_end && st < kernel->stages; st++)
        k->stage_end[st] = (st ? k->stage_end[st - 1] : 0) + kernel->stage_tasks[st];
    if (!k->stage_end ||
        (k->reporting && (rm_gather_init(&k->gather, k->size) != 0 ||
                          rm_trace_enable((uint32_t)k->rank, opts->trace_path != NULL) != 0))) {
        rm_farmnode_destroy(k);
        return RM_ENOMEM;
    }
    k->dead = calloc((size_t)k->size, sizeof *k->dead);
    uint32_t *all = malloc((size_t)k->size * sizeof *all);
    rc = k->dead && all ? rm_ring_create(opts->vnodes, &k->ring) : RM_ENOMEM;
    for (int r = 0; all && r < k->size; r++)
        all[r] = (uint32_t)r;
    if (rc == 0)
        rc = rm_ring_add_many(k->ring, all, (size_t)k->size);
    free(all);
    if (rc == 0 && kernel->held_outputs)
        rc = rm_shuffle_create(ctl, (int)opts->compression, 0, &k->shuffle);
    if (rc == 0)
        rc = open_checkpoints(k);
    if (rc != 0) {
        rm_farmnode_destroy(k);
        return rc;
    }
    uint64_t leaderless = 20ull * opts->election_ms * RM_NS_PER_MS;
    uint32_t batch = opts->batch_size ? opts->batch_size : auto_batch(kernel->tasks, k->size);
    struct rm_farm_config fc = {
        .rank = (uint32_t)k->rank,
        .size = (uint32_t)k->size,
        .tasks = kernel->tasks,
        .stages = kernel->stages,
        .stage_tasks = kernel->stage_tasks,
        .max_attempts = opts->max_attempts,
        .batch = batch > RM_TT_MAX_BATCH ? RM_TT_MAX_BATCH : batch,
        .vnodes = opts->vnodes,
        .speculation = opts->speculation,
        .held_outputs = kernel->held_outputs,
        .copies = k->copies,
        .checkpoint = opts->checkpoint_dir != NULL,
        .checkpoint_ns = (uint64_t)opts->checkpoint_s * 1000000000ull,
        .reused_ids = k->resume.ids,
        .reused_by = k->resume.by,
        .reused = k->resume.n,
        .stage_state = kernel->stage_state != NULL,
        .bounded_load = opts->bounded_load,
        .leaderless_ns = leaderless < 5000 * RM_NS_PER_MS ? 5000 * RM_NS_PER_MS : leaderless};
    struct rm_farm_io io = {.ctx = k,
                            .now = io_now,
                            .propose = io_propose,
                            .send = io_send,
                            .broadcast = io_broadcast,
                            .run = io_run,
                            .epoch = io_epoch,
                            .finished = io_finished,
                            .ended = io_ended,
                            .describe = io_describe,
                            .keys = io_keys,
                            .holders = io_holders,
                            .need_state = kernel->stage_state ? io_need_state : NULL,
                            .state = kernel->stage_state ? io_state : NULL,
                            .replicate = io_replicate,
                            .checkpoint = io_checkpoint,
                            .checkpointed = io_checkpointed};
    k->roles = calloc((size_t)k->size, sizeof *k->roles);
    rc = k->roles ? rm_farm_create(&fc, &io, &k->farm) : RM_ENOMEM;
    if (rc == 0)
        rc = rm_epochcomm_create(rm_control_comm(ctl), &k->ecomm);
    if (rc == 0 && kernel->attach)
        rc = kernel->attach(kernel->ctx, k->rank, k->size, k->shuffle);
    if (rc == 0)
        rc = register_all(k);
    if (rc != 0) {
        rm_farmnode_destroy(k);
        return rc;
    }
    if (k->rank == 0 && opts->status_path) {
        struct rm_status st = {.state = "starting",
                               .leader = -1,
                               .size = k->size,
                               .ranks = info,
                               .roles = k->roles,
                               .total = kernel->tasks};
        if (rm_status_write(opts->status_path, &st) != 0)
            rm_warn("cannot write the status file %s", opts->status_path);
    }
    *out = k;
    return 0;
}

void rm_farmnode_destroy(struct rm_farmnode *k)
{
    if (!k)
        return;
    rm_raftnode_destroy(k->raft);
    rm_epochcomm_destroy(k->ecomm);
    rm_farm_destroy(k->farm);
    rm_shuffle_destroy(k->shuffle);
    rm_mailbox_close(&k->mb);
    rm_ring_destroy(k->ring);
    free(k->dead);
    free(k->identity);
    rm_resume_free(&k->resume);
    free(k->roles);
    free(k->stage_end);
    free(k->copied);
    rm_gather_close(&k->gather);
    free(k);
}
