/*
 * log.h - diagnostics to stderr, filtered by level.
 *
 * The level lives in the caller's hands (log_set_level) and defaults to
 * warnings; the library never prints results, only diagnostics.
 */
#ifndef PENNY_BASE_LOG_H
#define PENNY_BASE_LOG_H

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

void log_set_level(enum log_level level);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
