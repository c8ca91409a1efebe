/*
 * raft.c: the Raft node object, its clock, message dispatch and the Ready contract.
 * Elections live in raft_election.c, replication in raft_replication.c, configurations in
 * raft_membership.c, the log in raft_log.c and the wire format in raft_codec.c.
 */
#include <stdlib.h>
#include <string.h>

#include "ringmaster.h"
#include "runtime/raft_int.h"

void rm_raft_config_default(struct rm_raft_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->election_timeout_ms = 150;
    cfg->heartbeat_ms = 30;
    cfg->max_batch_entries = 256;
    cfg->max_batch_bytes = 1u << 20;
    cfg->max_inflight = 32;
    cfg->max_uncommitted_bytes = 64u << 20;
    cfg->compact_keep = 0;
    cfg->prevote = true;
    cfg->check_quorum = true;
    cfg->campaign_at_start = true;
}

/* splitmix64: the node's only source of randomness, seeded by the driver. */
uint64_t rm__raft_random(struct rm_raft *r)
{
    uint64_t z = (r->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Draws the next election deadline from [now + E, now + 2E). */
void rm__raft_reset_election(struct rm_raft *r)
{
    uint64_t e = r->cfg.election_timeout_ms;
    r->election_due = r->now + e + rm__raft_random(r) % e;
}

bool rm__raft_is_voter(const struct rm_raft *r, uint64_t id)
{
    return rm_raft_membership_is_voter(&r->conf, id);
}

uint32_t rm__raft_quorum(const struct rm_raft *r)
{
    return r->conf.n_voters / 2 + 1;
}

/* Queues m (taken: its entries and snapshot references now belong to the queue). Sets from and
 * term if unset. Returns 0 or RM_ENOMEM (m's references are released then). */
int rm__raft_send(struct rm_raft *r, struct rm_raft_msg *m)
{
    struct rm__raft_msgq *q = &r->msgs;
    m->from = r->id;
    if (m->term == 0)
        m->term = r->term;
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 16;
        struct rm_raft_msg *v = realloc(q->v, cap * sizeof(*v));
        if (!v)
            goto err;
        q->v = v;
        q->cap = cap;
    }
    q->v[q->n++] = *m;
    return 0;
err:
    for (uint32_t i = 0; i < m->n_entries; i++)
        rm__raft_entry_release(&m->entries[i]);
    free(m->entries);
    rm__raft_buf_unref(m->snap_buf);
    return RM_ENOMEM;
}

static void msgq_clear(struct rm__raft_msgq *q)
{
    for (size_t i = 0; i < q->n; i++) {
        struct rm_raft_msg *m = &q->v[i];
        for (uint32_t k = 0; k < m->n_entries; k++)
            rm__raft_entry_release(&m->entries[k]);
        free(m->entries);
        rm__raft_buf_unref(m->snap_buf);
    }
    q->n = 0;
}

static bool config_valid(const struct rm_raft_config *cfg)
{
    return cfg->id != 0 && cfg->election_timeout_ms >= 2 && cfg->heartbeat_ms >= 1 &&
           cfg->heartbeat_ms < cfg->election_timeout_ms && cfg->max_batch_entries >= 1 &&
           cfg->max_batch_bytes >= 1 && cfg->max_inflight >= 1 && cfg->max_inflight <= 4096;
}

/* A fresh founding voter campaigns at once if it has the lowest id among the voters. */
static bool lowest_voter(const struct rm_raft *r)
{
    if (!rm__raft_is_voter(r, r->id))
        return false;
    for (uint32_t i = 0; i < r->conf.n_voters; i++)
        if (r->conf.voters[i] < r->id)
            return false;
    return true;
}

int rm_raft_create(const struct rm_raft_config *cfg, const struct rm_raft_membership *initial,
                   struct rm_raft **out)
{
    int rc = RM_EINVAL;
    struct rm_raft *r = NULL;
    struct rm_raft_membership probe;
    uint8_t tmp[(RM__RAFT_MAX_MEMBERS + 1) * 8 + 8];
    int n;

    if (!cfg || !initial || !out || !config_valid(cfg))
        goto out;
    /* the membership must survive its own codec: ids non-zero and distinct, counts in range */
    n = rm_raft_membership_encode(initial, tmp, sizeof(tmp));
    if (n < 0 || rm_raft_membership_decode(tmp, (size_t)n, &probe) != 0)
        goto out;
    rc = RM_ENOMEM;
    r = calloc(1, sizeof(*r));
    if (!r)
        goto out;
    r->cfg = *cfg;
    r->id = cfg->id;
    r->rng = cfg->seed ^ (cfg->id * 0xd1b54a32d192ed03ULL);
    rm__raft_log_init(&r->log);
    r->initial = *initial;
    r->conf = *initial;
    r->base_conf = *initial;
    r->last_role = r->role = RM_RAFT_FOLLOWER;
    r->start_campaign = cfg->campaign_at_start && lowest_voter(r);
    *out = r;
    rc = 0;
out:
    return rc;
}

void rm_raft_destroy(struct rm_raft *r)
{
    if (!r)
        return;
    for (uint32_t i = 0; i < r->n_prs; i++)
        rm__raft_progress_free(&r->prs[i]);
    msgq_clear(&r->msgs);
    msgq_clear(&r->sending);
    free(r->msgs.v);
    free(r->sending.v);
    rm__raft_log_close(&r->log);
    rm__raft_buf_unref(r->snap_buf);
    free(r);
}

static int restore_snapshot(struct rm_raft *r, const struct rm_raft_snapshot_meta *snap,
                            const void *data, uint64_t len)
{
    r->snap_buf = rm__raft_buf_new(data, len);
    if (!r->snap_buf)
        return RM_ENOMEM;
    r->snap = *snap;
    r->base_conf = snap->conf;
    r->base_conf_index = snap->index;
    rm__raft_log_reset(&r->log, snap->index, snap->term);
    r->commit = r->applied = r->stable = snap->index;
    return 0;
}

int rm_raft_restore(struct rm_raft *r, const struct rm_raft_hard_state *hs,
                    const struct rm_raft_snapshot_meta *snap, const void *snap_data,
                    uint64_t snap_len, const struct rm_raft_entry *entries, size_t n)
{
    int rc = RM_EINVAL;
    if (r->started || r->log.n || r->snap_buf || (n && !entries))
        goto out;
    if (snap && (rc = restore_snapshot(r, snap, snap_data, snap_len)) != 0)
        goto out;
    rc = RM_EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (entries[i].index <= r->log.base)
            continue;
        if (entries[i].index != rm__raft_log_last(&r->log) + 1 ||
            entries[i].term < rm__raft_log_last_term(&r->log))
            goto out;
        if ((rc = rm__raft_log_append(&r->log, &entries[i])) != 0)
            goto out;
        rc = RM_EINVAL;
    }
    if (hs) {
        if (hs->commit > rm__raft_log_last(&r->log) || hs->term < rm__raft_log_last_term(&r->log))
            goto out;
        r->term = hs->term;
        r->vote = hs->vote;
        if (hs->commit > r->commit)
            r->commit = hs->commit;
    }
    r->stable = rm__raft_log_last(&r->log);
    r->last_hs = (struct rm_raft_hard_state){r->term, r->vote, r->commit};
    r->start_campaign = false;
    rc = rm__raft_conf_refresh(r);
out:
    return rc;
}

/* True if a quorum of voters (counting this node if it is one) was heard from within the last
 * election timeout. Checked on every tick, so a leader resumed after a long pause (SIGSTOP)
 * steps down on its first tick, before it can act on stale authority. */
static bool quorum_recent(const struct rm_raft *r)
{
    uint32_t n = rm__raft_is_voter(r, r->id) ? 1 : 0;
    for (uint32_t i = 0; i < r->n_prs; i++)
        if (rm__raft_is_voter(r, r->prs[i].id) &&
            r->now < r->prs[i].last_active + r->cfg.election_timeout_ms)
            n++;
    return n >= rm__raft_quorum(r);
}

static int tick_leader(struct rm_raft *r)
{
    int rc = 0;
    if (r->cfg.check_quorum && !quorum_recent(r)) {
        rm__raft_become_follower(r, r->term, 0);
        goto out;
    }
    if (r->now >= r->heartbeat_due) {
        r->heartbeat_due = r->now + r->cfg.heartbeat_ms;
        rc = rm__raft_bcast_heartbeat(r);
    }
out:
    return rc;
}

int rm_raft_tick(struct rm_raft *r, uint64_t now_ms)
{
    if (r->ready_out)
        return RM_EBUSY;
    if (!r->started) {
        r->started = true;
        r->now = now_ms;
        rm__raft_reset_election(r);
        if (r->start_campaign && r->term == 0 && r->log.n == 0 && r->log.base == 0)
            return rm__raft_start_election(r, false);
    }
    if (now_ms > r->now)
        r->now = now_ms;
    if (r->role == RM_RAFT_LEADER)
        return tick_leader(r);
    if (r->now < r->election_due)
        return 0;
    if (!rm__raft_is_voter(r, r->id)) {
        rm__raft_reset_election(r);
        return 0;
    }
    return rm__raft_start_election(r, r->cfg.prevote);
}

/* Answers a message from an older term so that a stale leader or candidate learns the new term
 * (needed with check-quorum/pre-vote, where higher terms are not forced on us). */
static int answer_stale(struct rm_raft *r, const struct rm_raft_msg *m)
{
    struct rm_raft_msg resp = {0};
    resp.to = m->from;
    if (m->type == RM_RAFT_MSG_APPEND || m->type == RM_RAFT_MSG_HEARTBEAT ||
        m->type == RM_RAFT_MSG_SNAPSHOT) {
        resp.type = RM_RAFT_MSG_APPEND_RESP;
        resp.reject = 1;
        resp.index = m->prev_index;
        return rm__raft_send(r, &resp);
    }
    if (m->type == RM_RAFT_MSG_VOTE) {
        resp.type = RM_RAFT_MSG_VOTE_RESP;
        resp.prevote = m->prevote;
        resp.reject = 1;
        return rm__raft_send(r, &resp);
    }
    return 0;
}

/* Applies the term rules common to all messages. Returns 1 if m should be dispatched, 0 if it
 * was consumed, or a negative error. */
static int check_term(struct rm_raft *r, const struct rm_raft_msg *m)
{
    if (m->term > r->term) {
        if (m->type == RM_RAFT_MSG_VOTE && rm__raft_in_lease(r))
            return 0; /* leader stickiness: a live leader exists, ignore the disruption */
        if (m->type == RM_RAFT_MSG_VOTE && m->prevote)
            return 1; /* a pre-vote never changes our term */
        if (m->type == RM_RAFT_MSG_VOTE_RESP && m->prevote && !m->reject)
            return 1; /* granted pre-votes carry the term we would campaign for */
        bool from_leader = m->type == RM_RAFT_MSG_APPEND || m->type == RM_RAFT_MSG_HEARTBEAT ||
                           m->type == RM_RAFT_MSG_SNAPSHOT;
        rm__raft_become_follower(r, m->term, from_leader ? m->from : 0);
        return 1;
    }
    if (m->term < r->term)
        return answer_stale(r, m);
    return 1;
}

int rm_raft_step(struct rm_raft *r, const struct rm_raft_msg *m)
{
    int rc;
    if (r->ready_out)
        return RM_EBUSY;
    if (m->to != r->id || m->from == 0 || m->from == r->id)
        return RM_EINVAL;
    if ((rc = check_term(r, m)) <= 0)
        return rc;
    switch (m->type) {
    case RM_RAFT_MSG_VOTE:
        return rm__raft_on_vote(r, m);
    case RM_RAFT_MSG_VOTE_RESP:
        return rm__raft_on_vote_resp(r, m);
    case RM_RAFT_MSG_APPEND:
        return rm__raft_on_append(r, m);
    case RM_RAFT_MSG_APPEND_RESP:
        return rm__raft_on_append_resp(r, m);
    case RM_RAFT_MSG_HEARTBEAT:
        return rm__raft_on_heartbeat(r, m);
    case RM_RAFT_MSG_HEARTBEAT_RESP:
        return rm__raft_on_heartbeat_resp(r, m);
    case RM_RAFT_MSG_SNAPSHOT:
        return rm__raft_on_snapshot(r, m);
    default:
        return RM_EINVAL;
    }
}

int rm_raft_propose(struct rm_raft *r, const void *data, uint32_t len, uint64_t *index)
{
    if (r->ready_out || r->role != RM_RAFT_LEADER)
        return RM_EBUSY;
    if (len > RM_RAFT_MAX_ENTRY_BYTES)
        return RM_EMSGSIZE;
    if (r->uncommitted + len > r->cfg.max_uncommitted_bytes && r->uncommitted > 0)
        return RM_EBUSY;
    return rm__raft_leader_append(r, RM_RAFT_ENTRY_NORMAL, data, len, index);
}

int rm_raft_campaign(struct rm_raft *r)
{
    if (r->ready_out || r->role == RM_RAFT_LEADER)
        return RM_EBUSY;
    if (!rm__raft_is_voter(r, r->id))
        return RM_EINVAL;
    return rm__raft_start_election(r, r->cfg.prevote);
}

int rm_raft_snapshot(struct rm_raft *r, uint64_t index, const void *data, uint64_t len,
                     struct rm_raft_snapshot_meta *meta_out)
{
    int rc = RM_EBUSY;
    struct rm_raft_snapshot_meta meta;
    struct rm_raft_buf *b;
    if (r->ready_out)
        goto out;
    rc = RM_EINVAL;
    if (index > r->applied || index <= r->snap.index || index <= r->log.base)
        goto out;
    meta.index = index;
    if (rm__raft_log_term(&r->log, index, &meta.term) != 0)
        goto out;
    if ((rc = rm__raft_conf_at(r, index, &meta.conf, NULL)) != 0)
        goto out;
    rc = RM_ENOMEM;
    if (!(b = rm__raft_buf_new(data, len)))
        goto out;
    rm__raft_buf_unref(r->snap_buf);
    r->snap_buf = b;
    r->snap = meta;
    if (meta_out)
        *meta_out = meta;
    rc = 0;
    if (index > r->cfg.compact_keep && index - r->cfg.compact_keep > r->log.base) {
        uint64_t upto = index - r->cfg.compact_keep;
        if ((rc = rm__raft_conf_at(r, upto, &r->base_conf, &r->base_conf_index)) != 0)
            goto out;
        rm__raft_log_compact(&r->log, upto);
    }
out:
    return rc;
}

static bool hs_differs(const struct rm_raft *r)
{
    return r->term != r->last_hs.term || r->vote != r->last_hs.vote ||
           r->commit != r->last_hs.commit;
}

bool rm_raft_has_ready(struct rm_raft *r)
{
    if (r->ready_out)
        return false;
    return r->bcast_pending || r->msgs.n > 0 || hs_differs(r) || r->snap_unsent ||
           r->stable < rm__raft_log_last(&r->log) || r->applied < r->commit ||
           r->leader != r->last_leader || r->role != r->last_role;
}

/* Fills the persistence half of a Ready: snapshot, entries, hard state. */
static void ready_persist(struct rm_raft *r, struct rm_raft_ready *rd)
{
    if (r->snap_unsent) {
        rd->snapshot = &r->snap;
        rd->snap_data = r->snap_buf->data;
        rd->snap_len = r->snap_buf->len;
    }
    uint64_t last = rm__raft_log_last(&r->log);
    if (r->stable < r->log.base)
        r->stable = r->log.base;
    if (r->stable < last) {
        rd->entries = rm__raft_log_get(&r->log, r->stable + 1);
        rd->n_entries = (size_t)(last - r->stable);
    }
    rd->hs_changed = hs_differs(r);
    rd->hs = (struct rm_raft_hard_state){r->term, r->vote, r->commit};
}

int rm_raft_ready(struct rm_raft *r, struct rm_raft_ready *rd)
{
    int rc;
    memset(rd, 0, sizeof(*rd));
    if (r->ready_out)
        return RM_EBUSY;
    if (r->bcast_pending && r->role == RM_RAFT_LEADER && (rc = rm__raft_bcast_append(r)) != 0)
        return rc;
    r->bcast_pending = false;
    rd->soft_changed = r->leader != r->last_leader || r->role != r->last_role;
    rd->leader = r->leader;
    rd->role = (uint32_t)r->role;
    ready_persist(r, rd);
    uint64_t from = r->applied > r->log.base ? r->applied : r->log.base;
    if (r->snap_unsent && r->snap.index > from)
        from = r->snap.index;
    if (r->commit > from) {
        rd->committed = rm__raft_log_get(&r->log, from + 1);
        rd->n_committed = (size_t)(r->commit - from);
    }
    /* hand the queued messages over; new ones queue behind them until advance */
    struct rm__raft_msgq tmp = r->sending;
    r->sending = r->msgs;
    r->msgs = tmp;
    rd->msgs = r->sending.v;
    rd->n_msgs = r->sending.n;
    r->ready_out = true;
    r->ready_commit = r->commit;
    r->ready_stable = rm__raft_log_last(&r->log);
    r->ready_had_snap = r->snap_unsent;
    return 0;
}

int rm_raft_advance(struct rm_raft *r, const struct rm_raft_ready *rd)
{
    if (!r->ready_out)
        return RM_EINVAL;
    r->ready_out = false;
    r->last_leader = rd->leader;
    r->last_role = (int)rd->role;
    r->last_hs = rd->hs;
    if (r->ready_had_snap) {
        r->snap_unsent = false;
        if (r->applied < r->snap.index)
            r->applied = r->snap.index;
    }
    if (r->ready_stable > r->stable)
        r->stable = r->ready_stable;
    if (r->ready_commit > r->applied)
        r->applied = r->ready_commit;
    msgq_clear(&r->sending);
    /* the leader counts its own entries only once they are durable */
    if (r->role == RM_RAFT_LEADER)
        return rm__raft_maybe_commit(r);
    return 0;
}

void rm_raft_status(const struct rm_raft *r, struct rm_raft_status *st)
{
    memset(st, 0, sizeof(*st));
    st->id = r->id;
    st->role = (uint32_t)r->role;
    st->leader = r->leader;
    st->term = r->term;
    st->vote = r->vote;
    st->commit = r->commit;
    st->applied = r->applied;
    st->first_index = r->log.base + 1;
    st->last_index = rm__raft_log_last(&r->log);
    st->last_term = rm__raft_log_last_term(&r->log);
    st->snapshot_index = r->snap.index;
    st->conf_index = r->conf_index;
    st->conf = r->conf;
}

uint64_t rm_raft_leader(const struct rm_raft *r)
{
    return r->leader;
}

uint32_t rm_raft_role(const struct rm_raft *r, uint64_t *term)
{
    if (term)
        *term = r->term;
    return (uint32_t)r->role;
}
