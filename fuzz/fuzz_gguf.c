/*
 * fuzz_gguf.c - libFuzzer target for the GGUF reader.
 *
 * Any byte string goes through gguf_open_buffer; a file that passes must be
 * fully usable, so the target then walks everything a caller could touch:
 * every pair through the typed getters and the `penny info` renderer, every
 * array element, every tensor's data bytes and lookups by name. Seeds are in
 * fuzz/corpus/gguf/ (written by `test_gguf --write-corpus`).
 *
 *   make fuzz && build-fuzz/fuzz_gguf -max_total_time=60 fuzz/corpus/gguf
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "format/gguf.h"

/* Keeps the reads from being optimised away. */
static volatile double g_sink;

static void walk_arr(const gguf_arr *a) {
    for (uint64_t i = 0; i < a->n; i++) {
        if (a->type == GGUF_STR)
            g_sink += a->strs[i].len ? (unsigned char)a->strs[i].ptr[0] : 0;
        else if (a->type == GGUF_ARR)
            walk_arr(&a->items[i].v.arr);
        else
            g_sink += gguf_arr_num(a, i);
    }
}

static void walk_kv(const gguf_file *g, const gguf_kv *kv) {
    char key[256], text[512];
    gguf_format_value(&kv->val, text, sizeof text, 4);
    if (strlen(text) >= sizeof text) abort();
    gguf_format_value(&kv->val, text, 7, 2);
    size_t n = kv->key.len < sizeof key - 1 ? (size_t)kv->key.len : sizeof key - 1;
    memcpy(key, kv->key.ptr, n);
    key[n] = '\0';
    uint32_t u;
    int64_t i;
    float f;
    bool b;
    gguf_str s;
    const gguf_arr *a;
    gguf_get_u32(g, key, &u, NULL);
    gguf_get_i64(g, key, &i, NULL);
    gguf_get_f32(g, key, &f, NULL);
    gguf_get_bool(g, key, &b, NULL);
    if (gguf_get_str(g, key, &s, NULL) == PENNY_OK && s.len)
        g_sink += (unsigned char)s.ptr[s.len - 1];
    if (gguf_get_arr(g, key, &a, NULL) == PENNY_OK) walk_arr(a);
}

static void walk_tensor(const gguf_file *g, const gguf_tensor *t) {
    const unsigned char *d = t->data;
    if (t->nbytes) g_sink += d[0] + d[t->nbytes - 1];
    char name[256];
    size_t n = t->name.len < sizeof name - 1 ? (size_t)t->name.len : sizeof name - 1;
    memcpy(name, t->name.ptr, n);
    name[n] = '\0';
    if (n == t->name.len && gguf_find_tensor(g, name) != t) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gguf_file *g = NULL;
    penny_error err;
    if (gguf_open_buffer(data, size, "fuzz", &g, &err) != PENNY_OK) {
        if (!strstr(err.message, "byte offset")) abort(); /* every error names an offset */
        return 0;
    }
    for (int64_t i = 0; i < gguf_kv_count(g); i++) walk_kv(g, gguf_kv_at(g, i));
    for (int64_t i = 0; i < gguf_tensor_count(g); i++) walk_tensor(g, gguf_tensor_at(g, i));
    gguf_close(g);
    return 0;
}
