/*
 * report.h: what the leader writes when a job ends: the job report (--report FILE, JSON) and
 * the trace (--trace FILE, Chrome trace-event JSON, for Perfetto, chrome://tracing and
 * `ringmaster timeline`), from the records (trace.h) that the live ranks sent it.
 *
 * A rank that died before the end sent nothing: the report lists it as not reporting, and the
 * trace keeps its failure marker but not its spans. Every instant is recorded by the ranks
 * that saw it; the merge keeps the first sighting (an election per term, a death per rank,
 * with the rank whose detector timed it out). Times are given in seconds (report) or
 * microseconds (trace) from the job's start: the earliest start among the records.
 *
 * Both files are written under a temporary name and renamed once complete.
 */
#ifndef RM_SCHEDULER_REPORT_H
#define RM_SCHEDULER_REPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "runtime/options.h"
#include "runtime/world.h"
#include "scheduler/farm.h"
#include "scheduler/trace.h"

/* Everything the files say; every pointer is borrowed for the call. */
struct rm_report_job {
    const struct rm_options *opts;
    const char *kernel;
    int size;                           /* ranks in the job */
    const struct rm_rank_info *info;    /* size rows */
    const bool *dead;                   /* size entries: found dead by the end */
    int status;                         /* the job's exit status */
    uint64_t ended;                     /* wall-clock ns */
    const struct rm_tasktable *tt;      /* the final task table */
    const struct rm_farm_stats *st;     /* the finishing leader's counters */
    bool map_reduce;                    /* two stages named map and reduce */
    const struct rm_trace_record *recs; /* one per rank that answered, any order */
    uint32_t n_recs;
};

/* Writes the job report to path. Returns 0 or RM_EIO (errno says why). Any thread. */
int rm_report_write(const char *path, const struct rm_report_job *j);

/* Writes the Chrome trace to path. Returns 0 or RM_EIO (errno says why). Any thread. */
int rm_report_write_trace(const char *path, const struct rm_report_job *j);

/* The name of stage s ("map", "reduce", or "stage S") into buf. Can't fail. */
void rm_report_stage_name(const struct rm_report_job *j, uint32_t s, char *buf, size_t cap);

/* The first sighting of each instant of kind (RM_TRACE_ELECTION: one per term,
 * RM_TRACE_FAILURE: one per dead rank, preferring a detector's own timeout over being told,
 * RM_TRACE_RESCHEDULE: one per dead rank), in time order, with the rank that recorded it in
 * *by. Returns the number written to out (at most cap). Can't fail. */
uint32_t rm_report_instants(const struct rm_report_job *j, enum rm_trace_kind kind,
                            struct rm_trace_event *out, uint32_t *by, uint32_t cap);

/* Writes j->opts' --report and --trace files (those given) from this rank's own record and
 * the records the other ranks sent (answers[r], lens[r] for size ranks; NULL where none came;
 * borrowed). j->recs and j->n_recs are filled here. A malformed record is skipped with a
 * warning. Returns 0, or the first error (after logging one line per file not written). */
int rm_report_files(struct rm_report_job *j, unsigned char *const *answers, const size_t *lens);

/* The job's start: the earliest start among the records (wall-clock ns). */
uint64_t rm_report_start(const struct rm_report_job *j);

#endif /* RM_SCHEDULER_REPORT_H */
