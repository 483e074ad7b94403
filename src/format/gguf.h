/*
 * gguf.h - reading (and writing) GGUF files, versions 2 and 3.
 *
 * Layout: magic "GGUF", u32 version, u64 tensor_count, u64 kv_count, then
 * kv_count key/value pairs, tensor_count tensor infos, padding to
 * general.alignment (default 32), and the tensor data. All little-endian.
 *
 * gguf_open maps the file and validates everything before any use: every
 * count, length, offset and size is checked against the bytes that remain,
 * so a malformed file yields one error naming the field and its byte offset,
 * never a crash or an allocation larger than the file justifies. Keys,
 * strings and tensor data are views into the mapping (valid until
 * gguf_close); arrays of strings and nested arrays get small index tables.
 *
 * Messages read "<file>: <field> at byte offset <N>: <problem>". Refused:
 * version 1 and big-endian files, unknown value or element types, arrays
 * nested deeper than 8, bools other than 0/1, empty keys or names or ones
 * holding a NUL, duplicate keys or tensor names, general.alignment that is
 * not a non-zero power-of-two u32, n_dims outside 1..4, zero dimensions,
 * element counts or sizes overflowing 64 bits, unknown tensor type ids,
 * ne[0] not a multiple of the type's block size, and tensor data that is
 * misaligned, overlaps another tensor's or lies outside the file. Every
 * *known* type id is accepted (so `penny info` shows any file); whether
 * penny can compute with it is the model loader's check.
 */
#ifndef PENNY_FORMAT_GGUF_H
#define PENNY_FORMAT_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/mapfile.h"
#include "penny.h"

enum gguf_vtype {
    GGUF_U8 = 0,
    GGUF_I8 = 1,
    GGUF_U16 = 2,
    GGUF_I16 = 3,
    GGUF_U32 = 4,
    GGUF_I32 = 5,
    GGUF_F32 = 6,
    GGUF_BOOL = 7,
    GGUF_STR = 8,
    GGUF_ARR = 9,
    GGUF_U64 = 10,
    GGUF_I64 = 11,
    GGUF_F64 = 12,
};

/* A string inside the file: not NUL-terminated. */
typedef struct gguf_str {
    const char *ptr;
    uint64_t len;
} gguf_str;

typedef struct gguf_value gguf_value;

typedef struct gguf_arr {
    enum gguf_vtype type; /* element type */
    uint64_t n;
    const void *data;        /* fixed-size element types: n raw LE elements in the file */
    const gguf_str *strs;    /* GGUF_STR: n strings (owned table) */
    const gguf_value *items; /* GGUF_ARR: n nested arrays (owned table) */
} gguf_arr;

struct gguf_value {
    enum gguf_vtype type;
    union {
        uint64_t u; /* U8..U64 */
        int64_t i;  /* I8..I64 */
        double f;   /* F32, F64 */
        bool b;
        gguf_str s;
        gguf_arr arr;
    } v;
};

typedef struct gguf_kv {
    gguf_str key;
    gguf_value val;
    uint64_t offset; /* byte offset of the pair in the file, for messages */
} gguf_kv;

typedef struct gguf_tensor {
    gguf_str name;
    uint32_t n_dims;
    int64_t ne[4];   /* ne[0] fastest; unused dims are 1 */
    uint32_t type;   /* ggml type id (see kernels/types.h) */
    uint64_t offset; /* relative to the data section, as stored */
    uint64_t nbytes;
    const void *data;     /* view into the mapping */
    uint64_t info_offset; /* byte offset of the tensor info, for messages */
} gguf_tensor;

typedef struct gguf_file gguf_file;

/* Opens and validates path. populate: prefault the mapping (see mapfile.h). */
penny_status gguf_open(const char *path, bool populate, gguf_file **out, penny_error *err);
/* Same checks on a buffer in memory (fuzzing, tests). buf must outlive the result. */
penny_status gguf_open_buffer(const void *buf, size_t size, const char *name, gguf_file **out,
                              penny_error *err);
void gguf_close(gguf_file *g);

const char *gguf_path(const gguf_file *g);
uint32_t gguf_version(const gguf_file *g);
uint64_t gguf_alignment(const gguf_file *g);
/* Byte offset of the tensor data section from the start of the file;
 * tensor t's data starts at gguf_data_offset(g) + t->offset. */
uint64_t gguf_data_offset(const gguf_file *g);
/* "u8", "string", "array", ...; "unknown" for ids outside 0..12. */
const char *gguf_vtype_name(enum gguf_vtype t);
int64_t gguf_kv_count(const gguf_file *g);
const gguf_kv *gguf_kv_at(const gguf_file *g, int64_t i);
int64_t gguf_tensor_count(const gguf_file *g);
const gguf_tensor *gguf_tensor_at(const gguf_file *g, int64_t i);

/* Lookups; NULL when absent. key is NUL-terminated. */
const gguf_kv *gguf_find(const gguf_file *g, const char *key);
const gguf_tensor *gguf_find_tensor(const gguf_file *g, const char *name);

/* Typed getters. Return PENNY_OK and set *out; PENNY_ERR_RANGE (no message)
 * when the key is absent; PENNY_ERR_FORMAT (message names key and type) when
 * present with an incompatible type or a value out of range for the target.
 * Integers of any width convert when the value fits. */
penny_status gguf_get_u32(const gguf_file *g, const char *key, uint32_t *out, penny_error *err);
penny_status gguf_get_i64(const gguf_file *g, const char *key, int64_t *out, penny_error *err);
penny_status gguf_get_f32(const gguf_file *g, const char *key, float *out, penny_error *err);
penny_status gguf_get_bool(const gguf_file *g, const char *key, bool *out, penny_error *err);
penny_status gguf_get_str(const gguf_file *g, const char *key, gguf_str *out, penny_error *err);
penny_status gguf_get_arr(const gguf_file *g, const char *key, const gguf_arr **out,
                          penny_error *err);

/* Array data are views into the file and may be unaligned: read elements
 * with memcpy or gguf_arr_num, never through a cast pointer.
 * Element i of a numeric array as double (any element type; bools are 0/1,
 * strings, arrays and i >= n give 0). */
double gguf_arr_num(const gguf_arr *a, uint64_t i);
/* Writes a printable rendering of v into buf (cap bytes, always
 * NUL-terminated when cap > 0): numbers, true/false, strings quoted with
 * control bytes and invalid UTF-8 escaped and cut after 80 bytes, arrays as
 * [a, b, ... (N items)] showing at most max_items per level. A rendering
 * cut at cap ends in "...". Returns buf. (penny_gguf_kv_format uses it.) */
char *gguf_format_value(const gguf_value *v, char *buf, size_t cap, int max_items);
/* Compares a gguf_str with a NUL-terminated string. */
bool gguf_str_eq(gguf_str s, const char *z);

/* ---- writer ----
 * Builds a GGUF v3 file in memory-light fashion: metadata and tensor infos
 * are collected, then gguf_writer_save writes header, infos, padding and
 * data (tensor bytes are copied from the caller's buffers at save time, so
 * they must stay valid until then). Used by tests, quantize and train.
 * Tensor data are aligned to general.alignment when the caller set it (a
 * power-of-two u32), else 32. The set/add calls return PENNY_ERR_ARG or
 * PENNY_ERR_NOMEM without a message; the first such failure is kept and
 * gguf_writer_save then fails with it, naming the path. */
typedef struct gguf_writer gguf_writer;

penny_status gguf_writer_new(gguf_writer **out, penny_error *err);
void gguf_writer_free(gguf_writer *w);
penny_status gguf_writer_set_u32(gguf_writer *w, const char *key, uint32_t v);
penny_status gguf_writer_set_i32(gguf_writer *w, const char *key, int32_t v);
penny_status gguf_writer_set_f32(gguf_writer *w, const char *key, float v);
penny_status gguf_writer_set_bool(gguf_writer *w, const char *key, bool v);
penny_status gguf_writer_set_str(gguf_writer *w, const char *key, const char *v);
/* Numeric array: n elements of type t copied from data (raw LE). */
penny_status gguf_writer_set_arr(gguf_writer *w, const char *key, enum gguf_vtype t,
                                 const void *data, uint64_t n);
penny_status gguf_writer_set_str_arr(gguf_writer *w, const char *key, const char *const *strs,
                                     uint64_t n);
/* Any value, including nested arrays (items[i].type must be GGUF_ARR) and
 * scalars of every width; the value is copied, so v may be freed afterwards. */
penny_status gguf_writer_set_value(gguf_writer *w, const char *key, const gguf_value *v);
/* Copies every key/value pair of src (for quantize/export). Setting a key
 * that is already set replaces its value and keeps its position. */
penny_status gguf_writer_copy_kvs(gguf_writer *w, const gguf_file *src);
/* data: nbytes (as implied by type and ne) to be written at save time. */
penny_status gguf_writer_add_tensor(gguf_writer *w, const char *name, uint32_t type, int n_dims,
                                    const int64_t *ne, const void *data);
/* Writes to path via a temp file + rename, so a failure never leaves a
 * half-written file under the final name. */
penny_status gguf_writer_save(gguf_writer *w, const char *path, penny_error *err);

/* ---- split models (gguf_split.c) ----
 * A model stored as NAME-00001-of-0000N.gguf ... (keys split.no, 0-based,
 * split.count, split.tensors.count in every part; metadata in part 0; each
 * tensor wholly in one part). gguf_split_open takes any part (or a plain
 * file, which opens as a split of one), opens the others by name, and
 * checks that the parts agree, that no tensor name repeats across parts,
 * and that the tensor total matches split.tensors.count. Tensor views
 * point into their own part's mapping and stay valid until
 * gguf_split_close. */
typedef struct gguf_split gguf_split;

penny_status gguf_split_open(const char *path, bool populate, gguf_split **out, penny_error *err);
void gguf_split_close(gguf_split *s);
int gguf_split_count(const gguf_split *s);
/* Part i (0-based); part 0 holds the model's metadata. */
const gguf_file *gguf_split_part(const gguf_split *s, int i);
int64_t gguf_split_tensor_count(const gguf_split *s);
/* Tensor i of all parts in part order (0 <= i < gguf_split_tensor_count). */
const gguf_tensor *gguf_split_tensor_at(const gguf_split *s, int64_t i);
/* Looks name up in every part; NULL when absent. */
const gguf_tensor *gguf_split_find_tensor(const gguf_split *s, const char *name);
/* Writes src as n_parts files PREFIX-00001-of-0000N.gguf ..., tensors
 * spread evenly in file order, metadata in the first. */
penny_status gguf_split_write(const gguf_file *src, int n_parts, const char *prefix,
                              penny_error *err);

#endif
