/*
 * ref_wordcount: the serial reference for the wordcount kernel, written to be obviously right
 * rather than fast, and to share no code with kernels/wordcount.c, so that comparing the two
 * catches bugs in either.
 *
 *   ref_wordcount [--case-sensitive] PATH...
 *
 * Reads every input whole, copies out each token (a maximal run of ASCII letters, lower-cased
 * unless --case-sensitive), sorts all tokens with strcmp and prints each distinct token with the
 * length of its run as `word<TAB>count` lines: the `.tsv` output of `ringmaster run wordcount`
 * (shared/INTERFACE.md). Each file is tokenized on its own: a word never spans two files.
 *
 * A directory stands for every regular file below it, in sorted path order (strcmp of the full
 * paths). Symbolic links to files are followed; symbolic links to directories are not, so a
 * link cycle cannot loop. The order does not change the output, only the order of reading.
 *
 * Memory is about 25 bytes per token plus the largest file: fine for tests, not for terabytes.
 * Exit status: 0; 1 on a read or write error; 2 on a usage error or an input that cannot be
 * read (one line on stderr).
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* A growable array of strings (the input paths). */
struct strings {
    char **items;
    size_t n, cap;
};

static void die_oom(void)
{
    fputs("ref_wordcount: out of memory\n", stderr);
    exit(1);
}

static void push(struct strings *s, char *str)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 1024;
        s->items = realloc(s->items, s->cap * sizeof *s->items);
        if (!s->items)
            die_oom();
    }
    s->items[s->n++] = str;
}

static int by_strcmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ---- inputs ------------------------------------------------------------------------------- */

/* Adds every regular file below dir to files. Exits 2 if a directory cannot be read. */
static void add_dir(const char *dir, struct strings *files);

/* Adds path to files: a regular file itself, a directory everything below it. Links are
 * followed, except links to directories found inside a directory. Exits 2 on a missing or
 * unreadable input. */
static void add_path(const char *path, struct strings *files, int top)
{
    struct stat lst, st;
    if (lstat(path, &lst) != 0 || stat(path, &st) != 0) {
        if (!top)
            return; /* a dangling link inside a directory: not a regular file */
        fprintf(stderr, "ref_wordcount: cannot read %s: %s\n", path, strerror(errno));
        exit(2);
    }
    if (S_ISDIR(st.st_mode) && (top || !S_ISLNK(lst.st_mode))) {
        add_dir(path, files);
    } else if (S_ISREG(st.st_mode)) {
        char *copy = strdup(path);
        if (!copy)
            die_oom();
        push(files, copy);
    } else if (top) {
        fprintf(stderr, "ref_wordcount: %s is not a regular file or directory\n", path);
        exit(2);
    }
}

static void add_dir(const char *dir, struct strings *files)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "ref_wordcount: cannot read directory %s: %s\n", dir, strerror(errno));
        exit(2);
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        size_t n = strlen(dir) + strlen(e->d_name) + 2;
        char *p = malloc(n);
        if (!p)
            die_oom();
        snprintf(p, n, "%s/%s", dir, e->d_name);
        add_path(p, files, 0);
        free(p);
    }
    closedir(d);
}

/* Reads a whole file. Exits 2 if it cannot be opened, 1 if reading fails. */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "ref_wordcount: cannot open %s: %s\n", path, strerror(errno));
        exit(2);
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf)
            die_oom();
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap)
            break;
        cap *= 2;
        buf = realloc(buf, cap);
    }
    if (ferror(f)) {
        fprintf(stderr, "ref_wordcount: cannot read %s\n", path);
        exit(1);
    }
    fclose(f);
    *len = n;
    return buf;
}

/* ---- tokens ------------------------------------------------------------------------------- */

static int is_ascii_letter(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* All tokens, each followed by a NUL, back to back; ends[i] is where token i's NUL is. */
struct pool {
    char *bytes;
    size_t len, cap;
    size_t *ends;
    size_t n, ends_cap;
};

static void pool_add(struct pool *p, const char *text, size_t len, int case_sensitive)
{
    while (p->cap - p->len < len + 1) {
        p->cap = p->cap ? 2 * p->cap : 1 << 16;
        p->bytes = realloc(p->bytes, p->cap);
        if (!p->bytes)
            die_oom();
    }
    if (p->n == p->ends_cap) {
        p->ends_cap = p->ends_cap ? 2 * p->ends_cap : 1024;
        p->ends = realloc(p->ends, p->ends_cap * sizeof *p->ends);
        if (!p->ends)
            die_oom();
    }
    for (size_t k = 0; k < len; k++)
        p->bytes[p->len++] = case_sensitive ? text[k] : lower(text[k]);
    p->ends[p->n++] = p->len;
    p->bytes[p->len++] = '\0';
}

/* Adds each token of text to the pool. */
static void collect_tokens(const char *text, size_t len, int case_sensitive, struct pool *pool)
{
    size_t start = 0;
    int in_word = 0;
    for (size_t i = 0; i <= len; i++) {
        int letter = i < len && is_ascii_letter(text[i]);
        if (letter && !in_word)
            start = i;
        if (!letter && in_word)
            pool_add(pool, text + start, i - start, case_sensitive);
        in_word = letter;
    }
}

/* Sorts the tokens and prints each distinct one with the length of its run. */
static void print_counts(const struct pool *pool)
{
    char **tok = malloc((pool->n ? pool->n : 1) * sizeof *tok);
    if (!tok)
        die_oom();
    for (size_t i = 0, start = 0; i < pool->n; start = pool->ends[i++] + 1)
        tok[i] = pool->bytes + start;
    qsort(tok, pool->n, sizeof *tok, by_strcmp);
    for (size_t i = 0, j; i < pool->n; i = j) {
        for (j = i; j < pool->n && strcmp(tok[j], tok[i]) == 0; j++)
            ;
        printf("%s\t%zu\n", tok[i], j - i);
    }
    free(tok);
}

int main(int argc, char **argv)
{
    int case_sensitive = 0, first = 1;
    if (argc > 1 && strcmp(argv[1], "--case-sensitive") == 0) {
        case_sensitive = 1;
        first = 2;
    }
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        puts("usage: ref_wordcount [--case-sensitive] PATH...\n"
             "Prints word<TAB>count for every token of the inputs, sorted by word in byte order.");
        return 0;
    }
    if (first >= argc || argv[first][0] == '-') {
        fputs("usage: ref_wordcount [--case-sensitive] PATH... (see --help)\n", stderr);
        return 2;
    }
    struct strings files = {0};
    struct pool pool = {0};
    for (int i = first; i < argc; i++)
        add_path(argv[i], &files, 1);
    qsort(files.items, files.n, sizeof *files.items, by_strcmp);
    for (size_t i = 0; i < files.n; i++) {
        size_t len;
        char *text = read_file(files.items[i], &len);
        collect_tokens(text, len, case_sensitive, &pool);
        free(text);
        free(files.items[i]);
    }
    free(files.items);
    print_counts(&pool);
    free(pool.bytes);
    free(pool.ends);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "ref_wordcount: cannot write the output: %s\n", strerror(errno));
        return 1;
    }
    return 0;
}
