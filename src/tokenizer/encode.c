/*
 * encode.c - tok_encode: BOS, special-token splitting, then the algorithm.
 *
 * Special tokens are found before any encoding, in llama.cpp's order: each
 * special token in turn, longest text first, is searched for in the text
 * fragments that are still unclaimed, splitting them around every match.
 * Control and unknown tokens (e.g. "<s>", "<unk>") are matched only when the
 * caller asks for parse_special; user-defined tokens are always matched, as
 * in llama.cpp and Hugging Face tokenizers, since they are part of the
 * vocabulary's ordinary text. SentencePiece adds its leading "▁" to every
 * fragment that starts the text or follows a special token (llama.cpp's
 * rule, which also matches the Hugging Face Llama tokenizer).
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "tokenizer/tok_int.h"

/* A piece of the input: raw text [start, start + len), or a special token. */
typedef struct frag {
    size_t start, len;
    int32_t id; /* -1 for raw text */
} frag;

typedef struct frag_list {
    frag *f;
    int n, cap;
} frag_list;

static penny_status frag_add(frag_list *l, frag f, penny_error *err) {
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 8;
        frag *p = realloc(l->f, (size_t)cap * sizeof *p);
        if (!p) return err_set(err, PENNY_ERR_NOMEM, "tokenize: out of memory (fragments)");
        l->f = p;
        l->cap = cap;
    }
    l->f[l->n++] = f;
    return PENNY_OK;
}

/* Appends raw fragment f to dst, split around every occurrence of token id. */
static penny_status split_one(const tokenizer *t, const char *text, frag f, int32_t id,
                              frag_list *dst, penny_error *err) {
    const gguf_str *w = &t->text[id];
    penny_status rc = PENNY_OK;
    size_t pos = f.start, end = f.start + f.len;
    while (!rc && pos < end) {
        const char *hit = memmem(text + pos, end - pos, w->ptr, w->len);
        size_t at = hit ? (size_t)(hit - text) : end;
        if (at > pos) rc = frag_add(dst, (frag){pos, at - pos, -1}, err);
        if (!rc && hit) rc = frag_add(dst, (frag){at, 0, id}, err);
        pos = hit ? at + w->len : end;
    }
    return rc;
}

/* Rebuilds *l into *tmp with token id split out, then swaps the two. */
static penny_status split_all(const tokenizer *t, const char *text, int32_t id, frag_list *l,
                              frag_list *tmp, penny_error *err) {
    tmp->n = 0;
    penny_status rc = PENNY_OK;
    for (int i = 0; i < l->n && !rc; i++) {
        if (l->f[i].id >= 0 || l->f[i].len < t->text[id].len)
            rc = frag_add(tmp, l->f[i], err);
        else
            rc = split_one(t, text, l->f[i], id, tmp, err);
    }
    frag_list x = *l;
    *l = *tmp;
    *tmp = x;
    return rc;
}

static penny_status partition(const tokenizer *t, const char *text, size_t len, bool parse_special,
                              frag_list *l, penny_error *err) {
    if (len == 0) return PENNY_OK;
    penny_status rc = frag_add(l, (frag){0, len, -1}, err);
    frag_list tmp = {0};
    for (int i = 0; i < t->n_special && !rc; i++) {
        int32_t id = t->special[i];
        if (!parse_special && t->type[id] != TOK_T_USER) continue;
        rc = split_all(t, text, id, l, &tmp, err);
    }
    free(tmp.f);
    return rc;
}

static penny_status encode_frags(const tokenizer *t, const char *text, const frag_list *l,
                                 tok_sink *out, penny_error *err) {
    tok_work w = {0};
    penny_status rc = PENNY_OK;
    bool after_special = true; /* the text's start counts as one */
    for (int i = 0; i < l->n && !rc; i++) {
        const frag *f = &l->f[i];
        if (f->id >= 0) {
            tok_emit(out, f->id);
            after_special = true;
            continue;
        }
        if (t->kind == TOK_SPM)
            rc = tok_spm_encode(t, &w, text + f->start, f->len,
                                t->add_space_prefix && after_special, out, err);
        else
            rc = tok_bpe_encode(t, &w, text + f->start, f->len, out, err);
        after_special = false;
    }
    tok_work_free(&w);
    return rc;
}

penny_status tok_encode(const tokenizer *t, const char *text, size_t len, bool add_bos,
                        bool parse_special, int32_t *out, int cap, int *n_out, penny_error *err) {
    if (n_out) *n_out = 0;
    if (!t || !n_out || (len && !text) || cap < 0 || (cap > 0 && !out))
        return err_set(err, PENNY_ERR_ARG, "tokenize: invalid arguments");
    /* At most two tokens per input byte, so counts stay within int. */
    if (len > INT_MAX / 4) return err_set(err, PENNY_ERR_ARG, "tokenize: text too long");
    tok_sink sink = {out, cap, 0};
    if (add_bos && t->bos >= 0) tok_emit(&sink, t->bos);
    frag_list l = {0};
    penny_status rc = partition(t, text, len, parse_special, &l, err);
    if (!rc) rc = encode_frags(t, text, &l, &sink, err);
    free(l.f);
    if (rc) return rc;
    *n_out = sink.n;
    if (sink.n > cap)
        return err_set(err, PENNY_ERR_RANGE, "tokenize: %d tokens do not fit in a buffer of %d",
                       sink.n, cap);
    return PENNY_OK;
}
