/* report_trace.c: the Chrome trace (see report.h): one process, one track (thread) per rank,
 * complete events ("X") for spans, global instants ("i", scope "g") for elections, failures and
 * reschedules, times in microseconds from the job's start. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "ringmaster.h"
#include "runtime/jsonout.h"
#include "scheduler/report.h"

static double us(uint64_t t, uint64_t start)
{
    return t >= start ? (double)(t - start) / 1e3 : 0.0;
}

static void put_meta(FILE *f, const struct rm_report_job *j)
{
    fprintf(f, "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":1,\"tid\":0,\"args\":{\"name\":");
    char title[128];
    snprintf(title, sizeof title, "ringmaster %s", j->kernel);
    rm_json_str(f, title);
    fputs("}}", f);
    for (int r = 0; r < j->size; r++) {
        fprintf(f,
                ",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":%d,\"args\":{\"name\":"
                "\"rank %d%s\"}}",
                r, r, j->dead[r] ? " (dead)" : "");
        fprintf(f,
                ",\n{\"name\":\"thread_sort_index\",\"ph\":\"M\",\"pid\":1,\"tid\":%d,\"args\":{"
                "\"sort_index\":%d}}",
                r, r);
    }
}

static void put_span(FILE *f, const struct rm_report_job *j, uint32_t rank,
                     const struct rm_trace_event *e, uint64_t start)
{
    char stage[32];
    const char *cat = e->kind == RM_TRACE_SHUFFLE     ? "shuffle"
                      : e->kind == RM_TRACE_REPLICATE ? "replicate"
                                                      : "checkpoint";
    if (e->kind == RM_TRACE_TASK) {
        rm_report_stage_name(j, e->stage, stage, sizeof stage);
        fprintf(f,
                ",\n{\"name\":\"%s %" PRIu64 "\",\"cat\":\"task\",\"ph\":\"X\",\"ts\":%.3f,"
                "\"dur\":%.3f,\"pid\":1,\"tid\":%u,\"args\":{\"stage\":%u,\"stage_name\":\"%s\","
                "\"task\":%" PRIu64 ",\"attempt\":%u,\"failed\":%s}}",
                stage, e->b, us(e->t0, start), (double)(e->t1 - e->t0) / 1e3, rank, e->stage, stage,
                e->b, e->a, e->c ? "true" : "false");
        return;
    }
    fprintf(f,
            ",\n{\"name\":\"%s\",\"cat\":\"%s\",\"ph\":\"X\",\"ts\":%.3f,\"dur\":%.3f,\"pid\":1,"
            "\"tid\":%u,\"args\":{\"bytes\":%" PRIu64,
            cat, cat, us(e->t0, start), (double)(e->t1 - e->t0) / 1e3, rank, e->c);
    if (e->kind == RM_TRACE_SHUFFLE)
        fprintf(f, ",\"parts\":%u}}", e->a);
    else if (e->kind == RM_TRACE_REPLICATE)
        fprintf(f, ",\"task\":%" PRIu64 ",\"copies\":%u}}", e->b, e->a);
    else
        fprintf(f, ",\"round\":%" PRIu64 "}}", e->b);
}

static void put_spans(FILE *f, const struct rm_report_job *j, uint64_t start)
{
    for (uint32_t r = 0; r < j->n_recs; r++)
        for (uint32_t i = 0; i < j->recs[r].n_events; i++) {
            const struct rm_trace_event *e = &j->recs[r].events[i];
            if (e->kind <= RM_TRACE_CHECKPOINT)
                put_span(f, j, j->recs[r].rank, e, start);
        }
}

static void put_instant(FILE *f, enum rm_trace_kind kind, const struct rm_trace_event *e,
                        uint32_t by, uint64_t start)
{
    if (kind == RM_TRACE_ELECTION)
        fprintf(f,
                ",\n{\"name\":\"election\",\"cat\":\"election\",\"ph\":\"i\",\"s\":\"g\","
                "\"ts\":%.3f,\"pid\":1,\"tid\":%u,\"args\":{\"leader\":%u,\"term\":%" PRIu64 "}}",
                us(e->t0, start), e->a, e->a, e->b);
    else if (kind == RM_TRACE_FAILURE)
        fprintf(f,
                ",\n{\"name\":\"failure\",\"cat\":\"failure\",\"ph\":\"i\",\"s\":\"g\","
                "\"ts\":%.3f,\"pid\":1,\"tid\":%u,\"args\":{\"rank\":%u,\"detected_by\":%u,"
                "\"how\":\"%s\",\"latency_ms\":%.1f}}",
                us(e->t0, start), e->a, e->a, by, e->stage ? "heartbeat timeout" : "announced",
                (double)e->c / 1e6);
    else
        fprintf(f,
                ",\n{\"name\":\"reschedule\",\"cat\":\"reschedule\",\"ph\":\"i\",\"s\":\"g\","
                "\"ts\":%.3f,\"pid\":1,\"tid\":%u,\"args\":{\"tasks\":%" PRIu64 ",\"from\":%u}}",
                us(e->t0, start), by, e->c, e->a);
}

static void put_instants(FILE *f, const struct rm_report_job *j, uint64_t start)
{
    enum { CAP = 4096 };
    struct rm_trace_event *ev = malloc(CAP * sizeof *ev);
    uint32_t *by = malloc(CAP * sizeof *by);
    static const enum rm_trace_kind kinds[] = {RM_TRACE_ELECTION, RM_TRACE_FAILURE,
                                               RM_TRACE_RESCHEDULE};
    for (size_t k = 0; ev && by && k < sizeof kinds / sizeof *kinds; k++) {
        uint32_t n = rm_report_instants(j, kinds[k], ev, by, CAP);
        for (uint32_t i = 0; i < n; i++)
            put_instant(f, kinds[k], &ev[i], by[i], start);
    }
    free(ev);
    free(by);
}

int rm_report_write_trace(const char *path, const struct rm_report_job *j)
{
    char tmp[4096];
    FILE *f = rm_json_open(path, tmp, sizeof tmp);
    if (!f)
        return RM_EIO;
    uint64_t start = rm_report_start(j), dropped = 0;
    for (uint32_t i = 0; i < j->n_recs; i++)
        dropped += j->recs[i].dropped;
    fputs("{\"traceEvents\":[\n", f);
    put_meta(f, j);
    put_spans(f, j, start);
    put_instants(f, j, start);
    time_t s = (time_t)(start / 1000000000ull);
    struct tm tm;
    char when[64];
    gmtime_r(&s, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    fprintf(f,
            "\n],\n\"displayTimeUnit\":\"ms\",\n\"otherData\":{\"ringmaster_version\":\"%s\","
            "\"kernel\":",
            rm_version());
    rm_json_str(f, j->kernel);
    fprintf(f,
            ",\"ranks\":%d,\"ranks_reporting\":%u,\"status\":%d,\"start\":\"%s\","
            "\"events_dropped\":%" PRIu64 "}}\n",
            j->size, j->n_recs, j->status, when, dropped);
    return rm_json_commit(f, tmp, path, 1);
}
