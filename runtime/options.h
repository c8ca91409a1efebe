/*
 * options.h: the `ringmaster run` command line, parsed into one struct of tunables.
 *
 * Pure code (no MPI, no I/O): every rank parses the same argv to the same result, so a bad
 * command line is rejected identically everywhere and reported once, by rank 0.
 */
#ifndef RM_OPTIONS_H
#define RM_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum rm_bind_mode { RM_BIND_CORE = 0, RM_BIND_NONE = 1 };
enum rm_bind_policy { RM_POLICY_COMPACT = 0, RM_POLICY_SCATTER = 1 };

/* Every knob of a run, with its default from rm_options_defaults(). */
struct rm_options {
    const char *kernel; /* borrowed from argv */
    /* runtime */
    uint32_t heartbeat_ms;      /* --heartbeat-ms [100] */
    uint32_t suspect_ms;        /* --suspect-ms [4 x heartbeat] */
    uint32_t watchers;          /* --watchers [3] */
    enum rm_bind_mode bind;     /* --bind core|none [core] */
    enum rm_bind_policy policy; /* --bind-policy compact|scatter [compact] */
    uint32_t batch_size;        /* --batch-size [0 = automatic] */
    uint32_t voters;            /* --voters [3, or every rank when there are fewer] */
    uint32_t election_ms;       /* --election-timeout-ms [150] */
    uint32_t snapshot_entries;  /* --snapshot-entries: compact the Raft log this often [4096] */
    int verbosity;              /* --quiet -1, default 0, --verbose 1 */
    const char *status_path;    /* --status FILE: live status JSON [none]; borrowed from argv */
    const char *report_path;    /* --report FILE: the job report, JSON [none]; borrowed */
    const char *trace_path;     /* --trace FILE: Chrome trace-event JSON [none]; borrowed */
    const char *checkpoint_dir; /* --checkpoint-dir DIR: HDF5 checkpoints [none]; borrowed */
    uint32_t checkpoint_s;      /* --checkpoint-interval S: also every S seconds [0: never] */
    bool resume;                /* --resume: finish the job checkpointed in checkpoint_dir */
    int argc;                   /* the arguments parsed (from the kernel name on), for the */
    char *const *argv;          /* job's identity in checkpoints; borrowed */
    /* scheduler */
    uint32_t max_attempts; /* --max-attempts: failed attempts that fail a task [3] */
    uint32_t replicas;     /* --replicas: in-memory copies of each intermediate output [2] */
    uint32_t vnodes;       /* --vnodes: ring virtual nodes per rank [4096] */
    bool speculation;      /* backup copies of stragglers; --no-speculation turns off [on] */
    double bounded_load;   /* --bounded-load C: cap each rank at C x the mean [0 = off] */
    /* input and output */
    uint64_t split_size;  /* --split-size: bytes of text input per map task [32M] */
    uint32_t compression; /* --compression: zstd level of shuffled data; 0 off [1] */
    uint32_t partitions;  /* --partitions: reduce tasks [16] */
    bool case_sensitive;  /* wordcount --case-sensitive */
    const char *pattern;  /* grep --pattern ERE; borrowed from argv */
    const char *dataset;  /* histogram --dataset NAME */
    uint32_t bins;        /* histogram --bins [10] */
    double min, max;      /* histogram --min, --max */
    bool have_min, have_max;
    uint32_t k, iterations; /* kmeans --k [8], --iterations [10] */
    uint64_t seed;          /* kmeans --seed [1] */
    double damping;         /* pagerank --damping [0.85] */
    char *const *inputs;    /* --input PATH [PATH...]: borrowed from argv (the array too), or
                               input_eq after --input=PATH: do not copy a parsed struct */
    uint32_t n_inputs;
    char *input_eq[1];
    const char *output; /* --output PATH [none] */
    /* tasks kernel */
    uint32_t retries;   /* --retries: reruns of a command that exits non-zero [0] */
    uint32_t timeout_s; /* --timeout: seconds a command may run; 0 = no limit [0] */
    /* noop kernel */
    uint64_t tasks;     /* --tasks [1000] */
    uint32_t task_ms;   /* --task-ms: CPU-bound work per task [0] */
    bool help;          /* `run KERNEL --help` */
    uint32_t hold_ms;   /* info --hold-ms: stay alive after printing [0] */
    uint32_t startup_s; /* --startup-timeout: seconds for MPI start-up [120] */
};

/* Most --input paths accepted. */
#define RM_OPTIONS_MAX_INPUTS 4096u

/* Writes every option in effect as one JSON object (no newline) to file (a FILE *): what the
 * job report records so that the run can be reproduced. Can't fail (stdio errors are the
 * caller's to check on the stream). */
void rm_options_json(const struct rm_options *opts, void *file);

/* Fills opts with every default. Can't fail. */
void rm_options_defaults(struct rm_options *opts);

/*
 * Parses `KERNEL [options]` (argv[0] is the kernel name). argv is borrowed and must outlive
 * opts (strings are not copied). On error, writes one line (no newline) into err.
 * Returns 0, RM_EUSAGE (bad option or value), or RM_ENOENT (unknown kernel).
 */
int rm_options_parse(int argc, char **argv, struct rm_options *opts, char *err, size_t errlen);

/* Parses the command line of a user's map-reduce job (argv[0] is the program): the common
 * options and those of wordcount but --case-sensitive. Same contract as rm_options_parse. */
int rm_options_parse_job(int argc, char **argv, struct rm_options *opts, char *err, size_t errlen);

/* Parses `info [options]` (argv[0] is "info"): only the common options. Same contract as
 * rm_options_parse. */
int rm_options_parse_info(int argc, char **argv, struct rm_options *opts, char *err, size_t errlen);

/*
 * Parses a non-negative decimal size with an optional K, M or G suffix (powers of 1024).
 * Returns 0 or RM_EUSAGE (empty, negative, junk, overflow).
 */
int rm_options_parse_size(const char *s, uint64_t *out);

/* Writes the text of `ringmaster run KERNEL --help` for the named kernel, or the common
 * options when kernel is NULL. Can't fail. */
void rm_options_print_help(const char *kernel, void *file);

/* Returns the names of the kernels this build runs, separated by ", ". Can't fail. */
const char *rm_options_kernels(void);

#endif /* RM_OPTIONS_H */
