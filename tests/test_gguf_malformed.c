/*
 * test_gguf_malformed.c - the GGUF reader against broken files.
 *
 * A small valid file is built byte by byte, recording where each field
 * lies; every case then patches one field (absurd counts and lengths, bad
 * types, misplaced or overlapping tensor data, ...) or changes the layout
 * (duplicates, bad alignment, an array nesting bomb), and every prefix of a
 * writer-made file is tried as a truncated file. Each broken file is written
 * to $PENNY_BUILD/tests/malformed/ (handy as extra fuzz seeds) and opened
 * both from disk and from an exactly sized heap buffer, so that ASan sees
 * any read past the end. Each must fail with one message that names the
 * file and a byte offset, and, where the case is precise, the expected
 * problem at the expected offset.
 */
#include <inttypes.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "format/gguf.h"
#include "kernels/types.h"

static char g_dir[512];

/* ---- a byte builder ---- */

typedef struct bytes {
    unsigned char *p;
    size_t len, cap;
} bytes;

static void put(bytes *b, const void *src, size_t n) {
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n) cap *= 2;
        unsigned char *p = realloc(b->p, cap);
        if (!p) abort(); /* test code: no recovery needed */
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, src, n);
    b->len += n;
}

static void put_u8(bytes *b, uint8_t v) { put(b, &v, 1); }
static void put_u32(bytes *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(bytes *b, uint64_t v) { put(b, &v, 8); }

static void put_strn(bytes *b, const char *s, size_t n) {
    put_u64(b, n);
    put(b, s, n);
}

static void put_str(bytes *b, const char *s) { put_strn(b, s, strlen(s)); }

static void pad_to(bytes *b, size_t align) {
    while (b->len % align) put_u8(b, 0);
}

/* ---- the base file and its variants ---- */

typedef struct opts {
    int align;                  /* 0: no general.alignment pair */
    enum gguf_vtype align_type; /* type of that pair (U32 when 0) */
    int depth;                  /* > 0: a pair with arrays nested this deep */
    bool dup_key, dup_tensor, empty_key, nul_key, empty_name;
} opts;

/* Offsets of the fields that cases patch. */
typedef struct marks {
    size_t n_tensors, n_kv, key0_len, str_len, u32_type, bool_val, arr_type, arr_count;
    size_t strs_count, strs_len1, nested_count, nested_type;
    size_t a_info, a_ndims, a_dim0, a_dim1, a_type, b_dim0, b_offset;
} marks;

static void put_kvs(bytes *b, const opts *o, marks *m, uint64_t *n_kv) {
    m->key0_len = b->len;
    if (o->empty_key)
        put_str(b, "");
    else if (o->nul_key)
        put_strn(b, "gen\0arch", 8);
    else
        put_str(b, "general.architecture");
    put_u32(b, GGUF_STR), m->str_len = b->len, put_str(b, "llama");
    put_str(b, "k.u32"), m->u32_type = b->len, put_u32(b, GGUF_U32), put_u32(b, 7);
    put_str(b, "k.bool"), put_u32(b, GGUF_BOOL), m->bool_val = b->len, put_u8(b, 1);
    put_str(b, "k.arr"), put_u32(b, GGUF_ARR), m->arr_type = b->len, put_u32(b, GGUF_U32);
    m->arr_count = b->len, put_u64(b, 3), put_u32(b, 1), put_u32(b, 2), put_u32(b, 3);
    put_str(b, "k.strs"), put_u32(b, GGUF_ARR), put_u32(b, GGUF_STR);
    m->strs_count = b->len, put_u64(b, 2), put_str(b, "a"), m->strs_len1 = b->len, put_str(b, "bc");
    put_str(b, "k.nested"), put_u32(b, GGUF_ARR), put_u32(b, GGUF_ARR);
    m->nested_count = b->len, put_u64(b, 1), m->nested_type = b->len, put_u32(b, GGUF_U8);
    put_u64(b, 2), put_u8(b, 1), put_u8(b, 2);
    *n_kv = 6;
    if (o->align) {
        put_str(b, "general.alignment");
        enum gguf_vtype t = o->align_type ? o->align_type : GGUF_U32;
        put_u32(b, t);
        if (t == GGUF_U32)
            put_u32(b, (uint32_t)o->align);
        else
            put_str(b, "32");
        ++*n_kv;
    }
    if (o->dup_key) put_str(b, "k.u32"), put_u32(b, GGUF_U32), put_u32(b, 8), ++*n_kv;
    if (o->depth > 0) {
        put_str(b, "k.deep"), put_u32(b, GGUF_ARR), ++*n_kv;
        for (int d = 1; d < o->depth; d++) put_u32(b, GGUF_ARR), put_u64(b, 1);
        put_u32(b, GGUF_U8), put_u64(b, 1), put_u8(b, 0);
    }
}

/* Tensor "a": F32 {4, 2} at 0; tensor "b": Q8_0 {32} after it. */
static void put_infos(bytes *b, const opts *o, marks *m, size_t align) {
    m->a_info = b->len;
    put_str(b, o->empty_name ? "" : "a");
    m->a_ndims = b->len, put_u32(b, 2), m->a_dim0 = b->len, put_u64(b, 4);
    m->a_dim1 = b->len, put_u64(b, 2), m->a_type = b->len, put_u32(b, TYPE_F32), put_u64(b, 0);
    put_str(b, o->dup_tensor ? "a" : "b"), put_u32(b, 1), m->b_dim0 = b->len, put_u64(b, 32);
    put_u32(b, TYPE_Q8_0), m->b_offset = b->len, put_u64(b, (32 + align - 1) / align * align);
}

static bytes build(const opts *o, marks *m) {
    bytes b = {0};
    size_t align = o->align > 0 && (o->align & (o->align - 1)) == 0 ? (size_t)o->align : 32;
    uint64_t n_kv;
    put(&b, "GGUF", 4), put_u32(&b, 3);
    m->n_tensors = b.len, put_u64(&b, 2), m->n_kv = b.len, put_u64(&b, 0);
    put_kvs(&b, o, m, &n_kv);
    memcpy(b.p + m->n_kv, &n_kv, 8);
    put_infos(&b, o, m, align);
    pad_to(&b, align);
    for (int i = 0; i < 32; i++) put_u8(&b, (uint8_t)i);
    pad_to(&b, align);
    for (int i = 0; i < 34; i++) put_u8(&b, (uint8_t)(100 + i));
    return b;
}

/* ---- checking one file ---- */

static void write_bytes(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    CHECKF(f != NULL, "cannot create %s", path);
    if (!f) return;
    CHECK(fwrite(p, 1, n, f) == n);
    fclose(f);
}

/* Opens the bytes from disk (as name) and from an exact-size heap copy;
 * both must fail with a message holding the name, "byte offset", want and
 * want2 (unless NULL) and "byte offset <at>" (unless at is SIZE_MAX). */
static void expect_fail(const char *name, const bytes *b, size_t len, const char *want,
                        const char *want2, size_t at) {
    char path[700], where[64];
    snprintf(path, sizeof path, "%s/%s.gguf", g_dir, name);
    snprintf(where, sizeof where, "byte offset %zu:", at);
    write_bytes(path, b->p, len);
    unsigned char *copy = malloc(len ? len : 1);
    if (len) memcpy(copy, b->p, len);
    for (int k = 0; k < 2; k++) {
        gguf_file *g = NULL;
        penny_error err = {0};
        penny_status rc =
            k == 0 ? gguf_open(path, false, &g, &err) : gguf_open_buffer(copy, len, name, &g, &err);
        const char *m = err.message;
        CHECKF(rc != PENNY_OK && g == NULL, "%s: accepted", name);
        CHECKF(err.code == rc, "%s: code %d vs %d", name, (int)err.code, (int)rc);
        CHECKF(strncmp(m, k == 0 ? path : name, strlen(k == 0 ? path : name)) == 0,
               "%s: message does not start with the name: %s", name, m);
        CHECKF(strstr(m, "byte offset") != NULL, "%s: no offset: %s", name, m);
        if (want) CHECKF(strstr(m, want) != NULL, "%s: want '%s': %s", name, want, m);
        if (want2) CHECKF(strstr(m, want2) != NULL, "%s: want '%s': %s", name, want2, m);
        if (at != SIZE_MAX) CHECKF(strstr(m, where) != NULL, "%s: want '%s': %s", name, where, m);
        gguf_close(g);
    }
    free(copy);
}

static void expect_ok(const char *name, const bytes *b) {
    char path[700];
    snprintf(path, sizeof path, "%s/valid_%s.gguf", g_dir, name);
    write_bytes(path, b->p, b->len);
    gguf_file *g = NULL;
    penny_error err = {0};
    CHECKF(gguf_open(path, false, &g, &err) == PENNY_OK, "%s: %s", name, err.message);
    if (g) CHECK(gguf_tensor_count(g) == 2 && gguf_find_tensor(g, "b") != NULL);
    gguf_close(g);
}

/* ---- one-field patches ---- */

enum field {
    F_MAGIC,
    F_VERSION,
    F_N_TENSORS,
    F_N_KV,
    F_KEY0_LEN,
    F_STR_LEN,
    F_U32_TYPE,
    F_BOOL_VAL,
    F_ARR_TYPE,
    F_ARR_COUNT,
    F_STRS_COUNT,
    F_STRS_LEN1,
    F_NESTED_COUNT,
    F_NESTED_TYPE,
    F_A_NDIMS,
    F_A_DIM0,
    F_A_DIM1,
    F_A_TYPE,
    F_B_DIM0,
    F_B_OFFSET,
};

static size_t field_at(const marks *m, enum field f) {
    const size_t at[] = {0,
                         4,
                         m->n_tensors,
                         m->n_kv,
                         m->key0_len,
                         m->str_len,
                         m->u32_type,
                         m->bool_val,
                         m->arr_type,
                         m->arr_count,
                         m->strs_count,
                         m->strs_len1,
                         m->nested_count,
                         m->nested_type,
                         m->a_ndims,
                         m->a_dim0,
                         m->a_dim1,
                         m->a_type,
                         m->b_dim0,
                         m->b_offset};
    return at[f];
}

typedef struct patch_case {
    const char *name;
    enum field field;
    int width; /* bytes written: 1, 4 or 8 */
    uint64_t value;
    const char *want; /* expected in the message */
    int where;        /* 0: error at the field itself; 1: at tensor a's info; -1: anywhere */
} patch_case;

#define HUGE62 (1ull << 62)
#define HUGE63 (1ull << 63)

static const patch_case g_patches[] = {
    {"bad_magic", F_MAGIC, 1, 'X', "not a GGUF file", 0},
    {"version_0", F_VERSION, 4, 0, "version 0 is not supported", 0},
    {"version_1", F_VERSION, 4, 1, "version 1 is not supported", 0},
    {"version_99", F_VERSION, 4, 99, "version 99 is not supported", 0},
    {"version_big_endian", F_VERSION, 4, 0x03000000u, "big-endian", 0},
    {"kv_count_2e62", F_N_KV, 8, HUGE62, "metadata count", 0},
    {"kv_count_max", F_N_KV, 8, UINT64_MAX, "metadata count", 0},
    {"kv_count_plus_1", F_N_KV, 8, 7, NULL, -1},
    {"tensor_count_2e60", F_N_TENSORS, 8, 1ull << 60, "tensor count", 0},
    {"tensor_count_max", F_N_TENSORS, 8, UINT64_MAX, "tensor count", 0},
    {"tensor_count_plus_1", F_N_TENSORS, 8, 3, NULL, -1},
    {"key_length_2e63", F_KEY0_LEN, 8, HUGE63, "key length", 0},
    {"key_length_plus_1", F_KEY0_LEN, 8, 21, NULL, -1},
    {"string_length_2e63", F_STR_LEN, 8, HUGE63, "string length", 0},
    {"value_type_13", F_U32_TYPE, 4, 13, "unknown value type 13", 0},
    {"value_type_max", F_U32_TYPE, 4, UINT32_MAX, "unknown value type 4294967295", 0},
    {"bool_2", F_BOOL_VAL, 1, 2, "bool value is 2", 0},
    {"array_type_13", F_ARR_TYPE, 4, 13, "unknown array element type 13", 0},
    {"array_count_2e61", F_ARR_COUNT, 8, 1ull << 61, "does not fit", -1},
    {"array_count_max", F_ARR_COUNT, 8, UINT64_MAX, "does not fit", -1},
    {"string_array_count_2e61", F_STRS_COUNT, 8, 1ull << 61, "strings does not fit", -1},
    {"string_element_length_2e63", F_STRS_LEN1, 8, HUGE63, "string element length", 0},
    {"nested_count_2e61", F_NESTED_COUNT, 8, 1ull << 61, "arrays does not fit", -1},
    {"nested_type_99", F_NESTED_TYPE, 4, 99, "unknown array element type 99", 0},
    {"n_dims_0", F_A_NDIMS, 4, 0, "n_dims is 0", 0},
    {"n_dims_5", F_A_NDIMS, 4, 5, "n_dims is 5", 0},
    {"dim_0", F_A_DIM1, 8, 0, "dimension 1 is 0", 0},
    {"dim_2e63", F_A_DIM0, 8, HUGE63, "overflow", 0},
    {"dims_product_overflow", F_A_DIM1, 8, HUGE62, "element count overflow", 0},
    {"data_size_overflow", F_A_DIM0, 8, 1ull << 61, "data size overflows", -1},
    {"tensor_type_77", F_A_TYPE, 4, 77, "unknown type id 77", 0},
    {"tensor_type_4", F_A_TYPE, 4, 4, "unknown type id 4", 0},
    {"tensor_type_max", F_A_TYPE, 4, UINT32_MAX, "unknown type id", 0},
    {"block_size", F_B_DIM0, 8, 33, "not a multiple of the Q8_0 block size 32", -1},
    {"offset_misaligned", F_B_OFFSET, 8, 33, "not a multiple of the alignment 32", 0},
    {"offset_overlap", F_B_OFFSET, 8, 0, "overlaps that of tensor 'a'", -1},
    {"offset_past_end", F_B_OFFSET, 8, 4096, "runs past the end", -1},
    {"offset_wraps", F_B_OFFSET, 8, UINT64_MAX - 31, "runs past the end", -1},
    {"tensor_past_end", F_A_DIM1, 8, 1000, "runs past the end", 1},
};

static void test_patches(void) {
    for (size_t i = 0; i < sizeof g_patches / sizeof g_patches[0]; i++) {
        const patch_case *c = &g_patches[i];
        marks m;
        opts o = {0};
        bytes b = build(&o, &m);
        size_t at = field_at(&m, c->field);
        memcpy(b.p + at, &c->value, (size_t)c->width); /* little-endian host */
        if (c->field == F_A_DIM1 && c->value == HUGE62) {
            uint64_t d0 = HUGE62; /* 2^62 * 2^62 overflows int64 */
            memcpy(b.p + m.a_dim0, &d0, 8);
        }
        size_t where = c->where == 0 ? at : c->where == 1 ? m.a_info : SIZE_MAX;
        bool in_a = c->field >= F_A_NDIMS && c->field <= F_A_TYPE;
        expect_fail(c->name, &b, b.len, c->want, in_a ? "tensor 'a' info" : NULL, where);
        free(b.p);
    }
}

/* ---- layout variants ---- */

static void test_variants(void) {
    struct {
        const char *name;
        opts o;
        const char *want;
    } bad[] = {
        {"alignment_3", {.align = 3}, "alignment 3 is not a non-zero power of two"},
        {"alignment_2e31_plus_1", {.align = (int)((1u << 31) - 1)}, "not a non-zero power"},
        {"alignment_string", {.align = 32, .align_type = GGUF_STR}, "must be a u32, not string"},
        {"duplicate_key", {.dup_key = true}, "duplicate key (first defined at byte offset"},
        {"duplicate_tensor", {.dup_tensor = true}, "duplicate tensor name"},
        {"empty_key", {.empty_key = true}, "name is empty"},
        {"nul_in_key", {.nul_key = true}, "NUL byte"},
        {"empty_tensor_name", {.empty_name = true}, "name is empty"},
        {"nesting_depth_9", {.depth = 9}, "nested deeper than 8 levels"},
        {"nesting_bomb", {.depth = 100000}, "nested deeper than 8 levels"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        marks m;
        bytes b = build(&bad[i].o, &m);
        expect_fail(bad[i].name, &b, b.len, bad[i].want, NULL, SIZE_MAX);
        free(b.p);
    }
    /* general.alignment = 0: built with 32, then the value patched */
    marks m;
    opts o = {.align = 32};
    bytes b = build(&o, &m);
    uint32_t zero = 0;
    memcpy(b.p + m.a_info - 4, &zero, 4); /* the pair is the last before the infos */
    expect_fail("alignment_0", &b, b.len, "alignment 0 is not", NULL, SIZE_MAX);
    free(b.p);

    opts good[] = {{0}, {.align = 64}, {.align = 1}, {.depth = 8}, {.align = 4096}};
    const char *names[] = {"base", "alignment_64", "alignment_1", "nesting_depth_8", "align_4096"};
    for (int i = 0; i < 5; i++) {
        b = build(&good[i], &m);
        expect_ok(names[i], &b);
        free(b.p);
    }
    b = build(&good[0], &m);
    uint32_t v2 = 2;
    memcpy(b.p + 4, &v2, 4);
    expect_ok("version_2", &b);
    free(b.p);
}

/* ---- every prefix of a writer-made file ---- */

static bytes writer_file(void) {
    bytes out = {0};
    gguf_writer *w = NULL;
    static unsigned char data[64 * 34];
    const int64_t ne_a[2] = {3, 2}, ne_b[1] = {64};
    const uint32_t arr[3] = {1, 2, 3};
    const char *strs[2] = {"x", "yz"};
    char path[700];
    snprintf(path, sizeof path, "%s/valid_writer.gguf", g_dir);
    for (size_t i = 0; i < sizeof data; i++) data[i] = (unsigned char)i;
    CHECK(gguf_writer_new(&w, NULL) == PENNY_OK);
    if (!w) return out;
    gguf_writer_set_str(w, "general.architecture", "llama");
    gguf_writer_set_u32(w, "k.u32", 1);
    gguf_writer_set_f32(w, "k.f32", 0.5f);
    gguf_writer_set_arr(w, "k.arr", GGUF_U32, arr, 3);
    gguf_writer_set_str_arr(w, "k.strs", strs, 2);
    gguf_writer_add_tensor(w, "a", TYPE_F32, 2, ne_a, data);
    gguf_writer_add_tensor(w, "b", TYPE_Q8_0, 1, ne_b, data);
    penny_error err = {0};
    CHECKF(gguf_writer_save(w, path, &err) == PENNY_OK, "%s", err.message);
    gguf_writer_free(w);
    FILE *f = fopen(path, "rb");
    unsigned char buf[4096];
    size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (f) fclose(f);
    put(&out, buf, n);
    return out;
}

static void test_prefixes(void) {
    bytes b = writer_file();
    CHECK(b.len > 200 && b.len < 4096);
    gguf_file *g = NULL;
    CHECK(gguf_open_buffer(b.p, b.len, "full", &g, NULL) == PENNY_OK);
    gguf_close(g);
    for (size_t len = 0; len < b.len; len++) {
        char name[64];
        snprintf(name, sizeof name, "prefix_%04zu", len);
        expect_fail(name, &b, len, NULL, NULL, SIZE_MAX);
        /* and the message says what a cut file lacks, nothing misleading */
        penny_error err = {0};
        CHECK(gguf_open_buffer(b.p, len, name, &g, &err) != PENNY_OK);
        const char *m = err.message;
        CHECKF(strstr(m, " left") || strstr(m, "past the end") || (len < 4 && strstr(m, "magic")),
               "%s", m);
    }
    free(b.p);
}

int main(void) {
    const char *b = getenv("PENNY_BUILD");
    char tests[400];
    snprintf(tests, sizeof tests, "%s/tests", b ? b : "build");
    snprintf(g_dir, sizeof g_dir, "%s/malformed", tests);
    mkdir(b ? b : "build", 0755);
    mkdir(tests, 0755);
    mkdir(g_dir, 0755);
    test_patches();
    test_variants();
    test_prefixes();
    return check_done("test_gguf_malformed");
}
