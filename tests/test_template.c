/*
 * test_template.c - the chat-template engine on hand-checked cases: output
 * of each construct, Hugging Face's whitespace rules, and errors, which
 * must name the line at fault and never crash or run forever. (Byte-for-
 * byte agreement with @huggingface/jinja on real model templates is checked
 * by test_template.sh.) Also penny_chat_apply with an explicit template.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "penny.h"
#include "template/tmpl.h"

/* Renders src with vars given as JSON text; returns the output or NULL. */
static char *render(const char *src, const char *vars_json, penny_error *err) {
    cJSON *vars = vars_json ? cJSON_Parse(vars_json) : NULL;
    char *out = NULL;
    if (tmpl_apply(src, vars, &out, NULL, err)) out = NULL;
    cJSON_Delete(vars);
    return out;
}

static void expect_out(int line, const char *src, const char *vars, const char *want) {
    penny_error err = {0};
    char *got = render(src, vars, &err);
    CHECKF(got && !strcmp(got, want), "line %d: %s -> got \"%s\" (%s), want \"%s\"", line, src,
           got ? got : "(error)", got ? "" : err.message, want);
    free(got);
}
#define EXPECT(src, vars, want) expect_out(__LINE__, src, vars, want)

static void expect_err(int line, const char *src, const char *vars, penny_status code,
                       const char *needle) {
    penny_error err = {0};
    cJSON *v = vars ? cJSON_Parse(vars) : NULL;
    char *out = NULL;
    penny_status rc = tmpl_apply(src, v, &out, NULL, &err);
    CHECKF(rc == code && strstr(err.message, needle), "line %d: %s -> rc %d \"%s\", want %d \"%s\"",
           line, src, rc, err.message, code, needle);
    free(out);
    cJSON_Delete(v);
}
#define EXPECT_ERR(src, vars, code, needle) expect_err(__LINE__, src, vars, code, needle)

static void test_constructs(void) {
    EXPECT("Hello {{ name }}!", "{\"name\": \"world\"}", "Hello world!");
    EXPECT("{% if x %}a{% elif y %}b{% else %}c{% endif %}", "{\"y\": 1}", "b");
    EXPECT(
        "{% for m in ms %}{{ loop.index0 }}{{ m }}{% if not loop.last %},{% endif %}{% endfor %}",
        "{\"ms\": [\"a\", \"b\"]}", "0a,1b");
    EXPECT("{% for x in [] %}x{% else %}empty{% endfor %}", NULL, "empty");
    EXPECT("{% for x in [1, 2, 3, 4] if x is even %}{{ x }}{% endfor %}", NULL, "24");
    EXPECT("{% for x in [1, 2, 3] %}{% if x == 2 %}{% break %}{% endif %}{{ x }}{% endfor %}", NULL,
           "1");
    EXPECT("{% for x in [1, 2, 3] %}{% if x == 2 %}{% continue %}{% endif %}{{ x }}{% endfor %}",
           NULL, "13");
    EXPECT("{% set x = 1 %}{% for i in [1] %}{% set x = 2 %}{% endfor %}{{ x }}", NULL, "1");
    EXPECT(
        "{% set ns = namespace(x=1) %}{% for i in [1] %}{% set ns.x = 2 %}{% endfor %}{{ ns.x }}",
        NULL, "2");
    EXPECT("{% macro m(a, b='B') %}{{ a }}{{ b }}{% endmacro %}{{ m(1) }}{{ m(2, b=3) }}", NULL,
           "1B23");
    EXPECT("{% set s %}in{{ 1 }}{% endset %}[{{ s }}]", NULL, "[in1]");
    EXPECT("{{ 'abc'[::-1] }} {{ [1, 2, 3][1:] }} {{ 'héllo'[1] }}", NULL, "cba [2, 3] é");
    EXPECT("{{ ' x '|trim }}|{{ 'a,b'.split(',')|join('-') }}|{{ 'xxhixx'.strip('x') }}", NULL,
           "x|a-b|hi");
    EXPECT("{{ {'a': [1, none, true]}|tojson }}", NULL, "{\"a\": [1, null, true]}");
    EXPECT("{{ x is defined }} {{ y is none }} {{ 'a' in 'cat' }} {{ 2 not in [1] }}",
           "{\"y\": null}", "false true true true");
    EXPECT("{{ 'a' if false else 'b' }}{{ 'c' if false }}", NULL, "b");
    EXPECT("{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ 2 ** 5 }} {{ 1.5 + 1 }} {{ 4 / 2 }}", NULL,
           "3 -4 1 32 2.5 2.0");
    /* modulo takes the divisor's sign (as Python) without overflowing near
     * INT64_MAX (a fuzzer find); floor division by -1 wraps, never traps */
    EXPECT("{{ -7 % 3 }} {{ 7 % -3 }} {{ -7 % -3 }} {{ 5555555555555555 % 9223372036854775807 }} "
           "{{ -5 % 9223372036854775807 }} {{ (-9223372036854775807 - 1) // -1 }} {{ 9 % -1 }}",
           NULL, "2 -2 -1 5555555555555555 9223372036854775802 -9223372036854775808 0");
    EXPECT("{{ msgs|selectattr('role', 'equalto', 'user')|map(attribute='c')|join }}",
           "{\"msgs\": [{\"role\": \"user\", \"c\": \"u1\"}, {\"role\": \"x\", \"c\": \"no\"}, "
           "{\"role\": \"user\", \"c\": \"u2\"}]}",
           "u1u2");
    EXPECT("{{ '\\u00e9\\n' }}", NULL, "\xC3\xA9\n");
    /* a positional argument beside attribute= (a fuzz finding: read before the arguments) */
    EXPECT("{{ [{'r': 'u'}] | map('x', attribute='r') | join }}", NULL, "u");
}

/* trim_blocks, lstrip_blocks, "-" control, the dropped trailing newline. */
static void test_whitespace(void) {
    EXPECT("a\n  {% if true %}\n  b\n  {% endif %}\nc\n", NULL, "a\n  b\nc");
    EXPECT("a  {%- if true -%}  b  {%- endif -%}  c", NULL, "abc");
    EXPECT("x {{- ' y ' -}} z", NULL, "x y z");
    EXPECT("a\n{# note #}\nb", NULL, "a\nb");
    EXPECT("a {#- note -#} b", NULL, "ab");
    EXPECT("{{ 'x' }}\n", NULL, "x");
    EXPECT("{{ 'x' }}\n\n", NULL, "x\n");
}

static void test_errors(void) {
    EXPECT_ERR("line1\n{{ x | nosuchfilter }}", NULL, PENNY_ERR_UNSUPPORTED,
               "line 2: unknown filter 'nosuchfilter'");
    EXPECT_ERR("a\nb\n{% include 'x' %}", NULL, PENNY_ERR_UNSUPPORTED, "template line 3");
    EXPECT_ERR("{% if x %}\nno end", NULL, PENNY_ERR_FORMAT, "not closed");
    EXPECT_ERR("\n{{ raise_exception('bad role') }}", NULL, PENNY_ERR_ARG,
               "line 2: raise_exception: bad role");
    EXPECT_ERR("{{ 'abc }}", NULL, PENNY_ERR_FORMAT, "not closed");
    EXPECT_ERR("{{ 1 + }}", NULL, PENNY_ERR_FORMAT, "expected an expression");
    EXPECT_ERR("{{ x.y() }}", "{\"x\": 3}", PENNY_ERR_UNSUPPORTED, "no method 'y'");
    EXPECT_ERR("{{ 1 / 0 }}", NULL, PENNY_ERR_ARG, "division by zero");
    EXPECT_ERR("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}", NULL, PENNY_ERR_RANGE,
               "nested deeper");
    EXPECT_ERR("{% for i in range(100000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}",
               NULL, PENNY_ERR_RANGE, "runs too long");
    EXPECT_ERR("{% set ns = 3 %}{% set ns.x = 1 %}", NULL, PENNY_ERR_ARG, "namespace");
    char deep[2000];
    memset(deep, '(', sizeof deep);
    memcpy(deep, "{{ ", 3);
    strcpy(deep + sizeof deep - 4, "}}");
    EXPECT_ERR(deep, NULL, PENNY_ERR_UNSUPPORTED, "nested too deeply");
}

static void test_chat_apply(void) {
    penny_chat_message msgs[] = {{"system", "Be brief."}, {"user", "Hi"}};
    const char *t = "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}"
                    "{% if add_generation_prompt %}<assistant>{% endif %}";
    char *out = NULL;
    penny_error err = {0};
    CHECK(penny_chat_apply(NULL, t, msgs, 2, true, &out, &err) == PENNY_OK);
    CHECK(out && !strcmp(out, "<system>Be brief.<user>Hi<assistant>"));
    free(out);
    CHECK(penny_chat_apply(NULL, t, msgs, 2, false, &out, &err) == PENNY_OK);
    CHECK(out && !strcmp(out, "<system>Be brief.<user>Hi"));
    free(out);
    CHECK(penny_chat_apply(NULL, NULL, msgs, 2, false, &out, &err) == PENNY_ERR_ARG);
    CHECK(penny_chat_apply(NULL, "{% bad %}", msgs, 2, false, &out, &err) == PENNY_ERR_UNSUPPORTED);
    CHECK(strstr(err.message, "line 1") != NULL);
}

int main(void) {
    test_constructs();
    test_whitespace();
    test_errors();
    test_chat_apply();
    return check_done("test_template");
}
