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

void ilr_math_options_default(ilr_math_options *opt) {
    opt->rel_tol = 1e-6;
    opt->percent_as_fraction = 0;
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
static int values_equal(const ilr_math_expr *a, const ilr_math_expr *b, const ilr_math_options *opt, int proportional) {
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
    return valid > 0;
}

/* The position of the one '=' of an equation (1 or more), or 0 when there is none or several. */
static size_t equation_side(const char *s, size_t n) {
    const char *q = memchr(s, '=', n);
    if (!q || q == s || q + 1 == s + n || memchr(q + 1, '=', (size_t)(s + n - q - 1))) return 0;
    return (size_t)(q - s);
}

/* "a = 2" against "b = 2": both had a name on the left (normalisation removed it) and the names differ. */
static int lhs_conflict(const char *a, size_t an, const char *na, const char *b, size_t bn, const char *nb) {
    const char *ea = memchr(a, '=', an), *eb = memchr(b, '=', bn);
    if (!ea || !eb || strchr(na, '=') || strchr(nb, '=')) return 0;
    const char *p = a, *q = b;
    for (;;) {
        while (p < ea && (*p == ' ' || *p == '$')) p++;
        while (q < eb && (*q == ' ' || *q == '$')) q++;
        if (p == ea || q == eb) return !(p == ea && q == eb);
        if (*p++ != *q++) return 1;
    }
}

/* Two atoms (no top-level structure).  Returns the rule when equal, NONE when not. */
static ilr_math_rule atom_equal(ctx *c, span a, span b) {
    if (c->budget-- <= 0) return ILR_MATH_RULE_NONE;
    char na[ILR_MATH_MAX_LEN + 2], nb[ILR_MATH_MAX_LEN + 2];
    if (a.n > ILR_MATH_MAX_LEN || b.n > ILR_MATH_MAX_LEN) return ILR_MATH_RULE_NONE;
    ilr_math_normalize(a.s, a.n, na, sizeof na);
    ilr_math_normalize(b.s, b.n, nb, sizeof nb);
    if (lhs_conflict(a.s, a.n, na, b.s, b.n, nb)) return ILR_MATH_RULE_NONE;
    if (!c->opt->values_only && !strcmp(na, nb)) return na[0] ? ILR_MATH_RULE_STRING : ILR_MATH_RULE_NONE;
    size_t la = strlen(na), lb = strlen(nb);
    if (all_digits(na, la) && all_digits(nb, lb)) /* canonical integers: exact */
        return !strcmp(na, nb) ? ILR_MATH_RULE_NUMBER : ILR_MATH_RULE_NONE;
    ilr_math_expr *ea = malloc(2 * sizeof *ea);
    if (!ea) return ILR_MATH_RULE_NONE;
    ilr_math_expr *eb = ea + 1;
    ilr_math_rule rule = ILR_MATH_RULE_NONE;
    if (ilr_math_expr_parse(ea, na, la) == 0 && ilr_math_expr_parse(eb, nb, lb) == 0 && values_equal(ea, eb, c->opt, 0))
        rule = ea->symbolic || eb->symbolic ? ILR_MATH_RULE_EXPRESSION : ILR_MATH_RULE_NUMBER;
    else if (equation_side(na, la) && equation_side(nb, lb)) {
        /* equations L = R: equal when L - R is a constant non-zero multiple of the other's L - R */
        char *da = malloc(2 * (la + lb) + 16), *db = da ? da + la + lb + 8 : NULL;
        if (da) {
            int n1 = snprintf(da, la + lb + 8, "(%.*s)-(%s)", (int)equation_side(na, la), na, na + equation_side(na, la) + 1);
            int n2 = snprintf(db, la + lb + 8, "(%.*s)-(%s)", (int)equation_side(nb, lb), nb, nb + equation_side(nb, lb) + 1);
            if (ilr_math_expr_parse(ea, da, (size_t)n1) == 0 && ilr_math_expr_parse(eb, db, (size_t)n2) == 0 &&
                (ea->nvars || eb->nvars) && values_equal(ea, eb, c->opt, 1))
                rule = ILR_MATH_RULE_EXPRESSION;
            free(da);
        }
    }
    free(ea);
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

static kind classify(span s, span *inner, char *open, char *close) {
    *inner = s;
    if (starts(s, "\\begin{")) return K_MATRIX;
    span parts[2];
    if (s.n >= 4 && starts(s, "\\{") && s.s[s.n - 2] == '\\' && s.s[s.n - 1] == '}' && wraps(s, 2, 2)) {
        *inner = (span){s.s + 2, s.n - 4};
        return K_SET;
    }
    if (split_top(s, "\\cup", parts, 2) != 1) return K_UNION;
    if (split_top(s, ",", parts, 2) != 1) return K_LIST;
    if (s.n >= 2 && (s.s[0] == '(' || s.s[0] == '[') && (s.s[s.n - 1] == ')' || s.s[s.n - 1] == ']') && wraps(s, 1, 1)) {
        span in = {s.s + 1, s.n - 2};
        if (split_top(in, ",", parts, 2) != 1) {
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

static ilr_math_rule unordered(ctx *c, span *pa, int na, span *pb, int nb, int depth) {
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
    span ia, ib, pa[ILR_MATH_MAX_ITEMS], pb[ILR_MATH_MAX_ITEMS];
    char oa = 0, ca = 0, ob = 0, cb = 0;
    kind ka = classify(a, &ia, &oa, &ca), kb = classify(b, &ib, &ob, &cb);
    if (ka == K_ATOM && kb == K_ATOM) return atom_equal(c, a, b);
    if (ka == K_MATRIX && kb == K_MATRIX) {
        int ra, rb, na = matrix_cells(a, pa, ILR_MATH_MAX_ITEMS, &ra), nb = matrix_cells(b, pb, ILR_MATH_MAX_ITEMS, &rb);
        if (na < 0 || nb < 0 || ra != rb) return ILR_MATH_RULE_NONE;
        return ordered(c, pa, na, pb, nb, depth);
    }
    if (ka == K_TUPLE && kb == K_TUPLE) {
        if (oa != ob || ca != cb) return ILR_MATH_RULE_NONE;
        int na = split_top(ia, ",", pa, ILR_MATH_MAX_ITEMS), nb = split_top(ib, ",", pb, ILR_MATH_MAX_ITEMS);
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
        if (k == K_SET || k == K_LIST) *np = split_top(in, ",", parts, ILR_MATH_MAX_ITEMS);
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
    ilr_math_normalize(pred, lp, np, lp + 2);
    ilr_math_normalize(gold, lg, ng, lg + 2);
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
