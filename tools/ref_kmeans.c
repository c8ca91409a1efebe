/*
 * ref_kmeans: the serial reference for the kmeans kernel (kernels/kmeans.c), used by the tests
 * to check the kernel's output byte for byte and by the benchmarks to time one iteration on one
 * core. Stand-alone: it shares no code with the library.
 *
 *   ref_kmeans --dataset NAME --input F.h5... [--k K] [--iterations N] [--seed S]
 *              [--split-size SIZE] [--output OUT.tsv] [--time]
 *
 * Reads the whole float64 dataset (rows x values; more than 2 dimensions are flattened per row,
 * and several files are concatenated in command-line order, as the kernel does) into memory and
 * computes what the kernel computes, in the same floating-point order, so that the TSV output is
 * identical:
 *  - the initial centroids are K distinct rows drawn by splitmix64 from the seed (row = draw
 *    modulo the row count, drawing again on a repeat);
 *  - each iteration assigns every point to the nearest centroid (squared distance summed over
 *    the values in order; a tie goes to the lower index); the sums and counts are made per row
 *    block, each from zero, and the blocks' sums are then added in block order. A block is what
 *    the kernel's h5data.c cuts: split-size / (8 x values) rows (at least 1) per block, blocks
 *    never crossing a file. A centroid becomes the mean of its points, or stays where it was
 *    if it has none;
 *  - after N iterations every point is labelled with the final centroids.
 * Defaults are the kernel's: K 8, N 10, S 1, SIZE 32M (K, M, G suffixes allowed). Output: the
 * kernel's TSV, `centroid<TAB>i<TAB>x1...` lines (%.17g), then `point<TAB>row<TAB>cluster`, to
 * OUT.tsv or standard output. --time prints one line on stderr timing the read and the
 * iteration loop alone (CLOCK_MONOTONIC; the labelling and the output are not counted).
 *
 * Memory: the whole dataset (8 bytes per value) plus 4 bytes per row for the labels.
 * HDF5 is used serially; Debian's parallel build needs no MPI_Init for that.
 * Exit status: 0; 1 on a write error (or out of memory); 2 on a usage error or an input that
 * is missing, unreadable or not a float64 dataset (one line on stderr).
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hdf5.h>

#define USAGE                                                                                      \
    "usage: ref_kmeans --dataset NAME --input F.h5... [--k K] [--iterations N] [--seed S] "        \
    "[--split-size SIZE] [--output OUT.tsv] [--time]"

struct args {
    const char *dataset, *output;
    char **inputs;
    size_t n_inputs;
    uint64_t k, iterations, seed, split_size;
    int time;
};

/* The dataset, whole: rows x cols values, and its row blocks. */
struct points {
    double *v;
    uint64_t rows, cols;
    uint64_t *block_first; /* m + 1 entries: block b is rows [block_first[b], block_first[b+1]) */
    size_t m;
};

static int usage(const char *msg)
{
    fprintf(stderr, "ref_kmeans: %s\n", msg);
    return 2;
}

static void die_oom(void)
{
    fputs("ref_kmeans: out of memory\n", stderr);
    exit(1);
}

/* A whole decimal number; with `size`, an optional K, M or G suffix. 0 or -1. */
static int parse_number(const char *s, int size, uint64_t *out)
{
    if (!s || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0)
        return -1;
    unsigned shift = 0;
    if (size && (*end == 'K' || *end == 'k'))
        shift = 10;
    else if (size && (*end == 'M' || *end == 'm'))
        shift = 20;
    else if (size && (*end == 'G' || *end == 'g'))
        shift = 30;
    if (shift)
        end++;
    if (*end != '\0' || (shift && v > (UINT64_MAX >> shift)))
        return -1;
    *out = (uint64_t)v << shift;
    return 0;
}

/* Parses a whole number option value in [min, max] (a size with K, M, G if `size`). 0 or 2. */
static int number_option(const char *name, const char *v, int size, uint64_t min, uint64_t max,
                         uint64_t *out)
{
    uint64_t n;
    if (parse_number(v, size, &n) == 0 && n >= min && n <= max) {
        *out = n;
        return 0;
    }
    if (size)
        fprintf(stderr,
                "ref_kmeans: option %s: '%s' is not a size from 1 to 1T (K, M and G "
                "allowed)\n",
                name, v);
    else
        fprintf(stderr, "ref_kmeans: option %s: '%s' is not a whole number from %llu to %llu\n",
                name, v, (unsigned long long)min, (unsigned long long)max);
    return 2;
}

/* Parses the command line; returns 0, or the exit status (2, or -1 for a --help that was
 * printed). */
static int parse_args(int argc, char **argv, struct args *a)
{
    *a = (struct args){.k = 8, .iterations = 10, .seed = 1, .split_size = 32u << 20};
    static const char *const valued[] = {"--dataset", "--output",     "--k",
                                         "--seed",    "--iterations", "--split-size"};
    for (int i = 1; i < argc; i++) {
        const char *name = argv[i];
        if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
            puts(USAGE "\nThe serial reference of `ringmaster run kmeans`: the same TSV output.");
            return -1;
        }
        if (strcmp(name, "--time") == 0) {
            a->time = 1;
            continue;
        }
        if (strcmp(name, "--input") == 0) {
            int j = i + 1;
            while (j < argc && strncmp(argv[j], "--", 2) != 0)
                j++;
            if (j == i + 1)
                return usage("option --input needs at least one file");
            a->inputs = argv + i + 1;
            a->n_inputs = (size_t)(j - i - 1);
            i = j - 1;
            continue;
        }
        int known = 0;
        for (size_t k = 0; k < sizeof valued / sizeof *valued; k++)
            known |= strcmp(name, valued[k]) == 0;
        if (!known) {
            fprintf(stderr, "ref_kmeans: unknown argument '%s' (" USAGE ")\n", name);
            return 2;
        }
        const char *v = argv[++i];
        if (!v || !*v) {
            fprintf(stderr, "ref_kmeans: option %s needs a value\n", name);
            return 2;
        }
        int rc = 0;
        if (strcmp(name, "--dataset") == 0)
            a->dataset = v;
        else if (strcmp(name, "--output") == 0)
            a->output = v;
        else if (strcmp(name, "--k") == 0)
            rc = number_option(name, v, 0, 1, 10000, &a->k);
        else if (strcmp(name, "--iterations") == 0)
            rc = number_option(name, v, 0, 1, 1000, &a->iterations);
        else if (strcmp(name, "--seed") == 0)
            rc = number_option(name, v, 0, 0, UINT64_MAX, &a->seed);
        else
            rc = number_option(name, v, 1, 1, 1ull << 40, &a->split_size);
        if (rc != 0)
            return rc;
    }
    if (!a->dataset || !a->inputs)
        return usage("--dataset and --input are required (" USAGE ")");
    size_t ol = a->output ? strlen(a->output) : 0;
    if (ol >= 3 && strcmp(a->output + ol - 3, ".h5") == 0)
        return usage("--output: only TSV output is written (not .h5)");
    return 0;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- reading ----------------------------------------------------------------------------------
 */

/* Opens path's dataset and checks it: float64, 2 dimensions or more. Fills *file, the row
 * count and the values per row. Returns the dataset, or exits 2 with one line. */
static hid_t open_input(const char *path, const char *name, hid_t *file, uint64_t *rows,
                        uint64_t *cols)
{
    FILE *probe = fopen(path, "rb"); /* for errno: HDF5 does not say why a file will not open */
    if (!probe) {
        fprintf(stderr, "ref_kmeans: cannot read %s: %s\n", path, strerror(errno));
        exit(2);
    }
    fclose(probe);
    *file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (*file < 0) {
        fprintf(stderr, "ref_kmeans: --input %s is not an HDF5 file\n", path);
        exit(2);
    }
    hid_t ds = H5Dopen2(*file, name, H5P_DEFAULT);
    hid_t fs = ds >= 0 ? H5Dget_space(ds) : -1, ty = ds >= 0 ? H5Dget_type(ds) : -1;
    int rank = fs >= 0 ? H5Sget_simple_extent_ndims(fs) : -1;
    hsize_t dims[H5S_MAX_RANK];
    if (rank >= 1 && rank <= H5S_MAX_RANK && H5Sget_simple_extent_dims(fs, dims, NULL) != rank)
        rank = -1;
    int f64 = ty >= 0 && H5Tget_class(ty) == H5T_FLOAT && H5Tget_size(ty) == 8;
    if (ty >= 0)
        H5Tclose(ty);
    if (fs >= 0)
        H5Sclose(fs);
    if (ds < 0 || rank < 1 || !f64) {
        fprintf(stderr, "ref_kmeans: --input %s has no float64 dataset '%s'\n", path, name);
        exit(2);
    }
    if (rank < 2) {
        fprintf(stderr,
                "ref_kmeans: --input %s: dataset '%s' must have 2 dimensions (rows, values)\n",
                path, name);
        exit(2);
    }
    *rows = dims[0];
    *cols = 1;
    for (int k = 1; k < rank; k++)
        *cols *= dims[k];
    return ds;
}

/* Reads every input's dataset into p and cuts the blocks. Exits 2 on a bad input. */
static void read_points(const struct args *a, struct points *p)
{
    size_t cap_v = 0, cap_b = 0;
    *p = (struct points){0};
    for (size_t i = 0; i < a->n_inputs; i++) {
        const char *path = a->inputs[i];
        hid_t f;
        uint64_t rows, cols;
        hid_t ds = open_input(path, a->dataset, &f, &rows, &cols);
        if (i > 0 && cols != p->cols) {
            fprintf(stderr,
                    "ref_kmeans: --input %s: dataset '%s' rows hold %llu values, not %llu as in "
                    "the first file\n",
                    path, a->dataset, (unsigned long long)cols, (unsigned long long)p->cols);
            exit(2);
        }
        if (cols == 0) {
            fprintf(stderr, "ref_kmeans: --input %s: dataset '%s' rows hold no values\n", path,
                    a->dataset);
            exit(2);
        }
        p->cols = cols;
        if (rows > (SIZE_MAX / 8 - p->rows * cols) / cols)
            die_oom();
        size_t need = (size_t)((p->rows + rows) * cols);
        if (need > cap_v) {
            cap_v = need;
            p->v = realloc(p->v, (cap_v ? cap_v : 1) * sizeof *p->v);
            if (!p->v)
                die_oom();
        }
        if (rows > 0 && H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                                p->v + p->rows * cols) < 0) {
            fprintf(stderr, "ref_kmeans: cannot read %s:%s\n", path, a->dataset);
            exit(2);
        }
        H5Dclose(ds);
        H5Fclose(f);
        /* The kernel's blocks: `per` rows each, the last of a file shorter. */
        uint64_t per = a->split_size / (8 * cols);
        per = per ? per : 1;
        for (uint64_t r = 0; r < rows; r += per) {
            if (p->m + 2 > cap_b) {
                cap_b = cap_b ? 2 * cap_b : 64;
                p->block_first = realloc(p->block_first, cap_b * sizeof *p->block_first);
                if (!p->block_first)
                    die_oom();
            }
            p->block_first[p->m++] = p->rows + r;
        }
        p->rows += rows;
    }
    if (!p->block_first && !(p->block_first = malloc(sizeof *p->block_first)))
        die_oom();
    p->block_first[p->m] = p->rows;
}

/* ---- k-means ----------------------------------------------------------------------------------
 */

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* K distinct rows drawn from the seed, copied into c (k x cols). */
static void pick_initial(const struct points *p, uint64_t k, uint64_t seed, double *c)
{
    uint64_t *rows = malloc(k * sizeof *rows), s = seed;
    if (!rows)
        die_oom();
    for (uint64_t j = 0; j < k; j++) {
        int again;
        do {
            rows[j] = splitmix(&s) % p->rows;
            again = 0;
            for (uint64_t i = 0; i < j; i++)
                again |= rows[i] == rows[j];
        } while (again);
        memcpy(c + j * p->cols, p->v + rows[j] * p->cols, p->cols * sizeof *c);
    }
    free(rows);
}

/* The nearest centroid to pt: squared distance, the lower index on a tie. */
static uint32_t nearest(const double *pt, const double *c, uint64_t k, uint64_t cols)
{
    uint32_t best = 0;
    double bd = INFINITY;
    for (uint64_t j = 0; j < k; j++) {
        double dist = 0;
        for (uint64_t x = 0; x < cols; x++) {
            double t = pt[x] - c[j * cols + x];
            dist += t * t;
        }
        if (dist < bd) {
            bd = dist;
            best = (uint32_t)j;
        }
    }
    return best;
}

/* One iteration: c becomes the means of its points, summed per block then in block order.
 * part and total are k x (cols + 1) scratch arrays. */
static void iterate(const struct points *p, uint64_t k, double *c, double *part, double *total)
{
    uint64_t d = p->cols, w = d + 1;
    memset(total, 0, k * w * sizeof *total);
    for (size_t b = 0; b < p->m; b++) {
        memset(part, 0, k * w * sizeof *part);
        for (uint64_t r = p->block_first[b]; r < p->block_first[b + 1]; r++) {
            const double *pt = p->v + r * d;
            uint32_t j = nearest(pt, c, k, d);
            for (uint64_t x = 0; x < d; x++)
                part[j * w + x] += pt[x];
            part[j * w + d] += 1;
        }
        for (uint64_t i = 0; i < k * w; i++)
            total[i] += part[i];
    }
    for (uint64_t j = 0; j < k; j++) {
        double n = total[j * w + d];
        if (n > 0)
            for (uint64_t x = 0; x < d; x++)
                c[j * d + x] = total[j * w + x] / n;
    }
}

/* ---- output -----------------------------------------------------------------------------------
 */

/* Writes the kernel's TSV to f. 0, or -1 on a write error. */
static int write_tsv(FILE *f, const struct points *p, uint64_t k, const double *c,
                     const uint32_t *labels)
{
    for (uint64_t j = 0; j < k; j++) {
        if (fprintf(f, "centroid\t%llu", (unsigned long long)j) < 0)
            return -1;
        for (uint64_t x = 0; x < p->cols; x++)
            if (fprintf(f, "\t%.17g", c[j * p->cols + x]) < 0)
                return -1;
        if (fputc('\n', f) == EOF)
            return -1;
    }
    for (uint64_t r = 0; r < p->rows; r++)
        if (fprintf(f, "point\t%llu\t%u\n", (unsigned long long)r, labels[r]) < 0)
            return -1;
    return 0;
}

int main(int argc, char **argv)
{
    struct args a;
    int rc = parse_args(argc, argv, &a);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* errors are reported here, once */

    double t0 = now();
    struct points p;
    read_points(&a, &p);
    double t_read = now() - t0;
    if (p.rows < a.k) {
        fprintf(stderr, "ref_kmeans: --k %llu but the dataset has only %llu rows\n",
                (unsigned long long)a.k, (unsigned long long)p.rows);
        return 2;
    }

    uint64_t kd = a.k * p.cols, kw = a.k * (p.cols + 1);
    double *c = malloc(kd * sizeof *c), *part = malloc(kw * sizeof *part),
           *total = malloc(kw * sizeof *total);
    uint32_t *labels = malloc((p.rows ? p.rows : 1) * sizeof *labels);
    if (!c || !part || !total || !labels)
        die_oom();
    pick_initial(&p, a.k, a.seed, c);

    double t1 = now();
    for (uint64_t it = 0; it < a.iterations; it++)
        iterate(&p, a.k, c, part, total);
    double t_iter = now() - t1;
    for (uint64_t r = 0; r < p.rows; r++)
        labels[r] = nearest(p.v + r * p.cols, c, a.k, p.cols);

    FILE *f = a.output ? fopen(a.output, "w") : stdout;
    const char *name = a.output ? a.output : "standard output";
    int werr = !f;
    if (f) {
        static char buf[1 << 16];
        setvbuf(f, buf, _IOFBF, sizeof buf);
        werr = write_tsv(f, &p, a.k, c, labels) != 0;
        werr |= fflush(f) != 0 || ferror(f);
        if (f != stdout)
            werr |= fclose(f) != 0;
    }
    if (werr)
        fprintf(stderr, "ref_kmeans: cannot write %s: %s\n", name, strerror(errno));
    if (a.time)
        fprintf(stderr,
                "ref_kmeans: read %.6f s, %llu iterations in %.6f s (%.6f s per iteration)\n",
                t_read, (unsigned long long)a.iterations, t_iter, t_iter / (double)a.iterations);
    free(c);
    free(part);
    free(total);
    free(labels);
    free(p.v);
    free(p.block_first);
    return werr ? 1 : 0;
}
