/* Writing experiment configs as YAML (see include/ilr/config_yaml.h): the dump that reads back to the same
 * struct, and the key list of --help-config. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "config_yaml_internal.h"
#include "ilr/config_yaml.h"
#include "ilr/error.h"
#include "ilr/io.h"

static const void *cfield(const void *obj, const ilr_cfg_key *k) { return (const char *)obj + k->offset; }

/* str as a YAML double-quoted scalar: what YAML cannot hold raw (controls, line breaks, the BOM and the
 * non-characters U+FFFE/U+FFFF) escaped. */
static int write_quoted(FILE *f, const ilr_cfg_key *k, const char *str) {
    fputc('"', f);
    for (size_t i = 0, len = strlen(str); i < len;) {
        utf8proc_int32_t c;
        utf8proc_ssize_t n = utf8proc_iterate((const utf8proc_uint8_t *)str + i, (utf8proc_ssize_t)(len - i), &c);
        if (n <= 0) return ILR_FAIL(ILR_EINVAL, "'%s' holds text that is not UTF-8", k->key);
        if (c == '"' || c == '\\') fprintf(f, "\\%c", (char)c);
        else if (c == '\n') fputs("\\n", f);
        else if (c == '\t') fputs("\\t", f);
        else if (c < 0x20 || c == 0x7f) fprintf(f, "\\x%02x", (unsigned)c);
        else if ((c >= 0x80 && c <= 0x9f) || c == 0x2028 || c == 0x2029 || c == 0xfeff ||
                 (c >= 0xfffe && c <= 0xffff))
            fprintf(f, "\\u%04x", (unsigned)c);
        else fwrite(str + i, 1, (size_t)n, f);
        i += (size_t)n;
    }
    fputc('"', f);
    return 0;
}

/* The fewest significant digits that read back to x, with ".0" when it would read as an integer. */
static void write_float(FILE *f, double x) {
    char buf[40];
    for (int digits = 1; digits <= 17; digits++) {
        snprintf(buf, sizeof buf, "%.*g", digits, x);
        if (strtod(buf, NULL) == x) break;
    }
    fprintf(f, "%s%s", buf, strspn(buf, "-0123456789") == strlen(buf) ? ".0" : "");
}

static int write_value(FILE *f, const ilr_cfg_key *k, const void *obj) {
    const void *p = cfield(obj, k);
    switch (k->type) {
    case ILR_CFG_INT: fprintf(f, "%ld", *(const long *)p); return 0;
    case ILR_CFG_FLOAT: write_float(f, *(const double *)p); return 0;
    case ILR_CFG_BOOL: fputs(*(const int *)p ? "true" : "false", f); return 0;
    case ILR_CFG_STRING:
        if (!*(char *const *)p) return fputs("null", f), 0;
        return write_quoted(f, k, *(char *const *)p);
    case ILR_CFG_ENUM: {
        size_t len;
        const char *c = *(const int *)p >= 0 ? cfg_choice(k, *(const int *)p, &len) : NULL;
        if (!c) return ILR_FAIL(ILR_EINVAL, "'%s' holds choice %d, which is not one of %s", k->key, *(const int *)p,
                                k->choices);
        fprintf(f, "%.*s", (int)len, c);
        return 0;
    }
    }
    return ILR_FAIL(ILR_EINVAL, "'%s' has an unknown type %d", k->key, (int)k->type);
}

#define DOC_COLUMN 40 /* trailing comments start here when the line is shorter */

/* The keys of section prefix[0..plen) ("" or "rollout."), in schema order with each subsection whole at
 * the place of its first key. */
static int write_section(FILE *f, const ilr_cfg_schema *s, const void *obj, const char *prefix, size_t plen,
                         int depth) {
    for (int i = 0; i < s->n; i++) {
        const ilr_cfg_key *k = &s->keys[i];
        if (strncmp(k->key, prefix, plen) != 0) continue;
        const char *rest = k->key + plen, *dot = strchr(rest, '.');
        int rc = 0;
        if (!dot) {
            long start = ftell(f);
            fprintf(f, "%*s%s: ", 2 * depth, "", rest);
            rc = write_value(f, k, obj);
            int used = (int)(ftell(f) - start);
            fprintf(f, "%*s# %s\n", used + 2 < DOC_COLUMN ? DOC_COLUMN - used : 2, "", k->doc);
        } else {
            size_t sub = (size_t)(dot - k->key) + 1; /* "rollout.sampling." */
            int first = 1;
            for (int j = 0; j < i && first; j++) first = strncmp(s->keys[j].key, k->key, sub) != 0;
            if (!first) continue;
            fprintf(f, "%*s%.*s:\n", 2 * depth, "", (int)(dot - rest), rest);
            rc = write_section(f, s, obj, k->key, sub, depth + 1);
        }
        if (rc) return rc;
    }
    return 0;
}

int ilr_cfg_dump(const ilr_cfg_schema *s, const void *obj, char **out) {
    size_t size = 0;
    *out = NULL;
    FILE *f = open_memstream(out, &size);
    if (!f) return ILR_FAIL(ILR_ENOMEM, "out of memory writing the %s config", s->name);
    fprintf(f, "# ilr %s configuration\n", s->name);
    int rc = write_section(f, s, obj, "", 0, 0);
    if (fclose(f) != 0 && !rc) rc = ILR_FAIL(ILR_ENOMEM, "out of memory writing the %s config", s->name);
    if (rc) free(*out), *out = NULL;
    return rc;
}

int ilr_cfg_save(const ilr_cfg_schema *s, const void *obj, const char *path) {
    char *text;
    int rc = ilr_cfg_dump(s, obj, &text);
    if (rc) return ilr_error_prefix("%s", path);
    rc = ilr_file_write_atomic(path, text, strlen(text));
    free(text);
    return rc;
}

/* "int 1..64", "float", "bool", "string" or the choices. */
static void type_text(const ilr_cfg_key *k, char *out, size_t cap) {
    static const char *const names[] = {"int", "float", "bool", "string", ""};
    if (k->type == ILR_CFG_ENUM) snprintf(out, cap, "%s", k->choices);
    else if ((k->type == ILR_CFG_INT || k->type == ILR_CFG_FLOAT) && cfg_has_range(k))
        snprintf(out, cap, "%s %.15g..%.15g", names[k->type], k->min, k->max);
    else snprintf(out, cap, "%s", names[k->type]);
}

int ilr_cfg_print_help(const ilr_cfg_schema *s, FILE *out) {
    int kw = 3, tw = 4, dw = 7;
    char type[256];
    for (int i = 0; i < s->n; i++) {
        type_text(&s->keys[i], type, sizeof type);
        if ((int)strlen(s->keys[i].key) > kw) kw = (int)strlen(s->keys[i].key);
        if ((int)strlen(type) > tw) tw = (int)strlen(type);
        if ((int)strlen(s->keys[i].def) > dw) dw = (int)strlen(s->keys[i].def);
    }
    fprintf(out, "Keys of `ilr %s`'s config: in CONFIG.yaml (nested maps or dotted keys), or KEY=VALUE after it.\n\n",
            s->name);
    fprintf(out, "  %-*s  %-*s  %-*s  %s\n", kw, "KEY", tw, "TYPE", dw, "DEFAULT", "MEANING");
    for (int i = 0; i < s->n; i++) {
        type_text(&s->keys[i], type, sizeof type);
        fprintf(out, "  %-*s  %-*s  %-*s  %s\n", kw, s->keys[i].key, tw, type, dw, s->keys[i].def, s->keys[i].doc);
    }
    if (fflush(out) != 0 || ferror(out)) return ILR_FAIL(ILR_EIO, "writing the %s config keys failed", s->name);
    return 0;
}
