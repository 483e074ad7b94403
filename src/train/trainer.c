/*
 * trainer.c - penny_train_run: the training loop, and the public wrappers
 * for tokenizer training, data preparation and export.
 *
 * One step: every rank loads its slice of the step's global batch (batch x
 * accum sequences), the loss weights are normalised by the number of
 * target tokens in the whole global batch (one small all-reduce), each
 * micro-batch runs forward and backward adding into the gradients, the
 * gradients are summed over ranks, clipped by their global norm, and AdamW
 * updates the weights. Everything that decides the next step (weights,
 * moments, step, data position, RNG) is in the checkpoint, and no result
 * depends on timing or thread count, so a resumed run reproduces an
 * uninterrupted one bit for bit.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "base/err.h"
#include "base/log.h"
#include "format/gguf.h"
#include "sample/sampler.h"
#include "tokenizer/tokenizer.h"
#include "train/bpe_train.h"
#include "train/ckpt.h"
#include "train/data.h"
#include "train/dist.h"
#include "train/export.h"
#include "train/model.h"
#include "train/optim.h"
#include "train/plot.h"
#include "train/trainer.h"

typedef struct run {
    const penny_train_config *o;
    tr_config cfg;
    int rank, world, B; /* B: sequences per micro-batch on this rank */
    bool bf16;          /* bf16 matmuls in use */
    pool *pool;
    tr_model *model;
    tr_optim *opt;
    tr_data *data;
    float *tok_bytes;   /* (vocab) bytes each token stands for, for bits per byte */
    int32_t *inp, *tgt; /* (accum, B, T) */
    float *mask, *weight;
    uint64_t step, epoch, index;
    rng rng;
    double *hist;
    long n_hist, cap_hist;
    char ckpt_path[TR_PATH_MAX + 32];
} run;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- setup ---- */

static penny_status load_vocab(run *r, penny_error *err) {
    gguf_file *g = NULL;
    tokenizer *tk = NULL;
    penny_status rc = gguf_open(r->o->tokenizer, false, &g, err);
    if (!rc) rc = tok_new(g, &tk, err);
    if (!rc) {
        r->cfg.vocab = tok_n_vocab(tk);
        r->tok_bytes = malloc(sizeof(float) * (size_t)r->cfg.vocab);
        if (!r->tok_bytes) rc = err_set(err, PENNY_ERR_NOMEM, "out of memory");
        for (int i = 0; !rc && i < r->cfg.vocab; i++) {
            const char *b;
            size_t n;
            tok_piece(tk, i, &b, &n);
            r->tok_bytes[i] = (float)n;
        }
    }
    tok_free(tk);
    gguf_close(g);
    return rc;
}

static penny_status make_config(run *r, penny_error *err) {
    const penny_train_config *o = r->o;
    tr_config *c = &r->cfg;
    if (strcmp(o->arch, "llama") && strcmp(o->arch, "gpt2"))
        return err_set(err, PENNY_ERR_ARG, "arch '%s': expected llama or gpt2", o->arch);
    c->arch = strcmp(o->arch, "gpt2") ? TR_ARCH_LLAMA : TR_ARCH_GPT2;
    c->dim = (int)o->dim, c->n_layer = (int)o->n_layer, c->n_head = (int)o->n_head;
    c->n_kv_head = o->n_kv_head ? (int)o->n_kv_head : (int)o->n_head;
    c->ffn = o->ffn                    ? (int)o->ffn
             : c->arch == TR_ARCH_GPT2 ? (int)(4 * o->dim)
                                       : (int)((8 * o->dim / 3 + 31) / 32 * 32);
    c->seq_len = (int)o->seq_len, c->tied = o->tied != 0;
    c->eps = (float)o->eps, c->rope_base = (float)o->rope_base;
    if (o->batch < 1 || o->batch % r->world)
        return err_set(err, PENNY_ERR_ARG,
                       "batch %lld must be a positive multiple of the %d MPI ranks", o->batch,
                       r->world);
    if (o->export_path[0] && c->arch != TR_ARCH_LLAMA)
        return err_set(err, PENNY_ERR_ARG,
                       "export: only arch llama is exported (gpt2 is a baseline)");
    if (o->accum < 1 || o->steps < 1 || o->eval_batches < 0 || o->ckpt_every < 0)
        return err_set(err, PENNY_ERR_ARG,
                       "accum and steps must be >= 1, eval_batches and ckpt_every >= 0");
    r->B = (int)(o->batch / r->world);
    return tr_config_check(c, err);
}

static penny_status alloc_batch(run *r, penny_error *err) {
    size_t n = (size_t)r->o->accum * r->B * r->cfg.seq_len;
    r->inp = malloc(n * sizeof *r->inp);
    r->tgt = malloc(n * sizeof *r->tgt);
    r->mask = malloc(n * sizeof *r->mask);
    r->weight = malloc(n * sizeof *r->weight);
    r->cap_hist = 1024;
    r->hist = malloc(sizeof(double) * TR_HIST_FIELDS * (size_t)r->cap_hist);
    if (!r->inp || !r->tgt || !r->mask || !r->weight || !r->hist)
        return err_set(err, PENNY_ERR_NOMEM, "out of memory (batch buffers)");
    return PENNY_OK;
}

/* ---- checkpoints ---- */

static void fill_ckpt(run *r, tr_ckpt *c) {
    memset(c, 0, sizeof *c);
    c->cfg = r->cfg;
    c->batch = (int32_t)r->o->batch, c->accum = (int32_t)r->o->accum;
    c->seed = (uint64_t)r->o->seed, c->step = r->step, c->epoch = r->epoch, c->index = r->index;
    memcpy(c->rng, r->rng.s, sizeof c->rng);
    c->n_params = tr_model_n_params(r->model);
    c->params = tr_model_params(r->model), c->m = r->opt->m, c->v = r->opt->v;
    c->n_hist = (uint64_t)r->n_hist, c->hist = r->hist;
}

/* Refuses a checkpoint made for another model or batch, naming the field. */
static penny_status check_match(const run *r, const tr_ckpt *c, const char *path, bool need_batch,
                                penny_error *err) {
    const tr_config *a = &r->cfg, *b = &c->cfg;
    struct {
        const char *name;
        long long want, got;
    } f[] = {{"arch (0 llama, 1 gpt2)", a->arch, b->arch},
             {"vocab", a->vocab, b->vocab},
             {"dim", a->dim, b->dim},
             {"n_layer", a->n_layer, b->n_layer},
             {"n_head", a->n_head, b->n_head},
             {"n_kv_head", a->n_kv_head, b->n_kv_head},
             {"ffn", a->ffn, b->ffn},
             {"tied", a->tied, b->tied},
             {"seq_len", a->seq_len, need_batch ? b->seq_len : a->seq_len},
             {"batch", r->o->batch, need_batch ? c->batch : r->o->batch},
             {"accum", r->o->accum, need_batch ? c->accum : r->o->accum},
             {"seed", r->o->seed, need_batch ? (long long)c->seed : r->o->seed}};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (f[i].want != f[i].got)
            return err_set(err, PENNY_ERR_ARG,
                           "%s: checkpoint was made with %s = %lld, this run has %lld; refusing it",
                           path, f[i].name, f[i].got, f[i].want);
    if (c->n_params != tr_model_n_params(r->model))
        return err_set(err, PENNY_ERR_FORMAT,
                       "%s: checkpoint holds %llu parameters, the model has %zu", path,
                       (unsigned long long)c->n_params, tr_model_n_params(r->model));
    return PENNY_OK;
}

static penny_status restore(run *r, const char *path, bool full, bool *found, penny_error *err) {
    struct stat st;
    *found = stat(path, &st) == 0;
    if (!*found)
        return full ? PENNY_OK : err_set(err, PENNY_ERR_IO, "%s: no such checkpoint", path);
    tr_ckpt c;
    void *buf;
    penny_status rc = tr_ckpt_read(path, &c, &buf, err);
    if (!rc) rc = check_match(r, &c, path, full, err);
    if (!rc) {
        size_t np = (size_t)c.n_params;
        memcpy(tr_model_params(r->model), c.params, np * sizeof(float));
        if (full) {
            memcpy(r->opt->m, c.m, np * sizeof(float));
            memcpy(r->opt->v, c.v, np * sizeof(float));
            r->step = c.step, r->epoch = c.epoch, r->index = c.index;
            memcpy(r->rng.s, c.rng, sizeof c.rng);
            if ((long)c.n_hist > r->cap_hist) {
                double *h = realloc(r->hist, sizeof(double) * TR_HIST_FIELDS * c.n_hist);
                if (!h)
                    rc = err_set(err, PENNY_ERR_NOMEM, "out of memory");
                else
                    r->hist = h, r->cap_hist = (long)c.n_hist;
            }
            if (!rc) {
                memcpy(r->hist, c.hist, sizeof(double) * TR_HIST_FIELDS * c.n_hist);
                r->n_hist = (long)c.n_hist;
            }
        }
    }
    free(buf);
    return rc;
}

static penny_status save(run *r, penny_error *err) {
    if (r->rank != 0) return PENNY_OK;
    tr_ckpt c;
    fill_ckpt(r, &c);
    return tr_ckpt_write(r->ckpt_path, &c, err);
}

/* ---- loss curve ---- */

static penny_status write_curve(run *r, penny_error *err) {
    if (r->rank != 0) return PENNY_OK;
    char path[TR_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/loss.csv", r->o->out);
    FILE *f = fopen(path, "w");
    if (!f) return err_set(err, PENNY_ERR_IO, "%s: cannot create", path);
    fprintf(f, "step,train_loss,lr,grad_norm,eval_loss,eval_bpb\n");
    for (long i = 0; i < r->n_hist; i++) {
        const double *h = r->hist + i * TR_HIST_FIELDS;
        fprintf(f, "%.0f,%.6f,%.6g,%.6g,", h[0], h[1], h[2], h[3]);
        if (isfinite(h[4]))
            fprintf(f, "%.6f,%.6f", h[4], h[5]);
        else
            fprintf(f, ",");
        fputc('\n', f);
    }
    if (fclose(f) != 0) return err_set(err, PENNY_ERR_IO, "%s: write failed", path);
    snprintf(path, sizeof path, "%s/loss.png", r->o->out);
    return tr_plot_png(path, r->hist, r->n_hist, TR_HIST_FIELDS, err);
}

static penny_status add_hist(run *r, const double *row, penny_error *err) {
    if (r->n_hist == r->cap_hist) {
        double *h = realloc(r->hist, sizeof(double) * TR_HIST_FIELDS * (size_t)r->cap_hist * 2);
        if (!h) return err_set(err, PENNY_ERR_NOMEM, "out of memory");
        r->hist = h, r->cap_hist *= 2;
    }
    memcpy(r->hist + r->n_hist++ * TR_HIST_FIELDS, row, sizeof(double) * TR_HIST_FIELDS);
    return PENNY_OK;
}

/* ---- one step ---- */

/* Loads this rank's sequences of the current step; returns their mask sum. */
static double load_step(run *r) {
    long n_train = tr_data_n_train(r->data), T = r->cfg.seq_len;
    double sum = 0;
    for (long a = 0; a < r->o->accum; a++)
        for (long b = 0; b < r->B; b++) {
            uint64_t at = r->index + (uint64_t)(a * r->o->batch + r->rank * r->B + b);
            size_t off = (size_t)((a * r->B + b) * T);
            tr_data_train_seq(r->data, r->epoch + at / (uint64_t)n_train,
                              (long)(at % (uint64_t)n_train), r->inp + off, r->tgt + off,
                              r->mask + off);
            for (long t = 0; t < T; t++) sum += r->mask[off + t];
        }
    return sum;
}

static void advance(run *r) {
    uint64_t n_train = (uint64_t)tr_data_n_train(r->data);
    r->index += (uint64_t)(r->o->batch * r->o->accum);
    r->epoch += r->index / n_train;
    r->index %= n_train;
}

/* Sum of weights[n] * loss[n] over the last forward's tokens. */
static double weighted_loss(const run *r, const float *w) {
    const float *l = tr_model_losses(r->model);
    double s = 0;
    for (long n = 0; n < (long)r->B * r->cfg.seq_len; n++) s += (double)w[n] * l[n];
    return s;
}

static double train_step(run *r, double *grad_norm, double *lr_out) {
    const penny_train_config *o = r->o;
    double count = load_step(r);
    tr_dist_sum_f64(&count, 1);
    size_t per = (size_t)r->B * r->cfg.seq_len, n = per * (size_t)o->accum;
    for (size_t i = 0; i < n; i++) r->weight[i] = count > 0 ? (float)(r->mask[i] / count) : 0.0f;
    tr_model_zero_grad(r->model);
    double loss = 0;
    for (long a = 0; a < o->accum; a++) {
        size_t off = per * (size_t)a;
        tr_model_forward(r->model, r->inp + off, r->tgt + off, r->weight + off);
        loss += weighted_loss(r, r->weight + off);
        tr_model_backward(r->model, r->inp + off);
    }
    float *g = tr_model_grads(r->model);
    tr_dist_sum_f32(g, tr_model_n_params(r->model));
    tr_dist_sum_f64(&loss, 1);
    double norm = tr_optim_grad_norm(r->opt, g);
    float scale = o->grad_clip > 0 && norm > o->grad_clip ? (float)(o->grad_clip / norm) : 1.0f;
    long warmup = o->warmup >= 0 ? (long)o->warmup : (long)(o->steps / 20);
    float lr_min = o->lr_min >= 0 ? (float)o->lr_min : (float)o->lr / 10;
    float lr = tr_lr_at((long)r->step, warmup, (long)o->steps, (float)o->lr, lr_min);
    tr_adamw_params hp = {(float)o->beta1, (float)o->beta2, 1e-8f, (float)o->weight_decay};
    int nt;
    const tr_tensor *ts = tr_model_tensors(r->model, &nt);
    tr_optim_step(r->opt, tr_model_params(r->model), g, ts, nt, &hp, lr, (long)r->step + 1, scale);
    r->step++;
    advance(r);
    *grad_norm = norm;
    *lr_out = lr;
    return loss;
}

/* Held-out loss (nats per target token) and bits per byte over the first
 * eval_batches x batch held-out sequences. */
static void evaluate(run *r, double *loss, double *bpb) {
    long want = (long)(r->o->eval_batches * r->o->batch), T = r->cfg.seq_len;
    if (want > tr_data_n_val(r->data)) want = tr_data_n_val(r->data);
    *loss = *bpb = NAN;
    if (want <= 0) return;
    double s[3] = {0, 0, 0}; /* loss sum, targets, bytes */
    for (long c = 0; c * r->o->batch < want; c++) {
        for (long b = 0; b < r->B; b++) {
            long g = c * r->o->batch + r->rank * r->B + b;
            tr_data_val_seq(r->data, g < want ? g : 0, r->inp + b * T, r->tgt + b * T,
                            r->mask + b * T);
            for (long t = 0; t < T && g >= want; t++) r->mask[b * T + t] = 0;
        }
        tr_model_forward(r->model, r->inp, r->tgt, r->mask);
        s[0] += weighted_loss(r, r->mask);
        for (long n = 0; n < r->B * T; n++)
            s[1] += r->mask[n], s[2] += r->mask[n] * r->tok_bytes[r->tgt[n]];
    }
    tr_dist_sum_f64(s, 3);
    if (s[1] > 0) *loss = s[0] / s[1];
    if (s[2] > 0) *bpb = s[0] / log(2.0) / s[2];
}

/* ---- the run ---- */

static penny_status open_data(run *r, penny_error *err) {
    char list[TR_PATH_MAX], *paths[64];
    int n = 0;
    snprintf(list, sizeof list, "%s", r->o->data);
    for (char *s = strtok(list, ","); s && n < 64; s = strtok(NULL, ",")) paths[n++] = s;
    penny_status rc = tr_data_open((const char *const *)paths, n, r->cfg.seq_len, r->o->val_frac,
                                   (uint64_t)r->o->seed, &r->data, err);
    if (!rc && tr_data_vocab(r->data) > r->cfg.vocab)
        rc = err_set(err, PENNY_ERR_ARG,
                     "%s: token files were made with a vocabulary of %d, the tokenizer has %d",
                     r->o->data, tr_data_vocab(r->data), r->cfg.vocab);
    return rc;
}

static penny_status setup(run *r, penny_error *err) {
    const penny_train_config *o = r->o;
    if (!o->tokenizer[0] || !o->data[0])
        return err_set(err, PENNY_ERR_ARG, "training needs --tokenizer FILE and --data FILES");
    penny_status rc;
    if ((rc = tr_dist_init(&r->rank, &r->world, err)) || (rc = load_vocab(r, err)) ||
        (rc = make_config(r, err)) || (rc = pool_new((int)o->threads, &r->pool, err)) ||
        (rc = open_data(r, err)) || (rc = tr_model_new(&r->cfg, r->B, r->pool, &r->model, err)) ||
        (rc = tr_optim_new(tr_model_n_params(r->model), r->pool, &r->opt, err)) ||
        (rc = alloc_batch(r, err)))
        return rc;
    r->bf16 = tr_model_set_bf16(r->model, o->bf16 != 0);
    if (r->rank == 0 && mkdir(o->out, 0755) != 0 && errno != EEXIST)
        return err_set(err, PENNY_ERR_IO, "%s: cannot create folder", o->out);
    snprintf(r->ckpt_path, sizeof r->ckpt_path, "%s/checkpoint.bin", o->out);
    rng_seed(&r->rng, (uint64_t)o->seed);
    tr_model_init(r->model, (uint64_t)o->seed);
    bool found = false;
    if (o->resume && (rc = restore(r, r->ckpt_path, true, &found, err))) return rc;
    if (!found && o->init_from[0] && (rc = restore(r, o->init_from, false, &found, err))) return rc;
    if (found && r->rank == 0)
        log_msg(LOG_INFO, "train: starting at step %llu", (unsigned long long)r->step);
    return PENNY_OK;
}

static void cleanup(run *r) {
    tr_model_free(r->model);
    tr_optim_free(r->opt);
    tr_data_free(r->data);
    pool_free(r->pool);
    free(r->tok_bytes);
    free(r->inp), free(r->tgt), free(r->mask), free(r->weight), free(r->hist);
}

/* Writes checkpoint, curve and (at the end) the export; rank 0 only. */
static penny_status finish(run *r, bool export, penny_error *err) {
    penny_status rc = save(r, err);
    if (!rc) rc = write_curve(r, err);
    if (!rc && export && r->rank == 0 && r->o->export_path[0])
        rc = tr_export_gguf(&r->cfg, tr_model_params(r->model), r->o->tokenizer, r->o->export_type,
                            r->o->name, r->o->export_path, err);
    return rc;
}

/* A resumed run whose checkpoint is already at the last step: a kill may have
 * landed after the final checkpoint but before the export, so finish again
 * (it is idempotent) and report the end as a normal run would. */
static penny_status report_finished(run *r, penny_train_progress_fn fn, void *user,
                                    penny_error *err) {
    const penny_train_config *o = r->o;
    penny_train_progress p = {.rank = r->rank,
                              .world = r->world,
                              .n_steps = (long)o->steps,
                              .step = (long)r->step,
                              .done = true,
                              .loss = NAN,
                              .eval_loss = NAN,
                              .eval_bpb = NAN};
    if (r->n_hist > 0) {
        const double *h = r->hist + (r->n_hist - 1) * TR_HIST_FIELDS;
        p.loss = h[1], p.lr = h[2], p.grad_norm = h[3], p.eval_loss = h[4], p.eval_bpb = h[5];
    }
    if (r->rank == 0)
        log_msg(LOG_INFO, "train: %s is already at the last step (%ld)", r->ckpt_path, p.step);
    penny_status rc = finish(r, true, err);
    if (rc) return rc;
    p.checkpointed = true;
    p.n_params = (long long)tr_model_n_params(r->model);
    p.flops_per_token = tr_model_flops_per_token(r->model), p.bf16 = r->bf16;
    p.weights_checksum =
        tr_checksum(tr_model_params(r->model), tr_model_n_params(r->model) * sizeof(float));
    if (fn) fn(&p, user);
    return PENNY_OK;
}

static penny_status loop(run *r, penny_train_progress_fn fn, void *user, penny_error *err) {
    const penny_train_config *o = r->o;
    double peak = o->peak_gflops > 0 ? o->peak_gflops : tr_gemm_peak_gflops(r->pool, r->bf16);
    double flops = tr_model_flops_per_token(r->model), t_start = now(), t_steps = 0;
    double tokens_per_step = (double)o->batch * o->accum * r->cfg.seq_len;
    long steps_here = 0;
    penny_status rc = PENNY_OK;
    if (r->step >= (uint64_t)o->steps && o->steps > 0) return report_finished(r, fn, user, err);
    while (r->step < (uint64_t)o->steps && !rc) {
        penny_train_progress p = {.rank = r->rank, .world = r->world, .n_steps = (long)o->steps};
        double t0 = now();
        p.loss = train_step(r, &p.grad_norm, &p.lr);
        t_steps += now() - t0, steps_here++;
        p.step = (long)r->step;
        p.done = r->step == (uint64_t)o->steps;
        bool eval = o->eval_batches > 0 &&
                    (p.done || (o->eval_every > 0 && r->step % (uint64_t)o->eval_every == 0));
        p.eval_loss = p.eval_bpb = NAN;
        if (eval) evaluate(r, &p.eval_loss, &p.eval_bpb);
        double row[TR_HIST_FIELDS] = {(double)r->step, p.loss,      p.lr,
                                      p.grad_norm,     p.eval_loss, p.eval_bpb};
        if ((rc = add_hist(r, row, err))) break;
        p.tok_per_s = tokens_per_step * steps_here / t_steps;
        p.mfu = peak > 0 ? flops * p.tok_per_s / (peak * 1e9 * r->world) : 0;
        p.elapsed_s = now() - t_start;
        p.eta_s = t_steps / steps_here * (double)(o->steps - (long)r->step);
        p.n_params = (long long)tr_model_n_params(r->model);
        p.flops_per_token = flops, p.peak_gflops = peak, p.bf16 = r->bf16;
        if (p.done) {
            rc = finish(r, true, err);
            p.checkpointed = !rc;
            p.weights_checksum =
                tr_checksum(tr_model_params(r->model), tr_model_n_params(r->model) * sizeof(float));
        } else if (o->ckpt_every > 0 && r->step % (uint64_t)o->ckpt_every == 0) {
            rc = finish(r, false, err);
            p.checkpointed = !rc;
        } else if (eval) {
            rc = write_curve(r, err);
        }
        double stop = fn && !rc ? (double)(fn(&p, user) != 0) : 0;
        tr_dist_sum_f64(&stop, 1);
        if (stop > 0 && !p.done && !rc) {
            if (!p.checkpointed) rc = finish(r, false, err);
            break;
        }
    }
    return rc;
}

penny_status penny_train_run(const penny_train_config *c, penny_train_progress_fn fn, void *user,
                             penny_error *err) {
    run r = {.o = c};
    penny_status rc = setup(&r, err);
    if (!rc) rc = loop(&r, fn, user, err);
    cleanup(&r);
    tr_dist_finish();
    return rc;
}

/* ---- the other public entry points ---- */

penny_status penny_train_tokenizer(const char *const *files, int n_files, int vocab_size,
                                   const char *pre, const char *out_path, int *vocab_out,
                                   penny_error *err) {
    tr_bpe_stats st;
    penny_status rc = tr_bpe_train(vocab_size, pre, files, n_files, out_path, &st, err);
    if (!rc && vocab_out) *vocab_out = st.vocab;
    return rc;
}

penny_status penny_train_prepare(const char *tokenizer_path, const char *const *files, int n_files,
                                 bool chat, const char *out_path, long long *n_tokens,
                                 penny_error *err) {
    tr_data_stats st;
    penny_status rc = tr_data_prepare(tokenizer_path, files, n_files, chat, out_path, &st, err);
    if (!rc && n_tokens) *n_tokens = st.tokens;
    return rc;
}

penny_status penny_train_export(const char *checkpoint, const char *tokenizer_path,
                                const char *type, const char *out_path, penny_error *err) {
    tr_ckpt c;
    void *buf;
    penny_status rc = tr_ckpt_read(checkpoint, &c, &buf, err);
    if (rc) return rc;
    int n;
    tr_tensor *ts = calloc((size_t)TR_MAX_TENSORS(&c.cfg), sizeof *ts);
    rc = tr_config_check(&c.cfg, err);
    if (!rc && !ts) rc = err_set(err, PENNY_ERR_NOMEM, "out of memory");
    if (!rc && tr_layout(&c.cfg, ts, &n) != c.n_params)
        rc = err_set(err, PENNY_ERR_FORMAT, "%s: parameter count does not match its model shape",
                     checkpoint);
    if (!rc) rc = tr_export_gguf(&c.cfg, c.params, tokenizer_path, type, NULL, out_path, err);
    free(ts);
    free(buf);
    return rc;
}
