/*
 * complete.c - POST /v1/chat/completions and /v1/completions: from a parsed
 * request to prompt tokens (chat template, tokenizer), limits checked
 * against the context, a scheduler job, then either one JSON response or a
 * stream of server-sent events.
 *
 * The connection thread only waits: in short polls on the job, checking
 * between them whether the client hung up (the job is then cancelled, which
 * frees its slot at the scheduler's next step) or the server is stopping.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "serve/chatfmt.h"
#include "serve/serve_int.h"

#define BAD "invalid_request_error"
#define POLL_MS 50

/* ---- from request to job ---- */

static int too_long(const serve *s, const oai_request *r, int n_prompt, oai_error *e) {
    int n_ctx = sched_n_ctx(s->sch), max_tokens = r->max_tokens;
    const char *param = r->kind == OAI_CHAT ? "messages" : "prompt";
    if (n_prompt < n_ctx && (max_tokens < 0 || n_prompt + max_tokens <= n_ctx)) return 0;
    if (max_tokens < 0)
        return oai_fail(e, 400, BAD, "context_length_exceeded", param,
                        "This model's maximum context length is %d tokens. However, your prompt "
                        "has %d tokens, which leaves no room for a reply. Please reduce the "
                        "length of the prompt.",
                        n_ctx, n_prompt);
    return oai_fail(e, 400, BAD, "context_length_exceeded", param,
                    "This model's maximum context length is %d tokens. However, you requested "
                    "%d tokens (%d in the prompt, %d for the completion). Please reduce the "
                    "length of the prompt or the completion.",
                    n_ctx, n_prompt + max_tokens, n_prompt, max_tokens);
}

static int prompt_from_ids(serve *s, const oai_request *r, penny_token **toks, int *n,
                           oai_error *e) {
    int n_vocab = penny_model_n_vocab(s->m);
    for (int i = 0; i < r->n_prompt_ids; i++)
        if (r->prompt_ids[i] >= n_vocab)
            return oai_fail(e, 400, BAD, "invalid_value", "prompt",
                            "Invalid 'prompt': token id %d is outside the vocabulary (%d tokens).",
                            r->prompt_ids[i], n_vocab);
    if (!(*toks = malloc(sizeof **toks * (size_t)(r->n_prompt_ids + 1))))
        return oai_fail(e, 500, "server_error", NULL, NULL, "out of memory");
    memcpy(*toks, r->prompt_ids, sizeof **toks * (size_t)r->n_prompt_ids);
    *n = r->n_prompt_ids;
    return 0;
}

/* Renders (chat) and tokenizes the prompt, and checks it fits. */
static int build_prompt(serve *s, const oai_request *r, penny_token **toks, int *n, oai_error *e) {
    penny_error err = {0};
    *toks = NULL;
    *n = 0;
    penny_status rc;
    if (r->kind == OAI_CHAT) {
        char *text = NULL;
        if (chatfmt_apply(s->m, r->msgs, r->n_msgs, true, &text, &err))
            return oai_fail(e, 400, BAD, "invalid_messages", "messages",
                            "The chat template could not render these messages: %s", err.message);
        rc = chatfmt_tokenize(s->m, text, true, toks, n, &err);
        free(text);
    } else if (r->prompt) {
        rc = chatfmt_tokenize(s->m, r->prompt, true, toks, n, &err);
    } else {
        int st = prompt_from_ids(s, r, toks, n, e);
        if (st) return st;
        rc = PENNY_OK;
    }
    if (rc) return oai_fail(e, 400, BAD, "invalid_prompt", NULL, "tokenizer: %s", err.message);
    if (*n == 0)
        return oai_fail(e, 400, BAD, "invalid_prompt", r->kind == OAI_CHAT ? "messages" : "prompt",
                        "The prompt is empty (and this model adds no beginning-of-text token).");
    return too_long(s, r, *n, e);
}

static penny_sampler_params sampling(const oai_request *r) {
    penny_sampler_params sp = penny_sampler_default_params();
    sp.temperature = r->temperature;
    sp.top_k = 0;
    sp.top_p = r->top_p;
    sp.min_p = 0;
    sp.repeat_penalty = 1;
    sp.presence_penalty = r->presence_penalty;
    sp.frequency_penalty = r->frequency_penalty;
    /* OpenAI's penalties count every generated token: -1 asks the scheduler
     * for the whole context */
    sp.penalty_last_n = r->presence_penalty != 0 || r->frequency_penalty != 0 ? -1 : 0;
    sp.seed = r->has_seed ? r->seed : serve_random();
    return sp;
}

static int make_job(serve *s, const oai_request *r, sched_job **job, int *n_prompt, oai_error *e) {
    penny_token *toks = NULL;
    int st = build_prompt(s, r, &toks, n_prompt, e);
    if (!st) {
        sched_job_params jp = {.prompt = toks,
                               .n_prompt = *n_prompt,
                               .max_tokens = r->max_tokens,
                               .ignore_eos = r->ignore_eos,
                               .sp = sampling(r),
                               .stop = (const char *const *)r->stop,
                               .n_stop = r->n_stop};
        penny_error err = {0};
        if (sched_job_new(&jp, job, &err))
            st = oai_fail(e, 500, "server_error", NULL, NULL, "%s", err.message);
    }
    free(toks);
    return st;
}

/* ---- answering ---- */

static void reply_init(serve *s, const oai_request *r, char *id, size_t cap, oai_reply *rep) {
    uint64_t n = atomic_fetch_add(&s->n_ids, 1);
    snprintf(id, cap, "%s-%016llx%08llx", r->kind == OAI_CHAT ? "chatcmpl" : "cmpl",
             (unsigned long long)s->id_salt, (unsigned long long)(n & 0xffffffffu));
    memset(rep, 0, sizeof *rep);
    rep->kind = r->kind;
    rep->id = id;
    rep->model = s->model_id;
    rep->created = (int64_t)time(NULL);
}

static void reply_counts(oai_reply *rep, const sched_result *res) {
    rep->prompt_tokens = res->n_prompt;
    rep->completion_tokens = res->n_gen;
    rep->cached_tokens = res->n_cached;
    rep->finish = res->finish;
}

/* The job failed inside the server (never the client's fault: requests
 * are validated before they are queued). */
static void job_error(const sched_result *res, oai_error *e) {
    oai_fail(e, 500, "server_error", NULL, NULL, "generation failed: %s", res->error);
}

/* Waits for the whole completion; MHD_NO closes the connection when the
 * client left or the server stops. */
static enum MHD_Result answer_whole(serve *s, struct MHD_Connection *c, sched_job *job,
                                    oai_reply *rep) {
    sbuf text = {0}, out = {0};
    sched_result res;
    while (!sched_job_wait(job, &text, POLL_MS, false, &res)) {
        if (atomic_load(&s->stopping) || http_client_gone(c)) {
            sched_job_cancel(job);
            atomic_fetch_add(&s->met.disconnects, 1);
            sbuf_free(&text);
            return MHD_NO;
        }
    }
    enum MHD_Result ret;
    oai_error e;
    reply_counts(rep, &res);
    if (res.failed) {
        job_error(&res, &e);
        ret = http_error(s, c, &e);
    } else if (oai_response_json(rep, sbuf_str(&text), &out)) {
        ret = http_reply(s, c, 200, "application/json", out.p, out.len);
    } else {
        ret = MHD_NO;
    }
    sbuf_free(&text);
    sbuf_free(&out);
    return ret;
}

/* ---- streaming ---- */

typedef struct stream {
    serve *s;
    struct MHD_Connection *c;
    sched_job *job;
    oai_reply rep;
    char id[64];
    bool include_usage, role_sent, finished;
    sbuf text, out; /* text taken from the job; SSE bytes not yet sent */
    size_t off;
} stream;

/* The last events: the finish chunk, usage when asked, [DONE]. A failure
 * becomes an error event, which OpenAI's clients raise as an error. */
static bool stream_end(stream *st, const sched_result *res) {
    st->finished = true;
    reply_counts(&st->rep, res);
    if (res->failed) {
        oai_error e;
        job_error(res, &e);
        return sbuf_addz(&st->out, "data: ") && oai_error_json(&e, &st->out) &&
               sbuf_addz(&st->out, "\n\n");
    }
    return oai_chunk_sse(&st->rep, false, NULL, st->include_usage, &st->out) &&
           (!st->include_usage || oai_usage_sse(&st->rep, &st->out)) &&
           sbuf_addz(&st->out, "data: [DONE]\n\n");
}

/* Waits for the next events; false drops the connection. */
static bool stream_fill(stream *st) {
    if (st->rep.kind == OAI_CHAT && !st->role_sent) {
        st->role_sent = true;
        return oai_chunk_sse(&st->rep, true, NULL, st->include_usage, &st->out);
    }
    for (;;) {
        sched_result res;
        /* once events are ready, only take pieces already there */
        bool done = sched_job_wait(st->job, &st->text, st->out.len ? 0 : POLL_MS, true, &res);
        if (st->text.len) {
            if (!oai_chunk_sse(&st->rep, false, st->text.p, st->include_usage, &st->out))
                return false;
            sbuf_clear(&st->text);
            if (!done) continue;
        }
        if (done) return stream_end(st, &res);
        if (st->out.len) return true;
        if (atomic_load(&st->s->stopping) || http_client_gone(st->c)) return false;
    }
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    stream *st = cls;
    while (st->off >= st->out.len) {
        if (st->finished) return MHD_CONTENT_READER_END_OF_STREAM;
        sbuf_clear(&st->out);
        st->off = 0;
        if (!stream_fill(st)) return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    size_t n = st->out.len - st->off < max ? st->out.len - st->off : max;
    memcpy(buf, st->out.p + st->off, n);
    st->off += n;
    return (ssize_t)n;
}

/* Called by MHD when the response is done with, finished or not: a job
 * whose client is gone is cancelled so its slot frees up. */
static void stream_free(void *cls) {
    stream *st = cls;
    if (!st->finished) {
        sched_job_cancel(st->job);
        atomic_fetch_add(&st->s->met.disconnects, 1);
    }
    sched_job_release(st->job);
    sbuf_free(&st->text);
    sbuf_free(&st->out);
    free(st);
}

/* Takes over the job reference. */
static enum MHD_Result answer_stream(serve *s, struct MHD_Connection *c, const oai_request *r,
                                     sched_job *job) {
    stream *st = calloc(1, sizeof *st);
    if (!st) {
        sched_job_cancel(job);
        sched_job_release(job);
        return MHD_NO;
    }
    st->s = s;
    st->c = c;
    st->job = job;
    st->include_usage = r->include_usage;
    reply_init(s, r, st->id, sizeof st->id, &st->rep);
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024,
                                                                  stream_read, st, stream_free);
    if (!resp) {
        stream_free(st);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "text/event-stream");
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    http_add_common_headers(resp);
    enum MHD_Result ret = MHD_queue_response(c, 200, resp);
    MHD_destroy_response(resp);
    metrics_response(&s->met, 200);
    atomic_fetch_add(&s->met.streams, 1);
    return ret;
}

/* ---- the endpoint ---- */

enum MHD_Result complete_handle(serve *s, struct MHD_Connection *c, oai_kind kind, const char *body,
                                size_t len) {
    oai_request r;
    oai_error e;
    sched_job *job = NULL;
    int n_prompt = 0;
    int st = oai_parse(kind, body, len, &r, &e);
    if (!st && r.model && strcmp(r.model, s->model_id))
        st = oai_fail(&e, 404, BAD, "model_not_found", "model",
                      "The model '%.100s' does not exist or you do not have access to it. This "
                      "server serves '%s'.",
                      r.model, s->model_id);
    if (!st) st = make_job(s, &r, &job, &n_prompt, &e);
    if (!st && !sched_submit(s->sch, job))
        st = oai_fail(&e, 503, "server_error", "server_overloaded", NULL,
                      "The server is overloaded: %d requests are already waiting. Please retry "
                      "after a moment.",
                      s->o.max_queue);
    enum MHD_Result ret;
    if (st) {
        ret = http_error(s, c, &e);
    } else {
        atomic_fetch_add(&s->met.completions, 1);
        if (r.stream) {
            ret = answer_stream(s, c, &r, job);
            job = NULL;
        } else {
            char id[64];
            oai_reply rep;
            reply_init(s, &r, id, sizeof id, &rep);
            ret = answer_whole(s, c, job, &rep);
        }
    }
    sched_job_release(job);
    oai_request_free(&r);
    return ret;
}
