/*
 * tok_int.h - the tokenizer's private state, shared by its source files.
 *
 * vocab.c loads and validates the vocabulary and owns struct tokenizer;
 * merge.c is the pair-merging engine both algorithms use (a linked list of
 * symbols plus a binary heap of candidate pairs, O(n log n)); spm.c and bpe.c
 * score pairs and map the final symbols to ids; encode.c splits the input on
 * special tokens; stream.c is the streaming detokenizer. Nothing here is
 * visible outside src/tokenizer/.
 */
#ifndef PENNY_TOKENIZER_TOK_INT_H
#define PENNY_TOKENIZER_TOK_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tokenizer/tokenizer.h"

enum tok_kind { TOK_SPM, TOK_BPE };

/* tokenizer.ggml.token_type values (llama.cpp's numbering). */
enum tok_type {
    TOK_T_UNDEFINED = 0,
    TOK_T_NORMAL = 1,
    TOK_T_UNKNOWN = 2,
    TOK_T_CONTROL = 3,
    TOK_T_USER = 4,
    TOK_T_UNUSED = 5,
    TOK_T_BYTE = 6,
};

/* Open-addressing hash table of indexes; a slot holds index + 1, 0 = empty.
 * The keys live elsewhere (token texts, merge lines). */
typedef struct tok_map {
    uint32_t *slot;
    uint32_t mask;
} tok_map;

typedef struct tok_bpe tok_bpe; /* merges, regex and byte map (bpe.c) */

struct tokenizer {
    enum tok_kind kind;
    int n_vocab;
    const gguf_str *text; /* (n_vocab) token texts: views into the gguf_file */
    float *score;         /* (n_vocab) SPM merge priority; 0 when absent */
    uint8_t *type;        /* (n_vocab) enum tok_type */
    tok_map vocab;        /* text -> id (the last id wins for duplicate texts) */

    char *piece;        /* decoded pieces, back to back */
    uint32_t *piece_at; /* (n_vocab + 1) piece i is piece[piece_at[i] .. piece_at[i+1]) */
    int max_piece;      /* longest decoded piece, bytes */

    int32_t bos, eos, unk, eot, eom, pad; /* -1 when none */
    bool add_bos, add_eos, add_space_prefix;

    int32_t byte_tok[256]; /* SPM byte fallback: id of <0xXX>, -1 when absent */
    bool has_byte_tok;     /* at least one byte token exists */

    int32_t *special; /* ids of control/user/unknown tokens, longest text first */
    int n_special;

    tok_bpe *bpe; /* NULL for SPM */
};

/* FNV-1a, incremental so a pair can be hashed without joining it. */
#define TOK_HASH_INIT 0xcbf29ce484222325ULL
static inline uint64_t tok_hash(uint64_t h, const char *p, size_t n) {
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 0x100000001b3ULL;
    return h;
}
static inline uint32_t tok_slot(uint64_t h, uint32_t mask) {
    return (uint32_t)(h ^ (h >> 29)) & mask;
}

/* Allocates an empty table with room for n keys at load factor <= 1/2. */
penny_status tok_map_init(tok_map *m, uint64_t n, penny_error *err);
void tok_map_free(tok_map *m);

/* Id of the token whose text is exactly p[0..n), or -1. */
int32_t tok_find(const tokenizer *t, const char *p, size_t n);

/* Bytes in the UTF-8 sequence that lead byte c announces, judged by its top
 * four bits alone (llama.cpp's rule, kept so invalid input splits the same
 * way): 1 for ASCII and continuation bytes, 4 for 0xF0..0xFF. Callers clip
 * it to the bytes left. */
static inline int tok_utf8_len(unsigned char c) {
    static const unsigned char len[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return len[c >> 4];
}

/* The UTF-8 sequence at p (n >= 1 bytes available): its length when it is
 * one complete, valid character; 0 when the n bytes are a valid prefix that
 * needs more; -k when invalid, k >= 1 being the length of the maximal
 * invalid subpart (to be replaced by one U+FFFD). */
int tok_utf8_next(const unsigned char *p, size_t n);

/* Validates UTF-8 strictly (no overlongs, surrogates or values past
 * U+10FFFF); returns the offset of the first bad byte, or n when valid. */
size_t tok_utf8_check(const char *p, size_t n);

/* Collects output ids: counts past cap so the caller learns the size needed. */
typedef struct tok_sink {
    int32_t *out;
    int cap;
    int n;
} tok_sink;
static inline void tok_emit(tok_sink *s, int32_t id) {
    if (s->n < s->cap) s->out[s->n] = id;
    s->n++;
}

/* ---- merge engine (merge.c) ---- */

/* A symbol: bytes [start, start + len) of the text; len 0 once merged away. */
typedef struct tok_sym {
    int start, len;
    int prev, next; /* neighbours in the list, -1 at the ends */
} tok_sym;

typedef struct tok_pair {
    double key; /* smaller merges first */
    int left, right;
    int size; /* left.len + right.len when queued; a stale pair no longer matches */
} tok_pair;

/* Scratch memory for one tok_encode call, reused across its fragments. */
typedef struct tok_work {
    tok_sym *sym;
    tok_pair *heap;
    int cap; /* symbols the arrays hold (heap holds 3 * cap pairs) */
    char *buf;
    size_t buf_cap;
} tok_work;

void tok_work_free(tok_work *w);
/* Makes w->buf hold at least n bytes. */
penny_status tok_work_buf(tok_work *w, size_t n, penny_error *err);

/* Decides whether the adjacent symbols text[a .. a+la) and text[a+la ..
 * a+la+lb) may merge; if so sets *key (smaller merges earlier; ties go to
 * the leftmost pair). */
typedef bool (*tok_pair_fn)(const tokenizer *t, const char *a, int la, int lb, double *key);

/* Splits text[0..len) into UTF-8 characters and merges adjacent symbols best
 * pair first until no pair qualifies. On return w->sym holds the list, which
 * starts at index 0 (for len > 0). */
penny_status tok_merge(const tokenizer *t, tok_work *w, const char *text, int len, tok_pair_fn fn,
                       penny_error *err);

/* ---- algorithms ---- */

/* One text fragment: SentencePiece, with the U+2581 prefix when prefix. */
penny_status tok_spm_encode(const tokenizer *t, tok_work *w, const char *text, size_t len,
                            bool prefix, tok_sink *out, penny_error *err);

/* Byte-level BPE: reads merges and tokenizer.ggml.pre from g. */
penny_status tok_bpe_new(tokenizer *t, const gguf_file *g, penny_error *err);
void tok_bpe_free(tok_bpe *b);
penny_status tok_bpe_encode(const tokenizer *t, tok_work *w, const char *text, size_t len,
                            tok_sink *out, penny_error *err);
/* Appends the bytes the byte-level text s stands for to dst (which has room
 * for n bytes; the result is never longer); returns the bytes written. */
size_t tok_bpe_decode(const tokenizer *t, const char *s, size_t n, char *dst);

#endif
