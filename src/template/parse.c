/*
 * parse.c - tokens to a syntax tree, by recursive descent.
 *
 * Statements nest through parse_body, which stops at the end tags its
 * caller names ("endif", "elif", "else", ...). Expressions follow Jinja's
 * precedence, loosest first: conditional (a if b else c), or, and, not,
 * comparisons and in, ~, + -, * / // %, **, unary - +, then postfix
 * attribute, index/slice, call, |filter and "is" test. Every node keeps its
 * line so runtime errors can name it; a construct outside the subset is a
 * parse error that names the line and the construct.
 */
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "template/tmpl_int.h"

#define MAX_DEPTH 200 /* nesting of expressions and blocks */

typedef struct parser {
    arena *a;
    const token *t;
    int n, pos, depth;
    penny_error *err;
    penny_status rc;
} parser;

static const token *peek(const parser *p) { return &p->t[p->pos < p->n ? p->pos : p->n - 1]; }
static const token *next(parser *p) {
    const token *t = peek(p);
    if (p->pos < p->n - 1) p->pos++;
    return t;
}
static bool tok_is(const token *t, tkind k, const char *s) {
    return t->k == k && (!s || (t->n == strlen(s) && memcmp(t->s, s, t->n) == 0));
}
static bool is_op(const parser *p, const char *s) { return tok_is(peek(p), T_OP, s); }
static bool is_name(const parser *p, const char *s) { return tok_is(peek(p), T_NAME, s); }

/* Records the first error; returns NULL so callers can bail out. */
static node *perr(parser *p, penny_status code, const char *what) {
    if (!p->rc) {
        const token *t = peek(p);
        p->rc = err_set(p->err, code, "template line %d: %s (at '%.*s')", t->line, what,
                        (int)(t->n > 40 ? 40 : t->n), t->k == T_EOF ? "end of template" : t->s);
    }
    return NULL;
}

static node *mk(parser *p, nkind k, int line) {
    node *n = ar_alloc(p->a, sizeof *n);
    if (!n) return perr(p, PENNY_ERR_NOMEM, "out of memory");
    *n = (node){.k = k, .line = line};
    return n;
}

static bool add_kid(parser *p, node *n, node *kid) {
    if (!kid) return false;
    if ((n->n_kids & (n->n_kids - 1)) == 0) { /* grow at powers of two */
        int cap = n->n_kids ? 2 * n->n_kids : 1;
        node **k = ar_alloc(p->a, (size_t)cap * sizeof *k);
        if (!k) return perr(p, PENNY_ERR_NOMEM, "out of memory"), false;
        if (n->n_kids) memcpy(k, n->kids, (size_t)n->n_kids * sizeof *k);
        n->kids = k;
    }
    n->kids[n->n_kids++] = kid;
    return true;
}

static bool expect_op(parser *p, const char *s) {
    if (is_op(p, s)) {
        next(p);
        return true;
    }
    char msg[48];
    strcpy(msg, "expected '");
    strcat(msg, s);
    strcat(msg, "'");
    perr(p, PENNY_ERR_FORMAT, msg);
    return false;
}

static node *expr(parser *p);

/* ---- primary and postfix ---- */

static node *literal(parser *p, const token *t, val v) {
    node *n = mk(p, E_LIT, t->line);
    if (n) n->lit = v;
    return n;
}

/* Comma-separated expressions up to the closer; dicts take key: value. */
static node *sequence(parser *p, nkind k, int line, const char *close) {
    node *n = mk(p, k, line);
    while (n && !is_op(p, close)) {
        if (!add_kid(p, n, expr(p))) return NULL;
        if (k == E_DICT && !(expect_op(p, ":") && add_kid(p, n, expr(p)))) return NULL;
        if (!is_op(p, ",")) break;
        next(p);
    }
    return n && expect_op(p, close) ? n : NULL;
}

static node *paren(parser *p, int line) {
    if (is_op(p, ")")) return next(p), mk(p, E_TUPLE, line);
    node *e = expr(p);
    if (!e) return NULL;
    if (!is_op(p, ",")) return expect_op(p, ")") ? e : NULL;
    node *t = mk(p, E_TUPLE, line);
    if (!t || !add_kid(p, t, e)) return NULL;
    while (is_op(p, ",")) {
        next(p);
        if (is_op(p, ")")) break;
        if (!add_kid(p, t, expr(p))) return NULL;
    }
    return expect_op(p, ")") ? t : NULL;
}

static node *primary(parser *p) {
    const token *t = next(p);
    switch (t->k) {
    case T_STR: {
        size_t n = t->n;
        const char *s = t->s;
        while (peek(p)->k == T_STR) { /* adjacent literals concatenate */
            const token *u = next(p);
            char *c = ar_alloc(p->a, n + u->n + 1);
            if (!c) return perr(p, PENNY_ERR_NOMEM, "out of memory");
            memcpy(c, s, n);
            memcpy(c + n, u->s, u->n);
            s = c;
            n += u->n;
        }
        return literal(p, t, v_str(s, n));
    }
    case T_INT: return literal(p, t, v_int(strtoll(ar_strdup(p->a, t->s, t->n), NULL, 10)));
    case T_FLOAT: return literal(p, t, v_float(strtod(ar_strdup(p->a, t->s, t->n), NULL)));
    case T_NAME:
        if (tok_is(t, T_NAME, "true") || tok_is(t, T_NAME, "True")) return literal(p, t, v_bool(1));
        if (tok_is(t, T_NAME, "false") || tok_is(t, T_NAME, "False"))
            return literal(p, t, v_bool(0));
        if (tok_is(t, T_NAME, "none") || tok_is(t, T_NAME, "None")) return literal(p, t, v_none());
        {
            node *n = mk(p, E_NAME, t->line);
            if (n) n->s = t->s, n->n = t->n;
            return n;
        }
    case T_OP:
        if (tok_is(t, T_OP, "(")) return paren(p, t->line);
        if (tok_is(t, T_OP, "[")) return sequence(p, E_LIST, t->line, "]");
        if (tok_is(t, T_OP, "{")) return sequence(p, E_DICT, t->line, "}");
        break;
    default: break;
    }
    p->pos--;
    return perr(p, PENNY_ERR_FORMAT, "expected an expression");
}

/* Call arguments after "(": expressions and name=value pairs. */
static bool parse_args(parser *p, node *n) {
    while (!is_op(p, ")")) {
        if (peek(p)->k == T_NAME &&
            tok_is(&p->t[p->pos + 1 < p->n ? p->pos + 1 : p->pos], T_OP, "=")) {
            const token *name = next(p);
            next(p);
            node *kw = mk(p, E_KWARG, name->line);
            if (!kw) return false;
            kw->s = name->s;
            kw->n = name->n;
            if (!(kw->a = expr(p)) || !add_kid(p, n, kw)) return false;
        } else if (!add_kid(p, n, expr(p))) {
            return false;
        }
        if (!is_op(p, ",")) break;
        next(p);
    }
    return expect_op(p, ")");
}

static node *subscript(parser *p, node *obj, int line) {
    node *parts[3] = {NULL, NULL, NULL};
    int k = 0;
    bool slice = false;
    for (;;) {
        if (!is_op(p, ":") && !is_op(p, "]") && !(parts[k] = expr(p))) return NULL;
        if (!is_op(p, ":") || k == 2) break;
        next(p);
        slice = true;
        k++;
    }
    if (!expect_op(p, "]")) return NULL;
    node *n = mk(p, slice ? E_SLICE : E_INDEX, line);
    if (!n) return NULL;
    n->a = obj;
    n->b = parts[0];
    n->c = parts[1];
    n->d = parts[2];
    if (!slice && !n->b) return perr(p, PENNY_ERR_FORMAT, "empty subscript");
    return n;
}

/* name [ "(" args ")" ] after "|" or "is". */
static node *filter_or_test(parser *p, nkind k, node *operand) {
    const token *name = next(p);
    if (name->k != T_NAME) return perr(p, PENNY_ERR_FORMAT, "expected a filter or test name");
    node *n = mk(p, k, name->line);
    if (!n) return NULL;
    n->a = operand;
    n->s = name->s;
    n->n = name->n;
    if (is_op(p, "(")) {
        next(p);
        if (!parse_args(p, n)) return NULL;
    }
    return n;
}

static node *postfix(parser *p, node *n) {
    while (n) {
        const token *t = peek(p);
        if (tok_is(t, T_OP, ".")) {
            next(p);
            const token *name = next(p);
            if (name->k != T_NAME && name->k != T_INT)
                return perr(p, PENNY_ERR_FORMAT, "expected an attribute name");
            node *m = mk(p, E_ATTR, t->line);
            if (m) m->a = n, m->s = name->s, m->n = name->n;
            n = m;
        } else if (tok_is(t, T_OP, "[")) {
            next(p);
            n = subscript(p, n, t->line);
        } else if (tok_is(t, T_OP, "(")) {
            next(p);
            node *c = mk(p, E_CALL, t->line);
            if (c) c->a = n;
            n = c && parse_args(p, c) ? c : NULL;
        } else if (tok_is(t, T_OP, "|")) {
            next(p);
            n = filter_or_test(p, E_FILTER, n);
        } else if (tok_is(t, T_NAME, "is")) {
            next(p);
            bool neg = is_name(p, "not");
            if (neg) next(p);
            n = filter_or_test(p, E_TEST, n);
            if (n) n->neg = neg;
        } else {
            break;
        }
    }
    return n;
}

/* ---- operators ---- */

static node *binary(parser *p, const token *op, node *a, node *b) {
    if (!a || !b) return NULL;
    node *n = mk(p, E_BINARY, op->line);
    if (n) n->s = ar_strdup(p->a, op->s, op->n), n->n = op->n, n->a = a, n->b = b;
    return n && n->s ? n : perr(p, PENNY_ERR_NOMEM, "out of memory");
}

static node *unary(parser *p) {
    if (++p->depth > MAX_DEPTH)
        return perr(p, PENNY_ERR_UNSUPPORTED, "expression nested too deeply");
    node *r;
    if (is_op(p, "-") || is_op(p, "+")) {
        const token *op = next(p);
        node *n = mk(p, E_UNARY, op->line);
        if (n) n->s = op->s, n->n = 1, n->a = unary(p);
        r = n && n->a ? n : NULL;
    } else {
        r = postfix(p, primary(p));
    }
    p->depth--;
    return r;
}

static node *power(parser *p) {
    node *a = unary(p);
    while (a && is_op(p, "**")) {
        const token *op = next(p);
        a = binary(p, op, a, unary(p));
    }
    return a;
}

static node *product(parser *p) {
    node *a = power(p);
    while (a && (is_op(p, "*") || is_op(p, "/") || is_op(p, "//") || is_op(p, "%"))) {
        const token *op = next(p);
        a = binary(p, op, a, power(p));
    }
    return a;
}

static node *sum(parser *p) {
    node *a = product(p);
    while (a && (is_op(p, "+") || is_op(p, "-"))) {
        const token *op = next(p);
        a = binary(p, op, a, product(p));
    }
    return a;
}

static node *concat(parser *p) {
    node *a = sum(p);
    while (a && is_op(p, "~")) {
        const token *op = next(p);
        a = binary(p, op, a, sum(p));
    }
    return a;
}

static const char *compare_op(parser *p) {
    static const char *const ops[] = {"==", "!=", "<", "<=", ">", ">="};
    for (int i = 0; i < 6; i++)
        if (is_op(p, ops[i])) return ops[i];
    if (is_name(p, "in")) return "in";
    if (is_name(p, "not") && tok_is(&p->t[p->pos + 1 < p->n ? p->pos + 1 : p->pos], T_NAME, "in"))
        return "not in";
    return NULL;
}

static node *compare(parser *p) {
    node *a = concat(p);
    const char *op;
    while (a && (op = compare_op(p))) {
        const token *t = next(p);
        if (!strcmp(op, "not in")) next(p);
        node *n = binary(p, t, a, concat(p));
        if (n) n->s = op, n->n = strlen(op);
        a = n;
    }
    return a;
}

static node *not_expr(parser *p) {
    if (!is_name(p, "not")) return compare(p);
    if (++p->depth > MAX_DEPTH)
        return perr(p, PENNY_ERR_UNSUPPORTED, "expression nested too deeply");
    const token *t = next(p);
    node *n = mk(p, E_UNARY, t->line);
    if (n) n->s = "not", n->n = 3, n->a = not_expr(p);
    p->depth--;
    return n && n->a ? n : NULL;
}

static node *and_expr(parser *p) {
    node *a = not_expr(p);
    while (a && is_name(p, "and")) {
        const token *op = next(p);
        a = binary(p, op, a, not_expr(p));
    }
    return a;
}

static node *or_expr(parser *p) {
    node *a = and_expr(p);
    while (a && is_name(p, "or")) {
        const token *op = next(p);
        a = binary(p, op, a, and_expr(p));
    }
    return a;
}

static node *expr(parser *p) {
    if (++p->depth > MAX_DEPTH)
        return perr(p, PENNY_ERR_UNSUPPORTED, "expression nested too deeply");
    node *a = or_expr(p);
    if (a && is_name(p, "if")) {
        const token *t = next(p);
        node *n = mk(p, E_COND, t->line);
        if (n) {
            n->a = a;
            n->b = or_expr(p);
            if (n->b && is_name(p, "else")) {
                next(p);
                n->c = expr(p);
                if (!n->c) n = NULL;
            }
        }
        a = n && n->b ? n : NULL;
    }
    p->depth--;
    return a;
}

/* ---- statements ---- */

static node *body(parser *p, const char *const *stops, const token **stop);

static bool end_tag(parser *p) {
    if (peek(p)->k == T_CLOSE_S) {
        next(p);
        return true;
    }
    perr(p, PENNY_ERR_FORMAT, "expected %}");
    return false;
}

static node *stmt_if(parser *p, int line) {
    static const char *const stops[] = {"elif", "else", "endif", NULL};
    node *n = mk(p, N_IF, line);
    const token *stop = NULL;
    if (!n || !(n->a = expr(p)) || !end_tag(p) || !(n->b = body(p, stops, &stop))) return NULL;
    if (tok_is(stop, T_NAME, "elif")) {
        node *e = mk(p, N_BODY, stop->line);
        if (!e || !add_kid(p, e, stmt_if(p, stop->line))) return NULL;
        n->c = e;
        return n;
    }
    if (tok_is(stop, T_NAME, "else")) {
        static const char *const end[] = {"endif", NULL};
        if (!end_tag(p) || !(n->c = body(p, end, &stop))) return NULL;
    }
    return end_tag(p) ? n : NULL;
}

static node *name_node(parser *p) {
    const token *t = next(p);
    if (t->k != T_NAME) return perr(p, PENNY_ERR_FORMAT, "expected a variable name");
    node *n = mk(p, E_NAME, t->line);
    if (n) n->s = t->s, n->n = t->n;
    return n;
}

static node *stmt_for(parser *p, int line) {
    static const char *const stops[] = {"else", "endfor", NULL};
    node *n = mk(p, N_FOR, line);
    if (!n) return NULL;
    bool paren = is_op(p, "(");
    if (paren) next(p);
    do {
        if (n->n_kids && !is_op(p, ",")) break;
        if (n->n_kids) next(p);
        if (!add_kid(p, n, name_node(p))) return NULL;
    } while (is_op(p, ","));
    if (paren && !expect_op(p, ")")) return NULL;
    if (!is_name(p, "in")) return perr(p, PENNY_ERR_FORMAT, "expected 'in'");
    next(p);
    if (!(n->a = or_expr(p))) return NULL;
    if (is_name(p, "if")) {
        next(p);
        if (!(n->d = or_expr(p))) return NULL;
    }
    if (is_name(p, "recursive"))
        return perr(p, PENNY_ERR_UNSUPPORTED, "recursive loops are not supported");
    const token *stop = NULL;
    if (!end_tag(p) || !(n->b = body(p, stops, &stop))) return NULL;
    if (tok_is(stop, T_NAME, "else")) {
        static const char *const end[] = {"endfor", NULL};
        if (!end_tag(p) || !(n->c = body(p, end, &stop))) return NULL;
    }
    return end_tag(p) ? n : NULL;
}

static node *stmt_set(parser *p, int line) {
    node *target = name_node(p);
    while (target && is_op(p, ".")) {
        next(p);
        const token *attr = next(p);
        if (attr->k != T_NAME) return perr(p, PENNY_ERR_FORMAT, "expected an attribute name");
        node *a = mk(p, E_ATTR, attr->line);
        if (a) a->a = target, a->s = attr->s, a->n = attr->n;
        target = a;
    }
    if (!target) return NULL;
    if (is_op(p, ",")) return perr(p, PENNY_ERR_UNSUPPORTED, "tuple assignment is not supported");
    if (peek(p)->k == T_CLOSE_S) { /* {% set x %}...{% endset %} */
        static const char *const end[] = {"endset", NULL};
        const token *stop;
        node *n = mk(p, N_SET_BLOCK, line);
        if (!n || !end_tag(p) || !(n->b = body(p, end, &stop)) || !end_tag(p)) return NULL;
        n->a = target;
        return n;
    }
    node *n = mk(p, N_SET, line);
    if (!n || !expect_op(p, "=")) return NULL;
    n->a = target;
    return (n->b = expr(p)) && end_tag(p) ? n : NULL;
}

static node *stmt_macro(parser *p, int line) {
    static const char *const end[] = {"endmacro", NULL};
    const token *name = next(p), *stop;
    if (name->k != T_NAME) return perr(p, PENNY_ERR_FORMAT, "expected a macro name");
    node *n = mk(p, N_MACRO, line);
    if (!n || !expect_op(p, "(")) return NULL;
    n->s = name->s;
    n->n = name->n;
    while (!is_op(p, ")")) {
        node *param = name_node(p);
        if (!param) return NULL;
        if (is_op(p, "=")) {
            next(p);
            if (!(param->a = expr(p))) return NULL;
        }
        if (!add_kid(p, n, param)) return NULL;
        if (!is_op(p, ",")) break;
        next(p);
    }
    if (!expect_op(p, ")") || !end_tag(p) || !(n->b = body(p, end, &stop))) return NULL;
    return end_tag(p) ? n : NULL;
}

static node *stmt_call(parser *p, int line) {
    static const char *const end[] = {"endcall", NULL};
    const token *stop;
    node *n = mk(p, N_CALL_BLOCK, line);
    if (!n || !(n->a = expr(p)) || n->a->k != E_CALL)
        return n ? perr(p, PENNY_ERR_FORMAT, "{% call %} needs a macro call") : NULL;
    if (!end_tag(p) || !(n->b = body(p, end, &stop))) return NULL;
    return end_tag(p) ? n : NULL;
}

static node *stmt_filter(parser *p, int line) {
    static const char *const end[] = {"endfilter", NULL};
    const token *stop;
    node *n = mk(p, N_FILTER_BLOCK, line);
    if (!n || !(n->a = filter_or_test(p, E_FILTER, NULL))) return NULL;
    while (is_op(p, "|")) {
        next(p);
        if (!(n->a = filter_or_test(p, E_FILTER, n->a))) return NULL;
    }
    if (!end_tag(p) || !(n->b = body(p, end, &stop))) return NULL;
    return end_tag(p) ? n : NULL;
}

/* One {% ... %} statement (the "{%" already read), or NULL. */
static node *statement(parser *p) {
    const token *kw = next(p);
    int line = kw->line;
    if (kw->k != T_NAME) return p->pos--, perr(p, PENNY_ERR_FORMAT, "expected a statement name");
    if (tok_is(kw, T_NAME, "if")) return stmt_if(p, line);
    if (tok_is(kw, T_NAME, "for")) return stmt_for(p, line);
    if (tok_is(kw, T_NAME, "set")) return stmt_set(p, line);
    if (tok_is(kw, T_NAME, "macro")) return stmt_macro(p, line);
    if (tok_is(kw, T_NAME, "call")) return stmt_call(p, line);
    if (tok_is(kw, T_NAME, "filter")) return stmt_filter(p, line);
    if (tok_is(kw, T_NAME, "break") || tok_is(kw, T_NAME, "continue")) {
        node *n = mk(p, tok_is(kw, T_NAME, "break") ? N_BREAK : N_CONTINUE, line);
        return n && end_tag(p) ? n : NULL;
    }
    if (tok_is(kw, T_NAME, "generation") || tok_is(kw, T_NAME, "endgeneration")) {
        node *n = mk(p, N_BODY, line); /* markers for training masks: no output */
        return n && end_tag(p) ? n : NULL;
    }
    p->pos--;
    return perr(p, PENNY_ERR_UNSUPPORTED, "unknown or unsupported statement");
}

/* Statements until one of stops ({% stop ... %}, left after the name). */
static node *body(parser *p, const char *const *stops, const token **stop) {
    if (++p->depth > MAX_DEPTH) return perr(p, PENNY_ERR_UNSUPPORTED, "blocks nested too deeply");
    node *b = mk(p, N_BODY, peek(p)->line);
    while (b) {
        const token *t = next(p);
        if (t->k == T_EOF) {
            if (stops)
                return p->pos--, perr(p, PENNY_ERR_FORMAT, "block not closed (missing end tag)");
            break;
        }
        if (t->k == T_TEXT) {
            node *n = mk(p, N_TEXT, t->line);
            if (n) n->s = t->s, n->n = t->n;
            if (!add_kid(p, b, n)) return NULL;
        } else if (t->k == T_OPEN_E) {
            node *n = mk(p, N_OUTPUT, t->line);
            if (!n || !(n->a = expr(p))) return NULL;
            if (peek(p)->k != T_CLOSE_E) return perr(p, PENNY_ERR_FORMAT, "expected }}");
            next(p);
            if (!add_kid(p, b, n)) return NULL;
        } else if (t->k == T_OPEN_S) {
            for (int i = 0; stops && stops[i]; i++) {
                if (tok_is(peek(p), T_NAME, stops[i])) {
                    *stop = next(p);
                    p->depth--;
                    return b;
                }
            }
            if (!add_kid(p, b, statement(p))) return NULL;
        } else {
            p->pos--;
            return perr(p, PENNY_ERR_FORMAT, "unexpected token");
        }
    }
    p->depth--;
    return b;
}

penny_status tmpl_parse_tokens(arena *a, const token *t, int n, node **root, penny_error *err) {
    parser p = {a, t, n, 0, 0, err, PENNY_OK};
    *root = body(&p, NULL, NULL);
    if (!*root && !p.rc) p.rc = err_set(err, PENNY_ERR_FORMAT, "template: parse error");
    return p.rc;
}
