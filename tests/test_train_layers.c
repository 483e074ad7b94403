/*
 * test_train_layers.c - every training layer's backward against float64
 * finite differences of an independent float64 forward written here, plus
 * the forward itself against that reference, and the GEMM against a naive
 * product in all three transposes it is used with.
 *
 * For each layer, L = sum(out * R) for a fixed random R; the backward is run
 * with dout = R and each input gradient is compared with central
 * differences (step 1e-5 in double) of L computed by the float64 forward.
 * Tolerance: |analytic - numeric| <= 2e-3 * (|numeric| + scale) where scale
 * is the largest numeric gradient of that input, i.e. float rounding only.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/half.h"
#include "check.h"
#include "train/layers.h"

static uint64_t seed = 88172645463325252ull;
static double rnd(void) { /* xorshift, uniform in [-1, 1) */
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    return (double)(seed >> 11) * 0x1.0p-52 - 1.0;
}

static float *frand(size_t n, double scale) {
    float *x = malloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = (float)(rnd() * scale);
    return x;
}
static double *todouble(const float *x, size_t n) {
    double *d = malloc(n * sizeof *d);
    for (size_t i = 0; i < n; i++) d[i] = x[i];
    return d;
}

/* A float64 forward: L = sum(out * R) from double inputs held in ctx. */
typedef double (*loss_fn)(void *ctx);

/* Compares analytic grad g (n floats) with central differences of f in x. */
static void grad_check(const char *what, loss_fn f, void *ctx, double *x, const float *g,
                       size_t n) {
    double *num = malloc(n * sizeof *num), scale = 0.0;
    for (size_t i = 0; i < n; i++) {
        double h = 1e-5 * (fabs(x[i]) > 1 ? fabs(x[i]) : 1), x0 = x[i];
        x[i] = x0 + h;
        double lp = f(ctx);
        x[i] = x0 - h;
        double lm = f(ctx);
        x[i] = x0;
        num[i] = (lp - lm) / (2 * h);
        if (fabs(num[i]) > scale) scale = fabs(num[i]);
    }
    int bad = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs(g[i] - num[i]) > 2e-3 * (fabs(num[i]) + scale) && bad++ < 3)
            fprintf(stderr, "%s[%zu]: analytic %.7g numeric %.7g\n", what, i, g[i], num[i]);
    CHECKF(bad == 0, "%s: %d of %zu gradients off", what, bad, n);
    CHECKF(scale > 0, "%s: all-zero gradient", what);
    free(num);
}

static void fwd_check(const char *what, const float *got, const double *want, size_t n,
                      double tol) {
    double worst = 0, mag = 0;
    for (size_t i = 0; i < n; i++) {
        worst = fmax(worst, fabs(got[i] - want[i]));
        mag = fmax(mag, fabs(want[i]));
    }
    CHECKF(worst <= tol * (mag + 1e-30), "%s forward: max error %g (magnitude %g)", what, worst,
           mag);
}

static double dotR(const double *out, const double *R, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += out[i] * R[i];
    return s;
}

/* ---- GEMM ---- */

/* bf16: the reference multiplies the inputs rounded to bfloat16. */
static double in_type(float x, bool bf16) { return bf16 ? bf16_to_f32(bf16_from_f32(x)) : x; }

static void test_gemm(pool *p, bool bf16) {
    tr_gemm *g;
    CHECK(tr_gemm_new(p, &g, NULL) == PENNY_OK);
    if (bf16 && !tr_gemm_set_bf16(g, true)) {
        fprintf(stderr, "note: no AVX512-BF16 here, bf16 GEMM not tested\n");
        tr_gemm_free(g);
        return;
    }
    int dims[][3] = {{1, 1, 1}, {7, 33, 5}, {64, 64, 64}, {131, 70, 300}, {9, 300, 517}};
    for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++) {
        int M = dims[d][0], N = dims[d][1], K = dims[d][2];
        float *a = frand((size_t)M * K, 1), *b = frand((size_t)K * N, 1);
        float *c = frand((size_t)M * N, 1), *c0 = malloc(sizeof(float) * M * N);
        memcpy(c0, c, sizeof(float) * M * N);
        for (int mode = 0; mode < 3; mode++) {
            /* mode 0: A row-major, B row-major; 1: A^T stored, 2: B^T stored */
            long ars = mode == 1 ? 1 : K, acs = mode == 1 ? M : 1;
            long brs = mode == 2 ? 1 : N, bcs = mode == 2 ? K : 1;
            bool acc = mode == 1;
            memcpy(c, c0, sizeof(float) * M * N);
            tr_gemm_run(g, c, N, a, ars, acs, b, brs, bcs, M, N, K, acc);
            double worst = 0;
            for (int m = 0; m < M; m++)
                for (int n = 0; n < N; n++) {
                    double s = acc ? c0[m * N + n] : 0;
                    for (int k = 0; k < K; k++)
                        s += in_type(a[m * ars + k * acs], bf16) *
                             in_type(b[k * brs + n * bcs], bf16);
                    worst = fmax(worst, fabs(s - c[m * N + n]));
                }
            CHECKF(worst < 1e-5 * K, "gemm%s %dx%dx%d mode %d: error %g", bf16 ? " bf16" : "", M, N,
                   K, mode, worst);
        }
        free(a), free(b), free(c), free(c0);
    }
    tr_gemm_free(g);
}

/* ---- RMS norm ---- */

typedef struct {
    double *x, *w, *R;
    int N, C;
} norm_ctx;

static void norm_ref(const norm_ctx *c, double *out) {
    for (int n = 0; n < c->N; n++) {
        double ss = 0;
        for (int i = 0; i < c->C; i++) ss += c->x[n * c->C + i] * c->x[n * c->C + i];
        double r = 1 / sqrt(ss / c->C + 1e-5);
        for (int i = 0; i < c->C; i++) out[n * c->C + i] = c->x[n * c->C + i] * r * c->w[i];
    }
}
static double norm_loss(void *ctx) {
    norm_ctx *c = ctx;
    double out[256];
    norm_ref(c, out);
    return dotR(out, c->R, (size_t)c->N * c->C);
}

static void test_rmsnorm(pool *p) {
    int N = 5, C = 24;
    float *x = frand(N * C, 1), *w = frand(C, 1), *R = frand(N * C, 1);
    float out[256], rstd[8], dx[256] = {0}, dw[64] = {0};
    tr_rmsnorm_forward(p, out, rstd, x, w, N, C, 1e-5f);
    norm_ctx c = {todouble(x, N * C), todouble(w, C), todouble(R, N * C), N, C};
    double want[256];
    norm_ref(&c, want);
    fwd_check("rmsnorm", out, want, N * C, 1e-6);
    tr_rmsnorm_backward(p, dx, dw, R, x, w, rstd, N, C);
    grad_check("rmsnorm dx", norm_loss, &c, c.x, dx, N * C);
    grad_check("rmsnorm dw", norm_loss, &c, c.w, dw, C);
    free(x), free(w), free(R), free(c.x), free(c.w), free(c.R);
}

/* ---- matmul ---- */

typedef struct {
    double *x, *w, *R;
    int N, C, OC;
} mm_ctx;

static double mm_loss(void *ctx) {
    mm_ctx *c = ctx;
    double L = 0;
    for (int n = 0; n < c->N; n++)
        for (int o = 0; o < c->OC; o++) {
            double s = 0;
            for (int i = 0; i < c->C; i++) s += c->x[n * c->C + i] * c->w[o * c->C + i];
            L += s * c->R[n * c->OC + o];
        }
    return L;
}

static void test_matmul(pool *p) {
    tr_gemm *g;
    CHECK(tr_gemm_new(p, &g, NULL) == PENNY_OK);
    int N = 6, C = 19, OC = 35;
    float *x = frand(N * C, 1), *w = frand(OC * C, 1), *R = frand(N * OC, 1);
    float *out = malloc(sizeof(float) * N * OC), *dx = calloc(N * C, 4), *dw = calloc(OC * C, 4);
    mm_ctx c = {todouble(x, N * C), todouble(w, OC * C), todouble(R, N * OC), N, C, OC};
    tr_matmul_forward(g, out, x, w, N, C, OC);
    double *want = malloc(sizeof(double) * N * OC);
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OC; o++) {
            double s = 0;
            for (int i = 0; i < C; i++) s += c.x[n * C + i] * c.w[o * C + i];
            want[n * OC + o] = s;
        }
    fwd_check("matmul", out, want, N * OC, 1e-5);
    tr_matmul_backward(g, dx, dw, R, x, w, N, C, OC);
    grad_check("matmul dx", mm_loss, &c, c.x, dx, N * C);
    grad_check("matmul dw", mm_loss, &c, c.w, dw, OC * C);
    free(x), free(w), free(R), free(out), free(dx), free(dw), free(want);
    free(c.x), free(c.w), free(c.R);
    tr_gemm_free(g);
}

/* ---- RoPE ---- */

typedef struct {
    double *x, *R;
    int B, T, H, hd;
} rope_ctx;

static void rope_ref(const rope_ctx *c, double *out) {
    for (int n = 0; n < c->B * c->T; n++)
        for (int h = 0; h < c->H; h++)
            for (int i = 0; i < c->hd / 2; i++) {
                double th = (n % c->T) * pow(10000.0, -2.0 * i / c->hd);
                size_t o = ((size_t)n * c->H + h) * c->hd + 2 * i;
                out[o] = c->x[o] * cos(th) - c->x[o + 1] * sin(th);
                out[o + 1] = c->x[o] * sin(th) + c->x[o + 1] * cos(th);
            }
}
static double rope_loss(void *ctx) {
    rope_ctx *c = ctx;
    double out[512];
    rope_ref(c, out);
    return dotR(out, c->R, (size_t)c->B * c->T * c->H * c->hd);
}

static void test_rope(void) {
    int B = 2, T = 5, H = 3, hd = 8, n = B * T * H * hd;
    float *x = frand(n, 1), *R = frand(n, 1), cs[5 * 4 * 2];
    tr_rope_table(cs, T, hd, 10000.0f);
    rope_ctx c = {todouble(x, n), todouble(R, n), B, T, H, hd};
    double want[512];
    rope_ref(&c, want);
    float *y = malloc(sizeof(float) * n), *dx = malloc(sizeof(float) * n);
    memcpy(y, x, sizeof(float) * n);
    tr_rope_forward(y, cs, B, T, H, hd);
    fwd_check("rope", y, want, n, 1e-6);
    memcpy(dx, R, sizeof(float) * n);
    tr_rope_backward(dx, cs, B, T, H, hd);
    grad_check("rope dx", rope_loss, &c, c.x, dx, n);
    free(x), free(R), free(y), free(dx), free(c.x), free(c.R);
}

/* ---- attention ---- */

typedef struct {
    double *q, *k, *v, *R;
    int B, T, H, KV, hd;
} attn_ctx;

static void attn_ref(const attn_ctx *c, double *out) {
    int qd = c->H * c->hd, kd = c->KV * c->hd;
    double sc[16];
    for (int b = 0; b < c->B; b++)
        for (int h = 0; h < c->H; h++)
            for (int t = 0; t < c->T; t++) {
                int kh = h / (c->H / c->KV);
                const double *q = c->q + (b * c->T + t) * qd + h * c->hd;
                double max = -1e300, sum = 0;
                for (int s = 0; s <= t; s++) {
                    const double *k = c->k + (b * c->T + s) * kd + kh * c->hd;
                    sc[s] = 0;
                    for (int i = 0; i < c->hd; i++) sc[s] += q[i] * k[i];
                    sc[s] /= sqrt(c->hd);
                    max = fmax(max, sc[s]);
                }
                for (int s = 0; s <= t; s++) sum += (sc[s] = exp(sc[s] - max));
                double *o = out + (b * c->T + t) * qd + h * c->hd;
                for (int i = 0; i < c->hd; i++) {
                    o[i] = 0;
                    for (int s = 0; s <= t; s++)
                        o[i] += sc[s] / sum * c->v[(b * c->T + s) * kd + kh * c->hd + i];
                }
            }
}
static double attn_loss(void *ctx) {
    attn_ctx *c = ctx;
    double out[1024];
    attn_ref(c, out);
    return dotR(out, c->R, (size_t)c->B * c->T * c->H * c->hd);
}

/* hd 16 takes the AVX-512 helpers where the CPU has them, hd 8 the plain loops. */
static void test_attention(pool *p, int hd) {
    int B = 2, T = 6, H = 4, KV = 2, nq = B * T * H * hd, nk = B * T * KV * hd;
    float *q = frand(nq, 1), *k = frand(nk, 1), *v = frand(nk, 1), *R = frand(nq, 1);
    float *out = malloc(4 * nq), *att = malloc(4 * B * H * T * T), *scratch = malloc(4 * 8 * T);
    float *dq = calloc(nq, 4), *dk = calloc(nk, 4), *dv = calloc(nk, 4);
    attn_ctx c = {
        todouble(q, nq), todouble(k, nk), todouble(v, nk), todouble(R, nq), B, T, H, KV, hd};
    double want[1024];
    attn_ref(&c, want);
    tr_attention_forward(p, out, att, q, k, v, B, T, H, KV, hd);
    fwd_check("attention", out, want, nq, 1e-5);
    tr_attention_backward(p, dq, dk, dv, scratch, R, att, q, k, v, B, T, H, KV, hd);
    grad_check("attention dq", attn_loss, &c, c.q, dq, nq);
    grad_check("attention dk", attn_loss, &c, c.k, dk, nk);
    grad_check("attention dv", attn_loss, &c, c.v, dv, nk);
    free(q), free(k), free(v), free(R), free(out), free(att), free(scratch);
    free(dq), free(dk), free(dv), free(c.q), free(c.k), free(c.v), free(c.R);
}

/* ---- SwiGLU ---- */

typedef struct {
    double *g, *u, *R;
    int n;
} swi_ctx;

static double swi_loss(void *ctx) {
    swi_ctx *c = ctx;
    double L = 0;
    for (int i = 0; i < c->n; i++) L += c->g[i] / (1 + exp(-c->g[i])) * c->u[i] * c->R[i];
    return L;
}

static void test_swiglu(pool *p) {
    int n = 77;
    float *g = frand(n, 4), *u = frand(n, 1), *R = frand(n, 1), out[77], dg[77] = {0}, du[77] = {0};
    swi_ctx c = {todouble(g, n), todouble(u, n), todouble(R, n), n};
    double want[77];
    for (int i = 0; i < n; i++) want[i] = c.g[i] / (1 + exp(-c.g[i])) * c.u[i];
    tr_swiglu_forward(p, out, g, u, n);
    fwd_check("swiglu", out, want, n, 1e-6);
    tr_swiglu_backward(p, dg, du, R, g, u, n);
    grad_check("swiglu dgate", swi_loss, &c, c.g, dg, n);
    grad_check("swiglu dup", swi_loss, &c, c.u, du, n);
    free(g), free(u), free(R), free(c.g), free(c.u), free(c.R);
}

/* ---- cross-entropy ---- */

typedef struct {
    double *z, *w;
    const int32_t *tgt;
    int N, V;
} ce_ctx;

static double ce_loss(void *ctx) {
    ce_ctx *c = ctx;
    double L = 0;
    for (int n = 0; n < c->N; n++) {
        double max = -1e300, s = 0;
        for (int i = 0; i < c->V; i++) max = fmax(max, c->z[n * c->V + i]);
        for (int i = 0; i < c->V; i++) s += exp(c->z[n * c->V + i] - max);
        L += c->w[n] * (log(s) + max - c->z[n * c->V + c->tgt[n]]);
    }
    return L;
}

static void test_crossentropy(pool *p) {
    int N = 7, V = 50;
    float *z = frand(N * V, 3), *g = malloc(4 * N * V), losses[7];
    float w[7] = {1, 0.5f, 0, 1, 2, 1, 0.25f};
    int32_t tgt[7] = {0, 49, 3, 17, 17, 8, 30};
    memcpy(g, z, 4 * N * V);
    ce_ctx c = {todouble(z, N * V), todouble(w, N), tgt, N, V};
    tr_crossentropy_fused(p, g, losses, tgt, w, N, V);
    double wl = 0;
    for (int n = 0; n < N; n++) wl += w[n] * losses[n];
    CHECKF(fabs(wl - ce_loss(&c)) < 1e-5 * fabs(wl), "crossentropy loss %g vs %g", wl, ce_loss(&c));
    grad_check("crossentropy dlogits", ce_loss, &c, c.z, g, N * V);
    free(z), free(g), free(c.z), free(c.w);
}

/* ---- LayerNorm, GELU, positions ---- */

typedef struct {
    double *x, *w, *b, *R;
    int N, C;
} ln_ctx;

static double ln_loss(void *ctx) {
    ln_ctx *c = ctx;
    double L = 0;
    for (int n = 0; n < c->N; n++) {
        double m = 0, v = 0;
        for (int i = 0; i < c->C; i++) m += c->x[n * c->C + i] / c->C;
        for (int i = 0; i < c->C; i++) v += pow(c->x[n * c->C + i] - m, 2) / c->C;
        for (int i = 0; i < c->C; i++)
            L += ((c->x[n * c->C + i] - m) / sqrt(v + 1e-5) * c->w[i] + c->b[i]) *
                 c->R[n * c->C + i];
    }
    return L;
}

static void test_layernorm(pool *p) {
    int N = 5, C = 24;
    float *x = frand(N * C, 2), *w = frand(C, 1), *b = frand(C, 1), *R = frand(N * C, 1);
    float out[256], mean[8], rstd[8], dx[256] = {0}, dw[64] = {0}, db[64] = {0};
    for (int i = 0; i < N * C; i++) x[i] += 0.5f; /* a non-zero mean */
    tr_layernorm_forward(p, out, mean, rstd, x, w, b, N, C, 1e-5f);
    ln_ctx c = {todouble(x, N * C), todouble(w, C), todouble(b, C), todouble(R, N * C), N, C};
    double got = 0;
    for (int i = 0; i < N * C; i++) got += (double)out[i] * c.R[i];
    CHECKF(fabs(got - ln_loss(&c)) < 1e-5 * (1 + fabs(got)), "layernorm forward %g vs %g", got,
           ln_loss(&c));
    tr_layernorm_backward(p, dx, dw, db, R, x, w, mean, rstd, N, C);
    grad_check("layernorm dx", ln_loss, &c, c.x, dx, N * C);
    grad_check("layernorm dw", ln_loss, &c, c.w, dw, C);
    grad_check("layernorm db", ln_loss, &c, c.b, db, C);
    free(x), free(w), free(b), free(R), free(c.x), free(c.w), free(c.b), free(c.R);
}

typedef struct {
    double *x, *R;
    int n;
} gelu_ctx;

static double gelu_loss(void *ctx) {
    gelu_ctx *c = ctx;
    double L = 0;
    for (int i = 0; i < c->n; i++) {
        double x = c->x[i];
        L += 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x))) * c->R[i];
    }
    return L;
}

static void test_gelu(pool *p) {
    int n = 77;
    float *x = frand(n, 4), *R = frand(n, 1), out[77], dx[77] = {0};
    gelu_ctx c = {todouble(x, n), todouble(R, n), n};
    double got = 0;
    tr_gelu_forward(p, out, x, n);
    for (int i = 0; i < n; i++) got += (double)out[i] * c.R[i];
    CHECK(fabs(got - gelu_loss(&c)) < 1e-5 * (1 + fabs(got)));
    tr_gelu_backward(p, dx, R, x, n);
    grad_check("gelu dx", gelu_loss, &c, c.x, dx, n);
    free(x), free(R), free(c.x), free(c.R);
}

typedef struct {
    double *wpe, *R;
    int B, T, C;
} pos_ctx;

static double pos_loss(void *ctx) {
    pos_ctx *c = ctx;
    double L = 0;
    for (int n = 0; n < c->B * c->T; n++)
        for (int i = 0; i < c->C; i++) L += c->wpe[(n % c->T) * c->C + i] * c->R[n * c->C + i];
    return L;
}

static void test_pos(void) {
    int B = 3, T = 4, C = 5;
    float *wpe = frand(T * C, 1), *R = frand(B * T * C, 1), x[60] = {0}, dw[20] = {0};
    tr_pos_forward(x, wpe, B, T, C);
    CHECK(x[(2 * T + 1) * C + 3] == wpe[C + 3]);
    tr_pos_backward(dw, R, B, T, C);
    pos_ctx c = {todouble(wpe, T * C), todouble(R, B * T * C), B, T, C};
    grad_check("positions dwpe", pos_loss, &c, c.wpe, dw, T * C);
    free(wpe), free(R), free(c.wpe), free(c.R);
}

/* ---- embedding ---- */

typedef struct {
    double *wte, *R;
    const int32_t *tok;
    int N, C;
} emb_ctx;

static double emb_loss(void *ctx) {
    emb_ctx *c = ctx;
    double L = 0;
    for (int n = 0; n < c->N; n++)
        for (int i = 0; i < c->C; i++) L += c->wte[c->tok[n] * c->C + i] * c->R[n * c->C + i];
    return L;
}

static void test_embed(void) {
    int V = 6, C = 4, N = 5;
    int32_t tok[5] = {3, 0, 3, 5, 1}; /* token 3 twice, 2 and 4 never */
    float *wte = frand(V * C, 1), *R = frand(N * C, 1), out[20], dw[24] = {0};
    tr_embed_forward(out, tok, wte, N, C);
    CHECK(memcmp(out + 2 * C, wte + 3 * C, 4 * C) == 0);
    tr_embed_backward(dw, R, tok, N, C);
    emb_ctx c = {todouble(wte, V * C), todouble(R, N * C), tok, N, C};
    grad_check("embedding dwte", emb_loss, &c, c.wte, dw, V * C);
    CHECK(dw[2 * C] == 0.0f && dw[4 * C + 3] == 0.0f);
    free(wte), free(R), free(c.wte), free(c.R);
}

int main(void) {
    pool *p;
    if (pool_new(2, &p, NULL) != PENNY_OK) return 1;
    for (int round = 0; round < 2; round++) {
        pool *pp = round ? p : NULL; /* one thread, then two */
        test_gemm(pp, false);
        test_gemm(pp, true);
        test_rmsnorm(pp);
        test_matmul(pp);
        test_attention(pp, 8);
        test_attention(pp, 16);
        test_swiglu(pp);
        test_crossentropy(pp);
        test_layernorm(pp);
        test_gelu(pp);
    }
    test_rope();
    test_embed();
    test_pos();
    pool_free(p);
    return check_done("test_train_layers");
}
