/*
 * train.c - the training subcommands of the penny CLI:
 *   train-tokenizer  learn a byte-level BPE vocabulary from text files
 *   train-prepare    tokenize text or chat JSONL into a token file
 *   train            pretrain or fine-tune, with checkpoints and a loss curve
 *   train-export     write a checkpoint as a GGUF model
 * Options of `train` are the keys of penny_train_config (as --key value, or
 * key = value lines in --config FILE). SIGINT/SIGTERM stop training after a
 * checkpoint; `--resume 1` continues from it.
 */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig) {
    stop_requested = 1;
    signal(sig, SIG_DFL); /* a second signal ends the process */
}

/* Collects "-o OUT" and the other flags of the simple commands; returns the
 * index of the first positional argument. */
static const char *arg_value(int argc, char **argv, int *i) {
    if (*i + 1 >= argc) {
        fprintf(stderr, "penny: option %s needs a value\n", argv[*i]);
        exit(2);
    }
    return argv[++*i];
}

int cmd_train_tokenizer(int argc, char **argv) {
    const char *out = NULL, *pre = "llama-bpe", *files[4096];
    int vocab = 0, n = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--vocab"))
            vocab = cli_int("--vocab", arg_value(argc, argv, &i));
        else if (!strcmp(argv[i], "--pre"))
            pre = arg_value(argc, argv, &i);
        else if (!strcmp(argv[i], "-o"))
            out = arg_value(argc, argv, &i);
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: penny train-tokenizer --vocab N [--pre llama-bpe|gpt2] -o OUT.gguf "
                   "FILES...\n");
            return 0;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "penny train-tokenizer: unknown option %s\n", argv[i]);
            return 2;
        } else if (n < 4096)
            files[n++] = argv[i];
    }
    if (!out || vocab <= 0 || n == 0) {
        fprintf(stderr, "penny train-tokenizer: --vocab N, -o OUT and input files are required\n");
        return 2;
    }
    penny_error err;
    int got = 0;
    double t0 = cli_now();
    if (penny_train_tokenizer(files, n, vocab, pre, out, &got, &err))
        return cli_fail("train-tokenizer", &err);
    fprintf(stderr, "penny: %d-token vocabulary written to %s in %.2f s\n", got, out,
            cli_now() - t0);
    return 0;
}

int cmd_train_prepare(int argc, char **argv) {
    const char *out = NULL, *tok = NULL, *files[4096];
    int n = 0, chat = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-t") || !strcmp(argv[i], "--tokenizer"))
            tok = arg_value(argc, argv, &i);
        else if (!strcmp(argv[i], "-o"))
            out = arg_value(argc, argv, &i);
        else if (!strcmp(argv[i], "--chat"))
            chat = 1;
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: penny train-prepare -t TOKENIZER.gguf [--chat] -o OUT.tok FILES...\n");
            return 0;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "penny train-prepare: unknown option %s\n", argv[i]);
            return 2;
        } else if (n < 4096)
            files[n++] = argv[i];
    }
    if (!out || !tok || n == 0) {
        fprintf(stderr, "penny train-prepare: -t TOKENIZER, -o OUT and input files are required\n");
        return 2;
    }
    penny_error err;
    long long count = 0;
    if (penny_train_prepare(tok, files, n, chat, out, &count, &err))
        return cli_fail("train-prepare", &err);
    fprintf(stderr, "penny: %lld tokens written to %s\n", count, out);
    return 0;
}

int cmd_train_export(int argc, char **argv) {
    const char *out = NULL, *tok = NULL, *type = "f32", *ckpt = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-t") || !strcmp(argv[i], "--tokenizer"))
            tok = arg_value(argc, argv, &i);
        else if (!strcmp(argv[i], "-o"))
            out = arg_value(argc, argv, &i);
        else if (!strcmp(argv[i], "--type"))
            type = arg_value(argc, argv, &i);
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: penny train-export CHECKPOINT -t TOKENIZER.gguf [--type f32|f16|bf16] "
                   "-o OUT.gguf\n");
            return 0;
        } else
            ckpt = argv[i];
    }
    if (!out || !tok || !ckpt) {
        fprintf(stderr, "penny train-export: CHECKPOINT, -t TOKENIZER and -o OUT are required\n");
        return 2;
    }
    penny_error err;
    if (penny_train_export(ckpt, tok, type, out, &err)) return cli_fail("train-export", &err);
    fprintf(stderr, "penny: model written to %s\n", out);
    return 0;
}

/* ---- progress ---- */

typedef struct view {
    bool tty;
    long last_line;
    double last_eval, last_bpb;
} view;

static void fmt_time(char *buf, size_t cap, double s) {
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, cap, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, cap, "%ld:%02ld", t / 60, t % 60);
}

static int progress(const penny_train_progress *p, void *user) {
    view *v = user;
    if (p->rank != 0) return stop_requested;
    if (isfinite(p->eval_loss)) v->last_eval = p->eval_loss, v->last_bpb = p->eval_bpb;
    char eta[32], bar[21];
    fmt_time(eta, sizeof eta, p->eta_s);
    int fill = (int)(20.0 * p->step / p->n_steps);
    for (int i = 0; i < 20; i++) bar[i] = i < fill ? '=' : i == fill ? '>' : ' ';
    bar[20] = 0;
    bool line = isfinite(p->eval_loss) || p->done || p->checkpointed;
    if (v->tty || line || p->step - v->last_line >= 50) {
        fprintf(stderr, "%sstep %ld/%ld [%s] loss %.4f", v->tty ? "\r" : "", p->step, p->n_steps,
                bar, p->loss);
        if (isfinite(v->last_eval))
            fprintf(stderr, " | eval %.4f (%.3f bpb)", v->last_eval, v->last_bpb);
        fprintf(stderr, " | lr %.2e | %.0f tok/s | MFU %.1f%% | ETA %s%s%s", p->lr, p->tok_per_s,
                100 * p->mfu, eta, p->checkpointed ? " | saved" : "", v->tty ? "\033[K" : "");
        if (!v->tty || line) fputc('\n', stderr);
        v->last_line = p->step;
    }
    if (p->done) {
        printf("final step %ld: train loss %.4f, eval loss %.4f, eval bpb %.4f\n", p->step, p->loss,
               v->last_eval, v->last_bpb);
        printf("parameters %lld, processes %d, weights checksum %016llx\n", p->n_params, p->world,
               (unsigned long long)p->weights_checksum);
        printf("throughput %.0f tokens/s, %.3g MFLOP/token, MFU %.1f%% of %.0f GFLOP/s (%s)\n",
               p->tok_per_s, p->flops_per_token / 1e6, 100 * p->mfu, p->peak_gflops,
               p->bf16 ? "bf16 matmuls" : "fp32");
        fflush(stdout);
    }
    if (stop_requested)
        fprintf(stderr, "\npenny: stopping at step %ld (checkpoint saved)\n", p->step);
    return stop_requested;
}

int cmd_train(int argc, char **argv) {
    penny_error err;
    penny_train_config *c;
    if (penny_train_config_new(&c, &err)) return cli_fail("train", &err);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf("usage: penny train [--config FILE] [--KEY VALUE ...]\n\noptions (default, "
                   "meaning):\n%s",
                   penny_train_config_help());
            penny_train_config_free(c);
            return 0;
        }
        if (strncmp(a, "--", 2) || i + 1 >= argc) {
            fprintf(stderr,
                    "penny train: expected --KEY VALUE, got '%s' (see penny train --help)\n", a);
            penny_train_config_free(c);
            return 2;
        }
        const char *val = argv[++i];
        penny_status rc = !strcmp(a, "--config") ? penny_train_config_load(c, val, &err)
                                                 : penny_train_config_set(c, a + 2, val, &err);
        if (rc) {
            penny_train_config_free(c);
            fprintf(stderr, "penny train: %s\n", err.message);
            return 2;
        }
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    view v = {.tty = isatty(2), .last_eval = NAN, .last_bpb = NAN};
    penny_status rc = penny_train_run(c, progress, &v, &err);
    penny_train_config_free(c);
    return rc ? cli_fail("train", &err) : 0;
}
