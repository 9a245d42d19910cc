/* The run directory every trainer (SFT, GRPO, ILR) keeps, in one place:
 *
 *   LOG.jsonl           one JSON line per logged step or evaluation (a resumed run first drops the lines
 *                       after its checkpoint's step, so each step appears once)
 *   checkpoint-STEP/    written whole under a temporary name and renamed into place (include/ilr/checkpoint.h)
 *   latest              the name of the newest complete checkpoint; older ones beyond `keep` are removed
 *
 * and the loop's common parts: SIGINT/SIGTERM turned into a stop request the loop checks after each step
 * (it then checkpoints and returns), the wall clock, a progress bar on stderr and an ETA. */
#ifndef ILR_TRAINER_H
#define ILR_TRAINER_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "ilr/policy.h"
#include "ilr/progress.h"
#include "ilr/timer.h"

typedef struct {
    char dir[4096];
    FILE *log;
    long keep;               /* newest checkpoints kept */
    int quiet;               /* no progress bar */
    ilr_timer timer;         /* since ilr_trainer_begin */
    ilr_progress bar;
    long start_step, total_steps;
    struct sigaction old_int, old_term;
    int signals_installed;
} ilr_trainer;

/* The newest complete checkpoint of run_dir (its `latest`): ILR_ENOTFOUND with a message when there is none
 * or it names a missing directory. */
int ilr_trainer_latest(const char *run_dir, char *out, size_t cap);

/* Creates dir and opens dir/log_name for appending lines: truncated to nothing on a fresh run
 * (resume_step < 0), or to the lines of steps <= resume_step on a resumed one. */
int ilr_trainer_open(ilr_trainer *t, const char *dir, const char *log_name, long resume_step, long keep, int quiet);
void ilr_trainer_close(ilr_trainer *t);

/* Keeps the lines of a JSONL file whose "step" is <= step, up to the first that is not (a resumed run drops
 * what came after its checkpoint); a missing file is fine. */
int ilr_jsonl_truncate_steps(const char *path, long step);

/* Appends line to the log (and takes the reference). */
void ilr_trainer_log(ilr_trainer *t, json_t *line);

/* Starts the clock, the progress bar (label, steps start..total) and the signal handlers. */
void ilr_trainer_begin(ilr_trainer *t, const char *label, long start, long total);
/* After a step: moves the progress bar. */
void ilr_trainer_step_done(ilr_trainer *t, long step);
/* A SIGINT or SIGTERM came since ilr_trainer_begin. */
int ilr_trainer_stop_requested(void);
/* Seconds since ilr_trainer_begin. */
double ilr_trainer_seconds(const ilr_trainer *t);
/* "3m12s": the time left after `step`, at the pace so far. */
void ilr_trainer_eta(const ilr_trainer *t, long step, char *out, size_t cap);
/* Ends the progress bar and restores the signal handlers. */
void ilr_trainer_end(ilr_trainer *t);

/* dir/checkpoint-STEP (zero-padded to 6 digits). */
void ilr_trainer_checkpoint_dir(const ilr_trainer *t, long step, char *out, size_t cap);
/* After checkpoint-STEP is complete: `latest` names it, and checkpoints beyond the newest `keep` go. */
int ilr_trainer_commit_checkpoint(ilr_trainer *t, long step);
/* The end of writing checkpoint-STEP into tmp (ilr_checkpoint_begin): with rc 0, renames it into place and
 * commits it as above; otherwise removes tmp.  Returns rc or the first error after it. */
int ilr_trainer_finish_checkpoint(ilr_trainer *t, long step, const char *tmp, int rc);

/* The step loop every RL trainer runs: for step = start + 1 .. total, the step, then (unless it was the last)
 * an evaluation every eval_every steps, a checkpoint every save_every steps, and a stop — with a checkpoint —
 * on SIGINT/SIGTERM or once max_minutes have passed; a step may also end the loop early by returning 1
 * (a generation budget spent).  The progress bar and signals are the trainer's (ilr_trainer_begin/end). */
typedef struct {
    void *ctx;
    int (*step)(void *ctx, long step);                    /* 0, 1 to stop after this step, or an error */
    int (*evaluate)(void *ctx, long step);                /* periodic evaluation (may be NULL) */
    int (*save)(void *ctx, long step);                    /* writes checkpoint-STEP */
} ilr_trainer_steps;

typedef struct {
    long steps;          /* the last step done */
    int interrupted;     /* a signal stopped it (a checkpoint was written) */
    int timed_out;       /* max_minutes stopped it (a checkpoint was written) */
    int stopped;         /* a step asked to stop */
    double seconds;
} ilr_trainer_outcome;

int ilr_trainer_run_steps(ilr_trainer *t, const char *label, long start, long total, long eval_every, long save_every,
                          double max_minutes, const ilr_trainer_steps *s, ilr_trainer_outcome *out);

/* The order training questions are visited in: epoch e is the permutation of [0, n) drawn from (seed, e), so
 * (epoch, index) is the whole cursor a checkpoint keeps, and a GRPO and an ILR run of one seed and batch size
 * see the same questions. */
typedef struct {
    uint64_t seed;
    int n;
    long epoch;
    int index;           /* the next position in the epoch's permutation */
    int *order;          /* the permutation of order_epoch */
    long order_epoch;
} ilr_data_order;

int ilr_data_order_init(ilr_data_order *o, uint64_t seed, int n);
void ilr_data_order_free(ilr_data_order *o);
/* The next question (moving to the next epoch at the end of one). */
int ilr_data_order_next(ilr_data_order *o);
/* epoch + index / n: how far through the data the run is. */
double ilr_data_order_progress(const ilr_data_order *o);

/* What a trainer's caller adds to the loop: evaluation of each agent alone.  evaluate (may be NULL) is called
 * with when "before" (step 0, a fresh run only), "" (every train.eval_every steps) and "after" (after the last
 * step); it logs through t and, before and after, adds what the run's summary should hold to summary. */
typedef struct {
    void *ctx;
    /* before anything is sized: the hook tokenises its questions with agent p's tokenizer and raises
     * *max_prompt to its longest prompt (may be NULL) */
    int (*prepare)(void *ctx, int agent, ilr_policy *p, int *max_prompt);
    int (*evaluate)(void *ctx, ilr_trainer *t, int agent, ilr_policy *p, const char *when, long step, json_t *summary);
} ilr_train_hooks;

#endif
