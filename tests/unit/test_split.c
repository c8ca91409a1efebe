/* test_split.c: the input splitter. Random files cut at many split sizes read back byte for
 * byte, each split holding exactly the lines that start in it (checked against line starts
 * computed independently); fixed edge cases; directory expansion order, symlinks, duplicates
 * and errors; empty inputs; data keys and their hashes; files changed after listing; reads
 * bounded by the split, not the file. Real files in a scratch directory, no MPI. */
#include <CUnit/Basic.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>

#include "ringmaster.h"
#include "scheduler/split.h"

static char g_dir[] = "/tmp/rm_split_XXXXXX";

static int suite_init(void)
{
    return mkdtemp(g_dir) ? 0 : -1;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    chmod(path, 0700); /* in case a test left it unreadable; harmless on symlinks' targets */
    return remove(path);
}

/* Removes the scratch directory and everything below it. */
static int suite_clean(void)
{
    return nftw(g_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Returns a path in the scratch directory, in a static buffer; one at a time per slot. */
static const char *path_in(int slot, const char *name)
{
    static char buf[8][512];
    snprintf(buf[slot], sizeof buf[slot], "%s/%s", g_dir, name);
    return buf[slot];
}

static int write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = len ? fwrite(data, 1, len, f) : 0;
    return (fclose(f) == 0 && w == len) ? 0 : -1;
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * UINT64_C(0x2545F4914F6CDD1D);
}

static size_t rng_range(uint64_t *s, size_t lo, size_t hi)
{
    return lo + (size_t)(rng_next(s) % (hi - lo + 1));
}

/* Fills buf with random lines: empty, short, medium and a few very long ones, of arbitrary
 * bytes except '\n' (NULs, '\r' and high bytes included), some ending in "\r\n", with or
 * without a final newline. long_max bounds the long lines. Returns the length. */
static size_t gen_text(uint64_t *rng, char *buf, size_t cap, size_t long_max)
{
    static const char pool[] = "abcXYZ \t\r\0\xff,.";
    size_t len = 0;
    for (;;) {
        size_t r = rng_range(rng, 0, 99), n;
        if (r < 25)
            n = 0;
        else if (r < 70)
            n = rng_range(rng, 1, 8);
        else if (r < 90)
            n = rng_range(rng, 9, 80);
        else if (r < 97)
            n = rng_range(rng, 81, 600);
        else
            n = rng_range(rng, long_max / 4, long_max);
        if (len + n + 2 > cap)
            break;
        for (size_t i = 0; i < n; i++)
            buf[len++] = pool[rng_range(rng, 0, sizeof pool - 2)];
        if (rng_range(rng, 0, 3) == 0)
            buf[len++] = '\r';
        buf[len++] = '\n';
    }
    if (len > 0 && rng_range(rng, 0, 1) == 0)
        len--; /* drop the final '\n' */
    return len;
}

/* Fills next[x], for x in 0..size, with the first line start at or after x, or size. Line
 * starts are 0 and every position after a '\n'; computed by a plain scan, independently of
 * split.c. */
static void line_starts(const char *data, size_t size, size_t *next)
{
    next[size] = size;
    for (size_t x = size; x-- > 1;)
        next[x] = data[x - 1] == '\n' ? x : next[x + 1];
    next[0] = 0;
}

/* Expands one file, splits it at split_size and checks every split against the reference and
 * the concatenation against the file. Returns the number of failed checks (also asserted). */
static int check_file(const char *path, const char *data, size_t size, uint64_t split_size)
{
    struct rm_input_set set;
    char err[256];
    char *const paths[] = {(char *)(uintptr_t)path};
    int bad = 0;
    CU_ASSERT_EQUAL_FATAL(rm_inputs_expand(paths, 1, &set, err, sizeof err), 0);
    CU_ASSERT_EQUAL_FATAL(set.n, 1);
    CU_ASSERT_EQUAL(set.files[0].size, size);
    struct rm_split *sp;
    size_t n;
    CU_ASSERT_EQUAL_FATAL(rm_splits_make(&set, split_size, &sp, &n), 0);
    CU_ASSERT_EQUAL(n, size / split_size + (size % split_size != 0));
    char *cat = malloc(size + 1);
    size_t *next = malloc((size + 1) * sizeof *next);
    CU_ASSERT_FATAL(cat && next);
    line_starts(data, size, next);
    size_t catlen = 0;
    uint64_t expect_start = 0;
    for (size_t i = 0; i < n; i++) {
        bad += sp[i].file != 0 || sp[i].start != expect_start || sp[i].end <= sp[i].start;
        expect_start = sp[i].end;
        char *text;
        size_t len;
        if (rm_split_read(&set, &sp[i], &text, &len, err, sizeof err) != 0) {
            fprintf(stderr, "\nread failed: %s\n", err);
            bad++;
            break;
        }
        size_t a = next[sp[i].start], b = next[sp[i].end];
        size_t want = b > a ? b - a : 0;
        bool ok = len == want && memcmp(text, data + a, want) == 0 && text[len] == '\0';
        /* Whole lines only: empty, ending in '\n', or ending the file. */
        ok = ok && (len == 0 || text[len - 1] == '\n' || a + len == size);
        if (!ok || catlen + len > size) {
            fprintf(stderr,
                    "\nsplit %zu [%llu,%llu) of %zu bytes at size %llu: got %zu bytes, want %zu\n",
                    i, (unsigned long long)sp[i].start, (unsigned long long)sp[i].end, size,
                    (unsigned long long)split_size, len, want);
            bad++;
            free(text);
            break;
        }
        memcpy(cat + catlen, text, len);
        catlen += len;
        free(text);
    }
    bad += expect_start != size;
    bad += catlen != size || memcmp(cat, data, size) != 0;
    CU_ASSERT_EQUAL(bad, 0);
    free(next);
    free(cat);
    rm_splits_free(sp);
    rm_inputs_free(&set);
    return bad;
}

static void test_random_files_round_trip(void)
{
    static const uint64_t sizes[] = {1, 2, 3, 7, 64, 4096};
    enum { FILES = 40, CAP = 24000 };
    char *data = malloc(CAP);
    CU_ASSERT_PTR_NOT_NULL_FATAL(data);
    const char *path = path_in(0, "random.txt");
    for (uint64_t seed = 1; seed <= FILES; seed++) {
        uint64_t rng = seed * UINT64_C(0x9E3779B97F4A7C15);
        size_t size = gen_text(&rng, data, rng_range(&rng, 1, CAP), 9000);
        CU_ASSERT_EQUAL_FATAL(write_file(path, data, size), 0);
        int bad = 0;
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++)
            bad += check_file(path, data, size, sizes[k]);
        if (size > 0) {
            bad += check_file(path, data, size, size);     /* one split, exactly */
            bad += check_file(path, data, size, size + 1); /* larger than the file */
            bad += check_file(path, data, size, (size + 1) / 2);
        }
        bad += check_file(path, data, size, UINT64_MAX);
        if (bad)
            fprintf(stderr, "\nfailing seed %llu (%zu bytes)\n", (unsigned long long)seed, size);
    }
    free(data);
}

/* Lines far longer than the split and than the 64 KiB first step of reading on. */
static void test_large_file_long_lines(void)
{
    static const uint64_t sizes[] = {64, 4096, 65536, 100000, 1 << 20};
    enum { CAP = 1500000 };
    char *data = malloc(CAP);
    CU_ASSERT_PTR_NOT_NULL_FATAL(data);
    const char *path = path_in(0, "large.txt");
    for (uint64_t seed = 100; seed < 103; seed++) {
        uint64_t rng = seed;
        size_t size = gen_text(&rng, data, CAP, 300000);
        CU_ASSERT_EQUAL_FATAL(write_file(path, data, size), 0);
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++)
            check_file(path, data, size, sizes[k]);
        check_file(path, data, size, size + 1);
    }
    free(data);
}

/* Expected texts written out by hand, so that the reference above is checked too. */
static void expect_texts(const char *content, uint64_t split_size, const char *const *want,
                         size_t nwant)
{
    const char *path = path_in(0, "fixed.txt");
    CU_ASSERT_EQUAL_FATAL(write_file(path, content, strlen(content)), 0);
    struct rm_input_set set;
    char *const paths[] = {(char *)(uintptr_t)path};
    char err[256];
    CU_ASSERT_EQUAL_FATAL(rm_inputs_expand(paths, 1, &set, err, sizeof err), 0);
    struct rm_split *sp;
    size_t n;
    CU_ASSERT_EQUAL_FATAL(rm_splits_make(&set, split_size, &sp, &n), 0);
    CU_ASSERT_EQUAL_FATAL(n, nwant);
    struct rm_split_buf reuse = {0}; /* the same texts through one reused buffer, backwards */
    for (size_t i = 0; i < n; i++) {
        char *text;
        size_t len;
        CU_ASSERT_EQUAL_FATAL(rm_split_read(&set, &sp[i], &text, &len, err, sizeof err), 0);
        CU_ASSERT_EQUAL(len, strlen(want[i]));
        CU_ASSERT_STRING_EQUAL(text, want[i]);
        if (strcmp(text, want[i]) != 0)
            fprintf(stderr, "\n\"%s\" at %llu: split %zu is \"%s\", want \"%s\"\n", content,
                    (unsigned long long)split_size, i, text, want[i]);
        free(text);
        size_t k = n - 1 - i;
        CU_ASSERT_EQUAL_FATAL(rm_split_read_buf(&set, &sp[k], &reuse, &text, &len, err, sizeof err),
                              0);
        CU_ASSERT_EQUAL(len, strlen(want[k]));
        CU_ASSERT_STRING_EQUAL(text, want[k]);
    }
    rm_split_buf_free(&reuse);
    rm_splits_free(sp);
    rm_inputs_free(&set);
}

static void test_fixed_cases(void)
{
    expect_texts("abc\ndef\n", 4, (const char *const[]){"abc\n", "def\n"}, 2);
    expect_texts("abc\ndef\n", 3, (const char *const[]){"abc\n", "def\n", ""}, 3);
    expect_texts("abc\ndef", 4, (const char *const[]){"abc\n", "def"}, 2);
    expect_texts("abc\ndef", 5, (const char *const[]){"abc\ndef", ""}, 2);
    expect_texts("abcdef", 2, (const char *const[]){"abcdef", "", ""}, 3);
    expect_texts("\n\n\n", 1, (const char *const[]){"\n", "\n", "\n"}, 3);
    expect_texts("a\r\nb\r\n", 3, (const char *const[]){"a\r\n", "b\r\n"}, 2);
    expect_texts("a\nlonglonglong\nb\n", 2,
                 (const char *const[]){"a\n", "longlonglong\n", "", "", "", "", "", "b\n", ""}, 9);
}

/* Builds a tree and checks the order, the symlink rules and the recorded sizes. */
static void test_directory_expansion(void)
{
    CU_ASSERT_EQUAL_FATAL(mkdir(path_in(0, "tree"), 0755), 0);
    static const char *const dirs[] = {"tree/a",   "tree/b",          "tree/empty",
                                       "tree/sub", "tree/sub/deeper", "tree/.hid"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++)
        CU_ASSERT_EQUAL_FATAL(mkdir(path_in(0, dirs[i]), 0755), 0);
    static const char *const files[] = {"tree/b.txt", "tree/a/z",          "tree/a/.hidden",
                                        "tree/b/x",   "tree/a.txt",        "tree/sub/deeper/f",
                                        "tree/B",     "tree/.hid/visible", "outside.txt"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        CU_ASSERT_EQUAL_FATAL(write_file(path_in(0, files[i]), files[i], strlen(files[i])), 0);
    CU_ASSERT_EQUAL_FATAL(symlink("../outside.txt", path_in(0, "tree/link_file")), 0);
    CU_ASSERT_EQUAL_FATAL(symlink("a", path_in(0, "tree/link_dir")), 0);
    CU_ASSERT_EQUAL_FATAL(symlink("nowhere", path_in(0, "tree/dangling")), 0);
    CU_ASSERT_EQUAL_FATAL(symlink(".", path_in(0, "tree/sub/loop")), 0);
    CU_ASSERT_EQUAL_FATAL(mkfifo(path_in(0, "tree/fifo"), 0644), 0);

    /* Byte order: uppercase first, '.' (0x2e) before '/' (0x2f), so b.txt before b/x. */
    static const char *const sorted[] = {".hid/visible", "B",   "a.txt",     "a/.hidden",   "a/z",
                                         "b.txt",        "b/x", "link_file", "sub/deeper/f"};
    char root[600];
    snprintf(root, sizeof root, "%s/", path_in(0, "tree")); /* trailing '/': no "//" */
    char *const paths[] = {root};
    struct rm_input_set set;
    char err[256];
    CU_ASSERT_EQUAL_FATAL(rm_inputs_expand(paths, 1, &set, err, sizeof err), 0);
    CU_ASSERT_EQUAL_FATAL(set.n, sizeof sorted / sizeof sorted[0]);
    for (size_t i = 0; i < set.n; i++) {
        char expect[700];
        snprintf(expect, sizeof expect, "%s%s", root, sorted[i]);
        CU_ASSERT_STRING_EQUAL(set.files[i].path, expect);
        struct stat st;
        CU_ASSERT_EQUAL_FATAL(stat(expect, &st), 0);
        CU_ASSERT_EQUAL(set.files[i].size, (uint64_t)st.st_size);
        CU_ASSERT_EQUAL(set.files[i].mtime.tv_sec, st.st_mtim.tv_sec);
        CU_ASSERT_EQUAL(set.files[i].mtime.tv_nsec, st.st_mtim.tv_nsec);
        CU_ASSERT_EQUAL(set.files[i].ino, (uint64_t)st.st_ino);
    }
    rm_inputs_free(&set);
    CU_ASSERT_EQUAL(set.n, 0);
    CU_ASSERT_PTR_NULL(set.files);
    rm_inputs_free(&set); /* twice is harmless */

    /* Without the trailing '/', a '/' is added; a symlinked directory named on the command
     * line is followed. */
    char *const paths2[] = {(char *)(uintptr_t)path_in(1, "tree/link_dir")};
    CU_ASSERT_EQUAL_FATAL(rm_inputs_expand(paths2, 1, &set, err, sizeof err), 0);
    CU_ASSERT_EQUAL_FATAL(set.n, 2);
    char expect[600];
    snprintf(expect, sizeof expect, "%s/.hidden", path_in(1, "tree/link_dir"));
    CU_ASSERT_STRING_EQUAL(set.files[0].path, expect);
    rm_inputs_free(&set);
}

/* Command-line order is kept; the same file met again (by path, through a directory, or as a
 * hard link) is kept once, at its first place. */
static void test_order_and_duplicates(void)
{
    CU_ASSERT_EQUAL_FATAL(mkdir(path_in(0, "dup"), 0755), 0);
    CU_ASSERT_EQUAL_FATAL(write_file(path_in(0, "dup/m"), "m\n", 2), 0);
    CU_ASSERT_EQUAL_FATAL(write_file(path_in(0, "dup/n"), "n\n", 2), 0);
    CU_ASSERT_EQUAL_FATAL(link(path_in(0, "dup/n"), path_in(1, "dup/o_hardlink")), 0);
    CU_ASSERT_EQUAL_FATAL(write_file(path_in(0, "zfirst"), "z\n", 2), 0);
    char *const paths[] = {
        (char *)(uintptr_t)path_in(0, "zfirst"), (char *)(uintptr_t)path_in(1, "dup/n"),
        (char *)(uintptr_t)path_in(2, "dup"), (char *)(uintptr_t)path_in(3, "zfirst"),
        (char *)(uintptr_t)path_in(4, "dup/")};
    struct rm_input_set set;
    char err[256];
    CU_ASSERT_EQUAL_FATAL(rm_inputs_expand(paths, 5, &set, err, sizeof err), 0);
    CU_ASSERT_EQUAL_FATAL(set.n, 3);
    CU_ASSERT_STRING_EQUAL(set.files[0].path, path_in(0, "zfirst"));
    CU_ASSERT_STRING_EQUAL(set.files[1].path, path_in(1, "dup/n"));
    CU_ASSERT_STRING_EQUAL(set.files[2].path, path_in(2, "dup/m"));
    rm_inputs_free(&set);
}

static void test_missing_input(void)
{
    CU_ASSERT_EQUAL_FATAL(write_file(path_in(0, "present"), "p\n", 2), 0);
    char *const paths[] = {(char *)(uintptr_t)path_in(0, "present"),
                           (char *)(uintptr_t)path_in(1, "nope")};
    struct rm_input_set set = {(struct rm_input_file *)1, 99};
    char err[512], want[600];
    CU_ASSERT_EQUAL(rm_inputs_expand(paths, 2, &set, err, sizeof err), RM_ENOENT);
    snprintf(want, sizeof want, "cannot read --input %s: No such file or directory",
             path_in(1, "nope"));
    CU_ASSERT_STRING_EQUAL(err, want);
    CU_ASSERT_PTR_NULL(set.files);
    CU_ASSERT_EQUAL(set.n, 0);
    /* A tiny error buffer is truncated, not overrun. */
    char small[8];
    CU_ASSERT_EQUAL(rm_inputs_expand(paths + 1, 1, &set, small, sizeof small), RM_ENOENT);
    CU_ASSERT_STRING_EQUAL(small, "cannot ");
    CU_ASSERT_EQUAL(rm_inputs_expand(paths + 1, 1, &set, NULL, 0), RM_ENOENT);
}

static void test_unreadable_and_special(void)
{
    struct rm_input_set set;
    char err[512], want[600];
    /* A symlink loop fails even for root. */
    CU_ASSERT_EQUAL_FATAL(symlink("loop_b", path_in(0, "loop_a")), 0);
    CU_ASSERT_EQUAL_FATAL(symlink("loop_a", path_in(0, "loop_b")), 0);
    char *const loop[] = {(char *)(uintptr_t)path_in(0, "loop_a")};
    CU_ASSERT_EQUAL(rm_inputs_expand(loop, 1, &set, err, sizeof err), RM_EIO);
    snprintf(want, sizeof want, "cannot read --input %s: %s", path_in(0, "loop_a"),
             strerror(ELOOP));
    CU_ASSERT_STRING_EQUAL(err, want);

    char *const dev[] = {"/dev/null"};
    CU_ASSERT_EQUAL(rm_inputs_expand(dev, 1, &set, err, sizeof err), RM_EINVAL);
    CU_ASSERT_STRING_EQUAL(err, "cannot read --input /dev/null: not a regular file or directory");

    if (geteuid() == 0)
        return; /* root reads everything: permissions cannot make a file unreadable */
    CU_ASSERT_EQUAL_FATAL(write_file(path_in(0, "secret"), "s\n", 2), 0);
    CU_ASSERT_EQUAL_FATAL(chmod(path_in(0, "secret"), 0), 0);
    char *const secret[] = {(char *)(uintptr_t)path_in(0, "secret")};
    CU_ASSERT_EQUAL(rm_inputs_expand(secret, 1, &set, err, sizeof err), RM_EIO);
    snprintf(want, sizeof want, "cannot read --input %s: Permission denied", path_in(0, "secret"));
    CU_ASSERT_STRING_EQUAL(err, want);
    CU_ASSERT_EQUAL_FATAL(mkdir(path_in(0, "closed"), 0755), 0);
    CU_ASSERT_EQUAL_FATAL(mkdir(path_in(0, "closed/inner"), 0), 0);
    char *const closed[] = {(char *)(uintptr_t)path_in(0, "closed")};
    CU_ASSERT_EQUAL(rm_inputs_expand(closed, 1, &set, err, sizeof err), RM_EIO);
    snprintf(want, sizeof want, "cannot read --input %s/inner: Permission denied",
             path_in(0, "closed"));
    CU_ASSERT_STRING_EQUAL(err, want);
    chmod(path_in(0, "closed/inner"), 0755);
    chmod(path_in(0, "secret"), 0644);
}

static void test_empty_inputs(void)
{
    CU_ASSERT_EQUAL_FATAL(mkdir(path_in(0, "void"), 0755), 0);
    CU_ASSERT_EQUAL_FATAL(mkdir(path_in(0, "void/nothing"), 0755), 0);
    struct rm_input_set set;
    char err[256];
    char *const dir[] = {(char *)(uintptr_t)path_in(0, "void")};
    CU_ASSERT_EQUAL_FATAL(rm_inputs_expand(dir, 1, &set, err, sizeof err), 0);
    CU_ASSERT_EQUAL(set.n, 0);
    struct rm_split *sp = (struct rm_split *)1;
    size_t n = 99;
    CU_ASSERT_EQUAL(rm_splits_make(&set, 1, &sp, &n), 0);
    CU_ASSERT_EQUAL(n, 0);
    CU_ASSERT_PTR_NULL(sp);
    rm_inputs_free(&set);

    CU_ASSERT_EQUAL_FATAL(write_file(path_in(0, "zero"), "", 0), 0);
    CU_ASSERT_EQUAL_FATAL(write_file(path_in(0, "two"), "ab\ncd\n", 6), 0);
    char *const both[] = {(char *)(uintptr_t)path_in(0, "zero"),
                          (char *)(uintptr_t)path_in(1, "two")};
    CU_ASSERT_EQUAL_FATAL(rm_inputs_expand(both, 1, &set, err, sizeof err), 0);
    CU_ASSERT_EQUAL(set.n, 1);
    CU_ASSERT_EQUAL(rm_splits_make(&set, 1, &sp, &n), 0);
    CU_ASSERT_EQUAL(n, 0); /* a zero-byte file is listed but gives no splits */
    rm_inputs_free(&set);
    CU_ASSERT_EQUAL_FATAL(rm_inputs_expand(both, 2, &set, err, sizeof err), 0);
    CU_ASSERT_EQUAL_FATAL(rm_splits_make(&set, 4, &sp, &n), 0);
    CU_ASSERT_EQUAL_FATAL(n, 2);
    CU_ASSERT(sp[0].file == 1 && sp[0].start == 0 && sp[0].end == 4);
    CU_ASSERT(sp[1].file == 1 && sp[1].start == 4 && sp[1].end == 6);
    rm_splits_free(sp);
    rm_inputs_free(&set);
}

static void test_keys(void)
{
    struct rm_input_file files[] = {{.path = "data/a.txt", .size = 100},
                                    {.path = "data/b.txt", .size = 100}};
    struct rm_input_set set = {files, 2};
    struct rm_split s = {.file = 0, .start = UINT64_C(0x0102030405060708), .end = 0};
    CU_ASSERT_EQUAL(rm_split_key(&set, &s, NULL, 0), 19);
    unsigned char key[19], buf[32];
    memset(buf, 0xaa, sizeof buf);
    CU_ASSERT_EQUAL(rm_split_key(&set, &s, buf, 18), 19);
    CU_ASSERT_EQUAL(buf[0], 0xaa); /* too small: untouched */
    CU_ASSERT_EQUAL(rm_split_key(&set, &s, key, sizeof key), 19);
    static const unsigned char want[19] = {'d', 'a', 't', 'a', '/', 'a', '.', 't', 'x', 't',
                                           0,   8,   7,   6,   5,   4,   3,   2,   1};
    CU_ASSERT_EQUAL(memcmp(key, want, sizeof want), 0);
    CU_ASSERT_EQUAL(rm_split_key_hash(&set, &s), XXH3_64bits(want, sizeof want));

    /* Different paths and offsets, including ones whose bytes only shift across the NUL. */
    struct rm_split a = {0, 0, 10}, b = {0, 10, 20}, c = {1, 0, 10}, d = {1, 10, 20};
    uint64_t h[] = {rm_split_key_hash(&set, &a), rm_split_key_hash(&set, &b),
                    rm_split_key_hash(&set, &c), rm_split_key_hash(&set, &d)};
    for (int i = 0; i < 4; i++) {
        for (int j = i + 1; j < 4; j++)
            CU_ASSERT_NOT_EQUAL(h[i], h[j]);
    }
    CU_ASSERT_EQUAL(h[0], rm_split_key_hash(&set, &a)); /* deterministic */

    /* A long path (over any small stack buffer) hashes like its key bytes. */
    char longp[3000];
    memset(longp, 'p', sizeof longp - 1);
    longp[sizeof longp - 1] = '\0';
    files[1].path = longp;
    size_t klen = rm_split_key(&set, &d, NULL, 0);
    unsigned char *k = malloc(klen);
    CU_ASSERT_PTR_NOT_NULL_FATAL(k);
    rm_split_key(&set, &d, k, klen);
    CU_ASSERT_EQUAL(rm_split_key_hash(&set, &d), XXH3_64bits(k, klen));
    free(k);
}

static void test_changed_file(void)
{
    const char *path = path_in(0, "changing");
    CU_ASSERT_EQUAL_FATAL(write_file(path, "one\ntwo\n", 8), 0);
    struct rm_input_set set;
    char err[512], want[700];
    char *const paths[] = {(char *)(uintptr_t)path};
    CU_ASSERT_EQUAL_FATAL(rm_inputs_expand(paths, 1, &set, err, sizeof err), 0);
    struct rm_split s = {0, 0, 8};
    char *text = NULL;
    size_t len = 0;

    CU_ASSERT_EQUAL_FATAL(write_file(path, "one\ntwo\nthree\n", 14), 0);
    CU_ASSERT_EQUAL(rm_split_read(&set, &s, &text, &len, err, sizeof err), RM_ECORRUPT);
    snprintf(want, sizeof want, "input %s changed since the inputs were listed: 8 bytes, now 14",
             path);
    CU_ASSERT_STRING_EQUAL(err, want);
    CU_ASSERT_PTR_NULL(text);

    /* Same size, other mtime. */
    CU_ASSERT_EQUAL_FATAL(write_file(path, "ONE\nTWO\n", 8), 0);
    struct timespec ts[2] = {set.files[0].mtime, set.files[0].mtime};
    ts[1].tv_sec -= 100;
    CU_ASSERT_EQUAL_FATAL(utimensat(AT_FDCWD, path, ts, 0), 0);
    CU_ASSERT_EQUAL(rm_split_read(&set, &s, &text, &len, err, sizeof err), RM_ECORRUPT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "modified"));

    /* Same size and mtime: not detected (documented), read as it is now. */
    ts[1].tv_sec += 100;
    CU_ASSERT_EQUAL_FATAL(utimensat(AT_FDCWD, path, ts, 0), 0);
    CU_ASSERT_EQUAL_FATAL(rm_split_read(&set, &s, &text, &len, err, sizeof err), 0);
    CU_ASSERT_EQUAL(len, 8);
    CU_ASSERT_STRING_EQUAL(text, "ONE\nTWO\n");
    free(text);

    CU_ASSERT_EQUAL_FATAL(unlink(path), 0);
    text = NULL;
    CU_ASSERT_EQUAL(rm_split_read(&set, &s, &text, &len, err, sizeof err), RM_ENOENT);
    snprintf(want, sizeof want, "cannot read --input %s: No such file or directory", path);
    CU_ASSERT_STRING_EQUAL(err, want);
    CU_ASSERT_PTR_NULL(text);
    rm_inputs_free(&set);
}

static void test_bad_arguments(void)
{
    struct rm_input_file files[] = {{.path = "x", .size = 10}};
    struct rm_input_set set = {files, 1};
    struct rm_split *sp;
    size_t n;
    CU_ASSERT_EQUAL(rm_splits_make(&set, 0, &sp, &n), RM_EINVAL);
    CU_ASSERT_EQUAL(rm_splits_make(NULL, 1, &sp, &n), RM_EINVAL);
    CU_ASSERT_EQUAL(rm_splits_make(&set, 1, NULL, &n), RM_EINVAL);
    files[0].size = UINT64_MAX; /* more splits than memory can address */
    CU_ASSERT_EQUAL(rm_splits_make(&set, 1, &sp, &n), RM_ENOMEM);
    files[0].size = 10;

    char *text;
    size_t len;
    char err[128];
    struct rm_split beyond = {0, 5, 11}, empty = {0, 5, 5}, other = {1, 0, 1};
    CU_ASSERT_EQUAL(rm_split_read(&set, &beyond, &text, &len, err, sizeof err), RM_EINVAL);
    CU_ASSERT_EQUAL(rm_split_read(&set, &empty, &text, &len, err, sizeof err), RM_EINVAL);
    CU_ASSERT_EQUAL(rm_split_read(&set, &other, &text, &len, err, sizeof err), RM_EINVAL);
    CU_ASSERT_EQUAL(rm_split_read(&set, &empty, NULL, &len, NULL, 0), RM_EINVAL);
    CU_ASSERT_EQUAL(rm_inputs_expand(NULL, 1, &set, err, sizeof err), RM_EINVAL);
    CU_ASSERT_EQUAL(rm_inputs_expand(NULL, 0, NULL, err, sizeof err), RM_EINVAL);
    struct rm_input_set none;
    CU_ASSERT_EQUAL(rm_inputs_expand(NULL, 0, &none, err, sizeof err), 0);
    CU_ASSERT_EQUAL(none.n, 0);
    rm_inputs_free(&none);
    rm_inputs_free(NULL);
    rm_splits_free(NULL);
}

/* Bytes this process has read through read(2)-like calls so far, or -1. */
static long long bytes_read_so_far(void)
{
    FILE *f = fopen("/proc/self/io", "r");
    if (!f)
        return -1;
    char line[128];
    long long v = -1;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "rchar: %lld", &v) == 1)
            break;
    }
    fclose(f);
    return v;
}

/* A small split of a big file reads about the split plus its last line, not the file. */
static void test_reads_bounded_by_split(void)
{
    enum { SIZE = 8 << 20 };
    char *data = malloc(SIZE);
    CU_ASSERT_PTR_NOT_NULL_FATAL(data);
    for (size_t i = 0; i < SIZE; i++)
        data[i] = i % 100 == 99 ? '\n' : 'x';
    const char *path = path_in(0, "big.txt");
    CU_ASSERT_EQUAL_FATAL(write_file(path, data, SIZE), 0);
    free(data);
    struct rm_input_set set;
    char err[256];
    char *const paths[] = {(char *)(uintptr_t)path};
    CU_ASSERT_EQUAL_FATAL(rm_inputs_expand(paths, 1, &set, err, sizeof err), 0);
    struct rm_split s = {0, 4 << 20, (4 << 20) + 1000};
    long long before = bytes_read_so_far();
    if (before < 0) {
        rm_inputs_free(&set);
        return; /* no /proc/self/io here */
    }
    char *text;
    size_t len;
    CU_ASSERT_EQUAL_FATAL(rm_split_read(&set, &s, &text, &len, err, sizeof err), 0);
    long long used = bytes_read_so_far() - before;
    CU_ASSERT(used > 1000 && used < 256 * 1024);
    CU_ASSERT_EQUAL(len, 1000); /* 4 MiB is a multiple of 4, not of 100: lines 41944..41953 */
    free(text);
    rm_inputs_free(&set);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return CU_get_error();
    CU_pSuite s = CU_add_suite("split", suite_init, suite_clean);
    if (!s ||
        !CU_add_test(s, "random files read back at many split sizes",
                     test_random_files_round_trip) ||
        !CU_add_test(s, "lines longer than splits and read steps", test_large_file_long_lines) ||
        !CU_add_test(s, "fixed cases", test_fixed_cases) ||
        !CU_add_test(s, "directory expansion", test_directory_expansion) ||
        !CU_add_test(s, "order and duplicates", test_order_and_duplicates) ||
        !CU_add_test(s, "missing input", test_missing_input) ||
        !CU_add_test(s, "unreadable and special inputs", test_unreadable_and_special) ||
        !CU_add_test(s, "empty directories and files", test_empty_inputs) ||
        !CU_add_test(s, "keys and hashes", test_keys) ||
        !CU_add_test(s, "file changed after listing", test_changed_file) ||
        !CU_add_test(s, "bad arguments", test_bad_arguments) ||
        !CU_add_test(s, "reads bounded by the split", test_reads_bounded_by_split)) {
        CU_cleanup_registry();
        return CU_get_error();
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failures = CU_get_number_of_failures() + CU_get_number_of_suites_failed();
    CU_cleanup_registry();
    return failures > 0 ? 1 : 0;
}
