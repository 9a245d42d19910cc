/* Benchmark: batch-1 decode's products with bf16 weights against fp32 ones, over the layer shapes of
 * qwen2.5-0.5b (24 layers of q, k, v, o, gate, up, down and the tied LM head: 0.49 G weights, far beyond any
 * cache), as the generator runs them one token after another.
 * usage: build/release/bench/matmul_bf16 [ROWS [ROUNDS]]   (default 1 row, 5 rounds; OMP_NUM_THREADS threads)
 * Prints the best round's milliseconds per token and the weight bytes streamed per second for
 * ilr_matmul_bf16_forward and for ilr_matmul_forward (OpenBLAS) on the same shapes, and their ratio: the
 * speed-up bf16 weights give a batch-1 decode step that is bound by reading them. */
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

/* One token's products: every layer's seven, then the LM head.  Returns seconds. */
static double token(float *out, const float *inp, float *const *w32, uint16_t *const *w16, int rows, int bf16) {
    double t0 = ilr_time_now();
    for (int l = 0; l <= LAYERS * KINDS; l++) {
        int k = l == LAYERS * KINDS ? KINDS : l % KINDS;
        if (bf16) ilr_matmul_bf16_forward(out, inp, w16[l], NULL, rows, shape_in[k], shape_out[k], 0, NULL, 0);
        else ilr_matmul_forward(out, inp, w32[l], NULL, rows, shape_in[k], shape_out[k]);
    }
    return ilr_time_now() - t0;
}

int main(int argc, char **argv) {
    int rows = argc > 1 ? atoi(argv[1]) : 1, rounds = argc > 2 ? atoi(argv[2]) : 5;
    if (rows < 1 || rows > 64 || rounds < 1) {
        fprintf(stderr, "usage: matmul_bf16 [ROWS 1-64 [ROUNDS >= 1]]\n");
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
    double best[2] = {1e30, 1e30};
    for (int r = 0; r < rounds + 1; r++) /* the first round warms up */
        for (int b = 0; b < 2; b++) {
            double s = token(out, inp, w32, w16, rows, b);
            if (r > 0 && s < best[b]) best[b] = s;
        }
    printf("batch-%d decode products of qwen2.5-0.5b (%.2f G weights), best of %d rounds:\n", rows, weights / 1e9, rounds);
    printf("  fp32 (OpenBLAS):     %7.1f ms per token, %5.1f GB/s of weights\n", best[0] * 1e3, weights * 4.0 / best[0] / 1e9);
    printf("  bf16 (ilr's kernel): %7.1f ms per token, %5.1f GB/s of weights\n", best[1] * 1e3, weights * 2.0 / best[1] / 1e9);
    printf("  bf16 / fp32 speed: %.2fx\n", best[0] / best[1]);
    return 0;
}
