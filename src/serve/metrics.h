/*
 * metrics.h - counters for GET /metrics in the Prometheus text format:
 * HTTP requests by status, tokens in and out, the generation rate, queue
 * depth and busy slots. HTTP threads bump the counters without locks; the
 * scheduler's figures come from sched_get_stats at render time.
 */
#ifndef PENNY_SERVE_METRICS_H
#define PENNY_SERVE_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "serve/sbuf.h"
#include "serve/sched.h"

#define METRICS_N_CODES 10

typedef struct metrics {
    atomic_uint_least64_t responses[METRICS_N_CODES]; /* by status, see metrics.c */
    atomic_uint_least64_t completions;                /* completion requests accepted */
    atomic_uint_least64_t streams;                    /* of which streamed */
    atomic_uint_least64_t disconnects;                /* clients gone before the end */
    atomic_int active_connections;
} metrics;

void metrics_init(metrics *m);
void metrics_response(metrics *m, int status);
bool metrics_render(metrics *m, const sched_stats *st, sbuf *out);

#endif
