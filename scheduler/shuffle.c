/* shuffle.c: see shuffle.h. */
#include "scheduler/shuffle.h"
#include "scheduler/shuffle_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <xxhash.h>
#include <zstd.h>

#include "ringmaster.h"
#include "scheduler/trace.h"
#include "runtime/clock.h"
#include "runtime/frame.h"
#include "runtime/log.h"

/* ---- the store --------------------------------------------------------------------------------
 */

size_t rm__shuffle_slot_of(const struct rm_shuffle *s, uint64_t id)
{
    size_t mask = s->cap_store - 1, i = (size_t)(XXH3_64bits(&id, sizeof id) & mask);
    while (s->store[i].part && s->store[i].id != id)
        i = (i + 1) & mask;
    return i;
}

void rm__shuffle_free_stored(struct stored *st)
{
    for (uint32_t i = 0; i < st->n; i++)
        free(st->part[i]);
    free(st->part);
    free(st->len);
}

static int grow_store(struct rm_shuffle *s)
{
    if ((s->n_store + 1) * 2 <= s->cap_store)
        return 0;
    size_t cap = s->cap_store ? s->cap_store * 2 : 64;
    struct stored *old = s->store;
    size_t old_cap = s->cap_store;
    s->store = calloc(cap, sizeof *s->store);
    if (!s->store) {
        s->store = old;
        return RM_ENOMEM;
    }
    s->cap_store = cap;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].part)
            s->store[rm__shuffle_slot_of(s, old[i].id)] = old[i];
    free(old);
    return 0;
}

/* Encodes one part: header, then zstd at level (or raw). Returns the malloc'd part or NULL. */
static unsigned char *encode_part(int level, const unsigned char *raw, size_t len, size_t *out)
{
    size_t bound = level > 0 ? ZSTD_compressBound(len) : len;
    unsigned char *p = malloc(PART_HEAD + bound + 1);
    if (!p)
        return NULL;
    size_t body = len;
    p[0] = CODEC_RAW;
    if (level > 0) {
        size_t z = ZSTD_compress(p + PART_HEAD, bound, raw, len, level);
        if (!ZSTD_isError(z) && z < len) {
            p[0] = CODEC_ZSTD;
            body = z;
        }
    }
    if (p[0] == CODEC_RAW && len)
        memcpy(p + PART_HEAD, raw, len);
    rm_put_u64(p + 1, len);
    rm_put_u64(p + 9, XXH3_64bits(raw, len));
    *out = PART_HEAD + body;
    return p;
}

/* Decodes a stored part into a malloc'd raw copy, verifying its checksum. */
static int decode_part(const unsigned char *p, size_t len, unsigned char **raw, size_t *rlen)
{
    if (len < PART_HEAD || p[0] > CODEC_ZSTD)
        return RM_ECORRUPT;
    uint64_t n = rm_get_u64(p + 1), sum = rm_get_u64(p + 9);
    if (n > ((uint64_t)1 << 40) || (p[0] == CODEC_RAW && n != len - PART_HEAD))
        return RM_ECORRUPT;
    unsigned char *out = malloc(n ? (size_t)n : 1);
    if (!out)
        return RM_ENOMEM;
    if (p[0] == CODEC_ZSTD) {
        size_t got = ZSTD_decompress(out, (size_t)n, p + PART_HEAD, len - PART_HEAD);
        if (ZSTD_isError(got) || got != n) {
            free(out);
            return RM_ECORRUPT;
        }
    } else if (n) {
        memcpy(out, p + PART_HEAD, (size_t)n);
    }
    if (XXH3_64bits(out, (size_t)n) != sum) {
        free(out);
        return RM_ECORRUPT;
    }
    *raw = out;
    *rlen = (size_t)n;
    return 0;
}

/* An empty record of n parts for task id. 0 or RM_ENOMEM (st is then safe to free). */
static int new_stored(struct stored *st, uint64_t id, uint32_t n)
{
    *st = (struct stored){.id = id, .n = n};
    st->part = calloc(n ? n : 1, sizeof *st->part);
    st->len = calloc(n ? n : 1, sizeof *st->len);
    return st->part && st->len ? 0 : RM_ENOMEM;
}

/* Puts st (owned) into the store, replacing an earlier copy of its task. 0 or RM_ENOMEM (st is
 * freed). */
int rm__shuffle_insert_stored(struct rm_shuffle *s, struct stored *st, uint64_t bytes)
{
    pthread_mutex_lock(&s->mu);
    int rc = grow_store(s);
    if (rc == 0) {
        size_t i = rm__shuffle_slot_of(s, st->id);
        if (s->store[i].part) {
            for (uint32_t k = 0; k < s->store[i].n; k++)
                s->held -= s->store[i].len[k];
            rm__shuffle_free_stored(&s->store[i]);
        } else {
            s->n_store++;
        }
        s->store[i] = *st;
        s->held += bytes;
    }
    pthread_mutex_unlock(&s->mu);
    if (rc != 0)
        rm__shuffle_free_stored(st);
    return rc;
}

int rm_shuffle_put(struct rm_shuffle *s, uint64_t id, uint32_t n, unsigned char *const *bufs,
                   const size_t *lens)
{
    if (!s || (n && (!bufs || !lens)))
        return RM_EINVAL;
    struct stored st;
    int rc = new_stored(&st, id, n);
    uint64_t bytes = 0;
    for (uint32_t i = 0; rc == 0 && i < n; i++) {
        st.part[i] = encode_part(s->level, bufs[i], lens[i], &st.len[i]);
        if (!st.part[i])
            rc = RM_ENOMEM;
        bytes += st.len[i];
    }
    if (rc != 0) {
        rm__shuffle_free_stored(&st);
        return rc;
    }
    return rm__shuffle_insert_stored(s, &st, bytes);
}

int rm_shuffle_each(struct rm_shuffle *s, uint64_t id_end,
                    int (*fn)(void *arg, uint64_t id, uint32_t n, unsigned char *const *parts,
                              const size_t *lens),
                    void *arg)
{
    if (!s || !fn)
        return RM_EINVAL;
    pthread_mutex_lock(&s->mu);
    size_t n = 0;
    uint64_t *ids = malloc((s->n_store ? s->n_store : 1) * sizeof *ids);
    for (size_t i = 0; ids && i < s->cap_store; i++)
        if (s->store[i].part && s->store[i].id < id_end)
            ids[n++] = s->store[i].id;
    pthread_mutex_unlock(&s->mu);
    if (!ids)
        return RM_ENOMEM;
    int rc = 0;
    for (size_t k = 0; k < n && rc == 0; k++) { /* one output at a time: the lock stays short */
        struct stored c = {.id = ids[k]};
        pthread_mutex_lock(&s->mu);
        const struct stored *st = &s->store[rm__shuffle_slot_of(s, ids[k])];
        if (st->part && st->id == ids[k]) {
            c.n = st->n;
            c.part = calloc(st->n ? st->n : 1, sizeof *c.part);
            c.len = calloc(st->n ? st->n : 1, sizeof *c.len);
            rc = c.part && c.len ? 0 : RM_ENOMEM;
            for (uint32_t i = 0; rc == 0 && i < st->n; i++) {
                if (!(c.part[i] = malloc(st->len[i] ? st->len[i] : 1)))
                    rc = RM_ENOMEM;
                else
                    memcpy(c.part[i], st->part[i], st->len[i]);
                c.len[i] = st->len[i];
            }
        }
        pthread_mutex_unlock(&s->mu);
        if (rc == 0 && c.part)
            rc = fn(arg, c.id, c.n, c.part, c.len);
        rm__shuffle_free_stored(&c);
    }
    free(ids);
    return rc;
}

int rm_shuffle_import(struct rm_shuffle *s, uint64_t id, uint32_t n, unsigned char *const *parts,
                      const size_t *lens)
{
    if (!s || (n && (!parts || !lens)))
        return RM_EINVAL;
    struct stored st;
    int rc = new_stored(&st, id, n);
    uint64_t bytes = 0;
    for (uint32_t i = 0; rc == 0 && i < n; i++) {
        unsigned char *raw = NULL;
        size_t rlen = 0;
        rc = decode_part(parts[i], lens[i], &raw, &rlen); /* the checksum must hold */
        free(raw);
        if (rc == 0 && !(st.part[i] = malloc(lens[i])))
            rc = RM_ENOMEM;
        if (rc == 0) {
            memcpy(st.part[i], parts[i], lens[i]);
            st.len[i] = lens[i];
            bytes += lens[i];
        }
    }
    if (rc != 0) {
        rm__shuffle_free_stored(&st);
        return rc;
    }
    return rm__shuffle_insert_stored(s, &st, bytes);
}

/* Copies stored part `part` of task id (under mu). Returns 0, RM_ENOENT or RM_ENOMEM. */
static int copy_part(struct rm_shuffle *s, uint64_t id, uint32_t part, unsigned char **out,
                     size_t *len)
{
    if (s->cap_store == 0)
        return RM_ENOENT;
    const struct stored *st = &s->store[rm__shuffle_slot_of(s, id)];
    if (!st->part || part >= st->n)
        return RM_ENOENT;
    *out = malloc(st->len[part]);
    if (!*out)
        return RM_ENOMEM;
    memcpy(*out, st->part[part], st->len[part]);
    *len = st->len[part];
    return 0;
}

/* ---- control thread: serving and receiving -----------------------------------------------------
 */

static void on_fetch(struct rm_control *c, void *ctx, const struct rm_frame_header *h,
                     const void *payload)
{
    struct rm_shuffle *s = ctx;
    if (h->length != 20) {
        rm_warn("dropped a malformed fetch from rank %u", h->sender);
        return;
    }
    const unsigned char *p = payload;
    uint64_t req = rm_get_u64(p), id = rm_get_u64(p + 8);
    uint32_t part = rm_get_u32(p + 16);
    unsigned char *data = NULL;
    size_t len = 0;
    pthread_mutex_lock(&s->mu);
    int rc = copy_part(s, id, part, &data, &len);
    pthread_mutex_unlock(&s->mu);
    unsigned char *msg = malloc(12 + len);
    if (!msg) {
        free(data);
        return; /* the fetcher times out and the task is retried */
    }
    rm_put_u64(msg, req);
    rm_put_u32(msg + 8, (uint32_t)rc);
    if (len)
        memcpy(msg + 12, data, len);
    free(data);
    rc = rm_control_send(c, (int)h->sender, RM_MSG_DATA, msg, 12 + len);
    if (rc == 0) {
        pthread_mutex_lock(&s->mu);
        s->sent += len;
        pthread_mutex_unlock(&s->mu);
    }
    free(msg);
}

static void on_data(struct rm_control *c, void *ctx, const struct rm_frame_header *h,
                    const void *payload)
{
    struct rm_shuffle *s = ctx;
    (void)c;
    if (h->length < 12) {
        rm_warn("dropped a malformed data message from rank %u", h->sender);
        return;
    }
    const unsigned char *p = payload;
    uint64_t req = rm_get_u64(p);
    pthread_mutex_lock(&s->mu);
    for (struct request *r = s->pending; r; r = r->next) {
        if (r->req != req || r->holder != h->sender || r->done)
            continue;
        r->status = (int)rm_get_u32(p + 8);
        r->len = h->length - 12;
        if (r->status == 0) {
            r->data = malloc(r->len ? r->len : 1);
            if (r->data)
                memcpy(r->data, p + 12, r->len);
            else
                r->status = RM_ENOMEM;
            s->received += r->len;
        }
        r->done = true;
        pthread_cond_broadcast(&s->cv);
        break;
    }
    pthread_mutex_unlock(&s->mu);
}

/* Runs the callbacks of the asynchronous copies whose every request is done. Control thread,
 * without mu. */
void rm__shuffle_reap_groups(struct rm_shuffle *s)
{
    struct group *over = NULL;
    pthread_mutex_lock(&s->mu);
    for (struct group **pp = &s->groups; *pp;) {
        struct group *g = *pp;
        bool all = true;
        for (uint32_t i = 0; i < g->n; i++)
            all = all && g->r[i].done;
        if (!all) {
            pp = &g->next;
            continue;
        }
        *pp = g->next;
        for (uint32_t i = 0; i < g->n; i++)
            rm__shuffle_unlink_request(s, &g->r[i]); /* a no-op for one that never started */
        g->next = over;
        over = g;
    }
    pthread_mutex_unlock(&s->mu);
    while (over) {
        struct group *g = over;
        over = g->next;
        bool ok[RM_SHUFFLE_MAX_REPLICAS];
        size_t sent = 0;
        for (uint32_t i = 0; i < g->n; i++) {
            ok[i] = g->r[i].status == 0;
            sent += ok[i] ? g->bytes : 0;
        }
        pthread_mutex_lock(&s->mu);
        s->replicated += sent;
        pthread_mutex_unlock(&s->mu);
        rm_trace_count(RM_TRACE_REPLICATED, sent);
        rm_trace_event(RM_TRACE_REPLICATE, 0, g->n, g->id, sent, g->t0, rm_clock_monotonic_ns());
        g->done(g->arg, g->id, g->to, ok, g->n);
        free(g);
    }
}

static void on_death(struct rm_control *c, void *ctx, uint32_t rank, enum rm_death_cause cause)
{
    struct rm_shuffle *s = ctx;
    (void)c;
    (void)cause;
    pthread_mutex_lock(&s->mu);
    if ((int)rank < s->size)
        s->dead[rank] = true;
    for (struct request *r = s->pending; r; r = r->next)
        if (r->holder == rank && !r->done) {
            r->done = true;
            r->status = RM_EDEAD;
        }
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    rm__shuffle_reap_groups(s);
}

/* A request message (its first 8 bytes are the request number) on its way to a rank. */
struct send_req {
    struct rm_shuffle *s;
    uint32_t to, type;
    size_t len;
    unsigned char msg[];
};

static void send_req(struct rm_control *c, void *arg)
{
    struct send_req *f = arg;
    int rc = rm_control_send(c, (int)f->to, (uint8_t)f->type, f->msg, f->len);
    if (rc != 0) {
        struct rm_shuffle *s = f->s;
        uint64_t req = rm_get_u64(f->msg);
        pthread_mutex_lock(&s->mu);
        for (struct request *r = s->pending; r; r = r->next)
            if (r->req == req && !r->done) {
                r->done = true;
                r->status = rc;
            }
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
        rm__shuffle_reap_groups(s);
    }
    free(f);
}

/* ---- worker thread: fetching ------------------------------------------------------------------
 */

void rm__shuffle_unlink_request(struct rm_shuffle *s, struct request *r)
{
    for (struct request **pp = &s->pending; *pp; pp = &(*pp)->next)
        if (*pp == r) {
            *pp = r->next;
            return;
        }
}

/* Waits for r under mu until done or the deadline. */
void rm__shuffle_wait_request(struct rm_shuffle *s, struct request *r)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += (time_t)(s->timeout_ms / 1000);
    until.tv_nsec += (long)(s->timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    while (!r->done)
        if (pthread_cond_timedwait(&s->cv, &s->mu, &until) == ETIMEDOUT) {
            r->done = true;
            r->status = RM_EBUSY;
        }
}

/* Sends a request of `type` (payload msg, len bytes, its first 8 left for the request number)
 * to r->holder, another rank, and links r into the pending list. Returns 0 (r is then pending
 * until it is waited for and unlinked), or an error (r is not linked). */
int rm__shuffle_start_request(struct rm_shuffle *s, struct request *r, uint32_t type,
                              const unsigned char *msg, size_t len)
{
    struct send_req *f = malloc(sizeof *f + len);
    if (!f)
        return RM_ENOMEM;
    pthread_mutex_lock(&s->mu);
    if (s->dead[r->holder] || s->aborted) {
        int rc = s->aborted ? RM_ESHUTDOWN : RM_EDEAD;
        pthread_mutex_unlock(&s->mu);
        free(f);
        return rc;
    }
    r->req = ++s->next_req;
    r->next = s->pending;
    s->pending = r;
    pthread_mutex_unlock(&s->mu);
    f->s = s;
    f->to = r->holder;
    f->type = type;
    f->len = len;
    memcpy(f->msg, msg, len);
    rm_put_u64(f->msg, r->req);
    int rc = rm_control_call(s->ctl, send_req, f);
    if (rc != 0) {
        free(f);
        pthread_mutex_lock(&s->mu);
        rm__shuffle_unlink_request(s, r);
        pthread_mutex_unlock(&s->mu);
    }
    return rc;
}

/* Sends the FETCH of part `part` of task id's output for r. Same returns as
 * rm__shuffle_start_request. */
static int start_fetch(struct rm_shuffle *s, struct request *r, uint64_t id, uint32_t part)
{
    unsigned char msg[20];
    rm_put_u64(msg + 8, id);
    rm_put_u32(msg + 16, part);
    return rm__shuffle_start_request(s, r, RM_MSG_FETCH, msg, sizeof msg);
}

/* Waits for a started request, unlinks it and decodes its part into *buf. */
static int finish_request(struct rm_shuffle *s, struct request *r, unsigned char **buf, size_t *len)
{
    pthread_mutex_lock(&s->mu);
    rm__shuffle_wait_request(s, r);
    rm__shuffle_unlink_request(s, r);
    pthread_mutex_unlock(&s->mu);
    int rc = r->status;
    if (rc == 0)
        rc = decode_part(r->data, r->len, buf, len);
    free(r->data);
    r->data = NULL;
    return rc;
}

/* Drops a started request without waiting for it. */
static void drop_request(struct rm_shuffle *s, struct request *r)
{
    pthread_mutex_lock(&s->mu);
    rm__shuffle_unlink_request(s, r);
    pthread_mutex_unlock(&s->mu);
    free(r->data);
    r->data = NULL;
}

static int fetch_local(struct rm_shuffle *s, uint64_t id, uint32_t part, unsigned char **buf,
                       size_t *len)
{
    unsigned char *stored = NULL;
    size_t slen = 0;
    pthread_mutex_lock(&s->mu);
    int rc = copy_part(s, id, part, &stored, &slen);
    pthread_mutex_unlock(&s->mu);
    if (rc == 0)
        rc = decode_part(stored, slen, buf, len);
    free(stored);
    return rc;
}

int rm_shuffle_fetch(struct rm_shuffle *s, uint32_t holder, uint64_t id, uint32_t part,
                     unsigned char **buf, size_t *len)
{
    if (!s || !buf || !len || (int)holder >= s->size)
        return RM_EINVAL;
    if ((int)holder == rm_control_rank(s->ctl))
        return fetch_local(s, id, part, buf, len);
    struct request r = {.holder = holder};
    int rc = start_fetch(s, &r, id, part);
    return rc == 0 ? finish_request(s, &r, buf, len) : rc;
}

int rm_shuffle_fetch_all(struct rm_shuffle *s, size_t n, const uint32_t *holders,
                         const uint64_t *ids, uint32_t part,
                         int (*fn)(void *arg, size_t i, unsigned char *buf, size_t len), void *arg,
                         size_t *failed)
{
    if (!s || (n && (!holders || !ids || !fn)) || !failed)
        return RM_EINVAL;
    for (size_t i = 0; i < n; i++)
        if ((int)holders[i] >= s->size)
            return RM_EINVAL;
    size_t w = n < RM_SHUFFLE_WINDOW ? n : RM_SHUFFLE_WINDOW;
    struct request *win = calloc(w ? w : 1, sizeof *win);
    bool *started = calloc(w ? w : 1, sizeof *started);
    int me = rm_control_rank(s->ctl), rc = win && started ? 0 : RM_ENOMEM;
    size_t next = 0, i = 0; /* requests started up to next; delivered up to i */
    uint64_t t0 = rm_clock_monotonic_ns(), fetched = 0;
    for (; rc == 0 && i < n; i++) {
        for (; rc == 0 && next < n && next < i + w; next++) {
            if ((int)holders[next] == me)
                continue;
            struct request *r = &win[next % w];
            *r = (struct request){.holder = holders[next]};
            rc = start_fetch(s, r, ids[next], part);
            started[next % w] = rc == 0;
        }
        if (rc != 0) {
            i = next - 1; /* the request that could not start */
            break;
        }
        unsigned char *buf = NULL;
        size_t len = 0;
        if ((int)holders[i] == me) {
            rc = fetch_local(s, ids[i], part, &buf, &len);
        } else {
            rc = finish_request(s, &win[i % w], &buf, &len);
            started[i % w] = false;
            fetched += len;
        }
        if (rc == 0)
            rc = fn(arg, i, buf, len); /* fn owns buf */
        else
            free(buf);
        if (rc != 0)
            break;
    }
    *failed = i;
    rm_trace_count(RM_TRACE_SHUFFLED, fetched);
    rm_trace_event(RM_TRACE_SHUFFLE, 0, (uint32_t)i, 0, fetched, t0, rm_clock_monotonic_ns());
    for (size_t k = 0; win && started && k < w; k++)
        if (started[k])
            drop_request(s, &win[k]);
    free(win);
    free(started);
    return rc;
}

void rm_shuffle_abort(struct rm_shuffle *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->aborted = true;
    for (struct request *r = s->pending; r; r = r->next)
        if (!r->done) {
            r->done = true;
            r->status = RM_ESHUTDOWN;
        }
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    rm__shuffle_reap_groups(s);
}

void rm_shuffle_stats(struct rm_shuffle *s, uint64_t *held, uint64_t *sent, uint64_t *received)
{
    pthread_mutex_lock(&s->mu);
    *held = s->held;
    *sent = s->sent;
    *received = s->received;
    pthread_mutex_unlock(&s->mu);
}

/* ---- lifecycle ---------------------------------------------------------------------------------
 */

int rm_shuffle_create(struct rm_control *ctl, int level, uint32_t timeout_ms,
                      struct rm_shuffle **out)
{
    struct rm_shuffle *s = calloc(1, sizeof *s);
    if (!s)
        return RM_ENOMEM;
    s->ctl = ctl;
    s->level = level;
    s->timeout_ms = timeout_ms ? timeout_ms : 60000;
    s->size = rm_control_size(ctl);
    s->dead = calloc((size_t)s->size, sizeof *s->dead);
    if (!s->dead) {
        free(s);
        return RM_ENOMEM;
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    int rc = rm_control_on(ctl, RM_MSG_FETCH, on_fetch, s);
    if (rc == 0)
        rc = rm_control_on(ctl, RM_MSG_DATA, on_data, s);
    if (rc == 0)
        rc = rm_control_on(ctl, RM_MSG_REPLICA, rm__shuffle_on_replica, s);
    if (rc == 0)
        rc = rm_control_on(ctl, RM_MSG_REPLICA_ACK, rm__shuffle_on_replica_ack, s);
    if (rc == 0)
        rc = rm_control_on_death(ctl, on_death, s);
    if (rc != 0) {
        rm_shuffle_destroy(s);
        return rc;
    }
    *out = s;
    return 0;
}

void rm_shuffle_destroy(struct rm_shuffle *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->cap_store; i++)
        if (s->store[i].part)
            rm__shuffle_free_stored(&s->store[i]);
    free(s->store);
    while (s->groups) {
        struct group *g = s->groups;
        s->groups = g->next;
        free(g->arg);
        free(g);
    }
    free(s->dead);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}
