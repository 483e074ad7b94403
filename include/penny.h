/*
 * penny.h - the public interface of libpenny.
 *
 * Everything the penny CLI does goes through this header, so any program can
 * embed the same engine. Handles are opaque; every fallible call returns a
 * penny_status and, when it fails, fills the caller's penny_error with a
 * message that names the file, field or offset at fault.
 *
 * Ownership: objects made by a *_new / *_load call belong to the caller and are
 * released with the matching *_free, which accepts NULL. A model must outlive
 * the contexts made from it. Two models may live in one process: nothing here
 * keeps hidden global state.
 */
#ifndef PENNY_H
#define PENNY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef int32_t penny_token;

typedef enum penny_status {
    PENNY_OK = 0,
    PENNY_ERR_IO,          /* open/read/map failed */
    PENNY_ERR_FORMAT,      /* malformed file */
    PENNY_ERR_UNSUPPORTED, /* valid but not handled (type, architecture) */
    PENNY_ERR_NOMEM,
    PENNY_ERR_ARG,   /* caller passed something invalid */
    PENNY_ERR_RANGE, /* context full, token id out of range, buffer too small */
} penny_status;

/* Filled by a failing call; message is NUL-terminated. */
typedef struct penny_error {
    penny_status code;
    char message[512];
} penny_error;

const char *penny_status_str(penny_status s);

/* ---- GGUF inspection (read-only view of a file, used by `penny info`) ---- */

typedef struct penny_gguf penny_gguf;

penny_status penny_gguf_open(const char *path, penny_gguf **out, penny_error *err);
void penny_gguf_free(penny_gguf *g);
uint32_t penny_gguf_version(const penny_gguf *g);
int64_t penny_gguf_kv_count(const penny_gguf *g);
const char *penny_gguf_kv_key(const penny_gguf *g, int64_t i);
/* Writes a printable rendering of value i into buf (arrays longer than
 * max_items are summarised); returns buf. */
char *penny_gguf_kv_format(const penny_gguf *g, int64_t i, char *buf, size_t cap, int max_items);
int64_t penny_gguf_tensor_count(const penny_gguf *g);

typedef struct penny_tensor_info {
    const char *name;
    int n_dims;
    int64_t ne[4];         /* ne[0] varies fastest */
    const char *type_name; /* e.g. "Q8_0" */
    uint64_t offset;       /* from the start of the file */
    uint64_t nbytes;
} penny_tensor_info;

void penny_gguf_tensor(const penny_gguf *g, int64_t i, penny_tensor_info *out);

/* ---- models ---- */

typedef struct penny_model penny_model;

typedef struct penny_model_params {
    int n_threads; /* 0: one per core */
} penny_model_params;

penny_model_params penny_model_default_params(void);
penny_status penny_model_load(const char *path, const penny_model_params *params,
                              penny_model **out, penny_error *err);
void penny_model_free(penny_model *m);

int penny_model_n_vocab(const penny_model *m);
int penny_model_n_ctx_train(const penny_model *m);
penny_token penny_model_bos(const penny_model *m); /* -1 when none */
penny_token penny_model_eos(const penny_model *m);
bool penny_model_add_bos(const penny_model *m);
/* True for end-of-generation tokens (EOS, EOT, ...). */
bool penny_token_is_eog(const penny_model *m, penny_token t);
/* One-line description: architecture, size, type. */
const char *penny_model_desc(const penny_model *m);
/* Parameters: *total counts every tensor element in the file, *active those
 * one token uses (mixture-of-experts models run only expert_used_count of
 * their routed experts per layer). Either pointer may be NULL. */
void penny_model_n_params(const penny_model *m, int64_t *total, int64_t *active);
/* Element type of a context's KV cache. F16 (the default, as llama.cpp)
 * halves F32's memory; Q8_0 stores each head's vector in GGUF Q8_0 blocks
 * of 32 (34 bytes, the last block zero-padded), about a quarter of F32. */
typedef enum penny_kv_type { PENNY_KV_F16 = 0, PENNY_KV_F32 = 1, PENNY_KV_Q8_0 = 2 } penny_kv_type;
/* "f16", "f32", "q8_0" (any case) -> *out; false, *out unchanged, otherwise. */
bool penny_kv_type_parse(const char *name, penny_kv_type *out);
const char *penny_kv_type_name(penny_kv_type t); /* "F16", "F32", "Q8_0" */

/* KV-cache bytes per token, all layers together, of contexts made now with
 * a cache of type t. */
size_t penny_model_kv_bytes_per_token(const penny_model *m, penny_kv_type t);
/* Models with multi-head latent attention (deepseek2): absorb = true (the
 * default) caches only the compressed latent and the shared rope key per
 * token and layer; false expands per-head keys and values like multi-head
 * attention (a larger cache, for checking). Applies to contexts made
 * afterwards. Returns false, changing nothing, for other models. */
bool penny_model_set_mla_absorb(penny_model *m, bool absorb);

/* ---- tokenizer ---- */

/* Tokenizes text (len bytes, UTF-8). When parse_special is true, the text of
 * special tokens (e.g. "<s>") becomes those tokens; otherwise it is plain text.
 * On PENNY_ERR_RANGE *n_out holds the count needed. */
penny_status penny_tokenize(const penny_model *m, const char *text, size_t len, bool add_bos,
                            bool parse_special, penny_token *out, int cap, int *n_out,
                            penny_error *err);

/* Raw bytes of one token's text (may be a partial UTF-8 character). */
penny_status penny_token_bytes(const penny_model *m, penny_token t, const char **bytes,
                               size_t *len);

/* Streaming detokenizer: holds back incomplete UTF-8 sequences. */
typedef struct penny_detok penny_detok;
penny_status penny_detok_new(const penny_model *m, penny_detok **out, penny_error *err);
void penny_detok_free(penny_detok *d);
/* Appends the text of token t; returns a NUL-terminated string of the complete
 * characters now ready (valid until the next call), possibly "". */
const char *penny_detok_push(penny_detok *d, penny_token t);
/* Returns whatever is still held (invalid bytes as U+FFFD) and resets. */
const char *penny_detok_flush(penny_detok *d);

/* ---- tokenizers without a model: `penny tokenize`, `detokenize`, `template` ---- */

/* A vocabulary and its rules, loaded on its own (no weights) or taken from a
 * loaded model. Tokenizing is safe from several threads at once; a
 * penny_detok made from it is not. */
typedef struct penny_tokenizer penny_tokenizer;

/* Loads the tokenizer in path, told apart by content, not name: a GGUF file
 * (only its tokenizer keys are read, so vocabulary-only files work) or a
 * Hugging Face tokenizer.json, with the tokenizer_config.json beside it
 * when there is one (BOS/EOS, add_bos_token, chat_template). Errors name the
 * file and the key, field or byte offset at fault. */
penny_status penny_tokenizer_load(const char *path, penny_tokenizer **out, penny_error *err);
/* A tokenizer.json with the given tokenizer_config.json (NULL: the one
 * beside json_path, if any). */
penny_status penny_tokenizer_load_json(const char *json_path, const char *config_path,
                                       penny_tokenizer **out, penny_error *err);
/* A handle on the tokenizer of model m, which must outlive it. The caller
 * frees the handle with penny_tokenizer_free; the model keeps its own. */
penny_status penny_model_tokenizer(const penny_model *m, penny_tokenizer **out, penny_error *err);
void penny_tokenizer_free(penny_tokenizer *t);

int penny_tokenizer_n_vocab(const penny_tokenizer *t);
penny_token penny_tokenizer_bos(const penny_tokenizer *t); /* -1 when none */
penny_token penny_tokenizer_eos(const penny_tokenizer *t); /* -1 when none */
penny_token penny_tokenizer_eot(const penny_tokenizer *t); /* end of turn; -1 when none */
/* Whether texts should start with BOS (add_bos_token). */
bool penny_tokenizer_add_bos(const penny_tokenizer *t);
/* True for end-of-generation tokens (EOS, EOT, end-of-turn markers). */
bool penny_tokenizer_is_eog(const penny_tokenizer *t, penny_token id);
/* The chat template (GGUF tokenizer.chat_template or tokenizer_config.json
 * chat_template), owned by t, or NULL when there is none. */
const char *penny_tokenizer_chat_template(const penny_tokenizer *t);

/* Flags of penny_tokenizer_tokenize. */
enum {
    PENNY_TOKENIZE_BOS = 1 << 0,     /* prepend BOS (if the vocabulary has one) */
    PENNY_TOKENIZE_SPECIAL = 1 << 1, /* special-token text (e.g. "<|im_start|>") becomes
                                        those tokens; else it is plain text, the safe
                                        choice for user input */
};
/* Same contract as penny_tokenize: on PENNY_ERR_RANGE *n_out holds the
 * count needed. */
penny_status penny_tokenizer_tokenize(const penny_tokenizer *t, const char *text, size_t len,
                                      unsigned flags, penny_token *out, int cap, int *n_out,
                                      penny_error *err);
/* A token's bytes when detokenized (as penny_token_bytes: may be part of a
 * UTF-8 character, empty for control tokens). PENNY_ERR_RANGE outside the
 * vocabulary. *bytes stays valid while t lives. */
penny_status penny_tokenizer_token_bytes(const penny_tokenizer *t, penny_token id,
                                         const char **bytes, size_t *len);
/* A token's text as the vocabulary spells it (e.g. "<s>" for a control
 * token), the form chat templates write. Same contract as token_bytes. */
penny_status penny_tokenizer_token_text(const penny_tokenizer *t, penny_token id,
                                        const char **bytes, size_t *len);

/* Flags of penny_tokenizer_detok_new. */
enum {
    PENNY_DETOK_SPECIAL = 1 << 0,     /* control tokens give their text instead of nothing */
    PENNY_DETOK_STRIP_SPACE = 1 << 1, /* drop the space a SentencePiece vocabulary puts
                                         before the text, so detokenizing undoes
                                         tokenizing */
};
/* A streaming detokenizer (penny_detok_push / flush / free) over t, which
 * must outlive it. penny_detok_flush also starts the next text afresh. */
penny_status penny_tokenizer_detok_new(const penny_tokenizer *t, unsigned flags, penny_detok **out,
                                       penny_error *err);

/* ---- contexts (KV cache + activations) ---- */

typedef struct penny_context penny_context;

typedef struct penny_context_params {
    int n_ctx;             /* 0: the model's training context, capped at 4096 */
    int n_batch;           /* tokens per forward pass for prompts; 0: 512 */
    penny_kv_type kv_type; /* element type of the KV cache; 0: PENNY_KV_F16 */
    /* true: a token's results do not depend on the other tokens or sequences
     * evaluated with it (penny_eval_multi batches, prompt chunking): the same
     * seed gives the same text alone or beside other requests, as a server
     * needs. Costs some one-token speed (the batch kernels serve single
     * tokens too). false (default): fastest kernels per batch size. */
    bool batch_invariant;
} penny_context_params;

penny_context_params penny_context_default_params(void);
penny_status penny_context_new(penny_model *m, const penny_context_params *params,
                               penny_context **out, penny_error *err);
void penny_context_free(penny_context *c);
int penny_context_n_ctx(const penny_context *c);
int penny_context_n_past(const penny_context *c);
/* Forget cached positions >= n_past. */
void penny_context_truncate(penny_context *c, int n_past);

/* Runs tokens through the model at positions n_past.. and appends them to the
 * cache. Logits of the last token are kept (penny_logits); with all_logits,
 * those of every token (penny_logits_ith). */
penny_status penny_eval(penny_context *c, const penny_token *tokens, int n, bool all_logits,
                        penny_error *err);
const float *penny_logits(const penny_context *c); /* n_vocab floats */
const float *penny_logits_ith(const penny_context *c, int i);

/* Evaluates tokens for several contexts of one model in one step: n_tokens[i]
 * tokens of tokens[i] are appended to ctxs[i] (each keeps only its last
 * logits). Meant for servers running many sequences at once: weights are
 * read once per step for all of them. All contexts must belong to the same
 * model; on error no context has changed. */
penny_status penny_eval_multi(penny_context *const *ctxs, const penny_token *const *tokens,
                              const int *n_tokens, int n_seq, penny_error *err);

/* ---- chat templates ---- */

typedef struct penny_chat_message {
    const char *role; /* "system", "user", "assistant", "tool" */
    const char *content;
} penny_chat_message;

/* Renders messages with the model's chat template (GGUF tokenizer.chat_template),
 * or with tmpl when it is non-NULL. add_generation_prompt appends the opening
 * of the assistant's turn. *out is a NUL-terminated malloc'd string that the
 * caller frees. Errors name the template line at fault. */
penny_status penny_chat_apply(const penny_model *m, const char *tmpl, const penny_chat_message *msgs,
                              int n_msgs, bool add_generation_prompt, char **out, penny_error *err);

/* The model's chat template, owned by m, or NULL when it has none. */
const char *penny_model_chat_template(const penny_model *m);

/* What `penny chat` and `penny serve` render: penny_chat_apply with the
 * model's template or, for a model without one (a base model), ChatML:
 * "<|im_start|>ROLE\nCONTENT<|im_end|>\n" per message and
 * "<|im_start|>assistant\n" as the generation prompt. Same ownership. */
penny_status penny_chat_format(const penny_model *m, const penny_chat_message *msgs, int n_msgs,
                               bool add_generation_prompt, char **out, penny_error *err);

/* Tokenizes a rendered prompt into *out (malloc'd, the caller frees) of
 * *n_out tokens. With parse_special, special-token text becomes those
 * tokens. BOS is added when the model wants one, unless parse_special is on
 * and the text already starts with it (templates often write it). */
penny_status penny_chat_tokenize(const penny_model *m, const char *text, bool parse_special,
                                 penny_token **out, int *n_out, penny_error *err);

/* Renders a Jinja chat template (src, NUL-terminated) with the members of
 * vars_json, a JSON object (messages, tools, add_generation_prompt,
 * bos_token, ...; NULL: none), as its variables: the general form of
 * penny_chat_apply. *out is malloc'd and NUL-terminated (the caller frees),
 * *out_len (may be NULL) its length. Errors name the template line or the
 * JSON byte at fault. */
penny_status penny_template_render(const char *src, const char *vars_json, char **out,
                                   size_t *out_len, penny_error *err);

/* ---- sampling ---- */

typedef struct penny_sampler_params {
    float temperature; /* <= 0: greedy */
    int top_k;         /* <= 0: off */
    float top_p;       /* >= 1: off */
    float min_p;       /* <= 0: off */
    float repeat_penalty;   /* 1: off */
    float presence_penalty; /* 0: off */
    float frequency_penalty;
    int penalty_last_n; /* tokens considered by penalties */
    uint64_t seed;
} penny_sampler_params;

typedef struct penny_sampler penny_sampler;

penny_sampler_params penny_sampler_default_params(void);
penny_status penny_sampler_new(const penny_sampler_params *p, int n_vocab, penny_sampler **out,
                               penny_error *err);
void penny_sampler_free(penny_sampler *s);
/* Picks the next token from logits (n_vocab floats; not modified). */
penny_token penny_sampler_sample(penny_sampler *s, const float *logits);
/* Records a token (prompt or generated) for the penalties. */
void penny_sampler_accept(penny_sampler *s, penny_token t);
void penny_sampler_reset(penny_sampler *s);

/* ---- model store: `penny pull` from the Hugging Face Hub ---- */

/* REF: hf.co/ORG/REPO[:QUANT], ORG/REPO[:QUANT] or ORG/REPO/FILE.gguf. The
 * store lives in root, or when root is NULL in $PENNY_HOME, else
 * $XDG_CACHE_HOME/penny, else ~/.cache/penny; nothing is created before a
 * pull. Names that would leave the store ("..", absolute paths, control
 * characters, links inside the store) are refused. */
typedef struct penny_store penny_store;

penny_status penny_store_open(const char *root, penny_store **out, penny_error *err);
void penny_store_free(penny_store *s);
const char *penny_store_root(const penny_store *s);

typedef enum penny_pull_state {
    PENNY_PULL_PRESENT,  /* already in the store, verified: nothing fetched */
    PENNY_PULL_FETCHING, /* bytes arriving: done of total */
    PENNY_PULL_DONE,     /* downloaded and sha256 verified */
    PENNY_PULL_RETRYING, /* a transfer broke (note says why); trying again */
} penny_pull_state;

typedef struct penny_pull_event {
    penny_pull_state state;
    const char *file; /* path in the repository */
    int index, count; /* file index of count (split parts, 0-based) */
    uint64_t done, total;
    uint64_t resumed; /* bytes already on disk when this transfer began */
    const char *note; /* PENNY_PULL_RETRYING: what went wrong; else NULL */
} penny_pull_event;

typedef struct penny_pull_params {
    const char *endpoint; /* NULL: $PENNY_HF_ENDPOINT, else https://huggingface.co */
    const char *token;    /* NULL: $HF_TOKEN; sent as a bearer token, never in messages */
    int retries;          /* further attempts after a broken transfer (default 3) */
    void (*progress)(void *user, const penny_pull_event *ev); /* may be NULL */
    void *user;
} penny_pull_params;

penny_pull_params penny_pull_default_params(void);
/* Downloads the files REF means (every part of a split model), resuming a
 * partial download and verifying each file's sha256 before it gets its
 * final name; files already present and verified are not fetched again.
 * Writes the local path of the model's first file to path_out. */
penny_status penny_store_pull(penny_store *s, const char *ref, const penny_pull_params *p,
                              char *path_out, size_t cap, penny_error *err);
/* Offline: the local path of the model's first file, if it was pulled. */
penny_status penny_store_resolve(penny_store *s, const char *ref, char *path_out, size_t cap,
                                 penny_error *err);

typedef struct penny_store_entry {
    const char *ref;  /* ORG/REPO/FILE of the first part */
    const char *path; /* local path of the first part */
    uint64_t size;    /* bytes, all parts */
    int n_parts;
    bool complete; /* false when a part is missing or changed on disk */
} penny_store_entry;

/* Calls fn once per model in the store (sorted by ref); e is valid during the call. */
penny_status penny_store_list(penny_store *s, void (*fn)(void *user, const penny_store_entry *e),
                              void *user, penny_error *err);
/* Deletes the files REF means (all parts, and their partial downloads); a
 * bare ORG/REPO means all of that repository's files. */
penny_status penny_store_rm(penny_store *s, const char *ref, int *n_removed, penny_error *err);

/* For -m options: an existing file is used as is; anything else is resolved
 * as a REF in the default store. */
penny_status penny_resolve_model(const char *arg, char *path_out, size_t cap, penny_error *err);

/* ---- quantization: `penny quantize` ---- */

typedef struct penny_quantize_event {
    const char *tensor;   /* the tensor just written */
    const char *type;     /* its type in the output, e.g. "Q6_K" */
    int64_t index, count; /* tensors written so far (1-based) of count */
    uint64_t done, total; /* bytes of input tensor data converted so far, of total */
} penny_quantize_event;

typedef void (*penny_quantize_progress)(void *user, const penny_quantize_event *ev);

/* Writes the GGUF model `in` (F32, F16 or BF16 weights) to `out` with its
 * matrices converted to `type`: F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K,
 * Q6_K (every matrix that type), or the mixes Q4_K_M, Q5_K_M. 1-D tensors
 * stay F32; metadata is copied. docs/quantize.md gives the rules. Uses one
 * thread per core; cb (may be NULL) is called after each tensor. out only
 * ever holds a complete file. */
penny_status penny_quantize(const char *in, const char *out, const char *type,
                            penny_quantize_progress cb, void *user, penny_error *err);

/* ---- training: `penny train-tokenizer`, `train-prepare`, `train`, `train-export`
 * (docs/training.md) ---- */

/* Learns a byte-level BPE vocabulary of vocab_size tokens (256 bytes, merges,
 * and the chat tokens <|endoftext|> <|system|> <|user|> <|assistant|> <|end|>)
 * from text files and writes it as a vocabulary-only GGUF file. pre: the
 * pre-split, "llama-bpe" (NULL) or "gpt2". *vocab_out (may be NULL) receives
 * the size reached. */
penny_status penny_train_tokenizer(const char *const *files, int n_files, int vocab_size,
                                   const char *pre, const char *out_path, int *vocab_out,
                                   penny_error *err);

/* Tokenizes text files (one document each) or, when chat is set, JSONL
 * conversations ({"messages":[{"role","content"}]}, loss on assistant turns)
 * into a token file for training. *n_tokens (may be NULL) receives the count. */
penny_status penny_train_prepare(const char *tokenizer_path, const char *const *files,
                                 int n_files, bool chat, const char *out_path,
                                 long long *n_tokens, penny_error *err);

/* Training options, set by name ("dim", "lr", ...) from flags or a file of
 * "key = value" lines; penny_train_config_help lists them with defaults. */
typedef struct penny_train_config penny_train_config;

penny_status penny_train_config_new(penny_train_config **out, penny_error *err);
void penny_train_config_free(penny_train_config *c);
penny_status penny_train_config_set(penny_train_config *c, const char *key, const char *value,
                                    penny_error *err);
/* '#' starts a comment; errors name the file and line. */
penny_status penny_train_config_load(penny_train_config *c, const char *path, penny_error *err);
const char *penny_train_config_help(void);

typedef struct penny_train_progress {
    long step, n_steps;          /* optimizer steps done, total */
    double loss;                 /* this step's training loss (nats per target token) */
    double lr, grad_norm;        /* grad_norm before clipping */
    double eval_loss, eval_bpb;  /* held-out loss and bits per byte; NaN when not evaluated */
    double tok_per_s, mfu;       /* tokens/s (all ranks) and model FLOPs utilisation */
    double flops_per_token, peak_gflops; /* MFU = flops_per_token x tok_per_s / peak */
    bool bf16;                   /* matmuls take bf16 inputs (peak: the bf16 dot rate) */
    double elapsed_s, eta_s;
    long long n_params;
    bool checkpointed;           /* a checkpoint was written after this step */
    bool done;                   /* the last call of the run */
    uint64_t weights_checksum;   /* of the final weights (set when done) */
    int rank, world;             /* MPI rank and size (0 and 1 without MPI) */
} penny_train_progress;

/* Called after every step on every rank; a non-zero return stops training
 * after a checkpoint is written (how SIGINT/SIGTERM are honoured). */
typedef int (*penny_train_progress_fn)(const penny_train_progress *p, void *user);

penny_status penny_train_run(const penny_train_config *c, penny_train_progress_fn fn, void *user,
                             penny_error *err);

/* Writes a checkpoint's weights as a GGUF "llama" model (type "f32", "f16" or
 * "bf16") with the tokenizer and chat template from tokenizer_path. */
penny_status penny_train_export(const char *checkpoint, const char *tokenizer_path,
                                const char *type, const char *out_path, penny_error *err);

/* ---- the HTTP server: `penny serve` (docs/serve.md) ---- */

/* OpenAI-compatible endpoints (/v1/chat/completions, /v1/completions with
 * streaming, /v1/models), /health, /metrics and the chat page at /, served
 * by a thread per connection and one scheduler thread that runs the model
 * for all requests at once (continuous batching). */
typedef struct penny_server penny_server;

typedef struct penny_server_params {
    const char *host;      /* address to listen on (default "127.0.0.1") */
    int port;              /* default 8080; 0: any free port (penny_server_port) */
    const char *api_key;   /* NULL: none; else /v1/ and /metrics need "Bearer KEY" */
    const char *model_id;  /* the name clients use; NULL: file name without .gguf */
    int n_parallel;        /* requests generated at once (default 4) */
    int n_ctx;             /* tokens per request slot; 0: the model's, at most 4096 */
    penny_kv_type kv_type; /* KV cache of each slot (default F16) */
    int chunk;             /* prompt tokens per step beside running streams (64) */
    int max_queue;         /* requests waiting for a slot before 503 (64) */
    size_t max_body;       /* request body bytes before 413 (4 MiB) */
    int max_conn;          /* simultaneous connections (256) */
} penny_server_params;

penny_server_params penny_server_default_params(void);
/* Starts listening and serving in background threads and returns at once.
 * model_path names the model to clients (may be NULL). m and the strings in
 * p must outlive the server. */
penny_status penny_server_start(penny_model *m, const char *model_path,
                                const penny_server_params *p, penny_server **out, penny_error *err);
/* The port listened on (the one picked when p->port was 0). */
int penny_server_port(const penny_server *s);
/* Stops accepting, ends running requests, joins the threads and frees. */
void penny_server_free(penny_server *s);

/* ---- diagnostics ---- */

/* libpenny writes diagnostics (never results) to stderr at or below a
 * process-wide level, PENNY_LOG_WARN unless set. */
typedef enum penny_log_level {
    PENNY_LOG_ERROR = 0,
    PENNY_LOG_WARN,
    PENNY_LOG_INFO, /* e.g. the server's requests and events */
    PENNY_LOG_DEBUG,
} penny_log_level;

void penny_log_set_level(penny_log_level level);

#ifdef __cplusplus
}
#endif
#endif
