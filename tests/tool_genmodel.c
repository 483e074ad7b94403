/*
 * tool_genmodel.c - writes a small random-weight GGUF model of any
 * architecture penny runs (llama, with or without Mixtral-style experts,
 * qwen2, qwen3, qwen3moe, deepseek2), so the forward pass can be tested on
 * every weight type and hyperparameter variant without downloading models.
 * The float64 numpy references (tests/ref_llama.py, ref_qwen.py,
 * ref_deepseek2.py) read the same file, so any bytes will do; the values
 * keep activations well conditioned: weights of a matrix with n_in inputs
 * have standard deviation 1/sqrt(n_in), norm weights sit near 1, biases near
 * 0. Everything follows from --seed through a xorshift generator. The file
 * is written with penny's own GGUF writer and quantizers (types.h).
 *
 * usage: tool_genmodel OUT.gguf [--arch llama] [--type F32|F16|BF16|Q8_0|Q4_0]
 *   [--seed N] [--dim 64] [--layers 2] [--heads 8] [--kv-heads 2] [--head-dim N]
 *   [--ff 96] [--vocab 320] [--ctx 256] [--rope-base 10000] [--rope-dims N]
 *   [--rope-linear FACTOR] [--rope-freqs] [--untied] [--bias]
 *   experts:  [--experts N --experts-used K] [--ff-exp N] [--shared N]
 *             [--groups G --groups-used g] [--dense-lead N] [--gating 1|2]
 *             [--probs-bias] [--norm-w 0|1] [--w-scale F]
 *             [--route-only K] (bias forces experts < K; the others are NaN, F32 only)
 *   deepseek2: [--q-lora N] [--kv-lora N] [--qk-nope N] [--v-head N] [--legacy-kvb]
 *             (--rope-dims is the rope part, qk_rope)
 *   YaRN:     [--yarn FACTOR] [--yarn-orig N] [--yarn-log-mul F]
 *   for malformed-file tests: [--set-u32 KEY=N] [--set-f32 KEY=F] [--omit-key KEY]
 *             [--drop TENSOR] (each may repeat)
 * The default (llama, no new flags) writes the same bytes as before the
 * other architectures were added, so existing tests keep their weights.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/gguf.h"
#include "kernels/types.h"

enum { MAX_EDITS = 16 };

typedef struct gen_opts {
    const char *out, *arch;
    uint32_t type;
    uint64_t seed;
    long dim, layers, heads, kv_heads, head_dim, ff, vocab, ctx, rope_dims;
    long experts, experts_used, ff_exp, shared, groups, groups_used, dense_lead, gating, norm_w;
    long route_only; /* > 0: exp_probs_b forces experts 0..route_only-1, the others are NaN */
    long q_lora, kv_lora, qk_nope, v_head, yarn_orig;
    double rope_base, rope_linear;      /* rope_linear 0: no scaling */
    double w_scale, yarn, yarn_log_mul; /* 0: key not written */
    int rope_freqs, untied, bias, probs_bias, legacy_kvb;
    const char *set_u32[MAX_EDITS], *set_f32[MAX_EDITS], *omit[MAX_EDITS], *drop[MAX_EDITS];
    int n_set_u32, n_set_f32, n_omit, n_drop;
} gen_opts;

/* Everything the writer points at until save: tensor names and data. */
typedef struct gen_state {
    gguf_writer *w;
    const gen_opts *o;
    uint64_t rng;
    void *bufs[1024];
    char names[1024][64];
    int n;
} gen_state;

/* ---- random numbers ---- */

static uint64_t rng_next(uint64_t *s) {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1DULL;
}

static double rng_unit(uint64_t *s) { return (double)(rng_next(s) >> 11) * 0x1.0p-53; }

/* Sum of four uniforms, rescaled to unit variance: bounded and portable. */
static double rng_gauss(uint64_t *s) {
    double u = rng_unit(s) + rng_unit(s) + rng_unit(s) + rng_unit(s);
    return (u - 2.0) * sqrt(3.0);
}

/* ---- options ---- */

static int usage(const char *argv0) {
    fprintf(
        stderr,
        "usage: %s OUT.gguf [--arch llama|qwen2|qwen3|qwen3moe|deepseek2]\n"
        "  [--type F32|F16|BF16|Q8_0|Q4_0] [--seed N] [--dim 64] [--layers 2] [--heads 8]\n"
        "  [--kv-heads 2] [--head-dim N] [--ff 96] [--vocab 320] [--ctx 256]\n"
        "  [--rope-base 10000] [--rope-dims N] [--rope-linear FACTOR] [--rope-freqs]\n"
        "  [--untied] [--bias] [--experts N --experts-used K] [--ff-exp N] [--shared N]\n"
        "  [--groups G --groups-used g] [--dense-lead N] [--gating 1|2] [--probs-bias]\n"
        "  [--norm-w 0|1] [--w-scale F] [--route-only K] [--q-lora N] [--kv-lora N] [--qk-nope N]\n"
        "  [--v-head N] [--legacy-kvb] [--yarn FACTOR] [--yarn-orig N] [--yarn-log-mul F]\n"
        "  [--set-u32 KEY=N] [--set-f32 KEY=F] [--omit-key KEY] [--drop TENSOR]\n",
        argv0);
    return 2;
}

static int parse_type(const char *s, uint32_t *out) {
    static const uint32_t ids[] = {TYPE_F32, TYPE_F16, TYPE_BF16, TYPE_Q8_0, TYPE_Q4_0};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        if (!strcmp(s, type_name(ids[i]))) return *out = ids[i], 0;
    return -1;
}

static int parse_long(const char *s, long *out) {
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end || v < 0 || v > (1L << 24)) return -1;
    return *out = v, 0;
}

static int parse_seed(const char *s, uint64_t *out) {
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || *end || *s == '-') return -1;
    return *out = (uint64_t)v, 0;
}

static int parse_double(const char *s, double *out) {
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v > 0) || !isfinite(v)) return -1;
    return *out = v, 0;
}

/* Returns the option's target for integer flags, NULL if not one. */
static long *long_flag(gen_opts *o, const char *f) {
    static const char *names[] = {
        "--dim",    "--layers",  "--heads",       "--kv-heads",   "--head-dim",     "--ff",
        "--vocab",  "--ctx",     "--rope-dims",   "--experts",    "--experts-used", "--ff-exp",
        "--shared", "--groups",  "--groups-used", "--dense-lead", "--gating",       "--norm-w",
        "--q-lora", "--kv-lora", "--qk-nope",     "--v-head",     "--yarn-orig",    "--route-only"};
    long *dst[] = {&o->dim,          &o->layers, &o->heads,     &o->kv_heads,  &o->head_dim,
                   &o->ff,           &o->vocab,  &o->ctx,       &o->rope_dims, &o->experts,
                   &o->experts_used, &o->ff_exp, &o->shared,    &o->groups,    &o->groups_used,
                   &o->dense_lead,   &o->gating, &o->norm_w,    &o->q_lora,    &o->kv_lora,
                   &o->qk_nope,      &o->v_head, &o->yarn_orig, &o->route_only};
    _Static_assert(sizeof names / sizeof names[0] == sizeof dst / sizeof dst[0],
                   "one target per flag");
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(f, names[i])) return dst[i];
    return NULL;
}

static double *double_flag(gen_opts *o, const char *f) {
    static const char *names[] = {"--rope-base", "--rope-linear", "--w-scale", "--yarn",
                                  "--yarn-log-mul"};
    double *dst[] = {&o->rope_base, &o->rope_linear, &o->w_scale, &o->yarn, &o->yarn_log_mul};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(f, names[i])) return dst[i];
    return NULL;
}

/* Repeatable string flags: --set-u32, --set-f32, --omit-key, --drop. */
static int list_flag(gen_opts *o, const char *f, const char *v) {
    static const char *names[] = {"--set-u32", "--set-f32", "--omit-key", "--drop"};
    const char **lists[] = {o->set_u32, o->set_f32, o->omit, o->drop};
    int *counts[] = {&o->n_set_u32, &o->n_set_f32, &o->n_omit, &o->n_drop};
    for (size_t i = 0; i < 4; i++) {
        if (strcmp(f, names[i])) continue;
        if (*counts[i] == MAX_EDITS) return -1;
        lists[i][(*counts[i])++] = v;
        return 0;
    }
    return 1;
}

static int parse_flag(gen_opts *o, const char *f, const char *v) {
    long *l = long_flag(o, f);
    if (l) return parse_long(v, l);
    double *d = double_flag(o, f);
    if (d) return parse_double(v, d);
    if (!strcmp(f, "--type")) return parse_type(v, &o->type);
    if (!strcmp(f, "--seed")) return parse_seed(v, &o->seed);
    if (!strcmp(f, "--arch")) return o->arch = v, 0;
    return list_flag(o, f, v) ? -1 : 0;
}

static int *bool_flag(gen_opts *o, const char *f) {
    static const char *names[] = {"--rope-freqs", "--untied", "--bias", "--probs-bias",
                                  "--legacy-kvb"};
    int *dst[] = {&o->rope_freqs, &o->untied, &o->bias, &o->probs_bias, &o->legacy_kvb};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(f, names[i])) return dst[i];
    return NULL;
}

static int is_arch(const gen_opts *o, const char *a) { return !strcmp(o->arch, a); }

static void set_defaults(gen_opts *o) {
    *o = (gen_opts){.arch = "llama",
                    .type = TYPE_F32,
                    .seed = 1,
                    .dim = 64,
                    .layers = 2,
                    .heads = 8,
                    .kv_heads = 2,
                    .ff = 96,
                    .vocab = 320,
                    .ctx = 256,
                    .rope_base = 10000.0,
                    .norm_w = -1};
}

static int parse_args(gen_opts *o, int argc, char **argv) {
    set_defaults(o);
    if (argc < 2 || argv[1][0] == '-') return -1;
    o->out = argv[1];
    for (int i = 2; i < argc; i++) {
        int *b = bool_flag(o, argv[i]);
        if (b)
            *b = 1;
        else if (i + 1 >= argc || parse_flag(o, argv[i], argv[i + 1])) {
            fprintf(stderr, "bad option %s%s%s\n", argv[i], i + 1 < argc ? " " : "",
                    i + 1 < argc ? argv[i + 1] : "");
            return -1;
        } else
            i++;
    }
    if (!o->head_dim && o->heads) o->head_dim = o->dim / o->heads;
    if (is_arch(o, "deepseek2")) o->head_dim = o->qk_nope + o->rope_dims; /* q/k per head */
    if (!o->rope_dims) o->rope_dims = o->head_dim;
    return 0;
}

/* Width of one routed expert. */
static long expert_ff(const gen_opts *o) { return o->ff_exp ? o->ff_exp : o->ff; }

/* Shapes the reader and every engine rely on; Q types need whole blocks per row. */
static const char *check_opts(const gen_opts *o) {
    int64_t bs = type_get(o->type)->block_size;
    if (!is_arch(o, "llama") && !is_arch(o, "qwen2") && !is_arch(o, "qwen3") &&
        !is_arch(o, "qwen3moe") && !is_arch(o, "deepseek2"))
        return "--arch: llama, qwen2, qwen3, qwen3moe or deepseek2";
    if (!o->dim || !o->layers || !o->heads || !o->kv_heads || !o->ff || !o->ctx)
        return "sizes must be positive";
    if (o->heads % o->kv_heads) return "--heads must be a multiple of --kv-heads";
    if (o->layers > 50) return "--layers at most 50";
    if (!o->head_dim || o->head_dim % 2) return "head dim must be even and positive";
    if (o->rope_dims % 2 || o->rope_dims > o->head_dim) return "--rope-dims: even, <= head dim";
    if (o->vocab < 260) return "--vocab must be at least 260 (3 special + 256 byte tokens + 1)";
    if (o->dim % bs || o->ff % bs || (o->heads * o->head_dim) % bs || expert_ff(o) % bs)
        return "dim, ff, ff-exp and heads*head_dim must be multiples of the type's block size";
    if (o->experts && (!o->experts_used || o->experts_used > o->experts))
        return "--experts-used must be in 1..--experts";
    if (o->route_only && (o->route_only < o->experts_used || o->route_only > o->experts ||
                          o->probs_bias || o->type != TYPE_F32))
        return "--route-only K: experts-used <= K <= experts, F32, without --probs-bias";
    if (is_arch(o, "deepseek2") &&
        (!o->kv_lora || !o->rope_dims || !o->qk_nope || !o->v_head || o->kv_lora % bs ||
         o->q_lora % bs || o->qk_nope % bs || (o->heads * o->v_head) % bs))
        return "deepseek2 needs --kv-lora, --qk-nope, --v-head, --rope-dims (and --q-lora) in "
               "whole blocks";
    return NULL;
}

/* ---- tensors ---- */

static int dropped(const gen_opts *o, const char *name) {
    for (int i = 0; i < o->n_drop; i++)
        if (!strcmp(o->drop[i], name)) return 1;
    return 0;
}

/* Registers name/data with the writer; data becomes owned by st. */
static int add_tensor(gen_state *st, const char *name, uint32_t type, int n_dims, const int64_t *ne,
                      void *data) {
    if (st->n == (int)(sizeof st->bufs / sizeof st->bufs[0])) return free(data), -1;
    snprintf(st->names[st->n], sizeof st->names[0], "%s", name);
    st->bufs[st->n] = data;
    const char *nm = st->names[st->n++];
    if (dropped(st->o, name)) return 0;
    return gguf_writer_add_tensor(st->w, nm, type, n_dims, ne, data) == PENNY_OK ? 0 : -1;
}

/* Stores n_mat matrices of n_out rows of n_in floats f as type (3-D when n_mat > 1). */
static int add_floats(gen_state *st, const char *name, uint32_t type, int64_t n_in, int64_t n_out,
                      int64_t n_mat, float *f) {
    void *q = malloc(type_row_size(type, n_in) * (size_t)(n_out * n_mat));
    if (!q) return free(f), -1;
    type_get(type)->from_f32(f, q, n_in * n_out * n_mat);
    free(f);
    int64_t ne[3] = {n_in, n_out, n_mat};
    return add_tensor(st, name, type, n_mat > 1 ? 3 : 2, ne, q);
}

static float *gauss_floats(gen_state *st, size_t n, double std) {
    float *f = malloc(n * sizeof *f);
    if (f)
        for (size_t i = 0; i < n; i++) f[i] = (float)(std * rng_gauss(&st->rng));
    return f;
}

/* n_mat (n_out x n_in) matrices of N(0, std^2)-ish values stored as type. */
static int add_mats(gen_state *st, const char *name, uint32_t type, int64_t n_in, int64_t n_out,
                    int64_t n_mat, double std) {
    float *f = gauss_floats(st, (size_t)(n_in * n_out * n_mat), std);
    return f ? add_floats(st, name, type, n_in, n_out, n_mat, f) : -1;
}

static int add_matrix(gen_state *st, const char *name, uint32_t type, int64_t n_in, int64_t n_out,
                      double std) {
    return add_mats(st, name, type, n_in, n_out, 1, std);
}

/* A float32 vector: norm weights near 1 (kind 0), rope_freqs from 1 to 8
 * (kind 1), biases near 0 (kind 2). */
static int add_vector(gen_state *st, const char *name, int64_t n, int kind) {
    float *f = malloc((size_t)n * sizeof *f);
    if (!f) return -1;
    for (int64_t i = 0; i < n; i++) {
        double t = n > 1 ? (double)i / (double)(n - 1) : 0.0;
        f[i] = kind == 1 ? (float)(1.0 + 7.0 * t * t)
                         : (float)((kind == 0 ? 1.0 : 0.0) + 0.1 * rng_gauss(&st->rng));
    }
    return add_tensor(st, name, TYPE_F32, 1, &n, f);
}

static int add_named(gen_state *st, int l, const char *what, const char *kind, int64_t n_in,
                     int64_t n_out, int64_t n_mat) {
    char name[64];
    snprintf(name, sizeof name, "blk.%d.%s.%s", l, what, kind);
    if (!n_out) return add_vector(st, name, n_in, strcmp(kind, "bias") ? 0 : 2);
    return add_mats(st, name, st->o->type, n_in, n_out, n_mat, 1.0 / sqrt((double)n_in));
}

/* The original llama layer: q, k, v, o, then the dense FFN. */
static int add_llama_mats(gen_state *st, int l, int dense) {
    const gen_opts *o = st->o;
    static const char *names[] = {"attn_q",   "attn_k", "attn_v",  "attn_output",
                                  "ffn_gate", "ffn_up", "ffn_down"};
    int64_t nq = o->heads * o->head_dim, nkv = o->kv_heads * o->head_dim;
    int64_t in[] = {o->dim, o->dim, o->dim, nq, o->dim, o->dim, o->ff};
    int64_t out[] = {nq, nkv, nkv, o->dim, o->ff, o->ff, o->dim};
    for (int i = 0; i < (dense ? 7 : 4); i++)
        if (add_named(st, l, names[i], "weight", in[i], out[i], 1)) return -1;
    return 0;
}

static int add_gqa_extras(gen_state *st, int l) {
    const gen_opts *o = st->o;
    int64_t nq = o->heads * o->head_dim, nkv = o->kv_heads * o->head_dim;
    if (o->bias && (add_named(st, l, "attn_q", "bias", nq, 0, 1) ||
                    add_named(st, l, "attn_k", "bias", nkv, 0, 1) ||
                    add_named(st, l, "attn_v", "bias", nkv, 0, 1)))
        return -1;
    if (!is_arch(o, "qwen3") && !is_arch(o, "qwen3moe")) return 0;
    return add_named(st, l, "attn_q_norm", "weight", o->head_dim, 0, 1) ||
           add_named(st, l, "attn_k_norm", "weight", o->head_dim, 0, 1);
}

/* Per head h: K_h (qk_nope x kv_lora) and V_h (v_head x kv_lora), stored
 * as legacy attn_kv_b or split attn_k_b (K_h transposed) / attn_v_b. */
static int add_kv_up(gen_state *st, int l) {
    const gen_opts *o = st->o;
    int64_t H = o->heads, r = o->kv_lora, nope = o->qk_nope, v = o->v_head, per = nope + v;
    float *f = gauss_floats(st, (size_t)(H * per * r), 1.0 / sqrt((double)r));
    if (!f) return -1;
    char name[64];
    if (o->legacy_kvb) {
        snprintf(name, sizeof name, "blk.%d.attn_kv_b.weight", l);
        return add_floats(st, name, o->type, r, H * per, 1, f);
    }
    float *kt = malloc(sizeof(float) * (size_t)(H * nope * r));
    float *vb = malloc(sizeof(float) * (size_t)(H * v * r));
    if (!kt || !vb) return free(f), free(kt), free(vb), -1;
    for (int64_t h = 0; h < H; h++) {
        const float *kh = f + h * per * r, *vh = kh + nope * r;
        for (int64_t i = 0; i < nope; i++)
            for (int64_t j = 0; j < r; j++) kt[(h * r + j) * nope + i] = kh[i * r + j];
        memcpy(vb + h * v * r, vh, sizeof(float) * (size_t)(v * r));
    }
    free(f);
    snprintf(name, sizeof name, "blk.%d.attn_k_b.weight", l);
    if (add_floats(st, name, o->type, nope, r, H, kt)) return free(vb), -1;
    snprintf(name, sizeof name, "blk.%d.attn_v_b.weight", l);
    return add_floats(st, name, o->type, r, v, H, vb);
}

static int add_mla(gen_state *st, int l) {
    const gen_opts *o = st->o;
    int64_t dq = o->heads * (o->qk_nope + o->rope_dims);
    if (o->q_lora) {
        if (add_named(st, l, "attn_q_a", "weight", o->dim, o->q_lora, 1) ||
            add_named(st, l, "attn_q_a_norm", "weight", o->q_lora, 0, 1) ||
            add_named(st, l, "attn_q_b", "weight", o->q_lora, dq, 1))
            return -1;
    } else if (add_named(st, l, "attn_q", "weight", o->dim, dq, 1))
        return -1;
    if (add_named(st, l, "attn_kv_a_mqa", "weight", o->dim, o->kv_lora + o->rope_dims, 1) ||
        add_named(st, l, "attn_kv_a_norm", "weight", o->kv_lora, 0, 1) || add_kv_up(st, l))
        return -1;
    return add_named(st, l, "attn_output", "weight", o->heads * o->v_head, o->dim, 1);
}

/* --route-only K: a selection bias of +10 for experts below K and -10 for
 * the rest decides the routing whatever the router says (scores are < 1),
 * and the other experts' weights are NaN: any use of them shows. */
static int add_forced_routing(gen_state *st, int l) {
    const gen_opts *o = st->o;
    char name[64];
    int64_t E = o->experts;
    float *b = malloc(sizeof(float) * (size_t)E);
    if (!b) return -1;
    for (int64_t e = 0; e < E; e++) b[e] = e < o->route_only ? 10.0f : -10.0f;
    snprintf(name, sizeof name, "blk.%d.exp_probs_b.bias", l);
    return add_tensor(st, name, TYPE_F32, 1, &E, b);
}

static int add_experts(gen_state *st, int l, const char *what, int64_t n_in, int64_t n_out) {
    const gen_opts *o = st->o;
    char name[64];
    int64_t per = n_in * n_out;
    float *f = gauss_floats(st, (size_t)(per * o->experts), 1.0 / sqrt((double)n_in));
    if (!f) return -1;
    if (o->route_only)
        for (int64_t i = o->route_only * per; i < o->experts * per; i++) f[i] = NAN;
    snprintf(name, sizeof name, "blk.%d.%s.weight", l, what);
    return add_floats(st, name, o->type, n_in, n_out, o->experts, f);
}

static int add_moe(gen_state *st, int l) {
    const gen_opts *o = st->o;
    int64_t E = o->experts, f = expert_ff(o), sh = f * o->shared;
    if (add_named(st, l, "ffn_gate_inp", "weight", o->dim, E, 1) ||
        (o->probs_bias && add_named(st, l, "exp_probs_b", "bias", E, 0, 1)) ||
        (o->route_only && add_forced_routing(st, l)) ||
        add_experts(st, l, "ffn_gate_exps", o->dim, f) ||
        add_experts(st, l, "ffn_up_exps", o->dim, f) ||
        add_experts(st, l, "ffn_down_exps", f, o->dim))
        return -1;
    if (!o->shared) return 0;
    return add_named(st, l, "ffn_gate_shexp", "weight", o->dim, sh, 1) ||
           add_named(st, l, "ffn_up_shexp", "weight", o->dim, sh, 1) ||
           add_named(st, l, "ffn_down_shexp", "weight", sh, o->dim, 1);
}

static int add_layer(gen_state *st, int l) {
    const gen_opts *o = st->o;
    int moe = o->experts && l >= o->dense_lead;
    if (add_named(st, l, "attn_norm", "weight", o->dim, 0, 1) ||
        add_named(st, l, "ffn_norm", "weight", o->dim, 0, 1))
        return -1;
    if (is_arch(o, "deepseek2")) {
        if (add_mla(st, l)) return -1;
        if (!moe && (add_named(st, l, "ffn_gate", "weight", o->dim, o->ff, 1) ||
                     add_named(st, l, "ffn_up", "weight", o->dim, o->ff, 1) ||
                     add_named(st, l, "ffn_down", "weight", o->ff, o->dim, 1)))
            return -1;
    } else if (add_llama_mats(st, l, !moe) || add_gqa_extras(st, l)) {
        return -1;
    }
    return moe ? add_moe(st, l) : 0;
}

static int add_tensors(gen_state *st) {
    const gen_opts *o = st->o;
    if (add_matrix(st, "token_embd.weight", o->type, o->dim, o->vocab, 0.25)) return -1;
    if (add_vector(st, "output_norm.weight", o->dim, 0)) return -1;
    if (o->untied &&
        add_matrix(st, "output.weight", o->type, o->dim, o->vocab, 1.0 / sqrt((double)o->dim)))
        return -1;
    if (o->rope_freqs && add_vector(st, "rope_freqs.weight", o->rope_dims / 2, 1)) return -1;
    for (int l = 0; l < o->layers; l++)
        if (add_layer(st, l)) return -1;
    return 0;
}

/* ---- metadata ---- */

static uint32_t file_type(uint32_t type) {
    switch (type) {
    case TYPE_F16: return 1;
    case TYPE_Q4_0: return 2;
    case TYPE_Q8_0: return 7;
    case TYPE_BF16: return 32;
    default: return 0;
    }
}

/* Key setters for "<arch>.<suffix>" that skip keys named by --omit-key; the
 * first failure sticks in *rc. */
typedef struct meta {
    gguf_writer *w;
    const gen_opts *o;
    penny_status rc;
    char key[128];
} meta;

static const char *meta_key(meta *m, const char *suffix) {
    snprintf(m->key, sizeof m->key, "%s.%s", m->o->arch, suffix);
    for (int i = 0; i < m->o->n_omit; i++)
        if (!strcmp(m->o->omit[i], m->key)) return NULL;
    return m->rc ? NULL : m->key;
}

static void put_u32(meta *m, const char *suffix, long v) {
    const char *k = meta_key(m, suffix);
    if (k) m->rc = gguf_writer_set_u32(m->w, k, (uint32_t)v);
}

static void put_f32(meta *m, const char *suffix, double v) {
    const char *k = meta_key(m, suffix);
    if (k) m->rc = gguf_writer_set_f32(m->w, k, (float)v);
}

static void put_str(meta *m, const char *suffix, const char *v) {
    const char *k = meta_key(m, suffix);
    if (k) m->rc = gguf_writer_set_str(m->w, k, v);
}

static void put_attention(meta *m) {
    const gen_opts *o = m->o;
    if (!is_arch(o, "deepseek2")) {
        put_u32(m, "attention.head_count_kv", o->kv_heads);
        put_u32(m, "attention.key_length", o->head_dim);
        put_u32(m, "attention.value_length", o->head_dim);
        return;
    }
    if (o->legacy_kvb) {
        put_u32(m, "attention.head_count_kv", o->heads);
        put_u32(m, "attention.key_length", o->qk_nope + o->rope_dims);
        put_u32(m, "attention.value_length", o->v_head);
    } else {
        put_u32(m, "attention.head_count_kv", 1);
        put_u32(m, "attention.key_length", o->kv_lora + o->rope_dims);
        put_u32(m, "attention.value_length", o->kv_lora);
        put_u32(m, "attention.key_length_mla", o->qk_nope + o->rope_dims);
        put_u32(m, "attention.value_length_mla", o->v_head);
    }
    if (o->q_lora) put_u32(m, "attention.q_lora_rank", o->q_lora);
    put_u32(m, "attention.kv_lora_rank", o->kv_lora);
}

static void put_experts(meta *m) {
    const gen_opts *o = m->o;
    if (!o->experts) return;
    put_u32(m, "expert_count", o->experts);
    put_u32(m, "expert_used_count", o->experts_used);
    if (o->ff_exp) put_u32(m, "expert_feed_forward_length", o->ff_exp);
    if (o->shared) put_u32(m, "expert_shared_count", o->shared);
    if (o->dense_lead) put_u32(m, "leading_dense_block_count", o->dense_lead);
    if (o->groups) put_u32(m, "expert_group_count", o->groups);
    if (o->groups_used) put_u32(m, "expert_group_used_count", o->groups_used);
    if (o->gating) put_u32(m, "expert_gating_func", o->gating);
    if (o->w_scale > 0) put_f32(m, "expert_weights_scale", o->w_scale);
    const char *k = o->norm_w >= 0 ? meta_key(m, "expert_weights_norm") : NULL;
    if (k) m->rc = gguf_writer_set_bool(m->w, k, o->norm_w != 0);
}

static void put_rope_scaling(meta *m) {
    const gen_opts *o = m->o;
    if (o->rope_linear > 0) {
        put_str(m, "rope.scaling.type", "linear");
        put_f32(m, "rope.scaling.factor", o->rope_linear);
    }
    if (!(o->yarn > 0)) return;
    put_str(m, "rope.scaling.type", "yarn");
    put_f32(m, "rope.scaling.factor", o->yarn);
    put_u32(m, "rope.scaling.original_context_length", o->yarn_orig ? o->yarn_orig : o->ctx);
    if (o->yarn_log_mul > 0) put_f32(m, "rope.scaling.yarn_log_multiplier", o->yarn_log_mul);
}

/* --set-u32 / --set-f32 KEY=VALUE: replace (or add) a key after the rest. */
static int apply_sets(gguf_writer *w, const gen_opts *o) {
    for (int i = 0; i < o->n_set_u32 + o->n_set_f32; i++) {
        int is_u32 = i < o->n_set_u32;
        const char *s = is_u32 ? o->set_u32[i] : o->set_f32[i - o->n_set_u32];
        const char *eq = strchr(s, '=');
        if (!eq || eq == s || eq - s > 120) return -1;
        char key[128];
        snprintf(key, sizeof key, "%.*s", (int)(eq - s), s);
        penny_status rc = is_u32 ? gguf_writer_set_u32(w, key, (uint32_t)strtoul(eq + 1, NULL, 10))
                                 : gguf_writer_set_f32(w, key, strtof(eq + 1, NULL));
        if (rc) return -1;
    }
    return 0;
}

static int set_hparams(gguf_writer *w, const gen_opts *o) {
    char name[64];
    snprintf(name, sizeof name, "penny-random-%s", o->arch);
    penny_status rc = gguf_writer_set_str(w, "general.architecture", o->arch);
    if (!rc) rc = gguf_writer_set_str(w, "general.name", name);
    if (!rc) rc = gguf_writer_set_u32(w, "general.file_type", file_type(o->type));
    meta m = {w, o, rc, ""};
    put_u32(&m, "vocab_size", o->vocab);
    put_u32(&m, "context_length", o->ctx);
    put_u32(&m, "embedding_length", o->dim);
    put_u32(&m, "block_count", o->layers);
    put_u32(&m, "feed_forward_length", o->ff);
    put_u32(&m, "attention.head_count", o->heads);
    put_attention(&m);
    put_f32(&m, "attention.layer_norm_rms_epsilon", 1e-5);
    put_f32(&m, "rope.freq_base", o->rope_base);
    put_u32(&m, "rope.dimension_count", o->rope_dims);
    put_rope_scaling(&m);
    put_experts(&m);
    return m.rc == PENNY_OK ? 0 : -1;
}

/* Filler piece i: a unique letter string (bijective base 26), "▁"-prefixed
 * for even i so the vocabulary holds both word starts and continuations. */
static void filler_piece(long i, char *buf, size_t cap) {
    char rev[16];
    int n = 0;
    for (long k = i + 1; k > 0 && n < 15; k = (k - 1) / 26) rev[n++] = (char)('a' + (k - 1) % 26);
    size_t p = (size_t)snprintf(buf, cap, "%s", i % 2 ? "" : "\xe2\x96\x81");
    while (n > 0 && p + 1 < cap) buf[p++] = rev[--n];
    buf[p] = 0;
}

/* Fills tokens[i] (storage in text, 24 bytes each), scores and types. */
static void make_vocab(long vocab, char *text, const char **tokens, float *scores, int32_t *types) {
    static const char *special[] = {"<unk>", "<s>", "</s>"};
    for (long i = 0; i < vocab; i++) {
        char *t = text + 24 * i;
        tokens[i] = t;
        scores[i] = 0.0f;
        if (i < 3)
            snprintf(t, 24, "%s", special[i]), types[i] = i ? 3 : 2;
        else if (i < 259)
            snprintf(t, 24, "<0x%02X>", (unsigned)(i - 3)), types[i] = 6;
        else
            filler_piece(i - 259, t, 24), types[i] = 1, scores[i] = -(float)(i - 259);
    }
}

static int set_tokenizer(gguf_writer *w, long vocab) {
    char *text = malloc((size_t)vocab * 24);
    const char **tokens = malloc((size_t)vocab * sizeof *tokens);
    float *scores = malloc((size_t)vocab * sizeof *scores);
    int32_t *types = malloc((size_t)vocab * sizeof *types);
    penny_status rc = PENNY_ERR_NOMEM;
    if (text && tokens && scores && types) {
        make_vocab(vocab, text, tokens, scores, types);
        rc = gguf_writer_set_str(w, "tokenizer.ggml.model", "llama");
        if (!rc) rc = gguf_writer_set_str_arr(w, "tokenizer.ggml.tokens", tokens, (uint64_t)vocab);
        if (!rc)
            rc = gguf_writer_set_arr(w, "tokenizer.ggml.scores", GGUF_F32, scores, (uint64_t)vocab);
        if (!rc)
            rc = gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_I32, types,
                                     (uint64_t)vocab);
        if (!rc) rc = gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1);
        if (!rc) rc = gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2);
        if (!rc) rc = gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 0);
        if (!rc) rc = gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", true);
    }
    free(text), free(tokens), free(scores), free(types);
    return rc == PENNY_OK ? 0 : -1;
}

/* ---- main ---- */

int main(int argc, char **argv) {
    gen_opts o;
    if (parse_args(&o, argc, argv)) return usage(argv[0]);
    const char *bad = check_opts(&o);
    if (bad) return fprintf(stderr, "tool_genmodel: %s\n", bad), 2;
    static gen_state st;
    penny_error err = {0};
    st.o = &o;
    st.rng = o.seed * 0x9E3779B97F4A7C15ULL + 0x2545F4914F6CDD1DULL;
    if (!st.rng) st.rng = 1;
    int rc = 1;
    if (gguf_writer_new(&st.w, &err)) goto done;
    if (set_hparams(st.w, &o) || set_tokenizer(st.w, o.vocab) || add_tensors(&st) ||
        apply_sets(st.w, &o)) {
        snprintf(err.message, sizeof err.message,
                 "cannot build the model (out of memory or a bad --set)");
        goto done;
    }
    if (gguf_writer_save(st.w, o.out, &err)) goto done;
    rc = 0;
done:
    if (rc) fprintf(stderr, "tool_genmodel: %s\n", err.message);
    gguf_writer_free(st.w);
    for (int i = 0; i < st.n; i++) free(st.bufs[i]);
    return rc;
}
