/* log.c: see log.h. */
#include "runtime/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int log_rank = -1;
static enum rm_log_level log_max = RM_LOG_INFO;

void rm_log_init(int rank, enum rm_log_level level)
{
    log_rank = rank;
    log_max = level;
}

enum rm_log_level rm_log_level(void)
{
    return log_max;
}

static const char *level_name(enum rm_log_level level)
{
    static const char *const names[] = {"error", "warning", "info", "debug"};
    return names[level];
}

void rm_log(enum rm_log_level level, const char *fmt, ...)
{
    if (level > log_max)
        return;
    char line[1024];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    localtime_r(&tv.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "[%02d:%02d:%02d.%03d rank %d] %s: ", tm.tm_hour,
                     tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000), log_rank, level_name(level));
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}
