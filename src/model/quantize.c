/*
 * quantize.c - `penny quantize`: rewrites a GGUF model (F32, F16 or BF16
 * weights) with its matrices in another type, keeping every metadata pair.
 *
 * The writer (format/gguf.h) copies tensor bytes from the caller's buffers
 * at save time, which would mean holding the whole output in memory. To
 * keep memory at one tensor, the file is first saved with zero-filled
 * tensors under a temporary name, reopened to learn where each tensor
 * landed, and then filled in tensor by tensor; the rename to the final name
 * comes last, so out never holds a partial file. Rows of a tensor are
 * converted in parallel on the pool, each thread with its own row of
 * scratch floats.
 */
#include "model/quantize.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "base/log.h"
#include "base/pool.h"
#include "format/gguf.h"
#include "kernels/types.h"

/* general.file_type values of the GGUF ecosystem (the "ftype" of a file). */
enum {
    FT_F32 = 0,
    FT_F16 = 1,
    FT_Q4_0 = 2,
    FT_Q8_0 = 7,
    FT_Q4_K_S = 14,
    FT_Q4_K_M = 15,
    FT_Q5_K_S = 16,
    FT_Q5_K_M = 17,
    FT_Q6_K = 18,
    FT_BF16 = 32
};

static const quant_scheme g_schemes[] = {
    {"F32", TYPE_F32, TYPE_F32, FT_F32},         {"F16", TYPE_F16, TYPE_F16, FT_F16},
    {"BF16", TYPE_BF16, TYPE_BF16, FT_BF16},     {"Q8_0", TYPE_Q8_0, TYPE_Q8_0, FT_Q8_0},
    {"Q4_0", TYPE_Q4_0, TYPE_Q4_0, FT_Q4_0},     {"Q4_K", TYPE_Q4_K, TYPE_Q4_K, FT_Q4_K_S},
    {"Q5_K", TYPE_Q5_K, TYPE_Q5_K, FT_Q5_K_S},   {"Q6_K", TYPE_Q6_K, TYPE_Q6_K, FT_Q6_K},
    {"Q4_K_M", TYPE_Q4_K, TYPE_Q6_K, FT_Q4_K_M}, {"Q5_K_M", TYPE_Q5_K, TYPE_Q6_K, FT_Q5_K_M},
};
#define N_SCHEMES (sizeof g_schemes / sizeof g_schemes[0])

/* ---- policy ---- */

const quant_scheme *quant_scheme_find(const char *name) {
    for (size_t i = 0; name && i < N_SCHEMES; i++)
        if (!strcmp(g_schemes[i].name, name)) return &g_schemes[i];
    return NULL;
}

const char *quant_scheme_names(void) {
    return "F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K, Q4_K_M, Q5_K_M";
}

/* The first and last eighth of the layers, where errors do the most harm,
 * and every third layer in between: a little over a third of all layers.
 * This is the selection llama.cpp's _M mixes use, kept so that penny's
 * Q4_K_M files have the same size and speed as theirs. */
bool quant_more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

/* Layer index of "blk.N.rest" and a pointer to rest; -1 for other names. */
static int layer_of(const char *name, const char **rest) {
    if (strncmp(name, "blk.", 4) != 0) return -1;
    char *end;
    long l = strtol(name + 4, &end, 10);
    if (end == name + 4 || *end != '.' || l < 0 || l > 100000) return -1;
    *rest = end + 1;
    return (int)l;
}

static bool is_sensitive(const char *name, int n_layers, bool has_output) {
    if (!strcmp(name, "output.weight")) return true;
    if (!has_output && !strcmp(name, "token_embd.weight")) return true; /* tied: also the output */
    const char *rest;
    int l = layer_of(name, &rest);
    if (l < 0 || !quant_more_bits(l, n_layers)) return false;
    return !strcmp(rest, "attn_v.weight") || !strcmp(rest, "ffn_down.weight") ||
           !strcmp(rest, "ffn_down_exps.weight");
}

static bool fits(uint32_t type, int64_t ne0) { return ne0 % type_get(type)->block_size == 0; }

uint32_t quant_tensor_type(const quant_scheme *s, const char *name, uint32_t src_type, int n_dims,
                           int64_t ne0, int n_layers, bool has_output) {
    if (n_dims < 2) return TYPE_F32;
    uint32_t t = s->more != s->base && is_sensitive(name, n_layers, has_output) ? s->more : s->base;
    if (fits(t, ne0)) return t;
    return fits(TYPE_Q8_0, ne0) ? TYPE_Q8_0 : src_type;
}

/* ---- the plan: every tensor's output type, sizes, layer count ---- */

typedef struct plan {
    int64_t n;
    uint32_t *types;   /* output type per tensor */
    uint64_t in_total; /* input tensor bytes */
    uint64_t max_out;  /* largest output tensor */
    int64_t max_ne0;
    int n_fallback; /* matrices that could not take the scheme's type */
} plan;

/* Tensor names are copied into 256-byte buffers below. */
static penny_status check_input(const gguf_file *g, penny_error *err) {
    for (int64_t i = 0; i < gguf_tensor_count(g); i++) {
        const gguf_tensor *t = gguf_tensor_at(g, i);
        if (t->name.len > 255)
            return err_set(err, PENNY_ERR_UNSUPPORTED, "%s: tensor %lld has a name of %llu bytes",
                           gguf_path(g), (long long)i, (unsigned long long)t->name.len);
        if (t->type != TYPE_F32 && t->type != TYPE_F16 && t->type != TYPE_BF16)
            return err_set(err, PENNY_ERR_UNSUPPORTED,
                           "%s: tensor '%.*s' is %s: quantize needs a model with F32, F16 or "
                           "BF16 weights (re-quantizing quantized weights loses quality)",
                           gguf_path(g), (int)t->name.len, t->name.ptr, type_name(t->type));
    }
    return PENNY_OK;
}

static void model_shape(const gguf_file *g, int *n_layers, bool *has_output) {
    *n_layers = 0;
    *has_output = gguf_find_tensor(g, "output.weight") != NULL;
    for (int64_t i = 0; i < gguf_tensor_count(g); i++) {
        const gguf_tensor *t = gguf_tensor_at(g, i);
        char name[256];
        const char *rest;
        snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.ptr);
        int l = layer_of(name, &rest);
        if (l >= *n_layers) *n_layers = l + 1;
    }
}

static penny_status make_plan(const gguf_file *g, const quant_scheme *s, plan *p,
                              penny_error *err) {
    int n_layers;
    bool has_output;
    model_shape(g, &n_layers, &has_output);
    p->n = gguf_tensor_count(g);
    p->types = calloc((size_t)p->n + 1, sizeof *p->types);
    if (!p->types) return err_set(err, PENNY_ERR_NOMEM, "%s: out of memory", gguf_path(g));
    for (int64_t i = 0; i < p->n; i++) {
        const gguf_tensor *t = gguf_tensor_at(g, i);
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.ptr);
        uint32_t ty =
            quant_tensor_type(s, name, t->type, (int)t->n_dims, t->ne[0], n_layers, has_output);
        uint32_t want = t->n_dims < 2 ? TYPE_F32 : s->base;
        p->n_fallback += ty != want && ty != s->more;
        p->types[i] = ty;
        uint64_t out_bytes =
            type_row_size(ty, t->ne[0]) * (t->nbytes / type_row_size(t->type, t->ne[0]));
        if (out_bytes > p->max_out) p->max_out = out_bytes;
        if (t->ne[0] > p->max_ne0) p->max_ne0 = t->ne[0];
        p->in_total += t->nbytes;
    }
    return PENNY_OK;
}

/* ---- the output skeleton: metadata and zero-filled tensors ---- */

static penny_status build_skeleton(const gguf_file *g, const quant_scheme *s, const plan *p,
                                   const void *zeros, const char *path, penny_error *err) {
    gguf_writer *w = NULL;
    penny_status rc = gguf_writer_new(&w, err);
    if (rc) return rc;
    rc = gguf_writer_copy_kvs(w, g);
    if (!rc) rc = gguf_writer_set_u32(w, "general.file_type", s->file_type);
    bool quantized = s->base != TYPE_F32 && s->base != TYPE_F16 && s->base != TYPE_BF16;
    if (!rc && quantized) rc = gguf_writer_set_u32(w, "general.quantization_version", 2);
    for (int64_t i = 0; !rc && i < p->n; i++) {
        const gguf_tensor *t = gguf_tensor_at(g, i);
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.ptr);
        rc = gguf_writer_add_tensor(w, name, p->types[i], (int)t->n_dims, t->ne, zeros);
    }
    /* a failed set/add is recorded by the writer and reported by save */
    rc = gguf_writer_save(w, path, err);
    gguf_writer_free(w);
    return rc;
}

/* ---- converting one tensor ---- */

typedef struct conv_job {
    const uint8_t *src;
    const type_traits *st, *dt;
    int64_t ne0, rows;
    size_t src_row, dst_row;
    uint8_t *dst;
    float *scratch; /* ne0 floats per thread */
} conv_job;

static void conv_rows(void *arg, int ith, int nth) {
    const conv_job *j = arg;
    long lo, hi;
    pool_range((long)j->rows, ith, nth, &lo, &hi);
    float *x = j->scratch + (size_t)ith * (size_t)j->ne0;
    for (long r = lo; r < hi; r++) {
        j->st->to_f32(j->src + (size_t)r * j->src_row, x, j->ne0);
        j->dt->from_f32(x, j->dst + (size_t)r * j->dst_row, j->ne0);
    }
}

/* Converts tensor t into buf and writes it at byte offset off of f. */
static penny_status convert_tensor(pool *pl, const gguf_tensor *t, uint32_t type, uint8_t *buf,
                                   float *scratch, FILE *f, uint64_t off, const char *path,
                                   penny_error *err) {
    conv_job j = {.src = t->data, .st = type_get(t->type), .dt = type_get(type), .ne0 = t->ne[0]};
    j.src_row = type_row_size(t->type, t->ne[0]);
    j.dst_row = type_row_size(type, t->ne[0]);
    j.rows = (int64_t)(t->nbytes / j.src_row);
    j.dst = buf, j.scratch = scratch;
    pool_run(pl, conv_rows, &j);
    size_t n = j.dst_row * (size_t)j.rows;
    if (fseeko(f, (off_t)off, SEEK_SET) != 0 || fwrite(buf, 1, n, f) != n)
        return err_set(err, PENNY_ERR_IO, "%s: cannot write tensor '%.*s': %s", path,
                       (int)t->name.len, t->name.ptr, strerror(errno));
    return PENNY_OK;
}

/* Where each tensor of the skeleton at path starts, in file bytes. */
static penny_status tensor_offsets(const char *path, const plan *p, uint64_t *offs,
                                   penny_error *err) {
    gguf_file *o = NULL;
    penny_status rc = gguf_open(path, false, &o, err);
    if (rc) return rc;
    if (gguf_tensor_count(o) != p->n)
        rc = err_set(err, PENNY_ERR_FORMAT, "%s: reopened file has a different tensor count", path);
    for (int64_t i = 0; !rc && i < p->n; i++)
        offs[i] = gguf_data_offset(o) + gguf_tensor_at(o, i)->offset;
    gguf_close(o);
    return rc;
}

typedef struct qstate {
    gguf_file *g;
    plan p;
    uint8_t *buf;
    float *scratch;
    uint64_t *offs;
    pool *pool;
    FILE *f;
    char *tmp;
} qstate;

static penny_status fill_tensors(qstate *q, penny_quantize_progress cb, void *user,
                                 penny_error *err) {
    FILE *f = fopen(q->tmp, "r+b");
    if (!f) return err_set(err, PENNY_ERR_IO, "%s: cannot open: %s", q->tmp, strerror(errno));
    q->f = f;
    uint64_t done = 0;
    for (int64_t i = 0; i < q->p.n; i++) {
        const gguf_tensor *t = gguf_tensor_at(q->g, i);
        penny_status rc = convert_tensor(q->pool, t, q->p.types[i], q->buf, q->scratch, f,
                                         q->offs[i], q->tmp, err);
        if (rc) return rc;
        done += t->nbytes;
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.ptr);
        penny_quantize_event ev = {name,         type_name(q->p.types[i]), i + 1, q->p.n, done,
                                   q->p.in_total};
        if (cb) cb(user, &ev);
    }
    bool ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
    q->f = NULL;
    ok = (fclose(f) == 0) && ok;
    if (!ok) return err_set(err, PENNY_ERR_IO, "%s: cannot write: %s", q->tmp, strerror(errno));
    return PENNY_OK;
}

/* A fresh name next to out for the file under construction. */
static penny_status make_tmp(const char *out, char **tmp, penny_error *err) {
    size_t n = strlen(out) + 24;
    *tmp = malloc(n);
    if (!*tmp) return err_set(err, PENNY_ERR_NOMEM, "%s: out of memory", out);
    snprintf(*tmp, n, "%s.quantize.XXXXXX", out);
    int fd = mkstemp(*tmp);
    if (fd < 0) {
        free(*tmp), *tmp = NULL;
        return err_set(err, PENNY_ERR_IO, "%s: cannot create a file next to it: %s", out,
                       strerror(errno));
    }
    close(fd);
    return PENNY_OK;
}

static penny_status setup(qstate *q, const char *in, const char *out, const quant_scheme *s,
                          int n_threads, penny_error *err) {
    penny_status rc = gguf_open(in, false, &q->g, err);
    if (!rc) rc = check_input(q->g, err);
    if (!rc) rc = make_plan(q->g, s, &q->p, err);
    if (!rc) rc = pool_new(n_threads, &q->pool, err);
    if (rc) return rc;
    size_t nth = (size_t)pool_size(q->pool);
    q->buf = calloc(q->p.max_out + 1, 1);
    q->scratch = malloc((size_t)q->p.max_ne0 * nth * sizeof(float) + 1);
    q->offs = malloc((size_t)q->p.n * sizeof *q->offs + 1);
    if (!q->buf || !q->scratch || !q->offs)
        return err_set(err, PENNY_ERR_NOMEM, "%s: out of memory (largest tensor %llu bytes)", in,
                       (unsigned long long)q->p.max_out);
    return make_tmp(out, &q->tmp, err);
}

penny_status quant_model(const char *in, const char *out, const quant_scheme *s, int n_threads,
                         penny_quantize_progress cb, void *user, penny_error *err) {
    qstate q = {0};
    penny_status rc = setup(&q, in, out, s, n_threads, err);
    if (!rc) rc = build_skeleton(q.g, s, &q.p, q.buf, q.tmp, err);
    if (!rc) rc = tensor_offsets(q.tmp, &q.p, q.offs, err);
    if (!rc) rc = fill_tensors(&q, cb, user, err);
    if (!rc && rename(q.tmp, out) != 0)
        rc = err_set(err, PENNY_ERR_IO, "%s: cannot rename %s to it: %s", out, q.tmp,
                     strerror(errno));
    if (!rc && q.p.n_fallback)
        log_msg(LOG_WARN,
                "quantize: %d matrices have rows that %s cannot hold whole; they "
                "were stored as Q8_0 (or left in their input type)",
                q.p.n_fallback, s->name);
    if (q.f) fclose(q.f);
    if (rc && q.tmp) unlink(q.tmp);
    free(q.tmp), free(q.buf), free(q.scratch), free(q.offs), free(q.p.types);
    pool_free(q.pool);
    gguf_close(q.g);
    return rc;
}

penny_status penny_quantize(const char *in, const char *out, const char *type,
                            penny_quantize_progress cb, void *user, penny_error *err) {
    if (!in || !out || !type)
        return err_set(err, PENNY_ERR_ARG, "quantize: input, output and type are required");
    const quant_scheme *s = quant_scheme_find(type);
    if (!s)
        return err_set(err, PENNY_ERR_ARG, "quantize: unknown type '%s' (one of %s)", type,
                       quant_scheme_names());
    return quant_model(in, out, s, 0, cb, user, err);
}
