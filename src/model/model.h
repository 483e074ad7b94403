/*
 * model.h - a loaded model: hyperparameters, weight views into the mapped
 * GGUF file, the tokenizer, and the thread pool that runs it.
 *
 * Weights are never copied: each `weight` points into the mapping and knows
 * its element type and row stride, so kernels read them in place.
 */
#ifndef PENNY_MODEL_MODEL_H
#define PENNY_MODEL_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "base/pool.h"
#include "format/gguf.h"
#include "penny.h"
#include "tokenizer/tokenizer.h"

/* A 2-D weight: n_out rows of n_in elements (ggml ne0 = n_in, ne1 = n_out). */
typedef struct weight {
    const void *data;
    uint32_t type;
    int64_t n_in, n_out;
    size_t row_bytes;
} weight;

typedef struct llama_hparams {
    int n_vocab;  /* rows of token_embd */
    int n_embd;   /* model width */
    int n_layer;
    int n_head, n_head_kv;
    int head_dim; /* key/value length per head */
    int n_ff;
    int n_ctx_train;
    int n_rot;    /* rotated dims per head */
    bool rope_neox;
    float rope_base;
    float rope_linear; /* positions are divided by this (1: no scaling) */
    float eps;
} llama_hparams;

typedef struct llama_layer {
    const float *attn_norm; /* (n_embd) */
    weight wq;              /* (n_embd -> n_head*head_dim) */
    weight wk, wv;          /* (n_embd -> n_head_kv*head_dim) */
    weight wo;              /* (n_head*head_dim -> n_embd) */
    const float *ffn_norm;  /* (n_embd) */
    weight w_gate, w_up;    /* (n_embd -> n_ff) */
    weight w_down;          /* (n_ff -> n_embd) */
} llama_layer;

struct penny_model {
    gguf_file *gguf;
    tokenizer *tok;
    pool *pool;
    llama_hparams hp;
    weight tok_embd;          /* (n_embd -> n_vocab): row t is token t's embedding */
    const float *output_norm; /* (n_embd) */
    weight output;            /* (n_embd -> n_vocab); tok_embd when tied */
    llama_layer *layers;      /* n_layer */
    float *rope_freqs;        /* (n_rot/2) inverse frequencies, scaling applied */
    char desc[160];
};

/* Binds hyperparameters and weights of a "llama"-family file into m (whose
 * gguf is open). Errors name the key or tensor at fault. */
penny_status llama_bind(penny_model *m, penny_error *err);

#endif
