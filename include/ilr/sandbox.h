/* Running untrusted Python (model-written code checked against unit tests: HumanEval, MBPP).
 *
 * Each program is written to a fresh working directory and run by /usr/bin/python3 -I -B inside bubblewrap:
 * new user, pid, network, ipc and uts namespaces (no network: only a loopback of its own), the system bound
 * read-only (/usr, /etc and the /bin, /lib links), a private tmpfs /tmp, its own /proc and /dev, and the
 * working directory as the only writable place; --die-with-parent.  Before exec the child calls setsid()
 * and sets RLIMIT_CPU, RLIMIT_AS, RLIMIT_FSIZE, RLIMIT_NOFILE and RLIMIT_NPROC; when ilr runs as root it
 * also drops to a uid of its own (one of ILR_SANDBOX_UID_COUNT from ILR_SANDBOX_UID_BASE, held for the run
 * with an flock in /tmp/ilr-sandbox-uids so that no two runs share one, in any process) because the kernel does
 * not apply RLIMIT_NPROC to root, and so that programs running at once cannot signal each other.  After
 * timeout_s of wall-clock time the whole process group is killed with SIGKILL.  stdout and stderr are read
 * through pipes while the program runs: the first max_output bytes of each are kept, the rest is counted
 * and dropped, so a program that writes without end never blocks and never costs memory.
 *
 * allow_unsafe: when bubblewrap is missing or cannot create namespaces, ilr_sandbox_run fails with
 * ILR_EUNSUPPORTED saying why, unless allow_unsafe is set; then the program runs without namespaces
 * (rlimits, uid drop when root, process group, timeout and output bounds only: it can see the network and
 * write wherever its uid may; run by a non-root ilr it shares ilr's uid, so it can signal ilr, RLIMIT_NPROC
 * counts all of that user's processes, and a process that leaves its process group with setsid() outlives
 * the run).
 *
 * Each run goes through a reaper process (a child subreaper forked by ilr) that enforces the deadline, kills
 * and reaps every descendant, zombies included, before the run returns; so the next program on the same uid
 * starts with its RLIMIT_NPROC count at zero. */
#ifndef ILR_SANDBOX_H
#define ILR_SANDBOX_H

#include <stddef.h>

#define ILR_SANDBOX_UID_BASE 61000 /* uids 61000..62023 are used when running as root */
#define ILR_SANDBOX_UID_COUNT 1024
#define ILR_SANDBOX_MAX_WORKERS 256 /* threads of ilr_sandbox_run_many */

typedef struct {
    double timeout_s;   /* wall clock; default 10 */
    int memory_mb;      /* RLIMIT_AS; default 1024 */
    int cpu_s;          /* RLIMIT_CPU; default ceil(timeout_s) + 1 */
    size_t max_output;  /* bytes kept of stdout and of stderr each; default 64 KiB */
    int max_procs;      /* RLIMIT_NPROC; default 32 */
    int max_files;      /* RLIMIT_NOFILE; default 64 */
    int file_mb;        /* RLIMIT_FSIZE; default 16 */
    int allow_unsafe;   /* run without namespaces when bubblewrap cannot (see above) */
    int no_namespaces;  /* with allow_unsafe: skip bubblewrap even where it works (tests of the rlimit layer) */
} ilr_sandbox_options;

/* Fields left 0 take the defaults above. */
void ilr_sandbox_options_default(ilr_sandbox_options *o);

typedef enum {
    ILR_SANDBOX_PASSED = 0,  /* exit status 0 */
    ILR_SANDBOX_FAILED = 1,  /* exited with a non-zero status (an assert failed, an exception, MemoryError) */
    ILR_SANDBOX_TIMEOUT = 2, /* killed at the wall-clock deadline, or by RLIMIT_CPU (SIGXCPU) */
    ILR_SANDBOX_ERROR = 3,   /* killed by another signal (signal says which), or the sandbox could not start
                              * (bwrap's own error, or exit status 125..127, which ilr's child uses) */
} ilr_sandbox_status;

typedef struct {
    ilr_sandbox_status status;
    int exit_code;        /* when it exited (else -1) */
    int signal;           /* when a signal ended it (else 0) */
    int unsafe;           /* ran without namespaces */
    int uid;              /* the uid it ran as when ilr is root, else -1 */
    double seconds;       /* wall clock */
    char *out, *err;      /* the first max_output bytes of stdout / stderr, NUL-terminated (malloc'ed) */
    size_t out_len, err_len;        /* bytes kept */
    size_t out_total, err_total;    /* bytes written by the program */
} ilr_sandbox_result;

const char *ilr_sandbox_status_name(ilr_sandbox_status s); /* "passed", "failed", "timeout", "error" */

/* 0 when bubblewrap can create its namespaces here; else ILR_EUNSUPPORTED with what failed. Cached. */
int ilr_sandbox_check(void);

/* Runs len bytes of Python source.  Returns 0 whenever the program ran (whatever it did: see res->status),
 * a negative ILR_E* when it could not be run (no bubblewrap, no working directory, fork failed).
 * Thread-safe.  Free res with ilr_sandbox_result_free. */
int ilr_sandbox_run(const char *python_source, size_t len, const ilr_sandbox_options *opt, ilr_sandbox_result *res);
void ilr_sandbox_result_free(ilr_sandbox_result *res);

/* Runs n programs with up to workers at once (threads each waiting on their own child); results[i] is
 * program i's.  A program that could not be run gets status ILR_SANDBOX_ERROR and the message in its err.
 * Returns 0, or the first setup error when no program could be run at all. */
int ilr_sandbox_run_many(const char *const *sources, const size_t *lens, int n, int workers,
                         const ilr_sandbox_options *opt, ilr_sandbox_result *results);

#endif
