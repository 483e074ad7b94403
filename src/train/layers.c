/*
 * layers.c - forward and backward passes of the decoder's layers (see
 * layers.h for the conventions).
 *
 * Parallel splits are chosen so that no two threads ever add into the same
 * element: row-wise work splits rows, weight gradients of norms split
 * columns, attention's backward splits (batch, kv head) groups so the query
 * heads sharing a key/value head are summed by one thread in head order.
 * Reductions over a row (norms, softmax) run in double, like penny's
 * inference ops, which keeps trainer and engine within float rounding.
 */
#include "train/layers.h"

#include <math.h>
#include <string.h>

/* Runs fn on the pool, or on the calling thread when there is none. */
static void par(pool *p, pool_fn fn, void *arg) {
    if (p)
        pool_run(p, fn, arg);
    else
        fn(arg, 0, 1);
}

/* ---- embedding ---- */

void tr_embed_forward(float *out, const int32_t *tokens, const float *wte, int N, int C) {
    for (int n = 0; n < N; n++)
        memcpy(out + (size_t)n * C, wte + (size_t)tokens[n] * C, sizeof(float) * (size_t)C);
}

void tr_embed_backward(float *dwte, const float *dout, const int32_t *tokens, int N, int C) {
    for (int n = 0; n < N; n++) {
        float *d = dwte + (size_t)tokens[n] * C;
        const float *g = dout + (size_t)n * C;
        for (int i = 0; i < C; i++) d[i] += g[i];
    }
}

/* ---- RMS norm ---- */

typedef struct norm_job {
    float *out, *rstd, *dx, *dw;
    const float *x, *w, *dout, *rstd_in;
    int N, C;
    float eps;
} norm_job;

static void rmsnorm_fwd_rows(void *arg, int ith, int nth) {
    norm_job *j = arg;
    long lo, hi;
    pool_range(j->N, ith, nth, &lo, &hi);
    for (long n = lo; n < hi; n++) {
        const float *x = j->x + n * j->C;
        float *y = j->out + n * j->C;
        double ss = 0.0;
        for (int i = 0; i < j->C; i++) ss += (double)x[i] * x[i];
        double r = 1.0 / sqrt(ss / j->C + (double)j->eps);
        for (int i = 0; i < j->C; i++) y[i] = (float)((double)x[i] * r * (double)j->w[i]);
        j->rstd[n] = (float)r;
    }
}

void tr_rmsnorm_forward(pool *p, float *out, float *rstd, const float *x, const float *w, int N,
                        int C, float eps) {
    norm_job j = {.out = out, .rstd = rstd, .x = x, .w = w, .N = N, .C = C, .eps = eps};
    par(p, rmsnorm_fwd_rows, &j);
}

/* dx = r*g - r^3 * x * (g.x)/C with g = dout*w (the gradient of x*r). */
static void rmsnorm_bwd_rows(void *arg, int ith, int nth) {
    norm_job *j = arg;
    long lo, hi;
    pool_range(j->N, ith, nth, &lo, &hi);
    for (long n = lo; n < hi; n++) {
        const float *x = j->x + n * j->C, *dy = j->dout + n * j->C;
        float *dx = j->dx + n * j->C;
        double r = j->rstd_in[n], dot = 0.0;
        for (int i = 0; i < j->C; i++) dot += (double)dy[i] * j->w[i] * x[i];
        double k = r * r * r * dot / j->C;
        for (int i = 0; i < j->C; i++)
            dx[i] += (float)(r * (double)dy[i] * j->w[i] - k * (double)x[i]);
    }
}

static void rmsnorm_bwd_cols(void *arg, int ith, int nth) {
    norm_job *j = arg;
    long lo, hi;
    pool_range(j->C, ith, nth, &lo, &hi);
    for (int n = 0; n < j->N; n++) {
        const float *x = j->x + (size_t)n * j->C, *dy = j->dout + (size_t)n * j->C;
        float r = j->rstd_in[n];
        for (long i = lo; i < hi; i++) j->dw[i] += dy[i] * x[i] * r;
    }
}

void tr_rmsnorm_backward(pool *p, float *dx, float *dw, const float *dout, const float *x,
                         const float *w, const float *rstd, int N, int C) {
    norm_job j = {
        .dx = dx, .dw = dw, .dout = dout, .x = x, .w = w, .rstd_in = rstd, .N = N, .C = C};
    par(p, rmsnorm_bwd_rows, &j);
    par(p, rmsnorm_bwd_cols, &j);
}

/* ---- LayerNorm, GELU, learned positions (the GPT-2-style baseline) ---- */

typedef struct ln_job {
    float *out, *mean, *rstd, *dx, *dw, *db;
    const float *x, *w, *b, *dout, *mean_in, *rstd_in;
    int N, C;
    float eps;
} ln_job;

static void ln_fwd_rows(void *arg, int ith, int nth) {
    ln_job *j = arg;
    long lo, hi;
    pool_range(j->N, ith, nth, &lo, &hi);
    for (long n = lo; n < hi; n++) {
        const float *x = j->x + n * j->C;
        float *y = j->out + n * j->C;
        double m = 0, v = 0;
        for (int i = 0; i < j->C; i++) m += x[i];
        m /= j->C;
        for (int i = 0; i < j->C; i++) v += ((double)x[i] - m) * ((double)x[i] - m);
        double r = 1.0 / sqrt(v / j->C + (double)j->eps);
        for (int i = 0; i < j->C; i++) y[i] = (float)(((double)x[i] - m) * r * j->w[i] + j->b[i]);
        j->mean[n] = (float)m, j->rstd[n] = (float)r;
    }
}

void tr_layernorm_forward(pool *p, float *out, float *mean, float *rstd, const float *x,
                          const float *w, const float *b, int N, int C, float eps) {
    ln_job j = {
        .out = out, .mean = mean, .rstd = rstd, .x = x, .w = w, .b = b, .N = N, .C = C, .eps = eps};
    par(p, ln_fwd_rows, &j);
}

/* dx = r * (g - mean(g) - xhat * mean(g * xhat)) with g = dout * w. */
static void ln_bwd_rows(void *arg, int ith, int nth) {
    ln_job *j = arg;
    long lo, hi;
    pool_range(j->N, ith, nth, &lo, &hi);
    for (long n = lo; n < hi; n++) {
        const float *x = j->x + n * j->C, *dy = j->dout + n * j->C;
        double m = j->mean_in[n], r = j->rstd_in[n], sg = 0, sgx = 0;
        for (int i = 0; i < j->C; i++) {
            double g = (double)dy[i] * j->w[i];
            sg += g, sgx += g * ((double)x[i] - m) * r;
        }
        sg /= j->C, sgx /= j->C;
        float *dx = j->dx + n * j->C;
        for (int i = 0; i < j->C; i++) {
            double g = (double)dy[i] * j->w[i], xh = ((double)x[i] - m) * r;
            dx[i] += (float)(r * (g - sg - xh * sgx));
        }
    }
}

static void ln_bwd_cols(void *arg, int ith, int nth) {
    ln_job *j = arg;
    long lo, hi;
    pool_range(j->C, ith, nth, &lo, &hi);
    for (int n = 0; n < j->N; n++) {
        const float *x = j->x + (size_t)n * j->C, *dy = j->dout + (size_t)n * j->C;
        float m = j->mean_in[n], r = j->rstd_in[n];
        for (long i = lo; i < hi; i++) {
            j->dw[i] += dy[i] * (x[i] - m) * r;
            j->db[i] += dy[i];
        }
    }
}

void tr_layernorm_backward(pool *p, float *dx, float *dw, float *db, const float *dout,
                           const float *x, const float *w, const float *mean, const float *rstd,
                           int N, int C) {
    ln_job j = {.dx = dx,
                .dw = dw,
                .db = db,
                .dout = dout,
                .x = x,
                .w = w,
                .mean_in = mean,
                .rstd_in = rstd,
                .N = N,
                .C = C};
    par(p, ln_bwd_rows, &j);
    par(p, ln_bwd_cols, &j);
}

#define GELU_K 0.7978845608028654 /* sqrt(2 / pi) */

typedef struct gelu_job {
    float *out;
    const float *x, *dout;
    long n;
} gelu_job;

static void gelu_fwd_worker(void *arg, int ith, int nth) {
    gelu_job *j = arg;
    long lo, hi;
    pool_range(j->n, ith, nth, &lo, &hi);
    for (long i = lo; i < hi; i++) {
        double x = j->x[i];
        j->out[i] = (float)(0.5 * x * (1.0 + tanh(GELU_K * (x + 0.044715 * x * x * x))));
    }
}

static void gelu_bwd_worker(void *arg, int ith, int nth) {
    gelu_job *j = arg;
    long lo, hi;
    pool_range(j->n, ith, nth, &lo, &hi);
    for (long i = lo; i < hi; i++) {
        double x = j->x[i], u = GELU_K * (x + 0.044715 * x * x * x), t = tanh(u);
        double du = GELU_K * (1.0 + 3 * 0.044715 * x * x);
        j->out[i] += (float)(j->dout[i] * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du));
    }
}

void tr_gelu_forward(pool *p, float *out, const float *x, long n) {
    gelu_job j = {out, x, NULL, n};
    par(p, gelu_fwd_worker, &j);
}

void tr_gelu_backward(pool *p, float *dx, const float *dout, const float *x, long n) {
    gelu_job j = {dx, x, dout, n};
    par(p, gelu_bwd_worker, &j);
}

void tr_pos_forward(float *x, const float *wpe, int B, int T, int C) {
    for (long n = 0; n < (long)B * T; n++)
        for (int i = 0; i < C; i++) x[n * C + i] += wpe[(n % T) * C + i];
}

void tr_pos_backward(float *dwpe, const float *dx, int B, int T, int C) {
    for (long n = 0; n < (long)B * T; n++)
        for (int i = 0; i < C; i++) dwpe[(n % T) * C + i] += dx[n * C + i];
}

/* ---- matmul ---- */

void tr_matmul_forward(tr_gemm *g, float *out, const float *x, const float *w, int N, int C,
                       int OC) {
    /* out(n,o) = sum_c x(n,c) * w(o,c) */
    tr_gemm_run(g, out, OC, x, C, 1, w, 1, C, N, OC, C, false);
}

void tr_matmul_backward(tr_gemm *g, float *dx, float *dw, const float *dout, const float *x,
                        const float *w, int N, int C, int OC) {
    /* dx(n,c) += sum_o dout(n,o) * w(o,c) */
    if (dx) tr_gemm_run(g, dx, C, dout, OC, 1, w, C, 1, N, C, OC, true);
    /* dw(o,c) += sum_n dout(n,o) * x(n,c) */
    tr_gemm_run(g, dw, C, dout, 1, OC, x, C, 1, OC, C, N, true);
}

/* ---- rotary embedding ---- */

void tr_rope_table(float *cs, int T, int hd, float base) {
    for (int t = 0; t < T; t++)
        for (int i = 0; i < hd / 2; i++) {
            double freq = pow((double)base, -2.0 * i / hd);
            double theta = (double)t * (double)(float)freq;
            cs[((size_t)t * (hd / 2) + i) * 2] = (float)cos(theta);
            cs[((size_t)t * (hd / 2) + i) * 2 + 1] = (float)sin(theta);
        }
}

/* Rotates every pair of every head by +theta (sign 1) or -theta (sign -1). */
static void rope_apply(float *x, const float *cs, int B, int T, int n_head, int hd, float sign) {
    for (long n = 0; n < (long)B * T; n++) {
        const float *c = cs + (size_t)(n % T) * hd;
        float *xn = x + (size_t)n * n_head * hd;
        for (int h = 0; h < n_head; h++, xn += hd)
            for (int i = 0; i < hd / 2; i++) {
                double co = c[2 * i], si = sign * c[2 * i + 1];
                double a = xn[2 * i], b = xn[2 * i + 1];
                xn[2 * i] = (float)(a * co - b * si);
                xn[2 * i + 1] = (float)(a * si + b * co);
            }
    }
}

void tr_rope_forward(float *x, const float *cs, int B, int T, int n_head, int hd) {
    rope_apply(x, cs, B, T, n_head, hd, 1.0f);
}

void tr_rope_backward(float *dx, const float *cs, int B, int T, int n_head, int hd) {
    rope_apply(dx, cs, B, T, n_head, hd, -1.0f);
}

/* ---- attention ---- */

/* Head-sized vector helpers: AVX-512 when the CPU has it and the head size
 * is a multiple of 16, else plain loops. Chosen once per call. */
typedef struct vec_ops {
    float (*dot)(const float *a, const float *b, int n);
    void (*axpy)(float *y, float a, const float *x, int n); /* y += a * x */
} vec_ops;

static float dot_plain(const float *a, const float *b, int n) {
    float s = 0.0f;
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

static void axpy_plain(float *y, float a, const float *x, int n) {
    for (int i = 0; i < n; i++) y[i] += a * x[i];
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

__attribute__((target("avx512f"))) static float dot_avx512(const float *a, const float *b, int n) {
    __m512 s = _mm512_setzero_ps();
    for (int i = 0; i < n; i += 16)
        s = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s);
    return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx512f"))) static void axpy_avx512(float *y, float a, const float *x,
                                                           int n) {
    __m512 va = _mm512_set1_ps(a);
    for (int i = 0; i < n; i += 16)
        _mm512_storeu_ps(y + i,
                         _mm512_fmadd_ps(va, _mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));
}

static vec_ops pick_vec(int n) {
    __builtin_cpu_init();
    if (n % 16 == 0 && __builtin_cpu_supports("avx512f")) return (vec_ops){dot_avx512, axpy_avx512};
    return (vec_ops){dot_plain, axpy_plain};
}
#else
static vec_ops pick_vec(int n) {
    (void)n;
    return (vec_ops){dot_plain, axpy_plain};
}
#endif

typedef struct attn_job {
    float *out, *att, *dq, *dk, *dv, *scratch;
    const float *q, *k, *v, *dout, *att_in;
    int B, T, H, KV, hd;
    vec_ops vo;
} attn_job;

/* Query t of head h in batch b attends to keys 0..t. */
static void attend_row(const attn_job *j, int b, int h, int t) {
    int qd = j->H * j->hd, kd = j->KV * j->hd, kvh = h / (j->H / j->KV);
    const float *q = j->q + ((size_t)b * j->T + t) * qd + (size_t)h * j->hd;
    const float *kb = j->k + (size_t)b * j->T * kd + (size_t)kvh * j->hd;
    const float *vb = j->v + (size_t)b * j->T * kd + (size_t)kvh * j->hd;
    float *a = j->att + (((size_t)b * j->H + h) * j->T + t) * j->T;
    float scale = 1.0f / sqrtf((float)j->hd), max = -INFINITY;
    for (int s = 0; s <= t; s++) {
        a[s] = j->vo.dot(q, kb + (size_t)s * kd, j->hd) * scale;
        if (a[s] > max) max = a[s];
    }
    double sum = 0.0;
    for (int s = 0; s <= t; s++) sum += (a[s] = expf(a[s] - max));
    float inv = (float)(1.0 / sum);
    float *o = j->out + ((size_t)b * j->T + t) * qd + (size_t)h * j->hd;
    memset(o, 0, sizeof(float) * (size_t)j->hd);
    for (int s = 0; s <= t; s++) {
        a[s] *= inv;
        j->vo.axpy(o, a[s], vb + (size_t)s * kd, j->hd);
    }
}

static void attn_fwd_worker(void *arg, int ith, int nth) {
    attn_job *j = arg;
    long lo, hi;
    pool_range((long)j->B * j->H * j->T, ith, nth, &lo, &hi);
    for (long r = lo; r < hi; r++)
        attend_row(j, (int)(r / ((long)j->H * j->T)), (int)(r / j->T % j->H), (int)(r % j->T));
}

void tr_attention_forward(pool *p, float *out, float *att, const float *q, const float *k,
                          const float *v, int B, int T, int H, int KV, int hd) {
    attn_job j = {.out = out,
                  .att = att,
                  .q = q,
                  .k = k,
                  .v = v,
                  .B = B,
                  .T = T,
                  .H = H,
                  .KV = KV,
                  .hd = hd,
                  .vo = pick_vec(hd)};
    par(p, attn_fwd_worker, &j);
}

/* Backward of one query row: softmax Jacobian, then the two products. */
static void attend_row_bwd(const attn_job *j, float *da, int b, int h, int t) {
    int qd = j->H * j->hd, kd = j->KV * j->hd, kvh = h / (j->H / j->KV);
    size_t qo = ((size_t)b * j->T + t) * qd + (size_t)h * j->hd;
    size_t ko = (size_t)b * j->T * kd + (size_t)kvh * j->hd;
    const float *a = j->att_in + (((size_t)b * j->H + h) * j->T + t) * j->T;
    const float *dy = j->dout + qo;
    float scale = 1.0f / sqrtf((float)j->hd);
    double sum = 0.0;
    for (int s = 0; s <= t; s++) {
        da[s] = j->vo.dot(dy, j->v + ko + (size_t)s * kd, j->hd);
        sum += (double)da[s] * a[s];
        j->vo.axpy(j->dv + ko + (size_t)s * kd, a[s], dy, j->hd);
    }
    float *dq = j->dq + qo;
    const float *q = j->q + qo;
    for (int s = 0; s <= t; s++) {
        float g = a[s] * (da[s] - (float)sum) * scale;
        j->vo.axpy(dq, g, j->k + ko + (size_t)s * kd, j->hd);
        j->vo.axpy(j->dk + ko + (size_t)s * kd, g, q, j->hd);
    }
}

static void attn_bwd_worker(void *arg, int ith, int nth) {
    attn_job *j = arg;
    long lo, hi;
    int group = j->H / j->KV;
    pool_range((long)j->B * j->KV, ith, nth, &lo, &hi);
    float *da = j->scratch + (size_t)ith * j->T;
    for (long r = lo; r < hi; r++) {
        int b = (int)(r / j->KV), kvh = (int)(r % j->KV);
        for (int h = kvh * group; h < (kvh + 1) * group; h++)
            for (int t = 0; t < j->T; t++) attend_row_bwd(j, da, b, h, t);
    }
}

void tr_attention_backward(pool *p, float *dq, float *dk, float *dv, float *scratch,
                           const float *dout, const float *att, const float *q, const float *k,
                           const float *v, int B, int T, int H, int KV, int hd) {
    attn_job j = {.dq = dq, .dk = dk, .dv = dv, .scratch = scratch, .dout = dout, .att_in = att};
    j.q = q, j.k = k, j.v = v, j.B = B, j.T = T, j.H = H, j.KV = KV, j.hd = hd;
    j.vo = pick_vec(hd);
    par(p, attn_bwd_worker, &j);
}

/* ---- SwiGLU ---- */

typedef struct ew_job {
    float *out, *dgate, *dup;
    const float *gate, *up, *dout;
    long n;
} ew_job;

static void swiglu_fwd_worker(void *arg, int ith, int nth) {
    ew_job *j = arg;
    long lo, hi;
    pool_range(j->n, ith, nth, &lo, &hi);
    for (long i = lo; i < hi; i++) {
        float g = j->gate[i];
        j->out[i] = g / (1.0f + expf(-g)) * j->up[i];
    }
}

/* d/dg silu(g) = s * (1 + g * (1 - s)) with s = sigmoid(g). */
static void swiglu_bwd_worker(void *arg, int ith, int nth) {
    ew_job *j = arg;
    long lo, hi;
    pool_range(j->n, ith, nth, &lo, &hi);
    for (long i = lo; i < hi; i++) {
        float g = j->gate[i], s = 1.0f / (1.0f + expf(-g));
        j->dgate[i] += j->dout[i] * j->up[i] * s * (1.0f + g * (1.0f - s));
        j->dup[i] += j->dout[i] * g * s;
    }
}

void tr_swiglu_forward(pool *p, float *out, const float *gate, const float *up, long n) {
    ew_job j = {.out = out, .gate = gate, .up = up, .n = n};
    par(p, swiglu_fwd_worker, &j);
}

void tr_swiglu_backward(pool *p, float *dgate, float *dup, const float *dout, const float *gate,
                        const float *up, long n) {
    ew_job j = {.dgate = dgate, .dup = dup, .dout = dout, .gate = gate, .up = up, .n = n};
    par(p, swiglu_bwd_worker, &j);
}

/* ---- cross-entropy ---- */

typedef struct ce_job {
    float *logits, *losses;
    const int32_t *targets;
    const float *weight;
    int N, V;
} ce_job;

static void ce_worker(void *arg, int ith, int nth) {
    ce_job *j = arg;
    long lo, hi;
    pool_range(j->N, ith, nth, &lo, &hi);
    for (long n = lo; n < hi; n++) {
        float *z = j->logits + n * j->V;
        float max = z[0];
        for (int i = 1; i < j->V; i++) max = z[i] > max ? z[i] : max;
        double sum = 0.0;
        for (int i = 0; i < j->V; i++) sum += exp((double)z[i] - max);
        int tgt = j->targets[n];
        j->losses[n] = (float)(log(sum) - ((double)z[tgt] - max));
        float w = j->weight ? j->weight[n] : 1.0f;
        double inv = 1.0 / sum;
        for (int i = 0; i < j->V; i++) z[i] = (float)(exp((double)z[i] - max) * inv) * w;
        z[tgt] -= w;
    }
}

void tr_crossentropy_fused(pool *p, float *logits, float *losses, const int32_t *targets,
                           const float *weight, int N, int V) {
    ce_job j = {logits, losses, targets, weight, N, V};
    par(p, ce_worker, &j);
}
