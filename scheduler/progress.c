/* progress.c: see progress.h. */
#include "scheduler/progress.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NS_PER_S 1000000000ull

void rm_progress_init(struct rm_progress *p, bool quiet)
{
    *p = (struct rm_progress){.on = !quiet, .tty = isatty(2) == 1};
    const char *e = getenv("RINGMASTER_PROGRESS_S");
    double s = e ? atof(e) : 0;
    p->every_ns = p->tty  ? NS_PER_S / 2
                  : s > 0 ? (uint64_t)(s * 1e9)
                          : RM_PROGRESS_LOG_S * NS_PER_S;
}

/* Appends to buf at *at, keeping it terminated. */
static void put(char *buf, size_t cap, size_t *at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void put(char *buf, size_t cap, size_t *at, const char *fmt, ...)
{
    if (*at >= cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *at, cap - *at, fmt, ap);
    va_end(ap);
    if (n > 0)
        *at = *at + (size_t)n < cap ? *at + (size_t)n : cap;
}

void rm_progress_format(char *buf, size_t cap, const struct rm_tasktable *tt, uint64_t input_bytes,
                        double elapsed_s, uint64_t done_since, uint32_t size, int leader,
                        uint64_t term)
{
    size_t at = 0;
    buf[0] = '\0';
    put(buf, cap, &at, "progress: %llu/%llu tasks", (unsigned long long)tt->done,
        (unsigned long long)tt->n);
    for (uint32_t s = 0; tt->stages > 1 && s < tt->stages && s < 8; s++)
        put(buf, cap, &at, "%sstage %u: %llu/%llu", s ? ", " : " (", s,
            (unsigned long long)tt->stage_done[s],
            (unsigned long long)(tt->stage_first[s + 1] - tt->stage_first[s]));
    if (tt->stages > 1)
        put(buf, cap, &at, "%s)", tt->stages > 8 ? ", ..." : "");
    uint64_t first = tt->stages ? tt->stage_first[1] : 0;
    if (input_bytes && first && elapsed_s > 0)
        put(buf, cap, &at, ", %.0f MB/s in",
            (double)input_bytes * (double)tt->stage_done[0] / (double)first / 1e6 / elapsed_s);
    if (done_since > 0 && tt->done < tt->n)
        put(buf, cap, &at, ", ETA %.1f s",
            elapsed_s * (double)(tt->n - tt->done) / (double)done_since);
    put(buf, cap, &at, ", %llu ranks alive, %llu dead, leader %d (term %llu), %llu rescheduled",
        (unsigned long long)(size - tt->epoch), (unsigned long long)tt->epoch, leader,
        (unsigned long long)term, (unsigned long long)tt->rescheduled);
}

void rm_progress_tick(struct rm_progress *p, uint64_t now, const struct rm_tasktable *tt,
                      uint64_t input_bytes, uint32_t size, int leader, uint64_t term)
{
    if (!p->on || !tt->initialized)
        return;
    if (p->start_ns == 0) {
        p->start_ns = p->last_ns = now;
        p->start_done = tt->done;
        return;
    }
    if (now - p->last_ns < p->every_ns)
        return;
    p->last_ns = now;
    char line[512];
    rm_progress_format(line, sizeof line, tt, input_bytes, (double)(now - p->start_ns) / 1e9,
                       tt->done - p->start_done, size, leader, term);
    if (p->tty) {
        fprintf(stderr, "\r%s\033[K", line);
        p->drawn = true;
    } else {
        fprintf(stderr, "%s\n", line);
    }
    fflush(stderr);
}

void rm_progress_end(struct rm_progress *p)
{
    if (p->drawn) {
        fputc('\n', stderr);
        p->drawn = false;
    }
}
