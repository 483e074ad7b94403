/*
 * forward.c - the Llama forward pass over a batch of tokens.
 *
 * For a batch of T tokens the layer loop runs each matmul once over all T
 * rows, so each weight is read once per batch. Attention reads the KV cache
 * (positions 0..n_past+T-1) with a causal mask; work is split over
 * (token, head) pairs on the model's thread pool.
 */
#include <math.h>
#include <string.h>

#include "kernels/ops.h"
#include "kernels/types.h"
#include "model/context.h"

static void matmul(penny_context *c, float *y, const weight *w, const float *x, int T) {
    op_matmul(c->model->pool, y, w->data, w->type, w->row_bytes, x, T, (int)w->n_in,
              (int)w->n_out);
}

typedef struct attn_job {
    penny_context *c;
    int layer, T;
} attn_job;

/* One query head of one token against all cached positions <= its own. */
static void attend_one(penny_context *c, int il, int t, int h, float *scores) {
    const llama_hparams *hp = &c->model->hp;
    int hd = hp->head_dim, kv_dim = hp->n_head_kv * hd;
    int kvh = h / (hp->n_head / hp->n_head_kv);
    int pos = c->pos[t];
    const float *q = c->q + (size_t)t * hp->n_head * hd + (size_t)h * hd;
    const float *kc = c->k_cache + (size_t)il * c->n_ctx * kv_dim + (size_t)kvh * hd;
    const float *vc = c->v_cache + (size_t)il * c->n_ctx * kv_dim + (size_t)kvh * hd;
    float scale = 1.0f / sqrtf((float)hd);
    for (int p = 0; p <= pos; p++) {
        const float *k = kc + (size_t)p * kv_dim;
        float s = 0.0f;
        for (int i = 0; i < hd; i++) s += q[i] * k[i];
        scores[p] = s * scale;
    }
    op_softmax(scores, pos + 1);
    float *out = c->xb + (size_t)t * hp->n_head * hd + (size_t)h * hd;
    memset(out, 0, sizeof(float) * (size_t)hd);
    for (int p = 0; p <= pos; p++) {
        const float *v = vc + (size_t)p * kv_dim;
        float a = scores[p];
        for (int i = 0; i < hd; i++) out[i] += a * v[i];
    }
}

static void attn_worker(void *arg, int ith, int nth) {
    attn_job *j = arg;
    int n_head = j->c->model->hp.n_head;
    long lo, hi;
    pool_range((long)j->T * n_head, ith, nth, &lo, &hi);
    float *scores = j->c->scores + (size_t)ith * j->c->n_ctx;
    for (long i = lo; i < hi; i++) attend_one(j->c, j->layer, (int)(i / n_head), (int)(i % n_head), scores);
}

static void attention(penny_context *c, int il, int T) {
    const llama_hparams *hp = &c->model->hp;
    const llama_layer *L = &c->model->layers[il];
    int kv_dim = hp->n_head_kv * hp->head_dim;
    matmul(c, c->q, &L->wq, c->xb, T);
    matmul(c, c->k, &L->wk, c->xb, T);
    matmul(c, c->v, &L->wv, c->xb, T);
    op_rope(c->q, T, hp->n_head, hp->head_dim, hp->n_rot, c->pos, c->model->rope_freqs,
            hp->rope_neox);
    op_rope(c->k, T, hp->n_head_kv, hp->head_dim, hp->n_rot, c->pos, c->model->rope_freqs,
            hp->rope_neox);
    size_t layer_off = (size_t)il * c->n_ctx * kv_dim;
    for (int t = 0; t < T; t++) {
        size_t off = layer_off + (size_t)c->pos[t] * kv_dim;
        memcpy(c->k_cache + off, c->k + (size_t)t * kv_dim, sizeof(float) * (size_t)kv_dim);
        memcpy(c->v_cache + off, c->v + (size_t)t * kv_dim, sizeof(float) * (size_t)kv_dim);
    }
    attn_job job = {c, il, T};
    pool_run(c->model->pool, attn_worker, &job);
}

static void add_into(float *x, const float *y, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] += y[i];
}

static void layer_forward(penny_context *c, int il, int T) {
    const llama_hparams *hp = &c->model->hp;
    const llama_layer *L = &c->model->layers[il];
    size_t n = (size_t)T * hp->n_embd;
    op_rmsnorm(c->xb, c->x, L->attn_norm, T, hp->n_embd, hp->eps);
    attention(c, il, T);
    /* attention output (in xb) -> projection (in q, free now) */
    matmul(c, c->q, &L->wo, c->xb, T);
    add_into(c->x, c->q, n);
    op_rmsnorm(c->xb, c->x, L->ffn_norm, T, hp->n_embd, hp->eps);
    matmul(c, c->gate, &L->w_gate, c->xb, T);
    matmul(c, c->up, &L->w_up, c->xb, T);
    op_swiglu(c->gate, c->gate, c->up, (int64_t)T * hp->n_ff);
    matmul(c, c->xb, &L->w_down, c->gate, T);
    add_into(c->x, c->xb, n);
}

void llama_forward(penny_context *c, const int32_t *tokens, int T, bool all_logits, float *logits) {
    const penny_model *m = c->model;
    const llama_hparams *hp = &m->hp;
    const type_traits *et = type_get(m->tok_embd.type);
    for (int t = 0; t < T; t++) {
        const char *row = (const char *)m->tok_embd.data + (size_t)tokens[t] * m->tok_embd.row_bytes;
        et->to_f32(row, c->x + (size_t)t * hp->n_embd, hp->n_embd);
        c->pos[t] = c->n_past + t;
    }
    for (int il = 0; il < hp->n_layer; il++) layer_forward(c, il, T);
    c->n_past += T;
    if (!logits) return;
    int first = all_logits ? 0 : T - 1;
    int n_out = T - first;
    const float *last = c->x + (size_t)first * hp->n_embd;
    op_rmsnorm(c->xb, last, m->output_norm, n_out, hp->n_embd, hp->eps);
    matmul(c, logits, &m->output, c->xb, n_out);
}
