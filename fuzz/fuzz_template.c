/*
 * fuzz_template.c - libFuzzer target for the chat-template engine.
 *
 * The input is a template, rendered with a fixed conversation (system,
 * user, assistant with a tool call, tool result), a tool list and the usual
 * variables. Parse and render errors are expected; crashes, leaks, hangs
 * (the engine's step budget bounds every render) and unbounded memory (its
 * arena cap) are findings.
 *
 *   make fuzz && build-fuzz/fuzz_template -max_total_time=60 fuzz/corpus/template
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "template/tmpl.h"

static cJSON *g_vars;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    static const char VARS[] =
        "{\"bos_token\": \"<s>\", \"eos_token\": \"</s>\", \"add_generation_prompt\": true,"
        " \"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"f\", \"parameters\":"
        " {\"type\": \"object\", \"properties\": {\"x\": {\"type\": \"number\"}}}}}],"
        " \"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"},"
        " {\"role\": \"user\", \"content\": \"Hi <think>\\n\"},"
        " {\"role\": \"assistant\", \"content\": null, \"tool_calls\": [{\"type\": \"function\","
        " \"function\": {\"name\": \"f\", \"arguments\": {\"x\": 1.5}}}]},"
        " {\"role\": \"tool\", \"content\": \"2\"}]}";
    g_vars = cJSON_Parse(VARS);
    if (!g_vars) abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 1 << 16) return 0; /* templates are small; keeps each run quick */
    tmpl *t = NULL;
    penny_error err;
    if (tmpl_parse((const char *)data, size, &t, &err) != PENNY_OK) return 0;
    char *out = NULL;
    size_t n = 0;
    if (tmpl_render(t, g_vars, &out, &n, &err) == PENNY_OK && strlen(out) > n) abort();
    free(out);
    tmpl_free(t);
    return 0;
}
