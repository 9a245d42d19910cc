/* The code in a model's completion, and the HumanEval / MBPP programs that test it.  See
 * include/ilr/code_program.h for the rules. */
#include "ilr/code_program.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ilr/error.h"

const char *ilr_code_source_name(ilr_code_source s) {
    static const char *const names[] = {"none", "text", "fenced", "fenced-python"};
    return (unsigned)s <= ILR_CODE_FENCED_PYTHON ? names[s] : "?";
}

/* ---- extraction ---- */

typedef struct {
    size_t start, end; /* the block's lines: text[start..end) */
    size_t indent;     /* blanks before the opening fence */
    size_t ticks;      /* backticks of the opening fence */
    int python;
} block;

static int is_blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

static int all_blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!is_blank(s[i]) && s[i] != '\n' && s[i] != '\f' && s[i] != '\v') return 0;
    return 1;
}

/* The number of backticks that start line[0..n) after *indent blanks (0 when fewer than three). */
static size_t fence_ticks(const char *line, size_t n, size_t *indent) {
    size_t i = 0, t = 0;
    while (i < n && (line[i] == ' ' || line[i] == '\t')) i++;
    *indent = i;
    while (i + t < n && line[i + t] == '`') t++;
    return t >= 3 ? t : 0;
}

/* An opening fence: backticks, then an info string without backticks.  Sets b's indent, ticks, python. */
static int opening_fence(const char *line, size_t n, block *b) {
    size_t ticks = fence_ticks(line, n, &b->indent);
    if (!ticks) return 0;
    const char *info = line + b->indent + ticks, *end = line + n;
    if (memchr(info, '`', (size_t)(end - info))) return 0;
    while (info < end && is_blank(*info)) info++;
    size_t w = 0;
    while (info + w < end && !is_blank(info[w])) w++;
    b->ticks = ticks;
    b->python = (w == 6 && strncasecmp(info, "python", 6) == 0) || (w == 2 && strncasecmp(info, "py", 2) == 0) ||
                (w == 7 && strncasecmp(info, "python3", 7) == 0);
    return 1;
}

/* A closing fence for b: at least b->ticks backticks and nothing else but blanks. */
static int closing_fence(const char *line, size_t n, const block *b) {
    size_t indent, ticks = fence_ticks(line, n, &indent);
    return ticks >= b->ticks && all_blank(line + indent + ticks, n - indent - ticks);
}

/* Copies the block's lines with up to b->indent leading blanks removed from each. */
static int copy_block(const char *text, const block *b, char **code, size_t *code_len) {
    char *out = malloc(b->end - b->start + 1);
    if (!out) return ILR_FAIL(ILR_ENOMEM, "code extract: out of memory (%zu bytes)", b->end - b->start);
    size_t o = 0;
    for (size_t p = b->start; p < b->end;) {
        for (size_t k = 0; k < b->indent && p < b->end && (text[p] == ' ' || text[p] == '\t'); k++) p++;
        const char *nl = memchr(text + p, '\n', b->end - p);
        size_t e = nl ? (size_t)(nl - text) + 1 : b->end;
        memcpy(out + o, text + p, e - p);
        o += e - p, p = e;
    }
    out[o] = 0;
    *code = out;
    if (code_len) *code_len = o;
    return 0;
}

int ilr_code_extract(const char *text, size_t len, char **code, size_t *code_len, ilr_code_source *source) {
    if (source) *source = ILR_CODE_NONE;
    if (code_len) *code_len = 0;
    if (!code) return ILR_FAIL(ILR_EINVAL, "ilr_code_extract: code is NULL");
    *code = NULL;
    if (!text && len) return ILR_FAIL(ILR_EINVAL, "ilr_code_extract: text is NULL");
    block cur = {0}, last_python = {0}, last_any = {0};
    int inside = 0, fences = 0, have_python = 0, have_any = 0;
    for (size_t pos = 0; pos < len;) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len, next = nl ? end + 1 : len;
        if (!inside && opening_fence(text + pos, end - pos, &cur)) inside = 1, fences++, cur.start = next;
        else if (inside && closing_fence(text + pos, end - pos, &cur)) {
            inside = 0, cur.end = pos;
            if (!all_blank(text + cur.start, cur.end - cur.start)) {
                last_any = cur, have_any = 1;
                if (cur.python) last_python = cur, have_python = 1;
            }
        }
        pos = next;
    }
    if (inside && !all_blank(text + cur.start, len - cur.start)) { /* unterminated: up to the end */
        cur.end = len;
        last_any = cur, have_any = 1;
        if (cur.python) last_python = cur, have_python = 1;
    }
    if (have_any) {
        if (source) *source = have_python ? ILR_CODE_FENCED_PYTHON : ILR_CODE_FENCED;
        return copy_block(text, have_python ? &last_python : &last_any, code, code_len);
    }
    if (fences || all_blank(text, len)) return 1;
    block whole = {.start = 0, .end = len};
    if (source) *source = ILR_CODE_TEXT;
    return copy_block(text, &whole, code, code_len);
}

/* ---- programs ---- */

typedef struct {
    const char *s;
    size_t n;
} piece;

/* Concatenates pieces into one malloc'ed NUL-terminated string. */
static int join(const piece *p, int count, char **out, size_t *out_len) {
    size_t total = 0;
    for (int i = 0; i < count; i++) {
        if (p[i].n > SIZE_MAX - 1 - total) return ILR_FAIL(ILR_EINVAL, "code program: too long");
        total += p[i].n;
    }
    char *s = malloc(total + 1);
    if (!s) return ILR_FAIL(ILR_ENOMEM, "code program: out of memory (%zu bytes)", total);
    size_t o = 0;
    for (int i = 0; i < count; i++) {
        if (p[i].n) memcpy(s + o, p[i].s, p[i].n);
        o += p[i].n;
    }
    s[o] = 0;
    *out = s;
    if (out_len) *out_len = o;
    return 0;
}

static int is_identifier(const char *s) {
    if (!s || !(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z'))) return 0;
    for (s++; *s; s++)
        if (!(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9'))) return 0;
    return 1;
}

/* Where the line "def <name>(" (blanks allowed around the name) starts in s[0..n) at column 0, or NULL. */
static const char *find_def(const char *s, size_t n, const char *name) {
    size_t k = strlen(name);
    for (size_t pos = 0; pos < n;) {
        const char *p = s + pos, *end = s + n;
        if (end - p > 4 && memcmp(p, "def", 3) == 0 && (p[3] == ' ' || p[3] == '\t')) {
            const char *q = p + 3;
            while (q < end && (*q == ' ' || *q == '\t')) q++;
            if ((size_t)(end - q) > k && memcmp(q, name, k) == 0) {
                q += k;
                while (q < end && (*q == ' ' || *q == '\t')) q++;
                if (q < end && *q == '(') return p;
            }
        }
        const char *nl = memchr(p, '\n', n - pos);
        pos = nl ? (size_t)(nl - s) + 1 : n;
    }
    return NULL;
}

/* The prompt's top-level import lines ("import ..." / "from ... import ..."), each ending in a newline. */
static int import_lines(const char *prompt, char **out, size_t *out_len) {
    size_t n = strlen(prompt), o = 0;
    char *s = malloc(n + 2);
    if (!s) return ILR_FAIL(ILR_ENOMEM, "code program: out of memory");
    for (size_t pos = 0; pos < n;) {
        const char *nl = memchr(prompt + pos, '\n', n - pos);
        size_t end = nl ? (size_t)(nl - prompt) : n;
        if (strncmp(prompt + pos, "import ", 7) == 0 || strncmp(prompt + pos, "from ", 5) == 0) {
            memcpy(s + o, prompt + pos, end - pos);
            o += end - pos;
            s[o++] = '\n';
        }
        pos = nl ? end + 1 : n;
    }
    s[o] = 0;
    *out = s;
    *out_len = o;
    return 0;
}

int ilr_code_program_humaneval(const char *prompt, const char *completion, size_t completion_len, const char *test,
                               const char *entry_point, char **program, size_t *program_len, ilr_code_source *source) {
    if (source) *source = ILR_CODE_NONE;
    if (!program) return ILR_FAIL(ILR_EINVAL, "ilr_code_program_humaneval: program is NULL");
    *program = NULL;
    if (!prompt || !test || (!completion && completion_len))
        return ILR_FAIL(ILR_EINVAL, "ilr_code_program_humaneval: NULL prompt, completion or test");
    if (!is_identifier(entry_point))
        return ILR_FAIL(ILR_EINVAL, "HumanEval program: entry point '%.64s' is not a Python identifier",
                        entry_point ? entry_point : "(null)");
    char *code = NULL, *imports = NULL, *check = NULL;
    size_t code_len = 0, imports_len = 0;
    int rc = ilr_code_extract(completion ? completion : "", completion_len, &code, &code_len, source);
    if (rc < 0) return rc;
    rc = 0; /* no code (1) still makes a program: one that fails */
    size_t check_len = strlen(entry_point) + 8;
    if (!(check = malloc(check_len + 1))) return free(code), ILR_FAIL(ILR_ENOMEM, "code program: out of memory");
    memcpy(check, "check(", 6);
    memcpy(check + 6, entry_point, check_len - 8);
    memcpy(check + check_len - 2, ")\n", 3);
    piece head = {prompt, strlen(prompt)};
    if (code && find_def(code, code_len, entry_point)) { /* the code defines the function itself */
        const char *def = find_def(prompt, head.n, entry_point);
        if (def) head.n = (size_t)(def - prompt);
        else if ((rc = import_lines(prompt, &imports, &imports_len)) == 0) head = (piece){imports, imports_len};
    }
    piece parts[] = {head, {code ? code : "", code_len}, {"\n", 1}, {test, strlen(test)}, {"\n", 1}, {check, check_len}};
    if (rc == 0) rc = join(parts, 6, program, program_len);
    free(code), free(imports), free(check);
    return rc;
}

int ilr_code_program_mbpp(const char *completion, size_t completion_len, const char *test_setup_code,
                          const char *const *test_list, int n, char **program, size_t *program_len,
                          ilr_code_source *source) {
    if (source) *source = ILR_CODE_NONE;
    if (!program) return ILR_FAIL(ILR_EINVAL, "ilr_code_program_mbpp: program is NULL");
    *program = NULL;
    if ((!completion && completion_len) || n < 0 || (n > 0 && !test_list) || n > (1 << 20))
        return ILR_FAIL(ILR_EINVAL, "ilr_code_program_mbpp: bad arguments (%d tests)", n);
    for (int i = 0; i < n; i++)
        if (!test_list[i]) return ILR_FAIL(ILR_EINVAL, "MBPP program: test %d is NULL", i);
    char *code = NULL;
    size_t code_len = 0;
    int rc = ilr_code_extract(completion ? completion : "", completion_len, &code, &code_len, source);
    if (rc < 0) return rc;
    piece *parts = malloc(sizeof(piece) * (4 + 2 * (size_t)n));
    if (!parts) return free(code), ILR_FAIL(ILR_ENOMEM, "code program: out of memory");
    const char *setup = test_setup_code ? test_setup_code : "";
    int k = 0;
    parts[k++] = (piece){code ? code : "", code_len};
    parts[k++] = (piece){"\n", 1};
    parts[k++] = (piece){setup, strlen(setup)};
    parts[k++] = (piece){"\n", 1};
    for (int i = 0; i < n; i++) {
        parts[k++] = (piece){test_list[i], strlen(test_list[i])};
        parts[k++] = (piece){"\n", 1};
    }
    rc = join(parts, k, program, program_len);
    free(parts);
    free(code);
    return rc;
}
