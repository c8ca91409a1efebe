/*
 * tasks.c: the `tasks` kernel, a fault-tolerant bag of shell commands.
 *
 * Task i is the i-th command line of the input (blank lines and # comments skipped). A worker
 * runs it with rm_shellcmd_run, retrying a non-zero exit up to --retries times, and writes one
 * part file, OUTPUT.parts/i: a header line and the command's combined output. The part is
 * written under a temporary name and renamed, so a part file is always whole, and running a
 * command twice (after a death, or as a backup copy) just replaces it. The finishing leader
 * concatenates the parts in input order into OUTPUT (again through a temporary name) and
 * removes the parts. The parts directory must be visible to every rank.
 *
 * Part and output record format:
 *   #ringmaster-task line=L status=S bytes=B seconds=T rank=R attempts=A command=C\n
 *   B bytes of output, then \n
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kernels/kernel.h"
#include "kernels/output.h"
#include "kernels/shellcmd.h"
#include "ringmaster.h"
#include "runtime/log.h"
#include "scheduler/ring.h"

struct tasks {
    void (*release)(void *ctx); /* first: see rm_kernel_close */
    uint64_t stage_tasks[1];
    char *text;     /* the whole input, lines cut in place */
    char **cmd;     /* per task: its command */
    uint32_t *line; /* per task: its line number in the input */
    uint64_t n;
    const char *output;
    char *parts; /* OUTPUT.parts */
    uint32_t retries, timeout_s;
    int rank;
    uint64_t failed; /* set by finish */
};

static void tasks_release(void *ctx)
{
    struct tasks *t = ctx;
    free(t->text);
    free(t->cmd);
    free(t->line);
    free(t->parts);
}

static void tasks_keys(void *ctx, uint64_t first, uint64_t n, uint64_t *hashes)
{
    struct tasks *t = ctx;
    for (uint64_t i = 0; i < n; i++)
        hashes[i] = rm_ring_hash(t->cmd[first + i], strlen(t->cmd[first + i]));
}

static void tasks_describe(void *ctx, uint64_t id, char *buf, size_t cap)
{
    struct tasks *t = ctx;
    snprintf(buf, cap, "command on line %u (%.80s%s)", t->line[id], t->cmd[id],
             strlen(t->cmd[id]) > 80 ? "..." : "");
}

/* Appends the file at path to fd. Returns 0 or -1 (errno set). */
static int append_file(int fd, const char *path)
{
    int in = open(path, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return -1;
    char buf[1 << 16];
    int rc = 0;
    for (;;) {
        ssize_t r = read(in, buf, sizeof buf);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 || (r > 0 && rm_output_write_all(fd, buf, (size_t)r) != 0))
            rc = -1;
        if (r <= 0)
            break;
    }
    int saved = errno;
    close(in);
    errno = saved;
    return rc;
}

static int io_error(char *err, size_t cap, const char *what, const char *path)
{
    snprintf(err, cap, "%s %s: %s", what, path, strerror(errno));
    return RM_EIO;
}

static int tasks_run(void *ctx, uint64_t id, uint32_t attempt, char *err, size_t cap)
{
    struct tasks *t = ctx; /* the parts directory exists: see rm_kernel_tasks_open */
    size_t plen = strlen(t->parts) + 64;
    char *out = malloc(plen), *tmp = malloc(plen), *part = malloc(plen);
    if (!out || !tmp || !part) {
        free(out);
        free(tmp);
        free(part);
        return RM_ENOMEM;
    }
    snprintf(out, plen, "%s/%llu.out.%d.%u", t->parts, (unsigned long long)id, t->rank, attempt);
    snprintf(tmp, plen, "%s/%llu.tmp.%d.%u", t->parts, (unsigned long long)id, t->rank, attempt);
    snprintf(part, plen, "%s/%llu", t->parts, (unsigned long long)id);
    struct rm_shellcmd_result res = {0};
    uint32_t tries = 0;
    int rc = 0;
    do {
        rc = rm_shellcmd_run(t->cmd[id], out, t->timeout_s, &res);
        tries++;
    } while (rc == 0 && res.status != 0 && tries <= t->retries);
    if (rc != 0) {
        snprintf(err, cap, "cannot run the command (output file %s): %s", out,
                 rc == RM_EIO ? strerror(errno) : rm_strerror(rc));
        goto out;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = io_error(err, cap, "cannot create", tmp);
        goto out;
    }
    char head[256];
    int hl = snprintf(head, sizeof head,
                      "#ringmaster-task line=%u status=%d bytes=%llu seconds=%.3f rank=%d "
                      "attempts=%u%s command=",
                      t->line[id], res.status, (unsigned long long)res.output_bytes, res.seconds,
                      t->rank, tries, res.timed_out ? " timed_out=1" : "");
    if (rm_output_write_all(fd, head, (size_t)hl) != 0 ||
        rm_output_write_all(fd, t->cmd[id], strlen(t->cmd[id])) ||
        rm_output_write_all(fd, "\n", 1) != 0 || append_file(fd, out) != 0 ||
        rm_output_write_all(fd, "\n", 1) != 0)
        rc = io_error(err, cap, "cannot write", tmp);
    if (close(fd) != 0 && rc == 0)
        rc = io_error(err, cap, "cannot write", tmp);
    if (rc == 0 && rename(tmp, part) != 0)
        rc = io_error(err, cap, "cannot rename into", part);
    if (rc != 0)
        unlink(tmp);
out:
    unlink(out);
    free(out);
    free(tmp);
    free(part);
    return rc;
}

/* The status field of a part's header line, or -1 if the header is damaged. */
static int part_status(const char *path)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    char buf[160];
    int status = -1;
    if (fgets(buf, sizeof buf, f) && strncmp(buf, "#ringmaster-task ", 17) == 0) {
        const char *s = strstr(buf, " status=");
        if (s)
            status = atoi(s + 8);
    }
    fclose(f);
    return status;
}

/* A resumed job: command id's part is in place with an intact header line. */
static bool tasks_output_kept(void *ctx, uint64_t id)
{
    struct tasks *t = ctx;
    size_t plen = strlen(t->parts) + 32;
    char *part = malloc(plen);
    if (!part)
        return false;
    snprintf(part, plen, "%s/%llu", t->parts, (unsigned long long)id);
    bool kept = part_status(part) >= 0;
    free(part);
    return kept;
}

static int tasks_finish(void *ctx)
{
    struct tasks *t = ctx;
    size_t plen = strlen(t->parts) + 32, olen = strlen(t->output) + 32;
    char *part = malloc(plen), *tmp = malloc(olen);
    int rc = part && tmp ? 0 : RM_ENOMEM;
    int fd = -1;
    if (rc == 0) {
        snprintf(tmp, olen, "%s.tmp.%d", t->output, (int)getpid());
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) {
            rm_error("tasks: cannot create %s: %s", tmp, strerror(errno));
            rc = RM_EIO;
        }
    }
    uint64_t first_failed = UINT64_MAX;
    int first_status = 0;
    t->failed = 0;
    for (uint64_t i = 0; rc == 0 && i < t->n; i++) {
        snprintf(part, plen, "%s/%llu", t->parts, (unsigned long long)i);
        int st = part_status(part);
        if (st < 0) {
            rm_error("tasks: the result of line %u is missing or damaged (%s): is the output "
                     "directory shared by every rank?",
                     t->line[i], part);
            rc = RM_EIO;
        } else if (append_file(fd, part) != 0) {
            rm_error("tasks: cannot write %s: %s", tmp, strerror(errno));
            rc = RM_EIO;
        } else if (st != 0 && t->failed++ == 0) {
            first_failed = i;
            first_status = st;
        }
    }
    if (fd >= 0 && rc == 0 && (fsync(fd) != 0 || close(fd) != 0)) {
        rm_error("tasks: cannot write %s: %s", tmp, strerror(errno));
        rc = RM_EIO;
        fd = -1;
    } else if (fd >= 0 && rc == 0) {
        fd = -1;
    }
    if (fd >= 0)
        close(fd);
    if (rc == 0 && rename(tmp, t->output) != 0) {
        rm_error("tasks: cannot rename %s to %s: %s", tmp, t->output, strerror(errno));
        rc = RM_EIO;
    }
    if (rc != 0 && tmp)
        unlink(tmp);
    if (rc == 0)
        rm_output_remove_parts(t->parts); /* they are in the output now */
    free(part);
    free(tmp);
    if (rc == 0 && t->failed) {
        rm_error("tasks: %llu of %llu commands ended non-zero; the first is line %u (status %d): "
                 "%.80s; the output is complete in %s",
                 (unsigned long long)t->failed, (unsigned long long)t->n, t->line[first_failed],
                 first_status, t->cmd[first_failed], t->output);
        return RM_EJOB;
    }
    return rc;
}

static void tasks_summary(void *ctx, const struct rm_farm_stats *st, const struct rm_tasktable *tt)
{
    struct tasks *t = ctx;
    printf("tasks: %llu commands done in %.3f s; %llu rescheduled, %llu backup copies; output "
           "in %s\n",
           (unsigned long long)tt->done, st->seconds, (unsigned long long)tt->rescheduled,
           (unsigned long long)tt->backups, t->output);
}

/* Reads the whole file; returns 0 or -1 (errno set). */
static int read_file(const char *path, char **out, size_t *len)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (n < cap)
            break;
        char *nb = realloc(buf, 2 * cap + 1);
        if (!nb) {
            free(buf);
            buf = NULL;
            errno = ENOMEM;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    int bad = !buf || ferror(f);
    int saved = errno;
    fclose(f);
    if (bad) {
        free(buf);
        errno = saved ? saved : EIO;
        return -1;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

/* Cuts the input into commands. Returns 0, RM_EUSAGE (message in err) or RM_ENOMEM. */
static int parse_commands(struct tasks *t, size_t len, const char *path, char *err, size_t cap)
{
    if (memchr(t->text, '\0', len)) {
        snprintf(err, cap, "--input %s: not a text file (it holds NUL bytes)", path);
        return RM_EUSAGE;
    }
    size_t lines = 1;
    for (size_t i = 0; i < len; i++)
        lines += t->text[i] == '\n';
    t->cmd = malloc(lines * sizeof *t->cmd);
    t->line = malloc(lines * sizeof *t->line);
    if (!t->cmd || !t->line)
        return RM_ENOMEM;
    char *p = t->text;
    for (uint32_t no = 1; *p; no++) {
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = '\0';
        size_t l = strlen(p);
        if (l && p[l - 1] == '\r')
            p[--l] = '\0';
        char *s = p + strspn(p, " \t");
        if (*s && *s != '#') {
            t->cmd[t->n] = s;
            t->line[t->n++] = no;
        }
        if (!nl)
            break;
        p = nl + 1;
    }
    return 0;
}

int rm_kernel_tasks_open(const struct rm_options *opts, int rank, struct rm_farm_kernel **out,
                         char *err, size_t cap)
{
    struct {
        struct rm_farm_kernel k;
        struct tasks t;
    } *b = calloc(1, sizeof *b);
    if (!b)
        return RM_ENOMEM;
    struct tasks *t = &b->t;
    t->release = tasks_release;
    t->output = opts->output;
    t->retries = opts->retries;
    t->timeout_s = opts->timeout_s;
    t->rank = rank;
    const char *path = opts->inputs[0];
    size_t len = 0;
    int rc = 0;
    if (read_file(path, &t->text, &len) != 0) {
        snprintf(err, cap, "cannot read --input %s: %s", path, strerror(errno));
        rc = errno == ENOMEM ? RM_ENOMEM : RM_EUSAGE;
    }
    if (rc == 0)
        rc = parse_commands(t, len, path, err, cap);
    if (rc == 0) /* last: it creates the parts directory */
        rc = rm_output_prepare(opts->output, &t->parts, err, cap);
    if (rc != 0) {
        tasks_release(t);
        free(b);
        return rc;
    }
    t->stage_tasks[0] = t->n;
    b->k = (struct rm_farm_kernel){.name = "tasks",
                                   .ctx = t,
                                   .tasks = t->n,
                                   .stages = 1,
                                   .stage_tasks = t->stage_tasks,
                                   .keys = tasks_keys,
                                   .describe = tasks_describe,
                                   .run = tasks_run,
                                   .finish = tasks_finish,
                                   .output_kept = tasks_output_kept,
                                   .summary = tasks_summary};
    *out = &b->k;
    return 0;
}
