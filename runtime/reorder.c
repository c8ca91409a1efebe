/* reorder.c: see reorder.h. */
#include "runtime/reorder.h"

#include <stdlib.h>
#include <string.h>

#include "ringmaster.h"

struct stashed {
    struct stashed *next;
    uint64_t seq;
    uint32_t flags;
    size_t len;
    unsigned char data[];
};

struct peer {
    uint64_t expect;        /* next seq to deliver */
    struct stashed *stash;  /* early batches, sorted by seq */
    uint32_t n_stash;
    unsigned char *joined;  /* fragments of one frame, joined */
    size_t joined_len, joined_cap;
};

struct rm_reorder {
    int peers;
    size_t max_payload;
    size_t max_frame; /* header + max_payload */
    struct peer *p;
};

int rm_reorder_create(int peers, size_t max_payload, struct rm_reorder **out)
{
    struct rm_reorder *r = calloc(1, sizeof *r);
    if (!r)
        return RM_ENOMEM;
    r->p = calloc((size_t)peers, sizeof *r->p);
    if (!r->p) {
        free(r);
        return RM_ENOMEM;
    }
    r->peers = peers;
    r->max_payload = max_payload;
    r->max_frame = RM_FRAME_HEADER_SIZE + max_payload;
    for (int i = 0; i < peers; i++)
        r->p[i].expect = 1;
    *out = r;
    return 0;
}

void rm_reorder_forget(struct rm_reorder *r, int source)
{
    if (source < 0 || source >= r->peers)
        return;
    struct peer *p = &r->p[source];
    while (p->stash) {
        struct stashed *s = p->stash;
        p->stash = s->next;
        free(s);
    }
    p->n_stash = 0;
    free(p->joined);
    p->joined = NULL;
    p->joined_len = p->joined_cap = 0;
}

void rm_reorder_destroy(struct rm_reorder *r)
{
    if (!r)
        return;
    for (int i = 0; i < r->peers; i++)
        rm_reorder_forget(r, i);
    free(r->p);
    free(r);
}

void rm_batch_header_write(unsigned char *p, uint32_t sender, uint64_t seq, uint32_t flags)
{
    rm_put_u32(p, RM_BATCH_MAGIC);
    rm_put_u32(p + 4, sender);
    rm_put_u64(p + 8, seq);
    rm_put_u32(p + 16, flags);
    rm_put_u32(p + 20, 0);
}

/* Appends a fragment; returns 0, RM_EMSGSIZE (frame too large) or RM_ENOMEM. */
static int join(struct rm_reorder *r, struct peer *p, const unsigned char *d, size_t len)
{
    if (p->joined_len + len > r->max_frame)
        return RM_EMSGSIZE;
    if (p->joined_len + len > p->joined_cap) {
        size_t cap = p->joined_cap ? p->joined_cap : 64 << 10;
        while (cap < p->joined_len + len)
            cap *= 2;
        unsigned char *n = realloc(p->joined, cap);
        if (!n)
            return RM_ENOMEM;
        p->joined = n;
        p->joined_cap = cap;
    }
    memcpy(p->joined + p->joined_len, d, len);
    p->joined_len += len;
    return 0;
}

/* Delivers one in-order batch body (frames, or a fragment of one). */
static int process(struct rm_reorder *r, struct rm_transport_stats *st, int src,
                   const unsigned char *d, size_t len, uint32_t flags, rm_frame_fn fn, void *ctx)
{
    struct peer *p = &r->p[src];
    if (!(flags & RM_BATCH_MORE) && p->joined_len == 0)
        return rm__transport_deliver(st, src, d, len, r->max_payload, fn, ctx);
    int rc = join(r, p, d, len);
    if (rc != 0) {
        st->malformed++;
        p->joined_len = 0;
        return rc == RM_ENOMEM ? rc : 0;
    }
    if (flags & RM_BATCH_MORE)
        return 0;
    int n = rm__transport_deliver(st, src, p->joined, p->joined_len, r->max_payload, fn, ctx);
    p->joined_len = 0;
    return n;
}

static int stash(struct peer *p, uint64_t seq, uint32_t flags, const unsigned char *d,
                 size_t len)
{
    struct stashed *s = malloc(sizeof *s + len);
    if (!s)
        return RM_ENOMEM;
    s->seq = seq;
    s->flags = flags;
    s->len = len;
    memcpy(s->data, d, len);
    struct stashed **at = &p->stash;
    while (*at && (*at)->seq < seq)
        at = &(*at)->next;
    s->next = *at;
    *at = s;
    p->n_stash++;
    return 0;
}

int rm_reorder_accept(struct rm_reorder *r, struct rm_transport_stats *st, int src,
                      const void *buf, size_t len, rm_frame_fn fn, void *ctx)
{
    const unsigned char *b = buf;
    if (src < 0 || src >= r->peers || len < RM_BATCH_HEADER_SIZE ||
        rm_get_u32(b) != RM_BATCH_MAGIC || rm_get_u32(b + 4) != (uint32_t)src) {
        st->malformed++;
        return 0;
    }
    struct peer *p = &r->p[src];
    uint64_t seq = rm_get_u64(b + 8);
    uint32_t flags = rm_get_u32(b + 16);
    const unsigned char *d = b + RM_BATCH_HEADER_SIZE;
    size_t dlen = len - RM_BATCH_HEADER_SIZE;
    if (seq < p->expect || (seq > p->expect && p->n_stash >= RM_REORDER_MAX_STASH)) {
        st->malformed++; /* a replay, or a gap that will never close */
        return 0;
    }
    if (seq > p->expect)
        return stash(p, seq, flags, d, dlen);
    int total = process(r, st, src, d, dlen, flags, fn, ctx);
    for (p->expect++; total >= 0 && p->stash && p->stash->seq == p->expect; p->expect++) {
        struct stashed *s = p->stash;
        p->stash = s->next;
        p->n_stash--;
        int n = process(r, st, src, s->data, s->len, s->flags, fn, ctx);
        total = n < 0 ? n : total + n;
        free(s);
    }
    return total;
}
