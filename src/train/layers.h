/*
 * layers.h - forward and backward passes of the layers a Llama-style
 * decoder is trained with.
 *
 * Each layer is a pair <layer>_forward / <layer>_backward with a fixed
 * argument order: outputs, inputs, then dimensions (B batch, T time, C
 * channels, ...). Activations are row-major with one row per token: x[n*C+i]
 * is channel i of token n, where n = b*T + t and N = B*T. Backward functions
 * ADD into their input gradients (so gradients of a residual stream and of
 * weights shared between micro-batches accumulate); callers zero them first.
 *
 * Work is spread over the trainer's pool (a NULL pool runs on the caller).
 * Every reduction keeps one fixed order whatever the thread count, so the
 * results never depend on it. Each backward is checked against float64
 * finite differences of its forward in tests/test_train_layers.c.
 */
#ifndef PENNY_TRAIN_LAYERS_H
#define PENNY_TRAIN_LAYERS_H

#include <stdint.h>

#include "base/pool.h"
#include "train/gemm.h"

/* out (N,C) = wte[tokens[n]]; wte is (V,C). */
void tr_embed_forward(float *out, const int32_t *tokens, const float *wte, int N, int C);
/* dwte[tokens[n]] += dout[n]. */
void tr_embed_backward(float *dwte, const float *dout, const int32_t *tokens, int N, int C);

/* out (N,C) = x / rms(x) * w; rstd (N) keeps 1/rms for the backward. */
void tr_rmsnorm_forward(pool *p, float *out, float *rstd, const float *x, const float *w, int N,
                        int C, float eps);
void tr_rmsnorm_backward(pool *p, float *dx, float *dw, const float *dout, const float *x,
                         const float *w, const float *rstd, int N, int C);

/* LayerNorm (the GPT-2-style baseline): out = (x - mean) / sd * w + b;
 * mean and rstd (N) are kept for the backward. */
void tr_layernorm_forward(pool *p, float *out, float *mean, float *rstd, const float *x,
                          const float *w, const float *b, int N, int C, float eps);
void tr_layernorm_backward(pool *p, float *dx, float *dw, float *db, const float *dout,
                           const float *x, const float *w, const float *mean, const float *rstd,
                           int N, int C);

/* out = GELU(x) (tanh approximation, as GPT-2) over n elements. */
void tr_gelu_forward(pool *p, float *out, const float *x, long n);
void tr_gelu_backward(pool *p, float *dx, const float *dout, const float *x, long n);

/* Learned positions: x (B*T, C) += wpe[t]; the backward sums over the batch. */
void tr_pos_forward(float *x, const float *wpe, int B, int T, int C);
void tr_pos_backward(float *dwpe, const float *dx, int B, int T, int C);

/* out (N,OC) = x (N,C) * w^T, w (OC,C) row-major as stored in GGUF. */
void tr_matmul_forward(tr_gemm *g, float *out, const float *x, const float *w, int N, int C,
                       int OC);
/* dx (N,C) += dout * w; dw (OC,C) += dout^T * x. dx may be NULL. */
void tr_matmul_backward(tr_gemm *g, float *dx, float *dw, const float *dout, const float *x,
                        const float *w, int N, int C, int OC);

/* Rotary embedding of adjacent pairs (2i, 2i+1) in every head, in place:
 * x (B*T, n_head*hd); cs (T, hd/2, 2) holds cos and sin of t * freq_i. */
void tr_rope_forward(float *x, const float *cs, int B, int T, int n_head, int hd);
/* The inverse rotation applied to the gradient, in place. */
void tr_rope_backward(float *dx, const float *cs, int B, int T, int n_head, int hd);
/* Fills cs (T, hd/2, 2) for base theta (freq_i = base^(-2i/hd)), computed in
 * double as penny's inference does. */
void tr_rope_table(float *cs, int T, int hd, float base);

/* Causal grouped-query attention.
 * q (B*T, H*hd), k and v (B*T, KV*hd); out (B*T, H*hd);
 * att (B, H, T, T) keeps the softmax probabilities (row t uses 0..t). */
void tr_attention_forward(pool *p, float *out, float *att, const float *q, const float *k,
                          const float *v, int B, int T, int H, int KV, int hd);
/* dq, dk, dv += ...; scratch: (nth, T) floats. */
void tr_attention_backward(pool *p, float *dq, float *dk, float *dv, float *scratch,
                           const float *dout, const float *att, const float *q, const float *k,
                           const float *v, int B, int T, int H, int KV, int hd);

/* out = silu(gate) * up over n elements. */
void tr_swiglu_forward(pool *p, float *out, const float *gate, const float *up, long n);
void tr_swiglu_backward(pool *p, float *dgate, float *dup, const float *dout, const float *gate,
                        const float *up, long n);

/* Softmax cross-entropy per token, in place: logits (N,V) become the
 * gradient of sum_n weight[n] * loss[n] (probs - onehot, times weight[n]).
 * losses (N) receives each token's -log p(target). weight NULL means 1. */
void tr_crossentropy_fused(pool *p, float *logits, float *losses, const int32_t *targets,
                           const float *weight, int N, int V);

#endif
