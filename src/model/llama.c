/*
 * llama.c - binds a GGUF file of the Llama family (arch "llama": Llama 2/3,
 * Mistral, TinyLlama, SmolLM, stories) to a penny_model: reads the
 * hyperparameters, checks every tensor's presence, shape and type, and keeps
 * views into the mapping. Nothing here computes; see forward.c.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "kernels/types.h"
#include "model/model.h"

/* Reads "<arch>.<suffix>" as u32; absent keys keep *out when optional. */
static penny_status get_u32(const penny_model *m, const char *arch, const char *suffix, int *out,
                            bool required, penny_error *err) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    uint32_t v;
    penny_status rc = gguf_get_u32(m->gguf, key, &v, err);
    if (rc == PENNY_ERR_RANGE) {
        if (!required) return PENNY_OK;
        return err_set(err, PENNY_ERR_FORMAT, "%s: missing required key %s", gguf_path(m->gguf),
                       key);
    }
    if (rc != PENNY_OK) return rc;
    if (v > (1u << 30))
        return err_set(err, PENNY_ERR_FORMAT, "%s: %s = %u is out of range", gguf_path(m->gguf),
                       key, v);
    *out = (int)v;
    return PENNY_OK;
}

static penny_status get_f32(const penny_model *m, const char *arch, const char *suffix, float *out,
                            penny_error *err) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    penny_status rc = gguf_get_f32(m->gguf, key, out, err);
    return rc == PENNY_ERR_RANGE ? PENNY_OK : rc;
}

static penny_status read_hparams(penny_model *m, const char *arch, penny_error *err) {
    llama_hparams *hp = &m->hp;
    penny_status rc;
    hp->n_ctx_train = 2048;
    hp->rope_base = 10000.0f;
    hp->rope_linear = 1.0f;
    hp->eps = 1e-5f;
    if ((rc = get_u32(m, arch, "embedding_length", &hp->n_embd, true, err)) ||
        (rc = get_u32(m, arch, "block_count", &hp->n_layer, true, err)) ||
        (rc = get_u32(m, arch, "attention.head_count", &hp->n_head, true, err)) ||
        (rc = get_u32(m, arch, "feed_forward_length", &hp->n_ff, true, err)) ||
        (rc = get_u32(m, arch, "context_length", &hp->n_ctx_train, false, err)))
        return rc;
    if (hp->n_head <= 0 || hp->n_embd <= 0 || hp->n_layer <= 0 || hp->n_ff <= 0)
        return err_set(err, PENNY_ERR_FORMAT, "%s: %s hyperparameters must be positive",
                       gguf_path(m->gguf), arch);
    hp->n_head_kv = hp->n_head;
    hp->head_dim = hp->n_embd / hp->n_head;
    if ((rc = get_u32(m, arch, "attention.head_count_kv", &hp->n_head_kv, false, err)) ||
        (rc = get_u32(m, arch, "attention.key_length", &hp->head_dim, false, err)))
        return rc;
    int v_len = hp->head_dim;
    if ((rc = get_u32(m, arch, "attention.value_length", &v_len, false, err))) return rc;
    hp->n_rot = hp->head_dim;
    if ((rc = get_u32(m, arch, "rope.dimension_count", &hp->n_rot, false, err)) ||
        (rc = get_f32(m, arch, "attention.layer_norm_rms_epsilon", &hp->eps, err)) ||
        (rc = get_f32(m, arch, "rope.freq_base", &hp->rope_base, err)))
        return rc;
    if (hp->n_head_kv <= 0 || hp->n_head % hp->n_head_kv != 0)
        return err_set(err, PENNY_ERR_FORMAT, "%s: head_count %d is not a multiple of head_count_kv %d",
                       gguf_path(m->gguf), hp->n_head, hp->n_head_kv);
    if (v_len != hp->head_dim || hp->head_dim <= 0)
        return err_set(err, PENNY_ERR_UNSUPPORTED, "%s: key_length %d != value_length %d",
                       gguf_path(m->gguf), hp->head_dim, v_len);
    if (hp->n_rot <= 0 || hp->n_rot > hp->head_dim || hp->n_rot % 2)
        return err_set(err, PENNY_ERR_FORMAT, "%s: rope.dimension_count %d invalid for head size %d",
                       gguf_path(m->gguf), hp->n_rot, hp->head_dim);
    if (!(hp->eps > 0) || !(hp->rope_base > 0))
        return err_set(err, PENNY_ERR_FORMAT, "%s: rms epsilon and rope.freq_base must be > 0",
                       gguf_path(m->gguf));
    return PENNY_OK;
}

/* Rope scaling: "linear" divides positions by the factor; per-pair factors
 * (Llama 3.1 style) come as the rope_freqs.weight tensor. */
static penny_status read_rope_scaling(penny_model *m, const char *arch, penny_error *err) {
    char key[128];
    snprintf(key, sizeof key, "%s.rope.scaling.type", arch);
    gguf_str type;
    penny_status rc = gguf_get_str(m->gguf, key, &type, err);
    if (rc == PENNY_ERR_RANGE) return PENNY_OK;
    if (rc) return rc;
    if (gguf_str_eq(type, "none")) return PENNY_OK;
    if (gguf_str_eq(type, "linear")) {
        float f = 1.0f;
        if ((rc = get_f32(m, arch, "rope.scaling.factor", &f, err))) return rc;
        if (!(f > 0))
            return err_set(err, PENNY_ERR_FORMAT, "%s: rope.scaling.factor must be > 0",
                           gguf_path(m->gguf));
        m->hp.rope_linear = f;
        return PENNY_OK;
    }
    return err_set(err, PENNY_ERR_UNSUPPORTED, "%s: %s = '%.*s' is not supported",
                   gguf_path(m->gguf), key, (int)(type.len > 40 ? 40 : type.len), type.ptr);
}

/* Finds a tensor and checks its shape (ne0, ne1; ne1 = 0 for 1-D). */
static penny_status find_tensor(const penny_model *m, const char *name, int64_t ne0, int64_t ne1,
                                bool required, const gguf_tensor **out, penny_error *err) {
    const gguf_tensor *t = gguf_find_tensor(m->gguf, name);
    *out = t;
    if (!t) {
        if (!required) return PENNY_OK;
        return err_set(err, PENNY_ERR_FORMAT, "%s: missing tensor '%s'", gguf_path(m->gguf), name);
    }
    int dims = ne1 ? 2 : 1;
    bool ok = t->ne[0] == ne0 && (dims == 1 || t->ne[1] == ne1) && t->ne[2] == 1 && t->ne[3] == 1 &&
              (dims == 2 || t->ne[1] == 1);
    if (!ok)
        return err_set(err, PENNY_ERR_FORMAT,
                       "%s: tensor '%s' has shape [%lld, %lld, %lld, %lld], expected [%lld, %lld]",
                       gguf_path(m->gguf), name, (long long)t->ne[0], (long long)t->ne[1],
                       (long long)t->ne[2], (long long)t->ne[3], (long long)ne0,
                       (long long)(ne1 ? ne1 : 1));
    const type_traits *tt = type_get(t->type);
    if (!tt || !tt->supported)
        return err_set(err, PENNY_ERR_UNSUPPORTED,
                       "%s: tensor '%s' has type %s, which penny cannot compute with yet",
                       gguf_path(m->gguf), name, type_name(t->type));
    return PENNY_OK;
}

static penny_status bind_norm(const penny_model *m, const char *name, const float **out,
                              penny_error *err) {
    const gguf_tensor *t;
    penny_status rc = find_tensor(m, name, m->hp.n_embd, 0, true, &t, err);
    if (rc) return rc;
    if (t->type != TYPE_F32)
        return err_set(err, PENNY_ERR_UNSUPPORTED, "%s: norm tensor '%s' must be F32, not %s",
                       gguf_path(m->gguf), name, type_name(t->type));
    *out = t->data;
    return PENNY_OK;
}

static penny_status bind_weight(const penny_model *m, const char *name, int64_t n_in,
                                int64_t n_out, bool required, weight *w, penny_error *err) {
    const gguf_tensor *t;
    penny_status rc = find_tensor(m, name, n_in, n_out, required, &t, err);
    if (rc || !t) return rc;
    w->data = t->data;
    w->type = t->type;
    w->n_in = n_in;
    w->n_out = n_out;
    w->row_bytes = type_row_size(t->type, n_in);
    return PENNY_OK;
}

static penny_status bind_layer(penny_model *m, int il, penny_error *err) {
    const llama_hparams *hp = &m->hp;
    llama_layer *L = &m->layers[il];
    int64_t q_dim = (int64_t)hp->n_head * hp->head_dim, kv_dim = (int64_t)hp->n_head_kv * hp->head_dim;
    char n[9][64];
    static const char *sfx[9] = {"attn_norm", "attn_q", "attn_k", "attn_v", "attn_output",
                                 "ffn_norm", "ffn_gate", "ffn_up", "ffn_down"};
    for (int i = 0; i < 9; i++) snprintf(n[i], sizeof n[i], "blk.%d.%s.weight", il, sfx[i]);
    penny_status rc;
    if ((rc = bind_norm(m, n[0], &L->attn_norm, err)) ||
        (rc = bind_weight(m, n[1], hp->n_embd, q_dim, true, &L->wq, err)) ||
        (rc = bind_weight(m, n[2], hp->n_embd, kv_dim, true, &L->wk, err)) ||
        (rc = bind_weight(m, n[3], hp->n_embd, kv_dim, true, &L->wv, err)) ||
        (rc = bind_weight(m, n[4], q_dim, hp->n_embd, true, &L->wo, err)) ||
        (rc = bind_norm(m, n[5], &L->ffn_norm, err)) ||
        (rc = bind_weight(m, n[6], hp->n_embd, hp->n_ff, true, &L->w_gate, err)) ||
        (rc = bind_weight(m, n[7], hp->n_embd, hp->n_ff, true, &L->w_up, err)) ||
        (rc = bind_weight(m, n[8], hp->n_ff, hp->n_embd, true, &L->w_down, err)))
        return rc;
    return PENNY_OK;
}

/* Inverse frequency per rotated pair, with linear and per-pair scaling folded in. */
static penny_status make_rope_freqs(penny_model *m, penny_error *err) {
    const llama_hparams *hp = &m->hp;
    int half = hp->n_rot / 2;
    const gguf_tensor *t;
    penny_status rc = find_tensor(m, "rope_freqs.weight", half, 0, false, &t, err);
    if (rc) return rc;
    if (t && t->type != TYPE_F32)
        return err_set(err, PENNY_ERR_UNSUPPORTED, "%s: rope_freqs.weight must be F32",
                       gguf_path(m->gguf));
    m->rope_freqs = malloc(sizeof(float) * (size_t)half);
    if (!m->rope_freqs) return err_set(err, PENNY_ERR_NOMEM, "out of memory");
    const float *factors = t ? t->data : NULL;
    for (int i = 0; i < half; i++) {
        double f = pow((double)hp->rope_base, -2.0 * i / hp->n_rot) / hp->rope_linear;
        if (factors) f /= factors[i];
        m->rope_freqs[i] = (float)f;
    }
    return PENNY_OK;
}

penny_status llama_bind(penny_model *m, penny_error *err) {
    gguf_str arch_s;
    penny_status rc = gguf_get_str(m->gguf, "general.architecture", &arch_s, err);
    if (rc == PENNY_ERR_RANGE)
        return err_set(err, PENNY_ERR_FORMAT, "%s: missing key general.architecture",
                       gguf_path(m->gguf));
    if (rc) return rc;
    char arch[64];
    snprintf(arch, sizeof arch, "%.*s", (int)(arch_s.len < 63 ? arch_s.len : 63), arch_s.ptr);
    if (strcmp(arch, "llama") != 0)
        return err_set(err, PENNY_ERR_UNSUPPORTED, "%s: architecture '%s' is not supported yet",
                       gguf_path(m->gguf), arch);
    if ((rc = read_hparams(m, arch, err)) || (rc = read_rope_scaling(m, arch, err))) return rc;
    llama_hparams *hp = &m->hp;
    const gguf_tensor *emb = gguf_find_tensor(m->gguf, "token_embd.weight");
    if (!emb)
        return err_set(err, PENNY_ERR_FORMAT, "%s: missing tensor 'token_embd.weight'",
                       gguf_path(m->gguf));
    if (emb->ne[1] <= 0 || emb->ne[1] > (1 << 24))
        return err_set(err, PENNY_ERR_FORMAT, "%s: token_embd.weight has %lld rows",
                       gguf_path(m->gguf), (long long)emb->ne[1]);
    hp->n_vocab = (int)emb->ne[1];
    if ((rc = bind_weight(m, "token_embd.weight", hp->n_embd, hp->n_vocab, true, &m->tok_embd,
                          err)) ||
        (rc = bind_norm(m, "output_norm.weight", &m->output_norm, err)) ||
        (rc = bind_weight(m, "output.weight", hp->n_embd, hp->n_vocab, false, &m->output, err)))
        return rc;
    if (!m->output.data) m->output = m->tok_embd;
    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->layers) return err_set(err, PENNY_ERR_NOMEM, "out of memory");
    for (int il = 0; il < hp->n_layer; il++)
        if ((rc = bind_layer(m, il, err))) return rc;
    if ((rc = make_rope_freqs(m, err))) return rc;
    hp->rope_neox = false; /* llama conversions permute q/k into adjacent pairs */
    snprintf(m->desc, sizeof m->desc, "%s, %d layers, width %d, %d heads (%d kv), vocab %d, %s",
             arch, hp->n_layer, hp->n_embd, hp->n_head, hp->n_head_kv, hp->n_vocab,
             type_name(m->layers[0].wq.type));
    return PENNY_OK;
}
