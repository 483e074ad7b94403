/*
 * builtins.c - the filters, tests, methods and global functions that chat
 * templates call.
 *
 * Each table maps a name to a small function; an unknown name is an error
 * naming the line and the name, never a silent no-op. String methods follow
 * Python (strip('x') strips x characters, split() without a separator splits
 * on runs of whitespace). Case mapping is ASCII-only.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "template/tmpl_int.h"

typedef val (*bi_fn)(rctx *r, int line, val x, const call_args *a);

typedef struct bi_entry {
    const char *name;
    bi_fn fn;
} bi_entry;

#define STR(v) ((v).k == V_STR)
#define LIST_OF(l) ((val){.k = V_LIST, .u.l = (l)})

static val oom(rctx *r, int line) { return rt_fail(r, line, PENNY_ERR_NOMEM, "out of memory"); }

/* Argument i (positional), or the keyword argument `kw`, or def. */
static val arg(const call_args *a, int i, const char *kw, val def) {
    for (int k = 0; kw && k < a->n_kw; k++)
        if (!strcmp(a->kw[k], kw)) return a->kw_v[k];
    return i >= 0 && i < a->n_pos ? a->pos[i] : def;
}

static bool is_ws(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static val str_or_fail(rctx *r, int line, val x, const char *what) {
    if (STR(x)) return x;
    return rt_fail(r, line, PENNY_ERR_ARG, "%s needs a string, got %s", what, v_type_name(x));
}

/* ---- strings ---- */

/* Strips chars (whitespace when chars is not a string) from the sides. */
static val strip(val s, val chars, bool left, bool right) {
    const char *p = s.u.s.p;
    size_t n = s.u.s.n;
    bool ws = !STR(chars);
#define STRIPPABLE(c) (ws ? is_ws(c) : memchr(chars.u.s.p, (c), chars.u.s.n) != NULL)
    while (left && n > 0 && STRIPPABLE(p[0])) p++, n--;
    while (right && n > 0 && STRIPPABLE(p[n - 1])) n--;
#undef STRIPPABLE
    return v_str(p, n);
}

static val map_case(rctx *r, int line, val s, int mode) { /* 0 lower 1 upper 2 title 3 capitalize */
    char *p = ar_alloc(rt_arena(r), s.u.s.n + 1);
    if (!p) return oom(r, line);
    bool start = true;
    for (size_t i = 0; i < s.u.s.n; i++) {
        char c = s.u.s.p[i];
        bool up = mode == 1 || ((mode == 2 || mode == 3) && start);
        if (mode == 3 && !start) up = false;
        if (up && c >= 'a' && c <= 'z') c = (char)(c - 32);
        if (!up && c >= 'A' && c <= 'Z') c = (char)(c + 32);
        p[i] = c;
        if (mode == 2)
            start = !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'));
        if (mode == 3) start = false;
    }
    return v_str(p, s.u.s.n);
}

static val split(rctx *r, int line, val s, val sep, int64_t maxsplit) {
    vlist *l = vl_new(rt_arena(r));
    if (!l) return oom(r, line);
    const char *p = s.u.s.p, *end = p + s.u.s.n;
    if (!STR(sep)) { /* runs of whitespace; no empty strings */
        while (p < end) {
            while (p < end && is_ws(*p)) p++;
            if (p == end) break;
            const char *q = p;
            if (maxsplit >= 0 && l->n == maxsplit) q = end;
            while (q < end && !is_ws(*q)) q++;
            if (!vl_push(rt_arena(r), l, v_str(p, (size_t)(q - p)))) return oom(r, line);
            p = q;
        }
        return LIST_OF(l);
    }
    if (sep.u.s.n == 0) return rt_fail(r, line, PENNY_ERR_ARG, "split: empty separator");
    for (;;) {
        const char *hit = maxsplit >= 0 && l->n == maxsplit
                              ? NULL
                              : memmem(p, (size_t)(end - p), sep.u.s.p, sep.u.s.n);
        const char *q = hit ? hit : end;
        if (!vl_push(rt_arena(r), l, v_str(p, (size_t)(q - p)))) return oom(r, line);
        if (!hit) break;
        p = hit + sep.u.s.n;
    }
    return LIST_OF(l);
}

static val replace(rctx *r, int line, val s, val old, val new, int64_t count) {
    if (!STR(old) || !STR(new)) return rt_fail(r, line, PENNY_ERR_ARG, "replace needs strings");
    sbuf sb = SB_INIT(rt_arena(r));
    const char *p = s.u.s.p, *end = p + s.u.s.n;
    for (int64_t k = 0; p <= end && (count < 0 || k < count); k++) {
        const char *hit = old.u.s.n ? memmem(p, (size_t)(end - p), old.u.s.p, old.u.s.n) : NULL;
        if (!hit) break;
        sb_put(&sb, p, (size_t)(hit - p));
        sb_put(&sb, new.u.s.p, new.u.s.n);
        p = hit + old.u.s.n;
    }
    sb_put(&sb, p, (size_t)(end - p));
    return sb.failed ? oom(r, line) : v_str(sb.n ? sb.p : "", sb.n);
}

static bool affix(val s, val x, bool start) {
    if (!STR(x) || x.u.s.n > s.u.s.n) return false;
    return !memcmp(s.u.s.p + (start ? 0 : s.u.s.n - x.u.s.n), x.u.s.p, x.u.s.n);
}

/* startswith/endswith with a string or a tuple of strings. */
static val affix_any(val s, val x, bool start) {
    if (x.k != V_LIST) return v_bool(affix(s, x, start));
    for (int i = 0; i < x.u.l->n; i++)
        if (affix(s, x.u.l->v[i], start)) return v_bool(true);
    return v_bool(false);
}

static int64_t as_int(val v, int64_t def) {
    return v.k == V_INT ? v.u.i : v.k == V_FLOAT ? (int64_t)v.u.f : v.k == V_BOOL ? v.u.b : def;
}

/* ---- filters ---- */

static size_t cp_len(val s) {
    size_t c = 0;
    for (size_t i = 0; i < s.u.s.n; i++) c += ((unsigned char)s.u.s.p[i] & 0xC0) != 0x80;
    return c;
}

static val f_length(rctx *r, int line, val x, const call_args *a) {
    (void)a;
    if (STR(x)) return v_int((int64_t)cp_len(x));
    if (x.k == V_LIST) return v_int(x.u.l->n);
    if (x.k == V_DICT) return v_int(x.u.d->n);
    return rt_fail(r, line, PENNY_ERR_ARG, "length of %s", v_type_name(x));
}

static val f_trim(rctx *r, int line, val x, const call_args *a) {
    if (!STR(str_or_fail(r, line, x, "trim"))) return v_undef();
    return strip(x, arg(a, 0, "chars", v_none()), true, true);
}

static val f_tojson(rctx *r, int line, val x, const call_args *a) {
    sbuf sb = SB_INIT(rt_arena(r));
    v_json(&sb, x, (int)as_int(arg(a, 0, "indent", v_none()), -1), 0);
    return sb.failed ? oom(r, line) : v_str(sb.p, sb.n);
}

static val f_string(rctx *r, int line, val x, const call_args *a) {
    (void)a;
    if (STR(x)) return x;
    sbuf sb = SB_INIT(rt_arena(r));
    v_print(&sb, x);
    return sb.failed ? oom(r, line) : v_str(sb.p, sb.n);
}

static val f_case(rctx *r, int line, val x, int mode) {
    if (!STR(str_or_fail(r, line, x, "case filter"))) return v_undef();
    return map_case(r, line, x, mode);
}
static val f_lower(rctx *r, int line, val x, const call_args *a) {
    (void)a;
    return f_case(r, line, x, 0);
}
static val f_upper(rctx *r, int line, val x, const call_args *a) {
    (void)a;
    return f_case(r, line, x, 1);
}
static val f_title(rctx *r, int line, val x, const call_args *a) {
    (void)a;
    return f_case(r, line, x, 2);
}
static val f_capitalize(rctx *r, int line, val x, const call_args *a) {
    (void)a;
    return f_case(r, line, x, 3);
}

static val f_default(rctx *r, int line, val x, const call_args *a) {
    (void)r, (void)line;
    bool boolean = v_truthy(arg(a, 1, "boolean", v_bool(false)));
    if (x.k == V_UNDEF || (boolean && !v_truthy(x)))
        return arg(a, 0, "default_value", v_str("", 0));
    return x;
}

/* Lists from lists, strings (characters) and dicts (keys). */
static vlist *as_list(rctx *r, int line, val x) {
    if (x.k == V_LIST) return x.u.l;
    vlist *l = vl_new(rt_arena(r));
    if (!l) return oom(r, line), NULL;
    if (x.k == V_DICT) {
        for (int i = 0; i < x.u.d->n; i++)
            if (!vl_push(rt_arena(r), l, v_str(x.u.d->key[i], x.u.d->klen[i])))
                return oom(r, line), NULL;
    } else if (STR(x)) {
        for (size_t i = 0; i < x.u.s.n;) {
            size_t k = 1;
            while (i + k < x.u.s.n && ((unsigned char)x.u.s.p[i + k] & 0xC0) == 0x80) k++;
            if (!vl_push(rt_arena(r), l, v_str(x.u.s.p + i, k))) return oom(r, line), NULL;
            i += k;
        }
    } else {
        rt_fail(r, line, PENNY_ERR_ARG, "expected a list, got %s", v_type_name(x));
        return NULL;
    }
    return l;
}

static val f_list(rctx *r, int line, val x, const call_args *a) {
    (void)a;
    vlist *src = as_list(r, line, x), *l = src ? vl_new(rt_arena(r)) : NULL;
    for (int i = 0; l && i < src->n; i++)
        if (!vl_push(rt_arena(r), l, src->v[i])) return oom(r, line);
    return l ? LIST_OF(l) : v_undef();
}

static val f_first(rctx *r, int line, val x, const call_args *a) {
    (void)a;
    vlist *l = as_list(r, line, x);
    return l && l->n ? l->v[0] : v_undef();
}

static val f_last(rctx *r, int line, val x, const call_args *a) {
    (void)a;
    vlist *l = as_list(r, line, x);
    return l && l->n ? l->v[l->n - 1] : v_undef();
}

static val f_reverse(rctx *r, int line, val x, const call_args *a) {
    (void)a;
    if (STR(x)) {
        vlist *c = as_list(r, line, x);
        sbuf sb = SB_INIT(rt_arena(r));
        for (int i = c ? c->n - 1 : -1; i >= 0; i--) sb_put(&sb, c->v[i].u.s.p, c->v[i].u.s.n);
        return sb.failed ? oom(r, line) : v_str(sb.p, sb.n);
    }
    vlist *src = as_list(r, line, x), *l = src ? vl_new(rt_arena(r)) : NULL;
    for (int i = src ? src->n - 1 : -1; l && i >= 0; i--)
        if (!vl_push(rt_arena(r), l, src->v[i])) return oom(r, line);
    return l ? LIST_OF(l) : v_undef();
}

/* A value's item by name (for attribute= arguments; dotted paths work). */
static val item_path(val v, val name) {
    if (!STR(name)) return v_undef();
    const char *p = name.u.s.p, *end = p + name.u.s.n;
    while (p < end) {
        const char *dot = memchr(p, '.', (size_t)(end - p));
        size_t n = (size_t)((dot ? dot : end) - p);
        val *x = v.k == V_DICT ? vd_get(v.u.d, p, n) : NULL;
        v = x ? *x : v_undef();
        p = dot ? dot + 1 : end;
    }
    return v;
}

static val f_join(rctx *r, int line, val x, const call_args *a) {
    vlist *l = as_list(r, line, x);
    val sep = arg(a, 0, "d", v_str("", 0)), attr = arg(a, 1, "attribute", v_none());
    sbuf sb = SB_INIT(rt_arena(r));
    for (int i = 0; l && i < l->n; i++) {
        if (i && STR(sep)) sb_put(&sb, sep.u.s.p, sep.u.s.n);
        v_print(&sb, STR(attr) ? item_path(l->v[i], attr) : l->v[i]);
    }
    return sb.failed ? oom(r, line) : v_str(sb.p, sb.n);
}

static val f_items(rctx *r, int line, val x, const call_args *a) {
    (void)a;
    if (x.k != V_DICT) return rt_fail(r, line, PENNY_ERR_ARG, "items of %s", v_type_name(x));
    arena *ar = rt_arena(r);
    vlist *l = vl_new(ar);
    for (int i = 0; l && i < x.u.d->n; i++) {
        vlist *pair = vl_new(ar);
        if (!pair || !vl_push(ar, pair, v_str(x.u.d->key[i], x.u.d->klen[i])) ||
            !vl_push(ar, pair, x.u.d->v[i]) ||
            !vl_push(ar, l, (val){.k = V_LIST, .tuple = true, .u.l = pair}))
            return oom(r, line);
    }
    return l ? LIST_OF(l) : oom(r, line);
}

static val f_select(rctx *r, int line, val x, const call_args *a, bool keep, bool by_attr) {
    vlist *src = as_list(r, line, x), *l = src ? vl_new(rt_arena(r)) : NULL;
    int skip = by_attr ? 1 : 0;
    val attr = by_attr ? arg(a, 0, NULL, v_none()) : v_none();
    val test = arg(a, skip, NULL, v_none());
    call_args rest = {a->pos + (a->n_pos > skip + 1 ? skip + 1 : a->n_pos), 0, a->kw, a->kw_v, 0};
    rest.n_pos = a->n_pos > skip + 1 ? a->n_pos - skip - 1 : 0;
    for (int i = 0; l && i < src->n && !rt_failed(r); i++) {
        val v = by_attr ? item_path(src->v[i], attr) : src->v[i];
        bool ok =
            STR(test) ? v_truthy(bi_test(r, line, test.u.s.p, test.u.s.n, v, &rest)) : v_truthy(v);
        if (ok == keep && !vl_push(rt_arena(r), l, src->v[i])) return oom(r, line);
    }
    return l ? LIST_OF(l) : v_undef();
}
static val f_selectattr(rctx *r, int line, val x, const call_args *a) {
    return f_select(r, line, x, a, true, true);
}
static val f_rejectattr(rctx *r, int line, val x, const call_args *a) {
    return f_select(r, line, x, a, false, true);
}
static val f_selectf(rctx *r, int line, val x, const call_args *a) {
    return f_select(r, line, x, a, true, false);
}
static val f_reject(rctx *r, int line, val x, const call_args *a) {
    return f_select(r, line, x, a, false, false);
}

static val f_map(rctx *r, int line, val x, const call_args *a) {
    vlist *src = as_list(r, line, x), *l = src ? vl_new(rt_arena(r)) : NULL;
    val attr = arg(a, -1, "attribute", v_none()), fname = arg(a, 0, NULL, v_none());
    call_args rest = {a->pos + (a->n_pos ? 1 : 0), a->n_pos ? a->n_pos - 1 : 0, NULL, NULL, 0};
    for (int i = 0; l && i < src->n && !rt_failed(r); i++) {
        val v = STR(attr)    ? item_path(src->v[i], attr)
                : STR(fname) ? bi_filter(r, line, fname.u.s.p, fname.u.s.n, src->v[i], &rest)
                             : src->v[i];
        if (v.k == V_UNDEF && STR(attr)) v = arg(a, -1, "default", v_undef());
        if (!vl_push(rt_arena(r), l, v)) return oom(r, line);
    }
    return l ? LIST_OF(l) : v_undef();
}

static val f_int(rctx *r, int line, val x, const call_args *a) {
    (void)r, (void)line;
    if (STR(x)) {
        char buf[32];
        size_t n = x.u.s.n < 31 ? x.u.s.n : 31;
        memcpy(buf, x.u.s.p, n);
        buf[n] = '\0';
        char *end;
        long long v = strtoll(buf, &end, 10);
        return end != buf ? v_int(v) : arg(a, 0, "default", v_int(0));
    }
    return v_int(as_int(x, 0));
}

static val f_float(rctx *r, int line, val x, const call_args *a) {
    (void)r, (void)line, (void)a;
    if (STR(x)) {
        char buf[64];
        size_t n = x.u.s.n < 63 ? x.u.s.n : 63;
        memcpy(buf, x.u.s.p, n);
        buf[n] = '\0';
        return v_float(strtod(buf, NULL));
    }
    return v_float(x.k == V_INT ? (double)x.u.i : x.k == V_FLOAT ? x.u.f : 0);
}

static val f_abs(rctx *r, int line, val x, const call_args *a) {
    (void)a;
    if (x.k == V_INT) return v_int(x.u.i < 0 ? (int64_t)(0 - (uint64_t)x.u.i) : x.u.i);
    if (x.k == V_FLOAT) return v_float(fabs(x.u.f));
    return rt_fail(r, line, PENNY_ERR_ARG, "abs of %s", v_type_name(x));
}

static val f_replace(rctx *r, int line, val x, const call_args *a) {
    if (!STR(str_or_fail(r, line, x, "replace"))) return v_undef();
    return replace(r, line, x, arg(a, 0, "old", v_none()), arg(a, 1, "new", v_none()),
                   as_int(arg(a, 2, "count", v_none()), -1));
}

static val f_safe(rctx *r, int line, val x, const call_args *a) {
    (void)r, (void)line, (void)a;
    return x;
}

static val f_unique(rctx *r, int line, val x, const call_args *a) {
    (void)a;
    vlist *src = as_list(r, line, x), *l = src ? vl_new(rt_arena(r)) : NULL;
    for (int i = 0; l && i < src->n; i++) {
        bool seen = false;
        for (int k = 0; k < l->n && !seen; k++) seen = v_equal(l->v[k], src->v[i]);
        if (!seen && !vl_push(rt_arena(r), l, src->v[i])) return oom(r, line);
    }
    return l ? LIST_OF(l) : v_undef();
}

static val f_indent(rctx *r, int line, val x, const call_args *a) {
    if (!STR(str_or_fail(r, line, x, "indent"))) return v_undef();
    int64_t width = as_int(arg(a, 0, "width", v_int(4)), 4);
    bool first = v_truthy(arg(a, 1, "first", v_bool(false)));
    sbuf sb = SB_INIT(rt_arena(r));
    for (size_t i = 0; i < x.u.s.n; i++) {
        bool bol = i == 0 ? first : x.u.s.p[i - 1] == '\n';
        if (bol && x.u.s.p[i] != '\n')
            for (int64_t k = 0; k < width && k < 256; k++) sb_put(&sb, " ", 1);
        sb_put(&sb, x.u.s.p + i, 1);
    }
    return sb.failed ? oom(r, line) : v_str(sb.n ? sb.p : "", sb.n);
}

static const bi_entry FILTERS[] = {
    {"length", f_length},
    {"count", f_length},
    {"trim", f_trim},
    {"tojson", f_tojson},
    {"string", f_string},
    {"lower", f_lower},
    {"upper", f_upper},
    {"title", f_title},
    {"capitalize", f_capitalize},
    {"default", f_default},
    {"d", f_default},
    {"list", f_list},
    {"first", f_first},
    {"last", f_last},
    {"reverse", f_reverse},
    {"join", f_join},
    {"items", f_items},
    {"selectattr", f_selectattr},
    {"rejectattr", f_rejectattr},
    {"select", f_selectf},
    {"reject", f_reject},
    {"map", f_map},
    {"int", f_int},
    {"float", f_float},
    {"abs", f_abs},
    {"replace", f_replace},
    {"safe", f_safe},
    {"unique", f_unique},
    {"indent", f_indent},
};

static const bi_entry *find(const bi_entry *t, size_t n, const char *name, size_t len) {
    for (size_t i = 0; i < n; i++)
        if (strlen(t[i].name) == len && !memcmp(t[i].name, name, len)) return &t[i];
    return NULL;
}

val bi_filter(rctx *r, int line, const char *name, size_t n, val x, const call_args *a) {
    const bi_entry *e = find(FILTERS, sizeof FILTERS / sizeof *FILTERS, name, n);
    if (!e) return rt_fail(r, line, PENNY_ERR_UNSUPPORTED, "unknown filter '%.*s'", (int)n, name);
    return e->fn(r, line, x, a);
}

/* ---- tests ---- */

val bi_test(rctx *r, int line, const char *name, size_t n, val x, const call_args *a) {
    char t[24];
    if (n >= sizeof t)
        return rt_fail(r, line, PENNY_ERR_UNSUPPORTED, "unknown test '%.*s'",
                       (int)(n > 40 ? 40 : n), name);
    memcpy(t, name, n);
    t[n] = '\0';
    val y = arg(a, 0, NULL, v_undef());
    bool num = x.k == V_INT || x.k == V_FLOAT;
    if (!strcmp(t, "defined")) return v_bool(x.k != V_UNDEF);
    if (!strcmp(t, "undefined")) return v_bool(x.k == V_UNDEF);
    if (!strcmp(t, "none")) return v_bool(x.k == V_NONE);
    if (!strcmp(t, "string")) return v_bool(STR(x));
    if (!strcmp(t, "number")) return v_bool(num);
    if (!strcmp(t, "integer")) return v_bool(x.k == V_INT);
    if (!strcmp(t, "float")) return v_bool(x.k == V_FLOAT);
    if (!strcmp(t, "boolean")) return v_bool(x.k == V_BOOL);
    if (!strcmp(t, "true")) return v_bool(x.k == V_BOOL && x.u.b);
    if (!strcmp(t, "false")) return v_bool(x.k == V_BOOL && !x.u.b);
    if (!strcmp(t, "mapping")) return v_bool(x.k == V_DICT);
    if (!strcmp(t, "sequence") || !strcmp(t, "iterable"))
        return v_bool(x.k == V_LIST || STR(x) || x.k == V_DICT);
    if (!strcmp(t, "callable")) return v_bool(x.k == V_FUNC || x.k == V_MACRO);
    if (!strcmp(t, "odd") || !strcmp(t, "even") || !strcmp(t, "divisibleby")) {
        if (x.k != V_INT) return rt_fail(r, line, PENNY_ERR_ARG, "test '%s' needs an integer", t);
        int64_t d = !strcmp(t, "divisibleby") ? as_int(y, 1) : 2;
        if (d == 0) return rt_fail(r, line, PENNY_ERR_ARG, "divisibleby(0)");
        bool div = x.u.i % d == 0;
        return v_bool(!strcmp(t, "odd") ? !div : div);
    }
    if (!strcmp(t, "eq") || !strcmp(t, "equalto") || !strcmp(t, "sameas"))
        return v_bool(v_equal(x, y));
    if (!strcmp(t, "ne")) return v_bool(!v_equal(x, y));
    if (!strcmp(t, "in")) {
        if (y.k == V_LIST)
            for (int i = 0; i < y.u.l->n; i++)
                if (v_equal(x, y.u.l->v[i])) return v_bool(true);
        if (y.k == V_DICT && STR(x)) return v_bool(vd_get(y.u.d, x.u.s.p, x.u.s.n) != NULL);
        if (STR(y) && STR(x)) return v_bool(memmem(y.u.s.p, y.u.s.n, x.u.s.p, x.u.s.n) || !x.u.s.n);
        return v_bool(false);
    }
    if (!strcmp(t, "lower") || !strcmp(t, "upper")) {
        if (!STR(x)) return v_bool(false);
        for (size_t i = 0; i < x.u.s.n; i++) {
            char c = x.u.s.p[i];
            if (t[0] == 'l' ? (c >= 'A' && c <= 'Z') : (c >= 'a' && c <= 'z')) return v_bool(false);
        }
        return v_bool(true);
    }
    return rt_fail(r, line, PENNY_ERR_UNSUPPORTED, "unknown test '%s'", t);
}

/* ---- methods ---- */

static val str_method(rctx *r, int line, val s, const char *m, const call_args *a) {
    val x = arg(a, 0, NULL, v_none());
    if (!strcmp(m, "startswith")) return affix_any(s, x, true);
    if (!strcmp(m, "endswith")) return affix_any(s, x, false);
    if (!strcmp(m, "strip")) return strip(s, x, true, true);
    if (!strcmp(m, "lstrip")) return strip(s, x, true, false);
    if (!strcmp(m, "rstrip")) return strip(s, x, false, true);
    if (!strcmp(m, "split"))
        return split(r, line, s, arg(a, 0, "sep", v_none()),
                     as_int(arg(a, 1, "maxsplit", v_none()), -1));
    if (!strcmp(m, "replace"))
        return replace(r, line, s, x, arg(a, 1, NULL, v_none()),
                       as_int(arg(a, 2, "count", v_none()), -1));
    if (!strcmp(m, "lower")) return map_case(r, line, s, 0);
    if (!strcmp(m, "upper")) return map_case(r, line, s, 1);
    if (!strcmp(m, "title")) return map_case(r, line, s, 2);
    if (!strcmp(m, "capitalize")) return map_case(r, line, s, 3);
    if (!strcmp(m, "find") && STR(x)) {
        const char *hit = x.u.s.n ? memmem(s.u.s.p, s.u.s.n, x.u.s.p, x.u.s.n) : s.u.s.p;
        return v_int(hit ? (int64_t)cp_len(v_str(s.u.s.p, (size_t)(hit - s.u.s.p))) : -1);
    }
    if (!strcmp(m, "join")) {
        call_args j = {&s, 1, NULL, NULL, 0};
        return f_join(r, line, x, &j);
    }
    return rt_fail(r, line, PENNY_ERR_UNSUPPORTED, "unknown string method '%s'", m);
}

static val dict_method(rctx *r, int line, val d, const char *m, const call_args *a) {
    if (!strcmp(m, "items")) return f_items(r, line, d, a);
    if (!strcmp(m, "keys")) return f_list(r, line, d, a);
    if (!strcmp(m, "values")) {
        vlist *l = vl_new(rt_arena(r));
        for (int i = 0; l && i < d.u.d->n; i++)
            if (!vl_push(rt_arena(r), l, d.u.d->v[i])) return oom(r, line);
        return l ? LIST_OF(l) : oom(r, line);
    }
    if (!strcmp(m, "get")) {
        val k = arg(a, 0, NULL, v_none());
        val *v = STR(k) ? vd_get(d.u.d, k.u.s.p, k.u.s.n) : NULL;
        return v ? *v : arg(a, 1, "default", v_none());
    }
    return rt_fail(r, line, PENNY_ERR_UNSUPPORTED, "unknown dict method '%s'", m);
}

val bi_method(rctx *r, int line, val obj, const char *name, size_t n, const call_args *a) {
    char m[24];
    if (n >= sizeof m)
        return rt_fail(r, line, PENNY_ERR_UNSUPPORTED, "unknown method '%.*s'",
                       (int)(n > 40 ? 40 : n), name);
    memcpy(m, name, n);
    m[n] = '\0';
    if (STR(obj)) return str_method(r, line, obj, m, a);
    if (obj.k == V_DICT) return dict_method(r, line, obj, m, a);
    if (obj.k == V_LIST && !strcmp(m, "append")) {
        if (!vl_push(rt_arena(r), obj.u.l, arg(a, 0, NULL, v_none()))) return oom(r, line);
        return v_none();
    }
    return rt_fail(r, line, PENNY_ERR_UNSUPPORTED, "no method '%s' on %s", m, v_type_name(obj));
}

val bi_attr(rctx *r, val obj, const char *name, size_t n) {
    (void)r;
    if (n == 6 && !memcmp(name, "length", 6)) {
        if (obj.k == V_LIST) return v_int(obj.u.l->n);
        if (STR(obj)) return v_int((int64_t)cp_len(obj));
    }
    return v_undef();
}

/* ---- globals ---- */

enum { G_RANGE, G_NAMESPACE, G_RAISE, G_DICT, G_STRFTIME, G_N };
static const char *const GLOBALS[G_N] = {"range", "namespace", "raise_exception", "dict",
                                         "strftime_now"};

int bi_global(const char *name, size_t n) {
    for (int i = 0; i < G_N; i++)
        if (strlen(GLOBALS[i]) == n && !memcmp(GLOBALS[i], name, n)) return i;
    return -1;
}

static val g_range(rctx *r, int line, const call_args *a) {
    int64_t start = 0, stop, step = 1;
    if (a->n_pos == 1) {
        stop = as_int(a->pos[0], 0);
    } else if (a->n_pos >= 2) {
        start = as_int(a->pos[0], 0);
        stop = as_int(a->pos[1], 0);
        if (a->n_pos > 2) step = as_int(a->pos[2], 1);
    } else {
        return rt_fail(r, line, PENNY_ERR_ARG, "range needs arguments");
    }
    if (step == 0) return rt_fail(r, line, PENNY_ERR_ARG, "range step cannot be zero");
    vlist *l = vl_new(rt_arena(r));
    for (int64_t i = start; l && (step > 0 ? i < stop : i > stop); i += step) {
        if (l->n >= 10000000) return rt_fail(r, line, PENNY_ERR_RANGE, "range too long");
        if (!vl_push(rt_arena(r), l, v_int(i))) return oom(r, line);
    }
    return l ? LIST_OF(l) : oom(r, line);
}

static val g_dict(rctx *r, int line, const call_args *a, bool ns) {
    vdict *d = vd_new(rt_arena(r));
    if (!d) return oom(r, line);
    d->ns = ns;
    for (int i = 0; i < a->n_kw; i++)
        if (!vd_set(rt_arena(r), d, a->kw[i], strlen(a->kw[i]), a->kw_v[i])) return oom(r, line);
    return (val){.k = V_DICT, .u.d = d};
}

val bi_call_global(rctx *r, int line, int id, const call_args *a) {
    switch (id) {
    case G_RANGE: return g_range(r, line, a);
    case G_NAMESPACE: return g_dict(r, line, a, true);
    case G_DICT: return g_dict(r, line, a, false);
    case G_RAISE: {
        val m = arg(a, 0, NULL, v_str("", 0));
        return rt_fail(r, line, PENNY_ERR_ARG, "raise_exception: %.*s",
                       STR(m) ? (int)(m.u.s.n > 300 ? 300 : m.u.s.n) : 0, STR(m) ? m.u.s.p : "");
    }
    case G_STRFTIME: {
        val f = arg(a, 0, NULL, v_str("%Y-%m-%d", 8));
        char fmt[64], buf[128];
        size_t n = STR(f) && f.u.s.n < 63 ? f.u.s.n : 0;
        memcpy(fmt, STR(f) ? f.u.s.p : "", n);
        fmt[n] = '\0';
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        size_t k = strftime(buf, sizeof buf, fmt, &tm);
        char *p = ar_strdup(rt_arena(r), buf, k);
        return p ? v_str(p, k) : oom(r, line);
    }
    default: return rt_fail(r, line, PENNY_ERR_UNSUPPORTED, "unknown function");
    }
}
