/*
 * fuzz_openai.c - libFuzzer target for the server's request handling
 * (src/serve/openai.c): the JSON bodies of /v1/chat/completions and
 * /v1/completions.
 *
 * The first byte picks the endpoint; the rest is the body. A rejected body
 * must come with a status and a message and render as an error object; an
 * accepted one must have sane fields and render as a response and as stream
 * chunks. When it has stop strings, its prompt is streamed through the stop
 * matcher in small pieces, and nothing emitted may be other than a prefix
 * of the prompt. Seeds are in fuzz/corpus/openai/.
 *
 *   make fuzz && build-fuzz/fuzz_openai -max_total_time=60 fuzz/corpus/openai
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "serve/openai.h"
#include "serve/stopstr.h"

static void check_rejection(const oai_error *e, int st) {
    sbuf b = {0};
    if (st < 400 || st > 599 || e->status != st || !e->message[0] || !oai_error_json(e, &b))
        abort();
    sbuf_free(&b);
}

/* Streams text through the request's stop strings, 1..7 bytes at a time. */
static void check_stops(const oai_request *r, const char *text, size_t len) {
    stopstr s;
    if (stop_init(&s, (const char *const *)r->stop, r->n_stop, NULL)) abort();
    sbuf out = {0};
    bool oom = false, stopped = false;
    for (size_t i = 0, step = 1; i < len && !stopped; i += step, step = step % 7 + 1) {
        size_t n = len - i < step ? len - i : step;
        stopped = stop_feed(&s, text + i, n, &out, &oom);
        if (out.len > len || (out.len && memcmp(out.p, text, out.len))) abort();
    }
    if (!stopped) stop_flush(&s, &out, &oom);
    if (!oom && !stopped && (out.len != len || memcmp(out.p ? out.p : "", text, len))) abort();
    sbuf_free(&out);
    stop_free(&s);
}

static void check_accepted(const oai_request *r) {
    if (r->kind == OAI_CHAT && (r->n_msgs < 1 || !r->msgs)) abort();
    for (int i = 0; i < r->n_msgs; i++)
        if (!r->msgs[i].role || !r->msgs[i].content) abort();
    if (r->kind == OAI_COMPLETION && !r->prompt && r->n_prompt_ids < 0) abort();
    if (r->max_tokens == 0 || r->max_tokens < -1 || r->n_stop > STOP_MAX) abort();
    if (!(r->temperature >= 0 && r->temperature <= 2 && r->top_p >= 0 && r->top_p <= 1)) abort();
    oai_reply rep = {.kind = r->kind,
                     .id = "x",
                     .model = r->model ? r->model : "m",
                     .finish = "stop",
                     .prompt_tokens = 1};
    const char *text = r->kind == OAI_CHAT ? r->msgs[0].content : r->prompt ? r->prompt : "";
    sbuf b = {0};
    if (!oai_response_json(&rep, text, &b) || !oai_chunk_sse(&rep, true, text, true, &b) ||
        !oai_usage_sse(&rep, &b))
        abort();
    sbuf_free(&b);
    if (r->n_stop) check_stops(r, text, strlen(text));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    oai_kind kind = data[0] & 1 ? OAI_COMPLETION : OAI_CHAT;
    oai_request r;
    oai_error e = {0};
    int st = oai_parse(kind, (const char *)data + 1, size - 1, &r, &e);
    if (st)
        check_rejection(&e, st);
    else
        check_accepted(&r);
    oai_request_free(&r);
    return 0;
}
