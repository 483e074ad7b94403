/*
 * http.c - the HTTP side of `penny serve` on libmicrohttpd: daemon start and
 * stop, routing, API-key checks, request bodies with a size limit, and the
 * small endpoints (/health, /metrics, /v1/models, the chat page).
 *
 * libmicrohttpd runs one thread per connection, so a handler may block
 * while it waits for the scheduler; it never touches the model itself. It
 * calls the access handler first with the headers only, then once per body
 * piece, then once more with no data: the body is gathered in an http_req
 * and the endpoint runs on that last call. A body over the limit is read
 * and dropped, then answered with 413, so the client sees the status
 * instead of a reset connection.
 */
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>

#include "base/err.h"
#include "base/log.h"
#include "serve/serve_int.h"
#include "serve/web.h"

typedef struct http_req {
    sbuf body;
    bool too_big;
} http_req;

serve_opts serve_default_opts(void) {
    serve_opts o = {0};
    o.host = "127.0.0.1";
    o.port = 8080;
    o.n_parallel = 4;
    o.chunk = 64;
    o.max_queue = 64;
    o.max_body = 4u << 20;
    o.max_conn = 256;
    return o;
}

uint64_t serve_random(void) {
    uint64_t v = 0;
    if (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        v = (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ULL ^ (uint64_t)ts.tv_sec;
    }
    return v;
}

/* ---- responses ---- */

void http_add_common_headers(struct MHD_Response *r) {
    MHD_add_response_header(r, "Access-Control-Allow-Origin", "*");
    MHD_add_response_header(r, "Access-Control-Allow-Headers", "Authorization, Content-Type");
    MHD_add_response_header(r, "Access-Control-Allow-Methods", "GET, POST, OPTIONS");
}

enum MHD_Result http_reply(serve *s, struct MHD_Connection *c, int status, const char *ctype,
                           const char *body, size_t len) {
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    if (ctype) MHD_add_response_header(r, "Content-Type", ctype);
    http_add_common_headers(r);
    if (status == 503) MHD_add_response_header(r, "Retry-After", "1");
    if (status == 401) MHD_add_response_header(r, "WWW-Authenticate", "Bearer");
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    metrics_response(&s->met, status);
    return ret;
}

enum MHD_Result http_error(serve *s, struct MHD_Connection *c, const oai_error *e) {
    sbuf b = {0};
    enum MHD_Result ret = oai_error_json(e, &b)
                              ? http_reply(s, c, e->status, "application/json", b.p, b.len)
                              : MHD_NO;
    sbuf_free(&b);
    return ret;
}

static enum MHD_Result reply_json(serve *s, struct MHD_Connection *c, int status,
                                  const char *json) {
    return http_reply(s, c, status, "application/json", json, strlen(json));
}

bool http_client_gone(struct MHD_Connection *c) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci) return true;
    struct pollfd p = {.fd = ci->connect_fd, .events = POLLRDHUP};
    if (poll(&p, 1, 0) <= 0) return false;
    return (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

/* ---- authentication ---- */

/* Compares in time that depends only on the length of the key presented. */
static bool same_secret(const char *given, const char *key) {
    size_t gl = strlen(given), kl = strlen(key);
    unsigned char diff = gl != kl;
    for (size_t i = 0; i < gl; i++) diff |= (unsigned char)given[i] ^ (unsigned char)key[i % kl];
    return diff == 0;
}

static bool authorized(serve *s, struct MHD_Connection *c, oai_error *e) {
    if (!s->o.api_key || !s->o.api_key[0]) return true;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7)) {
        oai_fail(e, 401, "invalid_request_error", "invalid_api_key", NULL,
                 "You didn't provide an API key. Send it as 'Authorization: Bearer KEY'.");
        return false;
    }
    if (!same_secret(h + 7, s->o.api_key)) {
        oai_fail(e, 401, "invalid_request_error", "invalid_api_key", NULL,
                 "Incorrect API key provided.");
        return false;
    }
    return true;
}

/* ---- small endpoints ---- */

static enum MHD_Result get_models(serve *s, struct MHD_Connection *c, const char *one) {
    sbuf b = {0};
    const char *fmt = "{\"id\":\"%s\",\"object\":\"model\",\"created\":%lld,\"owned_by\":\"penny\","
                      "\"meta\":{\"n_ctx\":%d,\"n_parallel\":%d,\"description\":\"%s\"}}";
    const char *desc = penny_model_desc(s->m); /* plain ASCII, no quotes */
    bool ok;
    if (one)
        ok = sbuf_printf(&b, fmt, s->model_id, (long long)s->created, sched_n_ctx(s->sch),
                         s->o.n_parallel, desc);
    else
        ok = sbuf_addz(&b, "{\"object\":\"list\",\"data\":[") &&
             sbuf_printf(&b, fmt, s->model_id, (long long)s->created, sched_n_ctx(s->sch),
                         s->o.n_parallel, desc) &&
             sbuf_addz(&b, "]}");
    enum MHD_Result ret = ok ? reply_json(s, c, 200, b.p) : MHD_NO;
    sbuf_free(&b);
    return ret;
}

static enum MHD_Result get_metrics(serve *s, struct MHD_Connection *c) {
    sched_stats st;
    sched_get_stats(s->sch, &st);
    sbuf b = {0};
    enum MHD_Result ret = metrics_render(&s->met, &st, &b)
                              ? http_reply(s, c, 200, "text/plain; version=0.0.4", b.p, b.len)
                              : MHD_NO;
    sbuf_free(&b);
    return ret;
}

static enum MHD_Result get_health(serve *s, struct MHD_Connection *c) {
    sched_stats st;
    sched_get_stats(s->sch, &st);
    char buf[160];
    snprintf(buf, sizeof buf,
             "{\"status\":\"ok\",\"slots_busy\":%d,\"slots_total\":%d,\"queued\":%d}", st.busy,
             st.n_slots, st.queued);
    return reply_json(s, c, 200, buf);
}

static enum MHD_Result get_asset(serve *s, struct MHD_Connection *c, const web_asset *a) {
    return http_reply(s, c, 200, a->type, (const char *)a->data, a->len);
}

static enum MHD_Result not_found(serve *s, struct MHD_Connection *c, const char *method,
                                 const char *url, bool wrong_method) {
    oai_error e;
    if (wrong_method)
        oai_fail(&e, 405, "invalid_request_error", "method_not_allowed", NULL,
                 "Method %.16s is not allowed on %.100s.", method, url);
    else
        oai_fail(&e, 404, "invalid_request_error", "unknown_url", NULL,
                 "Unknown request URL: %.16s %.100s.", method, url);
    return http_error(s, c, &e);
}

static enum MHD_Result too_large(serve *s, struct MHD_Connection *c) {
    oai_error e;
    oai_fail(&e, 413, "invalid_request_error", "request_too_large", NULL,
             "The request body is larger than the server's limit of %zu bytes.", s->o.max_body);
    return http_error(s, c, &e);
}

/* A declared length far over the limit is refused before it is read (the
 * connection then closes); smaller excesses are read, dropped and answered
 * after, so the client is sure to see the 413. */
static bool huge_body(serve *s, struct MHD_Connection *c) {
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    return cl && strtod(cl, NULL) > 16.0 * (double)s->o.max_body;
}

/* ---- routing ---- */

static enum MHD_Result route(serve *s, struct MHD_Connection *c, const char *method,
                             const char *url, http_req *rq) {
    bool get = !strcmp(method, "GET") || !strcmp(method, "HEAD"), post = !strcmp(method, "POST");
    oai_error e;
    if (!strcmp(method, "OPTIONS")) return http_reply(s, c, 204, NULL, "", 0);
    const web_asset *a = web_find(url);
    if (a) return get ? get_asset(s, c, a) : not_found(s, c, method, url, true);
    if (!strcmp(url, "/health")) return get ? get_health(s, c) : not_found(s, c, method, url, true);
    bool chat = !strcmp(url, "/v1/chat/completions"), comp = !strcmp(url, "/v1/completions");
    bool models = !strcmp(url, "/v1/models"), one = !strncmp(url, "/v1/models/", 11);
    bool known = chat || comp || models || one || !strcmp(url, "/metrics");
    if (!known) return not_found(s, c, method, url, false);
    if (!authorized(s, c, &e)) return http_error(s, c, &e);
    if (chat || comp) {
        if (!post) return not_found(s, c, method, url, true);
        if (rq->too_big) return too_large(s, c);
        return complete_handle(s, c, chat ? OAI_CHAT : OAI_COMPLETION, sbuf_str(&rq->body),
                               rq->body.len);
    }
    if (!get) return not_found(s, c, method, url, true);
    if (models) return get_models(s, c, NULL);
    if (one && strcmp(url + 11, s->model_id)) {
        oai_fail(&e, 404, "invalid_request_error", "model_not_found", "model",
                 "The model '%.100s' does not exist.", url + 11);
        return http_error(s, c, &e);
    }
    return one ? get_models(s, c, url + 11) : get_metrics(s, c);
}

/* Gathers the body piece by piece; answers on the last call. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **con_cls) {
    (void)version;
    serve *s = cls;
    http_req *rq = *con_cls;
    if (!rq) {
        if (!(rq = calloc(1, sizeof *rq))) return MHD_NO;
        *con_cls = rq;
        return huge_body(s, c) ? too_large(s, c) : MHD_YES;
    }
    if (*upload_size) {
        if (!rq->too_big && rq->body.len + *upload_size > s->o.max_body) {
            rq->too_big = true;
            sbuf_free(&rq->body);
        }
        if (!rq->too_big && !sbuf_add(&rq->body, upload_data, *upload_size)) return MHD_NO;
        *upload_size = 0;
        return MHD_YES;
    }
    return route(s, c, method, url, rq);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    (void)cls, (void)c, (void)toe;
    http_req *rq = *con_cls;
    if (!rq) return;
    sbuf_free(&rq->body);
    free(rq);
    *con_cls = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe) {
    (void)c, (void)socket_context;
    serve *s = cls;
    atomic_fetch_add(&s->met.active_connections, toe == MHD_CONNECTION_NOTIFY_STARTED ? 1 : -1);
}

static void mhd_log(void *cls, const char *fmt, va_list ap) {
    (void)cls;
    char buf[512];
    vsnprintf(buf, sizeof buf, fmt, ap);
    size_t n = strlen(buf);
    while (n && buf[n - 1] == '\n') buf[--n] = '\0';
    log_msg(LOG_INFO, "serve: http: %s", buf);
}

/* ---- start and stop ---- */

static void set_model_id(serve *s, const char *path) {
    const char *id = s->o.model_id;
    if (id && id[0]) {
        snprintf(s->model_id, sizeof s->model_id, "%s", id);
        return;
    }
    const char *base = path ? strrchr(path, '/') : NULL;
    base = base ? base + 1 : path ? path : "penny";
    snprintf(s->model_id, sizeof s->model_id, "%s", base);
    size_t n = strlen(s->model_id);
    if (n > 5 && !strcmp(s->model_id + n - 5, ".gguf")) s->model_id[n - 5] = '\0';
}

static penny_status start_daemon(serve *s, penny_error *err) {
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE},
                    *ai = NULL;
    char port[16];
    snprintf(port, sizeof port, "%d", s->o.port);
    int gai = getaddrinfo(s->o.host, port, &hints, &ai);
    if (gai) return err_set(err, PENNY_ERR_ARG, "host '%s': %s", s->o.host, gai_strerror(gai));
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL_INTERNAL_THREAD |
                     MHD_USE_ERROR_LOG | (ai->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    s->d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_NOTIFY_CONNECTION, on_connection,
        s, MHD_OPTION_CONNECTION_LIMIT, (unsigned)s->o.max_conn, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)120, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s, MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!s->d)
        return err_set(err, PENNY_ERR_IO, "cannot listen on %s port %d (in use, or not allowed?)",
                       s->o.host, s->o.port);
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : s->o.port;
    return PENNY_OK;
}

static penny_status check_opts(const serve_opts *o, penny_error *err) {
    if (o->port < 0 || o->port > 65535) return err_set(err, PENNY_ERR_ARG, "port %d", o->port);
    if (o->max_conn < 1 || o->max_body < 64)
        return err_set(err, PENNY_ERR_ARG, "max connections %d / max body %zu", o->max_conn,
                       o->max_body);
    if (!o->host) return err_set(err, PENNY_ERR_ARG, "no host to listen on");
    return PENNY_OK;
}

penny_status serve_start(penny_model *m, const char *model_path, const serve_opts *o, serve **out,
                         penny_error *err) {
    *out = NULL;
    penny_status rc = check_opts(o, err);
    if (rc) return rc;
    serve *s = calloc(1, sizeof *s);
    if (!s) return err_set(err, PENNY_ERR_NOMEM, "out of memory");
    s->m = m;
    s->o = *o;
    s->created = (int64_t)time(NULL);
    s->id_salt = serve_random();
    atomic_init(&s->stopping, false);
    atomic_init(&s->n_ids, 0);
    metrics_init(&s->met);
    set_model_id(s, model_path);
    sched_params sp = {
        .n_slots = o->n_parallel, .n_ctx = o->n_ctx, .chunk = o->chunk, .max_queue = o->max_queue,
        .kv_type = o->kv_type};
    if ((rc = sched_new(m, &sp, &s->sch, err)) || (rc = start_daemon(s, err))) {
        serve_free(s);
        return rc;
    }
    *out = s;
    return PENNY_OK;
}

int serve_port(const serve *s) { return s->port; }

void serve_free(serve *s) {
    if (!s) return;
    atomic_store(&s->stopping, true); /* waiting handlers give up within one poll */
    if (s->d) MHD_stop_daemon(s->d);
    sched_free(s->sch);
    free(s);
}
