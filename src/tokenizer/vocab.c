/*
 * vocab.c - builds a tokenizer from the tokenizer.ggml.* keys of a GGUF file.
 *
 * Everything the encoder and decoder will trust is checked here once: the
 * model name, array types and lengths, UTF-8 validity of every token text,
 * token types, special ids in range. Each error names the key at fault.
 * Byte-level vocabularies also bring their merges and the name of their
 * pre-tokenizer (tokenizer.ggml.pre). tables.c then derives the lookup
 * structures shared with the tokenizer.json loader.
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

/* "<0xXX>" with two hexadecimal digits. */
static bool spells_byte(const gguf_str *w) {
    if (w->len != 6 || memcmp(w->ptr, "<0x", 3) != 0 || w->ptr[5] != '>') return false;
    for (int k = 3; k < 5; k++)
        if (!strchr("0123456789ABCDEFabcdef", w->ptr[k]) || !w->ptr[k]) return false;
    return true;
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
        if (v == TOK_T_BYTE && t->kind == TOK_SPM && !spells_byte(&t->text[i]))
            return key_fail(g, key, err, PENNY_ERR_FORMAT,
                            "token %d (\"%.*s\") has type 6 (byte) but is not <0xXX>", i,
                            (int)(t->text[i].len > 32 ? 32 : t->text[i].len), t->text[i].ptr);
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

/* ---- byte-level BPE ---- */

/* Merges and the pre-tokenizer named by tokenizer.ggml.pre. */
static penny_status read_bpe(tokenizer *t, const gguf_file *g, penny_error *err) {
    const char *key = "tokenizer.ggml.merges";
    const gguf_arr *a;
    penny_status rc = gguf_get_arr(g, key, &a, err);
    if (rc == PENNY_ERR_RANGE)
        return key_fail(g, key, err, PENNY_ERR_FORMAT, "missing (a gpt2 vocabulary needs it)");
    if (rc) return rc;
    if (a->type != GGUF_STR || a->n > UINT32_MAX / 2)
        return key_fail(g, key, err, PENNY_ERR_FORMAT, "expected strings, found %" PRIu64 " of %s",
                        a->n, gguf_vtype_name(a->type));
    if ((rc = tok_bpe_new(t, a->strs, (uint32_t)a->n, NULL, true, gguf_path(g), err))) return rc;
    gguf_str pre = {"gpt2", 4};
    rc = gguf_get_str(g, "tokenizer.ggml.pre", &pre, err);
    if (rc && rc != PENNY_ERR_RANGE) return rc;
    bool known;
    if ((rc = tok_pre_preset(t, pre.ptr, pre.len, &known, err))) return rc;
    if (known) return PENNY_OK;
    log_msg(LOG_WARN, "%s: pre-tokenizer \"%.*s\" not implemented; using GPT-2's", gguf_path(g),
            (int)(pre.len > 64 ? 64 : pre.len), pre.ptr);
    return tok_pre_preset(t, "gpt2", 4, &known, err);
}

static penny_status read_template(tokenizer *t, const gguf_file *g, penny_error *err) {
    gguf_str s;
    penny_status rc = gguf_get_str(g, "tokenizer.chat_template", &s, err);
    if (rc == PENNY_ERR_RANGE) return PENNY_OK;
    if (rc) return rc;
    t->chat_tmpl = malloc(s.len + 1);
    if (!t->chat_tmpl) return err_set(err, PENNY_ERR_NOMEM, "tokenizer: out of memory");
    memcpy(t->chat_tmpl, s.ptr, s.len);
    t->chat_tmpl[s.len] = '\0';
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
        (rc = read_ids(t, g, err)) || (rc = read_flags(t, g, err)) ||
        (t->kind == TOK_BPE && (rc = read_bpe(t, g, err))) || (rc = read_template(t, g, err)) ||
        (rc = tok_build_tables(t, err))) {
        tok_free(t);
        return rc;
    }
    log_msg(LOG_INFO, "%s: %s vocabulary, %d tokens, %d special", gguf_path(g),
            t->kind == TOK_SPM ? "SentencePiece" : "byte-level BPE", t->n_vocab, t->n_special);
    *out = t;
    return PENNY_OK;
}
