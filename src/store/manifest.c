/*
 * manifest.c - models/ORG/REPO/manifest.json, the record of the files of a
 * repository that were pulled and verified:
 *
 *   {"files": [{"path": "x-Q8_0.gguf", "size": 123, "sha256": "ab12..."}]}
 *
 * It lets a repeated pull skip files whose Hub hash is unchanged, and lets
 * REFs resolve offline. The file sits in the store, where anything may have
 * been edited, so reading it checks every path and hash as strictly as a
 * remote listing. Writes go through a temporary file and a rename, under a
 * lock on the repository folder, so two pulls into one repository do not
 * lose each other's entries.
 */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"
#include "store/store.h"

#define MANIFEST "manifest.json"
#define MANIFEST_MAX (4u << 20)

void store_manifest_free(store_manifest *m) {
    if (!m) return;
    free(m->files);
    memset(m, 0, sizeof *m);
}

const store_entry *store_manifest_get(const store_manifest *m, const char *path) {
    for (int i = 0; i < m->n; i++)
        if (!strcmp(m->files[i].path, path)) return &m->files[i];
    return NULL;
}

penny_status store_manifest_put(store_manifest *m, const store_entry *e) {
    for (int i = 0; i < m->n; i++)
        if (!strcmp(m->files[i].path, e->path)) return m->files[i] = *e, PENNY_OK;
    if (m->n == m->cap) {
        int cap = m->cap ? m->cap * 2 : 8;
        store_entry *f = realloc(m->files, sizeof *f * (size_t)cap);
        if (!f) return PENNY_ERR_NOMEM;
        m->files = f;
        m->cap = cap;
    }
    m->files[m->n++] = *e;
    return PENNY_OK;
}

bool store_sha256_ok(const char *hex) {
    for (int i = 0; i < 64; i++)
        if (!isdigit((unsigned char)hex[i]) && !(hex[i] >= 'a' && hex[i] <= 'f')) return false;
    return hex[64] == '\0';
}

/* ---- reading ---- */

/* Reads the manifest into *out (NUL-terminated); *out stays NULL when there is none. */
static penny_status read_small(int repo_fd, char **out, size_t *len, penny_error *err) {
    *out = NULL;
    int fd = openat(repo_fd, MANIFEST, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? PENNY_OK
                               : err_set(err, PENNY_ERR_IO, MANIFEST ": %s", strerror(errno));
    struct stat st;
    penny_status rc = PENNY_OK;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > MANIFEST_MAX)
        rc = err_set(err, PENNY_ERR_FORMAT, MANIFEST ": not a regular file of at most 4 MiB");
    else if (!(*out = malloc((size_t)st.st_size + 1)))
        rc = err_set(err, PENNY_ERR_NOMEM, "out of memory");
    else if (read(fd, *out, (size_t)st.st_size) != (ssize_t)st.st_size) {
        rc = err_set(err, PENNY_ERR_IO, MANIFEST ": short read");
        free(*out);
        *out = NULL;
    } else {
        (*out)[st.st_size] = '\0';
        *len = (size_t)st.st_size;
    }
    close(fd);
    return rc;
}

static penny_status parse_entry(const cJSON *o, int i, store_entry *e, penny_error *err) {
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "path");
    const cJSON *z = cJSON_GetObjectItemCaseSensitive(o, "size");
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(o, "sha256");
    if (!cJSON_IsString(p) || !store_path_ok(p->valuestring))
        return err_set(err, PENNY_ERR_FORMAT, MANIFEST ": files[%d].path is missing or unsafe", i);
    if (!cJSON_IsNumber(z) || !(z->valuedouble >= 0) || z->valuedouble > 9007199254740992.0 ||
        z->valuedouble != (double)(uint64_t)z->valuedouble)
        return err_set(err, PENNY_ERR_FORMAT, MANIFEST ": files[%d].size is not a byte count", i);
    if (!cJSON_IsString(h) || strlen(h->valuestring) != 64 || !store_sha256_ok(h->valuestring))
        return err_set(err, PENNY_ERR_FORMAT, MANIFEST ": files[%d].sha256 is not 64 hex digits",
                       i);
    snprintf(e->path, sizeof e->path, "%s", p->valuestring);
    snprintf(e->sha256, sizeof e->sha256, "%s", h->valuestring);
    e->size = (uint64_t)z->valuedouble;
    return PENNY_OK;
}

penny_status store_manifest_read(int repo_fd, store_manifest *m, penny_error *err) {
    memset(m, 0, sizeof *m);
    size_t len = 0;
    char *text;
    penny_status rc = read_small(repo_fd, &text, &len, err);
    if (rc || !text) return rc;
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(root, "files");
    if (!cJSON_IsArray(files))
        rc = err_set(err, PENNY_ERR_FORMAT, MANIFEST ": not a JSON object with a \"files\" array");
    int i = 0;
    for (const cJSON *o = files ? files->child : NULL; o && !rc; o = o->next, i++) {
        store_entry e;
        if (!(rc = parse_entry(o, i, &e, err)) && store_manifest_put(m, &e))
            rc = err_set(err, PENNY_ERR_NOMEM, "out of memory");
    }
    cJSON_Delete(root);
    if (rc) store_manifest_free(m);
    return rc;
}

/* ---- writing ---- */

static char *render(const store_manifest *m) {
    cJSON *root = cJSON_CreateObject(), *files = cJSON_AddArrayToObject(root, "files");
    bool ok = root && files;
    for (int i = 0; ok && i < m->n; i++) {
        cJSON *o = cJSON_CreateObject();
        char size[24]; /* as text: cJSON prints doubles with 15 digits */
        snprintf(size, sizeof size, "%" PRIu64, m->files[i].size);
        ok = o && cJSON_AddItemToArray(files, o) &&
             cJSON_AddStringToObject(o, "path", m->files[i].path) &&
             cJSON_AddRawToObject(o, "size", size) &&
             cJSON_AddStringToObject(o, "sha256", m->files[i].sha256);
    }
    char *text = ok ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    return text;
}

penny_status store_manifest_write(int repo_fd, const store_manifest *m, penny_error *err) {
    if (m->n == 0) {
        if (unlinkat(repo_fd, MANIFEST, 0) && errno != ENOENT)
            return err_set(err, PENNY_ERR_IO, MANIFEST ": %s", strerror(errno));
        return PENNY_OK;
    }
    char *text = render(m);
    if (!text) return err_set(err, PENNY_ERR_NOMEM, "out of memory");
    char tmp[64];
    snprintf(tmp, sizeof tmp, MANIFEST ".%ld.tmp", (long)getpid());
    int fd = openat(repo_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    size_t len = strlen(text);
    bool ok = fd >= 0 && write(fd, text, len) == (ssize_t)len && write(fd, "\n", 1) == 1 &&
              fsync(fd) == 0;
    int e = errno;
    if (fd >= 0) close(fd);
    free(text);
    if (ok && renameat(repo_fd, tmp, repo_fd, MANIFEST) == 0) return PENNY_OK;
    e = ok ? errno : e;
    unlinkat(repo_fd, tmp, 0);
    return err_set(err, PENNY_ERR_IO, "cannot write " MANIFEST ": %s", strerror(e));
}

penny_status store_manifest_update(int repo_fd, const store_entry *put, const char *const *drop,
                                   int n_drop, int *n_left, penny_error *err) {
    if (flock(repo_fd, LOCK_EX))
        return err_set(err, PENNY_ERR_IO, "cannot lock the repository folder: %s", strerror(errno));
    store_manifest m;
    penny_status rc = store_manifest_read(repo_fd, &m, err);
    for (int i = 0; !rc && i < n_drop; i++)
        for (int j = 0; j < m.n; j++)
            if (!strcmp(m.files[j].path, drop[i])) m.files[j--] = m.files[--m.n];
    if (!rc && put && store_manifest_put(&m, put))
        rc = err_set(err, PENNY_ERR_NOMEM, "out of memory");
    if (!rc) rc = store_manifest_write(repo_fd, &m, err);
    if (n_left) *n_left = m.n;
    store_manifest_free(&m);
    flock(repo_fd, LOCK_UN);
    return rc;
}
