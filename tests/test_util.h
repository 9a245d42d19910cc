/* Shared helpers for the cmocka test groups.  Every test file defines one group with ILR_TEST_GROUP and
 * lists it in tests/groups.h; tests/main.c runs them all and prints the total. */
#ifndef ILR_TEST_UTIL_H
#define ILR_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <cmocka.h>

/* Defines int ilr_test_group_<name>(int *count): runs the tests, returns the number that failed. */
#define ILR_TEST_GROUP(name, tests)                                                   \
    int ilr_test_group_##name(int *count) {                                           \
        *count = (int)(sizeof(tests) / sizeof((tests)[0]));                           \
        return cmocka_run_group_tests_name(#name, tests, NULL, NULL);                 \
    }

/* The same with a group setup and teardown (cmocka's group state: a fixture built once for the group). */
#define ILR_TEST_GROUP_SETUP(name, tests, setup, teardown)                            \
    int ilr_test_group_##name(int *count) {                                           \
        *count = (int)(sizeof(tests) / sizeof((tests)[0]));                           \
        return cmocka_run_group_tests_name(#name, tests, setup, teardown);            \
    }

/* Runs the ilr binary bin with argv in a child process whose output goes to /dev/null; its pid. */
pid_t ilr_test_spawn(const char *bin, char *const argv[]);
/* The same, waited for: its exit status (-1 when it did not exit normally). */
int ilr_test_run_to_end(const char *bin, char *const argv[]);
/* The step of a run directory's newest checkpoint (its `latest`), 0 when none. */
long ilr_test_latest_step(const char *run);
/* Starts `bin argv` (a training run writing to run) and kill -9s it a random 0..max_delay_us after its
 * checkpoint of `step` appears (unless it ended first); *delay_us gets the delay drawn. */
void ilr_test_kill_after_checkpoint(const char *bin, char *const argv[], const char *run, long step, long max_delay_us,
                                    long *delay_us);

/* A fresh empty directory under $TMPDIR (or /tmp) for one test; out must hold 256 bytes. */
void ilr_test_tmpdir(char *out, const char *tag);

/* A tiny Llama (a byte-level BPE tokenizer of 300 ids) given 40 SFT steps on questions "a + b =" answered
 * " \boxed{c}": enough that its answers are often well-formed and sometimes right.  In a fresh tmpdir: model/,
 * train.jsonl (360 questions), eval.jsonl (40), prompt.txt ("{{question}}"), sft.jsonl. */
typedef struct {
    char dir[256], model[512], train[512], eval[512], tmpl[512], sft[512];
} ilr_test_sum_fixture;
void ilr_test_sum_fixture_setup(ilr_test_sum_fixture *fx, const char *tag);
/* Removes a directory tree made by a test. */
void ilr_test_rmtree(const char *path);
/* Writes bytes to dir/name; returns the full path in out (256 bytes). */
void ilr_test_write_file(char *out, const char *dir, const char *name, const void *data, size_t len);
/* ../shared/data (or $ILR_SHARED_DATA) when it exists, else NULL: tests that need it skip with a message. */
const char *ilr_test_shared_data(void);

/* Runs `ilr argv[1..]` in this process (argv[0] is "ilr") with stdout and stderr captured into out
 * (cap bytes, NUL-terminated) and progress lines off; returns the command's exit status. */
int ilr_test_run_cli(char *out, size_t cap, int argc, char **argv);
/* The same with the arguments after "ilr" as a NULL-terminated list (at most 30):
 * ilr_test_cli(out, sizeof out, "plot", "--help", NULL). */
int ilr_test_cli(char *out, size_t cap, const char *first, ...);

/* The HumanEval program for completion (ilr_code_program_humaneval), asserting that it was built, that the
 * code came from want_source (an ilr_code_source) and that *len is its length; malloc'ed. */
char *ilr_test_humaneval_program(const char *prompt, const char *completion, const char *test, const char *entry,
                                 int want_source, size_t *len);

/* A copy of a model directory's parameters (asserting that it loads): *params malloc'ed, *n floats. */
void ilr_test_read_params(const char *dir, float **params, size_t *n);
/* How many weights of model directories a and b differ, bit for bit (asserting that both load and have as
 * many; *total: how many). */
size_t ilr_test_weights_differing(const char *a, const char *b, size_t *total);

/* Compares the weights of model directories a and b: returns max |a - b| (NaN counts as the worst); *differ: how
 * many differ bit for bit, *moved: how many of a differ from the start model's, *total: how many (all asserted to
 * load and to have as many). */
double ilr_test_weights_compare(const char *a, const char *b, const char *start, size_t *differ, size_t *moved,
                                size_t *total);

/* A GRPO config for the sum fixture (6 questions x 4 completions of up to 12 tokens, micro-batches of 10, seed 5,
 * quiet) writing to out_dir, with extra YAML lines appended (they go under `train:`); its path in path. */
void ilr_test_sum_grpo_config(char *path, const ilr_test_sum_fixture *fx, const char *name, const char *out_dir,
                              const char *extra);

/* ---- MPI (make MPI=1 test) ---- */
/* Whether this build and machine can run a test under mpirun: an MPI build, ILR_BIN (*bin) and Open MPI's mpirun
 * on PATH; prints why not.  When ready, OMP_NUM_THREADS is 1 (the ranks and the one-process reference alike)
 * until ilr_test_mpi_end. */
int ilr_test_mpi_ready(const char **bin);
void ilr_test_mpi_end(void);
const char *ilr_test_mpirun_path(void);
/* argv (48 entries) for `mpirun -np N --oversubscribe --bind-to none --allow-run-as-root BIN args...` (args
 * NULL-terminated, at most 40: asserted); np holds 8 bytes. */
void ilr_test_mpirun_argv(char **argv, char *np, int N, const char *bin, char **args);
/* Runs that to its end: mpirun's exit status. */
int ilr_test_mpirun(int N, const char *bin, char **args);
/* The pids of parent's children that run ilr (the ranks of an mpirun on this machine), at most cap. */
int ilr_test_rank_pids(pid_t parent, pid_t *pids, int cap);
/* Seconds on the monotonic clock. */
double ilr_test_now(void);
/* Starts `mpirun -np 2 BIN args`, kills -9 its later-started rank (*victim) once run's newest checkpoint is at
 * step `at` or later, and asserts that the job then ended (within 30 s), failed visibly and left no rank behind
 * (within 2 s more): the seconds from the kill to the job's end. */
double ilr_test_mpirun_kill_one(const char *bin, char **args, const char *run, long at, pid_t *victim);
/* The same with signal sig instead of SIGKILL (SIGSTOP: a rank that hangs alive). */
double ilr_test_mpirun_signal_one(const char *bin, char **args, const char *run, long at, int sig, pid_t *victim);

/* max |a - b| / max |b| (b the reference): one number per tensor that is robust to entries near zero. */
double ilr_test_rel_err(const float *a, const float *b, size_t n);

/* Asserts that text contains phrase, printing the text when it does not. */
void ilr_test_expect_contains(const char *text, const char *phrase);

/* Asserts that rc is the failure code want and that ilr_last_error() contains every needle given
 * (a NULL-terminated list), printing the message so a failure reads as a diagnosis. */
void ilr_test_expect_error(int rc, int want, ...);
#define ILR_EXPECT_ERROR(rc, want, ...) ilr_test_expect_error((rc), (want), __VA_ARGS__, (const char *)NULL)

#endif
