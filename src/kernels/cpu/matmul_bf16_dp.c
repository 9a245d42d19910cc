/* Many-row linear layers with bf16 weights multiplied natively in bf16 (AVX512_BF16's vdpbf16ps), for the
 * prefill (and batches over 16 rows) of the CPU generator's --weights bf16 and bf16-act:
 * out (N, OUT) = inp (N, IN) @ W (OUT, IN)^T + bias.
 *
 * vdpbf16ps multiplies 16 pairs of bf16 by 16 pairs and adds each pair's two products to one of 16 fp32
 * accumulators.  Here a pair is two neighbouring k of one row, so the weights need no repacking: a row of W
 * read as 32-bit words is a row of pairs, and one word broadcast to all 16 lanes meets 16 activation rows'
 * pairs at the same k.  The activations are rounded to bf16 (to nearest even) and packed once per call, in
 * groups of 16 rows: word (g, p, r) = row 16g + r's pair p (its k = 2p low, 2p + 1 high).  A tile of 32 rows
 * (two groups) by 12 output columns keeps its 24 accumulators in registers for the whole of IN, then is
 * transposed into out through a small buffer on the stack; threads share the tiles, neighbouring tiles on one
 * thread sharing their 12 weight rows.  Products are exact in fp32 (8 x 8 mantissa bits) and summed in fp32,
 * so the result is the fp32 product of bf16-rounded activations and weights (inputs below FLT_MIN flushed to
 * zero, as vdpbf16ps does): --weights bf16-act, at one vdpbf16ps per 32 multiply-adds.  With split (--weights
 * bf16) each activation is packed as two bf16 words, hi = bf16(x) and lo = bf16(x - hi), both multiplied into
 * the same sums: x to about 2^-17, so the product of fp32 activations to about float rounding, at twice the
 * instructions.
 *
 * Compiled only where the compiler targets AVX512F + BW + VL + BF16 (-march=native on such a CPU); elsewhere
 * ilr_matmul_bf16_dp returns -1 and the caller keeps its sgemm panels. */
#include <string.h>

#include "ilr/kernels.h"

/* Scratch for `rows` rows packed: whole groups of 16 rows, (IN + 1) / 2 words of pairs per row, twice with split. */
size_t ilr_matmul_bf16_dp_scratch(int rows, int IN, int split) {
    return (size_t)(rows + 15) / 16 * 16 * (size_t)((IN + 1) / 2) * (split ? 2 : 1);
}

#if defined(__AVX512BF16__) && defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
#include <immintrin.h>

enum { GROUP = 16, TILE_COLS = 12 };

int ilr_matmul_bf16_dp_available(void) { return 1; }

/* *hi = the 32 floats at x rounded to bf16 (to nearest even; lanes outside the masks m0 of x[0..16) and m1
 * of x[16..32) read as 0); with split, *lo = what rounding left over (x - hi, exact in fp32) rounded to bf16,
 * so that hi + lo is x to about 2^-17. */
static inline void round_pairs(__m512i *hi, __m512i *lo, const float *x, __mmask16 m0, __mmask16 m1, int split) {
    __m512 v0 = _mm512_maskz_loadu_ps(m0, x), v1 = _mm512_maskz_loadu_ps(m1, x + 16);
    *hi = (__m512i)_mm512_cvtne2ps_pbh(v1, v0);
    if (!split) return;
    __m512 h0 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_castsi512_si256(*hi)), 16));
    __m512 h1 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(*hi, 1)), 16));
    *lo = (__m512i)_mm512_cvtne2ps_pbh(_mm512_sub_ps(v1, h1), _mm512_sub_ps(v0, h0));
}

/* One row (IN floats) as P pairs rounded to bf16, written to its lane of its group: xp[(p * S + s) * GROUP] for
 * pair p and part s (S = 1, or 2 with split: hi then lo). */
static void pack_row(uint32_t *xp, const float *x, int IN, int split) {
    uint32_t words[2][16];
    int P = (IN + 1) / 2, S = split ? 2 : 1;
    for (int p0 = 0; p0 < P; p0 += 16) {
        int k0 = 2 * p0, left = IN - k0;
        __mmask16 m0 = left >= 16 ? 0xffff : (__mmask16)((1u << left) - 1);
        __mmask16 m1 = left >= 32 ? 0xffff : left <= 16 ? 0 : (__mmask16)((1u << (left - 16)) - 1);
        __m512i hi, lo;
        round_pairs(&hi, &lo, x + k0, m0, m1, split);
        _mm512_storeu_si512(words[0], hi);
        if (split) _mm512_storeu_si512(words[1], lo);
        int n = P - p0 < 16 ? P - p0 : 16;
        for (int i = 0; i < n; i++)
            for (int h = 0; h < S; h++) xp[((size_t)(p0 + i) * S + h) * GROUP] = words[h][i];
    }
}

/* Packs rows 0..rows) of inp into groups of 16 (rows past the end zero). */
static void pack_rows(uint32_t *xp, const float *inp, int rows, int IN, int split) {
    int S = split ? 2 : 1, groups = (rows + GROUP - 1) / GROUP;
    size_t words = (size_t)S * ((IN + 1) / 2);
#pragma omp for schedule(static)
    for (int g = 0; g < groups; g++) {
        uint32_t *xg = xp + (size_t)g * words * GROUP;
        for (int r = 0; r < GROUP; r++) {
            if (g * GROUP + r < rows) pack_row(xg + r, inp + (size_t)(g * GROUP + r) * IN, IN, split);
            else
                for (size_t p = 0; p < words; p++) xg[p * GROUP + r] = 0;
        }
    }
}

static inline uint32_t load_pair(const uint16_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* a[g][h] = part h of pair p of group g's 16 rows. */
static inline __attribute__((always_inline)) void load_acts(__m512bh a[2][2], const uint32_t *xg, size_t gs, int p,
                                                              int G, int S) {
    for (int g = 0; g < G; g++)
        for (int h = 0; h < S; h++) a[g][h] = (__m512bh)_mm512_loadu_si512(xg + g * gs + ((size_t)p * S + h) * GROUP);
}

/* acc[g * TILE_COLS] += a[g][h] . b over the parts h (acc points at column j of acc[2][TILE_COLS]). */
static inline __attribute__((always_inline)) void mac(__m512 *acc, __m512bh a[2][2], __m512bh b, int G, int S) {
    for (int g = 0; g < G; g++)
        for (int h = 0; h < S; h++) acc[g * TILE_COLS] = _mm512_dpbf16_ps(acc[g * TILE_COLS], a[g][h], b);
}

/* One tile: rows 0..rows) of the G (1 or 2) groups at xg times weight rows o0..o0+cols), written to out (row
 * stride OUT) plus the bias; S words per pair and row (2: hi and lo, both multiplied into the same sums).  A
 * tile narrower than TILE_COLS repeats its last weight row in the spare accumulators and drops them. */
static inline __attribute__((always_inline)) void tile(float *out, const uint32_t *xg, const uint16_t *w,
                                                         const float *bias, int G, int S, int rows, int o0, int cols,
                                                         int IN, int OUT) {
    int P = (IN + 1) / 2, full = IN / 2;
    const uint16_t *wr[TILE_COLS];
    for (int j = 0; j < TILE_COLS; j++) wr[j] = w + (size_t)(o0 + (j < cols ? j : cols - 1)) * IN;
    __m512 acc[2][TILE_COLS];
    for (int g = 0; g < G; g++)
        for (int j = 0; j < TILE_COLS; j++) acc[g][j] = _mm512_setzero_ps();
    const size_t gs = (size_t)P * S * GROUP; /* words per group */
    __m512bh a[2][2];
    for (int p = 0; p < full; p++) {
        load_acts(a, xg, gs, p, G, S);
        for (int j = 0; j < TILE_COLS; j++) /* the weight pair k = 2p, 2p + 1 in all lanes */
            mac(acc[0] + j, a, (__m512bh)_mm512_set1_epi32((int)load_pair(wr[j] + 2 * p)), G, S);
    }
    if (IN & 1) { /* an odd IN's last k alone: the pair's high half is 0 here and in the activations */
        load_acts(a, xg, gs, full, G, S);
        for (int j = 0; j < TILE_COLS; j++) mac(acc[0] + j, a, (__m512bh)_mm512_set1_epi32((int)wr[j][IN - 1]), G, S);
    }
    float t[TILE_COLS][2 * GROUP];
    for (int g = 0; g < G; g++)
        for (int j = 0; j < TILE_COLS; j++) _mm512_storeu_ps(t[j] + g * GROUP, acc[g][j]);
    for (int r = 0; r < rows; r++) {
        float *o = out + (size_t)r * OUT + o0;
        for (int j = 0; j < cols; j++) o[j] = bias ? t[j][r] + bias[o0 + j] : t[j][r];
    }
}

static void tile_any(float *out, const uint32_t *xg, const uint16_t *w, const float *bias, int split, int rows,
                     int o0, int cols, int IN, int OUT) {
    if (split) {
        if (rows > GROUP) tile(out, xg, w, bias, 2, 2, rows, o0, cols, IN, OUT);
        else tile(out, xg, w, bias, 1, 2, rows, o0, cols, IN, OUT);
    } else {
        if (rows > GROUP) tile(out, xg, w, bias, 2, 1, rows, o0, cols, IN, OUT);
        else tile(out, xg, w, bias, 1, 1, rows, o0, cols, IN, OUT);
    }
}

int ilr_matmul_bf16_dp(float *out, const float *inp, const uint16_t *w, const float *bias, int N, int IN, int OUT,
                       int split, float *scratch, size_t scratch_floats) {
    size_t per_group = ilr_matmul_bf16_dp_scratch(GROUP, IN, split);
    size_t chunk = scratch_floats / per_group / 2 * 2 * GROUP; /* rows per packing: whole tiles of 32 */
    if (N <= 0 || IN <= 0 || OUT <= 0 || chunk < 2 * GROUP) return -1;
    uint32_t *xp = (uint32_t *)scratch;
    int col_tiles = (OUT + TILE_COLS - 1) / TILE_COLS;
    for (int n0 = 0; n0 < N; n0 += (int)chunk) {
        int rows = N - n0 < (int)chunk ? N - n0 : (int)chunk, row_tiles = (rows + 2 * GROUP - 1) / (2 * GROUP);
#pragma omp parallel if ((long)rows * OUT * IN > 1000000)
        {
            pack_rows(xp, inp + (size_t)n0 * IN, rows, IN, split);
            /* (the implicit barrier of pack_rows' omp for: every group is packed before any tile reads it) */
#pragma omp for schedule(static)
            for (int t = 0; t < col_tiles * row_tiles; t++) {
                int ct = t / row_tiles, rt = t % row_tiles, r0 = rt * 2 * GROUP, o0 = ct * TILE_COLS;
                int tr = rows - r0 < 2 * GROUP ? rows - r0 : 2 * GROUP, tc = OUT - o0 < TILE_COLS ? OUT - o0 : TILE_COLS;
                tile_any(out + (size_t)(n0 + r0) * OUT, xp + (size_t)r0 / GROUP * per_group, w, bias, split, tr, o0, tc,
                         IN, OUT);
            }
        }
    }
    return 0;
}

#else

int ilr_matmul_bf16_dp_available(void) { return 0; }

int ilr_matmul_bf16_dp(float *out, const float *inp, const uint16_t *w, const float *bias, int N, int IN, int OUT,
                       int split, float *scratch, size_t scratch_floats) {
    (void)out, (void)inp, (void)w, (void)bias, (void)N, (void)IN, (void)OUT, (void)split, (void)scratch, (void)scratch_floats;
    return -1;
}

#endif
