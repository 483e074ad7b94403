/*
 * serve.c - `penny serve`: load a model and answer OpenAI-style HTTP
 * requests until SIGINT or SIGTERM. The server itself is libpenny's
 * (penny_server_start); this file parses options, prints where it listens,
 * and waits for the signal with every thread's signals blocked, so that no
 * server thread is interrupted in a system call.
 */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* penny's own small assistant (docs/model-card.md), relative to the
 * repository root where `make run` and the README start penny. */
#define SERVE_BUILTIN_MODEL "models/penny-assistant.gguf"

static const char *SERVE_USAGE =
    "usage: penny serve [-m FILE] [options]\n"
    "  -m, --model FILE   model to serve (default: " SERVE_BUILTIN_MODEL ")\n"
    "  --host ADDR        address to listen on (default 127.0.0.1)\n"
    "  --port N           port (default 8080; 0: any free port)\n"
    "  --api-key KEY      require 'Authorization: Bearer KEY' (default: $PENNY_API_KEY)\n"
    "  --parallel N       requests generated at once (default 4)\n"
    "  -c, --ctx N        context tokens per request slot (default: model's, at most 4096)\n"
    "  --kv-type T        KV cache type of each slot: f16 (default), f32, q8_0\n"
    "  --chunk N          prompt tokens evaluated per step beside running streams (default 64)\n"
    "  --queue N          requests waiting for a slot before 503 (default 64)\n"
    "  --max-body BYTES   largest request body (default 4194304)\n"
    "  --alias NAME       model name clients use (default: file name without .gguf)\n"
    "  -t, --threads N    threads (default: all cores)\n"
    "  -v, --verbose      log requests and server events to stderr\n";

enum { O_HOST = 256, O_PORT, O_KEY, O_PAR, O_CHUNK, O_QUEUE, O_BODY, O_ALIAS, O_KV };

static int parse_serve(int argc, char **argv, penny_server_params *o, const char **model,
                       int *threads, int *verbose) {
    static const struct option opts[] = {
        {"model", 1, 0, 'm'},     {"host", 1, 0, O_HOST},    {"port", 1, 0, O_PORT},
        {"api-key", 1, 0, O_KEY}, {"parallel", 1, 0, O_PAR}, {"ctx", 1, 0, 'c'},
        {"chunk", 1, 0, O_CHUNK}, {"queue", 1, 0, O_QUEUE},  {"max-body", 1, 0, O_BODY},
        {"alias", 1, 0, O_ALIAS}, {"threads", 1, 0, 't'},    {"verbose", 0, 0, 'v'},
        {"help", 0, 0, 'h'},      {"kv-type", 1, 0, O_KV},   {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "m:c:t:vh", opts, NULL)) != -1) {
        switch (c) {
        case 'm': *model = optarg; break;
        case O_HOST: o->host = optarg; break;
        case O_PORT: o->port = cli_int("--port", optarg); break;
        case O_KEY: o->api_key = optarg; break;
        case O_PAR: o->n_parallel = cli_int("--parallel", optarg); break;
        case 'c': o->n_ctx = cli_int("--ctx", optarg); break;
        case O_CHUNK: o->chunk = cli_int("--chunk", optarg); break;
        case O_QUEUE: o->max_queue = cli_int("--queue", optarg); break;
        case O_BODY: o->max_body = (size_t)cli_int("--max-body", optarg); break;
        case O_ALIAS: o->model_id = optarg; break;
        case O_KV: o->kv_type = cli_kv_type(optarg); break;
        case 't': *threads = cli_int("--threads", optarg); break;
        case 'v': *verbose = 1; break;
        case 'h': fputs(SERVE_USAGE, stdout); exit(0);
        default: return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "penny serve: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (!*model) *model = SERVE_BUILTIN_MODEL;
    return 0;
}

int cmd_serve(int argc, char **argv) {
    penny_server_params o = penny_server_default_params();
    o.api_key = getenv("PENNY_API_KEY");
    const char *model = NULL;
    int threads = 0, verbose = 0;
    int rc = parse_serve(argc, argv, &o, &model, &threads, &verbose);
    if (rc) return rc;
    if (verbose) penny_log_set_level(PENNY_LOG_INFO);
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL); /* inherited by every server thread */
    signal(SIGPIPE, SIG_IGN);
    penny_model_params mp = penny_model_default_params();
    mp.n_threads = threads;
    penny_error err = {0};
    penny_model *m = NULL;
    penny_server *s = NULL;
    if (penny_model_load(model, &mp, &m, &err)) return cli_fail("load", &err);
    if (penny_server_start(m, model, &o, &s, &err)) {
        penny_model_free(m);
        return cli_fail("serve", &err);
    }
    bool v6 = strchr(o.host, ':') != NULL; /* an IPv6 address goes in brackets */
    int n_ctx = o.n_ctx > 0 ? o.n_ctx : penny_model_n_ctx_train(m);
    if (o.n_ctx <= 0 && n_ctx > 4096) n_ctx = 4096;
    double kv_mib =
        (double)penny_model_kv_bytes_per_token(m, o.kv_type) * n_ctx * o.n_parallel / 1048576.0;
    fprintf(stderr,
            "penny: serving %s (%s) on http://%s%s%s:%d/ with %d slots (KV cache %s, %.1f MiB)%s\n",
            model, penny_model_desc(m), v6 ? "[" : "", o.host, v6 ? "]" : "", penny_server_port(s),
            o.n_parallel, penny_kv_type_name(o.kv_type), kv_mib,
            o.api_key && o.api_key[0] ? ", API key required" : "");
    int sig = 0;
    sigwait(&sigs, &sig);
    fprintf(stderr, "penny: stopping (%s)\n", sig == SIGINT ? "interrupt" : "terminate");
    penny_server_free(s);
    penny_model_free(m);
    return 0;
}
