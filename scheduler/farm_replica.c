/*
 * farm_replica.c: copies made again after a death, the fourth part of the farm (see
 * farm_internal.h).
 *
 * With cfg.copies > 1, a worker copies each held output to the next ranks of its key before it
 * reports the task done (farmnode.c), so the table knows every output's holder and replicas.
 * Once some rank has died, the leader looks every REREP_EVERY_NS for done tasks whose live
 * copies (holder and replicas not committed dead) are fewer than cfg.copies, and asks each
 * one's holder (REREPLICATE) to copy it to the first live rank of its key's ring successors
 * that has none. The holder copies it off its control thread (io->replicate) and tells the
 * leader (REPLICATED), which commits a REPLICA entry. At most REREP_MAX requests are
 * outstanding; one not answered within REREP_TIMEOUT_NS is asked again. This runs in the
 * background: tasks are not held up by it.
 */
#include "ringmaster.h"
#include "runtime/frame.h"
#include "runtime/log.h"
#include "scheduler/farm_internal.h"

#define REREP_EVERY_NS (200 * NS_PER_MS)
#define REREP_TIMEOUT_NS (5000 * NS_PER_MS)
#define REREP_MAX 64u

/* The rank to hold another copy of done task id: the first live worker-or-leader among its
 * key's successors that is neither its holder nor a live replica; -1 if none. */
static int pick_target(const struct rm_farm *f, uint64_t id)
{
    uint32_t succ[2 * RM_TT_MAX_COPIES + 2];
    int n = rm_ring_successors(f->ring, f->tt.key[id], succ, sizeof succ / sizeof *succ);
    const uint32_t *rep = f->tt.replica + (size_t)id * (f->tt.copies - 1);
    for (int i = 0; i < n; i++) {
        uint32_t r = succ[i];
        bool has = r == f->tt.owner[id] || !f->live[r];
        for (uint32_t j = 0; j < f->tt.copies - 1 && !has; j++)
            has = rep[j] == r;
        if (!has)
            return (int)r;
    }
    return -1;
}

void farm_rereplicate(struct rm_farm *f, uint64_t t)
{
    if (f->cfg.copies < 2 || !f->tt.initialized || !f->ring || f->tt.epoch == 0 ||
        f->tt.stages < 2 || t - f->rerep_scan < REREP_EVERY_NS)
        return;
    f->rerep_scan = t;
    if (!f->rerep_at && !(f->rerep_at = calloc((size_t)f->tt.n, sizeof *f->rerep_at)))
        return;
    uint64_t end = f->tt.stage_first[f->tt.stages - 1];
    uint32_t inflight = 0;
    for (uint64_t id = 0; id < end; id++) {
        if (f->rerep_at[id] && t - f->rerep_at[id] >= REREP_TIMEOUT_NS)
            f->rerep_at[id] = 0;
        inflight += f->rerep_at[id] != 0 && rm_tasktable_copies(&f->tt, id) < f->tt.copies;
    }
    for (uint64_t id = 0; id < end && inflight < REREP_MAX; id++) {
        if (f->tt.state[id] != RM_TASK_DONE || f->rerep_at[id] ||
            rm_tasktable_copies(&f->tt, id) >= f->tt.copies)
            continue;
        uint32_t owner = f->tt.owner[id];
        int target = owner < f->cfg.size && f->live[owner] ? pick_target(f, id) : -1;
        if (target < 0)
            continue;
        unsigned char m[12];
        rm_put_u64(m, id);
        rm_put_u32(m + 8, (uint32_t)target);
        if (owner == f->cfg.rank) {
            if (f->io.replicate)
                f->io.replicate(f->io.ctx, id, (uint32_t)target);
        } else if (f->io.send(f->io.ctx, owner, RM_FARM_REREPLICATE, m, sizeof m) != 0) {
            continue;
        }
        f->rerep_at[id] = t;
        inflight++;
    }
}

void farm_rereplicate_message(struct rm_farm *f, uint32_t sender, const unsigned char *p,
                              size_t len)
{
    (void)len;
    if ((int)sender != f->leader || !f->io.replicate)
        return;
    uint64_t id = rm_get_u64(p);
    uint32_t target = rm_get_u32(p + 8);
    if (id < f->cfg.tasks && target < f->cfg.size && target != f->cfg.rank)
        f->io.replicate(f->io.ctx, id, target);
}

static void commit_replica(struct rm_farm *f, uint64_t id, uint32_t target)
{
    size_t len;
    unsigned char *e = rm_tt_encode_replica(id, target, &len);
    if (e && f->io.propose(f->io.ctx, e, len) == 0)
        rm_debug("task %llu: another copy of its output on rank %u", (unsigned long long)id,
                 target);
    free(e); /* refused (busy): asked again after the timeout */
}

void farm_replicated_message(struct rm_farm *f, uint32_t sender, const unsigned char *p, size_t len)
{
    (void)sender;
    (void)len;
    if (!f->leading || f->finished || f->ended)
        return;
    commit_replica(f, rm_get_u64(p), rm_get_u32(p + 8));
}

void rm_farm_replicated(struct rm_farm *f, uint64_t id, uint32_t target, bool ok)
{
    if (!ok || f->ended)
        return;
    if (f->leading) {
        commit_replica(f, id, target);
        return;
    }
    if (f->leader < 0)
        return; /* the next leader asks again */
    unsigned char m[12];
    rm_put_u64(m, id);
    rm_put_u32(m + 8, target);
    f->io.send(f->io.ctx, (uint32_t)f->leader, RM_FARM_REPLICATED, m, sizeof m);
}
