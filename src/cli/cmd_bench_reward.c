/* ilr bench grade | sandbox: the rewards' throughput — math answer comparisons per second on one core, and
 * HumanEval programs per second through the sandbox.  The help text is bench's (src/cli/cmd_bench.c). */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ilr/code_program.h"
#include "ilr/error.h"
#include "ilr/io.h"
#include "ilr/json.h"
#include "ilr/math_grader.h"
#include "ilr/reward.h"
#include "ilr/sandbox.h"
#include "ilr/timer.h"

#define GRADE_CASES "tests/data/math_grader/cases.jsonl"
#define HUMANEVAL "data/benchmarks/humaneval/HumanEval.jsonl"

/* ---- grade ---- */

typedef struct {
    char **pred, **gold;
    int *self; /* a benchmark record's gold answer against itself, by value (values_only) */
    int *percent;
    int n, cap, selfs;
} pairs;

static int add_pair(pairs *p, const char *pred, const char *gold, int percent, int self) {
    if (p->n == p->cap) {
        int cap = p->cap ? 2 * p->cap : 512;
        char **pr = realloc(p->pred, sizeof(char *) * (size_t)cap);
        if (pr) p->pred = pr;
        char **go = realloc(p->gold, sizeof(char *) * (size_t)cap);
        if (go) p->gold = go;
        int *pc = realloc(p->percent, sizeof(int) * (size_t)cap);
        if (pc) p->percent = pc;
        int *se = realloc(p->self, sizeof(int) * (size_t)cap);
        if (se) p->self = se;
        if (!pr || !go || !pc || !se) return ILR_FAIL(ILR_ENOMEM, "bench grade: out of memory");
        p->cap = cap;
    }
    p->pred[p->n] = strdup(pred), p->gold[p->n] = strdup(gold), p->percent[p->n] = percent, p->self[p->n] = self;
    if (!p->pred[p->n] || !p->gold[p->n]) return free(p->pred[p->n]), free(p->gold[p->n]), ILR_FAIL(ILR_ENOMEM, "out of memory");
    p->n++;
    return 0;
}

/* A line {"pred", "gold"[, "percent_as_fraction"]}, or a benchmark record (MATH-500, GSM8K, ...): its gold
 * answer against itself by value or structure (the string rule would decide every such pair at once). */
static int read_pair(json_t *line, int line_number, const char *name, void *user) {
    pairs *p = user;
    const char *pred, *gold;
    int percent = 0;
    (void)line_number;
    if (json_object_get(line, "pred") && json_object_get(line, "gold")) {
        if (ilr_json_get_string(line, "pred", 1, name, &pred) || ilr_json_get_string(line, "gold", 1, name, &gold) ||
            ilr_json_get_bool(line, "percent_as_fraction", 0, name, &percent) < 0)
            return ilr_last_error_code();
        return add_pair(p, pred, gold, percent, 0);
    }
    char *answer;
    int rc = ilr_math_gold_answer(line, name, &answer);
    if (rc) return ilr_error_prefix("neither \"pred\" + \"gold\" nor a benchmark record");
    rc = add_pair(p, answer, answer, 0, 1);
    p->selfs += rc == 0;
    free(answer);
    return rc;
}

static void free_pairs(pairs *p) {
    for (int i = 0; i < p->n; i++) free(p->pred[i]), free(p->gold[i]);
    free(p->pred), free(p->gold), free(p->percent), free(p->self);
}

/* Compares every pair, again and again for about `seconds` on this thread; adds the time spent on the pairs of
 * each rule to time_in[rule].  Returns the number of comparisons, *elapsed the seconds they took. */
static long time_pairs(const pairs *p, const ilr_math_rule *rule, double seconds, double time_in[5], double *elapsed) {
    ilr_math_options opt;
    ilr_math_options_default(&opt);
    long comparisons = 0;
    double start = ilr_time_now(), now = start;
    while (now - start < seconds) {
        for (int i = 0; i < p->n; i++) {
            ilr_math_verdict v;
            opt.percent_as_fraction = p->percent[i], opt.values_only = p->self[i];
            double t = ilr_time_now();
            ilr_math_equal(p->pred[i], p->gold[i], &opt, &v);
            now = ilr_time_now();
            time_in[rule[i]] += now - t;
        }
        comparisons += p->n;
    }
    *elapsed = now - start;
    return comparisons;
}

int ilr_cmd_bench_grade(int argc, char **argv) {
    static const struct option longopts[] = {{"input", required_argument, 0, 'i'}, {"seconds", required_argument, 0, 's'},
                                              {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *input = NULL;
    long long seconds = 2;
    optind = 0;
    opterr = 0;
    for (int c; (c = getopt_long(argc, argv, "h", longopts, NULL)) != -1;) {
        if (c == 'h') return ilr_bench_help();
        if (c == 'i') input = optarg;
        else if (c == 's') {
            if (ilr_cli_parse_long("bench", "--seconds", optarg, 1, 600, &seconds)) return 2;
        } else return ilr_cli_usage_error("bench", "unknown or incomplete option '%s'", argv[optind - 1]);
    }
    if (optind != argc) return ilr_cli_usage_error("bench", "unexpected argument '%s'", argv[optind]);
    char path[4096];
    if (!input && ilr_resource_path(path, sizeof path, GRADE_CASES)) return ilr_cli_fail("bench");
    if (input) snprintf(path, sizeof path, "%s", input);
    pairs p = {0};
    int rc = ilr_jsonl_read(path, read_pair, &p);
    if (!rc && p.n == 0) rc = ILR_FAIL(ILR_EFORMAT, "%s: no pairs", path);
    if (rc) return free_pairs(&p), ilr_cli_fail("bench");
    ilr_math_rule *rule = malloc(sizeof *rule * (size_t)p.n);
    if (!rule) return free_pairs(&p), ILR_FAIL(ILR_ENOMEM, "bench grade: out of memory"), ilr_cli_fail("bench");
    /* one untimed pass decides each pair's rule; then passes over all pairs on this one thread */
    ilr_math_options opt;
    ilr_math_options_default(&opt);
    long count[5] = {0}, equal = 0, self_equal = 0;
    for (int i = 0; i < p.n; i++) {
        ilr_math_verdict v;
        opt.percent_as_fraction = p.percent[i], opt.values_only = p.self[i];
        ilr_math_equal(p.pred[i], p.gold[i], &opt, &v);
        rule[i] = v.rule;
        count[v.rule]++;
        equal += v.equal;
        self_equal += v.equal && p.self[i];
    }
    double time_in[5] = {0}, elapsed;
    long comparisons = time_pairs(&p, rule, (double)seconds, time_in, &elapsed);
    printf("grade: %d pairs from %s, %ld equal, %ld comparisons in %.2f s on one thread: %.0f comparisons/s "
           "(target 20000/s)\n",
           p.n, path, equal, comparisons, elapsed, comparisons / elapsed);
    if (p.selfs)
        printf("  %d benchmark gold answers against themselves by value or structure: %d equal only as strings\n",
               p.selfs, p.selfs - (int)self_equal);
    long passes = comparisons / p.n;
    for (int r = 0; r < 5; r++) {
        if (!count[r]) continue;
        double each = time_in[r] / ((double)count[r] * passes);
        printf("  %-10s %5ld pairs, %7.2f us per comparison (%.0f/s)\n", r ? ilr_math_rule_name(r) : "not equal",
               count[r], each * 1e6, 1 / each);
    }
    free(rule);
    free_pairs(&p);
    return 0;
}

/* ---- sandbox ---- */

typedef struct {
    char **src;
    size_t *len;
    int n, cap;
} program_list;

static int add_humaneval(json_t *line, int line_number, const char *name, void *user) {
    program_list *p = user;
    const char *prompt, *solution, *test, *entry;
    (void)line_number;
    if (ilr_json_get_string(line, "prompt", 1, name, &prompt) ||
        ilr_json_get_string(line, "canonical_solution", 1, name, &solution) ||
        ilr_json_get_string(line, "test", 1, name, &test) || ilr_json_get_string(line, "entry_point", 1, name, &entry))
        return ilr_last_error_code();
    if (p->n == p->cap) {
        int cap = p->cap ? 2 * p->cap : 256;
        char **s = realloc(p->src, sizeof(char *) * (size_t)cap);
        if (s) p->src = s;
        size_t *l = realloc(p->len, sizeof(size_t) * (size_t)cap);
        if (l) p->len = l;
        if (!s || !l) return ILR_FAIL(ILR_ENOMEM, "bench sandbox: out of memory");
        p->cap = cap;
    }
    int rc = ilr_code_program_humaneval(prompt, solution, strlen(solution), test, entry, &p->src[p->n], &p->len[p->n], NULL);
    if (rc) return ilr_error_prefix("%s", name);
    p->n++;
    return 0;
}

static int compare_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The nearest-rank q-quantile of sorted[0..n). */
static double quantile(const double *sorted, int n, double q) {
    int k = (int)ceil(q * n) - 1;
    return sorted[k < 0 ? 0 : k >= n ? n - 1 : k];
}

int ilr_cmd_bench_sandbox(int argc, char **argv) {
    static const struct option longopts[] = {{"input", required_argument, 0, 'i'}, {"workers", required_argument, 0, 'w'},
                                              {"timeout", required_argument, 0, 't'}, {"help", no_argument, 0, 'h'},
                                              {0, 0, 0, 0}};
    const char *input = NULL;
    ilr_reward_code_options ro;
    ilr_reward_code_options_default(&ro);
    long long workers = ro.workers, timeout = 10;
    optind = 0;
    opterr = 0;
    for (int c; (c = getopt_long(argc, argv, "h", longopts, NULL)) != -1;) {
        int rc = 0;
        if (c == 'h') return ilr_bench_help();
        else if (c == 'i') input = optarg;
        else if (c == 'w') rc = ilr_cli_parse_long("bench", "--workers", optarg, 1, ILR_SANDBOX_MAX_WORKERS, &workers);
        else if (c == 't') rc = ilr_cli_parse_long("bench", "--timeout", optarg, 1, 3600, &timeout);
        else return ilr_cli_usage_error("bench", "unknown or incomplete option '%s'", argv[optind - 1]);
        if (rc) return rc;
    }
    if (optind != argc) return ilr_cli_usage_error("bench", "unexpected argument '%s'", argv[optind]);
    char path[4096];
    if (input) snprintf(path, sizeof path, "%s", input);
    else if (ilr_resource_path(path, sizeof path, HUMANEVAL)) {
        fprintf(stderr, "ilr bench: %s\nilr bench: sandbox needs HumanEval's problems: give --input FILE "
                        "(HumanEval.jsonl, decompressed)\n", ilr_last_error());
        return 1;
    }
    if (ilr_sandbox_check()) return ilr_cli_fail("bench");
    program_list p = {0};
    int rc = ilr_jsonl_read(path, add_humaneval, &p);
    ilr_sandbox_result *res = rc || !p.n ? NULL : calloc((size_t)p.n, sizeof *res);
    double *secs = res ? malloc(sizeof(double) * (size_t)p.n) : NULL;
    if (!rc && !p.n) rc = ILR_FAIL(ILR_EFORMAT, "%s: no problems", path);
    else if (!rc && (!res || !secs)) rc = ILR_FAIL(ILR_ENOMEM, "bench sandbox: out of memory");
    ilr_sandbox_options o = {.timeout_s = (double)timeout};
    double start = ilr_time_now();
    if (!rc) rc = ilr_sandbox_run_many((const char *const *)p.src, p.len, p.n, (int)workers, &o, res);
    double wall = ilr_time_now() - start, sum = 0;
    int passed = 0;
    for (int i = 0; !rc && i < p.n; i++) {
        passed += res[i].status == ILR_SANDBOX_PASSED;
        sum += secs[i] = res[i].seconds;
        ilr_sandbox_result_free(&res[i]);
    }
    if (!rc) {
        qsort(secs, (size_t)p.n, sizeof *secs, compare_double);
        printf("sandbox: %s: %d/%d canonical solutions passed; %d programs in %.2f s on %lld workers: %.1f programs/s; "
               "seconds per program mean %.3f, p50 %.3f, p95 %.3f\n",
               path, passed, p.n, p.n, wall, workers, p.n / wall, sum / p.n, quantile(secs, p.n, 0.5),
               quantile(secs, p.n, 0.95));
    }
    for (int i = 0; i < p.n; i++) free(p.src[i]);
    free(p.src), free(p.len), free(res), free(secs);
    return rc ? ilr_cli_fail("bench") : 0;
}
