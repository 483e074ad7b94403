/*
 * sched.h - the continuous-batching scheduler: one thread owns the model and
 * a fixed set of slots (one context each) and runs every active request in
 * the same evaluation step.
 *
 * HTTP threads never compute. They build a job (prompt tokens plus sampling
 * settings), submit it, and then wait on the job for text; the scheduler
 * moves queued jobs into free slots, evaluates one step for all of them
 * (each generating request's last token, plus a bounded chunk of one new
 * prompt, so a long prompt does not stall streams already running), samples,
 * and appends text to each job. A job that its client abandoned is
 * cancelled and its slot freed at the next step.
 *
 * A free slot keeps the tokens in its KV cache, so a new job that starts
 * with the same tokens (the same system prompt, the next turn of a chat)
 * goes to that slot and skips evaluating them again.
 *
 * Ownership: a job is reference-counted (the submitter and the scheduler);
 * each side drops its reference with sched_job_release.
 */
#ifndef PENNY_SERVE_SCHED_H
#define PENNY_SERVE_SCHED_H

#include <stdbool.h>
#include <stdint.h>

#include "penny.h"
#include "serve/sbuf.h"
#include "serve/stopstr.h"

typedef struct sched sched;
typedef struct sched_job sched_job;

typedef struct sched_params {
    int n_slots;           /* parallel sequences */
    int n_ctx;             /* tokens per slot; 0: the model's, at most 4096 */
    int chunk;             /* prompt tokens evaluated per step (chunked prefill) */
    int max_queue;         /* jobs waiting for a slot before submit refuses */
    penny_kv_type kv_type; /* KV cache type of every slot */
} sched_params;

penny_status sched_new(penny_model *m, const sched_params *p, sched **out, penny_error *err);
/* Stops the thread; jobs still running or queued end with an error. */
void sched_free(sched *s);
int sched_n_ctx(const sched *s);

typedef struct sched_job_params {
    const penny_token *prompt; /* copied */
    int n_prompt;
    int max_tokens;  /* < 0: until an end token or the context is full */
    bool ignore_eos; /* end tokens are never sampled (fixed-length runs) */
    penny_sampler_params sp;
    const char *const *stop; /* copied */
    int n_stop;
} sched_job_params;

penny_status sched_job_new(const sched_job_params *p, sched_job **out, penny_error *err);
void sched_job_release(sched_job *j);
/* Queues the job; false when the queue is full (the job is untouched). */
bool sched_submit(sched *s, sched_job *j);
/* Asks the scheduler to drop the job; its slot is freed at the next step. */
void sched_job_cancel(sched_job *j);

/* What a job has produced so far. */
typedef struct sched_result {
    bool done, failed;
    const char *finish; /* "stop" or "length" once done */
    int n_prompt, n_cached, n_gen;
    char error[256]; /* when failed */
} sched_result;

/* Waits up to timeout_ms for text or the end, moves the new text into out
 * (appending) and fills res. one_piece moves only the oldest piece (one
 * token's text, or text a stop string held back) so a stream can send one
 * event per piece. Returns true once the job is done and all text taken. */
bool sched_job_wait(sched_job *j, sbuf *out, int timeout_ms, bool one_piece, sched_result *res);

typedef struct sched_stats {
    int n_slots, busy, queued;
    int max_batch; /* most sequences evaluated together in one step so far */
    uint64_t jobs_done, prompt_tokens, cached_tokens, gen_tokens, steps;
    double gen_tps;      /* generated tokens per second of busy time, last 5 s */
    double busy_seconds; /* time spent evaluating */
} sched_stats;

void sched_get_stats(sched *s, sched_stats *st);

#endif
