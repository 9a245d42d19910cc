/* `ilr train` (GRPO): configs (defaults, overrides, errors that name the nearest key), a short smoke run that
 * writes everything a run directory holds, and exact resume after kill -9 at a random moment (20 steps
 * straight == 10 + kill + resume, bit for bit).
 *
 * The policy is a tiny Llama given a few dozen SFT steps on questions "a + b =" answered " \boxed{c}": enough
 * that its samples are often well-formed and sometimes right, so rewards vary within groups and the
 * weights move. */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "ilr/error.h"
#include "ilr/generate.h"
#include "ilr/io.h"
#include "ilr/model.h"
#include "ilr/train_config.h"
#include "test_util.h"

typedef ilr_test_sum_fixture fixture;

static void setup(fixture *fx, const char *tag) { ilr_test_sum_fixture_setup(fx, tag); }

/* A config for the fixture; extra YAML lines appended. */
static void write_config(char *path, const fixture *fx, const char *name, const char *out_dir, const char *extra) {
    ilr_test_sum_grpo_config(path, fx, name, out_dir, extra);
}

/* ---- configs ---- */

static void test_config_defaults_file_and_overrides(void **state) {
    (void)state;
    fixture fx;
    ilr_test_tmpdir(fx.dir, "train-config");
    char path[256];
    const char *yaml = "model: m\noutput_dir: o\ndata:\n  train: t.jsonl\nrollout:\n  num_generations: 4\n";
    ilr_test_write_file(path, fx.dir, "c.yaml", yaml, strlen(yaml));
    ilr_train_config c;
    char *over[] = {"grpo.loss_type=dr_grpo", "optim.lr=2e-5"};
    assert_int_equal(ilr_train_config_load(&c, path, over, 2), 0);
    assert_int_equal(c.num_generations, 4);         /* the file */
    assert_int_equal(c.loss_type, 2);               /* an override */
    assert_float_equal(c.lr, 2e-5, 1e-12);
    assert_int_equal(c.prompts_per_step, 16);       /* defaults, as TRL's GRPOConfig where it has one */
    assert_float_equal(c.epsilon, 0.2, 1e-12);
    assert_float_equal(c.beta, 0.0, 0);
    assert_int_equal(c.num_iterations, 1);
    assert_int_equal(c.scale_rewards, 0);
    assert_int_equal(c.recompute, 0);
    ilr_train_config_free(&c);
    char *recompute[] = {"train.recompute=true"};
    assert_int_equal(ilr_train_config_load(&c, path, recompute, 1), 0);
    assert_int_equal(c.recompute, 1);
    ilr_train_config_free(&c);
    char *recompute_gpu[] = {"train.recompute=true", "train.device=cuda"};
    ILR_EXPECT_ERROR(ilr_train_config_load(&c, path, recompute_gpu, 2), ILR_EUNSUPPORTED, "train.recompute", "cpu");
    assert_int_equal(ilr_train_config_load(&c, path, NULL, 0), 0);
    assert_int_equal(c.zero1, 0); /* ZeRO-1 is asked for */
    ilr_train_config_free(&c);
    char *zero1[] = {"train.zero1=true"}, *zero1_bad[] = {"train.zero1=sharded"};
    char *zero1_gpu[] = {"train.zero1=true", "train.device=cuda"};
    assert_int_equal(ilr_train_config_load(&c, path, zero1, 1), 0);
    assert_int_equal(c.zero1, 1);
    ilr_train_config_free(&c);
    ILR_EXPECT_ERROR(ilr_train_config_load(&c, path, zero1_bad, 1), ILR_EINVAL, "train.zero1", "sharded");
    ILR_EXPECT_ERROR(ilr_train_config_load(&c, path, zero1_gpu, 2), ILR_EUNSUPPORTED, "train.zero1", "cpu");
    print_message("train config: file, override and defaults resolve in that order\n");

    char *typo[] = {"rollout.num_generation=8"};
    ILR_EXPECT_ERROR(ilr_train_config_load(&c, path, typo, 1), ILR_EINVAL, "rollout.num_generation",
                     "did you mean 'rollout.num_generations'");
    const char *bad = "model: m\noutput_dir: o\ndata:\n  train: t.jsonl\ngrpo:\n  loss_type: ppo\n";
    ilr_test_write_file(path, fx.dir, "bad.yaml", bad, strlen(bad));
    ILR_EXPECT_ERROR(ilr_train_config_load(&c, path, NULL, 0), ILR_EINVAL, "bad.yaml:6", "grpo.loss_type", "dapo");
    const char *no_model = "output_dir: o\ndata:\n  train: t.jsonl\n";
    ilr_test_write_file(path, fx.dir, "nomodel.yaml", no_model, strlen(no_model));
    ILR_EXPECT_ERROR(ilr_train_config_load(&c, path, NULL, 0), ILR_EINVAL, "no model");
    ilr_test_rmtree(fx.dir);
}

/* --resume names the run's problem: no checkpoint yet, or a `latest` naming one that is gone. */
static void test_resume_without_checkpoint(void **state) {
    (void)state;
    fixture fx;
    ilr_test_tmpdir(fx.dir, "train-noresume");
    char path[256], out[16384]; /* the resolved config is printed first */
    char yaml[1024];
    snprintf(yaml, sizeof yaml, "model: m\noutput_dir: %s\ndata:\n  train: t.jsonl\n", fx.dir);
    ilr_test_write_file(path, fx.dir, "config.yaml", yaml, strlen(yaml));
    char *argv[] = {"ilr", "train", "--resume", fx.dir};
    assert_int_equal(ilr_test_run_cli(out, sizeof out, 4, argv), 1);
    assert_non_null(strstr(out, "no checkpoint to resume from"));
    ilr_test_write_file(path, fx.dir, "latest", "checkpoint-000007\n", strlen("checkpoint-000007\n"));
    assert_int_equal(ilr_test_run_cli(out, sizeof out, 4, argv), 1);
    assert_non_null(strstr(out, "checkpoint-000007, which does not exist"));
    print_message("resume: a run without a checkpoint, and a `latest` naming a missing one, are refused by name\n");
    ilr_test_rmtree(fx.dir);
}

/* ---- a smoke run ---- */

static json_t *read_log(const char *run, int *steps, int *evals) {
    char path[600];
    snprintf(path, sizeof path, "%s/train_log.jsonl", run);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    json_t *last_step = NULL;
    char line[8192];
    int sampled = 0;
    *steps = *evals = 0;
    while (fgets(line, sizeof line, f)) {
        json_t *j = json_loads(line, 0, NULL);
        assert_non_null(j);
        if (json_object_get(j, "reward")) {
            (*steps)++;
            assert_int_equal(json_integer_value(json_object_get(j, "step")), *steps); /* each step once, in order */
            json_decref(last_step);
            last_step = j;
        } else {
            if (json_object_get(j, "eval_accuracy")) (*evals)++;
            json_t *examples = json_object_get(j, "eval_sampled_examples");
            if (examples) {
                sampled++;
                assert_int_equal(json_integer_value(examples), 16 * 3); /* avg@3 over the 16 questions */
            }
            json_decref(j);
        }
    }
    fclose(f);
    assert_true(sampled == 0 || sampled == *evals); /* with data.eval_samples, one sampled line per evaluation */
    return last_step;
}

static void test_grpo_smoke_run(void **state) {
    (void)state;
    fixture fx;
    setup(&fx, "train-smoke");
    char cfg[256], run[600], run2[600], out[16384], path[700];
    snprintf(run, sizeof run, "%s/run", fx.dir);
    char extra[1024];
    snprintf(extra, sizeof extra,
             "  steps: 6\n  save_every: 2\n  eval_every: 3\ndata.eval: %s\ndata.eval_max: 16\ndata.eval_samples: 3\n", fx.eval);
    write_config(cfg, &fx, "smoke.yaml", run, extra);
    char *argv[] = {"ilr", "train", cfg, "grpo.epsilon_high=0.28"};
    int status = ilr_test_run_cli(out, sizeof out, 4, argv);
    if (status) printf("%s\n", out);
    assert_int_equal(status, 0);
    int steps, evals;
    json_t *last = read_log(run, &steps, &evals);
    assert_int_equal(steps, 6);
    assert_int_equal(evals, 3); /* before, at step 3, after */
    const char *metrics[] = {"loss", "grad_norm", "learning_rate", "reward", "reward_std", "rewards/math/mean",
                             "accuracy", "frac_reward_zero_std", "completions/mean_length", "completions/clipped_ratio",
                             "entropy", "clip_ratio/low_mean", "clip_ratio/high_mean", "clip_ratio/region_mean",
                             "num_tokens", "tokens_per_second", "time/generation", "time/reward", "time/training"};
    for (size_t i = 0; i < sizeof metrics / sizeof metrics[0]; i++) {
        if (!json_object_get(last, metrics[i])) printf("missing metric %s\n", metrics[i]);
        assert_non_null(json_object_get(last, metrics[i]));
    }
    double len = json_number_value(json_object_get(last, "completions/mean_length"));
    assert_true(len >= 1 && len <= 12);
    assert_true(json_number_value(json_object_get(last, "entropy")) > 0);
    json_decref(last);
    /* the run directory: resolved config, checkpoints (newest 2 of 3), final model, summary, curve */
    const char *files[] = {"config.yaml", "latest", "checkpoint-000004/model.safetensors",
                           "checkpoint-000006/trainer_state.json", "checkpoint-000006/optimizer.safetensors",
                           "model.safetensors", "tokenizer.json", "train_summary.json", "curve.svg"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", run, files[i]);
        if (!ilr_file_exists(path)) printf("missing %s\n", path);
        assert_true(ilr_file_exists(path));
    }
    snprintf(path, sizeof path, "%s/checkpoint-000002", run);
    assert_false(ilr_dir_exists(path));
    /* the saved config reloads to the same run, the override included */
    snprintf(path, sizeof path, "%s/config.yaml", run);
    ilr_train_config c;
    assert_int_equal(ilr_train_config_load(&c, path, NULL, 0), 0);
    assert_float_equal(c.epsilon_high, 0.28, 1e-12);
    assert_int_equal(c.steps, 6);
    ilr_train_config_free(&c);
    char *svg = NULL;
    size_t n = 0;
    snprintf(path, sizeof path, "%s/curve.svg", run);
    assert_int_equal(ilr_file_read_all(path, &svg, &n), 0);
    assert_non_null(strstr(svg, "<svg"));
    assert_non_null(strstr(svg, "polyline"));
    assert_non_null(strstr(svg, "held-out accuracy (greedy)"));
    assert_non_null(strstr(svg, "held-out accuracy (sampled, avg@3)"));
    free(svg);
    /* questions that are not the task's kind are refused before anything runs */
    snprintf(run2, sizeof run2, "output_dir=%s/run-code", fx.dir);
    char *argv_code[] = {"ilr", "train", cfg, "data.task=code", run2};
    assert_int_equal(ilr_test_run_cli(out, sizeof out, 5, argv_code), 1);
    assert_non_null(strstr(out, "data.task is code but the dataset holds math questions"));
#ifndef ILR_CUDA
    /* train.device: cuda in a build without the CUDA backend says so, and how to get it */
    snprintf(run2, sizeof run2, "output_dir=%s/run-cuda", fx.dir);
    char *argv_cuda[] = {"ilr", "train", cfg, "train.device=cuda", run2};
    assert_int_equal(ilr_test_run_cli(out, sizeof out, 5, argv_cuda), 1);
    ilr_test_expect_contains(out, "built without the CUDA backend (make CUDA=1)");
#endif

    /* the other branches: a reference model and its KL, mu = 2, per-sequence aggregation, mean-only
     * advantages, truncated completions masked */
    snprintf(run2, sizeof run2, "output_dir=%s/run2", fx.dir);
    char *argv2[] = {"ilr", "train", cfg, run2, "train.steps=3", "train.save_every=0", "data.eval=null", "grpo.beta=0.04",
                     "grpo.num_iterations=2", "grpo.loss_type=grpo", "grpo.scale_rewards=none",
                     "grpo.mask_truncated_completions=true"};
    status = ilr_test_run_cli(out, sizeof out, 12, argv2);
    if (status) printf("%s\n", out);
    assert_int_equal(status, 0);
    snprintf(run, sizeof run, "%s/run2", fx.dir);
    last = read_log(run, &steps, &evals);
    assert_int_equal(steps, 3);
    double kl = json_number_value(json_object_get(last, "kl"));
    assert_non_null(json_object_get(last, "kl"));
    assert_true(kl >= 0 && kl < 1);
    json_decref(last);
    /* resuming with another num_iterations continues from the checkpoint's step, not adam_step / mu */
    snprintf(run2, sizeof run2, "output_dir=%s/run3", fx.dir);
    char *argv3[] = {"ilr", "train", cfg, run2, "train.steps=4", "train.save_every=2", "data.eval=null"};
    assert_int_equal(ilr_test_run_cli(out, sizeof out, 7, argv3), 0);
    snprintf(run, sizeof run, "%s/run3", fx.dir);
    char *argv4[] = {"ilr", "train", "--resume", run, "train.steps=6", "grpo.num_iterations=2"};
    status = ilr_test_run_cli(out, sizeof out, 6, argv4);
    if (status) printf("%s\n", out);
    assert_int_equal(status, 0);
    json_decref(read_log(run, &steps, &evals)); /* each step once, in order */
    assert_int_equal(steps, 6);
    /* steps 1-4 at mu 1 (4 optimizer steps), then 5-6 at mu 2 (4 more); a start miscounted as
     * optimizer_step / mu = 2 would redo steps 3-4 and end at 12 */
    snprintf(path, sizeof path, "%s/checkpoint-000006/trainer_state.json", run);
    json_t *st = json_load_file(path, 0, NULL);
    assert_non_null(st);
    assert_int_equal(json_integer_value(json_object_get(st, "step")), 6);
    assert_int_equal(json_integer_value(json_object_get(st, "optimizer_step")), 8);
    json_decref(st);
    /* rollouts from bf16 weights (remade after every update): the run completes and records the key */
    snprintf(run2, sizeof run2, "output_dir=%s/run-bf16", fx.dir);
    char *argv_bf16[] = {"ilr", "train", cfg, run2, "train.steps=2", "train.save_every=0", "data.eval=null",
                         "rollout.weights=bf16"};
    status = ilr_test_run_cli(out, sizeof out, 8, argv_bf16);
    if (status) printf("%s\n", out);
    assert_int_equal(status, 0);
    snprintf(run, sizeof run, "%s/run-bf16", fx.dir);
    last = read_log(run, &steps, &evals);
    assert_int_equal(steps, 2);
    double clip = json_number_value(json_object_get(last, "clip_ratio/region_mean"));
    assert_true(clip >= 0 && clip < 0.5); /* bf16 rollout log-probs stay close to the fp32 ratio's start */
    json_decref(last);
    snprintf(path, sizeof path, "%s/config.yaml", run);
    assert_int_equal(ilr_train_config_load(&c, path, NULL, 0), 0);
    assert_int_equal(c.rollout_weights, ILR_GEN_WEIGHTS_BF16);
    ilr_train_config_free(&c);
    /* temperature 0 cannot be trained on: there is no distribution for the ratio */
    char *argv5[] = {"ilr", "train", cfg, run2, "rollout.temperature=0"};
    assert_int_equal(ilr_test_run_cli(out, sizeof out, 5, argv5), 1);
    ilr_test_expect_contains(out, "rollout.temperature must be > 0");
    print_message("grpo smoke: 6 steps, 3 evaluations, %zu metrics per step, checkpoints, model, curve; with a "
                  "reference model, mu 2, grpo aggregation: kl %.2e after 3 steps; resumed at step 4 with mu 2 to "
                  "step 6 (each step logged once); temperature 0 refused\n",
                  sizeof metrics / sizeof metrics[0], kl);
    ilr_test_rmtree(fx.dir);
}

/* ---- exact resume after kill -9 ---- */

/* Every checkpoint directory present is whole: its model and trainer state load. */
static int check_checkpoints_whole(const char *run) {
    DIR *d = opendir(run);
    assert_non_null(d);
    struct dirent *e;
    int whole = 0;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "checkpoint-", 11) || strchr(e->d_name, '.')) continue; /* temporaries end .tmp.PID */
        char path[1200];
        snprintf(path, sizeof path, "%s/%s", run, e->d_name);
        ilr_model m;
        assert_int_equal(ilr_model_load(&m, path), 0);
        ilr_model_free(&m);
        snprintf(path, sizeof path, "%s/%s/trainer_state.json", run, e->d_name);
        json_t *j = json_load_file(path, 0, NULL);
        assert_non_null(j);
        json_decref(j);
        whole++;
    }
    closedir(d);
    return whole;
}

static void test_grpo_resume_after_kill_is_exact(void **state) {
    (void)state;
    const char *bin = getenv("ILR_BIN");
    if (!bin || !ilr_file_exists(bin)) {
        print_message("skipped: ILR_BIN (the ilr binary, set by make test) is not there to run and kill\n");
        skip();
    }
    fixture fx;
    setup(&fx, "train-resume");
    char cfg_a[256], cfg_b[256], run_a[600], run_b[600];
    snprintf(run_a, sizeof run_a, "%s/straight", fx.dir);
    snprintf(run_b, sizeof run_b, "%s/killed", fx.dir);
    write_config(cfg_a, &fx, "a.yaml", run_a, "  steps: 20\n");
    write_config(cfg_b, &fx, "b.yaml", run_b, "  steps: 20\n  save_every: 1\n  keep_checkpoints: 3\n");
    char *argv_a[] = {"ilr", "train", cfg_a, NULL};
    assert_int_equal(ilr_test_run_to_end(bin, argv_a), 0);

    /* the same run, killed -9 at a random moment after its step-10 checkpoint */
    char *argv_b[] = {"ilr", "train", cfg_b, NULL};
    long delay_us;
    ilr_test_kill_after_checkpoint(bin, argv_b, run_b, 10, 150000, &delay_us);
    long at = ilr_test_latest_step(run_b);
    int whole = check_checkpoints_whole(run_b);
    char *argv_resume[] = {"ilr", "train", "--resume", run_b, NULL};
    assert_int_equal(ilr_test_run_to_end(bin, argv_resume), 0);
    /* the final model directory is whole though the checkpoint it resumed from was rotated away */
    char tok[700];
    snprintf(tok, sizeof tok, "%s/tokenizer.json", run_b);
    assert_true(ilr_file_exists(tok));

    float *straight, *resumed;
    size_t n, n2;
    ilr_test_read_params(run_a, &straight, &n);
    ilr_test_read_params(run_b, &resumed, &n2);
    float *init;
    size_t n0;
    ilr_test_read_params(fx.model, &init, &n0);
    assert_int_equal(n, n2);
    size_t differ = 0, moved = 0;
    for (size_t i = 0; i < n; i++) {
        differ += memcmp(&straight[i], &resumed[i], sizeof(float)) != 0;
        moved += straight[i] != init[i];
    }
    int steps, evals;
    json_decref(read_log(run_b, &steps, &evals));
    print_message("grpo resume: killed -9 %.1f ms after the step-10 checkpoint (newest whole checkpoint: step %ld, %d "
                  "whole on disk), resumed to 20: %zu of %zu weights differ from 20 straight steps (%zu moved from the "
                  "start); the log has each of the %d steps once\n",
                  delay_us / 1000.0, at, whole, differ, n, moved, steps);
    assert_true(moved > n / 2); /* the test is not vacuous: training changed the weights */
    assert_int_equal(differ, 0);
    assert_int_equal(steps, 20);
    free(straight);
    free(resumed);
    free(init);
    ilr_test_rmtree(fx.dir);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_config_defaults_file_and_overrides),
    cmocka_unit_test(test_resume_without_checkpoint),
    cmocka_unit_test(test_grpo_smoke_run),
    cmocka_unit_test(test_grpo_resume_after_kill_is_exact),
};

ILR_TEST_GROUP(train, tests)
