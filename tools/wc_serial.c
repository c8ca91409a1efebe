/*
 * wc_serial: the wordcount kernel's compute (kernels/wordcount.c) run in one process, without
 * MPI, through the same steps the engine takes, so that its output can be compared with
 * ref_wordcount's and its speed measured.
 *
 *   wc_serial [--case-sensitive] [--split-size N] [--parts P] [--bench] FILE...
 *
 * Each file is read a split of about N bytes at a time (ending after its last non-letter, so
 * no word is cut); each split is mapped into its own table and encoded into P shuffle buffers;
 * reducer p decodes buffer p of every split; the reducers' tables are merged, sorted and
 * written as TSV to standard output. --bench prints the time and MB/s of each phase to stderr.
 * Defaults: --split-size 32M, --parts 4.
 *
 * Exit status: 0; 1 on an error in the kernel or a write error; 2 on a usage error or an
 * unreadable file.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/wordcount.h"

struct job {
    bool case_sensitive, bench;
    uint64_t split;
    uint32_t parts;
    struct rm_wc *reducers;
    double map_s, shuffle_s;
    uint64_t bytes;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int fail(const char *what, int rc)
{
    fprintf(stderr, "wc_serial: %s: %s\n", what, rm_strerror(rc));
    return 1;
}

static bool is_letter(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* Maps one split and shuffles it to the reducers. Returns 0 or an RM_E* code. */
static int map_split(struct job *j, const char *text, size_t len)
{
    struct rm_wc t;
    unsigned char **bufs = calloc(j->parts, sizeof *bufs);
    size_t *lens = calloc(j->parts, sizeof *lens);
    int rc = (!bufs || !lens) ? RM_ENOMEM : rm_wc_init(&t);
    if (rc < 0)
        goto out;
    double t0 = now_s();
    rc = rm_wc_map(&t, text, len, j->case_sensitive);
    double t1 = now_s();
    if (rc == 0)
        rc = rm_wc_encode(&t, j->parts, bufs, lens);
    for (uint32_t p = 0; rc == 0 && p < j->parts; p++)
        rc = rm_wc_decode_into(&j->reducers[p], bufs[p], lens[p]);
    for (uint32_t p = 0; p < j->parts; p++)
        free(bufs[p]);
    j->map_s += t1 - t0;
    j->shuffle_s += now_s() - t1;
    rm_wc_free(&t);
out:
    free(bufs);
    free(lens);
    return rc;
}

/* Maps every split of one file, reading it a split at a time: a split ends after its last
 * non-letter, and the word running past it starts the next one. Returns 0, 1 (kernel error,
 * printed) or 2 (unreadable). */
static int map_file(struct job *j, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "wc_serial: cannot open %s: %s\n", path, strerror(errno));
        return 2;
    }
    size_t cap = j->split, carry = 0;
    char *buf = malloc(cap);
    int rc = buf ? 0 : RM_ENOMEM;
    while (rc == 0) {
        if (carry == cap) { /* one word fills the buffer: make room */
            char *bigger = realloc(buf, cap *= 2);
            if (!bigger) {
                rc = RM_ENOMEM;
                break;
            }
            buf = bigger;
        }
        size_t got = fread(buf + carry, 1, cap - carry, f), n = carry + got;
        j->bytes += got;
        bool eof = got < cap - carry;
        if (eof && ferror(f)) {
            fclose(f);
            free(buf);
            fprintf(stderr, "wc_serial: cannot read %s\n", path);
            return 2;
        }
        size_t cut = n;
        while (!eof && cut > 0 && is_letter(buf[cut - 1]))
            cut--;
        if (cut > 0)
            rc = map_split(j, buf, cut);
        carry = n - cut;
        memmove(buf, buf + cut, carry);
        if (eof)
            break;
    }
    fclose(f);
    free(buf);
    return rc < 0 ? fail(path, rc) : 0;
}

/* Merges the reducers, sorts and writes the TSV. Returns 0 or an RM_E* code. */
static int write_output(struct job *j)
{
    struct rm_wc all;
    int rc = rm_wc_init(&all);
    for (uint32_t p = 0; rc == 0 && p < j->parts; p++) {
        struct rm_wc_entry *e;
        size_t n;
        rc = rm_wc_sorted(&j->reducers[p], &e, &n);
        for (size_t i = 0; rc == 0 && i < n; i++)
            rc = rm_wc_add(&all, e[i].word, e[i].len, e[i].count);
        free(e);
    }
    struct rm_wc_entry *e = NULL;
    size_t n = 0;
    if (rc == 0)
        rc = rm_wc_sorted(&all, &e, &n);
    if (rc == 0)
        rc = rm_wc_write_tsv(e, n, stdout);
    free(e);
    rm_wc_free(&all);
    return rc;
}

static int usage(const char *why)
{
    fprintf(stderr,
            "wc_serial: %s\nusage: wc_serial [--case-sensitive] [--split-size N] "
            "[--parts P] [--bench] FILE...\n",
            why);
    return 2;
}

/* Parses the options; returns the index of the first file, or -1 after printing why. */
static int parse_args(int argc, char **argv, struct job *j)
{
    int i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        char *end = NULL;
        if (strcmp(argv[i], "--case-sensitive") == 0)
            j->case_sensitive = true;
        else if (strcmp(argv[i], "--bench") == 0)
            j->bench = true;
        else if (strcmp(argv[i], "--split-size") == 0 && i + 1 < argc)
            j->split = strtoull(argv[++i], &end, 10);
        else if (strcmp(argv[i], "--parts") == 0 && i + 1 < argc)
            j->parts = (uint32_t)strtoul(argv[++i], &end, 10);
        else
            return usage("unknown option or missing value"), -1;
        if (end && (*end != '\0' || j->split == 0 || j->parts == 0 || j->parts > 4096))
            return usage("--split-size wants N >= 1, --parts 1..4096"), -1;
    }
    if (i == argc)
        return usage("no input files"), -1;
    return i;
}

int main(int argc, char **argv)
{
    struct job j = {.split = 32u << 20, .parts = 4};
    int first = parse_args(argc, argv, &j);
    if (first < 0)
        return 2;
    j.reducers = calloc(j.parts, sizeof *j.reducers);
    for (uint32_t p = 0; j.reducers && p < j.parts; p++)
        if (rm_wc_init(&j.reducers[p]) < 0)
            return fail("init", RM_ENOMEM);
    if (!j.reducers)
        return fail("init", RM_ENOMEM);
    int rc = 0;
    for (int i = first; i < argc && rc == 0; i++)
        rc = map_file(&j, argv[i]);
    double t0 = now_s();
    if (rc == 0 && (rc = write_output(&j)) < 0)
        rc = fail("output", rc);
    if (rc == 0 && j.bench)
        fprintf(stderr,
                "wc_serial: %.1f MB: map %.3f s (%.0f MB/s), shuffle %.3f s, "
                "sort+write %.3f s\n",
                (double)j.bytes / 1e6, j.map_s, (double)j.bytes / 1e6 / j.map_s, j.shuffle_s,
                now_s() - t0);
    for (uint32_t p = 0; p < j.parts; p++)
        rm_wc_free(&j.reducers[p]);
    free(j.reducers);
    return rc;
}
