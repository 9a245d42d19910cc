#include "test_util.h"

#include <math.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <fcntl.h>
#include <signal.h>
#include <time.h>

#include "../src/cli/cli.h"
#include "ilr/code_program.h"
#include "ilr/dist.h"
#include "ilr/error.h"
#include "ilr/model.h"

void ilr_test_tmpdir(char *out, const char *tag) {
    const char *base = getenv("TMPDIR");
    if (!base || !base[0]) base = "/tmp";
    snprintf(out, 256, "%s/ilr-test-%s-XXXXXX", base, tag);
    assert_non_null(mkdtemp(out));
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st; (void)flag; (void)ftw;
    return remove(path);
}

void ilr_test_rmtree(const char *path) { nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS); }

void ilr_test_write_file(char *out, const char *dir, const char *name, const void *data, size_t len) {
    snprintf(out, 256, "%s/%s", dir, name);
    FILE *fp = fopen(out, "wb");
    assert_non_null(fp);
    if (len) assert_int_equal(fwrite(data, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
}

const char *ilr_test_shared_data(void) {
    static char path[1024];
    const char *env = getenv("ILR_SHARED_DATA");
    snprintf(path, sizeof path, "%s", env && env[0] ? env : "../shared/data");
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) return NULL;
    return path;
}

void ilr_test_expect_contains(const char *text, const char *phrase) {
    if (!strstr(text, phrase)) {
        print_error("text lacks \"%s\":\n%s\n", phrase, text);
        fail();
    }
}

void ilr_test_expect_error(int rc, int want, ...) {
    const char *msg = ilr_last_error();
    if (rc != want) {
        print_error("expected %s, got %s (%d): %s\n", ilr_error_name(want), ilr_error_name(rc), rc, msg);
        fail();
    }
    va_list ap;
    va_start(ap, want);
    for (const char *needle; (needle = va_arg(ap, const char *));) {
        if (!strstr(msg, needle)) {
            print_error("error message lacks \"%s\": %s\n", needle, msg);
            va_end(ap);
            fail();
        }
    }
    va_end(ap);
}

int ilr_test_run_cli(char *out, size_t cap, int argc, char **argv) {
    fflush(stdout);
    fflush(stderr);
    char path[] = "/tmp/ilr-cli-out-XXXXXX";
    int fd = mkstemp(path), saved_out = dup(1), saved_err = dup(2);
    assert_true(fd >= 0);
    dup2(fd, 1);
    dup2(fd, 2);
    setenv("ILR_PROGRESS", "0", 1);
    int rc = ilr_cli_main(argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    close(saved_out);
    close(saved_err);
    lseek(fd, 0, SEEK_SET);
    ssize_t n = read(fd, out, cap - 1);
    out[n > 0 ? n : 0] = 0;
    close(fd);
    unlink(path);
    return rc;
}

int ilr_test_cli(char *out, size_t cap, const char *first, ...) {
    char *argv[32] = {"ilr"};
    int argc = 1;
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a && argc < 31; a = va_arg(ap, const char *)) argv[argc++] = (char *)a;
    va_end(ap);
    return ilr_test_run_cli(out, cap, argc, argv);
}

char *ilr_test_humaneval_program(const char *prompt, const char *completion, const char *test, const char *entry,
                                 int want_source, size_t *len) {
    char *program;
    ilr_code_source source;
    int rc = ilr_code_program_humaneval(prompt, completion, strlen(completion), test, entry, &program, len, &source);
    if (rc) print_error("%s\n", ilr_last_error());
    assert_int_equal(rc, 0);
    assert_int_equal(source, want_source);
    assert_int_equal(strlen(program), *len);
    return program;
}

void ilr_test_read_params(const char *dir, float **params, size_t *n) {
    ilr_model m;
    assert_int_equal(ilr_model_load(&m, dir), 0);
    *n = m.table.total;
    *params = malloc(sizeof(float) * *n);
    assert_non_null(*params);
    memcpy(*params, m.params, sizeof(float) * *n);
    ilr_model_free(&m);
}

size_t ilr_test_weights_differing(const char *a, const char *b, size_t *total) {
    float *wa, *wb;
    size_t na, nb, differ = 0;
    ilr_test_read_params(a, &wa, &na);
    ilr_test_read_params(b, &wb, &nb);
    assert_int_equal(na, nb);
    for (size_t i = 0; i < na; i++) differ += memcmp(&wa[i], &wb[i], sizeof(float)) != 0;
    free(wa);
    free(wb);
    *total = na;
    return differ;
}

pid_t ilr_test_spawn(const char *bin, char *const argv[]) {
    /* A run is reproducible at a given thread count only, and ilr takes fewer threads when it finds the cores
     * busy as it starts: a straight run and its resume could then differ in the last bits (seen in CI while
     * another build ran).  Children without OMP_NUM_THREADS get one fixed count: this machine's cores. */
    char threads[16];
    snprintf(threads, sizeof threads, "%ld", sysconf(_SC_NPROCESSORS_ONLN) > 0 ? sysconf(_SC_NPROCESSORS_ONLN) : 1);
    pid_t pid = fork();
    if (pid == 0) {
        if (!getenv("OMP_NUM_THREADS")) setenv("OMP_NUM_THREADS", threads, 1);
        FILE *devnull = fopen("/dev/null", "w");
        if (devnull) dup2(fileno(devnull), 1), dup2(fileno(devnull), 2);
        execv(bin, argv);
        _exit(127);
    }
    return pid;
}

int ilr_test_run_to_end(const char *bin, char *const argv[]) {
    int status = 0;
    pid_t pid = ilr_test_spawn(bin, argv);
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

long ilr_test_latest_step(const char *run) {
    char path[700], *text = NULL;
    size_t n = 0;
    snprintf(path, sizeof path, "%s/latest", run);
    if (!ilr_file_exists(path) || ilr_file_read_all(path, &text, &n)) return 0;
    long step = strncmp(text, "checkpoint-", 11) == 0 ? atol(text + 11) : 0;
    free(text);
    return step;
}

void ilr_test_kill_after_checkpoint(const char *bin, char *const argv[], const char *run, long step, long max_delay_us,
                                    long *delay_us) {
    pid_t pid = ilr_test_spawn(bin, argv);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    srand((unsigned)(ts.tv_nsec ^ getpid()));
    *delay_us = rand() % max_delay_us;
    int exited = 0, status = 0;
    while (ilr_test_latest_step(run) < step && !exited) {
        usleep(1000);
        exited = waitpid(pid, &status, WNOHANG) == pid;
    }
    if (!exited) {
        usleep((useconds_t)*delay_us);
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
}

void ilr_test_sum_fixture_setup(ilr_test_sum_fixture *fx, const char *tag) {
    ilr_test_tmpdir(fx->dir, tag);
    char corpus[512], tok[512], init[512], out[4096];
    snprintf(init, sizeof init, "%s/init", fx->dir);
    snprintf(fx->train, sizeof fx->train, "%s/train.jsonl", fx->dir);
    snprintf(fx->eval, sizeof fx->eval, "%s/eval.jsonl", fx->dir);
    snprintf(fx->model, sizeof fx->model, "%s/model", fx->dir);
    snprintf(corpus, sizeof corpus, "%s/corpus.txt", fx->dir);
    snprintf(fx->sft, sizeof fx->sft, "%s/sft.jsonl", fx->dir);
    snprintf(tok, sizeof tok, "%s/tok", fx->dir);
    FILE *t = fopen(fx->train, "w"), *e = fopen(fx->eval, "w"), *c = fopen(corpus, "w"), *s = fopen(fx->sft, "w");
    assert_true(t && e && c && s);
    for (int i = 0; i < 400; i++) {
        int a = (i * 7) % 10, b = (i * 3) % 10; /* small sums: single tokens often */
        fprintf(i < 360 ? t : e, "{\"question\": \"%d + %d =\", \"answer\": \"%d\"}\n", a, b, a + b);
        fprintf(c, "%d + %d = \\boxed{%d}\n", a, b, a + b);
        fprintf(s, "{\"prompt\": \"%d + %d =\", \"response\": \" \\\\boxed{%d}\"}\n", a, b, a + b);
    }
    fclose(s);
    fclose(t);
    fclose(e);
    fclose(c);
    snprintf(fx->tmpl, sizeof fx->tmpl, "%s/prompt.txt", fx->dir);
    FILE *tf = fopen(fx->tmpl, "w");
    assert_non_null(tf);
    fputs("{{question}}", tf);
    assert_int_equal(fclose(tf), 0);
    char *train_argv[] = {"ilr", "tokenizer", "train", "--vocab-size", "300", "--special", "<|endoftext|>", "--out", tok, corpus};
    assert_int_equal(ilr_test_run_cli(out, sizeof out, 10, train_argv), 0);
    char *init_argv[] = {"ilr", "init", "--arch", "llama", "--shape", "tiny", "--tokenizer", tok, "--vocab-size", "300",
                         "--seed", "3", "-o", init};
    assert_int_equal(ilr_test_run_cli(out, sizeof out, 14, init_argv), 0);
    char *sft_argv[] = {"ilr", "sft", "--model", init, "--data", fx->sft, "-o", fx->model, "--steps", "40", "--lr", "3e-3",
                        "--batch", "16", "--seq", "64", "--seed", "1", "--quiet"};
    assert_int_equal(ilr_test_run_cli(out, sizeof out, 19, sft_argv), 0);
}

double ilr_test_rel_err(const float *a, const float *b, size_t n) {
    double diff = 0, scale = 1e-12;
    for (size_t i = 0; i < n; i++) {
        diff = fmax(diff, fabs((double)a[i] - b[i]));
        scale = fmax(scale, fabs((double)b[i]));
    }
    return diff / scale;
}

double ilr_test_weights_compare(const char *a, const char *b, const char *start, size_t *differ, size_t *moved,
                                size_t *total) {
    float *wa, *wb, *w0;
    size_t na, nb, n0;
    ilr_test_read_params(a, &wa, &na);
    ilr_test_read_params(b, &wb, &nb);
    ilr_test_read_params(start, &w0, &n0);
    assert_int_equal(na, nb);
    assert_int_equal(na, n0);
    double worst = 0;
    *differ = *moved = 0;
    for (size_t i = 0; i < na; i++) {
        double d = fabs((double)wa[i] - wb[i]);
        if (!(d <= worst)) worst = d;
        *differ += memcmp(&wa[i], &wb[i], sizeof(float)) != 0;
        *moved += wa[i] != w0[i];
    }
    *total = na;
    free(wa), free(wb), free(w0);
    return worst;
}

void ilr_test_sum_grpo_config(char *path, const ilr_test_sum_fixture *fx, const char *name, const char *out_dir,
                              const char *extra) {
    char text[4096];
    snprintf(text, sizeof text,
             "method: grpo\nmodel: %s\noutput_dir: %s\nseed: 5\n"
             "data:\n  train: %s\n  template: %s\n  task: math\n"
             "reward:\n  math_extract: last_number\n"
             "rollout:\n  prompts_per_step: 6\n  num_generations: 4\n  max_new_tokens: 12\n  temperature: 1.0\n"
             "optim:\n  lr: 1e-3\n  micro_batch: 10\n"
             "train:\n  quiet: true\n%s",
             fx->model, out_dir, fx->train, fx->tmpl, extra);
    ilr_test_write_file(path, fx->dir, name, text, strlen(text));
}

/* ---- MPI ---- */

static char mpirun_path[1024];
static char *saved_omp;
static int omp_set;

int ilr_test_mpi_ready(const char **bin) {
    *bin = getenv("ILR_BIN");
    if (!ilr_dist_available()) {
        print_message("skipped: a build without MPI (make MPI=1 test runs the MPI tests)\n");
        return 0;
    }
    if (!*bin || !ilr_file_exists(*bin)) {
        print_message("skipped: ILR_BIN (the ilr binary, set by make test) is not there to run under mpirun\n");
        return 0;
    }
    mpirun_path[0] = 0;
    for (const char *at = getenv("PATH"); at && *at;) {
        const char *end = strchr(at, ':');
        size_t len = end ? (size_t)(end - at) : strlen(at);
        snprintf(mpirun_path, sizeof mpirun_path, "%.*s/mpirun", (int)len, at);
        if (access(mpirun_path, X_OK) == 0) break;
        mpirun_path[0] = 0;
        at = end ? end + 1 : NULL;
    }
    if (!mpirun_path[0]) {
        print_message("skipped: Open MPI is absent (no mpirun on PATH; apt-get install openmpi-bin, or scripts/deps.sh)\n");
        return 0;
    }
    if (!omp_set) { /* one thread per rank: the ranks share this machine's cores */
        const char *old = getenv("OMP_NUM_THREADS");
        saved_omp = old ? strdup(old) : NULL;
        setenv("OMP_NUM_THREADS", "1", 1);
        omp_set = 1;
    }
    return 1;
}

void ilr_test_mpi_end(void) {
    if (!omp_set) return;
    if (saved_omp) setenv("OMP_NUM_THREADS", saved_omp, 1);
    else unsetenv("OMP_NUM_THREADS");
    free(saved_omp);
    saved_omp = NULL;
    omp_set = 0;
}

const char *ilr_test_mpirun_path(void) { return mpirun_path; }

void ilr_test_mpirun_argv(char **argv, char *np, int N, const char *bin, char **args) {
    snprintf(np, 8, "%d", N);
    int k = 0;
    argv[k++] = "mpirun", argv[k++] = "-np", argv[k++] = np, argv[k++] = "--oversubscribe", argv[k++] = "--bind-to";
    argv[k++] = "none", argv[k++] = "--allow-run-as-root", argv[k++] = (char *)bin;
    int i = 0;
    for (; args[i] && i < 40; i++) argv[k++] = args[i];
    assert_null(args[i]); /* more arguments than argv holds: not cut short silently */
    argv[k] = NULL;
}

/* The pids of mpirun's children that run bin (the ranks on this machine). */
int ilr_test_rank_pids(pid_t parent, pid_t *pids, int cap) {
    DIR *d = opendir("/proc");
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) && n < cap) {
        char path[300], line[256];
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        int pid = 0, ppid = 0;
        char comm[64] = "", st;
        if (fgets(line, sizeof line, f) && sscanf(line, "%d (%63[^)]) %c %d", &pid, comm, &st, &ppid) == 4 &&
            ppid == parent && !strcmp(comm, "ilr"))
            pids[n++] = pid;
        fclose(f);
    }
    if (d) closedir(d);
    return n;
}

double ilr_test_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* See test_util.h. */
double ilr_test_mpirun_kill_one(const char *bin, char **args, const char *run, long at, pid_t *victim) {
    return ilr_test_mpirun_signal_one(bin, args, run, at, SIGKILL, victim);
}

double ilr_test_mpirun_signal_one(const char *bin, char **args, const char *run, long at, int sig, pid_t *victim) {
    char *argv[48], np[8];
    ilr_test_mpirun_argv(argv, np, 2, bin, args);
    pid_t job = ilr_test_spawn(mpirun_path, argv);
    int status = 0, exited = 0;
    while (ilr_test_latest_step(run) < at && !exited) {
        usleep(1000);
        exited = waitpid(job, &status, WNOHANG) == job;
    }
    assert_false(exited); /* the job must still be running to be killed */
    pid_t pids[8];
    int n = ilr_test_rank_pids(job, pids, 8);
    assert_int_equal(n, 2);
    *victim = pids[0] > pids[1] ? pids[0] : pids[1]; /* either rank: the later-started one */
    double t0 = ilr_test_now();
    assert_int_equal(kill(*victim, sig), 0);
    while (!exited && ilr_test_now() - t0 < 30) {
        usleep(2000);
        exited = waitpid(job, &status, WNOHANG) == job;
    }
    double ended = ilr_test_now() - t0;
    if (!exited) kill(job, SIGKILL), waitpid(job, &status, 0);
    assert_true(exited);
    assert_true(!WIFEXITED(status) || WEXITSTATUS(status) != 0); /* the job failed, visibly */
    int left = n; /* no rank left behind: both gone within 2 s of mpirun's end */
    for (double t1 = ilr_test_now(); left && ilr_test_now() - t1 < 2; usleep(2000)) {
        left = 0;
        for (int r = 0; r < n; r++) left += !(kill(pids[r], 0) != 0 && errno == ESRCH);
    }
    assert_int_equal(left, 0);
    return ended;
}

int ilr_test_mpirun(int N, const char *bin, char **args) {
    char *argv[48], np[8];
    ilr_test_mpirun_argv(argv, np, N, bin, args);
    return ilr_test_run_to_end(mpirun_path, argv);
}
