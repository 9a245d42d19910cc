/* ilr demo, stages 2-4: the paper's comparison, small.
 *
 * 2. `ilr experiment configs/experiment-demo.yaml`: ILR from base agents A and B (the IRT fit at the start,
 *    Dynamic Interaction, Idea3, Perception Calibration, GRPO for both) against GRPO compute-matched to each
 *    agent's generated tokens in that run, every model evaluated ALONE on the 500 test problems (greedy and
 *    avg@4), the base agents too; the IRT fit the ILR run made is printed.
 * 3. The base agents discuss test problems at inference time by debate and by Idea3 (`ilr interact`).
 * 4. `ilr report` of the experiment: report.html / .md / .json, and the headline table printed.
 * Failures: the experiment does not finish, or ILR (or the matched GRPO) does not raise the agents' mean
 * avg@4 alone above the base agents'. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "demo.h"
#include "ilr/error.h"
#include "ilr/io.h"
#include "ilr/json.h"
#include "ilr/report.h"
#include "ilr/timer.h"

#define DEMO_DISCUSS "200"

static void print_took(const char *what, ilr_timer *t) {
    char took[32];
    ilr_format_duration(ilr_timer_elapsed(t), took, sizeof took);
    printf("  (%s: %s)\n", what, took);
    ilr_timer_start(t);
}
static const char *const agent_names[2] = {"agent-a", "agent-b"};

typedef struct {
    const json_t *difficulty; /* {question id: D} */
    double sum[6];
    int count[6];
} level_difficulty;

static int add_level(json_t *line, int line_number, const char *name, void *user) {
    (void)line_number, (void)name;
    level_difficulty *ld = user;
    const json_t *d = json_object_get(ld->difficulty, json_string_value(json_object_get(line, "id")));
    long level = (long)json_integer_value(json_object_get(line, "level"));
    if (json_is_number(d) && level >= 1 && level <= 5) ld->sum[level] += json_number_value(d), ld->count[level]++;
    return 0;
}

/* The IRT fit of the ILR cell: each agent's ability, and the mean difficulty of the training questions it
 * visits' levels (irt.difficulty level: a question's D is its level's fitted mean), with the coop share. */
static void print_irt(const char *run, const char *train_data) {
    char path[1600];
    json_t *irt = NULL, *difficulty = NULL, *summary = NULL;
    snprintf(path, sizeof path, "%s/irt.json", run);
    if (ilr_json_load_file(path, &irt)) return;
    printf("  IRT (1PL) fitted at the start of the ILR run on the calibration questions:\n   ");
    for (int a = 0; a < 2; a++)
        printf(" %s ability %+.2f (se %.2f)%s", agent_names[a],
               json_number_value(json_object_get(json_object_get(irt, "gamma"), agent_names[a])),
               json_number_value(json_object_get(json_object_get(irt, "gamma_se"), agent_names[a])), a ? "\n" : ";");
    snprintf(path, sizeof path, "%s/difficulty.json", run);
    level_difficulty ld = {0};
    if (!ilr_json_load_file(path, &difficulty) && (ld.difficulty = difficulty, !ilr_jsonl_read(train_data, add_level, &ld))) {
        printf("    difficulty D of the training questions by level:");
        for (int l = 1; l <= 5; l++)
            if (ld.count[l]) printf("  L%d %+.2f", l, ld.sum[l] / ld.count[l]);
        printf("  (P(right) = 1 / (1 + exp(-1.7 (ability - D))))\n");
    }
    snprintf(path, sizeof path, "%s/train_summary.json", run);
    if (!ilr_json_load_file(path, &summary))
        printf("    dynamic interaction: the agents cooperated on %.0f %% of the questions (the rest competed)\n",
               100 * json_number_value(json_object_get(summary, "coop_share")));
    json_decref(irt);
    json_decref(difficulty);
    json_decref(summary);
}

/* results[row][agent]["world-test" or the test path][metric] of the report. */
static const json_t *stat_of(const json_t *table, const char *row, const char *agent, const char *metric) {
    json_t *by_bench = json_object_get(json_object_get(table, row), agent);
    const char *bench;
    json_t *b;
    json_object_foreach(by_bench, bench, b) return json_object_get(b, metric); /* the experiment has one benchmark */
    return NULL;
}

static void print_stat(const json_t *s) {
    double mean = json_number_value(json_object_get(s, "mean")), lo = json_number_value(json_object_get(s, "lo")),
           hi = json_number_value(json_object_get(s, "hi"));
    if (!s) printf("  %-21s", "-");
    else if (json_is_number(json_object_get(s, "lo"))) printf("  %5.1f [%5.1f, %5.1f]  ", 100 * mean, 100 * lo, 100 * hi);
    else printf("  %5.1f                ", 100 * mean);
}

/* The headline table: each method's agents alone (greedy, avg@4 with 95 % intervals) and ILR minus the
 * baseline; returns the mean over agents of avg@4 per row for the checks. */
static void print_headline(const json_t *report, double *ilr_gain, double *grpo_gain) {
    const json_t *results = json_object_get(report, "results");
    const char *rows[3] = {"base", "ilr", "grpo-matched"};
    const char *labels[3] = {"base agents", "ILR", "GRPO, matched tokens"};
    printf("\n  %-22s %-8s %-22s %-22s\n", "each agent ALONE", "agent", "greedy % [95% CI]", "avg@4 % [95% CI]");
    double avg[3] = {0};
    for (int r = 0; r < 3; r++)
        for (int a = 0; a < 2; a++) {
            const json_t *g = stat_of(results, rows[r], agent_names[a], "greedy"),
                         *s = stat_of(results, rows[r], agent_names[a], "avg@4");
            printf("  %-22s %-8s", a ? "" : labels[r], agent_names[a]);
            print_stat(g);
            print_stat(s);
            printf("\n");
            avg[r] += json_number_value(json_object_get(s, "mean")) / 2;
        }
    const json_t *diff = json_object_get(json_object_get(report, "differences"), "grpo-matched");
    printf("  %-22s", "ILR - GRPO (paired)");
    for (int a = 0; a < 2; a++) {
        printf(" %-8s", agent_names[a]);
        print_stat(stat_of(diff, "ilr", agent_names[a], "greedy"));
        print_stat(stat_of(diff, "ilr", agent_names[a], "avg@4"));
        printf(a ? "\n" : "\n  %-22s", "");
    }
    *ilr_gain = avg[1] - avg[0];
    *grpo_gain = avg[2] - avg[0];
}

/* The base agents discuss test problems by debate and by Idea3 (ilr interact; each also answers alone). */
static int discuss(const char *root, const char *out) {
    printf("\n3. the base agents discuss %s held-out test problems at inference time (ilr interact, greedy): each\n"
           "answers alone, then gives its final answer after the discussion\n", DEMO_DISCUSS);
    const char *protocols[2] = {"debate", "idea3"};
    for (int p = 0; p < 2; p++) {
        char a[1200], b[1200], data[1200], dir[1200];
        snprintf(a, sizeof a, "agent-a=%s/agent-a", root);
        snprintf(b, sizeof b, "agent-b=%s/agent-b", root);
        snprintf(data, sizeof data, "%s/data/test.jsonl", root);
        snprintf(dir, sizeof dir, "%s/interact-%s", out, protocols[p]);
        char *argv[] = {"interact", "--agent", a, "--agent", b, "--data", data, "--max", DEMO_DISCUSS, "--task", "world-arith",
                        "--protocol", (char *)protocols[p], "--max-new-tokens", "96", "--max-peer-tokens", "100", "-o", dir};
        fflush(stdout);
        if (ilr_cmd_interact((int)(sizeof argv / sizeof *argv), argv) != 0)
            return ILR_FAIL(ILR_EINVAL, "demo: ilr interact --protocol %s failed", protocols[p]);
    }
    return 0;
}

int ilr_demo_experiment(const char *root, const char *out, int *failures) {
    char config[1024], exp_dir[1200], o[5][1400];
    if (ilr_resource_path(config, sizeof config, "configs/experiment-demo.yaml")) return ilr_last_error_code();
    snprintf(exp_dir, sizeof exp_dir, "%s/experiment", out);
    snprintf(o[0], sizeof o[0], "output_dir=%s", exp_dir);
    snprintf(o[1], sizeof o[1], "agents.0.model=%s/agent-a", root);
    snprintf(o[2], sizeof o[2], "agents.1.model=%s/agent-b", root);
    snprintf(o[3], sizeof o[3], "set=data.train=%s/data/rl-train.jsonl irt.data=%s/data/calib.jsonl", root, root);
    snprintf(o[4], sizeof o[4], "eval.bench=%s/data/test.jsonl", root);
    int default_root = !strcmp(root, "build/agents");
    printf("\n2. ILR against single-agent GRPO with the same generated tokens, each agent evaluated ALONE\n"
           "   (ilr experiment %s: ILR 30 steps of 16 questions x 8 discussion threads, then GRPO from each\n"
           "   base agent until it has generated as many tokens as that agent did in ILR; consoles below)\n", config);
    /* with the default agents the file's own paths hold; else every path moves under root */
    char *argv[] = {"experiment", config, "--verbose", o[0], o[1], o[2], o[3], o[4]};
    fflush(stdout);
    ilr_timer t;
    ilr_timer_start(&t);
    int status = ilr_cmd_experiment(default_root ? 4 : 8, argv);
    if (status != 0) return ILR_FAIL(ILR_EINVAL, "demo: the experiment did not finish (its cells' logs: %s/cells/)", exp_dir);
    char ilr_run[1400];
    snprintf(ilr_run, sizeof ilr_run, "%s/cells/ilr-s1", exp_dir);
    char train_data[1200];
    snprintf(train_data, sizeof train_data, "%s/data/rl-train.jsonl", root);
    print_irt(ilr_run, train_data);
    print_took("stage 2", &t);

    int rc = discuss(root, out);
    if (rc) return rc;
    print_took("stage 3", &t);

    printf("\n4. the report (ilr report %s)\n", exp_dir);
    json_t *report = NULL;
    if ((rc = ilr_report_write(exp_dir, NULL, &report))) return rc;
    double ilr_gain = 0, grpo_gain = 0;
    print_headline(report, &ilr_gain, &grpo_gain);
    json_decref(report);
    printf("\n  report: %s/report.html (report.md, report.json beside it)\n", exp_dir);
    print_took("stage 4", &t);
    if (!(ilr_gain > 0)) ++*failures, printf("  FAIL: ILR did not raise the agents' mean avg@4 alone\n");
    if (!(grpo_gain > 0)) ++*failures, printf("  FAIL: GRPO did not raise the agents' mean avg@4 alone\n");
    return 0;
}
