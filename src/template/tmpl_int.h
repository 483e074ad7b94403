/*
 * tmpl_int.h - the template engine's private types: arena, values, tokens,
 * syntax tree, and the functions its files share.
 *
 * lex.c turns the source into tokens (after Hugging Face's preprocessing:
 * trailing newline, lstrip_blocks, trim_blocks); parse.c builds the tree;
 * eval.c walks it; builtins.c has filters, tests, methods and globals;
 * value.c has values, printing and JSON. All memory of one parse or one
 * render comes from an arena freed at once, with a size cap, so a template
 * cannot make the process allocate without bound.
 */
#ifndef PENNY_TEMPLATE_TMPL_INT_H
#define PENNY_TEMPLATE_TMPL_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "template/tmpl.h"

/* ---- arena ---- */

typedef struct ar_chunk ar_chunk;
typedef struct arena {
    ar_chunk *head;
    size_t used, cap; /* bytes handed out; the limit */
    bool failed;
} arena;

/* NULL when out of memory or past the cap (a->failed is then set). */
void *ar_alloc(arena *a, size_t n);
void ar_free(arena *a);
char *ar_strdup(arena *a, const char *s, size_t n);

/* ---- values ---- */

typedef enum vkind {
    V_UNDEF,
    V_NONE,
    V_BOOL,
    V_INT,
    V_FLOAT,
    V_STR,
    V_LIST,
    V_DICT,
    V_FUNC,  /* a global function (u.i: which) */
    V_MACRO, /* u.m: the macro's node */
} vkind;

struct vlist;
struct vdict;
struct node;

typedef struct val {
    vkind k;
    bool tuple; /* a list written as a tuple (prints the same) */
    union {
        bool b;
        int64_t i;
        double f;
        struct {
            const char *p;
            size_t n;
        } s;
        struct vlist *l;
        struct vdict *d;
        const struct node *m;
    } u;
} val;

typedef struct vlist {
    val *v;
    int n, cap;
} vlist;

typedef struct vdict {
    const char **key; /* insertion order */
    size_t *klen;
    val *v;
    int n, cap;
    bool ns; /* a namespace() (attributes assignable) */
} vdict;

static inline val v_undef(void) { return (val){.k = V_UNDEF}; }
static inline val v_none(void) { return (val){.k = V_NONE}; }
static inline val v_bool(bool b) { return (val){.k = V_BOOL, .u.b = b}; }
static inline val v_int(int64_t i) { return (val){.k = V_INT, .u.i = i}; }
static inline val v_float(double f) { return (val){.k = V_FLOAT, .u.f = f}; }
static inline val v_str(const char *p, size_t n) { return (val){.k = V_STR, .u.s = {p, n}}; }

vlist *vl_new(arena *a);
bool vl_push(arena *a, vlist *l, val v);
vdict *vd_new(arena *a);
/* Sets key (copied) to v; false when out of memory. */
bool vd_set(arena *a, vdict *d, const char *k, size_t kn, val v);
/* The value at key, or NULL. */
val *vd_get(const vdict *d, const char *k, size_t kn);

bool v_truthy(val v);
bool v_equal(val a, val b);
const char *v_type_name(val v);

/* A growable output buffer inside an arena. */
typedef struct sbuf {
    arena *a;
    char *p;
    size_t n, cap;
    bool failed;
} sbuf;
/* An empty buffer: p points at a shared "" until the first write. */
#define SB_INIT(ar) ((sbuf){(ar), (char *)"", 0, 0, false})
void sb_put(sbuf *b, const char *s, size_t n);
void sb_puts(sbuf *b, const char *s);

/* How {{ v }} prints v (Hugging Face's rules: lists/dicts as JSON, floats
 * with a ".0" when whole). */
void v_print(sbuf *b, val v);
/* JSON as the tojson filter writes it; indent < 0: one line. */
void v_json(sbuf *b, val v, int indent, int depth);
/* Converts parsed JSON into values. */
val v_from_json(arena *a, const cJSON *j);

/* ---- tokens ---- */

typedef enum tkind {
    T_EOF,
    T_TEXT,   /* raw text between tags */
    T_OPEN_S, /* {% */
    T_CLOSE_S,
    T_OPEN_E, /* {{ */
    T_CLOSE_E,
    T_NAME,
    T_STR,
    T_INT,
    T_FLOAT,
    T_OP, /* punctuation and operators, text in s */
} tkind;

typedef struct token {
    tkind k;
    int line;
    const char *s; /* text (T_STR: unescaped, in the parse arena) */
    size_t n;
} token;

/* Tokenizes src (NUL-terminated copy). Errors name the line. */
penny_status tmpl_lex(arena *a, const char *src, size_t len, token **out, int *n_out,
                      penny_error *err);

/* ---- syntax tree ---- */

typedef enum nkind {
    /* statements */
    N_BODY, /* kids: statements */
    N_TEXT,
    N_OUTPUT,    /* a: expression */
    N_IF,        /* a: cond, b: then body, c: else body or NULL */
    N_FOR,       /* kids[0..n_targets): target names; a: iterable; b: body; c: else; d: filter */
    N_SET,       /* a: target (name or attribute), b: value */
    N_SET_BLOCK, /* a: target, b: body */
    N_MACRO,     /* s: name; kids: params (E_NAME, a = default); b: body */
    N_BREAK,
    N_CONTINUE,
    N_CALL_BLOCK,   /* a: call expression, b: body (caller()) */
    N_FILTER_BLOCK, /* a: filter expression (E_FILTER with a NULL operand), b: body */
    /* expressions */
    E_LIT,    /* lit */
    E_NAME,   /* s */
    E_ATTR,   /* a: object; s: name */
    E_INDEX,  /* a: object; b: index */
    E_SLICE,  /* a: object; b, c, d: start, stop, step (may be NULL) */
    E_CALL,   /* a: callee; kids: args (E_KWARG for name=value) */
    E_KWARG,  /* s: name; a: value */
    E_FILTER, /* a: operand; s: filter name; kids: args */
    E_TEST,   /* a: operand; s: test name; kids: args; neg */
    E_UNARY,  /* s: op ("-", "+", "not"); a */
    E_BINARY, /* s: op; a, b */
    E_COND,   /* a: value if b, else c (c may be NULL) */
    E_LIST,   /* kids */
    E_TUPLE,  /* kids */
    E_DICT,   /* kids: key, value, key, value, ... */
} nkind;

typedef struct node {
    nkind k;
    int line;
    bool neg; /* E_TEST: "is not" */
    const char *s;
    size_t n;
    val lit;
    struct node *a, *b, *c, *d;
    struct node **kids;
    int n_kids;
} node;

struct tmpl {
    arena ar;
    node *root;
};

penny_status tmpl_parse_tokens(arena *a, const token *t, int n, node **root, penny_error *err);

/* ---- evaluation (eval.c) and builtins (builtins.c) ---- */

typedef struct rctx rctx; /* a render in progress */

/* Raises a render error naming the line; returns v_undef() for convenience
 * (callers check rctx_failed). */
val rt_fail(rctx *r, int line, penny_status code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
bool rt_failed(const rctx *r);
arena *rt_arena(rctx *r);
/* Calls a macro value with positional/keyword arguments. */
val rt_call_macro(rctx *r, int line, val m, const val *args, int n_args, const char **kw_names,
                  const val *kw_vals, int n_kw);

/* Named arguments after the positional ones. */
typedef struct call_args {
    const val *pos;
    int n_pos;
    const char **kw;
    const val *kw_v;
    int n_kw;
} call_args;

val bi_filter(rctx *r, int line, const char *name, size_t n, val x, const call_args *a);
val bi_test(rctx *r, int line, const char *name, size_t n, val x, const call_args *a);
val bi_method(rctx *r, int line, val obj, const char *name, size_t n, const call_args *a);
/* A global function's id (V_FUNC), or -1. */
int bi_global(const char *name, size_t n);
val bi_call_global(rctx *r, int line, int id, const call_args *a);
/* An attribute that is not a dict key (e.g. loop.length is a key; this is
 * for list/str properties), or v_undef(). */
val bi_attr(rctx *r, val obj, const char *name, size_t n);

#endif
