/* Benchmark: saving and loading Hugging Face model directories (the cost of every checkpoint).
 * usage: bench/model_io [SHAPE] [ARCH]   (default: small llama)
 * Prints parameters/s and GB/s for BF16 and F32 save and load, and the peak RSS. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "ilr/error.h"
#include "ilr/model.h"
#include "ilr/timer.h"

static void die(void) {
    fprintf(stderr, "bench model_io: %s\n", ilr_last_error());
    exit(1);
}

int main(int argc, char **argv) {
    const char *shape = argc > 1 ? argv[1] : "small";
    ilr_arch arch = ILR_ARCH_LLAMA;
    if (argc > 2 && ilr_arch_parse(argv[2], &arch)) die();
    ilr_model_config cfg;
    ilr_model m, back;
    if (ilr_config_from_shape(shape, arch, &cfg) || ilr_model_create(&m, &cfg)) die();
    ilr_model_init_random(&m, 1);
    char dir[] = "/tmp/ilr-bench-io-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    printf("model_io: shape %s (%s), %zu parameters\n", shape, ilr_arch_name(cfg.arch), m.table.total);
    printf("  %-6s %10s %10s %10s %10s\n", "dtype", "save s", "save GB/s", "load s", "load GB/s");
    ilr_dtype dtypes[2] = {ILR_DTYPE_BF16, ILR_DTYPE_F32};
    for (int i = 0; i < 2; i++) {
        ilr_save_options opt = {.dtype = dtypes[i]};
        double bytes = (double)m.table.total * ilr_dtype_size(dtypes[i]);
        ilr_timer t;
        ilr_timer_start(&t);
        if (ilr_model_save(&m, dir, &opt)) die();
        double save = ilr_timer_elapsed(&t);
        ilr_timer_start(&t);
        if (ilr_model_load(&back, dir)) die();
        double load = ilr_timer_elapsed(&t);
        ilr_model_free(&back);
        printf("  %-6s %10.3f %10.2f %10.3f %10.2f\n", ilr_dtype_name(dtypes[i]), save, bytes / save / 1e9, load,
               bytes / load / 1e9);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("  peak RSS %.1f MiB (the model itself: %.1f MiB fp32)\n", ru.ru_maxrss / 1024.0,
           m.table.total * 4 / 1048576.0);
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd)) return 1;
    ilr_model_free(&m);
    return 0;
}
