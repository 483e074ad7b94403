/*
 * bpe_train.c - byte-level BPE training (see bpe_train.h).
 *
 * Data structures: words (unique pre-split pieces with their counts, each
 * a run of symbol ids in one array), pairs (open-addressing table from
 * (left, right) to a count and the list of words that held the pair when it
 * appeared), and a max-heap of (count, left, right) entries. A heap entry is
 * stale when its count no longer matches the pair's; stale entries are
 * dropped when they surface, and every count change pushes a fresh entry.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "train/bpe_train.h"

#include <pcre2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "format/gguf.h"

const char *const tr_chat_template =
    "{% for message in messages %}{{ '<|' + message['role'] + '|>' + message['content'] + "
    "'<|end|>' }}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}";

static const char *const SPECIALS[5] = {TR_TOK_BOS, TR_TOK_SYSTEM, TR_TOK_USER, TR_TOK_ASSISTANT,
                                        TR_TOK_END};

/* Pre-split patterns (the published GPT-2 and Llama 3 definitions). */
static const char *const SPLIT_GPT2 =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
static const char *const SPLIT_LLAMA3 =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}"
    "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/* ---- a string -> index hash table (words, token texts) ---- */

typedef struct strtab {
    char *arena;
    size_t arena_len, arena_cap;
    uint64_t *off_len; /* (n) offset << 24 | length */
    int64_t *count;    /* (n) */
    uint32_t *slot;    /* index + 1, 0 = empty */
    uint32_t mask, n, cap;
} strtab;

static uint64_t hash_bytes(const char *p, size_t n) {
    uint64_t h = 0x84222325cbf29ce4ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 0x100000001b3ull;
    return h ^ (h >> 29);
}

static const char *st_str(const strtab *t, uint32_t i, size_t *len) {
    *len = (size_t)(t->off_len[i] & 0xFFFFFF);
    return t->arena + (t->off_len[i] >> 24);
}

static bool st_grow(strtab *t) {
    uint32_t size = t->mask ? (t->mask + 1) * 2 : 1024;
    uint32_t *slot = calloc(size, sizeof *slot);
    if (!slot) return false;
    for (uint32_t i = 0; i < t->n; i++) {
        size_t len;
        const char *s = st_str(t, i, &len);
        uint32_t k = (uint32_t)hash_bytes(s, len) & (size - 1);
        while (slot[k]) k = (k + 1) & (size - 1);
        slot[k] = i + 1;
    }
    free(t->slot);
    t->slot = slot;
    t->mask = size - 1;
    return true;
}

static bool st_reserve(strtab *t, size_t len) {
    if (t->n == t->cap) {
        uint32_t cap = t->cap ? t->cap * 2 : 1024;
        uint64_t *ol = realloc(t->off_len, cap * sizeof *ol);
        if (ol) t->off_len = ol;
        int64_t *c = realloc(t->count, cap * sizeof *c);
        if (c) t->count = c;
        if (!ol || !c) return false;
        t->cap = cap;
    }
    if (t->arena_len + len > t->arena_cap) {
        size_t cap = t->arena_cap ? t->arena_cap * 2 : 1 << 16;
        while (cap < t->arena_len + len) cap *= 2;
        char *a = realloc(t->arena, cap);
        if (!a) return false;
        t->arena = a;
        t->arena_cap = cap;
    }
    return (t->n + 1) * 2 <= t->mask + 1 || st_grow(t);
}

/* Index of s (added with count 0 when new); -1 when out of memory. */
static int64_t st_intern(strtab *t, const char *s, size_t len) {
    if (len > 0xFFFFFF) len = 0xFFFFFF; /* a 16 MB "word": cut, never in real text */
    if (!t->mask && !st_grow(t)) return -1;
    uint32_t k = (uint32_t)hash_bytes(s, len) & t->mask;
    for (uint32_t i; (i = t->slot[k]) != 0; k = (k + 1) & t->mask) {
        size_t l;
        const char *o = st_str(t, i - 1, &l);
        if (l == len && memcmp(o, s, len) == 0) return i - 1;
    }
    if (!st_reserve(t, len)) return -1;
    k = (uint32_t)hash_bytes(s, len) & t->mask;
    while (t->slot[k]) k = (k + 1) & t->mask;
    memcpy(t->arena + t->arena_len, s, len);
    t->off_len[t->n] = ((uint64_t)t->arena_len << 24) | len;
    t->count[t->n] = 0;
    t->arena_len += len;
    t->slot[k] = ++t->n;
    return t->n - 1;
}

static void st_free(strtab *t) {
    free(t->arena);
    free(t->off_len);
    free(t->count);
    free(t->slot);
}

/* ---- pre-split and count ---- */

static penny_status count_words(pcre2_code *re, const char *text, size_t len, strtab *words,
                                long long *n_words, penny_error *err) {
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    if (!md) return err_set(err, PENNY_ERR_NOMEM, "train-tokenizer: out of memory");
    penny_status rc = PENNY_OK;
    for (size_t pos = 0; pos < len && !rc;) {
        int r = pcre2_match(re, (PCRE2_SPTR)text, len, pos, 0, md, NULL);
        if (r < 0 && r != PCRE2_ERROR_NOMATCH) {
            rc = err_set(err, PENNY_ERR_UNSUPPORTED, "train-tokenizer: PCRE2 match error %d", r);
            break;
        }
        const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t s = r < 0 ? len : ov[0], e = r < 0 ? len : ov[1];
        if (e <= s && s < len) e = s + 1;
        size_t piece[2][2] = {{pos, s}, {s, e}}; /* unmatched bytes, then the match */
        for (int k = 0; k < 2 && !rc; k++) {
            if (piece[k][1] <= piece[k][0]) continue;
            int64_t w = st_intern(words, text + piece[k][0], piece[k][1] - piece[k][0]);
            if (w < 0)
                rc = err_set(err, PENNY_ERR_NOMEM, "train-tokenizer: out of memory");
            else
                words->count[w]++, (*n_words)++;
        }
        pos = e;
    }
    pcre2_match_data_free(md);
    return rc;
}

static penny_status read_file(const char *path, char **buf, size_t *len, penny_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return err_set(err, PENNY_ERR_IO, "%s: cannot open", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    penny_status rc = PENNY_OK;
    if (!*buf)
        rc = err_set(err, PENNY_ERR_NOMEM, "%s: cannot hold %ld bytes", path, n);
    else if (fread(*buf, 1, (size_t)n, f) != (size_t)n)
        rc = err_set(err, PENNY_ERR_IO, "%s: read failed", path);
    fclose(f);
    *len = (size_t)n;
    return rc;
}

/* ---- pairs and heap ---- */

typedef struct pair {
    uint64_t key; /* left << 32 | right */
    int64_t count, pushed;
    uint32_t *words; /* word indexes that held the pair (may repeat or be stale) */
    uint32_t n_words, cap_words;
} pair;

typedef struct heap_entry {
    int64_t count;
    uint64_t key;
} heap_entry;

typedef struct trainer {
    strtab words;            /* unique words and counts */
    int32_t *sym;            /* symbols of all words back to back */
    uint32_t *wstart, *wlen; /* (n words) */
    uint32_t *wstamp;        /* last merge that visited the word */
    pair *pairs;
    uint32_t n_pairs, cap_pairs, *pslot, pmask;
    heap_entry *heap;
    size_t n_heap, cap_heap;
    uint32_t *dirty;
    size_t n_dirty, cap_dirty;
    bool oom;
} trainer;

static uint32_t hash_key(uint64_t k) { return (uint32_t)((k * 0x9E3779B97F4A7C15ull) >> 32); }

static bool pairs_grow(trainer *t) {
    uint32_t size = t->pmask ? (t->pmask + 1) * 2 : 4096;
    uint32_t *slot = calloc(size, sizeof *slot);
    if (!slot) return false;
    for (uint32_t i = 0; i < t->n_pairs; i++) {
        uint32_t k = hash_key(t->pairs[i].key) & (size - 1);
        while (slot[k]) k = (k + 1) & (size - 1);
        slot[k] = i + 1;
    }
    free(t->pslot);
    t->pslot = slot;
    t->pmask = size - 1;
    return true;
}

/* The pair record for key, created when absent; NULL when out of memory. */
static pair *pair_get(trainer *t, uint64_t key) {
    if ((!t->pmask || (t->n_pairs + 1) * 2 > t->pmask + 1) && !pairs_grow(t)) return NULL;
    uint32_t k = hash_key(key) & t->pmask;
    for (uint32_t i; (i = t->pslot[k]) != 0; k = (k + 1) & t->pmask)
        if (t->pairs[i - 1].key == key) return &t->pairs[i - 1];
    if (t->n_pairs == t->cap_pairs) {
        uint32_t cap = t->cap_pairs ? t->cap_pairs * 2 : 4096;
        pair *p = realloc(t->pairs, cap * sizeof *p);
        if (!p) return NULL;
        t->pairs = p;
        t->cap_pairs = cap;
    }
    pair *p = &t->pairs[t->n_pairs];
    memset(p, 0, sizeof *p);
    p->key = key;
    t->pslot[k] = ++t->n_pairs;
    return p;
}

static bool push_u32(uint32_t **v, uint32_t *n, uint32_t *cap, uint32_t x) {
    if (*n == *cap) {
        uint32_t c = *cap ? *cap * 2 : 4;
        uint32_t *p = realloc(*v, c * sizeof *p);
        if (!p) return false;
        *v = p;
        *cap = c;
    }
    (*v)[(*n)++] = x;
    return true;
}

/* Heap order: larger count first, then smaller key (left id, then right). */
static bool heap_before(const heap_entry *a, const heap_entry *b) {
    return a->count > b->count || (a->count == b->count && a->key < b->key);
}

static void heap_push(trainer *t, int64_t count, uint64_t key) {
    if (t->n_heap == t->cap_heap) {
        size_t cap = t->cap_heap ? t->cap_heap * 2 : 4096;
        heap_entry *h = realloc(t->heap, cap * sizeof *h);
        if (!h) {
            t->oom = true;
            return;
        }
        t->heap = h;
        t->cap_heap = cap;
    }
    size_t i = t->n_heap++;
    heap_entry e = {count, key};
    while (i > 0 && heap_before(&e, &t->heap[(i - 1) / 2])) {
        t->heap[i] = t->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    t->heap[i] = e;
}

static heap_entry heap_pop(trainer *t) {
    heap_entry top = t->heap[0], last = t->heap[--t->n_heap];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= t->n_heap) break;
        if (c + 1 < t->n_heap && heap_before(&t->heap[c + 1], &t->heap[c])) c++;
        if (!heap_before(&t->heap[c], &last)) break;
        t->heap[i] = t->heap[c];
        i = c;
    }
    if (t->n_heap) t->heap[i] = last;
    return top;
}

/* Adds delta to the pair's count; a word newly holding it joins its list. */
static void pair_add(trainer *t, int32_t a, int32_t b, int64_t delta, int64_t word) {
    pair *p = pair_get(t, (uint64_t)(uint32_t)a << 32 | (uint32_t)b);
    if (!p) {
        t->oom = true;
        return;
    }
    p->count += delta;
    if (word >= 0 && !push_u32(&p->words, &p->n_words, &p->cap_words, (uint32_t)word))
        t->oom = true;
    uint32_t idx = (uint32_t)(p - t->pairs);
    if (p->count != p->pushed) {
        size_t n = t->n_dirty;
        uint32_t cap = (uint32_t)t->cap_dirty, nn = (uint32_t)n;
        if (!push_u32(&t->dirty, &nn, &cap, idx)) t->oom = true;
        t->n_dirty = nn;
        t->cap_dirty = cap;
    }
}

static void flush_dirty(trainer *t) {
    for (size_t i = 0; i < t->n_dirty; i++) {
        pair *p = &t->pairs[t->dirty[i]];
        if (p->count != p->pushed && p->count > 0) heap_push(t, p->count, p->key);
        p->pushed = p->count;
    }
    t->n_dirty = 0;
}

/* Replaces every (a, b) in word w by x, updating pair counts. */
static void merge_word(trainer *t, uint32_t w, int32_t a, int32_t b, int32_t x) {
    int32_t *s = t->sym + t->wstart[w];
    uint32_t n = t->wlen[w], j = 0;
    int64_t c = t->words.count[w];
    bool found = false;
    for (uint32_t i = 0; i + 1 < n && !found; i++) found = s[i] == a && s[i + 1] == b;
    if (!found) return;
    for (uint32_t i = 0; i + 1 < n; i++) pair_add(t, s[i], s[i + 1], -c, -1);
    for (uint32_t i = 0; i < n;) {
        if (i + 1 < n && s[i] == a && s[i + 1] == b) {
            s[j++] = x;
            i += 2;
        } else {
            s[j++] = s[i++];
        }
    }
    t->wlen[w] = j;
    for (uint32_t i = 0; i + 1 < j; i++)
        pair_add(t, s[i], s[i + 1], c, s[i] == x || s[i + 1] == x ? (int64_t)w : -1);
}

/* ---- vocabulary ---- */

/* GPT-2's byte-to-code-point table: printable Latin-1 bytes stand for
 * themselves, the other 68 take 256.. in byte order. */
static int byte_cp(int byte) {
    bool printable = (byte >= 33 && byte <= 126) || (byte >= 161 && byte <= 172) || byte >= 174;
    if (printable) return byte;
    int k = 0;
    for (int b = 0; b < byte; b++)
        if (!((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174)) k++;
    return 256 + k;
}

static penny_status init_vocab(strtab *toks, penny_error *err) {
    for (int b = 0; b < 256; b++) {
        int cp = byte_cp(b);
        char u[2] = {(char)cp, 0};
        size_t n = 1;
        if (cp >= 0x80) u[0] = (char)(0xC0 | (cp >> 6)), u[1] = (char)(0x80 | (cp & 0x3F)), n = 2;
        if (st_intern(toks, u, n) != b)
            return err_set(err, PENNY_ERR_NOMEM, "train-tokenizer: out of memory");
    }
    return PENNY_OK;
}

static penny_status setup_words(trainer *t, penny_error *err) {
    uint32_t n = t->words.n;
    t->wstart = malloc((n + 1) * sizeof *t->wstart);
    t->wlen = malloc((n + 1) * sizeof *t->wlen);
    t->wstamp = calloc(n + 1, sizeof *t->wstamp);
    t->sym = malloc((t->words.arena_len + 1) * sizeof *t->sym);
    if (!t->wstart || !t->wlen || !t->wstamp || !t->sym)
        return err_set(err, PENNY_ERR_NOMEM, "train-tokenizer: out of memory (words)");
    uint32_t at = 0;
    for (uint32_t w = 0; w < n; w++) {
        size_t len;
        const unsigned char *s = (const unsigned char *)st_str(&t->words, w, &len);
        t->wstart[w] = at;
        t->wlen[w] = (uint32_t)len;
        for (size_t i = 0; i < len; i++) t->sym[at++] = s[i];
        for (size_t i = 0; i + 1 < len; i++)
            pair_add(t, s[i], s[i + 1], t->words.count[w], (int64_t)w);
    }
    flush_dirty(t);
    return t->oom ? err_set(err, PENNY_ERR_NOMEM, "train-tokenizer: out of memory (pairs)")
                  : PENNY_OK;
}

/* Learns merges until the vocabulary (without specials) has n_target tokens. */
static penny_status learn(trainer *t, strtab *toks, uint64_t **merges, int *n_merges, int n_target,
                          penny_error *err) {
    int cap = 0;
    uint32_t stamp = 0;
    char *buf = NULL;
    size_t buf_cap = 0;
    penny_status rc = PENNY_OK;
    while ((int)toks->n < n_target && t->n_heap && !rc) {
        heap_entry e = heap_pop(t);
        pair *p = pair_get(t, e.key);
        if (!p || e.count != p->count) continue;
        if (p->count < 2) break; /* every remaining pair occurs at most once */
        int32_t a = (int32_t)(e.key >> 32), b = (int32_t)(e.key & 0xFFFFFFFF);
        size_t la, lb;
        const char *sa = st_str(toks, (uint32_t)a, &la), *sb = st_str(toks, (uint32_t)b, &lb);
        if (la + lb > buf_cap) {
            buf_cap = (la + lb) * 2;
            char *nb = realloc(buf, buf_cap);
            if (!nb) break;
            buf = nb;
            sa = st_str(toks, (uint32_t)a, &la), sb = st_str(toks, (uint32_t)b, &lb);
        }
        memcpy(buf, sa, la);
        memcpy(buf + la, sb, lb);
        int64_t x = st_intern(toks, buf, la + lb);
        if (*n_merges == cap) {
            cap = cap ? cap * 2 : 1024;
            uint64_t *m = realloc(*merges, (size_t)cap * sizeof *m);
            if (!m)
                x = -1;
            else
                *merges = m;
        }
        if (x < 0) break;
        (*merges)[(*n_merges)++] = e.key;
        uint32_t pi = (uint32_t)(p - t->pairs);
        stamp++;
        for (uint32_t k = 0; k < t->pairs[pi].n_words; k++) {
            uint32_t w = t->pairs[pi].words[k];
            if (t->wstamp[w] == stamp) continue;
            t->wstamp[w] = stamp;
            merge_word(t, w, a, b, (int32_t)x);
        }
        flush_dirty(t);
        if (t->oom) break;
    }
    free(buf);
    if (t->oom || ((int)toks->n < n_target && t->n_heap))
        rc = err_set(err, PENNY_ERR_NOMEM, "train-tokenizer: out of memory while merging");
    return rc;
}

static void trainer_free(trainer *t) {
    st_free(&t->words);
    free(t->sym);
    free(t->wstart);
    free(t->wlen);
    free(t->wstamp);
    for (uint32_t i = 0; i < t->n_pairs; i++) free(t->pairs[i].words);
    free(t->pairs);
    free(t->pslot);
    free(t->heap);
    free(t->dirty);
}

/* ---- output ---- */

/* NUL-terminated copies of the token texts and "left right" merge lines. */
static penny_status make_strings(const strtab *toks, const uint64_t *merges, int n_merges,
                                 char ***tok_out, char ***merge_out, penny_error *err) {
    int n = (int)toks->n + 5;
    char **tk = calloc((size_t)n, sizeof *tk), **mg = calloc((size_t)n_merges + 1, sizeof *mg);
    *tok_out = tk;
    *merge_out = mg;
    if (!tk || !mg) return err_set(err, PENNY_ERR_NOMEM, "train-tokenizer: out of memory");
    for (int i = 0; i < n; i++) {
        size_t len = strlen(i < (int)toks->n ? "" : SPECIALS[i - toks->n]);
        const char *s = i < (int)toks->n ? st_str(toks, (uint32_t)i, &len) : SPECIALS[i - toks->n];
        if (!(tk[i] = strndup(s, len))) return err_set(err, PENNY_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < n_merges; i++) {
        size_t la, lb;
        const char *a = st_str(toks, (uint32_t)(merges[i] >> 32), &la);
        const char *b = st_str(toks, (uint32_t)(merges[i] & 0xFFFFFFFF), &lb);
        if (!(mg[i] = malloc(la + lb + 2))) return err_set(err, PENNY_ERR_NOMEM, "out of memory");
        memcpy(mg[i], a, la);
        mg[i][la] = ' ';
        memcpy(mg[i] + la + 1, b, lb);
        mg[i][la + lb + 1] = 0;
    }
    return PENNY_OK;
}

static penny_status write_vocab(const char *path, const char *pre, char **tk, int n_tok, char **mg,
                                int n_merges, penny_error *err) {
    gguf_writer *w;
    penny_status rc = gguf_writer_new(&w, err);
    if (rc) return rc;
    int32_t *types = malloc(sizeof(int32_t) * (size_t)n_tok);
    if (!types) {
        gguf_writer_free(w);
        return err_set(err, PENNY_ERR_NOMEM, "out of memory");
    }
    int base = n_tok - 5;
    for (int i = 0; i < n_tok; i++) types[i] = i < base ? 1 : 3; /* normal, control */
    gguf_writer_set_str(w, "general.name", "penny byte-level BPE tokenizer");
    gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2");
    gguf_writer_set_str(w, "tokenizer.ggml.pre", pre);
    gguf_writer_set_str_arr(w, "tokenizer.ggml.tokens", (const char *const *)tk, (uint64_t)n_tok);
    gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_I32, types, (uint64_t)n_tok);
    gguf_writer_set_str_arr(w, "tokenizer.ggml.merges", (const char *const *)mg,
                            (uint64_t)n_merges);
    gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)base);
    gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)base);
    gguf_writer_set_u32(w, "tokenizer.ggml.eot_token_id", (uint32_t)base + 4);
    gguf_writer_set_u32(w, "tokenizer.ggml.padding_token_id", (uint32_t)base);
    gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", true);
    gguf_writer_set_bool(w, "tokenizer.ggml.add_eos_token", false);
    gguf_writer_set_str(w, "tokenizer.chat_template", tr_chat_template);
    rc = gguf_writer_save(w, path, err);
    gguf_writer_free(w);
    free(types);
    return rc;
}

static penny_status compile(const char *pre, pcre2_code **re, penny_error *err) {
    const char *pat = !strcmp(pre, "gpt2")        ? SPLIT_GPT2
                      : !strcmp(pre, "llama-bpe") ? SPLIT_LLAMA3
                                                  : NULL;
    if (!pat)
        return err_set(err, PENNY_ERR_ARG,
                       "train-tokenizer: unknown pre-tokenizer '%s' (gpt2, llama-bpe)", pre);
    int code;
    PCRE2_SIZE at;
    *re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED,
                        PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &code, &at, NULL);
    if (!*re) return err_set(err, PENNY_ERR_UNSUPPORTED, "train-tokenizer: PCRE2 error %d", code);
    pcre2_jit_compile(*re, PCRE2_JIT_COMPLETE);
    return PENNY_OK;
}

penny_status tr_bpe_train(int vocab_size, const char *pre, const char *const *files, int n_files,
                          const char *out_path, tr_bpe_stats *stats, penny_error *err) {
    if (!pre) pre = "llama-bpe";
    if (vocab_size < 256 + 5 || vocab_size > (1 << 22))
        return err_set(err, PENNY_ERR_ARG,
                       "train-tokenizer: vocabulary size %d is out of range (%d..%d)", vocab_size,
                       256 + 5, 1 << 22);
    if (n_files < 1) return err_set(err, PENNY_ERR_ARG, "train-tokenizer: no input files");
    trainer t = {0};
    strtab toks = {0};
    pcre2_code *re = NULL;
    uint64_t *merges = NULL;
    char **tk = NULL, **mg = NULL;
    int n_merges = 0;
    tr_bpe_stats st = {0};
    penny_status rc = compile(pre, &re, err);
    for (int f = 0; f < n_files && !rc; f++) {
        char *buf = NULL;
        size_t len = 0;
        rc = read_file(files[f], &buf, &len, err);
        if (!rc) rc = count_words(re, buf, len, &t.words, &st.words, err);
        st.bytes += (long long)len;
        free(buf);
    }
    if (!rc) rc = init_vocab(&toks, err);
    if (!rc) rc = setup_words(&t, err);
    if (!rc) rc = learn(&t, &toks, &merges, &n_merges, vocab_size - 5, err);
    if (!rc) rc = make_strings(&toks, merges, n_merges, &tk, &mg, err);
    if (!rc) rc = write_vocab(out_path, pre, tk, (int)toks.n + 5, mg, n_merges, err);
    st.unique_words = t.words.n;
    st.merges = n_merges;
    st.vocab = (int)toks.n + 5;
    if (stats) *stats = st;
    for (uint32_t i = 0; tk && i < toks.n + 5; i++) free(tk[i]);
    for (int i = 0; mg && i < n_merges; i++) free(mg[i]);
    free(tk);
    free(mg);
    free(merges);
    st_free(&toks);
    trainer_free(&t);
    pcre2_code_free(re);
    return rc;
}
