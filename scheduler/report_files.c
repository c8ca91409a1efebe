/* report_files.c: rm_report_files (see report.h): decodes the ranks' records, then writes the
 * files. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ringmaster.h"
#include "runtime/log.h"
#include "scheduler/report.h"

/* Decodes this rank's record and the answers into recs; returns how many. */
static uint32_t decode_all(const struct rm_report_job *j, unsigned char *const *answers,
                           const size_t *lens, struct rm_trace_record *recs)
{
    uint32_t n = 0;
    unsigned char *own = NULL;
    size_t len = 0;
    if (rm_trace_encode(&own, &len) == 0 && rm_trace_decode(own, len, &recs[n]) == 0)
        n++;
    free(own);
    for (int r = 0; answers && r < j->size; r++) {
        if (!answers[r])
            continue;
        int rc = rm_trace_decode(answers[r], lens[r], &recs[n]);
        if (rc == 0 && (int)recs[n].rank == r) {
            n++;
            continue;
        }
        if (rc == 0)
            rm_trace_record_free(&recs[n]);
        rm_warn("report: dropped a malformed record from rank %d", r);
    }
    return n;
}

int rm_report_files(struct rm_report_job *j, unsigned char *const *answers, const size_t *lens)
{
    struct rm_trace_record *recs = calloc((size_t)j->size + 1, sizeof *recs);
    if (!recs)
        return RM_ENOMEM;
    j->recs = recs;
    j->n_recs = decode_all(j, answers, lens, recs);
    int rc = 0;
    const char *report = j->opts->report_path, *trace = j->opts->trace_path;
    if (report && (rc = rm_report_write(report, j)) != 0)
        rm_error("cannot write the report %s: %s", report, strerror(errno));
    int rc2 = trace ? rm_report_write_trace(trace, j) : 0;
    if (rc2 != 0)
        rm_error("cannot write the trace %s: %s", trace, strerror(errno));
    for (uint32_t i = 0; i < j->n_recs; i++)
        rm_trace_record_free(&recs[i]);
    free(recs);
    j->recs = NULL;
    j->n_recs = 0;
    return rc ? rc : rc2;
}
