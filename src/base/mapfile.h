/*
 * mapfile.h - a whole file as read-only memory.
 *
 * Weights are views into this memory, never copies. With `resident` false the
 * file is mapped lazily (pages fault in when touched: right for inspecting a
 * file, e.g. `penny info`). With `resident` true the caller will read all of
 * it again and again (model weights, token shards), so it is made resident
 * up front. The policies, measured on this project's VM, whose DAMON scheme
 * pages out page-cache pages that are idle and not mapped, and whose host
 * charges dearly for fresh anonymous memory (docs/performance.md, "Loading"):
 *
 *   MAPFILE_POPULATE  mmap + MAP_POPULATE + MADV_WILLNEED: the default for
 *                     resident files. Loads fastest (no copy), costs no memory
 *                     beyond the page cache, and mapped pages are left alone
 *                     by the page-out scheme (measured: 0 major faults after
 *                     4 idle minutes), so the first token after a pause is as
 *                     fast as any.
 *   MAPFILE_LOAD      read() into anonymous memory with MADV_HUGEPAGE (2 MiB
 *                     pages). Reads 5-15% faster per CPU-second here, but loads
 *                     10-50x slower and holds two copies until the page cache
 *                     lets go; to be reconsidered when generation runs near
 *                     the bandwidth limit. Files over half the available
 *                     memory are mapped instead.
 *   MAPFILE_LAZY      plain mmap; untouched pages stay unmapped page cache,
 *                     which the page-out scheme evicts after about a minute.
 *
 * PENNY_LOAD=populate|load|lazy in the environment chooses for resident files.
 */
#ifndef PENNY_BASE_MAPFILE_H
#define PENNY_BASE_MAPFILE_H

#include <stdbool.h>
#include <stddef.h>

#include "penny.h"

typedef enum mapfile_policy { MAPFILE_LAZY, MAPFILE_POPULATE, MAPFILE_LOAD } mapfile_policy;

typedef struct mapfile {
    const unsigned char *data; /* size bytes, read-only; NULL for an empty file */
    size_t size;
    size_t map_len; /* bytes mapped at data (size rounded up), for munmap */
    mapfile_policy policy;
    char *path; /* owned copy, for messages */
} mapfile;

penny_status mapfile_open(mapfile *mf, const char *path, bool resident, penny_error *err);
/* Same with the policy given (PENNY_LOAD is not consulted). */
penny_status mapfile_open_policy(mapfile *mf, const char *path, mapfile_policy policy,
                                 penny_error *err);
/* The policy mapfile_open(resident = true) uses: PENNY_LOAD or POPULATE. */
mapfile_policy mapfile_default_policy(void);
void mapfile_close(mapfile *mf);

#endif
