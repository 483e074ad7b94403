/*
 * think.c - the <think> splitter of think.h.
 */
#include "think.h"

#include <stdlib.h>
#include <string.h>

static const char *tag_of(const think_state *t) { return t->inside ? "</think>" : "<think>"; }

void think_feed(think_state *t, const char *text, size_t len, think_emit emit, void *user) {
    size_t n = t->n_held + len, at = 0;
    char *buf = malloc(n + 1);
    if (!buf) { /* cannot look for tags: pass the text through as it is */
        emit(user, t->inside, false, text, len);
        return;
    }
    memcpy(buf, t->held, t->n_held);
    memcpy(buf + t->n_held, text, len);
    const char *tag = tag_of(t);
    char *hit;
    while ((hit = memmem(buf + at, n - at, tag, strlen(tag)))) {
        if (hit > buf + at) emit(user, t->inside, false, buf + at, (size_t)(hit - buf) - at);
        at = (size_t)(hit - buf) + strlen(tag);
        t->inside = !t->inside;
        if (t->inside) emit(user, true, true, "", 0);
        tag = tag_of(t);
    }
    size_t keep = strlen(tag) - 1 < n - at ? strlen(tag) - 1 : n - at;
    while (keep && memcmp(buf + n - keep, tag, keep)) keep--;
    if (n - at - keep) emit(user, t->inside, false, buf + at, n - at - keep);
    memcpy(t->held, buf + n - keep, keep);
    t->n_held = keep;
    free(buf);
}

void think_flush(think_state *t, think_emit emit, void *user) {
    if (t->n_held) emit(user, t->inside, false, t->held, t->n_held);
    t->n_held = 0;
    t->inside = false;
}
