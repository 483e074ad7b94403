/*
 * tool_tokenize.c - a command-line driver for the tokenizer, so scripts can
 * compare penny's token ids with an independent tokenizer (see
 * tests/test_tokenizer_npm.sh).
 *
 *   tool_tokenize GGUF|tokenizer.json [--config tokenizer_config.json]
 *                 [--special] [--no-bos] [--decode] [--batch] [--roundtrip] < text
 *
 * Prints the ids of stdin's bytes, space separated, on one line. --special
 * parses special-token texts such as "<s>"; --no-bos omits the BOS the
 * vocabulary asks for; --decode prints the detokenized text of those ids
 * instead (through the streaming detokenizer); --batch reads NUL-separated
 * texts and prints one line of ids for each (one process for many texts).
 * --roundtrip prints, per text, "ok" when the concatenated pieces of its ids
 * (special tokens not parsed) give back the text exactly (less the one
 * leading space a SentencePiece prefix adds; with U+2581 read as a space by
 * SentencePiece, and in NFC for a tokenizer that normalizes), else "BAD". --time reports
 * the seconds spent in tok_encode alone on stderr (for bench/).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "format/gguf.h"
#include "tokenizer/tok_int.h"

static char *read_all(FILE *f, size_t *len) {
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    for (size_t k; buf && (k = fread(buf + n, 1, cap - n, f)) > 0;) {
        n += k;
        if (n == cap) {
            char *b = realloc(buf, cap *= 2);
            if (!b) free(buf);
            buf = b;
        }
    }
    *len = n;
    return buf;
}

static int print_ids(const tokenizer *t, const int32_t *ids, int n, int decode) {
    if (!decode) {
        for (int i = 0; i < n; i++) printf(i ? " %d" : "%d", ids[i]);
        printf("\n");
        return 0;
    }
    tok_stream *s;
    penny_error err;
    if (tok_stream_new(t, &s, &err)) {
        fprintf(stderr, "tool_tokenize: %s\n", err.message);
        return 1;
    }
    for (int i = 0; i < n; i++) fputs(tok_stream_push(s, ids[i]), stdout);
    fputs(tok_stream_flush(s), stdout);
    tok_stream_free(s);
    return 0;
}

typedef struct opts {
    int special, no_bos, decode, batch, roundtrip, time;
    const char *config;
} opts;

/* What decoding should give back: SentencePiece reads U+2581 as a space,
 * and an NFC-normalizing tokenizer returns the NFC form. malloc'd. */
static char *expected(const tokenizer *t, const char *text, size_t len, size_t *n) {
    char *e = NULL;
    if (t->nfc) {
        if (tok_nfc(text, len, &e, n, NULL)) return NULL;
    } else if ((e = malloc(len + 1))) {
        memcpy(e, text, len);
        *n = len;
    }
    if (e && t->kind == TOK_SPM) {
        size_t o = 0;
        for (size_t i = 0; i < *n; i++) {
            bool sp = i + 2 < *n && memcmp(e + i, "\xE2\x96\x81", 3) == 0;
            e[o++] = sp ? ' ' : e[i];
            i += sp ? 2 : 0;
        }
        *n = o;
    }
    return e;
}

/* decode(encode(text)) == text, through tok_piece. */
static int roundtrip(const tokenizer *t, const int32_t *ids, int n, const char *text, size_t len) {
    size_t cap = 4 * len + 16, at = 0, want_len = 0;
    char *buf = malloc(cap), *want = expected(t, text, len, &want_len);
    if (!buf || !want) {
        free(buf);
        free(want);
        return 1;
    }
    for (int i = 0; i < n; i++) {
        const char *p;
        size_t k;
        tok_piece(t, ids[i], &p, &k);
        if (at + k > cap) break;
        memcpy(buf + at, p, k);
        at += k;
    }
    size_t skip = tok_space_prefix(t) && at > 0 && buf[0] == ' ' ? 1 : 0;
    bool ok = at - skip == want_len && memcmp(buf + skip, want, want_len) == 0;
    printf(ok ? "ok\n" : "BAD\n");
    free(buf);
    free(want);
    return 0;
}

static double g_encode_s;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Encodes text[0..len) and prints the result; 0 on success. */
static int run_one(const tokenizer *t, const opts *o, const char *text, size_t len) {
    penny_error err = {0};
    int n = 0, rc = 1, cap = (int)(2 * len + 2);
    int32_t *ids = malloc((size_t)cap * sizeof *ids);
    double t0 = now_s();
    penny_status st =
        ids ? tok_encode(t, text, len, !o->no_bos && tok_add_bos(t), o->special, ids, cap, &n, &err)
            : PENNY_ERR_NOMEM;
    g_encode_s += now_s() - t0;
    if (!ids)
        fprintf(stderr, "tool_tokenize: out of memory\n");
    else if (st)
        fprintf(stderr, "tool_tokenize: %s\n", err.message);
    else if (o->roundtrip)
        rc = roundtrip(t, ids, n, text, len);
    else
        rc = print_ids(t, ids, n, o->decode);
    free(ids);
    return rc;
}

static int run_all(const tokenizer *t, const opts *o, const char *text, size_t len) {
    if (!o->batch) return run_one(t, o, text, len);
    int rc = 0;
    for (size_t pos = 0; pos < len && !rc;) {
        const char *end = memchr(text + pos, '\0', len - pos);
        size_t n = end ? (size_t)(end - (text + pos)) : len - pos;
        rc = run_one(t, o, text + pos, n);
        pos += n + 1;
    }
    return rc;
}

static bool is_json(const char *path) {
    size_t n = strlen(path);
    return n >= 5 && !strcmp(path + n - 5, ".json");
}

int main(int argc, char **argv) {
    opts o = {0};
    for (int i = 2; i < argc; i++) {
        o.special |= !strcmp(argv[i], "--special");
        o.no_bos |= !strcmp(argv[i], "--no-bos");
        o.decode |= !strcmp(argv[i], "--decode");
        o.batch |= !strcmp(argv[i], "--batch");
        o.roundtrip |= !strcmp(argv[i], "--roundtrip");
        o.time |= !strcmp(argv[i], "--time");
        if (!strcmp(argv[i], "--config") && i + 1 < argc) o.config = argv[++i];
    }
    if (argc < 2) {
        fprintf(stderr, "usage: tool_tokenize GGUF|JSON [--config CFG] [--special] [--no-bos] "
                        "[--decode] [--batch] [--roundtrip]\n");
        return 2;
    }
    penny_error err = {0};
    gguf_file *g = NULL;
    tokenizer *t = NULL;
    size_t len = 0;
    char *text = read_all(stdin, &len);
    int rc = 1;
    if (!text)
        fprintf(stderr, "tool_tokenize: out of memory\n");
    else if (is_json(argv[1]) ? tok_new_json(argv[1], o.config, &t, &err) != PENNY_OK
                              : (gguf_open(argv[1], false, &g, &err) || tok_new(g, &t, &err)))
        fprintf(stderr, "tool_tokenize: %s\n", err.message);
    else
        rc = run_all(t, &o, text, len);
    if (o.time) fprintf(stderr, "encode_s %.6f bytes %zu\n", g_encode_s, len);
    tok_free(t);
    gguf_close(g);
    free(text);
    return rc;
}
