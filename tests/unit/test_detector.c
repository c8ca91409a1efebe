/* test_detector.c: the failure detector state machine under a simulated clock. */
#include <CUnit/Basic.h>
#include <stdlib.h>

#include "ringmaster.h"
#include "runtime/clock.h"
#include "runtime/detector.h"

#define MS RM_NS_PER_MS
#define T0 (1000 * MS)

struct fixture {
    struct rm_detector d;
    struct rm_detector_actions a;
    uint32_t send[64], susp[64];
};

static void setup(struct fixture *f, uint32_t self, uint32_t size, uint32_t watchers)
{
    struct rm_detector_config c = {.self = self,
                                   .size = size,
                                   .heartbeat_ns = 100 * MS,
                                   .suspect_ns = 400 * MS,
                                   .watchers = watchers};
    CU_ASSERT_FATAL(rm_detector_init(&f->d, &c, T0) == 0);
    f->a.send_to = f->send;
    f->a.suspected = f->susp;
}

static void test_config_errors(void)
{
    struct rm_detector d;
    struct rm_detector_config c = {
        .self = 3, .size = 3, .heartbeat_ns = 1, .suspect_ns = 2, .watchers = 1};
    CU_ASSERT_EQUAL(rm_detector_init(&d, &c, 0), RM_EINVAL);
    c.self = 0;
    c.suspect_ns = 1;
    CU_ASSERT_EQUAL(rm_detector_init(&d, &c, 0), RM_EINVAL);
    c.suspect_ns = 2;
    c.watchers = 0;
    CU_ASSERT_EQUAL(rm_detector_init(&d, &c, 0), RM_EINVAL);
}

static void test_heartbeat_targets(void)
{
    struct fixture f;
    setup(&f, 2, 8, 3);
    rm_detector_tick(&f.d, T0, &f.a);
    CU_ASSERT_EQUAL(f.a.n_send, 3);
    CU_ASSERT_EQUAL(f.send[0], 3);
    CU_ASSERT_EQUAL(f.send[1], 4);
    CU_ASSERT_EQUAL(f.send[2], 5);
    rm_detector_tick(&f.d, T0 + 50 * MS, &f.a);
    CU_ASSERT_EQUAL(f.a.n_send, 0); /* not due yet */
    rm_detector_mark_dead(&f.d, 4, T0 + 60 * MS);
    rm_detector_tick(&f.d, T0 + 100 * MS, &f.a);
    CU_ASSERT_EQUAL(f.a.n_send, 3);
    CU_ASSERT_EQUAL(f.send[1], 5); /* 4 is skipped */
    CU_ASSERT_EQUAL(f.send[2], 6);
    rm_detector_close(&f.d);
}

/* Ticks every 10 ms from `from` to `to`, hearing every peer in `alive` (bitmask). */
static int run(struct fixture *f, uint64_t from, uint64_t to, uint64_t alive, uint32_t *first)
{
    int suspected = 0;
    for (uint64_t t = from; t <= to; t += 10 * MS) {
        for (uint32_t r = 0; r < f->d.cfg.size; r++)
            if (alive >> r & 1)
                rm_detector_heard(&f->d, r, t);
        rm_detector_tick(&f->d, t, &f->a);
        if (f->a.n_suspected && suspected == 0 && first)
            *first = f->susp[0];
        suspected += (int)f->a.n_suspected;
    }
    return suspected;
}

static void test_silent_peer_suspected_in_time(void)
{
    struct fixture f;
    setup(&f, 3, 4, 3);
    CU_ASSERT_EQUAL(run(&f, T0, T0 + 2000 * MS, 0xF, NULL), 0);
    /* Rank 1 goes silent at t=2000 ms: suspected after 400 ms, before 410 ms. */
    uint32_t who = 99;
    CU_ASSERT_EQUAL(run(&f, T0 + 2010 * MS, T0 + 2400 * MS, 0xD, &who), 0);
    CU_ASSERT_EQUAL(run(&f, T0 + 2410 * MS, T0 + 2420 * MS, 0xD, &who), 1);
    CU_ASSERT_EQUAL(who, 1);
    CU_ASSERT(rm_detector_is_dead(&f.d, 1));
    CU_ASSERT_EQUAL(f.d.live, 3);
    /* Dead stays dead: hearing from it again changes nothing. */
    rm_detector_heard(&f.d, 1, T0 + 2500 * MS);
    CU_ASSERT(rm_detector_is_dead(&f.d, 1));
    rm_detector_close(&f.d);
}

/* A peer not heard from since the start gets startup_ns; once heard, the usual timeout; a peer
 * watched anew after a death gets the usual timeout at once. */
static void test_startup_grace(void)
{
    struct fixture f;
    struct rm_detector_config c = {.self = 0,
                                   .size = 4,
                                   .heartbeat_ns = 100 * MS,
                                   .suspect_ns = 400 * MS,
                                   .watchers = 2,
                                   .startup_ns = 2000 * MS}; /* 0 watches 3 and 2 */
    CU_ASSERT_FATAL(rm_detector_init(&f.d, &c, T0) == 0);
    f.a.send_to = f.send;
    f.a.suspected = f.susp;
    uint32_t who = 99;
    /* 3 speaks from the start; 2 is late: silent for 1.5 s, not suspected */
    CU_ASSERT_EQUAL(run(&f, T0, T0 + 1500 * MS, 1u << 3, NULL), 0);
    CU_ASSERT_EQUAL(run(&f, T0 + 1510 * MS, T0 + 3000 * MS, 1u << 3 | 1u << 2, NULL), 0);
    /* heard now: 3 goes silent and is suspected after the usual 400 ms */
    CU_ASSERT_EQUAL(run(&f, T0 + 3010 * MS, T0 + 3400 * MS, 1u << 2, NULL), 0);
    CU_ASSERT_EQUAL(run(&f, T0 + 3410 * MS, T0 + 3420 * MS, 1u << 2, &who), 1);
    CU_ASSERT_EQUAL(who, 3);
    /* 1 is watched from 3.41 s on, never heard: the usual timeout, not the start-up grace */
    CU_ASSERT_EQUAL(run(&f, T0 + 3430 * MS, T0 + 3800 * MS, 1u << 2, NULL), 0);
    who = 99;
    CU_ASSERT_EQUAL(run(&f, T0 + 3810 * MS, T0 + 3830 * MS, 1u << 2, &who), 1);
    CU_ASSERT_EQUAL(who, 1);
    /* a peer that never speaks at all is suspected once the grace is over */
    struct fixture g;
    CU_ASSERT_FATAL(rm_detector_init(&g.d, &c, T0) == 0);
    g.a.send_to = g.send;
    g.a.suspected = g.susp;
    CU_ASSERT_EQUAL(run(&g, T0, T0 + 2000 * MS, 1u << 3, NULL), 0);
    CU_ASSERT_EQUAL(run(&g, T0 + 2010 * MS, T0 + 2020 * MS, 1u << 3, &who), 1);
    CU_ASSERT_EQUAL(who, 2);
    rm_detector_close(&f.d);
    rm_detector_close(&g.d);
}

static void test_only_watched_peers_are_judged(void)
{
    struct fixture f;
    setup(&f, 0, 10, 2); /* rank 0 watches 9 and 8 */
    uint32_t who = 99;
    CU_ASSERT_EQUAL(run(&f, T0, T0 + 1000 * MS, 1u << 9 | 1u << 8, NULL), 0);
    /* When 9 dies, 7 becomes watched with a fresh timer, not an old one. */
    CU_ASSERT_EQUAL(run(&f, T0 + 1010 * MS, T0 + 1500 * MS, 1u << 8, &who), 1);
    CU_ASSERT_EQUAL(who, 9);
    CU_ASSERT(f.d.watched[7]);
    CU_ASSERT_EQUAL(run(&f, T0 + 1510 * MS, T0 + 1800 * MS, 1u << 8 | 1u << 7, NULL), 0);
    rm_detector_close(&f.d);
}

static void test_short_stall_restarts_timers(void)
{
    struct fixture f;
    setup(&f, 0, 3, 2);
    CU_ASSERT_EQUAL(run(&f, T0, T0 + 500 * MS, 0x7, NULL), 0);
    /* The control thread itself stalls 300 ms (more than half the timeout): no accusation. */
    rm_detector_tick(&f.d, T0 + 800 * MS, &f.a);
    CU_ASSERT_EQUAL(f.a.n_suspected, 0);
    CU_ASSERT_FALSE(f.a.fence_self);
    CU_ASSERT_EQUAL(f.a.pause_ns, 300 * MS);
    CU_ASSERT_EQUAL(run(&f, T0 + 810 * MS, T0 + 1100 * MS, 0x7, NULL), 0);
    rm_detector_close(&f.d);
}

static void test_long_pause_fences_self(void)
{
    struct fixture f;
    setup(&f, 1, 4, 3);
    CU_ASSERT_EQUAL(run(&f, T0, T0 + 500 * MS, 0xF, NULL), 0);
    /* SIGSTOP for 1.2 s: peers have declared us dead; we must not accuse them. */
    rm_detector_tick(&f.d, T0 + 1700 * MS, &f.a);
    CU_ASSERT_TRUE(f.a.fence_self);
    CU_ASSERT_EQUAL(f.a.n_suspected, 0);
    CU_ASSERT_EQUAL(f.a.n_send, 0);
    rm_detector_tick(&f.d, T0 + 1710 * MS, &f.a);
    CU_ASSERT_FALSE(f.a.fence_self); /* reported once; then silent */
    CU_ASSERT_EQUAL(f.a.n_send, 0);
    rm_detector_close(&f.d);
}

static void test_mark_dead(void)
{
    struct fixture f;
    setup(&f, 1, 4, 3);
    CU_ASSERT_TRUE(rm_detector_mark_dead(&f.d, 2, T0));
    CU_ASSERT_FALSE(rm_detector_mark_dead(&f.d, 2, T0));
    CU_ASSERT_FALSE(rm_detector_mark_dead(&f.d, 1, T0)); /* never self */
    CU_ASSERT_FALSE(rm_detector_mark_dead(&f.d, 9, T0));
    CU_ASSERT_EQUAL(f.d.live, 3);
    rm_detector_close(&f.d);
}

static void test_single_rank(void)
{
    struct fixture f;
    setup(&f, 0, 1, 3);
    CU_ASSERT_EQUAL(run(&f, T0, T0 + 2000 * MS, 0x1, NULL), 0);
    CU_ASSERT_EQUAL(f.a.n_send, 0);
    rm_detector_close(&f.d);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("detector", NULL, NULL);
    CU_add_test(s, "config errors", test_config_errors);
    CU_add_test(s, "heartbeat targets skip the dead", test_heartbeat_targets);
    CU_add_test(s, "silent peer suspected within the timeout", test_silent_peer_suspected_in_time);
    CU_add_test(s, "only watched peers are judged", test_only_watched_peers_are_judged);
    CU_add_test(s, "short stall restarts timers", test_short_stall_restarts_timers);
    CU_add_test(s, "a peer not yet heard from gets the start-up grace", test_startup_grace);
    CU_add_test(s, "long pause fences self", test_long_pause_fences_self);
    CU_add_test(s, "mark dead", test_mark_dead);
    CU_add_test(s, "single rank", test_single_rank);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
