/* tasktable.c: see tasktable.h. */
#include "scheduler/tasktable.h"

#include <stdlib.h>
#include <string.h>

#include "ringmaster.h"
#include "runtime/frame.h"

#define SNAP_MAGIC 0x31545452u /* "RTT1" */

void rm_tasktable_init(struct rm_tasktable *tt)
{
    *tt = (struct rm_tasktable){0};
}

void rm_tasktable_close(struct rm_tasktable *tt)
{
    free(tt->state);
    free(tt->owner);
    free(tt->attempt);
    free(tt->dead);
    rm_tasktable_init(tt);
}

static int alloc_tasks(struct rm_tasktable *tt, uint64_t n)
{
    size_t k = n ? (size_t)n : 1;
    tt->state = calloc(k, sizeof *tt->state);
    tt->owner = calloc(k, sizeof *tt->owner);
    tt->attempt = calloc(k, sizeof *tt->attempt);
    if (!tt->state || !tt->owner || !tt->attempt) {
        rm_tasktable_close(tt);
        return RM_ENOMEM;
    }
    tt->n = n;
    tt->initialized = true;
    return 0;
}

static int apply_init(struct rm_tasktable *tt, const unsigned char *p, size_t len)
{
    if (len != 9)
        return RM_EPROTO;
    uint64_t n = rm_get_u64(p + 1);
    if (n > RM_TT_MAX_TASKS)
        return RM_EPROTO;
    if (tt->initialized)
        return 0; /* a second INIT (from a later leader) changes nothing */
    return alloc_tasks(tt, n);
}

/* Validates an id list header: u8 op, u32 owner, u32 n, then n records of `rec` bytes. */
static long batch_count(const unsigned char *p, size_t len, size_t rec)
{
    if (len < 9)
        return -1;
    uint32_t n = rm_get_u32(p + 5);
    if (n > RM_TT_MAX_BATCH || len != 9 + (size_t)n * rec)
        return -1;
    return n;
}

static int apply_assign(struct rm_tasktable *tt, const unsigned char *p, size_t len)
{
    long n = batch_count(p, len, 8);
    if (n < 0)
        return RM_EPROTO;
    uint32_t owner = rm_get_u32(p + 1);
    for (long i = 0; i < n; i++) {
        uint64_t id = rm_get_u64(p + 9 + 8 * i);
        if (id >= tt->n || tt->state[id] != RM_TASK_PENDING)
            continue;
        tt->state[id] = RM_TASK_ASSIGNED;
        tt->owner[id] = owner;
        tt->attempt[id]++;
        tt->assigned++;
    }
    return 0;
}

static int apply_done(struct rm_tasktable *tt, const unsigned char *p, size_t len)
{
    long n = batch_count(p, len, 12);
    if (n < 0)
        return RM_EPROTO;
    uint32_t owner = rm_get_u32(p + 1);
    for (long i = 0; i < n; i++) {
        uint64_t id = rm_get_u64(p + 9 + 12 * i);
        uint32_t attempt = rm_get_u32(p + 9 + 12 * i + 8);
        if (id >= tt->n || tt->state[id] != RM_TASK_ASSIGNED || tt->owner[id] != owner ||
            tt->attempt[id] != attempt)
            continue; /* stale attempt or duplicate */
        tt->state[id] = RM_TASK_DONE;
        tt->assigned--;
        tt->done++;
    }
    return 0;
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
        if (tt->state[id] == RM_TASK_ASSIGNED && tt->owner[id] == rank) {
            tt->state[id] = RM_TASK_PENDING;
            tt->assigned--;
            tt->rescheduled++;
        }
    }
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
    int rc;
    switch (p[0]) {
    case RM_TT_INIT: rc = apply_init(tt, p, len); break;
    case RM_TT_ASSIGN: rc = apply_assign(tt, p, len); break;
    case RM_TT_DONE: rc = apply_done(tt, p, len); break;
    case RM_TT_DEAD: rc = apply_dead(tt, p, len); break;
    default: rc = RM_EPROTO;
    }
    if (rc == 0)
        tt->applied++;
    return rc;
}

static unsigned char *batch_buf(uint8_t op, uint32_t owner, uint32_t n, size_t rec, size_t *len)
{
    *len = 9 + (size_t)n * rec;
    unsigned char *p = malloc(*len);
    if (!p)
        return NULL;
    p[0] = op;
    rm_put_u32(p + 1, owner);
    rm_put_u32(p + 5, n);
    return p;
}

unsigned char *rm_tt_encode_init(uint64_t tasks, size_t *len)
{
    unsigned char *p = malloc(9);
    if (!p)
        return NULL;
    p[0] = RM_TT_INIT;
    rm_put_u64(p + 1, tasks);
    *len = 9;
    return p;
}

unsigned char *rm_tt_encode_assign(uint32_t owner, const uint64_t *ids, uint32_t n, size_t *len)
{
    unsigned char *p = batch_buf(RM_TT_ASSIGN, owner, n, 8, len);
    for (uint32_t i = 0; p && i < n; i++)
        rm_put_u64(p + 9 + 8 * (size_t)i, ids[i]);
    return p;
}

unsigned char *rm_tt_encode_done(uint32_t owner, const uint64_t *ids, const uint32_t *attempts,
                                 uint32_t n, size_t *len)
{
    unsigned char *p = batch_buf(RM_TT_DONE, owner, n, 12, len);
    for (uint32_t i = 0; p && i < n; i++) {
        rm_put_u64(p + 9 + 12 * (size_t)i, ids[i]);
        rm_put_u32(p + 9 + 12 * (size_t)i + 8, attempts[i]);
    }
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

/* Snapshot layout: u32 magic, u8 initialized, u64 n, done, assigned, rescheduled, epoch,
 * applied, then per task u8 state, u32 owner, u32 attempt, then epoch x u32 dead rank. */
#define SNAP_HEAD 53u
#define SNAP_REC 9u

int rm_tasktable_encode(const struct rm_tasktable *tt, unsigned char **out, size_t *len)
{
    *len = SNAP_HEAD + (size_t)tt->n * SNAP_REC + (size_t)tt->epoch * 4;
    unsigned char *p = malloc(*len);
    if (!p)
        return RM_ENOMEM;
    rm_put_u32(p, SNAP_MAGIC);
    p[4] = tt->initialized;
    uint64_t f[6] = {tt->n, tt->done, tt->assigned, tt->rescheduled, tt->epoch, tt->applied};
    for (int i = 0; i < 6; i++)
        rm_put_u64(p + 5 + 8 * i, f[i]);
    for (uint64_t id = 0; id < tt->n; id++) {
        unsigned char *r = p + SNAP_HEAD + SNAP_REC * id;
        r[0] = tt->state[id];
        rm_put_u32(r + 1, tt->owner[id]);
        rm_put_u32(r + 5, tt->attempt[id]);
    }
    for (uint64_t i = 0; i < tt->epoch; i++)
        rm_put_u32(p + SNAP_HEAD + SNAP_REC * tt->n + 4 * i, tt->dead[i]);
    *out = p;
    return 0;
}

int rm_tasktable_decode(struct rm_tasktable *tt, const void *data, size_t len)
{
    const unsigned char *p = data;
    if (len < SNAP_HEAD || rm_get_u32(p) != SNAP_MAGIC || p[4] > 1)
        return RM_EPROTO;
    uint64_t n = rm_get_u64(p + 5), epoch = rm_get_u64(p + 37);
    if (n > RM_TT_MAX_TASKS || epoch > (1u << 24) || len != SNAP_HEAD + n * SNAP_REC + epoch * 4)
        return RM_EPROTO;
    for (uint64_t id = 0; id < n; id++)
        if (p[SNAP_HEAD + SNAP_REC * id] > RM_TASK_DONE)
            return RM_EPROTO;
    struct rm_tasktable t;
    rm_tasktable_init(&t);
    if (alloc_tasks(&t, n) != 0)
        return RM_ENOMEM;
    t.initialized = p[4];
    t.rescheduled = rm_get_u64(p + 29);
    t.applied = rm_get_u64(p + 45);
    t.dead = malloc(epoch ? (size_t)epoch * 4 : 1);
    if (!t.dead) {
        rm_tasktable_close(&t);
        return RM_ENOMEM;
    }
    t.epoch = epoch;
    for (uint64_t i = 0; i < epoch; i++)
        t.dead[i] = rm_get_u32(p + SNAP_HEAD + SNAP_REC * n + 4 * i);
    for (uint64_t id = 0; id < n; id++) {
        const unsigned char *r = p + SNAP_HEAD + SNAP_REC * id;
        t.state[id] = r[0];
        t.owner[id] = rm_get_u32(r + 1);
        t.attempt[id] = rm_get_u32(r + 5);
        t.done += r[0] == RM_TASK_DONE; /* counts are derived, never trusted */
        t.assigned += r[0] == RM_TASK_ASSIGNED;
    }
    rm_tasktable_close(tt);
    *tt = t;
    return 0;
}
