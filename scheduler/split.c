/*
 * split.c: input expansion, Hadoop-style line splits, and reading a split's lines.
 *
 * Expansion walks each directory argument without recursion: a stack of directories still to
 * read, one open directory at a time (so deep trees need neither stack nor descriptors), then
 * sorts that argument's files by path. Duplicates are removed once, at the end, by sorting
 * (dev, ino, index) triples.
 *
 * Reading a split reads [start - 1, end) in one pread: the byte before start says whether a
 * line starts exactly at start, and a '\n' at or after start - 1 but before end - 1 marks the
 * first line that starts inside the split. If byte end - 1 is not a '\n', the last line goes on
 * past end and is read in growing steps until its '\n' or the end of the file.
 */
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack: hashing a key can't fail */
#include "scheduler/split.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>

#include "scheduler/trace.h"

/* First step, and largest step, when reading on past a split's end to finish its last line. */
#define TAIL_STEP_MIN (64u * 1024u)
#define TAIL_STEP_MAX (16u * 1024u * 1024u)
/* Largest single pread: Linux moves at most about 2 GB per call anyway. */
#define PREAD_MAX ((size_t)1 << 30)
/* An empty or short result is shrunk to fit when it wastes more than this. */
#define SHRINK_SLACK 4096u

__attribute__((format(printf, 3, 4))) static void set_err(char *err, size_t cap, const char *fmt,
                                                          ...)
{
    if (!err || cap == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

/* Maps an errno value to an RM_E* code. */
static int errno_code(int e)
{
    if (e == ENOENT)
        return RM_ENOENT;
    if (e == ENOMEM)
        return RM_ENOMEM;
    return RM_EIO;
}

/* Writes "cannot read --input PATH: REASON" and returns the code for errno value e. */
static int fail_path(char *err, size_t cap, const char *path, int e)
{
    char why[128];
    set_err(err, cap, "cannot read --input %s: %s", path, strerror_r(e, why, sizeof why));
    return errno_code(e);
}

/* ---- expansion ------------------------------------------------------------------------------ */

struct builder {
    struct rm_input_set *set;
    size_t cap; /* files allocated in set */
    char *err;
    size_t errcap;
};

/* A stack of directory paths still to read; each path is owned by the stack. */
struct dirstack {
    char **v;
    size_t n, cap;
};

/* Appends a file. path: taken, and freed on error. Returns 0 or RM_ENOMEM. */
static int push_file(struct builder *b, char *path, const struct stat *st)
{
    struct rm_input_set *set = b->set;
    if (set->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        void *v = cap <= SIZE_MAX / sizeof *set->files
                      ? realloc(set->files, cap * sizeof *set->files)
                      : NULL;
        if (!v) {
            free(path);
            return RM_ENOMEM;
        }
        set->files = v;
        b->cap = cap;
    }
    set->files[set->n++] = (struct rm_input_file){
        .path = path,
        .size = (uint64_t)st->st_size,
        .mtime = st->st_mtim,
        .dev = (uint64_t)st->st_dev,
        .ino = (uint64_t)st->st_ino,
    };
    return 0;
}

/* Opens a regular file to check that it can be read, and records it. path: taken, and freed
 * on error. */
static int add_file(struct builder *b, char *path)
{
    /* O_NONBLOCK: should the file have been swapped for a FIFO since its stat, do not hang. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    int rc = fd < 0 ? fail_path(b->err, b->errcap, path, errno) : 0;
    struct stat st;
    if (rc == 0 && fstat(fd, &st) != 0)
        rc = fail_path(b->err, b->errcap, path, errno);
    if (rc == 0 && !S_ISREG(st.st_mode)) {
        set_err(b->err, b->errcap, "cannot read --input %s: not a regular file", path);
        rc = RM_EINVAL;
    }
    if (fd >= 0)
        close(fd);
    if (rc != 0) {
        free(path);
        return rc;
    }
    return push_file(b, path, &st);
}

/* Returns dir + "/" + name (no second '/' if dir ends with one), malloc'd, or NULL. */
static char *join(const char *dir, const char *name)
{
    size_t dl = strlen(dir), nl = strlen(name);
    bool slash = dl > 0 && dir[dl - 1] == '/';
    char *p = malloc(dl + !slash + nl + 1);
    if (!p)
        return NULL;
    memcpy(p, dir, dl);
    if (!slash)
        p[dl++] = '/';
    memcpy(p + dl, name, nl + 1);
    return p;
}

/* Pushes a directory. path: taken, and freed on error. Returns 0 or RM_ENOMEM. */
static int stack_push(struct dirstack *s, char *path)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        void *v = cap <= SIZE_MAX / sizeof *s->v ? realloc(s->v, cap * sizeof *s->v) : NULL;
        if (!v) {
            free(path);
            return RM_ENOMEM;
        }
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = path;
    return 0;
}

static void stack_free(struct dirstack *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
}

/* Handles one entry of an open directory: a regular file (or a symlink to one) is recorded, a
 * real directory is pushed, anything else is skipped. */
static int scan_entry(struct builder *b, DIR *d, const char *dir, const char *name,
                      struct dirstack *unread)
{
    char *path = join(dir, name);
    if (!path)
        return RM_ENOMEM;
    struct stat st;
    if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        int rc = fail_path(b->err, b->errcap, path, errno);
        free(path);
        return rc;
    }
    if (S_ISDIR(st.st_mode))
        return stack_push(unread, path);
    /* A symlink counts only if it leads to a regular file; dangling ones are skipped. */
    if (S_ISLNK(st.st_mode) && fstatat(dirfd(d), name, &st, 0) != 0) {
        free(path);
        return 0;
    }
    if (S_ISREG(st.st_mode))
        return add_file(b, path);
    free(path);
    return 0;
}

/* Reads one directory: its files into the set, its subdirectories onto unread. */
static int scan_dir(struct builder *b, const char *dir, struct dirstack *unread)
{
    DIR *d = opendir(dir);
    if (!d)
        return fail_path(b->err, b->errcap, dir, errno);
    int rc = 0;
    for (;;) {
        errno = 0;
        struct dirent *e = readdir(d);
        if (!e) {
            if (errno != 0)
                rc = fail_path(b->err, b->errcap, dir, errno);
            break;
        }
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        rc = scan_entry(b, d, dir, e->d_name, unread);
        if (rc != 0)
            break;
    }
    closedir(d);
    return rc;
}

/* Records every regular file below root, in no particular order. */
static int walk_dir(struct builder *b, const char *root)
{
    struct dirstack unread = {0};
    char *first = strdup(root);
    int rc = first ? stack_push(&unread, first) : RM_ENOMEM;
    while (rc == 0 && unread.n > 0) {
        char *dir = unread.v[--unread.n];
        rc = scan_dir(b, dir, &unread);
        free(dir);
    }
    stack_free(&unread);
    return rc;
}

static int cmp_path(const void *a, const void *b)
{
    const struct rm_input_file *x = a, *y = b;
    return strcmp(x->path, y->path);
}

/* Resolves one command-line path. */
static int expand_one(struct builder *b, const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return fail_path(b->err, b->errcap, path, errno);
    if (S_ISREG(st.st_mode)) {
        char *p = strdup(path);
        return p ? add_file(b, p) : RM_ENOMEM;
    }
    if (!S_ISDIR(st.st_mode)) {
        set_err(b->err, b->errcap, "cannot read --input %s: not a regular file or directory", path);
        return RM_EINVAL;
    }
    size_t first = b->set->n;
    int rc = walk_dir(b, path);
    if (rc == 0 && b->set->n - first > 1)
        qsort(b->set->files + first, b->set->n - first, sizeof *b->set->files, cmp_path);
    return rc;
}

struct ident {
    uint64_t dev, ino;
    size_t idx;
};

static int cmp_ident(const void *a, const void *b)
{
    const struct ident *x = a, *y = b;
    if (x->dev != y->dev)
        return x->dev < y->dev ? -1 : 1;
    if (x->ino != y->ino)
        return x->ino < y->ino ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Keeps only the first occurrence of each (dev, ino), in order. */
static int dedupe(struct rm_input_set *set)
{
    if (set->n < 2)
        return 0;
    struct ident *id = malloc(set->n * sizeof *id); /* n * 40 bytes already fit */
    if (!id)
        return RM_ENOMEM;
    for (size_t i = 0; i < set->n; i++)
        id[i] = (struct ident){set->files[i].dev, set->files[i].ino, i};
    qsort(id, set->n, sizeof *id, cmp_ident);
    for (size_t i = 1; i < set->n; i++) {
        if (id[i].dev == id[i - 1].dev && id[i].ino == id[i - 1].ino) {
            free(set->files[id[i].idx].path);
            set->files[id[i].idx].path = NULL;
        }
    }
    free(id);
    size_t j = 0;
    for (size_t i = 0; i < set->n; i++) {
        if (set->files[i].path)
            set->files[j++] = set->files[i];
    }
    set->n = j;
    return 0;
}

int rm_inputs_expand(char *const *paths, size_t n, struct rm_input_set *out, char *err, size_t cap)
{
    set_err(err, cap, "%s", "");
    if (!out || (!paths && n > 0)) {
        set_err(err, cap, "rm_inputs_expand: NULL argument");
        return RM_EINVAL;
    }
    *out = (struct rm_input_set){0};
    struct builder b = {.set = out, .err = err, .errcap = cap};
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (!paths[i]) {
            set_err(err, cap, "rm_inputs_expand: NULL path");
            rc = RM_EINVAL;
        } else {
            rc = expand_one(&b, paths[i]);
        }
    }
    if (rc == 0)
        rc = dedupe(out);
    if (rc != 0) {
        if (rc == RM_ENOMEM && (!err || cap == 0 || err[0] == '\0'))
            set_err(err, cap, "listing --input files: out of memory");
        rm_inputs_free(out);
    }
    return rc;
}

void rm_inputs_free(struct rm_input_set *set)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->n; i++)
        free(set->files[i].path);
    free(set->files);
    set->files = NULL;
    set->n = 0;
}

/* ---- splits and keys ------------------------------------------------------------------------ */

int rm_splits_make(const struct rm_input_set *in, uint64_t split_size, struct rm_split **out,
                   size_t *n)
{
    if (!in || !out || !n || split_size == 0 || (in->n > 0 && !in->files))
        return RM_EINVAL;
    *out = NULL;
    *n = 0;
    size_t total = 0;
    for (size_t i = 0; i < in->n; i++) {
        uint64_t size = in->files[i].size;
        uint64_t k = size / split_size + (size % split_size != 0);
        if (k > SIZE_MAX / sizeof **out - total)
            return RM_ENOMEM;
        total += (size_t)k;
    }
    if (total == 0)
        return 0;
    struct rm_split *v = malloc(total * sizeof *v);
    if (!v)
        return RM_ENOMEM;
    size_t j = 0;
    for (size_t i = 0; i < in->n; i++) {
        uint64_t size = in->files[i].size, end;
        for (uint64_t start = 0; start < size; start = end) {
            end = size - start > split_size ? start + split_size : size;
            v[j++] = (struct rm_split){.file = i, .start = start, .end = end};
        }
    }
    assert(j == total);
    *out = v;
    *n = total;
    return 0;
}

void rm_splits_free(struct rm_split *splits)
{
    free(splits);
}

static void put_le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

size_t rm_split_key(const struct rm_input_set *in, const struct rm_split *s, void *buf, size_t cap)
{
    assert(in && s && s->file < in->n);
    const char *path = in->files[s->file].path;
    size_t plen = strlen(path), len = plen + 9;
    if (buf && cap >= len) {
        memcpy(buf, path, plen + 1);
        put_le64((unsigned char *)buf + plen + 1, s->start);
    }
    return len;
}

uint64_t rm_split_key_hash(const struct rm_input_set *in, const struct rm_split *s)
{
    assert(in && s && s->file < in->n);
    const char *path = in->files[s->file].path;
    unsigned char le[8];
    put_le64(le, s->start);
    /* Streaming gives the same hash as one-shot XXH3_64bits over the concatenated key. */
    XXH3_state_t st;
    XXH3_64bits_reset(&st);
    XXH3_64bits_update(&st, path, strlen(path) + 1);
    XXH3_64bits_update(&st, le, sizeof le);
    return XXH3_64bits_digest(&st);
}

/* ---- reading a split ------------------------------------------------------------------------ */

/* The text being read, and where errors go. */
struct text {
    int fd;
    const struct rm_input_file *f;
    char *buf;
    size_t off, len, cap; /* the text is buf[off, len) */
    char *err;
    size_t errcap;
};

static int no_memory(struct text *t)
{
    set_err(t->err, t->errcap, "reading %s: out of memory", t->f->path);
    return RM_ENOMEM;
}

/* Makes room for need bytes in total. Returns 0 or RM_ENOMEM. */
static int text_reserve(struct text *t, size_t need)
{
    if (need <= t->cap)
        return 0;
    size_t cap = t->cap > SIZE_MAX / 2 || t->cap * 2 < need ? need : t->cap * 2;
    char *p = realloc(t->buf, cap);
    if (!p)
        return no_memory(t);
    t->buf = p;
    t->cap = cap;
    return 0;
}

/* Reads exactly len bytes at offset off into p. Returns 0, RM_EIO, or RM_ECORRUPT if the file
 * ends first. */
static int pread_full(struct text *t, char *p, size_t len, uint64_t off)
{
    while (len > 0) {
        ssize_t r = pread(t->fd, p, len < PREAD_MAX ? len : PREAD_MAX, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return fail_path(t->err, t->errcap, t->f->path, errno);
        if (r == 0) {
            set_err(t->err, t->errcap,
                    "input %s got shorter while being read (%llu bytes expected)", t->f->path,
                    (unsigned long long)t->f->size);
            return RM_ECORRUPT;
        }
        p += r;
        len -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

/* Refuses a file whose size or mtime differs from what expansion recorded. */
static int check_unchanged(struct text *t)
{
    struct stat st;
    if (fstat(t->fd, &st) != 0)
        return fail_path(t->err, t->errcap, t->f->path, errno);
    if ((uint64_t)st.st_size != t->f->size) {
        set_err(t->err, t->errcap,
                "input %s changed since the inputs were listed: %llu bytes, now %llu", t->f->path,
                (unsigned long long)t->f->size, (unsigned long long)st.st_size);
        return RM_ECORRUPT;
    }
    if (st.st_mtim.tv_sec != t->f->mtime.tv_sec || st.st_mtim.tv_nsec != t->f->mtime.tv_nsec) {
        set_err(t->err, t->errcap,
                "input %s changed since the inputs were listed: modified at another time",
                t->f->path);
        return RM_ECORRUPT;
    }
    return 0;
}

/* Appends from pos on until the first '\n' (kept) or the end of the file. */
static int read_tail(struct text *t, uint64_t pos)
{
    size_t step = TAIL_STEP_MIN;
    while (pos < t->f->size) {
        uint64_t left = t->f->size - pos;
        size_t n = left < step ? (size_t)left : step;
        if (n > SIZE_MAX - 1 - t->len)
            return no_memory(t);
        int rc = text_reserve(t, t->len + n + 1);
        if (rc == 0)
            rc = pread_full(t, t->buf + t->len, n, pos);
        if (rc != 0)
            return rc;
        const char *nl = memchr(t->buf + t->len, '\n', n);
        if (nl) {
            t->len = (size_t)(nl - t->buf) + 1;
            return 0;
        }
        t->len += n;
        pos += n;
        step = step < TAIL_STEP_MAX ? step * 2 : step;
    }
    return 0;
}

/* Reads the lines that start in [s->start, s->end) into t. */
static int read_lines(struct text *t, const struct rm_split *s)
{
    /* From start - 1, so that a '\n' just before start shows that a line starts at start. */
    uint64_t from = s->start > 0 ? s->start - 1 : 0;
    if (s->end - from > SIZE_MAX - 1)
        return no_memory(t);
    size_t n = (size_t)(s->end - from);
    int rc = text_reserve(t, n + 1);
    if (rc == 0)
        rc = pread_full(t, t->buf, n, from);
    if (rc != 0)
        return rc;
    t->len = n;
    if (s->start > 0) {
        /* The first line of this split starts after the first '\n' in [start - 1, end - 1). */
        const char *nl = memchr(t->buf, '\n', n - 1);
        if (!nl) {
            t->len = 0;
            return 0;
        }
        t->off = (size_t)(nl - t->buf) + 1;
    }
    if (t->buf[t->len - 1] == '\n' || s->end == t->f->size)
        return 0;
    return read_tail(t, s->end);
}

/* Reads split s into t (t->buf and t->cap may hold a buffer to reuse; they are updated even
 * on error). */
static int read_split(const struct rm_input_set *in, const struct rm_split *s, struct text *t,
                      char *err, size_t cap)
{
    set_err(err, cap, "%s", "");
    if (!in || !s || !in->files || s->file >= in->n || s->start >= s->end ||
        s->end > in->files[s->file].size) {
        set_err(err, cap, "rm_split_read: NULL argument or split out of bounds");
        return RM_EINVAL;
    }
    t->f = &in->files[s->file];
    t->err = err;
    t->errcap = cap;
    t->off = t->len = 0;
    t->fd = open(t->f->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (t->fd < 0)
        return fail_path(err, cap, t->f->path, errno);
    int rc = check_unchanged(t);
    if (rc == 0)
        rc = read_lines(t, s);
    close(t->fd);
    if (rc == 0 && t->len == 0 && !t->buf) /* an empty text still gets its NUL */
        rc = text_reserve(t, 1);
    if (rc == 0) {
        t->buf[t->len] = '\0';
        rm_trace_count(RM_TRACE_READ, t->len - t->off);
    }
    return rc;
}

int rm_split_read(const struct rm_input_set *in, const struct rm_split *s, char **buf, size_t *len,
                  char *err, size_t cap)
{
    if (!buf || !len) {
        set_err(err, cap, "rm_split_read: NULL argument or split out of bounds");
        return RM_EINVAL;
    }
    struct text t = {0};
    int rc = read_split(in, s, &t, err, cap);
    if (rc != 0) {
        free(t.buf);
        return rc;
    }
    t.len -= t.off;
    memmove(t.buf, t.buf + t.off, t.len + 1);
    if (t.cap > t.len + 1 + SHRINK_SLACK) {
        char *p = realloc(t.buf, t.len + 1);
        t.buf = p ? p : t.buf;
    }
    *buf = t.buf;
    *len = t.len;
    return 0;
}

int rm_split_read_buf(const struct rm_input_set *in, const struct rm_split *s,
                      struct rm_split_buf *b, char **text, size_t *len, char *err, size_t cap)
{
    if (!b || !text || !len) {
        set_err(err, cap, "rm_split_read: NULL argument or split out of bounds");
        return RM_EINVAL;
    }
    struct text t = {.buf = b->buf, .cap = b->cap};
    int rc = read_split(in, s, &t, err, cap);
    b->buf = t.buf;
    b->cap = t.cap;
    if (rc != 0)
        return rc;
    *text = t.buf + t.off;
    *len = t.len - t.off;
    return 0;
}

void rm_split_buf_free(struct rm_split_buf *b)
{
    if (!b)
        return;
    free(b->buf);
    b->buf = NULL;
    b->cap = 0;
}
