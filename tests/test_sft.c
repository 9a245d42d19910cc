/* Supervised fine-tuning: the learning-rate schedule against its formula, checkpoints round-tripping the
 * optimizer state, a tiny Llama learning sums from scratch (loss falls, held-out accuracy rises), exact
 * resume (10 + 10 steps = 20 steps, bit for bit), and bad data rejected with file and line. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ilr/checkpoint.h"
#include "ilr/error.h"
#include "ilr/io.h"
#include "ilr/model.h"
#include "ilr/schedule.h"
#include "ilr/sft.h"
#include "test_util.h"

/* Hugging Face's lr_lambda(current_step), written out from transformers' optimization.py, with the floor of
 * get_cosine_with_min_lr_schedule_with_warmup. */
static double hf_lambda(int shape, long current, long warmup, long total, double min_rate) {
    if (current < warmup) return (double)current / (double)(warmup > 1 ? warmup : 1);
    if (shape == ILR_LR_CONSTANT) return 1.0;
    double progress = (double)(current - warmup) / (double)(total - warmup > 1 ? total - warmup : 1);
    double f = shape == ILR_LR_COSINE ? 0.5 * (1.0 + cos(M_PI * 0.5 * 2.0 * progress)) : (double)(total - current) / (total - warmup);
    return f * (1.0 - min_rate) + min_rate;
}

static void test_lr_schedule(void **state) {
    (void)state;
    /* every optimizer step k of three schedules: ilr's lr(k) == HF's lr * lambda(k - 1) (the Trainer steps
     * its scheduler after the optimizer) */
    const long warm[] = {0, 10, 1};
    double worst = 0;
    for (int shape = 0; shape < 3; shape++)
        for (int w = 0; w < 3; w++)
            for (int floor = 0; floor < 2; floor++) {
                ilr_lr_schedule s = {1e-3f, (int)warm[w], 110, floor ? 0.1f : 0.0f, (ilr_lr_shape)shape};
                for (long k = 1; k <= 110; k++) {
                    double want = 1e-3 * hf_lambda(shape, k - 1, warm[w], 110, floor ? 0.1 : 0.0);
                    double err = fabs(ilr_lr_at(&s, k) - want);
                    if (err > worst) worst = err;
                    assert_true(err <= 1e-9 + 1e-6 * want);
                }
            }
    ilr_lr_schedule s = {1e-3f, 10, 110, 0.0f, ILR_LR_LINEAR};
    assert_float_equal(ilr_lr_at(&s, 1), 0.0f, 0);          /* warmup: the first update has lr 0, as in HF */
    assert_float_equal(ilr_lr_at(&s, 11), 1e-3f, 1e-9f);    /* the peak right after warmup */
    assert_float_equal(ilr_lr_at(&s, 110), 1e-5f, 1e-10f);  /* the last update: lr / (total - warmup), not 0 */
    assert_float_equal(ilr_lr_at(&s, 500), 0.0f, 0);        /* past the end the decay stays at its floor */
    print_message("lr schedules: constant/linear/cosine x warmup 0/1/10 x floor 0/0.1 equal HF's lambda(k - 1) "
                  "at all 110 steps (max abs err %.1e)\n", worst);
    ilr_lr_shape shape;
    assert_int_equal(ilr_lr_shape_parse("cosine", &shape), 0);
    assert_int_equal(shape, ILR_LR_COSINE);
    ILR_EXPECT_ERROR(ilr_lr_shape_parse("cosin", &shape), ILR_EINVAL, "'cosin'", "constant, cosine or linear");
}

/* ---- a tiny world: sums a + b with a, b < 30 ---- */

typedef struct {
    char dir[256], model[512], train[512], eval[512], out[512];
} sums_fixture;

static void write_lines(const char *path, int from, int to, int with_level) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int i = from; i < to; i++) {
        int k = (i * 577) % 900, a = k / 30, b = k % 30; /* 577 is prime to 900: a fixed shuffle */
        fprintf(f, "{\"prompt\": \"%d + %d =\", \"response\": \" \\\\boxed{%d}\"", a, b, a + b);
        if (with_level) fprintf(f, ", \"level\": %d", a + b >= 30 ? 2 : 1);
        fprintf(f, "}\n");
    }
    fclose(f);
}

/* A tokenizer trained on the problems and a random-initialised tiny Llama with its vocabulary. */
static void sums_setup(sums_fixture *fx, const char *tag) {
    ilr_test_tmpdir(fx->dir, tag);
    char corpus[512], tok[512], out[4096];
    snprintf(fx->train, sizeof fx->train, "%s/train.jsonl", fx->dir);
    snprintf(fx->eval, sizeof fx->eval, "%s/eval.jsonl", fx->dir);
    snprintf(fx->model, sizeof fx->model, "%s/model", fx->dir);
    snprintf(fx->out, sizeof fx->out, "%s/out", fx->dir);
    snprintf(corpus, sizeof corpus, "%s/train.jsonl", fx->dir);
    snprintf(tok, sizeof tok, "%s/tok", fx->dir);
    write_lines(fx->train, 100, 900, 0);
    write_lines(fx->eval, 0, 100, 1);
    char *train_argv[] = {"ilr", "tokenizer", "train", "--vocab-size", "300", "--special", "<|endoftext|>", "--out", tok, corpus};
    assert_int_equal(ilr_test_run_cli(out, sizeof out, 10, train_argv), 0);
    char *init_argv[] = {"ilr", "init", "--arch", "llama", "--shape", "tiny", "--tokenizer", tok, "--vocab-size", "300",
                         "--seed", "3", "-o", fx->model};
    assert_int_equal(ilr_test_run_cli(out, sizeof out, 14, init_argv), 0);
}

static void sums_options(const sums_fixture *fx, ilr_sft_options *o) {
    ilr_sft_options_default(o);
    o->model_dir = fx->model;
    o->train_path = fx->train;
    o->out_dir = fx->out;
    o->batch = 16;
    o->seq = 64;
    o->lr = 2e-3f; /* 3e-3 sat on a knife edge: 13-72 % held-out accuracy as warmup went 19-21 steps; 2e-3 gave 74-95 % */
    o->warmup_steps = 20;
    o->quiet = 1;
}

#if defined(__SANITIZE_ADDRESS__)
enum { SUMS_STEPS = 150 }; /* the sanitizer build is about 5x slower: a shorter run, a weaker claim */
#else
enum { SUMS_STEPS = 500 };
#endif

static void test_sft_learns_sums(void **state) {
    (void)state;
    sums_fixture fx;
    sums_setup(&fx, "sft-sums");
    ilr_sft_options o;
    sums_options(&fx, &o);
    o.eval_path = fx.eval;
    o.steps = SUMS_STEPS;
    ilr_sft_result r;
    assert_int_equal(ilr_sft_run(&o, &r), 0);
    double before = (double)r.before.correct / r.before.total, after = (double)r.after.correct / r.after.total;
    print_message("sft on sums (tiny Llama from scratch, %ld steps, %.1f s, %.0f tokens/s): loss %.3f -> %.3f, "
                  "eval loss %.3f -> %.3f, held-out accuracy %.0f%% -> %.0f%% (L1 %d/%d, L2 %d/%d)\n",
                  r.steps, r.seconds, r.tokens_per_s, r.first_loss, r.last_loss, r.before.loss, r.after.loss, 100 * before,
                  100 * after, r.after.level_correct[1], r.after.level_total[1], r.after.level_correct[2],
                  r.after.level_total[2]);
    assert_int_equal(r.steps, SUMS_STEPS);
    assert_int_equal(r.before.total, 100);
    assert_true(r.last_loss < r.first_loss / 4);
    assert_true(r.after.loss < r.before.loss / 4);
#if !defined(__SANITIZE_ADDRESS__)
    assert_true(after >= before + 0.15);
#endif
    /* out/ is a model directory that loads, with its tokenizer */
    ilr_model m;
    char path[600];
    assert_int_equal(ilr_model_load(&m, fx.out), 0);
    ilr_model_free(&m);
    snprintf(path, sizeof path, "%s/tokenizer.json", fx.out);
    assert_true(ilr_file_exists(path));
    snprintf(path, sizeof path, "%s/sft_summary.json", fx.out);
    assert_true(ilr_file_exists(path));
    ilr_test_rmtree(fx.dir);
}

/* A new sums fixture named name, and a first run of `steps` steps of 8 rows into fx->out with options o. */
static void sums_first_run(sums_fixture *fx, const char *name, long steps, ilr_sft_options *o, ilr_sft_result *r) {
    sums_setup(fx, name);
    sums_options(fx, o);
    o->steps = steps;
    o->batch = 8;
    assert_int_equal(ilr_sft_run(o, r), 0);
}

/* 20 steps straight, and 10 steps (checkpoint) + resume for 10 more: the same weights, bit for bit. */
static void test_sft_resume_is_exact(void **state) {
    (void)state;
    sums_fixture fx;
    ilr_sft_options o;
    ilr_sft_result r;
    sums_first_run(&fx, "sft-resume", 20, &o, &r);

    char out2[600], ckpt[700];
    snprintf(out2, sizeof out2, "%s/out2", fx.dir);
    o.out_dir = out2;
    o.save_every = 10;
    o.steps = 20;
    /* first half: a run that stops after step 10 is simulated by a 20-step schedule cut at 10, which is
     * what a kill after the step-10 checkpoint leaves behind */
    o.keep_checkpoints = 5;
    assert_int_equal(ilr_sft_run(&o, &r), 0);
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint-000010", out2);
    assert_true(ilr_dir_exists(ckpt));
    char out3[600];
    snprintf(out3, sizeof out3, "%s/out3", fx.dir);
    o.out_dir = out3;
    o.resume_dir = ckpt;
    o.model_dir = NULL;
    assert_int_equal(ilr_sft_run(&o, &r), 0);
    assert_int_equal(r.steps, 20);
    size_t n, differ = ilr_test_weights_differing(fx.out, out3, &n);
    print_message("resume: 20 steps straight vs 10 + checkpoint + 10: %zu of %zu weights differ\n", differ, n);
    assert_int_equal(differ, 0);
    ilr_test_rmtree(fx.dir);
}

/* 12 steps on packed rows with and without activation recomputation (--recompute): the same weights, bit for
 * bit (the recomputation runs the same kernels on the same inputs). */
static void test_sft_recompute_is_exact(void **state) {
    (void)state;
    sums_fixture fx;
    ilr_sft_options o;
    ilr_sft_result r;
    sums_first_run(&fx, "sft-recompute", 12, &o, &r);
    double loss_first = r.first_loss, loss_last = r.last_loss;
    char out2[600];
    snprintf(out2, sizeof out2, "%s/out-recompute", fx.dir);
    o.out_dir = out2;
    o.recompute = 1;
    assert_int_equal(ilr_sft_run(&o, &r), 0);
    size_t n, differ = ilr_test_weights_differing(fx.out, out2, &n);
    print_message("sft with recomputed activations: loss %.4f -> %.4f (kept: %.4f -> %.4f); %zu of %zu weights differ "
                  "after 12 steps\n", r.first_loss, r.last_loss, loss_first, loss_last, differ, n);
    assert_int_equal(differ, 0);
    assert_true(r.first_loss == loss_first && r.last_loss == loss_last);
    ilr_test_rmtree(fx.dir);
}

static void write_text(char *path, const char *dir, const char *name, const char *text) {
    ilr_test_write_file(path, dir, name, text, strlen(text));
}

static void test_sft_bad_data(void **state) {
    (void)state;
    sums_fixture fx;
    sums_setup(&fx, "sft-bad");
    ilr_sft_options o;
    ilr_sft_result r;
    sums_options(&fx, &o);
    o.steps = 1;
    char path[300];
    write_text(path, fx.dir, "bad1.jsonl", "{\"prompt\": \"1 + 1 =\", \"response\": \" 2\"}\n{\"prompt\": \"x\"}\n");
    o.train_path = path;
    ILR_EXPECT_ERROR(ilr_sft_run(&o, &r), ILR_ENOTFOUND, "bad1.jsonl:2", "'response'");
    write_text(path, fx.dir, "bad2.jsonl", "{\"prompt\": \"1 + 1 =\", \"response\": \" 2\"}\n{\"prompt\": 5,");
    ILR_EXPECT_ERROR(ilr_sft_run(&o, &r), ILR_EFORMAT, "bad2.jsonl:2");
    write_text(path, fx.dir, "bad3.jsonl", "{\"prompt\": \"1 =\", \"response\": \"1\", \"level\": 12}\n");
    ILR_EXPECT_ERROR(ilr_sft_run(&o, &r), ILR_EFORMAT, "bad3.jsonl", "level");
    write_text(path, fx.dir, "empty.jsonl", "");
    ILR_EXPECT_ERROR(ilr_sft_run(&o, &r), ILR_EFORMAT, "empty.jsonl", "no usable examples");
    o.train_path = fx.train;
    o.model_dir = fx.dir; /* not a model directory */
    assert_true(ilr_sft_run(&o, &r) < 0);
    ilr_test_rmtree(fx.dir);
}

/* A checkpoint keeps the AdamW moments and the trainer's state, and is never left half-written. */
static void test_checkpoint_round_trip(void **state) {
    (void)state;
    ilr_model_config cfg;
    ilr_model m;
    assert_int_equal(ilr_config_from_shape("tiny", ILR_ARCH_QWEN2, &cfg), 0);
    cfg.vocab_size = 64;
    assert_int_equal(ilr_model_create(&m, &cfg), 0);
    ilr_model_init_random(&m, 5);
    ilr_transformer tr, tr2;
    assert_int_equal(ilr_transformer_init(&tr, &m, 1, 8), 0);
    assert_int_equal(ilr_transformer_init(&tr2, &m, 1, 8), 0);
    for (size_t i = 0; i < m.table.total; i++) tr.grads[i] = (float)((i % 7) - 3) * 1e-3f;
    ilr_adamw_params hp = {1e-3f, 0.9f, 0.999f, 1e-8f, 0};
    assert_int_equal(ilr_transformer_adamw_step(&tr, &hp, 0, NULL), 0);
    char dir[256], ckpt[400];
    ilr_test_tmpdir(dir, "checkpoint");
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint-000001", dir);
    json_t *st = json_pack("{s:i, s:s}", "index", 17, "note", "x");
    assert_int_equal(ilr_checkpoint_save(ckpt, &m, &tr, NULL, st), 0);
    assert_int_equal(ilr_checkpoint_save(ckpt, &m, &tr, NULL, st), 0); /* replacing an existing one */
    json_decref(st);
    json_t *back = NULL;
    assert_int_equal(ilr_checkpoint_load_state(ckpt, &tr2, &back), 0);
    assert_int_equal(json_integer_value(json_object_get(back, "index")), 17);
    assert_int_equal(tr2.adam_step, 1);
    assert_memory_equal(tr.adam_m, tr2.adam_m, sizeof(float) * m.table.total);
    assert_memory_equal(tr.adam_v, tr2.adam_v, sizeof(float) * m.table.total);
    json_decref(back);
    char leftovers[4096] = "", cmd[600];
    snprintf(cmd, sizeof cmd, "ls -a '%s'", dir);
    FILE *p = popen(cmd, "r");
    size_t got = fread(leftovers, 1, sizeof leftovers - 1, p);
    leftovers[got] = 0;
    pclose(p);
    assert_string_equal(leftovers, ".\n..\ncheckpoint-000001\n"); /* no .tmp or .old directories left */
    /* a checkpoint with the wrong number of moments is refused */
    ilr_model_config cfg2 = cfg;
    cfg2.vocab_size = 65;
    ilr_model m2;
    ilr_transformer tr3;
    assert_int_equal(ilr_model_create(&m2, &cfg2), 0);
    assert_int_equal(ilr_transformer_init(&tr3, &m2, 1, 8), 0);
    ILR_EXPECT_ERROR(ilr_checkpoint_load_state(ckpt, &tr3, NULL), ILR_EMISMATCH, "optimizer.safetensors", "adam_m");
    /* a trainer state that is not an object with a non-negative optimizer_step is refused */
    char state_path[500];
    snprintf(state_path, sizeof state_path, "%s/trainer_state.json", ckpt);
    assert_int_equal(ilr_file_write_atomic(state_path, "{\"optimizer_step\": -3}\n", 23), 0);
    ILR_EXPECT_ERROR(ilr_checkpoint_load_state(ckpt, &tr2, NULL), ILR_EFORMAT, "trainer_state.json", "optimizer_step");
    assert_int_equal(ilr_file_write_atomic(state_path, "[1, 2]\n", 7), 0);
    ILR_EXPECT_ERROR(ilr_checkpoint_load_state(ckpt, &tr2, NULL), ILR_EFORMAT, "trainer_state.json");
    ilr_transformer_free(&tr3);
    ilr_model_free(&m2);
    ilr_transformer_free(&tr);
    ilr_transformer_free(&tr2);
    ilr_model_free(&m);
    ilr_test_rmtree(dir);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_lr_schedule),
    cmocka_unit_test(test_checkpoint_round_trip),
    cmocka_unit_test(test_sft_bad_data),
    cmocka_unit_test(test_sft_resume_is_exact),
    cmocka_unit_test(test_sft_recompute_is_exact),
    cmocka_unit_test(test_sft_learns_sums),
};

ILR_TEST_GROUP(sft, tests)
