/*
 * eval.c - renders a parsed template: statements write to the output
 * buffer, expressions evaluate to values.
 *
 * Scopes follow Jinja: a for loop body gets its own scope each iteration
 * (so {% set %} inside a loop does not leak out, which is why templates use
 * namespace()), if blocks do not, and a macro call gets a fresh scope over
 * the caller's. Every statement and loop iteration counts against a step
 * budget, and macro calls against a depth limit, so no template can run
 * forever or overflow the stack; output and values live in an arena with
 * a size cap. Errors carry the line of the node at fault.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "template/tmpl_int.h"

#define MAX_STEPS 5000000
#define MAX_CALL_DEPTH 64
#define ARENA_CAP ((size_t)256 << 20)

typedef struct scope {
    vdict *vars;
    struct scope *parent;
} scope;

struct rctx {
    arena a;
    sbuf *out;
    scope *sc;
    long steps;
    int depth;
    int loop_ctl; /* 1: break, 2: continue pending */
    penny_status rc;
    penny_error *err;
};

val rt_fail(rctx *r, int line, penny_status code, const char *fmt, ...) {
    if (r->rc) return v_undef();
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    r->rc = err_set(r->err, code, "template line %d: %s", line, msg);
    return v_undef();
}

bool rt_failed(const rctx *r) { return r->rc != PENNY_OK; }
arena *rt_arena(rctx *r) { return &r->a; }

static val oom(rctx *r, int line) {
    return rt_fail(r, line, PENNY_ERR_NOMEM, "out of memory (templates may use up to %zu MiB)",
                   ARENA_CAP >> 20);
}

/* ---- scopes ---- */

static bool push_scope(rctx *r) {
    scope *s = ar_alloc(&r->a, sizeof *s);
    vdict *d = vd_new(&r->a);
    if (!s || !d) return false;
    *s = (scope){d, r->sc};
    r->sc = s;
    return true;
}

static val lookup(rctx *r, const char *name, size_t n) {
    for (scope *s = r->sc; s; s = s->parent) {
        val *v = vd_get(s->vars, name, n);
        if (v) return *v;
    }
    int g = bi_global(name, n);
    return g >= 0 ? (val){.k = V_FUNC, .u.i = g} : v_undef();
}

static void bind(rctx *r, int line, const char *name, size_t n, val v) {
    if (!vd_set(&r->a, r->sc->vars, name, n, v)) oom(r, line);
}

/* ---- expressions ---- */

static val eval(rctx *r, const node *e);
static void exec(rctx *r, const node *s);

/* Number of code points in s, and the byte offset of code point i. */
static size_t cp_count(const char *s, size_t n) {
    size_t c = 0;
    for (size_t i = 0; i < n; i++) c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}
static size_t cp_offset(const char *s, size_t n, size_t i) {
    size_t at = 0;
    for (size_t c = 0; at < n; at++)
        if (((unsigned char)s[at] & 0xC0) != 0x80 && c++ == i) return at;
    return n;
}

static val get_attr(rctx *r, val obj, const char *name, size_t n) {
    if (obj.k == V_DICT) {
        val *v = vd_get(obj.u.d, name, n);
        if (v) return *v;
    }
    return bi_attr(r, obj, name, n);
}

static val index_value(rctx *r, int line, val obj, val idx) {
    if (obj.k == V_DICT) {
        if (idx.k != V_STR) return v_undef();
        val *v = vd_get(obj.u.d, idx.u.s.p, idx.u.s.n);
        return v ? *v : v_undef();
    }
    if (idx.k != V_INT) {
        if (obj.k == V_UNDEF) return v_undef();
        return rt_fail(r, line, PENNY_ERR_ARG, "cannot index %s with %s", v_type_name(obj),
                       v_type_name(idx));
    }
    int64_t i = idx.u.i;
    if (obj.k == V_LIST) {
        if (i < 0) i += obj.u.l->n;
        return i >= 0 && i < obj.u.l->n ? obj.u.l->v[i] : v_undef();
    }
    if (obj.k == V_STR) {
        int64_t len = (int64_t)cp_count(obj.u.s.p, obj.u.s.n);
        if (i < 0) i += len;
        if (i < 0 || i >= len) return v_undef();
        size_t a = cp_offset(obj.u.s.p, obj.u.s.n, (size_t)i);
        size_t b = cp_offset(obj.u.s.p, obj.u.s.n, (size_t)i + 1);
        return v_str(obj.u.s.p + a, b - a);
    }
    if (obj.k == V_UNDEF) return v_undef();
    return rt_fail(r, line, PENNY_ERR_ARG, "cannot index %s", v_type_name(obj));
}

/* Python slice bounds over len items. */
static bool slice_bounds(rctx *r, const node *e, int64_t len, int64_t *start, int64_t *stop,
                         int64_t *step) {
    val v[3] = {v_none(), v_none(), v_none()};
    const node *parts[3] = {e->b, e->c, e->d};
    for (int i = 0; i < 3; i++) {
        if (parts[i]) v[i] = eval(r, parts[i]);
        if (v[i].k != V_NONE && v[i].k != V_UNDEF && v[i].k != V_INT) {
            rt_fail(r, e->line, PENNY_ERR_ARG, "slice bounds must be integers");
            return false;
        }
    }
    *step = v[2].k == V_INT ? v[2].u.i : 1;
    if (*step == 0) return rt_fail(r, e->line, PENNY_ERR_ARG, "slice step cannot be zero"), false;
    int64_t lo = *step > 0 ? 0 : -1, hi = *step > 0 ? len : len - 1;
    for (int i = 0; i < 2; i++) {
        int64_t *out = i ? stop : start;
        if (v[i].k != V_INT) {
            *out = (*step > 0) == (i == 0) ? lo : hi;
            continue;
        }
        int64_t x = v[i].u.i < 0 ? v[i].u.i + len : v[i].u.i;
        *out = x < lo ? lo : x > hi ? hi : x;
    }
    return true;
}

static val slice(rctx *r, const node *e) {
    val obj = eval(r, e->a);
    bool str = obj.k == V_STR;
    if (!str && obj.k != V_LIST) {
        if (obj.k == V_UNDEF || rt_failed(r)) return v_undef();
        return rt_fail(r, e->line, PENNY_ERR_ARG, "cannot slice %s", v_type_name(obj));
    }
    int64_t len = str ? (int64_t)cp_count(obj.u.s.p, obj.u.s.n) : obj.u.l->n, a, b, step;
    if (!slice_bounds(r, e, len, &a, &b, &step)) return v_undef();
    vlist *l = vl_new(&r->a);
    sbuf sb = SB_INIT(&r->a);
    if (!l) return oom(r, e->line);
    for (int64_t i = a; step > 0 ? i < b : i > b; i += step) {
        if (!str) {
            if (!vl_push(&r->a, l, obj.u.l->v[i])) return oom(r, e->line);
            continue;
        }
        size_t x = cp_offset(obj.u.s.p, obj.u.s.n, (size_t)i);
        size_t y = cp_offset(obj.u.s.p, obj.u.s.n, (size_t)i + 1);
        sb_put(&sb, obj.u.s.p + x, y - x);
    }
    if (sb.failed) return oom(r, e->line);
    return str ? v_str(sb.p, sb.n) : (val){.k = V_LIST, .u.l = l};
}

/* Positional and keyword arguments of a call/filter/test node. */
static bool eval_args(rctx *r, const node *e, call_args *a) {
    val *pos = ar_alloc(&r->a, (size_t)(e->n_kids + 1) * sizeof *pos);
    val *kwv = ar_alloc(&r->a, (size_t)(e->n_kids + 1) * sizeof *kwv);
    const char **kw = ar_alloc(&r->a, (size_t)(e->n_kids + 1) * sizeof *kw);
    if (!pos || !kwv || !kw) return oom(r, e->line), false;
    *a = (call_args){pos, 0, kw, kwv, 0};
    for (int i = 0; i < e->n_kids && !rt_failed(r); i++) {
        const node *k = e->kids[i];
        if (k->k == E_KWARG) {
            kw[a->n_kw] = ar_strdup(&r->a, k->s, k->n);
            kwv[a->n_kw++] = eval(r, k->a);
        } else {
            pos[a->n_pos++] = eval(r, k);
        }
    }
    return !rt_failed(r);
}

static val call(rctx *r, const node *e) {
    call_args a;
    if (e->a->k == E_ATTR) { /* obj.method(...) unless obj holds a callable there */
        val obj = eval(r, e->a->a);
        val f = obj.k == V_DICT ? get_attr(r, obj, e->a->s, e->a->n) : v_undef();
        if (f.k != V_MACRO && f.k != V_FUNC) {
            if (!eval_args(r, e, &a)) return v_undef();
            return bi_method(r, e->line, obj, e->a->s, e->a->n, &a);
        }
    }
    val f = eval(r, e->a);
    if (!eval_args(r, e, &a)) return v_undef();
    if (f.k == V_FUNC) return bi_call_global(r, e->line, (int)f.u.i, &a);
    if (f.k == V_MACRO) return rt_call_macro(r, e->line, f, a.pos, a.n_pos, a.kw, a.kw_v, a.n_kw);
    if (e->a->k == E_NAME)
        return rt_fail(r, e->line, PENNY_ERR_UNSUPPORTED, "unknown function '%.*s'", (int)e->a->n,
                       e->a->s);
    return rt_fail(r, e->line, PENNY_ERR_ARG, "cannot call %s", v_type_name(f));
}

static val concat_str(rctx *r, int line, val a, val b) {
    sbuf sb = SB_INIT(&r->a);
    v_print(&sb, a);
    v_print(&sb, b);
    return sb.failed ? oom(r, line) : v_str(sb.p, sb.n);
}

static bool contains(val needle, val hay) {
    if (hay.k == V_STR && needle.k == V_STR)
        return needle.u.s.n == 0 ||
               memmem(hay.u.s.p, hay.u.s.n, needle.u.s.p, needle.u.s.n) != NULL;
    if (hay.k == V_LIST) {
        for (int i = 0; i < hay.u.l->n; i++)
            if (v_equal(needle, hay.u.l->v[i])) return true;
        return false;
    }
    if (hay.k == V_DICT && needle.k == V_STR) return vd_get(hay.u.d, needle.u.s.p, needle.u.s.n);
    return false;
}

static int cmp_str(val a, val b) {
    size_t n = a.u.s.n < b.u.s.n ? a.u.s.n : b.u.s.n;
    int c = memcmp(a.u.s.p, b.u.s.p, n);
    return c ? c : (a.u.s.n > b.u.s.n) - (a.u.s.n < b.u.s.n);
}

static bool numeric(val v) { return v.k == V_INT || v.k == V_FLOAT; }
static double as_f(val v) { return v.k == V_INT ? (double)v.u.i : v.u.f; }

static val arith(rctx *r, const node *e, char op, val a, val b) {
    if (!numeric(a) || !numeric(b))
        return rt_fail(r, e->line, PENNY_ERR_ARG, "operator '%.*s' on %s and %s", (int)e->n, e->s,
                       v_type_name(a), v_type_name(b));
    bool fl = a.k == V_FLOAT || b.k == V_FLOAT;
    if (op == '/') {
        if (as_f(b) == 0) return rt_fail(r, e->line, PENNY_ERR_ARG, "division by zero");
        return v_float(as_f(a) / as_f(b));
    }
    if (!fl) {
        int64_t x = a.u.i, y = b.u.i;
        if ((op == 'q' || op == '%') && y == 0)
            return rt_fail(r, e->line, PENNY_ERR_ARG, "division by zero");
        switch (op) {
        case '+': return v_int((int64_t)((uint64_t)x + (uint64_t)y));
        case '-': return v_int((int64_t)((uint64_t)x - (uint64_t)y));
        case '*': return v_int((int64_t)((uint64_t)x * (uint64_t)y));
        case 'q': /* floor division; INT64_MIN // -1 wraps instead of trapping */
            if (y == -1) return v_int((int64_t)(0 - (uint64_t)x));
            return v_int(x / y - ((x % y != 0) && ((x < 0) != (y < 0))));
        case '%': { /* the sign of the divisor, as Python; r + y cannot overflow */
            int64_t m = y == -1 ? 0 : x % y;
            return v_int(m != 0 && (m < 0) != (y < 0) ? m + y : m);
        }
        default: break;
        }
    }
    double x = as_f(a), y = as_f(b);
    switch (op) {
    case '+': return v_float(x + y);
    case '-': return v_float(x - y);
    case '*': return v_float(x * y);
    case 'q':
        return y == 0 ? rt_fail(r, e->line, PENNY_ERR_ARG, "division by zero")
                      : v_float(floor(x / y));
    case '%':
        return y == 0 ? rt_fail(r, e->line, PENNY_ERR_ARG, "division by zero")
                      : v_float(x - y * floor(x / y));
    default: break;
    }
    double p = pow(x, y);
    if (!fl && y >= 0 && fabs(p) < 9e18) return v_int((int64_t)p);
    return v_float(p);
}

static val plus(rctx *r, const node *e, val a, val b) {
    if (a.k == V_LIST && b.k == V_LIST) {
        vlist *l = vl_new(&r->a);
        for (int i = 0; l && i < a.u.l->n; i++)
            if (!vl_push(&r->a, l, a.u.l->v[i])) l = NULL;
        for (int i = 0; l && i < b.u.l->n; i++)
            if (!vl_push(&r->a, l, b.u.l->v[i])) l = NULL;
        return l ? (val){.k = V_LIST, .u.l = l} : oom(r, e->line);
    }
    if ((a.k == V_STR || b.k == V_STR) && a.k != V_UNDEF && b.k != V_UNDEF && a.k != V_NONE &&
        b.k != V_NONE)
        return concat_str(r, e->line, a, b);
    return arith(r, e, '+', a, b);
}

static val compare(rctx *r, const node *e, val a, val b) {
    const char *op = e->s;
    if (!strcmp(op, "==")) return v_bool(v_equal(a, b));
    if (!strcmp(op, "!=")) return v_bool(!v_equal(a, b));
    int c;
    if (numeric(a) && numeric(b))
        c = as_f(a) < as_f(b) ? -1 : as_f(a) > as_f(b);
    else if (a.k == V_STR && b.k == V_STR)
        c = cmp_str(a, b);
    else
        return rt_fail(r, e->line, PENNY_ERR_ARG, "cannot compare %s with %s", v_type_name(a),
                       v_type_name(b));
    if (!strcmp(op, "<")) return v_bool(c < 0);
    if (!strcmp(op, "<=")) return v_bool(c <= 0);
    if (!strcmp(op, ">")) return v_bool(c > 0);
    return v_bool(c >= 0);
}

static val binary(rctx *r, const node *e) {
    const char *op = e->s;
    val a = eval(r, e->a);
    if (e->n == 3 && !memcmp(op, "and", 3)) return v_truthy(a) ? eval(r, e->b) : a;
    if (e->n == 2 && !memcmp(op, "or", 2)) return v_truthy(a) ? a : eval(r, e->b);
    val b = eval(r, e->b);
    if (rt_failed(r)) return v_undef();
    if (!strcmp(op, "in")) return v_bool(contains(a, b));
    if (!strcmp(op, "not in")) return v_bool(!contains(a, b));
    if (e->n == 1 && op[0] == '~') return concat_str(r, e->line, a, b);
    if (e->n == 1 && op[0] == '+') return plus(r, e, a, b);
    if (e->n == 1 && op[0] == '*' &&
        ((a.k == V_STR && b.k == V_INT) || (a.k == V_INT && b.k == V_STR))) {
        val s = a.k == V_STR ? a : b;
        int64_t k = a.k == V_INT ? a.u.i : b.u.i;
        sbuf sb = SB_INIT(&r->a);
        for (int64_t i = 0; i < k && !sb.failed; i++) sb_put(&sb, s.u.s.p, s.u.s.n);
        return sb.failed ? oom(r, e->line) : v_str(sb.p, sb.n);
    }
    if (e->n <= 2 && strchr("-*/%", op[0]) && !(op[0] == '*' && e->n == 2) &&
        !(op[0] == '/' && e->n == 2))
        return arith(r, e, op[0], a, b);
    if (!strcmp(op, "//")) return arith(r, e, 'q', a, b);
    if (!strcmp(op, "**")) return arith(r, e, 'p', a, b);
    return compare(r, e, a, b);
}

static val unary(rctx *r, const node *e) {
    val a = eval(r, e->a);
    if (e->s[0] == 'n') return v_bool(!v_truthy(a));
    if (a.k == V_INT) return v_int(e->s[0] == '-' ? (int64_t)(0 - (uint64_t)a.u.i) : a.u.i);
    if (a.k == V_FLOAT) return v_float(e->s[0] == '-' ? -a.u.f : a.u.f);
    if (rt_failed(r)) return v_undef();
    return rt_fail(r, e->line, PENNY_ERR_ARG, "unary '%c' on %s", e->s[0], v_type_name(a));
}

static val collection(rctx *r, const node *e) {
    if (e->k == E_DICT) {
        vdict *d = vd_new(&r->a);
        if (!d) return oom(r, e->line);
        for (int i = 0; i + 1 < e->n_kids && !rt_failed(r); i += 2) {
            val k = eval(r, e->kids[i]), v = eval(r, e->kids[i + 1]);
            if (k.k != V_STR)
                return rt_fail(r, e->line, PENNY_ERR_UNSUPPORTED, "dict keys must be strings");
            if (!vd_set(&r->a, d, k.u.s.p, k.u.s.n, v)) return oom(r, e->line);
        }
        return (val){.k = V_DICT, .u.d = d};
    }
    vlist *l = vl_new(&r->a);
    if (!l) return oom(r, e->line);
    for (int i = 0; i < e->n_kids && !rt_failed(r); i++)
        if (!vl_push(&r->a, l, eval(r, e->kids[i]))) return oom(r, e->line);
    return (val){.k = V_LIST, .tuple = e->k == E_TUPLE, .u.l = l};
}

static val eval(rctx *r, const node *e) {
    if (rt_failed(r)) return v_undef();
    switch (e->k) {
    case E_LIT: return e->lit;
    case E_NAME: return lookup(r, e->s, e->n);
    case E_ATTR: return get_attr(r, eval(r, e->a), e->s, e->n);
    case E_INDEX: {
        val obj = eval(r, e->a);
        return index_value(r, e->line, obj, eval(r, e->b));
    }
    case E_SLICE: return slice(r, e);
    case E_CALL: return call(r, e);
    case E_FILTER: {
        val x = eval(r, e->a);
        call_args a;
        if (!eval_args(r, e, &a)) return v_undef();
        return bi_filter(r, e->line, e->s, e->n, x, &a);
    }
    case E_TEST: {
        val x = eval(r, e->a);
        call_args a;
        if (!eval_args(r, e, &a)) return v_undef();
        val t = bi_test(r, e->line, e->s, e->n, x, &a);
        return e->neg ? v_bool(!v_truthy(t)) : t;
    }
    case E_UNARY: return unary(r, e);
    case E_BINARY: return binary(r, e);
    case E_COND:
        if (v_truthy(eval(r, e->b))) return eval(r, e->a);
        return e->c ? eval(r, e->c) : v_undef();
    case E_LIST:
    case E_TUPLE:
    case E_DICT: return collection(r, e);
    default: return rt_fail(r, e->line, PENNY_ERR_FORMAT, "not an expression");
    }
}

/* ---- statements ---- */

/* Renders body into a fresh buffer and returns it as a string. */
static val capture(rctx *r, const node *body) {
    sbuf sb = SB_INIT(&r->a), *saved = r->out;
    r->out = &sb;
    exec(r, body);
    r->out = saved;
    return sb.failed ? oom(r, body->line) : v_str(sb.p, sb.n);
}

val rt_call_macro(rctx *r, int line, val m, const val *args, int n_args, const char **kw_names,
                  const val *kw_vals, int n_kw) {
    const node *mac = m.u.m;
    if (r->depth >= MAX_CALL_DEPTH)
        return rt_fail(r, line, PENNY_ERR_RANGE, "macro calls nested deeper than %d",
                       MAX_CALL_DEPTH);
    if (n_args > mac->n_kids)
        return rt_fail(r, line, PENNY_ERR_ARG, "macro '%.*s' takes %d arguments, got %d",
                       (int)mac->n, mac->s, mac->n_kids, n_args);
    scope *saved = r->sc;
    if (!push_scope(r)) return oom(r, line);
    r->depth++;
    for (int i = 0; i < mac->n_kids && !rt_failed(r); i++) {
        const node *p = mac->kids[i];
        val v = i < n_args ? args[i] : v_undef();
        for (int k = 0; k < n_kw; k++)
            if (strlen(kw_names[k]) == p->n && !memcmp(kw_names[k], p->s, p->n)) v = kw_vals[k];
        if (v.k == V_UNDEF && p->a) v = eval(r, p->a);
        bind(r, line, p->s, p->n, v);
    }
    val out = rt_failed(r) ? v_undef() : capture(r, mac->b);
    r->depth--;
    r->sc = saved;
    return out;
}

static bool step(rctx *r, int line) {
    if (++r->steps <= MAX_STEPS) return true;
    rt_fail(r, line, PENNY_ERR_RANGE, "template runs too long (over %d steps)", MAX_STEPS);
    return false;
}

/* The loop object for iteration i of n. */
static val loop_obj(rctx *r, int line, int64_t i, int64_t n, const val *items) {
    vdict *d = vd_new(&r->a);
    if (!d) return oom(r, line);
    struct {
        const char *k;
        val v;
    } f[] = {{"index", v_int(i + 1)},
             {"index0", v_int(i)},
             {"revindex", v_int(n - i)},
             {"revindex0", v_int(n - i - 1)},
             {"first", v_bool(i == 0)},
             {"last", v_bool(i == n - 1)},
             {"length", v_int(n)},
             {"previtem", i > 0 ? items[i - 1] : v_undef()},
             {"nextitem", i + 1 < n ? items[i + 1] : v_undef()}};
    for (size_t k = 0; k < sizeof f / sizeof *f; k++)
        if (!vd_set(&r->a, d, f[k].k, strlen(f[k].k), f[k].v)) return oom(r, line);
    return (val){.k = V_DICT, .u.d = d};
}

static void bind_targets(rctx *r, const node *s, val item) {
    if (s->n_kids == 1) {
        bind(r, s->line, s->kids[0]->s, s->kids[0]->n, item);
        return;
    }
    if (item.k != V_LIST || item.u.l->n != s->n_kids) {
        rt_fail(r, s->line, PENNY_ERR_ARG, "cannot unpack %s into %d loop variables",
                v_type_name(item), s->n_kids);
        return;
    }
    for (int k = 0; k < s->n_kids; k++)
        bind(r, s->line, s->kids[k]->s, s->kids[k]->n, item.u.l->v[k]);
}

/* The items a for loop visits: list items, dict keys, string characters. */
static vlist *iter_items(rctx *r, const node *s, val it) {
    vlist *l = vl_new(&r->a);
    if (!l) return oom(r, s->line), NULL;
    if (it.k == V_LIST) return it.u.l;
    if (it.k == V_DICT) {
        for (int i = 0; i < it.u.d->n; i++)
            if (!vl_push(&r->a, l, v_str(it.u.d->key[i], it.u.d->klen[i])))
                return oom(r, s->line), NULL;
    } else if (it.k == V_STR) {
        for (size_t i = 0; i < it.u.s.n;) {
            size_t k = 1;
            while (i + k < it.u.s.n && ((unsigned char)it.u.s.p[i + k] & 0xC0) == 0x80) k++;
            if (!vl_push(&r->a, l, v_str(it.u.s.p + i, k))) return oom(r, s->line), NULL;
            i += k;
        }
    } else if (it.k != V_UNDEF && it.k != V_NONE) {
        rt_fail(r, s->line, PENNY_ERR_ARG, "cannot loop over %s", v_type_name(it));
        return NULL;
    }
    return l;
}

/* Items passing the loop's "if" filter (evaluated with the item bound). */
static vlist *filtered(rctx *r, const node *s, vlist *all) {
    if (!s->d) return all;
    vlist *l = vl_new(&r->a);
    if (!l) return oom(r, s->line), NULL;
    for (int i = 0; i < all->n && !rt_failed(r); i++) {
        scope *saved = r->sc;
        if (!push_scope(r)) return oom(r, s->line), NULL;
        bind_targets(r, s, all->v[i]);
        bool keep = v_truthy(eval(r, s->d));
        r->sc = saved;
        if (keep && !vl_push(&r->a, l, all->v[i])) return oom(r, s->line), NULL;
    }
    return l;
}

/* Updates the loop object in place for iteration i (one allocation per
 * loop, not per iteration). */
static void loop_update(rctx *r, vdict *d, int64_t i, int64_t n, const val *items) {
    val f[] = {v_int(i + 1),
               v_int(i),
               v_int(n - i),
               v_int(n - i - 1),
               v_bool(i == 0),
               v_bool(i == n - 1),
               v_int(n),
               i > 0 ? items[i - 1] : v_undef(),
               i + 1 < n ? items[i + 1] : v_undef()};
    (void)r;
    for (int k = 0; k < d->n && k < 9; k++) d->v[k] = f[k];
}

static void exec_for(rctx *r, const node *s) {
    vlist *items = iter_items(r, s, eval(r, s->a));
    if (items) items = filtered(r, s, items);
    if (!items || rt_failed(r)) return;
    scope *saved = r->sc;
    int n = items->n;
    const val *v = items->v; /* the list may grow while looping: visit what it had */
    val loop = n ? loop_obj(r, s->line, 0, n, v) : v_undef();
    if (n && (!push_scope(r) || loop.k != V_DICT)) {
        oom(r, s->line);
        r->sc = saved;
        return;
    }
    for (int i = 0; i < n && !rt_failed(r) && step(r, s->line); i++) {
        r->sc->vars->n = 0; /* a fresh scope each iteration, reusing its memory */
        loop_update(r, loop.u.d, i, n, v);
        bind(r, s->line, "loop", 4, loop);
        bind_targets(r, s, v[i]);
        exec(r, s->b);
        int ctl = r->loop_ctl;
        r->loop_ctl = 0;
        if (ctl == 1) break;
    }
    r->sc = saved;
    if (n == 0 && s->c) exec(r, s->c);
}

static void assign(rctx *r, const node *target, val v) {
    if (target->k == E_NAME) {
        bind(r, target->line, target->s, target->n, v);
        return;
    }
    val obj = eval(r, target->a);
    if (obj.k != V_DICT || !obj.u.d->ns) {
        rt_fail(r, target->line, PENNY_ERR_ARG, "can only set attributes of a namespace()");
        return;
    }
    if (!vd_set(&r->a, obj.u.d, target->s, target->n, v)) oom(r, target->line);
}

static void exec(rctx *r, const node *s) {
    if (rt_failed(r) || !step(r, s->line)) return;
    switch (s->k) {
    case N_BODY:
        for (int i = 0; i < s->n_kids && !rt_failed(r) && !r->loop_ctl; i++) exec(r, s->kids[i]);
        return;
    case N_TEXT: sb_put(r->out, s->s, s->n); return;
    case N_OUTPUT: {
        val v = eval(r, s->a);
        if (v.k != V_NONE) v_print(r->out, v);
        return;
    }
    case N_IF:
        if (v_truthy(eval(r, s->a)))
            exec(r, s->b);
        else if (s->c)
            exec(r, s->c);
        return;
    case N_FOR: exec_for(r, s); return;
    case N_SET: assign(r, s->a, eval(r, s->b)); return;
    case N_SET_BLOCK: assign(r, s->a, capture(r, s->b)); return;
    case N_MACRO: bind(r, s->line, s->s, s->n, (val){.k = V_MACRO, .u.m = s}); return;
    case N_BREAK: r->loop_ctl = 1; return;
    case N_CONTINUE: r->loop_ctl = 2; return;
    case N_CALL_BLOCK: {
        node *caller = ar_alloc(&r->a, sizeof *caller);
        if (!caller) return (void)oom(r, s->line);
        *caller = (node){.k = N_MACRO, .line = s->line, .s = "caller", .n = 6, .b = s->b};
        scope *saved = r->sc;
        if (!push_scope(r)) return (void)oom(r, s->line);
        bind(r, s->line, "caller", 6, (val){.k = V_MACRO, .u.m = caller});
        val out = eval(r, s->a);
        r->sc = saved;
        v_print(r->out, out);
        return;
    }
    case N_FILTER_BLOCK: {
        val text = capture(r, s->b);
        const node *chain[32];
        int n = 0;
        for (const node *f = s->a; f && n < 32; f = f->a) chain[n++] = f;
        for (int i = n - 1; i >= 0 && !rt_failed(r); i--) {
            call_args a;
            if (!eval_args(r, chain[i], &a)) return;
            text = bi_filter(r, chain[i]->line, chain[i]->s, chain[i]->n, text, &a);
        }
        v_print(r->out, text);
        return;
    }
    default: rt_fail(r, s->line, PENNY_ERR_FORMAT, "not a statement"); return;
    }
}

/* ---- entry points ---- */

penny_status tmpl_parse(const char *src, size_t len, tmpl **out, penny_error *err) {
    *out = NULL;
    tmpl *t = calloc(1, sizeof *t);
    if (!t) return err_set(err, PENNY_ERR_NOMEM, "template: out of memory");
    t->ar.cap = ARENA_CAP;
    token *toks;
    int n;
    penny_status rc = tmpl_lex(&t->ar, src, len, &toks, &n, err);
    if (!rc) rc = tmpl_parse_tokens(&t->ar, toks, n, &t->root, err);
    if (rc) {
        tmpl_free(t);
        return rc;
    }
    *out = t;
    return PENNY_OK;
}

void tmpl_free(tmpl *t) {
    if (!t) return;
    ar_free(&t->ar);
    free(t);
}

static bool bind_json(rctx *r, const cJSON *vars) {
    const cJSON *e;
    cJSON_ArrayForEach(e, vars) {
        if (!e->string) continue;
        val v = v_from_json(&r->a, e);
        if (r->a.failed || !vd_set(&r->a, r->sc->vars, e->string, strlen(e->string), v))
            return false;
    }
    return true;
}

penny_status tmpl_render(const tmpl *t, const cJSON *vars, char **out, size_t *out_len,
                         penny_error *err) {
    *out = NULL;
    rctx r = {.err = err};
    r.a.cap = ARENA_CAP;
    sbuf sb = SB_INIT(&r.a);
    r.out = &sb;
    if (!push_scope(&r) || !bind_json(&r, vars))
        oom(&r, 0);
    else
        exec(&r, t->root);
    if (!r.rc && (sb.failed || r.a.failed)) oom(&r, 0);
    if (!r.rc && !(*out = malloc(sb.n + 1)))
        r.rc = err_set(err, PENNY_ERR_NOMEM, "template: out of memory");
    if (!r.rc) {
        memcpy(*out, sb.n ? sb.p : "", sb.n);
        (*out)[sb.n] = '\0';
        if (out_len) *out_len = sb.n;
    }
    ar_free(&r.a);
    return r.rc;
}

penny_status tmpl_apply(const char *src, const cJSON *vars, char **out, size_t *out_len,
                        penny_error *err) {
    tmpl *t;
    penny_status rc = tmpl_parse(src, strlen(src), &t, err);
    if (rc) return rc;
    rc = tmpl_render(t, vars, out, out_len, err);
    tmpl_free(t);
    return rc;
}
