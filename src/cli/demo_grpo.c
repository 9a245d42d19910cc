/* ilr demo, stage 4: GRPO from base agent A for a few minutes: configs/world-grpo-a.yaml, shortened to
 * DEMO_GRPO_STEPS steps and evaluated on the 500 held-out test problems before and after, greedy and
 * sampled (avg@4 at temperature 1, the policy's own accuracy, which is what GRPO raises).  A failure when
 * the sampled accuracy does not rise.  bench/grpo_world.sh is the full 18-minute run for both agents. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "demo.h"
#include "ilr/error.h"
#include "ilr/io.h" /* ilr_resource_path */
#include "ilr/train_config.h"
#include "train_eval.h"

enum { DEMO_GRPO_STEPS = 150 };

/* In percent, computed as the trainer prints it. */
static double percent(const ilr_eval_result *ev) { return 100 * ilr_eval_accuracy(ev); }

int ilr_demo_train(const char *config, char **overrides, int num_overrides, train_run_outcome *res) {
    ilr_train_config c;
    int rc = ilr_train_config_load(&c, config, overrides, num_overrides);
    if (rc) return rc;
    rc = train_run(&c, 0, res);
    ilr_train_config_free(&c);
    return rc;
}

int ilr_demo_grpo(const char *root, const char *out, int *failures) {
    char config[1024], train[1100], run[1100];
    printf("\nGRPO from base agent A, %d steps of 64 questions x 8 completions (configs/world-grpo-a.yaml)\n",
           DEMO_GRPO_STEPS);
    snprintf(train, sizeof train, "%s/data/rl-train.jsonl", root);
    if (access(train, R_OK) != 0) {
        printf("  (no base agents with RL data in %s: run `make agents`, then `ilr demo` again)\n", root);
        return 0;
    }
    if (ilr_resource_path(config, sizeof config, "configs/world-grpo-a.yaml")) return ilr_last_error_code();
    snprintf(run, sizeof run, "%s/grpo-a", out);
    char o_model[1200], o_train[1200], o_test[1200], o_out[1200], o_steps[64];
    snprintf(o_model, sizeof o_model, "model=%s/agent-a", root);
    snprintf(o_train, sizeof o_train, "data.train=%s", train);
    snprintf(o_test, sizeof o_test, "data.test=%s/data/test.jsonl", root);
    snprintf(o_out, sizeof o_out, "output_dir=%s", run);
    snprintf(o_steps, sizeof o_steps, "train.steps=%d", DEMO_GRPO_STEPS);
    /* the held-out test set before and after only (no periodic evaluation), no checkpoints */
    char *overrides[] = {o_model, o_train, o_test, o_out, o_steps, "data.eval=null", "train.max_minutes=0",
                         "train.save_every=0", "train.log_every=20", "train.quiet=false"};
    train_run_outcome res;
    int rc = ilr_demo_train(config, overrides, (int)(sizeof overrides / sizeof *overrides), &res);
    if (rc) return rc;
    const train_eval_results *e = &res.results[0];
    double greedy[2] = {percent(&e->test_before), percent(&e->test_after)};
    double sampled[2] = {percent(&e->test_sampled_before), percent(&e->test_sampled_after)};
    printf("  held-out test accuracy after %ld steps (%.0f s): sampled %.1f%% -> %.1f%% (%+.1f points), "
           "greedy %.1f%% -> %.1f%% (%+.1f)\n", res.steps, res.seconds, sampled[0], sampled[1], sampled[1] - sampled[0],
           greedy[0], greedy[1], greedy[1] - greedy[0]);
    printf("  the run, its log and curve.svg: %s/\n", run);
    if (sampled[1] <= sampled[0]) {
        printf("  FAIL: GRPO did not raise the sampled accuracy\n");
        ++*failures;
    }
    return 0;
}
