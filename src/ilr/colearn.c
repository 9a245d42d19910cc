/* The co-learning trainer (see include/ilr/colearn.h): setup, the loop, checkpoints and the final models. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "colearn_internal.h"
#include "ilr/checkpoint.h"
#include "ilr/dist.h"
#include "ilr/error.h"
#include "ilr/io.h"
#include "ilr/json.h"
#include "ilr/tokenizer_files.h"

/* ---- setup ---- */

static int read_resume_state(colearn_run *r, const char *ckpt) {
    json_t *state = NULL;
    char path[4200];
    snprintf(path, sizeof path, "%s/trainer_state.json", ckpt);
    int rc = ilr_json_load_file(path, &state);
    if (rc) return rc;
    r->order.epoch = (long)json_integer_value(json_object_get(state, "epoch"));
    r->order.index = (int)json_integer_value(json_object_get(state, "index"));
    r->start_step = (long)json_integer_value(json_object_get(state, "step"));
    json_t *agents = json_object_get(state, "agents");
    if (r->order.index < 0 || r->order.index > r->ds.count || r->order.epoch < 0 || r->start_step < 1 ||
        !json_is_object(agents))
        rc = ILR_FAIL(ILR_EFORMAT, "%s: step %ld, data cursor (epoch %ld, index %d) or agents do not fit this run", path,
                      r->start_step, r->order.epoch, r->order.index);
    for (int i = 0; !rc && i < r->m; i++) {
        json_t *a = json_object_get(agents, r->agents[i].cfg.name);
        if (!json_is_object(a)) rc = ILR_FAIL(ILR_EFORMAT, "%s: no state for agent %s", path, r->agents[i].cfg.name);
        else {
            r->agents[i].generated_tokens = (long)json_integer_value(json_object_get(a, "generated_tokens"));
            r->agents[i].trained_tokens = (long)json_integer_value(json_object_get(a, "trained_tokens"));
            r->agents[i].gamma = json_number_value(json_object_get(a, "gamma"));
        }
    }
    json_decref(state);
    return rc;
}

/* agents[i].ranks: agent i's ranks follow agent i - 1's in job order; they must add up to the job's size. */
static int layout(colearn_run *r) {
    const ilr_train_config *c = r->c;
    const ilr_agent_config *a = c->agents.items;
    r->mine = -1;
    if (!a[0].ranks) return 0;
    long total = 0;
    char counts[ILR_MAX_AGENTS * 80] = "";
    for (int i = 0; i < r->m; i++) {
        r->first_rank[i] = (int)total, r->num_ranks[i] = (int)a[i].ranks;
        total += a[i].ranks;
        size_t at = strlen(counts);
        snprintf(counts + at, sizeof counts - at, "%s%s %ld", i ? ", " : "", a[i].name, a[i].ranks);
    }
    if (total != ilr_dist_size())
        return ILR_FAIL(ILR_EINVAL, "train: agents[].ranks add up to %ld ranks (%s), but the job has %d%s: start it with "
                        "mpirun -np %ld, or unset agents[].ranks (data-parallel)", total, counts, ilr_dist_size(),
                        ilr_dist_available() ? "" : " (a build without MPI: make MPI=1)", total);
    if (c->eval_data || c->test_data)
        return ILR_FAIL(ILR_EINVAL, "train: agents[].ranks: evaluation during an agent-parallel run is not done yet (an "
                        "agent's model is on its own ranks, the log on rank 0): unset data.eval and data.test, and run "
                        "`ilr eval` on the saved agents");
    for (int i = 0; i < r->m; i++)
        if (ilr_dist_rank() >= r->first_rank[i] && ilr_dist_rank() < r->first_rank[i] + r->num_ranks[i]) r->mine = i;
    return ilr_dist_group_split(r->mine, &r->group);
}

/* Each agent: its weights (or its part of the checkpoint; only its tokenizer on another agent's ranks), its own
 * tokens for the training questions, and sizes for the longest prompt any stage or evaluation gives it. */
static int open_agent(colearn_run *r, int i, const char *ckpt) {
    const ilr_train_config *c = r->c;
    colearn_agent *ag = &r->agents[i];
    ilr_train_agent_resolve(c, i, &ag->cfg);
    char from[4300];
    if (ckpt) snprintf(from, sizeof from, "%s/%s", ckpt, ag->cfg.name);
    ilr_policy_options po = {.chat = c->chat, .reference = c->beta > 0, .device = (ilr_device)c->device,
                             .gen_weights = (ilr_gen_weights)c->rollout_weights,
                             .recompute = c->recompute, .zero1 = c->zero1, .share_prompt = c->share_prompt,
                             .text_only = !colearn_serves(r, i)};
    int rc = ilr_policy_open(&ag->policy, ag->cfg.name, ag->cfg.model, ckpt ? from : NULL, &po);
    ag->policy.group = r->group;
    if (!rc) rc = ilr_question_set_build(&ag->train, &r->ds, 0, &r->task, ag->policy.tok, ag->policy.chat, c->max_prompt_tokens);
    if (!rc && r->collect)
        rc = ilr_question_set_build(&ag->calib, &r->calib_ds, c->irt_data_max, &r->task, ag->policy.tok, ag->policy.chat,
                                    c->max_prompt_tokens);
    int max_prompt = ag->train.max_prompt > ag->calib.max_prompt ? ag->train.max_prompt : ag->calib.max_prompt;
    if (c->discussion_max_prompt_tokens > max_prompt) max_prompt = (int)c->discussion_max_prompt_tokens;
    if (!rc && r->hooks && r->hooks->prepare) rc = r->hooks->prepare(r->hooks->ctx, i, &ag->policy, &max_prompt);
    int max_new = r->max_new[0];
    for (int s = 1; s < 3; s++) max_new = r->max_new[s] > max_new ? r->max_new[s] : max_new;
    int slots = (int)(c->prompts_per_step * c->num_generations);
    if (!rc) rc = ilr_policy_prepare(&ag->policy, slots, max_prompt + max_new, (int)c->micro_batch);
    if (rc) return ilr_error_prefix("agent %s", ag->cfg.name);
    ilr_grpo_update_params_from_config(&ag->hp, c);
    ag->hp.lr.lr = (float)ag->cfg.lr;
    ag->hp.lr.warmup_steps = (int)ag->cfg.warmup_steps;
    ag->hp.lr.min_ratio = (float)ag->cfg.min_lr_ratio;
    ag->hp.weight_decay = (float)ag->cfg.weight_decay;
    ag->hp.max_grad_norm = (float)ag->cfg.max_grad_norm;
    return 0;
}

static int colearn_open(colearn_run *r, const ilr_train_config *c, int resume, const ilr_train_hooks *hooks) {
    r->c = c;
    r->hooks = hooks;
    r->m = (int)c->agents.count;
    r->interaction = (ilr_interaction){(ilr_interaction_mode)c->interaction, (ilr_interaction_rule)c->rule, c->coop_probability};
    r->max_new[ILR_STAGE_SHARE] = (int)c->max_new_tokens;
    r->max_new[ILR_STAGE_ANALYSE] = (int)(c->analyse_max_new_tokens ? c->analyse_max_new_tokens : c->max_new_tokens);
    r->max_new[ILR_STAGE_FUSE] = (int)(c->fuse_max_new_tokens ? c->fuse_max_new_tokens : c->max_new_tokens);
    char ckpt[4096] = "";
    int rc = resume ? ilr_trainer_latest(c->output_dir, ckpt, sizeof ckpt) : 0;
    if (!rc) rc = ilr_task_init(&r->task, (ilr_task_type)c->task, c->train_data, c->format_weight, c->math_extract,
                                c->template_path);
    if (!rc) rc = ilr_task_open_dataset(&r->task, c->train_data, c->template_path, &r->ds);
    if (!rc) rc = ilr_idea3_prompts_load(&r->prompts, c->idea3_prompts ? c->idea3_prompts
                                                     : ilr_idea3_default_dir(ilr_task_type_name(r->task.type)),
                                         r->task.type == ILR_TASK_TYPE_WORLD);
    if (!rc) rc = ilr_data_order_init(&r->order, (uint64_t)c->seed, r->ds.count);
    if (!rc) rc = layout(r);
    if (!rc) rc = colearn_irt_open_data(r, resume);
    for (int i = 0; !rc && i < r->m; i++) rc = open_agent(r, i, resume ? ckpt : NULL);
    if (!rc && resume) rc = read_resume_state(r, ckpt);
    if (!rc) rc = ilr_mkdir_p(c->output_dir) ? ilr_last_error_code() : 0;
    if (!rc) rc = colearn_irt_setup(r, resume);
    if (!rc) rc = ilr_trainer_open(&r->trainer, c->output_dir, "train_log.jsonl", resume ? r->start_step : -1,
                                   c->keep_checkpoints, c->quiet);
    if (rc) return rc;
    if (!ilr_dist_is_root()) return 0; /* data parallel: rank 0 alone writes the run directory */
    char path[4200];
    snprintf(path, sizeof path, "%s/config.yaml", c->output_dir);
    if ((rc = ilr_cfg_save(ilr_train_config_schema(), c, path))) return rc;
    if (c->save_rollouts) {
        snprintf(path, sizeof path, "%s/rollouts.jsonl", c->output_dir);
        /* a resumed run keeps the lines of the steps before its checkpoint */
        if (resume && (rc = ilr_jsonl_truncate_steps(path, r->start_step))) return rc;
        if (!(r->rollouts = fopen(path, resume ? "a" : "w"))) return ILR_FAIL(ILR_EIO, "%s: cannot open for writing", path);
    }
    return 0;
}

static void colearn_close(colearn_run *r) {
    if (r->rollouts) fclose(r->rollouts);
    if (r->solo_log) fclose(r->solo_log);
    ilr_trainer_close(&r->trainer);
    ilr_dist_group_free(r->group);
    for (int i = 0; i < r->m; i++) {
        ilr_question_set_free(&r->agents[i].train);
        ilr_question_set_free(&r->agents[i].calib);
        ilr_policy_close(&r->agents[i].policy);
    }
    ilr_irt_fit_free(&r->irt);
    ilr_irt_responses_free(&r->running);
    free(r->difficulty);
    ilr_idea3_prompts_free(&r->prompts);
    ilr_dataset_free(&r->ds);
    ilr_dataset_free(&r->calib_ds);
    ilr_task_free(&r->task);
    ilr_data_order_free(&r->order);
}

/* ---- checkpoints ---- */

static int save_checkpoint(colearn_run *r, long step) {
    char dir[4200], tmp[4300], sub[4400];
    ilr_trainer_checkpoint_dir(&r->trainer, step, dir, sizeof dir);
    json_t *state = json_object(), *agents = json_object();
    json_object_set_new(state, "trainer", json_string("ilr"));
    json_object_set_new(state, "step", json_integer(step));
    json_object_set_new(state, "epoch", json_integer(r->order.epoch));
    json_object_set_new(state, "index", json_integer(r->order.index));
    json_object_set_new(state, "seed", json_integer((json_int_t)r->c->seed));
    for (int i = 0; i < r->m; i++) {
        json_t *a = json_object();
        json_object_set_new(a, "generated_tokens", json_integer(r->agents[i].generated_tokens));
        json_object_set_new(a, "trained_tokens", json_integer(r->agents[i].trained_tokens));
        json_object_set_new(a, "gamma", json_real(r->agents[i].gamma));
        json_object_set_new(agents, r->agents[i].cfg.name, a);
    }
    json_object_set_new(state, "agents", agents);
    /* rank 0 makes the temporary directory, each agent's leader writes the agent into it, and rank 0 renames it
     * into place once all have: a kill at any instant leaves the checkpoint whole or absent */
    int rc = ilr_dist_is_root() ? ilr_checkpoint_begin(dir, tmp, sizeof tmp) : 0;
    if (!rc) rc = ilr_dist_bcast(0, tmp, sizeof tmp);
    if (rc) return json_decref(state), rc;
    for (int i = 0; !rc && i < r->m; i++) {
        /* ZeRO-1: agent i's other ranks send the leader their shares of its moments as it writes them */
        if (ilr_dist_rank() != colearn_leader(r, i)) {
            if (colearn_serves(r, i)) rc = ilr_train_state_send_moments(&r->agents[i].policy.ts);
            continue;
        }
        snprintf(sub, sizeof sub, "%s/%s", tmp, r->agents[i].cfg.name);
        rc = ilr_policy_checkpoint(&r->agents[i].policy, sub, NULL);
    }
    int failed = rc != 0;
    int sync = ilr_dist_max_ints(&failed, 1); /* returns once every leader has written (or failed) */
    if (!rc && (sync || failed)) rc = sync ? sync : ILR_FAIL(ILR_EIO, "%s: another rank could not write its agent", dir);
    snprintf(sub, sizeof sub, "%s/trainer_state.json", tmp);
    if (!rc && ilr_dist_is_root()) rc = ilr_json_save_file(sub, state);
    json_decref(state);
    return ilr_dist_is_root() ? ilr_trainer_finish_checkpoint(&r->trainer, step, tmp, rc) : rc;
}

/* ---- the loop ---- */

/* On rank 0 (the others go on to the next step's rollouts and wait for it there). */
static int evaluate_all(colearn_run *r, const char *when, long step, json_t *summary) {
    if (!r->hooks || !r->hooks->evaluate || !ilr_dist_is_root()) return 0;
    int rc = 0;
    for (int i = 0; !rc && i < r->m; i++) {
        json_t *mine = summary ? json_object_get(json_object_get(summary, "agents"), r->agents[i].cfg.name) : NULL;
        rc = r->hooks->evaluate(r->hooks->ctx, &r->trainer, i, &r->agents[i].policy, when, step, mine);
    }
    return rc;
}

static void print_header(const colearn_run *r) {
    const ilr_train_config *c = r->c;
    if (c->quiet) return;
    static const char *const stages[] = {"fuse", "share+fuse", "all"};
    static const char *const scale[] = {"group std", "batch std", "mean only"};
    printf("ilr: %d agents, %d training questions (%s), task %s\n", r->m, r->ds.count, c->train_data,
           ilr_task_type_name(r->task.type));
    for (int i = 0; i < r->m; i++) {
        char where[64];
        if (colearn_serves(r, i)) snprintf(where, sizeof where, "%s", ilr_arch_name(r->agents[i].policy.model.config.arch));
        else snprintf(where, sizeof where, "on ranks %d-%d", r->first_rank[i], r->first_rank[i] + r->num_ranks[i] - 1);
        printf("  %-12s %s (%s), gamma %+.3f, lr %g\n", r->agents[i].cfg.name, r->agents[i].policy.from, where,
               r->agents[i].gamma, r->agents[i].cfg.lr);
        char zero1[200] = ""; /* rank 0's share: of the agents it trains */
        if (colearn_serves(r, i)) ilr_train_state_describe_zero1(&r->agents[i].policy.ts, zero1, sizeof zero1);
        if (colearn_serves(r, i) && *zero1) printf("  %-12s %s\n", "", zero1);
    }
    if (r->mine >= 0)
        printf("  agent-parallel: %d ranks; each agent is held, run and trained by its own (agents[].ranks), "
               "data-parallel among them\n", ilr_dist_size());
    printf("  steps %ld%s: %ld questions x %ld threads; interaction %s", c->steps, r->start_step ? " (resumed)" : "",
           c->prompts_per_step, c->num_generations, ilr_interaction_mode_name(r->interaction.mode));
    if (r->interaction.mode == ILR_MODE_DYNAMIC) printf(" (rule %s)", ilr_interaction_rule_name(r->interaction.rule));
    if (r->interaction.mode == ILR_MODE_RANDOM) printf(" (p %g)", r->interaction.coop_probability);
    printf("; calibration %s; trained stages %s; advantages %s, format weight %g%s\n", c->calibration ? "on" : "off",
           stages[c->train_stages], scale[c->scale_rewards], c->format_weight,
           c->calibration && c->scale_rewards == 0 && c->format_weight == 0
               ? " (calibration cannot change a two-level reward's group-std advantages)" : "");
    fflush(stdout);
}

static void print_step(const colearn_run *r, long step, json_t *line, const colearn_step_stats *st) {
    char eta[32], key[128];
    ilr_trainer_eta(&r->trainer, step, eta, sizeof eta);
    printf("  step %5ld/%ld  coop %.2f", step, r->c->steps, json_real_value(json_object_get(line, "coop_share")));
    for (int i = 0; i < r->m; i++) {
        snprintf(key, sizeof key, "%s/share/accuracy", r->agents[i].cfg.name);
        double alone = json_real_value(json_object_get(line, key));
        snprintf(key, sizeof key, "%s/fuse/accuracy", r->agents[i].cfg.name);
        printf("  %s alone %.3f fused %.3f", r->agents[i].cfg.name, alone, json_real_value(json_object_get(line, key)));
    }
    printf("  %.1f s  ETA %s\n", st->seconds[0] + st->seconds[1] + st->seconds[2] + st->update_seconds, eta);
    fflush(stdout);
}

static int loop_step(void *ctx, long step) {
    colearn_run *r = ctx;
    const ilr_train_config *c = r->c;
    double t0 = ilr_trainer_seconds(&r->trainer);
    json_t *line = NULL;
    colearn_step_stats st;
    int rc = colearn_step(r, step, &line, &st);
    if (rc) return rc;
    r->res->coop_questions += st.coop;
    r->res->questions += c->prompts_per_step;
    json_object_set_new(line, "step_time", json_real(ilr_trainer_seconds(&r->trainer) - t0));
    json_object_set_new(line, "seconds", json_real(ilr_trainer_seconds(&r->trainer)));
    if (!c->quiet && (step % c->log_every == 0 || step == r->start_step + 1 || step == c->steps)) print_step(r, step, line, &st);
    ilr_trainer_log(&r->trainer, line);
    return 0;
}

static int loop_evaluate(void *ctx, long step) { return evaluate_all(ctx, "", step, NULL); }
/* data-parallel, every rank holds the same weights and AdamW moments (or, ZeRO-1, its share of them) and rank 0
 * writes them; agent-parallel, each agent's leader writes its agent */
static int loop_save(void *ctx, long step) { return save_checkpoint(ctx, step); }

static int colearn_loop(colearn_run *r, json_t *summary, ilr_colearn_result *res) {
    const ilr_train_config *c = r->c;
    int rc = 0;
    print_header(r);
    if (r->start_step == 0) rc = evaluate_all(r, "before", 0, summary);
    r->res = res;
    ilr_trainer_steps steps = {r, loop_step, loop_evaluate, loop_save};
    ilr_trainer_outcome out = {0};
    if (!rc) rc = ilr_trainer_run_steps(&r->trainer, "ilr", r->start_step, c->steps, c->eval_every, c->save_every,
                                        c->max_minutes, &steps, &out);
    res->steps = out.steps, res->interrupted = out.interrupted, res->timed_out = out.timed_out, res->seconds = out.seconds;
    for (int i = 0; i < r->m; i++)
        res->generated_tokens[i] = r->agents[i].generated_tokens, res->trained_tokens[i] = r->agents[i].trained_tokens;
    if (rc || res->interrupted) return rc;
    if (res->timed_out && !c->quiet) printf("  train.max_minutes reached after step %ld\n", res->steps);
    return evaluate_all(r, "after", res->steps, summary);
}

/* The final models (OUTPUT_DIR/AGENT/) and train_summary.json. */
static int finish(colearn_run *r, const ilr_colearn_result *res, json_t *s) {
    const ilr_train_config *c = r->c;
    ilr_save_options save = {.dtype = ILR_DTYPE_F32};
    int rc = 0;
    for (int i = 0; !rc && i < r->m; i++) {
        char dir[4200];
        snprintf(dir, sizeof dir, "%s/%s", c->output_dir, r->agents[i].cfg.name);
        if (ilr_dist_rank() == colearn_leader(r, i)) { /* agent-parallel: the agent's own leader */
            rc = ilr_train_state_sync_model(&r->agents[i].policy.ts);
            if (!rc) rc = ilr_model_save(&r->agents[i].policy.model, dir, &save);
            if (!rc) rc = ilr_tokenizer_files_copy(r->agents[i].cfg.model, dir); /* the start model: a resumed run's checkpoint may be rotated away */
        }
        json_t *a = json_object_get(json_object_get(s, "agents"), r->agents[i].cfg.name);
        json_object_set_new(a, "model", json_string(dir));
        json_object_set_new(a, "start_model", json_string(r->agents[i].cfg.model));
        json_object_set_new(a, "gamma", json_real(r->agents[i].gamma));
        json_object_set_new(a, "generated_tokens", json_integer(r->agents[i].generated_tokens));
        json_object_set_new(a, "trained_tokens", json_integer(r->agents[i].trained_tokens));
    }
    if (rc || !ilr_dist_is_root()) return rc;
    static const char *const methods[] = {"grpo", "ilr", "ilr-coop", "ilr-comp", "ilr-random", "ilr-no-calibration"};
    json_object_set_new(s, "method", json_string(methods[c->method]));
    json_object_set_new(s, "steps", json_integer(res->steps));
    json_object_set_new(s, "timed_out", json_boolean(res->timed_out));
    json_object_set_new(s, "seconds", json_real(res->seconds));
    json_object_set_new(s, "coop_share", json_real(res->questions ? (double)res->coop_questions / res->questions : 0));
    char path[4200];
    snprintf(path, sizeof path, "%s/train_summary.json", c->output_dir);
    return ilr_json_save_file(path, s);
}

int ilr_colearn_run(const ilr_train_config *c, int resume, const ilr_train_hooks *hooks, ilr_colearn_result *res) {
    memset(res, 0, sizeof *res);
    colearn_run *r = calloc(1, sizeof *r);
    if (!r) return ILR_FAIL(ILR_ENOMEM, "out of memory");
    json_t *summary = json_object(), *agents = json_object();
    int rc = colearn_open(r, c, resume, hooks);
    res->num_agents = r->m;
    for (int i = 0; i < r->m; i++)
        if (r->agents[i].cfg.name) json_object_set_new(agents, r->agents[i].cfg.name, json_object());
    json_object_set_new(summary, "agents", agents);
    if (!rc) rc = colearn_loop(r, summary, res);
    if (!rc && !res->interrupted) rc = finish(r, res, summary);
    json_decref(summary);
    colearn_close(r);
    free(r);
    return rc;
}
