/*
 * stopstr.c - the stop-string matcher of stopstr.h. The held text is at
 * most as long as the longest stop string plus one token's text, so a plain
 * search over it each time is cheap.
 */
#include "serve/stopstr.h"

#include <stdlib.h>
#include <string.h>

#include "base/err.h"

penny_status stop_init(stopstr *s, const char *const *stops, int n, penny_error *err) {
    memset(s, 0, sizeof *s);
    if (n > STOP_MAX) return err_set(err, PENNY_ERR_ARG, "at most %d stop strings", STOP_MAX);
    for (int i = 0; i < n; i++) {
        if (!stops[i] || !stops[i][0]) continue;
        if (!(s->stops[s->n] = strdup(stops[i]))) {
            stop_free(s);
            return err_set(err, PENNY_ERR_NOMEM, "out of memory");
        }
        s->n++;
    }
    return PENNY_OK;
}

void stop_free(stopstr *s) {
    for (int i = 0; i < s->n; i++) free(s->stops[i]);
    sbuf_free(&s->held);
    s->n = 0;
}

/* Length of the longest proper prefix of stop that ends the text. */
static size_t partial_tail(const char *text, size_t len, const char *stop) {
    size_t sl = strlen(stop);
    size_t k = sl - 1 < len ? sl - 1 : len;
    for (; k > 0; k--)
        if (!memcmp(text + len - k, stop, k)) return k;
    return 0;
}

bool stop_feed(stopstr *s, const char *text, size_t len, sbuf *out, bool *oom) {
    if (s->n == 0) {
        if (!sbuf_add(out, text, len)) *oom = true;
        return false;
    }
    if (!sbuf_add(&s->held, text, len)) {
        *oom = true;
        return false;
    }
    const char *h = sbuf_str(&s->held);
    size_t hl = s->held.len, first = hl;
    for (int i = 0; i < s->n; i++) {
        const char *p = memmem(h, hl, s->stops[i], strlen(s->stops[i]));
        if (p && (size_t)(p - h) < first) first = (size_t)(p - h);
    }
    if (first < hl) {
        if (!sbuf_add(out, h, first)) *oom = true;
        sbuf_clear(&s->held);
        return true;
    }
    size_t keep = 0;
    for (int i = 0; i < s->n; i++) {
        size_t k = partial_tail(h, hl, s->stops[i]);
        if (k > keep) keep = k;
    }
    if (!sbuf_add(out, h, hl - keep)) *oom = true;
    sbuf_consume(&s->held, hl - keep);
    return false;
}

void stop_flush(stopstr *s, sbuf *out, bool *oom) {
    if (!sbuf_add(out, s->held.p ? s->held.p : "", s->held.len)) *oom = true;
    sbuf_clear(&s->held);
}
