/*
 * pre.c - pre-tokenization of byte-level BPE: normalization, then regex
 * splits, per model family.
 *
 * A family's pre-tokenizer is a sequence of regular expressions, as in a
 * Hugging Face tokenizer.json "Sequence" of "Split" steps with Isolated
 * behaviour: the first pattern cuts the text into its matches and the gaps
 * between them, each of those pieces is cut again by the next pattern, and
 * so on; the final pieces are the words BPE merges within. Most families
 * use one pattern (GPT-2, Llama 3 = cl100k, Qwen 2, o200k); DeepSeek's use
 * several (digits, CJK runs, then words). The patterns are the families'
 * own, written for PCRE2 with UTF + UCP (\p{..} and \s follow Unicode, \s
 * being White_Space) and JIT-compiled. One deliberate change: the contraction
 * group "(?i:'s|'t|...)" is spelled with explicit [sS] classes, since PCRE2's
 * caseless matching would also take U+017F (long s) for "s", which the
 * reference implementations (transformers.js, llama.cpp) do not.
 *
 * Qwen's tokenizer NFC-normalizes text first (utf8proc), which llama.cpp
 * skips but Hugging Face does; penny follows Hugging Face.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <limits.h>
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "base/err.h"
#include "base/log.h"
#include "tokenizer/tok_int.h"

#define CONTRACTIONS "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
#define WS_TAIL "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

static const char GPT2[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
static const char CL100K[] = CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}"
                                          "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|" WS_TAIL;
static const char QWEN2[] = CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}"
                                         "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|" WS_TAIL;
#define UPPERISH "[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]"
#define LOWERISH "[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]"
static const char O200K[] = "[^\\r\\n\\p{L}\\p{N}]?" UPPERISH "*" LOWERISH "+" CONTRACTIONS "?"
                            "|[^\\r\\n\\p{L}\\p{N}]?" UPPERISH "+" LOWERISH "*" CONTRACTIONS "?"
                            "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|" WS_TAIL;

/* DeepSeek V3 / R1. CJK: U+4E00..9FA5 ideographs, hiragana, katakana. */
static const char DSV3_DIGITS[] = "\\p{N}{1,3}";
static const char DSV3_CJK[] = "[\\x{4E00}-\\x{9FA5}\\x{3040}-\\x{309F}\\x{30A0}-\\x{30FF}]+";
static const char DSV3_WORDS[] =
    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\p{L}\\p{P}\\p{S}]?"
    "[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\\r\\n]*|" WS_TAIL;

/* DeepSeek LLM (V1) and Coder. Their letter class lists cased-letter ranges
 * explicitly (code points, so NFC of this source can never alter them). */
static const char DSLLM_LETTERS[] =
    "\\s?[A-Za-z\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}\\x{1BC}-\\x{1BF}"
    "\\x{1C4}-\\x{293}\\x{295}-\\x{2AF}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37B}-\\x{37D}"
    "\\x{37F}\\x{386}\\x{388}-\\x{38A}\\x{38C}\\x{38E}-\\x{3A1}\\x{3A3}-\\x{3F5}\\x{3F7}-\\x{481}"
    "\\x{48A}-\\x{52F}\\x{531}-\\x{556}\\x{10A0}-\\x{10C5}\\x{13A0}-\\x{13F5}\\x{13F8}-\\x{13FD}"
    "\\x{1C90}-\\x{1CBA}\\x{1CBD}-\\x{1CBF}\\x{1D00}-\\x{1D2B}\\x{1D6B}-\\x{1D77}"
    "\\x{1D79}-\\x{1D9A}\\x{1E00}-\\x{1F15}\\x{1F18}-\\x{1F1D}\\x{1F20}-\\x{1F45}"
    "\\x{1F48}-\\x{1F4D}\\x{1F50}-\\x{1F57}\\x{1F59}\\x{1F5B}\\x{1F5D}\\x{1F5F}-\\x{1F7D}"
    "\\x{1F80}-\\x{1FB4}\\x{1FB6}-\\x{1FBC}\\x{1FBE}\\x{1FC2}-\\x{1FC4}\\x{1FC6}-\\x{1FCC}"
    "\\x{1FD0}-\\x{1FD3}\\x{1FD6}-\\x{1FDB}\\x{1FE0}-\\x{1FEC}\\x{1FF2}-\\x{1FF4}"
    "\\x{1FF6}-\\x{1FFC}\\x{2102}\\x{2107}\\x{210A}-\\x{2113}\\x{2115}\\x{2119}-\\x{211D}"
    "\\x{2124}\\x{2126}\\x{2128}\\x{212A}-\\x{212D}\\x{212F}-\\x{2134}\\x{2139}"
    "\\x{213C}-\\x{213F}\\x{2145}-\\x{2149}\\x{214E}\\x{2183}\\x{2184}\\x{2C00}-\\x{2C7B}"
    "\\x{2C7E}-\\x{2CE4}\\x{2CEB}-\\x{2CEE}\\x{2CF2}\\x{2CF3}\\x{A640}-\\x{A66D}"
    "\\x{A680}-\\x{A69B}\\x{A722}-\\x{A76F}\\x{A771}-\\x{A787}\\x{A78B}-\\x{A78E}"
    "\\x{AB70}-\\x{ABBF}\\x{FB00}-\\x{FB06}\\x{FB13}-\\x{FB17}\\x{FF21}-\\x{FF3A}"
    "\\x{FF41}-\\x{FF5A}\\x{10400}-\\x{1044F}\\x{104B0}-\\x{104D3}\\x{104D8}-\\x{104FB}"
    "\\x{10C80}-\\x{10CB2}\\x{10CC0}-\\x{10CF2}\\x{118A0}-\\x{118DF}\\x{1E900}-\\x{1E943}]+";
static const char DSLLM_PUNCT[] =
    "\\s?[!-/:-~\\x{FF01}-\\x{FF0F}\\x{FF1A}-\\x{FF5E}\\x{2018}-\\x{201F}\\x{3000}-\\x{3002}]+";
static const char DS_CJK_HANGUL[] = "[\\x{4E00}-\\x{9FA5}\\x{800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+";

typedef struct preset {
    const char *name;
    const char *re[6];
    bool nfc, ignore_merges;
} preset;

static const preset PRESETS[] = {
    {"gpt2", {GPT2}, false, false},
    {"llama-bpe", {CL100K}, false, true},
    {"llama3", {CL100K}, false, true},
    {"cl100k", {CL100K}, false, false},
    {"dbrx", {CL100K}, false, false},
    {"smaug-bpe", {CL100K}, false, false},
    {"qwen2", {QWEN2}, true, false},
    {"o200k", {O200K}, false, false},
    {"gpt-4o", {O200K}, false, false},
    {"deepseek-v3", {DSV3_DIGITS, DSV3_CJK, DSV3_WORDS}, false, false},
    {"deepseek-llm",
     {"[\\r\\n]", DSLLM_LETTERS, DSLLM_PUNCT, "\\s+$", DS_CJK_HANGUL, "\\p{N}+"},
     false,
     false},
    {"deepseek-coder",
     {"[\\r\\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", DS_CJK_HANGUL, "\\p{N}"},
     false,
     false},
};

penny_status tok_bpe_add_split(tok_bpe *b, const char *pattern, size_t len, penny_error *err) {
    if (b->n_re == TOK_MAX_SPLITS)
        return err_set(err, PENNY_ERR_UNSUPPORTED, "tokenizer: more than %d split patterns",
                       TOK_MAX_SPLITS);
    int code;
    PCRE2_SIZE at;
    pcre2_code *re =
        pcre2_compile((PCRE2_SPTR)pattern, len, PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF,
                      &code, &at, NULL);
    if (!re) {
        PCRE2_UCHAR msg[128];
        pcre2_get_error_message(code, msg, sizeof msg);
        return err_set(err, PENNY_ERR_UNSUPPORTED,
                       "tokenizer: PCRE2 rejects the split pattern at offset %zu: %s", (size_t)at,
                       (const char *)msg);
    }
    if (pcre2_jit_compile(re, PCRE2_JIT_COMPLETE) != 0)
        log_msg(LOG_DEBUG, "tokenizer: PCRE2 JIT unavailable, interpreting the split pattern");
    b->re[b->n_re++] = re;
    return PENNY_OK;
}

penny_status tok_pre_preset(tokenizer *t, const char *name, size_t len, bool *known,
                            penny_error *err) {
    *known = false;
    for (size_t i = 0; i < sizeof PRESETS / sizeof *PRESETS; i++) {
        const preset *p = &PRESETS[i];
        if (strlen(p->name) != len || memcmp(p->name, name, len) != 0) continue;
        *known = true;
        t->nfc = p->nfc;
        t->bpe->ignore_merges = p->ignore_merges;
        for (int k = 0; k < 6 && p->re[k]; k++) {
            penny_status rc = tok_bpe_add_split(t->bpe, p->re[k], strlen(p->re[k]), err);
            if (rc) return rc;
        }
        return PENNY_OK;
    }
    return PENNY_OK;
}

/* ---- NFC ---- */

/* Appends src[0..n) to the growing buffer *dst (capacity *cap). */
static bool append(char **dst, size_t *len, size_t *cap, const void *src, size_t n) {
    if (*len + n > *cap) {
        size_t c = *cap ? *cap : 64;
        while (c < *len + n) c *= 2;
        char *p = realloc(*dst, c);
        if (!p) return false;
        *dst = p;
        *cap = c;
    }
    memcpy(*dst + *len, src, n);
    *len += n;
    return true;
}

/* NFC composes within runs of valid UTF-8; invalid bytes pass through. */
penny_status tok_nfc(const char *text, size_t len, char **out, size_t *out_len, penny_error *err) {
    char *dst = NULL;
    size_t n = 0, cap = len + 1;
    if (!(dst = malloc(cap))) return err_set(err, PENNY_ERR_NOMEM, "tokenize: out of memory");
    const unsigned char *s = (const unsigned char *)text;
    for (size_t i = 0; i < len;) {
        size_t j = i + tok_utf8_check(text + i, len - i);
        if (j > i) {
            utf8proc_uint8_t *c = NULL;
            utf8proc_ssize_t k = utf8proc_map(s + i, (utf8proc_ssize_t)(j - i), &c,
                                              UTF8PROC_STABLE | UTF8PROC_COMPOSE);
            bool ok = k >= 0 && append(&dst, &n, &cap, c, (size_t)k);
            free(c);
            if (!ok) {
                free(dst);
                return err_set(err, k < 0 ? PENNY_ERR_ARG : PENNY_ERR_NOMEM, "tokenize: NFC: %s",
                               k < 0 ? utf8proc_errmsg(k) : "out of memory");
            }
        }
        if (j < len) {
            int bad = tok_utf8_next(s + j, len - j);
            size_t skip = bad < 0 ? (size_t)-bad : len - j;
            if (!append(&dst, &n, &cap, s + j, skip)) {
                free(dst);
                return err_set(err, PENNY_ERR_NOMEM, "tokenize: out of memory");
            }
            j += skip;
        }
        i = j;
    }
    *out = dst;
    *out_len = n;
    return PENNY_OK;
}

/* ---- splitting ---- */

typedef struct split_ctx {
    const tokenizer *t;
    tok_work *w;
    pcre2_match_data *md[TOK_MAX_SPLITS];
    tok_sink *out;
    penny_error *err;
} split_ctx;

/* Cuts text by pattern `level` into matches and gaps, passing each piece to
 * the next level; past the last pattern a piece is a word. */
static penny_status split_level(split_ctx *c, int level, const char *text, size_t len) {
    const tok_bpe *b = c->t->bpe;
    if (level == b->n_re) return tok_bpe_word(c->t, c->w, text, len, c->out, c->err);
    penny_status rc = PENNY_OK;
    size_t gap = 0, from = 0; /* the unmatched piece starts at gap */
    while (gap < len && !rc) {
        int r = pcre2_match(b->re[level], (PCRE2_SPTR)text, len, from, 0, c->md[level], NULL);
        if (r < 0 && r != PCRE2_ERROR_NOMATCH)
            return err_set(c->err, PENNY_ERR_UNSUPPORTED, "tokenize: PCRE2 match error %d", r);
        const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(c->md[level]);
        size_t s = r < 0 ? len : ov[0], e = r < 0 ? len : ov[1];
        if (e == s && s < len) { /* an empty match cuts nothing */
            from = s + 1;
            continue;
        }
        if (s > gap) rc = split_level(c, level + 1, text + gap, s - gap);
        if (!rc && e > s) rc = split_level(c, level + 1, text + s, e - s);
        gap = from = e;
    }
    return rc;
}

penny_status tok_bpe_encode(const tokenizer *t, tok_work *w, const char *text, size_t len,
                            tok_sink *out, penny_error *err) {
    if (len > INT_MAX / 2) return err_set(err, PENNY_ERR_ARG, "tokenize: text too long");
    split_ctx c = {t, w, {0}, out, err};
    char *norm = NULL;
    penny_status rc = PENNY_OK;
    if (t->nfc) {
        bool ascii = true;
        for (size_t i = 0; i < len && ascii; i++) ascii = (unsigned char)text[i] < 0x80;
        if (!ascii && !(rc = tok_nfc(text, len, &norm, &len, err))) text = norm;
    }
    w->use_cache = len >= 1024;
    for (int i = 0; i < t->bpe->n_re && !rc; i++)
        if (!(c.md[i] = pcre2_match_data_create_from_pattern(t->bpe->re[i], NULL)))
            rc = err_set(err, PENNY_ERR_NOMEM, "tokenize: out of memory (match data)");
    if (!rc) rc = split_level(&c, 0, text, len);
    for (int i = 0; i < t->bpe->n_re; i++) pcre2_match_data_free(c.md[i]);
    free(norm);
    return rc;
}
