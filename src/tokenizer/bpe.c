/*
 * bpe.c - byte-level BPE ("gpt2" vocabularies: GPT-2, Llama 3, Qwen, ...).
 *
 * Text is first pre-split by a regular expression (PCRE2, UTF + UCP, JIT
 * when available) into words such as " world" or "123"; merges never cross
 * a word boundary. Each word's bytes are then written as printable code
 * points (GPT-2's byte-to-unicode table: the printable Latin-1 bytes 33..126,
 * 161..172 and 174..255 stand for themselves, the other 68 bytes become
 * U+0100.. in byte order), so every vocabulary entry is valid UTF-8 text.
 * Adjacent symbols merge lowest merge rank first (rank = line number in
 * tokenizer.ggml.merges), by the shared engine in merge.c.
 *
 * Only two pre-split patterns exist so far: GPT-2's, the default, and
 * Llama 3's for tokenizer.ggml.pre = "llama-bpe" (which also looks whole
 * words up before merging, as llama.cpp does for it). Other families fall
 * back to GPT-2's with a warning.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <inttypes.h>
#include <limits.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "tokenizer/tok_int.h"

#define N_MAPPED 324             /* code points 0..323 cover the byte table */
#define TOK_MAX_MERGES (1 << 26) /* Llama 3 has 280k; keeps ranks in 32 bits */

static const char *const GPT2_SPLIT = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+"
                                      "| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
static const char *const LLAMA3_SPLIT =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+"
    "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

struct tok_bpe {
    const gguf_str *merge; /* (n_merge) "left right" lines: views into the file */
    uint32_t *split;       /* (n_merge) offset of the separating space */
    uint32_t n_merge;
    tok_map rank; /* (left, right) -> line number; the first line wins */
    pcre2_code *re;
    bool ignore_merges; /* whole words found in the vocabulary skip merging */
    char enc[256][2];   /* byte -> UTF-8 of its code point */
    uint8_t enc_len[256];
    int16_t dec[N_MAPPED]; /* code point -> byte, -1 if none */
};

static bool printable(int b) {
    return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
}

static void build_byte_map(tok_bpe *b) {
    int extra = 0;
    for (int i = 0; i < N_MAPPED; i++) b->dec[i] = -1;
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

/* A line splits at its first space after the first byte, as in llama.cpp. */
static penny_status add_merge(tok_bpe *b, const gguf_file *g, uint32_t m, penny_error *err) {
    const gguf_str *s = &b->merge[m];
    const char *sp = s->len > 1 ? memchr(s->ptr + 1, ' ', s->len - 1) : NULL;
    if (!sp)
        return err_set(err, PENNY_ERR_FORMAT,
                       "%s: key 'tokenizer.ggml.merges': line %" PRIu32 " (\"%.*s\") has no space "
                       "between two symbols",
                       gguf_path(g), m, (int)(s->len > 32 ? 32 : s->len), s->ptr);
    size_t la = (size_t)(sp - s->ptr);
    b->split[m] = (uint32_t)la;
    if (find_rank(b, s->ptr, la, sp + 1, s->len - la - 1) >= 0) return PENNY_OK;
    uint32_t i = tok_slot(pair_hash(s->ptr, la, sp + 1, s->len - la - 1), b->rank.mask);
    while (b->rank.slot[i]) i = (i + 1) & b->rank.mask;
    b->rank.slot[i] = m + 1;
    return PENNY_OK;
}

static penny_status read_merges(tok_bpe *b, const gguf_file *g, penny_error *err) {
    const char *key = "tokenizer.ggml.merges";
    const gguf_arr *a;
    penny_status rc = gguf_get_arr(g, key, &a, err);
    if (rc == PENNY_ERR_RANGE)
        return err_set(err, PENNY_ERR_FORMAT, "%s: key '%s' missing (a gpt2 vocabulary needs it)",
                       gguf_path(g), key);
    if (rc) return rc;
    if (a->type != GGUF_STR || a->n > TOK_MAX_MERGES)
        return err_set(err, PENNY_ERR_FORMAT,
                       "%s: key '%s': expected up to %d strings, found %" PRIu64 " of type %s",
                       gguf_path(g), key, TOK_MAX_MERGES, a->n, gguf_vtype_name(a->type));
    b->merge = a->strs;
    b->n_merge = (uint32_t)a->n;
    b->split = malloc(((size_t)a->n + 1) * sizeof *b->split);
    if (!b->split) return err_set(err, PENNY_ERR_NOMEM, "tokenizer: out of memory (merges)");
    if ((rc = tok_map_init(&b->rank, a->n, err))) return rc;
    for (uint32_t m = 0; m < b->n_merge && !rc; m++) rc = add_merge(b, g, m, err);
    return rc;
}

/* ---- pre-split ---- */

static penny_status compile_split(tok_bpe *b, const gguf_file *g, penny_error *err) {
    const char *pat = GPT2_SPLIT;
    gguf_str pre = {"", 0};
    penny_status rc = gguf_get_str(g, "tokenizer.ggml.pre", &pre, err);
    if (rc && rc != PENNY_ERR_RANGE) return rc;
    if (gguf_str_eq(pre, "llama-bpe")) {
        pat = LLAMA3_SPLIT;
        b->ignore_merges = true;
    } else if (!gguf_str_eq(pre, "gpt2")) {
        log_msg(LOG_WARN, "%s: pre-tokenizer \"%.*s\" not implemented; using GPT-2's", gguf_path(g),
                (int)(pre.len > 64 ? 64 : pre.len), pre.ptr);
    }
    int code;
    PCRE2_SIZE at;
    b->re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED,
                          PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &code, &at, NULL);
    if (!b->re) {
        PCRE2_UCHAR msg[128];
        pcre2_get_error_message(code, msg, sizeof msg);
        return err_set(err, PENNY_ERR_UNSUPPORTED, "tokenizer: PCRE2 rejects the split pattern: %s",
                       (const char *)msg);
    }
    if (pcre2_jit_compile(b->re, PCRE2_JIT_COMPLETE) != 0)
        log_msg(LOG_DEBUG, "tokenizer: PCRE2 JIT unavailable, interpreting the split pattern");
    return PENNY_OK;
}

penny_status tok_bpe_new(tokenizer *t, const gguf_file *g, penny_error *err) {
    t->bpe = calloc(1, sizeof *t->bpe);
    if (!t->bpe) return err_set(err, PENNY_ERR_NOMEM, "tokenizer: out of memory");
    build_byte_map(t->bpe);
    penny_status rc = read_merges(t->bpe, g, err);
    if (!rc) rc = compile_split(t->bpe, g, err);
    return rc;
}

void tok_bpe_free(tok_bpe *b) {
    if (!b) return;
    pcre2_code_free(b->re);
    tok_map_free(&b->rank);
    free(b->split);
    free(b);
}

/* ---- encoding ---- */

static bool bpe_pair(const tokenizer *t, const char *a, int la, int lb, double *key) {
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

static penny_status encode_word(const tokenizer *t, tok_work *w, const char *s, size_t n,
                                tok_sink *out, penny_error *err) {
    const tok_bpe *b = t->bpe;
    penny_status rc = tok_work_buf(w, 2 * n, err);
    if (rc) return rc;
    int m = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        memcpy(w->buf + m, b->enc[c], b->enc_len[c]);
        m += b->enc_len[c];
    }
    int32_t whole = b->ignore_merges ? tok_find(t, w->buf, (size_t)m) : -1;
    if (whole >= 0) {
        tok_emit(out, whole);
        return PENNY_OK;
    }
    if ((rc = tok_merge(t, w, w->buf, m, bpe_pair, err))) return rc;
    for (int i = 0; i != -1 && !rc; i = w->sym[i].next) {
        const tok_sym *y = &w->sym[i];
        int32_t id = tok_find(t, w->buf + y->start, (size_t)y->len);
        if (id >= 0)
            tok_emit(out, id);
        else
            rc = fallback(t, w->buf + y->start, y->len, out, err);
    }
    return rc;
}

/* Words are the pattern's matches; bytes no match covers (invalid UTF-8)
 * form words of their own. */
static penny_status split_words(const tokenizer *t, tok_work *w, pcre2_match_data *md,
                                const char *text, size_t len, tok_sink *out, penny_error *err) {
    penny_status rc = PENNY_OK;
    size_t pos = 0;
    while (pos < len && !rc) {
        int r = pcre2_match(t->bpe->re, (PCRE2_SPTR)text, len, pos, 0, md, NULL);
        if (r < 0 && r != PCRE2_ERROR_NOMATCH)
            return err_set(err, PENNY_ERR_UNSUPPORTED, "tokenize: PCRE2 match error %d", r);
        const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t s = r < 0 ? len : ov[0], e = r < 0 ? len : ov[1];
        if (e <= s && s < len) e = s + 1; /* an empty match: never with these patterns */
        if (s > pos) rc = encode_word(t, w, text + pos, s - pos, out, err);
        if (!rc && e > s) rc = encode_word(t, w, text + s, e - s, out, err);
        pos = e;
    }
    return rc;
}

penny_status tok_bpe_encode(const tokenizer *t, tok_work *w, const char *text, size_t len,
                            tok_sink *out, penny_error *err) {
    if (len > INT_MAX / 2) return err_set(err, PENNY_ERR_ARG, "tokenize: text too long");
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(t->bpe->re, NULL);
    if (!md) return err_set(err, PENNY_ERR_NOMEM, "tokenize: out of memory (match data)");
    penny_status rc = split_words(t, w, md, text, len, out, err);
    pcre2_match_data_free(md);
    return rc;
}

/* ---- decoding ---- */

size_t tok_bpe_decode(const tokenizer *t, const char *s, size_t n, char *dst) {
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        const unsigned char *p = (const unsigned char *)s + i;
        int k = tok_utf8_next(p, n - i);
        if (k <= 0) k = 1; /* token texts are validated; never happens */
        unsigned cp = k == 1 ? p[0] : k == 2 ? ((p[0] & 0x1Fu) << 6) | (p[1] & 0x3Fu) : N_MAPPED;
        if (cp < N_MAPPED && t->bpe->dec[cp] >= 0) {
            dst[o++] = (char)t->bpe->dec[cp];
        } else {
            memcpy(dst + o, p, (size_t)k);
            o += (size_t)k;
        }
        i += (size_t)k;
    }
    return o;
}
