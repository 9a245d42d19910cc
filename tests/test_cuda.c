/* The CUDA backend against the CPU: each kernel on the same (bf16-representable) inputs as its CPU twin, within
 * the stated bf16 tolerances; the GPU transformer's log-probabilities and gradients against the CPU
 * transformer's on random models of both architectures; three GRPO steps on each; bit-for-bit repeatability.
 * Skips with a message when ilr was built without CUDA (make CUDA=1) or no GPU is present.
 *
 * Errors are relative to the reference's largest magnitude: max |gpu - cpu| / max |cpu|.  bf16 keeps 8
 * significant bits (a relative rounding of at most 2^-9 = 0.2 %), so a bf16 output is held to 1e-2 (a few
 * roundings), an fp32 output of bf16 inputs (weight gradients, log-probabilities) to 1e-3. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

#ifndef ILR_CUDA

static void test_cuda_not_built(void **state) {
    (void)state;
    print_message("skipped: this build has no CUDA backend (make CUDA=1 builds it; it needs nvcc and a GPU)\n");
    skip();
}

static const struct CMUnitTest tests[] = {cmocka_unit_test(test_cuda_not_built)};
ILR_TEST_GROUP(cuda, tests)

#else

#include <jansson.h>

#include "cuda_test_util.h"
#include "ilr/cuda.h"
#include "ilr/error.h"
#include "ilr/grpo_loss.h"
#include "ilr/kernels.h"
#include "ilr/model.h"
#include "ilr/rng.h"
#include "ilr/sft.h"
#include "ilr/transformer.h"
#include "ilr/transformer_cuda.h"


/* ---- helpers ---- */

static ilr_rng rng;

static float *random_bf16_values(size_t n, float scale) { return ilr_cuda_test_random_bf16(&rng, n, scale); }
#define dev_bf16 ilr_cuda_test_dev_bf16
#define dev_copy ilr_cuda_test_dev_copy
#define host_of_bf16 ilr_cuda_test_host_of_bf16

static float *zeros(size_t n) { return calloc(n ? n : 1, sizeof(float)); }

static ilr_bf16 *dev_bf16_zeros(size_t n) {
    ilr_bf16 *d = ilr_cuda_alloc(n * sizeof(ilr_bf16), "test");
    assert_non_null(d);
    ilr_cuda_zero(d, n * sizeof(ilr_bf16));
    return d;
}
static float *host_of_f32(const float *d, size_t n) {
    float *x = malloc(n * sizeof(float));
    assert_int_equal(ilr_cuda_sync(), 0);
    assert_int_equal(ilr_cuda_download(x, d, n * sizeof(float)), 0);
    return x;
}


/* Compares and reports one output; frees the GPU's host copy. */
static void expect_close(const char *what, float *gpu, const float *cpu, size_t n, double tol) {
    double e = ilr_test_rel_err(gpu, cpu, n);
    print_message("%-34s rel err %.2e (tolerance %.0e)\n", what, e, tol);
    for (size_t i = 0; i < n; i++) assert_false(isnan(gpu[i]));
    assert_true(e < tol);
    free(gpu);
}

/* ---- kernels ---- */

static void test_matmul(void **state) {
    (void)state;
    NEED_GPU();
    ilr_rng_init(&rng, 11, 0);
    int N = 37, IN = 96, OUT = 72;
    float *x = random_bf16_values((size_t)N * IN, 1), *w = random_bf16_values((size_t)OUT * IN, 0.2f);
    float *bias = random_bf16_values(OUT, 0.5f), *dout = random_bf16_values((size_t)N * OUT, 1);
    float *out = zeros((size_t)N * OUT), *dx = zeros((size_t)N * IN), *dw = zeros((size_t)OUT * IN), *db = zeros(OUT);
    ilr_matmul_forward(out, x, w, bias, N, IN, OUT);
    ilr_matmul_backward(dx, dw, db, dout, x, w, N, IN, OUT);
    ilr_bf16 *gx = dev_bf16(x, (size_t)N * IN), *gw = dev_bf16(w, (size_t)OUT * IN), *gdout = dev_bf16(dout, (size_t)N * OUT);
    ilr_bf16 *gout = dev_bf16(out, (size_t)N * OUT), *gdx = dev_bf16_zeros((size_t)N * IN);
    float *gb = dev_copy(bias, OUT * sizeof(float)), *gdw = dev_copy(dw, (size_t)OUT * IN * sizeof(float));
    float *gdb = dev_copy(db, OUT * sizeof(float)), *scratch = ilr_cuda_alloc(4 * ilr_cuda_colsum_scratch_floats(N, OUT), "s");
    ilr_cuda_zero(gdw, (size_t)OUT * IN * sizeof(float));
    ilr_cuda_zero(gdb, OUT * sizeof(float));
    ilr_cuda_matmul_forward(gout, gx, gw, gb, N, IN, OUT);
    ilr_cuda_matmul_backward(gdx, gdw, gdb, gdout, gx, gw, N, IN, OUT, scratch);
    expect_close("matmul forward (bf16 out)", host_of_bf16(gout, (size_t)N * OUT), out, (size_t)N * OUT, 1e-2);
    expect_close("matmul backward dx (bf16)", host_of_bf16(gdx, (size_t)N * IN), dx, (size_t)N * IN, 1e-2);
    expect_close("matmul backward dw (fp32)", host_of_f32(gdw, (size_t)OUT * IN), dw, (size_t)OUT * IN, 1e-3);
    expect_close("matmul backward dbias (fp32)", host_of_f32(gdb, OUT), db, OUT, 1e-3);
    /* accumulation: a second backward doubles the weight gradient */
    ilr_cuda_matmul_backward(NULL, gdw, NULL, gdout, gx, gw, N, IN, OUT, NULL);
    for (size_t i = 0; i < (size_t)OUT * IN; i++) dw[i] *= 2;
    expect_close("matmul backward dw accumulates", host_of_f32(gdw, (size_t)OUT * IN), dw, (size_t)OUT * IN, 1e-3);
    void *dev[] = {gx, gw, gdout, gout, gdx, gb, gdw, gdb, scratch};
    for (size_t i = 0; i < sizeof dev / sizeof dev[0]; i++) ilr_cuda_free(dev[i]);
    free(x), free(w), free(bias), free(dout), free(out), free(dx), free(dw), free(db);
}

static void test_rmsnorm_swiglu_rope_embedding(void **state) {
    (void)state;
    NEED_GPU();
    ilr_rng_init(&rng, 12, 0);
    int N = 19, C = 200, V = 50, H = 3, HD = 64, T = 30;
    /* RMSNorm */
    float *x = random_bf16_values((size_t)N * C, 2), *w = random_bf16_values(C, 1), *dout = random_bf16_values((size_t)N * C, 1);
    float *out = zeros((size_t)N * C), *rstd = zeros(N), *dx = zeros((size_t)N * C), *dw = zeros(C);
    ilr_rmsnorm_forward(out, rstd, x, w, N, C, 1e-6f);
    ilr_rmsnorm_backward(dx, dw, dout, x, w, rstd, N, C);
    ilr_bf16 *gx = dev_bf16(x, (size_t)N * C), *gw = dev_bf16(w, C), *gdout = dev_bf16(dout, (size_t)N * C);
    ilr_bf16 *gout = dev_bf16(out, (size_t)N * C), *gdx = dev_bf16_zeros((size_t)N * C);
    float *grstd = ilr_cuda_alloc(N * sizeof(float), "t"), *gdw = ilr_cuda_alloc(C * sizeof(float), "t");
    float *scratch = ilr_cuda_alloc(ilr_cuda_colsum_scratch_floats(N, C) * sizeof(float), "t");
    ilr_cuda_zero(gdw, C * sizeof(float));
    ilr_cuda_rmsnorm_forward(gout, grstd, gx, gw, N, C, 1e-6f);
    ilr_cuda_rmsnorm_backward(gdx, gdw, gdout, gx, gw, grstd, N, C, scratch);
    expect_close("rmsnorm forward", host_of_bf16(gout, (size_t)N * C), out, (size_t)N * C, 1e-2);
    expect_close("rmsnorm rstd", host_of_f32(grstd, N), rstd, N, 1e-5);
    expect_close("rmsnorm backward dx", host_of_bf16(gdx, (size_t)N * C), dx, (size_t)N * C, 1e-2);
    expect_close("rmsnorm backward dweight", host_of_f32(gdw, C), dw, C, 1e-3);
    /* SwiGLU (reusing x as gate, dout as up) */
    float *act = zeros((size_t)N * C), *dgate = zeros((size_t)N * C), *dup = zeros((size_t)N * C);
    ilr_swiglu_forward(act, x, dout, N, C);
    ilr_swiglu_backward(dgate, dup, out, x, dout, N, C); /* out as the incoming gradient */
    ilr_bf16 *gact = dev_bf16(act, (size_t)N * C), *gdgate = dev_bf16_zeros((size_t)N * C);
    ilr_bf16 *gdup = dev_bf16_zeros((size_t)N * C), *gout_ref = dev_bf16(out, (size_t)N * C);
    ilr_cuda_swiglu_forward(gact, gx, gdout, N, C);
    ilr_cuda_swiglu_backward(gdgate, gdup, gout_ref, gx, gdout, N, C);
    expect_close("swiglu forward", host_of_bf16(gact, (size_t)N * C), act, (size_t)N * C, 1e-2);
    expect_close("swiglu backward dgate", host_of_bf16(gdgate, (size_t)N * C), dgate, (size_t)N * C, 1e-2);
    expect_close("swiglu backward dup", host_of_bf16(gdup, (size_t)N * C), dup, (size_t)N * C, 1e-2);
    /* rotary, with positions out of order */
    float *cos_t = malloc(sizeof(float) * T * HD / 2), *sin_t = malloc(sizeof(float) * T * HD / 2);
    ilr_rope_table(cos_t, sin_t, T, HD, 1e4, NULL);
    int pos[19];
    for (int n = 0; n < N; n++) pos[n] = (n * 7) % T;
    float *r = random_bf16_values((size_t)N * H * HD, 1), *r_ref = malloc(sizeof(float) * N * H * HD);
    memcpy(r_ref, r, sizeof(float) * N * H * HD);
    ilr_rope_forward(r_ref, cos_t, sin_t, pos, N, H, HD);
    ilr_bf16 *gr = dev_bf16(r, (size_t)N * H * HD);
    float *gcos = dev_copy(cos_t, sizeof(float) * T * HD / 2), *gsin = dev_copy(sin_t, sizeof(float) * T * HD / 2);
    int *gpos = dev_copy(pos, sizeof pos);
    ilr_cuda_rope_forward(gr, gcos, gsin, gpos, N, H, HD);
    expect_close("rope forward", host_of_bf16(gr, (size_t)N * H * HD), r_ref, (size_t)N * H * HD, 1e-2);
    ilr_rope_backward(r_ref, cos_t, sin_t, pos, N, H, HD);
    ilr_cuda_rope_backward(gr, gcos, gsin, gpos, N, H, HD);
    expect_close("rope backward (inverse rotation)", host_of_bf16(gr, (size_t)N * H * HD), r_ref, (size_t)N * H * HD, 2e-2);
    /* embedding, with repeated tokens */
    float *wte = random_bf16_values((size_t)V * C, 1), *emb = zeros((size_t)N * C), *dwte = zeros((size_t)V * C);
    int tokens[19];
    for (int n = 0; n < N; n++) tokens[n] = (n * 5) % 7;
    ilr_embedding_forward(emb, tokens, wte, N, C);
    ilr_embedding_backward(dwte, dout, tokens, N, C);
    ilr_bf16 *gwte = dev_bf16(wte, (size_t)V * C), *gemb = dev_bf16(emb, (size_t)N * C);
    float *gdwte = ilr_cuda_alloc(sizeof(float) * V * C, "t");
    int *gtok = dev_copy(tokens, sizeof tokens);
    ilr_cuda_zero(gdwte, sizeof(float) * V * C);
    ilr_cuda_embedding_forward(gemb, gtok, gwte, N, C);
    ilr_cuda_embedding_backward(gdwte, gdout, gtok, N, C);
    expect_close("embedding forward", host_of_bf16(gemb, (size_t)N * C), emb, (size_t)N * C, 1e-7);
    expect_close("embedding backward", host_of_f32(gdwte, (size_t)V * C), dwte, (size_t)V * C, 1e-6);
    void *dev[] = {gx, gw, gdout, gout, gdx, grstd, gdw, scratch, gact, gdgate, gdup, gout_ref, gr, gcos, gsin, gpos,
                   gwte, gemb, gdwte, gtok};
    for (size_t i = 0; i < sizeof dev / sizeof dev[0]; i++) ilr_cuda_free(dev[i]);
    free(x), free(w), free(dout), free(out), free(rstd), free(dx), free(dw), free(act), free(dgate), free(dup);
    free(cos_t), free(sin_t), free(r), free(r_ref), free(wte), free(emb), free(dwte);
}

/* Attention forward and backward for one configuration, packed (documents by pos) or not. */
static void check_attention(int B, int T, int NH, int NKV, int HD, const int *lengths, int packed) {
    size_t nq = (size_t)B * T * NH * HD, nk = (size_t)B * T * NKV * HD;
    float *q = random_bf16_values(nq, 1), *k = random_bf16_values(nk, 1), *v = random_bf16_values(nk, 1);
    float *dout = random_bf16_values(nq, 1), *out = zeros(nq), *att = zeros((size_t)B * NH * T * T);
    float *dq = zeros(nq), *dk = zeros(nk), *dv = zeros(nk);
    int *pos = malloc(sizeof(int) * B * T);
    for (int b = 0; b < B; b++) /* documents of 13, 29, 1, 40, ... tokens */
        for (int t = 0, doc = 0, start = 0; t < T; t++) {
            static const int doc_len[] = {13, 29, 1, 40, 7, 64};
            if (t - start == doc_len[doc % 6]) start = t, doc++;
            pos[b * T + t] = packed ? t - start : t;
        }
    ilr_attention_forward(out, att, q, k, v, lengths, packed ? pos : NULL, B, T, NH, NKV, HD);
    size_t sf = ilr_attention_backward_scratch_floats(T, 1);
    float *s = malloc(sf * sizeof(float));
    ilr_attention_backward(dq, dk, dv, s, sf, dout, q, k, v, att, lengths, packed ? pos : NULL, B, T, NH, NKV, HD);
    ilr_bf16 *gq = dev_bf16(q, nq), *gk = dev_bf16(k, nk), *gv = dev_bf16(v, nk), *gdout = dev_bf16(dout, nq);
    ilr_bf16 *gout = dev_bf16(out, nq), *gdq = dev_bf16(dq, nq), *gdk = dev_bf16(dk, nk), *gdv = dev_bf16(dv, nk);
    ilr_cuda_zero(gout, nq * 2), ilr_cuda_zero(gdq, nq * 2), ilr_cuda_zero(gdk, nk * 2), ilr_cuda_zero(gdv, nk * 2);
    float *glse = ilr_cuda_alloc(sizeof(float) * B * NH * T, "t"), *gs = ilr_cuda_alloc(sizeof(float) * ilr_cuda_attention_backward_scratch_floats(B, T, NH, HD), "t");
    int *glen = dev_copy(lengths, sizeof(int) * B), *gpos = dev_copy(pos, sizeof(int) * B * T);
    ilr_cuda_attention_forward(gout, glse, gq, gk, gv, glen, packed ? gpos : NULL, B, T, NH, NKV, HD);
    ilr_cuda_attention_backward(gdq, gdk, gdv, gdout, gout, gq, gk, gv, glse, glen, packed ? gpos : NULL, B, T, NH, NKV,
                                HD, gs);
    char what[96];
    const char *cores = getenv("ILR_CUDA_ATTENTION") || HD % 16 ? "CUDA cores" : "tensor cores";
    snprintf(what, sizeof what, "attention HD %d%s (%s) out", HD, packed ? " packed" : "", cores);
    expect_close(what, host_of_bf16(gout, nq), out, nq, 1e-2);
    snprintf(what, sizeof what, "attention HD %d%s (%s) dq", HD, packed ? " packed" : "", cores);
    expect_close(what, host_of_bf16(gdq, nq), dq, nq, 2e-2);
    snprintf(what, sizeof what, "attention HD %d%s (%s) dk", HD, packed ? " packed" : "", cores);
    expect_close(what, host_of_bf16(gdk, nk), dk, nk, 2e-2);
    snprintf(what, sizeof what, "attention HD %d%s (%s) dv", HD, packed ? " packed" : "", cores);
    expect_close(what, host_of_bf16(gdv, nk), dv, nk, 2e-2);
    /* the same inputs give the same bits */
    float *first = host_of_bf16(gdk, nk);
    ilr_cuda_zero(gdq, nq * 2), ilr_cuda_zero(gdk, nk * 2), ilr_cuda_zero(gdv, nk * 2);
    ilr_cuda_attention_backward(gdq, gdk, gdv, gdout, gout, gq, gk, gv, glse, glen, packed ? gpos : NULL, B, T, NH, NKV,
                                HD, gs);
    float *second = host_of_bf16(gdk, nk);
    assert_memory_equal(first, second, nk * sizeof(float));
    free(first), free(second);
    void *dev[] = {gq, gk, gv, gdout, gout, gdq, gdk, gdv, glse, gs, glen, gpos};
    for (size_t i = 0; i < sizeof dev / sizeof dev[0]; i++) ilr_cuda_free(dev[i]);
    free(q), free(k), free(v), free(dout), free(out), free(att), free(dq), free(dk), free(dv), free(pos), free(s);
}

static void test_attention(void **state) {
    (void)state;
    NEED_GPU();
    ilr_rng_init(&rng, 13, 0);
    int lengths[3] = {70, 45, 1};
    check_attention(3, 70, 4, 2, 32, lengths, 0);
    check_attention(3, 70, 4, 2, 64, lengths, 0);
    check_attention(3, 70, 4, 1, 128, lengths, 0);
    check_attention(3, 70, 6, 2, 48, lengths, 1);
    int long_lengths[2] = {200, 131};
    check_attention(2, 200, 2, 2, 64, long_lengths, 1);
    check_attention(3, 70, 4, 2, 40, lengths, 1); /* not a multiple of 16: the CUDA-core kernels */
    /* the CUDA-core kernels for the sizes that usually take the tensor cores */
    setenv("ILR_CUDA_ATTENTION", "cuda-cores", 1);
    check_attention(3, 70, 4, 2, 64, lengths, 0);
    check_attention(3, 70, 4, 1, 128, lengths, 1);
    unsetenv("ILR_CUDA_ATTENTION");
}

static void test_lm_head(void **state) {
    (void)state;
    NEED_GPU();
    ilr_rng_init(&rng, 14, 0);
    int N = 13, C = 64, V = 1000, chunk = 256;
    float T = 0.7f;
    float *x = random_bf16_values((size_t)N * C, 1), *w = random_bf16_values((size_t)V * C, 0.3f);
    int targets[13];
    for (int n = 0; n < N; n++) targets[n] = n % 4 == 3 ? -1 : (n * 97) % V;
    float *dlp = zeros(N);
    for (int n = 0; n < N; n++) dlp[n] = targets[n] < 0 ? 0.0f : 0.1f * (float)(n % 5) - 0.2f;
    float *lp = zeros(N), *ent = zeros(N), *lse = zeros(N), *dx = zeros((size_t)N * C), *dw = zeros((size_t)V * C);
    float *cpu_scratch = zeros((size_t)N * chunk);
    ilr_lm_head_logprob_forward(lp, ent, lse, x, w, targets, T, N, C, V, cpu_scratch, chunk);
    ilr_lm_head_logprob_backward(dx, dw, dlp, x, w, targets, lse, T, N, C, V, cpu_scratch, chunk);
    ilr_bf16 *gx = dev_bf16(x, (size_t)N * C), *gw = dev_bf16(w, (size_t)V * C), *gdx = dev_bf16_zeros((size_t)N * C);
    float *glp = ilr_cuda_alloc(sizeof(float) * N, "t"), *gent = ilr_cuda_alloc(sizeof(float) * N, "t");
    float *glse = ilr_cuda_alloc(sizeof(float) * N, "t"), *gdlp = dev_copy(dlp, sizeof(float) * N);
    float *gdw = ilr_cuda_alloc(sizeof(float) * V * C, "t");
    float *gs = ilr_cuda_alloc(sizeof(float) * ilr_cuda_lm_head_scratch_floats(N, C, chunk), "t");
    int *gt = dev_copy(targets, sizeof targets);
    ilr_cuda_zero(gdw, sizeof(float) * V * C);
    ilr_cuda_lm_head_logprob_forward(glp, gent, glse, gx, gw, gt, T, N, C, V, gs, chunk);
    ilr_cuda_lm_head_logprob_backward(gdx, gdw, gdlp, gx, gw, gt, glse, T, N, C, V, gs, chunk);
    expect_close("lm head logprob", host_of_f32(glp, N), lp, N, 1e-4);
    expect_close("lm head entropy", host_of_f32(gent, N), ent, N, 1e-4);
    expect_close("lm head backward dx (bf16)", host_of_bf16(gdx, (size_t)N * C), dx, (size_t)N * C, 1e-2);
    expect_close("lm head backward dw (fp32)", host_of_f32(gdw, (size_t)V * C), dw, (size_t)V * C, 1e-2);
    void *dev[] = {gx, gw, gdx, glp, gent, glse, gdlp, gdw, gs, gt};
    for (size_t i = 0; i < sizeof dev / sizeof dev[0]; i++) ilr_cuda_free(dev[i]);
    free(x), free(w), free(dlp), free(lp), free(ent), free(lse), free(dx), free(dw), free(cpu_scratch);
}

static void test_adamw_and_norm(void **state) {
    (void)state;
    NEED_GPU();
    ilr_rng_init(&rng, 15, 0);
    size_t n = 100003;
    float *p = random_bf16_values(n, 1), *g = random_bf16_values(n, 0.01f), *m = zeros(n), *v = zeros(n);
    float *gp = dev_copy(p, n * 4), *gg = dev_copy(g, n * 4), *gm = dev_copy(m, n * 4), *gv = dev_copy(v, n * 4);
    float *gs = ilr_cuda_alloc(1024 * sizeof(float), "t");
    ilr_bf16 *gpb = ilr_cuda_alloc(n * sizeof(ilr_bf16), "t");
    double norm = ilr_cuda_grad_norm(gg, n, gs), want = ilr_grad_norm(g, n);
    print_message("grad norm %.9g vs %.9g\n", norm, want);
    assert_true(fabs(norm - want) / want < 1e-5);
    ilr_adamw_params hp = {1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f};
    for (int step = 1; step <= 3; step++) {
        ilr_scale(g, n, 0.5f);
        ilr_adamw_update(p, g, m, v, n, &hp, step);
        ilr_scale(g, n, 2.0f);
        ilr_cuda_adamw_update(gp, gpb, gg, gm, gv, n, &hp, step, 0.5f);
    }
    float *got = host_of_f32(gp, n), *bf = host_of_bf16(gpb, n);
    for (size_t i = 0; i < n; i++) assert_true(bf[i] == ilr_bf16_to_f32(ilr_f32_to_bf16(got[i])));
    expect_close("adamw (3 steps, grads scaled 0.5)", got, p, n, 1e-6);
    expect_close("adamw second moments", host_of_f32(gv, n), v, n, 1e-5);
    free(bf);
    void *dev[] = {gp, gg, gm, gv, gs, gpb};
    for (size_t i = 0; i < sizeof dev / sizeof dev[0]; i++) ilr_cuda_free(dev[i]);
    free(p), free(g), free(m), free(v);
}

/* ---- the transformer ---- */

typedef struct {
    int B, T, lengths[4], *tokens, *targets;
} batch;

static void make_batch(batch *bt, int vocab) {
    bt->B = 4, bt->T = 45;
    int lens[4] = {45, 30, 12, 38};
    memcpy(bt->lengths, lens, sizeof lens);
    bt->tokens = malloc(sizeof(int) * bt->B * bt->T);
    bt->targets = malloc(sizeof(int) * bt->B * bt->T);
    for (int i = 0; i < bt->B * bt->T; i++) bt->tokens[i] = (int)ilr_rng_below(&rng, (uint32_t)vocab);
    ilr_next_token_targets(bt->targets, bt->tokens, bt->lengths, bt->B, bt->T);
    for (int b = 0; b < bt->B; b++) /* a completion: the first 8 tokens of each row are the prompt */
        for (int t = 0; t < 8 && t < bt->T; t++) bt->targets[b * bt->T + t] = -1;
}

/* dot(a, b) / (|a| |b|) and |a - b| / |b| over n values. */
static void compare_vectors(const float *a, const float *b, size_t n, double *cosine, double *rel_l2) {
    double ab = 0, aa = 0, bb = 0, dd = 0;
    for (size_t i = 0; i < n; i++) {
        ab += (double)a[i] * b[i], aa += (double)a[i] * a[i], bb += (double)b[i] * b[i];
        dd += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    }
    *cosine = ab / sqrt(aa * bb + 1e-300);
    *rel_l2 = sqrt(dd / (bb + 1e-300));
}

/* GRPO's gradient for one group of the batch's rows with rewards {1, 0, 0, 1}: old = current log-probs
 * (the first optimisation of a step), DAPO weights, no KL. */
static void grpo_dlogprob(float *dlogp, const float *logp, const batch *bt) {
    float rewards[4] = {1, 0, 0, 1}, adv[4], weight[4];
    int len[4];
    ilr_grpo_advantages(adv, rewards, 1, 4, ILR_GRPO_SCALE_GROUP, NULL);
    for (int b = 0; b < 4; b++) len[b] = bt->lengths[b] - 1 - 8;
    ilr_grpo_sequence_weights(weight, len, NULL, 4, ILR_GRPO_LOSS_DAPO, bt->T);
    ilr_grpo_loss_params lp = {0.2f, 0.28f, 0.0f};
    memset(dlogp, 0, sizeof(float) * bt->B * bt->T);
    for (int b = 0; b < 4; b++) {
        size_t o = (size_t)b * bt->T + 8;
        ilr_grpo_token_loss(dlogp + o, logp + o, logp + o, NULL, len[b], adv[b], weight[b], &lp, NULL);
    }
}

static void check_transformer(const char *shape, ilr_arch arch) {
    ilr_model_config cfg;
    assert_int_equal(ilr_config_from_shape(shape, arch, &cfg), 0);
    ilr_model m_cpu, m_gpu;
    assert_int_equal(ilr_model_create(&m_cpu, &cfg), 0);
    assert_int_equal(ilr_model_create(&m_gpu, &cfg), 0);
    ilr_model_init_random(&m_cpu, 5);
    /* the CPU reference runs on the bf16-rounded weights the GPU computes with */
    for (size_t i = 0; i < m_cpu.table.total; i++) m_cpu.params[i] = ilr_bf16_to_f32(ilr_f32_to_bf16(m_cpu.params[i]));
    memcpy(m_gpu.params, m_cpu.params, m_cpu.table.total * sizeof(float));
    batch bt;
    ilr_rng_init(&rng, 21, 0);
    make_batch(&bt, cfg.vocab_size);
    int N = bt.B * bt.T;
    ilr_transformer cpu;
    ilr_cuda_transformer gpu;
    assert_int_equal(ilr_transformer_init(&cpu, &m_cpu, bt.B, bt.T), 0);
    assert_int_equal(ilr_cuda_transformer_init(&gpu, &m_gpu, bt.B, bt.T), 0);
    cpu.temperature = gpu.temperature = 0.8f;
    float *dlp = malloc(sizeof(float) * N), *grads = malloc(sizeof(float) * m_cpu.table.total);
    float *p0 = malloc(sizeof(float) * m_cpu.table.total);
    memcpy(p0, m_cpu.params, sizeof(float) * m_cpu.table.total);
    ilr_adamw_params hp = {1e-3f, 0.9f, 0.99f, 1e-8f, 0.0f};
    for (int step = 0; step < 3; step++) {
        ilr_transformer_zero_grad(&cpu);
        ilr_cuda_transformer_zero_grad(&gpu);
        ilr_transformer_forward(&cpu, bt.tokens, bt.lengths, bt.targets, bt.B, bt.T);
        assert_int_equal(ilr_cuda_transformer_forward(&gpu, bt.tokens, bt.lengths, NULL, bt.targets, bt.B, bt.T), 0);
        double worst_lp = 0, worst_ent = 0, sum_gain = 0;
        for (int i = 0; i < N; i++)
            if (bt.targets[i] >= 0) {
                worst_lp = fmax(worst_lp, fabs(gpu.logprob[i] - cpu.logprob[i]));
                worst_ent = fmax(worst_ent, fabs(gpu.entropy[i] - cpu.entropy[i]));
                sum_gain += cpu.logprob[i];
            }
        print_message("%s %s step %d: log-prob max |gpu - cpu| %.4f, entropy %.4f (mean log-prob %.3f)\n", shape,
                      ilr_arch_name(arch), step, worst_lp, worst_ent, sum_gain / N);
        assert_true(worst_lp < 0.05);
        assert_true(worst_ent < 0.05);
        grpo_dlogprob(dlp, cpu.logprob, &bt); /* the same loss gradient for both: the CPU's log-probs */
        ilr_transformer_backward(&cpu, dlp);
        assert_int_equal(ilr_cuda_transformer_backward(&gpu, dlp), 0);
        if (step == 0) {
            assert_int_equal(ilr_cuda_transformer_download_grads(&gpu, grads), 0);
            double worst_cos = 1, worst_rel = 0;
            const char *worst = "";
            for (int i = 0; i < m_cpu.table.count; i++) {
                const ilr_param_view *v = &m_cpu.table.views[i];
                double cosine, rel;
                compare_vectors(grads + v->offset, cpu.grads + v->offset, v->numel, &cosine, &rel);
                if (rel > worst_rel) worst_rel = rel, worst_cos = cosine, worst = v->name;
            }
            print_message("%s %s: gradients of %d tensors, worst relative L2 error %.3f (cosine %.4f) in %s\n", shape,
                          ilr_arch_name(arch), m_cpu.table.count, worst_rel, worst_cos, worst);
            assert_true(worst_rel < 0.1);
            assert_true(worst_cos > 0.995);
        }
        double norm_cpu, norm_gpu;
        assert_int_equal(ilr_transformer_adamw_step(&cpu, &hp, 1.0f, &norm_cpu), 0);
        assert_int_equal(ilr_cuda_transformer_adamw_step(&gpu, &hp, 1.0f, &norm_gpu), 0);
        assert_true(fabs(norm_gpu - norm_cpu) / norm_cpu < 0.02);
    }
    /* the updates after three steps point the same way */
    assert_int_equal(ilr_cuda_transformer_download_params(&gpu), 0);
    size_t n = m_cpu.table.total;
    for (size_t i = 0; i < n; i++) m_gpu.params[i] -= p0[i], m_cpu.params[i] -= p0[i];
    double cosine, rel;
    compare_vectors(m_gpu.params, m_cpu.params, n, &cosine, &rel);
    print_message("%s %s: 3 GRPO steps, parameter updates GPU vs CPU: cosine %.4f, relative L2 error %.3f\n", shape,
                  ilr_arch_name(arch), cosine, rel);
    assert_true(cosine > 0.9);
    print_message("%s: GPU state %.1f MiB\n", shape, ilr_cuda_transformer_bytes(&gpu) / 1048576.0);
    ilr_transformer_free(&cpu);
    ilr_cuda_transformer_free(&gpu);
    ilr_model_free(&m_cpu);
    ilr_model_free(&m_gpu);
    free(dlp), free(grads), free(p0), free(bt.tokens), free(bt.targets);
}

static void test_transformer_qwen2(void **state) {
    (void)state;
    NEED_GPU();
    check_transformer("tiny", ILR_ARCH_QWEN2);
}

static void test_transformer_llama(void **state) {
    (void)state;
    NEED_GPU();
    check_transformer("tiny", ILR_ARCH_LLAMA);
}

/* ilr sft on the GPU against the CPU on the same data: the same first loss (bf16 apart), learning as fast; and a
 * GPU run resumed from its step-10 checkpoint ends on the same weights, bit for bit, as the run that went
 * straight on (the GPU's reductions run in a fixed order; the moments travel through the checkpoint). */
static void test_sft_on_gpu(void **state) {
    (void)state;
    NEED_GPU();
    ilr_test_sum_fixture fx;
    ilr_test_sum_fixture_setup(&fx, "cuda-sft");
    ilr_sft_options o;
    ilr_sft_options_default(&o);
    char out_cpu[600], out_gpu[600], out_resumed[600], ckpt[700];
    snprintf(out_cpu, sizeof out_cpu, "%s/cpu", fx.dir);
    snprintf(out_gpu, sizeof out_gpu, "%s/gpu", fx.dir);
    snprintf(out_resumed, sizeof out_resumed, "%s/gpu-resumed", fx.dir);
    o.model_dir = fx.model, o.train_path = fx.sft, o.out_dir = out_cpu;
    o.batch = 16, o.seq = 64, o.lr = 2e-3f, o.warmup_steps = 5, o.steps = 40, o.quiet = 1;
    o.save_every = 10, o.keep_checkpoints = 10;
    ilr_sft_result cpu, gpu, resumed;
    assert_int_equal(ilr_sft_run(&o, &cpu), 0);
    o.out_dir = out_gpu, o.device = ILR_DEVICE_CUDA;
    assert_int_equal(ilr_sft_run(&o, &gpu), 0);
    print_message("sft 40 steps: CPU loss %.4f -> %.4f (%.0f tokens/s), GPU loss %.4f -> %.4f (%.0f tokens/s)\n",
                  cpu.first_loss, cpu.last_loss, cpu.tokens_per_s, gpu.first_loss, gpu.last_loss, gpu.tokens_per_s);
    assert_true(fabs(gpu.first_loss - cpu.first_loss) < 0.02);
    assert_true(gpu.last_loss < 0.8 * gpu.first_loss);
    assert_true(fabs(gpu.last_loss - cpu.last_loss) < 0.1 * cpu.last_loss + 0.02);
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint-000010", out_gpu);
    o.out_dir = out_resumed, o.resume_dir = ckpt, o.model_dir = NULL;
    assert_int_equal(ilr_sft_run(&o, &resumed), 0);
    size_t n, differ = ilr_test_weights_differing(out_gpu, out_resumed, &n);
    print_message("GPU sft resumed at step 10: %zu of %zu weights differ from the straight run\n", differ, n);
    assert_int_equal(differ, 0);
    ilr_test_rmtree(fx.dir);
}

/* The step lines of a run's train_log.jsonl (those with a reward), in order; *steps of them (at most 16). */
static int read_steps(const char *run, json_t **lines) {
    char path[700], line[16384];
    snprintf(path, sizeof path, "%s/train_log.jsonl", run);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    int n = 0;
    while (n < 16 && fgets(line, sizeof line, f)) {
        json_t *j = json_loads(line, 0, NULL);
        assert_non_null(j);
        if (json_object_get(j, "reward")) lines[n++] = j;
        else json_decref(j);
    }
    fclose(f);
    return n;
}

static double field(json_t *line, const char *key) { return json_number_value(json_object_get(line, key)); }

/* ilr train (GRPO) with train.device=cuda against the CPU: the first step samples the same completions (the
 * rollouts run on the CPU from the same weights and seed), so the rewards are equal and the gradient norms
 * agree to bf16; the run goes on, checkpoints, and resumes on the GPU. */
static void test_grpo_on_gpu(void **state) {
    (void)state;
    NEED_GPU();
    ilr_test_sum_fixture fx;
    ilr_test_sum_fixture_setup(&fx, "cuda-grpo");
    char cfg[256], text[2048], out[16384], run_cpu[600], run_gpu[600], o_cpu[700], o_gpu[700];
    snprintf(text, sizeof text,
             "method: grpo\nmodel: %s\nseed: 5\ndata:\n  train: %s\n  template: %s\n  task: math\n"
             "reward:\n  math_extract: last_number\n"
             "rollout:\n  prompts_per_step: 6\n  num_generations: 4\n  max_new_tokens: 12\n"
             "optim:\n  lr: 1e-3\n  micro_batch: 10\ntrain:\n  quiet: true\n  steps: 4\n  save_every: 2\n",
             fx.model, fx.train, fx.tmpl);
    ilr_test_write_file(cfg, fx.dir, "grpo.yaml", text, strlen(text));
    snprintf(run_cpu, sizeof run_cpu, "%s/cpu", fx.dir);
    snprintf(run_gpu, sizeof run_gpu, "%s/gpu", fx.dir);
    snprintf(o_cpu, sizeof o_cpu, "output_dir=%s", run_cpu);
    snprintf(o_gpu, sizeof o_gpu, "output_dir=%s", run_gpu);
    int rc = ilr_test_cli(out, sizeof out, "train", cfg, o_cpu, NULL);
    if (rc) print_error("%s\n", out);
    assert_int_equal(rc, 0);
    rc = ilr_test_cli(out, sizeof out, "train", cfg, o_gpu, "train.device=cuda", NULL);
    if (rc) print_error("%s\n", out);
    assert_int_equal(rc, 0);
    json_t *cpu[16], *gpu[16];
    int n_cpu = read_steps(run_cpu, cpu), n_gpu = read_steps(run_gpu, gpu);
    assert_int_equal(n_cpu, 4);
    assert_int_equal(n_gpu, 4);
    print_message("grpo step 1: reward %.4f (CPU) vs %.4f (GPU), grad norm %.5f vs %.5f; step 4 reward %.4f vs %.4f\n",
                  field(cpu[0], "reward"), field(gpu[0], "reward"), field(cpu[0], "grad_norm"),
                  field(gpu[0], "grad_norm"), field(cpu[3], "reward"), field(gpu[3], "reward"));
    /* the GPU run also generates on the GPU (bf16), so its rollouts are other draws from nearly the same
     * distributions: the same rewards and gradient sizes within sampling noise, not to the bit */
    assert_true(fabs(field(cpu[0], "reward") - field(gpu[0], "reward")) < 0.1);
    assert_true(fabs(field(gpu[0], "grad_norm") - field(cpu[0], "grad_norm")) < 0.2 * field(cpu[0], "grad_norm"));
    for (int i = 0; i < 4; i++) json_decref(cpu[i]), json_decref(gpu[i]);
    /* resume the GPU run from its step-4 checkpoint for two more steps */
    rc = ilr_test_cli(out, sizeof out, "train", "--resume", run_gpu, "train.steps=6", NULL);
    if (rc) print_error("%s\n", out);
    assert_int_equal(rc, 0);
    assert_int_equal(read_steps(run_gpu, gpu), 6);
    for (int i = 0; i < 6; i++) json_decref(gpu[i]);
    ilr_model m;
    assert_int_equal(ilr_model_load(&m, run_gpu), 0);
    ilr_model_free(&m);
    ilr_test_rmtree(fx.dir);
}

static void test_errors(void **state) {
    (void)state;
    NEED_GPU();
    ILR_EXPECT_ERROR(ilr_cuda_init(99), ILR_EINVAL, "already using device 0");
    void *p = ilr_cuda_alloc((size_t)1 << 50, "a petabyte");
    assert_null(p);
    ilr_test_expect_error(ILR_ENOMEM, ILR_ENOMEM, "a petabyte", "MiB", (const char *)NULL);
    assert_int_equal(ilr_cuda_sync(), 0);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_matmul),
    cmocka_unit_test(test_rmsnorm_swiglu_rope_embedding),
    cmocka_unit_test(test_attention),
    cmocka_unit_test(test_lm_head),
    cmocka_unit_test(test_adamw_and_norm),
    cmocka_unit_test(test_transformer_qwen2),
    cmocka_unit_test(test_transformer_llama),
    cmocka_unit_test(test_sft_on_gpu),
    cmocka_unit_test(test_grpo_on_gpu),
    cmocka_unit_test(test_errors),
};
ILR_TEST_GROUP_SETUP(cuda, tests, ilr_cuda_test_setup, NULL)

#endif
