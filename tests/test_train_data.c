/*
 * test_train_data.c - the data side of training: BPE training (determinism,
 * special tokens, round trips through penny's tokenizer, including invalid
 * UTF-8), text and chat JSONL preparation (layout and loss mask, JSON
 * escapes, clear errors with line numbers), token files (refused when
 * malformed), and the loader (held-out split, every training sequence once
 * per epoch, order fixed by the seed).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "format/gguf.h"
#include "tokenizer/tokenizer.h"
#include "train/bpe_train.h"
#include "train/data.h"

static char dir[] = "/tmp/penny_data_XXXXXX";
/* Names stay valid for the next 64 calls. */
static char *path(const char *name) {
    static char buf[64][512];
    static int k;
    char *b = buf[k++ % 64];
    snprintf(b, 512, "%s/%s", dir, name);
    return b;
}

static void write_file(const char *p, const char *text) {
    FILE *f = fopen(p, "wb");
    fputs(text, f);
    fclose(f);
}

static char *read_all(const char *p, size_t *n) {
    FILE *f = fopen(p, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc(*n + 1);
    if (fread(b, 1, *n, f) != *n) *n = 0;
    fclose(f);
    return b;
}

static void make_corpus(const char *p) {
    FILE *f = fopen(p, "w");
    const char *w[] = {"In",    "the",   "beginning", "was",    "the",  "word", "and", "light",
                       "12345", "naïve", "über",      "日本語", "it's", "—",    "\t",  "\n"};
    unsigned s = 9;
    for (int i = 0; i < 6000; i++) {
        s = s * 1103515245u + 12345u;
        fprintf(f, "%s ", w[(s >> 16) % 16]);
    }
    fclose(f);
}

static void test_bpe(void) {
    const char *files[1] = {path("corpus.txt")};
    make_corpus(files[0]);
    penny_error err;
    tr_bpe_stats st;
    CHECK(tr_bpe_train(320, NULL, files, 1, path("tok.gguf"), &st, &err) == PENNY_OK);
    CHECK(tr_bpe_train(320, NULL, files, 1, path("tok2.gguf"), NULL, &err) == PENNY_OK);
    CHECK(st.vocab == 320 && st.merges >= 59 && st.bytes > 10000);
    size_t n1, n2;
    char *a = read_all(path("tok.gguf"), &n1), *b = read_all(path("tok2.gguf"), &n2);
    CHECK(a && b && n1 == n2 && memcmp(a, b, n1) == 0); /* deterministic */
    free(a), free(b);
    CHECK(tr_bpe_train(100, NULL, files, 1, path("x.gguf"), NULL, &err) == PENNY_ERR_ARG);
    CHECK(tr_bpe_train(300, "nope", files, 1, path("x.gguf"), NULL, &err) == PENNY_ERR_ARG);
    const char *missing[1] = {path("missing.txt")};
    CHECK(tr_bpe_train(300, NULL, missing, 1, path("x.gguf"), NULL, &err) == PENNY_ERR_IO);
    CHECK(strstr(err.message, "missing.txt") != NULL);

    gguf_file *g;
    tokenizer *t;
    CHECK(gguf_open(path("tok.gguf"), false, &g, &err) == PENNY_OK);
    CHECK(tok_new(g, &t, &err) == PENNY_OK);
    CHECK(tok_n_vocab(t) == 320 && tok_bos(t) == 315 && tok_eot(t) == 319);
    const char text[] = "the beginning of naïve über-light \xff\xfe 日本語 it's 12345\n\tok";
    int32_t ids[256];
    int n = 0;
    CHECK(tok_encode(t, text, sizeof text - 1, false, false, ids, 256, &n, &err) == PENNY_OK);
    CHECK(n > 5 && n < (int)sizeof text - 10); /* merges apply */
    char out[512];
    size_t o = 0;
    for (int i = 0; i < n; i++) {
        const char *p;
        size_t l;
        tok_piece(t, ids[i], &p, &l);
        memcpy(out + o, p, l);
        o += l;
    }
    CHECK(o == sizeof text - 1 && memcmp(out, text, o) == 0); /* byte-exact round trip */
    const char chat[] = "<|user|>hi<|end|>";
    CHECK(tok_encode(t, chat, sizeof chat - 1, false, true, ids, 256, &n, &err) == PENNY_OK);
    CHECK(n >= 3 && ids[0] == 317 && ids[n - 1] == 319);
    tok_free(t);
    gguf_close(g);
}

static long long shard_tokens(const char *p, int32_t *tok, uint8_t *mask, long long cap) {
    size_t n;
    unsigned char *b = (unsigned char *)read_all(p, &n);
    if (!b || n < 32) return -1;
    long long count;
    memcpy(&count, b + 24, 8);
    int width = b[12], has_mask = b[16];
    for (long long i = 0; i < count && i < cap; i++) {
        tok[i] = width == 2 ? b[32 + 2 * i] | b[33 + 2 * i] << 8 : 0;
        mask[i] = has_mask ? b[32 + width * count + i] : 1;
    }
    free(b);
    return count;
}

static void test_prepare(void) {
    penny_error err;
    tr_data_stats st;
    const char *files[2] = {path("corpus.txt"), path("corpus.txt")};
    CHECK(tr_data_prepare(path("tok.gguf"), files, 2, false, path("text.tok"), &st, &err) ==
          PENNY_OK);
    CHECK(st.docs == 2 && st.tokens > 100);
    static int32_t tok[100000];
    static uint8_t mask[100000];
    CHECK(shard_tokens(path("text.tok"), tok, mask, 100000) == st.tokens);
    CHECK(tok[0] == 315 && tok[st.tokens / 2] == 315); /* BOS opens both documents */

    write_file(
        path("chat.jsonl"),
        "{\"messages\":[{\"role\":\"user\",\"content\":\"the\"},"
        "{\"role\":\"assistant\",\"content\":\"word \\u00e9\\ud83d\\ude00\",\"x\":[1,{}]}]}\n"
        "\n  {\"id\": 3, \"messages\": [{\"content\": \"light\", \"role\": \"system\"}]}\n");
    const char *chat[1] = {path("chat.jsonl")};
    CHECK(tr_data_prepare(path("tok.gguf"), chat, 1, true, path("chat.tok"), &st, &err) ==
          PENNY_OK);
    CHECK(st.docs == 2);
    long long n = shard_tokens(path("chat.tok"), tok, mask, 100000);
    /* BOS <|user|> the <|end|> <|assistant|> word é😀... <|end|> BOS <|system|> light <|end|> */
    CHECK(n > 10 && tok[0] == 315 && tok[1] == 317 && mask[0] == 0 && mask[1] == 0);
    int a = -1;
    for (int i = 0; i < n; i++)
        if (tok[i] == 318) a = i; /* <|assistant|> */
    CHECK(a > 2 && tok[a - 1] == 319 && mask[a - 1] == 0 && mask[a] == 0 && mask[a + 1] == 1);
    int end = a + 1;
    while (end < n && tok[end] != 319) CHECK(mask[end++] == 1);
    CHECK(end < n && mask[end] == 1 && tok[end + 1] == 315 && mask[end + 1] == 0);
    CHECK(tok[end + 2] == 316 && mask[n - 1] == 0);
    CHECK(st.masked == end - a); /* assistant content + its <|end|> */

    write_file(path("bad.jsonl"),
               "{\"messages\":[]}\n{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}\n");
    const char *bad[1] = {path("bad.jsonl")};
    CHECK(tr_data_prepare(path("tok.gguf"), bad, 1, true, path("b.tok"), &st, &err) ==
          PENNY_ERR_FORMAT);
    CHECK(strstr(err.message, "line 1") != NULL); /* empty messages */
    write_file(path("bad.jsonl"), "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}\n{"
                                  "\"messages\":[{\"role\":\"user\"\n");
    CHECK(tr_data_prepare(path("tok.gguf"), bad, 1, true, path("b.tok"), &st, &err) ==
          PENNY_ERR_FORMAT);
    CHECK(strstr(err.message, "line 2: invalid JSON") != NULL);
    write_file(path("bad.jsonl"), "{\"messages\":[{\"role\":\"robot\",\"content\":\"x\"}]}\n");
    CHECK(tr_data_prepare(path("tok.gguf"), bad, 1, true, path("b.tok"), &st, &err) ==
          PENNY_ERR_FORMAT);
    CHECK(strstr(err.message, "role") != NULL);
}

static void test_loader(void) {
    penny_error err;
    enum { N = 2001, T = 10 };
    static int32_t toks[N];
    for (int i = 0; i < N; i++) toks[i] = i % 50;
    CHECK(tr_data_write(path("seq.tok"), toks, NULL, N, 50, &err) == PENNY_OK);
    const char *p[1] = {path("seq.tok")};
    tr_data *d;
    CHECK(tr_data_open(p, 1, T, 0.1, 42, &d, &err) == PENNY_OK);
    CHECK(tr_data_n_train(d) + tr_data_n_val(d) == (N - 1) / T);
    CHECK(tr_data_n_val(d) == 20 && tr_data_vocab(d) == 50 && !tr_data_has_mask(d));
    int32_t in[T], tg[T];
    float m[T];
    for (long i = 0; i < tr_data_n_train(d); i++) {
        tr_data_train_seq(d, 1, i, in, tg, m); /* targets are the inputs shifted by one */
        CHECK(tg[0] == (in[0] + 1) % 50 && tg[T - 1] == (in[T - 1] + 1) % 50 && m[0] == 1.0f);
    }
    tr_data_val_seq(d, 0, in, tg, m); /* held out: every 10th chunk */
    CHECK(in[0] == (9 * T) % 50);
    tr_data_free(d);

    /* malformed token files */
    write_file(path("junk.tok"), "not a token file at all, not at all");
    const char *j[1] = {path("junk.tok")};
    CHECK(tr_data_open(j, 1, T, 0.1, 1, &d, &err) == PENNY_ERR_FORMAT);
    CHECK(strstr(err.message, "bad magic") != NULL);
    toks[7] = 60; /* outside the vocabulary */
    CHECK(tr_data_write(path("oob.tok"), toks, NULL, N, 50, &err) == PENNY_OK);
    const char *o[1] = {path("oob.tok")};
    CHECK(tr_data_open(o, 1, T, 0.1, 1, &d, &err) == PENNY_ERR_FORMAT);
    CHECK(strstr(err.message, "token 7 is id 60") != NULL);
    CHECK(tr_data_write(path("short.tok"), toks, NULL, 5, 50, &err) == PENNY_OK);
    const char *s[1] = {path("short.tok")};
    CHECK(tr_data_open(s, 1, T, 0.1, 1, &d, &err) == PENNY_ERR_ARG);
}

/* Every train chunk appears once per epoch; the order depends on the seed. */
static void test_shuffle(void) {
    penny_error err;
    enum { N = 5001, T = 5 };
    static int32_t toks[N];
    for (int i = 0; i < N; i++) toks[i] = i / T % 1000; /* chunk id in its tokens */
    CHECK(tr_data_write(path("ids.tok"), toks, NULL, N, 1000, &err) == PENNY_OK);
    const char *p[1] = {path("ids.tok")};
    tr_data *d1, *d2;
    CHECK(tr_data_open(p, 1, T, 0.05, 1, &d1, &err) == PENNY_OK);
    CHECK(tr_data_open(p, 1, T, 0.05, 2, &d2, &err) == PENNY_OK);
    static int count[1000];
    int32_t in[T], tg[T];
    float m[T];
    int differ = 0, differ_epoch = 0;
    for (long i = 0; i < tr_data_n_train(d1); i++) {
        tr_data_train_seq(d1, 0, i, in, tg, m);
        count[in[0]]++;
        CHECK(in[0] % 20 != 19); /* never a held-out chunk */
        int32_t a = in[0];
        tr_data_train_seq(d2, 0, i, in, tg, m);
        differ += in[0] != a;
        tr_data_train_seq(d1, 1, i, in, tg, m);
        differ_epoch += in[0] != a;
    }
    int once = 0;
    for (int c = 0; c < 1000; c++) once += count[c] == (c % 20 != 19);
    CHECK(once == 1000);
    CHECK(differ > 900 && differ_epoch > 900);
    tr_data_free(d1);
    tr_data_free(d2);
}

int main(void) {
    if (!mkdtemp(dir)) return 1;
    test_bpe();
    test_prepare();
    test_loader();
    test_shuffle();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) return 1;
    return check_done("test_train_data");
}
