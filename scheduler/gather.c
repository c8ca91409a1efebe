/* gather.c: see gather.h. */
#include "scheduler/gather.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ringmaster.h"

int rm_gather_init(struct rm_gather *g, int size)
{
    memset(g, 0, sizeof *g);
    g->size = size;
    g->data = calloc((size_t)size + 1, sizeof *g->data);
    g->len = calloc((size_t)size + 1, sizeof *g->len);
    if (!g->data || !g->len) {
        free(g->data);
        free(g->len);
        return RM_ENOMEM;
    }
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    return 0;
}

void rm_gather_close(struct rm_gather *g)
{
    if (!g->data)
        return;
    for (int r = 0; r < g->size; r++)
        free(g->data[r]);
    free(g->data);
    free(g->len);
    g->data = NULL;
    pthread_mutex_destroy(&g->mu);
    pthread_cond_destroy(&g->cv);
}

void rm_gather_open(struct rm_gather *g)
{
    pthread_mutex_lock(&g->mu);
    g->open = true;
    pthread_mutex_unlock(&g->mu);
}

void rm_gather_put(struct rm_gather *g, int rank, const void *payload, size_t len)
{
    pthread_mutex_lock(&g->mu);
    if (g->open && rank >= 0 && rank < g->size && !g->data[rank] &&
        (g->data[rank] = malloc(len ? len : 1))) {
        memcpy(g->data[rank], payload, len);
        g->len[rank] = len;
        pthread_cond_broadcast(&g->cv);
    }
    pthread_mutex_unlock(&g->mu);
}

/* Ranks still awaited (under mu). */
static int awaited(const struct rm_gather *g, int self, const atomic_bool *dead)
{
    int n = 0;
    for (int r = 0; r < g->size; r++)
        n += r != self && !g->data[r] && !atomic_load(&dead[r]);
    return n;
}

uint32_t rm_gather_wait(struct rm_gather *g, int self, const atomic_bool *dead, uint64_t timeout_ns)
{
    struct timespec end;
    clock_gettime(CLOCK_REALTIME, &end);
    uint64_t ns = (uint64_t)end.tv_nsec + timeout_ns;
    end.tv_sec += (time_t)(ns / 1000000000ull);
    end.tv_nsec = (long)(ns % 1000000000ull);
    pthread_mutex_lock(&g->mu);
    while (awaited(g, self, dead) > 0) {
        /* a death does not signal the condition: look again every 50 ms */
        struct timespec now, step;
        clock_gettime(CLOCK_REALTIME, &now);
        if (now.tv_sec > end.tv_sec || (now.tv_sec == end.tv_sec && now.tv_nsec >= end.tv_nsec))
            break;
        uint64_t s = (uint64_t)now.tv_nsec + 50000000ull;
        step.tv_sec = now.tv_sec + (time_t)(s / 1000000000ull);
        step.tv_nsec = (long)(s % 1000000000ull);
        pthread_cond_timedwait(&g->cv, &g->mu, &step);
    }
    g->open = false;
    uint32_t n = 0;
    for (int r = 0; r < g->size; r++)
        n += g->data[r] != NULL;
    pthread_mutex_unlock(&g->mu);
    return n;
}
