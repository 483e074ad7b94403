/*
 * data.h - training data: token files ("shards") and the loader that cuts
 * them into sequences.
 *
 * A shard is a small header followed by the token ids and, for fine-tuning
 * data, one loss-mask byte per token:
 *   "PNYTOKS1" | u32 version (1) | u32 token width in bytes (2 or 4)
 *   | u32 has_mask (0/1) | u32 vocab size | u64 n_tokens
 *   | tokens (n_tokens * width, little-endian) | mask (n_tokens bytes)
 * mask[i] = 1 means token i is a prediction target that counts in the loss.
 *
 * The loader maps shards read-only and cuts each into chunks of T+1 tokens
 * starting every T tokens (inputs are the first T, targets the last T).
 * Every k-th chunk (k = round(1 / val_frac)) is held out for evaluation;
 * the others are visited once per epoch in an order shuffled from (seed,
 * epoch) alone, so a position (epoch, index) is all a checkpoint needs to
 * resume the exact same stream.
 */
#ifndef PENNY_TRAIN_DATA_H
#define PENNY_TRAIN_DATA_H

#include <stdbool.h>
#include <stdint.h>

#include "penny.h"

typedef struct tr_data_stats {
    long long docs, tokens, masked; /* masked: tokens with mask 1 (SFT) */
} tr_data_stats;

/* Tokenizes files with the vocabulary in tokenizer_path (a GGUF file) into
 * one shard at out_path. Plain text: each file is one document, preceded by
 * BOS. sft: each file holds JSON lines {"messages":[{"role","content"}...]}
 * laid out as BOS <|role|>content<|end|>..., with the mask set on assistant
 * contents and their <|end|>. stats may be NULL. */
penny_status tr_data_prepare(const char *tokenizer_path, const char *const *files, int n_files,
                             bool sft, const char *out_path, tr_data_stats *stats,
                             penny_error *err);

typedef struct tr_data tr_data;

penny_status tr_data_open(const char *const *paths, int n_paths, int T, double val_frac,
                          uint64_t seed, tr_data **out, penny_error *err);
void tr_data_free(tr_data *d);

long tr_data_n_train(const tr_data *d);
long tr_data_n_val(const tr_data *d);
int tr_data_vocab(const tr_data *d); /* largest vocab size among the shard headers */
bool tr_data_has_mask(const tr_data *d);

/* Sequence `index` of epoch `epoch` (index < tr_data_n_train): inputs and
 * targets (T each) and per-target weights (1/0, all 1 without masks). */
void tr_data_train_seq(tr_data *d, uint64_t epoch, long index, int32_t *inp, int32_t *tgt,
                       float *mask);
/* Held-out sequence i < tr_data_n_val, in file order. */
void tr_data_val_seq(const tr_data *d, long i, int32_t *inp, int32_t *tgt, float *mask);

/* Writes a shard from memory (tests, SFT); mask may be NULL. */
penny_status tr_data_write(const char *path, const int32_t *tokens, const uint8_t *mask,
                           long long n, int vocab, penny_error *err);

#endif
