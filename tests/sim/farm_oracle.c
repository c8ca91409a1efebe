/*
 * farm_oracle.c: the checks of a farm simulation (see sim_farm.c for the list). The committed
 * log is replayed into a fresh task table; every transition it makes is checked against what
 * the workers really ran and when.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringmaster.h"
#include "runtime/frame.h"
#include "scheduler/tasktable.h"
#include "tests/sim/farm_fixture.h"

struct issue {
    uint32_t rank;
    uint64_t t;
};

struct issues {
    struct issue *v; /* by attempt - 1 */
    size_t n, cap;
};

struct replay {
    struct rm_tasktable tt;
    uint32_t *dones, *done_rank, *done_att;
    uint32_t *losses; /* held outputs lost with their holder (done -> pending) */
    uint64_t *done_t, stage_done_t[FF_MAX_STAGES];
    struct issues *is;
    uint8_t *prev_state;
    uint32_t *prev_issued, *prev_owner;
    size_t *seen; /* per task: 1 + the index of the last entry checked for it */
};

/* The ids an entry may change (all of them for DEAD, as *all). */
static size_t touched(const unsigned char *p, size_t len, uint64_t *ids, bool *all, uint32_t copies)
{
    *all = p[0] == RM_TT_DEAD;
    if (p[0] == RM_TT_FAIL && len >= 13) {
        ids[0] = rm_get_u64(p + 5);
        return 1;
    }
    if ((p[0] != RM_TT_ASSIGN && p[0] != RM_TT_BACKUP && p[0] != RM_TT_DONE &&
         p[0] != RM_TT_DONE_R) ||
        len < 9)
        return 0;
    size_t rec = p[0] == RM_TT_DONE     ? 12
                 : p[0] == RM_TT_DONE_R ? 12 + 4 * (size_t)(copies - 1)
                                        : 8,
           n = rm_get_u32(p + 5);
    for (size_t i = 0; i < n && 9 + (i + 1) * rec <= len; i++)
        ids[i] = rm_get_u64(p + 9 + i * rec);
    return n;
}

static void stage_order(struct ff *s, struct replay *rp, uint64_t id, size_t index)
{
    uint32_t st = rm_tasktable_stage(&rp->tt, id);
    for (uint32_t k = 0; k < st; k++)
        if (rp->tt.stage_done[k] != s->p.stage_tasks[k])
            ff_fail(s, "entry %zu assigns task %" PRIu64 " of stage %u before stage %u is done",
                    index, id, st, k);
    if (s->p.state && st > 0 && !rm_tasktable_has_state(&rp->tt, st))
        ff_fail(s, "entry %zu assigns task %" PRIu64 " of stage %u before its state is committed",
                index, id, st);
}

static void after_entry(struct ff *s, struct replay *rp, const struct ff_entry *e, size_t index,
                        uint64_t id, size_t k)
{
    const struct rm_tasktable *tt = &rp->tt;
    uint8_t was = rp->prev_state[k], is = tt->state[id];
    if (was == RM_TASK_DONE && is == RM_TASK_DONE && tt->owner[id] != rp->prev_owner[k]) {
        /* Legal only when a replica takes over from a holder whose death this is. */
        bool kept = s->p.copies > 1 && e->p[0] == RM_TT_DEAD &&
                    rm_get_u32(e->p + 1) == rp->prev_owner[k] &&
                    !rm_tasktable_is_dead(tt, tt->owner[id]);
        if (!kept)
            ff_fail(s, "entry %zu moves done task %" PRIu64 " from rank %u to rank %u", index, id,
                    rp->prev_owner[k], tt->owner[id]);
    }
    if (was == RM_TASK_DONE && is != RM_TASK_DONE) {
        /* Legal only when the task's held output died with its holder. */
        bool lost = s->p.held && e->p[0] == RM_TT_DEAD && is == RM_TASK_PENDING &&
                    rm_get_u32(e->p + 1) == rp->prev_owner[k] &&
                    rm_tasktable_stage(tt, id) + 1 < tt->stages;
        if (lost)
            rp->losses[id]++;
        else
            ff_fail(s, "entry %zu takes task %" PRIu64 " from done back to state %u", index, id,
                    is);
    }
    if (was != RM_TASK_DONE && is == RM_TASK_DONE) {
        const struct issues *x = &rp->is[id];
        uint32_t att = tt->attempt[id], rank = tt->owner[id];
        rp->dones[id]++;
        rp->done_rank[id] = rank;
        rp->done_att[id] = att;
        rp->done_t[id] = e->t;
        if (att == 0 || att > x->n || x->v[att - 1].rank != rank)
            ff_fail(s, "entry %zu: task %" PRIu64 " done by rank %u at attempt %u, not its own",
                    index, id, rank, att);
        if (rm_tasktable_is_dead(tt, rank))
            ff_fail(s, "entry %zu: task %" PRIu64 " done by rank %u, committed dead before", index,
                    id, rank);
    }
    if (tt->issued[id] > rp->prev_issued[k]) {
        struct issues *x = &rp->is[id];
        if (tt->issued[id] != x->n + 1)
            ff_fail(s, "task %" PRIu64 ": attempt %u issued after %zu", id, tt->issued[id], x->n);
        ff_grow((void **)&x->v, &x->cap, x->n + 1, sizeof *x->v);
        x->v[x->n++] = (struct issue){rm_get_u32(e->p + 1), e->t};
        stage_order(s, rp, id, index);
    }
}

static void replay_entry(struct ff *s, struct replay *rp, const struct ff_entry *e, size_t index,
                         uint64_t *ids)
{
    bool all;
    size_t n = touched(e->p, e->len, ids, &all, s->p.copies ? s->p.copies : 1);
    struct rm_tasktable *tt = &rp->tt;
    if (all)
        n = (size_t)tt->n;
    for (size_t k = 0; k < n && tt->initialized; k++) {
        uint64_t id = all ? k : ids[k];
        rp->prev_state[k] = id < tt->n ? tt->state[id] : 0;
        rp->prev_issued[k] = id < tt->n ? tt->issued[id] : 0;
        rp->prev_owner[k] = id < tt->n ? tt->owner[id] : 0;
    }
    bool was_init = tt->initialized;
    s->st.recopied += e->len >= 1 && e->p[0] == RM_TT_REPLICA;
    int rc = rm_tasktable_apply(tt, e->p, e->len);
    if (rc != 0) {
        ff_fail(s, "entry %zu (op %u) does not apply: %s", index, e->p[0], rm_strerror(rc));
        return;
    }
    if (!was_init && tt->initialized && tt->n != s->p.tasks)
        ff_fail(s, "entry %zu: INIT with %" PRIu64 " tasks", index, tt->n);
    for (size_t k = 0; k < n && was_init; k++) {
        uint64_t id = all ? k : ids[k];
        if (id >= tt->n)
            ff_fail(s, "entry %zu names task %" PRIu64 ", which does not exist", index, id);
        else if (rp->seen[id] != index + 1) /* a task named twice (two attempts) counts once */
            after_entry(s, rp, e, index, id, k);
        if (id < tt->n)
            rp->seen[id] = index + 1;
    }
}

static int replay_init(struct replay *rp, uint64_t tasks)
{
    size_t n = tasks > RM_TT_MAX_BATCH ? (size_t)tasks : RM_TT_MAX_BATCH;
    memset(rp, 0, sizeof *rp);
    rm_tasktable_init(&rp->tt);
    rp->dones = calloc(tasks, sizeof *rp->dones);
    rp->done_rank = calloc(tasks, sizeof *rp->done_rank);
    rp->done_att = calloc(tasks, sizeof *rp->done_att);
    rp->done_t = calloc(tasks, sizeof *rp->done_t);
    rp->losses = calloc(tasks, sizeof *rp->losses);
    rp->is = calloc(tasks, sizeof *rp->is);
    rp->prev_state = calloc(n, sizeof *rp->prev_state);
    rp->prev_issued = calloc(n, sizeof *rp->prev_issued);
    rp->prev_owner = calloc(n, sizeof *rp->prev_owner);
    rp->seen = calloc(tasks ? tasks : 1, sizeof *rp->seen);
    return rp->dones && rp->done_rank && rp->done_att && rp->done_t && rp->losses && rp->is &&
                   rp->prev_state && rp->prev_issued && rp->prev_owner && rp->seen
               ? 0
               : RM_ENOMEM;
}

static void replay_close(struct replay *rp, uint64_t tasks)
{
    for (uint64_t i = 0; rp->is && i < tasks; i++)
        free(rp->is[i].v);
    free(rp->is);
    free(rp->dones);
    free(rp->done_rank);
    free(rp->done_att);
    free(rp->done_t);
    free(rp->losses);
    free(rp->prev_state);
    free(rp->prev_issued);
    free(rp->prev_owner);
    free(rp->seen);
    rm_tasktable_close(&rp->tt);
}

/* With --verbose: what became of the tasks that are not done. */
static void dump_open(const struct ff *s, const struct replay *rp)
{
    const struct rm_tasktable *tt = &rp->tt;
    int shown = 0;
    for (uint64_t id = 0; id < tt->n && shown < 10; id++) {
        if (tt->state[id] == RM_TASK_DONE)
            continue;
        shown++;
        fprintf(stderr,
                "  task %" PRIu64 ": state %u owner %d attempt %u backup %d/%u issued %u, %zu "
                "runs:",
                id, tt->state[id], (int)tt->owner[id], tt->attempt[id], (int)tt->backup[id],
                tt->backup_attempt[id], tt->issued[id], s->ex[id].n);
        for (size_t i = 0; i < s->ex[id].n; i++)
            fprintf(stderr, " rank %u att %u %" PRIu64 "-%" PRIu64 " ms%s", s->ex[id].v[i].rank,
                    s->ex[id].v[i].att, s->ex[id].v[i].start - FF_START_MS,
                    s->ex[id].v[i].end - FF_START_MS, s->ex[id].v[i].ok ? "" : " failed");
        fputc('\n', stderr);
    }
    for (uint32_t r = 0; r < s->p.n; r++) {
        const struct ff_node *nd = &s->nodes[r];
        fprintf(stderr,
                "  rank %u: %s%s%s, term %" PRIu64 ", leader %d (term %" PRIu64
                "), applied %zu of %zu, %zu queued\n",
                r, nd->alive ? "alive" : "dead", nd->member ? ", member" : "",
                nd->ended ? ", ended" : "", nd->term, rm_farm_leader_rank(nd->f),
                rm_farm_leader_term(nd->f), nd->applied, s->n_log, nd->wq_n - nd->wq_head);
    }
}

/* Check 1: the job ends on every live rank, with the status it should end with. */
static void check_end(struct ff *s, const struct replay *rp)
{
    int want = s->p.must_fail ? 3 : 0;
    for (uint32_t r = 0; r < s->p.n && !s->failed; r++) {
        const struct ff_node *nd = &s->nodes[r];
        if (nd->alive && !nd->ended)
            ff_fail(s,
                    "rank %u: the job did not end within %" PRIu64 " s (%" PRIu64 " of %" PRIu64
                    " tasks committed done)",
                    r, FF_LIMIT_MS / 1000, rp->tt.done, s->p.tasks);
        else if (nd->alive && nd->status != want)
            ff_fail(s, "rank %u: the job ended with status %d, not %d", r, nd->status, want);
    }
    if (s->failed && s->verbose)
        dump_open(s, rp);
    const struct rm_tasktable *tt = &rp->tt;
    if (s->p.must_fail && !s->failed &&
        (!tt->job_failed || tt->fails[tt->failed_task] != tt->max_attempts))
        ff_fail(s, "the log shows no task failed %u times", tt->max_attempts);
    if (!s->p.must_fail && !s->failed && tt->job_failed)
        ff_fail(s, "task %" PRIu64 " failed the job", tt->failed_task);
}

/* Checks 2 and 3: every task done exactly once, by an attempt that really ran to completion. */
static void check_done(struct ff *s, const struct replay *rp)
{
    for (uint64_t id = 0; id < s->p.tasks && !s->failed; id++) {
        uint32_t want = 1 + rp->losses[id]; /* once, and once more after each loss */
        if (rp->dones[id] > want || (!s->p.must_fail && rp->dones[id] != want)) {
            ff_fail(s, "task %" PRIu64 " became done %u times (its output was lost %u times)", id,
                    rp->dones[id], rp->losses[id]);
            break;
        }
        if (rp->dones[id] == 0)
            continue;
        const struct ff_execs *x = &s->ex[id];
        size_t i = 0;
        while (i < x->n && !(x->v[i].rank == rp->done_rank[id] && x->v[i].att == rp->done_att[id] &&
                             x->v[i].ok && x->v[i].end <= rp->done_t[id]))
            i++;
        if (i == x->n)
            ff_fail(s,
                    "task %" PRIu64 " committed done by rank %u at attempt %u, which never "
                    "completed it",
                    id, rp->done_rank[id], rp->done_att[id]);
    }
}

/* Checks 5 and 7: each execution ran an attempt committed to that rank, once, and only after
 * the stages before its own were committed done. With held outputs a stage can reopen when a
 * holder dies, so "done" is not one moment; there the order is checked where it is decided,
 * in the log (stage_order: no assignment while an earlier stage is open), and an execution
 * always follows its attempt's commit (checked here). */
static void check_execs(struct ff *s, struct replay *rp)
{
    const struct ff_params *p = &s->p;
    uint64_t first = 0;
    for (uint32_t k = 0; k < p->stages; k++) { /* when stage k was done; never: UINT64_MAX */
        uint64_t t = 0;
        for (uint64_t id = first; id < first + p->stage_tasks[k]; id++)
            t = !rp->dones[id] ? UINT64_MAX : rp->done_t[id] > t ? rp->done_t[id] : t;
        rp->stage_done_t[k] = t;
        first += p->stage_tasks[k];
    }
    for (uint64_t id = 0; id < p->tasks && !s->failed; id++) {
        const struct ff_execs *x = &s->ex[id];
        uint32_t st = rp->tt.initialized ? rm_tasktable_stage(&rp->tt, id) : 0;
        for (size_t i = 0; i < x->n && !s->failed; i++) {
            const struct ff_exec *e = &x->v[i];
            const struct issues *is = &rp->is[id];
            if (e->att == 0 || e->att > is->n || is->v[e->att - 1].rank != e->rank ||
                is->v[e->att - 1].t > e->start)
                ff_fail(s, "rank %u ran task %" PRIu64 " at attempt %u, never committed to it",
                        e->rank, id, e->att);
            for (size_t j = 0; j < i; j++)
                if (x->v[j].att == e->att)
                    ff_fail(s, "task %" PRIu64 " attempt %u ran twice", id, e->att);
            for (uint32_t k = 0; k < st && !s->p.held; k++) /* held: see check_execs' note */
                if (rp->stage_done_t[k] > e->start)
                    ff_fail(s,
                            "rank %u ran task %" PRIu64 " of stage %u at %" PRIu64
                            " ms, before stage %u was done",
                            e->rank, id, st, e->start - FF_START_MS, k);
        }
        s->st.extra += x->n > 1 ? x->n - 1 : 0;
    }
}

/* Check 6: once they have applied the whole log, the live members' tables equal the replay. */
static void check_members(struct ff *s, const struct replay *rp)
{
    for (uint32_t r = 0; r < s->p.n && !s->failed; r++) {
        struct ff_node *nd = &s->nodes[r];
        if (!nd->alive || !nd->member)
            continue;
        ff_catch_up(nd);
        const struct rm_tasktable *tt = rm_farm_table(nd->f);
        if (tt->applied != rp->tt.applied || tt->done != rp->tt.done || tt->epoch != rp->tt.epoch ||
            (tt->n && memcmp(tt->state, rp->tt.state, (size_t)tt->n) != 0))
            ff_fail(s,
                    "rank %u: its table (%" PRIu64 " entries, %" PRIu64 " done) differs from "
                    "the log's (%" PRIu64 " entries, %" PRIu64 " done)",
                    r, tt->applied, tt->done, rp->tt.applied, rp->tt.done);
    }
}

void ff_check(struct ff *s)
{
    struct replay rp;
    uint64_t *ids = malloc(RM_TT_MAX_BATCH * sizeof *ids);
    if (!ids || replay_init(&rp, s->p.tasks) != 0) {
        ff_fail(s, "out of memory");
        free(ids);
        return;
    }
    for (size_t i = 0; i < s->n_log && !s->failed; i++)
        replay_entry(s, &rp, &s->log[i], i + 1, ids);
    if (!s->failed)
        check_end(s, &rp);
    if (!s->failed)
        check_done(s, &rp);
    if (!s->failed)
        check_execs(s, &rp);
    if (!s->failed)
        check_members(s, &rp);
    s->st.backups += rp.tt.backups;
    s->st.rescheduled += rp.tt.rescheduled;
    s->st.lost += rp.tt.lost;
    s->st.kept += rp.tt.saved;
    s->st.failures += rp.tt.failures;
    replay_close(&rp, s->p.tasks);
    free(ids);
}
