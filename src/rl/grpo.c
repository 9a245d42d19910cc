/* The GRPO trainer (see include/ilr/grpo.h): setup, the step loop, logs and checkpoints. */
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "grpo_internal.h"
#include "ilr/checkpoint.h"
#include "ilr/error.h"
#include "ilr/grpo_loss.h"
#include "ilr/io.h"
#include "ilr/json.h"
#include "ilr/plot.h"
#include "ilr/progress.h"
#include "ilr/rng.h"
#include "ilr/schedule.h"
#include "ilr/template.h"
#include "ilr/timer.h"
#include "ilr/tokenizer_files.h"

static volatile sig_atomic_t grpo_stop_signal;
static void grpo_on_signal(int sig) { grpo_stop_signal = sig; }

static const char *task_name(int task) {
    return task == ILR_TRAIN_TASK_WORLD_ARITH ? "world-arith" : task == ILR_TRAIN_TASK_CODE ? "code" : "math";
}

/* ---- setup ---- */

/* The newest complete checkpoint of a run directory (its `latest` file). */
static int latest_checkpoint(const char *run_dir, char *out, size_t cap) {
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

/* Keeps the log's lines up to step (a resumed run rewrites what came after its checkpoint). */
static int truncate_log(const char *path, long step) {
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

static int grpo_open(grpo_run *r, const ilr_train_config *c, int resume, char *ckpt, size_t ckpt_cap) {
    r->c = c;
    r->order_epoch = -1;
    r->task = c->task;
    int rc = 0;
    r->from = c->model;
    if (resume) {
        if ((rc = latest_checkpoint(c->output_dir, ckpt, ckpt_cap))) return rc;
        r->from = ckpt;
    }
    rc = ilr_model_load(&r->model, r->from);
    if (!rc) rc = ilr_tok_load(&r->tok, r->from);
    if (!rc && c->chat) rc = ilr_chat_template_load(&r->chat, r->from);
    if (rc) return ilr_error_prefix("%s", r->from);
    if (ilr_tok_vocab_size(r->tok) > r->model.config.vocab_size)
        return ILR_FAIL(ILR_EMISMATCH, "%s: the tokenizer has %d tokens, the model's vocabulary %d", r->from,
                        ilr_tok_vocab_size(r->tok), r->model.config.vocab_size);
    if (c->beta > 0) {
        if ((rc = ilr_model_load(&r->ref_model, c->model))) return ilr_error_prefix("reference model %s", c->model);
        r->has_ref = 1;
    }
    ilr_reward_math_options_default(&r->math_opt);
    r->math_opt.format_weight = c->format_weight;
    r->math_opt.mode = c->math_extract == 1 ? ILR_MATH_EXTRACT_LAST_NUMBER
                     : c->math_extract == 2 ? ILR_MATH_EXTRACT_BOXED : ILR_MATH_EXTRACT_STRICT;
    ilr_reward_code_options_default(&r->code_opt);
    r->code_opt.format_weight = c->format_weight;
    if (r->task == ILR_TRAIN_TASK_AUTO) {
        ilr_dataset probe;
        if ((rc = ilr_dataset_open(c->train_data, &probe))) return rc;
        r->task = probe.kind == ILR_TASK_CODE ? ILR_TRAIN_TASK_CODE : ILR_TRAIN_TASK_MATH;
        ilr_dataset_free(&probe);
    }
    if (r->task == ILR_TRAIN_TASK_WORLD_ARITH &&
        (rc = ilr_template_load(c->template_path ? c->template_path : "prompts/world/solve.txt", &r->world_template)))
        return rc;
    rc = grpo_data_load(r, &r->train, c->train_data, 0);
    if (!rc && !(r->order = malloc(sizeof(int) * (size_t)r->train.n))) rc = ILR_FAIL(ILR_ENOMEM, "out of memory");
    if (!rc && c->eval_data) rc = grpo_data_load(r, &r->eval, c->eval_data, c->eval_max);
    if (!rc && c->test_data) rc = grpo_data_load(r, &r->test, c->test_data, c->test_max);
    if (rc) return rc;
    int max_prompt = r->train.max_prompt;
    if (r->eval.max_prompt > max_prompt) max_prompt = r->eval.max_prompt;
    if (r->test.max_prompt > max_prompt) max_prompt = r->test.max_prompt;
    int max_len = max_prompt + (int)c->max_new_tokens;
    if (max_len > r->model.config.max_position_embeddings)
        return ILR_FAIL(ILR_EINVAL, "%s: prompts of up to %d tokens plus rollout.max_new_tokens %ld exceed the model's "
                        "max_position_embeddings %d", r->from, max_prompt, c->max_new_tokens,
                        r->model.config.max_position_embeddings);
    rc = ilr_gen_init(&r->gen, &r->model, (int)(c->prompts_per_step * c->num_generations), max_len);
    if (!rc) rc = ilr_transformer_init(&r->tr, &r->model, (int)c->micro_batch, max_len);
    if (!rc && r->has_ref) rc = ilr_transformer_init(&r->ref_tr, &r->ref_model, (int)c->micro_batch, max_len);
    if (rc) return rc;
    if (resume) {
        json_t *state = NULL;
        rc = ilr_checkpoint_load_state(ckpt, &r->tr, &state);
        if (!rc) {
            r->epoch = (long)json_integer_value(json_object_get(state, "epoch"));
            r->index = (int)json_integer_value(json_object_get(state, "index"));
            if (r->index < 0 || r->index > r->train.n || r->epoch < 0)
                rc = ILR_FAIL(ILR_EFORMAT, "%s/trainer_state.json: data cursor (epoch %ld, index %d) does not fit %s",
                              ckpt, r->epoch, r->index, c->train_data);
        }
        json_decref(state);
        if (rc) return rc;
    }
    if (ilr_mkdir_p(c->output_dir)) return ilr_last_error_code();
    char path[4096];
    snprintf(path, sizeof path, "%s/config.yaml", c->output_dir);
    if ((rc = ilr_cfg_save(ilr_train_config_schema(), c, path))) return rc;
    snprintf(path, sizeof path, "%s/train_log.jsonl", c->output_dir);
    if (resume && (rc = truncate_log(path, r->tr.adam_step / c->num_iterations))) return rc;
    r->log = fopen(path, resume ? "a" : "w");
    if (!r->log) return ILR_FAIL(ILR_EIO, "%s: cannot open for writing", path);
    return 0;
}

static void grpo_close(grpo_run *r) {
    if (r->log) fclose(r->log);
    if (r->tr.model) ilr_transformer_free(&r->tr);
    if (r->ref_tr.model) ilr_transformer_free(&r->ref_tr);
    if (r->gen.model) ilr_gen_free(&r->gen);
    grpo_data_free(&r->train);
    grpo_data_free(&r->eval);
    grpo_data_free(&r->test);
    free(r->world_template);
    free(r->order);
    ilr_chat_template_free(r->chat);
    ilr_tok_free(r->tok);
    if (r->has_ref) ilr_model_free(&r->ref_model);
    ilr_model_free(&r->model);
}

/* ---- rollouts ---- */

/* The next train item in the data order; epochs reshuffle from (seed, epoch). */
static int next_item(grpo_run *r) {
    int n = r->train.n;
    if (r->index >= n) r->epoch++, r->index = 0;
    if (r->order_epoch != r->epoch) {
        ilr_rng rng;
        ilr_rng_init(&rng, (uint64_t)r->c->seed, 0x6772706fULL + (uint64_t)r->epoch);
        for (int i = 0; i < n; i++) r->order[i] = i;
        for (int i = n - 1; i > 0; i--) {
            int j = (int)ilr_rng_below(&rng, (uint32_t)i + 1), t = r->order[i];
            r->order[i] = r->order[j], r->order[j] = t;
        }
        r->order_epoch = r->epoch;
    }
    return r->order[r->index++];
}

static void rollout_free(grpo_rollout *ro) {
    for (int k = 0; ro->out && k < ro->S; k++) ilr_gen_output_free(&ro->out[k]);
    free(ro->item);
    free(ro->out);
    free(ro->reward);
    free(ro->adv);
    free(ro->weight);
    free(ro->correct);
    free(ro->formatted);
    free(ro->masked);
    free(ro->len);
    memset(ro, 0, sizeof *ro);
}

/* A step's sampling seed: a mix of the run's seed and the step, so a resumed step samples what it would have. */
static uint64_t step_seed(const ilr_train_config *c, long step) {
    ilr_rng rng;
    ilr_rng_init(&rng, (uint64_t)c->seed, 0x73616d70ULL + (uint64_t)step); /* a stream per step */
    return ilr_rng_u64(&rng);
}

static int rollout(grpo_run *r, long step, grpo_rollout *ro, double *gen_s, double *reward_s, int *zero_std) {
    const ilr_train_config *c = r->c;
    ro->prompts = (int)c->prompts_per_step;
    ro->G = (int)c->num_generations;
    ro->S = ro->prompts * ro->G;
    size_t S = (size_t)ro->S;
    ro->item = malloc(sizeof(int) * (size_t)ro->prompts);
    ro->out = calloc(S, sizeof *ro->out);
    ro->reward = malloc(sizeof(float) * S);
    ro->adv = malloc(sizeof(float) * S);
    ro->weight = malloc(sizeof(float) * S);
    ro->correct = malloc(sizeof(int) * S);
    ro->formatted = malloc(sizeof(int) * S);
    ro->masked = calloc(S, 1);
    ro->len = malloc(sizeof(int) * S);
    const int **prompts = malloc(sizeof(int *) * (size_t)ro->prompts);
    int *lens = malloc(sizeof(int) * (size_t)ro->prompts), *item_of = malloc(sizeof(int) * S);
    int rc = 0;
    if (!ro->item || !ro->out || !ro->reward || !ro->adv || !ro->weight || !ro->correct || !ro->formatted ||
        !ro->masked || !ro->len || !prompts || !lens || !item_of)
        rc = ILR_FAIL(ILR_ENOMEM, "out of memory for a rollout batch of %d", ro->S);
    for (int p = 0; !rc && p < ro->prompts; p++) {
        ro->item[p] = next_item(r);
        prompts[p] = r->train.ids[ro->item[p]];
        lens[p] = r->train.lens[ro->item[p]];
        for (int j = 0; j < ro->G; j++) item_of[p * ro->G + j] = ro->item[p];
    }
    ilr_gen_options opt = {.sampler = {(float)c->temperature, (int)c->top_k, (float)c->top_p, (float)c->min_p},
                           .max_new_tokens = (int)c->max_new_tokens, .seed = step_seed(c, step)};
    ilr_timer t;
    ilr_timer_start(&t);
    if (!rc) rc = ilr_generate(&r->gen, r->tok, prompts, lens, ro->prompts, ro->G, &opt, ro->out);
    *gen_s = ilr_timer_elapsed(&t);
    ilr_timer_start(&t);
    if (!rc) rc = grpo_rewards(r, &r->train, item_of, ro->out, ro->S, ro->reward, ro->correct, ro->formatted);
    *reward_s = ilr_timer_elapsed(&t);
    if (!rc) {
        ilr_grpo_advantages(ro->adv, ro->reward, ro->prompts, ro->G, (ilr_grpo_scale)c->scale_rewards, zero_std);
        for (int k = 0; k < ro->S; k++) {
            ro->len[k] = ro->out[k].count;
            ro->masked[k] = c->mask_truncated && ro->out[k].reason == ILR_STOP_LENGTH;
        }
        ilr_grpo_sequence_weights(ro->weight, ro->len, ro->masked, ro->S, (ilr_grpo_loss_type)c->loss_type,
                                  (int)c->max_new_tokens);
    }
    free(prompts);
    free(lens);
    free(item_of);
    return rc;
}

/* ---- the policy update ---- */

/* The learning rate of optimizer step opt_step (a rollout step makes num_iterations of them). */
static float grpo_lr(const ilr_train_config *c, long opt_step) {
    ilr_lr_schedule sched = {(float)c->lr, (int)c->warmup_steps, c->steps * c->num_iterations, (float)c->min_lr_ratio,
                             (ilr_lr_shape)c->lr_schedule};
    return ilr_lr_at(&sched, opt_step);
}

typedef struct {
    double loss, grad_norm, entropy, entropy_tokens;
    ilr_grpo_token_stats tok;
} update_stats;

/* Fills the transformer batch with completions [first, first + B) of the rollout: prompt + completion, the
 * completion's tokens as targets.  Returns the padded length T. */
static int fill_batch(grpo_run *r, const grpo_rollout *ro, int first, int B, int *tokens, int *lengths, int *targets) {
    int T = 1;
    for (int b = 0; b < B; b++) {
        int k = first + b, p = ro->item[k / ro->G], len = r->train.lens[p] + ro->out[k].count;
        if (len > T) T = len;
    }
    for (int b = 0; b < B; b++) {
        int k = first + b, p = ro->item[k / ro->G], pl = r->train.lens[p], n = ro->out[k].count;
        int *tok = tokens + (long)b * T, *tgt = targets + (long)b * T;
        memcpy(tok, r->train.ids[p], sizeof(int) * (size_t)pl);
        memcpy(tok + pl, ro->out[k].ids, sizeof(int) * (size_t)n);
        for (int t = pl + n; t < T; t++) tok[t] = 0;
        for (int t = 0; t < T; t++) tgt[t] = -1;
        for (int j = 0; j < n; j++) tgt[pl - 1 + j] = ro->out[k].ids[j];
        lengths[b] = pl + n;
    }
    return T;
}

/* num_iterations optimizer steps over the rollout batch; ref_lp (per completion) is filled on the first. */
static int update(grpo_run *r, long step, grpo_rollout *ro, float **ref_lp, update_stats *st) {
    const ilr_train_config *c = r->c;
    int MB = (int)c->micro_batch, Tmax = r->tr.max_T;
    size_t cells = (size_t)MB * Tmax;
    int *tokens = malloc(sizeof(int) * cells), *targets = malloc(sizeof(int) * cells), *lengths = malloc(sizeof(int) * MB);
    float *dlogp = malloc(sizeof(float) * cells);
    int rc = tokens && targets && lengths && dlogp ? 0 : ILR_FAIL(ILR_ENOMEM, "out of memory");
    ilr_grpo_loss_params lp = {(float)c->epsilon, (float)c->epsilon_high, (float)c->beta};
    for (int it = 0; !rc && it < c->num_iterations; it++) {
        ilr_transformer_zero_grad(&r->tr);
        double loss = 0;
        for (int first = 0; first < ro->S; first += MB) {
            int B = ro->S - first < MB ? ro->S - first : MB;
            int T = fill_batch(r, ro, first, B, tokens, lengths, targets);
            if (it == 0 && r->has_ref) {
                ilr_transformer_forward(&r->ref_tr, tokens, lengths, targets, B, T);
                for (int b = 0; b < B; b++) {
                    int k = first + b, pl = lengths[b] - ro->out[k].count;
                    for (int j = 0; j < ro->out[k].count; j++) ref_lp[k][j] = r->ref_tr.logprob[(long)b * T + pl - 1 + j];
                }
            }
            ilr_transformer_forward(&r->tr, tokens, lengths, targets, B, T);
            memset(dlogp, 0, sizeof(float) * (size_t)B * T);
            for (int b = 0; b < B; b++) {
                int k = first + b, n = ro->out[k].count;
                long at = (long)b * T + lengths[b] - n - 1; /* the completion's first target position */
                if (it == 0)
                    for (int j = 0; j < n; j++) st->entropy += r->tr.entropy[at + j], st->entropy_tokens++;
                if (ro->weight[k] == 0) continue;
                loss += ilr_grpo_token_loss(dlogp + at, r->tr.logprob + at, ro->out[k].logprobs,
                                            r->has_ref ? ref_lp[k] : NULL, n, ro->adv[k], ro->weight[k], &lp,
                                            it == 0 ? &st->tok : NULL);
            }
            ilr_transformer_backward(&r->tr, dlogp);
        }
        long opt_step = (step - 1) * c->num_iterations + it + 1;
        ilr_adamw_params hp = {grpo_lr(c, opt_step), (float)c->adam_beta1, (float)c->adam_beta2,
                               (float)c->adam_eps, (float)c->weight_decay};
        rc = ilr_transformer_adamw_step(&r->tr, &hp, (float)c->max_grad_norm, &st->grad_norm);
        st->loss += loss / c->num_iterations;
    }
    free(tokens);
    free(targets);
    free(lengths);
    free(dlogp);
    return rc;
}

/* ---- logs ---- */

static void log_line(grpo_run *r, json_t *line) {
    char *text = json_dumps(line, JSON_COMPACT | JSON_REAL_PRECISION(7));
    if (text) fprintf(r->log, "%s\n", text), fflush(r->log);
    free(text);
    json_decref(line);
}

static void set_real(json_t *o, const char *key, double v) { json_object_set_new(o, key, json_real(v)); }

/* "PREFIX_name", or "name" when prefix is empty. */
static void eval_key(char *key, size_t cap, const char *prefix, const char *name) {
    snprintf(key, cap, "%s%s%s", prefix, *prefix ? "_" : "", name);
}

static json_t *eval_json(const char *prefix, const ilr_grpo_eval *ev, long step) {
    json_t *j = json_object();
    char key[64];
    if (step >= 0) json_object_set_new(j, "step", json_integer(step));
    eval_key(key, sizeof key, prefix, "accuracy");
    set_real(j, key, ev->total ? (double)ev->correct / ev->total : 0);
    eval_key(key, sizeof key, prefix, "reward");
    set_real(j, key, ev->reward);
    eval_key(key, sizeof key, prefix, "examples");
    json_object_set_new(j, key, json_integer(ev->total));
    eval_key(key, sizeof key, prefix, "accuracy_by_level");
    json_object_set_new(j, key, ilr_level_accuracy_json(ev->level_correct, ev->level_total));
    return j;
}

static void print_eval(const grpo_run *r, const char *what, const char *when, const ilr_grpo_eval *ev) {
    if (r->c->quiet) return;
    printf("  %s %-6s accuracy %5.1f%% (%d/%d)  reward %.3f", what, when, ev->total ? 100.0 * ev->correct / ev->total : 0.0,
           ev->correct, ev->total, ev->reward);
    ilr_level_accuracy_print(stdout, ev->level_correct, ev->level_total);
    printf("\n");
    fflush(stdout);
}

/* Greedy accuracy on d, logged as PREFIX_*; with data.eval_samples > 0 also avg@k of sampled answers at the
 * rollout temperature, logged as PREFIX_sampled_* (into *sampled when given). */
static int run_eval(grpo_run *r, const grpo_data *d, const char *prefix, const char *when, long step, ilr_grpo_eval *ev,
                    ilr_grpo_eval *sampled) {
    if (!d->n) return 0;
    int rc = grpo_evaluate(r, d, 0, 0, ev);
    if (rc) return rc;
    log_line(r, eval_json(prefix, ev, step));
    print_eval(r, prefix, when, ev);
    if (r->c->eval_samples <= 0) return 0;
    ilr_grpo_eval local, *s = sampled ? sampled : &local;
    if ((rc = grpo_evaluate(r, d, (int)r->c->eval_samples, (float)r->c->temperature, s))) return rc;
    char name[48];
    snprintf(name, sizeof name, "%s_sampled", prefix);
    log_line(r, eval_json(name, s, step));
    print_eval(r, name, when, s);
    return 0;
}

/* The step's metrics, under TRL's names where it has one. */
static json_t *step_json(const grpo_run *r, long step, const grpo_rollout *ro, const update_stats *st, int zero_std,
                         double times[3], double step_s, double secs, long tokens) {
    const ilr_train_config *c = r->c;
    json_t *j = json_object();
    double sum = 0, sq = 0, group_std = 0, correct = 0, formatted = 0, len_sum = 0, term_sum = 0, term = 0, clipped = 0;
    int min_len = ro->S ? ro->len[0] : 0, max_len = 0;
    for (int k = 0; k < ro->S; k++) {
        sum += ro->reward[k], sq += (double)ro->reward[k] * ro->reward[k];
        correct += ro->correct[k], formatted += ro->formatted[k], len_sum += ro->len[k];
        if (ro->len[k] < min_len) min_len = ro->len[k];
        if (ro->len[k] > max_len) max_len = ro->len[k];
        if (ro->out[k].reason == ILR_STOP_LENGTH) clipped++;
        else term++, term_sum += ro->len[k];
    }
    for (int p = 0; p < ro->prompts; p++) {
        double m = 0, v = 0;
        for (int k = 0; k < ro->G; k++) m += ro->reward[p * ro->G + k];
        m /= ro->G;
        for (int k = 0; k < ro->G; k++) v += (ro->reward[p * ro->G + k] - m) * (ro->reward[p * ro->G + k] - m);
        group_std += sqrt(v / (ro->G - 1));
    }
    double S = ro->S, mean = sum / S, ntok = st->tok.tokens > 0 ? st->tok.tokens : 1;
    char key[64];
    json_object_set_new(j, "step", json_integer(step));
    set_real(j, "epoch", r->epoch + (double)r->index / r->train.n);
    set_real(j, "loss", st->loss);
    set_real(j, "grad_norm", st->grad_norm);
    set_real(j, "learning_rate", grpo_lr(c, step * c->num_iterations));
    set_real(j, "reward", mean);
    set_real(j, "reward_std", group_std / ro->prompts);
    snprintf(key, sizeof key, "rewards/%s/mean", task_name(r->task));
    set_real(j, key, mean);
    snprintf(key, sizeof key, "rewards/%s/std", task_name(r->task));
    set_real(j, key, S > 1 ? sqrt(fmax(0, (sq - S * mean * mean) / (S - 1))) : 0);
    set_real(j, "accuracy", correct / S);
    set_real(j, "format_rate", formatted / S);
    set_real(j, "frac_reward_zero_std", (double)zero_std / ro->prompts);
    set_real(j, "completions/mean_length", len_sum / S);
    json_object_set_new(j, "completions/min_length", json_integer(min_len));
    json_object_set_new(j, "completions/max_length", json_integer(max_len));
    set_real(j, "completions/clipped_ratio", clipped / S);
    set_real(j, "completions/mean_terminated_length", term ? term_sum / term : 0);
    set_real(j, "entropy", st->entropy_tokens ? st->entropy / st->entropy_tokens : 0);
    if (c->beta > 0) set_real(j, "kl", st->tok.kl / ntok);
    set_real(j, "clip_ratio/low_mean", st->tok.low_clip / ntok);
    set_real(j, "clip_ratio/high_mean", st->tok.high_clip / ntok);
    set_real(j, "clip_ratio/region_mean", (st->tok.low_clip + st->tok.high_clip) / ntok);
    json_object_set_new(j, "num_tokens", json_integer(tokens));
    set_real(j, "tokens_per_second", (len_sum + 0.0) / (step_s > 0 ? step_s : 1));
    set_real(j, "time/generation", times[0]);
    set_real(j, "time/reward", times[1]);
    set_real(j, "time/training", times[2]);
    set_real(j, "step_time", step_s);
    set_real(j, "seconds", secs);
    return j;
}

/* ---- checkpoints ---- */

static int compare_long(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

/* Keeps the newest `keep` complete checkpoint-STEP directories of run_dir (temporaries, named
 * checkpoint-STEP.tmp.PID, are not checkpoints and are left alone). */
static int prune_checkpoints(const char *run_dir, long keep) {
    DIR *d = opendir(run_dir);
    if (!d) return ILR_FAIL(ILR_EIO, "%s: cannot list the run directory", run_dir);
    long *steps = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *e;
    while (!rc && (e = readdir(d))) {
        char *end;
        if (strncmp(e->d_name, "checkpoint-", 11) != 0) continue;
        long step = strtol(e->d_name + 11, &end, 10);
        if (end == e->d_name + 11 || *end) continue;
        if (n == cap) {
            long *grown = realloc(steps, sizeof *steps * (cap = cap ? 2 * cap : 16));
            if (!grown) rc = ILR_FAIL(ILR_ENOMEM, "out of memory");
            else steps = grown;
        }
        if (!rc) steps[n++] = step;
    }
    closedir(d);
    if (!rc) qsort(steps, n, sizeof *steps, compare_long);
    for (size_t i = 0; !rc && n > (size_t)keep && i < n - (size_t)keep; i++) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/checkpoint-%06ld", run_dir, steps[i]);
        rc = ilr_remove_tree(dir);
    }
    free(steps);
    return rc;
}

static int save_checkpoint(grpo_run *r, long step) {
    const ilr_train_config *c = r->c;
    char dir[4096], latest[4096];
    snprintf(dir, sizeof dir, "%s/checkpoint-%06ld", c->output_dir, step);
    json_t *state = json_object();
    json_object_set_new(state, "trainer", json_string("grpo"));
    json_object_set_new(state, "step", json_integer(step));
    json_object_set_new(state, "epoch", json_integer(r->epoch));
    json_object_set_new(state, "index", json_integer(r->index));
    json_object_set_new(state, "seed", json_integer((json_int_t)c->seed));
    /* the sampling streams are a function of (seed, step): this is the next step's */
    char seed_text[32];
    snprintf(seed_text, sizeof seed_text, "%016llx", (unsigned long long)step_seed(c, step + 1));
    json_object_set_new(state, "next_sampling_seed", json_string(seed_text));
    int rc = ilr_checkpoint_save(dir, &r->model, &r->tr, r->from, state);
    json_decref(state);
    if (rc) return rc;
    snprintf(latest, sizeof latest, "%s/latest", c->output_dir);
    snprintf(dir, sizeof dir, "checkpoint-%06ld\n", step);
    if ((rc = ilr_file_write_atomic(latest, dir, strlen(dir)))) return rc;
    return prune_checkpoints(c->output_dir, c->keep_checkpoints);
}

/* ---- the loop ---- */

static void print_header(const grpo_run *r, long start) {
    const ilr_train_config *c = r->c;
    if (c->quiet) return;
    printf("grpo: %s (%s), %d training questions (%s), task %s\n", r->from, ilr_arch_name(r->model.config.arch), r->train.n,
           c->train_data, task_name(r->task));
    printf("  steps %ld%s: %ld questions x %ld completions, micro-batch %ld, mu %ld, lr %g %s warmup %ld\n", c->steps,
           start ? " (resumed)" : "", c->prompts_per_step, c->num_generations, c->micro_batch, c->num_iterations, c->lr,
           ilr_lr_shape_name((ilr_lr_shape)c->lr_schedule), c->warmup_steps);
    const char *scale[] = {"(r - mean) / (std_group + 1e-4)", "(r - mean) / (std_batch + 1e-4)", "r - mean (Dr. GRPO)"};
    const char *agg[] = {"token mean (dapo)", "sequence mean (grpo)", "token sum / (S * max_new_tokens) (dr_grpo)"};
    printf("  advantage %s, loss %s, clip [%g, %g], beta %g%s\n", scale[c->scale_rewards], agg[c->loss_type],
           1 - c->epsilon, 1 + c->epsilon_high, c->beta, c->beta > 0 ? " (reference: the starting model)" : " (no reference)");
    fflush(stdout);
}

static int grpo_loop(grpo_run *r, ilr_grpo_result *res) {
    const ilr_train_config *c = r->c;
    long start = r->tr.adam_step / c->num_iterations;
    int rc = 0;
    print_header(r, start);
    if (start == 0) {
        rc = run_eval(r, &r->eval, "eval", "before", 0, &res->eval_before, NULL);
        if (!rc) rc = run_eval(r, &r->test, "test", "before", 0, &res->test_before, &res->test_sampled_before);
    }
    struct sigaction sa = {.sa_handler = grpo_on_signal}, old_int, old_term;
    sigemptyset(&sa.sa_mask);
    grpo_stop_signal = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    ilr_progress bar;
    ilr_progress_begin(&bar, "grpo", c->steps, "steps");
    bar.quiet = c->quiet;
    ilr_progress_update(&bar, start);
    ilr_timer timer;
    ilr_timer_start(&timer);
    long tokens = 0;
    float **ref_lp = NULL;
    for (long step = start + 1; !rc && step <= c->steps; step++) {
        grpo_rollout ro = {0};
        update_stats st = {0};
        double times[3] = {0}, t0 = ilr_timer_elapsed(&timer);
        int zero_std = 0;
        rc = rollout(r, step, &ro, &times[0], &times[1], &zero_std);
        if (!rc && r->has_ref) {
            ref_lp = calloc((size_t)ro.S, sizeof *ref_lp);
            for (int k = 0; ref_lp && k < ro.S && !rc; k++)
                if (!(ref_lp[k] = malloc(sizeof(float) * (size_t)(ro.len[k] + 1)))) rc = ILR_FAIL(ILR_ENOMEM, "out of memory");
            if (!ref_lp) rc = ILR_FAIL(ILR_ENOMEM, "out of memory");
        }
        ilr_timer tt;
        ilr_timer_start(&tt);
        if (!rc) rc = update(r, step, &ro, ref_lp, &st);
        times[2] = ilr_timer_elapsed(&tt);
        for (int k = 0; ref_lp && k < ro.S; k++) free(ref_lp[k]);
        free(ref_lp);
        ref_lp = NULL;
        if (!rc) {
            for (int k = 0; k < ro.S; k++) tokens += ro.len[k] + r->train.lens[ro.item[k / ro.G]];
            double secs = ilr_timer_elapsed(&timer);
            json_t *line = step_json(r, step, &ro, &st, zero_std, times, secs - t0, secs, tokens);
            double reward = json_real_value(json_object_get(line, "reward"));
            if (step == start + 1) res->first_reward = reward;
            res->last_reward = reward;
            res->steps = step;
            if (!c->quiet && (step % c->log_every == 0 || step == start + 1 || step == c->steps)) {
                char eta[32];
                ilr_format_duration(secs / (step - start) * (c->steps - step), eta, sizeof eta);
                printf("  step %5ld/%ld  reward %.3f  accuracy %.3f  loss %+.4f  grad %.3f  len %.0f  %.1f s  ETA %s\n", step,
                       c->steps, reward, json_real_value(json_object_get(line, "accuracy")), st.loss, st.grad_norm,
                       json_real_value(json_object_get(line, "completions/mean_length")), secs - t0, eta);
                fflush(stdout);
            }
            log_line(r, line);
            ilr_progress_update(&bar, step);
        }
        rollout_free(&ro);
        if (rc) break;
        res->timed_out = c->max_minutes > 0 && ilr_timer_elapsed(&timer) > c->max_minutes * 60 && step < c->steps;
        int last = step == c->steps || grpo_stop_signal || res->timed_out;
        if (!last && c->eval_every > 0 && step % c->eval_every == 0) rc = run_eval(r, &r->eval, "eval", "", step, &res->eval_after, NULL);
        if (!rc && ((c->save_every > 0 && step % c->save_every == 0) || grpo_stop_signal || res->timed_out))
            rc = save_checkpoint(r, step);
        if (grpo_stop_signal) {
            res->interrupted = 1;
            break;
        }
        if (res->timed_out) break;
    }
    ilr_progress_end(&bar);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    res->seconds = ilr_timer_elapsed(&timer);
    if (rc || res->interrupted) return rc;
    if (res->timed_out && !c->quiet) printf("  train.max_minutes reached after step %ld\n", res->steps);
    rc = run_eval(r, &r->eval, "eval", "after", res->steps, &res->eval_after, NULL);
    if (!rc) rc = run_eval(r, &r->test, "test", "after", res->steps, &res->test_after, &res->test_sampled_after);
    return rc;
}

/* ---- the end of a run: the model, a summary, the curve ---- */

static json_t *summary_eval(const ilr_grpo_eval *ev) { return eval_json("", ev, -1); }

/* curve.svg: mean reward and accuracy of the training samples (each step) and held-out accuracy, greedy and
 * sampled (at each evaluation), from the run's log. */
static int write_curve(const ilr_train_config *c) {
    char log[4096], svg_path[4096];
    snprintf(log, sizeof log, "%s/train_log.jsonl", c->output_dir);
    snprintf(svg_path, sizeof svg_path, "%s/curve.svg", c->output_dir);
    char sampled[64];
    snprintf(sampled, sizeof sampled, "held-out accuracy (sampled, avg@%ld)", c->eval_samples);
    const char *keys[] = {"reward", "accuracy", "eval_accuracy", "eval_sampled_accuracy"};
    const char *names[] = {"mean reward (training samples)", "accuracy (training samples)", "held-out accuracy (greedy)", sampled};
    ilr_plot_options opt = ilr_plot_default_options();
    opt.title = "GRPO: reward and accuracy per step";
    opt.x_label = "step";
    opt.y_label = "reward / accuracy";
    opt.markers = 0;
    int n = !c->eval_data || !c->eval_data[0] ? 2 : c->eval_samples > 0 ? 4 : 3; /* no empty legend entries */
    return ilr_plot_log_svg(log, "step", keys, names, n, &opt, svg_path);
}

static int finish(grpo_run *r, const ilr_grpo_result *res) {
    const ilr_train_config *c = r->c;
    ilr_save_options save = {.dtype = ILR_DTYPE_F32};
    int rc = ilr_model_save(&r->model, c->output_dir, &save);
    if (!rc) rc = ilr_tokenizer_files_copy(r->from, c->output_dir);
    if (rc) return rc;
    json_t *s = json_object();
    json_object_set_new(s, "method", json_string("grpo"));
    json_object_set_new(s, "steps", json_integer(res->steps));
    json_object_set_new(s, "timed_out", json_boolean(res->timed_out));
    set_real(s, "seconds", res->seconds);
    set_real(s, "first_reward", res->first_reward);
    set_real(s, "last_reward", res->last_reward);
    if (res->eval_before.evaluated) json_object_set_new(s, "eval_before", summary_eval(&res->eval_before));
    if (res->eval_after.evaluated) json_object_set_new(s, "eval_after", summary_eval(&res->eval_after));
    if (res->test_before.evaluated) json_object_set_new(s, "test_before", summary_eval(&res->test_before));
    if (res->test_after.evaluated) json_object_set_new(s, "test_after", summary_eval(&res->test_after));
    if (res->test_sampled_before.evaluated)
        json_object_set_new(s, "test_sampled_before", summary_eval(&res->test_sampled_before));
    if (res->test_sampled_after.evaluated) json_object_set_new(s, "test_sampled_after", summary_eval(&res->test_sampled_after));
    char path[4096];
    snprintf(path, sizeof path, "%s/train_summary.json", c->output_dir);
    rc = ilr_json_save_file(path, s);
    json_decref(s);
    return rc ? rc : write_curve(c);
}

int ilr_grpo_run(const ilr_train_config *c, int resume, ilr_grpo_result *res) {
    memset(res, 0, sizeof *res);
    grpo_run r;
    memset(&r, 0, sizeof r);
    char ckpt[4096] = "";
    int rc = grpo_open(&r, c, resume, ckpt, sizeof ckpt);
    if (!rc) rc = grpo_loop(&r, res);
    if (!rc && !res->interrupted) rc = finish(&r, res);
    grpo_close(&r);
    return rc;
}
