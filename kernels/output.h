/*
 * output.h: how kernels write their final output safely, shared by the kernels.
 *
 * A kernel's tasks write their results as part files in OUTPUT.parts/, each under a temporary
 * name renamed when whole; the finishing leader joins them into OUTPUT through a temporary
 * name, renames it, and removes the parts. So OUTPUT exists only when complete, and a crash
 * leaves at most a stale parts directory, which the next run reuses and cleans.
 * No MPI; plain POSIX files. Every rank must see the output's directory.
 */
#ifndef RM_KERNELS_OUTPUT_H
#define RM_KERNELS_OUTPUT_H

#include <stddef.h>
#include <stdint.h>

/* Checks that output can be written (its directory exists and is writable, it is not a
 * directory) and creates OUTPUT.parts. *parts receives the malloc'd parts path.
 * Returns 0, RM_EUSAGE with one line in err, or RM_ENOMEM. */
int rm_output_prepare(const char *output, char **parts, char *err, size_t cap);

/* Removes the parts directory and every file in it named by a task number (parts and the
 * temporaries of copies cut short). Warns if the directory cannot be removed. */
void rm_output_remove_parts(const char *parts);

/* Writes all of buf to fd, retrying on EINTR. Returns 0 or -1 with errno set. */
int rm_output_write_all(int fd, const void *buf, size_t len);

/* Called for each line the merge writes: the line (no newline), its key's length (up to the
 * first TAB) and its length. */
typedef void (*rm_output_line_fn)(void *ctx, const char *line, size_t klen, size_t len);

/* Joins parts 0..n-1 of the parts directory, each a file of `key<TAB>...` lines sorted by key
 * (memcmp order, a prefix first), into OUTPUT, sorted the same way: a k-way merge, written
 * through a temporary name, synced and renamed; then removes the parts. each (may be NULL) sees
 * every line. who names the kernel in messages. Returns 0, RM_EIO (after logging one line) or
 * RM_ENOMEM. Lines with equal keys keep the order of their parts. */
int rm_output_merge_sorted(const char *parts, uint32_t n, const char *output,
                           rm_output_line_fn each, void *ctx, const char *who);

#endif /* RM_KERNELS_OUTPUT_H */
