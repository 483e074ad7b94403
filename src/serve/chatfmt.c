/*
 * chatfmt.c - conversation rendering and tokenizing of chatfmt.h.
 *
 * The ChatML fallback writes "<|im_start|>ROLE\nCONTENT<|im_end|>\n" per
 * message and "<|im_start|>assistant\n" as the generation prompt.
 */
#include "serve/chatfmt.h"

#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "model/model.h"
#include "serve/sbuf.h"

bool chatfmt_has_template(const penny_model *m) { return tok_chat_template(m->tok) != NULL; }

static penny_status chatml(const penny_chat_message *msgs, int n, bool add_gen, char **out,
                           penny_error *err) {
    sbuf b = {0};
    bool ok = sbuf_addz(&b, "");
    for (int i = 0; ok && i < n; i++)
        ok = sbuf_printf(&b, "<|im_start|>%s\n%s<|im_end|>\n", msgs[i].role,
                         msgs[i].content ? msgs[i].content : "");
    if (ok && add_gen) ok = sbuf_addz(&b, "<|im_start|>assistant\n");
    if (!ok) {
        sbuf_free(&b);
        return err_set(err, PENNY_ERR_NOMEM, "out of memory rendering %d messages", n);
    }
    *out = b.p;
    return PENNY_OK;
}

penny_status chatfmt_apply(const penny_model *m, const penny_chat_message *msgs, int n_msgs,
                           bool add_generation_prompt, char **out, penny_error *err) {
    *out = NULL;
    if (chatfmt_has_template(m))
        return penny_chat_apply(m, NULL, msgs, n_msgs, add_generation_prompt, out, err);
    return chatml(msgs, n_msgs, add_generation_prompt, out, err);
}

/* Templates usually write the BOS token's text (e.g. "<s>") themselves. */
static bool starts_with_bos(const penny_model *m, const char *text) {
    penny_token bos = penny_model_bos(m);
    const char *s;
    size_t len;
    if (bos < 0) return false;
    tok_text(m->tok, bos, &s, &len);
    return len && strlen(text) >= len && !memcmp(text, s, len);
}

penny_status chatfmt_tokenize(const penny_model *m, const char *text, bool parse_special,
                              penny_token **out, int *n_out, penny_error *err) {
    *out = NULL;
    *n_out = 0;
    size_t len = strlen(text);
    bool bos = penny_model_add_bos(m) && !(parse_special && starts_with_bos(m, text));
    if (len > (size_t)1 << 28)
        return err_set(err, PENNY_ERR_RANGE, "text of %zu bytes is too long", len);
    int cap = (int)len + 8, n = 0;
    penny_token *t = malloc(sizeof *t * (size_t)cap);
    if (!t) return err_set(err, PENNY_ERR_NOMEM, "out of memory for %d tokens", cap);
    penny_status rc = penny_tokenize(m, text, len, bos, parse_special, t, cap, &n, err);
    if (rc == PENNY_ERR_RANGE && n > cap) { /* more tokens than bytes: byte fallback */
        penny_token *t2 = realloc(t, sizeof *t * (size_t)n);
        if (!t2)
            rc = err_set(err, PENNY_ERR_NOMEM, "out of memory for %d tokens", n);
        else
            rc = penny_tokenize(m, text, len, bos, parse_special, (t = t2), n, &n, err);
    }
    if (rc) {
        free(t);
        return rc;
    }
    *out = t;
    *n_out = n;
    return PENNY_OK;
}
