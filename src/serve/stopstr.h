/*
 * stopstr.h - stop strings detected across token boundaries.
 *
 * Generated text arrives a token at a time, and a stop string such as
 * "\nUser:" may be split over several tokens. The matcher holds back the
 * tail of the text that could still grow into a stop string and releases
 * only what can no longer be part of one, so a stop string is never sent to
 * the client, not even its first half.
 */
#ifndef PENNY_SERVE_STOPSTR_H
#define PENNY_SERVE_STOPSTR_H

#include <stdbool.h>

#include "penny.h"
#include "serve/sbuf.h"

#define STOP_MAX 4

typedef struct stopstr {
    char *stops[STOP_MAX]; /* owned copies, non-empty */
    int n;
    sbuf held; /* text that may be the start of a stop string */
} stopstr;

/* Copies n stop strings (empty ones are ignored). */
penny_status stop_init(stopstr *s, const char *const *stops, int n, penny_error *err);
void stop_free(stopstr *s);
/* Feeds generated text; appends what is safe to emit to out. Returns true
 * when a stop string appeared: the text before it has been emitted and the
 * rest is dropped. False with out unchanged on allocation failure is not
 * distinguishable, so *oom is set then. */
bool stop_feed(stopstr *s, const char *text, size_t len, sbuf *out, bool *oom);
/* End of generation: emits whatever was held back. */
void stop_flush(stopstr *s, sbuf *out, bool *oom);

#endif
