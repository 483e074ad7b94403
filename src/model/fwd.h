/*
 * fwd.h - building blocks shared by the files of the forward pass
 * (forward.c: the layer loop, grouped-query attention, the dense FFN;
 * mla.c: latent attention; moe.c: experts). Private to src/model.
 */
#ifndef PENNY_MODEL_FWD_H
#define PENNY_MODEL_FWD_H

#include "model/context.h"

/* y (T, w->n_out) = x (T, w->n_in) times the plain matrix w, on the pool. */
void fwd_matmul(penny_context *c, float *y, const weight *w, const float *x, int T);

/* y (T, n_embd) = SwiGLU FFN f of x (T, n_embd); uses c->b.gate and c->b.up. */
void fwd_ffn(penny_context *c, float *y, const ffn_weights *f, const float *x, int T);

/* Rotates the first n_rot dims of `heads` heads per token (rows of `stride`
 * floats per head, starting at x) and applies the rope magnitude. */
void fwd_rope(penny_context *c, float *x, int T, int heads, int stride);

/* Stores T tokens' key rows (k_dim floats each) and value rows (v_dim)
 * into layer il of each token's cache (c->b.tkv[t]) at its position,
 * converted to the cache type. */
void fwd_kv_store(penny_context *c, int il, int T, const float *k, const float *v);

/* Causal attention of T tokens' query heads over positions 0..pos[t] of
 * each token's own cache (c->b.tkv[t]: tokens of several sequences can share
 * one pass). Query head h of token t is q + t*q_tok + h*dk; it reads kv head
 * h/group, whose key vectors (dk elements, one cache segment) start at byte
 * k_at + kvh*k_head of the cache's keys, one row of l.k_row bytes per
 * position, and whose values likewise at v_at + kvh*v_head of its values
 * (or, with v_in_keys, the first dv elements of the keys); the output goes
 * to out + t*out_tok + h*dv. */
typedef struct attn_desc {
    const float *q;
    size_t q_tok;
    size_t k_at, k_head; /* bytes */
    size_t v_at, v_head; /* bytes */
    bool v_in_keys;
    float *out;
    size_t out_tok;
    int n_head, group, dk, dv;
    float scale;
} attn_desc;

void fwd_attend(penny_context *c, const attn_desc *d, int T);

/* Latent attention of layer il (mla.c): c->b.xn -> c->b.att (T, n_head*head_dim_v). */
void mla_attention(penny_context *c, int il, int T);

/* Expert FFN (moe.c): y (T, n_embd) from x (T, n_embd). */
void moe_ffn(penny_context *c, float *y, const moe_weights *w, const float *x, int T);

#endif
