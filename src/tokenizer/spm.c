/*
 * spm.c - SentencePiece encoding of one text fragment, as llama.cpp does it.
 *
 * Spaces become U+2581 ("▁"), optionally with one more in front; the text is
 * split into UTF-8 characters and adjacent symbols merge whenever their
 * concatenation is a vocabulary piece, highest score first (ties: leftmost).
 * Since a merge only ever produces a piece that is in the vocabulary, every
 * final symbol is either a piece or a single character; a character the
 * vocabulary lacks falls back to its UTF-8 bytes as <0xXX> tokens, or to the
 * unknown token when the vocabulary has no byte tokens. (SentencePiece's
 * "resegment" step, splitting an unknown merged symbol back into its parts,
 * therefore never has anything to do here.)
 *
 * A vocabulary from a tokenizer.json (Mistral, Llama 2 in Hugging Face
 * form) has no scores but a merge list: then pairs merge by merge rank,
 * exactly as the Hugging Face BPE model does, with the same byte fallback.
 */
#include <limits.h>
#include <string.h>

#include "base/err.h"
#include "tokenizer/tok_int.h"

static bool spm_pair(const tokenizer *t, const char *a, int la, int lb, double *key) {
    int32_t id = tok_find(t, a, (size_t)la + (size_t)lb);
    if (id < 0) return false;
    *key = -(double)t->score[id]; /* the heap pops the smallest key */
    return true;
}

/* dst gets the optional "▁" prefix, then text with each ' ' as "▁". */
static size_t escape(const char *text, size_t len, bool prefix, char *dst) {
    size_t o = 0;
    if (prefix) {
        memcpy(dst, "\xE2\x96\x81", 3);
        o = 3;
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(dst + o, "\xE2\x96\x81", 3);
            o += 3;
        } else {
            dst[o++] = text[i];
        }
    }
    return o;
}

static penny_status fallback(const tokenizer *t, const char *s, int n, tok_sink *out,
                             penny_error *err) {
    if (!t->has_byte_tok && t->unk >= 0) {
        tok_emit(out, t->unk);
        return PENNY_OK;
    }
    for (int i = 0; i < n; i++) {
        unsigned char b = (unsigned char)s[i];
        int32_t id = t->byte_tok[b] >= 0 ? t->byte_tok[b] : t->unk;
        if (id < 0)
            return err_set(err, PENNY_ERR_UNSUPPORTED,
                           "tokenize: the vocabulary has no token for byte 0x%02X and no "
                           "unknown token",
                           b);
        tok_emit(out, id);
    }
    return PENNY_OK;
}

penny_status tok_spm_encode(const tokenizer *t, tok_work *w, const char *text, size_t len,
                            bool prefix, tok_sink *out, penny_error *err) {
    if (len > INT_MAX / 3 - 1) return err_set(err, PENNY_ERR_ARG, "tokenize: text too long");
    penny_status rc = tok_work_buf(w, 3 * len + 3, err);
    if (rc) return rc;
    int n = (int)escape(text, len, prefix, w->buf);
    if (n == 0) return PENNY_OK;
    if ((rc = tok_merge(t, w, w->buf, n, t->bpe ? tok_bpe_pair : spm_pair, err))) return rc;
    for (int i = 0; i != -1 && rc == PENNY_OK; i = w->sym[i].next) {
        const tok_sym *s = &w->sym[i];
        int32_t id = tok_find(t, w->buf + s->start, (size_t)s->len);
        if (id >= 0)
            tok_emit(out, id);
        else
            rc = fallback(t, w->buf + s->start, s->len, out, err);
    }
    return rc;
}
