/*
 * pool.h - the engine's one persistent thread pool.
 *
 * Generation runs thousands of tiny parallel steps per second, so dispatch
 * and the join barrier must cost microseconds, not a thread start: workers
 * spin briefly on an atomic generation counter before sleeping on a futex-like
 * condition variable. pool_run executes fn(arg, ith, nth) on every thread,
 * the caller being thread 0, and returns once all have finished.
 *
 * A pool belongs to one model; it is not reentrant (one pool_run at a time).
 */
#ifndef PENNY_BASE_POOL_H
#define PENNY_BASE_POOL_H

#include "penny.h"

typedef struct pool pool;
typedef void (*pool_fn)(void *arg, int ith, int nth);

/* n_threads <= 0 picks the number of online CPUs. */
penny_status pool_new(int n_threads, pool **out, penny_error *err);
void pool_free(pool *p);
int pool_size(const pool *p);
void pool_run(pool *p, pool_fn fn, void *arg);

/* Splits [0, n) into nth near-equal ranges; thread ith gets [*lo, *hi). */
static inline void pool_range(long n, int ith, int nth, long *lo, long *hi) {
    long q = n / nth, r = n % nth;
    *lo = ith * q + (ith < r ? ith : r);
    *hi = *lo + q + (ith < r ? 1 : 0);
}

#endif
