/*
 * raftnode.h: runs the Raft module (raft.h) on the control thread, over RM_MSG_RAFT frames.
 *
 * Every rank has a node; node id = MPI rank + 1. The first `voters` ranks found the group; the
 * others start with no configuration and join when the leader adds them. The leader keeps the
 * group at `voters`: when a member dies it removes it, then adds the lowest live non-member as
 * a learner and promotes it, one change at a time. Committed NORMAL entries are handed to the
 * application in log order on every member. Ranks never restart (identities are not reused),
 * so the module's in-memory log is the durable state for the life of the job.
 *
 * Threads: every function runs on the control thread, except create/destroy (main thread,
 * before start and after stop of the control thread).
 */
#ifndef RM_RAFTNODE_H
#define RM_RAFTNODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/control.h"

struct rm_raftnode_config {
    uint32_t voters;              /* target size of the voter group */
    uint32_t election_timeout_ms; /* 0: the module's default (150 ms) */
    uint32_t heartbeat_ms;        /* 0: the module's default (30 ms) */
    uint64_t seed;                /* randomizes election timeouts; mixed with the rank */
    uint32_t snapshot_entries;    /* snapshot and compact the log every this many applied
                                   * entries; 0: never */
    uint32_t max_batch_entries;   /* entries per append message; 0: the module's default */
};

/* Application callbacks; ctx is borrowed. All run on the control thread. */
struct rm_raftnode_app {
    /* A committed NORMAL entry, in log order. data is borrowed for the call. */
    void (*apply)(void *ctx, const void *data, size_t len, uint64_t index);
    /* The known leader changed: leader is its rank or -1; self says whether it is this rank. */
    void (*leader_changed)(void *ctx, int leader, uint64_t term, bool self);
    /* The application state after every applied entry, as bytes (*data malloc'd; the driver
     * frees it). Returns 0 or a negative code (the snapshot is skipped). Optional. */
    int (*snapshot)(void *ctx, unsigned char **data, size_t *len);
    /* Replaces the application state with a snapshot from the leader (data borrowed).
     * Returns 0 or a negative code. Required when snapshot is set. */
    int (*restore)(void *ctx, const void *data, size_t len);
    void *ctx;
};

struct rm_raftnode;

/* Creates the node and registers its handler, death listener and tick on c. cfg and app are
 * borrowed (copied). Returns 0, RM_EINVAL, RM_ENOMEM, RM_EBUSY (no listener slot left). */
int rm_raftnode_create(struct rm_control *c, const struct rm_raftnode_config *cfg,
                       const struct rm_raftnode_app *app, struct rm_raftnode **out);

/* Frees the node. Safe with NULL. */
void rm_raftnode_destroy(struct rm_raftnode *n);

/* Proposes an entry (copied). From inside an apply or leader_changed callback the entry is
 * queued and submitted as soon as the callback's batch is done; it is dropped if leadership was
 * lost by then. Returns 0, RM_EBUSY when this rank is not the leader or the log is full of
 * uncommitted entries (retry later), RM_EMSGSIZE, RM_ENOMEM. */
int rm_raftnode_propose(struct rm_raftnode *n, const void *data, size_t len);

/* The leader's rank as this node knows it, or -1; whether this rank leads; the current term;
 * how many leader changes this node has seen. Can't fail. */
int rm_raftnode_leader(const struct rm_raftnode *n);
bool rm_raftnode_is_leader(const struct rm_raftnode *n);
uint64_t rm_raftnode_term(const struct rm_raftnode *n);
uint32_t rm_raftnode_leader_changes(const struct rm_raftnode *n);

/* Whether rank is a voter of the configuration this node knows. Can't fail. */
bool rm_raftnode_is_voter(const struct rm_raftnode *n, int rank);

/* Sets the membership epoch stamped, with the term, on every frame this rank sends from now
 * on (frame.h). The application commits epochs; this only publishes them. Can't fail. */
void rm_raftnode_set_epoch(struct rm_raftnode *n, uint64_t epoch);

/* The job is over for this rank: Raft stops ticking, so a rank still winding down (the leader
 * writing its report, say) neither starts an election nor answers one. Control thread. */
void rm_raftnode_quiesce(struct rm_raftnode *n);

#endif /* RM_RAFTNODE_H */
