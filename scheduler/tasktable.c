/* tasktable.c: see tasktable.h. */
#include "scheduler/tasktable.h"

#include <stdlib.h>
#include <string.h>

#include "ringmaster.h"
#include "runtime/frame.h"

#define SNAP_MAGIC 0x35545452u /* "RTT5" */

void rm_tasktable_init(struct rm_tasktable *tt)
{
    *tt = (struct rm_tasktable){0};
}

void rm_tasktable_close(struct rm_tasktable *tt)
{
    free(tt->stage_first);
    free(tt->stage_done);
    free(tt->state);
    free(tt->owner);
    free(tt->attempt);
    free(tt->backup);
    free(tt->backup_attempt);
    free(tt->issued);
    free(tt->fails);
    free(tt->key);
    free(tt->dead);
    for (uint32_t s = 0; tt->stage_state && s < tt->stages; s++)
        free(tt->stage_state[s]);
    free(tt->stage_state);
    free(tt->state_len);
    free(tt->replica);
    rm_tasktable_init(tt);
}

static int alloc_tasks(struct rm_tasktable *tt, uint64_t n, uint32_t stages)
{
    size_t k = n ? (size_t)n : 1;
    tt->stage_first = calloc((size_t)stages + 1, sizeof *tt->stage_first);
    tt->stage_done = calloc(stages ? stages : 1, sizeof *tt->stage_done);
    tt->state = calloc(k, sizeof *tt->state);
    tt->owner = calloc(k, sizeof *tt->owner);
    tt->attempt = calloc(k, sizeof *tt->attempt);
    tt->backup = malloc(k * sizeof *tt->backup);
    tt->backup_attempt = calloc(k, sizeof *tt->backup_attempt);
    tt->issued = calloc(k, sizeof *tt->issued);
    tt->fails = calloc(k, sizeof *tt->fails);
    tt->key = calloc(k, sizeof *tt->key);
    tt->stage_state = calloc(stages ? stages : 1, sizeof *tt->stage_state);
    tt->state_len = calloc(stages ? stages : 1, sizeof *tt->state_len);
    tt->stages = stages; /* so that close frees each stage's state */
    if (!tt->stage_state || !tt->state_len || !tt->stage_first || !tt->stage_done || !tt->state ||
        !tt->owner || !tt->attempt || !tt->backup || !tt->backup_attempt || !tt->issued ||
        !tt->fails || !tt->key) {
        rm_tasktable_close(tt);
        return RM_ENOMEM;
    }
    memset(tt->backup, 0xff, k * sizeof *tt->backup);
    tt->n = n;
    tt->stages = stages;
    tt->initialized = true;
    return 0;
}

uint32_t rm_tasktable_stage(const struct rm_tasktable *tt, uint64_t id)
{
    uint32_t lo = 0, hi = tt->stages; /* the stage s with stage_first[s] <= id < [s + 1] */
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (tt->stage_first[mid] <= id)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

bool rm_tasktable_has_state(const struct rm_tasktable *tt, uint32_t s)
{
    return tt->initialized && s < tt->stages && tt->stage_state[s] != NULL;
}

static int apply_state(struct rm_tasktable *tt, const unsigned char *p, size_t len)
{
    if (len < 9)
        return RM_EPROTO;
    uint32_t s = rm_get_u32(p + 1), n = rm_get_u32(p + 5);
    if (n > RM_TT_MAX_STATE || len != 9 + (size_t)n || s >= tt->stages)
        return RM_EPROTO;
    if (tt->stage_state[s])
        return 0; /* the first one stands */
    unsigned char *c = malloc(n ? n : 1);
    if (!c)
        return RM_ENOMEM;
    memcpy(c, p + 9, n);
    tt->stage_state[s] = c;
    tt->state_len[s] = n;
    return 0;
}

/* Sets the replica count and allocates the replica lists (all RM_TT_NONE). 0 or RM_ENOMEM. */
static int alloc_replicas(struct rm_tasktable *tt, uint32_t copies)
{
    tt->copies = copies;
    size_t k = (size_t)tt->n * (copies - 1);
    tt->replica = malloc((k ? k : 1) * sizeof *tt->replica);
    if (!tt->replica)
        return RM_ENOMEM;
    memset(tt->replica, 0xff, (k ? k : 1) * sizeof *tt->replica);
    return 0;
}

static int apply_init(struct rm_tasktable *tt, const unsigned char *p, size_t len)
{
    if (len < 21)
        return RM_EPROTO;
    uint64_t n = rm_get_u64(p + 1);
    uint32_t max_attempts = rm_get_u32(p + 9), stages = rm_get_u32(p + 13);
    if (n > RM_TT_MAX_TASKS || max_attempts == 0 || stages == 0 || stages > RM_TT_MAX_STAGES ||
        len < 21 + 8 * (size_t)stages)
        return RM_EPROTO;
    size_t base = 21 + 8 * (size_t)stages, reused = 0; /* the optional parts follow base */
    if (len >= base + 8) {
        reused = rm_get_u32(p + base + 4);
        if (reused > n || len != base + 8 + 12 * reused)
            return RM_EPROTO;
    } else if (len != base && len != base + 4) {
        return RM_EPROTO;
    }
    uint32_t copies = len >= base + 4 ? rm_get_u32(p + base) : 1;
    if (copies == 0 || copies > RM_TT_MAX_COPIES)
        return RM_EPROTO;
    uint32_t flags = rm_get_u32(p + 17 + 8 * (size_t)stages);
    if (flags & ~RM_TT_HELD_OUTPUTS)
        return RM_EPROTO;
    uint64_t sum = 0;
    for (uint32_t s = 0; s < stages; s++) {
        uint64_t c = rm_get_u64(p + 17 + 8 * (size_t)s);
        if (c > RM_TT_MAX_TASKS)
            return RM_EPROTO;
        sum += c;
    }
    if (sum != n)
        return RM_EPROTO;
    if (tt->initialized)
        return 0; /* a second INIT (from a later leader) changes nothing */
    int rc = alloc_tasks(tt, n, stages);
    if (rc == 0 && (rc = alloc_replicas(tt, copies)) != 0)
        rm_tasktable_close(tt);
    if (rc != 0)
        return rc;
    tt->max_attempts = max_attempts;
    tt->flags = flags;
    for (uint32_t s = 0; s < stages; s++)
        tt->stage_first[s + 1] = tt->stage_first[s] + rm_get_u64(p + 17 + 8 * (size_t)s);
    for (size_t i = 0; i < reused; i++) { /* done in a checkpoint, outputs loaded again */
        uint64_t id = rm_get_u64(p + base + 8 + 12 * i);
        if (id >= n || tt->state[id] == RM_TASK_DONE)
            continue;
        tt->state[id] = RM_TASK_DONE;
        tt->owner[id] = rm_get_u32(p + base + 8 + 12 * i + 8);
        tt->done++;
        tt->stage_done[rm_tasktable_stage(tt, id)]++;
        tt->reused++;
    }
    return 0;
}

/* Validates an id list header: u8 op, u32 rank, u32 n, then n records of `rec` bytes. */
static long batch_count(const unsigned char *p, size_t len, size_t rec)
{
    if (len < 9)
        return -1;
    uint32_t n = rm_get_u32(p + 5);
    if (n > RM_TT_MAX_BATCH || len != 9 + (size_t)n * rec)
        return -1;
    return n;
}

/* Whether every stage before task id's is done: a task is never assigned (nor backed up)
 * before that, even by an entry proposed when it was true and applied after a holder's death
 * reopened an earlier stage. */
static bool stages_before_done(const struct rm_tasktable *tt, uint64_t id)
{
    uint32_t st = rm_tasktable_stage(tt, id);
    for (uint32_t k = 0; k < st; k++)
        if (tt->stage_done[k] != tt->stage_first[k + 1] - tt->stage_first[k])
            return false;
    return true;
}

static uint32_t next_attempt(struct rm_tasktable *tt, uint64_t id)
{
    return ++tt->issued[id];
}

static int apply_assign(struct rm_tasktable *tt, const unsigned char *p, size_t len)
{
    long n = batch_count(p, len, 8);
    if (n < 0)
        return RM_EPROTO;
    uint32_t owner = rm_get_u32(p + 1);
    if (rm_tasktable_is_dead(tt, owner))
        return 0; /* proposed before the owner's death was committed */
    for (long i = 0; i < n; i++) {
        uint64_t id = rm_get_u64(p + 9 + 8 * i);
        if (id >= tt->n || tt->state[id] != RM_TASK_PENDING || !stages_before_done(tt, id))
            continue;
        tt->state[id] = RM_TASK_ASSIGNED;
        tt->owner[id] = owner;
        tt->attempt[id] = next_attempt(tt, id);
        tt->assigned++;
    }
    return 0;
}

static int apply_backup(struct rm_tasktable *tt, const unsigned char *p, size_t len)
{
    long n = batch_count(p, len, 8);
    if (n < 0)
        return RM_EPROTO;
    uint32_t rank = rm_get_u32(p + 1);
    if (rm_tasktable_is_dead(tt, rank))
        return 0;
    for (long i = 0; i < n; i++) {
        uint64_t id = rm_get_u64(p + 9 + 8 * i);
        if (id >= tt->n || tt->state[id] != RM_TASK_ASSIGNED || tt->backup[id] != RM_TT_NONE ||
            tt->owner[id] == rank)
            continue;
        tt->backup[id] = rank;
        tt->backup_attempt[id] = next_attempt(tt, id);
        tt->backups++;
    }
    return 0;
}

bool rm_tasktable_runs(const struct rm_tasktable *tt, uint64_t id, uint32_t rank, uint32_t attempt)
{
    if (id >= tt->n || tt->state[id] != RM_TASK_ASSIGNED)
        return false;
    return (tt->owner[id] == rank && tt->attempt[id] == attempt) ||
           (tt->backup[id] == rank && tt->backup_attempt[id] == attempt);
}

static int apply_done(struct rm_tasktable *tt, const unsigned char *p, size_t len)
{
    uint32_t k = p[0] == RM_TT_DONE_R ? tt->copies - 1 : 0; /* replicas per record */
    size_t rec = 12 + 4 * (size_t)k;
    long n = batch_count(p, len, rec);
    if (n < 0)
        return RM_EPROTO;
    uint32_t rank = rm_get_u32(p + 1);
    for (long i = 0; i < n; i++) {
        const unsigned char *r = p + 9 + rec * (size_t)i;
        uint64_t id = rm_get_u64(r);
        uint32_t attempt = rm_get_u32(r + 8);
        if (!rm_tasktable_runs(tt, id, rank, attempt))
            continue; /* stale attempt, duplicate, or the other copy won */
        uint32_t *rep = tt->replica + (size_t)id * (tt->copies - 1);
        for (uint32_t j = 0; j < tt->copies - 1; j++) {
            uint32_t x = j < k ? rm_get_u32(r + 12 + 4 * (size_t)j) : RM_TT_NONE;
            rep[j] = x == rank || rm_tasktable_is_dead(tt, x) ? RM_TT_NONE : x;
        }
        tt->state[id] = RM_TASK_DONE;
        tt->owner[id] = rank;
        tt->attempt[id] = attempt;
        tt->backup[id] = RM_TT_NONE;
        tt->assigned--;
        tt->done++;
        tt->stage_done[rm_tasktable_stage(tt, id)]++;
    }
    return 0;
}

/* The owner's copy of an assigned task is gone: its backup takes over, or the task waits to be
 * assigned again. Returns true if it went back to pending. */
static bool drop_owner(struct rm_tasktable *tt, uint64_t id)
{
    if (tt->backup[id] != RM_TT_NONE) {
        tt->owner[id] = tt->backup[id];
        tt->attempt[id] = tt->backup_attempt[id];
        tt->backup[id] = RM_TT_NONE;
        return false;
    }
    tt->state[id] = RM_TASK_PENDING;
    tt->assigned--;
    return true;
}

static int apply_fail(struct rm_tasktable *tt, const unsigned char *p, size_t len)
{
    if (len < 19)
        return RM_EPROTO;
    uint32_t rank = rm_get_u32(p + 1), attempt = rm_get_u32(p + 13);
    uint64_t id = rm_get_u64(p + 5);
    uint16_t elen = (uint16_t)(p[17] | p[18] << 8);
    if (elen > RM_TT_MAX_ERROR || len != 19 + (size_t)elen)
        return RM_EPROTO;
    if (!rm_tasktable_runs(tt, id, rank, attempt) || tt->job_failed)
        return 0;
    tt->failures++;
    if (tt->fails[id] < UINT8_MAX)
        tt->fails[id]++;
    if (tt->backup[id] == rank && tt->backup_attempt[id] == attempt)
        tt->backup[id] = RM_TT_NONE;
    else
        drop_owner(tt, id);
    if (tt->fails[id] < tt->max_attempts)
        return 0;
    if (tt->state[id] == RM_TASK_ASSIGNED) /* its other copy is abandoned too */
        tt->assigned--;
    tt->state[id] = RM_TASK_FAILED;
    tt->backup[id] = RM_TT_NONE;
    tt->job_failed = true;
    tt->failed_task = id;
    tt->failed_rank = rank;
    memcpy(tt->failed_error, p + 19, elen);
    tt->failed_error[elen] = '\0';
    return 0;
}

uint32_t rm_tasktable_copies(const struct rm_tasktable *tt, uint64_t id)
{
    if (id >= tt->n || tt->state[id] != RM_TASK_DONE)
        return 0;
    uint32_t c = rm_tasktable_is_dead(tt, tt->owner[id]) ? 0 : 1;
    const uint32_t *rep = tt->replica + (size_t)id * (tt->copies - 1);
    for (uint32_t j = 0; j < tt->copies - 1; j++)
        c += rep[j] != RM_TT_NONE && !rm_tasktable_is_dead(tt, rep[j]);
    return c;
}

static int apply_replica(struct rm_tasktable *tt, const unsigned char *p, size_t len)
{
    if (len != 13)
        return RM_EPROTO;
    uint64_t id = rm_get_u64(p + 1);
    uint32_t rank = rm_get_u32(p + 9);
    if (id >= tt->n || tt->state[id] != RM_TASK_DONE || tt->owner[id] == rank ||
        rm_tasktable_is_dead(tt, rank))
        return 0;
    uint32_t *rep = tt->replica + (size_t)id * (tt->copies - 1), *slot = NULL;
    for (uint32_t j = 0; j < tt->copies - 1; j++) {
        if (rep[j] == rank)
            return 0;
        if (!slot && (rep[j] == RM_TT_NONE || rm_tasktable_is_dead(tt, rep[j])))
            slot = &rep[j];
    }
    if (slot) {
        *slot = rank;
        tt->recopied++;
    }
    return 0;
}

/* A done task's holder is gone: a live replica takes over. Returns true if one did. */
static bool promote_replica(struct rm_tasktable *tt, uint64_t id, uint32_t dead)
{
    uint32_t *rep = tt->replica + (size_t)id * (tt->copies - 1);
    for (uint32_t j = 0; j < tt->copies - 1; j++) {
        if (rep[j] == RM_TT_NONE || rep[j] == dead || rm_tasktable_is_dead(tt, rep[j]))
            continue;
        tt->owner[id] = rep[j];
        rep[j] = RM_TT_NONE;
        tt->saved++;
        return true;
    }
    return false;
}

/* The outputs held by a dead rank are gone: see DEAD in tasktable.h. */
static void lose_outputs(struct rm_tasktable *tt, uint32_t rank)
{
    if (tt->stages < 2)
        return;
    uint32_t lowest = tt->stages;
    for (uint64_t id = 0; id < tt->stage_first[tt->stages - 1]; id++) {
        if (tt->state[id] != RM_TASK_DONE)
            continue;
        if (tt->owner[id] == rank && promote_replica(tt, id, rank)) {
            /* kept, but held elsewhere now: a later task already reading it from the dead
             * rank cannot finish, so the in-flight tasks of later stages start again */
            uint32_t s = rm_tasktable_stage(tt, id);
            lowest = s < lowest ? s : lowest;
            continue;
        }
        uint32_t *rep = tt->replica + (size_t)id * (tt->copies - 1);
        for (uint32_t j = 0; j < tt->copies - 1; j++)
            if (rep[j] == rank)
                rep[j] = RM_TT_NONE;
        if (tt->owner[id] != rank)
            continue;
        uint32_t s = rm_tasktable_stage(tt, id);
        tt->state[id] = RM_TASK_PENDING;
        tt->done--;
        tt->stage_done[s]--;
        tt->lost++;
        tt->rescheduled++;
        lowest = s < lowest ? s : lowest;
    }
    for (uint64_t id = lowest < tt->stages ? tt->stage_first[lowest + 1] : tt->n; id < tt->n;
         id++) {
        if (tt->state[id] != RM_TASK_ASSIGNED)
            continue;
        tt->state[id] = RM_TASK_PENDING;
        tt->backup[id] = RM_TT_NONE;
        tt->assigned--;
        tt->rescheduled++;
    }
}

static int apply_dead(struct rm_tasktable *tt, const unsigned char *p, size_t len)
{
    if (len != 5)
        return RM_EPROTO;
    uint32_t rank = rm_get_u32(p + 1);
    if (rm_tasktable_is_dead(tt, rank))
        return 0; /* a second DEAD for the same rank (from a later leader) */
    uint32_t *d = realloc(tt->dead, (size_t)(tt->epoch + 1) * sizeof *d);
    if (!d)
        return RM_ENOMEM;
    tt->dead = d;
    tt->dead[tt->epoch] = rank;
    for (uint64_t id = 0; id < tt->n; id++) {
        if (tt->state[id] != RM_TASK_ASSIGNED)
            continue;
        if (tt->backup[id] == rank)
            tt->backup[id] = RM_TT_NONE;
        else if (tt->owner[id] == rank && drop_owner(tt, id))
            tt->rescheduled++;
    }
    if (tt->flags & RM_TT_HELD_OUTPUTS)
        lose_outputs(tt, rank);
    tt->epoch++;
    return 0;
}

bool rm_tasktable_is_dead(const struct rm_tasktable *tt, uint32_t rank)
{
    for (uint64_t i = 0; i < tt->epoch; i++)
        if (tt->dead[i] == rank)
            return true;
    return false;
}

int rm_tasktable_apply(struct rm_tasktable *tt, const void *data, size_t len)
{
    const unsigned char *p = data;
    if (len < 1)
        return RM_EPROTO;
    if (p[0] != RM_TT_INIT && p[0] != RM_TT_DEAD && !tt->initialized)
        return p[0] >= RM_TT_ASSIGN && p[0] <= RM_TT_REPLICA ? 0 : RM_EPROTO; /* no tasks yet */
    int rc;
    switch (p[0]) {
    case RM_TT_INIT:
        rc = apply_init(tt, p, len);
        break;
    case RM_TT_ASSIGN:
        rc = apply_assign(tt, p, len);
        break;
    case RM_TT_DONE:
    case RM_TT_DONE_R:
        rc = apply_done(tt, p, len);
        break;
    case RM_TT_DEAD:
        rc = apply_dead(tt, p, len);
        break;
    case RM_TT_BACKUP:
        rc = apply_backup(tt, p, len);
        break;
    case RM_TT_FAIL:
        rc = apply_fail(tt, p, len);
        break;
    case RM_TT_STATE:
        rc = apply_state(tt, p, len);
        break;
    case RM_TT_REPLICA:
        rc = apply_replica(tt, p, len);
        break;
    default:
        rc = RM_EPROTO;
    }
    if (rc == 0)
        tt->applied++;
    return rc;
}

static unsigned char *batch_buf(uint8_t op, uint32_t rank, uint32_t n, size_t rec, size_t *len)
{
    if (n > RM_TT_MAX_BATCH)
        return NULL;
    *len = 9 + (size_t)n * rec;
    unsigned char *p = malloc(*len);
    if (!p)
        return NULL;
    p[0] = op;
    rm_put_u32(p + 1, rank);
    rm_put_u32(p + 5, n);
    return p;
}

unsigned char *rm_tt_encode_init(uint64_t tasks, uint32_t max_attempts, uint32_t stages,
                                 const uint64_t *counts, size_t *len)
{
    return rm_tt_encode_init_flags(tasks, max_attempts, stages, counts, 0, len);
}

unsigned char *rm_tt_encode_init_copies(uint64_t tasks, uint32_t max_attempts, uint32_t stages,
                                        const uint64_t *counts, uint32_t flags, uint32_t copies,
                                        size_t *len)
{
    return rm_tt_encode_init_resume(tasks, max_attempts, stages, counts, flags, copies, NULL, NULL,
                                    0, len);
}

unsigned char *rm_tt_encode_init_resume(uint64_t tasks, uint32_t max_attempts, uint32_t stages,
                                        const uint64_t *counts, uint32_t flags, uint32_t copies,
                                        const uint64_t *ids, const uint32_t *holders,
                                        uint32_t reused, size_t *len)
{
    if (copies == 0 || copies > RM_TT_MAX_COPIES || reused > tasks || (reused && !ids))
        return NULL;
    unsigned char *p = rm_tt_encode_init_flags(tasks, max_attempts, stages, counts, flags, len);
    if (!p || (copies == 1 && reused == 0))
        return p;
    size_t extra = reused ? 8 + 12 * (size_t)reused : 4;
    unsigned char *q = realloc(p, *len + extra);
    if (!q) {
        free(p);
        return NULL;
    }
    rm_put_u32(q + *len, copies);
    if (reused) {
        rm_put_u32(q + *len + 4, reused);
        for (uint32_t i = 0; i < reused; i++) {
            rm_put_u64(q + *len + 8 + 12 * (size_t)i, ids[i]);
            rm_put_u32(q + *len + 16 + 12 * (size_t)i, holders[i]);
        }
    }
    *len += extra;
    return q;
}

unsigned char *rm_tt_encode_init_flags(uint64_t tasks, uint32_t max_attempts, uint32_t stages,
                                       const uint64_t *counts, uint32_t flags, size_t *len)
{
    if (stages == 0 || stages > RM_TT_MAX_STAGES || !counts || max_attempts == 0)
        return NULL;
    *len = 21 + 8 * (size_t)stages;
    unsigned char *p = malloc(*len);
    if (!p)
        return NULL;
    p[0] = RM_TT_INIT;
    rm_put_u64(p + 1, tasks);
    rm_put_u32(p + 9, max_attempts);
    rm_put_u32(p + 13, stages);
    for (uint32_t s = 0; s < stages; s++)
        rm_put_u64(p + 17 + 8 * (size_t)s, counts[s]);
    rm_put_u32(p + 17 + 8 * (size_t)stages, flags);
    return p;
}

static unsigned char *encode_ids(uint8_t op, uint32_t rank, const uint64_t *ids, uint32_t n,
                                 size_t *len)
{
    unsigned char *p = batch_buf(op, rank, n, 8, len);
    for (uint32_t i = 0; p && i < n; i++)
        rm_put_u64(p + 9 + 8 * (size_t)i, ids[i]);
    return p;
}

unsigned char *rm_tt_encode_assign(uint32_t owner, const uint64_t *ids, uint32_t n, size_t *len)
{
    return encode_ids(RM_TT_ASSIGN, owner, ids, n, len);
}

unsigned char *rm_tt_encode_backup(uint32_t rank, const uint64_t *ids, uint32_t n, size_t *len)
{
    return encode_ids(RM_TT_BACKUP, rank, ids, n, len);
}

unsigned char *rm_tt_encode_done(uint32_t rank, const uint64_t *ids, const uint32_t *attempts,
                                 uint32_t n, size_t *len)
{
    unsigned char *p = batch_buf(RM_TT_DONE, rank, n, 12, len);
    for (uint32_t i = 0; p && i < n; i++) {
        rm_put_u64(p + 9 + 12 * (size_t)i, ids[i]);
        rm_put_u32(p + 9 + 12 * (size_t)i + 8, attempts[i]);
    }
    return p;
}

unsigned char *rm_tt_encode_done_r(uint32_t rank, const uint64_t *ids, const uint32_t *attempts,
                                   const uint32_t *replicas, uint32_t copies, uint32_t n,
                                   size_t *len)
{
    if (copies < 2 || copies > RM_TT_MAX_COPIES)
        return NULL;
    size_t rec = 12 + 4 * (size_t)(copies - 1);
    unsigned char *p = batch_buf(RM_TT_DONE_R, rank, n, rec, len);
    for (uint32_t i = 0; p && i < n; i++) {
        unsigned char *r = p + 9 + rec * i;
        rm_put_u64(r, ids[i]);
        rm_put_u32(r + 8, attempts[i]);
        for (uint32_t j = 0; j < copies - 1; j++)
            rm_put_u32(r + 12 + 4 * (size_t)j, replicas[(size_t)i * (copies - 1) + j]);
    }
    return p;
}

unsigned char *rm_tt_encode_replica(uint64_t id, uint32_t rank, size_t *len)
{
    *len = 13;
    unsigned char *p = malloc(*len);
    if (!p)
        return NULL;
    p[0] = RM_TT_REPLICA;
    rm_put_u64(p + 1, id);
    rm_put_u32(p + 9, rank);
    return p;
}

unsigned char *rm_tt_encode_dead(uint32_t rank, size_t *len)
{
    unsigned char *p = malloc(5);
    if (!p)
        return NULL;
    p[0] = RM_TT_DEAD;
    rm_put_u32(p + 1, rank);
    *len = 5;
    return p;
}

unsigned char *rm_tt_encode_fail(uint32_t rank, uint64_t id, uint32_t attempt, const char *error,
                                 size_t *len)
{
    size_t elen = error ? strnlen(error, RM_TT_MAX_ERROR) : 0;
    *len = 19 + elen;
    unsigned char *p = malloc(*len);
    if (!p)
        return NULL;
    p[0] = RM_TT_FAIL;
    rm_put_u32(p + 1, rank);
    rm_put_u64(p + 5, id);
    rm_put_u32(p + 13, attempt);
    p[17] = (unsigned char)(elen & 0xff);
    p[18] = (unsigned char)(elen >> 8);
    if (elen)
        memcpy(p + 19, error, elen);
    return p;
}

unsigned char *rm_tt_encode_state(uint32_t stage, const void *data, uint32_t n, size_t *len)
{
    if (n > RM_TT_MAX_STATE || (n && !data))
        return NULL;
    *len = 9 + (size_t)n;
    unsigned char *p = malloc(*len);
    if (!p)
        return NULL;
    p[0] = RM_TT_STATE;
    rm_put_u32(p + 1, stage);
    rm_put_u32(p + 5, n);
    if (n)
        memcpy(p + 9, data, n);
    return p;
}

/* Snapshot layout (little-endian):
 *   u32 magic, u8 initialized, u8 job_failed, u32 max_attempts, u32 stages, u32 failed_rank,
 *   u64 n, rescheduled, backups, failures, failed_task, epoch, applied,
 *   u16 error length, u32 flags, u64 lost, error bytes,
 *   stages x u64 stage count,
 *   per task: u8 state, u8 fails, u32 owner, attempt, backup, backup_attempt, issued,
 *   epoch x u32 dead rank,
 *   per stage: u32 state length + 1 (0: none yet), then the state's bytes,
 *   u32 copies, u64 saved, u64 recopied, u64 reused, n x (copies - 1) x u32 replica.
 * Done and assigned counts are derived on decode, never trusted. */
#define SNAP_HEAD 88u
#define SNAP_REC 22u

int rm_tasktable_encode(const struct rm_tasktable *tt, unsigned char **out, size_t *len)
{
    size_t elen = strnlen(tt->failed_error, RM_TT_MAX_ERROR);
    size_t head = SNAP_HEAD + elen + 8 * (size_t)tt->stages;
    *len = head + (size_t)tt->n * SNAP_REC + (size_t)tt->epoch * 4;
    for (uint32_t s = 0; tt->initialized && s < tt->stages; s++)
        *len += 4 + (tt->stage_state[s] ? tt->state_len[s] : 0);
    uint32_t copies = tt->initialized ? tt->copies : 1;
    *len += 28 + (size_t)tt->n * (copies - 1) * 4;
    unsigned char *p = malloc(*len);
    if (!p)
        return RM_ENOMEM;
    rm_put_u32(p, SNAP_MAGIC);
    p[4] = tt->initialized;
    p[5] = tt->job_failed;
    rm_put_u32(p + 6, tt->max_attempts);
    rm_put_u32(p + 10, tt->stages);
    rm_put_u32(p + 14, tt->failed_rank);
    uint64_t f[7] = {tt->n,           tt->rescheduled, tt->backups, tt->failures,
                     tt->failed_task, tt->epoch,       tt->applied};
    for (int i = 0; i < 7; i++)
        rm_put_u64(p + 18 + 8 * i, f[i]);
    p[74] = (unsigned char)(elen & 0xff);
    p[75] = (unsigned char)(elen >> 8);
    rm_put_u32(p + 76, tt->flags);
    rm_put_u64(p + 80, tt->lost);
    memcpy(p + SNAP_HEAD, tt->failed_error, elen);
    for (uint32_t s = 0; s < tt->stages; s++)
        rm_put_u64(p + SNAP_HEAD + elen + 8 * (size_t)s,
                   tt->stage_first[s + 1] - tt->stage_first[s]);
    for (uint64_t id = 0; id < tt->n; id++) {
        unsigned char *r = p + head + SNAP_REC * id;
        r[0] = tt->state[id];
        r[1] = tt->fails[id];
        rm_put_u32(r + 2, tt->owner[id]);
        rm_put_u32(r + 6, tt->attempt[id]);
        rm_put_u32(r + 10, tt->backup[id]);
        rm_put_u32(r + 14, tt->backup_attempt[id]);
        rm_put_u32(r + 18, tt->issued[id]);
    }
    for (uint64_t i = 0; i < tt->epoch; i++)
        rm_put_u32(p + head + SNAP_REC * tt->n + 4 * i, tt->dead[i]);
    unsigned char *q = p + head + SNAP_REC * tt->n + 4 * tt->epoch;
    for (uint32_t s = 0; tt->initialized && s < tt->stages; s++) {
        const unsigned char *st = tt->stage_state[s];
        rm_put_u32(q, st ? tt->state_len[s] + 1 : 0);
        if (st && tt->state_len[s])
            memcpy(q + 4, st, tt->state_len[s]);
        q += 4 + (st ? tt->state_len[s] : 0);
    }
    rm_put_u32(q, copies);
    rm_put_u64(q + 4, tt->saved);
    rm_put_u64(q + 12, tt->recopied);
    rm_put_u64(q + 20, tt->reused);
    q += 28;
    for (size_t i = 0; i < (size_t)tt->n * (copies - 1); i++)
        rm_put_u32(q + 4 * i, tt->replica[i]);
    *out = p;
    return 0;
}

int rm_tasktable_decode(struct rm_tasktable *tt, const void *data, size_t len)
{
    const unsigned char *p = data;
    if (len < SNAP_HEAD || rm_get_u32(p) != SNAP_MAGIC || p[4] > 1 || p[5] > 1)
        return RM_EPROTO;
    uint32_t stages = rm_get_u32(p + 10);
    uint64_t n = rm_get_u64(p + 18), epoch = rm_get_u64(p + 58);
    size_t elen = (size_t)(p[74] | p[75] << 8);
    if (n > RM_TT_MAX_TASKS || epoch > (1u << 24) || elen > RM_TT_MAX_ERROR ||
        stages > RM_TT_MAX_STAGES || (p[4] && stages == 0))
        return RM_EPROTO;
    size_t head = SNAP_HEAD + elen + 8 * (size_t)stages;
    if (len < head + n * SNAP_REC + epoch * 4)
        return RM_EPROTO;
    struct rm_tasktable t;
    rm_tasktable_init(&t);
    if (alloc_tasks(&t, n, stages ? stages : 1) != 0)
        return RM_ENOMEM;
    t.stages = stages;
    t.initialized = p[4];
    t.job_failed = p[5];
    t.max_attempts = rm_get_u32(p + 6);
    t.failed_rank = rm_get_u32(p + 14);
    t.rescheduled = rm_get_u64(p + 26);
    t.backups = rm_get_u64(p + 34);
    t.failures = rm_get_u64(p + 42);
    t.failed_task = rm_get_u64(p + 50);
    t.flags = rm_get_u32(p + 76);
    t.lost = rm_get_u64(p + 80);
    t.applied = rm_get_u64(p + 66);
    memcpy(t.failed_error, p + SNAP_HEAD, elen);
    t.failed_error[elen] = '\0';
    for (uint32_t s = 0; s < stages; s++)
        t.stage_first[s + 1] = t.stage_first[s] + rm_get_u64(p + SNAP_HEAD + elen + 8 * s);
    int rc = stages && t.stage_first[stages] != n ? RM_EPROTO : 0;
    t.dead = malloc(epoch ? (size_t)epoch * 4 : 1);
    if (!t.dead)
        rc = RM_ENOMEM;
    t.epoch = epoch;
    for (uint64_t i = 0; rc == 0 && i < epoch; i++)
        t.dead[i] = rm_get_u32(p + head + SNAP_REC * n + 4 * i);
    for (uint64_t id = 0; rc == 0 && id < n; id++) {
        const unsigned char *r = p + head + SNAP_REC * id;
        if (r[0] > RM_TASK_FAILED) {
            rc = RM_EPROTO;
            break;
        }
        t.state[id] = r[0];
        t.fails[id] = r[1];
        t.owner[id] = rm_get_u32(r + 2);
        t.attempt[id] = rm_get_u32(r + 6);
        t.backup[id] = rm_get_u32(r + 10);
        t.backup_attempt[id] = rm_get_u32(r + 14);
        t.issued[id] = rm_get_u32(r + 18);
        t.done += r[0] == RM_TASK_DONE; /* counts are derived, never trusted */
        t.assigned += r[0] == RM_TASK_ASSIGNED;
        if (r[0] == RM_TASK_DONE)
            t.stage_done[rm_tasktable_stage(&t, id)]++;
    }
    size_t at = head + SNAP_REC * n + 4 * epoch;
    for (uint32_t s = 0; rc == 0 && t.initialized && s < stages; s++) {
        if (len - at < 4) {
            rc = RM_EPROTO;
            break;
        }
        uint32_t k = rm_get_u32(p + at);
        at += 4;
        if (k == 0)
            continue;
        if (k - 1 > RM_TT_MAX_STATE || len - at < (size_t)k - 1) {
            rc = RM_EPROTO;
            break;
        }
        if (!(t.stage_state[s] = malloc(k > 1 ? k - 1 : 1))) {
            rc = RM_ENOMEM;
            break;
        }
        memcpy(t.stage_state[s], p + at, k - 1);
        t.state_len[s] = k - 1;
        at += k - 1;
    }
    if (rc == 0 && len - at < 28)
        rc = RM_EPROTO;
    uint32_t copies = rc == 0 ? rm_get_u32(p + at) : 1;
    if (rc == 0 && (copies == 0 || copies > RM_TT_MAX_COPIES || (!t.initialized && copies != 1) ||
                    (len - at - 28) / 4 / (copies > 1 ? copies - 1 : 1) < (copies > 1 ? n : 0)))
        rc = RM_EPROTO;
    if (rc == 0)
        rc = alloc_replicas(&t, copies);
    if (rc == 0) {
        t.saved = rm_get_u64(p + at + 4);
        t.recopied = rm_get_u64(p + at + 12);
        t.reused = rm_get_u64(p + at + 20);
        at += 28;
        for (size_t i = 0; i < (size_t)n * (copies - 1); i++, at += 4)
            t.replica[i] = rm_get_u32(p + at);
    }
    if (rc == 0 && at != len)
        rc = RM_EPROTO;
    if (rc != 0) {
        rm_tasktable_close(&t);
        return rc;
    }
    rm_tasktable_close(tt);
    *tt = t;
    return 0;
}
