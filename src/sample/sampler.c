/*
 * sampler.c - turns a row of logits into the next token.
 *
 * The chain works on a private copy of the logits (the caller's row is const):
 * penalties over the last penalty_last_n accepted tokens, then greedy argmax
 * when temperature <= 0, otherwise top-k (partial selection), top-p and min-p
 * (both on the untempered distribution of the surviving candidates), and a
 * draw from softmax(logit / T) walked in descending order. All buffers are
 * sized for the vocabulary once, in penny_sampler_new, so sampling in the
 * decode loop never allocates.
 *
 * Determinism: candidates are ordered by a total order (logit descending, then
 * id ascending), the sorts are our own, and the draw consumes exactly one
 * rng_uniform per non-greedy call. Same seed + same logits => same tokens,
 * whatever the machine or libc.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "penny.h"
#include "sample/sampler.h"

/* Seed used when the caller keeps the defaults ("penny" in ASCII). Fixed so
 * that library users get reproducible output; the CLI passes a random seed
 * when the user gives none. */
#define SAMPLER_DEFAULT_SEED UINT64_C(0x70656E6E79)

/* Below this many elements the sorts switch to insertion sort. */
#define SMALL_RANGE 16
/* From this many candidates on, a full row is radix-sorted. */
#define RADIX_MIN 256

typedef struct cand {
    float logit;
    int32_t id;
} cand;

struct penny_sampler {
    penny_sampler_params p;
    int n_vocab;
    rng rng;
    float *logit;      /* (n_vocab) working copy of the logits, by token id */
    cand *cand;        /* (n_vocab) candidates still in the running */
    cand *tmp;         /* (n_vocab) scratch for the radix sort */
    double *w;         /* (n_vocab) unnormalised probabilities of cand[] */
    int32_t *count;    /* (n_vocab) occurrence scratch, all zero between calls */
    penny_token *hist; /* (penalty_last_n) ring of accepted tokens */
    int hist_len;      /* valid entries in hist */
    int hist_pos;      /* next slot to write */
};

penny_sampler_params penny_sampler_default_params(void) {
    penny_sampler_params p = {
        .temperature = 0.8f,
        .top_k = 40,
        .top_p = 0.95f,
        .min_p = 0.05f,
        .repeat_penalty = 1.0f,
        .presence_penalty = 0.0f,
        .frequency_penalty = 0.0f,
        .penalty_last_n = 64,
        .seed = SAMPLER_DEFAULT_SEED,
    };
    return p;
}

/* ---- ordering and selection (own code: qsort may allocate and its order
 * of equal keys differs between C libraries) ---- */

/* The total order of candidates: higher logit first, lower id on ties. NaN
 * never reaches here (sanitised on copy). */
static int cand_before(const cand *a, const cand *b) {
    return a->logit > b->logit || (a->logit == b->logit && a->id < b->id);
}

static void cand_swap(cand *a, cand *b) {
    cand t = *a;
    *a = *b;
    *b = t;
}

static void sort_insertion(cand *c, int n) {
    for (int i = 1; i < n; i++) {
        cand x = c[i];
        int j = i;
        for (; j > 0 && cand_before(&x, &c[j - 1]); j--) c[j] = c[j - 1];
        c[j] = x;
    }
}

/* Heap whose root is the candidate that sorts last, for heapsort. */
static void heap_sift(cand *c, int root, int n) {
    for (;;) {
        int child = 2 * root + 1;
        if (child >= n) return;
        if (child + 1 < n && cand_before(&c[child], &c[child + 1])) child++;
        if (!cand_before(&c[root], &c[child])) return;
        cand_swap(&c[root], &c[child]);
        root = child;
    }
}

/* Worst-case fallback that keeps the sorts O(n log n) on any input. */
static void sort_heap(cand *c, int n) {
    for (int i = n / 2 - 1; i >= 0; i--) heap_sift(c, i, n);
    for (int end = n - 1; end > 0; end--) {
        cand_swap(&c[0], &c[end]);
        heap_sift(c, 0, end);
    }
}

/* Partitions c around a median-of-three pivot; returns the pivot's final
 * index. Everything left of it sorts before it, everything right after. Keys
 * are distinct under cand_before, so Lomuto's scheme does not degrade. */
static int partition(cand *c, int n) {
    int a = 0, b = n / 2, z = n - 1;
    if (cand_before(&c[b], &c[a])) cand_swap(&c[a], &c[b]);
    if (cand_before(&c[z], &c[b])) cand_swap(&c[b], &c[z]);
    if (cand_before(&c[b], &c[a])) cand_swap(&c[a], &c[b]);
    cand_swap(&c[b], &c[z]); /* median becomes the pivot at the end */
    int i = 0;
    for (int j = 0; j < z; j++)
        if (cand_before(&c[j], &c[z])) cand_swap(&c[i++], &c[j]);
    cand_swap(&c[i], &c[z]);
    return i;
}

static int depth_limit(int n) {
    int d = 0;
    while (n > 1) n >>= 1, d++;
    return 2 * d;
}

/* Introsort: quicksort, heapsort past the depth limit, insertion for small.
 * Used on the top-k survivors and on short rows. */
static void sort_cands(cand *c, int n) {
    int depth = depth_limit(n);
    while (n > SMALL_RANGE) {
        if (depth-- == 0) {
            sort_heap(c, n);
            return;
        }
        int m = partition(c, n);
        if (m < n - 1 - m) { /* recurse into the smaller side, loop on the larger */
            sort_cands(c, m);
            c += m + 1, n -= m + 1;
        } else {
            sort_cands(c + m + 1, n - m - 1);
            n = m;
        }
    }
    sort_insertion(c, n);
}

/* Maps a logit to an unsigned key that sorts the other way round: higher
 * logits get smaller keys. Exact for every float but NaN and -0 (both
 * removed by sanitize), so it agrees with cand_before. */
static uint32_t desc_key(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return (u & 0x80000000u) ? u : ~u & 0x7FFFFFFFu;
}

/* Stable LSD radix sort (4 passes of 8 bits) of candidates that arrive in id
 * order, so ties stay by id: the same order as sort_cands, in O(n). With
 * top-k off, sampling a 32k-token row took 4 ms with introsort, under 1 ms so. */
static void sort_radix(cand *c, cand *tmp, int n) {
    for (int shift = 0; shift < 32; shift += 8) {
        int start[257] = {0};
        for (int i = 0; i < n; i++) start[((desc_key(c[i].logit) >> shift) & 0xFF) + 1]++;
        for (int b = 0; b < 256; b++) start[b + 1] += start[b];
        for (int i = 0; i < n; i++) tmp[start[(desc_key(c[i].logit) >> shift) & 0xFF]++] = c[i];
        cand *t = c;
        c = tmp, tmp = t;
    } /* an even number of passes: the result is back in the caller's array */
}

/* Puts the k first tokens of the total order into c[0..k), unordered. The
 * heap's root is the weakest token kept, so each further token costs one
 * well-predicted comparison: O(n) on real rows, O(n log k) at worst, instead
 * of sorting the whole vocabulary. */
static void gather_top_k(cand *c, const float *l, int n, int k) {
    for (int i = 0; i < k; i++) c[i] = (cand){l[i], i};
    for (int i = k / 2 - 1; i >= 0; i--) heap_sift(c, i, k);
    for (int i = k; i < n; i++) {
        if (!(l[i] > c[0].logit)) continue; /* a tie loses: i is the higher id */
        c[0] = (cand){l[i], i};
        heap_sift(c, 0, k);
    }
}

/* ---- the chain ---- */

/* Keeps logits usable by the ordering and softmax: NaN ranks last, +inf
 * (or a penalty overflowing) becomes the largest finite float. Written as
 * selects so the copy of the row stays branch-free. */
static float sanitize(float x) {
    float y = x > FLT_MAX ? FLT_MAX : x == 0 ? 0.0f : x; /* -0 sorts as +0 */
    return y == y ? y : -INFINITY;
}

/* Penalises each distinct token of the window once, with its count there. */
static void apply_penalties(penny_sampler *s) {
    const penny_sampler_params *p = &s->p;
    if (p->repeat_penalty == 1.0f && p->frequency_penalty == 0.0f && p->presence_penalty == 0.0f)
        return;
    for (int i = 0; i < s->hist_len; i++) s->count[s->hist[i]]++;
    for (int i = 0; i < s->hist_len; i++) {
        penny_token t = s->hist[i];
        int n = s->count[t];
        if (n == 0) continue; /* already done */
        float l = s->logit[t];
        l = l > 0 ? l / p->repeat_penalty : l * p->repeat_penalty;
        l -= (float)n * p->frequency_penalty;
        l -= p->presence_penalty;
        s->logit[t] = sanitize(l);
        s->count[t] = 0;
    }
}

/* Lowest id holding the largest logit. Two passes, because a one-pass loop
 * that reloads c[best] each step was measured three times slower. */
static penny_token argmax(const float *l, int n) {
    float max = l[0];
    for (int i = 1; i < n; i++) max = l[i] > max ? l[i] : max;
    int i = 0;
    while (l[i] != max) i++; /* no NaN here, so max is found */
    return i;
}

/* Fills s->w[0..n) with exp((logit - max) / temp) for sorted candidates and
 * returns their sum. An all -inf row gives the first candidate weight 1. */
static double weigh(penny_sampler *s, int n, double temp) {
    double max = s->cand[0].logit, sum = 0;
    for (int i = 0; i < n; i++) {
        double d = (double)s->cand[i].logit - max;
        s->w[i] = isinf(max) ? (i == 0) : exp(d / temp);
        sum += s->w[i];
    }
    return sum;
}

/* Smallest sorted prefix whose probability reaches top_p (at least one). */
static int keep_top_p(penny_sampler *s, int n) {
    double total = weigh(s, n, 1.0), goal = (double)s->p.top_p * total, cum = 0;
    for (int i = 0; i < n; i++) {
        cum += s->w[i];
        if (cum >= goal) return i + 1;
    }
    return n;
}

/* Candidates whose probability is at least min_p times the top one's; in
 * log space that is logit >= top logit + log(min_p), which needs no exp. */
static int keep_min_p(penny_sampler *s, int n) {
    double top = s->cand[0].logit, floor = log((double)s->p.min_p);
    int k = 1;
    while (k < n && (double)s->cand[k].logit - top >= floor) k++;
    return k;
}

/* Draws from softmax(logit / T) over the sorted candidates. */
static penny_token draw(penny_sampler *s, int n) {
    double sum = weigh(s, n, s->p.temperature);
    double u = rng_uniform(&s->rng) * sum, cum = 0;
    int last = 0;
    for (int i = 0; i < n; i++) {
        if (s->w[i] <= 0) continue;
        cum += s->w[i];
        last = i;
        if (u < cum) return s->cand[i].id;
    }
    return s->cand[last].id; /* u rounded up to sum */
}

penny_token penny_sampler_sample(penny_sampler *s, const float *logits) {
    PENNY_ASSERT(s && logits);
    int n = s->n_vocab;
    for (int i = 0; i < n; i++) s->logit[i] = sanitize(logits[i]);
    apply_penalties(s);
    if (!(s->p.temperature > 0)) return argmax(s->logit, n);
    if (s->p.top_k > 0 && s->p.top_k < n) {
        gather_top_k(s->cand, s->logit, n, s->p.top_k);
        n = s->p.top_k;
        sort_cands(s->cand, n);
    } else {
        for (int i = 0; i < n; i++) s->cand[i] = (cand){s->logit[i], i};
        if (n >= RADIX_MIN)
            sort_radix(s->cand, s->tmp, n);
        else
            sort_cands(s->cand, n);
    }
    if (s->p.top_p < 1.0f) n = keep_top_p(s, n);
    if (s->p.min_p > 0.0f) n = keep_min_p(s, n);
    return draw(s, n);
}

/* ---- lifetime ---- */

static penny_status check_params(const penny_sampler_params *p, int n_vocab, penny_error *err) {
    if (n_vocab <= 0)
        return err_set(err, PENNY_ERR_ARG, "sampler: n_vocab %d must be > 0", n_vocab);
    if (!isfinite(p->temperature))
        return err_set(err, PENNY_ERR_ARG, "sampler: temperature %g is not finite",
                       (double)p->temperature);
    if (isnan(p->top_p) || p->top_p < 0)
        return err_set(err, PENNY_ERR_ARG, "sampler: top_p %g must be in [0, 1] (>= 1: off)",
                       (double)p->top_p);
    if (isnan(p->min_p) || p->min_p > 1)
        return err_set(err, PENNY_ERR_ARG, "sampler: min_p %g must be <= 1 (<= 0: off)",
                       (double)p->min_p);
    if (!isfinite(p->repeat_penalty) || p->repeat_penalty <= 0)
        return err_set(err, PENNY_ERR_ARG, "sampler: repeat_penalty %g must be > 0 (1: off)",
                       (double)p->repeat_penalty);
    if (!isfinite(p->presence_penalty) || !isfinite(p->frequency_penalty))
        return err_set(err, PENNY_ERR_ARG,
                       "sampler: presence_penalty %g / frequency_penalty %g "
                       "must be finite",
                       (double)p->presence_penalty, (double)p->frequency_penalty);
    if (p->penalty_last_n < 0)
        return err_set(err, PENNY_ERR_ARG,
                       "sampler: penalty_last_n %d must be >= 0 (pass the context size for "
                       "the whole history)",
                       p->penalty_last_n);
    return PENNY_OK;
}

penny_status penny_sampler_new(const penny_sampler_params *params, int n_vocab, penny_sampler **out,
                               penny_error *err) {
    if (!out) return err_set(err, PENNY_ERR_ARG, "sampler: out is NULL");
    *out = NULL;
    penny_sampler_params p = params ? *params : penny_sampler_default_params();
    penny_status st = check_params(&p, n_vocab, err);
    if (st) return st;
    penny_sampler *s = calloc(1, sizeof *s);
    if (!s) return err_set(err, PENNY_ERR_NOMEM, "sampler: out of memory");
    s->p = p;
    s->n_vocab = n_vocab;
    s->logit = malloc((size_t)n_vocab * sizeof *s->logit);
    s->cand = malloc((size_t)n_vocab * sizeof *s->cand);
    s->tmp = malloc((size_t)n_vocab * sizeof *s->tmp);
    s->w = malloc((size_t)n_vocab * sizeof *s->w);
    s->count = calloc((size_t)n_vocab, sizeof *s->count);
    s->hist = p.penalty_last_n ? malloc((size_t)p.penalty_last_n * sizeof *s->hist) : NULL;
    if (!s->logit || !s->cand || !s->tmp || !s->w || !s->count || (p.penalty_last_n && !s->hist)) {
        penny_sampler_free(s);
        return err_set(err, PENNY_ERR_NOMEM,
                       "sampler: out of memory for n_vocab %d, penalty_last_n %d", n_vocab,
                       p.penalty_last_n);
    }
    rng_seed(&s->rng, p.seed);
    *out = s;
    return PENNY_OK;
}

void penny_sampler_free(penny_sampler *s) {
    if (!s) return;
    free(s->logit);
    free(s->cand);
    free(s->tmp);
    free(s->w);
    free(s->count);
    free(s->hist);
    free(s);
}

void penny_sampler_accept(penny_sampler *s, penny_token t) {
    PENNY_ASSERT(s);
    if (t < 0 || t >= s->n_vocab) {
        log_msg(LOG_WARN, "sampler: ignoring token %d outside the vocabulary (%d)", (int)t,
                s->n_vocab);
        return;
    }
    int n = s->p.penalty_last_n;
    if (n == 0) return;
    s->hist[s->hist_pos] = t;
    s->hist_pos = (s->hist_pos + 1) % n;
    if (s->hist_len < n) s->hist_len++;
}

void penny_sampler_reset(penny_sampler *s) {
    PENNY_ASSERT(s);
    s->hist_len = 0;
    s->hist_pos = 0;
    rng_seed(&s->rng, s->p.seed);
}
