/*
 * timeline_int.h: the model shared by the two halves of `ringmaster timeline`. Private to
 * runtime/timeline.c and runtime/timeline_read.c; nothing else includes it (the public API is
 * runtime/timeline.h).
 *
 * timeline_read.c reads a trace into a struct tl (rm__timeline_load, rm__timeline_read) and
 * owns the model's helpers; timeline.c lays the model out and writes the SVG.
 *
 * Ownership: the caller allocates the struct tl (on its stack in rm_timeline_render) and sets
 * rows.max, stages.max, err and errlen; err is the caller's buffer, borrowed. Everything the
 * reader puts in it belongs to the struct tl: the spans array and each span's name, the
 * markers array, the rows' and stages' arrays and names, and kernel, process, version and
 * start. rm__timeline_free frees all of it, also after a failed read; the struct itself stays
 * the caller's. The drawing side may reorder spans and markers and set each marker's lane, but
 * frees and replaces nothing. Single-threaded.
 */
#ifndef RM_TIMELINE_INT_H
#define RM_TIMELINE_INT_H

#include <stdbool.h>
#include <stddef.h>

#define MAX_ROWS 10000u  /* distinct tids drawn */
#define MAX_STAGES 1000u /* distinct stage numbers */

/* ---- the model ------------------------------------------------------------------------------- */

enum kind { K_TASK, K_SHUFFLE, K_CHECKPOINT, K_REPLICATE, K_OTHER, K_COUNT };
enum mkind { M_FAILURE, M_ELECTION, M_RESCHEDULE, M_COUNT };

struct span {
    double t0, t1; /* microseconds */
    long long rank, stage;
    char *name;
    int attempt;
    unsigned char kind;
};

/* A rank's row or a stage: a number and a name, kept sorted by number. */
struct named {
    long long key;
    char *name;
};

struct named_set {
    struct named *v;
    size_t n, cap, max;
};

struct marker {
    double t;
    long long rank;  /* who died, who leads, who rescheduled */
    long long other; /* detected by, or rescheduled from; -1 when unknown */
    long long n;     /* term, or tasks rescheduled; -1 when unknown */
    double ms;       /* detection latency; < 0 when unknown */
    unsigned char kind;
    int lane; /* label lane, or -1 for none */
};

struct tl {
    struct span *spans;
    size_t nspans, capspans;
    struct marker *markers;
    size_t nmarkers, capmarkers;
    struct named_set rows, stages;
    char *kernel, *process, *version, *start;
    bool ringmaster; /* otherData says a ringmaster run wrote it: times count from 0 */
    bool seen[K_COUNT], mseen[M_COUNT];
    size_t ntasks;
    char *err;
    size_t errlen;
};

/* ---- shared between timeline.c and timeline_read.c ------------------------------------------- */

/* Frees everything tl owns (see above), not tl itself. This function can't fail. */
void rm__timeline_free(struct tl *tl);

/* Index of key in the sorted set s (borrowed), or where it would go. This function can't fail. */
size_t rm__timeline_named_find(const struct named_set *s, long long key);

/* The entry of key in s (borrowed), or NULL. The result points into s, valid until s changes. */
const struct named *rm__timeline_named_get(const struct named_set *s, long long key);

/*
 * Reads the trace buf[0..len) into tl. buf is borrowed; what is read is owned by tl, also on
 * failure (free it with rm__timeline_free). Returns 0; RM_EINVAL for malformed JSON, JSON past
 * the reader's limits or a document that is not a trace, with a one-line reason in tl->err;
 * RM_ENOMEM.
 */
int rm__timeline_read(struct tl *tl, const char *buf, size_t len);

/*
 * Reads the file at path (borrowed) into *buf (malloc'd, taken by the caller, who frees it with
 * free()) and *len. err receives a one-line reason naming the file on failure, errlen bytes.
 * Returns 0; RM_ENOENT when it does not exist; RM_EIO when it cannot be read; RM_EINVAL when it
 * is larger than 4 GiB; RM_ENOMEM. *buf is untouched on failure.
 */
int rm__timeline_load(const char *path, char **buf, size_t *len, char *err, size_t errlen);

#endif /* RM_TIMELINE_INT_H */
