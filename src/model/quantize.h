/*
 * quantize.h - converting a whole GGUF model to another weight type: the
 * engine of `penny quantize` and penny_quantize (include/penny.h).
 *
 * A scheme names the type most matrices get and, for the _M mixes, the
 * larger type given to the tensors that hurt most when squeezed (the output
 * matrix, and attn_v / ffn_down in selected layers). The rules are written
 * out in docs/quantize.md; quant_tensor_type is their one implementation.
 */
#ifndef PENNY_MODEL_QUANTIZE_H
#define PENNY_MODEL_QUANTIZE_H

#include <stdbool.h>
#include <stdint.h>

#include "penny.h"

typedef struct quant_scheme {
    const char *name;   /* "Q4_K_M" */
    uint32_t base;      /* type of most matrices (kernels/types.h ids) */
    uint32_t more;      /* type of the sensitive tensors; == base for a pure scheme */
    uint32_t file_type; /* value of general.file_type in the output */
} quant_scheme;

/* The scheme called name (case-sensitive, e.g. "Q4_K_M"); NULL if none. */
const quant_scheme *quant_scheme_find(const char *name);
/* Comma-separated names of all schemes, for messages. */
const char *quant_scheme_names(void);

/* True when layer i of n_layers gets the larger type in a mix. */
bool quant_more_bits(int i, int n_layers);

/* The output type of tensor `name` (stored as src_type, n_dims dimensions,
 * rows of ne0 elements) in a model of n_layers layers; has_output tells
 * whether the model has its own output.weight or reuses token_embd.weight.
 * Rows that the chosen type cannot hold whole fall back to Q8_0, or, when
 * even that does not fit, stay in src_type. */
uint32_t quant_tensor_type(const quant_scheme *s, const char *name, uint32_t src_type, int n_dims,
                           int64_t ne0, int n_layers, bool has_output);

/* Converts in to out under scheme s with n_threads threads (<= 0: one per
 * core). The file is written under a temporary name next to out and renamed
 * when complete. Memory: one output tensor at a time. */
penny_status quant_model(const char *in, const char *out, const quant_scheme *s, int n_threads,
                         penny_quantize_progress cb, void *user, penny_error *err);

#endif
