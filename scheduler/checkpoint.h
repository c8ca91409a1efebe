/*
 * checkpoint.h: checkpoint files (HDF5, readable with h5dump) and the job identity a resumed
 * job is checked against.
 *
 * A checkpoint is a folder (--checkpoint-dir) with one file per rank and one for the job:
 *
 *   rank-NNNNN.h5   the outputs held in that rank's memory (map outputs, iterations)
 *     attributes  format "ringmaster checkpoint 1", rank (u32), job (u64: XXH3 of the identity),
 *                 compression (int: the zstd level of the parts)
 *     /index      u64 [records x 2]: task id, number of parts
 *     /sizes      u64 [parts]: bytes of each part, records in /index order
 *     /data       u8 [bytes]: the parts one after the other, as the shuffle store keeps them:
 *                 u8 codec, u64 raw length, u64 XXH3 of the raw bytes, then the bytes, zstd-
 *                 compressed at the --compression level (HDF5's deflate on top would only cost
 *                 time: it gains nothing on them); chunked by 1 MiB, Fletcher32
 *   job.h5          written by the leader once every rank has written its file
 *     attributes  format, job (u64), ranks (u32: rank files of this checkpoint), table_xxh3
 *                 (u64)
 *     /identity   string: the identity below
 *     /table      u8 [bytes]: the task table (tasktable.h snapshot), Fletcher32
 *
 * Every file is written under a temporary name (NAME.tmp.PID), flushed, then renamed, so a
 * file under its final name is always whole. A resumed job trusts a task only if the table
 * says it was committed done and its output loads with every part's checksum verified.
 *
 * The identity is what makes two runs the same job: the kernel, every option that shapes the
 * tasks or their results (options that only tune the run, such as --heartbeat-ms, --replicas
 * or --checkpoint-interval, are left out, and so is --output: the outputs reused are the
 * intermediate ones), and each input file with its size and modification
 * time, one per line.
 *
 * Threads: HDF5 is not built thread-safe here: call these from the thread that runs tasks.
 */
#ifndef RM_SCHEDULER_CHECKPOINT_H
#define RM_SCHEDULER_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "scheduler/shuffle.h"

#define RM_CKPT_FORMAT "ringmaster checkpoint 1"

/* The identity text (malloc'd) of the job run by `ringmaster ARGV...` (argv from the kernel
 * name on), with its inputs' sizes and modification times; *job is its XXH3. NULL (with a
 * message in err) when an input cannot be read, or on ENOMEM. */
char *rm_ckpt_identity(int argc, char *const *argv, char *const *inputs, size_t n_inputs,
                       uint64_t *job, char *err, size_t cap);

/* Writes this rank's outputs of tasks below id_end (from s) to DIR/rank-NNNNN.h5. level: the
 * --compression level the parts were compressed at (recorded). Returns 0 or RM_EIO/RM_ENOMEM with a
 * message in err; *records and *bytes tell what was written. */
int rm_ckpt_write_rank(const char *dir, int rank, uint64_t job, int level, struct rm_shuffle *s,
                       uint64_t id_end, uint64_t *records, uint64_t *bytes, char *err, size_t cap);

/* Loads DIR/rank-NNNNN.h5 (written by rank `file`) into s: each record of a task below id_end
 * whose parts verify; a damaged record is named on stderr and skipped. Appends the ids loaded
 * to *ids (malloc'd and grown by doubling: pass NULL and 0 first, then what earlier calls left;
 * *n counts them). Returns 0, RM_ENOENT (no such file) or
 * RM_ECORRUPT (the file cannot be read, or belongs to another job), with a message in err. */
int rm_ckpt_load_rank(const char *dir, int file, uint64_t job, struct rm_shuffle *s,
                      uint64_t id_end, uint64_t **ids, size_t *n, char *err, size_t cap);

/* Writes DIR/job.h5. Returns 0 or RM_EIO/RM_ENOMEM with a message in err. */
int rm_ckpt_write_job(const char *dir, const char *identity, uint64_t job, uint32_t ranks,
                      const unsigned char *table, size_t len, char *err, size_t cap);

/* Reads DIR/job.h5: the identity and the table (both malloc'd), the job hash and the number of
 * rank files. Returns 0, RM_ENOENT (no checkpoint there) or RM_ECORRUPT (damaged: message in
 * err). */
int rm_ckpt_read_job(const char *dir, char **identity, uint64_t *job, uint32_t *ranks,
                     unsigned char **table, size_t *len, char *err, size_t cap);

#endif /* RM_SCHEDULER_CHECKPOINT_H */
