/*
 * mapfile.c - a whole file as read-only memory, by one of three policies
 * (mapfile.h): mapped lazily, mapped and populated (the default for weights),
 * or loaded into anonymous memory backed by transparent huge pages (when
 * asked; it refuses files over half the available memory and then maps
 * them). Errors name the file.
 */
#include "base/mapfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"
#include "base/log.h"

#define HUGE_2M ((size_t)2 << 20)

/* MemAvailable from /proc/meminfo in bytes; 0 when unknown. A load needs
 * a second copy of the file while the page cache still holds the first. */
static size_t mem_available(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return 0;
    char line[128];
    unsigned long long kib = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %llu kB", &kib) == 1) break;
    fclose(f);
    return (size_t)kib * 1024;
}

mapfile_policy mapfile_default_policy(void) {
    const char *env = getenv("PENNY_LOAD");
    if (env && *env) {
        if (!strcmp(env, "load")) return MAPFILE_LOAD;
        if (!strcmp(env, "populate")) return MAPFILE_POPULATE;
        if (!strcmp(env, "lazy")) return MAPFILE_LAZY;
        log_msg(LOG_WARN, "PENNY_LOAD=%s: expected load, populate or lazy; ignored", env);
    }
    return MAPFILE_POPULATE;
}

/* Anonymous memory of len bytes (a multiple of 2 MiB) starting on a 2 MiB
 * boundary, so the kernel can back all of it with huge pages. */
static void *huge_alloc(size_t len) {
    unsigned char *p =
        mmap(NULL, len + HUGE_2M, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
    uintptr_t a = ((uintptr_t)p + HUGE_2M - 1) & ~(uintptr_t)(HUGE_2M - 1);
    size_t head = (size_t)(a - (uintptr_t)p), tail = HUGE_2M - head;
    if (head) munmap(p, head);
    if (tail) munmap((unsigned char *)a + len, tail);
    madvise((void *)a, len, MADV_HUGEPAGE); /* advisory: fine if THP is off */
    return (void *)a;
}

/* Reads the whole file into huge-page-backed anonymous memory. */
static penny_status load_anon(mapfile *mf, int fd, penny_error *err) {
    size_t len = (mf->size + HUGE_2M - 1) & ~(HUGE_2M - 1), avail = mem_available();
    unsigned char *p = avail && len > avail / 2 ? NULL : huge_alloc(len);
    if (!p)
        return err_set(err, PENNY_ERR_NOMEM, "%s: cannot allocate %zu bytes to load it", mf->path,
                       len);
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    for (size_t off = 0; off < mf->size;) {
        size_t want = mf->size - off < ((size_t)64 << 20) ? mf->size - off : (size_t)64 << 20;
        ssize_t n = pread(fd, p + off, want, (off_t)off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            int e = n < 0 ? errno : 0;
            munmap(p, len);
            return err_set(err, PENNY_ERR_IO, "%s: read failed at byte %zu: %s", mf->path, off,
                           e ? strerror(e) : "file shrank while loading");
        }
        off += (size_t)n;
    }
    mprotect(p, len, PROT_READ); /* weights are read-only: a stray write faults */
    mf->data = p;
    mf->map_len = len;
    return PENNY_OK;
}

static penny_status map_file(mapfile *mf, int fd, bool populate, penny_error *err) {
    int flags = MAP_PRIVATE | (populate ? MAP_POPULATE : 0);
    void *p = mmap(NULL, mf->size, PROT_READ, flags, fd, 0);
    if (p == MAP_FAILED)
        return err_set(err, PENNY_ERR_IO, "%s: cannot map: %s", mf->path, strerror(errno));
    if (populate) madvise(p, mf->size, MADV_WILLNEED);
    mf->data = p;
    mf->map_len = mf->size;
    return PENNY_OK;
}

/* Opens path into *fd and fills mf's size and path. */
static penny_status open_file(mapfile *mf, const char *path, int *fd, penny_error *err) {
    memset(mf, 0, sizeof *mf);
    *fd = open(path, O_RDONLY | O_CLOEXEC);
    if (*fd < 0) return err_set(err, PENNY_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    penny_status rc = PENNY_OK;
    if (fstat(*fd, &st) != 0 || !S_ISREG(st.st_mode))
        rc = err_set(err, PENNY_ERR_IO, "%s: not a regular file", path);
    else if (!(mf->path = strdup(path)))
        rc = err_set(err, PENNY_ERR_NOMEM, "%s: out of memory", path);
    if (rc) close(*fd);
    mf->size = rc ? 0 : (size_t)st.st_size;
    return rc;
}

penny_status mapfile_open_policy(mapfile *mf, const char *path, mapfile_policy policy,
                                 penny_error *err) {
    int fd;
    penny_status rc = open_file(mf, path, &fd, err);
    if (rc) return rc;
    if (mf->size > 0 && policy == MAPFILE_LOAD) {
        rc = load_anon(mf, fd, err);
        if (rc == PENNY_ERR_NOMEM) { /* no room for a copy: run from the page cache */
            log_msg(LOG_WARN, "%s: no memory for a private copy; mapping it instead", path);
            policy = MAPFILE_POPULATE;
        }
    }
    if (mf->size > 0 && policy != MAPFILE_LOAD)
        rc = map_file(mf, fd, policy == MAPFILE_POPULATE, err);
    close(fd);
    mf->policy = policy;
    if (rc) {
        free(mf->path);
        memset(mf, 0, sizeof *mf);
    }
    return rc;
}

penny_status mapfile_open(mapfile *mf, const char *path, bool resident, penny_error *err) {
    return mapfile_open_policy(mf, path, resident ? mapfile_default_policy() : MAPFILE_LAZY, err);
}

void mapfile_close(mapfile *mf) {
    if (!mf) return;
    if (mf->data) munmap((void *)mf->data, mf->map_len);
    free(mf->path);
    memset(mf, 0, sizeof *mf);
}
