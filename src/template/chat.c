/*
 * chat.c - penny_chat_apply: a list of messages through the model's chat
 * template.
 *
 * The template sees what Hugging Face's apply_chat_template passes: the
 * messages (role, content), add_generation_prompt, and the model's
 * bos_token / eos_token texts. Variables are built as JSON and handed to
 * the template engine, the same path the CLI takes for richer inputs
 * (tools, tool calls) read from a messages file.
 */
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "model/model.h"
#include "template/tmpl.h"

/* Adds name = text of token id (when the model has one). */
static bool add_token_text(cJSON *vars, const char *name, const tokenizer *t, int32_t id) {
    if (id < 0) return true;
    const char *p;
    size_t n;
    tok_text(t, id, &p, &n);
    char *s = malloc(n + 1);
    if (!s) return false;
    memcpy(s, p, n);
    s[n] = '\0';
    bool ok = cJSON_AddStringToObject(vars, name, s) != NULL;
    free(s);
    return ok;
}

static cJSON *chat_vars(const penny_model *m, const penny_chat_message *msgs, int n_msgs,
                        bool add_generation_prompt) {
    cJSON *vars = cJSON_CreateObject();
    cJSON *list = vars ? cJSON_AddArrayToObject(vars, "messages") : NULL;
    bool ok = list && cJSON_AddBoolToObject(vars, "add_generation_prompt", add_generation_prompt);
    for (int i = 0; ok && i < n_msgs; i++) {
        cJSON *msg = cJSON_CreateObject();
        ok = msg && cJSON_AddItemToArray(list, msg) &&
             cJSON_AddStringToObject(msg, "role", msgs[i].role ? msgs[i].role : "") &&
             cJSON_AddStringToObject(msg, "content", msgs[i].content ? msgs[i].content : "");
    }
    if (ok && m)
        ok = add_token_text(vars, "bos_token", m->tok, tok_bos(m->tok)) &&
             add_token_text(vars, "eos_token", m->tok, tok_eos(m->tok));
    if (!ok) {
        cJSON_Delete(vars);
        return NULL;
    }
    return vars;
}

penny_status penny_chat_apply(const penny_model *m, const char *tmpl,
                              const penny_chat_message *msgs, int n_msgs,
                              bool add_generation_prompt, char **out, penny_error *err) {
    if (!out || n_msgs < 0 || (n_msgs && !msgs) || (!m && !tmpl))
        return err_set(err, PENNY_ERR_ARG, "chat template: invalid arguments");
    *out = NULL;
    const char *src = tmpl ? tmpl : tok_chat_template(m->tok);
    if (!src)
        return err_set(err, PENNY_ERR_UNSUPPORTED,
                       "the model has no chat template (tokenizer.chat_template): pass one");
    cJSON *vars = chat_vars(m, msgs, n_msgs, add_generation_prompt);
    if (!vars) return err_set(err, PENNY_ERR_NOMEM, "chat template: out of memory");
    penny_status rc = tmpl_apply(src, vars, out, NULL, err);
    cJSON_Delete(vars);
    return rc;
}
