/* mapfile.c - whole-file read-only mmap with errors that name the file. */
#include "base/mapfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"

penny_status mapfile_open(mapfile *mf, const char *path, bool populate, penny_error *err) {
    memset(mf, 0, sizeof *mf);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return err_set(err, PENNY_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return err_set(err, PENNY_ERR_IO, "%s: not a regular file", path);
    }
    mf->size = (size_t)st.st_size;
    mf->path = strdup(path);
    if (!mf->path) {
        close(fd);
        return err_set(err, PENNY_ERR_NOMEM, "%s: out of memory", path);
    }
    if (mf->size > 0) {
        int flags = MAP_PRIVATE | (populate ? MAP_POPULATE : 0);
        void *p = mmap(NULL, mf->size, PROT_READ, flags, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            close(fd);
            free(mf->path);
            mf->path = NULL;
            return err_set(err, PENNY_ERR_IO, "%s: cannot map: %s", path, strerror(e));
        }
        if (populate) madvise(p, mf->size, MADV_WILLNEED);
        mf->data = p;
    }
    close(fd);
    return PENNY_OK;
}

void mapfile_close(mapfile *mf) {
    if (!mf) return;
    if (mf->data) munmap((void *)mf->data, mf->size);
    free(mf->path);
    memset(mf, 0, sizeof *mf);
}
