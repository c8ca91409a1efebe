/* test_options.c: the run command line parser. */
#include <CUnit/Basic.h>
#include <string.h>

#include "ringmaster.h"
#include "runtime/options.h"

static int parse(struct rm_options *o, char *err, int argc, char **argv)
{
    return rm_options_parse(argc, argv, o, err, 256);
}

#define ARGV(...) ((char *[]){__VA_ARGS__})
#define ARGC(...) ((int)(sizeof((char *[]){__VA_ARGS__}) / sizeof(char *)))
#define PARSE(o, err, ...) parse(o, err, ARGC(__VA_ARGS__), ARGV(__VA_ARGS__))

static void test_defaults(void)
{
    struct rm_options o;
    char err[256];
    CU_ASSERT_EQUAL(PARSE(&o, err, "noop"), 0);
    CU_ASSERT_STRING_EQUAL(o.kernel, "noop");
    CU_ASSERT_EQUAL(o.heartbeat_ms, 100);
    CU_ASSERT_EQUAL(o.suspect_ms, 400);
    CU_ASSERT_EQUAL(o.bind, RM_BIND_CORE);
    CU_ASSERT_EQUAL(o.policy, RM_POLICY_COMPACT);
    CU_ASSERT_EQUAL(o.tasks, 1000);
    CU_ASSERT_EQUAL(o.verbosity, 0);
}

static void test_values(void)
{
    struct rm_options o;
    char err[256];
    CU_ASSERT_EQUAL(PARSE(&o, err, "noop", "--tasks", "5", "--task-ms=7", "--heartbeat-ms", "50",
                          "--bind", "none", "--bind-policy=scatter", "--verbose"),
                    0);
    CU_ASSERT_EQUAL(o.tasks, 5);
    CU_ASSERT_EQUAL(o.task_ms, 7);
    CU_ASSERT_EQUAL(o.heartbeat_ms, 50);
    CU_ASSERT_EQUAL(o.suspect_ms, 200);
    CU_ASSERT_EQUAL(o.bind, RM_BIND_NONE);
    CU_ASSERT_EQUAL(o.policy, RM_POLICY_SCATTER);
    CU_ASSERT_EQUAL(o.verbosity, 1);
    CU_ASSERT_EQUAL(PARSE(&o, err, "noop", "--quiet", "--suspect-ms", "900"), 0);
    CU_ASSERT_EQUAL(o.verbosity, -1);
    CU_ASSERT_EQUAL(o.suspect_ms, 900);
}

/* The scheduler and input/output options, and the kernels that take them. */
static void test_kernel_options(void)
{
    struct rm_options o;
    char err[256];
    /* o borrows argv (inputs point into it): keep it in scope while o is read. */
    char *wc[] = {"wordcount",      "--input",    "a",           "b/",
                  "--output=o.tsv", "--split-size", "64K",       "--partitions",
                  "3",              "--bounded-load", "1.25",    "--max-attempts",
                  "5",              "--no-speculation", "--case-sensitive"};
    CU_ASSERT_EQUAL(parse(&o, err, (int)(sizeof wc / sizeof *wc), wc), 0);
    CU_ASSERT_EQUAL(o.n_inputs, 2);
    CU_ASSERT_STRING_EQUAL(o.inputs[1], "b/");
    CU_ASSERT_STRING_EQUAL(o.output, "o.tsv");
    CU_ASSERT_EQUAL(o.split_size, 65536);
    CU_ASSERT_EQUAL(o.partitions, 3);
    CU_ASSERT_DOUBLE_EQUAL(o.bounded_load, 1.25, 1e-9);
    CU_ASSERT_EQUAL(o.max_attempts, 5);
    CU_ASSERT_FALSE(o.speculation);
    CU_ASSERT_TRUE(o.case_sensitive);
    char *gr[] = {"grep", "--pattern", "a|b", "--input=x", "--output", "y"};
    CU_ASSERT_EQUAL(parse(&o, err, (int)(sizeof gr / sizeof *gr), gr), 0);
    CU_ASSERT_STRING_EQUAL(o.inputs[0], "x");
    CU_ASSERT_STRING_EQUAL(o.pattern, "a|b");
    CU_ASSERT_EQUAL(PARSE(&o, err, "grep", "--input", "x", "--output", "y"), RM_EUSAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "grep needs --pattern"));
    CU_ASSERT_EQUAL(PARSE(&o, err, "wordcount", "--output", "y"), RM_EUSAGE);
    CU_ASSERT_EQUAL(PARSE(&o, err, "wordcount", "--input", "--output", "y"), RM_EUSAGE);
    CU_ASSERT_EQUAL(PARSE(&o, err, "wordcount", "--input", "a", "--input", "b", "--output", "y"),
                    RM_EUSAGE);
    CU_ASSERT_EQUAL(PARSE(&o, err, "noop", "--bounded-load", "0.9"), RM_EUSAGE);
    CU_ASSERT_EQUAL(PARSE(&o, err, "noop", "--bounded-load", "x"), RM_EUSAGE);
    CU_ASSERT_EQUAL(PARSE(&o, err, "noop", "--split-size", "1M"), RM_EUSAGE); /* not noop's */
    CU_ASSERT_EQUAL(PARSE(&o, err, "tasks", "--input", "a", "b", "--output", "y"), RM_EUSAGE);
    CU_ASSERT_EQUAL(PARSE(&o, err, "tasks", "--input", "a", "--output", "y", "--retries", "2",
                          "--timeout", "30"),
                    0);
    CU_ASSERT_EQUAL(o.retries, 2);
    CU_ASSERT_EQUAL(o.timeout_s, 30);
    CU_ASSERT_EQUAL(PARSE(&o, err, "sort", "--input", "a", "--output", "b", "--compression", "0"),
                    0);
    CU_ASSERT_EQUAL(o.compression, 0);
}

static void test_errors(void)
{
    struct rm_options o;
    char err[256];
    CU_ASSERT_EQUAL(PARSE(&o, err, "wordcountx"), RM_ENOENT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "unknown kernel 'wordcountx'"));
    CU_ASSERT_EQUAL(PARSE(&o, err, "noop", "--frobnicate"), RM_EUSAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "unknown option '--frobnicate'"));
    CU_ASSERT_EQUAL(PARSE(&o, err, "noop", "--tasks"), RM_EUSAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "needs a value"));
    CU_ASSERT_EQUAL(PARSE(&o, err, "noop", "--tasks", "-3"), RM_EUSAGE);
    CU_ASSERT_EQUAL(PARSE(&o, err, "noop", "--tasks", "12abc"), RM_EUSAGE);
    CU_ASSERT_EQUAL(PARSE(&o, err, "noop", "--tasks", "99999999999999999999999"), RM_EUSAGE);
    CU_ASSERT_EQUAL(PARSE(&o, err, "noop", "--heartbeat-ms", "0"), RM_EUSAGE);
    CU_ASSERT_EQUAL(PARSE(&o, err, "noop", "--bind", "socket"), RM_EUSAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "'core' or 'none'"));
    CU_ASSERT_EQUAL(PARSE(&o, err, "noop", "--heartbeat-ms", "100", "--suspect-ms", "100"),
                    RM_EUSAGE);
    CU_ASSERT_EQUAL(PARSE(&o, err, "--tasks"), RM_EUSAGE);
    CU_ASSERT_EQUAL(PARSE(&o, err, ""), RM_EUSAGE);
    CU_ASSERT_EQUAL(rm_options_parse(0, NULL, &o, err, sizeof err), RM_EUSAGE);
    /* Kernel options do not leak into info. */
    CU_ASSERT_EQUAL(rm_options_parse_info(3, ARGV("info", "--tasks", "3"), &o, err, sizeof err),
                    RM_EUSAGE);
    CU_ASSERT_EQUAL(rm_options_parse_info(3, ARGV("info", "--bind", "none"), &o, err, sizeof err),
                    0);
}

static void test_sizes(void)
{
    uint64_t v;
    CU_ASSERT_EQUAL(rm_options_parse_size("32M", &v), 0);
    CU_ASSERT_EQUAL(v, 32ull << 20);
    CU_ASSERT_EQUAL(rm_options_parse_size("7", &v), 0);
    CU_ASSERT_EQUAL(v, 7);
    CU_ASSERT_EQUAL(rm_options_parse_size("2k", &v), 0);
    CU_ASSERT_EQUAL(v, 2048);
    CU_ASSERT_EQUAL(rm_options_parse_size("1G", &v), 0);
    CU_ASSERT_EQUAL(v, 1ull << 30);
    CU_ASSERT_EQUAL(rm_options_parse_size("", &v), RM_EUSAGE);
    CU_ASSERT_EQUAL(rm_options_parse_size("M", &v), RM_EUSAGE);
    CU_ASSERT_EQUAL(rm_options_parse_size("-1", &v), RM_EUSAGE);
    CU_ASSERT_EQUAL(rm_options_parse_size("1T", &v), RM_EUSAGE);
    CU_ASSERT_EQUAL(rm_options_parse_size("1MB", &v), RM_EUSAGE);
    CU_ASSERT_EQUAL(rm_options_parse_size("17179869184G", &v), RM_EUSAGE);
    CU_ASSERT_EQUAL(rm_options_parse_size(NULL, &v), RM_EUSAGE);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("options", NULL, NULL);
    CU_add_test(s, "defaults", test_defaults);
    CU_add_test(s, "kernel and scheduler options", test_kernel_options);
    CU_add_test(s, "values", test_values);
    CU_add_test(s, "errors", test_errors);
    CU_add_test(s, "sizes", test_sizes);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
