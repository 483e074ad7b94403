/*
 * metrics.c - renders metrics.h's counters as Prometheus text exposition
 * (version 0.0.4): a HELP and TYPE line per family, then samples.
 */
#include "serve/metrics.h"

#include <inttypes.h>
#include <stdio.h>

static const int codes[METRICS_N_CODES] = {200, 204, 400, 401, 404, 405, 413, 500, 503, 0};

void metrics_init(metrics *m) {
    for (int i = 0; i < METRICS_N_CODES; i++) atomic_init(&m->responses[i], 0);
    atomic_init(&m->completions, 0);
    atomic_init(&m->streams, 0);
    atomic_init(&m->disconnects, 0);
    atomic_init(&m->active_connections, 0);
}

void metrics_response(metrics *m, int status) {
    int i = 0;
    while (i < METRICS_N_CODES - 1 && codes[i] != status) i++;
    atomic_fetch_add(&m->responses[i], 1);
}

static bool family(sbuf *o, const char *name, const char *type, const char *help) {
    return sbuf_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static bool counter(sbuf *o, const char *name, const char *help, uint64_t v) {
    return family(o, name, "counter", help) && sbuf_printf(o, "%s %" PRIu64 "\n", name, v);
}

static bool gauge(sbuf *o, const char *name, const char *help, double v) {
    return family(o, name, "gauge", help) && sbuf_printf(o, "%s %.6g\n", name, v);
}

static bool render_http(metrics *m, sbuf *o) {
    uint64_t total = 0;
    for (int i = 0; i < METRICS_N_CODES; i++) total += atomic_load(&m->responses[i]);
    bool ok = counter(o, "penny_http_requests_total", "HTTP requests answered.", total) &&
              family(o, "penny_http_responses_total", "counter", "HTTP responses by status.");
    for (int i = 0; ok && i < METRICS_N_CODES; i++) {
        char code[8] = "other";
        if (codes[i]) snprintf(code, sizeof code, "%d", codes[i]);
        ok = sbuf_printf(o, "penny_http_responses_total{code=\"%s\"} %" PRIu64 "\n", code,
                         (uint64_t)atomic_load(&m->responses[i]));
    }
    return ok &&
           counter(o, "penny_completions_total", "Completion requests accepted.",
                   atomic_load(&m->completions)) &&
           counter(o, "penny_streams_total", "Completion requests answered as a stream.",
                   atomic_load(&m->streams)) &&
           counter(o, "penny_client_disconnects_total",
                   "Completions abandoned by their client before the end.",
                   atomic_load(&m->disconnects)) &&
           gauge(o, "penny_http_connections", "Open HTTP connections.",
                 atomic_load(&m->active_connections));
}

bool metrics_render(metrics *m, const sched_stats *st, sbuf *o) {
    return render_http(m, o) &&
           counter(o, "penny_requests_finished_total", "Completions the scheduler finished.",
                   st->jobs_done) &&
           counter(o, "penny_prompt_tokens_total", "Prompt tokens received.", st->prompt_tokens) &&
           counter(o, "penny_prompt_tokens_cached_total",
                   "Prompt tokens skipped thanks to a slot's cached prefix.", st->cached_tokens) &&
           counter(o, "penny_generated_tokens_total", "Tokens generated.", st->gen_tokens) &&
           counter(o, "penny_steps_total", "Batched evaluation steps.", st->steps) &&
           family(o, "penny_eval_seconds_total", "counter", "Seconds spent evaluating.") &&
           sbuf_printf(o, "penny_eval_seconds_total %.3f\n", st->busy_seconds) &&
           gauge(o, "penny_tokens_per_second", "Generated tokens per second, all slots.",
                 st->gen_tps) &&
           gauge(o, "penny_queue_depth", "Requests waiting for a slot.", st->queued) &&
           gauge(o, "penny_slots_busy", "Slots running a request.", st->busy) &&
           gauge(o, "penny_batch_max", "Most sequences evaluated together in one step.",
                 st->max_batch) &&
           gauge(o, "penny_slots_total", "Slots (parallel sequences).", st->n_slots);
}
