/*
 * trainer.h - the training run: options (config.c) and the loop
 * (trainer.c) behind penny_train_run.
 */
#ifndef PENNY_TRAIN_TRAINER_H
#define PENNY_TRAIN_TRAINER_H

#include "penny.h"

#define TR_PATH_MAX 1024

/* Every option of config.c's table; integers as long long, reals as double. */
struct penny_train_config {
    char tokenizer[TR_PATH_MAX], data[TR_PATH_MAX], out[TR_PATH_MAX], init_from[TR_PATH_MAX];
    char export_path[TR_PATH_MAX], export_type[TR_PATH_MAX], name[TR_PATH_MAX];
    char arch[TR_PATH_MAX];
    long long dim, n_layer, n_head, n_kv_head, ffn, seq_len, tied;
    long long batch, accum, steps, warmup, seed, threads, eval_every, eval_batches;
    long long ckpt_every, resume, bf16;
    double rope_base, eps, lr, lr_min, weight_decay, beta1, beta2, grad_clip, val_frac;
    double peak_gflops;
};

#endif
