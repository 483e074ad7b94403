/*
 * mla.c - multi-head latent attention (DeepSeek-V2, arXiv 2405.04434), the
 * attention of deepseek2 files.
 *
 * Each token's keys and values come from one compressed latent c (kv_lora
 * floats, RMS-normed) and one rope key k_pe (n_rot floats) shared by all
 * heads: head h's key is [K_h c, k_pe] and its value V_h c, with per-head
 * up-projections K_h (qk_nope x kv_lora) and V_h (head_dim_v x kv_lora).
 * Queries are [q_nope, q_pe] per head, made from x directly or through a
 * low-rank bottleneck (q_a, RMSNorm, q_b). Rope (adjacent pairs, YaRN
 * frequencies) touches only q_pe and k_pe.
 *
 * Two ways to compute the same attention:
 *  - absorbed (default): q_nope.(K_h c) = (K_h^T q_nope).c, so each head's
 *    query is moved into latent space once, and the cache holds only
 *    [c, k_pe] per token and layer - kv_lora + n_rot elements whatever the
 *    head count. Values: p.(V_h c) = V_h (p.c), projected after the sum.
 *    The row is stored in the context's cache type like any other (F16 by
 *    default; Q8_0 in blocks of 32 over the whole row); nothing about MLA
 *    needs F32: c is RMS-normed and k_pe a rotated projection, both of
 *    ordinary magnitude, and the attention kernel reads the values as the
 *    first kv_lora elements of the same converted key tile.
 *  - naive: K_h c and V_h c are expanded per head and cached like
 *    multi-head attention (n_head*(head_dim + head_dim_v) floats per token).
 * Files store K_h either transposed per head (attn_k_b) or inside the
 * legacy attn_kv_b; both paths run on both layouts, using a plain or a
 * transposed per-head product as the layout requires.
 */
#include <string.h>

#include "base/err.h"
#include "kernels/ops.h"
#include "kernels/types.h"
#include "model/fwd.h"

/* y[t][h] = W_h x[t][h], or W_h^T x[t][h] when transposed, for every token
 * t and head h; x row (t, h) at x + t*x_tok + h*x_head, likewise y. */
typedef struct head_mm {
    float *y;
    size_t y_tok, y_head;
    const float *x;
    size_t x_tok, x_head;
    weight w; /* n_mat = n_head */
    bool transposed;
    int T;
    float *scratch; /* per thread: one dequantized W_h */
    size_t scratch_per;
} head_mm;

/* Plain: threads take (head, output row) pairs; each row is read once for
 * all tokens. */
static void head_mm_rows(const head_mm *j, int ith, int nth) {
    type_dot_f32_fn dot = type_get(j->w.type)->dot_f32;
    long lo, hi;
    pool_range((long)j->w.n_mat * j->w.n_out, ith, nth, &lo, &hi);
    for (long i = lo; i < hi; i++) {
        long h = i / j->w.n_out, o = i % j->w.n_out;
        const char *row =
            (const char *)j->w.data + (size_t)h * j->w.mat_bytes + (size_t)o * j->w.row_bytes;
        for (int t = 0; t < j->T; t++) {
            const float *x = j->x + (size_t)t * j->x_tok + (size_t)h * j->x_head;
            j->y[(size_t)t * j->y_tok + (size_t)h * j->y_head + o] = dot(row, x, j->w.n_in);
        }
    }
}

/* Transposed: threads take heads; W_h is dequantized once into the
 * thread's scratch and each output is a column sum in double. */
static void head_mm_cols(const head_mm *j, int ith, int nth) {
    const type_traits *tt = type_get(j->w.type);
    int64_t n_in = j->w.n_in, n_out = j->w.n_out;
    float *wd = j->scratch + (size_t)ith * j->scratch_per;
    long lo, hi;
    pool_range((long)j->w.n_mat, ith, nth, &lo, &hi);
    for (long h = lo; h < hi; h++) {
        tt->to_f32((const char *)j->w.data + (size_t)h * j->w.mat_bytes, wd, n_in * n_out);
        for (int t = 0; t < j->T; t++) {
            const float *x = j->x + (size_t)t * j->x_tok + (size_t)h * j->x_head;
            float *y = j->y + (size_t)t * j->y_tok + (size_t)h * j->y_head;
            for (int64_t i = 0; i < n_in; i++) {
                double s = 0.0;
                for (int64_t o = 0; o < n_out; o++) s += (double)wd[o * n_in + i] * x[o];
                y[i] = (float)s;
            }
        }
    }
}

static void head_mm_worker(void *arg, int ith, int nth) {
    const head_mm *j = arg;
    if (j->transposed)
        head_mm_cols(j, ith, nth);
    else
        head_mm_rows(j, ith, nth);
}

static void heads_matmul(penny_context *c, head_mm *j) {
    /* legacy attn_kv_b views are rows of one matrix, contiguous per head */
    PENNY_ASSERT(!j->transposed || j->w.mat_bytes >= j->w.row_bytes * (size_t)j->w.n_out);
    PENNY_ASSERT(!j->transposed || (size_t)(j->w.n_in * j->w.n_out) <= c->b.scratch_per_thread);
    j->scratch = c->b.scratch;
    j->scratch_per = c->b.scratch_per_thread;
    pool_run(c->model->pool, head_mm_worker, j);
}

/* Copies n floats at `off` of each head row of src into each head row of dst. */
static void copy_heads(float *dst, size_t d_tok, size_t d_head, const float *src, size_t s_tok,
                       size_t s_head, int T, int H, int n) {
    for (int t = 0; t < T; t++)
        for (int h = 0; h < H; h++)
            memcpy(dst + (size_t)t * d_tok + (size_t)h * d_head,
                   src + (size_t)t * s_tok + (size_t)h * s_head, sizeof(float) * (size_t)n);
}

/* Cache rows are [c, k_pe]; attention is multi-query over them. */
static void absorbed(penny_context *c, int il, int T) {
    const model_hparams *hp = &c->model->hp;
    const mla_weights *a = &c->model->layers[il].mla;
    const kv_cache *kv = &c->kv;
    fwd_bufs *b = &c->b;
    size_t H = (size_t)hp->n_head, dq = (size_t)hp->head_dim, r = (size_t)hp->kv_lora;
    size_t kvw = r + (size_t)hp->n_rot, dv = (size_t)hp->head_dim_v;
    fwd_kv_store(c, il, T, b->kvl, NULL);
    /* qa[t][h] = [K_h^T q_nope, q_pe] */
    head_mm qk = {b->qa, H * kvw, kvw, b->q, H * dq, dq, a->k_up, !a->k_up_t, T, NULL, 0};
    heads_matmul(c, &qk);
    copy_heads(b->qa + r, H * kvw, kvw, b->q + hp->qk_nope, H * dq, dq, T, (int)H, hp->n_rot);
    attn_desc d = {.q = b->qa,
                   .q_tok = H * kvw,
                   .k_at = (size_t)il * (size_t)kv->n_ctx * kv->l.k_row,
                   .k_head = 0,
                   .v_in_keys = true,
                   .out = b->lat,
                   .out_tok = H * r,
                   .n_head = (int)H,
                   .group = (int)H,
                   .dk = (int)kvw,
                   .dv = (int)r,
                   .scale = hp->kq_scale};
    fwd_attend(c, &d, T);
    /* att[t][h] = V_h (p.c) */
    head_mm vo = {b->att, H * dv, dv, b->lat, H * r, r, a->v_up, false, T, NULL, 0};
    heads_matmul(c, &vo);
}

/* Keys [K_h c, k_pe] and values V_h c per head; multi-head attention. */
static void naive(penny_context *c, int il, int T) {
    const model_hparams *hp = &c->model->hp;
    const mla_weights *a = &c->model->layers[il].mla;
    const kv_cache *kv = &c->kv;
    fwd_bufs *b = &c->b;
    size_t H = (size_t)hp->n_head, dq = (size_t)hp->head_dim, r = (size_t)hp->kv_lora;
    size_t kvw = r + (size_t)hp->n_rot, dv = (size_t)hp->head_dim_v;
    head_mm kk = {b->k, H * dq, dq, b->kvl, kvw, 0, a->k_up, a->k_up_t, T, NULL, 0};
    heads_matmul(c, &kk);
    copy_heads(b->k + hp->qk_nope, H * dq, dq, b->kvl + r, kvw, 0, T, (int)H, hp->n_rot);
    head_mm vv = {b->v, H * dv, dv, b->kvl, kvw, 0, a->v_up, false, T, NULL, 0};
    heads_matmul(c, &vv);
    fwd_kv_store(c, il, T, b->k, b->v);
    size_t layer = (size_t)il * (size_t)kv->n_ctx;
    attn_desc d = {.q = b->q,
                   .q_tok = H * dq,
                   .k_at = layer * kv->l.k_row,
                   .k_head = kv->l.k_head,
                   .v_at = layer * kv->l.v_row,
                   .v_head = kv->l.v_head,
                   .out = b->att,
                   .out_tok = H * dv,
                   .n_head = (int)H,
                   .group = 1,
                   .dk = (int)dq,
                   .dv = (int)dv,
                   .scale = hp->kq_scale};
    fwd_attend(c, &d, T);
}

void mla_attention(penny_context *c, int il, int T) {
    const model_hparams *hp = &c->model->hp;
    const layer_weights *L = &c->model->layers[il];
    const mla_weights *a = &L->mla;
    fwd_bufs *b = &c->b;
    int kvw = hp->kv_lora + hp->n_rot;
    if (a->q_a.data) {
        fwd_matmul(c, b->lat, &a->q_a, b->xn, T);
        op_rmsnorm(b->lat, b->lat, a->q_a_norm, T, hp->q_lora, hp->eps);
        fwd_matmul(c, b->q, &a->q_b, b->lat, T);
    } else {
        fwd_matmul(c, b->q, &L->wq, b->xn, T);
    }
    fwd_matmul(c, b->kvl, &a->kv_a, b->xn, T);
    for (int t = 0; t < T; t++) {
        float *row = b->kvl + (size_t)t * kvw;
        op_rmsnorm(row, row, a->kv_a_norm, 1, hp->kv_lora, hp->eps);
    }
    fwd_rope(c, b->q + hp->qk_nope, T, hp->n_head, hp->head_dim);
    fwd_rope(c, b->kvl + hp->kv_lora, T, 1, kvw);
    if (c->mla_absorb)
        absorbed(c, il, T);
    else
        naive(c, il, T);
}
