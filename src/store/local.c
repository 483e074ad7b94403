/*
 * local.c - what the store answers without a network: resolving a REF to
 * a file (for -m options), listing the models, removing them.
 *
 * All three read the manifests, never guess from file names on disk, so a
 * partial download or a stray file is never taken for a model. A resolved
 * path is checked twice: every component is opened without following links,
 * and its real path must still lie inside the store's real root.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"
#include "base/log.h"
#include "store/store.h"

/* Names of the manifest's files, for store_select. */
static const char **manifest_names(const store_manifest *m) {
    const char **names = malloc(sizeof *names * (size_t)(m->n ? m->n : 1));
    for (int i = 0; names && i < m->n; i++) names[i] = m->files[i].path;
    return names;
}

/* Every picked file present with its recorded size? *total sums them. */
static penny_status parts_present(int repo_fd, const store_manifest *m, const int *picked, int k,
                                  const char *text, uint64_t *total, penny_error *err) {
    *total = 0;
    for (int i = 0; i < k; i++) {
        const store_entry *e = &m->files[picked[i]];
        uint64_t size = 0;
        penny_status rc = store_file_size(repo_fd, e->path, &size, err);
        if (rc == PENNY_ERR_RANGE || (!rc && size != e->size))
            return err_set(err, PENNY_ERR_IO,
                           "%s: %s is missing or changed in the model store; "
                           "run: penny pull %s",
                           text, e->path, text);
        if (rc) return rc;
        *total += size;
    }
    return PENNY_OK;
}

static penny_status inside_root(const penny_store *s, const char *path, penny_error *err) {
    char real_root[PATH_MAX], real[PATH_MAX];
    if (!realpath(s->root, real_root) || !realpath(path, real))
        return err_set(err, PENNY_ERR_IO, "%s: %s", path, strerror(errno));
    size_t n = strlen(real_root);
    if (strncmp(real, real_root, n) || real[n] != '/')
        return err_set(err, PENNY_ERR_IO, "%s resolves outside the model store; refusing", path);
    return PENNY_OK;
}

/* Resolves r among the pulled files: picked indices into *m, *k of them. */
static penny_status pick_local(penny_store *s, const store_ref *r, const char *text, int *repo_fd,
                               store_manifest *m, int **picked, int *k, penny_error *err) {
    *picked = NULL;
    memset(m, 0, sizeof *m);
    penny_status rc = store_repo_dir(s, r, false, repo_fd, err);
    if (!rc && *repo_fd >= 0) rc = store_manifest_read(*repo_fd, m, err);
    if (!rc && m->n == 0)
        return err_set(err, PENNY_ERR_RANGE,
                       "%s is not in the model store (%s); get it with: "
                       "penny pull %s",
                       text, s->root, text);
    const char **names = rc ? NULL : manifest_names(m);
    *picked = rc ? NULL : malloc(sizeof **picked * (size_t)m->n);
    if (!rc && (!names || !*picked)) rc = err_set(err, PENNY_ERR_NOMEM, "out of memory");
    if (!rc && (rc = store_select(r, names, m->n, *picked, k, err)) == PENNY_ERR_RANGE)
        err_set(err, rc, "%s is not in the model store (%s); get it with: penny pull %s", text,
                s->root, text);
    free(names);
    return rc;
}

penny_status penny_store_resolve(penny_store *s, const char *text, char *path_out, size_t cap,
                                 penny_error *err) {
    store_ref r;
    store_manifest m;
    int repo_fd = -1, *picked = NULL, k = 0;
    uint64_t total;
    penny_status rc = store_ref_parse(text, &r, err);
    if (rc) return rc;
    rc = pick_local(s, &r, text, &repo_fd, &m, &picked, &k, err);
    if (!rc) rc = parts_present(repo_fd, &m, picked, k, text, &total, err);
    if (!rc) {
        store_local_path(s, &r, m.files[picked[0]].path, path_out, cap);
        if (strlen(path_out) + 1 >= cap)
            rc = err_set(err, PENNY_ERR_RANGE, "model path too long");
        else
            rc = inside_root(s, path_out, err);
    }
    free(picked);
    store_manifest_free(&m);
    if (repo_fd >= 0) close(repo_fd);
    return rc;
}

penny_status penny_resolve_model(const char *arg, char *path_out, size_t cap, penny_error *err) {
    struct stat st;
    if (!arg) return err_set(err, PENNY_ERR_ARG, "no model given");
    if (stat(arg, &st) == 0 || arg[0] == '/' || arg[0] == '.') {
        if (strlen(arg) + 1 > cap) return err_set(err, PENNY_ERR_RANGE, "model path too long");
        memcpy(path_out, arg, strlen(arg) + 1);
        return PENNY_OK;
    }
    store_ref r;
    if (store_ref_parse(arg, &r, NULL))
        return err_set(err, PENNY_ERR_IO,
                       "%s: no such file (and not a model reference "
                       "ORG/REPO[:QUANT])",
                       arg);
    penny_store *s;
    penny_status rc = penny_store_open(NULL, &s, err);
    if (rc) return rc;
    rc = penny_store_resolve(s, arg, path_out, cap, err);
    penny_store_free(s);
    return rc;
}

/* ---- list ---- */

typedef struct list_acc {
    penny_store_entry *e;
    int n, cap;
} list_acc;

static penny_status acc_add(list_acc *a, const char *ref, const char *path, uint64_t size,
                            int parts, bool complete) {
    if (a->n == a->cap) {
        int cap = a->cap ? a->cap * 2 : 16;
        penny_store_entry *e = realloc(a->e, sizeof *e * (size_t)cap);
        if (!e) return PENNY_ERR_NOMEM;
        a->e = e;
        a->cap = cap;
    }
    penny_store_entry *e = &a->e[a->n];
    *e = (penny_store_entry){strdup(ref), strdup(path), size, parts, complete};
    if (!e->ref || !e->path) {
        free((char *)e->ref);
        free((char *)e->path);
        return PENNY_ERR_NOMEM;
    }
    a->n++;
    return PENNY_OK;
}

/* One entry per model (first part) recorded in the repository's manifest. */
static penny_status list_repo(penny_store *s, const store_ref *base, list_acc *a) {
    int repo_fd;
    store_manifest m;
    penny_error err = {0};
    if (store_repo_dir(s, base, false, &repo_fd, &err) || repo_fd < 0) return PENNY_OK;
    penny_status rc = store_manifest_read(repo_fd, &m, &err);
    if (rc) log_msg(LOG_WARN, "%s/%s: %s", base->org, base->repo, err.message);
    const char **names = rc ? NULL : manifest_names(&m);
    int *picked = rc ? NULL : malloc(sizeof *picked * (size_t)(m.n ? m.n : 1)), k;
    for (int i = 0; !rc && names && picked && i < m.n; i++) {
        int no = 1, count = 1;
        size_t stem;
        if (store_split_name(names[i], &no, &count, &stem) && no != 1) continue;
        store_ref r = *base;
        snprintf(r.file, sizeof r.file, "%s", names[i]);
        uint64_t total = m.files[i].size;
        bool ok = !store_select(&r, names, m.n, picked, &k, NULL) &&
                  !parts_present(repo_fd, &m, picked, k, "", &total, NULL);
        char ref[600], path[4096];
        store_ref_format(&r, ref, sizeof ref);
        store_local_path(s, &r, names[i], path, sizeof path);
        rc = acc_add(a, ref, path, total, count, ok);
    }
    free(picked);
    free(names);
    store_manifest_free(&m);
    close(repo_fd);
    return rc;
}

/* Calls fn(dirfd, name) for each entry of dir that is a valid ORG/REPO name. */
static penny_status each_name(int dirfd, penny_status (*fn)(const char *name, void *arg),
                              void *arg) {
    int fd = dup(dirfd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0) close(fd);
        return PENNY_OK;
    }
    penny_status rc = PENNY_OK;
    for (struct dirent *de; !rc && (de = readdir(d));)
        if (store_name_ok(de->d_name)) rc = fn(de->d_name, arg);
    closedir(d);
    return rc;
}

typedef struct list_walk {
    penny_store *s;
    list_acc *a;
    store_ref r;
} list_walk;

static penny_status on_repo(const char *name, void *arg) {
    list_walk *w = arg;
    snprintf(w->r.repo, sizeof w->r.repo, "%.96s", name);
    return list_repo(w->s, &w->r, w->a);
}

static penny_status on_org(const char *name, void *arg) {
    list_walk *w = arg;
    int models = openat(w->s->root_fd, "models", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int org =
        models >= 0 ? openat(models, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : -1;
    if (models >= 0) close(models);
    if (org < 0) return PENNY_OK; /* a link or a file: not ours to list */
    snprintf(w->r.org, sizeof w->r.org, "%.96s", name);
    penny_status rc = each_name(org, on_repo, w);
    close(org);
    return rc;
}

static int by_ref(const void *a, const void *b) {
    return strcmp(((const penny_store_entry *)a)->ref, ((const penny_store_entry *)b)->ref);
}

penny_status penny_store_list(penny_store *s, void (*fn)(void *user, const penny_store_entry *e),
                              void *user, penny_error *err) {
    if (s->root_fd < 0) return PENNY_OK;
    int models = openat(s->root_fd, "models", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (models < 0) return PENNY_OK;
    list_acc a = {0};
    list_walk w = {.s = s, .a = &a};
    penny_status rc = each_name(models, on_org, &w);
    close(models);
    if (rc) rc = err_set(err, rc, "listing the model store: out of memory");
    qsort(a.e, (size_t)a.n, sizeof *a.e, by_ref);
    for (int i = 0; i < a.n; i++) {
        if (!rc) fn(user, &a.e[i]);
        free((char *)a.e[i].ref);
        free((char *)a.e[i].path);
    }
    free(a.e);
    return rc;
}

/* ---- rm ---- */

/* Deletes everything below dirfd without following links; counts .gguf files. */
static void rm_tree(int dirfd, int depth, int *n_gguf) {
    int fd = dup(dirfd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0) close(fd);
        return;
    }
    for (struct dirent *de; (de = readdir(d));) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        struct stat st;
        if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW)) continue;
        if (S_ISDIR(st.st_mode) && depth < 16) {
            int sub = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub >= 0) {
                rm_tree(sub, depth + 1, n_gguf);
                close(sub);
            }
            unlinkat(dirfd, de->d_name, AT_REMOVEDIR);
        } else if (!S_ISDIR(st.st_mode) && !unlinkat(dirfd, de->d_name, 0)) {
            size_t n = strlen(de->d_name);
            if (n > 5 && !strcasecmp(de->d_name + n - 5, ".gguf")) ++*n_gguf;
        }
    }
    closedir(d);
}

/* Removes a file and its partial download, then its folders if empty;
 * returns how many of the two existed. */
static int rm_file(int repo_fd, const char *path) {
    int dfd, removed = 0;
    const char *base;
    if (store_file_dir(repo_fd, path, false, &dfd, &base, NULL)) return 0;
    char partial[300];
    snprintf(partial, sizeof partial, "%s.partial", base);
    removed += unlinkat(dfd, base, 0) == 0;
    removed += unlinkat(dfd, partial, 0) == 0;
    close(dfd);
    char dir[STORE_PATH_MAX + 1];
    snprintf(dir, sizeof dir, "%s", path);
    for (char *slash; (slash = strrchr(dir, '/'));) {
        *slash = '\0';
        if (unlinkat(repo_fd, dir, AT_REMOVEDIR)) break;
    }
    return removed;
}

/* rmdir models/ORG/REPO and models/ORG when they are empty. */
static void prune(const penny_store *s, const store_ref *r) {
    int models = openat(s->root_fd, "models", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int org =
        models >= 0 ? openat(models, r->org, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : -1;
    if (org >= 0) {
        unlinkat(org, r->repo, AT_REMOVEDIR);
        close(org);
        unlinkat(models, r->org, AT_REMOVEDIR);
    }
    if (models >= 0) close(models);
}

static penny_status rm_picked(penny_store *s, const store_ref *r, const char *text, int repo_fd,
                              int *n_removed, penny_error *err) {
    store_manifest m;
    int *picked = NULL, k = 0, fd2, left = 1;
    penny_status rc = pick_local(s, r, text, &fd2, &m, &picked, &k, err);
    if (fd2 >= 0) close(fd2);
    if (rc && r->file[0]) { /* not recorded: maybe a partial download of it */
        *n_removed = rm_file(repo_fd, r->file);
        rc = PENNY_OK;
        k = 0;
    }
    const char **drop = rc ? NULL : malloc(sizeof *drop * (size_t)(k ? k : 1));
    if (!rc && !drop) rc = err_set(err, PENNY_ERR_NOMEM, "out of memory");
    for (int i = 0; !rc && i < k; i++) {
        drop[i] = m.files[picked[i]].path;
        *n_removed += rm_file(repo_fd, drop[i]);
    }
    if (!rc && k) rc = store_manifest_update(repo_fd, NULL, drop, k, &left, err);
    if (!rc && left == 0) prune(s, r);
    free(drop);
    free(picked);
    store_manifest_free(&m);
    return rc;
}

penny_status penny_store_rm(penny_store *s, const char *text, int *n_removed, penny_error *err) {
    store_ref r;
    int repo_fd;
    *n_removed = 0;
    penny_status rc = store_ref_parse(text, &r, err);
    if (!rc) rc = store_repo_dir(s, &r, false, &repo_fd, err);
    if (rc) return rc;
    if (repo_fd < 0)
        return err_set(err, PENNY_ERR_RANGE, "%s is not in the model store (%s)", text, s->root);
    if (!r.file[0] && !r.quant[0]) {
        rm_tree(repo_fd, 0, n_removed);
        prune(s, &r);
    } else
        rc = rm_picked(s, &r, text, repo_fd, n_removed, err);
    close(repo_fd);
    if (!rc && *n_removed == 0)
        rc = err_set(err, PENNY_ERR_RANGE, "%s: nothing to remove in the model store", text);
    return rc;
}
