/* The generation engine's KV-cache forward against the training forward (recomputed from scratch), batched
 * against one-by-one, and shared-prefix prefill against independent prefill; the sampling loop's
 * log-probabilities against the training forward's at the sampling temperature, and its stop conditions.
 * Uses the PyTorch-checked fixture models of tests/data/transformer (weights with std 0.1, so logits are
 * peaked). */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ilr/error.h"
#include "ilr/generate.h"
#include "ilr/tokenizer.h"
#include "ilr/transformer.h"
#include "test_util.h"


static int argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

static void load(ilr_model *m, const char *name) {
    char dir[128];
    snprintf(dir, sizeof dir, "tests/data/transformer/%s", name);
    assert_int_equal(ilr_model_load(m, dir), 0);
}

/* Greedy decoding with the cache: at every step the logits equal a full forward over the whole sequence. */
static void greedy_matches_full_forward(const char *name) {
    ilr_model m;
    load(&m, name);
    int V = m.config.vocab_size, T = 40, prompt[5] = {5, 17, 99, 3, 250};
    ilr_generator g;
    ilr_transformer tr;
    assert_int_equal(ilr_gen_init(&g, &m, 2, T), 0);
    assert_int_equal(ilr_transformer_init(&tr, &m, 1, T), 0);
    float *logits = malloc(sizeof(float) * V), *full = malloc(sizeof(float) * (size_t)V * T);
    int seq[40], targets[40], n = 5;
    memcpy(seq, prompt, sizeof prompt);
    assert_int_equal(ilr_gen_prefill(&g, 1, prompt, 5, logits), 0);
    double worst = 0;
    for (; n < T; n++) {
        for (int t = 0; t < n; t++) targets[t] = -1;
        ilr_transformer_forward(&tr, seq, &n, targets, 1, n);
        ilr_transformer_logits(&tr, full);
        worst = fmax(worst, ilr_test_rel_err(logits, full + (size_t)(n - 1) * V, (size_t)V));
        assert_int_equal(argmax(logits, V), argmax(full + (size_t)(n - 1) * V, V));
        seq[n] = argmax(logits, V);
        int slot = 1;
        assert_int_equal(ilr_gen_forward(&g, &slot, &seq[n], 1, NULL, logits), 0);
    }
    print_message("%s: greedy with the KV cache, %d steps: same tokens as full recomputation, logits max rel err %.2e\n",
                  name, T - 5, worst);
    assert_true(worst < 1e-4);
    int slot = 1;
    ILR_EXPECT_ERROR(ilr_gen_forward(&g, &slot, &seq[0], 1, NULL, logits), ILR_EINVAL, "slot 1 is full");
    /* a refused call leaves no trace: slot 0 (placed before the bad slot 7) then prefills as if first */
    int bad[2] = {0, 7}, two[2] = {prompt[0], prompt[1]};
    ILR_EXPECT_ERROR(ilr_gen_forward(&g, bad, two, 2, NULL, logits), ILR_EINVAL, "slot 7 out of range");
    assert_int_equal(g.length[0], 0);
    assert_int_equal(ilr_gen_prefill(&g, 0, prompt, 5, logits), 0);
    ilr_transformer_forward(&tr, prompt, (int[]){5}, targets, 1, 5);
    ilr_transformer_logits(&tr, full);
    assert_true(ilr_test_rel_err(logits, full + (size_t)4 * V, (size_t)V) < 1e-4);
    free(logits);
    free(full);
    ilr_gen_free(&g);
    ilr_transformer_free(&tr);
    ilr_model_free(&m);
}

static void test_greedy_qwen2(void **state) {
    (void)state;
    greedy_matches_full_forward("qwen2");
}

static void test_greedy_llama(void **state) {
    (void)state;
    greedy_matches_full_forward("llama");
}

/* Three sequences of different lengths decoded in one batch give the logits of decoding each alone; and a
 * prompt prefilled once and copied to other slots equals prefilling each slot. */
/* A long prompt prefilled in two calls (70 tokens, then 30 more: runs of one slot's rows, the blocked attention
 * kernel, the second after 70 cached positions): the last logits of each equal the full forward's. */
static void long_prefill_matches_full_forward(const char *name) {
    ilr_model m;
    load(&m, name);
    enum { T = 100 };
    int V = m.config.vocab_size, seq[T], targets[T], n = T;
    for (int t = 0; t < T; t++) seq[t] = (t * 37 + 11) % V, targets[t] = -1;
    ilr_generator g;
    ilr_transformer tr;
    assert_int_equal(ilr_gen_init(&g, &m, 1, T), 0);
    assert_int_equal(ilr_transformer_init(&tr, &m, 1, T), 0);
    float *first = malloc(sizeof(float) * V), *last = malloc(sizeof(float) * V), *full = malloc(sizeof(float) * (size_t)V * T);
    assert_int_equal(ilr_gen_prefill(&g, 0, seq, 70, first), 0);
    assert_int_equal(ilr_gen_prefill(&g, 0, seq + 70, 30, last), 0);
    ilr_transformer_forward(&tr, seq, &n, targets, 1, T);
    ilr_transformer_logits(&tr, full);
    double e1 = ilr_test_rel_err(first, full + (size_t)69 * V, (size_t)V), e2 = ilr_test_rel_err(last, full + (size_t)99 * V, (size_t)V);
    print_message("%s: prefill of 70 then 30 tokens (blocked attention) vs the full forward: last logits max rel err "
                  "%.1e, %.1e\n", name, e1, e2);
    assert_true(e1 < 1e-4 && e2 < 1e-4);
    free(first), free(last), free(full);
    ilr_gen_free(&g);
    ilr_transformer_free(&tr);
    ilr_model_free(&m);
}

static void test_long_prefill_qwen2(void **state) {
    (void)state;
    long_prefill_matches_full_forward("qwen2");
}

static void test_long_prefill_llama(void **state) {
    (void)state;
    long_prefill_matches_full_forward("llama");
}

static void test_batched_and_shared_prefix(void **state) {
    (void)state;
    ilr_model m;
    load(&m, "llama");
    int V = m.config.vocab_size;
    ilr_generator batched, single;
    assert_int_equal(ilr_gen_init(&batched, &m, 3, 32), 0);
    assert_int_equal(ilr_gen_init(&single, &m, 3, 32), 0);
    const int prompts[3][6] = {{1, 2, 3, 4, 5, 6}, {7, 8}, {9, 10, 11, 12}}, lens[3] = {6, 2, 4};
    float *a = malloc(sizeof(float) * 3 * V), *b = malloc(sizeof(float) * V);
    for (int s = 0; s < 3; s++) {
        assert_int_equal(ilr_gen_prefill(&batched, s, prompts[s], lens[s], b), 0);
        assert_int_equal(ilr_gen_prefill(&single, s, prompts[s], lens[s], b), 0);
    }
    double worst = 0;
    for (int step = 0; step < 5; step++) {
        int slots[3] = {0, 1, 2}, toks[3] = {20 + step, 30 + step, 40 + step};
        assert_int_equal(ilr_gen_forward(&batched, slots, toks, 3, NULL, a), 0);
        for (int s = 0; s < 3; s++) {
            assert_int_equal(ilr_gen_forward(&single, &slots[s], &toks[s], 1, NULL, b), 0);
            worst = fmax(worst, ilr_test_rel_err(a + (size_t)s * V, b, (size_t)V));
        }
    }
    print_message("batched decode of 3 sequences (lengths 6, 2, 4) vs one by one: max rel err %.2e\n", worst);
    assert_true(worst < 1e-5);
    /* shared prefix: slot 0 prefilled, copied to 1 and 2, then each continues differently */
    ilr_gen_reset_slot(&batched, 0);
    assert_int_equal(ilr_gen_prefill(&batched, 0, prompts[0], 6, b), 0);
    ilr_gen_copy_slot(&batched, 0, 1);
    ilr_gen_copy_slot(&batched, 0, 2);
    worst = 0;
    for (int s = 0; s < 3; s++) {
        int slots[1] = {s}, tok = 50 + s;
        assert_int_equal(ilr_gen_forward(&batched, slots, &tok, 1, NULL, a), 0);
        ilr_gen_reset_slot(&single, 0);
        assert_int_equal(ilr_gen_prefill(&single, 0, prompts[0], 6, b), 0);
        slots[0] = 0;
        assert_int_equal(ilr_gen_forward(&single, slots, &tok, 1, NULL, b), 0);
        worst = fmax(worst, ilr_test_rel_err(a, b, (size_t)V));
    }
    print_message("shared prefill copied to 3 slots vs independent prefill: max rel err %.2e\n", worst);
    assert_true(worst < 1e-6);
    free(a);
    free(b);
    ilr_gen_free(&batched);
    ilr_gen_free(&single);
    ilr_model_free(&m);
}

/* The worst |generated logprob - training forward's logprob| over completions out[0, n) of prompts (G per
 * prompt), the forward at temperature T. */
static double logprob_gap(ilr_transformer *tr, const int *const *prompts, const int *lens, const ilr_gen_output *out,
                          int n, int G, float T) {
    double worst = 0;
    tr->temperature = T;
    for (int k = 0; k < n; k++) {
        int seq[32], targets[32], p = k / G, len = lens[p] + out[k].count;
        memcpy(seq, prompts[p], sizeof(int) * (size_t)lens[p]);
        memcpy(seq + lens[p], out[k].ids, sizeof(int) * (size_t)out[k].count);
        ilr_next_token_targets(targets, seq, &len, 1, len);
        ilr_transformer_forward(tr, seq, &len, targets, 1, len);
        for (int i = 0; i < out[k].count; i++)
            worst = fmax(worst, fabs(out[k].logprobs[i] - tr->logprob[lens[p] - 1 + i]));
    }
    return worst;
}

/* The sampling loop: the same seed gives the same completions whatever the number of slots (so whatever the
 * batching); each token's log-probability is what the training forward computes for it at the sampling
 * temperature (1 for greedy), unfiltered by top-p, which is what GRPO's ratio needs; length limits and stop
 * tokens end sequences at the right token. */
static void test_generate_loop(void **state) {
    (void)state;
    ilr_model m;
    load(&m, "qwen2");
    const int p0[3] = {5, 6, 7}, p1[5] = {9, 8, 7, 6, 5}, p2[1] = {42};
    const int *prompts[3] = {p0, p1, p2}, lens[3] = {3, 5, 1};
    ilr_gen_options opt = {.sampler = {1.0f, 0, 0.95f, 0.0f}, .max_new_tokens = 12, .ignore_eos = 1, .seed = 77};
    ilr_gen_output a[6], b[6];
    ilr_generator small, big;
    assert_int_equal(ilr_gen_init(&small, &m, 2, 32), 0); /* one prompt (2 samples) per wave */
    assert_int_equal(ilr_gen_init(&big, &m, 8, 32), 0);  /* all three prompts at once */
    ilr_transformer tr;
    assert_int_equal(ilr_transformer_init(&tr, &m, 1, 32), 0);
    const float temps[3] = {0.7f, 0.0f, 1.0f}; /* the last one's outputs stay for the stop-token check */
    for (int t = 0; t < 3; t++) {
        opt.sampler.temperature = temps[t];
        assert_int_equal(ilr_generate(&small, NULL, prompts, lens, 3, 2, &opt, a), 0);
        assert_int_equal(ilr_generate(&big, NULL, prompts, lens, 3, 2, &opt, b), 0);
        int distinct = 0;
        for (int k = 0; k < 6; k++) {
            assert_int_equal(a[k].count, b[k].count);
            assert_memory_equal(a[k].ids, b[k].ids, sizeof(int) * (size_t)a[k].count);
            distinct += k % 2 == 1 && memcmp(a[k].ids, a[k - 1].ids, sizeof(int) * 3) != 0;
            assert_int_equal(a[k].reason, ILR_STOP_LENGTH);
            assert_int_equal(a[k].count, 12);
        }
        float lt = ilr_sampler_logprob_temperature(&opt.sampler);
        double worst = logprob_gap(&tr, prompts, lens, a, 6, 2, lt);
        double at_one = lt != 1.0f ? logprob_gap(&tr, prompts, lens, a, 6, 2, 1.0f) : worst;
        print_message("generate at T %.1f, top_p 0.95: 3 prompts x 2 samples identical with 2 and 8 slots; %d of 3 "
                      "sample pairs differ; logprobs vs training forward at T %.1f max abs err %.2e (at T 1: "
                      "%.2e)\n", (double)temps[t], distinct, (double)lt, worst, at_one);
        assert_true(worst < 1e-4);
        if (lt != 1.0f) assert_true(at_one > 1e-2); /* the comparison tells the temperatures apart */
        assert_true(temps[t] > 0 ? distinct >= 2 : distinct == 0);
        if (t < 2)
            for (int k = 0; k < 6; k++) ilr_gen_output_free(&a[k]), ilr_gen_output_free(&b[k]);
    }
    /* a stop token ends the sequence at that token */
    int stop = a[0].ids[4];
    opt.stop_ids = &stop;
    opt.num_stop_ids = 1;
    ilr_gen_output c[6];
    assert_int_equal(ilr_generate(&big, NULL, prompts, lens, 3, 2, &opt, c), 0);
    int first = 0;
    while (a[0].ids[first] != stop) first++;
    assert_int_equal(c[0].count, first + 1);
    assert_int_equal(c[0].reason, ILR_STOP_TOKEN);
    for (int k = 0; k < 6; k++) ilr_gen_output_free(&a[k]), ilr_gen_output_free(&b[k]), ilr_gen_output_free(&c[k]);
    ilr_transformer_free(&tr);
    ilr_gen_free(&small);
    ilr_gen_free(&big);
    ilr_model_free(&m);
}

/* Stop strings are found in the decoded text even when they span a token boundary: the sequence ends at the
 * token that completes the string, and the text is cut before it. */
static void test_stop_string_across_tokens(void **state) {
    (void)state;
    ilr_tokenizer *tok;
    assert_int_equal(ilr_tok_load(&tok, "tests/data/tokenizer/trained/qwen2"), 0);
    ilr_model_config cfg;
    assert_int_equal(ilr_config_from_shape("tiny", ILR_ARCH_LLAMA, &cfg), 0);
    cfg.vocab_size = ilr_tok_vocab_size(tok);
    cfg.num_eos = 0;
    ilr_model m;
    assert_int_equal(ilr_model_create(&m, &cfg), 0);
    ilr_model_init_random(&m, 5);
    ilr_generator g;
    assert_int_equal(ilr_gen_init(&g, &m, 1, 64), 0);
    const int prompt[3] = {300, 301, 302}, *prompts[1] = {prompt}, len = 3;
    ilr_gen_options opt = {.sampler = {0.0f, 0, 1.0f, 0.0f}, .max_new_tokens = 24, .seed = 1};
    ilr_gen_output free_run, stopped;
    assert_int_equal(ilr_generate(&g, tok, prompts, &len, 1, 1, &opt, &free_run), 0);
    /* the stop string: the last byte of token 5's text and the first of token 6's */
    char *before, *upto;
    size_t before_len, upto_len;
    assert_int_equal(ilr_tok_decode(tok, free_run.ids, 5, ILR_TOK_NO_CLEANUP, &before, &before_len), 0);
    assert_int_equal(ilr_tok_decode(tok, free_run.ids, 7, ILR_TOK_NO_CLEANUP, &upto, &upto_len), 0);
    assert_true(before_len >= 1 && upto_len > before_len + 1);
    char stop[3] = {before[before_len - 1], upto[before_len], 0};
    /* where that string first completes, token by token */
    int expect_count = 0;
    const char *first = NULL;
    for (int k = 1; k <= free_run.count && !first; k++) {
        char *t;
        size_t n;
        assert_int_equal(ilr_tok_decode(tok, free_run.ids, k, ILR_TOK_NO_CLEANUP, &t, &n), 0);
        if (strstr(t, stop)) expect_count = k, first = upto + (strstr(t, stop) - t);
        free(t);
    }
    const char *stops[1] = {stop};
    opt.stop_strings = stops;
    opt.num_stop_strings = 1;
    assert_int_equal(ilr_generate(&g, tok, prompts, &len, 1, 1, &opt, &stopped), 0);
    print_message("stop string \"%s\" spanning tokens 5 and 6 of \"%s\": stopped after %d tokens, text \"%s\"\n", stop,
                  upto, stopped.count, stopped.text);
    assert_int_equal(stopped.reason, ILR_STOP_STRING);
    assert_int_equal(stopped.count, expect_count);
    assert_int_equal(stopped.text_len, (size_t)(first - upto));
    assert_memory_equal(stopped.text, upto, stopped.text_len);
    /* an eos id of the model's config ends the sequence at its first occurrence, with reason eos */
    ilr_gen_output eos_run;
    m.config.num_eos = 1;
    m.config.eos_token_ids[0] = free_run.ids[3];
    opt.num_stop_strings = 0;
    assert_int_equal(ilr_generate(&g, tok, prompts, &len, 1, 1, &opt, &eos_run), 0);
    int first_eos = 0;
    while (free_run.ids[first_eos] != free_run.ids[3]) first_eos++;
    assert_int_equal(eos_run.reason, ILR_STOP_EOS);
    assert_int_equal(eos_run.count, first_eos + 1);
    assert_memory_equal(eos_run.ids, free_run.ids, sizeof(int) * (size_t)eos_run.count);
    ilr_gen_output_free(&eos_run);
    free(before);
    free(upto);
    ilr_gen_output_free(&free_run);
    ilr_gen_output_free(&stopped);
    ilr_gen_free(&g);
    ilr_model_free(&m);
    ilr_tok_free(tok);
}

/* An instruct model's end-of-turn id named only by generation_config.json ends generation there, with reason
 * eos, after a save and load of the model directory; config.json's eos (the one SFT appends) is unchanged. */
static void test_generation_config_eos_stops(void **state) {
    (void)state;
    ilr_model_config cfg;
    assert_int_equal(ilr_config_from_shape("tiny", ILR_ARCH_QWEN2, &cfg), 0);
    ilr_model m, loaded;
    assert_int_equal(ilr_model_create(&m, &cfg), 0);
    ilr_model_init_random(&m, 11);
    ilr_generator g;
    assert_int_equal(ilr_gen_init(&g, &m, 1, 64), 0);
    const int prompt[3] = {300, 301, 302}, *prompts[1] = {prompt}, len = 3;
    ilr_gen_options opt = {.sampler = {1.0f, 0, 1.0f, 0.0f}, .max_new_tokens = 24, .seed = 1}; /* sampled: varied */
    ilr_gen_output free_run, stopped;
    assert_int_equal(ilr_generate(&g, NULL, prompts, &len, 1, 1, &opt, &free_run), 0);
    assert_int_equal(free_run.reason, ILR_STOP_LENGTH);
    int first = 2, config_eos = 0; /* the end of turn: the first token at index >= 2 new there */
    for (int fresh = 0; !fresh; first += !fresh) {
        assert_true(first < free_run.count);
        fresh = 1;
        for (int i = 0; i < first; i++) fresh &= free_run.ids[i] != free_run.ids[first];
    }
    int turn_end = free_run.ids[first];
    for (int used = 1; used;) { /* config.json's eos: an id the free run never produces */
        used = 0;
        config_eos++;
        for (int i = 0; i < free_run.count; i++) used |= free_run.ids[i] == config_eos;
    }
    m.config.num_eos = 1;
    m.config.eos_token_ids[0] = config_eos;
    m.generation_config = json_pack("{s:[i, i]}", "eos_token_id", config_eos, turn_end);
    char dir[256];
    ilr_test_tmpdir(dir, "geneos");
    assert_int_equal(ilr_model_save(&m, dir, NULL), 0);
    assert_int_equal(ilr_model_load(&loaded, dir), 0);
    assert_int_equal(loaded.config.num_eos, 1);
    assert_int_equal(loaded.config.eos_token_ids[0], config_eos);
    ilr_gen_free(&g);
    assert_int_equal(ilr_gen_init(&g, &loaded, 1, 64), 0);
    assert_int_equal(ilr_generate(&g, NULL, prompts, &len, 1, 1, &opt, &stopped), 0);
    print_message("generation_config.json eos [%d, %d] (config.json: %d): stopped at token %d of %d with reason %s\n",
                  config_eos, turn_end, loaded.config.eos_token_ids[0], stopped.count, free_run.count,
                  ilr_stop_reason_name(stopped.reason));
    assert_int_equal(stopped.reason, ILR_STOP_EOS);
    assert_int_equal(stopped.count, first + 1);
    assert_memory_equal(stopped.ids, free_run.ids, sizeof(int) * (size_t)stopped.count);
    ilr_gen_output_free(&free_run);
    ilr_gen_output_free(&stopped);
    ilr_gen_free(&g);
    ilr_model_free(&m);
    ilr_model_free(&loaded);
    ilr_test_rmtree(dir);
}

/* ---- bf16 weights ---- */

/* The largest |a - b| over n values, relative to the largest |b|. */
static double rel_to_max(const float *a, const float *b, size_t n) {
    double diff = 0, scale = 1e-30;
    for (size_t i = 0; i < n; i++) diff = fmax(diff, fabs(a[i] - b[i])), scale = fmax(scale, fabs(b[i]));
    return diff / scale;
}

/* The bf16 engine's logits against the fp32 engine's on a fixture model: a 20-token prompt (prefill past
 * ILR_BF16_FEW_ROWS: the many-row path), then 12 greedy steps of 2 sequences (the few-row kernel), tokens taken
 * from the fp32 engine so both see the same sequence.  Returns the worst error relative to the largest logit. */
static double bf16_logit_gap(const char *name, ilr_gen_weights weights, double *worst_logprob) {
    ilr_model m;
    load(&m, name);
    int V = m.config.vocab_size, prompt[20];
    for (int i = 0; i < 20; i++) prompt[i] = (i * 37 + 5) % V;
    ilr_generator f32, bf16;
    assert_int_equal(ilr_gen_init(&f32, &m, 2, 40), 0);
    assert_int_equal(ilr_gen_init(&bf16, &m, 2, 40), 0);
    assert_int_equal(ilr_gen_set_weights(&bf16, weights), 0);
    assert_non_null(bf16.params_bf16);
    float *a = malloc(sizeof(float) * 2 * V), *b = malloc(sizeof(float) * 2 * V);
    double worst = 0;
    *worst_logprob = 0;
    for (int s = 0; s < 2; s++) {
        assert_int_equal(ilr_gen_prefill(&f32, s, prompt, 20 - s, a), 0);
        assert_int_equal(ilr_gen_prefill(&bf16, s, prompt, 20 - s, b), 0);
        worst = fmax(worst, rel_to_max(b, a, (size_t)V));
    }
    int slots[2] = {0, 1}, toks[2] = {3, 4};
    for (int step = 0; step < 12; step++) {
        assert_int_equal(ilr_gen_forward(&f32, slots, toks, 2, NULL, a), 0);
        assert_int_equal(ilr_gen_forward(&bf16, slots, toks, 2, NULL, b), 0);
        for (int s = 0; s < 2; s++) {
            const float *x = a + (size_t)s * V, *y = b + (size_t)s * V;
            worst = fmax(worst, rel_to_max(y, x, (size_t)V));
            /* log-probabilities of the fp32 engine's greedy token under both */
            double lx = 0, ly = 0, mx = x[argmax(x, V)], my = y[argmax(y, V)];
            for (int v = 0; v < V; v++) lx += exp(x[v] - mx), ly += exp(y[v] - my);
            toks[s] = argmax(x, V);
            *worst_logprob = fmax(*worst_logprob, fabs((x[toks[s]] - mx - log(lx)) - (y[toks[s]] - my - log(ly))));
        }
    }
    free(a), free(b);
    ilr_gen_free(&f32);
    ilr_gen_free(&bf16);
    ilr_model_free(&m);
    return worst;
}

static void test_bf16_logits(void **state) {
    (void)state;
    const char *names[2] = {"qwen2", "llama"};
    ilr_gen_weights kinds[2] = {ILR_GEN_WEIGHTS_BF16, ILR_GEN_WEIGHTS_BF16_ACT};
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < 2; i++) {
            double lp, gap = bf16_logit_gap(names[i], kinds[k], &lp);
            print_message("%s, %s weights vs fp32: prefill of 20 and 19 tokens + 12 decode steps of 2 sequences, logits "
                          "max err %.2e of the largest logit; greedy token's logprob max abs err %.2e\n", names[i],
                          ilr_gen_weights_name(kinds[k]), gap, lp);
            assert_true(gap > 0);    /* the weights were really rounded */
            assert_true(gap < 2e-2); /* the stated tolerance (README: bf16 weights) */
            assert_true(lp < 5e-2);
        }
    ilr_gen_weights w;
    assert_int_equal(ilr_gen_weights_parse("bf16-act", &w), 0);
    assert_int_equal(w, ILR_GEN_WEIGHTS_BF16_ACT);
    assert_string_equal(ilr_gen_weights_name(w), "bf16-act");
    assert_int_not_equal(ilr_gen_weights_parse("bf16act", &w), 0);
}

/* Rollout log-probs from a bf16 generator against the fp32 training forward at the sampling temperature (what
 * GRPO's ratio compares them with); then the copy follows the weights only when told they changed. */
static void test_bf16_rollout_logprobs_and_refresh(void **state) {
    (void)state;
    ilr_model m;
    load(&m, "qwen2");
    const int p0[3] = {5, 6, 7}, p1[5] = {9, 8, 7, 6, 5};
    const int *prompts[2] = {p0, p1}, lens[2] = {3, 5};
    ilr_gen_options opt = {.sampler = {0.7f, 0, 1.0f, 0.0f}, .max_new_tokens = 12, .ignore_eos = 1, .seed = 9};
    ilr_generator g, fresh;
    assert_int_equal(ilr_gen_init(&g, &m, 4, 32), 0);
    assert_int_equal(ilr_gen_set_weights(&g, ILR_GEN_WEIGHTS_BF16), 0);
    ilr_transformer tr;
    assert_int_equal(ilr_transformer_init(&tr, &m, 1, 32), 0);
    ilr_gen_output out[4];
    assert_int_equal(ilr_generate(&g, NULL, prompts, lens, 2, 2, &opt, out), 0);
    double gap = logprob_gap(&tr, prompts, lens, out, 4, 2, 0.7f);
    print_message("bf16 rollouts at T 0.7 (2 prompts x 2 samples x 12 tokens): logprobs vs the fp32 training forward "
                  "max abs err %.2e (fp32 rollouts: < 1e-4)\n", gap);
    assert_true(gap > 1e-4 && gap < 5e-2);
    for (int k = 0; k < 4; k++) ilr_gen_output_free(&out[k]);
    /* an "optimizer step": the copy keeps the old weights until ilr_gen_weights_changed, then equals a new copy */
    int V = m.config.vocab_size;
    float *before = malloc(sizeof(float) * V), *stale = malloc(sizeof(float) * V), *after = malloc(sizeof(float) * V),
          *want = malloc(sizeof(float) * V);
    ilr_gen_reset_slot(&g, 0);
    assert_int_equal(ilr_gen_prefill(&g, 0, p1, 5, before), 0);
    for (size_t i = 0; i < m.table.total; i++) m.params[i] *= 1.05f;
    ilr_gen_reset_slot(&g, 0);
    assert_int_equal(ilr_gen_prefill(&g, 0, p1, 5, stale), 0);
    assert_int_equal(ilr_gen_weights_changed(&g), 0);
    ilr_gen_reset_slot(&g, 0);
    assert_int_equal(ilr_gen_prefill(&g, 0, p1, 5, after), 0);
    assert_int_equal(ilr_gen_init(&fresh, &m, 1, 32), 0);
    assert_int_equal(ilr_gen_set_weights(&fresh, ILR_GEN_WEIGHTS_BF16), 0);
    assert_int_equal(ilr_gen_prefill(&fresh, 0, p1, 5, want), 0);
    double moved = rel_to_max(after, before, (size_t)V), stale_gap = rel_to_max(stale, want, (size_t)V);
    print_message("bf16 copy refresh: weights x1.05 move the logits by %.2e of the largest; before "
                  "ilr_gen_weights_changed the engine still reads the old matrices (%.2e from the new copy's logits), "
                  "after it equals a new bf16 generator's to the bit\n", moved, stale_gap);
    assert_true(moved > 5e-2);
    assert_true(stale_gap > 1e-2);
    assert_memory_equal(after, want, sizeof(float) * V);
    /* back to fp32: the engine reads the model again */
    assert_int_equal(ilr_gen_set_weights(&g, ILR_GEN_WEIGHTS_F32), 0);
    assert_null(g.params_bf16);
    free(before), free(stale), free(after), free(want);
    ilr_gen_free(&fresh);
    ilr_gen_free(&g);
    ilr_transformer_free(&tr);
    ilr_model_free(&m);
}

/* One decode step of n rows (slots[i], tokens[i]; want may be NULL) on generator g with `threads` threads. */
static void step_on(ilr_generator *g, int threads, const int *slots, const int *tokens, int n, const unsigned char *want,
                    float *logits) {
    int before = omp_get_max_threads();
    omp_set_num_threads(threads);
    assert_int_equal(ilr_gen_forward(g, slots, tokens, n, want, logits), 0);
    omp_set_num_threads(before);
}

/* A small model's decode with its rows split between threads, each running the whole stack on its parts with
 * the matrices packed once for the call (or once while the weights are held), against the same calls on one
 * thread, where every kernel runs whole: the same logits to the bit, for all rows, a subset of them, a call
 * with a slot twice (which is not split), and after the weights change while held. */
static void row_split_matches_whole(const char *name) {
    ilr_model m;
    load(&m, name);
    enum { SLOTS = 40, LEN = 24 };
    int V = m.config.vocab_size, slots[SLOTS + 1], tokens[SLOTS + 1];
    ilr_generator split, whole;
    omp_set_num_threads(2);
    assert_int_equal(ilr_gen_init(&split, &m, SLOTS, LEN), 0);
    assert_int_equal(ilr_gen_init(&whole, &m, SLOTS, LEN), 0);
    assert_non_null(split.packed); /* the fixture is small enough to be split */
    split.part_rows = 7;          /* 40 rows: 6 parts, 3 a thread */
    float *a = malloc(sizeof(float) * (size_t)V * (SLOTS + 1)), *b = malloc(sizeof(float) * (size_t)V * (SLOTS + 1));
    /* the prompts, 1 to 6 tokens, all in one call (each slot's rows together; parts cut through slots) */
    int prompt_slots[SLOTS * 6], prompt_tokens[SLOTS * 6], rows = 0;
    for (int s = 0; s < SLOTS; s++)
        for (int i = 0; i < 1 + s % 6; i++) prompt_slots[rows] = s, prompt_tokens[rows++] = (s * 31 + i * 7) % V;
    step_on(&split, 2, prompt_slots, prompt_tokens, rows, NULL, a);
    step_on(&whole, 1, prompt_slots, prompt_tokens, rows, NULL, b);
    assert_memory_equal(a, b, sizeof(float) * (size_t)V * SLOTS);
    assert_int_equal(split.split_calls, 1);
    unsigned char want[SLOTS + 1];
    for (int i = 0; i <= SLOTS; i++) want[i] = i % 3 == 1;
    int steps = 0, wanted = 0;
    for (int step = 0; step < 8; step++, steps++) {
        int n = step == 6 ? SLOTS + 1 : step == 3 ? SLOTS / 2 : SLOTS; /* step 6: slot 0 twice; step 3: 20 rows */
        for (int i = 0; i < n; i++) slots[i] = i % SLOTS, tokens[i] = (step * 13 + i * 5) % V;
        const unsigned char *w = step == 2 || step == 5 ? want : NULL;
        int got = 0;
        for (int i = 0; i < n; i++) got += w ? w[i] : i < SLOTS && (n <= SLOTS || i != 0);
        if (step == 4) ilr_gen_hold_weights(&split), ilr_gen_hold_weights(&whole);
        if (step == 7) { /* an optimizer step while held: told, the packed copy is made again */
            for (size_t i = 0; i < m.table.total; i++) m.params[i] *= 1.02f;
            assert_int_equal(ilr_gen_weights_changed(&split), 0);
            assert_int_equal(ilr_gen_weights_changed(&whole), 0);
        }
        step_on(&split, 2, slots, tokens, n, w, a);
        step_on(&whole, 1, slots, tokens, n, w, b);
        assert_memory_equal(a, b, sizeof(float) * (size_t)V * got);
        wanted += got;
    }
    ilr_gen_release_weights(&split), ilr_gen_release_weights(&whole);
    assert_int_equal(split.weights_held, 0);
    print_message("%s: %d prompts (%d rows) in one call, then decode, rows split between 2 threads vs whole kernels "
                  "on 1: %d steps (%ld calls split), %d rows of logits equal to the bit\n", name, SLOTS, rows, steps,
                  split.split_calls, SLOTS + wanted);
    assert_int_equal(split.split_calls, 1 + steps - 1); /* the prompts, and all steps but the one with a slot apart */
    assert_int_equal(whole.split_calls, 0);
    free(a), free(b);
    ilr_gen_free(&split);
    ilr_gen_free(&whole);
    ilr_model_free(&m);
}

static void test_row_split_qwen2(void **state) {
    (void)state;
    row_split_matches_whole("qwen2");
}

static void test_row_split_llama(void **state) {
    (void)state;
    row_split_matches_whole("llama");
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_stop_string_across_tokens),
    cmocka_unit_test(test_generate_loop),
    cmocka_unit_test(test_generation_config_eos_stops),
    cmocka_unit_test(test_greedy_qwen2),
    cmocka_unit_test(test_greedy_llama),
    cmocka_unit_test(test_long_prefill_qwen2),
    cmocka_unit_test(test_long_prefill_llama),
    cmocka_unit_test(test_row_split_qwen2),
    cmocka_unit_test(test_row_split_llama),
    cmocka_unit_test(test_batched_and_shared_prefix),
    cmocka_unit_test(test_bf16_logits),
    cmocka_unit_test(test_bf16_rollout_logprobs_and_refresh),
};

ILR_TEST_GROUP(generate, tests)
