/* output.c: see output.h. */
#include "kernels/output.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ringmaster.h"
#include "runtime/log.h"

int rm_output_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int rm_output_prepare(const char *output, char **parts, char *err, size_t cap)
{
    struct stat sb;
    if (stat(output, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        snprintf(err, cap, "--output %s is a directory", output);
        return RM_EUSAGE;
    }
    char *dir = strdup(output);
    size_t pl = strlen(output) + 8;
    char *p = malloc(pl);
    if (!dir || !p) {
        free(dir);
        free(p);
        return RM_ENOMEM;
    }
    char *slash = strrchr(dir, '/');
    const char *d = slash ? (slash == dir ? "/" : (*slash = '\0', dir)) : ".";
    int rc = 0;
    if (access(d, W_OK | X_OK) != 0) {
        snprintf(err, cap, "--output %s: directory %s is missing or not writable", output, d);
        rc = RM_EUSAGE;
    }
    free(dir);
    snprintf(p, pl, "%s.parts", output);
    /* Every rank creates the parts directory before the job starts, and no rank creates it
     * later, so a copy that runs after the finishing leader removed it fails instead of
     * leaving a new directory behind. */
    if (rc == 0 && mkdir(p, 0755) != 0 && errno != EEXIST) {
        snprintf(err, cap, "--output %s: cannot create %s: %s", output, p, strerror(errno));
        rc = RM_EUSAGE;
    }
    if (rc != 0) {
        free(p);
        return rc;
    }
    *parts = p;
    return 0;
}

/* One pass: unlinks every file named by a task number. */
static void unlink_parts(const char *parts, char *path, size_t cap)
{
    DIR *d = opendir(parts);
    if (!d)
        return;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        snprintf(path, cap, "%s/%s", parts, e->d_name);
        unlink(path);
    }
    closedir(d);
}

void rm_output_remove_parts(const char *parts)
{
    /* A copy still running elsewhere when the job ends (a straggler's twin, say) may add a
     * file while this runs; its rank stops within moments of the end, so try for 2 s. */
    size_t cap = strlen(parts) + 300;
    char *path = malloc(cap);
    if (!path)
        return;
    int rc = -1;
    for (int tries = 0; tries < 40 && rc != 0; tries++) {
        if (tries > 0) {
            struct timespec ts = {0, 50 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        unlink_parts(parts, path, cap);
        rc = rmdir(parts);
        if (rc != 0 && errno == ENOENT)
            rc = 0;
    }
    free(path);
    if (rc != 0)
        rm_warn("could not remove %s: %s", parts, strerror(errno));
}

/* ---- k-way merge of sorted parts --------------------------------------------------------------
 */

struct cursor {
    FILE *f;
    char *line;
    size_t cap;
    ssize_t len; /* of the current line, without its newline; -1 at the end */
    size_t klen; /* the key's length (up to the first TAB) */
};

/* Reads the next line; 0, or -1 for a read error or a line without a TAB. */
static int advance(struct cursor *c)
{
    c->len = getline(&c->line, &c->cap, c->f);
    if (c->len < 0)
        return ferror(c->f) ? -1 : 0;
    if (c->len > 0 && c->line[c->len - 1] == '\n')
        c->line[--c->len] = '\0';
    char *tab = memchr(c->line, '\t', (size_t)c->len);
    if (!tab)
        return -1;
    c->klen = (size_t)(tab - c->line);
    return 0;
}

/* memcmp order, a prefix first: the order of the parts and of the output. */
static int key_cmp(const struct cursor *a, const struct cursor *b)
{
    size_t n = a->klen < b->klen ? a->klen : b->klen;
    int c = memcmp(a->line, b->line, n);
    return c ? c : (a->klen > b->klen) - (a->klen < b->klen);
}

/* The merge itself, into out; the cursors are open. */
static int merge_into(struct cursor *cur, uint32_t n, FILE *out, rm_output_line_fn each, void *ctx,
                      const char *who, const char *tmp)
{
    for (;;) {
        struct cursor *best = NULL;
        for (uint32_t r = 0; r < n; r++)
            if (cur[r].len >= 0 && (!best || key_cmp(&cur[r], best) < 0))
                best = &cur[r];
        if (!best)
            return 0;
        if (each)
            each(ctx, best->line, best->klen, (size_t)best->len);
        best->line[best->len] = '\n';
        if (fwrite(best->line, 1, (size_t)best->len + 1, out) != (size_t)best->len + 1) {
            rm_error("%s: cannot write %s: %s", who, tmp, strerror(errno));
            return RM_EIO;
        }
        if (advance(best) != 0) {
            rm_error("%s: a part of the output is damaged", who);
            return RM_EIO;
        }
    }
}

int rm_output_merge_sorted(const char *parts, uint32_t n, const char *output,
                           rm_output_line_fn each, void *ctx, const char *who)
{
    size_t plen = strlen(parts) + 32, olen = strlen(output) + 32;
    char *path = malloc(plen), *tmp = malloc(olen);
    struct cursor *cur = calloc(n ? n : 1, sizeof *cur);
    int rc = path && tmp && cur ? 0 : RM_ENOMEM;
    FILE *out = NULL;
    if (rc == 0) {
        snprintf(tmp, olen, "%s.tmp.%d", output, (int)getpid());
        out = fopen(tmp, "we");
        if (!out) {
            rm_error("%s: cannot create %s: %s", who, tmp, strerror(errno));
            rc = RM_EIO;
        }
    }
    for (uint32_t r = 0; rc == 0 && r < n; r++) {
        snprintf(path, plen, "%s/%u", parts, r);
        cur[r].f = fopen(path, "re");
        if (!cur[r].f || advance(&cur[r]) != 0) {
            rm_error("%s: part %u of the output is missing or damaged (%s): is the output "
                     "directory shared by every rank?",
                     who, r, path);
            rc = RM_EIO;
        }
    }
    if (rc == 0)
        rc = merge_into(cur, n, out, each, ctx, who, tmp);
    if (out && (fflush(out) != 0 || fsync(fileno(out)) != 0) && rc == 0) {
        rm_error("%s: cannot write %s: %s", who, tmp, strerror(errno));
        rc = RM_EIO;
    }
    if (out && fclose(out) != 0 && rc == 0) {
        rm_error("%s: cannot write %s: %s", who, tmp, strerror(errno));
        rc = RM_EIO;
    }
    if (rc == 0 && rename(tmp, output) != 0) {
        rm_error("%s: cannot rename %s to %s: %s", who, tmp, output, strerror(errno));
        rc = RM_EIO;
    }
    if (rc != 0 && tmp)
        unlink(tmp);
    for (uint32_t r = 0; cur && r < n; r++) {
        if (cur[r].f)
            fclose(cur[r].f);
        free(cur[r].line);
    }
    if (rc == 0)
        rm_output_remove_parts(parts);
    free(path);
    free(tmp);
    free(cur);
    return rc;
}
