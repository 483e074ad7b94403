/*
 * weights.c - binds a GGUF file to a penny_model: reads the hyperparameters
 * (arch.c), then checks every tensor a layer needs for presence, shape and
 * type and keeps views into the mapping. Which tensors are needed follows
 * from the architecture table and the hyperparameters, so one binder serves
 * every family; a mismatch names the tensor and the key that set the shape
 * it should have. Nothing here computes; see forward.c.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "kernels/types.h"
#include "model/model.h"

/* What a tensor should look like; ne2 0 for 1-D/2-D, ne1 0 for 1-D. `why`
 * names the keys that fixed the shape, for the message. */
typedef struct expect {
    int64_t ne0, ne1, ne2;
    const char *why;
} expect;

static penny_status shape_error(const penny_model *m, const char *name, const gguf_tensor *t,
                                expect e, penny_error *err) {
    char want[80];
    int n = snprintf(want, sizeof want, "[%lld", (long long)e.ne0);
    if (e.ne1) n += snprintf(want + n, sizeof want - (size_t)n, ", %lld", (long long)e.ne1);
    if (e.ne2) snprintf(want + n, sizeof want - (size_t)n, ", %lld", (long long)e.ne2);
    return err_set(err, PENNY_ERR_FORMAT,
                   "%s: tensor '%s' has shape [%lld, %lld, %lld, %lld], expected %s] from %s.%s",
                   gguf_path(m->gguf), name, (long long)t->ne[0], (long long)t->ne[1],
                   (long long)t->ne[2], (long long)t->ne[3], want, m->arch->name,
                   e.why ? e.why : "embedding_length and the head counts");
}

/* Finds a tensor and checks its shape and type. */
static penny_status find_tensor(const penny_model *m, const char *name, expect e, bool required,
                                const gguf_tensor **out, penny_error *err) {
    const gguf_tensor *t = gguf_split_find_tensor(m->split, name);
    *out = t;
    if (!t) {
        if (!required) return PENNY_OK;
        return err_set(err, PENNY_ERR_FORMAT, "%s: missing tensor '%s'", gguf_path(m->gguf), name);
    }
    int64_t want[4] = {e.ne0, e.ne1 ? e.ne1 : 1, e.ne2 ? e.ne2 : 1, 1};
    for (int d = 0; d < 4; d++)
        if (t->ne[d] != want[d]) return shape_error(m, name, t, e, err);
    const type_traits *tt = type_get(t->type);
    if (!tt || !tt->supported)
        return err_set(err, PENNY_ERR_UNSUPPORTED,
                       "%s: tensor '%s' has type %s, which penny cannot compute with yet",
                       gguf_path(m->gguf), name, type_name(t->type));
    return PENNY_OK;
}

/* A float32 vector of n (norm weights, biases). */
static penny_status bind_vec(const penny_model *m, const char *name, int64_t n, const char *why,
                             bool required, const float **out, penny_error *err) {
    const gguf_tensor *t;
    penny_status rc = find_tensor(m, name, (expect){n, 0, 0, why}, required, &t, err);
    *out = NULL;
    if (rc || !t) return rc;
    if (t->type != TYPE_F32)
        return err_set(err, PENNY_ERR_UNSUPPORTED, "%s: tensor '%s' must be F32, not %s",
                       gguf_path(m->gguf), name, type_name(t->type));
    *out = t->data;
    return PENNY_OK;
}

/* A stack of n_mat (n_in -> n_out) matrices; n_mat 0 binds a plain one. */
static penny_status bind_mats(const penny_model *m, const char *name, expect e, bool required,
                              weight *w, penny_error *err) {
    const gguf_tensor *t;
    penny_status rc = find_tensor(m, name, e, required, &t, err);
    memset(w, 0, sizeof *w);
    if (rc || !t) return rc;
    *w = (weight){.data = t->data,
                  .type = t->type,
                  .n_in = e.ne0,
                  .n_out = e.ne1,
                  .n_mat = e.ne2 ? e.ne2 : 1,
                  .row_bytes = type_row_size(t->type, e.ne0)};
    w->mat_bytes = w->row_bytes * (size_t)e.ne1;
    return PENNY_OK;
}

static penny_status bind_mat(const penny_model *m, const char *name, int64_t n_in, int64_t n_out,
                             const char *why, bool required, weight *w, penny_error *err) {
    return bind_mats(m, name, (expect){n_in, n_out, 0, why}, required, w, err);
}

/* "blk.<il>.<what>.<kind>" into buf. */
static const char *tname(char *buf, int il, const char *what, const char *kind) {
    snprintf(buf, 96, "blk.%d.%s.%s", il, what, kind);
    return buf;
}

/* ---- attention ---- */

static penny_status bind_gqa(const penny_model *m, int il, layer_weights *L, penny_error *err) {
    const model_hparams *hp = &m->hp;
    int64_t q = (int64_t)hp->n_head * hp->head_dim, k = (int64_t)hp->n_head_kv * hp->head_dim;
    int64_t v = (int64_t)hp->n_head_kv * hp->head_dim_v;
    const char *why = "attention.head_count[_kv] and key/value_length";
    char n[96];
    penny_status rc;
    if ((rc = bind_mat(m, tname(n, il, "attn_q", "weight"), hp->n_embd, q, why, true, &L->wq,
                       err)) ||
        (rc = bind_mat(m, tname(n, il, "attn_k", "weight"), hp->n_embd, k, why, true, &L->wk,
                       err)) ||
        (rc = bind_mat(m, tname(n, il, "attn_v", "weight"), hp->n_embd, v, why, true, &L->wv,
                       err)) ||
        (rc = bind_vec(m, tname(n, il, "attn_q", "bias"), q, why, false, &L->bq, err)) ||
        (rc = bind_vec(m, tname(n, il, "attn_k", "bias"), k, why, false, &L->bk, err)) ||
        (rc = bind_vec(m, tname(n, il, "attn_v", "bias"), v, why, false, &L->bv, err)))
        return rc;
    if (!m->arch->qk_norm) return PENNY_OK;
    const char *kl = "attention.key_length";
    if ((rc = bind_vec(m, tname(n, il, "attn_q_norm", "weight"), hp->head_dim, kl, true, &L->q_norm,
                       err)))
        return rc;
    return bind_vec(m, tname(n, il, "attn_k_norm", "weight"), hp->head_dim, kl, true, &L->k_norm,
                    err);
}

static penny_status bind_mla_q(const penny_model *m, int il, layer_weights *L, penny_error *err) {
    const model_hparams *hp = &m->hp;
    mla_weights *a = &L->mla;
    int64_t q = (int64_t)hp->n_head * hp->head_dim;
    const char *why = "attention.head_count and key_length(_mla)", *r = "attention.q_lora_rank";
    char n[96];
    penny_status rc;
    if (!hp->q_lora)
        return bind_mat(m, tname(n, il, "attn_q", "weight"), hp->n_embd, q, why, true, &L->wq, err);
    if ((rc = bind_mat(m, tname(n, il, "attn_q_a", "weight"), hp->n_embd, hp->q_lora, r, true,
                       &a->q_a, err)) ||
        (rc = bind_vec(m, tname(n, il, "attn_q_a_norm", "weight"), hp->q_lora, r, true,
                       &a->q_a_norm, err)))
        return rc;
    return bind_mat(m, tname(n, il, "attn_q_b", "weight"), hp->q_lora, q, why, true, &a->q_b, err);
}

/* Key/value up-projections: split attn_k_b/attn_v_b (per head stacks), or
 * the legacy attn_kv_b whose rows per head are qk_nope key rows then
 * head_dim_v value rows; both become per-head stacks over the mapping. */
static penny_status bind_mla_kv_up(const penny_model *m, int il, mla_weights *a, penny_error *err) {
    const model_hparams *hp = &m->hp;
    const char *why = "attention.kv_lora_rank, key_length(_mla), value_length(_mla) and head_count";
    char n[96];
    penny_status rc;
    if (gguf_split_find_tensor(m->split, tname(n, il, "attn_k_b", "weight"))) {
        a->k_up_t = true;
        if ((rc = bind_mats(m, n, (expect){hp->qk_nope, hp->kv_lora, hp->n_head, why}, true,
                            &a->k_up, err)))
            return rc;
        return bind_mats(m, tname(n, il, "attn_v_b", "weight"),
                         (expect){hp->kv_lora, hp->head_dim_v, hp->n_head, why}, true, &a->v_up,
                         err);
    }
    int64_t per = hp->qk_nope + hp->head_dim_v;
    weight kv;
    if ((rc = bind_mat(m, tname(n, il, "attn_kv_b", "weight"), hp->kv_lora, per * hp->n_head, why,
                       false, &kv, err)))
        return rc;
    if (!kv.data)
        return err_set(err, PENNY_ERR_FORMAT, "%s: layer %d needs attn_k_b + attn_v_b or attn_kv_b",
                       gguf_path(m->gguf), il);
    a->k_up = kv, a->v_up = kv;
    a->k_up.n_out = hp->qk_nope, a->v_up.n_out = hp->head_dim_v;
    a->k_up.n_mat = a->v_up.n_mat = hp->n_head;
    a->k_up.mat_bytes = a->v_up.mat_bytes = kv.row_bytes * (size_t)per;
    a->v_up.data = (const char *)kv.data + kv.row_bytes * (size_t)hp->qk_nope;
    return PENNY_OK;
}

static penny_status bind_mla(const penny_model *m, int il, layer_weights *L, penny_error *err) {
    const model_hparams *hp = &m->hp;
    mla_weights *a = &L->mla;
    const char *why = "attention.kv_lora_rank and rope.dimension_count";
    char n[96];
    penny_status rc;
    if ((rc = bind_mla_q(m, il, L, err)) ||
        (rc = bind_mat(m, tname(n, il, "attn_kv_a_mqa", "weight"), hp->n_embd,
                       hp->kv_lora + hp->n_rot, why, true, &a->kv_a, err)) ||
        (rc = bind_vec(m, tname(n, il, "attn_kv_a_norm", "weight"), hp->kv_lora,
                       "attention.kv_lora_rank", true, &a->kv_a_norm, err)))
        return rc;
    return bind_mla_kv_up(m, il, a, err);
}

/* ---- feed-forward ---- */

/* gate/up/down named ffn_<part><suffix>; n_mat 0: plain matrices. */
static penny_status bind_ffn(const penny_model *m, int il, const char *suffix, int64_t width,
                             int64_t n_mat, const char *why, ffn_weights *f, penny_error *err) {
    int64_t d = m->hp.n_embd;
    char n[96], part[32];
    penny_status rc;
    snprintf(part, sizeof part, "ffn_gate%s", suffix);
    if ((rc = bind_mats(m, tname(n, il, part, "weight"), (expect){d, width, n_mat, why}, true,
                        &f->gate, err)))
        return rc;
    snprintf(part, sizeof part, "ffn_up%s", suffix);
    if ((rc = bind_mats(m, tname(n, il, part, "weight"), (expect){d, width, n_mat, why}, true,
                        &f->up, err)))
        return rc;
    snprintf(part, sizeof part, "ffn_down%s", suffix);
    return bind_mats(m, tname(n, il, part, "weight"), (expect){width, d, n_mat, why}, true,
                     &f->down, err);
}

static penny_status bind_moe(const penny_model *m, int il, moe_weights *e, penny_error *err) {
    const model_hparams *hp = &m->hp;
    char n[96], why[96];
    penny_status rc;
    snprintf(why, sizeof why, "expert_count and %s",
             m->arch->ff_exp ? "expert_feed_forward_length" : "feed_forward_length");
    if ((rc = bind_mat(m, tname(n, il, "ffn_gate_inp", "weight"), hp->n_embd, hp->n_expert,
                       "expert_count", true, &e->router, err)) ||
        (rc = bind_vec(m, tname(n, il, "exp_probs_b", "bias"), hp->n_expert, "expert_count", false,
                       &e->sel_bias, err)) ||
        (rc = bind_ffn(m, il, "_exps", hp->n_ff_exp, hp->n_expert, why, &e->experts, err)))
        return rc;
    if (!hp->n_expert_shared) return PENNY_OK;
    return bind_ffn(m, il, "_shexp", hp->n_ff_shexp, 0,
                    "expert_shared_count x expert_feed_forward_length", &e->shared, err);
}

static penny_status bind_layer(penny_model *m, int il, penny_error *err) {
    const model_hparams *hp = &m->hp;
    layer_weights *L = &m->layers[il];
    char n[96];
    penny_status rc;
    if ((rc = bind_vec(m, tname(n, il, "attn_norm", "weight"), hp->n_embd, "embedding_length", true,
                       &L->attn_norm, err)) ||
        (rc = m->arch->mla ? bind_mla(m, il, L, err) : bind_gqa(m, il, L, err)) ||
        (rc = bind_mat(m, tname(n, il, "attn_output", "weight"),
                       (int64_t)hp->n_head * hp->head_dim_v, hp->n_embd,
                       "attention.head_count and value_length(_mla)", true, &L->wo, err)) ||
        (rc = bind_vec(m, tname(n, il, "ffn_norm", "weight"), hp->n_embd, "embedding_length", true,
                       &L->ffn_norm, err)))
        return rc;
    L->is_moe = hp->n_expert > 0 && il >= hp->n_layer_dense;
    if (L->is_moe) return bind_moe(m, il, &L->moe, err);
    return bind_ffn(m, il, "", hp->n_ff, 0, "feed_forward_length", &L->ffn, err);
}

/* ---- whole model ---- */

/* Inverse frequency per rotated pair, with scaling and per-pair factors folded in. */
static penny_status make_rope_freqs(penny_model *m, penny_error *err) {
    const model_hparams *hp = &m->hp;
    int half = hp->n_rot / 2;
    const float *factors;
    penny_status rc =
        bind_vec(m, "rope_freqs.weight", half, "rope.dimension_count", false, &factors, err);
    if (rc) return rc;
    m->rope_freqs = malloc(sizeof(float) * (size_t)half);
    if (!m->rope_freqs) return err_set(err, PENNY_ERR_NOMEM, "out of memory");
    for (int i = 0; i < half; i++) {
        double f = arch_rope_freq(hp, i);
        if (factors) f /= factors[i];
        m->rope_freqs[i] = (float)f;
    }
    return PENNY_OK;
}

static penny_status bind_globals(penny_model *m, penny_error *err) {
    model_hparams *hp = &m->hp;
    const gguf_tensor *emb = gguf_split_find_tensor(m->split, "token_embd.weight");
    if (!emb)
        return err_set(err, PENNY_ERR_FORMAT, "%s: missing tensor 'token_embd.weight'",
                       gguf_path(m->gguf));
    if (emb->ne[1] <= 0 || emb->ne[1] > (1 << 24))
        return err_set(err, PENNY_ERR_FORMAT, "%s: token_embd.weight has %lld rows",
                       gguf_path(m->gguf), (long long)emb->ne[1]);
    hp->n_vocab = (int)emb->ne[1];
    penny_status rc;
    if ((rc = bind_mat(m, "token_embd.weight", hp->n_embd, hp->n_vocab, "embedding_length", true,
                       &m->tok_embd, err)) ||
        (rc = bind_vec(m, "output_norm.weight", hp->n_embd, "embedding_length", true,
                       &m->output_norm, err)) ||
        (rc = bind_mat(m, "output.weight", hp->n_embd, hp->n_vocab, "embedding_length", false,
                       &m->output, err)))
        return rc;
    if (!m->output.data) m->output = m->tok_embd;
    return PENNY_OK;
}

/* Total: every tensor in the file. Active: minus, in each expert layer, the
 * experts a token does not use. */
static void count_params(penny_model *m) {
    const model_hparams *hp = &m->hp;
    m->n_params = 0;
    for (int64_t i = 0; i < gguf_split_tensor_count(m->split); i++) {
        const gguf_tensor *t = gguf_split_tensor_at(m->split, i);
        m->n_params += t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
    }
    int64_t per_expert = 3 * (int64_t)hp->n_embd * hp->n_ff_exp;
    int64_t n_moe = hp->n_expert ? hp->n_layer - hp->n_layer_dense : 0;
    m->n_params_active = m->n_params - n_moe * (hp->n_expert - hp->n_expert_used) * per_expert;
}

static void describe(penny_model *m) {
    const model_hparams *hp = &m->hp;
    int n =
        snprintf(m->desc, sizeof m->desc, "%s, %d layers, width %d, %d heads (%d kv), vocab %d, %s",
                 m->arch->name, hp->n_layer, hp->n_embd, hp->n_head, hp->n_head_kv, hp->n_vocab,
                 type_name(m->layers[0].wo.type));
    if (hp->n_expert && n > 0 && (size_t)n < sizeof m->desc)
        snprintf(m->desc + n, sizeof m->desc - (size_t)n, ", %d experts (%d used)", hp->n_expert,
                 hp->n_expert_used);
}

penny_status model_bind(penny_model *m, penny_error *err) {
    penny_status rc;
    if ((rc = arch_read_hparams(m, err)) || (rc = bind_globals(m, err))) return rc;
    m->layers = calloc((size_t)m->hp.n_layer, sizeof *m->layers);
    if (!m->layers) return err_set(err, PENNY_ERR_NOMEM, "out of memory");
    for (int il = 0; il < m->hp.n_layer; il++)
        if ((rc = bind_layer(m, il, err))) return rc;
    if ((rc = make_rope_freqs(m, err))) return rc;
    m->mla_absorb = true;
    count_params(m);
    describe(m);
    return PENNY_OK;
}

void model_kv_dims(const penny_model *m, bool mla_absorb, int *k_dim, int *v_dim) {
    const model_hparams *hp = &m->hp;
    if (!m->arch->mla) {
        *k_dim = hp->n_head_kv * hp->head_dim;
        *v_dim = hp->n_head_kv * hp->head_dim_v;
    } else if (mla_absorb) {
        *k_dim = hp->kv_lora + hp->n_rot; /* latent, then the shared rope key */
        *v_dim = 0;
    } else {
        *k_dim = hp->n_head * hp->head_dim;
        *v_dim = hp->n_head * hp->head_dim_v;
    }
}
