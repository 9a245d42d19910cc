/* The synthetic world "arith": problems against an independent recursive-descent evaluator, worked and
 * flawed solutions through the checker, analyses, splits, and `ilr world gen` end to end. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ilr/error.h"
#include "ilr/hashmap.h"
#include "ilr/io.h"
#include "ilr/json.h"
#include "ilr/rng.h"
#include "ilr/template.h"
#include "ilr/world.h"
#include "test_util.h"

#define PER_LEVEL 2000

/* ---- an independent evaluator: recursive descent with precedence, nothing shared with the library ---- */

typedef struct {
    const char *s;
    int ok;
} rd;

static long long rd_sum(rd *r);

static long long rd_atom(rd *r) {
    if (*r->s == '(') {
        r->s++;
        long long v = rd_sum(r);
        if (*r->s != ')') r->ok = 0;
        else r->s++;
        return v;
    }
    if (*r->s < '0' || *r->s > '9') return r->ok = 0, 0;
    long long v = 0;
    while (*r->s >= '0' && *r->s <= '9') v = v * 10 + (*r->s++ - '0');
    return v;
}

static long long rd_product(rd *r) {
    long long v = rd_atom(r);
    while (r->ok && *r->s == '*') r->s++, v *= rd_atom(r);
    return v;
}

static long long rd_sum(rd *r) {
    long long v = rd_product(r);
    while (r->ok && (*r->s == '+' || *r->s == '-')) {
        char op = *r->s++;
        long long w = rd_product(r);
        v = op == '+' ? v + w : v - w;
    }
    return v;
}

/* The value of s[0..len) (no spaces); *ok 0 when it is not an expression. */
static long long rd_eval(const char *s, size_t len, int *ok) {
    char buf[256];
    if (len >= sizeof buf) return *ok = 0, 0;
    memcpy(buf, s, len);
    buf[len] = 0;
    rd r = {buf, 1};
    long long v = rd_sum(&r);
    *ok = r.ok && *r.s == 0;
    return v;
}

static int count_char(const char *s, size_t len, const char *set) {
    int n = 0;
    for (size_t i = 0; i < len; i++) n += strchr(set, s[i]) != NULL && s[i];
    return n;
}

/* Splits text into lines (pointers into a copy the caller frees). */
static int split_lines(const char *text, char **copy, char *lines[], int max) {
    *copy = strdup(text);
    int n = 0;
    for (char *p = *copy; p && n < max;) {
        lines[n++] = p;
        char *nl = strchr(p, '\n');
        if (nl) *nl = 0;
        p = nl ? nl + 1 : NULL;
    }
    return n;
}

static ilr_world_problem *gen_problems(int level, int count, uint64_t seed) {
    ilr_world_problem *ps = calloc((size_t)count, sizeof *ps);
    ilr_rng rng;
    ilr_rng_init(&rng, seed, (uint64_t)level);
    for (int i = 0; i < count; i++) assert_int_equal(ilr_world_generate(&rng, level, &ps[i]), 0);
    return ps;
}

/* ---- problems ---- */

static void test_determinism(void **state) {
    (void)state;
    for (int level = 1; level <= ILR_WORLD_LEVELS; level++) {
        ilr_world_problem *a = gen_problems(level, 500, 7), *b = gen_problems(level, 500, 7), *c = gen_problems(level, 500, 8);
        int same_seed_equal = 0, other_seed_equal = 0;
        for (int i = 0; i < 500; i++) {
            same_seed_equal += memcmp(&a[i], &b[i], sizeof a[i]) == 0;
            other_seed_equal += strcmp(a[i].expr, c[i].expr) == 0;
        }
        assert_int_equal(same_seed_equal, 500);
        assert_true(other_seed_equal < (level == 1 ? 20 : 5));
        free(a), free(b), free(c);
    }
    ilr_rng rng;
    ilr_rng_init(&rng, 1, 1);
    ilr_world_problem p;
    ILR_EXPECT_ERROR(ilr_world_generate(&rng, 0, &p), ILR_EINVAL, "level 0");
    ILR_EXPECT_ERROR(ilr_world_generate(&rng, 6, &p), ILR_EINVAL, "level 6");
    assert_null(ilr_world_level(0));
    assert_null(ilr_world_level(ILR_WORLD_LEVELS + 1));
}

/* Every literal within its level's bounds: next to a * in [2, factor], else in [0, operand]. */
static void check_literals(const ilr_world_problem *p, const ilr_world_level_knobs *k) {
    const char *s = p->expr;
    for (size_t i = 0; s[i];) {
        if (s[i] < '0' || s[i] > '9') {
            i++;
            continue;
        }
        size_t j = i;
        long long v = 0;
        while (s[j] >= '0' && s[j] <= '9') v = v * 10 + (s[j++] - '0');
        int by_mul = (i > 0 && s[i - 1] == '*') || s[j] == '*';
        if (by_mul ? v < 2 || v > k->factor : v > k->operand) {
            print_error("level %d: literal %lld of %s is out of its bounds\n", p->level, v, s);
            fail();
        }
        i = j;
    }
}

static void test_levels(void **state) {
    (void)state;
    printf("world levels over %d problems each:\n", PER_LEVEL);
    double prev_chars = 0;
    for (int level = 1; level <= ILR_WORLD_LEVELS; level++) {
        const ilr_world_level_knobs *k = ilr_world_level(level);
        ilr_world_problem *ps = gen_problems(level, PER_LEVEL, 3);
        int with_mul = 0, with_parens = 0, nested = 0, distinct = 0, max_chars = 0;
        long chars = 0;
        ilr_strmap seen;
        assert_int_equal(ilr_strmap_init(&seen, PER_LEVEL), 0);
        for (int i = 0; i < PER_LEVEL; i++) {
            const ilr_world_problem *p = &ps[i];
            size_t len = strlen(p->expr);
            assert_int_equal(p->level, level);
            assert_int_equal(p->ops, k->ops);
            assert_int_equal(count_char(p->expr, len, "+-*"), k->ops);
            assert_true(p->depth <= k->depth);
            assert_true(p->answer >= 0 && p->answer <= ILR_WORLD_MAX_VALUE);
            if (!k->factor) assert_null(strchr(p->expr, '*'));
            check_literals(p, k);
            with_mul += strchr(p->expr, '*') != NULL;
            with_parens += p->depth > 0;
            nested += p->depth > 1;
            if (ilr_strmap_get(&seen, p->expr, len) < 0) distinct++, ilr_strmap_put(&seen, p->expr, len, 1);
            char *sol;
            assert_int_equal(ilr_world_solution(p, &sol), 0);
            int n = (int)strlen(sol);
            chars += n;
            if (n > max_chars) max_chars = n;
            free(sol);
        }
        printf("  level %d: %d ops, %d distinct, * in %d, parentheses in %d (nested %d), solution %.1f chars "
               "on average, %d at most\n", level, k->ops, distinct, with_mul, with_parens, nested,
               (double)chars / PER_LEVEL, max_chars);
        if (k->factor) assert_true(with_mul > PER_LEVEL / 10);
        if (k->depth) assert_true(with_parens > PER_LEVEL / 10);
        if (k->depth > 1) assert_true(nested > PER_LEVEL / 50);
        assert_true((double)chars / PER_LEVEL > prev_chars); /* solutions grow with the level */
        prev_chars = (double)chars / PER_LEVEL;
        ilr_strmap_free(&seen);
        free(ps);
    }
}

/* A worked solution: line 0 the expression, each "=" line one operation less with the same value, every
 * number within bounds, \boxed{answer} last. */
static void check_solution_lines(const ilr_world_problem *p, const char *sol) {
    char *copy, *lines[64];
    int n = split_lines(sol, &copy, lines, 64), ok;
    assert_int_equal(n, p->ops + 2);
    assert_string_equal(lines[0], p->expr);
    for (int i = 0; i <= p->ops; i++) {
        const char *body = lines[i] + (i > 0);
        if (i > 0) assert_int_equal(lines[i][0], '=');
        long long v = rd_eval(body, strlen(body), &ok);
        if (!ok || v != p->answer) print_error("%s: line %d '%s' has value %lld\n", p->expr, i, lines[i], v);
        assert_true(ok && v == p->answer);
        assert_int_equal(count_char(body, strlen(body), "+-*"), p->ops - i);
        for (const char *q = body; *q; q++)
            if (*q >= '0' && *q <= '9' && (q == body || q[-1] < '0' || q[-1] > '9')) assert_true(atoll(q) <= ILR_WORLD_MAX_VALUE);
    }
    char box[48];
    snprintf(box, sizeof box, "\\boxed{%lld}", p->answer);
    assert_string_equal(lines[n - 1], box);
    free(copy);
}

static void test_answers_and_solutions(void **state) {
    (void)state;
    int checked = 0;
    for (int level = 1; level <= ILR_WORLD_LEVELS; level++) {
        ilr_world_problem *ps = gen_problems(level, PER_LEVEL, 11);
        for (int i = 0; i < PER_LEVEL; i++) {
            const ilr_world_problem *p = &ps[i];
            int ok;
            long long v = rd_eval(p->expr, strlen(p->expr), &ok);
            assert_true(ok);
            if (v != p->answer) print_error("%s: generator says %lld, evaluator %lld\n", p->expr, p->answer, v);
            assert_true(v == p->answer);
            char q[ILR_WORLD_EXPR_CAP + 16];
            assert_int_equal(ilr_world_question(p, q, sizeof q), 0);
            ilr_world_problem back;
            assert_int_equal(ilr_world_parse_question(q, &back), 0);
            assert_string_equal(back.expr, p->expr);
            assert_true(back.answer == p->answer && back.ops == p->ops && back.depth == p->depth);

            char *sol;
            assert_int_equal(ilr_world_solution(p, &sol), 0);
            check_solution_lines(p, sol);
            ilr_world_verdict vd;
            assert_int_equal(ilr_world_check(q, sol, strlen(sol), &vd), 0);
            assert_true(vd.correct && vd.well_formed && vd.has_answer);
            assert_int_equal(vd.first_wrong, -1);
            assert_int_equal(vd.steps, p->ops);
            char *an;
            assert_int_equal(ilr_world_analyse(p, sol, strlen(sol), &an), 0);
            assert_string_equal(an, "All steps are correct.");
            free(an);
            free(sol);
            checked++;
        }
        free(ps);
    }
    printf("world: %d questions agree with an independent evaluator; every worked solution checks correct\n", checked);
    char small[8], *text;
    ilr_world_problem p = {.expr = "12+7"};
    ILR_EXPECT_ERROR(ilr_world_question(&p, small, sizeof small), ILR_EINVAL, "does not fit");
    ilr_rng rng;
    ilr_rng_init(&rng, 1, 1);
    ilr_world_flaw f;
    ILR_EXPECT_ERROR(ilr_world_flawed_solution(&p, (ilr_world_flaw_kind)5, &rng, &text, &f), ILR_EINVAL, "flaw kind 5");
    snprintf(p.expr, sizeof p.expr, "7");
    ILR_EXPECT_ERROR(ilr_world_flawed_solution(&p, ILR_WORLD_SLIP, &rng, &text, &f), ILR_EINVAL, "no operation");
    snprintf(p.expr, sizeof p.expr, "0+0"); /* no skip changes 0+0: a slip instead */
    assert_int_equal(ilr_world_flawed_solution(&p, ILR_WORLD_SKIP, &rng, &text, &f), 0);
    assert_int_equal(f.kind, ILR_WORLD_SLIP);
    assert_true(f.answer > 0 && f.step == 1 && f.value == 0);
    assert_string_equal(f.op, "0+0");
    free(text);
}

static void test_flawed_solutions(void **state) {
    (void)state;
    int planted[2] = {0}, fallbacks = 0, at_step[6] = {0};
    for (int level = 1; level <= ILR_WORLD_LEVELS; level++) {
        ilr_world_problem *ps = gen_problems(level, PER_LEVEL / 2, 13);
        ilr_rng rng;
        ilr_rng_init(&rng, 13, 100 + (uint64_t)level);
        for (int i = 0; i < PER_LEVEL / 2; i++) {
            const ilr_world_problem *p = &ps[i];
            char *right;
            assert_int_equal(ilr_world_solution(p, &right), 0);
            for (int kind = ILR_WORLD_SLIP; kind <= ILR_WORLD_SKIP; kind++) {
                char *text;
                ilr_world_flaw f;
                assert_int_equal(ilr_world_flawed_solution(p, (ilr_world_flaw_kind)kind, &rng, &text, &f), 0);
                planted[f.kind]++;
                fallbacks += (int)f.kind != kind;
                assert_true(f.step >= 1 && f.step <= p->ops);
                at_step[f.step]++;
                /* the recorded operation and value, by the independent evaluator */
                int ok;
                assert_true(rd_eval(f.op, strlen(f.op), &ok) == f.value && ok);
                assert_true(f.answer != p->answer && f.answer >= 0);
                /* the lines before the flaw are the worked solution's */
                char *c1, *c2, *l1[64], *l2[64];
                int n1 = split_lines(right, &c1, l1, 64), n2 = split_lines(text, &c2, l2, 64);
                assert_int_equal(n2, n1);
                for (int s = 0; s < f.step; s++) assert_string_equal(l1[s], l2[s]);
                const char *bad = l2[f.step] + 1;
                long long v = rd_eval(bad, strlen(bad), &ok);
                assert_true(ok && v == f.answer); /* the flaw propagates: later steps are right on it */
                /* one step done either way (a skip drops the operation instead of doing it) */
                assert_int_equal(count_char(bad, strlen(bad), "+-*"), p->ops - f.step);
                free(c1), free(c2);

                ilr_world_verdict vd;
                assert_int_equal(ilr_world_check_problem(p, text, strlen(text), &vd), 0);
                if (vd.correct || !vd.well_formed || vd.first_wrong != f.step)
                    print_error("%s:\n%s\nflaw at step %d: verdict correct %d well_formed %d first_wrong %d\n", p->expr,
                                text, f.step, vd.correct, vd.well_formed, vd.first_wrong);
                assert_false(vd.correct);
                assert_true(vd.well_formed);
                assert_int_equal(vd.first_wrong, f.step);
                assert_true(vd.has_answer && vd.given == f.answer);
                char *an, want[160];
                assert_int_equal(ilr_world_analyse(p, text, strlen(text), &an), 0);
                snprintf(want, sizeof want, "Step %d is wrong: %s=%lld.", f.step, f.op, f.value);
                assert_string_equal(an, want);
                free(an);
                free(text);
            }
            free(right);
        }
        free(ps);
    }
    printf("world: %d slips and %d skips planted (%d skips fell back to a slip); first wrong step 1..5: %d %d %d %d %d\n",
           planted[0], planted[1], fallbacks, at_step[1], at_step[2], at_step[3], at_step[4], at_step[5]);
    assert_true(planted[1] > planted[0] / 2);
    assert_true(fallbacks < PER_LEVEL / 20);
}

/* ---- the checker on hand-written texts ---- */

static void expect_verdict(const char *text, int correct, int well_formed, int first_wrong, const char *analysis) {
    ilr_world_verdict v;
    assert_int_equal(ilr_world_check("Compute (12+7)*3-5.", text, strlen(text), &v), 0);
    if (v.correct != correct || v.well_formed != well_formed || v.first_wrong != first_wrong)
        print_error("'%s': correct %d well_formed %d first_wrong %d, want %d %d %d\n", text, v.correct, v.well_formed,
                    v.first_wrong, correct, well_formed, first_wrong);
    assert_int_equal(v.correct, correct);
    assert_int_equal(v.well_formed, well_formed);
    assert_int_equal(v.first_wrong, first_wrong);
    ilr_world_problem p;
    assert_int_equal(ilr_world_parse_question("(12+7)*3-5", &p), 0);
    char *an;
    assert_int_equal(ilr_world_analyse(&p, text, strlen(text), &an), 0);
    if (strcmp(an, analysis)) print_error("'%s': analysis '%s', want '%s'\n", text, an, analysis);
    assert_string_equal(an, analysis);
    free(an);
}

static void test_checker_cases(void **state) {
    (void)state;
    const char *ok = "All steps are correct.", *s2 = "Step 2 is wrong: 19*3=57.";
    expect_verdict("(12+7)*3-5\n=19*3-5\n=57-5\n=52\n\\boxed{52}", 1, 1, -1, ok);
    expect_verdict("  (12+7)*3-5\r\n= 19 * 3 - 5\r\n=57-5\n=52\n\\boxed{52}\n\n", 1, 1, -1, ok); /* spaces, CRLF */
    expect_verdict("(12+7)*3-5\n=52\n\\boxed{52}", 1, 1, -1, ok);       /* steps merged: values still right */
    expect_verdict("(12+7)*3-5\n=19*3-5\n=58-5\n=53\n\\boxed{53}", 0, 1, 2, s2);
    expect_verdict("(12+7)*3-5\n=19-5\n=14\n\\boxed{14}", 0, 1, 1, "Step 1 is wrong: 12+7=19.");
    expect_verdict("(12+7)*3-5\n=19*3-5\n=57-5\n=52\n\\boxed{53}", 0, 1, -1, "The answer is 52.");
    expect_verdict("(12+7)*3-5\n=19*3-5\n=57-5\n=52", 0, 0, 4, "Step 4 is wrong: the result is 52.");
    expect_verdict("\\boxed{52}", 1, 0, 0, "Step 1 is wrong: 12+7=19.");
    expect_verdict("The answer is \\boxed{52}", 1, 0, 0, "Step 1 is wrong: 12+7=19.");
    expect_verdict("", 0, 0, 0, "Step 1 is wrong: 12+7=19.");
    expect_verdict("(12+7)*3-5\n\n=19*3-5\n=57-5\n=52\n\\boxed{52}", 1, 0, 1, "Step 1 is wrong: 12+7=19."); /* blank line */
    expect_verdict("(12+7)*3-5\n=19*3-5\n\\boxed{57}\n=57-5\n=52\n\\boxed{52}", 1, 0, 2, s2);       /* two boxes */
    expect_verdict("(12+7)*3-5\n=19*3-5\n=57-5\n=52\n\\boxed{52} done", 1, 0, 4, "Step 4 is wrong: the result is 52.");
    expect_verdict("(12+7)*3-5\n19*3-5\n=57-5\n=52\n\\boxed{52}", 1, 0, 1, "Step 1 is wrong: 12+7=19."); /* no '=' */
    expect_verdict("(12+7)*3-5\n=19*3-5\n=57-5\n=52\n\\boxed{52.0}", 0, 0, 4, "Step 4 is wrong: the result is 52.");
    expect_verdict("(12+7)*3-5\n=19*3-5\n=57-5\n=52\n\\boxed{-52}", 0, 1, -1, "The answer is 52.");
    expect_verdict("(12+7)*3-5\n=19*3-5\n=5-7\n=-2\n\\boxed{-2}", 0, 0, 2, s2); /* a negative is not an expression */
    expect_verdict("(12+7)*3-5\n=(19)*3-5\n=57-5\n=52\n\\boxed{52}", 1, 1, -1, ok); /* (19) reads as 19 */
    expect_verdict("(12+7)*3-5\n=19*3-5\n=99999999999999999*99999*5\n=52\n\\boxed{52}", 1, 0, 2, s2); /* too long a literal */
    expect_verdict("(12+7)*3-5\n=19*3-5\n=999999999999999*999999999999999\n=52\n\\boxed{52}", 1, 1, 2, s2); /* overflow */
    /* NUL bytes are text like any other: the line holding one is not an expression */
    const char nul[] = "(12+7)*3-5\n=19*3\0-5\n=57-5\n=52\n\\boxed{52}";
    ilr_world_verdict v;
    assert_int_equal(ilr_world_check("Compute (12+7)*3-5.", nul, sizeof nul - 1, &v), 0);
    assert_true(v.correct && !v.well_formed && v.first_wrong == 1);
    /* a line over the token limit is not read; deep nesting is no trouble */
    char deep[2048] = "";
    for (int i = 0; i < 300; i++) strcat(deep, "(");
    strcat(deep, "52");
    for (int i = 0; i < 300; i++) strcat(deep, ")");
    strcat(deep, "\n\\boxed{52}");
    assert_int_equal(ilr_world_check("Compute (12+7)*3-5.", deep, strlen(deep), &v), 0);
    assert_true(v.correct && v.first_wrong == 0);
    /* questions that are not arithmetic */
    ILR_EXPECT_ERROR(ilr_world_check("What is 2+2?", "4", 1, &v), ILR_EFORMAT, "What is 2+2?", "not an arithmetic question");
    ILR_EXPECT_ERROR(ilr_world_check("Compute 1+.", "4", 1, &v), ILR_EFORMAT, "Compute 1+.");
    ILR_EXPECT_ERROR(ilr_world_check("Compute (1+2.", "4", 1, &v), ILR_EFORMAT, "Compute (1+2.");
    ILR_EXPECT_ERROR(ilr_world_check("Compute 999999999*999999999*99999.", "4", 1, &v), ILR_EFORMAT, "beyond");
    char long_q[200] = "Compute 1";
    for (int i = 0; i < 60; i++) strcat(long_q, "+1");
    ILR_EXPECT_ERROR(ilr_world_check(long_q, "4", 1, &v), ILR_EFORMAT, "longer than 95");
    ILR_EXPECT_ERROR(ilr_world_check(NULL, "4", 1, &v), ILR_EINVAL, "NULL");
    ilr_world_problem p;
    assert_int_equal(ilr_world_parse_question("  Compute 2 * (3 + 4).  ", &p), 0);
    assert_string_equal(p.expr, "2*(3+4)");
    assert_true(p.answer == 14 && p.ops == 2 && p.depth == 1 && p.level == 0);
    assert_int_equal(ilr_world_parse_question("Compute 123456*1000.", &p), 0); /* beyond the generator's bounds */
    assert_true(p.answer == 123456000);
    ILR_EXPECT_ERROR(ilr_world_parse_question("Compute 1-5+9.", &p), ILR_EFORMAT, "below 0", "non-negative");
}

/* ---- splits ---- */

static void test_splits_disjoint(void **state) {
    (void)state;
    static const char *const names[] = {"sft", "train", "calib", "val", "test"};
    const int per_split = 3000;
    ilr_strmap owner;
    assert_int_equal(ilr_strmap_init(&owner, 5 * per_split), 0);
    int distinct[5] = {0}, shared = 0, total = 0;
    for (int s = 0; s < 5; s++) {
        const ilr_world_split *split;
        assert_int_equal(ilr_world_split_find(names[s], &split), 0);
        assert_string_equal(split->name, names[s]);
        for (int i = 0; i < per_split; i++) {
            ilr_rng rng; /* two seeds per split: disjointness must not depend on the seed */
            ilr_rng_init(&rng, (uint64_t)(1 + i % 2), (uint64_t)(s * 100000 + i));
            ilr_world_problem p;
            assert_int_equal(ilr_world_generate_in_split(&rng, 1 + i % ILR_WORLD_LEVELS, split, &p), 0);
            int b = ilr_world_bucket(p.expr);
            assert_true(b >= split->lo && b < split->hi);
            size_t len = strlen(p.expr);
            int32_t prev = ilr_strmap_get(&owner, p.expr, len);
            if (prev < 0) distinct[s]++, ilr_strmap_put(&owner, p.expr, len, s);
            else shared += prev != s;
            total++;
        }
    }
    printf("world splits: %d problems, distinct per split sft %d train %d calib %d val %d test %d, %d shared\n", total,
           distinct[0], distinct[1], distinct[2], distinct[3], distinct[4], shared);
    assert_int_equal(shared, 0);
    ilr_strmap_free(&owner);
    /* the buckets tile [0, 100) */
    int covered[100] = {0};
    for (int s = 0; s < 5; s++) {
        const ilr_world_split *split;
        ilr_world_split_find(names[s], &split);
        for (int b = split->lo; b < split->hi; b++) covered[b]++;
    }
    for (int b = 0; b < 100; b++) assert_int_equal(covered[b], 1);
    const ilr_world_split *split;
    ILR_EXPECT_ERROR(ilr_world_split_find("dev", &split), ILR_EINVAL, "'dev'", "sft, train, calib, val, test");
    assert_int_equal(ilr_world_bucket("(12+7)*3-5"), ilr_world_bucket("(12+7)*3-5"));
}

/* ---- prompts and records ---- */

static void test_prompts(void **state) {
    (void)state;
    ilr_world_prompts pr;
    assert_int_equal(ilr_world_prompts_load(&pr), 0);
    char *out;
    ilr_template_var q = {"question", "Compute 1+2."};
    assert_int_equal(ilr_template_render(pr.solve, "solve", &q, 1, &out), 0);
    assert_string_equal(out, "Compute 1+2.\n");
    free(out);
    ilr_template_var a[] = {{"question", "Q"}, {"peer_solution", "P"}};
    ilr_template_var f[] = {{"question", "Q"}, {"own_solution", "O"}, {"peer_solutions", "P"}, {"review", "R"}};
    for (int m = 0; m < 2; m++) {
        assert_int_equal(ilr_template_render(pr.analyse[m], "analyse", a, 2, &out), 0);
        assert_true(strncmp(out, "Q\n", 2) == 0 && strstr(out, "\nP\n") && strlen(out) < 80);
        free(out);
        assert_int_equal(ilr_template_render(pr.fuse[m], "fuse", f, 4, &out), 0);
        assert_true(strncmp(out, "Q\n", 2) == 0 && strstr(out, "\nO\n") && strstr(out, "\nP\n") && strstr(out, "\nR\n") &&
                    strlen(out) < 140);
        free(out);
        /* each template uses only its own placeholders */
        ILR_EXPECT_ERROR(ilr_template_render(pr.fuse[m], "fuse", a, 2, &out), ILR_EFORMAT, "own_solution");
    }
    ilr_world_prompts_free(&pr);
}

static char cli_out[1 << 16];

/* Runs `ilr world args...` with its output captured into cli_out. */
static int run_world_v(const char *first, va_list ap) {
    char *argv[32] = {"ilr", "world"};
    int argc = 2;
    for (const char *s = first; s && argc < 31; s = va_arg(ap, const char *)) argv[argc++] = (char *)s;
    return ilr_test_run_cli(cli_out, sizeof cli_out, argc, argv);
}

static int run_world(const char *first, ...) {
    va_list ap;
    va_start(ap, first);
    int rc = run_world_v(first, ap);
    va_end(ap);
    return rc;
}

static char *read_text(const char *path) {
    char *data;
    size_t size;
    assert_int_equal(ilr_file_read_all(path, &data, &size), 0);
    return data;
}

typedef struct {
    int stages[3], modes[2], fuse_cases[4], lines, max_chars[3];
    int flawed_solves; /* solve answers with a planted mistake (only where --flawed allows them) */
    int allow_flawed;
} idea3_stats;

/* The text of a prompt between the line `after` and the next line starting with `until` ("" for the end). */
static char *between(const char *prompt, const char *after, const char *until) {
    const char *a = strstr(prompt, after);
    assert_non_null(a);
    a = strchr(a, '\n') + 1;
    const char *b = a;
    while (*b && !(b[-1] == '\n' && until[0] && strncmp(b, until, strlen(until)) == 0)) b++;
    size_t n = (size_t)(b - a);
    while (n && a[n - 1] == '\n') n--;
    char *s = strndup(a, n);
    return s;
}

/* The prompt's first line, which is the question. */
static void first_line(const char *prompt, char *out, size_t cap) {
    size_t n = strcspn(prompt, "\n");
    assert_true(n < cap);
    memcpy(out, prompt, n);
    out[n] = 0;
}

static int check_idea3_line(json_t *line, int line_number, const char *name, void *user) {
    idea3_stats *st = user;
    const char *prompt, *response, *stage, *mode;
    assert_int_equal(ilr_json_get_string(line, "prompt", 1, name, &prompt), 0);
    assert_int_equal(ilr_json_get_string(line, "response", 1, name, &response), 0);
    assert_int_equal(ilr_json_get_string(line, "stage", 1, name, &stage), 0);
    assert_int_equal(ilr_json_get_string(line, "mode", 1, name, &mode), 0);
    int64_t level;
    assert_int_equal(ilr_json_get_int(line, "level", 1, name, 1, 5, &level), 0);
    char question[256];
    first_line(prompt, question, sizeof question);
    ilr_world_problem p;
    assert_int_equal(ilr_world_parse_question(question, &p), 0);
    int s = strcmp(stage, "solve") == 0 ? 0 : strcmp(stage, "analyse") == 0 ? 1 : 2, m = strcmp(mode, "comp") == 0;
    assert_true(strcmp(stage, "fuse") == 0 || s < 2);
    assert_true(m || strcmp(mode, "coop") == 0);
    st->stages[s]++, st->modes[m]++, st->lines++;
    int chars = (int)(strlen(prompt) + strlen(response));
    if (chars > st->max_chars[s]) st->max_chars[s] = chars;
    const char *peer_label = m ? "Your rival's solution:" : "Your partner's solution:";
    ilr_world_verdict v;
    if (s != 1) { /* solve and fuse responses are the worked solution, or a flawed one where allowed */
        assert_int_equal(ilr_world_check(question, response, strlen(response), &v), 0);
        assert_true(v.well_formed);
        if (!v.correct) { /* a planted mistake: the analysis names a wrong step */
            char *an;
            assert_true(s == 0 && st->allow_flawed);
            assert_int_equal(ilr_world_analyse(&p, response, strlen(response), &an), 0);
            assert_non_null(strstr(an, " is wrong: "));
            free(an);
            st->flawed_solves++;
        }
    }
    if (s == 1) { /* the response is the accurate analysis of the peer's solution */
        char *peer = between(prompt, peer_label, "Check each step"), *an;
        assert_int_equal(ilr_world_analyse(&p, peer, strlen(peer), &an), 0);
        assert_string_equal(an, response);
        free(an), free(peer);
    }
    if (s == 2) {
        char *own = between(prompt, "Your solution:", "Your "), *peer = between(prompt, peer_label, "Review of yours:"),
             *review = between(prompt, "Review of yours:", "Final solution"), *an;
        ilr_world_verdict vo, vp;
        assert_int_equal(ilr_world_check_problem(&p, own, strlen(own), &vo), 0);
        assert_int_equal(ilr_world_check_problem(&p, peer, strlen(peer), &vp), 0);
        assert_true(vo.well_formed && vp.well_formed);
        st->fuse_cases[!vo.correct + 2 * !vp.correct]++;
        assert_int_equal(ilr_world_analyse(&p, own, strlen(own), &an), 0);
        assert_string_equal(an, review);
        free(an), free(own), free(peer), free(review);
    }
    (void)line_number;
    return 0;
}

/* An sft record: a solve answer to the question its prompt opens with, right or (where allowed) flawed. */
static int check_sft_line(json_t *line, int line_number, const char *name, void *user) {
    idea3_stats *st = user;
    const char *prompt, *response;
    assert_int_equal(ilr_json_get_string(line, "prompt", 1, name, &prompt), 0);
    assert_int_equal(ilr_json_get_string(line, "response", 1, name, &response), 0);
    char question[256];
    first_line(prompt, question, sizeof question);
    ilr_world_verdict v;
    assert_int_equal(ilr_world_check(question, response, strlen(response), &v), 0);
    assert_true(v.well_formed && (v.correct || st->allow_flawed));
    st->flawed_solves += !v.correct;
    st->lines++;
    (void)line_number;
    return 0;
}

static void test_gen_cli(void **state) {
    (void)state;
    char dir[256], a[300], b[300], c[300], d[300];
    ilr_test_tmpdir(dir, "world");
    snprintf(a, sizeof a, "%s/a.jsonl", dir), snprintf(b, sizeof b, "%s/b.jsonl", dir);
    snprintf(c, sizeof c, "%s/c.jsonl", dir), snprintf(d, sizeof d, "%s/d.jsonl", dir);
    /* the same arguments give byte-identical files */
    assert_int_equal(run_world("gen", "--task", "arith", "--n", "300", "--split", "test", "--seed", "5", "-o", a, NULL), 0);
    assert_int_equal(run_world("gen", "--n", "300", "--split", "test", "--seed", "5", "--kind", "problems", "-o", b, NULL), 0);
    char *ta = read_text(a), *tb = read_text(b);
    assert_string_equal(ta, tb);
    free(tb);
    assert_int_equal(run_world("gen", "--n", "2000", "--split", "train", "--kind", "idea3", "-o", c, NULL), 0);
    assert_int_equal(run_world("gen", "--n", "2000", "--split", "train", "--kind", "idea3", "--levels", "1-5", "-o", d, NULL), 0);
    char *tc = read_text(c), *td = read_text(d);
    assert_string_equal(tc, td);
    free(tc), free(td);

    /* problems: the fields a generic loader reads; the sft file holds the same problems in order */
    assert_int_equal(run_world("gen", "--n", "300", "--split", "test", "--seed", "5", "--kind", "sft", "-o", b, NULL), 0);
    char *tsft = read_text(b), *pl = ta, *sl = tsft;
    int levels[6] = {0};
    for (int i = 0; i < 300; i++) {
        json_t *jp, *js;
        size_t np = strcspn(pl, "\n"), ns = strcspn(sl, "\n");
        assert_int_equal(ilr_json_parse(pl, np, "problems", &jp), 0);
        assert_int_equal(ilr_json_parse(sl, ns, "sft", &js), 0);
        const char *id, *q, *ans, *sol, *prompt, *resp, *stage;
        int64_t level, level2;
        assert_int_equal(ilr_json_get_string(jp, "id", 1, "p", &id), 0);
        assert_int_equal(ilr_json_get_string(jp, "question", 1, "p", &q), 0);
        assert_int_equal(ilr_json_get_string(jp, "answer", 1, "p", &ans), 0);
        assert_int_equal(ilr_json_get_string(jp, "solution", 1, "p", &sol), 0);
        assert_int_equal(ilr_json_get_int(jp, "level", 1, "p", 1, 5, &level), 0);
        assert_int_equal(ilr_json_get_string(js, "prompt", 1, "s", &prompt), 0);
        assert_int_equal(ilr_json_get_string(js, "response", 1, "s", &resp), 0);
        assert_int_equal(ilr_json_get_string(js, "stage", 1, "s", &stage), 0);
        assert_int_equal(ilr_json_get_int(js, "level", 1, "s", 1, 5, &level2), 0);
        assert_int_equal(json_object_size(js), 4);
        ilr_world_verdict v;
        assert_int_equal(ilr_world_check(q, sol, strlen(sol), &v), 0);
        assert_true(v.correct && v.well_formed && v.given == atoll(ans));
        assert_true(strncmp(prompt, q, strlen(q)) == 0 && strcmp(resp, sol) == 0 && level == level2);
        assert_string_equal(stage, "solve");
        levels[level]++;
        json_decref(jp), json_decref(js);
        pl += np + 1, sl += ns + 1;
    }
    assert_int_equal(*pl, 0);
    for (int l = 1; l <= 5; l++) assert_true(levels[l] > 30); /* uniform over the levels */
    free(ta), free(tsft);

    /* idea3: every stage's target right, analyses and reviews accurate, the mix and the fuse cases */
    idea3_stats st = {0};
    assert_int_equal(ilr_jsonl_read(c, check_idea3_line, &st), 0);
    printf("world idea3: %d records: solve %d analyse %d fuse %d, coop %d comp %d; fuse own/peer right/right %d, "
           "flawed/right %d, right/flawed %d, flawed/flawed %d; longest prompt+response %d / %d / %d chars\n",
           st.lines, st.stages[0], st.stages[1], st.stages[2], st.modes[0], st.modes[1], st.fuse_cases[0],
           st.fuse_cases[1], st.fuse_cases[2], st.fuse_cases[3], st.max_chars[0], st.max_chars[1], st.max_chars[2]);
    assert_int_equal(st.lines, 2000);
    assert_true(st.stages[0] > 850 && st.stages[0] < 1150 && st.stages[1] > 380 && st.stages[2] > 380);
    assert_true(st.modes[0] > 850 && st.modes[1] > 850);
    for (int k = 0; k < 4; k++) assert_true(st.fuse_cases[k] > 60);
    /* --mix, a level list, standard output */
    assert_int_equal(run_world("gen", "--n", "200", "--split", "val", "--kind", "idea3", "--mix", "0:0:1", "--levels", "2,4",
                               "-o", c, NULL), 0);
    memset(&st, 0, sizeof st);
    assert_int_equal(ilr_jsonl_read(c, check_idea3_line, &st), 0);
    assert_int_equal(st.stages[2], 200);
    /* --flawed: that share of solve answers carry a planted mistake; fuse answers stay right */
    assert_int_equal(run_world("gen", "--n", "2000", "--split", "train", "--kind", "idea3", "--flawed", "30", "-o", d, NULL), 0);
    memset(&st, 0, sizeof st);
    st.allow_flawed = 1;
    assert_int_equal(ilr_jsonl_read(d, check_idea3_line, &st), 0);
    printf("world idea3 --flawed 30: %d of %d solve answers flawed\n", st.flawed_solves, st.stages[0]);
    assert_true(st.flawed_solves > st.stages[0] * 24 / 100 && st.flawed_solves < st.stages[0] * 36 / 100);
    assert_int_equal(run_world("gen", "--n", "100", "--split", "val", "--kind", "sft", "--flawed", "100", "-o", d, NULL), 0);
    memset(&st, 0, sizeof st);
    st.allow_flawed = 1;
    assert_int_equal(ilr_jsonl_read(d, check_sft_line, &st), 0);
    assert_int_equal(st.flawed_solves, 100);
    assert_int_equal(run_world("gen", "--n", "2", "--split", "calib", "--levels", "3", "-o", "-", NULL), 0);
    assert_non_null(strstr(cli_out, "\"id\": \"arith-calib-1-1\""));
    assert_non_null(strstr(cli_out, "\"level\": 3"));
    ilr_test_rmtree(dir);
}

static void expect_usage(const char *phrase, int want_rc, const char *first, ...) {
    va_list ap;
    va_start(ap, first);
    int rc = run_world_v(first, ap);
    va_end(ap);
    if (rc != want_rc || !strstr(cli_out, phrase)) print_error("rc %d (want %d), output lacks \"%s\":\n%s\n", rc, want_rc, phrase, cli_out);
    assert_int_equal(rc, want_rc);
    assert_non_null(strstr(cli_out, phrase));
}

static void test_gen_cli_errors(void **state) {
    (void)state;
    expect_usage("usage: ilr world gen", 0, "gen", "--help", NULL);
    expect_usage("level  ops", 0, "gen", "--help", NULL);
    expect_usage("usage: ilr world", 0, "--help", NULL);
    expect_usage("expected a subcommand: gen", 2, NULL);
    expect_usage("expected a subcommand: gen", 2, "make", NULL);
    expect_usage("--n N is required", 2, "gen", "--split", "test", "-o", "/tmp/x", NULL);
    expect_usage("--split NAME is required", 2, "gen", "--n", "5", "-o", "/tmp/x", NULL);
    expect_usage("-o FILE is required", 2, "gen", "--n", "5", "--split", "test", NULL);
    expect_usage("--n takes an integer", 2, "gen", "--n", "0", "--split", "test", "-o", "/tmp/x", NULL);
    expect_usage("--n takes an integer", 2, "gen", "--n", "ten", "--split", "test", "-o", "/tmp/x", NULL);
    expect_usage("no split 'dev'", 2, "gen", "--n", "5", "--split", "dev", "-o", "/tmp/x", NULL);
    expect_usage("no task 'gsm8k'", 2, "gen", "--task", "gsm8k", "--n", "5", "--split", "test", "-o", "/tmp/x", NULL);
    static const char *const bad_levels[] = {"0-3", "5-1", "1-6", "1,,2", "1,", "1,1", "2,1-3", "a", "", "12"};
    for (size_t i = 0; i < sizeof bad_levels / sizeof *bad_levels; i++)
        expect_usage("levels '", 2, "gen", "--n", "5", "--split", "test", "--levels", bad_levels[i], "-o", "/tmp/x", NULL);
    expect_usage("--kind takes problems, sft or idea3", 2, "gen", "--n", "5", "--split", "test", "--kind", "dpo", "-o", "/tmp/x", NULL);
    static const char *const bad_mix[] = {"1:1", "0:0:0", "a:b:c", "1:1:1:1", "-1:1:1", "1:1:1x"};
    for (size_t i = 0; i < sizeof bad_mix / sizeof *bad_mix; i++)
        expect_usage("--mix takes three weights", 2, "gen", "--n", "5", "--split", "test", "--mix", bad_mix[i], "-o", "/tmp/x", NULL);
    expect_usage("--seed takes an integer", 2, "gen", "--n", "5", "--split", "test", "--seed", "-1", "-o", "/tmp/x", NULL);
    expect_usage("--flawed plants mistakes in solve answers", 2, "gen", "--n", "5", "--split", "test", "--flawed", "10", "-o", "/tmp/x", NULL);
    expect_usage("--flawed takes an integer", 2, "gen", "--n", "5", "--split", "test", "--flawed", "101", "-o", "/tmp/x", NULL);
    expect_usage("unknown or incomplete option '--bogus'", 2, "gen", "--bogus", NULL);
    expect_usage("unexpected argument 'extra'", 2, "gen", "--n", "5", "--split", "test", "-o", "/tmp/x", "extra", NULL);
    expect_usage("/nonexistent-dir/x.jsonl", 1, "gen", "--n", "5", "--split", "test", "-o", "/nonexistent-dir/x.jsonl", NULL);
    /* the library refuses bad options too */
    ilr_world_gen_options opt = {.n = 1};
    ILR_EXPECT_ERROR(ilr_world_gen_file(&opt, "/tmp/x"), ILR_EINVAL, "no split");
    ilr_world_split_find("test", &opt.split);
    ILR_EXPECT_ERROR(ilr_world_gen_file(&opt, "/tmp/x"), ILR_EINVAL, "no levels");
    ilr_world_parse_levels("1", &opt);
    opt.kind = ILR_WORLD_IDEA3;
    ILR_EXPECT_ERROR(ilr_world_gen_file(&opt, "/tmp/x"), ILR_EINVAL, "all 0");
    opt.mix[0] = 1, opt.flawed_percent = -1;
    ILR_EXPECT_ERROR(ilr_world_gen_file(&opt, "/tmp/x"), ILR_EINVAL, "flawed percent -1");
}

static const struct CMUnitTest world_tests[] = {
    cmocka_unit_test(test_determinism),
    cmocka_unit_test(test_levels),
    cmocka_unit_test(test_answers_and_solutions),
    cmocka_unit_test(test_flawed_solutions),
    cmocka_unit_test(test_checker_cases),
    cmocka_unit_test(test_splits_disjoint),
    cmocka_unit_test(test_prompts),
    cmocka_unit_test(test_gen_cli),
    cmocka_unit_test(test_gen_cli_errors),
};

ILR_TEST_GROUP(world, world_tests)
