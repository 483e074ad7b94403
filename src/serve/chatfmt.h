/*
 * chatfmt.h - turning a conversation into prompt tokens, shared by
 * `penny chat` and `penny serve`.
 *
 * The model's own chat template (GGUF tokenizer.chat_template, rendered by
 * penny_chat_apply) is used whenever the file has one. A model without a
 * template (base models such as stories260K) gets ChatML, the most common
 * convention, so chatting with it still works; chatfmt_has_template tells
 * which one applies.
 */
#ifndef PENNY_SERVE_CHATFMT_H
#define PENNY_SERVE_CHATFMT_H

#include <stdbool.h>

#include "penny.h"

bool chatfmt_has_template(const penny_model *m);
/* Renders msgs; *out is malloc'd and NUL-terminated. */
penny_status chatfmt_apply(const penny_model *m, const penny_chat_message *msgs, int n_msgs,
                           bool add_generation_prompt, char **out, penny_error *err);
/* Tokenizes text into a malloc'd array. Special-token text becomes special
 * tokens when parse_special; BOS is added when the model wants one and the
 * text does not already start with it (templates often write it). */
penny_status chatfmt_tokenize(const penny_model *m, const char *text, bool parse_special,
                              penny_token **out, int *n_out, penny_error *err);

#endif
