/*
 * ref.c - model references and file selection for the store.
 *
 * A REF names a model on the Hub: ORG/REPO picks the repository, :QUANT or
 * /FILE.gguf the file in it. Names arrive from the command line and from a
 * remote listing alike, so both go through the same strict checks before
 * any of them becomes part of a local path. Selection works on a plain list
 * of names, which lets the Hub listing (online) and the manifest (offline)
 * resolve a REF to exactly the same files.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "store/store.h"

/* ---- names ---- */

bool store_name_ok(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > STORE_NAME_MAX || s[0] == '.' || s[0] == '-') return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr("._-", s[i])) return false;
    return true;
}

bool store_component_ok(const char *s, size_t len) {
    if (len == 0 || len > 255 || s[0] == '.') return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f || c == '/' || c == '\\') return false;
    }
    return true;
}

static bool ends_with_ci(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcasecmp(s + n - k, suffix) == 0;
}

bool store_path_ok(const char *path) {
    size_t n = strlen(path);
    if (n == 0 || n > STORE_PATH_MAX || !ends_with_ci(path, ".gguf")) return false;
    int parts = 0;
    for (const char *p = path;; parts++) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (parts >= 8 || !store_component_ok(p, len)) return false;
        if (!slash) return true;
        p = slash + 1;
    }
}

static bool quant_ok(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > STORE_QUANT_MAX) return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr("._-", s[i])) return false;
    return true;
}

/* ---- parsing ---- */

static bool has_control(const char *s) {
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f) return true;
    return false;
}

static const char *skip_host(const char *t) {
    static const char *hosts[] = {"https://huggingface.co/", "https://hf.co/", "huggingface.co/",
                                  "hf.co/"};
    for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++)
        if (!strncmp(t, hosts[i], strlen(hosts[i]))) return t + strlen(hosts[i]);
    return t;
}

/* Copies the component [p, p+len) into dst (cap bytes) when it fits. */
static bool take(char *dst, size_t cap, const char *p, size_t len) {
    if (len >= cap) return false;
    memcpy(dst, p, len);
    dst[len] = '\0';
    return true;
}

static penny_status parse_tail(const char *text, const char *rest, store_ref *r, penny_error *err) {
    char *colon = strrchr(r->repo, ':');
    if (colon && !rest) {
        *colon = '\0';
        if (!quant_ok(colon + 1))
            return err_set(err, PENNY_ERR_ARG,
                           "'%s': quantization '%s' must be letters, digits, '_', '-' or '.'", text,
                           colon + 1);
        snprintf(r->quant, sizeof r->quant, "%s", colon + 1);
    }
    if (!store_name_ok(r->org) || !store_name_ok(r->repo))
        return err_set(err, PENNY_ERR_ARG,
                       "'%s': ORG and REPO must be 1-96 letters, digits, '.', '_' or '-' "
                       "(not starting with '.' or '-')",
                       text);
    if (!rest) return PENNY_OK;
    if (!take(r->file, sizeof r->file, rest, strlen(rest)) || !store_path_ok(r->file))
        return err_set(err, PENNY_ERR_ARG,
                       "'%s': FILE must be a relative .gguf path without '..', hidden or empty "
                       "parts, or control characters",
                       text);
    return PENNY_OK;
}

penny_status store_ref_parse(const char *text, store_ref *r, penny_error *err) {
    memset(r, 0, sizeof *r);
    if (!text || !*text) return err_set(err, PENNY_ERR_ARG, "empty model reference");
    if (has_control(text))
        return err_set(err, PENNY_ERR_ARG, "model reference contains control characters");
    if (text[0] == '/')
        return err_set(err, PENNY_ERR_ARG,
                       "'%s' is an absolute path, not a model reference (ORG/REPO[:QUANT])", text);
    const char *t = skip_host(text);
    const char *s1 = strchr(t, '/');
    if (!s1)
        return err_set(err, PENNY_ERR_ARG, "'%s' is not a model reference: use ORG/REPO[:QUANT]",
                       text);
    const char *s2 = strchr(s1 + 1, '/');
    size_t repo_len = s2 ? (size_t)(s2 - s1 - 1) : strlen(s1 + 1);
    if (!take(r->org, sizeof r->org, t, (size_t)(s1 - t)) ||
        !take(r->repo, sizeof r->repo, s1 + 1, repo_len))
        return err_set(err, PENNY_ERR_ARG, "'%s': ORG and REPO are at most 96 characters", text);
    return parse_tail(text, s2 ? s2 + 1 : NULL, r, err);
}

void store_ref_format(const store_ref *r, char *buf, size_t cap) {
    if (r->file[0])
        snprintf(buf, cap, "%s/%s/%s", r->org, r->repo, r->file);
    else if (r->quant[0])
        snprintf(buf, cap, "%s/%s:%s", r->org, r->repo, r->quant);
    else
        snprintf(buf, cap, "%s/%s", r->org, r->repo);
}

/* ---- split names ---- */

/* Reads 1..6 digits ending at s[end] (exclusive), going backwards. */
static int digits_back(const char *s, size_t end, size_t *start) {
    size_t i = end;
    while (i > 0 && end - i < 6 && isdigit((unsigned char)s[i - 1])) i--;
    if (i == end) return -1;
    *start = i;
    return atoi(s + i);
}

bool store_split_name(const char *path, int *no, int *count, size_t *stem_len) {
    size_t n = strlen(path), a, b;
    if (n < 5 || strcasecmp(path + n - 5, ".gguf") != 0) return false;
    int m = digits_back(path, n - 5, &a);
    if (m < 1 || a < 4 || strncmp(path + a - 4, "-of-", 4) != 0) return false;
    int k = digits_back(path, a - 4, &b);
    if (k < 1 || k > m || b < 2 || path[b - 1] != '-') return false;
    *no = k;
    *count = m;
    *stem_len = b - 1;
    return true;
}

/* ---- selection ---- */

static bool tok_char(char c) { return isalnum((unsigned char)c) || c == '_'; }

/* QUANT appears in name as a whole token, ignoring case: "Q4_K" matches
 * "x-Q4_K.gguf" and "Q4_K/x.gguf" but not "x-Q4_K_M.gguf" or "x-IQ4_K.gguf". */
static bool has_quant(const char *name, const char *quant) {
    size_t n = strlen(name), k = strlen(quant);
    for (size_t i = 0; i + k <= n; i++) {
        if (strncasecmp(name + i, quant, k) != 0) continue;
        if ((i == 0 || !tok_char(name[i - 1])) && (i + k == n || !tok_char(name[i + k])))
            return true;
    }
    return false;
}

static bool is_projector(const char *name) {
    const char *base = strrchr(name, '/');
    return strncasecmp(base ? base + 1 : name, "mmproj", 6) == 0;
}

/* The first part of a model: any non-split file, or part 1 of a split. */
static bool is_head(const char *name) {
    int no, count;
    size_t stem;
    if (!ends_with_ci(name, ".gguf")) return false;
    return !store_split_name(name, &no, &count, &stem) || no == 1;
}

/* Appends "name, " entries of names[idx[0..k)] to buf, at most 6. */
static void list_choices(const char *const *names, const int *idx, int k, char *buf, size_t cap) {
    size_t w = 0;
    buf[0] = '\0';
    for (int i = 0; i < k && i < 6 && w < cap; i++)
        w += (size_t)snprintf(buf + w, cap - w, "%s%s", i ? ", " : "", names[idx[i]]);
    if (k > 6 && w < cap) snprintf(buf + w, cap - w, " (and %d more)", k - 6);
}

/* All parts of the model whose part is names[at], part 1 first. */
static penny_status collect(const char *const *names, int n, int at, int *picked, int *n_picked,
                            penny_error *err) {
    int no, count;
    size_t stem;
    *n_picked = 0;
    if (!store_split_name(names[at], &no, &count, &stem)) {
        picked[(*n_picked)++] = at;
        return PENNY_OK;
    }
    for (int want = 1; want <= count; want++) {
        int found = -1;
        for (int i = 0; i < n && found < 0; i++) {
            int k, c;
            size_t s;
            if (store_split_name(names[i], &k, &c, &s) && k == want && c == count && s == stem &&
                !strncmp(names[i], names[at], stem))
                found = i;
        }
        if (found < 0 || *n_picked >= n)
            return err_set(err, PENNY_ERR_FORMAT, "split model %.*s: part %d of %d is missing",
                           (int)stem, names[at], want, count);
        picked[(*n_picked)++] = found;
    }
    return PENNY_OK;
}

/* Narrows heads[0..*k) to those for which keep() holds, when any does. */
static void prefer(const char *const *names, int *heads, int *k,
                   bool (*keep)(const char *, const void *), const void *arg) {
    int j = 0;
    for (int i = 0; i < *k; i++)
        if (keep(names[heads[i]], arg)) heads[j++] = heads[i];
    if (j > 0) *k = j;
}

static bool not_projector(const char *name, const void *arg) {
    return (void)arg, !is_projector(name);
}
static bool quant_pred(const char *name, const void *arg) { return has_quant(name, arg); }

static penny_status pick_file(const store_ref *r, const char *const *names, int n, int *picked,
                              int *n_picked, penny_error *err) {
    for (int i = 0; i < n; i++)
        if (!strcmp(names[i], r->file)) return collect(names, n, i, picked, n_picked, err);
    return err_set(err, PENNY_ERR_RANGE, "%s/%s has no file '%s'", r->org, r->repo, r->file);
}

penny_status store_select(const store_ref *r, const char *const *names, int n, int *picked,
                          int *n_picked, penny_error *err) {
    *n_picked = 0;
    if (r->file[0]) return pick_file(r, names, n, picked, n_picked, err);
    int *heads = malloc(sizeof *heads * (size_t)(n ? n : 1)), k = 0;
    if (!heads) return err_set(err, PENNY_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n; i++)
        if (is_head(names[i]) && (!r->quant[0] || has_quant(names[i], r->quant))) heads[k++] = i;
    penny_status rc = PENNY_OK;
    char choices[360];
    if (k == 0 && r->quant[0])
        rc = err_set(err, PENNY_ERR_RANGE, "%s/%s has no .gguf file for quantization %s", r->org,
                     r->repo, r->quant);
    else if (k == 0)
        rc = err_set(err, PENNY_ERR_RANGE, "%s/%s has no .gguf files", r->org, r->repo);
    if (k == 0) goto done;
    prefer(names, heads, &k, not_projector, NULL);
    if (k > 1 && !r->quant[0]) prefer(names, heads, &k, quant_pred, "Q4_K_M");
    if (k > 1 && !r->quant[0] && !has_quant(names[heads[0]], "Q4_K_M")) {
        list_choices(names, heads, k, choices, sizeof choices);
        rc = err_set(err, PENNY_ERR_ARG, "%s/%s has %d models; pick one with :QUANT or /FILE: %s",
                     r->org, r->repo, k, choices);
    } else if (k > 1) {
        list_choices(names, heads, k, choices, sizeof choices);
        rc = err_set(err, PENNY_ERR_ARG, "%s/%s: several models match; pick one with /FILE: %s",
                     r->org, r->repo, choices);
    } else
        rc = collect(names, n, heads[0], picked, n_picked, err);
done:
    free(heads);
    return rc;
}
