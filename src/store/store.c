/*
 * store.c - the local model store on disk: where the root is, opening its
 * folders without following links, and the per-repository manifest that
 * records which files were pulled and verified (see store.h for the layout).
 *
 * Everything below the root is reached with openat/mkdirat/fstatat relative
 * to descriptors opened with O_NOFOLLOW, one component at a time, so neither
 * a hostile name nor a link planted inside the store can send a read, write
 * or delete outside it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"
#include "store/store.h"

/* ---- the root ---- */

static char *join2(const char *a, const char *b) {
    size_t n = strlen(a) + strlen(b) + 2;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s/%s", a, b);
    return s;
}

static char *default_root(void) {
    const char *e = getenv("PENNY_HOME");
    if (e && *e) return strdup(e);
    if ((e = getenv("XDG_CACHE_HOME")) && e[0] == '/') return join2(e, "penny");
    if ((e = getenv("HOME")) && *e) return join2(e, ".cache/penny");
    return NULL;
}

penny_status penny_store_open(const char *root, penny_store **out, penny_error *err) {
    *out = NULL;
    penny_store *s = calloc(1, sizeof *s);
    if (!s) return err_set(err, PENNY_ERR_NOMEM, "out of memory");
    s->root_fd = -1;
    s->root = root ? strdup(root) : default_root();
    if (!s->root || !*s->root) {
        penny_store_free(s);
        return err_set(err, PENNY_ERR_ARG,
                       "no model store: set PENNY_HOME (or XDG_CACHE_HOME or HOME)");
    }
    size_t n = strlen(s->root);
    while (n > 1 && s->root[n - 1] == '/') s->root[--n] = '\0';
    s->root_fd = open(s->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->root_fd < 0 && errno != ENOENT) {
        penny_status rc =
            err_set(err, PENNY_ERR_IO, "model store %s: %s", s->root, strerror(errno));
        penny_store_free(s);
        return rc;
    }
    *out = s;
    return PENNY_OK;
}

void penny_store_free(penny_store *s) {
    if (!s) return;
    if (s->root_fd >= 0) close(s->root_fd);
    free(s->root);
    free(s);
}

const char *penny_store_root(const penny_store *s) { return s->root; }

/* mkdir -p for the root (the user's own path: links there are followed). */
static penny_status make_root(penny_store *s, penny_error *err) {
    if (s->root_fd >= 0) return PENNY_OK;
    char *p = strdup(s->root);
    if (!p) return err_set(err, PENNY_ERR_NOMEM, "out of memory");
    for (char *q = p + 1;; q++) {
        if (*q != '/' && *q) continue;
        char c = *q;
        *q = '\0';
        if (mkdir(p, 0755) && errno != EEXIST) {
            penny_status rc =
                err_set(err, PENNY_ERR_IO, "cannot create %s: %s", p, strerror(errno));
            free(p);
            return rc;
        }
        if (!(*q = c)) break;
    }
    free(p);
    s->root_fd = open(s->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->root_fd < 0)
        return err_set(err, PENNY_ERR_IO, "model store %s: %s", s->root, strerror(errno));
    return PENNY_OK;
}

/* ---- folders below the root ---- */

/* Opens (maybe makes) folder name below dirfd without following a link.
 * what names it in messages. *fd = -1 when absent and !create. */
static penny_status open_dir_at(int dirfd, const char *name, const char *what, bool create, int *fd,
                                penny_error *err) {
    int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
    *fd = openat(dirfd, name, flags);
    if (*fd < 0 && errno == ENOENT && create) {
        if (mkdirat(dirfd, name, 0755) && errno != EEXIST)
            return err_set(err, PENNY_ERR_IO, "cannot create %s: %s", what, strerror(errno));
        *fd = openat(dirfd, name, flags);
    }
    if (*fd >= 0 || (errno == ENOENT && !create)) return PENNY_OK;
    if (errno == ELOOP || errno == ENOTDIR)
        return err_set(err, PENNY_ERR_IO,
                       "%s is a symbolic link or not a folder; refusing to follow links inside "
                       "the model store",
                       what);
    return err_set(err, PENNY_ERR_IO, "%s: %s", what, strerror(errno));
}

penny_status store_repo_dir(penny_store *s, const store_ref *r, bool create, int *fd,
                            penny_error *err) {
    *fd = -1;
    penny_status rc = create ? make_root(s, err) : PENNY_OK;
    if (rc || s->root_fd < 0) return rc;
    const char *names[3] = {"models", r->org, r->repo};
    char what[512];
    int cur = s->root_fd;
    size_t w = (size_t)snprintf(what, sizeof what, "%s", s->root);
    for (int i = 0; i < 3; i++) {
        w += (size_t)snprintf(what + w, w < sizeof what ? sizeof what - w : 0, "/%s", names[i]);
        int next;
        rc = open_dir_at(cur, names[i], what, create, &next, err);
        if (cur != s->root_fd) close(cur);
        if (rc || next < 0) return rc;
        cur = next;
    }
    *fd = cur;
    return PENNY_OK;
}

penny_status store_file_dir(int repo_fd, const char *path, bool create, int *fd, const char **base,
                            penny_error *err) {
    *fd = dup(repo_fd);
    if (*fd < 0) return err_set(err, PENNY_ERR_IO, "dup: %s", strerror(errno));
    const char *p = path;
    for (const char *slash; (slash = strchr(p, '/')); p = slash + 1) {
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)(slash - p), p);
        int next;
        penny_status rc = open_dir_at(*fd, name, name, create, &next, err);
        close(*fd);
        *fd = next;
        if (rc) return rc;
        if (next < 0) return PENNY_ERR_RANGE;
    }
    *base = p;
    return PENNY_OK;
}

penny_status store_file_size(int repo_fd, const char *path, uint64_t *size, penny_error *err) {
    int dfd;
    const char *base;
    penny_status rc = store_file_dir(repo_fd, path, false, &dfd, &base, err);
    if (rc) return rc;
    struct stat st;
    int r = fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW), e = errno;
    close(dfd);
    if (r)
        return e == ENOENT ? PENNY_ERR_RANGE
                           : err_set(err, PENNY_ERR_IO, "%s: %s", path, strerror(e));
    if (S_ISLNK(st.st_mode))
        return err_set(err, PENNY_ERR_IO,
                       "%s is a symbolic link; refusing to follow links inside the model store",
                       path);
    if (!S_ISREG(st.st_mode)) return err_set(err, PENNY_ERR_IO, "%s is not a regular file", path);
    *size = (uint64_t)st.st_size;
    return PENNY_OK;
}

void store_local_path(const penny_store *s, const store_ref *r, const char *path, char *out,
                      size_t cap) {
    snprintf(out, cap, "%s/models/%s/%s/%s", s->root, r->org, r->repo, path);
}
