/* The `ilr` command: one function per subcommand, each parsing its own options and printing its own
 * help.  Commands return a process exit status: 0 ok, 1 failure (message printed), 2 bad usage. */
#ifndef ILR_CLI_H
#define ILR_CLI_H

#include "ilr/model.h"

int ilr_cli_main(int argc, char **argv);

int ilr_cmd_init(int argc, char **argv);
int ilr_cmd_inspect(int argc, char **argv);
int ilr_cmd_convert(int argc, char **argv);
int ilr_cmd_demo(int argc, char **argv);
int ilr_cmd_score(int argc, char **argv);
int ilr_cmd_grade(int argc, char **argv);
int ilr_cmd_data(int argc, char **argv);
int ilr_cmd_sandbox(int argc, char **argv);
int ilr_cmd_bench(int argc, char **argv);
int ilr_cmd_sft(int argc, char **argv);
int ilr_cmd_train(int argc, char **argv);
int ilr_cmd_bench_grade(int argc, char **argv);   /* ilr bench grade (src/cli/cmd_bench_reward.c) */
int ilr_cmd_bench_sandbox(int argc, char **argv); /* ilr bench sandbox */
int ilr_bench_help(void);
/* A training benchmark's batch: B full rows of T random tokens, next-token targets, room for d(loss)/d(logprob). */
typedef struct {
    int *tokens, *targets, *lengths;
    float *dlogprob;
} ilr_bench_batch;
void ilr_bench_batch_make(ilr_bench_batch *bb, int vocab, int B, int T);
void ilr_bench_batch_free(ilr_bench_batch *bb);
/* --device cuda for ilr bench matmul and train (src/cli/cmd_bench_cuda.c; a usage error without make CUDA=1). */
int ilr_bench_matmul_cuda(long long n, double seconds);
int ilr_bench_train_cuda(const ilr_model_config *cfg, const char *shape, long long B, long long T, long long steps);
int ilr_bench_generate_cuda(const ilr_model_config *cfg, const char *shape, long long B, long long P, long long N);                         /* prints every bench's help; returns 0 */
int ilr_cmd_tokenize(int argc, char **argv);
int ilr_cmd_generate(int argc, char **argv);
int ilr_cmd_chat(int argc, char **argv);
int ilr_cmd_tokenizer(int argc, char **argv);
int ilr_cmd_world(int argc, char **argv);
int ilr_cmd_plot(int argc, char **argv);
int ilr_cmd_report(int argc, char **argv);
int ilr_cmd_irt_collect(int argc, char **argv); /* ilr irt collect (src/cli/cmd_irt_collect.c) */
int ilr_cmd_interact(int argc, char **argv);
int ilr_cmd_serve(int argc, char **argv);
int ilr_cmd_eval(int argc, char **argv);
int ilr_cmd_irt(int argc, char **argv);
int ilr_cmd_experiment(int argc, char **argv);

/* Prints "ilr CMD: <last error>" (and the source location at debug level); returns 1. */
int ilr_cli_fail(const char *cmd);
/* Prints a usage error and the hint to run --help; returns 2. */
int ilr_cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Parses an integer option value in [lo, hi]; prints a usage error naming option when it is not one. */
int ilr_cli_parse_long(const char *cmd, const char *option, const char *text, long long lo, long long hi,
                       long long *out);
/* Parses a finite number in [lo, hi]; prints a usage error naming option when it is not one. */
int ilr_cli_parse_double(const char *cmd, const char *option, const char *text, double lo, double hi, double *out);
/* Parses a size with an optional K/M/G suffix (powers of 1024): "500M", "2G", "4096". */
int ilr_cli_parse_size(const char *cmd, const char *option, const char *text, long long *out);

#define ILR_VERSION "0.1.0"

#endif
