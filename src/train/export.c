/*
 * export.c - trained weights -> GGUF "llama" model (see export.h).
 *
 * The trainer's layout already is GGUF's: matrices (out, in) row-major and
 * q/k rotating adjacent pairs, which is what "llama" files hold, so each
 * tensor is written as is (or rounded to 16 bits).
 */
#include "train/export.h"

#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/half.h"
#include "format/gguf.h"
#include "kernels/types.h"

static penny_status set_hparams(gguf_writer *w, const tr_config *c, const char *name,
                                uint32_t file_type) {
    gguf_writer_set_str(w, "general.architecture", "llama");
    gguf_writer_set_str(w, "general.name", name ? name : "penny-trained");
    gguf_writer_set_u32(w, "general.file_type", file_type);
    gguf_writer_set_u32(w, "llama.context_length", (uint32_t)c->seq_len);
    gguf_writer_set_u32(w, "llama.embedding_length", (uint32_t)c->dim);
    gguf_writer_set_u32(w, "llama.block_count", (uint32_t)c->n_layer);
    gguf_writer_set_u32(w, "llama.feed_forward_length", (uint32_t)c->ffn);
    gguf_writer_set_u32(w, "llama.attention.head_count", (uint32_t)c->n_head);
    gguf_writer_set_u32(w, "llama.attention.head_count_kv", (uint32_t)c->n_kv_head);
    gguf_writer_set_u32(w, "llama.rope.dimension_count", (uint32_t)(c->dim / c->n_head));
    gguf_writer_set_f32(w, "llama.rope.freq_base", c->rope_base);
    gguf_writer_set_f32(w, "llama.attention.layer_norm_rms_epsilon", c->eps);
    return gguf_writer_set_u32(w, "llama.vocab_size", (uint32_t)c->vocab);
}

/* Converts n floats to 16-bit values (F16 or BF16) in a new buffer. */
static uint16_t *to_16(const float *x, size_t n, bool bf16) {
    uint16_t *y = malloc(n * sizeof *y);
    for (size_t i = 0; y && i < n; i++) y[i] = bf16 ? bf16_from_f32(x[i]) : half_from_f32(x[i]);
    return y;
}

penny_status tr_export_gguf(const tr_config *cfg, const float *params, const char *tokenizer_path,
                            const char *type, const char *name, const char *out_path,
                            penny_error *err) {
    uint32_t tt = !strcmp(type, "f32")    ? TYPE_F32
                  : !strcmp(type, "f16")  ? TYPE_F16
                  : !strcmp(type, "bf16") ? TYPE_BF16
                                          : 99;
    if (tt == 99)
        return err_set(err, PENNY_ERR_ARG, "export: unknown type '%s' (f32, f16, bf16)", type);
    uint32_t file_type = tt == TYPE_F32 ? 0 : tt == TYPE_F16 ? 1 : 32;
    int n = 0;
    if (cfg->arch != TR_ARCH_LLAMA)
        return err_set(
            err, PENNY_ERR_UNSUPPORTED,
            "export: only the llama architecture is exported (gpt2 is a training baseline)");
    tr_tensor *ts = calloc((size_t)TR_MAX_TENSORS(cfg), sizeof *ts);
    void **conv = calloc((size_t)TR_MAX_TENSORS(cfg), sizeof *conv);
    gguf_file *tok = NULL;
    gguf_writer *w = NULL;
    penny_status rc =
        ts && conv ? PENNY_OK : err_set(err, PENNY_ERR_NOMEM, "export: out of memory");
    if (!rc) rc = gguf_open(tokenizer_path, false, &tok, err);
    if (!rc) rc = gguf_writer_new(&w, err);
    if (!rc) {
        tr_layout(cfg, ts, &n);
        gguf_writer_copy_kvs(w, tok);
        set_hparams(w, cfg, name, file_type);
    }
    for (int i = 0; i < n && !rc; i++) {
        const float *data = params + ts[i].off;
        uint32_t t = ts[i].n_dims == 1 ? TYPE_F32 : tt;
        if (t != TYPE_F32 &&
            !(conv[i] = to_16(data, (size_t)(ts[i].ne[0] * ts[i].ne[1]), t == TYPE_BF16)))
            rc = err_set(err, PENNY_ERR_NOMEM, "export: out of memory");
        if (!rc)
            gguf_writer_add_tensor(w, ts[i].name, t, ts[i].n_dims, ts[i].ne,
                                   conv[i] ? conv[i] : data);
    }
    if (!rc) rc = gguf_writer_save(w, out_path, err);
    for (int i = 0; i < n; i++) free(conv[i]);
    free(conv);
    free(ts);
    gguf_writer_free(w);
    gguf_close(tok);
    return rc;
}
