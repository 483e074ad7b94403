/*
 * config.c - the training options: one table gives each key its type,
 * default and help line, so flags, config files, the help text and
 * docs/training.md all describe the same thing.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "train/trainer.h"

enum kind { K_INT, K_NUM, K_STR, K_BOOL };

typedef struct key {
    const char *name;
    enum kind kind;
    size_t off;
    const char *def, *help;
} key;

#define F(field) offsetof(struct penny_train_config, field)

static const key KEYS[] = {
    {"tokenizer", K_STR, F(tokenizer), "", "vocabulary GGUF from train-tokenizer (required)"},
    {"data", K_STR, F(data), "", "token files from train-prepare, comma-separated (required)"},
    {"out", K_STR, F(out), "train-out", "folder for checkpoint.bin, loss.csv, loss.png"},
    {"arch", K_STR, F(arch), "llama",
     "llama, or gpt2 (LayerNorm, learned positions, GELU: a baseline)"},
    {"dim", K_INT, F(dim), "128", "model width"},
    {"n_layer", K_INT, F(n_layer), "4", "transformer blocks"},
    {"n_head", K_INT, F(n_head), "4", "attention heads"},
    {"n_kv_head", K_INT, F(n_kv_head), "0", "key/value heads (grouped-query); 0: n_head"},
    {"ffn", K_INT, F(ffn), "0", "MLP hidden size; 0: 8/3 dim rounded up to 32 (gpt2: 4 dim)"},
    {"seq_len", K_INT, F(seq_len), "128", "tokens per training sequence (= context length)"},
    {"tied", K_BOOL, F(tied), "1", "output projection shares the token embedding"},
    {"rope_base", K_NUM, F(rope_base), "10000", "RoPE frequency base"},
    {"eps", K_NUM, F(eps), "1e-5", "RMSNorm epsilon"},
    {"batch", K_INT, F(batch), "8", "sequences per micro-step, over all MPI ranks"},
    {"accum", K_INT, F(accum), "1", "micro-steps per optimizer step (gradient accumulation)"},
    {"steps", K_INT, F(steps), "200", "optimizer steps"},
    {"lr", K_NUM, F(lr), "3e-3", "peak learning rate"},
    {"lr_min", K_NUM, F(lr_min), "-1", "final learning rate of the cosine; -1: lr / 10"},
    {"warmup", K_INT, F(warmup), "-1", "linear warmup steps; -1: steps / 20"},
    {"weight_decay", K_NUM, F(weight_decay), "0.1", "AdamW decoupled decay (matrices only)"},
    {"beta1", K_NUM, F(beta1), "0.9", "AdamW beta1"},
    {"beta2", K_NUM, F(beta2), "0.95", "AdamW beta2"},
    {"grad_clip", K_NUM, F(grad_clip), "1", "clip the global gradient norm to this; 0: off"},
    {"bf16", K_BOOL, F(bf16), "1", "bf16 matmul inputs, fp32 sums, where the CPU has AVX512-BF16"},
    {"seed", K_INT, F(seed), "1234", "seed of initialisation and data order"},
    {"threads", K_INT, F(threads), "0", "threads per process; 0: one per core"},
    {"val_frac", K_NUM, F(val_frac), "0.05", "fraction of sequences held out for evaluation"},
    {"eval_every", K_INT, F(eval_every), "50", "steps between evaluations (and at the end)"},
    {"eval_batches", K_INT, F(eval_batches), "4", "batches of held-out sequences per evaluation"},
    {"ckpt_every", K_INT, F(ckpt_every), "100", "steps between checkpoints; 0: only at the end"},
    {"resume", K_BOOL, F(resume), "0", "continue from out/checkpoint.bin when it exists"},
    {"init_from", K_STR, F(init_from), "", "start from this checkpoint's weights (fine-tuning)"},
    {"export", K_STR, F(export_path), "", "write the final model to this GGUF file"},
    {"export_type", K_STR, F(export_type), "f32", "f32, f16 or bf16"},
    {"name", K_STR, F(name), "penny-trained", "general.name of the exported model"},
    {"peak_gflops", K_NUM, F(peak_gflops), "0", "MFU denominator; 0: measure at start"},
};
#define N_KEYS (sizeof KEYS / sizeof KEYS[0])

static const key *find(const char *name) {
    for (size_t i = 0; i < N_KEYS; i++)
        if (!strcmp(KEYS[i].name, name)) return &KEYS[i];
    return NULL;
}

static penny_status set(penny_train_config *c, const key *k, const char *v, penny_error *err) {
    char *p = (char *)c + k->off, *end;
    if (k->kind == K_STR) {
        snprintf(p, TR_PATH_MAX, "%s", v);
        return strlen(v) < TR_PATH_MAX
                   ? PENNY_OK
                   : err_set(err, PENNY_ERR_ARG, "option %s: value too long", k->name);
    }
    errno = 0;
    double d = strtod(v, &end);
    while (end && isspace((unsigned char)*end)) end++;
    if (errno || end == v || *end || !isfinite(d))
        return err_set(err, PENNY_ERR_ARG, "option %s: '%s' is not a number", k->name, v);
    if (k->kind == K_NUM) {
        *(double *)(void *)p = d;
        return PENNY_OK;
    }
    if (d != floor(d) || fabs(d) > 9e15 || (k->kind == K_BOOL && d != 0 && d != 1))
        return err_set(err, PENNY_ERR_ARG, "option %s: '%s' is not %s", k->name, v,
                       k->kind == K_BOOL ? "0 or 1" : "an integer");
    *(long long *)(void *)p = (long long)d;
    return PENNY_OK;
}

penny_status penny_train_config_new(penny_train_config **out, penny_error *err) {
    *out = calloc(1, sizeof **out);
    if (!*out) return err_set(err, PENNY_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < N_KEYS; i++) set(*out, &KEYS[i], KEYS[i].def, NULL);
    return PENNY_OK;
}

void penny_train_config_free(penny_train_config *c) { free(c); }

penny_status penny_train_config_set(penny_train_config *c, const char *name, const char *value,
                                    penny_error *err) {
    const key *k = find(name);
    if (!k)
        return err_set(err, PENNY_ERR_ARG, "unknown training option '%s' (see penny train --help)",
                       name);
    return set(c, k, value, err);
}

static char *trim(char *s) {
    while (isspace((unsigned char)*s)) s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1])) *--e = 0;
    return s;
}

penny_status penny_train_config_load(penny_train_config *c, const char *path, penny_error *err) {
    FILE *f = fopen(path, "r");
    if (!f) return err_set(err, PENNY_ERR_IO, "%s: cannot open", path);
    char line[8192];
    penny_status rc = PENNY_OK;
    for (int n = 1; !rc && fgets(line, sizeof line, f); n++) {
        char *hash = strchr(line, '#'), *eq;
        if (hash) *hash = 0;
        char *s = trim(line);
        if (!*s) continue;
        if (!(eq = strchr(s, '=')))
            rc = err_set(err, PENNY_ERR_FORMAT, "%s:%d: expected 'key = value'", path, n);
        else {
            *eq = 0;
            if ((rc = penny_train_config_set(c, trim(s), trim(eq + 1), err)))
                err_prefix(err, "%s:%d", path, n);
        }
    }
    fclose(f);
    return rc;
}

const char *penny_train_config_help(void) {
    static char buf[8192];
    if (buf[0]) return buf;
    size_t n = 0;
    for (size_t i = 0; i < N_KEYS && n < sizeof buf; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "  --%-13s %-10s %s\n", KEYS[i].name,
                              KEYS[i].def[0] ? KEYS[i].def : "\"\"", KEYS[i].help);
    return buf;
}
