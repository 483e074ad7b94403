/*
 * test_sampler.c - the sampler chain and its RNG against known answers.
 *
 * The RNG is checked against published splitmix64 / xoshiro256** vectors, so
 * "same seed, same tokens on every machine" rests on more than
 * self-consistency. Filters are checked by their exact candidate sets (logits
 * built so the probabilities are known, sampled under many seeds: every token
 * drawn must be allowed and every allowed token must show up), the draw by a
 * chi-square test against softmax(logits / T) and by a golden sequence from
 * an independent Python transcription, and penalties by greedy choices that
 * flip exactly at the computed thresholds.
 */
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "check.h"
#include "penny.h"
#include "sample/sampler.h"

#define MAXV 1024

/* Parameters with every filter off: plain softmax(logits / T). */
static penny_sampler_params plain(float temp, uint64_t seed) {
    penny_sampler_params p = penny_sampler_default_params();
    p.temperature = temp;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.seed = seed;
    return p;
}

static penny_sampler *make(const penny_sampler_params *p, int n_vocab) {
    penny_sampler *s = NULL;
    penny_error err = {0};
    penny_status st = penny_sampler_new(p, n_vocab, &s, &err);
    CHECKF(st == PENNY_OK, "%s", err.message);
    if (st) exit(1);
    return s;
}

/* Samples `draws` tokens under each of `seeds` seeds; hits[t] counts token t. */
static void tally(penny_sampler_params p, const float *logits, int n, int seeds, int draws,
                  int *hits) {
    memset(hits, 0, (size_t)n * sizeof *hits);
    for (int k = 0; k < seeds; k++) {
        p.seed = 1000 + (uint64_t)k * 7919;
        penny_sampler *s = make(&p, n);
        for (int i = 0; i < draws; i++) {
            penny_token t = penny_sampler_sample(s, logits);
            CHECKF(t >= 0 && t < n, "token %d", (int)t);
            if (t >= 0 && t < n) hits[t]++;
        }
        penny_sampler_free(s);
    }
}

/* True when exactly the tokens in `allowed` were hit, each at least once. */
static bool hit_set_is(const int *hits, int n, const int *allowed, int n_allowed) {
    bool ok = true;
    for (int t = 0; t < n; t++) {
        bool in = false;
        for (int j = 0; j < n_allowed; j++) in = in || allowed[j] == t;
        if (in != (hits[t] > 0)) {
            fprintf(stderr, "  token %d: allowed %d, hits %d\n", t, in, hits[t]);
            ok = false;
        }
    }
    return ok;
}

static void test_rng(void) {
    rng r;
    rng_seed(&r, 1234567); /* splitmix64 from 1234567: published outputs */
    CHECK(r.s[0] == UINT64_C(6457827717110365317));
    CHECK(r.s[1] == UINT64_C(3203168211198807973));
    CHECK(r.s[2] == UINT64_C(9817491932198370423));
    CHECK(r.s[3] == UINT64_C(4593380528125082431));
    /* xoshiro256** from state {1, 2, 3, 4}: the reference implementation's outputs */
    static const uint64_t want[10] = {
        UINT64_C(11520),
        UINT64_C(0),
        UINT64_C(1509978240),
        UINT64_C(1215971899390074240),
        UINT64_C(1216172134540287360),
        UINT64_C(607988272756665600),
        UINT64_C(16172922978634559625),
        UINT64_C(8476171486693032832),
        UINT64_C(10595114339597558777),
        UINT64_C(2904607092377533576),
    };
    r = (rng){{1, 2, 3, 4}};
    for (int i = 0; i < 10; i++) CHECKF(rng_next(&r) == want[i], "output %d", i);
    r = (rng){{1, 2, 3, 4}};
    rng_next(&r);
    rng_next(&r);
    rng_next(&r);
    CHECK(rng_uniform(&r) == (double)(want[3] >> 11) / 9007199254740992.0);
    /* uniform in [0, 1): range and mean over many draws */
    rng_seed(&r, 0);
    double sum = 0, lo = 1, hi = 0;
    for (int i = 0; i < 100000; i++) {
        double u = rng_uniform(&r);
        sum += u;
        lo = u < lo ? u : lo;
        hi = u > hi ? u : hi;
    }
    CHECK(lo >= 0 && hi < 1 && lo < 0.001 && hi > 0.999);
    CHECKF(fabs(sum / 100000 - 0.5) < 0.004, "mean %f", sum / 100000); /* 4.4 sigma */
}

static void test_defaults_and_validation(void) {
    penny_sampler_params d = penny_sampler_default_params();
    CHECK(d.temperature == 0.8f && d.top_k == 40 && d.top_p == 0.95f && d.min_p == 0.05f);
    CHECK(d.repeat_penalty == 1.0f && d.presence_penalty == 0 && d.frequency_penalty == 0);
    CHECK(d.penalty_last_n == 64);
    CHECK(penny_sampler_default_params().seed == d.seed); /* fixed, not random */

    struct {
        const char *name;
        penny_sampler_params p;
        int n_vocab;
    } bad[9];
    for (int i = 0; i < 9; i++) bad[i].p = d, bad[i].n_vocab = 10;
    bad[0].name = "n_vocab", bad[0].n_vocab = 0;
    bad[1].name = "temperature", bad[1].p.temperature = NAN;
    bad[2].name = "top_p", bad[2].p.top_p = -0.1f;
    bad[3].name = "top_p", bad[3].p.top_p = NAN;
    bad[4].name = "min_p", bad[4].p.min_p = 1.5f;
    bad[5].name = "repeat_penalty", bad[5].p.repeat_penalty = 0;
    bad[6].name = "frequency_penalty", bad[6].p.frequency_penalty = INFINITY;
    bad[7].name = "penalty_last_n", bad[7].p.penalty_last_n = -1;
    bad[8].name = "temperature", bad[8].p.temperature = INFINITY;
    for (int i = 0; i < 9; i++) {
        penny_sampler *s = (penny_sampler *)&d; /* must be overwritten with NULL */
        penny_error err = {0};
        penny_status st = penny_sampler_new(&bad[i].p, bad[i].n_vocab, &s, &err);
        CHECKF(st == PENNY_ERR_ARG && err.code == PENNY_ERR_ARG && s == NULL, "case %d", i);
        CHECKF(strstr(err.message, bad[i].name) != NULL, "case %d: '%s'", i, err.message);
    }
    /* NULL params means the defaults; NULL error object is allowed */
    penny_sampler *s = NULL;
    CHECK(penny_sampler_new(NULL, 10, &s, NULL) == PENNY_OK && s != NULL);
    penny_sampler_free(s);
    penny_sampler_free(NULL);
    CHECK(penny_sampler_new(NULL, 10, NULL, NULL) == PENNY_ERR_ARG);
}

static void test_greedy(void) {
    penny_sampler_params p = plain(0.0f, 1);
    penny_sampler *s = make(&p, 6);
    float l[6] = {0.1f, 3.0f, -2.0f, 3.0f, 2.9f, 3.0f};
    float copy[6];
    memcpy(copy, l, sizeof l);
    for (int i = 0; i < 5; i++) CHECK(penny_sampler_sample(s, l) == 1); /* tie: lowest id */
    CHECK(memcmp(copy, l, sizeof l) == 0);                              /* input untouched */
    float nan_first[6] = {NAN, -1.0f, 5.0f, NAN, 5.0f, 4.0f};
    CHECK(penny_sampler_sample(s, nan_first) == 2); /* NaN never wins */
    float all_ninf[6] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY};
    CHECK(penny_sampler_sample(s, all_ninf) == 0);
    float pinf[6] = {1, 2, 3, INFINITY, 4, 5};
    CHECK(penny_sampler_sample(s, pinf) == 3);
    penny_sampler_free(s);
    p.temperature = -1.0f; /* negative is greedy too */
    s = make(&p, 6);
    CHECK(penny_sampler_sample(s, l) == 1);
    penny_sampler_free(s);
}

/* Random logits in [-4, 4), from a fixed stream. */
static void random_logits(float *l, int n, uint64_t seed) {
    rng r;
    rng_seed(&r, seed);
    for (int i = 0; i < n; i++) l[i] = (float)(rng_uniform(&r) * 8 - 4);
}

static void test_top_k_one_is_greedy(void) {
    static float l[MAXV];
    for (int trial = 0; trial < 20; trial++) {
        random_logits(l, MAXV, 100 + (uint64_t)trial);
        penny_sampler_params g = plain(0.0f, 1), k1 = plain(1.5f, (uint64_t)trial);
        k1.top_k = 1;
        penny_sampler *a = make(&g, MAXV), *b = make(&k1, MAXV);
        penny_token ta = penny_sampler_sample(a, l), tb = penny_sampler_sample(b, l);
        CHECKF(ta == tb, "trial %d: greedy %d, top-k 1 %d", trial, (int)ta, (int)tb);
        penny_sampler_free(a);
        penny_sampler_free(b);
    }
}

/* The k first tokens in the total order (higher logit, then lower id). */
static int top_k_by_counting(const float *l, int n, int k, int *out) {
    int m = 0;
    for (int t = 0; t < n; t++) {
        int ahead = 0;
        for (int u = 0; u < n; u++) ahead += l[u] > l[t] || (l[u] == l[t] && u < t);
        if (ahead < k) out[m++] = t;
    }
    return m;
}

/* Row `kind` of the top-k test: random, few distinct values, ascending,
 * all equal (the order is then by id alone). */
static void top_k_row(float *l, int n, int kind) {
    random_logits(l, n, 7);
    for (int i = 0; i < n; i++) {
        if (kind == 1) l[i] = floorf(l[i]);
        if (kind == 2) l[i] = (float)i / 64;
        if (kind == 3) l[i] = 1.0f;
    }
}

/* top-k on a large vocabulary: exactly the k first tokens are ever drawn (a
 * huge temperature makes the draw uniform, ~20 hits per allowed token). The
 * rows exercise the partial selection on ties and on sorted input. */
static void test_top_k_set(void) {
    static float l[MAXV];
    static int hits[MAXV], allowed[MAXV];
    const int ks[6] = {1, 2, 17, 40, 100, 333};
    for (int row = 0; row < 4; row++) {
        top_k_row(l, MAXV, row);
        for (int i = 0; i < 6; i++) {
            int n = top_k_by_counting(l, MAXV, ks[i], allowed);
            CHECK(n == ks[i]);
            penny_sampler_params p = plain(1e30f, 0);
            p.top_k = ks[i];
            tally(p, l, MAXV, 2, 10 * ks[i], hits);
            CHECKF(hit_set_is(hits, MAXV, allowed, n), "row %d, k %d", row, ks[i]);
        }
    }
    /* ties at the boundary keep the lowest ids */
    float flat[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int hits8[8], first3[3] = {0, 1, 2};
    penny_sampler_params p = plain(1.0f, 0);
    p.top_k = 3;
    tally(p, flat, 8, 5, 100, hits8);
    CHECK(hit_set_is(hits8, 8, first3, 3));
    /* k >= n_vocab is off: every token possible */
    int all8[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    p.top_k = 8;
    tally(p, flat, 8, 5, 100, hits8);
    CHECK(hit_set_is(hits8, 8, all8, 8));
}

/* Logits whose softmax is the given distribution (scrambled ids). */
static void logits_of(float *l, const double *prob, int n) {
    for (int i = 0; i < n; i++) l[i] = (float)log(prob[i]);
}

static void test_top_p(void) {
    /* ids 0..4 hold probabilities 0.0625, 0.5, 0.0625, 0.125, 0.25 */
    const double prob[5] = {0.0625, 0.5, 0.0625, 0.125, 0.25};
    float l[5];
    int hits[5];
    logits_of(l, prob, 5);
    penny_sampler_params p = plain(1.0f, 0);
    p.top_p = 0.7f; /* 0.5 < 0.7 <= 0.75: tokens 1, 4 */
    tally(p, l, 5, 20, 100, hits);
    CHECK(hit_set_is(hits, 5, (int[]){1, 4}, 2));
    p.top_p = 0.9f; /* 0.875 < 0.9 <= 0.9375: 1, 4, 3 and the lower id of the tie */
    tally(p, l, 5, 20, 100, hits);
    CHECK(hit_set_is(hits, 5, (int[]){0, 1, 3, 4}, 4));
    p.top_p = 0.3f; /* the top token alone reaches it */
    tally(p, l, 5, 5, 50, hits);
    CHECK(hit_set_is(hits, 5, (int[]){1}, 1));
    p.top_p = 0.0f; /* at least one token is kept */
    tally(p, l, 5, 5, 50, hits);
    CHECK(hit_set_is(hits, 5, (int[]){1}, 1));
    /* top-p is computed on the distribution at T=1, not after temperature:
     * at T=5 the probabilities flatten, but the kept set stays {1, 4} */
    p.top_p = 0.7f;
    p.temperature = 5.0f;
    tally(p, l, 5, 20, 100, hits);
    CHECK(hit_set_is(hits, 5, (int[]){1, 4}, 2));
}

static void test_min_p(void) {
    /* probabilities 0.05, 0.4, 0.1, 0.2, 0.25; min_p 0.3 -> >= 0.12: 1, 3, 4 */
    const double prob[5] = {0.05, 0.4, 0.1, 0.2, 0.25};
    float l[5];
    int hits[5];
    logits_of(l, prob, 5);
    penny_sampler_params p = plain(1.0f, 0);
    p.min_p = 0.3f;
    tally(p, l, 5, 20, 100, hits);
    CHECK(hit_set_is(hits, 5, (int[]){1, 3, 4}, 3));
    p.min_p = 0.2f; /* >= 0.08: token 2 (0.1) joins, token 0 (0.05) stays out */
    tally(p, l, 5, 20, 100, hits);
    CHECK(hit_set_is(hits, 5, (int[]){1, 2, 3, 4}, 4));
    p.min_p = 1.0f; /* only the top */
    tally(p, l, 5, 5, 50, hits);
    CHECK(hit_set_is(hits, 5, (int[]){1}, 1));
}

/* The order of the chain: top-p sees the distribution renormalised over the
 * top-k survivors. Probabilities 0.4, 0.3, 0.2, 0.1 with k=2 become 0.57,
 * 0.43, so top_p 0.5 keeps token 0 alone (over the full distribution 0.4 <
 * 0.5 would keep two). */
static void test_chain_order(void) {
    const double prob[4] = {0.4, 0.3, 0.2, 0.1};
    float l[4];
    int hits[4];
    logits_of(l, prob, 4);
    penny_sampler_params p = plain(1.0f, 0);
    p.top_p = 0.5f;
    tally(p, l, 4, 20, 100, hits);
    CHECK(hit_set_is(hits, 4, (int[]){0, 1}, 2));
    p.top_k = 2;
    tally(p, l, 4, 20, 100, hits);
    CHECK(hit_set_is(hits, 4, (int[]){0}, 1));
}

/* Empirical frequencies against softmax(logits / T): chi-square, 4 degrees
 * of freedom, 18.47 is the 0.1% critical value. The seeds are fixed, so the
 * test is deterministic; the bound only has to hold for a correct sampler. */
static void test_distribution(void) {
    const float l[5] = {0.5f, 2.0f, -1.0f, 1.0f, 0.0f};
    const float temps[3] = {0.7f, 1.0f, 2.5f};
    for (int ti = 0; ti < 3; ti++) {
        double e[5], z = 0;
        for (int i = 0; i < 5; i++) z += e[i] = exp(l[i] / temps[ti]);
        int hits[5];
        const int draws = 20000;
        tally(plain(temps[ti], 0), l, 5, 1, draws, hits);
        double chi2 = 0;
        for (int i = 0; i < 5; i++) {
            double want = draws * e[i] / z;
            chi2 += (hits[i] - want) * (hits[i] - want) / want;
        }
        CHECKF(chi2 < 18.47, "T=%g chi2 %.2f", (double)temps[ti], chi2);
        fprintf(stderr, "  T=%.1f: chi2 %.2f over %d draws\n", (double)temps[ti], chi2, draws);
    }
}

/* Same seed => same tokens; the first tokens for seed 42 come from an
 * independent Python transcription of the RNG and the draw. */
static void test_determinism(void) {
    const float l[5] = {0.5f, 2.0f, -1.0f, 1.0f, 0.0f};
    static const int golden[24] = {1, 1, 1, 0, 2, 3, 3, 3, 3, 1, 1, 1,
                                   3, 1, 3, 0, 1, 3, 3, 3, 1, 1, 1, 1};
    penny_sampler_params p = plain(0.7f, 42);
    penny_sampler *a = make(&p, 5), *b = make(&p, 5);
    int same = 1;
    for (int i = 0; i < 24; i++) {
        penny_token t = penny_sampler_sample(a, l);
        CHECKF(t == golden[i], "draw %d: %d, want %d", i, (int)t, golden[i]);
        same &= penny_sampler_sample(b, l) == t;
    }
    CHECK(same);
    penny_sampler_reset(a); /* reseeds: the sequence starts over */
    for (int i = 0; i < 24; i++) CHECK(penny_sampler_sample(a, l) == golden[i]);
    /* filters that are off by value behave exactly like no filter */
    p.top_k = 5;
    p.top_p = 1.5f;
    p.min_p = -1;
    penny_sampler *c = make(&p, 5);
    for (int i = 0; i < 24; i++) CHECK(penny_sampler_sample(c, l) == golden[i]);
    /* a different seed gives a different sequence (flat logits: 5^-100 odds) */
    const float flat[5] = {0, 0, 0, 0, 0};
    p = plain(1.0f, 42);
    penny_sampler *d = make(&p, 5);
    p.seed = 43;
    penny_sampler *e = make(&p, 5);
    int differ = 0;
    for (int i = 0; i < 100; i++)
        differ += penny_sampler_sample(d, flat) != penny_sampler_sample(e, flat);
    CHECK(differ > 0);
    penny_sampler_free(a);
    penny_sampler_free(b);
    penny_sampler_free(c);
    penny_sampler_free(d);
    penny_sampler_free(e);
}

/* ---- a straightforward reference chain: full qsort, no partial selection ---- */

typedef struct ref_cand {
    float logit;
    int id;
} ref_cand;

static int ref_cmp(const void *pa, const void *pb) {
    const ref_cand *a = pa, *b = pb;
    if (a->logit != b->logit) return a->logit > b->logit ? -1 : 1;
    return a->id - b->id;
}

/* softmax(l / temp) over c[0..n), unnormalised, into w; returns the sum */
static double ref_weights(const ref_cand *c, int n, double temp, double *w) {
    double sum = 0;
    for (int i = 0; i < n; i++) sum += w[i] = exp(((double)c[i].logit - c[0].logit) / temp);
    return sum;
}

static int ref_sample(const penny_sampler_params *p, const float *l, int n, rng *r) {
    static ref_cand c[MAXV];
    static double w[MAXV];
    for (int i = 0; i < n; i++) c[i] = (ref_cand){l[i], i};
    qsort(c, (size_t)n, sizeof *c, ref_cmp);
    if (p->top_k > 0 && p->top_k < n) n = p->top_k;
    if (p->top_p < 1) {
        double total = ref_weights(c, n, 1.0, w), cum = 0;
        int keep = n;
        for (int i = 0; i < n; i++)
            if ((cum += w[i]) >= p->top_p * total) {
                keep = i + 1;
                break;
            }
        n = keep;
    }
    if (p->min_p > 0) {
        ref_weights(c, n, 1.0, w);
        int keep = 1;
        while (keep < n && w[keep] >= p->min_p * (1 - 1e-12)) keep++;
        n = keep;
    }
    double sum = ref_weights(c, n, p->temperature, w), u = rng_uniform(r) * sum, cum = 0;
    for (int i = 0; i < n; i++)
        if (u < (cum += w[i])) return c[i].id;
    return c[n - 1].id;
}

/* The sampler and the reference agree token for token on random rows over
 * many parameter sets (sizes around the insertion-sort cutoff included). */
static void test_against_reference(void) {
    static float l[MAXV];
    const int sizes[4] = {5, 17, 300, MAXV};
    const int topk[4] = {0, 16, 40, 700};
    const float topp[3] = {1.0f, 0.95f, 0.5f}, minp[3] = {0.0f, 0.05f, 0.4f};
    int mismatches = 0, cases = 0;
    for (int si = 0; si < 4; si++)
        for (int c = 0; c < 4 * 3 * 3; c++) {
            penny_sampler_params p = plain(0.5f + 0.25f * (float)(c % 5), (uint64_t)c);
            p.top_k = topk[c % 4];
            p.top_p = topp[(c / 4) % 3];
            p.min_p = minp[c / 12];
            penny_sampler *s = make(&p, sizes[si]);
            rng r;
            rng_seed(&r, p.seed);
            for (int row = 0; row < 8; row++) {
                random_logits(l, sizes[si], (uint64_t)(si * 1000 + c * 10 + row));
                if (row & 1)
                    for (int i = 0; i < sizes[si]; i++) l[i] = floorf(l[i] * 2);
                mismatches += penny_sampler_sample(s, l) != ref_sample(&p, l, sizes[si], &r);
                cases++;
            }
            penny_sampler_free(s);
        }
    CHECKF(mismatches == 0, "%d of %d draws differ from the reference", mismatches, cases);
}

/* Greedy pick after accepting `hist` with the given penalties. */
static penny_token pick(const float *l, int n, const int *hist, int n_hist, float rep, float freq,
                        float pres, int last_n) {
    penny_sampler_params p = plain(0.0f, 1);
    p.repeat_penalty = rep;
    p.frequency_penalty = freq;
    p.presence_penalty = pres;
    p.penalty_last_n = last_n;
    penny_sampler *s = make(&p, n);
    for (int i = 0; i < n_hist; i++) penny_sampler_accept(s, hist[i]);
    penny_token t = penny_sampler_sample(s, l);
    penny_sampler_free(s);
    return t;
}

static void test_penalties(void) {
    const int h0[1] = {0}, h000[3] = {0, 0, 0};
    /* repetition, positive logit divided: 2.0 / r vs 1.5 flips at r = 4/3 */
    const float pos[3] = {2.0f, 1.5f, -3.0f};
    CHECK(pick(pos, 3, h0, 1, 1.0f, 0, 0, 64) == 0);
    CHECK(pick(pos, 3, h0, 1, 1.33f, 0, 0, 64) == 0);
    CHECK(pick(pos, 3, h0, 1, 1.34f, 0, 0, 64) == 1);
    /* negative logit multiplied, and once per distinct token: three
     * occurrences of 0 at r = 1.4 give -1.4 (> -1.5), not -2.744 */
    const float neg[3] = {-1.0f, -1.5f, -3.0f};
    CHECK(pick(neg, 3, h000, 3, 1.4f, 0, 0, 64) == 0);
    CHECK(pick(neg, 3, h000, 3, 1.6f, 0, 0, 64) == 1);
    /* frequency: 3.0 - 3 * f vs 2.0 flips at f = 1/3 */
    const float fl[3] = {3.0f, 2.0f, 0.0f};
    CHECK(pick(fl, 3, h000, 3, 1.0f, 0.32f, 0, 64) == 0);
    CHECK(pick(fl, 3, h000, 3, 1.0f, 0.34f, 0, 64) == 1);
    /* presence: once, whatever the count: flips at 1.0 */
    CHECK(pick(fl, 3, h000, 3, 1.0f, 0, 0.98f, 64) == 0);
    CHECK(pick(fl, 3, h000, 3, 1.0f, 0, 1.02f, 64) == 1);
    /* all three: (3.0 / 1.25) - 3 * 0.1 - p = 2.1 - p vs 2.0 flips at 0.1 */
    CHECK(pick(fl, 3, h000, 3, 1.25f, 0.1f, 0.08f, 64) == 0);
    CHECK(pick(fl, 3, h000, 3, 1.25f, 0.1f, 0.12f, 64) == 1);
    /* window: with last_n = 2 only the two latest tokens count */
    const float w[3] = {2.0f, 1.5f, 1.4f};
    CHECK(pick(w, 3, h0, 1, 2.0f, 0, 0, 2) == 1);
    CHECK(pick(w, 3, (int[]){0, 1, 2}, 3, 2.0f, 0, 0, 2) == 0);
    CHECK(pick(w, 3, (int[]){0, 1, 2, 1, 2, 0}, 6, 2.0f, 0, 0, 2) == 1); /* ring wrapped */
    CHECK(pick(w, 3, h0, 1, 2.0f, 0, 0, 0) == 0);                        /* last_n 0: off */
    CHECK(pick(w, 3, (int[]){-1, 3, 99}, 3, 2.0f, 0, 0, 4) == 0);        /* out of range: ignored */
    /* an overflowing boost stays finite and wins */
    const float big[3] = {3e38f, 1.0f, 0.0f};
    CHECK(pick(big, 3, h0, 1, 0.5f, 0, 0, 4) == 0);
    /* reset forgets the history */
    penny_sampler_params p = plain(0.0f, 1);
    p.repeat_penalty = 2.0f;
    penny_sampler *s = make(&p, 3);
    penny_sampler_accept(s, 0);
    CHECK(penny_sampler_sample(s, w) == 1);
    penny_sampler_reset(s);
    CHECK(penny_sampler_sample(s, w) == 0);
    penny_sampler_free(s);
}

/* Degenerate rows with a temperature: a single finite logit among -inf is
 * always drawn; an all -inf row yields the lowest id rather than garbage. */
static void test_degenerate(void) {
    const float one[4] = {-INFINITY, -INFINITY, 0.5f, -INFINITY};
    const float none[4] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY};
    const float nans[4] = {NAN, 1.0f, NAN, 1.0f};
    int hits[4];
    penny_sampler_params p = plain(1.0f, 0);
    tally(p, one, 4, 5, 50, hits);
    CHECK(hit_set_is(hits, 4, (int[]){2}, 1));
    tally(p, none, 4, 5, 50, hits);
    CHECK(hit_set_is(hits, 4, (int[]){0}, 1));
    tally(p, nans, 4, 5, 50, hits);
    CHECK(hit_set_is(hits, 4, (int[]){1, 3}, 2));
    p = penny_sampler_default_params();
    tally(p, one, 4, 5, 50, hits);
    CHECK(hit_set_is(hits, 4, (int[]){2}, 1));
    p.temperature = 1e-30f; /* tiny temperature: the top token only */
    const float close[4] = {NAN, 1.0f, NAN, 0.999f};
    tally(p, close, 4, 5, 50, hits);
    CHECK(hit_set_is(hits, 4, (int[]){1}, 1));
}

/* -0 and +0 are the same logit, so the lower id wins the tie on every path
 * (greedy, the top-k heap, the full-row sort). */
static void test_signed_zero(void) {
    static float l[300];
    for (int i = 0; i < 300; i++) l[i] = -1.0f;
    l[3] = -0.0f;
    l[5] = 0.0f;
    int hits[300];
    penny_sampler_params p = plain(1.0f, 0);
    p.top_p = 0.0f; /* keep the first candidate only */
    tally(p, l, 300, 3, 10, hits);
    CHECK(hit_set_is(hits, 300, (int[]){3}, 1));
    p.top_k = 2;
    p.top_p = 1.0f;
    tally(p, l, 300, 3, 100, hits);
    CHECK(hit_set_is(hits, 300, (int[]){3, 5}, 2));
    p.top_k = 1;
    tally(p, l, 300, 3, 10, hits);
    CHECK(hit_set_is(hits, 300, (int[]){3}, 1));
    tally(plain(0.0f, 0), l, 300, 1, 3, hits);
    CHECK(hit_set_is(hits, 300, (int[]){3}, 1));
}

int main(void) {
    test_rng();
    test_defaults_and_validation();
    test_greedy();
    test_top_k_one_is_greedy();
    test_top_k_set();
    test_top_p();
    test_min_p();
    test_chain_order();
    test_distribution();
    test_determinism();
    test_against_reference();
    test_penalties();
    test_degenerate();
    test_signed_zero();
    return check_done("test_sampler");
}
