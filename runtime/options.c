/* options.c: see options.h. */
#include "runtime/options.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringmaster.h"
#include "runtime/jsonout.h"

static const char *const kernels[] = {"grep",     "histogram", "invindex", "kmeans",   "noop",
                                      "pagerank", "sort",      "tasks",    "wordcount"};

const char *rm_options_kernels(void)
{
    return "grep, histogram, invindex, kmeans, noop, pagerank, sort, tasks, wordcount";
}

/* Kernels that read split --input files and write one --output file. */
static bool reads_text(const char *kernel)
{
    return strcmp(kernel, "wordcount") == 0 || strcmp(kernel, "grep") == 0 ||
           strcmp(kernel, "invindex") == 0 || strcmp(kernel, "sort") == 0 ||
           strcmp(kernel, "histogram") == 0 || strcmp(kernel, "kmeans") == 0 ||
           strcmp(kernel, "pagerank") == 0 || strcmp(kernel, "job") == 0;
}

/* Kernels that shuffle (map-reduce with a reduce stage). */
static bool shuffles(const char *kernel)
{
    return strcmp(kernel, "wordcount") == 0 || strcmp(kernel, "invindex") == 0 ||
           strcmp(kernel, "sort") == 0 || strcmp(kernel, "pagerank") == 0 ||
           strcmp(kernel, "job") == 0;
}

void rm_options_defaults(struct rm_options *o)
{
    *o = (struct rm_options){0};
    o->heartbeat_ms = 100;
    o->suspect_ms = 0; /* 0: derived from heartbeat_ms after parsing */
    o->watchers = 3;
    o->voters = 3;
    o->election_ms = 150;
    o->snapshot_entries = 4096;
    o->startup_s = 120;
    o->bind = RM_BIND_CORE;
    o->policy = RM_POLICY_COMPACT;
    o->tasks = 1000;
    o->max_attempts = 3;
    o->replicas = 2;
    o->vnodes = 4096;
    o->speculation = true;
    o->split_size = 32u << 20;
    o->compression = 1;
    o->partitions = 16;
    o->bins = 10;
    o->k = 8;
    o->iterations = 10;
    o->seed = 1;
    o->damping = 0.85;
}

static int fail(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
    return RM_EUSAGE;
}

int rm_options_parse_size(const char *s, uint64_t *out)
{
    if (!s || *s < '0' || *s > '9')
        return RM_EUSAGE;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0)
        return RM_EUSAGE;
    unsigned shift = 0;
    if (*end == 'K' || *end == 'k')
        shift = 10;
    else if (*end == 'M' || *end == 'm')
        shift = 20;
    else if (*end == 'G' || *end == 'g')
        shift = 30;
    if (shift != 0)
        end++;
    if (*end != '\0' || (shift && v > (UINT64_MAX >> shift)))
        return RM_EUSAGE;
    *out = (uint64_t)v << shift;
    return 0;
}

/* Parses a whole number in [min, max]. */
static int parse_u64(const char *name, const char *s, uint64_t min, uint64_t max, uint64_t *out,
                     char *err, size_t len)
{
    uint64_t v;
    if (!s)
        return fail(err, len, "option %s needs a value", name);
    if (rm_options_parse_size(s, &v) != 0 || strpbrk(s, "KkMmGg") || v < min || v > max)
        return fail(err, len, "option %s: '%s' is not a whole number from %" PRIu64 " to %" PRIu64,
                    name, s, min, max);
    *out = v;
    return 0;
}

static int parse_u32(const char *name, const char *s, uint64_t min, uint64_t max, uint32_t *out,
                     char *err, size_t len)
{
    uint64_t v = 0;
    int rc = parse_u64(name, s, min, max, &v, err, len);
    if (rc == 0)
        *out = (uint32_t)v;
    return rc;
}

static int parse_choice(const char *name, const char *s, const char *a, const char *b, int *out,
                        char *err, size_t len)
{
    if (s && strcmp(s, a) == 0)
        *out = 0;
    else if (s && strcmp(s, b) == 0)
        *out = 1;
    else
        return fail(err, len, "option %s takes '%s' or '%s', not '%s'", name, a, b, s ? s : "");
    return 0;
}

/* Handles one option that takes a value. Returns 1 when name is not such an option. */
static int parse_valued(struct rm_options *o, const char *name, const char *v, char *err,
                        size_t len)
{
    int choice = 0;
    int rc;
    if (strcmp(name, "--heartbeat-ms") == 0)
        return parse_u32(name, v, 1, 60000, &o->heartbeat_ms, err, len);
    if (strcmp(name, "--suspect-ms") == 0)
        return parse_u32(name, v, 2, 600000, &o->suspect_ms, err, len);
    if (strcmp(name, "--watchers") == 0)
        return parse_u32(name, v, 1, 64, &o->watchers, err, len);
    if (strcmp(name, "--status") == 0) {
        if (!v || !*v)
            return fail(err, len, "option --status needs a file name");
        o->status_path = v;
        return 0;
    }
    if (strcmp(name, "--report") == 0 || strcmp(name, "--trace") == 0) {
        if (!v || !*v || v[0] == '-')
            return fail(err, len, "option %s needs a file name", name);
        *(name[2] == 'r' ? &o->report_path : &o->trace_path) = v;
        return 0;
    }
    if (strcmp(name, "--startup-timeout") == 0)
        return parse_u32(name, v, 1, 86400, &o->startup_s, err, len);
    if (strcmp(name, "--checkpoint-dir") == 0) {
        if (!v || !*v)
            return fail(err, len, "option --checkpoint-dir needs a directory");
        o->checkpoint_dir = v;
        return 0;
    }
    if (strcmp(name, "--checkpoint-interval") == 0)
        return parse_u32(name, v, 1, 86400 * 30, &o->checkpoint_s, err, len);
    if (strcmp(name, "--voters") == 0)
        return parse_u32(name, v, 1, 15, &o->voters, err, len);
    if (strcmp(name, "--election-timeout-ms") == 0)
        return parse_u32(name, v, 10, 60000, &o->election_ms, err, len);
    if (strcmp(name, "--snapshot-entries") == 0)
        return parse_u32(name, v, 0, 1u << 30, &o->snapshot_entries, err, len);
    if (strcmp(name, "--batch-size") == 0)
        return parse_u32(name, v, 0, 4096, &o->batch_size, err, len);
    if (strcmp(name, "--bind") == 0) {
        rc = parse_choice(name, v, "core", "none", &choice, err, len);
        o->bind = choice ? RM_BIND_NONE : RM_BIND_CORE;
        return rc;
    }
    if (strcmp(name, "--bind-policy") == 0) {
        rc = parse_choice(name, v, "compact", "scatter", &choice, err, len);
        o->policy = choice ? RM_POLICY_SCATTER : RM_POLICY_COMPACT;
        return rc;
    }
    if (strcmp(name, "--max-attempts") == 0)
        return parse_u32(name, v, 1, 255, &o->max_attempts, err, len);
    if (strcmp(name, "--replicas") == 0)
        return parse_u32(name, v, 1, 4, &o->replicas, err, len);
    if (strcmp(name, "--bounded-load") == 0) {
        char *end = NULL;
        double c = v ? strtod(v, &end) : 0;
        if (!v || end == v || *end || !(c == 0 || (c >= 1.0 && c <= 100.0)))
            return fail(err, len,
                        "option --bounded-load: '%s' is not 0 (off) or a number from 1 "
                        "to 100",
                        v ? v : "");
        o->bounded_load = c;
        return 0;
    }
    if (strcmp(name, "--vnodes") == 0)
        return parse_u32(name, v, 1, 65536, &o->vnodes, err, len);
    if (strcmp(o->kernel, "info") != 0 && strcmp(name, "--output") == 0) {
        if (!v || !*v || v[0] == '-')
            return fail(err, len, "option --output needs a path");
        o->output = v;
        return 0;
    }
    if (strcmp(o->kernel, "kmeans") == 0 && strcmp(name, "--k") == 0)
        return parse_u32(name, v, 1, 10000, &o->k, err, len);
    if (strcmp(o->kernel, "pagerank") == 0 && strcmp(name, "--damping") == 0) {
        char *end = NULL;
        double d = v ? strtod(v, &end) : -1;
        if (!v || end == v || *end || !(d >= 0 && d < 1))
            return fail(err, len, "option --damping: '%s' is not a number from 0 to below 1",
                        v ? v : "");
        o->damping = d;
        return 0;
    }
    if ((strcmp(o->kernel, "kmeans") == 0 || strcmp(o->kernel, "pagerank") == 0) &&
        strcmp(name, "--iterations") == 0)
        return parse_u32(name, v, 1, 1000, &o->iterations, err, len);
    if (strcmp(o->kernel, "kmeans") == 0 && strcmp(name, "--seed") == 0)
        return parse_u64(name, v, 0, UINT64_MAX, &o->seed, err, len);
    if ((strcmp(o->kernel, "histogram") == 0 || strcmp(o->kernel, "kmeans") == 0) &&
        strcmp(name, "--dataset") == 0) {
        if (!v || !*v)
            return fail(err, len, "option --dataset needs a dataset name");
        o->dataset = v;
        return 0;
    }
    if (strcmp(o->kernel, "histogram") == 0 && strcmp(name, "--bins") == 0)
        return parse_u32(name, v, 1, 1u << 24, &o->bins, err, len);
    if (strcmp(o->kernel, "histogram") == 0 &&
        (strcmp(name, "--min") == 0 || strcmp(name, "--max") == 0)) {
        char *end = NULL;
        double x = v ? strtod(v, &end) : 0;
        if (!v || end == v || *end || !isfinite(x))
            return fail(err, len, "option %s: '%s' is not a finite number", name, v ? v : "");
        *(name[3] == 'i' ? &o->min : &o->max) = x;
        *(name[3] == 'i' ? &o->have_min : &o->have_max) = true;
        return 0;
    }
    if (strcmp(o->kernel, "grep") == 0 && strcmp(name, "--pattern") == 0) {
        if (!v)
            return fail(err, len, "option --pattern needs a regular expression");
        o->pattern = v;
        return 0;
    }
    if (reads_text(o->kernel) && strcmp(name, "--split-size") == 0) {
        if (!v || rm_options_parse_size(v, &o->split_size) != 0 || o->split_size == 0 ||
            o->split_size > (1ull << 40))
            return fail(err, len,
                        "option --split-size: '%s' is not a size from 1 to 1T "
                        "(K, M and G allowed)",
                        v ? v : "");
        return 0;
    }
    if (shuffles(o->kernel) && strcmp(name, "--compression") == 0)
        return parse_u32(name, v, 0, 19, &o->compression, err, len);
    if (shuffles(o->kernel) && strcmp(name, "--partitions") == 0)
        return parse_u32(name, v, 1, 65536, &o->partitions, err, len);
    if (strcmp(o->kernel, "tasks") == 0 && strcmp(name, "--retries") == 0)
        return parse_u32(name, v, 0, 100, &o->retries, err, len);
    if (strcmp(o->kernel, "tasks") == 0 && strcmp(name, "--timeout") == 0)
        return parse_u32(name, v, 0, 31 * 86400, &o->timeout_s, err, len);
    if (strcmp(o->kernel, "info") == 0 && strcmp(name, "--hold-ms") == 0)
        return parse_u32(name, v, 0, 3600000, &o->hold_ms, err, len);
    if (strcmp(o->kernel, "noop") == 0 && strcmp(name, "--tasks") == 0)
        return parse_u64(name, v, 0, 100000000, &o->tasks, err, len);
    if (strcmp(o->kernel, "noop") == 0 && strcmp(name, "--task-ms") == 0)
        return parse_u32(name, v, 0, 3600000, &o->task_ms, err, len);
    return 1;
}

static int parse_flag(struct rm_options *o, const char *name)
{
    if (strcmp(name, "--quiet") == 0)
        o->verbosity = -1;
    else if (strcmp(name, "--verbose") == 0)
        o->verbosity = 1;
    else if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0)
        o->help = true;
    else if (strcmp(name, "--no-speculation") == 0)
        o->speculation = false;
    else if (strcmp(name, "--resume") == 0)
        o->resume = true;
    else if (strcmp(name, "--case-sensitive") == 0 && strcmp(o->kernel, "wordcount") == 0)
        o->case_sensitive = true;
    else
        return 1;
    return 0;
}

static int check_kernel(const char *name, char *err, size_t len)
{
    for (size_t i = 0; i < sizeof kernels / sizeof kernels[0]; i++)
        if (strcmp(name, kernels[i]) == 0)
            return 0;
    fail(err, len, "unknown kernel '%s' (this build runs: %s)", name, rm_options_kernels());
    return RM_ENOENT;
}

/* Checks relations between options once all are read. */
static int finish(struct rm_options *o, char *err, size_t len)
{
    if (o->help)
        return 0;
    if (strcmp(o->kernel, "grep") == 0 && !o->pattern)
        return fail(err, len, "grep needs --pattern ERE");
    if ((strcmp(o->kernel, "histogram") == 0 || strcmp(o->kernel, "kmeans") == 0) && !o->dataset)
        return fail(err, len, "%s needs --dataset NAME", o->kernel);
    if (reads_text(o->kernel)) {
        if (o->n_inputs == 0)
            return fail(err, len, "%s needs --input PATH [PATH...]",
                        strcmp(o->kernel, "job") ? o->kernel : "the job");
        if (!o->output)
            return fail(err, len, "%s needs --output FILE",
                        strcmp(o->kernel, "job") ? o->kernel : "the job");
    }
    if (strcmp(o->kernel, "tasks") == 0) {
        if (o->n_inputs != 1)
            return fail(err, len, "tasks needs exactly one --input FILE of commands, one per line");
        if (!o->output)
            return fail(err, len, "tasks needs --output FILE");
    }
    if (o->resume && !o->checkpoint_dir)
        return fail(err, len, "--resume needs --checkpoint-dir DIR (where the checkpoint is)");
    if (o->checkpoint_s && !o->checkpoint_dir)
        return fail(err, len, "--checkpoint-interval needs --checkpoint-dir DIR");
    if (o->suspect_ms == 0)
        o->suspect_ms = 4 * o->heartbeat_ms;
    if (o->suspect_ms <= o->heartbeat_ms)
        return fail(err, len, "--suspect-ms (%u) must be larger than --heartbeat-ms (%u)",
                    o->suspect_ms, o->heartbeat_ms);
    return 0;
}

/* --input PATH [PATH...] (or --input=PATH): takes paths up to the next option. *i is the
 * index of --input and ends on the last path taken. */
static int parse_inputs(struct rm_options *o, int argc, char **argv, int *i, const char *value,
                        char *err, size_t len)
{
    if (o->inputs)
        return fail(err, len, "option --input given twice; list every path after one --input");
    int first = value ? *i : *i + 1, last = first;
    if (!value)
        while (last < argc && strncmp(argv[last], "--", 2) != 0)
            last++;
    else
        last = first + 1;
    if (last == first || (!value && argv[first][0] == '\0') || (value && !*value))
        return fail(err, len, "option --input needs at least one path");
    if ((unsigned)(last - first) > RM_OPTIONS_MAX_INPUTS)
        return fail(err, len, "option --input: more than %u paths", RM_OPTIONS_MAX_INPUTS);
    if (value) {
        o->input_eq[0] = argv[*i] + 8; /* --input=PATH: the path is inside argv[*i] */
        o->inputs = o->input_eq;
    } else {
        o->inputs = argv + first;
    }
    o->n_inputs = (uint32_t)(last - first);
    *i = value ? *i : last - 1;
    return 0;
}

/* Parses argv[1..] as options for o->kernel. */
static int parse_args(int argc, char **argv, struct rm_options *o, char *err, size_t len)
{
    o->argc = argc;
    o->argv = argv;
    for (int i = 1; i < argc; i++) {
        char *name = argv[i];
        char *eq = strchr(name, '=');
        char buf[64];
        const char *value = NULL;
        if (strncmp(name, "--", 2) == 0 && eq && (size_t)(eq - name) < sizeof buf) {
            memcpy(buf, name, (size_t)(eq - name));
            buf[eq - name] = '\0';
            name = buf;
            value = eq + 1;
        }
        if (!value && parse_flag(o, name) == 0)
            continue;
        if (strcmp(name, "--input") == 0 && strcmp(o->kernel, "info") != 0) {
            int rc = parse_inputs(o, argc, argv, &i, value, err, len);
            if (rc != 0)
                return rc;
            continue;
        }
        int used_next = value == NULL;
        if (!value)
            value = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = parse_valued(o, name, value, err, len);
        if (rc == 1)
            return fail(err, len, "unknown option '%s' for %s%s", name,
                        strcmp(o->kernel, "info") ? "kernel " : "", o->kernel);
        if (rc != 0)
            return rc;
        i += used_next;
    }
    return finish(o, err, len);
}

int rm_options_parse(int argc, char **argv, struct rm_options *o, char *err, size_t len)
{
    rm_options_defaults(o);
    if (argc < 1 || !argv[0] || argv[0][0] == '\0')
        return fail(err, len, "'run' needs a kernel name (this build runs: %s)",
                    rm_options_kernels());
    if (argv[0][0] == '-')
        return fail(err, len, "'run' needs a kernel name before options, not '%s'", argv[0]);
    int rc = check_kernel(argv[0], err, len);
    if (rc != 0)
        return rc;
    o->kernel = argv[0];
    return parse_args(argc, argv, o, err, len);
}

int rm_options_parse_job(int argc, char **argv, struct rm_options *o, char *err, size_t len)
{
    rm_options_defaults(o);
    o->kernel = "job";
    return parse_args(argc, argv, o, err, len);
}

int rm_options_parse_info(int argc, char **argv, struct rm_options *o, char *err, size_t len)
{
    rm_options_defaults(o);
    o->kernel = "info";
    return parse_args(argc, argv, o, err, len);
}

void rm_options_print_help(const char *kernel, void *file)
{
    FILE *f = file;
    if (kernel && strcmp(kernel, "tasks") == 0)
        fputs("Usage: ringmaster run tasks --input COMMANDS --output FILE [options]\n"
              "A fault-tolerant task farm: runs every line of COMMANDS as a /bin/sh command\n"
              "on the workers. If a rank dies, its commands run again elsewhere. The output\n"
              "lists every command in input order, each as one header line\n"
              "  #ringmaster-task line=L status=S bytes=B seconds=T rank=R attempts=A command=C\n"
              "then exactly B bytes of its combined stdout and stderr, then a newline.\n"
              "Blank lines and lines starting with # are skipped. Commands must be safe to\n"
              "run twice. Exit status 3 if any command ended non-zero (after its retries).\n"
              "Every rank must see --output's directory (a shared file system).\n\n"
              "Kernel options:\n"
              "  --input FILE          the commands, one per line (required)\n"
              "  --output FILE         the report, written once complete (required)\n"
              "  --retries N           rerun a command that exits non-zero up to N times [0]\n"
              "  --timeout S           kill a command after S seconds; 0 no limit [0]\n\n",
              f);
    if (kernel && strcmp(kernel, "grep") == 0)
        fputs("Usage: ringmaster run grep --pattern ERE --input PATH [PATH...] --output FILE\n"
              "Writes every line matching the POSIX extended regular expression ERE as\n"
              "path:line:text, sorted by path (in input order; a directory's files in sorted\n"
              "path order), then line number. The output is renamed into place when complete.\n\n"
              "Kernel options:\n"
              "  --pattern ERE         the regular expression (required)\n"
              "  --input PATH...       text files or directories (required)\n"
              "  --output FILE         the matches (required; every rank must see its directory)\n"
              "  --split-size SIZE     bytes of input per task; K, M, G allowed [32M]\n\n",
              f);
    if (kernel && strcmp(kernel, "pagerank") == 0)
        fputs("Usage: ringmaster run pagerank --input EDGES... --output RANKS [options]\n"
              "PageRank over an edge list, 'src dst' per line (unsigned integers; blank lines\n"
              "and # comments skipped). Output: vertex<TAB>rank lines sorted by vertex; the\n"
              "ranks sum to 1 (dangling vertices share their rank with every vertex).\n\n"
              "Kernel options:\n"
              "  --iterations N        iterations, one stage each [10]\n"
              "  --damping D           the damping factor, 0 <= D < 1 [0.85]\n"
              "  --partitions N        vertex partitions (tasks per iteration) [16]\n"
              "  --split-size SIZE     bytes of edge list per parse task [32M]\n\n",
              f);
    if (kernel && strcmp(kernel, "kmeans") == 0)
        fputs("Usage: ringmaster run kmeans --dataset NAME --input F.h5... --output O [options]\n"
              "Lloyd's k-means over the rows of an HDF5 float64 dataset of 2 or more dimensions\n"
              "(rows, values). Output: with a .h5 name, /centroids (K x D) and /clusters (one\n"
              "uint32 per row, in input order); otherwise centroid<TAB>i<TAB>x1... lines, then\n"
              "point<TAB>row<TAB>cluster lines.\n\n"
              "Kernel options:\n"
              "  --dataset NAME        the points, e.g. /points (required)\n"
              "  --k K                 number of clusters [8]\n"
              "  --iterations N        iterations, one stage each [10]\n"
              "  --seed S              picks the K initial rows [1]\n"
              "  --split-size SIZE     bytes of points per task [32M]\n\n",
              f);
    if (kernel && strcmp(kernel, "histogram") == 0)
        fputs(
            "Usage: ringmaster run histogram --dataset NAME --input F.h5... --output O [options]\n"
            "Bins the values of an HDF5 float64 dataset (any shape, read in row blocks of\n"
            "the first dimension) into equal bins. Output: low<TAB>high<TAB>count lines,\n"
            "or with a .h5 name the datasets /edges (bins + 1 float64) and /counts (uint64).\n\n"
            "Kernel options:\n"
            "  --dataset NAME        the dataset, e.g. /values (required)\n"
            "  --bins N              number of bins [10]\n"
            "  --min X --max Y       the binned range; without them, the data's finite range\n"
            "  --split-size SIZE     bytes of the dataset per task [32M]\n\n",
            f);
    if (kernel && strcmp(kernel, "sort") == 0)
        fputs("Usage: ringmaster run sort --input PATH [PATH...] --output FILE [options]\n"
              "Sorts TeraSort-format records (100 bytes each, the first 10 the key) by key\n"
              "into one file; equal keys are ordered by the rest of the record. Partitions\n"
              "are balanced by sampling the input (1,000 keys per partition).\n\n",
              f);
    if (kernel && strcmp(kernel, "invindex") == 0)
        fputs("Usage: ringmaster run invindex --input PATH [PATH...] --output FILE [options]\n"
              "An inverted index: one line per word (runs of ASCII letters, lower-cased),\n"
              "sorted by word: word<TAB>file<TAB>count[<TAB>file<TAB>count...], the files\n"
              "sorted by path, each with the word's number of occurrences in it.\n\n",
              f);
    if (kernel && (strcmp(kernel, "job") == 0 || strcmp(kernel, "invindex") == 0 ||
                   strcmp(kernel, "sort") == 0))
        fputs("Options of this map-reduce job:\n"
              "  --input PATH...       text files or directories (required)\n"
              "  --output FILE         key<TAB>value lines sorted by key (required; every\n"
              "                        rank must see its directory)\n"
              "  --split-size SIZE     bytes of input per map task; K, M, G allowed [32M]\n"
              "  --partitions N        reduce tasks [16]\n"
              "  --compression N       zstd level of shuffled data; 0 off [1]\n\n",
              f);
    if (kernel && strcmp(kernel, "wordcount") == 0)
        fputs("Usage: ringmaster run wordcount --input PATH [PATH...] --output FILE.tsv [options]\n"
              "Counts words: maximal runs of ASCII letters, folded to lower case. The output\n"
              "has one word<TAB>count line per word, sorted by word in byte order, and is\n"
              "written under a temporary name, renamed once complete. A directory input\n"
              "means every regular file below it, in sorted path order.\n\n"
              "Kernel options:\n"
              "  --input PATH...       text files or directories (required)\n"
              "  --output FILE         the counts (required; every rank must see its directory)\n"
              "  --case-sensitive      keep case instead of folding to lower case\n"
              "  --split-size SIZE     bytes of input per map task; K, M, G allowed [32M]\n"
              "  --partitions N        reduce tasks [16]\n"
              "  --compression N       zstd level of shuffled data; 0 off [1]\n\n",
              f);
    if (kernel && strcmp(kernel, "noop") == 0)
        fputs("Usage: ringmaster run noop [options]\n"
              "Runs N empty tasks through the coordinator and the workers; measures the\n"
              "framework's own overhead.\n\n"
              "Kernel options:\n"
              "  --tasks N             tasks to run [1000]\n"
              "  --task-ms N           CPU-bound work per task, in ms [0]\n\n",
              f);
    fputs("Options common to every kernel:\n"
          "  --heartbeat-ms N      heartbeat period [100]\n"
          "  --suspect-ms N        silence before a peer is declared dead [4 x heartbeat]\n"
          "  --watchers N          peers that watch each rank's heartbeats [3]\n"
          "  --voters N            size of the Raft group that elects the coordinator\n"
          "                        [3, or every rank when there are fewer]\n"
          "  --election-timeout-ms N\n"
          "                        Raft election timeout; each is drawn from [N, 2N) [150]\n"
          "  --snapshot-entries N  snapshot the task table and compact the Raft log every\n"
          "                        N committed entries; 0 never [4096]\n"
          "  --batch-size N        tasks per dispatch message [automatic]\n"
          "  --max-attempts N      a task that fails N times fails the job (exit 3) [3]\n"
          "  --checkpoint-dir DIR  write HDF5 checkpoints there: at the end of every stage,\n"
          "                        every --checkpoint-interval, and on SIGTERM or SIGUSR1\n"
          "                        (then the job stops with exit status 4) [none]\n"
          "  --checkpoint-interval S\n"
          "                        also checkpoint every S seconds [never]\n"
          "  --resume              finish the job checkpointed in --checkpoint-dir, with any\n"
          "                        number of ranks, reusing the work it holds\n"
          "  --replicas N          copies kept in memory of each intermediate output (map\n"
          "                        outputs, iterations): the holder's and N-1 on the next\n"
          "                        ranks of its key's ring; 1..4 [2]\n"
          "  --no-speculation      no backup copies of straggling tasks\n"
          "  --vnodes N            virtual nodes per rank on the placement ring [4096]\n"
          "  --bounded-load C      cap each rank at C x its share of a stage's tasks (for\n"
          "                        skewed keys; e.g. 1.25); 0 off [0]\n"
          "  --bind core|none      pin each rank to a core with hwloc [core]\n"
          "  --bind-policy compact|scatter\n"
          "                        compact fills one package first; scatter round-robins\n"
          "                        over packages and NUMA nodes [compact]\n"
          "  --status FILE         live status JSON, replaced atomically twice a second\n"
          "  --report FILE         write the job report there as JSON when the job ends:\n"
          "                        options, stage times, tasks, failures, bytes, memory\n"
          "  --trace FILE          write a Chrome trace-event JSON there when the job ends\n"
          "                        (Perfetto, chrome://tracing, 'ringmaster timeline')\n"
          "  --startup-timeout S   fail (exit 3) if MPI start-up takes longer [120]\n"
          "  --quiet, --verbose    less or more logging on stderr\n"
          "\n"
          "Environment:\n"
          "  RINGMASTER_SHM=0      ranks on one node talk through MPI alone, not through\n"
          "                        shared-memory rings in /dev/shm\n"
          "  RINGMASTER_KEEP_PML=1 keep Open MPI's own messaging layer choice\n",
          f);
}

/* "name": value pairs of rm_options_json. */
static void json_u(FILE *f, const char *name, uint64_t v)
{
    fprintf(f, ", \"%s\": %" PRIu64, name, v);
}

static void json_s(FILE *f, const char *name, const char *v)
{
    fprintf(f, ", \"%s\": ", name);
    if (v)
        rm_json_str(f, v);
    else
        fputs("null", f);
}

/* A double in the fewest digits that read back exactly. */
static void json_d(FILE *f, const char *name, double v)
{
    char buf[40];
    snprintf(buf, sizeof buf, "%.15g", v);
    if (strtod(buf, NULL) != v)
        snprintf(buf, sizeof buf, "%.17g", v);
    fprintf(f, ", \"%s\": %s", name, buf);
}

static void json_b(FILE *f, const char *name, bool v)
{
    fprintf(f, ", \"%s\": %s", name, v ? "true" : "false");
}

static void json_kernel_options(FILE *f, const struct rm_options *o)
{
    json_u(f, "split_size", o->split_size);
    json_u(f, "compression", o->compression);
    json_u(f, "partitions", o->partitions);
    json_b(f, "case_sensitive", o->case_sensitive);
    json_s(f, "pattern", o->pattern);
    json_s(f, "dataset", o->dataset);
    json_u(f, "bins", o->bins);
    json_d(f, "min", o->min);
    json_d(f, "max", o->max);
    json_b(f, "have_min", o->have_min);
    json_b(f, "have_max", o->have_max);
    json_u(f, "k", o->k);
    json_u(f, "iterations", o->iterations);
    json_u(f, "seed", o->seed);
    json_d(f, "damping", o->damping);
    json_u(f, "retries", o->retries);
    json_u(f, "timeout", o->timeout_s);
    json_u(f, "tasks", o->tasks);
    json_u(f, "task_ms", o->task_ms);
    fputs(", \"input\": [", f);
    for (uint32_t i = 0; i < o->n_inputs; i++) {
        fputs(i ? ", " : "", f);
        rm_json_str(f, o->inputs[i]);
    }
    fputc(']', f);
    json_s(f, "output", o->output);
}

void rm_options_json(const struct rm_options *o, void *file)
{
    FILE *f = file;
    fputs("{\"kernel\": ", f);
    rm_json_str(f, o->kernel);
    json_u(f, "heartbeat_ms", o->heartbeat_ms);
    json_u(f, "suspect_ms", o->suspect_ms);
    json_u(f, "watchers", o->watchers);
    json_s(f, "bind", o->bind == RM_BIND_NONE ? "none" : "core");
    json_s(f, "bind_policy", o->policy == RM_POLICY_SCATTER ? "scatter" : "compact");
    json_u(f, "batch_size", o->batch_size);
    json_u(f, "voters", o->voters);
    json_u(f, "election_timeout_ms", o->election_ms);
    json_u(f, "snapshot_entries", o->snapshot_entries);
    json_s(f, "verbosity", o->verbosity < 0 ? "quiet" : o->verbosity > 0 ? "verbose" : "normal");
    json_s(f, "status", o->status_path);
    json_s(f, "report", o->report_path);
    json_s(f, "trace", o->trace_path);
    json_s(f, "checkpoint_dir", o->checkpoint_dir);
    json_u(f, "checkpoint_interval", o->checkpoint_s);
    json_b(f, "resume", o->resume);
    json_u(f, "startup_timeout", o->startup_s);
    json_u(f, "max_attempts", o->max_attempts);
    json_u(f, "replicas", o->replicas);
    json_u(f, "vnodes", o->vnodes);
    json_b(f, "speculation", o->speculation);
    json_d(f, "bounded_load", o->bounded_load);
    json_kernel_options(f, o);
    fputc('}', f);
}
