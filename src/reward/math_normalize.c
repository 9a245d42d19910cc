/* String normalisation of math answers (see include/ilr/math_grader.h for the list of rules).  Every pass
 * but the last writes no more bytes than it reads; the last may add a leading zero (".5" -> "0.5") when
 * cap has room for it. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "ilr/error.h"
#include "ilr/math_grader.h"
#include "math_internal.h"

typedef struct {
    char *p;
    size_t n, cap;
} sbuf;

static void put(sbuf *b, char c) {
    if (b->n + 1 < b->cap) b->p[b->n++] = c;
}
static void puts_n(sbuf *b, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) put(b, s[i]);
}

/* Length of the control word at s (s[0] == '\\'): letters after the backslash, or 1 symbol. */
static size_t command_len(const char *s, const char *end) {
    const char *q = s + 1;
    if (q >= end) return 1;
    if (!isalpha((unsigned char)*q)) return 2;
    while (q < end && isalpha((unsigned char)*q)) q++;
    return (size_t)(q - s);
}

/* Index just past the brace group starting at s ('{'), or NULL when unbalanced. */
static const char *group_end(const char *s, const char *end) {
    int depth = 0;
    for (const char *q = s; q < end; q++) {
        if (*q == '\\' && q + 1 < end) {
            q++;
            continue;
        }
        if (*q == '{') depth++;
        else if (*q == '}' && --depth == 0) return q + 1;
    }
    return NULL;
}

static int is_word(const char *s, size_t n, const char *w) { return strlen(w) == n && memcmp(s, w, n) == 0; }

static int last_is_value(const sbuf *b) {
    size_t n = b->n;
    while (n && b->p[n - 1] == ' ') n--;
    if (!n) return 0;
    char c = b->p[n - 1];
    return c != ',' && c != '(' && c != '{' && c != '=';
}

static void pass_commands(sbuf *b, const char *s, const char *end, int depth);

/* \text{..} and friends at s (the group at g): units after a value are dropped, " and " becomes ",". */
static const char *unwrap_text(sbuf *b, const char *g, const char *end, int depth) {
    const char *ge = group_end(g, end);
    if (!ge) return g; /* unbalanced: the brace is copied as it is */
    const char *c = g + 1, *ce = ge - 1;
    while (c < ce && isspace((unsigned char)*c)) c++;
    while (ce > c && isspace((unsigned char)ce[-1])) ce--;
    int letters = c < ce;
    for (const char *q = c; q < ce; q++)
        if (!isalpha((unsigned char)*q) && *q != ' ' && *q != '.' && *q != '~' && *q != '\\') letters = 0;
    if (is_word(c, (size_t)(ce - c), "and") || is_word(c, (size_t)(ce - c), "or")) {
        put(b, ',');
        return ge;
    }
    if (letters && last_is_value(b)) {
        if (ge < end && *ge == '^') { /* \text{cm}^2 */
            if (ge + 1 < end && isdigit((unsigned char)ge[1])) return ge + 2;
            if (ge + 1 < end && ge[1] == '{') {
                const char *e2 = group_end(ge + 1, end);
                if (e2) return e2;
            }
        }
        return ge;
    }
    put(b, ' ');
    pass_commands(b, g + 1, ge - 1, depth + 1);
    put(b, ' ');
    return ge;
}

static const char *const dropped[] = {"\\left", "\\right", "\\bigl", "\\bigr", "\\big", "\\Bigl", "\\Bigr", "\\Big",
                                      "\\displaystyle", "\\!", "\\$", "\\degree", "\\circ", "\\(", "\\)", "\\[",
                                      "\\]", "\\limits", "\\nolimits"};
static const char *const spaces[] = {"\\quad", "\\qquad", "\\,", "\\;", "\\:", "\\ ", "\\>"};
static const char *const renamed[][2] = {{"\\dfrac", "\\frac"}, {"\\tfrac", "\\frac"},   {"\\dbinom", "\\binom"},
                                         {"\\tbinom", "\\binom"}, {"\\geqslant", ">="},   {"\\leqslant", "<="},
                                         {"\\geq", ">="},         {"\\leq", "<="},      {"\\%", "%"},
                                         {"\\lbrace", "\\{"},     {"\\rbrace", "\\}"},    {"\\neq", "!="},
                                         {"\\to", "\\rightarrow"}, {"\\cfrac", "\\frac"},  {"\\lt", "<"},
                                         {"\\gt", ">"},          {"\\ge", ">="},        {"\\le", "<="},
                                         {"\\ne", "!="},        {"\\emptyset", "\\{\\}"}};
static const char *const text_cmds[] = {"\\text", "\\textbf", "\\mathrm", "\\mbox", "\\textrm", "\\mathbf",
                                        "\\textit", "\\mathit", "\\textnormal", "\\mathsf", "\\boxed", "\\fbox"};

/* Commands that an escaped string may carry with a doubled backslash ("\\\\frac" for "\\frac"): read as one
 * backslash.  Only these, since "\\\\" is also a matrix row break ("1 \\\\ x"). */
static const char *const doubled_ok[] = {"left",  "right", "frac", "dfrac", "tfrac", "cfrac", "sqrt",  "le",
                                         "leq",   "ge",    "geq",  "lt",    "gt",    "ne",    "neq",   "boxed",
                                         "text",  "pi",    "cdot", "times", "infty", "in",    "cup",   "pm",
                                         "approx", "mathrm", "mathbf", "begin", "end", "circ",  "sin",   "cos"};

static int doubled_command(const char *s, const char *end) {
    if (end - s < 3 || s[0] != '\\' || s[1] != '\\' || !isalpha((unsigned char)s[2])) return 0;
    size_t n = command_len(s + 1, end) - 1;
    for (size_t i = 0; i < sizeof doubled_ok / sizeof *doubled_ok; i++)
        if (is_word(s + 2, n, doubled_ok[i])) return 1;
    return 0;
}

static void pass_commands(sbuf *b, const char *s, const char *end, int depth) {
    while (s < end) {
        char c = *s;
        if (c == '\\' && doubled_command(s, end)) s++;
        if (c == '\\') {
            size_t n = command_len(s, end);
            size_t i;
            int done = 0;
            for (i = 0; !done && i < sizeof dropped / sizeof *dropped; i++)
                if (is_word(s, n, dropped[i])) {
                    s += n;
                    if ((i == 0 || i == 1) && s < end && *s == '.') s++; /* \left. \right. */
                    if (!strcmp(dropped[i], "\\!"))
                        while (s < end && *s == ' ') s++; /* "11,\! 111" is 11111 */
                    done = 1;
                }
            for (i = 0; !done && i < sizeof spaces / sizeof *spaces; i++)
                if (is_word(s, n, spaces[i])) put(b, ' '), s += n, done = 1;
            for (i = 0; !done && i < sizeof renamed / sizeof *renamed; i++)
                if (is_word(s, n, renamed[i][0])) puts_n(b, renamed[i][1], strlen(renamed[i][1])), s += n, done = 1;
            for (i = 0; !done && i < sizeof text_cmds / sizeof *text_cmds; i++)
                if (is_word(s, n, text_cmds[i])) {
                    const char *g = s + n;
                    while (g < end && *g == ' ') g++;
                    if (g < end && *g == '{' && depth < 8) s = unwrap_text(b, g, end, depth);
                    else s = g;
                    done = 1;
                }
            if (!done) puts_n(b, s, n), s += n;
            continue;
        }
        if (c == '^' && s + 1 < end) { /* ^\circ, ^ \circ, ^{\circ}, ^\prime-free degree marks */
            const char *t = s + 1;
            while (t < end && *t == ' ') t++;
            if (end - t >= 5 && memcmp(t, "\\circ", 5) == 0 && (end - t == 5 || !isalpha((unsigned char)t[5]))) {
                s = t + 5;
                continue;
            }
            if (end - s >= 8 && memcmp(s + 1, "{\\circ}", 7) == 0) {
                s += 8;
                continue;
            }
        }
        if (c == '{' && end - s >= 3 && s[1] == ',' && s[2] == '}') {
            s += 3;
            continue;
        }
        if ((unsigned char)c == 0xC2 && s + 1 < end && (unsigned char)s[1] == 0xB0) { /* ° */
            s += 2;
            continue;
        }
        if (c == '$') {
            s++;
            continue;
        }
        put(b, isspace((unsigned char)c) || c == '~' ? ' ' : c);
        s++;
    }
}

static const char *const unit_words[] = {
    "cm",      "m",      "km",     "mm",      "in",      "inch",    "inches", "ft",      "feet",    "foot",
    "yd",      "yards",  "mi",     "mile",    "miles",   "units",   "unit",   "degrees", "degree",  "dollars",
    "dollar",  "cents",  "cent",   "hours",   "hour",    "minutes", "minute", "seconds", "second",  "sec",
    "min",     "days",   "day",    "weeks",   "week",    "years",   "year",   "meters",  "meter",   "metres",
    "kg",      "g",      "grams",  "gram",    "pounds",  "lbs",     "lb",     "mph",     "sq",      "square",
    "cubic",   "liters", "l",      "ml",      "s",       "hr",      "hrs",    "people",  "students", "points",
    "percent", "radians", "rad",   "km/h",    "m/s",     "ounces",  "oz",     "gallons", "cups",    "pages",
    "percentage", "pct", "centimeters", "centimeter", "months", "month", "yard", "kilometers", "kilometer",
    "millimeters", "millimeter", "metre", "inches"};

/* Drops unit words (and a ^2 / ^3 after them) at the end of a string that starts with a number. */
static void strip_units(char *s, size_t *n) {
    if (!*n || !(isdigit((unsigned char)s[0]) || s[0] == '-' || s[0] == '.')) return;
    for (int round = 0; round < 3; round++) {
        size_t e = *n;
        while (e && s[e - 1] == ' ') e--;
        size_t we = e;
        if (we >= 2 && s[we - 2] == '^' && (s[we - 1] == '2' || s[we - 1] == '3')) we -= 2;
        size_t ws = we;
        while (ws && (isalpha((unsigned char)s[ws - 1]) || s[ws - 1] == '/')) ws--;
        if (ws == we || ws == 0 || s[ws - 1] != ' ') return;
        int unit = 0;
        for (size_t i = 0; i < sizeof unit_words / sizeof *unit_words; i++)
            if (is_word(s + ws, we - ws, unit_words[i])) unit = 1;
        if (!unit) return;
        if (is_word(s + ws, we - ws, "percent") || is_word(s + ws, we - ws, "percentage") ||
            is_word(s + ws, we - ws, "pct"))
            s[ws++] = '%';
        *n = ws;
        while (*n && s[*n - 1] == ' ') (*n)--;
        s[*n] = 0;
    }
}

/* Removes spaces except one between a control word and a following letter (\pi r). */
static void squeeze_spaces(char *s, size_t *n) {
    size_t o = 0;
    for (size_t i = 0; i < *n; i++) {
        if (s[i] != ' ') {
            s[o++] = s[i];
            continue;
        }
        size_t j = i;
        while (j < *n && s[j] == ' ') j++;
        if (j < *n && isalpha((unsigned char)s[j])) {
            size_t k = o;
            while (k && isalpha((unsigned char)s[k - 1])) k--;
            if (k < o && k && s[k - 1] == '\\') s[o++] = ' ';
        }
        i = j - 1;
    }
    *n = o;
    s[o] = 0;
}

/* 1,234,567(.89) -> 1234567(.89) when the whole string is such a number. */
static void strip_thousands(char *s, size_t *n) {
    size_t i = s[0] == '-' ? 1 : 0, d = 0, groups = 0;
    size_t first = i;
    while (i < *n && isdigit((unsigned char)s[i])) i++, d++;
    if (d < 1 || d > 3 || s[first] == '0') return;
    while (i < *n && s[i] == ',') {
        size_t k = 0;
        while (k < 3 && i + 1 + k < *n && isdigit((unsigned char)s[i + 1 + k])) k++;
        if (k != 3 || (i + 4 < *n && isdigit((unsigned char)s[i + 4]))) return;
        i += 4, groups++;
    }
    if (!groups) return;
    if (i < *n && s[i] == '.') {
        i++;
        while (i < *n && isdigit((unsigned char)s[i])) i++;
    }
    if (i != *n) return;
    size_t o = 0;
    for (size_t k = 0; k < *n; k++)
        if (s[k] != ',') s[o++] = s[k];
    *n = o;
    s[o] = 0;
}

/* "7 3/4" (the whole string, a mixed number) -> "7+3/4", "-7 3/4" -> "-7-3/4"; same length. */
static void mixed_number(char *s, size_t n) {
    size_t i = s[0] == '-', a = i, sp, b, c;
    while (i < n && isdigit((unsigned char)s[i])) i++;
    if (i == a || i >= n || s[i] != ' ') return;
    sp = i;
    while (i < n && s[i] == ' ') i++;
    b = i;
    while (i < n && isdigit((unsigned char)s[i])) i++;
    if (i == b || i >= n || s[i] != '/') return;
    c = ++i;
    while (i < n && isdigit((unsigned char)s[i])) i++;
    if (i == c || i != n) return;
    for (size_t k = sp; k < b; k++) s[k] = ' ';
    s[b - 1] = s[0] == '-' ? '-' : '+';
}

/* The word "infinity" -> \infty; the whole answer (-\infty,\infty) -> \mathbb{R} (both shrink the text). */
static void infinity_words(char *s, size_t *n) {
    for (size_t i = 0; i + 8 <= *n; i++) {
        if (memcmp(s + i, "infinity", 8) || (i && (isalpha((unsigned char)s[i - 1]) || s[i - 1] == '\\')) ||
            (i + 8 < *n && isalpha((unsigned char)s[i + 8])))
            continue;
        memcpy(s + i, "\\infty", 6);
        memmove(s + i + 6, s + i + 8, *n - i - 8);
        *n -= 2;
        s[*n] = 0;
    }
    if (*n == 16 && memcmp(s, "(-\\infty,\\infty)", 16) == 0) memcpy(s, "\\mathbb{R}", 11), *n = 10;
}

/* "A \approx B": the exact value A, or B when A is a bare name ("x \approx 11" answers 11). */
static void drop_approx(char *s, size_t *n) {
    char *q = strstr(s, "\\approx");
    if (!q || strstr(q + 1, "\\approx")) return;
    size_t a = (size_t)(q - s), b = a + 7;
    while (a && s[a - 1] == ' ') a--;
    int name = a > 0 && isalpha((unsigned char)s[0]);
    for (size_t i = 0; i < a; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '{' || s[i] == '}')) name = 0;
    if (name) {
        while (b < *n && s[b] == ' ') b++;
        memmove(s, s + b, *n - b + 1);
        *n -= b;
    } else {
        *n = a;
        s[a] = 0;
    }
}

/* The words "and" / "or" between answers ("(11,7) or (7,11)") become list commas. */
static void words_to_commas(char *s, size_t *n) {
    size_t o = 0;
    for (size_t i = 0; i < *n;) {
        size_t w = (i + 3 <= *n && memcmp(s + i, "and", 3) == 0) ? 3 : (i + 2 <= *n && memcmp(s + i, "or", 2) == 0) ? 2 : 0;
        if (w && i > 0 && i + w < *n && !(isalpha((unsigned char)s[i - 1]) || s[i - 1] == '\\') &&
            !isalpha((unsigned char)s[i + w])) {
            while (o && s[o - 1] == ' ') o--;
            if (o && s[o - 1] != ',') s[o++] = ',';
            i += w;
            continue;
        }
        s[o++] = s[i++];
    }
    *n = o;
    s[o] = 0;
}

/* A decimal literal [+-]digits[.digits][%] made canonical: no leading / trailing zeros, no "-0", no "3.". */
static void canonical_decimal(char *s, size_t *n, size_t cap) {
    size_t i = 0, m = *n;
    int neg = 0;
    if (m && (s[0] == '-' || s[0] == '+')) neg = s[0] == '-', i = 1;
    int pct = m > i && s[m - 1] == '%';
    if (pct) m--;
    size_t is = i, digits = 0, dot = 0;
    for (size_t k = i; k < m; k++) {
        if (isdigit((unsigned char)s[k])) digits++;
        else if (s[k] == '.' && !dot) dot = k + 1;
        else return;
    }
    if (!digits) return;
    size_t ie = dot ? dot - 1 : m, fs = dot ? dot : m, fe = m;
    while (is + 1 < ie && s[is] == '0') is++;
    while (fe > fs && s[fe - 1] == '0') fe--;
    char tmp[ILR_MATH_MAX_LEN + 8];
    if (m + 4 > sizeof tmp) return;
    size_t o = 0;
    if (is == ie) tmp[o++] = '0';
    memcpy(tmp + o, s + is, ie - is), o += ie - is;
    if (fe > fs) tmp[o++] = '.', memcpy(tmp + o, s + fs, fe - fs), o += fe - fs;
    int zero = 1;
    for (size_t k = 0; k < o; k++)
        if (tmp[k] != '0' && tmp[k] != '.') zero = 0;
    if ((neg && !zero) + o + (size_t)pct + 1 > cap) return; /* ".5" -> "0.5" grows by one byte */
    size_t w = 0;
    if (neg && !zero) s[w++] = '-';
    memcpy(s + w, tmp, o), w += o;
    if (pct) s[w++] = '%';
    *n = w;
    s[w] = 0;
}

/* "x = 3", "f(x) = 2x", "x \in [1, 2]": drops the left side when it is a short name. */
static void strip_lhs(char *s, size_t *n) {
    size_t i = 0;
    if (!*n || !(isalpha((unsigned char)s[0]) || s[0] == '\\' || s[0] == '(' || s[0] == '|')) return;
    while (i < *n && i < 32 && (isalnum((unsigned char)s[i]) || strchr("_{}\\()',^ |:", s[i]))) {
        if (s[i] == '\\' && i + 3 <= *n && memcmp(s + i, "\\in", 3) == 0 && (i + 3 == *n || !isalpha((unsigned char)s[i + 3])))
            break;
        i++;
    }
    size_t skip = 0;
    if (i < *n && s[i] == '=' && (i + 1 < *n && s[i + 1] != '=')) skip = 1;
    else if (i + 3 <= *n && memcmp(s + i, "\\in", 3) == 0 && i > 0) skip = 3;
    if (!skip || i == 0) return;
    /* the left side must not be a number or an expression with a value */
    for (size_t k = i + skip; k < *n; k++)
        if (s[k] == '=') return; /* a chain a = b = c: leave it */
    memmove(s, s + i + skip, *n - i - skip);
    *n -= i + skip;
    s[*n] = 0;
    while (*n && s[0] == ' ') memmove(s, s + 1, --(*n)), s[*n] = 0;
}

int ilr_math_normalize(const char *s, size_t len, char *out, size_t cap) {
    return ilr_math_normalize_lhs(s, len, out, cap, 0);
}

int ilr_math_normalize_lhs(const char *s, size_t len, char *out, size_t cap, int keep_lhs) {
    if (!s || !out) return ILR_FAIL(ILR_EINVAL, "ilr_math_normalize: NULL argument");
    if (cap < len + 1) return ILR_FAIL(ILR_EINVAL, "ilr_math_normalize: %zu bytes of output for %zu of input", cap, len);
    sbuf b = {out, 0, cap};
    pass_commands(&b, s, s + len, 0);
    out[b.n] = 0;
    size_t n = b.n, st = 0;
    while (st < n && out[st] == ' ') st++;
    memmove(out, out + st, n - st + 1);
    n -= st;
    while (n && out[n - 1] == ' ') n--;
    out[n] = 0;
    while (n && out[n - 1] == ',') out[--n] = 0;
    while (n && out[n - 1] == ' ') out[--n] = 0;
    words_to_commas(out, &n);
    if (!keep_lhs) strip_lhs(out, &n);
    drop_approx(out, &n);
    strip_units(out, &n);
    strip_thousands(out, &n); /* before spaces go: "32, 349" is a list */
    if (n) mixed_number(out, n);
    squeeze_spaces(out, &n);
    infinity_words(out, &n);
    if (n && out[n - 1] == '.' && !(n >= 2 && out[n - 2] == '.')) out[--n] = 0;
    canonical_decimal(out, &n, cap);
    return 0;
}
