/* status.c: see status.h. */
#include "runtime/status.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ringmaster.h"
#include "runtime/jsonout.h"

static const char *role_name(uint8_t r)
{
    static const char *const names[] = {"worker", "voter", "leader", "dead"};
    return r <= RM_ROLE_DEAD ? names[r] : "worker";
}

static void put_ranks(FILE *f, const struct rm_status *st)
{
    fputs("  \"ranks\": [\n", f);
    for (int r = 0; r < st->size; r++) {
        const struct rm_rank_info *i = &st->ranks[r];
        fprintf(f, "    {\"rank\": %d, \"pid\": %d, \"host\": ", i->rank, i->pid);
        rm_json_str(f, i->host);
        fprintf(f, ", \"role\": \"%s\", \"cores\": ", role_name(st->roles[r]));
        rm_json_str(f, i->cpus);
        fprintf(f, "}%s\n", r + 1 < st->size ? "," : "");
    }
    fputs("  ],\n", f);
}

int rm_status_write(const char *path, const struct rm_status *st)
{
    char tmp[4096];
    FILE *f = rm_json_open(path, tmp, sizeof tmp);
    if (!f)
        return RM_EIO;
    fprintf(f,
            "{\n  \"state\": \"%s\",\n  \"leader\": %d,\n  \"term\": %llu,\n  \"epoch\": %llu,\n",
            st->state, st->leader, (unsigned long long)st->term, (unsigned long long)st->epoch);
    put_ranks(f, st);
    fprintf(f,
            "  \"tasks\": {\"total\": %llu, \"done\": %llu, \"running\": %llu, "
            "\"rescheduled\": %llu}\n}\n",
            (unsigned long long)st->total, (unsigned long long)st->done,
            (unsigned long long)st->running, (unsigned long long)st->rescheduled);
    return rm_json_commit(f, tmp, path, 0);
}
