/*
 * moe.c - the mixture-of-experts feed-forward layer: Mixtral-style experts
 * in llama files (ffn_gate_inp and stacked ffn_*_exps), Qwen3-MoE, and
 * DeepSeekMoE (shared experts, sigmoid gating with a selection-only bias,
 * group-limited routing, routed scaling; arXiv 2401.06066, 2412.19437).
 *
 * Routing, per token: router logits -> scores (softmax over all experts, or
 * sigmoid) -> selection scores (+ exp_probs_b when present) -> optionally
 * only the expert_group_used_count best groups stay eligible (a group
 * scores the sum of its two best selection scores) -> the expert_used_count
 * best selection scores win. The winners' unbiased scores are their weights,
 * renormalised to sum 1 when expert_weights_norm, times
 * expert_weights_scale. (Softmax over all experts, then renormalising the k
 * winners, equals Mixtral's softmax over the k selected logits.) Shared
 * experts, when present, run on every token and add to the result.
 *
 * Cost follows the active parameters: tokens are grouped by expert (a
 * counting sort), and each chosen expert runs once over its tokens, reading
 * only its own slice of the stacked tensors. With one token only the k
 * chosen experts' weights are touched.
 */
#include <math.h>
#include <string.h>

#include "kernels/ops.h"
#include "model/fwd.h"

static int argmax(const float *s, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (s[i] > s[best]) best = i;
    return best;
}

/* Sum of the two best scores of one group (the best alone for size 1). */
static float group_score(const float *s, int n) {
    float a = -INFINITY, b = -INFINITY;
    for (int i = 0; i < n; i++) {
        if (s[i] > a)
            b = a, a = s[i];
        else if (s[i] > b)
            b = s[i];
    }
    return n > 1 ? a + b : a;
}

/* Makes the experts of all but the n_group_used best groups ineligible.
 * gs, kept: n_group floats of scratch each. */
static void mask_groups(const model_hparams *hp, float *s, float *gs, float *kept) {
    int per = hp->n_expert / hp->n_group;
    for (int g = 0; g < hp->n_group; g++) gs[g] = group_score(s + g * per, per), kept[g] = 0;
    for (int k = 0; k < hp->n_group_used; k++) {
        int g = argmax(gs, hp->n_group);
        kept[g] = 1, gs[g] = -INFINITY;
    }
    for (int g = 0; g < hp->n_group; g++)
        if (!kept[g])
            for (int i = 0; i < per; i++) s[g * per + i] = -INFINITY;
}

/* Chooses one token's experts: ids and weights (n_expert_used each).
 * tmp: 4*n_expert floats. */
static void route(const model_hparams *hp, const float *sel_bias, const float *logits, float *tmp,
                  int32_t *ids, float *w) {
    int E = hp->n_expert;
    float *p = tmp, *s = tmp + E;
    memcpy(p, logits, sizeof(float) * (size_t)E);
    if (hp->gating == MOE_GATING_SOFTMAX)
        op_softmax(p, E);
    else
        for (int e = 0; e < E; e++) p[e] = (float)(1.0 / (1.0 + exp(-(double)p[e])));
    for (int e = 0; e < E; e++) s[e] = p[e] + (sel_bias ? sel_bias[e] : 0.0f);
    if (hp->n_group > 1) mask_groups(hp, s, tmp + 2 * E, tmp + 3 * E);
    double sum = 0.0;
    for (int k = 0; k < hp->n_expert_used; k++) {
        int e = argmax(s, E);
        s[e] = -INFINITY;
        ids[k] = e;
        w[k] = p[e];
        sum += p[e];
    }
    double scale = hp->w_scale / (hp->norm_w && sum > 0 ? sum : 1.0);
    for (int k = 0; k < hp->n_expert_used; k++) w[k] = (float)(w[k] * scale);
}

/* Counting sort of the T*K (token, slot) picks by expert: afterwards the
 * picks of expert e are order[count[e-1] .. count[e]) (count[-1] = 0). */
static void group_by_expert(fwd_bufs *b, int E, int n) {
    memset(b->count, 0, sizeof(int32_t) * (size_t)(E + 1));
    for (int i = 0; i < n; i++) b->count[b->sel[i] + 1]++;
    for (int e = 0; e < E; e++) b->count[e + 1] += b->count[e];
    for (int i = 0; i < n; i++) b->order[b->count[b->sel[i]]++] = i;
}

/* Runs expert e over its picks order[lo..hi) and adds the weighted results. */
static void run_expert(penny_context *c, float *y, const moe_weights *w, const float *x, int e,
                       int lo, int hi) {
    fwd_bufs *b = &c->b;
    size_t d = (size_t)c->model->hp.n_embd;
    int K = c->model->hp.n_expert_used;
    for (int i = lo; i < hi; i++)
        memcpy(b->xe + (size_t)(i - lo) * d, x + (size_t)(b->order[i] / K) * d, sizeof(float) * d);
    ffn_weights f = {weight_mat(&w->experts.gate, e), weight_mat(&w->experts.up, e),
                     weight_mat(&w->experts.down, e)};
    fwd_ffn(c, b->ye, &f, b->xe, hi - lo);
    for (int i = lo; i < hi; i++) {
        float *yt = y + (size_t)(b->order[i] / K) * d, a = b->sel_w[b->order[i]];
        const float *ye = b->ye + (size_t)(i - lo) * d;
        for (size_t j = 0; j < d; j++) yt[j] += a * ye[j];
    }
}

void moe_ffn(penny_context *c, float *y, const moe_weights *w, const float *x, int T) {
    const model_hparams *hp = &c->model->hp;
    fwd_bufs *b = &c->b;
    int E = hp->n_expert, K = hp->n_expert_used;
    size_t d = (size_t)hp->n_embd;
    fwd_matmul(c, b->router, &w->router, x, T);
    for (int t = 0; t < T; t++)
        route(hp, w->sel_bias, b->router + (size_t)t * E, b->probs, b->sel + (size_t)t * K,
              b->sel_w + (size_t)t * K);
    group_by_expert(b, E, T * K);
    memset(y, 0, sizeof(float) * d * (size_t)T);
    for (int e = 0; e < E; e++) {
        int lo = e ? b->count[e - 1] : 0, hi = b->count[e];
        if (hi > lo) run_expert(c, y, w, x, e, lo, hi);
    }
    if (!w->shared.gate.data) return;
    fwd_ffn(c, b->ye, &w->shared, x, T);
    for (size_t i = 0; i < d * (size_t)T; i++) y[i] += b->ye[i];
}
