/* sampler: the kept sets of top-k / top-p / min-p on constructed logits where they are known exactly (ties
 * and the exact top-p boundary included), agreement with a plain transcription of Hugging Face's warpers
 * (full sorts, double) on random logits up to V = 151936, greedy, log-probabilities against a float64
 * log-softmax, determinism per stream, the inverse-CDF draw, chi-square goodness of fit of the sampled
 * distribution, and parameter validation.  (Its speed is measured by bench/sampler.c.) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ilr/error.h"
#include "ilr/rng.h"
#include "ilr/sampler.h"
#include "test_util.h"

#define BIG_V 151936

static ilr_sampler_params P(float t, int k, float top_p, float min_p) {
    ilr_sampler_params p = {t, k, top_p, min_p};
    return p;
}

static ilr_sampler_scratch new_scratch(int V) {
    ilr_sampler_scratch s;
    assert_int_equal(ilr_sampler_scratch_init(&s, V), 0);
    return s;
}

/* Asserts that the sampler keeps exactly want[nwant] (increasing ids). */
static void expect_kept(const char *what, const float *x, int V, ilr_sampler_params p, const int *want, int nwant) {
    ilr_sampler_scratch s = new_scratch(V);
    int *got = malloc(sizeof(int) * (size_t)V);
    assert_non_null(got);
    int n = ilr_sampler_kept(x, V, &p, &s, got);
    int same = n == nwant && memcmp(got, want, sizeof(int) * (size_t)n) == 0;
    if (!same) {
        print_error("%s (T %g, top_k %d, top_p %.9g, min_p %g): kept", what, (double)p.temperature, p.top_k,
                    (double)p.top_p, (double)p.min_p);
        for (int i = 0; i < n; i++) print_error(" %d", got[i]);
        print_error(", want");
        for (int i = 0; i < nwant; i++) print_error(" %d", want[i]);
        print_error("\n");
    }
    free(got);
    ilr_sampler_scratch_free(&s);
    assert_true(same);
}

#define KEPT(what, x, p, ...)                                                                                   \
    do {                                                                                                        \
        const int want_[] = {__VA_ARGS__};                                                                      \
        expect_kept(what, x, (int)(sizeof(x) / sizeof((x)[0])), p, want_, (int)(sizeof(want_) / sizeof(int))); \
    } while (0)

/* ---- reference: Hugging Face's warpers written out plainly (full sorts, probabilities in double) ---- */

static int cmp_float_desc(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

static const double *sort_probs;
/* Ascending probability; among equal ones the higher id first, so that the descending order (the one
 * top-p keeps a prefix of) puts the lower id first. */
static int cmp_prob_asc(const void *a, const void *b) {
    int i = *(const int *)a, j = *(const int *)b;
    if (sort_probs[i] != sort_probs[j]) return sort_probs[i] < sort_probs[j] ? -1 : 1;
    return (i < j) - (i > j);
}

/* The kept ids in increasing order; returns the count.  Weights are the fp32 softmax numerators
 * expf(x / T - max), the rest follows transformers' TopK / TopP / MinP warpers line by line. */
static int ref_kept(const float *x, int V, ilr_sampler_params p, int *keep) {
    float *z = malloc(sizeof(float) * (size_t)V), *zs = malloc(sizeof(float) * (size_t)V);
    double *prob = malloc(sizeof(double) * (size_t)V);
    int *on = malloc(sizeof(int) * (size_t)V), *order = malloc(sizeof(int) * (size_t)V);
    assert_true(z && zs && prob && on && order);
    float zmax = -INFINITY;
    for (int i = 0; i < V; i++) z[i] = x[i] / p.temperature, zmax = fmaxf(zmax, z[i]), on[i] = 1;
    if (p.top_k > 0 && p.top_k < V) { /* remove z < topk_values[-1] */
        memcpy(zs, z, sizeof(float) * (size_t)V);
        qsort(zs, (size_t)V, sizeof(float), cmp_float_desc);
        for (int i = 0; i < V; i++) on[i] = !(z[i] < zs[p.top_k - 1]);
    }
    if (p.top_p < 1.0f) { /* sort ascending, cumsum, remove cum <= 1 - top_p, keep the last */
        double sum = 0.0;
        for (int i = 0; i < V; i++) sum += on[i] ? expf(z[i] - zmax) : 0.0;
        int m = 0;
        for (int i = 0; i < V; i++) {
            prob[i] = on[i] ? expf(z[i] - zmax) / sum : 0.0;
            if (on[i]) order[m++] = i;
        }
        sort_probs = prob;
        qsort(order, (size_t)m, sizeof(int), cmp_prob_asc);
        double cum = 0.0;
        for (int r = 0; r < m; r++) {
            cum += prob[order[r]];
            if (cum <= 1.0 - (double)p.top_p && r < m - 1) on[order[r]] = 0;
        }
    }
    if (p.min_p > 0.0f) { /* remove probs < min_p * max prob */
        double sum = 0.0, pmax = 0.0;
        for (int i = 0; i < V; i++) sum += on[i] ? expf(z[i] - zmax) : 0.0;
        for (int i = 0; i < V; i++) prob[i] = on[i] ? expf(z[i] - zmax) / sum : 0.0, pmax = fmax(pmax, prob[i]);
        for (int i = 0; i < V; i++)
            if (prob[i] < (double)p.min_p * pmax) on[i] = 0;
    }
    int n = 0;
    for (int i = 0; i < V; i++)
        if (on[i]) keep[n++] = i;
    free(z), free(zs), free(prob), free(on), free(order);
    return n;
}

/* log softmax(x)[id] in double. */
/* log softmax(z)[id] in float64 over z = x / T, the fp32 division the temperature warper does. */
static double ref_logprob(const float *x, int V, float T, int id) {
    double m = -INFINITY, s = 0.0;
    for (int i = 0; i < V; i++) m = fmax(m, (double)(x[i] / T));
    for (int i = 0; i < V; i++) s += exp((double)(x[i] / T) - m);
    return (double)(x[id] / T) - m - log(s);
}

static float *random_logits(uint64_t stream, int V, float std) {
    float *x = malloc(sizeof(float) * (size_t)V);
    assert_non_null(x);
    ilr_rng rng;
    ilr_rng_init(&rng, 2024, stream);
    ilr_rng_fill_normal(&rng, x, V, 0.0f, std);
    return x;
}

/* ---- tests ---- */

static void test_params_check(void **state) {
    (void)state;
    ilr_sampler_params ok[] = {P(0, 0, 1, 0), P(1, 50, 0.95f, 0.05f), P(0.7f, 1, 1e-6f, 0.999f), P(2, 0, 1, 0)};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) assert_int_equal(ilr_sampler_params_check(&ok[i]), 0);
    struct {
        ilr_sampler_params p;
        const char *field;
    } bad[] = {
        {P(-0.1f, 0, 1, 0), "temperature"}, {P(NAN, 0, 1, 0), "temperature"}, {P(INFINITY, 0, 1, 0), "temperature"},
        {P(1, -1, 1, 0), "top_k"},          {P(1, 0, 0, 0), "top_p"},         {P(1, 0, 1.0001f, 0), "top_p"},
        {P(1, 0, -0.5f, 0), "top_p"},       {P(1, 0, NAN, 0), "top_p"},       {P(1, 0, 1, 1), "min_p"},
        {P(1, 0, 1, -0.01f), "min_p"},      {P(1, 0, 1, NAN), "min_p"},       {P(1, 0, 1, 1.5f), "min_p"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ILR_EXPECT_ERROR(ilr_sampler_params_check(&bad[i].p), ILR_EINVAL, bad[i].field);
    ilr_sampler_scratch s;
    ILR_EXPECT_ERROR(ilr_sampler_scratch_init(&s, 0), ILR_EINVAL, "vocabulary size 0");
    ilr_sampler_scratch_free(&s);
}

static void test_greedy(void **state) {
    (void)state;
    const float x[] = {1.0f, 3.0f, 2.0f, 3.0f, -INFINITY, 0.5f};
    const int V = 6;
    ilr_sampler_scratch s = new_scratch(V);
    ilr_rng rng, before;
    ilr_rng_init(&rng, 7, 3);
    before = rng;
    ilr_sampler_params ps[] = {P(0, 0, 1, 0), P(0, 1, 0.1f, 0.9f), P(0, 5, 0.5f, 0)};
    for (size_t i = 0; i < 3; i++) {
        float lp = 0;
        assert_int_equal(ilr_sample(x, V, &ps[i], &rng, &s, &lp), 1); /* ties go to the lowest id */
        assert_true(fabs(lp - ref_logprob(x, V, 1.0f, 1)) < 1e-6); /* greedy: at temperature 1 */
        KEPT("greedy", x, ps[i], 1);
    }
    assert_true(rng.state == before.state); /* greedy draws nothing */
    /* the block scan of a longer vocabulary: the first of three tied maxima, two in one block of 16 */
    float *y = random_logits(3, 1000, 1.0f);
    y[900] = y[25] = y[20] = 50.0f;
    ilr_sampler_params g = P(0, 0, 1, 0);
    ilr_sampler_scratch s1000 = new_scratch(1000);
    assert_int_equal(ilr_sample(y, 1000, &g, &rng, &s1000, NULL), 20);
    ilr_sampler_scratch_free(&s1000);
    free(y);
    /* logits / T overflows to inf: degenerates to greedy rather than NaN, and the log-probability at T is
     * formed in double: two tied tokens share all the mass */
    const float big[] = {3e38f, 1.0f, 3e38f};
    ilr_sampler_params tiny = P(1e-3f, 0, 1, 0);
    float lp = 0;
    assert_int_equal(ilr_sample(big, 3, &tiny, &rng, &s, &lp), 0);
    assert_true(fabs(lp - log(0.5)) < 1e-6);
    ilr_sampler_scratch_free(&s);
}

static void test_top_k(void **state) {
    (void)state;
    const float x[] = {1, 5, 3, 3, 3, 0, 5, -2, 2.5f, -INFINITY};
    KEPT("top_k 3, three tied at the 3rd value", x, P(1, 3, 1, 0), 1, 2, 3, 4, 6);
    KEPT("top_k 4", x, P(1, 4, 1, 0), 1, 2, 3, 4, 6);
    KEPT("top_k 5", x, P(1, 5, 1, 0), 1, 2, 3, 4, 6);
    KEPT("top_k 6", x, P(1, 6, 1, 0), 1, 2, 3, 4, 6, 8);
    KEPT("top_k 2", x, P(1, 2, 1, 0), 1, 6);
    KEPT("top_k 1, two tied maxima", x, P(1, 1, 1, 0), 1, 6);
    KEPT("top_k 3 at T 0.7", x, P(0.7f, 3, 1, 0), 1, 2, 3, 4, 6);
    KEPT("top_k 9", x, P(1, 9, 1, 0), 0, 1, 2, 3, 4, 5, 6, 7, 8);
        KEPT("top_k >= V is off", x, P(1, 100, 1, 0), 0, 1, 2, 3, 4, 5, 6, 7, 8, 9);
    KEPT("top_k 0 is off", x, P(1, 0, 1, 0), 0, 1, 2, 3, 4, 5, 6, 7, 8, 9);

    /* the same over a longer vocabulary (block scans): five tokens at 10 and three tied at 9 */
    enum { VL = 1000 };
    float *z = random_logits(4, VL, 1.0f);
    const int top[] = {3, 100, 101, 517, 999}, nine[] = {40, 41, 700};
    for (int i = 0; i < 5; i++) z[top[i]] = 10.0f;
    for (int i = 0; i < 3; i++) z[nine[i]] = 9.0f;
    ilr_sampler_params k6 = P(0.8f, 6, 1, 0), k5 = P(1, 5, 1, 0);
    const int want6[] = {3, 40, 41, 100, 101, 517, 700, 999}, want5[] = {3, 100, 101, 517, 999};
    expect_kept("top_k 6 over 1000, three tied at the 6th", z, VL, k6, want6, 8);
    expect_kept("top_k 5 over 1000", z, VL, k5, want5, 5);
    free(z);

    /* top-k acts on logits / T: two adjacent floats that the division by 3 maps to one value tie there */
    float a = 1.5f, b = 0;
    for (int i = 0; i < 1000000; i++, a = b) {
        b = nextafterf(a, 2.0f);
        if (a / 3.0f == b / 3.0f) break;
    }
    assert_true(b > a && a / 3.0f == b / 3.0f);
    const float y[] = {0, a, b, -1};
    KEPT("top_k 1 at T 1", y, P(1, 1, 1, 0), 2);
    KEPT("top_k 1 at T 3: tied after the division", y, P(3, 1, 1, 0), 1, 2);
}

static void test_top_p(void **state) {
    (void)state;
    /* Four tokens of probability exactly 1/4 (logit 0; the rest -inf): cumulative masses 0.25, 0.5, 0.75, 1
     * are exact, so top_p = 0.5 is reached exactly by two tokens, and the third's inclusion would cross it. */
    const float q[] = {-INFINITY, 0, -INFINITY, 0, 0, -INFINITY, 0, -INFINITY};
    KEPT("mass exactly 0.5 after two tokens", q, P(1, 0, 0.5f, 0), 1, 3);
    KEPT("a hair below 0.5", q, P(1, 0, nextafterf(0.5f, 0), 0), 1, 3);
    KEPT("a hair above 0.5", q, P(1, 0, nextafterf(0.5f, 1), 0), 1, 3, 4);
    KEPT("exactly 0.25", q, P(1, 0, 0.25f, 0), 1);
    KEPT("exactly 0.75", q, P(1, 0, 0.75f, 0), 1, 3, 4);
    KEPT("a hair above 0.75", q, P(1, 0, nextafterf(0.75f, 1), 0), 1, 3, 4, 6);
    KEPT("tiny top_p keeps one", q, P(1, 0, 1e-6f, 0), 1);
    KEPT("0.5 at T 0.3 (all ties stay ties)", q, P(0.3f, 0, 0.5f, 0), 1, 3);
    KEPT("top_p 1 is off (the -inf count as kept, as in HF)", q, P(1, 0, 1, 0), 0, 1, 2, 3, 4, 5, 6, 7);
    KEPT("top_p 0.999 drops the zero-probability tokens", q, P(1, 0, 0.999f, 0), 1, 3, 4, 6);

    /* Distinct probabilities 0.1 0.4 0.05 0.3 0.15: descending masses 0.4, 0.7, 0.85, 0.95, 1; top_p just
     * below and above each (fp32 logits carry ~1e-7 of rounding, far inside the 1e-4 margins). */
    const float r[] = {logf(0.1f), logf(0.4f), logf(0.05f), logf(0.3f), logf(0.15f)};
    KEPT("below 0.4", r, P(1, 0, 0.3999f, 0), 1);
    KEPT("above 0.4", r, P(1, 0, 0.4001f, 0), 1, 3);
    KEPT("below 0.7", r, P(1, 0, 0.6999f, 0), 1, 3);
    KEPT("above 0.7", r, P(1, 0, 0.7001f, 0), 1, 3, 4);
    KEPT("below 0.85", r, P(1, 0, 0.8499f, 0), 1, 3, 4);
    KEPT("above 0.85", r, P(1, 0, 0.8501f, 0), 0, 1, 3, 4);
    KEPT("above 0.95", r, P(1, 0, 0.9501f, 0), 0, 1, 2, 3, 4);
    /* temperature first: at T 0.5 the weights square (the top one becomes 0.16 / 0.285 = 0.561), at T 2 they
     * take square roots (descending masses 0.300 0.560 0.744 ...) */
    KEPT("T 1: 0.4 < 0.5", r, P(1, 0, 0.5f, 0), 1, 3);
    KEPT("T 0.5: 0.561 >= 0.5", r, P(0.5f, 0, 0.5f, 0), 1);
    KEPT("T 1: 0.4 0.7 >= 0.6", r, P(1, 0, 0.6f, 0), 1, 3);
    KEPT("T 2: 0.300 0.560 0.744", r, P(2, 0, 0.6f, 0), 1, 3, 4);
}

static void test_min_p(void **state) {
    (void)state;
    /* ratios to the largest probability: 1 0.5 0.2 0.09 0.11 0.3 */
    const float x[] = {logf(0.5f), logf(0.25f), logf(0.1f), logf(0.045f), logf(0.055f), logf(0.15f)};
    KEPT("min_p 0.1", x, P(1, 0, 1, 0.1f), 0, 1, 2, 4, 5);
    KEPT("min_p 0.25", x, P(1, 0, 1, 0.25f), 0, 1, 5);
    KEPT("min_p 0.6", x, P(1, 0, 1, 0.6f), 0);
    KEPT("min_p 0.999", x, P(1, 0, 1, 0.999f), 0);
    /* after temperature: at T 2 the ratios are square roots (0.09 -> 0.3) */
    KEPT("min_p 0.25 at T 2", x, P(2, 0, 1, 0.25f), 0, 1, 2, 3, 4, 5);
    KEPT("min_p 0.5 at T 2", x, P(2, 0, 1, 0.5f), 0, 1, 5);
    /* ties with the maximum are all kept; zero probabilities never */
    const float t[] = {0, -INFINITY, 0, -3};
    KEPT("min_p 0.9 with tied maxima", t, P(1, 0, 1, 0.9f), 0, 2);
    KEPT("min_p 0.01", t, P(1, 0, 1, 0.01f), 0, 2, 3);
}

static void test_combinations(void **state) {
    (void)state;
    /* weights 40 30 20 10 9 8 at ids 3 0 5 1 4 2 */
    const float x[] = {logf(30), logf(10), logf(8), logf(40), logf(9), logf(20)};
    KEPT("top_p 0.7 alone: 40/117 30/117 20/117 -> .342 .598 .769", x, P(1, 0, 0.7f, 0), 0, 3, 5);
    KEPT("top_k 3 renormalises before top_p: .444 .778", x, P(1, 3, 0.7f, 0), 0, 3);
    KEPT("then min_p 0.8 drops 30/40", x, P(1, 3, 0.7f, 0.8f), 3);
    KEPT("then min_p 0.7 keeps 30/40", x, P(1, 3, 0.7f, 0.7f), 0, 3);
    KEPT("top_k 3 + min_p 0.4: 20/40 stays", x, P(1, 3, 1, 0.4f), 0, 3, 5);
    KEPT("min_p 0.4 alone", x, P(1, 0, 1, 0.4f), 0, 3, 5);
    KEPT("min_p 0.21 alone", x, P(1, 0, 1, 0.21f), 0, 1, 3, 4, 5);
    KEPT("min_p 0.4 at T 2: square roots", x, P(2, 0, 1, 0.4f), 0, 1, 2, 3, 4, 5);
    KEPT("min_p 0.4 at T 0.5: squares", x, P(0.5f, 0, 1, 0.4f), 0, 3);
    KEPT("top_k 4 + top_p 0.8: .4 .7 .9", x, P(1, 4, 0.8f, 0), 0, 3, 5);
    KEPT("T 0.5 + top_k 4 + top_p 0.8: .533 .833", x, P(0.5f, 4, 0.8f, 0), 0, 3);
    KEPT("top_p 0.8 then min_p 0.6", x, P(1, 0, 0.8f, 0.6f), 0, 3);
    /* T 2: sqrt weights 6.32 5.48 4.47 3.16 3 (2.83 cut by top_k); top_p 0.9 keeps all five (.867 before the
     * last); min_p 0.48 drops 3 / 6.32 = 0.474 */
    KEPT("everything, T 2", x, P(2, 5, 0.9f, 0.48f), 0, 1, 3, 5);
}

/* Random logits (with ties and -inf sprinkled in) against the plain reference, up to the full Qwen vocabulary:
 * this is what exercises the top-p buckets with thousands of tokens around the cut. */
static void test_matches_reference(void **state) {
    (void)state;
    const ilr_sampler_params ps[] = {P(1, 0, 0.9f, 0),      P(0.7f, 0, 0.95f, 0),     P(1.3f, 40, 0.8f, 0),
                                     P(1, 50, 1, 0),        P(0.6f, 0, 1, 0.05f),     P(1, 0, 0.5f, 0.3f),
                                     P(0.8f, 200, 0.97f, 0.01f), P(1, 7, 0.3f, 0),    P(2, 0, 0.99f, 0),
                                     P(0.25f, 1000, 0.999f, 0)};
    const int Vs[] = {1, 2, 17, 3000, BIG_V};
    const float stds[] = {0.1f, 1.0f, 3.0f, -2.0f}; /* -2: std 2 with 1 token in 500 raised by 12 (peaked) */
    int *got = malloc(sizeof(int) * BIG_V), *want = malloc(sizeof(int) * BIG_V);
    ilr_sampler_scratch s = new_scratch(BIG_V);
    int checks = 0, max_kept = 0;
    for (size_t v = 0; v < sizeof(Vs) / sizeof(Vs[0]); v++)
        for (size_t d = 0; d < sizeof(stds) / sizeof(stds[0]); d++) {
            int V = Vs[v];
            float *x = random_logits(v * 10 + d, V, fabsf(stds[d]));
            if (stds[d] < 0)
                for (int i = 0; i < V; i += 500) x[i] += 12.0f;
            for (int i = 0; i + 7 < V; i += 7) x[i + 3] = x[i]; /* ties */
            for (int i = 5; i < V; i += 101) x[i] = -INFINITY;
            for (size_t k = 0; k < sizeof(ps) / sizeof(ps[0]); k++) {
                if (V == BIG_V && (d == 0 || (d == 1 && k % 3 != 0))) continue; /* the reference sorts slowly */
                int n = ilr_sampler_kept(x, V, &ps[k], &s, got), m = ref_kept(x, V, ps[k], want);
                if (n != m || memcmp(got, want, sizeof(int) * (size_t)n))
                    print_error("V %d logits %g params %zu: kept %d, reference %d\n", V, (double)stds[d], k, n, m);
                assert_int_equal(n, m);
                assert_memory_equal(got, want, sizeof(int) * (size_t)n);
                checks++;
                if (n > max_kept) max_kept = n;
            }
            free(x);
        }
    print_message("kept sets equal the reference in %d cases (largest kept set %d)\n", checks, max_kept);
    ilr_sampler_scratch_free(&s);
    free(got), free(want);
}

static void test_logprob(void **state) {
    (void)state;
    const ilr_sampler_params ps[] = {P(0, 0, 1, 0),     P(1, 0, 1, 0),   P(0.7f, 0, 1, 0),    P(1, 20, 1, 0),
                                     P(1, 0, 0.9f, 0),  P(1.5f, 0, 1, 0.2f), P(0.5f, 10, 0.8f, 0.1f)};
    const int Vs[] = {1000, BIG_V};
    ilr_sampler_scratch s = new_scratch(BIG_V);
    double worst = 0.0;
    int checks = 0;
    for (int v = 0; v < 2; v++) {
        int V = Vs[v];
        float *x = random_logits(100 + v, V, 3.0f);
        ilr_rng rng;
        ilr_rng_init(&rng, 5, 9);
        for (size_t k = 0; k < sizeof(ps) / sizeof(ps[0]); k++)
            for (int t = 0; t < (V == BIG_V ? 3 : 100); t++) {
                float lp = 1.0f;
                int id = ilr_sample(x, V, &ps[k], &rng, &s, &lp);
                assert_true(id >= 0 && id < V);
                double want = ref_logprob(x, V, ilr_sampler_logprob_temperature(&ps[k]), id);
                /* fp32 output: 1e-6 absolute, or relative where one float ulp exceeds that (|lp| > 8) */
                double err = fabs(lp - want) / fmax(1.0, fabs(want));
                worst = fmax(worst, err);
                if (err >= 1e-6) print_error("V %d params %zu id %d: logprob %.9g, want %.9g\n", V, k, id, lp, want);
                assert_true(err < 1e-6);
                checks++;
            }
        free(x);
    }
    print_message("logprob vs float64 log softmax(x / T) (T of the draw, 1 when greedy; unfiltered): worst error "
                  "%.2e over %d draws\n", worst, checks);
    ilr_sampler_scratch_free(&s);
}

static void test_never_draws_zero_probability(void **state) {
    (void)state;
    const float x[] = {-INFINITY, 1.0f, NAN, -INFINITY, 0.5f, -INFINITY, 2.0f, NAN};
    ilr_sampler_scratch s = new_scratch(8);
    ilr_rng rng;
    ilr_rng_init(&rng, 1, 1);
    ilr_sampler_params ps[] = {P(1, 0, 1, 0), P(5, 0, 1, 0), P(3, 7, 1, 0), P(5, 0, 0.999f, 0)};
    int counts[8] = {0};
    for (size_t k = 0; k < 4; k++)
        for (int t = 0; t < 20000; t++) counts[ilr_sample(x, 8, &ps[k], &rng, &s, NULL)]++;
    print_message("draws per id with -inf and NaN logits: %d %d %d %d %d %d %d %d\n", counts[0], counts[1], counts[2],
                  counts[3], counts[4], counts[5], counts[6], counts[7]);
    assert_true(counts[0] + counts[2] + counts[3] + counts[5] + counts[7] == 0);
    assert_true(counts[1] > 0 && counts[4] > 0 && counts[6] > 0);
    ilr_sampler_scratch_free(&s);
}

static void test_determinism(void **state) {
    (void)state;
    enum { V = 1000, N = 2000 };
    float *x = random_logits(7, V, 1.0f);
    ilr_sampler_scratch s = new_scratch(V);
    ilr_sampler_params p = P(0.9f, 0, 0.95f, 0);
    int *a = malloc(sizeof(int) * N), *b = malloc(sizeof(int) * N), *c = malloc(sizeof(int) * N);
    ilr_rng ra, rb, rc, check;
    ilr_rng_init(&ra, 42, 3);
    ilr_rng_init(&rb, 42, 3);
    ilr_rng_init(&rc, 42, 4);
    for (int i = 0; i < N; i++) {
        check = ra;
        a[i] = ilr_sample(x, V, &p, &ra, &s, NULL);
        ilr_rng_uniform_f64(&check); /* exactly one draw per sample */
        assert_true(check.state == ra.state);
    }
    /* b and c interleaved through one scratch: b must not notice c (batch composition does not matter) */
    for (int i = 0; i < N; i++) {
        c[i] = ilr_sample(x, V, &p, &rc, &s, NULL);
        b[i] = ilr_sample(x, V, &p, &rb, &s, NULL);
    }
    int differ = 0;
    for (int i = 0; i < N; i++) differ += a[i] != c[i];
    print_message("same stream: identical; streams 3 and 4 differ in %d of %d draws\n", differ, N);
    assert_memory_equal(a, b, sizeof(int) * N);
    assert_true(differ > N * 9 / 10);
    free(a), free(b), free(c), free(x);
    ilr_sampler_scratch_free(&s);
}

/* The documented draw: u from ilr_rng_uniform_f64, the first kept id (increasing) whose cumulative
 * probability exceeds u.  Checked against softmax(x / T) over the kept ids in double, unfiltered (weights
 * read straight from the vocabulary), after top-k, and after min-p alone (its own path). */
static void test_inverse_cdf(void **state) {
    (void)state;
    enum { V = 600 };
    float *x = random_logits(8, V, 1.5f);
    ilr_sampler_scratch s = new_scratch(V);
    const ilr_sampler_params ps[] = {P(0.7f, 0, 1, 0), P(0.7f, 10, 1, 0), P(1.3f, 0, 1, 0.02f), P(1, 0, 0.9f, 0)};
    int keep[V];
    for (size_t k = 0; k < sizeof(ps) / sizeof(ps[0]); k++) {
        const double T = ps[k].temperature;
        int n = ilr_sampler_kept(x, V, &ps[k], &s, keep);
        double prob[V], sum = 0.0, m = -INFINITY;
        for (int i = 0; i < V; i++) m = fmax(m, x[i] / T);
        for (int j = 0; j < n; j++) sum += prob[j] = exp(x[keep[j]] / T - m);
        ilr_rng rng, copy;
        ilr_rng_init(&rng, 11, k);
        for (int t = 0; t < 2000; t++) {
            copy = rng;
            double u = ilr_rng_uniform_f64(&copy), cum = 0.0;
            int want = keep[n - 1];
            for (int j = 0; j < n; j++)
                if ((cum += prob[j] / sum) > u) {
                    want = keep[j];
                    break;
                }
            assert_int_equal(ilr_sample(x, V, &ps[k], &rng, &s, NULL), want);
        }
        print_message("inverse CDF: 2000 draws over %d kept ids (params %zu) as computed in double\n", n, k);
    }
    free(x);
    ilr_sampler_scratch_free(&s);
}

/* Pearson's chi-square of n draws against probabilities want[V] (zero entries must get no draws). */
static double chi_square(const float *x, int V, ilr_sampler_params p, const double *want, int n, uint64_t stream) {
    ilr_sampler_scratch s = new_scratch(V);
    ilr_rng rng;
    ilr_rng_init(&rng, 99, stream);
    long counts[64] = {0};
    for (int t = 0; t < n; t++) counts[ilr_sample(x, V, &p, &rng, &s, NULL)]++;
    ilr_sampler_scratch_free(&s);
    double chi2 = 0.0;
    for (int i = 0; i < V; i++) {
        if (want[i] == 0.0) {
            assert_int_equal(counts[i], 0);
            continue;
        }
        double e = want[i] * n;
        assert_true(e >= 5.0); /* the approximation's usual condition */
        chi2 += (counts[i] - e) * (counts[i] - e) / e;
    }
    return chi2;
}

static void test_chi_square(void **state) {
    (void)state;
    enum { V = 20, N = 200000 };
    float *x = random_logits(12, V, 1.0f);
    double want[V], sum = 0.0, m = -INFINITY;
    for (int i = 0; i < V; i++) m = fmax(m, x[i] / 0.7);
    for (int i = 0; i < V; i++) sum += want[i] = exp(x[i] / 0.7 - m);
    for (int i = 0; i < V; i++) want[i] /= sum;
    double chi2 = chi_square(x, V, P(0.7f, 0, 1, 0), want, N, 1);
    print_message("chi-square, T 0.7, V 20, %d draws: %.2f (0.999 quantile, 19 dof: 43.82)\n", N, chi2);
    assert_true(chi2 < 43.82);

    /* top_k 5: the five largest logits, renormalised; 4 degrees of freedom */
    float sorted[V];
    memcpy(sorted, x, sizeof sorted);
    qsort(sorted, V, sizeof(float), cmp_float_desc);
    sum = 0.0;
    for (int i = 0; i < V; i++) sum += want[i] = x[i] >= sorted[4] ? exp(x[i] / 0.7 - m) : 0.0;
    for (int i = 0; i < V; i++) want[i] /= sum;
    double chi2k = chi_square(x, V, P(0.7f, 5, 1, 0), want, N, 2);
    print_message("chi-square, T 0.7, top_k 5, %d draws: %.2f (0.999 quantile, 4 dof: 18.47)\n", N, chi2k);
    assert_true(chi2k < 18.47);

    /* and a wrong distribution must fail: the draws at T 0.7 against softmax(x / 0.75) */
    sum = 0.0;
    for (int i = 0; i < V; i++) sum += want[i] = exp(x[i] / 0.75 - m);
    for (int i = 0; i < V; i++) want[i] /= sum;
    double chi2_wrong = chi_square(x, V, P(0.7f, 0, 1, 0), want, N, 1);
    print_message("chi-square against softmax(x / 0.75) instead: %.1f (must exceed 43.82)\n", chi2_wrong);
    assert_true(chi2_wrong > 43.82);
    free(x);
}

/* Printed, not asserted: ns per call at the Qwen vocabulary, on two kinds of logits.  "flat": N(0, 3^2)
 * noise, where top-p keeps thousands of tokens (the slow case for its buckets); "peaked": N(0, 2^2) with 40
 * tokens raised by 12, closer to a language model's next-token distribution. */
static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_params_check),
    cmocka_unit_test(test_greedy),
    cmocka_unit_test(test_top_k),
    cmocka_unit_test(test_top_p),
    cmocka_unit_test(test_min_p),
    cmocka_unit_test(test_combinations),
    cmocka_unit_test(test_matches_reference),
    cmocka_unit_test(test_logprob),
    cmocka_unit_test(test_never_draws_zero_probability),
    cmocka_unit_test(test_determinism),
    cmocka_unit_test(test_inverse_cdf),
    cmocka_unit_test(test_chi_square),
};

ILR_TEST_GROUP(sampler, tests)
