/* test_pin.c: pinning policies on synthetic topologies this machine does not have. */
#include <CUnit/Basic.h>
#include <hwloc.h>

#include "ringmaster.h"
#include "runtime/pin.h"

static hwloc_topology_t load(const char *desc)
{
    hwloc_topology_t t;
    CU_ASSERT_FATAL(hwloc_topology_init(&t) == 0);
    CU_ASSERT_FATAL(hwloc_topology_set_synthetic(t, desc) == 0);
    CU_ASSERT_FATAL(hwloc_topology_load(t) == 0);
    return t;
}

static int choose(hwloc_topology_t t, enum rm_bind_policy p, int rank, int size, bool *wrapped)
{
    int core = -1;
    CU_ASSERT_EQUAL(rm_pin_choose(t, p, rank, size, &core, wrapped), 0);
    return core;
}

static unsigned package_of(hwloc_topology_t t, int core)
{
    hwloc_obj_t c = hwloc_get_obj_by_type(t, HWLOC_OBJ_CORE, (unsigned)core);
    if (!c)
        return 999;
    hwloc_obj_t p = hwloc_get_ancestor_obj_by_type(t, HWLOC_OBJ_PACKAGE, c);
    return p ? p->logical_index : 999;
}

static void test_compact(void)
{
    hwloc_topology_t t = load("pack:2 numa:2 core:8 pu:2");
    bool wrapped;
    for (int r = 0; r < 32; r++)
        CU_ASSERT_EQUAL(choose(t, RM_POLICY_COMPACT, r, 32, &wrapped), r);
    CU_ASSERT_FALSE(wrapped);
    /* The first package fills before the second. */
    for (int r = 0; r < 16; r++)
        CU_ASSERT_EQUAL(package_of(t, choose(t, RM_POLICY_COMPACT, r, 16, &wrapped)), 0);
    hwloc_topology_destroy(t);
}

static void test_scatter(void)
{
    hwloc_topology_t t = load("pack:2 numa:2 core:8 pu:2");
    bool wrapped;
    /* Cores 0-7: P0N0, 8-15: P0N1, 16-23: P1N0, 24-31: P1N1. */
    int expect[8] = {0, 16, 8, 24, 1, 17, 9, 25};
    for (int r = 0; r < 8; r++)
        CU_ASSERT_EQUAL(choose(t, RM_POLICY_SCATTER, r, 32, &wrapped), expect[r]);
    /* Every core is used exactly once by 32 ranks. */
    int used[32] = {0};
    for (int r = 0; r < 32; r++)
        used[choose(t, RM_POLICY_SCATTER, r, 32, &wrapped)]++;
    for (int c = 0; c < 32; c++)
        CU_ASSERT_EQUAL(used[c], 1);
    /* Two ranks land on different packages. */
    CU_ASSERT_NOT_EQUAL(package_of(t, choose(t, RM_POLICY_SCATTER, 0, 2, &wrapped)),
                        package_of(t, choose(t, RM_POLICY_SCATTER, 1, 2, &wrapped)));
    hwloc_topology_destroy(t);
}

static void test_scatter_flat(void)
{
    hwloc_topology_t t = load("core:4 pu:1");
    bool wrapped;
    for (int r = 0; r < 4; r++)
        CU_ASSERT_EQUAL(choose(t, RM_POLICY_SCATTER, r, 4, &wrapped), r);
    hwloc_topology_destroy(t);
}

static void test_wrap(void)
{
    hwloc_topology_t t = load("pack:2 numa:2 core:8 pu:2");
    bool wrapped = false;
    CU_ASSERT_EQUAL(choose(t, RM_POLICY_COMPACT, 33, 40, &wrapped), 1);
    CU_ASSERT_TRUE(wrapped);
    int used[32] = {0};
    for (int r = 0; r < 64; r++)
        used[choose(t, RM_POLICY_SCATTER, r, 64, &wrapped)]++;
    for (int c = 0; c < 32; c++)
        CU_ASSERT_EQUAL(used[c], 2);
    hwloc_topology_destroy(t);
}

static void test_bad_args(void)
{
    hwloc_topology_t t = load("core:2 pu:1");
    int core;
    bool wrapped;
    CU_ASSERT_EQUAL(rm_pin_choose(t, RM_POLICY_COMPACT, -1, 2, &core, &wrapped), RM_EINVAL);
    CU_ASSERT_EQUAL(rm_pin_choose(t, RM_POLICY_COMPACT, 2, 2, &core, &wrapped), RM_EINVAL);
    CU_ASSERT_EQUAL(rm_pin_choose(t, RM_POLICY_COMPACT, 0, 0, &core, &wrapped), RM_EINVAL);
    hwloc_topology_destroy(t);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("pin", NULL, NULL);
    CU_add_test(s, "compact fills a package first", test_compact);
    CU_add_test(s, "scatter round-robins packages and NUMA nodes", test_scatter);
    CU_add_test(s, "scatter on a flat machine", test_scatter_flat);
    CU_add_test(s, "more ranks than cores wrap around", test_wrap);
    CU_add_test(s, "bad arguments", test_bad_args);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
