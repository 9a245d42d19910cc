/* The code-execution sandbox: HumanEval's 164 canonical solutions pass and wrong ones fail, MBPP's test split
 * reference solutions pass, and the hostile programs of tests/data/sandbox (fork bomb, endless loop, memory
 * bomb, a connect to a listener on 127.0.0.1, writes outside its directory, killing its parent, 100 MiB of
 * output) are contained and reported.  The rlimit/timeout/process-group/output layer is also tested alone
 * (no_namespaces), which is what still runs where bubblewrap cannot create namespaces. */
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ilr/error.h"
#include "ilr/json.h"
#include "ilr/code_program.h"
#include "ilr/reward.h"
#include "ilr/sandbox.h"
#include "test_util.h"

static double wall(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Skips the test (with the reason) where bubblewrap cannot create its namespaces. */
static int no_namespaces_here(void) {
    if (ilr_sandbox_check() == 0) return 0;
    print_message("skipped: %s\n", ilr_last_error());
    return 1;
}

/* tests/data/sandbox/NAME with @KEY@ replaced by value (one substitution pair, optional). */
static char *load_program(const char *name, const char *key, const char *value) {
    char path[256];
    snprintf(path, sizeof path, "tests/data/sandbox/%s", name);
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    char text[8192];
    size_t n = fread(text, 1, sizeof text - 1, fp);
    fclose(fp);
    text[n] = 0;
    char *out = malloc(2 * sizeof text);
    size_t o = 0;
    for (const char *p = text; *p;) {
        if (key && strncmp(p, key, strlen(key)) == 0) {
            memcpy(out + o, value, strlen(value));
            o += strlen(value), p += strlen(key);
        } else out[o++] = *p++;
    }
    out[o] = 0;
    return out;
}

/* Processes still running as uid (the sandbox uid of a run as root; -1 when not root). */
static int sandbox_processes_left(int want) {
    if (want < 0) return -1;
    DIR *d = opendir("/proc");
    assert_non_null(d);
    int count = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        char path[300], line[256];
        snprintf(path, sizeof path, "/proc/%s/status", e->d_name);
        FILE *fp = fopen(path, "r");
        if (!fp) continue;
        while (fgets(line, sizeof line, fp)) {
            int uid;
            if (sscanf(line, "Uid: %d", &uid) == 1) {
                if (uid == want) count++;
                break;
            }
        }
        fclose(fp);
    }
    closedir(d);
    return count;
}

static void run_source(const char *src, const ilr_sandbox_options *o, ilr_sandbox_result *r) {
    int rc = ilr_sandbox_run(src, strlen(src), o, r);
    if (rc) print_error("%s\n", ilr_last_error());
    assert_int_equal(rc, 0);
}

static void test_basic(void **state) {
    (void)state;
    if (no_namespaces_here()) skip();
    ilr_sandbox_result r;
    run_source("import os\nprint('hello', os.getcwd(), os.getpid())\n", NULL, &r);
    print_message("hello: %s seconds %.3f, stdout %s", ilr_sandbox_status_name(r.status), r.seconds, r.out);
    assert_int_equal(r.status, ILR_SANDBOX_PASSED);
    assert_int_equal(r.exit_code, 0);
    assert_false(r.unsafe);
    assert_string_equal(r.out, "hello /sandbox 2\n"); /* pid 2: its own pid namespace (bwrap's init is 1) */
    assert_int_equal(r.out_total, 17);
    ilr_sandbox_result_free(&r);
    run_source("import sys\nprint('bad', file=sys.stderr)\nsys.exit(3)\n", NULL, &r);
    assert_int_equal(r.status, ILR_SANDBOX_FAILED);
    assert_int_equal(r.exit_code, 3);
    assert_string_equal(r.err, "bad\n");
    ilr_sandbox_result_free(&r);
    run_source("def f(:\n", NULL, &r);
    assert_int_equal(r.status, ILR_SANDBOX_FAILED);
    assert_non_null(strstr(r.err, "SyntaxError"));
    ilr_sandbox_result_free(&r);
    run_source("assert 1 + 1 == 3\n", NULL, &r);
    assert_int_equal(r.status, ILR_SANDBOX_FAILED);
    assert_non_null(strstr(r.err, "AssertionError"));
    ilr_sandbox_result_free(&r);
    run_source("import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n", NULL, &r);
    assert_int_equal(r.status, ILR_SANDBOX_ERROR);
    assert_int_equal(r.signal, 11);
    ilr_sandbox_result_free(&r);
    ilr_sandbox_options bad = {.no_namespaces = 1};
    ILR_EXPECT_ERROR(ilr_sandbox_run("pass\n", 5, &bad, &r), ILR_EINVAL, "needs allow_unsafe");
}

/* ---- HumanEval ---- */

typedef struct {
    char **src;
    size_t *len;
    int n, cap;
    int *ids;
    int every, all; /* MBPP: every n-th task id, or all */
} programs;

/* Takes src (malloc'ed, len bytes) as program id. */
static void add_program(programs *p, char *src, size_t len, int id) {
    if (p->n == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 256;
        p->src = realloc(p->src, sizeof(char *) * (size_t)p->cap);
        p->len = realloc(p->len, sizeof(size_t) * (size_t)p->cap);
        p->ids = realloc(p->ids, sizeof(int) * (size_t)p->cap);
    }
    p->src[p->n] = src;
    p->len[p->n] = len;
    p->ids[p->n++] = id;
}

static void free_programs(programs *p) {
    for (int i = 0; i < p->n; i++) free(p->src[i]);
    free(p->src), free(p->len), free(p->ids);
}

/* HumanEval program ids: the problem number for canonical solutions, -1 - number for the wrong ones, and
 * CHAT + number for a chat model's answer (the whole function in a fenced block, after prose). */
enum { CHAT = 1000 };

static void add_humaneval(programs *p, const char *prompt, const char *completion, const char *test, const char *entry,
                          ilr_code_source want, int id) {
    size_t len;
    char *src = ilr_test_humaneval_program(prompt, completion, test, entry, (int)want, &len);
    add_program(p, src, len, id);
}

/* What a chat model writes: prose, then the function (signature + body, without the prompt's imports, helpers
 * or docstring) in a python block, then more prose. */
static char *chat_answer(const char *prompt, const char *entry, const char *body) {
    char def[64];
    snprintf(def, sizeof def, "def %s(", entry);
    const char *sig = strstr(prompt, def), *eol = sig ? strchr(sig, '\n') : NULL;
    assert_non_null(eol);
    size_t n = strlen(body) + (size_t)(eol - sig) + 128;
    char *text = malloc(n);
    snprintf(text, n, "Here is my solution.\n\n```python\n%.*s\n%s```\n\nIt passes the examples.", (int)(eol - sig),
             sig, body);
    return text;
}

static int collect_humaneval(json_t *line, int line_number, const char *name, void *user) {
    programs *p = user;
    const char *prompt, *solution, *test, *entry;
    if (ilr_json_get_string(line, "prompt", 1, name, &prompt) || ilr_json_get_string(line, "canonical_solution", 1, name, &solution) ||
        ilr_json_get_string(line, "test", 1, name, &test) || ilr_json_get_string(line, "entry_point", 1, name, &entry))
        return ilr_last_error_code();
    int id = line_number - 1;
    add_humaneval(p, prompt, solution, test, entry, ILR_CODE_TEXT, id);
    /* and a deliberately wrong solution for the first 8 problems */
    if (id < 8) add_humaneval(p, prompt, "    return None\n", test, entry, ILR_CODE_TEXT, -1 - id);
    /* the chat form for every 10th problem and the four whose prompts define helper functions */
    if (id % 10 == 0 || id == 10 || id == 32 || id == 38 || id == 50) {
        char *chat = chat_answer(prompt, entry, solution);
        add_humaneval(p, prompt, chat, test, entry, ILR_CODE_FENCED_PYTHON, CHAT + id);
        free(chat);
    }
    return 0;
}

static int workers(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 4 : (int)(2 * n < 8 ? 8 : 2 * n);
}

static void test_humaneval(void **state) {
    (void)state;
    if (no_namespaces_here()) skip();
    const char *data = ilr_test_shared_data();
    if (!data) {
        print_message("skipped: no ../shared/data (set ILR_SHARED_DATA)\n");
        skip();
    }
    char dir[256], gz[1200], path[512];
    snprintf(gz, sizeof gz, "%s/benchmarks/humaneval/HumanEval.jsonl.gz", data);
    if (access(gz, R_OK) != 0) {
        print_message("skipped: %s is missing\n", gz);
        skip();
    }
    ilr_test_tmpdir(dir, "humaneval");
    snprintf(path, sizeof path, "%s/HumanEval.jsonl", dir);
    char cmd[2000];
    snprintf(cmd, sizeof cmd, "gzip -dc '%s' > '%s'", gz, path); /* fixed paths of ours, not untrusted input */
    assert_int_equal(system(cmd), 0);
    programs p = {0};
    assert_int_equal(ilr_jsonl_read(path, collect_humaneval, &p), 0);
    int chat_count = 17 + 2; /* ids 0, 10, ..., 160, and 32, 38 */
    assert_int_equal(p.n, 164 + 8 + chat_count);
    ilr_sandbox_result *res = calloc((size_t)p.n, sizeof *res);
    ilr_sandbox_options o = {.timeout_s = 20};
    double t0 = wall();
    assert_int_equal(ilr_sandbox_run_many((const char *const *)p.src, p.len, p.n, workers(), &o, res), 0);
    double secs = wall() - t0;
    int passed = 0, wrong_failed = 0, canonical = 0, chat_passed = 0;
    for (int i = 0; i < p.n; i++) {
        int id = p.ids[i];
        if (id >= CHAT) {
            if (res[i].status == ILR_SANDBOX_PASSED) chat_passed++;
            else print_error("HumanEval/%d chat form: %s %s\n", id - CHAT, ilr_sandbox_status_name(res[i].status), res[i].err);
        } else if (id >= 0) {
            canonical++;
            if (res[i].status == ILR_SANDBOX_PASSED) passed++;
            else print_error("HumanEval/%d canonical: %s %s\n", id, ilr_sandbox_status_name(res[i].status), res[i].err);
        } else {
            if (res[i].status == ILR_SANDBOX_FAILED && strstr(res[i].err, "Error")) wrong_failed++;
            else print_error("HumanEval/%d wrong solution: %s\n", -id - 1, ilr_sandbox_status_name(res[i].status));
        }
        ilr_sandbox_result_free(&res[i]);
    }
    print_message("HumanEval: %d/%d canonical solutions pass, %d/8 wrong ones fail, %d/%d in a chat model's form "
                  "(whole function in a python block, helpers from the prompt) pass; %d programs in %.2f s on %d "
                  "workers = %.1f programs/s\n",
                  passed, canonical, wrong_failed, chat_passed, chat_count, p.n, secs, workers(), p.n / secs);
    assert_int_equal(canonical, 164);
    assert_int_equal(passed, 164);
    assert_int_equal(wrong_failed, 8);
    assert_int_equal(chat_passed, chat_count);
    free(res);
    free_programs(&p);
    ilr_test_rmtree(dir);
}

/* ---- MBPP (test split: task ids 11..510) ---- */

static int collect_mbpp(json_t *line, int line_number, const char *name, void *user) {
    programs *p = user;
    int64_t id;
    const char *code, *setup = "";
    if (ilr_json_get_int(line, "task_id", 1, name, 0, 100000, &id) || ilr_json_get_string(line, "code", 1, name, &code) ||
        ilr_json_get_string(line, "test_setup_code", 0, name, &setup) < 0)
        return ilr_last_error_code();
    if (id < 11 || id > 510) return 0;
    if (id % p->every != 0 && !p->all && id != 367) return 0; /* 367: its setup uses the code's class */
    json_t *tests = json_object_get(line, "test_list");
    assert_true(json_is_array(tests));
    const char *asserts[16];
    int n = 0;
    size_t i;
    json_t *t;
    json_array_foreach(tests, i, t) {
        assert_true(json_is_string(t) && n < 16);
        asserts[n++] = json_string_value(t);
    }
    char *src;
    size_t len;
    ilr_code_source source;
    assert_int_equal(ilr_code_program_mbpp(code, strlen(code), setup, asserts, n, &src, &len, &source), 0);
    assert_int_equal(source, ILR_CODE_TEXT);
    add_program(p, src, len, (int)id); /* setup after code: task 367's uses its class */
    (void)line_number;
    return 0;
}

static void test_mbpp(void **state) {
    (void)state;
    if (no_namespaces_here()) skip();
    const char *data = ilr_test_shared_data();
    char path[1200];
    snprintf(path, sizeof path, "%s/benchmarks/mbpp/mbpp.jsonl", data ? data : ".");
    if (!data || access(path, R_OK) != 0) {
        print_message("skipped: %s is missing\n", path);
        skip();
    }
    /* all 500 take about 25 s on 2 cores: by default every 5th task id and 367, ILR_SANDBOX_FULL=1 for all */
    const char *full = getenv("ILR_SANDBOX_FULL");
    programs p = {.every = 5, .all = full && strcmp(full, "1") == 0};
    assert_int_equal(ilr_jsonl_read(path, collect_mbpp, &p), 0);
    int want = p.all ? 500 : 101;
    assert_int_equal(p.n, want);
    ilr_sandbox_result *res = calloc((size_t)p.n, sizeof *res);
    ilr_sandbox_options o = {.timeout_s = 20};
    double t0 = wall();
    assert_int_equal(ilr_sandbox_run_many((const char *const *)p.src, p.len, p.n, workers(), &o, res), 0);
    double secs = wall() - t0;
    int passed = 0;
    char failing[512] = "";
    for (int i = 0; i < p.n; i++) {
        if (res[i].status == ILR_SANDBOX_PASSED) passed++;
        else {
            size_t k = strlen(failing);
            snprintf(failing + k, sizeof failing - k, " %d(%s)", p.ids[i], ilr_sandbox_status_name(res[i].status));
        }
        ilr_sandbox_result_free(&res[i]);
    }
    print_message("MBPP test split%s: %d/%d reference solutions pass their test_list in %.2f s (%.1f programs/s); "
                  "failing:%s\n", p.all ? "" : " (every 5th task id and 367; ILR_SANDBOX_FULL=1 runs all 500)", passed, want,
                  secs, p.n / secs, passed == want ? " none" : failing);
    assert_int_equal(passed, want);
    free(res);
    free_programs(&p);
}

/* ---- the code reward: completions against their tests, with known verdicts ---- */

static void test_code_reward(void **state) {
    (void)state;
    if (no_namespaces_here()) skip();
    static const char *const asserts[] = {"assert sq(3) == 9", "assert sq(-2) == 4"};
    ilr_code_tests add = {.kind = ILR_CODE_TESTS_HUMANEVAL,
                          .prompt = "def add(a, b):\n    \"\"\"The sum of a and b.\"\"\"\n",
                          .test = "def check(candidate):\n    assert candidate(2, 3) == 5\n",
                          .entry_point = "add"};
    ilr_code_tests sq = {.kind = ILR_CODE_TESTS_MBPP, .asserts = asserts, .n_asserts = 2};
    static const struct {
        const char *what, *completion;
        int mbpp, correct, formatted, ran;
        ilr_sandbox_status status;
        const char *detail;
    } cases[] = {
        {"base model body", "    return a + b\n", 0, 1, 0, 1, ILR_SANDBOX_PASSED, ""},
        {"chat: whole function", "Sure:\n```python\ndef add(a, b):\n    return a + b\n```\n", 0, 1, 1, 1, ILR_SANDBOX_PASSED,
         ""},
        {"chat: wrong function", "```python\ndef add(a, b):\n    return a - b\n```", 0, 0, 1, 1, ILR_SANDBOX_FAILED,
         "AssertionError"},
        {"prose, no fence", "I cannot solve this.", 0, 0, 0, 1, ILR_SANDBOX_FAILED, "SyntaxError"}, /* run as code */
        {"chat: endless loop", "```py\ndef add(a, b):\n    while True:\n        pass\n```", 0, 0, 1, 1,
         ILR_SANDBOX_TIMEOUT, "timeout"},
        {"empty", "", 0, 0, 0, 0, ILR_SANDBOX_PASSED, "no code"},
        {"empty python block", "```python\n```", 0, 0, 0, 0, ILR_SANDBOX_PASSED, "no code"},
        {"MBPP: bare code", "def sq(x):\n    return x * x\n", 1, 1, 0, 1, ILR_SANDBOX_PASSED, ""},
        {"MBPP: wrong", "```python\ndef sq(x):\n    return x + x\n```", 1, 0, 1, 1, ILR_SANDBOX_FAILED, "AssertionError"},
        {"MBPP: NameError", "```python\ndef sq(x):\n    return y\n```", 1, 0, 1, 1, ILR_SANDBOX_FAILED,
         "NameError: name 'y' is not defined"},
    };
    enum { N = sizeof cases / sizeof *cases };
    const char *completions[N];
    size_t lens[N];
    const ilr_code_tests *tests[N];
    for (int i = 0; i < N; i++) {
        completions[i] = cases[i].completion, lens[i] = strlen(cases[i].completion);
        tests[i] = cases[i].mbpp ? &sq : &add;
    }
    ilr_reward_code_options o;
    ilr_reward_code_options_default(&o);
    o.sandbox.timeout_s = 1.5, o.sandbox.cpu_s = 0;
    ilr_sandbox_options_default(&o.sandbox);
    ilr_reward_code_result r[N];
    double t0 = wall();
    assert_int_equal(ilr_reward_code_many(completions, lens, tests, N, &o, r), 0);
    print_message("code reward: %d completions in %.2f s on %d workers\n", N, wall() - t0, o.workers);
    for (int i = 0; i < N; i++) {
        print_message("  %-22s -> reward %.1f (correct %d, formatted %d, %s, %s) %s\n", cases[i].what, r[i].reward,
                      r[i].correct, r[i].formatted, ilr_code_source_name(r[i].source),
                      r[i].ran ? ilr_sandbox_status_name(r[i].status) : "not run", r[i].detail);
        assert_int_equal(r[i].correct, cases[i].correct);
        assert_int_equal(r[i].formatted, cases[i].formatted);
        assert_int_equal(r[i].ran, cases[i].ran);
        if (r[i].ran) assert_int_equal(r[i].status, cases[i].status);
        assert_true(r[i].reward == cases[i].correct + 0.1 * cases[i].formatted);
        if (cases[i].detail[0]) assert_non_null(strstr(r[i].detail, cases[i].detail));
        else assert_string_equal(r[i].detail, "");
    }
    /* bad arguments fail before anything runs */
    ilr_code_tests bad = add;
    bad.entry_point = "not an identifier";
    const ilr_code_tests *bad_tests[] = {&add, &bad};
    ILR_EXPECT_ERROR(ilr_reward_code_many(completions, lens, bad_tests, 2, NULL, r), ILR_EINVAL, "not a Python identifier");
    ILR_EXPECT_ERROR(ilr_reward_code_many(completions, NULL, tests, 2, NULL, r), ILR_EINVAL, "NULL");
    const ilr_code_tests *null_tests[] = {&add, NULL};
    ILR_EXPECT_ERROR(ilr_reward_code_many(completions, lens, null_tests, 2, NULL, r), ILR_EINVAL, "completion 1");
    assert_int_equal(ilr_reward_code_many(NULL, NULL, NULL, 0, NULL, NULL), 0);
}

/* ---- hostile programs ---- */

static ilr_sandbox_result run_hostile(const char *file, const char *key, const char *value, ilr_sandbox_options o) {
    char *src = load_program(file, key, value);
    ilr_sandbox_result r;
    double t0 = wall();
    run_source(src, &o, &r);
    free(src);
    print_message("%-18s%s: %s exit %d signal %d in %.2f s, stdout %zu/%zu bytes kept: %.120s\n", file,
                  r.unsafe ? " (no namespaces)" : "", ilr_sandbox_status_name(r.status), r.exit_code, r.signal,
                  wall() - t0, r.out_len, r.out_total, r.out);
    assert_true(r.uid == (geteuid() == 0 ? r.uid : -1));
    if (geteuid() == 0) assert_true(r.uid >= ILR_SANDBOX_UID_BASE && r.uid < ILR_SANDBOX_UID_BASE + ILR_SANDBOX_UID_COUNT);
    int left = sandbox_processes_left(r.uid);
    if (left > 0) print_error("%d sandbox processes still running after %s\n", left, file);
    assert_true(left <= 0);
    return r;
}

static void fork_bomb_and_loop(ilr_sandbox_options o) {
    o.timeout_s = 1.5;
    ilr_sandbox_result r = run_hostile("fork_bomb.py", NULL, NULL, o);
    assert_int_equal(r.status, ILR_SANDBOX_TIMEOUT);
    assert_true(r.seconds >= 1.5 && r.seconds < 4);
    ilr_sandbox_result_free(&r);
    o.timeout_s = 1;
    r = run_hostile("infinite_loop.py", NULL, NULL, o);
    assert_int_equal(r.status, ILR_SANDBOX_TIMEOUT);
    assert_int_equal(r.signal, 9);
    assert_true(r.seconds >= 1 && r.seconds < 2.5);
    ilr_sandbox_result_free(&r);
    o.timeout_s = 10, o.cpu_s = 1; /* the CPU limit ends it first: SIGXCPU */
    r = run_hostile("infinite_loop.py", NULL, NULL, o);
    assert_int_equal(r.status, ILR_SANDBOX_TIMEOUT);
    assert_int_equal(r.signal, 24);
    assert_true(r.seconds < 4);
    ilr_sandbox_result_free(&r);
}

static void memory_and_output(ilr_sandbox_options o) {
    o.memory_mb = 256;
    ilr_sandbox_result r = run_hostile("memory_bomb.py", NULL, NULL, o);
    assert_int_equal(r.status, ILR_SANDBOX_FAILED);
    assert_string_equal(r.out, "64 GiB at once: MemoryError\n");
    assert_non_null(strstr(r.err, "MemoryError"));
    ilr_sandbox_result_free(&r);
    o.memory_mb = 0, o.max_output = 4096;
    r = run_hostile("big_output.py", NULL, NULL, o);
    assert_int_equal(r.status, ILR_SANDBOX_PASSED);
    assert_int_equal(r.out_len, 4096);
    assert_int_equal(r.out_total, (size_t)100 << 20);
    assert_int_equal(r.err_len, 4096);
    assert_int_equal(r.err_total, (size_t)1 << 20);
    assert_int_equal(strspn(r.out, "x"), 4096);
    assert_int_equal(strlen(r.out), 4096);
    ilr_sandbox_result_free(&r);
}

static void test_hostile(void **state) {
    (void)state;
    if (no_namespaces_here()) skip();
    ilr_sandbox_options o = {0};
    fork_bomb_and_loop(o);
    memory_and_output(o);

    /* the network: a listener on this machine's loopback never sees a connection */
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(lfd >= 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof addr;
    assert_int_equal(bind(lfd, (struct sockaddr *)&addr, sizeof addr), 0);
    assert_int_equal(listen(lfd, 4), 0);
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&addr, &alen), 0);
    char port[16];
    snprintf(port, sizeof port, "%d", ntohs(addr.sin_port));
    ilr_sandbox_result r = run_hostile("connect.py", "@PORT@", port, o);
    assert_int_equal(r.status, ILR_SANDBOX_PASSED);
    assert_non_null(strstr(r.out, "blocked: ConnectionRefusedError"));
    assert_null(strstr(r.out, "CONNECTED"));
    struct pollfd pf = {.fd = lfd, .events = POLLIN};
    assert_int_equal(poll(&pf, 1, 0), 0); /* nothing is waiting to be accepted */
    close(lfd);
    ilr_sandbox_result_free(&r);

    /* writes outside its directory: the canary in the project survives */
    char cwd[512], canary[700];
    assert_non_null(getcwd(cwd, sizeof cwd));
    snprintf(canary, sizeof canary, "%s/build/sandbox-canary-%d.txt", cwd, (int)getpid());
    FILE *fp = fopen(canary, "w");
    assert_non_null(fp);
    fputs("canary\n", fp);
    fclose(fp);
    r = run_hostile("write_outside.py", "@CANARY@", canary, o);
    assert_int_equal(r.status, ILR_SANDBOX_PASSED);
    assert_null(strstr(r.out, "WROTE"));
    assert_null(strstr(r.out, "REMOVED"));
    char got[64] = "";
    fp = fopen(canary, "r");
    assert_non_null(fp);
    assert_non_null(fgets(got, sizeof got, fp));
    fclose(fp);
    assert_string_equal(got, "canary\n");
    assert_int_equal(access("/usr/ilr_sandbox_probe", F_OK), -1);
    ilr_sandbox_result_free(&r);

    /* killing its parent: pid 1 of its own namespace ignores it, and nothing outside is reachable */
    r = run_hostile("kill_parent.py", NULL, NULL, o);
    assert_int_equal(r.status, ILR_SANDBOX_PASSED);
    assert_non_null(strstr(r.out, "still here"));
    ilr_sandbox_result_free(&r);
    /* and the sandbox still works afterwards */
    run_source("print(6 * 7)\n", NULL, &r);
    assert_string_equal(r.out, "42\n");
    ilr_sandbox_result_free(&r);
    remove(canary);
}

/* The rlimit / timeout / process-group / output layer without namespaces (what allow_unsafe falls back to). */
static void test_without_namespaces(void **state) {
    (void)state;
    ilr_sandbox_options o = {.allow_unsafe = 1, .no_namespaces = 1};
    ilr_sandbox_result r;
    run_source("print('unsafe')\n", &o, &r);
    assert_int_equal(r.status, ILR_SANDBOX_PASSED);
    assert_true(r.unsafe);
    assert_string_equal(r.out, "unsafe\n");
    ilr_sandbox_result_free(&r);
    if (geteuid() != 0) {
        /* without a uid of its own RLIMIT_NPROC counts all of this user's processes and the program could
         * signal this one: only the harmless parts */
        o.timeout_s = 1;
        r = run_hostile("infinite_loop.py", NULL, NULL, o);
        assert_int_equal(r.status, ILR_SANDBOX_TIMEOUT);
        ilr_sandbox_result_free(&r);
        memory_and_output(o);
        return;
    }
    fork_bomb_and_loop(o);
    memory_and_output(o);
    r = run_hostile("kill_parent.py", NULL, NULL, o);
    assert_int_equal(r.status, ILR_SANDBOX_PASSED);
    assert_non_null(strstr(r.out, "refused"));
    assert_non_null(strstr(r.out, "PermissionError"));
    assert_non_null(strstr(r.out, "still here"));
    ilr_sandbox_result_free(&r);
}

static void test_cli(void **state) {
    (void)state;
    if (no_namespaces_here()) skip();
    char dir[256], file[256], out[8192];
    ilr_test_tmpdir(dir, "sandbox-cli");
    static const char prog[] = "import sys\nprint('caf\\u00e9')\nsys.stdout.flush()\nsys.stdout.buffer.write(b'\\xff\\n')\nsys.exit(2)\n";
    ilr_test_write_file(file, dir, "p.py", prog, sizeof prog - 1);
    char *argv[] = {"ilr", "sandbox", "run", file, "--timeout", "5", "--memory", "512", NULL};
    assert_int_equal(ilr_test_run_cli(out, sizeof out, 8, argv), 0);
    print_message("ilr sandbox run: %s", out);
    json_t *j;
    assert_int_equal(ilr_json_parse(out, strlen(out), "cli output", &j), 0);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "failed");
    assert_int_equal(json_integer_value(json_object_get(j, "exit_code")), 2);
    assert_string_equal(json_string_value(json_object_get(j, "stdout")), "caf\xc3\xa9\n\xef\xbf\xbd\n");
    assert_int_equal(json_integer_value(json_object_get(j, "stdout_bytes")), 8);
    json_decref(j);
    char *bad[] = {"ilr", "sandbox", "run", file, "--timeout", "-1", NULL};
    assert_int_equal(ilr_test_run_cli(out, sizeof out, 6, bad), 2);
    assert_non_null(strstr(out, "--timeout"));
    char *missing[] = {"ilr", "sandbox", "run", NULL};
    assert_int_equal(ilr_test_run_cli(out, sizeof out, 3, missing), 2);
    char *nofile[] = {"ilr", "sandbox", "run", "/nonexistent/x.py", NULL};
    assert_int_equal(ilr_test_run_cli(out, sizeof out, 4, nofile), 1);
    assert_non_null(strstr(out, "/nonexistent/x.py"));
    ilr_test_rmtree(dir);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_basic),   cmocka_unit_test(test_humaneval),          cmocka_unit_test(test_mbpp),
    cmocka_unit_test(test_code_reward),
    cmocka_unit_test(test_hostile), cmocka_unit_test(test_without_namespaces), cmocka_unit_test(test_cli),
};

ILR_TEST_GROUP(sandbox, tests)
