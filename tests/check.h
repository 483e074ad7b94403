/*
 * check.h - the tiny test harness every C test uses. CHECK records a failure
 * with file:line and carries on; check_done() returns the exit status, so a
 * test program fails (exit 1) whenever any check failed.
 */
#ifndef PENNY_TESTS_CHECK_H
#define PENNY_TESTS_CHECK_H

#include <stdio.h>
#include <stdlib.h>

static int check_failures;
static int check_count;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        check_count++;                                                                             \
        if (!(cond)) {                                                                             \
            check_failures++;                                                                      \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
        }                                                                                          \
    } while (0)

#define CHECKF(cond, ...)                                                                          \
    do {                                                                                           \
        check_count++;                                                                             \
        if (!(cond)) {                                                                             \
            check_failures++;                                                                      \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);               \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

static inline int check_done(const char *name) {
    fprintf(stderr, "%s: %d checks, %d failed\n", name, check_count, check_failures);
    return check_failures ? 1 : 0;
}

/* Path of a file under ../shared (PENNY_SHARED); NULL if the tree is absent. */
static inline const char *check_shared(const char *rel, char *buf, size_t cap) {
    const char *root = getenv("PENNY_SHARED");
    if (!root) root = "../shared";
    snprintf(buf, cap, "%s/%s", root, rel);
    FILE *f = fopen(buf, "rb");
    if (!f) return NULL;
    fclose(f);
    return buf;
}

#endif
