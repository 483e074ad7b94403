/*
 * store.h - the local model store behind `penny pull`, `penny list`,
 * `penny rm` and every `-m REF` option.
 *
 * Layout under the root ($PENNY_HOME, else $XDG_CACHE_HOME/penny, else
 * ~/.cache/penny):
 *
 *   models/ORG/REPO/manifest.json      files pulled: path, size, sha256
 *   models/ORG/REPO/FILE.gguf          complete, verified files only
 *   models/ORG/REPO/FILE.gguf.partial  a download in progress (resumable)
 *
 * A file gets its final name only after its sha256 matched the Hub's, so a
 * complete-looking name is always a verified file; the manifest is the
 * record of what was verified and is what offline resolution reads.
 *
 * Safety: names come from users and from a remote listing, so every ORG,
 * REPO and path component is checked (store_name_ok, store_path_ok), and
 * every directory and file inside the store is opened relative to the
 * store's root descriptor with O_NOFOLLOW: a symbolic link anywhere below
 * the root (planted or not) is refused, never followed. The root itself may
 * be a link (a cache moved to another disk is the user's choice).
 */
#ifndef PENNY_STORE_STORE_H
#define PENNY_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "penny.h"

#define STORE_NAME_MAX 96  /* ORG and REPO, as the Hub limits them */
#define STORE_PATH_MAX 400 /* a file's path inside its repository */
#define STORE_QUANT_MAX 31

/* A parsed REF: hf.co/ORG/REPO[:QUANT], ORG/REPO[:QUANT] or ORG/REPO/FILE.gguf. */
typedef struct store_ref {
    char org[STORE_NAME_MAX + 1];
    char repo[STORE_NAME_MAX + 1];
    char quant[STORE_QUANT_MAX + 1]; /* "" when not given */
    char file[STORE_PATH_MAX + 1];   /* "" when not given; '/'-separated path in the repo */
} store_ref;

/* Parses and validates text; the message says which part is refused. */
penny_status store_ref_parse(const char *text, store_ref *out, penny_error *err);
/* Writes "ORG/REPO", "ORG/REPO:QUANT" or "ORG/REPO/FILE". */
void store_ref_format(const store_ref *r, char *buf, size_t cap);

/* ORG or REPO: 1..96 of [A-Za-z0-9._-], not starting with '.' or '-'. */
bool store_name_ok(const char *s);
/* One path component of a file: 1..255 bytes, no '/', '\\' or control
 * bytes (nor DEL), not starting with '.' (so never "." or ".."). */
bool store_component_ok(const char *s, size_t len);
/* A file's path in a repository: at most 8 components, each
 * store_component_ok, total at most STORE_PATH_MAX, ending in ".gguf". */
bool store_path_ok(const char *path);

/* Split parts are named STEM-NNNNN-of-MMMMM.gguf. Returns true for such a
 * name and sets part number, count and the length of STEM. */
bool store_split_name(const char *path, int *no, int *count, size_t *stem_len);

/* Picks the files that REF means among names[0..n) (a repository listing or
 * a manifest): a FILE (all parts when it is a split part), the one model
 * whose name carries QUANT (case-insensitive, as a whole token), or with
 * neither the only model or the Q4_K_M one. Projector files (mmproj*) lose
 * ties. Writes the chosen indices, part 1 first, to picked (room for n) and
 * their count to *n_picked. PENNY_ERR_RANGE: nothing matches; PENNY_ERR_ARG:
 * several models match (the message lists them). */
penny_status store_select(const store_ref *ref, const char *const *names, int n, int *picked,
                          int *n_picked, penny_error *err);

/* ---- the store itself (store.c) ---- */

struct penny_store {
    char *root;  /* as given or derived; owned */
    int root_fd; /* -1 until the root exists */
};

/* One verified file as the manifest records it. */
typedef struct store_entry {
    char path[STORE_PATH_MAX + 1];
    uint64_t size;
    char sha256[65]; /* lowercase hex */
} store_entry;

typedef struct store_manifest {
    store_entry *files;
    int n, cap;
} store_manifest;

/* Opens (create: makes, mode 0755) models/ORG/REPO, each level with
 * O_NOFOLLOW. *fd is -1 with PENNY_OK when !create and it does not exist. */
penny_status store_repo_dir(penny_store *s, const store_ref *r, bool create, int *fd,
                            penny_error *err);
/* Opens the directory holding path (a repo path, maybe with folders) below
 * repo_fd, making folders when create; *base points at the last component.
 * PENNY_ERR_RANGE (no message) when a folder is absent and !create. */
penny_status store_file_dir(int repo_fd, const char *path, bool create, int *fd, const char **base,
                            penny_error *err);
/* Size of a regular file at path below repo_fd; PENNY_ERR_RANGE (no message)
 * when absent, PENNY_ERR_IO when it is a link or not a regular file. */
penny_status store_file_size(int repo_fd, const char *path, uint64_t *size, penny_error *err);

/* An absent manifest reads as empty. Entries with unsafe paths, sizes or
 * hashes make the whole manifest an error. */
penny_status store_manifest_read(int repo_fd, store_manifest *m, penny_error *err);
/* Writes atomically; an empty manifest removes the file. */
penny_status store_manifest_write(int repo_fd, const store_manifest *m, penny_error *err);
/* Under a lock on the repository folder: re-reads the manifest, drops the
 * entries named in drop, adds or replaces put (may be NULL) and writes it.
 * *n_left (may be NULL) receives the number of entries that remain. */
penny_status store_manifest_update(int repo_fd, const store_entry *put, const char *const *drop,
                                   int n_drop, int *n_left, penny_error *err);
/* Adds or replaces the entry for e->path; PENNY_ERR_NOMEM without a message. */
penny_status store_manifest_put(store_manifest *m, const store_entry *e);
const store_entry *store_manifest_get(const store_manifest *m, const char *path);
void store_manifest_free(store_manifest *m);

/* 64 lowercase hex digits and nothing more. */
bool store_sha256_ok(const char *hex);

/* Root path for messages and for building the paths handed to loaders. */
void store_local_path(const penny_store *s, const store_ref *r, const char *path, char *out,
                      size_t cap);

#endif
