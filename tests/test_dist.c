/* Data-parallel training over MPI (include/ilr/dist.h): the share of each rank, the one-process identities, and,
 * in a build with MPI (make MPI=1 test) where Open MPI's mpirun is on PATH, `mpirun -np 2` and `-np 4` GRPO runs
 * against the one-process run of the same global batch (same final weights to float rounding), and kill -9 of one
 * rank mid-run: the job ends within seconds, its checkpoints are whole, and a resume ends where the uninterrupted
 * run ended, bit for bit; and `ilr eval` over ranks writes what one process writes.  Elsewhere the MPI tests print
 * why they are skipped.
 *
 * The policy is the tiny Llama of ilr_test_sum_fixture (questions "a + b =", a few dozen SFT steps). */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "ilr/dist.h"
#include "ilr/io.h"
#include "ilr/model.h"
#include "test_util.h"

/* ---- without a job ---- */

static void test_share_and_one_process(void **state) {
    (void)state;
    /* the shares of n items over N ranks are contiguous, in rank order, cover [0, n) and differ by at most one */
    int checked = 0;
    for (long n = 0; n <= 13; n++)
        for (int N = 1; N <= 5; N++) {
            long next = 0, least = n, most = 0;
            for (int r = 0; r < N; r++) {
                long lo, hi;
                ilr_dist_share(n, r, N, &lo, &hi);
                assert_int_equal(lo, next);
                assert_true(hi >= lo);
                least = hi - lo < least ? hi - lo : least, most = hi - lo > most ? hi - lo : most;
                next = hi;
                checked++;
            }
            assert_int_equal(next, n);
            assert_true(most - least <= 1);
        }
    /* the test process is no job's rank: every collective is the identity */
    assert_int_equal(ilr_dist_size(), 1);
    assert_int_equal(ilr_dist_rank(), 0);
    assert_true(ilr_dist_is_root());
    float x[5] = {1.5f, -2, 3, 0, 1e-30f};
    double d[2] = {0.25, -7};
    int m[2] = {3, -4};
    assert_int_equal(ilr_dist_sum_floats(NULL, x, 5), 0);
    assert_int_equal(ilr_dist_sum_doubles(NULL, d, 2), 0);
    assert_int_equal(ilr_dist_max_ints(m, 2), 0);
    assert_true(x[0] == 1.5f && x[1] == -2 && x[4] == 1e-30f && d[0] == 0.25 && d[1] == -7 && m[0] == 3 && m[1] == -4);
    void *all = NULL;
    size_t got = 0, counts[1];
    assert_int_equal(ilr_dist_allgather(NULL, "abc", 3, &all, &got, counts), 0);
    assert_int_equal(got, 3);
    assert_int_equal(counts[0], 3);
    assert_memory_equal(all, "abc", 3);
    free(all);
    print_message("dist: %d shares checked (n 0..13 over 1..5 ranks: contiguous, complete, within one item); one "
                  "process: size 1, rank 0, sums and gathers are the identity (%s build)\n",
                  checked, ilr_dist_available() ? "MPI" : "plain");
}

/* ---- under mpirun ---- */

/* The sum fixture's GRPO config (ilr_test_sum_grpo_config) for `steps` steps. */
static void write_config(char *path, const ilr_test_sum_fixture *fx, const char *name, const char *out_dir, int steps,
                         const char *extra) {
    char lines[512];
    snprintf(lines, sizeof lines, "  steps: %d\n%s", steps, extra);
    ilr_test_sum_grpo_config(path, fx, name, out_dir, lines);
}

/* Steps whose reward and mean completion length two runs' train_log.jsonl give alike (each step once, in order). */
static int steps_logged_alike(const char *run_a, const char *run_b) {
    char pa[700], pb[700];
    snprintf(pa, sizeof pa, "%s/train_log.jsonl", run_a);
    snprintf(pb, sizeof pb, "%s/train_log.jsonl", run_b);
    FILE *fa = fopen(pa, "r"), *fb = fopen(pb, "r");
    assert_non_null(fa);
    assert_non_null(fb);
    char la[16384], lb[16384];
    int alike = 0;
    for (long step = 1; fgets(la, sizeof la, fa) && fgets(lb, sizeof lb, fb); step++) {
        json_t *ja = json_loads(la, 0, NULL), *jb = json_loads(lb, 0, NULL);
        assert_non_null(ja);
        assert_non_null(jb);
        assert_int_equal(json_integer_value(json_object_get(ja, "step")), step);
        assert_int_equal(json_integer_value(json_object_get(jb, "step")), step);
        alike += json_real_value(json_object_get(ja, "reward")) == json_real_value(json_object_get(jb, "reward")) &&
                 json_real_value(json_object_get(ja, "completions/mean_length")) ==
                     json_real_value(json_object_get(jb, "completions/mean_length"));
        json_decref(ja), json_decref(jb);
    }
    fclose(fa), fclose(fb);
    return alike;
}

static void test_grpo_ranks_match_one_process(void **state) {
    (void)state;
    const char *bin;
    if (!ilr_test_mpi_ready(&bin)) skip();
    ilr_test_sum_fixture fx;
    ilr_test_sum_fixture_setup(&fx, "dist-grpo");
    char cfg[256], run1[600], run2[600], run4[600];
    snprintf(run1, sizeof run1, "%s/one", fx.dir);
    snprintf(run2, sizeof run2, "%s/two", fx.dir);
    snprintf(run4, sizeof run4, "%s/four", fx.dir);
    write_config(cfg, &fx, "grpo.yaml", run1, 8, "");
    char out2[700], out4[700];
    snprintf(out2, sizeof out2, "output_dir=%s", run2);
    snprintf(out4, sizeof out4, "output_dir=%s", run4);
    char *one[] = {"ilr", "train", cfg, NULL};
    assert_int_equal(ilr_test_run_to_end(bin, one), 0);
    /* the rounding a different order of the same sums makes: one process, micro-batches of 3 instead of 10 */
    char run_mb[600], out_mb[700];
    snprintf(run_mb, sizeof run_mb, "%s/one-mb3", fx.dir);
    snprintf(out_mb, sizeof out_mb, "output_dir=%s", run_mb);
    char *one_mb[] = {"ilr", "train", cfg, out_mb, "optim.micro_batch=3", NULL};
    assert_int_equal(ilr_test_run_to_end(bin, one_mb), 0);
    char *args2[] = {"train", cfg, out2, NULL}, *args4[] = {"train", cfg, out4, NULL};
    assert_int_equal(ilr_test_mpirun(2, bin, args2), 0);
    assert_int_equal(ilr_test_mpirun(4, bin, args4), 0);
    size_t differ2, differ4, moved, total;
    double d2 = ilr_test_weights_compare(run2, run1, fx.model, &differ2, &moved, &total);
    double d4 = ilr_test_weights_compare(run4, run1, fx.model, &differ4, &moved, &total);
    size_t differ_mb;
    double dmb = ilr_test_weights_compare(run_mb, run1, fx.model, &differ_mb, &moved, &total);
    int same = steps_logged_alike(run1, run2) + steps_logged_alike(run1, run4);
    print_message("dist grpo: 8 steps of 6 questions x 4 completions, lr 1e-3; final weights against one process: "
                  "2 ranks max |diff| %.3g (%zu of %zu differ), 4 ranks %.3g (%zu differ); one process with micro-batches "
                  "of 3 instead of 10: %.3g; tolerance 5e-4; rewards and lengths alike in %d of 16 steps of the 2 "
                  "rank-runs' logs; %zu weights moved\n", d2, differ2, total, d4, differ4, dmb, same, moved);
    assert_true(moved > total / 2); /* the weights moved: the comparison says something */
    /* the ranks add their gradients in rank order, one process in micro-batch order: float rounding apart, which
     * AdamW lifts to a fraction of a step where a gradient nearly cancels (one process with micro-batches of 3
     * differs the same way).  How far that goes depends on the kernels' rounding: measured 2e-5 to 1.7e-4 over
     * builds (the 4-rank run with OpenBLAS alone reached 1.7e-4).  Tolerance: half of one step of the learning
     * rate (1e-3); that the ranks sampled what one process sampled is checked exactly below (rewards and lengths
     * of every step), and a different sample would move weights by whole steps. */
    assert_true(d2 < 5e-4);
    assert_true(d4 < 5e-4);
    assert_true(dmb < 5e-4);
    /* rank 0 alone wrote the runs, each step once; and the ranks sampled what one process sampled: every step's
     * mean reward and mean completion length are the same numbers */
    assert_int_equal(same, 16);
    ilr_test_rmtree(fx.dir);
    ilr_test_mpi_end();
}

static void test_sft_ranks_match_one_process(void **state) {
    (void)state;
    const char *bin;
    if (!ilr_test_mpi_ready(&bin)) skip();
    ilr_test_sum_fixture fx;
    ilr_test_sum_fixture_setup(&fx, "dist-sft");
    char run1[600], run2[600], run4[600];
    snprintf(run1, sizeof run1, "%s/one", fx.dir);
    snprintf(run2, sizeof run2, "%s/two", fx.dir);
    snprintf(run4, sizeof run4, "%s/four", fx.dir);
    /* 12 steps of 4 micro-batches of 4 rows of 64 tokens, from the fixture's model, at a large learning rate */
#define SFT_ARGS(out) "sft", "--model", fx.model, "--data", fx.sft, "-o", out, "--steps", "12", "--lr", "3e-3", \
                      "--batch", "4", "--seq", "64", "--grad-accum", "4", "--seed", "2", "--quiet", NULL
    char *one[] = {"ilr", SFT_ARGS(run1)};
    char *args2[] = {SFT_ARGS(run2)}, *args4[] = {SFT_ARGS(run4)};
#undef SFT_ARGS
    assert_int_equal(ilr_test_run_to_end(bin, one), 0);
    assert_int_equal(ilr_test_mpirun(2, bin, args2), 0);
    assert_int_equal(ilr_test_mpirun(4, bin, args4), 0);
    size_t differ2, differ4, moved, total;
    double d2 = ilr_test_weights_compare(run2, run1, fx.model, &differ2, &moved, &total);
    double d4 = ilr_test_weights_compare(run4, run1, fx.model, &differ4, &moved, &total);
    assert_true(moved > total / 2);
    /* float rounding (measured below 1e-6; unlike GRPO's, these gradients rarely cancel to near zero) */
    assert_true(d2 < 1e-5);
    assert_true(d4 < 1e-5);
    print_message("dist sft: 12 steps of 4 micro-batches x 4 rows x 64 tokens, lr 3e-3; final weights against one "
                  "process: 2 ranks max |diff| %.3g (%zu of %zu differ), 4 ranks %.3g (%zu differ); tolerance 1e-5; "
                  "%zu weights moved\n", d2, differ2, total, d4, differ4, moved);
    ilr_test_rmtree(fx.dir);
    ilr_test_mpi_end();
}

static void test_kill_one_rank_then_resume(void **state) {
    (void)state;
    const char *bin;
    if (!ilr_test_mpi_ready(&bin)) skip();
    ilr_test_sum_fixture fx;
    ilr_test_sum_fixture_setup(&fx, "dist-kill");
    char cfg_a[256], cfg_b[256], run_a[600], run_b[600];
    snprintf(run_a, sizeof run_a, "%s/straight", fx.dir);
    snprintf(run_b, sizeof run_b, "%s/killed", fx.dir);
    write_config(cfg_a, &fx, "a.yaml", run_a, 16, "");
    write_config(cfg_b, &fx, "b.yaml", run_b, 16, "  save_every: 1\n  keep_checkpoints: 2\n");
    char *args_a[] = {"train", cfg_a, NULL};
    assert_int_equal(ilr_test_mpirun(2, bin, args_a), 0);

    /* the same run; once its step-6 checkpoint is there, one rank is killed -9 */
    char *args_b[] = {"train", cfg_b, NULL};
    pid_t victim;
    double ended = ilr_test_mpirun_kill_one(bin, args_b, run_b, 6, &victim);
    assert_true(ended < 10);
    long at = ilr_test_latest_step(run_b);
    assert_true(at >= 6 && at < 16);

    /* resumed over 2 ranks: where the uninterrupted run ended, bit for bit */
    char *args_resume[] = {"train", "--resume", run_b, NULL};
    assert_int_equal(ilr_test_mpirun(2, bin, args_resume), 0);
    size_t differ, moved, total;
    double d = ilr_test_weights_compare(run_b, run_a, fx.model, &differ, &moved, &total);
    assert_true(moved > total / 2);
    assert_int_equal(differ, 0);
    print_message("dist kill: rank pid %d killed -9 after the step-6 checkpoint; the job ended in %.2f s with the "
                  "newest checkpoint at step %ld; resumed over 2 ranks to step 16: %zu of %zu weights differ from the "
                  "uninterrupted run (max |diff| %.3g)\n",
                  (int)victim, ended, at, differ, total, d);
    ilr_test_rmtree(fx.dir);
    ilr_test_mpi_end();
}

/* A rank that hangs alive (SIGSTOP after the step-4 checkpoint): the other waits in its next collective until
 * ILR_DIST_TIMEOUT (3 s here), says so and exits, and mpirun ends the job; the checkpoints stay whole. */
static void test_hung_rank_ends_the_job(void **state) {
    (void)state;
    const char *bin;
    if (!ilr_test_mpi_ready(&bin)) skip();
    ilr_test_sum_fixture fx;
    ilr_test_sum_fixture_setup(&fx, "dist-hang");
    char cfg[256], run[600];
    snprintf(run, sizeof run, "%s/hung", fx.dir);
    write_config(cfg, &fx, "hang.yaml", run, 40, "  save_every: 1\n  keep_checkpoints: 2\n");
    char *args[] = {"train", cfg, NULL};
    setenv("ILR_DIST_TIMEOUT", "soon", 1); /* not seconds: refused before anything runs */
    assert_int_not_equal(ilr_test_mpirun(2, bin, args), 0);
    assert_int_equal(ilr_test_latest_step(run), 0);
    setenv("ILR_DIST_TIMEOUT", "3", 1);
    pid_t victim;
    double ended = ilr_test_mpirun_signal_one(bin, args, run, 4, SIGSTOP, &victim);
    unsetenv("ILR_DIST_TIMEOUT");
    long at = ilr_test_latest_step(run);
    print_message("dist hang: rank pid %d stopped after the step-4 checkpoint; the job ended %.2f s later (timeout 3 s), "
                  "newest checkpoint at step %ld\n", (int)victim, ended, at);
    assert_true(ended > 2.5 && ended < 15); /* the watchdog's doing, not an immediate failure */
    assert_true(at >= 4 && at < 40);
    ilr_test_rmtree(fx.dir);
    ilr_test_mpi_end();
}

/* A file's bytes (malloc'd), asserted present. */
static char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = NULL, chunk[4096];
    size_t n;
    FILE *mem = open_memstream(&buf, len);
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) fwrite(chunk, 1, n, mem);
    fclose(f);
    fclose(mem);
    return buf;
}

/* Asserts dirs[1..n) hold the same file `name` as dirs[0], byte for byte; returns its line count. */
static size_t same_file_in_all(char (*dirs)[600], int n, const char *name) {
    char path[3000];
    size_t len0, len, lines = 0;
    snprintf(path, sizeof path, "%s/%s", dirs[0], name);
    char *want = read_all(path, &len0);
    for (size_t i = 0; i < len0; i++) lines += want[i] == '\n';
    for (int r = 1; r < n; r++) {
        snprintf(path, sizeof path, "%s/%s", dirs[r], name);
        char *got = read_all(path, &len);
        assert_int_equal(len, len0);
        assert_memory_equal(got, want, len0);
        free(got);
    }
    free(want);
    return lines;
}

/* ilr eval over ranks: the waves dealt round-robin, rank 0 writing — samples.jsonl and summary.md byte for
 * byte what one process writes (greedy and 3 samples per question), over 2 and 3 ranks (3: a last round with
 * ranks idle), and a 3-rank run that resumes one stopped after half the questions. */
static void test_eval_ranks_match_one_process(void **state) {
    (void)state;
    const char *bin;
    if (!ilr_test_mpi_ready(&bin)) skip();
    ilr_test_sum_fixture fx;
    ilr_test_sum_fixture_setup(&fx, "dist-eval");
    const char *names[4] = {"one", "two", "three", "resumed"};
    char out[4][600];
    for (int r = 0; r < 4; r++) snprintf(out[r], sizeof out[r], "%s/eval-%s", fx.dir, names[r]);
    char *common[] = {"eval", "--model", fx.model, "--bench", fx.eval, "--prompt", fx.tmpl, "--samples", "3",
                      "--max-new-tokens", "12", "--batch", "8", "--no-chat", "-o", NULL, NULL, NULL, NULL};
    enum { OUT_AT = 15 };
    char *one[20] = {"ilr"};
    for (int i = 0; i < OUT_AT; i++) one[i + 1] = common[i];
    one[OUT_AT + 1] = out[0];
    assert_int_equal(ilr_test_run_to_end(bin, one), 0);
    common[OUT_AT] = out[1];
    assert_int_equal(ilr_test_mpirun(2, bin, common), 0);
    common[OUT_AT] = out[2];
    assert_int_equal(ilr_test_mpirun(3, bin, common), 0);
    common[OUT_AT] = out[3], common[OUT_AT + 1] = "--max", common[OUT_AT + 2] = "20";
    assert_int_equal(ilr_test_mpirun(3, bin, common), 0); /* the first 20 questions, then all of them */
    common[OUT_AT + 1] = NULL;
    assert_int_equal(ilr_test_mpirun(3, bin, common), 0);
    size_t lines = same_file_in_all(out, 4, "samples.jsonl");
    assert_int_equal(lines, 40 * 4); /* 40 questions x (greedy + 3 samples) */
    same_file_in_all(out, 4, "summary.md");
    print_message("dist eval: 40 questions x (greedy + 3 samples): samples.jsonl (%zu lines) and summary.md equal "
                  "to one process's over 2 and 3 ranks and over 3 ranks resumed after 20 questions\n", lines);
    ilr_test_rmtree(fx.dir);
    ilr_test_mpi_end();
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_share_and_one_process),
    cmocka_unit_test(test_grpo_ranks_match_one_process),
    cmocka_unit_test(test_sft_ranks_match_one_process),
    cmocka_unit_test(test_kill_one_rank_then_resume),
    cmocka_unit_test(test_hung_rank_ends_the_job),
    cmocka_unit_test(test_eval_ranks_match_one_process),
};

ILR_TEST_GROUP(dist, tests)
