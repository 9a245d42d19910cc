#include <cblas.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli.h"

/* Debian's OpenBLAS 0.3.21 may run its Haswell (AVX2) kernels on CPUs with AVX-512: it does not recognise
 * every recent model, and environments pin OPENBLAS_CORETYPE=Haswell for portability.  Its AVX-512
 * (SkylakeX) kernels are ~1.6x faster there (measured: 92 vs 145 GFLOP/s sgemm on 2 cores), but the
 * choice is fixed when the library initialises, before main.  So when the CPU has AVX-512 and OpenBLAS
 * chose an older kernel set, ilr sets OPENBLAS_CORETYPE=SkylakeX and runs itself again, once.
 * ILR_OPENBLAS_CORETYPE=<name> makes ilr use <name> instead (ILR_OPENBLAS_CORETYPE=keep: leave it). */
static void use_fast_blas_kernels(char **argv) {
    const char *wanted = getenv("ILR_OPENBLAS_CORETYPE");
    if (getenv("ILR_BLAS_REEXEC") || (wanted && strcmp(wanted, "keep") == 0)) return;
    const char *core = openblas_get_corename();
    if (wanted) {
        if (core && strcasecmp(core, wanted) == 0) return;
    } else {
        if (!__builtin_cpu_supports("avx512f")) return;
        if (!core || strstr(core, "SkylakeX") || strstr(core, "Cooperlake") || strstr(core, "SapphireRapids")) return;
        wanted = "SkylakeX";
    }
    setenv("OPENBLAS_CORETYPE", wanted, 1);
    setenv("ILR_BLAS_REEXEC", "1", 1);
    execv("/proc/self/exe", argv); /* returns only on failure: then go on with the kernels we have */
}

int main(int argc, char **argv) {
    use_fast_blas_kernels(argv);
    return ilr_cli_main(argc, argv);
}
