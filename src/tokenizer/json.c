/*
 * json.c - a tokenizer from a Hugging Face tokenizer.json (+ tokenizer_config.json).
 *
 * Models are often published with these files rather than (or before) a
 * GGUF conversion, and they are the reference the GGUF path is checked
 * against. The file is parsed with cJSON into the same struct tokenizer
 * that vocab.c fills from GGUF, owning copies of the texts. What the
 * supported families use is understood; anything else fails with an error
 * naming the field, rather than tokenizing differently:
 *   model          BPE: vocab, merges ("a b" strings or [a, b] pairs),
 *                  ignore_merges, unk_token, byte_fallback
 *   added_tokens   special -> control tokens (parsed only on request),
 *                  others -> user-defined tokens (always parsed); lstrip/rstrip
 *   normalizer     null, NFC, Prepend("▁") + Replace(" " -> "▁"), Sequence
 *   pre_tokenizer  null, ByteLevel, Split (Isolated, or Removed + invert),
 *                  Digits, Sequence
 * A ByteLevel pre-tokenizer (or decoder) makes the vocabulary byte-level;
 * Prepend + Replace make it SentencePiece-style (characters, byte fallback,
 * leading "▁" on every text fragment).
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "tokenizer/tok_int.h"

#define TOK_MAX_VOCAB (1 << 24)
#define SPM_SPACE "\xE2\x96\x81"
#define CONTRACTIONS_CI "(?i:'s|'t|'re|'ve|'m|'ll|'d)"
#define CONTRACTIONS_CLS "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"

typedef struct jload {
    const char *path; /* for messages */
    tokenizer *t;
    bool byte_level, prepend, replace;
    penny_error *err;
} jload;

static penny_status bad(const jload *j, const char *field, const char *what) {
    return err_set(j->err, PENNY_ERR_FORMAT, "%s: field '%s': %s", j->path, field, what);
}

static penny_status unsupported(const jload *j, const char *field, const char *what) {
    return err_set(j->err, PENNY_ERR_UNSUPPORTED, "%s: field '%s': %s is not supported", j->path,
                   field, what);
}

/* Reads a whole file into a malloc'd buffer. */
static penny_status read_file(const char *path, char **out, size_t *len, penny_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return err_set(err, PENNY_ERR_IO, "%s: cannot open", path);
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    for (size_t k; buf && (k = fread(buf + n, 1, cap - n, f)) > 0;) {
        n += k;
        char *b = n == cap ? realloc(buf, cap *= 2) : buf;
        if (!b) free(buf);
        buf = b;
    }
    bool ioerr = ferror(f);
    fclose(f);
    if (!buf) return err_set(err, PENNY_ERR_NOMEM, "%s: out of memory", path);
    if (ioerr) {
        free(buf);
        return err_set(err, PENNY_ERR_IO, "%s: read error", path);
    }
    *out = buf;
    *len = n;
    return PENNY_OK;
}

static penny_status parse_text(const char *name, const char *text, size_t n, cJSON **out,
                               penny_error *err) {
    const char *end = NULL;
    *out = cJSON_ParseWithLengthOpts(text, n, &end, false);
    if (!*out)
        return err_set(err, PENNY_ERR_FORMAT, "%s: invalid JSON near byte %zu", name,
                       end ? (size_t)(end - text) : (size_t)0);
    return PENNY_OK;
}

static const char *str_of(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool bool_of(const cJSON *o, const char *key, bool def) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : def;
}

static bool type_is(const cJSON *o, const char *type) {
    const char *s = str_of(o, "type");
    return s && !strcmp(s, type);
}

/* ---- vocabulary ---- */

/* A token id field: an integer in [0, TOK_MAX_VOCAB). */
static int id_of(const cJSON *v) {
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble >= TOK_MAX_VOCAB ||
        v->valuedouble != (double)(int)v->valuedouble)
        return -1;
    return (int)v->valuedouble;
}

/* Puts text s at id, typed ty; the texts live in one arena of *arena_len. */
static penny_status place(jload *j, int id, const char *s, uint8_t ty, size_t *arena_len) {
    tokenizer *t = j->t;
    size_t n = strlen(s);
    if (tok_utf8_check(s, n) != n) return bad(j, "model.vocab", "a token is not valid UTF-8");
    memcpy(t->own_arena + *arena_len, s, n);
    t->own_text[id] = (gguf_str){t->own_arena + *arena_len, n};
    *arena_len += n;
    t->type[id] = ty;
    return PENNY_OK;
}

static bool spells_byte(const char *s) {
    return strlen(s) == 6 && !memcmp(s, "<0x", 3) && s[5] == '>' &&
           strchr("0123456789ABCDEF", s[3]) && strchr("0123456789ABCDEF", s[4]);
}

/* An added token's lstrip/rstrip: it takes in the whitespace on that side. */
static penny_status read_strip(jload *j, const cJSON *e, int id) {
    uint8_t f = (uint8_t)((bool_of(e, "lstrip", false) ? TOK_STRIP_LEFT : 0) |
                          (bool_of(e, "rstrip", false) ? TOK_STRIP_RIGHT : 0));
    if (bool_of(e, "single_word", false))
        return unsupported(j, "added_tokens.single_word", "an added token with single_word");
    if (!f) return PENNY_OK;
    tokenizer *t = j->t;
    if (!t->strip && !(t->strip = calloc((size_t)t->n_vocab, 1)))
        return err_set(j->err, PENNY_ERR_NOMEM, "%s: out of memory", j->path);
    t->strip[id] = f;
    return PENNY_OK;
}

static penny_status read_vocab(jload *j, const cJSON *model, const cJSON *added) {
    tokenizer *t = j->t;
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab"), *e;
    if (!cJSON_IsObject(vocab)) return bad(j, "model.vocab", "missing or not an object");
    size_t total = 1;
    int n = 0;
    cJSON_ArrayForEach(e, vocab) {
        int id = id_of(e);
        if (id < 0) return bad(j, "model.vocab", "a token id is not in 0..2^24");
        if (id >= n) n = id + 1;
        total += strlen(e->string);
    }
    cJSON_ArrayForEach(e, added) {
        int id = id_of(cJSON_GetObjectItemCaseSensitive(e, "id"));
        if (id < 0 || !str_of(e, "content")) return bad(j, "added_tokens", "needs id and content");
        if (id >= n) n = id + 1;
        total += strlen(str_of(e, "content"));
    }
    if (n == 0) return bad(j, "model.vocab", "empty");
    t->n_vocab = n;
    t->own_arena = malloc(total);
    t->own_text = calloc((size_t)n, sizeof *t->own_text);
    t->type = malloc((size_t)n);
    if (!t->own_arena || !t->own_text || !t->type)
        return err_set(j->err, PENNY_ERR_NOMEM, "%s: out of memory", j->path);
    memset(t->type, TOK_T_UNUSED, (size_t)n); /* ids nobody names stay unused */
    for (int i = 0; i < n; i++) t->own_text[i] = (gguf_str){"", 0};
    t->text = t->own_text;
    size_t at = 0;
    bool fb = bool_of(model, "byte_fallback", false);
    penny_status rc = PENNY_OK;
    cJSON_ArrayForEach(e, vocab) {
        uint8_t ty = fb && spells_byte(e->string) ? TOK_T_BYTE : TOK_T_NORMAL;
        if ((rc = place(j, id_of(e), e->string, ty, &at))) return rc;
    }
    cJSON_ArrayForEach(e, added) {
        uint8_t ty = bool_of(e, "special", false) ? TOK_T_CONTROL : TOK_T_USER;
        int id = id_of(cJSON_GetObjectItemCaseSensitive(e, "id"));
        if ((rc = place(j, id, str_of(e, "content"), ty, &at)) || (rc = read_strip(j, e, id)))
            return rc;
    }
    return PENNY_OK;
}

/* Id of the token spelled s (added tokens first), or -1. */
static int32_t id_by_text(const tokenizer *t, const char *s) {
    size_t n = strlen(s);
    for (int i = t->n_vocab - 1; i >= 0; i--)
        if (t->text[i].len == n && !memcmp(t->text[i].ptr, s, n)) return i;
    return -1;
}

/* ---- merges ---- */

/* Copies each merge into one arena as "left right", recording the split. */
static penny_status read_merges(jload *j, const cJSON *model) {
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(model, "merges"), *e;
    if (!cJSON_IsArray(m)) return bad(j, "model.merges", "missing or not an array");
    int n = cJSON_GetArraySize(m);
    size_t total = 1;
    cJSON_ArrayForEach(e, m) {
        if (cJSON_IsString(e)) {
            total += strlen(e->valuestring);
        } else if (cJSON_GetArraySize(e) == 2 && cJSON_IsString(cJSON_GetArrayItem(e, 0)) &&
                   cJSON_IsString(cJSON_GetArrayItem(e, 1))) {
            total += strlen(cJSON_GetArrayItem(e, 0)->valuestring) + 1 +
                     strlen(cJSON_GetArrayItem(e, 1)->valuestring);
        } else {
            return bad(j, "model.merges", "an entry is neither \"a b\" nor [\"a\", \"b\"]");
        }
    }
    gguf_str *strs = malloc(((size_t)n + 1) * sizeof *strs);
    uint32_t *split = malloc(((size_t)n + 1) * sizeof *split);
    char *arena = malloc(total);
    if (!strs || !split || !arena) {
        free(strs);
        free(split);
        free(arena);
        return err_set(j->err, PENNY_ERR_NOMEM, "%s: out of memory (merges)", j->path);
    }
    size_t at = 0;
    int i = 0;
    cJSON_ArrayForEach(e, m) {
        char *p = arena + at;
        if (cJSON_IsString(e)) {
            size_t k = strlen(e->valuestring);
            const char *sp = k > 1 ? memchr(e->valuestring + 1, ' ', k - 1) : NULL;
            memcpy(p, e->valuestring, k);
            split[i] = sp ? (uint32_t)(sp - e->valuestring) : (uint32_t)k; /* k: rejected */
            strs[i] = (gguf_str){p, k};
        } else {
            const char *a = cJSON_GetArrayItem(e, 0)->valuestring;
            const char *b = cJSON_GetArrayItem(e, 1)->valuestring;
            size_t la = strlen(a), lb = strlen(b);
            memcpy(p, a, la);
            p[la] = ' ';
            memcpy(p + la + 1, b, lb);
            split[i] = (uint32_t)la;
            strs[i] = (gguf_str){p, la + 1 + lb};
        }
        at += strs[i++].len;
    }
    penny_status rc = tok_bpe_new(j->t, strs, (uint32_t)n, split, j->byte_level, j->path, j->err);
    if (j->t->bpe) {
        tok_bpe_own(j->t->bpe, strs, split, arena);
    } else {
        free(strs);
        free(split);
        free(arena);
    }
    return rc;
}

/* ---- normalizer and pre-tokenizer ---- */

static penny_status read_normalizer(jload *j, const cJSON *n) {
    if (!n || cJSON_IsNull(n)) return PENNY_OK;
    if (type_is(n, "Sequence")) {
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(n, "normalizers")) {
            penny_status rc = read_normalizer(j, e);
            if (rc) return rc;
        }
        return PENNY_OK;
    }
    if (type_is(n, "NFC")) {
        j->t->nfc = true;
        return PENNY_OK;
    }
    if (type_is(n, "Prepend") && str_of(n, "prepend") && !strcmp(str_of(n, "prepend"), SPM_SPACE)) {
        j->prepend = true;
        return PENNY_OK;
    }
    const cJSON *pat = cJSON_GetObjectItemCaseSensitive(n, "pattern");
    if (type_is(n, "Replace") && str_of(pat, "String") && !strcmp(str_of(pat, "String"), " ") &&
        str_of(n, "content") && !strcmp(str_of(n, "content"), SPM_SPACE)) {
        j->replace = true;
        return PENNY_OK;
    }
    const char *ty = str_of(n, "type");
    char what[96];
    snprintf(what, sizeof what, "normalizer \"%.64s\"", ty ? ty : "?");
    return unsupported(j, "normalizer", what);
}

/* PCRE2 text of a Split pattern: a regex as is (contractions spelled with
 * classes, see pre.c), or a literal string quoted. */
static penny_status split_pattern(jload *j, const cJSON *pat, char **out) {
    const char *re = str_of(pat, "Regex"), *lit = str_of(pat, "String");
    if (!re && !lit) return bad(j, "pre_tokenizer.pattern", "needs Regex or String");
    size_t n = strlen(re ? re : lit);
    char *p = *out = malloc(2 * n + sizeof CONTRACTIONS_CLS);
    if (!p) return err_set(j->err, PENNY_ERR_NOMEM, "%s: out of memory", j->path);
    if (lit) {
        for (const char *s = lit; *s; s++) {
            if ((unsigned char)*s < 0x80 && !(*s >= '0' && *s <= '9') &&
                !(*s >= 'a' && *s <= 'z') && !(*s >= 'A' && *s <= 'Z'))
                *p++ = '\\';
            *p++ = *s;
        }
        *p = '\0';
        return PENNY_OK;
    }
    const char *hit = strstr(re, CONTRACTIONS_CI);
    if (!hit) {
        memcpy(p, re, n + 1);
        return PENNY_OK;
    }
    size_t k = (size_t)(hit - re);
    memcpy(p, re, k);
    strcpy(p + k, CONTRACTIONS_CLS);
    strcat(p, hit + strlen(CONTRACTIONS_CI));
    return PENNY_OK;
}

static penny_status add_split(jload *j, const cJSON *s) {
    const char *beh = str_of(s, "behavior");
    bool inv = bool_of(s, "invert", false);
    if (!beh || !((!strcmp(beh, "Isolated") && !inv) || (!strcmp(beh, "Removed") && inv)))
        return unsupported(j, "pre_tokenizer.behavior",
                           "a Split other than Isolated or Removed+invert");
    char *pat;
    penny_status rc = split_pattern(j, cJSON_GetObjectItemCaseSensitive(s, "pattern"), &pat);
    if (rc) return rc;
    rc = tok_bpe_add_split(j->t->bpe, pat, strlen(pat), j->err);
    free(pat);
    if (rc) err_prefix(j->err, "%s: field 'pre_tokenizer'", j->path);
    return rc;
}

static penny_status read_pre(jload *j, const cJSON *p) {
    tokenizer *t = j->t;
    penny_status rc = PENNY_OK;
    if (!p || cJSON_IsNull(p)) return PENNY_OK;
    if (type_is(p, "Sequence")) {
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(
                                  p, "pretokenizers")) if ((rc = read_pre(j, e))) return rc;
        return PENNY_OK;
    }
    if (type_is(p, "ByteLevel")) {
        if (bool_of(p, "add_prefix_space", false))
            return unsupported(j, "pre_tokenizer.add_prefix_space", "true");
        bool known, nfc = t->nfc;
        if (bool_of(p, "use_regex", true)) rc = tok_pre_preset(t, "gpt2", 4, &known, j->err);
        t->nfc = nfc;
        return rc;
    }
    if (type_is(p, "Split")) return add_split(j, p);
    if (type_is(p, "Digits")) {
        const char *re = bool_of(p, "individual_digits", false) ? "\\p{N}" : "\\p{N}+";
        return tok_bpe_add_split(t->bpe, re, strlen(re), j->err);
    }
    const char *ty = str_of(p, "type");
    char what[96];
    snprintf(what, sizeof what, "pre-tokenizer \"%.64s\"", ty ? ty : "?");
    return unsupported(j, "pre_tokenizer", what);
}

/* Byte-level when a ByteLevel step appears in the pre-tokenizer or decoder. */
static bool has_byte_level(const cJSON *o, const char *list) {
    if (!o) return false;
    if (type_is(o, "ByteLevel")) return true;
    const cJSON *e;
    cJSON_ArrayForEach(
        e, cJSON_GetObjectItemCaseSensitive(o, list)) if (type_is(e, "ByteLevel")) return true;
    return false;
}

/* ---- model ---- */

static penny_status read_model(jload *j, const cJSON *root) {
    tokenizer *t = j->t;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (!cJSON_IsObject(model)) return bad(j, "model", "missing");
    const char *ty = str_of(model, "type");
    if (ty && strcmp(ty, "BPE")) {
        char what[96];
        snprintf(what, sizeof what, "model type \"%.64s\"", ty);
        return unsupported(j, "model.type", what);
    }
    const char *cont = str_of(model, "continuing_subword_prefix");
    const char *eow = str_of(model, "end_of_word_suffix");
    if ((cont && *cont) || (eow && *eow))
        return unsupported(j, "model", "a subword prefix or end-of-word suffix");
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    penny_status rc = read_vocab(j, model, added);
    if (rc) return rc;
    j->byte_level =
        has_byte_level(cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"), "pretokenizers") ||
        has_byte_level(cJSON_GetObjectItemCaseSensitive(root, "decoder"), "decoders");
    if ((rc = read_normalizer(j, cJSON_GetObjectItemCaseSensitive(root, "normalizer")))) return rc;
    if (j->byte_level == (j->prepend || j->replace) || j->prepend != j->replace)
        return unsupported(j, "normalizer",
                           "a vocabulary neither byte-level nor SentencePiece-style (Prepend + "
                           "Replace of \"\xE2\x96\x81\")");
    t->kind = j->byte_level ? TOK_BPE : TOK_SPM;
    t->add_space_prefix = j->prepend;
    if ((rc = read_merges(j, model))) return rc;
    tok_bpe_set_ignore_merges(t->bpe, bool_of(model, "ignore_merges", false));
    const char *unk = str_of(model, "unk_token");
    t->unk = unk ? id_by_text(t, unk) : -1;
    if (!j->byte_level && cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer") &&
        !cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer")))
        return unsupported(j, "pre_tokenizer", "a pre-tokenizer with SentencePiece-style BPE");
    return read_pre(j, cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"));
}

/* ---- tokenizer_config.json ---- */

/* "bos_token": "<s>" or {"content": "<s>", ...}. */
static const char *token_field(const cJSON *cfg, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    return cJSON_IsString(v) ? v->valuestring : str_of(v, "content");
}

static penny_status read_config(jload *j, const cJSON *root, const cJSON *cfg) {
    tokenizer *t = j->t;
    const char *bos = token_field(cfg, "bos_token"), *eos = token_field(cfg, "eos_token");
    t->bos = bos ? id_by_text(t, bos) : -1;
    t->eos = eos ? id_by_text(t, eos) : -1;
    if (token_field(cfg, "pad_token")) t->pad = id_by_text(t, token_field(cfg, "pad_token"));
    /* Without add_bos_token, a post-processor that starts with BOS adds it. */
    const cJSON *pp = cJSON_GetObjectItemCaseSensitive(root, "post_processor");
    const cJSON *first = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(pp, "single"), 0);
    const char *pp_tok = str_of(cJSON_GetObjectItemCaseSensitive(first, "SpecialToken"), "id");
    bool pp_bos = type_is(pp, "TemplateProcessing") && pp_tok && bos && !strcmp(pp_tok, bos);
    t->add_bos = bool_of(cfg, "add_bos_token", pp_bos) && t->bos >= 0;
    t->add_eos = bool_of(cfg, "add_eos_token", false);
    const cJSON *ct = cJSON_GetObjectItemCaseSensitive(cfg, "chat_template"), *e;
    const char *tmpl = cJSON_IsString(ct) ? ct->valuestring : NULL;
    const cJSON *list = cJSON_IsArray(ct) ? ct : NULL;
    cJSON_ArrayForEach(e, list) {
        const char *name = str_of(e, "name");
        if (name && !strcmp(name, "default")) tmpl = str_of(e, "template");
    }
    if (tmpl && !(t->chat_tmpl = strdup(tmpl)))
        return err_set(j->err, PENNY_ERR_NOMEM, "%s: out of memory", j->path);
    return PENNY_OK;
}

/* Builds the tokenizer from parsed files (cfg may be NULL). */
static penny_status build(const char *name, const char *cfg_name, const cJSON *root,
                          const cJSON *cfg, tokenizer **out, penny_error *err) {
    tokenizer *t = calloc(1, sizeof *t);
    if (!t) return err_set(err, PENNY_ERR_NOMEM, "tokenizer: out of memory");
    t->bos = t->eos = t->unk = t->eot = t->eom = t->pad = -1;
    jload j = {name, t, false, false, false, err};
    penny_status rc = read_model(&j, root);
    if (!rc && cfg) {
        j.path = cfg_name;
        rc = read_config(&j, root, cfg);
    }
    if (!rc) rc = tok_build_tables(t, err);
    if (rc) {
        tok_free(t);
        return rc;
    }
    log_msg(LOG_INFO, "%s: %s vocabulary, %d tokens, %d special", name,
            t->kind == TOK_SPM ? "SentencePiece-style BPE" : "byte-level BPE", t->n_vocab,
            t->n_special);
    *out = t;
    return PENNY_OK;
}

penny_status tok_new_json_text(const char *json, size_t len, const char *config, size_t config_len,
                               tokenizer **out, penny_error *err) {
    *out = NULL;
    cJSON *root = NULL, *cfg = NULL;
    penny_status rc = parse_text("tokenizer.json", json, len, &root, err);
    if (!rc && config) rc = parse_text("tokenizer_config.json", config, config_len, &cfg, err);
    if (!rc) rc = build("tokenizer.json", "tokenizer_config.json", root, cfg, out, err);
    cJSON_Delete(root);
    cJSON_Delete(cfg);
    return rc;
}

penny_status tok_new_json(const char *json_path, const char *config_path, tokenizer **out,
                          penny_error *err) {
    *out = NULL;
    cJSON *root = NULL, *cfg = NULL;
    char *text = NULL;
    size_t n = 0;
    penny_status rc = read_file(json_path, &text, &n, err);
    if (!rc) rc = parse_text(json_path, text, n, &root, err);
    free(text);
    text = NULL;
    if (!rc && config_path && !(rc = read_file(config_path, &text, &n, err)))
        rc = parse_text(config_path, text, n, &cfg, err);
    free(text);
    if (!rc) rc = build(json_path, config_path, root, cfg, out, err);
    cJSON_Delete(root);
    cJSON_Delete(cfg);
    return rc;
}
