/*
 * ringmaster.h: the one header that user programs include.
 *
 * Conventions (see shared/STYLE.md):
 *  - Functions return 0 on success or a negative RM_E* code; rm_strerror() names it.
 *  - Public names are rm_<module>_<verb>; nothing else here is stable.
 *  - Each function documents ownership of its pointer arguments and the thread that may call it.
 */
#ifndef RINGMASTER_H
#define RINGMASTER_H

#ifdef __cplusplus
extern "C" {
#endif

/* Error codes. All are negative so that "rc < 0" means failure everywhere. */
enum rm_error {
    RM_OK = 0,
    RM_ENOMEM = -1,    /* allocation failed */
    RM_EINVAL = -2,    /* invalid argument or malformed input */
    RM_EUSAGE = -3,    /* bad command line */
    RM_EIO = -4,       /* operating-system I/O error; errno says more */
    RM_EMPI = -5,      /* an MPI call failed */
    RM_EPROTO = -6,    /* malformed, truncated or unknown message */
    RM_EMSGSIZE = -7,  /* message larger than the configured maximum */
    RM_EDEAD = -8,     /* the peer is known to be dead */
    RM_ESTALE = -9,    /* stale term or epoch; the message was fenced */
    RM_EHWLOC = -10,   /* hwloc failed to load the topology or to bind */
    RM_ENOENT = -11,   /* no such file, kernel or entry */
    RM_EBUSY = -12,    /* resource busy or queue full; try again later */
    RM_ESHUTDOWN = -13, /* the runtime is shutting down */
    RM_ECORRUPT = -14, /* checksum mismatch or damaged data */
    RM_EJOB = -15,     /* the job failed (quorum lost, task failed too often) */
};

/* Returns a static, human-readable name for an RM_E* code. This function can't fail. */
const char *rm_strerror(int code);

/* Returns the library version as "MAJOR.MINOR.PATCH". This function can't fail. */
const char *rm_version(void);

/* ---- map-reduce jobs ------------------------------------------------------------------------
 *
 * A user job is a program that fills a struct rm_job and calls rm_job_main() from main(). Run
 * it like any Ringmaster kernel, under mpirun with fault tolerance on:
 *
 *     mpirun --enable-recovery -np 8 ./myjob --input data/ --output counts.tsv
 *
 * It accepts the options of `ringmaster run wordcount` (--input, --output, --split-size,
 * --partitions, --compression and every common option; --help lists them).
 *
 * Data flow: the input (text files and directories) is cut on line boundaries into splits of
 * --split-size bytes. map() is called once per split with the split's text (whole lines only;
 * the last line may lack its newline) and emits (key, value) pairs. Pairs go to partition
 * hash(key) mod partitions. On the map side, combine() (optional) is called once per distinct
 * key of a split with all its values and emits pairs that replace them; on the reduce side,
 * reduce() is called once per distinct key of a partition, keys in byte order (memcmp; a
 * prefix first), with every value emitted for it. What reduce() emits is the output: one
 * `key<TAB>value` line per pair, in key order across the whole output provided reduce()
 * emits its own key (the usual case). The output file appears, complete, under its final name
 * when the job is done.
 *
 * Callbacks run on the worker thread of whichever rank runs the task, one task at a time per
 * rank, and must not call MPI. Everything they receive is borrowed for the call. They return
 * 0, or a negative RM_E* code to fail the task (it is retried elsewhere, up to
 * --max-attempts). IDEMPOTENCE: a task may run more than once (after a rank's death, a
 * failure, or as a backup copy of a straggler), and only one run counts; callbacks must
 * produce the same pairs from the same input and have no other lasting effects.
 */
#include <stddef.h>
#include <stdint.h>

struct rm_emitter; /* where callbacks emit pairs; owned by the library */
struct rm_values;  /* the values of one key; owned by the library */

typedef int (*rm_map_fn)(void *user, const char *text, size_t len, struct rm_emitter *out);
typedef int (*rm_reduce_fn)(void *user, const char *key, size_t klen, struct rm_values *values,
                            struct rm_emitter *out);

/* Emits one pair; key and value are copied. A key is 1 to 65,535 bytes; a value up to 1 GiB.
 * Output pairs (from reduce) may not hold a TAB or newline in the key, or a newline in the
 * value. Returns 0, RM_EINVAL (the pair breaks those rules) or RM_ENOMEM. */
int rm_emit(struct rm_emitter *out, const char *key, size_t klen, const char *value,
            size_t vlen);

/* The input file of the split being mapped (as given or found below an --input directory),
 * for map(); NULL in combine() and reduce(). Borrowed until the callback returns. */
const char *rm_emitter_path(const struct rm_emitter *out);

/* Steps to the next value of the key: returns 1 and sets *value and *vlen (borrowed until the
 * callback returns), or 0 when there are no more. */
int rm_values_next(struct rm_values *values, const char **value, size_t *vlen);

struct rm_job {
    const char *name;     /* for messages and --help, e.g. "loglevels" */
    rm_map_fn map;        /* required */
    rm_reduce_fn combine; /* optional: NULL sends every mapped pair through the shuffle */
    rm_reduce_fn reduce;  /* required */
    void *user;           /* passed to every callback; shared by the tasks of one rank */
};

/* Parses the command line (argv[1..]), starts MPI, runs the job to its end and returns the
 * process exit status: 0 done, 2 usage or input error (one line printed once), 3 the job
 * failed. Call it once, from main(), with main's arguments, and return what it returns. When a
 * rank died during the job, MPI cannot be finalized safely, so the function ends the process
 * itself with that status (stdio flushed, exit handlers skipped) instead of returning. */
int rm_job_main(int argc, char **argv, const struct rm_job *job);

#ifdef __cplusplus
}
#endif

#endif /* RINGMASTER_H */
