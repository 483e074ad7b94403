/*
 * arch.c - the architectures penny runs and their hyperparameters.
 *
 * Every GGUF family stores the same kinds of facts under "<arch>.<key>"
 * (block_count, attention.head_count, ...); what differs is which optional
 * parts a family has (biases, per-head q/k norms, experts, latent attention)
 * and which rope layout its conversion uses. The table below records those
 * differences, so loading and the forward pass are written once. Everything
 * read here is checked for consistency before any tensor is bound, and each
 * error names the key at fault.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "model/model.h"

/* name, id, rope_neox, qk_norm, mla, moe, ff_exp, norm_w. Rope layouts as the
 * GGUF conversions store q/k: llama and deepseek2 rotate adjacent pairs, the
 * qwen family rotates halves (NeoX). */
static const arch_info g_arches[] = {
    {"llama", ARCH_LLAMA, false, false, false, false, false, true},
    {"qwen2", ARCH_QWEN2, true, false, false, false, false, true},
    {"qwen3", ARCH_QWEN3, true, true, false, false, false, true},
    {"qwen3moe", ARCH_QWEN3MOE, true, true, false, true, true, true},
    {"deepseek2", ARCH_DEEPSEEK2, false, false, true, true, true, false},
};

const arch_info *arch_find(gguf_str name) {
    for (size_t i = 0; i < sizeof g_arches / sizeof g_arches[0]; i++)
        if (gguf_str_eq(name, g_arches[i].name)) return &g_arches[i];
    return NULL;
}

/* ---- typed key access: "<arch>.<suffix>", absent keys keep *out ---- */

typedef struct keys {
    const penny_model *m;
    const char *arch;
    char buf[128]; /* the last key looked up, for messages */
} keys;

static const char *key_name(keys *k, const char *suffix) {
    snprintf(k->buf, sizeof k->buf, "%s.%s", k->arch, suffix);
    return k->buf;
}

static penny_status missing(keys *k, const char *suffix, penny_error *err) {
    return err_set(err, PENNY_ERR_FORMAT, "%s: missing required key %s", gguf_path(k->m->gguf),
                   key_name(k, suffix));
}

static penny_status get_int(keys *k, const char *suffix, int *out, bool required,
                            penny_error *err) {
    uint32_t v;
    penny_status rc = gguf_get_u32(k->m->gguf, key_name(k, suffix), &v, err);
    if (rc == PENNY_ERR_RANGE) return required ? missing(k, suffix, err) : PENNY_OK;
    if (rc) return rc;
    if (v > (1u << 30))
        return err_set(err, PENNY_ERR_FORMAT, "%s: %s = %u is out of range", gguf_path(k->m->gguf),
                       k->buf, v);
    *out = (int)v;
    return PENNY_OK;
}

static penny_status get_float(keys *k, const char *suffix, float *out, penny_error *err) {
    penny_status rc = gguf_get_f32(k->m->gguf, key_name(k, suffix), out, err);
    return rc == PENNY_ERR_RANGE ? PENNY_OK : rc;
}

static penny_status get_flag(keys *k, const char *suffix, bool *out, penny_error *err) {
    penny_status rc = gguf_get_bool(k->m->gguf, key_name(k, suffix), out, err);
    return rc == PENNY_ERR_RANGE ? PENNY_OK : rc;
}

/* Fails naming key `suffix` when cond is false. */
static penny_status need(keys *k, bool cond, const char *suffix, const char *why,
                         penny_error *err) {
    if (cond) return PENNY_OK;
    return err_set(err, PENNY_ERR_FORMAT, "%s: %s: %s", gguf_path(k->m->gguf), key_name(k, suffix),
                   why);
}

/* ---- groups of keys ---- */

static penny_status read_common(keys *k, model_hparams *hp, penny_error *err) {
    penny_status rc;
    hp->n_ctx_train = 2048;
    hp->rope_base = 10000.0f;
    hp->rope_linear = 1.0f;
    hp->rope_mscale = 1.0f;
    hp->eps = 1e-5f;
    if ((rc = get_int(k, "embedding_length", &hp->n_embd, true, err)) ||
        (rc = get_int(k, "block_count", &hp->n_layer, true, err)) ||
        (rc = get_int(k, "attention.head_count", &hp->n_head, true, err)) ||
        (rc = get_int(k, "feed_forward_length", &hp->n_ff, false, err)) ||
        (rc = get_int(k, "context_length", &hp->n_ctx_train, false, err)) ||
        (rc = get_float(k, "attention.layer_norm_rms_epsilon", &hp->eps, err)) ||
        (rc = get_float(k, "rope.freq_base", &hp->rope_base, err)))
        return rc;
    if ((rc = need(k, hp->n_embd > 0, "embedding_length", "must be > 0", err)) ||
        (rc = need(k, hp->n_layer > 0, "block_count", "must be > 0", err)) ||
        (rc = need(k, hp->n_head > 0, "attention.head_count", "must be > 0", err)) ||
        (rc = need(k, hp->eps > 0, "attention.layer_norm_rms_epsilon", "must be > 0", err)) ||
        (rc = need(k, hp->rope_base > 0, "rope.freq_base", "must be > 0", err)))
        return rc;
    hp->n_head_kv = hp->n_head;
    return get_int(k, "attention.head_count_kv", &hp->n_head_kv, false, err);
}

/* Head sizes of grouped-query attention. */
static penny_status read_gqa(keys *k, model_hparams *hp, penny_error *err) {
    penny_status rc;
    hp->head_dim = hp->n_embd / hp->n_head;
    if ((rc = get_int(k, "attention.key_length", &hp->head_dim, false, err))) return rc;
    hp->head_dim_v = hp->head_dim;
    hp->n_rot = hp->head_dim;
    if ((rc = get_int(k, "attention.value_length", &hp->head_dim_v, false, err)) ||
        (rc = get_int(k, "rope.dimension_count", &hp->n_rot, false, err)))
        return rc;
    if ((rc = need(k, hp->n_head_kv > 0 && hp->n_head % hp->n_head_kv == 0,
                   "attention.head_count_kv", "must divide attention.head_count", err)) ||
        (rc = need(k, hp->head_dim > 0, "attention.key_length", "must be > 0", err)) ||
        (rc = need(k, hp->head_dim_v > 0, "attention.value_length", "must be > 0", err)))
        return rc;
    return need(k, hp->n_rot > 0 && hp->n_rot <= hp->head_dim && hp->n_rot % 2 == 0,
                "rope.dimension_count", "must be even and at most the key length", err);
}

/* Multi-head latent attention (deepseek2). Files made for the absorbed
 * path store key_length = kv_lora + rope and value_length = kv_lora with one
 * KV head, and the per-head sizes under *_mla; older ones store the per-head
 * sizes directly (with attn_kv_b). Both describe the same computation. */
static penny_status read_mla(keys *k, model_hparams *hp, penny_error *err) {
    penny_status rc;
    int k_len = 0, v_len = 0, k_mla = 0, v_mla = 0;
    if ((rc = get_int(k, "attention.q_lora_rank", &hp->q_lora, false, err)) ||
        (rc = get_int(k, "attention.kv_lora_rank", &hp->kv_lora, true, err)) ||
        (rc = get_int(k, "rope.dimension_count", &hp->n_rot, true, err)) ||
        (rc = get_int(k, "attention.key_length", &k_len, true, err)) ||
        (rc = get_int(k, "attention.value_length", &v_len, true, err)) ||
        (rc = get_int(k, "attention.key_length_mla", &k_mla, false, err)) ||
        (rc = get_int(k, "attention.value_length_mla", &v_mla, false, err)))
        return rc;
    if ((rc = need(k, hp->kv_lora > 0, "attention.kv_lora_rank", "must be > 0", err)) ||
        (rc = need(k, hp->n_rot > 0 && hp->n_rot % 2 == 0, "rope.dimension_count",
                   "must be even and > 0", err)))
        return rc;
    if (k_mla || v_mla) {
        if ((rc = need(k, k_mla > 0, "attention.key_length_mla",
                       "must be > 0 (with value_length_mla)", err)) ||
            (rc = need(k, v_mla > 0, "attention.value_length_mla",
                       "must be > 0 (with key_length_mla)", err)) ||
            (rc = need(k, k_len == hp->kv_lora + hp->n_rot, "attention.key_length",
                       "must equal kv_lora_rank + rope.dimension_count", err)) ||
            (rc = need(k, v_len == hp->kv_lora, "attention.value_length", "must equal kv_lora_rank",
                       err)) ||
            (rc = need(k, hp->n_head_kv == 1, "attention.head_count_kv", "must be 1", err)))
            return rc;
        k_len = k_mla, v_len = v_mla;
    } else if ((rc = need(k, hp->n_head_kv == hp->n_head, "attention.head_count_kv",
                          "must equal attention.head_count without key_length_mla", err)))
        return rc;
    hp->head_dim = k_len, hp->head_dim_v = v_len;
    hp->qk_nope = k_len - hp->n_rot;
    if ((rc = need(k, hp->qk_nope > 0, "attention.key_length", "must exceed rope.dimension_count",
                   err)) ||
        (rc = need(k, v_len > 0, "attention.value_length", "must be > 0", err)))
        return rc;
    return need(k, hp->q_lora >= 0, "attention.q_lora_rank", "must be >= 0", err);
}

static penny_status read_gating(keys *k, model_hparams *hp, penny_error *err) {
    hp->gating = MOE_GATING_SOFTMAX;
    hp->norm_w = k->m->arch->norm_w;
    hp->w_scale = 1.0f;
    penny_status rc;
    if ((rc = get_int(k, "expert_gating_func", &hp->gating, false, err)) ||
        (rc = get_flag(k, "expert_weights_norm", &hp->norm_w, err)) ||
        (rc = get_float(k, "expert_weights_scale", &hp->w_scale, err)))
        return rc;
    if (hp->gating != MOE_GATING_SOFTMAX && hp->gating != MOE_GATING_SIGMOID)
        return err_set(err, PENNY_ERR_UNSUPPORTED,
                       "%s: %s = %d is not supported (1: softmax, 2: sigmoid)",
                       gguf_path(k->m->gguf), key_name(k, "expert_gating_func"), hp->gating);
    if (hp->w_scale == 0.0f) hp->w_scale = 1.0f; /* 0 is how files say "no scaling" */
    return need(k, isfinite(hp->w_scale), "expert_weights_scale", "must be finite", err);
}

static penny_status check_groups(keys *k, const model_hparams *hp, penny_error *err) {
    if (hp->n_group <= 1) return PENNY_OK;
    penny_status rc;
    int per = hp->n_expert / hp->n_group;
    if ((rc = need(k, hp->n_expert % hp->n_group == 0, "expert_group_count",
                   "must divide expert_count", err)) ||
        (rc = need(k, hp->n_group_used >= 1 && hp->n_group_used <= hp->n_group,
                   "expert_group_used_count", "must be in 1..expert_group_count", err)))
        return rc;
    return need(k, hp->n_expert_used <= hp->n_group_used * per, "expert_used_count",
                "exceeds the experts of expert_group_used_count groups", err);
}

/* Experts: counts, widths, routing. Absent expert_count means dense. */
static penny_status read_moe(keys *k, model_hparams *hp, penny_error *err) {
    penny_status rc;
    const arch_info *a = k->m->arch;
    if ((rc = get_int(k, "expert_count", &hp->n_expert, a->moe, err))) return rc;
    if (hp->n_expert == 0)
        return need(k, !a->moe, "expert_count", "must be > 0 for this architecture", err);
    if ((rc = get_int(k, "expert_used_count", &hp->n_expert_used, true, err)) ||
        (rc = need(k, hp->n_expert_used >= 1 && hp->n_expert_used <= hp->n_expert,
                   "expert_used_count", "must be in 1..expert_count", err)))
        return rc;
    hp->n_ff_exp = hp->n_ff;
    if (a->ff_exp && (rc = get_int(k, "expert_feed_forward_length", &hp->n_ff_exp, true, err)))
        return rc;
    if ((rc = need(k, hp->n_ff_exp > 0,
                   a->ff_exp ? "expert_feed_forward_length" : "feed_forward_length", "must be > 0",
                   err)) ||
        (rc = get_int(k, "expert_shared_count", &hp->n_expert_shared, false, err)) ||
        (rc = get_int(k, "leading_dense_block_count", &hp->n_layer_dense, false, err)) ||
        (rc = get_int(k, "expert_group_count", &hp->n_group, false, err)) ||
        (rc = get_int(k, "expert_group_used_count", &hp->n_group_used, false, err)) ||
        (rc = read_gating(k, hp, err)) || (rc = check_groups(k, hp, err)))
        return rc;
    hp->n_ff_shexp = hp->n_ff_exp * hp->n_expert_shared;
    return need(k, hp->n_layer_dense <= hp->n_layer, "leading_dense_block_count",
                "exceeds block_count", err);
}

/* YaRN (arXiv 2309.00071): per-pair frequencies ramp between interpolated
 * and original ones; logits are sharpened by mscale^2. deepseek2 puts all of
 * mscale^2 into the attention scale (its rope magnitude stays 1); the other
 * families scale the rotated dims of q and k by mscale each. */
static penny_status read_yarn(keys *k, model_hparams *hp, float factor, penny_error *err) {
    penny_status rc;
    float attn_factor = 1.0f;
    hp->yarn_factor = factor;
    hp->yarn_orig_ctx = hp->n_ctx_train;
    hp->yarn_beta_fast = 32.0f;
    hp->yarn_beta_slow = 1.0f;
    if ((rc = get_int(k, "rope.scaling.original_context_length", &hp->yarn_orig_ctx, false, err)) ||
        (rc = get_float(k, "rope.scaling.yarn_beta_fast", &hp->yarn_beta_fast, err)) ||
        (rc = get_float(k, "rope.scaling.yarn_beta_slow", &hp->yarn_beta_slow, err)) ||
        (rc = get_float(k, "rope.scaling.attn_factor", &attn_factor, err)))
        return rc;
    if ((rc = need(k, factor >= 1, "rope.scaling.factor", "must be >= 1 for yarn", err)) ||
        (rc = need(k, hp->yarn_orig_ctx > 0, "rope.scaling.original_context_length", "must be > 0",
                   err)) ||
        (rc = need(k, hp->yarn_beta_fast > 0 && hp->yarn_beta_slow > 0,
                   "rope.scaling.yarn_beta_fast", "yarn betas must be > 0", err)))
        return rc;
    if (attn_factor != 1.0f)
        return err_set(err, PENNY_ERR_UNSUPPORTED, "%s: %s other than 1 is not supported",
                       gguf_path(k->m->gguf), key_name(k, "rope.scaling.attn_factor"));
    if (!k->m->arch->mla) {
        hp->rope_mscale = (float)(1.0 + 0.1 * log((double)factor));
        return PENNY_OK;
    }
    rc = gguf_get_f32(k->m->gguf, key_name(k, "rope.scaling.yarn_log_multiplier"),
                      &hp->yarn_log_mul, err);
    if (rc == PENNY_ERR_RANGE) return missing(k, "rope.scaling.yarn_log_multiplier", err);
    return rc;
}

/* Rope scaling: "linear" divides positions by the factor, "yarn" extends
 * the context (above); per-pair factors (Llama 3.1) come as rope_freqs.weight. */
static penny_status read_rope_scaling(keys *k, model_hparams *hp, penny_error *err) {
    gguf_str type;
    penny_status rc = gguf_get_str(k->m->gguf, key_name(k, "rope.scaling.type"), &type, err);
    if (rc == PENNY_ERR_RANGE) return PENNY_OK;
    if (rc) return rc;
    if (gguf_str_eq(type, "none")) return PENNY_OK;
    float f = 1.0f;
    if ((rc = get_float(k, "rope.scaling.factor", &f, err)) ||
        (rc = need(k, f > 0 && isfinite(f), "rope.scaling.factor", "must be > 0", err)))
        return rc;
    if (gguf_str_eq(type, "linear")) {
        hp->rope_linear = f;
        return PENNY_OK;
    }
    if (gguf_str_eq(type, "yarn")) return read_yarn(k, hp, f, err);
    return err_set(err, PENNY_ERR_UNSUPPORTED, "%s: %s = '%.*s' is not supported",
                   gguf_path(k->m->gguf), key_name(k, "rope.scaling.type"),
                   (int)(type.len > 40 ? 40 : type.len), type.ptr);
}

/* The logit scale: 1/sqrt(key length), times mscale^2 for deepseek2 YaRN. */
static void set_kq_scale(const arch_info *a, model_hparams *hp) {
    hp->kq_scale = 1.0f / sqrtf((float)hp->head_dim);
    if (a->mla && hp->yarn_factor > 1) {
        double ms = 1.0 + (double)hp->yarn_log_mul * log((double)hp->yarn_factor);
        hp->kq_scale = (float)(ms * ms / sqrt((double)hp->head_dim));
    }
}

static penny_status read_arch(penny_model *m, char *name, size_t cap, penny_error *err) {
    gguf_str s;
    penny_status rc = gguf_get_str(m->gguf, "general.architecture", &s, err);
    if (rc == PENNY_ERR_RANGE)
        return err_set(err, PENNY_ERR_FORMAT, "%s: missing key general.architecture",
                       gguf_path(m->gguf));
    if (rc) return rc;
    snprintf(name, cap, "%.*s", (int)(s.len < cap - 1 ? s.len : cap - 1), s.ptr);
    m->arch = arch_find(s);
    if (!m->arch)
        return err_set(err, PENNY_ERR_UNSUPPORTED,
                       "%s: general.architecture '%s' is not supported (penny runs llama, qwen2, "
                       "qwen3, qwen3moe, deepseek2)",
                       gguf_path(m->gguf), name);
    return PENNY_OK;
}

penny_status arch_read_hparams(penny_model *m, penny_error *err) {
    char name[64];
    penny_status rc = read_arch(m, name, sizeof name, err);
    if (rc) return rc;
    keys k = {.m = m, .arch = m->arch->name};
    model_hparams *hp = &m->hp;
    memset(hp, 0, sizeof *hp);
    hp->rope_neox = m->arch->rope_neox;
    if ((rc = read_common(&k, hp, err)) ||
        (rc = m->arch->mla ? read_mla(&k, hp, err) : read_gqa(&k, hp, err)) ||
        (rc = read_moe(&k, hp, err)) || (rc = read_rope_scaling(&k, hp, err)))
        return rc;
    bool dense = hp->n_expert == 0 || hp->n_layer_dense > 0;
    if (dense &&
        (rc = need(&k, hp->n_ff > 0, "feed_forward_length", "must be > 0 (dense layers)", err)))
        return rc;
    set_kq_scale(m->arch, hp);
    return PENNY_OK;
}

/* YaRN: the pair index below which frequencies complete more than n_turns
 * rotations over the original context (those are kept as they are). */
static double yarn_corr_dim(const model_hparams *hp, double n_turns) {
    return hp->n_rot * log(hp->yarn_orig_ctx / (n_turns * 2.0 * M_PI)) /
           (2.0 * log((double)hp->rope_base));
}

double arch_rope_freq(const model_hparams *hp, int i) {
    double f = pow((double)hp->rope_base, -2.0 * i / hp->n_rot);
    if (!(hp->yarn_factor > 0)) return f / hp->rope_linear;
    double lo = floor(yarn_corr_dim(hp, hp->yarn_beta_fast));
    double hi = ceil(yarn_corr_dim(hp, hp->yarn_beta_slow));
    if (lo < 0) lo = 0;
    if (hi > hp->n_rot - 1) hi = hp->n_rot - 1;
    double ramp = (i - lo) / (hi - lo > 0.001 ? hi - lo : 0.001);
    ramp = ramp < 0 ? 0 : ramp > 1 ? 1 : ramp;
    /* ramp 0: high-frequency pairs keep f; ramp 1: low ones are interpolated */
    return f / hp->yarn_factor * ramp + f * (1.0 - ramp);
}
