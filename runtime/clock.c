/* clock.c: the production clock. */
#include "runtime/clock.h"

#include <time.h>

uint64_t rm_clock_monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t system_now(void *ctx)
{
    (void)ctx;
    return rm_clock_monotonic_ns();
}

struct rm_clock rm_clock_system(void)
{
    struct rm_clock c = {system_now, 0};
    return c;
}
