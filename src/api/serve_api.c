/*
 * serve_api.c - penny_server of include/penny.h over src/serve/: the public
 * parameters map one to one onto serve_opts, so programs embedding libpenny
 * start the same server `penny serve` runs.
 */
#include <stdlib.h>

#include "base/err.h"
#include "serve/serve.h"

struct penny_server {
    serve *s;
};

penny_server_params penny_server_default_params(void) {
    serve_opts o = serve_default_opts();
    penny_server_params p = {
        .host = o.host,
        .port = o.port,
        .api_key = o.api_key,
        .model_id = o.model_id,
        .n_parallel = o.n_parallel,
        .n_ctx = o.n_ctx,
        .kv_type = o.kv_type,
        .chunk = o.chunk,
        .max_queue = o.max_queue,
        .max_body = o.max_body,
        .max_conn = o.max_conn,
    };
    return p;
}

static serve_opts to_opts(const penny_server_params *p) {
    serve_opts o = {
        .host = p->host,
        .port = p->port,
        .api_key = p->api_key,
        .model_id = p->model_id,
        .n_parallel = p->n_parallel,
        .n_ctx = p->n_ctx,
        .kv_type = p->kv_type,
        .chunk = p->chunk,
        .max_queue = p->max_queue,
        .max_body = p->max_body,
        .max_conn = p->max_conn,
    };
    return o;
}

penny_status penny_server_start(penny_model *m, const char *model_path,
                                const penny_server_params *p, penny_server **out,
                                penny_error *err) {
    if (!out) return err_set(err, PENNY_ERR_ARG, "serve: no output handle");
    *out = NULL;
    if (!m) return err_set(err, PENNY_ERR_ARG, "serve: no model given");
    penny_server_params def = penny_server_default_params();
    serve_opts o = to_opts(p ? p : &def);
    penny_server *h = calloc(1, sizeof *h);
    if (!h) return err_set(err, PENNY_ERR_NOMEM, "serve: out of memory");
    penny_status rc = serve_start(m, model_path, &o, &h->s, err);
    if (rc) {
        free(h);
        return rc;
    }
    *out = h;
    return PENNY_OK;
}

int penny_server_port(const penny_server *s) { return serve_port(s->s); }

void penny_server_free(penny_server *s) {
    if (!s) return;
    serve_free(s->s);
    free(s);
}
