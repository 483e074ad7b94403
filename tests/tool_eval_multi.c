/*
 * tool_eval_multi.c - checks that penny_eval_multi (one fused forward pass
 * over several sequences) gives each sequence the logits it gets when
 * evaluated alone.
 *
 * usage: tool_eval_multi MODEL [--exact]
 * Three contexts get prompts of different lengths; then steps mix one-token
 * decodes with chunks of a longer prompt (as a server's continuous batching
 * does). After every step each sequence's last logits are compared with a
 * context that received the same tokens through penny_eval alone.
 * Exit status 0 when every comparison is within 1e-5 (relative to the
 * largest logit) and 1 otherwise. With --exact the contexts are
 * batch-invariant (penny_context_params.batch_invariant) and the logits
 * must be equal bit for bit: what lets a server promise the same text for
 * a seed whatever else it is serving.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "penny.h"

enum { NSEQ = 3, STEPS = 6 };

static double rel_diff(const float *a, const float *b, int n) {
    double worst = 0, scale = 1e-30;
    for (int i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d > worst) worst = d;
        if (fabs((double)b[i]) > scale) scale = fabs((double)b[i]);
    }
    return worst / scale;
}

int main(int argc, char **argv) {
    bool exact = argc == 3 && !strcmp(argv[2], "--exact");
    if (argc != 2 && !exact) {
        fprintf(stderr, "usage: %s MODEL [--exact]\n", argv[0]);
        return 2;
    }
    penny_error err = {0};
    penny_model *m = NULL;
    if (penny_model_load(argv[1], NULL, &m, &err)) {
        fprintf(stderr, "load: %s\n", err.message);
        return 1;
    }
    int nv = penny_model_n_vocab(m), fails = 0;
    penny_context_params cp = penny_context_default_params();
    cp.n_ctx = 128;
    cp.n_batch = 32;
    cp.batch_invariant = exact;
    penny_context *fused[NSEQ], *alone[NSEQ];
    for (int s = 0; s < NSEQ; s++)
        if (penny_context_new(m, &cp, &fused[s], &err) ||
            penny_context_new(m, &cp, &alone[s], &err)) {
            fprintf(stderr, "context: %s\n", err.message);
            return 1;
        }
    /* tokens: a fixed pseudo-random stream per sequence */
    penny_token toks[NSEQ][64];
    for (int s = 0; s < NSEQ; s++)
        for (int i = 0; i < 64; i++) toks[s][i] = (penny_token)((s * 7919 + i * 104729 + 17) % nv);
    int used[NSEQ] = {0};
    static const int plan[STEPS][NSEQ] = {{3, 5, 1}, {1, 1, 9}, {1, 4, 1},
                                          {1, 1, 1}, {6, 1, 2}, {1, 1, 1}};
    for (int step = 0; step < STEPS; step++) {
        const penny_token *tp[NSEQ];
        int n[NSEQ];
        for (int s = 0; s < NSEQ; s++) {
            tp[s] = toks[s] + used[s];
            n[s] = plan[step][s];
        }
        if (penny_eval_multi(fused, tp, n, NSEQ, &err)) {
            fprintf(stderr, "eval_multi step %d: %s\n", step, err.message);
            return 1;
        }
        for (int s = 0; s < NSEQ; s++) {
            if (penny_eval(alone[s], tp[s], n[s], false, &err)) {
                fprintf(stderr, "eval: %s\n", err.message);
                return 1;
            }
            used[s] += n[s];
            double d = rel_diff(penny_logits(fused[s]), penny_logits(alone[s]), nv);
            int pos_ok = penny_context_n_past(fused[s]) == used[s];
            printf("step %d seq %d: n_past %d, max rel diff %.3g\n", step, s, used[s], d);
            if (d > (exact ? 0 : 1e-5) || !pos_ok) fails++;
        }
    }
    for (int s = 0; s < NSEQ; s++) {
        penny_context_free(fused[s]);
        penny_context_free(alone[s]);
    }
    penny_model_free(m);
    printf("%s\n", fails ? "FAILED" : "ok");
    return fails ? 1 : 0;
}
