/*
 * openai.h - the OpenAI API's JSON: parsing and validating requests to
 * /v1/chat/completions and /v1/completions, and writing responses, stream
 * chunks and error objects in the shapes OpenAI's own clients expect.
 *
 * Nothing here touches the model, so the parser can be fuzzed alone: a
 * request becomes an oai_request (messages or prompt plus sampling
 * settings), and the HTTP layer renders and tokenizes it afterwards.
 * Every rejection carries the HTTP status and the offending parameter, as
 * OpenAI's error objects do.
 */
#ifndef PENNY_SERVE_OPENAI_H
#define PENNY_SERVE_OPENAI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "penny.h"
#include "serve/sbuf.h"
#include "serve/stopstr.h"

typedef enum oai_kind { OAI_CHAT, OAI_COMPLETION } oai_kind;

/* An error response: {"error":{"message","type","param","code"}}. */
typedef struct oai_error {
    int status;       /* HTTP status */
    const char *type; /* "invalid_request_error", "server_error", ... */
    const char *code; /* NULL: JSON null */
    char param[64];   /* "": JSON null */
    char message[512];
} oai_error;

/* Fills e and returns status. */
int oai_fail(oai_error *e, int status, const char *type, const char *code, const char *param,
             const char *fmt, ...) __attribute__((format(printf, 6, 7)));

typedef struct oai_request {
    oai_kind kind;
    char *model;              /* NULL when absent */
    penny_chat_message *msgs; /* chat: n_msgs, strings owned by the request */
    int n_msgs;
    char *prompt;            /* completion text, or NULL when given as token ids */
    penny_token *prompt_ids; /* completion prompt as token ids */
    int n_prompt_ids;
    float temperature, top_p, presence_penalty, frequency_penalty;
    int max_tokens; /* -1: until the end or the context is full */
    char *stop[STOP_MAX];
    int n_stop;
    bool has_seed;
    uint64_t seed;
    bool stream, include_usage;
    bool ignore_eos; /* penny's extension: generate past end tokens (benchmarks) */
} oai_request;

/* Parses a request body (len bytes, need not be NUL-terminated). Returns 0,
 * or the HTTP status of the rejection with e filled. r is always safe to
 * pass to oai_request_free afterwards. */
int oai_parse(oai_kind kind, const char *body, size_t len, oai_request *r, oai_error *e);
void oai_request_free(oai_request *r);

/* Appends the error object's JSON to out. */
bool oai_error_json(const oai_error *e, sbuf *out);

/* What a finished or streaming completion reports. */
typedef struct oai_reply {
    oai_kind kind;
    const char *id, *model;
    int64_t created;
    const char *finish; /* "stop", "length" or NULL while streaming */
    int prompt_tokens, completion_tokens, cached_tokens;
} oai_reply;

/* The whole (non-streaming) response object. */
bool oai_response_json(const oai_reply *r, const char *text, sbuf *out);
/* One SSE event "data: {...}\n\n". role: the chat's first chunk (the
 * assistant role, empty content). text may be NULL (no delta). With
 * usage_field, a "usage": null member is added (stream_options.include_usage
 * asks for it on every chunk but the last). */
bool oai_chunk_sse(const oai_reply *r, bool role, const char *text, bool usage_field, sbuf *out);
/* The final usage chunk: empty choices and the token counts. */
bool oai_usage_sse(const oai_reply *r, sbuf *out);

#endif
