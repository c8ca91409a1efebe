/*
 * raft_log.c: the in-memory Raft log with compaction, and reference-counted payloads.
 *
 * The log holds entries base+1 .. base+n in one array. Compaction drops a prefix and remembers
 * the term of the new base, so that the term of the entry just before the first kept entry is
 * always known (AppendEntries needs it as prev_term).
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "ringmaster.h"
#include "runtime/raft_int.h"

/* Returns a new buffer holding a copy of data[0..len) with one reference, or NULL. */
struct rm_raft_buf *rm__raft_buf_new(const void *data, uint64_t len)
{
    struct rm_raft_buf *b = malloc(sizeof(*b) + (size_t)len);
    if (!b)
        return NULL;
    b->refs = 1;
    b->len = len;
    if (len)
        memcpy(b->data, data, (size_t)len);
    return b;
}

void rm__raft_buf_ref(struct rm_raft_buf *b)
{
    if (b)
        b->refs++;
}

void rm__raft_buf_unref(struct rm_raft_buf *b)
{
    if (b && --b->refs == 0)
        free(b);
}

/* Copies src into dst, sharing the payload buffer. src must own its payload (buf non-NULL or
 * len 0). This function can't fail. */
void rm__raft_entry_copy(struct rm_raft_entry *dst, const struct rm_raft_entry *src)
{
    *dst = *src;
    rm__raft_buf_ref(dst->buf);
}

void rm__raft_entry_release(struct rm_raft_entry *e)
{
    rm__raft_buf_unref(e->buf);
    e->buf = NULL;
    e->data = NULL;
}

void rm__raft_log_init(struct rm__raft_log *l)
{
    memset(l, 0, sizeof(*l));
}

void rm__raft_log_close(struct rm__raft_log *l)
{
    for (size_t i = 0; i < l->n; i++)
        rm__raft_entry_release(&l->ents[i]);
    free(l->ents);
    memset(l, 0, sizeof(*l));
}

uint64_t rm__raft_log_last(const struct rm__raft_log *l)
{
    return l->base + l->n;
}

uint64_t rm__raft_log_last_term(const struct rm__raft_log *l)
{
    return l->n ? l->ents[l->n - 1].term : l->base_term;
}

/* Stores the term of index in *term. Returns 0, or RM_ENOENT if index is compacted away or
 * beyond the end. */
int rm__raft_log_term(const struct rm__raft_log *l, uint64_t index, uint64_t *term)
{
    if (index == l->base) {
        *term = l->base_term;
        return 0;
    }
    if (index < l->base || index > rm__raft_log_last(l))
        return RM_ENOENT;
    *term = l->ents[index - l->base - 1].term;
    return 0;
}

/* Returns the entry at index (borrowed, valid until the log changes), or NULL. */
const struct rm_raft_entry *rm__raft_log_get(const struct rm__raft_log *l, uint64_t index)
{
    if (index <= l->base || index > rm__raft_log_last(l))
        return NULL;
    return &l->ents[index - l->base - 1];
}

/* Appends a copy of e (sharing e->buf, or copying the payload when e->buf is NULL). e->index
 * must be last+1. Returns 0 or RM_ENOMEM. */
int rm__raft_log_append(struct rm__raft_log *l, const struct rm_raft_entry *e)
{
    int rc = RM_ENOMEM;
    assert(e->index == rm__raft_log_last(l) + 1);
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        struct rm_raft_entry *v = realloc(l->ents, cap * sizeof(*v));
        if (!v)
            goto out;
        l->ents = v;
        l->cap = cap;
    }
    struct rm_raft_entry *dst = &l->ents[l->n];
    if (e->buf || e->len == 0) {
        rm__raft_entry_copy(dst, e);
    } else {
        *dst = *e;
        dst->buf = rm__raft_buf_new(e->data, e->len);
        if (!dst->buf)
            goto out;
        dst->data = dst->buf->data;
    }
    l->n++;
    rc = 0;
out:
    return rc;
}

/* Drops entries with index >= from. This function can't fail. */
void rm__raft_log_truncate(struct rm__raft_log *l, uint64_t from)
{
    assert(from > l->base);
    while (rm__raft_log_last(l) >= from) {
        l->n--;
        rm__raft_entry_release(&l->ents[l->n]);
    }
}

/* Drops entries with index <= upto (which must be within the log). This function can't fail. */
void rm__raft_log_compact(struct rm__raft_log *l, uint64_t upto)
{
    if (upto <= l->base)
        return;
    assert(upto <= rm__raft_log_last(l));
    size_t drop = (size_t)(upto - l->base);
    l->base_term = l->ents[drop - 1].term;
    for (size_t i = 0; i < drop; i++)
        rm__raft_entry_release(&l->ents[i]);
    memmove(l->ents, l->ents + drop, (l->n - drop) * sizeof(*l->ents));
    l->n -= drop;
    l->base = upto;
}

/* Empties the log and restarts it after (base, base_term), as after installing a snapshot. */
void rm__raft_log_reset(struct rm__raft_log *l, uint64_t base, uint64_t base_term)
{
    for (size_t i = 0; i < l->n; i++)
        rm__raft_entry_release(&l->ents[i]);
    l->n = 0;
    l->base = base;
    l->base_term = base_term;
}
