/*
 * control.h: the control thread of a rank.
 *
 * The control thread owns every MPI call made while a job runs. It receives and validates
 * frames, sends heartbeats, detects and announces deaths, fences this rank when it learns that
 * it was declared dead, and runs the handlers that modules register. User code runs on other
 * threads and reaches it only through rm_control_call(), so a long task never delays a
 * heartbeat. When there is nothing to do it sleeps on an eventfd with an exponential backoff
 * (20 us up to 1 ms), so an idle rank costs well under 5% of a core.
 *
 * Threads: functions marked "control thread" may be called only from handlers, death or fence
 * listeners and calls run by rm_control_call. The others say which thread may call them.
 */
#ifndef RM_CONTROL_H
#define RM_CONTROL_H

#include <mpi.h>
#include <stdbool.h>
#include <stdint.h>

#include "runtime/clock.h"
#include "runtime/frame.h"
#include "runtime/transport.h"

struct rm_control;

struct rm_control_config {
    MPI_Comm comm;         /* borrowed; the job's private communicator */
    uint64_t heartbeat_ns; /* heartbeat period */
    uint64_t suspect_ns;   /* silence before a watched peer is declared dead */
    uint32_t watchers;     /* peers that receive each rank's heartbeats */
    size_t batch_bytes;    /* transport batch size, 0 for the default */
    bool no_self_fence;    /* fault injection for tests only; see detector.h */
    struct rm_clock clock; /* time seam; zeroed means the system clock */
};

enum rm_death_cause {
    RM_DEATH_SUSPECTED = 0, /* this rank's own detector timed the peer out */
    RM_DEATH_ANNOUNCED = 1, /* another rank announced it */
};

/* A handler for one message type. Runs on the control thread; payload is borrowed for the
 * call. It must not block. */
typedef void (*rm_handler_fn)(struct rm_control *c, void *ctx, const struct rm_frame_header *h,
                              const void *payload);
/* Told of each death once. Runs on the control thread. */
typedef void (*rm_death_fn)(struct rm_control *c, void *ctx, uint32_t rank,
                            enum rm_death_cause cause);
/* Told once when this rank fences itself. Runs on the control thread, which then exits. */
typedef void (*rm_fence_fn)(struct rm_control *c, void *ctx);
/* Called once per loop pass with the current time. Runs on the control thread. */
typedef void (*rm_tick_fn)(struct rm_control *c, void *ctx, uint64_t now_ns);
/* A closure run on the control thread by rm_control_call. */
typedef void (*rm_call_fn)(struct rm_control *c, void *arg);

/* Creates the control object (the thread starts with rm_control_start). cfg: borrowed.
 * Collective over cfg->comm: it maps the node's shared-memory rings (nodeshm.h), unless
 * RINGMASTER_SHM=0.
 * Returns 0, RM_EINVAL, RM_ENOMEM, RM_EMPI, RM_EIO. Main thread. */
int rm_control_create(const struct rm_control_config *cfg, struct rm_control **out);

/* Registers the handler of one message type (heartbeat and death are the control thread's
 * own). ctx is borrowed. Returns 0 or RM_EINVAL. Main thread, before rm_control_start. */
int rm_control_on(struct rm_control *c, uint8_t type, rm_handler_fn fn, void *ctx);

/* Registers a death listener (up to 8) or the fence listener. ctx is borrowed.
 * Returns 0 or RM_EBUSY. Main thread, before rm_control_start. */
int rm_control_on_death(struct rm_control *c, rm_death_fn fn, void *ctx);
void rm_control_on_fence(struct rm_control *c, rm_fence_fn fn, void *ctx);

/* Registers a tick listener (up to 8). ctx is borrowed. Returns 0 or RM_EBUSY.
 * Main thread, before rm_control_start. */
int rm_control_on_tick(struct rm_control *c, rm_tick_fn fn, void *ctx);

/* Stamps every later frame with this term and epoch (frame.h). Control thread. */
void rm_control_set_stamp(struct rm_control *c, uint64_t term, uint64_t epoch);

/* Starts the control thread. Returns 0 or RM_EIO. Main thread. */
int rm_control_start(struct rm_control *c);

/* Runs fn(c, arg) on the control thread soon. arg is passed through (the closure owns it).
 * Returns 0, RM_ENOMEM, or RM_ESHUTDOWN once the thread has stopped (fn is not run).
 * Any thread. */
int rm_control_call(struct rm_control *c, rm_call_fn fn, void *arg);

/* Asks the thread to stop after flushing and (for up to linger_ms) completing its sends, and
 * joins it. Returns the first error the loop hit (0 if none). Any thread but the control
 * thread; use rm_control_request_stop from it. */
int rm_control_stop(struct rm_control *c, int linger_ms);

/* Asks the loop to stop after its sends complete; returns at once. Control thread. */
void rm_control_request_stop(struct rm_control *c);

/* Frees everything; the thread must be stopped. Safe with NULL. Main thread. */
void rm_control_destroy(struct rm_control *c);

/* Sends one frame (see rm_transport_send). Control thread. */
int rm_control_send(struct rm_control *c, int dest, uint8_t type, const void *payload,
                    size_t len);

/* Sends one frame to every live rank but this one. Returns 0 or the first error.
 * Control thread. */
int rm_control_broadcast(struct rm_control *c, uint8_t type, const void *payload, size_t len);

/* Accessors. rm_control_rank/size: any thread. is_dead, live_count, now, stats: control
 * thread. fenced: any thread after rm_control_stop returned. */
int rm_control_rank(const struct rm_control *c);
MPI_Comm rm_control_comm(const struct rm_control *c);
int rm_control_size(const struct rm_control *c);
bool rm_control_is_dead(const struct rm_control *c, int rank);
int rm_control_live_count(const struct rm_control *c);
uint64_t rm_control_now(const struct rm_control *c);
bool rm_control_fenced(const struct rm_control *c);
/* How long rank has been silent (ns since this rank last heard from it). Control thread. */
uint64_t rm_control_silence(const struct rm_control *c, int rank);
void rm_control_stats(const struct rm_control *c, struct rm_transport_stats *out);

#endif /* RM_CONTROL_H */
