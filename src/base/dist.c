/* The processes of one job (see include/ilr/dist.h): MPI in a build with ILR_MPI, one process otherwise. */
#include "ilr/dist.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ilr/error.h"

void ilr_dist_share(long n, int rank, int size, long *lo, long *hi) {
    *lo = n * rank / size;
    *hi = n * (rank + 1) / size;
}

/* The gather of one process: a copy. */
static int gather_one(const void *mine, size_t bytes, void **all, size_t *all_bytes, size_t *counts) {
    *all = malloc(bytes ? bytes : 1);
    if (!*all) return ILR_FAIL(ILR_ENOMEM, "out of memory for %zu bytes", bytes);
    if (bytes) memcpy(*all, mine, bytes);
    *all_bytes = bytes;
    if (counts) counts[0] = bytes;
    return 0;
}

#ifndef ILR_MPI

struct ilr_dist_group {
    int rank, size;
};

int ilr_dist_init(int *argc, char ***argv) { return (void)argc, (void)argv, 0; }
void ilr_dist_finalize(void) {}
int ilr_dist_available(void) { return 0; }
int ilr_dist_rank(void) { return 0; }
int ilr_dist_size(void) { return 1; }
int ilr_dist_is_root(void) { return 1; }
void ilr_dist_abort(int code, const char *why) { (void)code, (void)why; }
int ilr_dist_sum_floats(const ilr_dist_group *g, float *x, size_t n) { return (void)g, (void)x, (void)n, 0; }
int ilr_dist_sum_doubles(const ilr_dist_group *g, double *x, int n) { return (void)g, (void)x, (void)n, 0; }
int ilr_dist_max_ints(int *x, int n) { return (void)x, (void)n, 0; }
int ilr_dist_bcast(int root, void *buf, size_t bytes) { return (void)root, (void)buf, (void)bytes, 0; }
int ilr_dist_bcast_bytes(int root, void **buf, size_t *bytes) { return (void)root, (void)buf, (void)bytes, 0; }
int ilr_dist_barrier(void) { return 0; }

int ilr_dist_group_split(int color, ilr_dist_group **g) {
    (void)color;
    if (!(*g = malloc(sizeof **g))) return ILR_FAIL(ILR_ENOMEM, "out of memory");
    (*g)->rank = 0, (*g)->size = 1;
    return 0;
}

void ilr_dist_group_free(ilr_dist_group *g) { free(g); }
int ilr_dist_group_rank(const ilr_dist_group *g) { return (void)g, 0; }
int ilr_dist_group_size(const ilr_dist_group *g) { return (void)g, 1; }

int ilr_dist_allgather(const ilr_dist_group *g, const void *mine, size_t bytes, void **all, size_t *all_bytes,
                       size_t *counts) {
    return (void)g, gather_one(mine, bytes, all, all_bytes, counts);
}

int ilr_dist_allgather_shares(const ilr_dist_group *g, float *x, size_t n) { return (void)g, (void)x, (void)n, 0; }

int ilr_dist_gather_shares(const ilr_dist_group *g, const float *mine, float *all, size_t n) {
    (void)g;
    if (all != mine && n) memcpy(all, mine, sizeof(float) * n);
    return 0;
}

#else

#include <mpi.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

struct ilr_dist_group {
    int rank, size;
    MPI_Comm comm; /* MPI_COMM_NULL outside a job */
};

static int joined, rank, size = 1;
/* ilr_dist_sum_floats's buffers, grown to the largest sum so far (one gradient buffer's worth, allocated once) */
static float *send_buf, *recv_buf;
static size_t buf_floats;
static int start_watchdog(void);

/* mpirun (Open MPI, MPICH's hydra, Slurm's PMI) leaves one of these in a rank's environment. */
static int launched_by_mpirun(void) {
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK");
}

int ilr_dist_init(int *argc, char ***argv) {
    if (joined || !launched_by_mpirun()) return 0;
    if (MPI_Init(argc, argv) != MPI_SUCCESS) return ILR_FAIL(ILR_EIO, "MPI_Init failed");
    joined = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    return start_watchdog();
}

void ilr_dist_finalize(void) {
    if (!joined) return;
    free(send_buf);
    free(recv_buf);
    send_buf = recv_buf = NULL;
    buf_floats = 0;
    MPI_Finalize();
    joined = 0;
}

int ilr_dist_available(void) { return 1; }
int ilr_dist_rank(void) { return rank; }
int ilr_dist_size(void) { return size; }
int ilr_dist_is_root(void) { return rank == 0; }

int ilr_dist_group_split(int color, ilr_dist_group **g) {
    if (!(*g = malloc(sizeof **g))) return ILR_FAIL(ILR_ENOMEM, "out of memory");
    **g = (ilr_dist_group){0, 1, MPI_COMM_NULL};
    if (size <= 1) return 0;
    int rc = MPI_Comm_split(MPI_COMM_WORLD, color, rank, &(*g)->comm);
    if (rc == MPI_SUCCESS) MPI_Comm_rank((*g)->comm, &(*g)->rank), MPI_Comm_size((*g)->comm, &(*g)->size);
    else free(*g), *g = NULL;
    return rc == MPI_SUCCESS ? 0 : ILR_FAIL(ILR_EIO, "MPI_Comm_split failed on rank %d of %d", rank, size);
}

void ilr_dist_group_free(ilr_dist_group *g) {
    if (g && g->comm != MPI_COMM_NULL && joined) MPI_Comm_free(&g->comm);
    free(g);
}

static MPI_Comm comm_of(const ilr_dist_group *g) { return g ? g->comm : MPI_COMM_WORLD; }

void ilr_dist_abort(int code, const char *why) {
    if (size <= 1) return;
    fprintf(stderr, "ilr: rank %d of %d ends the job: %s\n", rank, size, why);
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, code ? code : 1);
}

static int mpi_check(int rc, const char *what) {
    if (rc == MPI_SUCCESS) return 0;
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, text, &len);
    return ILR_FAIL(ILR_EIO, "%s on rank %d of %d: %s", what, rank, size, text);
}

/* The watchdog: a rank that waits in one collective longer than ILR_DIST_TIMEOUT seconds (default 3600; 0: no
 * limit) says so and exits, and mpirun then ends the job — a rank that hangs alive (a deadlock, a stopped
 * process) would otherwise keep the others waiting forever, and MPI's blocking collectives have no timeout.
 * The watchdog thread only reads the clock and two atomics and never calls MPI. */
static _Atomic long long wait_since_ms; /* 0: not in a collective */
static const char *_Atomic wait_what;
static double timeout_s;

static long long now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void wait_begin(const char *what) {
    atomic_store(&wait_what, what);
    atomic_store(&wait_since_ms, now_ms());
}

static int wait_end(int rc) {
    atomic_store(&wait_since_ms, 0);
    return rc;
}

#define COLLECTIVE(call, what) (wait_begin(what), wait_end(mpi_check((call), (what))))

static void *watchdog(void *arg) {
    (void)arg;
    for (;;) {
        sleep(1);
        long long since = atomic_load(&wait_since_ms);
        if (since && now_ms() - since > (long long)(timeout_s * 1000)) {
            fprintf(stderr, "ilr: rank %d of %d has waited %.0f s in %s for the other ranks (ILR_DIST_TIMEOUT=%g): one "
                    "of them hangs; ending the job\n", rank, size, (now_ms() - since) / 1000.0, atomic_load(&wait_what),
                    timeout_s);
            fflush(stderr);
            _exit(3);
        }
    }
    return NULL;
}

/* Starts the watchdog (a job of several ranks, a timeout set). */
static int start_watchdog(void) {
    const char *e = getenv("ILR_DIST_TIMEOUT");
    char *end = NULL;
    timeout_s = e && *e ? strtod(e, &end) : 3600;
    if (e && *e && (*end || timeout_s < 0))
        return ILR_FAIL(ILR_EINVAL, "ILR_DIST_TIMEOUT='%s': expected seconds (0: no limit)", e);
    if (timeout_s == 0 || size <= 1) return 0;
    pthread_t t;
    if (pthread_create(&t, NULL, watchdog, NULL)) return ILR_FAIL(ILR_EIO, "cannot start the collectives' watchdog");
    pthread_detach(t);
    return 0;
}

/* At most this many floats per rank per round, so that counts stay far below INT_MAX. */
enum { CHUNK_MAX = 1 << 24 };

int ilr_dist_group_rank(const ilr_dist_group *g) { return g ? g->rank : rank; }
int ilr_dist_group_size(const ilr_dist_group *g) { return g ? g->size : size; }

/* Grows send_buf and recv_buf to hold `floats` each; ILR_ENOMEM (no message: the caller says what for). */
static int reserve_buffers(size_t floats) {
    if (floats <= buf_floats) return 0;
    float *s = realloc(send_buf, sizeof(float) * floats), *r = s ? realloc(recv_buf, sizeof(float) * floats) : NULL;
    if (s) send_buf = s;
    if (r) recv_buf = r;
    if (!s || !r) return ILR_ENOMEM;
    buf_floats = floats;
    return 0;
}

int ilr_dist_sum_floats(const ilr_dist_group *g, float *x, size_t n) {
    int n_ranks = ilr_dist_group_size(g);
    if (n_ranks <= 1 || n == 0) return 0;
    size_t per_round = (size_t)n_ranks * CHUNK_MAX, chunk_max = (n + n_ranks - 1) / n_ranks;
    if (chunk_max > CHUNK_MAX) chunk_max = CHUNK_MAX;
    if (reserve_buffers(chunk_max * (size_t)n_ranks))
        return ILR_FAIL(ILR_ENOMEM, "out of memory for a sum of %zu floats over %d ranks", n, n_ranks);
    for (size_t at = 0; at < n; at += per_round) {
        size_t len = n - at < per_round ? n - at : per_round, c = (len + n_ranks - 1) / n_ranks;
        memcpy(send_buf, x + at, sizeof(float) * len);
        memset(send_buf + len, 0, sizeof(float) * (c * n_ranks - len));
        /* rank q receives chunk q of every rank, adds them in rank order, and every rank gathers the sums */
        int rc = COLLECTIVE(MPI_Alltoall(send_buf, (int)c, MPI_FLOAT, recv_buf, (int)c, MPI_FLOAT, comm_of(g)),
                           "MPI_Alltoall (gradient sum)");
        if (rc) return rc;
        for (int q = 1; q < n_ranks; q++)
            for (size_t i = 0; i < c; i++) recv_buf[i] += recv_buf[(size_t)q * c + i];
        rc = COLLECTIVE(MPI_Allgather(recv_buf, (int)c, MPI_FLOAT, send_buf, (int)c, MPI_FLOAT, comm_of(g)),
                       "MPI_Allgather (gradient sum)");
        if (rc) return rc;
        memcpy(x + at, send_buf, sizeof(float) * len);
    }
    return 0;
}

/* Both share gathers, in rounds: each rank's next (at most CHUNK_MAX) floats of its share, padded to the longest
 * share's, gathered (to every rank, or to the first) through recv_buf and copied to their places in all.  The
 * rounds keep the counts and displacements of MPI's int-sized arguments small whatever n is. */
static int gather_shares(const ilr_dist_group *g, const float *mine, float *all, size_t n, int to_every_rank) {
    int n_ranks = ilr_dist_group_size(g), me = ilr_dist_group_rank(g), receives = to_every_rank || me == 0;
    long lo, hi;
    ilr_dist_share((long)n, me, n_ranks, &lo, &hi);
    size_t mine_n = (size_t)(hi - lo), longest = (n + n_ranks - 1) / n_ranks;
    if (reserve_buffers((longest < CHUNK_MAX ? longest : CHUNK_MAX) * (size_t)n_ranks))
        return ILR_FAIL(ILR_ENOMEM, "out of memory for a gather of %zu floats over %d ranks", n, n_ranks);
    for (size_t at = 0; at < longest; at += CHUNK_MAX) {
        size_t c = longest - at < CHUNK_MAX ? longest - at : CHUNK_MAX;
        size_t len = mine_n > at ? (mine_n - at < c ? mine_n - at : c) : 0;
        if (len) memcpy(send_buf, mine + at, sizeof(float) * len);
        memset(send_buf + len, 0, sizeof(float) * (c - len)); /* padding: never read, but not sent uninitialised */
        int rc = to_every_rank
                     ? COLLECTIVE(MPI_Allgather(send_buf, (int)c, MPI_FLOAT, recv_buf, (int)c, MPI_FLOAT, comm_of(g)),
                                  "MPI_Allgather (ZeRO-1 shares)")
                     : COLLECTIVE(MPI_Gather(send_buf, (int)c, MPI_FLOAT, recv_buf, (int)c, MPI_FLOAT, 0, comm_of(g)),
                                  "MPI_Gather (ZeRO-1 shares)");
        if (rc) return rc;
        for (int q = 0; receives && q < n_ranks; q++) {
            long q_lo, q_hi;
            ilr_dist_share((long)n, q, n_ranks, &q_lo, &q_hi);
            size_t q_n = (size_t)(q_hi - q_lo), q_len = q_n > at ? (q_n - at < c ? q_n - at : c) : 0;
            if (q_len) memcpy(all + q_lo + at, recv_buf + (size_t)q * c, sizeof(float) * q_len);
        }
    }
    return 0;
}

int ilr_dist_allgather_shares(const ilr_dist_group *g, float *x, size_t n) {
    if (ilr_dist_group_size(g) <= 1 || n == 0) return 0;
    long lo, hi;
    ilr_dist_share((long)n, ilr_dist_group_rank(g), ilr_dist_group_size(g), &lo, &hi);
    return gather_shares(g, x + lo, x, n, 1);
}

int ilr_dist_gather_shares(const ilr_dist_group *g, const float *mine, float *all, size_t n) {
    if (ilr_dist_group_size(g) > 1) return n ? gather_shares(g, mine, all, n, 0) : 0;
    if (all != mine && n) memcpy(all, mine, sizeof(float) * n);
    return 0;
}

int ilr_dist_sum_doubles(const ilr_dist_group *g, double *x, int n) {
    int n_ranks = ilr_dist_group_size(g);
    if (n_ranks <= 1 || n <= 0) return 0;
    double *all = malloc(sizeof(double) * (size_t)n * n_ranks);
    if (!all) return ILR_FAIL(ILR_ENOMEM, "out of memory");
    int rc = COLLECTIVE(MPI_Allgather(x, n, MPI_DOUBLE, all, n, MPI_DOUBLE, comm_of(g)), "MPI_Allgather (sums)");
    for (int i = 0; !rc && i < n; i++) {
        double s = all[i];
        for (int q = 1; q < n_ranks; q++) s += all[(size_t)q * n + i];
        x[i] = s;
    }
    free(all);
    return rc;
}

int ilr_dist_max_ints(int *x, int n) {
    if (size <= 1 || n <= 0) return 0;
    return COLLECTIVE(MPI_Allreduce(MPI_IN_PLACE, x, n, MPI_INT, MPI_MAX, MPI_COMM_WORLD), "MPI_Allreduce (max)");
}

int ilr_dist_barrier(void) {
    return size <= 1 ? 0 : COLLECTIVE(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
}

int ilr_dist_bcast(int root, void *buf, size_t bytes) {
    if (size <= 1) return 0;
    for (size_t at = 0; at < bytes; at += CHUNK_MAX) {
        size_t len = bytes - at < CHUNK_MAX ? bytes - at : CHUNK_MAX;
        int rc = COLLECTIVE(MPI_Bcast((char *)buf + at, (int)len, MPI_BYTE, root, MPI_COMM_WORLD), "MPI_Bcast");
        if (rc) return rc;
    }
    return 0;
}

int ilr_dist_bcast_bytes(int root, void **buf, size_t *bytes) {
    if (size <= 1) return 0;
    unsigned long long n = *bytes;
    int rc = ilr_dist_bcast(root, &n, sizeof n);
    if (rc) return rc;
    if (rank == root) return ilr_dist_bcast(root, *buf, *bytes);
    /* a rank that cannot hold the bytes ends the job (main.c): the root and the others wait in the broadcast */
    if (!(*buf = malloc(n ? (size_t)n : 1))) return ILR_FAIL(ILR_ENOMEM, "out of memory for %llu broadcast bytes", n);
    *bytes = (size_t)n;
    if ((rc = ilr_dist_bcast(root, *buf, *bytes))) free(*buf), *buf = NULL;
    return rc;
}

int ilr_dist_allgather(const ilr_dist_group *g, const void *mine, size_t bytes, void **all, size_t *all_bytes,
                       size_t *counts) {
    int n_ranks = ilr_dist_group_size(g);
    if (n_ranks <= 1) return gather_one(mine, bytes, all, all_bytes, counts);
    *all = NULL;
    if (bytes > (size_t)1 << 30) return ILR_FAIL(ILR_EUNSUPPORTED, "a gather of %zu bytes from one rank (at most 1 GiB)", bytes);
    int *count = malloc(sizeof(int) * (size_t)n_ranks), *displ = malloc(sizeof(int) * (size_t)n_ranks), mine_n = (int)bytes;
    int rc = count && displ ? 0 : ILR_FAIL(ILR_ENOMEM, "out of memory");
    if (!rc) rc = COLLECTIVE(MPI_Allgather(&mine_n, 1, MPI_INT, count, 1, MPI_INT, comm_of(g)), "MPI_Allgather (sizes)");
    size_t total = 0;
    for (int q = 0; !rc && q < n_ranks; q++) {
        if (total + (size_t)count[q] > (size_t)INT_MAX) rc = ILR_FAIL(ILR_EUNSUPPORTED, "a gather of over 2 GiB");
        displ[q] = (int)total, total += (size_t)count[q];
        if (counts) counts[q] = (size_t)count[q];
    }
    if (!rc && !(*all = malloc(total ? total : 1))) rc = ILR_FAIL(ILR_ENOMEM, "out of memory for %zu gathered bytes", total);
    if (!rc) rc = COLLECTIVE(MPI_Allgatherv(mine, mine_n, MPI_BYTE, *all, count, displ, MPI_BYTE, comm_of(g)),
                            "MPI_Allgatherv");
    if (rc) free(*all), *all = NULL;
    *all_bytes = total;
    free(count);
    free(displ);
    return rc;
}

#endif
