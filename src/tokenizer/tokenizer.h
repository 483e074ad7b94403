/*
 * tokenizer.h - text <-> token ids, built from the vocabulary in a GGUF file.
 *
 * Supports tokenizer.ggml.model = "llama" (SentencePiece: merge by piece
 * score, byte fallback <0xXX>, a leading space, spaces as U+2581) and "gpt2"
 * (byte-level BPE: bytes mapped to printable code points, merges by rank from
 * tokenizer.ggml.merges, a GPT-2 style pre-split). Control and unknown
 * tokens (token_type 3 and 2, e.g. "<s>") are matched in the input only when
 * the caller asks for it (parse_special); user-defined tokens (type 4) are
 * always matched, as in llama.cpp. Keys read: tokenizer.ggml.{model,pre,
 * tokens,scores,token_type,merges,bos_token_id,eos_token_id,eot_token_id,
 * eom_token_id,unknown_token_id,padding_token_id,add_bos_token,
 * add_eos_token,add_space_prefix}.
 *
 * Ownership: the tokenizer keeps views into the gguf_file, which must
 * outlive it.
 */
#ifndef PENNY_TOKENIZER_TOKENIZER_H
#define PENNY_TOKENIZER_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "format/gguf.h"
#include "penny.h"

typedef struct tokenizer tokenizer;

penny_status tok_new(const gguf_file *g, tokenizer **out, penny_error *err);
void tok_free(tokenizer *t);

int tok_n_vocab(const tokenizer *t);
int32_t tok_bos(const tokenizer *t); /* -1 when none */
int32_t tok_eos(const tokenizer *t);
int32_t tok_eot(const tokenizer *t); /* -1 when none */
bool tok_add_bos(const tokenizer *t);
/* tokenizer.ggml.add_eos_token: tok_encode never appends EOS itself. */
bool tok_add_eos(const tokenizer *t);
bool tok_is_eog(const tokenizer *t, int32_t id);

/* Same contract as penny_tokenize. Safe to call from several threads at
 * once (all scratch memory is per call). */
penny_status tok_encode(const tokenizer *t, const char *text, size_t len, bool add_bos,
                        bool parse_special, int32_t *out, int cap, int *n_out, penny_error *err);

/* The bytes a token stands for when detokenized (SentencePiece: U+2581 ->
 * space, <0xXX> -> the byte; byte-level BPE: code points mapped back to
 * bytes; control tokens: empty). The pointer stays valid for the tokenizer's
 * lifetime. */
void tok_piece(const tokenizer *t, int32_t id, const char **bytes, size_t *len);

/* Streaming detokenizer state. */
typedef struct tok_stream tok_stream;
penny_status tok_stream_new(const tokenizer *t, tok_stream **out, penny_error *err);
void tok_stream_free(tok_stream *s);
const char *tok_stream_push(tok_stream *s, int32_t id);
const char *tok_stream_flush(tok_stream *s);

#endif
