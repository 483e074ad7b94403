/*
 * optim.c - AdamW, gradient norm and learning-rate schedule (see optim.h).
 */
#include "train/optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"

#define BLOCK 65536

penny_status tr_optim_new(size_t n, pool *p, tr_optim **out, penny_error *err) {
    *out = NULL;
    tr_optim *o = calloc(1, sizeof *o);
    if (!o) return err_set(err, PENNY_ERR_NOMEM, "optimizer: out of memory");
    o->n = n;
    o->pool = p;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    o->vec = __builtin_cpu_supports("avx512f");
#endif
    o->n_blocks = (n + BLOCK - 1) / BLOCK;
    o->m = calloc(n ? n : 1, sizeof *o->m);
    o->v = calloc(n ? n : 1, sizeof *o->v);
    o->block_sums = calloc(o->n_blocks + 1, sizeof *o->block_sums);
    if (!o->m || !o->v || !o->block_sums) {
        tr_optim_free(o);
        return err_set(err, PENNY_ERR_NOMEM, "optimizer: out of memory (%zu parameters)", n);
    }
    *out = o;
    return PENNY_OK;
}

void tr_optim_free(tr_optim *o) {
    if (!o) return;
    free(o->m);
    free(o->v);
    free(o->block_sums);
    free(o);
}

static void run(pool *p, pool_fn fn, void *arg) {
    if (p)
        pool_run(p, fn, arg);
    else
        fn(arg, 0, 1);
}

typedef struct norm_job {
    tr_optim *o;
    const float *g;
} norm_job;

static void norm_worker(void *arg, int ith, int nth) {
    norm_job *j = arg;
    long lo, hi;
    pool_range((long)j->o->n_blocks, ith, nth, &lo, &hi);
    for (long b = lo; b < hi; b++) {
        size_t s = (size_t)b * BLOCK, e = s + BLOCK < j->o->n ? s + BLOCK : j->o->n;
        double sum = 0.0;
        for (size_t i = s; i < e; i++) sum += (double)j->g[i] * j->g[i];
        j->o->block_sums[b] = sum;
    }
}

double tr_optim_grad_norm(tr_optim *o, const float *g) {
    norm_job j = {o, g};
    run(o->pool, norm_worker, &j);
    double sum = 0.0;
    for (size_t b = 0; b < o->n_blocks; b++) sum += o->block_sums[b];
    return sqrt(sum);
}

typedef struct step_job {
    float *p, *m, *v;
    const float *g;
    long n;
    float lr, b1, b2, eps, wd, scale, c1, c2;
    bool vec; /* AVX-512 available */
} step_job;

/* One element, in the order of operations the vector version repeats. */
static void adamw_one(step_job *j, long i) {
    float g = j->g[i] * j->scale;
    float m = j->m[i] = j->b1 * j->m[i] + (1.0f - j->b1) * g;
    float v = j->v[i] = j->b2 * j->v[i] + (1.0f - j->b2) * g * g;
    float mhat = m / j->c1, vhat = v / j->c2;
    j->p[i] -= j->lr * (mhat / (sqrtf(vhat) + j->eps) + j->wd * j->p[i]);
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define HAVE_AVX512_ADAMW 1

/* Sixteen elements at a time with the same roundings as adamw_one (no
 * fused multiply-adds), so either path gives the same bits. */
__attribute__((target("avx512f"))) static long adamw_avx512(step_job *j, long lo, long hi) {
    __m512 b1 = _mm512_set1_ps(j->b1), b2 = _mm512_set1_ps(j->b2),
           nb1 = _mm512_set1_ps(1.0f - j->b1);
    __m512 nb2 = _mm512_set1_ps(1.0f - j->b2), c1 = _mm512_set1_ps(j->c1),
           c2 = _mm512_set1_ps(j->c2);
    __m512 sc = _mm512_set1_ps(j->scale), lr = _mm512_set1_ps(j->lr), eps = _mm512_set1_ps(j->eps);
    __m512 wd = _mm512_set1_ps(j->wd);
    long i = lo;
    for (; i + 16 <= hi; i += 16) {
        __m512 g = _mm512_mul_ps(_mm512_loadu_ps(j->g + i), sc), p = _mm512_loadu_ps(j->p + i);
        __m512 m =
            _mm512_add_ps(_mm512_mul_ps(b1, _mm512_loadu_ps(j->m + i)), _mm512_mul_ps(nb1, g));
        __m512 v = _mm512_add_ps(_mm512_mul_ps(b2, _mm512_loadu_ps(j->v + i)),
                                 _mm512_mul_ps(_mm512_mul_ps(nb2, g), g));
        __m512 step = _mm512_div_ps(_mm512_div_ps(m, c1),
                                    _mm512_add_ps(_mm512_sqrt_ps(_mm512_div_ps(v, c2)), eps));
        step = _mm512_mul_ps(lr, _mm512_add_ps(step, _mm512_mul_ps(wd, p)));
        _mm512_storeu_ps(j->m + i, m);
        _mm512_storeu_ps(j->v + i, v);
        _mm512_storeu_ps(j->p + i, _mm512_sub_ps(p, step));
    }
    return i;
}
#endif

static void step_worker(void *arg, int ith, int nth) {
    step_job *j = arg;
    long lo, hi;
    pool_range(j->n, ith, nth, &lo, &hi);
#ifdef HAVE_AVX512_ADAMW
    if (j->vec) lo = adamw_avx512(j, lo, hi);
#endif
    for (long i = lo; i < hi; i++) adamw_one(j, i);
}

void tr_optim_step(tr_optim *o, float *params, const float *grads, const tr_tensor *tensors,
                   int n_tensors, const tr_adamw_params *hp, float lr, long step,
                   float grad_scale) {
    float c1 = 1.0f - powf(hp->beta1, (float)step), c2 = 1.0f - powf(hp->beta2, (float)step);
    for (int t = 0; t < n_tensors; t++) {
        const tr_tensor *T = &tensors[t];
        size_t off = T->off;
        step_job j = {
            params + off, o->m + off, o->v + off, grads + off, (long)(T->ne[0] * T->ne[1]),
            lr,           hp->beta1,  hp->beta2,  hp->eps,     T->decay ? hp->weight_decay : 0.0f,
            grad_scale,   c1,         c2,         o->vec};
        run(j.n >= 4096 ? o->pool : NULL, step_worker, &j);
    }
}

float tr_lr_at(long step, long warmup, long total, float lr_max, float lr_min) {
    if (step < warmup) return lr_max * (float)(step + 1) / (float)warmup;
    if (step >= total || total <= warmup) return lr_min;
    double progress = (double)(step - warmup) / (double)(total - warmup);
    return lr_min + (float)(0.5 * (1.0 + cos(3.141592653589793 * progress))) * (lr_max - lr_min);
}
