/* Chat templates by family (see ilr/chat.h). */
#include "ilr/chat.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ilr/error.h"
#include "ilr/io.h"
#include "ilr/json.h"

typedef enum { FAMILY_QWEN3, FAMILY_QWEN25, FAMILY_CHATML, FAMILY_LLAMA3, FAMILY_FILE } family;

static const char *const family_names[] = {"qwen3", "qwen2.5", "chatml", "llama3", "file"};

struct ilr_chat_template {
    family kind;
    char *bos;
    int always_generation; /* the template appends the generation prompt unconditionally */
    /* FAMILY_FILE */
    char *system, *user, *assistant, *generation, *default_system;
    int strip;
};

static const char qwen25_default_system[] = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";

/* ---- a growing output buffer ---- */

typedef struct {
    char *data;
    size_t len, cap;
    int failed;
} outbuf;

static void put(outbuf *o, const char *s, size_t n) {
    if (o->failed) return;
    if (o->len + n + 1 > o->cap) {
        size_t cap = (o->len + n + 1) * 2;
        char *data = realloc(o->data, cap);
        if (!data) {
            o->failed = 1;
            return;
        }
        o->data = data;
        o->cap = cap;
    }
    memcpy(o->data + o->len, s, n);
    o->len += n;
    o->data[o->len] = 0;
}

static void puts_(outbuf *o, const char *s) { put(o, s, strlen(s)); }

/* Python's str.strip(chars) / lstrip / rstrip over [*s, *s + *n). */
static int in_set(char c, const char *chars) { return c && strchr(chars, c) != NULL; }
static void lstrip(const char **s, size_t *n, const char *chars) {
    while (*n && in_set(**s, chars)) (*s)++, (*n)--;
}
static void rstrip(const char **s, size_t *n, const char *chars) {
    while (*n && in_set((*s)[*n - 1], chars)) (*n)--;
}

/* ---- families ---- */

static const char *find_last(const char *hay, size_t n, const char *needle) {
    const char *last = NULL;
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(hay + i, needle, k) == 0) last = hay + i;
    return last;
}

/* Qwen3: an assistant turn after the last user query shows its reasoning in a <think> block. */
static void qwen3_assistant(outbuf *o, const ilr_chat_message *m, int after_last_query, int is_last) {
    const char *content = m->content;
    size_t n = strlen(content);
    const char *reasoning = m->reasoning_content ? m->reasoning_content : "";
    size_t reasoning_len = strlen(reasoning);
    const char *end_think = strstr(content, "</think>");
    if (end_think && !m->reasoning_content) { /* content.split('</think>')[-1].lstrip('\n'), and the reasoning before the first one */
        const char *last = find_last(content, n, "</think>");
        const char *after = last + 8;
        size_t after_len = n - (size_t)(after - content);
        lstrip(&after, &after_len, "\n");
        reasoning = content;
        reasoning_len = (size_t)(end_think - content);
        rstrip(&reasoning, &reasoning_len, "\n");
        const char *open = find_last(reasoning, reasoning_len, "<think>");
        if (open) reasoning_len -= (size_t)(open + 7 - reasoning), reasoning = open + 7;
        lstrip(&reasoning, &reasoning_len, "\n");
        content = after;
        n = after_len;
    }
    puts_(o, "<|im_start|>assistant\n");
    if (after_last_query && (is_last || reasoning_len)) {
        const char *r = reasoning;
        size_t rn = reasoning_len;
        lstrip(&r, &rn, "\n");
        rstrip(&r, &rn, "\n");
        puts_(o, "<think>\n");
        put(o, r, rn);
        puts_(o, "\n</think>\n\n");
        lstrip(&content, &n, "\n");
    }
    put(o, content, n);
    puts_(o, "<|im_end|>\n");
}

static int qwen3_last_query(const ilr_chat_message *m, int n) {
    for (int i = n - 1; i >= 0; i--) {
        const char *c = m[i].content;
        size_t len = strlen(c);
        int tool_response = strncmp(c, "<tool_response>", 15) == 0 && len >= 16 && strcmp(c + len - 16, "</tool_response>") == 0;
        if (strcmp(m[i].role, "user") == 0 && !tool_response) return i;
    }
    return n - 1;
}

static void chatml_turn(outbuf *o, const char *role, const char *content) {
    puts_(o, "<|im_start|>");
    puts_(o, role);
    puts_(o, "\n");
    puts_(o, content);
    puts_(o, "<|im_end|>\n");
}

static void render_chatml(const ilr_chat_template *t, outbuf *o, const ilr_chat_message *m, int n) {
    int first_is_system = n > 0 && strcmp(m[0].role, "system") == 0;
    if (t->kind == FAMILY_QWEN25 && !first_is_system) chatml_turn(o, "system", qwen25_default_system);
    int last_query = qwen3_last_query(m, n);
    for (int i = 0; i < n; i++) {
        if (t->kind == FAMILY_QWEN3 && strcmp(m[i].role, "assistant") == 0)
            qwen3_assistant(o, &m[i], i > last_query, i == n - 1);
        else
            chatml_turn(o, m[i].role, m[i].content);
    }
}

/* Jinja's trim: Python's str.strip() (whitespace). */
static void render_llama3(const ilr_chat_template *t, outbuf *o, const ilr_chat_message *m, int n) {
    puts_(o, t->bos);
    for (int i = 0; i < n; i++) {
        const char *c = m[i].content;
        size_t len = strlen(c);
        lstrip(&c, &len, " \t\n\r\f\v");
        rstrip(&c, &len, " \t\n\r\f\v");
        puts_(o, "<|start_header_id|>");
        puts_(o, m[i].role);
        puts_(o, "<|end_header_id|>\n\n");
        put(o, c, len);
        puts_(o, "<|eot_id|>");
    }
}

/* A file template's text with {content} replaced. */
static void put_template(outbuf *o, const char *tmpl, const char *content, int strip) {
    const char *at = strstr(tmpl, "{content}");
    if (!at) return puts_(o, tmpl);
    put(o, tmpl, (size_t)(at - tmpl));
    size_t n = strlen(content);
    if (strip) lstrip(&content, &n, " \t\n\r\f\v"), rstrip(&content, &n, " \t\n\r\f\v");
    put(o, content, n);
    puts_(o, at + 9);
}

static void render_file(const ilr_chat_template *t, outbuf *o, const ilr_chat_message *m, int n) {
    puts_(o, t->bos);
    if (t->default_system && (n == 0 || strcmp(m[0].role, "system") != 0))
        put_template(o, t->system, t->default_system, t->strip);
    for (int i = 0; i < n; i++) {
        const char *tmpl = !strcmp(m[i].role, "system") ? t->system : !strcmp(m[i].role, "user") ? t->user : t->assistant;
        put_template(o, tmpl, m[i].content, t->strip);
    }
}

int ilr_chat_render(const ilr_chat_template *t, const ilr_chat_message *m, int n, unsigned flags, char **text,
                    size_t *len) {
    for (int i = 0; i < n; i++) {
        if (!m[i].role || !m[i].content)
            return ILR_FAIL(ILR_EINVAL, "chat message %d has no %s", i, m[i].role ? "content" : "role");
        if (strcmp(m[i].role, "system") && strcmp(m[i].role, "user") && strcmp(m[i].role, "assistant"))
            return ILR_FAIL(ILR_EUNSUPPORTED, "chat message %d has role '%s' (system, user or assistant)", i, m[i].role);
    }
    outbuf o = {0};
    if (t->kind == FAMILY_LLAMA3) render_llama3(t, &o, m, n);
    else if (t->kind == FAMILY_FILE) render_file(t, &o, m, n);
    else render_chatml(t, &o, m, n);
    if ((flags & ILR_CHAT_GENERATION) || t->always_generation) {
        if (t->kind == FAMILY_LLAMA3) puts_(&o, "<|start_header_id|>assistant<|end_header_id|>\n\n");
        else if (t->kind == FAMILY_FILE) puts_(&o, t->generation ? t->generation : "");
        else puts_(&o, "<|im_start|>assistant\n");
        if (t->kind == FAMILY_QWEN3 && (flags & ILR_CHAT_NO_THINKING)) puts_(&o, "<think>\n\n</think>\n\n");
    }
    puts_(&o, ""); /* an empty conversation still gets a buffer */
    if (o.failed) {
        free(o.data);
        return ILR_FAIL(ILR_ENOMEM, "chat template: out of memory");
    }
    *text = o.data;
    *len = o.len;
    return 0;
}

/* ---- loading ---- */

static const char unknown_template[] =
    "%s: chat_template is not one ilr recognises (Qwen3, Qwen2.5, ChatML or Llama-3); write its format in "
    "ilr's template file format and pass --chat-template FILE (see ilr_chat_template_parse_file in "
    "include/ilr/chat.h, or README)";

int ilr_chat_template_from_jinja(ilr_chat_template **out, const char *jinja, const char *bos_token, const char *name) {
    *out = NULL;
    family kind;
    if (strstr(jinja, "<|im_start|>"))
        kind = strstr(jinja, "reasoning_content") ? FAMILY_QWEN3
               : strstr(jinja, qwen25_default_system) ? FAMILY_QWEN25 : FAMILY_CHATML;
    else if (strstr(jinja, "<|start_header_id|>") && !strstr(jinja, "Cutting Knowledge Date"))
        kind = FAMILY_LLAMA3;
    else
        return ILR_FAIL(ILR_EUNSUPPORTED, unknown_template, name);
    ilr_chat_template *t = calloc(1, sizeof *t);
    if (!t || !(t->bos = strdup(kind == FAMILY_LLAMA3 && bos_token ? bos_token : ""))) {
        free(t);
        return ILR_FAIL(ILR_ENOMEM, "out of memory");
    }
    t->kind = kind;
    t->always_generation = strstr(jinja, "add_generation_prompt") == NULL;
    *out = t;
    return 0;
}

/* bos_token in tokenizer_config.json: a string, {"content": ...} or null. */
static const char *token_text(const json_t *v) {
    if (json_is_object(v)) v = json_object_get(v, "content");
    return json_string_value(v);
}

int ilr_chat_template_load(ilr_chat_template **out, const char *dir) {
    char path[4096];
    json_t *config = NULL;
    *out = NULL;
    int rc = ilr_path_join(path, sizeof path, dir, "tokenizer_config.json");
    if (!rc) rc = ilr_json_load_file_flags(path, JSON_DECODE_INT_AS_REAL, &config);
    if (rc) return rc;
    const json_t *tmpl = json_object_get(config, "chat_template");
    if (json_is_array(tmpl)) { /* [{"name": "default", "template": ...}, ...] */
        size_t i;
        json_t *item;
        const json_t *chosen = NULL;
        json_array_foreach(tmpl, i, item) if (!chosen || !strcmp(json_string_value(json_object_get(item, "name")), "default"))
            chosen = json_object_get(item, "template");
        tmpl = chosen;
    }
    if (!json_is_string(tmpl))
        rc = ILR_FAIL(ILR_ENOTFOUND, "%s: no chat_template; pass --chat-template FILE", path);
    else
        rc = ilr_chat_template_from_jinja(out, json_string_value(tmpl), token_text(json_object_get(config, "bos_token")), path);
    json_decref(config);
    return rc;
}

/* Undoes \n, \t and \\ in place. */
static void unescape(char *s) {
    char *o = s;
    for (; *s; s++) {
        if (*s == '\\' && (s[1] == 'n' || s[1] == 't' || s[1] == '\\')) {
            s++;
            *o++ = *s == 'n' ? '\n' : *s == 't' ? '\t' : '\\';
        } else {
            *o++ = *s;
        }
    }
    *o = 0;
}

static int set_directive(ilr_chat_template *t, const char *key, const char *value, const char *where) {
    char **slot = !strcmp(key, "bos") ? &t->bos : !strcmp(key, "system") ? &t->system : !strcmp(key, "user") ? &t->user
                : !strcmp(key, "assistant") ? &t->assistant : !strcmp(key, "generation") ? &t->generation
                : !strcmp(key, "default_system") ? &t->default_system : NULL;
    if (!strcmp(key, "strip")) return t->strip = !strcmp(value, "yes"), 0;
    if (!slot) return ILR_FAIL(ILR_EFORMAT, "%s: unknown directive '%s'", where, key);
    free(*slot);
    *slot = strdup(value);
    if (!*slot) return ILR_FAIL(ILR_ENOMEM, "out of memory");
    unescape(*slot);
    return 0;
}

int ilr_chat_template_parse(ilr_chat_template **out, const char *source, size_t source_len, const char *name) {
    *out = NULL;
    char *text = malloc(source_len + 1);
    ilr_chat_template *t = calloc(1, sizeof *t);
    if (!text || !t) return free(text), free(t), ILR_FAIL(ILR_ENOMEM, "out of memory");
    memcpy(text, source, source_len);
    text[source_len] = 0;
    t->kind = FAMILY_FILE;
    int rc = 0, line = 0;
    for (char *l = text, *next; l && !rc; l = next) {
        next = strchr(l, '\n');
        if (next) *next++ = 0;
        line++;
        if (l[0] == '#' || l[strspn(l, " \t\r")] == 0) continue;
        if (strlen(l) != (size_t)(next ? next - 1 - l : (text + source_len) - l)) {
            rc = ILR_FAIL(ILR_EFORMAT, "%s:%d: a NUL byte in the line", name, line);
            break;
        }
        char *colon = strchr(l, ':'), where[4200];
        snprintf(where, sizeof where, "%s:%d", name, line);
        if (!colon) {
            rc = ILR_FAIL(ILR_EFORMAT, "%s: expected 'directive: text'", where);
            break;
        }
        *colon = 0;
        char *value = colon + 1 + (colon[1] == ' ');
        value[strcspn(value, "\r")] = 0;
        rc = set_directive(t, l, value, where);
    }
    free(text);
    if (!rc && (!t->system || !t->user || !t->assistant))
        rc = ILR_FAIL(ILR_EFORMAT, "%s: a template needs system, user and assistant lines", name);
    if (!rc && !t->bos && !(t->bos = strdup(""))) rc = ILR_FAIL(ILR_ENOMEM, "out of memory");
    if (rc) {
        ilr_chat_template_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

int ilr_chat_template_parse_file(ilr_chat_template **out, const char *path) {
    char *text;
    size_t len;
    *out = NULL;
    int rc = ilr_file_read_all(path, &text, &len);
    if (rc) return rc;
    rc = ilr_chat_template_parse(out, text, len, path);
    free(text);
    return rc;
}

void ilr_chat_template_free(ilr_chat_template *t) {
    if (!t) return;
    free(t->bos), free(t->system), free(t->user), free(t->assistant), free(t->generation), free(t->default_system);
    free(t);
}

const char *ilr_chat_template_family(const ilr_chat_template *t) { return family_names[t->kind]; }
