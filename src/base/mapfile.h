/*
 * mapfile.h - read-only memory mapping of a whole file.
 *
 * Weights are views into the mapping, never copies. mapfile_open maps the
 * file; when `populate` is set it also asks the kernel to fault the pages in
 * up front (a VM page-cache monitor here evicts cold pages, which made lazily
 * faulted weights several times slower to read).
 */
#ifndef PENNY_BASE_MAPFILE_H
#define PENNY_BASE_MAPFILE_H

#include <stdbool.h>
#include <stddef.h>

#include "penny.h"

typedef struct mapfile {
    const unsigned char *data; /* size bytes, read-only; NULL for an empty file */
    size_t size;
    char *path; /* owned copy, for messages */
} mapfile;

penny_status mapfile_open(mapfile *mf, const char *path, bool populate, penny_error *err);
void mapfile_close(mapfile *mf);

#endif
