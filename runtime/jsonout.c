/* jsonout.c: see jsonout.h. */
#include "runtime/jsonout.h"

#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "ringmaster.h"

void rm_json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", f);
        else if (*p == '\t')
            fputs("\\t", f);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

FILE *rm_json_open(const char *path, char *tmp, size_t cap)
{
    if (snprintf(tmp, cap, "%s.tmp.%d", path, (int)getpid()) >= (int)cap) {
        errno = ENAMETOOLONG;
        return NULL;
    }
    return fopen(tmp, "w");
}

int rm_json_commit(FILE *f, const char *tmp, const char *path, int sync)
{
    int bad = fflush(f) != 0 || ferror(f);
    if (!bad && sync && fsync(fileno(f)) != 0)
        bad = 1;
    if (fclose(f) != 0 || bad || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        errno = e;
        return RM_EIO;
    }
    return 0;
}
