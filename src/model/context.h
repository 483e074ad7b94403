/*
 * context.h - a running sequence: its KV cache, and the activation buffers
 * of one forward pass over up to n_batch tokens. Everything is allocated
 * once in ctx_init, so evaluation never calls malloc (except to grow the
 * all-logits buffer when a caller asks for every position's logits).
 *
 * The cache and the activations are separate structs: the cache is the
 * sequence's state, the activations are scratch that any forward pass of the
 * model could share.
 */
#ifndef PENNY_MODEL_CONTEXT_H
#define PENNY_MODEL_CONTEXT_H

#include "model/model.h"

/* Per layer and position: k_dim elements of keys, v_dim of values, stored
 * as `type` (TYPE_F16 by default, TYPE_F32 or TYPE_Q8_0) in segments of
 * k_seg / v_seg elements - one per KV head - each converted on its own
 * (attn_store: Q8_0 blocks restart at each segment, the last one
 * zero-padded), so a head's vector is one attn_rows row. For absorbed MLA a
 * key row is one segment: the compressed latent (kv_lora) then the shared
 * rope key (n_rot), and values are read from the same row (v_dim 0). */
typedef struct kv_layout {
    uint32_t type;
    int k_dim, v_dim;      /* elements per token and layer */
    int k_seg, v_seg;      /* elements per segment (head) */
    size_t k_head, v_head; /* bytes per segment */
    size_t k_row, v_row;   /* bytes per token and layer */
} kv_layout;

typedef struct kv_cache {
    int n_layer, n_ctx;
    kv_layout l;
    char *k; /* (n_layer, n_ctx, l.k_row bytes) */
    char *v; /* (n_layer, n_ctx, l.v_row bytes); NULL when v_dim is 0 */
} kv_cache;

/* The cache layout of contexts of m with a cache type (TYPE_F32, TYPE_F16,
 * TYPE_Q8_0) and MLA mode. */
void ctx_kv_layout(const penny_model *m, bool mla_absorb, uint32_t type, kv_layout *out);

/* B = n_batch tokens; H = n_head. */
typedef struct fwd_bufs {
    float *x;     /* (B, n_embd) residual stream */
    float *xn;    /* (B, n_embd) normed input of a block */
    float *q;     /* (B, H*head_dim) queries */
    float *k, *v; /* (B, k_dim) / (B, v_dim): this batch's keys and values (not absorbed MLA) */
    float *kvl;   /* (B, kv_lora + n_rot): MLA latent, then the rope key, of the batch's tokens */
    float *lat;   /* (B, max(q_lora, H*kv_lora)): compressed queries / absorbed attention output */
    float *qa;    /* (B, H*(kv_lora + n_rot)) absorbed queries (MLA) */
    float *att;   /* (B, H*head_dim_v) attention output, input of attn_output */
    float *out;   /* (B, n_embd) block output before the residual add */
    float *gate, *up; /* (B, widest FFN) */
    float *router;    /* (B, n_expert) router logits */
    int32_t *sel;     /* (B, n_expert_used) chosen experts */
    float *sel_w;     /* (B, n_expert_used) their weights */
    int32_t *order;   /* (B*n_expert_used) (token, slot) pairs sorted by expert */
    int32_t *count;   /* (n_expert + 1) prefix counts of that sort */
    float *xe, *ye;   /* (B, n_embd) one expert's gathered inputs and outputs */
    float *probs;     /* (4*n_expert) routing scratch */
    float *attn;      /* (n_threads, attn_per_thread) attention scratch (kernels/attn.h) */
    size_t attn_per_thread;
    int32_t *blocks;  /* (B + 1) attention: first token of each block of queries */
    void *mm_scratch; /* matmul activations: the most op_matmul_scratch any weight needs */
    float *scratch;   /* (n_threads, scratch_per_thread) dequantized matrices (MLA) */
    size_t scratch_per_thread;
    int32_t *pos;            /* (B) positions of the batch's tokens */
    const kv_cache **tkv;    /* (B) the cache (sequence) each token belongs to */
} fwd_bufs;

struct penny_context {
    penny_model *model;
    int n_ctx, n_batch, n_past;
    bool mla_absorb; /* absorbed (latent-only cache) or naive MLA; see mla.c */
    uint32_t kv_type; /* element type of the cache: TYPE_F16, TYPE_F32, TYPE_Q8_0 */
    bool invariant;   /* batch-invariant matmuls (penny_context_params.batch_invariant) */
    kv_cache kv;
    fwd_bufs b;
    float *logits; /* (n_logits_cap, n_vocab): last eval's logits */
    int32_t *multi_tok; /* (n_batch) scratch of penny_eval_multi: the step's tokens */
    int *multi_rows;    /* (n_batch) and each sequence's last row */
    int n_logits_cap, n_logits;
};

/* Sizes and allocates c's cache and buffers for c->model, c->n_ctx,
 * c->n_batch, c->mla_absorb and c->kv_type; ctx_release frees them (c itself stays). */
penny_status ctx_init(penny_context *c, penny_error *err);
void ctx_release(penny_context *c);

/* Runs n <= n_batch tokens at positions n_past.. and appends them to the
 * cache. Writes logits (n_vocab floats per token) for the last token, or for
 * all n with all_logits, to `logits` (NULL: none). Token ids must be in
 * range. */
void model_forward(penny_context *c, const int32_t *tokens, int n, bool all_logits, float *logits);

/* One forward pass over the tokens of several sequences of one model (every
 * n[s] >= 1, sum <= ctxs[0]->n_batch, all caches of the same shape): each
 * token attends to its own sequence's cache. Activations are ctxs[0]'s;
 * flat (sum n) and rows (n_seq) are scratch; logits (n_seq, n_vocab)
 * receives each sequence's last-token logits. Not for naive MLA, whose
 * attention recomputes one sequence's keys. */
void model_forward_multi(penny_context *const *ctxs, const int32_t *const *tokens, const int *n,
                         int n_seq, int32_t *flat, int *rows, float *logits);

#endif
