/* ilr sandbox run FILE.py: runs a Python file in the code-execution sandbox and prints the result. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <utf8proc.h>

#include "cli.h"
#include "ilr/error.h"
#include "ilr/io.h"
#include "ilr/sandbox.h"

static const char sandbox_help[] =
    "usage: ilr sandbox run FILE.py [--timeout S] [--memory MB] [--cpu S] [--max-output BYTES] [--unsafe]\n\n"
    "Runs FILE.py with /usr/bin/python3 inside bubblewrap (no network, read-only system, private /tmp, its\n"
    "own pid namespace, a fresh working directory as the only writable place) under rlimits, and prints one\n"
    "JSON line: {\"status\": passed|failed|timeout|error, \"exit_code\", \"signal\", \"seconds\", \"unsafe\",\n"
    "\"stdout\", \"stdout_bytes\", \"stderr\", \"stderr_bytes\"} (stdout/stderr: the first --max-output bytes,\n"
    "invalid UTF-8 replaced; *_bytes: everything the program wrote).  Exit status 0 when it ran (whatever\n"
    "the program did), 1 when it could not be run.\n\n"
    "  --timeout S        wall-clock limit; the process group is killed at it (default 10)\n"
    "  --memory MB        address-space limit (default 1024)\n"
    "  --cpu S            CPU-time limit (default timeout + 1)\n"
    "  --max-output N     bytes kept of stdout and of stderr each, K/M suffixes (default 64K)\n"
    "  --unsafe           where bubblewrap cannot create namespaces, run with rlimits only instead of failing\n";

/* A JSON string of bytes that may hold invalid UTF-8 (each bad byte becomes U+FFFD). */
static json_t *json_bytes(const char *s, size_t len) {
    char *clean = malloc(3 * len + 1);
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(len - i), &cp);
        if (k > 0 && cp != 0) {
            memcpy(clean + o, s + i, (size_t)k);
            o += (size_t)k, i += (size_t)k;
        } else {
            memcpy(clean + o, "\xEF\xBF\xBD", 3);
            o += 3, i += k > 0 ? (size_t)k : 1;
        }
    }
    json_t *j = json_stringn(clean, o);
    free(clean);
    return j;
}

int ilr_cmd_sandbox(int argc, char **argv) {
    static const struct option longopts[] = {{"timeout", required_argument, 0, 't'}, {"memory", required_argument, 0, 'm'},
                                              {"cpu", required_argument, 0, 'c'},     {"max-output", required_argument, 0, 'o'},
                                              {"unsafe", no_argument, 0, 'u'},        {"help", no_argument, 0, 'h'},
                                              {0, 0, 0, 0}};
    ilr_sandbox_options opt = {0};
    long long v;
    optind = 0;
    opterr = 0;
    for (int c; (c = getopt_long(argc, argv, "h", longopts, NULL)) != -1;) { /* options anywhere */
        if (c == 'h') return printf("%s", sandbox_help), 0;
        if (c == 'u') opt.allow_unsafe = 1;
        else if (c == 't') {
            char *end;
            opt.timeout_s = strtod(optarg, &end);
            if (*end || !(opt.timeout_s > 0 && opt.timeout_s <= 86400))
                return ilr_cli_usage_error("sandbox", "--timeout wants seconds in (0, 86400], not '%s'", optarg);
        } else if (c == 'm') {
            if (ilr_cli_parse_long("sandbox", "--memory", optarg, 16, 1 << 20, &v)) return 2;
            opt.memory_mb = (int)v;
        } else if (c == 'c') {
            if (ilr_cli_parse_long("sandbox", "--cpu", optarg, 1, 86400, &v)) return 2;
            opt.cpu_s = (int)v;
        } else if (c == 'o') {
            if (ilr_cli_parse_size("sandbox", "--max-output", optarg, &v)) return 2;
            if (v < 1 || v > (1 << 30)) return ilr_cli_usage_error("sandbox", "--max-output wants 1 to 1G bytes");
            opt.max_output = (size_t)v;
        } else return ilr_cli_usage_error("sandbox", "unknown or incomplete option '%s'", argv[optind - 1]);
    }
    if (optind >= argc || strcmp(argv[optind], "run") != 0)
        return ilr_cli_usage_error("sandbox", "expected `sandbox run FILE.py`");
    if (optind + 1 == argc) return ilr_cli_usage_error("sandbox", "`sandbox run` needs a FILE.py");
    if (optind + 2 != argc) return ilr_cli_usage_error("sandbox", "unexpected argument '%s'", argv[argc - 1]);
    const char *file = argv[optind + 1];
    char *src = NULL;
    size_t len = 0;
    if (ilr_file_read_all(file, &src, &len)) return ilr_cli_fail("sandbox");
    ilr_sandbox_result r;
    int rc = ilr_sandbox_run(src, len, &opt, &r);
    free(src);
    if (rc) return ilr_cli_fail("sandbox");
    json_t *j = json_object();
    json_object_set_new(j, "status", json_string(ilr_sandbox_status_name(r.status)));
    json_object_set_new(j, "exit_code", json_integer(r.exit_code));
    json_object_set_new(j, "signal", json_integer(r.signal));
    json_object_set_new(j, "seconds", json_real(r.seconds));
    json_object_set_new(j, "unsafe", json_boolean(r.unsafe));
    json_object_set_new(j, "stdout", json_bytes(r.out, r.out_len));
    json_object_set_new(j, "stdout_bytes", json_integer((json_int_t)r.out_total));
    json_object_set_new(j, "stderr", json_bytes(r.err, r.err_len));
    json_object_set_new(j, "stderr_bytes", json_integer((json_int_t)r.err_total));
    char *line = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
    printf("%s\n", line ? line : "{}");
    fflush(stdout);
    free(line);
    json_decref(j);
    ilr_sandbox_result_free(&r);
    return 0;
}
