/*
 * hub.h - the Hugging Face Hub over HTTP (libcurl): a repository's file
 * listing and resumable, verified file downloads.
 *
 * Facts about the Hub's public API that this relies on:
 *   GET {endpoint}/api/models/{org}/{repo}/tree/main?recursive=true
 *       JSON array of {"type":"file","path","size","lfs":{"oid":sha256,"size"}},
 *       paginated with a Link: <...>; rel="next" header;
 *   GET {endpoint}/{org}/{repo}/resolve/main/{path}
 *       redirects to a CDN; the Hub's response carries X-Linked-Etag (the LFS
 *       sha256) and X-Linked-Size; Range requests resume.
 * The token goes only in an Authorization header to the endpoint (curl
 * drops it when a redirect leaves that host) and never into a message.
 */
#ifndef PENNY_STORE_HUB_H
#define PENNY_STORE_HUB_H

#include <stdbool.h>
#include <stdint.h>

#include "penny.h"

typedef struct hub hub;

typedef struct hub_file {
    char *path;      /* as listed (not yet validated); owned */
    uint64_t size;   /* bytes */
    char sha256[65]; /* lowercase hex, "" when the listing gives no LFS hash */
} hub_file;

/* endpoint: http(s)://host[:port][/prefix]; token may be NULL or "". */
penny_status hub_new(const char *endpoint, const char *token, hub **out, penny_error *err);
void hub_free(hub *h);
const char *hub_endpoint(const hub *h);

/* Lists every file of org/repo at main (all pages). *files is owned by the
 * caller: hub_files_free. Messages say not found / access denied / server
 * error with the HTTP status. */
penny_status hub_list(hub *h, const char *org, const char *repo, hub_file **files, int *n,
                      penny_error *err);
void hub_files_free(hub_file *files, int n);

typedef struct hub_fetch {
    const char *org, *repo, *path; /* path: validated by the caller */
    uint64_t size;                 /* expected bytes */
    const char *sha256;            /* expected hash, 64 lowercase hex digits */
    int fd;                        /* the partial file, opened read-write */
    int retries;                   /* further attempts after a broken transfer */
    void (*progress)(void *user, uint64_t done, uint64_t total, uint64_t resumed);
    void (*retrying)(void *user, const char *why); /* before each new attempt; may be NULL */
    void *user;
} hub_fetch;

/* Brings fd to f->size bytes, resuming after the bytes it already holds
 * (HTTP Range), and checks the sha256 of the whole content.
 * PENNY_OK: fd holds the verified file (fsync'ed).
 * PENNY_ERR_FORMAT: the content is wrong (hash or size); fd was truncated to
 *   zero and the caller should delete it.
 * Other errors (network, HTTP status, disk): the bytes in fd are good so far
 *   and a later call resumes after them. */
penny_status hub_fetch_file(hub *h, const hub_fetch *f, penny_error *err);

/* sha256 of the first n bytes of fd, as 64 lowercase hex digits. */
penny_status hub_sha256_fd(int fd, uint64_t n, char hex[65], penny_error *err);

#endif
