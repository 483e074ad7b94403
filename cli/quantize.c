/*
 * quantize.c - `penny quantize IN.gguf OUT.gguf TYPE`: converts a model's
 * weights to another type through penny_quantize, showing progress on
 * stderr (redrawn in place on a terminal, one line per tensor otherwise).
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static const char *QUANTIZE_USAGE =
    "usage: penny quantize IN.gguf OUT.gguf TYPE\n"
    "  IN must hold F32, F16 or BF16 weights. TYPE is one of\n"
    "    Q4_K_M, Q5_K_M   mixes: most matrices Q4_K (Q5_K), output and some\n"
    "                     attn_v/ffn_down layers Q6_K (see docs/quantize.md)\n"
    "    Q4_K, Q5_K, Q6_K, Q8_0, Q4_0, F16, BF16, F32   every matrix that type\n"
    "  1-D tensors (norms) stay F32; metadata is copied.\n";

typedef struct progress {
    bool tty;
    double t0;
} progress;

static void show_progress(void *user, const penny_quantize_event *ev) {
    const progress *p = user;
    double mb = 1024.0 * 1024.0;
    fprintf(stderr, "%s[%4lld/%lld] %5.1f%%  %-36s %-5s %9.1f/%.1f MB  %.1f s%s",
            p->tty ? "\r" : "", (long long)ev->index, (long long)ev->count,
            ev->total ? 100.0 * (double)ev->done / (double)ev->total : 100.0, ev->tensor, ev->type,
            (double)ev->done / mb, (double)ev->total / mb, cli_now() - p->t0,
            p->tty ? "\033[K" : "\n");
    fflush(stderr);
}

static double file_mb(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (double)st.st_size / (1024.0 * 1024.0) : 0.0;
}

int cmd_quantize(int argc, char **argv) {
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        fputs(QUANTIZE_USAGE, stdout);
        return 0;
    }
    if (argc != 4 || argv[1][0] == '-' || argv[2][0] == '-') {
        fputs(QUANTIZE_USAGE, stderr);
        return 2;
    }
    progress p = {isatty(fileno(stderr)) != 0, cli_now()};
    penny_error err = {0};
    if (penny_quantize(argv[1], argv[2], argv[3], show_progress, &p, &err)) {
        if (p.tty) fputc('\n', stderr);
        return cli_fail("quantize", &err);
    }
    if (p.tty) fputc('\n', stderr);
    fprintf(stderr, "penny: wrote %s (%s): %.1f MB -> %.1f MB in %.1f s\n", argv[2], argv[3],
            file_mb(argv[1]), file_mb(argv[2]), cli_now() - p.t0);
    return 0;
}
