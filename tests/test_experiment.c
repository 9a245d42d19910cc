/* ilr experiment: the plan of cells from a file (ids, order, each cell's train overrides, the compute-matched
 * dependency), bad files refused by name, and runs of a real grid on two random-initialised world models:
 * experiment.json holds every cell's evaluation, a second run redoes nothing, a kill -9 of the experiment
 * in the middle of training ends in the same numbers as a run that was never stopped, and a finished cell
 * whose settings changed is refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "test_util.h"

#include "ilr/error.h"
#include "ilr/experiment.h"
#include "ilr/io.h"
#include "ilr/json.h"

typedef struct {
    char dir[256], model[2][512], train[512], calib[512], test[512], ilr_cfg[256], grpo_cfg[256];
} exp_fixture;

static void must_cli(const char *what, char **argv, int argc) {
    char out[16384];
    int status = ilr_test_run_cli(out, sizeof out, argc, argv);
    if (status) printf("%s failed:\n%s\n", what, out);
    assert_int_equal(status, 0);
}

/* Two random-initialised world models (a qwen2 world-a and a llama world-b) on one small tokenizer, world
 * problems, and the train configs of an ILR method and a GRPO method with tiny steps. */
static int setup(void **state) {
    exp_fixture *fx = calloc(1, sizeof *fx);
    ilr_test_tmpdir(fx->dir, "experiment");
    char sft[600], tok[600];
    snprintf(sft, sizeof sft, "%s/sft.jsonl", fx->dir);
    snprintf(tok, sizeof tok, "%s/tok", fx->dir);
    snprintf(fx->train, sizeof fx->train, "%s/train.jsonl", fx->dir);
    snprintf(fx->calib, sizeof fx->calib, "%s/calib.jsonl", fx->dir);
    snprintf(fx->test, sizeof fx->test, "%s/test.jsonl", fx->dir);
    char *gen_sft[] = {"ilr", "world", "gen", "--kind", "sft", "--split", "sft", "--n", "400", "--levels", "1-2", "--seed",
                       "4", "-o", sft};
    must_cli("world gen", gen_sft, 15);
    struct { char *split, *n, *path; } sets[3] = {{"train", "200", fx->train}, {"calib", "12", fx->calib}, {"test", "6", fx->test}};
    for (int s = 0; s < 3; s++) {
        char *gen[] = {"ilr", "world", "gen", "--split", sets[s].split, "--n", sets[s].n, "--levels", "1-2", "--seed", "4",
                       "-o", sets[s].path};
        must_cli("world gen", gen, 13);
    }
    char *tok_argv[] = {"ilr", "tokenizer", "train", "--vocab-size", "300", "--special", "<|endoftext|>", "--jsonl",
                        "prompt,response", "--out", tok, sft};
    must_cli("tokenizer train", tok_argv, 12);
    const char *shape[2] = {"world-a", "world-b"};
    for (int k = 0; k < 2; k++) {
        char dir[512]; /* (not straight into fx: the compiler cannot tell fx->dir and fx->model apart) */
        snprintf(dir, sizeof dir, "%s/model-%c", fx->dir, 'a' + k);
        memcpy(fx->model[k], dir, sizeof dir);
        char *init[] = {"ilr", "init", "--shape", (char *)shape[k], "--tokenizer", tok, "--seed", "5", "-o", fx->model[k]};
        must_cli("init", init, 10);
    }
    char text[4096];
    int n = snprintf(text, sizeof text,
                     "method: ilr\nagents:\n  - model: %s\n  - model: %s\n"
                     "data: {train: %s, task: world-arith}\nirt: {data: %s, samples: 1}\n"
                     "ilr: {max_peer_tokens: 32, max_prompt_tokens: 320, analyse_max_new_tokens: 24, fuse_max_new_tokens: 24}\n",
                     fx->model[0], fx->model[1], fx->train, fx->calib);
    snprintf(text + n, sizeof text - (size_t)n,
             "rollout: {prompts_per_step: 2, num_generations: 2, max_new_tokens: 24}\n"
             "optim: {lr: 1.0e-3, micro_batch: 8}\ntrain: {quiet: true, log_every: 1}\n");
    ilr_test_write_file(fx->ilr_cfg, fx->dir, "ilr.yaml", text, strlen(text));
    snprintf(text, sizeof text,
             "method: grpo\nmodel: %s\ndata: {train: %s, task: world-arith}\n"
             "rollout: {prompts_per_step: 2, num_generations: 2, max_new_tokens: 24}\n"
             "optim: {lr: 1.0e-3, micro_batch: 8}\ntrain: {quiet: true, log_every: 1}\n",
             fx->model[0], fx->train);
    ilr_test_write_file(fx->grpo_cfg, fx->dir, "grpo.yaml", text, strlen(text));
    *state = fx;
    return 0;
}

static int teardown(void **state) {
    exp_fixture *fx = *state;
    ilr_test_rmtree(fx->dir);
    free(fx);
    return 0;
}

/* An experiment file over the fixture: two agents, methods ilr and grpo-matched (match: ilr); extra lines
 * appended (a later key replaces nothing: YAML refuses duplicates, so extra holds keys not written here). */
static void write_experiment(char *path, const exp_fixture *fx, const char *name, const char *out, const char *extra) {
    char text[4096];
    snprintf(text, sizeof text,
             "output_dir: %s\nbaseline: grpo-matched\nthreads: 1\n"
             "agents:\n  - {name: agent-a, model: %s}\n  - {name: agent-b, model: %s}\n"
             "methods:\n  - {name: ilr, config: %s}\n"
             "  - {name: grpo-matched, config: %s, match: ilr, set: train.steps=1000}\n"
             "eval: {bench: %s, samples: 2, max_new_tokens: 24}\n%s",
             out, fx->model[0], fx->model[1], fx->ilr_cfg, fx->grpo_cfg, fx->test, extra);
    ilr_test_write_file(path, fx->dir, name, text, strlen(text));
}

static int has_arg(const ilr_experiment_cell *cell, const char *arg) {
    for (int i = 0; i < cell->num_args; i++)
        if (!strcmp(cell->args[i], arg)) return 1;
    return 0;
}

static void test_plan(void **state) {
    exp_fixture *fx = *state;
    char path[256], out[600];
    snprintf(out, sizeof out, "%s/plan-out", fx->dir);
    write_experiment(path, fx, "plan.yaml", out, "seeds: 3, 7\nset: train.steps=2\n");
    ilr_experiment_config c;
    assert_int_equal(ilr_experiment_load(&c, path, NULL, 0), 0);
    ilr_experiment_plan plan;
    assert_int_equal(ilr_experiment_plan_make(&c, &plan), 0);
    const char *ids[] = {"base", "ilr-s3", "ilr-s7", "grpo-matched-agent-a-s3", "grpo-matched-agent-b-s3",
                         "grpo-matched-agent-a-s7", "grpo-matched-agent-b-s7"};
    const int depends[] = {-1, -1, -1, 1, 1, 2, 2};
    assert_int_equal(plan.num_cells, 7);
    for (int i = 0; i < 7; i++) {
        assert_string_equal(plan.cells[i].id, ids[i]);
        assert_int_equal(plan.cells[i].depends_on, depends[i]);
    }
    assert_int_equal(plan.cells[0].num_args, 0);
    /* the ILR cell: every agent named and placed, the experiment evaluates (data.test=null), the top-level set */
    const ilr_experiment_cell *ilr = &plan.cells[2];
    assert_true(ilr->multi);
    assert_string_equal(ilr->args[0], fx->ilr_cfg);
    assert_true(has_arg(ilr, "seed=7") && has_arg(ilr, "data.test=null") && has_arg(ilr, "agents.0.name=agent-a") &&
                has_arg(ilr, "agents.1.name=agent-b") && has_arg(ilr, "train.steps=2"));
    assert_false(has_arg(ilr, "agents=[]")); /* the config lists two agents too: their own keys are kept */
    char want[800];
    snprintf(want, sizeof want, "output_dir=%s/cells/ilr-s7", out);
    assert_string_equal(ilr->args[ilr->num_args - 1], want);
    /* a GRPO cell: its agent's model, the method's set after the top-level one, the budget of its ILR cell */
    const ilr_experiment_cell *g = &plan.cells[4];
    assert_false(g->multi);
    assert_int_equal(g->agent, 1);
    snprintf(want, sizeof want, "model=%s", fx->model[1]);
    assert_true(has_arg(g, want));
    snprintf(want, sizeof want, "budget.match=%s/cells/ilr-s3", out);
    assert_true(has_arg(g, want));
    int top = -1, own = -1;
    for (int i = 0; i < g->num_args; i++) {
        if (!strcmp(g->args[i], "train.steps=2")) top = i;
        if (!strcmp(g->args[i], "train.steps=1000")) own = i;
    }
    assert_true(top >= 0 && own > top);
    char model[4200];
    ilr_experiment_cell_model(&c, ilr, 1, model, sizeof model);
    snprintf(want, sizeof want, "%s/cells/ilr-s7/agent-b", out);
    assert_string_equal(model, want);
    ilr_experiment_plan_free(&plan);
    ilr_experiment_free(&c);
    print_message("experiment plan: 2 seeds x (ilr + grpo-matched per agent) + base = 7 cells in order, matched cells "
                  "after their ILR cell, overrides in order\n");
}

static void test_bad_files(void **state) {
    exp_fixture *fx = *state;
    struct {
        const char *text;
        const char *needle[2];
    } cases[] = {
        {"agents: []\nmethods:\n  - {name: g, config: x.yaml}\n", {"agents: none listed", NULL}},
        {"agents:\n  - {model: m}\nmethods: []\n", {"methods: none listed", NULL}},
        {"agents:\n  - {model: m}\nmethods:\n  - {name: g, config: x.yaml}\nseeds: 1 x\n", {"seeds", "not a list"}},
        {"agents:\n  - {model: m}\nmethods:\n  - {name: g, config: x.yaml}\nseeds: 1 1\n", {"1 appears twice", NULL}},
        {"agents:\n  - {model: m}\nmethods:\n  - {name: g, config: x.yaml, match: h}\n", {"match: 'h'", "not a method"}},
        {"agents:\n  - {model: m}\nmethods:\n  - {name: g, config: x.yaml}\n  - {name: g, config: y.yaml}\n",
         {"both named 'g'", NULL}},
        {"agents:\n  - {model: m}\nmethods:\n  - {name: a/b, config: x.yaml}\n", {"'a/b'", "letters, digits"}},
        {"agents:\n  - {model: m}\nmethods:\n  - {name: g, config: x.yaml}\nbaseline: h\n", {"baseline: 'h'", NULL}},
        {"agents:\n  - {model: m}\nmethods:\n  - {name: g, config: x.yaml}\nevals: {}\n", {"bad.yaml:5", "evals"}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[256];
        ilr_test_write_file(path, fx->dir, "bad.yaml", cases[i].text, strlen(cases[i].text));
        ilr_experiment_config c;
        int rc = ilr_experiment_load(&c, path, NULL, 0);
        if (cases[i].needle[1]) ILR_EXPECT_ERROR(rc, ILR_EINVAL, cases[i].needle[0], cases[i].needle[1]);
        else ILR_EXPECT_ERROR(rc, ILR_EINVAL, cases[i].needle[0]);
    }
    /* a bad override in one method's set is refused before anything runs, naming the cell */
    char path[256], out[600];
    snprintf(out, sizeof out, "%s/bad-out", fx->dir);
    write_experiment(path, fx, "bad-set.yaml", out, "set: rollout.num_generation=4\n");
    ilr_experiment_config c;
    assert_int_equal(ilr_experiment_load(&c, path, NULL, 0), 0);
    ilr_experiment_plan plan;
    ILR_EXPECT_ERROR(ilr_experiment_plan_make(&c, &plan), ILR_EINVAL, "method ilr", "rollout.num_generations");
    ilr_experiment_free(&c);
    /* --verbose echoes one cell's console: with jobs > 1 it is a usage error, before anything runs */
    char out_text[4096];
    assert_int_equal(ilr_test_cli(out_text, sizeof out_text, "experiment", path, "--verbose", "--jobs", "2", NULL), 2);
    ilr_test_expect_contains(out_text, "--verbose shows one cell's console at a time");
    /* a GRPO method cannot be a match */
    char text[2048];
    snprintf(text, sizeof text,
             "agents:\n  - {model: %s}\n  - {model: %s}\nmethods:\n  - {name: g, config: %s}\n"
             "  - {name: h, config: %s, match: g}\n",
             fx->model[0], fx->model[1], fx->grpo_cfg, fx->grpo_cfg);
    ilr_test_write_file(path, fx->dir, "bad-match.yaml", text, strlen(text));
    assert_int_equal(ilr_experiment_load(&c, path, NULL, 0), 0);
    ILR_EXPECT_ERROR(ilr_experiment_plan_make(&c, &plan), ILR_EINVAL, "match: g is not an ILR method");
    ilr_experiment_free(&c);
    print_message("experiment: %zu bad files refused by key (file:line for YAML), a bad override named by method, a GRPO "
                  "match refused\n", sizeof cases / sizeof cases[0] + 2);
}

static json_t *load_json(const char *dir, const char *name) {
    char path[2000];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    json_t *j = NULL;
    assert_int_equal(ilr_json_load_file(path, &j), 0);
    return j;
}

/* The evaluation numbers of every cell of experiment.json, "seconds" left out, as one JSON array. */
static json_t *results(const char *out) {
    json_t *e = load_json(out, "experiment.json"), *all = json_array();
    size_t i, j;
    json_t *cell, *m;
    json_array_foreach(json_object_get(e, "cells"), i, cell) {
        json_array_foreach(json_object_get(cell, "models"), j, m) {
            const char *bench;
            json_t *b;
            json_object_foreach(json_object_get(m, "summary"), bench, b) json_object_del(b, "seconds");
            json_array_append(all, json_object_get(m, "summary"));
            json_t *gen = json_object_get(m, "generated_tokens");
            json_array_append_new(all, gen ? json_copy(gen) : json_null());
        }
    }
    json_decref(e);
    return all;
}

static void test_run_resume_and_kill(void **state) {
    exp_fixture *fx = *state;
    const char *bin = getenv("ILR_BIN");
    if (!bin || !ilr_file_exists(bin)) {
        print_message("skipped: ILR_BIN (the ilr binary, set by make test) is not there to run the cells\n");
        skip();
    }
    const char *extra = "set: train.steps=5 train.save_every=1 train.keep_checkpoints=2\n";
    char path_a[256], path_b[256], out_a[600], out_b[600];
    snprintf(out_a, sizeof out_a, "%s/straight", fx->dir);
    snprintf(out_b, sizeof out_b, "%s/killed", fx->dir);
    write_experiment(path_a, fx, "a.yaml", out_a, extra);
    write_experiment(path_b, fx, "b.yaml", out_b, extra);

    /* straight through */
    char *argv_a[] = {"ilr", "experiment", path_a, NULL};
    assert_int_equal(ilr_test_run_to_end(bin, argv_a), 0);
    json_t *e = load_json(out_a, "experiment.json");
    assert_true(json_is_true(json_object_get(e, "complete")));
    assert_int_equal(json_array_size(json_object_get(e, "cells")), 4);
    size_t i;
    json_t *cell;
    json_array_foreach(json_object_get(e, "cells"), i, cell) {
        assert_string_equal(json_string_value(json_object_get(cell, "status")), "done");
        /* each model's summary is its evaluation's */
        size_t j;
        json_t *m;
        json_array_foreach(json_object_get(cell, "models"), j, m) {
            char dir[1400];
            snprintf(dir, sizeof dir, "%s/%s", out_a, json_string_value(json_object_get(m, "eval_dir")));
            json_t *s = load_json(dir, "summary.json");
            assert_true(json_equal(json_object_get(s, "benchmarks"), json_object_get(m, "summary")));
            assert_int_equal(json_integer_value(json_object_get(json_object_get(json_object_get(m, "summary"), fx->test),
                                                                "questions")), 6);
            json_decref(s);
            if (i > 0) assert_true(json_integer_value(json_object_get(m, "generated_tokens")) > 0);
        }
    }
    json_decref(e);
    /* the compute-matched cells trained to the ILR agents' budgets (not to train.steps=1000) */
    json_t *ilr_summary = load_json(out_a, "cells/ilr-s1/train_summary.json");
    json_t *g_summary = load_json(out_a, "cells/grpo-matched-agent-a-s1/train_summary.json");
    long budget = (long)json_integer_value(
        json_object_get(json_object_get(json_object_get(ilr_summary, "agents"), "agent-a"), "generated_tokens"));
    long spent = (long)json_integer_value(json_object_get(g_summary, "generated_tokens"));
    long steps = (long)json_integer_value(json_object_get(g_summary, "steps"));
    assert_true(steps < 1000 && spent >= budget);
    json_decref(ilr_summary);
    json_decref(g_summary);

    /* again: nothing is redone */
    struct stat before, after;
    char cell_json[800];
    snprintf(cell_json, sizeof cell_json, "%s/cells/ilr-s1/cell.json", out_a);
    assert_int_equal(stat(cell_json, &before), 0);
    char text[16384];
    assert_int_equal(ilr_test_cli(text, sizeof text, "experiment", path_a, NULL), 0);
    ilr_test_expect_contains(text, "4 cells, 4 finished before");
    assert_int_equal(stat(cell_json, &after), 0);
    assert_true(before.st_mtim.tv_sec == after.st_mtim.tv_sec && before.st_mtim.tv_nsec == after.st_mtim.tv_nsec);
    /* nor when the experiment's directory is named by another path (its cells recorded output_dir=OUT/...) */
    char moved[700];
    snprintf(moved, sizeof moved, "output_dir=%s/.", out_a);
    assert_int_equal(ilr_test_cli(text, sizeof text, "experiment", path_a, moved, NULL), 0);
    ilr_test_expect_contains(text, "4 cells, 4 finished before");

    /* kill -9 of the experiment after the ILR cell's step-2 checkpoint, then run again */
    char run_b[800];
    snprintf(run_b, sizeof run_b, "%s/cells/ilr-s1", out_b);
    char *argv_b[] = {"ilr", "experiment", path_b, NULL};
    long delay_us;
    ilr_test_kill_after_checkpoint(bin, argv_b, run_b, 2, 200000, &delay_us);
    long at = ilr_test_latest_step(run_b);
    assert_int_equal(ilr_test_run_to_end(bin, argv_b), 0);
    json_t *ra = results(out_a), *rb = results(out_b);
    assert_true(json_equal(ra, rb));
    json_decref(ra);
    json_decref(rb);

    /* a finished cell whose settings changed is refused, naming it */
    assert_int_not_equal(ilr_test_cli(text, sizeof text, "experiment", path_a, "set=train.steps=6", NULL), 0);
    ilr_test_expect_contains(text, "cell ilr-s1 finished with other settings");
    print_message("experiment: 4 cells run and recorded; a second run redid none; killed -9 %.1f ms after the ILR "
                  "cell's step-2 checkpoint (newest: step %ld), run again: every evaluation equals the straight run's\n",
                  delay_us / 1000.0, at);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_plan),
    cmocka_unit_test(test_bad_files),
    cmocka_unit_test(test_run_resume_and_kill),
};

ILR_TEST_GROUP_SETUP(experiment, tests, setup, teardown)
