/*
 * penny.c - the command-line interface. Built only on include/penny.h, so
 * everything it does is available to programs that embed libpenny.
 *
 * Subcommands: run (generate text), info (describe a GGUF file), tokenize,
 * quantize.
 * Generated text goes to stdout; diagnostics and timings go to stderr.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static const char *USAGE =
    "penny - run language models from GGUF files on a CPU\n"
    "\n"
    "usage: penny COMMAND [options]\n"
    "\n"
    "commands:\n"
    "  run -m FILE -p TEXT   generate a continuation of TEXT\n"
    "      -n N              tokens to generate (default 128; -1: until end or context full)\n"
    "      --temp T          temperature (default 0.8; 0 = greedy)\n"
    "      --top-k K         keep the K most likely tokens (default 40; 0 = off)\n"
    "      --top-p P         nucleus sampling (default 0.95; 1 = off)\n"
    "      --min-p P         drop tokens below P x the best probability (default 0.05)\n"
    "      --repeat-penalty F, --presence-penalty F, --frequency-penalty F, --repeat-last-n N (-1: whole context)\n"
    "      --seed S          random seed (default: random, printed with -v)\n"
    "      -c, --ctx N       context size (default: model's, at most 4096)\n"
    "      -b, --batch N     prompt tokens per forward pass (default 512)\n"
    "      --kv-type T       KV cache type: f16 (default), f32, q8_0 (also chat, serve,\n"
    "                        bench, perplexity)\n"
    "      -t, --threads N   threads (default: all cores)\n"
    "      --echo            print the prompt before the continuation\n"
    "      --special         parse special-token text (e.g. <s>) in the prompt\n"
    "      -v, --verbose     print timings and settings to stderr\n"
    "  info FILE             print a GGUF file's metadata and tensor table\n"
    "  tokenize -m FILE      read text on stdin, print token ids\n"
    "      --tokenizer JSON  use a Hugging Face tokenizer.json instead of -m\n"
    "      --no-bos          do not add the beginning-of-sequence token\n"
    "      --special         parse special-token text\n"
    "  detokenize -m FILE    read token ids on stdin, print their text (--tokenizer JSON)\n"
    "  template -m FILE      render the chat template for messages.json on stdin\n"
    "      --tokenizer-config CFG  use tokenizer_config.json instead of -m\n"
    "      --template FILE, --no-generation-prompt (see penny template --help)\n"
    "  bench -m FILE         prompt (pp512) and generation (tg128) speed like llama-bench\n"
    "      -p N, -n N, -r N, -t N, --json (see penny bench --help)\n"
    "  perplexity -m FILE -f TEXT  perplexity of TEXT like llama-perplexity (--ctx N, -b N)\n"
    "  pull REF...           download models from the Hugging Face Hub into the store\n"
    "                        REF: ORG/REPO[:QUANT] (e.g. :Q4_K_M) or ORG/REPO/FILE.gguf\n"
    "      --retries N       attempts after a broken transfer (default 3)\n"
    "  list                  models in the store ($PENNY_HOME, default ~/.cache/penny)\n"
    "  rm REF...             delete models from the store\n"
    "  (-m FILE and info FILE also accept a REF of a pulled model)\n"
    "  quantize IN OUT TYPE  convert F32/F16/BF16 weights to TYPE: Q4_K_M, Q5_K_M, Q4_K,\n"
    "                        Q5_K, Q6_K, Q8_0, Q4_0, F16, BF16, F32\n"
    "  train-tokenizer --vocab N -o OUT.gguf FILES...  learn a byte-level BPE vocabulary\n"
    "  train-prepare -t TOK -o OUT.tok [--chat] FILES...  tokenize text (or chat JSONL)\n"
    "  train --tokenizer TOK --data OUT.tok [--KEY VALUE...]  train a model (see train --help,\n"
    "                        docs/training.md); --resume 1 continues from a checkpoint\n"
    "  train-export CKPT -t TOK -o OUT.gguf [--type f16]  checkpoint -> GGUF model\n"
    "  chat -m FILE          talk with a model in the terminal (--system TEXT; /help inside)\n"
    "  serve -m FILE         OpenAI-compatible HTTP server and chat page (--port, --parallel,\n"
    "                        --api-key, --ctx; see penny serve --help)\n"
    "\n"
    "  penny --help | penny COMMAND --help\n";

int cli_fail(const char *what, const penny_error *err) {
    fprintf(stderr, "penny: %s: %s\n", what, err->message[0] ? err->message : "error");
    return 1;
}

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Parses a number option; exits with a message on garbage (only the CLI may exit). */
double cli_num(const char *opt, const char *s) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end) {
        fprintf(stderr, "penny: option %s: '%s' is not a number\n", opt, s);
        exit(2);
    }
    return v;
}

int cli_int(const char *opt, const char *s) {
    double v = cli_num(opt, s);
    if (v != (double)(long)v || v < -2147483647.0 || v > 2147483647.0) {
        fprintf(stderr, "penny: option %s: '%s' is not an integer\n", opt, s);
        exit(2);
    }
    return (int)v;
}

penny_kv_type cli_kv_type(const char *s) {
    penny_kv_type t;
    if (!penny_kv_type_parse(s, &t)) {
        fprintf(stderr, "penny: option --kv-type: '%s' is not f16, f32 or q8_0\n", s);
        exit(2);
    }
    return t;
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "help")) {
        fputs(USAGE, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    argv[1] = argv[0];
    argc--;
    argv++;
    if (!strcmp(cmd, "run")) return cmd_run(argc, argv);
    if (!strcmp(cmd, "info")) return cmd_info(argc, argv);
    if (!strcmp(cmd, "tokenize")) return cmd_tokenize(argc, argv);
    if (!strcmp(cmd, "detokenize")) return cmd_detokenize(argc, argv);
    if (!strcmp(cmd, "template")) return cmd_template(argc, argv);
    if (!strcmp(cmd, "chat")) return cmd_chat(argc, argv);
    if (!strcmp(cmd, "serve")) return cmd_serve(argc, argv);
    if (!strcmp(cmd, "train-tokenizer")) return cmd_train_tokenizer(argc, argv);
    if (!strcmp(cmd, "train-prepare")) return cmd_train_prepare(argc, argv);
    if (!strcmp(cmd, "train")) return cmd_train(argc, argv);
    if (!strcmp(cmd, "train-export")) return cmd_train_export(argc, argv);
    if (!strcmp(cmd, "bench")) return cmd_bench(argc, argv);
    if (!strcmp(cmd, "perplexity")) return cmd_perplexity(argc, argv);
    if (!strcmp(cmd, "pull")) return cmd_pull(argc, argv);
    if (!strcmp(cmd, "list")) return cmd_list(argc, argv);
    if (!strcmp(cmd, "rm")) return cmd_rm(argc, argv);
    if (!strcmp(cmd, "quantize")) return cmd_quantize(argc, argv);
    fprintf(stderr, "penny: unknown command '%s' (see penny --help)\n", cmd);
    return 2;
}
