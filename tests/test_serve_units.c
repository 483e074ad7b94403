/*
 * test_serve_units.c - the server's model-free parts, checked one by one:
 * the stop-string matcher (stop strings split over tokens are never
 * emitted, not even in part), request validation (every rejection's HTTP
 * status, parameter and code), the JSON of responses, stream chunks and
 * errors, read back with cJSON, and conversation rendering: the model's own
 * chat template when it has one (stories260K rewritten with a template),
 * ChatML when it has none. The end-to-end behaviour is in test_serve.sh;
 * the <think> splitter of `penny chat` is tested in test_cli_think.c.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "check.h"
#include "format/gguf.h"
#include "serve/chatfmt.h"
#include "serve/openai.h"
#include "serve/stopstr.h"

/* ---- stop strings ---- */

/* Feeds pieces; returns the emitted text (static) and whether it stopped. */
static const char *run_stops(const char *const *stops, int n_stops, const char *const *pieces,
                             int n_pieces, bool *stopped, int *stop_at) {
    static char out[256];
    stopstr s;
    sbuf b = {0};
    bool oom = false;
    *stopped = false;
    *stop_at = -1;
    CHECK(stop_init(&s, stops, n_stops, NULL) == PENNY_OK);
    for (int i = 0; i < n_pieces && !*stopped; i++) {
        *stopped = stop_feed(&s, pieces[i], strlen(pieces[i]), &b, &oom);
        if (*stopped) *stop_at = i;
    }
    if (!*stopped) stop_flush(&s, &b, &oom);
    CHECK(!oom);
    snprintf(out, sizeof out, "%s", sbuf_str(&b));
    sbuf_free(&b);
    stop_free(&s);
    return out;
}

static void test_stops(void) {
    bool st;
    int at;
    const char *stops[] = {"\nUser:", "END"};
    const char *p1[] = {"Hel", "lo\nUs", "er: hi"};
    CHECK(!strcmp(run_stops(stops, 2, p1, 3, &st, &at), "Hello") && st && at == 2);
    /* a partial match that turns out not to be one is released */
    const char *p2[] = {"a\nU", "nder", " the sea"};
    CHECK(!strcmp(run_stops(stops, 2, p2, 3, &st, &at), "a\nUnder the sea") && !st);
    /* the earliest of several stops wins, inside one piece */
    const char *p3[] = {"xxENDyy\nUser:"};
    CHECK(!strcmp(run_stops(stops, 2, p3, 1, &st, &at), "xx") && st);
    /* held text is emitted at the end when no stop came */
    const char *p4[] = {"the E", "N"};
    CHECK(!strcmp(run_stops(stops, 2, p4, 2, &st, &at), "the EN") && !st);
    /* a stop split into single characters */
    const char *p5[] = {"o", "k", "E", "N", "D", "more"};
    CHECK(!strcmp(run_stops(stops, 2, p5, 6, &st, &at), "ok") && st && at == 4);
    /* no stops: everything passes at once */
    const char *p6[] = {"plain"};
    CHECK(!strcmp(run_stops(NULL, 0, p6, 1, &st, &at), "plain") && !st);
    /* empty stop strings are ignored, more than STOP_MAX refused */
    const char *empty[] = {""};
    CHECK(!strcmp(run_stops(empty, 1, p6, 1, &st, &at), "plain") && !st);
    stopstr s;
    const char *five[] = {"a", "b", "c", "d", "e"};
    CHECK(stop_init(&s, five, 5, NULL) == PENNY_ERR_ARG);
}

/* Checks that nothing of a stop string is emitted before the stop: after
 * every piece, the output so far is a prefix of the final output. */
static void test_stops_never_leak(void) {
    const char *stops[] = {"abcab"};
    const char *text = "xxabcaabcabyy"; /* the stop starts at offset 6 */
    for (size_t cut = 1; cut < 5; cut++) {
        stopstr s;
        sbuf b = {0};
        bool oom = false, stopped = false;
        stop_init(&s, stops, 1, NULL);
        for (size_t i = 0; i < strlen(text) && !stopped; i += cut) {
            size_t n = strlen(text) - i < cut ? strlen(text) - i : cut;
            stopped = stop_feed(&s, text + i, n, &b, &oom);
            CHECKF(!strncmp(sbuf_str(&b), "xxabca", b.len) && b.len <= 6, "cut %zu: '%s'", cut,
                   sbuf_str(&b));
        }
        CHECKF(stopped && !strcmp(sbuf_str(&b), "xxabca"), "cut %zu: '%s'", cut, sbuf_str(&b));
        sbuf_free(&b);
        stop_free(&s);
    }
}

/* ---- request validation ---- */

typedef struct bad_case {
    oai_kind kind;
    const char *body;
    int status;
    const char *param, *code;
} bad_case;

static void test_rejections(void) {
    static const bad_case cases[] = {
        {OAI_CHAT, "{", 400, "", "invalid_json"},
        {OAI_CHAT, "[]", 400, "", "invalid_json"},
        {OAI_CHAT, "{} {}", 400, "", "invalid_json"},
        {OAI_CHAT, "", 400, "", "invalid_json"},
        {OAI_CHAT, "{}", 400, "messages", "missing_required_parameter"},
        {OAI_CHAT, "{\"messages\":{}}", 400, "messages", "invalid_type"},
        {OAI_CHAT, "{\"messages\":[]}", 400, "messages", "empty_array"},
        {OAI_CHAT, "{\"messages\":[1]}", 400, "messages[0]", "invalid_type"},
        {OAI_CHAT, "{\"messages\":[{\"content\":\"x\"}]}", 400, "messages[0].role", "invalid_type"},
        {OAI_CHAT, "{\"messages\":[{\"role\":\"x\",\"content\":\"x\"}]}", 400, "messages[0].role",
         "invalid_value"},
        {OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":5}]}", 400, "messages[0].content",
         "invalid_type"},
        {OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\"}]}]}",
         400, "messages[0].content", "invalid_value"},
        {OAI_COMPLETION, "{\"prompt\":\"a\",\"model\":7}", 400, "model", "invalid_type"},
        {OAI_COMPLETION, "{\"prompt\":\"a\",\"temperature\":\"1\"}", 400, "temperature",
         "invalid_type"},
        {OAI_COMPLETION, "{\"prompt\":\"a\",\"temperature\":2.5}", 400, "temperature",
         "invalid_value"},
        {OAI_COMPLETION, "{\"prompt\":\"a\",\"top_p\":-0.1}", 400, "top_p", "invalid_value"},
        {OAI_COMPLETION, "{\"prompt\":\"a\",\"presence_penalty\":3}", 400, "presence_penalty",
         "invalid_value"},
        {OAI_COMPLETION, "{\"prompt\":\"a\",\"max_tokens\":0}", 400, "max_tokens", "invalid_value"},
        {OAI_COMPLETION, "{\"prompt\":\"a\",\"max_tokens\":1.5}", 400, "max_tokens",
         "invalid_type"},
        {OAI_COMPLETION, "{\"prompt\":\"a\",\"n\":2}", 400, "n", "unsupported_value"},
        {OAI_COMPLETION, "{\"prompt\":\"a\",\"seed\":\"x\"}", 400, "seed", "invalid_type"},
        {OAI_COMPLETION, "{\"prompt\":\"a\",\"stop\":[1]}", 400, "stop", "invalid_type"},
        {OAI_COMPLETION, "{\"prompt\":\"a\",\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}", 400, "stop",
         "invalid_value"},
        {OAI_COMPLETION, "{\"prompt\":\"a\",\"stream\":1}", 400, "stream", "invalid_type"},
        {OAI_COMPLETION, "{\"prompt\":\"a\",\"stream_options\":{}}", 400, "stream_options",
         "invalid_value"},
        {OAI_COMPLETION,
         "{\"prompt\":\"a\",\"stream\":true,\"stream_options\":{\"include_usage\":1}}", 400,
         "stream_options.include_usage", "invalid_type"},
        {OAI_COMPLETION, "{\"prompt\":\"a\",\"logprobs\":3}", 400, "logprobs",
         "unsupported_parameter"},
        {OAI_COMPLETION, "{\"prompt\":\"a\",\"response_format\":{\"type\":\"json_object\"}}", 400,
         "response_format", "unsupported_parameter"},
        {OAI_COMPLETION, "{}", 400, "prompt", "missing_required_parameter"},
        {OAI_COMPLETION, "{\"prompt\":[\"a\",\"b\"]}", 400, "prompt", "invalid_value"},
        {OAI_COMPLETION, "{\"prompt\":[1,-2]}", 400, "prompt", "invalid_value"},
        {OAI_COMPLETION, "{\"prompt\":{}}", 400, "prompt", "invalid_type"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const bad_case *c = &cases[i];
        oai_request r;
        oai_error e = {0};
        int st = oai_parse(c->kind, c->body, strlen(c->body), &r, &e);
        CHECKF(st == c->status && e.status == c->status && !strcmp(e.param, c->param) && e.code &&
                   !strcmp(e.code, c->code) && e.message[0],
               "case %zu %s: status %d param '%s' code '%s': %s", i, c->body, st, e.param,
               e.code ? e.code : "(null)", e.message);
        oai_request_free(&r);
    }
}

static void test_accepted(void) {
    const char *body =
        "{\"model\":\"m\",\"messages\":[{\"role\":\"developer\",\"content\":\"sys\"},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},"
        "{\"type\":\"text\",\"text\":\"b\"}]},{\"role\":\"assistant\","
        "\"content\":null}],\"temperature\":0,\"top_p\":0.5,\"max_tokens\":9,"
        "\"max_completion_tokens\":7,\"stop\":[\"x\",\"\"],\"seed\":-3,"
        "\"stream\":true,\"stream_options\":{\"include_usage\":true},\"n\":1,"
        "\"logprobs\":false,\"tools\":[],\"user\":\"ignored\"}";
    oai_request r;
    oai_error e = {0};
    int st = oai_parse(OAI_CHAT, body, strlen(body), &r, &e);
    CHECKF(st == 0, "%s", e.message);
    CHECK(r.model && !strcmp(r.model, "m") && r.n_msgs == 3);
    CHECK(r.n_msgs == 3 && !strcmp(r.msgs[0].role, "system") &&
          !strcmp(r.msgs[1].content, "a\nb") && !strcmp(r.msgs[2].content, ""));
    CHECK(r.temperature == 0 && r.top_p == 0.5f && r.max_tokens == 7 && r.n_stop == 1 &&
          !strcmp(r.stop[0], "x"));
    CHECK(r.has_seed && r.seed == (uint64_t)(int64_t)-3 && r.stream && r.include_usage);
    oai_request_free(&r);

    const char *comp = "{\"prompt\":[1,2,3],\"temperature\":null,\"stop\":\"\\n\"}";
    st = oai_parse(OAI_COMPLETION, comp, strlen(comp), &r, &e);
    CHECK(st == 0 && !r.prompt && r.n_prompt_ids == 3 && r.prompt_ids[2] == 3);
    CHECK(r.temperature == 1.0f && r.max_tokens == -1 && r.n_stop == 1 && !r.has_seed);
    oai_request_free(&r);
    /* the body need not be NUL-terminated */
    char raw[] = {'{', '"', 'p', 'r', 'o', 'm', 'p', 't', '"', ':', '"', 'h', '"', '}', 'X'};
    st = oai_parse(OAI_COMPLETION, raw, sizeof raw - 1, &r, &e);
    CHECK(st == 0 && r.prompt && !strcmp(r.prompt, "h"));
    oai_request_free(&r);
}

/* ---- responses ---- */

static cJSON *parse_sse(const char *s) {
    if (strncmp(s, "data: ", 6) || strlen(s) < 8 || strcmp(s + strlen(s) - 2, "\n\n")) return NULL;
    return cJSON_ParseWithLength(s + 6, strlen(s) - 8);
}

static void test_responses(void) {
    oai_reply rep = {.kind = OAI_CHAT,
                     .id = "chatcmpl-1",
                     .model = "m",
                     .created = 5,
                     .finish = "stop",
                     .prompt_tokens = 3,
                     .completion_tokens = 4,
                     .cached_tokens = 2};
    sbuf b = {0};
    CHECK(oai_response_json(&rep, "hi \"there\"\n", &b));
    cJSON *j = cJSON_Parse(sbuf_str(&b));
    cJSON *ch = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0);
    cJSON *msg = cJSON_GetObjectItem(ch, "message"), *u = cJSON_GetObjectItem(j, "usage");
    CHECK(j && !strcmp(cJSON_GetObjectItem(j, "object")->valuestring, "chat.completion"));
    CHECK(msg && !strcmp(cJSON_GetObjectItem(msg, "content")->valuestring, "hi \"there\"\n"));
    CHECK(!strcmp(cJSON_GetObjectItem(ch, "finish_reason")->valuestring, "stop"));
    CHECK(cJSON_GetObjectItem(u, "total_tokens")->valueint == 7 &&
          cJSON_GetObjectItem(cJSON_GetObjectItem(u, "prompt_tokens_details"), "cached_tokens")
                  ->valueint == 2);
    cJSON_Delete(j);

    sbuf_clear(&b);
    rep.finish = NULL;
    CHECK(oai_chunk_sse(&rep, true, NULL, true, &b));
    j = parse_sse(sbuf_str(&b));
    ch = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0);
    cJSON *d = cJSON_GetObjectItem(ch, "delta");
    CHECK(j && !strcmp(cJSON_GetObjectItem(j, "object")->valuestring, "chat.completion.chunk"));
    CHECK(d && !strcmp(cJSON_GetObjectItem(d, "role")->valuestring, "assistant") &&
          cJSON_IsNull(cJSON_GetObjectItem(ch, "finish_reason")) &&
          cJSON_IsNull(cJSON_GetObjectItem(j, "usage")));
    cJSON_Delete(j);

    sbuf_clear(&b);
    rep.kind = OAI_COMPLETION;
    CHECK(oai_usage_sse(&rep, &b));
    j = parse_sse(sbuf_str(&b));
    CHECK(j && cJSON_GetArraySize(cJSON_GetObjectItem(j, "choices")) == 0 &&
          cJSON_GetObjectItem(cJSON_GetObjectItem(j, "usage"), "completion_tokens")->valueint ==
              4 &&
          !strcmp(cJSON_GetObjectItem(j, "object")->valuestring, "text_completion"));
    cJSON_Delete(j);

    sbuf_clear(&b);
    oai_error e;
    oai_fail(&e, 404, "invalid_request_error", "model_not_found", "model", "no %s", "such");
    CHECK(oai_error_json(&e, &b));
    j = cJSON_Parse(sbuf_str(&b));
    cJSON *err = cJSON_GetObjectItem(j, "error");
    CHECK(err && !strcmp(cJSON_GetObjectItem(err, "message")->valuestring, "no such") &&
          !strcmp(cJSON_GetObjectItem(err, "param")->valuestring, "model") &&
          !strcmp(cJSON_GetObjectItem(err, "code")->valuestring, "model_not_found"));
    cJSON_Delete(j);
    sbuf_clear(&b);
    oai_fail(&e, 500, "server_error", NULL, NULL, "x");
    CHECK(oai_error_json(&e, &b));
    j = cJSON_Parse(sbuf_str(&b));
    err = cJSON_GetObjectItem(j, "error");
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(err, "param")) &&
          cJSON_IsNull(cJSON_GetObjectItem(err, "code")));
    cJSON_Delete(j);
    sbuf_free(&b);
}

/* ---- chat rendering ---- */

#define TEMPLATE                                                                                   \
    "{{ bos_token }}{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}"           \
    "{% if add_generation_prompt %}[assistant] {% endif %}"

/* Writes stories260K again with a chat template added; false when absent. */
static bool write_templated(const char *src, const char *dst) {
    gguf_file *g = NULL;
    gguf_writer *w = NULL;
    penny_error err = {0};
    bool ok = !gguf_open(src, false, &g, &err) && !gguf_writer_new(&w, &err) &&
              !gguf_writer_copy_kvs(w, g) &&
              !gguf_writer_set_str(w, "tokenizer.chat_template", TEMPLATE);
    char names[64][96];
    for (int64_t i = 0; ok && i < gguf_tensor_count(g) && i < 64; i++) {
        const gguf_tensor *t = gguf_tensor_at(g, i);
        snprintf(names[i], sizeof names[i], "%.*s", (int)t->name.len, t->name.ptr);
        ok = !gguf_writer_add_tensor(w, names[i], t->type, (int)t->n_dims, t->ne, t->data);
    }
    ok = ok && gguf_tensor_count(g) <= 64 && !gguf_writer_save(w, dst, &err);
    CHECKF(ok, "%s", err.message);
    gguf_writer_free(w);
    gguf_close(g);
    return ok;
}

static char *render(penny_model *m) {
    penny_chat_message msgs[] = {{"system", "Be kind."}, {"user", "Hi!"}};
    char *out = NULL;
    penny_error err = {0};
    CHECKF(chatfmt_apply(m, msgs, 2, true, &out, &err) == PENNY_OK, "%s", err.message);
    return out;
}

static void test_templates(void) {
    char src[1024], dst[] = "/tmp/penny-serve-units-XXXXXX";
    if (!check_shared("models/stories260K.gguf", src, sizeof src)) {
        fprintf(stderr, "skip: templates (stories260K.gguf absent)\n");
        return;
    }
    int fd = mkstemp(dst);
    CHECK(fd >= 0);
    close(fd);
    penny_model *plain = NULL, *tmpl = NULL;
    penny_error err = {0};
    if (!write_templated(src, dst) || penny_model_load(src, NULL, &plain, &err) ||
        penny_model_load(dst, NULL, &tmpl, &err)) {
        CHECKF(false, "%s", err.message);
        goto done;
    }
    CHECK(!chatfmt_has_template(plain) && chatfmt_has_template(tmpl));
    char *a = render(plain), *b = render(tmpl);
    CHECKF(a && !strcmp(a, "<|im_start|>system\nBe kind.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>"
                           "\n<|im_start|>assistant\n"),
           "ChatML: '%s'", a ? a : "");
    CHECKF(b && !strcmp(b, "<s>[system] Be kind.\n[user] Hi!\n[assistant] "), "template: '%s'",
           b ? b : "");
    /* the template writes BOS: tokenizing must not add a second one */
    penny_token *t = NULL;
    int n = 0;
    CHECK(b && chatfmt_tokenize(tmpl, b, true, &t, &n, &err) == PENNY_OK);
    CHECKF(n > 2 && t[0] == penny_model_bos(tmpl) && t[1] != t[0], "n %d", n);
    free(t);
    CHECK(chatfmt_tokenize(plain, "Hi", true, &t, &n, &err) == PENNY_OK);
    CHECK(n >= 2 && t[0] == penny_model_bos(plain));
    free(t);
    free(a);
    free(b);
done:
    penny_model_free(plain);
    penny_model_free(tmpl);
    unlink(dst);
}

int main(void) {
    test_stops();
    test_stops_never_leak();
    test_rejections();
    test_accepted();
    test_responses();
    test_templates();
    return check_done("test_serve_units");
}
