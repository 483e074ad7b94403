/*
 * optim.h - AdamW with decoupled weight decay, global-norm gradient
 * clipping, and the warmup + cosine learning-rate schedule.
 *
 * The optimizer owns the two moment arrays (same length as the parameters,
 * saved in checkpoints). The gradient norm is summed in fixed 64K-element
 * blocks and the block sums added in order, so it is the same number for
 * any thread count.
 */
#ifndef PENNY_TRAIN_OPTIM_H
#define PENNY_TRAIN_OPTIM_H

#include <stdbool.h>
#include <stddef.h>

#include "base/pool.h"
#include "train/model.h"

typedef struct tr_adamw_params {
    float beta1, beta2, eps, weight_decay;
} tr_adamw_params;

typedef struct tr_optim {
    size_t n;
    float *m, *v; /* (n) first and second moments */
    double *block_sums;
    size_t n_blocks;
    pool *pool;
    bool vec; /* the AVX-512 update (same results as the scalar one) */
} tr_optim;

penny_status tr_optim_new(size_t n, pool *p, tr_optim **out, penny_error *err);
void tr_optim_free(tr_optim *o);

/* sqrt(sum g^2) in double. */
double tr_optim_grad_norm(tr_optim *o, const float *g);

/* One AdamW step (step counts from 1) on every tensor; gradients are first
 * multiplied by grad_scale (clipping). Decay applies to tensors marked so. */
void tr_optim_step(tr_optim *o, float *params, const float *grads, const tr_tensor *tensors,
                   int n_tensors, const tr_adamw_params *hp, float lr, long step, float grad_scale);

/* Linear warmup over `warmup` steps to lr_max, then cosine decay to lr_min
 * at step `total`; step counts from 0. */
float tr_lr_at(long step, long warmup, long total, float lr_max, float lr_min);

#endif
