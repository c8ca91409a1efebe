/*
 * split.h: the input splitter. Turns the --input paths of a text kernel into a fixed list of
 * files, cuts each file into splits of --split-size bytes, and reads the whole lines of a split.
 *
 * Splits are cut Hadoop's way, with no pre-scan of the data: a file of S bytes gives
 * ceil(S / split_size) splits [k * split_size, min((k + 1) * split_size, S)), and a line belongs
 * to the split that holds its first byte. Reading a split skips the line already in progress at
 * its start (the previous split owns it) and reads on past its end to finish its last line.
 * So a line is never cut and never counted twice, however long it is, and the splits of a file
 * read in order give back the file byte for byte. Lines end at '\n'; "\r\n" is two ordinary
 * bytes and the '\r' stays part of the line. The last line of a file needs no '\n'. A split that
 * lies inside one long line reads as empty.
 *
 * A split's data key is the bytes of its file's path, a NUL, and its start offset as a
 * little-endian u64. Its ring hash (rm_split_key_hash) is XXH3-64 with seed 0 of those bytes,
 * the same as rm_ring_hash() of them, so that tasks are placed by the data they read.
 *
 * Expansion (rm_inputs_expand), for each --input path in command-line order:
 *  - a regular file, or a symlink to one, is taken as is;
 *  - a directory (or a symlink to one, when named on the command line) means every regular file
 *    below it, recursively, hidden ("." names) included, sorted by full path in byte order
 *    (strcmp), so "d/b.txt" comes before "d/b/x". Symlinks below it count when they point to a
 *    regular file; symlinks to directories are not followed (no loops), and dangling symlinks,
 *    FIFOs, sockets and devices below it are skipped. The path recorded for a file below a
 *    directory is the argument, a '/' unless it already ends with one, and the names below;
 *  - anything else named on the command line is an error.
 * The same file met twice (same st_dev and st_ino: named twice, named and inside a directory,
 * or hard-linked) is kept once, at its first place, under its first path. Empty directories are
 * fine: an input set may hold no files at all, which gives no splits. Each file is opened once
 * to check it can be read, and its size and st_mtim are recorded; rm_split_read refuses a file
 * whose size or mtime has changed since, since splits computed from the old size could cut or
 * double lines.
 *
 * Paths are kept as given, not made absolute or canonical: ranks that run the same command line
 * in the same working directory on the same shared file system compute the same files, splits
 * and keys. Nothing here is collective and nothing calls MPI.
 *
 * Threads: every function is reentrant. An input set and a split array are never changed after
 * they are made, so any number of threads may call rm_split_read, rm_split_key and
 * rm_split_key_hash on them at once; freeing needs exclusive access.
 */
#ifndef RM_SCHEDULER_SPLIT_H
#define RM_SCHEDULER_SPLIT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "include/ringmaster.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One input file, as found by rm_inputs_expand. */
struct rm_input_file {
    char *path;            /* owned by the set; as given, or joined below a directory */
    uint64_t size;         /* st_size at expansion */
    struct timespec mtime; /* st_mtim at expansion */
    uint64_t dev;          /* st_dev and st_ino: the file's identity */
    uint64_t ino;
};

/* The input files of a job, in order. The caller allocates the struct; rm_inputs_expand fills
 * it and rm_inputs_free releases what it holds. */
struct rm_input_set {
    struct rm_input_file *files; /* n files, or NULL when n is 0 */
    size_t n;
};

/* A byte range [start, end) of files[file] in an input set; start < end <= that file's size. */
struct rm_split {
    size_t file;
    uint64_t start;
    uint64_t end;
};

/*
 * Resolves --input paths into the input set, as described at the top of this file.
 *
 * paths: borrowed array of n borrowed strings; nothing keeps a pointer to them.
 * out:   caller's struct, filled on success (free it with rm_inputs_free); on error it is left
 *        empty (files NULL, n 0) and nothing needs freeing.
 * err:   caller's buffer of cap bytes that receives one line (no newline) on error, e.g.
 *        "cannot read --input data/x: No such file or directory". May be NULL when cap is 0.
 *
 * Returns 0, or:
 *  RM_EINVAL  paths or out is NULL (paths may be NULL when n is 0), or a path named on the
 *             command line is neither a regular file nor a directory;
 *  RM_ENOENT  a path, or a file met below a directory, does not exist;
 *  RM_EIO     a path or a directory or file below it cannot be read (the message says why);
 *  RM_ENOMEM  out of memory.
 */
int rm_inputs_expand(char *const *paths, size_t n, struct rm_input_set *out, char *err, size_t cap);

/*
 * Frees what an input set holds and leaves it empty (files NULL, n 0). NULL is ignored, and so
 * is a set already freed or left empty by a failed rm_inputs_expand.
 */
void rm_inputs_free(struct rm_input_set *set);

/*
 * Cuts every file of the set into splits of split_size bytes (the last one of a file shorter),
 * in file order, then offset order. Empty files give no splits.
 *
 * in:  borrowed; must outlive the splits, which refer to its files by index.
 * out: receives an array of *n splits that the caller frees with rm_splits_free; NULL when *n
 *      is 0.
 *
 * Returns 0; RM_EINVAL (a NULL argument, or split_size 0); RM_ENOMEM (out of memory, or more
 * splits than memory can address).
 */
int rm_splits_make(const struct rm_input_set *in, uint64_t split_size, struct rm_split **out,
                   size_t *n);

/* Frees an array from rm_splits_make. NULL is ignored. */
void rm_splits_free(struct rm_split *splits);

/*
 * Writes the data key of a split into buf: the path, a NUL, then start as a little-endian u64.
 *
 * in, s: borrowed; s must be a split of in. buf: caller's, cap bytes; may be NULL when cap is 0.
 * Returns the length of the key (strlen(path) + 9). The key is written only when it fits in
 * cap bytes; otherwise buf is untouched, so call once with cap 0 to size the buffer.
 * This function can't fail.
 */
size_t rm_split_key(const struct rm_input_set *in, const struct rm_split *s, void *buf, size_t cap);

/*
 * Returns the ring hash of the split's data key: XXH3-64, seed 0, of the bytes that
 * rm_split_key writes (equal to rm_ring_hash of them). in, s: borrowed; s must be a split of in.
 * This function can't fail and allocates nothing.
 */
uint64_t rm_split_key_hash(const struct rm_input_set *in, const struct rm_split *s);

/*
 * Reads the text of exactly the lines whose first byte lies in [s->start, s->end): it skips
 * the line in progress at s->start unless s->start is 0 or follows a '\n', and reads on past
 * s->end to the '\n' that ends its last line (or to the end of the file). The result is empty
 * when no line starts in the split, and otherwise ends with '\n' unless it ends the file.
 * Reads with pread, only the split plus the rest of its last line, so memory is about
 * split_size plus the longest line, never the whole file.
 *
 * in, s: borrowed; s must be a split of in.
 * buf:   receives a malloc'd buffer of *len bytes plus a terminating NUL (not counted; the text
 *        itself may hold NULs) that the caller frees with free(). Non-NULL on success, even
 *        when *len is 0; untouched on error.
 * err:   caller's buffer of cap bytes for a one-line message on error; may be NULL if cap is 0.
 *
 * Returns 0, or:
 *  RM_EINVAL   a NULL argument, or s is not a split of in (file index or range out of bounds);
 *  RM_ENOENT   the file is gone;
 *  RM_EIO      the file cannot be opened or read (the message says why);
 *  RM_ECORRUPT the file's size or mtime differs from the one recorded by rm_inputs_expand, or
 *              it got shorter while being read;
 *  RM_ENOMEM   out of memory.
 * A file rewritten in place without changing its size or mtime (or changed while this call
 * reads it, after its check) is not detected.
 */
int rm_split_read(const struct rm_input_set *in, const struct rm_split *s, char **buf, size_t *len,
                  char *err, size_t cap);

/* A read buffer that rm_split_read_buf reuses from one split to the next, so that a worker
 * neither allocates nor faults in a fresh split-sized buffer for every task. Zero-initialize;
 * one thread at a time; free with rm_split_buf_free (NULL is ignored). */
struct rm_split_buf {
    char *buf;
    size_t cap;
};

/* rm_split_read into b, without a copy: *text points into b's buffer (a NUL after the text;
 * the caller may write inside [text, text + len]) until the next call with b or its free. Same
 * returns. */
int rm_split_read_buf(const struct rm_input_set *in, const struct rm_split *s,
                      struct rm_split_buf *b, char **text, size_t *len, char *err, size_t cap);
void rm_split_buf_free(struct rm_split_buf *b);

#ifdef __cplusplus
}
#endif

#endif /* RM_SCHEDULER_SPLIT_H */
