/*
 * serve_int.h - what the server's files share: the server object, response
 * helpers (http.c) and the completion endpoints (complete.c).
 */
#ifndef PENNY_SERVE_SERVE_INT_H
#define PENNY_SERVE_SERVE_INT_H

#include <microhttpd.h>
#include <stdatomic.h>
#include <stdint.h>

#include "serve/metrics.h"
#include "serve/openai.h"
#include "serve/sched.h"
#include "serve/serve.h"

struct serve {
    penny_model *m;
    serve_opts o;
    char model_id[128];
    int64_t created; /* when the model was loaded, for /v1/models */
    sched *sch;
    metrics met;
    struct MHD_Daemon *d;
    int port;
    atomic_bool stopping;
    atomic_uint_least64_t n_ids; /* response ids: salt + counter */
    uint64_t id_salt;
};

/* Queues a response with a copy of body; counts it in the metrics. */
enum MHD_Result http_reply(serve *s, struct MHD_Connection *c, int status, const char *ctype,
                           const char *body, size_t len);
enum MHD_Result http_error(serve *s, struct MHD_Connection *c, const oai_error *e);
/* Adds the CORS headers every response carries. */
void http_add_common_headers(struct MHD_Response *r);
/* True when the client closed its end of the connection. */
bool http_client_gone(struct MHD_Connection *c);
uint64_t serve_random(void);

/* POST /v1/chat/completions and /v1/completions with the whole body. */
enum MHD_Result complete_handle(serve *s, struct MHD_Connection *c, oai_kind kind, const char *body,
                                size_t len);

#endif
