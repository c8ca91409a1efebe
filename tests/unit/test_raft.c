/*
 * test_raft.c: single-node behaviour of the Raft module, driven by hand: start-up campaign,
 * the Ready contract (persist before send), pre-vote and leader stickiness, check-quorum,
 * flow control, proposal and membership rules, snapshots and InstallSnapshot, restore checks.
 * Whole-cluster behaviour is tested by tests/sim/sim_raft.
 */
#include <CUnit/Basic.h>
#include <stdlib.h>
#include <string.h>

#include "ringmaster.h"
#include "runtime/raft.h"

#define MAXQ 4096

/* Messages a node sent, kept encoded (so they outlive the Ready). */
struct outbox {
    uint8_t *buf[MAXQ];
    size_t len[MAXQ];
    uint32_t type[MAXQ];
    uint64_t to[MAXQ];
    size_t n;
    size_t persisted; /* entries handed out for persisting */
    size_t applied;   /* committed entries handed out */
    bool hs_before_vote_ok;
};

static void outbox_clear(struct outbox *o)
{
    for (size_t i = 0; i < o->n; i++)
        free(o->buf[i]);
    memset(o, 0, sizeof(*o));
}

/* Drains every Ready of r into o. */
static void drain(struct rm_raft *r, struct outbox *o)
{
    while (rm_raft_has_ready(r)) {
        struct rm_raft_ready rd;
        CU_ASSERT_EQUAL_FATAL(rm_raft_ready(r, &rd), 0);
        o->persisted += rd.n_entries;
        o->applied += rd.n_committed;
        for (size_t i = 0; i < rd.n_msgs && o->n < MAXQ; i++) {
            size_t cap = rm_raft_msg_size(&rd.msgs[i]), len;
            o->buf[o->n] = malloc(cap);
            CU_ASSERT_EQUAL_FATAL(rm_raft_msg_encode(&rd.msgs[i], o->buf[o->n], cap, &len), 0);
            o->len[o->n] = len;
            o->type[o->n] = rd.msgs[i].type;
            o->to[o->n] = rd.msgs[i].to;
            /* a granted vote must be durable in the same Ready that sends it */
            if (rd.msgs[i].type == RM_RAFT_MSG_VOTE_RESP && !rd.msgs[i].reject &&
                !rd.msgs[i].prevote)
                o->hs_before_vote_ok = rd.hs_changed && rd.hs.vote == rd.msgs[i].to;
            o->n++;
        }
        CU_ASSERT_EQUAL_FATAL(rm_raft_advance(r, &rd), 0);
    }
}

static size_t count(const struct outbox *o, uint32_t type, uint64_t to)
{
    size_t n = 0;
    for (size_t i = 0; i < o->n; i++)
        n += o->type[i] == type && (to == 0 || o->to[i] == to);
    return n;
}

/* Entries carried by the APPENDs in o addressed to `to`. */
static uint64_t entries_sent(const struct outbox *o, uint64_t to)
{
    uint64_t n = 0;
    for (size_t i = 0; i < o->n; i++) {
        struct rm_raft_msg m;
        if (o->type[i] != RM_RAFT_MSG_APPEND || o->to[i] != to)
            continue;
        CU_ASSERT_EQUAL_FATAL(rm_raft_msg_decode(o->buf[i], o->len[i], &m), 0);
        n += m.n_entries;
        rm_raft_msg_close(&m);
    }
    return n;
}

static struct rm_raft *make(uint64_t id, uint32_t voters, struct rm_raft_config *over)
{
    struct rm_raft_config cfg;
    struct rm_raft_membership m = {0};
    struct rm_raft *r = NULL;
    rm_raft_config_default(&cfg);
    if (over)
        cfg = *over;
    cfg.id = id;
    cfg.seed = 99;
    m.n_voters = voters;
    for (uint32_t i = 0; i < voters; i++)
        m.voters[i] = i + 1;
    CU_ASSERT_EQUAL_FATAL(rm_raft_create(&cfg, &m, &r), 0);
    return r;
}

static void step(struct rm_raft *r, const struct rm_raft_msg *m)
{
    CU_ASSERT_EQUAL(rm_raft_step(r, m), 0);
}

static struct rm_raft_msg msg(uint32_t type, uint64_t from, uint64_t to, uint64_t term)
{
    struct rm_raft_msg m;
    memset(&m, 0, sizeof(m));
    m.type = type;
    m.from = from;
    m.to = to;
    m.term = term;
    return m;
}

static void test_single_voter(void)
{
    struct rm_raft *r = make(1, 1, NULL);
    struct outbox o = {0};
    struct rm_raft_status st;
    uint64_t idx = 0;
    CU_ASSERT_EQUAL(rm_raft_tick(r, 1000), 0);
    rm_raft_status(r, &st);
    CU_ASSERT_EQUAL(st.role, RM_RAFT_LEADER);
    CU_ASSERT_EQUAL(st.term, 1);
    CU_ASSERT_EQUAL(rm_raft_propose(r, "x", 1, &idx), 0);
    CU_ASSERT_EQUAL(idx, 2);
    drain(r, &o);
    CU_ASSERT_EQUAL(o.persisted, 2);
    CU_ASSERT_EQUAL(o.applied, 2); /* no-op and "x", committed once durable */
    rm_raft_status(r, &st);
    CU_ASSERT_EQUAL(st.commit, 2);
    outbox_clear(&o);
    rm_raft_destroy(r);
}

static void test_startup_campaign(void)
{
    struct rm_raft *a = make(1, 3, NULL), *b = make(2, 3, NULL);
    struct outbox oa = {0}, ob = {0};
    struct rm_raft_status st;
    rm_raft_tick(a, 5);
    rm_raft_tick(b, 5);
    drain(a, &oa);
    drain(b, &ob);
    rm_raft_status(a, &st);
    CU_ASSERT_EQUAL(st.role, RM_RAFT_CANDIDATE); /* lowest id: at once, no pre-vote */
    CU_ASSERT_EQUAL(st.term, 1);
    CU_ASSERT_EQUAL(count(&oa, RM_RAFT_MSG_VOTE, 0), 2);
    CU_ASSERT_EQUAL(ob.n, 0); /* node 2 waits for its timeout */
    /* b grants; the grant leaves only together with the durable vote */
    struct rm_raft_msg d;
    CU_ASSERT_EQUAL_FATAL(rm_raft_msg_decode(oa.buf[0], oa.len[0], &d), 0);
    d.to = 2;
    step(b, &d);
    rm_raft_msg_close(&d);
    drain(b, &ob);
    CU_ASSERT_EQUAL(count(&ob, RM_RAFT_MSG_VOTE_RESP, 1), 1);
    CU_ASSERT(ob.hs_before_vote_ok);
    CU_ASSERT_EQUAL_FATAL(rm_raft_msg_decode(ob.buf[0], ob.len[0], &d), 0);
    step(a, &d);
    rm_raft_msg_close(&d);
    rm_raft_status(a, &st);
    CU_ASSERT_EQUAL(st.role, RM_RAFT_LEADER);
    outbox_clear(&oa);
    outbox_clear(&ob);
    rm_raft_destroy(a);
    rm_raft_destroy(b);
}

/* Makes r (id 2 of 3) a follower of leader 1 in term 1. */
static void follow(struct rm_raft *r, uint64_t now)
{
    struct rm_raft_msg hb = msg(RM_RAFT_MSG_HEARTBEAT, 1, 2, 1);
    rm_raft_tick(r, now);
    step(r, &hb);
}

static void test_prevote_and_stickiness(void)
{
    struct rm_raft *r = make(2, 3, NULL);
    struct outbox o = {0};
    struct rm_raft_status st;
    follow(r, 100);
    drain(r, &o);
    /* node 3 pre-votes for term 2 while our leader is alive: ignored, term unchanged */
    struct rm_raft_msg pv = msg(RM_RAFT_MSG_VOTE, 3, 2, 2);
    pv.prevote = 1;
    pv.last_index = 100;
    pv.last_term = 1;
    step(r, &pv);
    drain(r, &o);
    rm_raft_status(r, &st);
    CU_ASSERT_EQUAL(st.term, 1);
    CU_ASSERT_EQUAL(count(&o, RM_RAFT_MSG_VOTE_RESP, 3), 0);
    /* a real vote request with a higher term is ignored too (stickiness) */
    pv.prevote = 0;
    step(r, &pv);
    rm_raft_status(r, &st);
    CU_ASSERT_EQUAL(st.term, 1);
    CU_ASSERT_EQUAL(st.leader, 1);
    /* after an election timeout of silence the pre-vote is granted, still without a new term */
    rm_raft_tick(r, 100 + 151);
    pv.prevote = 1;
    step(r, &pv);
    drain(r, &o);
    rm_raft_status(r, &st);
    CU_ASSERT_EQUAL(st.term, 1);
    CU_ASSERT_EQUAL(count(&o, RM_RAFT_MSG_VOTE_RESP, 3), 1);
    /* our own timeout: a pre-candidate asks at term+1 but stays in term 1 */
    rm_raft_tick(r, 100 + 1000);
    drain(r, &o);
    rm_raft_status(r, &st);
    CU_ASSERT_EQUAL(st.role, RM_RAFT_PRECANDIDATE);
    CU_ASSERT_EQUAL(st.term, 1);
    CU_ASSERT_EQUAL(count(&o, RM_RAFT_MSG_VOTE, 0), 2);
    outbox_clear(&o);
    rm_raft_destroy(r);
}

static struct rm_raft *leader_of_three(struct outbox *o, struct rm_raft_config *cfg)
{
    struct rm_raft *r = make(1, 3, cfg);
    struct rm_raft_msg v = msg(RM_RAFT_MSG_VOTE_RESP, 2, 1, 1);
    rm_raft_tick(r, 1);
    step(r, &v);
    drain(r, o);
    return r;
}

static void test_check_quorum(void)
{
    struct outbox o = {0};
    struct rm_raft *r = leader_of_three(&o, NULL);
    struct rm_raft_status st;
    rm_raft_status(r, &st);
    CU_ASSERT_EQUAL_FATAL(st.role, RM_RAFT_LEADER);
    for (uint64_t t = 1; t <= 400; t += 10)
        rm_raft_tick(r, t); /* nobody answers */
    rm_raft_status(r, &st);
    CU_ASSERT_EQUAL(st.role, RM_RAFT_FOLLOWER);
    CU_ASSERT_EQUAL(st.leader, 0);
    drain(r, &o);
    outbox_clear(&o);
    rm_raft_destroy(r);
}

static void test_flow_control(void)
{
    struct rm_raft_config cfg;
    struct outbox o = {0};
    rm_raft_config_default(&cfg);
    cfg.max_inflight = 4;
    cfg.max_batch_entries = 2;
    cfg.check_quorum = false;
    struct rm_raft *r = leader_of_three(&o, &cfg);
    /* node 2 acks the no-op, which moves it to pipelined replication; node 3 is silent */
    struct rm_raft_msg ack = msg(RM_RAFT_MSG_APPEND_RESP, 2, 1, 1);
    ack.index = 1;
    step(r, &ack);
    drain(r, &o);
    outbox_clear(&o);
    for (int i = 0; i < 200; i++) {
        CU_ASSERT_EQUAL(rm_raft_propose(r, "abcd", 4, NULL), 0);
        drain(r, &o);
    }
    /* node 2 never acks: at most 4 batches in flight; node 3 is still probing: 0 */
    CU_ASSERT(count(&o, RM_RAFT_MSG_APPEND, 2) <= 4);
    CU_ASSERT(count(&o, RM_RAFT_MSG_APPEND, 2) >= 1);
    CU_ASSERT_EQUAL(count(&o, RM_RAFT_MSG_APPEND, 3), 0);
    outbox_clear(&o);
    rm_raft_destroy(r);
}

/* A heartbeat answer that predates APPENDs still on their way must not make the leader resend
 * them (under load that fed a resend storm); one showing that an APPEND sent before the
 * heartbeat never arrived must. */
static void test_heartbeat_is_not_a_loss(void)
{
    struct rm_raft_config cfg;
    struct outbox o = {0};
    rm_raft_config_default(&cfg);
    cfg.check_quorum = false;
    struct rm_raft *r = leader_of_three(&o, &cfg);
    struct rm_raft_msg ack = msg(RM_RAFT_MSG_APPEND_RESP, 2, 1, 1);
    ack.index = 1;
    step(r, &ack); /* node 2 holds the no-op: pipelined replication */
    drain(r, &o);
    CU_ASSERT_EQUAL(rm_raft_propose(r, "abcd", 4, NULL), 0);
    CU_ASSERT_EQUAL(rm_raft_propose(r, "efgh", 4, NULL), 0);
    drain(r, &o);
    CU_ASSERT(count(&o, RM_RAFT_MSG_APPEND, 2) >= 1);
    outbox_clear(&o);
    /* the answer to a heartbeat sent when only index 1 had gone out */
    struct rm_raft_msg hb = msg(RM_RAFT_MSG_HEARTBEAT_RESP, 2, 1, 1);
    hb.index = 1;
    hb.prev_index = 1;
    step(r, &hb);
    drain(r, &o);
    CU_ASSERT_EQUAL(entries_sent(&o, 2), 0); /* an empty resync APPEND at most */
    outbox_clear(&o);
    /* the answer to a heartbeat sent after index 3: the APPENDs before it were lost */
    hb.prev_index = 3;
    step(r, &hb);
    drain(r, &o);
    CU_ASSERT(entries_sent(&o, 2) >= 2);
    outbox_clear(&o);
    rm_raft_destroy(r);
}

static void test_uncommitted_cap(void)
{
    struct rm_raft_config cfg;
    struct outbox o = {0};
    uint8_t big[100] = {0};
    rm_raft_config_default(&cfg);
    cfg.max_uncommitted_bytes = 250;
    cfg.check_quorum = false;
    struct rm_raft *r = leader_of_three(&o, &cfg);
    CU_ASSERT_EQUAL(rm_raft_propose(r, big, 100, NULL), 0);
    CU_ASSERT_EQUAL(rm_raft_propose(r, big, 100, NULL), 0);
    CU_ASSERT_EQUAL(rm_raft_propose(r, big, 100, NULL), RM_EBUSY); /* 300 > 250 */
    drain(r, &o);
    struct rm_raft_msg ack = msg(RM_RAFT_MSG_APPEND_RESP, 2, 1, 1);
    ack.index = 3; /* both committed: room again */
    step(r, &ack);
    drain(r, &o);
    CU_ASSERT_EQUAL(rm_raft_propose(r, big, 100, NULL), 0);
    outbox_clear(&o);
    rm_raft_destroy(r);
}

static void test_proposal_rules(void)
{
    struct outbox o = {0};
    struct rm_raft *f = make(2, 3, NULL);
    CU_ASSERT_EQUAL(rm_raft_propose(f, "x", 1, NULL), RM_EBUSY);
    CU_ASSERT_EQUAL(rm_raft_propose_change(f, RM_RAFT_ADD_LEARNER, 9, NULL), RM_EBUSY);
    rm_raft_destroy(f);

    struct rm_raft *r = leader_of_three(&o, NULL);
    /* nothing of this term committed yet: no membership change */
    CU_ASSERT_EQUAL(rm_raft_propose_change(r, RM_RAFT_ADD_LEARNER, 9, NULL), RM_EBUSY);
    struct rm_raft_msg ack = msg(RM_RAFT_MSG_APPEND_RESP, 2, 1, 1);
    ack.index = 1;
    step(r, &ack);
    drain(r, &o);
    CU_ASSERT_EQUAL(rm_raft_propose_change(r, RM_RAFT_PROMOTE, 9, NULL), RM_EINVAL);
    CU_ASSERT_EQUAL(rm_raft_propose_change(r, RM_RAFT_ADD_LEARNER, 2, NULL), RM_EINVAL);
    uint64_t idx = 0;
    CU_ASSERT_EQUAL(rm_raft_propose_change(r, RM_RAFT_ADD_LEARNER, 9, &idx), 0);
    CU_ASSERT_EQUAL(idx, 2);
    /* the first change is not committed: a second one must wait */
    CU_ASSERT_EQUAL(rm_raft_propose_change(r, RM_RAFT_PROMOTE, 9, NULL), RM_EBUSY);
    struct rm_raft_status st;
    rm_raft_status(r, &st);
    CU_ASSERT(rm_raft_membership_is_learner(&st.conf, 9)); /* in force once appended */
    CU_ASSERT_EQUAL(st.conf_index, 2);
    drain(r, &o);
    CU_ASSERT(count(&o, RM_RAFT_MSG_APPEND, 9) >= 1); /* the learner is replicated to */
    outbox_clear(&o);
    rm_raft_destroy(r);
}

/* Acks index from node `from` to leader r. */
static void ack_from(struct rm_raft *r, uint64_t from, uint64_t index, struct outbox *o)
{
    struct rm_raft_msg ack = msg(RM_RAFT_MSG_APPEND_RESP, from, 1, 1);
    ack.index = index;
    step(r, &ack);
    drain(r, o);
}

static void test_learner_promotion_and_removed_leader(void)
{
    struct rm_raft_config cfg;
    struct outbox o = {0};
    struct rm_raft_status st;
    uint64_t idx;
    rm_raft_config_default(&cfg);
    cfg.check_quorum = false;
    struct rm_raft *r = leader_of_three(&o, &cfg);
    ack_from(r, 2, 1, &o);
    CU_ASSERT_EQUAL(rm_raft_propose_change(r, RM_RAFT_ADD_LEARNER, 9, &idx), 0);
    drain(r, &o);
    ack_from(r, 9, idx, &o); /* a learner's ack does not count */
    rm_raft_status(r, &st);
    CU_ASSERT_EQUAL(st.commit, 1);
    ack_from(r, 2, idx, &o);
    rm_raft_status(r, &st);
    CU_ASSERT_EQUAL(st.commit, idx);
    CU_ASSERT_EQUAL(rm_raft_propose_change(r, RM_RAFT_PROMOTE, 9, &idx), 0);
    drain(r, &o);
    rm_raft_status(r, &st);
    CU_ASSERT(rm_raft_membership_is_voter(&st.conf, 9));
    CU_ASSERT_EQUAL(st.conf.n_voters, 4);
    ack_from(r, 2, idx, &o); /* 2 of 4 voters: no quorum any more */
    rm_raft_status(r, &st);
    CU_ASSERT_EQUAL(st.commit, idx - 1);
    ack_from(r, 9, idx, &o); /* the new voter completes the quorum */
    rm_raft_status(r, &st);
    CU_ASSERT_EQUAL(st.commit, idx);
    /* remove the leader itself: it leads until the change commits, without counting itself */
    CU_ASSERT_EQUAL(rm_raft_propose_change(r, RM_RAFT_REMOVE, 1, &idx), 0);
    drain(r, &o);
    ack_from(r, 2, idx, &o);
    rm_raft_status(r, &st);
    CU_ASSERT_EQUAL(st.role, RM_RAFT_LEADER); /* 1 of the 3 remaining voters */
    ack_from(r, 3, idx, &o);
    rm_raft_status(r, &st);
    CU_ASSERT_EQUAL(st.commit, idx);
    CU_ASSERT_EQUAL(st.role, RM_RAFT_FOLLOWER);      /* committed: the removed leader steps down */
    CU_ASSERT_EQUAL(rm_raft_campaign(r), RM_EINVAL); /* and never campaigns again */
    outbox_clear(&o);
    rm_raft_destroy(r);
}

static void test_snapshot_install(void)
{
    struct rm_raft_config cfg;
    struct outbox o = {0};
    rm_raft_config_default(&cfg);
    cfg.check_quorum = false;
    struct rm_raft *r = leader_of_three(&o, &cfg);
    struct rm_raft_msg ack = msg(RM_RAFT_MSG_APPEND_RESP, 2, 1, 1);
    for (int i = 0; i < 10; i++)
        rm_raft_propose(r, "e", 1, NULL);
    drain(r, &o);
    ack.index = 11;
    step(r, &ack);
    drain(r, &o);
    struct rm_raft_status st;
    rm_raft_status(r, &st);
    CU_ASSERT_EQUAL_FATAL(st.applied, 11);
    CU_ASSERT_EQUAL(rm_raft_snapshot(r, 12, "S", 1, NULL), RM_EINVAL); /* beyond applied */
    struct rm_raft_snapshot_meta meta;
    CU_ASSERT_EQUAL(rm_raft_snapshot(r, 11, "SNAP", 4, &meta), 0);
    CU_ASSERT_EQUAL(meta.index, 11);
    CU_ASSERT_EQUAL(meta.term, 1);
    CU_ASSERT_EQUAL(meta.conf.n_voters, 3);
    outbox_clear(&o);
    /* node 3 never got the no-op; its heartbeat answer lets the leader probe again, and the
     * entry it needs is compacted away: it must get the snapshot */
    struct rm_raft_msg hr = msg(RM_RAFT_MSG_HEARTBEAT_RESP, 3, 1, 1);
    step(r, &hr);
    drain(r, &o);
    CU_ASSERT_EQUAL(count(&o, RM_RAFT_MSG_SNAPSHOT, 3), 1);

    /* a fresh follower installs it: the Ready carries the snapshot and nothing to apply */
    struct rm_raft *f = make(3, 3, &cfg);
    struct outbox of = {0};
    struct rm_raft_msg sm;
    size_t k = 0;
    while (k + 1 < o.n && o.type[k] != RM_RAFT_MSG_SNAPSHOT)
        k++;
    CU_ASSERT_EQUAL_FATAL(o.type[k], RM_RAFT_MSG_SNAPSHOT);
    CU_ASSERT_EQUAL_FATAL(rm_raft_msg_decode(o.buf[k], o.len[k], &sm), 0);
    rm_raft_tick(f, 1);
    step(f, &sm);
    struct rm_raft_ready rd;
    CU_ASSERT_EQUAL_FATAL(rm_raft_ready(f, &rd), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rd.snapshot);
    CU_ASSERT_EQUAL(rd.snapshot->index, 11);
    CU_ASSERT_EQUAL(rd.snap_len, 4);
    CU_ASSERT(!memcmp(rd.snap_data, "SNAP", 4));
    CU_ASSERT_EQUAL(rd.n_committed, 0);
    CU_ASSERT_EQUAL(rd.hs.commit, 11);
    CU_ASSERT_EQUAL(rm_raft_step(f, &sm), RM_EBUSY); /* nothing between ready and advance */
    CU_ASSERT_EQUAL(rm_raft_advance(f, &rd), 0);
    rm_raft_msg_close(&sm);
    drain(f, &of);
    rm_raft_status(f, &st);
    CU_ASSERT_EQUAL(st.applied, 11);
    CU_ASSERT_EQUAL(st.first_index, 12);
    outbox_clear(&o);
    outbox_clear(&of);
    rm_raft_destroy(f);
    rm_raft_destroy(r);
}

static void test_restore_checks(void)
{
    struct rm_raft *r = make(1, 3, NULL);
    struct rm_raft_entry e[2] = {{1, 1, RM_RAFT_ENTRY_NOOP, 0, NULL, NULL},
                                 {1, 3, RM_RAFT_ENTRY_NORMAL, 1, (const uint8_t *)"x", NULL}};
    struct rm_raft_hard_state hs = {1, 1, 0};
    CU_ASSERT_EQUAL(rm_raft_restore(r, &hs, NULL, NULL, 0, e, 2), RM_EINVAL); /* gap */
    rm_raft_destroy(r);
    r = make(1, 3, NULL);
    e[1].index = 2;
    hs.commit = 5;
    CU_ASSERT_EQUAL(rm_raft_restore(r, &hs, NULL, NULL, 0, e, 2), RM_EINVAL); /* commit > log */
    rm_raft_destroy(r);
    r = make(1, 3, NULL);
    hs.commit = 2;
    CU_ASSERT_EQUAL(rm_raft_restore(r, &hs, NULL, NULL, 0, e, 2), 0);
    struct rm_raft_status st;
    rm_raft_status(r, &st);
    CU_ASSERT_EQUAL(st.last_index, 2);
    CU_ASSERT_EQUAL(st.commit, 2);
    CU_ASSERT_EQUAL(st.vote, 1);
    struct outbox o = {0};
    rm_raft_tick(r, 10); /* a restarted node never does the start-up campaign */
    drain(r, &o);
    CU_ASSERT_EQUAL(count(&o, RM_RAFT_MSG_VOTE, 0), 0);
    CU_ASSERT_EQUAL(o.applied, 2); /* committed entries are re-applied after a restart */
    outbox_clear(&o);
    rm_raft_destroy(r);

    struct rm_raft_config cfg;
    struct rm_raft_membership m = {0};
    rm_raft_config_default(&cfg);
    CU_ASSERT_EQUAL(rm_raft_create(&cfg, &m, &r), RM_EINVAL); /* id 0 */
    cfg.id = 1;
    m.n_voters = 2;
    m.voters[0] = m.voters[1] = 4; /* duplicate */
    CU_ASSERT_EQUAL(rm_raft_create(&cfg, &m, &r), RM_EINVAL);
}

static uint64_t g_rng = 12345;

static uint64_t rnd(uint64_t n)
{
    uint64_t z = (g_rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return (z ^ (z >> 31)) % n;
}

static struct rm_raft_msg random_msg(struct rm_raft_entry *ents, uint8_t *junk)
{
    struct rm_raft_msg m = msg((uint32_t)rnd(9), rnd(5), rnd(8) ? 1 : rnd(4), rnd(6));
    m.prevote = (uint32_t)rnd(2);
    m.reject = (uint32_t)rnd(2);
    m.last_index = m.prev_index = rnd(30);
    m.last_term = m.prev_term = rnd(6);
    m.commit = rnd(40);
    m.index = rnd(40);
    m.hint_index = rnd(40);
    m.hint_term = rnd(6);
    m.n_entries = (uint32_t)rnd(4);
    m.entries = ents;
    for (uint32_t i = 0; i < m.n_entries; i++) {
        ents[i].index = m.prev_index + 1 + i;
        ents[i].term = m.prev_term + rnd(2);
        ents[i].type = 1 + (uint32_t)rnd(3);
        ents[i].len = (uint32_t)rnd(17);
        ents[i].data = junk;
    }
    m.snap.index = rnd(40);
    m.snap.term = rnd(6);
    m.snap.conf.n_voters = 1 + (uint32_t)rnd(3);
    for (uint32_t i = 0; i < m.snap.conf.n_voters; i++)
        m.snap.conf.voters[i] = i + 1;
    m.snap_len = 4;
    m.snap_data = junk;
    return m;
}

/* Random, often nonsensical messages, ticks and proposals: the node must never crash and must
 * keep commit <= last index and applied <= commit. */
static void test_random_input(void)
{
    struct rm_raft_entry ents[4];
    uint8_t junk[32];
    for (int i = 0; i < 32; i++)
        junk[i] = (uint8_t)rnd(256);
    for (int round = 0; round < 40; round++) {
        struct outbox o = {0};
        struct rm_raft *r = round % 2 ? leader_of_three(&o, NULL) : make(1, 3, NULL);
        uint64_t now = 10;
        for (int i = 0; i < 500; i++) {
            struct rm_raft_msg m = random_msg(ents, junk);
            int rc = rm_raft_step(r, &m);
            CU_ASSERT(rc == 0 || rc == RM_EINVAL || rc == RM_EPROTO);
            if (rnd(10) == 0)
                rm_raft_tick(r, now += rnd(200));
            if (rnd(10) == 0)
                rm_raft_propose(r, junk, 8, NULL);
            drain(r, &o);
            outbox_clear(&o);
            struct rm_raft_status st;
            rm_raft_status(r, &st);
            CU_ASSERT(st.commit <= st.last_index);
            CU_ASSERT(st.applied <= st.commit);
            CU_ASSERT(st.first_index <= st.last_index + 1);
        }
        rm_raft_destroy(r);
    }
}

int main(void)
{
    CU_pSuite s;
    unsigned failures;
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    s = CU_add_suite("raft", NULL, NULL);
    if (!s || !CU_add_test(s, "single voter", test_single_voter) ||
        !CU_add_test(s, "start-up campaign and durable vote", test_startup_campaign) ||
        !CU_add_test(s, "pre-vote and stickiness", test_prevote_and_stickiness) ||
        !CU_add_test(s, "check-quorum", test_check_quorum) ||
        !CU_add_test(s, "flow control", test_flow_control) ||
        !CU_add_test(s, "a heartbeat answer is not a lost APPEND", test_heartbeat_is_not_a_loss) ||
        !CU_add_test(s, "uncommitted bytes cap", test_uncommitted_cap) ||
        !CU_add_test(s, "proposal and membership rules", test_proposal_rules) ||
        !CU_add_test(s, "learner promotion, removed leader",
                     test_learner_promotion_and_removed_leader) ||
        !CU_add_test(s, "snapshot and InstallSnapshot", test_snapshot_install) ||
        !CU_add_test(s, "restore checks", test_restore_checks) ||
        !CU_add_test(s, "random input", test_random_input)) {
        CU_cleanup_registry();
        return 1;
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failures = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failures ? 1 : 0;
}
