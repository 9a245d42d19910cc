/* Answer equality: normalised strings, then structures (matrices, sets, tuples, intervals, lists, \pm),
 * then numbers and expressions by value.  See include/ilr/math_grader.h. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ilr/error.h"
#include "ilr/math_grader.h"
#include "ilr/rng.h"
#include "math_internal.h"

void ilr_math_options_default(ilr_math_options *opt) {
    opt->rel_tol = 1e-6;
    opt->percent_as_fraction = 1;
    opt->points = 5;
    opt->seed = 0x5eed;
    opt->values_only = 0;
}

const char *ilr_math_rule_name(ilr_math_rule rule) {
    static const char *const names[] = {"none", "string", "number", "expression", "structure"};
    return (unsigned)rule <= ILR_MATH_RULE_STRUCTURE ? names[rule] : "?";
}

typedef struct {
    const char *s;
    size_t n;
} span;

typedef struct {
    const ilr_math_options *opt;
    int budget; /* atom comparisons left: bounds the time of one call */
} ctx;

/* ---- values ---- */
static int close_to(double a, double b, double tol) {
    if (a == b) return 1;
    if (isnan(a) || isnan(b) || isinf(a) || isinf(b)) return 0;
    double m = fmax(fabs(a), fabs(b));
    return fabs(a - b) <= tol * m;
}

static int all_digits(const char *s, size_t n) {
    if (n && s[0] == '-') s++, n--;
    if (!n) return 0;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i])) return 0;
    return 1;
}

/* a == b by value; with proportional, a == k b for one constant k != 0 (equations moved to one side) */
static int values_equal(const ilr_math_expr *a, const ilr_math_expr *b, const ilr_math_options *opt, int proportional,
                        double *ratio_out) {
    double ratio = NAN;
    if (a->nvars == 0 && b->nvars == 0) {
        if (proportional) return 0;
        double x = ilr_math_expr_eval(a, NULL), y = ilr_math_expr_eval(b, NULL);
        if (close_to(x, y, opt->rel_tol)) return 1;
        if (opt->percent_as_fraction && (a->percent || b->percent))
            return close_to(a->percent ? x / 100 : x, b->percent ? y / 100 : y, opt->rel_tol);
        return 0;
    }
    /* variables: the union of both sides' names */
    const char *names[2 * ILR_MATH_MAX_VARS];
    int nn = 0, map_a[ILR_MATH_MAX_VARS], map_b[ILR_MATH_MAX_VARS];
    for (int i = 0; i < a->nvars; i++) names[nn] = a->vars[i], map_a[i] = nn++;
    for (int i = 0; i < b->nvars; i++) {
        int k;
        for (k = 0; k < nn; k++)
            if (!strcmp(names[k], b->vars[i])) break;
        if (k == nn) names[nn++] = b->vars[i];
        map_b[i] = k;
    }
    ilr_rng rng;
    ilr_rng_init(&rng, opt->seed, 77);
    int points = opt->points < 1 ? 1 : opt->points > 32 ? 32 : opt->points, valid = 0;
    /* points alternate between [0.5, 2.5] and [2.5, 12.5] (sqrt(x - 3) needs the second); up to 4x tries */
    for (int t = 0; t < 4 * points && valid < points; t++) {
        double val[2 * ILR_MATH_MAX_VARS], va[ILR_MATH_MAX_VARS], vb[ILR_MATH_MAX_VARS];
        for (int k = 0; k < nn; k++) val[k] = t % 2 ? 2.5 + 10 * ilr_rng_uniform_f64(&rng) : 0.5 + 2 * ilr_rng_uniform_f64(&rng);
        for (int i = 0; i < a->nvars; i++) va[i] = val[map_a[i]];
        for (int i = 0; i < b->nvars; i++) vb[i] = val[map_b[i]];
        double x = ilr_math_expr_eval(a, va), y = ilr_math_expr_eval(b, vb);
        if (isnan(x) || isnan(y)) continue;
        if (proportional) {
            if (x == 0 || y == 0 || isinf(x) || isinf(y)) {
                if ((x == 0) != (y == 0)) return 0;
                continue;
            }
            if (isnan(ratio)) ratio = x / y;
            else if (!close_to(x / y, ratio, opt->rel_tol)) return 0;
        } else if (!close_to(x, y, opt->rel_tol)) return 0;
        valid++;
    }
    if (ratio_out) *ratio_out = ratio;
    return valid > 0;
}

/* ---- relations ---- */
typedef struct {
    size_t at, len; /* the operator */
    int dir;        /* +1: > or >=, -1: < or <=, 0: != */
    int strict;
} relation;

/* The top-level relation operators of s (<, >, <=, >=, !=), at most cap; returns their count. */
static int relations(const char *s, size_t n, relation *r, int cap) {
    int depth = 0, k = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == '\\' && i + 1 < n) {
            i++;
            continue;
        }
        if (ch == '(' || ch == '[' || ch == '{') depth++;
        else if (ch == ')' || ch == ']' || ch == '}') depth--;
        if (depth || !(ch == '<' || ch == '>' || (ch == '!' && i + 1 < n && s[i + 1] == '='))) continue;
        if (k == cap) return cap + 1;
        int eq = i + 1 < n && s[i + 1] == '=';
        r[k++] = (relation){i, (size_t)(1 + eq), ch == '>' ? 1 : ch == '<' ? -1 : 0, !eq && ch != '!'};
        i += (size_t)eq;
    }
    return k;
}

/* "L op R" against "L' op' R'": the same relation when L - R = k (L' - R') for a constant k != 0, with op' = op
 * for k > 0 and op' its mirror for k < 0 (5 >= x is x <= 5; -x > -1 is x < 1). */
static int relations_equal(const char *a, size_t an, const char *b, size_t bn, const ilr_math_options *opt) {
    relation ra[2], rb[2];
    if (relations(a, an, ra, 1) != 1 || relations(b, bn, rb, 1) != 1) return 0;
    if (ra[0].strict != rb[0].strict || (ra[0].dir == 0) != (rb[0].dir == 0)) return 0;
    char *da = malloc(2 * (an + bn) + 16), *db = da ? da + an + bn + 8 : NULL;
    ilr_math_expr *e = malloc(2 * sizeof *e);
    int equal = 0;
    if (da && e) {
        int n1 = snprintf(da, an + bn + 8, "(%.*s)-(%.*s)", (int)ra[0].at, a, (int)(an - ra[0].at - ra[0].len),
                          a + ra[0].at + ra[0].len);
        int n2 = snprintf(db, an + bn + 8, "(%.*s)-(%.*s)", (int)rb[0].at, b, (int)(bn - rb[0].at - rb[0].len),
                          b + rb[0].at + rb[0].len);
        double ratio = NAN;
        if (ilr_math_expr_parse(e, da, (size_t)n1) == 0 && ilr_math_expr_parse(e + 1, db, (size_t)n2) == 0 &&
            (e[0].nvars || e[1].nvars) && values_equal(e, e + 1, opt, 1, &ratio) && !isnan(ratio))
            equal = ra[0].dir == 0 || (ratio > 0 ? ra[0].dir == rb[0].dir : ra[0].dir == -rb[0].dir);
    }
    free(da);
    free(e);
    return equal;
}

/* An inequality about one name as an interval, written to out (cap bytes): "a < x <= b" -> "(a,b]",
 * "x >= 5" -> "[5,\infty)", "5 > x" -> "(-\infty,5)".  Returns its length, or 0 when s is not one. */
static size_t as_interval(const char *s, size_t n, char *out, size_t cap) {
    relation r[3];
    int k = relations(s, n, r, 2);
    if (k < 1 || k > 2 || r[0].dir == 0 || (k == 2 && r[1].dir != r[0].dir)) return 0;
    size_t parts_at[3] = {0, r[0].at + r[0].len, k == 2 ? r[1].at + r[1].len : 0};
    size_t parts_len[3] = {r[0].at, (k == 2 ? r[1].at : n) - parts_at[1], k == 2 ? n - parts_at[2] : 0};
    int name = -1; /* which part is the name: the middle of a chain, else the side with letters only */
    for (int p = 0; p <= k; p++) {
        int letters = 0, digits = 0;
        for (size_t i = parts_at[p]; i < parts_at[p] + parts_len[p]; i++)
            letters += isalpha((unsigned char)s[i]) != 0, digits += isdigit((unsigned char)s[i]) != 0;
        if (letters && !digits && (k == 1 || p == 1) && name < 0) name = p;
    }
    if (name < 0 || (k == 2 && name != 1)) return 0;
    /* lower bound and its bracket, upper bound and its bracket (as written left to right for dir < 0) */
    const char *lo = "-\\infty", *hi = "\\infty";
    size_t lo_n = 7, hi_n = 6;
    int lo_strict = 1, hi_strict = 1;
    if (k == 2) {
        int f = r[0].dir < 0 ? 0 : 2, l = r[0].dir < 0 ? 2 : 0; /* a < x < b: bounds a, b; b > x > a */
        lo = s + parts_at[f], lo_n = parts_len[f], hi = s + parts_at[l], hi_n = parts_len[l];
        lo_strict = r[r[0].dir < 0 ? 0 : 1].strict, hi_strict = r[r[0].dir < 0 ? 1 : 0].strict;
    } else {
        int other = name == 0 ? 1 : 0;
        int above = (name == 0) == (r[0].dir > 0); /* the name lies above the bound */
        if (above) lo = s + parts_at[other], lo_n = parts_len[other], lo_strict = r[0].strict;
        else hi = s + parts_at[other], hi_n = parts_len[other], hi_strict = r[0].strict;
    }
    int w = snprintf(out, cap, "%c%.*s,%.*s%c", lo_strict ? '(' : '[', (int)lo_n, lo, (int)hi_n, hi, hi_strict ? ')' : ']');
    return w > 0 && (size_t)w < cap ? (size_t)w : 0;
}

/* The position of the one '=' of an equation (1 or more), or 0 when there is none or several. */
static size_t equation_side(const char *s, size_t n) {
    const char *q = memchr(s, '=', n);
    if (!q || q == s || q + 1 == s + n || memchr(q + 1, '=', (size_t)(s + n - q - 1))) return 0;
    return (size_t)(q - s);
}

/* Normalises a and b; when only one of them stays an equation, the other keeps its left side as well, so
 * "y = -x/2 + 3/4" meets "2x + 4y - 3 = 0" as an equation ("x = 3" still equals "3"). */
static void normalize_pair(const char *a, size_t an, char *na, size_t acap, const char *b, size_t bn, char *nb,
                           size_t bcap) {
    ilr_math_normalize(a, an, na, acap);
    ilr_math_normalize(b, bn, nb, bcap);
    if (!strchr(na, '=') == !strchr(nb, '=')) return;
    if (!strchr(na, '=') && memchr(a, '=', an)) ilr_math_normalize_lhs(a, an, na, acap, 1);
    else if (!strchr(nb, '=') && memchr(b, '=', bn)) ilr_math_normalize_lhs(b, bn, nb, bcap, 1);
}

/* "a = 2" against "b = 2": both had a name on the left (normalisation removed it) and the names differ. */
static int lhs_conflict(const char *a, size_t an, const char *na, const char *b, size_t bn, const char *nb) {
    const char *ea = memchr(a, '=', an), *eb = memchr(b, '=', bn);
    if (!ea || !eb || strchr(na, '=') || strchr(nb, '=')) return 0;
    const char *p = a, *q = b;
    for (;;) { /* spacing, $ and braces aside: y_1 and y_{1} are one name */
        while (p < ea && (*p == ' ' || *p == '$' || *p == '{' || *p == '}')) p++;
        while (q < eb && (*q == ' ' || *q == '$' || *q == '{' || *q == '}')) q++;
        if (p == ea || q == eb) return !(p == ea && q == eb);
        if (*p++ != *q++) return 1;
    }
}

static ilr_math_rule equations_equal(ctx *c, ilr_math_expr *ea, const char *na, size_t la, const char *nb, size_t lb);

/* Two atoms (no top-level structure).  Returns the rule when equal, NONE when not. */
static ilr_math_rule atom_equal(ctx *c, span a, span b) {
    if (c->budget-- <= 0) return ILR_MATH_RULE_NONE;
    char na[ILR_MATH_MAX_LEN + 2], nb[ILR_MATH_MAX_LEN + 2];
    if (a.n > ILR_MATH_MAX_LEN || b.n > ILR_MATH_MAX_LEN) return ILR_MATH_RULE_NONE;
    normalize_pair(a.s, a.n, na, sizeof na, b.s, b.n, nb, sizeof nb);
    if (lhs_conflict(a.s, a.n, na, b.s, b.n, nb)) return ILR_MATH_RULE_NONE;
    if (!c->opt->values_only && !strcmp(na, nb)) return na[0] ? ILR_MATH_RULE_STRING : ILR_MATH_RULE_NONE;
    size_t la = strlen(na), lb = strlen(nb);
    if (all_digits(na, la) && all_digits(nb, lb)) /* canonical integers: exact */
        return !strcmp(na, nb) ? ILR_MATH_RULE_NUMBER : ILR_MATH_RULE_NONE;
    ilr_math_expr *ea = malloc(2 * sizeof *ea);
    if (!ea) return ILR_MATH_RULE_NONE;
    ilr_math_expr *eb = ea + 1;
    ilr_math_rule rule = ILR_MATH_RULE_NONE;
    if (ilr_math_expr_parse(ea, na, la) == 0 && ilr_math_expr_parse(eb, nb, lb) == 0 &&
        values_equal(ea, eb, c->opt, 0, NULL))
        rule = ea->symbolic || eb->symbolic ? ILR_MATH_RULE_EXPRESSION : ILR_MATH_RULE_NUMBER;
    else if (relations_equal(na, la, nb, lb, c->opt)) rule = ILR_MATH_RULE_EXPRESSION;
    else if (equation_side(na, la) && equation_side(nb, lb)) rule = equations_equal(c, ea, na, la, nb, lb);
    free(ea);
    return rule;
}

/* Equations L = R: equal when L - R is a constant non-zero multiple of the other's L - R.  ea holds two
 * expressions of scratch. */
static ilr_math_rule equations_equal(ctx *c, ilr_math_expr *ea, const char *na, size_t la, const char *nb, size_t lb) {
    size_t sa = equation_side(na, la), sb = equation_side(nb, lb);
    char *da = malloc(2 * (la + lb) + 16), *db = da ? da + la + lb + 8 : NULL;
    if (!da) return ILR_MATH_RULE_NONE;
    int n1 = snprintf(da, la + lb + 8, "(%.*s)-(%s)", (int)sa, na, na + sa + 1);
    int n2 = snprintf(db, la + lb + 8, "(%.*s)-(%s)", (int)sb, nb, nb + sb + 1);
    ilr_math_rule rule = ILR_MATH_RULE_NONE;
    if (ilr_math_expr_parse(ea, da, (size_t)n1) == 0 && ilr_math_expr_parse(ea + 1, db, (size_t)n2) == 0 &&
        (ea[0].nvars || ea[1].nvars) && values_equal(ea, ea + 1, c->opt, 1, NULL))
        rule = ILR_MATH_RULE_EXPRESSION;
    free(da);
    return rule;
}

/* ---- structures ---- */
typedef enum { K_ATOM, K_LIST, K_SET, K_TUPLE, K_MATRIX, K_UNION, K_PM } kind;

static int is_open(const char *s, const char *end, size_t *w) {
    if (*s == '(' || *s == '[' || *s == '{') return *w = 1, 1;
    if (*s == '\\' && s + 1 < end && s[1] == '{') return *w = 2, 1;
    if (end - s >= 5 && !memcmp(s, "\\left", 5)) return *w = 5, 0;
    return 0;
}
static int is_close(const char *s, const char *end, size_t *w) {
    if (*s == ')' || *s == ']' || *s == '}') return *w = 1, 1;
    if (*s == '\\' && s + 1 < end && s[1] == '}') return *w = 2, 1;
    return 0;
}

/* Splits s at top-level occurrences of sep (a string); returns the number of parts (max cap), -1 if over. */
static int split_top(span s, const char *sep, span *parts, int cap) {
    size_t ls = strlen(sep);
    int depth = 0, np = 0;
    const char *st = s.s, *end = s.s + s.n;
    for (const char *q = s.s; q < end;) {
        size_t w = 1;
        if (is_open(q, end, &w)) depth++;
        else if (is_close(q, end, &w)) depth--;
        else if (*q == '\\' && q + 1 < end) {
            w = 2;
            while (q + w < end && isalpha((unsigned char)q[w - 1]) && isalpha((unsigned char)q[w])) w++;
            if (isalpha((unsigned char)q[1]))
                for (w = 1; q + w < end && isalpha((unsigned char)q[w]);) w++;
        }
        if (depth == 0 && (size_t)(end - q) >= ls && !memcmp(q, sep, ls) &&
            !(isalpha((unsigned char)sep[ls - 1]) && q + ls < end && isalpha((unsigned char)q[ls]))) {
            if (np == cap) return -1;
            parts[np++] = (span){st, (size_t)(q - st)};
            q += ls;
            st = q;
            continue;
        }
        q += w;
    }
    if (np == cap) return -1;
    parts[np++] = (span){st, (size_t)(end - st)};
    return np;
}

/* Whether the bracket opened at s[0] closes at the last character. */
static int wraps(span s, size_t open_w, size_t close_w) {
    int depth = 0;
    const char *end = s.s + s.n;
    for (const char *q = s.s; q < end;) {
        size_t w = 1;
        if (is_open(q, end, &w)) depth++;
        else if (is_close(q, end, &w)) {
            if (--depth == 0) return q + w == end && w == close_w;
        } else if (*q == '\\' && q + 1 < end) w = 2;
        q += w;
    }
    (void)open_w;
    return 0;
}

static span trim(span s) {
    while (s.n && isspace((unsigned char)*s.s)) s.s++, s.n--;
    while (s.n && isspace((unsigned char)s.s[s.n - 1])) s.n--;
    return s;
}

static int starts(span s, const char *p) { return s.n >= strlen(p) && !memcmp(s.s, p, strlen(p)); }

static ilr_math_rule equal_spans(ctx *c, span a, span b, int depth);

/* Lists separate their items with ';' when they have one at the top level ("-12;-11", "p=5,q=2;p=7,q=2"),
 * else with ','. */
static const char *list_sep(span s) {
    span parts[2];
    return split_top(s, ";", parts, 2) != 1 ? ";" : ",";
}

static kind classify(span s, span *inner, char *open, char *close) {
    *inner = s;
    if (starts(s, "\\begin{")) return K_MATRIX;
    if (s.n >= 2 && (s.s[0] == '[' || s.s[0] == '(') && wraps(s, 1, 1) && starts((span){s.s + 1, s.n - 1}, "\\begin{")) {
        *inner = (span){s.s + 1, s.n - 2}; /* \left[\begin{array}..\end{array}\right] */
        return K_MATRIX;
    }
    span parts[2];
    if (s.n >= 4 && starts(s, "\\{") && s.s[s.n - 2] == '\\' && s.s[s.n - 1] == '}' && wraps(s, 2, 2)) {
        *inner = (span){s.s + 2, s.n - 4};
        return K_SET;
    }
    if (split_top(s, "\\cup", parts, 2) != 1) return K_UNION;
    if (split_top(s, ";", parts, 2) != 1 || split_top(s, ",", parts, 2) != 1) return K_LIST;
    if (s.n >= 2 && (s.s[0] == '(' || s.s[0] == '[') && (s.s[s.n - 1] == ')' || s.s[s.n - 1] == ']') && wraps(s, 1, 1)) {
        span in = {s.s + 1, s.n - 2};
        if (split_top(in, ",", parts, 2) != 1 || split_top(in, ";", parts, 2) != 1) {
            *inner = in, *open = s.s[0], *close = s.s[s.n - 1];
            return K_TUPLE;
        }
    }
    if (split_top(s, "\\pm", parts, 2) == 2) return K_PM;
    return K_ATOM;
}

static ilr_math_rule ordered(ctx *c, span *pa, int na, span *pb, int nb, int depth) {
    if (na != nb) return ILR_MATH_RULE_NONE;
    for (int i = 0; i < na; i++)
        if (!equal_spans(c, trim(pa[i]), trim(pb[i]), depth + 1)) return ILR_MATH_RULE_NONE;
    return ILR_MATH_RULE_STRUCTURE;
}

/* Drops items that repeat an earlier one byte for byte; returns the new count. */
static int distinct(span *p, int n) {
    int m = 0;
    for (int i = 0; i < n; i++) {
        span x = trim(p[i]);
        int seen = 0;
        for (int j = 0; j < m && !seen; j++) seen = p[j].n == x.n && !memcmp(p[j].s, x.s, x.n);
        if (!seen) p[m++] = x;
    }
    return m;
}

/* Unordered collections compare as sets: repeats count once. */
static ilr_math_rule unordered(ctx *c, span *pa, int na, span *pb, int nb, int depth) {
    if (na != nb) na = distinct(pa, na), nb = distinct(pb, nb);
    if (na != nb) return ILR_MATH_RULE_NONE;
    char used[ILR_MATH_MAX_ITEMS] = {0}, done[ILR_MATH_MAX_ITEMS] = {0};
    for (int i = 0; i < na; i++) /* identical items first: free, and they leave the budget to the rest */
        for (int j = 0; j < nb && !done[i]; j++) {
            span x = trim(pa[i]), y = trim(pb[j]);
            if (!used[j] && x.n == y.n && x.n && !memcmp(x.s, y.s, x.n)) used[j] = done[i] = 1;
        }
    for (int i = 0; i < na; i++) {
        int found = done[i];
        for (int j = 0; j < nb && !found; j++)
            if (!used[j] && equal_spans(c, trim(pa[i]), trim(pb[j]), depth + 1)) used[j] = 1, found = 1;
        if (!found) return ILR_MATH_RULE_NONE;
    }
    return ILR_MATH_RULE_STRUCTURE;
}

/* \begin{pmatrix} a & b \\ c & d \end{pmatrix}: the cells in row order, *cols per row. */
static int matrix_cells(span s, span *cells, int cap, int *rows) {
    const char *b = memchr(s.s, '}', s.n);
    if (!b) return -1;
    if (b + 1 < s.s + s.n && b[1] == '{' && s.n > 13 && !memcmp(s.s, "\\begin{array}", 13)) { /* {cc} column spec */
        const char *q = memchr(b + 1, '}', (size_t)(s.s + s.n - b - 1));
        if (q) b = q;
    }
    const char *e = NULL;
    for (const char *q = s.s + s.n; q-- > s.s;)
        if (s.s + s.n - q >= 4 && !memcmp(q, "\\end", 4)) {
            e = q;
            break;
        }
    if (!e || e <= b) return -1;
    span body = {b + 1, (size_t)(e - b - 1)}, rowv[ILR_MATH_MAX_ITEMS];
    int nr = split_top(body, "\\\\", rowv, ILR_MATH_MAX_ITEMS), n = 0, cols = -1;
    if (nr < 0) return -1;
    if (nr > 1 && trim(rowv[nr - 1]).n == 0) nr--;
    for (int r = 0; r < nr; r++) {
        int k = split_top(rowv[r], "&", cells + n, cap - n);
        if (k < 0 || (cols >= 0 && k != cols)) return -1;
        cols = k, n += k;
    }
    *rows = nr;
    return n;
}

static ilr_math_rule equal_spans(ctx *c, span a, span b, int depth) {
    if (depth > 8 || c->budget <= 0) return ILR_MATH_RULE_NONE;
    if (!c->opt->values_only && a.n == b.n && !memcmp(a.s, b.s, a.n) && a.n) return ILR_MATH_RULE_STRING;
    while (a.n >= 2 && a.s[0] == '{' && wraps(a, 1, 1)) a = trim((span){a.s + 1, a.n - 2}); /* TeX grouping */
    while (b.n >= 2 && b.s[0] == '{' && wraps(b, 1, 1)) b = trim((span){b.s + 1, b.n - 2});
    span ia, ib, pa[ILR_MATH_MAX_ITEMS], pb[ILR_MATH_MAX_ITEMS];
    char oa = 0, ca = 0, ob = 0, cb = 0;
    kind ka = classify(a, &ia, &oa, &ca), kb = classify(b, &ib, &ob, &cb);
    if (ka == K_ATOM && kb == K_ATOM) return atom_equal(c, a, b);
    if ((ka == K_ATOM) != (kb == K_ATOM) && (ka == K_TUPLE || kb == K_TUPLE || ka == K_UNION || kb == K_UNION)) {
        /* an inequality about one name against an interval: a < x <= b is (a, b] */
        char buf[ILR_MATH_MAX_LEN + 32];
        span atom = ka == K_ATOM ? a : b;
        size_t n = as_interval(atom.s, atom.n, buf, sizeof buf);
        if (n)
            return equal_spans(c, ka == K_ATOM ? (span){buf, n} : a, ka == K_ATOM ? b : (span){buf, n}, depth + 1)
                       ? ILR_MATH_RULE_STRUCTURE
                       : ILR_MATH_RULE_NONE;
    }
    if (ka == K_MATRIX && kb == K_MATRIX) {
        int ra, rb, na = matrix_cells(ia, pa, ILR_MATH_MAX_ITEMS, &ra), nb = matrix_cells(ib, pb, ILR_MATH_MAX_ITEMS, &rb);
        if (na < 0 || nb < 0 || ra != rb) return ILR_MATH_RULE_NONE;
        return ordered(c, pa, na, pb, nb, depth);
    }
    if (ka == K_TUPLE && kb == K_TUPLE) {
        if (oa != ob || ca != cb) return ILR_MATH_RULE_NONE;
        int na = split_top(ia, list_sep(ia), pa, ILR_MATH_MAX_ITEMS), nb = split_top(ib, list_sep(ib), pb, ILR_MATH_MAX_ITEMS);
        if (na < 0 || nb < 0) return ILR_MATH_RULE_NONE;
        return ordered(c, pa, na, pb, nb, depth);
    }
    if ((ka == K_TUPLE && oa == '(' && ca == ')' && kb == K_LIST) || (kb == K_TUPLE && ob == '(' && cb == ')' && ka == K_LIST)) {
        /* a bare list against a tuple, in order: "1, 3" == (1, 3); "p=5, q=2" == (5, 2) */
        int na = split_top(ia, list_sep(ia), pa, ILR_MATH_MAX_ITEMS), nb = split_top(ib, list_sep(ib), pb, ILR_MATH_MAX_ITEMS);
        if (na < 0 || nb < 0) return ILR_MATH_RULE_NONE;
        return ordered(c, pa, na, pb, nb, depth);
    }
    if (ka == K_UNION && kb == K_UNION) {
        int na = split_top(a, "\\cup", pa, ILR_MATH_MAX_ITEMS), nb = split_top(b, "\\cup", pb, ILR_MATH_MAX_ITEMS);
        if (na < 0 || nb < 0) return ILR_MATH_RULE_NONE;
        return ordered(c, pa, na, pb, nb, depth);
    }
    /* sets, bare lists and \pm pairs compare as unordered collections with each other */
    int na = -1, nb = -1;
    char bufa[ILR_MATH_MAX_LEN * 2 + 8], bufb[ILR_MATH_MAX_LEN * 2 + 8];
    for (int side = 0; side < 2; side++) {
        kind k = side ? kb : ka;
        span in = side ? ib : ia, *parts = side ? pb : pa;
        char *buf = side ? bufb : bufa;
        int *np = side ? &nb : &na;
        if (k == K_SET || k == K_LIST) *np = split_top(in, list_sep(in), parts, ILR_MATH_MAX_ITEMS);
        else if (k == K_PM) {
            span two[2];
            split_top(in, "\\pm", two, 2);
            if (in.n > ILR_MATH_MAX_LEN) return ILR_MATH_RULE_NONE;
            int l1 = snprintf(buf, ILR_MATH_MAX_LEN + 4, "%.*s+%.*s", (int)two[0].n, two[0].s, (int)two[1].n, two[1].s);
            int l2 = snprintf(buf + l1 + 1, ILR_MATH_MAX_LEN + 4, "%.*s-(%.*s)", (int)two[0].n, two[0].s, (int)two[1].n,
                              two[1].s);
            parts[0] = (span){buf, (size_t)l1};
            parts[1] = (span){buf + l1 + 1, (size_t)l2};
            *np = 2;
        }
    }
    if (na < 0 || nb < 0) return ILR_MATH_RULE_NONE;
    return unordered(c, pa, na, pb, nb, depth);
}

int ilr_math_equal(const char *pred, const char *gold, const ilr_math_options *opt, ilr_math_verdict *v) {
    if (!pred || !gold || !v) return ILR_FAIL(ILR_EINVAL, "ilr_math_equal: NULL argument");
    ilr_math_options defaults;
    if (!opt) ilr_math_options_default(&defaults), opt = &defaults;
    size_t lp = strlen(pred), lg = strlen(gold);
    char *np = malloc(lp + 2), *ng = malloc(lg + 2);
    if (!np || !ng) {
        free(np), free(ng);
        return ILR_FAIL(ILR_ENOMEM, "ilr_math_equal: out of memory");
    }
    normalize_pair(pred, lp, np, lp + 2, gold, lg, ng, lg + 2);
    snprintf(v->pred_norm, sizeof v->pred_norm, "%s", np);
    snprintf(v->gold_norm, sizeof v->gold_norm, "%s", ng);
    v->equal = 0;
    v->rule = ILR_MATH_RULE_NONE;
    if (lhs_conflict(pred, lp, np, gold, lg, ng)) v->rule = ILR_MATH_RULE_NONE;
    else if (!opt->values_only && np[0] && !strcmp(np, ng)) v->rule = ILR_MATH_RULE_STRING;
    else if (np[0] && ng[0] && strlen(np) <= ILR_MATH_MAX_LEN && strlen(ng) <= ILR_MATH_MAX_LEN) {
        ctx c = {opt, 16 * ILR_MATH_MAX_ITEMS};
        span a = {np, strlen(np)}, b = {ng, strlen(ng)};
        v->rule = equal_spans(&c, a, b, 0);
    }
    v->equal = v->rule != ILR_MATH_RULE_NONE;
    free(np);
    free(ng);
    return 0;
}
