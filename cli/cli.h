/*
 * cli.h - shared helpers of the penny command-line tool and its subcommands.
 * Only cli/ may print to the user or exit.
 */
#ifndef PENNY_CLI_H
#define PENNY_CLI_H

#include "penny.h"

int cmd_run(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_detokenize(int argc, char **argv);
int cmd_template(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_train_tokenizer(int argc, char **argv);
int cmd_train_prepare(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_train_export(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_perplexity(int argc, char **argv);
int cmd_pull(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_rm(int argc, char **argv);
int cmd_quantize(int argc, char **argv);

/* Prints "penny: what: message" to stderr; returns 1. */
int cli_fail(const char *what, const penny_error *err);
double cli_now(void);
/* Option values; invalid text exits with status 2 and a message. */
double cli_num(const char *opt, const char *s);
int cli_int(const char *opt, const char *s);
/* --kv-type f16|f32|q8_0 */
penny_kv_type cli_kv_type(const char *s);

#endif
