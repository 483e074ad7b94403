/*
 * test_train_model.c - the whole training model: its backward against
 * central differences of its own forward (a few parameters of every
 * tensor, tied and untied embeddings, grouped-query attention, the Llama
 * model and the GPT-2-style baseline), results
 * identical bit for bit with one thread and with two, and AdamW driving the
 * loss of a fixed batch down.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "train/model.h"
#include "train/optim.h"

static tr_config tiny(bool tied) {
    tr_config c = {.vocab = 13,
                   .dim = 8,
                   .n_layer = 2,
                   .n_head = 2,
                   .n_kv_head = 1,
                   .ffn = 12,
                   .seq_len = 5,
                   .tied = tied,
                   .eps = 1e-5f,
                   .rope_base = 10000.0f};
    return c;
}

static void fill_batch(int32_t *tok, int32_t *tgt, float *w, int N, int V) {
    for (int n = 0; n < N; n++) {
        tok[n] = (n * 7 + 3) % V;
        tgt[n] = (n * 5 + 1) % V;
        w[n] = n % 4 == 0 ? 0.0f : 1.0f / N; /* some tokens masked out */
    }
}

static double batch_loss(tr_model *m, const int32_t *tok, const int32_t *tgt, const float *w,
                         int N) {
    tr_model_forward(m, tok, tgt, w);
    const float *l = tr_model_losses(m);
    double s = 0;
    for (int n = 0; n < N; n++) s += (double)w[n] * l[n];
    return s;
}

static void grad_check(bool tied, int arch) {
    tr_config c = tiny(tied);
    c.arch = arch;
    int B = 2, N = B * c.seq_len;
    tr_model *m;
    CHECK(tr_model_new(&c, B, NULL, &m, NULL) == PENNY_OK);
    tr_model_init(m, 42);
    float *p = tr_model_params(m), *g = tr_model_grads(m);
    size_t np = tr_model_n_params(m);
    for (size_t i = 0; i < np; i++) p[i] *= 5.0f; /* larger weights: gradients well above noise */
    int32_t tok[10], tgt[10];
    float w[10];
    fill_batch(tok, tgt, w, N, c.vocab);
    tr_model_zero_grad(m);
    batch_loss(m, tok, tgt, w, N);
    tr_model_backward(m, tok);
    int nt;
    const tr_tensor *t = tr_model_tensors(m, &nt);
    float *analytic = malloc(np * sizeof *analytic);
    memcpy(analytic, g, np * sizeof *g);
    for (int i = 0; i < nt; i++) {
        size_t n = (size_t)(t[i].ne[0] * t[i].ne[1]);
        double worst = 0, scale = 1e-3;
        for (int s = 0; s < 6; s++) {
            size_t k = t[i].off + (size_t)(s * 7919) % n;
            float x0 = p[k];
            double h = 2e-3;
            p[k] = x0 + (float)h;
            double lp = batch_loss(m, tok, tgt, w, N);
            p[k] = x0 - (float)h;
            double lm = batch_loss(m, tok, tgt, w, N);
            p[k] = x0;
            double num = (lp - lm) / (2 * h);
            worst = fmax(worst, fabs(num - analytic[k]));
            scale = fmax(scale, fabs(num));
        }
        CHECKF(worst <= 0.03 * scale, "%s (tied %d, arch %d): gradient error %g at scale %g",
               t[i].name, tied, arch, worst, scale);
    }
    free(analytic);
    tr_model_free(m);
}

/* Same logits and gradients with no pool and with a pool of two. */
static void thread_independence(void) {
    tr_config c = {.vocab = 300,
                   .dim = 64,
                   .n_layer = 2,
                   .n_head = 4,
                   .n_kv_head = 2,
                   .ffn = 160,
                   .seq_len = 33,
                   .eps = 1e-5f,
                   .rope_base = 10000.0f};
    pool *p;
    CHECK(pool_new(2, &p, NULL) == PENNY_OK);
    tr_model *m1, *m2;
    CHECK(tr_model_new(&c, 3, NULL, &m1, NULL) == PENNY_OK);
    CHECK(tr_model_new(&c, 3, p, &m2, NULL) == PENNY_OK);
    tr_model_init(m1, 7);
    tr_model_init(m2, 7);
    int N = 3 * 33;
    int32_t tok[99], tgt[99];
    float w[99];
    fill_batch(tok, tgt, w, N, c.vocab);
    tr_model_zero_grad(m1);
    tr_model_zero_grad(m2);
    tr_model_forward(m1, tok, tgt, w);
    tr_model_forward(m2, tok, tgt, w);
    tr_model_backward(m1, tok);
    tr_model_backward(m2, tok);
    size_t np = tr_model_n_params(m1);
    CHECK(memcmp(tr_model_losses(m1), tr_model_losses(m2), sizeof(float) * N) == 0);
    CHECK(memcmp(tr_model_grads(m1), tr_model_grads(m2), sizeof(float) * np) == 0);
    tr_model_free(m1);
    tr_model_free(m2);
    pool_free(p);
}

static void overfit(void) {
    tr_config c = tiny(false);
    c.dim = 16, c.ffn = 32, c.vocab = 20, c.seq_len = 8;
    tr_model *m;
    tr_optim *o;
    CHECK(tr_model_new(&c, 2, NULL, &m, NULL) == PENNY_OK);
    CHECK(tr_optim_new(tr_model_n_params(m), NULL, &o, NULL) == PENNY_OK);
    tr_model_init(m, 1);
    int N = 16, nt;
    int32_t tok[16], tgt[16];
    float w[16];
    fill_batch(tok, tgt, w, N, c.vocab);
    for (int n = 0; n < N; n++) w[n] = 1.0f / N;
    tr_adamw_params hp = {0.9f, 0.95f, 1e-8f, 0.0f};
    const tr_tensor *t = tr_model_tensors(m, &nt);
    double first = 0, last = 0;
    for (int step = 1; step <= 150; step++) {
        tr_model_zero_grad(m);
        last = batch_loss(m, tok, tgt, w, N);
        if (step == 1) first = last;
        tr_model_backward(m, tok);
        tr_optim_step(o, tr_model_params(m), tr_model_grads(m), t, nt, &hp, 1e-2f, step, 1.0f);
    }
    CHECKF(fabs(first - log(20.0)) < 0.05, "initial loss %g, expected about ln 20", first);
    CHECKF(last < 0.05, "loss after 150 steps on one batch: %g (from %g)", last, first);
    tr_optim_free(o);
    tr_model_free(m);
}

/* The vector AdamW update gives the scalar one's bits (resume and MPI rely
 * on every path being a pure function of its inputs). */
static void adamw_paths(void) {
    size_t n = 1000;
    tr_tensor t[2] = {{.name = "a", .n_dims = 2, .ne = {37, 20}, .off = 0, .decay = true},
                      {.name = "b", .n_dims = 1, .ne = {260, 1}, .off = 740, .decay = false}};
    float *p[2], *g = malloc(n * sizeof *g);
    tr_optim *o[2];
    for (size_t i = 0; i < n; i++) g[i] = (float)sin((double)i) * 1e-2f;
    for (int k = 0; k < 2; k++) {
        CHECK(tr_optim_new(n, NULL, &o[k], NULL) == PENNY_OK);
        p[k] = malloc(n * sizeof(float));
        for (size_t i = 0; i < n; i++) p[k][i] = (float)cos((double)i);
    }
    o[1]->vec = false;
    tr_adamw_params hp = {0.9f, 0.95f, 1e-8f, 0.1f};
    for (long step = 1; step <= 3; step++)
        for (int k = 0; k < 2; k++) tr_optim_step(o[k], p[k], g, t, 2, &hp, 1e-3f, step, 0.5f);
    CHECK(memcmp(p[0], p[1], n * sizeof(float)) == 0);
    CHECK(memcmp(o[0]->v, o[1]->v, n * sizeof(float)) == 0);
    CHECK(p[0][5] != (float)cos(5.0)); /* something moved */
    for (int k = 0; k < 2; k++) tr_optim_free(o[k]), free(p[k]);
    free(g);
}

static void schedule(void) {
    CHECK(fabsf(tr_lr_at(0, 10, 100, 1.0f, 0.1f) - 0.1f) < 1e-6f);
    CHECK(fabsf(tr_lr_at(9, 10, 100, 1.0f, 0.1f) - 1.0f) < 1e-6f);
    CHECK(fabsf(tr_lr_at(55, 10, 100, 1.0f, 0.1f) - 0.55f) < 1e-6f); /* cosine midpoint */
    CHECK(fabsf(tr_lr_at(100, 10, 100, 1.0f, 0.1f) - 0.1f) < 1e-6f);
    tr_config bad = tiny(false);
    bad.n_kv_head = 3;
    penny_error err;
    CHECK(tr_config_check(&bad, &err) == PENNY_ERR_ARG);
    CHECK(strstr(err.message, "n_kv_head") != NULL);
}

int main(void) {
    grad_check(false, TR_ARCH_LLAMA);
    grad_check(true, TR_ARCH_LLAMA);
    grad_check(false, TR_ARCH_GPT2);
    grad_check(true, TR_ARCH_GPT2);
    thread_independence();
    overfit();
    adamw_paths();
    schedule();
    return check_done("test_train_model");
}
