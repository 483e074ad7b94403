/*
 * encode.c - tok_encode: BOS, special-token splitting, then the algorithm.
 *
 * Special tokens are found before any encoding, in one scan over a byte trie
 * of their texts: at each position the longest special text that starts
 * there is taken (leftmost-longest, Hugging Face's rule; llama.cpp instead
 * tries each token in turn, longest first, over the whole text, which
 * differs only when two special texts overlap). Control and unknown tokens (e.g. "<s>", "<unk>")
 * are matched only when the caller asks for parse_special; user-defined tokens are always matched,
 * as in llama.cpp and Hugging Face tokenizers, since they are part of the vocabulary's ordinary
 * text. SentencePiece adds its leading "▁" to every fragment that starts the text or follows a
 * special token (llama.cpp's rule, which also matches the Hugging Face Llama tokenizer).
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

/* The longest special token whose text starts at text[pos..len), or -1;
 * *n gets its length. User-defined tokens always count, the others only
 * with parse_special. */
static int32_t match_at(const tokenizer *t, const char *text, size_t pos, size_t len,
                        bool parse_special, size_t *n) {
    int32_t best = -1, node = 0;
    for (size_t i = pos; i < len; i++) {
        node = t->trie[node].child;
        while (node >= 0 && t->trie[node].byte != (uint8_t)text[i]) node = t->trie[node].sibling;
        if (node < 0) break;
        int32_t id = parse_special ? t->trie[node].id_any : t->trie[node].id_user;
        if (id >= 0) {
            best = id;
            *n = i + 1 - pos;
        }
    }
    return best;
}

/* Bytes of the Unicode White_Space character starting at p (n left), or 0. */
static int space_at(const unsigned char *p, size_t n) {
    if (p[0] == ' ' || (p[0] >= '\t' && p[0] <= '\r')) return 1;
    if (n >= 2 && p[0] == 0xC2 && (p[1] == 0x85 || p[1] == 0xA0)) return 2;
    if (n < 3) return 0;
    if ((p[0] == 0xE1 && p[1] == 0x9A && p[2] == 0x80) ||
        (p[0] == 0xE3 && p[1] == 0x80 && p[2] == 0x80) ||
        (p[0] == 0xE2 && p[1] == 0x81 && p[2] == 0x9F))
        return 3;
    if (p[0] == 0xE2 && p[1] == 0x80 &&
        (p[2] <= 0x8A || p[2] == 0xA8 || p[2] == 0xA9 || p[2] == 0xAF))
        return 3;
    return 0;
}

/* Where whitespace before end (not before start) begins. */
static size_t space_before(const char *text, size_t start, size_t end) {
    const unsigned char *s = (const unsigned char *)text;
    while (end > start) {
        int k = 0;
        for (int back = 1; back <= 3 && !k && end - start >= (size_t)back; back++)
            if (space_at(s + end - back, (size_t)back) == back) k = back;
        if (!k) break;
        end -= (size_t)k;
    }
    return end;
}

/* One left-to-right scan: at each position the longest special text wins
 * (leftmost-longest, as Hugging Face's added-token matcher does). A token
 * marked lstrip/rstrip takes in the whitespace beside it. */
static penny_status partition(const tokenizer *t, const char *text, size_t len, bool parse_special,
                              frag_list *l, penny_error *err) {
    penny_status rc = PENNY_OK;
    size_t start = 0;
    for (size_t pos = 0; pos < len && !rc;) {
        size_t n = 0;
        int32_t id =
            t->trie_first[(uint8_t)text[pos]] ? match_at(t, text, pos, len, parse_special, &n) : -1;
        if (id < 0) {
            pos++;
            continue;
        }
        uint8_t strip = t->strip ? t->strip[id] : 0;
        size_t end = strip & TOK_STRIP_LEFT ? space_before(text, start, pos) : pos;
        if (end > start) rc = frag_add(l, (frag){start, end - start, -1}, err);
        if (!rc) rc = frag_add(l, (frag){pos, 0, id}, err);
        start = pos += n;
        for (int k; strip & TOK_STRIP_RIGHT && pos < len &&
                    (k = space_at((const unsigned char *)text + pos, len - pos)) > 0;)
            start = pos += (size_t)k;
    }
    if (!rc && len > start) rc = frag_add(l, (frag){start, len - start, -1}, err);
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
