/*
 * sbuf.c - the growable byte string of sbuf.h. Capacity doubles, so
 * appending one token's text at a time stays linear overall.
 */
#include "serve/sbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool reserve(sbuf *b, size_t extra) {
    if (extra > (size_t)-1 / 2 - b->len) return false;
    size_t need = b->len + extra + 1;
    if (need <= b->cap) return true;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) return false;
    b->p = p;
    b->cap = cap;
    return true;
}

bool sbuf_add(sbuf *b, const void *s, size_t n) {
    if (!reserve(b, n)) return false;
    if (n) memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return true;
}

bool sbuf_addz(sbuf *b, const char *s) { return sbuf_add(b, s, strlen(s)); }

bool sbuf_printf(sbuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !reserve(b, (size_t)n)) return false;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return true;
}

void sbuf_consume(sbuf *b, size_t n) {
    if (n >= b->len) {
        sbuf_clear(b);
        return;
    }
    memmove(b->p, b->p + n, b->len - n + 1);
    b->len -= n;
}

void sbuf_clear(sbuf *b) {
    b->len = 0;
    if (b->p) b->p[0] = '\0';
}

void sbuf_free(sbuf *b) {
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

const char *sbuf_str(const sbuf *b) { return b->p ? b->p : ""; }
