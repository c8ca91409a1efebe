/*
 * farm_fixture.h: a deterministic in-memory cluster of rm_farm instances for tests/sim.
 *
 * One simulated clock (1 ms ticks), one seeded PRNG, one rm_farm per rank driven the way
 * farmnode.c drives it, and nothing else: no wall clock, no threads.
 *  - Raft is a model, not the module. There is one committed log. The leader's proposals commit
 *    in order after a random delay while it leads; when it dies or steps down, a random prefix
 *    of its pending proposals commits and the rest is lost. Every live member applies every
 *    committed entry in order, with its own lag. With lagging leaders, the commits since the
 *    old leader's last heartbeat reach the members only with the next leader's first commit, so
 *    a new leader takes office behind the log, as Raft's leaders do; otherwise it has applied
 *    everything first. A deposed leader may believe it leads for a while; what it proposes then
 *    is lost. Non-members never apply. A dead voter may be replaced by the lowest live
 *    non-member, which catches up from the leader's snapshot or by replaying the log; a lagging
 *    member may catch up from a snapshot too.
 *  - The network is FIFO per ordered pair with random delays and occasional long ones. Frames
 *    carry the sender's (term, epoch) stamp as under MPI; frames a rank sent before it died are
 *    still delivered, sometimes after its death is committed.
 *  - Each rank's failure detector reports a death after its own random delay.
 *  - Each rank's worker runs its assignments one at a time and reports completions in batches,
 *    as farmnode.c's worker thread does; some attempts fail. With a shared state per stage, a
 *    worker checks that the stage's state reached it, with the right bytes, before it starts
 *    a task of that stage.
 * The fixture records the committed log and every execution for the oracle (farm_oracle.c),
 * and the first problem it sees in s->err.
 */
#ifndef RM_FARM_FIXTURE_H
#define RM_FARM_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "scheduler/farm.h"

#define FF_START_MS UINT64_C(1000)   /* the clock starts here: the farm reads 0 as "never" */
#define FF_LIMIT_MS UINT64_C(120000) /* every live rank must have ended this long after it */
#define FF_MAX_RANKS 16u
#define FF_MAX_STAGES 3u
#define FF_NONE UINT32_MAX

/* A run's parameters, all drawn from its seed by the caller. */
struct ff_params {
    uint32_t n, voters; /* ranks; the first `voters` found the Raft group */
    uint32_t min_alive; /* kills leave at least this many ranks */
    uint32_t stages;
    uint64_t stage_tasks[FF_MAX_STAGES], tasks;
    uint32_t batch, credits, vnodes, max_attempts; /* rm_farm_config */
    bool speculation;
    double bounded;  /* rm_farm_config.bounded_load: 0 or 1.1..2 */
    bool held;       /* held outputs: a dead rank's done tasks of all but the last stage redo */
    uint32_t copies; /* with held: copies of each output; a worker names the next copies - 1
                        ranks it does not know dead as replicas (1: none) */
    bool state;      /* stages after the first have a shared state (rm_farm_config.stage_state)
                        that the leader computes in 1..40 ms; a tenth of the attempts fail as if
                        an input's holder had died */
    bool must_fail;  /* task `doomed` fails every attempt: the job must fail */
    uint64_t doomed;
    uint32_t fail_permille;     /* other attempts that fail */
    bool lagging;               /* new leaders take office behind the log */
    bool recruit;               /* dead voters are replaced */
    uint32_t slow, slow_factor; /* a rank (or FF_NONE) whose tasks take this much longer */
    uint32_t max_kills, stepdowns;
    uint64_t fault_ms;       /* kills and step-downs happen in the first fault_ms */
    uint32_t net_ms;         /* frame delay: 1..net_ms */
    uint32_t spike_permille; /* frames held up 50..1500 ms more (a congested link) */
    uint32_t commit_ms;      /* a proposal commits 1..commit_ms after the one before it */
    uint32_t busy_permille;  /* proposals the log refuses (RM_EBUSY) */
    uint32_t snap_permille;  /* per ms: a lagging member catches up from a snapshot */
    uint32_t work_max;       /* a task takes 1..work_max ms */
    uint32_t finish_ms;      /* writing the output takes 0..finish_ms */
};

struct ff_stats {
    uint64_t runs, must_fail, elections, kills, stepdowns, recruits, recruit_snaps, snapshots,
        executions, extra, by_leader, backups, rescheduled, lost, kept, recopied, failures,
        stale_msgs, stale_done, stolen, resent, sim_ms, max_ms, max_ms_seed;
};

struct ff_entry {
    unsigned char *p;
    size_t len;
    uint64_t t, due; /* commit time; due: when a pending proposal commits */
};

/* One execution of a task by a worker. */
struct ff_exec {
    uint32_t rank, att;
    uint64_t start, end;
    bool ok;
};

struct ff_execs {
    struct ff_exec *v;
    size_t n, cap;
};

/* A (task, attempt) in a worker's queue. */
struct ff_job {
    uint64_t id;
    uint32_t att;
    bool last; /* of its assignment batch: the worker reports after it */
};

struct ff;
struct ff_ev;

struct ff_node {
    struct ff *s;
    struct rm_farm *f;
    uint32_t rank;
    bool alive, ended, member, stale, busy;
    int status;
    uint64_t term;        /* the Raft term this member knows; stamped on its frames */
    uint64_t stamp_epoch; /* as farmnode.c: the highest epoch announced or applied here */
    size_t applied;       /* committed entries applied */
    size_t apply_max;     /* a deposed leader that does not know it applies no further */
    uint64_t hold_until;  /* a new leader applies nothing before its first commit */
    uint32_t lag;         /* ms from a commit to its apply here */
    uint32_t speed;       /* task time multiplier */
    bool dead_seen[FF_MAX_RANKS];
    bool got_state[FF_MAX_STAGES]; /* the stage's shared state reached this rank */
    struct ff_job *wq;             /* the worker's queue */
    size_t wq_head, wq_n, wq_cap;
    struct ff_job cur; /* running since cur_start */
    uint64_t cur_start;
    unsigned char *done; /* completions not reported yet */
    uint32_t n_done;
    uint64_t oldest;
};

struct ff {
    uint64_t seed, rng, now, seq;
    bool verbose, failed;
    char err[512];
    struct ff_params p;
    struct ff_node nodes[FF_MAX_RANKS];
    struct ff_ev *heap;
    size_t n_ev, cap_ev;
    uint64_t fifo[FF_MAX_RANKS * FF_MAX_RANKS]; /* last delivery time per ordered pair */
    /* the Raft model */
    struct ff_entry *log, *pend;
    size_t n_log, cap_log, n_pend, cap_pend;
    size_t ceiling; /* what members know is committed, until the next leader's first commit */
    int leader;
    uint64_t term, next_term;
    /* what happened, for the oracle */
    struct ff_execs *ex; /* per task */
    struct ff_stats st;
};

/* Seeds s's PRNG; the caller then fills s->p (with ff_range and ff_chance) and calls
 * ff_start. Can't fail. */
void ff_init(struct ff *s, uint64_t seed, bool verbose);

/* A random number in [lo, hi]; true with probability permille / 1000. */
uint64_t ff_range(struct ff *s, uint64_t lo, uint64_t hi);
bool ff_chance(struct ff *s, uint32_t permille);

/* Records the first failure of the run (later ones are dropped). */
void ff_fail(struct ff *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Grows *p (elements of elem bytes) to hold need; aborts when out of memory. */
void ff_grow(void **p, size_t *cap, size_t need, size_t elem);

/* Creates the ranks' farms from s->p. Returns 0 or what rm_farm_create returned. */
int ff_start(struct ff *s);

/* Runs until every live rank's job has ended, FF_LIMIT_MS have passed, or a failure. */
void ff_run(struct ff *s);

/* Member nd applies the rest of the committed log. */
void ff_catch_up(struct ff_node *nd);

/* Adds the farms' counters to s->st and frees everything. */
void ff_close(struct ff *s);

/* farm_oracle.c: replays the committed log and checks the run (see sim_farm.c); the first
 * violation goes to s->err. */
void ff_check(struct ff *s);

#endif /* RM_FARM_FIXTURE_H */
