/*
 * ckpt.c - checkpoint files (see ckpt.h).
 */
#include "train/ckpt.h"

#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"

#define MAGIC "PNYCKPT1"
#define VERSION 1
#define N_HEADER 24 /* 64-bit header words */

/* FNV-1a over 64-bit words, then the tail bytes: fast enough for
 * hundreds of megabytes, and any flipped bit changes it. */
uint64_t tr_checksum(const void *p, size_t n) {
    const unsigned char *b = p;
    uint64_t h = 0xcbf29ce484222325ull;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, b + i, 8);
        h = (h ^ w) * 0x100000001b3ull;
        h ^= h >> 32;
    }
    for (; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

static void header_words(const tr_ckpt *c, uint64_t *w) {
    const tr_config *k = &c->cfg;
    uint32_t eps, base;
    memcpy(&eps, &k->eps, 4);
    memcpy(&base, &k->rope_base, 4);
    uint64_t v[N_HEADER] = {(uint64_t)k->vocab,
                            (uint64_t)k->dim,
                            (uint64_t)k->n_layer,
                            (uint64_t)k->n_head,
                            (uint64_t)k->n_kv_head,
                            (uint64_t)k->ffn,
                            (uint64_t)k->seq_len,
                            (uint64_t)k->tied,
                            eps,
                            base,
                            (uint64_t)c->batch,
                            (uint64_t)c->accum,
                            c->seed,
                            c->step,
                            c->epoch,
                            c->index,
                            c->rng[0],
                            c->rng[1],
                            c->rng[2],
                            c->rng[3],
                            c->n_params,
                            c->n_hist,
                            (uint64_t)k->arch,
                            0};
    memcpy(w, v, sizeof v);
}

static void from_header(tr_ckpt *c, const uint64_t *w) {
    tr_config *k = &c->cfg;
    k->vocab = (int)w[0], k->dim = (int)w[1], k->n_layer = (int)w[2], k->n_head = (int)w[3];
    k->n_kv_head = (int)w[4], k->ffn = (int)w[5], k->seq_len = (int)w[6], k->tied = w[7] != 0;
    uint32_t eps = (uint32_t)w[8], base = (uint32_t)w[9];
    memcpy(&k->eps, &eps, 4);
    memcpy(&k->rope_base, &base, 4);
    c->batch = (int32_t)w[10], c->accum = (int32_t)w[11], c->seed = w[12], c->step = w[13];
    c->epoch = w[14], c->index = w[15];
    memcpy(c->rng, w + 16, sizeof c->rng);
    c->n_params = w[20], c->n_hist = w[21];
    k->arch = (int)w[22];
}

/* Appends n bytes to f, folding them into the running checksum. */
static bool put(FILE *f, const void *p, size_t n, uint64_t *h, unsigned char *carry,
                size_t *n_carry) {
    /* The checksum runs over the whole stream; buffer into 8-byte words. */
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        carry[(*n_carry)++] = b[i];
        if (*n_carry == 8) {
            uint64_t w;
            memcpy(&w, carry, 8);
            *h = (*h ^ w) * 0x100000001b3ull;
            *h ^= *h >> 32;
            *n_carry = 0;
        }
    }
    return fwrite(p, 1, n, f) == n;
}

static void sync_dir(const char *path) {
    char *copy = strdup(path);
    if (!copy) return;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(copy);
}

penny_status tr_ckpt_write(const char *path, const tr_ckpt *c, penny_error *err) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) return err_set(err, PENNY_ERR_IO, "%s: cannot create checkpoint", tmp);
    uint64_t h = 0xcbf29ce484222325ull, words[N_HEADER];
    unsigned char carry[8];
    size_t nc = 0;
    uint32_t ver[2] = {VERSION, N_HEADER * 8};
    header_words(c, words);
    size_t np = (size_t)c->n_params * sizeof(float);
    bool ok = put(f, MAGIC, 8, &h, carry, &nc) && put(f, ver, 8, &h, carry, &nc) &&
              put(f, words, sizeof words, &h, carry, &nc) &&
              put(f, c->params, np, &h, carry, &nc) && put(f, c->m, np, &h, carry, &nc) &&
              put(f, c->v, np, &h, carry, &nc) &&
              put(f, c->hist, (size_t)c->n_hist * TR_HIST_FIELDS * sizeof(double), &h, carry, &nc);
    for (size_t i = 0; i < nc; i++) h = (h ^ carry[i]) * 0x100000001b3ull; /* the tail bytes */
    ok = ok && fwrite(&h, 8, 1, f) == 1;
    ok = fflush(f) == 0 && ok && fsync(fileno(f)) == 0;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return err_set(err, PENNY_ERR_IO, "%s: writing the checkpoint failed", path);
    }
    sync_dir(path);
    return PENNY_OK;
}

static penny_status load_all(const char *path, unsigned char **buf, size_t *len, penny_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return err_set(err, PENNY_ERR_IO, "%s: cannot open checkpoint", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    *buf = n > 0 ? malloc((size_t)n) : NULL;
    penny_status rc = PENNY_OK;
    if (n <= 0)
        rc = err_set(err, PENNY_ERR_FORMAT, "%s: empty checkpoint", path);
    else if (!*buf)
        rc = err_set(err, PENNY_ERR_NOMEM, "%s: out of memory (%ld bytes)", path, n);
    else if (fread(*buf, 1, (size_t)n, f) != (size_t)n)
        rc = err_set(err, PENNY_ERR_IO, "%s: read failed", path);
    fclose(f);
    *len = (size_t)n;
    return rc;
}

penny_status tr_ckpt_read(const char *path, tr_ckpt *c, void **out, penny_error *err) {
    unsigned char *b = NULL;
    size_t n = 0;
    *out = NULL;
    penny_status rc = load_all(path, &b, &n, err);
    if (rc) {
        free(b);
        return rc;
    }
    size_t head = 16 + N_HEADER * 8;
    uint32_t ver = 0, hbytes = 0;
    if (n >= 16) memcpy(&ver, b + 8, 4), memcpy(&hbytes, b + 12, 4);
    if (n < head + 8 || memcmp(b, MAGIC, 8) != 0)
        rc = err_set(err, PENNY_ERR_FORMAT, "%s: not a penny checkpoint", path);
    else if (ver != VERSION || hbytes != N_HEADER * 8)
        rc =
            err_set(err, PENNY_ERR_FORMAT, "%s: checkpoint version %u is not supported", path, ver);
    uint64_t words[N_HEADER];
    if (!rc) {
        memcpy(words, b + 16, sizeof words);
        from_header(c, words);
        size_t np = (size_t)c->n_params * 4;
        double want = (double)head + 3.0 * (double)np + (double)c->n_hist * TR_HIST_FIELDS * 8 + 8;
        uint64_t sum;
        memcpy(&sum, b + n - 8, 8);
        if (want != (double)n)
            rc = err_set(
                err, PENNY_ERR_FORMAT,
                "%s: checkpoint is %zu bytes, its header implies %.0f (truncated or corrupt)", path,
                n, want);
        else if (tr_checksum(b, n - 8) != sum)
            rc = err_set(err, PENNY_ERR_FORMAT,
                         "%s: checkpoint checksum mismatch (the file is corrupt)", path);
    }
    if (rc) {
        free(b);
        return rc;
    }
    /* The history's doubles may sit at a 4-byte boundary: copy them to an
     * aligned place past the end of the file image. */
    size_t np = (size_t)c->n_params, hbytes_all = (size_t)c->n_hist * TR_HIST_FIELDS * 8;
    size_t at = (n + 7) / 8 * 8;
    unsigned char *nb = realloc(b, at + hbytes_all + 8);
    if (!nb) {
        free(b);
        return err_set(err, PENNY_ERR_NOMEM, "%s: out of memory", path);
    }
    b = nb;
    memcpy(b + at, b + head + 3 * np * 4, hbytes_all);
    c->params = (float *)(void *)(b + head);
    c->m = c->params + np;
    c->v = c->m + np;
    c->hist = (double *)(void *)(b + at);
    *out = b;
    return PENNY_OK;
}
