/*
 * fuzz_train.c - libFuzzer target for the training inputs that come from
 * files: checkpoints (tr_ckpt_read), token files (tr_data_open and the
 * sequence reads) and chat JSONL (tr_data_prepare with its JSON reader).
 * The first byte picks the reader; the rest is written to a scratch file,
 * since all three take paths. A vocabulary for the chat reader is trained
 * once at start-up from a built-in text. Seeds are in fuzz/corpus/train/.
 *
 *   make fuzz && build-fuzz/fuzz_train -max_total_time=60 fuzz/corpus/train
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "train/bpe_train.h"
#include "train/ckpt.h"
#include "train/data.h"

static char in_path[64], tok_path[64], out_path[64];
static volatile float g_sink;

static void cleanup(void) {
    unlink(in_path);
    unlink(tok_path);
    unlink(out_path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    snprintf(in_path, sizeof in_path, "/tmp/penny_fuzz_train_%d.in", (int)getpid());
    snprintf(tok_path, sizeof tok_path, "/tmp/penny_fuzz_train_%d.gguf", (int)getpid());
    snprintf(out_path, sizeof out_path, "/tmp/penny_fuzz_train_%d.tok", (int)getpid());
    FILE *f = fopen(in_path, "w");
    if (!f) abort();
    for (int i = 0; i < 200; i++)
        fputs("What is two plus two? It is four. {\"role\": \"user\"} ", f);
    fclose(f);
    const char *files[1] = {in_path};
    if (tr_bpe_train(300, NULL, files, 1, tok_path, NULL, NULL) != PENNY_OK) abort();
    atexit(cleanup);
    return 0;
}

static void read_ckpt(void) {
    tr_ckpt c;
    void *buf;
    if (tr_ckpt_read(in_path, &c, &buf, NULL) != PENNY_OK) return;
    for (uint64_t i = 0; i < c.n_params; i++) g_sink += c.params[i] + c.m[i] + c.v[i];
    for (uint64_t i = 0; i < c.n_hist * TR_HIST_FIELDS; i++) g_sink += (float)c.hist[i];
    free(buf);
}

static void read_tokens(void) {
    const char *paths[1] = {in_path};
    tr_data *d;
    if (tr_data_open(paths, 1, 8, 0.25, 1, &d, NULL) != PENNY_OK) return;
    int32_t in[8], tg[8];
    float m[8];
    for (long i = 0; i < tr_data_n_train(d) && i < 64; i++) tr_data_train_seq(d, 1, i, in, tg, m);
    for (long i = 0; i < tr_data_n_val(d) && i < 64; i++) tr_data_val_seq(d, i, in, tg, m);
    g_sink += (float)in[0] + m[0];
    tr_data_free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    FILE *f = fopen(in_path, "wb");
    if (!f) abort();
    if (size > 1 && fwrite(data + 1, 1, size - 1, f) != size - 1) abort();
    fclose(f);
    const char *files[1] = {in_path};
    switch (data[0] % 3) {
    case 0: read_ckpt(); break;
    case 1: read_tokens(); break;
    default: tr_data_prepare(tok_path, files, 1, true, out_path, NULL, NULL); break;
    }
    return 0;
}
