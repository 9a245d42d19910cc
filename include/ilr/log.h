/* Logging to stderr with levels.  The level comes from ilr_log_set_level, or else from the environment
 * variable ILR_LOG (error|warn|info|debug); the default is info. */
#ifndef ILR_LOG_H
#define ILR_LOG_H

typedef enum { ILR_LOG_ERROR = 0, ILR_LOG_WARN = 1, ILR_LOG_INFO = 2, ILR_LOG_DEBUG = 3 } ilr_log_level;

void ilr_log_set_level(ilr_log_level level);
ilr_log_level ilr_log_get_level(void);
/* Parses "error", "warn", "info", "debug"; returns ILR_EINVAL on anything else. */
int ilr_log_parse_level(const char *name, ilr_log_level *out);
void ilr_log(ilr_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define ILR_LOG_E(...) ilr_log(ILR_LOG_ERROR, __VA_ARGS__)
#define ILR_LOG_W(...) ilr_log(ILR_LOG_WARN, __VA_ARGS__)
#define ILR_LOG_I(...) ilr_log(ILR_LOG_INFO, __VA_ARGS__)
#define ILR_LOG_D(...) ilr_log(ILR_LOG_DEBUG, __VA_ARGS__)

#endif
