/*
 * raft_fixture.h: a deterministic in-memory cluster of rm_raft nodes for tests/sim.
 *
 * One simulated clock, one seeded PRNG, a network that can drop, duplicate, delay (and so
 * reorder) messages and cut any directed link, nodes that crash (keeping only what they
 * persisted through the Ready contract) and pause. Every message goes through the wire codec.
 * The fixture checks the Raft safety properties as it goes (see raft_fixture.c) and records the
 * first violation in fx->err.
 */
#ifndef RM_RAFT_FIXTURE_H
#define RM_RAFT_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "runtime/raft.h"

#define FX_MAX_NODES 12

struct fx_entry {
    uint64_t term;
    uint64_t index;
    uint32_t type;
    uint32_t len;
    uint8_t *data;
    uint64_t chain; /* hash of the log prefix ending here */
};

/* What a node keeps across a crash. */
struct fx_store {
    struct rm_raft_hard_state hs;
    bool has_snap;
    struct rm_raft_snapshot_meta snap;
    uint64_t snap_chain;
    struct fx_entry *ents; /* ents[0].index == snap.index + 1 */
    size_t n;
    size_t cap;
};

struct fx_node {
    uint64_t id;
    bool exists; /* created (founding or joined) */
    bool up;     /* false while crashed */
    bool paused;
    uint64_t resume_at;
    uint32_t restarts;
    struct rm_raft *r;
    struct rm_raft_membership initial;
    struct fx_store st;
    uint64_t applied; /* volatile application state: index and chain hash */
    uint64_t app_chain;
    uint64_t lead_term; /* term in which this node was last seen leading */
    uint64_t snap_every;
};

struct fx_msg {
    uint64_t at;
    uint64_t seq;
    uint64_t from;
    uint64_t to;
    uint8_t *buf;
    size_t len;
};

struct fx {
    uint64_t rng;
    uint64_t now;
    uint64_t seq;
    int n_ids; /* ids 1..n_ids exist or may be created */
    struct fx_node nodes[FX_MAX_NODES + 1];
    struct rm_raft_config cfg;
    bool link[FX_MAX_NODES + 1][FX_MAX_NODES + 1]; /* link[a][b]: a -> b delivers */
    uint32_t drop_pct, dup_pct, min_delay, max_delay;
    uint64_t snap_every;     /* 0: never snapshot */
    uint32_t crash_permille; /* chance that a node crashes between persisting and sending */
    struct fx_msg *heap;
    size_t n_heap, cap_heap;
    /* oracle */
    uint64_t *leader_of_term; /* by term */
    size_t n_terms;
    uint64_t *committed; /* chain hash by index; 0 = not known committed */
    size_t n_committed;
    uint64_t *front; /* front[t]: highest index first reported committed in term t */
    size_t n_front;
    uint64_t *oracle_keys; /* (index, term) -> chain, open addressing */
    uint64_t *oracle_vals;
    size_t oracle_cap, oracle_n;
    uint64_t proposals, applied_total;
    uint64_t n_leaders, n_snap_installs, n_snapshots, n_conf_applied, n_crashes;
    bool verbose;
    bool failed;
    char err[512];
};

uint64_t fx_rand(struct fx *fx);
uint64_t fx_range(struct fx *fx, uint64_t lo, uint64_t hi); /* uniform in [lo, hi] */

/* Sets up n founding voters with ids 1..n and up to extra ids for later joins. */
int fx_init(struct fx *fx, uint64_t seed, int n, int extra, const struct rm_raft_config *cfg);
void fx_close(struct fx *fx);

/* Starts node id (founding member if founding, else joining with an empty configuration). */
int fx_start(struct fx *fx, uint64_t id, bool founding);
void fx_crash(struct fx *fx, uint64_t id);
int fx_restart(struct fx *fx, uint64_t id);
void fx_pause(struct fx *fx, uint64_t id, uint64_t until);

void fx_heal(struct fx *fx);
void fx_cut(struct fx *fx, uint64_t from, uint64_t to);
void fx_isolate(struct fx *fx, uint64_t id);

/* Delivers every message due at or before fx->now, one at a time, checking after each. */
int fx_deliver_due(struct fx *fx);
/* Delivers exactly the next message in time order (advancing the clock). 0 if none. */
int fx_deliver_one(struct fx *fx);
/* Ticks every live node at fx->now. */
int fx_tick_all(struct fx *fx);
/* Advances the clock by ms in 1 ms steps, delivering and ticking. Stops early on failure. */
int fx_run(struct fx *fx, uint64_t ms);

/* Drains and processes a node's Ready: persist, send, apply, snapshot. Then checks. */
int fx_process(struct fx *fx, uint64_t id);
/* Runs the whole-cluster checks (leaders per term, leader completeness). */
int fx_check(struct fx *fx);

/* The node that is leader with the highest term, or 0. */
uint64_t fx_leader(struct fx *fx);
/* Proposes an 8-byte payload at node id. Returns the rm_raft_propose code. */
int fx_propose(struct fx *fx, uint64_t id, uint64_t value, uint64_t *index);

/* Creates node id from a log of terms[0..n) (entries 1..n) and hard-state term, as if it had
 * crashed with that durable state, and restarts it. For the scripted scenarios. */
int fx_preload(struct fx *fx, uint64_t id, const uint64_t *terms, size_t n, uint64_t term);
/* Durable log inspection: last index (with its term and prefix hash), term and hash at index. */
uint64_t fx_store_last(struct fx *fx, uint64_t id, uint64_t *term, uint64_t *chain);
uint64_t fx_store_term(struct fx *fx, uint64_t id, uint64_t index);
uint64_t fx_store_chain(struct fx *fx, uint64_t id, uint64_t index);

/* Prints every node's status to stderr. */
void fx_dump(struct fx *fx);

/* Records a failure (first one wins) and returns -1. */
int fx_fail(struct fx *fx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void fx_log(struct fx *fx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- shared by raft_fixture.c and raft_oracle.c ---- */
/* Hash of a log prefix: the prefix hash before e, extended by e. Never 0. */
uint64_t fx_chain_of(uint64_t prev, const struct rm_raft_entry *e);
/* Grows array p (of *cap elements of elem bytes, zero-filled) to hold need; aborts on OOM. */
void *fx_grow(void *p, size_t *cap, size_t need, size_t elem);
/* Log matching: (index, term) always comes with the same prefix hash ch. */
int fx_check_matching(struct fx *fx, uint64_t id, uint64_t index, uint64_t term, uint64_t ch);
/* State-machine safety: index is committed with prefix hash ch, as node id says. */
int fx_check_committed(struct fx *fx, uint64_t id, uint64_t index, uint64_t ch, uint64_t term);
/* Leader completeness bookkeeping: index was reported committed by a node in term. */
void fx_note_commit_term(struct fx *fx, uint64_t index, uint64_t term);

#endif /* RM_RAFT_FIXTURE_H */
