/* ILR co-learning: Perception Calibration against hand-computed values (m = 2 and 3), the interaction rules,
 * Idea3 prompt assembly (the world's templates; peer text clipped in the Qwen and Llama-3 tokenizers), and
 * `ilr train` with method ilr on two small world agents of different architectures AND tokenizers: every
 * file of the run, every decision of rollouts.jsonl recomputed from it and irt.json (scripts/check_rollouts.py,
 * an outside reader), three agents, exact resume after kill -9, and bad input refused by name with nothing
 * half-written. */
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "ilr/calibration.h"
#include "ilr/error.h"
#include "ilr/idea3.h"
#include "ilr/interaction.h"
#include "ilr/io.h"
#include "ilr/irt.h"
#include "ilr/tokenizer.h"
#include "test_util.h"

/* ---- Perception Calibration ---- */

static void test_calibration_values(void **state) {
    (void)state;
    /* m = 2, G = 4.  A: 1 1 0 0.1 (mean .525, range 1), B: 1 0 0 0 (mean .25, range 1); bound 1.
     * A_0 = 1 + clip((1 - .25) / 1) = 1.75;  A_2 = 0 + (0 - .25) = -.25;  A_3 = .1 + (.1 - .25) = -.05
     * B_0 = 1 + (1 - .525) = 1.475;  B_1 = 0 + (0 - .525) = -.525 */
    const float r2[8] = {1, 1, 0, 0.1f, 1, 0, 0, 0};
    const float want2[8] = {1.75f, 1.75f, -0.25f, -0.05f, 1.475f, -0.525f, -0.525f, -0.525f};
    float out[12];
    ilr_calibration_stats st = {0};
    ilr_calibrate(out, r2, 2, 4, &st);
    double worst = 0;
    for (int k = 0; k < 8; k++) worst = fmax(worst, fabs(out[k] - want2[k]));
    assert_true(worst < 1e-6);
    assert_int_equal(st.terms, 8);
    assert_int_equal(st.clipped, 0);
    /* m = 2, peer all equal (max = min): the term is +-1 by the sign, 0 when equal; counted as clipped */
    const float r_eq[4] = {1, 0.5f, 0.5f, 0.5f};
    ilr_calibration_stats st_eq = {0};
    ilr_calibrate(out, r_eq, 2, 2, &st_eq);
    /* A = (1, .5) vs B = (.5, .5): A_0 = 1 + 1 = 2, A_1 = .5 + 0; B vs A (mean .75, range .5): (.5-.75)/.5 = -.5 */
    assert_float_equal(out[0], 2.0f, 1e-6);
    assert_float_equal(out[1], 0.5f, 1e-6);
    assert_float_equal(out[2], 0.0f, 1e-6);
    assert_float_equal(out[3], 0.0f, 1e-6);
    assert_int_equal(st_eq.clipped, 1);
    /* peers all at the format-only reward 0.1 and x = 0.1 too: the term is 0 exactly, not +-1 (a mean taken as a
     * rounded sum of 0.1s can land a hair off 0.1; a demo run showed check_rollouts.py doing so) */
    const float tenths[8] = {0.1f, 0.1f, 0.1f, 0.1f, 0.1f, 0.1f, 0.1f, 0.1f};
    int tenths_clipped = -1;
    assert_true(ilr_calibration_term(0.1f, tenths, 8, 1.0, &tenths_clipped) == 0.0);
    assert_int_equal(tenths_clipped, 0);
    /* m = 3, G = 2, bound 1/2.  A: 1 0, B: 1 1 (range 0), C: 0.5 0 (mean .25, range .5).
     * A_0 = 1 + (+1/2: above B's mean 1? no, equal: 0) + clip((1 - .25) / .5 = 1.5 -> .5) = 1.5
     * A_1 = 0 + (-1/2) + clip(-.25 / .5 = -.5) = -1
     * B_k = 1 + clip((1 - .5) / 1 = .5) + clip(.75 / .5 -> .5) = 2
     * C_0 = .5 + clip((.5 - .5) / 1 = 0) + (-1/2) = 0;  C_1 = 0 + clip(-.5) + (-1/2) = -1 */
    const float r3[6] = {1, 0, 1, 1, 0.5f, 0};
    const float want3[6] = {1.5f, -1.0f, 2.0f, 2.0f, 0.0f, -1.0f};
    ilr_calibration_stats st3 = {0};
    ilr_calibrate(out, r3, 3, 2, &st3);
    for (int k = 0; k < 6; k++) worst = fmax(worst, fabs(out[k] - want3[k]));
    assert_true(worst < 1e-6);
    assert_int_equal(st3.terms, 12);
    print_message("calibration (Eq. 5): m = 2 (spread and equal peers) and m = 3 equal the hand-computed values "
                  "(max abs err %.1e); clipped terms %ld/8, %ld/4, %ld/12\n", worst, st.clipped, st_eq.clipped, st3.clipped);
}

/* ---- Dynamic Interaction ---- */

static void test_interaction_rules(void **state) {
    (void)state;
    ilr_rng rng;
    ilr_rng_init(&rng, 1, 2);
    const double mixed[2] = {0.3, 0.8}, low[2] = {0.2, 0.4}, high[2] = {0.6, 0.9}, edge[2] = {0.5, 0.5};
    ilr_interaction mean = {ILR_MODE_DYNAMIC, ILR_RULE_MEAN, 0}, any = {ILR_MODE_DYNAMIC, ILR_RULE_ANY, 0},
                    all = {ILR_MODE_DYNAMIC, ILR_RULE_ALL, 0};
    assert_int_equal(ilr_interaction_decide(&mean, mixed, 2, &rng), ILR_COMPETE);   /* mean .55 */
    assert_int_equal(ilr_interaction_decide(&any, mixed, 2, &rng), ILR_COOPERATE);  /* .3 < .5 */
    assert_int_equal(ilr_interaction_decide(&all, mixed, 2, &rng), ILR_COMPETE);
    assert_int_equal(ilr_interaction_decide(&all, low, 2, &rng), ILR_COOPERATE);
    assert_int_equal(ilr_interaction_decide(&mean, low, 2, &rng), ILR_COOPERATE);
    assert_int_equal(ilr_interaction_decide(&any, high, 2, &rng), ILR_COMPETE);
    assert_int_equal(ilr_interaction_decide(&mean, edge, 2, &rng), ILR_COMPETE); /* P >= 0.5 competes (the paper) */
    ilr_interaction coop = {ILR_MODE_COOP, 0, 0}, comp = {ILR_MODE_COMP, 0, 0}, rnd = {ILR_MODE_RANDOM, 0, 0.3};
    assert_int_equal(ilr_interaction_decide(&coop, high, 2, &rng), ILR_COOPERATE);
    assert_int_equal(ilr_interaction_decide(&comp, low, 2, &rng), ILR_COMPETE);
    int n = 20000, c = 0;
    for (int k = 0; k < n; k++) c += ilr_interaction_decide(&rnd, mixed, 2, &rng) == ILR_COOPERATE;
    double share = (double)c / n, se = sqrt(0.3 * 0.7 / n);
    assert_true(fabs(share - 0.3) < 4 * se);
    /* P itself: 1 / (1 + exp(-1.7 (gamma - D))) */
    assert_float_equal(ilr_irt_probability(1.0, 1.0), 0.5, 1e-12);
    assert_float_equal(ilr_irt_probability(1.0, 0.0), 1 / (1 + exp(-1.7)), 1e-12);
    print_message("interaction: mean/any/all on (.3,.8), (.2,.4), (.6,.9), (.5,.5) as specified; random:0.3 cooperates "
                  "on %.4f of %d questions (4 se = %.4f)\n", share, n, 4 * se);
}

/* ---- Idea3 prompts ---- */

static void test_idea3_prompts_world(void **state) {
    (void)state;
    ilr_idea3_prompts p;
    assert_int_equal(ilr_idea3_prompts_load(&p, "prompts/world", 1), 0);
    char *a = NULL, *f = NULL;
    assert_int_equal(ilr_idea3_analyse_prompt(&p, ILR_COMPETE, "Compute 2+3.", "2+3\n=6\n\\boxed{6}", &a), 0);
    assert_string_equal(a, "Compute 2+3.\nYour rival's solution:\n2+3\n=6\n\\boxed{6}\nCheck each step to beat your rival.\n");
    const char *peers[2] = {"P1", "P2"}, *reviews[2] = {"R1", "R2"};
    assert_int_equal(ilr_idea3_fuse_prompt(&p, ILR_COOPERATE, "Q", "OWN", peers, reviews, 2, &f), 0);
    assert_string_equal(f, "Q\nYour solution:\nOWN\nYour partner's solution:\nP1\n\nP2\nReview of yours:\nR1\nR2\n"
                           "Final solution, building on your partner:\n");
    free(a);
    free(f);
    ilr_idea3_prompts_free(&p);
    ILR_EXPECT_ERROR(ilr_idea3_prompts_load(&p, "prompts/nowhere", 0), ILR_ENOTFOUND, "prompts/nowhere", "ilr.prompts");
    print_message("idea3: the world's analyse and fuse prompts assemble exactly (two peers, one critique each); a "
                  "missing template folder is named\n");
}

/* A peer's text is cut in the READER's tokens: the same text, clipped for a Qwen and a Llama-3 reader. */
static void test_idea3_two_tokenizers(void **state) {
    (void)state;
    const char *shared = ilr_test_shared_data();
    char qpath[512], lpath[512];
    if (!shared) {
        print_message("skipped: ../shared/data (the Qwen and Llama-3 tokenizers) is not there\n");
        skip();
    }
    snprintf(qpath, sizeof qpath, "%s/tokenizers/qwen3", shared);
    snprintf(lpath, sizeof lpath, "%s/tokenizers/llama3", shared);
    ilr_tokenizer *tq = NULL, *tl = NULL;
    if (ilr_tok_load(&tq, qpath) || ilr_tok_load(&tl, lpath)) {
        print_message("skipped: %s or %s does not load (%s)\n", qpath, lpath, ilr_last_error());
        ilr_tok_free(tq);
        skip();
    }
    char text[4096] = "";
    for (int i = 0; i < 60; i++) snprintf(text + strlen(text), sizeof text - strlen(text), "Step %d: x_%d = %d. ", i, i, i * 7);
    strcat(text, "So the answer is \\boxed{413}.");
    ilr_idea3_prompts p;
    assert_int_equal(ilr_idea3_prompts_load(&p, "prompts/idea3/math", 0), 0);
    ilr_tokenizer *toks[2] = {tq, tl};
    int counts[2];
    for (int t = 0; t < 2; t++) {
        char *clipped = NULL, *prompt = NULL;
        int was;
        assert_int_equal(ilr_idea3_clip(toks[t], text, 40, &clipped, &was), 0);
        assert_true(was);
        assert_non_null(strstr(clipped, "\\boxed{413}."));    /* the end, with the answer, is kept */
        assert_int_equal(strncmp(clipped, "[...] ", 6), 0);
        ilr_tok_ids ids = {0};
        assert_int_equal(ilr_tok_encode(toks[t], clipped + 6, strlen(clipped + 6), 0, &ids), 0);
        counts[t] = ids.count;
        assert_true(ids.count >= 38 && ids.count <= 42); /* 40 of the reader's tokens (re-encoding may merge at the cut) */
        ilr_tok_ids_free(&ids);
        /* the assembled prompt is text: each reader encodes it with its own tokenizer and decodes it back */
        assert_int_equal(ilr_idea3_analyse_prompt(&p, ILR_COOPERATE, "What is 59 * 7?", clipped, &prompt), 0);
        assert_int_equal(ilr_tok_encode(toks[t], prompt, strlen(prompt), 0, &ids), 0);
        char *back = NULL;
        size_t len;
        assert_int_equal(ilr_tok_decode(toks[t], ids.ids, ids.count, ILR_TOK_NO_CLEANUP, &back, &len), 0);
        assert_string_equal(back, prompt);
        free(back);
        ilr_tok_ids_free(&ids);
        char *whole = NULL;
        assert_int_equal(ilr_idea3_clip(toks[t], "short", 40, &whole, &was), 0);
        assert_false(was);
        assert_string_equal(whole, "short");
        free(whole);
        free(clipped);
        free(prompt);
    }
    print_message("idea3 with two tokenizers: a 60-step peer solution cut to its last 40 tokens for a Qwen reader "
                  "(%d on re-encoding) and a Llama-3 reader (%d), the answer kept; prompts round-trip as text\n",
                  counts[0], counts[1]);
    ilr_idea3_prompts_free(&p);
    ilr_tok_free(tq);
    ilr_tok_free(tl);
}

/* ---- co-learning runs on two small world agents ----
 * Built once for the group: world Idea3 SFT data, two BPE tokenizers of different sizes (300 and 400 pieces),
 * agent a (Qwen2, world-a shape) and agent b (Llama, world-b shape) each given a short SFT from scratch, enough
 * that their answers are sometimes well-formed and sometimes right, so rewards vary and weights move. */

#if defined(__SANITIZE_ADDRESS__)
#define SFT_STEPS "60" /* the sanitizer build is several times slower */
#else
#define SFT_STEPS "150"
#endif

typedef struct {
    char dir[256], agent[3][512], train[512], calib[512], eval[512];
} world_fixture;

static void must_run(const char *what, char **argv, int argc) {
    char out[16384];
    int status = ilr_test_run_cli(out, sizeof out, argc, argv);
    if (status) printf("%s failed:\n%s\n", what, out);
    assert_int_equal(status, 0);
}

static void build_agent(world_fixture *fx, int k, const char *shape, const char *tok, const char *sft) {
    char init[600], dir[512];
    snprintf(init, sizeof init, "%s/init-%d", fx->dir, k);
    snprintf(dir, sizeof dir, "%s/agent-%c", fx->dir, 'a' + k);
    memcpy(fx->agent[k], dir, sizeof dir);
    char *init_argv[] = {"ilr", "init", "--shape", (char *)shape, "--tokenizer", (char *)tok, "--seed", "3", "-o", init};
    must_run("init", init_argv, 10);
    char *sft_argv[] = {"ilr", "sft", "--model", init, "--data", (char *)sft, "-o", fx->agent[k], "--steps", SFT_STEPS,
                        "--lr", "3e-3", "--batch", "8", "--seq", "256", "--warmup", "10", "--seed", "1", "--quiet"};
    must_run("sft", sft_argv, 20);
    ilr_test_rmtree(init);
}

static int world_setup(void **state) {
    world_fixture *fx = calloc(1, sizeof *fx);
    ilr_test_tmpdir(fx->dir, "colearn");
    char sft[600], tok[2][600];
    snprintf(sft, sizeof sft, "%s/sft.jsonl", fx->dir);
    snprintf(fx->train, sizeof fx->train, "%s/train.jsonl", fx->dir);
    snprintf(fx->calib, sizeof fx->calib, "%s/calib.jsonl", fx->dir);
    snprintf(fx->eval, sizeof fx->eval, "%s/eval.jsonl", fx->dir);
    char *gen_sft[] = {"ilr", "world", "gen", "--kind", "idea3", "--split", "sft", "--n", "6000", "--levels", "1-2",
                       "--flawed", "30", "--seed", "3", "-o", sft};
    must_run("world gen", gen_sft, 17);
    struct { char *split, *n, *path; } sets[3] = {{"train", "300", fx->train}, {"calib", "40", fx->calib}, {"val", "24", fx->eval}};
    for (int s = 0; s < 3; s++) {
        char *gen[] = {"ilr", "world", "gen", "--split", sets[s].split, "--n", sets[s].n, "--levels", "1-2", "--seed", "3",
                       "-o", sets[s].path};
        must_run("world gen", gen, 13);
    }
    const char *vocab[2] = {"300", "400"};
    for (int t = 0; t < 2; t++) {
        snprintf(tok[t], sizeof tok[t], "%s/tok-%d", fx->dir, t);
        char *tok_argv[] = {"ilr", "tokenizer", "train", "--vocab-size", (char *)vocab[t], "--special", "<|endoftext|>",
                            "--jsonl", "prompt,response", "--out", tok[t], sft};
        must_run("tokenizer train", tok_argv, 12);
    }
    build_agent(fx, 0, "world-a", tok[0], sft);
    build_agent(fx, 1, "world-b", tok[1], sft);
    build_agent(fx, 2, "world-a", tok[1], sft);
    *state = fx;
    return 0;
}

static int world_teardown(void **state) {
    world_fixture *fx = *state;
    ilr_test_rmtree(fx->dir);
    free(fx);
    return 0;
}

/* A two- (or three-) agent ILR config for the fixture; extra YAML lines appended. */
static void write_ilr_config(char *path, const world_fixture *fx, const char *name, const char *run, int m, const char *extra) {
    char text[8192];
    int n = snprintf(text, sizeof text, "method: ilr\noutput_dir: %s\nseed: 5\nagents:\n", run);
    for (int k = 0; k < m; k++)
        n += snprintf(text + n, sizeof text - (size_t)n, "  - model: %s\n%s", fx->agent[k],
                      k == 1 ? "    optim: {lr: 5.0e-4}\n" : "");
    snprintf(text + n, sizeof text - (size_t)n,
             "data: {train: %s, task: world-arith}\n"
             "irt: {data: %s, samples: 2}\n"
             "rollout: {prompts_per_step: 4, num_generations: 4, max_new_tokens: 48}\n"
             "reward: {format_weight: 0.1}\n"
             "ilr: {max_peer_tokens: 64, max_prompt_tokens: 320}\n"
             "optim: {lr: 1.0e-3, micro_batch: 16}\n"
             "train: {quiet: true}\n%s",
             fx->train, fx->calib, extra);
    ilr_test_write_file(path, fx->dir, name, text, strlen(text));
}

static json_t *last_step_line(const char *run, int *steps) {
    char path[700], line[65536];
    snprintf(path, sizeof path, "%s/train_log.jsonl", run);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    json_t *last = NULL;
    *steps = 0;
    while (fgets(line, sizeof line, f)) {
        json_t *j = json_loads(line, 0, NULL);
        assert_non_null(j);
        if (json_object_get(j, "coop_share")) {
            (*steps)++;
            assert_int_equal(json_integer_value(json_object_get(j, "step")), *steps);
            json_decref(last);
            last = j;
        } else {
            json_decref(j);
        }
    }
    fclose(f);
    return last;
}

static void test_ilr_smoke_run(void **state) {
    world_fixture *fx = *state;
    char cfg[256], run[600], out[32768], path[800];
    snprintf(run, sizeof run, "%s/run", fx->dir);
    char extra[1024];
    snprintf(extra, sizeof extra, "train.steps: 4\ntrain.save_every: 2\ntrain.save_rollouts: true\ndata.eval: %s\n"
             "data.eval_max: 12\nilr.train_stages: all\n", fx->eval);
    write_ilr_config(cfg, fx, "smoke.yaml", run, 2, extra);
    char *argv[] = {"ilr", "train", cfg};
    int status = ilr_test_run_cli(out, sizeof out, 3, argv);
    if (status) printf("%s\n", out);
    assert_int_equal(status, 0);
    int steps;
    json_t *last = last_step_line(run, &steps);
    assert_int_equal(steps, 4);
    const char *keys[] = {"coop_share", "calibration/mean_abs_shift", "calibration/clipped_share", "agent-a/p",
                          "agent-a/share/accuracy", "agent-a/fuse/accuracy", "agent-a/analyse/accuracy",
                          "agent-b/calibrated_reward", "agent-b/loss", "agent-b/grad_norm", "agent-b/entropy",
                          "agent-b/clip_ratio/region_mean", "agent-a/generated_tokens", "agent-b/trained_tokens_total",
                          "agent-a/learning_rate", "time/share", "time/analyse", "time/fuse", "time/training"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        if (!json_object_get(last, keys[i])) printf("missing metric %s\n", keys[i]);
        assert_non_null(json_object_get(last, keys[i]));
    }
    /* per-agent optimizer settings: b's own lr, a's the top-level one (constant schedule? linear: both decay alike) */
    double lr_a = json_number_value(json_object_get(last, "agent-a/learning_rate"));
    double lr_b = json_number_value(json_object_get(last, "agent-b/learning_rate"));
    assert_float_equal(lr_b / lr_a, 0.5, 1e-5);
    json_decref(last);
    const char *files[] = {"config.yaml", "irt.json", "responses.jsonl", "difficulty.json", "rollouts.jsonl", "latest",
                           "checkpoint-000004/agent-a/model.safetensors", "checkpoint-000004/agent-b/optimizer.safetensors",
                           "checkpoint-000004/trainer_state.json", "agent-a/model.safetensors", "agent-b/tokenizer.json",
                           "train_summary.json", "curve.svg"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", run, files[i]);
        if (!ilr_file_exists(path)) printf("missing %s\n", path);
        assert_true(ilr_file_exists(path));
    }
    /* the agents read with their own tokenizers, which the final models keep */
    int vocab[2];
    for (int k = 0; k < 2; k++) {
        ilr_tokenizer *t = NULL;
        snprintf(path, sizeof path, "%s/agent-%c", run, 'a' + k);
        assert_int_equal(ilr_tok_load(&t, path), 0);
        vocab[k] = ilr_tok_vocab_size(t);
        ilr_tok_free(t);
    }
    assert_true(vocab[0] == 300 && vocab[1] > vocab[0]);
    /* an outside reader recomputes every stance, calibrated reward and advantage from the run's files */
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "python3 scripts/check_rollouts.py %s > %s/check.txt 2>&1", run, fx->dir);
    int check = system(cmd);
    char *report = NULL;
    size_t n = 0;
    snprintf(path, sizeof path, "%s/check.txt", fx->dir);
    ilr_file_read_all(path, &report, &n);
    if (check) printf("check_rollouts.py:\n%s\n", report ? report : "");
    assert_int_equal(check, 0);
    print_message("ilr smoke (agents qwen2 with a %d-piece and llama with a %d-piece tokenizer, 4 steps x 4 questions x 4 "
                  "threads, all stages trained): every file and metric; %s", vocab[0], vocab[1], report ? report : "\n");
    free(report);
}

/* Three agents: the discussion, calibration (bound 1/2) and records hold for m = 3. */
static void test_ilr_three_agents(void **state) {
    world_fixture *fx = *state;
    char cfg[256], run[600], out[32768];
    snprintf(run, sizeof run, "%s/run3", fx->dir);
    write_ilr_config(cfg, fx, "three.yaml", run, 3, "train.steps: 2\ntrain.save_rollouts: true\n");
    char *argv[] = {"ilr", "train", cfg, "agents.2.name=third", "ilr.interaction=random", "rollout.prompts_per_step=2"};
    int status = ilr_test_run_cli(out, sizeof out, 6, argv);
    if (status) printf("%s\n", out);
    assert_int_equal(status, 0);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "python3 scripts/check_rollouts.py %s > /dev/null", run);
    assert_int_equal(system(cmd), 0);
    int steps;
    json_t *last = last_step_line(run, &steps);
    assert_non_null(json_object_get(last, "third/fuse/accuracy"));
    json_decref(last);
    print_message("ilr with 3 agents (a, b, third): 2 steps; critiques of each of 2 peers, calibration and advantages "
                  "recomputed by check_rollouts.py\n");
}

/* ---- exact resume after kill -9 ---- */

/* Weights of agent NAME's final model in run that differ from the other run's, and that moved from start. */
static void compare_agent(const char *run_a, const char *run_b, const char *name, const char *start, size_t *differ,
                          size_t *moved, size_t *total) {
    char pa[700], pb[700];
    snprintf(pa, sizeof pa, "%s/%s", run_a, name);
    snprintf(pb, sizeof pb, "%s/%s", run_b, name);
    size_t d, m, n;
    ilr_test_weights_compare(pa, pb, start, &d, &m, &n);
    *differ += d, *moved += m, *total += n;
}

/* Max |diff| of both agents' final weights in run against ref; *differ counts the weights that differ at all. */
static double agents_differ(const world_fixture *fx, const char *run, const char *ref, size_t *differ) {
    double worst = 0;
    size_t moved = 0, total = 0;
    *differ = 0;
    for (int i = 0; i < 2; i++) {
        char pa[700], pb[700];
        size_t d, m, t;
        snprintf(pa, sizeof pa, "%s/agent-%c", run, 'a' + i);
        snprintf(pb, sizeof pb, "%s/agent-%c", ref, 'a' + i);
        double w = ilr_test_weights_compare(pa, pb, fx->agent[i], &d, &m, &t);
        worst = w > worst ? w : worst;
        *differ += d, moved += m, total += t;
    }
    assert_true(moved > total / 2); /* training moved them: equal weights say something */
    return worst;
}

/* Whether two runs' file name (a path inside the run) is the same bytes; *bytes the reference's length. */
static int same_file(const char *run, const char *ref, const char *name, size_t *bytes) {
    char *a = NULL, *b = NULL, path[800];
    size_t la = 0, lb = 0;
    snprintf(path, sizeof path, "%s/%s", run, name);
    assert_int_equal(ilr_file_read_all(path, &a, &la), 0);
    snprintf(path, sizeof path, "%s/%s", ref, name);
    assert_int_equal(ilr_file_read_all(path, &b, &lb), 0);
    int same = la == lb && !memcmp(a, b, la);
    *bytes = lb;
    free(a), free(b);
    return same;
}

/* Whether two runs' rollouts.jsonl are the same bytes; *bytes the reference's length. */
static int same_rollouts(const char *run, const char *ref, size_t *bytes) { return same_file(run, ref, "rollouts.jsonl", bytes); }

/* Whether two runs' step-2 checkpoints hold both agents' weights and AdamW moments in the same bytes (a ZeRO-1
 * run's moments gathered from the ranks' shares against an unsharded run's); *bytes: the optimizer files' sizes. */
static int same_checkpoints(const char *run, const char *ref, size_t *bytes) {
    int same = 1;
    *bytes = 0;
    for (int i = 0; i < 2; i++) {
        char name[100];
        size_t b;
        snprintf(name, sizeof name, "checkpoint-000002/agent-%c/optimizer.safetensors", 'a' + i);
        same &= same_file(run, ref, name, &b);
        *bytes += b;
        snprintf(name, sizeof name, "checkpoint-000002/agent-%c/model.safetensors", 'a' + i);
        same &= same_file(run, ref, name, &b);
    }
    return same;
}

/* ILR (m = 2) data-parallel under mpirun (make MPI=1 test): 2 and 4 ranks against one process; with train.zero1
 * over 2 ranks, the 2-rank run's weights and step-2 checkpoint bit for bit. */
static void test_ilr_ranks_match_one_process(void **state) {
    world_fixture *fx = *state;
    const char *bin;
    if (!ilr_test_mpi_ready(&bin)) skip();
    char cfg[256], run1[600], out2[700], out4[700], run2[600], run4[600];
    snprintf(run1, sizeof run1, "%s/mpi-one", fx->dir);
    snprintf(run2, sizeof run2, "%s/mpi-two", fx->dir);
    snprintf(run4, sizeof run4, "%s/mpi-four", fx->dir);
    snprintf(out2, sizeof out2, "output_dir=%s", run2);
    snprintf(out4, sizeof out4, "output_dir=%s", run4);
    write_ilr_config(cfg, fx, "mpi.yaml", run1, 2,
                     "train.steps: 4\ntrain.save_rollouts: true\nilr.interaction: random\nirt.refit_every: 2\n");
    char run2z[600], out2z[700];
    snprintf(run2z, sizeof run2z, "%s/mpi-two-zero1", fx->dir);
    snprintf(out2z, sizeof out2z, "output_dir=%s", run2z);
    char *one[] = {"ilr", "train", cfg, NULL}, *args2[] = {"train", cfg, out2, "train.save_every=2", NULL};
    char *args4[] = {"train", cfg, out4, NULL}, *args2z[] = {"train", cfg, out2z, "train.save_every=2", "train.zero1=true", NULL};
    assert_int_equal(ilr_test_run_to_end(bin, one), 0);
    assert_int_equal(ilr_test_mpirun(2, bin, args2), 0);
    assert_int_equal(ilr_test_mpirun(4, bin, args4), 0);
    assert_int_equal(ilr_test_mpirun(2, bin, args2z), 0);
    size_t differ_z, ckpt_bytes, rollout_bytes;
    agents_differ(fx, run2z, run2, &differ_z);
    int same_ckpt = same_checkpoints(run2z, run2, &ckpt_bytes), same_records = same_rollouts(run2z, run2, &rollout_bytes);
    double worst[2] = {0, 0};
    size_t differ = 0, moved = 0, total = 0;
    for (int n = 0; n < 2; n++)
        for (int i = 0; i < 2; i++) {
            char pa[700], pb[700];
            size_t d, m, t;
            snprintf(pa, sizeof pa, "%s/agent-%c", n ? run4 : run2, 'a' + i);
            snprintf(pb, sizeof pb, "%s/agent-%c", run1, 'a' + i);
            double w = ilr_test_weights_compare(pa, pb, fx->agent[i], &d, &m, &t);
            worst[n] = w > worst[n] ? w : worst[n];
            differ += d, moved += m, total += t;
        }
    assert_true(moved > total / 2);
    assert_true(worst[0] < 5e-4 && worst[1] < 5e-4); /* float rounding lifted by AdamW (lr 1e-3), as for GRPO */
    /* the ranks discussed what one process discussed: every record of every stage (texts, rewards, calibrated
     * rewards, advantages) is the same */
    char *t1 = NULL, *tn = NULL, path[700];
    size_t l1 = 0, ln = 0;
    snprintf(path, sizeof path, "%s/rollouts.jsonl", run1);
    assert_int_equal(ilr_file_read_all(path, &t1, &l1), 0);
    for (int n = 0; n < 2; n++) {
        snprintf(path, sizeof path, "%s/rollouts.jsonl", n ? run4 : run2);
        assert_int_equal(ilr_file_read_all(path, &tn, &ln), 0);
        assert_int_equal(ln, l1);
        assert_memory_equal(tn, t1, l1);
        free(tn);
    }
    free(t1);
    print_message("ilr over ranks: 4 steps, m = 2, 4 questions x 4 threads; rollouts.jsonl (%zu bytes) the same from 1, 2 "
                  "and 4 processes; final weights against one process: 2 ranks max |diff| %.3g, 4 ranks %.3g (tolerance "
                  "5e-4; %zu of %zu differ in all)\n", l1, worst[0], worst[1], differ, total);
    print_message("ilr over ranks, train.zero1 over 2 ranks: %zu weights differ from the 2-rank run without it; its "
                  "step-2 checkpoint (optimizer files %zu bytes) %s, rollouts.jsonl %s\n", differ_z, ckpt_bytes,
                  same_ckpt ? "the same bytes" : "DIFFERENT", same_records ? "the same" : "DIFFERENT");
    assert_int_equal(differ_z, 0);
    assert_true(same_ckpt);
    assert_true(same_records);
    ilr_test_mpi_end();
}

/* agents[i].ranks that cannot be laid out are errors naming the key (here one process: the job has 1 rank). */
static void test_ilr_agent_ranks_layout_errors(void **state) {
    world_fixture *fx = *state;
    char cfg[256], run[600], out[32768];
    snprintf(run, sizeof run, "%s/layout", fx->dir);
    write_ilr_config(cfg, fx, "layout.yaml", run, 2, "train.steps: 1\n");
    char *too_many[] = {"ilr", "train", cfg, "agents.0.ranks=1", "agents.1.ranks=1"};
    assert_int_not_equal(ilr_test_run_cli(out, sizeof out, 5, too_many), 0);
    ilr_test_expect_contains(out, "agents[].ranks add up to 2 ranks (agent-a 1, agent-b 1), but the job has 1");
    char *mixed[] = {"ilr", "train", cfg, "agents.0.ranks=2"};
    assert_int_not_equal(ilr_test_run_cli(out, sizeof out, 4, mixed), 0);
    ilr_test_expect_contains(out, "agents[0].ranks is 2 and agents[1].ranks is 0");
    char *negative[] = {"ilr", "train", cfg, "agents.0.ranks=-1", "agents.1.ranks=1"};
    assert_int_not_equal(ilr_test_run_cli(out, sizeof out, 5, negative), 0);
    ilr_test_expect_contains(out, "agents.0.ranks");
    assert_false(ilr_file_exists(run)); /* refused before anything was written */
    print_message("agents[].ranks: a layout over more ranks than the job's, one agent without ranks, and a negative "
                  "count are refused, naming the key\n");
}

/* Agent-parallel ILR (m = 2) under mpirun: one rank per agent is the one-process run bit for bit (each agent's
 * generation and update run whole on its rank, as in one process); two ranks per agent are data-parallel within
 * each agent, to rounding; a layout that does not add up to the job ends it. */
static void test_ilr_agent_parallel_matches_one_process(void **state) {
    world_fixture *fx = *state;
    const char *bin;
    if (!ilr_test_mpi_ready(&bin)) skip();
    char cfg[256], run1[600], run2[600], run4[600], run3[600], out2[700], out4[700], out3[700];
    snprintf(run1, sizeof run1, "%s/ap-one", fx->dir);
    snprintf(run2, sizeof run2, "%s/ap-two", fx->dir);
    snprintf(run4, sizeof run4, "%s/ap-four", fx->dir);
    snprintf(run3, sizeof run3, "%s/ap-three", fx->dir);
    snprintf(out2, sizeof out2, "output_dir=%s", run2);
    snprintf(out4, sizeof out4, "output_dir=%s", run4);
    snprintf(out3, sizeof out3, "output_dir=%s", run3);
    write_ilr_config(cfg, fx, "ap.yaml", run1, 2,
                     "train.steps: 4\ntrain.save_rollouts: true\nilr.interaction: random\nirt.refit_every: 2\n");
    char *one[] = {"ilr", "train", cfg, NULL};
    char *args2[] = {"train", cfg, out2, "agents.0.ranks=1", "agents.1.ranks=1", NULL};
    char *args4[] = {"train", cfg, out4, "agents.0.ranks=2", "agents.1.ranks=2", "train.save_every=2", NULL};
    char *args3[] = {"train", cfg, out3, "agents.0.ranks=1", "agents.1.ranks=1", NULL};
    char run4z[600], out4z[700];
    snprintf(run4z, sizeof run4z, "%s/ap-four-zero1", fx->dir);
    snprintf(out4z, sizeof out4z, "output_dir=%s", run4z);
    char *args4z[] = {"train", cfg, out4z, "agents.0.ranks=2", "agents.1.ranks=2", "train.save_every=2",
                      "train.zero1=true", NULL};
    assert_int_equal(ilr_test_run_to_end(bin, one), 0);
    assert_int_equal(ilr_test_mpirun(2, bin, args2), 0);
    assert_int_equal(ilr_test_mpirun(4, bin, args4), 0);
    assert_int_not_equal(ilr_test_mpirun(3, bin, args3), 0); /* 1 + 1 ranks in a job of 3 */
    assert_int_equal(ilr_test_mpirun(4, bin, args4z), 0);
    size_t differ_z, ckpt_bytes;
    agents_differ(fx, run4z, run4, &differ_z);
    int same_ckpt = same_checkpoints(run4z, run4, &ckpt_bytes);
    size_t differ2, differ4, bytes;
    double worst2 = agents_differ(fx, run2, run1, &differ2), worst4 = agents_differ(fx, run4, run1, &differ4);
    printf("agent-parallel: 1 rank per agent max |diff| %.3g (%zu differ), 2 ranks per agent %.3g (%zu differ)\n", worst2,
           differ2, worst4, differ4);
    assert_int_equal(differ2, 0);
    assert_true(worst4 < 5e-4); /* float rounding of the in-group gradient sum lifted by AdamW, as data-parallel */
    assert_true(same_rollouts(run2, run1, &bytes));
    assert_true(same_rollouts(run4, run1, &bytes));
    char path[700];
    snprintf(path, sizeof path, "%s/responses.jsonl", run2);
    assert_true(ilr_file_exists(path));
    print_message("ilr agent-parallel: 4 steps, m = 2, IRT refit every 2 steps; 1 rank per agent: the one-process "
                  "weights bit for bit; 2 ranks per agent: max |diff| %.3g (tolerance 5e-4); rollouts.jsonl (%zu bytes) "
                  "the same in both; 1 + 1 ranks in a job of 3 refused\n", worst4, bytes);
    /* ZeRO-1 within each agent's 2 ranks: agent-b's moments gather to its leader, job rank 2 */
    print_message("ilr agent-parallel, train.zero1 with 2 ranks per agent: %zu weights differ from the same layout "
                  "without it; its step-2 checkpoint (optimizer files %zu bytes) %s\n", differ_z, ckpt_bytes,
                  same_ckpt ? "the same bytes" : "DIFFERENT");
    assert_int_equal(differ_z, 0);
    assert_true(same_ckpt);
    ilr_test_mpi_end();
}

/* Agent-parallel: kill -9 of agent-b's rank after a checkpoint ends the job within seconds, and a resume over the
 * same layout ends on the uninterrupted run's weights (= the one process's) and records, bit for bit. */
static void test_ilr_agent_parallel_kill_then_resume(void **state) {
    world_fixture *fx = *state;
    const char *bin;
    if (!ilr_test_mpi_ready(&bin)) skip();
    char cfg[256], run1[600], runk[600], outk[700];
    snprintf(run1, sizeof run1, "%s/apk-one", fx->dir);
    snprintf(runk, sizeof runk, "%s/apk-killed", fx->dir);
    snprintf(outk, sizeof outk, "output_dir=%s", runk);
    write_ilr_config(cfg, fx, "apk.yaml", run1, 2,
                     "train.steps: 8\ntrain.save_rollouts: true\ntrain.save_every: 1\ntrain.keep_checkpoints: 2\n"
                     "ilr.interaction: random\n");
    char *one[] = {"ilr", "train", cfg, NULL};
    assert_int_equal(ilr_test_run_to_end(bin, one), 0);
    char *args[] = {"train", cfg, outk, "agents.0.ranks=1", "agents.1.ranks=1", NULL};
    pid_t victim;
    double ended = ilr_test_mpirun_kill_one(bin, args, runk, 3, &victim);
    assert_true(ended < 10);
    long at = ilr_test_latest_step(runk);
    assert_true(at >= 3 && at < 8);
    char *resume[] = {"train", "--resume", runk, NULL}; /* the run's config.yaml keeps the layout */
    assert_int_equal(ilr_test_mpirun(2, bin, resume), 0);
    size_t differ, bytes;
    double worst = agents_differ(fx, runk, run1, &differ);
    assert_int_equal(differ, 0);
    assert_true(same_rollouts(runk, run1, &bytes));
    print_message("ilr agent-parallel kill: rank pid %d killed -9 after the step-%ld checkpoint, the job ended in %.2f s; "
                  "resumed over the same layout to step 8: max |diff| %.3g against one process, rollouts.jsonl (%zu "
                  "bytes) the same\n", (int)victim, at, ended, worst, bytes);
    ilr_test_mpi_end();
}

static void test_ilr_resume_after_kill_is_exact(void **state) {
    world_fixture *fx = *state;
    const char *bin = getenv("ILR_BIN");
    if (!bin || !ilr_file_exists(bin)) {
        print_message("skipped: ILR_BIN (the ilr binary, set by make test) is not there to run and kill\n");
        skip();
    }
    char cfg_a[256], cfg_b[256], run_a[600], run_b[600];
    snprintf(run_a, sizeof run_a, "%s/straight", fx->dir);
    snprintf(run_b, sizeof run_b, "%s/killed", fx->dir);
    const char *common = "train.steps: 8\ntrain.save_rollouts: true\nilr.interaction: random\n"
                         "grpo.num_iterations: 2\ngrpo.beta: 0.02\nirt.refit_every: 3\n";
    char extra_b[512];
    snprintf(extra_b, sizeof extra_b, "%strain.save_every: 1\ntrain.keep_checkpoints: 3\n", common);
    write_ilr_config(cfg_a, fx, "ra.yaml", run_a, 2, common);
    write_ilr_config(cfg_b, fx, "rb.yaml", run_b, 2, extra_b);
    char *argv_a[] = {"ilr", "train", cfg_a, NULL};
    assert_int_equal(ilr_test_run_to_end(bin, argv_a), 0);
    char *argv_b[] = {"ilr", "train", cfg_b, NULL};
    long delay_us;
    ilr_test_kill_after_checkpoint(bin, argv_b, run_b, 4, 300000, &delay_us);
    long at = ilr_test_latest_step(run_b);
    char *argv_resume[] = {"ilr", "train", "--resume", run_b, NULL};
    assert_int_equal(ilr_test_run_to_end(bin, argv_resume), 0);
    size_t differ = 0, moved = 0, total = 0;
    compare_agent(run_a, run_b, "agent-a", fx->agent[0], &differ, &moved, &total);
    compare_agent(run_a, run_b, "agent-b", fx->agent[1], &differ, &moved, &total);
    /* each final agent directory is a whole model directory, though the checkpoint the run resumed from has been
     * rotated away by then (its tokenizer files come from the start model) */
    for (int i = 0; i < 2; i++) {
        char tok[700];
        snprintf(tok, sizeof tok, "%s/agent-%c/tokenizer.json", run_b, 'a' + i);
        assert_true(ilr_file_exists(tok));
    }
    /* the records too: the resumed run's rollouts.jsonl equals the straight run's */
    char pa[700], pb[700], *ta = NULL, *tb = NULL;
    size_t la = 0, lb = 0;
    snprintf(pa, sizeof pa, "%s/rollouts.jsonl", run_a);
    snprintf(pb, sizeof pb, "%s/rollouts.jsonl", run_b);
    assert_int_equal(ilr_file_read_all(pa, &ta, &la), 0);
    assert_int_equal(ilr_file_read_all(pb, &tb, &lb), 0);
    int same_records = la == lb && memcmp(ta, tb, la) == 0;
    free(ta);
    free(tb);
    int steps;
    json_decref(last_step_line(run_b, &steps));
    print_message("ilr resume (m = 2, random interaction, mu 2, KL, refit every 3): killed -9 %.1f ms after the step-4 "
                  "checkpoint (newest whole: step %ld), resumed to 8: %zu of %zu weights of both agents differ from 8 "
                  "straight steps (%zu moved); rollouts.jsonl %s; the log has each of %d steps once\n",
                  delay_us / 1000.0, at, differ, total, moved, same_records ? "identical" : "DIFFERENT", steps);
    assert_true(moved > total / 2);
    assert_int_equal(differ, 0);
    assert_true(same_records);
    assert_int_equal(steps, 8);
}

/* ---- bad input ---- */

static int dir_has_final_outputs(const char *run) {
    char path[700];
    snprintf(path, sizeof path, "%s/train_summary.json", run);
    int summary = ilr_file_exists(path);
    snprintf(path, sizeof path, "%s/agent-a/model.safetensors", run);
    return summary || ilr_file_exists(path);
}

static void test_ilr_bad_input(void **state) {
    world_fixture *fx = *state;
    char cfg[256], run[600], out[32768], o_run[700], irt[600];
    snprintf(run, sizeof run, "%s/bad", fx->dir);
    snprintf(o_run, sizeof o_run, "output_dir=%s", run);
    write_ilr_config(cfg, fx, "bad.yaml", run, 2, "train.steps: 2\n");
    /* a missing prompt folder */
    char *a1[] = {"ilr", "train", cfg, o_run, "ilr.prompts=prompts/none"};
    assert_int_equal(ilr_test_run_cli(out, sizeof out, 5, a1), 1);
    ilr_test_expect_contains(out, "prompts/none");
    /* an irt.json that does not name the run's agents */
    const char *other = "{\"model\": \"1PL\", \"scale\": 1.7, \"gamma\": {\"x\": 0.1, \"y\": -0.2}, \"difficulty\": {\"q\": 0}}";
    ilr_test_write_file(irt, fx->dir, "other-irt.json", other, strlen(other));
    char o_irt[700];
    snprintf(o_irt, sizeof o_irt, "irt.file=%s", irt);
    char *a2[] = {"ilr", "train", cfg, o_run, o_irt};
    assert_int_equal(ilr_test_run_cli(out, sizeof out, 5, a2), 1);
    ilr_test_expect_contains(out, "does not name agent agent-a");
    /* a fusion prompt over the context */
    char *a3[] = {"ilr", "train", cfg, o_run, "ilr.max_prompt_tokens=40"};
    assert_int_equal(ilr_test_run_cli(out, sizeof out, 5, a3), 1);
    ilr_test_expect_contains(out, "prompt for question");
    ilr_test_expect_contains(out, "ilr.max_prompt_tokens 40");
    assert_false(dir_has_final_outputs(run)); /* nothing half-written */
    /* a per-agent key that does not exist (a run has one task for all its agents) */
    char *a4[] = {"ilr", "train", cfg, o_run, "agents.0.data.task=math"};
    assert_int_equal(ilr_test_run_cli(out, sizeof out, 5, a4), 1);
    ilr_test_expect_contains(out, "agents.0.data.task");
    /* one agent is not a co-learning run; two with one name are refused */
    char *a5[] = {"ilr", "train", cfg, o_run, "agents.1.name=agent-a"};
    assert_int_equal(ilr_test_run_cli(out, sizeof out, 5, a5), 1);
    ilr_test_expect_contains(out, "both named 'agent-a'");
    char *a6[] = {"ilr", "train", cfg, o_run, "method=ilr-comp", "ilr.interaction=coop"};
    assert_int_equal(ilr_test_run_cli(out, sizeof out, 6, a6), 1);
    ilr_test_expect_contains(out, "contradicts ilr.interaction");
    /* a question over rollout.max_prompt_tokens: named with its real length (it once printed 0) */
    char *a8[] = {"ilr", "train", cfg, o_run, "rollout.max_prompt_tokens=5"};
    assert_int_equal(ilr_test_run_cli(out, sizeof out, 5, a8), 1);
    ilr_test_expect_contains(out, "rollout.max_prompt_tokens is 5");
    assert_null(strstr(out, "has 0 tokens"));
    /* no abilities at all: no irt.file, no irt.data */
    char *a7[] = {"ilr", "train", cfg, o_run, "irt.data=null"};
    assert_int_equal(ilr_test_run_cli(out, sizeof out, 5, a7), 1);
    ilr_test_expect_contains(out, "set irt.file");
    assert_false(dir_has_final_outputs(run));
    print_message("ilr bad input: a missing prompt folder, an irt.json naming other agents, a fusion prompt over "
                  "ilr.max_prompt_tokens, an unknown per-agent key, duplicate names, a contradicting method, no "
                  "abilities: each refused by name, nothing half-written\n");
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_calibration_values),
    cmocka_unit_test(test_interaction_rules),
    cmocka_unit_test(test_idea3_prompts_world),
    cmocka_unit_test(test_idea3_two_tokenizers),
    cmocka_unit_test(test_ilr_smoke_run),
    cmocka_unit_test(test_ilr_three_agents),
    cmocka_unit_test(test_ilr_resume_after_kill_is_exact),
    cmocka_unit_test(test_ilr_ranks_match_one_process),
    cmocka_unit_test(test_ilr_agent_ranks_layout_errors),
    cmocka_unit_test(test_ilr_agent_parallel_matches_one_process),
    cmocka_unit_test(test_ilr_agent_parallel_kill_then_resume),
    cmocka_unit_test(test_ilr_bad_input),
};

ILR_TEST_GROUP_SETUP(colearn, tests, world_setup, world_teardown)
