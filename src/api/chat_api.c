/*
 * chat_api.c - the chat-prompt calls of include/penny.h beyond
 * penny_chat_apply: the ChatML fallback and prompt tokenizing that
 * `penny chat` and `penny serve` share (src/serve/chatfmt.c), and the
 * template engine with caller-given variables, for tools that pass more
 * than messages (tools, enable_thinking, ...).
 */
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "base/err.h"
#include "model/model.h"
#include "serve/chatfmt.h"
#include "template/tmpl.h"

const char *penny_model_chat_template(const penny_model *m) { return tok_chat_template(m->tok); }

penny_status penny_chat_format(const penny_model *m, const penny_chat_message *msgs, int n_msgs,
                               bool add_generation_prompt, char **out, penny_error *err) {
    if (!m || !out || n_msgs < 0 || (n_msgs && !msgs))
        return err_set(err, PENNY_ERR_ARG, "chat format: invalid arguments");
    for (int i = 0; i < n_msgs; i++)
        if (!msgs[i].role)
            return err_set(err, PENNY_ERR_ARG, "chat format: message %d has no role", i);
    return chatfmt_apply(m, msgs, n_msgs, add_generation_prompt, out, err);
}

penny_status penny_chat_tokenize(const penny_model *m, const char *text, bool parse_special,
                                 penny_token **out, int *n_out, penny_error *err) {
    if (!m || !text || !out || !n_out)
        return err_set(err, PENNY_ERR_ARG, "chat tokenize: invalid arguments");
    return chatfmt_tokenize(m, text, parse_special, out, n_out, err);
}

penny_status penny_template_render(const char *src, const char *vars_json, char **out,
                                   size_t *out_len, penny_error *err) {
    if (!src || !out) return err_set(err, PENNY_ERR_ARG, "template: invalid arguments");
    *out = NULL;
    if (out_len) *out_len = 0;
    cJSON *vars = NULL;
    if (vars_json) {
        const char *end = NULL;
        vars = cJSON_ParseWithOpts(vars_json, &end, true);
        if (!vars)
            return err_set(err, PENNY_ERR_ARG, "template variables: invalid JSON near byte %zu",
                           end ? (size_t)(end - vars_json) : (size_t)0);
        if (!cJSON_IsObject(vars)) {
            cJSON_Delete(vars);
            return err_set(err, PENNY_ERR_ARG, "template variables: not a JSON object");
        }
    }
    penny_status rc = tmpl_apply(src, vars, out, out_len, err);
    cJSON_Delete(vars);
    return rc;
}
