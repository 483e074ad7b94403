/*
 * tok.c - `penny tokenize`, `penny detokenize` and `penny template`: the
 * tokenizer and the chat template on their own, for checking a model's
 * prompt format without running it.
 *
 * The vocabulary comes from a GGUF file (-m; only its tokenizer keys are
 * read, so vocabulary-only files work too) or from a Hugging Face
 * tokenizer.json (--tokenizer, with tokenizer_config.json from
 * --tokenizer-config or found next to it), through penny_tokenizer: no
 * weights are loaded.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"

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

/* Where the vocabulary comes from, and the tokenizer opened for it. */
typedef struct vocab_src {
    const char *model, *json, *config;
    penny_tokenizer *t;
} vocab_src;

static int vocab_open(vocab_src *v, const char *cmd) {
    penny_error err = {0};
    if (!v->model == !v->json) {
        fprintf(stderr, "penny %s: give one of -m FILE or --tokenizer tokenizer.json\n", cmd);
        return 2;
    }
    if (v->json)
        return penny_tokenizer_load_json(v->json, v->config, &v->t, &err) ? cli_fail(cmd, &err) : 0;
    char path[4096];
    if (penny_resolve_model(v->model, path, sizeof path, &err) ||
        penny_tokenizer_load(path, &v->t, &err))
        return cli_fail(cmd, &err);
    return 0;
}

static void vocab_close(vocab_src *v) { penny_tokenizer_free(v->t); }

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
    penny_token *ids = text && cap ? malloc(sizeof *ids * (size_t)cap) : NULL;
    unsigned flags = (!o.no_bos && penny_tokenizer_add_bos(o.v.t) ? PENNY_TOKENIZE_BOS : 0) |
                     (o.special ? PENNY_TOKENIZE_SPECIAL : 0);
    penny_error err = {0};
    rc = 1;
    if (!ids)
        fprintf(stderr, "penny tokenize: out of memory or input too long\n");
    else if (penny_tokenizer_tokenize(o.v.t, text, len, flags, ids, cap, &n, &err))
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

int cmd_detokenize(int argc, char **argv) {
    tok_opts o = {0};
    int rc = parse_opts(argc, argv, &o, DETOKENIZE_USAGE);
    if (rc >= 0 || (rc = vocab_open(&o.v, "detokenize"))) return rc < 0 ? 0 : rc;
    char *text = read_all(stdin, NULL);
    penny_detok *d = NULL;
    penny_error err = {0};
    unsigned flags = PENNY_DETOK_STRIP_SPACE | (o.special ? PENNY_DETOK_SPECIAL : 0);
    rc = 1;
    if (!text || penny_tokenizer_detok_new(o.v.t, flags, &d, &err)) {
        fprintf(stderr, "penny detokenize: out of memory\n");
        goto done;
    }
    int n_vocab = penny_tokenizer_n_vocab(o.v.t);
    for (char *p = text, *end; *p; p = end) {
        while (*p && strchr(" \t\r\n,[]", *p)) p++;
        if (!*p) break;
        long id = strtol(p, &end, 10);
        if (end == p || id < 0 || id >= n_vocab) {
            fflush(stdout);
            fprintf(stderr, "penny detokenize: '%.20s' is not a token id (0..%d)\n", p,
                    n_vocab - 1);
            goto done;
        }
        fputs(penny_detok_push(d, (penny_token)id), stdout);
    }
    fputs(penny_detok_flush(d), stdout);
    rc = 0;
done:
    penny_detok_free(d);
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
    penny_token ids[2] = {penny_tokenizer_bos(o->v.t), penny_tokenizer_eos(o->v.t)};
    const char *names[2] = {"bos_token", "eos_token"};
    for (int i = 0; i < 2; i++) {
        const char *p;
        size_t n;
        if (ids[i] < 0 || penny_tokenizer_token_text(o->v.t, ids[i], &p, &n)) continue;
        char *s = strndup(p, n);
        if (s) add_token_var(vars, names[i], s);
        free(s);
    }
    const char *chat_tmpl = penny_tokenizer_chat_template(o->v.t);
    if (chat_tmpl) *tmpl = strdup(chat_tmpl);
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
    char *json = cJSON_PrintUnformatted(vars);
    if (!json) {
        fprintf(stderr, "penny template: out of memory\n");
        goto done;
    }
    penny_status st = penny_template_render(tmpl, json, &out, &n, &err);
    free(json);
    if (st) {
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
