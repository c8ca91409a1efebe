/*
 * sim_raft.c: deterministic simulation of the Raft module.
 *
 *   sim_raft --seeds N [--first S]   random chaos runs for seeds S..S+N-1 (3, 5, 7 nodes)
 *   sim_raft --seed S [--nodes K] [--steps T] [--verbose]   replay one run
 *   sim_raft --scripted              the Raft paper's Figure 7 and Figure 8 scenarios, the
 *                                    membership hazard and a paused (SIGSTOPped) leader
 *   sim_raft --failover N            simulated time from leader crash to the next commit
 *
 * A random run: chaos for T steps of 1..10 simulated ms (drops, duplicates, delays, symmetric,
 * asymmetric and partial partitions, crashes, restarts, pauses, membership changes, client
 * proposals), checked after every message and tick; then everything heals (in half the runs
 * except one voter of a settled configuration, so only a majority is connected) and a leader
 * must commit a new entry within LIVENESS_MS. A failure prints the one command that replays it.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringmaster.h"
#include "tests/sim/raft_fixture.h"

#define LIVENESS_MS 10000
#define EXTRA_IDS 3

struct opts {
    uint64_t seed;
    uint64_t seeds;
    int nodes;
    int steps;
    bool verbose;
    bool scripted;
    uint64_t failover;
};

/* Totals over all seeds, to show what the chaos exercised. */
static uint64_t g_leaders, g_installs, g_snapshots, g_confs, g_crashes, g_applies;
static uint64_t g_heal_max, g_heal_sum, g_heal_max_seed;

struct run {
    struct fx fx;
    uint64_t seed;
    bool removed[FX_MAX_NODES + 1];
    uint64_t next_value;
};

/* ---- random chaos ---------------------------------------------------------------------- */

static void random_config(struct fx *fx, struct rm_raft_config *cfg)
{
    rm_raft_config_default(cfg);
    cfg->heartbeat_ms = (uint32_t)fx_range(fx, 15, 50);
    cfg->max_batch_entries = (uint32_t)fx_range(fx, 1, 64);
    cfg->max_batch_bytes = (uint32_t)fx_range(fx, 8, 2048);
    cfg->max_inflight = (uint32_t)fx_range(fx, 1, 16);
    cfg->compact_keep = fx_range(fx, 0, 8);
    cfg->max_uncommitted_bytes = fx_range(fx, 64, 100000);
    cfg->campaign_at_start = fx_range(fx, 0, 4) != 0;
    /* one run in ten without pre-vote or without check-quorum: safety must hold regardless */
    if (fx_range(fx, 0, 9) == 0) {
        cfg->prevote = fx_range(fx, 0, 1);
        cfg->check_quorum = fx_range(fx, 0, 1);
    }
}

static void random_network(struct fx *fx)
{
    fx->drop_pct = (uint32_t)fx_range(fx, 0, 15);
    fx->dup_pct = (uint32_t)fx_range(fx, 0, 8);
    fx->min_delay = 1;
    fx->max_delay = (uint32_t)fx_range(fx, 1, 40);
}

static uint64_t random_node(struct fx *fx)
{
    return fx_range(fx, 1, (uint64_t)fx->n_ids);
}

static void partition(struct fx *fx, int kind)
{
    fx_heal(fx);
    if (kind == 0) { /* symmetric: two sides */
        uint64_t side = fx_rand(fx);
        for (uint64_t a = 1; a <= (uint64_t)fx->n_ids; a++)
            for (uint64_t b = 1; b <= (uint64_t)fx->n_ids; b++)
                if (((side >> a) & 1) != ((side >> b) & 1))
                    fx_cut(fx, a, b);
        fx_log(fx, "partition: symmetric %#" PRIx64, side & 0x1ffe);
    } else if (kind == 1) { /* asymmetric: some one-way links */
        for (int i = 0; i < 3; i++) {
            uint64_t a = random_node(fx), b = random_node(fx);
            fx_cut(fx, a, b);
            fx_log(fx, "partition: cut %" PRIu64 " -> %" PRIu64, a, b);
        }
    } else { /* partial: one node loses some of its peers, both ways */
        uint64_t a = random_node(fx), mask = fx_rand(fx);
        for (uint64_t b = 1; b <= (uint64_t)fx->n_ids; b++)
            if ((mask >> b) & 1) {
                fx_cut(fx, a, b);
                fx_cut(fx, b, a);
            }
        fx_log(fx, "partition: partial around %" PRIu64, a);
    }
}

static void change_membership(struct run *run)
{
    struct fx *fx = &run->fx;
    uint64_t l = fx_leader(fx), id = random_node(fx);
    struct rm_raft_status s;
    int rc = RM_EINVAL;
    if (!l)
        return;
    rm_raft_status(fx->nodes[l].r, &s);
    int op = (int)fx_range(fx, 0, 2);
    if (op == 0 && !run->removed[id] && !rm_raft_membership_is_voter(&s.conf, id) &&
        !rm_raft_membership_is_learner(&s.conf, id)) {
        if (!fx->nodes[id].exists && fx_start(fx, id, false) != 0)
            return;
        rc = rm_raft_propose_change(fx->nodes[l].r, RM_RAFT_ADD_LEARNER, id, NULL);
    } else if (op == 1 && rm_raft_membership_is_learner(&s.conf, id) && s.conf.n_voters < 7) {
        rc = rm_raft_propose_change(fx->nodes[l].r, RM_RAFT_PROMOTE, id, NULL);
    } else if (op == 2 && (rm_raft_membership_is_learner(&s.conf, id) ||
                           (rm_raft_membership_is_voter(&s.conf, id) && s.conf.n_voters > 2))) {
        rc = rm_raft_propose_change(fx->nodes[l].r, RM_RAFT_REMOVE, id, NULL);
        if (rc == 0)
            run->removed[id] = true;
    }
    if (rc == 0) {
        fx_log(fx, "leader %" PRIu64 " proposes change %d of node %" PRIu64, l, op, id);
        fx_process(fx, l);
    }
}

static void propose(struct run *run, int n)
{
    uint64_t l = fx_leader(&run->fx);
    for (int i = 0; i < n && l; i++)
        if (fx_propose(&run->fx, l, run->next_value++, NULL) != 0)
            break;
}

static void chaos(struct run *run)
{
    struct fx *fx = &run->fx;
    uint64_t id = random_node(fx);
    switch (fx_range(fx, 0, 13)) {
    case 0:
        partition(fx, 0);
        break;
    case 1:
        partition(fx, 1);
        break;
    case 2:
        partition(fx, 2);
        break;
    case 3:
    case 4:
        fx_heal(fx);
        fx_log(fx, "heal");
        break;
    case 5:
        fx_crash(fx, id);
        break;
    case 6:
        fx_restart(fx, id);
        break;
    case 7: /* a quick reboot: only what was persisted survives */
        fx_crash(fx, id);
        fx_restart(fx, id);
        break;
    case 8:
        fx_pause(fx, id, fx->now + fx_range(fx, 50, 1000));
        break;
    case 9:
        random_network(fx);
        break;
    case 10:
    case 11:
        change_membership(run);
        break;
    default:
        propose(run, 20);
        break;
    }
}

static int step(struct run *run)
{
    struct fx *fx = &run->fx;
    fx->now += fx_range(fx, 1, 10);
    if (fx_deliver_due(fx) != 0 || fx_tick_all(fx) != 0)
        return -1;
    if (fx_range(fx, 0, 99) < 3)
        chaos(run);
    if (fx_range(fx, 0, 99) < 20)
        propose(run, 1);
    if (fx->crash_permille && fx_range(fx, 0, 99) < 2)
        fx_restart(fx, random_node(fx));
    return fx->failed ? -1 : 0;
}

/* The most advanced node's configuration, if every node's log agrees that it is committed
 * (no configuration entry pending anywhere); returns false otherwise. */
static bool settled_conf(struct fx *fx, struct rm_raft_membership *conf)
{
    struct rm_raft_status best = {0}, s;
    for (uint64_t id = 1; id <= (uint64_t)fx->n_ids; id++) {
        if (!fx->nodes[id].up)
            continue;
        rm_raft_status(fx->nodes[id].r, &s);
        if (s.commit >= best.commit)
            best = s;
    }
    for (uint64_t id = 1; id <= (uint64_t)fx->n_ids; id++) {
        if (!fx->nodes[id].up)
            continue;
        rm_raft_status(fx->nodes[id].r, &s);
        if (s.conf_index > best.commit)
            return false;
    }
    *conf = best.conf;
    return best.conf.n_voters >= 3;
}

/* Liveness needs only a connected majority: cut off one voter of a settled configuration. */
static void leave_minority_out(struct fx *fx)
{
    struct rm_raft_membership conf;
    if (!settled_conf(fx, &conf))
        return;
    uint64_t v = conf.voters[fx_range(fx, 0, conf.n_voters - 1)];
    fx_isolate(fx, v);
    fx_log(fx, "liveness phase leaves voter %" PRIu64 " cut off", v);
}

/* After healing, some leader must commit a fresh entry within LIVENESS_MS. */
static int liveness(struct run *run)
{
    struct fx *fx = &run->fx;
    uint64_t deadline = fx->now + LIVENESS_MS, index = 0, term = 0, by = 0;
    fx_heal(fx);
    fx->crash_permille = 0;
    fx->drop_pct = fx->dup_pct = 0;
    fx->max_delay = 10;
    for (uint64_t id = 1; id <= (uint64_t)fx->n_ids; id++) {
        if (fx->nodes[id].exists && fx_restart(fx, id) != 0)
            return -1;
        fx->nodes[id].resume_at = fx->now;
    }
    fx_log(fx, "heal everything: liveness phase");
    if (fx_range(fx, 0, 1))
        leave_minority_out(fx);
    while (fx->now < deadline) {
        if (fx_run(fx, 1) != 0)
            return -1;
        uint64_t l = fx_leader(fx);
        struct rm_raft_status s;
        if (!l)
            continue;
        rm_raft_status(fx->nodes[l].r, &s);
        if (by != l || term != s.term) {
            if (fx_propose(fx, l, UINT64_MAX - run->next_value, &index) != 0)
                continue;
            by = l;
            term = s.term;
        }
        /* a leader never overwrites its own entries: committing past index commits the marker */
        if (s.commit >= index) {
            uint64_t took = fx->now + LIVENESS_MS - deadline;
            if (took > g_heal_max) {
                g_heal_max = took;
                g_heal_max_seed = run->seed;
            }
            g_heal_sum += took;
            fx_log(fx,
                   "liveness: leader %" PRIu64 " committed %" PRIu64 " %" PRIu64
                   " ms after healing",
                   l, index, took);
            return 0;
        }
    }
    return fx_fail(fx, "liveness: no leader committed a new entry within %d ms of healing",
                   LIVENESS_MS);
}

static int run_one(uint64_t seed, int nodes, int steps, bool verbose, char *err, size_t errlen)
{
    struct run run;
    struct rm_raft_config cfg;
    struct fx *fx = &run.fx;
    int rc = 0;
    memset(&run, 0, sizeof(run));
    run.seed = seed;
    rm_raft_config_default(&cfg);
    if (fx_init(fx, seed, nodes, EXTRA_IDS, &cfg) != 0)
        return -1;
    random_config(fx, &fx->cfg);
    fx->verbose = verbose;
    random_network(fx);
    fx->snap_every = fx_range(fx, 0, 3) ? fx_range(fx, 3, 60) : 0;
    fx->crash_permille = fx_range(fx, 0, 1) ? (uint32_t)fx_range(fx, 1, 5) : 0;
    for (uint64_t id = 1; id <= (uint64_t)fx->n_ids; id++)
        fx->nodes[id].snap_every = fx->snap_every;
    fx_log(fx,
           "config: heartbeat %u batch %u/%u inflight %u keep %" PRIu64 " prevote %d "
           "check-quorum %d snapshot every %" PRIu64 " drop %u%% dup %u%% delay <= %u",
           fx->cfg.heartbeat_ms, fx->cfg.max_batch_entries, fx->cfg.max_batch_bytes,
           fx->cfg.max_inflight, fx->cfg.compact_keep, fx->cfg.prevote, fx->cfg.check_quorum,
           fx->snap_every, fx->drop_pct, fx->dup_pct, fx->max_delay);
    for (uint64_t id = 1; id <= (uint64_t)nodes && rc == 0; id++)
        rc = fx_start(fx, id, true);
    for (int i = 0; i < steps && rc == 0; i++)
        rc = step(&run);
    if (rc == 0)
        rc = liveness(&run);
    if (verbose)
        fx_dump(fx);
    if (verbose || rc != 0)
        fprintf(stderr,
                "seed %" PRIu64 ": %s, t=%" PRIu64 " ms, %" PRIu64 " proposals, %" PRIu64
                " applies\n",
                seed, rc ? fx->err : "ok", fx->now, fx->proposals, fx->applied_total);
    if (rc != 0)
        snprintf(err, errlen, "%s", fx->err);
    g_leaders += fx->n_leaders;
    g_installs += fx->n_snap_installs;
    g_snapshots += fx->n_snapshots;
    g_confs += fx->n_conf_applied;
    g_crashes += fx->n_crashes;
    g_applies += fx->applied_total;
    fx_close(fx);
    return rc;
}

/* ---- scripted scenarios ---------------------------------------------------------------- */

static void scripted_config(struct rm_raft_config *cfg, bool prevote)
{
    rm_raft_config_default(cfg);
    cfg->election_timeout_ms = 10000; /* nobody campaigns unless told to */
    cfg->heartbeat_ms = 20;
    cfg->prevote = prevote;
    cfg->check_quorum = false;
    cfg->campaign_at_start = false;
}

/* Makes id campaign until it leads (at most tries rounds of 60 ms). */
static int elect(struct fx *fx, uint64_t id, int tries)
{
    for (int i = 0; i < tries && !fx->failed; i++) {
        if (rm_raft_campaign(fx->nodes[id].r) != 0 || fx_process(fx, id) != 0)
            return fx_fail(fx, "node %" PRIu64 " cannot campaign", id);
        for (int k = 0; k < 60 && fx_leader(fx) != id; k++)
            if (fx_run(fx, 1) != 0)
                return -1;
        if (fx_leader(fx) == id)
            return 0;
    }
    return fx_fail(fx, "node %" PRIu64 " did not win an election", id);
}

/* Figure 7: a leader at term 8 and six followers with missing, extra and conflicting entries.
 * The leader's log wins everywhere; d's uncommitted term-7 entries and f's terms 2-3 go. */
static int figure7(bool verbose)
{
    static const uint64_t leader[] = {1, 1, 1, 4, 4, 5, 5, 6, 6, 6};
    static const uint64_t a[] = {1, 1, 1, 4, 4, 5, 5, 6, 6};
    static const uint64_t b[] = {1, 1, 1, 4};
    static const uint64_t c[] = {1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6};
    static const uint64_t d[] = {1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7};
    static const uint64_t e[] = {1, 1, 1, 4, 4, 4, 4};
    static const uint64_t f[] = {1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3};
    const uint64_t *logs[] = {leader, a, b, c, d, e, f};
    const size_t lens[] = {10, 9, 4, 11, 12, 7, 11};
    struct rm_raft_config cfg;
    struct fx fx;
    uint64_t ch10, last, lterm, lch;
    scripted_config(&cfg, true);
    fx_init(&fx, 7, 7, 0, &cfg);
    fx.verbose = verbose;
    for (uint64_t id = 1; id <= 7; id++) {
        struct rm_raft_membership *m = &fx.nodes[id].initial;
        m->n_voters = 7;
        for (uint32_t k = 0; k < 7; k++)
            m->voters[k] = k + 1;
        fx_preload(&fx, id, logs[id - 1], lens[id - 1], 7);
    }
    ch10 = fx_store_chain(&fx, 1, 10);
    if (!fx.failed && fx_tick_all(&fx) == 0 && elect(&fx, 1, 3) == 0 && fx_run(&fx, 300) == 0)
        fx_propose(&fx, 1, 42, NULL);
    fx_run(&fx, 300);
    last = fx_store_last(&fx, 1, &lterm, &lch);
    if (!fx.failed && (fx_store_chain(&fx, 1, 10) != ch10 || lterm != 8 || last != 12))
        fx_fail(&fx, "figure 7: the leader's log changed (last %" PRIu64 ")", last);
    for (uint64_t id = 2; id <= 7 && !fx.failed; id++) {
        uint64_t t, ch, l = fx_store_last(&fx, id, &t, &ch);
        if (l != last || ch != lch)
            fx_fail(&fx, "figure 7: follower %" PRIu64 " did not converge (last %" PRIu64 ")", id,
                    l);
    }
    int rc = fx.failed ? -1 : 0;
    printf("scripted figure 7: %s%s\n", rc ? "FAIL " : "ok", rc ? fx.err : "");
    fx_close(&fx);
    return rc;
}

/* Figure 8: an entry of an old term replicated to a majority must not be committed by counting
 * replicas; a later leader legitimately overwrites it. */
static int figure8(bool verbose)
{
    struct rm_raft_config cfg;
    struct fx fx;
    scripted_config(&cfg, false);
    cfg.max_batch_entries = 1; /* lets S1 ship index 2 alone, as in the figure */
    fx_init(&fx, 8, 5, 0, &cfg);
    fx.verbose = verbose;
    for (uint64_t id = 1; id <= 5; id++)
        fx_start(&fx, id, true);
    fx_tick_all(&fx);
    /* (a) S1 leads term 1, commits its no-op, then gets index 2 only to S2 */
    if (elect(&fx, 1, 1) || fx_run(&fx, 100))
        goto out;
    for (uint64_t k = 3; k <= 5; k++) {
        fx_cut(&fx, 1, k);
        fx_cut(&fx, k, 1);
    }
    fx_propose(&fx, 1, 2, NULL);
    if (fx_run(&fx, 100))
        goto out;
    /* (b) S1 crashes; S5 wins term 2 with S3, S4 and appends index 2 locally, then crashes */
    fx_crash(&fx, 1);
    fx_cut(&fx, 5, 2);
    fx_cut(&fx, 2, 5);
    if (elect(&fx, 5, 1))
        goto out;
    fx_isolate(&fx, 5);
    fx_run(&fx, 50);
    fx_crash(&fx, 5);
    /* (c) S1 restarts, wins term 3 and replicates index 2 (term 1) to S3: a majority holds it */
    fx_heal(&fx);
    fx_isolate(&fx, 5);
    fx_restart(&fx, 1);
    if (elect(&fx, 1, 3))
        goto out;
    for (int i = 0; i < 2000 && fx_store_term(&fx, 3, 2) != 1 && !fx.failed; i++)
        fx_deliver_one(&fx);
    for (uint64_t k = 2; k <= 5; k++)
        fx_cut(&fx, 1, k); /* S1 hears the acks but says nothing more */
    fx_run(&fx, 50);
    fx_crash(&fx, 1);
    /* (d) S5 restarts and wins with S2, S3, S4; it overwrites index 2 with its term-2 entry */
    fx_heal(&fx);
    fx_isolate(&fx, 1);
    fx_restart(&fx, 5);
    if (elect(&fx, 5, 5) || fx_run(&fx, 300))
        goto out;
    for (uint64_t k = 2; k <= 5 && !fx.failed; k++)
        if (fx_store_term(&fx, k, 2) != 2)
            fx_fail(&fx, "figure 8: node %" PRIu64 " has term %" PRIu64 " at index 2", k,
                    fx_store_term(&fx, k, 2));
out:;
    int rc = fx.failed ? -1 : 0;
    printf("scripted figure 8: %s%s\n", rc ? "FAIL " : "ok", rc ? fx.err : "");
    fx_close(&fx);
    return rc;
}

/* The hazard behind "change membership only after committing an entry of your own term"
 * (Ongaro, raft-dev 2015): S1 promotes S5 in {S1..S4} but only S5 learns it; S2 leads term 2
 * under the old configuration and, if it could change membership at once, would commit
 * "remove S4" with S3 alone; S1 could then win with S4 and S5 under its own configuration and
 * overwrite a committed entry. With the rule, S2 must first commit its no-op with S4. */
static int membership_hazard(bool verbose)
{
    struct rm_raft_config cfg;
    struct fx fx;
    int rc;
    scripted_config(&cfg, false);
    fx_init(&fx, 9, 4, 1, &cfg);
    fx.verbose = verbose;
    for (uint64_t id = 1; id <= 4; id++)
        fx_start(&fx, id, true);
    fx_start(&fx, 5, false);
    fx_tick_all(&fx);
    if (elect(&fx, 1, 1) || fx_run(&fx, 50))
        goto out;
    rm_raft_propose_change(fx.nodes[1].r, RM_RAFT_ADD_LEARNER, 5, NULL);
    fx_process(&fx, 1);
    if (fx_run(&fx, 100))
        goto out;
    for (uint64_t k = 2; k <= 4; k++) {
        fx_cut(&fx, 1, k);
        fx_cut(&fx, k, 1);
    }
    if ((rc = rm_raft_propose_change(fx.nodes[1].r, RM_RAFT_PROMOTE, 5, NULL)) != 0) {
        fx_fail(&fx, "membership: promote refused: %s", rm_strerror(rc));
        goto out;
    }
    fx_process(&fx, 1);
    fx_run(&fx, 100); /* only S5 learns {S1..S5} */
    fx_crash(&fx, 1);
    if (elect(&fx, 2, 3))
        goto out;
    fx_cut(&fx, 2, 4); /* S4 voted for S2 but hears nothing more from it; */
    fx_cut(&fx, 2, 5); /* nor does S5, which keeps {S1..S5} */
    rc = rm_raft_propose_change(fx.nodes[2].r, RM_RAFT_REMOVE, 4, NULL);
    fx_log(&fx, "S2 proposes removing S4: %s", rm_strerror(rc));
    fx_process(&fx, 2);
    fx_run(&fx, 100);
    fx_crash(&fx, 2);
    fx_heal(&fx);
    fx_isolate(&fx, 2);
    fx_isolate(&fx, 3);
    fx_restart(&fx, 1);
    if (elect(&fx, 1, 5) == 0) /* S1 wins with S4 and S5 under {S1..S5} */
        fx_run(&fx, 200);
out:;
    int result = fx.failed ? -1 : 0;
    printf("scripted membership hazard: %s%s\n", result ? "FAIL " : "ok", result ? fx.err : "");
    fx_close(&fx);
    return result;
}

/* SIGSTOP on the leader for 3 election timeouts, then SIGCONT: a new leader takes over, and the
 * old one steps down on its very first tick, before it handles any message or proposal. */
static int paused_leader(bool verbose)
{
    struct rm_raft_config cfg;
    struct fx fx;
    uint64_t old, term_old, term_new, now_leader;
    rm_raft_config_default(&cfg);
    fx_init(&fx, 10, 5, 0, &cfg);
    fx.verbose = verbose;
    for (uint64_t id = 1; id <= 5; id++)
        fx_start(&fx, id, true);
    if (fx_run(&fx, 300))
        goto out;
    old = fx_leader(&fx);
    if (!old || fx_propose(&fx, old, 1, NULL) != 0 || fx_run(&fx, 100)) {
        fx_fail(&fx, "paused leader: no leader at start");
        goto out;
    }
    rm_raft_role(fx.nodes[old].r, &term_old);
    fx_pause(&fx, old, fx.now + 3 * cfg.election_timeout_ms);
    if (fx_run(&fx, 3 * cfg.election_timeout_ms - 1))
        goto out;
    now_leader = fx_leader(&fx);
    if (!now_leader || now_leader == old) {
        fx_fail(&fx, "paused leader: nobody took over");
        goto out;
    }
    fx.now++; /* SIGCONT: the first thing the resumed node does is tick */
    fx.nodes[old].paused = false;
    rm_raft_tick(fx.nodes[old].r, fx.now);
    if (rm_raft_role(fx.nodes[old].r, NULL) == RM_RAFT_LEADER ||
        rm_raft_propose(fx.nodes[old].r, "x", 1, NULL) != RM_EBUSY) {
        fx_fail(&fx, "paused leader: still leading after its first tick");
        goto out;
    }
    fx_process(&fx, old);
    if (fx_run(&fx, 300))
        goto out;
    rm_raft_role(fx.nodes[old].r, &term_new);
    if (term_new <= term_old || rm_raft_leader(fx.nodes[old].r) != fx_leader(&fx))
        fx_fail(&fx, "paused leader: did not rejoin the new term");
out:;
    int result = fx.failed ? -1 : 0;
    printf("scripted paused leader: %s%s\n", result ? "FAIL " : "ok", result ? fx.err : "");
    fx_close(&fx);
    return result;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Simulated time from killing the leader to the first commit of a new entry by its successor,
 * with the default configuration and a 1-2 ms network: what Raft itself contributes to a
 * failover (the MPI runtime adds its own detection and transport latency). */
static uint64_t failover_once(uint64_t seed, int nodes)
{
    struct rm_raft_config cfg;
    struct fx fx;
    uint64_t took = UINT64_MAX, index = 0, by = 0;
    rm_raft_config_default(&cfg);
    fx_init(&fx, seed, nodes, 0, &cfg);
    fx.max_delay = 2;
    for (uint64_t id = 1; id <= (uint64_t)nodes; id++)
        fx_start(&fx, id, true);
    fx_run(&fx, 200 + fx_range(&fx, 0, 300));
    uint64_t old = fx_leader(&fx), t0 = fx.now;
    fx_crash(&fx, old);
    while (!fx.failed && fx.now < t0 + 5000) {
        fx_run(&fx, 1);
        uint64_t l = fx_leader(&fx);
        struct rm_raft_status st;
        if (!l || l == old)
            continue;
        if (by != l && fx_propose(&fx, l, 7, &index) == 0)
            by = l;
        rm_raft_status(fx.nodes[l].r, &st);
        if (by == l && st.commit >= index) {
            took = fx.now - t0;
            break;
        }
    }
    fx_close(&fx);
    return took;
}

static int failover(uint64_t trials, uint64_t first)
{
    uint64_t *t = calloc(trials ? trials : 1, sizeof(*t));
    if (!t)
        return 1;
    for (int nodes = 3; nodes <= 5; nodes += 2) {
        for (uint64_t i = 0; i < trials; i++)
            t[i] = failover_once(first + i, nodes);
        qsort(t, trials, sizeof(*t), cmp_u64);
        printf("failover, %d voters, %" PRIu64 " trials: median %" PRIu64 " ms, p95 %" PRIu64
               " ms, max %" PRIu64 " ms (simulated; election timeout 150 ms)\n",
               nodes, trials, t[trials / 2], t[trials * 95 / 100], t[trials - 1]);
    }
    free(t);
    return 0;
}

/* ---- main ------------------------------------------------------------------------------ */

static int usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s --seeds N [--first S] [--steps T]\n"
            "       %s --seed S [--nodes 3|5|7] [--steps T] [--verbose]\n"
            "       %s --scripted [--verbose]\n"
            "       %s --failover TRIALS   time from leader crash to the next commit\n",
            argv0, argv0, argv0, argv0);
    return 2;
}

static int parse(int argc, char **argv, struct opts *o)
{
    memset(o, 0, sizeof(*o));
    o->seed = 1;
    o->steps = 2000;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--verbose"))
            o->verbose = true;
        else if (!strcmp(a, "--scripted"))
            o->scripted = true;
        else if (v && !strcmp(a, "--seeds") && ++i)
            o->seeds = strtoull(v, NULL, 10);
        else if (v && (!strcmp(a, "--seed") || !strcmp(a, "--first")) && ++i)
            o->seed = strtoull(v, NULL, 10);
        else if (v && !strcmp(a, "--failover") && ++i)
            o->failover = strtoull(v, NULL, 10);
        else if (v && !strcmp(a, "--nodes") && ++i)
            o->nodes = atoi(v);
        else if (v && !strcmp(a, "--steps") && ++i)
            o->steps = atoi(v);
        else
            return -1;
    }
    if (o->nodes && o->nodes != 3 && o->nodes != 5 && o->nodes != 7)
        return -1;
    return o->steps >= 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    struct opts o;
    char err[512];
    int failures = 0;
    if (parse(argc, argv, &o) != 0)
        return usage(argv[0]);
    if (o.failover)
        return failover(o.failover, o.seed);
    if (o.scripted) {
        failures += figure7(o.verbose) != 0;
        failures += figure8(o.verbose) != 0;
        failures += membership_hazard(o.verbose) != 0;
        failures += paused_leader(o.verbose) != 0;
        return failures ? 1 : 0;
    }
    uint64_t n = o.seeds ? o.seeds : 1;
    for (uint64_t s = o.seed; s < o.seed + n; s++) {
        int nodes = o.nodes ? o.nodes : 3 + 2 * (int)(s % 3);
        if (run_one(s, nodes, o.steps, o.verbose, err, sizeof(err)) != 0) {
            failures++;
            printf("FAIL seed %" PRIu64 ": %s\nreplay: %s --seed %" PRIu64
                   " --nodes %d --steps %d --verbose\n",
                   s, err, argv[0], s, nodes, o.steps);
            fflush(stdout);
        }
    }
    printf("%" PRIu64 " seeds from %" PRIu64 ": %d failed\n", n, o.seed, failures);
    printf("  exercised: %" PRIu64 " leaders, %" PRIu64 " crashes, %" PRIu64
           " snapshots taken, %" PRIu64 " installed, %" PRIu64 " config entries applied, %" PRIu64
           " applies\n",
           g_leaders, g_crashes, g_snapshots, g_installs, g_confs, g_applies);
    printf("  after healing, a new entry committed within %" PRIu64 " ms (seed %" PRIu64
           "; mean %" PRIu64 " ms; bound %d ms)\n",
           g_heal_max, g_heal_max_seed, g_heal_sum / (n ? n : 1), LIVENESS_MS);
    return failures ? 1 : 0;
}
