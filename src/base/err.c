/* err.c - error messages with context, and always-on assertions. */
#include "base/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *penny_status_str(penny_status s) {
    switch (s) {
    case PENNY_OK: return "ok";
    case PENNY_ERR_IO: return "I/O error";
    case PENNY_ERR_FORMAT: return "malformed input";
    case PENNY_ERR_UNSUPPORTED: return "unsupported";
    case PENNY_ERR_NOMEM: return "out of memory";
    case PENNY_ERR_ARG: return "invalid argument";
    case PENNY_ERR_RANGE: return "out of range";
    }
    return "unknown error";
}

penny_status err_set(penny_error *err, penny_status code, const char *fmt, ...) {
    if (err) {
        err->code = code;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return code;
}

void err_prefix(penny_error *err, const char *fmt, ...) {
    if (!err) return;
    char pre[256], old[sizeof err->message];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    memcpy(old, err->message, sizeof old);
    size_t n = strlen(pre);
    if (n > sizeof err->message - 3) n = sizeof err->message - 3;
    memcpy(err->message, pre, n);
    memcpy(err->message + n, ": ", 2);
    size_t room = sizeof err->message - n - 3;
    size_t m = strnlen(old, room);
    memcpy(err->message + n + 2, old, m);
    err->message[n + 2 + m] = '\0';
}

void err_clear(penny_error *err) {
    if (err) {
        err->code = PENNY_OK;
        err->message[0] = '\0';
    }
}

void err_assert_fail(const char *expr, const char *file, int line) {
    fprintf(stderr, "penny: internal error: assertion '%s' failed at %s:%d\n", expr, file, line);
    abort();
}
