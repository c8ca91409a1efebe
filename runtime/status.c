/* status.c: see status.h. */
#include "runtime/status.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ringmaster.h"

static const char *role_name(uint8_t r)
{
    static const char *const names[] = {"worker", "voter", "leader", "dead"};
    return r <= RM_ROLE_DEAD ? names[r] : "worker";
}

/* Writes s as a JSON string (the fields we emit hold host names and cpu lists). */
static void put_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', f);
        if ((unsigned char)*s >= 0x20)
            fputc(*s, f);
    }
    fputc('"', f);
}

static void put_ranks(FILE *f, const struct rm_status *st)
{
    fputs("  \"ranks\": [\n", f);
    for (int r = 0; r < st->size; r++) {
        const struct rm_rank_info *i = &st->ranks[r];
        fprintf(f, "    {\"rank\": %d, \"pid\": %d, \"host\": ", i->rank, i->pid);
        put_string(f, i->host);
        fprintf(f, ", \"role\": \"%s\", \"cores\": ", role_name(st->roles[r]));
        put_string(f, i->cpus);
        fprintf(f, "}%s\n", r + 1 < st->size ? "," : "");
    }
    fputs("  ],\n", f);
}

int rm_status_write(const char *path, const struct rm_status *st)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof tmp)
        return RM_EIO;
    FILE *f = fopen(tmp, "w");
    if (!f)
        return RM_EIO;
    fprintf(f, "{\n  \"state\": \"%s\",\n  \"leader\": %d,\n  \"term\": %llu,\n  \"epoch\": %llu,\n",
            st->state, st->leader, (unsigned long long)st->term, (unsigned long long)st->epoch);
    put_ranks(f, st);
    fprintf(f,
            "  \"tasks\": {\"total\": %llu, \"done\": %llu, \"running\": %llu, "
            "\"rescheduled\": %llu}\n}\n",
            (unsigned long long)st->total, (unsigned long long)st->done,
            (unsigned long long)st->running, (unsigned long long)st->rescheduled);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad || rename(tmp, path) != 0) {
        unlink(tmp);
        return RM_EIO;
    }
    return 0;
}
