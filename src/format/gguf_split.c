/*
 * gguf_split.c - one model stored as several GGUF files.
 *
 * Large models on the Hub come split into NAME-00001-of-0000N.gguf ...
 * NAME-0000N-of-0000N.gguf: every part is a complete GGUF file carrying
 * split.no (0-based), split.count and split.tensors.count; the first part
 * holds the model's metadata, and the tensors are spread over the parts
 * with each tensor wholly inside one. gguf_split_open maps every part and
 * answers tensor lookups across all of them, so a loader binds weights the
 * same way whether the model came in one file or many. A plain file opens
 * as a split of one. gguf_split_write makes such parts from one file (for
 * tests today, and a future `penny split`).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "format/gguf.h"

struct gguf_split {
    gguf_file **parts; /* n, in split.no order */
    int n;
    int64_t n_tensors;
};

/* Reads split.no and split.count; a file without them is part 0 of 1. */
static penny_status split_keys(const gguf_file *g, uint32_t *no, uint32_t *count,
                               penny_error *err) {
    *no = 0;
    *count = 1;
    penny_status rc = gguf_get_u32(g, "split.count", count, err);
    if (rc == PENNY_ERR_RANGE) return *count = 1, PENNY_OK;
    if (rc) return rc;
    rc = gguf_get_u32(g, "split.no", no, err);
    if (rc == PENNY_ERR_RANGE)
        return err_set(err, PENNY_ERR_FORMAT, "%s: split.count is set but split.no is missing",
                       gguf_path(g));
    if (rc) return rc;
    if (*count < 1 || *count > 9999 || *no >= *count)
        return err_set(err, PENNY_ERR_FORMAT, "%s: split.no %u / split.count %u is out of range",
                       gguf_path(g), *no, *count);
    return PENNY_OK;
}

/* Length of path before "-NNNNN-of-MMMMM.gguf" naming part no+1 of count; 0 if it does not. */
static size_t part_prefix(const char *path, uint32_t no, uint32_t count) {
    char tail[64];
    snprintf(tail, sizeof tail, "-%05u-of-%05u.gguf", no + 1, count);
    size_t n = strlen(path), k = strlen(tail);
    return n > k && !strcmp(path + n - k, tail) ? n - k : 0;
}

static penny_status check_part(const gguf_split *s, int i, uint32_t count, penny_error *err) {
    uint32_t no, c;
    penny_status rc = split_keys(s->parts[i], &no, &c, err);
    if (rc) return rc;
    if (c != count || no != (uint32_t)i)
        return err_set(err, PENNY_ERR_FORMAT,
                       "%s: split.no %u / split.count %u, expected part %d of %u",
                       gguf_path(s->parts[i]), no, c, i, count);
    return PENNY_OK;
}

/* Every tensor name once across the parts; the total matches split.tensors.count. */
static penny_status check_tensors(gguf_split *s, penny_error *err) {
    s->n_tensors = 0;
    for (int i = 0; i < s->n; i++) {
        for (int64_t t = 0; t < gguf_tensor_count(s->parts[i]); t++) {
            const gguf_tensor *x = gguf_tensor_at(s->parts[i], t);
            char name[256];
            snprintf(name, sizeof name, "%.*s", (int)(x->name.len < 255 ? x->name.len : 255),
                     x->name.ptr);
            for (int j = 0; j < i; j++)
                if (gguf_find_tensor(s->parts[j], name))
                    return err_set(err, PENNY_ERR_FORMAT, "%s: tensor '%s' is also in %s",
                                   gguf_path(s->parts[i]), name, gguf_path(s->parts[j]));
        }
        s->n_tensors += gguf_tensor_count(s->parts[i]);
    }
    int64_t want;
    penny_status rc = gguf_get_i64(s->parts[0], "split.tensors.count", &want, err);
    if (rc == PENNY_ERR_RANGE || (!rc && want == s->n_tensors)) return PENNY_OK;
    if (rc) return rc;
    return err_set(err, PENNY_ERR_FORMAT, "%s: split.tensors.count is %lld but the parts hold %lld",
                   gguf_path(s->parts[0]), (long long)want, (long long)s->n_tensors);
}

/* Opens the other count-1 parts next to first (part `no`, already open). */
static penny_status open_parts(gguf_split *s, gguf_file *first, uint32_t no, uint32_t count,
                               bool populate, penny_error *err) {
    const char *path = gguf_path(first);
    size_t pre = part_prefix(path, no, count);
    if (!pre) {
        penny_status rc = err_set(err, PENNY_ERR_FORMAT,
                                  "%s: part %u of a %u-part model, but its name does not end in "
                                  "-%05u-of-%05u.gguf, so the other parts cannot be found",
                                  path, no + 1, count, no + 1, count);
        gguf_close(first); /* path pointed into it */
        return rc;
    }
    s->parts[no] = first;
    for (uint32_t i = 0; i < count; i++) {
        if (i == no) continue;
        char name[4096];
        snprintf(name, sizeof name, "%.*s-%05u-of-%05u.gguf", (int)pre, path, i + 1, count);
        penny_status rc = gguf_open(name, populate, &s->parts[i], err);
        if (rc) return err_prefix(err, "part %u of %u", i + 1, count), rc;
    }
    return PENNY_OK;
}

penny_status gguf_split_open(const char *path, bool populate, gguf_split **out, penny_error *err) {
    *out = NULL;
    gguf_file *first;
    uint32_t no, count;
    penny_status rc = gguf_open(path, populate, &first, err);
    if (rc) return rc;
    if ((rc = split_keys(first, &no, &count, err))) return gguf_close(first), rc;
    gguf_split *s = calloc(1, sizeof *s);
    if (s) s->parts = calloc(count, sizeof *s->parts);
    if (!s || !s->parts) {
        free(s);
        gguf_close(first);
        return err_set(err, PENNY_ERR_NOMEM, "out of memory");
    }
    s->n = (int)count;
    if (count == 1)
        s->parts[0] = first;
    else
        rc = open_parts(s, first, no, count, populate, err);
    for (int i = 0; !rc && count > 1 && i < s->n; i++) rc = check_part(s, i, count, err);
    if (!rc) rc = check_tensors(s, err);
    if (rc) return gguf_split_close(s), rc;
    *out = s;
    return PENNY_OK;
}

void gguf_split_close(gguf_split *s) {
    if (!s) return;
    for (int i = 0; i < s->n; i++) gguf_close(s->parts[i]);
    free(s->parts);
    free(s);
}

int gguf_split_count(const gguf_split *s) { return s->n; }
const gguf_file *gguf_split_part(const gguf_split *s, int i) { return s->parts[i]; }
int64_t gguf_split_tensor_count(const gguf_split *s) { return s->n_tensors; }

const gguf_tensor *gguf_split_tensor_at(const gguf_split *s, int64_t i) {
    for (int p = 0; p < s->n; p++) {
        int64_t n = gguf_tensor_count(s->parts[p]);
        if (i < n) return gguf_tensor_at(s->parts[p], i);
        i -= n;
    }
    return NULL;
}

const gguf_tensor *gguf_split_find_tensor(const gguf_split *s, const char *name) {
    for (int i = 0; i < s->n; i++) {
        const gguf_tensor *t = gguf_find_tensor(s->parts[i], name);
        if (t) return t;
    }
    return NULL;
}

/* ---- writing ---- */

static penny_status set_split_keys(gguf_writer *w, int i, int n, int64_t n_tensors) {
    gguf_value no = {.type = GGUF_U16, .v.u = (uint64_t)i};
    gguf_value count = {.type = GGUF_U16, .v.u = (uint64_t)n};
    penny_status rc = gguf_writer_set_value(w, "split.no", &no);
    if (!rc) rc = gguf_writer_set_value(w, "split.count", &count);
    if (!rc) rc = gguf_writer_set_i32(w, "split.tensors.count", (int32_t)n_tensors);
    return rc;
}

/* Part i: the metadata when i == 0, the split keys, tensors [t0, t1). */
static penny_status write_part(const gguf_file *src, int i, int n, int64_t t0, int64_t t1,
                               const char *prefix, penny_error *err) {
    gguf_writer *w;
    penny_status rc = gguf_writer_new(&w, err);
    if (rc) return rc;
    if (i == 0) gguf_writer_copy_kvs(w, src);
    set_split_keys(w, i, n, gguf_tensor_count(src));
    for (int64_t t = t0; t < t1; t++) {
        const gguf_tensor *x = gguf_tensor_at(src, t);
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)(x->name.len < 255 ? x->name.len : 255),
                 x->name.ptr);
        gguf_writer_add_tensor(w, name, x->type, (int)x->n_dims, x->ne, x->data);
    }
    char path[4096];
    snprintf(path, sizeof path, "%s-%05d-of-%05d.gguf", prefix, i + 1, n);
    rc = gguf_writer_save(w, path, err); /* reports any failure of the calls above */
    gguf_writer_free(w);
    return rc;
}

penny_status gguf_split_write(const gguf_file *src, int n_parts, const char *prefix,
                              penny_error *err) {
    int64_t nt = gguf_tensor_count(src);
    if (n_parts < 1 || n_parts > 9999 || (nt > 0 && n_parts > nt))
        return err_set(err, PENNY_ERR_ARG, "cannot split %lld tensors into %d parts", (long long)nt,
                       n_parts);
    for (int i = 0; i < n_parts; i++) {
        penny_status rc =
            write_part(src, i, n_parts, nt * i / n_parts, nt * (i + 1) / n_parts, prefix, err);
        if (rc) return rc;
    }
    return PENNY_OK;
}
