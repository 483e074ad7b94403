/*
 * bw.c - measures how fast this machine can read memory, the ceiling of
 * token generation (every weight is read once per token), and how fast it can
 * read a model file under each way of bringing it into memory.
 *
 * Default: fills an anonymous buffer (2 MiB transparent huge pages requested;
 * --pages 4k to refuse them) and reads it with T threads by each method of
 * readbw.h (plain loop, AVX2 and AVX-512 loads, software prefetch,
 * non-temporal loads, four streams per thread, threads dealt 1 MiB chunks),
 * one pass of every method in turn, R rounds, so that other people's load on
 * a shared machine falls on all methods alike. Prints best and median GB/s
 * per method, and as the ceiling the method with the best median (a ceiling
 * that a real program beats is none: the old plain loop, kept for
 * reference, under-reads). With --json one object per method, then the
 * ceiling's object last; bench/vs-llamacpp divides model bytes x tokens/s by
 * it.
 *
 * With --file, the file is brought in by one of four policies and read
 * repeatedly for --seconds, one line per pass with GB/s and the page faults
 * that pass took, to see whether a policy loses speed over time (this VM's
 * DAMON page-out scheme acts on memory left idle for about a minute):
 *   lazy      mmap, pages faulted in on first touch
 *   populate  mmap with MAP_POPULATE + MADV_WILLNEED
 *   hugemap   mmap + MADV_HUGEPAGE (file-backed THP, where the kernel has it)
 *   load      read() into anonymous memory with MADV_HUGEPAGE
 *
 * Self-contained (libc + pthreads) so it builds with or without libpenny.
 * usage: bw [-t THREADS] [-s MIB] [-r ROUNDS] [--method NAME] [--pages huge|4k] [--json]
 *        bw --file PATH [--mode lazy|populate|hugemap|load] [--seconds N] [--idle N]
 *           [-t THREADS] [--method NAME]   (--idle: wait N seconds untouched before reading)
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "readbw.h"

typedef struct bw_job {
    const unsigned char *base;
    const rbw_method *method;
    size_t size;
    int nth, reps;
    double cpu[64]; /* each reader's CPU seconds over its passes */
    pthread_barrier_t start, stop;
    volatile uint64_t sink;
} bw_job;

typedef struct bw_arg {
    bw_job *job;
    int ith;
} bw_arg;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double thread_cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Thread body: each rep reads slice ith of the buffer between two barriers,
 * so the caller can time exactly one full pass. */
static void *reader(void *p) {
    bw_arg *a = p;
    bw_job *j = a->job;
    double c0 = thread_cpu_s();
    for (int r = 0; r < j->reps; r++) {
        pthread_barrier_wait(&j->start);
        j->sink += rbw_slice(j->method, j->base, j->size, a->ith, j->nth);
        pthread_barrier_wait(&j->stop);
    }
    j->cpu[a->ith] = thread_cpu_s() - c0;
    return NULL;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void faults(long *minor, long *major) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    *minor = ru.ru_minflt;
    *major = ru.ru_majflt;
}

/* What the process and the machine did, to tell a slow memory from a
 * busy CPU: our CPU seconds, faults, and the whole machine's busy and
 * stolen (hypervisor) time from /proc/stat, in seconds. */
typedef struct bw_sample {
    double wall, cpu, busy_all, steal;
    long minor, major;
} bw_sample;

static bw_sample sample_now(void) {
    bw_sample s = {.wall = now_s()};
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    s.cpu = ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
            (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
    s.minor = ru.ru_minflt;
    s.major = ru.ru_majflt;
    unsigned long long v[8] = {0};
    FILE *f = fopen("/proc/stat", "r");
    if (f && fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                    &v[4], &v[5], &v[6], &v[7]) == 8) {
        double hz = (double)sysconf(_SC_CLK_TCK);
        s.busy_all = (v[0] + v[1] + v[2] + v[5] + v[6]) / hz;
        s.steal = v[7] / hz;
    }
    if (f) fclose(f);
    return s;
}

/* One line: GB/s over the window; GB per CPU-second of the readers (their
 * speed while they ran: the figure to compare when others share the CPU);
 * our CPU share; other processes' CPU use and stolen time in cores; faults. */
static void print_window(const char *what, double t, double bytes, double gbps, double worst_gbps,
                         bw_sample a, bw_sample b, int nth) {
    double wall = b.wall - a.wall, ours = b.cpu - a.cpu;
    double others = (b.busy_all - a.busy_all - ours) / wall;
    printf("%s t=%5.1fs %6.2f GB/s (worst %6.2f)  %5.1f GB/cpu-s  our cpu %3.0f%%  others %4.2f"
           " cores  steal %4.2f  faults %ld minor %ld major\n",
           what, t, gbps, worst_gbps, ours > 0 ? bytes / ours * 1e-9 : 0, 100 * ours / (wall * nth),
           others < 0 ? 0 : others, (b.steal - a.steal) / wall, b.minor - a.minor,
           b.major - a.major);
    fflush(stdout);
}

/* Reads base[0..size) reps times with nth threads by method m; fills
 * secs[reps]; returns the readers' CPU seconds. */
static double run_passes(const unsigned char *base, size_t size, int nth, const rbw_method *m,
                         int reps, double *secs) {
    bw_job j = {.base = base, .method = m, .size = size, .nth = nth, .reps = reps};
    pthread_t th[64];
    bw_arg args[64];
    pthread_barrier_init(&j.start, NULL, (unsigned)nth + 1);
    pthread_barrier_init(&j.stop, NULL, (unsigned)nth + 1);
    for (int i = 0; i < nth; i++) {
        args[i] = (bw_arg){&j, i};
        if (pthread_create(&th[i], NULL, reader, &args[i])) {
            fprintf(stderr, "bw: cannot start thread %d\n", i);
            exit(1);
        }
    }
    for (int r = 0; r < reps; r++) {
        double t0 = now_s();
        pthread_barrier_wait(&j.start);
        pthread_barrier_wait(&j.stop);
        secs[r] = now_s() - t0;
    }
    double cpu = 0;
    for (int i = 0; i < nth; i++) pthread_join(th[i], NULL), cpu += j.cpu[i];
    pthread_barrier_destroy(&j.start);
    pthread_barrier_destroy(&j.stop);
    return cpu;
}

/* One method's passes: GB/s of the best and the median pass, and the rate
 * the readers saw while they ran (bytes per reader CPU-second x threads): on
 * a shared machine the wall-clock figures fall with other people's load,
 * this one much less. */
typedef struct bw_result {
    double best, median, running;
} bw_result;

static bw_result summarize(size_t size, int nth, double *secs, int reps, double cpu) {
    qsort(secs, (size_t)reps, sizeof *secs, cmp_double);
    return (bw_result){size / secs[0] * 1e-9, size / secs[reps / 2] * 1e-9,
                       cpu > 0 ? (double)size * reps / cpu * nth * 1e-9 : 0};
}

static void print_result(const char *what, const rbw_method *m, bw_result r, size_t size, int nth,
                         int reps, double others, int json) {
    if (json)
        printf("{\"test\":\"%s\",\"method\":\"%s\",\"threads\":%d,\"bytes\":%zu,"
               "\"gbps_best\":%.2f,\"gbps_median\":%.2f,\"gbps_running\":%.2f,"
               "\"others_cores\":%.2f",
               what, m->name, nth, size, r.best, r.median, r.running, others);
    else
        printf("%-8s %-16s %d thread(s), %.0f MiB: best %6.2f GB/s, median %6.2f GB/s (%d passes);"
               " %6.2f GB/s while running\n",
               what, m->name, nth, size / 1048576.0, r.best, r.median, reps, r.running);
}

/* Anonymous memory, 2 MiB aligned, with THP requested (or refused: 4k). */
static unsigned char *anon_alloc(size_t size, int small_pages) {
    size_t huge = (size_t)2 << 20;
    unsigned char *p =
        mmap(NULL, size + huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
    p = (unsigned char *)(((uintptr_t)p + huge - 1) & ~(uintptr_t)(huge - 1));
    madvise(p, size, small_pages ? MADV_NOHUGEPAGE : MADV_HUGEPAGE);
    return p;
}

/* Every usable method (or only `only`), one pass each in turn, `rounds`
 * times; prints each, then the ceiling: the method with the best median. */
static int bench_anon(int nth, size_t mib, int rounds, const char *only, int small_pages,
                      int json) {
    size_t size = mib << 20;
    unsigned char *buf = anon_alloc(size, small_pages);
    double *secs = calloc((size_t)RBW_COUNT * rounds, sizeof *secs), cpu[RBW_COUNT] = {0};
    if (!buf || !secs) {
        fprintf(stderr, "bw: cannot allocate %zu MiB\n", mib);
        return 1;
    }
    for (size_t i = 0; i < size; i += 8) memcpy(buf + i, &i, 8);
    int use[RBW_COUNT], any = 0;
    for (int m = 0; m < RBW_COUNT; m++) {
        use[m] = rbw_usable(&rbw_methods[m]) && (!only || !strcmp(only, rbw_methods[m].name));
        if (use[m]) any = 1, run_passes(buf, size, nth, &rbw_methods[m], 1, secs); /* warm-up */
    }
    if (!any) return fprintf(stderr, "bw: no usable method %s\n", only ? only : ""), 2;
    bw_sample a = sample_now();
    for (int r = 0; r < rounds; r++)
        for (int m = 0; m < RBW_COUNT; m++)
            if (use[m])
                cpu[m] += run_passes(buf, size, nth, &rbw_methods[m], 1, &secs[m * rounds + r]);
    bw_sample b = sample_now();
    double others = (b.busy_all - a.busy_all - (b.cpu - a.cpu)) / (b.wall - a.wall);
    others = others < 0 ? 0 : others;
    bw_result res[RBW_COUNT];
    int top = -1;
    for (int m = 0; m < RBW_COUNT; m++) {
        if (!use[m]) continue;
        res[m] = summarize(size, nth, &secs[m * rounds], rounds, cpu[m]);
        if (top < 0 || res[m].median > res[top].median) top = m;
        print_result("method", &rbw_methods[m], res[m], size, nth, rounds, others, json);
        if (json) printf("}\n");
    }
    print_result("read", &rbw_methods[top], res[top], size, nth, rounds, others, json);
    if (json && use[0])
        printf(",\"plain_gbps_best\":%.2f,\"plain_gbps_median\":%.2f}\n", res[0].best,
               res[0].median);
    else if (json)
        printf("}\n");
    else
        printf("ceiling: %s (best median of %d rounds); other processes used %.2f cores\n",
               rbw_methods[top].name, rounds, others);
    free(secs);
    munmap(buf, size);
    return 0;
}

/* Brings the file in by `mode`; returns the base address or NULL. */
static unsigned char *file_bring(int fd, size_t size, const char *mode) {
    if (!strcmp(mode, "load")) {
        unsigned char *buf = anon_alloc(size, 0);
        if (!buf) return NULL;
        for (size_t off = 0; off < size;) {
            ssize_t n =
                pread(fd, buf + off, size - off > (1u << 30) ? (1u << 30) : size - off, (off_t)off);
            if (n <= 0) return NULL;
            off += (size_t)n;
        }
        return buf;
    }
    int populate = !strcmp(mode, "populate");
    void *p = mmap(NULL, size, PROT_READ, MAP_PRIVATE | (populate ? MAP_POPULATE : 0), fd, 0);
    if (p == MAP_FAILED) return NULL;
    if (populate) madvise(p, size, MADV_WILLNEED);
    if (!strcmp(mode, "hugemap") && madvise(p, size, MADV_HUGEPAGE))
        fprintf(stderr, "bw: MADV_HUGEPAGE on the file mapping: %s\n", strerror(errno));
    return p;
}

/* The method named `name` (NULL: plain) if this CPU runs it, else NULL. */
static const rbw_method *method_named(const char *name) {
    for (int m = 0; m < RBW_COUNT; m++)
        if (!strcmp(name ? name : "plain", rbw_methods[m].name) && rbw_usable(&rbw_methods[m]))
            return &rbw_methods[m];
    fprintf(stderr, "bw: no usable method %s\n", name);
    return NULL;
}

static int bench_file(const char *path, const char *mode, const rbw_method *m, int nth,
                      double seconds, int idle) {
    int fd = open(path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st)) {
        fprintf(stderr, "bw: %s: %s\n", path, strerror(errno));
        return 1;
    }
    size_t size = (size_t)st.st_size;
    long mi0, ma0, mi1, ma1;
    faults(&mi0, &ma0);
    double t0 = now_s();
    unsigned char *base = file_bring(fd, size, mode);
    double t_load = now_s() - t0;
    faults(&mi1, &ma1);
    close(fd);
    if (!base) {
        fprintf(stderr, "bw: %s: cannot bring in (%s)\n", path, mode);
        return 1;
    }
    printf("%s: mode %s, %.2f GB, brought in in %.2f s (minor faults %ld, major %ld)\n", path, mode,
           size * 1e-9, t_load, mi1 - mi0, ma1 - ma0);
    if (idle > 0) {
        printf("idle for %d s\n", idle);
        fflush(stdout);
        sleep((unsigned)idle);
    }
    double t_start = now_s(), worst = 0, bytes = 0, busy = 0, first[1];
    bw_sample a = sample_now(), b;
    run_passes(base, size, nth, m, 1, first);
    b = sample_now();
    print_window("first pass", 0, (double)size, size / first[0] * 1e-9, size / first[0] * 1e-9, a,
                 b, nth);
    a = b;
    while (now_s() < t_start + seconds || bytes == 0) {
        double secs[1];
        run_passes(base, size, nth, m, 1, secs);
        bytes += (double)size;
        busy += secs[0];
        if (secs[0] > worst) worst = secs[0];
        if (now_s() - a.wall >= 2.0) {
            b = sample_now();
            print_window("window", b.wall - t_start, bytes, bytes / busy * 1e-9,
                         size / worst * 1e-9, a, b, nth);
            a = b;
            worst = bytes = busy = 0;
        }
    }
    return 0;
}

int main(int argc, char **argv) {
    int nth = 2, reps = 10, json = 0, idle = 0, small_pages = 0;
    size_t mib = 1024;
    double seconds = 30;
    const char *file = NULL, *mode = "populate", *method = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--json"))
            json = 1;
        else if (v && !strcmp(a, "-t"))
            nth = atoi(argv[++i]);
        else if (v && !strcmp(a, "-s"))
            mib = (size_t)atol(argv[++i]);
        else if (v && !strcmp(a, "-r"))
            reps = atoi(argv[++i]);
        else if (v && !strcmp(a, "--file"))
            file = argv[++i];
        else if (v && !strcmp(a, "--mode"))
            mode = argv[++i];
        else if (v && !strcmp(a, "--seconds"))
            seconds = atof(argv[++i]);
        else if (v && !strcmp(a, "--idle"))
            idle = atoi(argv[++i]);
        else if (v && !strcmp(a, "--method"))
            method = argv[++i];
        else if (v && !strcmp(a, "--pages") && (!strcmp(v, "4k") || !strcmp(v, "huge")))
            small_pages = !strcmp(argv[++i], "4k");
        else {
            fprintf(stderr, "usage: bw [-t THREADS] [-s MIB] [-r ROUNDS] [--method NAME] "
                            "[--pages huge|4k] [--json]\n"
                            "       bw --file PATH [--mode lazy|populate|hugemap|load] "
                            "[--seconds N] [--idle N] [-t THREADS] [--method NAME]\n"
                            "methods:");
            for (int m = 0; m < RBW_COUNT; m++) fprintf(stderr, " %s", rbw_methods[m].name);
            fprintf(stderr, "\n");
            return 2;
        }
    }
    if (nth < 1 || nth > 64 || reps < 1 || mib < 1) {
        fprintf(stderr, "bw: threads 1..64, reps >= 1, size >= 1 MiB\n");
        return 2;
    }
    if (!file) return bench_anon(nth, mib, reps, method, small_pages, json);
    const rbw_method *m = method_named(method);
    return m ? bench_file(file, mode, m, nth, seconds, idle) : 2;
}
