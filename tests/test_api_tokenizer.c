/*
 * test_api_tokenizer.c - the model-free tokenizer and chat-prompt calls of
 * include/penny.h, used only through the public header, as the CLI uses
 * them: a GGUF vocabulary gives the same ids with and without its model
 * (stories260K: the ids llama.cpp gives, also checked by
 * test_tokenizer_cli.sh), flags, sizes and token texts behave as
 * documented, the detokenizer's flags, a tokenizer.json found by content
 * with its tokenizer_config.json beside it, ChatML for a model without a
 * template, template rendering with JSON variables, and bad input (missing,
 * garbage, truncated or malformed files) failing with the file named.
 * Parts that need ../shared (PENNY_SHARED) are skipped when it is absent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "penny.h"

/* Tokenizes text; returns the ids as "1 2 3" (static) or the error. */
static const char *ids_of(const penny_tokenizer *t, const char *text, unsigned flags) {
    static char out[1024];
    penny_token ids[128];
    int n = 0;
    penny_error err = {0};
    if (penny_tokenizer_tokenize(t, text, strlen(text), flags, ids, 128, &n, &err)) {
        snprintf(out, sizeof out, "error: %s", err.message);
        return out;
    }
    size_t at = 0;
    out[0] = '\0';
    for (int i = 0; i < n && at < sizeof out; i++)
        at += (size_t)snprintf(out + at, sizeof out - at, i ? " %d" : "%d", ids[i]);
    return out;
}

/* Detokenizes ids with flags into a static string. */
static const char *text_of(const penny_tokenizer *t, const penny_token *ids, int n,
                           unsigned flags) {
    static char out[1024];
    penny_detok *d = NULL;
    penny_error err = {0};
    out[0] = '\0';
    if (penny_tokenizer_detok_new(t, flags, &d, &err)) {
        snprintf(out, sizeof out, "error: %s", err.message);
        return out;
    }
    for (int i = 0; i < n; i++) strncat(out, penny_detok_push(d, ids[i]), 1000 - strlen(out));
    strncat(out, penny_detok_flush(d), 1000 - strlen(out));
    penny_detok_free(d);
    return out;
}

static void token_texts(const penny_tokenizer *t) {
    const char *p = NULL;
    size_t n = 99;
    CHECK(penny_tokenizer_token_text(t, 1, &p, &n) == PENNY_OK && n == 3 && !memcmp(p, "<s>", 3));
    CHECK(penny_tokenizer_token_bytes(t, 1, &p, &n) == PENNY_OK && n == 0); /* control */
    CHECK(penny_tokenizer_token_bytes(t, 403, &p, &n) == PENNY_OK && n == 5 &&
          !memcmp(p, " Once", 5));
    CHECK(penny_tokenizer_token_bytes(t, 512, &p, &n) == PENNY_ERR_RANGE);
    CHECK(penny_tokenizer_token_text(t, -1, &p, &n) == PENNY_ERR_RANGE);
}

static void detok_flags(const penny_tokenizer *t) {
    const penny_token ids[] = {1, 403, 407, 261, 378, 2};
    CHECKF(!strcmp(text_of(t, ids, 6, 0), " Once upon a time"), "'%s'", text_of(t, ids, 6, 0));
    const char *s = text_of(t, ids, 6, PENNY_DETOK_STRIP_SPACE);
    CHECKF(!strcmp(s, "Once upon a time"), "strip: '%s'", s);
    s = text_of(t, ids, 6, PENNY_DETOK_SPECIAL | PENNY_DETOK_STRIP_SPACE);
    CHECKF(!strcmp(s, "<s> Once upon a time</s>"), "special: '%s'", s);
    penny_detok *d = NULL;
    CHECK(penny_tokenizer_detok_new(t, 1u << 7, &d, NULL) == PENNY_ERR_ARG && !d);
}

/* Same ids as the model's own tokenizer, through a handle on it too. */
static void same_as_model(const char *path, const penny_tokenizer *t) {
    penny_model *m = NULL;
    penny_error err = {0};
    if (penny_model_load(path, NULL, &m, &err)) {
        CHECKF(0, "%s", err.message);
        return;
    }
    const char *text = "Once upon a time, <s> there was a cat.";
    penny_token a[64];
    int n = 0;
    CHECK(!penny_tokenize(m, text, strlen(text), true, false, a, 64, &n, &err));
    char want[1024] = "";
    for (int i = 0; i < n; i++)
        snprintf(want + strlen(want), sizeof want - strlen(want), i ? " %d" : "%d", a[i]);
    CHECKF(!strcmp(ids_of(t, text, PENNY_TOKENIZE_BOS), want), "%s vs %s",
           ids_of(t, text, PENNY_TOKENIZE_BOS), want);
    penny_tokenizer *mt = NULL;
    CHECK(!penny_model_tokenizer(m, &mt, &err));
    CHECK(mt && !strcmp(ids_of(mt, text, PENNY_TOKENIZE_BOS), want));
    CHECK(mt && penny_tokenizer_n_vocab(mt) == 512 && !penny_model_chat_template(m));
    penny_tokenizer_free(mt);
    penny_model_free(m);
}

static void test_gguf(const char *path) {
    penny_tokenizer *t = NULL;
    penny_error err = {0};
    CHECKF(penny_tokenizer_load(path, &t, &err) == PENNY_OK, "%s", err.message);
    if (!t) return;
    CHECK(penny_tokenizer_n_vocab(t) == 512);
    CHECK(penny_tokenizer_bos(t) == 1 && penny_tokenizer_eos(t) == 2);
    CHECK(penny_tokenizer_add_bos(t) && penny_tokenizer_is_eog(t, 2) &&
          !penny_tokenizer_is_eog(t, 1));
    CHECK(penny_tokenizer_chat_template(t) == NULL);
    CHECKF(!strcmp(ids_of(t, "Once upon a time", PENNY_TOKENIZE_BOS), "1 403 407 261 378"), "%s",
           ids_of(t, "Once upon a time", PENNY_TOKENIZE_BOS));
    CHECK(!strcmp(ids_of(t, "Once upon a time", 0), "403 407 261 378"));
    CHECK(!strcmp(ids_of(t, "<s>Hi", PENNY_TOKENIZE_SPECIAL), "1 320 417"));
    CHECK(!strcmp(ids_of(t, "<s>Hi", 0), "410 504 419 505 440 417"));
    CHECK(!strncmp(ids_of(t, "x", 1u << 5), "error: ", 7));
    penny_token few[2];
    int n = 0;
    CHECK(penny_tokenizer_tokenize(t, "Once upon a time", 16, PENNY_TOKENIZE_BOS, few, 2, &n,
                                   &err) == PENNY_ERR_RANGE &&
          n == 5);
    token_texts(t);
    detok_flags(t);
    same_as_model(path, t);
    penny_tokenizer_free(t);
}

/* The real 32k Llama-2 vocabulary of a vocabulary-heavy random model. */
static void test_llama2_vocab(const char *path) {
    penny_tokenizer *t = NULL;
    penny_error err = {0};
    CHECKF(penny_tokenizer_load(path, &t, &err) == PENNY_OK, "%s", err.message);
    if (!t) return;
    CHECK(penny_tokenizer_n_vocab(t) == 32000);
    CHECK(!strcmp(ids_of(t, "Hello world", PENNY_TOKENIZE_BOS), "1 15043 3186"));
    const penny_token ids[] = {15043, 3186};
    CHECK(!strcmp(text_of(t, ids, 2, PENNY_DETOK_STRIP_SPACE), "Hello world"));
    penny_tokenizer_free(t);
}

/* ---- a tokenizer.json of our own ---- */

static char *join(const char *dir, const char *name) {
    static char buf[3][1024];
    static int k;
    char *b = buf[k++ % 3];
    snprintf(b, sizeof buf[0], "%s/%s", dir, name);
    return b;
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

/* "Ġ" (U+0120) is a space in byte-level vocabularies. */
static const char TOKENIZER_JSON[] =
    "  {\"added_tokens\": [{\"id\": 5, \"content\": \"<|end|>\", \"special\": true}],\n"
    "   \"normalizer\": null,\n"
    "   \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false},\n"
    "   \"model\": {\"type\": \"BPE\", \"vocab\": {\"h\": 0, \"i\": 1, \"hi\": 2, \"\xC4\xA0\": 3,"
    " \"\xC4\xA0hi\": 4, \"<|end|>\": 5}, \"merges\": [\"h i\", \"\xC4\xA0 hi\"]}}\n";

static const char CONFIG_JSON[] =
    "{\"eos_token\": {\"content\": \"<|end|>\"}, \"add_bos_token\": false,"
    " \"chat_template\": \"{% for m in messages %}[{{ m.role }}]{{ m.content }}{% endfor %}\"}";

static void test_json(const char *dir) {
    write_file(join(dir, "tokenizer.json"), TOKENIZER_JSON);
    penny_tokenizer *t = NULL;
    penny_error err = {0};
    CHECKF(penny_tokenizer_load(join(dir, "tokenizer.json"), &t, &err) == PENNY_OK, "%s",
           err.message);
    if (t) {
        CHECK(penny_tokenizer_n_vocab(t) == 6 && !penny_tokenizer_chat_template(t));
        CHECKF(!strcmp(ids_of(t, "hi hi", 0), "2 4"), "%s", ids_of(t, "hi hi", 0));
        CHECK(!strcmp(ids_of(t, "hi<|end|>", PENNY_TOKENIZE_SPECIAL), "2 5"));
        const penny_token ids[] = {2, 5, 4};
        CHECK(!strcmp(text_of(t, ids, 3, 0), "hi hi"));
        CHECK(!strcmp(text_of(t, ids, 3, PENNY_DETOK_SPECIAL), "hi<|end|> hi"));
    }
    penny_tokenizer_free(t);
    t = NULL;
    /* tokenizer_config.json beside it is found: template and EOS. */
    write_file(join(dir, "tokenizer_config.json"), CONFIG_JSON);
    CHECKF(penny_tokenizer_load_json(join(dir, "tokenizer.json"), NULL, &t, &err) == PENNY_OK, "%s",
           err.message);
    const char *tmpl = t ? penny_tokenizer_chat_template(t) : NULL;
    CHECK(tmpl && !strncmp(tmpl, "{% for m", 8));
    CHECK(t && penny_tokenizer_eos(t) == 5 && penny_tokenizer_is_eog(t, 5));
    CHECK(t && !penny_tokenizer_add_bos(t));
    penny_tokenizer_free(t);
    t = NULL;
    /* An explicit config that is missing is an error naming it. */
    penny_status rc =
        penny_tokenizer_load_json(join(dir, "tokenizer.json"), join(dir, "nope.json"), &t, &err);
    CHECKF(rc == PENNY_ERR_IO && strstr(err.message, "nope.json") && !t, "%d %s", rc, err.message);
}

/* ---- bad input: every error names the file ---- */

static void expect_fail(const char *path, penny_status want, const char *what) {
    penny_tokenizer *t = NULL;
    penny_error err = {0};
    penny_status rc = penny_tokenizer_load(path, &t, &err);
    CHECKF(rc == want && !t && strstr(err.message, path), "%s: status %d, '%s'", what, rc,
           err.message);
    penny_tokenizer_free(t);
}

static void test_bad_input(const char *dir, const char *gguf) {
    expect_fail(join(dir, "missing.gguf"), PENNY_ERR_IO, "missing file");
    expect_fail(dir, PENNY_ERR_IO, "a directory");
    write_file(join(dir, "garbage.bin"), "this is neither\n");
    expect_fail(join(dir, "garbage.bin"), PENNY_ERR_FORMAT, "garbage");
    write_file(join(dir, "empty.bin"), "");
    expect_fail(join(dir, "empty.bin"), PENNY_ERR_FORMAT, "empty file");
    write_file(join(dir, "broken.json"), "{\"model\": {\"type\": \"BPE\", \"vocab\": ");
    expect_fail(join(dir, "broken.json"), PENNY_ERR_FORMAT, "truncated JSON");
    write_file(join(dir, "nomodel.json"), "{\"added_tokens\": []}");
    expect_fail(join(dir, "nomodel.json"), PENNY_ERR_FORMAT, "JSON without a model");
    write_file(join(dir, "bad.gguf"), "GGUF\x03");
    expect_fail(join(dir, "bad.gguf"), PENNY_ERR_FORMAT, "GGUF cut in its header");
    if (gguf) { /* the real file cut inside its metadata */
        FILE *in = fopen(gguf, "rb"), *out = fopen(join(dir, "cut.gguf"), "wb");
        char buf[3000];
        size_t n = in ? fread(buf, 1, sizeof buf, in) : 0;
        if (out) fwrite(buf, 1, n, out);
        if (in) fclose(in);
        if (out) fclose(out);
        expect_fail(join(dir, "cut.gguf"), PENNY_ERR_FORMAT, "GGUF cut in its metadata");
    }
    penny_tokenizer *t = NULL;
    CHECK(penny_tokenizer_load(NULL, &t, NULL) == PENNY_ERR_ARG && !t);
    CHECK(penny_tokenizer_load_json(NULL, NULL, &t, NULL) == PENNY_ERR_ARG && !t);
    CHECK(penny_model_tokenizer(NULL, &t, NULL) == PENNY_ERR_ARG && !t);
    penny_tokenizer_free(NULL);
}

/* ---- chat prompts ---- */

static void test_template_render(void) {
    const char *src = "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}"
                      "{% if add_generation_prompt %}<assistant>{% endif %}";
    char *out = NULL;
    size_t n = 0;
    penny_error err = {0};
    CHECK(penny_template_render(src,
                                "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}],"
                                " \"add_generation_prompt\": true}",
                                &out, &n, &err) == PENNY_OK);
    CHECKF(out && !strcmp(out, "<user>Hi<assistant>") && n == strlen(out), "'%s'", out);
    free(out);
    CHECK(penny_template_render("plain", NULL, &out, NULL, &err) == PENNY_OK &&
          !strcmp(out, "plain"));
    free(out);
    CHECK(penny_template_render(src, "{\"messages\": [", &out, NULL, &err) == PENNY_ERR_ARG &&
          !out && strstr(err.message, "JSON"));
    CHECK(penny_template_render(src, "[1]", &out, NULL, &err) == PENNY_ERR_ARG && !out);
    CHECK(penny_template_render("a\n{{ x | nosuch }}", "{}", &out, NULL, &err) != PENNY_OK &&
          strstr(err.message, "line 2"));
}

/* A model without a template chats in ChatML; BOS is not doubled. */
static void test_chat_format(const char *path) {
    penny_model *m = NULL;
    penny_error err = {0};
    if (penny_model_load(path, NULL, &m, &err)) {
        CHECKF(0, "%s", err.message);
        return;
    }
    const penny_chat_message msgs[] = {{"system", "Be brief."}, {"user", "Hi"}};
    char *out = NULL;
    CHECK(penny_chat_format(m, msgs, 2, true, &out, &err) == PENNY_OK);
    CHECKF(out && !strcmp(out, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi"
                               "<|im_end|>\n<|im_start|>assistant\n"),
           "'%s'", out);
    free(out);
    penny_token *t = NULL;
    int n = 0;
    CHECK(penny_chat_tokenize(m, "<s>Hi", true, &t, &n, &err) == PENNY_OK && n == 3 && t[0] == 1 &&
          t[1] == 320);
    free(t);
    CHECK(penny_chat_tokenize(m, "Hi", true, &t, &n, &err) == PENNY_OK && n == 3 && t[0] == 1 &&
          t[1] == 320);
    free(t);
    CHECK(penny_chat_format(NULL, msgs, 2, true, &out, &err) == PENNY_ERR_ARG);
    penny_model_free(m);
}

int main(void) {
    char buf[1024], buf2[1024], dirbuf[512];
    const char *tmp = getenv("TMPDIR");
    snprintf(dirbuf, sizeof dirbuf, "%s/penny_api_tok_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dirbuf)) {
        perror(dirbuf);
        return 1;
    }
    const char *stories = check_shared("models/stories260K.gguf", buf, sizeof buf);
    const char *llama2 = check_shared("models/llama-2-tiny-random.gguf", buf2, sizeof buf2);
    test_json(dirbuf);
    test_bad_input(dirbuf, stories);
    test_template_render();
    if (stories) {
        test_gguf(stories);
        test_chat_format(stories);
    } else {
        fprintf(stderr, "SKIP: stories260K.gguf not found (PENNY_SHARED)\n");
    }
    if (llama2)
        test_llama2_vocab(llama2);
    else
        fprintf(stderr, "SKIP: llama-2-tiny-random.gguf not found (PENNY_SHARED)\n");
    const char *names[] = {"tokenizer.json", "tokenizer_config.json", "garbage.bin", "empty.bin",
                           "broken.json",    "nomodel.json",          "bad.gguf",    "cut.gguf"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) unlink(join(dirbuf, names[i]));
    rmdir(dirbuf);
    return check_done("test_api_tokenizer");
}
