/*
 * test_mapfile.c - the three ways mapfile brings a file into memory
 * (lazy map, populated map, load into huge-page anonymous memory) must give
 * the same bytes, for sizes around the 2 MiB rounding of the load path; the
 * default policy follows PENNY_LOAD; errors name the file; empty files work.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/mapfile.h"
#include "check.h"

static char dir[] = "/tmp/penny_mapfile_XXXXXX";

/* Writes n pseudo-random bytes to dir/name; returns the path (static buffer). */
static const char *write_file(const char *name, size_t n, unsigned char *bytes) {
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    uint32_t s = (uint32_t)n * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        bytes[i] = (unsigned char)(s >> 24);
    }
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(bytes, 1, n, f) == n);
    if (f) fclose(f);
    return path;
}

static void check_policies(size_t n) {
    unsigned char *want = malloc(n ? n : 1);
    const char *path = write_file("data.bin", n, want);
    const mapfile_policy pol[] = {MAPFILE_LAZY, MAPFILE_POPULATE, MAPFILE_LOAD};
    for (int k = 0; k < 3; k++) {
        mapfile mf;
        penny_error err = {0};
        CHECKF(mapfile_open_policy(&mf, path, pol[k], &err) == PENNY_OK, "%s", err.message);
        CHECKF(mf.size == n, "size %zu of %zu", mf.size, n);
        CHECK(n ? mf.data != NULL : mf.data == NULL);
        CHECKF(!n || !memcmp(mf.data, want, n), "policy %d, %zu bytes differ", k, n);
        CHECK(mf.policy == pol[k] && !strcmp(mf.path, path));
        mapfile_close(&mf);
        CHECK(mf.data == NULL && mf.path == NULL);
    }
    free(want);
}

static void check_default_policy(void) {
    setenv("PENNY_LOAD", "lazy", 1);
    CHECK(mapfile_default_policy() == MAPFILE_LAZY);
    setenv("PENNY_LOAD", "load", 1);
    CHECK(mapfile_default_policy() == MAPFILE_LOAD);
    setenv("PENNY_LOAD", "populate", 1);
    CHECK(mapfile_default_policy() == MAPFILE_POPULATE);
    setenv("PENNY_LOAD", "nonsense", 1); /* warned about, then ignored */
    CHECK(mapfile_default_policy() == MAPFILE_POPULATE);
    unsetenv("PENNY_LOAD");
    CHECK(mapfile_default_policy() == MAPFILE_POPULATE);

    unsigned char b[100];
    const char *path = write_file("small.bin", sizeof b, b);
    mapfile mf;
    penny_error err = {0};
    CHECK(mapfile_open(&mf, path, false, &err) == PENNY_OK && mf.policy == MAPFILE_LAZY);
    mapfile_close(&mf);
    CHECK(mapfile_open(&mf, path, true, &err) == PENNY_OK && mf.policy == MAPFILE_POPULATE);
    CHECK(!memcmp(mf.data, b, sizeof b));
    mapfile_close(&mf);
    setenv("PENNY_LOAD", "load", 1);
    CHECK(mapfile_open(&mf, path, true, &err) == PENNY_OK && mf.policy == MAPFILE_LOAD);
    CHECK(!memcmp(mf.data, b, sizeof b));
    mapfile_close(&mf);
    unsetenv("PENNY_LOAD");
}

static void check_errors(void) {
    mapfile mf;
    penny_error err = {0};
    char missing[300];
    snprintf(missing, sizeof missing, "%s/nothere.gguf", dir);
    CHECK(mapfile_open(&mf, missing, true, &err) == PENNY_ERR_IO);
    CHECKF(strstr(err.message, "nothere.gguf") && strstr(err.message, "cannot open"), "%s",
           err.message);
    CHECK(mapfile_open(&mf, dir, true, &err) == PENNY_ERR_IO);
    CHECKF(strstr(err.message, "not a regular file"), "%s", err.message);
    CHECK(mapfile_open(&mf, missing, false, NULL) == PENNY_ERR_IO); /* NULL err is allowed */
    mapfile_close(NULL);
}

int main(void) {
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    const size_t sizes[] = {
        0, 1, 4095, 4096, 4097, (2 << 20) - 1, 2 << 20, (2 << 20) + 1, (5 << 20) + 12345};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) check_policies(sizes[i]);
    check_default_policy();
    check_errors();
    char path[300];
    snprintf(path, sizeof path, "%s/data.bin", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/small.bin", dir);
    unlink(path);
    rmdir(dir);
    return check_done("test_mapfile");
}
