/* Device, memory, stream, timers and the matmuls (cuBLAS) of the CUDA backend (include/ilr/cuda.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.cuh"

cudaStream_t ilr_cuda_stream;
cublasHandle_t ilr_cuda_blas;
static int initialised = -1; /* the device, once ilr_cuda_init succeeded */
static cudaEvent_t timer_begin, timer_end;
static void *blas_workspace;
enum { BLAS_WORKSPACE_BYTES = 64 << 20 };
static size_t bytes_in_use, peak_bytes;
/* The first error seen in a launch or a cuBLAS call, reported by the next ilr_cuda_sync. */
static char pending_error[512];

/* ---- the profile (ILR_CUDA_PROFILE=1): each launch waits for the stream, and the time since the previous
 * launch's end goes to the launch's name.  The waits slow the run down; the shares are what it is for. ---- */

enum { PROFILE_ENTRIES = 64 };
static struct {
    const char *what;
    double seconds;
    long calls;
} profile[PROFILE_ENTRIES];
static int profiling = -1; /* -1: the environment not read yet */
static double profile_last;

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

extern "C" int ilr_cuda_profiling(void) {
    if (profiling < 0) profiling = getenv("ILR_CUDA_PROFILE") && strcmp(getenv("ILR_CUDA_PROFILE"), "0") != 0;
    return profiling;
}

static void profile_mark(const char *what) {
    if (!ilr_cuda_profiling()) return;
    cudaStreamSynchronize(ilr_cuda_stream);
    double t = now_seconds();
    for (int i = 0; i < PROFILE_ENTRIES; i++)
        if (!profile[i].what || strcmp(profile[i].what, what) == 0) {
            profile[i].what = what;
            profile[i].seconds += profile_last > 0 ? t - profile_last : 0;
            profile[i].calls++;
            break;
        }
    profile_last = t;
}

extern "C" void ilr_cuda_profile_reset(void) {
    memset(profile, 0, sizeof profile);
    profile_last = 0;
}

extern "C" void ilr_cuda_profile_print(FILE *out, double per) {
    double total = 0;
    for (int i = 0; i < PROFILE_ENTRIES && profile[i].what; i++) total += profile[i].seconds;
    for (int done = 0; done < PROFILE_ENTRIES; done++) { /* largest first */
        int best = -1;
        for (int i = 0; i < PROFILE_ENTRIES && profile[i].what; i++)
            if (profile[i].calls >= 0 && (best < 0 || profile[i].seconds > profile[best].seconds)) best = i;
        if (best < 0) break;
        fprintf(out, "  %-40s %8.2f ms %5.1f%%  (%ld calls)\n", profile[best].what, 1e3 * profile[best].seconds / per,
                100 * profile[best].seconds / (total > 0 ? total : 1), profile[best].calls);
        profile[best].calls = -1 - profile[best].calls; /* printed */
    }
    for (int i = 0; i < PROFILE_ENTRIES && profile[i].what; i++)
        if (profile[i].calls < 0) profile[i].calls = -1 - profile[i].calls;
}

void ilr_cuda_check_launch(const char *what, const char *file, int line) {
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess && !pending_error[0])
        snprintf(pending_error, sizeof pending_error, "CUDA: %s at %s:%d: %s", what, file, line, cudaGetErrorString(e));
    profile_mark(what);
}

static void check_blas(cublasStatus_t s, const char *what) {
    if (s != CUBLAS_STATUS_SUCCESS && !pending_error[0])
        snprintf(pending_error, sizeof pending_error, "cuBLAS: %s failed: %s", what, cublasGetStatusString(s));
    profile_mark(what);
}

extern "C" int ilr_cuda_device_count(void) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError(); /* no driver, or no device: not an error here */
        return 0;
    }
    return n;
}

extern "C" int ilr_cuda_init(int device) {
    if (initialised == device) return 0;
    if (initialised >= 0) return ILR_FAIL(ILR_EINVAL, "CUDA: already using device %d, not %d", initialised, device);
    int n = ilr_cuda_device_count();
    if (n == 0) return ILR_FAIL(ILR_ENOTFOUND, "CUDA: no GPU found (cudaGetDeviceCount reports none)");
    if (device < 0 || device >= n) return ILR_FAIL(ILR_EINVAL, "CUDA: device %d does not exist (%d found)", device, n);
    cudaError_t e = cudaSetDevice(device);
    if (e == cudaSuccess) e = cudaStreamCreateWithFlags(&ilr_cuda_stream, cudaStreamNonBlocking);
    if (e == cudaSuccess) e = cudaEventCreate(&timer_begin);
    if (e == cudaSuccess) e = cudaEventCreate(&timer_end);
    if (e != cudaSuccess) return ILR_FAIL(ILR_EIO, "CUDA: device %d: %s", device, cudaGetErrorString(e));
    cublasStatus_t s = cublasCreate(&ilr_cuda_blas);
    if (s == CUBLAS_STATUS_SUCCESS) s = cublasSetStream(ilr_cuda_blas, ilr_cuda_stream);
    /* Pedantic math: no reduced-precision reductions inside cuBLAS beyond what the types say. */
    if (s == CUBLAS_STATUS_SUCCESS) s = cublasSetMathMode(ilr_cuda_blas, CUBLAS_DEFAULT_MATH);
    if (s != CUBLAS_STATUS_SUCCESS) return ILR_FAIL(ILR_EIO, "cuBLAS: cannot start: %s", cublasGetStatusString(s));
    /* A workspace of its own lets cuBLAS pick its split-K and Hopper kernels (NVIDIA suggests 32 MiB on Hopper). */
    e = cudaMalloc(&blas_workspace, BLAS_WORKSPACE_BYTES);
    if (e != cudaSuccess) return ILR_FAIL(ILR_ENOMEM, "CUDA: cuBLAS workspace: %s", cudaGetErrorString(e));
    s = cublasSetWorkspace(ilr_cuda_blas, blas_workspace, BLAS_WORKSPACE_BYTES);
    if (s != CUBLAS_STATUS_SUCCESS) return ILR_FAIL(ILR_EIO, "cuBLAS: workspace: %s", cublasGetStatusString(s));
    initialised = device;
    return 0;
}

extern "C" int ilr_cuda_get_info(ilr_cuda_info *info) {
    memset(info, 0, sizeof *info);
    if (initialised < 0) return ILR_FAIL(ILR_EINVAL, "CUDA: not initialised");
    cudaDeviceProp p;
    cudaError_t e = cudaGetDeviceProperties(&p, initialised);
    if (e == cudaSuccess) e = cudaMemGetInfo(&info->free_bytes, &info->total_bytes);
    if (e == cudaSuccess) e = cudaDriverGetVersion(&info->driver_version);
    if (e == cudaSuccess) e = cudaRuntimeGetVersion(&info->runtime_version);
    if (e != cudaSuccess) return ILR_FAIL(ILR_EIO, "CUDA: device properties: %s", cudaGetErrorString(e));
    snprintf(info->name, sizeof info->name, "%s", p.name);
    info->cc_major = p.major;
    info->cc_minor = p.minor;
    info->sm_count = p.multiProcessorCount;
    info->l2_bytes = (size_t)p.l2CacheSize;
    return 0;
}

/* Live allocations and their sizes, for the bytes-in-use count (there are a few hundred at most). */
typedef struct {
    void *p;
    size_t bytes;
} allocation;
static allocation *allocations;
static size_t allocation_count, allocation_cap;

extern "C" void *ilr_cuda_alloc(size_t bytes, const char *what) {
    void *p = NULL;
    if (allocation_count == allocation_cap) {
        size_t cap = allocation_cap ? 2 * allocation_cap : 256;
        allocation *grown = (allocation *)realloc(allocations, cap * sizeof *grown);
        if (!grown) {
            ILR_FAIL(ILR_ENOMEM, "CUDA: out of host memory for the allocation table");
            return NULL;
        }
        allocations = grown, allocation_cap = cap;
    }
    cudaError_t e = cudaMalloc(&p, bytes ? bytes : 1);
    if (e != cudaSuccess) {
        cudaGetLastError();
        size_t free_b = 0, total_b = 0;
        cudaMemGetInfo(&free_b, &total_b);
        ILR_FAIL(ILR_ENOMEM, "CUDA: cannot allocate %.1f MiB for %s (%.1f of %.1f GiB free): %s", bytes / 1048576.0,
                 what, free_b / 1073741824.0, total_b / 1073741824.0, cudaGetErrorString(e));
        return NULL;
    }
    allocations[allocation_count++] = (allocation){p, bytes};
    bytes_in_use += bytes;
    if (bytes_in_use > peak_bytes) peak_bytes = bytes_in_use;
    return p;
}

extern "C" void ilr_cuda_free(void *p) {
    if (!p) return;
    for (size_t i = 0; i < allocation_count; i++)
        if (allocations[i].p == p) {
            bytes_in_use -= allocations[i].bytes;
            allocations[i] = allocations[--allocation_count];
            break;
        }
    cudaStreamSynchronize(ilr_cuda_stream);
    cudaFree(p);
}

extern "C" size_t ilr_cuda_peak_bytes(void) { return peak_bytes; }
extern "C" void ilr_cuda_reset_peak(void) { peak_bytes = bytes_in_use; }

extern "C" int ilr_cuda_upload(void *dst, const void *host_src, size_t bytes) {
    cudaError_t e = cudaMemcpyAsync(dst, host_src, bytes, cudaMemcpyHostToDevice, ilr_cuda_stream);
    if (e == cudaSuccess) e = cudaStreamSynchronize(ilr_cuda_stream);
    if (e != cudaSuccess) return ILR_FAIL(ILR_EIO, "CUDA: upload of %zu bytes: %s", bytes, cudaGetErrorString(e));
    profile_mark("host -> device copies");
    return 0;
}

extern "C" int ilr_cuda_download(void *host_dst, const void *src, size_t bytes) {
    cudaError_t e = cudaMemcpyAsync(host_dst, src, bytes, cudaMemcpyDeviceToHost, ilr_cuda_stream);
    if (e == cudaSuccess) e = cudaStreamSynchronize(ilr_cuda_stream);
    if (e != cudaSuccess) return ILR_FAIL(ILR_EIO, "CUDA: download of %zu bytes: %s", bytes, cudaGetErrorString(e));
    profile_mark("device -> host copies");
    return 0;
}

extern "C" void ilr_cuda_copy(void *dst, const void *src, size_t bytes) {
    cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, ilr_cuda_stream);
    ILR_CUDA_LAUNCHED("device -> device copies");
}

extern "C" void ilr_cuda_zero(void *dst, size_t bytes) {
    cudaMemsetAsync(dst, 0, bytes, ilr_cuda_stream);
    ILR_CUDA_LAUNCHED("memset");
}

extern "C" int ilr_cuda_sync(void) {
    cudaError_t e = cudaStreamSynchronize(ilr_cuda_stream);
    if (e == cudaSuccess) e = cudaGetLastError();
    if (pending_error[0]) {
        int rc = ILR_FAIL(ILR_EIO, "%s", pending_error);
        pending_error[0] = 0;
        return rc;
    }
    if (e != cudaSuccess) return ILR_FAIL(ILR_EIO, "CUDA: %s", cudaGetErrorString(e));
    return 0;
}

/* ---- CUDA graphs: a captured sequence of launches replayed with one launch ---- */

struct ilr_cuda_graph {
    cudaGraphExec_t exec;
};

extern "C" int ilr_cuda_capture_begin(void) {
    cudaError_t e = cudaStreamBeginCapture(ilr_cuda_stream, cudaStreamCaptureModeThreadLocal);
    return e == cudaSuccess ? 0 : ILR_FAIL(ILR_EIO, "CUDA: stream capture: %s", cudaGetErrorString(e));
}

extern "C" int ilr_cuda_capture_end(ilr_cuda_graph **out) {
    *out = NULL;
    cudaGraph_t graph = NULL;
    cudaError_t e = cudaStreamEndCapture(ilr_cuda_stream, &graph);
    if (e == cudaSuccess && pending_error[0]) e = cudaErrorStreamCaptureInvalidated; /* a launch failed inside */
    ilr_cuda_graph *g = (ilr_cuda_graph *)calloc(1, sizeof *g);
    if (e == cudaSuccess && !g) e = cudaErrorMemoryAllocation;
    if (e == cudaSuccess) e = cudaGraphInstantiate(&g->exec, graph, 0);
    if (graph) cudaGraphDestroy(graph);
    if (e != cudaSuccess) {
        free(g);
        cudaGetLastError();
        int rc = ILR_FAIL(ILR_EIO, "CUDA: graph capture: %s%s%s", cudaGetErrorString(e), pending_error[0] ? ": " : "",
                          pending_error);
        pending_error[0] = 0;
        return rc;
    }
    *out = g;
    return 0;
}

extern "C" void ilr_cuda_graph_launch(ilr_cuda_graph *g) {
    cudaGraphLaunch(g->exec, ilr_cuda_stream);
    ILR_CUDA_LAUNCHED("graph");
}

extern "C" void ilr_cuda_graph_free(ilr_cuda_graph *g) {
    if (!g) return;
    cudaGraphExecDestroy(g->exec);
    free(g);
}

extern "C" void ilr_cuda_timer_start(void) { cudaEventRecord(timer_begin, ilr_cuda_stream); }

extern "C" double ilr_cuda_timer_ms(void) {
    float ms = 0;
    cudaEventRecord(timer_end, ilr_cuda_stream);
    cudaEventSynchronize(timer_end);
    cudaEventElapsedTime(&ms, timer_begin, timer_end);
    return ms;
}

/* ---- matmuls ----
 * Row-major X (rows, cols) is column-major X^T (cols, rows) with leading dimension cols, so each row-major
 * product below is the column-major product of the transposes. */

/* C (m x n col-major, ldc) = alpha op(A) op(B) + beta C, A and B bf16, C bf16 or fp32, fp32 accumulation. */
void ilr_cuda_gemm(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, const bf16 *a, int lda, const bf16 *b,
                 int ldb, float beta, void *c, cudaDataType_t ctype, int ldc, const char *what) {
    float alpha = 1.0f;
    check_blas(cublasGemmEx(ilr_cuda_blas, ta, tb, m, n, k, &alpha, a, CUDA_R_16BF, lda, b, CUDA_R_16BF, ldb, &beta, c,
                            ctype, ldc, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
               what);
}

__global__ void add_bias_kernel(bf16 *out, const float *bias, size_t N, int OUT) {
    size_t total = N * (size_t)OUT;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x)
        out[i] = __float2bfloat16(__bfloat162float(out[i]) + bias[i % OUT]);
}

extern "C" void ilr_cuda_matmul_forward(ilr_bf16 *out, const ilr_bf16 *inp, const ilr_bf16 *weight, const float *bias,
                                        int N, int IN, int OUT) {
    /* out^T (OUT, N) = W (OUT, IN) @ inp^T (IN, N): W is stored as col-major (IN, OUT), so transposed */
    ilr_cuda_gemm(CUBLAS_OP_T, CUBLAS_OP_N, OUT, N, IN, as_bf16(weight), IN, as_bf16(inp), IN, 0.0f, out, CUDA_R_16BF, OUT,
         "matmul forward");
    if (bias) {
        add_bias_kernel<<<blocks_for((size_t)N * OUT, 256), 256, 0, ilr_cuda_stream>>>(as_bf16(out), bias, (size_t)N,
                                                                                        OUT);
        ILR_CUDA_LAUNCHED("matmul bias");
    }
}

extern "C" void ilr_cuda_matmul_forward_accumulate(ilr_bf16 *out, const ilr_bf16 *inp, const ilr_bf16 *weight, int N,
                                                   int IN, int OUT) {
    ilr_cuda_gemm(CUBLAS_OP_T, CUBLAS_OP_N, OUT, N, IN, as_bf16(weight), IN, as_bf16(inp), IN, 1.0f, out, CUDA_R_16BF, OUT,
                  "matmul forward (accumulate)");
}

extern "C" void ilr_cuda_matmul_forward_f32(float *out, const ilr_bf16 *inp, const ilr_bf16 *weight, int N, int IN,
                                            int OUT) {
    ilr_cuda_gemm(CUBLAS_OP_T, CUBLAS_OP_N, OUT, N, IN, as_bf16(weight), IN, as_bf16(inp), IN, 0.0f, out, CUDA_R_32F, OUT,
         "matmul forward (fp32 out)");
}

void ilr_cuda_colsum_bf16(float *out, const bf16 *x, int N, int C, float *scratch); /* elementwise.cu */

extern "C" void ilr_cuda_matmul_backward(ilr_bf16 *dinp, float *dweight, float *dbias, const ilr_bf16 *dout,
                                         const ilr_bf16 *inp, const ilr_bf16 *weight, int N, int IN, int OUT,
                                         float *scratch) {
    /* dinp^T (IN, N) += W^T (IN, OUT) @ dout^T (OUT, N) */
    if (dinp)
        ilr_cuda_gemm(CUBLAS_OP_N, CUBLAS_OP_N, IN, N, OUT, as_bf16(weight), IN, as_bf16(dout), OUT, 1.0f, dinp, CUDA_R_16BF, IN,
             "matmul backward (input)");
    /* dW^T (IN, OUT) += inp^T (IN, N) @ dout (N, OUT) */
    if (dweight)
        ilr_cuda_gemm(CUBLAS_OP_N, CUBLAS_OP_T, IN, OUT, N, as_bf16(inp), IN, as_bf16(dout), OUT, 1.0f, dweight, CUDA_R_32F, IN,
             "matmul backward (weight)");
    if (dbias) ilr_cuda_colsum_bf16(dbias, as_bf16(dout), N, OUT, scratch);
}

extern "C" void ilr_cuda_gemm_bench(ilr_bf16 *c, const ilr_bf16 *a, const ilr_bf16 *b, int m, int n, int k) {
    /* C^T (n, m) = B (n, k) @ A^T (k, m) */
    ilr_cuda_gemm(CUBLAS_OP_T, CUBLAS_OP_N, n, m, k, as_bf16(b), k, as_bf16(a), k, 0.0f, c, CUDA_R_16BF, n,
         "gemm");
}
