/*
 * gen_records.c: deterministic TeraSort-format input for the sort kernel.
 *
 *   gen_records --records N --seed S [--skew] [--out FILE]
 *
 * Writes N records of 100 bytes: a 10-byte key of random bytes (any value 0-255), then the
 * record's number as 20 ASCII digits, then 70 filler letters. With --skew, keys come from only
 * 1,000 distinct values with Zipf-like frequencies, to exercise the sampling. The same
 * arguments give the same bytes on every machine (splitmix64, integer arithmetic only).
 * Exit status 2 on bad usage.
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

static int usage(const char *msg)
{
    fprintf(stderr,
            "gen_records: error: %s\nusage: gen_records --records N --seed S [--skew] "
            "[--out FILE]\n",
            msg);
    return 2;
}

static int parse_u64(const char *s, uint64_t *out)
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
    uint64_t n = 0, seed = 0;
    int have_n = 0, have_seed = 0, skew = 0;
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--records") && i + 1 < argc)
            have_n = parse_u64(argv[++i], &n) == 0;
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
            have_seed = parse_u64(argv[++i], &seed) == 0;
        else if (!strcmp(argv[i], "--out") && i + 1 < argc)
            path = argv[++i];
        else if (!strcmp(argv[i], "--skew"))
            skew = 1;
        else
            return usage("unknown or incomplete option");
    }
    if (!have_n || !have_seed)
        return usage("--records and --seed are required (whole numbers)");
    FILE *f = path ? fopen(path, "wb") : stdout;
    if (!f) {
        fprintf(stderr, "gen_records: error: cannot create %s: %s\n", path, strerror(errno));
        return 2;
    }
    uint64_t s = seed;
    unsigned char rec[100];
    for (uint64_t i = 0; i < n; i++) {
        uint64_t a = next(&s), b = next(&s);
        if (skew) { /* one of 1,000 keys, the low ones far more often */
            uint64_t k = (a % 1000) * (a % 1000) / 1000;
            a = next(&(uint64_t){k + 1});
            b = next(&(uint64_t){k + 7});
        }
        for (int j = 0; j < 8; j++) /* little-endian bytes, whatever the machine */
            rec[j] = (unsigned char)(a >> (8 * j));
        rec[8] = (unsigned char)b;
        rec[9] = (unsigned char)(b >> 8);
        snprintf((char *)rec + 10, 21, "%020llu", (unsigned long long)i);
        for (int j = 30; j < 100; j++)
            rec[j] = (unsigned char)('A' + (i + (uint64_t)j) % 26);
        if (fwrite(rec, 1, sizeof rec, f) != sizeof rec) {
            fprintf(stderr, "gen_records: error: write failed: %s\n", strerror(errno));
            return 1;
        }
    }
    if ((path ? fclose(f) : fflush(f)) != 0) {
        fprintf(stderr, "gen_records: error: write failed: %s\n", strerror(errno));
        return 1;
    }
    return 0;
}
