/*
 * test_gguf.c - the GGUF writer and reader checked against each other and
 * against the real files in ../shared/models.
 *
 * A file holding every value type (scalars, arrays of each, string arrays,
 * nested arrays) and tensors of several types and shapes is written, read
 * back and compared value by value and byte by byte; then alignment, lookups,
 * the typed getters' conversions and errors, writer errors, the printable
 * rendering used by `penny info`, and known facts about the two real models.
 *
 * `test_gguf --write-corpus DIR` instead writes the small seed files of the
 * GGUF fuzzer (fuzz/corpus/gguf/).
 */
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "format/gguf.h"
#include "kernels/types.h"

static char g_dir[512];

/* Path of a scratch file under $PENNY_BUILD/tests/. */
static const char *scratch(const char *name) {
    static char buf[4][640];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
    return buf[k];
}

/* ---- the round-trip file ---- */

static const uint8_t A_U8[] = {0, 1, 255};
static const int8_t A_I8[] = {-128, 0, 127};
static const uint16_t A_U16[] = {0, 65535};
static const int16_t A_I16[] = {-32768, 32767, -1};
static const uint32_t A_U32[] = {1, 2, 3, 4, 5};
static const int32_t A_I32[] = {-2147483647 - 1, 7};
static const float A_F32[] = {0.5f, -1e-5f, 3.25f};
static const uint8_t A_BOOL[] = {1, 0, 1, 1};
static const uint64_t A_U64[] = {UINT64_MAX, 0};
static const int64_t A_I64[] = {INT64_MIN, INT64_MAX, -3};
static const double A_F64[] = {3.141592653589793, -2.5e300};
static const char *const A_STR[] = {"a", "", "\xe2\x96\x81the", "x y"};

#define N_TENSORS 6
static const struct {
    const char *name;
    uint32_t type;
    int n_dims;
    int64_t ne[4];
} g_tdef[N_TENSORS] = {
    {"t.f32", TYPE_F32, 2, {4, 3}},         {"t.f16", TYPE_F16, 1, {7}},
    {"t.q8_0", TYPE_Q8_0, 2, {64, 2}},      {"t.q4_0", TYPE_Q4_0, 3, {32, 1, 3}},
    {"t.bf16", TYPE_BF16, 4, {2, 2, 3, 2}}, {"t.q4_k", TYPE_Q4_K, 1, {256}},
};
static unsigned char *g_tdata[N_TENSORS];

static uint64_t tdef_bytes(int i) {
    uint64_t n = type_row_size(g_tdef[i].type, g_tdef[i].ne[0]);
    for (int d = 1; d < g_tdef[i].n_dims; d++) n *= (uint64_t)g_tdef[i].ne[d];
    return n;
}

static void make_tensor_data(void) {
    for (int i = 0; i < N_TENSORS; i++) {
        uint64_t n = tdef_bytes(i);
        g_tdata[i] = malloc(n);
        for (uint64_t j = 0; j < n; j++) g_tdata[i][j] = (unsigned char)(j * 7 + (uint64_t)i * 31);
    }
}

static void set_scalar(gguf_writer *w, const char *key, enum gguf_vtype t, uint64_t u, int64_t i,
                       double f) {
    gguf_value v = {.type = t};
    if (t == GGUF_F32 || t == GGUF_F64)
        v.v.f = f;
    else if (t == GGUF_I8 || t == GGUF_I16 || t == GGUF_I32 || t == GGUF_I64)
        v.v.i = i;
    else
        v.v.u = u;
    CHECK(gguf_writer_set_value(w, key, &v) == PENNY_OK);
}

static void set_scalars(gguf_writer *w) {
    set_scalar(w, "s.u8", GGUF_U8, 200, 0, 0);
    set_scalar(w, "s.i8", GGUF_I8, 0, -100, 0);
    set_scalar(w, "s.u16", GGUF_U16, 60000, 0, 0);
    set_scalar(w, "s.i16", GGUF_I16, 0, -30000, 0);
    set_scalar(w, "s.u32", GGUF_U32, 4000000000u, 0, 0);
    set_scalar(w, "s.i32", GGUF_I32, 0, -2000000000, 0);
    set_scalar(w, "s.f32", GGUF_F32, 0, 0, 1.5);
    set_scalar(w, "s.u64", GGUF_U64, (1ull << 63) + 5, 0, 0);
    set_scalar(w, "s.i64", GGUF_I64, 0, -(1ll << 62), 0);
    set_scalar(w, "s.f64", GGUF_F64, 0, 0, 1e300);
    CHECK(gguf_writer_set_bool(w, "s.bool", true) == PENNY_OK);
    CHECK(gguf_writer_set_str(w, "s.str", "hello \"world\"\n\x01") == PENNY_OK);
    CHECK(gguf_writer_set_u32(w, "c.u32", 7) == PENNY_OK);
    CHECK(gguf_writer_set_i32(w, "c.i32", -7) == PENNY_OK);
    CHECK(gguf_writer_set_f32(w, "c.f32", 1e-5f) == PENNY_OK);
    CHECK(gguf_writer_set_bool(w, "c.bool", false) == PENNY_OK);
    CHECK(gguf_writer_set_str(w, "c.empty", "") == PENNY_OK);
}

static void set_arrays(gguf_writer *w) {
    CHECK(gguf_writer_set_arr(w, "a.u8", GGUF_U8, A_U8, 3) == PENNY_OK);
    CHECK(gguf_writer_set_arr(w, "a.i8", GGUF_I8, A_I8, 3) == PENNY_OK);
    CHECK(gguf_writer_set_arr(w, "a.u16", GGUF_U16, A_U16, 2) == PENNY_OK);
    CHECK(gguf_writer_set_arr(w, "a.i16", GGUF_I16, A_I16, 3) == PENNY_OK);
    CHECK(gguf_writer_set_arr(w, "a.u32", GGUF_U32, A_U32, 5) == PENNY_OK);
    CHECK(gguf_writer_set_arr(w, "a.i32", GGUF_I32, A_I32, 2) == PENNY_OK);
    CHECK(gguf_writer_set_arr(w, "a.f32", GGUF_F32, A_F32, 3) == PENNY_OK);
    CHECK(gguf_writer_set_arr(w, "a.bool", GGUF_BOOL, A_BOOL, 4) == PENNY_OK);
    CHECK(gguf_writer_set_arr(w, "a.u64", GGUF_U64, A_U64, 2) == PENNY_OK);
    CHECK(gguf_writer_set_arr(w, "a.i64", GGUF_I64, A_I64, 3) == PENNY_OK);
    CHECK(gguf_writer_set_arr(w, "a.f64", GGUF_F64, A_F64, 2) == PENNY_OK);
    CHECK(gguf_writer_set_arr(w, "a.empty", GGUF_U32, NULL, 0) == PENNY_OK);
    CHECK(gguf_writer_set_str_arr(w, "a.str", A_STR, 4) == PENNY_OK);
}

/* [[1, 2, 3, 4, 5], [1, 2]], [["a", ""], []] and [[[7]]]. */
static void set_nested(gguf_writer *w) {
    gguf_str strs[2] = {{"a", 1}, {"", 0}};
    gguf_value in[2] = {{.type = GGUF_ARR, .v.arr = {.type = GGUF_U32, .n = 5, .data = A_U32}},
                        {.type = GGUF_ARR, .v.arr = {.type = GGUF_U32, .n = 2, .data = A_U32}}};
    gguf_value v = {.type = GGUF_ARR, .v.arr = {.type = GGUF_ARR, .n = 2, .items = in}};
    CHECK(gguf_writer_set_value(w, "n.u32", &v) == PENNY_OK);
    gguf_value sin[2] = {{.type = GGUF_ARR, .v.arr = {.type = GGUF_STR, .n = 2, .strs = strs}},
                         {.type = GGUF_ARR, .v.arr = {.type = GGUF_STR, .n = 0}}};
    v.v.arr.items = sin;
    CHECK(gguf_writer_set_value(w, "n.str", &v) == PENNY_OK);
    uint32_t seven = 7;
    gguf_value l3 = {.type = GGUF_ARR, .v.arr = {.type = GGUF_U32, .n = 1, .data = &seven}};
    gguf_value l2 = {.type = GGUF_ARR, .v.arr = {.type = GGUF_ARR, .n = 1, .items = &l3}};
    gguf_value l1 = {.type = GGUF_ARR, .v.arr = {.type = GGUF_ARR, .n = 1, .items = &l2}};
    CHECK(gguf_writer_set_value(w, "n.deep", &l1) == PENNY_OK);
}

/* Writes the round-trip file; align 0 keeps the default. */
static bool write_full(const char *path, uint32_t align) {
    gguf_writer *w = NULL;
    CHECK(gguf_writer_new(&w, NULL) == PENNY_OK);
    if (!w) return false;
    if (align) CHECK(gguf_writer_set_u32(w, "general.alignment", align) == PENNY_OK);
    set_scalars(w);
    set_arrays(w);
    set_nested(w);
    for (int i = 0; i < N_TENSORS; i++)
        CHECK(gguf_writer_add_tensor(w, g_tdef[i].name, g_tdef[i].type, g_tdef[i].n_dims,
                                     g_tdef[i].ne, g_tdata[i]) == PENNY_OK);
    penny_error err = {0};
    penny_status rc = gguf_writer_save(w, path, &err);
    CHECKF(rc == PENNY_OK, "%s", err.message);
    gguf_writer_free(w);
    return rc == PENNY_OK;
}

/* ---- checks on the file read back ---- */

static const gguf_value *val(const gguf_file *g, const char *key) {
    const gguf_kv *kv = gguf_find(g, key);
    CHECKF(kv != NULL, "key %s missing", key);
    static const gguf_value none = {.type = GGUF_U8, .v.u = 0xdead};
    return kv ? &kv->val : &none;
}

static void check_scalars(const gguf_file *g) {
    CHECK(val(g, "s.u8")->type == GGUF_U8 && val(g, "s.u8")->v.u == 200);
    CHECK(val(g, "s.i8")->type == GGUF_I8 && val(g, "s.i8")->v.i == -100);
    CHECK(val(g, "s.u16")->type == GGUF_U16 && val(g, "s.u16")->v.u == 60000);
    CHECK(val(g, "s.i16")->type == GGUF_I16 && val(g, "s.i16")->v.i == -30000);
    CHECK(val(g, "s.u32")->type == GGUF_U32 && val(g, "s.u32")->v.u == 4000000000u);
    CHECK(val(g, "s.i32")->type == GGUF_I32 && val(g, "s.i32")->v.i == -2000000000);
    CHECK(val(g, "s.f32")->type == GGUF_F32 && val(g, "s.f32")->v.f == 1.5);
    CHECK(val(g, "s.u64")->type == GGUF_U64 && val(g, "s.u64")->v.u == (1ull << 63) + 5);
    CHECK(val(g, "s.i64")->type == GGUF_I64 && val(g, "s.i64")->v.i == -(1ll << 62));
    CHECK(val(g, "s.f64")->type == GGUF_F64 && val(g, "s.f64")->v.f == 1e300);
    CHECK(val(g, "s.bool")->type == GGUF_BOOL && val(g, "s.bool")->v.b);
    CHECK(val(g, "c.bool")->type == GGUF_BOOL && !val(g, "c.bool")->v.b);
    CHECK(val(g, "s.str")->type == GGUF_STR &&
          gguf_str_eq(val(g, "s.str")->v.s, "hello \"world\"\n\x01"));
    CHECK(val(g, "c.empty")->type == GGUF_STR && val(g, "c.empty")->v.s.len == 0);
    CHECK(val(g, "c.f32")->type == GGUF_F32 && (float)val(g, "c.f32")->v.f == 1e-5f);
}

static void check_arr(const gguf_file *g, const char *key, enum gguf_vtype t, const void *want,
                      uint64_t n, size_t esize) {
    const gguf_value *v = val(g, key);
    CHECKF(v->type == GGUF_ARR && v->v.arr.type == t && v->v.arr.n == n, "%s", key);
    if (v->type == GGUF_ARR && v->v.arr.n == n && n)
        CHECKF(memcmp(v->v.arr.data, want, n * esize) == 0, "%s bytes", key);
}

static void check_arrays(const gguf_file *g) {
    check_arr(g, "a.u8", GGUF_U8, A_U8, 3, 1);
    check_arr(g, "a.i8", GGUF_I8, A_I8, 3, 1);
    check_arr(g, "a.u16", GGUF_U16, A_U16, 2, 2);
    check_arr(g, "a.i16", GGUF_I16, A_I16, 3, 2);
    check_arr(g, "a.u32", GGUF_U32, A_U32, 5, 4);
    check_arr(g, "a.i32", GGUF_I32, A_I32, 2, 4);
    check_arr(g, "a.f32", GGUF_F32, A_F32, 3, 4);
    check_arr(g, "a.bool", GGUF_BOOL, A_BOOL, 4, 1);
    check_arr(g, "a.u64", GGUF_U64, A_U64, 2, 8);
    check_arr(g, "a.i64", GGUF_I64, A_I64, 3, 8);
    check_arr(g, "a.f64", GGUF_F64, A_F64, 2, 8);
    check_arr(g, "a.empty", GGUF_U32, NULL, 0, 4);
    const gguf_arr *a = &val(g, "a.i8")->v.arr;
    CHECK(gguf_arr_num(a, 0) == -128 && gguf_arr_num(a, 2) == 127 && gguf_arr_num(a, 3) == 0);
    CHECK(gguf_arr_num(&val(g, "a.f32")->v.arr, 1) == (double)-1e-5f);
    CHECK(gguf_arr_num(&val(g, "a.u64")->v.arr, 0) == 18446744073709551615.0);
    CHECK(gguf_arr_num(&val(g, "a.i64")->v.arr, 2) == -3);
    CHECK(gguf_arr_num(&val(g, "a.bool")->v.arr, 1) == 0);
    a = &val(g, "a.str")->v.arr;
    CHECK(a->type == GGUF_STR && a->n == 4);
    for (uint64_t i = 0; a->type == GGUF_STR && i < a->n && i < 4; i++)
        CHECKF(gguf_str_eq(a->strs[i], A_STR[i]), "a.str[%d]", (int)i);
}

static void check_nested(const gguf_file *g) {
    const gguf_arr *a = &val(g, "n.u32")->v.arr;
    CHECK(a->type == GGUF_ARR && a->n == 2);
    if (a->type != GGUF_ARR || a->n != 2) return;
    CHECK(a->items[0].type == GGUF_ARR && a->items[0].v.arr.n == 5);
    CHECK(a->items[1].v.arr.type == GGUF_U32 && a->items[1].v.arr.n == 2);
    CHECK(gguf_arr_num(&a->items[0].v.arr, 4) == 5 && gguf_arr_num(&a->items[1].v.arr, 1) == 2);
    a = &val(g, "n.str")->v.arr;
    CHECK(a->n == 2 && a->items[0].v.arr.type == GGUF_STR && a->items[0].v.arr.n == 2);
    if (a->n == 2 && a->items[0].v.arr.n == 2) {
        CHECK(gguf_str_eq(a->items[0].v.arr.strs[0], "a"));
        CHECK(a->items[0].v.arr.strs[1].len == 0 && a->items[1].v.arr.n == 0);
    }
    a = &val(g, "n.deep")->v.arr;
    CHECK(a->n == 1 && a->items[0].v.arr.n == 1);
    if (a->n == 1 && a->items[0].v.arr.n == 1) {
        const gguf_arr *in = &a->items[0].v.arr.items[0].v.arr;
        CHECK(in->type == GGUF_U32 && in->n == 1 && gguf_arr_num(in, 0) == 7);
    }
}

static void check_tensors(const gguf_file *g, uint64_t align) {
    CHECK(gguf_tensor_count(g) == N_TENSORS);
    CHECK(gguf_alignment(g) == align);
    CHECK(gguf_data_offset(g) % align == 0);
    for (int i = 0; i < N_TENSORS && i < gguf_tensor_count(g); i++) {
        const gguf_tensor *t = gguf_tensor_at(g, i);
        CHECKF(gguf_str_eq(t->name, g_tdef[i].name), "tensor %d name", i);
        CHECK(gguf_find_tensor(g, g_tdef[i].name) == t);
        CHECK(t->type == g_tdef[i].type && (int)t->n_dims == g_tdef[i].n_dims);
        for (int d = 0; d < 4; d++) CHECK(t->ne[d] == (d < g_tdef[i].n_dims ? g_tdef[i].ne[d] : 1));
        CHECK(t->nbytes == tdef_bytes(i));
        CHECKF(t->offset % align == 0, "tensor %d offset %llu", i, (unsigned long long)t->offset);
        CHECKF((uintptr_t)t->data % align == 0, "tensor %d data pointer", i);
        CHECK(memcmp(t->data, g_tdata[i], t->nbytes) == 0);
    }
    CHECK(gguf_find_tensor(g, "t.f3") == NULL && gguf_find_tensor(g, "nope") == NULL);
    CHECK(gguf_tensor_at(g, -1) == NULL && gguf_tensor_at(g, N_TENSORS) == NULL);
}

static void test_roundtrip(uint32_t align) {
    const char *path = scratch(align ? "gguf_roundtrip_a.gguf" : "gguf_roundtrip.gguf");
    if (!write_full(path, align)) return;
    gguf_file *g = NULL;
    penny_error err = {0};
    penny_status rc = gguf_open(path, false, &g, &err);
    CHECKF(rc == PENNY_OK, "%s", err.message);
    if (rc) return;
    CHECK(gguf_version(g) == 3);
    CHECK(strcmp(gguf_path(g), path) == 0);
    CHECK(gguf_kv_count(g) == 17 + 13 + 3 + (align ? 1 : 0));
    CHECK(gguf_kv_at(g, 0) != NULL && gguf_kv_at(g, gguf_kv_count(g)) == NULL);
    CHECK(gguf_find(g, "s.u") == NULL && gguf_find(g, "") == NULL);
    check_scalars(g);
    check_arrays(g);
    check_nested(g);
    check_tensors(g, align ? align : 32);
    gguf_close(g);
}

/* ---- getters ---- */

static void check_get_fails(penny_status rc, const penny_error *err, const char *key) {
    CHECKF(rc == PENNY_ERR_FORMAT, "%s: rc %d", key, (int)rc);
    CHECKF(strstr(err->message, key) && strstr(err->message, "offset"), "%s: %s", key,
           err->message);
}

static void test_getters(void) {
    gguf_file *g = NULL;
    penny_error err = {0};
    if (gguf_open(scratch("gguf_roundtrip.gguf"), true, &g, &err)) return;
    uint32_t u = 0;
    int64_t i = 0;
    float f = 0;
    bool b = false;
    gguf_str s;
    const gguf_arr *a = NULL;
    CHECK(gguf_get_u32(g, "s.u8", &u, &err) == PENNY_OK && u == 200);
    CHECK(gguf_get_u32(g, "s.u16", &u, &err) == PENNY_OK && u == 60000);
    CHECK(gguf_get_u32(g, "s.u32", &u, &err) == PENNY_OK && u == 4000000000u);
    CHECK(gguf_get_u32(g, "c.i32", &u, &err) == PENNY_ERR_FORMAT);
    check_get_fails(gguf_get_u32(g, "s.i8", &u, &err), &err, "s.i8");
    check_get_fails(gguf_get_u32(g, "s.u64", &u, &err), &err, "s.u64");
    check_get_fails(gguf_get_u32(g, "s.str", &u, &err), &err, "s.str");
    check_get_fails(gguf_get_u32(g, "s.f32", &u, &err), &err, "s.f32");
    CHECK(gguf_get_i64(g, "s.i64", &i, &err) == PENNY_OK && i == -(1ll << 62));
    CHECK(gguf_get_i64(g, "s.u32", &i, &err) == PENNY_OK && i == 4000000000ll);
    CHECK(gguf_get_i64(g, "s.i16", &i, &err) == PENNY_OK && i == -30000);
    check_get_fails(gguf_get_i64(g, "s.u64", &i, &err), &err, "s.u64");
    check_get_fails(gguf_get_i64(g, "s.bool", &i, &err), &err, "s.bool");
    CHECK(gguf_get_f32(g, "s.f32", &f, &err) == PENNY_OK && f == 1.5f);
    CHECK(gguf_get_f32(g, "c.f32", &f, &err) == PENNY_OK && f == 1e-5f);
    CHECK(gguf_get_f32(g, "c.i32", &f, &err) == PENNY_OK && f == -7.0f);
    CHECK(gguf_get_f32(g, "s.u16", &f, &err) == PENNY_OK && f == 60000.0f);
    check_get_fails(gguf_get_f32(g, "s.f64", &f, &err), &err, "s.f64"); /* 1e300 */
    check_get_fails(gguf_get_f32(g, "a.f32", &f, &err), &err, "a.f32");
    CHECK(gguf_get_bool(g, "s.bool", &b, &err) == PENNY_OK && b);
    check_get_fails(gguf_get_bool(g, "s.u8", &b, &err), &err, "s.u8");
    CHECK(gguf_get_str(g, "s.str", &s, &err) == PENNY_OK && s.len == 15);
    check_get_fails(gguf_get_str(g, "a.str", &s, &err), &err, "a.str");
    CHECK(gguf_get_arr(g, "a.str", &a, &err) == PENNY_OK && a->n == 4);
    check_get_fails(gguf_get_arr(g, "s.str", &a, &err), &err, "s.str");
    /* absent: PENNY_ERR_RANGE and the message untouched */
    strcpy(err.message, "untouched");
    CHECK(gguf_get_u32(g, "absent", &u, &err) == PENNY_ERR_RANGE);
    CHECK(gguf_get_i64(g, "absent", &i, &err) == PENNY_ERR_RANGE);
    CHECK(gguf_get_f32(g, "absent", &f, &err) == PENNY_ERR_RANGE);
    CHECK(gguf_get_bool(g, "absent", &b, &err) == PENNY_ERR_RANGE);
    CHECK(gguf_get_str(g, "absent", &s, &err) == PENNY_ERR_RANGE);
    CHECK(gguf_get_arr(g, "absent", &a, NULL) == PENNY_ERR_RANGE);
    CHECK(strcmp(err.message, "untouched") == 0);
    CHECK(gguf_get_u32(g, "s.i8", &u, NULL) == PENNY_ERR_FORMAT); /* err may be NULL */
    gguf_close(g);
}

/* ---- buffers, copies, writer errors ---- */

static unsigned char *read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *p = malloc(len > 0 ? (size_t)len : 1);
    *n = p ? fread(p, 1, (size_t)len, f) : 0;
    fclose(f);
    return p;
}

static void test_buffer(void) {
    size_t n = 0;
    unsigned char *p = read_file(scratch("gguf_roundtrip.gguf"), &n);
    CHECK(p != NULL && n > 0);
    gguf_file *g = NULL;
    penny_error err = {0};
    CHECKF(gguf_open_buffer(p, n, "mem", &g, &err) == PENNY_OK, "%s", err.message);
    if (g) {
        CHECK(strcmp(gguf_path(g), "mem") == 0 && gguf_tensor_count(g) == N_TENSORS);
        check_scalars(g);
        check_nested(g);
    }
    gguf_close(g);
    gguf_close(NULL);
    CHECK(gguf_open_buffer(p, 3, NULL, &g, &err) == PENNY_ERR_FORMAT && g == NULL);
    CHECKF(strstr(err.message, "<buffer>") != NULL, "%s", err.message);
    free(p);
}

/* Every pair of a and b renders the same, in the same order. */
static void check_same_kvs(const char *pa, const char *pb) {
    penny_gguf *a = NULL, *b = NULL;
    CHECK(penny_gguf_open(pa, &a, NULL) == PENNY_OK && penny_gguf_open(pb, &b, NULL) == PENNY_OK);
    if (a && b) {
        CHECK(penny_gguf_kv_count(a) == penny_gguf_kv_count(b));
        char x[4096], y[4096];
        for (int64_t i = 0; i < penny_gguf_kv_count(a) && i < penny_gguf_kv_count(b); i++) {
            CHECK(strcmp(penny_gguf_kv_key(a, i), penny_gguf_kv_key(b, i)) == 0);
            CHECKF(strcmp(penny_gguf_kv_format(a, i, x, sizeof x, 1000),
                          penny_gguf_kv_format(b, i, y, sizeof y, 1000)) == 0,
                   "%s: %s vs %s", penny_gguf_kv_key(a, i), x, y);
        }
    }
    penny_gguf_free(a);
    penny_gguf_free(b);
}

static void test_copy_kvs(void) {
    gguf_file *src = NULL;
    gguf_writer *w = NULL;
    penny_error err = {0};
    if (gguf_open(scratch("gguf_roundtrip.gguf"), false, &src, &err)) return;
    CHECK(gguf_writer_new(&w, &err) == PENNY_OK);
    CHECK(gguf_writer_copy_kvs(w, src) == PENNY_OK);
    gguf_close(src); /* the writer must not keep views into src */
    CHECK(gguf_writer_save(w, scratch("gguf_copy.gguf"), &err) == PENNY_OK);
    CHECK(gguf_writer_set_u32(w, "s.u8", 5) == PENNY_OK); /* replaces, keeps position */
    CHECK(gguf_writer_save(w, scratch("gguf_copy2.gguf"), &err) == PENNY_OK);
    gguf_writer_free(w);
    check_same_kvs(scratch("gguf_roundtrip.gguf"), scratch("gguf_copy.gguf"));
    gguf_file *g = NULL;
    if (gguf_open(scratch("gguf_copy2.gguf"), false, &g, &err) == PENNY_OK) {
        CHECK(gguf_kv_count(g) == 33 && gguf_tensor_count(g) == 0);
        CHECK(gguf_find(g, "s.u8") == gguf_kv_at(g, 0));
        CHECK(val(g, "s.u8")->type == GGUF_U32 && val(g, "s.u8")->v.u == 5);
        gguf_close(g);
    }
}

static bool dir_has_temp_files(void) {
    DIR *d = opendir(g_dir);
    bool found = false;
    for (struct dirent *e; d && (e = readdir(d));)
        if (strstr(e->d_name, ".tmp.")) found = true;
    if (d) closedir(d);
    return found;
}

static void test_writer_errors(void) {
    gguf_writer *w = NULL;
    penny_error err = {0};
    const int64_t ne[2] = {33, 2};
    float data[66] = {0};
    CHECK(gguf_writer_new(&w, &err) == PENNY_OK);
    CHECK(gguf_writer_add_tensor(w, "x", TYPE_F32, 2, ne, data) == PENNY_OK);
    CHECK(gguf_writer_add_tensor(w, "y", TYPE_Q8_0, 2, ne, data) == PENNY_ERR_ARG);
    CHECK(gguf_writer_add_tensor(w, "x", TYPE_F32, 2, ne, data) == PENNY_ERR_ARG);
    CHECK(gguf_writer_add_tensor(w, "z", 77, 2, ne, data) == PENNY_ERR_ARG);
    CHECK(gguf_writer_add_tensor(w, "z", TYPE_F32, 5, ne, data) == PENNY_ERR_ARG);
    const char *path = scratch("gguf_never.gguf");
    remove(path);
    CHECK(gguf_writer_save(w, path, &err) == PENNY_ERR_ARG);
    CHECKF(strstr(err.message, path) && strstr(err.message, "multiple of 32"), "%s", err.message);
    gguf_writer_free(w);
    FILE *f = fopen(path, "rb");
    CHECK(f == NULL);
    if (f) fclose(f);

    CHECK(gguf_writer_new(&w, &err) == PENNY_OK);
    gguf_value bad = {.type = GGUF_U8, .v.u = 256};
    CHECK(gguf_writer_set_value(w, "k", &bad) == PENNY_ERR_ARG);
    CHECK(gguf_writer_set_u32(w, "", 1) == PENNY_ERR_ARG);
    const char *with_null[] = {"a", NULL};
    CHECK(gguf_writer_set_str_arr(w, "k2", with_null, 2) == PENNY_ERR_ARG);
    CHECK(gguf_writer_set_str(w, "k3", NULL) == PENNY_ERR_ARG);
    gguf_value deep = {.type = GGUF_ARR, .v.arr = {.type = GGUF_ARR, .n = 1, .items = &deep}};
    CHECK(gguf_writer_set_value(w, "k4", &deep) == PENNY_ERR_ARG); /* nesting limit */
    CHECK(gguf_writer_save(w, path, &err) == PENNY_ERR_ARG);
    CHECKF(strstr(err.message, "does not fit in a u8") != NULL, "%s", err.message); /* first */
    gguf_writer_free(w);

    CHECK(gguf_writer_new(&w, &err) == PENNY_OK);
    CHECK(gguf_writer_set_u32(w, "general.alignment", 48) == PENNY_OK);
    CHECK(gguf_writer_save(w, path, &err) == PENNY_ERR_ARG);
    CHECKF(strstr(err.message, "power of two") != NULL, "%s", err.message);
    gguf_writer_free(w);

    CHECK(gguf_writer_new(&w, &err) == PENNY_OK);
    const char *nodir = scratch("no/such/dir/x.gguf");
    CHECK(gguf_writer_save(w, nodir, &err) == PENNY_ERR_IO);
    CHECKF(strstr(err.message, nodir) != NULL, "%s", err.message);
    gguf_writer_free(w);
    gguf_writer_free(NULL);
    CHECK(!dir_has_temp_files());
}

/* ---- rendering for `penny info` ---- */

static void expect_format(const penny_gguf *p, const char *key, int max_items, size_t cap,
                          const char *want) {
    char buf[512];
    for (int64_t i = 0; i < penny_gguf_kv_count(p); i++) {
        if (strcmp(penny_gguf_kv_key(p, i), key) != 0) continue;
        penny_gguf_kv_format(p, i, buf, cap, max_items);
        CHECKF(strcmp(buf, want) == 0, "%s: got [%s] want [%s]", key, buf, want);
        return;
    }
    CHECKF(0, "key %s not found", key);
}

static void test_format(void) {
    gguf_writer *w = NULL;
    const char *path = scratch("gguf_format.gguf");
    char longs[201];
    memset(longs, 'x', 200);
    longs[200] = '\0';
    const char *strs[] = {"\xe2\x96\x81the", "tab\there", "bad\xff"};
    CHECK(gguf_writer_new(&w, NULL) == PENNY_OK);
    CHECK(gguf_writer_set_str(w, "long", longs) == PENNY_OK);
    CHECK(gguf_writer_set_str_arr(w, "strs", strs, 3) == PENNY_OK);
    CHECK(gguf_writer_save(w, path, NULL) == PENNY_OK);
    gguf_writer_free(w);
    penny_gguf *p = NULL, *q = NULL;
    penny_error err = {0};
    CHECKF(penny_gguf_open(path, &q, &err) == PENNY_OK, "%s", err.message);
    CHECK(penny_gguf_open(scratch("gguf_roundtrip.gguf"), &p, &err) == PENNY_OK);
    if (!p || !q) goto done;
    expect_format(p, "s.u8", 8, 512, "200");
    expect_format(p, "s.i8", 8, 512, "-100");
    expect_format(p, "s.u64", 8, 512, "9223372036854775813");
    expect_format(p, "s.i64", 8, 512, "-4611686018427387904");
    expect_format(p, "s.f32", 8, 512, "1.5");
    expect_format(p, "c.f32", 8, 512, "1e-05");
    expect_format(p, "s.f64", 8, 512, "1e+300");
    expect_format(p, "s.bool", 8, 512, "true");
    expect_format(p, "c.bool", 8, 512, "false");
    expect_format(p, "s.str", 8, 512, "\"hello \\\"world\\\"\\n\\x01\"");
    expect_format(p, "c.empty", 8, 512, "\"\"");
    expect_format(p, "a.u32", 8, 512, "[1, 2, 3, 4, 5]");
    expect_format(p, "a.u32", 2, 512, "[1, 2, ... (5 items)]");
    expect_format(p, "a.u32", 0, 512, "[... (5 items)]");
    expect_format(p, "a.u32", -3, 512, "[... (5 items)]");
    expect_format(p, "a.i8", 8, 512, "[-128, 0, 127]");
    expect_format(p, "a.f32", 8, 512, "[0.5, -1e-05, 3.25]");
    expect_format(p, "a.f64", 8, 512, "[3.141592653589793, -2.5e+300]");
    expect_format(p, "a.bool", 8, 512, "[true, false, true, true]");
    expect_format(p, "a.u64", 8, 512, "[18446744073709551615, 0]");
    expect_format(p, "a.i64", 8, 512, "[-9223372036854775808, 9223372036854775807, -3]");
    expect_format(p, "a.empty", 8, 512, "[]");
    expect_format(p, "a.str", 8, 512, "[\"a\", \"\", \"\xe2\x96\x81the\", \"x y\"]");
    expect_format(p, "n.u32", 8, 512, "[[1, 2, 3, 4, 5], [1, 2]]");
    expect_format(p, "n.u32", 1, 512, "[[1, ... (5 items)], ... (2 items)]");
    expect_format(p, "n.str", 8, 512, "[[\"a\", \"\"], []]");
    expect_format(p, "n.deep", 8, 512, "[[[7]]]");
    expect_format(p, "a.u32", 8, 10, "[1, 2,...");
    expect_format(p, "a.u32", 8, 4, "...");
    expect_format(p, "a.u32", 8, 3, "[1");
    expect_format(p, "a.u32", 8, 1, "");
    char want[100];
    snprintf(want, sizeof want, "\"%.80s...\"", longs);
    expect_format(q, "long", 8, 512, want);
    expect_format(q, "strs", 8, 512, "[\"\xe2\x96\x81the\", \"tab\\there\", \"bad\\xff\"]");
    /* a cut never splits a UTF-8 character: "[\"" + 3-byte char */
    expect_format(q, "strs", 8, 8, "[\"...");
    char buf[8] = "keep";
    CHECK(penny_gguf_kv_format(p, 999, buf, sizeof buf, 8) == buf && buf[0] == '\0');
    CHECK(penny_gguf_kv_key(p, -1) == NULL && penny_gguf_kv_key(p, 999) == NULL);
    CHECK(penny_gguf_version(p) == 3 && penny_gguf_tensor_count(p) == N_TENSORS);
    penny_tensor_info ti;
    penny_gguf_tensor(p, 2, &ti);
    CHECK(strcmp(ti.name, "t.q8_0") == 0 && strcmp(ti.type_name, "Q8_0") == 0);
    CHECK(ti.n_dims == 2 && ti.ne[0] == 64 && ti.ne[1] == 2 && ti.ne[2] == 1);
    CHECK(ti.nbytes == 2 * 2 * 34 && ti.offset % 32 == 0);
    penny_gguf_tensor(p, 99, &ti);
    CHECK(ti.name && ti.name[0] == '\0' && ti.nbytes == 0);
done:
    penny_gguf_free(p);
    penny_gguf_free(q);
    penny_gguf_free(NULL);
}

/* ---- the real files ---- */

static void check_tokens(const gguf_file *g, uint64_t n) {
    const gguf_arr *a = NULL;
    penny_error err = {0};
    CHECK(gguf_get_arr(g, "tokenizer.ggml.tokens", &a, &err) == PENNY_OK);
    if (!a) return;
    CHECK(a->type == GGUF_STR && a->n == n);
    if (a->type != GGUF_STR || a->n != n) return;
    CHECK(gguf_str_eq(a->strs[0], "<unk>") && gguf_str_eq(a->strs[1], "<s>"));
    CHECK(gguf_str_eq(a->strs[2], "</s>") && gguf_str_eq(a->strs[3], "<0x00>"));
    CHECK(gguf_get_arr(g, "tokenizer.ggml.scores", &a, &err) == PENNY_OK);
    CHECK(a->type == GGUF_F32 && a->n == n);
    CHECK(gguf_get_arr(g, "tokenizer.ggml.token_type", &a, &err) == PENNY_OK);
    CHECK(a->type == GGUF_I32 && a->n == n && gguf_arr_num(a, 0) == 2 && gguf_arr_num(a, 1) == 3);
}

static void check_last_tensor_ends_file(const char *path, int64_t n_tensors, uint64_t size) {
    penny_gguf *p = NULL;
    CHECK(penny_gguf_open(path, &p, NULL) == PENNY_OK);
    if (!p) return;
    penny_tensor_info ti;
    penny_gguf_tensor(p, n_tensors - 1, &ti);
    CHECK(ti.offset + ti.nbytes == size);
    penny_gguf_free(p);
}

static void test_stories(void) {
    char buf[1024];
    const char *path = check_shared("models/stories260K.gguf", buf, sizeof buf);
    if (!path) {
        fprintf(stderr, "SKIP stories260K.gguf (no ../shared)\n");
        return;
    }
    gguf_file *g = NULL;
    penny_error err = {0};
    CHECKF(gguf_open(path, true, &g, &err) == PENNY_OK, "%s", err.message);
    if (!g) return;
    CHECK(gguf_version(g) == 3 && gguf_kv_count(g) == 19 && gguf_tensor_count(g) == 48);
    CHECK(gguf_alignment(g) == 32 && gguf_data_offset(g) == 14176);
    gguf_str s;
    CHECK(gguf_get_str(g, "general.architecture", &s, &err) == PENNY_OK && gguf_str_eq(s, "llama"));
    uint32_t u = 0;
    CHECK(gguf_get_u32(g, "llama.block_count", &u, &err) == PENNY_OK && u == 5);
    CHECK(gguf_get_u32(g, "llama.embedding_length", &u, &err) == PENNY_OK && u == 64);
    CHECK(gguf_get_u32(g, "llama.attention.head_count_kv", &u, &err) == PENNY_OK && u == 4);
    CHECK(gguf_get_u32(g, "tokenizer.ggml.padding_token_id", &u, &err) == PENNY_OK &&
          u == 4294967295u);
    float f = 0;
    CHECK(gguf_get_f32(g, "llama.attention.layer_norm_rms_epsilon", &f, &err) == PENNY_OK &&
          f == 1e-5f);
    check_tokens(g, 512);
    const gguf_tensor *t = gguf_find_tensor(g, "token_embd.weight");
    CHECK(t && t->type == TYPE_F32 && t->ne[0] == 64 && t->ne[1] == 512 && t->nbytes == 131072);
    t = gguf_find_tensor(g, "blk.0.ffn_down.weight");
    CHECK(t && t->n_dims == 2 && t->ne[0] == 172 && t->ne[1] == 64 && t->offset == 355840);
    CHECK(gguf_find_tensor(g, "blk.4.ffn_norm.weight") == gguf_tensor_at(g, 47));
    gguf_close(g);
    check_last_tensor_ends_file(path, 48, 1185376);
}

static void test_tiny_random(void) {
    char buf[1024];
    const char *path = check_shared("models/llama-2-tiny-random.gguf", buf, sizeof buf);
    if (!path) {
        fprintf(stderr, "SKIP llama-2-tiny-random.gguf (no ../shared)\n");
        return;
    }
    gguf_file *g = NULL;
    penny_error err = {0};
    CHECKF(gguf_open(path, false, &g, &err) == PENNY_OK, "%s", err.message);
    if (!g) return;
    CHECK(gguf_kv_count(g) == 18 && gguf_tensor_count(g) == 12);
    gguf_str s;
    CHECK(gguf_get_str(g, "general.architecture", &s, &err) == PENNY_OK && gguf_str_eq(s, "llama"));
    CHECK(gguf_get_str(g, "general.name", &s, &err) == PENNY_OK && gguf_str_eq(s, "LLaMA v2"));
    int64_t i = 0;
    CHECK(gguf_get_i64(g, "general.file_type", &i, &err) == PENNY_OK && i == 1);
    check_tokens(g, 32000);
    const gguf_tensor *t = gguf_find_tensor(g, "token_embd.weight");
    CHECK(t && t->type == TYPE_F16 && t->ne[0] == 8 && t->ne[1] == 32000 && t->nbytes == 512000);
    t = gguf_find_tensor(g, "output_norm.weight");
    CHECK(t && t->type == TYPE_F32 && t->n_dims == 1 && t->ne[0] == 8);
    gguf_close(g);
    check_last_tensor_ends_file(path, 12, 1750560);
    penny_gguf *p = NULL;
    CHECK(penny_gguf_open(path, &p, NULL) == PENNY_OK);
    if (p) {
        expect_format(p, "tokenizer.ggml.tokens", 3, 512,
                      "[\"<unk>\", \"<s>\", \"</s>\", ... (32000 items)]");
        expect_format(p, "tokenizer.ggml.scores", 2, 512, "[0, 0, ... (32000 items)]");
        expect_format(p, "llama.attention.layer_norm_rms_epsilon", 8, 512, "1e-05");
        expect_format(p, "general.name", 8, 512, "\"LLaMA v2\"");
    }
    penny_gguf_free(p);
}

/* ---- fuzz seeds ---- */

static int write_corpus(const char *dir) {
    char path[1024];
    gguf_writer *w = NULL;
    const int64_t ne1[1] = {32}, ne2[2] = {4, 2};
    static unsigned char data[256];
    int rc = 0;
    for (int k = 0; k < 4; k++) {
        if (gguf_writer_new(&w, NULL)) return 1;
        if (k == 1) set_nested(w);
        if (k == 1) gguf_writer_set_str_arr(w, "a.str", A_STR, 4);
        if (k == 2) gguf_writer_set_u32(w, "general.alignment", 64);
        if (k == 3) set_scalars(w);
        if (k == 3) gguf_writer_set_arr(w, "a.f32", GGUF_F32, A_F32, 3);
        gguf_writer_set_str(w, "general.architecture", "llama");
        if (k >= 1) gguf_writer_add_tensor(w, "a", TYPE_Q8_0, 1, ne1, data);
        if (k >= 2) gguf_writer_add_tensor(w, "b", TYPE_F32, 2, ne2, data);
        if (k == 3) gguf_writer_add_tensor(w, "c", TYPE_F16, 2, ne2, data);
        snprintf(path, sizeof path, "%s/seed%d.gguf", dir, k);
        penny_error err = {0};
        if (gguf_writer_save(w, path, &err)) fprintf(stderr, "%s\n", err.message), rc = 1;
        gguf_writer_free(w);
    }
    return rc;
}

int main(int argc, char **argv) {
    make_tensor_data();
    if (argc == 3 && strcmp(argv[1], "--write-corpus") == 0) return write_corpus(argv[2]);
    const char *b = getenv("PENNY_BUILD");
    mkdir(b ? b : "build", 0755);
    snprintf(g_dir, sizeof g_dir, "%s/tests", b ? b : "build");
    mkdir(g_dir, 0755);
    test_roundtrip(0);
    test_roundtrip(64);
    test_roundtrip(4096);
    test_getters();
    test_buffer();
    test_copy_kvs();
    test_writer_errors();
    test_format();
    test_stories();
    test_tiny_random();
    for (int i = 0; i < N_TENSORS; i++) free(g_tdata[i]);
    return check_done("test_gguf");
}
