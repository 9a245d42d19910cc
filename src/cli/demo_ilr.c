/* ilr demo, stage 5: ILR from base agents A and B for a few minutes (configs/world-ilr.yaml, shortened to
 * DEMO_ILR_STEPS steps of DEMO_ILR_QUESTIONS questions): the IRT fit at the start, Dynamic Interaction,
 * Idea3, Perception Calibration and GRPO for both agents; each agent evaluated ALONE on the 500 held-out
 * test problems before and after, greedy and sampled (avg@4).  Then the base agents discuss test problems at
 * inference time by debate and by Idea3 (`ilr interact`; each protocol also grades every agent's answer
 * alone).  A failure when the agents' mean sampled accuracy alone does not rise.  bench/ilr_world.sh is
 * the full comparison with single-agent GRPO. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "demo.h"
#include "ilr/error.h"
#include "ilr/io.h" /* ilr_resource_path */
#include "ilr/train_config.h"
#include "train_eval.h"

enum { DEMO_ILR_STEPS = 30, DEMO_ILR_QUESTIONS = 16 };
#define DEMO_DISCUSS "200"

static double percent(const ilr_eval_result *ev) { return 100 * ilr_eval_accuracy(ev); }

static int co_learn(const char *root, const char *out, int *failures) {
    char config[1024], o[8][1200];
    if (ilr_resource_path(config, sizeof config, "configs/world-ilr.yaml")) return ilr_last_error_code();
    snprintf(o[0], sizeof o[0], "agents.0.model=%s/agent-a", root);
    snprintf(o[1], sizeof o[1], "agents.1.model=%s/agent-b", root);
    snprintf(o[2], sizeof o[2], "data.train=%s/data/rl-train.jsonl", root);
    snprintf(o[3], sizeof o[3], "data.test=%s/data/test.jsonl", root);
    snprintf(o[4], sizeof o[4], "irt.data=%s/data/calib.jsonl", root);
    snprintf(o[5], sizeof o[5], "output_dir=%s/ilr", out);
    snprintf(o[6], sizeof o[6], "train.steps=%d", DEMO_ILR_STEPS);
    snprintf(o[7], sizeof o[7], "rollout.prompts_per_step=%d", DEMO_ILR_QUESTIONS);
    char *overrides[] = {o[0], o[1], o[2], o[3], o[4], o[5], o[6], o[7], "data.eval=null", "train.max_minutes=0",
                         "train.save_every=0", "train.log_every=5", "train.quiet=false", "train.save_rollouts=true",
                         "irt.data_max=200"};
    train_run_outcome res;
    int rc = ilr_demo_train(config, overrides, (int)(sizeof overrides / sizeof *overrides), &res);
    if (rc) return rc;
    double gain = 0;
    const char *names[2] = {"agent-a", "agent-b"};
    printf("  each agent ALONE on the 500 held-out test problems, after %ld ILR steps (%.0f s):\n", res.steps, res.seconds);
    for (int i = 0; i < 2; i++) {
        const train_eval_results *e = &res.results[i];
        double s0 = percent(&e->test_sampled_before), s1 = percent(&e->test_sampled_after);
        printf("    %s  sampled %.1f%% -> %.1f%% (%+.1f points), greedy %.1f%% -> %.1f%% (%+.1f)\n", names[i], s0, s1,
               s1 - s0, percent(&e->test_before), percent(&e->test_after), percent(&e->test_after) - percent(&e->test_before));
        gain += (s1 - s0) / 2;
    }
    printf("  the run, its log, rollouts.jsonl (python3 scripts/check_rollouts.py %s/ilr recomputes it) and curve.svg: "
           "%s/ilr/\n", out, out);
    if (gain <= 0) {
        printf("  FAIL: ILR did not raise the agents' mean sampled accuracy alone\n");
        ++*failures;
    }
    return 0;
}

/* The base agents discuss test problems by debate and by Idea3 (ilr interact; each also answers alone). */
static int discuss(const char *root, const char *out) {
    printf("\nthe base agents discuss %s held-out test problems at inference time (ilr interact, greedy): each\n"
           "answers alone, then its final answer after the discussion\n", DEMO_DISCUSS);
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

int ilr_demo_ilr(const char *root, const char *out, int *failures) {
    char calib[1100];
    printf("\nILR: base agents A and B learn together, %d steps of %d questions x 8 discussion threads "
           "(configs/world-ilr.yaml)\n", DEMO_ILR_STEPS, DEMO_ILR_QUESTIONS);
    snprintf(calib, sizeof calib, "%s/data/calib.jsonl", root);
    if (access(calib, R_OK) != 0) {
        printf("  (no base agents with calibration data in %s: run `make agents`, then `ilr demo` again)\n", root);
        return 0;
    }
    int rc = co_learn(root, out, failures);
    return rc ? rc : discuss(root, out);
}
