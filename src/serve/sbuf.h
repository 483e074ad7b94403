/*
 * sbuf.h - a growable byte string for the server, which assembles JSON, SSE
 * frames and streamed text piece by piece. The bytes are always followed by
 * a NUL so the buffer can be handed to C string functions; a failed
 * allocation leaves the buffer as it was and returns false, so callers turn
 * out-of-memory into an error response instead of crashing.
 */
#ifndef PENNY_SERVE_SBUF_H
#define PENNY_SERVE_SBUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct sbuf {
    char *p; /* NULL until the first append */
    size_t len, cap;
} sbuf;

bool sbuf_add(sbuf *b, const void *s, size_t n);
bool sbuf_addz(sbuf *b, const char *s);
bool sbuf_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Drops the first n bytes, keeping the rest. */
void sbuf_consume(sbuf *b, size_t n);
void sbuf_clear(sbuf *b);
void sbuf_free(sbuf *b);
/* The contents as a C string ("" when empty). */
const char *sbuf_str(const sbuf *b);

#endif
