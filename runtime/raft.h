/*
 * raft.h: the Raft consensus module as a pure state machine.
 *
 * The module never calls MPI, never reads a clock, never draws random numbers from the OS, never
 * does I/O and never starts a thread. A driver (the MPI driver in production, tests/sim in the
 * simulator) feeds it:
 *   - time:        rm_raft_tick(r, now_ms) with a monotonic "now" in milliseconds;
 *   - messages:    rm_raft_step(r, msg) for every message received from a peer;
 *   - randomness:  the seed in struct rm_raft_config (an internal splitmix64 stream);
 *   - commands:    rm_raft_propose*, rm_raft_snapshot, rm_raft_campaign.
 * and then drains the work the module wants done with the Ready contract (modelled on etcd):
 *
 *     while (rm_raft_has_ready(r)) {
 *         struct rm_raft_ready rd;
 *         rm_raft_ready(r, &rd);
 *         1. persist rd.snapshot (if any), then rd.entries, then rd.hs (if rd.hs_changed);
 *         2. only then send rd.msgs (a vote or an append ack must never leave before the state
 *            it promises is durable);
 *         3. apply rd.snapshot data (if any) and then rd.committed, in order;
 *         4. rm_raft_advance(r, &rd);
 *     }
 *
 * Between rm_raft_ready() and rm_raft_advance() no other rm_raft_* call may be made on that node
 * (they return RM_EBUSY), because the Ready points into the module's memory.
 *
 * Threads: an rm_raft object is not thread-safe. All calls on one object must come from one
 * thread (the control thread in production). Different objects are independent.
 *
 * Start-up campaign: when rm_raft_config.campaign_at_start is set and the node starts fresh
 * (term 0, empty log), the voter with the LOWEST id campaigns on its first tick, skipping both the
 * election timeout and the pre-vote round; every other voter waits a normal randomized timeout.
 * A restarted node (non-zero term or non-empty log) never does this.
 */
#ifndef RM_RAFT_H
#define RM_RAFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RM_RAFT_MAX_VOTERS 16               /* voters in one configuration */
#define RM_RAFT_MAX_LEARNERS 16             /* non-voting learners in one configuration */
#define RM_RAFT_MAX_ENTRY_BYTES (64u << 20) /* largest entry payload the codec accepts */

enum rm_raft_role {
    RM_RAFT_FOLLOWER = 0,
    RM_RAFT_PRECANDIDATE = 1,
    RM_RAFT_CANDIDATE = 2,
    RM_RAFT_LEADER = 3,
};

enum rm_raft_entry_type {
    RM_RAFT_ENTRY_NORMAL = 1, /* application payload */
    RM_RAFT_ENTRY_NOOP = 2,   /* appended by every new leader; empty */
    RM_RAFT_ENTRY_CONFIG = 3, /* a full membership (rm_raft_membership_encode) */
};

enum rm_raft_msg_type {
    RM_RAFT_MSG_VOTE = 1,      /* RequestVote or pre-vote (prevote != 0) */
    RM_RAFT_MSG_VOTE_RESP = 2, /* reply to a (pre-)vote; reject != 0 means "no" */
    RM_RAFT_MSG_APPEND = 3,    /* AppendEntries with zero or more entries */
    RM_RAFT_MSG_APPEND_RESP = 4,
    RM_RAFT_MSG_HEARTBEAT = 5, /* leader liveness + commit index, carries no entries */
    RM_RAFT_MSG_HEARTBEAT_RESP = 6,
    RM_RAFT_MSG_SNAPSHOT = 7, /* InstallSnapshot; answered with APPEND_RESP */
};

enum rm_raft_change_op {
    RM_RAFT_ADD_LEARNER = 1, /* add a new non-voting member */
    RM_RAFT_PROMOTE = 2,     /* make an existing learner a voter */
    RM_RAFT_REMOVE = 3,      /* remove a voter or a learner */
};

/* Reference-counted payload owner. Opaque; managed by the module. */
struct rm_raft_buf;

/*
 * One log entry. data/len are the opaque payload. buf is the owner of data inside the module;
 * entries given to the module by the caller (rm_raft_restore) may leave buf NULL, in which case
 * the module copies the payload.
 */
struct rm_raft_entry {
    uint64_t term;
    uint64_t index;
    uint32_t type; /* enum rm_raft_entry_type */
    uint32_t len;
    const uint8_t *data;
    struct rm_raft_buf *buf;
};

/* A configuration: the voter set and the learner set (disjoint, ids are non-zero). */
struct rm_raft_membership {
    uint32_t n_voters;
    uint32_t n_learners;
    uint64_t voters[RM_RAFT_MAX_VOTERS];
    uint64_t learners[RM_RAFT_MAX_LEARNERS];
};

/* What a snapshot covers: the last index and term it includes and the configuration there. */
struct rm_raft_snapshot_meta {
    uint64_t index;
    uint64_t term;
    struct rm_raft_membership conf;
};

/* The state that must be durable before any message of the same Ready is sent. */
struct rm_raft_hard_state {
    uint64_t term;
    uint64_t vote; /* 0: voted for nobody in this term */
    uint64_t commit;
};

/*
 * A Raft message. One flat struct for all types; each type uses only some fields:
 *  VOTE:           prevote, last_index, last_term (term is the term campaigned for)
 *  VOTE_RESP:      prevote, reject
 *  APPEND:         prev_index, prev_term, commit, n_entries, entries
 *  APPEND_RESP:    reject, index (success: highest index known to match; reject: the rejected
 *                  prev_index), hint_index and hint_term (reject only: where to probe next)
 *  HEARTBEAT:      commit, prev_index (the last index sent to this follower before it)
 *  HEARTBEAT_RESP: index (the follower's last log index), prev_index (echoed)
 *  SNAPSHOT:       snap, snap_len, snap_data
 */
struct rm_raft_msg {
    uint32_t type; /* enum rm_raft_msg_type */
    uint32_t prevote;
    uint32_t reject;
    uint32_t n_entries;
    uint64_t from;
    uint64_t to;
    uint64_t term;
    uint64_t last_index;
    uint64_t last_term;
    uint64_t prev_index;
    uint64_t prev_term;
    uint64_t commit;
    uint64_t index;
    uint64_t hint_index;
    uint64_t hint_term;
    struct rm_raft_entry *entries;
    struct rm_raft_snapshot_meta snap;
    uint64_t snap_len;
    const uint8_t *snap_data;
    struct rm_raft_buf *snap_buf; /* internal owner of snap_data, NULL when decoded */
};

/* Tunables; fill with rm_raft_config_default() and then override. */
struct rm_raft_config {
    uint64_t id;                    /* this node's id, non-zero, never reused */
    uint64_t seed;                  /* seeds the randomized election timeouts */
    uint32_t election_timeout_ms;   /* E; each timeout is drawn uniformly from [E, 2E) */
    uint32_t heartbeat_ms;          /* leader heartbeat period, well below E */
    uint32_t max_batch_entries;     /* entries per APPEND message */
    uint32_t max_batch_bytes;       /* payload bytes per APPEND message (at least one entry) */
    uint32_t max_inflight;          /* APPEND messages in flight per follower (flow control) */
    uint64_t max_uncommitted_bytes; /* leader refuses proposals beyond this (RM_EBUSY) */
    uint64_t compact_keep;          /* entries kept behind a snapshot for slow followers */
    bool prevote;                   /* run a pre-vote round before every real campaign */
    /* A leader that has not heard from a quorum of voters within E steps down (checked on
     * every tick); a node that heard from a live leader within E ignores (pre-)votes. */
    bool check_quorum;
    bool campaign_at_start; /* lowest-id voter campaigns at once on a fresh start */
};

/* Soft state, cheap to read at any time. */
struct rm_raft_status {
    uint64_t id;
    uint32_t role;   /* enum rm_raft_role */
    uint64_t leader; /* 0 if unknown */
    uint64_t term;
    uint64_t vote;
    uint64_t commit;
    uint64_t applied;
    uint64_t first_index; /* first index still in the in-memory log */
    uint64_t last_index;
    uint64_t last_term;
    uint64_t snapshot_index;
    uint64_t conf_index; /* index of the entry that set conf (0: initial) */
    struct rm_raft_membership conf;
};

/*
 * The work the module hands to its driver; see the contract at the top of this file.
 * Every pointer is owned by the module and valid until rm_raft_advance().
 */
struct rm_raft_ready {
    bool soft_changed; /* leader or role changed since the last Ready */
    uint64_t leader;
    uint32_t role;
    bool hs_changed; /* persist hs */
    struct rm_raft_hard_state hs;
    /* A snapshot received from the leader: persist it (replacing the whole stored log) and
     * restore the application from snap_data. NULL when there is none. */
    const struct rm_raft_snapshot_meta *snapshot;
    const uint8_t *snap_data;
    uint64_t snap_len;
    /* Entries to persist. Stored entries with index >= entries[0].index are dropped first. */
    const struct rm_raft_entry *entries;
    size_t n_entries;
    /* Messages to send after persisting; msg.to names the peer. */
    const struct rm_raft_msg *msgs;
    size_t n_msgs;
    /* Committed entries to apply, in index order, after the snapshot (if any). */
    const struct rm_raft_entry *committed;
    size_t n_committed;
};

struct rm_raft;

/*
 * Fills cfg with defaults: E = 150 ms, heartbeat 30 ms, batches of 256 entries / 1 MiB,
 * 32 messages in flight, 64 MiB uncommitted, keep 0, pre-vote, check-quorum and the start-up
 * campaign all on. cfg->id and cfg->seed are set to 0 and must be filled by the caller.
 * cfg is borrowed. This function can't fail. Any thread.
 */
void rm_raft_config_default(struct rm_raft_config *cfg);

/*
 * Creates a node. cfg and initial are borrowed (copied). initial is the bootstrap configuration
 * shared by the founding members; a node that joins later passes an empty membership and learns
 * its configuration from the log or a snapshot. The node starts as a follower with term 0.
 * Returns 0 and stores the node in *out (free with rm_raft_destroy), RM_EINVAL for a bad
 * config, RM_ENOMEM. Any thread; then only that thread.
 */
int rm_raft_create(const struct rm_raft_config *cfg, const struct rm_raft_membership *initial,
                   struct rm_raft **out);

/* Frees a node and everything it owns, including pending Ready data. NULL is a no-op. */
void rm_raft_destroy(struct rm_raft *r);

/*
 * Loads persisted state into a node just created (before any tick or step), as after a crash.
 * hs, snap and entries are borrowed; payloads are copied. snap may be NULL (snap_data then
 * ignored). entries must be contiguous; those at or below snap->index are skipped.
 * Returns 0, RM_EINVAL for inconsistent state (gap, bad order, commit beyond the log), RM_ENOMEM.
 */
int rm_raft_restore(struct rm_raft *r, const struct rm_raft_hard_state *hs,
                    const struct rm_raft_snapshot_meta *snap, const void *snap_data,
                    uint64_t snap_len, const struct rm_raft_entry *entries, size_t n);

/*
 * Advances the node's clock to now_ms (monotonic; a smaller value is treated as no time
 * passing). May start an election, send heartbeats or make a leader step down.
 * Returns 0, RM_EBUSY while a Ready is outstanding, RM_ENOMEM.
 */
int rm_raft_tick(struct rm_raft *r, uint64_t now_ms);

/*
 * Feeds one received message. msg is borrowed: payloads the node keeps are copied, so the
 * caller may free the message (rm_raft_msg_close) right after. Messages not addressed to this
 * node, or from a stale term, are handled as Raft says (mostly ignored).
 * Returns 0, RM_EINVAL for a message that is structurally impossible (unknown type, wrong
 * addressee, entries out of order), RM_EPROTO for one that contradicts the protocol (an
 * entry conflicting with a committed one; the message is dropped), RM_EBUSY while a Ready is
 * outstanding, RM_ENOMEM. Any error leaves the node in a consistent state.
 */
int rm_raft_step(struct rm_raft *r, const struct rm_raft_msg *msg);

/*
 * Appends a NORMAL entry with a copy of data[0..len) to the leader's log. Followers do not
 * forward. Stores the entry's index in *index if index is non-NULL.
 * Returns 0, RM_EBUSY if this node is not the leader, a Ready is outstanding or the
 * uncommitted bytes would exceed max_uncommitted_bytes, RM_EMSGSIZE if len is above
 * RM_RAFT_MAX_ENTRY_BYTES, RM_ENOMEM.
 */
int rm_raft_propose(struct rm_raft *r, const void *data, uint32_t len, uint64_t *index);

/*
 * Proposes a one-server membership change. Allowed only on a leader that has committed an entry
 * of its own term and has no uncommitted configuration entry. A removed leader keeps leading
 * until the change commits, without counting itself, and then steps down.
 * Returns 0, RM_EBUSY (not leader, or the rules above), RM_EINVAL (adding an existing member,
 * promoting a non-learner, removing a non-member, the last voter, or a full set), RM_ENOMEM.
 */
int rm_raft_propose_change(struct rm_raft *r, enum rm_raft_change_op op, uint64_t node,
                           uint64_t *index);

/*
 * Starts an election now (pre-vote first if enabled), as if the election timer had fired.
 * For tests and leadership hand-off. Returns 0, RM_EINVAL if this node is not a voter,
 * RM_EBUSY if it is the leader or a Ready is outstanding, RM_ENOMEM.
 */
int rm_raft_campaign(struct rm_raft *r);

/*
 * Tells the node that the application state up to and including index (<= applied) is captured
 * in data[0..len), copied. The log is compacted up to index - compact_keep and the snapshot is
 * what followers behind the compacted prefix receive. If meta_out is non-NULL (caller-owned) it
 * receives the snapshot's index, term and configuration, which the driver persists with its own
 * copy of data (rm_raft_restore needs them after a crash).
 * Returns 0, RM_EINVAL if index is above applied or not above the current snapshot, RM_EBUSY
 * while a Ready is outstanding, RM_ENOMEM.
 */
int rm_raft_snapshot(struct rm_raft *r, uint64_t index, const void *data, uint64_t len,
                     struct rm_raft_snapshot_meta *meta_out);

/* True if rm_raft_ready() would return anything. r borrowed. Can't fail. */
bool rm_raft_has_ready(struct rm_raft *r);

/*
 * Collects pending work into *rd (caller-allocated, filled by the module; pointers owned by the
 * module until rm_raft_advance). Returns 0, RM_EBUSY if a Ready is already outstanding,
 * RM_ENOMEM.
 */
int rm_raft_ready(struct rm_raft *r, struct rm_raft_ready *rd);

/*
 * Acknowledges that everything in rd was persisted, sent and applied. rd must be the Ready last
 * returned. Frees the Ready's messages. Returns 0, RM_EINVAL if no Ready is outstanding.
 */
int rm_raft_advance(struct rm_raft *r, const struct rm_raft_ready *rd);

/* Copies the soft state into *st (caller-allocated). Can't fail. */
void rm_raft_status(const struct rm_raft *r, struct rm_raft_status *st);

/* Returns the id of the leader this node knows of, or 0. Can't fail. */
uint64_t rm_raft_leader(const struct rm_raft *r);

/* Returns the node's role (enum rm_raft_role) and stores its current term in *term if term is
 * non-NULL (caller-owned). Cheaper than rm_raft_status(). Can't fail. */
uint32_t rm_raft_role(const struct rm_raft *r, uint64_t *term);

/* ---- wire codec (raft_codec.c) ------------------------------------------------------------ */

/* Returns the number of bytes rm_raft_msg_encode() writes for msg (borrowed). Can't fail. */
size_t rm_raft_msg_size(const struct rm_raft_msg *msg);

/*
 * Encodes msg (borrowed) into buf[0..cap). Stores the length in *len.
 * Returns 0, RM_EMSGSIZE if cap is too small, RM_EINVAL for an unknown type or bad counts.
 */
int rm_raft_msg_encode(const struct rm_raft_msg *msg, uint8_t *buf, size_t cap, size_t *len);

/*
 * Decodes buf[0..len) into *msg (caller-allocated). Validates magic, version, type, flags,
 * counts, lengths and index order; trailing bytes are an error. Entry payloads and snapshot data
 * point into buf (borrowed: keep buf alive while msg is used). The entry array is allocated;
 * release it with rm_raft_msg_close(). On error nothing needs closing.
 * Returns 0, RM_EPROTO for malformed input, RM_ENOMEM.
 */
int rm_raft_msg_decode(const uint8_t *buf, size_t len, struct rm_raft_msg *msg);

/* Frees what rm_raft_msg_decode() allocated in msg. Safe on a zeroed msg. Can't fail. */
void rm_raft_msg_close(struct rm_raft_msg *msg);

/* Bytes written by rm_raft_membership_encode() for m (borrowed). Can't fail. */
size_t rm_raft_membership_size(const struct rm_raft_membership *m);

/* Encodes m into buf[0..cap); returns bytes written, or RM_EMSGSIZE / RM_EINVAL. */
int rm_raft_membership_encode(const struct rm_raft_membership *m, uint8_t *buf, size_t cap);

/*
 * Decodes a membership from buf[0..len) into *m, requiring it to use exactly len bytes, with
 * non-zero, distinct ids and counts within the limits. Returns 0 or RM_EPROTO.
 */
int rm_raft_membership_decode(const uint8_t *buf, size_t len, struct rm_raft_membership *m);

/* True if id is a voter (learner) of m. Can't fail. */
bool rm_raft_membership_is_voter(const struct rm_raft_membership *m, uint64_t id);
bool rm_raft_membership_is_learner(const struct rm_raft_membership *m, uint64_t id);

#ifdef __cplusplus
}
#endif

#endif /* RM_RAFT_H */
