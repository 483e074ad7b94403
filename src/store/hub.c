/*
 * hub.c - talking to the Hugging Face Hub (or a mirror, or the tests' local
 * server) with libcurl: the repository listing (JSON, paginated) and file
 * downloads that resume with HTTP Range and hash as they write.
 *
 * The sha256 runs over the bytes as they reach the partial file; resuming
 * first re-hashes what the file already holds, so the digest always covers
 * the whole file and verification needs no second read. Servers that ignore
 * Range (200 instead of 206) restart the file; a wrong Content-Range
 * restarts it too. Transient failures (connection drops, timeouts, 5xx,
 * 429) are retried with a doubling pause; anything else fails at once with
 * a message saying what the server said. The token is sent as a header
 * and never appears in a message: messages show the endpoint without any
 * user:password part.
 */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/err.h"
#include "base/log.h"
#include "store/hub.h"

#define LIST_MAX_BYTES (64u << 20)
#define LIST_MAX_FILES 200000
#define LIST_MAX_PAGES 1000

struct hub {
    char *endpoint;    /* no trailing '/' */
    char origin[256];  /* scheme://host[:port], for pagination links */
    char display[256]; /* endpoint without user:password, for messages */
    struct curl_slist *headers;
    bool has_token;
};

/* What the response headers of one transfer said (the last response for
 * per-response fields; X-Linked-* from any response of a redirect chain). */
typedef struct resp {
    char linked_etag[80];
    uint64_t linked_size;
    bool has_linked_size, has_range;
    uint64_t range_start;
    char error[160]; /* X-Error-Message, printable ASCII only */
    char next[2048]; /* Link: <...>; rel="next" */
} resp;

/* ---- endpoint, headers ---- */

static bool has_ctl(const char *s) {
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || *s == 0x7f) return true;
    return false;
}

static void set_origin(hub *h) {
    const char *e = h->endpoint, *hs = strstr(e, "://") + 3, *slash = strchr(hs, '/');
    size_t n = slash ? (size_t)(slash - e) : strlen(e);
    snprintf(h->origin, sizeof h->origin, "%.*s", (int)n, e);
    const char *at = memchr(hs, '@', (size_t)(e + n - hs));
    if (at)
        snprintf(h->display, sizeof h->display, "%.*s%s", (int)(hs - e), e, at + 1);
    else
        snprintf(h->display, sizeof h->display, "%s", e);
}

penny_status hub_new(const char *endpoint, const char *token, hub **out, penny_error *err) {
    *out = NULL;
    if (strncmp(endpoint, "http://", 7) && strncmp(endpoint, "https://", 8))
        return err_set(err, PENNY_ERR_ARG, "Hub endpoint must start with http:// or https://");
    const char *host = strstr(endpoint, "://") + 3;
    if (strlen(endpoint) > 200 || !*host || *host == '/' || has_ctl(endpoint))
        return err_set(err, PENNY_ERR_ARG, "Hub endpoint is not a usable URL");
    if (curl_global_init(CURL_GLOBAL_DEFAULT))
        return err_set(err, PENNY_ERR_IO, "libcurl failed to initialise");
    hub *h = calloc(1, sizeof *h);
    if (!h || !(h->endpoint = strdup(endpoint))) {
        hub_free(h);
        return err_set(err, PENNY_ERR_NOMEM, "out of memory");
    }
    size_t n = strlen(h->endpoint);
    while (n > 0 && h->endpoint[n - 1] == '/') h->endpoint[--n] = '\0';
    set_origin(h);
    bool ok = (h->headers = curl_slist_append(NULL, "Accept: */*")) != NULL;
    if (ok && token && *token) {
        if (has_ctl(token)) {
            hub_free(h);
            return err_set(err, PENNY_ERR_ARG, "HF_TOKEN contains spaces or control characters");
        }
        char *line = malloc(strlen(token) + 32);
        if ((ok = line != NULL)) {
            sprintf(line, "Authorization: Bearer %s", token);
            struct curl_slist *l = curl_slist_append(h->headers, line);
            memset(line, 0, strlen(line));
            free(line);
            ok = l != NULL;
            h->has_token = true;
        }
    }
    if (!ok) {
        hub_free(h);
        return err_set(err, PENNY_ERR_NOMEM, "out of memory");
    }
    *out = h;
    return PENNY_OK;
}

void hub_free(hub *h) {
    if (!h) return;
    curl_slist_free_all(h->headers);
    free(h->endpoint);
    free(h);
    curl_global_cleanup();
}

const char *hub_endpoint(const hub *h) { return h->display; }

/* ---- response headers ---- */

static void copy_printable(char *dst, size_t cap, const char *src, size_t len) {
    size_t w = 0;
    for (size_t i = 0; i < len && w + 1 < cap; i++)
        dst[w++] = (src[i] >= 0x20 && src[i] < 0x7f) ? src[i] : '?';
    dst[w] = '\0';
}

/* Link: <url>; rel="next", <url2>; rel="prev" */
static void parse_link(resp *r, const char *v, size_t len) {
    const char *end = v + len;
    for (const char *lt = memchr(v, '<', len); lt;
         lt = memchr(lt + 1, '<', (size_t)(end - lt - 1))) {
        const char *gt = memchr(lt, '>', (size_t)(end - lt));
        if (!gt) return;
        const char *comma = memchr(gt, ',', (size_t)(end - gt));
        const char *stop = comma ? comma : end;
        char params[128];
        copy_printable(params, sizeof params, gt + 1, (size_t)(stop - gt - 1));
        if (strstr(params, "rel=\"next\"") || strstr(params, "rel=next")) {
            copy_printable(r->next, sizeof r->next, lt + 1, (size_t)(gt - lt - 1));
            return;
        }
        if (!comma) return;
    }
}

static bool header_is(const char *line, size_t len, const char *name, const char **val,
                      size_t *vlen) {
    size_t k = strlen(name);
    if (len <= k || line[k] != ':' || strncasecmp(line, name, k)) return false;
    *val = line + k + 1;
    *vlen = len - k - 1;
    while (*vlen && (**val == ' ' || **val == '\t')) (*val)++, (*vlen)--;
    return true;
}

static size_t on_header(char *buf, size_t size, size_t n, void *ud) {
    resp *r = ud;
    size_t len = size * n, vlen;
    const char *v;
    while (len && (buf[len - 1] == '\r' || buf[len - 1] == '\n')) len--;
    if (len >= 5 && !strncmp(buf, "HTTP/", 5)) { /* a new response begins */
        r->has_range = false;
        r->error[0] = r->next[0] = '\0';
    } else if (header_is(buf, len, "X-Linked-Etag", &v, &vlen)) {
        copy_printable(r->linked_etag, sizeof r->linked_etag, v, vlen);
    } else if (header_is(buf, len, "X-Linked-Size", &v, &vlen)) {
        char tmp[32];
        copy_printable(tmp, sizeof tmp, v, vlen);
        r->has_linked_size = sscanf(tmp, "%" SCNu64, &r->linked_size) == 1;
    } else if (header_is(buf, len, "Content-Range", &v, &vlen)) {
        char tmp[96];
        copy_printable(tmp, sizeof tmp, v, vlen);
        r->has_range = sscanf(tmp, "bytes %" SCNu64 "-", &r->range_start) == 1;
    } else if (header_is(buf, len, "X-Error-Message", &v, &vlen)) {
        copy_printable(r->error, sizeof r->error, v, vlen);
    } else if (header_is(buf, len, "Link", &v, &vlen)) {
        parse_link(r, v, vlen);
    }
    return size * n;
}

/* ---- requests ---- */

static CURL *easy_new(hub *h, const char *url, resp *r, char *errbuf) {
    CURL *c = curl_easy_init();
    if (!c) return NULL;
    memset(r, 0, sizeof *r);
    errbuf[0] = '\0';
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h->headers);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "penny/0.1");
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L); /* a stalled transfer ends after 60 s */
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    return c;
}

static penny_status status_error(const hub *h, long code, const resp *r, const char *what,
                                 penny_error *err) {
    char extra[200] = "";
    if (r->error[0]) snprintf(extra, sizeof extra, " (%s)", r->error);
    if (code == 401 || code == 403)
        return err_set(err, PENNY_ERR_IO, "%s: access denied (HTTP %ld)%s: %s", what, code, extra,
                       h->has_token ? "the Hub refused HF_TOKEN; check that it may read this "
                                      "repository and that the model's terms were accepted"
                                    : "a gated or private repository needs HF_TOKEN");
    if (code == 404)
        return err_set(err, PENNY_ERR_RANGE, "%s: not found on %s (HTTP 404)%s", what, h->display,
                       extra);
    if (code == 429)
        return err_set(err, PENNY_ERR_IO, "%s: rate limited by %s (HTTP 429)%s; try again later",
                       what, h->display, extra);
    if (code >= 500)
        return err_set(err, PENNY_ERR_IO, "%s: server error from %s (HTTP %ld)%s; try again later",
                       what, h->display, code, extra);
    return err_set(err, PENNY_ERR_IO, "%s: unexpected HTTP status %ld from %s%s", what, code,
                   h->display, extra);
}

static penny_status net_error(const hub *h, CURLcode rc, const char *errbuf, const char *what,
                              penny_error *err) {
    return err_set(err, PENNY_ERR_IO, "%s: cannot fetch from %s: %s", what, h->display,
                   errbuf[0] ? errbuf : curl_easy_strerror(rc));
}

/* Percent-encodes src into dst, keeping '/' between path components. */
static void url_escape(char *dst, size_t cap, const char *src) {
    size_t w = 0;
    for (; *src && w + 4 < cap; src++) {
        unsigned char c = (unsigned char)*src;
        if (isalnum(c) || strchr("-._~/", c))
            dst[w++] = (char)c;
        else
            w += (size_t)snprintf(dst + w, cap - w, "%%%02X", c);
    }
    dst[w] = '\0';
}

/* ---- listing ---- */

typedef struct membuf {
    char *p;
    size_t len, cap;
    bool too_big;
} membuf;

static size_t on_body(char *data, size_t size, size_t n, void *ud) {
    membuf *b = ud;
    size_t len = size * n;
    if (len > LIST_MAX_BYTES - b->len) return b->too_big = true, 0;
    if (b->len + len + 1 > b->cap) {
        size_t cap = (b->len + len + 1) * 2;
        char *p = realloc(b->p, cap);
        if (!p) return 0;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, len);
    b->len += len;
    b->p[b->len] = '\0';
    return len;
}

/* GETs url into b; HTTP errors become messages about what. */
static penny_status get_text(hub *h, const char *url, const char *what, membuf *b, resp *r,
                             penny_error *err) {
    char errbuf[CURL_ERROR_SIZE];
    CURL *c = easy_new(h, url, r, errbuf);
    if (!c) return err_set(err, PENNY_ERR_NOMEM, "out of memory");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
    CURLcode rc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    if (b->too_big) return err_set(err, PENNY_ERR_FORMAT, "%s: listing larger than 64 MiB", what);
    if (rc == CURLE_WRITE_ERROR) return err_set(err, PENNY_ERR_NOMEM, "out of memory");
    if (rc) return net_error(h, rc, errbuf, what, err);
    if (code != 200) return status_error(h, code, r, what, err);
    return PENNY_OK;
}

static bool json_u64(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0) || v->valuedouble > 9007199254740992.0)
        return false;
    *out = (uint64_t)v->valuedouble;
    return (double)*out == v->valuedouble;
}

/* One listing entry; *keep is false for folders. */
static penny_status parse_file(const cJSON *o, hub_file *f, bool *keep) {
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(o, "type");
    const cJSON *path = cJSON_GetObjectItemCaseSensitive(o, "path");
    const cJSON *lfs = cJSON_GetObjectItemCaseSensitive(o, "lfs");
    const cJSON *oid = cJSON_GetObjectItemCaseSensitive(lfs, "oid");
    *keep = cJSON_IsString(type) && !strcmp(type->valuestring, "file");
    if (!*keep) return PENNY_OK;
    if (!cJSON_IsString(path) ||
        !json_u64(cJSON_GetObjectItemCaseSensitive(lfs ? lfs : o, "size"), &f->size))
        return PENNY_ERR_FORMAT;
    f->sha256[0] = '\0';
    if (cJSON_IsString(oid) && strlen(oid->valuestring) == 64) {
        for (int i = 0; i < 64; i++)
            f->sha256[i] = (char)tolower((unsigned char)oid->valuestring[i]);
        f->sha256[64] = '\0';
    }
    return (f->path = strdup(path->valuestring)) ? PENNY_OK : PENNY_ERR_NOMEM;
}

static penny_status parse_page(const char *text, size_t len, hub_file **files, int *n, int *cap,
                               const char *what, penny_error *err) {
    cJSON *arr = cJSON_ParseWithLength(text, len);
    penny_status rc = PENNY_OK;
    if (!cJSON_IsArray(arr))
        rc = err_set(err, PENNY_ERR_FORMAT, "%s: listing is not a JSON array", what);
    int i = 0;
    for (const cJSON *o = arr ? arr->child : NULL; o && !rc; o = o->next, i++) {
        if (*n == *cap) {
            int nc = *cap ? *cap * 2 : 64;
            hub_file *nf = nc <= LIST_MAX_FILES ? realloc(*files, sizeof *nf * (size_t)nc) : NULL;
            if (!nf) {
                rc = err_set(err, PENNY_ERR_NOMEM, "%s: listing has too many files", what);
                break;
            }
            *files = nf;
            *cap = nc;
        }
        bool keep;
        hub_file f = {0};
        if ((rc = parse_file(o, &f, &keep)))
            err_set(err, rc, "%s: listing entry %d has no usable path or size", what, i);
        else if (keep)
            (*files)[(*n)++] = f;
    }
    cJSON_Delete(arr);
    return rc;
}

/* The next page's URL, only when it stays on the endpoint's origin. */
static penny_status next_url(const hub *h, const resp *r, char *url, size_t cap, const char *what,
                             penny_error *err) {
    size_t k = strlen(h->origin);
    if (r->next[0] == '/')
        snprintf(url, cap, "%s%s", h->origin, r->next);
    else if (!strncmp(r->next, h->origin, k) && r->next[k] == '/')
        snprintf(url, cap, "%s", r->next);
    else
        return err_set(err, PENNY_ERR_FORMAT,
                       "%s: the listing's next page is on another host; "
                       "refusing to follow it",
                       what);
    return PENNY_OK;
}

penny_status hub_list(hub *h, const char *org, const char *repo, hub_file **files, int *n,
                      penny_error *err) {
    *files = NULL;
    *n = 0;
    char what[256], url[2304];
    snprintf(what, sizeof what, "%s/%s", org, repo);
    snprintf(url, sizeof url, "%s/api/models/%s/%s/tree/main?recursive=true", h->endpoint, org,
             repo);
    int cap = 0;
    penny_status rc = PENNY_OK;
    for (int page = 0; !rc; page++) {
        membuf b = {0};
        resp r = {0};
        if (page == LIST_MAX_PAGES)
            rc = err_set(err, PENNY_ERR_FORMAT, "%s: listing has over %d pages", what, page);
        else if (!(rc = get_text(h, url, what, &b, &r, err)))
            rc = parse_page(b.p ? b.p : "", b.len, files, n, &cap, what, err);
        free(b.p);
        if (rc || !r.next[0]) break;
        rc = next_url(h, &r, url, sizeof url, what, err);
    }
    if (rc) {
        hub_files_free(*files, *n);
        *files = NULL;
        *n = 0;
    }
    return rc;
}

void hub_files_free(hub_file *files, int n) {
    for (int i = 0; files && i < n; i++) free(files[i].path);
    free(files);
}

/* ---- hashing ---- */

static void to_hex(const uint8_t *d, char hex[65]) {
    for (int i = 0; i < 32; i++) sprintf(hex + 2 * i, "%02x", d[i]);
}

/* Feeds bytes [0, n) of fd into ctx. */
static penny_status hash_prefix(int fd, uint64_t n, struct sha256_ctx *ctx, penny_error *err) {
    enum { CHUNK = 1 << 20 };
    uint8_t *buf = malloc(CHUNK);
    if (!buf) return err_set(err, PENNY_ERR_NOMEM, "out of memory");
    penny_status rc = PENNY_OK;
    for (uint64_t off = 0; off < n && !rc;) {
        size_t want = n - off < CHUNK ? (size_t)(n - off) : CHUNK;
        ssize_t got = pread(fd, buf, want, (off_t)off);
        if (got <= 0)
            rc = err_set(err, PENNY_ERR_IO, "reading back the download: %s",
                         got < 0 ? strerror(errno) : "file shrank");
        else {
            sha256_update(ctx, (size_t)got, buf);
            off += (uint64_t)got;
        }
    }
    free(buf);
    return rc;
}

penny_status hub_sha256_fd(int fd, uint64_t n, char hex[65], penny_error *err) {
    struct sha256_ctx ctx;
    uint8_t d[SHA256_DIGEST_SIZE];
    sha256_init(&ctx);
    penny_status rc = hash_prefix(fd, n, &ctx, err);
    if (rc) return rc;
    sha256_digest(&ctx, sizeof d, d);
    to_hex(d, hex);
    return PENNY_OK;
}

/* ---- downloads ---- */

typedef struct fetch_state {
    const hub_fetch *f;
    CURL *c;
    struct sha256_ctx sha; /* over bytes [0, pos) of the file */
    uint64_t pos;
    uint64_t resumed; /* pos when the fetch began, for the progress rate */
    bool started, overflow, bad_range;
    int io_errno;
    resp r;
} fetch_state;

static penny_status restart(fetch_state *s, penny_error *err) {
    if (ftruncate(s->f->fd, 0))
        return err_set(err, PENNY_ERR_IO, "%s: cannot truncate the partial file: %s", s->f->path,
                       strerror(errno));
    sha256_init(&s->sha);
    s->pos = 0;
    return PENNY_OK;
}

/* First body byte of the final response: 206 must continue at pos; 200
 * (Range ignored) restarts the file. */
static bool begin_body(fetch_state *s, long code) {
    s->started = true;
    if (code == 206)
        return (s->bad_range = !s->r.has_range || s->r.range_start != s->pos), !s->bad_range;
    if (s->pos == 0) return true;
    if (ftruncate(s->f->fd, 0)) return s->io_errno = errno, false;
    sha256_init(&s->sha);
    s->pos = 0;
    return true;
}

static size_t on_file(char *data, size_t size, size_t n, void *ud) {
    fetch_state *s = ud;
    size_t len = size * n;
    long code = 0;
    curl_easy_getinfo(s->c, CURLINFO_RESPONSE_CODE, &code);
    if (code != 200 && code != 206) return len; /* an error page or a redirect's body */
    if (!s->started && !begin_body(s, code)) return 0;
    if (len > s->f->size - s->pos) return s->overflow = true, 0;
    for (size_t w = 0; w < len;) {
        ssize_t k = pwrite(s->f->fd, data + w, len - w, (off_t)(s->pos + w));
        if (k <= 0) return s->io_errno = k < 0 ? errno : EIO, 0;
        w += (size_t)k;
    }
    sha256_update(&s->sha, len, (const uint8_t *)data);
    s->pos += len;
    return len;
}

static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un) {
    (void)dt, (void)dn, (void)ut, (void)un;
    fetch_state *s = ud;
    if (s->f->progress) s->f->progress(s->f->user, s->pos, s->f->size, s->resumed);
    return 0;
}

static bool transient(CURLcode rc) {
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM: return true;
    default: return false;
    }
}

/* The Hub's X-Linked-* headers must agree with the listing; they differ
 * when the file changed between listing and download. */
static penny_status check_linked(const fetch_state *s, const char *what, penny_error *err) {
    const char *e = s->r.linked_etag;
    if (!strncmp(e, "W/", 2)) e += 2;
    if (*e == '"') e++;
    bool etag = strlen(e) >= 64 && (e[64] == '\0' || e[64] == '"');
    for (int i = 0; etag && i < 64; i++) etag = isxdigit((unsigned char)e[i]);
    if ((etag && strncasecmp(e, s->f->sha256, 64)) ||
        (s->r.has_linked_size && s->r.linked_size != s->f->size))
        return err_set(err, PENNY_ERR_IO,
                       "%s changed on the Hub since it was listed (its hash or size differ); "
                       "pull again",
                       what);
    return PENNY_OK;
}

/* Sorts out one request's outcome. PENNY_OK: the file is complete. */
static penny_status judge(hub *h, fetch_state *s, CURLcode rc, long code, const char *errbuf,
                          const char *what, bool *retry, penny_error *err) {
    *retry = false;
    if (s->io_errno)
        return err_set(err, PENNY_ERR_IO, "%s: writing the partial file: %s", what,
                       strerror(s->io_errno));
    if (s->overflow)
        return err_set(err, PENNY_ERR_FORMAT,
                       "%s: the server sent more than the %" PRIu64 " bytes listed", what,
                       s->f->size);
    penny_status st = check_linked(s, what, err);
    if (st) return st;
    if (s->bad_range || (rc == CURLE_OK && code == 416)) {
        *retry = true;
        return (st = restart(s, err)) ? st
                                      : err_set(err, PENNY_ERR_IO,
                                                "%s: the server did not "
                                                "resume at byte %" PRIu64,
                                                what, s->pos);
    }
    if (rc == CURLE_OK && (code == 200 || code == 206)) {
        if (s->pos == s->f->size) return PENNY_OK;
        *retry = true;
        return err_set(err, PENNY_ERR_IO,
                       "%s: the connection ended after %" PRIu64 " of %" PRIu64 " bytes", what,
                       s->pos, s->f->size);
    }
    if (rc == CURLE_OK) {
        *retry = code >= 500 || code == 429 || code == 408;
        return status_error(h, code, &s->r, what, err);
    }
    *retry = transient(rc);
    return net_error(h, rc, errbuf, what, err);
}

/* One GET from byte s->pos on. */
static penny_status attempt(hub *h, fetch_state *s, const char *url, const char *what, bool *retry,
                            penny_error *err) {
    char errbuf[CURL_ERROR_SIZE], range[32];
    *retry = false;
    if (ftruncate(s->f->fd, (off_t)s->pos)) /* drop bytes written but not hashed */
        return err_set(err, PENNY_ERR_IO, "%s: %s", what, strerror(errno));
    if (!(s->c = easy_new(h, url, &s->r, errbuf)))
        return err_set(err, PENNY_ERR_NOMEM, "out of memory");
    s->started = s->overflow = s->bad_range = false;
    s->io_errno = 0;
    curl_easy_setopt(s->c, CURLOPT_WRITEFUNCTION, on_file);
    curl_easy_setopt(s->c, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(s->c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(s->c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(s->c, CURLOPT_XFERINFODATA, s);
    snprintf(range, sizeof range, "%" PRIu64 "-", s->pos);
    if (s->pos) curl_easy_setopt(s->c, CURLOPT_RANGE, range);
    CURLcode rc = curl_easy_perform(s->c);
    long code = 0;
    curl_easy_getinfo(s->c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(s->c);
    s->c = NULL;
    return judge(h, s, rc, code, errbuf, what, retry, err);
}

static void pause_before_retry(int k) {
    double secs = 0.25 * (double)(1u << (k < 5 ? k : 5));
    struct timespec ts = {(time_t)secs, (long)((secs - (double)(time_t)secs) * 1e9)};
    nanosleep(&ts, NULL);
}

/* Compares the digest with the expected hash; a mismatch empties the file. */
static penny_status verify(fetch_state *s, const char *what, penny_error *err) {
    uint8_t d[SHA256_DIGEST_SIZE];
    char hex[65];
    sha256_digest(&s->sha, sizeof d, d);
    to_hex(d, hex);
    if (!strcmp(hex, s->f->sha256)) return PENNY_OK;
    penny_status rc = restart(s, err);
    return rc ? rc
              : err_set(err, PENNY_ERR_FORMAT,
                        "%s: sha256 mismatch (expected %.16s..., got %.16s...); "
                        "the download was deleted",
                        what, s->f->sha256, hex);
}

static void tell_retry(const fetch_state *s, const char *why) {
    if (s->f->retrying)
        s->f->retrying(s->f->user, why);
    else
        log_msg(LOG_WARN, "%s", why);
}

static penny_status fetch_loop(hub *h, fetch_state *s, const char *url, const char *what,
                               penny_error *err) {
    bool fresh_retry = false, retry;
    for (int k = 0;; k++) {
        penny_status rc = s->pos == s->f->size ? PENNY_OK : attempt(h, s, url, what, &retry, err);
        if (rc == PENNY_OK) {
            bool resumed = s->resumed > 0;
            if (!(rc = verify(s, what, err))) return PENNY_OK;
            if (rc != PENNY_ERR_FORMAT || !resumed || fresh_retry) return rc;
            /* the kept bytes may belong to an older version of the file */
            char why[600];
            snprintf(why, sizeof why, "%s: the resumed download did not verify; fetching it whole",
                     what);
            tell_retry(s, why);
            fresh_retry = true;
            s->resumed = 0;
            continue;
        }
        if (!retry || k >= s->f->retries) return rc;
        char why[600];
        snprintf(why, sizeof why, "%s (retry %d of %d)", err ? err->message : "transfer failed",
                 k + 1, s->f->retries);
        tell_retry(s, why);
        pause_before_retry(k);
    }
}

penny_status hub_fetch_file(hub *h, const hub_fetch *f, penny_error *err) {
    fetch_state s = {.f = f};
    struct stat st;
    if (fstat(f->fd, &st)) return err_set(err, PENNY_ERR_IO, "%s: %s", f->path, strerror(errno));
    sha256_init(&s.sha);
    s.pos = (uint64_t)st.st_size;
    penny_status rc = s.pos > f->size ? restart(&s, err) : hash_prefix(f->fd, s.pos, &s.sha, err);
    if (rc) return rc;
    s.resumed = s.pos;
    char esc[3 * 512], url[4096];
    url_escape(esc, sizeof esc, f->path);
    snprintf(url, sizeof url, "%s/%s/%s/resolve/main/%s", h->endpoint, f->org, f->repo, esc);
    if (f->progress) f->progress(f->user, s.pos, f->size, s.resumed);
    if ((rc = fetch_loop(h, &s, url, f->path, err))) return rc;
    if (fsync(f->fd)) return err_set(err, PENNY_ERR_IO, "%s: fsync: %s", f->path, strerror(errno));
    if (f->progress) f->progress(f->user, s.pos, f->size, s.resumed);
    return PENNY_OK;
}
