/*
 * matvec.c - how close op_matmul comes to this machine's memory bandwidth.
 *
 * Token generation multiplies every weight matrix by one activation vector,
 * so its speed is the rate at which weights stream from memory. This
 * program measures that ceiling itself (1 and 2 threads, every read method
 * of readbw.h in turn, as bench/bw.c does; the ceiling is the best pass of
 * the method with the best median), then times op_matmul for each kernel table, type and shape and
 * prints the weight bytes read per second and the fraction of the ceiling for the same thread
 * count. With -T above 1 it times a prompt-sized batch instead and reports GFLOP/s.
 *
 * To keep the weights out of the 32 MB L3 (as in a real model, where a
 * token reads gigabytes), each pass runs the matmul over enough copies of
 * the matrix to fill --mib megabytes. Each result is checked against the
 * scalar table before it is timed. Times are the best of -r passes: other
 * processes share the machine, so run it a few times as well.
 *
 * usage: matvec [-t THREADS(0=1 and 2)] [--isa all|scalar|avx2|avx512|neon] [--types F32,Q4_0,..]
 *               [--shapes 4096x4096,11008x4096] [-T TOKENS] [-r REPS] [--mib MB]
 *               [--invariant 1]
 * Shapes are n_out x n_in. --invariant 1 times op_matmul_invariant (the
 * server's batch-invariant path) instead of op_matmul.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "base/pool.h"
#include "kernels/dispatch.h"
#include "kernels/ops.h"
#include "kernels/types.h"
#include "readbw.h"

typedef struct opts {
    int threads, T, reps, invariant;
    size_t mib;
    const char *isa, *types, *shapes;
} opts;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "matvec: out of memory (%zu bytes)\n", n);
        exit(1);
    }
    return p;
}

/* Large buffers (weights, the bandwidth test) come from anonymous memory
 * with transparent huge pages requested, as bench/bw.c does, so that both
 * sides of the ratio see the same TLB behaviour. */
static void *big_alloc(size_t n) {
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        fprintf(stderr, "matvec: cannot map %zu bytes\n", n);
        exit(1);
    }
    madvise(p, n, MADV_HUGEPAGE);
    return p;
}

/* ---- the read-bandwidth ceiling (readbw.h, as bench/bw.c) ---- */

typedef struct read_job {
    const unsigned char *buf;
    const rbw_method *m;
    size_t n; /* bytes, a multiple of 4096 */
    uint64_t sums[64];
} read_job;

static void read_slice(void *arg, int ith, int nth) {
    read_job *j = arg;
    j->sums[ith] = rbw_slice(j->m, j->buf, j->n, ith, nth);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Every method of readbw.h, one pass each in turn, reps rounds; returns
 * the best pass of the method with the best median (kernels are timed by
 * their best pass too) and prints it beside the plain loop's. */
static double read_bandwidth(pool *p, size_t bytes, int reps) {
    read_job j = {.n = bytes};
    unsigned char *buf = big_alloc(bytes);
    for (size_t i = 0; i < bytes; i += 8) memcpy(buf + i, &i, 8);
    j.buf = buf;
    double *secs = xmalloc(sizeof(double) * RBW_COUNT * (size_t)(reps + 1));
    for (int r = 0; r <= reps; r++)
        for (int m = 0; m < RBW_COUNT; m++) {
            if (!rbw_usable(&rbw_methods[m])) continue;
            j.m = &rbw_methods[m];
            double t0 = now_s();
            pool_run(p, read_slice, &j);
            secs[m * (reps + 1) + r] = now_s() - t0;
        }
    int top = -1;
    double med[RBW_COUNT], best[RBW_COUNT];
    for (int m = 0; m < RBW_COUNT; m++) {
        if (!rbw_usable(&rbw_methods[m])) continue;
        double *s = secs + m * (reps + 1) + 1; /* pass 0 warms up */
        qsort(s, (size_t)reps, sizeof *s, cmp_double);
        med[m] = (double)bytes / s[reps / 2] * 1e-9;
        best[m] = (double)bytes / s[0] * 1e-9;
        if (top < 0 || med[m] > med[top]) top = m;
    }
    printf("read bandwidth, %d thread(s): %.1f GB/s (%s: best of %d passes over %zu MiB, median "
           "%.1f; plain loop %.1f, median %.1f)\n",
           pool_size(p), best[top], rbw_methods[top].name, reps, bytes >> 20, med[top], best[0],
           med[0]);
    free(secs);
    munmap(buf, bytes);
    return best[top];
}

/* ---- one matmul case ---- */

typedef struct mcase {
    uint32_t type;
    int n_out, n_in, T, copies, invariant;
    size_t rb, bytes; /* per row, per matrix */
    uint8_t *w;       /* copies x bytes */
    float *x, *y, *ref;
    void *scratch;
} mcase;

static void case_init(mcase *c, uint32_t type, int n_out, int n_in, int T, size_t mib) {
    const type_traits *tt = type_get(type);
    c->type = type, c->n_out = n_out, c->n_in = n_in, c->T = T;
    c->rb = type_row_size(type, n_in);
    c->bytes = c->rb * n_out;
    c->copies = T > 8 ? 1 : (int)((mib << 20) / c->bytes + 1);
    c->w = big_alloc(c->bytes * c->copies);
    float *row = xmalloc(sizeof(float) * n_in);
    srand(1);
    for (int o = 0; o < n_out; o++) {
        for (int i = 0; i < n_in; i++) row[i] = (float)((double)rand() / RAND_MAX - 0.5);
        tt->from_f32(row, c->w + (size_t)o * c->rb, n_in);
    }
    for (int k = 1; k < c->copies; k++) memcpy(c->w + k * c->bytes, c->w, c->bytes);
    c->x = xmalloc(sizeof(float) * n_in * T);
    for (int i = 0; i < n_in * T; i++) c->x[i] = (float)((double)rand() / RAND_MAX - 0.5);
    c->y = xmalloc(sizeof(float) * n_out * T);
    c->ref = xmalloc(sizeof(float) * n_out * T);
    c->scratch = xmalloc(op_matmul_scratch(type, T, n_in) + 1);
    free(row);
}

static void case_free(mcase *c) {
    munmap(c->w, c->bytes * c->copies);
    free(c->x), free(c->y), free(c->ref), free(c->scratch);
}

static void case_run(pool *p, mcase *c, int copy) {
    (c->invariant ? op_matmul_invariant : op_matmul)(p, c->scratch, c->y,
                                                     c->w + (size_t)copy * c->bytes, c->type, c->rb,
                                                     c->x, c->T, c->n_in, c->n_out);
}

/* The result of the table in use against the scalar table's. */
static int case_check(pool *p, mcase *c, enum kern_isa isa) {
    kern_use(KERN_SCALAR);
    case_run(p, c, 0);
    memcpy(c->ref, c->y, sizeof(float) * c->n_out * c->T);
    kern_use(isa);
    case_run(p, c, 0);
    double maxref = 0, maxdiff = 0;
    for (int i = 0; i < c->n_out * c->T; i++) {
        maxref = fmax(maxref, fabs(c->ref[i]));
        maxdiff = fmax(maxdiff, fabs(c->y[i] - c->ref[i]));
    }
    if (!(maxdiff <= 1e-4 * maxref)) {
        fprintf(stderr, "matvec: %s %s %dx%d differs from scalar: %g (max |y| %g)\n",
                kern_get()->name, type_name(c->type), c->n_out, c->n_in, maxdiff, maxref);
        return 1;
    }
    return 0;
}

/* Best seconds per pass over all copies. */
static double case_time(pool *p, mcase *c, int reps) {
    double best = 1e30;
    for (int r = 0; r <= reps; r++) {
        double t0 = now_s();
        for (int k = 0; k < c->copies; k++) case_run(p, c, k);
        double dt = now_s() - t0;
        if (r > 0 && dt < best) best = dt;
    }
    return best;
}

/* ---- driver ---- */

static int parse_opts(int argc, char **argv, opts *o) {
    *o = (opts){.threads = 0, .T = 1, .reps = 5, .mib = 256, .isa = "all"};
    o->types = "F32,F16,BF16,Q8_0,Q4_0,Q4_K,Q5_K,Q6_K";
    o->shapes = "4096x4096,11008x4096";
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) return 1;
        if (!strcmp(a, "-t"))
            o->threads = atoi(v);
        else if (!strcmp(a, "-T"))
            o->T = atoi(v);
        else if (!strcmp(a, "-r"))
            o->reps = atoi(v);
        else if (!strcmp(a, "--mib"))
            o->mib = (size_t)atol(v);
        else if (!strcmp(a, "--isa"))
            o->isa = v;
        else if (!strcmp(a, "--types"))
            o->types = v;
        else if (!strcmp(a, "--shapes"))
            o->shapes = v;
        else if (!strcmp(a, "--invariant"))
            o->invariant = atoi(v);
        else
            return 1;
    }
    return o->T < 1 || o->reps < 1 || o->mib < 1;
}

static uint32_t type_by_name(const char *name, size_t len) {
    for (uint32_t t = 0; t < TYPE_COUNT; t++) {
        const char *n = type_get(t) ? type_name(t) : NULL;
        if (n && strlen(n) == len && !strncmp(n, name, len) && type_get(t)->supported) return t;
    }
    return TYPE_COUNT;
}

static void print_case(const opts *o, const mcase *c, int nth, double secs, double bw) {
    double gbs = (double)c->bytes * c->copies / secs * 1e-9;
    double gflops = 2.0 * c->n_out * c->n_in * c->T * c->copies / secs * 1e-9;
    printf("%-7s %-5s %5dx%-5d T=%-3d %d thr  %8.3f ms/matmul  %6.1f GB/s  %5.1f%% of read bw  "
           "%7.1f GFLOP/s\n",
           kern_get()->name, type_name(c->type), c->n_out, c->n_in, o->T, nth,
           secs / c->copies * 1e3, gbs, 100.0 * gbs / bw, gflops);
    fflush(stdout);
}

/* Every table x type x shape named in o, on a pool of nth threads. */
static int run_all(const opts *o, int nth, double bw) {
    pool *p;
    penny_error err;
    if (pool_new(nth, &p, &err)) return fprintf(stderr, "matvec: %s\n", err.message), 1;
    int rc = 0;
    for (int isa = 0; isa < KERN_ISA_COUNT; isa++) {
        const kern_ops *k = kern_ops_for((enum kern_isa)isa);
        if (!k || (strcmp(o->isa, "all") && strcmp(o->isa, k->name))) continue;
        for (const char *t = o->types; *t;) {
            size_t len = strcspn(t, ",");
            uint32_t type = type_by_name(t, len);
            for (const char *s = o->shapes; *s && type < TYPE_COUNT;) {
                int n_out = atoi(s), n_in = atoi(strchr(s, 'x') ? strchr(s, 'x') + 1 : s);
                mcase c;
                case_init(&c, type, n_out, n_in, o->T, isa == KERN_SCALAR ? o->mib / 4 : o->mib);
                c.invariant = o->invariant;
                if (case_check(p, &c, (enum kern_isa)isa))
                    rc = 1;
                else
                    print_case(o, &c, nth, case_time(p, &c, o->reps), bw);
                case_free(&c);
                s += strcspn(s, ",");
                s += *s == ',';
            }
            t += len + (t[len] == ',');
        }
    }
    pool_free(p);
    return rc;
}

int main(int argc, char **argv) {
    opts o;
    if (parse_opts(argc, argv, &o)) {
        fprintf(stderr, "usage: matvec [-t THREADS] [--isa all|scalar|avx2|avx512|neon] "
                        "[--types F32,Q4_0,..] [--shapes 4096x4096,..] [-T TOKENS] [-r REPS] "
                        "[--mib MB] [--invariant 1]\n");
        return 2;
    }
    int rc = 0;
    for (int nth = 1; nth <= 2; nth++) {
        if (o.threads && nth != o.threads) continue;
        pool *p;
        penny_error err;
        if (pool_new(nth, &p, &err)) return fprintf(stderr, "matvec: %s\n", err.message), 1;
        double bw = read_bandwidth(p, (size_t)1 << 30, 7);
        pool_free(p);
        rc |= run_all(&o, nth, bw);
    }
    return rc;
}
