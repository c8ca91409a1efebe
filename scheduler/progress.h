/*
 * progress.h: the leader's progress line on stderr while a job runs.
 *
 *   progress: 40/48 tasks (stage 0: 32/32, stage 1: 8/16), 523 MB/s in, ETA 0.4 s, 3 ranks
 *   alive, 0 dead, leader 0 (term 1), 0 rescheduled
 *
 * On a terminal the line is redrawn in place twice a second; in a log (stderr not a terminal)
 * it is printed as a plain line at most every RM_PROGRESS_LOG_S seconds (RINGMASTER_PROGRESS_S
 * overrides it, for tests). --quiet turns it off. The input rate counts the input of the first
 * stage's tasks done so far; the ETA extrapolates the job's task rate since this leader took
 * office. Pure formatting and timing: the caller passes the numbers (control thread).
 */
#ifndef RM_SCHEDULER_PROGRESS_H
#define RM_SCHEDULER_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "scheduler/tasktable.h"

#define RM_PROGRESS_LOG_S 10u

struct rm_progress {
    bool tty, on;
    uint64_t every_ns, last_ns, start_ns, start_done;
    bool drawn; /* a line is on the terminal without its newline */
};

/* Sets p up: on unless quiet; tty from isatty(2). */
void rm_progress_init(struct rm_progress *p, bool quiet);

/* Prints the line if it is time (now: monotonic ns). input_bytes: the job's input (0 if
 * unknown). Can't fail. */
void rm_progress_tick(struct rm_progress *p, uint64_t now, const struct rm_tasktable *tt,
                      uint64_t input_bytes, uint32_t size, int leader, uint64_t term);

/* Ends a line drawn in place with its newline (at the end of the job). */
void rm_progress_end(struct rm_progress *p);

/* Formats the line into buf (for tests too). elapsed_s: since counting started; done_since:
 * tasks done in that time. */
void rm_progress_format(char *buf, size_t cap, const struct rm_tasktable *tt, uint64_t input_bytes,
                        double elapsed_s, uint64_t done_since, uint32_t size, int leader,
                        uint64_t term);

#endif /* RM_SCHEDULER_PROGRESS_H */
