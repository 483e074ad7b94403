/*
 * cache.c - a per-call cache from pre-split words to their token ids.
 *
 * Byte-level BPE spends most of its time merging (hash lookups of symbol
 * pairs), yet natural text repeats a few thousand words over and over. The
 * cache lives in the call's scratch memory (tok_work), so encoding stays
 * thread-safe and a call's result never depends on an earlier call. Its
 * size is bounded: past CACHE_MAX words it stops growing and only answers.
 */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_int.h"

#define CACHE_MAX (1u << 16)   /* words */
#define CACHE_SLOTS (1u << 17) /* load factor <= 1/2 */

bool tok_cache_get(const tok_cache *c, const char *s, size_t n, const int32_t **ids, int *n_ids) {
    if (!c->slot || n > TOK_CACHE_WORD) return false;
    uint64_t h = tok_hash(TOK_HASH_INIT, s, n);
    for (uint32_t i = tok_slot(h, c->mask), e; (e = c->slot[i]) != 0; i = (i + 1) & c->mask) {
        const tok_cache_ent *x = &c->ent[e - 1];
        if (x->hash == h && x->len == n && memcmp(c->bytes + x->word, s, n) == 0) {
            *ids = c->ids + x->ids;
            *n_ids = (int)x->n;
            return true;
        }
    }
    return false;
}

static bool cache_init(tok_cache *c) {
    c->slot = calloc(CACHE_SLOTS, sizeof *c->slot);
    c->ent = malloc(CACHE_MAX * sizeof *c->ent);
    c->bytes = malloc((size_t)CACHE_MAX * TOK_CACHE_WORD);
    c->ids = malloc((size_t)CACHE_MAX * TOK_CACHE_WORD * sizeof *c->ids);
    if (!c->slot || !c->ent || !c->bytes || !c->ids) {
        tok_cache_free(c);
        return false;
    }
    c->mask = CACHE_SLOTS - 1;
    return true;
}

void tok_cache_put(tok_cache *c, const char *s, size_t n, const int32_t *ids, int n_ids) {
    if (n > TOK_CACHE_WORD || n_ids < 0 || (size_t)n_ids > n) return;
    if (!c->slot && !cache_init(c)) return;
    if (c->n_ent == CACHE_MAX) return;
    uint64_t h = tok_hash(TOK_HASH_INIT, s, n);
    uint32_t i = tok_slot(h, c->mask);
    while (c->slot[i]) i = (i + 1) & c->mask;
    tok_cache_ent *x = &c->ent[c->n_ent];
    *x = (tok_cache_ent){h, c->n_bytes, (uint32_t)n, c->n_ids, (uint32_t)n_ids};
    memcpy(c->bytes + c->n_bytes, s, n);
    memcpy(c->ids + c->n_ids, ids, (size_t)n_ids * sizeof *ids);
    c->n_bytes += (uint32_t)n;
    c->n_ids += (uint32_t)n_ids;
    c->slot[i] = ++c->n_ent;
}

void tok_cache_free(tok_cache *c) {
    free(c->slot);
    free(c->ent);
    free(c->bytes);
    free(c->ids);
    *c = (tok_cache){0};
}
