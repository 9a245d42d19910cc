/* Benchmark: linear layers of a decoding batch (a few rows against a large weight matrix): OpenBLAS's sgemm
 * (which packs the weights every call; sgemv for one row) beside ilr_matmul_few (reads them where they lie), at the shapes of the
 * `small` model and of qwen2.5-0.5b, for 1 to 64 rows.  Where the second is faster up to some row count,
 * ILR_F32_FEW_ROWS is that count.  Decoding reads weights that are not in cache (a model is larger than L3),
 * so each product takes the next of enough copies of its matrix to fill 512 MB.
 * usage: build/release/bench/matmul_few            (OMP_NUM_THREADS sets the threads, as for ilr) */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>

#include "ilr/kernels.h"
#include "ilr/rng.h"
#include "ilr/timer.h"

typedef struct {
    const char *name;
    int in, out;
} shape;

typedef struct {
    float *x, *w, *y;
    int N, in, out, few, copies, next;
} call;

static void run(call *c) {
    const float *w = c->w + (size_t)c->next * c->in * c->out;
    c->next = (c->next + 1) % c->copies;
    if (c->few) ilr_matmul_few(c->y, c->x, w, NULL, c->N, c->in, c->out);
    else if (c->N == 1) cblas_sgemv(CblasRowMajor, CblasNoTrans, c->out, c->in, 1.0f, w, c->in, c->x, 1, 0.0f, c->y, 1);
    else cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, c->N, c->out, c->in, 1.0f, c->x, c->in, w, c->in, 0.0f,
                     c->y, c->out);
}

/* seconds per call (best of 5 windows of ~0.05 s) */
static double time_call(call *c) {
    double best = 1e30;
    for (int w = 0; w < 5; w++) {
        int reps = 0;
        double start = ilr_time_now(), now = start;
        while (now - start < 0.05 || reps < 2) run(c), reps++, now = ilr_time_now();
        if ((now - start) / reps < best) best = (now - start) / reps;
    }
    return best;
}

int main(void) {
    static const shape shapes[] = {
        {"small q/o 512x512", 512, 512},         {"small k/v 512x128", 512, 128},
        {"small gate/up 512x1408", 512, 1408},   {"small down 1408x512", 1408, 512},
        {"small lm head 512x32000", 512, 32000}, {"qwen0.5b q 896x896", 896, 896},
        {"qwen0.5b up 896x4864", 896, 4864},     {"qwen0.5b down 4864x896", 4864, 896},
    };
    static const int rows[] = {1, 2, 4, 8, 16, 32, 64};
    ilr_rng rng;
    ilr_rng_init(&rng, 1, 0);
    printf("%-26s %5s %12s %12s %8s\n", "shape", "rows", "BLAS GF/s", "few GF/s", "few/BLAS");
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        const shape *sh = &shapes[s];
        size_t nw = (size_t)sh->in * sh->out;
        int copies = (int)((512u << 20) / (nw * sizeof(float)) + 1);
        float *w = malloc(copies * nw * sizeof(float)), *x = malloc((size_t)64 * sh->in * sizeof(float));
        float *y = malloc((size_t)64 * sh->out * sizeof(float));
        if (!w || !x || !y) return 1;
        ilr_rng_fill_normal(&rng, w, (long)(copies * nw), 0.0f, 0.02f);
        ilr_rng_fill_normal(&rng, x, (size_t)64 * sh->in, 0.0f, 1.0f);
        for (size_t r = 0; r < sizeof rows / sizeof *rows; r++) {
            call c = {x, w, y, rows[r], sh->in, sh->out, 0, copies, 0};
            double flops = 2.0 * rows[r] * nw, t_blas = time_call(&c);
            c.few = 1;
            double t_few = time_call(&c);
            printf("%-26s %5d %12.1f %12.1f %8.2f\n", sh->name, rows[r], flops / t_blas / 1e9, flops / t_few / 1e9,
                   t_blas / t_few);
        }
        free(w), free(x), free(y);
    }
    return 0;
}
