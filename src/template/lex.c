/*
 * lex.c - template source to tokens.
 *
 * Whitespace handling follows Hugging Face's renderers, which chat
 * templates are written for: one trailing newline of the template is
 * dropped; lstrip_blocks removes spaces and tabs between a line start and
 * a "{%" or "{#" tag; trim_blocks removes the newline right after a "%}" or
 * "#}"; a "-" inside a tag ({%- -%} {{- -}} {#- -#}) strips all whitespace
 * on that side. Both options are applied here against the original source
 * (rather than by rewriting it first), so every token keeps its real line
 * number for error messages.
 */
#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "template/tmpl_int.h"

typedef struct lexer {
    arena *a;
    const char *src;
    size_t len, pos;
    int line;
    token *t;
    int n, cap;
    penny_error *err;
} lexer;

static bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static penny_status fail(lexer *x, const char *what) {
    return err_set(x->err, PENNY_ERR_FORMAT, "template line %d: %s", x->line, what);
}

static penny_status push(lexer *x, tkind k, const char *s, size_t n, int line) {
    if (x->n == x->cap) {
        int cap = x->cap ? 2 * x->cap : 256;
        token *p = ar_alloc(x->a, (size_t)cap * sizeof *p);
        if (!p) return err_set(x->err, PENNY_ERR_NOMEM, "template: out of memory");
        if (x->n) memcpy(p, x->t, (size_t)x->n * sizeof *p);
        x->t = p;
        x->cap = cap;
    }
    x->t[x->n++] = (token){k, line, s, n};
    return PENNY_OK;
}

/* Advances over n bytes, counting lines. */
static void skip(lexer *x, size_t n) {
    for (size_t i = 0; i < n && x->pos < x->len; i++)
        if (x->src[x->pos++] == '\n') x->line++;
}

static void skip_ws(lexer *x) {
    while (x->pos < x->len && is_space(x->src[x->pos])) skip(x, 1);
}

/* "{-" strips the text token before it; drops it when it empties. */
static void strip_prev(lexer *x) {
    if (x->n == 0 || x->t[x->n - 1].k != T_TEXT) return;
    token *t = &x->t[x->n - 1];
    while (t->n > 0 && is_space(t->s[t->n - 1])) t->n--;
    if (t->n == 0) x->n--;
}

static bool at(const lexer *x, const char *s) {
    size_t n = strlen(s);
    return x->pos + n <= x->len && memcmp(x->src + x->pos, s, n) == 0;
}

static bool at_tag(const lexer *x, size_t p) {
    return p + 1 < x->len && x->src[p] == '{' &&
           (x->src[p + 1] == '%' || x->src[p + 1] == '{' || x->src[p + 1] == '#');
}

/* Raw text up to the next tag; lstrip_blocks trims a blank line start before a
 * statement or comment tag. */
static penny_status lex_text(lexer *x) {
    size_t start = x->pos;
    int line = x->line;
    while (x->pos < x->len && !at_tag(x, x->pos)) skip(x, 1);
    size_t end = x->pos;
    if (x->pos < x->len && x->src[x->pos + 1] != '{') {
        size_t k = end;
        while (k > start && (x->src[k - 1] == ' ' || x->src[k - 1] == '\t')) k--;
        if (k == 0 || x->src[k - 1] == '\n' || x->src[k - 1] == '\r') end = k;
    }
    return end > start ? push(x, T_TEXT, x->src + start, end - start, line) : PENNY_OK;
}

static penny_status lex_comment(lexer *x) {
    int line = x->line;
    skip(x, 2);
    if (at(x, "-")) strip_prev(x);
    const char *end = memmem(x->src + x->pos, x->len - x->pos, "#}", 2);
    if (!end) {
        x->line = line;
        return fail(x, "comment not closed with #}");
    }
    bool strip = end > x->src + x->pos && end[-1] == '-';
    skip(x, (size_t)(end - (x->src + x->pos)) + 2);
    if (strip)
        skip_ws(x);
    else if (at(x, "\n"))
        skip(x, 1); /* trim_blocks */
    return PENNY_OK;
}

static int hex_val(char c) {
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* Appends code point cp as UTF-8. */
static size_t put_utf8(char *d, unsigned cp) {
    if (cp < 0x80) return d[0] = (char)cp, 1;
    if (cp < 0x800) return d[0] = (char)(0xC0 | cp >> 6), d[1] = (char)(0x80 | (cp & 63)), 2;
    d[0] = (char)(0xE0 | cp >> 12);
    d[1] = (char)(0x80 | ((cp >> 6) & 63));
    d[2] = (char)(0x80 | (cp & 63));
    return 3;
}

/* A quoted string with backslash escapes, unescaped into the arena. */
static penny_status lex_string(lexer *x) {
    char q = x->src[x->pos];
    int line = x->line;
    skip(x, 1);
    char *out = ar_alloc(x->a, x->len - x->pos + 1);
    if (!out) return err_set(x->err, PENNY_ERR_NOMEM, "template: out of memory");
    size_t n = 0;
    for (;;) {
        if (x->pos >= x->len) return fail(x, "string literal not closed");
        char c = x->src[x->pos];
        if (c == q) break;
        skip(x, 1);
        if (c != '\\') {
            out[n++] = c;
            continue;
        }
        if (x->pos >= x->len) return fail(x, "string literal not closed");
        char e = x->src[x->pos];
        skip(x, 1);
        const char *from = "ntrbfv'\"\\", *to = "\n\t\r\b\f\v'\"\\";
        const char *hit = strchr(from, e);
        if (hit && e) {
            out[n++] = to[hit - from];
        } else if (e == 'x' || e == 'u') {
            int digits = e == 'x' ? 2 : 4;
            unsigned cp = 0;
            for (int i = 0; i < digits; i++, skip(x, 1)) {
                int h = x->pos < x->len ? hex_val(x->src[x->pos]) : -1;
                if (h < 0) return fail(x, "bad \\x or \\u escape in a string literal");
                cp = cp * 16 + (unsigned)h;
            }
            n += put_utf8(out + n, cp);
        } else {
            char msg[64];
            snprintf(msg, sizeof msg, "unknown escape \\%c in a string literal", e);
            return fail(x, msg);
        }
    }
    skip(x, 1);
    out[n] = '\0';
    return push(x, T_STR, out, n, line);
}

static penny_status lex_number(lexer *x) {
    size_t start = x->pos;
    while (x->pos < x->len && x->src[x->pos] >= '0' && x->src[x->pos] <= '9') skip(x, 1);
    bool frac =
        x->pos + 1 < x->len && x->src[x->pos] == '.' && x->src[x->pos + 1] >= '0' &&
        x->src[x->pos + 1] <= '9' &&
        !(x->n && x->t[x->n - 1].k == T_OP && x->t[x->n - 1].n == 1 && x->t[x->n - 1].s[0] == '.');
    if (frac) {
        skip(x, 1);
        while (x->pos < x->len && x->src[x->pos] >= '0' && x->src[x->pos] <= '9') skip(x, 1);
    }
    return push(x, frac ? T_FLOAT : T_INT, x->src + start, x->pos - start, x->line);
}

/* One token inside {% %} or {{ }}; *closed is set at the closing tag. */
static penny_status lex_inner(lexer *x, bool stmt, int *depth, bool *closed) {
    skip_ws(x);
    if (x->pos >= x->len) return fail(x, stmt ? "missing %}" : "missing }}");
    const char *close = stmt ? "%}" : "}}";
    bool dash = at(x, "-") && x->pos + 3 <= x->len && !memcmp(x->src + x->pos + 1, close, 2);
    if (dash || (at(x, close) && (stmt || *depth == 0))) {
        skip(x, dash ? 3 : 2);
        *closed = true;
        penny_status rc = push(x, stmt ? T_CLOSE_S : T_CLOSE_E, close, 2, x->line);
        if (dash)
            skip_ws(x);
        else if (stmt && at(x, "\n"))
            skip(x, 1); /* trim_blocks */
        return rc;
    }
    char c = x->src[x->pos];
    if (c == '\'' || c == '"') return lex_string(x);
    if (c >= '0' && c <= '9') return lex_number(x);
    if (c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
        size_t start = x->pos;
        while (x->pos < x->len &&
               (x->src[x->pos] == '_' || (x->src[x->pos] >= 'a' && x->src[x->pos] <= 'z') ||
                (x->src[x->pos] >= 'A' && x->src[x->pos] <= 'Z') ||
                (x->src[x->pos] >= '0' && x->src[x->pos] <= '9')))
            skip(x, 1);
        return push(x, T_NAME, x->src + start, x->pos - start, x->line);
    }
    static const char *const ops[] = {"**", "//", "==", "!=", "<=", ">=", "+", "-", "*",
                                      "/",  "%",  "~",  "<",  ">",  "=",  "(", ")", "[",
                                      "]",  "{",  "}",  ",",  ".",  ":",  "|"};
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++) {
        if (!at(x, ops[i])) continue;
        if (!strcmp(ops[i], "{")) ++*depth;
        if (!strcmp(ops[i], "}")) --*depth;
        size_t n = strlen(ops[i]);
        penny_status rc = push(x, T_OP, x->src + x->pos, n, x->line);
        skip(x, n);
        return rc;
    }
    char msg[64];
    snprintf(msg, sizeof msg, "unexpected character '%c'", c);
    return fail(x, msg);
}

static penny_status lex_tag(lexer *x) {
    bool stmt = x->src[x->pos + 1] == '%';
    int line = x->line;
    skip(x, 2);
    if (at(x, "-")) {
        strip_prev(x);
        skip(x, 1);
    }
    penny_status rc = push(x, stmt ? T_OPEN_S : T_OPEN_E, stmt ? "{%" : "{{", 2, line);
    int depth = 0;
    bool closed = false;
    while (!rc && !closed) rc = lex_inner(x, stmt, &depth, &closed);
    return rc;
}

penny_status tmpl_lex(arena *a, const char *src, size_t len, token **out, int *n_out,
                      penny_error *err) {
    if (len > 0 && src[len - 1] == '\n') len--; /* keep_trailing_newline off */
    lexer x = {a, src, len, 0, 1, NULL, 0, 0, err};
    penny_status rc = PENNY_OK;
    while (!rc && x.pos < x.len) {
        if (!at_tag(&x, x.pos))
            rc = lex_text(&x);
        else if (x.src[x.pos + 1] == '#')
            rc = lex_comment(&x);
        else
            rc = lex_tag(&x);
    }
    if (!rc) rc = push(&x, T_EOF, "", 0, x.line);
    *out = x.t;
    *n_out = x.n;
    return rc;
}
