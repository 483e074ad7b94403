/*
 * serve.h - `penny serve`: an OpenAI-compatible HTTP server over one loaded
 * model (libmicrohttpd, one thread per connection; the scheduler thread of
 * sched.h does all model work).
 *
 * Endpoints: POST /v1/chat/completions and /v1/completions (streaming with
 * server-sent events), GET /v1/models, /health, /metrics (Prometheus text)
 * and the embedded chat page at /. With an API key, every /v1/ endpoint and
 * /metrics require "Authorization: Bearer KEY".
 */
#ifndef PENNY_SERVE_SERVE_H
#define PENNY_SERVE_SERVE_H

#include <stddef.h>

#include "penny.h"

typedef struct serve_opts {
    const char *host;     /* address to listen on (default 127.0.0.1) */
    int port;             /* 0: any free port (serve_port tells which) */
    const char *api_key;  /* NULL: no authentication */
    const char *model_id; /* the name clients use; NULL: file name without .gguf */
    int n_parallel;       /* slots */
    int n_ctx;            /* tokens per slot; 0: the model's, at most 4096 */
    penny_kv_type kv_type; /* KV cache of each slot (0: F16) */
    int chunk;            /* prompt tokens per scheduler step */
    int max_queue;        /* waiting requests before 503 */
    size_t max_body;      /* request body bytes before 413 */
    int max_conn;         /* simultaneous connections */
} serve_opts;

serve_opts serve_default_opts(void);

typedef struct serve serve;

/* Starts listening and serving; returns at once. m must outlive the server. */
penny_status serve_start(penny_model *m, const char *model_path, const serve_opts *o, serve **out,
                         penny_error *err);
int serve_port(const serve *s);
/* Stops accepting, ends running requests and frees everything. */
void serve_free(serve *s);

#endif
