/* The run directory and loop skeleton shared by the trainers (see include/ilr/trainer.h). */
#include "ilr/trainer.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ilr/checkpoint.h"
#include "ilr/dist.h"
#include "ilr/error.h"
#include "ilr/io.h"
#include "ilr/rng.h"

static volatile sig_atomic_t stop_signal;
static void on_signal(int sig) { stop_signal = sig; }

int ilr_trainer_latest(const char *run_dir, char *out, size_t cap) {
    char path[4096], *text = NULL;
    size_t len = 0;
    snprintf(path, sizeof path, "%s/latest", run_dir);
    if (ilr_file_read_all(path, &text, &len))
        return ILR_FAIL(ILR_ENOTFOUND, "%s: no checkpoint to resume from (the run saved none yet)", run_dir);
    while (len && (text[len - 1] == '\n' || text[len - 1] == ' ')) text[--len] = 0;
    snprintf(out, cap, "%s/%s", run_dir, text);
    free(text);
    if (!ilr_dir_exists(out)) return ILR_FAIL(ILR_ENOTFOUND, "%s names %s, which does not exist", path, out);
    return 0;
}

int ilr_jsonl_truncate_steps(const char *path, long step) {
    char *text = NULL;
    size_t len = 0;
    if (!ilr_file_exists(path)) return 0;
    if (ilr_file_read_all(path, &text, &len)) return ilr_last_error_code();
    size_t keep = 0;
    for (size_t at = 0; at < len;) {
        char *nl = memchr(text + at, '\n', len - at);
        size_t end = nl ? (size_t)(nl - text) + 1 : len;
        json_t *line = json_loadb(text + at, end - at, 0, NULL);
        long s = line ? (long)json_integer_value(json_object_get(line, "step")) : step + 1;
        json_decref(line);
        if (s > step) break;
        keep = end;
        at = end;
    }
    int rc = ilr_file_write_atomic(path, text, keep);
    free(text);
    return rc;
}

int ilr_trainer_open(ilr_trainer *t, const char *dir, const char *log_name, long resume_step, long keep, int quiet) {
    memset(t, 0, sizeof *t);
    snprintf(t->dir, sizeof t->dir, "%s", dir);
    t->keep = keep;
    t->quiet = quiet;
    if (!ilr_dist_is_root()) return 0; /* data parallel: rank 0 alone writes the run directory (no log here) */
    if (ilr_mkdir_p(dir)) return ilr_last_error_code();
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, log_name);
    if (resume_step >= 0) {
        int rc = ilr_jsonl_truncate_steps(path, resume_step);
        if (rc) return rc;
    }
    t->log = fopen(path, resume_step >= 0 ? "a" : "w");
    if (!t->log) return ILR_FAIL(ILR_EIO, "%s: cannot open for writing", path);
    return 0;
}

void ilr_trainer_close(ilr_trainer *t) {
    if (t->signals_installed) ilr_trainer_end(t);
    if (t->log) fclose(t->log);
    t->log = NULL;
}

void ilr_trainer_log(ilr_trainer *t, json_t *line) {
    char *text = t->log ? json_dumps(line, JSON_COMPACT | JSON_REAL_PRECISION(7)) : NULL;
    if (text) fprintf(t->log, "%s\n", text), fflush(t->log);
    free(text);
    json_decref(line);
}

void ilr_trainer_begin(ilr_trainer *t, const char *label, long start, long total) {
    t->start_step = start;
    t->total_steps = total;
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    stop_signal = 0;
    sigaction(SIGINT, &sa, &t->old_int);
    sigaction(SIGTERM, &sa, &t->old_term);
    t->signals_installed = 1;
    ilr_progress_begin(&t->bar, label, total, "steps");
    t->bar.quiet = t->quiet;
    ilr_progress_update(&t->bar, start);
    ilr_timer_start(&t->timer);
}

void ilr_trainer_step_done(ilr_trainer *t, long step) { ilr_progress_update(&t->bar, step); }

int ilr_trainer_stop_requested(void) { return stop_signal != 0; }

double ilr_trainer_seconds(const ilr_trainer *t) { return ilr_timer_elapsed(&t->timer); }

void ilr_trainer_eta(const ilr_trainer *t, long step, char *out, size_t cap) {
    long done = step - t->start_step;
    ilr_format_duration(done > 0 ? ilr_trainer_seconds(t) / done * (t->total_steps - step) : 0, out, cap);
}

void ilr_trainer_end(ilr_trainer *t) {
    if (!t->signals_installed) return;
    ilr_progress_end(&t->bar);
    sigaction(SIGINT, &t->old_int, NULL);
    sigaction(SIGTERM, &t->old_term, NULL);
    t->signals_installed = 0;
}

void ilr_trainer_checkpoint_dir(const ilr_trainer *t, long step, char *out, size_t cap) {
    snprintf(out, cap, "%s/checkpoint-%06ld", t->dir, step);
}

static int compare_long(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

/* Removes a checkpoint directory so that a kill at any instant leaves either it whole or nothing named like a
 * checkpoint: it is renamed aside (checkpoint-STEP.del.PID, which no reader takes for a checkpoint) first. */
static int remove_checkpoint(const ilr_trainer *t, const char *name) {
    char dir[4200], aside[4300];
    snprintf(dir, sizeof dir, "%s/%s", t->dir, name);
    snprintf(aside, sizeof aside, "%s.del.%d", dir, (int)getpid());
    if (rename(dir, aside) != 0) return ILR_FAIL(ILR_EIO, "%s: cannot move aside to remove it: %s", dir, strerror(errno));
    return ilr_remove_tree(aside);
}

/* Keeps the newest `keep` complete checkpoint-STEP directories (temporaries, checkpoint-STEP.tmp.PID, are
 * not checkpoints and are left alone; checkpoint-STEP.del.PID left by a kill during pruning are removed). */
static int prune_checkpoints(const ilr_trainer *t) {
    DIR *d = opendir(t->dir);
    if (!d) return ILR_FAIL(ILR_EIO, "%s: cannot list the run directory", t->dir);
    long *steps = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *e;
    while (!rc && (e = readdir(d))) {
        char *end;
        if (strncmp(e->d_name, "checkpoint-", 11) != 0) continue;
        long step = strtol(e->d_name + 11, &end, 10);
        if (end == e->d_name + 11) continue;
        if (!strncmp(end, ".del.", 5)) {
            char stale[4400];
            snprintf(stale, sizeof stale, "%s/%s", t->dir, e->d_name);
            rc = ilr_remove_tree(stale);
            continue;
        }
        if (*end) continue;
        if (n == cap) {
            long *grown = realloc(steps, sizeof *steps * (cap = cap ? 2 * cap : 16));
            if (!grown) rc = ILR_FAIL(ILR_ENOMEM, "out of memory");
            else steps = grown;
        }
        if (!rc) steps[n++] = step;
    }
    closedir(d);
    if (!rc) qsort(steps, n, sizeof *steps, compare_long);
    for (size_t i = 0; !rc && n > (size_t)t->keep && i < n - (size_t)t->keep; i++) {
        char name[64];
        snprintf(name, sizeof name, "checkpoint-%06ld", steps[i]);
        rc = remove_checkpoint(t, name);
    }
    free(steps);
    return rc;
}

int ilr_trainer_commit_checkpoint(ilr_trainer *t, long step) {
    char latest[4200], name[64];
    snprintf(latest, sizeof latest, "%s/latest", t->dir);
    snprintf(name, sizeof name, "checkpoint-%06ld\n", step);
    int rc = ilr_file_write_atomic(latest, name, strlen(name));
    return rc ? rc : prune_checkpoints(t);
}

/* ---- the data order ---- */

int ilr_data_order_init(ilr_data_order *o, uint64_t seed, int n) {
    *o = (ilr_data_order){.seed = seed, .n = n, .order_epoch = -1};
    o->order = malloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
    return o->order ? 0 : ILR_FAIL(ILR_ENOMEM, "out of memory for a data order of %d", n);
}

void ilr_data_order_free(ilr_data_order *o) {
    free(o->order);
    o->order = NULL;
}

int ilr_data_order_next(ilr_data_order *o) {
    if (o->index >= o->n) o->epoch++, o->index = 0;
    if (o->order_epoch != o->epoch) {
        ilr_rng rng;
        ilr_rng_init(&rng, o->seed, 0x6772706fULL + (uint64_t)o->epoch);
        for (int i = 0; i < o->n; i++) o->order[i] = i;
        for (int i = o->n - 1; i > 0; i--) {
            int j = (int)ilr_rng_below(&rng, (uint32_t)i + 1), t = o->order[i];
            o->order[i] = o->order[j], o->order[j] = t;
        }
        o->order_epoch = o->epoch;
    }
    return o->order[o->index++];
}

double ilr_data_order_progress(const ilr_data_order *o) { return o->epoch + (double)o->index / (o->n > 0 ? o->n : 1); }

int ilr_trainer_finish_checkpoint(ilr_trainer *t, long step, const char *tmp, int rc) {
    char dir[4200];
    ilr_trainer_checkpoint_dir(t, step, dir, sizeof dir);
    if (rc) return ilr_checkpoint_abort(tmp), rc;
    rc = ilr_checkpoint_commit(dir, tmp);
    return rc ? rc : ilr_trainer_commit_checkpoint(t, step);
}

int ilr_trainer_run_steps(ilr_trainer *t, const char *label, long start, long total, long eval_every, long save_every,
                          double max_minutes, const ilr_trainer_steps *s, ilr_trainer_outcome *out) {
    memset(out, 0, sizeof *out);
    out->steps = start;
    int rc = 0;
    ilr_trainer_begin(t, label, start, total);
    for (long step = start + 1; !rc && step <= total; step++) {
        rc = s->step(s->ctx, step);
        if (rc < 0) break;
        out->stopped = rc == 1 && step < total;
        rc = 0;
        out->steps = step;
        ilr_trainer_step_done(t, step);
        /* every rank of a job stops after the same step: when any of them was signalled or ran out of time */
        int stop[2] = {ilr_trainer_stop_requested(), max_minutes > 0 && ilr_trainer_seconds(t) > max_minutes * 60 && step < total};
        if ((rc = ilr_dist_max_ints(stop, 2))) break;
        int signal_stop = stop[0];
        out->timed_out = stop[1];
        int last = step == total || signal_stop || out->timed_out || out->stopped;
        if (!last && eval_every > 0 && step % eval_every == 0 && s->evaluate) rc = s->evaluate(s->ctx, step);
        if (!rc && ((save_every > 0 && step % save_every == 0) || signal_stop || out->timed_out)) rc = s->save(s->ctx, step);
        out->interrupted = signal_stop;
        if (last) break;
    }
    out->seconds = ilr_trainer_seconds(t);
    ilr_trainer_end(t);
    return rc;
}
