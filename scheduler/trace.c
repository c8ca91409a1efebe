/* trace.c: see trace.h. */
#include "scheduler/trace.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "ringmaster.h"
#include "runtime/clock.h"
#include "runtime/frame.h"

#define MAGIC 0x52545231u /* "RTR1" */
#define HEAD_BYTES (4 + 4 + 8 + 8 + 8 * RM_TRACE_COUNTERS + 8 + 4 + 4)
#define STAGE_BYTES 32u
#define EVENT_BYTES 44u

static atomic_bool on;
static atomic_uint_fast64_t counters[RM_TRACE_COUNTERS];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
/* under mu once on: */
static bool keep_spans;
static uint32_t self;
static int64_t wall_offset; /* realtime - monotonic, ns */
static uint64_t started;
static struct rm_trace_event *events;
static uint32_t n_events, cap_events;
static uint64_t dropped;
static struct rm_trace_stage *stages;
static uint32_t n_stages;

static uint64_t realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int rm_trace_enable(uint32_t rank, bool events_on)
{
    pthread_mutex_lock(&mu);
    self = rank;
    keep_spans = events_on;
    uint64_t mono = rm_clock_monotonic_ns();
    started = realtime_ns();
    wall_offset = (int64_t)(started - mono);
    pthread_mutex_unlock(&mu);
    atomic_store(&on, true);
    return 0;
}

bool rm_trace_on(void)
{
    return atomic_load_explicit(&on, memory_order_relaxed);
}

uint64_t rm_trace_wall(uint64_t mono_ns)
{
    return (uint64_t)((int64_t)mono_ns + wall_offset);
}

void rm_trace_count(enum rm_trace_counter ctr, uint64_t n)
{
    if (rm_trace_on() && ctr < RM_TRACE_COUNTERS)
        atomic_fetch_add_explicit(&counters[ctr], n, memory_order_relaxed);
}

/* Appends e (under mu). */
static void push(const struct rm_trace_event *e)
{
    if (n_events == cap_events) {
        uint32_t cap = cap_events ? 2 * cap_events : 1024;
        cap = cap > RM_TRACE_MAX_EVENTS ? RM_TRACE_MAX_EVENTS : cap;
        struct rm_trace_event *g = cap > cap_events ? realloc(events, cap * sizeof *g) : NULL;
        if (!g) {
            dropped++;
            return;
        }
        events = g;
        cap_events = cap;
    }
    events[n_events++] = *e;
}

/* The aggregate of stage s, grown as needed (under mu); NULL past the limit or out of memory. */
static struct rm_trace_stage *stage_of(uint32_t s)
{
    if (s >= RM_TRACE_MAX_STAGES)
        return NULL;
    if (s >= n_stages) {
        uint32_t n = s + 1 > 2 * n_stages ? s + 1 : 2 * n_stages;
        struct rm_trace_stage *g = realloc(stages, n * sizeof *g);
        if (!g)
            return NULL;
        memset(g + n_stages, 0, (n - n_stages) * sizeof *g);
        stages = g;
        n_stages = n;
    }
    return &stages[s];
}

/* Adds task attempt e (wall-clock times) to its stage's sums, and keeps it (under mu). */
static void add_task(const struct rm_trace_event *e)
{
    struct rm_trace_stage *st = stage_of(e->stage);
    if (st) {
        st->tasks++;
        st->busy_ns += e->t1 - e->t0;
        st->first = st->first && st->first < e->t0 ? st->first : e->t0;
        st->last = st->last > e->t1 ? st->last : e->t1;
    }
    if (keep_spans)
        push(e);
}

void rm_trace_task(uint32_t stage, uint64_t id, uint32_t attempt, bool failed, uint64_t t0,
                   uint64_t t1)
{
    struct rm_trace_event e = {.kind = RM_TRACE_TASK,
                               .stage = stage,
                               .a = attempt,
                               .b = id,
                               .c = failed,
                               .t0 = t0,
                               .t1 = t1};
    rm_trace_tasks(&e, 1);
}

void rm_trace_tasks(const struct rm_trace_event *v, uint32_t n)
{
    if (!rm_trace_on() || n == 0)
        return;
    pthread_mutex_lock(&mu);
    for (uint32_t i = 0; i < n; i++) {
        struct rm_trace_event e = v[i];
        e.kind = RM_TRACE_TASK;
        e.t0 = rm_trace_wall(e.t0);
        e.t1 = rm_trace_wall(e.t1);
        add_task(&e);
    }
    pthread_mutex_unlock(&mu);
}

void rm_trace_event(enum rm_trace_kind kind, uint32_t stage, uint32_t a, uint64_t b, uint64_t c,
                    uint64_t t0, uint64_t t1)
{
    if (!rm_trace_on())
        return;
    struct rm_trace_event e = {.kind = kind,
                               .stage = stage,
                               .a = a,
                               .b = b,
                               .c = c,
                               .t0 = rm_trace_wall(t0),
                               .t1 = rm_trace_wall(t1)};
    bool instant = kind >= RM_TRACE_ELECTION;
    pthread_mutex_lock(&mu);
    if (instant || keep_spans)
        push(&e);
    pthread_mutex_unlock(&mu);
}

static uint64_t peak_rss(void)
{
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? (uint64_t)ru.ru_maxrss * 1024 : 0;
}

int rm_trace_encode(unsigned char **out, size_t *len)
{
    pthread_mutex_lock(&mu);
    size_t n = HEAD_BYTES + (size_t)n_stages * STAGE_BYTES + (size_t)n_events * EVENT_BYTES;
    unsigned char *buf = malloc(n), *p = buf;
    if (!buf) {
        pthread_mutex_unlock(&mu);
        return RM_ENOMEM;
    }
    rm_put_u32(p, MAGIC);
    rm_put_u32(p + 4, self);
    rm_put_u64(p + 8, started);
    rm_put_u64(p + 16, peak_rss());
    p += 24;
    for (int i = 0; i < RM_TRACE_COUNTERS; i++, p += 8)
        rm_put_u64(p, atomic_load(&counters[i]));
    rm_put_u64(p, dropped);
    rm_put_u32(p + 8, n_stages);
    rm_put_u32(p + 12, n_events);
    p += 16;
    for (uint32_t i = 0; i < n_stages; i++, p += STAGE_BYTES) {
        rm_put_u64(p, stages[i].tasks);
        rm_put_u64(p + 8, stages[i].busy_ns);
        rm_put_u64(p + 16, stages[i].first);
        rm_put_u64(p + 24, stages[i].last);
    }
    for (uint32_t i = 0; i < n_events; i++, p += EVENT_BYTES) {
        const struct rm_trace_event *e = &events[i];
        rm_put_u32(p, e->kind);
        rm_put_u32(p + 4, e->stage);
        rm_put_u32(p + 8, e->a);
        rm_put_u64(p + 12, e->b);
        rm_put_u64(p + 20, e->c);
        rm_put_u64(p + 28, e->t0);
        rm_put_u64(p + 36, e->t1);
    }
    pthread_mutex_unlock(&mu);
    *out = buf;
    *len = n;
    return 0;
}

static int decode_body(const unsigned char *p, struct rm_trace_record *r)
{
    for (uint32_t i = 0; i < r->n_stages; i++, p += STAGE_BYTES) {
        struct rm_trace_stage *s = &r->stages[i];
        s->tasks = rm_get_u64(p);
        s->busy_ns = rm_get_u64(p + 8);
        s->first = rm_get_u64(p + 16);
        s->last = rm_get_u64(p + 24);
    }
    for (uint32_t i = 0; i < r->n_events; i++, p += EVENT_BYTES) {
        struct rm_trace_event *e = &r->events[i];
        e->kind = rm_get_u32(p);
        e->stage = rm_get_u32(p + 4);
        e->a = rm_get_u32(p + 8);
        e->b = rm_get_u64(p + 12);
        e->c = rm_get_u64(p + 20);
        e->t0 = rm_get_u64(p + 28);
        e->t1 = rm_get_u64(p + 36);
        if (e->kind < RM_TRACE_TASK || e->kind >= RM_TRACE_KIND_END || e->t1 < e->t0)
            return RM_EPROTO;
    }
    return 0;
}

int rm_trace_decode(const void *data, size_t len, struct rm_trace_record *out)
{
    const unsigned char *p = data;
    memset(out, 0, sizeof *out);
    if (len < HEAD_BYTES || rm_get_u32(p) != MAGIC)
        return RM_EPROTO;
    out->rank = rm_get_u32(p + 4);
    out->started = rm_get_u64(p + 8);
    out->peak_rss = rm_get_u64(p + 16);
    for (int i = 0; i < RM_TRACE_COUNTERS; i++)
        out->counters[i] = rm_get_u64(p + 24 + 8 * (size_t)i);
    p += 24 + 8 * RM_TRACE_COUNTERS;
    out->dropped = rm_get_u64(p);
    out->n_stages = rm_get_u32(p + 8);
    out->n_events = rm_get_u32(p + 12);
    if (out->n_stages > RM_TRACE_MAX_STAGES || out->n_events > RM_TRACE_MAX_EVENTS ||
        len !=
            HEAD_BYTES + (size_t)out->n_stages * STAGE_BYTES + (size_t)out->n_events * EVENT_BYTES)
        return RM_EPROTO;
    out->stages = calloc(out->n_stages + 1, sizeof *out->stages);
    out->events = calloc(out->n_events + 1, sizeof *out->events);
    int rc = out->stages && out->events ? decode_body(p + 16, out) : RM_ENOMEM;
    if (rc != 0)
        rm_trace_record_free(out);
    return rc;
}

void rm_trace_record_free(struct rm_trace_record *r)
{
    free(r->stages);
    free(r->events);
    r->stages = NULL;
    r->events = NULL;
    r->n_stages = r->n_events = 0;
}

void rm_trace_reset(void)
{
    atomic_store(&on, false);
    pthread_mutex_lock(&mu);
    free(events);
    free(stages);
    events = NULL;
    stages = NULL;
    n_events = cap_events = n_stages = 0;
    dropped = 0;
    for (int i = 0; i < RM_TRACE_COUNTERS; i++)
        atomic_store(&counters[i], 0);
    pthread_mutex_unlock(&mu);
}
