/*
 * vocab.c - builds a tokenizer from the tokenizer.ggml.* keys of a GGUF file.
 *
 * Everything the encoder and decoder will trust is checked here once: the
 * model name, array types and lengths, UTF-8 validity of every token text,
 * token types, special ids in range. Each error names the key at fault. The
 * load also precomputes what makes the hot paths cheap: a hash table from
 * text to id, the byte-fallback ids, the special tokens sorted for splitting,
 * and every token's decoded bytes in one arena so tok_piece is a lookup.
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "tokenizer/tok_int.h"

/* Far above any real vocabulary; keeps every count and offset in 32 bits. */
#define TOK_MAX_VOCAB (1 << 24)

/* Formats "<file>: key '<key>' [at byte offset N]: <problem>". */
__attribute__((format(printf, 5, 6))) static penny_status
key_fail(const gguf_file *g, const char *key, penny_error *err, penny_status code, const char *fmt,
         ...) {
    char problem[384], where[64] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(problem, sizeof problem, fmt, ap);
    va_end(ap);
    const gguf_kv *kv = gguf_find(g, key);
    if (kv) snprintf(where, sizeof where, " at byte offset %" PRIu64, kv->offset);
    return err_set(err, code, "%s: key '%s'%s: %s", gguf_path(g), key, where, problem);
}

/* ---- hash table ---- */

penny_status tok_map_init(tok_map *m, uint64_t n, penny_error *err) {
    uint64_t size = 16;
    while (size < 2 * n) size *= 2;
    m->slot = calloc(size, sizeof *m->slot);
    if (!m->slot) return err_set(err, PENNY_ERR_NOMEM, "tokenizer: out of memory (hash table)");
    m->mask = (uint32_t)(size - 1);
    return PENNY_OK;
}

void tok_map_free(tok_map *m) {
    free(m->slot);
    m->slot = NULL;
}

int32_t tok_find(const tokenizer *t, const char *p, size_t n) {
    uint32_t i = tok_slot(tok_hash(TOK_HASH_INIT, p, n), t->vocab.mask);
    for (uint32_t s; (s = t->vocab.slot[i]) != 0; i = (i + 1) & t->vocab.mask) {
        const gguf_str *w = &t->text[s - 1];
        if (w->len == n && memcmp(w->ptr, p, n) == 0) return (int32_t)(s - 1);
    }
    return -1;
}

/* Inserts every token; a later duplicate text replaces the earlier id, as
 * in llama.cpp, so both engines resolve such texts alike. */
static penny_status build_map(tokenizer *t, penny_error *err) {
    penny_status rc = tok_map_init(&t->vocab, (uint64_t)t->n_vocab, err);
    if (rc) return rc;
    for (int id = 0; id < t->n_vocab; id++) {
        const gguf_str *w = &t->text[id];
        uint32_t i = tok_slot(tok_hash(TOK_HASH_INIT, w->ptr, w->len), t->vocab.mask);
        for (uint32_t s; (s = t->vocab.slot[i]) != 0; i = (i + 1) & t->vocab.mask) {
            const gguf_str *o = &t->text[s - 1];
            if (o->len == w->len && memcmp(o->ptr, w->ptr, w->len) == 0) break;
        }
        t->vocab.slot[i] = (uint32_t)id + 1;
    }
    return PENNY_OK;
}

/* ---- UTF-8 ---- */

size_t tok_utf8_check(const char *p, size_t n) {
    const unsigned char *s = (const unsigned char *)p;
    size_t i = 0;
    while (i < n) {
        int k = tok_utf8_next(s + i, n - i);
        if (k <= 0) return i;
        i += (size_t)k;
    }
    return n;
}

int tok_utf8_next(const unsigned char *p, size_t n) {
    unsigned c = p[0];
    int need = c < 0x80 ? 1 : c < 0xC2 ? 0 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : c < 0xF5 ? 4 : 0;
    if (need == 0) return -1;
    for (int i = 1; i < need; i++) {
        if ((size_t)i >= n) return 0;
        unsigned lo = 0x80, hi = 0xBF;
        if (i == 1) {
            if (c == 0xE0)
                lo = 0xA0; /* overlong */
            else if (c == 0xED)
                hi = 0x9F; /* surrogates */
            else if (c == 0xF0)
                lo = 0x90; /* overlong */
            else if (c == 0xF4)
                hi = 0x8F; /* past U+10FFFF */
        }
        if (p[i] < lo || p[i] > hi) return -i;
    }
    return need;
}

/* ---- metadata ---- */

static penny_status read_model(tokenizer *t, const gguf_file *g, penny_error *err) {
    const char *key = "tokenizer.ggml.model";
    gguf_str s;
    penny_status rc = gguf_get_str(g, key, &s, err);
    if (rc == PENNY_ERR_RANGE)
        return key_fail(g, key, err, PENNY_ERR_FORMAT, "missing: the file has no vocabulary");
    if (rc) return rc;
    if (gguf_str_eq(s, "llama"))
        t->kind = TOK_SPM;
    else if (gguf_str_eq(s, "gpt2"))
        t->kind = TOK_BPE;
    else
        return key_fail(g, key, err, PENNY_ERR_UNSUPPORTED,
                        "tokenizer model \"%.*s\" is not supported (llama, gpt2)",
                        (int)(s.len > 64 ? 64 : s.len), s.ptr);
    return PENNY_OK;
}

static penny_status read_tokens(tokenizer *t, const gguf_file *g, penny_error *err) {
    const char *key = "tokenizer.ggml.tokens";
    const gguf_arr *a;
    penny_status rc = gguf_get_arr(g, key, &a, err);
    if (rc == PENNY_ERR_RANGE) return key_fail(g, key, err, PENNY_ERR_FORMAT, "missing");
    if (rc) return rc;
    if (a->type != GGUF_STR)
        return key_fail(g, key, err, PENNY_ERR_FORMAT, "expected an array of strings, found %s",
                        gguf_vtype_name(a->type));
    if (a->n == 0 || a->n > TOK_MAX_VOCAB)
        return key_fail(g, key, err, PENNY_ERR_FORMAT, "%" PRIu64 " tokens (want 1..%d)", a->n,
                        TOK_MAX_VOCAB);
    uint64_t total = 0;
    for (uint64_t i = 0; i < a->n; i++) {
        const gguf_str *w = &a->strs[i];
        size_t bad = tok_utf8_check(w->ptr, w->len);
        if (bad != w->len)
            return key_fail(g, key, err, PENNY_ERR_FORMAT,
                            "token %" PRIu64 " is not valid UTF-8 (byte %zu)", i, bad);
        total += w->len;
    }
    if (total >= UINT32_MAX)
        return key_fail(g, key, err, PENNY_ERR_FORMAT, "token texts total %" PRIu64 " bytes",
                        total);
    t->n_vocab = (int)a->n;
    t->text = a->strs;
    return PENNY_OK;
}

/* A numeric per-token array: absent is fine (*out NULL), anything else must
 * have one number per token. */
static penny_status per_token_arr(const tokenizer *t, const gguf_file *g, const char *key,
                                  const gguf_arr **out, penny_error *err) {
    *out = NULL;
    penny_status rc = gguf_get_arr(g, key, out, err);
    if (rc == PENNY_ERR_RANGE) return PENNY_OK;
    if (rc) return rc;
    const gguf_arr *a = *out;
    if (a->type == GGUF_STR || a->type == GGUF_ARR || a->type == GGUF_BOOL)
        return key_fail(g, key, err, PENNY_ERR_FORMAT, "expected an array of numbers, found %s",
                        gguf_vtype_name(a->type));
    if (a->n != (uint64_t)t->n_vocab)
        return key_fail(g, key, err, PENNY_ERR_FORMAT,
                        "has %" PRIu64 " elements, expected %d (one per token)", a->n, t->n_vocab);
    return PENNY_OK;
}

static penny_status read_scores(tokenizer *t, const gguf_file *g, penny_error *err) {
    const char *key = "tokenizer.ggml.scores";
    const gguf_arr *a;
    penny_status rc = per_token_arr(t, g, key, &a, err);
    if (rc) return rc;
    t->score = calloc((size_t)t->n_vocab, sizeof *t->score);
    if (!t->score) return err_set(err, PENNY_ERR_NOMEM, "tokenizer: out of memory (scores)");
    for (int i = 0; a && i < t->n_vocab; i++) {
        double v = gguf_arr_num(a, (uint64_t)i);
        if (isnan(v)) return key_fail(g, key, err, PENNY_ERR_FORMAT, "score %d is NaN", i);
        t->score[i] = (float)v;
    }
    return PENNY_OK;
}

static penny_status read_types(tokenizer *t, const gguf_file *g, penny_error *err) {
    const char *key = "tokenizer.ggml.token_type";
    const gguf_arr *a;
    penny_status rc = per_token_arr(t, g, key, &a, err);
    if (rc) return rc;
    t->type = malloc((size_t)t->n_vocab);
    if (!t->type) return err_set(err, PENNY_ERR_NOMEM, "tokenizer: out of memory (types)");
    for (int i = 0; i < t->n_vocab; i++) {
        double v = a ? gguf_arr_num(a, (uint64_t)i) : TOK_T_NORMAL;
        if (!(v >= 0 && v <= TOK_T_BYTE) || v != floor(v))
            return key_fail(g, key, err, PENNY_ERR_FORMAT, "token %d has type %g (want 0..6)", i,
                            v);
        t->type[i] = (uint8_t)v;
    }
    return PENNY_OK;
}

/* A special id: absent -> def; -1 and 0xFFFFFFFF (how converters write
 * "none") -> -1; anything else must name a token. */
static penny_status read_id(const tokenizer *t, const gguf_file *g, const char *key, int32_t def,
                            int32_t *out, penny_error *err) {
    int64_t v;
    penny_status rc = gguf_get_i64(g, key, &v, err);
    if (rc == PENNY_ERR_RANGE) {
        *out = def < t->n_vocab ? def : -1;
        return PENNY_OK;
    }
    if (rc) return rc;
    if (v == -1 || v == (int64_t)UINT32_MAX) {
        *out = -1;
        return PENNY_OK;
    }
    if (v < 0 || v >= t->n_vocab)
        return key_fail(g, key, err, PENNY_ERR_FORMAT,
                        "token id %" PRId64 " is out of range (the vocabulary has %d tokens)", v,
                        t->n_vocab);
    *out = (int32_t)v;
    return PENNY_OK;
}

/* SentencePiece files rely on llama.cpp's defaults <unk>=0, <s>=1, </s>=2. */
static penny_status read_ids(tokenizer *t, const gguf_file *g, penny_error *err) {
    bool spm = t->kind == TOK_SPM;
    penny_status rc;
    if ((rc = read_id(t, g, "tokenizer.ggml.bos_token_id", spm ? 1 : -1, &t->bos, err)) ||
        (rc = read_id(t, g, "tokenizer.ggml.eos_token_id", spm ? 2 : -1, &t->eos, err)) ||
        (rc = read_id(t, g, "tokenizer.ggml.unknown_token_id", spm ? 0 : -1, &t->unk, err)) ||
        (rc = read_id(t, g, "tokenizer.ggml.eot_token_id", -1, &t->eot, err)) ||
        (rc = read_id(t, g, "tokenizer.ggml.eom_token_id", -1, &t->eom, err)) ||
        (rc = read_id(t, g, "tokenizer.ggml.padding_token_id", -1, &t->pad, err)))
        return rc;
    return PENNY_OK;
}

static penny_status read_flag(const gguf_file *g, const char *key, bool def, bool *out,
                              penny_error *err) {
    *out = def;
    penny_status rc = gguf_get_bool(g, key, out, err);
    return rc == PENNY_ERR_RANGE ? PENNY_OK : rc;
}

static penny_status read_flags(tokenizer *t, const gguf_file *g, penny_error *err) {
    bool spm = t->kind == TOK_SPM;
    penny_status rc;
    if ((rc = read_flag(g, "tokenizer.ggml.add_bos_token", spm, &t->add_bos, err)) ||
        (rc = read_flag(g, "tokenizer.ggml.add_eos_token", false, &t->add_eos, err)) ||
        (rc = read_flag(g, "tokenizer.ggml.add_space_prefix", spm, &t->add_space_prefix, err)))
        return rc;
    if (!spm) t->add_space_prefix = false; /* byte-level BPE never uses it */
    if (t->add_bos && t->bos < 0) {
        log_msg(LOG_WARN, "%s: add_bos_token is set but there is no BOS token", gguf_path(g));
        t->add_bos = false;
    }
    return PENNY_OK;
}

/* ---- derived tables ---- */

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* The byte a "<0xXX>" text names, or -1. */
static int byte_of(const gguf_str *w) {
    if (w->len != 6 || memcmp(w->ptr, "<0x", 3) != 0 || w->ptr[5] != '>') return -1;
    int hi = hex_digit(w->ptr[3]), lo = hex_digit(w->ptr[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

/* Byte fallback finds <0xXX> by text, as llama.cpp does; every token typed
 * as a byte must also spell one, or its piece would be meaningless. */
static penny_status build_bytes(tokenizer *t, const gguf_file *g, penny_error *err) {
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        t->byte_tok[b] = tok_find(t, name, 6);
        if (t->byte_tok[b] >= 0) t->has_byte_tok = true;
    }
    for (int i = 0; t->kind == TOK_SPM && i < t->n_vocab; i++) {
        if (t->type[i] == TOK_T_BYTE && byte_of(&t->text[i]) < 0)
            return key_fail(g, "tokenizer.ggml.token_type", err, PENNY_ERR_FORMAT,
                            "token %d (\"%.*s\") has type 6 (byte) but is not <0xXX>", i,
                            (int)(t->text[i].len > 32 ? 32 : t->text[i].len), t->text[i].ptr);
    }
    return PENNY_OK;
}

typedef struct special_ent {
    uint64_t len;
    int32_t id;
} special_ent;

static int special_cmp(const void *a, const void *b) {
    const special_ent *x = a, *y = b;
    if (x->len != y->len) return x->len < y->len ? 1 : -1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Tokens matched in the input before encoding, longest text first (so
 * "<|im_start|>" wins over "<|im"), the order llama.cpp splits in. */
static penny_status build_specials(tokenizer *t, penny_error *err) {
    int n = 0;
    for (int i = 0; i < t->n_vocab; i++) {
        int ty = t->type[i];
        n += (ty == TOK_T_CONTROL || ty == TOK_T_USER || ty == TOK_T_UNKNOWN) && t->text[i].len;
    }
    special_ent *e = malloc(((size_t)n + 1) * sizeof *e);
    t->special = malloc(((size_t)n + 1) * sizeof *t->special);
    if (!e || !t->special) {
        free(e);
        return err_set(err, PENNY_ERR_NOMEM, "tokenizer: out of memory (special tokens)");
    }
    n = 0;
    for (int i = 0; i < t->n_vocab; i++) {
        int ty = t->type[i];
        if ((ty == TOK_T_CONTROL || ty == TOK_T_USER || ty == TOK_T_UNKNOWN) && t->text[i].len)
            e[n++] = (special_ent){t->text[i].len, i};
    }
    qsort(e, (size_t)n, sizeof *e, special_cmp);
    for (int i = 0; i < n; i++) t->special[i] = e[i].id;
    t->n_special = n;
    free(e);
    return PENNY_OK;
}

/* SentencePiece text: U+2581 stands for a space. */
static size_t unescape_spaces(const char *s, size_t n, char *dst) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (i + 2 < n && memcmp(s + i, "\xE2\x96\x81", 3) == 0) {
            dst[o++] = ' ';
            i += 2;
        } else {
            dst[o++] = s[i];
        }
    }
    return o;
}

/* What token i prints as, following llama.cpp's token_to_piece without
 * special rendering: control and unused tokens print nothing; unknown and
 * user-defined tokens print their text as is. */
static size_t decode_piece(const tokenizer *t, int i, char *dst) {
    const gguf_str *w = &t->text[i];
    switch (t->type[i]) {
    case TOK_T_CONTROL:
    case TOK_T_UNUSED: return 0;
    case TOK_T_UNKNOWN:
    case TOK_T_USER: memcpy(dst, w->ptr, w->len); return w->len;
    case TOK_T_BYTE:
        if (t->kind == TOK_SPM) {
            dst[0] = (char)byte_of(w);
            return 1;
        }
        break;
    default: break;
    }
    if (t->kind == TOK_SPM) return unescape_spaces(w->ptr, w->len, dst);
    return tok_bpe_decode(t, w->ptr, w->len, dst);
}

/* Decoding never lengthens a text, so the texts' total bounds the arena. */
static penny_status build_pieces(tokenizer *t, penny_error *err) {
    size_t total = 0;
    for (int i = 0; i < t->n_vocab; i++) total += t->text[i].len;
    t->piece = malloc(total + 1);
    t->piece_at = malloc(((size_t)t->n_vocab + 1) * sizeof *t->piece_at);
    if (!t->piece || !t->piece_at)
        return err_set(err, PENNY_ERR_NOMEM, "tokenizer: out of memory (pieces)");
    uint32_t at = 0;
    for (int i = 0; i < t->n_vocab; i++) {
        t->piece_at[i] = at;
        size_t n = decode_piece(t, i, t->piece + at);
        PENNY_ASSERT(n <= t->text[i].len);
        if ((int)n > t->max_piece) t->max_piece = (int)n;
        at += (uint32_t)n;
    }
    t->piece_at[t->n_vocab] = at;
    return PENNY_OK;
}

/* ---- public ---- */

penny_status tok_new(const gguf_file *g, tokenizer **out, penny_error *err) {
    *out = NULL;
    tokenizer *t = calloc(1, sizeof *t);
    if (!t) return err_set(err, PENNY_ERR_NOMEM, "tokenizer: out of memory");
    penny_status rc;
    if ((rc = read_model(t, g, err)) || (rc = read_tokens(t, g, err)) ||
        (rc = read_scores(t, g, err)) || (rc = read_types(t, g, err)) ||
        (rc = read_ids(t, g, err)) || (rc = read_flags(t, g, err)) || (rc = build_map(t, err)) ||
        (rc = build_bytes(t, g, err)) || (t->kind == TOK_BPE && (rc = tok_bpe_new(t, g, err))) ||
        (rc = build_specials(t, err)) || (rc = build_pieces(t, err))) {
        tok_free(t);
        return rc;
    }
    log_msg(LOG_INFO, "%s: %s vocabulary, %d tokens, %d special", gguf_path(g),
            t->kind == TOK_SPM ? "SentencePiece" : "byte-level BPE", t->n_vocab, t->n_special);
    *out = t;
    return PENNY_OK;
}

void tok_free(tokenizer *t) {
    if (!t) return;
    tok_bpe_free(t->bpe);
    free(t->score);
    free(t->type);
    tok_map_free(&t->vocab);
    free(t->piece);
    free(t->piece_at);
    free(t->special);
    free(t);
}

int tok_n_vocab(const tokenizer *t) { return t->n_vocab; }
int32_t tok_bos(const tokenizer *t) { return t->bos; }
int32_t tok_eos(const tokenizer *t) { return t->eos; }
int32_t tok_eot(const tokenizer *t) { return t->eot; }
bool tok_add_bos(const tokenizer *t) { return t->add_bos; }
bool tok_add_eos(const tokenizer *t) { return t->add_eos; }

bool tok_is_eog(const tokenizer *t, int32_t id) {
    return id >= 0 && (id == t->eos || id == t->eot || id == t->eom);
}

void tok_piece(const tokenizer *t, int32_t id, const char **bytes, size_t *len) {
    if (id < 0 || id >= t->n_vocab) {
        *bytes = "";
        *len = 0;
        return;
    }
    *bytes = t->piece + t->piece_at[id];
    *len = t->piece_at[id + 1] - t->piece_at[id];
}
