/*
 * export.h - writes trained weights as a GGUF model of architecture "llama"
 * that penny (and other GGUF engines) run: hyperparameters under llama.*,
 * the tokenizer keys copied from the vocabulary file (including the chat
 * template), and every tensor under its standard name. Matrices are stored
 * as F32, F16 or BF16; norm weights always stay F32.
 */
#ifndef PENNY_TRAIN_EXPORT_H
#define PENNY_TRAIN_EXPORT_H

#include "penny.h"
#include "train/model.h"

/* type: "f32", "f16" or "bf16"; name goes to general.name (may be NULL). */
penny_status tr_export_gguf(const tr_config *cfg, const float *params, const char *tokenizer_path,
                            const char *type, const char *name, const char *out_path,
                            penny_error *err);

#endif
