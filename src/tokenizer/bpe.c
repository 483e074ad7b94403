/*
 * bpe.c - merge-ranked BPE: byte-level ("gpt2" vocabularies: GPT-2, Llama 3,
 * Qwen, DeepSeek, ...) and, for tokenizer.json files, SentencePiece-style BPE
 * over characters.
 *
 * Text arrives already pre-split into words (pre.c); merges never cross a
 * word boundary. In byte-level vocabularies each word's bytes are first
 * written as printable code points (GPT-2's byte-to-unicode table: the
 * printable Latin-1 bytes 33..126, 161..172 and 174..255 stand for
 * themselves, the other 68 bytes become U+0100.. in byte order), so every
 * vocabulary entry is valid UTF-8 text. Adjacent symbols merge lowest merge
 * rank first (rank = line number in the merge list), by the shared engine in
 * merge.c.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <inttypes.h>
#include <limits.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "tokenizer/tok_int.h"

static bool printable(int b) {
    return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
}

static void build_byte_map(tok_bpe *b) {
    int extra = 0;
    for (int i = 0; i < TOK_BYTE_CPS; i++) b->dec[i] = -1;
    for (int byte = 0; byte < 256; byte++) {
        int cp = printable(byte) ? byte : 256 + extra++;
        b->dec[cp] = (int16_t)byte;
        if (cp < 0x80) {
            b->enc[byte][0] = (char)cp;
            b->enc_len[byte] = 1;
        } else {
            b->enc[byte][0] = (char)(0xC0 | (cp >> 6));
            b->enc[byte][1] = (char)(0x80 | (cp & 0x3F));
            b->enc_len[byte] = 2;
        }
    }
}

/* ---- merges ---- */

static uint64_t pair_hash(const char *a, size_t la, const char *c, size_t lc) {
    return tok_hash(tok_hash(tok_hash(TOK_HASH_INIT, a, la), " ", 1), c, lc);
}

static bool merge_is(const tok_bpe *b, uint32_t m, const char *a, size_t la, const char *c,
                     size_t lc) {
    const gguf_str *s = &b->merge[m];
    return s->len == la + 1 + lc && b->split[m] == la && memcmp(s->ptr, a, la) == 0 &&
           memcmp(s->ptr + la + 1, c, lc) == 0;
}

static int64_t find_rank(const tok_bpe *b, const char *a, size_t la, const char *c, size_t lc) {
    uint32_t i = tok_slot(pair_hash(a, la, c, lc), b->rank.mask);
    for (uint32_t s; (s = b->rank.slot[i]) != 0; i = (i + 1) & b->rank.mask)
        if (merge_is(b, s - 1, a, la, c, lc)) return s - 1;
    return -1;
}

/* Without a given split, a line splits at its first space after the first
 * byte, as in llama.cpp. */
static penny_status add_merge(tok_bpe *b, uint32_t m, bool have_split, const char *what,
                              penny_error *err) {
    const gguf_str *s = &b->merge[m];
    if (!have_split) {
        const char *sp = s->len > 1 ? memchr(s->ptr + 1, ' ', s->len - 1) : NULL;
        if (!sp)
            return err_set(err, PENNY_ERR_FORMAT,
                           "%s: key 'tokenizer.ggml.merges': line %" PRIu32
                           " (\"%.*s\") has no space between two symbols",
                           what, m, (int)(s->len > 32 ? 32 : s->len), s->ptr);
        b->split[m] = (uint32_t)(sp - s->ptr);
    }
    size_t la = b->split[m];
    if (la >= s->len)
        return err_set(err, PENNY_ERR_FORMAT, "%s: merge %" PRIu32 " malformed", what, m);
    const char *right = s->ptr + la + 1;
    if (find_rank(b, s->ptr, la, right, s->len - la - 1) >= 0) return PENNY_OK;
    uint32_t i = tok_slot(pair_hash(s->ptr, la, right, s->len - la - 1), b->rank.mask);
    while (b->rank.slot[i]) i = (i + 1) & b->rank.mask;
    b->rank.slot[i] = m + 1;
    return PENNY_OK;
}

penny_status tok_bpe_new(tokenizer *t, const gguf_str *merges, uint32_t n, const uint32_t *split,
                         bool byte_level, const char *what, penny_error *err) {
    tok_bpe *b = t->bpe = calloc(1, sizeof *t->bpe);
    if (!b) return err_set(err, PENNY_ERR_NOMEM, "tokenizer: out of memory");
    b->byte_level = byte_level;
    build_byte_map(b);
    b->merge = merges;
    b->n_merge = n;
    b->split = malloc(((size_t)n + 1) * sizeof *b->split);
    if (!b->split) return err_set(err, PENNY_ERR_NOMEM, "tokenizer: out of memory (merges)");
    if (split) memcpy(b->split, split, (size_t)n * sizeof *split);
    penny_status rc = tok_map_init(&b->rank, n, err);
    for (uint32_t m = 0; m < n && !rc; m++) rc = add_merge(b, m, split != NULL, what, err);
    return rc;
}

void tok_bpe_own(tok_bpe *b, void *strs, void *split, void *arena) {
    b->own[0] = strs;
    b->own[1] = split;
    b->own[2] = arena;
}

void tok_bpe_set_ignore_merges(tok_bpe *b, bool on) { b->ignore_merges = on; }

void tok_bpe_free(tok_bpe *b) {
    if (!b) return;
    for (int i = 0; i < b->n_re; i++) pcre2_code_free(b->re[i]);
    tok_map_free(&b->rank);
    free(b->split);
    for (int i = 0; i < 3; i++) free(b->own[i]);
    free(b);
}

/* ---- encoding ---- */

bool tok_bpe_pair(const tokenizer *t, const char *a, int la, int lb, double *key) {
    int64_t r = find_rank(t->bpe, a, (size_t)la, a + la, (size_t)lb);
    if (r < 0) return false;
    *key = (double)r;
    return true;
}

/* A symbol outside the vocabulary (only with an incomplete vocabulary):
 * one token per character, or the unknown token. */
static penny_status fallback(const tokenizer *t, const char *s, int n, tok_sink *out,
                             penny_error *err) {
    for (int i = 0; i < n;) {
        int k = tok_utf8_len((unsigned char)s[i]);
        if (k > n - i) k = n - i;
        int32_t id = tok_find(t, s + i, (size_t)k);
        if (id < 0) id = t->unk;
        if (id < 0)
            return err_set(err, PENNY_ERR_UNSUPPORTED,
                           "tokenize: the vocabulary has no token for \"%.*s\"", k, s + i);
        tok_emit(out, id);
        i += k;
    }
    return PENNY_OK;
}

/* Merges one word (its bytes already mapped into w->buf[0..m)). */
static penny_status merge_word(const tokenizer *t, tok_work *w, int m, tok_sink *out,
                               penny_error *err) {
    int32_t whole = t->bpe->ignore_merges ? tok_find(t, w->buf, (size_t)m) : -1;
    if (whole >= 0) {
        tok_emit(out, whole);
        return PENNY_OK;
    }
    penny_status rc = tok_merge(t, w, w->buf, m, tok_bpe_pair, err);
    for (int i = 0; !rc && i != -1; i = w->sym[i].next) {
        const tok_sym *y = &w->sym[i];
        int32_t id = tok_find(t, w->buf + y->start, (size_t)y->len);
        if (id >= 0)
            tok_emit(out, id);
        else
            rc = fallback(t, w->buf + y->start, y->len, out, err);
    }
    return rc;
}

/* One pre-split word of a byte-level vocabulary, through the word cache
 * when the call uses one. */
penny_status tok_bpe_word(const tokenizer *t, tok_work *w, const char *s, size_t n, tok_sink *out,
                          penny_error *err) {
    const tok_bpe *b = t->bpe;
    bool cache = w->use_cache && n <= TOK_CACHE_WORD;
    const int32_t *hit;
    int n_hit;
    if (cache && tok_cache_get(&w->cache, s, n, &hit, &n_hit)) {
        for (int i = 0; i < n_hit; i++) tok_emit(out, hit[i]);
        return PENNY_OK;
    }
    penny_status rc = tok_work_buf(w, 2 * n, err);
    if (rc) return rc;
    int m = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        memcpy(w->buf + m, b->enc[c], b->enc_len[c]);
        m += b->enc_len[c];
    }
    if (!cache) return merge_word(t, w, m, out, err);
    int32_t ids[TOK_CACHE_WORD]; /* a word of n bytes never has more than n tokens */
    tok_sink local = {ids, TOK_CACHE_WORD, 0};
    if ((rc = merge_word(t, w, m, &local, err))) return rc;
    for (int i = 0; i < local.n; i++) tok_emit(out, ids[i]);
    tok_cache_put(&w->cache, s, n, ids, local.n);
    return PENNY_OK;
}

/* ---- decoding ---- */

size_t tok_bpe_decode(const tokenizer *t, const char *s, size_t n, char *dst) {
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        const unsigned char *p = (const unsigned char *)s + i;
        int k = tok_utf8_next(p, n - i);
        if (k <= 0) k = 1; /* token texts are validated; never happens */
        unsigned cp = k == 1   ? p[0]
                      : k == 2 ? ((p[0] & 0x1Fu) << 6) | (p[1] & 0x3Fu)
                               : TOK_BYTE_CPS;
        if (cp < TOK_BYTE_CPS && t->bpe->dec[cp] >= 0) {
            dst[o++] = (char)t->bpe->dec[cp];
        } else {
            memcpy(dst + o, p, (size_t)k);
            o += (size_t)k;
        }
        i += (size_t)k;
    }
    return o;
}
