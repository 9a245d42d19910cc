/* Evaluation: the metrics (unbiased pass@k against counting subsets, bootstrap intervals against the normal
 * approximation, majority votes, a benchmark summary worked by hand) and `ilr eval` on a tiny model trained to
 * add: its greedy accuracy equals the trainers' evaluation path, its records add up to its summary, a killed
 * run resumed gives the same answers, --compare of two equal runs is 0, and bad input is refused. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ilr/error.h"
#include "ilr/eval_metrics.h"
#include "ilr/evaluate.h"
#include "ilr/io.h"
#include "ilr/json.h"
#include "ilr/model.h"
#include "test_util.h"

/* C(n, k) as a double, small n */
static double binom(int n, int k) {
    if (k < 0 || k > n) return 0;
    double r = 1;
    for (int i = 1; i <= k; i++) r = r * (n - k + i) / i;
    return r;
}

static void test_pass_at_k(void **state) {
    (void)state;
    /* against counting: subsets of size k of n answers (c right) that hold a right one */
    for (int n = 1; n <= 12; n++)
        for (int c = 0; c <= n; c++)
            for (int k = 1; k <= n; k++) {
                double count = 0; /* enumerate subsets by bitmask */
                for (unsigned mask = 0; mask < (1u << n); mask++) {
                    if (__builtin_popcount(mask) != k) continue;
                    count += (mask & ((1u << c) - 1)) != 0; /* the first c answers are the right ones */
                }
                double want = count / binom(n, k), got = ilr_pass_at_k(n, c, k);
                if (fabs(got - want) > 1e-12) print_error("pass@%d n=%d c=%d: %.15f, want %.15f\n", k, n, c, got, want);
                assert_true(fabs(got - want) <= 1e-12);
            }
    assert_true(ilr_pass_at_k(200, 1, 1) == 1.0 / 200 || fabs(ilr_pass_at_k(200, 1, 1) - 0.005) < 1e-15);
    assert_true(fabs(ilr_pass_at_k(1000, 10, 100) - (1 - binom(990, 100) / binom(1000, 100))) < 1e-9);
    assert_true(ilr_pass_at_k(5, 0, 5) == 0 && ilr_pass_at_k(5, 1, 5) == 1);
    assert_true(ilr_pass_at_k(0, 0, 1) == 0 && ilr_pass_at_k(3, 1, 4) == 0 && ilr_pass_at_k(3, 1, 0) == 0);
}

static void test_bootstrap(void **state) {
    (void)state;
    enum { N = 400 };
    double x[N], y[N];
    for (int i = 0; i < N; i++) x[i] = i % 2, y[i] = (i % 4) == 0; /* means 0.5 and 0.25 */
    ilr_ci95 c;
    assert_int_equal(ilr_bootstrap_mean(x, N, 2000, 7, &c), 0);
    /* the normal approximation: 0.5 +- 1.96 sqrt(0.25 / 400) = 0.5 +- 0.049 */
    print_message("bootstrap of 400 coin flips: %.4f [%.4f, %.4f] (normal approximation [0.4510, 0.5490])\n", c.mean,
                  c.lo, c.hi);
    assert_true(fabs(c.mean - 0.5) < 1e-12);
    assert_true(fabs(c.lo - 0.451) < 0.008 && fabs(c.hi - 0.549) < 0.008);
    ilr_ci95 again;
    assert_int_equal(ilr_bootstrap_mean(x, N, 2000, 7, &again), 0);
    assert_true(again.lo == c.lo && again.hi == c.hi); /* seeded */
    /* paired: the pairs (x, y) = (0,1), (1,0), (0,0), (1,0) repeat, so x - y is -1, 1, 0, 1: mean 0.25, variance
     * 0.6875, and the normal approximation 0.25 +- 1.96 sqrt(0.6875 / 400) = [0.1687, 0.3313] */
    ilr_ci95 d;
    assert_int_equal(ilr_bootstrap_paired(x, y, N, 2000, 7, &d), 0);
    print_message("paired difference: %.4f [%.4f, %.4f] (normal approximation [0.1687, 0.3313])\n", d.mean, d.lo, d.hi);
    assert_true(fabs(d.mean - 0.25) < 1e-12);
    assert_true(fabs(d.lo - 0.1687) < 0.01 && fabs(d.hi - 0.3313) < 0.01);
    assert_int_equal(ilr_bootstrap_paired(x, x, N, 100, 7, &d), 0);
    assert_true(d.mean == 0 && d.lo == 0 && d.hi == 0);
    double constant[3] = {0.7, 0.7, 0.7};
    assert_int_equal(ilr_bootstrap_mean(constant, 3, 50, 1, &c), 0);
    assert_true(fabs(c.lo - 0.7) < 1e-12 && fabs(c.hi - 0.7) < 1e-12);
    ILR_EXPECT_ERROR(ilr_bootstrap_mean(x, 0, 10, 1, &c), ILR_EINVAL, "bootstrap");
    ILR_EXPECT_ERROR(ilr_bootstrap_mean(x, 3, 0, 1, &c), ILR_EINVAL, "bootstrap");
}

static int same_text(const char *a, const char *b, void *ctx) {
    (void)ctx;
    return strcmp(a, b) == 0;
}

static void test_majority(void **state) {
    (void)state;
    const char *a[] = {"3", "5", "5", "3", "5"};
    assert_int_equal(ilr_majority(a, 5, same_text, NULL), 1);
    const char *tie[] = {"7", "3", "3", "7"};
    assert_int_equal(ilr_majority(tie, 4, same_text, NULL), 0); /* a tie: the first seen */
    const char *none[] = {NULL, "4", NULL, NULL};
    assert_int_equal(ilr_majority(none, 4, same_text, NULL), 1); /* no answer never wins over an answer */
    const char *all_none[] = {NULL, NULL};
    assert_int_equal(ilr_majority(all_none, 2, same_text, NULL), 0);
    assert_int_equal(ilr_majority(a, 0, same_text, NULL), -1);
}

static void test_summary(void **state) {
    (void)state;
    /* 4 questions, 4 samples each; levels 1, 1, 2, 0 */
    ilr_eval_question q[4] = {{1, 4, 4, 1, 1, 0, 0}, {0, 4, 1, 0, 1, 0, 0}, {1, 4, 0, 0, 2, 0, 0}, {0, 4, 2, 1, 0, 0, 0}};
    ilr_bench_summary s;
    assert_int_equal(ilr_bench_summarize(q, 4, 500, 3, &s), 0);
    assert_int_equal(s.questions, 4);
    assert_int_equal(s.samples, 4);
    assert_true(fabs(s.greedy.mean - 0.5) < 1e-12);
    assert_true(fabs(s.avg.mean - (1 + 0.25 + 0 + 0.5) / 4) < 1e-12);
    assert_true(fabs(s.pass.mean - 0.75) < 1e-12); /* pass@4 of 4 samples: any right */
    assert_true(fabs(s.maj.mean - 0.5) < 1e-12);
    assert_true(s.greedy.lo <= s.greedy.mean && s.greedy.mean <= s.greedy.hi && s.greedy.lo >= 0 && s.greedy.hi <= 1);
    assert_int_equal(s.level_questions[1], 2);
    assert_true(fabs(s.level_greedy[1] - 0.5) < 1e-12 && fabs(s.level_avg[1] - 0.625) < 1e-12);
    json_t *j = ilr_bench_summary_json(&s);
    assert_true(fabs(json_real_value(json_object_get(j, "avg@4")) - 0.4375) < 1e-12);
    assert_true(json_is_array(json_object_get(j, "pass@4_ci95")));
    assert_non_null(json_object_get(json_object_get(json_object_get(j, "by_level"), "2"), "greedy"));
    json_decref(j);
    ilr_eval_question greedy_only[2] = {{1, 0, 0, -1, 0, 0, 0}, {1, 0, 0, -1, 0, 0, 0}};
    assert_int_equal(ilr_bench_summarize(greedy_only, 2, 100, 3, &s), 0);
    assert_int_equal(s.samples, 0);
    assert_true(s.greedy.mean == 1 && s.greedy.lo == 1);
    j = ilr_bench_summary_json(&s);
    assert_null(json_object_get(j, "avg@0"));
    json_decref(j);
    ILR_EXPECT_ERROR(ilr_bench_summarize(q, 0, 100, 3, &s), ILR_EINVAL, "no questions");
}

static int qsort_strcmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* samples.jsonl as "question/sample" -> "correct|completion" lines, sorted, for comparing two runs */
static char *canonical_records(const char *dir, int *lines) {
    char path[600], *data = NULL;
    size_t size = 0;
    snprintf(path, sizeof path, "%s/samples.jsonl", dir);
    assert_int_equal(ilr_file_read_all(path, &data, &size), 0);
    char **rows = calloc(size / 10 + 2, sizeof *rows);
    int n = 0;
    for (char *line = strtok(data, "\n"); line; line = strtok(NULL, "\n")) {
        json_t *j = json_loads(line, 0, NULL);
        if (!j) continue; /* a cut line */
        json_t *sample = json_object_get(j, "sample");
        char buf[2048], sample_text[24] = "greedy";
        if (json_is_integer(sample)) snprintf(sample_text, sizeof sample_text, "%lld", (long long)json_integer_value(sample));
        snprintf(buf, sizeof buf, "%s/%s|%d|%s", json_string_value(json_object_get(j, "question")), sample_text,
                 json_is_true(json_object_get(j, "correct")), json_string_value(json_object_get(j, "completion")));
        rows[n++] = strdup(buf);
        json_decref(j);
    }
    qsort(rows, (size_t)n, sizeof *rows, qsort_strcmp);
    size_t total = 1;
    for (int i = 0; i < n; i++) total += strlen(rows[i]) + 1;
    char *all = calloc(total, 1);
    for (int i = 0; i < n; i++) strcat(strcat(all, rows[i]), "\n"), free(rows[i]);
    free(rows);
    free(data);
    *lines = n;
    return all;
}

static double summary_value(const char *dir, const char *bench, const char *key) {
    char path[600];
    snprintf(path, sizeof path, "%s/summary.json", dir);
    json_t *s = NULL;
    assert_int_equal(ilr_json_load_file(path, &s), 0);
    json_t *v = json_object_get(json_object_get(json_object_get(s, "benchmarks"), bench), key);
    assert_non_null(v);
    double x = json_number_value(v);
    json_decref(s);
    return x;
}

static void test_cli_eval(void **state) {
    (void)state;
    ilr_test_sum_fixture fx;
    ilr_test_sum_fixture_setup(&fx, "eval");
    char out1[600], out2[600], out[8192];
    snprintf(out1, sizeof out1, "%s/out1", fx.dir);
    snprintf(out2, sizeof out2, "%s/out2", fx.dir);
    char *argv1[] = {"ilr", "eval", "--model", fx.model, "--bench", fx.eval, "--prompt", fx.tmpl, "--samples", "4",
                     "--max-new-tokens", "10", "--batch", "16", "--no-chat", "-o", out1, NULL};
    assert_int_equal(ilr_test_run_cli(out, sizeof out, 17, argv1), 0);
    ilr_test_expect_contains(out, "avg@4");
    int lines = 0;
    char *first = canonical_records(out1, &lines);
    assert_int_equal(lines, 40 * 5); /* 40 questions: greedy + 4 samples */
    double greedy = summary_value(out1, fx.eval, "greedy"), avg = summary_value(out1, fx.eval, "avg@4");
    double pass = summary_value(out1, fx.eval, "pass@4"), maj = summary_value(out1, fx.eval, "maj@4");
    print_message("ilr eval on the adding model: greedy %.3f, avg@4 %.3f, pass@4 %.3f, maj@4 %.3f\n", greedy, avg, pass, maj);
    assert_true(greedy > 0 && avg > 0 && avg < 1); /* it adds, but not always when sampling: something to count */
    assert_true(pass >= avg && pass <= 1);
    /* the records add up to the summary */
    int right = 0, right_greedy = 0;
    for (const char *p = first; (p = strstr(p, "|1|")); p++) right++;
    for (const char *p = first; (p = strstr(p, "/greedy|1|")); p++) right_greedy++;
    assert_true(fabs(greedy - right_greedy / 40.0) < 1e-12);
    assert_true(fabs(avg - (right - right_greedy) / 160.0) < 1e-12);
    /* the trainers' evaluation (ilr_eval_questions) gives the same greedy and sampled accuracies */
    ilr_model model;
    ilr_tokenizer *tok = NULL;
    ilr_task task;
    ilr_dataset ds;
    ilr_question_set q;
    ilr_generator gen;
    assert_int_equal(ilr_model_load(&model, fx.model), 0);
    assert_int_equal(ilr_tok_load(&tok, fx.model), 0);
    assert_int_equal(ilr_task_init(&task, ILR_TASK_TYPE_MATH, fx.eval, 0.0, (int)ILR_MATH_EXTRACT_AUTO, NULL), 0);
    assert_int_equal(ilr_task_open_dataset(&task, fx.eval, fx.tmpl, &ds), 0);
    assert_int_equal(ilr_question_set_build(&q, &ds, 0, &task, tok, NULL, 1000), 0);
    assert_int_equal(ilr_gen_init(&gen, &model, 16, q.max_prompt + 10), 0);
    ilr_eval_options o = {0, 1.0f, 10, 1};
    ilr_eval_result ev;
    assert_int_equal(ilr_eval_questions(&gen, tok, &task, &q, &o, &ev), 0);
    assert_true(fabs(ilr_eval_accuracy(&ev) - greedy) < 1e-12);
    ilr_eval_options os = {4, 1.0f, 10, 1}; /* the same seed: the same sampled answers as ilr eval's */
    assert_int_equal(ilr_eval_questions(&gen, tok, &task, &q, &os, &ev), 0);
    assert_true(fabs(ilr_eval_accuracy(&ev) - avg) < 1e-12);
    ilr_gen_free(&gen);
    ilr_question_set_free(&q);
    ilr_dataset_free(&ds);
    ilr_task_free(&task);
    ilr_tok_free(tok);
    ilr_model_free(&model);
    /* resume: a run killed after 2 questions and in the middle of a line continues to the same answers */
    char path1[700], path2[700], *data = NULL;
    size_t size = 0;
    snprintf(path1, sizeof path1, "%s/samples.jsonl", out1);
    assert_int_equal(ilr_file_read_all(path1, &data, &size), 0);
    size_t cut = 0;
    for (int nl = 0; cut < size && nl < 12; cut++) nl += data[cut] == '\n';
    cut += 40; /* 2 questions (10 lines), 2 lines of the third, and part of a line */
    assert_int_equal(ilr_mkdir_p(out2), 0);
    snprintf(path2, sizeof path2, "%s/samples.jsonl", out2);
    assert_int_equal(ilr_file_write_atomic(path2, data, cut), 0);
    free(data);
    char *argv2[] = {"ilr", "eval", "--model", fx.model, "--bench", fx.eval, "--prompt", fx.tmpl, "--samples", "4",
                     "--max-new-tokens", "10", "--batch", "8", "--no-chat", "-o", out2, "--compare", out1, NULL};
    assert_int_equal(ilr_test_run_cli(out, sizeof out, 19, argv2), 0);
    ilr_test_expect_contains(out, "(38 asked"); /* the 2 complete questions were not asked again */
    ilr_test_expect_contains(out, "+0.0 [+0.0, +0.0]");
    int lines2 = 0;
    char *second = canonical_records(out2, &lines2);
    /* the third question's two early lines appear twice; everything else once, and every answer equal */
    assert_int_equal(lines2, 40 * 5 + 2);
    char *a = first, *b = second;
    int differing = 0;
    for (char *la = strtok_r(a, "\n", &a), *lb = strtok_r(b, "\n", &b); la && lb;) {
        if (strcmp(la, lb)) {
            differing++;
            lb = strtok_r(NULL, "\n", &b); /* skip a repeated line */
            continue;
        }
        la = strtok_r(NULL, "\n", &a), lb = strtok_r(NULL, "\n", &b);
    }
    assert_int_equal(differing, 2);
    assert_true(summary_value(out2, fx.eval, "greedy") == greedy && summary_value(out2, fx.eval, "avg@4") == avg);
    free(first);
    free(second);
    /* bad input */
    char *bad1[] = {"ilr", "eval", "--model", fx.model, "--bench", "no-such-bench", "-o", out2, NULL};
    assert_int_equal(ilr_test_run_cli(out, sizeof out, 8, bad1), 1);
    ilr_test_expect_contains(out, "no-such-bench");
    char *bad2[] = {"ilr", "eval", "--model", fx.model, "--bench", fx.eval, "--no-greedy", "-o", out2, NULL};
    assert_int_equal(ilr_test_run_cli(out, sizeof out, 9, bad2), 2);
    ilr_test_expect_contains(out, "--no-greedy needs --samples");
    char *bad3[] = {"ilr", "eval", "--model", fx.model, "--bench", fx.eval, "--samples", "8", "--batch", "4", "-o", out2, NULL};
    assert_int_equal(ilr_test_run_cli(out, sizeof out, 12, bad3), 2);
    ilr_test_expect_contains(out, "--samples 8 is over --batch 4");
    char missing[700];
    snprintf(missing, sizeof missing, "%s/no-such-eval", fx.dir);
    char *bad4[] = {"ilr", "eval", "-o", out1, "--compare", missing, NULL};
    assert_int_equal(ilr_test_run_cli(out, sizeof out, 6, bad4), 1);
    ilr_test_expect_contains(out, "no-such-eval/samples.jsonl");
    const char *garbage = "{\"bench\": 1}\nnot json\n";
    ilr_test_write_file(path2, out2, "samples.jsonl", garbage, strlen(garbage));
    assert_int_equal(ilr_test_run_cli(out, sizeof out, 19, argv2), 1);
    ilr_test_expect_contains(out, "samples.jsonl:1");
    ilr_test_rmtree(fx.dir);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_pass_at_k), cmocka_unit_test(test_bootstrap), cmocka_unit_test(test_majority),
    cmocka_unit_test(test_summary), cmocka_unit_test(test_cli_eval),
};

ILR_TEST_GROUP(eval, tests)
