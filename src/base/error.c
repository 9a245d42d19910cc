/* Per-thread error message, code and source location (see include/ilr/error.h). */
#include "ilr/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define ILR_ERROR_CAP 1024

static _Thread_local char error_message[ILR_ERROR_CAP];
static _Thread_local char error_source[128];
static _Thread_local int error_code;

int ilr_error_set(int code, const char *src_file, int src_line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(error_message, sizeof error_message, fmt, ap);
    va_end(ap);
    snprintf(error_source, sizeof error_source, "%s:%d", src_file, src_line);
    error_code = code;
    return code;
}

int ilr_error_prefix(const char *fmt, ...) {
    /* joined has room for both parts, so snprintf cannot truncate; the copy back truncates instead. */
    char prefix[ILR_ERROR_CAP], joined[2 * ILR_ERROR_CAP + 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    size_t len = strlen(prefix);
    if (strncmp(error_message, prefix, len) == 0 && error_message[len] == ':') return error_code; /* named already */
    snprintf(joined, sizeof joined, "%s: %s", prefix, error_message);
    memcpy(error_message, joined, sizeof error_message - 1);
    error_message[sizeof error_message - 1] = 0;
    return error_code;
}

const char *ilr_last_error(void) { return error_message; }
const char *ilr_last_error_source(void) { return error_source; }
int ilr_last_error_code(void) { return error_code; }

void ilr_error_clear(void) {
    error_message[0] = 0;
    error_source[0] = 0;
    error_code = 0;
}

const char *ilr_error_name(int code) {
    switch (code) {
    case ILR_OK: return "ILR_OK";
    case ILR_EINVAL: return "ILR_EINVAL";
    case ILR_EIO: return "ILR_EIO";
    case ILR_ENOMEM: return "ILR_ENOMEM";
    case ILR_EFORMAT: return "ILR_EFORMAT";
    case ILR_EUNSUPPORTED: return "ILR_EUNSUPPORTED";
    case ILR_ENOTFOUND: return "ILR_ENOTFOUND";
    case ILR_EMISMATCH: return "ILR_EMISMATCH";
    default: return "ILR_E?";
    }
}
