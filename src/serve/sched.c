/*
 * sched.c - the continuous-batching scheduler of sched.h.
 *
 * One thread runs steps while any slot is busy and sleeps on a condition
 * variable otherwise. A step: drop cancelled jobs, move queued jobs into
 * free slots (preferring the slot whose cached tokens share the longest
 * prefix with the prompt), gather one token for every generating slot and
 * up to `chunk` prompt tokens for prefilling slots in arrival order, call
 * penny_eval_multi once, then sample for every slot whose prompt is now
 * complete. Text goes through the slot's streaming detokenizer and stop
 * matcher before it is appended to the job under the job's lock.
 *
 * Locks: s->mu guards the queue, the slot-to-job assignment seen by stats
 * and the counters; j->mu guards a job's output. The scheduler never holds
 * both at once except s->mu then j->mu when failing queued jobs.
 */
#include "serve/sched.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/err.h"
#include "base/log.h"

#define RATE_BUCKETS 50

typedef struct rate_bucket {
    int64_t tick; /* time in 100 ms units */
    uint64_t tokens;
    double busy; /* seconds spent in steps */
} rate_bucket;

struct sched_job {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs; /* under mu */
    /* inputs: fixed once submitted */
    penny_token *prompt;
    int n_prompt, max_tokens;
    bool ignore_eos;
    penny_sampler_params sp;
    char *stop[STOP_MAX];
    int n_stop;
    atomic_bool cancelled;
    sched_job *next; /* queue link, under sched.mu */
    /* outputs, under mu */
    sbuf text; /* produced and not yet taken by sched_job_wait */
    /* Lengths of the pieces in text, oldest first, and how many bytes and
     * pieces were taken already: a stream sends each token's text as its own
     * event however far its client lags behind. */
    size_t *piece, n_piece, cap_piece, text_off, piece_off;
    bool done, failed;
    const char *finish;
    int n_cached, n_gen;
    char error[256];
};

typedef struct slot {
    penny_context *ctx;
    penny_token *cache; /* (n_ctx) tokens now in the KV cache */
    int n_cache;
    sched_job *job; /* NULL: free */
    uint64_t order; /* when the job arrived: prefill goes oldest first */
    int n_fed;      /* prompt tokens in the cache */
    int n_gen;
    bool has_next; /* next: sampled, to be evaluated in the next step */
    penny_token next;
    penny_sampler *smp;
    penny_detok *dt;
    stopstr stop;
    sbuf emit; /* scratch: text released by the stop matcher this step */
} slot;

struct sched {
    penny_model *m;
    sched_params p;
    int n_ctx;
    slot *slots;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    bool started, stopping;
    sched_job *qhead, *qtail;
    uint64_t n_arrived;
    sched_stats st;
    rate_bucket rate[RATE_BUCKETS]; /* generation rate: per 100 ms, the last 5 s */
    penny_token *eog;               /* the vocabulary's end tokens, masked for ignore_eos */
    int n_eog;
    float *masked; /* (n_vocab) logits with end tokens masked */
    /* step scratch, scheduler thread only: one entry per evaluated slot */
    penny_context **b_ctx;
    const penny_token **b_tok;
    int *b_n, *b_slot;
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void cond_init_monotonic(pthread_cond_t *cv) {
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(cv, &a);
    pthread_condattr_destroy(&a);
}

/* ---- jobs ---- */

penny_status sched_job_new(const sched_job_params *p, sched_job **out, penny_error *err) {
    *out = NULL;
    if (p->n_prompt <= 0 || p->n_stop > STOP_MAX)
        return err_set(err, PENNY_ERR_ARG, "job needs a prompt and at most %d stops", STOP_MAX);
    sched_job *j = calloc(1, sizeof *j);
    if (!j || !(j->prompt = malloc(sizeof *j->prompt * (size_t)p->n_prompt))) goto oom;
    memcpy(j->prompt, p->prompt, sizeof *j->prompt * (size_t)p->n_prompt);
    for (int i = 0; i < p->n_stop; i++)
        if (!(j->stop[j->n_stop++] = strdup(p->stop[i]))) goto oom;
    j->n_prompt = p->n_prompt;
    j->max_tokens = p->max_tokens;
    j->ignore_eos = p->ignore_eos;
    j->sp = p->sp;
    j->refs = 1;
    atomic_init(&j->cancelled, false);
    pthread_mutex_init(&j->mu, NULL);
    cond_init_monotonic(&j->cv);
    *out = j;
    return PENNY_OK;
oom:
    if (j) {
        for (int i = 0; i < j->n_stop; i++) free(j->stop[i]);
        free(j->prompt);
        free(j);
    }
    return err_set(err, PENNY_ERR_NOMEM, "out of memory for a %d-token job", p->n_prompt);
}

void sched_job_release(sched_job *j) {
    if (!j) return;
    pthread_mutex_lock(&j->mu);
    int left = --j->refs;
    pthread_mutex_unlock(&j->mu);
    if (left) return;
    for (int i = 0; i < j->n_stop; i++) free(j->stop[i]);
    free(j->prompt);
    sbuf_free(&j->text);
    free(j->piece);
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    free(j);
}

void sched_job_cancel(sched_job *j) { atomic_store(&j->cancelled, true); }

/* Queues one piece of text; false when out of memory (text unchanged). */
static bool job_add_piece(sched_job *j, const sbuf *text) {
    if (j->text_off && 2 * j->text_off >= j->text.len) { /* drop what was taken: amortised linear */
        sbuf_consume(&j->text, j->text_off);
        j->n_piece -= j->piece_off;
        memmove(j->piece, j->piece + j->piece_off, j->n_piece * sizeof *j->piece);
        j->text_off = j->piece_off = 0;
    }
    if (j->n_piece == j->cap_piece) {
        size_t cap = j->cap_piece ? 2 * j->cap_piece : 16;
        size_t *p = realloc(j->piece, cap * sizeof *p);
        if (!p) return false;
        j->piece = p;
        j->cap_piece = cap;
    }
    if (!sbuf_add(&j->text, text->p, text->len)) return false;
    j->piece[j->n_piece++] = text->len;
    return true;
}

/* Appends text and/or ends the job, waking its waiter. */
static void job_publish(sched_job *j, int n_gen, const sbuf *text, const char *finish,
                        const char *error) {
    pthread_mutex_lock(&j->mu);
    if (n_gen >= 0) j->n_gen = n_gen;
    if (text && text->len && !job_add_piece(j, text)) {
        j->failed = j->done = true;
        snprintf(j->error, sizeof j->error, "out of memory for generated text");
    }
    if (finish || error) j->done = true;
    if (finish) j->finish = finish;
    if (error) {
        j->failed = true;
        snprintf(j->error, sizeof j->error, "%s", error);
    }
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

/* Moves the oldest piece (or all text) into out; under j->mu. */
static void job_take(sched_job *j, sbuf *out, bool one_piece) {
    size_t n =
        one_piece && j->piece_off < j->n_piece ? j->piece[j->piece_off] : j->text.len - j->text_off;
    if (!sbuf_add(out, j->text.p + j->text_off, n)) {
        j->failed = j->done = true;
        snprintf(j->error, sizeof j->error, "out of memory for generated text");
        return;
    }
    j->text_off += n;
    j->piece_off++;
    if (j->text_off == j->text.len) {
        sbuf_clear(&j->text);
        j->text_off = j->n_piece = j->piece_off = 0;
    }
}

bool sched_job_wait(sched_job *j, sbuf *out, int timeout_ms, bool one_piece, sched_result *res) {
    pthread_mutex_lock(&j->mu);
    if (!j->done && !j->text.len && timeout_ms > 0) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += timeout_ms / 1000;
        ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&j->cv, &j->mu, &ts);
    }
    if (j->text.len) job_take(j, out, one_piece);
    /* done only once every piece has been taken */
    bool done = j->done && (!j->text.len || j->failed);
    res->done = done;
    res->failed = j->failed;
    res->finish = j->finish;
    res->n_prompt = j->n_prompt;
    res->n_cached = j->n_cached;
    res->n_gen = j->n_gen;
    snprintf(res->error, sizeof res->error, "%s", j->error);
    pthread_mutex_unlock(&j->mu);
    return done;
}

/* ---- slots ---- */

/* Ends the slot's job (finish reason or error) and frees the slot; the KV
 * cache and its token mirror stay for prefix reuse. */
static void slot_end(sched *s, slot *sl, const char *finish, const char *error) {
    sched_job *j = sl->job;
    if (!j) return;
    bool oom = false;
    sbuf_clear(&sl->emit);
    if (finish && strcmp(finish, "stop_string")) {
        const char *rest = penny_detok_flush(sl->dt);
        stop_feed(&sl->stop, rest, strlen(rest), &sl->emit, &oom);
        stop_flush(&sl->stop, &sl->emit, &oom);
    }
    if (finish && !strcmp(finish, "stop_string")) finish = "stop";
    job_publish(j, sl->n_gen, &sl->emit, finish, oom ? "out of memory" : error);
    penny_detok_flush(sl->dt); /* reset for the next job */
    stop_free(&sl->stop);
    penny_sampler_free(sl->smp);
    sl->smp = NULL;
    sl->job = NULL;
    sl->has_next = false;
    pthread_mutex_lock(&s->mu);
    s->st.busy--;
    s->st.jobs_done++;
    pthread_mutex_unlock(&s->mu);
    sched_job_release(j);
}

static int common_prefix(const penny_token *a, int na, const penny_token *b, int nb) {
    int n = na < nb ? na : nb, i = 0;
    while (i < n && a[i] == b[i]) i++;
    return i;
}

/* Puts a job into a free slot: reuses the cached prefix (keeping at least
 * one prompt token to evaluate, whose logits start generation). */
static void slot_start(sched *s, slot *sl, sched_job *j) {
    penny_error err = {0};
    sl->job = j;
    sl->order = s->n_arrived++;
    sl->n_gen = 0;
    sl->has_next = false;
    pthread_mutex_lock(&s->mu);
    s->st.busy++;
    pthread_mutex_unlock(&s->mu);
    if (j->n_prompt >= s->n_ctx) {
        slot_end(s, sl, NULL, "the prompt does not fit the context");
        return;
    }
    int reuse = common_prefix(sl->cache, sl->n_cache, j->prompt, j->n_prompt);
    if (reuse > j->n_prompt - 1) reuse = j->n_prompt - 1;
    penny_context_truncate(sl->ctx, reuse);
    sl->n_cache = sl->n_fed = reuse;
    pthread_mutex_lock(&j->mu);
    j->n_cached = reuse;
    pthread_mutex_unlock(&j->mu);
    penny_sampler_params sp = j->sp;
    if (sp.penalty_last_n < 0) sp.penalty_last_n = s->n_ctx;
    if (penny_sampler_new(&sp, penny_model_n_vocab(s->m), &sl->smp, &err) ||
        stop_init(&sl->stop, (const char *const *)j->stop, j->n_stop, &err)) {
        slot_end(s, sl, NULL, err.message);
        return;
    }
    pthread_mutex_lock(&s->mu);
    s->st.cached_tokens += (uint64_t)reuse;
    s->st.prompt_tokens += (uint64_t)j->n_prompt;
    pthread_mutex_unlock(&s->mu);
}

static slot *best_free_slot(sched *s, const sched_job *j) {
    slot *best = NULL;
    int best_len = -1;
    for (int i = 0; i < s->p.n_slots; i++) {
        slot *sl = &s->slots[i];
        if (sl->job) continue;
        int n = common_prefix(sl->cache, sl->n_cache, j->prompt, j->n_prompt);
        if (n > best_len) {
            best = sl;
            best_len = n;
        }
    }
    return best;
}

/* Removes cancelled jobs from the queue, then moves as many queued jobs as
 * there are free slots into them. Slot assignment belongs to this thread
 * alone, so only the queue needs the lock. */
static void admit(sched *s, int n_free) {
    sched_job *take[64], *drop = NULL;
    int n = 0;
    pthread_mutex_lock(&s->mu);
    sched_job **pp = &s->qhead;
    s->qtail = NULL;
    while (*pp) {
        sched_job *j = *pp;
        bool gone = atomic_load(&j->cancelled);
        if (gone || (n < n_free && n < 64)) {
            *pp = j->next;
            s->st.queued--;
            if (gone) {
                j->next = drop;
                drop = j;
            } else {
                take[n++] = j;
            }
            continue;
        }
        s->qtail = j;
        pp = &j->next;
    }
    pthread_mutex_unlock(&s->mu);
    while (drop) {
        sched_job *j = drop;
        drop = j->next;
        job_publish(j, 0, NULL, NULL, "cancelled");
        sched_job_release(j);
    }
    for (int i = 0; i < n; i++) slot_start(s, best_free_slot(s, take[i]), take[i]);
}

/* ---- one step ---- */

/* Samples the slot's next token from the logits just computed and
 * publishes its text; ends the job on an end token, a stop string, the
 * token budget or a full context. */
static void slot_sample(sched *s, slot *sl) {
    sched_job *j = sl->job;
    const float *logits = penny_logits(sl->ctx);
    if (j->ignore_eos && s->n_eog) {
        memcpy(s->masked, logits, sizeof(float) * (size_t)penny_model_n_vocab(s->m));
        for (int i = 0; i < s->n_eog; i++) s->masked[s->eog[i]] = -INFINITY;
        logits = s->masked;
    }
    penny_token t = penny_sampler_sample(sl->smp, logits);
    penny_sampler_accept(sl->smp, t);
    if (penny_token_is_eog(s->m, t)) {
        slot_end(s, sl, "stop", NULL);
        return;
    }
    sl->n_gen++;
    const char *piece = penny_detok_push(sl->dt, t);
    bool oom = false;
    sbuf_clear(&sl->emit);
    bool stopped = stop_feed(&sl->stop, piece, strlen(piece), &sl->emit, &oom);
    job_publish(j, sl->n_gen, &sl->emit, NULL, oom ? "out of memory" : NULL);
    if (oom)
        slot_end(s, sl, NULL, "out of memory");
    else if (stopped)
        slot_end(s, sl, "stop_string", NULL);
    else if (j->max_tokens >= 0 && sl->n_gen >= j->max_tokens)
        slot_end(s, sl, "length", NULL);
    else if (sl->n_cache >= s->n_ctx)
        slot_end(s, sl, "length", NULL);
    else {
        sl->next = t;
        sl->has_next = true;
    }
}

/* Gathers the step's work: every generating slot's pending token, then
 * prompt chunks, oldest request first, up to p.chunk prompt tokens. */
static int gather(sched *s) {
    int nb = 0, budget = s->p.chunk;
    for (int i = 0; i < s->p.n_slots; i++) {
        slot *sl = &s->slots[i];
        if (!sl->job || !sl->has_next) continue;
        s->b_ctx[nb] = sl->ctx;
        s->b_tok[nb] = &sl->next;
        s->b_n[nb] = 1;
        s->b_slot[nb++] = i;
    }
    while (budget > 0) {
        slot *pick = NULL;
        for (int i = 0; i < s->p.n_slots; i++) {
            slot *sl = &s->slots[i];
            bool queued = false;
            for (int k = 0; k < nb; k++) queued |= s->b_slot[k] == i;
            if (sl->job && !queued && sl->n_fed < sl->job->n_prompt &&
                (!pick || sl->order < pick->order))
                pick = sl;
        }
        if (!pick) break;
        int n = pick->job->n_prompt - pick->n_fed;
        if (n > budget) n = budget;
        budget -= n;
        s->b_ctx[nb] = pick->ctx;
        s->b_tok[nb] = pick->job->prompt + pick->n_fed;
        s->b_n[nb] = n;
        s->b_slot[nb++] = (int)(pick - s->slots);
    }
    return nb;
}

/* Under s->mu: records a step's tokens and duration for the rate gauge. */
static void rate_add(sched *s, double t0, double t1, uint64_t tokens) {
    int64_t tick = (int64_t)(t1 * 10);
    rate_bucket *b = &s->rate[tick % RATE_BUCKETS];
    if (b->tick != tick) {
        b->tick = tick;
        b->tokens = 0;
        b->busy = 0;
    }
    b->tokens += tokens;
    b->busy += t1 - t0;
}

static void step(sched *s) {
    double t0 = now_s();
    for (int i = 0; i < s->p.n_slots; i++)
        if (s->slots[i].job && atomic_load(&s->slots[i].job->cancelled))
            slot_end(s, &s->slots[i], NULL, "cancelled");
    int nb = gather(s);
    if (!nb) return;
    penny_error err = {0};
    penny_status rc = penny_eval_multi(s->b_ctx, s->b_tok, s->b_n, nb, &err);
    double t_eval = now_s() - t0;
    int n_new = 0;
    for (int k = 0; k < nb; k++) {
        slot *sl = &s->slots[s->b_slot[k]];
        if (rc) {
            log_msg(LOG_ERROR, "serve: evaluation failed: %s", err.message);
            slot_end(s, sl, NULL, err.message);
            continue;
        }
        memcpy(sl->cache + sl->n_cache, s->b_tok[k], sizeof(penny_token) * (size_t)s->b_n[k]);
        sl->n_cache += s->b_n[k];
        if (sl->has_next)
            sl->has_next = false;
        else
            sl->n_fed += s->b_n[k];
        if (sl->n_fed < sl->job->n_prompt) continue;
        int before = sl->n_gen;
        slot_sample(s, sl);
        n_new += sl->n_gen - before; /* slot_end keeps n_gen */
    }
    double t1 = now_s();
    pthread_mutex_lock(&s->mu);
    s->st.steps++;
    if (nb > s->st.max_batch) s->st.max_batch = nb;
    s->st.busy_seconds += t_eval;
    s->st.gen_tokens += (uint64_t)n_new;
    rate_add(s, t0, t1, (uint64_t)n_new);
    pthread_mutex_unlock(&s->mu);
}

/* ---- the thread ---- */

static int n_free_slots(const sched *s) {
    int n = 0;
    for (int i = 0; i < s->p.n_slots; i++) n += !s->slots[i].job;
    return n;
}

static void *sched_main(void *arg) {
    sched *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        bool idle = n_free_slots(s) == s->p.n_slots;
        while (!s->stopping && idle && !s->qhead) pthread_cond_wait(&s->cv, &s->mu);
        bool stop = s->stopping;
        pthread_mutex_unlock(&s->mu);
        if (stop) break;
        admit(s, n_free_slots(s));
        step(s);
    }
    return NULL;
}

bool sched_submit(sched *s, sched_job *j) {
    pthread_mutex_lock(&s->mu);
    bool ok = !s->stopping && s->st.queued < s->p.max_queue;
    if (ok) {
        pthread_mutex_lock(&j->mu);
        j->refs++;
        pthread_mutex_unlock(&j->mu);
        j->next = NULL;
        if (s->qtail)
            s->qtail->next = j;
        else
            s->qhead = j;
        s->qtail = j;
        s->st.queued++;
        pthread_cond_signal(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    return ok;
}

void sched_get_stats(sched *s, sched_stats *st) {
    pthread_mutex_lock(&s->mu);
    *st = s->st;
    int64_t tick = (int64_t)(now_s() * 10);
    uint64_t tokens = 0;
    double busy = 0;
    for (int i = 0; i < RATE_BUCKETS; i++)
        if (s->rate[i].tick > tick - RATE_BUCKETS) {
            tokens += s->rate[i].tokens;
            busy += s->rate[i].busy;
        }
    st->gen_tps = busy > 0 ? (double)tokens / busy : 0;
    pthread_mutex_unlock(&s->mu);
}

int sched_n_ctx(const sched *s) { return s->n_ctx; }

static penny_status find_eog(sched *s, penny_error *err) {
    int n_vocab = penny_model_n_vocab(s->m);
    if (!(s->masked = malloc(sizeof(float) * (size_t)n_vocab)))
        return err_set(err, PENNY_ERR_NOMEM, "out of memory for %d logits", n_vocab);
    for (penny_token t = 0; t < n_vocab; t++) {
        if (!penny_token_is_eog(s->m, t)) continue;
        penny_token *p = realloc(s->eog, sizeof *p * (size_t)(s->n_eog + 1));
        if (!p) return err_set(err, PENNY_ERR_NOMEM, "out of memory");
        s->eog = p;
        s->eog[s->n_eog++] = t;
    }
    return PENNY_OK;
}

static penny_status slots_new(sched *s, penny_error *err) {
    penny_context_params cp = penny_context_default_params();
    cp.n_ctx = s->p.n_ctx;
    cp.kv_type = s->p.kv_type;
    cp.batch_invariant = true; /* a request's text must not depend on the others */
    for (int i = 0; i < s->p.n_slots; i++) {
        slot *sl = &s->slots[i];
        penny_status rc = penny_context_new(s->m, &cp, &sl->ctx, err);
        if (!rc) rc = penny_detok_new(s->m, &sl->dt, err);
        if (rc) return rc;
        s->n_ctx = penny_context_n_ctx(sl->ctx);
        if (!(sl->cache = malloc(sizeof *sl->cache * (size_t)s->n_ctx)))
            return err_set(err, PENNY_ERR_NOMEM, "out of memory for slot %d", i);
    }
    return PENNY_OK;
}

penny_status sched_new(penny_model *m, const sched_params *p, sched **out, penny_error *err) {
    *out = NULL;
    if (p->n_slots < 1 || p->n_slots > 256 || p->chunk < 1 || p->max_queue < 0)
        return err_set(err, PENNY_ERR_ARG, "scheduler: %d slots (1..256), chunk %d, queue %d",
                       p->n_slots, p->chunk, p->max_queue);
    sched *s = calloc(1, sizeof *s);
    if (!s) return err_set(err, PENNY_ERR_NOMEM, "out of memory");
    s->m = m;
    s->p = *p;
    s->st.n_slots = p->n_slots;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    size_t n = (size_t)p->n_slots;
    s->slots = calloc(n, sizeof *s->slots);
    s->b_ctx = calloc(n, sizeof *s->b_ctx);
    s->b_tok = calloc(n, sizeof *s->b_tok);
    s->b_n = calloc(n, sizeof *s->b_n);
    s->b_slot = calloc(n, sizeof *s->b_slot);
    penny_status rc = PENNY_OK;
    if (!s->slots || !s->b_ctx || !s->b_tok || !s->b_n || !s->b_slot)
        rc = err_set(err, PENNY_ERR_NOMEM, "out of memory for %d slots", p->n_slots);
    if (!rc) rc = find_eog(s, err);
    if (!rc) rc = slots_new(s, err);
    if (!rc && pthread_create(&s->thread, NULL, sched_main, s))
        rc = err_set(err, PENNY_ERR_NOMEM, "cannot start the scheduler thread");
    if (rc) {
        sched_free(s);
        return rc;
    }
    s->started = true;
    *out = s;
    return PENNY_OK;
}

void sched_free(sched *s) {
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (s->started) pthread_join(s->thread, NULL);
    while (s->qhead) {
        sched_job *j = s->qhead;
        s->qhead = j->next;
        job_publish(j, 0, NULL, NULL, "the server is shutting down");
        sched_job_release(j);
    }
    for (int i = 0; s->slots && i < s->p.n_slots; i++) {
        slot *sl = &s->slots[i];
        if (sl->job) slot_end(s, sl, NULL, "the server is shutting down");
        penny_context_free(sl->ctx);
        penny_detok_free(sl->dt);
        free(sl->cache);
        sbuf_free(&sl->emit);
    }
    free(s->slots);
    free(s->eog);
    free(s->masked);
    free(s->b_ctx);
    free(s->b_tok);
    free(s->b_n);
    free(s->b_slot);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}
