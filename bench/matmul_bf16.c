/* Benchmark: batch-1 decode's products with bf16 weights against fp32 ones, over the layer shapes of
 * qwen2.5-0.5b (24 layers of q, k, v, o, gate, up, down and the tied LM head: 0.49 G weights, far beyond any
 * cache), as the generator runs them one token after another.
 * usage: build/release/bench/matmul_bf16 [ROWS [ROUNDS]]   (default 1 row, 5 rounds; OMP_NUM_THREADS threads)
 * Prints the best round's milliseconds per token and the weight bytes streamed per second for
 * ilr_matmul_bf16_forward and for ilr_matmul_forward (OpenBLAS) on the same shapes, and their ratio: the
 * speed-up bf16 weights give a batch-1 decode step that is bound by reading them.  ROWS over 16 (a prefill
 * of ROWS tokens; the layers only, as prefill needs the LM head for the last row alone): the many-row paths
 * with the generator's scratch, in GFLOP/s, bf16 (activations kept fp32) and bf16-act (rounded to bf16). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "ilr/bf16.h"
#include "ilr/kernels.h"
#include "ilr/rng.h"
#include "ilr/timer.h"

enum { LAYERS = 24, C = 896, KV = 128, FF = 4864, VOCAB = 151936, KINDS = 7 };

static const int shape_in[KINDS + 1] = {C, C, C, C, C, C, FF, C};
static const int shape_out[KINDS + 1] = {C, KV, KV, C, FF, FF, C, VOCAB};

static void *alloc_or_die(size_t bytes) {
    void *p = malloc(bytes);
    if (!p) {
        fprintf(stderr, "bench matmul_bf16: out of memory for %zu bytes\n", bytes);
        exit(1);
    }
    return p;
}

/* The generator's scratch for many-row bf16 products (src/generate/engine.c: 128 rows of the widest). */
#define SCRATCH_FLOATS (128 * (size_t)FF)

/* One token's products: every layer's seven, then the LM head (decode) or not (rows > ILR_BF16_FEW_ROWS: a
 * prefill).  kind 0: fp32 sgemm, 1: bf16, 2: bf16 with the activations rounded to bf16.  Returns seconds. */
static double token(float *out, const float *inp, float *const *w32, uint16_t *const *w16, int rows, int kind,
                    float *scratch) {
    double t0 = ilr_time_now();
    int last = rows > ILR_BF16_FEW_ROWS ? LAYERS * KINDS - 1 : LAYERS * KINDS;
    for (int l = 0; l <= last; l++) {
        int k = l == LAYERS * KINDS ? KINDS : l % KINDS;
        if (kind) ilr_matmul_bf16_forward(out, inp, w16[l], NULL, rows, shape_in[k], shape_out[k], kind == 2, scratch,
                                          SCRATCH_FLOATS);
        else ilr_matmul_forward(out, inp, w32[l], NULL, rows, shape_in[k], shape_out[k]);
    }
    return ilr_time_now() - t0;
}

int main(int argc, char **argv) {
    int rows = argc > 1 ? atoi(argv[1]) : 1, rounds = argc > 2 ? atoi(argv[2]) : 5;
    if (rows < 1 || rows > 512 || rounds < 1) {
        fprintf(stderr, "usage: matmul_bf16 [ROWS 1-512 [ROUNDS >= 1]]\n");
        return 2;
    }
    int n = LAYERS * KINDS + 1;
    float **w32 = alloc_or_die(sizeof *w32 * (size_t)n);
    uint16_t **w16 = alloc_or_die(sizeof *w16 * (size_t)n);
    size_t weights = 0;
    ilr_rng rng;
    ilr_rng_init(&rng, 7, 1);
    for (int l = 0; l < n; l++) {
        int k = l == n - 1 ? KINDS : l % KINDS;
        size_t count = (size_t)shape_in[k] * shape_out[k];
        w32[l] = alloc_or_die(sizeof(float) * count);
        w16[l] = alloc_or_die(sizeof(uint16_t) * count);
        ilr_rng_fill_normal(&rng, w32[l], count, 0.0f, 0.02f);
        ilr_bf16_round(w16[l], w32[l], count);
        weights += count;
    }
    float *inp = alloc_or_die(sizeof(float) * (size_t)rows * VOCAB), *out = alloc_or_die(sizeof(float) * (size_t)rows * VOCAB);
    ilr_rng_fill_normal(&rng, inp, (size_t)rows * FF, 0.0f, 1.0f);
    float *scratch = alloc_or_die(sizeof(float) * SCRATCH_FLOATS);
    int kinds = rows > ILR_BF16_FEW_ROWS ? 3 : 2;
    double best[3] = {1e30, 1e30, 1e30};
    for (int r = 0; r < rounds + 1; r++) /* the first round warms up */
        for (int b = 0; b < kinds; b++) {
            double s = token(out, inp, w32, w16, rows, b, scratch);
            if (r > 0 && s < best[b]) best[b] = s;
        }
    if (kinds == 3) {
        double flops = 2.0 * rows * (weights - (double)shape_in[KINDS] * shape_out[KINDS]);
        printf("prefill-shaped products of qwen2.5-0.5b's 24 layers, %d rows, best of %d rounds (many-row bf16 "
               "path: %s):\n", rows, rounds, ilr_matmul_bf16_dp_available() ? "vdpbf16ps" : "sgemm panels");
        const char *name[3] = {"fp32 (OpenBLAS sgemm)", "bf16 (activations fp32)", "bf16-act (activations bf16)"};
        for (int b = 0; b < 3; b++)
            printf("  %-28s %7.1f ms, %5.0f GFLOP/s, %.2fx fp32\n", name[b], best[b] * 1e3, flops / best[b] / 1e9,
                   best[0] / best[b]);
        return 0;
    }
    printf("batch-%d decode products of qwen2.5-0.5b (%.2f G weights), best of %d rounds:\n", rows, weights / 1e9, rounds);
    printf("  fp32 (OpenBLAS):     %7.1f ms per token, %5.1f GB/s of weights\n", best[0] * 1e3, weights * 4.0 / best[0] / 1e9);
    printf("  bf16 (ilr's kernel): %7.1f ms per token, %5.1f GB/s of weights\n", best[1] * 1e3, weights * 2.0 / best[1] / 1e9);
    printf("  bf16 / fp32 speed: %.2fx\n", best[0] / best[1]);
    return 0;
}
