/* farmnode.c: see farmnode.h. */
#include "scheduler/farmnode.h"
#include "scheduler/farmnode_int.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* A stop signal (SIGTERM, SIGUSR1) arrived: set by the handler, acted on by the tick. */
static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_signal = 1;
}

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

static void on_tick(struct rm_control *c, void *ctx, uint64_t now)
{
    struct rm_farmnode *k = ctx;
    (void)c;
    rm__farmnode_flush_copied(k);
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
/* The job's end, handed from the worker thread to the control thread. */
struct ending {
    struct rm_farmnode *k;
    int status;
};

static void end_call(struct rm_control *c, void *arg)
{
    struct ending *e = arg;
    (void)c;
    rm_farm_end(e->k->farm, e->status);
    free(e);
}

static int finish_job(struct rm_farmnode *k)
{
    int status = 0;
    if (k->kernel->finish && k->kernel->finish(k->kernel->ctx) != 0)
        status = 3;
    if (k->reporting)
        gather_records(k);
    struct ending *r = malloc(sizeof *r);
    if (!r)
        return RM_ENOMEM;
    r->k = k;
    r->status = status;
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
            rc = rm__farmnode_run_assignment(k, m);
        else if (type == MAIL_FINISH)
            rc = finish_job(k);
        else if (type == MAIL_STATE)
            rc = rm__farmnode_compute_state(k, m);
        else if (type == MAIL_REPLICATE)
            rc = rm__farmnode_copy_again(k, m);
        else if (type == MAIL_CKPT || type == MAIL_JOBFILE)
            rc = rm__farmnode_write_checkpoint(k, rm_get_u64(m->data), m->data + 8, m->len - 8,
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
