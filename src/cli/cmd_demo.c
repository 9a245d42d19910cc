/* ilr demo (make demo): the paper, small, on the synthetic world, end to end.
 *
 * 1. The base agents (make agents builds them; make demo takes the shipped ones, data/agents/): their
 *    held-out accuracy by level, how well each follows each Idea3 stage, one question discussed by both
 *    (src/cli/demo_agents.c).
 * 2. ILR against single-agent GRPO with the same generated tokens (`ilr experiment
 *    configs/experiment-demo.yaml`): the IRT fit, dynamic interaction, Idea3 and calibration in ILR's
 *    training, and every model evaluated ALONE (src/cli/demo_experiment.c).
 * 3. The base agents discussing test problems by debate and by Idea3 at inference time (`ilr interact`).
 * 4. `ilr report` of the experiment: report.html and the headline table.
 * The engine's own checks (model directories, tokenizers, kernels) are the test suite's (make test). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "demo.h"
#include "ilr/error.h"
#include "ilr/io.h"
#include "ilr/timer.h"

static const char demo_help[] =
    "usage: ilr demo [--out DIR] [--agents DIR]\n\n"
    "The paper, small, on the synthetic world (README, \"What make demo does\"): (1) the two base agents\n"
    "(accuracy by level, each Idea3 stage measured, one question discussed); (2) ILR from both agents (IRT fit,\n"
    "dynamic interaction, Idea3, calibration; 30 steps of 16 questions) against GRPO compute-matched to each\n"
    "agent's generated tokens, every model evaluated alone on 500 test problems, through `ilr experiment\n"
    "configs/experiment-demo.yaml` (resumable: run the demo again after a stop); (3) the base agents\n"
    "discussing test problems by debate and by Idea3; (4) `ilr report` of the experiment, with its headline\n"
    "table.  Exit status 0 only when every check holds and both ILR and GRPO raised the agents' accuracy.\n\n"
    "  --out DIR     where the experiment, the discussions and the report go (default out/demo)\n"
    "  --agents DIR  the base agents and their data (default build/agents: `make agents`, or the shipped\n"
    "                ones that `make demo` copies there)\n";

int ilr_cmd_demo(int argc, char **argv) {
    static const struct option longopts[] = {
        {"out", required_argument, 0, 'o'}, {"agents", required_argument, 0, 'a'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *out = "out/demo", *agents = "build/agents";
    optind = 0;
    opterr = 0;
    for (int c; (c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1;) {
        if (c == 'h') return printf("%s", demo_help), 0;
        if (c == 'o') out = optarg;
        else if (c == 'a') agents = optarg;
        else return ilr_cli_usage_error("demo", "unknown or incomplete option '%s'", argv[optind - 1]);
    }
    if (optind != argc) return ilr_cli_usage_error("demo", "unexpected argument '%s'", argv[optind]);
    char calib[1100];
    snprintf(calib, sizeof calib, "%s/data/calib.jsonl", agents);
    if (!ilr_file_exists(calib)) {
        ILR_FAIL(ILR_ENOTFOUND, "no base agents with their data in %s: `make demo` takes the shipped ones "
                 "(SHIPPED=1 scripts/agents.sh), `make agents` trains them", agents);
        return ilr_cli_fail("demo");
    }
    ilr_timer t;
    ilr_timer_start(&t);
    printf("ilr demo: the paper, small: base agents, ILR vs compute-matched GRPO with each agent evaluated alone,\n"
           "Idea3 vs debate at inference, and the report\n");
    int failures = 0;
    char took[32];
    if (ilr_demo_agents(agents, &failures)) return ilr_cli_fail("demo");
    ilr_format_duration(ilr_timer_elapsed(&t), took, sizeof took);
    printf("  (stage 1: %s)\n", took);
    if (ilr_demo_experiment(agents, out, &failures)) return ilr_cli_fail("demo");
    ilr_format_duration(ilr_timer_elapsed(&t), took, sizeof took);
    printf("\n%s: %d check%s failed (%s); everything is in %s/\n", failures ? "FAILED" : "all checks passed", failures,
           failures == 1 ? "" : "s", took, out);
    return failures ? 1 : 0;
}
