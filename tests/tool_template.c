/*
 * tool_template.c - renders chat templates for scripts that compare penny's
 * template engine with @huggingface/jinja (tests/test_template.sh).
 *
 *   tool_template < cases.json > results.json
 *
 * Input: a JSON array of {"template": "...", "vars": {...}}. Output: a JSON
 * array with, per case, {"out": "rendered text"} or {"error": "message"}.
 */
#include <stdio.h>
#include <stdlib.h>

#include "template/tmpl.h"

static char *read_all(FILE *f) {
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    for (size_t k; buf && (k = fread(buf + n, 1, cap - n - 1, f)) > 0;) {
        n += k;
        if (n + 1 == cap) {
            char *b = realloc(buf, cap *= 2);
            if (!b) free(buf);
            buf = b;
        }
    }
    if (buf) buf[n] = '\0';
    return buf;
}

int main(void) {
    char *text = read_all(stdin);
    cJSON *cases = text ? cJSON_Parse(text) : NULL, *c;
    cJSON *results = cJSON_CreateArray();
    if (!cases || !results) {
        fprintf(stderr, "tool_template: cannot read the cases\n");
        return 2;
    }
    cJSON_ArrayForEach(c, cases) {
        const cJSON *src = cJSON_GetObjectItemCaseSensitive(c, "template");
        cJSON *res = cJSON_CreateObject();
        char *out = NULL;
        penny_error err = {0};
        if (!cJSON_IsString(src))
            cJSON_AddStringToObject(res, "error", "case without a template");
        else if (tmpl_apply(src->valuestring, cJSON_GetObjectItemCaseSensitive(c, "vars"), &out,
                            NULL, &err))
            cJSON_AddStringToObject(res, "error", err.message);
        else
            cJSON_AddStringToObject(res, "out", out);
        free(out);
        cJSON_AddItemToArray(results, res);
    }
    char *json = cJSON_PrintUnformatted(results);
    if (json) puts(json);
    free(json);
    free(text);
    cJSON_Delete(cases);
    cJSON_Delete(results);
    return json ? 0 : 1;
}
