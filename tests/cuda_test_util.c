/* Helpers shared by the CUDA test groups (see cuda_test_util.h). */
#ifdef ILR_CUDA

#include "cuda_test_util.h"

#include <stdlib.h>

int ilr_cuda_test_have_gpu;

int ilr_cuda_test_setup(void **state) {
    (void)state;
    ilr_cuda_test_have_gpu = ilr_cuda_device_count() > 0 && ilr_cuda_init(0) == 0;
    ilr_cuda_info info;
    if (ilr_cuda_test_have_gpu && ilr_cuda_get_info(&info) == 0)
        print_message("GPU: %s, compute capability %d.%d, %d SMs, %.1f GiB\n", info.name, info.cc_major, info.cc_minor,
                      info.sm_count, info.total_bytes / 1073741824.0);
    return 0;
}

float *ilr_cuda_test_random_bf16(ilr_rng *rng, size_t n, float scale) {
    float *x = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++)
        x[i] = ilr_bf16_to_f32(ilr_f32_to_bf16(scale * (2.0f * (float)ilr_rng_uniform(rng) - 1.0f)));
    return x;
}

ilr_bf16 *ilr_cuda_test_dev_bf16(const float *x, size_t n) {
    ilr_bf16 *h = malloc(n * sizeof(ilr_bf16)), *d = ilr_cuda_alloc(n * sizeof(ilr_bf16), "test");
    assert_non_null(d);
    for (size_t i = 0; i < n; i++) h[i] = ilr_f32_to_bf16(x[i]);
    assert_int_equal(ilr_cuda_upload(d, h, n * sizeof(ilr_bf16)), 0);
    free(h);
    return d;
}

void *ilr_cuda_test_dev_copy(const void *x, size_t bytes) {
    void *d = ilr_cuda_alloc(bytes, "test");
    assert_non_null(d);
    assert_int_equal(ilr_cuda_upload(d, x, bytes), 0);
    return d;
}

float *ilr_cuda_test_host_of_bf16(const ilr_bf16 *d, size_t n) {
    ilr_bf16 *h = malloc(n * sizeof(ilr_bf16));
    float *x = malloc(n * sizeof(float));
    assert_int_equal(ilr_cuda_sync(), 0);
    assert_int_equal(ilr_cuda_download(h, d, n * sizeof(ilr_bf16)), 0);
    for (size_t i = 0; i < n; i++) x[i] = ilr_bf16_to_f32(h[i]);
    free(h);
    return x;
}

#else
typedef int ilr_cuda_test_util_unused; /* ISO C wants a translation unit to declare something */
#endif
