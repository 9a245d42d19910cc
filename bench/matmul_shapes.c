/* Benchmark: the matmuls of one training step of the synthetic world's agents, one by one, at the shapes the
 * GRPO update runs (micro-batch 64 x 100 tokens = 6,400 rows), against the square sgemm peak: which of them
 * bound world training (issue #16's 60 % MFU target; perf puts half of a world-grpo-a step in sgemm).
 * usage: build/release/bench/matmul_shapes [rows]     (make bench runs it)
 * Prints GFLOP/s per product (forward, input gradient, weight gradient) and its share of the matmul time. */
#include <stdio.h>
#include <stdlib.h>

#include "ilr/kernels.h"
#include "ilr/rng.h"
#include "ilr/timer.h"

typedef struct {
    const char *name;
    int in, out, count; /* count: how many of this product a step of the model has (layers x uses) */
} product;

/* seconds per call of f (best of 3 windows of ~0.1 s) */
static double time_call(void (*f)(void *), void *arg) {
    double best = 1e30;
    for (int w = 0; w < 3; w++) {
        int reps = 0;
        double start = ilr_time_now(), now = start;
        while (now - start < 0.1 || reps < 2) f(arg), reps++, now = ilr_time_now();
        if ((now - start) / reps < best) best = (now - start) / reps;
    }
    return best;
}

typedef struct {
    float *x, *w, *y, *dx, *dw;
    int N, in, out, mode;
} call;

static void run(void *p) {
    call *c = p;
    if (c->mode == 0) ilr_matmul_forward(c->y, c->x, c->w, NULL, c->N, c->in, c->out);
    else if (c->mode == 1) ilr_matmul_backward(c->dx, NULL, NULL, c->y, c->x, c->w, c->N, c->in, c->out);
    else ilr_matmul_backward(NULL, c->dw, NULL, c->y, c->x, c->w, c->N, c->in, c->out);
}

static void shape(const char *model, int N, const product *ps, int n) {
    ilr_rng rng;
    ilr_rng_init(&rng, 1, 0);
    double total = 0, flops_total = 0, t[16][3];
    for (int i = 0; i < n; i++) {
        const product *p = &ps[i];
        call c = {malloc(sizeof(float) * (size_t)N * p->in), malloc(sizeof(float) * (size_t)p->out * p->in),
                  malloc(sizeof(float) * (size_t)N * p->out), malloc(sizeof(float) * (size_t)N * p->in),
                  malloc(sizeof(float) * (size_t)p->out * p->in), N, p->in, p->out, 0};
        if (!c.x || !c.w || !c.y || !c.dx || !c.dw) exit(1);
        ilr_rng_fill_normal(&rng, c.x, (long)N * p->in, 0, 1);
        ilr_rng_fill_normal(&rng, c.w, (long)p->out * p->in, 0, 1);
        ilr_rng_fill_normal(&rng, c.y, (long)N * p->out, 0, 1);
        for (int m = 0; m < 3; m++) {
            c.mode = m;
            t[i][m] = time_call(run, &c);
            total += t[i][m] * p->count;
            flops_total += 2.0 * N * p->in * p->out * p->count;
        }
        free(c.x), free(c.w), free(c.y), free(c.dx), free(c.dw);
    }
    printf("%s, %d rows: the matmuls of a step, %.1f GFLOP/s overall\n", model, N, flops_total / total / 1e9);
    static const char *mode_name[3] = {"forward", "input grad", "weight grad"};
    for (int i = 0; i < n; i++)
        for (int m = 0; m < 3; m++)
            printf("  %-10s %4d -> %-5d x%-2d %-11s %7.1f GFLOP/s  %5.1f%% of the matmul time\n", ps[i].name, ps[i].in,
                   ps[i].out, ps[i].count, mode_name[m], 2.0 * N * ps[i].in * ps[i].out / t[i][m] / 1e9,
                   100 * t[i][m] * ps[i].count / total);
}

static void square_peak(void) {
    int n = 2048;
    call c = {malloc(sizeof(float) * n * n), malloc(sizeof(float) * n * n), malloc(sizeof(float) * n * n), NULL, NULL,
              n, n, n, 0};
    if (!c.x || !c.w || !c.y) exit(1);
    for (long i = 0; i < (long)n * n; i++) c.x[i] = c.w[i] = 1.0f / (1 + i % 7);
    double s = time_call(run, &c);
    printf("square sgemm 2048^3: %.1f GFLOP/s\n", 2.0 * n * n * (double)n / s / 1e9);
    free(c.x), free(c.w), free(c.y);
}

int main(int argc, char **argv) {
    int N = argc > 1 ? atoi(argv[1]) : 6400;
    square_peak();
    /* world-a (Qwen2: hidden 96, 3 heads of 32, 1 kv head, MLP 256, 3 layers, vocabulary 512, tied) */
    const product world_a[] = {{"q", 96, 96, 3}, {"k, v", 96, 32, 6}, {"o", 96, 96, 3}, {"gate, up", 96, 256, 6},
                               {"down", 256, 96, 3}, {"lm head", 96, 512, 1}};
    shape("world-a", N, world_a, 6);
    /* world-b (Llama: hidden 128, 4 heads of 32, 2 kv heads, MLP 384, 4 layers, vocabulary 512) */
    const product world_b[] = {{"q", 128, 128, 4}, {"k, v", 128, 64, 8}, {"o", 128, 128, 4}, {"gate, up", 128, 384, 8},
                               {"down", 384, 128, 4}, {"lm head", 128, 512, 1}};
    shape("world-b", N, world_b, 6);
    return 0;
}
