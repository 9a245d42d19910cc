/* Token sampler: temperature, top-k, top-p, min-p in Hugging Face's order, then one inverse-CDF draw
 * (semantics in ilr/sampler.h).
 *
 * Working state of one call, all in the scratch:
 *   probs[id]       the unnormalised weight exp(z - max z) of every candidate id (z = logit / T), in [0, 1];
 *   index[0, n)     the candidate ids, always in increasing id order, shrunk in place by each filter (not
 *                   written while they are the whole vocabulary);
 *   index[V, 2V)    work space: the top-p boundary bucket.  (The top-k heap lives in probs before the
 *                   weights are written.) */
#include "ilr/sampler.h"

#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ilr/error.h"
#include "ilr/exp_neg.h"

int ilr_sampler_params_check(const ilr_sampler_params *p) {
    if (!(p->temperature >= 0.0f) || isinf(p->temperature))
        return ILR_FAIL(ILR_EINVAL, "sampler: temperature %g must be finite and >= 0 (0 is greedy)",
                        (double)p->temperature);
    if (p->top_k < 0) return ILR_FAIL(ILR_EINVAL, "sampler: top_k %d must be >= 0 (0 is off)", p->top_k);
    if (!(p->top_p > 0.0f && p->top_p <= 1.0f))
        return ILR_FAIL(ILR_EINVAL, "sampler: top_p %g must be in (0, 1] (1 is off)", (double)p->top_p);
    if (!(p->min_p >= 0.0f && p->min_p < 1.0f))
        return ILR_FAIL(ILR_EINVAL, "sampler: min_p %g must be in [0, 1) (0 is off)", (double)p->min_p);
    return 0;
}

int ilr_sampler_scratch_init(ilr_sampler_scratch *s, int V) {
    memset(s, 0, sizeof *s);
    if (V < 1) return ILR_FAIL(ILR_EINVAL, "sampler: vocabulary size %d must be >= 1", V);
    s->probs = malloc(sizeof(float) * (size_t)V);
    s->index = malloc(sizeof(int) * 2 * (size_t)V);
    if (!s->probs || !s->index) {
        ilr_sampler_scratch_free(s);
        return ILR_FAIL(ILR_ENOMEM, "sampler: out of memory for the scratch of a %d-token vocabulary", V);
    }
    s->V = V;
    return 0;
}

void ilr_sampler_scratch_free(ilr_sampler_scratch *s) {
    free(s->probs);
    free(s->index);
    memset(s, 0, sizeof *s);
}

/* ---- block scans: one vector compare per BLOCK elements, single elements only in the blocks that pass ---- */

#define BLOCK 16

/* Whether any of x[0, BLOCK) is > t (>= t).  The omp simd reduction is what makes gcc vectorise these: as
 * plain loops they become sixteen compares and branches. */
static inline int any_above(const float *x, float t) {
    int any = 0;
#pragma omp simd reduction(| : any)
    for (int j = 0; j < BLOCK; j++) any |= x[j] > t;
    return any;
}

static inline int any_at_least(const float *x, float t) {
    int any = 0;
#pragma omp simd reduction(| : any)
    for (int j = 0; j < BLOCK; j++) any |= x[j] >= t;
    return any;
}

/* The largest logit (*max) and its lowest id.  NaN never wins; all -inf or NaN gives id 0 and -inf. */
static int argmax(const float *x, int V, float *max) {
    int best = 0, i = 0;
    float m = -INFINITY;
    for (; i + BLOCK <= V; i += BLOCK)
        if (any_above(x + i, m))
            for (int j = i; j < i + BLOCK; j++)
                if (x[j] > m) m = x[j], best = j;
    for (; i < V; i++)
        if (x[i] > m) m = x[i], best = i;
    *max = m;
    return best;
}


/* sum_i exp(x_i / T - zmax) in double (zmax = max x / T): the normaliser of log softmax(x / T).  x / T is the
 * fp32 division the temperature warper does; T = 1 skips it (the same values, without a division a lane). */
static double sum_exp(const float *x, int V, float T, float zmax) {
    double sum = 0.0;
    if (T == 1.0f) {
#pragma omp simd reduction(+ : sum)
        for (int i = 0; i < V; i++) sum += ilr_exp_neg(x[i] - zmax);
    } else {
#pragma omp simd reduction(+ : sum)
        for (int i = 0; i < V; i++) sum += ilr_exp_neg(x[i] / T - zmax);
    }
    return sum;
}

/* log softmax(x / T)[id] in double, for a T so small that x / T overflows fp32. */
static double logprob_f64(const float *x, int V, float T, int id) {
    double m = -INFINITY, sum = 0.0;
    for (int i = 0; i < V; i++) m = fmax(m, (double)x[i] / T);
    for (int i = 0; i < V; i++) sum += exp((double)x[i] / T - m);
    return (double)x[id] / T - m - log(sum);
}

/* log softmax(x / T)[id] (T > 0; xmax the largest x); sum: the normaliser sum_exp(x, V, T, xmax / T) when the
 * filters already formed it, else < 0. */
static float logprob_at(const float *x, int V, float T, float xmax, int id, double sum) {
    float zmax = xmax / T;
    if (!isfinite(zmax) && isfinite(xmax)) return (float)logprob_f64(x, V, T, id);
    if (sum < 0.0) sum = sum_exp(x, V, T, zmax);
    return (float)((double)(x[id] / T) - (double)zmax - log(sum));
}

/* Compacts into out (which may be idx itself) the ids of idx[n] whose weight is >= lo, keeping their order.
 * idx NULL stands for the ids 0..n-1: then whole blocks of w are skipped with one compare.  Branch-free
 * inside (write always, advance on a match): a mixed keep/drop pattern would mispredict half the time. */
static int select_at_least(const int *idx, int n, const float *w, float lo, int *out) {
    int m = 0, j = 0;
    if (!idx) {
        for (; j + BLOCK <= n; j += BLOCK)
            if (any_at_least(w + j, lo))
                for (int i = j; i < j + BLOCK; i++) {
                    out[m] = i;
                    m += w[i] >= lo;
                }
        for (; j < n; j++) {
            out[m] = j;
            m += w[j] >= lo;
        }
        return m;
    }
    for (; j < n; j++) {
        int i = idx[j];
        out[m] = i;
        m += w[i] >= lo;
    }
    return m;
}

/* ---- top-k: the k-th largest logit with a k-element min-heap ---- */

static void sift_down(float *h, int n, int i) {
    float v = h[i];
    for (;;) {
        int c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && h[c + 1] < h[c]) c++;
        if (!(h[c] < v)) break;
        h[i] = h[c];
        i = c;
    }
    h[i] = v;
}

static inline void heap_offer(float *h, int k, float v) {
    if (v > h[0]) {
        h[0] = v;
        sift_down(h, k, 0);
    }
}

/* The k-th largest of x[V] (0 < k < V), NaN counted as -inf; h holds k floats. */
static float kth_largest(const float *x, int V, int k, float *h) {
    for (int i = 0; i < k; i++) h[i] = isnan(x[i]) ? -INFINITY : x[i];
    for (int i = k / 2 - 1; i >= 0; i--) sift_down(h, k, i);
    int i = k;
    for (; i + BLOCK <= V; i += BLOCK)
        if (any_above(x + i, h[0]))
            for (int j = i; j < i + BLOCK; j++) heap_offer(h, k, x[j]);
    for (; i < V; i++) heap_offer(h, k, x[i]);
    return h[0];
}

/* The smallest float x with fl(x / T) >= tz, where fl(tx / T) = tz.  Division by T > 0 is monotone in x, so
 * the tokens whose z reaches tz are exactly those with x >= that bound; only rounding makes it lower than tx,
 * by a float or two.  -inf when it is not found quickly (a T that pushes z into subnormals): then every
 * token is checked with the division. */
static float lowest_with_z(float tx, float T, float tz) {
    if (!(tx > -INFINITY)) return -INFINITY;
    for (int step = 0; step < 64; step++) {
        float y = nextafterf(tx, -INFINITY);
        if (!(y / T >= tz)) return tx;
        tx = y;
    }
    return -INFINITY;
}

/* The ids whose z = x / T is >= the k-th largest z (ties kept), in increasing order, into idx; returns n. */
static int gather_top_k(const float *x, int V, int k, float T, float *heap, int *idx) {
    float tx = kth_largest(x, V, k, heap), tz = tx / T, lo = lowest_with_z(tx, T, tz);
    int n = 0, i = 0;
    for (; i + BLOCK <= V; i += BLOCK)
        if (any_at_least(x + i, lo))
            for (int j = i; j < i + BLOCK; j++)
                if (x[j] >= lo && x[j] / T >= tz) idx[n++] = j;
    for (; i < V; i++)
        if (x[i] >= lo && x[i] / T >= tz) idx[n++] = i;
    return n;
}

/* ---- top-p: bucket the weights by magnitude, sort only the bucket the cut falls in ---- */

/* Weights lie in [0, 1]; for those the float bit pattern is monotone in the value, so 8 buckets per octave
 * from the top: bucket 0 holds (2^-1/8, 1], bucket 1016 holds 0 and the smallest subnormals. */
#define NBUCKET 1017

static inline int bucket_of(float w) {
    uint32_t bits;
    memcpy(&bits, &w, sizeof bits);
    return (int)((0x3f800000u - bits) >> 20);
}

/* Descending weight, then ascending id: the order in which top-p accumulates mass. */
static int by_weight_desc(const void *a, const void *b, void *ctx) {
    const float *w = ctx;
    int ia = *(const int *)a, ib = *(const int *)b;
    if (w[ia] != w[ib]) return w[ia] > w[ib] ? -1 : 1;
    return (ia > ib) - (ia < ib);
}

/* Keeps the smallest descending prefix of idx[n] (weights w, sum total) whose mass reaches top_p * total, in
 * place, idx staying in increasing id order (identity: idx is not filled yet and stands for 0..n-1); returns
 * the new n.  work holds n ints.  Tokens below floor_w are dropped first, which keeps the long tail of a real
 * vocabulary out of the buckets: the caller makes sure those at or above it reach top_p by themselves. */
static int filter_top_p(int *idx, int n, int identity, const float *w, double total, float top_p, float floor_w,
                        int *work) {
    n = select_at_least(identity ? NULL : idx, n, w, floor_w, idx);
    double mass[NBUCKET] = {0};
    for (int j = 0; j < n; j++) mass[bucket_of(w[idx[j]])] += w[idx[j]];
    double thr = (double)top_p * total, before = 0.0;
    int b = 0;
    while (b < NBUCKET - 1 && before + mass[b] < thr) before += mass[b++];
    int m = 0;
    for (int j = 0; j < n; j++)
        if (bucket_of(w[idx[j]]) == b) work[m++] = idx[j];
    if (m == 0) return n; /* only reachable through rounding when top_p is a hair below 1: keep all */
    qsort_r(work, (size_t)m, sizeof *work, by_weight_desc, (void *)w);
    /* The first token of the bucket is kept (the mass before it is < thr); each next one while the mass
     * before it is still < thr. */
    int cut = 1;
    double run = before + w[work[0]];
    while (cut < m && run < thr) run += w[work[cut++]];
    float wc = w[work[cut - 1]];
    int ic = work[cut - 1], kept = 0;
    for (int j = 0; j < n; j++) { /* branch-free, as in select_at_least */
        int i = idx[j], bk = bucket_of(w[i]);
        idx[kept] = i;
        kept += (bk < b) | ((bk == b) & ((w[i] > wc) | ((w[i] == wc) & (i <= ic))));
    }
    return kept;
}

/* ---- the pipeline ---- */

/* Weight levels whose mass (sum of the weights at or above each) the weights pass gathers when top-p is on. */
#define NLEVEL 4
static const float LEVEL[NLEVEL] = {0x1p-3f, 0x1p-7f, 0x1p-12f, 0x1p-18f};

/* A weight below which no token can be in the top-p set: the largest level whose mass already reaches
 * top_p * total, else (1 - top_p) * total / (2n) — the tokens below that weigh at most (1 - top_p) * total / 2
 * together, so those above reach top_p without them.  The level masses are fp32 sums of up to V / 16 terms a
 * lane, off by at most ~V / 16 * 2^-24 relative (6e-4 at V = 151936): the 1% margin covers that. */
static float top_p_floor(const double *level_mass, double total, float top_p, int n) {
    double thr = (double)top_p * total * 1.01;
    for (int l = 0; level_mass && l < NLEVEL; l++)
        if (level_mass[l] >= thr) return LEVEL[l];
    return (float)((1.0 - top_p) * total / (2.0 * n));
}

/* The weights of the whole vocabulary into w; returns their sum.  level_mass (NLEVEL, may be NULL) gets the
 * mass at or above each LEVEL. */
static double weights_all(const float *x, int V, float T, float zmax, float *w, double *level_mass) {
    double total = 0.0;
    if (!level_mass) {
#pragma omp simd reduction(+ : total)
        for (int i = 0; i < V; i++) {
            float e = ilr_exp_neg(x[i] / T - zmax);
            w[i] = e;
            total += e;
        }
        return total;
    }
    float m0 = 0.0f, m1 = 0.0f, m2 = 0.0f, m3 = 0.0f; /* fp32: double sums would double the pass's cost */
#pragma omp simd reduction(+ : total, m0, m1, m2, m3)
    for (int i = 0; i < V; i++) {
        float e = ilr_exp_neg(x[i] / T - zmax);
        w[i] = e;
        total += e;
        m0 += e >= LEVEL[0] ? e : 0.0f;
        m1 += e >= LEVEL[1] ? e : 0.0f;
        m2 += e >= LEVEL[2] ? e : 0.0f;
        m3 += e >= LEVEL[3] ? e : 0.0f;
    }
    level_mass[0] = m0, level_mass[1] = m1, level_mass[2] = m2, level_mass[3] = m3;
    return total;
}

/* min-p alone over the whole vocabulary: the weight exp(d), d = x / T - max z, can reach min_w only when
 * d >= log(min_w), so exp is evaluated only there (1e-3 of margin covers the rounding of exp and logf);
 * the rest of the vocabulary costs one vector compare per block.  Returns n; weights written for the kept. */
static int filter_min_p_only(const float *x, int V, float T, float zmax, float min_w, float *w, int *idx) {
    float dlo = logf(min_w) - 1e-3f;
    int n = 0;
    for (int i0 = 0; i0 < V; i0 += BLOCK) {
        int i1 = i0 + BLOCK < V ? i0 + BLOCK : V, any = 0;
        if (i1 - i0 == BLOCK) {
#pragma omp simd reduction(| : any)
            for (int j = 0; j < BLOCK; j++) any |= x[i0 + j] / T - zmax >= dlo;
            if (!any) continue;
        }
        for (int i = i0; i < i1; i++) {
            float d = x[i] / T - zmax;
            if (!(d >= dlo)) continue;
            float e = ilr_exp_neg(d);
            if (e >= min_w) w[i] = e, idx[n++] = i;
        }
    }
    return n;
}

/* Runs the filters for temperature > 0: s->index[0, n) gets the kept ids (increasing), s->probs[id] their
 * weights exp(z - max z); returns n >= 1.  n = V means nothing was filtered out, and then s->index is NOT
 * filled (it would be 0..V-1).  *full_sum gets sum_i exp(z_i - max z) over the whole vocabulary when it came
 * for free (no top-k, and not min-p alone), else -1. */
static int filter(const float *x, int V, const ilr_sampler_params *p, ilr_sampler_scratch *s, int am, float xmax,
                  double *full_sum) {
    float T = p->temperature, zmax = xmax / T, *w = s->probs;
    float min_w = p->min_p < 1.0f ? p->min_p : 1.0f; /* p_i >= min_p p_max <=> w_i >= min_p (top weight 1) */
    int *idx = s->index, n = 0, identity = 0, top_p = p->top_p < 1.0f;
    *full_sum = -1.0;
    if (!isfinite(zmax)) { /* every logit -inf or NaN, or logits / T overflowed: greedy */
        idx[0] = am;
        w[am] = 1.0f;
        return 1;
    }
    double total = 0.0, level_mass[NLEVEL], *lm = NULL;
    if (p->top_k > 0 && p->top_k < V) { /* the heap lives in w until the weights are written */
        n = gather_top_k(x, V, p->top_k, T, w, idx);
        for (int j = 0; j < n; j++) total += w[idx[j]] = ilr_exp_neg(x[idx[j]] / T - zmax);
    } else if (min_w > 0.0f && !top_p) {
        return filter_min_p_only(x, V, T, zmax, min_w, w, idx);
    } else {
        lm = top_p ? level_mass : NULL;
        total = weights_all(x, V, T, zmax, w, lm);
        n = V;
        identity = 1;
        *full_sum = total;
    }
    if (top_p && n > 1) {
        float tp = p->top_p > 0.0f ? p->top_p : 0.0f;
        n = filter_top_p(idx, n, identity, w, total, tp, top_p_floor(lm, total, tp, n), s->index + s->V);
        identity = 0;
    }
    if (min_w > 0.0f) n = select_at_least(identity ? NULL : idx, n, w, min_w, idx);
    return n;
}

/* The weight of ids idx[j0, j1) (ids j0..j1-1 when idx is NULL) in double, vectorised; both passes of draw
 * call it on the same blocks, so they agree on every block sum. */
static inline double block_weight(const int *idx, int j0, int j1, const float *w) {
    double sum = 0.0;
    if (idx) {
#pragma omp simd reduction(+ : sum)
        for (int j = j0; j < j1; j++) sum += w[idx[j]];
    } else {
#pragma omp simd reduction(+ : sum)
        for (int j = j0; j < j1; j++) sum += w[j];
    }
    return sum;
}

#define DRAW_BLOCK 256

/* Inverse CDF over the ids idx[n] (0..n-1 when idx is NULL) in order: the first id whose cumulative weight
 * exceeds u times the total.  Block sums find the block, a sequential scan the id within it. */
static int draw(const int *idx, int n, const float *w, double u) {
    double total = 0.0;
    for (int j = 0; j < n; j += DRAW_BLOCK) total += block_weight(idx, j, j + DRAW_BLOCK < n ? j + DRAW_BLOCK : n, w);
    double target = u * total, cum = 0.0;
    int last = idx ? idx[0] : 0;
    for (int j0 = 0; j0 < n; j0 += DRAW_BLOCK) {
        int j1 = j0 + DRAW_BLOCK < n ? j0 + DRAW_BLOCK : n;
        double bw = block_weight(idx, j0, j1, w);
        if (cum + bw <= target && j1 < n) {
            cum += bw;
            continue;
        }
        for (int j = j0; j < j1; j++) {
            int id = idx ? idx[j] : j;
            if (w[id] > 0.0f) {
                cum += w[id];
                last = id;
                if (cum > target) return last;
            }
        }
        if (bw > 0.0) return last; /* rounding left target a hair above this block's end */
    }
    return last;
}

int ilr_sample(const float *logits, int V, const ilr_sampler_params *p, ilr_rng *rng, ilr_sampler_scratch *s,
               float *logprob) {
    assert(V >= 1 && V <= s->V);
    float xmax;
    int id = argmax(logits, V, &xmax);
    double full_sum = -1.0;
    if (p->temperature > 0.0f) {
        int n = filter(logits, V, p, s, id, xmax, &full_sum);
        id = draw(n == V ? NULL : s->index, n, s->probs, ilr_rng_uniform_f64(rng)); /* n = V: ids 0..V-1 */
    }
    if (logprob) *logprob = logprob_at(logits, V, ilr_sampler_logprob_temperature(p), xmax, id, full_sum);
    return id;
}

float ilr_sampler_logprob_temperature(const ilr_sampler_params *p) {
    return p->temperature > 0.0f ? p->temperature : 1.0f;
}

int ilr_sampler_kept(const float *logits, int V, const ilr_sampler_params *p, ilr_sampler_scratch *s, int *keep) {
    assert(V >= 1 && V <= s->V);
    float xmax;
    int am = argmax(logits, V, &xmax);
    if (!(p->temperature > 0.0f)) {
        keep[0] = am;
        return 1;
    }
    double full_sum;
    int n = filter(logits, V, p, s, am, xmax, &full_sum);
    for (int j = 0; j < n; j++) keep[j] = n == V ? j : s->index[j];
    return n;
}
