/* ilr train: reinforcement learning from a YAML config (src/rl/grpo.c does the work). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ilr/dist.h"
#include "ilr/error.h"
#include "ilr/train_config.h"
#include "train_eval.h"

static const char train_help[] =
    "usage: ilr train CONFIG.yaml [KEY=VALUE ...]\n"
    "       ilr train --resume RUN_DIR [KEY=VALUE ...]\n"
    "       ilr train --help-config\n\n"
    "Trains with reinforcement learning as the YAML config says: method grpo (one model alone, GRPO) or ilr\n"
    "(two or more agents co-learning: Dynamic Interaction, Idea3, Perception Calibration; and its ablations\n"
    "ilr-coop, ilr-comp, ilr-random, ilr-no-calibration).\n"
    "Every key has a default (`ilr train --help-config` lists them, with their meaning); a KEY=VALUE after\n"
    "the config overrides one key, dotted as in the file: rollout.num_generations=4 optim.lr=1e-5.  An\n"
    "unknown key is an error that names the nearest valid one.  configs/ holds ready configs.\n\n"
    "The run directory (output_dir) receives config.yaml (the resolved config, printed at the start too),\n"
    "train_log.jsonl (one line per step with TRL's metric names, one per evaluation), checkpoint-STEP/ (every\n"
    "train.save_every steps and on Ctrl-C / SIGTERM: a model directory + optimizer and data state), and at\n"
    "the end the trained model itself, train_summary.json and curve.svg (reward and accuracy per step).\n\n"
    "  --resume RUN_DIR   continue a run from its newest checkpoint, with RUN_DIR/config.yaml and any\n"
    "                     KEY=VALUE given (train.steps=N extends a run); the result is the same, bit for bit,\n"
    "                     as a run that never stopped (same build and thread count)\n"
    "  --print-config     print the resolved config and exit without training\n"
    "  --help-config      every key: type, default, meaning\n\n"
    "Example (the synthetic world; make agents first):\n"
    "  ilr train configs/world-grpo-a.yaml train.steps=50 output_dir=runs/try\n";

int ilr_cmd_train(int argc, char **argv) {
    const char *config_path = NULL, *resume_dir = NULL;
    int print_only = 0, num_overrides = 0;
    char **overrides = calloc((size_t)argc + 1, sizeof *overrides);
    if (!overrides) return ilr_cli_usage_error("train", "out of memory");
    int status = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(train_help, stdout);
            status = 0;
            goto done;
        } else if (!strcmp(a, "--help-config")) {
            ilr_cfg_print_help(ilr_train_config_schema(), stdout);
            status = 0;
            goto done;
        } else if (!strcmp(a, "--print-config")) {
            print_only = 1;
        } else if (!strcmp(a, "--resume")) {
            if (i + 1 >= argc) {
                status = ilr_cli_usage_error("train", "--resume needs a run directory");
                goto done;
            }
            resume_dir = argv[++i];
        } else if (a[0] == '-') {
            status = ilr_cli_usage_error("train", "unknown option '%s'", a);
            goto done;
        } else if (strchr(a, '=')) {
            overrides[num_overrides++] = argv[i];
        } else if (!config_path) {
            config_path = a;
        } else {
            status = ilr_cli_usage_error("train", "one config file, not '%s' too (overrides are KEY=VALUE)", a);
            goto done;
        }
    }
    if (!!config_path == !!resume_dir) {
        status = ilr_cli_usage_error("train", "give a config file or --resume RUN_DIR (one of them)");
        goto done;
    }
    char resumed_config[4096], output_override[4200];
    if (resume_dir) {
        /* the run's own config, with its output_dir pinned to the directory named */
        snprintf(resumed_config, sizeof resumed_config, "%s/config.yaml", resume_dir);
        snprintf(output_override, sizeof output_override, "output_dir=%s", resume_dir);
        config_path = resumed_config;
        overrides[num_overrides++] = output_override;
    }
    ilr_train_config c;
    if (ilr_train_config_load(&c, config_path, overrides, num_overrides)) {
        status = ilr_cli_fail("train");
        goto done;
    }
    if (!ilr_dist_is_root()) c.quiet = 1; /* under mpirun rank 0 alone prints */
    char *dump = NULL;
    if (ilr_cfg_dump(ilr_train_config_schema(), &c, &dump) == 0) {
        if (print_only || (!c.quiet && c.print_config)) printf("# ---- resolved config (saved as %s/config.yaml)\n%s\n", c.output_dir, dump);
        free(dump);
    }
    if (print_only) {
        ilr_train_config_free(&c);
        status = 0;
        goto done;
    }
    train_run_outcome out;
    int rc = train_run(&c, resume_dir != NULL, &out);
    if (rc) status = ilr_cli_fail("train");
    else if (out.interrupted) {
        printf("train: interrupted after step %ld; checkpoint written (continue with ilr train --resume %s)\n",
               out.steps, c.output_dir);
        status = 130;
    } else {
        if (!c.quiet)
            printf("train: %ld steps in %.0f s; %s in %s (log: train_log.jsonl, curve: curve.svg)\n", out.steps, out.seconds,
                   ilr_train_is_ilr(&c) ? "the agents' models are" : "the model is", c.output_dir);
        status = 0;
    }
    ilr_train_config_free(&c);
done:
    free(overrides);
    return status;
}
