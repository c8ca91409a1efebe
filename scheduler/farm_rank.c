/* farm_rank.c: what every rank of the farm does (see farm.h and farm_internal.h): the
 * worker's bookkeeping (duplicate assignments dropped, completions and failures logged and
 * re-sent to each new leader), message intake, deaths, time, and the farm's lifecycle. */
#include <string.h>

#include "runtime/frame.h"
#include "runtime/log.h"
#include "scheduler/farm_internal.h"

/* ---- worker half ----------------------------------------------------------------------------- */

/* Fencing: a coordinator message older than what this rank has seen, by (term, epoch), comes
 * from a deposed leader or an earlier membership and is ignored. Otherwise records the epoch. */
static bool stale(struct rm_farm *f, uint64_t term, uint64_t epoch)
{
    if (term < f->leader_term || (term == f->leader_term && epoch < f->epoch_seen))
        return true;
    if (epoch > f->epoch_seen) {
        f->epoch_seen = epoch;
        rm_debug("membership epoch %llu", (unsigned long long)epoch);
    }
    return false;
}

/* Drops (task, attempt) pairs this rank has already received and hands the rest to the
 * worker. recs: u32 n then n ASSIGN records. */
void farm_worker_accept(struct rm_farm *f, const unsigned char *recs, uint32_t n)
{
    unsigned char *fresh = malloc((size_t)n * RM_FARM_ASSIGN_REC + 1);
    if (!fresh) {
        rm_error("farm: out of memory taking an assignment");
        return; /* the leader re-sends it after the next election, or the job ends */
    }
    uint32_t m = 0;
    for (uint32_t i = 0; i < n; i++) {
        const unsigned char *r = recs + (size_t)RM_FARM_ASSIGN_REC * i;
        uint64_t id = rm_get_u64(r);
        uint32_t att = rm_get_u32(r + 8);
        if (id >= f->cfg.tasks || att <= f->seen[id])
            continue; /* a duplicate: already run or running */
        f->seen[id] = att;
        memcpy(fresh + (size_t)RM_FARM_ASSIGN_REC * m++, r, RM_FARM_ASSIGN_REC);
    }
    if (m)
        f->io.run(f->io.ctx, fresh, m);
    free(fresh);
}

/* Sends n DONE records to whoever leads (or handles them here). */
static void report_done(struct rm_farm *f, const unsigned char *recs, uint32_t n)
{
    if (f->leader == (int)f->cfg.rank) {
        if (f->leading)
            farm_leader_done(f, f->cfg.rank, recs, n);
        return;
    }
    if (f->leader < 0)
        return; /* they go out when a leader is announced */
    size_t len = 4 + (size_t)n * f->done_rec;
    unsigned char *p = malloc(len);
    if (!p)
        return; /* kept in the log; re-sent to the next leader */
    rm_put_u32(p, n);
    memcpy(p + 4, recs, (size_t)n * f->done_rec);
    f->io.send(f->io.ctx, (uint32_t)f->leader, RM_FARM_DONE, p, len);
    free(p);
}

static void report_fail(struct rm_farm *f, const unsigned char *p, size_t len)
{
    if (f->leader == (int)f->cfg.rank) {
        if (f->leading)
            farm_leader_fail(f, f->cfg.rank, p, len);
    } else if (f->leader >= 0) {
        f->io.send(f->io.ctx, (uint32_t)f->leader, RM_FARM_FAIL, p, len);
    }
}

/* This rank learns of a leader: completions and failures go there now. */
void farm_adopt_leader(struct rm_farm *f, int leader, uint64_t term)
{
    if (term < f->leader_term || (term == f->leader_term && leader == f->leader))
        return;
    f->leader = leader;
    f->leader_term = term;
    f->leaderless_since = 0;
    if (leader == (int)f->cfg.rank && !f->leading)
        return; /* Raft says so before this rank has taken office; it replays then */
    farm_ckpt_leader(f);
    for (size_t off = 0; off < f->n_done; off += RM_TT_MAX_BATCH) {
        size_t left = f->n_done - off;
        uint32_t n = (uint32_t)(left < RM_TT_MAX_BATCH ? left : RM_TT_MAX_BATCH);
        report_done(f, f->done_log + off * f->done_rec, n);
    }
    for (size_t off = 0; off < f->fail_len;) {
        uint32_t len = rm_get_u32(f->fail_log + off);
        report_fail(f, f->fail_log + off + 4, len);
        off += 4 + (size_t)len;
    }
}

int rm_farm_completed(struct rm_farm *f, const unsigned char *recs, uint32_t n)
{
    if (n > RM_TT_MAX_BATCH)
        return RM_EINVAL;
    if (grow((void **)&f->done_log, &f->cap_done, (f->n_done + n) * f->done_rec, 1) != 0)
        return RM_ENOMEM;
    memcpy(f->done_log + f->n_done * f->done_rec, recs, (size_t)n * f->done_rec);
    f->n_done += n;
    report_done(f, recs, n);
    return 0;
}

int rm_farm_task_failed(struct rm_farm *f, uint64_t id, uint32_t attempt, const char *error)
{
    size_t elen = error ? strnlen(error, RM_TT_MAX_ERROR) : 0, len = 14 + elen;
    if (grow((void **)&f->fail_log, &f->fail_cap, f->fail_len + 4 + len, 1) != 0)
        return RM_ENOMEM;
    unsigned char *p = f->fail_log + f->fail_len;
    rm_put_u32(p, (uint32_t)len);
    rm_put_u64(p + 4, id);
    rm_put_u32(p + 12, attempt);
    p[16] = (unsigned char)(elen & 0xff);
    p[17] = (unsigned char)(elen >> 8);
    if (elen)
        memcpy(p + 18, error, elen);
    f->fail_len += 4 + len;
    f->st.failures_reported++;
    report_fail(f, p + 4, len);
    return 0;
}

/* ---- messages ------------------------------------------------------------------------------ */

static long rec_count(const unsigned char *p, size_t len, size_t rec)
{
    if (len < 4)
        return -1;
    uint32_t n = rm_get_u32(p);
    if (n > RM_TT_MAX_BATCH || len != 4 + (size_t)n * rec)
        return -1;
    return n;
}

int rm_farm_message(struct rm_farm *f, uint32_t type, uint32_t sender, uint64_t term,
                    uint64_t epoch, const void *payload, size_t len)
{
    const unsigned char *p = payload;
    long n;
    switch (type) {
    case RM_FARM_ASSIGN:
        if ((n = rec_count(p, len, RM_FARM_ASSIGN_REC)) < 0 || stale(f, term, epoch))
            return RM_EPROTO;
        farm_adopt_leader(f, (int)sender, term);
        farm_worker_accept(f, p + 4, (uint32_t)n);
        return 0;
    case RM_FARM_DONE:
        if ((n = rec_count(p, len, f->done_rec)) < 0)
            return RM_EPROTO;
        farm_leader_done(f, sender, p + 4, (uint32_t)n);
        return 0;
    case RM_FARM_FAIL:
        if (len < 14 || len != 14 + (size_t)(p[12] | p[13] << 8) || len - 14 > RM_TT_MAX_ERROR)
            return RM_EPROTO;
        farm_leader_fail(f, sender, p, len);
        return 0;
    case RM_FARM_LEADER: {
        size_t bits = ((size_t)f->cfg.size + 7) / 8;
        if (len != 20 + bits || rm_get_u64(p) != term || rm_get_u64(p + 8) != epoch ||
            rm_get_u32(p + 16) != f->cfg.size || stale(f, term, epoch))
            return RM_EPROTO;
        farm_adopt_leader(f, (int)sender, term);
        if (f->io.epoch)
            f->io.epoch(f->io.ctx, epoch, p + 20);
        return 0;
    }
    case RM_FARM_REREPLICATE:
        if (len != 12 || stale(f, term, epoch))
            return RM_EPROTO;
        farm_rereplicate_message(f, sender, p, len);
        return 0;
    case RM_FARM_REPLICATED:
        if (len != 12)
            return RM_EPROTO;
        farm_replicated_message(f, sender, p, len);
        return 0;
    case RM_FARM_CKPT:
        if (stale(f, term, epoch))
            return RM_EPROTO;
        return farm_ckpt_message(f, type, sender, p, len);
    case RM_FARM_CKPT_DONE:
    case RM_FARM_STOP:
        return farm_ckpt_message(f, type, sender, p, len);
    case RM_FARM_STAGE:
        if (stale(f, term, epoch))
            return RM_EPROTO;
        return farm_stage_message(f, sender, term, p, len);
    case RM_FARM_SHUTDOWN:
        if (len != 4 || stale(f, term, epoch))
            return RM_EPROTO;
        if (rm_get_u32(p) == RM_FARM_STOPPED)
            rm_info("stopped after a last checkpoint (rank %u ended the job)", sender);
        else if (rm_get_u32(p) != 0)
            rm_error("the job failed (rank %u ended it with status %u; see its message)", sender,
                     rm_get_u32(p));
        end_job(f, (int)rm_get_u32(p));
        return 0;
    default:
        return RM_EPROTO;
    }
}

void rm_farm_death(struct rm_farm *f, uint32_t rank)
{
    if (rank >= f->cfg.size)
        return;
    if (f->live[rank]) {
        f->live[rank] = false;
        f->nlive--;
    }
    if ((int)rank == f->leader) {
        f->leader = -1;
        f->leaderless_since = now(f);
    }
    if (f->leading && !f->finished && !rm_tasktable_is_dead(&f->tt, rank)) {
        f->dead_pending[rank] = true;
        farm_propose_deaths(f);
    }
}

void rm_farm_fenced(struct rm_farm *f)
{
    end_job(f, 3);
}

void rm_farm_tick(struct rm_farm *f, uint64_t t)
{
    if (f->ended)
        return;
    if (f->leading && !f->finished) {
        farm_propose_deaths(f);
        farm_retry_reports(f);
        farm_state_tick(f, t);
        farm_rereplicate(f, t);
        farm_ckpt_tick(f, t);
        if (f->tt.initialized && f->ring) {
            farm_refill_all(f);
            if (f->cfg.speculation && t - f->straggler_at >= STRAGGLER_CHECK_NS) {
                f->straggler_at = t;
                farm_check_stragglers(f, t);
            }
        }
    }
    if (f->leader < 0 && f->leaderless_since == 0)
        f->leaderless_since = t;
    if (f->leaderless_since && t - f->leaderless_since > f->cfg.leaderless_ns) {
        rm_error("no leader for %.1f s: a majority of the Raft group is lost; the job fails",
                 (double)(t - f->leaderless_since) / 1e9);
        /* Workers outside the group may still think a stepped-down leader leads: tell them. */
        unsigned char st[4];
        rm_put_u32(st, 3);
        f->io.broadcast(f->io.ctx, RM_FARM_SHUTDOWN, st, sizeof st);
        end_job(f, 3);
    }
}

/* ---- queries and lifecycle ------------------------------------------------------------------- */

const struct rm_tasktable *rm_farm_table(const struct rm_farm *f)
{
    return &f->tt;
}

int rm_farm_leader_rank(const struct rm_farm *f)
{
    return f->leader;
}

uint64_t rm_farm_leader_term(const struct rm_farm *f)
{
    return f->leader_term;
}

void rm_farm_stats(const struct rm_farm *f, struct rm_farm_stats *out)
{
    *out = f->st;
}

int rm_farm_create(const struct rm_farm_config *cfg, const struct rm_farm_io *io,
                   struct rm_farm **out)
{
    if (!cfg || !io || !out || cfg->size == 0 || cfg->rank >= cfg->size || cfg->stages == 0 ||
        cfg->stages > RM_TT_MAX_STAGES || !cfg->stage_tasks || cfg->tasks > RM_TT_MAX_TASKS ||
        !io->now || !io->propose || !io->send || !io->broadcast || !io->run || !io->finished ||
        !io->ended || cfg->batch > RM_TT_MAX_BATCH || (cfg->stage_state && !io->need_state) ||
        (cfg->checkpoint && (!io->checkpoint || !io->checkpointed)) ||
        cfg->copies > RM_TT_MAX_COPIES)
        return RM_EINVAL;
    uint64_t sum = 0;
    for (uint32_t s = 0; s < cfg->stages; s++)
        sum += cfg->stage_tasks[s];
    if (sum != cfg->tasks)
        return RM_EINVAL;
    struct rm_farm *f = calloc(1, sizeof *f);
    if (!f)
        return RM_ENOMEM;
    f->cfg = *cfg;
    if (f->cfg.copies == 0 || !f->cfg.held_outputs)
        f->cfg.copies = 1;
    f->done_rec = rm_farm_done_rec(f->cfg.copies);
    f->io = *io;
    if (!f->cfg.max_attempts)
        f->cfg.max_attempts = 3;
    if (!f->cfg.batch)
        f->cfg.batch = 64;
    if (!f->cfg.credits)
        f->cfg.credits = 2 * f->cfg.batch;
    if (f->cfg.straggler_after <= 0)
        f->cfg.straggler_after = 0.75;
    if (f->cfg.straggler_factor <= 0)
        f->cfg.straggler_factor = 1.5;
    if (!f->cfg.leaderless_ns)
        f->cfg.leaderless_ns = 5000 * NS_PER_MS;
    f->leader = -1;
    f->nlive = cfg->size;
    rm_tasktable_init(&f->tt);
    size_t n = cfg->tasks ? (size_t)cfg->tasks : 1;
    f->stage_tasks = malloc(cfg->stages * sizeof *f->stage_tasks);
    f->live = malloc(cfg->size * sizeof *f->live);
    f->q = calloc(cfg->size, sizeof *f->q);
    f->inflight = calloc(cfg->size, sizeof *f->inflight);
    f->dead_pending = calloc(cfg->size, sizeof *f->dead_pending);
    f->seen = calloc(n, sizeof *f->seen);
    if (!f->stage_tasks || !f->live || !f->q || !f->inflight || !f->dead_pending || !f->seen) {
        rm_farm_destroy(f);
        return RM_ENOMEM;
    }
    memcpy(f->stage_tasks, cfg->stage_tasks, cfg->stages * sizeof *f->stage_tasks);
    f->cfg.stage_tasks = f->stage_tasks;
    for (uint32_t r = 0; r < cfg->size; r++)
        f->live[r] = true;
    *out = f;
    return 0;
}

void rm_farm_destroy(struct rm_farm *f)
{
    if (!f)
        return;
    rm_tasktable_close(&f->tt);
    rm_ring_destroy(f->ring);
    for (uint32_t r = 0; f->q && r < f->cfg.size; r++)
        free(f->q[r].v);
    free(f->q);
    free(f->stage_tasks);
    free(f->rerep_at);
    free(f->ckpt_acked);
    free(f->live);
    free(f->reserved);
    free(f->inflight);
    free(f->t_sent);
    free(f->dead_pending);
    free(f->lat_us);
    farm_drop_retries(f);
    free(f->retry);
    free(f->seen);
    free(f->done_log);
    free(f->fail_log);
    free(f);
}
