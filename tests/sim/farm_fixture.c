/* farm_fixture.c: see farm_fixture.h. */
#include "tests/sim/farm_fixture.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringmaster.h"
#include "runtime/frame.h"
#include "runtime/log.h"
#include "scheduler/ring.h"
#include "scheduler/tasktable.h"

#define NS_PER_MS 1000000ull
#define REPORT_MS 5u /* farmnode.c's worker reports completions at least this often */

struct msg {
    uint32_t from, to, type;
    uint64_t term, epoch;
    size_t len;
    unsigned char p[];
};

enum ev_kind {
    EV_MSG,      /* m arrives */
    EV_DETECT,   /* rank a's detector finds rank b dead */
    EV_VOTE,     /* member a takes part in the election of term x */
    EV_ELECT,    /* the election of term x ends */
    EV_NOTIFY,   /* member a hears that b leads term x */
    EV_UNSTALE,  /* deposed leader a learns it */
    EV_KILL,     /* rank a (FF_NONE: a random one) dies */
    EV_STEPDOWN, /* the leader steps down */
    EV_FINISH,   /* rank a has written the output: rm_farm_end */
    EV_WORK,     /* rank a's worker finishes its current task */
    EV_RECRUIT,  /* the leader replaces dead voter a */
    EV_FIRST,    /* leader a of term x commits for the first time */
    EV_STATE,    /* leader a has computed stage b's shared state, for request x */
    EV_COPY,     /* holder a has copied task x's output to rank b (if b lives) */
};

struct ff_ev {
    uint64_t t, seq;
    enum ev_kind kind;
    uint32_t a, b;
    uint64_t x;
    struct msg *m;
};

/* ---- plumbing ------------------------------------------------------------------------------- */

void ff_grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return;
    size_t c = *cap ? *cap * 2 : 16;
    while (c < need)
        c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q) {
        fprintf(stderr, "sim_farm: out of memory\n");
        abort();
    }
    *p = q;
    *cap = c;
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "sim_farm: out of memory\n");
        abort();
    }
    return p;
}

void ff_init(struct ff *s, uint64_t seed, bool verbose)
{
    memset(s, 0, sizeof *s);
    s->seed = seed;
    s->rng = seed;
    s->verbose = verbose;
    s->leader = -1;
    s->ceiling = SIZE_MAX;
}

uint64_t ff_range(struct ff *s, uint64_t lo, uint64_t hi)
{
    uint64_t z = (s->rng += 0x9E3779B97F4A7C15ull); /* splitmix64 */
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return lo + (z ^ (z >> 31)) % (hi - lo + 1);
}

bool ff_chance(struct ff *s, uint32_t permille)
{
    return ff_range(s, 0, 999) < permille;
}

void ff_fail(struct ff *s, const char *fmt, ...)
{
    if (s->failed)
        return;
    s->failed = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->err, sizeof s->err, fmt, ap);
    va_end(ap);
}

static void trace(struct ff *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void trace(struct ff *s, const char *fmt, ...)
{
    if (!s->verbose)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "[%7" PRIu64 " ms] ", s->now - FF_START_MS);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* The farm's own log lines name the simulated rank they come from. */
static void use(const struct ff_node *nd)
{
    rm_log_init((int)nd->rank, nd->s->verbose ? RM_LOG_WARN : RM_LOG_ERROR);
}

static bool running(const struct ff_node *nd)
{
    return nd->alive && !nd->ended;
}

/* ---- events: a binary heap by (time, sequence) ---------------------------------------------- */

static bool ev_less(const struct ff_ev *x, const struct ff_ev *y)
{
    return x->t < y->t || (x->t == y->t && x->seq < y->seq);
}

static void push(struct ff *s, uint64_t t, enum ev_kind kind, uint32_t a, uint32_t b, uint64_t x,
                 struct msg *m)
{
    ff_grow((void **)&s->heap, &s->cap_ev, s->n_ev + 1, sizeof *s->heap);
    struct ff_ev e = {.t = t, .seq = s->seq++, .kind = kind, .a = a, .b = b, .x = x, .m = m};
    size_t i = s->n_ev++;
    while (i > 0 && ev_less(&e, &s->heap[(i - 1) / 2])) {
        s->heap[i] = s->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    s->heap[i] = e;
}

/* Puts e at slot i or below, where it belongs. */
static void sift_down(struct ff *s, size_t i, struct ff_ev e)
{
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= s->n_ev)
            break;
        if (c + 1 < s->n_ev && ev_less(&s->heap[c + 1], &s->heap[c]))
            c++;
        if (!ev_less(&s->heap[c], &e))
            break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    s->heap[i] = e;
}

static bool pop_due(struct ff *s, struct ff_ev *out)
{
    if (s->n_ev == 0 || s->heap[0].t > s->now)
        return false;
    *out = s->heap[0];
    s->n_ev--;
    if (s->n_ev)
        sift_down(s, 0, s->heap[s->n_ev]);
    return true;
}

/* The frames rank v still has on the wire arrive `delay` later, in their order. */
static void hold_frames(struct ff *s, uint32_t v, uint64_t delay)
{
    for (size_t i = 0; i < s->n_ev; i++)
        if (s->heap[i].kind == EV_MSG && s->heap[i].m->from == v)
            s->heap[i].t += delay;
    for (size_t i = s->n_ev / 2; i-- > 0;)
        sift_down(s, i, s->heap[i]);
    for (uint32_t r = 0; r < s->p.n; r++)
        if (s->fifo[v * FF_MAX_RANKS + r] > s->now)
            s->fifo[v * FF_MAX_RANKS + r] += delay;
}

/* ---- the farm's seams (as farmnode.c fills them) -------------------------------------------- */

static uint64_t io_now(void *ctx)
{
    const struct ff_node *nd = ctx;
    return nd->s->now * NS_PER_MS;
}

static int io_propose(void *ctx, const void *entry, size_t len)
{
    struct ff_node *nd = ctx;
    struct ff *s = nd->s;
    if (s->leader != (int)nd->rank)
        return nd->stale ? 0 : RM_EBUSY; /* a deposed leader's log is overwritten later */
    const unsigned char *p = entry;
    if (p[0] != RM_TT_INIT && ff_chance(s, s->p.busy_permille)) /* INIT is always queued */
        return RM_EBUSY;
    uint64_t due = s->now > nd->hold_until ? s->now : nd->hold_until;
    if (s->n_pend && s->pend[s->n_pend - 1].due > due)
        due = s->pend[s->n_pend - 1].due;
    ff_grow((void **)&s->pend, &s->cap_pend, s->n_pend + 1, sizeof *s->pend);
    struct ff_entry *e = &s->pend[s->n_pend++];
    e->p = xmalloc(len);
    memcpy(e->p, entry, len);
    e->len = len;
    e->due = due + ff_range(s, 1, s->p.commit_ms);
    e->t = 0;
    return 0;
}

static int post(struct ff_node *nd, uint32_t to, uint32_t type, const void *payload, size_t len)
{
    struct ff *s = nd->s;
    if (to >= s->p.n || to == nd->rank)
        return RM_EINVAL;
    if (nd->dead_seen[to])
        return RM_EDEAD;
    struct msg *m = xmalloc(sizeof *m + len);
    m->from = nd->rank;
    m->to = to;
    m->type = type;
    /* A member stamps its Raft term; a non-member the term of the leader it last heard of. */
    m->term = nd->member ? nd->term : rm_farm_leader_term(nd->f);
    m->epoch = nd->stamp_epoch;
    m->len = len;
    if (len)
        memcpy(m->p, payload, len);
    uint64_t *last = &s->fifo[nd->rank * FF_MAX_RANKS + to];
    uint64_t t = s->now + ff_range(s, 1, s->p.net_ms);
    if (ff_chance(s, s->p.spike_permille))
        t += ff_range(s, 50, 1500);
    *last = t > *last ? t : *last;
    push(s, *last, EV_MSG, 0, 0, 0, m);
    return 0;
}

static int io_send(void *ctx, uint32_t to, uint32_t type, const void *payload, size_t len)
{
    return post(ctx, to, type, payload, len);
}

static int io_broadcast(void *ctx, uint32_t type, const void *payload, size_t len)
{
    struct ff_node *nd = ctx;
    int first = 0;
    for (uint32_t r = 0; r < nd->s->p.n; r++) {
        if (r == nd->rank || nd->dead_seen[r])
            continue;
        int rc = post(nd, r, type, payload, len);
        if (rc != 0 && first == 0)
            first = rc;
    }
    return first;
}

static void worker_next(struct ff_node *nd);

static void io_run(void *ctx, const unsigned char *recs, uint32_t n)
{
    struct ff_node *nd = ctx;
    ff_grow((void **)&nd->wq, &nd->wq_cap, nd->wq_n + n, sizeof *nd->wq);
    for (uint32_t i = 0; i < n; i++) {
        const unsigned char *r = recs + (size_t)RM_FARM_ASSIGN_REC * i;
        nd->wq[nd->wq_n++] = (struct ff_job){rm_get_u64(r), rm_get_u32(r + 8), i + 1 == n};
    }
    worker_next(nd);
}

static void io_epoch(void *ctx, uint64_t epoch, const unsigned char *live)
{
    struct ff_node *nd = ctx;
    (void)live;
    if (epoch > nd->stamp_epoch)
        nd->stamp_epoch = epoch;
}

static void io_finished(void *ctx)
{
    struct ff_node *nd = ctx;
    struct ff *s = nd->s;
    const struct rm_tasktable *tt = rm_farm_table(nd->f);
    if (!tt->initialized || tt->done != s->p.tasks) /* check 4: never early */
        ff_fail(s, "rank %u finished the job with %" PRIu64 " of %" PRIu64 " tasks done", nd->rank,
                tt->done, s->p.tasks);
    trace(s, "rank %u: every task done; writing the output", nd->rank);
    uint64_t at = s->now + ff_range(s, 0, s->p.finish_ms);
    push(s, at, EV_FINISH, nd->rank, 0, 0, NULL);
    if (ff_chance(s, 250)) /* dies while writing the output: the next leader must finish */
        push(s, s->now + ff_range(s, 0, at - s->now), EV_KILL, nd->rank, 0, 0, NULL);
}

static void io_ended(void *ctx, int status)
{
    struct ff_node *nd = ctx;
    if (nd->ended)
        ff_fail(nd->s, "rank %u: the job ended twice", nd->rank);
    nd->ended = true;
    nd->status = status;
    trace(nd->s, "rank %u: the job ended with status %d", nd->rank, status);
}

static void io_keys(void *ctx, uint64_t first, uint64_t n, uint64_t *hashes)
{
    (void)ctx;
    for (uint64_t i = 0; i < n; i++) {
        unsigned char b[8];
        rm_put_u64(b, first + i);
        hashes[i] = rm_ring_hash(b, sizeof b);
    }
}

/* The shared state of stage st, as the kernel would compute it from the earlier outputs. */
static void stage_state_bytes(uint32_t st, unsigned char b[8])
{
    rm_put_u64(b, 0x9E3779B97F4A7C15ull * (st + 1));
}

static void io_need_state(void *ctx, uint32_t stage, uint64_t gen)
{
    struct ff_node *nd = ctx;
    struct ff *s = nd->s;
    if (stage == 0 || stage >= s->p.stages)
        ff_fail(s, "rank %u asked for the state of stage %u", nd->rank, stage);
    push(s, s->now + ff_range(s, 1, 40), EV_STATE, nd->rank, stage, gen, NULL);
}

static void io_state(void *ctx, uint32_t stage, const void *data, size_t len)
{
    struct ff_node *nd = ctx;
    unsigned char want[8];
    stage_state_bytes(stage, want);
    if (stage == 0 || stage >= nd->s->p.stages || len != 8 || memcmp(data, want, 8) != 0)
        ff_fail(nd->s, "rank %u got a wrong shared state for stage %u (%zu bytes)", nd->rank, stage,
                len);
    else
        nd->got_state[stage] = true;
}

static void state_computed(struct ff *s, struct ff_node *nd, uint32_t stage, uint64_t gen)
{
    if (!running(nd))
        return;
    unsigned char b[8];
    stage_state_bytes(stage, b);
    int rc = ff_chance(s, 100) ? RM_EDEAD : 0;
    use(nd);
    rm_farm_state(nd->f, stage, gen, rc, b, sizeof b);
}

static void io_replicate(void *ctx, uint64_t id, uint32_t target)
{
    struct ff_node *nd = ctx;
    struct ff *s = nd->s;
    push(s, s->now + ff_range(s, 1, 30), EV_COPY, nd->rank, target, id, NULL);
}

static void copied(struct ff *s, struct ff_node *nd, uint32_t target, uint64_t id)
{
    if (!running(nd))
        return;
    use(nd);
    rm_farm_replicated(nd->f, id, target, target < s->p.n && s->nodes[target].alive);
}

static uint32_t stage_of(const struct ff_params *p, uint64_t id)
{
    uint32_t st = 0;
    for (uint64_t first = 0; st + 1 < p->stages && id >= first + p->stage_tasks[st]; st++)
        first += p->stage_tasks[st];
    return st;
}

/* ---- workers -------------------------------------------------------------------------------- */

static void record_exec(struct ff *s, uint64_t id, struct ff_exec e)
{
    if (id >= s->p.tasks) {
        ff_fail(s, "rank %u ran task %" PRIu64 ", which does not exist", e.rank, id);
        return;
    }
    struct ff_execs *x = &s->ex[id];
    ff_grow((void **)&x->v, &x->cap, x->n + 1, sizeof *x->v);
    x->v[x->n++] = e;
    s->st.executions++;
}

static void worker_next(struct ff_node *nd)
{
    struct ff *s = nd->s;
    if (nd->busy || nd->wq_head == nd->wq_n || !running(nd))
        return;
    nd->cur = nd->wq[nd->wq_head++];
    if (nd->wq_head == nd->wq_n)
        nd->wq_head = nd->wq_n = 0;
    nd->busy = true;
    nd->cur_start = s->now;
    uint32_t st = stage_of(&s->p, nd->cur.id);
    if (s->p.state && st > 0 && !nd->got_state[st])
        ff_fail(s,
                "rank %u started task %" PRIu64 " of stage %u before the stage's state reached it",
                nd->rank, nd->cur.id, st);
    push(s, s->now + ff_range(s, 1, s->p.work_max) * nd->speed, EV_WORK, nd->rank, 0, 0, NULL);
}

static void flush_done(struct ff_node *nd)
{
    if (nd->n_done == 0)
        return;
    use(nd);
    int rc = rm_farm_completed(nd->f, nd->done, nd->n_done);
    if (rc != 0)
        ff_fail(nd->s, "rank %u: rm_farm_completed: %s", nd->rank, rm_strerror(rc));
    nd->n_done = 0;
}

static void work_done(struct ff *s, struct ff_node *nd)
{
    if (!running(nd))
        return;
    struct ff_job j = nd->cur;
    bool ok = !ff_chance(s, s->p.fail_permille) && !(s->p.must_fail && j.id == s->p.doomed);
    record_exec(s, j.id, (struct ff_exec){nd->rank, j.att, nd->cur_start, s->now, ok});
    s->st.by_leader += s->leader == (int)nd->rank;
    nd->busy = false;
    if (!ok) {
        use(nd);
        int rc = rm_farm_task_failed(nd->f, j.id, j.att, "simulated failure");
        if (rc != 0)
            ff_fail(s, "rank %u: rm_farm_task_failed: %s", nd->rank, rm_strerror(rc));
    } else {
        uint32_t copies = s->p.copies ? s->p.copies : 1;
        unsigned char *d = nd->done + rm_farm_done_rec(copies) * nd->n_done++;
        rm_put_u64(d, j.id);
        rm_put_u32(d + 8, j.att);
        rm_put_u32(d + 12, (uint32_t)((s->now - nd->cur_start) * 1000));
        for (uint32_t c = 1, r = nd->rank; c < copies; c++) { /* replicas, as farmnode names */
            do
                r = (r + 1) % s->p.n;
            while (r != nd->rank && nd->dead_seen[r]);
            rm_put_u32(d + RM_FARM_DONE_REC + 4 * (size_t)(c - 1), r == nd->rank ? RM_TT_NONE : r);
        }
        if (nd->n_done == 1)
            nd->oldest = nd->cur_start;
        if (s->now - nd->oldest >= REPORT_MS)
            flush_done(nd);
    }
    if (j.last)
        flush_done(nd);
    worker_next(nd);
}

/* ---- the Raft model ------------------------------------------------------------------------- */

static void commit(struct ff *s, struct ff_entry e)
{
    ff_grow((void **)&s->log, &s->cap_log, s->n_log + 1, sizeof *s->log);
    e.t = s->now;
    s->log[s->n_log++] = e;
}

static void commit_due(struct ff *s)
{
    size_t k = 0;
    while (k < s->n_pend && s->pend[k].due <= s->now)
        commit(s, s->pend[k++]);
    if (k == 0)
        return;
    memmove(s->pend, s->pend + k, (s->n_pend - k) * sizeof *s->pend);
    s->n_pend -= k;
}

static void apply_one(struct ff_node *nd)
{
    const struct ff_entry *e = &nd->s->log[nd->applied++];
    use(nd);
    rm_farm_apply(nd->f, e->p, e->len, nd->applied);
    uint64_t epoch = rm_farm_table(nd->f)->epoch;
    if (epoch > nd->stamp_epoch)
        nd->stamp_epoch = epoch;
}

void ff_catch_up(struct ff_node *nd)
{
    while (nd->applied < nd->s->n_log)
        apply_one(nd);
}

/* Member nd replaces its table with leader l's, as raftnode.c does for a member behind the
 * leader's compacted log. */
static void install_snapshot(struct ff *s, struct ff_node *nd, struct ff_node *l)
{
    unsigned char *data = NULL;
    size_t len = 0;
    use(l);
    int rc = rm_farm_snapshot(l->f, &data, &len);
    use(nd);
    if (rc == 0)
        rc = rm_farm_restore(nd->f, data, len);
    free(data);
    if (rc != 0)
        ff_fail(s, "rank %u: installing the snapshot of rank %u: %s", nd->rank, l->rank,
                rm_strerror(rc));
    nd->applied = l->applied;
    nd->stamp_epoch = rm_farm_table(nd->f)->epoch; /* as farmnode.c's restore_table */
    s->st.snapshots++;
}

static void apply_due(struct ff *s)
{
    struct ff_node *l = s->leader >= 0 ? &s->nodes[s->leader] : NULL;
    for (uint32_t r = 0; r < s->p.n; r++) {
        struct ff_node *nd = &s->nodes[r];
        if (!nd->member || s->now < nd->hold_until)
            continue;
        if (l && l != nd && running(nd) && !nd->stale && l->applied > nd->applied &&
            ff_chance(s, s->p.snap_permille))
            install_snapshot(s, nd, l);
        uint32_t lag = s->leader == (int)r ? 0 : nd->lag;
        while (running(nd) && nd->applied < s->n_log && nd->applied < nd->apply_max &&
               nd->applied < s->ceiling && s->log[nd->applied].t + lag <= s->now)
            apply_one(nd);
    }
}

/* The leader died or stepped down: a prefix of its pending proposals commits, the rest is lost;
 * an election ends after `delay`, and some members hear of it before then. With lagging
 * leaders, the members learn of the commits since the leader's last heartbeat, and of that
 * prefix, only from the next leader's first commit. */
static void lose_leader(struct ff *s, uint64_t delay)
{
    uint32_t old = (uint32_t)s->leader;
    if (s->p.lagging) {
        uint64_t beat = ff_range(s, 0, 30);
        size_t known = s->n_log;
        while (known > 0 && s->log[known - 1].t + beat > s->now)
            known--;
        s->ceiling = known < s->ceiling ? known : s->ceiling;
    }
    size_t k = (size_t)ff_range(s, 0, s->n_pend);
    for (size_t i = 0; i < s->n_pend; i++) {
        if (i < k)
            commit(s, s->pend[i]);
        else
            free(s->pend[i].p);
    }
    trace(s, "leader %u gone: %zu of its %zu pending entries commit", old, k, s->n_pend);
    s->n_pend = 0;
    s->leader = -1;
    s->next_term = s->term + 1 + ff_chance(s, 250);
    uint64_t at = s->now + delay;
    push(s, at, EV_ELECT, 0, 0, s->next_term, NULL);
    for (uint32_t r = 0; r < s->p.n; r++)
        if (r != old && s->nodes[r].member && running(&s->nodes[r]) && ff_chance(s, 500))
            push(s, ff_range(s, s->now, at), EV_VOTE, r, 0, s->next_term, NULL);
}

/* A deposed leader learns that it is: of the new leader if there is one. */
static void unstale(struct ff *s, struct ff_node *nd)
{
    nd->stale = false;
    nd->apply_max = SIZE_MAX;
    use(nd);
    if (s->leader >= 0) {
        if (nd->term < s->term)
            nd->term = s->term;
        rm_farm_leader(nd->f, s->leader, s->term, false);
    } else {
        rm_farm_leader(nd->f, -1, nd->term, false);
    }
}

static void vote(struct ff *s, struct ff_node *nd, uint64_t term)
{
    if (!running(nd) || s->leader >= 0 || s->next_term != term)
        return;
    nd->stale = false;
    nd->apply_max = SIZE_MAX;
    if (nd->term < term)
        nd->term = term;
    use(nd);
    rm_farm_leader(nd->f, -1, term, false);
}

static void elect(struct ff *s, uint64_t term)
{
    uint32_t cand[FF_MAX_RANKS], n = 0;
    if (s->leader >= 0 || s->next_term != term)
        return;
    for (uint32_t r = 0; r < s->p.n; r++)
        if (s->nodes[r].member && running(&s->nodes[r]))
            cand[n++] = r;
    if (n == 0)
        return; /* every member has ended: the job is over */
    struct ff_node *c = &s->nodes[cand[ff_range(s, 0, n - 1)]];
    if (c->stale)
        unstale(s, c);
    if (s->p.lagging) {
        c->hold_until = s->now + ff_range(s, 1, 30);
        push(s, c->hold_until, EV_FIRST, c->rank, 0, term, NULL);
    } else {
        c->apply_max = SIZE_MAX;
        ff_catch_up(c);
    }
    s->leader = (int)c->rank;
    s->term = term;
    c->term = term;
    s->st.elections++;
    trace(s, "rank %u leads term %" PRIu64 " (applied %zu of %zu entries)", c->rank, term,
          c->applied, s->n_log);
    use(c);
    rm_farm_leader(c->f, (int)c->rank, term, true);
    for (uint32_t r = 0; r < s->p.n; r++)
        if (r != c->rank && s->nodes[r].member && running(&s->nodes[r]))
            push(s, s->now + ff_range(s, 0, 30), EV_NOTIFY, r, c->rank, term, NULL);
}

static void notify(struct ff *s, struct ff_node *nd, uint32_t leader, uint64_t term)
{
    if (!running(nd) || s->leader != (int)leader || s->term != term)
        return;
    nd->stale = false;
    nd->apply_max = SIZE_MAX;
    if (nd->term < term)
        nd->term = term;
    use(nd);
    rm_farm_leader(nd->f, (int)leader, term, false);
}

static void step_down(struct ff *s)
{
    if (s->leader < 0 || !running(&s->nodes[s->leader]))
        return;
    struct ff_node *old = &s->nodes[s->leader];
    size_t known = s->n_log;
    s->st.stepdowns++;
    lose_leader(s, ff_range(s, 30, 400));
    if (ff_chance(s, 500)) {
        trace(s, "rank %u steps down", old->rank);
        use(old);
        rm_farm_leader(old->f, -1, old->term, false);
        return;
    }
    trace(s, "rank %u is deposed but does not know it yet", old->rank);
    old->stale = true;
    old->apply_max = known;
    push(s, s->now + ff_range(s, 1, 300), EV_UNSTALE, old->rank, 0, 0, NULL);
}

/* ---- kills, detection and recruitment ------------------------------------------------------- */

/* A kill must leave a majority of the Raft group and min_alive ranks alive. */
static bool can_kill(const struct ff *s, uint32_t v)
{
    uint32_t alive = 0, members = 0, members_alive = 0;
    if (!s->nodes[v].alive)
        return false;
    for (uint32_t r = 0; r < s->p.n; r++) {
        alive += s->nodes[r].alive;
        members += s->nodes[r].member;
        members_alive += s->nodes[r].member && s->nodes[r].alive;
    }
    if (alive - 1 < s->p.min_alive)
        return false;
    return !s->nodes[v].member || 2 * (members_alive - 1) > members;
}

static void kill_rank(struct ff *s, uint32_t v)
{
    struct ff_node *nd = &s->nodes[v];
    nd->alive = false;
    s->st.kills++;
    trace(s, "rank %u killed%s", v, s->leader == (int)v ? " (the leader)" : "");
    if (ff_chance(s, 500)) /* its last reports arrive after its death is committed */
        hold_frames(s, v, ff_range(s, 300, 1500));
    for (uint32_t r = 0; r < s->p.n; r++)
        if (s->nodes[r].alive)
            push(s, s->now + ff_range(s, 300, 800), EV_DETECT, r, v, 0, NULL);
    if (s->leader == (int)v)
        lose_leader(s, ff_range(s, 100, 600));
    if (nd->member && s->p.recruit)
        push(s, s->now + ff_range(s, 800, 1500), EV_RECRUIT, v, 0, 0, NULL);
}

static void random_kill(struct ff *s, uint32_t target)
{
    uint32_t cand[FF_MAX_RANKS], n = 0;
    if (s->st.kills >= s->p.max_kills)
        return;
    if (target != FF_NONE) {
        if (can_kill(s, target))
            kill_rank(s, target);
        return;
    }
    if (s->leader >= 0 && can_kill(s, (uint32_t)s->leader) && ff_chance(s, 300)) {
        kill_rank(s, (uint32_t)s->leader);
        return;
    }
    for (uint32_t r = 0; r < s->p.n; r++)
        if (can_kill(s, r))
            cand[n++] = r;
    if (n)
        kill_rank(s, cand[ff_range(s, 0, n - 1)]);
}

static void detect(struct ff *s, uint32_t r, uint32_t v)
{
    struct ff_node *nd = &s->nodes[r];
    if (!running(nd))
        return;
    nd->dead_seen[v] = true;
    use(nd);
    rm_farm_death(nd->f, v);
}

/* The new member catches up from the leader's snapshot or by replaying the whole log. */
static void join(struct ff *s, struct ff_node *nd, struct ff_node *l)
{
    nd->member = true;
    nd->term = s->term;
    nd->apply_max = SIZE_MAX;
    nd->applied = 0;
    if (l->applied > 0 && ff_chance(s, 500)) {
        install_snapshot(s, nd, l);
        s->st.recruit_snaps++;
    }
    s->st.recruits++;
    trace(s, "rank %u joins the Raft group (%s)", nd->rank,
          nd->applied ? "snapshot" : "replays the log");
    use(nd);
    rm_farm_leader(nd->f, s->leader, s->term, false);
}

/* As raftnode.c: once the leader sees voter v dead, it removes v and adds the lowest live
 * rank outside the group. */
static void recruit(struct ff *s, uint32_t v)
{
    struct ff_node *l = s->leader >= 0 ? &s->nodes[s->leader] : NULL;
    if (!s->nodes[v].member || (l && !running(l)))
        return;
    if (!l || !l->dead_seen[v]) {
        push(s, s->now + 100, EV_RECRUIT, v, 0, 0, NULL);
        return;
    }
    s->nodes[v].member = false;
    for (uint32_t r = 0; r < s->p.n; r++) {
        struct ff_node *nd = &s->nodes[r];
        if (!nd->member && running(nd) && !l->dead_seen[r]) {
            join(s, nd, l);
            return;
        }
    }
}

/* ---- the run -------------------------------------------------------------------------------- */

static void deliver(struct ff *s, struct msg *m)
{
    struct ff_node *nd = &s->nodes[m->to];
    if (running(nd)) {
        use(nd);
        if (rm_farm_message(nd->f, m->type, m->from, m->term, m->epoch, m->p, m->len) != 0)
            s->st.stale_msgs++;
    }
    free(m);
}

static void handle(struct ff *s, const struct ff_ev *e)
{
    struct ff_node *nd = &s->nodes[e->a < s->p.n ? e->a : 0];
    switch (e->kind) {
    case EV_MSG:
        deliver(s, e->m);
        break;
    case EV_DETECT:
        detect(s, e->a, e->b);
        break;
    case EV_VOTE:
        vote(s, nd, e->x);
        break;
    case EV_ELECT:
        elect(s, e->x);
        break;
    case EV_NOTIFY:
        notify(s, nd, e->b, e->x);
        break;
    case EV_UNSTALE:
        if (nd->stale && running(nd))
            unstale(s, nd);
        break;
    case EV_KILL:
        random_kill(s, e->a);
        break;
    case EV_STEPDOWN:
        step_down(s);
        break;
    case EV_FINISH:
        if (running(nd)) {
            use(nd);
            rm_farm_end(nd->f, 0);
        }
        break;
    case EV_WORK:
        work_done(s, nd);
        break;
    case EV_RECRUIT:
        recruit(s, e->a);
        break;
    case EV_FIRST:
        if (s->leader == (int)e->a && s->term == e->x)
            s->ceiling = SIZE_MAX;
        break;
    case EV_STATE:
        state_computed(s, nd, e->b, e->x);
        break;
    case EV_COPY:
        copied(s, nd, e->b, e->x);
        break;
    }
}

static bool all_ended(const struct ff *s)
{
    for (uint32_t r = 0; r < s->p.n; r++)
        if (running(&s->nodes[r]))
            return false;
    return true;
}

int ff_start(struct ff *s)
{
    const struct ff_params *p = &s->p;
    struct rm_farm_config cfg = {.size = p->n,
                                 .tasks = p->tasks,
                                 .stages = p->stages,
                                 .stage_tasks = p->stage_tasks,
                                 .max_attempts = p->max_attempts,
                                 .batch = p->batch,
                                 .credits = p->credits,
                                 .vnodes = p->vnodes,
                                 .speculation = p->speculation,
                                 .held_outputs = p->held,
                                 .copies = p->copies,
                                 .stage_state = p->state,
                                 .bounded_load = p->bounded};
    struct rm_farm_io io = {.now = io_now,
                            .propose = io_propose,
                            .send = io_send,
                            .broadcast = io_broadcast,
                            .run = io_run,
                            .epoch = io_epoch,
                            .finished = io_finished,
                            .ended = io_ended,
                            .keys = io_keys,
                            .need_state = p->state ? io_need_state : NULL,
                            .state = p->state ? io_state : NULL,
                            .replicate = io_replicate};
    s->ex = calloc(p->tasks ? p->tasks : 1, sizeof *s->ex);
    if (!s->ex)
        return RM_ENOMEM;
    for (uint32_t r = 0; r < p->n; r++) {
        struct ff_node *nd = &s->nodes[r];
        *nd = (struct ff_node){.s = s,
                               .rank = r,
                               .alive = true,
                               .member = r < p->voters,
                               .apply_max = SIZE_MAX,
                               .lag = (uint32_t)ff_range(s, 0, 10),
                               .speed = r == p->slow ? p->slow_factor : 1};
        nd->done = xmalloc((size_t)RM_TT_MAX_BATCH * rm_farm_done_rec(RM_TT_MAX_COPIES));
        cfg.rank = r;
        io.ctx = nd;
        int rc = rm_farm_create(&cfg, &io, &nd->f);
        if (rc != 0)
            return rc;
    }
    return 0;
}

void ff_run(struct ff *s)
{
    const struct ff_params *p = &s->p;
    s->now = FF_START_MS;
    s->next_term = 1;
    push(s, FF_START_MS + ff_range(s, 10, 300), EV_ELECT, 0, 0, 1, NULL);
    for (uint32_t i = 0; i < p->max_kills; i++)
        push(s, FF_START_MS + ff_range(s, 50, p->fault_ms), EV_KILL, FF_NONE, 0, 0, NULL);
    for (uint32_t i = 0; i < p->stepdowns; i++)
        push(s, FF_START_MS + ff_range(s, 50, p->fault_ms), EV_STEPDOWN, 0, 0, 0, NULL);
    while (!s->failed && s->now < FF_START_MS + FF_LIMIT_MS && !all_ended(s)) {
        s->now++;
        commit_due(s);
        apply_due(s);
        struct ff_ev e;
        while (!s->failed && pop_due(s, &e))
            handle(s, &e);
        for (uint32_t r = 0; r < p->n && !s->failed; r++) {
            if (running(&s->nodes[r])) {
                use(&s->nodes[r]);
                rm_farm_tick(s->nodes[r].f, s->now * NS_PER_MS);
            }
        }
    }
    s->st.sim_ms = s->now - FF_START_MS;
}

void ff_close(struct ff *s)
{
    for (uint32_t r = 0; r < s->p.n; r++) {
        struct ff_node *nd = &s->nodes[r];
        if (nd->f) {
            struct rm_farm_stats fs;
            rm_farm_stats(nd->f, &fs);
            s->st.stale_done += fs.stale_done;
            s->st.stolen += fs.stolen;
            s->st.resent += fs.resent;
        }
        rm_farm_destroy(nd->f);
        free(nd->wq);
        free(nd->done);
    }
    for (size_t i = 0; i < s->n_ev; i++)
        free(s->heap[i].m);
    free(s->heap);
    for (size_t i = 0; i < s->n_log; i++)
        free(s->log[i].p);
    for (size_t i = 0; i < s->n_pend; i++)
        free(s->pend[i].p);
    free(s->log);
    free(s->pend);
    for (uint64_t i = 0; s->ex && i < s->p.tasks; i++)
        free(s->ex[i].v);
    free(s->ex);
}
