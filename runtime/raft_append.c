/*
 * raft_append.c: the follower's handling of AppendEntries.
 *
 * Messages may arrive late, twice or out of order. So an entry already in the log with the same
 * term is never touched (a stale message must not truncate newer entries), only a conflicting
 * entry truncates the log, and the reply names the last index of THIS message, never our last
 * index (our tail beyond it may not match the leader's log).
 */
#include <stdlib.h>
#include <string.h>

#include "ringmaster.h"
#include "runtime/raft_int.h"

/* Checks what the codec cannot: consecutive indexes, terms not decreasing nor above the
 * message's term, config payloads that decode. */
static bool entries_valid(const struct rm_raft_msg *m)
{
    uint64_t term = m->prev_term;
    struct rm_raft_membership conf;
    if (m->n_entries && !m->entries)
        return false;
    for (uint32_t i = 0; i < m->n_entries; i++) {
        const struct rm_raft_entry *e = &m->entries[i];
        if (e->index != m->prev_index + 1 + i || e->term < term || e->term > m->term)
            return false;
        if (e->type < RM_RAFT_ENTRY_NORMAL || e->type > RM_RAFT_ENTRY_CONFIG)
            return false;
        if (e->len && !e->data)
            return false;
        if (e->type == RM_RAFT_ENTRY_CONFIG &&
            rm_raft_membership_decode(e->data, e->len, &conf) != 0)
            return false;
        term = e->term;
    }
    return true;
}

static int reject(struct rm_raft *r, const struct rm_raft_msg *m)
{
    struct rm_raft_msg resp = {0};
    uint64_t last = rm__raft_log_last(&r->log), t = 0;
    uint64_t hint = m->prev_index < last ? m->prev_index : last;
    /* skip back over entries whose term is above the leader's prev_term: none can match */
    while (hint > r->log.base && rm__raft_log_term(&r->log, hint, &t) == 0 && t > m->prev_term)
        hint--;
    rm__raft_log_term(&r->log, hint, &t);
    resp.type = RM_RAFT_MSG_APPEND_RESP;
    resp.to = m->from;
    resp.reject = 1;
    resp.index = m->prev_index;
    resp.hint_index = hint;
    resp.hint_term = t;
    return rm__raft_send(r, &resp);
}

static int accept(struct rm_raft *r, const struct rm_raft_msg *m, uint64_t index)
{
    struct rm_raft_msg resp = {0};
    resp.type = RM_RAFT_MSG_APPEND_RESP;
    resp.to = m->from;
    resp.index = index;
    return rm__raft_send(r, &resp);
}

/* Appends ents[0..n) after the matching prefix, truncating at the first conflict. */
static int merge(struct rm_raft *r, const struct rm_raft_entry *ents, uint32_t n)
{
    int rc = 0;
    bool conf_changed = false;
    uint32_t i = 0;
    for (; i < n; i++) {
        uint64_t t;
        if (rm__raft_log_term(&r->log, ents[i].index, &t) != 0)
            break; /* beyond our last entry */
        if (t == ents[i].term)
            continue;
        if (ents[i].index <= r->commit)
            return RM_EPROTO; /* a committed entry never conflicts: the sender is broken */
        rm__raft_log_truncate(&r->log, ents[i].index);
        if (r->stable >= ents[i].index)
            r->stable = ents[i].index - 1;
        conf_changed |= r->conf_index >= ents[i].index;
        break;
    }
    for (; i < n && rc == 0; i++) {
        rc = rm__raft_log_append(&r->log, &ents[i]);
        conf_changed |= ents[i].type == RM_RAFT_ENTRY_CONFIG;
    }
    if (rc == 0 && conf_changed)
        rc = rm__raft_conf_refresh(r);
    return rc;
}

int rm__raft_on_append(struct rm_raft *r, const struct rm_raft_msg *m)
{
    int rc;
    const struct rm_raft_entry *ents = m->entries;
    uint32_t n = m->n_entries;
    uint64_t prev = m->prev_index, prev_term = m->prev_term, t;

    if (!entries_valid(m))
        return RM_EINVAL;
    if (r->role != RM_RAFT_FOLLOWER || r->leader != m->from)
        rm__raft_become_follower(r, r->term, m->from);
    r->leader_contact = r->now;
    rm__raft_reset_election(r);
    if (prev < r->commit) {
        /* everything up to our commit index matches the leader: skip that part */
        uint64_t skip = r->commit - prev < n ? r->commit - prev : n;
        if (prev + skip < r->commit)
            return accept(r, m, r->commit);
        ents += skip;
        n -= (uint32_t)skip;
        prev += skip;
        prev_term = skip ? ents[-1].term : prev_term;
    }
    if (rm__raft_log_term(&r->log, prev, &t) != 0 || t != prev_term)
        return reject(r, m);
    if ((rc = merge(r, ents, n)) != 0)
        return rc;
    uint64_t last_new = prev + n;
    rm__raft_commit_to(r, m->commit < last_new ? m->commit : last_new);
    return accept(r, m, last_new);
}
