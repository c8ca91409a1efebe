/* noop.c: see noop.h. The leader half runs on the control thread; the worker half's tasks run
 * on the main thread, which reaches the control thread only through rm_control_call. */
#include "scheduler/noop.h"

#include <stdlib.h>
#include <string.h>

#include "ringmaster.h"
#include "runtime/clock.h"
#include "runtime/epochcomm.h"
#include "runtime/log.h"
#include "runtime/mailbox.h"
#include "runtime/raftnode.h"
#include "runtime/status.h"
#include "scheduler/tasktable.h"

#define REC 12u /* (u64 id, u32 attempt) in ASSIGN and DONE messages */
enum mail_type { MAIL_ASSIGN = 1, MAIL_END = 2 };

struct rm_noop {
    struct rm_control *ctl;
    const struct rm_options *opts;
    const struct rm_rank_info *info;
    uint8_t *roles;       /* per rank, for the status file */
    uint64_t status_at;   /* when the status file was last written */
    struct rm_raftnode *raft;
    struct rm_tasktable tt; /* replica; meaningful on Raft members */
    int rank, size;
    struct rm_mailbox mb;
    int status; /* written by the control thread before MAIL_END */
    bool ended;
    struct rm_noop_summary sum;
    /* leader state, rebuilt from tt on every election (control thread) */
    bool leading, init_proposed, finished;
    uint8_t *reserved;   /* per task: in a proposed, not yet applied ASSIGN */
    uint32_t *inflight;  /* per rank: assigned or reserved tasks */
    uint64_t *stack;     /* candidate pending task ids */
    uint64_t n_stack;
    bool *dead_pending;  /* per rank: death to commit */
    uint32_t batch, credits;
    uint64_t t_lead;
    /* worker state (control thread) */
    int leader;
    uint64_t leader_term;
    uint64_t epoch_seen;       /* highest membership epoch seen from a coordinator */
    struct rm_epochcomm *ecomm; /* one communicator per epoch, for data-plane collectives */
    uint64_t leaderless_since; /* 0 while a leader is known */
    uint32_t *seen;            /* per task: highest attempt received */
    unsigned char *done_log;   /* every completion this rank reported, REC bytes each */
    size_t n_done, cap_done;
};

/* ---- small helpers ------------------------------------------------------------------------ */

/* Validates a record list (u32 n, n records); returns n or -1. */
static long rec_count(const void *payload, size_t len)
{
    if (len < 4)
        return -1;
    uint32_t n = rm_get_u32(payload);
    if (n > RM_TT_MAX_BATCH || len != 4 + (size_t)n * REC)
        return -1;
    return n;
}

/* Fencing: a coordinator message older than what this rank has seen, by (term, epoch), comes
 * from a deposed leader or an earlier membership and is ignored. Otherwise records the epoch. */
static bool stale(struct rm_noop *k, const struct rm_frame_header *h)
{
    if (h->term < k->leader_term || (h->term == k->leader_term && h->epoch < k->epoch_seen))
        return true;
    if (h->epoch > k->epoch_seen) {
        k->epoch_seen = h->epoch;
        rm_debug("membership epoch %llu (from rank %u)", (unsigned long long)h->epoch, h->sender);
    }
    return false;
}

/* Writes the status file (leader, or a rank reporting failure). Control thread. */
static void write_status(struct rm_noop *k, const char *state)
{
    if (!k->opts->status_path)
        return;
    for (int r = 0; r < k->size; r++)
        k->roles[r] = rm_control_is_dead(k->ctl, r)          ? RM_ROLE_DEAD
                      : r == k->leader                        ? RM_ROLE_LEADER
                      : rm_raftnode_is_voter(k->raft, r)      ? RM_ROLE_VOTER
                                                              : RM_ROLE_WORKER;
    struct rm_status st = {.state = state, .leader = k->leader, .term = k->leader_term,
                           .epoch = k->tt.epoch, .size = k->size, .ranks = k->info,
                           .roles = k->roles, .total = k->opts->tasks, .done = k->tt.done,
                           .running = k->tt.assigned, .rescheduled = k->tt.rescheduled};
    if (rm_status_write(k->opts->status_path, &st) != 0 && k->status_at == 0)
        rm_warn("cannot write the status file %s", k->opts->status_path);
    k->status_at = rm_control_now(k->ctl);
}

static void end_job(struct rm_noop *k, int status)
{
    if (k->ended)
        return;
    k->ended = true;
    k->status = status;
    if (rm_mailbox_put(&k->mb, MAIL_END, NULL, 0) != 0)
        rm_mailbox_shut(&k->mb);
}

static bool alive(struct rm_noop *k, int r)
{
    return !rm_control_is_dead(k->ctl, r);
}

/* Ranks that run tasks: every live rank but the leader, or the leader when it is alone. */
static bool is_worker(struct rm_noop *k, int r)
{
    if (!alive(k, r))
        return false;
    return r != k->rank || rm_control_live_count(k->ctl) == 1;
}

/* ---- leader: dispatch --------------------------------------------------------------------- */

static void refill(struct rm_noop *k, int w)
{
    uint64_t ids[RM_TT_MAX_BATCH];
    while (k->inflight[w] < k->credits) {
        uint32_t n = 0;
        while (n < k->batch && k->inflight[w] + n < k->credits && k->n_stack > 0) {
            uint64_t id = k->stack[--k->n_stack];
            if (k->tt.state[id] == RM_TASK_PENDING && !k->reserved[id])
                ids[n++] = id;
        }
        if (n == 0)
            return;
        size_t len;
        unsigned char *e = rm_tt_encode_assign((uint32_t)w, ids, n, &len);
        int rc = e ? rm_raftnode_propose(k->raft, e, len) : RM_ENOMEM;
        free(e);
        if (rc != 0) { /* not leader any more, or the log is full: try later */
            while (n > 0)
                k->stack[k->n_stack++] = ids[--n];
            return;
        }
        for (uint32_t i = 0; i < n; i++)
            k->reserved[ids[i]] = 1;
        k->inflight[w] += n;
    }
}

static void refill_all(struct rm_noop *k)
{
    for (int r = 0; r < k->size; r++)
        if (is_worker(k, r))
            refill(k, r);
}

/* Sends (id, attempt) records to worker w, or to this rank's own mailbox. */
static void send_records(struct rm_noop *k, int w, const unsigned char *recs, uint32_t n)
{
    size_t len = 4 + (size_t)n * REC;
    unsigned char *p = malloc(len);
    if (!p)
        return; /* the task stays assigned; a later leader or the worker's death recovers it */
    rm_put_u32(p, n);
    memcpy(p + 4, recs, (size_t)n * REC);
    int rc = w == k->rank ? rm_mailbox_put(&k->mb, MAIL_ASSIGN, p, len)
                          : rm_control_send(k->ctl, w, RM_MSG_ASSIGN, p, len);
    if (rc != 0 && rc != RM_EDEAD)
        rm_warn("assigning tasks to rank %d: %s", w, rm_strerror(rc));
    free(p);
}

/* Sends every task assigned to w at its current attempt (after an election). */
static void resend_inflight(struct rm_noop *k, int w)
{
    unsigned char recs[RM_TT_MAX_BATCH * REC];
    uint32_t n = 0;
    for (uint64_t id = 0; id < k->tt.n; id++) {
        if (k->tt.state[id] != RM_TASK_ASSIGNED || k->tt.owner[id] != (uint32_t)w)
            continue;
        rm_put_u64(recs + REC * n, id);
        rm_put_u32(recs + REC * n + 8, k->tt.attempt[id]);
        if (++n == RM_TT_MAX_BATCH) {
            send_records(k, w, recs, n);
            n = 0;
        }
    }
    if (n)
        send_records(k, w, recs, n);
}

static void propose_deaths(struct rm_noop *k)
{
    for (int r = 0; r < k->size; r++) {
        if (!k->dead_pending[r])
            continue;
        size_t len;
        unsigned char *e = rm_tt_encode_dead((uint32_t)r, &len);
        if (e && rm_raftnode_propose(k->raft, e, len) == 0)
            k->dead_pending[r] = false;
        free(e);
    }
}

/* Rebuilds the leader's volatile state from the replicated table. */
static void rebuild(struct rm_noop *k)
{
    memset(k->reserved, 0, k->tt.n ? k->tt.n : 1);
    memset(k->inflight, 0, (size_t)k->size * sizeof *k->inflight);
    k->n_stack = 0;
    for (uint64_t i = k->tt.n; i-- > 0;) {
        if (k->tt.state[i] == RM_TASK_PENDING)
            k->stack[k->n_stack++] = i;
        else if (k->tt.state[i] == RM_TASK_ASSIGNED)
            k->inflight[k->tt.owner[i]]++;
    }
    for (int r = 0; r < k->size; r++) {
        if (k->inflight[r] > 0 && !alive(k, r))
            k->dead_pending[r] = true;
        else if (k->inflight[r] > 0)
            resend_inflight(k, r);
    }
    propose_deaths(k);
    refill_all(k);
}

/* Tells every live rank who leads, in which epoch, and that epoch's committed live set; each
 * rank (this one included) then builds the epoch's communicator. Leader, control thread. */
static void announce(struct rm_noop *k)
{
    size_t bits = ((size_t)k->size + 7) / 8, len = 20 + bits;
    unsigned char *p = calloc(1, len);
    if (!p)
        return;
    rm_put_u64(p, rm_raftnode_term(k->raft));
    rm_put_u64(p + 8, k->tt.epoch);
    rm_put_u32(p + 16, (uint32_t)k->size);
    for (int r = 0; r < k->size; r++)
        if (!rm_tasktable_is_dead(&k->tt, (uint32_t)r))
            p[20 + r / 8] |= (unsigned char)(1u << (r % 8));
    rm_control_broadcast(k->ctl, RM_MSG_LEADER, p, len);
    if (k->tt.epoch > 0 && rm_epochcomm_request(k->ecomm, k->tt.epoch, p + 20, k->size) != 0)
        rm_warn("cannot start building the epoch %llu communicator",
                (unsigned long long)k->tt.epoch);
    free(p);
}

static void finish(struct rm_noop *k)
{
    k->finished = true;
    k->sum.finished_here = true;
    k->sum.seconds = (double)(rm_control_now(k->ctl) - k->t_lead) / 1e9;
    k->sum.workers_end = (uint32_t)rm_control_live_count(k->ctl) - 1;
    unsigned char st[4];
    rm_put_u32(st, 0);
    int rc = rm_control_broadcast(k->ctl, RM_MSG_SHUTDOWN, st, sizeof st);
    if (rc != 0)
        rm_warn("announcing the end of the job: %s", rm_strerror(rc));
    write_status(k, "done");
    end_job(k, 0);
}

/* ---- replicated state: apply (control thread, every Raft member) --------------------------- */

/* Allocates the leader's per-task scratch once the table's size is known. */
static int size_leader_state(struct rm_noop *k)
{
    if (k->reserved || !k->tt.initialized)
        return 0;
    size_t n = k->tt.n ? (size_t)k->tt.n : 1;
    k->reserved = calloc(n, 1);
    k->stack = malloc(n * sizeof *k->stack);
    return k->reserved && k->stack ? 0 : RM_ENOMEM;
}


/* Leader: after an ASSIGN entry applied, send each worker the tasks it now owns. */
static void after_assign(struct rm_noop *k, const unsigned char *p)
{
    uint32_t owner = rm_get_u32(p + 1), n = rm_get_u32(p + 5);
    unsigned char recs[RM_TT_MAX_BATCH * REC];
    uint32_t m = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t id = rm_get_u64(p + 9 + 8 * (size_t)i);
        if (id >= k->tt.n)
            continue;
        bool mine = k->tt.state[id] == RM_TASK_ASSIGNED && k->tt.owner[id] == owner;
        if (k->reserved[id] && !mine && owner < (uint32_t)k->size && k->inflight[owner] > 0)
            k->inflight[owner]--; /* reserved, but the entry did not take */
        k->reserved[id] = 0;
        if (mine) {
            rm_put_u64(recs + REC * m, id);
            rm_put_u32(recs + REC * m + 8, k->tt.attempt[id]);
            m++;
        }
    }
    if (m && owner < (uint32_t)k->size && alive(k, (int)owner))
        send_records(k, (int)owner, recs, m);
}

static void after_apply(struct rm_noop *k, const unsigned char *p, uint64_t done_before,
                        uint64_t resched_before)
{
    if (p[0] == RM_TT_INIT) {
        rebuild(k);
    } else if (p[0] == RM_TT_ASSIGN) {
        after_assign(k, p);
    } else if (p[0] == RM_TT_DONE) {
        uint32_t owner = rm_get_u32(p + 1);
        uint64_t newly = k->tt.done - done_before;
        if (owner < (uint32_t)k->size) {
            k->inflight[owner] -= newly < k->inflight[owner] ? (uint32_t)newly : k->inflight[owner];
            if (is_worker(k, (int)owner))
                refill(k, (int)owner);
        }
    } else if (p[0] == RM_TT_DEAD) {
        uint32_t r = rm_get_u32(p + 1);
        if (r < (uint32_t)k->size)
            k->inflight[r] = 0;
        rm_warn("rescheduled %llu unfinished tasks of dead rank %u (epoch %llu)",
                (unsigned long long)(k->tt.rescheduled - resched_before), r,
                (unsigned long long)k->tt.epoch);
        announce(k); /* every live rank learns the new epoch and its live set */
        rebuild(k); /* the dead rank's tasks are pending again */
    }
}

static void on_apply(void *ctx, const void *data, size_t len, uint64_t index)
{
    struct rm_noop *k = ctx;
    uint64_t before = k->tt.done, resched = k->tt.rescheduled;
    int rc = rm_tasktable_apply(&k->tt, data, len);
    if (rc != 0) {
        rm_error("task table: entry %llu: %s", (unsigned long long)index, rm_strerror(rc));
        return;
    }
    if (((const unsigned char *)data)[0] == RM_TT_DEAD)
        rm_raftnode_set_epoch(k->raft, k->tt.epoch);
    if (size_leader_state(k) != 0) {
        rm_error("task table: out of memory");
        end_job(k, 3);
        return;
    }
    if (k->leading && !k->finished)
        after_apply(k, data, before, resched);
    if (k->leading && !k->finished && k->tt.initialized && k->tt.done == k->tt.n)
        finish(k);
}

/* ---- leadership ---------------------------------------------------------------------------- */

/* This rank learns of a leader (from Raft or an announcement): completions go there now. */
static void adopt_leader(struct rm_noop *k, int leader, uint64_t term)
{
    if (term < k->leader_term || (term == k->leader_term && leader == k->leader))
        return;
    k->leader = leader;
    k->leader_term = term;
    k->leaderless_since = 0;
    for (size_t off = 0; off < k->n_done; off += RM_TT_MAX_BATCH) {
        uint32_t n = (uint32_t)(k->n_done - off < RM_TT_MAX_BATCH ? k->n_done - off
                                                                   : RM_TT_MAX_BATCH);
        unsigned char *p = malloc(4 + (size_t)n * REC);
        if (!p)
            return;
        rm_put_u32(p, n);
        memcpy(p + 4, k->done_log + off * REC, (size_t)n * REC);
        if (leader != k->rank)
            rm_control_send(k->ctl, leader, RM_MSG_DONE, p, 4 + (size_t)n * REC);
        free(p);
    }
}

static void on_leader_changed(void *ctx, int leader, uint64_t term, bool self)
{
    struct rm_noop *k = ctx;
    if (leader >= 0) /* count elections, not the gaps between them */
        k->sum.leader_changes++;
    k->sum.term = term;
    bool was = k->leading;
    k->leading = self;
    if (leader >= 0) {
        adopt_leader(k, leader, term);
    } else if (k->leader >= 0) { /* an election is on: this member knows of no leader now */
        k->leader = -1;
        k->leaderless_since = rm_control_now(k->ctl);
    }
    if (!self || was)
        return;
    k->t_lead = rm_control_now(k->ctl);
    announce(k);
    if (!k->tt.initialized && !k->init_proposed) {
        size_t len;
        unsigned char *e = rm_tt_encode_init(k->opts->tasks, &len);
        k->init_proposed = e && rm_raftnode_propose(k->raft, e, len) == 0;
        free(e);
    } else if (k->tt.initialized) {
        rebuild(k);
        if (k->tt.done == k->tt.n)
            finish(k);
    }
}

/* ---- messages ------------------------------------------------------------------------------ */

static void on_assign(struct rm_control *c, void *ctx, const struct rm_frame_header *h,
                      const void *payload)
{
    struct rm_noop *k = ctx;
    (void)c;
    long n = rec_count(payload, h->length);
    if (n < 0 || stale(k, h)) {
        rm_warn("dropped a %s assignment from rank %u", n < 0 ? "malformed" : "stale", h->sender);
        return;
    }
    adopt_leader(k, (int)h->sender, h->term);
    const unsigned char *p = payload;
    unsigned char *fresh = malloc((size_t)h->length);
    if (!fresh)
        return;
    uint32_t m = 0;
    for (long i = 0; i < n; i++) {
        uint64_t id = rm_get_u64(p + 4 + REC * i);
        uint32_t att = rm_get_u32(p + 4 + REC * i + 8);
        if (id >= k->opts->tasks || att <= k->seen[id])
            continue; /* a duplicate (task, attempt): already run or running */
        k->seen[id] = att;
        memcpy(fresh + 4 + REC * m++, p + 4 + REC * i, REC);
    }
    rm_put_u32(fresh, m);
    if (m && rm_mailbox_put(&k->mb, MAIL_ASSIGN, fresh, 4 + (size_t)m * REC) != 0)
        rm_warn("dropped an assignment: this rank is stopping");
    free(fresh);
}

static void on_done(struct rm_control *c, void *ctx, const struct rm_frame_header *h,
                    const void *payload)
{
    struct rm_noop *k = ctx;
    (void)c;
    long n = rec_count(payload, h->length);
    if (n < 0) {
        rm_warn("dropped a malformed completion from rank %u", h->sender);
        return;
    }
    if (!k->leading || k->finished || n == 0)
        return; /* the sender re-sends to whoever leads next */
    uint64_t ids[RM_TT_MAX_BATCH];
    uint32_t att[RM_TT_MAX_BATCH];
    const unsigned char *p = payload;
    for (long i = 0; i < n; i++) {
        ids[i] = rm_get_u64(p + 4 + REC * i);
        att[i] = rm_get_u32(p + 4 + REC * i + 8);
    }
    size_t len;
    unsigned char *e = rm_tt_encode_done(h->sender, ids, att, (uint32_t)n, &len);
    int rc = e ? rm_raftnode_propose(k->raft, e, len) : RM_ENOMEM;
    if (rc != 0)
        rm_warn("committing completions of rank %u: %s", h->sender, rm_strerror(rc));
    free(e);
}

static void on_leader_msg(struct rm_control *c, void *ctx, const struct rm_frame_header *h,
                          const void *payload)
{
    struct rm_noop *k = ctx;
    (void)c;
    const unsigned char *p = payload;
    size_t bits = ((size_t)k->size + 7) / 8;
    if (h->length != 20 + bits || rm_get_u64(p) != h->term || rm_get_u64(p + 8) != h->epoch ||
        rm_get_u32(p + 16) != (uint32_t)k->size) {
        rm_warn("dropped a malformed leader announcement from rank %u", h->sender);
        return;
    }
    if (stale(k, h))
        return;
    adopt_leader(k, (int)h->sender, h->term);
    if (h->epoch > 0 && rm_epochcomm_request(k->ecomm, h->epoch, p + 20, k->size) != 0)
        rm_warn("cannot start building the epoch %llu communicator",
                (unsigned long long)h->epoch);
}

static void on_shutdown(struct rm_control *c, void *ctx, const struct rm_frame_header *h,
                        const void *payload)
{
    struct rm_noop *k = ctx;
    (void)c;
    if (h->length != 4 || stale(k, h)) {
        rm_warn("dropped a malformed or stale shutdown from rank %u", h->sender);
        return;
    }
    uint32_t status = rm_get_u32(payload);
    if (status != 0)
        rm_error("the job failed (rank %u ended it with status %u; see its message)", h->sender,
                 status);
    end_job(k, (int)status);
}

static void on_death(struct rm_control *c, void *ctx, uint32_t rank, enum rm_death_cause cause)
{
    struct rm_noop *k = ctx;
    (void)cause;
    if ((int)rank == k->leader) {
        k->leader = -1;
        k->leaderless_since = rm_control_now(c);
    }
    if (k->leading && !k->finished) {
        k->dead_pending[rank] = true;
        propose_deaths(k);
    }
}

static void on_fence(struct rm_control *c, void *ctx)
{
    (void)c;
    end_job(ctx, 3);
}

static void on_tick(struct rm_control *c, void *ctx, uint64_t now)
{
    struct rm_noop *k = ctx;
    (void)c;
    if (k->leading && !k->finished) {
        propose_deaths(k);
        if (k->tt.initialized)
            refill_all(k);
        if (now - k->status_at >= 400 * RM_NS_PER_MS)
            write_status(k, "running");
    }
    uint64_t limit = 20ull * k->opts->election_ms * RM_NS_PER_MS;
    if (limit < 5000 * RM_NS_PER_MS)
        limit = 5000 * RM_NS_PER_MS;
    if (k->leader < 0 && k->leaderless_since == 0)
        k->leaderless_since = now;
    if (k->leaderless_since && now - k->leaderless_since > limit && !k->ended) {
        rm_error("no leader for %.1f s: a majority of the Raft group is lost; the job fails",
                 (double)(now - k->leaderless_since) / 1e9);
        write_status(k, "failed");
        /* Workers outside the group may still think a stepped-down leader leads: tell them. */
        unsigned char st[4];
        rm_put_u32(st, 3);
        rm_control_broadcast(k->ctl, RM_MSG_SHUTDOWN, st, sizeof st);
        end_job(k, 3);
    }
}

/* ---- worker thread ------------------------------------------------------------------------- */

struct done_msg {
    struct rm_noop *k;
    size_t len;
    unsigned char data[]; /* u32 n, n records */
};

static int log_done(struct rm_noop *k, const unsigned char *recs, uint32_t n)
{
    if (k->n_done + n > k->cap_done) {
        size_t cap = k->cap_done ? k->cap_done * 2 : 1024;
        while (cap < k->n_done + n)
            cap *= 2;
        unsigned char *p = realloc(k->done_log, cap * REC);
        if (!p)
            return RM_ENOMEM;
        k->done_log = p;
        k->cap_done = cap;
    }
    memcpy(k->done_log + k->n_done * REC, recs, (size_t)n * REC);
    k->n_done += n;
    return 0;
}

/* Reports completions to the leader: runs on the control thread; owns and frees arg. */
static void send_done(struct rm_control *c, void *arg)
{
    struct done_msg *m = arg;
    struct rm_noop *k = m->k;
    uint32_t n = rm_get_u32(m->data);
    if (log_done(k, m->data + 4, n) != 0)
        rm_error("worker: out of memory keeping completions");
    if (k->leader == k->rank) {
        struct rm_frame_header h = {.sender = (uint32_t)k->rank, .length = (uint32_t)m->len};
        on_done(c, k, &h, m->data);
    } else if (k->leader >= 0) {
        int rc = rm_control_send(c, k->leader, RM_MSG_DONE, m->data, m->len);
        if (rc != 0 && rc != RM_EDEAD && rc != RM_ESHUTDOWN)
            rm_warn("reporting completions: %s", rm_strerror(rc));
    } /* no leader now: the completions go out when one is announced */
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
    /* The control thread wrote these before MAIL_END (the mailbox lock orders them). */
    k->sum.tasks = k->tt.n;
    k->sum.done = k->tt.done;
    k->sum.rescheduled = k->tt.rescheduled;
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

static int snapshot_table(void *ctx, unsigned char **data, size_t *len)
{
    struct rm_noop *k = ctx;
    return rm_tasktable_encode(&k->tt, data, len);
}

static int restore_table(void *ctx, const void *data, size_t len)
{
    struct rm_noop *k = ctx;
    int rc = rm_tasktable_decode(&k->tt, data, len);
    if (rc == 0 && k->tt.n != k->opts->tasks)
        rc = RM_EPROTO; /* every rank parsed the same --tasks */
    if (rc == 0)
        rm_raftnode_set_epoch(k->raft, k->tt.epoch);
    return rc == 0 ? size_leader_state(k) : rc;
}

static int register_all(struct rm_noop *k)
{
    struct rm_raftnode_config cfg = {.voters = k->opts->voters,
                                    .election_timeout_ms = k->opts->election_ms,
                                    .seed = rm_clock_monotonic_ns(),
                                    .snapshot_entries = k->opts->snapshot_entries};
    struct rm_raftnode_app app = {.apply = on_apply, .leader_changed = on_leader_changed,
                                  .snapshot = snapshot_table, .restore = restore_table,
                                  .ctx = k};
    int rc;
    if ((rc = rm_raftnode_create(k->ctl, &cfg, &app, &k->raft)) != 0 ||
        (rc = rm_control_on(k->ctl, RM_MSG_ASSIGN, on_assign, k)) != 0 ||
        (rc = rm_control_on(k->ctl, RM_MSG_DONE, on_done, k)) != 0 ||
        (rc = rm_control_on(k->ctl, RM_MSG_LEADER, on_leader_msg, k)) != 0 ||
        (rc = rm_control_on(k->ctl, RM_MSG_SHUTDOWN, on_shutdown, k)) != 0 ||
        (rc = rm_control_on_death(k->ctl, on_death, k)) != 0 ||
        (rc = rm_control_on_tick(k->ctl, on_tick, k)) != 0)
        return rc;
    rm_control_on_fence(k->ctl, on_fence, k);
    return 0;
}

int rm_noop_create(struct rm_control *ctl, const struct rm_options *opts,
                   const struct rm_rank_info *info, struct rm_noop **out)
{
    struct rm_noop *k = calloc(1, sizeof *k);
    if (!k)
        return RM_ENOMEM;
    k->ctl = ctl;
    k->opts = opts;
    k->info = info;
    k->rank = rm_control_rank(ctl);
    k->size = rm_control_size(ctl);
    k->leader = -1;
    rm_tasktable_init(&k->tt);
    int rc = rm_mailbox_init(&k->mb);
    if (rc != 0) {
        free(k);
        return rc;
    }
    rc = RM_ENOMEM;
    size_t n = opts->tasks ? (size_t)opts->tasks : 1;
    k->seen = calloc(n, sizeof *k->seen);
    k->inflight = calloc((size_t)k->size, sizeof *k->inflight);
    k->dead_pending = calloc((size_t)k->size, sizeof *k->dead_pending);
    k->roles = calloc((size_t)k->size, sizeof *k->roles);
    if (!k->seen || !k->inflight || !k->dead_pending || !k->roles)
        goto err;
    k->batch = opts->batch_size ? opts->batch_size : auto_batch(opts->tasks, k->size);
    if (k->batch > RM_TT_MAX_BATCH)
        k->batch = RM_TT_MAX_BATCH;
    k->credits = 2 * k->batch;
    if ((rc = rm_epochcomm_create(rm_control_comm(ctl), &k->ecomm)) != 0 ||
        (rc = register_all(k)) != 0)
        goto err;
    if (k->rank == 0 && opts->status_path) {
        struct rm_status st = {.state = "starting", .leader = -1, .size = k->size,
                               .ranks = info, .roles = k->roles, .total = opts->tasks};
        if (rm_status_write(opts->status_path, &st) != 0)
            rm_warn("cannot write the status file %s", opts->status_path);
    }
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
    rm_raftnode_destroy(k->raft);
    rm_epochcomm_destroy(k->ecomm);
    rm_mailbox_close(&k->mb);
    rm_tasktable_close(&k->tt);
    free(k->reserved);
    free(k->stack);
    free(k->inflight);
    free(k->dead_pending);
    free(k->roles);
    free(k->seen);
    free(k->done_log);
    free(k);
}
