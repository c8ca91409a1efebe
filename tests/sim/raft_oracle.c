/*
 * raft_oracle.c: the simulator's safety checkers.
 *
 *  - election safety: at most one leader per term (leader_of_term);
 *  - leader append-only: checked where entries are persisted (raft_fixture.c);
 *  - log matching: every persisted entry carries the hash of its whole log prefix (chain); the
 *    oracle maps (index, term) -> chain, so two logs with the same (index, term) must agree on
 *    everything before it;
 *  - state-machine safety: every applied entry, and every commit index a node persists, is
 *    compared with the chain recorded for that index (committed[]);
 *  - leader completeness: a leader of term T holds every entry known committed in a term < T.
 */
#include <stdlib.h>
#include <string.h>

#include "ringmaster.h"
#include "tests/sim/raft_fixture.h"

static uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    h *= 0xff51afd7ed558ccdULL;
    return h ^ (h >> 33);
}

uint64_t fx_chain_of(uint64_t prev, const struct rm_raft_entry *e)
{
    uint64_t h = mix(mix(prev, e->term), e->type);
    for (uint32_t i = 0; i < e->len; i++)
        h = mix(h, e->data[i]);
    return mix(h, e->len) | 1; /* never 0: 0 means "unknown" */
}

void *fx_grow(void *p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return p;
    size_t ncap = *cap ? *cap : 64;
    while (ncap < need)
        ncap *= 2;
    uint8_t *q = realloc(p, ncap * elem);
    if (!q)
        abort(); /* a test program: out of memory is fatal */
    memset(q + *cap * elem, 0, (ncap - *cap) * elem);
    *cap = ncap;
    return q;
}

/* ---- oracle ---------------------------------------------------------------------------- */

static void oracle_put(struct fx *fx, uint64_t key, uint64_t val);

static void oracle_rehash(struct fx *fx)
{
    uint64_t *keys = fx->oracle_keys, *vals = fx->oracle_vals;
    size_t cap = fx->oracle_cap;
    fx->oracle_cap = cap ? cap * 2 : 4096;
    fx->oracle_keys = calloc(fx->oracle_cap, sizeof(uint64_t));
    fx->oracle_vals = calloc(fx->oracle_cap, sizeof(uint64_t));
    if (!fx->oracle_keys || !fx->oracle_vals)
        abort();
    fx->oracle_n = 0;
    for (size_t i = 0; i < cap; i++)
        if (keys[i])
            oracle_put(fx, keys[i], vals[i]);
    free(keys);
    free(vals);
}

static uint64_t *oracle_slot(struct fx *fx, uint64_t key)
{
    size_t i = (size_t)(mix(0, key) & (fx->oracle_cap - 1));
    while (fx->oracle_keys[i] && fx->oracle_keys[i] != key)
        i = (i + 1) & (fx->oracle_cap - 1);
    return &fx->oracle_keys[i];
}

static void oracle_put(struct fx *fx, uint64_t key, uint64_t val)
{
    if ((fx->oracle_n + 1) * 2 > fx->oracle_cap)
        oracle_rehash(fx);
    uint64_t *k = oracle_slot(fx, key);
    if (!*k)
        fx->oracle_n++;
    *k = key;
    fx->oracle_vals[k - fx->oracle_keys] = val;
}

/* Log matching: (index, term) must always come with the same prefix hash. */
int fx_check_matching(struct fx *fx, uint64_t id, uint64_t index, uint64_t term, uint64_t ch)
{
    uint64_t key = ((index << 24) | (term & 0xffffff)) + 1; /* injective for sim sizes */
    if (fx->oracle_cap == 0)
        oracle_rehash(fx);
    uint64_t *k = oracle_slot(fx, key);
    if (!*k) {
        oracle_put(fx, key, ch);
        return 0;
    }
    if (fx->oracle_vals[k - fx->oracle_keys] != ch)
        return fx_fail(fx, "log matching: node %llu entry %llu term %llu has a different prefix",
                       (unsigned long long)id, (unsigned long long)index, (unsigned long long)term);
    return 0;
}

/* State-machine safety: index is committed with chain ch (reported by id in term). */
int fx_check_committed(struct fx *fx, uint64_t id, uint64_t index, uint64_t ch, uint64_t term)
{
    (void)term;
    fx->committed = fx_grow(fx->committed, &fx->n_committed, index + 1, sizeof(uint64_t));
    if (fx->committed[index] && fx->committed[index] != ch)
        return fx_fail(fx, "state machine safety: node %llu committed a different entry at %llu",
                       (unsigned long long)id, (unsigned long long)index);
    fx->committed[index] = ch;
    return 0;
}

void fx_note_commit_term(struct fx *fx, uint64_t index, uint64_t term)
{
    fx->front = fx_grow(fx->front, &fx->n_front, term + 1, sizeof(uint64_t));
    if (fx->front[term] < index)
        fx->front[term] = index;
}
/* ---- whole-cluster checks -------------------------------------------------------------- */

static int check_leader(struct fx *fx, struct fx_node *nd, uint64_t term)
{
    fx->leader_of_term = fx_grow(fx->leader_of_term, &fx->n_terms, term + 1, sizeof(uint64_t));
    if (fx->leader_of_term[term] && fx->leader_of_term[term] != nd->id)
        return fx_fail(fx, "election safety: nodes %llu and %llu both lead term %llu",
                       (unsigned long long)fx->leader_of_term[term], (unsigned long long)nd->id,
                       (unsigned long long)term);
    fx->leader_of_term[term] = nd->id;
    /* leader completeness: everything committed in an earlier term is in this log */
    uint64_t k = 0;
    for (uint64_t t = 0; t < term && t < fx->n_front; t++)
        if (fx->front[t] > k)
            k = fx->front[t];
    if (k == 0 || k >= fx->n_committed || !fx->committed[k])
        return 0;
    uint64_t ch = fx_store_chain(fx, nd->id, k);
    if (k < nd->st.snap.index)
        return 0; /* covered by a snapshot built from checked, applied entries */
    if (ch != fx->committed[k])
        return fx_fail(fx, "leader completeness: leader %llu of term %llu lacks committed %llu",
                       (unsigned long long)nd->id, (unsigned long long)term, (unsigned long long)k);
    return 0;
}

int fx_check(struct fx *fx)
{
    for (int i = 1; i <= fx->n_ids && !fx->failed; i++) {
        struct fx_node *nd = &fx->nodes[i];
        uint64_t term;
        if (nd->up && rm_raft_role(nd->r, &term) == RM_RAFT_LEADER)
            check_leader(fx, nd, term);
    }
    return fx->failed ? -1 : 0;
}
