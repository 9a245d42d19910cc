/* A recursive-descent parser of LaTeX math into a node array, and its evaluator (doubles). */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ilr/error.h"
#include "ilr/math_grader.h"

enum { F_SIN, F_COS, F_TAN, F_SEC, F_CSC, F_COT, F_ASIN, F_ACOS, F_ATAN, F_SINH, F_COSH, F_TANH, F_LN, F_LOG10,
       F_EXP, F_SQRT, F_ABS, F_FLOOR, F_CEIL, F_PI, F_E, F_INF, F_LOGB };

static const struct {
    const char *name;
    int f;
} funcs[] = {{"sin", F_SIN},       {"cos", F_COS},   {"tan", F_TAN},       {"sec", F_SEC},   {"csc", F_CSC},
             {"cot", F_COT},       {"arcsin", F_ASIN}, {"arccos", F_ACOS}, {"arctan", F_ATAN}, {"sinh", F_SINH},
             {"cosh", F_COSH},     {"tanh", F_TANH}, {"ln", F_LN},         {"log", F_LOG10}, {"exp", F_EXP},
             {"lg", F_LOG10}};

typedef struct {
    ilr_math_expr *e;
    const char *s, *end;
    int depth, fail;
} parser;

static int node(parser *p, int kind, int a, int b, double v) {
    if (p->e->count >= ILR_MATH_MAX_NODES) return p->fail = 1, -1;
    ilr_math_node *n = &p->e->nodes[p->e->count];
    n->kind = (uint8_t)kind, n->func = 0, n->a = (int16_t)a, n->b = (int16_t)b, n->value = v;
    return p->e->count++;
}
static int fnode(parser *p, int f, int a) {
    int n = node(p, ILR_MX_FUNC, a, -1, 0);
    if (n >= 0) p->e->nodes[n].func = (uint8_t)f;
    p->e->symbolic = 1;
    return n;
}

static void ws(parser *p) {
    while (p->s < p->end && (*p->s == ' ' || *p->s == '\t' || *p->s == '\n')) p->s++;
}
static int peek(parser *p) {
    ws(p);
    return p->s < p->end ? (unsigned char)*p->s : 0;
}
static int accept(parser *p, char c) {
    if (peek(p) == (unsigned char)c) return p->s++, 1;
    return 0;
}
/* The control word at the cursor (without the backslash) in name; 0 when none. */
static size_t command(parser *p, char *name, size_t cap) {
    ws(p);
    if (p->s >= p->end || *p->s != '\\') return 0;
    const char *q = p->s + 1;
    if (q < p->end && !isalpha((unsigned char)*q)) {
        if (cap > 1) name[0] = *q, name[1] = 0;
        return 2;
    }
    size_t n = 0;
    while (q + n < p->end && isalpha((unsigned char)q[n])) n++;
    if (n + 1 > cap) return 0;
    memcpy(name, q, n);
    name[n] = 0;
    return n + 1;
}
static int accept_cmd(parser *p, const char *want) {
    char name[32];
    size_t n = command(p, name, sizeof name);
    if (n && strcmp(name, want) == 0) return p->s += n, 1;
    return 0;
}

static int expr(parser *p);
static int unary(parser *p);
static int primary(parser *p);

static int var(parser *p, const char *name, size_t n) {
    ilr_math_expr *e = p->e;
    if (n >= sizeof e->vars[0]) n = sizeof e->vars[0] - 1;
    int i;
    for (i = 0; i < e->nvars; i++)
        if (strncmp(e->vars[i], name, n) == 0 && e->vars[i][n] == 0) break;
    if (i == e->nvars) {
        if (e->nvars == ILR_MATH_MAX_VARS) return p->fail = 1, -1;
        memcpy(e->vars[i], name, n);
        e->vars[i][n] = 0;
        e->nvars++;
    }
    e->symbolic = 1;
    return node(p, ILR_MX_VAR, -1, -1, i);
}

/* Skips a subscript (x_1, a_{n+1}) and primes after a variable name: the variable is named by its text. */
static void subscript(parser *p) {
    if (p->s < p->end && *p->s == '_') {
        p->s++;
        if (p->s < p->end && *p->s == '{') {
            int depth = 0;
            while (p->s < p->end) {
                if (*p->s == '{') depth++;
                else if (*p->s == '}' && --depth == 0) break;
                p->s++;
            }
            if (p->s < p->end) p->s++;
            else p->fail = 1;
        } else if (p->s < p->end && *p->s == '\\') {
            p->s++;
            while (p->s < p->end && isalpha((unsigned char)*p->s)) p->s++;
        } else if (p->s < p->end) p->s++;
    }
    while (p->s < p->end && *p->s == '\'') p->s++;
}

/* A braced group {expr}, or a single digit / letter / command (as \frac12 and x^2 take them). */
static int group_or_token(parser *p, int full_number) {
    if (accept(p, '{')) {
        int r = expr(p);
        if (!accept(p, '}')) p->fail = 1;
        return r;
    }
    int c = peek(p);
    if (isdigit(c) && !full_number) {
        p->s++;
        return node(p, ILR_MX_NUM, -1, -1, c - '0');
    }
    if (c == '-' || c == '+') {
        p->s++;
        if (++p->depth > ILR_MATH_MAX_DEPTH) return p->fail = 1, -1;
        int r = group_or_token(p, full_number);
        p->depth--;
        return c == '-' ? node(p, ILR_MX_NEG, r, -1, 0) : r;
    }
    return primary(p);
}

static int number(parser *p) {
    const char *q = p->s;
    while (q < p->end && isdigit((unsigned char)*q)) q++;
    if (q < p->end && *q == '.') {
        q++;
        while (q < p->end && isdigit((unsigned char)*q)) q++;
    }
    /* 1.5e3 / 2E-4: only when a digit follows the e (else e is Euler's number) */
    if (q + 1 < p->end && (*q == 'e' || *q == 'E')) {
        const char *r = q + 1;
        if ((*r == '-' || *r == '+') && r + 1 < p->end) r++;
        if (isdigit((unsigned char)*r)) {
            q = r;
            while (q < p->end && isdigit((unsigned char)*q)) q++;
        }
    }
    char buf[64];
    size_t n = (size_t)(q - p->s);
    if (n >= sizeof buf) n = sizeof buf - 1; /* very long literals keep their leading digits' magnitude */
    memcpy(buf, p->s, n);
    buf[n] = 0;
    double v = strtod(buf, NULL);
    if ((size_t)(q - p->s) >= sizeof buf) v *= pow(10, (double)((size_t)(q - p->s) - n));
    p->s = q;
    return node(p, ILR_MX_NUM, -1, -1, v);
}

/* a closing delimiter command (\rfloor) or character */
static int delimited(parser *p, const char *close_cmd, char close_c, int f) {
    int r = expr(p);
    if (close_cmd ? !accept_cmd(p, close_cmd) : !accept(p, close_c)) p->fail = 1;
    return fnode(p, f, r);
}

static int function_arg(parser *p) {
    int c = peek(p);
    if (c == '(' || c == '{') return primary(p);
    return unary(p);
}

static int command_primary(parser *p) {
    char name[32];
    size_t n = command(p, name, sizeof name);
    if (!n) return p->fail = 1, -1;
    p->s += n;
    if (!strcmp(name, "frac") || !strcmp(name, "cfrac")) {
        int a = group_or_token(p, 0), b = group_or_token(p, 0);
        return node(p, ILR_MX_DIV, a, b, 0);
    }
    if (!strcmp(name, "binom") || !strcmp(name, "choose")) {
        int a = group_or_token(p, 0), b = group_or_token(p, 0);
        p->e->symbolic = 1;
        return node(p, ILR_MX_BINOM, a, b, 0);
    }
    if (!strcmp(name, "sqrt")) {
        int idx = -1;
        if (accept(p, '[')) {
            idx = expr(p);
            if (!accept(p, ']')) p->fail = 1;
        }
        int a = group_or_token(p, 0);
        p->e->symbolic = 1;
        return idx < 0 ? fnode(p, F_SQRT, a) : node(p, ILR_MX_ROOT, a, idx, 0);
    }
    if (!strcmp(name, "pi")) return fnode(p, F_PI, -1);
    if (!strcmp(name, "infty") || !strcmp(name, "infinity")) return fnode(p, F_INF, -1);
    if (!strcmp(name, "lfloor")) return delimited(p, "rfloor", 0, F_FLOOR);
    if (!strcmp(name, "lceil")) return delimited(p, "rceil", 0, F_CEIL);
    if (!strcmp(name, "{")) return p->fail = 1, -1; /* sets are structures, not expressions */
    if (!strcmp(name, "operatorname")) {
        /* \operatorname{name}: a function if known, else a variable */
        if (!accept(p, '{')) return p->fail = 1, -1;
        const char *st = p->s;
        while (p->s < p->end && *p->s != '}') p->s++;
        size_t len = (size_t)(p->s - st);
        if (!accept(p, '}')) return p->fail = 1, -1;
        return var(p, st, len);
    }
    if (!strcmp(name, "log") && accept(p, '_')) {
        int base = group_or_token(p, 0), arg = function_arg(p);
        int num = fnode(p, F_LN, arg), den = fnode(p, F_LN, base);
        return node(p, ILR_MX_DIV, num, den, 0);
    }
    for (size_t i = 0; i < sizeof funcs / sizeof *funcs; i++)
        if (!strcmp(name, funcs[i].name)) {
            int power = -1;
            if (accept(p, '^')) power = group_or_token(p, 1); /* \sin^2 x */
            int r = fnode(p, funcs[i].f, function_arg(p));
            if (power >= 0) {
                const ilr_math_node *pw = &p->e->nodes[power];
                int f = funcs[i].f;
                if (pw->kind == ILR_MX_NEG && pw->a >= 0 && p->e->nodes[pw->a].kind == ILR_MX_NUM &&
                    p->e->nodes[pw->a].value == 1 && (f == F_SIN || f == F_COS || f == F_TAN) && r >= 0) {
                    p->e->nodes[r].func = (uint8_t)(f == F_SIN ? F_ASIN : f == F_COS ? F_ACOS : F_ATAN); /* \sin^{-1} */
                    return r;
                }
                r = node(p, ILR_MX_POW, r, power, 0);
            }
            return r;
        }
    if (name[0] && !isalpha((unsigned char)name[0])) return p->fail = 1, -1;
    static const char *const not_values[] = {"cdot", "times", "div", "pm", "mp", "cup", "cap", "le", "ge", "ne",
                                             "lt", "gt", "in", "end", "begin", "rfloor", "rceil", "right", "rightarrow",
                                             "quad", "implies", "iff", "land", "lor", "text", "setminus", "approx"};
    for (size_t i = 0; i < sizeof not_values / sizeof *not_values; i++)
        if (!strcmp(name, not_values[i])) return p->fail = 1, -1;
    const char *st = p->s - n + 1; /* \alpha, \theta_0, ... */
    subscript(p);
    return var(p, st, (size_t)(p->s - st));
}

static int primary(parser *p) {
    if (++p->depth > ILR_MATH_MAX_DEPTH) return p->fail = 1, -1;
    int c = peek(p), r = -1;
    if (isdigit(c) || (c == '.' && p->s + 1 < p->end && isdigit((unsigned char)p->s[1]))) r = number(p);
    else if (c == '(' || c == '{' || c == '[') {
        p->s++;
        r = expr(p);
        if (!accept(p, c == '(' ? ')' : c == '{' ? '}' : ']')) p->fail = 1;
    } else if (c == '|') {
        p->s++;
        r = delimited(p, NULL, '|', F_ABS);
    } else if (c == '\\') r = command_primary(p);
    else if (isalpha(c)) {
        const char *st = p->s;
        /* a function name written without a backslash: sin x, log(2) */
        for (size_t i = 0; i < sizeof funcs / sizeof *funcs; i++) {
            size_t n = strlen(funcs[i].name);
            if ((size_t)(p->end - st) > n && !strncmp(st, funcs[i].name, n) &&
                (st[n] == '(' || st[n] == ' ' || st[n] == '{' || st[n] == '^' || st[n] == '\\')) {
                p->s += n;
                r = fnode(p, funcs[i].f, function_arg(p));
                p->depth--;
                return r;
            }
        }
        size_t run = 0;
        while (st + run < p->end && isalpha((unsigned char)st[run])) run++;
        if (run >= 4) { /* a word ("solution", "Monday"), not a product of variables: compared as a string */
            p->fail = 1;
            p->depth--;
            return -1;
        }
        p->s++;
        if (c == 'e' && !(p->s < p->end && *p->s == '_')) r = fnode(p, F_E, -1);
        else {
            subscript(p);
            r = var(p, st, (size_t)(p->s - st));
        }
    } else p->fail = 1;
    p->depth--;
    return r;
}

static int postfix(parser *p) {
    int r = primary(p);
    for (;;) {
        if (accept(p, '!')) {
            p->e->symbolic = 1;
            r = node(p, ILR_MX_FACT, r, -1, 0);
        } else if (peek(p) == '%' && p->s + 1 == p->end) {
            p->s++;
            p->e->percent = 1;
        } else if (peek(p) == '\'' ) {
            p->fail = 1;
            return r;
        } else break;
    }
    if (accept(p, '^')) {
        if (++p->depth > ILR_MATH_MAX_DEPTH) return p->fail = 1, -1;
        int x = group_or_token(p, 1);
        p->depth--;
        r = node(p, ILR_MX_POW, r, x, 0);
        while (accept(p, '!')) r = node(p, ILR_MX_FACT, r, -1, 0);
    }
    return r;
}

static int unary(parser *p) {
    if (++p->depth > ILR_MATH_MAX_DEPTH) return p->fail = 1, -1;
    int r;
    if (accept(p, '-')) r = node(p, ILR_MX_NEG, unary(p), -1, 0);
    else if (accept(p, '+')) r = unary(p);
    else r = postfix(p);
    p->depth--;
    return r;
}

static int starts_primary(parser *p) {
    int c = peek(p);
    if (isdigit(c) || isalpha(c) || c == '(' || c == '{' || c == '.') return 1;
    if (c != '\\') return 0;
    char name[32];
    size_t n = command(p, name, sizeof name);
    if (!n || !isalpha((unsigned char)name[0])) return 0;
    static const char *const binary[] = {"cdot", "times", "div", "pm", "mp", "cup", "cap", "le", "ge", "ne", "lt",
                                         "gt", "in", "end", "rfloor", "rceil", "right", "rightarrow", "quad",
                                         "implies", "iff", "setminus", "approx", "land", "lor"};
    for (size_t i = 0; i < sizeof binary / sizeof *binary; i++)
        if (!strcmp(name, binary[i])) return 0;
    return 1;
}

static int is_int_literal(const ilr_math_expr *e, int n) {
    return n >= 0 && e->nodes[n].kind == ILR_MX_NUM && e->nodes[n].value == floor(e->nodes[n].value);
}

static int term(parser *p) {
    int r = unary(p);
    int first = 1;
    while (!p->fail) {
        int op;
        if (accept(p, '*') || accept_cmd(p, "cdot") || accept_cmd(p, "times")) op = ILR_MX_MUL;
        else if (accept(p, '/') || accept_cmd(p, "div")) op = ILR_MX_DIV;
        else if (starts_primary(p)) {
            /* a mixed number 3\frac{1}{2} = 3 + 1/2 */
            if (first && is_int_literal(p->e, r) && accept_cmd(p, "frac")) {
                int a = group_or_token(p, 0), b = group_or_token(p, 0);
                if (is_int_literal(p->e, a) && is_int_literal(p->e, b)) {
                    r = node(p, ILR_MX_ADD, r, node(p, ILR_MX_DIV, a, b, 0), 0);
                    first = 0;
                    continue;
                }
                r = node(p, ILR_MX_MUL, r, node(p, ILR_MX_DIV, a, b, 0), 0);
                first = 0;
                continue;
            }
            op = ILR_MX_MUL;
            r = node(p, op, r, postfix(p), 0);
            first = 0;
            continue;
        } else break;
        r = node(p, op, r, unary(p), 0);
        first = 0;
    }
    return r;
}

static int expr(parser *p) {
    if (++p->depth > ILR_MATH_MAX_DEPTH) return p->fail = 1, -1;
    int r = term(p);
    while (!p->fail) {
        if (accept(p, '+')) r = node(p, ILR_MX_ADD, r, term(p), 0);
        else if (accept(p, '-')) r = node(p, ILR_MX_SUB, r, term(p), 0);
        else break;
    }
    p->depth--;
    return r;
}

int ilr_math_expr_parse(ilr_math_expr *e, const char *s, size_t len) {
    if (!e || !s) return ILR_FAIL(ILR_EINVAL, "ilr_math_expr_parse: NULL argument");
    e->count = e->nvars = e->symbolic = e->percent = 0;
    e->root = -1;
    parser p = {e, s, s + len, 0, 0};
    if (len > ILR_MATH_MAX_LEN) return ILR_FAIL(ILR_EUNSUPPORTED, "math expression: %zu bytes (limit %d)", len, ILR_MATH_MAX_LEN);
    if (peek(&p) == 0) return ILR_FAIL(ILR_EFORMAT, "math expression: empty");
    e->root = expr(&p);
    if (!p.fail && peek(&p) != 0) p.fail = 1;
    if (p.fail || e->root < 0) {
        if (e->count >= ILR_MATH_MAX_NODES)
            return ILR_FAIL(ILR_EUNSUPPORTED, "math expression: more than %d nodes", ILR_MATH_MAX_NODES);
        return ILR_FAIL(ILR_EFORMAT, "math expression: cannot parse at byte %zu of \"%.60s\"", (size_t)(p.s - s), s);
    }
    return 0;
}

static double eval(const ilr_math_expr *e, int i, const double *vars) {
    if (i < 0) return NAN;
    const ilr_math_node *n = &e->nodes[i];
    double a, b;
    switch (n->kind) {
    case ILR_MX_NUM: return n->value;
    case ILR_MX_VAR: return vars ? vars[(int)n->value] : NAN;
    case ILR_MX_ADD: return eval(e, n->a, vars) + eval(e, n->b, vars);
    case ILR_MX_SUB: return eval(e, n->a, vars) - eval(e, n->b, vars);
    case ILR_MX_MUL: return eval(e, n->a, vars) * eval(e, n->b, vars);
    case ILR_MX_DIV:
        b = eval(e, n->b, vars);
        return b == 0 ? NAN : eval(e, n->a, vars) / b;
    case ILR_MX_POW: return pow(eval(e, n->a, vars), eval(e, n->b, vars));
    case ILR_MX_NEG: return -eval(e, n->a, vars);
    case ILR_MX_FACT:
        a = eval(e, n->a, vars);
        return a < 0 || a > 170 ? NAN : tgamma(a + 1);
    case ILR_MX_BINOM:
        a = eval(e, n->a, vars), b = eval(e, n->b, vars);
        if (a < 0 || b < 0 || b > a || a > 170) return a >= 0 && b > a ? 0 : NAN;
        return round(tgamma(a + 1) / (tgamma(b + 1) * tgamma(a - b + 1)));
    case ILR_MX_ROOT:
        a = eval(e, n->a, vars), b = eval(e, n->b, vars);
        if (a < 0 && fmod(b, 2) == 1) return -pow(-a, 1 / b);
        return pow(a, 1 / b);
    case ILR_MX_FUNC: break;
    }
    a = n->a >= 0 ? eval(e, n->a, vars) : 0;
    switch (n->func) {
    case F_SIN: return sin(a);
    case F_COS: return cos(a);
    case F_TAN: return tan(a);
    case F_SEC: return 1 / cos(a);
    case F_CSC: return 1 / sin(a);
    case F_COT: return 1 / tan(a);
    case F_ASIN: return asin(a);
    case F_ACOS: return acos(a);
    case F_ATAN: return atan(a);
    case F_SINH: return sinh(a);
    case F_COSH: return cosh(a);
    case F_TANH: return tanh(a);
    case F_LN: return a <= 0 ? NAN : log(a);
    case F_LOG10: return a <= 0 ? NAN : log10(a);
    case F_EXP: return exp(a);
    case F_SQRT: return a < 0 ? NAN : sqrt(a);
    case F_ABS: return fabs(a);
    case F_FLOOR: return floor(a);
    case F_CEIL: return ceil(a);
    case F_PI: return M_PI;
    case F_E: return M_E;
    case F_INF: return INFINITY;
    }
    return NAN;
}

double ilr_math_expr_eval(const ilr_math_expr *e, const double *vars) { return eval(e, e->root, vars); }
