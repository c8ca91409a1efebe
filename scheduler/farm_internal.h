/*
 * farm_internal.h: what the two halves of the farm share (farm.c: the coordinator, on the Raft
 * leader; farm_rank.c: what every rank does: its worker bookkeeping, message intake, time,
 * deaths, lifecycle). Not for use outside scheduler/farm*.c. Same thread rule as farm.h.
 */
#ifndef RM_FARM_INTERNAL_H
#define RM_FARM_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "ringmaster.h"
#include "scheduler/farm.h"
#include "scheduler/ring.h"

#define NS_PER_MS 1000000ull
#define STRAGGLER_CHECK_NS (50 * NS_PER_MS) /* how often the leader looks for stragglers */

struct idq {
    uint64_t *v;
    size_t n, cap;
};

struct pending {
    unsigned char *e;
    size_t len;
};

struct rm_farm {
    struct rm_farm_config cfg;
    uint64_t *stage_tasks;
    struct rm_farm_io io;
    struct rm_tasktable tt;
    bool ended;
    bool *live; /* this rank's view: not found dead, not committed dead */
    uint32_t nlive;
    /* leader state, rebuilt from tt whenever this rank takes office (or a death commits) */
    bool leading, init_proposed, finished;
    uint64_t t_lead;
    struct rm_ring *ring;
    struct idq *q;      /* per rank: pending tasks placed there, next at the end */
    uint8_t *reserved;  /* per task: in a proposed, not yet applied ASSIGN or BACKUP */
    uint32_t *inflight; /* per rank: copies assigned or reserved there */
    uint64_t *t_sent;   /* per task: when its current copy was sent */
    bool *dead_pending; /* per rank: death to commit */
    uint32_t cur_stage;
    uint32_t *lat_us; /* latencies (send to completion) of this stage's tasks */
    size_t n_lat, cap_lat, median_at;
    uint64_t median_ns, straggler_at;
    uint64_t state_gen; /* numbers each request for a stage's shared state (farm_stage.c) */
    uint64_t *rerep_at; /* per task: when the leader asked for another copy; 0 never */
    /* checkpoints (farm_ckpt.c) */
    uint64_t ckpt_seq, ckpt_started, ckpt_last;
    bool ckpt_active, ckpt_final, ckpt_want_final, stop_requested;
    uint8_t *ckpt_acked; /* per rank, for the round ckpt_seq: 1 written; leader 2: job file */
    uint32_t ckpt_failed;
    uint64_t rerep_scan;     /* when it last looked for outputs short of copies */
    uint64_t state_retry_at; /* when to ask again for cur_stage's state; 0: not waiting */
    struct pending *retry;   /* reports the log could not take yet */
    size_t n_retry, cap_retry;
    /* worker state */
    int leader;
    uint64_t leader_term, epoch_seen, leaderless_since;
    uint32_t *seen;          /* per task: highest attempt received */
    size_t done_rec;         /* bytes of a DONE record: rm_farm_done_rec(cfg.copies) */
    unsigned char *done_log; /* every completion reported, done_rec bytes each */
    size_t n_done, cap_done;
    unsigned char *fail_log; /* every failure reported: u32 len, then the FAIL payload */
    size_t fail_len, fail_cap;
    struct rm_farm_stats st;
};

/* ---- helpers -------------------------------------------------------------------------------- */

static inline int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap * 2 : 256;
    while (c < need)
        c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q)
        return RM_ENOMEM;
    *p = q;
    *cap = c;
    return 0;
}

static inline int q_push(struct idq *q, uint64_t id)
{
    if (grow((void **)&q->v, &q->cap, q->n + 1, sizeof *q->v) != 0)
        return RM_ENOMEM;
    q->v[q->n++] = id;
    return 0;
}

static inline uint64_t now(struct rm_farm *f)
{
    return f->io.now(f->io.ctx);
}

static inline uint64_t stage_count(const struct rm_farm *f, uint32_t s)
{
    return f->tt.stage_first[s + 1] - f->tt.stage_first[s];
}

/* Ranks that run tasks: every live rank but the leader, or the leader when it is alone. */
static inline bool is_worker(const struct rm_farm *f, uint32_t r)
{
    return r < f->cfg.size && f->live[r] && (r != f->cfg.rank || f->nlive == 1);
}

static inline void end_job(struct rm_farm *f, int status)
{
    if (f->ended)
        return;
    f->ended = true;
    f->io.ended(f->io.ctx, status);
}

static inline void describe(struct rm_farm *f, uint64_t id, char *buf, size_t cap)
{
    if (f->io.describe)
        f->io.describe(f->io.ctx, id, buf, cap);
    else
        snprintf(buf, cap, "task %llu", (unsigned long long)id);
}

/* farm.c: the coordinator's entry points used by farm_rank.c. */
void farm_leader_done(struct rm_farm *f, uint32_t sender, const unsigned char *recs, uint32_t n);
void farm_leader_fail(struct rm_farm *f, uint32_t sender, const unsigned char *p, size_t len);
void farm_propose_deaths(struct rm_farm *f);
void farm_retry_reports(struct rm_farm *f);
void farm_drop_retries(struct rm_farm *f);
void farm_refill_all(struct rm_farm *f);
void farm_check_stragglers(struct rm_farm *f, uint64_t t);

int farm_enqueue_stage(struct rm_farm *f, uint32_t s);

/* farm_stage.c: stage transitions. farm_stage_begin (leader) announces cur_stage (who holds
 * the earlier stages' outputs, and its shared state if committed) and queues its tasks, or,
 * while its shared state is not committed yet, asks for it first; returns 0 or RM_ENOMEM.
 * farm_state_committed: a stage's STATE entry was applied for the first time (leader).
 * farm_state_tick: asks again after a failed attempt. farm_stage_message: a STAGE message. */
int farm_stage_begin(struct rm_farm *f);
void farm_state_committed(struct rm_farm *f, uint32_t s);
void farm_state_tick(struct rm_farm *f, uint64_t t);
int farm_stage_message(struct rm_farm *f, uint32_t sender, uint64_t term, const unsigned char *p,
                       size_t len);

/* farm_replica.c: the leader has outputs short of copies copied again (from the tick); a
 * holder's REREPLICATE and the leader's REPLICATED messages. */
void farm_rereplicate(struct rm_farm *f, uint64_t t);
void farm_rereplicate_message(struct rm_farm *f, uint32_t sender, const unsigned char *p,
                              size_t len);
void farm_replicated_message(struct rm_farm *f, uint32_t sender, const unsigned char *p,
                             size_t len);

/* farm_ckpt.c: checkpoint rounds. farm_checkpoint_start (leader) starts one if none runs;
 * farm_ckpt_tick: the interval, deaths and time-outs; farm_ckpt_message: CKPT, CKPT_DONE,
 * STOP; farm_ckpt_leader: a new leader learns of this rank's stop signal. */
void farm_checkpoint_start(struct rm_farm *f, bool final);
void farm_ckpt_tick(struct rm_farm *f, uint64_t t);
int farm_ckpt_message(struct rm_farm *f, uint32_t type, uint32_t sender, const unsigned char *p,
                      size_t len);
void farm_ckpt_leader(struct rm_farm *f);

/* farm_rank.c: the worker half used by farm.c. */
void farm_worker_accept(struct rm_farm *f, const unsigned char *recs, uint32_t n);
void farm_adopt_leader(struct rm_farm *f, int leader, uint64_t term);

#endif /* RM_FARM_INTERNAL_H */
