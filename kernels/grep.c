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

#include "kernels/mrjob.h"
#include "kernels/output.h"
#include "ringmaster.h"
#include "runtime/log.h"

struct grep {
    struct rm_mrjob base; /* first: see mrjob.h (one stage: base.r is 0) */
    regex_t re;
    bool compiled;
    uint64_t matches, lines; /* filled by finish */
};

static void grep_release(void *ctx)
{
    struct grep *g = ctx;
    if (g->compiled)
        regfree(&g->re);
    rm_mrjob_close(&g->base);
}

static int grep_run(void *ctx, uint64_t id, uint32_t attempt, char *err, size_t cap)
{
    struct grep *g = ctx;
    char *text = NULL;
    size_t len = 0;
    int rc = rm_mrjob_read_split(&g->base, id, &text, &len, err, cap);
    if (rc != 0)
        return rc;
    size_t plen = strlen(g->base.parts) + 64;
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
    snprintf(tmp, plen, "%s/%llu.tmp.%d.%u", g->base.parts, (unsigned long long)id, g->base.rank,
             attempt);
    snprintf(part, plen, "%s/%llu", g->base.parts, (unsigned long long)id);
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
    free(tmp);
    free(part);
    return rc;
}

/* Appends part i's matches to out, numbering from base; adds the split's lines to *lines. */
static int join_part(struct grep *g, uint64_t i, uint64_t base, uint64_t *lines, FILE *out)
{
    size_t plen = strlen(g->base.parts) + 32;
    char *path = malloc(plen), *line = NULL;
    size_t cap = 0;
    if (!path)
        return RM_ENOMEM;
    snprintf(path, plen, "%s/%llu", g->base.parts, (unsigned long long)i);
    FILE *f = fopen(path, "re");
    int rc = 0;
    ssize_t n;
    if (!f || (n = getline(&line, &cap, f)) < 1) {
        rm_error("grep: the result of %s is missing or damaged (%s): is the output directory "
                 "shared by every rank?",
                 g->base.in.files[g->base.splits[i].file].path, path);
        rc = RM_EIO;
    } else {
        *lines = strtoull(line, NULL, 10);
    }
    const char *file = g->base.in.files[g->base.splits[i].file].path;
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
    size_t olen = strlen(g->base.output) + 32;
    char *tmp = malloc(olen);
    if (!tmp)
        return RM_ENOMEM;
    snprintf(tmp, olen, "%s.tmp.%d", g->base.output, (int)getpid());
    FILE *out = fopen(tmp, "we");
    int rc = out ? 0 : RM_EIO;
    if (!out)
        rm_error("grep: cannot create %s: %s", tmp, strerror(errno));
    g->matches = g->lines = 0;
    uint64_t base = 0;
    for (size_t i = 0; rc == 0 && i < g->base.m; i++) {
        if (i > 0 && g->base.splits[i].file != g->base.splits[i - 1].file)
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
    if (rc == 0 && rename(tmp, g->base.output) != 0) {
        rm_error("grep: cannot rename %s to %s: %s", tmp, g->base.output, strerror(errno));
        rc = RM_EIO;
    }
    if (rc != 0)
        unlink(tmp);
    else
        rm_output_remove_parts(g->base.parts);
    free(tmp);
    return rc;
}

static void grep_summary(void *ctx, const struct rm_farm_stats *st, const struct rm_tasktable *tt)
{
    struct grep *g = ctx;
    printf("grep: %llu matching lines of %llu in %zu files, %.3f s; %llu tasks, %llu "
           "rescheduled; output: %s\n",
           (unsigned long long)g->matches, (unsigned long long)g->lines, g->base.in.n, st->seconds,
           (unsigned long long)tt->n, (unsigned long long)tt->rescheduled, g->base.output);
}

static int grep_attach(void *ctx, int rank, int size, struct rm_shuffle *shuffle)
{
    struct grep *g = ctx;
    (void)size;
    (void)shuffle; /* none: grep has no reduce stage */
    g->base.rank = rank;
    return 0;
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
    g->base.release = grep_release;
    int rc = regcomp(&g->re, opts->pattern, REG_EXTENDED | REG_NOSUB);
    if (rc != 0) {
        char msg[128];
        regerror(rc, &g->re, msg, sizeof msg);
        snprintf(err, cap, "--pattern '%s': %s", opts->pattern, msg);
        free(b);
        return RM_EUSAGE;
    }
    g->compiled = true;
    rc = rm_mrjob_open(&g->base, "grep", opts, opts->split_size, rank, err, cap);
    if (rc == 0) /* last: it creates the parts directory */
        rc = rm_mrjob_prepare_output(&g->base, opts, err, cap);
    if (rc != 0) {
        regfree(&g->re);
        free(b);
        return rc;
    }
    rm_mrjob_kernel(&g->base, &b->k);
    g->base.r = 0; /* one stage, no shuffle */
    g->base.stage_tasks[1] = 0;
    b->k.tasks = g->base.m;
    b->k.stages = 1;
    b->k.held_outputs = false;
    b->k.holders = NULL;
    b->k.attach = grep_attach;
    b->k.run = grep_run;
    b->k.finish = grep_finish;
    b->k.summary = grep_summary;
    *out = &b->k;
    return 0;
}
