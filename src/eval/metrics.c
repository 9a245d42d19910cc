/* Benchmark metrics and bootstrap intervals (see include/ilr/eval_metrics.h). */
#include "ilr/eval_metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ilr/error.h"
#include "ilr/rng.h"

double ilr_pass_at_k(int n, int c, int k) {
    if (n < 1 || k < 1 || k > n) return 0;
    if (c < 0) c = 0;
    if (c > n) c = n;
    if (n - c < k) return 1;
    /* C(n-c, k) / C(n, k) = prod_{i = n-c+1}^{n} (1 - k / i): no large binomials */
    double miss = 1;
    for (int i = n - c + 1; i <= n; i++) miss *= 1.0 - (double)k / i;
    return 1 - miss;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Percentile bootstrap of mean(x - y) (y may be NULL). */
static int bootstrap(const double *x, const double *y, int n, int resamples, uint64_t seed, ilr_ci95 *out) {
    if (n < 1 || resamples < 1 || !x || !out) return ILR_FAIL(ILR_EINVAL, "bootstrap: %d values, %d resamples", n, resamples);
    double sum = 0;
    for (int i = 0; i < n; i++) sum += x[i] - (y ? y[i] : 0);
    out->mean = sum / n;
    double *means = malloc(sizeof *means * (size_t)resamples);
    if (!means) return ILR_FAIL(ILR_ENOMEM, "bootstrap: out of memory");
    ilr_rng rng;
    ilr_rng_init(&rng, seed, 0xb007);
    for (int r = 0; r < resamples; r++) {
        double s = 0;
        for (int i = 0; i < n; i++) {
            int j = (int)(ilr_rng_uniform_f64(&rng) * n);
            if (j >= n) j = n - 1;
            s += x[j] - (y ? y[j] : 0);
        }
        means[r] = s / n;
    }
    qsort(means, (size_t)resamples, sizeof *means, cmp_double);
    int lo = (int)floor(0.025 * (resamples - 1)), hi = (int)ceil(0.975 * (resamples - 1));
    out->lo = means[lo], out->hi = means[hi];
    free(means);
    return 0;
}

int ilr_bootstrap_mean(const double *x, int n, int resamples, uint64_t seed, ilr_ci95 *out) {
    return bootstrap(x, NULL, n, resamples, seed, out);
}

int ilr_bootstrap_paired(const double *x, const double *y, int n, int resamples, uint64_t seed, ilr_ci95 *out) {
    if (!y) return ILR_FAIL(ILR_EINVAL, "bootstrap: no second side");
    return bootstrap(x, y, n, resamples, seed, out);
}

int ilr_majority(const char *const *answers, int k, int (*same)(const char *a, const char *b, void *ctx), void *ctx) {
    if (k < 1) return -1;
    int best = -1, best_votes = 0;
    for (int i = 0; i < k; i++) {
        if (!answers[i]) continue;
        int seen = 0; /* an answer equal to an earlier one was counted with it */
        for (int j = 0; j < i && !seen; j++) seen = answers[j] && same(answers[j], answers[i], ctx);
        if (seen) continue;
        int votes = 1;
        for (int j = i + 1; j < k; j++) votes += answers[j] && same(answers[i], answers[j], ctx);
        if (votes > best_votes) best = i, best_votes = votes;
    }
    return best < 0 ? 0 : best;
}

int ilr_bench_summarize(const ilr_eval_question *q, int n, int resamples, uint64_t seed, ilr_bench_summary *out) {
    memset(out, 0, sizeof *out);
    if (n < 1) return ILR_FAIL(ILR_EINVAL, "benchmark summary: no questions");
    out->questions = n;
    int k = -1;
    for (int i = 0; i < n; i++) {
        if (q[i].greedy >= 0) out->has_greedy = 1;
        if (k < 0 || q[i].samples < k) k = q[i].samples;
    }
    out->samples = k > 0 ? k : 0;
    double *g = malloc(sizeof *g * (size_t)n * 4), *avg = g + n, *pass = g + 2 * n, *maj = g + 3 * n;
    if (!g) return ILR_FAIL(ILR_ENOMEM, "benchmark summary: out of memory");
    int level_n[ILR_MAX_LEVEL + 1] = {0};
    for (int i = 0; i < n; i++) {
        g[i] = q[i].greedy > 0;
        /* avg@k: each question's share of right answers; pass@k at the fewest sample count k */
        avg[i] = q[i].samples > 0 ? (double)q[i].correct / q[i].samples : 0;
        pass[i] = out->samples ? ilr_pass_at_k(q[i].samples, q[i].correct, out->samples) : 0;
        maj[i] = q[i].majority > 0;
        int l = q[i].level >= 0 && q[i].level <= ILR_MAX_LEVEL ? q[i].level : 0;
        level_n[l]++;
        out->level_greedy[l] += g[i];
        out->level_avg[l] += avg[i];
    }
    for (int l = 0; l <= ILR_MAX_LEVEL; l++) {
        out->level_questions[l] = level_n[l];
        if (level_n[l]) out->level_greedy[l] /= level_n[l], out->level_avg[l] /= level_n[l];
    }
    int rc = 0;
    if (out->has_greedy) rc = ilr_bootstrap_mean(g, n, resamples, seed, &out->greedy);
    if (!rc && out->samples) rc = ilr_bootstrap_mean(avg, n, resamples, seed + 1, &out->avg);
    if (!rc && out->samples) rc = ilr_bootstrap_mean(pass, n, resamples, seed + 2, &out->pass);
    if (!rc && out->samples) rc = ilr_bootstrap_mean(maj, n, resamples, seed + 3, &out->maj);
    free(g);
    return rc;
}

static json_t *pair(const ilr_ci95 *c) { return json_pack("[f, f]", c->lo, c->hi); }

json_t *ilr_bench_summary_json(const ilr_bench_summary *s) {
    json_t *j = json_object();
    json_object_set_new(j, "questions", json_integer(s->questions));
    json_object_set_new(j, "samples", json_integer(s->samples));
    if (s->has_greedy) {
        json_object_set_new(j, "greedy", json_real(s->greedy.mean));
        json_object_set_new(j, "greedy_ci95", pair(&s->greedy));
    }
    if (s->samples) {
        char key[64];
        const struct { const char *name; const ilr_ci95 *ci; } m[] = {{"avg", &s->avg}, {"pass", &s->pass}, {"maj", &s->maj}};
        for (int i = 0; i < 3; i++) {
            snprintf(key, sizeof key, "%s@%d", m[i].name, s->samples);
            json_object_set_new(j, key, json_real(m[i].ci->mean));
            snprintf(key, sizeof key, "%s@%d_ci95", m[i].name, s->samples);
            json_object_set_new(j, key, pair(m[i].ci));
        }
    }
    json_t *levels = json_object();
    for (int l = 1; l <= ILR_MAX_LEVEL; l++) {
        if (!s->level_questions[l]) continue;
        char name[16], key[32];
        snprintf(name, sizeof name, "%d", l);
        json_t *e = json_object();
        json_object_set_new(e, "questions", json_integer(s->level_questions[l]));
        if (s->has_greedy) json_object_set_new(e, "greedy", json_real(s->level_greedy[l]));
        snprintf(key, sizeof key, "avg@%d", s->samples);
        if (s->samples) json_object_set_new(e, key, json_real(s->level_avg[l]));
        json_object_set_new(levels, name, e);
    }
    if (json_object_size(levels)) json_object_set_new(j, "by_level", levels);
    else json_decref(levels);
    return j;
}
