/* ILR_MATH_EXTRACT_AUTO: the final answer of free text with Math-Verify's precedence (see math_grader.h),
 * written from its documented rules, not its code.  The text is scanned once for math environments, \boxed
 * groups and plain numbers / arithmetic; each rule below then picks the rightmost candidate it allows. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ilr/error.h"
#include "ilr/math_grader.h"
#include "math_internal.h"

typedef struct {
    size_t start, end;   /* the whole candidate, delimiters and a percent suffix included */
    size_t cs, ce;       /* its content */
    int percent;         /* followed by %, \%, percent, percentage or pct */
    int form;            /* a number's form (NUMBER_*) */
} span;

typedef struct {
    span *v;
    size_t n, cap;
} span_list;

typedef struct {
    const char *t;
    size_t len;
    span_list envs, numbers;
} scan;

static int push(span_list *l, span s) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        span *v = realloc(l->v, cap * sizeof *v);
        if (!v) return ILR_FAIL(ILR_ENOMEM, "math answer: out of memory");
        l->v = v, l->cap = cap;
    }
    l->v[l->n++] = s;
    return 0;
}

static int escaped(const char *t, size_t i) {
    size_t k = 0;
    while (k < i && t[i - 1 - k] == '\\') k++;
    return k & 1;
}

/* A percent suffix at t[i..): returns its length (spaces included), or 0. */
static size_t percent_suffix(const char *t, size_t len, size_t i) {
    size_t j = i;
    while (j < len && (t[j] == ' ' || t[j] == '\t')) j++;
    if (j < len && t[j] == '%') return j + 1 - i;
    if (j + 1 < len && t[j] == '\\' && t[j + 1] == '%') return j + 2 - i;
    static const char *const words[] = {"percentage", "percent", "pct"};
    for (int w = 0; w < 3; w++) {
        size_t n = strlen(words[w]);
        if (j + n <= len && strncasecmp(t + j, words[w], n) == 0 && (j + n == len || !isalpha((unsigned char)t[j + n])))
            return j + n - i;
    }
    return 0;
}

/* Finds the closing delimiter close (not escaped) from i; with inline set, not across a newline. */
static size_t find_close(const char *t, size_t len, size_t i, const char *close, int inline_env) {
    size_t n = strlen(close);
    for (size_t j = i; j + n <= len; j++) {
        if (inline_env && t[j] == '\n') return (size_t)-1;
        if (memcmp(t + j, close, n) == 0 && !escaped(t, j)) return j;
    }
    return (size_t)-1;
}

/* A fraction of plain numbers outside math, "\frac{10}{9}" or "-\frac{1}{2}", at t[i] (the backslash): the
 * length from i, or 0. */
static size_t plain_fraction(const char *t, size_t len, size_t i) {
    if (i + 6 > len || memcmp(t + i, "\\frac{", 6) != 0) return 0;
    size_t j = i + 5;
    for (int arg = 0; arg < 2; arg++) {
        if (j >= len || t[j] != '{') return 0;
        size_t k = j + 1;
        if (k < len && t[k] == '-') k++;
        size_t d = k;
        while (k < len && (isdigit((unsigned char)t[k]) || ((t[k] == '.' || t[k] == ',') && k > d))) k++;
        if (k == d || k >= len || t[k] != '}') return 0;
        j = k + 1;
    }
    return j - i;
}

/* Math environments, left to right, not overlapping: $$..$$ and \[..\] (across lines), $..$ (not opened right
 * after a digit, so "99$" is a price) and \(..\) (one line each); and a plain-number fraction outside them. */
static int scan_envs(scan *s) {
    const char *t = s->t;
    size_t len = s->len;
    /* a display closer not found from some point is not found from any later one: no quadratic rescans */
    size_t no_dollars_from = (size_t)-1, no_bracket_from = (size_t)-1;
    for (size_t i = 0; i < len;) {
        size_t cs = 0, ce = (size_t)-1, after = 0;
        if (t[i] == '$' && !escaped(t, i)) {
            if (i + 1 < len && t[i + 1] == '$') {
                cs = i + 2;
                ce = cs >= no_dollars_from ? (size_t)-1 : find_close(t, len, cs, "$$", 0);
                if (ce == (size_t)-1 && cs < no_dollars_from) no_dollars_from = cs;
                after = 2;
            } else if (!(i > 0 && isdigit((unsigned char)t[i - 1]))) {
                cs = i + 1;
                ce = find_close(t, len, cs, "$", 1);
                after = 1;
            }
        } else if (t[i] == '\\' && i + 1 < len && (t[i + 1] == '[' || t[i + 1] == '(') && !escaped(t, i)) {
            cs = i + 2;
            if (t[i + 1] == '[') {
                ce = cs >= no_bracket_from ? (size_t)-1 : find_close(t, len, cs, "\\]", 0);
                if (ce == (size_t)-1 && cs < no_bracket_from) no_bracket_from = cs;
            } else ce = find_close(t, len, cs, "\\)", 1);
            after = 2;
        }
        size_t frac = !after && t[i] == '\\' ? plain_fraction(t, len, i) : 0;
        if (frac) {
            size_t st = i > 0 && t[i - 1] == '-' ? i - 1 : i;
            span fs = {.start = st, .cs = st, .ce = i + frac, .end = i + frac};
            int rc = push(&s->envs, fs);
            if (rc) return rc;
            i += frac;
            continue;
        }
        if (ce == (size_t)-1 || ce == cs) {
            i += (after && ce == cs) ? 2 * after : 1;
            continue;
        }
        span sp = {.start = i, .cs = cs, .ce = ce, .end = ce + after};
        size_t p = percent_suffix(t, len, sp.end);
        sp.percent = p > 0, sp.end += p;
        int rc = push(&s->envs, sp);
        if (rc) return rc;
        i = sp.end;
    }
    return 0;
}

static int utf8_is(const char *t, size_t len, size_t i, const char *sym) {
    size_t n = strlen(sym);
    return i + n <= len && memcmp(t + i, sym, n) == 0 ? (int)n : 0;
}

/* A currency sign at t[i..): its length, or 0. */
static size_t currency(const char *t, size_t len, size_t i) {
    static const char *const signs[] = {"$", "\xe2\x82\xac", "\xc2\xa3", "\xc2\xa5", "\xe2\x82\xb9"}; /* $ € £ ¥ ₹ */
    for (int k = 0; k < 5; k++) {
        int n = utf8_is(t, len, i, signs[k]);
        if (n) return (size_t)n;
    }
    return 0;
}

/* An arithmetic operator at t[i..) (+ - * / ^ and UTF-8 × ÷): its length, or 0. */
static size_t arith_op(const char *t, size_t len, size_t i) {
    if (strchr("+-*/^", t[i])) return 1;
    int n = utf8_is(t, len, i, "\xc3\x97");
    if (!n) n = utf8_is(t, len, i, "\xc3\xb7");
    return (size_t)n;
}

/* A plain number at t[i..) in one of Math-Verify's number forms: NUMBER_THOUSANDS (1,234 or 1 234, optional
 * decimals), NUMBER_DECIMAL (a point or a comma: 2,74 is 2.74, and so is 0,111), .5, an integer.  Returns its
 * length, or 0, with *form set. */
enum { NUMBER_PLAIN = 0, NUMBER_THOUSANDS, NUMBER_DECIMAL };
static size_t plain_number(const char *t, size_t len, size_t i, int *form) {
    size_t j = i;
    *form = NUMBER_PLAIN;
    if (j < len && t[j] == '-') j++;
    if (j < len && t[j] >= '1' && t[j] <= '9') {
        size_t k = j;
        while (k < len && k - j < 3 && isdigit((unsigned char)t[k])) k++;
        size_t groups = 0;
        while (k + 3 < len && (t[k] == ',' || t[k] == ' ') && isdigit((unsigned char)t[k + 1]) &&
               isdigit((unsigned char)t[k + 2]) && isdigit((unsigned char)t[k + 3]) &&
               (k + 4 == len || !isdigit((unsigned char)t[k + 4])))
            k += 4, groups++;
        if (groups && (k >= len || !isdigit((unsigned char)t[k]))) {
            if (k + 1 < len && t[k] == '.' && isdigit((unsigned char)t[k + 1]))
                for (k++; k < len && isdigit((unsigned char)t[k]);) k++;
            *form = NUMBER_THOUSANDS;
            return k - i;
        }
    }
    if (j < len && isdigit((unsigned char)t[j])) {
        size_t k = j;
        while (k < len && isdigit((unsigned char)t[k])) k++;
        if (k + 1 < len && (t[k] == '.' || t[k] == ',') && isdigit((unsigned char)t[k + 1])) {
            for (k++; k < len && isdigit((unsigned char)t[k]);) k++;
            *form = NUMBER_DECIMAL;
        }
        return k - i;
    }
    if (j == i && j + 1 < len && t[j] == '.' && isdigit((unsigned char)t[j + 1])) {
        size_t k = j + 1;
        while (k < len && isdigit((unsigned char)t[k])) k++;
        return k - i;
    }
    return 0;
}

/* Arithmetic at t[i..): digits, spaces, . ( ) and operators with at least one operator after the first digit,
 * ending in a digit or ')' and followed by a stop (. , : space ) $ or the end), at most 256 bytes.  Returns its
 * length, or 0. */
static size_t plain_arithmetic(const char *t, size_t len, size_t i) {
    size_t j = i;
    if (j < len && t[j] == '-') j++;
    if (j < len && t[j] == '(') j++;
    if (j < len && t[j] == '-') j++;
    if (j >= len || !isdigit((unsigned char)t[j])) return 0;
    size_t k = j, last_good = 0, op_seen = 0;
    while (k < len && k - j < 256) { /* an answer is short; long runs of digits and spaces stay linear */
        size_t op = arith_op(t, len, k);
        if (op) {
            op_seen = 1, k += op;
            continue;
        }
        char c = t[k];
        if (!(isdigit((unsigned char)c) || c == '.' || c == ' ' || c == '(' || c == ')')) break;
        if ((isdigit((unsigned char)c) || c == ')') && op_seen) last_good = k + 1;
        k++;
    }
    if (!last_good) return 0;
    char stop = last_good < len ? t[last_good] : 0;
    if (stop && !strchr(".,: \t\n)$", stop)) return 0;
    return last_good - i;
}

/* Plain numbers and arithmetic, left to right, not overlapping, each starting at the text's start, after
 * white space or '=' (optionally then "**" and a currency sign), so "XDY2K" holds no number. */
static int scan_numbers(scan *s) {
    const char *t = s->t;
    size_t len = s->len;
    for (size_t i = 0; i < len;) {
        int anchored = i == 0 || isspace((unsigned char)t[i - 1]) || t[i - 1] == '=';
        size_t j = i;
        if (anchored && j + 1 < len && t[j] == '*' && t[j + 1] == '*') j += 2;
        if (!anchored) {
            i++;
            continue;
        }
        j += currency(t, len, j);
        int form;
        size_t a = plain_arithmetic(t, len, j), n = plain_number(t, len, j, &form);
        size_t take = a > n ? a : n;
        if (!take) {
            i++;
            continue;
        }
        span sp = {.start = i, .cs = j, .ce = j + take, .end = j + take, .form = a > n ? NUMBER_PLAIN : form};
        if (a <= n) {
            size_t p = percent_suffix(t, len, sp.end);
            sp.percent = p > 0, sp.end += p;
        }
        int rc = push(&s->numbers, sp);
        if (rc) return rc;
        i = sp.end > i ? sp.end : i + 1;
    }
    return 0;
}

/* ---- building the answer text ---- */

typedef struct {
    char *buf;
    size_t n, cap;
} text_buf;

static int put(text_buf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t cap = (b->n + n + 1) * 2;
        char *p = realloc(b->buf, cap);
        if (!p) return ILR_FAIL(ILR_ENOMEM, "math answer: out of memory");
        b->buf = p, b->cap = cap;
    }
    memcpy(b->buf + b->n, s, n);
    b->n += n;
    b->buf[b->n] = 0;
    return 0;
}

static void trim(const char *t, size_t *a, size_t *b) {
    while (*a < *b && isspace((unsigned char)t[*a])) (*a)++;
    while (*b > *a && isspace((unsigned char)t[*b - 1])) (*b)--;
}

/* An environment's content: when it chains three or more sides with '=' (and holds no ',' or ';'), the last
 * side ("$x = 2 + 3 = 5$" answers 5); a chain of two ("k = 1/3") stays whole for the equality's name rule. */
static void last_side(const char *t, size_t *a, size_t *b) {
    size_t eqs = 0, last = 0;
    for (size_t i = *a; i < *b; i++) {
        if (t[i] == ',' || t[i] == ';') return;
        if (t[i] == '=' && !(i > *a && strchr("\\<>!", t[i - 1]))) eqs++, last = i;
    }
    if (eqs >= 2) *a = last + 1;
}

/* A number as the grader reads it: thousands separators dropped, a decimal comma made a point. */
static int put_number(text_buf *b, const char *t, const span *sp) {
    int rc = 0;
    for (size_t i = sp->cs; i < sp->ce && !rc; i++) {
        char c = t[i];
        if (sp->form == NUMBER_THOUSANDS && (c == ',' || c == ' ')) continue;
        if (sp->form == NUMBER_DECIMAL && c == ',') c = '.';
        rc = put(b, &c, 1);
    }
    return rc;
}

static int put_env(text_buf *b, const char *t, const span *sp) {
    size_t a = sp->cs, e = sp->ce;
    trim(t, &a, &e);
    last_side(t, &a, &e);
    trim(t, &a, &e);
    return put(b, t + a, e - a);
}

/* Environments joined by ", ", "and", "or" (Oxford comma allowed) into one answer: the index of the first
 * environment of the group that ends with env k. */
static size_t group_start(const scan *s, size_t k) {
    size_t g = k;
    while (g > 0 && k - g < 5) {
        size_t a = s->envs.v[g - 1].end, e = s->envs.v[g].start;
        trim(s->t, &a, &e);
        if (a < e && s->t[a] == ',') a++;
        while (a < e && isspace((unsigned char)s->t[a])) a++;
        size_t rest = e - a;
        if (!(rest == 0 || (rest == 3 && strncasecmp(s->t + a, "and", 3) == 0) ||
              (rest == 2 && strncasecmp(s->t + a, "or", 2) == 0)))
            break;
        g--;
    }
    return g;
}

static int env_group_text(const scan *s, size_t first, size_t last, char **out) {
    text_buf b = {0};
    int rc = 0;
    for (size_t k = first; k <= last && !rc; k++) {
        if (k > first) rc = put(&b, ", ", 2);
        if (!rc) rc = put_env(&b, s->t, &s->envs.v[k]);
        if (!rc && s->envs.v[k].percent) rc = put(&b, "\\%", 2);
    }
    if (rc) return free(b.buf), rc;
    *out = b.buf ? b.buf : strdup("");
    return *out ? 0 : ILR_FAIL(ILR_ENOMEM, "math answer: out of memory");
}

static int number_text(const scan *s, const span *sp, char **out) {
    text_buf b = {0};
    int rc = put_number(&b, s->t, sp);
    if (!rc && sp->percent) rc = put(&b, "\\%", 2);
    if (rc) return free(b.buf), rc;
    *out = b.buf;
    return 0;
}

/* ---- \boxed groups ---- */

/* The braced argument of the \boxed / \fbox whose command starts at p: 0 with [*a, *b), else non-zero. */
static int boxed_range(const char *t, size_t len, size_t p, size_t *a, size_t *b) {
    return ilr_math_braced(t, len, p + (t[p + 1] == 'b' ? 6 : 5), a, b);
}

static int is_box_at(const char *t, size_t len, size_t i) {
    return (i + 6 <= len && memcmp(t + i, "\\boxed", 6) == 0) || (i + 5 <= len && memcmp(t + i, "\\fbox", 5) == 0);
}

/* The last \boxed{} answer, ending at *end.  Other \boxed{} answers join it as a list, repeats counted once:
 * when it lies in a math environment, those of that environment and of the environments joined to it by ",",
 * "and", "or" ("$\boxed{2}, \boxed{3}$", "\(\boxed{1}\) and \(\boxed{-2}\)"); else those on its line
 * ("\boxed{1} and \boxed{2}").  Returns 0, 1 when there is none, or a negative ILR_E*. */
static int boxed_group(const scan *s, char **out, size_t *end) {
    const char *t = s->t;
    size_t len = s->len, last = (size_t)-1, a = 0, b = 0;
    for (size_t i = len; i-- > 0;)
        if (t[i] == '\\' && is_box_at(t, len, i) && boxed_range(t, len, i, &a, &b) == 0) {
            last = i;
            break;
        }
    if (last == (size_t)-1) return 1;
    size_t from = last, to = b + 1;
    while (from > 0 && t[from - 1] != '\n') from--;
    for (size_t k = 0; k < s->envs.n; k++)
        if (s->envs.v[k].cs <= last && last < s->envs.v[k].ce) {
            size_t g = group_start(s, k), e = k;
            while (e + 1 < s->envs.n && group_start(s, e + 1) <= k) e++;
            from = s->envs.v[g].cs, to = s->envs.v[e].ce;
        }
    enum { MAX_BOXES = ILR_MATH_MAX_ITEMS };
    size_t box_a[MAX_BOXES], box_b[MAX_BOXES], boxes = 0;
    for (size_t i = from; i < to && boxes < MAX_BOXES; i++) {
        size_t x, y;
        if (t[i] != '\\' || !is_box_at(t, len, i) || boxed_range(t, len, i, &x, &y)) continue;
        i = y;
        trim(t, &x, &y);
        int repeat = 0;
        for (size_t k = 0; k < boxes && !repeat; k++)
            repeat = box_b[k] - box_a[k] == y - x && memcmp(t + box_a[k], t + x, y - x) == 0;
        if (!repeat) box_a[boxes] = x, box_b[boxes] = y, boxes++;
    }
    text_buf joined = {0};
    int rc = 0;
    for (size_t k = 0; k < boxes && !rc; k++) {
        if (k) rc = put(&joined, ", ", 2);
        if (!rc) rc = put(&joined, t + box_a[k], box_b[k] - box_a[k]);
    }
    if (rc) return free(joined.buf), rc;
    *out = joined.buf ? joined.buf : strdup("");
    *end = to;
    return *out ? 0 : ILR_FAIL(ILR_ENOMEM, "math answer: out of memory");
}

/* ---- rules ---- */

/* The first environment group or number that starts in t[from, from + window) (a window over one line for
 * numbers, as a '.' does not cross lines): 0 with *out and *end, 1 when none. */
static int first_after(const scan *s, size_t from, size_t window, char **out, size_t *end) {
    size_t limit = from + window;
    for (size_t k = 0; k < s->envs.n; k++) {
        const span *e = &s->envs.v[k];
        if (e->start < from) continue;
        if (e->start > limit) break;
        size_t last = k;
        while (last + 1 < s->envs.n && group_start(s, last + 1) <= k) last++;
        /* a number before the environment wins */
        for (size_t m = 0; m < s->numbers.n; m++) {
            const span *n = &s->numbers.v[m];
            if (n->start >= from && n->end <= e->start && !memchr(s->t + from, '\n', n->start - from)) {
                *end = n->end;
                return number_text(s, n, out);
            }
        }
        *end = s->envs.v[last].end;
        return env_group_text(s, k, last, out);
    }
    for (size_t m = 0; m < s->numbers.n; m++) {
        const span *n = &s->numbers.v[m];
        if (n->start < from) continue;
        if (n->start > limit || memchr(s->t + from, '\n', n->start - from)) break;
        *end = n->end;
        return number_text(s, n, out);
    }
    return 1;
}

/* The rightmost "PHRASE ... answer" candidate: phrase found case-insensitively, the answer within window
 * bytes after it.  Fills *out / *end when its end is past *end. */
static int phrase_rule(const scan *s, const char *phrase, size_t window, int needs_is, char **out, size_t *end) {
    size_t n = strlen(phrase);
    for (size_t i = s->len >= n ? s->len - n + 1 : 0; i-- > 0;) {
        if (strncasecmp(s->t + i, phrase, n) != 0) continue;
        size_t from = i + n;
        if (needs_is) { /* "final answer ... is" within 100 bytes of one line */
            size_t j = from, found = 0;
            for (; j + 3 <= s->len && j < from + 100 && s->t[j] != '\n'; j++)
                if (isspace((unsigned char)s->t[j]) && strncasecmp(s->t + j + 1, "is", 2) == 0 &&
                    (j + 3 == s->len || !isalpha((unsigned char)s->t[j + 3]))) {
                    found = j + 3;
                    break;
                }
            if (!found) continue;
            from = found;
        }
        char *got = NULL;
        size_t got_end = 0;
        int rc = first_after(s, from, window, &got, &got_end);
        if (rc < 0) return rc;
        if (rc == 0) {
            if (got_end > *end || !*out) {
                free(*out);
                *out = got, *end = got_end;
            } else free(got);
            return 0;
        }
    }
    return 1;
}

int ilr_math_extract_auto(const char *text, size_t len, char **answer) {
    scan s = {.t = text, .len = len};
    int rc = scan_envs(&s);
    if (!rc) rc = scan_numbers(&s);
    char *best = NULL;
    size_t best_end = 0;
    if (!rc) { /* 1: the last \boxed group or "final answer ... is X", whichever ends later */
        char *boxed = NULL;
        size_t boxed_end = 0;
        rc = boxed_group(&s, &boxed, &boxed_end);
        if (rc == 0) best = boxed, best_end = boxed_end;
        if (rc >= 0) rc = phrase_rule(&s, "final answer", 100, 1, &best, &best_end);
        if (rc > 0) rc = 0;
    }
    /* 2 and 3: "answer:" then "answer", each followed within 50 bytes by math or a number */
    if (!rc && !best) rc = phrase_rule(&s, "answer:", 50, 0, &best, &best_end);
    if (rc > 0) rc = 0;
    if (!rc && !best) rc = phrase_rule(&s, "answer", 50, 0, &best, &best_end);
    if (rc > 0) rc = 0;
    if (!rc && !best) { /* 4: the last environment group or plain number, whichever ends later */
        size_t env_end = s.envs.n ? s.envs.v[s.envs.n - 1].end : 0;
        size_t num_end = s.numbers.n ? s.numbers.v[s.numbers.n - 1].end : 0;
        if (s.envs.n && env_end >= num_end)
            rc = env_group_text(&s, group_start(&s, s.envs.n - 1), s.envs.n - 1, &best);
        else if (s.numbers.n) rc = number_text(&s, &s.numbers.v[s.numbers.n - 1], &best);
    }
    free(s.envs.v);
    free(s.numbers.v);
    if (rc < 0) return free(best), rc;
    *answer = best;
    return best ? 0 : 1;
}
