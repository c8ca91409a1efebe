/*
 * farm_stage.c: stage transitions, the third part of the farm (see farm_internal.h).
 *
 * When a stage starts (or a new leader finds it open), the leader tells every rank who holds
 * the outputs of every earlier stage. With cfg.stage_state, a stage after the first also has a
 * small shared state (k-means' centroids, PageRank's dangling rank) that the leader computes
 * from those outputs through io->need_state, off the control thread, and commits as a STATE
 * entry: it then survives the leader, and the announcement carries it to every rank before
 * any task of the stage is assigned. A request is numbered (state_gen); an answer to an older
 * one, or one arriving after this rank stopped leading, is dropped.
 */
#include <string.h>

#include "ringmaster.h"
#include "runtime/frame.h"
#include "runtime/log.h"
#include "scheduler/farm_internal.h"

#define STATE_RETRY_NS (100 * NS_PER_MS) /* after a failed attempt, ask again this much later */

static bool stage_ready(const struct rm_farm *f, uint32_t s)
{
    return !f->cfg.stage_state || s == 0 || rm_tasktable_has_state(&f->tt, s);
}

/* Tells every rank (this one too) who holds the outputs of every stage before cur_stage, and
 * the stage's state once committed. All earlier stages, not only the last: a kernel may read
 * older outputs (pagerank's graph), and after a death some of those may have been recomputed
 * elsewhere. Returns 0 or RM_ENOMEM. */
static int announce_stage(struct rm_farm *f)
{
    uint32_t s = f->cur_stage;
    if (s == 0 || s >= f->tt.stages)
        return 0;
    bool has = rm_tasktable_has_state(&f->tt, s);
    uint32_t slen = has ? f->tt.state_len[s] : 0;
    uint64_t n = f->tt.stage_first[s];
    size_t len = 20 + 4 * (size_t)n + slen;
    unsigned char *p = malloc(len);
    uint32_t *h = malloc((n ? n : 1) * sizeof *h);
    if (!p || !h) {
        free(p);
        free(h);
        return RM_ENOMEM;
    }
    rm_put_u32(p, s);
    rm_put_u64(p + 4, 0);
    rm_put_u32(p + 12, (uint32_t)n);
    for (uint64_t i = 0; i < n; i++) {
        h[i] = f->tt.owner[i];
        rm_put_u32(p + 16 + 4 * i, h[i]);
    }
    unsigned char *st = p + 16 + 4 * n;
    rm_put_u32(st, has ? slen + 1 : 0);
    if (slen)
        memcpy(st + 4, f->tt.stage_state[s], slen);
    if (f->io.holders)
        f->io.holders(f->io.ctx, s, 0, (uint32_t)n, h);
    if (has && f->io.state)
        f->io.state(f->io.ctx, s, st + 4, slen);
    f->io.broadcast(f->io.ctx, RM_FARM_STAGE, p, len);
    free(p);
    free(h);
    return 0;
}

static void want_state(struct rm_farm *f, uint32_t s)
{
    f->state_retry_at = 0;
    f->io.need_state(f->io.ctx, s, ++f->state_gen);
}

int farm_stage_begin(struct rm_farm *f)
{
    uint32_t s = f->cur_stage;
    if (announce_stage(f) != 0)
        return RM_ENOMEM;
    if (s >= f->tt.stages)
        return 0;
    if (!stage_ready(f, s)) {
        want_state(f, s);
        return 0;
    }
    return farm_enqueue_stage(f, s);
}

void farm_state_committed(struct rm_farm *f, uint32_t s)
{
    if (s != f->cur_stage || !f->ring)
        return;
    f->state_retry_at = 0;
    f->state_gen++; /* any attempt still running is moot */
    rm_debug("stage %u: shared state committed (%u bytes)", s, f->tt.state_len[s]);
    int rc = announce_stage(f);
    if (rc == 0)
        rc = farm_enqueue_stage(f, s);
    if (rc != 0) {
        rm_error("farm: starting stage %u: %s", s, rm_strerror(rc));
        end_job(f, 3);
        return;
    }
    farm_refill_all(f);
}

void farm_state_tick(struct rm_farm *f, uint64_t t)
{
    if (!f->state_retry_at || t < f->state_retry_at || !f->tt.initialized)
        return;
    f->state_retry_at = 0;
    if (f->cur_stage < f->tt.stages && !stage_ready(f, f->cur_stage))
        want_state(f, f->cur_stage);
}

void rm_farm_state(struct rm_farm *f, uint32_t stage, uint64_t gen, int rc, const void *data,
                   size_t len)
{
    if (!f->leading || f->finished || f->ended || gen != f->state_gen || stage != f->cur_stage ||
        stage_ready(f, stage))
        return;
    if (rc == 0 && len > RM_TT_MAX_STATE) {
        rm_error("stage %u: the shared state takes %zu bytes, more than the %u allowed", stage, len,
                 RM_TT_MAX_STATE);
        rc = RM_EMSGSIZE;
    }
    if (rc == RM_EDEAD) { /* the holder's death reopens the stage it held outputs of */
        f->state_retry_at = now(f) + STATE_RETRY_NS;
        return;
    }
    if (rc != 0) {
        rm_error("stage %u: computing the shared state failed (%s); the job fails", stage,
                 rm_strerror(rc));
        rm_farm_end(f, 3);
        return;
    }
    size_t elen;
    unsigned char *e = rm_tt_encode_state(stage, data, (uint32_t)len, &elen);
    if (!e || f->io.propose(f->io.ctx, e, elen) != 0)
        f->state_retry_at = now(f) + STATE_RETRY_NS; /* the log is busy: compute it again */
    free(e);
}

int farm_stage_message(struct rm_farm *f, uint32_t sender, uint64_t term, const unsigned char *p,
                       size_t len)
{
    if (len < 20)
        return RM_EPROTO;
    uint32_t s = rm_get_u32(p), cnt = rm_get_u32(p + 12);
    uint64_t first = rm_get_u64(p + 4);
    if (len < 20 + 4 * (size_t)cnt || s == 0 || first > f->cfg.tasks || cnt > f->cfg.tasks - first)
        return RM_EPROTO;
    const unsigned char *st = p + 16 + 4 * (size_t)cnt;
    uint32_t k = rm_get_u32(st);
    if (len != 20 + 4 * (size_t)cnt + (k ? (size_t)k - 1 : 0) || (k && k - 1 > RM_TT_MAX_STATE))
        return RM_EPROTO;
    farm_adopt_leader(f, (int)sender, term);
    uint32_t *h = malloc((cnt ? cnt : 1) * sizeof *h);
    if (!h)
        return RM_ENOMEM;
    for (uint32_t i = 0; i < cnt; i++)
        h[i] = rm_get_u32(p + 16 + 4 * (size_t)i);
    if (f->io.holders)
        f->io.holders(f->io.ctx, s, first, cnt, h);
    if (k && f->io.state)
        f->io.state(f->io.ctx, s, st + 4, k - 1);
    free(h);
    return 0;
}
