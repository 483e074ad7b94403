/*
 * model.c - parameter layout, initialisation, forward and backward of the
 * trained decoder (see model.h).
 *
 * One forward keeps every activation the backward needs, per layer: the
 * residual stream entering the layer and after attention, both norm outputs
 * and their 1/rms, q/k (rotated) and v, the attention probabilities and
 * output, and the SwiGLU inputs and output. The backward walks the layers in
 * reverse with one residual-gradient buffer: every layer function adds into
 * its input gradient, so the skip connections need no extra code.
 */
#include "train/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "sample/sampler.h"
#include "train/layers.h"

typedef struct tr_acts {
    float *x;                   /* (L+1, N, C) residual entering layer l; x[L] is final */
    float *xmid;                /* (L, N, C) residual after attention */
    float *ln1, *ln2;           /* (L, N, C) norm outputs */
    float *rstd1, *rstd2;       /* (L, N) */
    float *mean1, *mean2;       /* (L, N) LayerNorm means (gpt2) */
    float *q, *atty;            /* (L, N, qd) rotated queries; attention output */
    float *k, *v;               /* (L, N, kd) rotated keys; values */
    float *att;                 /* (L, B, H, T, T) softmax probabilities */
    float *gate, *up, *hid;     /* (L, N, F) */
    float *lnf, *rstdf, *meanf; /* (N, C), (N), (N) */
    float *logits;              /* (N, V); the logits' gradient after a loss forward */
    float *losses;              /* (N) */
    float *tmp, *dx, *dln;      /* (N, C) scratch, residual gradient, norm-input gradient */
    float *dq, *datty;          /* (N, qd) */
    float *dk, *dv;             /* (N, kd) */
    float *dgate, *dup, *dhid;  /* (N, F) */
    float *ascratch;            /* (nth, T) */
} tr_acts;

struct tr_model {
    tr_config cfg;
    int B, T, N, hd, qd, kd;
    pool *pool;
    tr_gemm *gemm;
    size_t n_params;
    float *params, *grads;
    tr_tensor *tensors;
    int n_tensors;
    tr_weights w, g;
    float *rope_cs; /* (T, hd/2, 2) */
    float *act_mem;
    tr_acts a;
};

penny_status tr_config_check(const tr_config *c, penny_error *err) {
    const char *bad = NULL;
    if (c->vocab < 2 || c->vocab > (1 << 24))
        bad = "vocab must be in 2..16777216";
    else if (c->dim < 2 || c->dim > 65536)
        bad = "dim must be in 2..65536";
    else if (c->n_layer < 1 || c->n_layer > 1024)
        bad = "n_layer must be in 1..1024";
    else if (c->n_head < 1 || c->dim % c->n_head)
        bad = "n_head must divide dim";
    else if ((c->dim / c->n_head) % 2)
        bad = "head size (dim / n_head) must be even";
    else if (c->n_kv_head < 1 || c->n_head % c->n_kv_head)
        bad = "n_kv_head must divide n_head";
    else if (c->ffn < 1 || c->ffn > (1 << 20))
        bad = "ffn must be in 1..1048576";
    else if (c->seq_len < 1 || c->seq_len > 65536)
        bad = "seq_len must be in 1..65536";
    else if (!(c->eps > 0) || !(c->rope_base > 0))
        bad = "eps and rope_base must be > 0";
    return bad ? err_set(err, PENNY_ERR_ARG, "model config: %s", bad) : PENNY_OK;
}

/* ---- layout ---- */

static void add_tensor(tr_tensor *ts, int *n, size_t *total, const char *name, int64_t ne0,
                       int64_t ne1) {
    tr_tensor *t = &ts[(*n)++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->n_dims = ne1 > 1 ? 2 : 1;
    t->ne[0] = ne0;
    t->ne[1] = ne1;
    t->off = *total;
    t->decay = t->n_dims == 2;
    *total += (size_t)(ne0 * ne1);
}

size_t tr_layout(const tr_config *c, tr_tensor *ts, int *n) {
    static const char *const llama[] = {
        "attn_norm.weight", "attn_q.weight",      "attn_k.weight",
        "attn_v.weight",    "attn_output.weight", "ffn_norm.weight",
        "ffn_gate.weight",  "ffn_up.weight",      "ffn_down.weight"};
    static const char *const gpt2[] = {"attn_norm.weight", "attn_norm.bias", "attn_q.weight",
                                       "attn_k.weight",    "attn_v.weight",  "attn_output.weight",
                                       "ffn_norm.weight",  "ffn_norm.bias",  "ffn_up.weight",
                                       "ffn_down.weight"};
    bool g = c->arch == TR_ARCH_GPT2;
    int64_t qd = c->dim, kd = (int64_t)c->n_kv_head * (c->dim / c->n_head);
    size_t total = 0;
    *n = 0;
    add_tensor(ts, n, &total, "token_embd.weight", c->dim, c->vocab);
    if (g) add_tensor(ts, n, &total, "position_embd.weight", c->dim, c->seq_len);
    for (int l = 0; l < c->n_layer; l++)
        for (int i = 0; i < (g ? 10 : 9); i++) {
            const char *sfx = g ? gpt2[i] : llama[i];
            int64_t in = c->dim, out = 1; /* norms and biases: (C) */
            if (strstr(sfx, "attn_q")) out = qd;
            if (strstr(sfx, "attn_k") || strstr(sfx, "attn_v")) out = kd;
            if (strstr(sfx, "attn_output")) in = qd, out = c->dim;
            if (strstr(sfx, "ffn_gate") || strstr(sfx, "ffn_up")) out = c->ffn;
            if (strstr(sfx, "ffn_down")) in = c->ffn, out = c->dim;
            char name[40];
            snprintf(name, sizeof name, "blk.%d.%s", l, sfx);
            add_tensor(ts, n, &total, name, in, out);
        }
    add_tensor(ts, n, &total, "output_norm.weight", c->dim, 1);
    if (g) add_tensor(ts, n, &total, "output_norm.bias", c->dim, 1);
    if (!c->tied) add_tensor(ts, n, &total, "output.weight", c->dim, c->vocab);
    return total;
}

/* Points w's fields at the tensors of the flat array base, by name. */
static void bind(const tr_model *m, float *base, tr_weights *w) {
    for (int i = 0; i < m->n_tensors; i++) {
        const tr_tensor *t = &m->tensors[i];
        float *p = base + t->off;
        int l;
        char sfx[40];
        if (sscanf(t->name, "blk.%d.%39s", &l, sfx) == 2) {
            tr_layer_w *L = &w->l[l];
            struct {
                const char *name;
                float **dst;
            } map[] = {{"attn_norm.weight", &L->attn_norm}, {"attn_norm.bias", &L->attn_norm_b},
                       {"attn_q.weight", &L->wq},           {"attn_k.weight", &L->wk},
                       {"attn_v.weight", &L->wv},           {"attn_output.weight", &L->wo},
                       {"ffn_norm.weight", &L->ffn_norm},   {"ffn_norm.bias", &L->ffn_norm_b},
                       {"ffn_gate.weight", &L->wg},         {"ffn_up.weight", &L->wu},
                       {"ffn_down.weight", &L->wd}};
            for (size_t k = 0; k < sizeof map / sizeof map[0]; k++)
                if (!strcmp(sfx, map[k].name)) *map[k].dst = p;
        } else if (!strcmp(t->name, "token_embd.weight")) {
            w->wte = p;
        } else if (!strcmp(t->name, "position_embd.weight")) {
            w->wpe = p;
        } else if (!strcmp(t->name, "output_norm.weight")) {
            w->out_norm = p;
        } else if (!strcmp(t->name, "output_norm.bias")) {
            w->out_norm_b = p;
        } else if (!strcmp(t->name, "output.weight")) {
            w->wout = p;
        }
    }
    if (m->cfg.tied) w->wout = w->wte;
}

/* ---- allocation ---- */

/* Carves the activation buffers out of one block (or sizes it, when mem is NULL). */
static size_t carve(tr_model *m, float *mem) {
    const tr_config *c = &m->cfg;
    size_t L = (size_t)c->n_layer, N = (size_t)m->N, C = (size_t)c->dim, F = (size_t)c->ffn;
    size_t qd = (size_t)m->qd, kd = (size_t)m->kd, nth = m->pool ? (size_t)pool_size(m->pool) : 1;
    size_t off = 0;
    tr_acts *a = &m->a;
    struct {
        float **p;
        size_t n;
    } plan[] = {
        {&a->x, (L + 1) * N * C}, {&a->xmid, L * N * C},
        {&a->ln1, L * N * C},     {&a->ln2, L * N * C},
        {&a->rstd1, L * N},       {&a->rstd2, L * N},
        {&a->mean1, L * N},       {&a->mean2, L * N},
        {&a->meanf, N},           {&a->q, L * N * qd},
        {&a->atty, L * N * qd},   {&a->k, L * N * kd},
        {&a->v, L * N * kd},      {&a->att, L * (size_t)m->B * c->n_head * m->T * m->T},
        {&a->gate, L * N * F},    {&a->up, L * N * F},
        {&a->hid, L * N * F},     {&a->lnf, N * C},
        {&a->rstdf, N},           {&a->logits, N * (size_t)c->vocab},
        {&a->losses, N},          {&a->tmp, N * C},
        {&a->dx, N * C},          {&a->dln, N * C},
        {&a->dq, N * qd},         {&a->datty, N * qd},
        {&a->dk, N * kd},         {&a->dv, N * kd},
        {&a->dgate, N * F},       {&a->dup, N * F},
        {&a->dhid, N * F},        {&a->ascratch, nth * (size_t)m->T},
    };
    for (size_t i = 0; i < sizeof plan / sizeof plan[0]; i++) {
        if (mem) *plan[i].p = mem + off;
        off += (plan[i].n + 15) / 16 * 16; /* keep every buffer 64-byte aligned */
    }
    return off;
}

penny_status tr_model_new(const tr_config *cfg, int B, pool *p, tr_model **out, penny_error *err) {
    *out = NULL;
    penny_status rc = tr_config_check(cfg, err);
    if (rc) return rc;
    if (B < 1 || (double)B * cfg->seq_len > (1 << 24))
        return err_set(err, PENNY_ERR_ARG, "model: batch %d x seq_len %d is out of range", B,
                       cfg->seq_len);
    tr_model *m = calloc(1, sizeof *m);
    if (!m) return err_set(err, PENNY_ERR_NOMEM, "model: out of memory");
    m->cfg = *cfg;
    m->B = B, m->T = cfg->seq_len, m->N = B * cfg->seq_len, m->pool = p;
    m->hd = cfg->dim / cfg->n_head, m->qd = cfg->dim, m->kd = cfg->n_kv_head * m->hd;
    m->tensors = calloc((size_t)TR_MAX_TENSORS(cfg), sizeof *m->tensors);
    m->w.l = calloc((size_t)cfg->n_layer, sizeof *m->w.l);
    m->g.l = calloc((size_t)cfg->n_layer, sizeof *m->g.l);
    if (!m->tensors || !m->w.l || !m->g.l) goto nomem;
    m->n_params = tr_layout(cfg, m->tensors, &m->n_tensors);
    size_t n_act = carve(m, NULL);
    m->params = aligned_alloc(64, (m->n_params * 4 + 63) / 64 * 64);
    m->grads = aligned_alloc(64, (m->n_params * 4 + 63) / 64 * 64);
    m->act_mem = aligned_alloc(64, n_act * 4);
    m->rope_cs = malloc(sizeof(float) * (size_t)m->T * m->hd);
    if (!m->params || !m->grads || !m->act_mem || !m->rope_cs) goto nomem;
    memset(m->params, 0, m->n_params * 4);
    memset(m->grads, 0, m->n_params * 4);
    memset(m->act_mem, 0, n_act * 4);
    carve(m, m->act_mem);
    bind(m, m->params, &m->w);
    bind(m, m->grads, &m->g);
    tr_rope_table(m->rope_cs, m->T, m->hd, cfg->rope_base);
    /* Largest packed left operand: rows of N tokens by the widest of C, F,
     * vocab (forward and input gradients) or the vocab x N transpose of the
     * logits' gradient (output weight gradient). */
    size_t widest = (size_t)(cfg->ffn > cfg->vocab ? cfg->ffn : cfg->vocab);
    if ((size_t)cfg->dim > widest) widest = (size_t)cfg->dim;
    if ((rc = tr_gemm_new(p, &m->gemm, err)) ||
        (rc = tr_gemm_reserve(m->gemm, ((size_t)m->N + 8) * (widest + 8), err))) {
        tr_model_free(m);
        return rc;
    }
    *out = m;
    return PENNY_OK;
nomem:
    tr_model_free(m);
    return err_set(err, PENNY_ERR_NOMEM, "model: out of memory (%zu parameters, batch %d x %d)",
                   m ? m->n_params : 0, B, cfg->seq_len);
}

void tr_model_free(tr_model *m) {
    if (!m) return;
    tr_gemm_free(m->gemm);
    free(m->params);
    free(m->grads);
    free(m->act_mem);
    free(m->rope_cs);
    free(m->tensors);
    free(m->w.l);
    free(m->g.l);
    free(m);
}

bool tr_model_set_bf16(tr_model *m, bool on) { return tr_gemm_set_bf16(m->gemm, on); }
const tr_config *tr_model_config(const tr_model *m) { return &m->cfg; }
int tr_model_batch(const tr_model *m) { return m->B; }
size_t tr_model_n_params(const tr_model *m) { return m->n_params; }
float *tr_model_params(tr_model *m) { return m->params; }
float *tr_model_grads(tr_model *m) { return m->grads; }
const float *tr_model_logits(const tr_model *m) { return m->a.logits; }
const float *tr_model_losses(const tr_model *m) { return m->a.losses; }

const tr_tensor *tr_model_tensors(const tr_model *m, int *n) {
    *n = m->n_tensors;
    return m->tensors;
}

double tr_model_flops_per_token(const tr_model *m) {
    const tr_config *c = &m->cfg;
    double mlp = (c->arch == TR_ARCH_GPT2 ? 2.0 : 3.0) * c->dim * c->ffn;
    double per_layer = (double)c->dim * (2.0 * m->qd + 2.0 * m->kd) + mlp;
    double attn = (double)m->qd * m->T; /* causal: QK^T and AV each average T/2 */
    return 6.0 * (c->n_layer * (per_layer + attn) + (double)c->dim * c->vocab);
}

/* ---- initialisation ---- */

static double normal(rng *r) {
    double u1 = rng_uniform(r), u2 = rng_uniform(r);
    return sqrt(-2.0 * log(1.0 - u1)) * cos(6.283185307179586 * u2);
}

void tr_model_init(tr_model *m, uint64_t seed) {
    rng r;
    rng_seed(&r, seed);
    double proj = 0.02 / sqrt(2.0 * m->cfg.n_layer);
    for (int i = 0; i < m->n_tensors; i++) {
        const tr_tensor *t = &m->tensors[i];
        float *p = m->params + t->off;
        size_t n = (size_t)(t->ne[0] * t->ne[1]);
        bool is_proj = strstr(t->name, "attn_output") || strstr(t->name, "ffn_down");
        float one = strstr(t->name, ".bias") ? 0.0f : 1.0f; /* norm weights 1, biases 0 */
        for (size_t k = 0; k < n; k++)
            p[k] = t->n_dims == 1 ? one : (float)(normal(&r) * (is_proj ? proj : 0.02));
    }
}

/* ---- forward ---- */

#define LAYER(ptr, l, n) ((ptr) + (size_t)(l) * (n))

/* RMSNorm (llama) or LayerNorm (gpt2) over the model's N rows of C. */
static void norm_fwd(tr_model *m, float *out, float *mean, float *rstd, const float *x,
                     const float *w, const float *b) {
    if (m->cfg.arch == TR_ARCH_GPT2)
        tr_layernorm_forward(m->pool, out, mean, rstd, x, w, b, m->N, m->cfg.dim, m->cfg.eps);
    else
        tr_rmsnorm_forward(m->pool, out, rstd, x, w, m->N, m->cfg.dim, m->cfg.eps);
}

static void norm_bwd(tr_model *m, float *dx, float *dw, float *db, const float *dout,
                     const float *x, const float *w, const float *mean, const float *rstd) {
    if (m->cfg.arch == TR_ARCH_GPT2)
        tr_layernorm_backward(m->pool, dx, dw, db, dout, x, w, mean, rstd, m->N, m->cfg.dim);
    else
        tr_rmsnorm_backward(m->pool, dx, dw, dout, x, w, rstd, m->N, m->cfg.dim);
}

static void layer_forward(tr_model *m, int l) {
    const tr_config *c = &m->cfg;
    tr_acts *a = &m->a;
    const tr_layer_w *w = &m->w.l[l];
    int N = m->N, C = c->dim, F = c->ffn, qd = m->qd, kd = m->kd;
    size_t NC = (size_t)N * C, NQ = (size_t)N * qd, NK = (size_t)N * kd, NF = (size_t)N * F;
    float *x = LAYER(a->x, l, NC), *xmid = LAYER(a->xmid, l, NC), *ln1 = LAYER(a->ln1, l, NC);
    float *ln2 = LAYER(a->ln2, l, NC), *q = LAYER(a->q, l, NQ), *k = LAYER(a->k, l, NK);
    float *v = LAYER(a->v, l, NK), *atty = LAYER(a->atty, l, NQ);
    float *gate = LAYER(a->gate, l, NF), *up = LAYER(a->up, l, NF), *hid = LAYER(a->hid, l, NF);
    bool gpt2 = c->arch == TR_ARCH_GPT2;
    norm_fwd(m, ln1, LAYER(a->mean1, l, N), LAYER(a->rstd1, l, N), x, w->attn_norm, w->attn_norm_b);
    tr_matmul_forward(m->gemm, q, ln1, w->wq, N, C, qd);
    tr_matmul_forward(m->gemm, k, ln1, w->wk, N, C, kd);
    tr_matmul_forward(m->gemm, v, ln1, w->wv, N, C, kd);
    if (!gpt2) {
        tr_rope_forward(q, m->rope_cs, m->B, m->T, c->n_head, m->hd);
        tr_rope_forward(k, m->rope_cs, m->B, m->T, c->n_kv_head, m->hd);
    }
    float *att = LAYER(a->att, l, (size_t)m->B * c->n_head * m->T * m->T);
    tr_attention_forward(m->pool, atty, att, q, k, v, m->B, m->T, c->n_head, c->n_kv_head, m->hd);
    tr_matmul_forward(m->gemm, a->tmp, atty, w->wo, N, qd, C);
    for (size_t i = 0; i < NC; i++) xmid[i] = x[i] + a->tmp[i];
    norm_fwd(m, ln2, LAYER(a->mean2, l, N), LAYER(a->rstd2, l, N), xmid, w->ffn_norm,
             w->ffn_norm_b);
    tr_matmul_forward(m->gemm, up, ln2, w->wu, N, C, F);
    if (gpt2) {
        tr_gelu_forward(m->pool, hid, up, (long)NF);
    } else {
        tr_matmul_forward(m->gemm, gate, ln2, w->wg, N, C, F);
        tr_swiglu_forward(m->pool, hid, gate, up, (long)NF);
    }
    tr_matmul_forward(m->gemm, a->tmp, hid, w->wd, N, F, C);
    float *xnext = LAYER(a->x, l + 1, NC);
    for (size_t i = 0; i < NC; i++) xnext[i] = xmid[i] + a->tmp[i];
}

void tr_model_forward(tr_model *m, const int32_t *tokens, const int32_t *targets,
                      const float *weights) {
    const tr_config *c = &m->cfg;
    tr_acts *a = &m->a;
    int N = m->N, C = c->dim;
    tr_embed_forward(a->x, tokens, m->w.wte, N, C);
    if (c->arch == TR_ARCH_GPT2) tr_pos_forward(a->x, m->w.wpe, m->B, m->T, C);
    for (int l = 0; l < c->n_layer; l++) layer_forward(m, l);
    float *xl = LAYER(a->x, c->n_layer, (size_t)N * C);
    norm_fwd(m, a->lnf, a->meanf, a->rstdf, xl, m->w.out_norm, m->w.out_norm_b);
    tr_matmul_forward(m->gemm, a->logits, a->lnf, m->w.wout, N, C, c->vocab);
    if (targets)
        tr_crossentropy_fused(m->pool, a->logits, a->losses, targets, weights, N, c->vocab);
}

/* ---- backward ---- */

void tr_model_zero_grad(tr_model *m) { memset(m->grads, 0, m->n_params * sizeof(float)); }

static void zero(float *p, size_t n) { memset(p, 0, n * sizeof(float)); }

/* a->dx holds dL/d(output of layer l) on entry and dL/d(its input) on exit. */
static void layer_backward(tr_model *m, int l) {
    const tr_config *c = &m->cfg;
    tr_acts *a = &m->a;
    const tr_layer_w *w = &m->w.l[l];
    tr_layer_w *g = &m->g.l[l];
    int N = m->N, C = c->dim, F = c->ffn, qd = m->qd, kd = m->kd;
    size_t NC = (size_t)N * C, NQ = (size_t)N * qd, NK = (size_t)N * kd, NF = (size_t)N * F;
    tr_gemm *G = m->gemm;
    /* feed-forward block */
    zero(a->dhid, NF), zero(a->dgate, NF), zero(a->dup, NF), zero(a->dln, NC);
    tr_matmul_backward(G, a->dhid, g->wd, a->dx, LAYER(a->hid, l, NF), w->wd, N, F, C);
    if (c->arch == TR_ARCH_GPT2) {
        tr_gelu_backward(m->pool, a->dup, a->dhid, LAYER(a->up, l, NF), (long)NF);
    } else {
        tr_swiglu_backward(m->pool, a->dgate, a->dup, a->dhid, LAYER(a->gate, l, NF),
                           LAYER(a->up, l, NF), (long)NF);
        tr_matmul_backward(G, a->dln, g->wg, a->dgate, LAYER(a->ln2, l, NC), w->wg, N, C, F);
    }
    tr_matmul_backward(G, a->dln, g->wu, a->dup, LAYER(a->ln2, l, NC), w->wu, N, C, F);
    norm_bwd(m, a->dx, g->ffn_norm, g->ffn_norm_b, a->dln, LAYER(a->xmid, l, NC), w->ffn_norm,
             LAYER(a->mean2, l, N), LAYER(a->rstd2, l, N));
    /* attention block */
    zero(a->datty, NQ), zero(a->dq, NQ), zero(a->dk, NK), zero(a->dv, NK), zero(a->dln, NC);
    const float *q = LAYER(a->q, l, NQ), *k = LAYER(a->k, l, NK), *v = LAYER(a->v, l, NK);
    const float *ln1 = LAYER(a->ln1, l, NC);
    tr_matmul_backward(G, a->datty, g->wo, a->dx, LAYER(a->atty, l, NQ), w->wo, N, qd, C);
    tr_attention_backward(m->pool, a->dq, a->dk, a->dv, a->ascratch, a->datty,
                          LAYER(a->att, l, (size_t)m->B * c->n_head * m->T * m->T), q, k, v, m->B,
                          m->T, c->n_head, c->n_kv_head, m->hd);
    if (c->arch != TR_ARCH_GPT2) {
        tr_rope_backward(a->dq, m->rope_cs, m->B, m->T, c->n_head, m->hd);
        tr_rope_backward(a->dk, m->rope_cs, m->B, m->T, c->n_kv_head, m->hd);
    }
    tr_matmul_backward(G, a->dln, g->wq, a->dq, ln1, w->wq, N, C, qd);
    tr_matmul_backward(G, a->dln, g->wk, a->dk, ln1, w->wk, N, C, kd);
    tr_matmul_backward(G, a->dln, g->wv, a->dv, ln1, w->wv, N, C, kd);
    norm_bwd(m, a->dx, g->attn_norm, g->attn_norm_b, a->dln, LAYER(a->x, l, NC), w->attn_norm,
             LAYER(a->mean1, l, N), LAYER(a->rstd1, l, N));
}

void tr_model_backward(tr_model *m, const int32_t *tokens) {
    const tr_config *c = &m->cfg;
    tr_acts *a = &m->a;
    int N = m->N, C = c->dim;
    size_t NC = (size_t)N * C;
    zero(a->dln, NC), zero(a->dx, NC);
    tr_matmul_backward(m->gemm, a->dln, m->g.wout, a->logits, a->lnf, m->w.wout, N, C, c->vocab);
    norm_bwd(m, a->dx, m->g.out_norm, m->g.out_norm_b, a->dln, LAYER(a->x, c->n_layer, NC),
             m->w.out_norm, a->meanf, a->rstdf);
    for (int l = c->n_layer - 1; l >= 0; l--) layer_backward(m, l);
    tr_embed_backward(m->g.wte, a->dx, tokens, N, C);
    if (c->arch == TR_ARCH_GPT2) tr_pos_backward(m->g.wpe, a->dx, m->B, m->T, C);
}
