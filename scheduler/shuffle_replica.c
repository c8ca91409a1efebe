/* shuffle_replica.c: copies of stored outputs to other ranks, and keeping the copies other
 * ranks send; see shuffle.h (rm_shuffle_replicate*) and shuffle_int.h. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ringmaster.h"
#include "runtime/clock.h"
#include "runtime/frame.h"
#include "runtime/log.h"
#include "scheduler/shuffle_int.h"
#include "scheduler/trace.h"

/* The messages:
 * REPLICA: u64 req, u64 id, u32 n, n x u32 length, then the n stored parts as they are (each
 * PART_HEAD and the compressed bytes, so its checksum travels with it and is verified on use).
 * REPLICA_ACK: u64 req, u32 status. */

void rm__shuffle_on_replica(struct rm_control *c, void *ctx, const struct rm_frame_header *h,
                            const void *payload)
{
    struct rm_shuffle *s = ctx;
    const unsigned char *p = payload;
    size_t len = h->length;
    uint32_t n = len >= 20 ? rm_get_u32(p + 16) : UINT32_MAX;
    int rc = n <= 65536 && len >= 20 + 4 * (size_t)n ? 0 : RM_EPROTO;
    struct stored st = {.id = rc == 0 ? rm_get_u64(p + 8) : 0, .n = n};
    size_t at = 20 + 4 * (size_t)n;
    uint64_t bytes = 0;
    if (rc == 0) {
        st.part = calloc(n ? n : 1, sizeof *st.part);
        st.len = calloc(n ? n : 1, sizeof *st.len);
        rc = st.part && st.len ? 0 : RM_ENOMEM;
    }
    for (uint32_t i = 0; rc == 0 && i < n; i++) {
        size_t l = rm_get_u32(p + 20 + 4 * (size_t)i);
        if (l < PART_HEAD || len - at < l) {
            rc = RM_EPROTO;
            break;
        }
        if (!(st.part[i] = malloc(l))) {
            rc = RM_ENOMEM;
            break;
        }
        memcpy(st.part[i], p + at, l);
        st.len[i] = l;
        at += l;
        bytes += l;
    }
    if (rc == 0 && at != len)
        rc = RM_EPROTO;
    if (rc == 0)
        rc = rm__shuffle_insert_stored(s, &st, bytes);
    else
        rm__shuffle_free_stored(&st);
    if (rc == RM_EPROTO)
        rm_warn("dropped a malformed replica from rank %u", h->sender);
    if (len < 8)
        return;
    unsigned char ack[12];
    memcpy(ack, p, 8);
    rm_put_u32(ack + 8, (uint32_t)rc);
    rm_control_send(c, (int)h->sender, RM_MSG_REPLICA_ACK, ack, sizeof ack);
}

void rm__shuffle_on_replica_ack(struct rm_control *c, void *ctx, const struct rm_frame_header *h,
                                const void *payload)
{
    struct rm_shuffle *s = ctx;
    (void)c;
    if (h->length != 12)
        return;
    const unsigned char *p = payload;
    uint64_t req = rm_get_u64(p);
    pthread_mutex_lock(&s->mu);
    for (struct request *r = s->pending; r; r = r->next)
        if (r->req == req && r->holder == h->sender && !r->done) {
            r->status = (int)rm_get_u32(p + 8);
            r->done = true;
            pthread_cond_broadcast(&s->cv);
        }
    pthread_mutex_unlock(&s->mu);
    rm__shuffle_reap_groups(s);
}

/* The REPLICA message carrying task id's stored output (malloc'd; its first 8 bytes left for
 * the request number), or NULL with *rc RM_ENOENT or RM_ENOMEM. */
static unsigned char *replica_msg(struct rm_shuffle *s, uint64_t id, size_t *len, int *rc)
{
    pthread_mutex_lock(&s->mu);
    const struct stored *st = s->cap_store ? &s->store[rm__shuffle_slot_of(s, id)] : NULL;
    if (!st || !st->part) {
        pthread_mutex_unlock(&s->mu);
        *rc = RM_ENOENT;
        return NULL;
    }
    *len = 20 + 4 * (size_t)st->n;
    for (uint32_t i = 0; i < st->n; i++)
        *len += st->len[i];
    unsigned char *msg = malloc(*len);
    if (msg) {
        rm_put_u64(msg + 8, id);
        rm_put_u32(msg + 16, st->n);
        size_t at = 20 + 4 * (size_t)st->n;
        for (uint32_t i = 0; i < st->n; i++) {
            rm_put_u32(msg + 20 + 4 * (size_t)i, (uint32_t)st->len[i]);
            memcpy(msg + at, st->part[i], st->len[i]);
            at += st->len[i];
        }
    }
    pthread_mutex_unlock(&s->mu);
    *rc = msg ? 0 : RM_ENOMEM;
    return msg;
}

int rm_shuffle_replicate(struct rm_shuffle *s, uint64_t id, const uint32_t *to, uint32_t n,
                         bool *ok)
{
    if (!s || (n && (!to || !ok)) || n > RM_SHUFFLE_MAX_REPLICAS)
        return RM_EINVAL;
    for (uint32_t i = 0; i < n; i++)
        ok[i] = false;
    if (n == 0)
        return 0;
    size_t len = 0;
    int rc;
    unsigned char *msg = replica_msg(s, id, &len, &rc);
    if (!msg)
        return rc;
    struct request r[RM_SHUFFLE_MAX_REPLICAS];
    bool started[RM_SHUFFLE_MAX_REPLICAS];
    uint64_t t0 = rm_clock_monotonic_ns(), sent = 0;
    uint32_t made = 0;
    for (uint32_t i = 0; i < n; i++) {
        r[i] = (struct request){.holder = to[i]};
        started[i] = (int)to[i] < s->size &&
                     rm__shuffle_start_request(s, &r[i], RM_MSG_REPLICA, msg, len) == 0;
    }
    free(msg);
    for (uint32_t i = 0; i < n; i++) {
        if (!started[i])
            continue;
        pthread_mutex_lock(&s->mu);
        rm__shuffle_wait_request(s, &r[i]);
        rm__shuffle_unlink_request(s, &r[i]);
        ok[i] = r[i].status == 0;
        s->replicated += ok[i] ? len : 0;
        pthread_mutex_unlock(&s->mu);
        sent += ok[i] ? len : 0;
        made += ok[i];
    }
    rm_trace_count(RM_TRACE_REPLICATED, sent);
    rm_trace_event(RM_TRACE_REPLICATE, 0, made, id, sent, t0, rm_clock_monotonic_ns());
    return 0;
}

static void reap_call(struct rm_control *c, void *arg)
{
    (void)c;
    rm__shuffle_reap_groups(arg);
}

int rm_shuffle_replicate_async(struct rm_shuffle *s, uint64_t id, const uint32_t *to, uint32_t n,
                               rm_shuffle_copied_fn done, void *arg)
{
    if (!s || !done || (n && !to) || n > RM_SHUFFLE_MAX_REPLICAS)
        return RM_EINVAL;
    size_t len = 0;
    int rc;
    unsigned char *msg = replica_msg(s, id, &len, &rc);
    struct group *g = msg ? calloc(1, sizeof *g) : NULL;
    if (!g) {
        free(msg);
        return msg ? RM_ENOMEM : rc;
    }
    *g = (struct group){
        .id = id, .n = n, .bytes = len, .t0 = rm_clock_monotonic_ns(), .done = done, .arg = arg};
    for (uint32_t i = 0; i < n; i++) { /* not done until started and answered */
        g->to[i] = to[i];
        g->r[i] =
            (struct request){.holder = to[i], .done = (int)to[i] >= s->size, .status = RM_EDEAD};
    }
    pthread_mutex_lock(&s->mu); /* linked before any request starts: an answer finds it */
    g->next = s->groups;
    s->groups = g;
    pthread_mutex_unlock(&s->mu);
    for (uint32_t i = 0; i < n; i++) {
        if ((int)to[i] >= s->size)
            continue;
        /* once the last request is out or done, g may be reaped and freed at any moment:
         * it is not touched again */
        if (rm__shuffle_start_request(s, &g->r[i], RM_MSG_REPLICA, msg, len) != 0) {
            pthread_mutex_lock(&s->mu);
            g->r[i].done = true;
            pthread_mutex_unlock(&s->mu);
        }
    }
    free(msg);
    /* the control thread looks once the requests are out: all may have failed to start */
    if (rm_control_call(s->ctl, reap_call, s) != 0)
        rm_debug("copy of task %llu: the control thread is stopping", (unsigned long long)id);
    return 0;
}