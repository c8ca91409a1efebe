/*
 * detector.h: the heartbeat failure detector, as a pure state machine.
 *
 * Each rank sends a heartbeat every heartbeat_ns to its `watchers` next live ranks (cyclic rank
 * order), and watches the same number of live ranks before it. Any frame from a peer counts as
 * a heartbeat. A watched peer silent for longer than suspect_ns is suspected; the driver then
 * declares it dead to everyone (RM_MSG_DEATH), so every survivor learns within one message
 * delay. Rank identities are never reused: a rank once dead stays dead.
 *
 * Until a watched peer is first heard from, the longer startup_ns applies to it.
 *
 * A rank that sees its own clock jump by more than suspect_ns between two ticks was paused
 * (SIGSTOP, a frozen VM) for longer than its peers wait: they have declared it dead, so it must
 * fence itself. A smaller jump (over half the timeout) only restarts the silence timers, so a
 * starved rank does not accuse its peers of its own stall.
 *
 * No clock, MPI or I/O inside: the driver passes `now` and performs the actions. Not
 * thread-safe: one thread (the control thread) owns a detector.
 */
#ifndef RM_DETECTOR_H
#define RM_DETECTOR_H

#include <stdbool.h>
#include <stdint.h>

struct rm_detector_config {
    uint32_t self;         /* this rank */
    uint32_t size;         /* ranks in the job, >= 1 */
    uint64_t heartbeat_ns; /* period between heartbeats, > 0 */
    uint64_t suspect_ns;   /* silence before suspicion, > heartbeat_ns */
    uint32_t watchers;     /* live successors each rank sends heartbeats to, >= 1 */
    bool no_self_fence;    /* fault injection for tests only: after a long pause, keep acting
                            * (restart the timers) instead of fencing */
    uint64_t startup_ns;   /* silence allowed to a watched peer not heard from since the start
                            * [suspect_ns if smaller]: ranks start their control threads at
                            * different moments, and one still starting on an oversubscribed
                            * node is late, not dead */
};

struct rm_detector {
    struct rm_detector_config cfg;
    uint64_t *last_heard; /* per rank, ns */
    bool *dead;           /* per rank */
    bool *watched;        /* per rank: among my `watchers` live predecessors */
    bool *heard;          /* per rank: heard from, or watched again after a death */
    bool started;         /* the first watch set is made */
    uint32_t live;        /* live ranks, self included */
    uint64_t last_tick;
    uint64_t last_sent;
    bool fenced;
};

/* What one tick asks the driver to do. Arrays are owned by the caller (size entries each). */
struct rm_detector_actions {
    uint32_t *send_to; /* heartbeat these ranks */
    uint32_t n_send;
    uint32_t *suspected; /* newly suspected (already marked dead): announce them */
    uint32_t n_suspected;
    bool fence_self;   /* this rank was paused past the timeout: stop acting */
    uint64_t pause_ns; /* the clock jump that triggered fence_self or a timer reset */
};

/* Initializes d (caller-allocated). cfg: borrowed, copied. now: current time in ns.
 * Returns 0, RM_EINVAL for an inconsistent config, RM_ENOMEM. Release with rm_detector_close. */
int rm_detector_init(struct rm_detector *d, const struct rm_detector_config *cfg, uint64_t now);

/* Frees what init allocated. d itself stays the caller's. Safe on a zeroed detector. */
void rm_detector_close(struct rm_detector *d);

/* Records that a frame from `from` arrived at time now. Frames from dead or out-of-range ranks
 * are ignored. Can't fail. */
void rm_detector_heard(struct rm_detector *d, uint32_t from, uint64_t now);

/* Marks rank dead (learned from a peer's announcement or decided locally).
 * Returns true when the rank was alive until now, false otherwise (already dead, out of range,
 * or self: a rank never marks itself here; see rm_detector_actions.fence_self). */
bool rm_detector_mark_dead(struct rm_detector *d, uint32_t rank, uint64_t now);

/* Advances the detector to now and fills out (its arrays must hold cfg.size entries each).
 * Can't fail. After fence_self, later ticks do nothing. */
void rm_detector_tick(struct rm_detector *d, uint64_t now, struct rm_detector_actions *out);

/* Returns whether rank is considered dead. Can't fail. */
bool rm_detector_is_dead(const struct rm_detector *d, uint32_t rank);

#endif /* RM_DETECTOR_H */
