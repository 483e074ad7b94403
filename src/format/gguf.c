/*
 * gguf.c - the GGUF reader: parses and validates a whole file (or buffer) up
 * front, so the rest of penny can trust every count, offset and size it gets.
 *
 * The parser walks the bytes once with a cursor that checks each read
 * against the bytes left, and every count against the smallest encoding its
 * elements could have, before anything is allocated. That bounds memory by
 * the file size and turns every malformation into one message of the form
 * "<file>: <field> at byte offset <N>: <problem>". Keys, strings and tensor
 * data stay views into the mapping; only index tables (string arrays, nested
 * arrays, hash tables for lookups by name) are allocated.
 */
#include "format/gguf.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "kernels/types.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "gguf.c reads little-endian fields with memcpy and needs a little-endian host"
#endif

/* Deeper nesting than this is refused: real files use one level at most. */
#define GGUF_MAX_DEPTH 8
/* The GGUF spec caps keys at 65535 bytes. */
#define GGUF_MAX_KEY 65535
/* Smallest encodings, used to bound counts before allocating. */
#define MIN_KV_SIZE 13     /* u64 key length + u32 type + 1-byte value */
#define MIN_TENSOR_SIZE 32 /* u64 name length + u32 n_dims + u64 dim + u32 type + u64 offset */
#define MIN_STR_SIZE 8
#define MIN_ARR_SIZE 12 /* u32 element type + u64 count */

/* An open-addressing table from names (views into the file) to indexes. */
typedef struct name_slot {
    const char *ptr; /* NULL: empty slot (names are never empty) */
    uint64_t len;
    int64_t idx;
} name_slot;

typedef struct name_table {
    name_slot *slots;
    uint64_t mask;
} name_table;

/* Index tables for arrays, freed together with the file. */
typedef struct arena_block {
    struct arena_block *next;
    max_align_t data[];
} arena_block;

struct gguf_file {
    mapfile mf;                /* empty for gguf_open_buffer */
    const unsigned char *base; /* size bytes */
    uint64_t size;
    char *name; /* path or buffer name, for messages */
    uint32_t version;
    uint64_t alignment;
    uint64_t data_offset; /* start of the tensor data section */
    int64_t n_kv;
    gguf_kv *kvs;
    int64_t n_tensors;
    gguf_tensor *tensors;
    name_table kv_index;
    name_table tensor_index;
    arena_block *arena;
};

/* The cursor: every read goes through need(), which checks the bytes left. */
typedef struct parser {
    gguf_file *g;
    uint64_t pos;
    char what[160]; /* the field being read, for messages */
    penny_error *err;
} parser;

static const uint8_t g_vsize[13] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

const char *gguf_vtype_name(enum gguf_vtype t) {
    static const char *names[13] = {"u8",   "i8",     "u16",   "i16", "u32", "i32", "f32",
                                    "bool", "string", "array", "u64", "i64", "f64"};
    return (unsigned)t < 13 ? names[t] : "unknown";
}

/* ---- messages ---- */

/* Copies a name from the file into buf, printable, shortened when long. */
static void quote_name(const char *p, uint64_t n, char *buf, size_t cap) {
    size_t k = 0, lim = n < 48 ? (size_t)n : 48;
    for (size_t i = 0; i < lim && k + 1 < cap; i++) {
        unsigned char c = (unsigned char)p[i];
        buf[k++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    buf[k] = '\0';
    if (n > lim && k + 4 < cap) memcpy(buf + k, "...", 4);
}

static void set_what(parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_what(parser *p, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->what, sizeof p->what, fmt, ap);
    va_end(ap);
}

static penny_status fail_at(parser *p, uint64_t off, penny_status code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static penny_status fail_at(parser *p, uint64_t off, penny_status code, const char *fmt, ...) {
    char problem[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(problem, sizeof problem, fmt, ap);
    va_end(ap);
    return err_set(p->err, code, "%s: %s at byte offset %" PRIu64 ": %s", p->g->name, p->what, off,
                   problem);
}

/* ---- allocation ---- */

static void *arena_alloc(gguf_file *g, uint64_t n, size_t size) {
    if (n == 0 || n > (SIZE_MAX - sizeof(arena_block)) / size) return NULL;
    arena_block *b = malloc(sizeof *b + (size_t)n * size);
    if (!b) return NULL;
    b->next = g->arena;
    g->arena = b;
    return b->data;
}

static void arena_free(arena_block *b) {
    while (b) {
        arena_block *next = b->next;
        free(b);
        b = next;
    }
}

/* ---- name tables ---- */

static uint64_t hash_name(const char *p, uint64_t n) {
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (uint64_t i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 0x100000001b3ull;
    return h;
}

static bool table_init(name_table *t, int64_t n) {
    uint64_t cap = 8;
    while (cap < (uint64_t)n * 2) cap *= 2;
    t->slots = calloc(cap, sizeof *t->slots);
    t->mask = cap - 1;
    return t->slots != NULL;
}

/* Index of name, or -1. */
static int64_t table_find(const name_table *t, const char *p, uint64_t n) {
    if (!t->slots) return -1;
    for (uint64_t i = hash_name(p, n) & t->mask;; i = (i + 1) & t->mask) {
        const name_slot *s = &t->slots[i];
        if (!s->ptr) return -1;
        if (s->len == n && memcmp(s->ptr, p, n) == 0) return s->idx;
    }
}

/* Adds name -> idx; returns the index already there, or -1 when new. */
static int64_t table_add(name_table *t, gguf_str name, int64_t idx) {
    for (uint64_t i = hash_name(name.ptr, name.len) & t->mask;; i = (i + 1) & t->mask) {
        name_slot *s = &t->slots[i];
        if (!s->ptr) {
            *s = (name_slot){name.ptr, name.len, idx};
            return -1;
        }
        if (s->len == name.len && memcmp(s->ptr, name.ptr, name.len) == 0) return s->idx;
    }
}

/* ---- primitive reads ---- */

static uint64_t left(const parser *p) { return p->g->size - p->pos; }

static penny_status need(parser *p, uint64_t n, const char *thing) {
    if (n <= left(p)) return PENNY_OK;
    return fail_at(p, p->pos, PENNY_ERR_FORMAT,
                   "file truncated: %s needs %" PRIu64 " bytes, only %" PRIu64 " left", thing, n,
                   left(p));
}

static penny_status rd_u32(parser *p, uint32_t *v, const char *thing) {
    penny_status rc = need(p, 4, thing);
    if (rc) return rc;
    memcpy(v, p->g->base + p->pos, 4);
    p->pos += 4;
    return PENNY_OK;
}

static penny_status rd_u64(parser *p, uint64_t *v, const char *thing) {
    penny_status rc = need(p, 8, thing);
    if (rc) return rc;
    memcpy(v, p->g->base + p->pos, 8);
    p->pos += 8;
    return PENNY_OK;
}

static penny_status rd_str(parser *p, gguf_str *s, const char *thing) {
    uint64_t at = p->pos, len;
    penny_status rc = rd_u64(p, &len, thing);
    if (rc) return rc;
    if (len > left(p))
        return fail_at(p, at, PENNY_ERR_FORMAT,
                       "%s length %" PRIu64 " exceeds the %" PRIu64 " bytes left in the file",
                       thing, len, left(p));
    s->ptr = (const char *)p->g->base + p->pos;
    s->len = len;
    p->pos += len;
    return PENNY_OK;
}

/* A name (key or tensor name) must be non-empty and free of NUL bytes,
 * so that it can be looked up and printed as a C string. */
static penny_status check_name(parser *p, uint64_t at, gguf_str s, uint64_t max) {
    if (s.len == 0) return fail_at(p, at, PENNY_ERR_FORMAT, "name is empty");
    if (s.len > max)
        return fail_at(p, at, PENNY_ERR_FORMAT, "name is %" PRIu64 " bytes long, over %" PRIu64,
                       s.len, max);
    if (memchr(s.ptr, '\0', s.len)) return fail_at(p, at, PENNY_ERR_FORMAT, "name has a NUL byte");
    return PENNY_OK;
}

/* ---- values ---- */

static void decode_scalar(const unsigned char *b, enum gguf_vtype t, gguf_value *v) {
    uint8_t u8;
    int8_t i8;
    uint16_t u16;
    int16_t i16;
    uint32_t u32;
    int32_t i32;
    float f32;
    v->type = t;
    switch (t) {
    case GGUF_U8: memcpy(&u8, b, 1), v->v.u = u8; break;
    case GGUF_I8: memcpy(&i8, b, 1), v->v.i = i8; break;
    case GGUF_U16: memcpy(&u16, b, 2), v->v.u = u16; break;
    case GGUF_I16: memcpy(&i16, b, 2), v->v.i = i16; break;
    case GGUF_U32: memcpy(&u32, b, 4), v->v.u = u32; break;
    case GGUF_I32: memcpy(&i32, b, 4), v->v.i = i32; break;
    case GGUF_F32: memcpy(&f32, b, 4), v->v.f = f32; break;
    case GGUF_BOOL: v->v.b = b[0] != 0; break;
    case GGUF_U64: memcpy(&v->v.u, b, 8); break;
    case GGUF_I64: memcpy(&v->v.i, b, 8); break;
    case GGUF_F64: memcpy(&v->v.f, b, 8); break;
    default: break;
    }
}

static penny_status rd_scalar(parser *p, enum gguf_vtype t, gguf_value *v) {
    penny_status rc = need(p, g_vsize[t], gguf_vtype_name(t));
    if (rc) return rc;
    const unsigned char *b = p->g->base + p->pos;
    if (t == GGUF_BOOL && b[0] > 1)
        return fail_at(p, p->pos, PENNY_ERR_FORMAT, "bool value is %u, not 0 or 1", b[0]);
    decode_scalar(b, t, v);
    p->pos += g_vsize[t];
    return PENNY_OK;
}

static penny_status rd_array(parser *p, gguf_arr *a, int depth);

/* Fixed-size elements stay in the file; only the bools are checked. */
static penny_status rd_fixed_elems(parser *p, gguf_arr *a, uint64_t at) {
    uint64_t sz = g_vsize[a->type];
    if (a->n > left(p) / sz)
        return fail_at(p, at, PENNY_ERR_FORMAT,
                       "array of %" PRIu64 " %s elements does not fit in the %" PRIu64
                       " bytes left",
                       a->n, gguf_vtype_name(a->type), left(p));
    const unsigned char *b = p->g->base + p->pos;
    if (a->type == GGUF_BOOL)
        for (uint64_t i = 0; i < a->n; i++)
            if (b[i] > 1)
                return fail_at(p, p->pos + i, PENNY_ERR_FORMAT, "bool element %" PRIu64 " is %u", i,
                               b[i]);
    a->data = b;
    p->pos += a->n * sz;
    return PENNY_OK;
}

static penny_status rd_str_elems(parser *p, gguf_arr *a, uint64_t at) {
    if (a->n > left(p) / MIN_STR_SIZE)
        return fail_at(p, at, PENNY_ERR_FORMAT,
                       "array of %" PRIu64 " strings does not fit in the %" PRIu64 " bytes left",
                       a->n, left(p));
    gguf_str *s = arena_alloc(p->g, a->n, sizeof *s);
    if (a->n && !s) return fail_at(p, at, PENNY_ERR_NOMEM, "out of memory for the string table");
    a->strs = s;
    a->data = p->g->base + p->pos;
    for (uint64_t i = 0; i < a->n; i++) {
        penny_status rc = rd_str(p, &s[i], "string element");
        if (rc) return rc;
    }
    return PENNY_OK;
}

static penny_status rd_arr_elems(parser *p, gguf_arr *a, uint64_t at, int depth) {
    if (a->n > left(p) / MIN_ARR_SIZE)
        return fail_at(p, at, PENNY_ERR_FORMAT,
                       "array of %" PRIu64 " arrays does not fit in the %" PRIu64 " bytes left",
                       a->n, left(p));
    gguf_value *items = arena_alloc(p->g, a->n, sizeof *items);
    if (a->n && !items) return fail_at(p, at, PENNY_ERR_NOMEM, "out of memory for nested arrays");
    a->items = items;
    a->data = p->g->base + p->pos;
    for (uint64_t i = 0; i < a->n; i++) {
        memset(&items[i], 0, sizeof items[i]);
        items[i].type = GGUF_ARR;
        penny_status rc = rd_array(p, &items[i].v.arr, depth + 1);
        if (rc) return rc;
    }
    return PENNY_OK;
}

static penny_status rd_array(parser *p, gguf_arr *a, int depth) {
    uint64_t at = p->pos;
    uint32_t type;
    penny_status rc;
    memset(a, 0, sizeof *a);
    if (depth > GGUF_MAX_DEPTH)
        return fail_at(p, at, PENNY_ERR_FORMAT, "arrays nested deeper than %d levels",
                       GGUF_MAX_DEPTH);
    if ((rc = rd_u32(p, &type, "array element type")) || (rc = rd_u64(p, &a->n, "array count")))
        return rc;
    if (type > GGUF_F64)
        return fail_at(p, at, PENNY_ERR_FORMAT, "unknown array element type %" PRIu32, type);
    a->type = (enum gguf_vtype)type;
    if (a->type == GGUF_STR) return rd_str_elems(p, a, at);
    if (a->type == GGUF_ARR) return rd_arr_elems(p, a, at, depth);
    return rd_fixed_elems(p, a, at);
}

static penny_status rd_value(parser *p, gguf_value *v) {
    uint64_t at = p->pos;
    uint32_t type;
    penny_status rc = rd_u32(p, &type, "value type");
    if (rc) return rc;
    if (type > GGUF_F64) return fail_at(p, at, PENNY_ERR_FORMAT, "unknown value type %u", type);
    memset(v, 0, sizeof *v);
    v->type = (enum gguf_vtype)type;
    if (v->type == GGUF_STR) return rd_str(p, &v->v.s, "string");
    if (v->type == GGUF_ARR) return rd_array(p, &v->v.arr, 1);
    return rd_scalar(p, v->type, v);
}

/* ---- header and metadata ---- */

static penny_status rd_header(parser *p, uint64_t *n_tensors, uint64_t *n_kv) {
    gguf_file *g = p->g;
    set_what(p, "header");
    if (g->size < 4 || memcmp(g->base, "GGUF", 4) != 0)
        return fail_at(p, 0, PENNY_ERR_FORMAT, "not a GGUF file (the magic \"GGUF\" is missing)");
    p->pos = 4;
    penny_status rc = rd_u32(p, &g->version, "version");
    if (rc) return rc;
    uint32_t v = g->version;
    if (v == 1)
        return fail_at(p, 4, PENNY_ERR_UNSUPPORTED,
                       "GGUF version 1 is not supported (only 2 and 3); convert the file again");
    if (v == 0x02000000u || v == 0x03000000u)
        return fail_at(p, 4, PENNY_ERR_UNSUPPORTED, "big-endian GGUF files are not supported");
    if (v != 2 && v != 3)
        return fail_at(p, 4, PENNY_ERR_UNSUPPORTED,
                       "GGUF version %" PRIu32 " is not supported (only 2 and 3)", v);
    if ((rc = rd_u64(p, n_tensors, "tensor count")) || (rc = rd_u64(p, n_kv, "metadata count")))
        return rc;
    if (*n_kv > left(p) / MIN_KV_SIZE)
        return fail_at(p, 16, PENNY_ERR_FORMAT,
                       "metadata count %" PRIu64 " cannot fit in the %" PRIu64
                       " bytes left (truncated or corrupt file)",
                       *n_kv, left(p));
    if (*n_tensors > (left(p) - *n_kv * MIN_KV_SIZE) / MIN_TENSOR_SIZE)
        return fail_at(p, 8, PENNY_ERR_FORMAT,
                       "tensor count %" PRIu64 " cannot fit in the %" PRIu64
                       " bytes left (truncated or corrupt file)",
                       *n_tensors, left(p));
    return PENNY_OK;
}

static penny_status rd_kv(parser *p, int64_t i) {
    gguf_kv *kv = &p->g->kvs[i];
    kv->offset = p->pos;
    set_what(p, "metadata pair %" PRId64 " key", i);
    penny_status rc = rd_str(p, &kv->key, "key");
    if (rc || (rc = check_name(p, kv->offset, kv->key, GGUF_MAX_KEY))) return rc;
    char q[64];
    quote_name(kv->key.ptr, kv->key.len, q, sizeof q);
    set_what(p, "key '%s'", q);
    if ((rc = rd_value(p, &kv->val))) return rc;
    int64_t first = table_add(&p->g->kv_index, kv->key, i);
    if (first >= 0)
        return fail_at(p, kv->offset, PENNY_ERR_FORMAT,
                       "duplicate key (first defined at byte offset %" PRIu64 ")",
                       p->g->kvs[first].offset);
    return PENNY_OK;
}

static penny_status rd_alignment(parser *p) {
    gguf_file *g = p->g;
    g->alignment = 32;
    int64_t i = table_find(&g->kv_index, "general.alignment", 17);
    if (i < 0) return PENNY_OK;
    const gguf_kv *kv = &g->kvs[i];
    set_what(p, "key 'general.alignment'");
    if (kv->val.type != GGUF_U32)
        return fail_at(p, kv->offset, PENNY_ERR_FORMAT, "alignment must be a u32, not %s",
                       gguf_vtype_name(kv->val.type));
    uint64_t a = kv->val.v.u;
    if (a == 0 || (a & (a - 1)) != 0)
        return fail_at(p, kv->offset, PENNY_ERR_FORMAT,
                       "alignment %" PRIu64 " is not a non-zero power of two", a);
    g->alignment = a;
    return PENNY_OK;
}

/* ---- tensor infos ---- */

static penny_status rd_dims(parser *p, gguf_tensor *t) {
    uint64_t at = p->pos;
    penny_status rc = rd_u32(p, &t->n_dims, "n_dims");
    if (rc) return rc;
    if (t->n_dims < 1 || t->n_dims > 4)
        return fail_at(p, at, PENNY_ERR_FORMAT, "n_dims is %" PRIu32 ", not 1..4", t->n_dims);
    int64_t count = 1;
    for (uint32_t d = 0; d < 4; d++) t->ne[d] = 1;
    for (uint32_t d = 0; d < t->n_dims; d++) {
        uint64_t dim;
        at = p->pos;
        if ((rc = rd_u64(p, &dim, "dimension"))) return rc;
        if (dim == 0) return fail_at(p, at, PENNY_ERR_FORMAT, "dimension %" PRIu32 " is 0", d);
        if (dim > INT64_MAX || __builtin_mul_overflow(count, (int64_t)dim, &count))
            return fail_at(p, at, PENNY_ERR_FORMAT,
                           "dimension %" PRIu32 " (%" PRIu64 ") makes the element count overflow",
                           d, dim);
        t->ne[d] = (int64_t)dim;
    }
    return PENNY_OK;
}

static penny_status rd_type(parser *p, gguf_tensor *t) {
    uint64_t at = p->pos;
    penny_status rc = rd_u32(p, &t->type, "type");
    if (rc) return rc;
    const type_traits *tt = type_get(t->type);
    if (!tt) return fail_at(p, at, PENNY_ERR_FORMAT, "unknown type id %" PRIu32, t->type);
    if (t->ne[0] % tt->block_size != 0)
        return fail_at(p, at, PENNY_ERR_FORMAT,
                       "dimension 0 (%" PRId64 ") is not a multiple of the %s block size %" PRId64,
                       t->ne[0], tt->name, tt->block_size);
    uint64_t n = (uint64_t)(t->ne[0] / tt->block_size) * tt->type_size;
    for (int d = 1; d < 4; d++)
        if (__builtin_mul_overflow(n, (uint64_t)t->ne[d], &n))
            return fail_at(p, at, PENNY_ERR_FORMAT, "data size overflows");
    t->nbytes = n;
    return PENNY_OK;
}

static penny_status rd_tensor(parser *p, int64_t i) {
    gguf_tensor *t = &p->g->tensors[i];
    t->info_offset = p->pos;
    set_what(p, "tensor info %" PRId64 " name", i);
    penny_status rc = rd_str(p, &t->name, "tensor name");
    if (rc || (rc = check_name(p, t->info_offset, t->name, GGUF_MAX_KEY))) return rc;
    char q[64];
    quote_name(t->name.ptr, t->name.len, q, sizeof q);
    set_what(p, "tensor '%s' info", q);
    if ((rc = rd_dims(p, t)) || (rc = rd_type(p, t))) return rc;
    uint64_t at = p->pos;
    if ((rc = rd_u64(p, &t->offset, "data offset"))) return rc;
    if (t->offset % p->g->alignment != 0)
        return fail_at(p, at, PENNY_ERR_FORMAT,
                       "data offset %" PRIu64 " is not a multiple of the alignment %" PRIu64,
                       t->offset, p->g->alignment);
    int64_t first = table_add(&p->g->tensor_index, t->name, i);
    if (first >= 0)
        return fail_at(p, t->info_offset, PENNY_ERR_FORMAT,
                       "duplicate tensor name (first at byte offset %" PRIu64 ")",
                       p->g->tensors[first].info_offset);
    return PENNY_OK;
}

/* ---- tensor data ---- */

typedef struct span {
    uint64_t start, end;
    int64_t idx;
} span;

static int span_cmp(const void *a, const void *b) {
    const span *x = a, *y = b;
    if (x->start != y->start) return x->start < y->start ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static penny_status check_ranges(parser *p) {
    gguf_file *g = p->g;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        gguf_tensor *t = &g->tensors[i];
        uint64_t room = g->data_offset <= g->size ? g->size - g->data_offset : 0;
        if (g->data_offset > g->size || t->offset > room || t->nbytes > room - t->offset) {
            char q[64];
            quote_name(t->name.ptr, t->name.len, q, sizeof q);
            set_what(p, "tensor '%s' info", q);
            return fail_at(p, t->info_offset, PENNY_ERR_FORMAT,
                           "data (%" PRIu64 " bytes at data offset %" PRIu64 ", section at %" PRIu64
                           ") runs past the end of the file (%" PRIu64 " bytes)",
                           t->nbytes, t->offset, g->data_offset, g->size);
        }
        t->data = g->base + g->data_offset + t->offset;
    }
    return PENNY_OK;
}

static penny_status check_overlaps(parser *p) {
    gguf_file *g = p->g;
    if (g->n_tensors < 2) return PENNY_OK;
    span *s = malloc((size_t)g->n_tensors * sizeof *s);
    if (!s) return fail_at(p, 0, PENNY_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < g->n_tensors; i++)
        s[i] = (span){g->tensors[i].offset, g->tensors[i].offset + g->tensors[i].nbytes, i};
    qsort(s, (size_t)g->n_tensors, sizeof *s, span_cmp);
    penny_status rc = PENNY_OK;
    for (int64_t i = 1; i < g->n_tensors && !rc; i++) {
        if (s[i].start >= s[i - 1].end) continue;
        const gguf_tensor *a = &g->tensors[s[i - 1].idx], *b = &g->tensors[s[i].idx];
        char qa[64], qb[64];
        quote_name(a->name.ptr, a->name.len, qa, sizeof qa);
        quote_name(b->name.ptr, b->name.len, qb, sizeof qb);
        set_what(p, "tensor '%s' info", qb);
        rc = fail_at(p, b->info_offset, PENNY_ERR_FORMAT, "its data overlaps that of tensor '%s'",
                     qa);
    }
    free(s);
    return rc;
}

/* ---- open / close ---- */

static penny_status parse(parser *p) {
    gguf_file *g = p->g;
    uint64_t n_tensors = 0, n_kv = 0;
    penny_status rc = rd_header(p, &n_tensors, &n_kv);
    if (rc) return rc;
    g->n_kv = (int64_t)n_kv;
    g->n_tensors = (int64_t)n_tensors;
    g->kvs = calloc(n_kv ? n_kv : 1, sizeof *g->kvs);
    g->tensors = calloc(n_tensors ? n_tensors : 1, sizeof *g->tensors);
    if (!g->kvs || !g->tensors || !table_init(&g->kv_index, g->n_kv) ||
        !table_init(&g->tensor_index, g->n_tensors))
        return fail_at(p, 8, PENNY_ERR_NOMEM, "out of memory for the index tables");
    for (int64_t i = 0; i < g->n_kv; i++)
        if ((rc = rd_kv(p, i))) return rc;
    if ((rc = rd_alignment(p))) return rc;
    for (int64_t i = 0; i < g->n_tensors; i++)
        if ((rc = rd_tensor(p, i))) return rc;
    g->data_offset = (p->pos + g->alignment - 1) / g->alignment * g->alignment;
    if ((rc = check_ranges(p))) return rc;
    return check_overlaps(p);
}

static penny_status open_common(gguf_file *g, gguf_file **out, penny_error *err) {
    parser p = {.g = g, .err = err};
    penny_status rc = parse(&p);
    if (rc) {
        gguf_close(g);
        return rc;
    }
    *out = g;
    return PENNY_OK;
}

penny_status gguf_open(const char *path, bool populate, gguf_file **out, penny_error *err) {
    *out = NULL;
    gguf_file *g = calloc(1, sizeof *g);
    if (!g) return err_set(err, PENNY_ERR_NOMEM, "%s: out of memory", path);
    penny_status rc = mapfile_open(&g->mf, path, populate, err);
    if (rc) {
        free(g);
        return rc;
    }
    g->base = g->mf.data;
    g->size = g->mf.size;
    g->name = g->mf.path;
    return open_common(g, out, err);
}

penny_status gguf_open_buffer(const void *buf, size_t size, const char *name, gguf_file **out,
                              penny_error *err) {
    *out = NULL;
    if (!name) name = "<buffer>";
    gguf_file *g = calloc(1, sizeof *g);
    char *copy = g ? strdup(name) : NULL;
    if (!copy) {
        free(g);
        return err_set(err, PENNY_ERR_NOMEM, "%s: out of memory", name);
    }
    g->base = buf;
    g->size = size;
    g->name = copy;
    return open_common(g, out, err);
}

void gguf_close(gguf_file *g) {
    if (!g) return;
    arena_free(g->arena);
    free(g->kv_index.slots);
    free(g->tensor_index.slots);
    free(g->kvs);
    free(g->tensors);
    if (g->mf.path)
        mapfile_close(&g->mf); /* also frees the name */
    else
        free(g->name);
    free(g);
}

/* ---- accessors ---- */

const char *gguf_path(const gguf_file *g) { return g->name; }
uint32_t gguf_version(const gguf_file *g) { return g->version; }
uint64_t gguf_alignment(const gguf_file *g) { return g->alignment; }
uint64_t gguf_data_offset(const gguf_file *g) { return g->data_offset; }
int64_t gguf_kv_count(const gguf_file *g) { return g->n_kv; }
int64_t gguf_tensor_count(const gguf_file *g) { return g->n_tensors; }

const gguf_kv *gguf_kv_at(const gguf_file *g, int64_t i) {
    return i >= 0 && i < g->n_kv ? &g->kvs[i] : NULL;
}

const gguf_tensor *gguf_tensor_at(const gguf_file *g, int64_t i) {
    return i >= 0 && i < g->n_tensors ? &g->tensors[i] : NULL;
}

const gguf_kv *gguf_find(const gguf_file *g, const char *key) {
    int64_t i = table_find(&g->kv_index, key, strlen(key));
    return i >= 0 ? &g->kvs[i] : NULL;
}

const gguf_tensor *gguf_find_tensor(const gguf_file *g, const char *name) {
    int64_t i = table_find(&g->tensor_index, name, strlen(name));
    return i >= 0 ? &g->tensors[i] : NULL;
}

bool gguf_str_eq(gguf_str s, const char *z) {
    size_t n = strlen(z);
    return s.len == n && memcmp(s.ptr, z, n) == 0;
}

double gguf_arr_num(const gguf_arr *a, uint64_t i) {
    if (i >= a->n || a->type == GGUF_STR || a->type == GGUF_ARR || (unsigned)a->type > GGUF_F64)
        return 0.0;
    gguf_value v;
    decode_scalar((const unsigned char *)a->data + i * g_vsize[a->type], a->type, &v);
    switch (a->type) {
    case GGUF_U8:
    case GGUF_U16:
    case GGUF_U32:
    case GGUF_U64: return (double)v.v.u;
    case GGUF_I8:
    case GGUF_I16:
    case GGUF_I32:
    case GGUF_I64: return (double)v.v.i;
    case GGUF_BOOL: return v.v.b ? 1.0 : 0.0;
    default: return v.v.f;
    }
}

/* ---- typed getters ---- */

static bool is_unsigned(enum gguf_vtype t) {
    return t == GGUF_U8 || t == GGUF_U16 || t == GGUF_U32 || t == GGUF_U64;
}

static bool is_signed(enum gguf_vtype t) {
    return t == GGUF_I8 || t == GGUF_I16 || t == GGUF_I32 || t == GGUF_I64;
}

static penny_status get_fail(const gguf_file *g, const gguf_kv *kv, penny_error *err,
                             const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static penny_status get_fail(const gguf_file *g, const gguf_kv *kv, penny_error *err,
                             const char *fmt, ...) {
    char q[64], problem[256];
    quote_name(kv->key.ptr, kv->key.len, q, sizeof q);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(problem, sizeof problem, fmt, ap);
    va_end(ap);
    return err_set(err, PENNY_ERR_FORMAT, "%s: key '%s' at byte offset %" PRIu64 ": %s", g->name, q,
                   kv->offset, problem);
}

/* Finds key and checks that it holds an integer; *kv is NULL when absent. */
static penny_status find_int(const gguf_file *g, const char *key, const char *want,
                             const gguf_kv **kv, penny_error *err) {
    *kv = gguf_find(g, key);
    if (!*kv) return PENNY_ERR_RANGE;
    enum gguf_vtype t = (*kv)->val.type;
    if (!is_unsigned(t) && !is_signed(t))
        return get_fail(g, *kv, err, "expected %s, found %s", want, gguf_vtype_name(t));
    return PENNY_OK;
}

penny_status gguf_get_u32(const gguf_file *g, const char *key, uint32_t *out, penny_error *err) {
    const gguf_kv *kv;
    penny_status rc = find_int(g, key, "an integer (u32)", &kv, err);
    if (rc) return rc;
    const gguf_value *v = &kv->val;
    if (is_signed(v->type) && (v->v.i < 0 || v->v.i > (int64_t)UINT32_MAX))
        return get_fail(g, kv, err, "value %" PRId64 " does not fit in a u32", v->v.i);
    if (is_unsigned(v->type) && v->v.u > UINT32_MAX)
        return get_fail(g, kv, err, "value %" PRIu64 " does not fit in a u32", v->v.u);
    *out = is_signed(v->type) ? (uint32_t)v->v.i : (uint32_t)v->v.u;
    return PENNY_OK;
}

penny_status gguf_get_i64(const gguf_file *g, const char *key, int64_t *out, penny_error *err) {
    const gguf_kv *kv;
    penny_status rc = find_int(g, key, "an integer (i64)", &kv, err);
    if (rc) return rc;
    const gguf_value *v = &kv->val;
    if (is_unsigned(v->type) && v->v.u > (uint64_t)INT64_MAX)
        return get_fail(g, kv, err, "value %" PRIu64 " does not fit in an i64", v->v.u);
    *out = is_signed(v->type) ? v->v.i : (int64_t)v->v.u;
    return PENNY_OK;
}

penny_status gguf_get_f32(const gguf_file *g, const char *key, float *out, penny_error *err) {
    const gguf_kv *kv = gguf_find(g, key);
    if (!kv) return PENNY_ERR_RANGE;
    const gguf_value *v = &kv->val;
    if (is_unsigned(v->type))
        *out = (float)v->v.u;
    else if (is_signed(v->type))
        *out = (float)v->v.i;
    else if (v->type != GGUF_F32 && v->type != GGUF_F64)
        return get_fail(g, kv, err, "expected a number (f32), found %s", gguf_vtype_name(v->type));
    else if (isfinite(v->v.f) && fabs(v->v.f) > FLT_MAX)
        return get_fail(g, kv, err, "value %g does not fit in an f32", v->v.f);
    else
        *out = (float)v->v.f;
    return PENNY_OK;
}

penny_status gguf_get_bool(const gguf_file *g, const char *key, bool *out, penny_error *err) {
    const gguf_kv *kv = gguf_find(g, key);
    if (!kv) return PENNY_ERR_RANGE;
    if (kv->val.type != GGUF_BOOL)
        return get_fail(g, kv, err, "expected a bool, found %s", gguf_vtype_name(kv->val.type));
    *out = kv->val.v.b;
    return PENNY_OK;
}

penny_status gguf_get_str(const gguf_file *g, const char *key, gguf_str *out, penny_error *err) {
    const gguf_kv *kv = gguf_find(g, key);
    if (!kv) return PENNY_ERR_RANGE;
    if (kv->val.type != GGUF_STR)
        return get_fail(g, kv, err, "expected a string, found %s", gguf_vtype_name(kv->val.type));
    *out = kv->val.v.s;
    return PENNY_OK;
}

penny_status gguf_get_arr(const gguf_file *g, const char *key, const gguf_arr **out,
                          penny_error *err) {
    const gguf_kv *kv = gguf_find(g, key);
    if (!kv) return PENNY_ERR_RANGE;
    if (kv->val.type != GGUF_ARR)
        return get_fail(g, kv, err, "expected an array, found %s", gguf_vtype_name(kv->val.type));
    *out = &kv->val.v.arr;
    return PENNY_OK;
}
