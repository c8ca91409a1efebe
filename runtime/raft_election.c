/*
 * raft_election.c: roles, pre-vote, RequestVote and the vote count.
 *
 * With pre-vote a node first asks "would you vote for me at term+1?" without touching its own
 * term; only with a quorum of yeses does it increment the term and campaign for real. Together
 * with leader stickiness (rm__raft_in_lease) this keeps a partitioned or resumed node from
 * dethroning a healthy leader by inflating terms.
 */
#include <string.h>

#include "ringmaster.h"
#include "runtime/raft_int.h"

/* True if this node has heard from a live leader within the election timeout (or is a leader
 * with check-quorum, which steps down on its own when it loses the quorum). */
bool rm__raft_in_lease(const struct rm_raft *r)
{
    if (!r->cfg.check_quorum || r->leader == 0)
        return false;
    if (r->role == RM_RAFT_LEADER)
        return true;
    return r->now < r->leader_contact + r->cfg.election_timeout_ms;
}

static void reset_votes(struct rm_raft *r)
{
    r->n_granted = 0;
    r->n_rejected = 0;
}

void rm__raft_become_follower(struct rm_raft *r, uint64_t term, uint64_t leader)
{
    if (term != r->term) {
        r->term = term;
        r->vote = 0;
    }
    r->role = RM_RAFT_FOLLOWER;
    r->leader = leader;
    if (leader)
        r->leader_contact = r->now;
    r->bcast_pending = false;
    reset_votes(r);
    rm__raft_reset_election(r);
}

static int send_vote_requests(struct rm_raft *r, bool prevote)
{
    int rc = 0;
    for (uint32_t i = 0; i < r->conf.n_voters && rc == 0; i++) {
        if (r->conf.voters[i] == r->id)
            continue;
        struct rm_raft_msg m = {0};
        m.type = RM_RAFT_MSG_VOTE;
        m.to = r->conf.voters[i];
        m.term = prevote ? r->term + 1 : r->term;
        m.prevote = prevote;
        m.last_index = rm__raft_log_last(&r->log);
        m.last_term = rm__raft_log_last_term(&r->log);
        rc = rm__raft_send(r, &m);
    }
    return rc;
}

/* Records a vote; returns 1 on a won election, -1 on a lost one, 0 while undecided. */
static int tally(struct rm_raft *r, uint64_t from, bool granted)
{
    uint64_t *set = granted ? r->granted : r->rejected;
    uint32_t *n = granted ? &r->n_granted : &r->n_rejected;
    for (uint32_t i = 0; i < r->n_granted; i++)
        if (r->granted[i] == from)
            return 0;
    for (uint32_t i = 0; i < r->n_rejected; i++)
        if (r->rejected[i] == from)
            return 0;
    if (!rm__raft_is_voter(r, from) || *n >= RM_RAFT_MAX_VOTERS)
        return 0;
    set[(*n)++] = from;
    if (r->n_granted >= rm__raft_quorum(r))
        return 1;
    if (r->n_rejected > r->conf.n_voters - rm__raft_quorum(r))
        return -1;
    return 0;
}

/* Starts a (pre-)election. The caller checked that this node is a voter. */
int rm__raft_start_election(struct rm_raft *r, bool prevote)
{
    int rc;
    reset_votes(r);
    r->leader = 0;
    r->bcast_pending = false;
    rm__raft_reset_election(r);
    if (prevote) {
        r->role = RM_RAFT_PRECANDIDATE;
    } else {
        r->role = RM_RAFT_CANDIDATE;
        r->term++;
        r->vote = r->id;
    }
    int won = tally(r, r->id, true);
    if (won == 1)
        return prevote ? rm__raft_start_election(r, false) : rm__raft_become_leader(r);
    if ((rc = send_vote_requests(r, prevote)) != 0)
        return rc;
    return 0;
}

static bool log_up_to_date(const struct rm_raft *r, uint64_t last_index, uint64_t last_term)
{
    uint64_t my_term = rm__raft_log_last_term(&r->log);
    return last_term > my_term ||
           (last_term == my_term && last_index >= rm__raft_log_last(&r->log));
}

int rm__raft_on_vote(struct rm_raft *r, const struct rm_raft_msg *m)
{
    bool can_vote =
        r->vote == m->from || (r->vote == 0 && r->leader == 0) || (m->prevote && m->term > r->term);
    bool grant = can_vote && log_up_to_date(r, m->last_index, m->last_term);
    struct rm_raft_msg resp = {0};
    resp.type = RM_RAFT_MSG_VOTE_RESP;
    resp.to = m->from;
    resp.prevote = m->prevote;
    resp.reject = !grant;
    /* a granted pre-vote answers in the candidate's future term; anything else in ours */
    resp.term = grant && m->prevote ? m->term : r->term;
    if (grant && !m->prevote) {
        r->vote = m->from;
        rm__raft_reset_election(r);
    }
    return rm__raft_send(r, &resp);
}

int rm__raft_on_vote_resp(struct rm_raft *r, const struct rm_raft_msg *m)
{
    bool mine = (r->role == RM_RAFT_PRECANDIDATE && m->prevote) ||
                (r->role == RM_RAFT_CANDIDATE && !m->prevote);
    if (!mine)
        return 0;
    if (m->prevote && !m->reject && m->term != r->term + 1)
        return 0; /* a grant for an older pre-vote round */
    int result = tally(r, m->from, !m->reject);
    if (result == 1)
        return m->prevote ? rm__raft_start_election(r, false) : rm__raft_become_leader(r);
    if (result == -1)
        rm__raft_become_follower(r, r->term, 0);
    return 0;
}
