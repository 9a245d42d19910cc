/* ilr bench matmul|train|generate --device cuda: cuBLAS's bf16 matmul peak on this GPU; the GPU training step
 * with MFU against that peak, its time split into forward / backward / optimizer, and device memory; the GPU
 * generation engine's prefill and decode against the bound of the device bandwidth measured in the same run.  Without the
 * CUDA backend (make CUDA=1) both say how to get it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ilr/error.h"
#include "ilr/rng.h"
#include "ilr/timer.h"
#include "ilr/transformer.h"

#ifndef ILR_CUDA

static int not_built(void) {
    return ilr_cli_usage_error("bench", "--device cuda: this ilr was built without the CUDA backend (make CUDA=1)");
}
int ilr_bench_matmul_cuda(long long n, double seconds) { return (void)n, (void)seconds, not_built(); }
int ilr_bench_train_cuda(const ilr_model_config *cfg, const char *shape, long long B, long long T, long long steps) {
    return (void)cfg, (void)shape, (void)B, (void)T, (void)steps, not_built();
}
int ilr_bench_generate_cuda(const ilr_model_config *cfg, const char *shape, long long B, long long P, long long N) {
    return (void)cfg, (void)shape, (void)B, (void)P, (void)N, not_built();
}

#else

#include "ilr/cuda.h"
#include "ilr/generate.h"
#include "ilr/transformer_cuda.h"

static int start_gpu(void) {
    ilr_cuda_info info;
    if (ilr_cuda_init(0) || ilr_cuda_get_info(&info)) return ilr_cli_fail("bench");
    printf("device: %s (compute capability %d.%d, %d SMs, %.1f GiB, CUDA runtime %d, driver %d)\n", info.name,
           info.cc_major, info.cc_minor, info.sm_count, info.total_bytes / 1073741824.0, info.runtime_version,
           info.driver_version);
    return 0;
}

/* The best TFLOP/s of n x n x n bf16 products (fp32 accumulation, bf16 out) over windows of ~0.25 s. */
static double measure_bf16_peak(int n, double seconds) {
    size_t nn = (size_t)n * n;
    ilr_bf16 *a = ilr_cuda_alloc(nn * 2, "matmul A"), *b = ilr_cuda_alloc(nn * 2, "matmul B");
    ilr_bf16 *c = ilr_cuda_alloc(nn * 2, "matmul C");
    float *init = ilr_cuda_alloc(nn * 4, "matmul init");
    if (!a || !b || !c || !init) return 0;
    float *host = malloc(nn * 4);
    ilr_rng rng;
    ilr_rng_init(&rng, 3, 0);
    for (size_t i = 0; i < nn; i++) host[i] = ilr_rng_uniform(&rng) - 0.5f; /* random data: zeros run faster */
    ilr_cuda_upload(init, host, nn * 4);
    ilr_cuda_f32_to_bf16(a, init, nn);
    ilr_cuda_f32_to_bf16(b, init, nn);
    free(host);
    ilr_cuda_gemm_bench(c, a, b, n, n, n); /* warm-up */
    ilr_cuda_sync();
    double best = 0, start = ilr_time_now();
    while (ilr_time_now() - start < seconds || best == 0) {
        int reps = 0;
        double ms = 0;
        ilr_cuda_timer_start();
        while (ms < 250 || reps < 3) {
            ilr_cuda_gemm_bench(c, a, b, n, n, n);
            reps++;
            if (reps % 4 == 0 || reps == 3) ms = ilr_cuda_timer_ms();
        }
        ms = ilr_cuda_timer_ms();
        double rate = 2.0 * n * n * (double)n * reps / (ms / 1e3) / 1e12;
        if (rate > best) best = rate;
    }
    ilr_cuda_free(a), ilr_cuda_free(b), ilr_cuda_free(c), ilr_cuda_free(init);
    return ilr_cuda_sync() ? 0 : best;
}

int ilr_bench_matmul_cuda(long long n, double seconds) {
    if (start_gpu()) return 1;
    double tflops = measure_bf16_peak((int)n, seconds);
    if (tflops <= 0) return ilr_cli_fail("bench");
    printf("matmul: bf16 %lld x %lld x %lld (fp32 accumulation, cuBLAS cublasGemmEx): %.1f TFLOP/s\n", n, n, n, tflops);
    return 0;
}

int ilr_bench_train_cuda(const ilr_model_config *cfg, const char *shape, long long B, long long T, long long steps) {
    if (start_gpu()) return 1;
    double peak = measure_bf16_peak(8192, 2.0);
    ilr_model m;
    ilr_cuda_transformer tr;
    if (ilr_model_create(&m, cfg)) return ilr_cli_fail("bench");
    ilr_model_init_random(&m, 1);
    ilr_cuda_reset_peak();
    if (ilr_cuda_transformer_init(&tr, &m, (int)B, (int)T)) return ilr_model_free(&m), ilr_cli_fail("bench");
    int N = (int)(B * T);
    ilr_bench_batch bb;
    ilr_bench_batch_make(&bb, cfg->vocab_size, (int)B, (int)T);
    int *tokens = bb.tokens, *targets = bb.targets, *lengths = bb.lengths;
    float *dlogprob = bb.dlogprob;
    ilr_adamw_params hp = {1e-4f, 0.9f, 0.95f, 1e-8f, 0.0f};
    double t_fwd = 0, t_bwd = 0, t_opt = 0, start = 0, loss = 0;
    int rc = 0;
    for (int step = 0; step <= steps && !rc; step++) {
        if (step == 1) { /* step 0 warms up */
            start = ilr_time_now(), t_fwd = t_bwd = t_opt = 0;
            ilr_cuda_profile_reset();
        }
        double t0 = ilr_time_now();
        ilr_cuda_transformer_zero_grad(&tr);
        rc = ilr_cuda_transformer_forward(&tr, tokens, lengths, NULL, targets, (int)B, (int)T);
        double t1 = ilr_time_now();
        loss = ilr_sft_loss(dlogprob, tr.logprob, targets, N);
        if (!rc) rc = ilr_cuda_transformer_backward(&tr, dlogprob);
        double t2 = ilr_time_now();
        if (!rc) rc = ilr_cuda_transformer_adamw_step(&tr, &hp, 1.0f, NULL);
        double t3 = ilr_time_now();
        t_fwd += t1 - t0, t_bwd += t2 - t1, t_opt += t3 - t2;
    }
    if (!rc) {
        double seconds = (ilr_time_now() - start) / steps;
        double tflops = ilr_transformer_train_flops(cfg, (double)N, (double)T) / seconds / 1e12;
        printf("train: %s %s on the GPU, %zu parameters, batch %lld x %lld: %.1f ms/step (forward %.1f, backward %.1f, "
               "AdamW %.1f), %.0f tokens/s, %.1f TFLOP/s, MFU %.1f%% of %.1f TFLOP/s bf16 cuBLAS peak; device memory "
               "%.2f GiB (peak %.2f), loss %.3f\n",
               ilr_arch_name(cfg->arch), shape, m.table.total, B, T, 1e3 * seconds, 1e3 * t_fwd / steps,
               1e3 * t_bwd / steps, 1e3 * t_opt / steps, N / seconds, tflops, 100 * tflops / peak, peak,
               ilr_cuda_transformer_bytes(&tr) / 1073741824.0, ilr_cuda_peak_bytes() / 1073741824.0, loss);
        if (ilr_cuda_profiling()) {
            printf("profile (ILR_CUDA_PROFILE=1: every launch waited for, so the step above is slower than without):\n");
            ilr_cuda_profile_print(stdout, (double)steps);
        }
    }
    ilr_bench_batch_free(&bb);
    ilr_cuda_transformer_free(&tr);
    ilr_model_free(&m);
    return rc ? ilr_cli_fail("bench") : 0;
}

/* Device memory bandwidth in GB/s: device-to-device copies of 1 GiB (each byte read once and written once),
 * best of 5. */
static double measure_device_bandwidth(void) {
    size_t bytes = (size_t)1 << 30;
    void *a = ilr_cuda_alloc(bytes, "bandwidth A"), *b = ilr_cuda_alloc(bytes, "bandwidth B");
    double best = 0;
    for (int rep = 0; a && b && rep < 6; rep++) {
        ilr_cuda_timer_start();
        ilr_cuda_copy(b, a, bytes);
        double ms = ilr_cuda_timer_ms();
        if (rep > 0 && 2.0 * bytes / (ms / 1e3) / 1e9 > best) best = 2.0 * bytes / (ms / 1e3) / 1e9;
    }
    ilr_cuda_free(a), ilr_cuda_free(b);
    return ilr_cuda_sync() ? 0 : best;
}

int ilr_bench_generate_cuda(const ilr_model_config *cfg, const char *shape, long long B, long long P, long long N) {
    if (start_gpu()) return 1;
    double bandwidth = measure_device_bandwidth();
    ilr_model m;
    ilr_generator g;
    if (ilr_model_create(&m, cfg)) return ilr_cli_fail("bench");
    ilr_model_init_random(&m, 1);
    ilr_cuda_reset_peak();
    if (ilr_gen_init_on(&g, &m, (int)B, (int)(P + N + 1), ILR_DEVICE_CUDA)) return ilr_model_free(&m), ilr_cli_fail("bench");
    int V = cfg->vocab_size, *prompt = malloc(sizeof(int) * (size_t)P), *slots = malloc(sizeof(int) * (size_t)B);
    int *tokens = malloc(sizeof(int) * (size_t)B), *ids = malloc(sizeof(int) * (size_t)B);
    float *lps = malloc(sizeof(float) * (size_t)B), *logits = malloc(sizeof(float) * (size_t)V);
    for (int i = 0; i < P; i++) prompt[i] = (i * 7919) % V;
    for (int b = 0; b < B; b++) slots[b] = b, tokens[b] = b % V;
    int rc = ilr_gen_prefill(&g, 0, prompt, (int)P, logits); /* warm-up (cuBLAS picks its kernels) */
    if (!rc) rc = ilr_gen_forward_sample(&g, slots, tokens, 1, 0.0f, NULL, ids, lps);
    double start = ilr_time_now();
    for (int b = 0; b < B && !rc; b++) ilr_gen_reset_slot(&g, b), rc = ilr_gen_prefill(&g, b, prompt, (int)P, logits);
    double prefill = ilr_time_now() - start;
    ilr_cuda_profile_reset();
    start = ilr_time_now();
    for (int step = 0; step < N && !rc; step++) { /* greedy, drawn on the device */
        rc = ilr_gen_forward_sample(&g, slots, tokens, (int)B, 0.0f, NULL, ids, lps);
        memcpy(tokens, ids, sizeof(int) * (size_t)B);
    }
    double decode = ilr_time_now() - start;
    if (!rc) {
        /* a decode step reads the bf16 weights once and each sequence's cache once (its mean length) */
        double kv_row = 2.0 * cfg->num_layers * cfg->num_kv_heads * cfg->head_dim * sizeof(ilr_bf16);
        double step_bytes = m.table.total * 2.0 + B * (P + N / 2.0) * kv_row;
        double bound = B * bandwidth * 1e9 / step_bytes;
        printf("generate: %s %s on the GPU, %zu parameters (bf16), batch %lld, prompt %lld, %lld new: prefill %.0f "
               "tokens/s, decode %.0f tokens/s (%.2f ms a step); device bandwidth %.0f GB/s, decode bound %.0f tokens/s "
               "(weights + KV cache read once a step): %.0f%% of it; device memory peak %.2f GiB\n",
               ilr_arch_name(cfg->arch), shape, m.table.total, B, P, N, B * P / prefill, B * N / decode,
               1e3 * decode / N, bandwidth, bound, 100 * (B * N / decode) / bound, ilr_cuda_peak_bytes() / 1073741824.0);
        if (ilr_cuda_profiling()) {
            printf("decode profile (ILR_CUDA_PROFILE=1: every launch waited for, so slower than without):\n");
            ilr_cuda_profile_print(stdout, (double)N);
        }
    }
    free(prompt), free(slots), free(tokens), free(ids), free(lps), free(logits);
    ilr_gen_free(&g);
    ilr_model_free(&m);
    return rc ? ilr_cli_fail("bench") : 0;
}

#endif
