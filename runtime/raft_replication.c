/*
 * raft_replication.c: the leader's side (progress, batching, pipelining, flow control, commit)
 * and the follower's side (AppendEntries, heartbeats, InstallSnapshot) of log replication.
 *
 * Flow control: a follower in REPLICATE state has at most cfg.max_inflight APPEND messages
 * outstanding, each with at most max_batch_entries entries and max_batch_bytes payload bytes (or
 * one entry if a single entry is larger), so the leader's outgoing memory per follower is
 * bounded no matter how slow the follower is. Entries in messages share the log's payload
 * buffers by reference count, so they are not copied.
 */
#include <stdlib.h>
#include <string.h>

#include "ringmaster.h"
#include "runtime/raft_int.h"

void rm__raft_progress_free(struct rm__raft_progress *pr)
{
    free(pr->infl);
    pr->infl = NULL;
}

static void pr_reset(struct rm__raft_progress *pr, int state, uint64_t next)
{
    pr->state = state;
    pr->next = next;
    pr->paused = false;
    pr->infl_start = 0;
    pr->infl_count = 0;
}

static void infl_add(struct rm_raft *r, struct rm__raft_progress *pr, uint64_t last)
{
    uint32_t cap = r->cfg.max_inflight;
    pr->infl[(pr->infl_start + pr->infl_count) % cap] = last;
    pr->infl_count++;
}

static void infl_free_to(struct rm_raft *r, struct rm__raft_progress *pr, uint64_t index)
{
    uint32_t cap = r->cfg.max_inflight;
    while (pr->infl_count > 0 && pr->infl[pr->infl_start] <= index) {
        pr->infl_start = (pr->infl_start + 1) % cap;
        pr->infl_count--;
    }
}

static int send_snapshot(struct rm_raft *r, struct rm__raft_progress *pr, bool *sent)
{
    if (!r->snap_buf)
        return 0; /* cannot happen: a compacted log always has a snapshot */
    struct rm_raft_msg m = {0};
    m.type = RM_RAFT_MSG_SNAPSHOT;
    m.to = pr->id;
    m.snap = r->snap;
    m.snap_len = r->snap_buf->len;
    m.snap_data = r->snap_buf->data;
    m.snap_buf = r->snap_buf;
    rm__raft_buf_ref(r->snap_buf);
    pr_reset(pr, RM__RAFT_SNAPSHOT, pr->next);
    pr->pending_snap = r->snap.index;
    pr->snap_sent_at = r->now;
    *sent = true;
    return rm__raft_send(r, &m);
}

/* Counts how many entries from next fit into one APPEND. */
static uint32_t batch_size(const struct rm_raft *r, uint64_t next)
{
    uint64_t last = rm__raft_log_last(&r->log), bytes = 0;
    uint32_t n = 0;
    for (uint64_t i = next; i <= last && n < r->cfg.max_batch_entries; i++, n++) {
        uint64_t len = rm__raft_log_get(&r->log, i)->len;
        if (n > 0 && bytes + len > r->cfg.max_batch_bytes)
            break;
        bytes += len;
    }
    return n;
}

static int send_one(struct rm_raft *r, struct rm__raft_progress *pr, bool *sent)
{
    struct rm_raft_msg m = {0};
    *sent = false;
    if (pr->state == RM__RAFT_SNAPSHOT || (pr->state == RM__RAFT_PROBE && pr->paused) ||
        (pr->state == RM__RAFT_REPLICATE && pr->infl_count >= r->cfg.max_inflight))
        return 0;
    m.prev_index = pr->next - 1;
    if (rm__raft_log_term(&r->log, m.prev_index, &m.prev_term) != 0)
        return send_snapshot(r, pr, sent);
    uint32_t n = batch_size(r, pr->next);
    if (n == 0 && pr->state == RM__RAFT_REPLICATE)
        return 0;
    if (n > 0 && !(m.entries = malloc(n * sizeof(*m.entries))))
        return RM_ENOMEM;
    for (uint32_t i = 0; i < n; i++)
        rm__raft_entry_copy(&m.entries[i], rm__raft_log_get(&r->log, pr->next + i));
    m.type = RM_RAFT_MSG_APPEND;
    m.to = pr->id;
    m.n_entries = n;
    m.commit = r->commit;
    if (pr->state == RM__RAFT_REPLICATE) {
        pr->next += n;
        infl_add(r, pr, m.prev_index + n);
    } else {
        pr->paused = true;
    }
    *sent = true;
    return rm__raft_send(r, &m);
}

/* Sends as much as flow control allows: one probe, or a pipeline of batches. */
static int send_append(struct rm_raft *r, struct rm__raft_progress *pr, bool *any)
{
    int rc;
    bool sent;
    *any = false;
    do {
        if ((rc = send_one(r, pr, &sent)) != 0)
            return rc;
        *any |= sent;
    } while (sent && pr->state == RM__RAFT_REPLICATE);
    return 0;
}

static int send_heartbeat(struct rm_raft *r, struct rm__raft_progress *pr)
{
    struct rm_raft_msg m = {0};
    m.type = RM_RAFT_MSG_HEARTBEAT;
    m.to = pr->id;
    m.prev_index = pr->next - 1; /* echoed back: what had been sent before this heartbeat */
    /* only what the follower is known to hold: its log may still have a divergent tail */
    m.commit = pr->match < r->commit ? pr->match : r->commit;
    return rm__raft_send(r, &m);
}

int rm__raft_bcast_append(struct rm_raft *r)
{
    int rc = 0;
    bool any;
    for (uint32_t i = 0; i < r->n_prs && rc == 0; i++) {
        rc = send_append(r, &r->prs[i], &any);
        if (rc == 0 && !any && r->prs[i].state != RM__RAFT_SNAPSHOT)
            rc = send_heartbeat(r, &r->prs[i]);
    }
    return rc;
}

int rm__raft_bcast_heartbeat(struct rm_raft *r)
{
    int rc = 0;
    for (uint32_t i = 0; i < r->n_prs && rc == 0; i++)
        rc = send_heartbeat(r, &r->prs[i]);
    return rc;
}

int rm__raft_leader_append(struct rm_raft *r, uint32_t type, const void *data, uint32_t len,
                           uint64_t *index)
{
    int rc;
    struct rm_raft_entry e = {0};
    e.term = r->term;
    e.index = rm__raft_log_last(&r->log) + 1;
    e.type = type;
    e.len = len;
    e.data = data;
    if ((rc = rm__raft_log_append(&r->log, &e)) != 0)
        return rc;
    r->uncommitted += len;
    r->bcast_pending = true;
    if (index)
        *index = e.index;
    if (type == RM_RAFT_ENTRY_CONFIG)
        rc = rm__raft_conf_refresh(r);
    return rc;
}

int rm__raft_become_leader(struct rm_raft *r)
{
    int rc;
    r->role = RM_RAFT_LEADER;
    r->leader = r->id;
    r->n_granted = r->n_rejected = 0;
    r->heartbeat_due = r->now + r->cfg.heartbeat_ms;
    r->uncommitted = 0;
    if ((rc = rm__raft_sync_progress(r)) != 0)
        return rc;
    for (uint32_t i = 0; i < r->n_prs; i++) {
        r->prs[i].match = 0;
        r->prs[i].last_active = r->now;
        pr_reset(&r->prs[i], RM__RAFT_PROBE, rm__raft_log_last(&r->log) + 1);
    }
    r->term_start = rm__raft_log_last(&r->log) + 1;
    return rm__raft_leader_append(r, RM_RAFT_ENTRY_NOOP, NULL, 0, NULL);
}

static int cmp_desc(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* The highest index stored on a quorum of voters; the leader counts only durable entries. */
static uint64_t quorum_match(struct rm_raft *r)
{
    uint64_t v[RM_RAFT_MAX_VOTERS];
    uint32_t n = r->conf.n_voters;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t id = r->conf.voters[i];
        struct rm__raft_progress *pr = rm__raft_progress_get(r, id);
        v[i] = id == r->id ? r->stable : pr ? pr->match : 0;
    }
    qsort(v, n, sizeof(v[0]), cmp_desc);
    return n ? v[rm__raft_quorum(r) - 1] : 0;
}

void rm__raft_commit_to(struct rm_raft *r, uint64_t index)
{
    if (index > r->commit)
        r->commit = index;
}

int rm__raft_maybe_commit(struct rm_raft *r)
{
    uint64_t q = quorum_match(r), term;
    if (q <= r->commit || rm__raft_log_term(&r->log, q, &term) != 0)
        return 0;
    /* Figure 8: count replicas only for entries of the current term */
    if (term != r->term)
        return 0;
    for (uint64_t i = r->commit + 1; i <= q; i++) {
        const struct rm_raft_entry *e = rm__raft_log_get(&r->log, i);
        if (e && e->term == r->term)
            r->uncommitted = r->uncommitted > e->len ? r->uncommitted - e->len : 0;
    }
    rm__raft_commit_to(r, q);
    r->bcast_pending = true;
    return rm__raft_on_commit_conf(r);
}

/* Where to probe next after a rejection: the leader's last index at or below the follower's
 * hint whose term is at most the follower's term there (skips whole divergent terms). */
static uint64_t probe_point(struct rm_raft *r, const struct rm_raft_msg *m)
{
    uint64_t idx = m->hint_index, t;
    uint64_t last = rm__raft_log_last(&r->log);
    if (idx > last)
        idx = last;
    while (idx > r->log.base && rm__raft_log_term(&r->log, idx, &t) == 0 && t > m->hint_term)
        idx--;
    return idx + 1 < m->index ? idx + 1 : m->index;
}

static int on_reject(struct rm_raft *r, struct rm__raft_progress *pr, const struct rm_raft_msg *m)
{
    bool any;
    if (pr->state == RM__RAFT_REPLICATE) {
        if (m->index <= pr->match)
            return 0; /* stale */
        pr_reset(pr, RM__RAFT_PROBE, pr->match + 1);
    } else if (pr->state == RM__RAFT_PROBE) {
        if (m->index != pr->next - 1)
            return 0; /* an answer to an older probe */
        uint64_t next = probe_point(r, m);
        pr_reset(pr, RM__RAFT_PROBE, next > pr->match + 1 ? next : pr->match + 1);
    } else {
        return 0;
    }
    return send_append(r, pr, &any);
}

int rm__raft_on_append_resp(struct rm_raft *r, const struct rm_raft_msg *m)
{
    struct rm__raft_progress *pr = rm__raft_progress_get(r, m->from);
    bool any;
    int rc;
    if (r->role != RM_RAFT_LEADER || !pr)
        return 0;
    pr->last_active = r->now;
    if (m->reject)
        return on_reject(r, pr, m);
    if (m->index < pr->match || m->index > rm__raft_log_last(&r->log))
        return 0;
    pr->match = m->index;
    infl_free_to(r, pr, m->index);
    if (pr->state == RM__RAFT_PROBE ||
        (pr->state == RM__RAFT_SNAPSHOT && pr->match >= pr->pending_snap))
        pr_reset(pr, RM__RAFT_REPLICATE, pr->match + 1);
    if (pr->next <= pr->match)
        pr->next = pr->match + 1;
    if ((rc = rm__raft_maybe_commit(r)) != 0 || r->role != RM_RAFT_LEADER)
        return rc;
    return send_append(r, pr, &any);
}

/* An empty APPEND at next-1 outside the window: if the follower holds everything sent, its
 * answer acknowledges all of it (recovering from lost acks); if not, the reject makes us probe. */
static int send_resync(struct rm_raft *r, struct rm__raft_progress *pr)
{
    struct rm_raft_msg m = {0};
    m.type = RM_RAFT_MSG_APPEND;
    m.to = pr->id;
    m.prev_index = pr->next - 1;
    m.commit = r->commit;
    if (rm__raft_log_term(&r->log, m.prev_index, &m.prev_term) != 0) {
        pr_reset(pr, RM__RAFT_PROBE, pr->match + 1);
        return 0;
    }
    return rm__raft_send(r, &m);
}

int rm__raft_on_heartbeat_resp(struct rm_raft *r, const struct rm_raft_msg *m)
{
    struct rm__raft_progress *pr = rm__raft_progress_get(r, m->from);
    bool any;
    int rc;
    if (r->role != RM_RAFT_LEADER || !pr)
        return 0;
    pr->last_active = r->now;
    if (pr->state == RM__RAFT_PROBE) {
        pr->paused = false;
    } else if (pr->state == RM__RAFT_REPLICATE && m->index < m->prev_index) {
        /* An APPEND sent before the heartbeat had not arrived when it did: it was lost.
         * (Comparing with pr->next instead would take APPENDs sent since the heartbeat, still
         * on their way, for lost ones, and resend them, each time a queue to the follower
         * grows: a resend storm that fills the queue further.) */
        pr_reset(pr, RM__RAFT_PROBE, pr->match + 1);
    } else if (pr->state == RM__RAFT_REPLICATE && pr->match < pr->next - 1) {
        if ((rc = send_resync(r, pr)) != 0) /* an ack may have been lost */
            return rc;
    } else if (pr->state == RM__RAFT_SNAPSHOT &&
               r->now >= pr->snap_sent_at + r->cfg.election_timeout_ms) {
        pr_reset(pr, RM__RAFT_PROBE, pr->match + 1); /* the snapshot was lost */
    }
    if (pr->match < rm__raft_log_last(&r->log))
        return send_append(r, pr, &any);
    return 0;
}

/* Common to every message from the leader of our term. */
static void heard_leader(struct rm_raft *r, uint64_t from)
{
    if (r->role != RM_RAFT_FOLLOWER || r->leader != from)
        rm__raft_become_follower(r, r->term, from);
    r->leader_contact = r->now;
    rm__raft_reset_election(r);
}

int rm__raft_on_heartbeat(struct rm_raft *r, const struct rm_raft_msg *m)
{
    struct rm_raft_msg resp = {0};
    uint64_t last = rm__raft_log_last(&r->log);
    heard_leader(r, m->from);
    rm__raft_commit_to(r, m->commit < last ? m->commit : last);
    resp.type = RM_RAFT_MSG_HEARTBEAT_RESP;
    resp.to = m->from;
    resp.index = last;
    resp.prev_index = m->prev_index;
    return rm__raft_send(r, &resp);
}

int rm__raft_on_snapshot(struct rm_raft *r, const struct rm_raft_msg *m)
{
    struct rm_raft_msg resp = {0};
    uint64_t t;
    heard_leader(r, m->from);
    resp.type = RM_RAFT_MSG_APPEND_RESP;
    resp.to = m->from;
    resp.index = m->snap.index;
    if (m->snap.index <= r->commit) {
        resp.index = r->commit;
    } else if (rm__raft_log_term(&r->log, m->snap.index, &t) == 0 && t == m->snap.term) {
        rm__raft_commit_to(r, m->snap.index); /* we already hold it: just fast-forward */
    } else {
        struct rm_raft_buf *b = rm__raft_buf_new(m->snap_data, m->snap_len);
        if (!b)
            return RM_ENOMEM;
        rm__raft_buf_unref(r->snap_buf);
        r->snap_buf = b;
        r->snap = m->snap;
        r->snap_unsent = true;
        rm__raft_log_reset(&r->log, m->snap.index, m->snap.term);
        r->commit = r->stable = m->snap.index;
        r->base_conf = r->conf = m->snap.conf;
        r->base_conf_index = r->conf_index = m->snap.index;
    }
    return rm__raft_send(r, &resp);
}
