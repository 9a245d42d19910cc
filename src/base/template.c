/* {{name}} templates (see include/ilr/template.h). */
#include "ilr/template.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ilr/error.h"
#include "ilr/io.h"

static int line_of(const char *tmpl, const char *at) {
    int line = 1;
    for (const char *p = tmpl; p < at; p++) line += *p == '\n';
    return line;
}

static int is_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* The variable a placeholder at p ("{{" ... "}}") names; sets *end past the "}}". NULL + error when bad
 * (vars NULL: syntax check only, returns a non-NULL dummy). */
static const ilr_template_var *placeholder(const char *tmpl, const char *source, const char *p,
                                           const ilr_template_var *vars, int num_vars, const char **end) {
    static const ilr_template_var syntax_only = {"", ""};
    const char *name = p + 2, *q = name;
    while (is_name_char(*q)) q++;
    size_t len = (size_t)(q - name);
    if (len == 0 || q[0] != '}' || q[1] != '}') {
        ILR_FAIL(ILR_EFORMAT, "%s:%d: '{{' must be followed by a name of letters, digits or '_' and '}}' (found '%.20s')",
                 source, line_of(tmpl, p), p);
        return NULL;
    }
    *end = q + 2;
    if (!vars) return &syntax_only;
    for (int i = 0; i < num_vars; i++)
        if (strlen(vars[i].name) == len && memcmp(vars[i].name, name, len) == 0) return &vars[i];
    char known[512] = "";
    for (int i = 0; i < num_vars; i++) {
        size_t k = strlen(known);
        snprintf(known + k, sizeof known - k, "%s{{%s}}", i ? ", " : "", vars[i].name);
    }
    ILR_FAIL(ILR_EFORMAT, "%s:%d: unknown placeholder {{%.*s}}; this template can use %s", source, line_of(tmpl, p),
             (int)len, name, num_vars ? known : "none");
    return NULL;
}

/* Two passes: size, then copy. */
static int render(const char *tmpl, const char *source, const ilr_template_var *vars, int num_vars, char *out,
                  size_t *size) {
    size_t n = 0;
    for (const char *p = tmpl; *p;) {
        const char *piece = p, *next = p + 1;
        size_t len = 1;
        if (p[0] == '{' && p[1] == '{') {
            const ilr_template_var *v = placeholder(tmpl, source, p, vars, num_vars, &next);
            if (!v) return ilr_last_error_code();
            piece = v->value ? v->value : "";
            len = strlen(piece);
        }
        if (out) memcpy(out + n, piece, len);
        n += len;
        p = next;
    }
    if (out) out[n] = 0;
    *size = n + 1;
    return 0;
}

int ilr_template_render(const char *tmpl, const char *source, const ilr_template_var *vars, int num_vars,
                        char **out) {
    *out = NULL;
    size_t size = 0;
    if (!vars) num_vars = 0;
    static const ilr_template_var none = {"", ""};
    const ilr_template_var *v = vars ? vars : &none; /* vars NULL means syntax-only in placeholder() */
    int rc = render(tmpl, source, v, num_vars, NULL, &size);
    if (rc) return rc;
    char *text = malloc(size);
    if (!text) return ILR_FAIL(ILR_ENOMEM, "%s: out of memory rendering %zu bytes", source, size);
    render(tmpl, source, v, num_vars, text, &size);
    *out = text;
    return 0;
}

int ilr_template_load(const char *rel, char **text) {
    char path[4096];
    size_t size = 0;
    *text = NULL;
    if (access(rel, R_OK) == 0) snprintf(path, sizeof path, "%s", rel);
    else if (ilr_resource_path(path, sizeof path, rel)) return ilr_last_error_code();
    char *data;
    if (ilr_file_read_all(path, &data, &size)) return ilr_last_error_code();
    if (data == NULL || memchr(data, 0, size)) {
        free(data);
        return ILR_FAIL(ILR_EFORMAT, "%s: a template must be non-empty text without NUL bytes", path);
    }
    for (const char *p = data; (p = strstr(p, "{{"));) {
        const char *end;
        if (!placeholder(data, path, p, NULL, 0, &end)) return free(data), ilr_last_error_code();
        p = end;
    }
    *text = data;
    return 0;
}
