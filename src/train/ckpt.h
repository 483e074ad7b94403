/*
 * ckpt.h - training checkpoints: everything needed to continue a run bit
 * for bit (weights, AdamW moments, step, data position, random state and
 * the loss history behind the curve), in one self-checking file.
 *
 * Layout (little-endian): "PNYCKPT1", u32 version, u32 header bytes, the
 * header (model shape, batch, seed, step, data position, RNG state, counts),
 * the parameters, first and second moments (f32 each), the history records
 * (f64 each), and last a 64-bit checksum of every byte before it.
 *
 * Writing is atomic: a temporary file in the same folder is written,
 * fsync'ed and renamed over the old checkpoint (then the folder is synced),
 * so a crash or kill -9 at any moment leaves either the old or the new
 * checkpoint, never a torn one. Reading verifies size and checksum before
 * trusting anything, and the trainer refuses a checkpoint whose model shape
 * or batch differs from its configuration, naming the field.
 */
#ifndef PENNY_TRAIN_CKPT_H
#define PENNY_TRAIN_CKPT_H

#include <stddef.h>
#include <stdint.h>

#include "penny.h"
#include "train/model.h"

#define TR_HIST_FIELDS 6 /* step, loss, lr, grad norm, eval loss, eval bpb */

typedef struct tr_ckpt {
    tr_config cfg;
    int32_t batch; /* global sequences per micro-step */
    int32_t accum;
    uint64_t seed;
    uint64_t step;         /* optimizer steps done */
    uint64_t epoch, index; /* next training sequence */
    uint64_t rng[4];
    uint64_t n_params;
    float *params, *m, *v; /* (n_params) each; views when read */
    uint64_t n_hist;
    double *hist; /* (n_hist, TR_HIST_FIELDS) */
} tr_ckpt;

penny_status tr_ckpt_write(const char *path, const tr_ckpt *c, penny_error *err);

/* Reads and verifies path. The arrays in *c point into *buf, which the
 * caller frees. */
penny_status tr_ckpt_read(const char *path, tr_ckpt *c, void **buf, penny_error *err);

/* 64-bit checksum of n bytes (also the weights checksum the CLI prints). */
uint64_t tr_checksum(const void *p, size_t n);

#endif
