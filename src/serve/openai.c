/*
 * openai.c - request parsing and response writing for the OpenAI API
 * (openai.h), on cJSON.
 *
 * Validation follows OpenAI's rules where a client could tell the
 * difference: optional parameters may be null, numbers are range-checked,
 * a wrong type names the parameter, and features penny does not have
 * (n > 1, logprobs, tools, images) are refused with a 400 rather than
 * silently ignored, because a client that asked for them would otherwise
 * get an answer it did not ask for.
 */
#include "serve/openai.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#define BAD "invalid_request_error"

int oai_fail(oai_error *e, int status, const char *type, const char *code, const char *param,
             const char *fmt, ...) {
    e->status = status;
    e->type = type;
    e->code = code;
    snprintf(e->param, sizeof e->param, "%s", param ? param : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return status;
}

static const char *json_type_name(const cJSON *v) {
    if (cJSON_IsString(v)) return "a string";
    if (cJSON_IsNumber(v)) return "a number";
    if (cJSON_IsBool(v)) return "a boolean";
    if (cJSON_IsArray(v)) return "an array";
    if (cJSON_IsObject(v)) return "an object";
    return "null";
}

static int bad_type(oai_error *e, const char *param, const char *want, const cJSON *v) {
    return oai_fail(e, 400, BAD, "invalid_type", param,
                    "Invalid type for '%s': expected %s, but got %s instead.", param, want,
                    json_type_name(v));
}

static int oom(oai_error *e) {
    return oai_fail(e, 500, "server_error", NULL, NULL, "out of memory");
}

/* A member that is absent or null counts as not given. */
static const cJSON *member(const cJSON *obj, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsNull(v) ? NULL : v;
}

static int get_num(const cJSON *obj, const char *key, double lo, double hi, float *out,
                   oai_error *e) {
    const cJSON *v = member(obj, key);
    if (!v) return 0;
    if (!cJSON_IsNumber(v)) return bad_type(e, key, "a decimal", v);
    if (!(v->valuedouble >= lo && v->valuedouble <= hi))
        return oai_fail(e, 400, BAD, "invalid_value", key,
                        "Invalid value for '%s': %g is not between %g and %g.", key, v->valuedouble,
                        lo, hi);
    *out = (float)v->valuedouble;
    return 0;
}

static bool is_integer(const cJSON *v) {
    return cJSON_IsNumber(v) && isfinite(v->valuedouble) &&
           v->valuedouble == floor(v->valuedouble) && fabs(v->valuedouble) < 9.007199254740992e15;
}

static int get_int(const cJSON *obj, const char *key, double lo, double hi, double *out,
                   oai_error *e) {
    const cJSON *v = member(obj, key);
    if (!v) return 0;
    if (!is_integer(v)) return bad_type(e, key, "an integer", v);
    if (v->valuedouble < lo || v->valuedouble > hi)
        return oai_fail(e, 400, BAD, "invalid_value", key,
                        "Invalid value for '%s': %.0f is not between %.0f and %.0f.", key,
                        v->valuedouble, lo, hi);
    *out = v->valuedouble;
    return 0;
}

static int get_bool(const cJSON *obj, const char *key, bool *out, oai_error *e) {
    const cJSON *v = member(obj, key);
    if (!v) return 0;
    if (!cJSON_IsBool(v)) return bad_type(e, key, "a boolean", v);
    *out = cJSON_IsTrue(v);
    return 0;
}

static char *dup_str(const char *s) { return strdup(s ? s : ""); }

/* ---- chat messages ---- */

/* Content is a string, null, or an array of {"type":"text","text":...}
 * parts, which are joined with newlines. */
static int parse_content(const cJSON *c, const char *param, char **out, oai_error *e) {
    if (!c) return (*out = dup_str("")) ? 0 : oom(e);
    if (cJSON_IsString(c)) return (*out = dup_str(c->valuestring)) ? 0 : oom(e);
    if (!cJSON_IsArray(c)) return bad_type(e, param, "a string or an array of content parts", c);
    sbuf b = {0};
    int i = 0;
    const cJSON *part;
    cJSON_ArrayForEach(part, c) {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(part, "type");
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(part, "text");
        if (!cJSON_IsString(type) || strcmp(type->valuestring, "text") || !cJSON_IsString(text)) {
            sbuf_free(&b);
            return oai_fail(e, 400, BAD, "invalid_value", param,
                            "Content part %d of '%s' is not supported: only text parts are.", i,
                            param);
        }
        if ((i++ && !sbuf_addz(&b, "\n")) || !sbuf_addz(&b, text->valuestring)) {
            sbuf_free(&b);
            return oom(e);
        }
    }
    *out = b.p ? b.p : dup_str("");
    return *out ? 0 : oom(e);
}

static const char *known_role(const char *r) {
    static const char *roles[] = {"system", "user", "assistant", "tool", "function"};
    if (!strcmp(r, "developer")) return "system"; /* OpenAI's newer name for system */
    for (size_t i = 0; i < sizeof roles / sizeof *roles; i++)
        if (!strcmp(r, roles[i])) return roles[i];
    return NULL;
}

static int parse_message(const cJSON *m, int i, penny_chat_message *out, oai_error *e) {
    char param[64];
    snprintf(param, sizeof param, "messages[%d]", i);
    if (!cJSON_IsObject(m)) return bad_type(e, param, "an object", m);
    const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
    snprintf(param, sizeof param, "messages[%d].role", i);
    if (!cJSON_IsString(role)) return bad_type(e, param, "a string", role);
    const char *r = known_role(role->valuestring);
    if (!r)
        return oai_fail(e, 400, BAD, "invalid_value", param,
                        "Invalid value for '%s': '%.40s' is not one of system, developer, user, "
                        "assistant, tool.",
                        param, role->valuestring);
    out->role = r; /* a static string */
    snprintf(param, sizeof param, "messages[%d].content", i);
    char *content = NULL;
    int rc = parse_content(member(m, "content"), param, &content, e);
    out->content = content;
    return rc;
}

static int parse_messages(const cJSON *root, oai_request *r, oai_error *e) {
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(root, "messages");
    if (!msgs)
        return oai_fail(e, 400, BAD, "missing_required_parameter", "messages",
                        "Missing required parameter: 'messages'.");
    if (!cJSON_IsArray(msgs)) return bad_type(e, "messages", "an array", msgs);
    int n = cJSON_GetArraySize(msgs);
    if (n == 0)
        return oai_fail(e, 400, BAD, "empty_array", "messages",
                        "Invalid 'messages': empty array. Expected an array with minimum length "
                        "1.");
    if (!(r->msgs = calloc((size_t)n, sizeof *r->msgs))) return oom(e);
    const cJSON *m;
    cJSON_ArrayForEach(m, msgs) {
        int rc = parse_message(m, r->n_msgs, &r->msgs[r->n_msgs], e);
        r->n_msgs++; /* content (possibly NULL) is now ours to free */
        if (rc) return rc;
    }
    return 0;
}

/* ---- completion prompt ---- */

static int parse_prompt_ids(const cJSON *arr, oai_request *r, oai_error *e) {
    int n = cJSON_GetArraySize(arr);
    if (!(r->prompt_ids = malloc(sizeof *r->prompt_ids * (size_t)(n ? n : 1)))) return oom(e);
    const cJSON *v;
    cJSON_ArrayForEach(v, arr) {
        if (!is_integer(v) || v->valuedouble < 0 || v->valuedouble > 2147483647.0)
            return oai_fail(e, 400, BAD, "invalid_value", "prompt",
                            "Invalid 'prompt': token ids must be non-negative integers.");
        r->prompt_ids[r->n_prompt_ids++] = (penny_token)v->valuedouble;
    }
    return 0;
}

/* A string, a one-string array, or an array of token ids; several prompts
 * at once are refused like n > 1. */
static int parse_prompt(const cJSON *root, oai_request *r, oai_error *e) {
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(root, "prompt");
    if (!p)
        return oai_fail(e, 400, BAD, "missing_required_parameter", "prompt",
                        "Missing required parameter: 'prompt'.");
    if (cJSON_IsString(p)) return (r->prompt = dup_str(p->valuestring)) ? 0 : oom(e);
    if (!cJSON_IsArray(p)) return bad_type(e, "prompt", "a string or an array", p);
    const cJSON *first = cJSON_GetArrayItem(p, 0);
    if (cJSON_IsString(first) && cJSON_GetArraySize(p) == 1)
        return (r->prompt = dup_str(first->valuestring)) ? 0 : oom(e);
    if (!first || cJSON_IsNumber(first)) return parse_prompt_ids(p, r, e);
    return oai_fail(e, 400, BAD, "invalid_value", "prompt",
                    "Invalid 'prompt': penny completes one prompt per request (a string or an "
                    "array of token ids).");
}

/* ---- sampling settings ---- */

static int parse_stop(const cJSON *root, oai_request *r, oai_error *e) {
    const cJSON *s = member(root, "stop");
    if (!s) return 0;
    if (cJSON_IsString(s)) {
        if (s->valuestring[0] && !(r->stop[r->n_stop++] = dup_str(s->valuestring))) return oom(e);
        return 0;
    }
    if (!cJSON_IsArray(s)) return bad_type(e, "stop", "a string or an array of strings", s);
    if (cJSON_GetArraySize(s) > STOP_MAX)
        return oai_fail(e, 400, BAD, "invalid_value", "stop",
                        "Invalid 'stop': at most %d stop sequences are allowed.", STOP_MAX);
    const cJSON *v;
    cJSON_ArrayForEach(v, s) {
        if (!cJSON_IsString(v)) return bad_type(e, "stop", "an array of strings", s);
        if (v->valuestring[0] && !(r->stop[r->n_stop++] = dup_str(v->valuestring))) return oom(e);
    }
    return 0;
}

static int parse_limits(const cJSON *root, oai_request *r, oai_error *e) {
    double v = -1;
    int rc = get_int(root, "max_tokens", 1, 1 << 30, &v, e);
    if (!rc && r->kind == OAI_CHAT) rc = get_int(root, "max_completion_tokens", 1, 1 << 30, &v, e);
    r->max_tokens = (int)v;
    if (rc) return rc;
    double n = 1;
    if ((rc = get_int(root, "n", 1, 128, &n, e))) return rc;
    if (n != 1)
        return oai_fail(e, 400, BAD, "unsupported_value", "n",
                        "Invalid value for 'n': penny generates one choice per request (n=1).");
    double seed = 0;
    const cJSON *sv = member(root, "seed");
    if ((rc = get_int(root, "seed", -9.007199254740992e15, 9.007199254740992e15, &seed, e)))
        return rc;
    r->has_seed = sv != NULL;
    r->seed = (uint64_t)(int64_t)seed;
    return 0;
}

static int parse_stream(const cJSON *root, oai_request *r, oai_error *e) {
    int rc = get_bool(root, "stream", &r->stream, e);
    if (rc) return rc;
    const cJSON *so = member(root, "stream_options");
    if (!so) return 0;
    if (!cJSON_IsObject(so)) return bad_type(e, "stream_options", "an object", so);
    if (!r->stream)
        return oai_fail(e, 400, BAD, "invalid_value", "stream_options",
                        "The 'stream_options' parameter is only allowed when 'stream' is enabled.");
    const cJSON *iu = member(so, "include_usage");
    if (iu && !cJSON_IsBool(iu))
        return bad_type(e, "stream_options.include_usage", "a boolean", iu);
    r->include_usage = cJSON_IsTrue(iu);
    return 0;
}

/* Features a client may ask for that penny does not have. */
static int refuse_unsupported(const cJSON *root, oai_error *e) {
    static const char *keys[] = {"logprobs", "top_logprobs", "tools",   "functions", "logit_bias",
                                 "echo",     "suffix",       "best_of", "audio",     "prediction"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        const cJSON *v = member(root, keys[i]);
        if (!v || cJSON_IsFalse(v)) continue;
        if (!strcmp(keys[i], "best_of") && is_integer(v) && v->valuedouble == 1) continue;
        if ((cJSON_IsArray(v) || cJSON_IsObject(v)) && !v->child) continue;
        if (!strcmp(keys[i], "logprobs") && is_integer(v) && v->valuedouble == 0) continue;
        return oai_fail(e, 400, BAD, "unsupported_parameter", keys[i],
                        "Unsupported parameter: '%s' is not supported by penny.", keys[i]);
    }
    const cJSON *rf = member(root, "response_format"), *t = NULL;
    if (rf && (t = cJSON_GetObjectItemCaseSensitive(rf, "type")) && cJSON_IsString(t) &&
        strcmp(t->valuestring, "text"))
        return oai_fail(e, 400, BAD, "unsupported_parameter", "response_format",
                        "Unsupported value: 'response_format' type '%.40s' is not supported.",
                        t->valuestring);
    return 0;
}

/* ---- the request ---- */

static int parse_model(const cJSON *root, oai_request *r, oai_error *e) {
    const cJSON *m = member(root, "model");
    if (!m) return 0;
    if (!cJSON_IsString(m)) return bad_type(e, "model", "a string", m);
    return (r->model = dup_str(m->valuestring)) ? 0 : oom(e);
}

static int parse_root(const cJSON *root, oai_request *r, oai_error *e) {
    int rc;
    if ((rc = parse_model(root, r, e)) || (rc = refuse_unsupported(root, e))) return rc;
    if ((rc = r->kind == OAI_CHAT ? parse_messages(root, r, e) : parse_prompt(root, r, e)))
        return rc;
    if ((rc = get_num(root, "temperature", 0, 2, &r->temperature, e)) ||
        (rc = get_num(root, "top_p", 0, 1, &r->top_p, e)) ||
        (rc = get_num(root, "presence_penalty", -2, 2, &r->presence_penalty, e)) ||
        (rc = get_num(root, "frequency_penalty", -2, 2, &r->frequency_penalty, e)))
        return rc;
    if ((rc = parse_limits(root, r, e)) || (rc = parse_stop(root, r, e)) ||
        (rc = get_bool(root, "ignore_eos", &r->ignore_eos, e)))
        return rc;
    return parse_stream(root, r, e);
}

int oai_parse(oai_kind kind, const char *body, size_t len, oai_request *r, oai_error *e) {
    memset(r, 0, sizeof *r);
    r->kind = kind;
    r->temperature = 1.0f; /* OpenAI's defaults */
    r->top_p = 1.0f;
    r->max_tokens = -1;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(body, len, &end, false);
    if (!root) {
        size_t at = end && end >= body ? (size_t)(end - body) : 0;
        return oai_fail(e, 400, BAD, "invalid_json", NULL,
                        "We could not parse the JSON body of your request: syntax error near byte "
                        "%zu. (The body must be a JSON object.)",
                        at);
    }
    int rc = 0;
    while (end && (size_t)(end - body) < len && strchr(" \t\r\n", *end)) end++;
    if (end && (size_t)(end - body) < len)
        rc = oai_fail(e, 400, BAD, "invalid_json", NULL,
                      "We could not parse the JSON body of your request: unexpected data at byte "
                      "%zu after the JSON value.",
                      (size_t)(end - body));
    else if (!cJSON_IsObject(root))
        rc = oai_fail(e, 400, BAD, "invalid_json", NULL,
                      "The request body must be a JSON object, not %s.", json_type_name(root));
    else
        rc = parse_root(root, r, e);
    cJSON_Delete(root);
    return rc;
}

void oai_request_free(oai_request *r) {
    free(r->model);
    for (int i = 0; i < r->n_msgs; i++) free((char *)r->msgs[i].content);
    free(r->msgs);
    free(r->prompt);
    free(r->prompt_ids);
    for (int i = 0; i < r->n_stop; i++) free(r->stop[i]);
    memset(r, 0, sizeof *r);
}

/* ---- responses ---- */

static bool emit(cJSON *obj, const char *prefix, const char *suffix, sbuf *out) {
    char *s = obj ? cJSON_PrintUnformatted(obj) : NULL;
    bool ok = s && sbuf_addz(out, prefix) && sbuf_addz(out, s) && sbuf_addz(out, suffix);
    free(s);
    cJSON_Delete(obj);
    return ok;
}

bool oai_error_json(const oai_error *e, sbuf *out) {
    cJSON *root = cJSON_CreateObject(), *err = cJSON_AddObjectToObject(root, "error");
    if (!err) {
        cJSON_Delete(root);
        return false;
    }
    cJSON_AddStringToObject(err, "message", e->message);
    cJSON_AddStringToObject(err, "type", e->type ? e->type : BAD);
    if (e->param[0])
        cJSON_AddStringToObject(err, "param", e->param);
    else
        cJSON_AddNullToObject(err, "param");
    if (e->code)
        cJSON_AddStringToObject(err, "code", e->code);
    else
        cJSON_AddNullToObject(err, "code");
    return emit(root, "", "", out);
}

static cJSON *usage_json(const oai_reply *r) {
    cJSON *u = cJSON_CreateObject();
    cJSON_AddNumberToObject(u, "prompt_tokens", r->prompt_tokens);
    cJSON_AddNumberToObject(u, "completion_tokens", r->completion_tokens);
    cJSON_AddNumberToObject(u, "total_tokens", r->prompt_tokens + r->completion_tokens);
    cJSON *d = cJSON_AddObjectToObject(u, "prompt_tokens_details");
    cJSON_AddNumberToObject(d, "cached_tokens", r->cached_tokens);
    return u;
}

/* id, object, created, model: the head every response and chunk starts with. */
static cJSON *head(const oai_reply *r, bool chunk) {
    static const char *objects[2][2] = {{"chat.completion", "chat.completion.chunk"},
                                        {"text_completion", "text_completion"}};
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", r->id);
    cJSON_AddStringToObject(o, "object", objects[r->kind == OAI_COMPLETION][chunk]);
    cJSON_AddNumberToObject(o, "created", (double)r->created);
    cJSON_AddStringToObject(o, "model", r->model);
    cJSON_AddStringToObject(o, "system_fingerprint", "penny");
    return o;
}

static void add_finish(cJSON *choice, const char *finish) {
    cJSON_AddNullToObject(choice, "logprobs");
    if (finish)
        cJSON_AddStringToObject(choice, "finish_reason", finish);
    else
        cJSON_AddNullToObject(choice, "finish_reason");
}

bool oai_response_json(const oai_reply *r, const char *text, sbuf *out) {
    cJSON *o = head(r, false);
    cJSON *choice = cJSON_CreateObject();
    cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "choices"), choice);
    cJSON_AddNumberToObject(choice, "index", 0);
    if (r->kind == OAI_CHAT) {
        cJSON *msg = cJSON_AddObjectToObject(choice, "message");
        cJSON_AddStringToObject(msg, "role", "assistant");
        cJSON_AddStringToObject(msg, "content", text);
        cJSON_AddNullToObject(msg, "refusal");
    } else {
        cJSON_AddStringToObject(choice, "text", text);
    }
    add_finish(choice, r->finish);
    cJSON_AddItemToObject(o, "usage", usage_json(r));
    return emit(o, "", "", out);
}

bool oai_chunk_sse(const oai_reply *r, bool role, const char *text, bool usage_field, sbuf *out) {
    cJSON *o = head(r, true);
    cJSON *choice = cJSON_CreateObject();
    cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "choices"), choice);
    cJSON_AddNumberToObject(choice, "index", 0);
    if (r->kind == OAI_CHAT) {
        cJSON *delta = cJSON_AddObjectToObject(choice, "delta");
        if (role) cJSON_AddStringToObject(delta, "role", "assistant");
        if (role || text) cJSON_AddStringToObject(delta, "content", text ? text : "");
    } else {
        cJSON_AddStringToObject(choice, "text", text ? text : "");
    }
    add_finish(choice, r->finish);
    if (usage_field) cJSON_AddNullToObject(o, "usage");
    return emit(o, "data: ", "\n\n", out);
}

bool oai_usage_sse(const oai_reply *r, sbuf *out) {
    cJSON *o = head(r, true);
    cJSON_AddArrayToObject(o, "choices");
    cJSON_AddItemToObject(o, "usage", usage_json(r));
    return emit(o, "data: ", "\n\n", out);
}
