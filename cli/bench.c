/*
 * bench.c - `penny bench`: prompt-processing and generation speed, defined as
 * llama-bench defines them so the numbers compare one to one:
 *   ppN  one N-token prompt of random ids (BOS first when the model adds one)
 *        evaluated in a single batch from an empty cache;
 *   tgN  N tokens evaluated one at a time from an empty cache, no prompt.
 * With -d D (llama-bench's --n-depth) both start from a cache already
 * holding D tokens ("pp512 @ d4096"): what attention over a long context
 * costs. The D tokens are evaluated once per test, untimed, in batches of
 * -b, and each run truncates the cache back to them.
 * Each test runs once to warm up (tg: one token), then r times; the result is
 * the mean and sample standard deviation of the r tokens/s values, with best
 * and median beside them because shared machines are noisy. Peak resident
 * memory (getrusage) is reported too, to check that weights are not copied
 * twice. Only include/penny.h is used.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cli.h"

typedef struct bench_opts {
    const char *model;
    int n_prompt, n_gen, n_depth, reps, n_threads, n_batch, json, warmup, invariant;
    uint64_t seed;
    penny_kv_type kv_type;
} bench_opts;

typedef struct bench_result {
    double mean, sd, best, median;
} bench_result;

enum { O_JSON = 256, O_NO_WARMUP, O_SEED, O_KV, O_INVARIANT };

static int bench_usage(void) {
    printf("usage: penny bench -m FILE [-p 512] [-n 128] [-d 0] [-r 3] [-t THREADS] [-b BATCH]\n"
           "                   [--json] [--no-warmup] [--seed S] [--kv-type f16|f32|q8_0]\n"
           "                   [--batch-invariant]\n"
           "  -p N   prompt test ppN: N random tokens in one batch (0: skip)\n"
           "  -n N   generation test tgN: N tokens one at a time (0: skip)\n"
           "  -d N   depth: run both tests after N tokens already in the cache (default 0)\n"
           "  -r N   repetitions after the warm-up run (default 3)\n"
           "  -b N   prompt batch size (default: N of -p, so one forward pass;\n"
           "         with -d and no -p, 512)\n"
           "  --json one JSON object per test on stdout\n"
           "  --batch-invariant  the kernels penny serve uses (results independent of\n"
           "         the batch; slower for one token)\n");
    return 0;
}

static int parse_bench(int argc, char **argv, bench_opts *o) {
    static const struct option opts[] = {{"model", 1, 0, 'm'},
                                         {"n-prompt", 1, 0, 'p'},
                                         {"n-gen", 1, 0, 'n'},
                                         {"reps", 1, 0, 'r'},
                                         {"n-depth", 1, 0, 'd'},
                                         {"threads", 1, 0, 't'},
                                         {"batch", 1, 0, 'b'},
                                         {"json", 0, 0, O_JSON},
                                         {"no-warmup", 0, 0, O_NO_WARMUP},
                                         {"seed", 1, 0, O_SEED},
                                         {"kv-type", 1, 0, O_KV},
                                         {"batch-invariant", 0, 0, O_INVARIANT},
                                         {"help", 0, 0, 'h'},
                                         {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "m:p:n:d:r:t:b:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': o->model = optarg; break;
        case 'p': o->n_prompt = cli_int("-p", optarg); break;
        case 'n': o->n_gen = cli_int("-n", optarg); break;
        case 'd': o->n_depth = cli_int("-d", optarg); break;
        case 'r': o->reps = cli_int("-r", optarg); break;
        case 't': o->n_threads = cli_int("-t", optarg); break;
        case 'b': o->n_batch = cli_int("-b", optarg); break;
        case O_JSON: o->json = 1; break;
        case O_NO_WARMUP: o->warmup = 0; break;
        case O_SEED: o->seed = (uint64_t)cli_num("--seed", optarg); break;
        case O_KV: o->kv_type = cli_kv_type(optarg); break;
        case O_INVARIANT: o->invariant = 1; break;
        case 'h': exit(bench_usage());
        default: return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "penny bench: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (!o->model || o->n_prompt < 0 || o->n_gen < 0 || o->n_depth < 0 || o->reps < 1 ||
        o->n_threads < 0 || o->n_batch < 0 || o->n_prompt + o->n_gen == 0) {
        fprintf(stderr, "penny bench: need -m FILE, -p/-n >= 0 (not both 0), -d >= 0, -r >= 1 "
                        "(see penny bench --help)\n");
        return 2;
    }
    return 0;
}

/* splitmix64: a seeded, portable stream of token ids. */
static penny_token rand_token(uint64_t *s, int n_vocab) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return (penny_token)((z ^ (z >> 31)) % (uint64_t)n_vocab);
}

static penny_token first_token(const penny_model *m, uint64_t *s) {
    if (penny_model_add_bos(m) && penny_model_bos(m) >= 0) return penny_model_bos(m);
    return rand_token(s, penny_model_n_vocab(m));
}

/* Benchmarks must not time garbage: the last logits must be finite. */
static int logits_ok(const penny_model *m, const penny_context *c) {
    const float *l = penny_logits(c);
    for (int i = 0; i < penny_model_n_vocab(m); i++)
        if (!isfinite(l[i])) return 0;
    return 1;
}

/* The cache back to the depth tokens: a fresh start at depth 0 begins
 * with BOS (when the model adds one), a run after depth tokens does not. */
static penny_token run_start(const penny_model *m, penny_context *c, int depth, uint64_t *s) {
    penny_context_truncate(c, depth);
    return depth ? rand_token(s, penny_model_n_vocab(m)) : first_token(m, s);
}

/* One ppN run after `depth` cached tokens; returns seconds or -1. */
static double run_prompt(const penny_model *m, penny_context *c, penny_token *toks, int n,
                         int depth, uint64_t *s, penny_error *err) {
    toks[0] = run_start(m, c, depth, s);
    for (int i = 1; i < n; i++) toks[i] = rand_token(s, penny_model_n_vocab(m));
    double t0 = cli_now();
    if (penny_eval(c, toks, n, false, err)) return -1;
    return cli_now() - t0;
}

/* One tgN run after `depth` cached tokens; returns seconds or -1. */
static double run_gen(const penny_model *m, penny_context *c, int n, int depth, uint64_t *s,
                      penny_error *err) {
    penny_token t = run_start(m, c, depth, s);
    double t0 = cli_now();
    for (int i = 0; i < n; i++) {
        if (penny_eval(c, &t, 1, false, err)) return -1;
        t = rand_token(s, penny_model_n_vocab(m));
    }
    return cli_now() - t0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Mean, sample standard deviation (0 for one run), best and median of tps[n]. */
static bench_result summarize(double *tps, int n) {
    bench_result r = {0};
    for (int i = 0; i < n; i++) r.mean += tps[i] / n;
    for (int i = 0; i < n && n > 1; i++) r.sd += (tps[i] - r.mean) * (tps[i] - r.mean) / (n - 1);
    r.sd = sqrt(r.sd);
    qsort(tps, (size_t)n, sizeof *tps, cmp_double);
    r.best = tps[n - 1];
    r.median = n % 2 ? tps[n / 2] : (tps[n / 2 - 1] + tps[n / 2]) / 2;
    return r;
}

static long peak_rss_bytes(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss * 1024L; /* Linux reports KiB */
}

/* Bytes of all tensors, as llama-bench's "size" counts them. */
static uint64_t tensor_bytes(const char *path) {
    penny_gguf *g = NULL;
    penny_error err = {0};
    uint64_t sum = 0;
    if (penny_gguf_open(path, &g, &err)) return 0;
    for (int64_t i = 0; i < penny_gguf_tensor_count(g); i++) {
        penny_tensor_info ti;
        penny_gguf_tensor(g, i, &ti);
        sum += ti.nbytes;
    }
    penny_gguf_free(g);
    return sum;
}

typedef struct bench_run {
    const bench_opts *o;
    penny_model *m;
    penny_context *c;
    penny_token *toks;
    uint64_t rng, model_bytes;
    double *tps;
} bench_run;

/* Fills the cache with the -d tokens (BOS first when the model adds one),
 * in batches of -b; untimed. Returns 0 or 1. */
static int fill_depth(bench_run *b) {
    const bench_opts *o = b->o;
    penny_error err = {0};
    penny_context_truncate(b->c, 0);
    for (int done = 0; done < o->n_depth;) {
        int k = o->n_depth - done < o->n_batch ? o->n_depth - done : o->n_batch;
        for (int i = 0; i < k; i++)
            b->toks[i] = done + i ? rand_token(&b->rng, penny_model_n_vocab(b->m))
                                  : first_token(b->m, &b->rng);
        if (penny_eval(b->c, b->toks, k, false, &err)) return cli_fail("depth", &err);
        done += k;
    }
    return 0;
}

/* Warm-up plus reps runs of one test; fills b->tps. Returns 0 or 1. */
static int run_test(bench_run *b, int is_prompt, int n) {
    penny_error err = {0};
    int depth = b->o->n_depth;
    if (depth && fill_depth(b)) return 1;
    for (int r = b->o->warmup ? -1 : 0; r < b->o->reps; r++) {
        int n_run = !is_prompt && r < 0 ? 1 : n; /* llama-bench warms tg up with one token */
        double s = is_prompt ? run_prompt(b->m, b->c, b->toks, n_run, depth, &b->rng, &err)
                             : run_gen(b->m, b->c, n_run, depth, &b->rng, &err);
        if (s < 0) return cli_fail(is_prompt ? "prompt" : "generation", &err);
        if (r < 0 && !logits_ok(b->m, b->c)) {
            fprintf(stderr, "penny bench: the model produced non-finite logits\n");
            return 1;
        }
        if (r >= 0) b->tps[r] = n / s;
    }
    return 0;
}

/* The model description as a JSON string body (quotes, backslashes and
 * control characters escaped). */
static void print_json_text(const char *s) {
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            printf("\\%c", ch);
        else if (ch < 0x20)
            printf("\\u%04x", ch);
        else
            putchar(ch);
    }
}

static void print_result(const bench_run *b, const char *name, bench_result r) {
    const bench_opts *o = b->o;
    long rss = peak_rss_bytes();
    if (o->json) {
        printf("{\"test\":\"%s\",\"tokens_per_s\":%.3f,\"stddev\":%.3f,\"best\":%.3f,"
               "\"median\":%.3f,\"reps\":%d,\"threads\":%d,\"n_batch\":%d,\"n_depth\":%d,"
               "\"model_bytes\":%llu,\"peak_rss_bytes\":%ld,\"model\":\"",
               name, r.mean, r.sd, r.best, r.median, o->reps, o->n_threads, o->n_batch, o->n_depth,
               (unsigned long long)b->model_bytes, rss);
        print_json_text(penny_model_desc(b->m));
        printf("\"}\n");
    } else {
        printf("| %-13s | %12.2f ± %-9.2f | %10.2f | %10.2f | %8.0f MiB |\n", name, r.mean, r.sd,
               r.best, r.median, rss / 1048576.0);
    }
    fflush(stdout);
}

/* "pp512", or "pp512 @ d4096" as llama-bench names a test at depth. */
static void test_name(char *buf, size_t size, const char *kind, int n, int depth) {
    if (depth)
        snprintf(buf, size, "%s%d @ d%d", kind, n, depth);
    else
        snprintf(buf, size, "%s%d", kind, n);
}

static int bench_all(bench_run *b) {
    const bench_opts *o = b->o;
    char name[32];
    if (!o->json) {
        printf("%s, %.2f GiB of tensors, %d threads, %d reps, KV cache %s\n",
               penny_model_desc(b->m), b->model_bytes / 1073741824.0, o->n_threads, o->reps,
               penny_kv_type_name(o->kv_type));
        printf("| test          |    tokens/s (mean ± sd)  |       best |     median |     peak "
               "RSS |\n"
               "| ------------- | ------------------------ | ---------- | ---------- | "
               "------------ |\n");
    }
    if (o->n_prompt > 0) {
        if (run_test(b, 1, o->n_prompt)) return 1;
        test_name(name, sizeof name, "pp", o->n_prompt, o->n_depth);
        print_result(b, name, summarize(b->tps, o->reps));
    }
    if (o->n_gen > 0) {
        if (run_test(b, 0, o->n_gen)) return 1;
        test_name(name, sizeof name, "tg", o->n_gen, o->n_depth);
        print_result(b, name, summarize(b->tps, o->reps));
    }
    return 0;
}

int cmd_bench(int argc, char **argv) {
    bench_opts o = {.n_prompt = 512, .n_gen = 128, .reps = 3, .warmup = 1, .seed = 1234};
    int rc = parse_bench(argc, argv, &o);
    if (rc) return rc;
    if (o.n_threads == 0) o.n_threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (o.n_batch == 0) o.n_batch = o.n_prompt > 0 ? o.n_prompt : o.n_depth > 0 ? 512 : 1;
    penny_error err = {0};
    penny_model_params mp = penny_model_default_params();
    mp.n_threads = o.n_threads;
    bench_run b = {.o = &o, .rng = o.seed, .model_bytes = tensor_bytes(o.model)};
    penny_context_params cp = penny_context_default_params();
    cp.n_ctx = o.n_depth + (o.n_prompt > o.n_gen ? o.n_prompt : o.n_gen);
    cp.n_batch = o.n_batch;
    cp.kv_type = o.kv_type;
    cp.batch_invariant = o.invariant;
    rc = 1;
    b.toks =
        malloc(sizeof *b.toks * (size_t)((o.n_prompt > o.n_batch ? o.n_prompt : o.n_batch) + 1));
    b.tps = malloc(sizeof *b.tps * (size_t)o.reps);
    if (!b.toks || !b.tps) {
        fprintf(stderr, "penny bench: out of memory\n");
        goto done;
    }
    if (penny_model_load(o.model, &mp, &b.m, &err) || penny_context_new(b.m, &cp, &b.c, &err)) {
        rc = cli_fail(o.model, &err);
        goto done;
    }
    rc = bench_all(&b);
done:
    penny_context_free(b.c);
    penny_model_free(b.m);
    free(b.toks);
    free(b.tps);
    return rc;
}
