/* ilr bench matmul|train --device cuda: cuBLAS's bf16 matmul peak on this GPU, and the GPU training step with
 * MFU against that peak, its time split into forward / backward / optimizer, and device memory.  Without the
 * CUDA backend (make CUDA=1) both say how to get it. */
#include <stdio.h>
#include <stdlib.h>

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

#else

#include "ilr/cuda.h"
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

#endif
