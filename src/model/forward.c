/*
 * forward.c - the forward pass over a batch of tokens: embedding, the layer
 * loop, the output head, and the blocks every family shares (grouped-query
 * attention, the dense SwiGLU FFN, attention over the cache).
 *
 * For a batch of T tokens each matmul runs once over all T rows, so each
 * weight is read once per batch. A layer is: RMSNorm, attention (GQA here,
 * or latent attention in mla.c), output projection, residual; RMSNorm, FFN
 * (dense here, or experts in moe.c), residual. Attention reads the KV cache
 * (positions 0..n_past+T-1) with a causal mask, in the cache's type
 * (F16 by default, F32 or Q8_0), through the tiled online-softmax kernel
 * of kernels/attn.c; work is split over (tokens, KV head, query heads)
 * items on the model's thread pool.
 */
#include <math.h>
#include <string.h>

#include "kernels/attn.h"
#include "kernels/ops.h"
#include "kernels/types.h"
#include "model/fwd.h"

void fwd_matmul(penny_context *c, float *y, const weight *w, const float *x, int T) {
    (c->invariant ? op_matmul_invariant : op_matmul)(c->model->pool, c->b.mm_scratch, y, w->data,
                                                     w->type, w->row_bytes, x, T, (int)w->n_in,
                                                     (int)w->n_out);
}

/* y[i] = w[i] x for n matrices on the same x: one pass over the pool for
 * one token (op_matmul_group); the batch-invariant path goes matrix by
 * matrix, as it must give the multi-token kernels' results. */
static void fwd_matmul_group(penny_context *c, float *const *y, const weight *const *w, int n,
                             const float *x, int T) {
    if (c->invariant) {
        for (int i = 0; i < n; i++) fwd_matmul(c, y[i], w[i], x, T);
        return;
    }
    op_mm mm[OP_MM_MAX];
    for (int i = 0; i < n; i++)
        mm[i] = (op_mm){y[i], w[i]->data, w[i]->type, w[i]->row_bytes, (int)w[i]->n_out};
    op_matmul_group(c->model->pool, c->b.mm_scratch, mm, n, x, T, (int)w[0]->n_in);
}

void fwd_ffn(penny_context *c, float *y, const ffn_weights *f, const float *x, int T) {
    fwd_bufs *b = &c->b;
    fwd_matmul_group(c, (float *const[]){b->gate, b->up}, (const weight *const[]){&f->gate, &f->up},
                     2, x, T);
    op_swiglu_par(c->model->pool, b->gate, b->gate, b->up, (int64_t)T * f->gate.n_out);
    fwd_matmul(c, y, &f->down, b->gate, T);
}

void fwd_rope(penny_context *c, float *x, int T, int heads, int stride) {
    const penny_model *m = c->model;
    const model_hparams *hp = &m->hp;
    op_rope(x, T, heads, stride, hp->n_rot, c->b.pos, m->rope_freqs, hp->rope_neox);
    if (hp->rope_mscale == 1.0f) return;
    for (long r = 0; r < (long)T * heads; r++)
        for (int i = 0; i < hp->n_rot; i++) x[r * stride + i] *= hp->rope_mscale;
}

/* dim floats x as dim/seg cache segments of seg_bytes each. */
static void store_segments(char *dst, uint32_t type, const float *x, int dim, int seg,
                           size_t seg_bytes) {
    for (int i = 0; i < dim / seg; i++)
        attn_store(dst + (size_t)i * seg_bytes, type, x + (size_t)i * seg, seg);
}

void fwd_kv_store(penny_context *c, int il, int T, const float *k, const float *v) {
    for (int t = 0; t < T; t++) {
        const kv_cache *kv = c->b.tkv[t];
        const kv_layout *l = &kv->l;
        size_t p = (size_t)il * (size_t)kv->n_ctx + (size_t)c->b.pos[t];
        store_segments(kv->k + p * l->k_row, l->type, k + (size_t)t * l->k_dim, l->k_dim, l->k_seg,
                       l->k_head);
        if (l->v_dim)
            store_segments(kv->v + p * l->v_row, l->type, v + (size_t)t * l->v_dim, l->v_dim,
                           l->v_seg, l->v_head);
    }
}

/* ---- attention over the cache ----
 *
 * Work items are (block of tokens, KV head, chunk of that head's query
 * heads): the queries of one item share the KV head and the sequence, so
 * the kernel (kernels/attn.h) converts each tile of cached keys and values
 * once for up to ATTN_QMAX of them - a GQA group times several tokens of a
 * prompt. Items go to threads round-robin: with a causal mask later tokens
 * cost more, and contiguous ranges would leave one thread the expensive end.
 */

typedef struct attn_job {
    penny_context *c;
    const attn_desc *d;
    int n_blocks, n_chunks, chunk; /* chunk: query heads per item */
} attn_job;

static void attn_item(const attn_job *j, long it, float *scratch) {
    const attn_desc *d = j->d;
    const fwd_bufs *b = &j->c->b;
    int n_kv = d->n_head / d->group;
    int blk = (int)(it / ((long)n_kv * j->n_chunks)), rest = (int)(it % ((long)n_kv * j->n_chunks));
    int kvh = rest / j->n_chunks, h0 = kvh * d->group + rest % j->n_chunks * j->chunk;
    int h1 = h0 + j->chunk < (kvh + 1) * d->group ? h0 + j->chunk : (kvh + 1) * d->group;
    const kv_cache *kv = b->tkv[b->blocks[blk]];
    float *out[ATTN_QMAX];
    const float *q[ATTN_QMAX];
    int n_keys[ATTN_QMAX], nq = 0;
    for (int t = b->blocks[blk]; t < b->blocks[blk + 1]; t++)
        for (int h = h0; h < h1; h++, nq++) {
            q[nq] = d->q + (size_t)t * d->q_tok + (size_t)h * d->dk;
            out[nq] = d->out + (size_t)t * d->out_tok + (size_t)h * d->dv;
            n_keys[nq] = b->pos[t] + 1;
        }
    attn_args a = {.out = out,
                   .q = q,
                   .n_keys = n_keys,
                   .nq = nq,
                   .dk = d->dk,
                   .dv = d->dv,
                   .scale = d->scale,
                   .v_in_k = d->v_in_keys,
                   .k = {kv->k + d->k_at + (size_t)kvh * d->k_head, kv->l.k_row, kv->l.type},
                   .v = {d->v_in_keys ? NULL : kv->v + d->v_at + (size_t)kvh * d->v_head,
                         kv->l.v_row, kv->l.type}};
    attn_run(&a, scratch);
}

static void attn_worker(void *arg, int ith, int nth) {
    const attn_job *j = arg;
    long n = (long)j->n_blocks * (j->d->n_head / j->d->group) * j->n_chunks;
    float *scratch = j->c->b.attn + (size_t)ith * j->c->b.attn_per_thread;
    for (long it = ith; it < n; it += nth) attn_item(j, it, scratch);
}

/* Splits the T tokens into blocks of at most `per` consecutive tokens of
 * one sequence (c->b.blocks); returns the count. */
static int make_blocks(fwd_bufs *b, int T, int per) {
    int n = 0;
    for (int t = 0; t < T; t++)
        if (t == 0 || b->tkv[t] != b->tkv[t - 1] || t - b->blocks[n - 1] == per) b->blocks[n++] = t;
    b->blocks[n] = T;
    return n;
}

void fwd_attend(penny_context *c, const attn_desc *d, int T) {
    int nth = pool_size(c->model->pool), n_kv = d->n_head / d->group;
    attn_job job = {c, d, 0, 0, d->group < ATTN_QMAX ? d->group : ATTN_QMAX};
    for (;;) { /* halve the chunk while there are too few items to share */
        job.n_chunks = (d->group + job.chunk - 1) / job.chunk;
        job.n_blocks = make_blocks(&c->b, T, ATTN_QMAX / job.chunk);
        if (job.chunk == 1 || (long)job.n_blocks * n_kv * job.n_chunks >= 2L * nth) break;
        job.chunk = (job.chunk + 1) / 2;
    }
    pool_run(c->model->pool, attn_worker, &job);
}

/* ---- grouped-query attention (llama, qwen) ---- */

static void add_bias(float *x, const float *b, int T, int n) {
    if (!b) return;
    for (int t = 0; t < T; t++)
        for (int i = 0; i < n; i++) x[(size_t)t * n + i] += b[i];
}

/* q, k, v of the batch from c->b.xn, with biases, per-head norms and rope. */
static void gqa_project(penny_context *c, const layer_weights *L, int T) {
    const model_hparams *hp = &c->model->hp;
    fwd_bufs *b = &c->b;
    fwd_matmul_group(c, (float *const[]){b->q, b->k, b->v},
                     (const weight *const[]){&L->wq, &L->wk, &L->wv}, 3, b->xn, T);
    add_bias(b->q, L->bq, T, hp->n_head * hp->head_dim);
    add_bias(b->k, L->bk, T, hp->n_head_kv * hp->head_dim);
    add_bias(b->v, L->bv, T, hp->n_head_kv * hp->head_dim_v);
    if (L->q_norm) {
        op_rmsnorm(b->q, b->q, L->q_norm, T * hp->n_head, hp->head_dim, hp->eps);
        op_rmsnorm(b->k, b->k, L->k_norm, T * hp->n_head_kv, hp->head_dim, hp->eps);
    }
    fwd_rope(c, b->q, T, hp->n_head, hp->head_dim);
    fwd_rope(c, b->k, T, hp->n_head_kv, hp->head_dim);
}

/* c->b.xn -> c->b.att (T, n_head*head_dim_v). */
static void gqa_attention(penny_context *c, int il, int T) {
    const model_hparams *hp = &c->model->hp;
    const kv_cache *kv = &c->kv; /* every sequence's cache has this shape */
    fwd_bufs *b = &c->b;
    gqa_project(c, &c->model->layers[il], T);
    fwd_kv_store(c, il, T, b->k, b->v);
    size_t layer = (size_t)il * (size_t)kv->n_ctx;
    attn_desc d = {.q = b->q,
                   .q_tok = (size_t)hp->n_head * hp->head_dim,
                   .k_at = layer * kv->l.k_row,
                   .k_head = kv->l.k_head,
                   .v_at = layer * kv->l.v_row,
                   .v_head = kv->l.v_head,
                   .out = b->att,
                   .out_tok = (size_t)hp->n_head * hp->head_dim_v,
                   .n_head = hp->n_head,
                   .group = hp->n_head / hp->n_head_kv,
                   .dk = hp->head_dim,
                   .dv = hp->head_dim_v,
                   .scale = hp->kq_scale};
    fwd_attend(c, &d, T);
}

/* ---- layers ---- */

static void add_into(float *x, const float *y, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] += y[i];
}

static void layer_forward(penny_context *c, int il, int T) {
    const penny_model *m = c->model;
    const model_hparams *hp = &m->hp;
    const layer_weights *L = &m->layers[il];
    fwd_bufs *b = &c->b;
    size_t n = (size_t)T * hp->n_embd;
    op_rmsnorm_par(m->pool, b->xn, b->x, L->attn_norm, T, hp->n_embd, hp->eps);
    if (m->arch->mla)
        mla_attention(c, il, T);
    else
        gqa_attention(c, il, T);
    fwd_matmul(c, b->out, &L->wo, b->att, T);
    add_into(b->x, b->out, n);
    op_rmsnorm_par(m->pool, b->xn, b->x, L->ffn_norm, T, hp->n_embd, hp->eps);
    if (L->is_moe)
        moe_ffn(c, b->out, &L->moe, b->xn, T);
    else
        fwd_ffn(c, b->out, &L->ffn, b->xn, T);
    add_into(b->x, b->out, n);
}

/* Embeds the batch's tokens (positions and caches already in c->b) and
 * runs every layer over them. */
static void forward_rows(penny_context *c, const int32_t *tokens, int T) {
    const penny_model *m = c->model;
    const model_hparams *hp = &m->hp;
    const type_traits *et = type_get(m->tok_embd.type);
    for (int t = 0; t < T; t++) {
        const char *row =
            (const char *)m->tok_embd.data + (size_t)tokens[t] * m->tok_embd.row_bytes;
        et->to_f32(row, c->b.x + (size_t)t * hp->n_embd, hp->n_embd);
    }
    for (int il = 0; il < hp->n_layer; il++) layer_forward(c, il, T);
}

/* logits (n, n_vocab) of the n residual rows listed in rows (ascending). */
static void output_rows(penny_context *c, const int *rows, int n, float *logits) {
    const penny_model *m = c->model;
    const model_hparams *hp = &m->hp;
    fwd_bufs *b = &c->b;
    for (int i = 0; i < n; i++)
        op_rmsnorm(b->xn + (size_t)i * hp->n_embd, b->x + (size_t)rows[i] * hp->n_embd,
                   m->output_norm, 1, hp->n_embd, hp->eps);
    fwd_matmul(c, logits, &m->output, b->xn, n);
}

void model_forward(penny_context *c, const int32_t *tokens, int T, bool all_logits, float *logits) {
    const model_hparams *hp = &c->model->hp;
    fwd_bufs *b = &c->b;
    for (int t = 0; t < T; t++) {
        b->pos[t] = c->n_past + t;
        b->tkv[t] = &c->kv;
    }
    forward_rows(c, tokens, T);
    c->n_past += T;
    if (!logits) return;
    int first = all_logits ? 0 : T - 1;
    int n_out = T - first;
    op_rmsnorm(b->xn, b->x + (size_t)first * hp->n_embd, c->model->output_norm, n_out, hp->n_embd,
               hp->eps);
    fwd_matmul(c, logits, &c->model->output, b->xn, n_out);
}

void model_forward_multi(penny_context *const *ctxs, const int32_t *const *tokens, const int *n,
                         int n_seq, int32_t *flat, int *rows, float *logits) {
    penny_context *host = ctxs[0];
    fwd_bufs *b = &host->b;
    int T = 0;
    for (int s = 0; s < n_seq; s++) {
        for (int i = 0; i < n[s]; i++, T++) {
            flat[T] = tokens[s][i];
            b->pos[T] = ctxs[s]->n_past + i;
            b->tkv[T] = &ctxs[s]->kv;
        }
        rows[s] = T - 1;
    }
    forward_rows(host, flat, T);
    for (int s = 0; s < n_seq; s++) ctxs[s]->n_past += n[s];
    output_rows(host, rows, n_seq, logits);
}
