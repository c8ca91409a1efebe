/*
 * ref_pagerank: the serial reference for the pagerank kernel (kernels/pagerank.c), used by the
 * tests to check the kernel's ranks and by the benchmarks to time one iteration on one core.
 * Stand-alone: it shares no code with the library.
 *
 *   ref_pagerank --input EDGES... [--iterations N] [--damping D] [--output OUT.tsv] [--time]
 *
 * The graph is the kernel's: one `src dst` edge per line (unsigned integers, then nothing but
 * blanks); blank lines and lines starting with # (after leading blanks) are skipped; every
 * vertex named on a line is in the graph; a repeated edge counts as often as it appears. An
 * input that is a directory means every regular file below it (symbolic links to directories
 * inside it are not followed), and a file met twice is read once, as the kernel's input
 * expansion does. With V vertices every rank starts at 1/V and each of the N iterations gives
 *     r'(v) = (1 - D) / V + D * (sum over edges u->v of r(u) / outdeg(u) + dangling / V),
 * dangling being the rank held by the vertices without out-edges. Defaults are the kernel's:
 * N 10, D 0.85. Output: `vertex<TAB>rank` lines (%.17g) sorted by vertex, to OUT.tsv or standard
 * output. The sums are made in another order than the kernel's, so ranks agree to rounding
 * (about 1e-15 relative), not bit for bit. --time prints one line on stderr timing the read
 * (parsing and building the graph) and the iteration loop alone (CLOCK_MONOTONIC).
 *
 * Memory: about 60 bytes per edge while building, then 40 bytes per vertex and 8 per edge.
 * Exit status: 0; 1 on a write error (or out of memory); 2 on a usage error, or an input that
 * is missing, unreadable or holds a line that is not an edge (one line on stderr).
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define USAGE                                                                                      \
    "usage: ref_pagerank --input EDGES... [--iterations N] [--damping D] [--output OUT.tsv] "      \
    "[--time]"

static void die_oom(void)
{
    fputs("ref_pagerank: out of memory\n", stderr);
    exit(1);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A growable array of u64. */
struct u64s {
    uint64_t *v;
    size_t n, cap;
};

static void u64_push(struct u64s *a, uint64_t x)
{
    if (a->n == a->cap) {
        a->cap = a->cap ? 2 * a->cap : 4096;
        a->v = realloc(a->v, a->cap * sizeof *a->v);
        if (!a->v)
            die_oom();
    }
    a->v[a->n++] = x;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* ---- inputs ------------------------------------------------------------------------------- */

struct file {
    char *path;
    dev_t dev;
    ino_t ino;
};

struct files {
    struct file *f;
    size_t n, cap;
};

static int by_path(const void *a, const void *b)
{
    return strcmp(((const struct file *)a)->path, ((const struct file *)b)->path);
}

/* Adds path (a regular file, st its stat); with `once`, unless that file is already there. */
static void add_file(struct files *fs, const char *path, const struct stat *st, int once)
{
    for (size_t i = 0; once && i < fs->n; i++)
        if (fs->f[i].dev == st->st_dev && fs->f[i].ino == st->st_ino)
            return;
    if (fs->n == fs->cap) {
        fs->cap = fs->cap ? 2 * fs->cap : 16;
        fs->f = realloc(fs->f, fs->cap * sizeof *fs->f);
        if (!fs->f)
            die_oom();
    }
    char *copy = strdup(path);
    if (!copy)
        die_oom();
    fs->f[fs->n++] = (struct file){copy, st->st_dev, st->st_ino};
}

/* Every regular file below dir (links to files followed, links to directories not) into
 * found, unsorted. Exits 2 if a directory cannot be read. */
static void walk(const char *dir, struct files *found)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "ref_pagerank: cannot read directory %s: %s\n", dir, strerror(errno));
        exit(2);
    }
    size_t dl = strlen(dir);
    int slash = dl > 0 && dir[dl - 1] == '/';
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        size_t n = dl + strlen(e->d_name) + 2;
        char *p = malloc(n);
        if (!p)
            die_oom();
        snprintf(p, n, "%s%s%s", dir, slash ? "" : "/", e->d_name);
        struct stat lst, st;
        if (lstat(p, &lst) == 0 && S_ISDIR(lst.st_mode))
            walk(p, found);
        else if (stat(p, &st) == 0 && S_ISREG(st.st_mode))
            add_file(found, p, &st, 0); /* duplicates go once sorted */
        free(p);
    }
    closedir(d);
}

/* Adds a command-line input: a regular file, or the files below a directory sorted by path.
 * Exits 2 on a missing input or one of another kind. */
static void add_input(struct files *fs, const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "ref_pagerank: cannot read %s: %s\n", path, strerror(errno));
        exit(2);
    }
    if (S_ISREG(st.st_mode)) {
        add_file(fs, path, &st, 1);
    } else if (S_ISDIR(st.st_mode)) {
        struct files below = {0};
        walk(path, &below);
        qsort(below.f, below.n, sizeof *below.f, by_path);
        for (size_t i = 0; i < below.n; i++) {
            struct stat s = {.st_dev = below.f[i].dev, .st_ino = below.f[i].ino};
            add_file(fs, below.f[i].path, &s, 1);
            free(below.f[i].path);
        }
        free(below.f);
    } else {
        fprintf(stderr, "ref_pagerank: %s is not a regular file or directory\n", path);
        exit(2);
    }
}

/* Reads a whole file, NUL-terminated. Exits 2 if it cannot be read. */
static char *read_whole(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    size_t cap = 1 << 16, n = 0;
    char *buf = f ? malloc(cap + 1) : NULL;
    while (f && buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap)
            break;
        cap *= 2;
        buf = realloc(buf, cap + 1);
    }
    if (f && !buf)
        die_oom();
    if (!f || ferror(f)) {
        fprintf(stderr, "ref_pagerank: cannot read %s: %s\n", path, strerror(errno));
        exit(2);
    }
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* Appends the edges of text (path's contents, modified in place) to src and dst. Exits 2 on a
 * line that is not `src dst`, naming it as the kernel does. */
static void parse_edges(const char *path, char *text, size_t len, struct u64s *src,
                        struct u64s *dst)
{
    for (char *line = text, *next; line < text + len; line = next) {
        char *nl = memchr(line, '\n', (size_t)(text + len - line));
        next = nl ? nl + 1 : text + len;
        if (nl)
            *nl = '\0';
        char *s = line + strspn(line, " \t\r");
        if (*s == '\0' || *s == '#')
            continue;
        unsigned long long a, b;
        int used = 0;
        if (sscanf(s, "%llu %llu %n", &a, &b, &used) != 2 || s[used] != '\0' || s[0] == '-' ||
            a == UINT64_MAX || b == UINT64_MAX) {
            fprintf(stderr, "ref_pagerank: %s: not a 'src dst' line: '%.60s'\n", path, s);
            exit(2);
        }
        u64_push(src, a);
        u64_push(dst, b);
    }
}

/* ---- the graph ------------------------------------------------------------------------------ */

/* Vertices 0..nv-1 (ids sorted), their out-degrees, and their in-edges by source index:
 * the sources of vertex v's in-edges are in_src[in_first[v] .. in_first[v + 1]). */
struct graph {
    uint64_t *id;
    size_t nv;
    uint64_t *outdeg;
    size_t *in_first, *in_src;
};

static size_t index_of(const struct graph *g, uint64_t v)
{
    size_t lo = 0, hi = g->nv;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (g->id[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo; /* v is always there */
}

/* Builds g from the edges (src and dst are freed). */
static void build(struct u64s *src, struct u64s *dst, struct graph *g)
{
    size_t ne = src->n;
    g->id = malloc((2 * ne + 1) * sizeof *g->id);
    if (!g->id)
        die_oom();
    if (ne > 0) {
        memcpy(g->id, src->v, ne * sizeof *g->id);
        memcpy(g->id + ne, dst->v, ne * sizeof *g->id);
        qsort(g->id, 2 * ne, sizeof *g->id, cmp_u64);
    }
    g->nv = 0;
    for (size_t i = 0; i < 2 * ne; i++)
        if (g->nv == 0 || g->id[g->nv - 1] != g->id[i])
            g->id[g->nv++] = g->id[i];
    g->outdeg = calloc(g->nv + 1, sizeof *g->outdeg);
    g->in_first = calloc(g->nv + 2, sizeof *g->in_first);
    g->in_src = malloc((ne + 1) * sizeof *g->in_src);
    if (!g->outdeg || !g->in_first || !g->in_src)
        die_oom();
    for (size_t e = 0; e < ne; e++) { /* indices in place of ids */
        src->v[e] = index_of(g, src->v[e]);
        dst->v[e] = index_of(g, dst->v[e]);
        g->outdeg[src->v[e]]++;
        g->in_first[dst->v[e] + 2]++;
    }
    for (size_t v = 0; v < g->nv; v++) /* counting sort of the edges by destination */
        g->in_first[v + 2] += g->in_first[v + 1];
    for (size_t e = 0; e < ne; e++)
        g->in_src[g->in_first[dst->v[e] + 1]++] = (size_t)src->v[e];
    free(src->v);
    free(dst->v);
}

/* N iterations from 1/V; the ranks end in *rank. */
static void iterate(const struct graph *g, uint64_t iterations, double d, double **rank)
{
    size_t nv = g->nv;
    double *r = *rank, *next = malloc((nv + 1) * sizeof *next),
           *share = malloc((nv + 1) * sizeof *share);
    if (!next || !share)
        die_oom();
    for (size_t v = 0; v < nv; v++)
        r[v] = 1.0 / (double)nv;
    for (uint64_t it = 0; it < iterations; it++) {
        double dangling = 0;
        for (size_t u = 0; u < nv; u++) {
            share[u] = g->outdeg[u] ? r[u] / (double)g->outdeg[u] : 0;
            if (g->outdeg[u] == 0)
                dangling += r[u];
        }
        for (size_t v = 0; v < nv; v++) {
            double in = 0;
            for (size_t e = g->in_first[v]; e < g->in_first[v + 1]; e++)
                in += share[g->in_src[e]];
            next[v] = (1.0 - d) / (double)nv + d * (in + dangling / (double)nv);
        }
        double *t = r;
        r = next;
        next = t;
    }
    *rank = r;
    free(next);
    free(share);
}

/* ---- main ----------------------------------------------------------------------------------- */

static int parse_args(int argc, char **argv, struct files *fs, uint64_t *iterations, double *d,
                      const char **output, int *timing)
{
    int have_input = 0;
    for (int i = 1; i < argc; i++) {
        const char *name = argv[i], *v = argv[i + 1];
        if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
            puts(USAGE "\nThe serial reference of `ringmaster run pagerank`: vertex<TAB>rank.");
            return -1;
        }
        if (strcmp(name, "--time") == 0) {
            *timing = 1;
        } else if (strcmp(name, "--input") == 0) {
            if (i + 1 == argc || strncmp(argv[i + 1], "--", 2) == 0) {
                fputs("ref_pagerank: option --input needs at least one path\n", stderr);
                return 2;
            }
            for (; i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0; i++)
                have_input = 1;
        } else if (strcmp(name, "--output") == 0 || strcmp(name, "--iterations") == 0 ||
                   strcmp(name, "--damping") == 0) {
            i++;
            char *end = NULL;
            errno = 0;
            if (!v || !*v) {
                fprintf(stderr, "ref_pagerank: option %s needs a value\n", name);
                return 2;
            } else if (name[2] == 'o') {
                *output = v;
            } else if (name[2] == 'i') {
                unsigned long long n = strtoull(v, &end, 10);
                if (*v < '0' || *v > '9' || *end || errno || n < 1 || n > 1000) {
                    fprintf(stderr,
                            "ref_pagerank: option --iterations: '%s' is not a whole number from "
                            "1 to 1000\n",
                            v);
                    return 2;
                }
                *iterations = n;
            } else {
                *d = strtod(v, &end);
                if (end == v || *end || !(*d >= 0 && *d < 1)) {
                    fprintf(stderr,
                            "ref_pagerank: option --damping: '%s' is not a number from 0 to "
                            "below 1\n",
                            v);
                    return 2;
                }
            }
        } else {
            fprintf(stderr, "ref_pagerank: unknown argument '%s' (" USAGE ")\n", name);
            return 2;
        }
    }
    if (!have_input) {
        fputs("ref_pagerank: --input is required (" USAGE ")\n", stderr);
        return 2;
    }
    /* the inputs, checked only once the whole command line is */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--input") == 0) {
            for (; i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0; i++)
                add_input(fs, argv[i + 1]);
        } else if (strcmp(argv[i], "--time") != 0) {
            i++; /* an option's value */
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct files fs = {0};
    uint64_t iterations = 10;
    double damping = 0.85;
    const char *output = NULL;
    int timing = 0;
    int rc = parse_args(argc, argv, &fs, &iterations, &damping, &output, &timing);
    if (rc != 0)
        return rc < 0 ? 0 : rc;

    double t0 = now();
    struct u64s src = {0}, dst = {0};
    for (size_t i = 0; i < fs.n; i++) {
        size_t len;
        char *text = read_whole(fs.f[i].path, &len);
        parse_edges(fs.f[i].path, text, len, &src, &dst);
        free(text);
        free(fs.f[i].path);
    }
    free(fs.f);
    struct graph g;
    build(&src, &dst, &g);
    double *rank = malloc((g.nv + 1) * sizeof *rank);
    if (!rank)
        die_oom();
    double t_read = now() - t0;

    double t1 = now();
    iterate(&g, iterations, damping, &rank);
    double t_iter = now() - t1;

    FILE *f = output ? fopen(output, "w") : stdout;
    int werr = !f;
    if (f) {
        static char buf[1 << 16];
        setvbuf(f, buf, _IOFBF, sizeof buf);
        for (size_t v = 0; !werr && v < g.nv; v++)
            werr = fprintf(f, "%" PRIu64 "\t%.17g\n", g.id[v], rank[v]) < 0;
        werr |= fflush(f) != 0 || ferror(f);
        if (f != stdout)
            werr |= fclose(f) != 0;
    }
    if (werr)
        fprintf(stderr, "ref_pagerank: cannot write %s: %s\n", output ? output : "standard output",
                strerror(errno));
    if (timing)
        fprintf(stderr,
                "ref_pagerank: read %.6f s, %" PRIu64 " iterations in %.6f s (%.6f s per "
                "iteration)\n",
                t_read, iterations, t_iter, t_iter / (double)iterations);
    free(rank);
    free(g.id);
    free(g.outdeg);
    free(g.in_first);
    free(g.in_src);
    return werr ? 1 : 0;
}
