/* The synthetic world "arith": problems, worked and flawed solutions, the exact checker and analyses
 * (see include/ilr/world.h for the formats). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ilr/error.h"
#include "ilr/math_grader.h"
#include "ilr/world.h"

/* The difficulty knobs, one row per level, to be tuned so that a small model's accuracy falls from about
 * 85 % at level 1 to about 15 % at level 5.  ops: operations per problem.  operand: + and - operands are
 * drawn from [0, operand].  factor: a literal next to a * is drawn from [2, factor] (0: no *), and at
 * every step a * needs an operand <= factor.  mul%: the chance an operator is *.  paren%: the chance a
 * term is a parenthesised group, while the nesting stays within depth.  A problem with a step outside
 * [0, ILR_WORLD_MAX_VALUE] is drawn again.  Measured with the base agents (make agents): levels 3-5 with operands
 * up to 99 left a 0.85M-parameter Qwen2 (8M tokens of SFT) at 24 / 12 / 3 %, hence operands up to 50. */
static const ilr_world_level_knobs KNOBS[ILR_WORLD_LEVELS] = {
    /* ops  operand  factor  mul%  paren%  depth */
    {1, 20, 0, 0, 0, 0},
    {2, 20, 9, 40, 0, 0},
    {3, 50, 9, 35, 40, 1},
    {4, 50, 9, 35, 45, 1},
    {5, 50, 12, 35, 50, 2},
};

#define MAX_TOKENS 160         /* an expression line of model text longer than this is not read */
#define MAX_DIGITS 16          /* a longer literal in model text is not read (LENIENT_LIMIT has 16) */
#define LENIENT_LIMIT 1000000000000000LL /* |values| in model text beyond this count as wrong */
#define GENERATE_TRIES 10000
#define FLAW_TRIES 32

typedef struct {
    char kind; /* 'n' (a number), '+', '-', '*', '(', ')' */
    long long v;
} tok;

typedef struct {
    int n;
    tok t[MAX_TOKENS];
} expr;

/* ---- expressions as token lists ---- */

static int is_op(char c) { return c == '+' || c == '-' || c == '*'; }

static void remove_tokens(expr *e, int at, int count) {
    memmove(e->t + at, e->t + at + count, (size_t)(e->n - at - count) * sizeof(tok));
    e->n -= count;
}

/* Drops parentheses around a single number: (5) -> 5, ((5)) -> 5. */
static void strip_single_parens(expr *e) {
    for (int i = 0; i + 2 < e->n;) {
        if (e->t[i].kind == '(' && e->t[i + 1].kind == 'n' && e->t[i + 2].kind == ')') {
            remove_tokens(e, i + 2, 1);
            remove_tokens(e, i, 1);
            i = i > 0 ? i - 1 : 0;
        } else i++;
    }
}

/* Reads s[0..len) as an expression (spaces skipped) and checks its grammar; 0 or -1. */
static int parse_expr(const char *s, size_t len, expr *e) {
    int expect_operand = 1, depth = 0;
    e->n = 0;
    for (size_t i = 0; i < len;) {
        char c = s[i];
        if (c == ' ' || c == '\t') {
            i++;
            continue;
        }
        if (e->n == MAX_TOKENS) return -1;
        tok *t = &e->t[e->n];
        if (c >= '0' && c <= '9') {
            if (!expect_operand) return -1;
            long long v = 0;
            size_t digits = 0;
            for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, digits++)
                if (digits < MAX_DIGITS) v = v * 10 + (s[i] - '0');
            if (digits > MAX_DIGITS) return -1;
            *t = (tok){'n', v};
            expect_operand = 0;
        } else if (c == '(' && expect_operand) {
            *t = (tok){'(', 0}, depth++, i++;
        } else if (c == ')' && !expect_operand && depth > 0) {
            *t = (tok){')', 0}, depth--, i++;
        } else if (is_op(c) && !expect_operand) {
            *t = (tok){c, 0}, expect_operand = 1, i++;
        } else return -1;
        e->n++;
    }
    if (expect_operand || depth) return -1;
    strip_single_parens(e);
    return 0;
}

/* The operator token the next step performs (order in world.h), or -1 when e is a single number. */
static int next_op(const expr *e) {
    int lo = 0, hi = e->n;
    for (int i = 0; i < e->n; i++) {
        if (e->t[i].kind != ')') continue;
        hi = i;
        for (lo = i; e->t[lo - 1].kind != '('; lo--) {}
        break;
    }
    for (int i = lo; i < hi; i++)
        if (e->t[i].kind == '*') return i;
    for (int i = lo; i < hi; i++)
        if (e->t[i].kind == '+' || e->t[i].kind == '-') return i;
    return -1;
}

/* a op b into *out; -1 when it leaves [-LENIENT_LIMIT, LENIENT_LIMIT]. */
static int op_value(long long a, char op, long long b, long long *out) {
    long long v;
    if (op == '*') {
        if (__builtin_mul_overflow(a, b, &v)) return -1;
    } else v = op == '+' ? a + b : a - b; /* operands are within the limit, so this cannot overflow */
    if (v > LENIENT_LIMIT || v < -LENIENT_LIMIT) return -1;
    *out = v;
    return 0;
}

/* Replaces the operation at operator token i by the number v. */
static void apply_op(expr *e, int i, long long v) {
    e->t[i - 1] = (tok){'n', v};
    remove_tokens(e, i, 2);
    strip_single_parens(e);
}

/* What a step may produce: a value in [0, max], and a * only with an operand <= factor.  Without bounds
 * (NULL) any value within +-LENIENT_LIMIT goes (model text). */
typedef struct {
    long long max;
    long long factor;
} bounds;

static const bounds QUESTION_BOUNDS = {LENIENT_LIMIT, LENIENT_LIMIT};

/* Does one step.  0, 1 when e is already a number, -1 when the step leaves the bounds. */
static int step(expr *e, const bounds *bd, long long *value) {
    int i = next_op(e);
    if (i < 0) return 1;
    long long a = e->t[i - 1].v, b = e->t[i + 1].v, v;
    if (op_value(a, e->t[i].kind, b, &v)) return -1;
    if (bd && (v < 0 || v > bd->max)) return -1;
    if (bd && e->t[i].kind == '*' && a > bd->factor && b > bd->factor) return -1;
    apply_op(e, i, v);
    if (value) *value = v;
    return 0;
}

/* Evaluates e (a copy) by steps; 0 with *value, or -1. */
static int eval_expr(const expr *e, const bounds *bd, long long *value) {
    expr w = *e;
    int rc;
    while ((rc = step(&w, bd, NULL)) == 0) {}
    if (rc < 0) return -1;
    *value = w.t[0].v;
    return 0;
}

/* Writes e as text (no spaces) into out; -1 when it does not fit. */
static int render_expr(const expr *e, char *out, size_t cap) {
    size_t n = 0;
    for (int i = 0; i < e->n; i++) {
        int w = e->t[i].kind == 'n' ? snprintf(out + n, cap - n, "%lld", e->t[i].v)
                                    : snprintf(out + n, cap - n, "%c", e->t[i].kind);
        if (w < 0 || (size_t)w >= cap - n) return -1;
        n += (size_t)w;
    }
    return 0;
}

static int count_ops(const expr *e, int *depth) {
    int ops = 0, d = 0;
    *depth = 0;
    for (int i = 0; i < e->n; i++) {
        ops += is_op(e->t[i].kind);
        d += e->t[i].kind == '(' ? 1 : e->t[i].kind == ')' ? -1 : 0;
        if (d > *depth) *depth = d;
    }
    return ops;
}

/* ---- solution text, written to a memory stream ---- */

static void put_line(FILE *f, const char *prefix, const expr *e) {
    fputs(prefix, f);
    for (int i = 0; i < e->n; i++) {
        if (e->t[i].kind == 'n') fprintf(f, "%lld", e->t[i].v);
        else fputc(e->t[i].kind, f);
    }
    fputc('\n', f);
}

static int open_text(FILE **f, char **buf, size_t *size) {
    *buf = NULL;
    *f = open_memstream(buf, size);
    return *f ? 0 : ILR_FAIL(ILR_ENOMEM, "world: out of memory writing a solution");
}

/* Ends the text with the boxed answer and hands it over in *text (NULL on failure).  *buf is the stream's
 * buffer, which is only final after fclose. */
static int close_text(FILE *f, char **buf, long long answer, char **text) {
    fprintf(f, "\\boxed{%lld}", answer);
    int failed = ferror(f);
    failed |= fclose(f) != 0;
    *text = failed ? NULL : *buf;
    if (failed) {
        free(*buf);
        return ILR_FAIL(ILR_ENOMEM, "world: out of memory writing a solution");
    }
    return 0;
}

/* ---- problems ---- */

const ilr_world_level_knobs *ilr_world_level(int level) {
    return level >= 1 && level <= ILR_WORLD_LEVELS ? &KNOBS[level - 1] : NULL;
}

static int check_level(int level) {
    if (level < 1 || level > ILR_WORLD_LEVELS)
        return ILR_FAIL(ILR_EINVAL, "world: level %d is not one of 1..%d", level, ILR_WORLD_LEVELS);
    return 0;
}

static void push(expr *e, char kind) { e->t[e->n++] = (tok){kind, 0}; }

/* Appends a sequence of terms joined by `ops` operators; a term is a literal or a parenthesised group. */
static void gen_sequence(ilr_rng *rng, const ilr_world_level_knobs *k, int ops, int depth, expr *e) {
    for (int remaining = ops, first = 1;; first = 0) {
        int group_max = first ? remaining - 1 : remaining; /* a group never spans the whole sequence */
        if (depth < k->depth && group_max >= 1 && (int)ilr_rng_below(rng, 100) < k->paren_percent) {
            int g = 1 + (int)ilr_rng_below(rng, (uint32_t)group_max);
            push(e, '(');
            gen_sequence(rng, k, g, depth + 1, e);
            push(e, ')');
            remaining -= g;
        } else push(e, 'n');
        if (remaining == 0) return;
        int mul = k->factor > 0 && (int)ilr_rng_below(rng, 100) < k->mul_percent;
        push(e, mul ? '*' : ilr_rng_below(rng, 2) ? '-' : '+');
        remaining--;
    }
}

static void fill_literals(ilr_rng *rng, const ilr_world_level_knobs *k, expr *e) {
    for (int i = 0; i < e->n; i++) {
        if (e->t[i].kind != 'n') continue;
        int by_mul = (i > 0 && e->t[i - 1].kind == '*') || (i + 1 < e->n && e->t[i + 1].kind == '*');
        e->t[i].v = by_mul ? 2 + ilr_rng_below(rng, (uint32_t)k->factor - 1) : ilr_rng_below(rng, (uint32_t)k->operand + 1);
    }
}

int ilr_world_generate(ilr_rng *rng, int level, ilr_world_problem *out) {
    int rc = check_level(level);
    if (rc) return rc;
    const ilr_world_level_knobs *k = &KNOBS[level - 1];
    for (int attempt = 0; attempt < GENERATE_TRIES; attempt++) {
        expr e = {0};
        gen_sequence(rng, k, k->ops, 0, &e);
        fill_literals(rng, k, &e);
        long long v;
        bounds bd = {ILR_WORLD_MAX_VALUE, k->factor};
        if (eval_expr(&e, &bd, &v) || render_expr(&e, out->expr, sizeof out->expr)) continue;
        out->level = level;
        out->ops = count_ops(&e, &out->depth);
        out->answer = v;
        return 0;
    }
    return ILR_FAIL(ILR_EUNSUPPORTED, "world: no level-%d problem within bounds after %d tries", level, GENERATE_TRIES);
}

int ilr_world_question(const ilr_world_problem *p, char *out, size_t cap) {
    int w = snprintf(out, cap, "Compute %s.", p->expr);
    if (w < 0 || (size_t)w >= cap) return ILR_FAIL(ILR_EINVAL, "world: question of %d bytes does not fit in %zu", w, cap);
    return 0;
}

int ilr_world_parse_question(const char *question, ilr_world_problem *out) {
    if (!question || !out) return ILR_FAIL(ILR_EINVAL, "world: NULL question");
    const char *s = question, *end = question + strlen(question);
    while (s < end && (*s == ' ' || *s == '\t' || *s == '\n')) s++;
    while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\n')) end--;
    if ((size_t)(end - s) >= 8 && strncmp(s, "Compute ", 8) == 0) s += 8;
    if (end > s && end[-1] == '.') end--;
    expr e;
    long long v;
    if (parse_expr(s, (size_t)(end - s), &e))
        return ILR_FAIL(ILR_EFORMAT, "world: '%.80s' is not an arithmetic question (Compute EXPR. with integers, + - * and parentheses)", question);
    if (eval_expr(&e, &QUESTION_BOUNDS, &v))
        return ILR_FAIL(ILR_EFORMAT, "world: '%.80s' has a step below 0 or beyond %lld (the world's values are "
                        "non-negative integers)", question, LENIENT_LIMIT);
    memset(out, 0, sizeof *out);
    if (render_expr(&e, out->expr, sizeof out->expr))
        return ILR_FAIL(ILR_EFORMAT, "world: '%.80s' is longer than %d characters", question, ILR_WORLD_EXPR_CAP - 1);
    out->ops = count_ops(&e, &out->depth);
    out->answer = v;
    return 0;
}

/* ---- splits ---- */

static const ilr_world_split SPLITS[] = {
    {"sft", 0, 40}, {"train", 40, 70}, {"calib", 70, 80}, {"val", 80, 85}, {"test", 85, 100},
};

int ilr_world_split_find(const char *name, const ilr_world_split **out) {
    for (size_t i = 0; i < sizeof SPLITS / sizeof *SPLITS; i++)
        if (name && strcmp(SPLITS[i].name, name) == 0) return *out = &SPLITS[i], 0;
    return ILR_FAIL(ILR_EINVAL, "world: no split '%s' (the splits are sft, train, calib, val, test)", name ? name : "(null)");
}

int ilr_world_bucket(const char *expr_text) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const unsigned char *p = (const unsigned char *)expr_text; *p; p++) h = (h ^ *p) * 0x100000001b3ULL;
    h ^= h >> 33, h *= 0xff51afd7ed558ccdULL, h ^= h >> 33, h *= 0xc4ceb9fe1a85ec53ULL, h ^= h >> 33;
    return (int)(h % 100);
}

int ilr_world_generate_in_split(ilr_rng *rng, int level, const ilr_world_split *split, ilr_world_problem *out) {
    for (int attempt = 0; attempt < GENERATE_TRIES; attempt++) {
        int rc = ilr_world_generate(rng, level, out);
        if (rc) return rc;
        int b = ilr_world_bucket(out->expr);
        if (b >= split->lo && b < split->hi) return 0;
    }
    return ILR_FAIL(ILR_EUNSUPPORTED, "world: no level-%d problem of split '%s' after %d tries", level, split->name,
                    GENERATE_TRIES);
}

/* ---- solutions ---- */

static int problem_expr(const ilr_world_problem *p, expr *e) {
    if (parse_expr(p->expr, strlen(p->expr), e)) return ILR_FAIL(ILR_EINVAL, "world: '%s' is not an expression", p->expr);
    return 0;
}

int ilr_world_solution(const ilr_world_problem *p, char **text) {
    expr e;
    FILE *f;
    char *buf;
    size_t size;
    *text = NULL;
    int rc = problem_expr(p, &e);
    if (rc || (rc = open_text(&f, &buf, &size))) return rc;
    put_line(f, "", &e);
    while (step(&e, NULL, NULL) == 0) put_line(f, "=", &e);
    return close_text(f, &buf, p->answer, text);
}

/* A slip: v off by 1 or 2, by 10 (a carry), or with one digit changed; never v itself, never negative. */
static long long slip_value(ilr_rng *rng, long long v) {
    for (;;) {
        long long w;
        uint32_t how = ilr_rng_below(rng, 4);
        int sign = ilr_rng_below(rng, 2) ? 1 : -1;
        if (how <= 1) w = v + sign * (1 + (long long)ilr_rng_below(rng, 2));
        else if (how == 2) w = v + sign * 10;
        else {
            char d[24];
            int len = snprintf(d, sizeof d, "%lld", v), at = (int)ilr_rng_below(rng, (uint32_t)len);
            char c = (char)('0' + ilr_rng_below(rng, 10));
            if (at == 0 && len > 1 && c == '0') continue;
            d[at] = c;
            w = strtoll(d, NULL, 10);
        }
        if (w != v && w >= 0) return w; /* the caller refuses one beyond the bounds */
    }
}

/* Plants the flaw at step k (slip by delta when delta != 0, else a random slip; skip keeps operand
 * `keep` 0/1) and writes the solution; 0, or 1 when the result would be out of bounds or right anyway. */
static int plant(const ilr_world_problem *p, ilr_world_flaw_kind kind, int k, long long delta, int keep,
                 ilr_rng *rng, FILE *f, ilr_world_flaw *flaw) {
    expr e;
    if (problem_expr(p, &e)) return -1;
    put_line(f, "", &e);
    for (int s = 1; s < k; s++) {
        step(&e, NULL, NULL);
        put_line(f, "=", &e);
    }
    int i = next_op(&e);
    long long a = e.t[i - 1].v, c = e.t[i + 1].v, right = 0;
    op_value(a, e.t[i].kind, c, &right);
    snprintf(flaw->op, sizeof flaw->op, "%lld%c%lld", a, e.t[i].kind, c);
    flaw->kind = kind, flaw->step = k, flaw->value = right;
    long long wrong = kind == ILR_WORLD_SKIP ? (keep ? c : a) : delta ? right + delta : slip_value(rng, right);
    if (wrong < 0 || wrong > ILR_WORLD_MAX_VALUE) return 1;
    apply_op(&e, i, wrong);
    put_line(f, "=", &e);
    long long v;
    while (step(&e, NULL, &v) == 0) {
        if (v < 0 || v > ILR_WORLD_MAX_VALUE) return 1;
        put_line(f, "=", &e);
    }
    flaw->answer = e.t[0].v;
    return flaw->answer == p->answer ? 1 : 0;
}

int ilr_world_flawed_solution(const ilr_world_problem *p, ilr_world_flaw_kind kind, ilr_rng *rng, char **text,
                              ilr_world_flaw *flaw) {
    *text = NULL;
    expr e;
    int depth, rc = problem_expr(p, &e);
    if (rc) return rc;
    int ops = count_ops(&e, &depth);
    if (ops < 1) return ILR_FAIL(ILR_EINVAL, "world: '%s' has no operation to get wrong", p->expr);
    if (kind != ILR_WORLD_SLIP && kind != ILR_WORLD_SKIP) return ILR_FAIL(ILR_EINVAL, "world: unknown flaw kind %d", (int)kind);
    /* random tries of the kind asked for, then every step with small slips, so some flaw is always found */
    for (int attempt = 0; attempt < FLAW_TRIES + 4 * ops; attempt++) {
        int k = attempt < FLAW_TRIES ? 1 + (int)ilr_rng_below(rng, (uint32_t)ops) : 1 + (attempt - FLAW_TRIES) / 4;
        ilr_world_flaw_kind kd = attempt < FLAW_TRIES ? kind : ILR_WORLD_SLIP;
        static const long long deltas[4] = {1, -1, 2, -2};
        long long delta = attempt < FLAW_TRIES ? 0 : deltas[(attempt - FLAW_TRIES) % 4];
        int keep = kd == ILR_WORLD_SKIP ? (int)ilr_rng_below(rng, 2) : 0;
        FILE *f;
        char *buf;
        size_t size;
        if ((rc = open_text(&f, &buf, &size))) return rc;
        if ((rc = plant(p, kd, k, delta, keep, rng, f, flaw)) == 0) return close_text(f, &buf, flaw->answer, text);
        fclose(f);
        free(buf);
        if (rc < 0) return ilr_last_error_code();
    }
    return ILR_FAIL(ILR_EUNSUPPORTED, "world: no flaw of '%s' leaves its steps within [0, %d]", p->expr, ILR_WORLD_MAX_VALUE);
}

/* ---- checking ---- */

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; }

/* An integer (optional '-', at most 18 digits) and nothing else; 0 or -1. */
static int parse_integer(const char *s, long long *out) {
    const char *p = s + (*s == '-');
    size_t digits = strspn(p, "0123456789");
    if (digits == 0 || digits > 18 || p[digits]) return -1;
    *out = strtoll(s, NULL, 10);
    return 0;
}

static size_t count_boxed(const char *text, size_t len) {
    size_t count = 0;
    for (size_t i = 0; i + 6 <= len; i++) count += memcmp(text + i, "\\boxed", 6) == 0;
    return count;
}

/* One line of text, trimmed. */
typedef struct {
    const char *s;
    size_t len;
} span;

/* The line at *pos (trimmed), moving *pos past it; 0 after the last line. */
static int next_line(const char *text, size_t len, size_t *pos, span *line) {
    if (*pos > len) return 0;
    const char *nl = memchr(text + *pos, '\n', len - *pos);
    size_t end = nl ? (size_t)(nl - text) : len;
    line->s = text + *pos, line->len = end - *pos;
    *pos = end + 1;
    while (line->len && is_space(line->s[0])) line->s++, line->len--;
    while (line->len && is_space(line->s[line->len - 1])) line->len--;
    return 1;
}

static int is_boxed_line(span l) {
    if (l.len < 9 || memcmp(l.s, "\\boxed{", 7) != 0 || l.s[l.len - 1] != '}') return 0;
    char num[24];
    size_t n = l.len - 8;
    if (n >= sizeof num || memchr(l.s + 7, 0, n)) return 0;
    memcpy(num, l.s + 7, n);
    num[n] = 0;
    long long v;
    return parse_integer(num, &v) == 0;
}

/* The check, also giving the last line before the first wrong one that had the right value (the
 * restated expression or a step, without its '='); good->s is NULL when there is none. */
static int scan(const ilr_world_problem *p, const char *text, size_t len, ilr_world_verdict *v, span *good) {
    memset(v, 0, sizeof *v);
    v->first_wrong = -1;
    good->s = NULL, good->len = 0;
    char *answer = NULL;
    int rc = ilr_math_extract(text, len, ILR_MATH_EXTRACT_BOXED, &answer);
    if (rc < 0) return rc;
    if (answer && parse_integer(answer, &v->given) == 0) v->has_answer = 1;
    free(answer);
    v->correct = v->has_answer && v->given == p->answer;

    while (len && is_space(text[len - 1])) len--;
    size_t pos = 0;
    while (pos < len && is_space(text[pos])) pos++;
    int index = 0, ended = 0, shape_ok = 1;
    span line;
    for (; next_line(text, len, &pos, &line); index++) {
        if (index > 0 && is_boxed_line(line) && pos > len) {
            ended = 1;
            break;
        }
        int eq = line.len && line.s[0] == '=';
        span body = {line.s + eq, line.len - (size_t)eq};
        expr e;
        long long value;
        int ok = eq == (index > 0) && parse_expr(body.s, body.len, &e) == 0;
        if (!ok) shape_ok = 0;
        if (v->first_wrong < 0 && !(ok && eval_expr(&e, NULL, &value) == 0 && value == p->answer)) v->first_wrong = index;
        if (!ok) break;
        if (index > 0) v->steps++;
        if (v->first_wrong < 0) good->s = body.s, good->len = body.len;
    }
    if (!ended && v->first_wrong < 0) v->first_wrong = index; /* the lines stop before a \boxed{} line */
    v->well_formed = shape_ok && ended && v->steps >= 1 && count_boxed(text, len) == 1;
    return 0;
}

int ilr_world_check_problem(const ilr_world_problem *p, const char *text, size_t len, ilr_world_verdict *v) {
    if (!p || !v || (!text && len)) return ILR_FAIL(ILR_EINVAL, "world check: NULL argument");
    span good;
    return scan(p, text ? text : "", len, v, &good);
}

int ilr_world_check(const char *question, const char *text, size_t len, ilr_world_verdict *v) {
    ilr_world_problem p;
    int rc = ilr_world_parse_question(question, &p);
    return rc ? rc : ilr_world_check_problem(&p, text, len, v);
}

/* ---- analyses ---- */

static int dup_text(const char *s, char **out) {
    *out = strdup(s);
    return *out ? 0 : ILR_FAIL(ILR_ENOMEM, "world: out of memory");
}

int ilr_world_analyse(const ilr_world_problem *p, const char *text, size_t len, char **out) {
    *out = NULL;
    ilr_world_verdict v;
    span good;
    if (!p || (!text && len)) return ILR_FAIL(ILR_EINVAL, "world analyse: NULL argument");
    int rc = scan(p, text ? text : "", len, &v, &good);
    if (rc) return rc;
    char msg[160];
    if (v.first_wrong < 0) {
        if (v.correct) return dup_text("All steps are correct.", out);
        snprintf(msg, sizeof msg, "The answer is %lld.", p->answer);
        return dup_text(msg, out);
    }
    /* the step after the last right line, done on that line (the problem itself when there is none) */
    expr e;
    int k = v.first_wrong > 0 ? v.first_wrong : 1;
    if (good.s ? parse_expr(good.s, good.len, &e) != 0 : problem_expr(p, &e) != 0)
        return ILR_FAIL(ILR_EINVAL, "world analyse: '%s' is not an expression", p->expr);
    int i = next_op(&e);
    long long value;
    if (i < 0) snprintf(msg, sizeof msg, "Step %d is wrong: the result is %lld.", k, p->answer);
    else if (op_value(e.t[i - 1].v, e.t[i].kind, e.t[i + 1].v, &value) == 0)
        snprintf(msg, sizeof msg, "Step %d is wrong: %lld%c%lld=%lld.", k, e.t[i - 1].v, e.t[i].kind, e.t[i + 1].v, value);
    else snprintf(msg, sizeof msg, "Step %d is wrong.", k);
    return dup_text(msg, out);
}
