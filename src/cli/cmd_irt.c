/* ilr irt: item response theory for ILR's interaction choice (ilr/irt.h).  `irt fit` fits abilities and
 * difficulties to a response matrix, `irt collect` makes one; each subcommand is one row of the table at the bottom. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ilr/error.h"
#include "ilr/irt.h"
#include "ilr/timer.h"

static const char irt_help[] =
    "usage: ilr irt SUBCOMMAND [OPTIONS]\n\n"
    "Item response theory for ILR: each agent's ability gamma and each question's difficulty D under the 1PL\n"
    "model P(right) = 1 / (1 + exp(-1.7 (gamma - D))); ILR cooperates on a question when P < 0.5 and\n"
    "competes otherwise.  Subcommands:\n"
    "  collect   every agent answers every calibration question K times; the answers, graded, as a response\n"
    "            file (`ilr irt collect --help`)\n"
    "  fit       fit gamma and D to a response file and write irt.json (`ilr irt fit --help`)\n";

static const char fit_help[] =
    "usage: ilr irt fit --responses FILE.jsonl -o irt.json [--prior-sd X]\n\n"
    "Fits the 1PL model P(agent i right on question q) = 1 / (1 + exp(-1.7 (gamma_i - D_q))) to a response\n"
    "matrix: the joint maximum a posteriori point of every gamma and D under a Normal(0, X^2) prior on each,\n"
    "identified by mean D = 0 over the file's questions (imposed exactly), by Newton's method.  Standard errors\n"
    "come from the inverse of the negative Hessian of the log posterior under that constraint.\n\n"
    "  --responses FILE  JSON lines {\"agent\": NAME, \"question\": ID, \"correct\": 0|1} (correct may be true or\n"
    "                    false, the question a string or an integer; an agent may answer a question many times)\n"
    "  -o FILE           irt.json, written atomically:\n"
    "                    {\"model\": \"1PL\", \"scale\": 1.7, \"gamma\": {NAME: x}, \"gamma_se\": {NAME: x},\n"
    "                     \"difficulty\": {ID: x}, \"difficulty_se\": {ID: x}, \"log_likelihood\": x,\n"
    "                     \"log_posterior\": x, \"prior_sd\": {\"gamma\": x, \"difficulty\": x},\n"
    "                     \"responses\": N, \"iterations\": N}\n"
    "  --prior-sd X      the prior's standard deviation on gamma and on D (default 3: weak where data speak,\n"
    "                    yet questions all agents get right or all get wrong keep a finite D)\n\n"
    "Prints each agent's gamma +- se with its accuracy, the spread of D, the log-likelihood and the time.\n";

/* Each agent's answers and right answers. */
static void agent_counts(const ilr_irt_responses *r, long long *answers, long long *correct) {
    for (int c = 0; c < r->num_cells; c++) {
        answers[r->cells[c].agent] += r->cells[c].answers;
        correct[r->cells[c].agent] += r->cells[c].correct;
    }
}

static void print_agents(const ilr_irt_responses *r, const ilr_irt_fit *fit) {
    long long *answers = calloc((size_t)fit->num_agents, sizeof *answers);
    long long *correct = calloc((size_t)fit->num_agents, sizeof *correct);
    if (!answers || !correct) return free(answers), free(correct);
    agent_counts(r, answers, correct);
    printf("  %-20s %8s %7s %9s %8s\n", "agent", "gamma", "se", "answers", "right");
    for (int i = 0; i < fit->num_agents; i++)
        printf("  %-20s %8.3f %7.3f %9lld %7.1f%%\n", fit->agents[i], fit->gamma[i], fit->gamma_se[i], answers[i],
               100.0 * correct[i] / answers[i]);
    free(answers);
    free(correct);
}

/* D's range, spread and a histogram in at most 12 bins of a round width. */
static void print_difficulties(const ilr_irt_fit *fit) {
    int Q = fit->num_questions, lo_at = 0, hi_at = 0;
    double sum2 = 0, se = 0;
    for (int q = 0; q < Q; q++) {
        if (fit->difficulty[q] < fit->difficulty[lo_at]) lo_at = q;
        if (fit->difficulty[q] > fit->difficulty[hi_at]) hi_at = q;
        sum2 += fit->difficulty[q] * fit->difficulty[q], se += fit->difficulty_se[q];
    }
    double lo = fit->difficulty[lo_at], hi = fit->difficulty[hi_at];
    printf("  %d questions: D from %.3f (%s) to %.3f (%s), mean 0, sd %.3f, mean se %.3f\n", Q, lo,
           fit->questions[lo_at], hi, fit->questions[hi_at], sqrt(sum2 / Q), se / Q);
    double width = 0.25;
    while ((hi - lo) / width > 12) width *= 2;
    int first = (int)floor(lo / width), bins = (int)floor(hi / width) - first + 1, count[64] = {0}, most = 1;
    for (int q = 0; q < Q; q++) count[(int)floor(fit->difficulty[q] / width) - first]++;
    for (int b = 0; b < bins; b++) most = count[b] > most ? count[b] : most;
    for (int b = 0; b < bins; b++)
        printf("  [%6.2f, %6.2f) %6d %.*s\n", (first + b) * width, (first + b + 1) * width, count[b],
               (count[b] * 40 + most - 1) / most, "########################################");
}

static int irt_fit(int argc, char **argv) {
    static const struct option longopts[] = {{"responses", required_argument, 0, 'r'},
                                             {"prior-sd", required_argument, 0, 'p'},
                                             {"help", no_argument, 0, 'h'},
                                             {0, 0, 0, 0}};
    const char *cmd = "irt fit", *input = NULL, *out = NULL;
    ilr_irt_options opt = ilr_irt_options_default();
    optind = 0;
    opterr = 0;
    for (int c; (c = getopt_long(argc, argv, "ho:", longopts, NULL)) != -1;) {
        if (c == 'h') return printf("%s", fit_help), 0;
        if (c == 'r') input = optarg;
        else if (c == 'o') out = optarg;
        else if (c == 'p') {
            if (ilr_cli_parse_double(cmd, "--prior-sd", optarg, 1e-3, 1e3, &opt.prior_sd_gamma)) return 2;
            opt.prior_sd_difficulty = opt.prior_sd_gamma;
        } else return ilr_cli_usage_error(cmd, "unknown or incomplete option '%s'", argv[optind - 1]);
    }
    if (optind != argc) return ilr_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (!input) return ilr_cli_usage_error(cmd, "--responses FILE is required");
    if (!out) return ilr_cli_usage_error(cmd, "-o FILE is required");

    ilr_irt_responses r;
    ilr_irt_fit fit;
    ilr_irt_responses_init(&r);
    double t0 = ilr_time_now(), t1 = t0;
    int rc = ilr_irt_responses_read(input, &r);
    if (!rc) t1 = ilr_time_now(), rc = ilr_irt_fit_run(&r, &opt, &fit);
    double t2 = ilr_time_now();
    if (!rc && (rc = ilr_irt_fit_save(&fit, out))) ilr_irt_fit_free(&fit);
    if (rc) return ilr_irt_responses_free(&r), ilr_cli_fail(cmd);
    printf("irt fit: %d agents, %d questions, %lld responses from %s (read in %.1f ms)\n", fit.num_agents,
           fit.num_questions, fit.responses, input, 1e3 * (t1 - t0));
    printf("  converged in %d Newton iterations, %.1f ms, max |projected gradient| %.2g\n", fit.iterations,
           1e3 * (t2 - t1), fit.gradient_norm);
    printf("  log-likelihood %.4f, log posterior %.4f (prior sd %g on gamma and D)\n", fit.log_likelihood,
           fit.log_posterior, opt.prior_sd_gamma);
    print_agents(&r, &fit);
    print_difficulties(&fit);
    printf("wrote %s\n", out);
    ilr_irt_fit_free(&fit);
    ilr_irt_responses_free(&r);
    return 0;
}

/* The subcommands (collect: src/cli/cmd_irt_collect.c). */
static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
} irt_commands[] = {{"collect", ilr_cmd_irt_collect}, {"fit", irt_fit}};

int ilr_cmd_irt(int argc, char **argv) {
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) return printf("%s", irt_help), 0;
    for (size_t i = 0; argc >= 2 && i < sizeof irt_commands / sizeof irt_commands[0]; i++)
        if (strcmp(argv[1], irt_commands[i].name) == 0) return irt_commands[i].run(argc - 1, argv + 1);
    if (argc < 2) return fprintf(stderr, "%s", irt_help), 2;
    return ilr_cli_usage_error("irt", "no subcommand '%s' (expected collect or fit)", argv[1]);
}
