/*
 * tool_logits.c - runs a prompt through penny and writes every position's
 * logits, for comparison with the float64 numpy reference.
 *
 * usage: tool_logits MODEL OUT.f32 (--ids 1,2,3 | --prompt TEXT) [--threads N] [--batch N]
 *                    [--mla absorbed|naive]  (latent-attention models: which path)
 *                    [--kv-type f16|f32|q8_0]  (KV cache type; default: the library's, F16)
 * Writes float32 little-endian [n_tokens][n_vocab]; prints the ids on stdout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "penny.h"

static int parse_ids(const char *s, penny_token *ids, int cap) {
    int n = 0;
    while (*s && n < cap) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s) return -1;
        ids[n++] = (penny_token)v;
        s = *end == ',' ? end + 1 : end;
    }
    return n;
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: %s MODEL OUT.f32 (--ids 1,2,3 | --prompt TEXT) [--threads N] [--batch N] [--mla absorbed|naive]\n", argv[0]);
        return 2;
    }
    enum { CAP = 8192 };
    static penny_token ids[CAP];
    int n = 0, threads = 0, batch = 0;
    const char *prompt = NULL, *id_list = NULL, *mla = NULL, *kv = NULL;
    for (int i = 3; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--ids")) id_list = argv[i + 1];
        else if (!strcmp(argv[i], "--prompt")) prompt = argv[i + 1];
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--batch")) batch = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--mla")) mla = argv[i + 1];
        else if (!strcmp(argv[i], "--kv-type")) kv = argv[i + 1];
        else {
            fprintf(stderr, "unknown option %s\n", argv[i]);
            return 2;
        }
    }
    penny_error err = {0};
    penny_model *m = NULL;
    penny_model_params mp = penny_model_default_params();
    mp.n_threads = threads;
    if (penny_model_load(argv[1], &mp, &m, &err)) {
        fprintf(stderr, "load: %s\n", err.message);
        return 1;
    }
    if (mla && !penny_model_set_mla_absorb(m, strcmp(mla, "naive") != 0)) {
        fprintf(stderr, "--mla: %s has no latent attention\n", argv[1]);
        penny_model_free(m);
        return 2;
    }
    if (id_list) n = parse_ids(id_list, ids, CAP);
    else if (prompt &&
             penny_tokenize(m, prompt, strlen(prompt), penny_model_add_bos(m), false, ids, CAP, &n, &err)) {
        fprintf(stderr, "tokenize: %s\n", err.message);
        return 1;
    }
    if (n <= 0) {
        fprintf(stderr, "no tokens\n");
        return 2;
    }
    penny_context_params cp = penny_context_default_params();
    cp.n_batch = batch;
    if (kv && !penny_kv_type_parse(kv, &cp.kv_type)) {
        fprintf(stderr, "--kv-type: '%s' is not f16, f32 or q8_0\n", kv);
        return 2;
    }
    if (cp.n_ctx < n) cp.n_ctx = n > 256 ? n : 256;
    penny_context *c = NULL;
    if (penny_context_new(m, &cp, &c, &err) || penny_eval(c, ids, n, true, &err)) {
        fprintf(stderr, "eval: %s\n", err.message);
        return 1;
    }
    FILE *f = fopen(argv[2], "wb");
    int nv = penny_model_n_vocab(m);
    for (int i = 0; i < n && f; i++) fwrite(penny_logits_ith(c, i), sizeof(float), (size_t)nv, f);
    if (!f || fclose(f)) {
        fprintf(stderr, "cannot write %s\n", argv[2]);
        return 1;
    }
    for (int i = 0; i < n; i++) printf(i ? " %d" : "%d", ids[i]);
    printf("\n");
    penny_context_free(c);
    penny_model_free(m);
    return 0;
}
