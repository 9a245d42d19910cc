/* GRPO's arithmetic (ilr/grpo_loss.h) against a float64 reference: advantages, aggregation weights, the
 * clipped-ratio loss and its gradient on a toy policy, the k3 KL; and the update (ilr/grpo.h) on a tiny model:
 * the gradient does not depend on the micro-batch size, statistics cover every iteration, and masked or
 * zero-advantage completions are not trained. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ilr/grpo.h"
#include "ilr/grpo_loss.h"
#include "ilr/rng.h"
#include "test_util.h"

static void test_advantages_match_reference(void **state) {
    (void)state;
    const float r[8] = {1.1f, 0.1f, 0.0f, 1.0f, /* group 2 */ 0.1f, 0.1f, 1.1f, 0.0f};
    float adv[8];
    const char *names[] = {"group", "batch", "none"};
    for (int scale = 0; scale < 3; scale++) {
        ilr_grpo_advantages(adv, r, 2, 4, (ilr_grpo_scale)scale, NULL);
        double all_mean = 0, all_var = 0;
        for (int k = 0; k < 8; k++) all_mean += r[k];
        all_mean /= 8;
        for (int k = 0; k < 8; k++) all_var += (r[k] - all_mean) * (r[k] - all_mean);
        double max_err = 0;
        for (int g = 0; g < 2; g++) {
            double m = 0, v = 0;
            for (int k = 0; k < 4; k++) m += r[g * 4 + k];
            m /= 4;
            for (int k = 0; k < 4; k++) v += (r[g * 4 + k] - m) * (r[g * 4 + k] - m);
            double denom = scale == 0 ? sqrt(v / 3) + 1e-4 : scale == 1 ? sqrt(all_var / 7) + 1e-4 : 1;
            for (int k = 0; k < 4; k++) {
                double want = (r[g * 4 + k] - m) / denom;
                max_err = fmax(max_err, fabs(adv[g * 4 + k] - want));
            }
        }
        printf("advantages (%s): max abs err %.2e over 8 values\n", names[scale], max_err);
        assert_true(max_err < 1e-5);
    }
}

static void test_advantages_of_equal_rewards_are_zero(void **state) {
    (void)state;
    /* 0.1 is not exact in binary: a mean that picked up rounding must still give exactly 0 */
    const float r[12] = {0.1f, 0.1f, 0.1f, 0.1f, 0, 0, 0, 0, 1.1f, 1.1f, 1.1f, 1.1f};
    float adv[12];
    for (int scale = 0; scale < 3; scale++) {
        int zero = -1;
        ilr_grpo_advantages(adv, r, 3, 4, (ilr_grpo_scale)scale, &zero);
        assert_int_equal(zero, 3);
        for (int k = 0; k < 12; k++) {
            assert_false(isnan(adv[k]));
            assert_true(adv[k] == 0.0f);
        }
    }
    /* a batch of equal rewards, batch scaling: std 0, still 0 */
    printf("advantages: 3 groups of equal rewards give exactly 0 under every scaling\n");
}

static void test_sequence_weights(void **state) {
    (void)state;
    const int len[4] = {4, 10, 6, 3};
    const unsigned char masked[4] = {0, 0, 1, 0};
    float w[4];
    ilr_grpo_sequence_weights(w, len, masked, 4, ILR_GRPO_LOSS_DAPO, 16);
    for (int s = 0; s < 4; s++) assert_float_equal(w[s], s == 2 ? 0 : 1.0 / 17, 1e-9);
    ilr_grpo_sequence_weights(w, len, masked, 4, ILR_GRPO_LOSS_GRPO, 16);
    /* grpo and dr_grpo average over all 4 sequences, the masked one included (TRL) */
    for (int s = 0; s < 4; s++) assert_float_equal(w[s], s == 2 ? 0 : 1.0 / (4.0 * len[s]), 1e-9);
    ilr_grpo_sequence_weights(w, len, masked, 4, ILR_GRPO_LOSS_DR_GRPO, 16);
    for (int s = 0; s < 4; s++) assert_float_equal(w[s], s == 2 ? 0 : 1.0 / (4.0 * 16), 1e-9);
    printf("sequence weights: dapo 1/17 (unmasked tokens), grpo 1/(4 len), dr_grpo 1/64 (all 4 sequences, as TRL), "
           "the masked one 0\n");
}

/* ---- the loss on a toy policy ----
 * S completions; token t of completion s has its own logits theta[s][t][0..V) and a fixed sampled token.
 * The float path: log-softmax in float, ilr_grpo_token_loss, chain rule to theta.  The reference: the
 * same loss written out in double, differentiated by central differences. */
enum { S = 4, TMAX = 5, V = 6 };
static const int seq_len[S] = {5, 3, 4, 2};

typedef struct {
    double theta[S][TMAX][V];
    int token[S][TMAX];
    double old_lp[S][TMAX], ref_lp[S][TMAX];
    double adv[S], weight[S];
} toy;

static double log_softmax_at(const double *z, int id) {
    double m = z[0], sum = 0;
    for (int v = 1; v < V; v++) m = fmax(m, z[v]);
    for (int v = 0; v < V; v++) sum += exp(z[v] - m);
    return z[id] - m - log(sum);
}

static double reference_loss(const toy *p, const ilr_grpo_loss_params *hp) {
    double total = 0;
    for (int s = 0; s < S; s++)
        for (int t = 0; t < seq_len[s]; t++) {
            double l = log_softmax_at(p->theta[s][t], p->token[s][t]), rho = exp(l - p->old_lp[s][t]);
            double c = fmin(fmax(rho, 1 - (double)hp->eps_low), 1 + (double)hp->eps_high);
            double loss = -fmin(rho * p->adv[s], c * p->adv[s]);
            double d = p->ref_lp[s][t] - l;
            loss += hp->beta * (exp(d) - d - 1);
            total += p->weight[s] * loss;
        }
    return total;
}

static void make_toy(toy *p, ilr_grpo_loss_type type) {
    ilr_rng rng;
    ilr_rng_init(&rng, 11, 3);
    memset(p, 0, sizeof *p);
    const double adv[S] = {1.3, -0.7, 0.9, -1.6};
    for (int s = 0; s < S; s++) {
        p->adv[s] = (float)adv[s];
        for (int t = 0; t < seq_len[s]; t++) {
            for (int v = 0; v < V; v++) p->theta[s][t][v] = ilr_rng_normal(&rng);
            p->token[s][t] = (int)ilr_rng_below(&rng, V);
            double l = log_softmax_at(p->theta[s][t], p->token[s][t]);
            /* ratios spread over every region: well below 0.8, inside, well above 1.28 */
            const double log_ratio[5] = {-0.5, -0.05, 0.0, 0.1, 0.6};
            p->old_lp[s][t] = l - log_ratio[(s + t) % 5];
            p->ref_lp[s][t] = l + 0.3 * ilr_rng_normal(&rng);
        }
    }
    int len[S];
    float w[S];
    for (int s = 0; s < S; s++) len[s] = seq_len[s];
    ilr_grpo_sequence_weights(w, len, NULL, S, type, TMAX);
    for (int s = 0; s < S; s++) p->weight[s] = w[s];
}

static void check_loss_case(ilr_grpo_loss_type type, float eps_low, float eps_high, float beta) {
    toy p;
    make_toy(&p, type);
    ilr_grpo_loss_params hp = {eps_low, eps_high, beta};
    double loss = 0, max_rel = 0, max_grad = 0;
    double grad[S][TMAX][V];
    for (int s = 0; s < S; s++) {
        float lp[TMAX], old[TMAX], ref[TMAX], dlp[TMAX];
        for (int t = 0; t < seq_len[s]; t++) {
            /* the float path: log-softmax in float as the model computes it */
            float z[V], m = -INFINITY, sum = 0;
            for (int v = 0; v < V; v++) z[v] = (float)p.theta[s][t][v], m = fmaxf(m, z[v]);
            for (int v = 0; v < V; v++) sum += expf(z[v] - m);
            lp[t] = z[p.token[s][t]] - m - logf(sum);
            old[t] = (float)p.old_lp[s][t];
            ref[t] = (float)p.ref_lp[s][t];
        }
        loss += ilr_grpo_token_loss(dlp, lp, old, beta > 0 ? ref : NULL, seq_len[s], (float)p.adv[s], (float)p.weight[s],
                                    &hp, NULL);
        for (int t = 0; t < seq_len[s]; t++) {
            double pr[V], m = p.theta[s][t][0], sum = 0;
            for (int v = 1; v < V; v++) m = fmax(m, p.theta[s][t][v]);
            for (int v = 0; v < V; v++) sum += pr[v] = exp(p.theta[s][t][v] - m);
            for (int v = 0; v < V; v++) grad[s][t][v] = dlp[t] * ((v == p.token[s][t]) - pr[v] / sum);
        }
    }
    double want = reference_loss(&p, &hp);
    for (int s = 0; s < S; s++)
        for (int t = 0; t < seq_len[s]; t++)
            for (int v = 0; v < V; v++) {
                const double h = 1e-6, keep = p.theta[s][t][v];
                p.theta[s][t][v] = keep + h;
                double up = reference_loss(&p, &hp);
                p.theta[s][t][v] = keep - h;
                double down = reference_loss(&p, &hp);
                p.theta[s][t][v] = keep;
                double fd = (up - down) / (2 * h);
                max_grad = fmax(max_grad, fabs(fd));
                max_rel = fmax(max_rel, fabs(grad[s][t][v] - fd));
            }
    max_rel /= max_grad;
    double loss_err = fabs(loss - want) / fmax(fabs(want), 1e-12);
    const char *names[] = {"dapo", "grpo", "dr_grpo"};
    printf("grpo loss %-7s clip [%.2f, %.2f] beta %.2f: loss %.6f vs float64 %.6f (rel err %.1e), gradient max err "
           "%.1e of max |grad| %.3f over %d values\n",
           names[type], 1 - eps_low, 1 + eps_high, beta, loss, want, loss_err, max_rel, max_grad, 14 * V);
    assert_true(loss_err < 1e-5);
    assert_true(max_rel < 1e-4);
    assert_true(max_grad > 1e-3); /* the case moved something */
}

static void test_loss_and_gradient_every_case(void **state) {
    (void)state;
    for (int type = 0; type < 3; type++) {
        check_loss_case((ilr_grpo_loss_type)type, 0.2f, 0.2f, 0.0f);  /* GRPO's symmetric clip */
        check_loss_case((ilr_grpo_loss_type)type, 0.2f, 0.28f, 0.0f); /* DAPO's clip-higher */
        check_loss_case((ilr_grpo_loss_type)type, 0.2f, 0.28f, 0.04f); /* with the KL term */
    }
}

static void test_clip_counts_and_zero_gradient_where_clipped(void **state) {
    (void)state;
    /* rho = exp(l - old): 0.5 (below 0.8), 1.0, 1.5 (above 1.2) */
    const float lp[3] = {-1.0f, -1.0f, -1.0f}, old[3] = {-1.0f + 0.6931472f, -1.0f, -1.0f - 0.4054651f};
    ilr_grpo_loss_params hp = {0.2f, 0.2f, 0.0f};
    float d[3];
    ilr_grpo_token_stats st = {0};
    ilr_grpo_token_loss(d, lp, old, NULL, 3, -1.0f, 1.0f, &hp, &st); /* A < 0: the low clip binds at rho 0.5 */
    assert_float_equal(d[0], 0.0, 0);
    assert_float_equal(d[1], 1.0, 1e-6);  /* -rho A = 1 */
    assert_float_equal(d[2], 1.5, 1e-5);  /* rho above the range with A < 0: unclipped term is the min */
    assert_float_equal(st.low_clip, 1, 0);
    assert_float_equal(st.high_clip, 0, 0);
    memset(&st, 0, sizeof st);
    ilr_grpo_token_loss(d, lp, old, NULL, 3, 2.0f, 1.0f, &hp, &st); /* A > 0: the high clip binds at 1.5 */
    assert_float_equal(d[0], -1.0, 1e-6);
    assert_float_equal(d[1], -2.0, 1e-6);
    assert_float_equal(d[2], 0.0, 0);
    assert_float_equal(st.high_clip, 1, 0);
    assert_float_equal(st.low_clip, 0, 0);
    printf("clipping: gradient 0 exactly where the clipped term binds, counted once each side\n");
}

static void test_kl_k3_value_and_gradient(void **state) {
    (void)state;
    const double pairs[][2] = {{-1.0, -1.0}, {-2.0, -0.5}, {-0.3, -4.0}, {-7.0, -6.9}, {-0.01, -3.0}};
    double max_err = 0, max_grad_err = 0;
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        double l = pairs[i][0], ref = pairs[i][1], g;
        double kl = ilr_grpo_kl_k3(l, ref, &g);
        double want = exp(ref - l) - (ref - l) - 1;
        assert_true(kl >= 0);
        max_err = fmax(max_err, fabs(kl - want));
        const double h = 1e-6;
        double fd = (ilr_grpo_kl_k3(l + h, ref, NULL) - ilr_grpo_kl_k3(l - h, ref, NULL)) / (2 * h);
        max_grad_err = fmax(max_grad_err, fabs(g - fd));
    }
    double g0;
    assert_true(ilr_grpo_kl_k3(-1.5, -1.5, &g0) == 0 && g0 == 0);
    printf("kl k3: value max err %.1e, gradient max err %.1e (central differences) over 5 pairs; 0 at l = l_ref\n",
           max_err, max_grad_err);
    assert_true(max_err < 1e-12);
    assert_true(max_grad_err < 1e-7);
}

/* ---- the update on a tiny model ---- */

enum { UB_GROUPS = 3, UB_G = 4 };

/* A tiny random Llama as a policy (recompute: its training state recomputes activations in backward), and a
 * batch of 3 groups x 4 completions of random tokens with rewards (group 2's all equal: no gradient) and one
 * truncated completion (masked). */
/* The tiny random Llama (vocabulary 64) with a training state for micro_batch rows of T tokens; *cfg its config. */
static void tiny_policy(ilr_policy *p, ilr_model_config *cfg, int micro_batch, int T, int recompute) {
    assert_int_equal(ilr_config_from_shape("tiny", ILR_ARCH_LLAMA, cfg), 0);
    cfg->vocab_size = 64;
    memset(p, 0, sizeof *p);
    assert_int_equal(ilr_model_create(&p->model, cfg), 0);
    ilr_model_init_random(&p->model, 11);
    assert_int_equal(ilr_train_state_init(&p->ts, &p->model, micro_batch, T, ILR_DEVICE_CPU, recompute), 0);
}

static long update_fixture_with(ilr_policy *p, ilr_rollout_batch *b, int micro_batch, int recompute) {
    long trainable_tokens = 0; /* of the completions with a gradient: not group 2, not the masked one */
    ilr_model_config cfg;
    tiny_policy(p, &cfg, micro_batch, 32, recompute);
    ilr_rng rng;
    ilr_rng_init(&rng, 5, 0);
    ilr_rollout_batch_init(b);
    const float rewards[UB_GROUPS][UB_G] = {{1, 0, 0.1f, 1.1f}, {0, 0, 1, 0.1f}, {0.1f, 0.1f, 0.1f, 0.1f}};
    for (int g = 0; g < UB_GROUPS; g++) {
        int prompt[6];
        for (int t = 0; t < 6; t++) prompt[t] = 1 + (int)ilr_rng_below(&rng, 63);
        assert_int_equal(ilr_rollout_batch_group(b), 0);
        for (int k = 0; k < UB_G; k++) {
            ilr_gen_output o = {0};
            o.count = 3 + (int)ilr_rng_below(&rng, 8);
            o.ids = malloc(sizeof(int) * (size_t)o.count);
            o.logprobs = malloc(sizeof(float) * (size_t)o.count);
            for (int t = 0; t < o.count; t++) o.ids[t] = 1 + (int)ilr_rng_below(&rng, 63), o.logprobs[t] = -4.0f - ilr_rng_uniform(&rng) * 0.2f;
            o.reason = g == 1 && k == 3 ? ILR_STOP_LENGTH : ILR_STOP_EOS;
            if (g != 2 && o.reason == ILR_STOP_EOS) trainable_tokens += o.count;
            ilr_task_score sc = {rewards[g][k], rewards[g][k] >= 1, 1, "test", ""};
            assert_int_equal(ilr_rollout_batch_add(b, prompt, 6, &o, &sc), 0);
        }
    }
    int zero;
    ilr_rollout_batch_finish(b, ILR_GRPO_SCALE_GROUP, ILR_GRPO_LOSS_DAPO, 10, 1, &zero);
    assert_int_equal(zero, 1);
    return trainable_tokens;
}

static long update_fixture(ilr_policy *p, ilr_rollout_batch *b, int micro_batch) {
    return update_fixture_with(p, b, micro_batch, 0);
}

static void update_free(ilr_policy *p, ilr_rollout_batch *b) {
    ilr_rollout_batch_free(b);
    ilr_train_state_free(&p->ts);
    ilr_model_free(&p->model);
}

static ilr_grpo_update_params update_params(int micro_batch, int mu) {
    ilr_grpo_update_params hp = {.loss = {0.2f, 0.28f, 0.0f}, .num_iterations = mu, .micro_batch = micro_batch,
                                 .temperature = 1.0f, .lr = {1e-3f, 0, 10, 0.0f, ILR_LR_CONSTANT},
                                 .adam_beta1 = 0.9f, .adam_beta2 = 0.999f, .adam_eps = 1e-8f, .max_grad_norm = 0};
    return hp;
}

static void test_update_micro_batch_invariant(void **state) {
    (void)state;
    /* the gradient of one iteration with micro-batches of 1, 3 and 12 sequences */
    const int sizes[3] = {1, 3, 12};
    float *grads[3];
    size_t n = 0;
    long expected_tokens = 0;
    ilr_grpo_update_stats st[3];
    for (int v = 0; v < 3; v++) {
        ilr_policy p;
        ilr_rollout_batch b;
        expected_tokens = update_fixture(&p, &b, sizes[v]);
        ilr_grpo_update_params hp = update_params(sizes[v], 1);
        assert_int_equal(ilr_grpo_update(&p, &b, &hp, &st[v]), 0);
        n = p.model.table.total;
        grads[v] = malloc(sizeof(float) * n);
        memcpy(grads[v], p.ts.cpu.grads, sizeof(float) * n); /* max_grad_norm 0: AdamW leaves the gradient as it was */
        update_free(&p, &b);
    }
    double worst = 0, scale = 0;
    for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(grads[2][i]));
    for (int v = 0; v < 2; v++)
        for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs(grads[v][i] - grads[2][i]) / scale);
    assert_true(scale > 0);
    assert_true(worst < 1e-5);
    /* what was trained: 12 completions less the equal-reward group (4) less the masked one */
    for (int v = 0; v < 3; v++) assert_int_equal(st[v].trained_tokens, expected_tokens);
    print_message("grpo update: the gradient with micro-batches of 1 and 3 equals that of one batch of 12 (max err "
                  "%.1e of the largest entry, %zu values); %ld tokens trained (7 of 12 completions: an equal-reward "
                  "group and a masked one have no gradient)\n", worst, n, st[0].trained_tokens);
    for (int v = 0; v < 3; v++) free(grads[v]);
}

static void test_update_stats_cover_iterations(void **state) {
    (void)state;
    ilr_policy p;
    ilr_rollout_batch b;
    update_fixture(&p, &b, 4);
    ilr_grpo_update_stats one, three;
    ilr_grpo_update_params hp = update_params(4, 1);
    assert_int_equal(ilr_grpo_update(&p, &b, &hp, &one), 0);
    update_free(&p, &b);
    update_fixture(&p, &b, 4);
    hp = update_params(4, 3);
    assert_int_equal(ilr_grpo_update(&p, &b, &hp, &three), 0);
    /* the token statistics count every iteration's tokens; entropy only over trained (unmasked) completions */
    assert_float_equal(three.tok.tokens, 3 * one.tok.tokens, 0);
    assert_float_equal(three.entropy_tokens, 3 * one.entropy_tokens, 0);
    assert_float_equal(one.entropy_tokens, (double)one.trained_tokens, 0);
    assert_int_equal(three.trained_tokens, one.trained_tokens);
    assert_int_equal(ilr_train_state_step(&p.ts), 3);
    /* later iterations move away from the sampling policy, so some ratios leave the clip range */
    assert_true(three.tok.low_clip + three.tok.high_clip >= one.tok.low_clip + one.tok.high_clip);
    print_message("grpo update, mu 3: %g token statistics (3 x %g), entropy over %g trained tokens per iteration; "
                  "clipped %g (mu 1: %g)\n", three.tok.tokens, one.tok.tokens, one.entropy_tokens,
                  three.tok.low_clip + three.tok.high_clip, one.tok.low_clip + one.tok.high_clip);
    update_free(&p, &b);
}

/* A CPU generator reading bf16 weights follows the policy: after the update its logits are those of a new bf16
 * copy of the updated weights, not the old copy's. */
static void test_update_refreshes_bf16_generator(void **state) {
    (void)state;
    ilr_policy p;
    ilr_rollout_batch b;
    update_fixture(&p, &b, 4);
    assert_int_equal(ilr_gen_init(&p.gen, &p.model, 1, 32), 0);
    assert_int_equal(ilr_gen_set_weights(&p.gen, ILR_GEN_WEIGHTS_BF16), 0);
    int nv = p.model.config.vocab_size, prompt[4] = {3, 9, 27, 17};
    float before[64], after[64], want[64];
    assert_int_equal(ilr_gen_prefill(&p.gen, 0, prompt, 4, before), 0);
    ilr_grpo_update_params hp = update_params(4, 2);
    ilr_grpo_update_stats st;
    assert_int_equal(ilr_grpo_update(&p, &b, &hp, &st), 0);
    ilr_gen_reset_slot(&p.gen, 0);
    assert_int_equal(ilr_gen_prefill(&p.gen, 0, prompt, 4, after), 0);
    ilr_generator fresh;
    assert_int_equal(ilr_gen_init(&fresh, &p.model, 1, 32), 0);
    assert_int_equal(ilr_gen_set_weights(&fresh, ILR_GEN_WEIGHTS_BF16), 0);
    assert_int_equal(ilr_gen_prefill(&fresh, 0, prompt, 4, want), 0);
    double moved = 0;
    for (int v = 0; v < nv; v++) moved = fmax(moved, fabs(after[v] - before[v]));
    print_message("grpo update with a bf16 generator: 2 optimizer steps move its logits by up to %.2e, and they equal "
                  "a new bf16 copy's of the updated weights to the bit\n", moved);
    assert_true(moved > 1e-3);
    assert_memory_equal(after, want, sizeof(float) * (size_t)nv);
    ilr_gen_free(&fresh);
    ilr_gen_free(&p.gen);
    update_free(&p, &b);
}

/* Two GRPO updates (mu 2, micro-batches of 5 padded sequences at temperature 0.8) with and without activation
 * recomputation: the same weights and AdamW moments, bit for bit. */
static void test_update_with_recompute_is_exact(void **state) {
    (void)state;
    ilr_policy kept, recomputed;
    ilr_rollout_batch b1, b2;
    update_fixture_with(&kept, &b1, 5, 0);
    update_fixture_with(&recomputed, &b2, 5, 1);
    ilr_grpo_update_params hp = update_params(5, 2);
    hp.temperature = 0.8f;
    ilr_grpo_update_stats st;
    assert_int_equal(ilr_grpo_update(&kept, &b1, &hp, &st), 0);
    assert_int_equal(ilr_grpo_update(&recomputed, &b2, &hp, &st), 0);
    size_t n = kept.model.table.total;
    assert_true(recomputed.ts.cpu.recompute);
    assert_memory_equal(kept.model.params, recomputed.model.params, sizeof(float) * n);
    assert_memory_equal(kept.ts.cpu.adam_v, recomputed.ts.cpu.adam_v, sizeof(float) * n);
    print_message("grpo update with recomputed activations: %zu weights and second moments equal bit for bit after "
                  "2 iterations\n", n);
    update_free(&kept, &b1);
    update_free(&recomputed, &b2);
}

/* ---- shared prompts ---- */

/* A batch for prompt sharing, on the tiny policy (rows of 40 tokens, a reference model when beta > 0): group 0 and
 * group 1 have the same prompt ids (two groups, one prompt), group 0 has an empty completion, group 2 has one
 * completion with a loss (its other is truncated and masked), group 3's six completions of 9-10 tokens need two
 * documents behind their 6-token prompt.  (At beta 0 the shared update runs 4 rows, one of them holding two
 * prompts' documents, where the unshared runs 10.) */
static void share_fixture(ilr_policy *p, ilr_rollout_batch *b, int micro_batch, int with_ref) {
    /* (a reference model when beta > 0: the policy's weights scaled by 1.02) */
    ilr_model_config cfg;
    tiny_policy(p, &cfg, micro_batch, 40, 0);
    if (with_ref) {
        assert_int_equal(ilr_model_create(&p->ref_model, &cfg), 0);
        /* the starting weights, a little off (so that the KL is not 0 at the first iteration) */
        for (size_t i = 0; i < p->model.table.total; i++) p->ref_model.params[i] = p->model.params[i] * 1.02f;
        assert_int_equal(ilr_transformer_init_forward_only(&p->ref_tr, &p->ref_model, micro_batch, 40), 0);
        p->has_ref = 1;
    }
    ilr_rng rng;
    ilr_rng_init(&rng, 9, 0);
    ilr_rollout_batch_init(b);
    enum { GROUPS = 4 };
    static const int sizes[GROUPS] = {4, 3, 2, 6};
    int prompts[GROUPS][6];
    for (int g = 0; g < GROUPS; g++)
        for (int t = 0; t < 6; t++) prompts[g][t] = g == 1 ? prompts[0][t] : 1 + (int)ilr_rng_below(&rng, 63);
    for (int g = 0; g < GROUPS; g++) {
        assert_int_equal(ilr_rollout_batch_group(b), 0);
        for (int k = 0; k < sizes[g]; k++) {
            ilr_gen_output o = {0};
            o.count = g == 0 && k == 2 ? 0 : g == 3 ? 9 + k % 2 : 3 + (int)ilr_rng_below(&rng, 8);
            o.ids = malloc(sizeof(int) * (size_t)(o.count + 1));
            o.logprobs = malloc(sizeof(float) * (size_t)(o.count + 1));
            for (int t = 0; t < o.count; t++) o.ids[t] = 1 + (int)ilr_rng_below(&rng, 63), o.logprobs[t] = -4.0f - ilr_rng_uniform(&rng) * 0.2f;
            o.reason = g == 2 && k == 1 ? ILR_STOP_LENGTH : ILR_STOP_EOS;
            float r = (float)((k * 7 + g) % 3) * 0.5f;
            ilr_task_score sc = {r, r >= 1, 1, "test", ""};
            assert_int_equal(ilr_rollout_batch_add(b, prompts[g], 6, &o, &sc), 0);
        }
    }
    int zero;
    ilr_rollout_batch_finish(b, ILR_GRPO_SCALE_NONE, ILR_GRPO_LOSS_DAPO, 10, 1, &zero);
}

static void share_free(ilr_policy *p, ilr_rollout_batch *b) {
    if (p->has_ref) ilr_transformer_free(&p->ref_tr), ilr_model_free(&p->ref_model);
    update_free(p, b);
}

/* The update with and without prompt sharing, micro-batches of 3 rows, beta 0 and 0.04 (reference log-probs taken
 * over shared rows too), mu 1 and 2: the same loss, entropy and KL (relative 1e-5), the same gradient (mu 1: at the
 * rollout weights; relative to its largest entry 1e-5) and the same weights after the AdamW steps.  The weights are
 * compared in units of the learning rate: AdamW moves a weight by about lr * g / (|g| + eps) whatever |g|, so a
 * gradient entry near eps turns float rounding into a visible step (measured: up to 0.03 lr in the release build,
 * 0.05 lr under the sanitizers, whose code rounds differently); they must agree to 0.25 lr. */
static void test_update_shared_prompt_equals_unshared(void **state) {
    (void)state;
    const float betas[2] = {0.0f, 0.04f};
    for (int bi = 0; bi < 2; bi++)
        for (int mu = 1; mu <= 2; mu++) {
            ilr_policy p[2];
            ilr_rollout_batch b[2];
            ilr_grpo_update_stats st[2];
            for (int share = 0; share < 2; share++) {
                share_fixture(&p[share], &b[share], 3, betas[bi] > 0);
                ilr_grpo_update_params hp = update_params(3, mu);
                hp.loss.beta = betas[bi];
                hp.share_prompt = share;
                assert_int_equal(ilr_grpo_update(&p[share], &b[share], &hp, &st[share]), 0);
            }
            size_t n = p[0].model.table.total;
            double e_grad = ilr_test_rel_err(p[1].ts.cpu.grads, p[0].ts.cpu.grads, n);
            double e_w = 0;
            for (size_t i = 0; i < n; i++) e_w = fmax(e_w, fabs(p[1].model.params[i] - p[0].model.params[i]) / 1e-3);
            double e_loss = fabs(st[1].loss - st[0].loss) / fabs(st[0].loss);
            double e_ent = fabs(st[1].entropy - st[0].entropy) / st[0].entropy;
            double e_kl = betas[bi] > 0 ? fabs(st[1].tok.kl - st[0].tok.kl) / st[0].tok.kl : 0;
            double tol = mu == 1 ? 1e-5 : 1e-4, tol_w = 0.25;
            print_message("grpo update, beta %.2f, mu %d, prompts shared vs not: loss %.7f vs %.7f (rel err %.1e), "
                          "entropy rel err %.1e, kl rel err %.1e, last gradient max rel err %.1e, weights max abs diff %.1e "
                          "lr (%zu values)\n", betas[bi], mu, st[1].loss, st[0].loss, e_loss, e_ent, e_kl, e_grad, e_w, n);
            assert_true(e_loss < tol && e_ent < tol && e_kl < tol && e_grad < tol && e_w < tol_w);
            assert_true(st[0].loss != 0 && (betas[bi] == 0 || st[0].tok.kl > 0));
            assert_float_equal(st[1].tok.tokens, st[0].tok.tokens, 0);
            assert_int_equal(st[1].trained_tokens, st[0].trained_tokens);
            for (int share = 0; share < 2; share++) share_free(&p[share], &b[share]);
        }
}

/* ---- a small model's training state in lanes ---- */

/* The gradient of three micro-batches (7 rows of up to 24 tokens, then 5, then 1) and the first one's log-probabilities,
 * from a training state of the tiny model made with ILR_TRAIN_LANES=lanes, run on `threads` threads. */
static void lanes_run(int lanes, int threads, float *grads, float *logprob, int *made_lanes) {
    enum { B = 7, T = 24 };
    ilr_model_config cfg;
    ilr_model m;
    assert_int_equal(ilr_config_from_shape("tiny", ILR_ARCH_LLAMA, &cfg), 0);
    cfg.vocab_size = 64;
    assert_int_equal(ilr_model_create(&m, &cfg), 0);
    ilr_model_init_random(&m, 11);
    char value[8];
    snprintf(value, sizeof value, "%d", lanes);
    setenv("ILR_TRAIN_LANES", value, 1);
    ilr_train_state ts;
    assert_int_equal(ilr_train_state_init(&ts, &m, B, T, ILR_DEVICE_CPU, 0), 0);
    unsetenv("ILR_TRAIN_LANES");
    *made_lanes = ts.lanes;
    int before = omp_get_max_threads();
    omp_set_num_threads(threads);
    ilr_rng rng;
    ilr_rng_init(&rng, 17, 0);
    int tokens[B * T], targets[B * T], lengths[B];
    float dlogprob[B * T];
    ilr_train_state_zero_grad(&ts);
    for (int pass = 0; pass < 3; pass++) {
        int rows = pass == 2 ? 1 : pass ? 5 : B; /* the last: one row, the first lane alone with every thread */
        for (int b = 0; b < rows; b++) {
            lengths[b] = 6 + (int)ilr_rng_below(&rng, T - 5);
            for (int t = 0; t < T; t++) tokens[b * T + t] = 1 + (int)ilr_rng_below(&rng, 63);
        }
        for (int b = 0; b < rows; b++)
            for (int t = 0; t < T; t++) targets[b * T + t] = t + 1 < lengths[b] ? tokens[b * T + t + 1] : -1;
        assert_int_equal(ilr_train_state_forward(&ts, tokens, lengths, NULL, targets, rows, T, 1.0f), 0);
        if (!pass) memcpy(logprob, ts.logprob, sizeof(float) * B * T);
        ilr_sft_loss(dlogprob, ts.logprob, targets, rows * T);
        assert_int_equal(ilr_train_state_backward(&ts, dlogprob), 0);
    }
    assert_int_equal(ilr_train_state_sum_grads(&ts, NULL), 0); /* one process: the lanes' sum only */
    memcpy(grads, ts.cpu.grads, sizeof(float) * m.table.total);
    omp_set_num_threads(before);
    ilr_train_state_free(&ts);
    ilr_model_free(&m);
}

/* Rows split between 4 lanes (7 rows: 1, 2, 2, 2; then 5: 1, 1, 1, 2; then 1) against one transformer for all of them:
 * the same log-probabilities and gradient to float rounding; and the same bits on 1 thread as on 2, so a run
 * does not depend on the machine's thread count. */
static void test_train_state_lanes(void **state) {
    (void)state;
    ilr_model_config cfg;
    assert_int_equal(ilr_config_from_shape("tiny", ILR_ARCH_LLAMA, &cfg), 0);
    cfg.vocab_size = 64;
    size_t n = ilr_config_param_count(&cfg);
    float *one = malloc(sizeof(float) * n), *four = malloc(sizeof(float) * n), *four_1 = malloc(sizeof(float) * n);
    float lp_one[7 * 24], lp_four[7 * 24], lp_four_1[7 * 24];
    int lanes[3];
    lanes_run(1, 2, one, lp_one, &lanes[0]);
    lanes_run(4, 2, four, lp_four, &lanes[1]);
    lanes_run(4, 1, four_1, lp_four_1, &lanes[2]);
    assert_int_equal(lanes[0], 1);
    assert_int_equal(lanes[1], 4);
    double lp_err = 0, scale = 0, grad_err = 0;
    for (int i = 0; i < 7 * 24; i++) lp_err = fmax(lp_err, fabs(lp_four[i] - lp_one[i]));
    for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(one[i]));
    for (size_t i = 0; i < n; i++) grad_err = fmax(grad_err, fabs(four[i] - one[i]) / scale);
    printf("train state in 4 lanes vs 1 (3 micro-batches of 7, 5 and 1 rows): log-probs max abs diff %.1e, gradient max "
           "diff %.1e of the largest; 4 lanes on 1 thread vs 2: %s\n", lp_err, grad_err,
           memcmp(four, four_1, sizeof(float) * n) ? "differ" : "the same bits");
    assert_true(scale > 0);
    assert_true(lp_err < 1e-5);
    assert_true(grad_err < 1e-5);
    assert_memory_equal(four, four_1, sizeof(float) * n);
    assert_memory_equal(lp_four, lp_four_1, sizeof lp_four);
    free(one), free(four), free(four_1);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_update_micro_batch_invariant),
    cmocka_unit_test(test_train_state_lanes),
    cmocka_unit_test(test_update_shared_prompt_equals_unshared),
    cmocka_unit_test(test_update_stats_cover_iterations),
    cmocka_unit_test(test_update_refreshes_bf16_generator),
    cmocka_unit_test(test_update_with_recompute_is_exact),
    cmocka_unit_test(test_advantages_match_reference),
    cmocka_unit_test(test_advantages_of_equal_rewards_are_zero),
    cmocka_unit_test(test_sequence_weights),
    cmocka_unit_test(test_loss_and_gradient_every_case),
    cmocka_unit_test(test_clip_counts_and_zero_gradient_where_clipped),
    cmocka_unit_test(test_kl_k3_value_and_gradient),
};

ILR_TEST_GROUP(grpo, tests)
