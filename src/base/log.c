/* log.c - leveled diagnostics to stderr. The level is the one process-wide
 * setting, since stderr itself is process-wide. */
#include "base/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>

static _Atomic int g_level = LOG_WARN;

void log_set_level(enum log_level level) { atomic_store(&g_level, (int)level); }

void log_msg(enum log_level level, const char *fmt, ...) {
    if ((int)level > atomic_load(&g_level)) return;
    static const char *names[] = {"error", "warning", "info", "debug"};
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "penny: %s: ", names[level]);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}
