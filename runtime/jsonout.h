/*
 * jsonout.h: writing JSON files: strings escaped as RFC 8259 asks, and files written whole or
 * not at all (under PATH.tmp.<pid>, renamed over PATH once complete).
 */
#ifndef RM_JSONOUT_H
#define RM_JSONOUT_H

#include <stddef.h>
#include <stdio.h>

/* Writes s (NUL-terminated, borrowed) as a JSON string, quotes included. Can't fail (stdio
 * errors stay on the stream). */
void rm_json_str(FILE *f, const char *s);

/* Opens PATH.tmp.<pid> for writing; its name goes to tmp (cap bytes). Returns the stream, or
 * NULL (errno says why; a name too long gives ENAMETOOLONG). Close it with rm_json_commit. */
FILE *rm_json_open(const char *path, char *tmp, size_t cap);

/* Flushes f to disk (with fsync when sync), closes it and renames tmp over path. On any error
 * tmp is removed and the previous file at path, if any, stays. Returns 0 or RM_EIO. */
int rm_json_commit(FILE *f, const char *tmp, const char *path, int sync);

#endif /* RM_JSONOUT_H */
