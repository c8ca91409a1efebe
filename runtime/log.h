/*
 * log.h: one-line, timestamped, rank-prefixed log messages on stderr.
 *
 * Every line is written with a single write(2), so lines from the control thread and the
 * worker thread never interleave. Safe from any thread once rm_log_init has run (before it,
 * lines carry no rank).
 */
#ifndef RM_LOG_H
#define RM_LOG_H

enum rm_log_level { RM_LOG_ERROR = 0, RM_LOG_WARN = 1, RM_LOG_INFO = 2, RM_LOG_DEBUG = 3 };

/* Sets this process's rank (or -1 when unknown) and the most verbose level printed.
 * Call from the main thread before other threads start. Can't fail. */
void rm_log_init(int rank, enum rm_log_level level);

/* Returns the level set by rm_log_init. */
enum rm_log_level rm_log_level(void);

/* Prints "[HH:MM:SS.mmm rank N] level: message" when level is enabled. Can't fail; output
 * errors are ignored on purpose (there is nowhere left to report them). */
void rm_log(enum rm_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define rm_error(...) rm_log(RM_LOG_ERROR, __VA_ARGS__)
#define rm_warn(...) rm_log(RM_LOG_WARN, __VA_ARGS__)
#define rm_info(...) rm_log(RM_LOG_INFO, __VA_ARGS__)
#define rm_debug(...) rm_log(RM_LOG_DEBUG, __VA_ARGS__)

#endif /* RM_LOG_H */
