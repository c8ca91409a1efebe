/*
 * raft_membership.c: configurations and one-server-at-a-time membership changes.
 *
 * A configuration takes effect as soon as its entry is in the log (committed or not), as in the
 * Raft dissertation; if that entry is truncated away, the previous one is back in force. Each
 * CONFIG entry carries the whole membership, so a node that joins learns it from one entry.
 */
#include <stdlib.h>
#include <string.h>

#include "ringmaster.h"
#include "runtime/raft_int.h"

bool rm_raft_membership_is_voter(const struct rm_raft_membership *m, uint64_t id)
{
    for (uint32_t i = 0; i < m->n_voters; i++)
        if (m->voters[i] == id)
            return true;
    return false;
}

bool rm_raft_membership_is_learner(const struct rm_raft_membership *m, uint64_t id)
{
    for (uint32_t i = 0; i < m->n_learners; i++)
        if (m->learners[i] == id)
            return true;
    return false;
}

/* Stores in *out the configuration in force at index (and in *at the index of its entry).
 * Returns 0 or RM_ECORRUPT if a CONFIG entry in the log does not decode. */
int rm__raft_conf_at(const struct rm_raft *r, uint64_t index, struct rm_raft_membership *out,
                     uint64_t *at)
{
    uint64_t last = rm__raft_log_last(&r->log);
    for (uint64_t i = index < last ? index : last; i > r->log.base; i--) {
        const struct rm_raft_entry *e = rm__raft_log_get(&r->log, i);
        if (e->type != RM_RAFT_ENTRY_CONFIG)
            continue;
        if (at)
            *at = i;
        return rm_raft_membership_decode(e->data, e->len, out) == 0 ? 0 : RM_ECORRUPT;
    }
    *out = r->base_conf;
    if (at)
        *at = r->base_conf_index;
    return 0;
}

struct rm__raft_progress *rm__raft_progress_get(struct rm_raft *r, uint64_t id)
{
    for (uint32_t i = 0; i < r->n_prs; i++)
        if (r->prs[i].id == id)
            return &r->prs[i];
    return NULL;
}

static int progress_add(struct rm_raft *r, uint64_t id)
{
    struct rm__raft_progress *pr = &r->prs[r->n_prs];
    memset(pr, 0, sizeof(*pr));
    pr->infl = calloc(r->cfg.max_inflight, sizeof(*pr->infl));
    if (!pr->infl)
        return RM_ENOMEM;
    pr->id = id;
    pr->next = rm__raft_log_last(&r->log) + 1;
    pr->state = RM__RAFT_PROBE;
    pr->last_active = r->now; /* a new member gets one election timeout of grace */
    r->n_prs++;
    return 0;
}

static bool is_member(const struct rm_raft_membership *m, uint64_t id)
{
    return rm_raft_membership_is_voter(m, id) || rm_raft_membership_is_learner(m, id);
}

/* Makes the progress table match the configuration: one entry per other member. */
int rm__raft_sync_progress(struct rm_raft *r)
{
    int rc = 0;
    for (uint32_t i = 0; i < r->n_prs;) {
        if (is_member(&r->conf, r->prs[i].id)) {
            i++;
            continue;
        }
        rm__raft_progress_free(&r->prs[i]);
        r->prs[i] = r->prs[--r->n_prs];
    }
    for (uint32_t i = 0; i < r->conf.n_voters + r->conf.n_learners && rc == 0; i++) {
        uint64_t id =
            i < r->conf.n_voters ? r->conf.voters[i] : r->conf.learners[i - r->conf.n_voters];
        if (id != r->id && !rm__raft_progress_get(r, id))
            rc = progress_add(r, id);
    }
    return rc;
}

/* Recomputes the configuration in force from the log after it changed. */
int rm__raft_conf_refresh(struct rm_raft *r)
{
    int rc = rm__raft_conf_at(r, rm__raft_log_last(&r->log), &r->conf, &r->conf_index);
    if (rc == 0 && r->role == RM_RAFT_LEADER)
        rc = rm__raft_sync_progress(r);
    return rc;
}

/* A leader whose removal has committed steps down; it is no longer a voter, so it will not
 * campaign again. */
int rm__raft_on_commit_conf(struct rm_raft *r)
{
    if (r->role == RM_RAFT_LEADER && r->conf_index <= r->commit && !rm__raft_is_voter(r, r->id))
        rm__raft_become_follower(r, r->term, 0);
    return 0;
}

static void id_remove(uint64_t *v, uint32_t *n, uint64_t id)
{
    for (uint32_t i = 0; i < *n; i++) {
        if (v[i] == id) {
            v[i] = v[--*n];
            return;
        }
    }
}

/* Applies op to *m. Returns 0 or RM_EINVAL. */
static int change(struct rm_raft_membership *m, enum rm_raft_change_op op, uint64_t node)
{
    switch (op) {
    case RM_RAFT_ADD_LEARNER:
        if (node == 0 || is_member(m, node) || m->n_learners >= RM_RAFT_MAX_LEARNERS)
            return RM_EINVAL;
        m->learners[m->n_learners++] = node;
        return 0;
    case RM_RAFT_PROMOTE:
        if (!rm_raft_membership_is_learner(m, node) || m->n_voters >= RM_RAFT_MAX_VOTERS)
            return RM_EINVAL;
        id_remove(m->learners, &m->n_learners, node);
        m->voters[m->n_voters++] = node;
        return 0;
    case RM_RAFT_REMOVE:
        if (rm_raft_membership_is_learner(m, node)) {
            id_remove(m->learners, &m->n_learners, node);
            return 0;
        }
        if (!rm_raft_membership_is_voter(m, node) || m->n_voters == 1)
            return RM_EINVAL;
        id_remove(m->voters, &m->n_voters, node);
        return 0;
    default:
        return RM_EINVAL;
    }
}

int rm_raft_propose_change(struct rm_raft *r, enum rm_raft_change_op op, uint64_t node,
                           uint64_t *index)
{
    int rc = RM_EBUSY;
    struct rm_raft_membership next;
    uint8_t buf[(RM__RAFT_MAX_MEMBERS + 1) * 8 + 8];
    int n;
    if (r->ready_out || r->role != RM_RAFT_LEADER)
        goto out;
    /* one change at a time, and only once this leader has committed in its own term */
    if (r->commit < r->term_start || r->conf_index > r->commit)
        goto out;
    next = r->conf;
    if ((rc = change(&next, op, node)) != 0)
        goto out;
    if ((n = rm_raft_membership_encode(&next, buf, sizeof(buf))) < 0) {
        rc = n;
        goto out;
    }
    rc = rm__raft_leader_append(r, RM_RAFT_ENTRY_CONFIG, buf, (uint32_t)n, index);
out:
    return rc;
}
