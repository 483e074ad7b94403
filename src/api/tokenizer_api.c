/*
 * tokenizer_api.c - penny_tokenizer and penny_detok of include/penny.h: a
 * tokenizer on its own, so tools can tokenize, detokenize and read the chat
 * template of a model without mapping or binding its weights.
 *
 * A handle either owns its tokenizer (loaded from a GGUF file, whose
 * mapping it keeps because the vocabulary points into it, or from a
 * tokenizer.json) or borrows the one of a loaded model. The detokenizer
 * adds two presentation choices to the streaming decoder of
 * src/tokenizer/stream.c: control tokens shown as their text, and the
 * SentencePiece leading space dropped.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "format/gguf.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

struct penny_tokenizer {
    const tokenizer *t; /* the one in use: own, or a model's */
    tokenizer *own;     /* loaded by this handle */
    gguf_file *g;       /* the file own keeps views into (GGUF only) */
};

enum file_kind { KIND_GGUF, KIND_JSON };

/* GGUF files start with their magic, JSON with '{' after any spaces. */
static penny_status sniff(const char *path, enum file_kind *kind, penny_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return err_set(err, PENNY_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char head[256];
    size_t n = fread(head, 1, sizeof head, f);
    int bad = ferror(f) ? errno : 0;
    fclose(f);
    if (bad) return err_set(err, PENNY_ERR_IO, "%s: cannot read: %s", path, strerror(bad));
    if (n >= 4 && !memcmp(head, "GGUF", 4)) {
        *kind = KIND_GGUF;
        return PENNY_OK;
    }
    size_t i = 0;
    if (n >= 3 && !memcmp(head, "\xEF\xBB\xBF", 3)) i = 3; /* a UTF-8 byte order mark */
    while (i < n && strchr(" \t\r\n", head[i])) i++;
    if ((i < n && head[i] == '{') || (i == n && n == sizeof head)) {
        *kind = KIND_JSON;
        return PENNY_OK;
    }
    return err_set(err, PENNY_ERR_FORMAT,
                   "%s: neither a GGUF file (no GGUF magic) nor a tokenizer.json (no JSON object)",
                   path);
}

/* tokenizer_config.json in the directory of json, when it exists
 * (malloc'd), else NULL. */
static char *sibling_config(const char *json) {
    const char *slash = strrchr(json, '/');
    size_t dir = slash ? (size_t)(slash - json + 1) : 0;
    char *p = malloc(dir + sizeof "tokenizer_config.json");
    if (!p) return NULL;
    memcpy(p, json, dir);
    strcpy(p + dir, "tokenizer_config.json");
    FILE *f = fopen(p, "rb");
    if (!f) {
        free(p);
        return NULL;
    }
    fclose(f);
    return p;
}

static penny_status handle_new(penny_tokenizer **out, penny_error *err) {
    *out = calloc(1, sizeof **out);
    return *out ? PENNY_OK : err_set(err, PENNY_ERR_NOMEM, "tokenizer: out of memory");
}

penny_status penny_tokenizer_load_json(const char *json_path, const char *config_path,
                                       penny_tokenizer **out, penny_error *err) {
    if (!out) return err_set(err, PENNY_ERR_ARG, "tokenizer: no output handle");
    *out = NULL;
    if (!json_path) return err_set(err, PENNY_ERR_ARG, "tokenizer: no tokenizer.json path given");
    penny_tokenizer *h;
    penny_status rc = handle_new(&h, err);
    if (rc) return rc;
    char *found = config_path ? NULL : sibling_config(json_path);
    rc = tok_new_json(json_path, config_path ? config_path : found, &h->own, err);
    free(found);
    if (rc) {
        penny_tokenizer_free(h);
        return rc;
    }
    h->t = h->own;
    *out = h;
    return PENNY_OK;
}

static penny_status load_gguf(const char *path, penny_tokenizer **out, penny_error *err) {
    penny_tokenizer *h;
    penny_status rc = handle_new(&h, err);
    if (rc) return rc;
    /* No populate: only the pages holding the metadata are ever read. */
    if ((rc = gguf_open(path, false, &h->g, err)) || (rc = tok_new(h->g, &h->own, err))) {
        penny_tokenizer_free(h);
        return rc;
    }
    h->t = h->own;
    *out = h;
    return PENNY_OK;
}

penny_status penny_tokenizer_load(const char *path, penny_tokenizer **out, penny_error *err) {
    if (!out) return err_set(err, PENNY_ERR_ARG, "tokenizer: no output handle");
    *out = NULL;
    if (!path) return err_set(err, PENNY_ERR_ARG, "tokenizer: no path given");
    enum file_kind kind;
    penny_status rc = sniff(path, &kind, err);
    if (rc) return rc;
    if (kind == KIND_JSON) return penny_tokenizer_load_json(path, NULL, out, err);
    return load_gguf(path, out, err);
}

penny_status penny_model_tokenizer(const penny_model *m, penny_tokenizer **out, penny_error *err) {
    if (!out) return err_set(err, PENNY_ERR_ARG, "tokenizer: no output handle");
    *out = NULL;
    if (!m) return err_set(err, PENNY_ERR_ARG, "tokenizer: no model given");
    penny_tokenizer *h;
    penny_status rc = handle_new(&h, err);
    if (rc) return rc;
    h->t = m->tok;
    *out = h;
    return PENNY_OK;
}

void penny_tokenizer_free(penny_tokenizer *t) {
    if (!t) return;
    tok_free(t->own);
    gguf_close(t->g);
    free(t);
}

int penny_tokenizer_n_vocab(const penny_tokenizer *t) { return tok_n_vocab(t->t); }
penny_token penny_tokenizer_bos(const penny_tokenizer *t) { return tok_bos(t->t); }
penny_token penny_tokenizer_eos(const penny_tokenizer *t) { return tok_eos(t->t); }
penny_token penny_tokenizer_eot(const penny_tokenizer *t) { return tok_eot(t->t); }
bool penny_tokenizer_add_bos(const penny_tokenizer *t) { return tok_add_bos(t->t); }

bool penny_tokenizer_is_eog(const penny_tokenizer *t, penny_token id) {
    return tok_is_eog(t->t, id);
}

const char *penny_tokenizer_chat_template(const penny_tokenizer *t) {
    return tok_chat_template(t->t);
}

penny_status penny_tokenizer_tokenize(const penny_tokenizer *t, const char *text, size_t len,
                                      unsigned flags, penny_token *out, int cap, int *n_out,
                                      penny_error *err) {
    if (n_out) *n_out = 0;
    if (!t) return err_set(err, PENNY_ERR_ARG, "tokenize: no tokenizer");
    if (flags & ~(unsigned)(PENNY_TOKENIZE_BOS | PENNY_TOKENIZE_SPECIAL))
        return err_set(err, PENNY_ERR_ARG, "tokenize: unknown flags 0x%x", flags);
    return tok_encode(t->t, text, len, flags & PENNY_TOKENIZE_BOS, flags & PENNY_TOKENIZE_SPECIAL,
                      out, cap, n_out, err);
}

penny_status penny_tokenizer_token_bytes(const penny_tokenizer *t, penny_token id,
                                         const char **bytes, size_t *len) {
    if (id < 0 || id >= tok_n_vocab(t->t)) return PENNY_ERR_RANGE;
    tok_piece(t->t, id, bytes, len);
    return PENNY_OK;
}

penny_status penny_tokenizer_token_text(const penny_tokenizer *t, penny_token id,
                                        const char **bytes, size_t *len) {
    if (id < 0 || id >= tok_n_vocab(t->t)) return PENNY_ERR_RANGE;
    tok_text(t->t, id, bytes, len);
    return PENNY_OK;
}

/* ---- streaming detokenizer ---- */

struct penny_detok {
    const tokenizer *t;
    tok_stream *s;
    unsigned flags; /* PENNY_DETOK_* */
    bool first;     /* nothing shown yet since the start or the last flush */
    char *buf;      /* held bytes + a control token's text (PENNY_DETOK_SPECIAL) */
    size_t cap;
};

static penny_status detok_make(const tokenizer *t, unsigned flags, penny_detok **out,
                               penny_error *err) {
    *out = NULL;
    if (flags & ~(unsigned)(PENNY_DETOK_SPECIAL | PENNY_DETOK_STRIP_SPACE))
        return err_set(err, PENNY_ERR_ARG, "detokenizer: unknown flags 0x%x", flags);
    penny_detok *d = calloc(1, sizeof *d);
    if (!d) return err_set(err, PENNY_ERR_NOMEM, "detokenizer: out of memory");
    penny_status rc = tok_stream_new(t, &d->s, err);
    if (rc) {
        free(d);
        return rc;
    }
    d->t = t;
    d->flags = flags;
    d->first = true;
    *out = d;
    return PENNY_OK;
}

penny_status penny_detok_new(const penny_model *m, penny_detok **out, penny_error *err) {
    return detok_make(m->tok, 0, out, err);
}

penny_status penny_tokenizer_detok_new(const penny_tokenizer *t, unsigned flags, penny_detok **out,
                                       penny_error *err) {
    if (!out) return err_set(err, PENNY_ERR_ARG, "detokenizer: no output handle");
    *out = NULL;
    if (!t) return err_set(err, PENNY_ERR_ARG, "detokenizer: no tokenizer");
    return detok_make(t->t, flags, out, err);
}

void penny_detok_free(penny_detok *d) {
    if (!d) return;
    tok_stream_free(d->s);
    free(d->buf);
    free(d);
}

/* The bytes held so far, then the vocabulary text of control token id. On
 * out of memory only the held bytes (the text is lost, not the stream). */
static const char *control_text(penny_detok *d, penny_token id) {
    const char *held = tok_stream_flush(d->s), *p;
    size_t n_held = strlen(held), n;
    tok_text(d->t, id, &p, &n);
    if (n_held + n + 1 > d->cap) {
        size_t cap = 2 * (n_held + n + 1);
        char *b = realloc(d->buf, cap);
        if (!b) return held;
        d->buf = b;
        d->cap = cap;
    }
    memcpy(d->buf, held, n_held);
    memcpy(d->buf + n_held, p, n);
    d->buf[n_held + n] = '\0';
    return d->buf;
}

const char *penny_detok_push(penny_detok *d, penny_token t) {
    if (!d->flags) return tok_stream_push(d->s, t);
    if (d->flags & PENNY_DETOK_SPECIAL) {
        const char *p;
        size_t n;
        tok_piece(d->t, t, &p, &n);
        if (n == 0 && t >= 0 && t < tok_n_vocab(d->t)) {
            d->first = false;
            return control_text(d, t);
        }
    }
    const char *out = tok_stream_push(d->s, t);
    if (d->first && *out) {
        if ((d->flags & PENNY_DETOK_STRIP_SPACE) && tok_space_prefix(d->t) && out[0] == ' ') out++;
        d->first = false;
    }
    return out;
}

const char *penny_detok_flush(penny_detok *d) {
    d->first = true;
    return tok_stream_flush(d->s);
}
