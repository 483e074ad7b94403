/*
 * fuzz_tokenizer.c - libFuzzer target for the tokenizer and its
 * tokenizer.json loader.
 *
 * The first input byte picks what the rest is: with its top bit set, the
 * text of a tokenizer.json (and whatever loads is then used to encode and
 * decode a sample); otherwise text to encode with one of three small
 * tokenizers built at start-up (byte-level BPE with a DeepSeek-style
 * sequence of splits, the same with NFC and Qwen's pattern, and
 * SentencePiece-style BPE with byte fallback), with special-token parsing
 * on or off. Besides memory errors, the target aborts when decoding the ids
 * of the plain byte-level tokenizer does not give back the input bytes.
 *
 *   make fuzz && build-fuzz/fuzz_tokenizer -max_total_time=60 fuzz/corpus/tokenizer
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer.h"

static tokenizer *g_tok[3];

/* GPT-2's byte-to-code-point map, for writing a byte-level vocabulary. */
static int byte_cp(int b) {
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)) return b;
    int extra = 0;
    for (int i = 0; i < b; i++)
        if (!((i >= 33 && i <= 126) || (i >= 161 && i <= 172) || (i >= 174 && i <= 255))) extra++;
    return 256 + extra;
}

static size_t put_cp(char *d, int cp) {
    if (cp < 0x80) return d[0] = (char)cp, 1;
    d[0] = (char)(0xC0 | (cp >> 6));
    d[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
}

/* A byte-level tokenizer.json: 256 byte tokens, a few merges, specials. */
static char *byte_level_json(const char *pre, const char *normalizer) {
    size_t cap = 1 << 16, n = 0;
    char *j = malloc(cap);
    if (!j) abort();
    n += (size_t)snprintf(j, cap,
                          "{\"normalizer\": %s, \"pre_tokenizer\": %s, \"added_tokens\": ["
                          "{\"id\": 300, \"content\": \"<|im_start|>\", \"special\": true},"
                          "{\"id\": 301, \"content\": \"<think>\", \"special\": false}],"
                          "\"model\": {\"type\": \"BPE\", \"vocab\": {",
                          normalizer, pre);
    for (int b = 0; b < 256; b++) {
        char s[3] = {0};
        put_cp(s, byte_cp(b));
        n += (size_t)snprintf(j + n, cap - n, "%s\"%s%s\": %d", b ? ", " : "",
                              b == '"' || b == '\\' ? "\\" : "", s, b);
    }
    n += (size_t)snprintf(
        j + n, cap - n,
        ", \"\xC4\xA0t\": 256, \"he\": 257, \"\xC4\xA0the\": 258, \"12\": 259},"
        " \"merges\": [\"\xC4\xA0 t\", \"h e\", \"\xC4\xA0t he\", [\"1\", \"2\"]]}}");
    return j;
}

static char *spm_json(void) {
    size_t cap = 1 << 15, n = 0;
    char *j = malloc(cap);
    if (!j) abort();
    n += (size_t)snprintf(
        j, cap,
        "{\"normalizer\": {\"type\": \"Sequence\", \"normalizers\": ["
        "{\"type\": \"Prepend\", \"prepend\": \"\xE2\x96\x81\"}, {\"type\": "
        "\"Replace\", \"pattern\": {\"String\": \" \"}, \"content\": "
        "\"\xE2\x96\x81\"}]}, \"added_tokens\": [{\"id\": 0, \"content\": "
        "\"<unk>\", \"special\": true}], \"model\": {\"type\": \"BPE\", "
        "\"byte_fallback\": true, \"unk_token\": \"<unk>\", \"vocab\": {\"<unk>\": 0");
    for (int b = 0; b < 256; b++)
        n += (size_t)snprintf(j + n, cap - n, ", \"<0x%02X>\": %d", b, b + 1);
    snprintf(j + n, cap - n,
             ", \"\xE2\x96\x81\": 257, \"a\": 258, \"b\": 259, \"\xE2\x96\x81"
             "a\": 260, "
             "\"ab\": 261}, \"merges\": [\"\xE2\x96\x81 a\", \"a b\"]}}");
    return j;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    static const char *const DS_PRE =
        "{\"type\": \"Sequence\", \"pretokenizers\": ["
        "{\"type\": \"Split\", \"pattern\": {\"Regex\": \"\\\\p{N}{1,3}\"}, \"behavior\": "
        "\"Isolated\"},"
        "{\"type\": \"Split\", \"pattern\": {\"Regex\": \"[\\u4e00-\\u9fa5]+\"}, \"behavior\": "
        "\"Isolated\"},"
        "{\"type\": \"Split\", \"pattern\": {\"Regex\": "
        "\"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+| "
        "?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+\"}, "
        "\"behavior\": \"Isolated\"},"
        "{\"type\": \"ByteLevel\", \"use_regex\": false}]}";
    char *texts[3] = {byte_level_json(DS_PRE, "null"),
                      byte_level_json("{\"type\": \"ByteLevel\"}", "{\"type\": \"NFC\"}"),
                      spm_json()};
    for (int i = 0; i < 3; i++) {
        penny_error err;
        if (tok_new_json_text(texts[i], strlen(texts[i]), NULL, 0, &g_tok[i], &err)) {
            fprintf(stderr, "fuzz_tokenizer: tokenizer %d: %s\n", i, err.message);
            abort();
        }
        free(texts[i]);
    }
    return 0;
}

/* Encodes and decodes text; for the plain byte-level tokenizer without
 * special parsing, the pieces must give the input back. */
static void encode(const tokenizer *t, const uint8_t *text, size_t len, bool special, bool exact) {
    int cap = (int)(2 * len + 2), n = 0;
    int32_t *ids = malloc((size_t)cap * sizeof *ids);
    penny_error err;
    if (!ids || tok_encode(t, (const char *)text, len, true, special, ids, cap, &n, &err)) {
        free(ids);
        return;
    }
    size_t at = 0;
    bool same = true;
    tok_stream *s = NULL;
    if (tok_stream_new(t, &s, &err) == PENNY_OK) {
        for (int i = 0; i < n; i++) (void)tok_stream_push(s, ids[i]);
        (void)tok_stream_flush(s);
        tok_stream_free(s);
    }
    for (int i = 0; i < n && same; i++) {
        const char *p;
        size_t k;
        tok_piece(t, ids[i], &p, &k);
        same = at + k <= len && memcmp(text + at, p, k) == 0;
        at += k;
    }
    if (exact && (!same || at != len)) abort();
    free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    uint8_t mode = data[0];
    data++, size--;
    if (mode & 0x80) {
        tokenizer *t = NULL;
        penny_error err;
        if (tok_new_json_text((const char *)data, size, NULL, 0, &t, &err) == PENNY_OK) {
            static const char sample[] =
                "Hello world 12345 <|im_start|> caf\xC3\xA9 \xF0\x9F\x98\x80\xFF";
            encode(t, (const uint8_t *)sample, sizeof sample - 1, mode & 1, false);
            tok_free(t);
        }
        return 0;
    }
    int which = mode % 3;
    bool special = mode & 0x40;
    encode(g_tok[which], data, size, special, which == 0 && !special);
    return 0;
}
