/*
 * raft_fixture.c: the simulated cluster: nodes and their durable storage, the network, and
 * the driver side of the Ready contract. The checkers live in raft_oracle.c.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ringmaster.h"
#include "tests/sim/raft_fixture.h"
#include "runtime/raft_int.h" /* fx_dump shows the leader's progress table */

uint64_t fx_rand(struct fx *fx)
{
    uint64_t z = (fx->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t fx_range(struct fx *fx, uint64_t lo, uint64_t hi)
{
    return lo + fx_rand(fx) % (hi - lo + 1);
}

int fx_fail(struct fx *fx, const char *fmt, ...)
{
    if (!fx->failed) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(fx->err, sizeof(fx->err), fmt, ap);
        va_end(ap);
        fx->failed = true;
        if (fx->verbose)
            fprintf(stderr, "%8llu FAIL %s\n", (unsigned long long)fx->now, fx->err);
    }
    return -1;
}

void fx_log(struct fx *fx, const char *fmt, ...)
{
    if (!fx->verbose)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%8llu ", (unsigned long long)fx->now);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* ---- storage --------------------------------------------------------------------------- */

static uint64_t store_last(const struct fx_store *st)
{
    return st->n ? st->ents[st->n - 1].index : st->snap.index;
}

static const struct fx_entry *store_get(const struct fx_store *st, uint64_t index)
{
    if (index <= st->snap.index || index > store_last(st))
        return NULL;
    return &st->ents[index - st->snap.index - 1];
}

static uint64_t store_chain(const struct fx_store *st, uint64_t index)
{
    const struct fx_entry *e = store_get(st, index);
    if (e)
        return e->chain;
    return index == st->snap.index ? st->snap_chain : 0;
}

static void store_truncate(struct fx_store *st, uint64_t from)
{
    while (st->n && st->ents[st->n - 1].index >= from)
        free(st->ents[--st->n].data);
}

static void store_compact(struct fx_store *st, uint64_t upto)
{
    size_t drop = 0;
    while (drop < st->n && st->ents[drop].index <= upto)
        free(st->ents[drop++].data);
    memmove(st->ents, st->ents + drop, (st->n - drop) * sizeof(*st->ents));
    st->n -= drop;
}

static void store_free(struct fx_store *st)
{
    store_truncate(st, 0);
    free(st->ents);
    memset(st, 0, sizeof(*st));
}

static void store_append(struct fx_store *st, const struct rm_raft_entry *e, uint64_t chain)
{
    st->ents = fx_grow(st->ents, &st->cap, st->n + 1, sizeof(*st->ents));
    struct fx_entry *d = &st->ents[st->n++];
    d->term = e->term;
    d->index = e->index;
    d->type = e->type;
    d->len = e->len;
    d->data = malloc(e->len ? e->len : 1);
    if (!d->data)
        abort();
    if (e->len)
        memcpy(d->data, e->data, e->len);
    d->chain = chain;
}

/* The application state is (index, chain); a snapshot is those 16 bytes. */
static void snap_encode(uint8_t out[16], uint64_t index, uint64_t chain)
{
    memcpy(out, &index, 8);
    memcpy(out + 8, &chain, 8);
}

static int snap_decode(struct fx *fx, const uint8_t *p, uint64_t len, uint64_t index,
                       uint64_t *chain)
{
    uint64_t i;
    if (len != 16)
        return fx_fail(fx, "snapshot of %llu bytes", (unsigned long long)len);
    memcpy(&i, p, 8);
    memcpy(chain, p + 8, 8);
    if (i != index)
        return fx_fail(fx, "snapshot data for %llu labelled %llu", (unsigned long long)i,
                       (unsigned long long)index);
    return 0;
}

/* ---- nodes ----------------------------------------------------------------------------- */

static struct fx_node *node(struct fx *fx, uint64_t id)
{
    return id >= 1 && id <= (uint64_t)fx->n_ids ? &fx->nodes[id] : NULL;
}

/* Like node(), but a bad id gives the empty slot 0 instead of NULL. */
static struct fx_node *node_at(struct fx *fx, uint64_t id)
{
    return id <= (uint64_t)fx->n_ids ? &fx->nodes[id] : &fx->nodes[0];
}

int fx_init(struct fx *fx, uint64_t seed, int n, int extra, const struct rm_raft_config *cfg)
{
    memset(fx, 0, sizeof(*fx));
    if (n < 1 || n + extra > FX_MAX_NODES)
        return RM_EINVAL;
    fx->rng = seed;
    fx->now = 1000;
    fx->n_ids = n + extra;
    fx->cfg = *cfg;
    fx->min_delay = 1;
    fx->max_delay = 5;
    fx_heal(fx);
    for (int i = 1; i <= fx->n_ids; i++)
        fx->nodes[i].id = (uint64_t)i;
    for (int i = 1; i <= n; i++) {
        struct rm_raft_membership *m = &fx->nodes[i].initial;
        m->n_voters = (uint32_t)n;
        for (int k = 0; k < n; k++)
            m->voters[k] = (uint64_t)k + 1;
    }
    return 0;
}

void fx_close(struct fx *fx)
{
    for (int i = 1; i <= fx->n_ids; i++) {
        rm_raft_destroy(fx->nodes[i].r);
        store_free(&fx->nodes[i].st);
    }
    for (size_t i = 0; i < fx->n_heap; i++)
        free(fx->heap[i].buf);
    free(fx->heap);
    free(fx->leader_of_term);
    free(fx->committed);
    free(fx->front);
    free(fx->oracle_keys);
    free(fx->oracle_vals);
}

static int node_boot(struct fx *fx, struct fx_node *nd)
{
    struct rm_raft_config cfg = fx->cfg;
    cfg.id = nd->id;
    cfg.seed = fx_rand(fx);
    int rc = rm_raft_create(&cfg, &nd->initial, &nd->r);
    if (rc != 0)
        return fx_fail(fx, "rm_raft_create(%llu): %s", (unsigned long long)nd->id, rm_strerror(rc));
    nd->up = true;
    nd->paused = false;
    nd->applied = 0;
    nd->app_chain = 0;
    nd->lead_term = 0;
    return 0;
}

int fx_start(struct fx *fx, uint64_t id, bool founding)
{
    struct fx_node *nd = node(fx, id);
    if (!nd || nd->exists)
        return fx_fail(fx, "fx_start(%llu): bad id", (unsigned long long)id);
    if (!founding)
        memset(&nd->initial, 0, sizeof(nd->initial));
    nd->exists = true;
    fx_log(fx, "start %llu%s", (unsigned long long)id, founding ? "" : " (joining)");
    return node_boot(fx, nd);
}

void fx_crash(struct fx *fx, uint64_t id)
{
    struct fx_node *nd = node(fx, id);
    if (!nd || !nd->up)
        return;
    fx_log(fx, "crash %llu", (unsigned long long)id);
    fx->n_crashes++;
    rm_raft_destroy(nd->r);
    nd->r = NULL;
    nd->up = false;
    nd->paused = false;
}

static int restore(struct fx *fx, struct fx_node *nd)
{
    struct fx_store *st = &nd->st;
    struct rm_raft_entry *ents = calloc(st->n + 1, sizeof(*ents));
    uint8_t sd[16];
    int rc;
    if (!ents)
        abort();
    for (size_t i = 0; i < st->n; i++) {
        ents[i].term = st->ents[i].term;
        ents[i].index = st->ents[i].index;
        ents[i].type = st->ents[i].type;
        ents[i].len = st->ents[i].len;
        ents[i].data = st->ents[i].data;
    }
    snap_encode(sd, st->snap.index, st->snap_chain);
    rc = rm_raft_restore(nd->r, &st->hs, st->has_snap ? &st->snap : NULL, sd, 16, ents, st->n);
    free(ents);
    if (rc != 0)
        return fx_fail(fx, "rm_raft_restore(%llu): %s", (unsigned long long)nd->id,
                       rm_strerror(rc));
    nd->applied = st->snap.index;
    nd->app_chain = st->snap_chain;
    return 0;
}

int fx_restart(struct fx *fx, uint64_t id)
{
    struct fx_node *nd = node(fx, id);
    if (!nd || !nd->exists || nd->up)
        return 0;
    nd->restarts++;
    fx_log(fx, "restart %llu", (unsigned long long)id);
    if (node_boot(fx, nd) != 0)
        return -1;
    return restore(fx, nd);
}

void fx_pause(struct fx *fx, uint64_t id, uint64_t until)
{
    struct fx_node *nd = node(fx, id);
    if (!nd || !nd->up)
        return;
    fx_log(fx, "pause %llu until %llu", (unsigned long long)id, (unsigned long long)until);
    nd->paused = true;
    nd->resume_at = until;
}

void fx_heal(struct fx *fx)
{
    for (int a = 0; a <= FX_MAX_NODES; a++)
        for (int b = 0; b <= FX_MAX_NODES; b++)
            fx->link[a][b] = true;
}

void fx_cut(struct fx *fx, uint64_t from, uint64_t to)
{
    if (from <= FX_MAX_NODES && to <= FX_MAX_NODES)
        fx->link[from][to] = false;
}

void fx_isolate(struct fx *fx, uint64_t id)
{
    for (uint64_t k = 1; k <= FX_MAX_NODES; k++) {
        fx_cut(fx, id, k);
        fx_cut(fx, k, id);
    }
}

/* ---- network --------------------------------------------------------------------------- */

static bool heap_less(const struct fx_msg *a, const struct fx_msg *b)
{
    return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

static void heap_push(struct fx *fx, struct fx_msg m)
{
    fx->heap = fx_grow(fx->heap, &fx->cap_heap, fx->n_heap + 1, sizeof(*fx->heap));
    size_t i = fx->n_heap++;
    m.seq = fx->seq++;
    while (i > 0 && heap_less(&m, &fx->heap[(i - 1) / 2])) {
        fx->heap[i] = fx->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    fx->heap[i] = m;
}

static struct fx_msg heap_pop(struct fx *fx)
{
    struct fx_msg top = fx->heap[0], last = fx->heap[--fx->n_heap];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= fx->n_heap)
            break;
        if (c + 1 < fx->n_heap && heap_less(&fx->heap[c + 1], &fx->heap[c]))
            c++;
        if (!heap_less(&fx->heap[c], &last))
            break;
        fx->heap[i] = fx->heap[c];
        i = c;
    }
    if (fx->n_heap)
        fx->heap[i] = last;
    return top;
}

static void net_send(struct fx *fx, const struct rm_raft_msg *m)
{
    size_t len = rm_raft_msg_size(m), out;
    int copies = 1;
    if (fx_range(fx, 1, 100) <= fx->drop_pct)
        return;
    if (fx_range(fx, 1, 100) <= fx->dup_pct)
        copies = 2;
    for (int c = 0; c < copies; c++) {
        struct fx_msg fm = {0};
        fm.buf = malloc(len);
        if (!fm.buf)
            abort();
        if (rm_raft_msg_encode(m, fm.buf, len, &out) != 0 || out != len) {
            free(fm.buf);
            fx_fail(fx, "encode failed for type %u", m->type);
            return;
        }
        fm.len = len;
        fm.from = m->from;
        fm.to = m->to;
        fm.at = fx->now + fx_range(fx, fx->min_delay, fx->max_delay);
        heap_push(fx, fm);
    }
}

/* ---- Ready processing ------------------------------------------------------------------ */

static int persist_snapshot(struct fx *fx, struct fx_node *nd, const struct rm_raft_ready *rd)
{
    struct fx_store *st = &nd->st;
    uint64_t ch = 0;
    if (!rd->snapshot)
        return 0;
    if (snap_decode(fx, rd->snap_data, rd->snap_len, rd->snapshot->index, &ch) != 0)
        return -1;
    store_truncate(st, 0);
    st->has_snap = true;
    st->snap = *rd->snapshot;
    st->snap_chain = ch;
    fx->n_snap_installs++;
    fx_log(fx, "node %llu installs snapshot %llu", (unsigned long long)nd->id,
           (unsigned long long)st->snap.index);
    return fx_check_matching(fx, nd->id, st->snap.index, st->snap.term, ch);
}

static int persist_entries(struct fx *fx, struct fx_node *nd, const struct rm_raft_ready *rd)
{
    struct fx_store *st = &nd->st;
    if (rd->n_entries == 0)
        return 0;
    uint64_t first = rd->entries[0].index;
    if (first > store_last(st) + 1 || first <= st->snap.index)
        return fx_fail(fx, "node %llu persists entries from %llu after %llu",
                       (unsigned long long)nd->id, (unsigned long long)first,
                       (unsigned long long)store_last(st));
    if (rd->role == RM_RAFT_LEADER && nd->lead_term == rd->hs.term && first <= store_last(st))
        return fx_fail(fx, "leader append-only: node %llu overwrites %llu in term %llu",
                       (unsigned long long)nd->id, (unsigned long long)first,
                       (unsigned long long)nd->lead_term);
    fx_log(fx, "node %llu persists %llu..%llu (term %llu..%llu) over last %llu",
           (unsigned long long)nd->id, (unsigned long long)first,
           (unsigned long long)rd->entries[rd->n_entries - 1].index,
           (unsigned long long)rd->entries[0].term,
           (unsigned long long)rd->entries[rd->n_entries - 1].term,
           (unsigned long long)store_last(st));
    store_truncate(st, first);
    for (size_t i = 0; i < rd->n_entries; i++) {
        const struct rm_raft_entry *e = &rd->entries[i];
        uint64_t ch = fx_chain_of(store_chain(st, e->index - 1), e);
        store_append(st, e, ch);
        if (fx_check_matching(fx, nd->id, e->index, e->term, ch) != 0)
            return -1;
    }
    return 0;
}

static int persist_hs(struct fx *fx, struct fx_node *nd, const struct rm_raft_ready *rd)
{
    struct fx_store *st = &nd->st;
    if (!rd->hs_changed)
        return 0;
    if (rd->hs.term < st->hs.term)
        return fx_fail(fx, "node %llu term went back", (unsigned long long)nd->id);
    if (rd->hs.commit > store_last(st))
        return fx_fail(fx, "node %llu commit %llu beyond its durable log %llu",
                       (unsigned long long)nd->id, (unsigned long long)rd->hs.commit,
                       (unsigned long long)store_last(st));
    for (uint64_t i = st->hs.commit + 1; i <= rd->hs.commit; i++) {
        uint64_t ch = store_chain(st, i);
        if (!ch)
            continue;
        if (fx_check_committed(fx, nd->id, i, ch, rd->hs.term) != 0)
            return -1;
        fx_note_commit_term(fx, i, rd->hs.term);
    }
    st->hs = rd->hs;
    return 0;
}

static int apply(struct fx *fx, struct fx_node *nd, const struct rm_raft_ready *rd)
{
    if (rd->snapshot) {
        nd->applied = nd->st.snap.index;
        nd->app_chain = nd->st.snap_chain;
    }
    for (size_t i = 0; i < rd->n_committed; i++) {
        const struct rm_raft_entry *e = &rd->committed[i];
        if (e->index != nd->applied + 1)
            return fx_fail(fx, "node %llu applies %llu after %llu", (unsigned long long)nd->id,
                           (unsigned long long)e->index, (unsigned long long)nd->applied);
        nd->app_chain = fx_chain_of(nd->app_chain, e);
        nd->applied = e->index;
        fx->applied_total++;
        fx->n_conf_applied += e->type == RM_RAFT_ENTRY_CONFIG;
        if (fx_check_committed(fx, nd->id, e->index, nd->app_chain, rd->hs.term) != 0)
            return -1;
    }
    return 0;
}

static int maybe_snapshot(struct fx *fx, struct fx_node *nd)
{
    struct rm_raft_snapshot_meta meta;
    uint8_t sd[16];
    if (!nd->snap_every || nd->applied < nd->st.snap.index + nd->snap_every)
        return 0;
    snap_encode(sd, nd->applied, nd->app_chain);
    int rc = rm_raft_snapshot(nd->r, nd->applied, sd, 16, &meta);
    if (rc != 0)
        return fx_fail(fx, "rm_raft_snapshot(%llu, %llu): %s", (unsigned long long)nd->id,
                       (unsigned long long)nd->applied, rm_strerror(rc));
    if (store_chain(&nd->st, meta.index) != nd->app_chain)
        return fx_fail(fx, "node %llu applied state differs from its log at %llu",
                       (unsigned long long)nd->id, (unsigned long long)meta.index);
    store_compact(&nd->st, meta.index);
    nd->st.has_snap = true;
    nd->st.snap = meta;
    nd->st.snap_chain = nd->app_chain;
    fx->n_snapshots++;
    return 0;
}

static int process_one(struct fx *fx, struct fx_node *nd)
{
    struct rm_raft_ready rd;
    int rc = rm_raft_ready(nd->r, &rd);
    if (rc != 0)
        return fx_fail(fx, "rm_raft_ready(%llu): %s", (unsigned long long)nd->id, rm_strerror(rc));
    if (rd.soft_changed)
        fx_log(fx, "node %llu role %u leader %llu term %llu", (unsigned long long)nd->id, rd.role,
               (unsigned long long)rd.leader, (unsigned long long)rd.hs.term);
    if (persist_snapshot(fx, nd, &rd) || persist_entries(fx, nd, &rd) || persist_hs(fx, nd, &rd))
        return -1;
    if (fx->crash_permille && fx_range(fx, 1, 1000) <= fx->crash_permille) {
        fx_log(fx, "node %llu crashes after persisting, before sending",
               (unsigned long long)nd->id);
        fx_crash(fx, nd->id); /* the Ready dies with the node */
        return 0;
    }
    for (size_t i = 0; i < rd.n_msgs; i++)
        net_send(fx, &rd.msgs[i]);
    if (apply(fx, nd, &rd) != 0)
        return -1;
    if (rd.role == RM_RAFT_LEADER && nd->lead_term != rd.hs.term)
        fx->n_leaders++;
    if (rd.role == RM_RAFT_LEADER)
        nd->lead_term = rd.hs.term;
    if ((rc = rm_raft_advance(nd->r, &rd)) != 0)
        return fx_fail(fx, "rm_raft_advance: %s", rm_strerror(rc));
    return maybe_snapshot(fx, nd);
}

int fx_process(struct fx *fx, uint64_t id)
{
    struct fx_node *nd = node(fx, id);
    for (int guard = 0; nd && nd->up && rm_raft_has_ready(nd->r); guard++) {
        if (guard > 1000)
            return fx_fail(fx, "node %llu never runs out of Ready", (unsigned long long)id);
        if (process_one(fx, nd) != 0)
            return -1;
    }
    return fx->failed ? -1 : 0;
}

static int deliver(struct fx *fx, struct fx_msg *m)
{
    struct fx_node *nd = node(fx, m->to);
    struct rm_raft_msg msg;
    int rc = 0;
    if (!nd || !nd->up || !fx->link[m->from][m->to])
        goto out;
    if (nd->paused && fx->now >= nd->resume_at)
        nd->paused = false;
    if (nd->paused) {
        struct fx_msg again = *m;
        again.at = nd->resume_at + 1;
        heap_push(fx, again);
        return 0; /* buffer kept */
    }
    if ((rc = rm_raft_msg_decode(m->buf, m->len, &msg)) != 0) {
        rc = fx_fail(fx, "decode failed: %s", rm_strerror(rc));
        goto out;
    }
    rc = rm_raft_step(nd->r, &msg);
    rm_raft_msg_close(&msg);
    if (rc != 0 && rc != RM_EINVAL) {
        rc = fx_fail(fx, "rm_raft_step(%llu): %s", (unsigned long long)m->to, rm_strerror(rc));
        goto out;
    }
    if (rc == RM_EINVAL) {
        rc = fx_fail(fx, "node %llu rejected a message of type %u as invalid",
                     (unsigned long long)m->to, msg.type);
        goto out;
    }
    rc = fx_process(fx, m->to);
    if (rc == 0)
        rc = fx_check(fx);
out:
    free(m->buf);
    return rc;
}

int fx_deliver_one(struct fx *fx)
{
    if (fx->n_heap == 0)
        return 0;
    struct fx_msg m = heap_pop(fx);
    if (m.at > fx->now)
        fx->now = m.at;
    return deliver(fx, &m) == 0 ? 1 : -1;
}

int fx_deliver_due(struct fx *fx)
{
    while (fx->n_heap && fx->heap[0].at <= fx->now && !fx->failed) {
        struct fx_msg m = heap_pop(fx);
        if (deliver(fx, &m) != 0)
            return -1;
    }
    return fx->failed ? -1 : 0;
}

int fx_tick_all(struct fx *fx)
{
    for (int i = 1; i <= fx->n_ids && !fx->failed; i++) {
        struct fx_node *nd = &fx->nodes[i];
        if (!nd->up)
            continue;
        if (nd->paused && fx->now >= nd->resume_at) {
            nd->paused = false;
            fx_log(fx, "resume %d", i);
        }
        if (nd->paused)
            continue;
        int rc = rm_raft_tick(nd->r, fx->now);
        if (rc != 0)
            return fx_fail(fx, "rm_raft_tick(%d): %s", i, rm_strerror(rc));
        if (fx_process(fx, (uint64_t)i) != 0)
            return -1;
    }
    return fx_check(fx);
}

int fx_run(struct fx *fx, uint64_t ms)
{
    for (uint64_t t = 0; t < ms && !fx->failed; t++) {
        fx->now++;
        if (fx_deliver_due(fx) != 0 || fx_tick_all(fx) != 0)
            return -1;
    }
    return fx->failed ? -1 : 0;
}

uint64_t fx_leader(struct fx *fx)
{
    uint64_t best = 0, best_term = 0;
    for (int i = 1; i <= fx->n_ids; i++) {
        struct fx_node *nd = &fx->nodes[i];
        uint64_t term;
        if (!nd->up || nd->paused)
            continue;
        if (rm_raft_role(nd->r, &term) == RM_RAFT_LEADER && term >= best_term) {
            best = nd->id;
            best_term = term;
        }
    }
    return best;
}

int fx_propose(struct fx *fx, uint64_t id, uint64_t value, uint64_t *index)
{
    struct fx_node *nd = node(fx, id);
    uint8_t buf[8];
    if (!nd || !nd->up || nd->paused)
        return RM_EINVAL;
    memcpy(buf, &value, 8);
    int rc = rm_raft_propose(nd->r, buf, 8, index);
    if (rc == 0) {
        fx->proposals++;
        fx_process(fx, id);
    }
    return rc;
}

int fx_preload(struct fx *fx, uint64_t id, const uint64_t *terms, size_t n, uint64_t term)
{
    struct fx_node *nd = node(fx, id);
    if (!nd || nd->exists)
        return fx_fail(fx, "fx_preload(%llu): bad id", (unsigned long long)id);
    nd->exists = true;
    for (size_t i = 0; i < n; i++) {
        uint64_t payload = ((i + 1) << 16) | terms[i];
        struct rm_raft_entry e = {terms[i], i + 1, RM_RAFT_ENTRY_NORMAL, 8, NULL, NULL};
        e.data = (const uint8_t *)&payload;
        uint64_t ch = fx_chain_of(store_chain(&nd->st, i), &e);
        store_append(&nd->st, &e, ch);
        if (fx_check_matching(fx, id, i + 1, terms[i], ch) != 0)
            return -1;
    }
    nd->st.hs.term = term;
    return fx_restart(fx, id);
}

uint64_t fx_store_last(struct fx *fx, uint64_t id, uint64_t *term, uint64_t *chain)
{
    struct fx_node *nd = node_at(fx, id);
    uint64_t last = store_last(&nd->st);
    const struct fx_entry *e = store_get(&nd->st, last);
    if (term)
        *term = e ? e->term : nd->st.snap.term;
    if (chain)
        *chain = store_chain(&nd->st, last);
    return last;
}

uint64_t fx_store_term(struct fx *fx, uint64_t id, uint64_t index)
{
    const struct fx_entry *e = store_get(&node_at(fx, id)->st, index);
    return e ? e->term : 0;
}

uint64_t fx_store_chain(struct fx *fx, uint64_t id, uint64_t index)
{
    return store_chain(&node_at(fx, id)->st, index);
}

void fx_dump(struct fx *fx)
{
    for (int i = 1; i <= fx->n_ids; i++) {
        struct fx_node *nd = &fx->nodes[i];
        struct rm_raft_status s;
        if (!nd->up) {
            fprintf(stderr, "  node %d: %s\n", i, nd->exists ? "down" : "-");
            continue;
        }
        rm_raft_status(nd->r, &s);
        fprintf(stderr,
                "  node %d: role %u term %llu leader %llu commit %llu applied %llu last %llu/%llu "
                "snap %llu conf@%llu voters",
                i, s.role, (unsigned long long)s.term, (unsigned long long)s.leader,
                (unsigned long long)s.commit, (unsigned long long)s.applied,
                (unsigned long long)s.last_index, (unsigned long long)s.last_term,
                (unsigned long long)s.snapshot_index, (unsigned long long)s.conf_index);
        for (uint32_t k = 0; k < s.conf.n_voters; k++)
            fprintf(stderr, " %llu", (unsigned long long)s.conf.voters[k]);
        fprintf(stderr, " learners");
        for (uint32_t k = 0; k < s.conf.n_learners; k++)
            fprintf(stderr, " %llu", (unsigned long long)s.conf.learners[k]);
        fputc('\n', stderr);
        for (uint32_t k = 0; s.role == RM_RAFT_LEADER && k < nd->r->n_prs; k++) {
            const struct rm__raft_progress *pr = &nd->r->prs[k];
            fprintf(stderr, "    progress %llu: state %d match %llu next %llu paused %d infl %u\n",
                    (unsigned long long)pr->id, pr->state, (unsigned long long)pr->match,
                    (unsigned long long)pr->next, pr->paused, pr->infl_count);
        }
    }
}
