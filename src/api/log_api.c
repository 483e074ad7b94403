/*
 * log_api.c - penny_log_set_level of include/penny.h: the caller chooses
 * how much of libpenny's diagnostics reach stderr (src/base/log.c).
 */
#include "base/log.h"
#include "penny.h"

void penny_log_set_level(penny_log_level level) {
    if ((int)level < (int)PENNY_LOG_ERROR) level = PENNY_LOG_ERROR;
    if ((int)level > (int)PENNY_LOG_DEBUG) level = PENNY_LOG_DEBUG;
    log_set_level((enum log_level)level);
}
