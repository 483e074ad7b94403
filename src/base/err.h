/*
 * err.h - error reporting shared by every module.
 *
 * Fallible functions return a penny_status and, on failure, write a message
 * with context (file, field, byte offset) into the caller's penny_error via
 * err_set. The error object may be NULL when the caller does not want text.
 * Invariant violations (bugs, never bad input) go through PENNY_ASSERT, which
 * stays on in release builds.
 */
#ifndef PENNY_BASE_ERR_H
#define PENNY_BASE_ERR_H

#include "penny.h"

/* Formats the message into err (if non-NULL) and returns code. */
penny_status err_set(penny_error *err, penny_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepends "prefix: " to an existing message (adds context on the way up). */
void err_prefix(penny_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void err_clear(penny_error *err);

_Noreturn void err_assert_fail(const char *expr, const char *file, int line);

#define PENNY_ASSERT(x) ((x) ? (void)0 : err_assert_fail(#x, __FILE__, __LINE__))

#endif
