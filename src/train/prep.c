/*
 * prep.c - turns text files and chat JSONL files into token shards with
 * penny's own tokenizer, so training sees exactly the ids inference will.
 *
 * Chat lines are parsed by a small JSON reader that understands the whole
 * JSON grammar (so unknown fields are skipped safely) but keeps only
 * messages[].role and messages[].content. A conversation becomes
 *   BOS <|role|>content<|end|> <|role|>content<|end|> ...
 * with the loss mask on assistant contents and the <|end|> closing them,
 * the same layout as the chat template embedded in exported models.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "format/gguf.h"
#include "tokenizer/tokenizer.h"
#include "train/bpe_train.h"
#include "train/data.h"

typedef struct tokbuf {
    int32_t *tok;
    uint8_t *mask;
    long long n, cap;
} tokbuf;

static bool tb_push(tokbuf *b, int32_t t, uint8_t m) {
    if (b->n == b->cap) {
        long long cap = b->cap ? b->cap * 2 : 1 << 16;
        int32_t *nt = realloc(b->tok, (size_t)cap * sizeof *nt);
        if (nt) b->tok = nt;
        uint8_t *nm = realloc(b->mask, (size_t)cap);
        if (nm) b->mask = nm;
        if (!nt || !nm) return false;
        b->cap = cap;
    }
    b->tok[b->n] = t;
    b->mask[b->n++] = m;
    return true;
}

/* Appends the tokens of text (plain, specials not parsed). */
static penny_status encode_into(const tokenizer *tk, const char *text, size_t len, uint8_t m,
                                tokbuf *b, penny_error *err) {
    int cap = (int)(len < 1024 ? 1024 : len + 16), n = 0;
    if (len > (size_t)1 << 30) return err_set(err, PENNY_ERR_ARG, "text too long (%zu bytes)", len);
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)cap);
    if (!ids) return err_set(err, PENNY_ERR_NOMEM, "out of memory");
    penny_status rc = tok_encode(tk, text, len, false, false, ids, cap, &n, err);
    for (int i = 0; i < n && !rc; i++)
        if (!tb_push(b, ids[i], m)) rc = err_set(err, PENNY_ERR_NOMEM, "out of memory");
    free(ids);
    return rc;
}

/* Id of a special token's text; -1 when the vocabulary lacks it. */
static int32_t special_id(const tokenizer *tk, const char *s) {
    int32_t ids[4];
    int n = 0;
    if (tok_encode(tk, s, strlen(s), false, true, ids, 4, &n, NULL) || n != 1) return -1;
    return ids[0];
}

/* ---- a minimal JSON reader ---- */

typedef struct jr {
    const char *p, *end;
    char *str; /* last string read, decoded, NUL-terminated */
    size_t len, cap;
    bool oom;
} jr;

static void ws(jr *j) {
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static bool put(jr *j, unsigned c) {
    if (j->len + 1 >= j->cap) {
        size_t cap = j->cap ? j->cap * 2 : 256;
        char *s = realloc(j->str, cap);
        if (!s) return !(j->oom = true);
        j->str = s, j->cap = cap;
    }
    j->str[j->len++] = (char)c;
    j->str[j->len] = 0;
    return true;
}

static bool put_utf8(jr *j, unsigned cp) {
    if (cp < 0x80) return put(j, cp);
    if (cp < 0x800) return put(j, 0xC0 | cp >> 6) && put(j, 0x80 | (cp & 0x3F));
    if (cp < 0x10000)
        return put(j, 0xE0 | cp >> 12) && put(j, 0x80 | (cp >> 6 & 0x3F)) &&
               put(j, 0x80 | (cp & 0x3F));
    return put(j, 0xF0 | cp >> 18) && put(j, 0x80 | (cp >> 12 & 0x3F)) &&
           put(j, 0x80 | (cp >> 6 & 0x3F)) && put(j, 0x80 | (cp & 0x3F));
}

static bool hex4(jr *j, unsigned *v) {
    *v = 0;
    for (int i = 0; i < 4; i++, j->p++) {
        if (j->p >= j->end) return false;
        char c = *j->p;
        unsigned d = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
                     : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                     : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
                                            : 16;
        if (d > 15) return false;
        *v = *v << 4 | d;
    }
    return true;
}

static bool escape(jr *j) {
    char c = *j->p++;
    const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
    const char *k = c ? strchr(from, c) : NULL;
    if (k) return put(j, (unsigned char)to[k - from]);
    unsigned cp, lo;
    if (c != 'u' || !hex4(j, &cp)) return false;
    if (cp >= 0xD800 && cp < 0xDC00 && j->end - j->p >= 6 && j->p[0] == '\\' && j->p[1] == 'u') {
        j->p += 2;
        if (!hex4(j, &lo) || lo < 0xDC00 || lo > 0xDFFF) return false;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    } else if (cp >= 0xD800 && cp < 0xE000) {
        cp = 0xFFFD; /* lone surrogate */
    }
    return put_utf8(j, cp);
}

static bool string(jr *j) {
    ws(j);
    if (j->p >= j->end || *j->p != '"') return false;
    j->p++;
    j->len = 0;
    if (!put(j, 0)) return false;
    j->len = 0;
    while (j->p < j->end && *j->p != '"') {
        if ((unsigned char)*j->p < 0x20) return false;
        if (*j->p == '\\') {
            j->p++;
            if (j->p >= j->end || !escape(j)) return false;
        } else if (!put(j, (unsigned char)*j->p++)) {
            return false;
        }
    }
    if (j->p >= j->end) return false;
    j->p++;
    return true;
}

static bool lit(jr *j, const char *w) {
    size_t n = strlen(w);
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, w, n)) return false;
    j->p += n;
    return true;
}

static bool value(jr *j, int depth);

/* Walks "{ key: value, ... }" calling on_key after each key (NULL: skip). */
typedef bool (*key_fn)(jr *j, void *ctx, int depth);
static bool object(jr *j, int depth, key_fn on_key, void *ctx) {
    ws(j);
    if (depth > 64 || j->p >= j->end || *j->p != '{') return false;
    j->p++;
    ws(j);
    if (j->p < j->end && *j->p == '}') return j->p++, true;
    for (;;) {
        if (!string(j)) return false;
        ws(j);
        if (j->p >= j->end || *j->p++ != ':') return false;
        if (!(on_key ? on_key(j, ctx, depth + 1) : value(j, depth + 1))) return false;
        ws(j);
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            continue;
        }
        return j->p < j->end && *j->p++ == '}';
    }
}

static bool array(jr *j, int depth, key_fn on_item, void *ctx) {
    ws(j);
    if (depth > 64 || j->p >= j->end || *j->p != '[') return false;
    j->p++;
    ws(j);
    if (j->p < j->end && *j->p == ']') return j->p++, true;
    for (;;) {
        if (!(on_item ? on_item(j, ctx, depth + 1) : value(j, depth + 1))) return false;
        ws(j);
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            continue;
        }
        return j->p < j->end && *j->p++ == ']';
    }
}

static bool value(jr *j, int depth) {
    ws(j);
    if (j->p >= j->end) return false;
    char c = *j->p;
    if (c == '{') return object(j, depth, NULL, NULL);
    if (c == '[') return array(j, depth, NULL, NULL);
    if (c == '"') return string(j);
    if (c == 't') return lit(j, "true");
    if (c == 'f') return lit(j, "false");
    if (c == 'n') return lit(j, "null");
    const char *s = j->p;
    while (j->p < j->end && strchr("+-0123456789.eE", *j->p)) j->p++;
    return j->p > s;
}

/* ---- chat lines ---- */

typedef struct msg {
    char *role, *content;
} msg;

typedef struct conv {
    msg *m;
    int n, cap;
    bool oom;
} conv;

static bool msg_key(jr *j, void *ctx, int depth) {
    msg *m = ctx;
    bool is_role = !strcmp(j->str, "role"), is_content = !strcmp(j->str, "content");
    if (!is_role && !is_content) return value(j, depth);
    if (!string(j)) return false;
    char **dst = is_role ? &m->role : &m->content;
    free(*dst);
    return (*dst = strdup(j->str)) != NULL || !(j->oom = true);
}

static bool msg_item(jr *j, void *ctx, int depth) {
    conv *c = ctx;
    if (c->n == c->cap) {
        int cap = c->cap ? c->cap * 2 : 8;
        msg *m = realloc(c->m, sizeof *m * (size_t)cap);
        if (!m) return !(j->oom = true);
        c->m = m, c->cap = cap;
    }
    msg *m = &c->m[c->n++];
    m->role = m->content = NULL;
    return object(j, depth, msg_key, m);
}

static bool line_key(jr *j, void *ctx, int depth) {
    if (strcmp(j->str, "messages") != 0) return value(j, depth);
    return array(j, depth, msg_item, ctx);
}

static void conv_clear(conv *c) {
    for (int i = 0; i < c->n; i++) free(c->m[i].role), free(c->m[i].content);
    c->n = 0;
}

typedef struct chat_ids {
    int32_t bos, end, role[3]; /* system, user, assistant */
} chat_ids;

static penny_status emit_conv(const tokenizer *tk, const chat_ids *ids, const conv *c,
                              const char *where, tokbuf *b, tr_data_stats *st, penny_error *err) {
    static const char *const roles[3] = {"system", "user", "assistant"};
    if (!tb_push(b, ids->bos, 0)) return err_set(err, PENNY_ERR_NOMEM, "out of memory");
    for (int i = 0; i < c->n; i++) {
        const msg *m = &c->m[i];
        int r = -1;
        for (int k = 0; k < 3 && m->role; k++)
            if (!strcmp(m->role, roles[k])) r = k;
        if (r < 0 || !m->content)
            return err_set(err, PENNY_ERR_FORMAT,
                           "%s: message %d needs a role (system, user, assistant) and a content",
                           where, i);
        uint8_t on = r == 2;
        long long before = b->n;
        penny_status rc;
        if (!tb_push(b, ids->role[r], 0)) return err_set(err, PENNY_ERR_NOMEM, "out of memory");
        if ((rc = encode_into(tk, m->content, strlen(m->content), on, b, err))) return rc;
        if (!tb_push(b, ids->end, on)) return err_set(err, PENNY_ERR_NOMEM, "out of memory");
        if (on) st->masked += b->n - before - 1;
    }
    return PENNY_OK;
}

static penny_status prep_chat(const tokenizer *tk, const chat_ids *ids, const char *path,
                              const char *text, size_t len, tokbuf *b, tr_data_stats *st,
                              penny_error *err) {
    conv c = {0};
    penny_status rc = PENNY_OK;
    long line = 0;
    jr j = {0};
    for (const char *p = text, *end = text + len; p < end && !rc; line++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        j.p = p, j.end = le;
        ws(&j);
        if (j.p < le) {
            char where[4200];
            snprintf(where, sizeof where, "%s: line %ld", path, line + 1);
            bool ok = object(&j, 0, line_key, &c);
            ws(&j);
            if (j.oom)
                rc = err_set(err, PENNY_ERR_NOMEM, "out of memory");
            else if (!ok || j.p != le)
                rc = err_set(err, PENNY_ERR_FORMAT, "%s: invalid JSON near byte %ld", where,
                             (long)(j.p - p));
            else if (c.n == 0)
                rc = err_set(err, PENNY_ERR_FORMAT, "%s: no \"messages\"", where);
            else if (!(rc = emit_conv(tk, ids, &c, where, b, st, err)))
                st->docs++;
            conv_clear(&c);
        }
        p = le + 1;
    }
    free(c.m);
    free(j.str);
    return rc;
}

/* ---- driver ---- */

static penny_status slurp(const char *path, char **buf, size_t *len, penny_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return err_set(err, PENNY_ERR_IO, "%s: cannot open", path);
    size_t cap = 1 << 16, n = 0, got;
    char *b = malloc(cap);
    while (b && (got = fread(b + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *nb = realloc(b, cap *= 2);
            if (!nb) free(b);
            b = nb;
        }
    }
    bool bad = ferror(f);
    fclose(f);
    if (!b) return err_set(err, PENNY_ERR_NOMEM, "%s: out of memory", path);
    if (bad) {
        free(b);
        return err_set(err, PENNY_ERR_IO, "%s: read error", path);
    }
    *buf = b, *len = n;
    return PENNY_OK;
}

static penny_status find_ids(const tokenizer *tk, const char *path, chat_ids *ids,
                             penny_error *err) {
    const char *names[5] = {TR_TOK_BOS, TR_TOK_END, TR_TOK_SYSTEM, TR_TOK_USER, TR_TOK_ASSISTANT};
    int32_t *dst[5] = {&ids->bos, &ids->end, &ids->role[0], &ids->role[1], &ids->role[2]};
    for (int i = 0; i < 5; i++)
        if ((*dst[i] = special_id(tk, names[i])) < 0)
            return err_set(err, PENNY_ERR_FORMAT, "%s: the vocabulary has no %s token", path,
                           names[i]);
    return PENNY_OK;
}

penny_status tr_data_prepare(const char *tokenizer_path, const char *const *files, int n_files,
                             bool sft, const char *out_path, tr_data_stats *stats,
                             penny_error *err) {
    gguf_file *g = NULL;
    tokenizer *tk = NULL;
    tokbuf b = {0};
    tr_data_stats st = {0};
    chat_ids ids;
    penny_status rc = gguf_open(tokenizer_path, false, &g, err);
    if (!rc) rc = tok_new(g, &tk, err);
    if (!rc) rc = find_ids(tk, tokenizer_path, &ids, err);
    for (int f = 0; f < n_files && !rc; f++) {
        char *text = NULL;
        size_t len = 0;
        if ((rc = slurp(files[f], &text, &len, err))) break;
        if (sft) {
            rc = prep_chat(tk, &ids, files[f], text, len, &b, &st, err);
        } else {
            if (!tb_push(&b, ids.bos, 1)) rc = err_set(err, PENNY_ERR_NOMEM, "out of memory");
            if (!rc) rc = encode_into(tk, text, len, 1, &b, err);
            if (rc) err_prefix(err, "%s", files[f]);
            st.docs++;
        }
        free(text);
    }
    st.tokens = b.n;
    if (!rc && b.n < 2) rc = err_set(err, PENNY_ERR_ARG, "no tokens in the input files");
    if (!rc) rc = tr_data_write(out_path, b.tok, sft ? b.mask : NULL, b.n, tok_n_vocab(tk), err);
    if (stats) *stats = st;
    free(b.tok);
    free(b.mask);
    tok_free(tk);
    gguf_close(g);
    return rc;
}
