/* farm.c: the coordinator of the farm (see farm.h and farm_internal.h): placement, dispatch,
 * completions, failures, stragglers, the replicated state's effects and leadership. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/frame.h"
#include "runtime/log.h"
#include "scheduler/farm_internal.h"

#define SUCC 4u /* ring successors considered for a task */
#define RESERVED_ASSIGN 1u
#define RESERVED_BACKUP 2u

/* ---- leader: placement and dispatch ---------------------------------------------------------- */

/* The worker that should run task id: the first worker among its key's ring successors other
 * than `avoid`, else any worker other than avoid, else any worker; -1 if there is none. */
static int place(struct rm_farm *f, uint64_t id, uint32_t avoid)
{
    uint32_t succ[SUCC];
    int n = rm_ring_successors(f->ring, f->tt.key[id], succ, SUCC);
    for (int i = 0; i < n; i++)
        if (succ[i] != avoid && is_worker(f, succ[i]))
            return (int)succ[i];
    int any = -1;
    for (uint32_t k = 0; k < f->cfg.size; k++) {
        uint32_t r = (uint32_t)((id + k) % f->cfg.size);
        if (!is_worker(f, r))
            continue;
        if (r != avoid)
            return (int)r;
        any = (int)r;
    }
    return any;
}

/* Queues a pending task on worker o if o is one, else on the best other (see place). */
static int enqueue_on(struct rm_farm *f, uint64_t id, uint32_t o)
{
    int w = is_worker(f, o) ? (int)o : place(f, id, RM_TT_NONE);
    if (w < 0)
        return 0; /* no worker at all: requeued when one shows up (never, alone) */
    return q_push(&f->q[w], id);
}

/* enqueue_stage with bounded loads: no member owns more than bounded_load x its share of the
 * stage's pending tasks (rm_ring_assign_bounded), for skewed keys. */
static int enqueue_bounded(struct rm_farm *f, uint64_t first, uint64_t last)
{
    uint64_t n = 0;
    for (uint64_t id = first; id < last; id++)
        n += f->tt.state[id] == RM_TASK_PENDING && !f->reserved[id];
    uint64_t *ids = malloc((n ? n : 1) * sizeof *ids), *hashes = malloc((n ? n : 1) * 8);
    uint32_t *owners = malloc((n ? n : 1) * sizeof *owners);
    int rc = ids && hashes && owners ? 0 : RM_ENOMEM;
    for (uint64_t id = first, k = 0; rc == 0 && id < last; id++)
        if (f->tt.state[id] == RM_TASK_PENDING && !f->reserved[id]) {
            ids[k] = id;
            hashes[k++] = f->tt.key[id];
        }
    if (rc == 0)
        rc = rm_ring_assign_bounded(f->ring, hashes, (size_t)n, f->cfg.bounded_load, owners);
    for (uint64_t k = n; rc == 0 && k-- > 0;) /* ids ascending from each queue's end */
        rc = enqueue_on(f, ids[k], owners[k]);
    free(ids);
    free(hashes);
    free(owners);
    return rc;
}

/* Queues the pending tasks of stage s on their workers, ids ascending from each queue's end. */
int farm_enqueue_stage(struct rm_farm *f, uint32_t s)
{
    if (f->cfg.bounded_load >= 1.0)
        return enqueue_bounded(f, f->tt.stage_first[s], f->tt.stage_first[s + 1]);
    enum { CHUNK = 4096 };
    uint64_t first = f->tt.stage_first[s], last = f->tt.stage_first[s + 1];
    uint32_t owners[CHUNK];
    for (uint64_t hi = last; hi > first;) {
        uint64_t lo = hi - first > CHUNK ? hi - CHUNK : first;
        int rc = rm_ring_owner_many(f->ring, f->tt.key + lo, (size_t)(hi - lo), owners);
        if (rc != 0)
            return rc;
        for (uint64_t id = hi; id-- > lo;) {
            if (f->tt.state[id] != RM_TASK_PENDING || f->reserved[id])
                continue;
            if (enqueue_on(f, id, owners[id - lo]) != 0)
                return RM_ENOMEM;
        }
        hi = lo;
    }
    return 0;
}

/* Takes the next dispatchable task for worker w: its own queue first, then the longest other
 * queue. Returns false when there is none. */
static bool next_task(struct rm_farm *f, uint32_t w, uint64_t *id)
{
    for (;;) {
        struct idq *q = &f->q[w];
        bool stolen = false;
        if (q->n == 0) {
            size_t best = 0;
            for (uint32_t r = 0; r < f->cfg.size; r++)
                if (f->q[r].n > best) {
                    best = f->q[r].n;
                    q = &f->q[r];
                }
            if (best == 0)
                return false;
            stolen = true;
        }
        uint64_t t = q->v[--q->n];
        if (f->tt.state[t] != RM_TASK_PENDING || f->reserved[t] ||
            rm_tasktable_stage(&f->tt, t) != f->cur_stage)
            continue; /* taken since it was queued */
        f->st.stolen += stolen;
        *id = t;
        return true;
    }
}

static void refill(struct rm_farm *f, uint32_t w)
{
    uint64_t ids[RM_TT_MAX_BATCH];
    while (f->inflight[w] < f->cfg.credits) {
        uint32_t n = 0;
        while (n < f->cfg.batch && f->inflight[w] + n < f->cfg.credits && next_task(f, w, &ids[n]))
            f->reserved[ids[n++]] = RESERVED_ASSIGN; /* a task queued twice is taken once */
        if (n == 0)
            return;
        size_t len;
        unsigned char *e = rm_tt_encode_assign(w, ids, n, &len);
        int rc = e ? f->io.propose(f->io.ctx, e, len) : RM_ENOMEM;
        free(e);
        if (rc != 0) { /* not leader any more, or the log is full: try again on the next tick */
            while (n > 0) {
                f->reserved[ids[--n]] = 0;
                q_push(&f->q[w], ids[n]); /* cannot fail: the slots were just freed */
            }
            return;
        }
        f->inflight[w] += n;
        f->st.dispatched += n;
    }
}

void farm_refill_all(struct rm_farm *f)
{
    for (uint32_t r = 0; r < f->cfg.size; r++)
        if (is_worker(f, r))
            refill(f, r);
}

/* Sends u32-count-less ASSIGN records to worker w, or to this rank's own worker. */
static void send_records(struct rm_farm *f, uint32_t w, const unsigned char *recs, uint32_t n)
{
    if (w == f->cfg.rank) {
        farm_worker_accept(f, recs, n);
        return;
    }
    size_t len = 4 + (size_t)n * RM_FARM_ASSIGN_REC;
    unsigned char *p = malloc(len);
    if (!p)
        return; /* the task stays assigned; a later leader or the worker's death recovers it */
    rm_put_u32(p, n);
    memcpy(p + 4, recs, (size_t)n * RM_FARM_ASSIGN_REC);
    f->io.send(f->io.ctx, w, RM_FARM_ASSIGN, p, len);
    free(p);
}

/* Buffers ASSIGN records per call and flushes them in batches. */
struct recbuf {
    unsigned char r[RM_TT_MAX_BATCH * RM_FARM_ASSIGN_REC];
    uint32_t n;
};

static void rb_add(struct rm_farm *f, struct recbuf *b, uint32_t w, uint64_t id, uint32_t att)
{
    rm_put_u64(b->r + (size_t)RM_FARM_ASSIGN_REC * b->n, id);
    rm_put_u32(b->r + (size_t)RM_FARM_ASSIGN_REC * b->n + 8, att);
    if (++b->n == RM_TT_MAX_BATCH) {
        send_records(f, w, b->r, b->n);
        b->n = 0;
    }
}

/* Sends every copy in flight on w at its current attempt (after taking office). */
static void resend_inflight(struct rm_farm *f, uint32_t w)
{
    struct recbuf *b = malloc(sizeof *b);
    if (!b)
        return;
    b->n = 0;
    for (uint64_t id = 0; id < f->tt.n; id++) {
        if (f->tt.state[id] != RM_TASK_ASSIGNED)
            continue;
        if (f->tt.owner[id] == w)
            rb_add(f, b, w, id, f->tt.attempt[id]);
        else if (f->tt.backup[id] == w)
            rb_add(f, b, w, id, f->tt.backup_attempt[id]);
    }
    if (b->n)
        send_records(f, w, b->r, b->n);
    f->st.resent++;
    free(b);
}

void farm_propose_deaths(struct rm_farm *f)
{
    for (uint32_t r = 0; r < f->cfg.size; r++) {
        if (!f->dead_pending[r])
            continue;
        size_t len;
        unsigned char *e = rm_tt_encode_dead(r, &len);
        if (e && f->io.propose(f->io.ctx, e, len) == 0)
            f->dead_pending[r] = false;
        free(e);
    }
}

/* The first stage with work left (stages done are skipped); tt.stages when all are done. */
static uint32_t first_open_stage(const struct rm_farm *f)
{
    uint32_t s = 0;
    while (s < f->tt.stages && f->tt.stage_done[s] == stage_count(f, s))
        s++;
    return s;
}

/* Rebuilds the ring from the committed deaths. */
static int rebuild_ring(struct rm_farm *f)
{
    rm_ring_destroy(f->ring);
    f->ring = NULL;
    int rc = rm_ring_create(f->cfg.vnodes, &f->ring);
    uint32_t *ranks = malloc((size_t)f->cfg.size * sizeof *ranks);
    size_t n = 0;
    for (uint32_t r = 0; rc == 0 && ranks && r < f->cfg.size; r++)
        if (!rm_tasktable_is_dead(&f->tt, r))
            ranks[n++] = r;
    if (rc == 0)
        rc = ranks ? rm_ring_add_many(f->ring, ranks, n) : RM_ENOMEM;
    free(ranks);
    return rc;
}

static void fail_job(struct rm_farm *f);
static void finish(struct rm_farm *f);

/* Rebuilds the leader's volatile state from the replicated table. */
static void rebuild(struct rm_farm *f)
{
    uint64_t t = now(f);
    memset(f->reserved, 0, f->tt.n ? f->tt.n : 1);
    memset(f->inflight, 0, (size_t)f->cfg.size * sizeof *f->inflight);
    for (uint32_t r = 0; r < f->cfg.size; r++)
        f->q[r].n = 0;
    for (uint64_t id = 0; id < f->tt.n; id++) {
        if (f->tt.state[id] != RM_TASK_ASSIGNED)
            continue;
        f->t_sent[id] = t;
        if (f->tt.owner[id] < f->cfg.size)
            f->inflight[f->tt.owner[id]]++;
        if (f->tt.backup[id] < f->cfg.size)
            f->inflight[f->tt.backup[id]]++;
    }
    uint32_t s = first_open_stage(f);
    if (s != f->cur_stage) {
        f->cur_stage = s;
        f->n_lat = f->median_at = 0;
        f->median_ns = 0;
    }
    int rc = farm_stage_begin(f);
    if (rc != 0) {
        rm_error("farm: placing tasks: %s", rm_strerror(rc));
        end_job(f, 3);
        return;
    }
    for (uint32_t r = 0; r < f->cfg.size; r++) {
        if (rm_tasktable_is_dead(&f->tt, r))
            continue;
        if (!f->live[r]) /* even with nothing in flight: assignments may not be applied yet */
            f->dead_pending[r] = true;
        else if (f->inflight[r] > 0) /* own copies too: their ASSIGN may have committed unsent */
            resend_inflight(f, r);
    }
    farm_propose_deaths(f);
    farm_refill_all(f);
}

/* Tells every live rank who leads, in which epoch, and that epoch's committed live set. */
static void announce(struct rm_farm *f)
{
    size_t bits = ((size_t)f->cfg.size + 7) / 8, len = 20 + bits;
    unsigned char *p = calloc(1, len);
    if (!p)
        return;
    rm_put_u64(p, f->leader_term);
    rm_put_u64(p + 8, f->tt.epoch);
    rm_put_u32(p + 16, f->cfg.size);
    for (uint32_t r = 0; r < f->cfg.size; r++)
        if (!rm_tasktable_is_dead(&f->tt, r))
            p[20 + r / 8] |= (unsigned char)(1u << (r % 8));
    if (f->io.epoch) /* first: it may set the stamp the announcement goes out with */
        f->io.epoch(f->io.ctx, f->tt.epoch, p + 20);
    f->io.broadcast(f->io.ctx, RM_FARM_LEADER, p, len);
    free(p);
}

static void finish(struct rm_farm *f)
{
    f->finished = true;
    f->st.finished_here = true;
    f->st.seconds = (double)(now(f) - f->t_lead) / 1e9;
    f->st.workers_end = f->nlive - 1;
    f->io.finished(f->io.ctx);
}

static void fail_job(struct rm_farm *f)
{
    char what[256];
    describe(f, f->tt.failed_task, what, sizeof what);
    rm_error("%s failed %u times; the job fails. Last error (rank %u): %s", what,
             f->tt.fails[f->tt.failed_task], f->tt.failed_rank,
             f->tt.failed_error[0] ? f->tt.failed_error : "(none given)");
    f->finished = true;
    rm_farm_end(f, 3);
}

void rm_farm_end(struct rm_farm *f, int status)
{
    unsigned char st[4];
    rm_put_u32(st, (uint32_t)status);
    int rc = f->io.broadcast(f->io.ctx, RM_FARM_SHUTDOWN, st, sizeof st);
    if (rc != 0)
        rm_warn("announcing the end of the job: %s", rm_strerror(rc));
    end_job(f, status);
}

/* ---- leader: completions, failures and stragglers ---------------------------------------------
 */

static void note_latency(struct rm_farm *f, uint64_t id)
{
    if (rm_tasktable_stage(&f->tt, id) != f->cur_stage || f->t_sent[id] == 0)
        return;
    uint64_t us = (now(f) - f->t_sent[id]) / 1000;
    if (grow((void **)&f->lat_us, &f->cap_lat, f->n_lat + 1, sizeof *f->lat_us) == 0)
        f->lat_us[f->n_lat++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

/* Proposes a DONE or FAIL entry (owned: freed here). A worker reports each result once per
 * leader, so an entry the log cannot take now (busy) waits in a queue, retried on every tick;
 * the queue is dropped with the leadership, and the workers re-send to the next leader. */
static void propose_report(struct rm_farm *f, unsigned char *e, size_t len)
{
    if (!e) {
        rm_error("farm: out of memory committing a report; the job cannot finish");
        end_job(f, 3);
        return;
    }
    if (f->n_retry == 0 && f->io.propose(f->io.ctx, e, len) == 0) {
        free(e);
        return;
    }
    if (grow((void **)&f->retry, &f->cap_retry, f->n_retry + 1, sizeof *f->retry) != 0) {
        free(e);
        rm_error("farm: out of memory committing a report; the job cannot finish");
        end_job(f, 3);
        return;
    }
    f->retry[f->n_retry++] = (struct pending){e, len};
}

void farm_retry_reports(struct rm_farm *f)
{
    size_t i = 0;
    while (i < f->n_retry && f->io.propose(f->io.ctx, f->retry[i].e, f->retry[i].len) == 0)
        free(f->retry[i++].e);
    if (i == 0)
        return; /* f->retry may still be NULL */
    memmove(f->retry, f->retry + i, (f->n_retry - i) * sizeof *f->retry);
    f->n_retry -= i;
}

void farm_drop_retries(struct rm_farm *f)
{
    for (size_t i = 0; i < f->n_retry; i++)
        free(f->retry[i].e);
    f->n_retry = 0;
}

/* DONE records from sender (this rank's own, or a message): commit the fresh ones. */
void farm_leader_done(struct rm_farm *f, uint32_t sender, const unsigned char *recs, uint32_t n)
{
    if (!f->leading || f->finished || n == 0)
        return; /* the sender re-sends to whoever leads next */
    uint64_t ids[RM_TT_MAX_BATCH];
    uint32_t att[RM_TT_MAX_BATCH], m = 0, k = f->cfg.copies - 1;
    uint32_t reps[RM_TT_MAX_BATCH * (RM_TT_MAX_COPIES - 1)];
    for (uint32_t i = 0; i < n; i++) {
        const unsigned char *r = recs + f->done_rec * i;
        uint64_t id = rm_get_u64(r);
        uint32_t a = rm_get_u32(r + 8);
        /* Only tasks already done are skipped here. A new leader's table can lag behind the
         * log until its first commit, so "not assigned to the sender" may just mean "not yet
         * applied here"; applying the entry sorts out stale copies deterministically. */
        if (f->tt.initialized && (id >= f->tt.n || f->tt.state[id] == RM_TASK_DONE ||
                                  f->tt.state[id] == RM_TASK_FAILED)) {
            f->st.stale_done++;
            continue;
        }
        if (rm_tasktable_runs(&f->tt, id, sender, a))
            note_latency(f, id);
        for (uint32_t j = 0; j < k; j++)
            reps[(size_t)m * k + j] = rm_get_u32(r + 16 + 4 * (size_t)j);
        ids[m] = id;
        att[m++] = a;
    }
    if (m == 0)
        return;
    size_t len;
    unsigned char *e = k ? rm_tt_encode_done_r(sender, ids, att, reps, k + 1, m, &len)
                         : rm_tt_encode_done(sender, ids, att, m, &len);
    propose_report(f, e, len);
}

/* A FAIL payload (u64 id, u32 attempt, u16 len, text) from sender: commit it. */
void farm_leader_fail(struct rm_farm *f, uint32_t sender, const unsigned char *p, size_t len)
{
    if (!f->leading || f->finished)
        return;
    uint64_t id = rm_get_u64(p);
    uint32_t att = rm_get_u32(p + 8);
    if (f->tt.initialized &&
        (id >= f->tt.n || f->tt.state[id] == RM_TASK_DONE || f->tt.state[id] == RM_TASK_FAILED))
        return; /* as in leader_done, only what is surely over is skipped */
    char err[RM_TT_MAX_ERROR + 1];
    size_t elen = len - 14;
    memcpy(err, p + 14, elen);
    err[elen] = '\0';
    size_t elen2;
    unsigned char *e = rm_tt_encode_fail(sender, id, att, err, &elen2);
    propose_report(f, e, elen2);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* The stage's median latency, recomputed when the sample grew by an eighth. */
static uint64_t median_ns(struct rm_farm *f)
{
    if (f->n_lat == 0)
        return 0;
    if (f->median_ns == 0 || f->n_lat >= f->median_at + f->median_at / 8 + 1) {
        qsort(f->lat_us, f->n_lat, sizeof *f->lat_us, cmp_u32);
        f->median_ns = (uint64_t)f->lat_us[f->n_lat / 2] * 1000 + 1;
        f->median_at = f->n_lat;
    }
    return f->median_ns;
}

/* The holder for a backup of id: another worker among its key's successors with nothing in
 * flight; -1 if none. Only an idle worker: a backup on a busy one would slow down the tasks
 * it already has (on a full machine, the straggler is often just the last of a queue). */
static int backup_holder(struct rm_farm *f, uint64_t id)
{
    uint32_t succ[SUCC];
    int n = rm_ring_successors(f->ring, f->tt.key[id], succ, SUCC);
    for (int i = 0; i < n; i++) {
        uint32_t r = succ[i];
        if (r != f->tt.owner[id] && is_worker(f, r) && f->inflight[r] == 0)
            return (int)r;
    }
    return -1;
}

void farm_check_stragglers(struct rm_farm *f, uint64_t t)
{
    uint32_t s = f->cur_stage;
    if (s >= f->tt.stages ||
        (double)f->tt.stage_done[s] < f->cfg.straggler_after * (double)stage_count(f, s))
        return;
    uint64_t med = median_ns(f);
    if (med == 0)
        return;
    uint64_t limit = (uint64_t)(f->cfg.straggler_factor * (double)med);
    for (uint64_t id = f->tt.stage_first[s]; id < f->tt.stage_first[s + 1]; id++) {
        if (f->tt.state[id] != RM_TASK_ASSIGNED || f->tt.backup[id] != RM_TT_NONE ||
            f->reserved[id] || t - f->t_sent[id] <= limit)
            continue;
        int h = backup_holder(f, id);
        if (h < 0)
            continue;
        size_t len;
        unsigned char *e = rm_tt_encode_backup((uint32_t)h, &id, 1, &len);
        int rc = e ? f->io.propose(f->io.ctx, e, len) : RM_ENOMEM;
        free(e);
        if (rc != 0)
            return;
        f->reserved[id] = RESERVED_BACKUP;
        f->inflight[h]++;
        f->st.backups++;
        char what[256];
        describe(f, id, what, sizeof what);
        rm_info("straggler: %s running on rank %u for %.0f ms (stage median %.0f ms); backup "
                "copy on rank %d",
                what, f->tt.owner[id], (double)(t - f->t_sent[id]) / 1e6, (double)med / 1e6, h);
    }
}

/* ---- replicated state: apply (every Raft member) -----------------------------------------------
 */

static void after_ids(struct rm_farm *f, const unsigned char *p, bool backup)
{
    uint32_t rank = rm_get_u32(p + 1), n = rm_get_u32(p + 5);
    struct recbuf *b = malloc(sizeof *b);
    if (!b)
        return;
    b->n = 0;
    uint64_t t = now(f);
    for (uint32_t i = 0; i < n; i++) {
        uint64_t id = rm_get_u64(p + 9 + 8 * (size_t)i);
        if (id >= f->tt.n)
            continue;
        bool took = f->tt.state[id] == RM_TASK_ASSIGNED &&
                    (backup ? f->tt.backup[id] == rank : f->tt.owner[id] == rank);
        uint8_t want = backup ? RESERVED_BACKUP : RESERVED_ASSIGN;
        if (f->reserved[id] == want && !took && rank < f->cfg.size && f->inflight[rank] > 0)
            f->inflight[rank]--; /* reserved, but the entry did not take */
        if (backup && f->reserved[id] == want && !took && f->tt.state[id] == RM_TASK_PENDING) {
            /* its owner failed meanwhile, and the queue skipped it as reserved */
            int w = place(f, id, RM_TT_NONE);
            if (w >= 0 && q_push(&f->q[w], id) != 0)
                rm_error("farm: out of memory requeueing a task");
        }
        if (f->reserved[id] == want)
            f->reserved[id] = 0;
        if (!took)
            continue;
        if (!backup)
            f->t_sent[id] = t;
        rb_add(f, b, rank, id, backup ? f->tt.backup_attempt[id] : f->tt.attempt[id]);
    }
    if (b->n && rank < f->cfg.size && f->live[rank])
        send_records(f, rank, b->r, b->n);
    free(b);
}

static void drop_copy(struct rm_farm *f, uint32_t r)
{
    if (r < f->cfg.size && f->inflight[r] > 0)
        f->inflight[r]--;
}

/* Before a DONE applies: the copies it ends free their holders' credits. */
static void before_done(struct rm_farm *f, const unsigned char *p, size_t rec)
{
    uint32_t rank = rm_get_u32(p + 1), n = rm_get_u32(p + 5);
    for (uint32_t i = 0; i < n; i++) {
        uint64_t id = rm_get_u64(p + 9 + rec * i);
        if (!rm_tasktable_runs(&f->tt, id, rank, rm_get_u32(p + 9 + rec * i + 8)))
            continue;
        drop_copy(f, f->tt.owner[id]);
        if (f->tt.backup[id] != RM_TT_NONE)
            drop_copy(f, f->tt.backup[id]);
    }
}

static void advance_stage(struct rm_farm *f)
{
    uint32_t s = first_open_stage(f);
    if (s == f->cur_stage || s >= f->tt.stages)
        return;
    rm_info("stage %u done; stage %u starts (%llu tasks)", f->cur_stage, s,
            (unsigned long long)stage_count(f, s));
    f->cur_stage = s;
    f->n_lat = f->median_at = 0;
    f->median_ns = 0;
    int rc = farm_stage_begin(f);
    if (rc != 0) {
        rm_error("farm: placing tasks: %s", rm_strerror(rc));
        end_job(f, 3);
        return;
    }
    farm_checkpoint_start(f, false); /* every stage but the last ends with a checkpoint */
}

static int size_state(struct rm_farm *f)
{
    if (f->reserved || !f->tt.initialized)
        return 0;
    size_t n = f->tt.n ? (size_t)f->tt.n : 1;
    f->reserved = calloc(n, 1);
    f->t_sent = calloc(n, sizeof *f->t_sent);
    if (!f->reserved || !f->t_sent)
        return RM_ENOMEM;
    if (f->io.keys && f->tt.n)
        f->io.keys(f->io.ctx, 0, f->tt.n, f->tt.key);
    return 0;
}

void rm_farm_apply(struct rm_farm *f, const void *entry, size_t len, uint64_t index)
{
    const unsigned char *p = entry;
    bool lead = f->leading && !f->finished && !f->ended;
    uint32_t fail_rank = RM_TT_NONE;
    uint64_t fail_id = 0;
    size_t rec = len >= 1 && p[0] == RM_TT_DONE_R ? 12 + 4 * (size_t)(f->tt.copies - 1) : 12;
    if (lead && len >= 9 && (p[0] == RM_TT_DONE || p[0] == RM_TT_DONE_R) && f->tt.initialized &&
        len == 9 + (size_t)rm_get_u32(p + 5) * rec)
        before_done(f, p, rec);
    if (lead && len >= 19 && p[0] == RM_TT_FAIL) {
        fail_id = rm_get_u64(p + 5);
        if (rm_tasktable_runs(&f->tt, fail_id, rm_get_u32(p + 1), rm_get_u32(p + 13)))
            fail_rank = rm_get_u32(p + 1);
    }
    bool had_state = len >= 5 && p[0] == RM_TT_STATE && f->tt.initialized &&
                     rm_tasktable_has_state(&f->tt, rm_get_u32(p + 1));
    uint64_t resched = f->tt.rescheduled;
    int rc = rm_tasktable_apply(&f->tt, entry, len);
    if (rc != 0) {
        rm_error("task table: entry %llu: %s", (unsigned long long)index, rm_strerror(rc));
        return;
    }
    if (size_state(f) != 0) {
        rm_error("task table: out of memory");
        end_job(f, 3);
        return;
    }
    if (len >= 5 && p[0] == RM_TT_DEAD) {
        uint32_t r = rm_get_u32(p + 1);
        if (r < f->cfg.size && f->live[r]) {
            f->live[r] = false;
            f->nlive--;
        }
    }
    if (!lead)
        return;
    switch (p[0]) {
    case RM_TT_INIT:
        if (rebuild_ring(f) != 0) {
            rm_error("farm: building the ring: out of memory");
            end_job(f, 3);
            return;
        }
        rebuild(f);
        break;
    case RM_TT_ASSIGN:
        after_ids(f, p, false);
        break;
    case RM_TT_BACKUP:
        after_ids(f, p, true);
        break;
    case RM_TT_DONE:
    case RM_TT_DONE_R:
        advance_stage(f);
        farm_refill_all(f);
        break;
    case RM_TT_FAIL:
        if (fail_rank != RM_TT_NONE) {
            drop_copy(f, fail_rank);
            if (f->tt.state[fail_id] == RM_TASK_PENDING) {
                int w = place(f, fail_id, fail_rank);
                if (w >= 0 && q_push(&f->q[w], fail_id) != 0)
                    rm_error("farm: out of memory requeueing a task");
            }
        }
        if (f->tt.job_failed) {
            fail_job(f);
            return;
        }
        farm_refill_all(f);
        break;
    case RM_TT_DEAD: {
        uint32_t r = rm_get_u32(p + 1);
        if (rm_ring_contains(f->ring, r) && rm_ring_remove(f->ring, r) != 0)
            rm_warn("farm: removing rank %u from the ring failed", r);
        rm_warn("rank %u is dead (epoch %llu): %llu unfinished tasks rescheduled on their new "
                "ring owners",
                r, (unsigned long long)f->tt.epoch,
                (unsigned long long)(f->tt.rescheduled - resched));
        announce(f);
        rebuild(f);
        break;
    }
    case RM_TT_STATE:
        if (!had_state)
            farm_state_committed(f, rm_get_u32(p + 1));
        break;
    default:
        break;
    }
    if (f->tt.initialized && f->tt.done == f->tt.n && !f->finished && !f->ended)
        finish(f);
}

int rm_farm_snapshot(struct rm_farm *f, unsigned char **data, size_t *len)
{
    return rm_tasktable_encode(&f->tt, data, len);
}

int rm_farm_restore(struct rm_farm *f, const void *data, size_t len)
{
    int rc = rm_tasktable_decode(&f->tt, data, len);
    if (rc == 0 && f->tt.initialized && f->tt.n != f->cfg.tasks)
        rc = RM_EPROTO; /* every rank derived the same job */
    if (rc != 0)
        return rc;
    for (uint64_t i = 0; i < f->tt.epoch; i++) {
        uint32_t r = f->tt.dead[i];
        if (r < f->cfg.size && f->live[r]) {
            f->live[r] = false;
            f->nlive--;
        }
    }
    rc = size_state(f);
    if (rc == 0 && f->io.keys && f->tt.n) /* decode dropped the keys */
        f->io.keys(f->io.ctx, 0, f->tt.n, f->tt.key);
    return rc;
}

/* ---- leadership ---------------------------------------------------------------------------- */

void rm_farm_leader(struct rm_farm *f, int leader, uint64_t term, bool self)
{
    if (leader >= 0)
        f->st.leader_changes++;
    f->st.term = term;
    bool was = f->leading;
    f->leading = self;
    if (!self && was) { /* deposed: forget the volatile state; the next leader rebuilds */
        f->finished = false;
        f->state_gen++; /* a shared state being computed is no longer awaited */
        f->ckpt_active = false;
        f->init_proposed = false;
        farm_drop_retries(f);
    }
    if (leader >= 0 && !self) {
        farm_adopt_leader(f, leader, term);
    } else if (leader < 0 && f->leader >= 0) { /* an election is on */
        f->leader = -1;
        f->leaderless_since = now(f);
    }
    if (!self || was)
        return;
    f->t_lead = now(f);
    f->leader = (int)f->cfg.rank;
    f->leader_term = term;
    f->leaderless_since = 0;
    announce(f);
    if (!f->tt.initialized) {
        if (!f->init_proposed) {
            size_t len;
            unsigned char *e = rm_tt_encode_init_resume(
                f->cfg.tasks, f->cfg.max_attempts, f->cfg.stages, f->stage_tasks,
                f->cfg.held_outputs ? RM_TT_HELD_OUTPUTS : 0, f->cfg.copies, f->cfg.reused_ids,
                f->cfg.reused_by, f->cfg.reused, &len);
            f->init_proposed = e && f->io.propose(f->io.ctx, e, len) == 0;
            free(e);
        }
    } else if (f->tt.job_failed) {
        fail_job(f);
        return;
    } else {
        if (rebuild_ring(f) != 0) {
            rm_error("farm: building the ring: out of memory");
            end_job(f, 3);
            return;
        }
        rebuild(f);
        if (f->tt.done == f->tt.n && !f->ended)
            finish(f);
        else if (f->stop_requested)
            farm_checkpoint_start(f, true);
    }
    f->leader = -1; /* replays this rank's own reports to itself */
    farm_adopt_leader(f, (int)f->cfg.rank, term);
}
