/*
 * perplexity.c - `penny perplexity`: how well a model predicts a text, to
 * measure what quantization costs. The definition is llama-perplexity's, so
 * the numbers compare directly:
 *   - the whole file is tokenized once (BOS first when the model adds one);
 *   - the tokens are cut into n_chunk = n_tokens / n_ctx chunks of n_ctx
 *     (the remainder is dropped), and each chunk is evaluated from an empty
 *     cache with its first token replaced by BOS;
 *   - only the second half of each chunk is scored (positions n_ctx/2 ..
 *     n_ctx-2 predict the next token), so every scored token has at least
 *     n_ctx/2 tokens of context;
 *   - PPL = exp(mean NLL); its error is PPL x the standard error of the mean
 *     NLL, sqrt((mean(NLL^2) - mean(NLL)^2) / (count - 1)).
 * Log-softmax is computed in double. Running values go to stdout as
 * "[chunk]ppl," like llama-perplexity, then "Final estimate: PPL = ... +/- ...".
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

typedef struct ppl_opts {
    const char *model, *file;
    int n_ctx, n_batch, n_threads, n_chunks;
    penny_kv_type kv_type;
} ppl_opts;

typedef struct ppl_sum {
    double nll, nll2;
    long count;
} ppl_sum;

static int ppl_usage(void) {
    printf("usage: penny perplexity -m FILE -f TEXT [--ctx 512] [-b N] [-t N] [--chunks N]\n"
           "  -c, --ctx N     tokens per chunk (default 512); the text needs 2 x N tokens\n"
           "  -b, --batch N   tokens per forward pass (default: N of --ctx)\n"
           "  --chunks N      score at most N chunks\n"
           "  --kv-type T     KV cache type: f16 (default), f32, q8_0\n");
    return 0;
}

static int parse_ppl(int argc, char **argv, ppl_opts *o) {
    static const struct option opts[] = {
        {"model", 1, 0, 'm'}, {"file", 1, 0, 'f'},    {"ctx", 1, 0, 'c'},
        {"batch", 1, 0, 'b'}, {"threads", 1, 0, 't'}, {"chunks", 1, 0, 256},
        {"help", 0, 0, 'h'},  {"kv-type", 1, 0, 257}, {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "m:f:c:b:t:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': o->model = optarg; break;
        case 'f': o->file = optarg; break;
        case 'c': o->n_ctx = cli_int("--ctx", optarg); break;
        case 'b': o->n_batch = cli_int("-b", optarg); break;
        case 't': o->n_threads = cli_int("-t", optarg); break;
        case 256: o->n_chunks = cli_int("--chunks", optarg); break;
        case 257: o->kv_type = cli_kv_type(optarg); break;
        case 'h': exit(ppl_usage());
        default: return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "penny perplexity: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (!o->model || !o->file || o->n_ctx < 4 || o->n_batch < 0 || o->n_threads < 0) {
        fprintf(stderr, "penny perplexity: need -m FILE -f TEXT and --ctx >= 4 "
                        "(see penny perplexity --help)\n");
        return 2;
    }
    return 0;
}

/* Reads a whole file into a NUL-terminated buffer; NULL on failure. */
static char *read_text(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n - 1, f);
        if (n < cap - 1) break;
        char *p = realloc(buf, cap *= 2);
        if (!p) free(buf);
        buf = p;
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf || bad) {
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

/* Tokenizes the whole text, retrying with the size the tokenizer asks for. */
static penny_token *tokenize_all(const penny_model *m, const char *text, size_t len, int *n,
                                 penny_error *err) {
    int cap = len + 16 < (1u << 30) ? (int)len + 16 : 1 << 30;
    for (int attempt = 0; attempt < 2; attempt++) {
        penny_token *t = malloc(sizeof *t * (size_t)cap);
        if (!t) break;
        penny_status rc =
            penny_tokenize(m, text, len, penny_model_add_bos(m), false, t, cap, n, err);
        if (rc == PENNY_OK) return t;
        free(t);
        if (rc != PENNY_ERR_RANGE) return NULL;
        cap = *n;
    }
    snprintf(err->message, sizeof err->message, "out of memory for the tokens of the text");
    return NULL;
}

/* -log softmax(logits)[target], in double. */
static double token_nll(const float *logits, int n_vocab, penny_token target) {
    double mx = logits[0];
    for (int i = 1; i < n_vocab; i++)
        if (logits[i] > mx) mx = logits[i];
    double sum = 0;
    for (int i = 0; i < n_vocab; i++) sum += exp((double)logits[i] - mx);
    return log(sum) - ((double)logits[target] - mx);
}

/* Evaluates chunk (n_ctx tokens, first replaced by BOS when the model adds
 * one) from an empty cache and adds the NLL of its second half to s. */
static int score_chunk(const penny_model *m, penny_context *c, penny_token *chunk, int n_ctx,
                       ppl_sum *s, penny_error *err) {
    penny_token saved = chunk[0];
    if (penny_model_add_bos(m) && penny_model_bos(m) >= 0) chunk[0] = penny_model_bos(m);
    penny_context_truncate(c, 0);
    penny_status rc = penny_eval(c, chunk, n_ctx, true, err);
    chunk[0] = saved;
    if (rc) return 1;
    int n_vocab = penny_model_n_vocab(m);
    for (int i = n_ctx / 2; i < n_ctx - 1; i++) {
        double nll = token_nll(penny_logits_ith(c, i), n_vocab, chunk[i + 1]);
        s->nll += nll;
        s->nll2 += nll * nll;
        s->count++;
    }
    return 0;
}

static void print_final(const ppl_sum *s) {
    double mean = s->nll / s->count, var = s->nll2 / s->count - mean * mean;
    double ppl = exp(mean);
    if (var > 0 && s->count > 1)
        printf("Final estimate: PPL = %.4f +/- %.5f\n", ppl, sqrt(var / (s->count - 1)) * ppl);
    else
        printf("Final estimate: PPL = %.4f (no error estimate: the NLL does not vary)\n", ppl);
}

static int run_ppl(const ppl_opts *o, penny_model *m, penny_token *toks, int n_tok) {
    if (n_tok < 2 * o->n_ctx) {
        fprintf(stderr, "penny perplexity: %s has %d tokens; a context of %d needs at least %d\n",
                o->file, n_tok, o->n_ctx, 2 * o->n_ctx);
        return 1;
    }
    int n_chunk = n_tok / o->n_ctx;
    if (o->n_chunks > 0 && o->n_chunks < n_chunk) n_chunk = o->n_chunks;
    penny_error err = {0};
    penny_context *c = NULL;
    penny_context_params cp = penny_context_default_params();
    cp.n_ctx = o->n_ctx;
    cp.n_batch = o->n_batch ? o->n_batch : o->n_ctx;
    cp.kv_type = o->kv_type;
    if (penny_context_new(m, &cp, &c, &err)) return cli_fail(o->model, &err);
    fprintf(stderr, "perplexity: %d tokens, %d chunks of %d, batch %d\n", n_tok, n_chunk, o->n_ctx,
            cp.n_batch);
    ppl_sum s = {0};
    double t0 = cli_now();
    for (int k = 0; k < n_chunk; k++) {
        if (score_chunk(m, c, toks + (size_t)k * o->n_ctx, o->n_ctx, &s, &err)) {
            penny_context_free(c);
            return cli_fail("evaluate", &err);
        }
        if (k == 0) fprintf(stderr, "perplexity: %.2f seconds per chunk\n", cli_now() - t0);
        printf("[%d]%.4f,", k + 1, exp(s.nll / s.count));
        fflush(stdout);
    }
    printf("\n");
    print_final(&s);
    penny_context_free(c);
    return 0;
}

int cmd_perplexity(int argc, char **argv) {
    ppl_opts o = {.n_ctx = 512};
    int rc = parse_ppl(argc, argv, &o);
    if (rc) return rc;
    size_t len = 0;
    char *text = read_text(o.file, &len);
    if (!text) {
        fprintf(stderr, "penny perplexity: cannot read %s\n", o.file);
        return 1;
    }
    penny_error err = {0};
    penny_model *m = NULL;
    penny_token *toks = NULL;
    penny_model_params mp = penny_model_default_params();
    mp.n_threads = o.n_threads;
    int n_tok = 0;
    rc = 1;
    if (penny_model_load(o.model, &mp, &m, &err)) {
        rc = cli_fail(o.model, &err);
        goto done;
    }
    if (!(toks = tokenize_all(m, text, len, &n_tok, &err))) {
        rc = cli_fail(o.file, &err);
        goto done;
    }
    rc = run_ppl(&o, m, toks, n_tok);
done:
    free(toks);
    penny_model_free(m);
    free(text);
    return rc;
}
