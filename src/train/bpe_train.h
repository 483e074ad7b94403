/*
 * bpe_train.h - learns a byte-level BPE vocabulary from text files and
 * writes it as a vocabulary-only GGUF file (tokenizer.ggml.model "gpt2"),
 * which penny's tokenizer loads directly and the GGUF export copies into
 * the model.
 *
 * Text is pre-split into words by the same regular expression penny's
 * encoder uses (GPT-2's, or Llama 3's for pre "llama-bpe"), words are
 * counted once, and merges are learned from the counted words: the pair
 * counts are kept up to date incrementally (only words holding the merged
 * pair are revisited) and the best pair comes from a max-heap with lazy
 * deletion, so each merge costs time proportional to the words it touches,
 * not to the corpus. Ties go to the pair of smaller token ids, so the
 * result is a pure function of the input.
 *
 * Vocabulary: ids 0..255 are the bytes, then one token per merge, then the
 * chat special tokens (control type): <|endoftext|> (BOS and EOS),
 * <|system|>, <|user|>, <|assistant|>, <|end|> (end of turn).
 */
#ifndef PENNY_TRAIN_BPE_TRAIN_H
#define PENNY_TRAIN_BPE_TRAIN_H

#include "penny.h"

#define TR_TOK_BOS "<|endoftext|>"
#define TR_TOK_SYSTEM "<|system|>"
#define TR_TOK_USER "<|user|>"
#define TR_TOK_ASSISTANT "<|assistant|>"
#define TR_TOK_END "<|end|>"

/* The chat template stored in tokenizer.chat_template (Jinja), matching
 * the token layout sft.c trains on: <|role|>content<|end|> per message. */
extern const char *const tr_chat_template;

typedef struct tr_bpe_stats {
    long long bytes, words, unique_words;
    int merges, vocab;
} tr_bpe_stats;

/* vocab_size counts bytes, merges and special tokens (>= 256 + 5).
 * pre: "gpt2" (default when NULL) or "llama-bpe". stats may be NULL. */
penny_status tr_bpe_train(int vocab_size, const char *pre, const char *const *files, int n_files,
                          const char *out_path, tr_bpe_stats *stats, penny_error *err);

#endif
