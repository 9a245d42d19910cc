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

#include "ilr/checkpoint.h"
#include "ilr/dist.h"
#include "ilr/error.h"
#include "ilr/io.h"
#include "ilr/model.h"
#include "ilr/rng.h"
#include "ilr/transformer.h"
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
    float whole[5];
    assert_int_equal(ilr_dist_allgather_shares(NULL, x, 5), 0);
    assert_int_equal(ilr_dist_gather_shares(NULL, x, whole, 5), 0);
    assert_true(x[0] == 1.5f && x[4] == 1e-30f);
    assert_memory_equal(whole, x, sizeof x);
    print_message("dist: %d shares checked (n 0..13 over 1..5 ranks: contiguous, complete, within one item); one "
                  "process: size 1, rank 0, sums and gathers are the identity (%s build)\n",
                  checked, ilr_dist_available() ? "MPI" : "plain");
}

/* A checkpoint's moments fetched one at a time through one buffer (what a ZeRO-1 writer does). */
static int fetch_through_one_buffer(void *ctx, int k, const float **values) {
    ilr_transformer *tr = ctx; /* tr->grads is the buffer */
    memcpy(tr->grads, k ? tr->adam_v : tr->adam_m, sizeof(float) * tr->model->table.total);
    *values = tr->grads;
    return 0;
}

/* ZeRO-1 without a job: 3 shards of a tiny Llama's optimizer, each stepping its own parameters and moments on the
 * same (clipped) gradients, and their parts put together, against the whole array's AdamW; a checkpoint's
 * moments read into a shard; a shard's moments refused as a checkpoint's. */
static void test_zero1_shards_match_the_whole(void **state) {
    (void)state;
    enum { SHARDS = 3, STEPS = 3 };
    ilr_model_config cfg;
    assert_int_equal(ilr_config_from_shape("tiny", ILR_ARCH_LLAMA, &cfg), 0);
    cfg.vocab_size = 64;
    ilr_model whole, part[SHARDS];
    ilr_transformer tw, tp[SHARDS];
    size_t lo[SHARDS], hi[SHARDS];
    assert_int_equal(ilr_model_create(&whole, &cfg), 0);
    ilr_model_init_random(&whole, 11);
    assert_int_equal(ilr_transformer_init(&tw, &whole, 1, 8), 0);
    size_t n = whole.table.total;
    for (int p = 0; p < SHARDS; p++) {
        long l, h;
        ilr_dist_share((long)n, p, SHARDS, &l, &h);
        lo[p] = (size_t)l, hi[p] = (size_t)h;
        assert_int_equal(ilr_model_create(&part[p], &cfg), 0);
        ilr_model_init_random(&part[p], 11);
        assert_int_equal(ilr_transformer_init(&tp[p], &part[p], 1, 8), 0);
        ilr_transformer_shard_moments(&tp[p], lo[p], hi[p]);
    }
    ilr_rng rng;
    ilr_rng_init(&rng, 3, 0);
    ilr_adamw_params hp = {1e-2f, 0.9f, 0.999f, 1e-8f, 0.1f};
    double norm_whole = 0, norm_part = 0;
    int clipped = 0;
    for (int step = 0; step < STEPS; step++) {
        ilr_rng_fill_normal(&rng, tw.grads, (long)n, 0.0f, 0.01f);
        for (int p = 0; p < SHARDS; p++) memcpy(tp[p].grads, tw.grads, sizeof(float) * n);
        assert_int_equal(ilr_transformer_adamw_step(&tw, &hp, 1.0f, &norm_whole), 0);
        clipped += norm_whole > 1.0;
        for (int p = 0; p < SHARDS; p++) {
            assert_int_equal(ilr_transformer_adamw_step(&tp[p], &hp, 1.0f, &norm_part), 0);
            assert_true(norm_part == norm_whole); /* the norm of the whole gradient on every shard */
        }
        /* what the allgather does: each shard's updated parameters to every other */
        for (int p = 0; p < SHARDS; p++)
            for (int q = 0; q < SHARDS; q++)
                if (q != p) memcpy(part[q].params + lo[p], part[p].params + lo[p], sizeof(float) * (hi[p] - lo[p]));
    }
    assert_true(clipped == STEPS); /* the clipping's scale is part of what the shards must agree on */
    for (int p = 0; p < SHARDS; p++) {
        assert_memory_equal(part[p].params, whole.params, sizeof(float) * n);
        assert_memory_equal(tp[p].adam_m, tw.adam_m + lo[p], sizeof(float) * (hi[p] - lo[p]));
        assert_memory_equal(tp[p].adam_v, tw.adam_v + lo[p], sizeof(float) * (hi[p] - lo[p]));
        assert_int_equal(tp[p].adam_step, STEPS);
    }
    assert_int_equal(ilr_transformer_bytes(&tp[1]) - ilr_transformer_bytes(&tw) + 2 * sizeof(float) * n,
                     2 * sizeof(float) * (hi[1] - lo[1])); /* a shard holds its own moments only */

    /* the whole moments written; a shard reads its own of them; a shard's moments are no checkpoint's */
    char dir[256], ckpt[400], refused[400];
    ilr_test_tmpdir(dir, "dist-zero1");
    snprintf(ckpt, sizeof ckpt, "%s/whole", dir);
    snprintf(refused, sizeof refused, "%s/shard", dir);
    assert_int_equal(ilr_checkpoint_save(ckpt, &whole, &tw, NULL, NULL), 0);
    ILR_EXPECT_ERROR(ilr_checkpoint_save(refused, &part[1], &tp[1], NULL, NULL), ILR_EINVAL, "ZeRO-1", "all of them");
    char fetched[400], a[500], b[500];
    snprintf(fetched, sizeof fetched, "%s/fetched", dir);
    ilr_checkpoint_moments mo = {tw.adam_step, fetch_through_one_buffer, &tw};
    assert_int_equal(ilr_checkpoint_save_fetched(fetched, &whole, &mo, NULL, NULL), 0);
    char *ta = NULL, *tb = NULL;
    size_t la = 0, lb = 0;
    snprintf(a, sizeof a, "%s/optimizer.safetensors", ckpt);
    snprintf(b, sizeof b, "%s/optimizer.safetensors", fetched);
    assert_int_equal(ilr_file_read_all(a, &ta, &la), 0);
    assert_int_equal(ilr_file_read_all(b, &tb, &lb), 0);
    assert_int_equal(la, lb);
    assert_memory_equal(ta, tb, la); /* the same file as from whole arrays */
    free(ta), free(tb);
    ilr_transformer loaded;
    assert_int_equal(ilr_transformer_init(&loaded, &part[2], 1, 8), 0);
    ilr_transformer_shard_moments(&loaded, lo[2], hi[2]);
    assert_int_equal(ilr_checkpoint_load_state(ckpt, &loaded, NULL), 0);
    assert_int_equal(loaded.adam_step, STEPS);
    assert_memory_equal(loaded.adam_m, tw.adam_m + lo[2], sizeof(float) * (hi[2] - lo[2]));
    assert_memory_equal(loaded.adam_v, tw.adam_v + lo[2], sizeof(float) * (hi[2] - lo[2]));
    print_message("dist zero1 (one process): %d AdamW steps (clipped: grad norm %.3g > 1, weight decay 0.1) over %d shards "
                  "of %zu parameters: weights and moments bit for bit the whole array's; shard 2's moments [%zu, %zu) "
                  "read from a checkpoint bit for bit; a shard's checkpoint write refused; moments fetched one at a time "
                  "through one buffer write the same optimizer.safetensors\n",
                  STEPS, norm_whole, SHARDS, n, lo[2], hi[2]);
    ilr_transformer_free(&loaded);
    for (int p = 0; p < SHARDS; p++) ilr_transformer_free(&tp[p]), ilr_model_free(&part[p]);
    ilr_transformer_free(&tw);
    ilr_model_free(&whole);
    ilr_test_rmtree(dir);
}

/* ---- under mpirun ---- */

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

/* Whether file name is the same in directories a and b, byte for byte (both asserted to exist); *bytes: a's size. */
static int same_file(const char *a, const char *b, const char *name, size_t *bytes) {
    char pa[800], pb[800];
    snprintf(pa, sizeof pa, "%s/%s", a, name);
    snprintf(pb, sizeof pb, "%s/%s", b, name);
    size_t la, lb;
    char *ba = read_all(pa, &la), *bb = read_all(pb, &lb);
    int same = la == lb && memcmp(ba, bb, la) == 0;
    free(ba), free(bb);
    *bytes = la;
    return same;
}


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
    /* ZeRO-1: the same runs with the moments sharded over the ranks */
    char run2z[600], run4z[600], out2z[700], out4z[700];
    snprintf(run2z, sizeof run2z, "%s/two-zero1", fx.dir);
    snprintf(run4z, sizeof run4z, "%s/four-zero1", fx.dir);
    snprintf(out2z, sizeof out2z, "output_dir=%s", run2z);
    snprintf(out4z, sizeof out4z, "output_dir=%s", run4z);
    char *args2z[] = {"train", cfg, out2z, "train.zero1=true", NULL}, *args4z[] = {"train", cfg, out4z, "train.zero1=true", NULL};
    assert_int_equal(ilr_test_mpirun(2, bin, args2z), 0);
    assert_int_equal(ilr_test_mpirun(4, bin, args4z), 0);
    size_t total_z, differ2z = ilr_test_weights_differing(run2z, run2, &total_z);
    size_t differ4z = ilr_test_weights_differing(run4z, run4, &total_z);
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
    /* ZeRO-1 changes where AdamW runs, not what it computes (elementwise, on the same summed gradient) */
    print_message("dist grpo zero1: 2 ranks %zu of %zu weights differ from the 2-rank run without it, 4 ranks %zu "
                  "(bit for bit expected)\n", differ2z, total_z, differ4z);
    assert_int_equal(differ2z, 0);
    assert_int_equal(differ4z, 0);
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
#define SFT_ARGS(out, zero1) "sft", "--model", fx.model, "--data", fx.sft, "-o", out, "--steps", "12", "--lr", "3e-3", \
                             "--batch", "4", "--seq", "64", "--grad-accum", "4", "--seed", "2", "--save-every", "6", "--quiet", zero1, NULL
    char *one[] = {"ilr", SFT_ARGS(run1, NULL)};
    char run2z[600], run4z[600];
    snprintf(run2z, sizeof run2z, "%s/two-zero1", fx.dir);
    snprintf(run4z, sizeof run4z, "%s/four-zero1", fx.dir);
    char *args2[] = {SFT_ARGS(run2, NULL)}, *args4[] = {SFT_ARGS(run4, NULL)};
    char *args2z[] = {SFT_ARGS(run2z, "--zero1")}, *args4z[] = {SFT_ARGS(run4z, "--zero1")};
#undef SFT_ARGS
    assert_int_equal(ilr_test_run_to_end(bin, one), 0);
    assert_int_equal(ilr_test_mpirun(2, bin, args2), 0);
    assert_int_equal(ilr_test_mpirun(4, bin, args4), 0);
    assert_int_equal(ilr_test_mpirun(2, bin, args2z), 0);
    assert_int_equal(ilr_test_mpirun(4, bin, args4z), 0);
    size_t total_z, differ2z = ilr_test_weights_differing(run2z, run2, &total_z);
    size_t differ4z = ilr_test_weights_differing(run4z, run4, &total_z);
    /* the step-6 checkpoints: the moments gathered from the ranks' shares are the unsharded run's */
    char ck2[700], ck2z[700], ck4[700], ck4z[700];
    snprintf(ck2, sizeof ck2, "%s/checkpoint-000006", run2), snprintf(ck2z, sizeof ck2z, "%s/checkpoint-000006", run2z);
    snprintf(ck4, sizeof ck4, "%s/checkpoint-000006", run4), snprintf(ck4z, sizeof ck4z, "%s/checkpoint-000006", run4z);
    size_t opt_bytes, model_bytes;
    int same_ckpt = same_file(ck2z, ck2, "optimizer.safetensors", &opt_bytes) + same_file(ck4z, ck4, "optimizer.safetensors", &opt_bytes) +
                    same_file(ck2z, ck2, "model.safetensors", &model_bytes) + same_file(ck4z, ck4, "model.safetensors", &model_bytes);
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
    print_message("dist sft zero1 (--zero1): 2 ranks %zu of %zu weights differ from the 2-rank run without it, 4 ranks "
                  "%zu (bit for bit expected); step-6 checkpoints (optimizer.safetensors %zu bytes, model %zu) the same "
                  "bytes as without it: %d of 4 files\n", differ2z, total_z, differ4z, opt_bytes, model_bytes, same_ckpt);
    assert_int_equal(differ2z, 0);
    assert_int_equal(differ4z, 0);
    assert_int_equal(same_ckpt, 4);
    ilr_test_rmtree(fx.dir);
    ilr_test_mpi_end();
}

/* Copies run directory from to `to` (replacing it). */
static void copy_run(const char *from, const char *to) {
    char cmd[1400];
    ilr_test_rmtree(to);
    snprintf(cmd, sizeof cmd, "cp -r '%s' '%s'", from, to);
    assert_int_equal(system(cmd), 0);
}

/* A ZeRO-1 checkpoint is an ordinary one: 3 GRPO steps over 2 ranks with and without train.zero1 write the same
 * step-3 checkpoint byte for byte (the moments gathered from the ranks' shares); resumed to step 6 over 1 and 3
 * ranks (ZeRO-1 kept on: a no-op over 1, a new split over 3; without it for the unsharded one), both end on the same
 * weights bit for bit; and over 2 ranks the ZeRO-1 resume ends where the uninterrupted ZeRO-1 run did. */
static void test_zero1_checkpoint_resumes_over_any_ranks(void **state) {
    (void)state;
    const char *bin;
    if (!ilr_test_mpi_ready(&bin)) skip();
    ilr_test_sum_fixture fx;
    ilr_test_sum_fixture_setup(&fx, "dist-zero1");
    char cfg3[256], cfg6[256], sharded[600], plain[600], straight[600], out_plain[700], out_straight[700];
    snprintf(sharded, sizeof sharded, "%s/zero1", fx.dir);
    snprintf(plain, sizeof plain, "%s/plain", fx.dir);
    snprintf(straight, sizeof straight, "%s/zero1-straight", fx.dir);
    snprintf(out_plain, sizeof out_plain, "output_dir=%s", plain);
    snprintf(out_straight, sizeof out_straight, "output_dir=%s", straight);
    write_config(cfg3, &fx, "three.yaml", sharded, 3, "  save_every: 3\n  zero1: true\n");
    write_config(cfg6, &fx, "six.yaml", straight, 6, "  save_every: 3\n  zero1: true\n");
    /* a constant learning rate: a 3-step run resumed to step 6 then takes the 6-step run's steps */
    char *args_sharded[] = {"train", cfg3, "optim.lr_schedule=constant", NULL};
    char *args_plain[] = {"train", cfg3, out_plain, "train.zero1=false", "optim.lr_schedule=constant", NULL};
    char *args_straight[] = {"train", cfg6, "optim.lr_schedule=constant", NULL};
    assert_int_equal(ilr_test_mpirun(2, bin, args_sharded), 0);
    assert_int_equal(ilr_test_mpirun(2, bin, args_plain), 0);
    assert_int_equal(ilr_test_mpirun(2, bin, args_straight), 0);
    char ck_sharded[700], ck_plain[700];
    snprintf(ck_sharded, sizeof ck_sharded, "%s/checkpoint-000003", sharded);
    snprintf(ck_plain, sizeof ck_plain, "%s/checkpoint-000003", plain);
    size_t opt_bytes, model_bytes;
    assert_true(same_file(ck_sharded, ck_plain, "optimizer.safetensors", &opt_bytes));
    assert_true(same_file(ck_sharded, ck_plain, "model.safetensors", &model_bytes));
    assert_true(opt_bytes > 8 * 700000); /* every parameter's two moments, not one rank's share */

    size_t differ[4], total;
    const int ranks[3] = {1, 3, 2};
    for (int i = 0; i < 3; i++) {
        char a[700], b[700];
        snprintf(a, sizeof a, "%s-on-%d", sharded, ranks[i]);
        snprintf(b, sizeof b, "%s-on-%d", plain, ranks[i]);
        copy_run(sharded, a);
        copy_run(plain, b);
        char *resume_a[] = {"train", "--resume", a, "train.steps=6", NULL};
        char *resume_b[] = {"train", "--resume", b, "train.steps=6", NULL};
        assert_int_equal(ilr_test_mpirun(ranks[i], bin, resume_a), 0);
        assert_int_equal(ilr_test_mpirun(ranks[i], bin, resume_b), 0);
        differ[i] = ilr_test_weights_differing(a, b, &total);
        if (ranks[i] == 2) differ[3] = ilr_test_weights_differing(a, straight, &total);
    }
    print_message("dist zero1 checkpoint: step 3 over 2 ranks with and without ZeRO-1: optimizer.safetensors (%zu bytes) "
                  "and model.safetensors (%zu) the same bytes; resumed to step 6, weights differing from the unsharded "
                  "checkpoint's resume: over 1 rank %zu, over 3 ranks %zu, over 2 ranks %zu of %zu; the 2-rank ZeRO-1 "
                  "resume against the uninterrupted 2-rank ZeRO-1 run: %zu differ\n", opt_bytes, model_bytes, differ[0],
                  differ[1], differ[2], total, differ[3]);
    for (int i = 0; i < 4; i++) assert_int_equal(differ[i], 0);
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
    cmocka_unit_test(test_zero1_shards_match_the_whole),
    cmocka_unit_test(test_grpo_ranks_match_one_process),
    cmocka_unit_test(test_sft_ranks_match_one_process),
    cmocka_unit_test(test_zero1_checkpoint_resumes_over_any_ranks),
    cmocka_unit_test(test_kill_one_rank_then_resume),
    cmocka_unit_test(test_hung_rank_ends_the_job),
    cmocka_unit_test(test_eval_ranks_match_one_process),
};

ILR_TEST_GROUP(dist, tests)
