/*
 * sim_farm.c: deterministic simulation of the task farm (scheduler/farm.c) with many workers,
 * random kills and leader changes.
 *
 *   sim_farm [--stress] --seeds N [--first S]   random runs for seeds S..S+N-1
 *   sim_farm [--stress] --seed S [--verbose]    replays one run, with a trace of its events
 *
 * Each seed draws a cluster (4..16 ranks, the first 1, 3 or 5 of them Raft voters), a job (1..3
 * stages, a few hundred to a few thousand tasks) and a fault plan: kills (leaving a majority of
 * the voters; with a single voter, sometimes every other rank), leader step-downs, deposed
 * leaders that do not know it yet, new leaders behind the log, replaced voters, snapshots,
 * failed attempts, a slow rank, long network delays, proposals the log refuses, faults crowded
 * into start-up or the leader dying while it writes the output. farm_fixture.c runs it.
 * --stress draws from a harsher mix: every new leader behind the log, the faults in start-up,
 * 4..12 step-downs, and 10-30% of attempts failing (in jobs that must still succeed).
 *
 * Checks (farm_oracle.c), on the committed log replayed into a fresh task table:
 *  1. The job ends on every live rank within FF_LIMIT_MS, with status 0; in runs where one task
 *     fails every attempt, with status 3, and the table shows it failed max_attempts times.
 *  2. Every task becomes done exactly once, and nothing ever leaves done.
 *  3. Every completion committed was run to completion by that rank at that attempt, which was
 *     committed to that rank, and the rank was not committed dead before.
 *  4. The leader never finishes early: when io->finished is called, its table is all done.
 *  5. Stages run in order: no task of a stage is assigned, or runs, before every task of the
 *     stages before it is committed done (backups and reruns belong to their own stage).
 *  6. Every live voter's table, once it has applied the whole log, equals the replayed one.
 *  7. Every execution is of an attempt committed to that rank before it started, and no
 *     (task, attempt) runs twice.
 * A failure prints the one command that replays it.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringmaster.h"
#include "tests/sim/farm_fixture.h"

static struct ff_stats g_total;

static void draw_params(struct ff *s, bool stress)
{
    struct ff_params *p = &s->p;
    p->n = (uint32_t)ff_range(s, 4, FF_MAX_RANKS);
    uint64_t v = ff_range(s, 0, 9);
    p->voters = v == 0 ? 1 : v < 6 || p->n < 5 ? 3 : 5;
    p->min_alive = p->voters == 1 ? 1 : 2;
    bool alone = p->voters == 1 && ff_chance(s, 500); /* the leader may end up alone */
    p->stages = (uint32_t)ff_range(s, 1, FF_MAX_STAGES);
    uint64_t per = ff_range(s, 40, alone ? 100 : 220) * (p->n - 1) / p->stages;
    p->tasks = 0;
    for (uint32_t k = 0; k < p->stages; k++)
        p->tasks += p->stage_tasks[k] = ff_range(s, 1, 2 * per);
    p->batch = (uint32_t)ff_range(s, 1, 48);
    p->credits = ff_chance(s, 500) ? 0 : (uint32_t)ff_range(s, 1, 4 * p->batch);
    p->vnodes = ff_chance(s, 500) ? 0 : (uint32_t)ff_range(s, 8, 128);
    p->speculation = ff_chance(s, 700);
    p->held = p->stages > 1 && ff_chance(s, 500);
    p->bounded = ff_chance(s, 300) ? 1.1 + (double)ff_range(s, 0, 9) / 10.0 : 0;
    p->must_fail = !stress && ff_chance(s, 80);
    if (p->must_fail) {
        p->max_attempts = (uint32_t)ff_range(s, 1, 3);
        p->fail_permille = (uint32_t)ff_range(s, 0, 300);
        p->doomed = ff_range(s, 0, p->tasks - 1);
    } else if (stress || ff_chance(s, 500)) {
        p->max_attempts = 30; /* 30 failures in a row at 30%: 2e-16 */
        p->fail_permille = (uint32_t)(stress ? ff_range(s, 100, 300)
                                             : ff_range(s, 5, ff_chance(s, 300) ? 300 : 50));
    }
    p->slow =
        p->n >= 6 && !alone && ff_chance(s, 400) ? (uint32_t)ff_range(s, 0, p->n - 1) : FF_NONE;
    p->slow_factor = (uint32_t)ff_range(s, 3, 10);
    p->lagging = stress || ff_chance(s, 500);
    p->recruit = p->voters > 1 && ff_chance(s, 500);
    p->max_kills = alone ? p->n - 1 : (uint32_t)ff_range(s, 0, (p->n - 1) / 3 + 1);
    p->stepdowns = (uint32_t)(stress ? ff_range(s, 4, 12) : ff_range(s, 0, 4));
    bool early = stress || ff_chance(s, 300); /* the faults crowd into start-up */
    p->net_ms = (uint32_t)ff_range(s, 1, 20);
    p->commit_ms = (uint32_t)ff_range(s, 1, 10);
    p->work_max = (uint32_t)ff_range(s, 2, 30);
    /* A slow rank's last `credits` tasks are each stage's tail: keep it under 40 s a stage. */
    uint64_t tail = (uint64_t)(p->credits ? p->credits : 2 * p->batch) * p->work_max * p->stages;
    if (tail * p->slow_factor > 40000)
        p->slow_factor = tail * 2 > 40000 ? 2 : (uint32_t)(40000 / tail);
    p->finish_ms = (uint32_t)ff_range(s, 0, 50);
    p->state = p->stages > 1 && ff_chance(s, 500);
    p->copies = p->held ? (uint32_t)ff_range(s, 1, 3) : 1;
    p->spike_permille = ff_chance(s, 500) ? (uint32_t)ff_range(s, 1, 20) : 0;
    p->busy_permille = ff_chance(s, 300) ? (uint32_t)ff_range(s, 1, 50) : 0;
    p->snap_permille = ff_chance(s, 300) ? (uint32_t)ff_range(s, 1, 5) : 0;
    p->fault_ms = p->tasks * (p->work_max + 1) / 2 / (p->n - 1) + 200; /* about the job */
    if (early && p->fault_ms > 1500)
        p->fault_ms = 1500;
}

static void print_params(const struct ff *s)
{
    const struct ff_params *p = &s->p;
    fprintf(stderr,
            "seed %" PRIu64 ": %u ranks, %u voters, %" PRIu64 " tasks in %u stages, batch %u, "
            "credits %u, vnodes %u, speculation %d, held %d, max attempts %u, failures "
            "%u/1000%s, slow "
            "rank %d (x%u), kills <= %u, step-downs %u, faults in %" PRIu64
            " ms, %s leaders, recruit %d, net <= %u ms, spikes %u/1000, busy %u/1000, "
            "snapshots %u/1000\n",
            s->seed, p->n, p->voters, p->tasks, p->stages, p->batch, p->credits, p->vnodes,
            p->speculation, p->held, p->max_attempts, p->fail_permille,
            p->must_fail ? " (must fail)" : "", p->slow == FF_NONE ? -1 : (int)p->slow,
            p->slow_factor, p->max_kills, p->stepdowns, p->fault_ms,
            p->lagging ? "lagging" : "caught-up", p->recruit, p->net_ms, p->spike_permille,
            p->busy_permille, p->snap_permille);
}

static void add_stats(struct ff_stats *t, const struct ff_stats *x, uint64_t seed)
{
    t->runs++;
    t->must_fail += x->must_fail;
    t->elections += x->elections;
    t->kills += x->kills;
    t->stepdowns += x->stepdowns;
    t->recruits += x->recruits;
    t->recruit_snaps += x->recruit_snaps;
    t->snapshots += x->snapshots;
    t->executions += x->executions;
    t->extra += x->extra;
    t->by_leader += x->by_leader;
    t->backups += x->backups;
    t->rescheduled += x->rescheduled;
    t->lost += x->lost;
    t->kept += x->kept;
    t->recopied += x->recopied;
    t->failures += x->failures;
    t->stale_msgs += x->stale_msgs;
    t->stale_done += x->stale_done;
    t->stolen += x->stolen;
    t->resent += x->resent;
    t->sim_ms += x->sim_ms;
    if (x->sim_ms > t->max_ms) {
        t->max_ms = x->sim_ms;
        t->max_ms_seed = seed;
    }
}

static int run_one(uint64_t seed, bool stress, bool verbose, char *err, size_t errlen)
{
    struct ff *s = malloc(sizeof *s);
    if (!s)
        return -1;
    ff_init(s, seed, verbose);
    draw_params(s, stress);
    if (verbose)
        print_params(s);
    int rc = ff_start(s);
    if (rc != 0)
        ff_fail(s, "setting up: %s", rm_strerror(rc));
    if (!s->failed)
        ff_run(s);
    s->st.must_fail = s->p.must_fail;
    if (!s->failed)
        ff_check(s);
    ff_close(s);
    const struct ff_stats *st = &s->st;
    if (verbose)
        fprintf(stderr,
                "seed %" PRIu64 ": %s; %" PRIu64 " ms, %" PRIu64 " elections, %" PRIu64
                " kills, %" PRIu64 " step-downs, %" PRIu64 " recruits, %" PRIu64
                " executions (%" PRIu64 " extra), %" PRIu64 " backups, %" PRIu64
                " rescheduled, %" PRIu64 " failures, %" PRIu64 " stale frames\n",
                seed, s->failed ? s->err : "ok", st->sim_ms, st->elections, st->kills,
                st->stepdowns, st->recruits, st->executions, st->extra, st->backups,
                st->rescheduled, st->failures, st->stale_msgs);
    add_stats(&g_total, st, seed);
    rc = s->failed ? -1 : 0;
    if (rc != 0)
        snprintf(err, errlen, "%s", s->err);
    free(s);
    return rc;
}

static void print_totals(uint64_t seeds, uint64_t first, int failures)
{
    const struct ff_stats *t = &g_total;
    printf("%" PRIu64 " seeds from %" PRIu64 ": %d failed\n", seeds, first, failures);
    printf("  exercised: %" PRIu64 " runs meant to fail, %" PRIu64 " elections, %" PRIu64
           " kills, %" PRIu64 " step-downs, %" PRIu64 " recruits (%" PRIu64
           " by snapshot), %" PRIu64 " snapshots installed\n",
           t->must_fail, t->elections, t->kills, t->stepdowns, t->recruits, t->recruit_snaps,
           t->snapshots);
    printf("  %" PRIu64 " executions (%" PRIu64 " beyond one per task, %" PRIu64
           " on the leader), %" PRIu64 " backups, %" PRIu64 " rescheduled, %" PRIu64
           " held outputs lost and redone, %" PRIu64 " kept by a replica, %" PRIu64
           " copied again, %" PRIu64 " failed attempts, %" PRIu64 " tasks stolen, %" PRIu64
           " stale completions, %" PRIu64 " stale frames\n",
           t->executions, t->extra, t->by_leader, t->backups, t->rescheduled, t->lost, t->kept,
           t->recopied, t->failures, t->stolen, t->stale_done, t->stale_msgs);
    printf("  simulated %" PRIu64 " s in all; longest run %" PRIu64 " ms (seed %" PRIu64 ")\n",
           t->sim_ms / 1000, t->max_ms, t->max_ms_seed);
}

static int usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s [--stress] --seeds N [--first S]   random runs for seeds S..S+N-1\n"
            "       %s [--stress] --seed S [--verbose]    replay one run\n",
            argv0, argv0);
    return 2;
}

int main(int argc, char **argv)
{
    uint64_t first = 1, seeds = 1;
    bool verbose = false, stress = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--verbose"))
            verbose = true;
        else if (!strcmp(a, "--stress"))
            stress = true;
        else if (v && !strcmp(a, "--seeds") && ++i)
            seeds = strtoull(v, NULL, 10);
        else if (v && (!strcmp(a, "--seed") || !strcmp(a, "--first")) && ++i)
            first = strtoull(v, NULL, 10);
        else
            return usage(argv[0]);
    }
    int failures = 0;
    char err[512];
    for (uint64_t s = first; s < first + seeds; s++) {
        if (run_one(s, stress, verbose, err, sizeof err) != 0) {
            failures++;
            printf("FAIL seed %" PRIu64 ": %s\nreplay: %s%s --seed %" PRIu64 " --verbose\n", s, err,
                   argv[0], stress ? " --stress" : "", s);
            fflush(stdout);
        }
    }
    print_totals(seeds, first, failures);
    return failures ? 1 : 0;
}
