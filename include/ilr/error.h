/* Error reporting.
 *
 * Functions that can fail on outside input return int: 0 on success, a negative ILR_E* code on failure,
 * after recording a message with ilr_error_set (via ILR_FAIL).  The message names the input (file, line,
 * tensor, field) and what was wrong; the source location that raised it is kept separately.  Messages are
 * per thread.  Bad input never aborts; assert() is for programmer errors only. */
#ifndef ILR_ERROR_H
#define ILR_ERROR_H

enum {
    ILR_OK = 0,
    ILR_EINVAL = -1,       /* bad argument or option value */
    ILR_EIO = -2,          /* the operating system refused: open, read, write, mmap, rename */
    ILR_ENOMEM = -3,       /* out of memory */
    ILR_EFORMAT = -4,      /* malformed input file */
    ILR_EUNSUPPORTED = -5, /* well-formed but not something ilr handles */
    ILR_ENOTFOUND = -6,    /* a file, tensor or key that should be there is not */
    ILR_EMISMATCH = -7,    /* two inputs disagree (a tensor's shape vs config.json) */
};

/* Records message fmt for code, raised at src_file:src_line; returns code so callers can `return ILR_FAIL(...)`. */
int ilr_error_set(int code, const char *src_file, int src_line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#define ILR_FAIL(code, ...) ilr_error_set((code), __FILE__, __LINE__, __VA_ARGS__)

/* Prepends "context: " to the current message (e.g. the directory being loaded), unless the message starts
 * with it already; returns the current code. */
int ilr_error_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

const char *ilr_last_error(void);          /* the message, "" if none */
const char *ilr_last_error_source(void);   /* "src/model/safetensors.c:120", "" if none */
int ilr_last_error_code(void);             /* 0 if none */
const char *ilr_error_name(int code);      /* "ILR_EFORMAT" */
void ilr_error_clear(void);

#endif
