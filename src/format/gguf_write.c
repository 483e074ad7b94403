/*
 * gguf_write.c - the GGUF writer: collects metadata and tensor infos, then
 * writes a version-3 file in one pass (header, pairs, infos, padding, data).
 *
 * Values are serialized when they are set, so a writer never keeps pointers
 * into a source file (copy_kvs may outlive the gguf_file it copied from);
 * only tensor data stay the caller's until save. The set/add calls have no
 * error object: their failures (bad arguments, out of memory) are recorded,
 * and gguf_writer_save reports the first one with the path. Saving goes
 * through a temporary file in the same directory, fsync and rename, so the
 * final name only ever holds a complete file.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"
#include "format/gguf.h"
#include "kernels/types.h"

#define WRITER_MAX_DEPTH 8 /* the reader's nesting limit */

/* A growable byte buffer; a failed growth sets oom and drops later writes. */
typedef struct wbuf {
    unsigned char *p;
    size_t len, cap;
    bool oom;
} wbuf;

typedef struct wkv {
    char *key;
    wbuf val; /* u32 type + encoded value, exactly as in the file */
} wkv;

typedef struct wtensor {
    char *name;
    uint32_t type;
    uint32_t n_dims;
    int64_t ne[4];
    uint64_t nbytes;
    uint64_t offset; /* in the data section, set by save */
    const void *data;
} wtensor;

struct gguf_writer {
    wkv *kvs;
    size_t n_kv, cap_kv;
    wtensor *ts;
    size_t n_t, cap_t;
    penny_status status; /* first failure of a set/add call */
    char msg[256];
};

static const uint8_t g_vsize[13] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

/* Records the first failure; returns code. */
static penny_status fail(gguf_writer *w, penny_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static penny_status fail(gguf_writer *w, penny_status code, const char *fmt, ...) {
    if (w->status == PENNY_OK) {
        w->status = code;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(w->msg, sizeof w->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* ---- byte buffers ---- */

static void wb_put(wbuf *b, const void *src, size_t n) {
    if (b->oom) return;
    if (n > b->cap - b->len) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap - b->len < n) {
            if (cap > SIZE_MAX / 2) {
                b->oom = true;
                return;
            }
            cap *= 2;
        }
        unsigned char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->len, src, n);
    b->len += n;
}

static void wb_u32(wbuf *b, uint32_t v) { wb_put(b, &v, 4); }
static void wb_u64(wbuf *b, uint64_t v) { wb_put(b, &v, 8); }

static void wb_str(wbuf *b, const char *s, uint64_t n) {
    wb_u64(b, n);
    wb_put(b, s, (size_t)n);
}

/* ---- encoding values ---- */

static bool scalar_fits(const gguf_value *v) {
    switch (v->type) {
    case GGUF_U8: return v->v.u <= UINT8_MAX;
    case GGUF_U16: return v->v.u <= UINT16_MAX;
    case GGUF_U32: return v->v.u <= UINT32_MAX;
    case GGUF_I8: return v->v.i >= INT8_MIN && v->v.i <= INT8_MAX;
    case GGUF_I16: return v->v.i >= INT16_MIN && v->v.i <= INT16_MAX;
    case GGUF_I32: return v->v.i >= INT32_MIN && v->v.i <= INT32_MAX;
    default: return true;
    }
}

static void put_scalar(wbuf *b, const gguf_value *v) {
    uint64_t bits = v->v.u; /* little-endian: the low bytes are the narrow value */
    if (v->type == GGUF_F32) {
        float f = (float)v->v.f;
        memcpy(&bits, &f, 4);
    } else if (v->type == GGUF_BOOL) {
        bits = v->v.b ? 1 : 0;
    }
    if (v->type == GGUF_F64) memcpy(&bits, &v->v.f, 8);
    wb_put(b, &bits, g_vsize[v->type]);
}

static penny_status put_array(gguf_writer *w, wbuf *b, const gguf_arr *a, int depth);

static penny_status put_elems(gguf_writer *w, wbuf *b, const gguf_arr *a, int depth) {
    if (a->type == GGUF_STR) {
        if (a->n && !a->strs) return fail(w, PENNY_ERR_ARG, "string array without strings");
        for (uint64_t i = 0; i < a->n; i++) {
            if (!a->strs[i].ptr && a->strs[i].len)
                return fail(w, PENNY_ERR_ARG, "string %" PRIu64 " of an array is NULL", i);
            wb_str(b, a->strs[i].ptr, a->strs[i].len);
        }
        return PENNY_OK;
    }
    if (a->type == GGUF_ARR) {
        if (a->n && !a->items) return fail(w, PENNY_ERR_ARG, "nested array without items");
        for (uint64_t i = 0; i < a->n; i++) {
            if (a->items[i].type != GGUF_ARR)
                return fail(w, PENNY_ERR_ARG, "item %" PRIu64 " of a nested array is no array", i);
            penny_status rc = put_array(w, b, &a->items[i].v.arr, depth + 1);
            if (rc) return rc;
        }
        return PENNY_OK;
    }
    uint64_t sz = g_vsize[a->type];
    if (a->n > SIZE_MAX / sz) return fail(w, PENNY_ERR_ARG, "array too large");
    if (a->n && !a->data) return fail(w, PENNY_ERR_ARG, "array without data");
    const unsigned char *d = a->data;
    for (uint64_t i = 0; a->type == GGUF_BOOL && i < a->n; i++)
        if (d[i] > 1) return fail(w, PENNY_ERR_ARG, "bool element %" PRIu64 " is not 0 or 1", i);
    wb_put(b, a->data, (size_t)(a->n * sz));
    return PENNY_OK;
}

static penny_status put_array(gguf_writer *w, wbuf *b, const gguf_arr *a, int depth) {
    if (depth > WRITER_MAX_DEPTH)
        return fail(w, PENNY_ERR_ARG, "arrays nested deeper than %d levels", WRITER_MAX_DEPTH);
    if ((unsigned)a->type > GGUF_F64)
        return fail(w, PENNY_ERR_ARG, "unknown array element type %u", (unsigned)a->type);
    wb_u32(b, (uint32_t)a->type);
    wb_u64(b, a->n);
    return put_elems(w, b, a, depth);
}

static penny_status put_value(gguf_writer *w, wbuf *b, const gguf_value *v) {
    if ((unsigned)v->type > GGUF_F64)
        return fail(w, PENNY_ERR_ARG, "unknown value type %u", (unsigned)v->type);
    wb_u32(b, (uint32_t)v->type);
    if (v->type == GGUF_STR) {
        if (v->v.s.len && !v->v.s.ptr) return fail(w, PENNY_ERR_ARG, "string without bytes");
        wb_str(b, v->v.s.ptr, v->v.s.len);
        return PENNY_OK;
    }
    if (v->type == GGUF_ARR) return put_array(w, b, &v->v.arr, 1);
    if (!scalar_fits(v))
        return fail(w, PENNY_ERR_ARG, "value does not fit in a %s", gguf_vtype_name(v->type));
    put_scalar(b, v);
    return PENNY_OK;
}

/* ---- pairs ---- */

static wkv *find_kv(gguf_writer *w, const char *key, size_t n) {
    for (size_t i = 0; i < w->n_kv; i++)
        if (strlen(w->kvs[i].key) == n && memcmp(w->kvs[i].key, key, n) == 0) return &w->kvs[i];
    return NULL;
}

/* A new slot for key (or the existing one, emptied). */
static wkv *slot_for(gguf_writer *w, const char *key, size_t n) {
    wkv *kv = find_kv(w, key, n);
    if (kv) {
        kv->val.len = 0;
        return kv;
    }
    if (w->n_kv == w->cap_kv) {
        size_t cap = w->cap_kv ? w->cap_kv * 2 : 16;
        wkv *p = realloc(w->kvs, cap * sizeof *p);
        if (!p) return NULL;
        w->kvs = p;
        w->cap_kv = cap;
    }
    kv = &w->kvs[w->n_kv];
    memset(kv, 0, sizeof *kv);
    kv->key = strndup(key, n);
    if (!kv->key) return NULL;
    w->n_kv++;
    return kv;
}

/* Sets key (n bytes, no NUL inside) to v. */
static penny_status set_value_n(gguf_writer *w, const char *key, size_t n, const gguf_value *v) {
    if (!key || n == 0 || memchr(key, '\0', n) || !v)
        return fail(w, PENNY_ERR_ARG, "invalid key or value");
    wbuf b = {0};
    penny_status rc = put_value(w, &b, v);
    if (!rc && b.oom) rc = fail(w, PENNY_ERR_NOMEM, "out of memory for key '%.*s'", (int)n, key);
    wkv *kv = rc ? NULL : slot_for(w, key, n);
    if (!rc && !kv) rc = fail(w, PENNY_ERR_NOMEM, "out of memory for key '%.*s'", (int)n, key);
    if (rc) {
        free(b.p);
        return rc;
    }
    free(kv->val.p);
    kv->val = b;
    return PENNY_OK;
}

penny_status gguf_writer_set_value(gguf_writer *w, const char *key, const gguf_value *v) {
    return set_value_n(w, key, key ? strlen(key) : 0, v);
}

penny_status gguf_writer_set_u32(gguf_writer *w, const char *key, uint32_t v) {
    gguf_value val = {.type = GGUF_U32, .v.u = v};
    return gguf_writer_set_value(w, key, &val);
}

penny_status gguf_writer_set_i32(gguf_writer *w, const char *key, int32_t v) {
    gguf_value val = {.type = GGUF_I32, .v.i = v};
    return gguf_writer_set_value(w, key, &val);
}

penny_status gguf_writer_set_f32(gguf_writer *w, const char *key, float v) {
    gguf_value val = {.type = GGUF_F32, .v.f = v};
    return gguf_writer_set_value(w, key, &val);
}

penny_status gguf_writer_set_bool(gguf_writer *w, const char *key, bool v) {
    gguf_value val = {.type = GGUF_BOOL, .v.b = v};
    return gguf_writer_set_value(w, key, &val);
}

penny_status gguf_writer_set_str(gguf_writer *w, const char *key, const char *v) {
    if (!v) return fail(w, PENNY_ERR_ARG, "NULL string for key '%s'", key ? key : "");
    gguf_value val = {.type = GGUF_STR, .v.s = {v, strlen(v)}};
    return gguf_writer_set_value(w, key, &val);
}

penny_status gguf_writer_set_arr(gguf_writer *w, const char *key, enum gguf_vtype t,
                                 const void *data, uint64_t n) {
    if (t == GGUF_STR || t == GGUF_ARR || (unsigned)t > GGUF_F64)
        return fail(w, PENNY_ERR_ARG, "set_arr takes numeric element types only");
    gguf_value val = {.type = GGUF_ARR, .v.arr = {.type = t, .n = n, .data = data}};
    return gguf_writer_set_value(w, key, &val);
}

penny_status gguf_writer_set_str_arr(gguf_writer *w, const char *key, const char *const *strs,
                                     uint64_t n) {
    if (n > SIZE_MAX / sizeof(gguf_str) || (n && !strs))
        return fail(w, PENNY_ERR_ARG, "invalid string array for key '%s'", key ? key : "");
    for (uint64_t i = 0; i < n; i++)
        if (!strs[i])
            return fail(w, PENNY_ERR_ARG, "string %" PRIu64 " of '%s' is NULL", i, key ? key : "");
    gguf_str *s = malloc((n ? n : 1) * sizeof *s);
    if (!s) return fail(w, PENNY_ERR_NOMEM, "out of memory for key '%s'", key ? key : "");
    for (uint64_t i = 0; i < n; i++) s[i] = (gguf_str){strs[i], strlen(strs[i])};
    gguf_value val = {.type = GGUF_ARR, .v.arr = {.type = GGUF_STR, .n = n, .strs = s}};
    penny_status rc = gguf_writer_set_value(w, key, &val);
    free(s);
    return rc;
}

penny_status gguf_writer_copy_kvs(gguf_writer *w, const gguf_file *src) {
    for (int64_t i = 0; i < gguf_kv_count(src); i++) {
        const gguf_kv *kv = gguf_kv_at(src, i);
        penny_status rc = set_value_n(w, kv->key.ptr, (size_t)kv->key.len, &kv->val);
        if (rc) return rc;
    }
    return PENNY_OK;
}

/* ---- tensors ---- */

static penny_status check_tensor(gguf_writer *w, const char *name, uint32_t type, int n_dims,
                                 const int64_t *ne, uint64_t *nbytes) {
    const type_traits *tt = type_get(type);
    if (!name || !*name) return fail(w, PENNY_ERR_ARG, "tensor without a name");
    if (!tt) return fail(w, PENNY_ERR_ARG, "tensor '%s': unknown type %" PRIu32, name, type);
    if (n_dims < 1 || n_dims > 4 || !ne)
        return fail(w, PENNY_ERR_ARG, "tensor '%s': n_dims %d is not 1..4", name, n_dims);
    for (int d = 0; d < n_dims; d++)
        if (ne[d] <= 0)
            return fail(w, PENNY_ERR_ARG, "tensor '%s': dimension %d is %" PRId64, name, d, ne[d]);
    if (ne[0] % tt->block_size)
        return fail(w, PENNY_ERR_ARG, "tensor '%s': dimension 0 is not a multiple of %" PRId64,
                    name, tt->block_size);
    uint64_t n = (uint64_t)(ne[0] / tt->block_size) * tt->type_size;
    for (int d = 1; d < n_dims; d++)
        if (__builtin_mul_overflow(n, (uint64_t)ne[d], &n))
            return fail(w, PENNY_ERR_ARG, "tensor '%s': size overflows", name);
    for (size_t i = 0; i < w->n_t; i++)
        if (strcmp(w->ts[i].name, name) == 0)
            return fail(w, PENNY_ERR_ARG, "duplicate tensor name '%s'", name);
    *nbytes = n;
    return PENNY_OK;
}

penny_status gguf_writer_add_tensor(gguf_writer *w, const char *name, uint32_t type, int n_dims,
                                    const int64_t *ne, const void *data) {
    uint64_t nbytes = 0;
    penny_status rc = check_tensor(w, name, type, n_dims, ne, &nbytes);
    if (rc) return rc;
    if (!data) return fail(w, PENNY_ERR_ARG, "tensor '%s' without data", name);
    if (w->n_t == w->cap_t) {
        size_t cap = w->cap_t ? w->cap_t * 2 : 16;
        wtensor *p = realloc(w->ts, cap * sizeof *p);
        if (!p) return fail(w, PENNY_ERR_NOMEM, "out of memory for tensor '%s'", name);
        w->ts = p;
        w->cap_t = cap;
    }
    wtensor *t = &w->ts[w->n_t];
    *t = (wtensor){.name = strdup(name),
                   .type = type,
                   .n_dims = (uint32_t)n_dims,
                   .ne = {1, 1, 1, 1},
                   .nbytes = nbytes,
                   .data = data};
    if (!t->name) return fail(w, PENNY_ERR_NOMEM, "out of memory for tensor '%s'", name);
    for (int d = 0; d < n_dims; d++) t->ne[d] = ne[d];
    w->n_t++;
    return PENNY_OK;
}

/* ---- new / free ---- */

penny_status gguf_writer_new(gguf_writer **out, penny_error *err) {
    *out = calloc(1, sizeof **out);
    if (!*out) return err_set(err, PENNY_ERR_NOMEM, "gguf writer: out of memory");
    return PENNY_OK;
}

void gguf_writer_free(gguf_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kvs[i].key);
        free(w->kvs[i].val.p);
    }
    for (size_t i = 0; i < w->n_t; i++) free(w->ts[i].name);
    free(w->kvs);
    free(w->ts);
    free(w);
}

/* ---- save ---- */

/* The alignment the file will declare: general.alignment when set. */
static penny_status pick_alignment(gguf_writer *w, uint64_t *align) {
    *align = 32;
    wkv *kv = find_kv(w, "general.alignment", 17);
    if (!kv) return PENNY_OK;
    uint32_t type, a;
    memcpy(&type, kv->val.p, 4);
    if (type != GGUF_U32) return fail(w, PENNY_ERR_ARG, "general.alignment must be a u32");
    memcpy(&a, kv->val.p + 4, 4);
    if (a == 0 || (a & (a - 1)))
        return fail(w, PENNY_ERR_ARG, "general.alignment %" PRIu32 " is not a power of two", a);
    *align = a;
    return PENNY_OK;
}

/* Header, pairs and tensor infos, laying out tensor offsets on the way. */
static void build_head(gguf_writer *w, wbuf *b, uint64_t align) {
    wb_put(b, "GGUF", 4);
    wb_u32(b, 3);
    wb_u64(b, w->n_t);
    wb_u64(b, w->n_kv);
    for (size_t i = 0; i < w->n_kv; i++) {
        wb_str(b, w->kvs[i].key, strlen(w->kvs[i].key));
        wb_put(b, w->kvs[i].val.p, w->kvs[i].val.len);
    }
    uint64_t off = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        wtensor *t = &w->ts[i];
        off = (off + align - 1) / align * align;
        t->offset = off;
        off += t->nbytes;
        wb_str(b, t->name, strlen(t->name));
        wb_u32(b, t->n_dims);
        for (uint32_t d = 0; d < t->n_dims; d++) wb_u64(b, (uint64_t)t->ne[d]);
        wb_u32(b, t->type);
        wb_u64(b, t->offset);
    }
}

static bool write_zeros(FILE *f, uint64_t n) {
    static const unsigned char zeros[256];
    while (n > 0) {
        size_t k = n < sizeof zeros ? (size_t)n : sizeof zeros;
        if (fwrite(zeros, 1, k, f) != k) return false;
        n -= k;
    }
    return true;
}

/* Writes the whole file to f; false on a write error (errno set). */
static bool write_all(gguf_writer *w, FILE *f, const wbuf *head, uint64_t align) {
    if (fwrite(head->p, 1, head->len, f) != head->len) return false;
    uint64_t pos = head->len;
    if (w->n_t && !write_zeros(f, (pos + align - 1) / align * align - pos)) return false;
    pos = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->ts[i];
        if (!write_zeros(f, t->offset - pos)) return false;
        if (fwrite(t->data, 1, (size_t)t->nbytes, f) != t->nbytes) return false;
        pos = t->offset + t->nbytes;
    }
    return fflush(f) == 0 && fsync(fileno(f)) == 0;
}

/* Makes the rename durable; best effort, as some file systems refuse it. */
static void sync_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, (size_t)(slash - path + 1)) : strdup(".");
    if (!dir) return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(dir);
}

static penny_status save_to(gguf_writer *w, const char *path, const wbuf *head, uint64_t align,
                            penny_error *err) {
    size_t n = strlen(path) + 16;
    char *tmp = malloc(n);
    if (!tmp) return err_set(err, PENNY_ERR_NOMEM, "%s: out of memory", path);
    snprintf(tmp, n, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    bool ok = f && fchmod(fd, 0644) == 0 && write_all(w, f, head, align);
    int e = errno;
    if (f && fclose(f) != 0 && ok) ok = false, e = errno;
    if (!f && fd >= 0) close(fd);
    if (ok && rename(tmp, path) != 0) ok = false, e = errno;
    if (!ok && fd >= 0) unlink(tmp);
    free(tmp);
    if (!ok) return err_set(err, PENNY_ERR_IO, "%s: cannot write: %s", path, strerror(e));
    sync_dir(path);
    return PENNY_OK;
}

penny_status gguf_writer_save(gguf_writer *w, const char *path, penny_error *err) {
    uint64_t align;
    pick_alignment(w, &align);
    if (w->status) return err_set(err, w->status, "%s: %s", path, w->msg);
    wbuf head = {0};
    build_head(w, &head, align);
    penny_status rc = head.oom ? err_set(err, PENNY_ERR_NOMEM, "%s: out of memory", path)
                               : save_to(w, path, &head, align, err);
    free(head.p);
    return rc;
}
