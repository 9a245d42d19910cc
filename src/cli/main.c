#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "ilr/dist.h"
#include "ilr/error.h"
#include "ilr/log.h"

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

/* Processes that want a core now, besides this one: /proc/loadavg's runnable count (which includes this
 * process) less one, the least of 5 looks 5 ms apart, so that a moment's shell or kernel work is not
 * mistaken for a busy machine; -1 when it cannot be read. */
static int other_runnable(void) {
    int least = -1;
    for (int look = 0; look < 5; look++) {
        FILE *f = fopen("/proc/loadavg", "r");
        int runnable = 0, total = 0;
        double l1, l5, l15;
        if (!f) return -1;
        int ok = fscanf(f, "%lf %lf %lf %d/%d", &l1, &l5, &l15, &runnable, &total) == 5;
        fclose(f);
        if (!ok) return -1;
        if (least < 0 || runnable - 1 < least) least = runnable - 1 > 0 ? runnable - 1 : 0;
        if (least == 0) break;
        nanosleep(&(struct timespec){0, 5000000}, NULL);
    }
    return least;
}

/* OpenMP threads that outnumber the free cores spin against each other at every barrier: measured on 2 cores,
 * a world-a decode beside two 2-thread trainings ran at 1.6k tokens/s instead of 56k alone, and at 25k with
 * one thread per process (the trainings went from 7.3k to 11.5k each as well).  So unless OMP_NUM_THREADS
 * says otherwise, ilr takes only the cores other processes leave free, at least one. */
static void use_free_cores(void) {
    if (getenv("OMP_NUM_THREADS")) return;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int others = other_runnable();
    if (cores < 2 || others <= 0) return;
    int threads = cores - others > 1 ? (int)(cores - others) : 1;
    omp_set_num_threads(threads);
    openblas_set_num_threads(threads);
    ILR_LOG_I("%d of %ld cores busy with other processes: %d OpenMP thread%s (OMP_NUM_THREADS overrides)", others,
              cores, threads, threads == 1 ? "" : "s");
}

int main(int argc, char **argv) {
    use_fast_blas_kernels(argv);
    use_free_cores();
    /* under mpirun (an MPI build) the process joins the job; a rank that fails alone ends the whole job, since
     * the others would wait for it in their next collective (an interrupt stops every rank at the same step) */
    if (ilr_dist_init(&argc, &argv)) {
        fprintf(stderr, "ilr: %s\n", ilr_last_error());
        return 1;
    }
    /* only the trainers and eval split their work over ranks; any other command would run whole on each, racing on its files */
    const char *cmd = argc > 1 ? argv[1] : "";
    if (ilr_dist_size() > 1 && strcmp(cmd, "train") && strcmp(cmd, "sft") && strcmp(cmd, "eval") && strcmp(cmd, "--help") &&
        strcmp(cmd, "-h")) {
        if (ilr_dist_is_root())
            fprintf(stderr, "ilr %s: does not run over %d ranks (under mpirun only `ilr train`, `ilr sft` and `ilr eval` "
                    "split their work); run it as one process\n", cmd, ilr_dist_size());
        ilr_dist_finalize();
        return 2;
    }
    int status = ilr_cli_main(argc, argv);
    if (status != 0 && status != 130 && ilr_dist_size() > 1) {
        char why[64];
        snprintf(why, sizeof why, "the command failed there (exit status %d; its message is above)", status);
        ilr_dist_abort(status, why);
    }
    ilr_dist_finalize();
    return status;
}
