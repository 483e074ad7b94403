/*
 * context.c - sizes and allocates a context's KV cache and activation
 * buffers from the model's hyperparameters, once, so the forward pass never
 * allocates. Buffers an architecture does not use are not allocated.
 */
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "kernels/attn.h"
#include "kernels/ops.h"
#include "kernels/types.h"
#include "model/context.h"

static size_t max3(size_t a, size_t b, size_t c) {
    size_t m = a > b ? a : b;
    return m > c ? m : c;
}

/* calloc of n elements of size sz (n 0: NULL, not an error); clears *ok on failure. */
static void *alloc(size_t n, size_t sz, bool *ok) {
    if (!n) return NULL;
    void *p = calloc(n, sz);
    if (!p) *ok = false;
    return p;
}

void ctx_kv_layout(const penny_model *m, bool mla_absorb, uint32_t type, kv_layout *out) {
    const model_hparams *hp = &m->hp;
    kv_layout *l = out;
    l->type = type;
    model_kv_dims(m, mla_absorb, &l->k_dim, &l->v_dim);
    bool one = m->arch->mla && mla_absorb; /* [latent, rope key]: one segment */
    l->k_seg = one ? l->k_dim : hp->head_dim;
    l->v_seg = one ? 0 : hp->head_dim_v;
    l->k_head = attn_row_bytes(type, l->k_seg);
    l->v_head = attn_row_bytes(type, l->v_seg);
    l->k_row = l->k_head * (size_t)(l->k_dim / l->k_seg);
    l->v_row = l->v_seg ? l->v_head * (size_t)(l->v_dim / l->v_seg) : 0;
}

static void alloc_kv(penny_context *c, bool *ok) {
    const penny_model *m = c->model;
    kv_cache *kv = &c->kv;
    kv->n_layer = m->hp.n_layer;
    kv->n_ctx = c->n_ctx;
    ctx_kv_layout(m, c->mla_absorb, c->kv_type, &kv->l);
    size_t per = (size_t)kv->n_layer * (size_t)kv->n_ctx;
    kv->k = alloc(per * kv->l.k_row, 1, ok);
    kv->v = alloc(per * kv->l.v_row, 1, ok);
}

/* Per-thread attention scratch for the widest keys and values attended. */
static void alloc_attn_scratch(penny_context *c, bool *ok) {
    const model_hparams *hp = &c->model->hp;
    int dk = hp->head_dim, dv = hp->head_dim_v;
    if (c->model->arch->mla && c->mla_absorb) dk = hp->kv_lora + hp->n_rot, dv = hp->kv_lora;
    c->b.attn_per_thread = attn_scratch_floats(dk, dv);
    c->b.attn = alloc((size_t)pool_size(c->model->pool) * c->b.attn_per_thread, sizeof(float), ok);
}

static void alloc_attention(penny_context *c, bool *ok) {
    const model_hparams *hp = &c->model->hp;
    fwd_bufs *b = &c->b;
    size_t B = (size_t)c->n_batch, H = (size_t)hp->n_head;
    b->q = alloc(B * H * (size_t)hp->head_dim, sizeof(float), ok);
    b->att = alloc(B * H * (size_t)hp->head_dim_v, sizeof(float), ok);
    if (!c->model->arch->mla) {
        b->k = alloc(B * (size_t)hp->n_head_kv * (size_t)hp->head_dim, sizeof(float), ok);
        b->v = alloc(B * (size_t)hp->n_head_kv * (size_t)hp->head_dim_v, sizeof(float), ok);
        return;
    }
    size_t r = (size_t)hp->kv_lora, rope = (size_t)hp->n_rot;
    b->kvl = alloc(B * (r + rope), sizeof(float), ok);
    b->lat =
        alloc(B * (H * r > (size_t)hp->q_lora ? H * r : (size_t)hp->q_lora), sizeof(float), ok);
    if (c->mla_absorb) {
        b->qa = alloc(B * H * (r + rope), sizeof(float), ok);
    } else {
        b->k = alloc(B * H * (size_t)hp->head_dim, sizeof(float), ok);
        b->v = alloc(B * H * (size_t)hp->head_dim_v, sizeof(float), ok);
    }
    size_t cols = (size_t)(hp->qk_nope > hp->head_dim_v ? hp->qk_nope : hp->head_dim_v);
    b->scratch_per_thread = r * cols;
    b->scratch =
        alloc((size_t)pool_size(c->model->pool) * b->scratch_per_thread, sizeof(float), ok);
}

static void alloc_ffn(penny_context *c, bool *ok) {
    const model_hparams *hp = &c->model->hp;
    fwd_bufs *b = &c->b;
    size_t B = (size_t)c->n_batch, E = (size_t)hp->n_expert, K = (size_t)hp->n_expert_used;
    size_t wide = max3((size_t)hp->n_ff, E ? (size_t)hp->n_ff_exp : 0, (size_t)hp->n_ff_shexp);
    b->gate = alloc(B * wide, sizeof(float), ok);
    b->up = alloc(B * wide, sizeof(float), ok);
    if (!E) return;
    b->router = alloc(B * E, sizeof(float), ok);
    b->sel = alloc(B * K, sizeof(int32_t), ok);
    b->sel_w = alloc(B * K, sizeof(float), ok);
    b->order = alloc(B * K, sizeof(int32_t), ok);
    b->count = alloc(E + 1, sizeof(int32_t), ok);
    b->xe = alloc(B * (size_t)hp->n_embd, sizeof(float), ok);
    b->ye = alloc(B * (size_t)hp->n_embd, sizeof(float), ok);
    b->probs = alloc(4 * E, sizeof(float), ok);
}

/* The largest activation scratch any matmul of a full batch needs: every
 * matrix's n_in is its ne[0]. */
static size_t matmul_scratch_bytes(const penny_model *m, int n_batch) {
    size_t most = 0;
    for (int64_t i = 0; i < gguf_split_tensor_count(m->split); i++) {
        const gguf_tensor *t = gguf_split_tensor_at(m->split, i);
        const type_traits *tt = type_get(t->type);
        if (!tt || !tt->supported || t->ne[1] <= 1) continue;
        size_t n = op_matmul_scratch(t->type, n_batch, (int)t->ne[0]);
        if (n > most) most = n;
    }
    return most;
}

penny_status ctx_init(penny_context *c, penny_error *err) {
    const penny_model *m = c->model;
    size_t B = (size_t)c->n_batch, d = (size_t)m->hp.n_embd;
    bool ok = true;
    alloc_kv(c, &ok);
    c->b.x = alloc(B * d, sizeof(float), &ok);
    c->b.xn = alloc(B * d, sizeof(float), &ok);
    c->b.out = alloc(B * d, sizeof(float), &ok);
    alloc_attention(c, &ok);
    alloc_ffn(c, &ok);
    alloc_attn_scratch(c, &ok);
    c->b.blocks = alloc(B + 1, sizeof(int32_t), &ok);
    c->b.pos = alloc(B, sizeof(int32_t), &ok);
    c->b.tkv = alloc(B, sizeof(kv_cache *), &ok);
    c->multi_tok = alloc(B, sizeof(int32_t), &ok);
    c->multi_rows = alloc(B, sizeof(int), &ok);
    c->b.mm_scratch = alloc(matmul_scratch_bytes(m, c->n_batch), 1, &ok);
    c->logits = alloc((size_t)m->hp.n_vocab, sizeof(float), &ok);
    c->n_logits_cap = 1;
    if (ok) return PENNY_OK;
    ctx_release(c);
    return err_set(err, PENNY_ERR_NOMEM, "out of memory allocating a %d-token context", c->n_ctx);
}

void ctx_release(penny_context *c) {
    fwd_bufs *b = &c->b;
    void *bufs[] = {c->kv.k,   c->kv.v,   b->x,       b->xn,    b->q,          b->k,     b->v,
                    b->kvl,    b->lat,    b->qa,      b->att,   b->out,        b->gate,  b->up,
                    b->router, b->sel,    b->sel_w,   b->order, b->count,      b->xe,    b->ye,
                    b->probs,  b->attn, b->scratch, b->pos,   b->mm_scratch, c->logits, b->tkv, c->multi_tok, c->multi_rows, b->blocks};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
    memset(&c->kv, 0, sizeof c->kv);
    memset(b, 0, sizeof *b);
    c->logits = NULL;
    c->multi_tok = NULL;
    c->multi_rows = NULL;
}
