/* The GPU generation engine against the CPU one: the cached-attention and sampling kernels against their CPU
 * twins; the engine's logits against the CPU engine's over prefill, shared-prefix copies and mixed decode calls
 * (the PyTorch-checked fixture models of tests/data/transformer), and its greedy choices (equal but at
 * near-ties); rollout log-probabilities against the GPU and CPU training forwards (what GRPO's
 * ratio compares); repeatability; and a generator reading a training state's weights.  Skips with a message
 * without a CUDA build or a GPU. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

#ifndef ILR_CUDA

static void test_cuda_generate_not_built(void **state) {
    (void)state;
    print_message("skipped: this build has no CUDA backend (make CUDA=1 builds it; it needs nvcc and a GPU)\n");
    skip();
}

static const struct CMUnitTest tests[] = {cmocka_unit_test(test_cuda_generate_not_built)};
ILR_TEST_GROUP(cuda_generate, tests)

#else

#include "cuda_test_util.h"
#include "ilr/cuda.h"
#include "ilr/error.h"
#include "ilr/generate.h"
#include "ilr/kernels.h"
#include "ilr/rng.h"
#include "ilr/sampler.h"
#include "ilr/transformer.h"
#include "ilr/transformer_cuda.h"


static ilr_rng rng;

static float *random_bf16_values(size_t n, float scale) { return ilr_cuda_test_random_bf16(&rng, n, scale); }
#define dev_bf16 ilr_cuda_test_dev_bf16
#define dev_copy ilr_cuda_test_dev_copy
#define host_of_bf16 ilr_cuda_test_host_of_bf16


/* ---- kernels ---- */

/* n rows over caches of S slots x L positions; rows of one slot in increasing positions, as generation makes them. */
static void check_cached_attention(int n, int S, int L, int NH, int NKV, int HD) {
    size_t KD = (size_t)NKV * HD, nq = (size_t)n * NH * HD, nc = (size_t)S * L * KD;
    float *q = random_bf16_values(nq, 1), *kc = random_bf16_values(nc, 1), *vc = random_bf16_values(nc, 1);
    float *out = malloc(nq * sizeof(float)), *scores = malloc(sizeof(float) * L * 64);
    int *slots = malloc(sizeof(int) * n), *pos = malloc(sizeof(int) * n);
    for (int i = 0; i < n; i++) slots[i] = i % S, pos[i] = i == 0 ? 0 : (int)ilr_rng_below(&rng, (uint32_t)L);
    pos[n - 1] = L - 1; /* the longest: several tiles */
    ilr_attention_cached(out, q, kc, vc, (size_t)L, slots, pos, n, NH, NKV, HD, scores, L);
    ilr_bf16 *gq = dev_bf16(q, nq), *gk = dev_bf16(kc, nc), *gv = dev_bf16(vc, nc);
    ilr_bf16 *gout = ilr_cuda_alloc(nq * sizeof(ilr_bf16), "test");
    int *gslots = dev_copy(slots, sizeof(int) * n), *gpos = dev_copy(pos, sizeof(int) * n);
    assert_true(ilr_cuda_attention_cached_supported(NH, NKV, HD));
    ilr_cuda_attention_cached(gout, gq, gk, gv, L, gslots, gpos, n, NH, NKV, HD);
    float *got = host_of_bf16(gout, nq);
    double e = ilr_test_rel_err(got, out, nq);
    print_message("cached attention %d rows, %d slots x %d, %d/%d heads of %d: rel err %.2e\n", n, S, L, NH, NKV, HD, e);
    assert_true(e < 1e-2);
    /* the same bits again */
    ilr_cuda_attention_cached(gout, gq, gk, gv, L, gslots, gpos, n, NH, NKV, HD);
    float *again = host_of_bf16(gout, nq);
    assert_memory_equal(got, again, nq * sizeof(float));
    void *dev[] = {gq, gk, gv, gout, gslots, gpos};
    for (size_t i = 0; i < sizeof dev / sizeof dev[0]; i++) ilr_cuda_free(dev[i]);
    free(q), free(kc), free(vc), free(out), free(scores), free(slots), free(pos), free(got), free(again);
}

static void test_cached_attention(void **state) {
    (void)state;
    NEED_GPU();
    ilr_rng_init(&rng, 31, 0);
    check_cached_attention(64, 64, 300, 14, 2, 64);  /* qwen2.5-0.5b's heads (a block per query head) */
    check_cached_attention(300, 100, 150, 14, 2, 64); /* enough rows for a block per KV head's group */
    check_cached_attention(9, 3, 513, 32, 8, 128);   /* llama-3-8b's */
    check_cached_attention(5, 2, 40, 4, 4, 32);      /* no grouping */
    check_cached_attention(3, 1, 1, 4, 1, 16);       /* one key */
    assert_false(ilr_cuda_attention_cached_supported(34, 2, 64));
}

/* n rows of V logits: the GPU's draws against ilr_sample's with the same uniform (each row's stream). */
static void check_sampling(int n, int V, float temperature, float spread) {
    float *logits = random_bf16_values((size_t)n * V, spread);
    if (V > 10) logits[3] = logits[7] = 2 * spread; /* a tie for the largest in row 0: the lower id wins */
    ilr_sampler_params p = {temperature, 0, 1.0f, 0.0f};
    ilr_sampler_scratch s;
    assert_int_equal(ilr_sampler_scratch_init(&s, V), 0);
    int *ids = malloc(sizeof(int) * n), *gids = malloc(sizeof(int) * n);
    float *lps = malloc(sizeof(float) * n), *glps = malloc(sizeof(float) * n);
    double *u = malloc(sizeof(double) * n);
    for (int r = 0; r < n; r++) {
        ilr_rng a, b;
        ilr_rng_init(&a, 77, (uint64_t)r), ilr_rng_init(&b, 77, (uint64_t)r);
        u[r] = ilr_rng_uniform_f64(&a);
        ids[r] = ilr_sample(logits + (size_t)r * V, V, &p, &b, &s, &lps[r]);
    }
    float *glogits = dev_copy(logits, sizeof(float) * (size_t)n * V);
    double *gu = dev_copy(u, sizeof(double) * n);
    int *gid = ilr_cuda_alloc(sizeof(int) * n, "test");
    float *glp = ilr_cuda_alloc(sizeof(float) * n, "test");
    ilr_cuda_sample(gid, glp, glogits, n, V, temperature, gu);
    assert_int_equal(ilr_cuda_sync(), 0);
    assert_int_equal(ilr_cuda_download(gids, gid, sizeof(int) * n), 0);
    assert_int_equal(ilr_cuda_download(glps, glp, sizeof(float) * n), 0);
    int same = 0;
    double worst_lp = 0;
    for (int r = 0; r < n; r++)
        if (gids[r] == ids[r]) same++, worst_lp = fmax(worst_lp, fabs(glps[r] - lps[r]));
    print_message("sampling %d rows of %d at T %.2f: %d draws equal to the CPU sampler's, log-prob max diff %.1e\n", n,
                  V, (double)temperature, same, worst_lp);
    if (temperature == 0.0f) {
        assert_int_equal(same, n);
        if (V > 10) assert_int_equal(gids[0], 3);
    } else {
        assert_true(same >= n - n / 50); /* a draw at a weight boundary may round to the neighbour */
    }
    assert_true(worst_lp < 1e-4);
    ilr_cuda_free(glogits), ilr_cuda_free(gu), ilr_cuda_free(gid), ilr_cuda_free(glp);
    ilr_sampler_scratch_free(&s);
    free(logits), free(ids), free(gids), free(lps), free(glps), free(u);
}

static void test_sampling(void **state) {
    (void)state;
    NEED_GPU();
    ilr_rng_init(&rng, 32, 0);
    check_sampling(64, 5000, 0.0f, 8);
    check_sampling(200, 5000, 1.0f, 8);
    check_sampling(200, 1000, 0.6f, 3);
    check_sampling(4, 151936, 1.0f, 10); /* Qwen2.5's vocabulary */
}

/* ---- the engine ---- */

static void load(ilr_model *m, const char *name) {
    char dir[128];
    snprintf(dir, sizeof dir, "tests/data/transformer/%s", name);
    assert_int_equal(ilr_model_load(m, dir), 0);
}

static void expect_logits(const char *name, const char *what, const float *gpu, const float *cpu, size_t n) {
    double e = ilr_test_rel_err(gpu, cpu, n);
    print_message("%s: %-44s logits rel err %.2e\n", name, what, e);
    assert_true(e < 3e-2);
}

/* The GPU engine's logits against the CPU engine's: a prefill, copies of it to two more slots, then calls mixing
 * one new token per slot and several tokens of one slot. */
static void check_engine_logits(const char *name) {
    ilr_model m;
    load(&m, name);
    int V = m.config.vocab_size;
    ilr_generator cpu, gpu;
    assert_int_equal(ilr_gen_init(&cpu, &m, 4, 64), 0);
    assert_int_equal(ilr_gen_init_on(&gpu, &m, 4, 64, ILR_DEVICE_CUDA), 0);
    float *lc = malloc(sizeof(float) * V * 8), *lg = malloc(sizeof(float) * V * 8);
    int prompt[30];
    for (int i = 0; i < 30; i++) prompt[i] = (i * 37 + 5) % V;
    assert_int_equal(ilr_gen_prefill(&cpu, 0, prompt, 30, lc), 0);
    assert_int_equal(ilr_gen_prefill(&gpu, 0, prompt, 30, lg), 0);
    expect_logits(name, "prefill of 30 tokens, the last row", lg, lc, V);
    for (int s = 1; s < 3; s++) ilr_gen_copy_slot(&cpu, 0, s), ilr_gen_copy_slot(&gpu, 0, s);
    int slots[3] = {0, 1, 2}, tokens[3] = {11, 12, 13};
    assert_int_equal(ilr_gen_forward(&cpu, slots, tokens, 3, NULL, lc), 0);
    assert_int_equal(ilr_gen_forward(&gpu, slots, tokens, 3, NULL, lg), 0);
    expect_logits(name, "one token in each of 3 copied slots", lg, lc, (size_t)3 * V);
    int mix_slots[6] = {3, 3, 3, 1, 2, 3}, mix_tokens[6] = {1, 2, 3, 4, 5, 6};
    unsigned char want[6] = {1, 0, 1, 1, 1, 1};
    assert_int_equal(ilr_gen_forward(&cpu, mix_slots, mix_tokens, 6, want, lc), 0);
    assert_int_equal(ilr_gen_forward(&gpu, mix_slots, mix_tokens, 6, want, lg), 0);
    expect_logits(name, "a mixed call (4 tokens of a new slot, 2 others)", lg, lc, (size_t)5 * V);
    assert_int_equal(gpu.length[3], 4);
    int slot = 0, bad = V;
    ILR_EXPECT_ERROR(ilr_gen_forward(&gpu, &slot, &bad, 1, NULL, lg), ILR_EINVAL, "is not in");
    free(lc), free(lg);
    ilr_gen_free(&cpu);
    ilr_gen_free(&gpu);
    ilr_model_free(&m);
}

static void test_engine_logits(void **state) {
    (void)state;
    NEED_GPU();
    check_engine_logits("qwen2");
    check_engine_logits("llama");
}

/* Generates on the GPU and scores the sequences with the GPU and CPU training forwards at the same temperature:
 * the rollout log-probabilities GRPO takes as "old" against what its update recomputes. */
static void check_rollout_logprobs(const char *name, float temperature, float top_p) {
    ilr_model m;
    load(&m, name);
    enum { P = 3, G = 4, NEW = 24, PROMPT = 9 };
    int prompts_data[P][PROMPT], lens[P];
    const int *prompts[P];
    for (int p = 0; p < P; p++) {
        for (int i = 0; i < PROMPT; i++) prompts_data[p][i] = (p * 101 + i * 13 + 3) % m.config.vocab_size;
        prompts[p] = prompts_data[p], lens[p] = PROMPT - p;
    }
    ilr_gen_options opt = {.sampler = {temperature, 0, top_p, 0.0f}, .max_new_tokens = NEW, .ignore_eos = 1, .seed = 9};
    ilr_generator gpu;
    assert_int_equal(ilr_gen_init_on(&gpu, &m, P * G, PROMPT + NEW, ILR_DEVICE_CUDA), 0);
    print_message("%s: T %.1f top-p %.1f: tokens drawn %s\n", name, (double)temperature, (double)top_p,
                  ilr_gen_samples_on_device(&gpu, &opt.sampler) ? "on the GPU" : "on the host from GPU logits");
    ilr_gen_output out[P * G], again[P * G];
    assert_int_equal(ilr_generate(&gpu, NULL, prompts, lens, P, G, &opt, out), 0);
    assert_int_equal(ilr_generate(&gpu, NULL, prompts, lens, P, G, &opt, again), 0);
    int T = PROMPT + NEW, Bn = P * G;
    int *tokens = calloc((size_t)Bn * T, sizeof(int)), *targets = malloc(sizeof(int) * Bn * T), seq_lens[P * G];
    for (int b = 0; b < Bn; b++) {
        assert_int_equal(out[b].count, NEW);
        assert_memory_equal(out[b].ids, again[b].ids, sizeof(int) * NEW); /* repeatable to the bit */
        assert_memory_equal(out[b].logprobs, again[b].logprobs, sizeof(float) * NEW);
        int p = b / G;
        memcpy(tokens + (size_t)b * T, prompts[p], sizeof(int) * lens[p]);
        memcpy(tokens + (size_t)b * T + lens[p], out[b].ids, sizeof(int) * NEW);
        seq_lens[b] = lens[p] + NEW;
        for (int t = 0; t < T; t++) targets[b * T + t] = t >= lens[p] - 1 && t < seq_lens[b] - 1 ? tokens[b * T + t + 1] : -1;
    }
    ilr_cuda_transformer gtr;
    ilr_transformer ctr;
    assert_int_equal(ilr_cuda_transformer_init(&gtr, &m, Bn, T), 0);
    assert_int_equal(ilr_transformer_init(&ctr, &m, Bn, T), 0);
    gtr.temperature = ctr.temperature = ilr_sampler_logprob_temperature(&opt.sampler);
    assert_int_equal(ilr_cuda_transformer_forward(&gtr, tokens, seq_lens, NULL, targets, Bn, T), 0);
    ilr_transformer_forward(&ctr, tokens, seq_lens, targets, Bn, T);
    double worst_gpu = 0, worst_cpu = 0, mean_gpu = 0;
    int distinct = 0;
    for (int b = 0; b < Bn; b++) {
        int p = b / G;
        for (int k = 0; k < NEW; k++) {
            int t = lens[p] - 1 + k;
            double dg = fabs(out[b].logprobs[k] - gtr.logprob[b * T + t]), dc = fabs(out[b].logprobs[k] - ctr.logprob[b * T + t]);
            worst_gpu = fmax(worst_gpu, dg), worst_cpu = fmax(worst_cpu, dc), mean_gpu += dg / (Bn * NEW);
        }
        if (b % G && memcmp(out[b].ids, out[b - 1].ids, sizeof(int) * NEW)) distinct++;
    }
    print_message("%s: rollout log-probs vs the GPU training forward: max %.4f mean %.5f; vs the CPU's (fp32): max "
                  "%.4f; %d of %d samples differ from their neighbour\n",
                  name, worst_gpu, mean_gpu, worst_cpu, distinct, P * (G - 1));
    assert_true(worst_gpu < 0.05);
    assert_true(mean_gpu < 0.01);
    assert_true(worst_cpu < 0.1);
    if (temperature > 0.5f) assert_true(distinct > 0); /* samples of one prompt are not all the same */
    for (int b = 0; b < Bn; b++) ilr_gen_output_free(&out[b]), ilr_gen_output_free(&again[b]);
    ilr_cuda_transformer_free(&gtr);
    ilr_transformer_free(&ctr);
    ilr_gen_free(&gpu);
    free(tokens), free(targets);
    ilr_model_free(&m);
}

static void test_rollout_logprobs(void **state) {
    (void)state;
    NEED_GPU();
    check_rollout_logprobs("qwen2", 1.0f, 1.0f);
    check_rollout_logprobs("llama", 0.7f, 1.0f);
    check_rollout_logprobs("qwen2", 0.0f, 1.0f);
    check_rollout_logprobs("llama", 1.0f, 0.9f); /* top-p: logits to the host's sampler */
}

/* Greedy: the CPU engine decodes 40 tokens; the GPU engine is fed the same tokens.  At each step the GPU's
 * argmax is the CPU's, or the CPU's margin between the two tokens is within twice that step's largest logit
 * difference (only a near-tie can flip; the fixtures' logits are not peaked, so some steps are near-ties). */
static void test_greedy_matches_cpu(void **state) {
    (void)state;
    NEED_GPU();
    const char *names[2] = {"qwen2", "llama"};
    for (int k = 0; k < 2; k++) {
        ilr_model m;
        load(&m, names[k]);
        int V = m.config.vocab_size, prompt[6] = {5, 17, 99, 3, 250, 8}, slot = 0, flips = 0;
        ilr_generator cpu, gpu;
        assert_int_equal(ilr_gen_init(&cpu, &m, 1, 64), 0);
        assert_int_equal(ilr_gen_init_on(&gpu, &m, 1, 64, ILR_DEVICE_CUDA), 0);
        float *lc = malloc(sizeof(float) * V), *lg = malloc(sizeof(float) * V);
        assert_int_equal(ilr_gen_prefill(&cpu, 0, prompt, 6, lc), 0);
        assert_int_equal(ilr_gen_prefill(&gpu, 0, prompt, 6, lg), 0);
        for (int step = 0; step < 40; step++) {
            int bc = 0, bg = 0;
            double diff = 0;
            for (int v = 0; v < V; v++) {
                bc = lc[v] > lc[bc] ? v : bc, bg = lg[v] > lg[bg] ? v : bg;
                diff = fmax(diff, fabs(lc[v] - lg[v]));
            }
            if (bc != bg) {
                flips++;
                print_message("%s step %d: GPU argmax %d, CPU %d: CPU margin %.4f, largest logit difference %.4f\n",
                              names[k], step, bg, bc, lc[bc] - lc[bg], diff);
                assert_true(lc[bc] - lc[bg] <= 2 * diff);
            }
            assert_int_equal(ilr_gen_forward(&cpu, &slot, &bc, 1, NULL, lc), 0);
            assert_int_equal(ilr_gen_forward(&gpu, &slot, &bc, 1, NULL, lg), 0);
        }
        print_message("%s: greedy over 40 steps, the GPU's choice differs from the CPU's at %d near-ties\n", names[k], flips);
        assert_true(flips <= 8);
        free(lc), free(lg);
        ilr_gen_free(&cpu), ilr_gen_free(&gpu);
        ilr_model_free(&m);
    }
}

/* Decode steps replayed from CUDA graphs (padded to 8 rows) against plain launches of the same steps: the same
 * tokens but where a rounding of the padded matmuls flips a draw, and log-probabilities within bf16 noise. */
static void test_graphs_match_plain_launches(void **state) {
    (void)state;
    NEED_GPU();
    ilr_model m;
    load(&m, "qwen2");
    enum { P = 5, G = 3, NEW = 30 };
    int data[P][4], lens[P];
    const int *prompts[P];
    for (int p = 0; p < P; p++) {
        for (int i = 0; i < 4; i++) data[p][i] = (p * 31 + i * 7 + 1) % m.config.vocab_size;
        prompts[p] = data[p], lens[p] = 4;
    }
    ilr_gen_options opt = {.sampler = {1.0f, 0, 1.0f, 0.0f}, .max_new_tokens = NEW, .ignore_eos = 1, .seed = 3};
    ilr_gen_output with[P * G], without[P * G];
    ilr_generator g;
    assert_int_equal(ilr_gen_init_on(&g, &m, P * G, 4 + NEW, ILR_DEVICE_CUDA), 0);
    assert_int_equal(ilr_generate(&g, NULL, prompts, lens, P, G, &opt, with), 0);
    ilr_gen_free(&g);
    setenv("ILR_CUDA_GRAPHS", "0", 1);
    assert_int_equal(ilr_gen_init_on(&g, &m, P * G, 4 + NEW, ILR_DEVICE_CUDA), 0);
    unsetenv("ILR_CUDA_GRAPHS");
    assert_int_equal(ilr_generate(&g, NULL, prompts, lens, P, G, &opt, without), 0);
    int agreeing = 0;
    double worst = 0;
    for (int b = 0; b < P * G; b++) {
        for (int k = 0; k < NEW && with[b].ids[k] == without[b].ids[k]; k++, agreeing++)
            worst = fmax(worst, fabs(with[b].logprobs[k] - without[b].logprobs[k]));
        ilr_gen_output_free(&with[b]), ilr_gen_output_free(&without[b]);
    }
    print_message("graphs vs plain launches: %d of %d tokens in agreeing prefixes, log-prob max diff %.4f\n", agreeing,
                  P * G * NEW, worst);
    assert_true(agreeing >= P * G * NEW * 8 / 10);
    assert_true(worst < 0.02);
    ilr_gen_free(&g);
    ilr_model_free(&m);
}

/* A generator reading a GPU training state's weights follows its optimizer steps: its logits equal those of a
 * generator with its own copy of the downloaded weights. */
static void test_shared_weights(void **state) {
    (void)state;
    NEED_GPU();
    ilr_model m;
    load(&m, "qwen2");
    int V = m.config.vocab_size, T = 20, lens[1] = {20};
    ilr_cuda_transformer tr;
    assert_int_equal(ilr_cuda_transformer_init(&tr, &m, 1, T), 0);
    ilr_generator shared, own;
    assert_int_equal(ilr_gen_init_cuda_shared(&shared, &m, 1, T, tr.params, tr.params_bf16), 0);
    int tokens[20], targets[20];
    for (int t = 0; t < T; t++) tokens[t] = (t * 7 + 1) % V, targets[t] = t + 1 < T ? tokens[t + 1] : -1;
    float *a = malloc(sizeof(float) * V), *b = malloc(sizeof(float) * V), *before = malloc(sizeof(float) * V);
    assert_int_equal(ilr_gen_prefill(&shared, 0, tokens, T, before), 0);
    float dlp[20];
    for (int t = 0; t < T; t++) dlp[t] = targets[t] >= 0 ? -1.0f : 0.0f;
    ilr_cuda_transformer_zero_grad(&tr);
    assert_int_equal(ilr_cuda_transformer_forward(&tr, tokens, lens, NULL, targets, 1, T), 0);
    assert_int_equal(ilr_cuda_transformer_backward(&tr, dlp), 0);
    ilr_adamw_params hp = {1e-2f, 0.9f, 0.99f, 1e-8f, 0.0f};
    double norm;
    assert_int_equal(ilr_cuda_transformer_adamw_step(&tr, &hp, 1.0f, &norm), 0);
    assert_int_equal(ilr_cuda_transformer_download_params(&tr), 0);
    ilr_gen_reset_slot(&shared, 0);
    assert_int_equal(ilr_gen_prefill(&shared, 0, tokens, T, a), 0);
    assert_int_equal(ilr_gen_init_on(&own, &m, 1, T, ILR_DEVICE_CUDA), 0);
    assert_int_equal(ilr_gen_prefill(&own, 0, tokens, T, b), 0);
    assert_memory_equal(a, b, sizeof(float) * V);
    assert_true(ilr_test_rel_err(a, before, V) > 1e-3); /* the step moved them */
    /* an own copy follows the host weights when told */
    for (size_t i = 0; i < m.table.total; i++) m.params[i] *= 0.5f;
    assert_int_equal(ilr_gen_weights_changed(&own), 0);
    ilr_gen_reset_slot(&own, 0);
    assert_int_equal(ilr_gen_prefill(&own, 0, tokens, T, b), 0);
    assert_true(ilr_test_rel_err(b, a, V) > 1e-2);
    print_message("a generator on a training state's weights follows its AdamW step to the bit\n");
    free(a), free(b), free(before);
    ilr_gen_free(&shared), ilr_gen_free(&own);
    ilr_cuda_transformer_free(&tr);
    ilr_model_free(&m);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_cached_attention), cmocka_unit_test(test_sampling),
    cmocka_unit_test(test_engine_logits),    cmocka_unit_test(test_rollout_logprobs),
    cmocka_unit_test(test_greedy_matches_cpu), cmocka_unit_test(test_graphs_match_plain_launches),
    cmocka_unit_test(test_shared_weights),
};
ILR_TEST_GROUP_SETUP(cuda_generate, tests, ilr_cuda_test_setup, NULL)

#endif
