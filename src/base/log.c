/* Levelled logging to stderr (see include/ilr/log.h). */
#include "ilr/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ilr/error.h"

#define LEVEL_UNSET (-1)

static _Atomic int log_level = LEVEL_UNSET;
static const char *const level_names[] = {"error", "warn", "info", "debug"};

/* The level named name, or -1. */
static int find_level(const char *name) {
    for (int i = 0; name && i < 4; i++)
        if (strcmp(name, level_names[i]) == 0) return i;
    return -1;
}

int ilr_log_parse_level(const char *name, ilr_log_level *out) {
    int level = find_level(name);
    if (level < 0)
        return ILR_FAIL(ILR_EINVAL, "log level '%s': expected error, warn, info or debug",
                        name ? name : "(null)");
    *out = (ilr_log_level)level;
    return 0;
}

void ilr_log_set_level(ilr_log_level level) { atomic_store(&log_level, (int)level); }

/* The first call reads ILR_LOG; of concurrent first calls only one stores it (and warns if it is bad). */
ilr_log_level ilr_log_get_level(void) {
    int level = atomic_load(&log_level);
    if (level != LEVEL_UNSET) return (ilr_log_level)level;
    const char *env = getenv("ILR_LOG");
    int from_env = env && env[0] ? find_level(env) : ILR_LOG_INFO;
    int expected = LEVEL_UNSET;
    if (atomic_compare_exchange_strong(&log_level, &expected, from_env < 0 ? ILR_LOG_INFO : from_env) &&
        from_env < 0)
        fprintf(stderr, "[ilr] warn: ILR_LOG='%s' is not error, warn, info or debug; using info\n", env);
    return (ilr_log_level)atomic_load(&log_level);
}

/* The line is built first and written with one fprintf, so lines from different threads do not mix. */
void ilr_log(ilr_log_level level, const char *fmt, ...) {
    if ((int)level > (int)ilr_log_get_level()) return;
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    size_t len = strlen(line);
    if (len && line[len - 1] == '\n') line[len - 1] = 0;
    int idx = (int)level >= 0 && (int)level <= 3 ? (int)level : ILR_LOG_INFO;
    fprintf(stderr, "[ilr] %s: %s%s\n", level_names[idx], line, (size_t)n >= sizeof line ? " [...]" : "");
}
