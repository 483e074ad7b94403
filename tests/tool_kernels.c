/*
 * tool_kernels.c - a command-line door into the reference kernels, so that
 * test_kernels_ref.py can check them against an independent numpy float64
 * implementation. Inputs and outputs are raw little-endian files (f32, i32,
 * or the type's block bytes); sizes are checked against the dimensions.
 *
 *   tool_kernels quantize TYPE in.f32 out.bin
 *   tool_kernels dequant  TYPE in.bin out.f32
 *   tool_kernels dot      TYPE w.bin x.f32 n_rows n out.f32      out[r] = dot(row r, x)
 *   tool_kernels matmul   TYPE w.bin x.f32 n_out n_in T threads out.f32
 *   tool_kernels rope     normal|neox x.f32 pos.i32 freqs.f32 T n_heads head_dim n_rot out.f32
 *   tool_kernels rmsnorm  x.f32 w.f32 T n eps out.f32
 *   tool_kernels softmax  x.f32 rows n out.f32
 *   tool_kernels swiglu   gate.f32 up.f32 out.f32
 *   tool_kernels bench    TYPE n_out n_in T threads reps          (timing, to stdout)
 *
 * TYPE is a type name: F32, F16, BF16, Q8_0, Q4_0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/pool.h"
#include "kernels/ops.h"
#include "kernels/types.h"

static int fail(const char *msg, const char *what) {
    fprintf(stderr, "tool_kernels: %s%s%s\n", msg, what ? ": " : "", what ? what : "");
    return 1;
}

static const type_traits *find_type(const char *name, uint32_t *id) {
    for (uint32_t i = 0; i < TYPE_COUNT; i++) {
        const type_traits *t = type_get(i);
        if (t && t->supported && strcmp(t->name, name) == 0) return *id = i, t;
    }
    return NULL;
}

/* Reads a whole file; *size gets its length. NULL on failure. */
static void *read_all(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    void *buf = NULL;
    long n = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (n >= 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1))) {
        if (fread(buf, 1, (size_t)n, f) != (size_t)n) free(buf), buf = NULL;
    }
    fclose(f);
    *size = (size_t)(n < 0 ? 0 : n);
    return buf;
}

/* Reads a file that must hold exactly `want` bytes. */
static void *read_exact(const char *path, size_t want) {
    size_t n;
    void *buf = read_all(path, &n);
    if (buf && n == want) return buf;
    fprintf(stderr, "tool_kernels: %s: %zu bytes, want %zu\n", path, buf ? n : 0, want);
    free(buf);
    return NULL;
}

static int write_all(const char *path, const void *buf, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return fail("cannot create", path);
    int ok = fwrite(buf, 1, n, f) == n;
    ok &= fclose(f) == 0;
    return ok ? 0 : fail("cannot write", path);
}

/* quantize: f32 in, blocks out; dequant: blocks in, f32 out. */
static int cmd_convert(char **a, int quantize) {
    uint32_t id;
    const type_traits *t = find_type(a[0], &id);
    if (!t) return fail("unknown type", a[0]);
    size_t n;
    void *in = read_all(a[1], &n);
    if (!in) return fail("cannot read", a[1]);
    size_t in_unit = quantize ? 4 * (size_t)t->block_size : t->type_size;
    size_t out_unit = quantize ? t->type_size : 4 * (size_t)t->block_size;
    int64_t blocks = (int64_t)(n / in_unit), rc = 1;
    void *out = malloc((size_t)blocks * out_unit + 1);
    if (n % in_unit || !out) {
        fail("input is not whole blocks, or no memory", a[1]);
    } else {
        if (quantize)
            t->from_f32(in, out, blocks * t->block_size);
        else
            t->to_f32(in, out, blocks * t->block_size);
        rc = write_all(a[2], out, (size_t)blocks * out_unit);
    }
    free(in), free(out);
    return (int)rc;
}

static int cmd_dot(char **a) {
    uint32_t id;
    const type_traits *t = find_type(a[0], &id);
    if (!t) return fail("unknown type", a[0]);
    long rows = atol(a[3]), n = atol(a[4]);
    size_t rb = type_row_size(id, n);
    if (rows <= 0 || n <= 0 || !rb) return fail("bad dimensions", a[3]);
    uint8_t *w = read_exact(a[1], rb * rows);
    float *x = read_exact(a[2], (size_t)n * 4), *out = malloc((size_t)rows * 4);
    int rc = 1;
    if (w && x && out) {
        for (long r = 0; r < rows; r++) out[r] = t->dot_f32(w + r * rb, x, n);
        rc = write_all(a[5], out, (size_t)rows * 4);
    }
    free(w), free(x), free(out);
    return rc;
}

static int cmd_matmul(char **a) {
    uint32_t id;
    if (!find_type(a[0], &id)) return fail("unknown type", a[0]);
    int n_out = atoi(a[3]), n_in = atoi(a[4]), T = atoi(a[5]), nt = atoi(a[6]);
    size_t rb = type_row_size(id, n_in), ny = (size_t)T * n_out * 4;
    if (n_out <= 0 || n_in <= 0 || T <= 0 || nt <= 0 || !rb) return fail("bad dimensions", NULL);
    pool *p = NULL;
    penny_error err;
    if (pool_new(nt, &p, &err) != PENNY_OK) return fail("pool_new", err.message);
    uint8_t *w = read_exact(a[1], rb * n_out);
    float *x = read_exact(a[2], (size_t)T * n_in * 4), *y = malloc(ny);
    int rc = 1;
    if (w && x && y) {
        op_matmul(p, NULL, y, w, id, rb, x, T, n_in, n_out);
        rc = write_all(a[7], y, ny);
    }
    free(w), free(x), free(y);
    pool_free(p);
    return rc;
}

static int cmd_rope(char **a) {
    int neox = strcmp(a[0], "neox") == 0;
    if (!neox && strcmp(a[0], "normal") != 0) return fail("mode must be normal or neox", a[0]);
    int T = atoi(a[4]), nh = atoi(a[5]), hd = atoi(a[6]), nr = atoi(a[7]);
    if (T <= 0 || nh <= 0 || hd <= 0 || nr < 0 || nr > hd || nr % 2) return fail("bad dims", NULL);
    size_t nx = (size_t)T * nh * hd * 4;
    float *x = read_exact(a[1], nx), *freqs = read_exact(a[3], (size_t)nr / 2 * 4);
    int32_t *pos = read_exact(a[2], (size_t)T * 4);
    int rc = 1;
    if (x && pos && freqs) {
        op_rope(x, T, nh, hd, nr, pos, freqs, neox);
        rc = write_all(a[8], x, nx);
    }
    free(x), free(pos), free(freqs);
    return rc;
}

static int cmd_rmsnorm(char **a) {
    int T = atoi(a[2]), n = atoi(a[3]);
    float eps = strtof(a[4], NULL);
    if (T <= 0 || n <= 0) return fail("bad dimensions", NULL);
    float *x = read_exact(a[0], (size_t)T * n * 4), *w = read_exact(a[1], (size_t)n * 4);
    int rc = 1;
    if (x && w) {
        op_rmsnorm(x, x, w, T, n, eps);
        rc = write_all(a[5], x, (size_t)T * n * 4);
    }
    free(x), free(w);
    return rc;
}

static int cmd_softmax(char **a) {
    int rows = atoi(a[1]), n = atoi(a[2]);
    if (rows <= 0 || n <= 0) return fail("bad dimensions", NULL);
    float *x = read_exact(a[0], (size_t)rows * n * 4);
    if (!x) return 1;
    for (int r = 0; r < rows; r++) op_softmax(x + (size_t)r * n, n);
    int rc = write_all(a[3], x, (size_t)rows * n * 4);
    free(x);
    return rc;
}

static int cmd_swiglu(char **a) {
    size_t n;
    float *g = read_all(a[0], &n);
    float *u = g ? read_exact(a[1], n) : NULL;
    int rc = 1;
    if (g && u && n % 4 == 0) {
        op_swiglu(g, g, u, (int64_t)(n / 4));
        rc = write_all(a[2], g, n);
    } else {
        fail("cannot read inputs", a[0]);
    }
    free(g), free(u);
    return rc;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median time of `reps` matmuls on random weights; a sanity number for the
 * scalar reference, not a benchmark (those live in bench/). */
static int cmd_bench(char **a) {
    uint32_t id;
    const type_traits *t = find_type(a[0], &id);
    int n_out = atoi(a[1]), n_in = atoi(a[2]), T = atoi(a[3]), nt = atoi(a[4]), reps = atoi(a[5]);
    size_t rb = t ? type_row_size(id, n_in) : 0;
    if (!rb || n_out <= 0 || T <= 0 || nt <= 0 || reps <= 0 || reps > 1000)
        return fail("bad arguments", NULL);
    pool *p = NULL;
    penny_error err;
    if (pool_new(nt, &p, &err) != PENNY_OK) return fail("pool_new", err.message);
    uint8_t *w = malloc(rb * n_out);
    float *row = malloc((size_t)n_in * 4), *x = malloc((size_t)T * n_in * 4);
    float *y = malloc((size_t)T * n_out * 4);
    double *ts = malloc(sizeof(double) * reps);
    int rc = 1;
    if (w && row && x && y && ts) {
        srand(1);
        for (int i = 0; i < T * n_in; i++) x[i] = (float)(rand() / (double)RAND_MAX) - 0.5f;
        for (int o = 0; o < n_out; o++) {
            for (int i = 0; i < n_in; i++) row[i] = (float)(rand() / (double)RAND_MAX) - 0.5f;
            t->from_f32(row, w + (size_t)o * rb, n_in);
        }
        for (int r = 0; r < reps; r++) {
            double t0 = now_s();
            op_matmul(p, NULL, y, w, id, rb, x, T, n_in, n_out);
            ts[r] = now_s() - t0;
        }
        qsort(ts, reps, sizeof(double), cmp_double);
        double med = ts[reps / 2], gb = (double)rb * n_out / 1e9;
        printf("%s %dx%d T=%d threads=%d: median %.3f ms, %.2f GB/s weights, %.2f GFLOP/s\n",
               t->name, n_out, n_in, T, nt, med * 1e3, gb / med,
               2.0 * n_out * n_in * T / med / 1e9);
        rc = 0;
    }
    free(w), free(row), free(x), free(y), free(ts);
    pool_free(p);
    return rc;
}

typedef struct command {
    const char *name;
    int argc; /* arguments after the command name */
    int (*fn)(char **args);
} command;

static int cmd_quantize(char **a) { return cmd_convert(a, 1); }
static int cmd_dequant(char **a) { return cmd_convert(a, 0); }

static const command k_commands[] = {
    {"quantize", 3, cmd_quantize}, {"dequant", 3, cmd_dequant}, {"dot", 6, cmd_dot},
    {"matmul", 8, cmd_matmul},     {"rope", 9, cmd_rope},       {"rmsnorm", 6, cmd_rmsnorm},
    {"softmax", 4, cmd_softmax},   {"swiglu", 3, cmd_swiglu},   {"bench", 6, cmd_bench},
};

int main(int argc, char **argv) {
    for (size_t i = 0; argc >= 2 && i < sizeof k_commands / sizeof k_commands[0]; i++) {
        const command *c = &k_commands[i];
        if (strcmp(argv[1], c->name) != 0) continue;
        if (argc - 2 != c->argc) return fail("wrong number of arguments for", c->name);
        return c->fn(argv + 2);
    }
    return fail("usage: tool_kernels quantize|dequant|dot|matmul|rope|rmsnorm|softmax|swiglu|bench "
                "... (see tests/tool_kernels.c)",
                NULL);
}
