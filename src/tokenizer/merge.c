/*
 * merge.c - the pair-merging loop shared by SentencePiece and byte-level BPE.
 *
 * Both algorithms start from one symbol per UTF-8 character and repeatedly
 * merge the best adjacent pair; they differ only in what "best" means (the
 * highest piece score, the lowest merge rank), which the caller supplies as
 * a tok_pair_fn. Symbols form a doubly linked list over the text and
 * candidate pairs wait in a binary heap, so a merge costs O(log n) and the
 * whole text O(n log n). A merge never moves bytes: the left symbol grows
 * over the right one, which is left with length 0. Pairs made stale by an
 * earlier merge are recognised when popped (a side is gone or its length
 * changed) and skipped, instead of being searched for and removed.
 */
#include <stdlib.h>

#include "base/err.h"
#include "tokenizer/tok_int.h"

void tok_work_free(tok_work *w) {
    tok_cache_free(&w->cache);
    free(w->sym);
    free(w->heap);
    free(w->buf);
    *w = (tok_work){0};
}

penny_status tok_work_buf(tok_work *w, size_t n, penny_error *err) {
    if (n <= w->buf_cap) return PENNY_OK;
    char *b = realloc(w->buf, n);
    if (!b) return err_set(err, PENNY_ERR_NOMEM, "tokenizer: out of memory (%zu bytes)", n);
    w->buf = b;
    w->buf_cap = n;
    return PENNY_OK;
}

/* Each merge queues at most two pairs, so 3n bounds the heap for n symbols. */
static penny_status reserve(tok_work *w, int n, penny_error *err) {
    if (n <= w->cap) return PENNY_OK;
    tok_sym *s = realloc(w->sym, (size_t)n * sizeof *s);
    if (s) w->sym = s;
    tok_pair *h = s ? realloc(w->heap, (size_t)n * 3 * sizeof *h) : NULL;
    if (!h) return err_set(err, PENNY_ERR_NOMEM, "tokenizer: out of memory (%d symbols)", n);
    w->heap = h;
    w->cap = n;
    return PENNY_OK;
}

/* Heap order: smaller key first, then the leftmost pair. */
static bool before(const tok_pair *a, const tok_pair *b) {
    return a->key < b->key || (a->key == b->key && a->left < b->left);
}

static void heap_push(tok_pair *h, int *n, tok_pair p) {
    int i = (*n)++;
    while (i > 0 && before(&p, &h[(i - 1) / 2])) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = p;
}

static tok_pair heap_pop(tok_pair *h, int *n) {
    tok_pair top = h[0], last = h[--(*n)];
    int i = 0;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && before(&h[c + 1], &h[c])) c++;
        if (!before(&h[c], &last)) break;
        h[i] = h[c];
        i = c;
    }
    h[i] = last;
    return top;
}

typedef struct merge_state {
    const tokenizer *t;
    tok_work *w;
    const char *text;
    tok_pair_fn fn;
    int n_heap;
} merge_state;

static void try_pair(merge_state *m, int l, int r) {
    if (l < 0 || r < 0) return;
    const tok_sym *a = &m->w->sym[l], *b = &m->w->sym[r];
    double key;
    if (!m->fn(m->t, m->text + a->start, a->len, b->len, &key)) return;
    PENNY_ASSERT(m->n_heap < 3 * m->w->cap);
    heap_push(m->w->heap, &m->n_heap, (tok_pair){key, l, r, a->len + b->len});
}

/* One symbol per character; each byte of invalid UTF-8 is a symbol of its
 * own, so SentencePiece's byte fallback gives those bytes back exactly
 * (llama.cpp instead takes the length the lead byte announces, which can
 * swallow the next, valid character). */
static int split_chars(tok_sym *sym, const char *text, int len) {
    int n = 0;
    for (int pos = 0; pos < len; n++) {
        int k = tok_utf8_next((const unsigned char *)text + pos, (size_t)(len - pos));
        if (k <= 0) k = 1;
        sym[n] = (tok_sym){pos, k, n - 1, n + 1};
        pos += k;
    }
    if (n > 0) sym[n - 1].next = -1;
    return n;
}

penny_status tok_merge(const tokenizer *t, tok_work *w, const char *text, int len, tok_pair_fn fn,
                       penny_error *err) {
    penny_status rc = reserve(w, len, err);
    if (rc) return rc;
    merge_state m = {t, w, text, fn, 0};
    int n = split_chars(w->sym, text, len);
    for (int i = 1; i < n; i++) try_pair(&m, i - 1, i);
    while (m.n_heap > 0) {
        tok_pair p = heap_pop(w->heap, &m.n_heap);
        tok_sym *a = &w->sym[p.left], *b = &w->sym[p.right];
        if (a->len == 0 || b->len == 0 || a->len + b->len != p.size) continue; /* stale */
        a->len += b->len;
        b->len = 0;
        a->next = b->next;
        if (b->next >= 0) w->sym[b->next].prev = p.left;
        try_pair(&m, a->prev, p.left);
        try_pair(&m, p.left, a->next);
    }
    return PENNY_OK;
}
