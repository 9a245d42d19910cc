/* The single-agent GRPO trainer (see include/ilr/grpo.h): setup, the step loop, checkpoints. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ilr/checkpoint.h"
#include "ilr/dist.h"
#include "ilr/error.h"
#include "ilr/grpo.h"
#include "ilr/io.h"
#include "ilr/json.h"
#include "ilr/rng.h"
#include "ilr/timer.h"
#include "ilr/tokenizer_files.h"

typedef struct {
    const ilr_train_config *c;
    const ilr_train_hooks *hooks;
    ilr_policy policy;
    ilr_task task;
    ilr_dataset ds;
    ilr_question_set train;
    ilr_grpo_update_params hp;
    ilr_trainer trainer;
    ilr_data_order order;
    long start_step;         /* the step resumed from (0: a fresh run) */
    long generated_tokens;   /* completion tokens sampled, over the whole run (resumes included) */
    long trained_tokens;     /* completion tokens that carried a gradient, over the whole run */
    long budget;             /* stop once generated_tokens reaches it (0: no budget) */
    ilr_grpo_result *res;    /* the loop's, for the step callback */
} grpo_run;

/* A step's sampling seed: a mix of the run's seed and the step, so a resumed step samples what it would have. */
uint64_t ilr_grpo_step_seed(long seed, long step) {
    ilr_rng rng;
    ilr_rng_init(&rng, (uint64_t)seed, 0x73616d70ULL + (uint64_t)step); /* a stream per step */
    return ilr_rng_u64(&rng);
}

/* ---- setup ---- */

/* budget.generated_tokens, or budget.match: the generated tokens of the ILR run's agent that started from the
 * same model directory as this run (its train_summary.json). */
static int resolve_budget(grpo_run *r) {
    const ilr_train_config *c = r->c;
    r->budget = c->budget_generated_tokens;
    if (!c->budget_match) return 0;
    char path[4200];
    snprintf(path, sizeof path, "%s/train_summary.json", c->budget_match);
    json_t *s = NULL;
    int rc = ilr_json_load_file(path, &s);
    if (rc) return ilr_error_prefix("budget.match");
    const char *name;
    json_t *a;
    long found = -1;
    json_object_foreach(json_object_get(s, "agents"), name, a) {
        const char *start = json_string_value(json_object_get(a, "start_model"));
        if (start && ilr_same_path(start, c->model)) found = (long)json_integer_value(json_object_get(a, "generated_tokens"));
    }
    json_decref(s);
    if (found <= 0)
        return ILR_FAIL(ILR_ENOTFOUND, "budget.match: %s has no agent that started from %s (the model of this run)", path,
                        c->model);
    if (r->budget && r->budget != found)
        return ILR_FAIL(ILR_EINVAL, "budget.generated_tokens %ld and budget.match's %ld disagree: set one", r->budget, found);
    r->budget = found;
    return 0;
}

static int read_resume_state(grpo_run *r, const char *ckpt) {
    json_t *state = NULL;
    char path[4200];
    snprintf(path, sizeof path, "%s/trainer_state.json", ckpt);
    int rc = ilr_json_load_file(path, &state);
    if (rc) return rc;
    r->order.epoch = (long)json_integer_value(json_object_get(state, "epoch"));
    r->order.index = (int)json_integer_value(json_object_get(state, "index"));
    r->start_step = (long)json_integer_value(json_object_get(state, "step"));
    r->generated_tokens = (long)json_integer_value(json_object_get(state, "generated_tokens"));
    r->trained_tokens = (long)json_integer_value(json_object_get(state, "trained_tokens"));
    if (r->order.index < 0 || r->order.index > r->train.n || r->order.epoch < 0 || r->start_step < 1)
        rc = ILR_FAIL(ILR_EFORMAT, "%s: step %ld and data cursor (epoch %ld, index %d) do not fit %s", path, r->start_step,
                      r->order.epoch, r->order.index, r->c->train_data);
    json_decref(state);
    return rc;
}

static int grpo_open(grpo_run *r, const ilr_train_config *c, int resume, const ilr_train_hooks *hooks) {
    r->c = c;
    r->hooks = hooks;
    char ckpt[4096] = "";
    int rc = resume ? ilr_trainer_latest(c->output_dir, ckpt, sizeof ckpt) : 0;
    if (!rc) rc = ilr_task_init(&r->task, (ilr_task_type)c->task, c->train_data, c->format_weight, c->math_extract,
                                c->template_path);
    if (!rc) rc = ilr_task_open_dataset(&r->task, c->train_data, c->template_path, &r->ds);
    if (rc) return rc;
    /* the policy's sizes need the longest prompt, which needs its tokenizer: open, measure, then size */
    ilr_policy_options po = {.chat = c->chat, .reference = c->beta > 0, .device = (ilr_device)c->device,
                             .gen_weights = (ilr_gen_weights)c->rollout_weights,
                             .recompute = c->recompute, .zero1 = c->zero1, .share_prompt = c->share_prompt};
    if ((rc = ilr_policy_open(&r->policy, "policy", c->model, resume ? ckpt : NULL, &po))) return rc;
    rc = ilr_question_set_build(&r->train, &r->ds, 0, &r->task, r->policy.tok, r->policy.chat, c->max_prompt_tokens);
    int max_prompt = r->train.max_prompt;
    if (!rc && hooks && hooks->prepare) rc = hooks->prepare(hooks->ctx, 0, &r->policy, &max_prompt);
    if (!rc) rc = ilr_policy_prepare(&r->policy, (int)(c->prompts_per_step * c->num_generations),
                                     max_prompt + (int)c->max_new_tokens, (int)c->micro_batch);
    if (!rc) rc = ilr_data_order_init(&r->order, (uint64_t)c->seed, r->train.n);
    if (!rc && resume) rc = read_resume_state(r, ckpt);
    if (rc) return rc;
    ilr_grpo_update_params_from_config(&r->hp, c);
    if ((rc = resolve_budget(r))) return rc;
    if ((rc = ilr_trainer_open(&r->trainer, c->output_dir, "train_log.jsonl", resume ? r->start_step : -1,
                               c->keep_checkpoints, c->quiet)))
        return rc;
    char path[4200];
    snprintf(path, sizeof path, "%s/config.yaml", c->output_dir);
    return ilr_dist_is_root() ? ilr_cfg_save(ilr_train_config_schema(), c, path) : 0;
}

static void grpo_close(grpo_run *r) {
    ilr_trainer_close(&r->trainer);
    ilr_question_set_free(&r->train);
    ilr_dataset_free(&r->ds);
    ilr_task_free(&r->task);
    ilr_policy_close(&r->policy);
    ilr_data_order_free(&r->order);
}

/* ---- a step ---- */

typedef struct {
    double generation, reward, training;
} step_times;

/* prompts_per_step questions x num_generations completions, scored, into b.  Over several ranks each generates
 * and scores its share of the questions (include/ilr/dist.h), sequence k of the step drawing from sampling stream
 * k whichever rank runs it, and every rank receives the whole batch. */
static int rollout(grpo_run *r, long step, ilr_rollout_batch *b, step_times *times) {
    const ilr_train_config *c = r->c;
    int P = (int)c->prompts_per_step, G = (int)c->num_generations, S = P * G;
    long lo, hi;
    ilr_dist_share(P, ilr_dist_rank(), ilr_dist_size(), &lo, &hi);
    int n = (int)(hi - lo) * G; /* this rank's completions: those of questions [lo, hi) */
    int *item = malloc(sizeof(int) * (size_t)P), *item_of = malloc(sizeof(int) * (size_t)(n ? n : 1));
    const int **prompts = malloc(sizeof(int *) * (size_t)P);
    int *lens = malloc(sizeof(int) * (size_t)P);
    ilr_gen_output *mine = calloc((size_t)(n ? n : 1), sizeof *mine), *out = calloc((size_t)S, sizeof *out);
    const char **texts = malloc(sizeof(char *) * (size_t)(n ? n : 1));
    size_t *text_lens = malloc(sizeof(size_t) * (size_t)(n ? n : 1));
    ilr_task_score *my_score = malloc(sizeof *my_score * (size_t)(n ? n : 1)), *score = calloc((size_t)S, sizeof *score);
    int rc = item && item_of && prompts && lens && mine && out && texts && text_lens && my_score && score
                 ? 0 : ILR_FAIL(ILR_ENOMEM, "out of memory for a rollout batch of %d", S);
    for (int p = 0; !rc && p < P; p++) {
        item[p] = ilr_data_order_next(&r->order);
        prompts[p] = r->train.ids[item[p]];
        lens[p] = r->train.lens[item[p]];
    }
    ilr_gen_options opt = {.sampler = {(float)c->temperature, (int)c->top_k, (float)c->top_p, (float)c->min_p},
                           .max_new_tokens = (int)c->max_new_tokens, .seed = ilr_grpo_step_seed(c->seed, step),
                           .stream_offset = (uint64_t)lo * (uint64_t)G};
    ilr_timer t;
    ilr_timer_start(&t);
    if (!rc && n) rc = ilr_generate(&r->policy.gen, r->policy.tok, prompts + lo, lens + lo, (int)(hi - lo), G, &opt, mine);
    times->generation = ilr_timer_elapsed(&t);
    ilr_timer_start(&t);
    for (int k = 0; !rc && k < n; k++) {
        item_of[k] = item[lo + k / G];
        texts[k] = mine[k].text;
        text_lens[k] = mine[k].text_len;
    }
    if (!rc && n) rc = ilr_task_score_many(&r->task, &r->ds, item_of, texts, text_lens, n, my_score);
    times->reward = ilr_timer_elapsed(&t);
    if (!rc) rc = ilr_rollout_allgather(mine, my_score, n, out, score, S);
    for (int k = 0; !rc && k < S; k++) {
        r->generated_tokens += out[k].count;
        if (k % G == 0) rc = ilr_rollout_batch_group(b);
        if (!rc) rc = ilr_rollout_batch_add(b, prompts[k / G], lens[k / G], &out[k], &score[k]);
    }
    for (int k = 0; mine && k < n; k++) ilr_gen_output_free(&mine[k]);
    for (int k = 0; out && k < S; k++) ilr_gen_output_free(&out[k]);
    free(item);
    free(item_of);
    free(prompts);
    free(lens);
    free(mine);
    free(out);
    free(texts);
    free(text_lens);
    free(my_score);
    free(score);
    return rc;
}

static json_t *step_line(const grpo_run *r, long step, const ilr_grpo_metrics *m, const ilr_grpo_update_stats *st,
                         const step_times *tm, double step_s, const ilr_rollout_batch *b) {
    json_t *j = json_object();
    json_object_set_new(j, "step", json_integer(step));
    json_object_set_new(j, "epoch", json_real(ilr_data_order_progress(&r->order)));
    ilr_grpo_update_json(j, st, "", r->policy.has_ref);
    ilr_grpo_metrics_json(j, m, "", ilr_task_type_name(r->task.type));
    long tokens = 0;
    for (int k = 0; k < b->S; k++) tokens += b->out[k].count;
    json_object_set_new(j, "num_tokens", json_integer(r->generated_tokens));
    json_object_set_new(j, "generated_tokens", json_integer(r->generated_tokens));
    json_object_set_new(j, "tokens_per_second", json_real(tokens / (step_s > 0 ? step_s : 1)));
    json_object_set_new(j, "time/generation", json_real(tm->generation));
    json_object_set_new(j, "time/reward", json_real(tm->reward));
    json_object_set_new(j, "time/training", json_real(tm->training));
    json_object_set_new(j, "step_time", json_real(step_s));
    json_object_set_new(j, "seconds", json_real(ilr_trainer_seconds(&r->trainer)));
    return j;
}

static int grpo_step(grpo_run *r, long step, ilr_grpo_result *res) {
    const ilr_train_config *c = r->c;
    ilr_rollout_batch b;
    ilr_rollout_batch_init(&b);
    step_times tm = {0};
    double t0 = ilr_trainer_seconds(&r->trainer);
    int zero_std = 0, rc = rollout(r, step, &b, &tm);
    ilr_grpo_update_stats st;
    if (!rc) {
        ilr_rollout_batch_finish(&b, (ilr_grpo_scale)c->scale_rewards, (ilr_grpo_loss_type)c->loss_type,
                                 (int)c->max_new_tokens, c->mask_truncated, &zero_std);
        ilr_timer t;
        ilr_timer_start(&t);
        rc = ilr_grpo_update(&r->policy, &b, &r->hp, &st);
        r->trained_tokens += st.trained_tokens;
        tm.training = ilr_timer_elapsed(&t);
    }
    if (!rc) {
        ilr_grpo_metrics m;
        ilr_grpo_metrics_compute(&m, &b, zero_std);
        double step_s = ilr_trainer_seconds(&r->trainer) - t0;
        if (step == r->start_step + 1) res->first_reward = m.reward;
        res->last_reward = m.reward;
        if (!c->quiet && (step % c->log_every == 0 || step == r->start_step + 1 || step == c->steps)) {
            char eta[32];
            ilr_trainer_eta(&r->trainer, step, eta, sizeof eta);
            printf("  step %5ld/%ld  reward %.3f  accuracy %.3f  loss %+.4f  grad %.3f  len %.0f  %.1f s  ETA %s\n", step,
                   c->steps, m.reward, m.accuracy, st.loss, st.grad_norm, m.mean_length, step_s, eta);
            fflush(stdout);
        }
        ilr_trainer_log(&r->trainer, step_line(r, step, &m, &st, &tm, step_s, &b));
    }
    ilr_rollout_batch_free(&b);
    return rc;
}

/* ---- checkpoints and evaluation ---- */

static int save_checkpoint(grpo_run *r, long step) {
    char dir[4200], tmp[4300];
    ilr_trainer_checkpoint_dir(&r->trainer, step, dir, sizeof dir);
    json_t *state = json_object();
    json_object_set_new(state, "trainer", json_string("grpo"));
    json_object_set_new(state, "step", json_integer(step));
    json_object_set_new(state, "epoch", json_integer(r->order.epoch));
    json_object_set_new(state, "index", json_integer(r->order.index));
    json_object_set_new(state, "seed", json_integer((json_int_t)r->c->seed));
    json_object_set_new(state, "generated_tokens", json_integer(r->generated_tokens));
    json_object_set_new(state, "trained_tokens", json_integer(r->trained_tokens));
    char seed_text[32]; /* the sampling streams are a function of (seed, step): this is the next step's */
    snprintf(seed_text, sizeof seed_text, "%016llx", (unsigned long long)ilr_grpo_step_seed(r->c->seed, step + 1));
    json_object_set_new(state, "next_sampling_seed", json_string(seed_text));
    int rc = ilr_checkpoint_begin(dir, tmp, sizeof tmp);
    if (rc) return json_decref(state), rc;
    rc = ilr_policy_checkpoint(&r->policy, tmp, state);
    json_decref(state);
    return ilr_trainer_finish_checkpoint(&r->trainer, step, tmp, rc);
}

/* On rank 0 (the others go on to the next step's rollouts and wait for it there). */
static int evaluate(grpo_run *r, const char *when, long step, json_t *summary) {
    if (!r->hooks || !r->hooks->evaluate || !ilr_dist_is_root()) return 0;
    return r->hooks->evaluate(r->hooks->ctx, &r->trainer, 0, &r->policy, when, step, summary);
}

static void print_header(const grpo_run *r) {
    const ilr_train_config *c = r->c;
    if (c->quiet) return;
    printf("grpo: %s (%s), %d training questions (%s), task %s\n", r->policy.from, ilr_arch_name(r->policy.model.config.arch),
           r->train.n, c->train_data, ilr_task_type_name(r->task.type));
    printf("  steps %ld%s: %ld questions x %ld completions, micro-batch %ld, mu %ld, lr %g %s warmup %ld\n", c->steps,
           r->start_step ? " (resumed)" : "", c->prompts_per_step, c->num_generations, c->micro_batch, c->num_iterations,
           c->lr, ilr_lr_shape_name((ilr_lr_shape)c->lr_schedule), c->warmup_steps);
    const char *scale[] = {"(r - mean) / (std_group + 1e-4)", "(r - mean) / (std_batch + 1e-4)", "r - mean (Dr. GRPO)"};
    const char *agg[] = {"token mean (dapo)", "sequence mean (grpo)", "token sum / (S * max_new_tokens) (dr_grpo)"};
    if (r->budget) printf("  generation budget: %ld completion tokens%s%s\n", r->budget, c->budget_match ? ", matched to " : "",
                          c->budget_match ? c->budget_match : "");
    if (ilr_dist_size() > 1)
        printf("  data parallel: %d ranks, each generating and training its share of a step's questions\n", ilr_dist_size());
    char zero1[200];
    ilr_train_state_describe_zero1(&r->policy.ts, zero1, sizeof zero1);
    if (*zero1) printf("  %s\n", zero1);
    printf("  advantage %s, loss %s, clip [%g, %g], beta %g%s, log-probs at temperature %g\n", scale[c->scale_rewards],
           agg[c->loss_type], 1 - c->epsilon, 1 + c->epsilon_high, c->beta,
           c->beta > 0 ? " (reference: the starting model)" : " (no reference)", c->temperature);
    fflush(stdout);
}

static int loop_step(void *ctx, long step) {
    grpo_run *r = ctx;
    int rc = grpo_step(r, step, r->res);
    return rc ? rc : r->budget > 0 && r->generated_tokens >= r->budget;
}

static int loop_evaluate(void *ctx, long step) { return evaluate(ctx, "", step, NULL); }
/* every rank holds the same weights and AdamW moments, or (ZeRO-1) its share of the moments: rank 0 writes the
 * checkpoint, while the others send it their shares */
static int loop_save(void *ctx, long step) {
    grpo_run *r = ctx;
    return ilr_dist_is_root() ? save_checkpoint(r, step) : ilr_train_state_send_moments(&r->policy.ts);
}

static int grpo_loop(grpo_run *r, json_t *summary, ilr_grpo_result *res) {
    const ilr_train_config *c = r->c;
    int rc = 0;
    print_header(r);
    if (r->start_step == 0) rc = evaluate(r, "before", 0, summary);
    r->res = res;
    ilr_trainer_steps steps = {r, loop_step, loop_evaluate, loop_save};
    ilr_trainer_outcome out = {0};
    if (!rc) rc = ilr_trainer_run_steps(&r->trainer, "grpo", r->start_step, c->steps, c->eval_every, c->save_every,
                                        c->max_minutes, &steps, &out);
    res->steps = out.steps, res->interrupted = out.interrupted, res->timed_out = out.timed_out;
    res->budget_spent = out.stopped, res->seconds = out.seconds, res->generated_tokens = r->generated_tokens;
    if (rc || res->interrupted) return rc;
    if (res->timed_out && !c->quiet) printf("  train.max_minutes reached after step %ld\n", res->steps);
    if (res->budget_spent && !c->quiet)
        printf("  the generation budget (%ld tokens) is spent after step %ld (%ld generated)\n", r->budget, res->steps,
               r->generated_tokens);
    return evaluate(r, "after", res->steps, summary);
}

/* The final model and train_summary.json. */
static int finish(grpo_run *r, const ilr_grpo_result *res, json_t *s) {
    const ilr_train_config *c = r->c;
    ilr_save_options save = {.dtype = ILR_DTYPE_F32};
    int rc = ilr_train_state_sync_model(&r->policy.ts);
    if (!rc) rc = ilr_model_save(&r->policy.model, c->output_dir, &save);
    /* from the start model: the checkpoint a resumed run started from may have been rotated away by now */
    if (!rc) rc = ilr_tokenizer_files_copy(c->model, c->output_dir);
    if (rc) return rc;
    json_object_set_new(s, "method", json_string("grpo"));
    json_object_set_new(s, "steps", json_integer(res->steps));
    json_object_set_new(s, "timed_out", json_boolean(res->timed_out));
    json_object_set_new(s, "seconds", json_real(res->seconds));
    json_object_set_new(s, "first_reward", json_real(res->first_reward));
    json_object_set_new(s, "last_reward", json_real(res->last_reward));
    json_object_set_new(s, "generated_tokens", json_integer(res->generated_tokens));
    json_object_set_new(s, "trained_tokens", json_integer(r->trained_tokens));
    if (r->budget) json_object_set_new(s, "budget_generated_tokens", json_integer(r->budget));
    json_object_set_new(s, "budget_spent", json_boolean(res->budget_spent));
    char path[4200];
    snprintf(path, sizeof path, "%s/train_summary.json", c->output_dir);
    return ilr_json_save_file(path, s);
}

int ilr_grpo_run(const ilr_train_config *c, int resume, const ilr_train_hooks *hooks, ilr_grpo_result *res) {
    memset(res, 0, sizeof *res);
    grpo_run r;
    memset(&r, 0, sizeof r);
    json_t *summary = json_object();
    int rc = grpo_open(&r, c, resume, hooks);
    if (!rc) rc = grpo_loop(&r, summary, res);
    if (!rc && !res->interrupted && ilr_dist_is_root()) rc = finish(&r, res, summary);
    json_decref(summary);
    grpo_close(&r);
    return rc;
}
