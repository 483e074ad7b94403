/*
 * test_attn.c - the tiled online-softmax attention kernel (src/kernels/
 * attn.c) of every instruction set this CPU runs, against a direct softmax
 * in double precision over the same cached (rounded) keys and values.
 *
 * Cache types F32, F16 and Q8_0; key counts 1, 7, 31, 32, 33, 1000, 4096
 * (one tile, a tile boundary on either side, many tiles); 1, 5 and 32
 * queries with causal key counts (query i sees len - nq + 1 + i keys, as the
 * tokens of one prompt block do); head sizes 64/64, 8/8, 40/24 (tails past
 * the vector width) and 96/80 with values inside the keys (latent
 * attention's layout). Scores are either ordinary (|s| ~ 1) or large
 * (|s| up to ~400, where exp(s) overflows float and a softmax that did not
 * subtract the running maximum would return inf/NaN).
 *
 * Tolerance: |got - want| <= max|v| * 2e-7 * (16 + 4 smax), with smax the
 * largest |score|: float32 scores carry an absolute error of a few ulp of
 * their magnitude, which exp turns into that relative error of the weights;
 * the rest is float accumulation. Each ISA is also compared with the scalar
 * code within the same bound. Also: attn_store of F16 and Q8_0 equals the
 * scalar conversions (half_from_f32, the Q8_0 reference quantizer with a
 * zero-padded last block).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/half.h"
#include "check.h"
#include "kernels/attn.h"
#include "kernels/dispatch.h"
#include "kernels/types.h"

static uint64_t g_rng = 0x9e3779b97f4a7c15u;

static double rnd(void) { /* uniform in [-1, 1) */
    uint64_t z = (g_rng += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    z ^= z >> 31;
    return (double)(z >> 11) / (double)(1ull << 52) - 1.0;
}

typedef struct shape {
    int dk, dv;
    bool v_in_k;
} shape;

typedef struct cache {
    uint32_t type;
    size_t k_stride, v_stride;
    char *k, *v;
    float *kf, *vf; /* the cached vectors read back exactly (scalar) */
} cache;

/* Dequantizes one stored vector with the scalar reference conversions. */
static void read_back(float *dst, const void *src, uint32_t type, int dim) {
    if (type == TYPE_Q8_0) {
        int nb = (dim + 31) / 32;
        float *tmp = malloc(sizeof(float) * 32 * (size_t)nb);
        type_get(TYPE_Q8_0)->to_f32(src, tmp, 32 * nb);
        memcpy(dst, tmp, sizeof(float) * (size_t)dim);
        free(tmp);
    } else {
        type_get(type)->to_f32(src, dst, dim);
    }
}

/* n positions of random keys (biased along `dir` by `bias`, so scores
 * reach ~bias) and values. */
static void fill(cache *c, const shape *s, int n, const float *dir, double bias) {
    c->k_stride = attn_row_bytes(c->type, s->dk) + 6; /* a stride that is not the row */
    c->v_stride = attn_row_bytes(c->type, s->dv) + 2;
    c->k = malloc(c->k_stride * (size_t)n);
    c->v = malloc(c->v_stride * (size_t)n);
    c->kf = malloc(sizeof(float) * (size_t)s->dk * (size_t)n);
    c->vf = malloc(sizeof(float) * (size_t)s->dv * (size_t)n);
    float *x = malloc(sizeof(float) * (size_t)(s->dk + s->dv));
    for (int p = 0; p < n; p++) {
        for (int d = 0; d < s->dk; d++) x[d] = (float)(rnd() + bias * dir[d] * (0.8 + 0.2 * rnd()));
        attn_store(c->k + (size_t)p * c->k_stride, c->type, x, s->dk);
        read_back(c->kf + (size_t)p * s->dk, c->k + (size_t)p * c->k_stride, c->type, s->dk);
        for (int d = 0; d < s->dv; d++) x[d] = (float)rnd();
        attn_store(c->v + (size_t)p * c->v_stride, c->type, x, s->dv);
        read_back(c->vf + (size_t)p * s->dv, c->v + (size_t)p * c->v_stride, c->type, s->dv);
    }
    if (s->v_in_k) /* values: the first dv elements of each key */
        for (int p = 0; p < n; p++)
            memcpy(c->vf + (size_t)p * s->dv, c->kf + (size_t)p * s->dk,
                   sizeof(float) * (size_t)s->dv);
    free(x);
}

static void cache_free(cache *c) { free(c->k), free(c->v), free(c->kf), free(c->vf); }

/* want (dv) = direct softmax in double; returns the largest |score|. */
static double reference(double *want, const float *q, const cache *c, const shape *s, int n,
                        float scale) {
    double *sc = malloc(sizeof(double) * (size_t)n), mx = -INFINITY, smax = 0.0, sum = 0.0;
    for (int p = 0; p < n; p++) {
        double a = 0.0;
        for (int d = 0; d < s->dk; d++) a += (double)q[d] * c->kf[(size_t)p * s->dk + d];
        sc[p] = a * scale;
        mx = sc[p] > mx ? sc[p] : mx;
        smax = fabs(sc[p]) > smax ? fabs(sc[p]) : smax;
    }
    for (int d = 0; d < s->dv; d++) want[d] = 0.0;
    for (int p = 0; p < n; p++) {
        double w = exp(sc[p] - mx);
        sum += w;
        for (int d = 0; d < s->dv; d++) want[d] += w * c->vf[(size_t)p * s->dv + d];
    }
    for (int d = 0; d < s->dv; d++) want[d] /= sum;
    free(sc);
    return smax;
}

static const char *isa_name(int isa) {
    static const char *n[] = {"scalar", "avx2", "avx512", "neon"};
    return n[isa];
}

/* One case: every ISA against the double reference and against scalar. */
static void run_case(const shape *s, uint32_t type, int len, int nq, bool large) {
    float *dir = malloc(sizeof(float) * (size_t)s->dk);
    for (int d = 0; d < s->dk; d++) dir[d] = (float)(rnd() > 0 ? 1 : -1);
    double bias = large ? 3.0 : 0.0;
    cache c = {.type = type};
    fill(&c, s, len, dir, bias);
    float scale = 1.0f / sqrtf((float)s->dk);
    float *q = malloc(sizeof(float) * (size_t)(nq * s->dk));
    float *out = malloc(sizeof(float) * (size_t)(nq * s->dv) * KERN_ISA_COUNT);
    double *want = malloc(sizeof(double) * (size_t)(nq * s->dv));
    int n_keys[ATTN_QMAX];
    const float *qp[ATTN_QMAX];
    float *op[ATTN_QMAX];
    double smax = 0.0, vmax = 0.0;
    for (int i = 0; i < nq; i++) {
        for (int d = 0; d < s->dk; d++)
            q[i * s->dk + d] =
                (float)(rnd() + (large ? 40.0 * dir[d] / s->dk * sqrtf((float)s->dk) : 0.0));
        n_keys[i] = len - nq + 1 + i > 0 ? len - nq + 1 + i : 1;
        qp[i] = q + i * s->dk;
        double sm = reference(want + i * s->dv, qp[i], &c, s, n_keys[i], scale);
        smax = sm > smax ? sm : smax;
    }
    for (size_t i = 0; i < (size_t)len * s->dv; i++)
        vmax = fabs(c.vf[i]) > vmax ? fabs(c.vf[i]) : vmax;
    double tol = vmax * 2e-7 * (16.0 + 4.0 * smax);
    float *scratch = malloc(sizeof(float) * attn_scratch_floats(s->dk, s->dv));
    attn_args a = {.out = op,
                   .q = qp,
                   .n_keys = n_keys,
                   .nq = nq,
                   .dk = s->dk,
                   .dv = s->dv,
                   .scale = scale,
                   .k = {c.k, c.k_stride, type},
                   .v = {c.v, c.v_stride, type},
                   .v_in_k = s->v_in_k};
    for (int isa = 0; isa < KERN_ISA_COUNT; isa++) {
        float *o = out + (size_t)isa * nq * s->dv;
        for (int i = 0; i < nq; i++) op[i] = o + i * s->dv;
        if (!attn_run_isa((enum kern_isa)isa, &a, scratch)) continue;
        double err = 0.0, err_s = 0.0;
        for (int i = 0; i < nq * s->dv; i++) {
            double e = fabs(o[i] - want[i]), es = fabs((double)o[i] - out[i]);
            err = e > err || e != e ? e : err;
            err_s = es > err_s || es != es ? es : err_s;
        }
        CHECKF(err <= tol && err_s <= tol,
               "%s %s dk %d dv %d%s len %d nq %d%s: err %.3g vs double, %.3g vs scalar (tol %.3g)",
               isa_name(isa), type_name(type), s->dk, s->dv, s->v_in_k ? " (v in k)" : "", len, nq,
               large ? " large scores" : "", err, err_s, tol);
        if (len == 4096 && nq == 5)
            fprintf(stderr,
                    "  %-6s %-4s dk %3d len %4d%s: max err %.2e (tol %.2e, max |score| %.0f)\n",
                    isa_name(isa), type_name(type), s->dk, len, large ? " large" : "      ", err,
                    tol, smax);
    }
    free(scratch), free(q), free(out), free(want), free(dir);
    cache_free(&c);
}

/* attn_store equals the scalar conversions, padding included. */
static void test_store(void) {
    float x[70];
    for (int i = 0; i < 70; i++) x[i] = (float)(rnd() * 3.0);
    uint16_t h[70];
    attn_store(h, TYPE_F16, x, 70);
    bool same = true;
    for (int i = 0; i < 70; i++) same &= h[i] == half_from_f32(x[i]);
    CHECK(same);
    CHECK(attn_row_bytes(TYPE_Q8_0, 70) == 3 * sizeof(block_q8_0));
    CHECK(attn_row_bytes(TYPE_F16, 70) == 140 && attn_row_bytes(TYPE_F32, 70) == 280);
    block_q8_0 got[3], want[3];
    float padded[96] = {0};
    memcpy(padded, x, sizeof x);
    attn_store(got, TYPE_Q8_0, x, 70);
    type_get(TYPE_Q8_0)->from_f32(padded, want, 96);
    CHECK(memcmp(got, want, sizeof got) == 0);
}

int main(void) {
    test_store();
    static const shape shapes[] = {{64, 64, false}, {8, 8, false}, {40, 24, false}, {96, 80, true}};
    static const uint32_t types[] = {TYPE_F32, TYPE_F16, TYPE_Q8_0};
    static const int lens[] = {1, 7, 31, 32, 33, 1000, 4096};
    static const int nqs[] = {1, 5, 32};
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (size_t ti = 0; ti < 3; ti++)
            for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++)
                for (size_t qi = 0; qi < 3; qi++) {
                    /* the long lengths with the first shape only (time) */
                    if (lens[li] >= 1000 && si != 0 && nqs[qi] != 5) continue;
                    run_case(&shapes[si], types[ti], lens[li], nqs[qi], false);
                    run_case(&shapes[si], types[ti], lens[li], nqs[qi], true);
                }
    return check_done("test_attn");
}
