/* pin.c: see pin.h. */
#include "runtime/pin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringmaster.h"

const char *rm_pin_source_name(enum rm_pin_source s)
{
    static const char *const names[] = {"ours", "launcher", "none"};
    return names[s];
}

/* A NUMA domain inside a package, with its cores in topology order. */
struct domain {
    int pkg, numa;  /* logical indexes */
    int rank;       /* order of this domain among its package's domains */
    int first, n;   /* its cores: logical indexes first .. first + n - 1 */
};

static int numa_of(hwloc_topology_t topo, hwloc_obj_t core)
{
    int n = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE);
    for (int i = 0; i < n; i++) {
        hwloc_obj_t node = hwloc_get_obj_by_type(topo, HWLOC_OBJ_NUMANODE, (unsigned)i);
        if (node && node->cpuset && hwloc_bitmap_isincluded(core->cpuset, node->cpuset))
            return i;
    }
    return 0;
}

/* Splits the cores into domains; returns how many (cores are contiguous per domain). */
static int find_domains(hwloc_topology_t topo, int ncores, struct domain *d)
{
    int nd = 0;
    for (int c = 0; c < ncores; c++) {
        hwloc_obj_t core = hwloc_get_obj_by_type(topo, HWLOC_OBJ_CORE, (unsigned)c);
        if (!core)
            break;
        hwloc_obj_t pkg = hwloc_get_ancestor_obj_by_type(topo, HWLOC_OBJ_PACKAGE, core);
        int p = pkg ? (int)pkg->logical_index : 0, m = numa_of(topo, core);
        if (nd > 0 && d[nd - 1].pkg == p && d[nd - 1].numa == m) {
            d[nd - 1].n++;
            continue;
        }
        int rank = 0;
        for (int k = 0; k < nd; k++)
            rank += d[k].pkg == p;
        d[nd++] = (struct domain){p, m, rank, c, 1};
    }
    return nd;
}

/* Orders domains by (rank within package, package): P0N0, P1N0, P0N1, P1N1, ... */
static int domain_cmp(const void *a, const void *b)
{
    const struct domain *x = a, *y = b;
    if (x->rank != y->rank)
        return x->rank < y->rank ? -1 : 1;
    return x->pkg < y->pkg ? -1 : x->pkg > y->pkg;
}

/* The core of local rank i under scatter: domains round-robin, the next core in each. */
static int scatter_core(hwloc_topology_t topo, int i, int ncores)
{
    struct domain *d = malloc((size_t)ncores * sizeof *d);
    if (!d)
        return -1;
    int nd = find_domains(topo, ncores, d);
    if (nd == 0) {
        free(d);
        return -1;
    }
    qsort(d, (size_t)nd, sizeof *d, domain_cmp);
    const struct domain *dom = &d[i % nd];
    int core = dom->first + (i / nd) % dom->n;
    free(d);
    return core;
}

int rm_pin_choose(hwloc_topology_t topo, enum rm_bind_policy policy, int local_rank,
                  int local_size, int *core_out, bool *wrapped)
{
    if (local_rank < 0 || local_size < 1 || local_rank >= local_size)
        return RM_EINVAL;
    int ncores = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
    if (ncores < 1)
        return RM_EHWLOC;
    *wrapped = local_size > ncores;
    int core = local_rank % ncores;
    if (policy == RM_POLICY_SCATTER && (core = scatter_core(topo, local_rank, ncores)) < 0)
        return RM_ENOMEM;
    *core_out = core;
    return 0;
}

/* Fills out->cpus and out->numa from a cpuset. */
static void describe(hwloc_topology_t topo, hwloc_const_cpuset_t set, struct rm_pin_result *out)
{
    hwloc_bitmap_list_snprintf(out->cpus, sizeof out->cpus, set);
    hwloc_nodeset_t ns = hwloc_bitmap_alloc();
    if (!ns) {
        snprintf(out->numa, sizeof out->numa, "?");
        return;
    }
    hwloc_cpuset_to_nodeset(topo, set, ns);
    hwloc_bitmap_list_snprintf(out->numa, sizeof out->numa, ns);
    hwloc_bitmap_free(ns);
}

/* True when the process is bound to less than every allowed PU. */
static bool launcher_bound(hwloc_topology_t topo, hwloc_const_cpuset_t current)
{
    hwloc_const_cpuset_t all = hwloc_topology_get_allowed_cpuset(topo);
    return !hwloc_bitmap_isincluded(all, current);
}

static int bind_core(hwloc_topology_t topo, enum rm_bind_policy policy, int local_rank,
                     int local_size, struct rm_pin_result *out)
{
    int core;
    int rc = rm_pin_choose(topo, policy, local_rank, local_size, &core, &out->wrapped);
    if (rc != 0)
        return rc;
    hwloc_obj_t obj = hwloc_get_obj_by_type(topo, HWLOC_OBJ_CORE, (unsigned)core);
    if (!obj || hwloc_set_cpubind(topo, obj->cpuset, HWLOC_CPUBIND_PROCESS) != 0)
        return RM_EHWLOC;
    /* Memory binding matters only where there is more than one NUMA node. */
    if (hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE) > 1 &&
        hwloc_set_membind(topo, obj->nodeset, HWLOC_MEMBIND_BIND,
                          HWLOC_MEMBIND_PROCESS | HWLOC_MEMBIND_BYNODESET) != 0)
        return RM_EHWLOC;
    out->core = core;
    out->source = RM_PIN_OURS;
    return 0;
}

int rm_pin_self(enum rm_bind_mode mode, enum rm_bind_policy policy, int local_rank,
                int local_size, struct rm_pin_result *out)
{
    *out = (struct rm_pin_result){.core = -1, .source = RM_PIN_NONE};
    hwloc_topology_t topo;
    hwloc_cpuset_t cur = NULL;
    int rc = RM_EHWLOC;
    if (hwloc_topology_init(&topo) != 0)
        return RM_EHWLOC;
    if (hwloc_topology_load(topo) != 0)
        goto out_topo;
    if (!(cur = hwloc_bitmap_alloc()) || hwloc_get_cpubind(topo, cur, HWLOC_CPUBIND_PROCESS) != 0)
        goto out_topo;
    rc = 0;
    if (launcher_bound(topo, cur))
        out->source = RM_PIN_LAUNCHER;
    else if (mode == RM_BIND_CORE)
        rc = bind_core(topo, policy, local_rank, local_size, out);
    if (hwloc_get_cpubind(topo, cur, HWLOC_CPUBIND_PROCESS) == 0)
        describe(topo, cur, out);
out_topo:
    hwloc_bitmap_free(cur);
    hwloc_topology_destroy(topo);
    return rc;
}
