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
    const void *p = cfg_cfield(obj, k);
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
    case ILR_CFG_LIST: break; /* write_key writes lists */
    }
    return ILR_FAIL(ILR_EINVAL, "'%s' has an unknown type %d", k->key, (int)k->type);
}

#define DOC_COLUMN 40 /* trailing comments start here when the line is shorter */

/* Where a dump is: the stream, and the schema and struct being written, or a list item's with its set flags
 * (only the keys it set are written) and whether its first line is still to come ("- "). */
typedef struct {
    FILE *f;
    const ilr_cfg_schema *s;
    const void *obj;
    const unsigned char *set; /* NULL: every key */
    int dash;
} writer;

static int written(const writer *w, int i) { return !w->set || w->set[i]; }

/* Whether section prefix[0..plen) ("" for all) holds a key that is written. */
static int section_written(const writer *w, const char *prefix, size_t plen) {
    for (int i = 0; i < w->s->n; i++)
        if (strncmp(w->s->keys[i].key, prefix, plen) == 0 && written(w, i)) return 1;
    return 0;
}

/* The indentation of a line at depth, its last two spaces "- " on an item's first line. */
static void indent(writer *w, int depth) {
    if (w->dash) fprintf(w->f, "%*s- ", 2 * depth - 2, "");
    else fprintf(w->f, "%*s", 2 * depth, "");
    w->dash = 0;
}

static int write_section(writer *w, const char *prefix, size_t plen, int depth);

/* The items of the LIST k, whose line is at depth: each a mapping of the keys it set, "- {}" when none. */
static int write_items(writer *w, const ilr_cfg_key *k, int depth) {
    const ilr_cfg_list *list = cfg_cfield(w->obj, k);
    for (long i = 0; i < list->count; i++) {
        writer item = {w->f, k->item_schema, cfg_item(k, list, i), cfg_item_set(k, list, i), 1};
        if (!section_written(&item, "", 0)) fprintf(w->f, "%*s- {}\n", 2 * depth + 2, "");
        else if (write_section(&item, "", 0, depth + 2)) return ilr_error_prefix("%s[%ld]", k->key, i);
    }
    return 0;
}

/* "name: value" with k's doc as a comment; a list's items follow on lines of their own. */
static int write_key(writer *w, const ilr_cfg_key *k, const char *name, int depth) {
    const ilr_cfg_list *list = k->type == ILR_CFG_LIST ? cfg_cfield(w->obj, k) : NULL;
    long start = ftell(w->f);
    indent(w, depth);
    fprintf(w->f, "%s:", name);
    int rc = 0;
    if (!list) {
        fputc(' ', w->f);
        rc = write_value(w->f, k, w->obj);
    } else if (list->count == 0) {
        fputs(" []", w->f);
    }
    int used = (int)(ftell(w->f) - start);
    fprintf(w->f, "%*s# %s\n", used + 2 < DOC_COLUMN ? DOC_COLUMN - used : 2, "", k->doc);
    if (rc || !list) return rc;
    return write_items(w, k, depth);
}

/* The written keys of section prefix[0..plen) ("" or "rollout."), in schema order with each subsection whole
 * at the place of its first key. */
static int write_section(writer *w, const char *prefix, size_t plen, int depth) {
    for (int i = 0; i < w->s->n; i++) {
        const ilr_cfg_key *k = &w->s->keys[i];
        if (strncmp(k->key, prefix, plen) != 0) continue;
        const char *rest = k->key + plen, *dot = strchr(rest, '.');
        int rc = 0;
        if (!dot) {
            if (written(w, i)) rc = write_key(w, k, rest, depth);
        } else {
            size_t sub = (size_t)(dot - k->key) + 1; /* "rollout.sampling." */
            int first = 1;
            for (int j = 0; j < i && first; j++) first = strncmp(w->s->keys[j].key, k->key, sub) != 0;
            if (!first || !section_written(w, k->key, sub)) continue;
            indent(w, depth);
            fprintf(w->f, "%.*s:\n", (int)(dot - rest), rest);
            rc = write_section(w, k->key, sub, depth + 1);
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
    writer w = {f, s, obj, NULL, 0};
    int rc = write_section(&w, "", 0, 0);
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

/* "int 1..64", "float", "bool", "string", "list" or the choices. */
static void type_text(const ilr_cfg_key *k, char *out, size_t cap) {
    static const char *const names[] = {"int", "float", "bool", "string", "", "list"};
    if (k->type == ILR_CFG_ENUM) snprintf(out, cap, "%s", k->choices);
    else if ((k->type == ILR_CFG_INT || k->type == ILR_CFG_FLOAT) && cfg_has_range(k))
        snprintf(out, cap, "%s %.15g..%.15g", names[k->type], k->min, k->max);
    else snprintf(out, cap, "%s", names[k->type]);
}

static void widen(int *width, const char *text) {
    if ((int)strlen(text) > *width) *width = (int)strlen(text);
}

/* The line of k (an item key of the list named list, or NULL) in the key list; with out NULL, only the
 * column widths w it needs. */
static void help_line(FILE *out, int w[3], const char *list, const ilr_cfg_key *k) {
    char name[512], type[256];
    snprintf(name, sizeof name, "%s%s%s", list ? list : "", list ? "[]." : "", k->key);
    type_text(k, type, sizeof type);
    if (out) fprintf(out, "  %-*s  %-*s  %-*s  %s\n", w[0], name, w[1], type, w[2], k->def, k->doc);
    else widen(&w[0], name), widen(&w[1], type), widen(&w[2], k->def);
}

/* Every key's line, a list's item keys after it; returns whether there was a list. */
static int help_lines(FILE *out, int w[3], const ilr_cfg_schema *s) {
    int lists = 0;
    for (int i = 0; i < s->n; i++) {
        const ilr_cfg_key *k = &s->keys[i];
        help_line(out, w, NULL, k);
        for (int j = 0; k->type == ILR_CFG_LIST && j < k->item_schema->n; j++)
            help_line(out, w, k->key, &k->item_schema->keys[j]);
        lists |= k->type == ILR_CFG_LIST;
    }
    return lists;
}

int ilr_cfg_print_help(const ilr_cfg_schema *s, FILE *out) {
    int w[3] = {3, 4, 7}; /* KEY, TYPE, DEFAULT */
    int lists = help_lines(NULL, w, s);
    fprintf(out, "Keys of `ilr %s`'s config: in CONFIG.yaml (nested maps or dotted keys), or KEY=VALUE after it.\n",
            s->name);
    if (lists)
        fprintf(out, "A list's items are mappings (- key: value); LIST.INDEX.KEY=VALUE sets a key of item INDEX "
                     "(from 0; the count adds an item).\n");
    fprintf(out, "\n  %-*s  %-*s  %-*s  %s\n", w[0], "KEY", w[1], "TYPE", w[2], "DEFAULT", "MEANING");
    help_lines(out, w, s);
    if (fflush(out) != 0 || ferror(out)) return ILR_FAIL(ILR_EIO, "writing the %s config keys failed", s->name);
    return 0;
}
