/*
 * model.h - the decoder being trained: a Llama-style transformer (RMSNorm,
 * rotary embeddings on adjacent pairs, grouped-query attention, SwiGLU,
 * optionally tied input/output embeddings) with fp32 weights, its gradients,
 * and the activations kept for the backward pass; or, for comparisons, a
 * GPT-2-style baseline of the same size (TR_ARCH_GPT2).
 *
 * Weights live in one array in a fixed order (tr_model_tensors lists each
 * tensor's GGUF name, shape and offset), so the optimizer, the checkpoint,
 * the all-reduce and the export all walk the same flat buffer. Matrices are
 * stored (out, in) row-major, exactly as a GGUF "llama" file stores them, and
 * q/k rotate adjacent pairs as that architecture expects, so export is a
 * copy.
 */
#ifndef PENNY_TRAIN_MODEL_H
#define PENNY_TRAIN_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/pool.h"
#include "penny.h"
#include "train/gemm.h"

/* TR_ARCH_GPT2 is the comparison baseline of docs/training.md: LayerNorm
 * with bias, learned positions instead of RoPE, a GELU MLP (ffn_up,
 * ffn_down), no linear biases. It trains and evaluates like the Llama
 * model but is not exported. */
enum { TR_ARCH_LLAMA = 0, TR_ARCH_GPT2 = 1 };

typedef struct tr_config {
    int arch; /* TR_ARCH_* */
    int vocab, dim, n_layer, n_head, n_kv_head, ffn;
    int seq_len; /* T: context trained on (and exported as context_length) */
    bool tied;   /* output projection shares the token embedding */
    float eps, rope_base;
} tr_config;

/* Checks a configuration; the message names the offending field. */
penny_status tr_config_check(const tr_config *c, penny_error *err);

typedef struct tr_tensor {
    char name[40]; /* GGUF name, e.g. "blk.0.attn_q.weight" */
    int n_dims;
    int64_t ne[2]; /* ne[0] = row length (in), ne[1] = rows (out) */
    size_t off;    /* offset in floats within the parameter array */
    bool decay;    /* weight decay applies (matrices, not norms) */
} tr_tensor;

/* Pointers into the parameter (or gradient) array. */
typedef struct tr_layer_w {
    float *attn_norm;                /* (C) */
    float *attn_norm_b, *ffn_norm_b; /* (C) LayerNorm biases (gpt2 only) */
    float *wq, *wk, *wv;             /* (H*hd, C), (KV*hd, C), (KV*hd, C) */
    float *wo;                       /* (C, H*hd) */
    float *ffn_norm;                 /* (C) */
    float *wg, *wu;                  /* (F, C); no wg in gpt2 */
    float *wd;                       /* (C, F) */
} tr_layer_w;

typedef struct tr_weights {
    float *wte;        /* (V, C) */
    float *wpe;        /* (T, C) learned positions (gpt2 only) */
    float *out_norm_b; /* (C) (gpt2 only) */
    tr_layer_w *l;     /* (n_layer) */
    float *out_norm;   /* (C) */
    float *wout;       /* (V, C); wte when tied */
} tr_weights;

/* Room for every tensor of a configuration. */
#define TR_MAX_TENSORS(c) (10 * (c)->n_layer + 5)

/* Fills ts (room for TR_MAX_TENSORS) with every tensor in storage order;
 * sets *n and returns the total number of parameters. */
size_t tr_layout(const tr_config *c, tr_tensor *ts, int *n);

typedef struct tr_model tr_model;

/* B sequences of cfg->seq_len tokens per forward pass. The pool may be NULL. */
penny_status tr_model_new(const tr_config *cfg, int B, pool *p, tr_model **out, penny_error *err);
void tr_model_free(tr_model *m);
/* bf16 matmul inputs with fp32 accumulation where the CPU has AVX512-BF16
 * (off by default); returns whether they are in use. */
bool tr_model_set_bf16(tr_model *m, bool on);

const tr_config *tr_model_config(const tr_model *m);
int tr_model_batch(const tr_model *m);
size_t tr_model_n_params(const tr_model *m);
float *tr_model_params(tr_model *m);
float *tr_model_grads(tr_model *m);
const tr_tensor *tr_model_tensors(const tr_model *m, int *n);
/* Training FLOPs per token (forward + backward = 6 x multiply-adds, attention
 * included), for MFU. */
double tr_model_flops_per_token(const tr_model *m);

/* Normal(0, 0.02) matrices (output projections scaled by 1/sqrt(2L)), unit
 * norms; a pure function of seed. */
void tr_model_init(tr_model *m, uint64_t seed);

/* Forward over tokens (B*T). With targets, the logits are turned in place
 * into the gradient of sum_n weights[n] * loss_n (weights NULL: 1) and the
 * per-token losses are kept; without, the logits are kept (tr_model_logits). */
void tr_model_forward(tr_model *m, const int32_t *tokens, const int32_t *targets,
                      const float *weights);
const float *tr_model_logits(const tr_model *m); /* (B*T, V) */
const float *tr_model_losses(const tr_model *m); /* (B*T) */

void tr_model_zero_grad(tr_model *m);
/* Adds this batch's gradients (after a forward with targets) to the grads. */
void tr_model_backward(tr_model *m, const int32_t *tokens);

#endif
