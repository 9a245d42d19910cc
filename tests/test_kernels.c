/* kernels: every CPU kernel against a float64 loop written here.  Forwards are compared with the float64
 * forward; backwards with central differences (h = 1e-6) of the float64 forward under the loss
 * L = sum(out * R), R fixed and random.  Errors are max|got - want| / max(max|want|, 1e-6) per tensor.
 * Plus the properties the model relies on: attention ignores padding bit for bit, RoPE tables match
 * transformers (llama3 scaling included), the chunked LM head agrees across chunk sizes, backward
 * functions accumulate, reductions do not depend on the thread count. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ilr/bf16.h"
#include "ilr/exp_neg.h"
#include "ilr/kernels.h"
#include "ilr/rng.h"
#include "test_util.h"

#define FD_H 1e-6
#define FWD_TOL 1e-5
#define BWD_TOL 1e-4

/* ---- helpers: allocation pool, random tensors, comparisons, finite differences ---- */

static void *pool[64];
static int pool_used;

static void *talloc(size_t bytes) {
    assert_true(pool_used < 64);
    void *p = calloc(1, bytes ? bytes : 1);
    assert_non_null(p);
    return pool[pool_used++] = p;
}

static void tfree_all(void) {
    while (pool_used > 0) free(pool[--pool_used]);
}

static float *randn(ilr_rng *rng, size_t n, float std) {
    float *x = talloc(n * sizeof(float));
    ilr_rng_fill_normal(rng, x, (long)n, 0.0f, std);
    return x;
}

static double *to_f64(const float *x, size_t n) {
    double *d = talloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++) d[i] = x[i];
    return d;
}

static float *copy_f32(const float *x, size_t n) {
    float *c = talloc(n * sizeof(float));
    memcpy(c, x, n * sizeof(float));
    return c;
}

static double dot64(const double *a, const double *b, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

static double rel_err(const float *got, const double *want, size_t n) {
    double diff = 0.0, scale = 1e-6;
    for (size_t i = 0; i < n; i++) {
        diff = fmax(diff, fabs(got[i] - want[i]));
        scale = fmax(scale, fabs(want[i]));
    }
    return diff / scale;
}

/* Prints "what: max rel err E over N values" and asserts E < tol. */
static void expect_close(const char *what, const float *got, const double *want, size_t n, double tol) {
    double e = rel_err(got, want, n);
    print_message("%s: max rel err %.1e over %zu values\n", what, e, n);
    assert_true(e < tol);
}

typedef double (*loss_fn)(void *ctx);

/* Compares the kernel's gradient with central differences of loss(ctx) in param (n doubles, inside ctx). */
static void expect_grad(const char *what, const float *analytic, double *param, size_t n, loss_fn loss,
                        void *ctx) {
    double *fd = malloc(n * sizeof(double));
    assert_non_null(fd);
    for (size_t i = 0; i < n; i++) {
        double save = param[i];
        param[i] = save + FD_H;
        double lp = loss(ctx);
        param[i] = save - FD_H;
        double lm = loss(ctx);
        param[i] = save;
        fd[i] = (lp - lm) / (2 * FD_H);
    }
    double e = rel_err(analytic, fd, n);
    free(fd);
    print_message("%s: max rel err %.1e over %zu values (vs finite differences)\n", what, e, n);
    assert_true(e < BWD_TOL);
}

/* after (n) holds a gradient after a second identical backward call; once (n) after the first. */
static void expect_accumulated(const char *what, const float *after, const float *once, size_t n) {
    double diff = 0.0, scale = 1e-30;
    for (size_t i = 0; i < n; i++) {
        diff = fmax(diff, fabs(after[i] - 2.0 * once[i]));
        scale = fmax(scale, fabs(2.0 * once[i]));
    }
    if (diff / scale >= 1e-6) print_message("%s: second call gives %.1e rel err from 2x\n", what, diff / scale);
    assert_true(diff / scale < 1e-6);
}

/* ---- matmul ---- */

typedef struct {
    double *inp, *w, *bias, *R, *out;
    int N, IN, OUT;
} matmul_ctx;

static void matmul_ref(matmul_ctx *c) {
    for (int n = 0; n < c->N; n++)
        for (int o = 0; o < c->OUT; o++)
            c->out[n * c->OUT + o] = (c->bias ? c->bias[o] : 0.0) + dot64(c->inp + n * c->IN, c->w + o * c->IN, c->IN);
}

static double matmul_loss(void *p) {
    matmul_ctx *c = p;
    matmul_ref(c);
    return dot64(c->out, c->R, (size_t)c->N * c->OUT);
}

static void test_matmul(void **state) {
    (void)state;
    enum { N = 5, IN = 7, OUT = 6 };
    ilr_rng rng;
    ilr_rng_init(&rng, 1, 1);
    float *inp = randn(&rng, N * IN, 1), *w = randn(&rng, OUT * IN, 1), *b = randn(&rng, OUT, 1);
    float *R = randn(&rng, N * OUT, 1), *out = talloc(N * OUT * sizeof(float));
    matmul_ctx c = {to_f64(inp, N * IN), to_f64(w, OUT * IN), NULL, to_f64(R, N * OUT),
                    talloc(N * OUT * sizeof(double)), N, IN, OUT};
    ilr_matmul_forward(out, inp, w, NULL, N, IN, OUT);
    matmul_ref(&c);
    expect_close("matmul forward (no bias)", out, c.out, N * OUT, FWD_TOL);
    c.bias = to_f64(b, OUT);
    ilr_matmul_forward(out, inp, w, b, N, IN, OUT);
    matmul_ref(&c);
    expect_close("matmul forward (bias)", out, c.out, N * OUT, FWD_TOL);

    float *dinp = talloc(N * IN * 4), *dw = talloc(OUT * IN * 4), *db = talloc(OUT * 4);
    ilr_matmul_backward(dinp, dw, db, R, inp, w, N, IN, OUT);
    expect_grad("matmul backward dinp", dinp, c.inp, N * IN, matmul_loss, &c);
    expect_grad("matmul backward dweight", dw, c.w, OUT * IN, matmul_loss, &c);
    expect_grad("matmul backward dbias", db, c.bias, OUT, matmul_loss, &c);

    /* NULL outputs are skipped and do not change the others. */
    float *dinp1 = talloc(N * IN * 4), *dw1 = talloc(OUT * IN * 4), *db1 = talloc(OUT * 4);
    ilr_matmul_backward(dinp1, NULL, NULL, R, inp, w, N, IN, OUT);
    ilr_matmul_backward(NULL, dw1, NULL, R, inp, w, N, IN, OUT);
    ilr_matmul_backward(NULL, NULL, db1, R, inp, w, N, IN, OUT);
    assert_memory_equal(dinp1, dinp, N * IN * 4);
    assert_memory_equal(dw1, dw, OUT * IN * 4);
    assert_memory_equal(db1, db, OUT * 4);
    float *dinp0 = copy_f32(dinp, N * IN), *dw0 = copy_f32(dw, OUT * IN), *db0 = copy_f32(db, OUT);
    ilr_matmul_backward(dinp, dw, db, R, inp, w, N, IN, OUT);
    expect_accumulated("matmul dinp", dinp, dinp0, N * IN);
    expect_accumulated("matmul dweight", dw, dw0, OUT * IN);
    expect_accumulated("matmul dbias", db, db0, OUT);
    tfree_all();
}

/* ---- linear layers for a few rows (a decoding batch: the weights read where they lie) ---- */

/* One case of ilr_matmul_few against float64; nothing past out's N rows written; each row the same bits as that
 * row multiplied alone (a sequence decodes alike whatever its batch).  Returns the relative error. */
static double matmul_few_case(ilr_rng *rng, int N, int IN, int OUT, int with_bias) {
    float *inp = randn(rng, (size_t)N * IN, 1), *w = randn(rng, (size_t)OUT * IN, 1), *b = randn(rng, OUT, 1);
    double *want = talloc((size_t)N * OUT * sizeof(double));
    matmul_ctx c = {to_f64(inp, (size_t)N * IN), to_f64(w, (size_t)OUT * IN), with_bias ? to_f64(b, OUT) : NULL, NULL,
                    want, N, IN, OUT};
    matmul_ref(&c);
    float *out = talloc(((size_t)N * OUT + 16) * sizeof(float)), *alone = talloc((size_t)OUT * sizeof(float));
    for (size_t i = 0; i < (size_t)N * OUT + 16; i++) out[i] = NAN;
    ilr_matmul_few(out, inp, w, with_bias ? b : NULL, N, IN, OUT);
    for (size_t i = (size_t)N * OUT; i < (size_t)N * OUT + 16; i++) assert_true(isnan(out[i]));
    for (int n = 0; n < N; n++) {
        ilr_matmul_few(alone, inp + (size_t)n * IN, w, with_bias ? b : NULL, 1, IN, OUT);
        assert_memory_equal(alone, out + (size_t)n * OUT, (size_t)OUT * sizeof(float));
    }
    if (ilr_matmul_few_fits(N, IN, OUT)) { /* and ilr_matmul_forward takes it there */
        float *fwd = talloc((size_t)N * OUT * sizeof(float));
        ilr_matmul_forward(fwd, inp, w, with_bias ? b : NULL, N, IN, OUT);
        if (N == 1 || !ilr_small_gemm_fits(N, OUT, IN)) /* the narrow-matrix tile goes first for 2+ rows */
            assert_memory_equal(fwd, out, (size_t)N * OUT * sizeof(float));
    }
    double e = rel_err(out, want, (size_t)N * OUT);
    tfree_all();
    return e;
}

static void test_matmul_few(void **state) {
    (void)state;
    ilr_rng rng;
    ilr_rng_init(&rng, 9, 1);
    /* every block height (1-8 rows) and two blocks (9-16); IN below, at and past a multiple of 16 (the masked last
     * step); OUT odd (the last column alone) and even; the shapes of `small` and qwen2.5-0.5b */
    const int shapes[][3] = {{2, 1, 1},    {3, 15, 3},    {4, 16, 64},    {5, 17, 129},  {6, 31, 2},
                             {7, 33, 7},   {8, 512, 40},  {9, 1408, 33},  {12, 600, 100}, {16, 896, 17},
                             {1, 37, 5},   {11, 4864, 9}, {16, 513, 600}, {13, 48, 1}};
    double worst = 0;
    int cases = 0;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        for (int bias = 0; bias < 2; bias++, cases++)
            worst = fmax(worst, matmul_few_case(&rng, shapes[i][0], shapes[i][1], shapes[i][2], bias));
    print_message("matmul, few rows (N 1-16, IN 1-4864, OUT 1-600, with and without bias, %d cases%s): max rel err %.1e "
                  "against float64; every row the same bits as alone\n", cases,
                  ilr_matmul_few_fits(8, 512, 512) ? "" : "; this build has no AVX-512: the plain loop", worst);
    assert_true(worst < FWD_TOL);
    assert_false(ilr_matmul_few_fits(ILR_F32_FEW_ROWS + 1, 512, 512)); /* more rows: sgemm */
}

/* ---- products of narrow matrices (the AVX2 tile that replaces sgemm for them) ---- */

/* One case of ilr_small_gemm_nt or _nn: C (M, N; ldc = N + 3) = or += alpha A (M, K; lda = K + 5) @ B against
 * float64, B = W^T with W (N, K; ldw = K + 2) or B (K, N; ldb = N + 1); the padding columns must stay as
 * they were.  Returns the relative error. */
static double small_gemm_case(ilr_rng *rng, int nt, int M, int N, int K, float alpha, int accumulate) {
    int lda = K + 5, ldb = nt ? K + 2 : N + 1, ldc = N + 3;
    float *a = randn(rng, (size_t)M * lda, 1), *b = randn(rng, (size_t)(nt ? N : K) * ldb, 1);
    float *c = randn(rng, (size_t)M * ldc, 1), *c0 = talloc((size_t)M * ldc * sizeof(float));
    memcpy(c0, c, (size_t)M * ldc * sizeof(float));
    double *want = talloc((size_t)M * N * sizeof(double));
    float *got = talloc((size_t)M * N * sizeof(float));
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double acc = 0;
            for (int k = 0; k < K; k++)
                acc += (double)a[(size_t)i * lda + k] * (nt ? b[(size_t)j * ldb + k] : b[(size_t)k * ldb + j]);
            want[(size_t)i * N + j] = alpha * acc + (accumulate ? c0[(size_t)i * ldc + j] : 0.0);
        }
    assert_true(ilr_small_gemm_fits(M, N, K));
    if (nt) ilr_small_gemm_nt(c, ldc, a, lda, b, ldb, M, N, K, alpha, accumulate);
    else ilr_small_gemm_nn(c, ldc, a, lda, b, ldb, M, N, K, alpha, accumulate);
    for (int i = 0; i < M; i++) {
        memcpy(got + (size_t)i * N, c + (size_t)i * ldc, (size_t)N * sizeof(float));
        for (int j = N; j < ldc; j++) assert_true(c[(size_t)i * ldc + j] == c0[(size_t)i * ldc + j]);
    }
    double e = rel_err(got, want, (size_t)M * N);
    tfree_all();
    return e;
}

static void test_small_gemm(void **state) {
    (void)state;
    if (!ilr_small_gemm_fits(64, 96, 96)) {
        print_message("small gemm: this build has no AVX2 + FMA, so sgemm takes every product (nothing to test)\n");
        skip();
    }
    ilr_rng rng;
    ilr_rng_init(&rng, 11, 1);
    /* every tile height (1-6 rows, and more rows than a tile), widths past a multiple of 16, the world's shapes,
     * and the largest inner dimension and packed size the path takes */
    const int shapes[][3] = {{1, 1, 1},  {5, 17, 3},   {6, 16, 8},    {7, 33, 96},  {13, 96, 32}, {64, 256, 96},
                             {70, 96, 256}, {131, 512, 96}, {4, 128, 512}, {9, 31, 45}};
    double worst = 0;
    int cases = 0;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        for (int nt = 0; nt < 2; nt++)
            for (int acc = 0; acc < 2; acc++, cases++)
                worst = fmax(worst, small_gemm_case(&rng, nt, shapes[i][0], shapes[i][1], shapes[i][2], acc ? 1.0f : 0.7f, acc));
    print_message("small gemm (A W^T and A B, = and +=, alpha 1 and 0.7, strided, %d cases): max rel err %.1e against "
                  "float64\n", cases, worst);
    assert_true(worst < FWD_TOL);
    /* what the path declines: a long inner dimension, a packed B over its buffer, an empty product */
    assert_false(ilr_small_gemm_fits(64, 96, ILR_SMALL_GEMM_MAX_K + 1));
    assert_false(ilr_small_gemm_fits(64, 1024, 96));
    assert_false(ilr_small_gemm_fits(0, 96, 96));
}

/* ---- matmul with bf16 weights ---- */

/* One case of ilr_matmul_bf16_forward (activations kept fp32) against the float64 product with the bf16-rounded
 * weights: the few-row kernel (N <= ILR_BF16_FEW_ROWS), or panels of panel_rows weight rows through sgemm (0: no
 * scratch, every N on the few-row kernel; under 32 rows also on a build with AVX512_BF16, whose bf16 kernel
 * needs scratch for 32 rows: its tests are below).  Returns the relative error. */
static double matmul_bf16_case(ilr_rng *rng, int N, int IN, int OUT, int with_bias, int panel_rows) {
    float *inp = randn(rng, (size_t)N * IN, 1), *w = randn(rng, (size_t)OUT * IN, 1), *b = randn(rng, OUT, 1);
    uint16_t *h = talloc((size_t)OUT * IN * sizeof(uint16_t));
    ilr_bf16_round(h, w, (size_t)OUT * IN);
    double *want = talloc((size_t)N * OUT * sizeof(double)), *wr = talloc((size_t)OUT * IN * sizeof(double));
    for (size_t i = 0; i < (size_t)OUT * IN; i++) {
        assert_int_equal(h[i], ilr_f32_to_bf16(w[i]));
        wr[i] = ilr_bf16_to_f32(h[i]);
    }
    matmul_ctx c = {to_f64(inp, (size_t)N * IN), wr, with_bias ? to_f64(b, OUT) : NULL, NULL, want, N, IN, OUT};
    matmul_ref(&c);
    size_t scratch_floats = (size_t)panel_rows * IN;
    float *scratch = panel_rows ? talloc(scratch_floats * sizeof(float)) : NULL;
    float *out = talloc((size_t)N * OUT * sizeof(float));
    for (size_t i = 0; i < (size_t)N * OUT; i++) out[i] = NAN; /* every output is written */
    ilr_matmul_bf16_forward(out, inp, h, with_bias ? b : NULL, N, IN, OUT, 0, scratch, scratch_floats);
    double e = rel_err(out, want, (size_t)N * OUT);
    tfree_all();
    return e;
}

static void test_matmul_bf16(void **state) {
    (void)state;
    ilr_rng rng;
    ilr_rng_init(&rng, 3, 1);
    /* the few-row kernel: every row-tile height (1-4) and more rows than a tile, column counts past a multiple
     * of 8, lengths past a multiple of 8 */
    const int few[][3] = {{1, 37, 13}, {2, 64, 8}, {3, 19, 17}, {4, 300, 33}, {5, 45, 29}, {7, 8, 3}, {16, 71, 40},
                          {1, 5, 1}, {9, 130, 9}};
    double worst = 0;
    int cases = 0;
    for (size_t i = 0; i < sizeof few / sizeof few[0]; i++)
        for (int bias = 0; bias < 2; bias++, cases++)
            worst = fmax(worst, matmul_bf16_case(&rng, few[i][0], few[i][1], few[i][2], bias, 4));
    print_message("matmul bf16, few rows (N 1-16, %d cases, with and without bias): max rel err %.1e against float64 "
                  "on the bf16-rounded weights\n", cases, worst);
    assert_true(worst < FWD_TOL);
    /* many rows: panels of 3 and 20 weight rows (several panels, a short last one, one panel for all), and
     * without scratch the few-row kernel for any N */
    const int many[][4] = {{17, 45, 29, 3}, {40, 37, 70, 20}, {33, 9, 5, 3}, {20, 100, 11, 0}, {24, 16, 20, 20}};
    worst = 0, cases = 0;
    for (size_t i = 0; i < sizeof many / sizeof many[0]; i++)
        for (int bias = 0; bias < 2; bias++, cases++)
            worst = fmax(worst, matmul_bf16_case(&rng, many[i][0], many[i][1], many[i][2], bias, many[i][3]));
    print_message("matmul bf16, many rows (N 17-40 in panels through sgemm, %d cases): max rel err %.1e\n", cases, worst);
    assert_true(worst < FWD_TOL);
    /* rounding to bf16 is to nearest even, and widening back is exact */
    float x[4] = {1.0f + 0x1p-8f, 1.0f + 0x3p-8f, -2.5f, 1e-30f};
    uint16_t hx[4];
    ilr_bf16_round(hx, x, 4);
    assert_int_equal(hx[0], 0x3f80); /* a tie goes to the even mantissa (down) */
    assert_int_equal(hx[1], 0x3f82); /* ... and here up */
    assert_true(ilr_bf16_to_f32(hx[2]) == -2.5f);
    assert_true(fabsf(ilr_bf16_to_f32(hx[3]) - 1e-30f) < 1e-32f);
    tfree_all();
}

/* One case of ilr_matmul_bf16_dp (scratch for `rows` rows at a time: several packings when fewer than N)
 * against a float64 product on the same inputs: with the activations rounded to bf16 as the kernel rounds them
 * (split 0), or as they are (split 1: hi + lo).  Also checks that nothing past out's N rows is written.
 * Returns the relative error. */
static double matmul_bf16_dp_case(ilr_rng *rng, int N, int IN, int OUT, int with_bias, int split, int rows) {
    float *inp = randn(rng, (size_t)N * IN, 1), *w = randn(rng, (size_t)OUT * IN, 1), *b = randn(rng, OUT, 1);
    uint16_t *h = talloc((size_t)OUT * IN * sizeof(uint16_t));
    ilr_bf16_round(h, w, (size_t)OUT * IN);
    double *x = to_f64(inp, (size_t)N * IN), *wr = talloc((size_t)OUT * IN * sizeof(double));
    double *want = talloc((size_t)N * OUT * sizeof(double));
    for (size_t i = 0; i < (size_t)OUT * IN; i++) wr[i] = ilr_bf16_to_f32(h[i]);
    for (size_t i = 0; i < (size_t)N * IN && !split; i++) x[i] = ilr_bf16_to_f32(ilr_f32_to_bf16(inp[i]));
    matmul_ctx c = {x, wr, with_bias ? to_f64(b, OUT) : NULL, NULL, want, N, IN, OUT};
    matmul_ref(&c);
    size_t scratch_floats = ilr_matmul_bf16_dp_scratch(rows, IN, split);
    float *scratch = talloc(scratch_floats * sizeof(float)), *out = talloc(((size_t)N * OUT + 16) * sizeof(float));
    for (size_t i = 0; i < (size_t)N * OUT + 16; i++) out[i] = NAN;
    assert_int_equal(ilr_matmul_bf16_dp(out, inp, h, with_bias ? b : NULL, N, IN, OUT, split, scratch, scratch_floats), 0);
    for (size_t i = (size_t)N * OUT; i < (size_t)N * OUT + 16; i++) assert_true(isnan(out[i]));
    double e = rel_err(out, want, (size_t)N * OUT);
    tfree_all();
    return e;
}

static void test_matmul_bf16_dp(void **state) {
    (void)state;
    if (!ilr_matmul_bf16_dp_available()) {
        print_message("matmul bf16 x bf16: this build has no AVX512_BF16 (compiled for a CPU without it), so "
                      "ilr_matmul_bf16_dp declines and sgemm panels take many-row products (tested above)\n");
        skip();
    }
    ilr_rng rng;
    ilr_rng_init(&rng, 5, 1);
    /* N just above ILR_BF16_FEW_ROWS, at and past the 16-row groups and 32-row tiles; IN odd, even, 1, past a
     * multiple of 32; OUT below, at and past the 12-column tiles; qwen2.5-0.5b's widths; packing 32 rows at a
     * time (several chunks, a short last one) or all at once */
    const int shapes[][4] = {{17, 45, 29, 32},  {31, 1, 12, 32},   {32, 2, 13, 32},  {33, 3, 1, 64},
                             {47, 33, 25, 32},  {64, 64, 24, 64},  {65, 95, 40, 32}, {100, 130, 37, 96},
                             {40, 896, 128, 64}, {20, 4864, 11, 32}, {131, 31, 7, 32}};
    double worst[2] = {0, 0};
    int cases = 0;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        for (int bias = 0; bias < 2; bias++)
            for (int split = 0; split < 2; split++, cases++)
                worst[split] = fmax(worst[split], matmul_bf16_dp_case(&rng, shapes[i][0], shapes[i][1], shapes[i][2],
                                                                      bias, split, shapes[i][3]));
    print_message("matmul bf16 x bf16 (vdpbf16ps; N 17-131, IN 1-4864, OUT 1-128, with and without bias, %d cases): "
                  "max rel err %.1e against float64 on the bf16-rounded activations and weights; split into hi + lo: "
                  "%.1e against float64 on the fp32 activations\n", cases, worst[0], worst[1]);
    assert_true(worst[0] < 5e-6);
    assert_true(worst[1] < FWD_TOL);
    /* too little scratch for one tile of 32 rows: declined, out untouched */
    float x[64] = {0}, o[4] = {7, 7, 7, 7}, sc[64];
    uint16_t wt[2] = {0};
    assert_int_equal(ilr_matmul_bf16_dp(o, x, wt, NULL, 2, 2, 1, 0, sc, 31), -1);
    assert_true(o[0] == 7.0f);
    /* through ilr_matmul_bf16_forward: acts_bf16 0 and 1 with scratch for 32 rows, N just above few rows */
    float *inp = randn(&rng, 17 * 40, 1), *w = randn(&rng, 30 * 40, 1), *a = talloc(17 * 30 * sizeof(float));
    float *bb = talloc(17 * 30 * sizeof(float)), *scratch = talloc(ilr_matmul_bf16_dp_scratch(32, 40, 1) * sizeof(float));
    uint16_t *h = talloc(30 * 40 * sizeof(uint16_t));
    ilr_bf16_round(h, w, 30 * 40);
    ilr_matmul_bf16_forward(a, inp, h, NULL, 17, 40, 30, 0, scratch, ilr_matmul_bf16_dp_scratch(32, 40, 1));
    assert_int_equal(ilr_matmul_bf16_dp(bb, inp, h, NULL, 17, 40, 30, 1, scratch, ilr_matmul_bf16_dp_scratch(32, 40, 1)), 0);
    assert_memory_equal(a, bb, 17 * 30 * sizeof(float));
    ilr_matmul_bf16_forward(a, inp, h, NULL, 17, 40, 30, 1, scratch, ilr_matmul_bf16_dp_scratch(32, 40, 0));
    assert_int_equal(ilr_matmul_bf16_dp(bb, inp, h, NULL, 17, 40, 30, 0, scratch, ilr_matmul_bf16_dp_scratch(32, 40, 0)), 0);
    assert_memory_equal(a, bb, 17 * 30 * sizeof(float));
    tfree_all();
}

/* ---- embedding ---- */

typedef struct {
    double *wte, *R;
    const int *tokens;
    int N, C;
} embedding_ctx;

static double embedding_loss(void *p) {
    embedding_ctx *c = p;
    double L = 0.0;
    for (int n = 0; n < c->N; n++) L += dot64(c->wte + (size_t)c->tokens[n] * c->C, c->R + (size_t)n * c->C, c->C);
    return L;
}

static void test_embedding(void **state) {
    (void)state;
    enum { V = 11, C = 70, N = 9 };
    const int tokens[N] = {3, 0, 10, 3, 7, 3, 0, 5, 10};
    ilr_rng rng;
    ilr_rng_init(&rng, 2, 1);
    float *wte = randn(&rng, V * C, 1), *R = randn(&rng, N * C, 1), *out = talloc(N * C * 4);
    ilr_embedding_forward(out, tokens, wte, N, C);
    for (int n = 0; n < N; n++) assert_memory_equal(out + n * C, wte + tokens[n] * C, C * 4);
    float *dwte = talloc(V * C * 4);
    ilr_embedding_backward(dwte, R, tokens, N, C);
    embedding_ctx c = {to_f64(wte, V * C), to_f64(R, N * C), tokens, N, C};
    expect_grad("embedding backward dwte", dwte, c.wte, V * C, embedding_loss, &c);
    float *d0 = copy_f32(dwte, V * C);
    ilr_embedding_backward(dwte, R, tokens, N, C);
    expect_accumulated("embedding dwte", dwte, d0, V * C);

    /* A batch big enough to run in parallel: the same bits with 1 and 3 threads. */
    enum { BN = 600, BC = 130, BV = 50 };
    int *btok = talloc(BN * sizeof(int));
    for (int n = 0; n < BN; n++) btok[n] = (int)ilr_rng_below(&rng, BV);
    float *bd = randn(&rng, BN * BC, 1), *g1 = talloc(BV * BC * 4), *g3 = talloc(BV * BC * 4);
    int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    ilr_embedding_backward(g1, bd, btok, BN, BC);
    omp_set_num_threads(3);
    ilr_embedding_backward(g3, bd, btok, BN, BC);
    omp_set_num_threads(threads);
    assert_memory_equal(g1, g3, BV * BC * 4);
    print_message("embedding backward: identical bits with 1 and 3 threads over %d values\n", BV * BC);
    tfree_all();
}

/* ---- RMSNorm ---- */

typedef struct {
    double *x, *w, *R, *out, *rstd;
    int N, C;
    double eps;
} rmsnorm_ctx;

static void rmsnorm_ref(rmsnorm_ctx *c) {
    for (int n = 0; n < c->N; n++) {
        const double *x = c->x + n * c->C;
        double r = 1.0 / sqrt(dot64(x, x, c->C) / c->C + c->eps);
        for (int i = 0; i < c->C; i++) c->out[n * c->C + i] = x[i] * r * c->w[i];
        c->rstd[n] = r;
    }
}

static double rmsnorm_loss(void *p) {
    rmsnorm_ctx *c = p;
    rmsnorm_ref(c);
    return dot64(c->out, c->R, (size_t)c->N * c->C);
}

static void test_rmsnorm(void **state) {
    (void)state;
    enum { N = 6, C = 80 };
    ilr_rng rng;
    ilr_rng_init(&rng, 3, 1);
    float *x = randn(&rng, N * C, 1), *w = randn(&rng, C, 0.2f), *R = randn(&rng, N * C, 1);
    for (int i = 0; i < C; i++) w[i] += 1.0f;
    float *out = talloc(N * C * 4), *rstd = talloc(N * 4);
    ilr_rmsnorm_forward(out, rstd, x, w, N, C, 1e-6f);
    rmsnorm_ctx c = {to_f64(x, N * C), to_f64(w, C), to_f64(R, N * C), talloc(N * C * 8), talloc(N * 8), N, C,
                     (double)1e-6f};
    rmsnorm_ref(&c);
    expect_close("rmsnorm forward out", out, c.out, N * C, FWD_TOL);
    expect_close("rmsnorm forward rstd", rstd, c.rstd, N, FWD_TOL);
    float *dx = talloc(N * C * 4), *dw = talloc(C * 4);
    ilr_rmsnorm_backward(dx, dw, R, x, w, rstd, N, C);
    expect_grad("rmsnorm backward dx", dx, c.x, N * C, rmsnorm_loss, &c);
    expect_grad("rmsnorm backward dweight", dw, c.w, C, rmsnorm_loss, &c);
    float *dx0 = copy_f32(dx, N * C), *dw0 = copy_f32(dw, C);
    ilr_rmsnorm_backward(dx, NULL, R, x, w, rstd, N, C);
    ilr_rmsnorm_backward(NULL, dw, R, x, w, rstd, N, C);
    expect_accumulated("rmsnorm dx", dx, dx0, N * C);
    expect_accumulated("rmsnorm dweight", dw, dw0, C);
    tfree_all();
}

/* ---- RoPE ---- */

/* transformers' _compute_llama3_parameters for one frequency, written out as the Python does it. */
static double llama3_inv_freq(double inv_freq, int *band) {
    const double factor = 8, low = 1, high = 4, orig = 8192;
    double wavelen = 2 * M_PI / inv_freq;
    double inv_freq_llama = wavelen > orig / low ? inv_freq / factor : inv_freq;
    double smooth_factor = (orig / wavelen - low) / (high - low);
    double smoothed = (1 - smooth_factor) * inv_freq_llama / factor + smooth_factor * inv_freq_llama;
    int is_medium = !(wavelen < orig / high) && !(wavelen > orig / low);
    *band = wavelen < orig / high ? 0 : is_medium ? 1 : 2;
    return is_medium ? smoothed : inv_freq_llama;
}

/* Checks the tables (T, HD/2) against cos/sin of pos * inv_freq computed here; returns the max abs error. */
static double rope_table_err(const float *cos_t, const float *sin_t, int T, int HD, const double *inv_freq) {
    double err = 0.0;
    for (int t = 0; t < T; t++)
        for (int j = 0; j < HD / 2; j++) {
            err = fmax(err, fabs(cos_t[t * (HD / 2) + j] - cos(t * inv_freq[j])));
            err = fmax(err, fabs(sin_t[t * (HD / 2) + j] - sin(t * inv_freq[j])));
        }
    return err;
}

static void test_rope_tables(void **state) {
    (void)state;
    enum { T = 8193, HD = 16 };
    float *cos_t = talloc(T * HD / 2 * 4), *sin_t = talloc(T * HD / 2 * 4);
    double inv_freq[HD / 2];
    ilr_rope_table(cos_t, sin_t, T, HD, 1e4, NULL);
    for (int j = 0; j < HD / 2; j++) inv_freq[j] = pow(1e4, -2.0 * j / HD);
    double err = rope_table_err(cos_t, sin_t, T, HD, inv_freq);
    print_message("rope table theta=1e4: max abs err %.1e over %d values\n", err, T * HD);
    assert_true(err < 1e-7);
    /* pos 10, j 4: inv_freq = 1e4^-0.5 = 0.01, angle 0.1 */
    assert_true(cos_t[10 * 8 + 4] == (float)0.9950041652780258 && sin_t[10 * 8 + 4] == (float)0.09983341664682815);

    ilr_rope_scaling s = {8, 1, 4, 8192};
    ilr_rope_table(cos_t, sin_t, T, HD, 5e5, &s);
    int bands[3] = {0, 0, 0}, band;
    for (int j = 0; j < HD / 2; j++) {
        inv_freq[j] = llama3_inv_freq(pow(5e5, -2.0 * j / HD), &band);
        bands[band]++;
    }
    assert_true(bands[0] == 4 && bands[1] == 1 && bands[2] == 3); /* all three bands occur */
    err = rope_table_err(cos_t, sin_t, T, HD, inv_freq);
    print_message("rope table llama3 (theta 5e5, factor 8, bands %d/%d/%d): max abs err %.1e over %d values\n",
                  bands[0], bands[1], bands[2], err, T * HD);
    assert_true(err < 1e-7);
    /* Python, transformers' formula in double: medium band j 4 at pos 1000, low band j 7 at pos 8000. */
    assert_true(fabs(cos_t[1000 * 8 + 4] - 0.8654010374940257) < 1e-7);
    assert_true(fabs(sin_t[1000 * 8 + 4] - 0.5010798781674073) < 1e-7);
    assert_true(fabs(cos_t[8000 * 8 + 7] - 0.9999468175124334) < 1e-7);
    tfree_all();
}

typedef struct {
    double *x, *R, *out;
    const int *pos;
    int N, H, HD;
} rope_ctx;

static void rope_ref(rope_ctx *c) {
    int half = c->HD / 2;
    for (int n = 0; n < c->N; n++)
        for (int h = 0; h < c->H; h++)
            for (int i = 0; i < half; i++) {
                double a = c->pos[n] * pow(1e4, -2.0 * i / c->HD), co = cos(a), si = sin(a);
                const double *x = c->x + (n * c->H + h) * c->HD;
                double *o = c->out + (n * c->H + h) * c->HD;
                o[i] = x[i] * co - x[i + half] * si;
                o[i + half] = x[i + half] * co + x[i] * si;
            }
}

static double rope_loss(void *p) {
    rope_ctx *c = p;
    rope_ref(c);
    return dot64(c->out, c->R, (size_t)c->N * c->H * c->HD);
}

static void test_rope(void **state) {
    (void)state;
    enum { T = 128, N = 5, H = 3, HD = 16, SZ = N * H * HD };
    const int pos[N] = {0, 3, 17, 127, 64};
    ilr_rng rng;
    ilr_rng_init(&rng, 4, 1);
    float *cos_t = talloc(T * HD / 2 * 4), *sin_t = talloc(T * HD / 2 * 4);
    ilr_rope_table(cos_t, sin_t, T, HD, 1e4, NULL);
    float *x0 = randn(&rng, SZ, 1), *R = randn(&rng, SZ, 1), *x = copy_f32(x0, SZ);
    rope_ctx c = {to_f64(x0, SZ), to_f64(R, SZ), talloc(SZ * 8), pos, N, H, HD};
    ilr_rope_forward(x, cos_t, sin_t, pos, N, H, HD);
    rope_ref(&c);
    expect_close("rope forward", x, c.out, SZ, FWD_TOL);
    ilr_rope_backward(x, cos_t, sin_t, pos, N, H, HD);
    double *want = to_f64(x0, SZ);
    double err = rel_err(x, want, SZ);
    print_message("rope forward then backward: max rel err %.1e from the input over %d values\n", err, SZ);
    assert_true(err < 1e-6);
    float *dx = copy_f32(R, SZ);
    ilr_rope_backward(dx, cos_t, sin_t, pos, N, H, HD);
    expect_grad("rope backward dx", dx, c.x, SZ, rope_loss, &c);
    tfree_all();
}

/* ---- attention ---- */

typedef struct {
    double *q, *k, *v, *R, *out, *att;
    const int *len;
    int B, T, NH, NKV, HD;
} attn_ctx;

static void attention_ref(attn_ctx *c) {
    int B = c->B, T = c->T, NH = c->NH, NKV = c->NKV, HD = c->HD;
    memset(c->out, 0, (size_t)B * T * NH * HD * sizeof(double));
    memset(c->att, 0, (size_t)B * NH * T * T * sizeof(double));
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++)
            for (int t = 0; t < c->len[b]; t++) {
                const double *q = c->q + ((b * T + t) * NH + h) * HD;
                double *att = c->att + ((b * NH + h) * T + t) * T, mx = -INFINITY, sum = 0.0;
                for (int t2 = 0; t2 <= t; t2++) {
                    att[t2] = dot64(q, c->k + ((b * T + t2) * NKV + h / (NH / NKV)) * HD, HD) / sqrt(HD);
                    mx = fmax(mx, att[t2]);
                }
                for (int t2 = 0; t2 <= t; t2++) sum += att[t2] = exp(att[t2] - mx);
                for (int t2 = 0; t2 <= t; t2++) {
                    att[t2] /= sum;
                    const double *v = c->v + ((b * T + t2) * NKV + h / (NH / NKV)) * HD;
                    for (int i = 0; i < HD; i++) c->out[((b * T + t) * NH + h) * HD + i] += att[t2] * v[i];
                }
            }
}

static double attention_loss(void *p) {
    attn_ctx *c = p;
    attention_ref(c);
    return dot64(c->out, c->R, (size_t)c->B * c->T * c->NH * c->HD);
}

enum { AB = 3, AT = 7, ANH = 4, ANKV = 2, AHD = 8, AQ = AB * AT * ANH * AHD, AKV = AB * AT * ANKV * AHD };
static const int attn_len[AB] = {AT, AT - 3, 1};
static float attn_scratch[8 * AT * AT]; /* attention backward scratch: up to 8 threads */

/* Forward + backward from zeroed gradients; returns out, att, dq, dk, dv in one block (freed by the pool). */
static float *attention_run(const float *q, const float *k, const float *v, const float *dout) {
    float *r = talloc((size_t)(2 * AQ + AB * ANH * AT * AT + 2 * AKV) * 4);
    float *out = r, *att = out + AQ, *dq = att + AB * ANH * AT * AT, *dk = dq + AQ, *dv = dk + AKV;
    ilr_attention_forward(out, att, q, k, v, attn_len, NULL, AB, AT, ANH, ANKV, AHD);
    ilr_attention_backward(dq, dk, dv, attn_scratch, 8 * AT * AT, dout, q, k, v, att, attn_len, NULL, AB, AT, ANH, ANKV,
                           AHD);
    return r;
}

static void test_attention(void **state) {
    (void)state;
    ilr_rng rng;
    ilr_rng_init(&rng, 5, 1);
    float *q = randn(&rng, AQ, 1), *k = randn(&rng, AKV, 1), *v = randn(&rng, AKV, 1), *R = randn(&rng, AQ, 1);
    float *out = talloc(AQ * 4), *att = talloc(AB * ANH * AT * AT * 4);
    ilr_attention_forward(out, att, q, k, v, attn_len, NULL, AB, AT, ANH, ANKV, AHD);
    attn_ctx c = {to_f64(q, AQ), to_f64(k, AKV), to_f64(v, AKV), to_f64(R, AQ), talloc(AQ * 8),
                  talloc(AB * ANH * AT * AT * 8), attn_len, AB, AT, ANH, ANKV, AHD};
    attention_ref(&c);
    expect_close("attention forward out", out, c.out, AQ, FWD_TOL);
    expect_close("attention forward att", att, c.att, AB * ANH * AT * AT, FWD_TOL);
    for (int b = 0; b < AB; b++)
        for (int t = attn_len[b]; t < AT; t++) {
            for (int i = 0; i < ANH * AHD; i++) assert_true(out[((b * AT + t) * ANH) * AHD + i] == 0.0f);
            for (int h = 0; h < ANH; h++)
                for (int t2 = 0; t2 < AT; t2++) assert_true(att[((b * ANH + h) * AT + t) * AT + t2] == 0.0f);
        }

    float *dq = talloc(AQ * 4), *dk = talloc(AKV * 4), *dv = talloc(AKV * 4);
    ilr_attention_backward(dq, dk, dv, attn_scratch, 8 * AT * AT, R, q, k, v, att, attn_len, NULL, AB, AT, ANH, ANKV, AHD);
    expect_grad("attention backward dq", dq, c.q, AQ, attention_loss, &c);
    expect_grad("attention backward dk", dk, c.k, AKV, attention_loss, &c);
    expect_grad("attention backward dv", dv, c.v, AKV, attention_loss, &c);
    float *dq0 = copy_f32(dq, AQ), *dk0 = copy_f32(dk, AKV), *dv0 = copy_f32(dv, AKV);
    ilr_attention_backward(dq, dk, dv, attn_scratch, 8 * AT * AT, R, q, k, v, att, attn_len, NULL, AB, AT, ANH, ANKV, AHD);
    expect_accumulated("attention dq", dq, dq0, AQ);
    expect_accumulated("attention dk", dk, dk0, AKV);
    expect_accumulated("attention dv", dv, dv0, AKV);
    tfree_all();
}

/* Garbage in the padding tokens' q, k, v and dout changes no real token's output or gradient, bit for bit,
 * and padding tokens get no gradient. */
static void test_attention_padding_ignored(void **state) {
    (void)state;
    ilr_rng rng;
    ilr_rng_init(&rng, 6, 1);
    float *q = randn(&rng, AQ, 1), *k = randn(&rng, AKV, 1), *v = randn(&rng, AKV, 1), *R = randn(&rng, AQ, 1);
    float *a = attention_run(q, k, v, R);
    for (int b = 0; b < AB; b++)
        for (int t = attn_len[b]; t < AT; t++) {
            for (int i = 0; i < ANH * AHD; i++) {
                q[(b * AT + t) * ANH * AHD + i] = 100.0f * (float)ilr_rng_normal(&rng);
                R[(b * AT + t) * ANH * AHD + i] = 100.0f * (float)ilr_rng_normal(&rng);
            }
            for (int i = 0; i < ANKV * AHD; i++) {
                k[(b * AT + t) * ANKV * AHD + i] = 100.0f * (float)ilr_rng_normal(&rng);
                v[(b * AT + t) * ANKV * AHD + i] = NAN;
            }
        }
    float *g = attention_run(q, k, v, R);
    /* out, att, dq, dk, dv of one position, as (offset, floats) in the result block */
    int checked = 0;
    for (int b = 0; b < AB; b++)
        for (int t = 0; t < AT; t++) {
            size_t qo = (size_t)(b * AT + t) * ANH * AHD, ko = (size_t)(b * AT + t) * ANKV * AHD;
            size_t att0 = AQ, dq0 = att0 + AB * ANH * AT * AT, dk0 = dq0 + AQ, dv0 = dk0 + AKV;
            int real = t < attn_len[b];
            assert_memory_equal(g + qo, a + qo, ANH * AHD * 4);             /* out (0 on padding) */
            assert_memory_equal(g + dq0 + qo, a + dq0 + qo, ANH * AHD * 4); /* dq */
            assert_memory_equal(g + dk0 + ko, a + dk0 + ko, ANKV * AHD * 4);
            assert_memory_equal(g + dv0 + ko, a + dv0 + ko, ANKV * AHD * 4);
            for (int h = 0; h < ANH; h++) {
                size_t ao = att0 + ((size_t)(b * ANH + h) * AT + t) * AT;
                assert_memory_equal(g + ao, a + ao, AT * 4);
            }
            if (!real)
                for (int i = 0; i < ANKV * AHD; i++) assert_true(g[dk0 + ko + i] == 0.0f && g[dv0 + ko + i] == 0.0f);
            checked += real;
        }
    print_message("attention: garbage in padding q/k/v/dout leaves %d real positions' out, att, dq, dk, dv "
                  "bit-identical\n", checked);
    tfree_all();
}

/* float64 backward of attention_ref (run first) under L = sum(out * R): adds into dq, dk, dv (zeroed). */
static void attention_ref_backward(attn_ctx *c, double *dq, double *dk, double *dv) {
    int B = c->B, T = c->T, NH = c->NH, NKV = c->NKV, HD = c->HD;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++)
            for (int t = 0; t < c->len[b]; t++) {
                size_t qo = (size_t)((b * T + t) * NH + h) * HD;
                const double *p = c->att + ((size_t)(b * NH + h) * T + t) * T, *r = c->R + qo;
                double dp[T], D = 0.0;
                for (int j = 0; j <= t; j++) {
                    dp[j] = dot64(r, c->v + (size_t)((b * T + j) * NKV + h / (NH / NKV)) * HD, HD);
                    D += p[j] * dp[j];
                }
                for (int j = 0; j <= t; j++) {
                    size_t ko = (size_t)((b * T + j) * NKV + h / (NH / NKV)) * HD;
                    double ds = p[j] * (dp[j] - D) / sqrt(HD);
                    for (int i = 0; i < HD; i++) {
                        dq[qo + i] += ds * c->k[ko + i];
                        dk[ko + i] += ds * c->q[qo + i];
                        dv[ko + i] += p[j] * r[i];
                    }
                }
            }
}

/* Sequences longer than the kernel's causal blocks (64 rows), with 1 thread (heads in parallel, the team of
 * one) and 8 (fewer (b, kv head) tasks than threads: heads in order, sgemm threaded), and each gradient
 * alone (the others NULL), against float64 loops. */
static void test_attention_long(void **state) {
    (void)state;
    enum { LB = 3, LT = 150, LNH = 4, LNKV = 2, LHD = 16, LQ = LB * LT * LNH * LHD, LKV = LB * LT * LNKV * LHD };
    enum { LATT = LB * LNH * LT * LT };
    static const int len[LB] = {LT, 70, 0};
    ilr_rng rng;
    ilr_rng_init(&rng, 7, 1);
    float *q = randn(&rng, LQ, 1), *k = randn(&rng, LKV, 1), *v = randn(&rng, LKV, 1), *R = randn(&rng, LQ, 1);
    attn_ctx c = {to_f64(q, LQ), to_f64(k, LKV), to_f64(v, LKV), to_f64(R, LQ), talloc(LQ * 8), talloc(LATT * 8),
                  len, LB, LT, LNH, LNKV, LHD};
    double *dq64 = talloc(LQ * 8), *dk64 = talloc(LKV * 8), *dv64 = talloc(LKV * 8);
    attention_ref(&c);
    attention_ref_backward(&c, dq64, dk64, dv64);
    float *out = talloc(LQ * 4), *att = talloc(LATT * 4), *scratch = talloc(ilr_attention_backward_scratch_floats(LT, 8) * 4);
    float *dq = talloc(LQ * 4), *dk = talloc(LKV * 4), *dv = talloc(LKV * 4);
    int threads = omp_get_max_threads(), counts[2] = {1, 8};
    for (int i = 0; i < 2; i++) {
        omp_set_num_threads(counts[i]);
        print_message("attention, T = %d, %d thread(s):\n", LT, counts[i]);
        ilr_attention_forward(out, att, q, k, v, len, NULL, LB, LT, LNH, LNKV, LHD);
        expect_close("  forward out", out, c.out, LQ, FWD_TOL);
        expect_close("  forward att", att, c.att, LATT, FWD_TOL);
        memset(dq, 0, LQ * 4);
        memset(dk, 0, LKV * 4);
        memset(dv, 0, LKV * 4);
        size_t scratch_floats = ilr_attention_backward_scratch_floats(LT, 8);
        ilr_attention_backward(dq, dk, dv, scratch, scratch_floats, R, q, k, v, att, len, NULL, LB, LT, LNH, LNKV, LHD);
        expect_close("  backward dq", dq, dq64, LQ, BWD_TOL);
        expect_close("  backward dk", dk, dk64, LKV, BWD_TOL);
        expect_close("  backward dv", dv, dv64, LKV, BWD_TOL);
        /* scratch for one thread only: the kernel works one task at a time, with the same result */
        memset(dq, 0, LQ * 4);
        memset(dk, 0, LKV * 4);
        memset(dv, 0, LKV * 4);
        ilr_attention_backward(dq, dk, dv, scratch, ilr_attention_backward_scratch_floats(LT, 1), R, q, k, v, att, len,
                               NULL, LB, LT, LNH, LNKV, LHD);
        expect_close("  backward dq, one buffer", dq, dq64, LQ, BWD_TOL);
        expect_close("  backward dk, one buffer", dk, dk64, LKV, BWD_TOL);
        expect_close("  backward dv, one buffer", dv, dv64, LKV, BWD_TOL);
        float *g[3] = {dq, dk, dv};
        const double *want[3] = {dq64, dk64, dv64};
        size_t n[3] = {LQ, LKV, LKV};
        for (int which = 0; which < 3; which++) {
            memset(g[which], 0, n[which] * 4);
            ilr_attention_backward(which == 0 ? dq : NULL, which == 1 ? dk : NULL, which == 2 ? dv : NULL,
                                   scratch, scratch_floats, R, q, k, v, att, len, NULL, LB, LT, LNH, LNKV, LHD);
            expect_close(which == 0 ? "  dq alone" : which == 1 ? "  dk alone" : "  dv alone", g[which],
                         want[which], n[which], BWD_TOL);
        }
    }
    omp_set_num_threads(threads);
    tfree_all();
}

/* Shared-prefix packing: segments that restart at a position s > 0 continue their document's first s tokens.
 * Each segment run unpacked (its prefix, then the segment, as a row of its own) must give the same out, the same
 * probabilities at the mapped keys, and the same dq of its tokens; a shared prefix's dk and dv are the sum over
 * its segments' rows (its own dout is given in its document's first segment's row only).  Rows with one document
 * and with two (SFT's packing: documents without shared segments, too), and long spans (past the 64-row
 * blocks).  With 1 and 8 threads. */
typedef struct {
    int row, doc, start, len, s; /* a segment: tokens start..start+len of row, in the document starting at doc */
} shared_seg;

static void test_attention_shared_prefix(void **state) {
    (void)state;
    enum { SB = 4, ST = 170, SNH = 4, SNKV = 2, SHD = 16, SEGS = 12 };
    /* row 0: prefix 5 (and its contiguous first segment of 4), segments of 7 and 1; row 1: prefix 70 + 10, then 80
     * and 2; row 2: documents of 30 and 20 (SFT packing); row 3: two documents, each with a shared prefix */
    static const shared_seg seg[SEGS] = {
        {0, 0, 0, 9, 0},   {0, 0, 9, 7, 5},     {0, 0, 16, 1, 5},  {1, 0, 0, 80, 0},    {1, 0, 80, 80, 70},
        {1, 0, 160, 2, 70}, {2, 0, 0, 30, 0},   {2, 30, 30, 20, 0}, {3, 0, 0, 10, 0},   {3, 0, 10, 3, 6},
        {3, 13, 13, 30, 0}, {3, 13, 43, 7, 20}};
    static const int len[SB] = {17, 162, 50, 50};
    const int nseg = SEGS;
    int UT = 0;
    for (int i = 0; i < nseg; i++) UT = seg[i].s + seg[i].len > UT ? seg[i].s + seg[i].len : UT;
    size_t Q = (size_t)SB * ST * SNH * SHD, KV = (size_t)SB * ST * SNKV * SHD, ATT = (size_t)SB * SNH * ST * ST;
    size_t UQ = (size_t)nseg * UT * SNH * SHD, UKV = (size_t)nseg * UT * SNKV * SHD, UATT = (size_t)nseg * SNH * UT * UT;
    ilr_rng rng;
    ilr_rng_init(&rng, 11, 1);
    float *q = randn(&rng, Q, 1), *k = randn(&rng, KV, 1), *v = randn(&rng, KV, 1), *R = randn(&rng, Q, 1);
    int *pos = talloc(sizeof(int) * SB * ST), *ulen = talloc(sizeof(int) * nseg);
    float *uq = talloc(UQ * 4), *uk = talloc(UKV * 4), *uv = talloc(UKV * 4), *uR = talloc(UQ * 4);
    /* the unpacked batch: row i = seg i's prefix (its document's first s tokens) + its tokens; the prefix's dout
     * where the prefix is the segment's own (s = 0) */
    for (int i = 0; i < nseg; i++) {
        const shared_seg *g = &seg[i];
        ulen[i] = g->s + g->len;
        for (int t = 0; t < ulen[i]; t++) {
            int src = t < g->s ? g->doc + t : g->start + t - g->s;
            if (t >= g->s) pos[g->row * ST + src] = t;
            memcpy(uq + ((size_t)i * UT + t) * SNH * SHD, q + ((size_t)g->row * ST + src) * SNH * SHD, SNH * SHD * 4);
            memcpy(uk + ((size_t)i * UT + t) * SNKV * SHD, k + ((size_t)g->row * ST + src) * SNKV * SHD, SNKV * SHD * 4);
            memcpy(uv + ((size_t)i * UT + t) * SNKV * SHD, v + ((size_t)g->row * ST + src) * SNKV * SHD, SNKV * SHD * 4);
            if (t >= g->s)
                memcpy(uR + ((size_t)i * UT + t) * SNH * SHD, R + ((size_t)g->row * ST + src) * SNH * SHD, SNH * SHD * 4);
        }
    }
    float *out = talloc(Q * 4), *att = talloc(ATT * 4), *dq = talloc(Q * 4), *dk = talloc(KV * 4), *dv = talloc(KV * 4);
    float *uout = talloc(UQ * 4), *uatt = talloc(UATT * 4), *udq = talloc(UQ * 4), *udk = talloc(UKV * 4), *udv = talloc(UKV * 4);
    float *scratch = talloc(ilr_attention_backward_scratch_floats(ST > UT ? ST : UT, 8) * 4);
    ilr_attention_forward(uout, uatt, uq, uk, uv, ulen, NULL, nseg, UT, SNH, SNKV, SHD);
    ilr_attention_backward(udq, udk, udv, scratch, ilr_attention_backward_scratch_floats(UT, 8), uR, uq, uk, uv, uatt,
                           ulen, NULL, nseg, UT, SNH, SNKV, SHD);
    /* the unpacked answers where the packed batch keeps them: prefix dk, dv summed over the segments */
    double *want_out = talloc(Q * 8), *want_dq = talloc(Q * 8), *want_dk = talloc(KV * 8), *want_dv = talloc(KV * 8);
    for (int i = 0; i < nseg; i++) {
        const shared_seg *g = &seg[i];
        for (int t = 0; t < ulen[i]; t++) {
            int src = t < g->s ? g->doc + t : g->start + t - g->s;
            size_t pq = ((size_t)g->row * ST + src) * SNH * SHD, pk = ((size_t)g->row * ST + src) * SNKV * SHD;
            size_t uqo = ((size_t)i * UT + t) * SNH * SHD, uko = ((size_t)i * UT + t) * SNKV * SHD;
            if (t >= g->s)
                for (int j = 0; j < SNH * SHD; j++) want_out[pq + j] = uout[uqo + j], want_dq[pq + j] = udq[uqo + j];
            for (int j = 0; j < SNKV * SHD; j++) want_dk[pk + j] += udk[uko + j], want_dv[pk + j] += udv[uko + j];
        }
    }
    int threads = omp_get_max_threads(), counts[2] = {1, 8};
    for (int c = 0; c < 2; c++) {
        omp_set_num_threads(counts[c]);
        print_message("attention with shared prefixes vs each segment unpacked, %d thread(s):\n", counts[c]);
        ilr_attention_forward(out, att, q, k, v, len, pos, SB, ST, SNH, SNKV, SHD);
        memset(dq, 0, Q * 4), memset(dk, 0, KV * 4), memset(dv, 0, KV * 4);
        ilr_attention_backward(dq, dk, dv, scratch, ilr_attention_backward_scratch_floats(ST, 8), R, q, k, v, att, len,
                               pos, SB, ST, SNH, SNKV, SHD);
        expect_close("  forward out", out, want_out, Q, FWD_TOL);
        expect_close("  backward dq", dq, want_dq, Q, FWD_TOL);
        expect_close("  backward dk", dk, want_dk, KV, FWD_TOL);
        expect_close("  backward dv", dv, want_dv, KV, FWD_TOL);
        /* probabilities: the segment's query t at the prefix's key doc + j (column j unpacked) and at its own key
         * s0 + j (column s + j unpacked) */
        double worst = 0, outside = 0, mass = 0;
        for (int i = 0; i < nseg; i++) {
            const shared_seg *g = &seg[i];
            for (int h = 0; h < SNH; h++)
                for (int t = 0; t < g->len; t++) {
                    const float *a = att + (((size_t)g->row * SNH + h) * ST + g->start + t) * ST;
                    const float *u = uatt + (((size_t)i * SNH + h) * UT + g->s + t) * UT;
                    double sum = 0;
                    for (int j = 0; j < ST; j++) {
                        int in_prefix = j >= g->doc && j < g->doc + g->s, inside = in_prefix || (j >= g->start && j <= g->start + t);
                        double want = in_prefix ? u[j - g->doc] : inside ? u[g->s + j - g->start] : 0.0;
                        worst = fmax(worst, fabs(a[j] - want));
                        if (!inside) outside = fmax(outside, fabs(a[j]));
                        sum += a[j];
                    }
                    mass = fmax(mass, fabs(sum - 1));
                }
        }
        print_message("  att: max abs err %.1e at the mapped keys, max |p| %.1e outside the mask, max |sum - 1| %.1e\n",
                      worst, outside, mass);
        assert_true(worst < FWD_TOL && outside == 0 && mass < FWD_TOL);
    }
    omp_set_num_threads(threads);
    tfree_all();
}

/* ---- SwiGLU ---- */

typedef struct {
    double *gate, *up, *R, *out;
    int n;
} swiglu_ctx;

static void swiglu_ref(swiglu_ctx *c) {
    for (int i = 0; i < c->n; i++) c->out[i] = c->gate[i] / (1.0 + exp(-c->gate[i])) * c->up[i];
}

static double swiglu_loss(void *p) {
    swiglu_ctx *c = p;
    swiglu_ref(c);
    return dot64(c->out, c->R, c->n);
}

/* Cached attention (generation) against a float64 softmax: rows of two sequences at various positions, head
 * sizes that take the AVX2 paths (32, 64: multiples of 8, contexts not multiples of 8) and the scalar ones
 * (20); 3, 1 and 10 query heads per kv head. */
static void check_attention_cached(ilr_rng *rng, int HD, int NH, int NKV) {
    enum { SEQS = 2, ROWS = 45, N = 4 };
    int group = NH / NKV, seq[N] = {0, 1, 1, 0}, pos[N] = {0, 7, 44, 17};
    size_t KD = (size_t)NKV * HD;
    float *kc = randn(rng, SEQS * ROWS * KD, 1.0f), *vc = randn(rng, SEQS * ROWS * KD, 1.0f);
    float *q = randn(rng, (size_t)N * NH * HD, 1.0f), *out = talloc(sizeof(float) * N * NH * HD);
    float *scores = talloc(sizeof(float) * ROWS * (size_t)omp_get_max_threads());
    double *want = talloc(sizeof(double) * N * NH * HD), *p = talloc(sizeof(double) * ROWS);
    ilr_attention_cached(out, q, kc, vc, ROWS, seq, pos, N, NH, NKV, HD, scores, ROWS);
    for (int i = 0; i < N; i++)
        for (int h = 0; h < NH; h++) {
            const float *qi = q + ((size_t)i * NH + h) * HD;
            double max = -INFINITY, sum = 0;
            for (int t = 0; t <= pos[i]; t++) {
                const float *k = kc + ((size_t)seq[i] * ROWS + t) * KD + (size_t)(h / group) * HD;
                double d = 0;
                for (int e = 0; e < HD; e++) d += (double)qi[e] * k[e];
                p[t] = d / sqrt((double)HD);
                max = fmax(max, p[t]);
            }
            for (int t = 0; t <= pos[i]; t++) sum += p[t] = exp(p[t] - max);
            for (int t = 0; t <= pos[i]; t++) {
                const float *v = vc + ((size_t)seq[i] * ROWS + t) * KD + (size_t)(h / group) * HD;
                for (int e = 0; e < HD; e++) want[((size_t)i * NH + h) * HD + e] += p[t] / sum * v[e];
            }
        }
    char what[64];
    snprintf(what, sizeof what, "attention over KV caches, head size %d, %d heads on %d", HD, NH, NKV);
    expect_close(what, out, want, (size_t)N * NH * HD, 1e-5);
    tfree_all();
}

/* The blocked kernel for a run of one sequence's rows (a prefill) against the same float64 softmax: rows at
 * positions p0 .. p0 + len - 1 over the cached keys 0 .. pos; blocks of 32 rows, the small-product path and
 * sgemm's (contexts over 512). */
static void check_attention_cached_run(ilr_rng *rng, int HD, int NH, int NKV, int p0, int len) {
    int group = NH / NKV, L = p0 + len;
    size_t KD = (size_t)NKV * HD;
    float *kc = randn(rng, (size_t)L * KD, 1.0f), *vc = randn(rng, (size_t)L * KD, 1.0f);
    float *q = randn(rng, (size_t)len * NH * HD, 1.0f), *out = talloc(sizeof(float) * (size_t)len * NH * HD);
    float *scratch = talloc(sizeof(float) * ilr_attention_cached_run_scratch_floats(L) * (size_t)omp_get_max_threads());
    double *want = talloc(sizeof(double) * (size_t)len * NH * HD), *p = talloc(sizeof(double) * (size_t)L);
    memset(want, 0, sizeof(double) * (size_t)len * NH * HD);
    ilr_attention_cached_run(out, q, kc, vc, p0, len, NH, NKV, HD, scratch, L);
    for (int i = 0; i < len; i++)
        for (int h = 0; h < NH; h++) {
            const float *qi = q + ((size_t)i * NH + h) * HD;
            double max = -INFINITY, sum = 0;
            for (int t = 0; t <= p0 + i; t++) {
                const float *k = kc + (size_t)t * KD + (size_t)(h / group) * HD;
                double d = 0;
                for (int e = 0; e < HD; e++) d += (double)qi[e] * k[e];
                p[t] = d / sqrt((double)HD);
                max = fmax(max, p[t]);
            }
            for (int t = 0; t <= p0 + i; t++) sum += p[t] = exp(p[t] - max);
            for (int t = 0; t <= p0 + i; t++) {
                const float *v = vc + (size_t)t * KD + (size_t)(h / group) * HD;
                for (int e = 0; e < HD; e++) want[((size_t)i * NH + h) * HD + e] += p[t] / sum * v[e];
            }
        }
    char what[96];
    snprintf(what, sizeof what, "attention of a run of %d rows after %d cached, head size %d, %d heads on %d", len, p0,
             HD, NH, NKV);
    expect_close(what, out, want, (size_t)len * NH * HD, 1e-5);
    tfree_all();
}

static void test_attention_cached_run(void **state) {
    (void)state;
    ilr_rng rng;
    ilr_rng_init(&rng, 19, 1);
    const int heads[][2] = {{6, 2}, {4, 4}, {3, 1}};
    const int runs[][2] = {{0, 45}, {7, 16}, {70, 33}, {600, 40}}; /* (p0, len): blocks of 32, a tail, sgemm past 512 */
    for (int k = 0; k < 3; k++)
        for (int r = 0; r < 4; r++) {
            check_attention_cached_run(&rng, 32, heads[k][0], heads[k][1], runs[r][0], runs[r][1]);
            check_attention_cached_run(&rng, 20, heads[k][0], heads[k][1], runs[r][0], runs[r][1]);
        }
    check_attention_cached_run(&rng, 64, 14, 2, 30, 70); /* qwen2.5-0.5b's heads */
}

static void test_attention_cached(void **state) {
    (void)state;
    ilr_rng rng;
    ilr_rng_init(&rng, 13, 1);
    const int heads[][2] = {{6, 2}, {4, 4}, {10, 1}};
    for (int k = 0; k < 3; k++) {
        check_attention_cached(&rng, 32, heads[k][0], heads[k][1]);
        check_attention_cached(&rng, 64, heads[k][0], heads[k][1]);
        check_attention_cached(&rng, 20, heads[k][0], heads[k][1]);
    }
}

static void test_swiglu(void **state) {
    (void)state;
    enum { N = 4, FF = 50, SZ = N * FF };
    ilr_rng rng;
    ilr_rng_init(&rng, 7, 1);
    float *gate = randn(&rng, SZ, 3), *up = randn(&rng, SZ, 1), *R = randn(&rng, SZ, 1), *out = talloc(SZ * 4);
    ilr_swiglu_forward(out, gate, up, N, FF);
    swiglu_ctx c = {to_f64(gate, SZ), to_f64(up, SZ), to_f64(R, SZ), talloc(SZ * 8), SZ};
    swiglu_ref(&c);
    expect_close("swiglu forward", out, c.out, SZ, FWD_TOL);
    float *dg = talloc(SZ * 4), *du = talloc(SZ * 4);
    ilr_swiglu_backward(dg, du, R, gate, up, N, FF);
    expect_grad("swiglu backward dgate", dg, c.gate, SZ, swiglu_loss, &c);
    expect_grad("swiglu backward dup", du, c.up, SZ, swiglu_loss, &c);
    float *dg0 = copy_f32(dg, SZ), *du0 = copy_f32(du, SZ);
    ilr_swiglu_backward(dg, NULL, R, gate, up, N, FF);
    ilr_swiglu_backward(NULL, du, R, gate, up, N, FF);
    expect_accumulated("swiglu dgate", dg, dg0, SZ);
    expect_accumulated("swiglu dup", du, du0, SZ);
    tfree_all();
}

/* ilr_sigmoid (SwiGLU's, branch-free on ilr_exp_neg) against 1 / (1 + exp(-g)) in double, over the whole
 * range: relative error within 4e-7 down to g = -87, below which it flushes to 0; NaN stays NaN through silu. */
static void test_sigmoid(void **state) {
    (void)state;
    double worst = 0;
    for (int i = -20000; i <= 20000; i++) {
        float g = (float)i * 0.005f; /* -100 .. 100 */
        double want = 1.0 / (1.0 + exp(-(double)g)), got = ilr_sigmoid(g);
        if (g >= -87.0f) worst = fmax(worst, fabs(got - want) / want);
        else assert_true(got <= 1.7e-38); /* ilr_exp_neg flushes exp(x < -87) to 0 */
    }
    print_message("sigmoid on [-100, 100]: max relative error %.2e\n", worst);
    assert_true(worst < 4e-7);
    assert_true(ilr_sigmoid(INFINITY) == 1.0f && ilr_sigmoid(-INFINITY) == 0.0f && ilr_sigmoid(0.0f) == 0.5f);
    float nan_gate = NAN, up = 1.0f, out;
    ilr_swiglu_forward(&out, &nan_gate, &up, 1, 1);
    assert_true(isnan(out));
}

/* ---- elementwise ---- */

static void test_elementwise(void **state) {
    (void)state;
    const size_t sizes[2] = {1000, 70001}; /* the second runs in parallel */
    ilr_rng rng;
    ilr_rng_init(&rng, 8, 1);
    for (int s = 0; s < 2; s++) {
        size_t n = sizes[s];
        float *a = randn(&rng, n, 1), *b = randn(&rng, n, 1), *out = talloc(n * 4), *a0 = copy_f32(a, n);
        ilr_add_forward(out, a, b, n);
        for (size_t i = 0; i < n; i++) assert_true(out[i] == a0[i] + b[i]);
        ilr_add_forward(a, a, b, n); /* aliased */
        assert_memory_equal(a, out, n * 4);
        ilr_accumulate(a, b, n);
        for (size_t i = 0; i < n; i++) assert_true(a[i] == out[i] + b[i]);
    }
    tfree_all();
}

/* ---- LM head ---- */

/* The LM head's temperatures under test: the model's own distribution, a sharper and a flatter one. */
static const float lm_head_temps[3] = {1.0f, 0.7f, 1.6f};

typedef struct {
    double *x, *w, *R, *logits, *logprob, *entropy, *lse;
    const int *targets;
    int N, C, V;
    double temperature;
} lm_head_ctx;

/* logprob, entropy and lse of softmax(x @ w^T / T) in float64. */
static void lm_head_ref(lm_head_ctx *c) {
    for (int n = 0; n < c->N; n++) {
        c->logprob[n] = c->entropy[n] = c->lse[n] = 0.0;
        if (c->targets[n] < 0) continue;
        double mx = -INFINITY, s = 0.0, pl = 0.0;
        for (int j = 0; j < c->V; j++) {
            c->logits[j] = dot64(c->x + n * c->C, c->w + (size_t)j * c->C, c->C) / c->temperature;
            mx = fmax(mx, c->logits[j]);
        }
        for (int j = 0; j < c->V; j++) s += exp(c->logits[j] - mx);
        double lse = mx + log(s);
        for (int j = 0; j < c->V; j++) pl += exp(c->logits[j] - lse) * c->logits[j];
        c->lse[n] = lse;
        c->logprob[n] = c->logits[c->targets[n]] - lse;
        c->entropy[n] = lse - pl;
    }
}

static double lm_head_loss(void *p) {
    lm_head_ctx *c = p;
    lm_head_ref(c);
    return dot64(c->logprob, c->R, c->N);
}

static lm_head_ctx lm_head_setup(ilr_rng *rng, float **x, float **w, const int *targets, int N, int C, int V,
                                 float temperature) {
    *x = randn(rng, (size_t)N * C, 1);
    *w = randn(rng, (size_t)V * C, 2.0f / sqrtf((float)C)); /* logits of std ~2 */
    lm_head_ctx c = {to_f64(*x, (size_t)N * C), to_f64(*w, (size_t)V * C), NULL, talloc((size_t)V * 8),
                     talloc(N * 8), talloc(N * 8), talloc(N * 8), targets, N, C, V, temperature};
    lm_head_ref(&c);
    return c;
}

/* The largest difference, relative where |b| > 1: a log-sum-exp near 7 differs by float rounding in its last
 * bits (1.2e-6 absolute between chunkings on one CPU), which is 1.7e-7 of it. */
static double max_scaled_diff(const float *a, const float *b, int n) {
    double d = 0.0;
    for (int i = 0; i < n; i++) d = fmax(d, fabs((double)a[i] - b[i]) / fmax(1.0, fabs((double)b[i])));
    return d;
}

static void lm_head_forward_at(float T) {
    enum { N = 6, C = 32, V = 1000 };
    const int targets[N] = {5, -1, 999, 0, 517, -1}, chunks[3] = {1000, 256, 7};
    ilr_rng rng;
    ilr_rng_init(&rng, 9, 1);
    float *x, *w;
    lm_head_ctx c = lm_head_setup(&rng, &x, &w, targets, N, C, V, T);
    float *res[3], *scratch = talloc((size_t)N * V * 4), *logits = talloc((size_t)N * V * 4);
    double *logits64 = talloc((size_t)N * V * 8);
    for (int n = 0; n < N; n++)
        for (int j = 0; j < V; j++) logits64[n * V + j] = dot64(c.x + n * C, c.w + (size_t)j * C, C);
    if (T == 1.0f) {
        ilr_lm_head_logits(logits, x, w, N, C, V);
        expect_close("lm_head logits", logits, logits64, N * V, FWD_TOL);
    }
    char what[96];
    for (int i = 0; i < 3; i++) {
        float *r = res[i] = talloc(3 * N * 4), *lp = r, *ent = r + N, *lse = r + 2 * N;
        memset(scratch, 0xff, (size_t)N * V * 4); /* NaN: every value used must have been written */
        ilr_lm_head_logprob_forward(lp, ent, lse, x, w, targets, T, N, C, V, scratch, chunks[i]);
        snprintf(what, sizeof what, "lm_head forward T %.1f chunk %d logprob", (double)T, chunks[i]);
        expect_close(what, lp, c.logprob, N, FWD_TOL);
        snprintf(what, sizeof what, "lm_head forward T %.1f chunk %d entropy", (double)T, chunks[i]);
        expect_close(what, ent, c.entropy, N, FWD_TOL);
        snprintf(what, sizeof what, "lm_head forward T %.1f chunk %d lse", (double)T, chunks[i]);
        expect_close(what, lse, c.lse, N, FWD_TOL);
        for (int n = 0; n < N; n++)
            if (targets[n] < 0) assert_true(lp[n] == 0.0f && ent[n] == 0.0f && lse[n] == 0.0f);
        float lp2[N], lse2[N];
        ilr_lm_head_logprob_forward(lp2, NULL, lse2, x, w, targets, T, N, C, V, scratch, chunks[i]);
        assert_memory_equal(lp2, lp, sizeof lp2); /* entropy NULL: the same logprob and lse */
        assert_memory_equal(lse2, lse, sizeof lse2);
    }
    for (int i = 1; i < 3; i++) {
        double d = max_scaled_diff(res[i], res[0], 3 * N);
        print_message("lm_head T %.1f chunk %d vs %d: max diff (relative above 1) %.1e over logprob, entropy, lse\n", (double)T,
                      chunks[i], chunks[0], d);
        assert_true(d < 1e-6);
    }
    tfree_all();
}

static void test_lm_head_forward(void **state) {
    (void)state;
    for (int i = 0; i < 3; i++) lm_head_forward_at(lm_head_temps[i]);
}

static void lm_head_backward_at(float T) {
    enum { N = 5, C = 8, V = 37, CHUNK = 8 };
    const int targets[N] = {3, -1, 36, 0, 20};
    ilr_rng rng;
    ilr_rng_init(&rng, 10, 1);
    float *x, *w, lp[N], ent[N], lse[N], *scratch = talloc(N * CHUNK * 4);
    lm_head_ctx c = lm_head_setup(&rng, &x, &w, targets, N, C, V, T);
    float *R = randn(&rng, N, 1); /* nonzero at the skipped row too: it must be ignored */
    c.R = to_f64(R, N);
    ilr_lm_head_logprob_forward(lp, ent, lse, x, w, targets, T, N, C, V, scratch, CHUNK);
    float *dx = talloc(N * C * 4), *dw = talloc(V * C * 4);
    ilr_lm_head_logprob_backward(dx, dw, R, x, w, targets, lse, T, N, C, V, scratch, CHUNK);
    for (int i = 0; i < C; i++) assert_true(dx[1 * C + i] == 0.0f); /* the skipped row */
    char what[64];
    snprintf(what, sizeof what, "lm_head backward T %.1f dx", (double)T);
    expect_grad(what, dx, c.x, N * C, lm_head_loss, &c);
    snprintf(what, sizeof what, "lm_head backward T %.1f dw", (double)T);
    expect_grad(what, dw, c.w, V * C, lm_head_loss, &c);
    float *dx0 = copy_f32(dx, N * C), *dw0 = copy_f32(dw, V * C);
    ilr_lm_head_logprob_backward(dx, NULL, R, x, w, targets, lse, T, N, C, V, scratch, CHUNK);
    ilr_lm_head_logprob_backward(NULL, dw, R, x, w, targets, lse, T, N, C, V, scratch, CHUNK);
    expect_accumulated("lm_head dx", dx, dx0, N * C);
    expect_accumulated("lm_head dw", dw, dw0, V * C);
    tfree_all();
}

static void test_lm_head_backward(void **state) {
    (void)state;
    for (int i = 0; i < 3; i++) lm_head_backward_at(lm_head_temps[i]);
}

/* ---- optimizer ---- */

static void test_adamw(void **state) {
    (void)state;
    enum { STEPS = 3 };
    const size_t n = 70001; /* runs in parallel */
    const ilr_adamw_params hp = {1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f};
    ilr_rng rng;
    ilr_rng_init(&rng, 11, 1);
    float *p = randn(&rng, n, 0.02f), *m = talloc(n * 4), *v = talloc(n * 4), *p0 = copy_f32(p, n);
    double *pd = to_f64(p, n), *md = talloc(n * 8), *vd = talloc(n * 8);
    for (int step = 1; step <= STEPS; step++) {
        float *g = randn(&rng, n, 0.01f);
        ilr_adamw_update(p, g, m, v, n, &hp, step);
        double lr = hp.lr, b1 = hp.beta1, b2 = hp.beta2;
        for (size_t i = 0; i < n; i++) { /* torch.optim.AdamW, single-tensor path, in float64 */
            pd[i] *= 1 - lr * hp.weight_decay;
            md[i] = b1 * md[i] + (1 - b1) * g[i];
            vd[i] = b2 * vd[i] + (1 - b2) * (double)g[i] * g[i];
            double denom = sqrt(vd[i]) / sqrt(1 - pow(b2, step)) + hp.eps;
            pd[i] -= lr / (1 - pow(b1, step)) * md[i] / denom;
        }
    }
    expect_close("adamw 3 steps params", p, pd, n, 1e-6);
    expect_close("adamw 3 steps m", m, md, n, 1e-6);
    expect_close("adamw 3 steps v", v, vd, n, 1e-6);
    for (size_t i = 0; i < n; i++) {
        p[i] -= p0[i];
        pd[i] -= p0[i];
    }
    expect_close("adamw 3 steps update (p - p0)", p, pd, n, 1e-4);
    tfree_all();
}

static void test_grad_norm_and_scale(void **state) {
    (void)state;
    const size_t n = 100003;
    ilr_rng rng;
    ilr_rng_init(&rng, 12, 1);
    float *g = randn(&rng, n, 1);
    double want = 0.0;
    for (size_t i = 0; i < n; i++) want += (double)g[i] * g[i];
    want = sqrt(want);
    int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    double got1 = ilr_grad_norm(g, n);
    omp_set_num_threads(3);
    double got3 = ilr_grad_norm(g, n);
    omp_set_num_threads(threads);
    print_message("grad_norm: rel err %.1e over %zu values; 1 and 3 threads %s\n", fabs(got1 - want) / want, n,
                  got1 == got3 ? "identical" : "DIFFER");
    assert_true(fabs(got1 - want) / want < 1e-12);
    assert_true(got1 == got3);
    assert_true(ilr_grad_norm(g, 0) == 0.0);
    assert_true(fabs(ilr_grad_norm(g, 3) - sqrt((double)g[0] * g[0] + (double)g[1] * g[1] + (double)g[2] * g[2])) <
                1e-15);
    float *g0 = copy_f32(g, n);
    ilr_scale(g, n, 0.37f);
    for (size_t i = 0; i < n; i++) assert_true(g[i] == g0[i] * 0.37f);
    tfree_all();
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_matmul),
    cmocka_unit_test(test_matmul_few),
    cmocka_unit_test(test_small_gemm),
    cmocka_unit_test(test_matmul_bf16),
    cmocka_unit_test(test_matmul_bf16_dp),
    cmocka_unit_test(test_embedding),
    cmocka_unit_test(test_rmsnorm),
    cmocka_unit_test(test_rope_tables),
    cmocka_unit_test(test_rope),
    cmocka_unit_test(test_attention),
    cmocka_unit_test(test_attention_padding_ignored),
    cmocka_unit_test(test_attention_long),
    cmocka_unit_test(test_attention_shared_prefix),
    cmocka_unit_test(test_attention_cached),
    cmocka_unit_test(test_attention_cached_run),
    cmocka_unit_test(test_swiglu),
    cmocka_unit_test(test_sigmoid),
    cmocka_unit_test(test_elementwise),
    cmocka_unit_test(test_lm_head_forward),
    cmocka_unit_test(test_lm_head_backward),
    cmocka_unit_test(test_adamw),
    cmocka_unit_test(test_grad_norm_and_scale),
};

ILR_TEST_GROUP(kernels, tests)
