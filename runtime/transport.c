/* transport.c: see transport.h. */
#include "runtime/transport.h"

#include <stdlib.h>
#include <string.h>

#include "ringmaster.h"
#include "runtime/log.h"
#include "runtime/reorder.h"
#include "runtime/transport_int.h"

static int post_recv(struct rm_transport *t, int slot)
{
    unsigned char *buf = t->recv_buf + (size_t)slot * t->cfg.batch_bytes;
    return MPI_Irecv(buf, (int)t->cfg.batch_bytes, MPI_BYTE, MPI_ANY_SOURCE, t->cfg.tag,
                     t->cfg.comm, &t->reqs[slot]) == MPI_SUCCESS
               ? 0
               : RM_EMPI;
}

static int alloc_peers(struct rm_transport *t)
{
    size_t n = (size_t)t->size;
    t->out = calloc(n, sizeof *t->out);
    t->dead = calloc(n, sizeof *t->dead);
    t->seq_out = calloc(n, sizeof *t->seq_out);
    t->deferred_forget = calloc(n, sizeof *t->deferred_forget);
    t->dirty = calloc(n, sizeof *t->dirty);
    t->queued = calloc(n, sizeof *t->queued);
    t->recv_buf = malloc(RECVS * t->cfg.batch_bytes);
    t->reqs = malloc(RECVS * sizeof *t->reqs);
    if (!t->reqs)
        return RM_ENOMEM;
    for (int i = 0; i < RECVS; i++)
        t->reqs[i] = MPI_REQUEST_NULL;
    if (!t->out || !t->dead || !t->seq_out || !t->deferred_forget || !t->recv_buf || !t->dirty ||
        !t->queued)
        return RM_ENOMEM;
    return rm_reorder_create(t->size, t->cfg.max_payload, &t->rx);
}

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
    int rc = RM_EINVAL;
    if (t->cfg.max_payload > RM_FRAME_HARD_MAX_PAYLOAD ||
        t->cfg.batch_bytes < RM_BATCH_HEADER_SIZE + RM_FRAME_HEADER_SIZE + 64 ||
        t->cfg.batch_bytes > INT32_MAX)
        goto err;
    rc = RM_EMPI;
    if (MPI_Comm_rank(cfg->comm, &t->rank) != MPI_SUCCESS ||
        MPI_Comm_size(cfg->comm, &t->size) != MPI_SUCCESS)
        goto err;
    /* The rings first: mapping them is collective, so every rank reaches it, whatever may
     * fail here afterwards. */
    if (t->cfg.shm_ring_bytes > 0 && (rc = rm__tshm_open(t)) != 0)
        goto err;
    if ((rc = alloc_peers(t)) != 0)
        goto err;
    for (int i = 0; i < RECVS; i++) {
        t->order[i] = i;
        if ((rc = post_recv(t, i)) != 0)
            goto err;
    }
    *out = t;
    return 0;
err:
    rm_transport_destroy(t, 0);
    return rc;
}

static int progress(struct rm_transport *t, rm_frame_fn fn, void *ctx, int *recvs, int *sends);
static void to_tail(struct rm_transport *t, int slot);

void rm__transport_release(struct rm_transport *t, unsigned char *buf, bool pooled)
{
    if (pooled && t->n_pool < POOL_MAX)
        t->pool[t->n_pool++] = buf;
    else
        free(buf);
}

/* Returns a completed send's buffer to the pool, or frees it. */
static void release(struct rm_transport *t, struct pending_send *p)
{
    rm__transport_release(t, p->buf, p->pooled);
    p->buf = NULL;
}

static void ignore_frame(void *ctx, const struct rm_frame_header *h, const void *payload)
{
    (void)ctx;
    (void)h;
    (void)payload;
}

#define CANCEL_WAIT_S 0.2 /* for every cancelled receive to complete, in all */

void rm_transport_destroy(struct rm_transport *t, int timeout_ms)
{
    if (!t)
        return;
    double until = MPI_Wtime() + timeout_ms / 1000.0;
    for (int r, n; t->reqs;) {
        progress(t, ignore_frame, NULL, &r, &n);
        if (t->shm)
            rm__tshm_retry(t); /* what waits for ring room: dead peers' was dropped */
        bool live_pending = t->n_backlog > 0;
        for (size_t i = 0; i < t->n_pend; i++)
            live_pending |= !t->dead[t->pend[i].dest];
        if (!live_pending || MPI_Wtime() > until)
            break;
    }
    /* Cancel the posted receives. A receive that a peer had started to fill before it died can
     * neither complete nor be cancelled: MPI_Wait on it spins forever (seen here with Open MPI
     * 4.1 after a rank's death), so each gets a bounded wait and is then abandoned. */
    double cancel_until = MPI_Wtime() + CANCEL_WAIT_S;
    bool abandoned = false;
    for (int i = 0; t->reqs && i < RECVS; i++) {
        if (t->reqs[i] == MPI_REQUEST_NULL)
            continue;
        MPI_Cancel(&t->reqs[i]);
        int done = 0;
        while (!done && MPI_Wtime() < cancel_until)
            if (MPI_Test(&t->reqs[i], &done, MPI_STATUS_IGNORE) != MPI_SUCCESS)
                break;
        abandoned |= !done;
    }
    /* Whatever is left may still be read by MPI: leak it rather than free it under MPI. */
    if (t->out)
        for (int r = 0; r < t->size; r++)
            free(t->out[r].buf);
    free(t->out);
    free(t->dead);
    free(t->seq_out);
    free(t->deferred_forget);
    if (!abandoned) /* an abandoned receive may still write into it */
        free(t->recv_buf);
    while (t->n_pool > 0)
        free(t->pool[--t->n_pool]);
    rm_reorder_destroy(t->rx);
    free(t->dirty);
    free(t->queued);
    rm__tshm_close(t);
    if (t->n_pend == 0 && !abandoned) {
        free(t->pend);
        free(t->reqs);
    }
    free(t);
}

void rm_transport_set_stamp(struct rm_transport *t, uint64_t term, uint64_t epoch)
{
    t->term = term;
    t->epoch = epoch;
}

/* Stamps the batch header (next seq for dest) and sends it: through dest's same-node ring when
 * it has one, else with MPI_Isend. Takes buf on success. */
static int post(struct rm_transport *t, int dest, unsigned char *buf, size_t len, uint32_t flags,
                bool pooled)
{
    rm_batch_header_write(buf, (uint32_t)t->rank, t->seq_out[dest] + 1, flags);
    int sr = t->shm ? rm__tshm_send(t, dest, buf, len, pooled) : 0;
    if (sr != 0) {
        if (sr < 0)
            return sr;
        t->seq_out[dest]++;
        t->st.batches_sent++;
        t->st.bytes_sent += len;
        return 0;
    }
    if (t->n_pend == t->cap_pend) {
        size_t cap = t->cap_pend ? 2 * t->cap_pend : 16;
        struct pending_send *p = realloc(t->pend, cap * sizeof *p);
        if (!p)
            return RM_ENOMEM;
        t->pend = p;
        MPI_Request *r = realloc(t->reqs, (RECVS + cap) * sizeof *r); /* handles move freely */
        if (!r)
            return RM_ENOMEM;
        t->reqs = r;
        t->cap_pend = cap;
    }
    struct pending_send *p = &t->pend[t->n_pend];
    if (MPI_Isend(buf, (int)len, MPI_BYTE, dest, t->cfg.tag, t->cfg.comm,
                  &t->reqs[RECVS + t->n_pend]) != MPI_SUCCESS)
        return RM_EMPI;
    t->seq_out[dest]++;
    p->buf = buf;
    p->dest = dest;
    p->pooled = pooled;
    t->n_pend++;
    t->st.batches_sent++;
    t->st.bytes_sent += len;
    return 0;
}

/* Posts dest's batch, handing its buffer to the pending send. */
static int flush_one(struct rm_transport *t, int dest)
{
    struct batch *b = &t->out[dest];
    if (b->len <= RM_BATCH_HEADER_SIZE)
        return 0;
    int rc = post(t, dest, b->buf, b->len, 0, true);
    if (rc != 0)
        return rc; /* the batch stays queued; a later flush retries */
    *b = (struct batch){0};
    return 0;
}

/* Makes room for `need` more bytes in dest's batch, flushing it first when it would overflow.
 * Batches never exceed batch_bytes, the size of the receiver's posted buffers. */
static int batch_room(struct rm_transport *t, int dest, size_t need)
{
    struct batch *b = &t->out[dest];
    if (b->len > 0 && b->len + need > t->cfg.batch_bytes) {
        int rc = flush_one(t, dest);
        if (rc != 0)
            return rc;
    }
    if (!b->buf) {
        b->buf = t->n_pool > 0 ? t->pool[--t->n_pool] : malloc(t->cfg.batch_bytes);
        if (!b->buf)
            return RM_ENOMEM;
        b->cap = t->cfg.batch_bytes;
        b->len = RM_BATCH_HEADER_SIZE;
    }
    return 0;
}

/* Sends one encoded frame that does not fit a batch as a run of fragments. */
static int send_fragments(struct rm_transport *t, int dest, const unsigned char *frame, size_t len)
{
    int rc = flush_one(t, dest);
    size_t room = t->cfg.batch_bytes - RM_BATCH_HEADER_SIZE;
    for (size_t off = 0; rc == 0 && off < len; off += room) {
        size_t n = len - off < room ? len - off : room;
        unsigned char *buf = malloc(RM_BATCH_HEADER_SIZE + n);
        if (!buf)
            return RM_ENOMEM;
        memcpy(buf + RM_BATCH_HEADER_SIZE, frame + off, n);
        rc = post(t, dest, buf, RM_BATCH_HEADER_SIZE + n, off + n < len ? RM_BATCH_MORE : 0, false);
        if (rc != 0)
            free(buf);
    }
    return rc;
}

static int send_large(struct rm_transport *t, int dest, const struct rm_frame_header *h,
                      const void *payload, size_t len)
{
    size_t need = RM_FRAME_HEADER_SIZE + len;
    unsigned char *frame = malloc(need);
    if (!frame)
        return RM_ENOMEM;
    long n = rm_frame_encode(h, payload, len, frame, need, t->cfg.max_payload);
    int rc = n < 0 ? (int)n : send_fragments(t, dest, frame, need);
    free(frame);
    return rc;
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
    struct rm_frame_header h = {.type = type,
                                .sender = (uint32_t)t->rank,
                                .length = (uint32_t)len,
                                .term = t->term,
                                .epoch = t->epoch};
    size_t need = RM_FRAME_HEADER_SIZE + len;
    int rc;
    if (need > t->cfg.batch_bytes - RM_BATCH_HEADER_SIZE)
        rc = send_large(t, dest, &h, payload, len);
    else if ((rc = batch_room(t, dest, need)) == 0) {
        struct batch *b = &t->out[dest];
        long n =
            rm_frame_encode(&h, payload, len, b->buf + b->len, b->cap - b->len, t->cfg.max_payload);
        rc = n < 0 ? (int)n : 0;
        if (n > 0)
            b->len += (size_t)n;
        if (n > 0 && !t->queued[dest]) {
            t->queued[dest] = true;
            t->dirty[t->n_dirty++] = dest;
        }
    }
    if (rc == 0)
        t->st.frames_sent++;
    return rc;
}

int rm_transport_flush(struct rm_transport *t)
{
    int first = 0, kept = 0;
    for (int k = 0; k < t->n_dirty; k++) {
        int dest = t->dirty[k], rc = flush_one(t, dest);
        if (rc != 0) { /* still queued: the next flush retries */
            t->dirty[kept++] = dest;
            if (first == 0)
                first = rc;
        } else {
            t->queued[dest] = false;
        }
    }
    t->n_dirty = kept;
    return first;
}

int rm__transport_deliver(struct rm_transport_stats *stats, int source, const void *buf, size_t len,
                          size_t max_payload, rm_frame_fn fn, void *ctx)
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

/* Handles one completed receive of slot i; the slot is posted again by the next poll.
 * failed: MPI reported an error for this receive (a truncated message: a peer sent more than a
 * batch). */
static int take(struct rm_transport *t, int i, const MPI_Status *st, bool failed, rm_frame_fn fn,
                void *ctx)
{
    int count = 0, src = st->MPI_SOURCE;
    unsigned char *buf = t->recv_buf + (size_t)i * t->cfg.batch_bytes;
    int rc = 0;
    if (failed || MPI_Get_count(st, MPI_BYTE, &count) != MPI_SUCCESS || count < 0 || src < 0 ||
        src >= t->size) {
        t->st.malformed++; /* e.g. truncated: a peer sent more than a batch */
    } else {
        t->st.batches_received++;
        t->st.bytes_received += (uint64_t)count;
        if (t->dead[src])
            t->st.from_dead++;
        else /* the frames delivered, or an error */
            rc = rm_reorder_accept(t->rx, &t->st, src, buf, (size_t)count, fn, ctx);
    }
    rc = rc > 0 ? 0 : rc;
    t->repost[t->n_repost++] = i; /* after the caller has answered: see repost_all */
    return rc;
}

/* Posts again the receives taken since the last poll, oldest first (their place at the tail
 * of the posting order was already taken). Deferring this keeps it off the critical path of a
 * request and its reply, as a blocking MPI_Recv does. */
static int repost_all(struct rm_transport *t)
{
    int rc = 0;
    for (int k = 0; k < t->n_repost; k++) {
        int prc = post_recv(t, t->repost[k]);
        if (prc != 0 && rc == 0)
            rc = prc;
    }
    t->n_repost = 0;
    return rc;
}

/* Drops what is waiting from peers declared dead since the last poll. */
static void forget_dead(struct rm_transport *t)
{
    if (!t->any_forget)
        return;
    t->any_forget = false;
    for (int r = 0; r < t->size; r++) {
        if (t->deferred_forget[r]) {
            rm_reorder_forget(t->rx, r);
            t->deferred_forget[r] = false;
        }
    }
}

/* Drops completed sends from the pending list, oldest first kept first, and reqs[RECVS + i]
 * aligned with pend[i]. */
static void compact_sends(struct rm_transport *t)
{
    size_t k = 0;
    for (size_t i = 0; i < t->n_pend; i++) {
        if (!t->pend[i].buf)
            continue;
        t->pend[k] = t->pend[i];
        t->reqs[RECVS + k] = t->reqs[RECVS + i];
        k++;
    }
    t->n_pend = k;
}

/* Moves a just-reposted slot to the tail of the posting order. */
static void to_tail(struct rm_transport *t, int slot)
{
    int pos = 0;
    while (t->order[(t->head + pos) % RECVS] != slot)
        pos++;
    for (; pos < RECVS - 1; pos++)
        t->order[(t->head + pos) % RECVS] = t->order[(t->head + pos + 1) % RECVS];
    t->order[(t->head + RECVS - 1) % RECVS] = slot;
}

/* One MPI_Testsome over every posted receive and send: completes sends, and receives that
 * finished out of posting order (a long message from one peer overtaken by a short one from
 * another, or a peer that died mid-transfer). */
static int progress(struct rm_transport *t, rm_frame_fn fn, void *ctx, int *recvs, int *sends)
{
    int total = RECVS + (int)t->n_pend, n = 0, rc = 0;
    int idx[RECVS + 64];
    MPI_Status sts[RECVS + 64];
    *recvs = *sends = 0;
    if (total > RECVS + 64)
        total = RECVS + 64; /* the rest are tested on the next call */
    int mrc = MPI_Testsome(total, t->reqs, &n, idx, sts);
    if (mrc != MPI_SUCCESS && mrc != MPI_ERR_IN_STATUS)
        return RM_EMPI;
    for (int k = 0; k < n && n != MPI_UNDEFINED; k++) { /* any order: see reorder.h */
        bool failed = mrc == MPI_ERR_IN_STATUS && sts[k].MPI_ERROR != MPI_SUCCESS;
        if (idx[k] >= RECVS) {
            release(t, &t->pend[idx[k] - RECVS]);
            ++*sends;
            continue;
        }
        int rc2 = take(t, idx[k], &sts[k], failed, fn, ctx);
        if (rc2 != 0 && rc == 0)
            rc = rc2;
        to_tail(t, idx[k]);
        ++*recvs;
    }
    if (*sends)
        compact_sends(t);
    return rc;
}

/* The common case, cheaply: MPI matches MPI_ANY_SOURCE receives in the order they were posted,
 * so the next message lands in the oldest one. Tests only that receive, with MPI_Test, which
 * checks again after its pass of the progress engine (MPI_Testsome in Open MPI 4.1 does not, so
 * a message that pass delivered would wait for the next poll: a whole poll() more over TCP).
 * The oldest send is tested on one fast poll in SEND_EVERY: small sends complete as they are
 * posted, and MPI_Test on one that has not would drive the progress engine a second time. */
static int fast_progress(struct rm_transport *t, rm_frame_fn fn, void *ctx, int *recvs, int *sends)
{
    int flag = 0, slot = t->order[t->head], rc = 0;
    MPI_Status st;
    *recvs = 0;
    *sends = 0;
    int mrc = MPI_Test(&t->reqs[slot], &flag, &st);
    if (mrc != MPI_SUCCESS && !flag)
        return RM_EMPI;
    if (flag) {
        *recvs = 1;
        rc = take(t, slot, &st, mrc != MPI_SUCCESS, fn, ctx);
        t->head = (t->head + 1) % RECVS; /* the reposted slot is now the newest: the tail */
    }
    flag = 0;
    if (t->n_pend > 0 && (++t->send_polls & (SEND_EVERY - 1)) == 0 &&
        MPI_Test(&t->reqs[RECVS], &flag, MPI_STATUS_IGNORE) == MPI_SUCCESS && flag) {
        release(t, &t->pend[0]);
        compact_sends(t);
        *sends = 1;
    }
    return rc;
}

/* Whether this poll may leave MPI alone: with same-node rings, MPI may carry nothing for long
 * stretches (every peer on one node), and testing it costs more than polling every ring. After
 * MPI_QUIET polls that found nothing there, MPI is tested on one poll in MPI_SKIP only, which
 * polls the rings four times as often and delays an MPI message by three ring polls at most. */
static bool skip_mpi(struct rm_transport *t, bool thorough)
{
    if (!t->shm || thorough || t->n_pend > 0 || t->n_repost > 0 || t->mpi_quiet < MPI_QUIET)
        return false;
    return (++t->mpi_skip & (MPI_SKIP - 1)) != 0;
}

int rm_transport_poll(struct rm_transport *t, int max_batches, bool thorough, rm_frame_fn fn,
                      void *ctx, int *activity)
{
    int got = 0, sent = 0, rc = t->n_repost ? repost_all(t) : 0;
    if (t->shm) {
        rm__tshm_retry(t);
        got = rm__tshm_drain(t, max_batches > 0 ? max_batches : 1, fn, ctx, &rc);
    }
    /* One pass over MPI per call, then back to the caller, which polls again at once when
     * there was work. Looking for a second message before returning cost a whole pass of the
     * progress engine (a poll() over TCP, about 1 us) on the way to answering the first. */
    if (rc == 0 && !skip_mpi(t, thorough)) {
        int r = 0, n = 0;
        if (thorough || ++t->polls >= FULL_EVERY || t->n_pend >= 64) {
            t->polls = 0;
            rc = progress(t, fn, ctx, &r, &n);
        } else {
            rc = fast_progress(t, fn, ctx, &r, &n);
        }
        t->mpi_quiet = r || n ? 0 : t->mpi_quiet + (t->mpi_quiet < MPI_QUIET);
        got += r;
        sent += n;
    }
    forget_dead(t);
    *activity = got + sent;
    return rc;
}

size_t rm_transport_shm_env(void)
{
    const char *v = getenv("RINGMASTER_SHM");
    return v && strcmp(v, "0") == 0 ? 0 : RM_TRANSPORT_SHM_RING;
}

void rm_transport_mark_dead(struct rm_transport *t, int rank)
{
    if (rank < 0 || rank >= t->size || rank == t->rank)
        return;
    t->dead[rank] = true;
    if (t->shm)
        rm__tshm_drop(t, rank);
    t->deferred_forget[rank] = true;
    t->any_forget = true;
    free(t->out[rank].buf);
    t->out[rank] = (struct batch){0};
}

bool rm_transport_is_dead(const struct rm_transport *t, int rank)
{
    return rank >= 0 && rank < t->size && t->dead[rank];
}

size_t rm_transport_pending(const struct rm_transport *t)
{
    return t->n_pend + t->n_backlog;
}

void rm_transport_stats(const struct rm_transport *t, struct rm_transport_stats *out)
{
    *out = t->st;
}
