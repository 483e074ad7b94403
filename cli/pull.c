/*
 * pull.c - `penny pull REF...`, `penny list`, `penny rm REF...`: the model
 * store from the command line. The library does the work (penny_store_*);
 * this file draws the progress bar and prints results.
 *
 * On a terminal the bar is redrawn in place at most ten times a second
 * (bytes, rate, ETA); when stderr is a file or a pipe only one line per
 * finished file is written, so logs stay readable. stdout gets the local
 * path of each pulled model, for scripts: m=$(penny pull ORG/REPO:Q8_0).
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

typedef struct bar {
    bool tty, quiet;
    int index;       /* file being drawn, -1 before the first */
    double t0, last; /* start of this file's transfer, last redraw */
    uint64_t start;  /* bytes present when the transfer began */
} bar;

static void fmt_bytes(uint64_t n, char *buf, size_t cap) {
    const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)n;
    int u = 0;
    for (; v >= 1024 && u < 4; u++) v /= 1024;
    snprintf(buf, cap, u ? "%.1f %s" : "%.0f %s", v, unit[u]);
}

static void fmt_eta(double secs, char *buf, size_t cap) {
    if (!(secs >= 0) || secs > 359999)
        snprintf(buf, cap, "--:--");
    else if (secs >= 3600)
        snprintf(buf, cap, "%d:%02d:%02d", (int)secs / 3600, (int)secs / 60 % 60, (int)secs % 60);
    else
        snprintf(buf, cap, "%d:%02d", (int)secs / 60, (int)secs % 60);
}

static void draw(bar *b, const penny_pull_event *ev, double now) {
    char done[32], total[32], rate[32], eta[32];
    double dt = now - b->t0, r = dt > 0 ? (double)(ev->done - b->start) / dt : 0;
    fmt_bytes(ev->done, done, sizeof done);
    fmt_bytes(ev->total, total, sizeof total);
    fmt_bytes((uint64_t)r, rate, sizeof rate);
    fmt_eta(r > 0 ? (double)(ev->total - ev->done) / r : -1, eta, sizeof eta);
    int pct = ev->total ? (int)(100.0 * (double)ev->done / (double)ev->total) : 100;
    char cells[21];
    for (int i = 0; i < 20; i++) cells[i] = i < pct / 5 ? '#' : '.';
    cells[20] = '\0';
    fprintf(stderr, "\r%-30.30s [%s] %3d%% %s / %s  %s/s  ETA %s\033[K", ev->file, cells, pct, done,
            total, rate, eta);
    b->last = now;
}

static void on_event(void *user, const penny_pull_event *ev) {
    bar *b = user;
    double now = cli_now();
    if (b->quiet) return;
    if (ev->state == PENNY_PULL_PRESENT) {
        fprintf(stderr, "%s: already in the store (verified)\n", ev->file);
    } else if (ev->state == PENNY_PULL_FETCHING) {
        if (b->index != ev->index) {
            *b = (bar){b->tty, b->quiet, ev->index, now, 0, ev->done};
            if (ev->done > 0) {
                char at[32];
                fmt_bytes(ev->done, at, sizeof at);
                fprintf(stderr, "%s: resuming at %s\n", ev->file, at);
            }
        }
        if (b->tty && now - b->last >= 0.1) draw(b, ev, now);
    } else if (ev->state == PENNY_PULL_RETRYING) {
        fprintf(stderr, "%s%s\n", b->tty ? "\r\033[K" : "", ev->note);
    } else {
        char total[32], rate[32];
        double dt = now - b->t0;
        fmt_bytes(ev->total, total, sizeof total);
        fmt_bytes(dt > 0 ? (uint64_t)((double)(ev->total - b->start) / dt) : 0, rate, sizeof rate);
        fprintf(stderr, "%s%s: %s, sha256 verified (%.1f s, %s/s)\n", b->tty ? "\r\033[K" : "",
                ev->file, total, dt, rate);
        b->index = -1;
    }
}

int cmd_pull(int argc, char **argv) {
    static const struct option opts[] = {
        {"retries", 1, 0, 'r'}, {"quiet", 0, 0, 'q'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    penny_pull_params p = penny_pull_default_params();
    bar b = {isatty(2), false, -1, 0, 0, 0};
    int c;
    while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
        if (c == 'r')
            p.retries = cli_int("--retries", optarg);
        else if (c == 'q')
            b.quiet = true;
        else {
            fprintf(stderr,
                    "usage: penny pull [--retries N] [-q] REF...\n"
                    "  REF: hf.co/ORG/REPO[:QUANT], ORG/REPO[:QUANT] or ORG/REPO/FILE.gguf\n");
            return c == 'h' ? 0 : 2;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "penny pull: give a model, e.g. penny pull ORG/REPO:Q4_K_M\n");
        return 2;
    }
    p.progress = on_event;
    p.user = &b;
    penny_error err = {0};
    penny_store *s;
    if (penny_store_open(NULL, &s, &err)) return cli_fail("pull", &err);
    int rc = 0;
    for (int i = optind; i < argc; i++) {
        char path[4096];
        if (penny_store_pull(s, argv[i], &p, path, sizeof path, &err)) {
            if (b.tty && b.index >= 0) fputs("\n", stderr);
            rc = cli_fail("pull", &err);
        } else
            printf("%s\n", path);
    }
    penny_store_free(s);
    return rc;
}

static void print_entry(void *user, const penny_store_entry *e) {
    char size[32];
    fmt_bytes(e->size, size, sizeof size);
    if (!*(int *)user) printf("%-56s %10s  %s\n", "REF", "SIZE", "PATH");
    *(int *)user += 1;
    printf("%-56s %10s  %s", e->ref, size, e->path);
    if (e->n_parts > 1) printf("  (%d parts)", e->n_parts);
    printf("%s\n", e->complete ? "" : "  (incomplete: pull it again)");
}

int cmd_list(int argc, char **argv) {
    if (argc > 1) {
        fprintf(stderr, "usage: penny list\n");
        return strcmp(argv[1], "--help") && strcmp(argv[1], "-h") ? 2 : 0;
    }
    penny_error err = {0};
    penny_store *s;
    int n = 0;
    if (penny_store_open(NULL, &s, &err)) return cli_fail("list", &err);
    int rc = penny_store_list(s, print_entry, &n, &err) ? cli_fail("list", &err) : 0;
    if (!rc && n == 0)
        fprintf(stderr, "no models in %s (get one with: penny pull ORG/REPO:QUANT)\n",
                penny_store_root(s));
    penny_store_free(s);
    return rc;
}

int cmd_rm(int argc, char **argv) {
    if (argc < 2 || argv[1][0] == '-') {
        fprintf(stderr, "usage: penny rm REF...   (ORG/REPO removes all of its files)\n");
        return argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) ? 0 : 2;
    }
    penny_error err = {0};
    penny_store *s;
    if (penny_store_open(NULL, &s, &err)) return cli_fail("rm", &err);
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        int n = 0;
        if (penny_store_rm(s, argv[i], &n, &err))
            rc = cli_fail(argv[i], &err);
        else
            printf("removed %s (%d file%s)\n", argv[i], n, n == 1 ? "" : "s");
    }
    penny_store_free(s);
    return rc;
}
