/* Benchmark: the sampler over a Qwen-sized vocabulary (V = 151,936), each setting on flat logits (N(0, 3))
 * and on peaked ones (40 ids lifted by 12), with and without the sampled id's log-probability.
 * usage: build/release/bench/sampler   (make bench runs it)
 * Prints ns per sample and how many ids each setting keeps.  (It was a timing inside the test suite; the
 * tests assert what the sampler keeps and draws, this only measures.) */
#include <stdio.h>
#include <stdlib.h>

#include "ilr/error.h"
#include "ilr/rng.h"
#include "ilr/sampler.h"
#include "ilr/timer.h"

enum { V = 151936, ITERS = 50 };

static float *random_logits(uint64_t stream, float std) {
    float *x = malloc(sizeof(float) * V);
    if (!x) exit(1);
    ilr_rng rng;
    ilr_rng_init(&rng, 2024, stream);
    ilr_rng_fill_normal(&rng, x, V, 0.0f, std);
    return x;
}

int main(void) {
    float *flat = random_logits(13, 3.0f), *peaked = random_logits(14, 2.0f);
    for (int i = 0; i < 40; i++) peaked[(i * 7919 + 13) % V] += 12.0f;
    ilr_sampler_scratch s;
    int *keep = malloc(sizeof(int) * V);
    if (!keep || ilr_sampler_scratch_init(&s, V)) {
        fprintf(stderr, "bench sampler: %s\n", ilr_last_error());
        return 1;
    }
    ilr_rng rng;
    ilr_rng_init(&rng, 1, 1);
    struct {
        const char *name;
        ilr_sampler_params p;
    } cases[] = {{"greedy", {0, 0, 1, 0}},
                 {"T 1", {1, 0, 1, 0}},
                 {"T 0.7, top_k 50", {0.7f, 50, 1, 0}},
                 {"T 1, top_p 0.95", {1, 0, 0.95f, 0}},
                 {"T 0.7, top_p 0.95", {0.7f, 0, 0.95f, 0}},
                 {"T 0.7, min_p 0.05", {0.7f, 0, 1, 0.05f}},
                 {"T 0.7, k 50, p 0.95", {0.7f, 50, 0.95f, 0}}};
    printf("sampler, V %d, one thread: ns per sample (with the log-probability) and ids kept\n", V);
    for (int d = 0; d < 2; d++) {
        const float *x = d ? peaked : flat;
        for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
            int kept = ilr_sampler_kept(x, V, &cases[c].p, &s, keep);
            double ns[2];
            for (int with_lp = 0; with_lp < 2; with_lp++) {
                float lp;
                ilr_sample(x, V, &cases[c].p, &rng, &s, with_lp ? &lp : NULL); /* warm */
                double t0 = ilr_time_now();
                for (int i = 0; i < ITERS; i++) ilr_sample(x, V, &cases[c].p, &rng, &s, with_lp ? &lp : NULL);
                ns[with_lp] = (ilr_time_now() - t0) / ITERS * 1e9;
            }
            printf("  %-6s %-20s %9.0f ns %9.0f ns  %6d kept\n", d ? "peaked" : "flat", cases[c].name, ns[0], ns[1], kept);
        }
    }
    free(keep), free(flat), free(peaked);
    ilr_sampler_scratch_free(&s);
    return 0;
}
