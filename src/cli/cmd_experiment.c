/* ilr experiment: a grid of training runs and the evaluation of every resulting model alone, resumable.
 *
 * The parent plans the cells (src/eval/experiment.c) and runs each in a child process of its own (its own
 * process group, its console in OUT/cells/ID.log), JOBS at once, a cell whose budget matches another's after
 * that one.  A cell child runs `ilr train` (or `ilr train --resume` from the cell's newest checkpoint) and
 * then `ilr eval` for each of its models (which resumes by itself), and writes OUT/cells/ID/cell.json last:
 * a cell with a cell.json whose status is "done" is never run again.  After every cell the parent rewrites
 * OUT/experiment.json.  SIGINT / SIGTERM reach the running cells as SIGTERM (training checkpoints and stops);
 * the experiment then stops, and running it again continues. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "ilr/checkpoint.h"
#include "ilr/error.h"
#include "ilr/experiment.h"
#include "ilr/io.h"
#include "ilr/json.h"
#include "ilr/timer.h"

static const char experiment_help[] =
    "usage: ilr experiment EXP.yaml [KEY=VALUE ...] [--jobs N] [--dry-run] [--verbose]\n"
    "       ilr experiment --help-config\n\n"
    "Runs a grid of training runs, methods x seeds x agents (each an `ilr train` config plus overrides), and\n"
    "evaluates every resulting model alone with `ilr eval` (and the starting models, cell \"base\").  An ILR\n"
    "method trains every agent in one run per seed; a GRPO method trains each agent alone; `match: M` gives a\n"
    "GRPO method the generated-token budget of method M's run of the same seed (the compute-matched baseline).\n"
    "Writes OUT/experiment.yaml (the resolved file), OUT/cells/ID/ (each cell's run directory, eval-AGENT/\n"
    "evaluations and cell.json), OUT/cells/ID.log (its console) and OUT/experiment.json (every cell's config,\n"
    "budget and evaluation summary; README, \"Experiments\").  A finished cell is never run again: a killed\n"
    "experiment (Ctrl-C, SIGTERM, a crash) continues where it stopped when run again; a cell whose training\n"
    "saved a checkpoint resumes from it.  `ilr report OUT` turns experiment.json into tables and charts.\n\n"
    "  KEY=VALUE     override a top-level key of the file (seeds=\"1 2\", eval.max=100, jobs=2)\n"
    "  --jobs N      cells at once (default: the file's jobs, 1); set threads: so jobs x threads <= cores\n"
    "  --dry-run     print every cell's commands and exit\n"
    "  -v, --verbose each cell's console on the terminal too (jobs 1)\n"
    "  --help-config every key of the file: type, default, meaning\n\n"
    "Environment: ILR_BIN, the ilr binary the cells run (default: this one).\n\n"
    "Example: ilr experiment configs/experiment-world.yaml     (ILR vs GRPO on the synthetic world)\n";

static volatile sig_atomic_t stop_requested;
static void on_stop(int sig) { stop_requested = sig; }

static char self_exe[4096];
static int show_console = -1; /* --verbose: the terminal, where the cells' consoles are echoed; -1: none */

static int find_self(void) {
    const char *env = getenv("ILR_BIN");
    if (env && *env) {
        snprintf(self_exe, sizeof self_exe, "%s", env);
        return 0;
    }
    ssize_t n = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
    if (n <= 0) return ILR_FAIL(ILR_EIO, "cannot find the ilr binary (/proc/self/exe: %s); set ILR_BIN", strerror(errno));
    self_exe[n] = 0;
    return 0;
}

/* ---- a cell, in its child process ---- */

/* Runs `ilr ARGS...` with the console going to the cell's log; returns its exit status (128 + signal when
 * killed). */
static int run_ilr(char **args, int num_args) {
    char **argv = calloc((size_t)num_args + 2, sizeof *argv);
    if (!argv) return 1;
    argv[0] = self_exe;
    for (int i = 0; i < num_args; i++) argv[i + 1] = args[i];
    printf("$ ilr");
    for (int i = 0; i < num_args; i++) printf(" %s", args[i]);
    printf("\n");
    fflush(stdout);
    int pipe_fd[2] = {-1, -1}, forwarded = 0;
    if (show_console >= 0 && pipe(pipe_fd) != 0) pipe_fd[0] = pipe_fd[1] = -1;
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* a cell killed outright stops its command too (it checkpoints) */
        if (pipe_fd[1] >= 0) dup2(pipe_fd[1], STDOUT_FILENO), dup2(pipe_fd[1], STDERR_FILENO), close(pipe_fd[0]);
        execv(self_exe, argv);
        fprintf(stderr, "cannot run %s: %s\n", self_exe, strerror(errno));
        _exit(127);
    }
    free(argv);
    if (pipe_fd[1] >= 0) { /* --verbose: the command's console to the log and to the terminal */
        close(pipe_fd[1]);
        char buf[4096];
        for (ssize_t n; (n = read(pipe_fd[0], buf, sizeof buf)) != 0;) {
            if (n < 0 && errno == EINTR) {
                if (stop_requested && !forwarded) kill(pid, SIGTERM), forwarded = 1;
                continue;
            }
            if (n < 0) break;
            if (write(STDOUT_FILENO, buf, (size_t)n) < 0 || write(show_console, buf, (size_t)n) < 0) {
                /* a closed terminal or log: keep draining so the command is not blocked */
            }
        }
        close(pipe_fd[0]);
    }
    if (pid < 0) return 1;
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) return 1;
        if (stop_requested && !forwarded) kill(pid, SIGTERM), forwarded = 1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Paths inside the experiment directory are recorded relative to it. */
static const char *relative(const ilr_experiment_config *c, const char *path) {
    size_t n = strlen(c->output_dir);
    return !strncmp(path, c->output_dir, n) && path[n] == '/' ? path + n + 1 : path;
}

static const ilr_experiment_agent *agent_at(const ilr_experiment_config *c, int a) {
    return (const ilr_experiment_agent *)c->agents.items + a;
}

/* The cell's entry: what ran, and for each model its budget and evaluation summary. */
static json_t *cell_entry(const ilr_experiment_config *c, const ilr_experiment_cell *cell, const char *status,
                          const char *error, double train_seconds, double seconds) {
    const char *method = cell->method < 0 ? "base" : ((const ilr_experiment_method *)c->methods.items)[cell->method].name;
    json_t *e = json_pack("{s:s, s:s, s:o, s:s, s:s}", "id", cell->id, "method", method, "seed",
                          cell->method < 0 ? json_null() : json_integer(cell->seed), "status", status, "dir",
                          relative(c, cell->dir));
    json_t *agents = json_array(), *overrides = json_array(), *models = json_array();
    for (int a = 0; a < c->agents.count; a++)
        if (ilr_experiment_cell_has_agent(cell, a)) json_array_append_new(agents, json_string(agent_at(c, a)->name));
    json_object_set_new(e, "agents", agents);
    if (cell->num_args) {
        json_object_set_new(e, "config", json_string(cell->args[0]));
        for (int i = 1; i < cell->num_args; i++) json_array_append_new(overrides, json_string(cell->args[i]));
    }
    json_object_set_new(e, "overrides", overrides);
    json_object_set_new(e, "train_seconds", json_real(train_seconds));
    json_object_set_new(e, "seconds", json_real(seconds));
    if (error) json_object_set_new(e, "error", json_string(error));
    json_t *summary = NULL;
    char path[4400];
    snprintf(path, sizeof path, "%s/train_summary.json", cell->dir);
    if (cell->method >= 0 && ilr_file_exists(path) && ilr_json_load_file(path, &summary)) summary = NULL;
    for (int a = 0; a < c->agents.count; a++) {
        if (!ilr_experiment_cell_has_agent(cell, a)) continue;
        char model[4200], eval_dir[4300];
        ilr_experiment_cell_model(c, cell, a, model, sizeof model);
        snprintf(eval_dir, sizeof eval_dir, "%s/eval-%s", cell->dir, agent_at(c, a)->name);
        json_t *m = json_pack("{s:s, s:s, s:s}", "agent", agent_at(c, a)->name, "model", relative(c, model), "eval_dir",
                              relative(c, eval_dir));
        /* the budget: GRPO's summary has it at the top, ILR's per agent */
        json_t *from = cell->multi ? json_object_get(json_object_get(summary, "agents"), agent_at(c, a)->name) : summary;
        json_t *gen = json_object_get(from, "generated_tokens"), *trained = json_object_get(from, "trained_tokens");
        if (gen) json_object_set(m, "generated_tokens", gen);
        if (trained) json_object_set(m, "trained_tokens", trained);
        json_t *eval = NULL;
        snprintf(path, sizeof path, "%s/summary.json", eval_dir);
        if (ilr_file_exists(path) && !ilr_json_load_file(path, &eval))
            json_object_set(m, "summary", json_object_get(eval, "benchmarks"));
        json_decref(eval);
        json_array_append_new(models, m);
    }
    json_decref(summary);
    json_object_set_new(e, "models", models);
    return e;
}

static int write_cell(const ilr_experiment_config *c, const ilr_experiment_cell *cell, const char *status,
                      const char *error, double train_seconds, double seconds) {
    json_t *e = cell_entry(c, cell, status, error, train_seconds, seconds);
    char path[4400];
    snprintf(path, sizeof path, "%s/cell.json", cell->dir);
    int rc = ilr_json_save_file(path, e);
    json_decref(e);
    return rc;
}

static int eval_model(const ilr_experiment_config *c, const ilr_experiment_cell *cell, int a) {
    char model[4200], out[4400], samples[32], max[32], max_new[32], temperature[32], seed[32], batch[32];
    ilr_experiment_cell_model(c, cell, a, model, sizeof model);
    snprintf(out, sizeof out, "%s/eval-%s", cell->dir, agent_at(c, a)->name);
    snprintf(samples, sizeof samples, "%ld", c->eval_samples);
    snprintf(max, sizeof max, "%ld", c->eval_max);
    snprintf(max_new, sizeof max_new, "%ld", c->eval_max_new_tokens);
    snprintf(temperature, sizeof temperature, "%.17g", c->eval_temperature);
    snprintf(seed, sizeof seed, "%ld", c->eval_seed);
    snprintf(batch, sizeof batch, "%ld", c->eval_batch);
    char *args[24] = {"eval", "--model", model, "--bench", c->eval_bench, "-o", out, "--samples", samples,
                      "--max-new-tokens", max_new, "--temperature", temperature, "--seed", seed, "--batch", batch};
    int n = 17;
    if (c->eval_max) args[n++] = "--max", args[n++] = max;
    if (!c->eval_greedy) args[n++] = "--no-greedy";
    return run_ilr(args, n);
}

/* The child's work; its exit status: 0 done, 1 failed, 130 stopped by a signal. */
static int run_cell(const ilr_experiment_config *c, const ilr_experiment_cell *cell) {
    ilr_timer t;
    ilr_timer_start(&t);
    double train_seconds = 0;
    char path[4400], error[512] = "";
    int rc = 0;
    if (cell->method >= 0) {
        snprintf(path, sizeof path, "%s/train_summary.json", cell->dir);
        if (!ilr_file_exists(path)) {
            char latest[4400];
            snprintf(latest, sizeof latest, "%s/latest", cell->dir);
            if (ilr_file_exists(latest)) {
                char *args[] = {"train", "--resume", (char *)cell->dir};
                rc = run_ilr(args, 3);
            } else {
                if (ilr_remove_tree(cell->dir)) return 1;
                char *args[256];
                int n = 0;
                args[n++] = "train";
                for (int i = 0; i < cell->num_args && n < 255; i++) args[n++] = cell->args[i];
                rc = run_ilr(args, n);
            }
            if (rc) snprintf(error, sizeof error, "ilr train exited with status %d (see the cell's log)", rc);
        }
        train_seconds = ilr_timer_elapsed(&t);
    }
    for (int a = 0; !rc && !stop_requested && a < c->agents.count; a++) {
        if (!ilr_experiment_cell_has_agent(cell, a)) continue;
        if ((rc = eval_model(c, cell, a)))
            snprintf(error, sizeof error, "ilr eval of %s exited with status %d (see the cell's log)", agent_at(c, a)->name,
                     rc);
    }
    if (stop_requested || rc == 128 + SIGTERM || rc == 128 + SIGINT || rc == 130) return 130;
    if (ilr_mkdir_p(cell->dir) ||
        write_cell(c, cell, rc ? "failed" : "done", rc ? error : NULL, train_seconds, ilr_timer_elapsed(&t))) {
        fprintf(stderr, "ilr experiment: %s\n", ilr_last_error());
        return 1;
    }
    return rc ? 1 : 0;
}

/* Opens the cell's log, locked: every process of the cell holds the lock (the descriptor is inherited), so
 * a cell still running from an experiment that was killed outright is waited for, not run twice. */
static int open_cell_log(const ilr_experiment_config *c, const ilr_experiment_cell *cell) {
    char log_path[4400];
    snprintf(log_path, sizeof log_path, "%s/cells/%s.log", c->output_dir, cell->id);
    int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return ILR_FAIL(ILR_EIO, "%s: %s", log_path, strerror(errno)), -1;
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) return fd;
    printf("       %s: waiting for a process of an earlier run of this cell to stop\n", cell->id);
    fflush(stdout);
    while (flock(fd, LOCK_EX) != 0)
        if (errno != EINTR || stop_requested) {
            close(fd);
            return ILR_FAIL(ILR_EIO, "%s: cannot lock: %s", log_path, strerror(errno)), -1;
        }
    return fd;
}

static pid_t start_cell(const ilr_experiment_config *c, const ilr_experiment_cell *cell) {
    int fd = open_cell_log(c, cell);
    if (fd < 0) return -1;
    fflush(stdout), fflush(stderr);
    pid_t pid = fork();
    if (pid != 0) {
        close(fd);
        if (pid < 0) ILR_FAIL(ILR_EIO, "fork: %s", strerror(errno));
        return pid;
    }
    setpgid(0, 0); /* the parent signals the cell's whole process group */
    prctl(PR_SET_PDEATHSIG, SIGTERM); /* an experiment killed outright stops its cells (they checkpoint) */
    dup2(fd, STDOUT_FILENO), dup2(fd, STDERR_FILENO); /* (dup2 clears close-on-exec: commands inherit the lock) */
    close(fd);
    /* threads 0: the environment's OMP_NUM_THREADS, else the cores shared out among the cells running at
     * once (OpenMP threads that outnumber the cores spin against each other: many times slower) */
    long threads = c->threads;
    if (!threads && !getenv("OMP_NUM_THREADS") && c->jobs > 1) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        threads = cores / c->jobs > 1 ? cores / c->jobs : 1;
    }
    if (threads > 0) {
        char text[32];
        snprintf(text, sizeof text, "%ld", threads);
        setenv("OMP_NUM_THREADS", text, 1);
    }
    time_t now = time(NULL);
    printf("== cell %s, %s", cell->id, ctime(&now));
    fflush(stdout);
    _exit(run_cell(c, cell));
}

/* ---- the parent ---- */

typedef enum { CELL_PENDING, CELL_RUNNING, CELL_DONE, CELL_FAILED } cell_state;

/* Whether a recorded override is the planned one.  The cell's own directory (output_dir) and its match's
 * (budget.match) may have been named by another path (the experiment moved, or given as absolute). */
static int same_override(const char *recorded, const char *planned) {
    static const char *const paths[2] = {"output_dir=", "budget.match="};
    for (int i = 0; i < 2; i++) {
        size_t n = strlen(paths[i]);
        if (!strncmp(recorded, paths[i], n) && !strncmp(planned, paths[i], n)) return 1;
    }
    return !strcmp(recorded, planned);
}

/* The cell's status as its cell.json records it, checking that it ran what the plan says now. */
static int recorded_state(const ilr_experiment_cell *cell, cell_state *state) {
    char path[4400];
    snprintf(path, sizeof path, "%s/cell.json", cell->dir);
    *state = CELL_PENDING;
    if (!ilr_file_exists(path)) return 0;
    json_t *e = NULL;
    if (ilr_json_load_file(path, &e)) return ilr_last_error_code();
    const char *status = json_string_value(json_object_get(e, "status"));
    int same = 1;
    json_t *overrides = json_object_get(e, "overrides");
    if (cell->num_args) {
        const char *config = json_string_value(json_object_get(e, "config"));
        same = config && !strcmp(config, cell->args[0]) && json_array_size(overrides) == (size_t)cell->num_args - 1;
        for (int i = 1; same && i < cell->num_args; i++) {
            const char *o = json_string_value(json_array_get(overrides, (size_t)i - 1));
            same = o && same_override(o, cell->args[i]);
        }
    }
    int done = status && !strcmp(status, "done");
    json_decref(e);
    if (done && !same)
        return ILR_FAIL(ILR_EINVAL, "%s: cell %s finished with other settings than the file gives now (config or "
                        "overrides differ); use another output_dir, or delete %s to run it again", path, cell->id, cell->dir);
    *state = done ? CELL_DONE : CELL_PENDING;
    return 0;
}

static void print_result(const ilr_experiment_config *c, const ilr_experiment_cell *cell, int k, int n, double seconds) {
    char path[4400], took[32];
    ilr_format_duration(seconds, took, sizeof took);
    snprintf(path, sizeof path, "%s/cell.json", cell->dir);
    json_t *e = NULL;
    if (ilr_json_load_file(path, &e)) {
        printf("[%d/%d] %s: ended after %s without a record (see %s/cells/%s.log)\n", k, n, cell->id, took, c->output_dir,
               cell->id);
        return;
    }
    const char *status = json_string_value(json_object_get(e, "status"));
    printf("[%d/%d] %s: %s in %s", k, n, cell->id, status ? status : "?", took);
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(e, "models"), i, m) {
        const char *bench;
        json_t *b;
        json_object_foreach(json_object_get(m, "summary"), bench, b) {
            json_t *greedy = json_object_get(b, "greedy");
            char avg_key[32];
            snprintf(avg_key, sizeof avg_key, "avg@%ld", c->eval_samples);
            json_t *avg = json_object_get(b, avg_key);
            if (!json_is_number(greedy) && !json_is_number(avg)) continue; /* the five-benchmark average's entry */
            printf("%s %s %s", i ? ";" : ":", json_string_value(json_object_get(m, "agent")), bench);
            if (json_is_number(greedy)) printf(" greedy %.1f %%", 100 * json_number_value(greedy));
            if (json_is_number(avg)) printf(" %s %.1f %%", avg_key, 100 * json_number_value(avg));
        }
    }
    const char *error = json_string_value(json_object_get(e, "error"));
    if (error) printf(" — %s (log: %s/cells/%s.log)", error, c->output_dir, cell->id);
    printf("\n");
    json_decref(e);
}

static int write_experiment_json(const ilr_experiment_config *c, const ilr_experiment_plan *plan, const char *file,
                                 double seconds) {
    json_t *j = NULL;
    if (ilr_experiment_json(c, plan, seconds, &j)) return ilr_last_error_code();
    json_object_set_new(j, "file", json_string(file));
    char path[4200];
    snprintf(path, sizeof path, "%s/experiment.json", c->output_dir);
    int rc = ilr_json_save_file(path, j);
    json_decref(j);
    return rc;
}

static void dry_run(const ilr_experiment_config *c, const ilr_experiment_plan *plan) {
    for (int i = 0; i < plan->num_cells; i++) {
        const ilr_experiment_cell *cell = &plan->cells[i];
        printf("cell %s%s\n", cell->id, cell->depends_on >= 0 ? " (after its match)" : "");
        if (cell->num_args) {
            printf("  ilr train");
            for (int j = 0; j < cell->num_args; j++) printf(" %s", cell->args[j]);
            printf("\n");
        }
        for (int a = 0; a < c->agents.count; a++) {
            if (!ilr_experiment_cell_has_agent(cell, a)) continue;
            char model[4200];
            ilr_experiment_cell_model(c, cell, a, model, sizeof model);
            printf("  ilr eval --model %s --bench %s -o %s/eval-%s --samples %ld\n", model, c->eval_bench, cell->dir,
                   agent_at(c, a)->name, c->eval_samples);
        }
    }
}

static int run_all(const ilr_experiment_config *c, const ilr_experiment_plan *plan, const char *file) {
    int n = plan->num_cells, rc = 0;
    cell_state *state = calloc((size_t)n, sizeof *state);
    pid_t *pid = calloc((size_t)n, sizeof *pid);
    double *started = calloc((size_t)n, sizeof *started);
    if (!state || !pid || !started) {
        free(state), free(pid), free(started);
        return ILR_FAIL(ILR_ENOMEM, "out of memory");
    }
    int finished = 0, failed = 0;
    for (int i = 0; !rc && i < n; i++) {
        rc = recorded_state(&plan->cells[i], &state[i]);
        if (!rc && state[i] == CELL_DONE) finished++;
    }
    ilr_timer t;
    ilr_timer_start(&t);
    if (!rc) {
        printf("experiment %s: %d cells, %d finished before; %ld at a time; consoles in %s/cells/ID.log\n", c->name, n,
               finished, c->jobs, c->output_dir);
        fflush(stdout);
        rc = write_experiment_json(c, plan, file, 0);
    }
    int running = 0;
    while (!rc) {
        /* start what may start, in plan order */
        for (int i = 0; i < n && running < c->jobs && !stop_requested; i++) {
            if (state[i] != CELL_PENDING) continue;
            int dep = plan->cells[i].depends_on;
            if (dep >= 0 && state[dep] == CELL_FAILED) {
                state[i] = CELL_FAILED, failed++;
                printf("[%d/%d] %s: not run: %s, whose budget it matches, failed\n", finished + failed, n,
                       plan->cells[i].id, plan->cells[dep].id);
                continue;
            }
            if (dep >= 0 && state[dep] != CELL_DONE) continue;
            pid[i] = start_cell(c, &plan->cells[i]);
            if (pid[i] < 0) {
                rc = stop_requested ? 0 : ilr_error_prefix("cannot start cell %s", plan->cells[i].id);
                break;
            }
            state[i] = CELL_RUNNING, running++;
            started[i] = ilr_timer_elapsed(&t);
            printf("       %s: started (%s/cells/%s.log)\n", plan->cells[i].id, c->output_dir, plan->cells[i].id);
            fflush(stdout);
        }
        if (!running) break;
        int status = 0;
        pid_t done = waitpid(-1, &status, 0);
        if (done < 0) {
            if (errno != EINTR) break;
            if (stop_requested)
                for (int i = 0; i < n; i++)
                    if (state[i] == CELL_RUNNING) kill(-pid[i], SIGTERM);
            continue;
        }
        for (int i = 0; i < n; i++) {
            if (state[i] != CELL_RUNNING || pid[i] != done) continue;
            running--;
            int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            if (code == 130 || stop_requested) {
                state[i] = CELL_PENDING;
                printf("       %s: stopped (it continues when the experiment runs again)\n", plan->cells[i].id);
            } else {
                state[i] = code == 0 ? CELL_DONE : CELL_FAILED;
                if (code == 0) finished++;
                else failed++;
                print_result(c, &plan->cells[i], finished + failed, n, ilr_timer_elapsed(&t) - started[i]);
            }
            fflush(stdout);
        }
        if (write_experiment_json(c, plan, file, ilr_timer_elapsed(&t))) rc = ilr_last_error_code();
    }
    free(state), free(pid), free(started);
    if (rc) return rc;
    char took[32];
    ilr_format_duration(ilr_timer_elapsed(&t), took, sizeof took);
    if (stop_requested) {
        printf("experiment stopped after %s: %d of %d cells finished; run the same command again to continue\n", took,
               finished, n);
        return ILR_FAIL(ILR_EIO, "stopped by a signal");
    }
    printf("experiment %s: %d of %d cells finished, %d failed (%s)\n  %s/experiment.json\n  `ilr report %s` for "
           "the tables and charts\n",
           c->name, finished, n, failed, took, c->output_dir, c->output_dir);
    return failed ? ILR_FAIL(ILR_EINVAL, "%d cells failed: their logs are in %s/cells/", failed, c->output_dir) : 0;
}

int ilr_cmd_experiment(int argc, char **argv) {
    const char *path = NULL;
    int dry = 0, verbose = 0, num_overrides = 0;
    long long jobs = 0;
    char **overrides = calloc((size_t)argc + 1, sizeof *overrides);
    if (!overrides) return ilr_cli_usage_error("experiment", "out of memory");
    int status = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(experiment_help, stdout);
            status = 0;
            goto done;
        } else if (!strcmp(a, "--help-config")) {
            ilr_cfg_print_help(ilr_experiment_schema(), stdout);
            status = 0;
            goto done;
        } else if (!strcmp(a, "--dry-run")) {
            dry = 1;
        } else if (!strcmp(a, "--verbose") || !strcmp(a, "-v")) {
            verbose = 1;
        } else if (!strcmp(a, "--jobs")) {
            if (i + 1 >= argc) {
                status = ilr_cli_usage_error("experiment", "--jobs needs a number");
                goto done;
            }
            if ((status = ilr_cli_parse_long("experiment", "--jobs", argv[++i], 1, 256, &jobs))) goto done;
            status = 2;
        } else if (a[0] == '-') {
            status = ilr_cli_usage_error("experiment", "unknown option '%s'", a);
            goto done;
        } else if (strchr(a, '=')) {
            overrides[num_overrides++] = argv[i];
        } else if (!path) {
            path = a;
        } else {
            status = ilr_cli_usage_error("experiment", "one experiment file, not '%s' too (overrides are KEY=VALUE)", a);
            goto done;
        }
    }
    if (!path) {
        status = ilr_cli_usage_error("experiment", "give an experiment file (configs/experiment-world.yaml is one)");
        goto done;
    }
    ilr_experiment_config c;
    if (ilr_experiment_load(&c, path, overrides, num_overrides)) {
        status = ilr_cli_fail("experiment");
        goto done;
    }
    if (jobs) c.jobs = jobs;
    if (verbose && c.jobs > 1) {
        status = ilr_cli_usage_error("experiment", "--verbose shows one cell's console at a time: it needs jobs 1");
        ilr_experiment_free(&c);
        goto done;
    }
    show_console = verbose ? dup(STDOUT_FILENO) : -1;
    ilr_experiment_plan plan;
    if (ilr_experiment_plan_make(&c, &plan)) {
        status = ilr_cli_fail("experiment");
        ilr_experiment_free(&c);
        goto done;
    }
    if (dry) {
        dry_run(&c, &plan);
        status = 0;
    } else {
        char cells[4200], saved[4200];
        snprintf(cells, sizeof cells, "%s/cells", c.output_dir);
        snprintf(saved, sizeof saved, "%s/experiment.yaml", c.output_dir);
        struct sigaction sa = {0}, old_int, old_term;
        sa.sa_handler = on_stop; /* no SA_RESTART: waitpid returns to forward the signal */
        sigemptyset(&sa.sa_mask);
        stop_requested = 0;
        sigaction(SIGINT, &sa, &old_int);
        sigaction(SIGTERM, &sa, &old_term);
        int rc = find_self();
        if (!rc) rc = ilr_mkdir_p(cells);
        if (!rc) rc = ilr_cfg_save(ilr_experiment_schema(), &c, saved);
        if (!rc) rc = run_all(&c, &plan, path);
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGTERM, &old_term, NULL);
        status = rc ? (stop_requested ? 130 : ilr_cli_fail("experiment")) : 0;
    }
    ilr_experiment_plan_free(&plan);
    ilr_experiment_free(&c);
done:
    if (show_console >= 0) close(show_console), show_console = -1;
    free(overrides);
    return status;
}
