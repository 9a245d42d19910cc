/* Final-answer extraction from model text and gold answers from benchmark records. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ilr/error.h"
#include "ilr/math_grader.h"
#include "math_internal.h"

static int dup_range(const char *s, size_t n, char **out) {
    while (n && isspace((unsigned char)*s)) s++, n--;
    while (n && (isspace((unsigned char)s[n - 1]))) n--;
    char *p = malloc(n + 1);
    if (!p) return ILR_FAIL(ILR_ENOMEM, "math answer: out of memory (%zu bytes)", n);
    memcpy(p, s, n);
    p[n] = 0;
    *out = p;
    return 0;
}

/* Last occurrence of needle (case-insensitive when ci) in text[0..len), or NULL. */
static const char *find_last(const char *text, size_t len, const char *needle, int ci) {
    size_t n = strlen(needle);
    for (size_t i = len >= n ? len - n + 1 : 0; i-- > 0;)
        if (ci ? strncasecmp(text + i, needle, n) == 0 : memcmp(text + i, needle, n) == 0) return text + i;
    return NULL;
}

int ilr_math_braced(const char *t, size_t len, size_t i, size_t *a, size_t *b) {
    while (i < len && (t[i] == ' ' || t[i] == '\t')) i++;
    if (i >= len || t[i] != '{') return 2;
    int depth = 0;
    for (size_t q = i; q < len; q++) {
        if (t[q] == '\\' && q + 1 < len) {
            q++;
            continue;
        }
        if (t[q] == '{') depth++;
        else if (t[q] == '}' && --depth == 0) {
            *a = i + 1, *b = q;
            return 0;
        }
    }
    return 1;
}

/* The argument of \boxed / \fbox at p (just after the command); 1 if unterminated. */
static int boxed_arg(const char *p, const char *end, char **out) {
    size_t a, b;
    int rc = ilr_math_braced(p, (size_t)(end - p), 0, &a, &b);
    if (rc == 0) return dup_range(p + a, b - a, out);
    if (rc == 1) return 1;
    while (p < end && (*p == ' ' || *p == '\t')) p++;
    const char *q = p;
    while (q < end && !isspace((unsigned char)*q) && *q != '$') q++;
    return q > p ? dup_range(p, (size_t)(q - p), out) : 1;
}

static int extract_boxed(const char *text, size_t len, char **out) {
    const char *end = text + len;
    const char *b = find_last(text, len, "\\boxed", 0), *f = find_last(text, len, "\\fbox", 0);
    const char *p = b && (!f || b > f) ? b + 6 : f ? f + 5 : NULL;
    if (!p) return 1;
    return boxed_arg(p, end, out);
}

/* The rest of the line after p: up to a newline; a $..$ span when it starts with $; without a final "." */
static int rest_of_line(const char *p, const char *end, int sentence, char **out) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == ':')) p++;
    const char *q = p;
    if (p < end && *p == '$') {
        const char *d = p + 1;
        int two = d < end && *d == '$';
        if (two) d++;
        const char *c = d;
        while (c < end && *c != '$') c++;
        if (c < end) return dup_range(d, (size_t)(c - d), out);
    }
    while (q < end && *q != '\n') {
        if (sentence && *q == '.' && (q + 1 == end || isspace((unsigned char)q[1]))) break;
        q++;
    }
    size_t n = (size_t)(q - p);
    while (n && (p[n - 1] == '.' || isspace((unsigned char)p[n - 1]))) n--;
    return n ? dup_range(p, n, out) : 1;
}

static int extract_last_number(const char *text, size_t len, char **out) {
    for (size_t i = len; i-- > 0;) {
        if (!isdigit((unsigned char)text[i])) continue;
        size_t e = i + 1, s = i;
        while (s > 0 && (isdigit((unsigned char)text[s - 1]) || text[s - 1] == '.' ||
                         (text[s - 1] == ',' && s >= 2 && isdigit((unsigned char)text[s - 2]))))
            s--;
        if (s > 0 && text[s - 1] == '-') s--;
        while (s < e && (text[s] == '.' || text[s] == ',')) s++;
        char *p = malloc(e - s + 1);
        if (!p) return ILR_FAIL(ILR_ENOMEM, "math answer: out of memory");
        size_t n = 0;
        for (size_t k = s; k < e; k++)
            if (text[k] != ',') p[n++] = text[k];
        p[n] = 0;
        *out = p;
        return 0;
    }
    return 1;
}

int ilr_math_extract(const char *text, size_t len, ilr_math_extract_mode mode, char **answer) {
    if (!answer) return ILR_FAIL(ILR_EINVAL, "ilr_math_extract: answer is NULL");
    *answer = NULL;
    if (!text) return ILR_FAIL(ILR_EINVAL, "ilr_math_extract: text is NULL");
    if ((unsigned)mode > ILR_MATH_EXTRACT_AUTO) return ILR_FAIL(ILR_EINVAL, "ilr_math_extract: bad mode %d", (int)mode);
    const char *end = text + len;
    int rc;
    if (mode == ILR_MATH_EXTRACT_AUTO && (rc = ilr_math_extract_auto(text, len, answer)) <= 0) return rc;
    rc = extract_boxed(text, len, answer);
    if (rc <= 0 || mode == ILR_MATH_EXTRACT_BOXED) return rc;
    static const char *const phrases[] = {"the final answer is", "final answer:", "the answer is"};
    for (int i = 0; i < 3; i++) {
        const char *p = find_last(text, len, phrases[i], 1);
        if (p && (rc = rest_of_line(p + strlen(phrases[i]), end, 1, answer)) <= 0) return rc;
    }
    const char *p = find_last(text, len, "####", 0);
    if (p && (rc = rest_of_line(p + 4, end, 0, answer)) <= 0) return rc;
    p = find_last(text, len, "Answer:", 1);
    if (p && (rc = rest_of_line(p + 7, end, 1, answer)) <= 0) return rc;
    if (mode == ILR_MATH_EXTRACT_LAST_NUMBER) return extract_last_number(text, len, answer);
    return 1;
}

static int strip_dollars(const char *s, char *buf, size_t cap, size_t *n) {
    size_t len = strlen(s);
    while (len && isspace((unsigned char)s[len - 1])) len--;
    while (len && isspace((unsigned char)*s)) s++, len--;
    if (len >= 2 && s[0] == '$' && s[len - 1] == '$' && !memchr(s + 1, '$', len - 2)) s++, len -= 2;
    if (*n + len + 3 > cap) return ILR_FAIL(ILR_EFORMAT, "final_answer is too long");
    if (*n) buf[(*n)++] = ',', buf[(*n)++] = ' ';
    memcpy(buf + *n, s, len);
    *n += len;
    buf[*n] = 0;
    return 0;
}

int ilr_math_gold_answer(const json_t *record, const char *name, char **answer) {
    *answer = NULL;
    const json_t *v = json_object_get(record, "final_answer");
    if (json_is_array(v)) {
        char buf[8192];
        size_t n = 0;
        buf[0] = 0;
        for (size_t i = 0; i < json_array_size(v); i++) {
            const char *s = json_string_value(json_array_get(v, i));
            if (!s) return ILR_FAIL(ILR_EFORMAT, "%s: \"final_answer\"[%zu] is not a string", name, i);
            if (strip_dollars(s, buf, sizeof buf, &n)) return ilr_error_prefix("%s", name);
        }
        return dup_range(buf, n, answer);
    }
    if (!v) v = json_object_get(record, "expected_answer");
    if (!v) v = json_object_get(record, "answer");
    if (json_is_number(v)) {
        char buf[64];
        snprintf(buf, sizeof buf, "%.15g", json_number_value(v));
        return dup_range(buf, strlen(buf), answer);
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t len = json_string_length(v);
        const char *h = find_last(s, len, "####", 0);
        if (h) return rest_of_line(h + 4, s + len, 0, answer) == 0 ? 0 : ILR_FAIL(ILR_EFORMAT, "%s: empty #### answer", name);
        return dup_range(s, len, answer);
    }
    if (v) return ILR_FAIL(ILR_EFORMAT, "%s: the answer field is not a string or number", name);
    const json_t *sol = json_object_get(record, "solution");
    if (json_is_string(sol)) {
        int rc = extract_boxed(json_string_value(sol), json_string_length(sol), answer);
        if (rc <= 0) return rc;
        return ILR_FAIL(ILR_EFORMAT, "%s: \"solution\" has no \\boxed{} answer", name);
    }
    return ILR_FAIL(ILR_ENOTFOUND, "%s: no final_answer, expected_answer, answer or solution field", name);
}

int ilr_math_gold_text(const char *gold, char **answer) {
    if (!answer) return ILR_FAIL(ILR_EINVAL, "ilr_math_gold_text: answer is NULL");
    *answer = NULL;
    if (!gold) return ILR_FAIL(ILR_EINVAL, "ilr_math_gold_text: gold is NULL");
    size_t len = strlen(gold);
    if (strchr(gold, '$') || strstr(gold, "\\(") || strstr(gold, "\\[") || strstr(gold, "\\boxed") ||
        strstr(gold, "\\fbox")) {
        int rc = ilr_math_extract(gold, len, ILR_MATH_EXTRACT_AUTO, answer);
        if (rc <= 0) return rc;
    }
    return dup_range(gold, len, answer);
}
