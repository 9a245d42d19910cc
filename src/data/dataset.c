/* JSON-lines datasets: one item per line through a field mapping (see include/ilr/dataset.h). */
#include "ilr/dataset.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ilr/error.h"
#include "ilr/io.h"
#include "ilr/json.h"
#include "ilr/math_grader.h"
#include "ilr/template.h"
#include "internal.h"

static const char *const format_names[] = {"plain", "gsm8k", "boxed", "list", "code-humaneval", "code-mbpp"};
#define NUM_FORMATS ((int)(sizeof format_names / sizeof *format_names))

const char *ilr_gold_format_name(ilr_gold_format format) {
    return (unsigned)format < (unsigned)NUM_FORMATS ? format_names[format] : "unknown";
}

int ilr_gold_format_parse(const char *name, ilr_gold_format *out) {
    for (int i = 0; i < NUM_FORMATS; i++)
        if (strcmp(name, format_names[i]) == 0) return *out = (ilr_gold_format)i, 0;
    return ILR_FAIL(ILR_EINVAL, "unknown answer format '%s' (expected plain, gsm8k, boxed, list, code-humaneval or "
                    "code-mbpp)", name);
}

ilr_task_kind ilr_gold_format_kind(ilr_gold_format format) {
    return format == ILR_GOLD_CODE_HUMANEVAL || format == ILR_GOLD_CODE_MBPP ? ILR_TASK_CODE : ILR_TASK_MATH;
}

void ilr_dataset_mapping_default(ilr_dataset_mapping *m) {
    *m = (ilr_dataset_mapping){.question = "question", .answer = "answer", .format = ILR_GOLD_PLAIN,
                               .id = "id", .level = "level", .subject = "subject"};
}

/* ---- field readers: 0 read, 1 absent (optional only), negative on error ---- */

static char *dup_n(const char *s, size_t n) {
    char *p = malloc(n + 1);
    if (p) memcpy(p, s, n), p[n] = 0;
    return p;
}

static int out_of_memory(const char *name) { return ILR_FAIL(ILR_ENOMEM, "%s: out of memory", name); }

/* A string field copied into *out; an optional field that is absent or null gives 1 and *out NULL. */
static int read_string(const json_t *line, const char *key, int required, const char *name, char **out) {
    *out = NULL;
    const json_t *v = json_object_get(line, key);
    if (!required && json_is_null(v)) return 1;
    const char *s;
    int rc = ilr_json_get_string(line, key, required, name, &s);
    if (rc) return rc;
    if (!(*out = dup_n(s, json_string_length(v)))) return out_of_memory(name);
    return 0;
}

/* The value of a required field, or ILR_ENOTFOUND in ilr_json_get_*'s words. */
static int read_value(const json_t *line, const char *key, const char *name, const json_t **v) {
    if (!(*v = json_object_get(line, key))) return ILR_FAIL(ILR_ENOTFOUND, "%s: missing required key '%s'", name, key);
    return 0;
}

static int wrong_type(const char *name, const char *key, const char *want, const json_t *v) {
    return ILR_FAIL(ILR_EFORMAT, "%s: key '%s': expected %s, got %s", name, key, want, ilr_json_type_name(v));
}

/* id: the field's string or integer, else "display:line". */
static int read_id(const json_t *line, const ilr_dataset_mapping *m, const char *display, int line_number,
                   const char *name, char **out) {
    const json_t *v = m->id ? json_object_get(line, m->id) : NULL;
    char buf[64];
    if (v && json_is_string(v)) return read_string(line, m->id, 1, name, out);
    if (v && json_is_number(v)) {
        int64_t n;
        int rc = ilr_json_get_int(line, m->id, 1, name, INT64_MIN, INT64_MAX, &n);
        if (rc) return rc;
        snprintf(buf, sizeof buf, "%lld", (long long)n);
        if (!(*out = dup_n(buf, strlen(buf)))) return out_of_memory(name);
        return 0;
    }
    if (v && !json_is_null(v)) return wrong_type(name, m->id, "a string or an integer", v);
    size_t n = strlen(display);
    if (!(*out = malloc(n + 24))) return out_of_memory(name);
    snprintf(*out, n + 24, "%s:%d", display, line_number);
    return 0;
}

/* level: an integer, or a string "Level N" / "N" (anything else, e.g. MATH's "Level ?", is 0). */
static int read_level(const json_t *line, const char *key, const char *name, int *level) {
    *level = 0;
    const json_t *v = key ? json_object_get(line, key) : NULL;
    if (!v || json_is_null(v)) return 0;
    if (json_is_number(v)) {
        int64_t n;
        int rc = ilr_json_get_int(line, key, 1, name, 0, 1000000, &n);
        return rc ? rc : (*level = (int)n, 0);
    }
    if (!json_is_string(v)) return wrong_type(name, key, "an integer or a string \"Level N\"", v);
    const char *s = json_string_value(v);
    if (strncasecmp(s, "level", 5) == 0) s += 5;
    while (*s == ' ') s++;
    int n = 0, digits = 0;
    for (; isdigit((unsigned char)*s) && n < 100000; s++, digits++) n = 10 * n + (*s - '0');
    while (*s == ' ') s++;
    if (digits && !*s) *level = n;
    return 0;
}

/* ---- gold answers ---- */

/* ilr_math_gold_answer on a record holding only {key: v}: the benchmark rules for that one field. */
static int gold_of_field(const char *key, const json_t *v, const char *name, char **gold) {
    json_t *record = json_object();
    if (!record || json_object_set(record, key, (json_t *)v)) return json_decref(record), out_of_memory(name);
    int rc = ilr_math_gold_answer(record, name, gold);
    json_decref(record);
    return rc;
}

/* Removes the commas of thousands separators in place: "1,000,000" -> "1000000", "(1, 2)" unchanged. */
static void drop_thousands_separators(char *s) {
    char *o = s;
    for (const char *p = s; *p; p++) {
        int separator = *p == ',' && p > s && isdigit((unsigned char)p[-1]) && isdigit((unsigned char)p[1]) &&
                        isdigit((unsigned char)p[2]) && isdigit((unsigned char)p[3]) && !isdigit((unsigned char)p[4]);
        if (!separator) *o++ = *p;
    }
    *o = 0;
}

static int read_gold(const json_t *line, const ilr_dataset_mapping *m, const char *name, char **gold) {
    const json_t *v;
    const char *key = m->answer;
    int rc = read_value(line, key, name, &v);
    if (rc) return rc;
    switch (m->format) {
    case ILR_GOLD_PLAIN:
        if (json_is_number(v)) rc = gold_of_field("answer", v, name, gold);
        else if (json_is_string(v)) rc = (*gold = dup_n(json_string_value(v), json_string_length(v))) ? 0 : out_of_memory(name);
        else return wrong_type(name, key, "a string or a number", v);
        break;
    case ILR_GOLD_GSM8K:
        if (!json_is_string(v)) return wrong_type(name, key, "a string", v);
        if (!strstr(json_string_value(v), "####"))
            return ILR_FAIL(ILR_EFORMAT, "%s: key '%s': expected a solution ending in \"#### answer\", found no ####", name, key);
        if (!(rc = gold_of_field("answer", v, name, gold))) drop_thousands_separators(*gold);
        break;
    case ILR_GOLD_BOXED:
        if (!json_is_string(v)) return wrong_type(name, key, "a string", v);
        rc = ilr_math_extract(json_string_value(v), json_string_length(v), ILR_MATH_EXTRACT_BOXED, gold);
        if (rc == 1) return ILR_FAIL(ILR_EFORMAT, "%s: key '%s': expected a solution with a \\boxed{} answer, found none", name, key);
        break;
    case ILR_GOLD_LIST:
        if (!json_is_array(v)) return wrong_type(name, key, "an array of strings", v);
        rc = gold_of_field("final_answer", v, name, gold);
        break;
    default:
        return ILR_FAIL(ILR_EINVAL, "%s: format %s has no gold answer", name, ilr_gold_format_name(m->format));
    }
    if (rc) return rc;
    size_t n = strlen(*gold);
    while (n && isspace((unsigned char)(*gold)[n - 1])) n--;
    size_t skip = strspn(*gold, " \t\r\n");
    if (skip >= n) return ILR_FAIL(ILR_EFORMAT, "%s: key '%s': the gold answer is empty", name, key);
    memmove(*gold, *gold + skip, n - skip);
    (*gold)[n - skip] = 0;
    return 0;
}

/* ---- code tasks ---- */

static int read_humaneval(const json_t *line, const char *name, ilr_dataset_item *it) {
    int rc;
    if ((rc = read_string(line, "prompt", 1, name, &it->prompt)) ||
        (rc = read_string(line, "entry_point", 1, name, &it->entry_point)) ||
        (rc = read_string(line, "test", 1, name, &it->test)))
        return rc;
    rc = read_string(line, "canonical_solution", 0, name, &it->code);
    return rc < 0 ? rc : 0;
}

static int read_mbpp(const json_t *line, const char *name, ilr_dataset_item *it) {
    const json_t *tests;
    int rc = read_value(line, "test_list", name, &tests);
    if (rc) return rc;
    if (!json_is_array(tests)) return wrong_type(name, "test_list", "an array of strings", tests);
    size_t n = json_array_size(tests);
    if (n == 0 || n > 100000) return ILR_FAIL(ILR_EFORMAT, "%s: key 'test_list': expected 1 to 100000 tests, got %zu", name, n);
    if (!(it->test_list = calloc(n, sizeof *it->test_list))) return out_of_memory(name);
    for (size_t i = 0; i < n; i++, it->num_tests++) {
        const json_t *t = json_array_get(tests, i);
        if (!json_is_string(t))
            return ILR_FAIL(ILR_EFORMAT, "%s: key 'test_list': item %zu: expected a string, got %s", name, i, ilr_json_type_name(t));
        if (!(it->test_list[i] = dup_n(json_string_value(t), json_string_length(t)))) return out_of_memory(name);
    }
    if ((rc = read_string(line, "test_setup_code", 0, name, &it->test_setup_code)) < 0) return rc;
    if (!it->test_setup_code && !(it->test_setup_code = dup_n("", 0))) return out_of_memory(name);
    if ((rc = read_string(line, "code", 0, name, &it->code)) < 0) return rc;
    return 0;
}

static void item_free(ilr_dataset_item *it) {
    free(it->id), free(it->question), free(it->gold), free(it->subject);
    free(it->prompt), free(it->entry_point), free(it->test), free(it->test_setup_code), free(it->code);
    for (int i = 0; i < it->num_tests; i++) free(it->test_list[i]);
    free(it->test_list);
    memset(it, 0, sizeof *it);
}

static int read_item(const json_t *line, int line_number, const char *name, const char *display,
                     const ilr_dataset_mapping *m, ilr_dataset_item *it) {
    int rc;
    it->line = line_number;
    if ((rc = read_id(line, m, display, line_number, name, &it->id))) return rc;
    if ((rc = read_string(line, m->question, 1, name, &it->question))) return rc;
    if ((rc = read_level(line, m->level, name, &it->level))) return rc;
    if (m->subject && (rc = read_string(line, m->subject, 0, name, &it->subject)) < 0) return rc;
    if (m->format == ILR_GOLD_CODE_HUMANEVAL) return read_humaneval(line, name, it);
    if (m->format == ILR_GOLD_CODE_MBPP) return read_mbpp(line, name, it);
    return read_gold(line, m, name, &it->gold);
}

/* ---- loading ---- */

typedef struct {
    const ilr_dataset_mapping *m;
    const char *display; /* the file as ids name it */
    ilr_dataset *ds;
    int cap, lines;
} load_state;

/* Whether the line's id is on the mapping's exclusion list. */
static int excluded(const json_t *line, const ilr_dataset_mapping *m) {
    const json_t *v = m->exclude_ids && m->id ? json_object_get(line, m->id) : NULL;
    char buf[32];
    const char *id = json_string_value(v);
    if (json_is_integer(v)) snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v)), id = buf;
    for (const char *const *x = m->exclude_ids; id && *x; x++)
        if (strcmp(*x, id) == 0) return 1;
    return 0;
}

static int on_line(json_t *line, int line_number, const char *name, void *user) {
    load_state *st = user;
    const ilr_dataset_mapping *m = st->m;
    st->lines++;
    if (m->id_min || m->id_max) {
        int64_t id;
        int rc = ilr_json_get_int(line, m->id ? m->id : "id", 1, name, INT64_MIN, INT64_MAX, &id);
        if (rc) return rc;
        if (id < m->id_min || id > m->id_max) return 0;
    }
    if (excluded(line, m)) return 0;
    ilr_dataset *ds = st->ds;
    if (ds->count == st->cap) {
        int cap = st->cap ? 2 * st->cap : 256;
        ilr_dataset_item *items = cap < (1 << 26) ? realloc(ds->items, (size_t)cap * sizeof *items) : NULL;
        if (!items) return out_of_memory(name);
        ds->items = items, st->cap = cap;
    }
    ilr_dataset_item *it = &ds->items[ds->count];
    memset(it, 0, sizeof *it);
    int rc = read_item(line, line_number, name, st->display, m, it);
    if (rc) return item_free(it), rc;
    ds->count++;
    return 0;
}

static int check_mapping(const ilr_dataset_mapping *m, const char *path) {
    if ((unsigned)m->format >= (unsigned)NUM_FORMATS)
        return ILR_FAIL(ILR_EINVAL, "%s: mapping has an unknown answer format %d", path, (int)m->format);
    if (!m->question || (ilr_gold_format_kind(m->format) == ILR_TASK_MATH && !m->answer))
        return ILR_FAIL(ILR_EINVAL, "%s: the mapping names no %s field", path, m->question ? "answer" : "question");
    if (m->id_min > m->id_max)
        return ILR_FAIL(ILR_EINVAL, "%s: empty id range [%lld, %lld]", path, (long long)m->id_min, (long long)m->id_max);
    return 0;
}

/* Parses text into out; display names the file in "file:line" ids. */
static int parse_named(const char *text, size_t len, const char *path, const char *display,
                       const ilr_dataset_mapping *mapping, ilr_dataset *out) {
    memset(out, 0, sizeof *out);
    ilr_dataset_mapping def;
    if (!mapping) ilr_dataset_mapping_default(&def), mapping = &def;
    int rc = check_mapping(mapping, path);
    if (rc) return rc;
    load_state st = {.m = mapping, .display = display, .ds = out};
    out->kind = ilr_gold_format_kind(mapping->format);
    out->format = mapping->format;
    if (!(out->name = dup_n(path, strlen(path))) || !(out->path = dup_n(path, strlen(path))))
        rc = out_of_memory(path);
    if (!rc) rc = ilr_jsonl_parse(text ? text : "", text ? len : 0, path, on_line, &st);
    if (!rc && st.lines == 0) rc = ILR_FAIL(ILR_EFORMAT, "%s:1: the file is empty (expected one JSON object per line)", path);
    else if (!rc && out->count == 0 && (mapping->id_min || mapping->id_max))
        rc = ILR_FAIL(ILR_EFORMAT, "%s: none of its %d lines has '%s' in [%lld, %lld]", path, st.lines,
                      mapping->id ? mapping->id : "id", (long long)mapping->id_min, (long long)mapping->id_max);
    else if (!rc && out->count == 0)
        rc = ILR_FAIL(ILR_EFORMAT, "%s: all of its %d lines are on the mapping's exclusion list", path, st.lines);
    if (rc) ilr_dataset_free(out);
    return rc;
}

int ilr_dataset_parse(const char *text, size_t len, const char *path, const ilr_dataset_mapping *mapping,
                      ilr_dataset *out) {
    return parse_named(text, len, path, path, mapping, out);
}

static const char *const standard_templates[] = {
    [ILR_GOLD_PLAIN] = "prompts/tasks/math.txt",         [ILR_GOLD_GSM8K] = "prompts/tasks/math.txt",
    [ILR_GOLD_BOXED] = "prompts/tasks/math.txt",         [ILR_GOLD_LIST] = "prompts/tasks/math.txt",
    [ILR_GOLD_CODE_HUMANEVAL] = "prompts/tasks/humaneval.txt", [ILR_GOLD_CODE_MBPP] = "prompts/tasks/mbpp.txt",
};

int ilr_dataset_load_named(const char *path, const char *display, const ilr_dataset_mapping *mapping,
                           const char *template_rel, ilr_dataset *out) {
    memset(out, 0, sizeof *out);
    char *text;
    size_t len;
    int rc = ilr_file_read_all(path, &text, &len);
    if (rc) return rc;
    rc = parse_named(text, len, path, display, mapping, out);
    free(text);
    if (!rc) rc = ilr_dataset_set_template(out, template_rel ? template_rel : standard_templates[out->format]);
    if (rc) ilr_dataset_free(out);
    return rc;
}

int ilr_dataset_load(const char *path, const ilr_dataset_mapping *mapping, ilr_dataset *out) {
    return ilr_dataset_load_named(path, path, mapping, NULL, out);
}

void ilr_dataset_free(ilr_dataset *ds) {
    if (!ds) return;
    for (int i = 0; i < ds->count; i++) item_free(&ds->items[i]);
    free(ds->items), free(ds->name), free(ds->path), free(ds->template_path), free(ds->template_text);
    memset(ds, 0, sizeof *ds);
}

/* ---- prompts ---- */

int ilr_dataset_set_template(ilr_dataset *ds, const char *rel) {
    char *text, *path = dup_n(rel, strlen(rel));
    if (!path) return out_of_memory(rel);
    int rc = ilr_template_load(rel, &text);
    if (rc) return free(path), rc;
    size_t n = strlen(text);
    if (n && text[n - 1] == '\n') text[n - 1] = 0; /* a file's final newline is not part of the prompt */
    free(ds->template_path), free(ds->template_text);
    ds->template_path = path, ds->template_text = text;
    return 0;
}

int ilr_dataset_prompt(const ilr_dataset *ds, int i, char **out) {
    *out = NULL;
    if (i < 0 || i >= ds->count) return ILR_FAIL(ILR_EINVAL, "%s: no item %d (it has %d)", ds->name, i, ds->count);
    if (!ds->template_text) return ILR_FAIL(ILR_EINVAL, "%s: no prompt template set", ds->name);
    const ilr_dataset_item *it = &ds->items[i];
    ilr_template_var vars[3] = {{"question", it->question}};
    int n = 1;
    char *tests = NULL;
    if (ds->format == ILR_GOLD_CODE_HUMANEVAL) {
        vars[n++] = (ilr_template_var){"prompt", it->prompt};
        vars[n++] = (ilr_template_var){"entry_point", it->entry_point};
    } else if (ds->format == ILR_GOLD_CODE_MBPP) {
        size_t len = 1;
        for (int t = 0; t < it->num_tests; t++) len += strlen(it->test_list[t]) + 1;
        if (!(tests = malloc(len))) return out_of_memory(ds->name);
        tests[0] = 0;
        for (int t = 0, at = 0; t < it->num_tests; t++)
            at += sprintf(tests + at, "%s%s", t ? "\n" : "", it->test_list[t]);
        vars[n++] = (ilr_template_var){"tests", tests};
    }
    int rc = ilr_template_render(ds->template_text, ds->template_path, vars, n, out);
    free(tests);
    return rc;
}
