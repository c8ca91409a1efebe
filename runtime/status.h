/*
 * status.h: the live status file (--status FILE, see shared/INTERFACE.md).
 *
 * The leader rewrites it at least twice a second; after a leader change the new leader takes
 * over. Each write goes to FILE.tmp.<pid> and is renamed over FILE, so a reader never sees a
 * half-written file. Not thread-safe: the control thread writes it.
 */
#ifndef RM_STATUS_H
#define RM_STATUS_H

#include <stdint.h>

#include "runtime/world.h"

enum rm_role { RM_ROLE_WORKER = 0, RM_ROLE_VOTER = 1, RM_ROLE_LEADER = 2, RM_ROLE_DEAD = 3 };

struct rm_status {
    const char *state; /* "starting", "running", "done" or "failed" */
    int leader;        /* -1 when unknown */
    uint64_t term, epoch;
    int size;
    const struct rm_rank_info *ranks; /* size entries, borrowed */
    const uint8_t *roles;             /* size entries of enum rm_role, borrowed */
    uint64_t total, done, running, rescheduled;
};

/* Writes st as JSON to path atomically. Returns 0 or RM_EIO (errno says why; the previous
 * file, if any, is left intact). */
int rm_status_write(const char *path, const struct rm_status *st);

#endif /* RM_STATUS_H */
