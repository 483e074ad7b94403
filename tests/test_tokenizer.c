/*
 * test_tokenizer.c - the tokenizer against known ids, hand-computed cases,
 * malformed vocabularies and the streaming detokenizer.
 *
 * Real vocabularies (../shared/models, skipped when absent): stories260K
 * (512-token SentencePiece) must give llama.cpp's ids for "Once upon a
 * time"; the Llama-2 vocabulary gives ids checked against llama-tokenizer-js
 * (tests/test_tokenizer_npm.sh compares ~530 more texts). Round trip: for
 * SentencePiece with add_space_prefix, the concatenated pieces of
 * encode(text) equal " " + text exactly (the piece of the first token
 * carries the added space; BOS prints nothing), including characters that
 * only byte fallback can encode, for any text without U+2581 (which
 * SentencePiece reads as a space, so it decodes as one). For byte-level BPE the pieces equal the
 * input bytes exactly, even for invalid UTF-8.
 *
 * Small vocabularies are written with gguf_writer into a temporary
 * directory: merge order (best score / lowest rank first, ties leftmost,
 * which differs from greedy left-to-right), the pre-split, special tokens
 * on and off, and one malformed key at a time, each of which must fail
 * tok_new with a message naming the key. Timings (load, encode of ~1 MB)
 * are printed and bounded loosely, to catch quadratic behaviour.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "format/gguf.h"
#include "tokenizer/tokenizer.h"

static char g_tmp[64];

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- helpers ---- */

typedef struct vocab {
    gguf_file *g;
    tokenizer *t;
} vocab;

static void vocab_close(vocab *v) {
    tok_free(v->t);
    gguf_close(v->g);
    v->t = NULL;
    v->g = NULL;
}

static penny_status vocab_open(const char *path, vocab *v, penny_error *err) {
    *v = (vocab){0};
    penny_status rc = gguf_open(path, false, &v->g, err);
    if (!rc) rc = tok_new(v->g, &v->t, err);
    if (rc) vocab_close(v);
    return rc;
}

/* Encodes text into a fresh array (*n ids); NULL on failure. */
static int32_t *encode(const tokenizer *t, const char *text, size_t len, bool bos, bool special,
                       int *n) {
    int cap = (int)(2 * len + 2);
    int32_t *ids = malloc((size_t)cap * sizeof *ids);
    penny_error err = {0};
    if (ids && tok_encode(t, text, len, bos, special, ids, cap, n, &err)) {
        fprintf(stderr, "encode failed: %s\n", err.message);
        free(ids);
        return NULL;
    }
    return ids;
}

static void print_ids(const char *what, const int32_t *ids, int n) {
    fprintf(stderr, "  %s:", what);
    for (int i = 0; i < n; i++) fprintf(stderr, " %d", ids[i]);
    fprintf(stderr, "\n");
}

static void expect_ids(int line, const tokenizer *t, const char *text, bool bos, bool special,
                       const int32_t *want, int n_want) {
    int n = -1;
    int32_t *got = encode(t, text, strlen(text), bos, special, &n);
    bool ok = got && n == n_want && memcmp(got, want, (size_t)n * sizeof *got) == 0;
    CHECKF(ok, "line %d: ids of \"%s\" (bos %d, special %d)", line, text, bos, special);
    if (!ok && got) {
        print_ids("want", want, n_want);
        print_ids("got ", got, n);
    }
    free(got);
}

#define EXPECT_IDS(t, text, bos, special, ...)                                                     \
    do {                                                                                           \
        const int32_t want_[] = {__VA_ARGS__};                                                     \
        expect_ids(__LINE__, t, text, bos, special, want_, (int)(sizeof want_ / sizeof *want_));   \
    } while (0)

/* The concatenated pieces of ids, in a fresh NUL-terminated buffer. */
static char *decode(const tokenizer *t, const int32_t *ids, int n, size_t *len) {
    size_t cap = 16, o = 0;
    char *s = malloc(cap);
    for (int i = 0; s && i < n; i++) {
        const char *p;
        size_t k;
        tok_piece(t, ids[i], &p, &k);
        while (s && o + k + 1 > cap) {
            char *q = realloc(s, cap *= 2);
            if (!q) free(s);
            s = q;
        }
        if (s) memcpy(s + o, p, k);
        o += k;
    }
    if (s) s[o] = '\0';
    *len = o;
    return s;
}

/* encode then decode; the result must be prefix + text. */
static void check_round_trip(const tokenizer *t, const char *text, size_t len, const char *prefix) {
    int n = 0;
    size_t got_len = 0, pl = strlen(prefix);
    int32_t *ids = encode(t, text, len, true, false, &n);
    char *got = ids ? decode(t, ids, n, &got_len) : NULL;
    bool ok = got && got_len == pl + len && memcmp(got, prefix, pl) == 0 &&
              memcmp(got + pl, text, len) == 0;
    CHECKF(ok, "round trip of \"%.*s\" (%zu bytes) gave \"%s\"", (int)(len > 60 ? 60 : len), text,
           len, got ? got : "(null)");
    free(ids);
    free(got);
}

static const char *ROUND_TRIP[] = {
    "Once upon a time",
    "Hello world",
    "  two leading, two trailing  ",
    "tabs\tand\nnew\n\nlines\r\n",
    "digits 0123456789 3.14159 -42",
    "Ça va? Déjà vu — naïve café, Ærø",
    "Привет, мир! Γειά σου κόσμε",
    "日本語のテキスト、中文字符 한국어",
    "emoji 😀🤖👍🏽 family 👩‍👩‍👧‍👦 flag 🏳️‍🌈",
    "rare U+10FFFF \xF4\x8F\xBF\xBF, nbsp\xC2\xA0, zwsp\xE2\x80\x8B",
    "<s> and </s> and <unk> as plain text",
    "x",
    " ",
};

/* ---- real vocabularies ---- */

/* Appends code point c as UTF-8. */
static size_t put_utf8(char *d, unsigned c) {
    if (c < 0x80) return (size_t)(d[0] = (char)c, 1);
    if (c < 0x800) {
        d[0] = (char)(0xC0 | c >> 6);
        d[1] = (char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        d[0] = (char)(0xE0 | c >> 12);
        d[1] = (char)(0x80 | (c >> 6 & 0x3F));
        d[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    d[0] = (char)(0xF0 | c >> 18);
    d[1] = (char)(0x80 | (c >> 12 & 0x3F));
    d[2] = (char)(0x80 | (c >> 6 & 0x3F));
    d[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

/* Random code points from every plane (no NUL, surrogates or U+2581) with
 * spaces between, and random bytes without spaces (nor 0xE2), survive byte
 * fallback exactly. (Invalid bytes next to a space need not: a lead byte
 * 0xF0..0xFF swallows the three bytes of the "▁" that replaced the space,
 * and they come back as raw bytes, as in llama.cpp.) */
static void check_random_round_trips(const tokenizer *t) {
    char text[2500];
    unsigned r = 5;
    for (int trial = 0; trial < 30; trial++) {
        size_t len = 0, n = 1 + (size_t)(trial * 37 % 500);
        for (size_t i = 0; i < n; i++) {
            r = r * 1103515245u + 12345u;
            unsigned x = r >> 8;
            unsigned c = trial % 2 ? x % 0x110000 : x % 0x3000; /* often common scripts */
            if (c == 0 || c == 0x2581 || (c >= 0xD800 && c <= 0xDFFF)) c = ' ';
            unsigned b = x & 0xFF;
            if (b == ' ' || b == 0 || b == 0xE2) b = 'e';
            if (trial % 3 == 2)
                text[len++] = (char)b;
            else
                len += put_utf8(text + len, c);
            if (x % 5 == 0 && trial % 3 != 2) text[len++] = ' ';
        }
        check_round_trip(t, text, len, " ");
    }
}

static void test_stories(const char *path) {
    vocab v;
    penny_error err = {0};
    double t0 = now_s();
    CHECKF(vocab_open(path, &v, &err) == PENNY_OK, "%s", err.message);
    if (!v.t) return;
    fprintf(stderr, "stories260K: tok_new %.2f ms\n", 1e3 * (now_s() - t0));
    const tokenizer *t = v.t;
    CHECK(tok_n_vocab(t) == 512);
    CHECK(tok_bos(t) == 1 && tok_eos(t) == 2 && tok_add_bos(t));
    CHECK(tok_is_eog(t, 2) && !tok_is_eog(t, 1) && !tok_is_eog(t, -1));
    /* llama.cpp's ids (../shared/reference/stories260K.txt) */
    EXPECT_IDS(t, "Once upon a time", true, false, 1, 403, 407, 261, 378);
    EXPECT_IDS(t, "Once upon a time", false, false, 403, 407, 261, 378);
    /* byte fallback: "▁" is 410, <0xXX> is 3 + XX */
    EXPECT_IDS(t, "\xF0\x9F\x98\x80", false, false, 410, 3 + 0xF0, 3 + 0x9F, 3 + 0x98, 3 + 0x80);
    EXPECT_IDS(t, "\xE6\x97\xA5", false, false, 410, 3 + 0xE6, 3 + 0x97, 3 + 0xA5); /* 日 */
    for (size_t i = 0; i < sizeof ROUND_TRIP / sizeof *ROUND_TRIP; i++)
        check_round_trip(t, ROUND_TRIP[i], strlen(ROUND_TRIP[i]), " ");
    check_random_round_trips(t);
    /* SentencePiece is lossy for U+2581 itself: it reads as a space */
    int n = 0;
    size_t len = 0;
    int32_t *ids = encode(t,
                          "a\xE2\x96\x81"
                          "b",
                          5, false, false, &n);
    char *back = ids ? decode(t, ids, n, &len) : NULL;
    CHECK(back && strcmp(back, " a b") == 0);
    free(ids);
    free(back);
    vocab_close(&v);
}

static void test_llama2_ids(const tokenizer *t) {
    /* ids from llama-tokenizer-js, which agrees with Meta's tokenizer */
    EXPECT_IDS(t, "Hello world", true, false, 1, 15043, 3186);
    EXPECT_IDS(t, "hi", true, false, 1, 7251);
    EXPECT_IDS(t, "Hello\n\nworld", true, false, 1, 15043, 13, 13, 11526);
    EXPECT_IDS(t, "  x", true, false, 1, 259, 921);
    EXPECT_IDS(t, "x  ", true, false, 1, 921, 259);
    EXPECT_IDS(t, "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E \xF0\x9F\x98\x80", true, false, 1, 29871,
               30325, 30346, 30968, 29871, 243, 162, 155, 131);
    /* special tokens: plain text unless parse_special */
    EXPECT_IDS(t, "<s>hi</s>", true, false, 1, 529, 29879, 29958, 2918, 829, 29879, 29958);
    EXPECT_IDS(t, "<s>hi</s>", false, true, 1, 7251, 2);
    /* the "▁" prefix goes on every fragment after a special token */
    EXPECT_IDS(t, "A<unk>B</s>", false, true, 319, 0, 350, 2);
    /* empty text: BOS alone, or nothing */
    EXPECT_IDS(t, "", true, false, 1);
    int n = -1;
    penny_error err = {0};
    CHECK(tok_encode(t, "", 0, false, false, NULL, 0, &n, &err) == PENNY_OK && n == 0);
    /* too small a buffer: PENNY_ERR_RANGE with the count needed */
    int32_t small[2] = {-7, -7};
    CHECK(tok_encode(t, "Hello world", 11, true, false, small, 2, &n, &err) == PENNY_ERR_RANGE);
    CHECK(n == 3 && small[0] == 1 && small[1] == 15043);
    CHECK(tok_encode(t, NULL, 5, true, false, small, 2, &n, &err) == PENNY_ERR_ARG);
}

static void test_llama2_pieces(const tokenizer *t) {
    const char *p;
    size_t n;
    tok_piece(t, 15043, &p, &n);
    CHECK(n == 6 && memcmp(p, " Hello", 6) == 0);
    tok_piece(t, 13, &p, &n); /* <0x0A> */
    CHECK(n == 1 && p[0] == '\n');
    tok_piece(t, 1, &p, &n); /* <s>: control */
    CHECK(n == 0);
    tok_piece(t, 0, &p, &n); /* <unk> prints its text, as in llama.cpp */
    CHECK(n == 5 && memcmp(p, "<unk>", 5) == 0);
    tok_piece(t, 29871, &p, &n); /* "▁" */
    CHECK(n == 1 && p[0] == ' ');
    tok_piece(t, 32000, &p, &n);
    CHECK(n == 0);
}

/* Generated-text shapes: ~1 MB of mixed prose, and 200k of one letter
 * (every pair ties). Bounds are loose: a quadratic encoder takes minutes. */
static void test_llama2_speed(const tokenizer *t) {
    size_t len = 1 << 20, i = 0;
    char *text = malloc(len + 1);
    if (!text) return;
    const char *words[] = {"the ", "quick ", "brown ", "fox ", "jumps\n", "日本 ", "😀 ", "42 "};
    for (unsigned r = 7; i < len;) {
        r = r * 1103515245u + 12345u;
        const char *w = words[(r >> 16) % 8];
        size_t k = strlen(w);
        if (i + k > len) k = len - i;
        memcpy(text + i, w, k);
        i += k;
    }
    double t0 = now_s();
    int n = 0;
    int32_t *ids = encode(t, text, len, true, false, &n);
    double dt = now_s() - t0;
    fprintf(stderr, "llama-2: encode 1 MiB of text in %.3f s (%d tokens)\n", dt, n);
    CHECK(ids && n > 100000 && dt < 20);
    free(ids);
    memset(text, 'a', 200000);
    t0 = now_s();
    ids = encode(t, text, 200000, false, false, &n);
    dt = now_s() - t0;
    fprintf(stderr, "llama-2: encode 200k 'a' in %.3f s (%d tokens)\n", dt, n);
    CHECK(ids && n > 0 && dt < 20);
    free(ids);
    free(text);
}

static void test_stream(const tokenizer *t) {
    tok_stream *s = NULL;
    penny_error err = {0};
    CHECK(tok_stream_new(t, &s, &err) == PENNY_OK);
    if (!s) return;
    /* 😀 = F0 9F 98 80 as four byte tokens (<0xXX> is 3 + XX) */
    CHECK(strcmp(tok_stream_push(s, 3 + 0xF0), "") == 0);
    CHECK(strcmp(tok_stream_push(s, 3 + 0x9F), "") == 0);
    CHECK(strcmp(tok_stream_push(s, 3 + 0x98), "") == 0);
    CHECK(strcmp(tok_stream_push(s, 3 + 0x80), "\xF0\x9F\x98\x80") == 0);
    CHECK(strcmp(tok_stream_push(s, 15043), " Hello") == 0);
    CHECK(strcmp(tok_stream_push(s, 1), "") == 0); /* control */
    /* a stray continuation byte */
    CHECK(strcmp(tok_stream_push(s, 3 + 0x80), "\xEF\xBF\xBD") == 0);
    /* a held sequence interrupted by a token that cannot continue it */
    CHECK(strcmp(tok_stream_push(s, 3 + 0xE6), "") == 0);
    CHECK(strcmp(tok_stream_push(s, 15043), "\xEF\xBF\xBD Hello") == 0);
    /* overlong E0 80: two maximal invalid subparts */
    CHECK(strcmp(tok_stream_push(s, 3 + 0xE0), "") == 0);
    CHECK(strcmp(tok_stream_push(s, 3 + 0x80), "\xEF\xBF\xBD\xEF\xBF\xBD") == 0);
    /* invalid lead bytes never wait */
    CHECK(strcmp(tok_stream_push(s, 3 + 0xFF), "\xEF\xBF\xBD") == 0);
    CHECK(strcmp(tok_stream_push(s, 3 + 0xC0), "\xEF\xBF\xBD") == 0);
    /* flush: an incomplete tail becomes U+FFFD, then the stream is empty */
    CHECK(strcmp(tok_stream_push(s, 3 + 0xF0), "") == 0);
    CHECK(strcmp(tok_stream_push(s, 3 + 0x9F), "") == 0);
    CHECK(strcmp(tok_stream_flush(s), "\xEF\xBF\xBD") == 0);
    CHECK(strcmp(tok_stream_flush(s), "") == 0);
    /* the 2-byte ñ split over two pushes, then a token after it */
    CHECK(strcmp(tok_stream_push(s, 3 + 0xC3), "") == 0);
    CHECK(strcmp(tok_stream_push(s, 3 + 0xB1), "\xC3\xB1") == 0);
    CHECK(strcmp(tok_stream_push(s, -5), "") == 0); /* out of range: nothing */
    tok_stream_free(s);
    tok_stream_free(NULL);
}

static void test_llama2(const char *path) {
    vocab v;
    penny_error err = {0};
    double t0 = now_s();
    CHECKF(vocab_open(path, &v, &err) == PENNY_OK, "%s", err.message);
    if (!v.t) return;
    double dt = now_s() - t0;
    fprintf(stderr, "llama-2: open + tok_new (32000 tokens) %.2f ms\n", 1e3 * dt);
    CHECK(dt < 2.0);
    CHECK(tok_n_vocab(v.t) == 32000 && tok_add_bos(v.t) && tok_bos(v.t) == 1);
    test_llama2_ids(v.t);
    test_llama2_pieces(v.t);
    test_stream(v.t);
    for (size_t i = 0; i < sizeof ROUND_TRIP / sizeof *ROUND_TRIP; i++)
        check_round_trip(v.t, ROUND_TRIP[i], strlen(ROUND_TRIP[i]), " ");
    check_random_round_trips(v.t);
    test_llama2_speed(v.t);
    vocab_close(&v);
}

/* ---- small vocabularies written for the test ---- */

typedef void (*build_fn)(gguf_writer *w, const char *skip);

static bool want_key(const char *skip, const char *key) { return !skip || strcmp(skip, key); }

/* Writes base (minus key skip) plus tweak into a temporary file and loads
 * it. Returns tok_new's status; v is empty on failure. */
static penny_status build(const char *name, build_fn base, const char *skip,
                          void (*tweak)(gguf_writer *w), vocab *v, penny_error *err) {
    char path[128];
    snprintf(path, sizeof path, "%s/%s.gguf", g_tmp, name);
    gguf_writer *w = NULL;
    penny_status rc = gguf_writer_new(&w, err);
    if (rc) return rc;
    base(w, skip);
    if (tweak) tweak(w);
    rc = gguf_writer_save(w, path, err);
    gguf_writer_free(w);
    if (rc) {
        fprintf(stderr, "cannot write %s: %s\n", path, err->message);
        return PENNY_ERR_IO;
    }
    rc = vocab_open(path, v, err);
    unlink(path);
    return rc;
}

/* SentencePiece: no add_space_prefix, so merges are easy to follow. */
enum { S_UNK, S_BOS, S_EOS, S_SP, S_A, S_B, S_C, S_AB, S_BC, S_AA, S_X41, S_TOOL, S_CTL, S_SPA };
#define SP "\xE2\x96\x81" /* U+2581 */
static const char *SPM_TOK[] = {"<unk>", "<s>", "</s>", SP,       "a",      "b",     "c",
                                "ab",    "bc",  "aa",   "<0x41>", "<tool>", "<ctl>", SP "a"};
#define N_SPM ((int)(sizeof SPM_TOK / sizeof *SPM_TOK))
static const float SPM_SCORE[N_SPM] = {0, 0, 0, -4, -5, -5, -5, -1, -0.5f, -2, 0, 0, 0, -3};
static const int32_t SPM_TYPE[N_SPM] = {2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 6, 4, 3, 1};

static void spm_base(gguf_writer *w, const char *skip) {
    if (want_key(skip, "tokenizer.ggml.model"))
        gguf_writer_set_str(w, "tokenizer.ggml.model", "llama");
    if (want_key(skip, "tokenizer.ggml.tokens"))
        gguf_writer_set_str_arr(w, "tokenizer.ggml.tokens", SPM_TOK, N_SPM);
    if (want_key(skip, "tokenizer.ggml.scores"))
        gguf_writer_set_arr(w, "tokenizer.ggml.scores", GGUF_F32, SPM_SCORE, N_SPM);
    if (want_key(skip, "tokenizer.ggml.token_type"))
        gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_I32, SPM_TYPE, N_SPM);
    if (want_key(skip, "tokenizer.ggml.add_space_prefix"))
        gguf_writer_set_bool(w, "tokenizer.ggml.add_space_prefix", false);
    gguf_writer_set_u32(w, "tokenizer.ggml.padding_token_id", UINT32_MAX); /* none */
}

static void spm_swap_scores(gguf_writer *w) {
    float s[N_SPM];
    memcpy(s, SPM_SCORE, sizeof s);
    s[S_AB] = -0.5f;
    s[S_BC] = -1;
    gguf_writer_set_arr(w, "tokenizer.ggml.scores", GGUF_F32, s, N_SPM);
}

static void test_spm_small(void) {
    vocab v;
    penny_error err = {0};
    CHECKF(build("spm", spm_base, NULL, NULL, &v, &err) == PENNY_OK, "%s", err.message);
    if (!v.t) return;
    const tokenizer *t = v.t;
    CHECK(tok_add_bos(t) && tok_bos(t) == S_BOS && tok_eos(t) == S_EOS); /* SPM defaults */
    EXPECT_IDS(t, "abc", false, false, S_A, S_BC); /* "bc" scores higher than "ab" */
    EXPECT_IDS(t, "aaa", false, false, S_AA, S_A); /* equal scores: leftmost first */
    EXPECT_IDS(t, "abab", true, false, S_BOS, S_AB, S_AB);
    EXPECT_IDS(t, "A", false, false, S_X41); /* byte fallback <0x41> */
    EXPECT_IDS(t, "z", false, false, S_UNK); /* no <0x7A>: unknown */
    EXPECT_IDS(t, "a b", false, false, S_A, S_SP, S_B);
    /* user-defined tokens split always, control tokens only when asked */
    EXPECT_IDS(t, "<tool>c<ctl>", false, false, S_TOOL, S_C, S_UNK, S_C, S_UNK, S_UNK, S_UNK);
    EXPECT_IDS(t, "<tool>c<ctl>", false, true, S_TOOL, S_C, S_CTL);
    const char *p;
    size_t n;
    tok_piece(t, S_TOOL, &p, &n);
    CHECK(n == 6 && memcmp(p, "<tool>", 6) == 0);
    tok_piece(t, S_X41, &p, &n);
    CHECK(n == 1 && p[0] == 'A');
    vocab_close(&v);

    CHECKF(build("spm2", spm_base, NULL, spm_swap_scores, &v, &err) == PENNY_OK, "%s", err.message);
    if (v.t) EXPECT_IDS(v.t, "abc", false, false, S_AB, S_C);
    vocab_close(&v);

    /* add_space_prefix absent: defaults to true; "▁" on each fragment
     * that starts the text or follows a special token */
    CHECKF(build("spm3", spm_base, "tokenizer.ggml.add_space_prefix", NULL, &v, &err) == PENNY_OK,
           "%s", err.message);
    if (v.t) {
        EXPECT_IDS(v.t, "a", true, false, S_BOS, S_SPA);
        EXPECT_IDS(v.t, "a<ctl>a", false, true, S_SPA, S_CTL, S_SPA);
        EXPECT_IDS(v.t, "<ctl>", false, true, S_CTL);
    }
    vocab_close(&v);
}

/* ---- byte-level BPE ---- */

/* GPT-2's byte -> code point table, written from its definition. */
static int byte_cp(int b) {
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)) return b;
    int n = 0;
    for (int i = 0; i < b; i++)
        n += !((i >= 33 && i <= 126) || (i >= 161 && i <= 172) || (i >= 174 && i <= 255));
    return 256 + n;
}

enum { B_BC = 256, B_AB, B_GW, B_OR, B_LD, B_GWOR, B_GWORLD, B_HE, B_LL, B_HELL, B_HELLO };
enum { B_12 = 267, B_123, B_1234, B_G1, B_XYZ, B_EOT, B_NQ, B_N };
static const char *BPE_EXTRA[] = {
    "bc",    "ab", "Ġw",  "or",   "ld", "Ġwor", "Ġworld",        "he", "ll", "hell",
    "hello", "12", "123", "1234", "Ġ1", "xyz",  "<|endoftext|>", "n'"};
static const char *BPE_MERGES[] = {"b c",     "a b",   "Ġ w", "o r",   "Ġw or",  "l d",
                                   "Ġwor ld", "h e",   "l l", "he ll", "hell o", "1 2",
                                   "12 3",    "123 4", "Ġ 1", "n '"};
#define N_MERGES ((int)(sizeof BPE_MERGES / sizeof *BPE_MERGES))

static char g_bytes[256][4];
static const char *g_bpe_tok[B_N];
static int32_t g_bpe_type[B_N];

static void bpe_base(gguf_writer *w, const char *skip) {
    for (int b = 0; b < 256; b++) {
        int cp = byte_cp(b);
        if (cp < 0x80)
            g_bytes[b][0] = (char)cp;
        else {
            g_bytes[b][0] = (char)(0xC0 | (cp >> 6));
            g_bytes[b][1] = (char)(0x80 | (cp & 0x3F));
        }
        g_bpe_tok[b] = g_bytes[b];
    }
    for (int i = 256; i < B_N; i++) g_bpe_tok[i] = BPE_EXTRA[i - 256];
    for (int i = 0; i < B_N; i++) g_bpe_type[i] = i == B_EOT ? 3 : 1;
    if (want_key(skip, "tokenizer.ggml.model"))
        gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2");
    gguf_writer_set_str_arr(w, "tokenizer.ggml.tokens", g_bpe_tok, B_N);
    gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_I32, g_bpe_type, B_N);
    if (want_key(skip, "tokenizer.ggml.merges"))
        gguf_writer_set_str_arr(w, "tokenizer.ggml.merges", BPE_MERGES, N_MERGES);
    gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", B_EOT);
    if (want_key(skip, "tokenizer.ggml.pre")) gguf_writer_set_str(w, "tokenizer.ggml.pre", "gpt2");
}

static void bpe_llama3(gguf_writer *w) {
    gguf_writer_set_str(w, "tokenizer.ggml.pre", "llama-bpe");
}
static void bpe_unknown_pre(gguf_writer *w) {
    gguf_writer_set_str(w, "tokenizer.ggml.pre", "no-such-family");
}

static void test_bpe_gpt2(const tokenizer *t) {
    CHECK(!tok_add_bos(t) && tok_bos(t) == -1 && tok_eos(t) == B_EOT && tok_is_eog(t, B_EOT));
    /* rank order: "b c" (0) before "a b" (1); greedy left-to-right gives ab c */
    EXPECT_IDS(t, "abc", false, false, 'a', B_BC);
    /* pre-split keeps the space with " world" */
    EXPECT_IDS(t, "hello world", false, false, B_HELLO, B_GWORLD);
    EXPECT_IDS(t, "helloworld", false, false, B_HELLO, 'w', B_OR, B_LD);
    /* "don" | "'t": the merge "n '" cannot cross the split */
    EXPECT_IDS(t, "don't", false, false, 'd', 'o', 'n', '\'', 't');
    EXPECT_IDS(t, "n'", false, false, 'n', '\'');
    /* " 12345" is one word; "1 2" (rank 11) beats "Ġ 1" (rank 14) */
    EXPECT_IDS(t, " 12345", false, false, ' ', B_1234, '5');
    /* bytes of é (C3 A9) are tokens 0xC3, 0xA9 */
    EXPECT_IDS(t, "\xC3\xA9", false, false, 0xC3, 0xA9);
    EXPECT_IDS(t, "xyz", false, false, 'x', 'y', 'z');
    EXPECT_IDS(t, "<|endoftext|>", false, true, B_EOT);
    EXPECT_IDS(t, "<|endoftext|>", false, false, '<', '|', 'e', 'n', 'd', 'o', 'f', 't', 'e', 'x',
               't', '|', '>');
    const char *p;
    size_t n;
    tok_piece(t, B_GW, &p, &n);
    CHECK(n == 2 && memcmp(p, " w", 2) == 0);
    tok_piece(t, 0x0A, &p, &n);
    CHECK(n == 1 && p[0] == '\n');
    tok_piece(t, B_EOT, &p, &n);
    CHECK(n == 0);
}

/* Every byte string, valid UTF-8 or not, comes back exactly. */
static void test_bpe_round_trip(const tokenizer *t) {
    static const char alpha[] = "ab c\n12 he'llo\xC3\xA9"; /* 16 bytes */
    char text[2048];
    unsigned r = 99;
    for (int trial = 0; trial < 20; trial++) {
        size_t len = 1 + (size_t)(trial * 97 % 2000);
        for (size_t i = 0; i < len; i++) {
            r = r * 1103515245u + 12345u;
            unsigned x = r >> 16;
            text[i] = trial % 2 ? (char)(x & 0xFF) : alpha[x % 16];
        }
        check_round_trip(t, text, len, "");
    }
    for (size_t i = 0; i < sizeof ROUND_TRIP / sizeof *ROUND_TRIP; i++)
        check_round_trip(t, ROUND_TRIP[i], strlen(ROUND_TRIP[i]), "");
}

/* 100k spaces: the split pattern must not exhaust PCRE2's stack. */
static void test_bpe_spaces(const tokenizer *t) {
    size_t len = 100001;
    char *text = malloc(len);
    if (!text) return;
    memset(text, ' ', len);
    text[len - 1] = 'x';
    int n = 0;
    int32_t *ids = encode(t, text, len, false, false, &n);
    /* 99999 spaces, then " x" (the last space goes with the letter) */
    CHECK(ids && n == 100001 && ids[0] == ' ' && ids[n - 2] == ' ' && ids[n - 1] == 'x');
    free(ids);
    free(text);
}

/* ~1 MiB of mixed text through the PCRE2 pre-split and the merges. */
static void test_bpe_speed(const tokenizer *t) {
    size_t len = 1 << 20, i = 0;
    char *text = malloc(len);
    if (!text) return;
    const char *words[] = {"hello ", "world", "'s ", "12345 ", "\xC3\xA9t\xC3\xA9 ",
                           "\n\n",   "xyz!",  "  "};
    for (unsigned r = 3; i < len;) {
        r = r * 1103515245u + 12345u;
        const char *w = words[(r >> 16) % 8];
        size_t k = strlen(w);
        if (i + k > len) k = len - i;
        memcpy(text + i, w, k);
        i += k;
    }
    double t0 = now_s();
    int n = 0;
    int32_t *ids = encode(t, text, len, false, false, &n);
    double dt = now_s() - t0;
    fprintf(stderr, "bpe: encode 1 MiB of text in %.3f s (%d tokens)\n", dt, n);
    CHECK(ids && n > 100000 && dt < 20);
    free(ids);
    free(text);
}

static void test_bpe(void) {
    vocab v;
    penny_error err = {0};
    CHECKF(build("bpe", bpe_base, NULL, NULL, &v, &err) == PENNY_OK, "%s", err.message);
    if (v.t) {
        test_bpe_gpt2(v.t);
        test_bpe_round_trip(v.t);
        test_bpe_spaces(v.t);
        test_bpe_speed(v.t);
    }
    vocab_close(&v);

    CHECKF(build("bpe3", bpe_base, NULL, bpe_llama3, &v, &err) == PENNY_OK, "%s", err.message);
    if (v.t) {
        /* Llama 3 splits digits in threes and spaces off them */
        EXPECT_IDS(v.t, " 12345", false, false, ' ', B_123, '4', '5');
        /* and looks whole words up before merging */
        EXPECT_IDS(v.t, "xyz", false, false, B_XYZ);
        EXPECT_IDS(v.t, "hello world", false, false, B_HELLO, B_GWORLD);
        test_bpe_round_trip(v.t);
    }
    vocab_close(&v);

    /* an unknown pre-tokenizer falls back to GPT-2's */
    CHECKF(build("bpe4", bpe_base, NULL, bpe_unknown_pre, &v, &err) == PENNY_OK, "%s", err.message);
    if (v.t) EXPECT_IDS(v.t, " 12345", false, false, ' ', B_1234, '5');
    vocab_close(&v);
}

/* ---- malformed metadata ---- */

static void tw_scores_short(gguf_writer *w) {
    gguf_writer_set_arr(w, "tokenizer.ggml.scores", GGUF_F32, SPM_SCORE, N_SPM - 1);
}
static void tw_bos_range(gguf_writer *w) {
    gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", N_SPM);
}
static void tw_model_bert(gguf_writer *w) {
    gguf_writer_set_str(w, "tokenizer.ggml.model", "bert");
}
static void tw_type_bad(gguf_writer *w) {
    int32_t ty[N_SPM];
    memcpy(ty, SPM_TYPE, sizeof ty);
    ty[5] = 9;
    gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_I32, ty, N_SPM);
}
static void tw_token_utf8(gguf_writer *w) {
    const char *tok[N_SPM];
    memcpy(tok, SPM_TOK, sizeof tok);
    tok[5] = "b\xFF";
    gguf_writer_set_str_arr(w, "tokenizer.ggml.tokens", tok, N_SPM);
}
static void tw_tokens_u32(gguf_writer *w) {
    gguf_writer_set_arr(w, "tokenizer.ggml.tokens", GGUF_I32, SPM_TYPE, N_SPM);
}
static void tw_byte_type(gguf_writer *w) {
    int32_t ty[N_SPM];
    memcpy(ty, SPM_TYPE, sizeof ty);
    ty[S_AB] = 6; /* "ab" is not <0xXX> */
    gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_I32, ty, N_SPM);
}
static void tw_eos_str(gguf_writer *w) {
    gguf_writer_set_str(w, "tokenizer.ggml.eos_token_id", "2");
}
static void tw_scores_str(gguf_writer *w) {
    gguf_writer_set_str_arr(w, "tokenizer.ggml.scores", SPM_TOK, N_SPM);
}
static void tw_merge_nospace(gguf_writer *w) {
    const char *m[] = {"b c", "abc"};
    gguf_writer_set_str_arr(w, "tokenizer.ggml.merges", m, 2);
}

typedef struct bad_case {
    const char *name;
    build_fn base;
    const char *skip;
    void (*tweak)(gguf_writer *w);
    penny_status want;
    const char *in_message;
} bad_case;

static const bad_case BAD[] = {
    {"scores_short", spm_base, NULL, tw_scores_short, PENNY_ERR_FORMAT, "tokenizer.ggml.scores"},
    {"bos_range", spm_base, NULL, tw_bos_range, PENNY_ERR_FORMAT, "bos_token_id"},
    {"model_bert", spm_base, NULL, tw_model_bert, PENNY_ERR_UNSUPPORTED, "\"bert\""},
    {"no_model", spm_base, "tokenizer.ggml.model", NULL, PENNY_ERR_FORMAT, "tokenizer.ggml.model"},
    {"no_tokens", spm_base, "tokenizer.ggml.tokens", NULL, PENNY_ERR_FORMAT,
     "tokenizer.ggml.tokens"},
    {"type_bad", spm_base, NULL, tw_type_bad, PENNY_ERR_FORMAT, "token_type"},
    {"token_utf8", spm_base, NULL, tw_token_utf8, PENNY_ERR_FORMAT, "tokenizer.ggml.tokens"},
    {"tokens_u32", spm_base, NULL, tw_tokens_u32, PENNY_ERR_FORMAT, "tokenizer.ggml.tokens"},
    {"byte_type", spm_base, NULL, tw_byte_type, PENNY_ERR_FORMAT, "token_type"},
    {"eos_str", spm_base, NULL, tw_eos_str, PENNY_ERR_FORMAT, "eos_token_id"},
    {"scores_str", spm_base, NULL, tw_scores_str, PENNY_ERR_FORMAT, "tokenizer.ggml.scores"},
    {"no_merges", bpe_base, "tokenizer.ggml.merges", NULL, PENNY_ERR_FORMAT, "merges"},
    {"merge_nospace", bpe_base, NULL, tw_merge_nospace, PENNY_ERR_FORMAT, "merges"},
};

static void test_malformed(void) {
    for (size_t i = 0; i < sizeof BAD / sizeof *BAD; i++) {
        const bad_case *c = &BAD[i];
        vocab v;
        penny_error err = {0};
        penny_status rc = build(c->name, c->base, c->skip, c->tweak, &v, &err);
        CHECKF(rc == c->want && !v.t && strstr(err.message, c->in_message),
               "%s: status %d, message \"%s\"", c->name, (int)rc, err.message);
        CHECKF(strstr(err.message, g_tmp) != NULL, "%s: message lacks the file name: %s", c->name,
               err.message);
        vocab_close(&v);
    }
}

int main(void) {
    snprintf(g_tmp, sizeof g_tmp, "/tmp/penny_tok_XXXXXX");
    if (!mkdtemp(g_tmp)) {
        perror("mkdtemp");
        return 1;
    }
    char buf[512];
    const char *stories = check_shared("models/stories260K.gguf", buf, sizeof buf);
    if (stories)
        test_stories(stories);
    else
        fprintf(stderr, "SKIP: stories260K.gguf not found (PENNY_SHARED)\n");
    const char *llama2 = check_shared("models/llama-2-tiny-random.gguf", buf, sizeof buf);
    if (llama2)
        test_llama2(llama2);
    else
        fprintf(stderr, "SKIP: llama-2-tiny-random.gguf not found (PENNY_SHARED)\n");
    test_spm_small();
    test_bpe();
    test_malformed();
    rmdir(g_tmp);
    return check_done("test_tokenizer");
}
