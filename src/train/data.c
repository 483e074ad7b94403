/*
 * data.c - token shards: writing them, mapping them, and cutting them into
 * shuffled training and held-out sequences (see data.h).
 */
#include "train/data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "base/mapfile.h"
#include "sample/sampler.h"

#define HEADER 32

typedef struct shard {
    mapfile mf;
    const unsigned char *tok, *mask;
    int width;
    long long n;
    long chunks, first; /* chunks in this shard; global index of its first */
} shard;

struct tr_data {
    shard *s;
    int n_shards, T, vocab;
    bool has_mask;
    long n_chunks, n_train, n_val, every;
    uint64_t seed, perm_epoch;
    long *perm; /* (n_train) train chunk ids in epoch perm_epoch's order */
    bool perm_valid;
};

static void put_u32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static uint32_t get_u32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

penny_status tr_data_write(const char *path, const int32_t *tokens, const uint8_t *mask,
                           long long n, int vocab, penny_error *err) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) return err_set(err, PENNY_ERR_IO, "%s: cannot create", tmp);
    int width = vocab <= 65536 ? 2 : 4;
    unsigned char h[HEADER] = "PNYTOKS1";
    put_u32(h + 8, 1);
    put_u32(h + 12, (uint32_t)width);
    put_u32(h + 16, mask ? 1 : 0);
    put_u32(h + 20, (uint32_t)vocab);
    for (int i = 0; i < 8; i++) h[24 + i] = (unsigned char)((uint64_t)n >> (8 * i));
    bool ok = fwrite(h, 1, HEADER, f) == HEADER;
    for (long long i = 0; i < n && ok; i++) {
        unsigned char b[4];
        put_u32(b, (uint32_t)tokens[i]);
        ok = fwrite(b, 1, (size_t)width, f) == (size_t)width;
    }
    if (mask && ok) ok = fwrite(mask, 1, (size_t)n, f) == (size_t)n;
    ok = fflush(f) == 0 && ok && fsync(fileno(f)) == 0;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return err_set(err, PENNY_ERR_IO, "%s: write failed", path);
    }
    return PENNY_OK;
}

static int32_t token_at(const shard *s, long long i) {
    const unsigned char *p = s->tok + i * s->width;
    return s->width == 2 ? (int32_t)(p[0] | p[1] << 8) : (int32_t)get_u32(p);
}

static penny_status open_shard(shard *s, const char *path, int T, penny_error *err) {
    penny_status rc = mapfile_open(&s->mf, path, true, err);
    if (rc) return rc;
    const unsigned char *p = s->mf.data;
    if (s->mf.size < HEADER || memcmp(p, "PNYTOKS1", 8) != 0)
        return err_set(err, PENNY_ERR_FORMAT, "%s: not a penny token file (bad magic)", path);
    s->width = (int)get_u32(p + 12);
    uint32_t version = get_u32(p + 8), has_mask = get_u32(p + 16);
    uint64_t n = 0;
    for (int i = 0; i < 8; i++) n |= (uint64_t)p[24 + i] << (8 * i);
    if (version != 1 || (s->width != 2 && s->width != 4) || has_mask > 1)
        return err_set(err, PENNY_ERR_FORMAT, "%s: unsupported header (version %u, width %d)", path,
                       version, s->width);
    uint64_t need = HEADER + n * (uint64_t)(s->width + (int)has_mask);
    if (n > (1ull << 40) || need != s->mf.size)
        return err_set(err, PENNY_ERR_FORMAT, "%s: %llu tokens need %llu bytes, file has %zu", path,
                       (unsigned long long)n, (unsigned long long)need, s->mf.size);
    s->tok = p + HEADER;
    s->mask = has_mask ? p + HEADER + n * (uint64_t)s->width : NULL;
    s->n = (long long)n;
    s->chunks = n > (uint64_t)T ? (long)((n - 1) / (uint64_t)T) : 0;
    uint32_t vocab = get_u32(p + 20);
    for (long long i = 0; i < s->n; i++)
        if ((uint32_t)token_at(s, i) >= vocab)
            return err_set(err, PENNY_ERR_FORMAT,
                           "%s: token %lld is id %u, outside the vocabulary of %u", path, i,
                           (uint32_t)token_at(s, i), vocab);
    return PENNY_OK;
}

penny_status tr_data_open(const char *const *paths, int n_paths, int T, double val_frac,
                          uint64_t seed, tr_data **out, penny_error *err) {
    *out = NULL;
    if (n_paths < 1) return err_set(err, PENNY_ERR_ARG, "data: no token files given");
    tr_data *d = calloc(1, sizeof *d);
    if (!d || !(d->s = calloc((size_t)n_paths, sizeof *d->s))) {
        free(d);
        return err_set(err, PENNY_ERR_NOMEM, "data: out of memory");
    }
    d->n_shards = n_paths, d->T = T, d->seed = seed;
    penny_status rc = PENNY_OK;
    for (int i = 0; i < n_paths && !rc; i++) {
        if ((rc = open_shard(&d->s[i], paths[i], T, err))) break;
        d->s[i].first = d->n_chunks;
        d->n_chunks += d->s[i].chunks;
        d->has_mask |= d->s[i].mask != NULL;
        int v = (int)get_u32(d->s[i].mf.data + 20);
        if (v > d->vocab) d->vocab = v;
    }
    d->every = val_frac > 0 ? (long)(1.0 / val_frac + 0.5) : 0;
    if (d->every == 1) d->every = 2;
    d->n_val = d->every ? d->n_chunks / d->every : 0;
    d->n_train = d->n_chunks - d->n_val;
    if (!rc && d->n_train < 1)
        rc = err_set(err, PENNY_ERR_ARG,
                     "data: %ld sequences of %d+1 tokens; need at least one for training (more "
                     "data or a shorter seq_len)",
                     d->n_chunks, T);
    if (!rc && !(d->perm = malloc(sizeof(long) * (size_t)d->n_train)))
        rc = err_set(err, PENNY_ERR_NOMEM, "data: out of memory");
    if (rc) {
        tr_data_free(d);
        return rc;
    }
    *out = d;
    return PENNY_OK;
}

void tr_data_free(tr_data *d) {
    if (!d) return;
    for (int i = 0; i < d->n_shards; i++) mapfile_close(&d->s[i].mf);
    free(d->s);
    free(d->perm);
    free(d);
}

long tr_data_n_train(const tr_data *d) { return d->n_train; }
long tr_data_n_val(const tr_data *d) { return d->n_val; }
int tr_data_vocab(const tr_data *d) { return d->vocab; }
bool tr_data_has_mask(const tr_data *d) { return d->has_mask; }

/* Global chunk id of the i-th train (or held-out) chunk in file order. */
static long train_chunk(const tr_data *d, long i) {
    if (!d->every) return i;
    long per = d->every - 1; /* train chunks per block of `every` */
    return i / per * d->every + i % per;
}

static void read_chunk(const tr_data *d, long g, int32_t *inp, int32_t *tgt, float *mask) {
    int s = 0;
    while (g >= d->s[s].first + d->s[s].chunks) s++;
    const shard *sh = &d->s[s];
    long long start = (long long)(g - sh->first) * d->T;
    for (int t = 0; t < d->T; t++) {
        inp[t] = token_at(sh, start + t);
        tgt[t] = token_at(sh, start + t + 1);
        mask[t] = sh->mask ? (float)(sh->mask[start + t + 1] != 0) : 1.0f;
    }
}

/* Fisher-Yates shuffle of the train chunks, seeded by (seed, epoch). */
static void make_perm(tr_data *d, uint64_t epoch) {
    rng r;
    rng_seed(&r, d->seed ^ (epoch + 1) * 0x9E3779B97F4A7C15ull);
    for (long i = 0; i < d->n_train; i++) d->perm[i] = train_chunk(d, i);
    for (long i = d->n_train - 1; i > 0; i--) {
        long j = (long)(rng_next(&r) % (uint64_t)(i + 1));
        long t = d->perm[i];
        d->perm[i] = d->perm[j];
        d->perm[j] = t;
    }
    d->perm_epoch = epoch;
    d->perm_valid = true;
}

void tr_data_train_seq(tr_data *d, uint64_t epoch, long index, int32_t *inp, int32_t *tgt,
                       float *mask) {
    if (!d->perm_valid || d->perm_epoch != epoch) make_perm(d, epoch);
    read_chunk(d, d->perm[index], inp, tgt, mask);
}

void tr_data_val_seq(const tr_data *d, long i, int32_t *inp, int32_t *tgt, float *mask) {
    read_chunk(d, i * d->every + d->every - 1, inp, tgt, mask);
}
