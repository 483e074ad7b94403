/*
 * tmpl.h - a Jinja subset for chat templates (internal to libpenny).
 *
 * Models ship their prompt format as a Jinja template (GGUF
 * tokenizer.chat_template, tokenizer_config.json chat_template). This
 * module parses one and renders it with variables taken from a cJSON object
 * (messages, tools, bos_token, add_generation_prompt, ...), following what
 * Hugging Face's renderers do: trim_blocks and lstrip_blocks on, one trailing
 * newline of the template dropped, {%- -%} whitespace control, lists and
 * dicts printed as JSON. The subset is what real chat templates use:
 *   statements  if/elif/else, for (with else, loop.*, tuple targets, an
 *               if filter), set (names, ns.attr, blocks), macro, break,
 *               continue, comments, generation tags (ignored)
 *   expressions literals, lists, dicts, tuples, attribute/item access,
 *               slices, calls, filters, tests, not/and/or, comparisons,
 *               in / not in, ~ + - * / // % **, conditional expressions
 *   globals     range, namespace, raise_exception, dict, strftime_now
 * Anything else fails with PENNY_ERR_UNSUPPORTED or PENNY_ERR_FORMAT and a
 * message naming the template line.
 */
#ifndef PENNY_TEMPLATE_TMPL_H
#define PENNY_TEMPLATE_TMPL_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "penny.h"

typedef struct tmpl tmpl;

/* Parses src[0..len); errors name the line. */
penny_status tmpl_parse(const char *src, size_t len, tmpl **out, penny_error *err);
void tmpl_free(tmpl *t);

/* Renders with the members of vars (a JSON object, may be NULL) as
 * variables. *out is a malloc'd NUL-terminated string (caller frees);
 * *out_len its length (may be NULL). */
penny_status tmpl_render(const tmpl *t, const cJSON *vars, char **out, size_t *out_len,
                         penny_error *err);

/* Parse + render in one call. */
penny_status tmpl_apply(const char *src, const cJSON *vars, char **out, size_t *out_len,
                        penny_error *err);

#endif
