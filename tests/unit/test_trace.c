/* test_trace.c: the trace record (recording, encoding, decoding, the cap, malformed records)
 * and the report's merge of instants seen by several ranks. */
#include <CUnit/Basic.h>
#include <stdlib.h>
#include <string.h>

#include "ringmaster.h"
#include "runtime/frame.h"
#include "scheduler/report.h"
#include "scheduler/trace.h"

static void encode_decode(struct rm_trace_record *r)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    CU_ASSERT_EQUAL_FATAL(rm_trace_encode(&buf, &len), 0);
    CU_ASSERT_EQUAL_FATAL(rm_trace_decode(buf, len, r), 0);
    free(buf);
}

static void test_off(void)
{
    rm_trace_reset();
    rm_trace_task(0, 1, 1, false, 10, 20);
    rm_trace_count(RM_TRACE_READ, 5);
    struct rm_trace_record r;
    encode_decode(&r);
    CU_ASSERT_EQUAL(r.n_events, 0);
    CU_ASSERT_EQUAL(r.n_stages, 0);
    CU_ASSERT_EQUAL(r.counters[RM_TRACE_READ], 0);
    rm_trace_record_free(&r);
}

static void test_round_trip(void)
{
    rm_trace_reset();
    CU_ASSERT_EQUAL(rm_trace_enable(7, true), 0);
    rm_trace_task(0, 3, 1, false, 1000, 5000);
    rm_trace_task(2, 9, 2, true, 6000, 9000);
    rm_trace_event(RM_TRACE_SHUFFLE, 0, 4, 0, 123, 7000, 8000);
    rm_trace_event(RM_TRACE_FAILURE, 1, 3, 0, 400000000, 8500, 8500);
    rm_trace_count(RM_TRACE_READ, 100);
    rm_trace_count(RM_TRACE_READ, 23);
    rm_trace_count(RM_TRACE_CHECKPOINTED, 9);
    struct rm_trace_record r;
    encode_decode(&r);
    CU_ASSERT_EQUAL(r.rank, 7);
    CU_ASSERT_EQUAL(r.counters[RM_TRACE_READ], 123);
    CU_ASSERT_EQUAL(r.counters[RM_TRACE_CHECKPOINTED], 9);
    CU_ASSERT(r.peak_rss > 0);
    CU_ASSERT_EQUAL_FATAL(r.n_events, 4);
    CU_ASSERT_EQUAL(r.events[1].kind, RM_TRACE_TASK);
    CU_ASSERT_EQUAL(r.events[1].b, 9);
    CU_ASSERT_EQUAL(r.events[1].c, 1); /* failed */
    CU_ASSERT_EQUAL(r.events[1].t1 - r.events[1].t0, 3000);
    CU_ASSERT_EQUAL(r.events[0].t0, rm_trace_wall(1000));
    CU_ASSERT_EQUAL(r.events[3].c, 400000000);
    CU_ASSERT_EQUAL_FATAL(r.n_stages, 3);
    CU_ASSERT_EQUAL(r.stages[0].tasks, 1);
    CU_ASSERT_EQUAL(r.stages[1].tasks, 0);
    CU_ASSERT_EQUAL(r.stages[2].busy_ns, 3000);
    CU_ASSERT_EQUAL(r.stages[2].first, rm_trace_wall(6000));
    rm_trace_record_free(&r);
    rm_trace_reset();
}

/* Without events, task spans are not kept (only the stage sums) but instants are. */
static void test_spans_off(void)
{
    rm_trace_reset();
    rm_trace_enable(0, false);
    rm_trace_task(0, 3, 1, false, 1000, 5000);
    rm_trace_event(RM_TRACE_SHUFFLE, 0, 4, 0, 123, 7000, 8000);
    rm_trace_event(RM_TRACE_ELECTION, 0, 1, 2, 0, 9000, 9000);
    struct rm_trace_record r;
    encode_decode(&r);
    CU_ASSERT_EQUAL(r.n_events, 1);
    CU_ASSERT_EQUAL(r.events[0].kind, RM_TRACE_ELECTION);
    CU_ASSERT_EQUAL(r.stages[0].tasks, 1);
    rm_trace_record_free(&r);
    rm_trace_reset();
}

static void test_cap(void)
{
    rm_trace_reset();
    rm_trace_enable(0, true);
    for (uint32_t i = 0; i < RM_TRACE_MAX_EVENTS + 10; i++)
        rm_trace_task(0, i, 1, false, i, i + 1);
    struct rm_trace_record r;
    encode_decode(&r);
    CU_ASSERT_EQUAL(r.n_events, RM_TRACE_MAX_EVENTS);
    CU_ASSERT_EQUAL(r.dropped, 10);
    CU_ASSERT_EQUAL(r.stages[0].tasks, RM_TRACE_MAX_EVENTS + 10); /* still counted */
    rm_trace_record_free(&r);
    rm_trace_reset();
}

static void test_malformed(void)
{
    rm_trace_reset();
    rm_trace_enable(1, true);
    rm_trace_task(0, 3, 1, false, 1000, 5000);
    unsigned char *buf = NULL;
    size_t len = 0;
    CU_ASSERT_EQUAL_FATAL(rm_trace_encode(&buf, &len), 0);
    struct rm_trace_record r;
    for (size_t cut = 0; cut < len; cut += 7) /* every truncation is refused */
        CU_ASSERT_EQUAL(rm_trace_decode(buf, cut, &r), RM_EPROTO);
    unsigned char *bad = malloc(len + 1);
    memcpy(bad, buf, len);
    bad[len] = 0;
    CU_ASSERT_EQUAL(rm_trace_decode(bad, len + 1, &r), RM_EPROTO); /* trailing byte */
    memcpy(bad, buf, len);
    bad[0] ^= 1;
    CU_ASSERT_EQUAL(rm_trace_decode(bad, len, &r), RM_EPROTO); /* magic */
    memcpy(bad, buf, len);
    rm_put_u32(bad + len - 44, 99); /* the event's kind */
    CU_ASSERT_EQUAL(rm_trace_decode(bad, len, &r), RM_EPROTO);
    memcpy(bad, buf, len);
    rm_put_u32(bad + 68, 0xffffffffu); /* the event count */
    CU_ASSERT_EQUAL(rm_trace_decode(bad, len, &r), RM_EPROTO);
    free(bad);
    free(buf);
    rm_trace_reset();
}

/* Three ranks saw the same election and death: one sighting each is kept, the earliest, and
 * for a death the detector's own timeout over being told. */
static void test_merge(void)
{
    struct rm_trace_event a[] = {
        {.kind = RM_TRACE_ELECTION, .a = 0, .b = 1, .t0 = 100, .t1 = 100},
        {.kind = RM_TRACE_FAILURE, .stage = 0, .a = 0, .t0 = 500, .t1 = 500},
        {.kind = RM_TRACE_ELECTION, .a = 2, .b = 2, .t0 = 450, .t1 = 450}};
    struct rm_trace_event b[] = {
        {.kind = RM_TRACE_ELECTION, .a = 0, .b = 1, .t0 = 90, .t1 = 90},
        {.kind = RM_TRACE_FAILURE, .stage = 1, .a = 0, .c = 4, .t0 = 520, .t1 = 520},
        {.kind = RM_TRACE_ELECTION, .a = 2, .b = 2, .t0 = 460, .t1 = 460}};
    struct rm_trace_record recs[] = {{.rank = 1, .n_events = 3, .events = a, .started = 50},
                                     {.rank = 2, .n_events = 3, .events = b, .started = 40}};
    struct rm_report_job j = {.recs = recs, .n_recs = 2, .ended = 1000};
    struct rm_trace_event out[4];
    uint32_t by[4];
    CU_ASSERT_EQUAL(rm_report_start(&j), 40);
    CU_ASSERT_EQUAL_FATAL(rm_report_instants(&j, RM_TRACE_ELECTION, out, by, 4), 2);
    CU_ASSERT_EQUAL(out[0].b, 1);
    CU_ASSERT_EQUAL(out[0].t0, 90);
    CU_ASSERT_EQUAL(by[0], 2);
    CU_ASSERT_EQUAL(out[1].b, 2);
    CU_ASSERT_EQUAL(out[1].t0, 450);
    CU_ASSERT_EQUAL_FATAL(rm_report_instants(&j, RM_TRACE_FAILURE, out, by, 4), 1);
    CU_ASSERT_EQUAL(out[0].stage, 1); /* rank 2 timed it out itself */
    CU_ASSERT_EQUAL(by[0], 2);
    CU_ASSERT_EQUAL(rm_report_instants(&j, RM_TRACE_ELECTION, out, by, 1), 1); /* the cap */
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("trace", NULL, NULL);
    CU_add_test(s, "nothing is recorded until enabled", test_off);
    CU_add_test(s, "spans, instants, counters and stages survive a round trip", test_round_trip);
    CU_add_test(s, "without events only stage sums and instants are kept", test_spans_off);
    CU_add_test(s, "events past the cap are counted as dropped", test_cap);
    CU_add_test(s, "truncated and corrupted records are refused", test_malformed);
    CU_add_test(s, "instants seen by several ranks are merged", test_merge);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
