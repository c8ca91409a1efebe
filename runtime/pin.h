/*
 * pin.h: binding each rank to a core with hwloc.
 *
 * Policies, applied to the node-local rank (from MPI_Comm_split_type(SHARED)):
 *  - compact: cores in topology order, filling one package before the next;
 *  - scatter: round-robin over packages, then over the NUMA nodes inside each package, so
 *    consecutive local ranks land as far apart as the machine allows.
 * With more local ranks than cores the assignment wraps around (and the caller warns once).
 * A rank is bound to all hardware threads of its core, and its memory to the core's NUMA node.
 * If the launcher already bound the process (mpirun --bind-to, srun --cpu-bind), that binding
 * is kept and reported.
 *
 * Not thread-safe; call from the main thread before other threads start.
 */
#ifndef RM_PIN_H
#define RM_PIN_H

#include <hwloc.h>
#include <stdbool.h>

#include "runtime/options.h"

enum rm_pin_source {
    RM_PIN_OURS = 0,     /* we bound the rank */
    RM_PIN_LAUNCHER = 1, /* the launcher had bound it; we kept that */
    RM_PIN_NONE = 2,     /* unbound (--bind none) */
};

struct rm_pin_result {
    enum rm_pin_source source;
    char cpus[256]; /* OS indexes of the PUs the rank may run on, as a list ("0-1,4") */
    char numa[64];  /* OS indexes of the NUMA nodes local to those PUs ("0") */
    int core;       /* logical index of the chosen core, or -1 */
    bool wrapped;   /* more local ranks than cores */
};

/*
 * Chooses the core for local rank `local_rank` of `local_size` under policy (pure; no binding).
 * topo: borrowed, loaded. *core_out: the logical index (HWLOC_OBJ_CORE) of the chosen core.
 * *wrapped: set when local_size exceeds the number of cores.
 * Returns 0, RM_EINVAL (bad rank numbers), RM_ENOMEM, or RM_EHWLOC (no cores).
 */
int rm_pin_choose(hwloc_topology_t topo, enum rm_bind_policy policy, int local_rank,
                  int local_size, int *core_out, bool *wrapped);

/*
 * Binds this process as the options say and describes the result in *out.
 * Returns 0, or RM_EHWLOC when the topology cannot be loaded or binding fails (out still
 * describes the current binding when it could be read).
 */
int rm_pin_self(enum rm_bind_mode mode, enum rm_bind_policy policy, int local_rank,
                int local_size, struct rm_pin_result *out);

/* Returns "ours", "launcher" or "none". Can't fail. */
const char *rm_pin_source_name(enum rm_pin_source s);

#endif /* RM_PIN_H */
