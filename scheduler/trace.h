/*
 * trace.h: this process's record of where the time went, for --report and --trace.
 *
 * What is recorded:
 *   - byte counters: input read, shuffle data fetched from other ranks, replica copies sent,
 *     checkpoint data written;
 *   - per stage: tasks run here, their first start and last end, their total time;
 *   - instants: a leader elected (as this rank saw it), a rank found dead (by this rank, with
 *     how long it had been silent), tasks rescheduled (by the leader that committed a death);
 *   - with events on (--trace): one span per task attempt, shuffle fetch, replica copy and
 *     checkpoint file, up to RM_TRACE_MAX_EVENTS (later ones are counted, not kept).
 *
 * Process-wide, since a process runs one job: any thread may record. Until rm_trace_enable,
 * recording costs one relaxed atomic load and does nothing. Times are taken on the monotonic
 * clock and kept as wall-clock (CLOCK_REALTIME) nanoseconds, so that ranks on several nodes
 * line up as well as their clocks agree.
 *
 * At the end of a job every live rank encodes its record (rm_trace_encode) and sends it to the
 * leader, which decodes them (rm_trace_decode) to write the report and the trace.
 */
#ifndef RM_SCHEDULER_TRACE_H
#define RM_SCHEDULER_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum rm_trace_kind {
    RM_TRACE_TASK = 1,       /* span: stage, a attempt, b task id, c 1 if it failed */
    RM_TRACE_SHUFFLE = 2,    /* span: a parts fetched, c bytes */
    RM_TRACE_REPLICATE = 3,  /* span: b task id, a copies made, c bytes */
    RM_TRACE_CHECKPOINT = 4, /* span: b round, c bytes */
    RM_TRACE_ELECTION = 5,   /* instant: a leader, b term */
    RM_TRACE_FAILURE = 6,    /* instant: a the dead rank, stage 1 if this rank's own detector
                                timed it out (c: its silence, ns), 0 if it was told */
    RM_TRACE_RESCHEDULE = 7, /* instant: a the dead rank, c tasks sent back to the queue */
    RM_TRACE_KIND_END
};

enum rm_trace_counter {
    RM_TRACE_READ = 0,     /* input bytes read by tasks */
    RM_TRACE_SHUFFLED,     /* bytes fetched from other ranks' stored outputs */
    RM_TRACE_REPLICATED,   /* bytes of replica copies sent */
    RM_TRACE_CHECKPOINTED, /* bytes of checkpoint data written */
    RM_TRACE_COUNTERS
};

struct rm_trace_event {
    uint32_t kind, stage, a;
    uint64_t b, c;
    uint64_t t0, t1; /* wall-clock ns; t1 == t0 for an instant */
};

/* Per stage: the tasks this rank ran (attempts, failed ones included). */
struct rm_trace_stage {
    uint64_t tasks, busy_ns;
    uint64_t first, last; /* wall-clock ns of the first start and the last end; 0 if none */
};

#define RM_TRACE_MAX_EVENTS (1u << 19)
#define RM_TRACE_MAX_STAGES 100000u

/* One rank's record, as decoded by the leader. Arrays are malloc'd; free with
 * rm_trace_record_free. */
struct rm_trace_record {
    uint32_t rank;
    uint64_t started;  /* wall-clock ns when recording began on that rank */
    uint64_t peak_rss; /* bytes (getrusage) */
    uint64_t counters[RM_TRACE_COUNTERS];
    uint64_t dropped; /* events past RM_TRACE_MAX_EVENTS */
    uint32_t n_stages;
    struct rm_trace_stage *stages;
    uint32_t n_events;
    struct rm_trace_event *events;
};

/* Starts recording for this process (rank: for the record; events: keep spans too).
 * Returns 0 or RM_ENOMEM. Main thread, before the job's threads start. */
int rm_trace_enable(uint32_t rank, bool events);

/* True once rm_trace_enable has run. Any thread. */
bool rm_trace_on(void);

/* Converts a monotonic time (rm_clock_monotonic_ns) to the wall-clock ns the record keeps.
 * Can't fail; any thread. */
uint64_t rm_trace_wall(uint64_t mono_ns);

/* Adds n to a counter. Can't fail; any thread. */
void rm_trace_count(enum rm_trace_counter ctr, uint64_t n);

/* Records a task attempt of stage `stage` that ran over [t0, t1] (monotonic ns). Can't fail
 * (an event past the cap is counted as dropped); any thread. */
void rm_trace_task(uint32_t stage, uint64_t id, uint32_t attempt, bool failed, uint64_t t0,
                   uint64_t t1);

/* Records n task attempts at once (kind, stage, a attempt, b id, c failed, t0 and t1 in
 * monotonic ns), as rm_trace_task would one by one, under one lock: the worker records a
 * batch of tasks so. Can't fail; any thread. */
void rm_trace_tasks(const struct rm_trace_event *v, uint32_t n);

/* Records another span or instant (kind not RM_TRACE_TASK) over [t0, t1] (monotonic ns; an
 * instant passes t0 == t1). Spans are kept only with events on; instants always. Can't fail;
 * any thread. */
void rm_trace_event(enum rm_trace_kind kind, uint32_t stage, uint32_t a, uint64_t b, uint64_t c,
                    uint64_t t0, uint64_t t1);

/* Encodes this process's record into *out (malloc'd; the caller frees it). Returns 0 or
 * RM_ENOMEM. Any thread. */
int rm_trace_encode(unsigned char **out, size_t *len);

/* Decodes a record sent by another rank (data borrowed). Returns 0, or RM_EPROTO for a
 * malformed record, or RM_ENOMEM. */
int rm_trace_decode(const void *data, size_t len, struct rm_trace_record *out);

void rm_trace_record_free(struct rm_trace_record *r);

/* Frees what rm_trace_enable allocated and turns recording off (tests). */
void rm_trace_reset(void);

#endif /* RM_SCHEDULER_TRACE_H */
