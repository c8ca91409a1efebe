/*
 * grep.c: the `grep` kernel: lines matching a POSIX extended regular expression, as
 * `path:line:text`, sorted by path (input order: see split.h), then line number.
 *
 * One task per input split. A task numbers the lines that start in its split from 1 and
 * writes OUTPUT.parts/i: a first line with the split's line count, then `local<TAB>text` for
 * each match. Line numbers within a file are only known once the earlier splits are counted,
 * so the finishing leader adds, split by split, the lines of the file's earlier splits while it
 * joins the parts into OUTPUT. Matching is done on the line without its newline; a line with a
 * NUL byte is matched up to the NUL (regexec's rule) and written whole.
 */
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels/kernel.h"
#include "kernels/output.h"
#include "ringmaster.h"
#include "runtime/log.h"
#include "scheduler/split.h"

struct grep {
    void (*release)(void *ctx); /* first: see rm_kernel_close */
    uint64_t stage_tasks[1];
    struct rm_input_set in;
    struct rm_split *splits;
    size_t m;
    regex_t re;
    bool compiled;
    const char *output;
    char *parts;
    int rank;
    uint64_t matches, lines; /* filled by finish */
};

static void grep_release(void *ctx)
{
    struct grep *g = ctx;
    rm_inputs_free(&g->in);
    rm_splits_free(g->splits);
    if (g->compiled)
        regfree(&g->re);
    free(g->parts);
}

static void grep_keys(void *ctx, uint64_t first, uint64_t n, uint64_t *hashes)
{
    struct grep *g = ctx;
    for (uint64_t i = 0; i < n; i++)
        hashes[i] = rm_split_key_hash(&g->in, &g->splits[first + i]);
}

static void grep_describe(void *ctx, uint64_t id, char *buf, size_t cap)
{
    struct grep *g = ctx;
    snprintf(buf, cap, "grep task %llu (%s bytes %llu-%llu)", (unsigned long long)id,
             g->in.files[g->splits[id].file].path, (unsigned long long)g->splits[id].start,
             (unsigned long long)g->splits[id].end);
}

static int grep_attach(void *ctx, int rank, int size, struct rm_shuffle *shuffle)
{
    struct grep *g = ctx;
    (void)size;
    (void)shuffle;
    g->rank = rank;
    return 0;
}

static int grep_run(void *ctx, uint64_t id, uint32_t attempt, char *err, size_t cap)
{
    struct grep *g = ctx;
    char *text = NULL;
    size_t len = 0;
    int rc = rm_split_read(&g->in, &g->splits[id], &text, &len, err, cap);
    if (rc != 0)
        return rc;
    size_t plen = strlen(g->parts) + 64;
    char *tmp = malloc(plen), *part = malloc(plen), *matches = NULL;
    size_t mlen = 0;
    FILE *mf = open_memstream(&matches, &mlen);
    if (!tmp || !part || !mf) {
        rc = RM_ENOMEM;
        goto out;
    }
    uint64_t lines = 0;
    for (size_t pos = 0; pos < len;) {
        char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len;
        char saved = text[end]; /* '\n', or the NUL the reader puts after the text */
        text[end] = '\0';
        lines++;
        if (regexec(&g->re, text + pos, 0, NULL, 0) == 0) {
            fprintf(mf, "%llu\t", (unsigned long long)lines);
            fwrite(text + pos, 1, end - pos, mf);
            fputc('\n', mf);
        }
        text[end] = saved;
        pos = end + 1;
    }
    if (fclose(mf) != 0) {
        mf = NULL;
        rc = RM_ENOMEM;
        goto out;
    }
    mf = NULL;
    snprintf(tmp, plen, "%s/%llu.tmp.%d.%u", g->parts, (unsigned long long)id, g->rank, attempt);
    snprintf(part, plen, "%s/%llu", g->parts, (unsigned long long)id);
    FILE *f = fopen(tmp, "we");
    if (!f || fprintf(f, "%llu\n", (unsigned long long)lines) < 0 ||
        fwrite(matches, 1, mlen, f) != mlen || fflush(f) != 0) {
        snprintf(err, cap, "cannot write %s: %s", tmp, strerror(errno));
        rc = RM_EIO;
    }
    if (f && fclose(f) != 0 && rc == 0) {
        snprintf(err, cap, "cannot write %s: %s", tmp, strerror(errno));
        rc = RM_EIO;
    }
    if (rc == 0 && rename(tmp, part) != 0) {
        snprintf(err, cap, "cannot rename %s: %s", tmp, strerror(errno));
        rc = RM_EIO;
    }
    if (rc != 0 && tmp)
        unlink(tmp);
out:
    if (mf)
        fclose(mf);
    free(matches);
    free(text);
    free(tmp);
    free(part);
    return rc;
}

/* Appends part i's matches to out, numbering from base; adds the split's lines to *lines. */
static int join_part(struct grep *g, uint64_t i, uint64_t base, uint64_t *lines, FILE *out)
{
    size_t plen = strlen(g->parts) + 32;
    char *path = malloc(plen), *line = NULL;
    size_t cap = 0;
    if (!path)
        return RM_ENOMEM;
    snprintf(path, plen, "%s/%llu", g->parts, (unsigned long long)i);
    FILE *f = fopen(path, "re");
    int rc = 0;
    ssize_t n;
    if (!f || (n = getline(&line, &cap, f)) < 1) {
        rm_error("grep: the result of %s is missing or damaged (%s): is the output directory "
                 "shared by every rank?",
                 g->in.files[g->splits[i].file].path, path);
        rc = RM_EIO;
    } else {
        *lines = strtoull(line, NULL, 10);
    }
    const char *file = g->in.files[g->splits[i].file].path;
    while (rc == 0 && (n = getline(&line, &cap, f)) > 0) {
        char *tab = memchr(line, '\t', (size_t)n);
        if (!tab) {
            rm_error("grep: %s is damaged", path);
            rc = RM_EIO;
            break;
        }
        uint64_t local = strtoull(line, NULL, 10);
        if (fprintf(out, "%s:%llu:", file, (unsigned long long)(base + local)) < 0 ||
            fwrite(tab + 1, 1, (size_t)(line + n - tab - 1), out) != (size_t)(line + n - tab - 1))
            rc = RM_EIO;
        g->matches++;
    }
    if (f)
        fclose(f);
    free(line);
    free(path);
    return rc;
}

static int grep_finish(void *ctx)
{
    struct grep *g = ctx;
    size_t olen = strlen(g->output) + 32;
    char *tmp = malloc(olen);
    if (!tmp)
        return RM_ENOMEM;
    snprintf(tmp, olen, "%s.tmp.%d", g->output, (int)getpid());
    FILE *out = fopen(tmp, "we");
    int rc = out ? 0 : RM_EIO;
    if (!out)
        rm_error("grep: cannot create %s: %s", tmp, strerror(errno));
    g->matches = g->lines = 0;
    uint64_t base = 0;
    for (size_t i = 0; rc == 0 && i < g->m; i++) {
        if (i > 0 && g->splits[i].file != g->splits[i - 1].file)
            base = 0; /* a new file: numbering starts again */
        uint64_t lines = 0;
        rc = join_part(g, i, base, &lines, out);
        base += lines;
        g->lines += lines;
    }
    if (out && (fflush(out) != 0 || fsync(fileno(out)) != 0) && rc == 0)
        rc = RM_EIO;
    if (out && fclose(out) != 0 && rc == 0)
        rc = RM_EIO;
    if (rc == RM_EIO)
        rm_error("grep: cannot write %s: %s", tmp, strerror(errno));
    if (rc == 0 && rename(tmp, g->output) != 0) {
        rm_error("grep: cannot rename %s to %s: %s", tmp, g->output, strerror(errno));
        rc = RM_EIO;
    }
    if (rc != 0)
        unlink(tmp);
    else
        rm_output_remove_parts(g->parts);
    free(tmp);
    return rc;
}

static void grep_summary(void *ctx, const struct rm_farm_stats *st, const struct rm_tasktable *tt)
{
    struct grep *g = ctx;
    printf("grep: %llu matching lines of %llu in %zu files, %.3f s; %llu tasks, %llu "
           "rescheduled; output: %s\n",
           (unsigned long long)g->matches, (unsigned long long)g->lines, g->in.n, st->seconds,
           (unsigned long long)tt->n, (unsigned long long)tt->rescheduled, g->output);
}

int rm_kernel_grep_open(const struct rm_options *opts, int rank, struct rm_farm_kernel **out,
                        char *err, size_t cap)
{
    struct {
        struct rm_farm_kernel k;
        struct grep g;
    } *b = calloc(1, sizeof *b);
    if (!b)
        return RM_ENOMEM;
    struct grep *g = &b->g;
    g->release = grep_release;
    g->rank = rank;
    g->output = opts->output;
    int rc = regcomp(&g->re, opts->pattern, REG_EXTENDED | REG_NOSUB);
    if (rc != 0) {
        char msg[128];
        regerror(rc, &g->re, msg, sizeof msg);
        snprintf(err, cap, "--pattern '%s': %s", opts->pattern, msg);
        free(b);
        return RM_EUSAGE;
    }
    g->compiled = true;
    rc = rm_inputs_expand(opts->inputs, opts->n_inputs, &g->in, err, cap);
    if (rc == RM_ENOENT || rc == RM_EIO)
        rc = RM_EUSAGE;
    if (rc == 0)
        rc = rm_splits_make(&g->in, opts->split_size, &g->splits, &g->m);
    if (rc == 0) /* last: it creates the parts directory */
        rc = rm_output_prepare(opts->output, &g->parts, err, cap);
    if (rc != 0) {
        grep_release(g);
        free(b);
        return rc;
    }
    g->stage_tasks[0] = g->m;
    b->k = (struct rm_farm_kernel){.name = "grep", .ctx = g, .tasks = g->m, .stages = 1,
                                   .stage_tasks = g->stage_tasks, .attach = grep_attach,
                                   .keys = grep_keys, .describe = grep_describe,
                                   .run = grep_run, .finish = grep_finish,
                                   .summary = grep_summary};
    *out = &b->k;
    return 0;
}
