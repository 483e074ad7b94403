/*
 * tool_genmodel.c - writes a small random-weight Llama GGUF file, so the
 * forward pass can be tested on every weight type and hyperparameter variant
 * (GQA/MQA/MHA, partial rope, linear rope scaling, rope_freqs, untied output)
 * without downloading models. The float64 numpy reference
 * (tests/ref_llama.py) reads the same file, so any bytes will do; the values
 * are chosen to keep activations well conditioned: weights of a matrix with
 * n_in inputs have standard deviation 1/sqrt(n_in), norm weights sit near 1.
 * Everything follows from --seed through a xorshift generator. The file is
 * written with penny's own GGUF writer and quantizers (types.h).
 *
 * usage: tool_genmodel OUT.gguf [--type F32|F16|BF16|Q8_0|Q4_0] [--seed N]
 *   [--dim 64] [--layers 2] [--heads 8] [--kv-heads 2] [--head-dim N] [--ff 96]
 *   [--vocab 320] [--ctx 256] [--rope-base 10000] [--rope-dims N]
 *   [--rope-linear FACTOR] [--rope-freqs] [--untied]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/gguf.h"
#include "kernels/types.h"

typedef struct gen_opts {
    const char *out;
    uint32_t type;
    uint64_t seed;
    long dim, layers, heads, kv_heads, head_dim, ff, vocab, ctx, rope_dims;
    double rope_base, rope_linear; /* rope_linear 0: no scaling */
    int rope_freqs, untied;
} gen_opts;

/* Everything the writer points at until save: tensor names and data. */
typedef struct gen_state {
    gguf_writer *w;
    uint64_t rng;
    void *bufs[512];
    char names[512][64];
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
    fprintf(stderr,
            "usage: %s OUT.gguf [--type F32|F16|BF16|Q8_0|Q4_0] [--seed N] [--dim 64]\n"
            "  [--layers 2] [--heads 8] [--kv-heads 2] [--head-dim N] [--ff 96] [--vocab 320]\n"
            "  [--ctx 256] [--rope-base 10000] [--rope-dims N] [--rope-linear FACTOR]\n"
            "  [--rope-freqs] [--untied]\n",
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
    static const char *names[] = {"--dim", "--layers", "--heads", "--kv-heads", "--head-dim",
                                  "--ff",  "--vocab",  "--ctx",   "--rope-dims"};
    long *dst[] = {&o->dim, &o->layers, &o->heads, &o->kv_heads, &o->head_dim,
                   &o->ff,  &o->vocab,  &o->ctx,   &o->rope_dims};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(f, names[i])) return dst[i];
    return NULL;
}

static int parse_flag(gen_opts *o, const char *f, const char *v) {
    long *l = long_flag(o, f);
    if (l) return parse_long(v, l);
    if (!strcmp(f, "--type")) return parse_type(v, &o->type);
    if (!strcmp(f, "--rope-base")) return parse_double(v, &o->rope_base);
    if (!strcmp(f, "--rope-linear")) return parse_double(v, &o->rope_linear);
    if (!strcmp(f, "--seed")) return parse_seed(v, &o->seed);
    return -1;
}

static int parse_args(gen_opts *o, int argc, char **argv) {
    *o = (gen_opts){.type = TYPE_F32,
                    .seed = 1,
                    .dim = 64,
                    .layers = 2,
                    .heads = 8,
                    .kv_heads = 2,
                    .ff = 96,
                    .vocab = 320,
                    .ctx = 256,
                    .rope_base = 10000.0};
    if (argc < 2 || argv[1][0] == '-') return -1;
    o->out = argv[1];
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--rope-freqs"))
            o->rope_freqs = 1;
        else if (!strcmp(argv[i], "--untied"))
            o->untied = 1;
        else if (i + 1 >= argc || parse_flag(o, argv[i], argv[i + 1])) {
            fprintf(stderr, "bad option %s%s%s\n", argv[i], i + 1 < argc ? " " : "",
                    i + 1 < argc ? argv[i + 1] : "");
            return -1;
        } else
            i++;
    }
    if (!o->head_dim && o->heads) o->head_dim = o->dim / o->heads;
    if (!o->rope_dims) o->rope_dims = o->head_dim;
    return 0;
}

/* Shapes the reader and every engine rely on; Q types need whole blocks per row. */
static const char *check_opts(const gen_opts *o) {
    int64_t bs = type_get(o->type)->block_size;
    if (!o->dim || !o->layers || !o->heads || !o->kv_heads || !o->ff || !o->ctx)
        return "sizes must be positive";
    if (o->heads % o->kv_heads) return "--heads must be a multiple of --kv-heads";
    if (o->layers > 50) return "--layers at most 50";
    if (!o->head_dim || o->head_dim % 2) return "head dim must be even and positive";
    if (o->rope_dims % 2 || o->rope_dims > o->head_dim) return "--rope-dims: even, <= head dim";
    if (o->vocab < 260) return "--vocab must be at least 260 (3 special + 256 byte tokens + 1)";
    if (o->dim % bs || o->ff % bs || (o->heads * o->head_dim) % bs)
        return "dim, ff and heads*head_dim must be multiples of the type's block size";
    return NULL;
}

/* ---- tensors ---- */

/* Registers name/data with the writer; data becomes owned by st. */
static int add_tensor(gen_state *st, const char *name, uint32_t type, int n_dims, const int64_t *ne,
                      void *data) {
    if (st->n == (int)(sizeof st->bufs / sizeof st->bufs[0])) return free(data), -1;
    snprintf(st->names[st->n], sizeof st->names[0], "%s", name);
    st->bufs[st->n] = data;
    const char *nm = st->names[st->n++];
    return gguf_writer_add_tensor(st->w, nm, type, n_dims, ne, data) == PENNY_OK ? 0 : -1;
}

/* A (n_out x n_in) matrix of N(0, std^2)-ish values stored as type. */
static int add_matrix(gen_state *st, const char *name, uint32_t type, int64_t n_in, int64_t n_out,
                      double std) {
    size_t n = (size_t)(n_in * n_out);
    float *f = malloc(n * sizeof *f);
    void *q = malloc(type_row_size(type, n_in) * (size_t)n_out);
    if (!f || !q) return free(f), free(q), -1;
    for (size_t i = 0; i < n; i++) f[i] = (float)(std * rng_gauss(&st->rng));
    type_get(type)->from_f32(f, q, (int64_t)n);
    free(f);
    int64_t ne[2] = {n_in, n_out};
    return add_tensor(st, name, type, 2, ne, q);
}

/* A float32 vector; norm weights near 1 (gain), rope_freqs from 1 to 8. */
static int add_vector(gen_state *st, const char *name, int64_t n, int is_freqs) {
    float *f = malloc((size_t)n * sizeof *f);
    if (!f) return -1;
    for (int64_t i = 0; i < n; i++) {
        double t = n > 1 ? (double)i / (double)(n - 1) : 0.0;
        f[i] = is_freqs ? (float)(1.0 + 7.0 * t * t) : (float)(1.0 + 0.1 * rng_gauss(&st->rng));
    }
    return add_tensor(st, name, TYPE_F32, 1, &n, f);
}

static int add_layer(gen_state *st, const gen_opts *o, int l) {
    static const char *names[] = {"attn_q",   "attn_k", "attn_v",  "attn_output",
                                  "ffn_gate", "ffn_up", "ffn_down"};
    int64_t nq = o->heads * o->head_dim, nkv = o->kv_heads * o->head_dim;
    int64_t in[] = {o->dim, o->dim, o->dim, nq, o->dim, o->dim, o->ff};
    int64_t out[] = {nq, nkv, nkv, o->dim, o->ff, o->ff, o->dim};
    char name[64];
    snprintf(name, sizeof name, "blk.%d.attn_norm.weight", l);
    if (add_vector(st, name, o->dim, 0)) return -1;
    snprintf(name, sizeof name, "blk.%d.ffn_norm.weight", l);
    if (add_vector(st, name, o->dim, 0)) return -1;
    for (int i = 0; i < 7; i++) {
        snprintf(name, sizeof name, "blk.%d.%s.weight", l, names[i]);
        if (add_matrix(st, name, o->type, in[i], out[i], 1.0 / sqrt((double)in[i]))) return -1;
    }
    return 0;
}

static int add_tensors(gen_state *st, const gen_opts *o) {
    if (add_matrix(st, "token_embd.weight", o->type, o->dim, o->vocab, 0.25)) return -1;
    if (add_vector(st, "output_norm.weight", o->dim, 0)) return -1;
    if (o->untied &&
        add_matrix(st, "output.weight", o->type, o->dim, o->vocab, 1.0 / sqrt((double)o->dim)))
        return -1;
    if (o->rope_freqs && add_vector(st, "rope_freqs.weight", o->rope_dims / 2, 1)) return -1;
    for (int l = 0; l < o->layers; l++)
        if (add_layer(st, o, l)) return -1;
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

static int set_hparams(gguf_writer *w, const gen_opts *o) {
    penny_status rc = gguf_writer_set_str(w, "general.architecture", "llama");
    if (!rc) rc = gguf_writer_set_str(w, "general.name", "penny-random-llama");
    if (!rc) rc = gguf_writer_set_u32(w, "general.file_type", file_type(o->type));
    if (!rc) rc = gguf_writer_set_u32(w, "llama.vocab_size", (uint32_t)o->vocab);
    if (!rc) rc = gguf_writer_set_u32(w, "llama.context_length", (uint32_t)o->ctx);
    if (!rc) rc = gguf_writer_set_u32(w, "llama.embedding_length", (uint32_t)o->dim);
    if (!rc) rc = gguf_writer_set_u32(w, "llama.block_count", (uint32_t)o->layers);
    if (!rc) rc = gguf_writer_set_u32(w, "llama.feed_forward_length", (uint32_t)o->ff);
    if (!rc) rc = gguf_writer_set_u32(w, "llama.attention.head_count", (uint32_t)o->heads);
    if (!rc) rc = gguf_writer_set_u32(w, "llama.attention.head_count_kv", (uint32_t)o->kv_heads);
    if (!rc) rc = gguf_writer_set_u32(w, "llama.attention.key_length", (uint32_t)o->head_dim);
    if (!rc) rc = gguf_writer_set_u32(w, "llama.attention.value_length", (uint32_t)o->head_dim);
    if (!rc) rc = gguf_writer_set_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    if (!rc) rc = gguf_writer_set_f32(w, "llama.rope.freq_base", (float)o->rope_base);
    if (!rc) rc = gguf_writer_set_u32(w, "llama.rope.dimension_count", (uint32_t)o->rope_dims);
    if (!rc && o->rope_linear > 0) {
        rc = gguf_writer_set_str(w, "llama.rope.scaling.type", "linear");
        if (!rc) rc = gguf_writer_set_f32(w, "llama.rope.scaling.factor", (float)o->rope_linear);
    }
    return rc == PENNY_OK ? 0 : -1;
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
    st.rng = o.seed * 0x9E3779B97F4A7C15ULL + 0x2545F4914F6CDD1DULL;
    if (!st.rng) st.rng = 1;
    int rc = 1;
    if (gguf_writer_new(&st.w, &err)) goto done;
    if (set_hparams(st.w, &o) || set_tokenizer(st.w, o.vocab) || add_tensors(&st, &o)) {
        snprintf(err.message, sizeof err.message, "out of memory building the model");
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
