/*
 * web.h - the chat page's static files, embedded in the binary at build
 * time (the Makefile turns web/ into C arrays with xxd -i), so `penny serve`
 * needs nothing on disk to serve its page.
 */
#ifndef PENNY_SERVE_WEB_H
#define PENNY_SERVE_WEB_H

#include <stddef.h>

typedef struct web_asset {
    const char *path; /* URL path, e.g. "/app.js" */
    const char *type; /* Content-Type */
    const unsigned char *data;
    size_t len;
} web_asset;

/* The asset served at url ("/" is the page), or NULL. */
const web_asset *web_find(const char *url);

#endif
