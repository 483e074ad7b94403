/*
 * model.h - a loaded model: its architecture, hyperparameters, weight views
 * into the mapped GGUF file, the tokenizer, and the thread pool that runs it.
 *
 * One design serves every architecture penny runs (llama, including
 * Mixtral-style experts, qwen2, qwen3, qwen3moe, deepseek2). The architecture
 * table (arch.c) says which parts a family has; the hyperparameters and the
 * layer weights below hold the union of those parts, absent ones left NULL;
 * the forward pass composes shared blocks: RMSNorm, grouped-query attention
 * (forward.c), multi-head latent attention (mla.c), the SwiGLU feed-forward
 * network and the mixture-of-experts one (moe.c).
 *
 * Weights are never copied: each `weight` points into the mapping and knows
 * its element type and row stride, so kernels read them in place.
 */
#ifndef PENNY_MODEL_MODEL_H
#define PENNY_MODEL_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "base/pool.h"
#include "format/gguf.h"
#include "penny.h"
#include "tokenizer/tokenizer.h"

/* n_mat stacked matrices (experts, heads; 1 for a plain matrix), each of
 * n_out rows of n_in elements (ggml ne0 = n_in, ne1 = n_out, ne2 = n_mat).
 * data NULL: the weight is absent. */
typedef struct weight {
    const void *data;
    uint32_t type;
    int64_t n_in, n_out, n_mat;
    size_t row_bytes; /* bytes per row */
    size_t mat_bytes; /* bytes between stacked matrices */
} weight;

/* Matrix i of a stack, as a plain matrix. */
static inline weight weight_mat(const weight *w, int64_t i) {
    weight m = *w;
    m.data = (const char *)w->data + (size_t)i * w->mat_bytes;
    m.n_mat = 1;
    return m;
}

typedef enum arch_id { ARCH_LLAMA, ARCH_QWEN2, ARCH_QWEN3, ARCH_QWEN3MOE, ARCH_DEEPSEEK2 } arch_id;

/* What the files of one GGUF general.architecture contain. */
typedef struct arch_info {
    const char *name; /* general.architecture, also the prefix of its keys */
    arch_id id;
    bool rope_neox; /* rotate pairs (i, i + n_rot/2); else adjacent pairs (2i, 2i+1) */
    bool qk_norm;   /* per-head RMSNorm of q and k before rope (attn_q_norm, attn_k_norm) */
    bool mla;       /* multi-head latent attention instead of grouped-query attention */
    bool moe;       /* expert_count must be > 0; otherwise experts are optional */
    bool ff_exp;    /* experts' width is expert_feed_forward_length, not feed_forward_length */
    bool norm_w;    /* default of expert_weights_norm */
} arch_info;

enum { MOE_GATING_SOFTMAX = 1, MOE_GATING_SIGMOID = 2 }; /* GGUF expert_gating_func values */

typedef struct model_hparams {
    int n_vocab; /* rows of token_embd */
    int n_embd;  /* model width */
    int n_layer;
    int n_head, n_head_kv;
    int head_dim;   /* query/key length per head (MLA: qk_nope + n_rot) */
    int head_dim_v; /* value length per head */
    int n_ff;       /* width of dense feed-forward layers */
    int n_ctx_train;
    int n_rot; /* rotated dims per head (MLA: the rope part of q and the shared rope key) */
    bool rope_neox;
    float rope_base;
    float rope_linear;    /* linear scaling: positions are divided by this (1: none) */
    float yarn_factor;    /* YaRN context extension factor; 0: no YaRN */
    int yarn_orig_ctx;    /* context the model was trained with before extension */
    float yarn_beta_fast; /* rotations per original context bounding the ramp */
    float yarn_beta_slow;
    float yarn_log_mul; /* deepseek2: 0.1 * mscale_all_dim of the attention scale */
    float rope_mscale;  /* factor on the rotated dims of q and k (YaRN); 1: none */
    float kq_scale;     /* attention logits = q.k * kq_scale */
    float eps;          /* RMSNorm epsilon */
    /* mixture of experts; n_expert 0: every layer is dense */
    int n_expert, n_expert_used;
    int n_ff_exp;        /* width of one routed expert */
    int n_expert_shared; /* always-on experts, run as one FFN of width n_ff_shexp */
    int n_ff_shexp;
    int n_group, n_group_used; /* group-limited routing; n_group <= 1: off */
    int n_layer_dense;         /* leading layers with a dense FFN */
    int gating;                /* MOE_GATING_* */
    bool norm_w;               /* renormalise the selected experts' weights to sum 1 */
    float w_scale;             /* routed weights are multiplied by this */
    /* multi-head latent attention */
    int q_lora;  /* rank of the query compression; 0: plain attn_q */
    int kv_lora; /* rank of the key/value latent */
    int qk_nope; /* per-head key length without rope */
} model_hparams;

/* SwiGLU feed-forward: down(silu(gate x) * up x). Also the shape of one
 * routed expert (a slice of the stacks) and of the shared experts. */
typedef struct ffn_weights {
    weight gate, up; /* (n_embd -> width) */
    weight down;     /* (width -> n_embd) */
} ffn_weights;

typedef struct moe_weights {
    weight router;         /* (n_embd -> n_expert) ffn_gate_inp */
    const float *sel_bias; /* (n_expert) exp_probs_b: for selection only; NULL: none */
    ffn_weights experts;   /* stacks of n_expert, width n_ff_exp */
    ffn_weights shared;    /* width n_ff_shexp; gate.data NULL when none */
} moe_weights;

typedef struct mla_weights {
    weight q_a;             /* (n_embd -> q_lora); absent: queries from attn_q */
    const float *q_a_norm;  /* (q_lora) */
    weight q_b;             /* (q_lora -> n_head*head_dim) */
    weight kv_a;            /* (n_embd -> kv_lora + n_rot): latent, then the shared rope key */
    const float *kv_a_norm; /* (kv_lora) */
    weight k_up;            /* n_head stacked: latent -> qk_nope key part, or its transpose */
    bool k_up_t;            /* k_up is (qk_nope -> kv_lora) per head (attn_k_b) */
    weight v_up;            /* n_head stacked: (kv_lora -> head_dim_v) */
} mla_weights;

typedef struct layer_weights {
    const float *attn_norm;       /* (n_embd) */
    weight wq;                    /* (n_embd -> n_head*head_dim); MLA: when no q_lora */
    weight wk;                    /* (n_embd -> n_head_kv*head_dim) */
    weight wv;                    /* (n_embd -> n_head_kv*head_dim_v) */
    const float *bq, *bk, *bv;    /* optional biases of q, k, v (qwen2) */
    const float *q_norm, *k_norm; /* (head_dim) per-head RMSNorm weights (qwen3) */
    mla_weights mla;
    weight wo;             /* (n_head*head_dim_v -> n_embd) */
    const float *ffn_norm; /* (n_embd) */
    bool is_moe;
    ffn_weights ffn; /* dense layers, width n_ff */
    moe_weights moe; /* expert layers */
} layer_weights;

struct penny_model {
    gguf_split *split;     /* all parts of the file (one for unsplit models) */
    const gguf_file *gguf; /* part 0: the metadata */
    tokenizer *tok;
    pool *pool;
    const arch_info *arch;
    model_hparams hp;
    weight tok_embd;          /* (n_embd -> n_vocab): row t is token t's embedding */
    const float *output_norm; /* (n_embd) */
    weight output;            /* (n_embd -> n_vocab); tok_embd when tied */
    layer_weights *layers;    /* n_layer */
    float *rope_freqs;        /* (n_rot/2) inverse frequencies, scaling applied */
    bool mla_absorb;          /* contexts made next use absorbed MLA (default) */
    int64_t n_params;         /* elements of all tensors in the file */
    int64_t n_params_active;  /* minus the routed experts a token does not use */
    char desc[200];
};

/* ---- arch.c ---- */

/* The table row of an architecture name; NULL when penny does not run it. */
const arch_info *arch_find(gguf_str name);
/* Reads general.architecture and every hyperparameter of m's open file into
 * m->arch and m->hp, checking them for consistency. Errors name the key. */
penny_status arch_read_hparams(penny_model *m, penny_error *err);
/* Inverse frequency of rotated pair i (< n_rot/2) with linear or YaRN
 * scaling applied, in double. */
double arch_rope_freq(const model_hparams *hp, int i);

/* ---- weights.c ---- */

/* Binds hyperparameters and weights of m's open GGUF file into m. Errors
 * name the key or tensor at fault. */
penny_status model_bind(penny_model *m, penny_error *err);
/* Floats per token and layer that a context's cache holds for keys and
 * values (v 0: absorbed MLA reads values from the cached latent). */
void model_kv_dims(const penny_model *m, bool mla_absorb, int *k_dim, int *v_dim);

#endif
