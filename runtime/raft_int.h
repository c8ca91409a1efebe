/*
 * raft_int.h: internals shared by the raft_*.c files. Not for use outside runtime/raft*.
 */
#ifndef RM_RAFT_INT_H
#define RM_RAFT_INT_H

#include "runtime/raft.h"

#define RM__RAFT_MAX_MEMBERS (RM_RAFT_MAX_VOTERS + RM_RAFT_MAX_LEARNERS)

/* Reference-counted payload. */
struct rm_raft_buf {
    uint32_t refs;
    uint64_t len;
    uint8_t data[];
};

/* The in-memory log: entries base+1 .. base+n; base_term is the term at base. */
struct rm__raft_log {
    struct rm_raft_entry *ents;
    size_t n;
    size_t cap;
    uint64_t base;
    uint64_t base_term;
};

enum rm__raft_pr_state {
    RM__RAFT_PROBE = 0,     /* one APPEND at a time until the match point is found */
    RM__RAFT_REPLICATE = 1, /* pipelined APPENDs, bounded by the inflight window */
    RM__RAFT_SNAPSHOT = 2,  /* a SNAPSHOT is on its way */
};

/* The leader's view of one follower or learner. */
struct rm__raft_progress {
    uint64_t id;
    uint64_t match;
    uint64_t next;
    int state;
    bool paused;           /* PROBE: an APPEND is outstanding */
    uint64_t last_active;  /* when the leader last heard from it (check-quorum) */
    uint64_t pending_snap; /* SNAPSHOT: index of the snapshot sent */
    uint64_t snap_sent_at;
    uint64_t *infl; /* ring of last indexes of APPENDs in flight */
    uint32_t infl_start;
    uint32_t infl_count;
};

struct rm__raft_msgq {
    struct rm_raft_msg *v;
    size_t n;
    size_t cap;
};

struct rm_raft {
    struct rm_raft_config cfg;
    uint64_t id;
    uint64_t term;
    uint64_t vote;
    uint64_t leader;
    int role;
    uint64_t rng;

    struct rm__raft_log log;
    uint64_t stable; /* last index the driver has persisted */
    uint64_t commit;
    uint64_t applied;

    /* latest snapshot: what followers behind the log receive */
    struct rm_raft_snapshot_meta snap;
    struct rm_raft_buf *snap_buf;
    bool snap_unsent; /* received from a leader, not yet handed to the driver */

    struct rm_raft_membership initial;
    struct rm_raft_membership conf; /* latest configuration in the log: the one in force */
    uint64_t conf_index;
    struct rm_raft_membership base_conf; /* configuration in force at log.base */
    uint64_t base_conf_index;

    struct rm__raft_progress prs[RM__RAFT_MAX_MEMBERS];
    uint32_t n_prs;
    uint64_t granted[RM_RAFT_MAX_VOTERS];
    uint64_t rejected[RM_RAFT_MAX_VOTERS];
    uint32_t n_granted;
    uint32_t n_rejected;

    uint64_t now;
    bool started;        /* first tick seen */
    bool start_campaign; /* campaign at the first tick */
    uint64_t election_due;
    uint64_t heartbeat_due;
    uint64_t leader_contact; /* last time the current leader was heard from */
    uint64_t term_start;     /* index of this leader's first entry (its no-op) */
    uint64_t uncommitted;    /* payload bytes proposed by this leader, not yet committed */
    bool bcast_pending;

    struct rm__raft_msgq msgs;
    struct rm__raft_msgq sending; /* the messages of the outstanding Ready */
    bool ready_out;
    struct rm_raft_hard_state last_hs;
    uint64_t last_leader;
    int last_role;
    uint64_t ready_commit; /* commit covered by the outstanding Ready */
    uint64_t ready_stable; /* last index handed out for persisting */
    bool ready_had_snap;
};

/* ---- raft_log.c ---- */
struct rm_raft_buf *rm__raft_buf_new(const void *data, uint64_t len);
void rm__raft_buf_ref(struct rm_raft_buf *b);
void rm__raft_buf_unref(struct rm_raft_buf *b);
void rm__raft_log_init(struct rm__raft_log *l);
void rm__raft_log_close(struct rm__raft_log *l);
uint64_t rm__raft_log_last(const struct rm__raft_log *l);
uint64_t rm__raft_log_last_term(const struct rm__raft_log *l);
int rm__raft_log_term(const struct rm__raft_log *l, uint64_t index, uint64_t *term);
const struct rm_raft_entry *rm__raft_log_get(const struct rm__raft_log *l, uint64_t index);
int rm__raft_log_append(struct rm__raft_log *l, const struct rm_raft_entry *e);
void rm__raft_log_truncate(struct rm__raft_log *l, uint64_t from);
void rm__raft_log_compact(struct rm__raft_log *l, uint64_t upto);
void rm__raft_log_reset(struct rm__raft_log *l, uint64_t base, uint64_t base_term);
void rm__raft_entry_copy(struct rm_raft_entry *dst, const struct rm_raft_entry *src);
void rm__raft_entry_release(struct rm_raft_entry *e);

/* ---- raft.c ---- */
uint64_t rm__raft_random(struct rm_raft *r);
void rm__raft_reset_election(struct rm_raft *r);
int rm__raft_send(struct rm_raft *r, struct rm_raft_msg *m);
bool rm__raft_is_voter(const struct rm_raft *r, uint64_t id);
uint32_t rm__raft_quorum(const struct rm_raft *r);

/* ---- raft_election.c ---- */
void rm__raft_become_follower(struct rm_raft *r, uint64_t term, uint64_t leader);
int rm__raft_start_election(struct rm_raft *r, bool prevote);
int rm__raft_on_vote(struct rm_raft *r, const struct rm_raft_msg *m);
int rm__raft_on_vote_resp(struct rm_raft *r, const struct rm_raft_msg *m);
bool rm__raft_in_lease(const struct rm_raft *r);

/* ---- raft_replication.c ---- */
int rm__raft_become_leader(struct rm_raft *r);
int rm__raft_leader_append(struct rm_raft *r, uint32_t type, const void *data, uint32_t len,
                           uint64_t *index);
int rm__raft_bcast_append(struct rm_raft *r);
int rm__raft_bcast_heartbeat(struct rm_raft *r);
int rm__raft_maybe_commit(struct rm_raft *r);
int rm__raft_on_append(struct rm_raft *r, const struct rm_raft_msg *m);
int rm__raft_on_append_resp(struct rm_raft *r, const struct rm_raft_msg *m);
int rm__raft_on_heartbeat(struct rm_raft *r, const struct rm_raft_msg *m);
int rm__raft_on_heartbeat_resp(struct rm_raft *r, const struct rm_raft_msg *m);
int rm__raft_on_snapshot(struct rm_raft *r, const struct rm_raft_msg *m);
void rm__raft_commit_to(struct rm_raft *r, uint64_t index);
void rm__raft_progress_free(struct rm__raft_progress *pr);

/* ---- raft_membership.c ---- */
int rm__raft_conf_at(const struct rm_raft *r, uint64_t index, struct rm_raft_membership *out,
                     uint64_t *at);
int rm__raft_conf_refresh(struct rm_raft *r);
int rm__raft_sync_progress(struct rm_raft *r);
struct rm__raft_progress *rm__raft_progress_get(struct rm_raft *r, uint64_t id);
int rm__raft_on_commit_conf(struct rm_raft *r);

#endif /* RM_RAFT_INT_H */
