/*
 * value.c - template values: the arena they live in, lists and dicts,
 * truth, equality, printing and JSON.
 *
 * Values are small structs passed by value; strings point into the arena
 * (or the template), lists and dicts are shared by reference, as in Python.
 * Printing follows the renderer the templates are checked against
 * (@huggingface/jinja): lists, dicts and namespaces print as JSON with ", "
 * and ": " separators, whole floats keep ".0", booleans print as true/false,
 * and none and undefined print as nothing (Python's Jinja would print
 * None/True/False: chat templates do not print these).
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template/tmpl_int.h"

/* ---- arena ---- */

struct ar_chunk {
    ar_chunk *next;
    size_t used, size;
    _Alignas(16) unsigned char data[];
};

void *ar_alloc(arena *a, size_t n) {
    n = (n + 15) & ~(size_t)15;
    if (a->failed || n > a->cap || a->used > a->cap - n) {
        a->failed = true;
        return NULL;
    }
    ar_chunk *c = a->head;
    if (!c || c->size - c->used < n) {
        size_t size = n > 65536 ? n : 65536;
        c = malloc(sizeof *c + size);
        if (!c) {
            a->failed = true;
            return NULL;
        }
        c->next = a->head;
        c->used = 0;
        c->size = size;
        a->head = c;
    }
    void *p = c->data + c->used;
    c->used += n;
    a->used += n;
    return p;
}

void ar_free(arena *a) {
    for (ar_chunk *c = a->head, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    a->head = NULL;
    a->used = 0;
}

char *ar_strdup(arena *a, const char *s, size_t n) {
    char *p = ar_alloc(a, n + 1);
    if (p) {
        if (n) memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

/* ---- lists and dicts ---- */

vlist *vl_new(arena *a) {
    vlist *l = ar_alloc(a, sizeof *l);
    if (l) *l = (vlist){0};
    return l;
}

bool vl_push(arena *a, vlist *l, val v) {
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 4;
        val *p = ar_alloc(a, (size_t)cap * sizeof *p);
        if (!p) return false;
        if (l->n) memcpy(p, l->v, (size_t)l->n * sizeof *p);
        l->v = p;
        l->cap = cap;
    }
    l->v[l->n++] = v;
    return true;
}

vdict *vd_new(arena *a) {
    vdict *d = ar_alloc(a, sizeof *d);
    if (d) *d = (vdict){0};
    return d;
}

val *vd_get(const vdict *d, const char *k, size_t kn) {
    for (int i = 0; d && i < d->n; i++)
        if (d->klen[i] == kn && memcmp(d->key[i], k, kn) == 0) return &d->v[i];
    return NULL;
}

static bool vd_grow(arena *a, vdict *d) {
    int cap = d->cap ? 2 * d->cap : 4;
    const char **key = ar_alloc(a, (size_t)cap * sizeof *key);
    size_t *klen = ar_alloc(a, (size_t)cap * sizeof *klen);
    val *v = ar_alloc(a, (size_t)cap * sizeof *v);
    if (!key || !klen || !v) return false;
    if (d->n) {
        memcpy(key, d->key, (size_t)d->n * sizeof *key);
        memcpy(klen, d->klen, (size_t)d->n * sizeof *klen);
        memcpy(v, d->v, (size_t)d->n * sizeof *v);
    }
    d->key = key;
    d->klen = klen;
    d->v = v;
    d->cap = cap;
    return true;
}

bool vd_set(arena *a, vdict *d, const char *k, size_t kn, val v) {
    val *old = vd_get(d, k, kn);
    if (old) {
        *old = v;
        return true;
    }
    if (d->n == d->cap && !vd_grow(a, d)) return false;
    const char *kc = ar_strdup(a, k, kn);
    if (!kc) return false;
    d->key[d->n] = kc;
    d->klen[d->n] = kn;
    d->v[d->n++] = v;
    return true;
}

/* ---- truth and equality ---- */

bool v_truthy(val v) {
    switch (v.k) {
    case V_UNDEF:
    case V_NONE: return false;
    case V_BOOL: return v.u.b;
    case V_INT: return v.u.i != 0;
    case V_FLOAT: return v.u.f != 0;
    case V_STR: return v.u.s.n > 0;
    case V_LIST: return v.u.l->n > 0;
    case V_DICT: return v.u.d->n > 0 || v.u.d->ns;
    default: return true;
    }
}

static bool is_num(val v) { return v.k == V_INT || v.k == V_FLOAT || v.k == V_BOOL; }
static double num(val v) {
    return v.k == V_INT ? (double)v.u.i : v.k == V_FLOAT ? v.u.f : (double)v.u.b;
}

bool v_equal(val a, val b) {
    if (is_num(a) && is_num(b)) return num(a) == num(b);
    if (a.k != b.k) return (a.k == V_UNDEF || a.k == V_NONE) && (b.k == V_UNDEF || b.k == V_NONE);
    switch (a.k) {
    case V_STR: return a.u.s.n == b.u.s.n && memcmp(a.u.s.p, b.u.s.p, a.u.s.n) == 0;
    case V_LIST: return a.u.l == b.u.l;
    case V_DICT: return a.u.d == b.u.d;
    case V_MACRO: return a.u.m == b.u.m;
    case V_FUNC: return a.u.i == b.u.i;
    default: return true;
    }
}

const char *v_type_name(val v) {
    static const char *const names[] = {"undefined", "none", "boolean", "integer",  "float",
                                        "string",    "list", "dict",    "function", "macro"};
    return names[v.k];
}

/* ---- output ---- */

void sb_put(sbuf *b, const char *s, size_t n) {
    if (b->failed || n == 0) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1) cap *= 2;
        char *p = ar_alloc(b->a, cap);
        if (!p) {
            b->failed = true;
            return;
        }
        if (b->n) memcpy(p, b->p, b->n);
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

void sb_puts(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

/* Shortest text that reads back as the same double, as JavaScript prints
 * numbers; a whole number gets ".0". */
static void put_float(sbuf *b, double f) {
    char buf[40];
    if (isnan(f)) {
        sb_puts(b, "NaN");
        return;
    }
    if (isinf(f)) {
        sb_puts(b, f > 0 ? "Infinity" : "-Infinity");
        return;
    }
    if (f == floor(f) && fabs(f) < 1e21) {
        snprintf(buf, sizeof buf, "%.1f", f);
        if (f == 0 && signbit(f)) snprintf(buf, sizeof buf, "-0.0");
    } else {
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(buf, sizeof buf, "%.*g", prec, f);
            if (strtod(buf, NULL) == f) break;
        }
    }
    sb_puts(b, buf);
}

static void put_int(sbuf *b, int64_t i) {
    char buf[24];
    snprintf(buf, sizeof buf, "%" PRId64, i);
    sb_puts(b, buf);
}

void v_print(sbuf *b, val v) {
    switch (v.k) {
    case V_UNDEF: return;
    case V_NONE: return;
    case V_BOOL: sb_puts(b, v.u.b ? "true" : "false"); return;
    case V_INT: put_int(b, v.u.i); return;
    case V_FLOAT: put_float(b, v.u.f); return;
    case V_STR: sb_put(b, v.u.s.p, v.u.s.n); return;
    case V_LIST:
    case V_DICT: v_json(b, v, -1, 0); return;
    default: sb_puts(b, v.k == V_MACRO ? "<macro>" : "<function>"); return;
    }
}

/* A JSON string literal; non-ASCII passes through (ensure_ascii off). */
static void put_json_str(sbuf *b, const char *s, size_t n) {
    sb_put(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        const char *e = c == '"'    ? "\\\""
                        : c == '\\' ? "\\\\"
                        : c == '\n' ? "\\n"
                        : c == '\r' ? "\\r"
                        : c == '\t' ? "\\t"
                        : c == '\b' ? "\\b"
                        : c == '\f' ? "\\f"
                                    : NULL;
        if (!e && c < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            e = esc;
        }
        if (e)
            sb_puts(b, e);
        else
            sb_put(b, s + i, 1);
    }
    sb_put(b, "\"", 1);
}

static void newline_indent(sbuf *b, int indent, int depth) {
    sb_put(b, "\n", 1);
    for (int i = 0; i < indent * depth; i++) sb_put(b, " ", 1);
}

void v_json(sbuf *b, val v, int indent, int depth) {
    const char *item_sep = indent > 0 ? "," : ", ";
    if (depth > 64) {
        sb_puts(b, "null");
        return;
    }
    switch (v.k) {
    case V_UNDEF:
    case V_NONE: sb_puts(b, "null"); return;
    case V_BOOL: sb_puts(b, v.u.b ? "true" : "false"); return;
    case V_INT: put_int(b, v.u.i); return;
    case V_FLOAT:
        if (v.u.f == floor(v.u.f) && fabs(v.u.f) < 1e21) {
            char buf[32];
            snprintf(buf, sizeof buf, "%.0f", v.u.f);
            sb_puts(b, buf);
        } else {
            put_float(b, v.u.f);
        }
        return;
    case V_STR: put_json_str(b, v.u.s.p, v.u.s.n); return;
    case V_LIST: {
        const vlist *l = v.u.l;
        sb_put(b, "[", 1);
        for (int i = 0; i < l->n; i++) {
            if (i) sb_puts(b, item_sep);
            if (indent > 0) newline_indent(b, indent, depth + 1);
            v_json(b, l->v[i], indent, depth + 1);
        }
        if (indent > 0 && l->n) newline_indent(b, indent, depth);
        sb_put(b, "]", 1);
        return;
    }
    case V_DICT: {
        const vdict *d = v.u.d;
        sb_put(b, "{", 1);
        for (int i = 0; i < d->n; i++) {
            if (i) sb_puts(b, item_sep);
            if (indent > 0) newline_indent(b, indent, depth + 1);
            put_json_str(b, d->key[i], d->klen[i]);
            sb_puts(b, ": ");
            v_json(b, d->v[i], indent, depth + 1);
        }
        if (indent > 0 && d->n) newline_indent(b, indent, depth);
        sb_put(b, "}", 1);
        return;
    }
    default: sb_puts(b, "null"); return;
    }
}

val v_from_json(arena *a, const cJSON *j) {
    if (!j || cJSON_IsNull(j)) return v_none();
    if (cJSON_IsBool(j)) return v_bool(cJSON_IsTrue(j));
    if (cJSON_IsNumber(j)) {
        double f = j->valuedouble;
        if (f == floor(f) && fabs(f) < 9e15) return v_int((int64_t)f);
        return v_float(f);
    }
    if (cJSON_IsString(j)) return v_str(j->valuestring, strlen(j->valuestring));
    const cJSON *e;
    if (cJSON_IsArray(j)) {
        vlist *l = vl_new(a);
        if (!l) return v_undef();
        cJSON_ArrayForEach(e, j) if (!vl_push(a, l, v_from_json(a, e))) return v_undef();
        return (val){.k = V_LIST, .u.l = l};
    }
    vdict *d = vd_new(a);
    if (!d) return v_undef();
    cJSON_ArrayForEach(e, j) {
        if (!vd_set(a, d, e->string, strlen(e->string), v_from_json(a, e))) return v_undef();
    }
    return (val){.k = V_DICT, .u.d = d};
}
