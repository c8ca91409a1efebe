/* transport.c: see transport.h. */
#include "runtime/transport.h"

#include <stdlib.h>
#include <string.h>

#include "ringmaster.h"
#include "runtime/log.h"

struct batch {
    unsigned char *buf;
    size_t len, cap;
};

struct pending_send {
    MPI_Request req;
    unsigned char *buf; /* owned until the request completes */
    int dest;
};

struct rm_transport {
    struct rm_transport_config cfg;
    int rank, size;
    uint64_t term, epoch;
    struct batch *out; /* per peer */
    bool *dead;        /* per peer */
    struct pending_send *pend;
    size_t n_pend, cap_pend;
    unsigned char *rbuf; /* receive buffer, grown on demand */
    size_t rcap;
    struct rm_transport_stats st;
};

int rm_transport_create(const struct rm_transport_config *cfg, struct rm_transport **out)
{
    struct rm_transport *t = calloc(1, sizeof *t);
    if (!t)
        return RM_ENOMEM;
    t->cfg = *cfg;
    if (t->cfg.batch_bytes == 0)
        t->cfg.batch_bytes = 16 << 10;
    if (t->cfg.max_payload == 0)
        t->cfg.max_payload = RM_FRAME_DEFAULT_MAX_PAYLOAD;
    if (t->cfg.max_payload > RM_FRAME_HARD_MAX_PAYLOAD)
        goto err_inval;
    if (MPI_Comm_rank(cfg->comm, &t->rank) != MPI_SUCCESS ||
        MPI_Comm_size(cfg->comm, &t->size) != MPI_SUCCESS)
        goto err_mpi;
    t->out = calloc((size_t)t->size, sizeof *t->out);
    t->dead = calloc((size_t)t->size, sizeof *t->dead);
    if (!t->out || !t->dead)
        goto err_nomem;
    *out = t;
    return 0;
err_nomem:
    rm_transport_destroy(t, 0);
    return RM_ENOMEM;
err_mpi:
    free(t);
    return RM_EMPI;
err_inval:
    free(t);
    return RM_EINVAL;
}

/* Completes finished sends; returns how many completed. */
static int reap_sends(struct rm_transport *t)
{
    int done = 0;
    for (size_t i = 0; i < t->n_pend;) {
        int flag = 0;
        if (MPI_Test(&t->pend[i].req, &flag, MPI_STATUS_IGNORE) != MPI_SUCCESS)
            flag = 0;
        if (!flag) {
            i++;
            continue;
        }
        free(t->pend[i].buf);
        t->pend[i] = t->pend[--t->n_pend];
        done++;
    }
    return done;
}

void rm_transport_destroy(struct rm_transport *t, int timeout_ms)
{
    if (!t)
        return;
    double until = MPI_Wtime() + timeout_ms / 1000.0;
    for (;;) {
        reap_sends(t);
        bool live_pending = false;
        for (size_t i = 0; i < t->n_pend; i++)
            live_pending |= !t->dead[t->pend[i].dest];
        if (!live_pending || MPI_Wtime() > until)
            break;
    }
    /* Whatever is left may still be read by MPI: leak it rather than free it under MPI. */
    if (t->out)
        for (int r = 0; r < t->size; r++)
            free(t->out[r].buf);
    free(t->out);
    free(t->dead);
    free(t->rbuf);
    if (t->n_pend == 0)
        free(t->pend);
    free(t);
}

void rm_transport_set_stamp(struct rm_transport *t, uint64_t term, uint64_t epoch)
{
    t->term = term;
    t->epoch = epoch;
}

static int post(struct rm_transport *t, int dest, unsigned char *buf, size_t len)
{
    if (t->n_pend == t->cap_pend) {
        size_t cap = t->cap_pend ? 2 * t->cap_pend : 16;
        struct pending_send *p = realloc(t->pend, cap * sizeof *p);
        if (!p)
            return RM_ENOMEM;
        t->pend = p;
        t->cap_pend = cap;
    }
    struct pending_send *p = &t->pend[t->n_pend];
    if (MPI_Isend(buf, (int)len, MPI_BYTE, dest, t->cfg.tag, t->cfg.comm, &p->req) != MPI_SUCCESS)
        return RM_EMPI;
    p->buf = buf;
    p->dest = dest;
    t->n_pend++;
    t->st.batches_sent++;
    t->st.bytes_sent += len;
    return 0;
}

/* Posts dest's batch, handing its buffer to the pending send. */
static int flush_one(struct rm_transport *t, int dest)
{
    struct batch *b = &t->out[dest];
    if (b->len == 0)
        return 0;
    int rc = post(t, dest, b->buf, b->len);
    if (rc != 0)
        return rc; /* the batch stays queued; a later flush retries */
    *b = (struct batch){0};
    return 0;
}

static int batch_reserve(struct batch *b, size_t extra, size_t batch_bytes)
{
    if (b->len + extra <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : batch_bytes;
    while (cap < b->len + extra)
        cap *= 2;
    unsigned char *p = realloc(b->buf, cap);
    if (!p)
        return RM_ENOMEM;
    b->buf = p;
    b->cap = cap;
    return 0;
}

int rm_transport_send(struct rm_transport *t, int dest, uint8_t type, const void *payload,
                      size_t len)
{
    if (dest < 0 || dest >= t->size)
        return RM_EINVAL;
    if (t->dead[dest]) {
        t->st.refused_dead++;
        return RM_EDEAD;
    }
    if (len > t->cfg.max_payload)
        return RM_EMSGSIZE;
    struct rm_frame_header h = {.type = type, .sender = (uint32_t)t->rank,
                                .length = (uint32_t)len, .term = t->term, .epoch = t->epoch};
    size_t need = RM_FRAME_HEADER_SIZE + len;
    struct batch *b = &t->out[dest];
    if (b->len > 0 && b->len + need > t->cfg.batch_bytes) {
        int rc = flush_one(t, dest);
        if (rc != 0)
            return rc;
    }
    int rc = batch_reserve(b, need, t->cfg.batch_bytes);
    if (rc != 0)
        return rc;
    long n = rm_frame_encode(&h, payload, len, b->buf + b->len, b->cap - b->len,
                             t->cfg.max_payload);
    if (n < 0)
        return (int)n;
    b->len += (size_t)n;
    t->st.frames_sent++;
    if (b->len >= t->cfg.batch_bytes)
        return flush_one(t, dest);
    return 0;
}

int rm_transport_flush(struct rm_transport *t)
{
    int first = 0;
    for (int r = 0; r < t->size; r++) {
        int rc = flush_one(t, r);
        if (rc != 0 && first == 0)
            first = rc;
    }
    return first;
}

int rm__transport_deliver(struct rm_transport_stats *stats, int source, const void *buf,
                          size_t len, size_t max_payload, rm_frame_fn fn, void *ctx)
{
    const unsigned char *p = buf;
    int delivered = 0;
    while (len > 0) {
        struct rm_frame_header h;
        const void *payload;
        size_t used;
        if (rm_frame_decode(p, len, max_payload, &h, &payload, &used) != 0 ||
            h.sender != (uint32_t)source) {
            stats->malformed++; /* the rest of the batch cannot be framed: drop it */
            break;
        }
        stats->frames_received++;
        fn(ctx, &h, payload);
        delivered++;
        p += used;
        len -= used;
    }
    return delivered;
}

/* Receives one probed message into t->rbuf; returns its length or a negative code. */
static long recv_matched(struct rm_transport *t, MPI_Message *msg, MPI_Status *st)
{
    int count = 0;
    if (MPI_Get_count(st, MPI_BYTE, &count) != MPI_SUCCESS || count < 0)
        return RM_EMPI;
    if ((size_t)count > t->rcap) {
        unsigned char *p = realloc(t->rbuf, (size_t)count);
        if (!p)
            return RM_ENOMEM;
        t->rbuf = p;
        t->rcap = (size_t)count;
    }
    if (MPI_Mrecv(t->rbuf, count, MPI_BYTE, msg, MPI_STATUS_IGNORE) != MPI_SUCCESS)
        return RM_EMPI;
    return count;
}

int rm_transport_poll(struct rm_transport *t, int max_batches, rm_frame_fn fn, void *ctx,
                      int *activity)
{
    int got = 0;
    for (; got < max_batches; got++) {
        int flag = 0;
        MPI_Message msg;
        MPI_Status st;
        if (MPI_Improbe(MPI_ANY_SOURCE, t->cfg.tag, t->cfg.comm, &flag, &msg, &st) != MPI_SUCCESS)
            return RM_EMPI;
        if (!flag)
            break;
        long n = recv_matched(t, &msg, &st);
        if (n < 0)
            return (int)n;
        t->st.batches_received++;
        t->st.bytes_received += (uint64_t)n;
        if (t->dead[st.MPI_SOURCE]) {
            t->st.from_dead++;
            continue;
        }
        rm__transport_deliver(&t->st, st.MPI_SOURCE, t->rbuf, (size_t)n, t->cfg.max_payload, fn,
                              ctx);
    }
    *activity = got + reap_sends(t);
    return 0;
}

void rm_transport_mark_dead(struct rm_transport *t, int rank)
{
    if (rank < 0 || rank >= t->size || rank == t->rank)
        return;
    t->dead[rank] = true;
    free(t->out[rank].buf);
    t->out[rank] = (struct batch){0};
}

bool rm_transport_is_dead(const struct rm_transport *t, int rank)
{
    return rank >= 0 && rank < t->size && t->dead[rank];
}

size_t rm_transport_pending(const struct rm_transport *t)
{
    return t->n_pend;
}

void rm_transport_stats(const struct rm_transport *t, struct rm_transport_stats *out)
{
    *out = t->st;
}
