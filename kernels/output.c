/* output.c: see output.h. */
#include "kernels/output.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ringmaster.h"
#include "runtime/log.h"

int rm_output_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int rm_output_prepare(const char *output, char **parts, char *err, size_t cap)
{
    struct stat sb;
    if (stat(output, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        snprintf(err, cap, "--output %s is a directory", output);
        return RM_EUSAGE;
    }
    char *dir = strdup(output);
    size_t pl = strlen(output) + 8;
    char *p = malloc(pl);
    if (!dir || !p) {
        free(dir);
        free(p);
        return RM_ENOMEM;
    }
    char *slash = strrchr(dir, '/');
    const char *d = slash ? (slash == dir ? "/" : (*slash = '\0', dir)) : ".";
    int rc = 0;
    if (access(d, W_OK | X_OK) != 0) {
        snprintf(err, cap, "--output %s: directory %s is missing or not writable", output, d);
        rc = RM_EUSAGE;
    }
    free(dir);
    snprintf(p, pl, "%s.parts", output);
    /* Every rank creates the parts directory before the job starts, and no rank creates it
     * later, so a copy that runs after the finishing leader removed it fails instead of
     * leaving a new directory behind. */
    if (rc == 0 && mkdir(p, 0755) != 0 && errno != EEXIST) {
        snprintf(err, cap, "--output %s: cannot create %s: %s", output, p, strerror(errno));
        rc = RM_EUSAGE;
    }
    if (rc != 0) {
        free(p);
        return rc;
    }
    *parts = p;
    return 0;
}

void rm_output_remove_parts(const char *parts)
{
    DIR *d = opendir(parts);
    if (!d)
        return;
    size_t cap = strlen(parts) + 300;
    char *path = malloc(cap);
    for (struct dirent *e; path && (e = readdir(d)) != NULL;) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        snprintf(path, cap, "%s/%s", parts, e->d_name);
        unlink(path);
    }
    free(path);
    closedir(d);
    if (rmdir(parts) != 0)
        rm_warn("could not remove %s: %s", parts, strerror(errno));
}
