/*
 * run.c - `penny run`: load a model, evaluate the prompt in batches, then
 * sample and stream tokens until the budget, an end token or a full context.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

typedef struct run_opts {
    const char *model, *prompt;
    int n_predict, n_threads, verbose, echo, special;
    penny_context_params cp;
    penny_sampler_params sp;
    int seed_given;
} run_opts;

enum { O_TEMP = 256, O_TOPK, O_TOPP, O_MINP, O_RPEN, O_PPEN, O_FPEN, O_RLAST, O_SEED, O_ECHO,
       O_SPECIAL, O_KV };

static int parse_run(int argc, char **argv, run_opts *o) {
    static const struct option opts[] = {
        {"model", 1, 0, 'm'},      {"prompt", 1, 0, 'p'},     {"n-predict", 1, 0, 'n'},
        {"threads", 1, 0, 't'},    {"ctx", 1, 0, 'c'},        {"batch", 1, 0, 'b'},
        {"temp", 1, 0, O_TEMP},    {"top-k", 1, 0, O_TOPK},   {"top-p", 1, 0, O_TOPP},
        {"min-p", 1, 0, O_MINP},   {"repeat-penalty", 1, 0, O_RPEN},
        {"presence-penalty", 1, 0, O_PPEN}, {"frequency-penalty", 1, 0, O_FPEN},
        {"repeat-last-n", 1, 0, O_RLAST},   {"seed", 1, 0, O_SEED},
        {"echo", 0, 0, O_ECHO},    {"special", 0, 0, O_SPECIAL}, {"verbose", 0, 0, 'v'},
        {"kv-type", 1, 0, O_KV},
        {"help", 0, 0, 'h'},       {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "m:p:n:t:c:b:vh", opts, NULL)) != -1) {
        switch (c) {
        case 'm': o->model = optarg; break;
        case 'p': o->prompt = optarg; break;
        case 'n': o->n_predict = cli_int("-n", optarg); break;
        case 't': o->n_threads = cli_int("-t", optarg); break;
        case 'c': o->cp.n_ctx = cli_int("-c", optarg); break;
        case 'b': o->cp.n_batch = cli_int("-b", optarg); break;
        case O_TEMP: o->sp.temperature = (float)cli_num("--temp", optarg); break;
        case O_TOPK: o->sp.top_k = cli_int("--top-k", optarg); break;
        case O_TOPP: o->sp.top_p = (float)cli_num("--top-p", optarg); break;
        case O_MINP: o->sp.min_p = (float)cli_num("--min-p", optarg); break;
        case O_RPEN: o->sp.repeat_penalty = (float)cli_num("--repeat-penalty", optarg); break;
        case O_PPEN: o->sp.presence_penalty = (float)cli_num("--presence-penalty", optarg); break;
        case O_FPEN: o->sp.frequency_penalty = (float)cli_num("--frequency-penalty", optarg); break;
        case O_RLAST: o->sp.penalty_last_n = cli_int("--repeat-last-n", optarg); break;
        case O_SEED:
            o->sp.seed = (uint64_t)cli_num("--seed", optarg);
            o->seed_given = 1;
            break;
        case O_ECHO: o->echo = 1; break;
        case O_SPECIAL: o->special = 1; break;
        case O_KV: o->cp.kv_type = cli_kv_type(optarg); break;
        case 'v': o->verbose = 1; break;
        case 'h': printf("usage: penny run -m FILE -p TEXT [options] (see penny --help)\n"); exit(0);
        default: return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "penny run: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (!o->model || !o->prompt) {
        fprintf(stderr, "penny run: -m FILE and -p TEXT are required (see penny --help)\n");
        return 2;
    }
    return 0;
}

static uint64_t random_seed(void) {
    uint64_t s = 0;
    FILE *f = fopen("/dev/urandom", "rb");
    if (!f || fread(&s, sizeof s, 1, f) != 1) s = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    if (f) fclose(f);
    return s;
}

/* Streams generated tokens; returns how many were produced or -1 on error. */
static int generate(const penny_model *m, penny_context *ctx, penny_sampler *smp, penny_detok *dt,
                    int n_predict, penny_error *err) {
    int n = 0;
    while (n_predict < 0 || n < n_predict) {
        if (penny_context_n_past(ctx) >= penny_context_n_ctx(ctx)) {
            fprintf(stderr, "\npenny: context full (%d tokens), stopping\n", penny_context_n_ctx(ctx));
            break;
        }
        penny_token t = penny_sampler_sample(smp, penny_logits(ctx));
        penny_sampler_accept(smp, t);
        n++;
        if (penny_token_is_eog(m, t)) break;
        fputs(penny_detok_push(dt, t), stdout);
        fflush(stdout);
        if ((n_predict < 0 || n < n_predict) && penny_eval(ctx, &t, 1, false, err)) return -1;
    }
    fputs(penny_detok_flush(dt), stdout);
    fflush(stdout);
    return n;
}

static int run_with(const run_opts *o, penny_model *m) {
    penny_error err = {0};
    penny_context *ctx = NULL;
    penny_sampler *smp = NULL;
    penny_detok *dt = NULL;
    penny_token *toks = NULL;
    int rc = 1;
    size_t len = strlen(o->prompt);
    int cap = (int)(len + 8), n_tok = 0;
    if (!(toks = malloc(sizeof *toks * (size_t)cap))) goto done;
    if (penny_tokenize(m, o->prompt, len, penny_model_add_bos(m), o->special, toks, cap, &n_tok,
                       &err)) {
        rc = cli_fail("tokenize", &err);
        goto done;
    }
    penny_sampler_params sp = o->sp;
    if (penny_context_new(m, &o->cp, &ctx, &err)) {
        rc = cli_fail(o->model, &err);
        goto done;
    }
    if (sp.penalty_last_n < 0) sp.penalty_last_n = penny_context_n_ctx(ctx); /* -1: whole context */
    if (penny_sampler_new(&sp, penny_model_n_vocab(m), &smp, &err) || penny_detok_new(m, &dt, &err)) {
        rc = cli_fail(o->model, &err);
        goto done;
    }
    if (n_tok == 0) {
        fprintf(stderr, "penny run: the prompt is empty and the model adds no BOS token\n");
        goto done;
    }
    if (o->echo) {
        fputs(o->prompt, stdout);
        fflush(stdout);
    }
    for (int i = 0; i < n_tok; i++) penny_sampler_accept(smp, toks[i]);
    double t0 = cli_now();
    if (penny_eval(ctx, toks, n_tok, false, &err)) {
        rc = cli_fail("prompt", &err);
        goto done;
    }
    double t1 = cli_now();
    int n_gen = generate(m, ctx, smp, dt, o->n_predict, &err);
    double t2 = cli_now();
    if (n_gen < 0) {
        rc = cli_fail("generate", &err);
        goto done;
    }
    if (o->verbose)
        fprintf(stderr, "\npenny: prompt %d tokens in %.3f s (%.1f t/s), generated %d in %.3f s (%.1f t/s)\n",
                n_tok, t1 - t0, n_tok / (t1 - t0), n_gen, t2 - t1, n_gen > 0 ? n_gen / (t2 - t1) : 0.0);
    rc = 0;
done:
    penny_detok_free(dt);
    penny_sampler_free(smp);
    penny_context_free(ctx);
    free(toks);
    return rc;
}

int cmd_run(int argc, char **argv) {
    run_opts o = {0};
    o.n_predict = 128;
    o.cp = penny_context_default_params();
    o.sp = penny_sampler_default_params();
    int prc = parse_run(argc, argv, &o);
    if (prc) return prc;
    if (!o.seed_given) o.sp.seed = random_seed();
    penny_model_params mp = penny_model_default_params();
    mp.n_threads = o.n_threads;
    penny_error err = {0};
    penny_model *m = NULL;
    double t0 = cli_now();
    char path[4096];
    if (penny_resolve_model(o.model, path, sizeof path, &err)) return cli_fail("load", &err);
    if (penny_model_load(path, &mp, &m, &err)) return cli_fail("load", &err);
    if (o.verbose)
        fprintf(stderr, "penny: loaded %s (%s) in %.3f s, seed %" PRIu64 "\n", o.model,
                penny_model_desc(m), cli_now() - t0, o.sp.seed);
    int rc = run_with(&o, m);
    penny_model_free(m);
    return rc;
}
