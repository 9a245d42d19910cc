/* Running untrusted Python under bubblewrap with rlimits, a wall-clock deadline and bounded output.
 * See include/ilr/sandbox.h. */
#include "ilr/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ilr/error.h"

#define PYTHON "/usr/bin/python3"
#define SANDBOX_DIR "/sandbox"

void ilr_sandbox_options_default(ilr_sandbox_options *o) {
    if (o->timeout_s <= 0) o->timeout_s = 10;
    if (o->memory_mb <= 0) o->memory_mb = 1024;
    if (o->cpu_s <= 0) o->cpu_s = (int)ceil(o->timeout_s) + 1;
    if (o->max_output == 0) o->max_output = 64 << 10;
    if (o->max_procs <= 0) o->max_procs = 32;
    if (o->max_files <= 0) o->max_files = 64;
    if (o->file_mb <= 0) o->file_mb = 16;
}

const char *ilr_sandbox_status_name(ilr_sandbox_status s) {
    static const char *names[] = {"passed", "failed", "timeout", "error"};
    return (unsigned)s < 4 ? names[s] : "?";
}

void ilr_sandbox_result_free(ilr_sandbox_result *res) {
    free(res->out);
    free(res->err);
    res->out = res->err = NULL;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- uids: one per running program when ilr is root, unique across processes ----
 * A uid is taken by holding an flock on UID_LOCK_DIR/<uid> (root-only directory) for the run, so that two ilr
 * processes never share a uid: they would share its RLIMIT_NPROC count, and one's clean-up would kill the
 * other's programs. */

#define UID_LOCK_DIR "/tmp/ilr-sandbox-uids"

static pthread_mutex_t uid_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned uid_next;

/* Returns the uid and sets *lock_fd, or -1 (no uid switching: not root). */
static int uid_acquire(int *lock_fd) {
    *lock_fd = -1;
    if (geteuid() != 0) return -1;
    mkdir(UID_LOCK_DIR, 0700);
    pthread_mutex_lock(&uid_lock);
    unsigned start = uid_next++ + (unsigned)getpid() * 97u;
    pthread_mutex_unlock(&uid_lock);
    for (int attempt = 0;; attempt++) {
        for (unsigned i = 0; i < ILR_SANDBOX_UID_COUNT; i++) {
            int uid = ILR_SANDBOX_UID_BASE + (int)((start + i) % ILR_SANDBOX_UID_COUNT);
            char path[64];
            snprintf(path, sizeof path, UID_LOCK_DIR "/%d", uid);
            int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
            if (fd < 0) continue;
            if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
                *lock_fd = fd;
                return uid;
            }
            close(fd);
        }
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL); /* all taken: wait for one */
    }
}

static void uid_release(int lock_fd) {
    if (lock_fd >= 0) close(lock_fd); /* drops the flock */
}

/* ---- the bubblewrap command line (fixed strings only: the program is a file in the working directory) ---- */

static const char *bwrap_path;
static char link_target[4][64];
static const char *sys_args[32];
static int n_sys_args;

static void find_system(void) {
    static const char *cands[] = {"/usr/bin/bwrap", "/bin/bwrap", "/usr/local/bin/bwrap"};
    for (size_t i = 0; i < sizeof cands / sizeof cands[0] && !bwrap_path; i++)
        if (access(cands[i], X_OK) == 0) bwrap_path = cands[i];
    static const char *tops[4] = {"/bin", "/sbin", "/lib", "/lib64"};
    const char **a = sys_args;
    *a++ = "--ro-bind";
    *a++ = "/usr";
    *a++ = "/usr";
    *a++ = "--ro-bind-try";
    *a++ = "/etc";
    *a++ = "/etc";
    for (int i = 0; i < 4; i++) {
        struct stat st;
        if (lstat(tops[i], &st) != 0) continue;
        ssize_t k;
        if (S_ISLNK(st.st_mode) && (k = readlink(tops[i], link_target[i], sizeof link_target[i] - 1)) > 0) {
            link_target[i][k] = 0;
            *a++ = "--symlink", *a++ = link_target[i], *a++ = tops[i];
        } else {
            *a++ = "--ro-bind", *a++ = tops[i], *a++ = tops[i];
        }
    }
    n_sys_args = (int)(a - sys_args);
}

static pthread_once_t system_once = PTHREAD_ONCE_INIT;

/* ---- spawning ----
 *
 * ilr forks a reaper R that stays with ilr's uid, in a session of its own, as a child subreaper.  R forks the
 * program P (bwrap, or python3 without namespaces) into a process group of its own, P sets the rlimits and
 * drops to the run's uid, and execs.  R enforces the deadline (SIGKILL to P's group), and once P has ended
 * kills whatever is left (P's group; when root, every process of the run's uid) and reaps every descendant,
 * zombies included (orphans come to R, not to pid 1, which may reap slowly: a zombie still counts for the
 * uid's RLIMIT_NPROC).  R then writes P's wait status to a pipe and exits.  ilr reads stdout and stderr
 * meanwhile and waits for R (killing it only if it outlives the deadline by REAPER_GRACE_S). */

#define REAPER_GRACE_S 5.0

typedef struct {
    const char *const *argv;
    const char *cwd; /* chdir here before exec (no namespaces), or NULL */
    const ilr_sandbox_options *opt;
    int uid;         /* setresuid to this (and gid) when >= 0 */
} spawn_spec;

typedef struct {
    int status, ended, timed_out;
    double seconds;
} reaper_report;

static void set_limit(int resource, rlim_t soft, rlim_t hard) {
    struct rlimit r = {soft, hard};
    setrlimit(resource, &r);
}

static void say(const char *msg) { (void)!write(2, msg, strlen(msg)); }

/* In P: only async-signal-safe calls until exec. */
static void program_exec(const spawn_spec *s) {
    static char *const envp[] = {"PATH=/usr/bin:/bin", "HOME=" SANDBOX_DIR, "LANG=C.UTF-8", NULL};
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    const ilr_sandbox_options *o = s->opt;
    set_limit(RLIMIT_CPU, (rlim_t)o->cpu_s, (rlim_t)o->cpu_s + 1);
    set_limit(RLIMIT_AS, (rlim_t)o->memory_mb << 20, (rlim_t)o->memory_mb << 20);
    set_limit(RLIMIT_FSIZE, (rlim_t)o->file_mb << 20, (rlim_t)o->file_mb << 20);
    set_limit(RLIMIT_NOFILE, (rlim_t)o->max_files, (rlim_t)o->max_files);
    set_limit(RLIMIT_NPROC, (rlim_t)o->max_procs, (rlim_t)o->max_procs);
    set_limit(RLIMIT_CORE, 0, 0);
    if (s->uid >= 0 && (syscall(SYS_setgroups, 0, NULL) != 0 || syscall(SYS_setresgid, s->uid, s->uid, s->uid) != 0 ||
                        syscall(SYS_setresuid, s->uid, s->uid, s->uid) != 0)) {
        say("ilr sandbox: could not drop to the sandbox uid\n");
        _exit(126);
    }
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    if (s->cwd && chdir(s->cwd) != 0) _exit(126);
    execve(s->argv[0], (char *const *)s->argv, envp);
    say("ilr sandbox: exec failed\n");
    _exit(127);
}

/* Sends SIGKILL to every process of uid (a short-lived child that takes the uid). */
static void kill_uid(int uid) {
    pid_t k = fork();
    if (k == 0) {
        if (syscall(SYS_setresgid, uid, uid, uid) == 0 && syscall(SYS_setresuid, uid, uid, uid) == 0) kill(-1, SIGKILL);
        _exit(0);
    }
}

/* R: report_fd is where P's status goes. */
static void reaper(const spawn_spec *s, int out_fd, int err_fd, int report_fd) {
    setsid();
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    sigaction(SIGCHLD, &dfl, NULL);
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd >= 0) dup2(null_fd, 0);
    dup2(out_fd, 1);
    dup2(err_fd, 2);
    dup2(report_fd, 3);
#ifdef SYS_close_range
    if (syscall(SYS_close_range, 4, ~0U, 0) != 0)
#endif
        for (int fd = 4; fd < 4096; fd++) close(fd);
    double t0 = now_s(), deadline = t0 + s->opt->timeout_s;
    pid_t p = fork();
    if (p == 0) {
        close(3);
        sigprocmask(SIG_UNBLOCK, &chld, NULL);
        program_exec(s);
    }
    reaper_report rep = {.status = 0};
    if (p < 0) {
        say("ilr sandbox: fork failed\n");
        _exit(125);
    }
    setpgid(p, p);
    close(1), close(2); /* only P and its descendants hold the output pipes now */
    for (;;) {
        int st;
        pid_t w;
        while ((w = waitpid(-1, &st, WNOHANG)) > 0)
            if (w == p) {
                rep.status = st, rep.ended = 1, rep.seconds = now_s() - t0;
                kill(-p, SIGKILL);
            }
        if (w < 0 && errno == ECHILD) break;
        double now = now_s();
        if (!rep.ended && !rep.timed_out && now >= deadline) {
            rep.timed_out = 1;
            kill(-p, SIGKILL);
            kill(p, SIGKILL);
        }
        if (rep.ended || rep.timed_out) {
            kill(-p, SIGKILL);
            if (s->uid >= 0) kill_uid(s->uid);
            if (now > deadline + REAPER_GRACE_S - 1) break; /* descendants that left P's group, not root: give up */
        }
        double wait = rep.ended || rep.timed_out ? 0.002 : deadline - now;
        if (wait > 0.5) wait = 0.5;
        if (wait < 0.001) wait = 0.001;
        struct timespec ts = {(time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9)};
        sigtimedwait(&chld, NULL, &ts);
    }
    if (!rep.ended) rep.seconds = now_s() - t0;
    (void)!write(3, &rep, sizeof rep);
    _exit(0);
}

typedef struct {
    char *buf;
    size_t len, cap, total;
    int fd;
} capture;

/* Reads what is there without blocking; closes fd at end of file. */
static void drain(capture *c) {
    char chunk[65536];
    for (;;) {
        ssize_t k = read(c->fd, chunk, sizeof chunk);
        if (k > 0) {
            size_t keep = c->cap - c->len < (size_t)k ? c->cap - c->len : (size_t)k;
            memcpy(c->buf + c->len, chunk, keep);
            c->len += keep;
            c->total += (size_t)k;
            continue;
        }
        if (k < 0 && errno == EINTR) continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        close(c->fd);
        c->fd = -1;
        return;
    }
}

static void decode_status(ilr_sandbox_result *res, const reaper_report *rep, int bwrapped) {
    res->exit_code = -1;
    res->signal = 0;
    int status = rep->status;
    if (rep->ended && WIFEXITED(status)) {
        res->exit_code = WEXITSTATUS(status);
        /* bubblewrap reports a program killed by signal s as exit status 128 + s */
        if (bwrapped && res->exit_code > 128 && res->exit_code <= 128 + 64) res->signal = res->exit_code - 128;
    } else if (rep->ended && WIFSIGNALED(status)) {
        res->signal = WTERMSIG(status);
    } else if (rep->timed_out) {
        res->signal = SIGKILL;
    }
    if (rep->timed_out || res->signal == SIGXCPU) res->status = ILR_SANDBOX_TIMEOUT;
    else if (res->signal) res->status = ILR_SANDBOX_ERROR;
    else if (res->exit_code == 0) res->status = ILR_SANDBOX_PASSED;
    else if ((bwrapped && strncmp(res->err, "bwrap: ", 7) == 0) || res->exit_code >= 125 || res->exit_code < 0)
        res->status = ILR_SANDBOX_ERROR; /* the sandbox itself did not start */
    else res->status = ILR_SANDBOX_FAILED;
}

/* Forks R, reads the output while it runs, waits: fills res; returns 0 or ILR_EIO. */
static int spawn_and_wait(const spawn_spec *spec, ilr_sandbox_result *res, int bwrapped) {
    const ilr_sandbox_options *o = spec->opt;
    int po[2] = {-1, -1}, pe[2] = {-1, -1}, pr[2] = {-1, -1};
    if (pipe2(po, O_CLOEXEC) != 0 || pipe2(pe, O_CLOEXEC) != 0 || pipe2(pr, O_CLOEXEC) != 0) {
        int e = errno;
        for (int i = 0; i < 2; i++) close(po[i]), close(pe[i]), close(pr[i]);
        return ILR_FAIL(ILR_EIO, "sandbox: pipe: %s", strerror(e));
    }
    capture cap[2] = {{malloc(o->max_output + 1), 0, o->max_output, 0, po[0]},
                      {malloc(o->max_output + 1), 0, o->max_output, 0, pe[0]}};
    pid_t r = fork();
    if (r == 0) reaper(spec, po[1], pe[1], pr[1]);
    int fork_errno = errno;
    close(po[1]), close(pe[1]), close(pr[1]);
    if (r < 0) {
        close(po[0]), close(pe[0]), close(pr[0]), free(cap[0].buf), free(cap[1].buf);
        return ILR_FAIL(ILR_EIO, "sandbox: fork: %s", strerror(fork_errno));
    }
    for (int i = 0; i < 2; i++) fcntl(cap[i].fd, F_SETFL, fcntl(cap[i].fd, F_GETFL) | O_NONBLOCK);
    int pidfd = (int)syscall(SYS_pidfd_open, r, 0);
    double t0 = now_s(), last = t0 + o->timeout_s + REAPER_GRACE_S;
    int reaped = 0, status;
    while (!reaped) {
        if (waitpid(r, &status, WNOHANG) == r) {
            reaped = 1;
            break;
        }
        double now = now_s();
        if (now > last) { /* R itself is stuck: should not happen */
            kill(r, SIGKILL);
            waitpid(r, &status, 0);
            reaped = 1;
            break;
        }
        struct pollfd pf[3];
        int n = 0;
        for (int i = 0; i < 2; i++)
            if (cap[i].fd >= 0) pf[n++] = (struct pollfd){.fd = cap[i].fd, .events = POLLIN};
        if (pidfd >= 0) pf[n++] = (struct pollfd){.fd = pidfd, .events = POLLIN};
        double wait = pidfd >= 0 ? last - now : 0.01;
        if (poll(pf, (nfds_t)n, (int)ceil(wait * 1000)) < 0 && errno != EINTR) {
            kill(r, SIGKILL); /* cannot watch it: end it */
            waitpid(r, &status, 0);
            reaped = 1;
        }
        for (int i = 0; i < 2; i++)
            if (cap[i].fd >= 0) drain(&cap[i]);
    }
    /* every writer is gone (R reaped all of P's descendants); read what is left */
    double stop = now_s() + 0.5; /* (a writer that escaped R, without root: stop reading after 0.5 s) */
    for (int i = 0; i < 2; i++) {
        struct pollfd pf = {.fd = cap[i].fd, .events = POLLIN};
        while (cap[i].fd >= 0 && now_s() < stop && poll(&pf, 1, 100) > 0) drain(&cap[i]);
        if (cap[i].fd >= 0) close(cap[i].fd);
        cap[i].buf[cap[i].len] = 0;
    }
    if (pidfd >= 0) close(pidfd);
    reaper_report rep = {.status = 0};
    ssize_t k = read(pr[0], &rep, sizeof rep);
    close(pr[0]);
    res->out = cap[0].buf, res->out_len = cap[0].len, res->out_total = cap[0].total;
    res->err = cap[1].buf, res->err_len = cap[1].len, res->err_total = cap[1].total;
    if (k != (ssize_t)sizeof rep) { /* R died without reporting */
        rep = (reaper_report){.ended = 1, .status = status, .seconds = now_s() - t0};
    }
    res->seconds = rep.seconds;
    decode_status(res, &rep, bwrapped);
    return 0;
}

/* ---- working directories ---- */

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

static int make_workdir(char *dir, size_t cap, int uid, const char *src, size_t len, char *prog, size_t prog_cap) {
    const char *base = getenv("TMPDIR");
    if (!base || !base[0]) base = "/tmp";
    snprintf(dir, cap, "%s/ilr-sandbox-XXXXXX", base);
    if (!mkdtemp(dir)) return ILR_FAIL(ILR_EIO, "sandbox: cannot create a working directory under %s: %s", base, strerror(errno));
    snprintf(prog, prog_cap, "%s/prog.py", dir);
    FILE *fp = fopen(prog, "wb");
    int ok = fp && fwrite(src, 1, len, fp) == len;
    if (fp && fclose(fp) != 0) ok = 0;
    if (ok && uid >= 0 && chown(dir, (uid_t)uid, (gid_t)uid) != 0) ok = 0;
    if (!ok) {
        int e = errno;
        nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
        return ILR_FAIL(ILR_EIO, "sandbox: cannot write %s: %s", prog, strerror(e));
    }
    return 0;
}

/* ---- running ---- */

static int run_program(const char *src, size_t len, const ilr_sandbox_options *o, int bwrapped,
                       ilr_sandbox_result *res) {
    pthread_once(&system_once, find_system);
    int lock_fd;
    int uid = uid_acquire(&lock_fd);
    char dir[512], prog[600];
    int rc = make_workdir(dir, sizeof dir, uid, src, len, prog, sizeof prog);
    if (rc) return uid_release(lock_fd), rc;
    const char *argv[64];
    int n = 0;
    if (bwrapped) {
        argv[n++] = bwrap_path;
        argv[n++] = "--unshare-all";
        argv[n++] = "--die-with-parent";
        for (int i = 0; i < n_sys_args; i++) argv[n++] = sys_args[i];
        const char *rest[] = {"--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--bind", dir, SANDBOX_DIR,
                              "--remount-ro", "/", "--chdir", SANDBOX_DIR, PYTHON, "-I", "-B", SANDBOX_DIR "/prog.py"};
        for (size_t i = 0; i < sizeof rest / sizeof rest[0]; i++) argv[n++] = rest[i];
    } else {
        argv[n++] = PYTHON, argv[n++] = "-I", argv[n++] = "-B", argv[n++] = prog;
    }
    argv[n] = NULL;
    spawn_spec spec = {.argv = argv, .cwd = bwrapped ? NULL : dir, .opt = o, .uid = uid};
    memset(res, 0, sizeof *res);
    res->unsafe = !bwrapped;
    res->uid = uid;
    rc = spawn_and_wait(&spec, res, bwrapped);
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    uid_release(lock_fd);
    return rc;
}

static int check_rc;
static char check_msg[1024];

static void check_once(void) {
    pthread_once(&system_once, find_system);
    if (!bwrap_path) {
        check_rc = ILR_EUNSUPPORTED;
        snprintf(check_msg, sizeof check_msg, "bubblewrap (bwrap) is not installed: apt-get install bubblewrap");
        return;
    }
    if (access(PYTHON, X_OK) != 0) {
        check_rc = ILR_EUNSUPPORTED;
        snprintf(check_msg, sizeof check_msg, "%s is missing: apt-get install python3", PYTHON);
        return;
    }
    ilr_sandbox_options o = {.timeout_s = 20};
    ilr_sandbox_options_default(&o);
    ilr_sandbox_result r;
    static const char probe[] = "print('ok')\n";
    int rc = run_program(probe, sizeof probe - 1, &o, 1, &r);
    if (rc) {
        check_rc = rc;
        snprintf(check_msg, sizeof check_msg, "%s", ilr_last_error());
    } else if (r.status != ILR_SANDBOX_PASSED || strcmp(r.out, "ok\n") != 0) {
        check_rc = ILR_EUNSUPPORTED;
        size_t k = strcspn(r.err, "\n");
        snprintf(check_msg, sizeof check_msg,
                 "bubblewrap cannot create its namespaces here (%s --unshare-all ... %s, exit status %d, signal %d, "
                 "after %.2f s: %.*s)", bwrap_path, ilr_sandbox_status_name(r.status), r.exit_code, r.signal, r.seconds,
                 (int)(k < 400 ? k : 400), r.err);
    }
    if (!rc) ilr_sandbox_result_free(&r);
}

static pthread_once_t check_once_flag = PTHREAD_ONCE_INIT;

int ilr_sandbox_check(void) {
    pthread_once(&check_once_flag, check_once);
    if (check_rc) return ILR_FAIL(check_rc, "%s", check_msg);
    return 0;
}

int ilr_sandbox_run(const char *python_source, size_t len, const ilr_sandbox_options *opt, ilr_sandbox_result *res) {
    ilr_sandbox_options o = opt ? *opt : (ilr_sandbox_options){0};
    ilr_sandbox_options_default(&o);
    memset(res, 0, sizeof *res);
    if (!(o.timeout_s < 1e6) || o.memory_mb > (1 << 20) || o.max_output > ((size_t)1 << 30))
        return ILR_FAIL(ILR_EINVAL, "sandbox: options out of range (timeout %g s, memory %d MB, max_output %zu)",
                        o.timeout_s, o.memory_mb, o.max_output);
    if (o.no_namespaces && !o.allow_unsafe)
        return ILR_FAIL(ILR_EINVAL, "sandbox: no_namespaces runs untrusted code unconfined and needs allow_unsafe");
    int bwrapped = !o.no_namespaces;
    if (bwrapped && ilr_sandbox_check()) {
        if (!o.allow_unsafe)
            return ilr_error_prefix("sandbox: refusing to run untrusted code without namespaces (allow_unsafe "
                                    "runs it with rlimits only)");
        bwrapped = 0;
    }
    if (!bwrapped && access(PYTHON, X_OK) != 0)
        return ILR_FAIL(ILR_EUNSUPPORTED, "sandbox: %s is missing: apt-get install python3", PYTHON);
    return run_program(python_source, len, &o, bwrapped, res);
}
