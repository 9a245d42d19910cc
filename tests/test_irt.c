/* IRT (ilr/irt.h) and `ilr irt fit`: parameter recovery from simulated responses, agreement with an
 * independent scipy fit (tests/fixtures/make_irt_fixture.py), standard errors against the spread over
 * simulated replications, degenerate matrices, the reader's and irt.json's errors, and the command. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ilr/error.h"
#include "ilr/io.h"
#include "ilr/irt.h"
#include "ilr/rng.h"
#include "ilr/timer.h"
#include "test_util.h"

static char output[1 << 16];

#define run_cli(...) ilr_test_cli(output, sizeof output, __VA_ARGS__)

#define expect_output(phrase) ilr_test_expect_contains(output, phrase)

/* k answers of each agent to each question, drawn from the model. */
static void simulate(ilr_irt_responses *r, const double *gamma, int m, const double *D, int Q, int k, ilr_rng *rng) {
    char agent[32], question[32];
    for (int q = 0; q < Q; q++)
        for (int i = 0; i < m; i++)
            for (int a = 0; a < k; a++) {
                snprintf(agent, sizeof agent, "agent%d", i);
                snprintf(question, sizeof question, "q%d", q);
                int right = ilr_rng_uniform_f64(rng) < ilr_irt_probability(gamma[i], D[q]);
                assert_int_equal(ilr_irt_responses_add(r, agent, question, right), 0);
            }
}

static void fit_ok(const ilr_irt_responses *r, const ilr_irt_options *opt, ilr_irt_fit *fit) {
    int rc = ilr_irt_fit_run(r, opt, fit);
    if (rc) print_error("%s\n", ilr_last_error());
    assert_int_equal(rc, 0);
}

/* Every value finite, mean D = 0 to rounding, the gradient at rounding level. */
static void expect_sane(const ilr_irt_fit *fit, const char *what) {
    double mean = 0;
    for (int q = 0; q < fit->num_questions; q++) {
        assert_true(isfinite(fit->difficulty[q]) && isfinite(fit->difficulty_se[q]));
        mean += fit->difficulty[q] / fit->num_questions;
    }
    for (int i = 0; i < fit->num_agents; i++) assert_true(isfinite(fit->gamma[i]) && isfinite(fit->gamma_se[i]));
    assert_true(isfinite(fit->log_likelihood) && isfinite(fit->log_posterior) && fit->log_likelihood <= 0);
    if (fabs(mean) > 1e-12 || !(fit->gradient_norm < 1e-8)) {
        print_error("%s: mean D %.2e, gradient %.2e\n", what, mean, fit->gradient_norm);
        fail();
    }
}

static double correlation(const double *x, const double *y, int n) {
    double mx = 0, my = 0, sxy = 0, sxx = 0, syy = 0;
    for (int i = 0; i < n; i++) mx += x[i] / n, my += y[i] / n;
    for (int i = 0; i < n; i++)
        sxy += (x[i] - mx) * (y[i] - my), sxx += (x[i] - mx) * (x[i] - mx), syy += (y[i] - my) * (y[i] - my);
    return sxy / sqrt(sxx * syy);
}

/* n difficulties from Normal(0, 1), shifted to mean 0 (the fit's identification). */
static void draw_difficulties(double *D, int n, ilr_rng *rng) {
    double mean = 0;
    for (int q = 0; q < n; q++) mean += (D[q] = ilr_rng_normal(rng)) / n;
    for (int q = 0; q < n; q++) D[q] -= mean;
}

static void test_probability(void **state) {
    (void)state;
    assert_true(ilr_irt_probability(0.7, 0.7) == 0.5);
    assert_true(fabs(ilr_irt_probability(1, 0) - 1 / (1 + exp(-1.7))) < 1e-15);
    assert_true(fabs(ilr_irt_probability(-2, 1) + ilr_irt_probability(1, -2) - 1) < 1e-15);
    assert_true(ilr_irt_probability(-1000, 1000) == 0 && ilr_irt_probability(1000, -1000) == 1);
}

/* Known gamma (4 agents) and D (300 questions), 8 answers per pair: the fit finds them. */
static void test_recovery(void **state) {
    (void)state;
    enum { M = 4, Q = 300, K = 8 };
    const double gamma[M] = {-1.0, -0.2, 0.6, 1.4};
    double D[Q];
    ilr_rng rng;
    ilr_rng_init(&rng, 2509, 0);
    draw_difficulties(D, Q, &rng);
    ilr_irt_responses r;
    ilr_irt_responses_init(&r);
    simulate(&r, gamma, M, D, Q, K, &rng);
    assert_int_equal(r.num_agents, M), assert_int_equal(r.num_questions, Q), assert_int_equal(r.responses, M * Q * K);
    ilr_irt_options opt = ilr_irt_options_default();
    ilr_irt_fit fit;
    fit_ok(&r, &opt, &fit);
    expect_sane(&fit, "recovery");
    double corr = correlation(fit.difficulty, D, Q), worst = 0, worst_z = 0;
    for (int i = 0; i < M; i++) {
        worst = fmax(worst, fabs(fit.gamma[i] - gamma[i]));
        worst_z = fmax(worst_z, fabs(fit.gamma[i] - gamma[i]) / fit.gamma_se[i]);
    }
    print_message("recovery, %d agents x %d questions x %d answers: corr(fitted D, true D) %.4f (bound 0.9), "
                  "max |gamma error| %.4f (bound 0.15) = %.2f se, %d iterations, gradient %.1e\n",
                  M, Q, K, corr, worst, worst_z, fit.iterations, fit.gradient_norm);
    assert_true(corr > 0.9);
    assert_true(worst < 0.15);
    ilr_irt_fit_free(&fit);
    ilr_irt_responses_free(&r);
}

/* Reported standard errors against the spread of the estimates over 200 simulated replications. */
static void test_standard_errors_vs_spread(void **state) {
    (void)state;
    enum { M = 3, Q = 60, K = 6, R = 200 };
    const double gamma[M] = {-0.8, 0.1, 0.9};
    double D[Q], sum[M + Q] = {0}, sum2[M + Q] = {0}, se[M + Q] = {0};
    ilr_rng rng;
    ilr_rng_init(&rng, 7, 1);
    draw_difficulties(D, Q, &rng);
    ilr_irt_options opt = ilr_irt_options_default();
    for (int rep = 0; rep < R; rep++) {
        ilr_irt_responses r;
        ilr_irt_fit fit;
        ilr_irt_responses_init(&r);
        simulate(&r, gamma, M, D, Q, K, &rng);
        fit_ok(&r, &opt, &fit);
        for (int j = 0; j < M + Q; j++) {
            double x = j < M ? fit.gamma[j] : fit.difficulty[j - M];
            sum[j] += x, sum2[j] += x * x, se[j] += (j < M ? fit.gamma_se[j] : fit.difficulty_se[j - M]) / R;
        }
        ilr_irt_fit_free(&fit);
        ilr_irt_responses_free(&r);
    }
    double worst_gamma = 0, spread_d = 0, se_d = 0;
    for (int j = 0; j < M + Q; j++) {
        double sd = sqrt((sum2[j] - sum[j] * sum[j] / R) / (R - 1));
        if (j < M) worst_gamma = fmax(worst_gamma, fabs(log(se[j] / sd)));
        else spread_d += sd / Q, se_d += se[j] / Q;
        if (j < M) print_message("  gamma %d: sd over %d replications %.4f, mean reported se %.4f\n", j, R, sd, se[j]);
    }
    print_message("standard errors vs simulated spread (%d x %d x %d, %d replications): gamma ratios within "
                  "%.1f%% (bound 20%%); D: mean sd %.4f, mean se %.4f, ratio %.3f (bound 0.8-1.25)\n",
                  M, Q, K, R, 100 * (exp(worst_gamma) - 1), spread_d, se_d, se_d / spread_d);
    assert_true(worst_gamma < log(1.2));
    assert_true(se_d / spread_d > 0.8 && se_d / spread_d < 1.25);
}

/* ilr's fit of tests/data/irt/responses.jsonl against scipy's (reference file, read with ilr_irt_fit_load). */
static void compare_reference(const char *reference, double sd_gamma, double sd_difficulty) {
    ilr_irt_responses r;
    ilr_irt_responses_init(&r);
    assert_int_equal(ilr_irt_responses_read("tests/data/irt/responses.jsonl", &r), 0);
    ilr_irt_options opt = ilr_irt_options_default();
    opt.prior_sd_gamma = sd_gamma, opt.prior_sd_difficulty = sd_difficulty;
    ilr_irt_fit fit, ref;
    fit_ok(&r, &opt, &fit);
    expect_sane(&fit, reference);
    int rc = ilr_irt_fit_load(reference, &ref);
    if (rc) print_error("%s\n", ilr_last_error());
    assert_int_equal(rc, 0);
    assert_int_equal(ref.num_agents, fit.num_agents), assert_int_equal(ref.num_questions, fit.num_questions);
    assert_int_equal(ref.responses, fit.responses);
    double err = 0, err_se = 0, x, s;
    for (int i = 0; i < ref.num_agents; i++) {
        assert_int_equal(ilr_irt_fit_gamma(&fit, ref.agents[i], &x, &s), 0);
        err = fmax(err, fabs(x - ref.gamma[i])), err_se = fmax(err_se, fabs(s - ref.gamma_se[i]));
    }
    for (int q = 0; q < ref.num_questions; q++) {
        assert_int_equal(ilr_irt_fit_difficulty(&fit, ref.questions[q], &x, &s), 0);
        err = fmax(err, fabs(x - ref.difficulty[q])), err_se = fmax(err_se, fabs(s - ref.difficulty_se[q]));
    }
    double rel_lp = fabs(fit.log_posterior / ref.log_posterior - 1);
    double rel_ll = fabs(fit.log_likelihood / ref.log_likelihood - 1);
    print_message("vs scipy (%s, prior sd %g/%g): %d gamma + %d D max abs err %.1e, their se %.1e, log posterior "
                  "rel err %.1e, log-likelihood %.1e; %d iterations (scipy %d)\n",
                  reference, sd_gamma, sd_difficulty, ref.num_agents, ref.num_questions, err, err_se, rel_lp, rel_ll,
                  fit.iterations, ref.iterations);
    assert_true(err < 1e-5 && err_se < 1e-5 && rel_lp < 1e-6 && rel_ll < 1e-6);
    ilr_irt_fit_free(&ref);
    ilr_irt_fit_free(&fit);
    ilr_irt_responses_free(&r);
}

static void test_scipy_reference(void **state) {
    (void)state;
    compare_reference("tests/data/irt/reference_default.json", 3, 3);
    compare_reference("tests/data/irt/reference_prior.json", 2.5, 3.5);
    /* The file writes question 7 both as 7 and as "7": one question, and its cells hold both spellings. */
    ilr_irt_responses r;
    ilr_irt_responses_init(&r);
    assert_int_equal(ilr_irt_responses_read("tests/data/irt/responses.jsonl", &r), 0);
    assert_int_equal(r.num_agents, 4), assert_int_equal(r.num_questions, 14), assert_int_equal(r.responses, 183);
    assert_true(ilr_strmap_get(&r.question_index, "7", 1) >= 0 && ilr_strmap_get(&r.question_index, "42", 2) >= 0);
    ilr_irt_responses_free(&r);
}

/* Adds k answers of agent to question, right ones first. */
static void add_many(ilr_irt_responses *r, const char *agent, const char *question, int k, int right) {
    for (int a = 0; a < k; a++) assert_int_equal(ilr_irt_responses_add(r, agent, question, a < right), 0);
}

static ilr_irt_fit fit_of(ilr_irt_responses *r, const char *what) {
    ilr_irt_options opt = ilr_irt_options_default();
    ilr_irt_fit fit;
    fit_ok(r, &opt, &fit);
    expect_sane(&fit, what);
    ilr_irt_responses_free(r);
    return fit;
}

/* Questions everyone gets right or wrong, an agent always right: finite, and beyond the others. */
static void test_degenerate_extremes(void **state) {
    (void)state;
    ilr_irt_responses r;
    ilr_irt_responses_init(&r);
    const char *agents[] = {"weak", "mid", "perfect"};
    char q[16];
    for (int k = 0; k < 8; k++)
        for (int i = 0; i < 3; i++) snprintf(q, sizeof q, "q%d", k), add_many(&r, agents[i], q, 4, i == 2 ? 4 : (k + i) % 5);
    for (int i = 0; i < 3; i++) add_many(&r, agents[i], "easy", 4, 4), add_many(&r, agents[i], "impossible", 4, 0);
    ilr_irt_fit fit = fit_of(&r, "extremes");
    double easy, impossible, lo = INFINITY, hi = -INFINITY, g_perfect, g;
    assert_int_equal(ilr_irt_fit_difficulty(&fit, "easy", &easy, NULL), 0);
    assert_int_equal(ilr_irt_fit_difficulty(&fit, "impossible", &impossible, NULL), 0);
    for (int k = 0; k < 8; k++) lo = fmin(lo, fit.difficulty[k]), hi = fmax(hi, fit.difficulty[k]);
    assert_int_equal(ilr_irt_fit_gamma(&fit, "perfect", &g_perfect, NULL), 0);
    print_message("extremes: D(all right) %.3f < others [%.3f, %.3f] < D(all wrong) %.3f; gamma(always right) "
                  "%.3f, %d iterations\n", easy, lo, hi, impossible, g_perfect, fit.iterations);
    assert_true(easy < lo && impossible > hi && easy > -15 && impossible < 15);
    for (int i = 0; i < 2; i++) assert_int_equal(ilr_irt_fit_gamma(&fit, agents[i], &g, NULL), 0), assert_true(g < g_perfect);
    assert_true(g_perfect < 15);
    ilr_irt_fit_free(&fit);
}

static void test_degenerate_shapes(void **state) {
    (void)state;
    ilr_irt_responses r;
    ilr_irt_fit fit;
    /* one agent only */
    ilr_irt_responses_init(&r);
    add_many(&r, "solo", "a", 3, 1), add_many(&r, "solo", "b", 3, 3), add_many(&r, "solo", "c", 3, 0);
    fit = fit_of(&r, "one agent");
    print_message("one agent: gamma %.3f +- %.3f, D %.3f %.3f %.3f\n", fit.gamma[0], fit.gamma_se[0],
                  fit.difficulty[0], fit.difficulty[1], fit.difficulty[2]);
    assert_true(fit.difficulty[1] < fit.difficulty[0] && fit.difficulty[0] < fit.difficulty[2]);
    ilr_irt_fit_free(&fit);
    /* one question only: D = 0 by the constraint, with no uncertainty */
    ilr_irt_responses_init(&r);
    add_many(&r, "x", "only", 5, 4), add_many(&r, "y", "only", 5, 1);
    fit = fit_of(&r, "one question");
    print_message("one question: D %.1e +- %.1e, gamma %.3f %.3f\n", fit.difficulty[0], fit.difficulty_se[0],
                  fit.gamma[0], fit.gamma[1]);
    assert_true(fit.difficulty[0] == 0 && fit.difficulty_se[0] < 1e-6 && fit.gamma[0] > 0 && fit.gamma[1] < 0);
    ilr_irt_fit_free(&fit);
    /* a single answer */
    ilr_irt_responses_init(&r);
    add_many(&r, "x", "q", 1, 1);
    fit = fit_of(&r, "one answer");
    assert_true(fit.gamma[0] > 0 && fit.responses == 1);
    ilr_irt_fit_free(&fit);
    /* zero variance: everything right, then everything wrong; all D equal (0), every gamma equal */
    for (int right = 1; right >= 0; right--) {
        ilr_irt_responses_init(&r);
        const char *agents[] = {"a", "b"}, *questions[] = {"1", "2", "3"};
        for (int i = 0; i < 2; i++)
            for (int q = 0; q < 3; q++) add_many(&r, agents[i], questions[q], 4, right ? 4 : 0);
        fit = fit_of(&r, right ? "all right" : "all wrong");
        print_message("all answers %s: gamma %.3f +- %.3f, max |D| %.1e\n", right ? "right" : "wrong", fit.gamma[0],
                      fit.gamma_se[0], fmax(fabs(fit.difficulty[0]), fabs(fit.difficulty[2])));
        assert_true(right ? fit.gamma[0] > 1 : fit.gamma[0] < -1);
        assert_true(fabs(fit.gamma[0] - fit.gamma[1]) < 1e-12 && fabs(fit.difficulty[0]) < 1e-12);
        ilr_irt_fit_free(&fit);
    }
}

static void test_fit_errors(void **state) {
    (void)state;
    ilr_irt_responses r;
    ilr_irt_fit fit;
    ilr_irt_options opt = ilr_irt_options_default();
    ilr_irt_responses_init(&r);
    ILR_EXPECT_ERROR(ilr_irt_fit_run(&r, &opt, &fit), ILR_EINVAL, "no responses");
    ILR_EXPECT_ERROR(ilr_irt_responses_add(&r, "", "q", 1), ILR_EINVAL, "empty");
    add_many(&r, "a", "q", 2, 1);
    opt.prior_sd_gamma = 0;
    ILR_EXPECT_ERROR(ilr_irt_fit_run(&r, &opt, &fit), ILR_EINVAL, "prior sd");
    opt = ilr_irt_options_default();
    opt.max_iterations = 1;
    add_many(&r, "b", "q2", 5, 5);
    ILR_EXPECT_ERROR(ilr_irt_fit_run(&r, &opt, &fit), ILR_EUNSUPPORTED, "did not converge in 1 iterations", "gradient");
    ilr_irt_responses_free(&r);
}

/* Bad response files: each names file:line and what was expected. */
static void test_reader_errors(void **state) {
    (void)state;
    static const struct {
        const char *name, *text, *needle, *also;
    } cases[] = {
        {"r.jsonl", "{\"agent\": \"a\", \"question\": 1, \"correct\": 1}\n{\"agent\": \"a\", \"question\": 1", "r.jsonl:2:",
         "expected"},
        {"r.jsonl", "{\"agent\": \"a\", \"question\": 1, \"correct\": 1}\n\n{\"question\": 2, \"correct\": 0}\n",
         "r.jsonl:3: missing key 'agent'", "\"correct\": 0|1"},
        {"r.jsonl", "{\"agent\": \"a\", \"correct\": 0}", "r.jsonl:1: missing key 'question'", ""},
        {"r.jsonl", "{\"agent\": \"a\", \"question\": \"q\"}", "missing key 'correct'", ""},
        {"r.jsonl", "{\"agent\": \"a\", \"question\": \"q\", \"correct\": 2}",
         "r.jsonl:1: key 'correct': expected 0, 1, true or false, got 2", ""},
        {"r.jsonl", "{\"agent\": \"a\", \"question\": \"q\", \"correct\": \"yes\"}", "key 'correct'", "got string"},
        {"r.jsonl", "{\"agent\": \"a\", \"question\": \"q\", \"correct\": 0.5}", "key 'correct'", "got real"},
        {"r.jsonl", "{\"agent\": 3, \"question\": \"q\", \"correct\": 0}",
         "key 'agent': expected a non-empty string, got integer", ""},
        {"r.jsonl", "{\"agent\": \"\", \"question\": \"q\", \"correct\": 0}", "key 'agent'", "got \"\""},
        {"r.jsonl", "{\"agent\": \"a\", \"question\": 1.5, \"correct\": 0}",
         "key 'question': expected a non-empty string or an integer, got real", ""},
        {"r.jsonl", "{\"agent\": \"a\", \"question\": null, \"correct\": 0}", "key 'question'", "got null"},
        {"r.jsonl", "{\"agent\": \"a\\u0000b\", \"question\": \"q\", \"correct\": 0}", "key 'agent'", "NUL"},
        {"r.jsonl", "[1, 2]\n", "r.jsonl:1: expected a JSON object", ""},
        {"empty.jsonl", "", "empty.jsonl: no responses", "empty"},
        {"blank.jsonl", "\n  \n\n", "blank.jsonl: no responses", ""},
    };
    char dir[256], path[300];
    ilr_test_tmpdir(dir, "irt-read");
    ilr_irt_responses r;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ilr_test_write_file(path, dir, cases[i].name, cases[i].text, strlen(cases[i].text));
        ilr_irt_responses_init(&r);
        ILR_EXPECT_ERROR(ilr_irt_responses_read(path, &r), ILR_EFORMAT, cases[i].needle, cases[i].also);
        ilr_irt_responses_free(&r);
    }
    snprintf(path, sizeof path, "%s/nope.jsonl", dir);
    ilr_irt_responses_init(&r);
    ILR_EXPECT_ERROR(ilr_irt_responses_read(path, &r), ILR_ENOTFOUND, "nope.jsonl");
    ilr_irt_responses_free(&r);
    ilr_test_rmtree(dir);
}

/* A fit written and read back is the same fit; lookups name what they miss. */
static void test_save_load(void **state) {
    (void)state;
    char dir[256], path[300];
    ilr_test_tmpdir(dir, "irt-save");
    snprintf(path, sizeof path, "%s/irt.json", dir);
    ilr_irt_responses r;
    ilr_irt_responses_init(&r);
    assert_int_equal(ilr_irt_responses_read("tests/data/irt/responses.jsonl", &r), 0);
    ilr_irt_options opt = ilr_irt_options_default();
    ilr_irt_fit fit, back;
    fit_ok(&r, &opt, &fit);
    assert_int_equal(ilr_irt_fit_save(&fit, path), 0);
    assert_int_equal(ilr_irt_fit_load(path, &back), 0);
    double worst = 0;
    for (int i = 0; i < fit.num_agents; i++) {
        assert_string_equal(fit.agents[i], back.agents[i]);
        worst = fmax(worst, fabs(back.gamma[i] / fit.gamma[i] - 1) + fabs(back.gamma_se[i] / fit.gamma_se[i] - 1));
    }
    for (int q = 0; q < fit.num_questions; q++) {
        assert_string_equal(fit.questions[q], back.questions[q]);
        worst = fmax(worst, fabs(back.difficulty[q] - fit.difficulty[q]) / fmax(fabs(fit.difficulty[q]), 1e-300));
    }
    print_message("irt.json round trip: %d + %d values, max rel err %.1e\n", fit.num_agents, fit.num_questions, worst);
    assert_true(worst < 1e-14);
    assert_true(back.has_se && back.responses == 183 && back.iterations == fit.iterations);
    assert_true(fabs(back.log_posterior - fit.log_posterior) < 1e-12 && back.prior_sd_gamma == 3);
    double x, se;
    ILR_EXPECT_ERROR(ilr_irt_fit_gamma(&back, "gpt-5", &x, &se), ILR_ENOTFOUND, "no agent 'gpt-5'");
    ILR_EXPECT_ERROR(ilr_irt_fit_difficulty(&back, "q99", &x, NULL), ILR_ENOTFOUND, "no question 'q99'");
    assert_int_equal(ilr_irt_fit_difficulty(&back, "42", &x, &se), 0);
    assert_true(x == back.difficulty[4] && se == back.difficulty_se[4]);
    ilr_irt_fit_free(&back);
    ilr_irt_fit_free(&fit);
    ilr_irt_responses_free(&r);
    ilr_test_rmtree(dir);
}

static void expect_load_error(const char *dir, const char *text, int want, const char *n1, const char *n2) {
    char path[256];
    ilr_test_write_file(path, dir, "irt.json", text, strlen(text));
    ilr_irt_fit fit;
    ILR_EXPECT_ERROR(ilr_irt_fit_load(path, &fit), want, n1, n2);
}

static void test_load_errors(void **state) {
    (void)state;
    char dir[256];
    ilr_test_tmpdir(dir, "irt-load");
    expect_load_error(dir, "{\"gamma\": {\"a\": 1}", ILR_EFORMAT, "irt.json:1:", "");
    expect_load_error(dir, "[]", ILR_EFORMAT, "expected a JSON object", "");
    expect_load_error(dir, "{\"difficulty\": {\"q\": 0}}", ILR_EFORMAT, "missing key 'gamma'", "agent name");
    expect_load_error(dir, "{\"gamma\": {\"a\": 1}}", ILR_EFORMAT, "missing key 'difficulty'", "");
    expect_load_error(dir, "{\"gamma\": [1], \"difficulty\": {\"q\": 0}}", ILR_EFORMAT, "key 'gamma'", "got array");
    expect_load_error(dir, "{\"gamma\": {}, \"difficulty\": {\"q\": 0}}", ILR_EFORMAT, "key 'gamma'", "empty");
    expect_load_error(dir, "{\"gamma\": {\"a\": \"high\"}, \"difficulty\": {\"q\": 0}}", ILR_EFORMAT,
                      "gamma['a']: expected a number", "");
    expect_load_error(dir, "{\"gamma\": {\"a\": 1}, \"difficulty\": {\"q\": 0}, \"difficulty_se\": {\"r\": 1}}",
                      ILR_EFORMAT, "key 'difficulty_se' lacks 'q'", "");
    expect_load_error(dir, "{\"gamma\": {\"a\": 1}, \"gamma_se\": {\"a\": -1}, \"difficulty\": {\"q\": 0}}",
                      ILR_EFORMAT, "gamma_se['a']: expected a number >= 0", "");
    expect_load_error(dir, "{\"model\": \"2PL\", \"gamma\": {\"a\": 1}, \"difficulty\": {\"q\": 0}}", ILR_EUNSUPPORTED,
                      "model '2PL'", "");
    expect_load_error(dir, "{\"scale\": 1, \"gamma\": {\"a\": 1}, \"difficulty\": {\"q\": 0}}", ILR_EUNSUPPORTED,
                      "scale 1", "1.7");
    expect_load_error(dir, "{\"responses\": -3, \"gamma\": {\"a\": 1}, \"difficulty\": {\"q\": 0}}", ILR_EFORMAT,
                      "responses", "");
    /* the minimum loads; no standard errors or log densities, and saving it again leaves them out */
    char path[256], again[300];
    const char *minimal = "{\"gamma\": {\"a\": 1.5}, \"difficulty\": {\"q\": -0.25}, \"notes\": [1, 2]}";
    ilr_test_write_file(path, dir, "min.json", minimal, strlen(minimal));
    ilr_irt_fit fit;
    assert_int_equal(ilr_irt_fit_load(path, &fit), 0);
    double x, se;
    assert_int_equal(ilr_irt_fit_gamma(&fit, "a", &x, &se), 0);
    assert_true(x == 1.5 && isnan(se) && !fit.has_se && isnan(fit.log_posterior));
    snprintf(again, sizeof again, "%s/again.json", dir);
    assert_int_equal(ilr_irt_fit_save(&fit, again), 0);
    ilr_irt_fit_free(&fit);
    char *text;
    size_t len;
    assert_int_equal(ilr_file_read_all(again, &text, &len), 0);
    assert_null(strstr(text, "_se")), assert_null(strstr(text, "log_posterior"));
    free(text);
    ilr_test_rmtree(dir);
}

static void test_mean_difficulty_by_level(void **state) {
    (void)state;
    ilr_irt_fit fit;
    assert_int_equal(ilr_irt_fit_load("tests/data/irt/reference_default.json", &fit), 0);
    const char *ids[] = {"q1", "q2", "unseen", "7", "42", "q7"};
    const int levels[] = {1, 1, 1, 3, 3, 3};
    double mean[5];
    int count[5];
    assert_int_equal(ilr_irt_mean_difficulty_by_level(&fit, ids, levels, 6, 5, mean, count), 0);
    double d[6];
    for (int k = 0; k < 6; k++) d[k] = k == 2 ? 0 : (ilr_irt_fit_difficulty(&fit, ids[k], &d[k], NULL), d[k]);
    assert_true(count[1] == 2 && count[3] == 3 && count[0] == 0 && isnan(mean[0]) && isnan(mean[4]));
    assert_true(fabs(mean[1] - (d[0] + d[1]) / 2) < 1e-15 && fabs(mean[3] - (d[3] + d[4] + d[5]) / 3) < 1e-15);
    const int bad[] = {1, 7};
    ILR_EXPECT_ERROR(ilr_irt_mean_difficulty_by_level(&fit, ids, bad, 2, 5, mean, NULL), ILR_EINVAL, "'q2'", "level 7");
    ilr_irt_fit_free(&fit);
}

/* 2 agents x 5000 questions x 8 answers: how long a fit takes. */
static void test_speed(void **state) {
    (void)state;
    enum { Q = 5000 };
    static double D[Q];
    const double gamma[2] = {0.5, -0.3};
    ilr_rng rng;
    ilr_rng_init(&rng, 5, 0);
    draw_difficulties(D, Q, &rng);
    ilr_irt_responses r;
    ilr_irt_responses_init(&r);
    simulate(&r, gamma, 2, D, Q, 8, &rng);
    ilr_irt_options opt = ilr_irt_options_default();
    ilr_irt_fit fit;
    double t = ilr_time_now();
    fit_ok(&r, &opt, &fit);
    t = ilr_time_now() - t;
    expect_sane(&fit, "speed");
    print_message("speed: 2 agents x %d questions x 8 answers fit in %.1f ms, %d Newton iterations, gradient %.1e, "
                  "corr(D) %.3f\n", Q, 1e3 * t, fit.iterations, fit.gradient_norm, correlation(fit.difficulty, D, Q));
    assert_true(t < 10);
    ilr_irt_fit_free(&fit);
    ilr_irt_responses_free(&r);
}

static void test_cli(void **state) {
    (void)state;
    assert_int_equal(run_cli("irt", NULL), 2);
    expect_output("fit       fit gamma and D");
    expect_output("collect");
    assert_int_equal(run_cli("irt", "--help", NULL), 0);
    assert_int_equal(run_cli("help", "irt", NULL), 0);
    expect_output("usage: ilr irt");
    assert_int_equal(run_cli("irt", "fit", "--help", NULL), 0);
    expect_output("--prior-sd X");
    assert_int_equal(run_cli("irt", "collate", NULL), 2);
    expect_output("no subcommand 'collate'");
    assert_int_equal(run_cli("irt", "fit", "-o", "x.json", NULL), 2);
    expect_output("--responses FILE is required");
    assert_int_equal(run_cli("irt", "fit", "--responses", "r.jsonl", NULL), 2);
    expect_output("-o FILE is required");
    assert_int_equal(run_cli("irt", "fit", "--responses", "r.jsonl", "-o", "x", "--prior-sd", "-1", NULL), 2);
    expect_output("--prior-sd takes a number");
    char dir[256], out[300], bad[256];
    ilr_test_tmpdir(dir, "irt-cli");
    snprintf(out, sizeof out, "%s/irt.json", dir);
    assert_int_equal(run_cli("irt", "fit", "--responses", "tests/data/irt/responses.jsonl", "-o", out, NULL), 0);
    expect_output("4 agents, 14 questions, 183 responses");
    expect_output("qwen2.5-0.5b");
    expect_output("log-likelihood -53.7903");
    ilr_irt_fit fit;
    assert_int_equal(ilr_irt_fit_load(out, &fit), 0);
    double g;
    assert_int_equal(ilr_irt_fit_gamma(&fit, "alpha", &g, NULL), 0);
    assert_true(fabs(g - 0.8474909263079623) < 1e-9); /* reference_default.json */
    ilr_irt_fit_free(&fit);
    const char *two = "{\"agent\": \"a\", \"question\": 1, \"correct\": 1}\n{\"agent\": \"a\"}\n";
    ilr_test_write_file(bad, dir, "bad.jsonl", two, strlen(two));
    assert_int_equal(run_cli("irt", "fit", "--responses", bad, "-o", out, NULL), 1);
    expect_output("bad.jsonl:2: missing key 'question'");
    ilr_test_rmtree(dir);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_probability),
    cmocka_unit_test(test_recovery),
    cmocka_unit_test(test_standard_errors_vs_spread),
    cmocka_unit_test(test_scipy_reference),
    cmocka_unit_test(test_degenerate_extremes),
    cmocka_unit_test(test_degenerate_shapes),
    cmocka_unit_test(test_fit_errors),
    cmocka_unit_test(test_reader_errors),
    cmocka_unit_test(test_save_load),
    cmocka_unit_test(test_load_errors),
    cmocka_unit_test(test_mean_difficulty_by_level),
    cmocka_unit_test(test_speed),
    cmocka_unit_test(test_cli),
};

ILR_TEST_GROUP(irt, tests)
