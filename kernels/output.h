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

/* Checks that output can be written (its directory exists and is writable, it is not a
 * directory) and creates OUTPUT.parts. *parts receives the malloc'd parts path.
 * Returns 0, RM_EUSAGE with one line in err, or RM_ENOMEM. */
int rm_output_prepare(const char *output, char **parts, char *err, size_t cap);

/* Removes the parts directory and every file in it named by a task number (parts and the
 * temporaries of copies cut short). Warns if the directory cannot be removed. */
void rm_output_remove_parts(const char *parts);

/* Writes all of buf to fd, retrying on EINTR. Returns 0 or -1 with errno set. */
int rm_output_write_all(int fd, const void *buf, size_t len);

#endif /* RM_KERNELS_OUTPUT_H */
