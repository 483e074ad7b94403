/*
 * test_tokenizer_json.c - tokenizers built from Hugging Face tokenizer.json
 * text: hand-computed ids for small vocabularies (byte-level with a
 * sequence of splits, NFC, SentencePiece-style with byte fallback), added
 * tokens (special only on request, leftmost-longest), end-of-generation
 * tokens recognised by their text, the tokenizer_config.json fields, and
 * malformed or unsupported files, each of which must fail with a message
 * naming the field. (Real vocabularies are compared with the reference
 * implementations by test_tokenizer_corpus.sh.)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tokenizer/tokenizer.h"

/* "Ġ" (U+0120) is how byte-level vocabularies write a space; "Ã©"
 * (C3 83 C2 A9) is how they write the bytes of "é". */
#define G "\xC4\xA0"
#define E_ACUTE "\xC3\x83\xC2\xA9"

static const char BYTE_JSON[] =
    "{\"normalizer\": %s, \"pre_tokenizer\": %s, \"added_tokens\": ["
    " {\"id\": 100, \"content\": \"<|im_start|>\", \"special\": true},"
    " {\"id\": 101, \"content\": \"<|im_end|>\", \"special\": true},"
    " {\"id\": 102, \"content\": \"<|im\", \"special\": false},"
    " {\"id\": 103, \"content\": \"<|eot_id|>\", \"special\": false},"
    " {\"id\": 104, \"content\": \"<|>\", \"special\": true, \"lstrip\": true, \"rstrip\": true}],"
    " \"post_processor\": %s,"
    " \"model\": {\"type\": \"BPE\", \"vocab\": {\"" G "\": 0, \"a\": 1, \"b\": 2, \"c\": 3,"
    " \"1\": 4, \"2\": 5, \"3\": 6, \"4\": 7, \"ab\": 8, \"" G "a\": 9, \"12\": 10, \"abc\": 11,"
    " \"<\": 12, \"|\": 13, \">\": 14, \"\xC3\x83\": 15, \"\xC2\xA9\": 16, \"" E_ACUTE "\": 17,"
    " \"<EOT>\": 18},"
    " \"merges\": [\"a b\", [\"" G "\", \"a\"], \"1 2\", \"ab c\", [\"\xC3\x83\", \"\xC2\xA9\"]]}}";

static tokenizer *load_cfg(const char *norm, const char *pre, const char *post, const char *cfg) {
    char json[4096];
    snprintf(json, sizeof json, BYTE_JSON, norm, pre, post);
    tokenizer *t = NULL;
    penny_error err = {0};
    if (tok_new_json_text(json, strlen(json), cfg, cfg ? strlen(cfg) : 0, &t, &err))
        fprintf(stderr, "load: %s\n", err.message);
    return t;
}
static tokenizer *load(const char *norm, const char *pre) {
    return load_cfg(norm, pre, "null", NULL);
}

static void expect(int line, const tokenizer *t, const char *text, bool special, const int *want,
                   int n_want) {
    int32_t ids[64];
    int n = 0;
    penny_error err = {0};
    penny_status rc = tok_encode(t, text, strlen(text), false, special, ids, 64, &n, &err);
    bool ok = rc == PENNY_OK && n == n_want;
    for (int i = 0; ok && i < n; i++) ok = ids[i] == want[i];
    CHECKF(ok, "line %d: \"%s\" (special %d): got %d ids%s%s", line, text, special, n,
           rc ? ": " : "", rc ? err.message : "");
    for (int i = 0; !ok && i < n; i++) fprintf(stderr, " %d%s", ids[i], i + 1 == n ? "\n" : "");
}
#define EXPECT(t, text, special, ...)                                                              \
    do {                                                                                           \
        static const int want_[] = {__VA_ARGS__};                                                  \
        expect(__LINE__, t, text, special, want_, (int)(sizeof want_ / sizeof *want_));            \
    } while (0)

/* Digits in runs of up to three first, then words, then bytes. */
static const char DIGITS_THEN_WORDS[] =
    "{\"type\": \"Sequence\", \"pretokenizers\": ["
    "{\"type\": \"Split\", \"pattern\": {\"Regex\": \"\\\\p{N}{1,3}\"}, \"behavior\": "
    "\"Isolated\"},"
    "{\"type\": \"Split\", \"pattern\": {\"Regex\": \" ?\\\\p{L}+| "
    "?[^\\\\s\\\\p{L}\\\\p{N}]+|\\\\s+\"},"
    " \"behavior\": \"Isolated\", \"invert\": false},"
    "{\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"use_regex\": false}]}";

static void test_byte_level(void) {
    tokenizer *t = load("null", DIGITS_THEN_WORDS);
    CHECK(t != NULL);
    if (!t) return;
    EXPECT(t, "abc", false, 11);        /* a b -> ab (rank 0), ab c -> abc (rank 3) */
    EXPECT(t, "ab ab", false, 8, 0, 8); /* in " ab", "a b" (rank 0) beats "Ġ a" (rank 1) */
    EXPECT(t, "1234", false, 10, 6, 7); /* "123" | "4": merges never cross the digit split */
    EXPECT(t, "12a", false, 10, 1);
    EXPECT(t, "\xC3\xA9", false, 17);
    CHECK(tok_n_vocab(t) == 105);
    CHECK(tok_bos(t) == -1 && !tok_add_bos(t) && !tok_space_prefix(t));
    /* end of generation by text: <|im_end|> (control) and <|eot_id|>
     * (user-defined) are; the normal token "<EOT>" and <|im_start|> are not */
    CHECK(tok_is_eog(t, 101) && tok_is_eog(t, 103) && !tok_is_eog(t, 18) && !tok_is_eog(t, 100));
    CHECK(tok_chat_template(t) == NULL);
    const char *p;
    size_t n;
    tok_piece(t, 9, &p, &n);
    CHECK(n == 2 && !memcmp(p, " a", 2));
    tok_piece(t, 100, &p, &n); /* control: prints nothing */
    CHECK(n == 0);
    tok_text(t, 100, &p, &n);
    CHECK(n == 12 && !memcmp(p, "<|im_start|>", 12));
    tok_free(t);
}

static void test_specials(void) {
    tokenizer *t = load("null", DIGITS_THEN_WORDS);
    if (!t) return;
    EXPECT(t, "a<|im_start|>b", true, 1, 100, 2);
    EXPECT(t, "<|im_end|><|im", true, 101, 102); /* the longest text at a position wins */
    EXPECT(t, "<|im>", false, 102, 14);          /* user-defined: matched without --special */
    EXPECT(t, "<|im|>", true, 102, 13, 14);
    EXPECT(t, "a<|eot_id|>", false, 1, 103);
    /* lstrip + rstrip: the token takes in the spaces (and U+3000) around it */
    EXPECT(t,
           "ab  <|> \xE3\x80\x80"
           "ab",
           true, 8, 104, 8);
    EXPECT(t, "ab <|>", false, 8, 0, 12, 13, 14);
    tok_free(t);
}

static void test_nfc(void) {
    tokenizer *t = load("{\"type\": \"NFC\"}", "{\"type\": \"ByteLevel\"}");
    CHECK(t != NULL);
    if (!t) return;
    EXPECT(t, "e\xCC\x81", false, 17); /* e + combining acute composes to é */
    EXPECT(t, "\xC3\xA9", false, 17);
    tok_free(t);
}

static void test_config(void) {
    static const char CFG[] = "{\"bos_token\": {\"content\": \"<|im_start|>\"}, \"eos_token\": "
                              "\"<|im_end|>\", \"add_bos_token\": true, \"chat_template\": "
                              "[{\"name\": \"tool_use\", \"template\": \"T\"}, {\"name\": "
                              "\"default\", \"template\": \"{{ x }}\"}]}";
    tokenizer *t = load_cfg("null", "{\"type\": \"ByteLevel\"}", "null", CFG);
    CHECK(t != NULL);
    if (!t) return;
    CHECK(tok_bos(t) == 100 && tok_eos(t) == 101 && tok_add_bos(t));
    CHECK(tok_chat_template(t) && !strcmp(tok_chat_template(t), "{{ x }}"));
    int32_t ids[4];
    int n = 0;
    penny_error err = {0};
    CHECK(tok_encode(t, "ab", 2, true, false, ids, 4, &n, &err) == PENNY_OK && n == 2 &&
          ids[0] == 100 && ids[1] == 8);
    tok_free(t);
    /* without add_bos_token, a post-processor that starts with BOS adds it */
    static const char POST[] = "{\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": "
                               "{\"id\": \"<|im_start|>\", \"type_id\": 0}}, {\"Sequence\": "
                               "{\"id\": \"A\", \"type_id\": 0}}]}";
    t = load_cfg("null", "{\"type\": \"ByteLevel\"}", POST, "{\"bos_token\": \"<|im_start|>\"}");
    CHECK(t && tok_add_bos(t) && tok_bos(t) == 100);
    tok_free(t);
}

/* SentencePiece-style BPE: "▁" prefix and spaces, byte fallback, unknown. */
#define SP "\xE2\x96\x81"
static const char SPM_JSON[] =
    "{\"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"Prepend\", "
    "\"prepend\": \"" SP "\"}, {\"type\": \"Replace\", \"pattern\": {\"String\": \" \"}, "
    "\"content\": \"" SP "\"}]}, \"pre_tokenizer\": null, \"added_tokens\": [{\"id\": 0, "
    "\"content\": \"<unk>\", \"special\": true}, {\"id\": 10, \"content\": \"<s>\", \"special\": "
    "true}], \"model\": {\"type\": \"BPE\", \"byte_fallback\": true, \"unk_token\": \"<unk>\", "
    "\"vocab\": {\"<unk>\": 0, \"" SP "\": 1, \"a\": 2, \"b\": 3, \"" SP "a\": 4, \"ab\": 5, \"" SP
    "ab\": 6, \"<0xE2>\": 7, \"<0x82>\": 8, \"<0xAC>\": 9, \"<s>\": 10}, \"merges\": [\"" SP
    " a\", \"a b\", \"" SP "a b\"]}}";

static void test_spm(void) {
    tokenizer *t = NULL;
    penny_error err = {0};
    CHECKF(tok_new_json_text(SPM_JSON, strlen(SPM_JSON), NULL, 0, &t, &err) == PENNY_OK, "%s",
           err.message);
    if (!t) return;
    CHECK(tok_space_prefix(t));
    EXPECT(t, "ab", false, 6);
    EXPECT(t, "a \xE2\x82\xAC", false, 4, 1, 7, 8, 9); /* € by byte fallback */
    EXPECT(t, "x", false, 1, 0);                       /* no byte token for 'x': <unk> */
    EXPECT(t, "ab<s>ab", true, 6, 10, 6);              /* the prefix again after a special */
    const char *p;
    size_t n;
    tok_piece(t, 7, &p, &n);
    CHECK(n == 1 && (unsigned char)p[0] == 0xE2);
    tok_piece(t, 6, &p, &n);
    CHECK(n == 3 && !memcmp(p, " ab", 3));
    tok_free(t);
}

/* One malformed or unsupported file: the error must name the field. */
static void expect_fail(int line, const char *json, penny_status code, const char *needle) {
    tokenizer *t = NULL;
    penny_error err = {0};
    penny_status rc = tok_new_json_text(json, strlen(json), NULL, 0, &t, &err);
    CHECKF(rc == code && strstr(err.message, needle), "line %d: rc %d \"%s\", want %d \"%s\"", line,
           rc, err.message, code, needle);
    tok_free(t);
}
#define EXPECT_FAIL(json, code, needle) expect_fail(__LINE__, json, code, needle)

static void test_errors(void) {
    EXPECT_FAIL("{\"model\": ", PENNY_ERR_FORMAT, "invalid JSON");
    EXPECT_FAIL("{}", PENNY_ERR_FORMAT, "'model'");
    EXPECT_FAIL("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}}", PENNY_ERR_UNSUPPORTED,
                "model.type");
    EXPECT_FAIL("{\"model\": {\"type\": \"BPE\", \"merges\": []}}", PENNY_ERR_FORMAT,
                "model.vocab");
    EXPECT_FAIL("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": -1}, \"merges\": []}}",
                PENNY_ERR_FORMAT, "model.vocab");
    EXPECT_FAIL("{\"pre_tokenizer\": {\"type\": \"ByteLevel\"}, \"model\": {\"type\": \"BPE\", "
                "\"vocab\": {\"a\": 0}, \"merges\": [5]}}",
                PENNY_ERR_FORMAT, "model.merges");
    EXPECT_FAIL(
        "{\"normalizer\": {\"type\": \"NFKC\"}, \"pre_tokenizer\": {\"type\": "
        "\"ByteLevel\"}, \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}}",
        PENNY_ERR_UNSUPPORTED, "normalizer \"NFKC\"");
    EXPECT_FAIL("{\"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": "
                "\"Metaspace\"}, {\"type\": \"ByteLevel\"}]}, \"model\": {\"type\": \"BPE\", "
                "\"vocab\": {\"a\": 0}, \"merges\": []}}",
                PENNY_ERR_UNSUPPORTED, "pre-tokenizer \"Metaspace\"");
    EXPECT_FAIL(
        "{\"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": "
        "\"Split\", \"pattern\": {\"Regex\": \"(\"}, \"behavior\": \"Isolated\"}, {\"type\": "
        "\"ByteLevel\"}]}, \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}}",
        PENNY_ERR_UNSUPPORTED, "PCRE2");
    EXPECT_FAIL(
        "{\"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": "
        "\"Split\", \"pattern\": {\"String\": \"x\"}, \"behavior\": \"MergedWithNext\"}, "
        "{\"type\": \"ByteLevel\"}]}, \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, "
        "\"merges\": []}}",
        PENNY_ERR_UNSUPPORTED, "behavior");
    EXPECT_FAIL("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}}",
                PENNY_ERR_UNSUPPORTED, "neither byte-level nor SentencePiece");
    penny_error err = {0};
    tokenizer *t = NULL;
    CHECK(tok_new_json("/nonexistent/tokenizer.json", NULL, &t, &err) == PENNY_ERR_IO);
    CHECK(strstr(err.message, "/nonexistent/tokenizer.json") != NULL && t == NULL);
}

int main(void) {
    test_byte_level();
    test_specials();
    test_nfc();
    test_config();
    test_spm();
    test_errors();
    return check_done("test_tokenizer_json");
}
