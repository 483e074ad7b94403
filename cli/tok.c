/*
 * tok.c - `penny tokenize`, `penny detokenize` and `penny template`: the
 * tokenizer and the chat template on their own, for checking a model's
 * prompt format without running it.
 *
 * The vocabulary comes from a GGUF file (-m; only its tokenizer keys are
 * read, so vocabulary-only files work too) or from a Hugging Face
 * tokenizer.json (--tokenizer, with tokenizer_config.json from
 * --tokenizer-config or found next to it). These tools reach past
 * include/penny.h into the tokenizer and template modules, since the
 * public API has no tokenizer without a model.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "format/gguf.h"
#include "template/tmpl.h"
#include "tokenizer/tokenizer.h"

/* Reads all of a stream; returns a malloc'd NUL-terminated buffer or NULL. */
static char *read_all(FILE *f, size_t *len) {
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    for (size_t k; buf && (k = fread(buf + n, 1, cap - n - 1, f)) > 0;) {
        n += k;
        if (n + 1 == cap) {
            char *b = realloc(buf, cap *= 2);
            if (!b) free(buf);
            buf = b;
        }
    }
    if (buf) buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

/* Where the vocabulary comes from, and what was opened for it. */
typedef struct vocab_src {
    const char *model, *json, *config;
    gguf_file *g;
    tokenizer *t;
} vocab_src;

/* tokenizer_config.json next to tokenizer.json, when it exists. */
static char *sibling_config(const char *json) {
    const char *slash = strrchr(json, '/');
    size_t dir = slash ? (size_t)(slash - json + 1) : 0;
    char *p = malloc(dir + sizeof "tokenizer_config.json");
    if (!p) return NULL;
    memcpy(p, json, dir);
    strcpy(p + dir, "tokenizer_config.json");
    FILE *f = fopen(p, "rb");
    if (f) fclose(f);
    if (!f) {
        free(p);
        return NULL;
    }
    return p;
}

static int vocab_open(vocab_src *v, const char *cmd) {
    penny_error err = {0};
    if (!v->model == !v->json) {
        fprintf(stderr, "penny %s: give one of -m FILE or --tokenizer tokenizer.json\n", cmd);
        return 2;
    }
    if (v->json) {
        char *found = v->config ? NULL : sibling_config(v->json);
        penny_status rc = tok_new_json(v->json, v->config ? v->config : found, &v->t, &err);
        free(found);
        return rc ? cli_fail(cmd, &err) : 0;
    }
    char path[4096];
    if (penny_resolve_model(v->model, path, sizeof path, &err) ||
        gguf_open(path, false, &v->g, &err) || tok_new(v->g, &v->t, &err)) {
        gguf_close(v->g);
        v->g = NULL;
        return cli_fail(cmd, &err);
    }
    return 0;
}

static void vocab_close(vocab_src *v) {
    tok_free(v->t);
    gguf_close(v->g);
}

enum { O_NO_BOS = 256, O_SPECIAL, O_TOKENIZER, O_CONFIG, O_TEMPLATE, O_NO_GEN };

static const struct option OPTS[] = {{"model", 1, 0, 'm'},
                                     {"tokenizer", 1, 0, O_TOKENIZER},
                                     {"tokenizer-config", 1, 0, O_CONFIG},
                                     {"no-bos", 0, 0, O_NO_BOS},
                                     {"special", 0, 0, O_SPECIAL},
                                     {"template", 1, 0, O_TEMPLATE},
                                     {"no-generation-prompt", 0, 0, O_NO_GEN},
                                     {"help", 0, 0, 'h'},
                                     {0, 0, 0, 0}};

typedef struct tok_opts {
    vocab_src v;
    int no_bos, special, no_gen;
    const char *template_file;
} tok_opts;

/* Parses the shared options; returns -1 to go on, else an exit status. */
static int parse_opts(int argc, char **argv, tok_opts *o, const char *usage) {
    int c;
    while ((c = getopt_long(argc, argv, "m:h", OPTS, NULL)) != -1) {
        switch (c) {
        case 'm': o->v.model = optarg; break;
        case O_TOKENIZER: o->v.json = optarg; break;
        case O_CONFIG: o->v.config = optarg; break;
        case O_NO_BOS: o->no_bos = 1; break;
        case O_SPECIAL: o->special = 1; break;
        case O_TEMPLATE: o->template_file = optarg; break;
        case O_NO_GEN: o->no_gen = 1; break;
        default: fputs(usage, c == 'h' ? stdout : stderr); return c == 'h' ? 0 : 2;
        }
    }
    return -1;
}

static const char TOKENIZE_USAGE[] =
    "usage: penny tokenize (-m FILE.gguf | --tokenizer tokenizer.json [--tokenizer-config CFG])\n"
    "                      [--no-bos] [--special] < text\n"
    "Prints the token ids of stdin. --special reads special-token text (e.g. <|im_start|>)\n"
    "as those tokens; by default it is plain text, the safe choice for user input.\n";

int cmd_tokenize(int argc, char **argv) {
    tok_opts o = {0};
    int rc = parse_opts(argc, argv, &o, TOKENIZE_USAGE);
    if (rc >= 0 || (rc = vocab_open(&o.v, "tokenize"))) return rc < 0 ? 0 : rc;
    size_t len = 0;
    char *text = read_all(stdin, &len);
    int n = 0, cap = (int)(len < (size_t)1 << 28 ? 2 * len + 8 : 0);
    int32_t *ids = text && cap ? malloc(sizeof *ids * (size_t)cap) : NULL;
    penny_error err = {0};
    rc = 1;
    if (!ids)
        fprintf(stderr, "penny tokenize: out of memory or input too long\n");
    else if (tok_encode(o.v.t, text, len, !o.no_bos && tok_add_bos(o.v.t), o.special, ids, cap, &n,
                        &err))
        cli_fail("tokenize", &err);
    else {
        for (int i = 0; i < n; i++) printf(i ? " %d" : "%d", ids[i]);
        printf("\n");
        rc = 0;
    }
    free(ids);
    free(text);
    vocab_close(&o.v);
    return rc;
}

static const char DETOKENIZE_USAGE[] =
    "usage: penny detokenize (-m FILE.gguf | --tokenizer tokenizer.json) [--special] < ids\n"
    "Prints the text of the token ids on stdin (separated by spaces, commas or newlines).\n"
    "Control tokens print nothing unless --special. The space a SentencePiece vocabulary\n"
    "puts before the text is dropped, so detokenize undoes tokenize.\n";

/* Prints token id's text: its piece, or with special its raw text when the
 * piece is empty (control tokens). */
static void put_token(tok_stream *s, const tokenizer *t, int32_t id, bool special, bool *first) {
    const char *p;
    size_t n;
    tok_piece(t, id, &p, &n);
    if (special && n == 0) {
        fputs(tok_stream_flush(s), stdout);
        tok_text(t, id, &p, &n);
        fwrite(p, 1, n, stdout);
        *first = false;
        return;
    }
    const char *out = tok_stream_push(s, id);
    if (*first && *out) {
        if (tok_space_prefix(t) && out[0] == ' ') out++;
        *first = false;
    }
    fputs(out, stdout);
}

int cmd_detokenize(int argc, char **argv) {
    tok_opts o = {0};
    int rc = parse_opts(argc, argv, &o, DETOKENIZE_USAGE);
    if (rc >= 0 || (rc = vocab_open(&o.v, "detokenize"))) return rc < 0 ? 0 : rc;
    char *text = read_all(stdin, NULL);
    tok_stream *s = NULL;
    penny_error err = {0};
    rc = 1;
    if (!text || tok_stream_new(o.v.t, &s, &err)) {
        fprintf(stderr, "penny detokenize: out of memory\n");
        goto done;
    }
    bool first = true;
    for (char *p = text, *end; *p; p = end) {
        while (*p && strchr(" \t\r\n,[]", *p)) p++;
        if (!*p) break;
        long id = strtol(p, &end, 10);
        if (end == p || id < 0 || id >= tok_n_vocab(o.v.t)) {
            fflush(stdout);
            fprintf(stderr, "penny detokenize: '%.20s' is not a token id (0..%d)\n", p,
                    tok_n_vocab(o.v.t) - 1);
            goto done;
        }
        put_token(s, o.v.t, (int32_t)id, o.special, &first);
    }
    fputs(tok_stream_flush(s), stdout);
    rc = 0;
done:
    tok_stream_free(s);
    free(text);
    vocab_close(&o.v);
    return rc;
}

static const char TEMPLATE_USAGE[] =
    "usage: penny template (-m FILE.gguf | --tokenizer-config tokenizer_config.json)\n"
    "                      [--template FILE.jinja] [--no-generation-prompt] < messages.json\n"
    "Prints the prompt the model's chat template makes of the conversation on stdin: a JSON\n"
    "array of {\"role\", \"content\"} messages, or an object with \"messages\" and any other\n"
    "template variables (tools, enable_thinking, add_generation_prompt, ...). bos_token and\n"
    "eos_token come from the model.\n";

/* "bos_token": "<s>" or {"content": "<s>"} in a tokenizer_config.json. */
static const char *config_token(const cJSON *cfg, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (cJSON_IsObject(v)) v = cJSON_GetObjectItemCaseSensitive(v, "content");
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void add_token_var(cJSON *vars, const char *name, const char *text) {
    if (text && !cJSON_GetObjectItemCaseSensitive(vars, name))
        cJSON_AddStringToObject(vars, name, text);
}

/* Reads a whole file; NULL (with a message) when it cannot. */
static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    char *text = f ? read_all(f, NULL) : NULL;
    if (f) fclose(f);
    if (!text) fprintf(stderr, "penny template: cannot read %s\n", path);
    return text;
}

/* bos_token/eos_token of the model or config as variables; *tmpl gets the
 * chat template (malloc'd, or NULL when there is none). */
static int model_vars(tok_opts *o, cJSON *vars, char **tmpl) {
    *tmpl = NULL;
    if (!o->v.model) {
        char *text = read_file(o->v.config);
        cJSON *cfg = text ? cJSON_Parse(text) : NULL;
        free(text);
        if (!cfg) {
            fprintf(stderr, "penny template: %s is not valid JSON\n", o->v.config);
            return 1;
        }
        add_token_var(vars, "bos_token", config_token(cfg, "bos_token"));
        add_token_var(vars, "eos_token", config_token(cfg, "eos_token"));
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(cfg, "chat_template");
        if (cJSON_IsString(t)) *tmpl = strdup(t->valuestring);
        cJSON_Delete(cfg);
        return 0;
    }
    int rc = vocab_open(&o->v, "template");
    if (rc) return rc;
    int32_t ids[2] = {tok_bos(o->v.t), tok_eos(o->v.t)};
    const char *names[2] = {"bos_token", "eos_token"};
    for (int i = 0; i < 2; i++) {
        const char *p;
        size_t n;
        if (ids[i] < 0) continue;
        tok_text(o->v.t, ids[i], &p, &n);
        char *s = strndup(p, n);
        if (s) add_token_var(vars, names[i], s);
        free(s);
    }
    if (tok_chat_template(o->v.t)) *tmpl = strdup(tok_chat_template(o->v.t));
    return 0;
}

/* The template variables from stdin: a message array or an object. */
static cJSON *read_vars(void) {
    char *text = read_all(stdin, NULL);
    cJSON *in = text ? cJSON_Parse(text) : NULL, *vars = NULL;
    free(text);
    if (cJSON_IsArray(in)) {
        vars = cJSON_CreateObject();
        if (vars)
            cJSON_AddItemToObject(vars, "messages", in);
        else
            cJSON_Delete(in);
    } else if (cJSON_IsObject(in)) {
        vars = in;
    } else {
        cJSON_Delete(in);
        fprintf(stderr, "penny template: stdin must be a JSON array of messages or an object\n");
    }
    return vars;
}

int cmd_template(int argc, char **argv) {
    tok_opts o = {0};
    int rc = parse_opts(argc, argv, &o, TEMPLATE_USAGE);
    if (rc >= 0) return rc;
    if (!o.v.model == !o.v.config) {
        fputs(TEMPLATE_USAGE, stderr);
        return 2;
    }
    cJSON *vars = read_vars();
    char *tmpl = NULL, *out = NULL;
    if (!vars || (rc = model_vars(&o, vars, &tmpl))) goto done;
    rc = 1;
    if (o.template_file) {
        free(tmpl);
        if (!(tmpl = read_file(o.template_file))) goto done;
    }
    if (!tmpl) {
        fprintf(stderr, "penny template: the model has no chat template (use --template FILE)\n");
        goto done;
    }
    if (!cJSON_GetObjectItemCaseSensitive(vars, "add_generation_prompt"))
        cJSON_AddBoolToObject(vars, "add_generation_prompt", !o.no_gen);
    penny_error err = {0};
    size_t n = 0;
    if (tmpl_apply(tmpl, vars, &out, &n, &err)) {
        cli_fail("template", &err);
        goto done;
    }
    fwrite(out, 1, n, stdout);
    rc = 0;
done:
    free(out);
    free(tmpl);
    cJSON_Delete(vars);
    vocab_close(&o.v);
    return vars ? rc : 1;
}
