/* shmring.c: see shmring.h. */
#include "runtime/shmring.h"

#include <stdatomic.h>
#include <string.h>

#include "ringmaster.h"

#define HDR 8u
#define WRAP UINT32_MAX /* a header length saying "the next record starts at offset 0" */

_Static_assert(sizeof(_Atomic uint64_t) == 8 && ATOMIC_LLONG_LOCK_FREE == 2,
               "ring words must be lock-free 64-bit atomics to be shared between processes");

static _Atomic uint64_t *word(unsigned char *p)
{
    return (_Atomic uint64_t *)(void *)p;
}

static uint64_t padded(size_t len)
{
    return HDR + (((uint64_t)len + 7u) & ~(uint64_t)7u);
}

static uint32_t next_seq(uint32_t s)
{
    return s == UINT32_MAX ? 1u : s + 1u;
}

int rm_shmring_attach(struct rm_shmring *r, void *region, size_t cap)
{
    if ((cap & (cap - 1)) != 0 || cap < RM_SHMRING_MIN_CAP || ((uintptr_t)region % 8) != 0)
        return RM_EINVAL;
    *r = (struct rm_shmring){
        .ctl = region, .data = (unsigned char *)region + RM_SHMRING_CTL, .cap = cap, .seq = 1};
    return 0;
}

/* Publishes one header word at offset off. */
static void publish(struct rm_shmring *w, uint64_t off, uint32_t len)
{
    atomic_store_explicit(word(w->data + off), (uint64_t)w->seq << 32 | len, memory_order_release);
    w->seq = next_seq(w->seq);
}

int rm_shmring_write(struct rm_shmring *w, const void *data, size_t len)
{
    uint64_t need = padded(len);
    if (len >= WRAP || need > w->cap)
        return RM_EMSGSIZE;
    uint64_t off = (w->pos & (w->cap - 1));
    uint64_t skip = w->cap - off < need ? w->cap - off : 0;
    if (w->pos + skip + need - w->peer_pos > w->cap) {
        w->peer_pos = atomic_load_explicit(word(w->ctl), memory_order_acquire);
        if (w->pos + skip + need - w->peer_pos > w->cap)
            return RM_EBUSY;
    }
    if (skip) {
        publish(w, off, WRAP);
        w->pos += skip;
        off = 0;
    }
    if (len > 0)
        memcpy(w->data + off + HDR, data, len);
    publish(w, off, (uint32_t)len);
    w->pos += need;
    return 0;
}

/* Hands the bytes up to r->pos back to the writer. */
static void release_to(struct rm_shmring *r)
{
    atomic_store_explicit(word(r->ctl), r->pos, memory_order_release);
}

int rm_shmring_peek(struct rm_shmring *r, const void **data, size_t *len)
{
    for (;;) {
        uint64_t off = (r->pos & (r->cap - 1));
        uint64_t h = atomic_load_explicit(word(r->data + off), memory_order_acquire);
        if ((uint32_t)(h >> 32) != r->seq)
            return 0;
        uint32_t n = (uint32_t)h;
        if (n != WRAP) {
            if (padded(n) > r->cap - off)
                return RM_EPROTO;
            *data = r->data + off + HDR;
            *len = n;
            return 1;
        }
        memset(r->data + off, 0, r->cap - off); /* the skipped tail */
        r->pos += r->cap - off;
        r->seq = next_seq(r->seq);
        release_to(r);
    }
}

void rm_shmring_consume(struct rm_shmring *r, size_t len)
{
    uint64_t off = (r->pos & (r->cap - 1)), n = padded(len);
    memset(r->data + off, 0, n);
    r->pos += n;
    r->seq = next_seq(r->seq);
    release_to(r);
}
