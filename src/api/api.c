/*
 * api.c - the public API of include/penny.h over the internal modules:
 * model loading (GGUF -> tokenizer + bound weights + thread pool), contexts
 * (KV cache and buffers), evaluation in batches, tokenizer pass-throughs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/err.h"
#include "kernels/types.h"
#include "model/context.h"

penny_model_params penny_model_default_params(void) {
    penny_model_params p = {0};
    return p;
}

penny_status penny_model_load(const char *path, const penny_model_params *params,
                              penny_model **out, penny_error *err) {
    *out = NULL;
    if (!path) return err_set(err, PENNY_ERR_ARG, "no model path given");
    penny_model_params p = params ? *params : penny_model_default_params();
    penny_model *m = calloc(1, sizeof *m);
    if (!m) return err_set(err, PENNY_ERR_NOMEM, "out of memory");
    penny_status rc;
    if ((rc = gguf_split_open(path, true, &m->split, err))) goto fail;
    m->gguf = gguf_split_part(m->split, 0);
    if ((rc = model_bind(m, err)) ||
        (rc = tok_new(m->gguf, &m->tok, err)))
        goto fail;
    if (tok_n_vocab(m->tok) > m->hp.n_vocab) {
        rc = err_set(err, PENNY_ERR_FORMAT, "%s: vocabulary has %d tokens but token_embd only %d rows",
                     path, tok_n_vocab(m->tok), m->hp.n_vocab);
        goto fail;
    }
    if ((rc = pool_new(p.n_threads, &m->pool, err))) goto fail;
    *out = m;
    return PENNY_OK;
fail:
    penny_model_free(m);
    return rc;
}

void penny_model_free(penny_model *m) {
    if (!m) return;
    pool_free(m->pool);
    tok_free(m->tok);
    free(m->layers);
    free(m->rope_freqs);
    gguf_split_close(m->split);
    free(m);
}

int penny_model_n_vocab(const penny_model *m) { return m->hp.n_vocab; }
int penny_model_n_ctx_train(const penny_model *m) { return m->hp.n_ctx_train; }
penny_token penny_model_bos(const penny_model *m) { return tok_bos(m->tok); }
penny_token penny_model_eos(const penny_model *m) { return tok_eos(m->tok); }
bool penny_model_add_bos(const penny_model *m) { return tok_add_bos(m->tok); }
bool penny_token_is_eog(const penny_model *m, penny_token t) { return tok_is_eog(m->tok, t); }
const char *penny_model_desc(const penny_model *m) { return m->desc; }

void penny_model_n_params(const penny_model *m, int64_t *total, int64_t *active) {
    if (total) *total = m->n_params;
    if (active) *active = m->n_params_active;
}

static const struct {
    const char *name, *lower;
    uint32_t type;
} k_kv_types[] = {[PENNY_KV_F16] = {"F16", "f16", TYPE_F16},
                  [PENNY_KV_F32] = {"F32", "f32", TYPE_F32},
                  [PENNY_KV_Q8_0] = {"Q8_0", "q8_0", TYPE_Q8_0}};

bool penny_kv_type_parse(const char *name, penny_kv_type *out) {
    for (int t = 0; t < 3 && name; t++)
        if (!strcasecmp(name, k_kv_types[t].lower)) {
            *out = (penny_kv_type)t;
            return true;
        }
    return false;
}

const char *penny_kv_type_name(penny_kv_type t) {
    return (unsigned)t < 3 ? k_kv_types[t].name : "?";
}

size_t penny_model_kv_bytes_per_token(const penny_model *m, penny_kv_type t) {
    kv_layout l;
    ctx_kv_layout(m, m->mla_absorb, (unsigned)t < 3 ? k_kv_types[t].type : TYPE_F16, &l);
    return (l.k_row + l.v_row) * (size_t)m->hp.n_layer;
}

bool penny_model_set_mla_absorb(penny_model *m, bool absorb) {
    if (!m->arch->mla) return false;
    m->mla_absorb = absorb;
    return true;
}

penny_status penny_tokenize(const penny_model *m, const char *text, size_t len, bool add_bos,
                            bool parse_special, penny_token *out, int cap, int *n_out,
                            penny_error *err) {
    return tok_encode(m->tok, text, len, add_bos, parse_special, out, cap, n_out, err);
}

penny_status penny_token_bytes(const penny_model *m, penny_token t, const char **bytes,
                               size_t *len) {
    if (t < 0 || t >= tok_n_vocab(m->tok)) return PENNY_ERR_RANGE;
    tok_piece(m->tok, t, bytes, len);
    return PENNY_OK;
}

/* ---- contexts ---- */

penny_context_params penny_context_default_params(void) {
    penny_context_params p = {0};
    return p;
}

penny_status penny_context_new(penny_model *m, const penny_context_params *params,
                               penny_context **out, penny_error *err) {
    *out = NULL;
    penny_context_params p = params ? *params : penny_context_default_params();
    const model_hparams *hp = &m->hp;
    int n_ctx = p.n_ctx > 0 ? p.n_ctx : (hp->n_ctx_train < 4096 ? hp->n_ctx_train : 4096);
    int n_batch = p.n_batch > 0 ? p.n_batch : 512;
    if (n_ctx <= 0 || n_ctx > (1 << 22) || n_batch > (1 << 16))
        return err_set(err, PENNY_ERR_ARG, "context size %d / batch %d out of range", n_ctx, n_batch);
    if ((unsigned)p.kv_type >= 3)
        return err_set(err, PENNY_ERR_ARG, "KV cache type %d unknown (F16 0, F32 1, Q8_0 2)",
                       (int)p.kv_type);
    if (n_batch > n_ctx) n_batch = n_ctx;
    penny_context *c = calloc(1, sizeof *c);
    if (!c) return err_set(err, PENNY_ERR_NOMEM, "out of memory");
    c->model = m;
    c->n_ctx = n_ctx;
    c->n_batch = n_batch;
    c->mla_absorb = m->mla_absorb;
    c->kv_type = k_kv_types[p.kv_type].type;
    c->invariant = p.batch_invariant;
    penny_status rc = ctx_init(c, err);
    if (rc) {
        free(c);
        return rc;
    }
    *out = c;
    return PENNY_OK;
}

void penny_context_free(penny_context *c) {
    if (!c) return;
    ctx_release(c);
    free(c);
}

int penny_context_n_ctx(const penny_context *c) { return c->n_ctx; }
int penny_context_n_past(const penny_context *c) { return c->n_past; }

void penny_context_truncate(penny_context *c, int n_past) {
    if (n_past >= 0 && n_past < c->n_past) c->n_past = n_past;
}

static penny_status check_eval(penny_context *c, const penny_token *tokens, int n,
                               penny_error *err) {
    if (n <= 0 || !tokens) return err_set(err, PENNY_ERR_ARG, "nothing to evaluate");
    if (n > c->n_ctx - c->n_past)
        return err_set(err, PENNY_ERR_RANGE,
                       "context full: %d tokens cached + %d new exceed the context size %d",
                       c->n_past, n, c->n_ctx);
    int n_vocab = c->model->hp.n_vocab;
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= n_vocab)
            return err_set(err, PENNY_ERR_RANGE, "token %d (at index %d) is outside the vocabulary of %d",
                           tokens[i], i, n_vocab);
    return PENNY_OK;
}

/* Room for n rows of logits (grows only; never in the steady decode loop). */
static penny_status grow_logits(penny_context *c, int n, penny_error *err) {
    if (n <= c->n_logits_cap) return PENNY_OK;
    size_t n_vocab = (size_t)c->model->hp.n_vocab;
    float *p = realloc(c->logits, sizeof(float) * n_vocab * (size_t)n);
    if (!p) return err_set(err, PENNY_ERR_NOMEM, "out of memory for %d x %zu logits", n, n_vocab);
    c->logits = p;
    c->n_logits_cap = n;
    return PENNY_OK;
}

penny_status penny_eval(penny_context *c, const penny_token *tokens, int n, bool all_logits,
                        penny_error *err) {
    penny_status rc = check_eval(c, tokens, n, err);
    if (rc) return rc;
    size_t n_vocab = (size_t)c->model->hp.n_vocab;
    if (all_logits && (rc = grow_logits(c, n, err))) return rc;
    for (int done = 0; done < n;) {
        int T = n - done < c->n_batch ? n - done : c->n_batch;
        bool last = done + T == n;
        if (all_logits)
            model_forward(c, tokens + done, T, true, c->logits + (size_t)done * n_vocab);
        else /* intermediate prompt batches need no logits */
            model_forward(c, tokens + done, T, false, last ? c->logits : NULL);
        done += T;
    }
    c->n_logits = all_logits ? n : 1;
    return PENNY_OK;
}

/* One fused pass needs caches of one shape, distinct contexts, a step that
 * fits the first context's batch buffers, and no naive MLA (which expands
 * one sequence's keys). Otherwise each context runs its own pass. */
static bool can_fuse(penny_context *const *ctxs, const int *n_tokens, int n_seq) {
    if (n_seq == 1) return false;
    const penny_context *h = ctxs[0];
    if (h->model->arch->mla && !h->mla_absorb) return false;
    long total = 0;
    for (int i = 0; i < n_seq; i++) {
        const penny_context *c = ctxs[i];
        if (c->n_ctx != h->n_ctx || c->mla_absorb != h->mla_absorb || c->kv_type != h->kv_type)
            return false;
        for (int j = 0; j < i; j++)
            if (ctxs[j] == c) return false;
        total += n_tokens[i];
    }
    return total <= h->n_batch;
}

penny_status penny_eval_multi(penny_context *const *ctxs, const penny_token *const *tokens,
                              const int *n_tokens, int n_seq, penny_error *err) {
    if (n_seq <= 0) return err_set(err, PENNY_ERR_ARG, "no sequences to evaluate");
    for (int i = 0; i < n_seq; i++) {
        if (ctxs[i]->model != ctxs[0]->model)
            return err_set(err, PENNY_ERR_ARG, "sequence %d belongs to another model", i);
        penny_status rc = check_eval(ctxs[i], tokens[i], n_tokens[i], err);
        if (rc) {
            err_prefix(err, "sequence %d", i);
            return rc;
        }
    }
    if (!can_fuse(ctxs, n_tokens, n_seq)) {
        for (int i = 0; i < n_seq; i++) {
            penny_status rc = penny_eval(ctxs[i], tokens[i], n_tokens[i], false, err);
            if (rc) return rc;
        }
        return PENNY_OK;
    }
    penny_context *host = ctxs[0];
    size_t n_vocab = (size_t)host->model->hp.n_vocab;
    penny_status rc = grow_logits(host, n_seq, err);
    if (rc) return rc;
    model_forward_multi(ctxs, tokens, n_tokens, n_seq, host->multi_tok, host->multi_rows,
                        host->logits);
    for (int s = 0; s < n_seq; s++) {
        if (s > 0) memcpy(ctxs[s]->logits, host->logits + (size_t)s * n_vocab, sizeof(float) * n_vocab);
        ctxs[s]->n_logits = 1;
    }
    return PENNY_OK;
}

const float *penny_logits(const penny_context *c) {
    return c->logits + (size_t)(c->n_logits - 1) * c->model->hp.n_vocab;
}

const float *penny_logits_ith(const penny_context *c, int i) {
    if (i < 0 || i >= c->n_logits) return NULL;
    return c->logits + (size_t)i * c->model->hp.n_vocab;
}
