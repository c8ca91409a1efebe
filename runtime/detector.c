/* detector.c: see detector.h. */
#include "runtime/detector.h"

#include <stdlib.h>

#include "ringmaster.h"

int rm_detector_init(struct rm_detector *d, const struct rm_detector_config *cfg, uint64_t now)
{
    *d = (struct rm_detector){0};
    if (cfg->size == 0 || cfg->self >= cfg->size || cfg->heartbeat_ns == 0 ||
        cfg->suspect_ns <= cfg->heartbeat_ns || cfg->watchers == 0)
        return RM_EINVAL;
    d->cfg = *cfg;
    d->last_heard = calloc(cfg->size, sizeof *d->last_heard);
    d->dead = calloc(cfg->size, sizeof *d->dead);
    d->watched = calloc(cfg->size, sizeof *d->watched);
    d->heard = calloc(cfg->size, sizeof *d->heard);
    if (!d->last_heard || !d->dead || !d->watched || !d->heard) {
        rm_detector_close(d);
        return RM_ENOMEM;
    }
    d->live = cfg->size;
    d->last_tick = now;
    d->last_sent = 0;
    for (uint32_t r = 0; r < cfg->size; r++)
        d->last_heard[r] = now;
    rm_detector_mark_dead(d, cfg->self, now); /* only recomputes the watch set */
    d->started = true;
    return 0;
}

void rm_detector_close(struct rm_detector *d)
{
    free(d->last_heard);
    free(d->dead);
    free(d->watched);
    free(d->heard);
    d->heard = NULL;
    d->last_heard = NULL;
    d->dead = NULL;
    d->watched = NULL;
}

/* Recomputes which ranks this one watches: its `watchers` live predecessors. A rank that
 * starts being watched gets a fresh timer, since it was not sending to us before. */
static void recompute_watched(struct rm_detector *d, uint64_t now)
{
    uint32_t n = d->cfg.size, want = d->cfg.watchers, found = 0;
    bool *was = d->watched;
    for (uint32_t i = 1; i < n; i++) {
        uint32_t r = (d->cfg.self + n - i) % n;
        bool watch = !d->dead[r] && found < want;
        if (watch) {
            found++;
            if (!was[r]) {
                d->last_heard[r] = now;
                d->heard[r] = d->heard[r] || d->started; /* after a death: the usual timeout */
            }
        }
        was[r] = watch;
    }
}

void rm_detector_heard(struct rm_detector *d, uint32_t from, uint64_t now)
{
    if (from < d->cfg.size && !d->dead[from] && now > d->last_heard[from])
        d->last_heard[from] = now;
    if (from < d->cfg.size)
        d->heard[from] = true;
}

bool rm_detector_mark_dead(struct rm_detector *d, uint32_t rank, uint64_t now)
{
    bool newly = rank < d->cfg.size && rank != d->cfg.self && !d->dead[rank];
    if (newly) {
        d->dead[rank] = true;
        d->live--;
    }
    recompute_watched(d, now);
    return newly;
}

bool rm_detector_is_dead(const struct rm_detector *d, uint32_t rank)
{
    return rank < d->cfg.size && d->dead[rank];
}

/* Fills the heartbeat targets: the `watchers` live successors of self. */
static void fill_heartbeats(const struct rm_detector *d, struct rm_detector_actions *out)
{
    uint32_t n = d->cfg.size;
    for (uint32_t i = 1; i < n && out->n_send < d->cfg.watchers; i++) {
        uint32_t r = (d->cfg.self + i) % n;
        if (!d->dead[r])
            out->send_to[out->n_send++] = r;
    }
}

/* Suspects every watched rank silent for longer than the timeout. */
static void check_watched(struct rm_detector *d, uint64_t now, struct rm_detector_actions *out)
{
    uint64_t first = d->cfg.startup_ns > d->cfg.suspect_ns ? d->cfg.startup_ns : d->cfg.suspect_ns;
    for (uint32_t r = 0; r < d->cfg.size; r++) {
        if (d->watched[r] && now - d->last_heard[r] > (d->heard[r] ? d->cfg.suspect_ns : first)) {
            d->dead[r] = true;
            d->live--;
            out->suspected[out->n_suspected++] = r;
        }
    }
    if (out->n_suspected > 0)
        recompute_watched(d, now);
}

void rm_detector_tick(struct rm_detector *d, uint64_t now, struct rm_detector_actions *out)
{
    out->n_send = 0;
    out->n_suspected = 0;
    out->fence_self = false;
    out->pause_ns = 0;
    if (d->fenced)
        return;
    uint64_t gap = now > d->last_tick ? now - d->last_tick : 0;
    d->last_tick = now;
    if (gap > d->cfg.suspect_ns && !d->cfg.no_self_fence) {
        d->fenced = true;
        out->fence_self = true;
        out->pause_ns = gap;
        return;
    }
    if (gap > d->cfg.suspect_ns / 2) {
        out->pause_ns = gap;
        for (uint32_t r = 0; r < d->cfg.size; r++)
            d->last_heard[r] = now;
    }
    if (d->last_sent == 0 || now - d->last_sent >= d->cfg.heartbeat_ns) {
        fill_heartbeats(d, out);
        d->last_sent = now;
    }
    check_watched(d, now, out);
}
