/*
 * pull.c - penny_store_pull: from a REF to verified files in the store.
 *
 * The Hub listing is fetched every time (it carries the current sha256 of
 * each file), the REF picks files from it, and each picked file is either
 * already present with that hash (nothing is fetched) or downloaded into
 * FILE.partial, verified, and renamed into place. The manifest is updated
 * after each verified file, so an interrupted pull of a split model keeps
 * the parts it finished.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "base/err.h"
#include "base/log.h"
#include "store/hub.h"
#include "store/store.h"

penny_pull_params penny_pull_default_params(void) {
    penny_pull_params p = {0};
    p.retries = 3;
    return p;
}

/* One file's pull: where it goes and whom to tell. */
typedef struct pull_job {
    const penny_pull_params *p;
    hub *h;
    const store_ref *r;
    int repo_fd;
    const hub_file *hf;
    int index, count;
} pull_job;

static void emit(const pull_job *j, penny_pull_state st, uint64_t done, uint64_t resumed,
                 const char *note) {
    if (!j->p->progress) return;
    penny_pull_event ev = {st, j->hf->path, j->index, j->count, done, j->hf->size, resumed, note};
    j->p->progress(j->p->user, &ev);
}

static void on_bytes(void *user, uint64_t done, uint64_t total, uint64_t resumed) {
    (void)total;
    emit(user, PENNY_PULL_FETCHING, done, resumed, NULL);
}

static void on_retry(void *user, const char *why) { emit(user, PENNY_PULL_RETRYING, 0, 0, why); }

static penny_status record(const pull_job *j, penny_error *err) {
    store_entry e = {.size = j->hf->size};
    snprintf(e.path, sizeof e.path, "%s", j->hf->path);
    snprintf(e.sha256, sizeof e.sha256, "%s", j->hf->sha256);
    return store_manifest_update(j->repo_fd, &e, NULL, 0, NULL, err);
}

/* True when the final file is there with the listed size and hash (the
 * manifest's word is taken when it names the same hash; else it is hashed). */
static penny_status already_there(const pull_job *j, const store_manifest *m, bool *yes,
                                  penny_error *err) {
    uint64_t size;
    *yes = false;
    penny_status rc = store_file_size(j->repo_fd, j->hf->path, &size, err);
    if (rc == PENNY_ERR_RANGE) return PENNY_OK;
    if (rc || size != j->hf->size) return rc;
    const store_entry *e = store_manifest_get(m, j->hf->path);
    if (e && e->size == size && !strcmp(e->sha256, j->hf->sha256)) return *yes = true, PENNY_OK;
    int dfd, fd;
    const char *base;
    if ((rc = store_file_dir(j->repo_fd, j->hf->path, false, &dfd, &base, err))) return rc;
    fd = openat(dfd, base, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    close(dfd);
    if (fd < 0) return err_set(err, PENNY_ERR_IO, "%s: %s", j->hf->path, strerror(errno));
    char hex[65];
    rc = hub_sha256_fd(fd, size, hex, err);
    close(fd);
    if (!rc && !strcmp(hex, j->hf->sha256) && !(rc = record(j, err))) *yes = true;
    return rc;
}

static penny_status open_partial(int dfd, const char *name, const char *path, int *fd,
                                 penny_error *err) {
    *fd = openat(dfd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (*fd < 0)
        return err_set(err, PENNY_ERR_IO, "%s.partial: %s", path,
                       errno == ELOOP ? "is a symbolic link; refusing to follow links inside the "
                                        "model store"
                                      : strerror(errno));
    struct stat st;
    if (fstat(*fd, &st) || !S_ISREG(st.st_mode))
        return err_set(err, PENNY_ERR_IO, "%s.partial is not a regular file", path);
    if (flock(*fd, LOCK_EX | LOCK_NB))
        return err_set(err, PENNY_ERR_IO, "%s: another penny pull is downloading it", path);
    return PENNY_OK;
}

static penny_status check_space(int fd, uint64_t need, const char *path, penny_error *err) {
    struct statvfs v;
    struct stat st;
    if (fstatvfs(fd, &v) || fstat(fd, &st)) return PENNY_OK; /* unknown: let writes tell */
    uint64_t have = (uint64_t)v.f_bavail * v.f_frsize, held = (uint64_t)st.st_size;
    if (need > held && need - held > have)
        return err_set(err, PENNY_ERR_IO,
                       "%s: needs %" PRIu64 " more bytes but the disk has %" PRIu64, path,
                       need - held, have);
    return PENNY_OK;
}

/* Download into name.partial, verify, rename; a wrong hash deletes the partial. */
static penny_status download(const pull_job *j, int dfd, const char *base, penny_error *err) {
    char partial[300];
    snprintf(partial, sizeof partial, "%s.partial", base);
    int fd;
    penny_status rc = open_partial(dfd, partial, j->hf->path, &fd, err);
    if (!rc) rc = check_space(fd, j->hf->size, j->hf->path, err);
    if (!rc) {
        hub_fetch f = {.org = j->r->org,
                       .repo = j->r->repo,
                       .path = j->hf->path,
                       .size = j->hf->size,
                       .sha256 = j->hf->sha256,
                       .fd = fd,
                       .retries = j->p->retries,
                       .progress = on_bytes,
                       .retrying = on_retry,
                       .user = (void *)j};
        rc = hub_fetch_file(j->h, &f, err);
        if (rc == PENNY_ERR_FORMAT) unlinkat(dfd, partial, 0);
    }
    if (fd >= 0) close(fd);
    if (rc) return rc;
    if (renameat(dfd, partial, dfd, base))
        return err_set(err, PENNY_ERR_IO, "%s: rename: %s", j->hf->path, strerror(errno));
    fsync(dfd);
    return PENNY_OK;
}

static penny_status pull_one(const pull_job *j, const store_manifest *m, penny_error *err) {
    bool there;
    penny_status rc = already_there(j, m, &there, err);
    if (rc || there) {
        if (there) emit(j, PENNY_PULL_PRESENT, j->hf->size, j->hf->size, NULL);
        return rc;
    }
    int dfd;
    const char *base;
    if ((rc = store_file_dir(j->repo_fd, j->hf->path, true, &dfd, &base, err))) return rc;
    rc = download(j, dfd, base, err);
    close(dfd);
    if (!rc && !(rc = record(j, err))) emit(j, PENNY_PULL_DONE, j->hf->size, 0, NULL);
    return rc;
}

/* Names fit for selection: a listing name with control bytes can never be
 * stored, so it is dropped here rather than echoed into a message. */
static const char **listing_names(const hub_file *files, int n, int *k) {
    const char **names = malloc(sizeof *names * (size_t)(n ? n : 1));
    *k = 0;
    for (int i = 0; names && i < n; i++) {
        bool ctl = false;
        for (const char *c = files[i].path; *c && !ctl; c++)
            ctl = (unsigned char)*c < 0x20 || *c == 0x7f;
        if (ctl)
            log_msg(LOG_WARN, "ignoring a listed file whose name has control characters");
        else
            names[(*k)++] = files[i].path;
    }
    return names;
}

/* Maps the picked names back to listing entries and checks each is safe. */
static penny_status check_picked(const store_ref *r, const hub_file *files, int n,
                                 const char **names, int *picked, int k, penny_error *err) {
    for (int i = 0; i < k; i++) {
        int at = 0;
        while (at < n && files[at].path != names[picked[i]]) at++;
        picked[i] = at;
        const hub_file *f = &files[at];
        if (!store_path_ok(f->path))
            return err_set(err, PENNY_ERR_FORMAT,
                           "%s/%s: refusing the listed file name '%s': it would leave the model "
                           "folder (absolute, '..', hidden or not .gguf)",
                           r->org, r->repo, f->path);
        if (!f->sha256[0])
            return err_set(err, PENNY_ERR_FORMAT,
                           "%s/%s: %s has no sha256 in the listing (not an LFS file), so it "
                           "cannot be verified",
                           r->org, r->repo, f->path);
    }
    return PENNY_OK;
}

static penny_status pull_files(penny_store *s, hub *h, const store_ref *r,
                               const penny_pull_params *p, const hub_file *files, const int *picked,
                               int k, penny_error *err) {
    int repo_fd;
    penny_status rc = store_repo_dir(s, r, true, &repo_fd, err);
    if (rc) return rc;
    store_manifest m;
    if ((rc = store_manifest_read(repo_fd, &m, err))) err_prefix(err, "%s/%s", r->org, r->repo);
    for (int i = 0; !rc && i < k; i++) {
        pull_job j = {p, h, r, repo_fd, &files[picked[i]], i, k};
        rc = pull_one(&j, &m, err);
    }
    store_manifest_free(&m);
    close(repo_fd);
    return rc;
}

static penny_status pull_ref(penny_store *s, hub *h, const store_ref *r, const penny_pull_params *p,
                             char *path_out, size_t cap, penny_error *err) {
    hub_file *files;
    int n, k = 0, n_names;
    penny_status rc = hub_list(h, r->org, r->repo, &files, &n, err);
    if (rc) return rc;
    const char **names = listing_names(files, n, &n_names);
    int *picked = malloc(sizeof *picked * (size_t)(n ? n : 1));
    if (!names || !picked) rc = err_set(err, PENNY_ERR_NOMEM, "out of memory");
    if (!rc) rc = store_select(r, names, n_names, picked, &k, err);
    if (!rc) rc = check_picked(r, files, n, names, picked, k, err);
    if (!rc) rc = pull_files(s, h, r, p, files, picked, k, err);
    if (!rc && path_out) {
        store_local_path(s, r, files[picked[0]].path, path_out, cap);
        if (strlen(path_out) + 1 >= cap) rc = err_set(err, PENNY_ERR_RANGE, "model path too long");
    }
    free(picked);
    free(names);
    hub_files_free(files, n);
    return rc;
}

penny_status penny_store_pull(penny_store *s, const char *ref, const penny_pull_params *pp,
                              char *path_out, size_t cap, penny_error *err) {
    store_ref r;
    penny_status rc = store_ref_parse(ref, &r, err);
    if (rc) return rc;
    penny_pull_params p = pp ? *pp : penny_pull_default_params();
    const char *endpoint = p.endpoint ? p.endpoint : getenv("PENNY_HF_ENDPOINT");
    if (!endpoint || !*endpoint) endpoint = "https://huggingface.co";
    const char *token = p.token ? p.token : getenv("HF_TOKEN");
    hub *h;
    if ((rc = hub_new(endpoint, token, &h, err))) return rc;
    rc = pull_ref(s, h, &r, &p, path_out, cap, err);
    hub_free(h);
    return rc;
}
