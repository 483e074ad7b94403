/*
 * tool_gguf_split.c - makes and checks split GGUF models for the tests of
 * `penny pull` (tests/test_pull.sh serves the parts from its local Hub).
 *
 *   tool_gguf_split split IN.gguf N PREFIX   writes PREFIX-00001-of-0000N.gguf ...
 *   tool_gguf_split check PART.gguf IN.gguf  opens the split model through any
 *       part and checks that it holds exactly IN's tensors, byte for byte,
 *       and IN's metadata in part 1; prints "ok: P parts, T tensors"
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/gguf.h"

static int fail(const char *what, const penny_error *err) {
    fprintf(stderr, "tool_gguf_split: %s: %s\n", what, err->message);
    return 1;
}

static int split(const char *in, int n, const char *prefix) {
    penny_error err = {0};
    gguf_file *g;
    if (gguf_open(in, false, &g, &err)) return fail("open", &err);
    int rc = gguf_split_write(g, n, prefix, &err) ? fail("split", &err) : 0;
    gguf_close(g);
    return rc;
}

/* Every tensor of ref is in s with the same type, shape and bytes. */
static int same_tensors(const gguf_split *s, const gguf_file *ref) {
    if (gguf_split_tensor_count(s) != gguf_tensor_count(ref))
        return fprintf(stderr, "tensor count differs\n"), 1;
    for (int64_t i = 0; i < gguf_tensor_count(ref); i++) {
        const gguf_tensor *a = gguf_tensor_at(ref, i);
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)a->name.len, a->name.ptr);
        const gguf_tensor *b = gguf_split_find_tensor(s, name);
        if (!b || b->type != a->type || b->nbytes != a->nbytes ||
            memcmp(b->ne, a->ne, sizeof a->ne) || memcmp(b->data, a->data, a->nbytes))
            return fprintf(stderr, "tensor %s differs\n", name), 1;
    }
    return 0;
}

/* Every key of ref is in part 0 with the same rendering. */
static int same_metadata(const gguf_file *part0, const gguf_file *ref) {
    char va[256], vb[256], key[256];
    for (int64_t i = 0; i < gguf_kv_count(ref); i++) {
        const gguf_kv *a = gguf_kv_at(ref, i);
        snprintf(key, sizeof key, "%.*s", (int)a->key.len, a->key.ptr);
        const gguf_kv *b = gguf_find(part0, key);
        if (!b || strcmp(gguf_format_value(&a->val, va, sizeof va, 4),
                         gguf_format_value(&b->val, vb, sizeof vb, 4)))
            return fprintf(stderr, "key %s differs\n", key), 1;
    }
    return 0;
}

static int check(const char *part, const char *in) {
    penny_error err = {0};
    gguf_split *s;
    gguf_file *ref;
    if (gguf_split_open(part, false, &s, &err)) return fail("open split", &err);
    if (gguf_open(in, false, &ref, &err)) return gguf_split_close(s), fail("open", &err);
    int rc = same_tensors(s, ref) || same_metadata(gguf_split_part(s, 0), ref);
    if (!rc)
        printf("ok: %d parts, %lld tensors\n", gguf_split_count(s),
               (long long)gguf_split_tensor_count(s));
    gguf_close(ref);
    gguf_split_close(s);
    return rc;
}

int main(int argc, char **argv) {
    if (argc == 5 && !strcmp(argv[1], "split")) return split(argv[2], atoi(argv[3]), argv[4]);
    if (argc == 4 && !strcmp(argv[1], "check")) return check(argv[2], argv[3]);
    fprintf(stderr, "usage: %s split IN.gguf N PREFIX | check PART.gguf IN.gguf\n", argv[0]);
    return 2;
}
