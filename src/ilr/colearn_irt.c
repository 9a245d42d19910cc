/* The co-learning run's IRT (see src/ilr/colearn_internal.h): abilities and difficulties at the start, and
 * the optional refit of the abilities during the run.
 *
 * At the start, without irt.file, every agent answers every calibration question (irt.data) irt.samples
 * times, as it would in training; with irt.difficulty fit, also every training question the run will visit.
 * The joint fit gives each agent's gamma (saved with the answers as irt.json and responses.jsonl).  Each
 * training question then gets its D (saved as difficulty.json, which a resumed run reads back):
 *   fit          its own fitted D
 *   level        the mean fitted D of the calibration questions of its dataset level
 *   self_rating  each agent rates it from 1 to 10 (prompts: rate.txt beside the Idea3 templates, greedy);
 *                per agent a least-squares line maps ratings to D on the calibration questions, and the
 *                question's D is the mean over agents of their mapped ratings
 * and a question the method cannot place gets its level's mean (0, the mean calibration question, when its
 * level has none). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "colearn_internal.h"
#include "ilr/error.h"
#include "ilr/io.h"
#include "ilr/dist.h"
#include "ilr/irt_collect.h"
#include "ilr/json.h"
#include "ilr/template.h"
#include "ilr/timer.h"

#define RATING_LEVELS 10
#define LEVELS 10 /* dataset levels 0-9 (0: none given) */

int colearn_irt_open_data(colearn_run *r, int resume) {
    const ilr_train_config *c = r->c;
    r->collect = !resume && !c->irt_file;
    if (r->collect && !c->irt_data)
        return ILR_FAIL(ILR_EINVAL, "train: ILR needs the agents' abilities: set irt.file (an irt.json from `ilr irt fit`) "
                        "or irt.data (calibration questions every agent answers at the start)");
    if (!c->irt_data) return 0;
    return ilr_task_open_dataset(&r->task, c->irt_data, c->template_path, &r->calib_ds);
}

/* ---- abilities ---- */

static int agents_gamma(colearn_run *r, const char *source) {
    for (int i = 0; i < r->m; i++)
        if (ilr_irt_fit_gamma(&r->irt, r->agents[i].cfg.name, &r->agents[i].gamma, NULL))
            return ILR_FAIL(ILR_ENOTFOUND, "%s does not name agent %s (it has the abilities of %d agents: the names in "
                            "agents: must match those of the responses it was fitted on)", source, r->agents[i].cfg.name,
                            r->irt.num_agents);
    return 0;
}

/* The training questions the run will visit, in order (at most steps x prompts_per_step, each once). */
static int visited_items(colearn_run *r, int **items, int *n) {
    long want = r->c->steps * r->c->prompts_per_step;
    if (want > r->ds.count) want = r->ds.count;
    *n = 0;
    *items = malloc(sizeof(int) * (size_t)(want ? want : 1));
    unsigned char *seen = calloc((size_t)r->ds.count, 1);
    if (!*items || !seen) return free(seen), ILR_FAIL(ILR_ENOMEM, "out of memory");
    ilr_data_order o; /* a copy of the run's cursor, walked ahead */
    int rc = ilr_data_order_init(&o, r->order.seed, r->order.n);
    o.epoch = r->order.epoch, o.index = r->order.index;
    for (long k = 0; !rc && *n < want && k < 4 * want + r->ds.count; k++) {
        int it = ilr_data_order_next(&o);
        if (!seen[it]) seen[it] = 1, (*items)[(*n)++] = it;
    }
    ilr_data_order_free(&o);
    free(seen);
    return rc;
}

/* Agent i's answers to n questions (items, or the first n when NULL) into r->running and as lines into out: its
 * leader answers (the job's rank 0, data-parallel; agent-parallel, the first of agent i's ranks, the only ones that
 * hold it) and sends the lines to every rank, so every rank fits the same matrix. */
static int collect_agent(colearn_run *r, int i, const ilr_irt_collect_agent *ag, const int *items, int n,
                         const ilr_irt_collect_options *o, FILE *out) {
    char *buf = NULL;
    size_t len = 0;
    int rc = 0;
    if (ilr_dist_rank() == colearn_leader(r, i)) {
        ilr_irt_responses mine;
        ilr_irt_responses_init(&mine);
        FILE *f = open_memstream(&buf, &len);
        rc = f ? ilr_irt_collect(ag, 1, &r->task, items, n, o, &mine, f, NULL) : ILR_FAIL(ILR_ENOMEM, "out of memory");
        if (f && fclose(f) != 0 && !rc) rc = ILR_FAIL(ILR_ENOMEM, "out of memory");
        ilr_irt_responses_free(&mine);
    }
    if (!rc) rc = ilr_dist_bcast_bytes(colearn_leader(r, i), (void **)&buf, &len);
    if (!rc && len) rc = ilr_irt_responses_parse(buf, len, "irt collect", &r->running);
    if (!rc && len && fwrite(buf, 1, len, out) != len) rc = ILR_FAIL(ILR_ENOMEM, "out of memory");
    free(buf);
    return rc;
}

/* Answers to the calibration questions (and the visited training questions) into r->running, written to
 * responses.jsonl; the joint fit into r->irt. */
static int collect_and_fit(colearn_run *r, const int *visited, int num_visited) {
    const ilr_train_config *c = r->c;
    char *buf = NULL, path[4200];
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    if (!out) return ILR_FAIL(ILR_ENOMEM, "out of memory");
    ilr_irt_collect_agent ag[ILR_MAX_AGENTS];
    ilr_irt_collect_options o = {(int)c->irt_samples, (float)c->temperature, (int)c->max_new_tokens, (uint64_t)c->seed + 1717,
                                 c->quiet};
    for (int i = 0; i < r->m; i++)
        ag[i] = (ilr_irt_collect_agent){r->agents[i].cfg.name, &r->agents[i].policy.gen, r->agents[i].policy.tok,
                                        &r->agents[i].calib};
    if (!c->quiet)
        printf("irt: each agent answers %d calibration questions%s, %ld times each\n", r->agents[0].calib.n,
               num_visited ? " and the training questions the run visits" : "", c->irt_samples);
    int rc = 0;
    for (int i = 0; !rc && i < r->m; i++) rc = collect_agent(r, i, &ag[i], NULL, r->agents[0].calib.n, &o, out);
    for (int i = 0; !rc && num_visited && i < r->m; i++) ag[i].q = &r->agents[i].train;
    for (int i = 0; !rc && num_visited && i < r->m; i++) rc = collect_agent(r, i, &ag[i], visited, num_visited, &o, out);
    if (fclose(out) != 0 && !rc) rc = ILR_FAIL(ILR_ENOMEM, "out of memory");
    snprintf(path, sizeof path, "%s/responses.jsonl", c->output_dir);
    if (!rc && ilr_dist_is_root()) rc = ilr_file_write_atomic(path, buf, len);
    free(buf);
    ilr_irt_options fo = ilr_irt_options_default();
    fo.prior_sd_gamma = fo.prior_sd_difficulty = c->irt_prior_sd;
    if (!rc) rc = ilr_irt_fit_run(&r->running, &fo, &r->irt);
    return rc;
}

/* ---- difficulties ---- */

/* Mean fitted D per level over the calibration questions (or, without irt.data, the training questions the
 * fit holds); 0 for a level without any. */
static int level_means(colearn_run *r, double *mean) {
    const ilr_dataset *ds = r->calib_ds.items ? &r->calib_ds : &r->ds;
    const char **ids = malloc(sizeof(char *) * (size_t)ds->count);
    int *levels = malloc(sizeof(int) * (size_t)ds->count), count[LEVELS];
    if (!ids || !levels) return free(ids), free(levels), ILR_FAIL(ILR_ENOMEM, "out of memory");
    for (int k = 0; k < ds->count; k++) {
        ids[k] = ds->items[k].id;
        levels[k] = ds->items[k].level >= 0 && ds->items[k].level < LEVELS ? ds->items[k].level : 0;
    }
    int rc = ilr_irt_mean_difficulty_by_level(&r->irt, ids, levels, ds->count, LEVELS, mean, count);
    for (int l = 0; !rc && l < LEVELS; l++)
        if (!count[l]) mean[l] = 0;
    free(ids);
    free(levels);
    return rc;
}

/* The first integer 1..10 of a rating answer; 0 when it holds none. */
static int parse_rating(const char *text) {
    for (const char *p = text ? text : ""; *p; p++) {
        if (*p < '0' || *p > '9') continue;
        long v = strtol(p, NULL, 10);
        return v >= 1 && v <= RATING_LEVELS ? (int)v : 0;
    }
    return 0;
}

/* Agent i's greedy ratings of n questions of ds (items[k], or k when items is NULL) into rating[k]. */
static int rate(colearn_run *r, int i, const char *tmpl, const ilr_dataset *ds, const int *items, int n, int *rating) {
    colearn_agent *ag = &r->agents[i];
    int wave = ag->policy.gen.slots, rc = 0;
    ilr_tok_ids *ids = calloc((size_t)wave, sizeof *ids);
    const int **prompts = malloc(sizeof(int *) * (size_t)wave);
    int *lens = malloc(sizeof(int) * (size_t)wave);
    ilr_gen_output *out = calloc((size_t)wave, sizeof *out);
    if (!ids || !prompts || !lens || !out) rc = ILR_FAIL(ILR_ENOMEM, "out of memory");
    ilr_gen_options opt = {.sampler = {0.0f, 0, 1.0f, 0.0f}, .max_new_tokens = 8, .seed = 1};
    for (int first = 0; !rc && first < n; first += wave) {
        int count = n - first < wave ? n - first : wave;
        for (int k = 0; !rc && k < count; k++) {
            int it = items ? items[first + k] : first + k;
            ilr_template_var v = {"question", ds->items[it].question};
            char *text = NULL;
            rc = ilr_template_render(tmpl, "rate.txt", &v, 1, &text);
            ilr_tok_ids_free(&ids[k]);
            if (!rc) rc = ilr_task_encode_prompt(ag->policy.tok, ag->policy.chat, text, &ids[k]);
            if (!rc && ids[k].count + opt.max_new_tokens > ag->policy.gen.max_len)
                rc = ILR_FAIL(ILR_EINVAL, "%s: the rating prompt of question %s is too long (%d tokens)", ag->cfg.name,
                              ds->items[it].id, ids[k].count);
            free(text);
            prompts[k] = ids[k].ids, lens[k] = ids[k].count;
        }
        if (!rc) rc = ilr_generate(&ag->policy.gen, ag->policy.tok, prompts, lens, count, 1, &opt, out);
        for (int k = 0; k < count; k++) {
            if (!rc) rating[first + k] = parse_rating(out[k].text);
            ilr_gen_output_free(&out[k]);
        }
    }
    for (int k = 0; ids && k < wave; k++) ilr_tok_ids_free(&ids[k]);
    free(ids);
    free(prompts);
    free(lens);
    free(out);
    return rc;
}

/* Least squares D = a + b * rating over the calibration questions agent i rated (b = 0 and a = their mean D
 * when its ratings do not vary).  Returns the number of usable ratings. */
static int fit_rating_line(colearn_run *r, const int *rating, int n_calib, double *a, double *b) {
    double n = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (int k = 0; k < n_calib; k++) {
        double d;
        if (!rating[k] || ilr_irt_fit_difficulty(&r->irt, r->calib_ds.items[k].id, &d, NULL)) continue;
        n++, sx += rating[k], sy += d, sxx += (double)rating[k] * rating[k], sxy += rating[k] * d;
    }
    ilr_error_clear();
    double var = n > 1 ? sxx - sx * sx / n : 0;
    *b = var > 1e-12 ? (sxy - sx * sy / n) / var : 0;
    *a = n > 0 ? (sy - *b * sx) / n : 0;
    return (int)n;
}

/* irt.difficulty self_rating for the visited questions (the rest keep their level's mean). */
static int self_rating(colearn_run *r, const int *visited, int n) {
    char path[1200], *tmpl = NULL;
    int nc = r->agents[0].calib.n, rc = 0;
    if (!r->collect || !nc)
        return ILR_FAIL(ILR_EINVAL, "irt.difficulty self_rating maps ratings to difficulties through the calibration "
                        "questions the agents answer at the start: set irt.data (not irt.file)");
    snprintf(path, sizeof path, "%s/rate.txt", r->prompts.dir);
    if ((rc = ilr_template_load(path, &tmpl))) return rc;
    int *calib = malloc(sizeof(int) * (size_t)nc), *train = malloc(sizeof(int) * (size_t)(n ? n : 1));
    double *sum = calloc((size_t)(n ? n : 1), sizeof *sum);
    int *votes = calloc((size_t)(n ? n : 1), sizeof *votes);
    if (!calib || !train || !sum || !votes) rc = ILR_FAIL(ILR_ENOMEM, "out of memory");
    for (int i = 0; !rc && i < r->m; i++) {
        double a, b;
        if (ilr_dist_rank() == colearn_leader(r, i)) { /* the agent's leader rates; every rank maps the ratings */
            rc = rate(r, i, tmpl, &r->calib_ds, NULL, nc, calib);
            if (!rc) rc = rate(r, i, tmpl, &r->ds, visited, n, train);
        }
        if (!rc) rc = ilr_dist_bcast(colearn_leader(r, i), calib, sizeof(int) * (size_t)nc);
        if (!rc) rc = ilr_dist_bcast(colearn_leader(r, i), train, sizeof(int) * (size_t)n);
        if (rc) break;
        int usable = fit_rating_line(r, calib, nc, &a, &b), rated = 0;
        for (int k = 0; k < n; k++)
            if (train[k]) sum[k] += a + b * train[k], votes[k]++, rated++;
        if (!r->c->quiet)
            printf("irt: %s gave a rating 1-10 to %d of %d calibration and %d of %d training questions; D = %.3f %+.3f x "
                   "rating\n", r->agents[i].cfg.name, usable, nc, rated, n, a, b);
    }
    for (int k = 0; !rc && k < n; k++)
        if (votes[k]) r->difficulty[visited[k]] = sum[k] / votes[k];
    free(tmpl);
    free(calib);
    free(train);
    free(sum);
    free(votes);
    return rc;
}

static int set_difficulties(colearn_run *r, const int *visited, int num_visited) {
    double mean[LEVELS];
    int rc = level_means(r, mean);
    for (int k = 0; !rc && k < r->ds.count; k++) {
        int level = r->ds.items[k].level >= 0 && r->ds.items[k].level < LEVELS ? r->ds.items[k].level : 0;
        double d;
        if (r->c->irt_difficulty == ILR_DIFFICULTY_FIT && !ilr_irt_fit_difficulty(&r->irt, r->ds.items[k].id, &d, NULL))
            r->difficulty[k] = d;
        else
            r->difficulty[k] = mean[level];
    }
    ilr_error_clear();
    if (!rc && r->c->irt_difficulty == ILR_DIFFICULTY_SELF_RATING) rc = self_rating(r, visited, num_visited);
    return rc;
}

/* difficulty.json: {ID: D} of every training question, as the run uses them. */
static int save_difficulties(colearn_run *r, const char *path) {
    json_t *o = json_object();
    for (int k = 0; k < r->ds.count; k++) json_object_set_new(o, r->ds.items[k].id, json_real(r->difficulty[k]));
    int rc = ilr_json_save_file(path, o);
    json_decref(o);
    return rc;
}

static int load_difficulties(colearn_run *r, const char *path) {
    json_t *o = NULL;
    int rc = ilr_json_load_file(path, &o);
    for (int k = 0; !rc && k < r->ds.count; k++) {
        json_t *v = json_object_get(o, r->ds.items[k].id);
        if (!json_is_number(v)) rc = ILR_FAIL(ILR_EFORMAT, "%s: no difficulty for training question %s", path, r->ds.items[k].id);
        else r->difficulty[k] = json_number_value(v);
    }
    json_decref(o);
    return rc;
}

/* ---- the refit of abilities (irt.refit_every) ---- */

static int open_solo_log(colearn_run *r, long resume_step) {
    char path[4200];
    snprintf(path, sizeof path, "%s/irt_responses.jsonl", r->c->output_dir);
    /* rank 0 cuts the file back to the checkpoint's step before any rank reads it */
    int rc = resume_step >= 0 && ilr_dist_is_root() ? ilr_jsonl_truncate_steps(path, resume_step) : 0;
    if (!rc && resume_step >= 0) rc = ilr_dist_barrier();
    if (!rc && resume_step >= 0) rc = ilr_irt_responses_read(path, &r->running);
    if (!rc && ilr_dist_is_root() && !(r->solo_log = fopen(path, resume_step >= 0 ? "a" : "w")))
        rc = ILR_FAIL(ILR_EIO, "%s: cannot open for writing", path);
    return rc;
}

int colearn_irt_observe(colearn_run *r, long step, const int *items, int P, int G, ilr_task_score *const *share) {
    int rc = 0;
    for (int i = 0; !rc && i < r->m; i++)
        for (int k = 0; !rc && k < P * G; k++) {
            const char *id = r->ds.items[items[k / G]].id;
            rc = ilr_irt_responses_add(&r->running, r->agents[i].cfg.name, id, share[i][k].correct);
            if (!rc && r->solo_log && fprintf(r->solo_log, "{\"step\": %ld, \"agent\": \"%s\", \"question\": \"%s\", \"correct\": %d}\n", step,
                               r->agents[i].cfg.name, id, share[i][k].correct) < 0)
                rc = ILR_FAIL(ILR_EIO, "irt_responses.jsonl: cannot write");
        }
    if (!rc && r->solo_log && fflush(r->solo_log)) rc = ILR_FAIL(ILR_EIO, "irt_responses.jsonl: cannot write");
    if (rc || step % r->c->irt_refit_every) return rc;
    ilr_irt_options fo = ilr_irt_options_default();
    fo.prior_sd_gamma = fo.prior_sd_difficulty = r->c->irt_prior_sd;
    ilr_irt_fit fit;
    if ((rc = ilr_irt_fit_run(&r->running, &fo, &fit))) return rc;
    /* keep the starting fit's scale: its questions' mean D is 0 there, so shift the new abilities by their mean
     * D in the new fit (which centres all the questions answered so far instead) */
    double shift = 0, d;
    int n = 0;
    for (int q = 0; q < r->irt.num_questions; q++)
        if (!ilr_irt_fit_difficulty(&fit, r->irt.questions[q], &d, NULL)) shift += d, n++;
    ilr_error_clear();
    shift = n ? shift / n : 0;
    for (int i = 0; !rc && i < r->m; i++) {
        rc = ilr_irt_fit_gamma(&fit, r->agents[i].cfg.name, &r->agents[i].gamma, NULL);
        r->agents[i].gamma -= shift;
    }
    ilr_irt_fit_free(&fit);
    return rc;
}

int colearn_irt_setup(colearn_run *r, int resume) {
    const ilr_train_config *c = r->c;
    char irt_path[4200], diff_path[4200];
    snprintf(irt_path, sizeof irt_path, "%s/irt.json", c->output_dir);
    snprintf(diff_path, sizeof diff_path, "%s/difficulty.json", c->output_dir);
    if (!(r->difficulty = malloc(sizeof(double) * (size_t)r->ds.count))) return ILR_FAIL(ILR_ENOMEM, "out of memory");
    ilr_irt_responses_init(&r->running);
    int *visited = NULL, num_visited = 0, rc = 0;
    if (resume) { /* the abilities come from the checkpoint (a refit changes them), the rest from the run */
        rc = ilr_irt_fit_load(irt_path, &r->irt);
        if (!rc) rc = load_difficulties(r, diff_path);
        if (!rc && c->irt_refit_every > 0) {
            char path[4200];
            snprintf(path, sizeof path, "%s/responses.jsonl", c->output_dir);
            if (ilr_file_exists(path)) rc = ilr_irt_responses_read(path, &r->running);
            if (!rc) rc = open_solo_log(r, r->start_step);
        }
        return rc;
    }
    double t0 = ilr_time_now();
    if (c->irt_difficulty != ILR_DIFFICULTY_LEVEL) rc = visited_items(r, &visited, &num_visited);
    if (!rc && r->collect)
        rc = collect_and_fit(r, c->irt_difficulty == ILR_DIFFICULTY_FIT ? visited : NULL,
                             c->irt_difficulty == ILR_DIFFICULTY_FIT ? num_visited : 0);
    else if (!rc) rc = ilr_irt_fit_load(c->irt_file, &r->irt);
    if (!rc) rc = agents_gamma(r, r->collect ? irt_path : c->irt_file);
    if (!rc) rc = set_difficulties(r, visited, num_visited);
    if (!rc && ilr_dist_is_root()) rc = ilr_irt_fit_save(&r->irt, irt_path); /* rank 0 writes; every rank fits alike */
    if (!rc && ilr_dist_is_root()) rc = save_difficulties(r, diff_path);
    if (!rc && c->irt_refit_every > 0) rc = open_solo_log(r, -1);
    static const char *const how[] = {"fitted from answers to them", "their level's mean", "the agents' ratings"};
    if (!rc && !c->quiet) {
        printf("irt: %s in %.1f s; training questions' D: %s (%d questions placed that way)\n",
               r->collect ? "answers collected and fitted" : "abilities read from irt.file", ilr_time_now() - t0,
               how[c->irt_difficulty], c->irt_difficulty == ILR_DIFFICULTY_LEVEL ? r->ds.count : num_visited);
        for (int i = 0; i < r->m; i++) printf("  gamma %-12s %+.3f\n", r->agents[i].cfg.name, r->agents[i].gamma);
    }
    free(visited);
    return rc;
}
