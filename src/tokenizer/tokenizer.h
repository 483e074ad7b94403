/*
 * tokenizer.h - text <-> token ids, built from the vocabulary in a GGUF file.
 *
 * Supports tokenizer.ggml.model = "llama" (SentencePiece: merge by piece
 * score, byte fallback <0xXX>, a leading space, spaces as U+2581) and "gpt2"
 * (byte-level BPE: bytes mapped to printable code points, merges by rank from
 * tokenizer.ggml.merges, the pre-split of the family that tokenizer.ggml.pre
 * names: gpt2, llama-bpe, qwen2, deepseek-v3, deepseek-llm, deepseek-coder,
 * cl100k, o200k, ...). Control and unknown tokens (token_type 3 and 2, e.g.
 * "<s>") are matched in the input only when the caller asks for it
 * (parse_special); user-defined tokens (type 4) are always matched, as in
 * llama.cpp and Hugging Face. Where special texts overlap, the leftmost,
 * then longest, wins. Keys read: tokenizer.ggml.{model,pre,tokens,scores,
 * token_type,merges,bos_token_id,eos_token_id,eot_token_id,eom_token_id,
 * unknown_token_id,padding_token_id,add_bos_token,add_eos_token,
 * add_space_prefix}, tokenizer.chat_template.
 *
 * A tokenizer can also come from a Hugging Face tokenizer.json (see
 * tok_new_json), giving the same ids as the Hugging Face tokenizers.
 *
 * Ownership: a tokenizer from tok_new keeps views into the gguf_file, which
 * must outlive it; one from tok_new_json owns everything.
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
/* From a Hugging Face tokenizer.json (model BPE, byte-level or with byte
 * fallback; normalizers NFC/Prepend/Replace; pre-tokenizers Sequence/Split/
 * ByteLevel/Digits; added_tokens, special ones as control tokens, others as
 * user-defined). config_path (tokenizer_config.json, may be NULL) gives
 * bos/eos tokens, add_bos_token and chat_template. Errors name the file
 * and the field. */
penny_status tok_new_json(const char *json_path, const char *config_path, tokenizer **out,
                          penny_error *err);
/* The same from the files' contents (config may be NULL). */
penny_status tok_new_json_text(const char *json, size_t len, const char *config, size_t config_len,
                               tokenizer **out, penny_error *err);
void tok_free(tokenizer *t);

int tok_n_vocab(const tokenizer *t);
int32_t tok_bos(const tokenizer *t); /* -1 when none */
int32_t tok_eos(const tokenizer *t);
int32_t tok_eot(const tokenizer *t); /* -1 when none */
bool tok_add_bos(const tokenizer *t);
/* tokenizer.ggml.add_eos_token: tok_encode never appends EOS itself. */
bool tok_add_eos(const tokenizer *t);
/* EOS, EOT, EOM, and any control/user token spelling a known end-of-turn
 * marker (<|eot_id|>, <|im_end|>, <｜end▁of▁sentence｜>, <end_of_turn>, ...). */
bool tok_is_eog(const tokenizer *t, int32_t id);
/* True when encoding puts a space (U+2581) before the text, so decoding
 * the whole sequence gives one leading space to drop. */
bool tok_space_prefix(const tokenizer *t);
/* The chat template (GGUF tokenizer.chat_template or tokenizer_config.json
 * chat_template), NUL-terminated, or NULL when the file has none. */
const char *tok_chat_template(const tokenizer *t);
/* A token's text as stored in the vocabulary (e.g. "<s>"), for templates. */
void tok_text(const tokenizer *t, int32_t id, const char **bytes, size_t *len);

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
