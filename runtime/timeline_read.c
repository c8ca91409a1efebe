/* timeline_read.c: reading a trace into the model of timeline_int.h (rows, stages, spans,
 * markers), and the model's helpers. Drawing it is timeline.c's. */
#include "runtime/timeline_int.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ringmaster.h"
#include "runtime/json.h"

#define MAX_TRACE_BYTES ((size_t)4 << 30)
#define MAX_US 1e17 /* |ts| and dur, microseconds (3000 years) */

/* ---- the model ------------------------------------------------------------------------------- */

void rm__timeline_free(struct tl *tl)
{
    for (size_t i = 0; i < tl->nspans; i++)
        free(tl->spans[i].name);
    for (size_t i = 0; i < tl->rows.n; i++)
        free(tl->rows.v[i].name);
    for (size_t i = 0; i < tl->stages.n; i++)
        free(tl->stages.v[i].name);
    free(tl->spans);
    free(tl->markers);
    free(tl->rows.v);
    free(tl->stages.v);
    free(tl->kernel);
    free(tl->process);
    free(tl->version);
    free(tl->start);
}

/* Makes room for index n in an array of sz-byte items. Returns 0 or RM_ENOMEM. */
static int grow(void **items, size_t *cap, size_t n, size_t sz)
{
    if (n < *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 16;
    void *p = ncap < SIZE_MAX / sz ? realloc(*items, ncap * sz) : NULL;
    if (!p)
        return RM_ENOMEM;
    *items = p;
    *cap = ncap;
    return 0;
}

/* Index of key in set, or where it would go. */
size_t rm__timeline_named_find(const struct named_set *s, long long key)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->v[mid].key < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

const struct named *rm__timeline_named_get(const struct named_set *s, long long key)
{
    size_t i = rm__timeline_named_find(s, key);
    return i < s->n && s->v[i].key == key ? &s->v[i] : NULL;
}

/* Adds key if missing. name (borrowed; may be NULL) replaces the old name when replace is set,
 * or fills a missing one. Returns 0, RM_ENOMEM, or RM_EINVAL past the set's maximum. */
static int named_put(struct named_set *s, long long key, const char *name, bool replace)
{
    size_t i = rm__timeline_named_find(s, key);
    if (i == s->n || s->v[i].key != key) {
        if (s->n >= s->max)
            return RM_EINVAL;
        void *v = s->v;
        if (grow(&v, &s->cap, s->n, sizeof *s->v) != 0)
            return RM_ENOMEM;
        s->v = v;
        memmove(&s->v[i + 1], &s->v[i], (s->n - i) * sizeof *s->v);
        s->v[i] = (struct named){.key = key};
        s->n++;
    }
    if (name && (replace || !s->v[i].name)) {
        char *d = strdup(name);
        if (!d)
            return RM_ENOMEM;
        free(s->v[i].name);
        s->v[i].name = d;
    }
    return 0;
}

/* ---- reading events -------------------------------------------------------------------------- */

/* Records "not a trace: traceEvents[i]: <what>" and returns RM_EINVAL. */
static int bad_event(struct tl *tl, size_t i, const char *what)
{
    snprintf(tl->err, tl->errlen, "not a trace: traceEvents[%zu]: %s", i, what);
    return RM_EINVAL;
}

/* The integer member key of obj into *out: dflt when missing; false when present but not a
 * whole number within +-2^53. */
static bool get_int(const struct rm_json_value *obj, const char *key, long long dflt,
                    long long *out)
{
    const struct rm_json_value *v = rm_json_get(obj, key);
    double d;
    *out = dflt;
    if (!v)
        return true;
    if (!rm_json_number(v, &d) || d != floor(d) || fabs(d) > 9007199254740992.0)
        return false;
    *out = (long long)d;
    return true;
}

/* A rank number: whole, within +-2^31. */
static bool get_rank(const struct rm_json_value *obj, const char *key, long long dflt,
                     long long *out)
{
    return get_int(obj, key, dflt, out) && *out >= INT32_MIN && *out <= INT32_MAX;
}

/* Adds a row for rank (label borrowed, may be NULL) and reports the limit as tl's error. */
static int add_row(struct tl *tl, long long rank, const char *label, size_t i)
{
    int rc = named_put(&tl->rows, rank, label, label != NULL);
    if (rc == RM_EINVAL)
        return bad_event(tl, i, "more than 10000 distinct tids");
    return rc;
}

static int add_metadata(struct tl *tl, const struct rm_json_value *ev, size_t i)
{
    const char *what = rm_json_string(rm_json_get(ev, "name"));
    const char *name = rm_json_string(rm_json_get(rm_json_get(ev, "args"), "name"));
    long long tid;
    if (!what || !name)
        return 0;
    if (strcmp(what, "thread_name") == 0) {
        if (!get_rank(ev, "tid", 0, &tid))
            return bad_event(tl, i, "tid is not a whole number");
        return add_row(tl, tid, name, i);
    }
    if (strcmp(what, "process_name") == 0 && !tl->process)
        return (tl->process = strdup(name)) ? 0 : RM_ENOMEM;
    return 0;
}

static enum kind kind_of(const char *cat)
{
    if (!cat)
        return K_OTHER;
    if (strcmp(cat, "task") == 0)
        return K_TASK;
    if (strcmp(cat, "shuffle") == 0)
        return K_SHUFFLE;
    if (strcmp(cat, "checkpoint") == 0)
        return K_CHECKPOINT;
    if (strcmp(cat, "replicate") == 0)
        return K_REPLICATE;
    return K_OTHER;
}

/* Fills the stage of a task span from its args; a task without a stage is drawn as "other". */
static int task_stage(struct tl *tl, const struct rm_json_value *args, struct span *s, size_t i)
{
    long long attempt;
    if (!get_int(args, "stage", -1, &s->stage) || s->stage < -1 || s->stage > 1000000)
        return bad_event(tl, i, "args.stage is not a whole number from 0 to 1000000");
    if (!get_int(args, "attempt", 1, &attempt))
        return bad_event(tl, i, "args.attempt is not a whole number");
    s->attempt = attempt < 0 || attempt > 1000000 ? 1 : (int)attempt;
    if (s->stage < 0) {
        s->kind = K_OTHER;
        return 0;
    }
    int rc =
        named_put(&tl->stages, s->stage, rm_json_string(rm_json_get(args, "stage_name")), false);
    return rc == RM_EINVAL ? bad_event(tl, i, "more than 1000 distinct stages") : rc;
}

/* The span's name for its tooltip: the event's name, else its stage or category. */
static char *span_name(const struct rm_json_value *ev)
{
    const char *n = rm_json_string(rm_json_get(ev, "name"));
    if (!n)
        n = rm_json_string(rm_json_get(rm_json_get(ev, "args"), "stage_name"));
    if (!n)
        n = rm_json_string(rm_json_get(ev, "cat"));
    return strdup(n ? n : "span");
}

static int add_span(struct tl *tl, const struct rm_json_value *ev, size_t i)
{
    struct span s = {.stage = -1, .attempt = 1};
    double ts, dur = 0;
    if (!rm_json_number(rm_json_get(ev, "ts"), &ts))
        return bad_event(tl, i, "a complete (\"X\") event without a numeric ts");
    if (fabs(ts) > MAX_US)
        return bad_event(tl, i, "ts out of range");
    if (rm_json_get(ev, "dur") &&
        (!rm_json_number(rm_json_get(ev, "dur"), &dur) || dur < 0 || dur > MAX_US))
        return bad_event(tl, i, "dur is not a number of microseconds from 0 to 1e17");
    if (!get_rank(ev, "tid", 0, &s.rank))
        return bad_event(tl, i, "tid is not a whole number");
    s.t0 = ts;
    s.t1 = ts + dur;
    s.kind = (unsigned char)kind_of(rm_json_string(rm_json_get(ev, "cat")));
    int rc = s.kind == K_TASK ? task_stage(tl, rm_json_get(ev, "args"), &s, i) : 0;
    if (rc == 0)
        rc = add_row(tl, s.rank, NULL, i);
    if (rc == 0) {
        void *p = tl->spans;
        rc = grow(&p, &tl->capspans, tl->nspans, sizeof *tl->spans);
        tl->spans = p;
    }
    if (rc == 0 && !(s.name = span_name(ev)))
        rc = RM_ENOMEM;
    if (rc != 0)
        return rc;
    tl->spans[tl->nspans++] = s;
    tl->seen[s.kind] = true;
    tl->ntasks += s.kind == K_TASK;
    return 0;
}

/* Reads a marker's fields from its args; false when one is malformed. */
static bool marker_fields(const struct rm_json_value *ev, long long tid, struct marker *m)
{
    const struct rm_json_value *a = rm_json_get(ev, "args");
    double ms;
    m->rank = tid;
    m->other = m->n = -1;
    m->ms = -1;
    m->lane = -1;
    switch (m->kind) {
    case M_FAILURE:
        if (rm_json_number(rm_json_get(a, "latency_ms"), &ms) && ms >= 0)
            m->ms = ms;
        return get_rank(a, "rank", tid, &m->rank) && get_rank(a, "detected_by", -1, &m->other);
    case M_ELECTION:
        return get_rank(a, "leader", tid, &m->rank) && get_int(a, "term", -1, &m->n);
    default:
        return get_rank(a, "from", -1, &m->other) && get_int(a, "tasks", -1, &m->n);
    }
}

static int add_instant(struct tl *tl, const struct rm_json_value *ev, size_t i)
{
    const char *cat = rm_json_string(rm_json_get(ev, "cat"));
    struct marker m = {0};
    long long tid;
    if (!cat)
        return 0;
    if (strcmp(cat, "failure") == 0)
        m.kind = M_FAILURE;
    else if (strcmp(cat, "election") == 0)
        m.kind = M_ELECTION;
    else if (strcmp(cat, "reschedule") == 0)
        m.kind = M_RESCHEDULE;
    else
        return 0;
    if (!rm_json_number(rm_json_get(ev, "ts"), &m.t))
        return bad_event(tl, i, "an instant (\"i\") event without a numeric ts");
    if (fabs(m.t) > MAX_US)
        return bad_event(tl, i, "ts out of range");
    if (!get_rank(ev, "tid", 0, &tid) || !marker_fields(ev, tid, &m))
        return bad_event(tl, i, "a rank, term or task count is not a whole number");
    int rc = add_row(tl, m.rank, NULL, i);
    void *p = tl->markers;
    if (rc == 0 && (rc = grow(&p, &tl->capmarkers, tl->nmarkers, sizeof m)) == 0) {
        tl->markers = p;
        tl->markers[tl->nmarkers++] = m;
        tl->mseen[m.kind] = true;
    }
    return rc;
}

static int add_event(struct tl *tl, const struct rm_json_value *ev, size_t i)
{
    const char *ph = rm_json_string(rm_json_get(ev, "ph"));
    if (!ph)
        return 0;
    if (strcmp(ph, "M") == 0)
        return add_metadata(tl, ev, i);
    if (strcmp(ph, "X") == 0)
        return add_span(tl, ev, i);
    if (strcmp(ph, "i") == 0 || strcmp(ph, "I") == 0)
        return add_instant(tl, ev, i);
    return 0; /* phases not drawn: B/E, counters, flows, ... */
}

/* ---- reading the document -------------------------------------------------------------------- */

/* Describes a reader error in tl; a limit exceeded counts as bad input too. */
static int json_error(struct tl *tl, struct rm_json_reader *r, int rc)
{
    if (rc == RM_EINVAL || rc == RM_EMSGSIZE)
        snprintf(tl->err, tl->errlen, "%s: %s", rc == RM_EINVAL ? "not JSON" : "too large to read",
                 rm_json_reader_error(r));
    return rc == RM_EMSGSIZE ? RM_EINVAL : rc;
}

/* Reads the events of an array whose '[' was just read, one tree per event. */
static int read_events(struct tl *tl, struct rm_json_reader *r)
{
    struct rm_json_token t;
    int rc;
    for (size_t i = 0; (rc = rm_json_next(r, &t)) == 0 && t.kind != RM_JSON_TOK_END_ARRAY; i++) {
        struct rm_json_value ev;
        if (t.kind != RM_JSON_TOK_BEGIN_OBJECT)
            return bad_event(tl, i, "not an object");
        if ((rc = rm_json_read_value(r, &t, &ev)) != 0)
            return json_error(tl, r, rc);
        rc = add_event(tl, &ev, i);
        rm_json_value_free(&ev);
        if (rc != 0)
            return rc;
    }
    return json_error(tl, r, rc);
}

static int dup_member(const struct rm_json_value *obj, const char *key, char **out)
{
    const char *s = rm_json_string(rm_json_get(obj, key));
    if (!s || *out)
        return 0;
    return (*out = strdup(s)) ? 0 : RM_ENOMEM;
}

/* otherData: the kernel, version, start time and rank count, all optional. */
static int read_other(struct tl *tl, struct rm_json_reader *r, const struct rm_json_token *t)
{
    struct rm_json_value v;
    long long ranks;
    int rc = rm_json_read_value(r, t, &v);
    if (rc != 0)
        return json_error(tl, r, rc);
    tl->ringmaster = rm_json_get(&v, "ringmaster_version") || rm_json_get(&v, "kernel");
    if ((rc = dup_member(&v, "kernel", &tl->kernel)) == 0 &&
        (rc = dup_member(&v, "ringmaster_version", &tl->version)) == 0)
        rc = dup_member(&v, "start", &tl->start);
    if (rc == 0 && get_int(&v, "ranks", 0, &ranks) && ranks > 0 && ranks <= MAX_ROWS)
        for (long long k = 0; k < ranks && rc == 0; k++)
            rc = named_put(&tl->rows, k, NULL, false);
    rm_json_value_free(&v);
    return rc;
}

/* The members of the top-level object whose '{' was just read. */
static int read_top_object(struct tl *tl, struct rm_json_reader *r)
{
    struct rm_json_token t;
    bool events = false;
    int rc;
    while ((rc = rm_json_next(r, &t)) == 0 && t.kind == RM_JSON_TOK_KEY) {
        bool is_events = strcmp(t.str, "traceEvents") == 0 && t.len == 11;
        bool is_other = strcmp(t.str, "otherData") == 0 && t.len == 9;
        if ((rc = rm_json_next(r, &t)) != 0)
            break;
        if (is_events && t.kind != RM_JSON_TOK_BEGIN_ARRAY) {
            snprintf(tl->err, tl->errlen, "not a trace: traceEvents is not an array");
            return RM_EINVAL;
        }
        if (is_events && !events)
            rc = read_events(tl, r);
        else if (is_other && t.kind == RM_JSON_TOK_BEGIN_OBJECT)
            rc = read_other(tl, r, &t);
        else
            rc = json_error(tl, r, rm_json_skip_value(r, &t));
        events |= is_events;
        if (rc != 0)
            return rc;
    }
    if (rc == 0 && !events) {
        snprintf(tl->err, tl->errlen, "not a trace: no traceEvents array");
        return RM_EINVAL;
    }
    return json_error(tl, r, rc);
}

/* Reads the trace buf[0..len) into tl. */
int rm__timeline_read(struct tl *tl, const char *buf, size_t len)
{
    struct rm_json_reader r;
    struct rm_json_token t;
    struct rm_json_limits lim = {.max_depth = 64, .max_string = 1 << 20, .max_values = 100000};
    int rc = rm_json_reader_init(&r, buf, len, &lim);
    if (rc == 0 && (rc = json_error(tl, &r, rm_json_next(&r, &t))) == 0) {
        if (t.kind == RM_JSON_TOK_BEGIN_ARRAY) {
            rc = read_events(tl, &r);
        } else if (t.kind == RM_JSON_TOK_BEGIN_OBJECT) {
            rc = read_top_object(tl, &r);
        } else {
            snprintf(tl->err, tl->errlen, "not a trace: the document is not an object or array");
            rc = RM_EINVAL;
        }
        if (rc == 0)
            rc = json_error(tl, &r, rm_json_next(&r, &t)); /* nothing may follow */
    }
    rm_json_reader_close(&r);
    return rc;
}

/* ---- loading the file ------------------------------------------------------------------------ */

/* Reads all of fd into *buf (malloc'd, taken by the caller) and *len. Returns 0, RM_EIO (errno
 * set), RM_EINVAL (too large) or RM_ENOMEM. */
static int read_all(int fd, char **buf, size_t *len)
{
    struct stat st;
    size_t cap = fstat(fd, &st) == 0 && st.st_size > 0 ? (size_t)st.st_size + 1 : 65536;
    char *b = NULL;
    size_t n = 0;
    for (;;) {
        if (n == cap || !b) {
            cap = b ? cap * 2 : cap;
            char *nb = cap <= MAX_TRACE_BYTES + 1 ? realloc(b, cap) : NULL;
            if (!nb) {
                free(b);
                return cap > MAX_TRACE_BYTES + 1 ? RM_EINVAL : RM_ENOMEM;
            }
            b = nb;
        }
        ssize_t got = read(fd, b + n, cap - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            free(b);
            return RM_EIO;
        }
        if (got == 0)
            break;
        n += (size_t)got;
    }
    *buf = b;
    *len = n;
    return 0;
}

int rm__timeline_load(const char *path, char **buf, size_t *len, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "cannot read trace %s: %s", path, strerror(errno));
        return errno == ENOENT ? RM_ENOENT : RM_EIO;
    }
    int rc = read_all(fd, buf, len);
    int saved = errno;
    close(fd);
    if (rc == RM_EIO)
        snprintf(err, errlen, "cannot read trace %s: %s", path, strerror(saved));
    else if (rc == RM_EINVAL)
        snprintf(err, errlen, "trace %s: larger than 4 GiB", path);
    else if (rc == RM_ENOMEM)
        snprintf(err, errlen, "trace %s: out of memory", path);
    return rc;
}
