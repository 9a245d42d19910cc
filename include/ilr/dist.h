/* The processes of one job: data-parallel training over MPI (a build with MPI=1, run under mpirun), or one
 * process (every other build, and an MPI build started without mpirun), where each call below is the identity.
 * Trainers call these unconditionally; no #ifdef leaves this module.
 *
 * Groups: a job can be split into groups of ranks (a sub-communicator each; agent-parallel ILR trains each agent
 * on its own group).  The sums and gathers take the group they run over; NULL is the whole job.
 *
 * Determinism: ilr_dist_sum_floats adds the ranks' values in rank order 0, 1, ..., N-1, the same on every rank
 * (a reduce-scatter by MPI_Alltoall, a sum in rank order, an MPI_Allgather), so every rank ends with the same
 * bits, and a run's result depends on the number of ranks but not on timing or on the MPI library's choice of
 * reduction algorithm.
 *
 * Faults: MPI's default error handler (MPI_ERRORS_ARE_FATAL) ends the job on a communication error, and
 * mpirun ends it when a rank dies, naming the rank; a rank that fails on its own (a bad file) calls
 * ilr_dist_abort so that the others do not wait for it in a collective. */
#ifndef ILR_DIST_H
#define ILR_DIST_H

#include <stddef.h>

/* Joins the job when the process was started by mpirun (an MPI build; else nothing).  0 or ILR_EIO. */
int ilr_dist_init(int *argc, char ***argv);
/* Leaves it (MPI_Finalize); nothing when ilr_dist_init did not join one. */
void ilr_dist_finalize(void);
int ilr_dist_available(void); /* 1 in a build with MPI (make MPI=1), whether or not this process joined a job */
int ilr_dist_rank(void);   /* 0 in one process */
int ilr_dist_size(void);   /* 1 in one process */
int ilr_dist_is_root(void);/* rank 0: the one that writes logs, checkpoints and the model */
/* Ends every process of the job with exit status code (MPI_Abort), after printing why on stderr; returns in one
 * process (nothing to end but this one, which its caller ends). */
void ilr_dist_abort(int code, const char *why);

/* This rank's share [*lo, *hi) of n items split in rank order: rank r gets [r n / N, (r + 1) n / N). */
void ilr_dist_share(long n, int rank, int size, long *lo, long *hi);

typedef struct ilr_dist_group ilr_dist_group;
/* Collective over the job: the ranks that pass the same color (>= 0) form one group, ranked among themselves in
 * job-rank order; *g is this rank's group (ilr_dist_group_free it).  In one process, a group of one. */
int ilr_dist_group_split(int color, ilr_dist_group **g);
void ilr_dist_group_free(ilr_dist_group *g);
int ilr_dist_group_rank(const ilr_dist_group *g); /* this rank's rank in g (NULL: in the job) */
int ilr_dist_group_size(const ilr_dist_group *g); /* ranks in g (NULL: in the job) */

/* x[0..n) := the sum over the ranks of g (NULL: the job), in rank order, identical on each of them. */
int ilr_dist_sum_floats(const ilr_dist_group *g, float *x, size_t n);
int ilr_dist_sum_doubles(const ilr_dist_group *g, double *x, int n);
/* ZeRO-1's gathers of a float array x[0..n) that the ranks of g (NULL: the job) own in shares, rank r the floats
 * [lo, hi) of ilr_dist_share(n, r, N).  Each copies values only, in any order: the same bits arrive. */
/* Every rank's share of x from it to every rank, in place: after each rank has updated its own share, all hold the
 * same whole x. */
int ilr_dist_allgather_shares(const ilr_dist_group *g, float *x, size_t n);
/* Every rank's share, mine (its hi - lo floats), to the first rank of g, into all[0..n) there (all is not read
 * elsewhere: NULL will do).  Every rank of g must call it. */
int ilr_dist_gather_shares(const ilr_dist_group *g, const float *mine, float *all, size_t n);
/* x[0..n) := the maximum over ranks. */
int ilr_dist_max_ints(int *x, int n);
/* Returns on every rank once every rank has called it. */
int ilr_dist_barrier(void);
/* Job rank root's `bytes` bytes of buf to every rank of the job. */
int ilr_dist_bcast(int root, void *buf, size_t bytes);
/* Job rank root's *bytes bytes at *buf to every rank of the job, whose *buf becomes a malloc'd copy (the
 * caller frees it; root's stays as it was) and *bytes its length.  Texts move from a group's leader so. */
int ilr_dist_bcast_bytes(int root, void **buf, size_t *bytes);
/* Every rank's `bytes` bytes of mine, concatenated in rank order of g (NULL: the job) into *all (malloc'd; the
 * caller frees it); counts[r] (one entry per rank of g, may be NULL) receives rank r's byte count. */
int ilr_dist_allgather(const ilr_dist_group *g, const void *mine, size_t bytes, void **all, size_t *all_bytes,
                       size_t *counts);

#endif
