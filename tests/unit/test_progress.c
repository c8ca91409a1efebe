/* test_progress.c: the progress line's content. */
#include <CUnit/Basic.h>
#include <stdlib.h>
#include <string.h>

#include "scheduler/progress.h"
#include "scheduler/tasktable.h"

static void apply(struct rm_tasktable *tt, unsigned char *e, size_t len)
{
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_EQUAL(rm_tasktable_apply(tt, e, len), 0);
    free(e);
}

static void test_line(void)
{
    struct rm_tasktable tt;
    rm_tasktable_init(&tt);
    uint64_t counts[] = {4, 2}, ids[] = {0, 1, 2};
    uint32_t att[] = {1, 1, 1};
    size_t len;
    unsigned char *e = rm_tt_encode_init(6, 3, 2, counts, &len);
    apply(&tt, e, len);
    e = rm_tt_encode_assign(1, ids, 3, &len);
    apply(&tt, e, len);
    e = rm_tt_encode_done(1, ids, att, 2, &len);
    apply(&tt, e, len);
    e = rm_tt_encode_dead(2, &len);
    apply(&tt, e, len);
    char line[512];
    /* 2 of 4 first-stage tasks of 400 MB in 2 s: 100 MB/s; 2 tasks in 2 s, 4 left: ETA 4 s */
    rm_progress_format(line, sizeof line, &tt, 400000000, 2.0, 2, 5, 0, 3);
    CU_ASSERT_STRING_EQUAL(line, "progress: 2/6 tasks (stage 0: 2/4, stage 1: 0/2), 100 MB/s in, "
                                 "ETA 4.0 s, 4 ranks alive, 1 dead, leader 0 (term 3), 0 "
                                 "rescheduled");
    rm_progress_format(line, 20, &tt, 0, 0, 0, 5, 0, 3); /* cut short, still terminated */
    CU_ASSERT_EQUAL(strlen(line), 19);
    rm_tasktable_close(&tt);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("progress", NULL, NULL);
    CU_add_test(s, "the line: counts by stage, rate, ETA, ranks, leader", test_line);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
