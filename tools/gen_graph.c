/*
 * gen_graph.c: a deterministic edge list for the pagerank kernel.
 *
 *   gen_graph --vertices V --edges E --seed S [--out FILE]
 *
 * Writes E lines `src dst`: sources uniform over [0, V), destinations skewed towards low ids
 * (the square of a uniform draw), as in web graphs where a few pages get most links; every
 * 50th source links nowhere else, so some vertices are dangling. The same arguments give the
 * same bytes on every machine (splitmix64, integer arithmetic). Exit status 2 on bad usage.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
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

int main(int argc, char **argv)
{
    uint64_t v = 0, e = 0, seed = 0;
    int ok = 0;
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--vertices") && i + 1 < argc)
            ok |= number(argv[++i], &v) == 0 ? 1 : 0;
        else if (!strcmp(argv[i], "--edges") && i + 1 < argc)
            ok |= number(argv[++i], &e) == 0 ? 2 : 0;
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
            ok |= number(argv[++i], &seed) == 0 ? 4 : 0;
        else if (!strcmp(argv[i], "--out") && i + 1 < argc)
            path = argv[++i];
        else
            ok = -8;
    }
    if (ok != 7 || v == 0 || v > (1ull << 32)) {
        fprintf(stderr, "gen_graph: error: usage: gen_graph --vertices V (1 to 2^32) --edges E "
                        "--seed S [--out FILE]\n");
        return 2;
    }
    FILE *f = path ? fopen(path, "w") : stdout;
    if (!f) {
        fprintf(stderr, "gen_graph: error: cannot create %s: %s\n", path, strerror(errno));
        return 2;
    }
    uint64_t s = seed;
    for (uint64_t i = 0; i < e; i++) {
        uint64_t src = next(&s) % v;
        if (src % 50 == 0)
            src = (src + 1) % v; /* multiples of 50 never link out: dangling */
        uint64_t u = next(&s) >> 32, dst = (u * u >> 32) * v >> 32;
        if (fprintf(f, "%llu %llu\n", (unsigned long long)src, (unsigned long long)dst) < 0) {
            fprintf(stderr, "gen_graph: error: write failed: %s\n", strerror(errno));
            return 1;
        }
    }
    if ((path ? fclose(f) : fflush(f)) != 0) {
        fprintf(stderr, "gen_graph: error: write failed: %s\n", strerror(errno));
        return 1;
    }
    return 0;
}
