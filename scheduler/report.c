/* report.c: see report.h. The job report; the trace is in report_trace.c. */
#include "scheduler/report.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ringmaster.h"
#include "runtime/jsonout.h"

uint64_t rm_report_start(const struct rm_report_job *j)
{
    uint64_t start = j->ended;
    for (uint32_t i = 0; i < j->n_recs; i++)
        if (j->recs[i].started && j->recs[i].started < start)
            start = j->recs[i].started;
    return start;
}

void rm_report_stage_name(const struct rm_report_job *j, uint32_t s, char *buf, size_t cap)
{
    if (j->map_reduce && s < 2)
        snprintf(buf, cap, "%s", s == 0 ? "map" : "reduce");
    else
        snprintf(buf, cap, "stage %u", s);
}

/* Whether e (recorded by rank by) should replace the sighting kept in *old. */
static bool better(enum rm_trace_kind kind, const struct rm_trace_event *e,
                   const struct rm_trace_event *old)
{
    if (kind == RM_TRACE_FAILURE && e->stage != old->stage)
        return e->stage == 1; /* a detector's own timeout says how fast it was found */
    return e->t0 < old->t0;
}

static uint64_t key_of(enum rm_trace_kind kind, const struct rm_trace_event *e)
{
    return kind == RM_TRACE_ELECTION ? e->b : e->a;
}

/* Adds e to out[0..*n) unless a better sighting of the same instant is there. */
static void keep(enum rm_trace_kind kind, const struct rm_trace_event *e, uint32_t rank,
                 struct rm_trace_event *out, uint32_t *by, uint32_t *n, uint32_t cap)
{
    for (uint32_t i = 0; i < *n; i++)
        if (key_of(kind, &out[i]) == key_of(kind, e)) {
            if (better(kind, e, &out[i])) {
                out[i] = *e;
                by[i] = rank;
            }
            return;
        }
    if (*n < cap) {
        out[*n] = *e;
        by[(*n)++] = rank;
    }
}

uint32_t rm_report_instants(const struct rm_report_job *j, enum rm_trace_kind kind,
                            struct rm_trace_event *out, uint32_t *by, uint32_t cap)
{
    uint32_t n = 0;
    for (uint32_t r = 0; r < j->n_recs; r++)
        for (uint32_t i = 0; i < j->recs[r].n_events; i++)
            if (j->recs[r].events[i].kind == (uint32_t)kind)
                keep(kind, &j->recs[r].events[i], j->recs[r].rank, out, by, &n, cap);
    for (uint32_t i = 1; i < n; i++) /* insertion sort by time: a handful of entries */
        for (uint32_t k = i; k > 0 && out[k].t0 < out[k - 1].t0; k--) {
            struct rm_trace_event t = out[k];
            uint32_t b = by[k];
            out[k] = out[k - 1];
            by[k] = by[k - 1];
            out[k - 1] = t;
            by[k - 1] = b;
        }
    return n;
}

static void put_time(FILE *f, const char *name, uint64_t wall_ns)
{
    time_t s = (time_t)(wall_ns / 1000000000ull);
    struct tm tm;
    char buf[64];
    gmtime_r(&s, &tm);
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf(f, "  \"%s\": \"%s.%03uZ\",\n", name, buf,
            (unsigned)(wall_ns % 1000000000ull / 1000000u));
}

static double rel_s(uint64_t t, uint64_t start)
{
    return t >= start ? (double)(t - start) / 1e9 : -(double)(start - t) / 1e9;
}

static void put_command(FILE *f, const struct rm_options *o)
{
    fputs("  \"command\": [\"ringmaster\", \"run\"", f);
    for (int i = 0; i < o->argc; i++) {
        fputs(", ", f);
        rm_json_str(f, o->argv[i]);
    }
    fputs("],\n", f);
}

static void put_stages(FILE *f, const struct rm_report_job *j, uint64_t start)
{
    const struct rm_tasktable *tt = j->tt;
    fputs("  \"stages\": [", f);
    for (uint32_t s = 0; s < tt->stages; s++) {
        struct rm_trace_stage m = {0};
        for (uint32_t r = 0; r < j->n_recs; r++) {
            if (s >= j->recs[r].n_stages || !j->recs[r].stages[s].tasks)
                continue;
            const struct rm_trace_stage *x = &j->recs[r].stages[s];
            m.tasks += x->tasks;
            m.busy_ns += x->busy_ns;
            m.first = m.first && m.first < x->first ? m.first : x->first;
            m.last = m.last > x->last ? m.last : x->last;
        }
        char name[32];
        rm_report_stage_name(j, s, name, sizeof name);
        fprintf(f, "%s\n    {\"stage\": %u, \"name\": \"%s\", \"tasks\": %" PRIu64, s ? "," : "", s,
                name, tt->stage_first[s + 1] - tt->stage_first[s]);
        fprintf(f, ", \"done\": %" PRIu64 ", \"attempts_run\": %" PRIu64, tt->stage_done[s],
                m.tasks);
        if (m.tasks)
            fprintf(f, ", \"start_s\": %.6f, \"end_s\": %.6f, \"seconds\": %.6f",
                    rel_s(m.first, start), rel_s(m.last, start), (double)(m.last - m.first) / 1e9);
        fprintf(f, ", \"task_seconds\": %.6f}", (double)m.busy_ns / 1e9);
    }
    fputs("\n  ],\n", f);
}

static void put_tasks(FILE *f, const struct rm_report_job *j)
{
    const struct rm_tasktable *tt = j->tt;
    fprintf(f,
            "  \"tasks\": {\"total\": %" PRIu64 ", \"done\": %" PRIu64 ", \"reused\": %" PRIu64
            ", \"rescheduled\": %" PRIu64 ", \"recomputed\": %" PRIu64
            ", \"kept_by_replica\": %" PRIu64 ", \"copied_again\": %" PRIu64
            ", \"backups\": %" PRIu64 ", \"failed_attempts\": %" PRIu64 "},\n",
            tt->n, tt->done, tt->reused, tt->rescheduled, tt->lost, tt->saved, tt->recopied,
            tt->backups, tt->failures);
    if (tt->job_failed)
        fprintf(f, "  \"failed_task\": %" PRIu64 ",\n", tt->failed_task);
}

static void put_instants(FILE *f, const struct rm_report_job *j, uint64_t start)
{
    enum { CAP = 4096 };
    struct rm_trace_event *ev = malloc(CAP * sizeof *ev);
    uint32_t *by = malloc(CAP * sizeof *by);
    uint32_t n = ev && by ? rm_report_instants(j, RM_TRACE_FAILURE, ev, by, CAP) : 0;
    fputs("  \"failures\": [", f);
    for (uint32_t i = 0; i < n; i++)
        fprintf(f,
                "%s\n    {\"rank\": %u, \"at_s\": %.6f, \"detected_by\": %u, \"how\": \"%s\", "
                "\"silence_ms\": %.1f}",
                i ? "," : "", ev[i].a, rel_s(ev[i].t0, start), by[i],
                ev[i].stage ? "heartbeat timeout" : "announced by a peer", (double)ev[i].c / 1e6);
    n = ev && by ? rm_report_instants(j, RM_TRACE_ELECTION, ev, by, CAP) : 0;
    fputs("\n  ],\n  \"leader_changes\": [", f);
    for (uint32_t i = 0; i < n; i++)
        fprintf(f, "%s\n    {\"term\": %" PRIu64 ", \"leader\": %u, \"at_s\": %.6f}", i ? "," : "",
                ev[i].b, ev[i].a, rel_s(ev[i].t0, start));
    n = ev && by ? rm_report_instants(j, RM_TRACE_RESCHEDULE, ev, by, CAP) : 0;
    fputs("\n  ],\n  \"reschedules\": [", f);
    for (uint32_t i = 0; i < n; i++)
        fprintf(f,
                "%s\n    {\"dead_rank\": %u, \"tasks\": %" PRIu64 ", \"at_s\": %.6f, \"by\": %u}",
                i ? "," : "", ev[i].a, ev[i].c, rel_s(ev[i].t0, start), by[i]);
    fputs("\n  ],\n", f);
    free(ev);
    free(by);
}

static const struct rm_trace_record *record_of(const struct rm_report_job *j, int rank)
{
    for (uint32_t i = 0; i < j->n_recs; i++)
        if ((int)j->recs[i].rank == rank)
            return &j->recs[i];
    return NULL;
}

static void put_bytes(FILE *f, const uint64_t *c)
{
    fprintf(f,
            "{\"read\": %" PRIu64 ", \"shuffled\": %" PRIu64 ", \"replicated\": %" PRIu64
            ", \"checkpointed\": %" PRIu64 "}",
            c[RM_TRACE_READ], c[RM_TRACE_SHUFFLED], c[RM_TRACE_REPLICATED],
            c[RM_TRACE_CHECKPOINTED]);
}

static void put_ranks(FILE *f, const struct rm_report_job *j)
{
    uint64_t total[RM_TRACE_COUNTERS] = {0}, dropped = 0;
    fputs("  \"ranks\": [", f);
    for (int r = 0; r < j->size; r++) {
        const struct rm_trace_record *x = record_of(j, r);
        fprintf(f, "%s\n    {\"rank\": %d, \"host\": ", r ? "," : "", r);
        rm_json_str(f, j->info[r].host);
        fprintf(f, ", \"pid\": %d, \"cores\": ", j->info[r].pid);
        rm_json_str(f, j->info[r].cpus);
        fprintf(f, ", \"dead\": %s, \"reported\": %s", j->dead[r] ? "true" : "false",
                x ? "true" : "false");
        if (x) {
            uint64_t run = 0;
            for (uint32_t s = 0; s < x->n_stages; s++)
                run += x->stages[s].tasks;
            fprintf(f, ", \"peak_rss_bytes\": %" PRIu64 ", \"tasks_run\": %" PRIu64 ", \"bytes\": ",
                    x->peak_rss, run);
            put_bytes(f, x->counters);
            for (int c = 0; c < RM_TRACE_COUNTERS; c++)
                total[c] += x->counters[c];
            dropped += x->dropped;
        }
        fputc('}', f);
    }
    fputs("\n  ],\n  \"bytes\": ", f);
    put_bytes(f, total);
    fprintf(f, ",\n  \"trace_events_dropped\": %" PRIu64 ",\n", dropped);
}

int rm_report_write(const char *path, const struct rm_report_job *j)
{
    char tmp[4096];
    FILE *f = rm_json_open(path, tmp, sizeof tmp);
    if (!f)
        return RM_EIO;
    uint64_t start = rm_report_start(j);
    static const char *const results[] = {"done", "failed", "usage error", "failed", "stopped"};
    fprintf(f, "{\n  \"ringmaster_version\": \"%s\",\n  \"kernel\": ", rm_version());
    rm_json_str(f, j->kernel);
    fprintf(f, ",\n  \"status\": %d,\n  \"result\": \"%s\",\n", j->status,
            j->status >= 0 && j->status <= 4 ? results[j->status] : "failed");
    put_command(f, j->opts);
    fputs("  \"options\": ", f);
    rm_options_json(j->opts, f);
    fprintf(f, ",\n  \"size\": %d,\n  \"ranks_reporting\": %u,\n", j->size, j->n_recs);
    put_time(f, "start", start);
    put_time(f, "end", j->ended);
    fprintf(
        f, "  \"seconds\": %.6f,\n  \"leader_changes_seen\": %u,\n  \"final_term\": %" PRIu64 ",\n",
        rel_s(j->ended, start), j->st->leader_changes, j->st->term);
    put_stages(f, j, start);
    put_tasks(f, j);
    put_instants(f, j, start);
    put_ranks(f, j);
    fputs("  \"complete\": ", f);
    uint32_t live = 0;
    for (int r = 0; r < j->size; r++)
        live += !j->dead[r];
    fprintf(f, "%s\n}\n", j->n_recs >= live ? "true" : "false");
    return rm_json_commit(f, tmp, path, 1);
}
