/*
 * tool_tokenize.c - a command-line driver for the tokenizer, so scripts can
 * compare penny's token ids with an independent tokenizer (see
 * tests/test_tokenizer_npm.sh).
 *
 *   tool_tokenize GGUF [--special] [--no-bos] [--decode] [--batch] < text
 *
 * Prints the ids of stdin's bytes, space separated, on one line. --special
 * parses special-token texts such as "<s>"; --no-bos omits the BOS the
 * vocabulary asks for; --decode prints the detokenized text of those ids
 * instead (through the streaming detokenizer); --batch reads NUL-separated
 * texts and prints one line of ids for each (one process for many texts).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/gguf.h"
#include "tokenizer/tokenizer.h"

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
    int special, no_bos, decode, batch;
} opts;

/* Encodes text[0..len) and prints the result; 0 on success. */
static int run_one(const tokenizer *t, const opts *o, const char *text, size_t len) {
    penny_error err = {0};
    int n = 0, rc = 1, cap = (int)(2 * len + 2);
    int32_t *ids = malloc((size_t)cap * sizeof *ids);
    if (!ids)
        fprintf(stderr, "tool_tokenize: out of memory\n");
    else if (tok_encode(t, text, len, !o->no_bos && tok_add_bos(t), o->special, ids, cap, &n, &err))
        fprintf(stderr, "tool_tokenize: %s\n", err.message);
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

int main(int argc, char **argv) {
    opts o = {0};
    for (int i = 2; i < argc; i++) {
        o.special |= !strcmp(argv[i], "--special");
        o.no_bos |= !strcmp(argv[i], "--no-bos");
        o.decode |= !strcmp(argv[i], "--decode");
        o.batch |= !strcmp(argv[i], "--batch");
    }
    if (argc < 2) {
        fprintf(stderr, "usage: tool_tokenize GGUF [--special] [--no-bos] [--decode] [--batch]\n");
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
    else if (gguf_open(argv[1], false, &g, &err) || tok_new(g, &t, &err))
        fprintf(stderr, "tool_tokenize: %s\n", err.message);
    else
        rc = run_all(t, &o, text, len);
    tok_free(t);
    gguf_close(g);
    free(text);
    return rc;
}
