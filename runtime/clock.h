/*
 * clock.h: the time seam. Modules that need time take a struct rm_clock so that tests can
 * drive them with a simulated clock; production uses rm_clock_system().
 */
#ifndef RM_CLOCK_H
#define RM_CLOCK_H

#include <stdint.h>

struct rm_clock {
    /* Returns monotonic nanoseconds. Must be callable from any thread. */
    uint64_t (*now_ns)(void *ctx);
    void *ctx; /* borrowed; passed to now_ns */
};

/* Returns the system monotonic clock (CLOCK_MONOTONIC). Can't fail. */
struct rm_clock rm_clock_system(void);

/* Reads CLOCK_MONOTONIC in nanoseconds. Can't fail; any thread. */
uint64_t rm_clock_monotonic_ns(void);

static inline uint64_t rm_clock_now(const struct rm_clock *c)
{
    return c->now_ns(c->ctx);
}

#define RM_NS_PER_MS 1000000ull
#define RM_NS_PER_US 1000ull

#endif /* RM_CLOCK_H */
