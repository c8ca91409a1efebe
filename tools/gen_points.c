/*
 * gen_points.c: deterministic HDF5 input for the histogram and k-means kernels.
 *
 *   gen_points --rows N --seed S --out FILE.h5 [--dims D] [--clusters K]
 *
 * Writes two float64 datasets, chunked: /values (N) drawn from a mixture of normal
 * distributions, and /points (N x D, D = 2 by default) drawn around K (3 by default) random
 * centres in [-10, 10]^D with standard deviation 1. The same arguments give the same values on
 * every machine: splitmix64 and a Box-Muller transform in double precision. Exit status 2 on bad
 * usage, 1 on a write error.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>

static uint64_t next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double uniform(uint64_t *s) /* (0, 1] */
{
    return ((double)(next(s) >> 11) + 1.0) / 9007199254740992.0;
}

static double normal(uint64_t *s)
{
    return sqrt(-2.0 * log(uniform(s))) * cos(6.283185307179586 * uniform(s));
}

static int usage(const char *msg)
{
    fprintf(stderr,
            "gen_points: error: %s\nusage: gen_points --rows N --seed S --out FILE.h5 "
            "[--dims D] [--clusters K]\n",
            msg);
    return 2;
}

static int number(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = s ? strtoull(s, &end, 0) : 0;
    if (!s || !*s || *s == '-' || errno || *end)
        return -1;
    *out = v;
    return 0;
}

/* Writes one chunked float64 dataset of the given shape. Returns 0 or -1. */
static int write_dataset(hid_t file, const char *name, int rank, const hsize_t *dims,
                         const double *data)
{
    hsize_t chunk[2] = {dims[0] < 65536 ? (dims[0] ? dims[0] : 1) : 65536, rank > 1 ? dims[1] : 1};
    hid_t space = H5Screate_simple(rank, dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    int rc = space < 0 || dcpl < 0 || H5Pset_chunk(dcpl, rank, chunk) < 0 ? -1 : 0;
    hid_t ds = rc == 0
                   ? H5Dcreate2(file, name, H5T_IEEE_F64LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT)
                   : -1;
    if (ds < 0 || H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
        rc = -1;
    if (ds >= 0)
        H5Dclose(ds);
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (space >= 0)
        H5Sclose(space);
    return rc;
}

int main(int argc, char **argv)
{
    uint64_t rows = 0, seed = 0, dims = 2, k = 3;
    int have_rows = 0, have_seed = 0;
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--rows") && i + 1 < argc)
            have_rows = number(argv[++i], &rows) == 0;
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
            have_seed = number(argv[++i], &seed) == 0;
        else if (!strcmp(argv[i], "--dims") && i + 1 < argc) {
            if (number(argv[++i], &dims) != 0 || dims < 1 || dims > 64)
                return usage("--dims takes 1 to 64");
        } else if (!strcmp(argv[i], "--clusters") && i + 1 < argc) {
            if (number(argv[++i], &k) != 0 || k < 1 || k > 1000)
                return usage("--clusters takes 1 to 1000");
        } else if (!strcmp(argv[i], "--out") && i + 1 < argc)
            path = argv[++i];
        else
            return usage("unknown or incomplete option");
    }
    if (!have_rows || !have_seed || !path || rows > (1ull << 32))
        return usage("--rows (at most 2^32), --seed and --out are required");
    uint64_t s = seed;
    double *values = malloc((rows ? rows : 1) * sizeof *values);
    double *points = malloc((rows ? rows : 1) * dims * sizeof *points);
    double *centre = malloc(k * dims * sizeof *centre);
    if (!values || !points || !centre) {
        fprintf(stderr, "gen_points: error: out of memory\n");
        return 1;
    }
    for (uint64_t c = 0; c < k * dims; c++)
        centre[c] = 20.0 * uniform(&s) - 10.0;
    for (uint64_t i = 0; i < rows; i++) {
        values[i] = (i % 3 == 0 ? 5.0 : 0.0) + 2.0 * normal(&s);
        uint64_t c = next(&s) % k;
        for (uint64_t d = 0; d < dims; d++)
            points[i * dims + d] = centre[c * dims + d] + normal(&s);
    }
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t d1[1] = {rows}, d2[2] = {rows, dims};
    int rc = file < 0 ? -1 : 0;
    if (rc == 0)
        rc = write_dataset(file, "/values", 1, d1, values);
    if (rc == 0)
        rc = write_dataset(file, "/points", 2, d2, points);
    if (file >= 0 && H5Fclose(file) < 0)
        rc = -1;
    free(values);
    free(points);
    free(centre);
    if (rc != 0) {
        fprintf(stderr, "gen_points: error: cannot write %s\n", path);
        return 1;
    }
    return 0;
}
