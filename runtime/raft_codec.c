/*
 * raft_codec.c: the wire format of Raft messages and configurations.
 *
 * Little-endian, fixed-width integers. Every message starts with a 32-byte header:
 *   u16 magic 0x5246 | u8 version 1 | u8 type | u8 flags (1 prevote, 2 reject) | 3 zero bytes |
 *   u64 from | u64 to | u64 term
 * followed by a body that depends on the type:
 *   VOTE            u64 last_index, u64 last_term
 *   VOTE_RESP       (empty)
 *   APPEND          u64 prev_index, u64 prev_term, u64 commit, u32 n, then n times
 *                   { u64 term, u8 type, 3 zero bytes, u32 len, len bytes } (index implied)
 *   APPEND_RESP     u64 index, u64 hint_index, u64 hint_term
 *   HEARTBEAT       u64 commit, u64 prev_index (the leader's last index sent to this follower)
 *   HEARTBEAT_RESP  u64 index, u64 prev_index (echoed)
 *   SNAPSHOT        u64 index, u64 term, membership, u64 len, len bytes
 * A membership is u32 n_voters, u32 n_learners, then the voter and learner ids as u64.
 * The decoder checks every count against the bytes left before allocating, and rejects unknown
 * types, flags, padding and trailing bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "ringmaster.h"
#include "runtime/raft_int.h"

#define MAGIC 0x5246u
#define VERSION 1u
#define HEADER 32u
#define ENTRY_HEADER 16u
#define FLAG_PREVOTE 1u
#define FLAG_REJECT 2u

struct wr {
    uint8_t *p;
    size_t cap;
    size_t n;
};

struct rd {
    const uint8_t *p;
    size_t len;
    size_t off;
    bool bad;
};

static void put(struct wr *w, uint64_t v, unsigned bytes)
{
    for (unsigned i = 0; i < bytes; i++)
        w->p[w->n++] = (uint8_t)(v >> (8 * i));
}

static void put_bytes(struct wr *w, const void *src, size_t len)
{
    if (len)
        memcpy(w->p + w->n, src, len);
    w->n += len;
}

static uint64_t get(struct rd *r, unsigned bytes)
{
    uint64_t v = 0;
    if (r->bad || r->len - r->off < bytes) {
        r->bad = true;
        return 0;
    }
    for (unsigned i = 0; i < bytes; i++)
        v |= (uint64_t)r->p[r->off++] << (8 * i);
    return v;
}

static const uint8_t *get_bytes(struct rd *r, uint64_t len)
{
    const uint8_t *p = r->p + r->off;
    if (r->bad || r->len - r->off < len) {
        r->bad = true;
        return NULL;
    }
    r->off += (size_t)len;
    return p;
}

size_t rm_raft_membership_size(const struct rm_raft_membership *m)
{
    return 8 + 8 * ((size_t)m->n_voters + m->n_learners);
}

static void put_membership(struct wr *w, const struct rm_raft_membership *m)
{
    put(w, m->n_voters, 4);
    put(w, m->n_learners, 4);
    for (uint32_t i = 0; i < m->n_voters; i++)
        put(w, m->voters[i], 8);
    for (uint32_t i = 0; i < m->n_learners; i++)
        put(w, m->learners[i], 8);
}

static bool membership_ok(const struct rm_raft_membership *m)
{
    uint64_t all[RM__RAFT_MAX_MEMBERS];
    uint32_t n = 0;
    if (m->n_voters > RM_RAFT_MAX_VOTERS || m->n_learners > RM_RAFT_MAX_LEARNERS)
        return false;
    for (uint32_t i = 0; i < m->n_voters; i++)
        all[n++] = m->voters[i];
    for (uint32_t i = 0; i < m->n_learners; i++)
        all[n++] = m->learners[i];
    for (uint32_t i = 0; i < n; i++) {
        if (all[i] == 0)
            return false;
        for (uint32_t k = 0; k < i; k++)
            if (all[k] == all[i])
                return false;
    }
    return true;
}

static void get_membership(struct rd *r, struct rm_raft_membership *m)
{
    memset(m, 0, sizeof(*m));
    m->n_voters = (uint32_t)get(r, 4);
    m->n_learners = (uint32_t)get(r, 4);
    if (m->n_voters > RM_RAFT_MAX_VOTERS || m->n_learners > RM_RAFT_MAX_LEARNERS) {
        r->bad = true;
        return;
    }
    for (uint32_t i = 0; i < m->n_voters; i++)
        m->voters[i] = get(r, 8);
    for (uint32_t i = 0; i < m->n_learners; i++)
        m->learners[i] = get(r, 8);
    if (!r->bad && !membership_ok(m))
        r->bad = true;
}

int rm_raft_membership_encode(const struct rm_raft_membership *m, uint8_t *buf, size_t cap)
{
    struct wr w = {buf, cap, 0};
    if (m->n_voters > RM_RAFT_MAX_VOTERS || m->n_learners > RM_RAFT_MAX_LEARNERS)
        return RM_EINVAL;
    if (rm_raft_membership_size(m) > cap)
        return RM_EMSGSIZE;
    put_membership(&w, m);
    return (int)w.n;
}

int rm_raft_membership_decode(const uint8_t *buf, size_t len, struct rm_raft_membership *m)
{
    struct rd r = {buf, len, 0, false};
    if (!buf && len)
        return RM_EPROTO;
    get_membership(&r, m);
    return r.bad || r.off != len ? RM_EPROTO : 0;
}

static size_t body_size(const struct rm_raft_msg *m)
{
    size_t n = 0;
    switch (m->type) {
    case RM_RAFT_MSG_VOTE:
        return 16;
    case RM_RAFT_MSG_VOTE_RESP:
        return 0;
    case RM_RAFT_MSG_APPEND:
        n = 28;
        for (uint32_t i = 0; i < m->n_entries; i++)
            n += ENTRY_HEADER + m->entries[i].len;
        return n;
    case RM_RAFT_MSG_APPEND_RESP:
        return 24;
    case RM_RAFT_MSG_HEARTBEAT:
        return 16;
    case RM_RAFT_MSG_HEARTBEAT_RESP:
        return 16;
    case RM_RAFT_MSG_SNAPSHOT:
        return 24 + rm_raft_membership_size(&m->snap.conf) + m->snap_len;
    default:
        return 0;
    }
}

size_t rm_raft_msg_size(const struct rm_raft_msg *m)
{
    return HEADER + body_size(m);
}

static void put_body(struct wr *w, const struct rm_raft_msg *m)
{
    switch (m->type) {
    case RM_RAFT_MSG_VOTE:
        put(w, m->last_index, 8);
        put(w, m->last_term, 8);
        break;
    case RM_RAFT_MSG_APPEND:
        put(w, m->prev_index, 8);
        put(w, m->prev_term, 8);
        put(w, m->commit, 8);
        put(w, m->n_entries, 4);
        for (uint32_t i = 0; i < m->n_entries; i++) {
            put(w, m->entries[i].term, 8);
            put(w, m->entries[i].type, 4); /* u8 type + 3 zero bytes */
            put(w, m->entries[i].len, 4);
            put_bytes(w, m->entries[i].data, m->entries[i].len);
        }
        break;
    case RM_RAFT_MSG_APPEND_RESP:
        put(w, m->index, 8);
        put(w, m->hint_index, 8);
        put(w, m->hint_term, 8);
        break;
    case RM_RAFT_MSG_HEARTBEAT:
        put(w, m->commit, 8);
        put(w, m->prev_index, 8);
        break;
    case RM_RAFT_MSG_HEARTBEAT_RESP:
        put(w, m->index, 8);
        put(w, m->prev_index, 8);
        break;
    case RM_RAFT_MSG_SNAPSHOT:
        put(w, m->snap.index, 8);
        put(w, m->snap.term, 8);
        put_membership(w, &m->snap.conf);
        put(w, m->snap_len, 8);
        put_bytes(w, m->snap_data, (size_t)m->snap_len);
        break;
    default:
        break;
    }
}

static bool encodable(const struct rm_raft_msg *m)
{
    if (m->type < RM_RAFT_MSG_VOTE || m->type > RM_RAFT_MSG_SNAPSHOT)
        return false;
    if (m->type == RM_RAFT_MSG_APPEND) {
        if (m->n_entries && !m->entries)
            return false;
        for (uint32_t i = 0; i < m->n_entries; i++)
            if (m->entries[i].type > 255 || m->entries[i].len > RM_RAFT_MAX_ENTRY_BYTES ||
                (m->entries[i].len && !m->entries[i].data))
                return false;
    }
    if (m->type == RM_RAFT_MSG_SNAPSHOT &&
        (!membership_ok(&m->snap.conf) || (m->snap_len && !m->snap_data)))
        return false;
    return true;
}

int rm_raft_msg_encode(const struct rm_raft_msg *m, uint8_t *buf, size_t cap, size_t *len)
{
    struct wr w = {buf, cap, 0};
    unsigned flags = (m->prevote ? FLAG_PREVOTE : 0) | (m->reject ? FLAG_REJECT : 0);
    if (!encodable(m))
        return RM_EINVAL;
    if (rm_raft_msg_size(m) > cap)
        return RM_EMSGSIZE;
    put(&w, MAGIC, 2);
    put(&w, VERSION, 1);
    put(&w, m->type, 1);
    put(&w, flags, 4); /* flags byte + 3 zero bytes */
    put(&w, m->from, 8);
    put(&w, m->to, 8);
    put(&w, m->term, 8);
    put_body(&w, m);
    *len = w.n;
    return 0;
}

static unsigned allowed_flags(uint32_t type)
{
    switch (type) {
    case RM_RAFT_MSG_VOTE:
        return FLAG_PREVOTE;
    case RM_RAFT_MSG_VOTE_RESP:
        return FLAG_PREVOTE | FLAG_REJECT;
    case RM_RAFT_MSG_APPEND_RESP:
        return FLAG_REJECT;
    default:
        return 0;
    }
}

static int get_entries(struct rd *r, struct rm_raft_msg *m)
{
    uint64_t n = get(r, 4);
    if (r->bad || n > (r->len - r->off) / ENTRY_HEADER)
        return RM_EPROTO; /* more entries than bytes left could hold */
    m->n_entries = (uint32_t)n;
    if (n == 0)
        return 0;
    if (!(m->entries = calloc((size_t)n, sizeof(*m->entries))))
        return RM_ENOMEM;
    for (uint32_t i = 0; i < n && !r->bad; i++) {
        struct rm_raft_entry *e = &m->entries[i];
        e->index = m->prev_index + 1 + i;
        e->term = get(r, 8);
        e->type = (uint32_t)get(r, 4);
        e->len = (uint32_t)get(r, 4);
        if (e->type < RM_RAFT_ENTRY_NORMAL || e->type > RM_RAFT_ENTRY_CONFIG ||
            e->len > RM_RAFT_MAX_ENTRY_BYTES || e->index == 0)
            r->bad = true;
        else
            e->data = get_bytes(r, e->len);
    }
    return r->bad ? RM_EPROTO : 0;
}

static int get_body(struct rd *r, struct rm_raft_msg *m)
{
    switch (m->type) {
    case RM_RAFT_MSG_VOTE:
        m->last_index = get(r, 8);
        m->last_term = get(r, 8);
        return 0;
    case RM_RAFT_MSG_VOTE_RESP:
        return 0;
    case RM_RAFT_MSG_APPEND:
        m->prev_index = get(r, 8);
        m->prev_term = get(r, 8);
        m->commit = get(r, 8);
        if (m->prev_index > UINT64_MAX - UINT32_MAX)
            return RM_EPROTO;
        return get_entries(r, m);
    case RM_RAFT_MSG_APPEND_RESP:
        m->index = get(r, 8);
        m->hint_index = get(r, 8);
        m->hint_term = get(r, 8);
        return 0;
    case RM_RAFT_MSG_HEARTBEAT:
        m->commit = get(r, 8);
        m->prev_index = get(r, 8);
        return 0;
    case RM_RAFT_MSG_HEARTBEAT_RESP:
        m->index = get(r, 8);
        m->prev_index = get(r, 8);
        return 0;
    case RM_RAFT_MSG_SNAPSHOT:
        m->snap.index = get(r, 8);
        m->snap.term = get(r, 8);
        get_membership(r, &m->snap.conf);
        m->snap_len = get(r, 8);
        m->snap_data = get_bytes(r, m->snap_len);
        return 0;
    default:
        return RM_EPROTO;
    }
}

int rm_raft_msg_decode(const uint8_t *buf, size_t len, struct rm_raft_msg *m)
{
    int rc = RM_EPROTO;
    struct rd r = {buf, len, 0, false};
    memset(m, 0, sizeof(*m));
    if (!buf || len < HEADER)
        goto out;
    if (get(&r, 2) != MAGIC || get(&r, 1) != VERSION)
        goto out;
    m->type = (uint32_t)get(&r, 1);
    uint64_t flags = get(&r, 4); /* the three bytes after the flags must be zero */
    if (flags & ~(uint64_t)allowed_flags(m->type))
        goto out;
    m->prevote = (flags & FLAG_PREVOTE) != 0;
    m->reject = (flags & FLAG_REJECT) != 0;
    m->from = get(&r, 8);
    m->to = get(&r, 8);
    m->term = get(&r, 8);
    if ((rc = get_body(&r, m)) != 0)
        goto err_after_entries;
    rc = RM_EPROTO;
    if (r.bad || r.off != len || m->from == 0 || m->to == 0)
        goto err_after_entries;
    rc = 0;
    goto out;
err_after_entries:
    rm_raft_msg_close(m);
out:
    return rc;
}

void rm_raft_msg_close(struct rm_raft_msg *m)
{
    free(m->entries);
    m->entries = NULL;
    m->n_entries = 0;
}
