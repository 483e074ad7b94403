/*
 * gguf_api.c - the penny_gguf_* functions of include/penny.h: a read-only
 * view of a GGUF file for `penny info` and other embedders.
 *
 * It wraps a gguf_file and adds what a C caller of the public API needs and
 * the reader deliberately does not keep: NUL-terminated copies of keys and
 * tensor names, and a printable rendering of any value. Renderings are
 * meant for terminals, so strings are quoted with control characters and
 * invalid UTF-8 escaped, and long strings and arrays are shortened.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "format/gguf.h"
#include "kernels/types.h"

/* Strings longer than this many bytes are shown cut, ending in "...". */
#define FORMAT_MAX_STR 80

struct penny_gguf {
    gguf_file *g;
    char **keys;  /* n_kv NUL-terminated keys, pointing into blob */
    char **names; /* n_tensors NUL-terminated tensor names, into blob */
    char *blob;
};

/* Copies every key and tensor name once, NUL-terminated. */
static bool copy_names(penny_gguf *p) {
    int64_t nk = gguf_kv_count(p->g), nt = gguf_tensor_count(p->g);
    size_t total = 1;
    for (int64_t i = 0; i < nk; i++) total += (size_t)gguf_kv_at(p->g, i)->key.len + 1;
    for (int64_t i = 0; i < nt; i++) total += (size_t)gguf_tensor_at(p->g, i)->name.len + 1;
    p->keys = malloc((size_t)(nk ? nk : 1) * sizeof *p->keys);
    p->names = malloc((size_t)(nt ? nt : 1) * sizeof *p->names);
    p->blob = malloc(total);
    if (!p->keys || !p->names || !p->blob) return false;
    char *w = p->blob;
    for (int64_t i = 0; i < nk + nt; i++) {
        gguf_str s = i < nk ? gguf_kv_at(p->g, i)->key : gguf_tensor_at(p->g, i - nk)->name;
        memcpy(w, s.ptr, (size_t)s.len);
        w[s.len] = '\0';
        if (i < nk)
            p->keys[i] = w;
        else
            p->names[i - nk] = w;
        w += s.len + 1;
    }
    return true;
}

penny_status penny_gguf_open(const char *path, penny_gguf **out, penny_error *err) {
    *out = NULL;
    penny_gguf *p = calloc(1, sizeof *p);
    if (!p) return err_set(err, PENNY_ERR_NOMEM, "%s: out of memory", path);
    penny_status rc = gguf_open(path, false, &p->g, err);
    if (!rc && !copy_names(p)) rc = err_set(err, PENNY_ERR_NOMEM, "%s: out of memory", path);
    if (rc) {
        penny_gguf_free(p);
        return rc;
    }
    *out = p;
    return PENNY_OK;
}

void penny_gguf_free(penny_gguf *p) {
    if (!p) return;
    gguf_close(p->g);
    free(p->keys);
    free(p->names);
    free(p->blob);
    free(p);
}

uint32_t penny_gguf_version(const penny_gguf *p) { return gguf_version(p->g); }
int64_t penny_gguf_kv_count(const penny_gguf *p) { return gguf_kv_count(p->g); }
int64_t penny_gguf_tensor_count(const penny_gguf *p) { return gguf_tensor_count(p->g); }

const char *penny_gguf_kv_key(const penny_gguf *p, int64_t i) {
    return i >= 0 && i < gguf_kv_count(p->g) ? p->keys[i] : NULL;
}

void penny_gguf_tensor(const penny_gguf *p, int64_t i, penny_tensor_info *out) {
    memset(out, 0, sizeof *out);
    const gguf_tensor *t = gguf_tensor_at(p->g, i);
    if (!t) {
        out->name = "";
        out->type_name = "";
        return;
    }
    out->name = p->names[i];
    out->n_dims = (int)t->n_dims;
    memcpy(out->ne, t->ne, sizeof out->ne);
    out->type_name = type_name(t->type);
    out->offset = gguf_data_offset(p->g) + t->offset;
    out->nbytes = t->nbytes;
}

/* ---- rendering ---- */

/* Output that stops at cap; full marks that something was cut. */
typedef struct sbuf {
    char *p;
    size_t cap, len;
    bool full;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n) {
    if (b->full) return;
    if (n >= b->cap - b->len) {
        n = b->cap - b->len - 1;
        b->full = true;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...) {
    char t[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t, sizeof t, fmt, ap);
    va_end(ap);
    if (n > 0) sb_put(b, t, (size_t)n < sizeof t ? (size_t)n : sizeof t - 1);
}

/* Ends a cut rendering with "...", on a UTF-8 character boundary. */
static void sb_finish(sbuf *b) {
    if (!b->full || b->cap < 4) return;
    size_t at = b->len > b->cap - 4 ? b->cap - 4 : b->len;
    while (at > 0 && ((unsigned char)b->p[at] & 0xc0) == 0x80) at--;
    memcpy(b->p + at, "...", 4);
}

/* Length of the valid UTF-8 sequence at s (n bytes available), 0 if none. */
static size_t utf8_len(const unsigned char *s, size_t n) {
    size_t len = s[0] < 0x80   ? 1
                 : s[0] < 0xc2 ? 0
                 : s[0] < 0xe0 ? 2
                 : s[0] < 0xf0 ? 3
                 : s[0] < 0xf5 ? 4
                               : 0;
    if (len == 0 || len > n) return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xc0) != 0x80) return 0;
    return len;
}

static void put_char_escaped(sbuf *b, const unsigned char *s, size_t k) {
    static const char esc[] = "\"\"\\\\\nn\tt\rr";
    for (const char *e = esc; *e; e += 2)
        if (k == 1 && s[0] == (unsigned char)e[0]) {
            char t[2] = {'\\', e[1]};
            sb_put(b, t, 2);
            return;
        }
    if (k == 1 && (s[0] < 0x20 || s[0] == 0x7f))
        sb_printf(b, "\\x%02x", s[0]);
    else
        sb_put(b, (const char *)s, k);
}

static void put_str(sbuf *b, gguf_str s) {
    const unsigned char *u = (const unsigned char *)s.ptr;
    size_t n = (size_t)s.len, i = 0;
    sb_put(b, "\"", 1);
    while (i < n && !b->full) {
        size_t k = utf8_len(u + i, n - i);
        if (i + (k ? k : 1) > FORMAT_MAX_STR) break;
        if (k)
            put_char_escaped(b, u + i, k);
        else
            sb_printf(b, "\\x%02x", u[i]);
        i += k ? k : 1;
    }
    sb_put(b, i < n ? "...\"" : "\"", i < n ? 4 : 1);
}

static void put_f64(sbuf *b, double f, bool single) {
    char t[40];
    for (int prec = 6; prec <= 17; prec++) {
        snprintf(t, sizeof t, "%.*g", prec, f);
        if (single ? strtof(t, NULL) == (float)f : strtod(t, NULL) == f) break;
    }
    sb_put(b, t, strlen(t));
}

static void put_value(sbuf *b, const gguf_value *v, int max_items);

/* Element i of a, as a value. */
static gguf_value arr_elem(const gguf_arr *a, uint64_t i) {
    gguf_value v = {.type = a->type};
    if (a->type == GGUF_STR)
        v.v.s = a->strs[i];
    else if (a->type == GGUF_ARR)
        v = a->items[i];
    else if (a->type == GGUF_BOOL)
        v.v.b = gguf_arr_num(a, i) != 0;
    else if (a->type == GGUF_F32 || a->type == GGUF_F64)
        v.v.f = gguf_arr_num(a, i);
    else if (a->type == GGUF_U64)
        memcpy(&v.v.u, (const unsigned char *)a->data + i * 8, 8);
    else if (a->type == GGUF_I64)
        memcpy(&v.v.i, (const unsigned char *)a->data + i * 8, 8);
    else if (a->type == GGUF_U8 || a->type == GGUF_U16 || a->type == GGUF_U32)
        v.v.u = (uint64_t)gguf_arr_num(a, i);
    else
        v.v.i = (int64_t)gguf_arr_num(a, i);
    return v;
}

static void put_array(sbuf *b, const gguf_arr *a, int max_items) {
    uint64_t shown = a->n < (uint64_t)max_items ? a->n : (uint64_t)max_items;
    sb_put(b, "[", 1);
    for (uint64_t i = 0; i < shown && !b->full; i++) {
        if (i) sb_put(b, ", ", 2);
        gguf_value e = arr_elem(a, i);
        put_value(b, &e, max_items);
    }
    if (shown < a->n) sb_printf(b, "%s... (%" PRIu64 " items)", shown ? ", " : "", a->n);
    sb_put(b, "]", 1);
}

static void put_value(sbuf *b, const gguf_value *v, int max_items) {
    switch (v->type) {
    case GGUF_U8:
    case GGUF_U16:
    case GGUF_U32:
    case GGUF_U64: sb_printf(b, "%" PRIu64, v->v.u); break;
    case GGUF_I8:
    case GGUF_I16:
    case GGUF_I32:
    case GGUF_I64: sb_printf(b, "%" PRId64, v->v.i); break;
    case GGUF_F32: put_f64(b, v->v.f, true); break;
    case GGUF_F64: put_f64(b, v->v.f, false); break;
    case GGUF_BOOL: sb_put(b, v->v.b ? "true" : "false", v->v.b ? 4 : 5); break;
    case GGUF_STR: put_str(b, v->v.s); break;
    case GGUF_ARR: put_array(b, &v->v.arr, max_items); break;
    }
}

char *gguf_format_value(const gguf_value *v, char *buf, size_t cap, int max_items) {
    if (!buf || cap == 0) return buf;
    buf[0] = '\0';
    sbuf b = {buf, cap, 0, false};
    put_value(&b, v, max_items < 0 ? 0 : max_items);
    sb_finish(&b);
    return buf;
}

char *penny_gguf_kv_format(const penny_gguf *p, int64_t i, char *buf, size_t cap, int max_items) {
    const gguf_kv *kv = gguf_kv_at(p->g, i);
    if (!kv) {
        if (buf && cap) buf[0] = '\0';
        return buf;
    }
    return gguf_format_value(&kv->val, buf, cap, max_items);
}
