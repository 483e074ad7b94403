/*
 * think.h - splitting streamed text into reasoning (<think>...</think>) and
 * answer, for `penny chat`, which shows reasoning dimmed or folded.
 *
 * Text arrives a token at a time and a tag may be split over tokens, so the
 * tail that could still become a tag is held back until the next piece.
 * This is presentation (the server passes reasoning through as text), so
 * it lives with the CLI rather than in libpenny.
 */
#ifndef PENNY_CLI_THINK_H
#define PENNY_CLI_THINK_H

#include <stdbool.h>
#include <stddef.h>

typedef struct think_state {
    bool inside; /* within a <think> section */
    char held[16];
    size_t n_held;
} think_state;

/* Receives each run of text and whether it is reasoning; `enter` is true on
 * the call that marks the start of a section (with n == 0). */
typedef void (*think_emit)(void *user, bool inside, bool enter, const char *s, size_t n);

void think_feed(think_state *t, const char *text, size_t len, think_emit emit, void *user);
/* End of the answer: releases anything held back. */
void think_flush(think_state *t, think_emit emit, void *user);

#endif
