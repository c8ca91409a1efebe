/* transport_shm.c: the transport's path to ranks of the same node, through the shared-memory
 * rings of nodeshm.h. See transport.h and transport_int.h. */
#include <stdlib.h>

#include "ringmaster.h"
#include "runtime/log.h"
#include "runtime/reorder.h"
#include "runtime/transport_int.h"

int rm__tshm_open(struct rm_transport *t)
{
    int rc = rm_nodeshm_open(t->cfg.comm, t->cfg.shm_ring_bytes, &t->shm);
    if (rc != 0 || !t->shm)
        return rc;
    int n = rm_nodeshm_count(t->shm), me = rm_nodeshm_self(t->shm);
    size_t cap = rm_nodeshm_ring_cap(t->shm);
    if (cap < t->cfg.batch_bytes + 8) { /* every batch must fit, or batches would overtake */
        rm_debug("node shared memory: rings of %zu bytes can't hold a %zu-byte batch; MPI only",
                 cap, t->cfg.batch_bytes);
        rm_nodeshm_close(t->shm); /* every rank of the node decides alike: same sizes */
        t->shm = NULL;
        return 0;
    }
    t->n_local = n;
    t->ring_out = calloc((size_t)n, sizeof *t->ring_out);
    t->ring_in = calloc((size_t)n, sizeof *t->ring_in);
    t->backlog = calloc((size_t)n, sizeof *t->backlog);
    t->ring_broken = calloc((size_t)n, sizeof *t->ring_broken);
    t->rank_of_local = calloc((size_t)n, sizeof *t->rank_of_local);
    if (!t->ring_out || !t->ring_in || !t->backlog || !t->ring_broken || !t->rank_of_local)
        return RM_ENOMEM;
    for (int r = 0; r < t->size; r++)
        if (rm_nodeshm_local(t->shm, r) >= 0)
            t->rank_of_local[rm_nodeshm_local(t->shm, r)] = r;
    t->ring_broken[me] = true; /* no ring to itself */
    for (int i = 0; i < n; i++) {
        if (i == me)
            continue;
        if ((rc = rm_shmring_attach(&t->ring_out[i], rm_nodeshm_ring(t->shm, i, me), cap)) != 0 ||
            (rc = rm_shmring_attach(&t->ring_in[i], rm_nodeshm_ring(t->shm, me, i), cap)) != 0)
            return rc;
    }
    return 0;
}

/* Frees local index i's backlog. */
static void drop_backlog(struct rm_transport *t, int i)
{
    struct backlog *q = &t->backlog[i];
    while (q->head) {
        struct backlog_item *it = q->head;
        q->head = it->next;
        rm__transport_release(t, it->buf, it->pooled);
        free(it);
        t->n_backlog--;
    }
    q->tail = NULL;
}

void rm__tshm_close(struct rm_transport *t)
{
    for (int i = 0; t->backlog && i < t->n_local; i++)
        drop_backlog(t, i);
    free(t->backlog);
    free(t->ring_out);
    free(t->ring_in);
    free(t->ring_broken);
    free(t->rank_of_local);
    rm_nodeshm_close(t->shm);
    t->shm = NULL;
}

/* Writes local index i's queued batches into its ring while there is room. */
static void flush_backlog(struct rm_transport *t, int i)
{
    struct backlog *q = &t->backlog[i];
    while (q->head && rm_shmring_write(&t->ring_out[i], q->head->buf, q->head->len) == 0) {
        struct backlog_item *it = q->head;
        q->head = it->next;
        rm__transport_release(t, it->buf, it->pooled);
        free(it);
        t->n_backlog--;
        t->st.batches_shm++;
    }
    if (!q->head)
        q->tail = NULL;
}

int rm__tshm_send(struct rm_transport *t, int dest, unsigned char *buf, size_t len, bool pooled)
{
    int i = rm_nodeshm_local(t->shm, dest);
    if (i < 0)
        return 0;
    struct backlog *q = &t->backlog[i];
    if (!q->head && rm_shmring_write(&t->ring_out[i], buf, len) == 0) {
        rm__transport_release(t, buf, pooled);
        t->st.batches_shm++;
        return 1;
    }
    /* The ring is full (the reader is slow, stopped or dead): wait behind the earlier ones.
     * rm_shmring_write can't refuse for size: open checked that a batch always fits. */
    struct backlog_item *it = malloc(sizeof *it);
    if (!it)
        return RM_ENOMEM;
    *it = (struct backlog_item){.buf = buf, .len = len, .pooled = pooled};
    if (q->tail)
        q->tail->next = it;
    else
        q->head = it;
    q->tail = it;
    t->n_backlog++;
    t->st.shm_waits++;
    return 1;
}

void rm__tshm_retry(struct rm_transport *t)
{
    for (int i = 0; t->n_backlog > 0 && i < t->n_local; i++)
        flush_backlog(t, i);
}

void rm__tshm_drop(struct rm_transport *t, int dest)
{
    int i = rm_nodeshm_local(t->shm, dest);
    if (i >= 0)
        drop_backlog(t, i);
}

/* Takes one batch from the inbound ring of local index i, if it holds one; returns 1 if it did,
 * else 0. */
static int ring_take(struct rm_transport *t, int i, rm_frame_fn fn, void *ctx, int *rc)
{
    const void *data;
    size_t len;
    int src = t->rank_of_local[i];
    if (t->ring_broken[i])
        return 0;
    int pr = rm_shmring_peek(&t->ring_in[i], &data, &len);
    if (pr < 0) {
        t->st.malformed++;
        t->ring_broken[i] = true;
        rm_warn("the shared-memory ring from rank %d is corrupt; its later messages are dropped",
                src);
    }
    if (pr <= 0)
        return 0;
    t->st.batches_received++;
    t->st.bytes_received += len;
    if (t->dead[src]) { /* a rank declared dead, perhaps only stopped: nothing it sends is used */
        t->st.from_dead++;
        rm_shmring_consume(&t->ring_in[i], len);
        return 1;
    }
    int r = rm_reorder_accept(t->rx, &t->st, src, data, len, fn, ctx);
    rm_shmring_consume(&t->ring_in[i], len);
    if (r < 0 && *rc == 0)
        *rc = r;
    return 1;
}

int rm__tshm_drain(struct rm_transport *t, int max, rm_frame_fn fn, void *ctx, int *rc)
{
    int got = 0;
    for (int idle = 0; got < max && idle < t->n_local;) {
        int i = t->ring_next;
        t->ring_next = i + 1 == t->n_local ? 0 : i + 1;
        int n = ring_take(t, i, fn, ctx, rc);
        got += n;
        idle = n ? 0 : idle + 1;
    }
    return got;
}
