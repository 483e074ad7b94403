/*
 * tables.c - what every tokenizer derives from its vocabulary, whichever
 * file it came from (GGUF in vocab.c, tokenizer.json in json.c).
 *
 * Once token texts, types and special ids are set, this file builds the
 * structures that make the hot paths cheap: a hash table from text to id,
 * the byte-fallback ids, a byte trie of special-token texts (so the input is
 * scanned once, leftmost-longest, however many special tokens there are),
 * every token's decoded bytes in one arena (tok_piece is a lookup), and the
 * set of end-of-generation tokens, which includes the end-of-turn markers
 * that chat models emit but that files often do not flag as EOS/EOT.
 */
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "tokenizer/tok_int.h"

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

/* ---- byte tokens ---- */

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
static penny_status build_bytes(tokenizer *t, penny_error *err) {
    for (int b = 0; b < 256; b++) {
        char name[8];
        static const char hex[] = "0123456789ABCDEF";
        memcpy(name, "<0x", 3);
        name[3] = hex[b >> 4];
        name[4] = hex[b & 15];
        name[5] = '>';
        t->byte_tok[b] = tok_find(t, name, 6);
        if (t->byte_tok[b] >= 0) t->has_byte_tok = true;
    }
    for (int i = 0; t->kind == TOK_SPM && i < t->n_vocab; i++) {
        if (t->type[i] == TOK_T_BYTE && byte_of(&t->text[i]) < 0)
            return err_set(err, PENNY_ERR_FORMAT,
                           "tokenizer: token %d (\"%.*s\") has type 6 (byte) but is not <0xXX>", i,
                           (int)(t->text[i].len > 32 ? 32 : t->text[i].len), t->text[i].ptr);
    }
    return PENNY_OK;
}

/* ---- special-token trie ---- */

static bool is_special(const tokenizer *t, int id) {
    int ty = t->type[id];
    return (ty == TOK_T_CONTROL || ty == TOK_T_USER || ty == TOK_T_UNKNOWN) && t->text[id].len;
}

/* The child of node n for byte b, created when make is set (the array has
 * room: one node per text byte was reserved). */
static int32_t trie_child(tokenizer *t, int32_t n, uint8_t b, bool make) {
    int32_t c = t->trie[n].child;
    while (c >= 0 && t->trie[c].byte != b) c = t->trie[c].sibling;
    if (c >= 0 || !make) return c;
    c = t->n_trie++;
    t->trie[c] = (tok_trie_node){-1, t->trie[n].child, -1, -1, b};
    t->trie[n].child = c;
    return c;
}

static penny_status build_trie(tokenizer *t, penny_error *err) {
    size_t nodes = 1;
    for (int i = 0; i < t->n_vocab; i++)
        if (is_special(t, i)) nodes += t->text[i].len;
    if (nodes > INT32_MAX / 2)
        return err_set(err, PENNY_ERR_FORMAT, "tokenizer: special tokens too long");
    t->trie = malloc(nodes * sizeof *t->trie);
    if (!t->trie) return err_set(err, PENNY_ERR_NOMEM, "tokenizer: out of memory (special tokens)");
    t->trie[0] = (tok_trie_node){-1, -1, -1, -1, 0};
    t->n_trie = 1;
    for (int i = 0; i < t->n_vocab; i++) {
        if (!is_special(t, i)) continue;
        const gguf_str *w = &t->text[i];
        int32_t n = 0;
        for (size_t k = 0; k < w->len; k++) n = trie_child(t, n, (uint8_t)w->ptr[k], true);
        t->trie[n].id_any = i; /* a later duplicate wins, as in the hash table */
        if (t->type[i] == TOK_T_USER) t->trie[n].id_user = i;
        t->trie_first[(uint8_t)w->ptr[0]] = true;
        t->n_special++;
    }
    return PENNY_OK;
}

/* ---- pieces ---- */

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

/* ---- end of generation ---- */

/* End-of-turn markers of common chat formats: a model that emits one has
 * finished its answer even when the file names a different EOS. */
static const char *const EOG_TEXTS[] = {
    "<|eot_id|>",
    "<|eom_id|>",
    "<|im_end|>",
    "<|end|>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<end_of_turn>",
    "<|return|>",
    "<|call|>",
    "<EOT>",
    "_<EOT>",
    "<|END_OF_TURN_TOKEN|>",
    ("<\xEF\xBD\x9C"
     "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>"), /* DeepSeek, full-width bars */
    "<|end\xE2\x96\x81of\xE2\x96\x81sentence|>",
};

static penny_status build_eog(tokenizer *t, penny_error *err) {
    t->eog = calloc((size_t)t->n_vocab, 1);
    if (!t->eog) return err_set(err, PENNY_ERR_NOMEM, "tokenizer: out of memory");
    int32_t ids[3] = {t->eos, t->eot, t->eom};
    for (int i = 0; i < 3; i++)
        if (ids[i] >= 0) t->eog[ids[i]] = 1;
    for (size_t k = 0; k < sizeof EOG_TEXTS / sizeof *EOG_TEXTS; k++) {
        int32_t id = tok_find(t, EOG_TEXTS[k], strlen(EOG_TEXTS[k]));
        /* Only tokens outside ordinary text: a normal token spelling the
         * marker is text the model may legitimately write. */
        if (id >= 0 && (t->type[id] == TOK_T_CONTROL || t->type[id] == TOK_T_USER)) t->eog[id] = 1;
    }
    return PENNY_OK;
}

penny_status tok_build_tables(tokenizer *t, penny_error *err) {
    penny_status rc;
    if ((rc = build_map(t, err)) || (rc = build_bytes(t, err)) || (rc = build_trie(t, err)) ||
        (rc = build_pieces(t, err)) || (rc = build_eog(t, err)))
        return rc;
    return PENNY_OK;
}

/* ---- public ---- */

void tok_free(tokenizer *t) {
    if (!t) return;
    tok_bpe_free(t->bpe);
    free(t->score);
    free(t->type);
    tok_map_free(&t->vocab);
    free(t->piece);
    free(t->piece_at);
    free(t->trie);
    free(t->eog);
    free(t->strip);
    free(t->chat_tmpl);
    free(t->own_arena);
    free(t->own_text);
    free(t);
}

int tok_n_vocab(const tokenizer *t) { return t->n_vocab; }
int32_t tok_bos(const tokenizer *t) { return t->bos; }
int32_t tok_eos(const tokenizer *t) { return t->eos; }
int32_t tok_eot(const tokenizer *t) { return t->eot; }
bool tok_add_bos(const tokenizer *t) { return t->add_bos; }
bool tok_add_eos(const tokenizer *t) { return t->add_eos; }
bool tok_space_prefix(const tokenizer *t) { return t->add_space_prefix; }
const char *tok_chat_template(const tokenizer *t) { return t->chat_tmpl; }

bool tok_is_eog(const tokenizer *t, int32_t id) { return id >= 0 && id < t->n_vocab && t->eog[id]; }

void tok_piece(const tokenizer *t, int32_t id, const char **bytes, size_t *len) {
    if (id < 0 || id >= t->n_vocab) {
        *bytes = "";
        *len = 0;
        return;
    }
    *bytes = t->piece + t->piece_at[id];
    *len = t->piece_at[id + 1] - t->piece_at[id];
}

void tok_text(const tokenizer *t, int32_t id, const char **bytes, size_t *len) {
    if (id < 0 || id >= t->n_vocab) {
        *bytes = "";
        *len = 0;
        return;
    }
    *bytes = t->text[id].ptr;
    *len = t->text[id].len;
}
