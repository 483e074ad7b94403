/*
 * tok_int.h - the tokenizer's private state, shared by its source files.
 *
 * vocab.c loads and validates the vocabulary from GGUF and owns struct
 * tokenizer; json.c builds the same struct from a Hugging Face tokenizer.json;
 * tables.c derives what both need (hash table, byte tokens, special-token
 * trie, pieces, end-of-generation set); merge.c is the pair-merging engine
 * both algorithms use (a linked list of symbols plus a binary heap of
 * candidate pairs, O(n log n)); spm.c and bpe.c score pairs and map the final
 * symbols to ids; pre.c holds the pre-tokenizers (normalization and regex
 * splits per model family); encode.c splits the input on special tokens;
 * stream.c is the streaming detokenizer. Nothing here is visible outside
 * src/tokenizer/.
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

#define TOK_STRIP_LEFT 1  /* the token takes in the whitespace before it */
#define TOK_STRIP_RIGHT 2 /* ... and after it (tokenizer.json lstrip/rstrip) */
#define TOK_MAX_SPLITS 8  /* regex splits in one pre-tokenizer */
#define TOK_BYTE_CPS 324  /* code points 0..323 cover GPT-2's byte table */

/* Merges, split patterns and byte map (bpe.c, pre.c). */
typedef struct tok_bpe {
    const gguf_str *merge; /* (n_merge) "left right" lines */
    uint32_t *split;       /* (n_merge) offset of the separating space */
    uint32_t n_merge;
    tok_map rank;             /* (left, right) -> line number; the first line wins */
    void *re[TOK_MAX_SPLITS]; /* pcre2_code *, applied in order */
    int n_re;
    bool byte_level;    /* GPT-2 byte mapping (else symbols are characters) */
    bool ignore_merges; /* whole words found in the vocabulary skip merging */
    char enc[256][2];   /* byte -> UTF-8 of its code point */
    uint8_t enc_len[256];
    int16_t dec[TOK_BYTE_CPS]; /* code point -> byte, -1 if none */
    void *own[3];              /* storage of merge lines when not a file view */
} tok_bpe;

/* A byte trie over the special tokens' texts, for leftmost-longest matching.
 * Node 0 is the root; children form a sibling list. */
typedef struct tok_trie_node {
    int32_t child, sibling;
    int32_t id_any;  /* token ending here (any special type), -1 if none */
    int32_t id_user; /* same, user-defined tokens only */
    uint8_t byte;
} tok_trie_node;

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

    int n_special;       /* control/user/unknown tokens with text */
    tok_trie_node *trie; /* their texts */
    int n_trie;
    bool trie_first[256]; /* bytes that start some special text */
    uint8_t *eog;         /* (n_vocab) 1 for end-of-generation tokens */
    uint8_t *strip;       /* (n_vocab) TOK_STRIP_* of added tokens, or NULL */

    bool nfc;        /* NFC-normalize text fragments before splitting */
    tok_bpe *bpe;    /* merges + pre-split; NULL for GGUF SentencePiece */
    char *chat_tmpl; /* tokenizer.chat_template, or NULL */

    /* Storage owned when the vocabulary did not come from a GGUF file. */
    char *own_arena;
    gguf_str *own_text;
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
/* Words already encoded in this call -> their ids (cache.c). Text repeats
 * its words, so most words skip the merges entirely. */
typedef struct tok_cache_ent {
    uint64_t hash;
    uint32_t word, len; /* bytes[word .. word + len) */
    uint32_t ids, n;    /* ids[ids .. ids + n) */
} tok_cache_ent;

typedef struct tok_cache {
    uint32_t *slot; /* entry + 1, 0 = empty */
    uint32_t mask;
    tok_cache_ent *ent;
    uint32_t n_ent;
    char *bytes;
    uint32_t n_bytes;
    int32_t *ids;
    uint32_t n_ids;
} tok_cache;

typedef struct tok_work {
    tok_sym *sym;
    tok_pair *heap;
    int cap; /* symbols the arrays hold (heap holds 3 * cap pairs) */
    char *buf;
    size_t buf_cap;
    tok_cache cache;
    bool use_cache; /* long texts only: the cache costs an allocation */
} tok_work;

#define TOK_CACHE_WORD 64 /* longer words are not cached */

/* The cached ids of word s[0..n) (*ids, *n_ids), or false. */
bool tok_cache_get(const tok_cache *c, const char *s, size_t n, const int32_t **ids, int *n_ids);
/* Remembers ids for the word; silently does nothing when full or out of
 * memory (the cache only saves time). */
void tok_cache_put(tok_cache *c, const char *s, size_t n, const int32_t *ids, int n_ids);
void tok_cache_free(tok_cache *c);

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

/* Builds the derived tables once t->text/type/ids are set (tables.c). */
penny_status tok_build_tables(tokenizer *t, penny_error *err);

/* ---- algorithms ---- */

/* One text fragment: SentencePiece, with the U+2581 prefix when prefix. */
penny_status tok_spm_encode(const tokenizer *t, tok_work *w, const char *text, size_t len,
                            bool prefix, tok_sink *out, penny_error *err);

/* Merge-ranked BPE state: n "left right" lines (views that must outlive
 * t; split[i] is the offset of line i's separating space, or NULL to take
 * the first space after the first byte). byte_level selects GPT-2's byte
 * mapping; without it symbols are UTF-8 characters (SentencePiece-style
 * BPE from tokenizer.json). what names the source in errors. */
penny_status tok_bpe_new(tokenizer *t, const gguf_str *merges, uint32_t n, const uint32_t *split,
                         bool byte_level, const char *what, penny_error *err);
void tok_bpe_free(tok_bpe *b);
/* Takes ownership of the merge storage (freed with the tok_bpe). */
void tok_bpe_own(tok_bpe *b, void *strs, void *split, void *arena);
void tok_bpe_set_ignore_merges(tok_bpe *b, bool on);
/* Adds a split pattern (Hugging Face "Split" with Isolated behaviour);
 * patterns apply in order, each to the pieces the previous one made. */
penny_status tok_bpe_add_split(tok_bpe *b, const char *pattern, size_t len, penny_error *err);
/* Sets the patterns (and NFC, whole-word lookup) of the pre-tokenizer that
 * tokenizer.ggml.pre names; *known is false (and nothing set) for a name
 * not in the table. */
penny_status tok_pre_preset(tokenizer *t, const char *name, size_t len, bool *known,
                            penny_error *err);
/* Merge-rank pair test for tok_merge (bpe.c). */
bool tok_bpe_pair(const tokenizer *t, const char *a, int la, int lb, double *key);
/* One fragment: normalization, pre-split, then tok_bpe_word per word. */
penny_status tok_bpe_encode(const tokenizer *t, tok_work *w, const char *text, size_t len,
                            tok_sink *out, penny_error *err);
/* One pre-split word of a byte-level vocabulary. */
penny_status tok_bpe_word(const tokenizer *t, tok_work *w, const char *s, size_t n, tok_sink *out,
                          penny_error *err);
/* NFC of text[0..len) into a malloc'd *out (invalid UTF-8 is copied as is). */
penny_status tok_nfc(const char *text, size_t len, char **out, size_t *out_len, penny_error *err);
/* Appends the bytes the byte-level text s stands for to dst (which has room
 * for n bytes; the result is never longer); returns the bytes written. */
size_t tok_bpe_decode(const tokenizer *t, const char *s, size_t n, char *dst);

#endif
