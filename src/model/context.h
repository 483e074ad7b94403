/*
 * context.h - a running sequence: the KV cache and the activation buffers of
 * one forward pass over up to n_batch tokens. Everything is allocated once in
 * penny_context_new, so evaluation never calls malloc (except to grow the
 * all-logits buffer when a caller asks for every position's logits).
 */
#ifndef PENNY_MODEL_CONTEXT_H
#define PENNY_MODEL_CONTEXT_H

#include "model/model.h"

struct penny_context {
    penny_model *model;
    int n_ctx, n_batch, n_past;
    float *k_cache, *v_cache; /* (n_layer, n_ctx, n_head_kv*head_dim) */
    float *x;                 /* (n_batch, n_embd) residual stream */
    float *xb;                /* (n_batch, max(n_embd, q_dim)) normed input / attention output */
    float *q;                 /* (n_batch, n_head*head_dim) */
    float *k, *v;             /* (n_batch, n_head_kv*head_dim) */
    float *gate, *up;         /* (n_batch, n_ff) */
    float *scores;            /* (n_threads, n_ctx) attention scratch */
    int32_t *pos;             /* (n_batch) */
    float *logits;            /* (n_logits_cap, n_vocab): last eval's logits */
    int n_logits_cap, n_logits;
};

/* Runs n <= n_batch tokens at positions n_past.. and appends them to the
 * cache. Writes logits (n_vocab floats per token) for the last token, or for
 * all n with all_logits, to `logits` (NULL: none). Token ids must be in
 * range. */
void llama_forward(penny_context *c, const int32_t *tokens, int n, bool all_logits, float *logits);

#endif
