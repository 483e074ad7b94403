/*
 * pool.c - persistent worker threads with a spin-then-sleep handoff.
 *
 * A job is published by bumping `gen`; workers waiting for a new gen spin for
 * a short while (the common case during generation, where jobs arrive every
 * few microseconds) and then block on a condition variable. Completion is an
 * atomic countdown the caller spins on.
 */
#include "base/pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/err.h"

#define POOL_SPINS 20000

struct pool {
    int n;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    _Atomic unsigned gen;
    _Atomic int pending;
    _Atomic int sleepers;
    _Atomic int quit;
    pool_fn fn;
    void *arg;
};

typedef struct worker_arg {
    pool *p;
    int ith;
} worker_arg;

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

/* Spinning is only cheap while every thread has a core: yield now and then
 * so that an oversubscribed machine (more threads than free cores) still
 * makes progress instead of burning whole time slices. */
static inline void spin_pause(int i) {
    if ((i & 255) == 255) sched_yield();
    else cpu_relax();
}

static unsigned wait_gen(pool *p, unsigned seen) {
    for (int i = 0; i < POOL_SPINS; i++) {
        unsigned g = atomic_load_explicit(&p->gen, memory_order_acquire);
        if (g != seen) return g;
        spin_pause(i);
    }
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add(&p->sleepers, 1);
    unsigned g;
    while ((g = atomic_load(&p->gen)) == seen) pthread_cond_wait(&p->cv, &p->mu);
    atomic_fetch_sub(&p->sleepers, 1);
    pthread_mutex_unlock(&p->mu);
    return g;
}

static void *worker_main(void *v) {
    worker_arg wa = *(worker_arg *)v;
    free(v);
    pool *p = wa.p;
    unsigned seen = 0;
    for (;;) {
        seen = wait_gen(p, seen);
        if (atomic_load(&p->quit)) break;
        p->fn(p->arg, wa.ith, p->n);
        atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel);
    }
    return NULL;
}

static void publish(pool *p) {
    atomic_fetch_add(&p->gen, 1); /* seq_cst: pairs with the sleepers check */
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
}

penny_status pool_new(int n_threads, pool **out, penny_error *err) {
    *out = NULL;
    if (n_threads <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = c > 0 ? (int)c : 1;
    }
    if (n_threads > 512) return err_set(err, PENNY_ERR_ARG, "thread count %d too large", n_threads);
    pool *p = calloc(1, sizeof *p);
    if (!p) return err_set(err, PENNY_ERR_NOMEM, "out of memory creating thread pool");
    p->n = n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->threads = calloc((size_t)n_threads, sizeof *p->threads);
    if (!p->threads) {
        pool_free(p);
        return err_set(err, PENNY_ERR_NOMEM, "out of memory creating thread pool");
    }
    for (int i = 1; i < n_threads; i++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (!wa) goto fail;
        wa->p = p;
        wa->ith = i;
        if (pthread_create(&p->threads[i], NULL, worker_main, wa) != 0) {
            free(wa);
            goto fail;
        }
    }
    *out = p;
    return PENNY_OK;
fail:
    pool_free(p);
    return err_set(err, PENNY_ERR_NOMEM, "cannot start %d worker threads", n_threads);
}

void pool_free(pool *p) {
    if (!p) return;
    if (p->threads) {
        atomic_store(&p->quit, 1);
        publish(p);
        for (int i = 1; i < p->n; i++)
            if (p->threads[i]) pthread_join(p->threads[i], NULL);
        free(p->threads);
    }
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p);
}

int pool_size(const pool *p) { return p->n; }

void pool_run(pool *p, pool_fn fn, void *arg) {
    if (p->n == 1) {
        fn(arg, 0, 1);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    atomic_store_explicit(&p->pending, p->n - 1, memory_order_release);
    publish(p);
    fn(arg, 0, p->n);
    for (int i = 0; atomic_load_explicit(&p->pending, memory_order_acquire) > 0; i++) spin_pause(i);
}
