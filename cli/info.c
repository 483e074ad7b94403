/*
 * info.c - `penny info FILE` (metadata and tensor table of a GGUF file, then
 * the model's parameter counts and KV-cache bytes per token when penny can
 * run it). (tokenize, detokenize and template live in tok.c.)
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void human_bytes(uint64_t n, char *buf, size_t cap) {
    const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)n;
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    snprintf(buf, cap, u ? "%.2f %s" : "%.0f %s", v, unit[u]);
}

static void print_tensors(const penny_gguf *g) {
    int64_t nt = penny_gguf_tensor_count(g);
    uint64_t total = 0;
    printf("\ntensors: %lld\n%-40s %-6s %-28s %12s %14s\n", (long long)nt, "name", "type", "shape",
           "size", "offset");
    for (int64_t i = 0; i < nt; i++) {
        penny_tensor_info ti;
        penny_gguf_tensor(g, i, &ti);
        char shape[64] = "", size[32];
        size_t w = 0;
        for (int d = 0; d < ti.n_dims && w < sizeof shape; d++)
            w += (size_t)snprintf(shape + w, sizeof shape - w, d ? " x %lld" : "%lld",
                                  (long long)ti.ne[d]);
        human_bytes(ti.nbytes, size, sizeof size);
        printf("%-40s %-6s %-28s %12s %14llu\n", ti.name, ti.type_name, shape, size,
               (unsigned long long)ti.offset);
        total += ti.nbytes;
    }
    char tb[32];
    human_bytes(total, tb, sizeof tb);
    printf("total tensor data: %s (%llu bytes)\n", tb, (unsigned long long)total);
}

/* What only a bound model can tell: its size and its cache per token. A
 * file penny cannot run still had its metadata and tensors shown above. */
static void print_model(const char *path) {
    penny_model_params mp = penny_model_default_params();
    mp.n_threads = 1;
    penny_model *m = NULL;
    penny_error err = {0};
    if (penny_model_load(path, &mp, &m, &err)) {
        printf("\nmodel: penny cannot run this file: %s\n", err.message);
        return;
    }
    int64_t total, active;
    penny_model_n_params(m, &total, &active);
    size_t kv = penny_model_kv_bytes_per_token(m, PENNY_KV_F16);
    char kvh[32];
    human_bytes(kv, kvh, sizeof kvh);
    printf("\nmodel: %s\nparameters: %lld total, %lld active per token (%.2f%%)\n",
           penny_model_desc(m), (long long)total, (long long)active,
           total ? 100.0 * (double)active / (double)total : 0.0);
    printf("KV cache: %zu bytes per token (%s, F16; --kv-type f32: %zu, q8_0: %zu)", kv, kvh,
           penny_model_kv_bytes_per_token(m, PENNY_KV_F32),
           penny_model_kv_bytes_per_token(m, PENNY_KV_Q8_0));
    if (penny_model_set_mla_absorb(m, false)) {
        size_t naive = penny_model_kv_bytes_per_token(m, PENNY_KV_F16);
        printf("; latent attention: %.1fx smaller than per-head keys and values (%zu bytes)",
               (double)naive / (double)kv, naive);
    }
    printf("\n");
    penny_model_free(m);
}

int cmd_info(int argc, char **argv) {
    if (argc != 2 || argv[1][0] == '-') {
        fprintf(stderr, "usage: penny info FILE.gguf\n");
        return argc == 2 && !strcmp(argv[1], "--help") ? 0 : 2;
    }
    penny_error err = {0};
    penny_gguf *g = NULL;
    char path[4096];
    if (penny_resolve_model(argv[1], path, sizeof path, &err)) return cli_fail("info", &err);
    if (penny_gguf_open(path, &g, &err)) return cli_fail("info", &err);
    printf("file: %s\ngguf version: %u\n\nmetadata: %lld keys\n", path, penny_gguf_version(g),
           (long long)penny_gguf_kv_count(g));
    static char buf[4096];
    for (int64_t i = 0; i < penny_gguf_kv_count(g); i++)
        printf("  %-44s = %s\n", penny_gguf_kv_key(g, i), penny_gguf_kv_format(g, i, buf, sizeof buf, 8));
    print_tensors(g);
    penny_gguf_free(g);
    print_model(path);
    return 0;
}
