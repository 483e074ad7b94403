/*
 * test_pool.c - the thread pool runs every job on every thread exactly once,
 * the caller sees all writes when pool_run returns, ranges tile [0, n), and
 * back-to-back tiny jobs (the generation pattern) neither lose nor repeat work.
 */
#include <stdatomic.h>
#include <string.h>

#include "base/pool.h"
#include "check.h"

typedef struct job {
    int counts[64];
    long sum;
    _Atomic long total;
    int n;
} job;

static void count_fn(void *arg, int ith, int nth) {
    job *j = arg;
    j->counts[ith]++;
    long lo, hi, s = 0;
    pool_range(j->n, ith, nth, &lo, &hi);
    for (long i = lo; i < hi; i++) s += i;
    atomic_fetch_add(&j->total, s);
}

static void test_pool(int nthreads) {
    pool *p = NULL;
    penny_error err = {0};
    CHECK(pool_new(nthreads, &p, &err) == PENNY_OK);
    if (!p) return;
    CHECK(pool_size(p) == nthreads);
    job j;
    memset(&j, 0, sizeof j);
    const int runs = 5000;
    for (int r = 0; r < runs; r++) {
        j.n = r % 97;
        atomic_store(&j.total, 0);
        pool_run(p, count_fn, &j);
        long want = (long)j.n * (j.n - 1) / 2;
        if (atomic_load(&j.total) != want) {
            CHECKF(0, "run %d: sum %ld want %ld", r, atomic_load(&j.total), want);
            break;
        }
    }
    for (int i = 0; i < nthreads; i++) CHECKF(j.counts[i] == runs, "thread %d ran %d", i, j.counts[i]);
    pool_free(p);
}

static void test_range(void) {
    for (int nth = 1; nth <= 7; nth++)
        for (long n = 0; n < 50; n++) {
            long prev = 0;
            for (int i = 0; i < nth; i++) {
                long lo, hi;
                pool_range(n, i, nth, &lo, &hi);
                CHECK(lo == prev && hi >= lo && hi - lo <= n / nth + 1);
                prev = hi;
            }
            CHECK(prev == n);
        }
}

int main(void) {
    test_range();
    test_pool(1);
    test_pool(2);
    test_pool(4); /* more threads than cores: the sleep path gets exercised */
    pool_free(NULL);
    return check_done("test_pool");
}
