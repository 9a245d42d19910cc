/* Helpers shared by the CUDA test groups (tests/test_cuda.c, tests/test_cuda_generate.c; built with make CUDA=1). */
#ifndef ILR_CUDA_TEST_UTIL_H
#define ILR_CUDA_TEST_UTIL_H

#include <stddef.h>

#include "ilr/cuda.h"
#include "ilr/rng.h"
#include "test_util.h"

/* Whether a GPU is there (set by ilr_cuda_test_setup, a group setup that starts it and prints what it is). */
extern int ilr_cuda_test_have_gpu;
int ilr_cuda_test_setup(void **state);

#define NEED_GPU()                                                                      \
    do {                                                                                \
        if (!ilr_cuda_test_have_gpu) {                                                  \
            print_message("skipped: no CUDA device (ilr_cuda_device_count() is 0)\n"); \
            skip();                                                                     \
        }                                                                               \
    } while (0)

/* n bf16-representable values in [-scale, scale) (host, malloc'd). */
float *ilr_cuda_test_random_bf16(ilr_rng *rng, size_t n, float scale);
/* Device copies: x rounded to bf16; bytes as they are.  Both assert success. */
ilr_bf16 *ilr_cuda_test_dev_bf16(const float *x, size_t n);
void *ilr_cuda_test_dev_copy(const void *x, size_t bytes);
/* A device bf16 array back as host floats (malloc'd), after waiting for the queued work. */
float *ilr_cuda_test_host_of_bf16(const ilr_bf16 *d, size_t n);

#endif
