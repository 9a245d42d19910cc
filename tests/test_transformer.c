/* The decoder against PyTorch: fixtures written by tests/fixtures/make_transformer_fixtures.py (a float64
 * reimplementation of transformers' modeling_qwen2.py / modeling_llama.py) for a Qwen2 model (QKV bias,
 * tied embeddings) and a Llama model (llama3 rope scaling, GQA 4:1, untied) on a right-padded batch:
 * logits, loss, every parameter's gradient, and the losses of 10 AdamW steps with clipping.  Then the
 * temperature (log-probs, entropy and gradient of softmax(logits / T)), the forward-only state and activation
 * recomputation. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ilr/error.h"
#include "ilr/safetensors.h"
#include "ilr/transformer.h"
#include "test_util.h"

typedef struct {
    ilr_model model;
    ilr_st_file fixture;
    int B, T;
    int *tokens, *lengths, *targets;
} fixture;

static float *read_tensor(const ilr_st_file *f, const char *name, int64_t *numel) {
    const ilr_st_tensor *t = ilr_st_find(f, name);
    if (!t) {
        print_error("fixture lacks tensor '%s'\n", name);
        fail();
    }
    float *out = malloc(sizeof(float) * (size_t)(t->numel ? t->numel : 1));
    assert_int_equal(ilr_st_read_f32(f, t, out), 0);
    if (numel) *numel = t->numel;
    return out;
}

static double meta_number(const ilr_st_file *f, const char *key) {
    const char *text = json_string_value(json_object_get(f->metadata, key));
    assert_non_null(text);
    return atof(text);
}

static void fixture_load(fixture *fx, const char *name) {
    char dir[256], path[300];
    snprintf(dir, sizeof dir, "tests/data/transformer/%s", name);
    snprintf(path, sizeof path, "%s/fixture.safetensors", dir);
    int rc = ilr_model_load(&fx->model, dir);
    if (rc) print_error("%s\n", ilr_last_error());
    assert_int_equal(rc, 0);
    assert_int_equal(ilr_st_open(&fx->fixture, path), 0);
    const ilr_st_tensor *ids = ilr_st_find(&fx->fixture, "input_ids");
    assert_non_null(ids);
    fx->B = (int)ids->shape[0];
    fx->T = (int)ids->shape[1];
    float *ids_f = read_tensor(&fx->fixture, "input_ids", NULL), *len_f = read_tensor(&fx->fixture, "lengths", NULL);
    fx->tokens = malloc(sizeof(int) * (size_t)(fx->B * fx->T));
    fx->targets = malloc(sizeof(int) * (size_t)(fx->B * fx->T));
    fx->lengths = malloc(sizeof(int) * (size_t)fx->B);
    for (int i = 0; i < fx->B * fx->T; i++) fx->tokens[i] = (int)ids_f[i];
    for (int b = 0; b < fx->B; b++) fx->lengths[b] = (int)len_f[b];
    ilr_next_token_targets(fx->targets, fx->tokens, fx->lengths, fx->B, fx->T);
    free(ids_f);
    free(len_f);
}

static void fixture_free(fixture *fx) {
    ilr_model_free(&fx->model);
    ilr_st_close(&fx->fixture);
    free(fx->tokens);
    free(fx->lengths);
    free(fx->targets);
}


static float forward_loss(ilr_transformer *tr, const fixture *fx, float *dlogprob) {
    ilr_transformer_forward(tr, fx->tokens, fx->lengths, fx->targets, fx->B, fx->T);
    return ilr_sft_loss(dlogprob, tr->logprob, fx->targets, fx->B * fx->T);
}

static void check_model(const char *name) {
    fixture fx;
    fixture_load(&fx, name);
    const ilr_model_config *c = &fx.model.config;
    int N = fx.B * fx.T, V = c->vocab_size;
    ilr_transformer tr;
    assert_int_equal(ilr_transformer_init(&tr, &fx.model, fx.B, fx.T), 0);
    float *dlogprob = malloc(sizeof(float) * (size_t)N), *logits = malloc(sizeof(float) * (size_t)N * V);
    float loss = forward_loss(&tr, &fx, dlogprob);

    /* logits of real tokens */
    float *want_logits = read_tensor(&fx.fixture, "logits", NULL), *want_loss = read_tensor(&fx.fixture, "loss", NULL);
    ilr_transformer_logits(&tr, logits);
    double worst = 0;
    for (int b = 0; b < fx.B; b++)
        for (int t = 0; t < fx.lengths[b]; t++) {
            size_t row = (size_t)(b * fx.T + t) * V;
            worst = fmax(worst, ilr_test_rel_err(logits + row, want_logits + row, (size_t)V));
        }
    double loss_err = fabs(loss - want_loss[0]) / fabs(want_loss[0]);
    print_message("%s: logits max rel err %.2e over %d real positions, loss %.6f vs %.6f (rel err %.2e)\n", name,
                  worst, fx.lengths[0] + fx.lengths[1] + fx.lengths[2], loss, want_loss[0], loss_err);
    assert_true(worst < 1e-4);
    assert_true(loss_err < 1e-4);

    /* every parameter's gradient */
    ilr_transformer_backward(&tr, dlogprob);
    double worst_grad = 0;
    const char *worst_name = "";
    for (int i = 0; i < fx.model.table.count; i++) {
        const ilr_param_view *v = &fx.model.table.views[i];
        char key[128];
        snprintf(key, sizeof key, "grad.%s", v->name);
        float *want = read_tensor(&fx.fixture, key, NULL);
        double e = ilr_test_rel_err(tr.grads + v->offset, want, v->numel);
        if (e > worst_grad) worst_grad = e, worst_name = v->name;
        if (e >= 1e-3) print_error("%s: gradient of %s: rel err %.2e\n", name, v->name, e);
        free(want);
    }
    print_message("%s: gradients of %d tensors, max rel err %.2e (%s)\n", name, fx.model.table.count, worst_grad,
                  worst_name);
    assert_true(worst_grad < 1e-3);

    /* 10 AdamW steps with global-norm clipping */
    ilr_adamw_params hp = {(float)meta_number(&fx.fixture, "lr"), (float)meta_number(&fx.fixture, "beta1"),
                           (float)meta_number(&fx.fixture, "beta2"), (float)meta_number(&fx.fixture, "eps"),
                           (float)meta_number(&fx.fixture, "weight_decay")};
    float max_norm = (float)meta_number(&fx.fixture, "max_grad_norm");
    float *want_losses = read_tensor(&fx.fixture, "adamw_losses", NULL);
    double worst_step = 0;
    for (int step = 0; step < 10; step++) {
        ilr_transformer_zero_grad(&tr);
        float l = forward_loss(&tr, &fx, dlogprob);
        worst_step = fmax(worst_step, fabs(l - want_losses[step]) / fabs(want_losses[step]));
        ilr_transformer_backward(&tr, dlogprob);
        double norm;
        assert_int_equal(ilr_transformer_adamw_step(&tr, &hp, max_norm, &norm), 0);
    }
    print_message("%s: 10 AdamW steps, loss %.4f -> %.4f (PyTorch %.4f -> %.4f), max rel err %.2e\n", name,
                  want_losses[0], want_losses[9], want_losses[0], want_losses[9], worst_step);
    assert_true(worst_step < 1e-3);
    assert_true(want_losses[9] < want_losses[0]);

    free(want_losses);
    free(want_logits);
    free(want_loss);
    free(dlogprob);
    free(logits);
    ilr_transformer_free(&tr);
    fixture_free(&fx);
}

static void test_qwen2_matches_pytorch(void **state) {
    (void)state;
    check_model("qwen2");
}

static void test_llama_matches_pytorch(void **state) {
    (void)state;
    check_model("llama");
}

/* Padding never leaks: other ids at padding positions change no real output or gradient, bit for bit. */
static void test_padding_does_not_leak(void **state) {
    (void)state;
    fixture fx;
    fixture_load(&fx, "llama");
    int N = fx.B * fx.T;
    ilr_transformer tr;
    assert_int_equal(ilr_transformer_init(&tr, &fx.model, fx.B, fx.T), 0);
    float *dlogprob = malloc(sizeof(float) * (size_t)N), *logprob = malloc(sizeof(float) * (size_t)N);
    float *grads = malloc(sizeof(float) * fx.model.table.total);
    forward_loss(&tr, &fx, dlogprob);
    memcpy(logprob, tr.logprob, sizeof(float) * (size_t)N);
    ilr_transformer_backward(&tr, dlogprob);
    memcpy(grads, tr.grads, sizeof(float) * fx.model.table.total);
    for (int b = 0; b < fx.B; b++)
        for (int t = fx.lengths[b]; t < fx.T; t++) fx.tokens[b * fx.T + t] = 7 + t;
    ilr_transformer_zero_grad(&tr);
    forward_loss(&tr, &fx, dlogprob);
    ilr_transformer_backward(&tr, dlogprob);
    assert_memory_equal(logprob, tr.logprob, sizeof(float) * (size_t)N);
    assert_memory_equal(grads, tr.grads, sizeof(float) * fx.model.table.total);
    free(dlogprob);
    free(logprob);
    free(grads);
    ilr_transformer_free(&tr);
    fixture_free(&fx);
}

/* Sequence packing: the rows of the fixture batch packed one after another into a single row, positions
 * restarting at 0 for each, give every real token the log-probability and every parameter the gradient of
 * the unpacked batch (the same sums in another order: float rounding only). */
static void test_packed_rows_equal_separate_rows(void **state) {
    (void)state;
    fixture fx;
    fixture_load(&fx, "llama");
    int B = fx.B, T = fx.T, N = B * T, total = 0;
    size_t P = fx.model.table.total;
    for (int b = 0; b < B; b++) total += fx.lengths[b];
    ilr_transformer tr, packed;
    assert_int_equal(ilr_transformer_init(&tr, &fx.model, B, T), 0);
    assert_int_equal(ilr_transformer_init(&packed, &fx.model, 1, total), 0);
    float *dlogprob = malloc(sizeof(float) * (size_t)N), *grads = malloc(sizeof(float) * P);
    forward_loss(&tr, &fx, dlogprob);
    ilr_transformer_backward(&tr, dlogprob);
    memcpy(grads, tr.grads, sizeof(float) * P);
    int *tokens = malloc(sizeof(int) * (size_t)total), *targets = malloc(sizeof(int) * (size_t)total);
    int *positions = malloc(sizeof(int) * (size_t)total);
    float *dpacked = malloc(sizeof(float) * (size_t)total), *want = malloc(sizeof(float) * (size_t)total);
    for (int b = 0, at = 0; b < B; b++)
        for (int t = 0; t < fx.lengths[b]; t++, at++) {
            tokens[at] = fx.tokens[b * T + t];
            targets[at] = fx.targets[b * T + t];
            positions[at] = t;
            dpacked[at] = dlogprob[b * T + t];
            want[at] = tr.logprob[b * T + t];
        }
    ilr_transformer_forward_packed(&packed, tokens, &total, positions, targets, 1, total);
    double e_lp = ilr_test_rel_err(packed.logprob, want, (size_t)total);
    ilr_transformer_backward(&packed, dpacked);
    double e_grad = ilr_test_rel_err(packed.grads, grads, P);
    print_message("packing %d rows (%d tokens) into one: log-prob max rel err %.2e, gradient max rel err %.2e over "
                  "%zu values\n", B, total, e_lp, e_grad, P);
    assert_true(e_lp < 1e-5);
    assert_true(e_grad < 1e-5);
    /* without positions the same row is one long document: the answers must differ */
    ilr_transformer_forward(&packed, tokens, &total, targets, 1, total);
    assert_true(ilr_test_rel_err(packed.logprob, want, (size_t)total) > 1e-3);
    free(tokens);
    free(targets);
    free(positions);
    free(dpacked);
    free(want);
    free(dlogprob);
    free(grads);
    ilr_transformer_free(&tr);
    ilr_transformer_free(&packed);
    fixture_free(&fx);
}

/* Gradient accumulation: backward passes add up, so two micro-batches (row 0, then rows 1-2) with the
 * full batch's loss scaling give the full batch's gradient. */
static void test_gradient_accumulation(void **state) {
    (void)state;
    fixture fx;
    fixture_load(&fx, "qwen2");
    int N = fx.B * fx.T, T = fx.T;
    size_t P = fx.model.table.total;
    ilr_transformer tr;
    assert_int_equal(ilr_transformer_init(&tr, &fx.model, fx.B, fx.T), 0);
    float *dlogprob = malloc(sizeof(float) * (size_t)N), *full = malloc(sizeof(float) * P);
    forward_loss(&tr, &fx, dlogprob);
    ilr_transformer_backward(&tr, dlogprob);
    memcpy(full, tr.grads, sizeof(float) * P);
    float scale = dlogprob[0]; /* -1 / (targets in the whole batch) */
    ilr_transformer_zero_grad(&tr);
    const int first[2] = {0, 1}, rows[2] = {1, fx.B - 1};
    for (int part = 0; part < 2; part++) {
        const int *tok = fx.tokens + first[part] * T, *len = fx.lengths + first[part], *tgt = fx.targets + first[part] * T;
        ilr_transformer_forward(&tr, tok, len, tgt, rows[part], T);
        for (int i = 0; i < rows[part] * T; i++) dlogprob[i] = tgt[i] >= 0 ? scale : 0.0f;
        ilr_transformer_backward(&tr, dlogprob);
    }
    double e = ilr_test_rel_err(tr.grads, full, P);
    print_message("gradient accumulation over 2 micro-batches: max rel err %.2e over %zu values\n", e, P);
    assert_true(e < 1e-5);
    free(dlogprob);
    free(full);
    ilr_transformer_free(&tr);
    fixture_free(&fx);
}

/* log softmax(logits / T)[target] and the entropy of softmax(logits / T) in float64 from the full logits of
 * the last forward (ilr_transformer_logits, undivided), against the fused LM head's at tr->temperature:
 * the worst absolute error over real positions with a target. */
static void check_logprobs_at(ilr_transformer *tr, const fixture *fx, const float *logits, double *lp_err,
                              double *ent_err) {
    int V = fx->model.config.vocab_size;
    double T = tr->temperature;
    *lp_err = *ent_err = 0;
    for (int i = 0; i < fx->B * fx->T; i++) {
        if (fx->targets[i] < 0) continue;
        const float *row = logits + (size_t)i * V;
        double m = -INFINITY, s = 0, pl = 0;
        for (int j = 0; j < V; j++) m = fmax(m, row[j] / T);
        for (int j = 0; j < V; j++) s += exp(row[j] / T - m);
        double lse = m + log(s);
        for (int j = 0; j < V; j++) pl += exp(row[j] / T - lse) * (row[j] / T);
        *lp_err = fmax(*lp_err, fabs(tr->logprob[i] - (row[fx->targets[i]] / T - lse)));
        *ent_err = fmax(*ent_err, fabs(tr->entropy[i] - (lse - pl)));
    }
}

/* At temperature T the forward gives log softmax(logits / T) and the entropy of that distribution (against a
 * float64 reference from the full logits), and backward gives its exact gradient: dividing the logits by T is
 * the same as dividing an untied LM head by T, so the state at T must equal the state at 1 with the head
 * scaled by 1/T, every gradient but the head's equal and the head's scaled by 1/T (the chain rule through
 * w / T). */
static void test_temperature(void **state) {
    (void)state;
    const float temps[2] = {0.7f, 1.6f};
    fixture fx;
    fixture_load(&fx, "qwen2"); /* tied: the reference check only */
    ilr_transformer tq;
    assert_int_equal(ilr_transformer_init(&tq, &fx.model, fx.B, fx.T), 0);
    float *lq = malloc(sizeof(float) * (size_t)fx.B * fx.T * fx.model.config.vocab_size);
    for (int k = 0; k < 2; k++) {
        double lp_err, ent_err;
        tq.temperature = temps[k];
        ilr_transformer_forward(&tq, fx.tokens, fx.lengths, fx.targets, fx.B, fx.T);
        ilr_transformer_logits(&tq, lq);
        check_logprobs_at(&tq, &fx, lq, &lp_err, &ent_err);
        print_message("qwen2 at T %.1f: logprob vs float64 log softmax(logits / T) max abs err %.2e, entropy %.2e\n",
                      (double)temps[k], lp_err, ent_err);
        assert_true(lp_err < 1e-5 && ent_err < 1e-5);
    }
    free(lq);
    ilr_transformer_free(&tq);
    fixture_free(&fx);
    fixture_load(&fx, "llama");
    int N = fx.B * fx.T, V = fx.model.config.vocab_size;
    size_t P = fx.model.table.total;
    const ilr_param_view *head = ilr_param_get(&fx.model.table, ILR_P_LM_HEAD, -1);
    assert_non_null(head); /* the llama fixture is untied */
    assert_true(head->offset + head->numel == P); /* the head comes last: [0, offset) is the body */
    ilr_transformer tr;
    assert_int_equal(ilr_transformer_init(&tr, &fx.model, fx.B, fx.T), 0);
    float *dlogprob = malloc(sizeof(float) * (size_t)N), *logits = malloc(sizeof(float) * (size_t)N * V);
    float *want_lp = malloc(sizeof(float) * (size_t)N), *grads = malloc(sizeof(float) * P);
    float *w = fx.model.params + head->offset, *w0 = malloc(sizeof(float) * head->numel);
    memcpy(w0, w, sizeof(float) * head->numel);
    for (int k = 0; k < 2; k++) {
        float T = temps[k];
        tr.temperature = T;
        ilr_transformer_zero_grad(&tr);
        forward_loss(&tr, &fx, dlogprob);
        ilr_transformer_logits(&tr, logits);
        double lp_err, ent_err;
        check_logprobs_at(&tr, &fx, logits, &lp_err, &ent_err);
        ilr_transformer_backward(&tr, dlogprob);
        memcpy(want_lp, tr.logprob, sizeof(float) * (size_t)N);
        memcpy(grads, tr.grads, sizeof(float) * P);
        /* the same model with its head divided by T, at temperature 1 */
        for (size_t i = 0; i < head->numel; i++) w[i] = (float)(w0[i] / (double)T);
        tr.temperature = 1.0f;
        ilr_transformer_zero_grad(&tr);
        forward_loss(&tr, &fx, dlogprob);
        ilr_transformer_backward(&tr, dlogprob);
        memcpy(w, w0, sizeof(float) * head->numel);
        float *dhead = tr.grads + head->offset;
        for (size_t i = 0; i < head->numel; i++) dhead[i] /= T; /* d/dw L(w / T) = (1/T) L'(w / T) */
        double e_lp = ilr_test_rel_err(tr.logprob, want_lp, (size_t)N), e_body = ilr_test_rel_err(tr.grads, grads, head->offset);
        double e_head = ilr_test_rel_err(dhead, grads + head->offset, head->numel);
        print_message("llama at T %.1f: logprob vs float64 log softmax(logits / T) max abs err %.2e, entropy %.2e; "
                      "vs head / T at T 1: logprob max rel err %.2e, gradients %.2e (body), %.2e (head)\n",
                      (double)T, lp_err, ent_err, e_lp, e_body, e_head);
        assert_true(lp_err < 1e-5 && ent_err < 1e-5);
        assert_true(e_lp < 1e-5 && e_body < 1e-4 && e_head < 1e-4);
    }
    free(dlogprob);
    free(logits);
    free(want_lp);
    free(grads);
    free(w0);
    ilr_transformer_free(&tr);
    fixture_free(&fx);
}

/* A forward-only state gives the full state's log-probabilities and entropies bit for bit (padded and packed
 * batches, at temperatures 1 and 0.7), holds no gradients, and is much smaller. */
static void test_forward_only(void **state) {
    (void)state;
    const char *names[2] = {"qwen2", "llama"};
    for (int f = 0; f < 2; f++) {
        fixture fx;
        fixture_load(&fx, names[f]);
        int N = fx.B * fx.T;
        ilr_transformer full, fwd;
        assert_int_equal(ilr_transformer_init(&full, &fx.model, fx.B, fx.T), 0);
        assert_int_equal(ilr_transformer_init_forward_only(&fwd, &fx.model, fx.B, fx.T), 0);
        assert_null(fwd.grads);
        const float temps[2] = {1.0f, 0.7f};
        int *positions = malloc(sizeof(int) * (size_t)N);
        for (int i = 0; i < N; i++) positions[i] = (i % fx.T) % 5; /* five-token documents */
        for (int k = 0; k < 4; k++) {
            full.temperature = fwd.temperature = temps[k % 2];
            const int *pos = k < 2 ? NULL : positions;
            ilr_transformer_forward_packed(&full, fx.tokens, fx.lengths, pos, fx.targets, fx.B, fx.T);
            ilr_transformer_forward_packed(&fwd, fx.tokens, fx.lengths, pos, fx.targets, fx.B, fx.T);
            assert_memory_equal(full.logprob, fwd.logprob, sizeof(float) * (size_t)N);
            assert_memory_equal(full.entropy, fwd.entropy, sizeof(float) * (size_t)N);
        }
        print_message("%s forward-only: log-probs and entropies equal bit for bit to the full state's (padded and "
                      "packed, T 1 and 0.7); %zu vs %zu bytes for %d x %d\n", names[f], ilr_transformer_bytes(&fwd),
                      ilr_transformer_bytes(&full), fx.B, fx.T);
        free(positions);
        ilr_transformer_free(&full);
        ilr_transformer_free(&fwd);
        fixture_free(&fx);
    }
    /* sizes at the shapes the trainers use (nothing is run: the buffers are only reserved) */
    const struct {
        const char *shape;
        ilr_arch arch;
        int B, T;
    } cases[2] = {{"world-a", ILR_ARCH_QWEN2, 64, 192}, {"tiny", ILR_ARCH_LLAMA, 4, 256}};
    for (int i = 0; i < 2; i++) {
        ilr_model_config cfg;
        assert_int_equal(ilr_config_from_shape(cases[i].shape, cases[i].arch, &cfg), 0);
        ilr_model m;
        assert_int_equal(ilr_model_create(&m, &cfg), 0);
        ilr_transformer full, fwd;
        assert_int_equal(ilr_transformer_init(&full, &m, cases[i].B, cases[i].T), 0);
        assert_int_equal(ilr_transformer_init_forward_only(&fwd, &m, cases[i].B, cases[i].T), 0);
        double a = (double)ilr_transformer_bytes(&full), b = (double)ilr_transformer_bytes(&fwd);
        print_message("%s, batch %d x %d: full state %.1f MiB (activations %.1f + gradients %.1f), forward-only "
                      "%.1f MiB (%.0f%%)\n", cases[i].shape, cases[i].B, cases[i].T, a / 1048576,
                      (double)full.arena.capacity / 1048576, (a - (double)full.arena.capacity) / 1048576,
                      b / 1048576, 100 * b / a);
        assert_true(b < 0.5 * a);
        /* ilr inspect's estimate for one sequence of T tokens against what a 1 x T training state reserves
         * once it has its AdamW moments: the estimate's training memory less the parameters */
        ilr_transformer one;
        assert_int_equal(ilr_transformer_init(&one, &m, 1, cases[i].T), 0);
        assert_int_equal(ilr_transformer_alloc_moments(&one), 0);
        ilr_memory_estimate est;
        ilr_model_memory_estimate(&cfg, cases[i].T, &est);
        double estimated = (double)(est.training - est.params), reserved = (double)ilr_transformer_bytes(&one);
        print_message("%s, 1 x %d: estimated %.2f MiB beside the parameters, reserved %.2f MiB\n", cases[i].shape,
                      cases[i].T, estimated / 1048576, reserved / 1048576);
        assert_true(estimated == reserved);
        ilr_transformer_free(&one);
        ilr_transformer_free(&full);
        ilr_transformer_free(&fwd);
        ilr_model_free(&m);
    }
}

/* Both states' log-probs, entropies and gradients, equal bit for bit (forward, then backward accumulating). */
static void step_both_equal(ilr_transformer *full, ilr_transformer *rc, const int *tokens, const int *lengths,
                            const int *positions, const int *targets, int B, int T, float *dlogprob) {
    int N = B * T;
    ilr_transformer_forward_packed(full, tokens, lengths, positions, targets, B, T);
    ilr_transformer_forward_packed(rc, tokens, lengths, positions, targets, B, T);
    assert_memory_equal(full->logprob, rc->logprob, sizeof(float) * (size_t)N);
    assert_memory_equal(full->entropy, rc->entropy, sizeof(float) * (size_t)N);
    ilr_sft_loss(dlogprob, full->logprob, targets, N);
    ilr_transformer_backward(full, dlogprob);
    ilr_transformer_backward(rc, dlogprob);
    assert_memory_equal(full->grads, rc->grads, sizeof(float) * full->model->table.total);
}

/* Activation recomputation changes nothing: a recomputing state gives the full state's log-probs, entropies
 * and every gradient bit for bit, on padded and packed batches, at temperatures 1 and 0.7, and with a second,
 * smaller micro-batch accumulating into the gradient; and it holds far fewer activations. */
static void test_recompute_equals_stored_activations(void **state) {
    (void)state;
    const char *names[2] = {"qwen2", "llama"};
    for (int f = 0; f < 2; f++) {
        fixture fx;
        fixture_load(&fx, names[f]);
        int B = fx.B, T = fx.T, N = B * T;
        ilr_transformer full, rc;
        assert_int_equal(ilr_transformer_init(&full, &fx.model, B, T), 0);
        assert_int_equal(ilr_transformer_init_recompute(&rc, &fx.model, B, T), 0);
        assert_true(rc.recompute && !full.recompute);
        float *dlogprob = malloc(sizeof(float) * (size_t)N);
        int *positions = malloc(sizeof(int) * (size_t)N);
        for (int i = 0; i < N; i++) positions[i] = (i % T) % 5; /* five-token documents */
        const float temps[2] = {1.0f, 0.7f};
        for (int k = 0; k < 4; k++) {
            const int *pos = k < 2 ? NULL : positions;
            full.temperature = rc.temperature = temps[k % 2];
            ilr_transformer_zero_grad(&full);
            ilr_transformer_zero_grad(&rc);
            step_both_equal(&full, &rc, fx.tokens, fx.lengths, pos, fx.targets, B, T, dlogprob);
            /* rows 1.. as a second micro-batch of the same step */
            step_both_equal(&full, &rc, fx.tokens + T, fx.lengths + 1, pos ? pos + T : NULL, fx.targets + T, B - 1, T,
                            dlogprob);
        }
        print_message("%s recompute: log-probs, entropies and %zu gradients equal bit for bit to the full state's "
                      "(padded and packed, T 1 and 0.7, two micro-batches accumulated); activations %zu vs %zu "
                      "bytes for %d x %d\n", names[f], fx.model.table.total, rc.arena.capacity, full.arena.capacity,
                      B, T);
        free(dlogprob);
        free(positions);
        ilr_transformer_free(&full);
        ilr_transformer_free(&rc);
        fixture_free(&fx);
    }
    /* the activation arena at a trainer's shape (nothing is run): world-a has 3 layers, so at most two thirds
     * of the per-layer activations can go, and the vocabulary chunk and backward scratch stay */
    ilr_model_config cfg;
    assert_int_equal(ilr_config_from_shape("world-a", ILR_ARCH_QWEN2, &cfg), 0);
    ilr_model m;
    assert_int_equal(ilr_model_create(&m, &cfg), 0);
    ilr_transformer full, rc;
    assert_int_equal(ilr_transformer_init(&full, &m, 64, 192), 0);
    assert_int_equal(ilr_transformer_init_recompute(&rc, &m, 64, 192), 0);
    double a = (double)full.arena.capacity, b = (double)rc.arena.capacity;
    print_message("world-a, batch 64 x 192: activations %.1f MiB, recomputing %.1f MiB (%.0f%%)\n", a / 1048576,
                  b / 1048576, 100 * b / a);
    assert_true(b < 0.6 * a);
    ilr_transformer_free(&full);
    ilr_transformer_free(&rc);
    ilr_model_free(&m);
}

/* Shared prompts: one prompt p (5 tokens) and three completions (4, 6 and 1 tokens) run as one row (p_0..p_3,
 * then per completion [p_4, c...] at positions 4, 5, ...) and as three rows [p, c] give every completion token
 * the same log-probability and every parameter the same gradient (the prompt's gradient arrives once per row:
 * its loss terms are the completions'), to float rounding. */
/* The FLOP counts MFU is figured from (ilr bench): a forward pass with every row through the LM head is a third of
 * a training step's 6 x matmul parameters, tied head or not; attention is 4 x layers x heads x head_dim a
 * position seen; the embedding lookup costs nothing and the head only its logits rows. */
static void test_flop_counts(void **state) {
    (void)state;
    const char *shapes[] = {"qwen2.5-0.5b", "small", "world-a"}; /* tied; untied (llama); tied */
    const ilr_arch arch[] = {ILR_ARCH_QWEN2, ILR_ARCH_LLAMA, ILR_ARCH_QWEN2};
    for (int i = 0; i < 3; i++) {
        ilr_model_config c;
        assert_int_equal(ilr_config_from_shape(shapes[i], arch[i], &c), 0);
        double fwd = ilr_transformer_infer_flops(&c, 10, 10, 0), train = ilr_transformer_train_flops(&c, 10, 0);
        assert_true(fabs(3 * fwd - train) <= 1e-9 * train);
        double head = 2.0 * c.vocab_size * c.hidden_size;
        assert_true(fabs(fwd - ilr_transformer_infer_flops(&c, 10, 1, 0) - 9 * head) <= 1e-9 * fwd);
        double attention = ilr_transformer_infer_flops(&c, 0, 0, 1000);
        assert_true(attention == 4000.0 * c.num_layers * c.num_heads * c.head_dim);
    }
}

static void test_shared_prompt_row_equals_separate_rows(void **state) {
    (void)state;
    fixture fx;
    fixture_load(&fx, "llama");
    enum { PL = 5, NC = 3, UT = PL + 6 };
    static const int clen[NC] = {4, 6, 1};
    int V = fx.model.config.vocab_size, prompt[PL], comp[NC][6], total = PL - 1;
    for (int t = 0; t < PL; t++) prompt[t] = (7 * t + 3) % V;
    for (int c = 0; c < NC; c++) {
        total += clen[c] + 1;
        for (int j = 0; j < clen[c]; j++) comp[c][j] = (11 * j + 5 * c + 1) % V;
    }
    size_t P = fx.model.table.total;
    int utok[NC * UT], utgt[NC * UT], ulen[NC], tok[64], tgt[64], pos[64];
    float udl[NC * UT], dl[64], want[64];
    for (int i = 0; i < NC * UT; i++) utok[i] = 0, utgt[i] = -1, udl[i] = 0;
    for (int i = 0; i < total; i++) tgt[i] = -1, dl[i] = 0;
    memcpy(tok, prompt, sizeof(int) * (PL - 1));
    for (int t = 0; t < PL - 1; t++) pos[t] = t;
    for (int c = 0, at = PL - 1; c < NC; c++) {
        ulen[c] = PL + clen[c];
        memcpy(utok + c * UT, prompt, sizeof prompt);
        tok[at] = prompt[PL - 1], pos[at] = PL - 1;
        for (int j = 0; j < clen[c]; j++) {
            utok[c * UT + PL + j] = tok[at + 1 + j] = comp[c][j];
            pos[at + 1 + j] = PL + j;
            utgt[c * UT + PL - 1 + j] = tgt[at + j] = comp[c][j];
            udl[c * UT + PL - 1 + j] = dl[at + j] = 0.1f * (float)(1 + j + c);
        }
        at += clen[c] + 1;
    }
    ilr_transformer tr, shared;
    assert_int_equal(ilr_transformer_init(&tr, &fx.model, NC, UT), 0);
    assert_int_equal(ilr_transformer_init(&shared, &fx.model, 1, total), 0);
    ilr_transformer_forward(&tr, utok, ulen, utgt, NC, UT);
    ilr_transformer_backward(&tr, udl);
    for (int c = 0, at = PL - 1; c < NC; at += clen[c] + 1, c++)
        for (int j = 0; j < clen[c]; j++) want[at + j] = tr.logprob[c * UT + PL - 1 + j];
    ilr_transformer_forward_packed(&shared, tok, &total, pos, tgt, 1, total);
    ilr_transformer_backward(&shared, dl);
    double e_lp = 0;
    for (int i = 0; i < total; i++)
        if (tgt[i] >= 0) e_lp = fmax(e_lp, fabs(shared.logprob[i] - want[i]) / fabs(want[i]));
    double e_grad = ilr_test_rel_err(shared.grads, tr.grads, P);
    print_message("a prompt shared by 3 completions in one row (%d tokens) vs 3 rows (%d): log-prob max rel err %.2e, "
                  "gradient max rel err %.2e over %zu values\n", total, NC * PL + 11, e_lp, e_grad, P);
    assert_true(e_lp < 1e-5);
    assert_true(e_grad < 1e-5);
    ilr_transformer_free(&tr);
    ilr_transformer_free(&shared);
    fixture_free(&fx);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_gradient_accumulation),
    cmocka_unit_test(test_qwen2_matches_pytorch),
    cmocka_unit_test(test_llama_matches_pytorch),
    cmocka_unit_test(test_padding_does_not_leak),
    cmocka_unit_test(test_packed_rows_equal_separate_rows),
    cmocka_unit_test(test_shared_prompt_row_equals_separate_rows),
    cmocka_unit_test(test_flop_counts),
    cmocka_unit_test(test_temperature),
    cmocka_unit_test(test_forward_only),
    cmocka_unit_test(test_recompute_equals_stored_activations),
};

ILR_TEST_GROUP(transformer, tests)
