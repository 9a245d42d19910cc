/* The request parser of `ilr serve`: a POST body (JSON, outside input) to an ilr_serve_request, every field
 * type- and range-checked as OpenAI's API checks it, or an error naming the field (see ilr/serve.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ilr/error.h"
#include "ilr/serve.h"

static int bad(const char **param, const char *name, const char *fmt, const char *detail) {
    *param = name;
    return ILR_FAIL(ILR_EINVAL, fmt, name, detail);
}

/* A number field in [lo, hi] (lo excluded when open_lo); absent or null leaves *out. */
static int get_number(const json_t *root, const char *name, double lo, double hi, int open_lo, double *out,
                      const char **param) {
    const json_t *v = json_object_get(root, name);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_number(v)) return bad(param, name, "'%s' must be a number%s", "");
    double x = json_number_value(v);
    if (!isfinite(x) || x < lo || x > hi || (open_lo && x == lo)) {
        char range[64];
        snprintf(range, sizeof range, " in %s%g, %g]", open_lo ? "(" : "[", lo, hi);
        return bad(param, name, "'%s' must be a number%s", range);
    }
    *out = x;
    return 0;
}

static int get_int(const json_t *root, const char *name, long long lo, long long hi, long long *out, const char **param) {
    const json_t *v = json_object_get(root, name);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        char range[64];
        snprintf(range, sizeof range, " from %lld to %lld", lo, hi);
        return bad(param, name, "'%s' must be an integer%s", range);
    }
    *out = json_integer_value(v);
    return 0;
}

static int get_bool(const json_t *root, const char *name, int *out, const char **param) {
    const json_t *v = json_object_get(root, name);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_boolean(v)) return bad(param, name, "'%s' must be true or false%s", "");
    *out = json_is_true(v);
    return 0;
}

static int get_stop(ilr_serve_request *r, const char **param) {
    const json_t *v = json_object_get(r->root, "stop");
    if (!v || json_is_null(v)) return 0;
    size_t count = json_is_string(v) ? 1 : json_array_size(v);
    if ((!json_is_string(v) && !json_is_array(v)) || count > ILR_SERVE_MAX_STOP)
        return bad(param, "stop", "'%s' must be a string or a list of at most 4 strings%s", "");
    for (size_t i = 0; i < count; i++) {
        const json_t *s = json_is_string(v) ? v : json_array_get(v, i);
        if (!json_is_string(s) || json_string_length(s) == 0 || strlen(json_string_value(s)) != json_string_length(s))
            return bad(param, "stop", "'%s' must hold non-empty strings%s", "");
        r->stop[r->num_stop++] = json_string_value(s);
    }
    return 0;
}

static int get_prompt(ilr_serve_request *r, const char **param) {
    const json_t *p = json_object_get(r->root, "prompt");
    if (json_is_array(p) && json_array_size(p) == 1) p = json_array_get(p, 0);
    if (json_is_array(p)) return bad(param, "prompt", "'%s': one prompt per request is supported (a string)%s", "");
    if (!json_is_string(p)) return bad(param, "prompt", "'%s' is required: a string%s", "");
    r->prompt = json_string_value(p);
    r->prompt_len = json_string_length(p);
    if (strlen(r->prompt) != r->prompt_len) return bad(param, "prompt", "'%s' must not contain NUL characters%s", "");
    return 0;
}

static int get_messages(ilr_serve_request *r, const char **param) {
    const json_t *m = json_object_get(r->root, "messages");
    if (!json_is_array(m) || json_array_size(m) == 0)
        return bad(param, "messages", "'%s' is required: a non-empty list of {\"role\", \"content\"}%s", "");
    if (json_array_size(m) > 4096) return bad(param, "messages", "'%s': at most 4096 messages%s", "");
    r->num_messages = (int)json_array_size(m);
    r->messages = calloc((size_t)r->num_messages, sizeof *r->messages);
    if (!r->messages) return ILR_FAIL(ILR_ENOMEM, "out of memory");
    for (int i = 0; i < r->num_messages; i++) {
        const json_t *msg = json_array_get(m, (size_t)i);
        const json_t *role = json_object_get(msg, "role"), *content = json_object_get(msg, "content");
        const char *rs = json_string_value(role);
        if (!rs || (strcmp(rs, "system") && strcmp(rs, "user") && strcmp(rs, "assistant") && strcmp(rs, "developer")))
            return bad(param, "messages", "'%s': each message needs a role of system, user or assistant%s", "");
        if (!json_is_string(content) || strlen(json_string_value(content)) != json_string_length(content))
            return bad(param, "messages", "'%s': each message needs \"content\", a string without NUL characters%s", "");
        r->messages[i].role = strcmp(rs, "developer") ? rs : "system";
        r->messages[i].content = json_string_value(content);
    }
    return 0;
}

/* "discussion": {"rounds": R, "mode": "coop" | "comp", "max_peer_tokens": N}, every key optional. */
static int get_discussion(ilr_serve_request *r, const char **param) {
    const json_t *d = json_object_get(r->root, "discussion");
    if (!d || json_is_null(d)) return 0;
    if (!json_is_object(d))
        return bad(param, "discussion", "'%s' must be an object: {\"rounds\", \"mode\", \"max_peer_tokens\"}%s", "");
    long long rounds = r->rounds, peer = r->max_peer_tokens;
    int rc = get_int(d, "rounds", 1, 16, &rounds, param);
    if (!rc) rc = get_int(d, "max_peer_tokens", 1, 1 << 20, &peer, param);
    const json_t *mode = json_object_get(d, "mode");
    const char *ms = json_string_value(mode);
    if (!rc && mode && !json_is_null(mode) && (!ms || (strcmp(ms, "coop") && strcmp(ms, "comp"))))
        rc = bad(param, "mode", "'discussion.%s' must be \"coop\" or \"comp\"%s", "");
    r->rounds = (int)rounds, r->max_peer_tokens = (int)peer, r->compete = ms && !strcmp(ms, "comp");
    return rc;
}

static int parse_fields(ilr_serve_request *r, const char **param) {
    const json_t *model = json_object_get(r->root, "model");
    if (!json_is_string(model) || json_string_length(model) == 0) return bad(param, "model", "'%s' is required: a string%s", "");
    r->model = json_string_value(model);
    int rc = r->kind == ILR_SERVE_CHAT ? get_messages(r, param) : get_prompt(r, param);
    long long max_tokens = 0, n = 1, seed = 0, logprobs = 0;
    if (!rc) rc = get_number(r->root, "temperature", 0, 2, 0, &r->temperature, param);
    if (!rc) rc = get_number(r->root, "top_p", 0, 1, 1, &r->top_p, param);
    if (!rc) rc = get_int(r->root, "max_tokens", 1, 1 << 20, &max_tokens, param);
    if (!rc && r->kind == ILR_SERVE_CHAT) rc = get_int(r->root, "max_completion_tokens", 1, 1 << 20, &max_tokens, param);
    if (!rc) rc = get_int(r->root, "n", 1, ILR_SERVE_MAX_N, &n, param);
    if (!rc) rc = get_int(r->root, "seed", INT64_MIN, INT64_MAX, &seed, param);
    if (!rc) rc = get_bool(r->root, "stream", &r->stream, param);
    if (!rc && r->kind == ILR_SERVE_CHAT) rc = get_bool(r->root, "logprobs", &r->logprobs, param);
    if (!rc && r->kind == ILR_SERVE_COMPLETIONS) rc = get_int(r->root, "logprobs", 0, 5, &logprobs, param);
    if (!rc) rc = get_stop(r, param);
    const json_t *so = json_object_get(r->root, "stream_options");
    if (!rc && so && !json_is_null(so) && !json_is_object(so))
        rc = bad(param, "stream_options", "'%s' must be an object%s", "");
    if (!rc && so) rc = get_bool(so, "include_usage", &r->include_usage, param);
    if (!rc) rc = get_discussion(r, param);
    r->has_temperature = json_is_number(json_object_get(r->root, "temperature"));
    r->has_seed = json_is_integer(json_object_get(r->root, "seed"));
    r->max_tokens = (int)max_tokens, r->n = (int)n, r->seed = (uint64_t)seed;
    if (r->kind == ILR_SERVE_COMPLETIONS) r->logprobs = (int)logprobs;
    return rc;
}

int ilr_serve_request_parse(ilr_serve_request *r, ilr_serve_kind kind, const char *body, size_t len,
                            const char **param) {
    memset(r, 0, sizeof *r);
    r->kind = kind, r->temperature = 1, r->top_p = 1, r->n = 1, r->rounds = 2, r->max_peer_tokens = 512;
    *param = NULL;
    json_error_t jerr;
    r->root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!r->root) return ILR_FAIL(ILR_EINVAL, "the body is not valid JSON: %s (line %d, column %d)", jerr.text, jerr.line,
                                  jerr.column);
    if (!json_is_object(r->root)) {
        ilr_serve_request_free(r);
        return ILR_FAIL(ILR_EINVAL, "the body must be a JSON object");
    }
    int rc = parse_fields(r, param);
    if (rc) ilr_serve_request_free(r);
    return rc;
}

void ilr_serve_request_free(ilr_serve_request *r) {
    json_decref(r->root);
    free(r->messages);
    memset(r, 0, sizeof *r);
}

char *ilr_serve_error_json(const char *message, const char *type, const char *param, const char *code) {
    /* a message may quote the body, which need not be UTF-8: then its other bytes become '?' */
    json_t *m = json_string(message);
    if (!m) {
        char *ascii = strdup(message);
        for (char *p = ascii; p && *p; p++)
            if ((unsigned char)*p >= 0x80) *p = '?';
        m = ascii ? json_string(ascii) : NULL;
        free(ascii);
    }
    json_t *e = m ? json_pack("{s:{s:o, s:s, s:s?, s:s?}}", "error", "message", m, "type", type, "param", param, "code",
                              code)
                  : NULL;
    char *text = e ? json_dumps(e, JSON_COMPACT) : NULL;
    json_decref(e);
    return text;
}
