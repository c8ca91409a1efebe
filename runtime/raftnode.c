/* raftnode.c: see raftnode.h. */
#include "runtime/raftnode.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ringmaster.h"
#include "runtime/log.h"
#include "runtime/raft.h"

/* A proposal made while a Ready was being handled; submitted right after rm_raft_advance. */
struct queued {
    struct queued *next;
    size_t len;
    unsigned char data[];
};

struct rm_raftnode {
    struct rm_control *c;
    struct rm_raftnode_config cfg;
    struct rm_raftnode_app app;
    struct rm_raft *r;
    int rank, size;
    int leader;
    uint64_t term;
    uint32_t changes;
    uint64_t first_commit_term; /* term of the last "first commit" logged */
    uint64_t snap_index;        /* index of the last snapshot taken or installed */
    uint64_t epoch;             /* stamped on frames with the term */
    uint64_t snapshots, installs;
    bool draining; /* inside drain(): the module refuses calls */
    bool quiet;    /* the job is over: no more ticks */
    struct queued *queue, *queue_tail;
    unsigned char *scratch; /* encode buffer for outgoing messages */
    size_t scratch_cap;
};

static int send_msg(struct rm_raftnode *n, const struct rm_raft_msg *m)
{
    size_t need = rm_raft_msg_size(m), len = 0;
    if (need > n->scratch_cap) {
        unsigned char *p = realloc(n->scratch, need);
        if (!p)
            return RM_ENOMEM;
        n->scratch = p;
        n->scratch_cap = need;
    }
    int rc = rm_raft_msg_encode(m, n->scratch, n->scratch_cap, &len);
    if (rc == 0)
        rc = rm_control_send(n->c, (int)m->to - 1, RM_MSG_RAFT, n->scratch, len);
    return rc == RM_EDEAD ? 0 : rc; /* the dead are simply not reached */
}

static void note_leader(struct rm_raftnode *n, const struct rm_raft_ready *rd)
{
    struct rm_raft_status st;
    rm_raft_status(n->r, &st);
    int leader = rd->leader ? (int)rd->leader - 1 : -1;
    if (leader == n->leader && st.term == n->term)
        return;
    n->term = st.term;
    rm_control_set_stamp(n->c, st.term, n->epoch);
    if (leader == n->leader)
        return;
    n->leader = leader;
    if (leader >= 0) {
        n->changes++;
        if (leader == n->rank)
            rm_info("elected leader: rank %d (pid %d), term %llu", n->rank, (int)getpid(),
                    (unsigned long long)st.term);
        else
            rm_debug("leader is rank %d, term %llu", leader, (unsigned long long)st.term);
    }
    if (n->app.leader_changed)
        n->app.leader_changed(n->app.ctx, leader, st.term, leader == n->rank);
}

/* Submits proposals queued during a drain. A failure means leadership was lost (the new
 * leader rebuilds from the log) or the log is full; either way the entry is dropped. */
static void submit_queued(struct rm_raftnode *n)
{
    while (n->queue) {
        struct queued *q = n->queue;
        n->queue = q->next;
        int rc = rm_raft_propose(n->r, q->data, (uint32_t)q->len, NULL);
        if (rc != 0)
            rm_debug("raft: dropped a proposal made during a Ready: %s", rm_strerror(rc));
        free(q);
    }
    n->queue_tail = NULL;
}

/* Every snapshot_entries applied entries, captures the application state and lets the module
 * compact its log; followers behind the compacted prefix get the snapshot instead. */
static void maybe_snapshot(struct rm_raftnode *n)
{
    struct rm_raft_status st;
    rm_raft_status(n->r, &st);
    if (!n->app.snapshot || n->cfg.snapshot_entries == 0 ||
        st.applied < n->snap_index + n->cfg.snapshot_entries)
        return;
    unsigned char *data = NULL;
    size_t len = 0;
    int rc = n->app.snapshot(n->app.ctx, &data, &len);
    if (rc == 0)
        rc = rm_raft_snapshot(n->r, st.applied, data, len, NULL);
    free(data);
    if (rc != 0) {
        rm_warn("raft: snapshot at index %llu: %s", (unsigned long long)st.applied,
                rm_strerror(rc));
        return;
    }
    n->snap_index = st.applied;
    n->snapshots++;
}

/* Drains the module's Ready: send, apply, advance (persistence is the in-memory log). */
static int drain(struct rm_raftnode *n)
{
    while (rm_raft_has_ready(n->r)) {
        struct rm_raft_ready rd;
        int rc = rm_raft_ready(n->r, &rd);
        if (rc != 0)
            return rc;
        n->draining = true;
        for (size_t i = 0; i < rd.n_msgs; i++)
            if ((rc = send_msg(n, &rd.msgs[i])) != 0)
                rm_warn("raft: sending to rank %d: %s", (int)rd.msgs[i].to - 1, rm_strerror(rc));
        if (rd.soft_changed || rd.hs_changed)
            note_leader(n, &rd);
        if (rd.snapshot && n->app.restore) {
            rc = n->app.restore(n->app.ctx, rd.snap_data, (size_t)rd.snap_len);
            if (rc != 0)
                rm_error("raft: installing a snapshot at index %llu: %s",
                         (unsigned long long)rd.snapshot->index, rm_strerror(rc));
            n->snap_index = rd.snapshot->index;
            n->installs++;
            rm_debug("raft: installed the leader's snapshot at index %llu",
                     (unsigned long long)rd.snapshot->index);
        }
        for (size_t i = 0; i < rd.n_committed; i++) {
            const struct rm_raft_entry *e = &rd.committed[i];
            if (n->leader == n->rank && e->term == n->term && n->first_commit_term != n->term) {
                n->first_commit_term = n->term;
                rm_info("leader rank %d: first commit in term %llu (index %llu)", n->rank,
                        (unsigned long long)n->term, (unsigned long long)e->index);
            }
            if (e->type == RM_RAFT_ENTRY_NORMAL && n->app.apply)
                n->app.apply(n->app.ctx, e->data, e->len, e->index);
        }
        n->draining = false;
        if ((rc = rm_raft_advance(n->r, &rd)) != 0)
            return rc;
        submit_queued(n);
        maybe_snapshot(n);
    }
    return 0;
}

static void on_raft(struct rm_control *c, void *ctx, const struct rm_frame_header *h,
                    const void *payload)
{
    struct rm_raftnode *n = ctx;
    (void)c;
    struct rm_raft_msg m;
    if (n->quiet)
        return;
    if (rm_raft_msg_decode(payload, h->length, &m) != 0 || m.from != h->sender + 1u ||
        m.to != (uint64_t)n->rank + 1) {
        rm_warn("raft: dropped a malformed message from rank %u", h->sender);
        return;
    }
    int rc = rm_raft_step(n->r, &m);
    rm_raft_msg_close(&m);
    if (rc == 0)
        rc = drain(n);
    if (rc != 0)
        rm_warn("raft: %s", rm_strerror(rc));
}

/* The lowest live rank outside the configuration, or -1. */
static int pick_recruit(struct rm_raftnode *n, const struct rm_raft_membership *m)
{
    for (int r = 0; r < n->size; r++) {
        uint64_t id = (uint64_t)r + 1;
        if (!rm_control_is_dead(n->c, r) && !rm_raft_membership_is_voter(m, id) &&
            !rm_raft_membership_is_learner(m, id))
            return r;
    }
    return -1;
}

/* Leader only: one membership change toward `voters` live voters. EBUSY means "not now". */
static void repair_group(struct rm_raftnode *n)
{
    struct rm_raft_status st;
    rm_raft_status(n->r, &st);
    const struct rm_raft_membership *m = &st.conf;
    for (uint32_t i = 0; i < m->n_voters + m->n_learners; i++) {
        uint64_t id = i < m->n_voters ? m->voters[i] : m->learners[i - m->n_voters];
        if (id != (uint64_t)n->rank + 1 && rm_control_is_dead(n->c, (int)id - 1)) {
            if (rm_raft_propose_change(n->r, RM_RAFT_REMOVE, id, NULL) == 0)
                rm_info("raft: removing dead rank %d from the group", (int)id - 1);
            return;
        }
    }
    if (m->n_voters >= n->cfg.voters)
        return;
    if (m->n_learners > 0) {
        if (rm_raft_propose_change(n->r, RM_RAFT_PROMOTE, m->learners[0], NULL) == 0)
            rm_info("raft: promoting rank %d to voter", (int)m->learners[0] - 1);
        return;
    }
    int recruit = pick_recruit(n, m);
    if (recruit >= 0 &&
        rm_raft_propose_change(n->r, RM_RAFT_ADD_LEARNER, (uint64_t)recruit + 1, NULL) == 0)
        rm_info("raft: adding rank %d as a learner", recruit);
}

void rm_raftnode_quiesce(struct rm_raftnode *n)
{
    n->quiet = true;
}

static void on_tick(struct rm_control *c, void *ctx, uint64_t now_ns)
{
    struct rm_raftnode *n = ctx;
    (void)c;
    if (n->quiet)
        return;
    int rc = rm_raft_tick(n->r, now_ns / RM_NS_PER_MS);
    if (rc == 0 && n->leader == n->rank)
        repair_group(n);
    if (rc == 0)
        rc = drain(n);
    if (rc != 0)
        rm_warn("raft: %s", rm_strerror(rc));
}

static void on_death(struct rm_control *c, void *ctx, uint32_t rank, enum rm_death_cause cause)
{
    struct rm_raftnode *n = ctx;
    (void)c;
    (void)cause;
    if (n->leader == (int)rank)
        rm_warn("raft: the leader (rank %u) died; electing a new one", rank);
}

static int make_raft(struct rm_raftnode *n)
{
    struct rm_raft_config rc;
    rm_raft_config_default(&rc);
    rc.id = (uint64_t)n->rank + 1;
    rc.seed = n->cfg.seed ^ (0x9E3779B97F4A7C15ull * rc.id);
    if (n->cfg.election_timeout_ms)
        rc.election_timeout_ms = n->cfg.election_timeout_ms;
    if (n->cfg.heartbeat_ms)
        rc.heartbeat_ms = n->cfg.heartbeat_ms;
    if (n->cfg.max_batch_entries)
        rc.max_batch_entries = n->cfg.max_batch_entries;
    struct rm_raft_membership m = {0};
    uint32_t v = n->cfg.voters < (uint32_t)n->size ? n->cfg.voters : (uint32_t)n->size;
    if (v > RM_RAFT_MAX_VOTERS)
        return RM_EINVAL;
    if ((uint32_t)n->rank < v) /* founders know the group; the others learn it when added */
        for (uint32_t i = 0; i < v; i++)
            m.voters[m.n_voters++] = i + 1;
    return rm_raft_create(&rc, &m, &n->r);
}

int rm_raftnode_create(struct rm_control *c, const struct rm_raftnode_config *cfg,
                       const struct rm_raftnode_app *app, struct rm_raftnode **out)
{
    if (cfg->voters == 0)
        return RM_EINVAL;
    struct rm_raftnode *n = calloc(1, sizeof *n);
    if (!n)
        return RM_ENOMEM;
    *n = (struct rm_raftnode){.c = c,
                              .cfg = *cfg,
                              .app = *app,
                              .leader = -1,
                              .rank = rm_control_rank(c),
                              .size = rm_control_size(c)};
    int rc = make_raft(n);
    if (rc == 0 && ((rc = rm_control_on(c, RM_MSG_RAFT, on_raft, n)) != 0 ||
                    (rc = rm_control_on_tick(c, on_tick, n)) != 0 ||
                    (rc = rm_control_on_death(c, on_death, n)) != 0))
        rm_raft_destroy(n->r);
    if (rc != 0) {
        free(n);
        return rc;
    }
    *out = n;
    return 0;
}

void rm_raftnode_destroy(struct rm_raftnode *n)
{
    if (!n)
        return;
    rm_raft_destroy(n->r);
    while (n->queue) {
        struct queued *q = n->queue;
        n->queue = q->next;
        free(q);
    }
    free(n->scratch);
    free(n);
}

int rm_raftnode_propose(struct rm_raftnode *n, const void *data, size_t len)
{
    if (len > RM_RAFT_MAX_ENTRY_BYTES)
        return RM_EMSGSIZE;
    if (!n->draining)
        return rm_raft_propose(n->r, data, (uint32_t)len, NULL);
    if (n->leader != n->rank)
        return RM_EBUSY;
    struct queued *q = malloc(sizeof *q + len);
    if (!q)
        return RM_ENOMEM;
    q->next = NULL;
    q->len = len;
    memcpy(q->data, data, len);
    if (n->queue_tail)
        n->queue_tail->next = q;
    else
        n->queue = q;
    n->queue_tail = q;
    return 0;
}

int rm_raftnode_leader(const struct rm_raftnode *n)
{
    return n->leader;
}

bool rm_raftnode_is_leader(const struct rm_raftnode *n)
{
    return n->leader == n->rank;
}

uint64_t rm_raftnode_term(const struct rm_raftnode *n)
{
    return n->term;
}

bool rm_raftnode_is_voter(const struct rm_raftnode *n, int rank)
{
    struct rm_raft_status st;
    rm_raft_status(n->r, &st);
    return rm_raft_membership_is_voter(&st.conf, (uint64_t)rank + 1);
}

void rm_raftnode_set_epoch(struct rm_raftnode *n, uint64_t epoch)
{
    n->epoch = epoch;
    rm_control_set_stamp(n->c, n->term, epoch);
}

uint32_t rm_raftnode_leader_changes(const struct rm_raftnode *n)
{
    return n->changes;
}
