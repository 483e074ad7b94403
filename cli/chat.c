/*
 * chat.c - `penny chat`: a multi-turn conversation with a model in the
 * terminal.
 *
 * Every turn renders the whole conversation with the model's chat template
 * (or ChatML, see penny_chat_format), tokenizes it, and evaluates only
 * what differs from the tokens already in the KV cache: the previous turns
 * stay cached, so a turn costs its own tokens, not the conversation's. The
 * answer streams as it is sampled; Ctrl-C stops the answer and keeps the
 * part already written, and a second Ctrl-C at the prompt does not quit
 * either (Ctrl-D or /exit does). Reasoning models' <think> sections are
 * shown dimmed, or folded into one line with /think off.
 *
 * With a terminal on stdin there is line editing and history (libedit);
 * otherwise each input line is one user turn and only the answers are
 * printed, one per line, with no prompts or colours.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <histedit.h>
#include <langinfo.h>
#include <limits.h>
#include <locale.h>
#include <poll.h>
#include <wchar.h>

#include "cli.h"
#include "think.h"

/* penny's own small assistant (docs/model-card.md), relative to the
 * repository root, as for `penny serve`. */
#define CHAT_BUILTIN_MODEL "models/penny-assistant.gguf"

#define DIM "\033[2m"
#define BOLD "\033[1m"
#define RESET "\033[0m"

typedef struct chat {
    penny_model *m;
    penny_context *ctx;
    penny_sampler *smp;
    penny_detok *dt;
    penny_chat_message *msgs; /* role: a static string; content: owned */
    int n_msgs, cap_msgs;
    char *system;       /* NULL: none */
    penny_token *cache; /* (n_ctx) tokens now in the KV cache */
    int n_cache, n_ctx;
    int max_tokens;     /* per answer; < 0: until the end or a full context */
    bool tty_in, color; /* prompts and line editing; ANSI styles */
    bool show_think, verbose;
    int n_eval, n_reused; /* last turn: prompt tokens evaluated and reused */
    EditLine *el;         /* line editor and history when tty_in */
    History *hist;
} chat;

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig) {
    (void)sig;
    interrupted = 1;
}

/* ---- the conversation ---- */

static bool add_message(chat *c, const char *role, const char *content) {
    if (c->n_msgs == c->cap_msgs) {
        int cap = c->cap_msgs ? 2 * c->cap_msgs : 16;
        penny_chat_message *p = realloc(c->msgs, sizeof *p * (size_t)cap);
        if (!p) return false;
        c->msgs = p;
        c->cap_msgs = cap;
    }
    char *copy = strdup(content);
    if (!copy) return false;
    c->msgs[c->n_msgs].role = role;
    c->msgs[c->n_msgs++].content = copy;
    return true;
}

static void clear_messages(chat *c) {
    for (int i = 0; i < c->n_msgs; i++) free((char *)c->msgs[i].content);
    c->n_msgs = 0;
}

/* Starts over: just the system prompt, if any. */
static bool reset(chat *c) {
    clear_messages(c);
    return !c->system || add_message(c, "system", c->system);
}

static const char *static_role(const char *r) {
    static const char *roles[] = {"system", "user", "assistant", "tool"};
    for (size_t i = 0; i < sizeof roles / sizeof *roles; i++)
        if (!strcmp(r, roles[i])) return roles[i];
    return NULL;
}

/* ---- showing the answer: <think> sections ---- */

static void show(void *user, bool inside, bool enter, const char *s, size_t n) {
    const chat *c = user;
    if (enter && !c->show_think && c->tty_in)
        fputs(c->color ? DIM "(thinking... /think on shows it)" RESET "\n" : "(thinking...)\n",
              stdout);
    if (!n || (inside && !c->show_think)) return;
    if (inside && c->color) fputs(DIM, stdout);
    fwrite(s, 1, n, stdout);
    if (inside && c->color) fputs(RESET, stdout);
    fflush(stdout);
}

/* Status lines: dimmed on a terminal, on stderr when stdout carries only
 * the answers. */
static void note(const chat *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(const chat *c, const char *fmt, ...) {
    FILE *f = c->tty_in ? stdout : stderr;
    va_list ap;
    va_start(ap, fmt);
    if (c->color) fputs(DIM, f);
    vfprintf(f, fmt, ap);
    if (c->color) fputs(RESET, f);
    fputc('\n', f);
    va_end(ap);
    fflush(f);
}

/* ---- one turn ---- */

static int common_prefix(const penny_token *a, int na, const penny_token *b, int nb) {
    int n = na < nb ? na : nb, i = 0;
    while (i < n && a[i] == b[i]) i++;
    return i;
}

/* Evaluates toks[from..n) in pieces, so Ctrl-C can stop a long prompt. */
static penny_status eval_from(chat *c, const penny_token *toks, int from, int n, penny_error *err) {
    for (int i = from; i < n && !interrupted;) {
        int k = n - i < 256 ? n - i : 256;
        penny_status rc = penny_eval(c->ctx, toks + i, k, false, err);
        if (rc) return rc;
        memcpy(c->cache + c->n_cache, toks + i, sizeof *toks * (size_t)k);
        c->n_cache += k;
        i += k;
    }
    return PENNY_OK;
}

/* Brings the KV cache to the rendered conversation: keeps the common
 * prefix, evaluates the rest. Returns 0, 1 (not possible: reported), or -1
 * on an engine error. */
static int prepare(chat *c, penny_error *err) {
    char *text = NULL;
    penny_token *toks = NULL;
    int n = 0, rc = -1;
    if (penny_chat_format(c->m, c->msgs, c->n_msgs, true, &text, err) ||
        penny_chat_tokenize(c->m, text, true, &toks, &n, err))
        goto done;
    if (n >= c->n_ctx) {
        note(c,
             "the conversation (%d tokens) no longer fits the context of %d tokens: /reset "
             "starts over",
             n, c->n_ctx);
        rc = 1;
        goto done;
    }
    int keep = common_prefix(c->cache, c->n_cache, toks, n);
    if (keep == n) keep = n - 1; /* the last token's logits start the answer */
    penny_context_truncate(c->ctx, keep);
    c->n_cache = keep;
    c->n_reused = keep;
    c->n_eval = n - keep;
    if (eval_from(c, toks, keep, n, err)) goto done;
    rc = interrupted ? 1 : 0;
done:
    free(text);
    free(toks);
    return rc;
}

/* Samples and shows the answer; its text goes to out (a memory stream). */
static penny_status answer(chat *c, FILE *out, penny_error *err) {
    think_state v = {0};
    int n = 0;
    while (c->max_tokens < 0 || n < c->max_tokens) {
        if (interrupted) break;
        penny_token t = penny_sampler_sample(c->smp, penny_logits(c->ctx));
        penny_sampler_accept(c->smp, t);
        if (penny_token_is_eog(c->m, t)) break;
        const char *piece = penny_detok_push(c->dt, t);
        if (fputs(piece, out) == EOF) return PENNY_ERR_NOMEM;
        think_feed(&v, piece, strlen(piece), show, c);
        n++;
        if (c->n_cache >= c->n_ctx) {
            note(c, "\n(the context is full: /reset starts over)");
            break;
        }
        if (c->max_tokens >= 0 && n >= c->max_tokens) break;
        penny_status rc = penny_eval(c->ctx, &t, 1, false, err);
        if (rc) return rc;
        c->cache[c->n_cache++] = t;
    }
    const char *rest = penny_detok_flush(c->dt);
    if (fputs(rest, out) == EOF) return PENNY_ERR_NOMEM;
    think_feed(&v, rest, strlen(rest), show, c);
    think_flush(&v, show, c);
    return PENNY_OK;
}

/* One exchange: the user's text in, the model's answer out (and kept in
 * the conversation, even when Ctrl-C cut it short). Returns -1 on an
 * engine error. */
static int turn(chat *c, const char *user) {
    penny_error err = {0};
    if (!add_message(c, "user", user)) return -1;
    interrupted = 0;
    int prc = prepare(c, &err);
    if (prc) {
        free((char *)c->msgs[--c->n_msgs].content); /* the turn did not happen */
        if (prc < 0) return cli_fail("chat", &err);
        if (interrupted) note(c, "(interrupted)");
        interrupted = 0;
        return 0;
    }
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (!out) {
        snprintf(err.message, sizeof err.message, "out of memory");
        return cli_fail("chat", &err);
    }
    double t0 = cli_now();
    penny_status rc = answer(c, out, &err);
    double dt = cli_now() - t0;
    if (fclose(out) && !rc) rc = PENNY_ERR_NOMEM;
    bool cut = interrupted;
    interrupted = 0;
    fputc('\n', stdout);
    fflush(stdout);
    if (rc || !add_message(c, "assistant", text)) {
        free(text);
        return cli_fail("chat", &err);
    }
    free(text);
    if (cut) note(c, "(stopped)");
    if (c->verbose)
        note(c, "(prompt: %d tokens evaluated, %d reused; answer in %.2f s)", c->n_eval,
             c->n_reused, dt);
    return 0;
}

/* ---- commands ---- */

static const char *CHAT_HELP =
    "commands:\n"
    "  /reset          forget the conversation (keeps the system prompt)\n"
    "  /system [TEXT]  show or set the system prompt (and reset)\n"
    "  /save FILE      write the conversation as JSON\n"
    "  /load FILE      read a conversation written by /save\n"
    "  /think on|off   show reasoning sections, or fold them\n"
    "  /help           this text\n"
    "  /exit           quit (so does Ctrl-D); Ctrl-C stops an answer";

static void save(chat *c, const char *path) {
    cJSON *root = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(root, "messages");
    for (int i = 0; arr && i < c->n_msgs; i++) {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "role", c->msgs[i].role);
        cJSON_AddStringToObject(m, "content", c->msgs[i].content);
        cJSON_AddItemToArray(arr, m);
    }
    char *json = cJSON_Print(root);
    cJSON_Delete(root);
    FILE *f = json ? fopen(path, "w") : NULL;
    bool ok = f && fputs(json, f) >= 0 && fputc('\n', f) != EOF;
    if (f && fclose(f)) ok = false;
    free(json);
    if (ok)
        note(c, "(saved %d messages to %s)", c->n_msgs, path);
    else
        note(c, "cannot write %s: %s", path, strerror(errno));
}

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *text = NULL, buf[4096];
    size_t len = 0, n;
    FILE *m = open_memstream(&text, &len);
    bool ok = m != NULL;
    while (ok && (n = fread(buf, 1, sizeof buf, f)) > 0) ok = fwrite(buf, 1, n, m) == n;
    ok = ok && !ferror(f);
    fclose(f);
    if (m && fclose(m)) ok = false;
    if (!ok) {
        free(text);
        return NULL;
    }
    return text;
}

/* Loads {"messages":[{"role","content"}...]}; the conversation is replaced
 * only when the whole file is valid. */
static void load(chat *c, const char *path) {
    char *text = read_file(path);
    cJSON *root = text ? cJSON_Parse(text) : NULL;
    cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "messages"), *m;
    bool ok = cJSON_IsArray(arr);
    cJSON *list = ok ? arr : NULL;
    cJSON_ArrayForEach(m, list) {
        cJSON *r = cJSON_GetObjectItemCaseSensitive(m, "role");
        cJSON *t = cJSON_GetObjectItemCaseSensitive(m, "content");
        ok = ok && cJSON_IsString(r) && static_role(r->valuestring) && cJSON_IsString(t);
    }
    if (ok) {
        clear_messages(c);
        free(c->system);
        c->system = NULL;
        cJSON_ArrayForEach(m, arr) {
            const char *role =
                static_role(cJSON_GetObjectItemCaseSensitive(m, "role")->valuestring);
            const char *content = cJSON_GetObjectItemCaseSensitive(m, "content")->valuestring;
            if (!strcmp(role, "system") && !c->system) c->system = strdup(content);
            ok = ok && add_message(c, role, content);
        }
    }
    if (ok)
        note(c, "(loaded %d messages from %s)", c->n_msgs, path);
    else if (!text)
        note(c, "cannot read %s: %s", path, strerror(errno));
    else
        note(c, "%s is not a conversation saved by /save", path);
    cJSON_Delete(root);
    free(text);
}

static void set_system(chat *c, const char *text) {
    if (!*text) {
        note(c, c->system ? "system prompt: %s" : "(no system prompt)%s",
             c->system ? c->system : "");
        return;
    }
    char *copy = strdup(text);
    if (!copy) return;
    free(c->system);
    c->system = copy;
    reset(c);
    note(c, "(system prompt set; conversation cleared)");
}

/* Returns false for /exit. */
static bool command(chat *c, char *line) {
    char *arg = line + strcspn(line, " \t");
    if (*arg) *arg++ = '\0';
    arg += strspn(arg, " \t");
    if (!strcmp(line, "/exit") || !strcmp(line, "/quit")) return false;
    if (!strcmp(line, "/help"))
        note(c, "%s", CHAT_HELP);
    else if (!strcmp(line, "/reset")) {
        reset(c);
        note(c, "(conversation cleared)");
    } else if (!strcmp(line, "/system"))
        set_system(c, arg);
    else if (!strcmp(line, "/save") && *arg)
        save(c, arg);
    else if (!strcmp(line, "/load") && *arg)
        load(c, arg);
    else if (!strcmp(line, "/think") && (!strcmp(arg, "on") || !strcmp(arg, "off"))) {
        c->show_think = !strcmp(arg, "on");
        note(c, "(reasoning sections %s)", c->show_think ? "shown" : "folded");
    } else
        note(c, "unknown command or missing argument: %s (see /help)", line);
    return true;
}

/* ---- input ---- */

/* libedit's own signal handling re-raises SIGINT and puts the terminal in
 * cooked mode behind the editor's back, and its reader retries a read that
 * a signal interrupted, so Ctrl-C at the prompt behaved differently from
 * run to run. penny handles SIGINT itself (EL_SIGNAL off) and reads
 * characters here: polling with a timeout means a Ctrl-C is seen even if it
 * lands just before the read, and it ends el_gets as an error. */
static int get_char(EditLine *el, wchar_t *wc) {
    (void)el;
    char buf[MB_LEN_MAX];
    size_t n = 0;
    for (;;) {
        if (interrupted) {
            errno = EINTR;
            return -1;
        }
        struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
        int r = poll(&pfd, 1, 100);
        if (r < 0 && errno != EINTR) return -1;
        if (r <= 0) continue;
        ssize_t k = read(STDIN_FILENO, buf + n, 1);
        if (k == 0) return 0;
        if (k < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            return -1;
        }
        n++;
        mbstate_t st = {0};
        size_t used = mbrtowc(wc, buf, n, &st);
        if (used == (size_t)-2 && n < sizeof buf) continue; /* the rest of a character */
        if (used == (size_t)-1 || used == (size_t)-2) *wc = (unsigned char)buf[0];
        return 1;
    }
}

static char *prompt(EditLine *el) {
    (void)el;
    return "> ";
}

static void history_path(char *buf, size_t cap) {
    const char *home = getenv("HOME");
    snprintf(buf, cap, "%s/.penny_history", home && *home ? home : ".");
}

static bool editor_open(chat *c, const char *hist_file) {
    HistEvent ev;
    /* Multibyte input as the terminal sends it; terminals speak UTF-8 even
     * where no locale is set, and libedit drops what the C locale cannot
     * decode. */
    setlocale(LC_CTYPE, "");
    if (strcmp(nl_langinfo(CODESET), "UTF-8") != 0) setlocale(LC_CTYPE, "C.UTF-8");
    c->el = el_init("penny", stdin, stdout, stderr);
    c->hist = history_init();
    if (!c->el || !c->hist) return false;
    history(c->hist, &ev, H_SETSIZE, 1000);
    history(c->hist, &ev, H_SETUNIQUE, 1);
    history(c->hist, &ev, H_LOAD, hist_file);
    el_set(c->el, EL_EDITOR, "emacs");
    el_set(c->el, EL_SIGNAL, 0);
    el_set(c->el, EL_PROMPT, prompt);
    el_set(c->el, EL_GETCFN, get_char);
    el_set(c->el, EL_HIST, history, c->hist);
    el_source(c->el, NULL); /* the user's ~/.editrc, as other libedit programs do */
    return true;
}

static void editor_close(chat *c, const char *hist_file) {
    HistEvent ev;
    if (c->hist) {
        history(c->hist, &ev, H_SAVE, hist_file);
        history_end(c->hist);
    }
    if (c->el) el_end(c->el);
    c->el = NULL, c->hist = NULL;
}

/* The next input line without its newline (malloc'd), or NULL at the end
 * or, on a terminal, after Ctrl-C (interrupted is then set). */
static char *read_line(chat *c) {
    char *line = NULL;
    ssize_t n;
    if (c->tty_in) {
        int count = 0;
        const char *l = el_gets(c->el, &count);
        if (!l || count <= 0) return NULL;
        line = strdup(l);
        n = line ? (ssize_t)strlen(line) : 0;
    } else {
        size_t cap = 0;
        n = getline(&line, &cap, stdin);
        if (n < 0) {
            free(line);
            return NULL;
        }
    }
    while (line && n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
    return line;
}

static int loop(chat *c) {
    char hist[4096];
    if (c->tty_in) {
        history_path(hist, sizeof hist);
        if (!editor_open(c, hist)) {
            editor_close(c, hist);
            fprintf(stderr, "penny chat: cannot start the line editor\n");
            return 1;
        }
        note(c, "penny chat with %s (%s) - /help for commands, Ctrl-D to quit",
             penny_model_desc(c->m),
             penny_model_chat_template(c->m) ? "its chat template" : "ChatML");
    }
    int rc = 0;
    for (;;) {
        interrupted = 0;
        char *line = read_line(c);
        if (!line) {
            if (c->tty_in && interrupted) { /* Ctrl-C at the prompt: not a way out */
                fputc('\n', stdout);
                fflush(stdout);
                continue;
            }
            break;
        }
        char *s = line + strspn(line, " \t");
        bool go = true;
        if (c->tty_in && *s) {
            HistEvent ev;
            history(c->hist, &ev, H_ENTER, s);
        }
        if (*s == '/')
            go = command(c, s);
        else if (*s && turn(c, s))
            rc = 1, go = false;
        free(line);
        if (!go) break;
    }
    if (c->tty_in) {
        editor_close(c, hist);
        fputc('\n', stdout);
    }
    return rc;
}

/* ---- setup ---- */

typedef struct chat_opts {
    const char *model, *system;
    int n_threads, verbose, no_color;
    penny_context_params cp;
    penny_sampler_params sp;
    int max_tokens, seed_given;
} chat_opts;

enum { C_SYSTEM = 256, C_TEMP, C_TOPK, C_TOPP, C_MINP, C_RPEN, C_SEED, C_NOCOLOR, C_NOTHINK, C_KV };

static int parse_chat(int argc, char **argv, chat_opts *o, bool *show_think) {
    static const struct option opts[] = {{"model", 1, 0, 'm'},
                                         {"system", 1, 0, C_SYSTEM},
                                         {"n-predict", 1, 0, 'n'},
                                         {"ctx", 1, 0, 'c'},
                                         {"threads", 1, 0, 't'},
                                         {"temp", 1, 0, C_TEMP},
                                         {"top-k", 1, 0, C_TOPK},
                                         {"top-p", 1, 0, C_TOPP},
                                         {"min-p", 1, 0, C_MINP},
                                         {"repeat-penalty", 1, 0, C_RPEN},
                                         {"seed", 1, 0, C_SEED},
                                         {"no-color", 0, 0, C_NOCOLOR},
                                         {"hide-think", 0, 0, C_NOTHINK},
                                         {"kv-type", 1, 0, C_KV},
                                         {"verbose", 0, 0, 'v'},
                                         {"help", 0, 0, 'h'},
                                         {0, 0, 0, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "m:n:c:t:vh", opts, NULL)) != -1) {
        switch (ch) {
        case 'm': o->model = optarg; break;
        case C_SYSTEM: o->system = optarg; break;
        case 'n': o->max_tokens = cli_int("-n", optarg); break;
        case 'c': o->cp.n_ctx = cli_int("--ctx", optarg); break;
        case 't': o->n_threads = cli_int("--threads", optarg); break;
        case C_TEMP: o->sp.temperature = (float)cli_num("--temp", optarg); break;
        case C_TOPK: o->sp.top_k = cli_int("--top-k", optarg); break;
        case C_TOPP: o->sp.top_p = (float)cli_num("--top-p", optarg); break;
        case C_MINP: o->sp.min_p = (float)cli_num("--min-p", optarg); break;
        case C_RPEN: o->sp.repeat_penalty = (float)cli_num("--repeat-penalty", optarg); break;
        case C_SEED:
            o->sp.seed = (uint64_t)cli_num("--seed", optarg);
            o->seed_given = 1;
            break;
        case C_NOCOLOR: o->no_color = 1; break;
        case C_NOTHINK: *show_think = false; break;
        case C_KV: o->cp.kv_type = cli_kv_type(optarg); break;
        case 'v': o->verbose = 1; break;
        case 'h':
            printf("usage: penny chat [-m FILE (default " CHAT_BUILTIN_MODEL ")] [--system TEXT] "
                   "[-n N] [--ctx N] [--temp T] "
                   "[--top-k K]\n  [--top-p P] [--min-p P] [--repeat-penalty F] [--seed S] "
                   "[--hide-think] [--no-color] [--kv-type f16|f32|q8_0] [-v]\n%s\n",
                   CHAT_HELP);
            exit(0);
        default: return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "penny chat: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (!o->model) o->model = CHAT_BUILTIN_MODEL;
    return 0;
}

static penny_status chat_open(chat *c, const chat_opts *o, penny_error *err) {
    penny_model_params mp = penny_model_default_params();
    mp.n_threads = o->n_threads;
    penny_status rc;
    if ((rc = penny_model_load(o->model, &mp, &c->m, err)) ||
        (rc = penny_context_new(c->m, &o->cp, &c->ctx, err)))
        return rc;
    c->n_ctx = penny_context_n_ctx(c->ctx);
    if ((rc = penny_sampler_new(&o->sp, penny_model_n_vocab(c->m), &c->smp, err)) ||
        (rc = penny_detok_new(c->m, &c->dt, err)))
        return rc;
    if (!(c->cache = malloc(sizeof *c->cache * (size_t)c->n_ctx)) ||
        (o->system && !(c->system = strdup(o->system))) || !reset(c))
        return PENNY_ERR_NOMEM;
    return PENNY_OK;
}

static void chat_close(chat *c) {
    clear_messages(c);
    free(c->msgs);
    free(c->system);
    free(c->cache);
    penny_detok_free(c->dt);
    penny_sampler_free(c->smp);
    penny_context_free(c->ctx);
    penny_model_free(c->m);
}

int cmd_chat(int argc, char **argv) {
    chat_opts o = {0};
    o.max_tokens = -1;
    o.cp = penny_context_default_params();
    o.sp = penny_sampler_default_params();
    chat c = {0};
    c.show_think = true;
    int rc = parse_chat(argc, argv, &o, &c.show_think);
    if (rc) return rc;
    if (!o.seed_given) o.sp.seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    c.max_tokens = o.max_tokens;
    c.tty_in = isatty(STDIN_FILENO);
    c.color = c.tty_in && isatty(STDOUT_FILENO) && !o.no_color && !getenv("NO_COLOR");
    c.verbose = o.verbose;
    struct sigaction sa = {0};
    sa.sa_handler = on_sigint; /* no SA_RESTART: a read at the prompt returns */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    penny_error err = {0};
    if (chat_open(&c, &o, &err)) {
        rc = cli_fail(o.model, &err);
    } else {
        rc = loop(&c);
    }
    chat_close(&c);
    return rc;
}
