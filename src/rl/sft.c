/* Supervised fine-tuning (see include/ilr/sft.h): the training loop, evaluation and checkpoints. */
#include "ilr/sft.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ilr/checkpoint.h"
#include "ilr/dist.h"
#include "ilr/error.h"
#include "ilr/generate.h"
#include "ilr/io.h"
#include "ilr/json.h"
#include "ilr/log.h"
#include "ilr/math_grader.h"
#include "ilr/timer.h"
#include "ilr/tokenizer_files.h"
#include "ilr/train_state.h"
#include "ilr/trainer.h"
#include "ilr/transformer.h"
#include "sft_internal.h"

void ilr_sft_options_default(ilr_sft_options *o) {
    memset(o, 0, sizeof *o);
    o->pack = 1;
    o->batch = 8;
    o->seq = 512;
    o->grad_accum = 1;
    o->epochs = 1;
    o->lr = 2e-5f; /* transformers' TrainingArguments default */
    o->beta1 = 0.9f;
    o->beta2 = 0.999f;
    o->clip = 1.0f;
    o->schedule = ILR_LR_COSINE;
    o->log_every = 10;
    o->eval_every = 0;
    o->save_every = 0;
    o->keep_checkpoints = 2;
    o->eval_max = 200;
    o->seed = 42;
}

typedef struct {
    const ilr_sft_options *o;
    ilr_model model;
    ilr_train_state ts;
    ilr_tokenizer *tok;
    ilr_chat_template *chat;
    sft_data train, eval;
    sft_batch batch;
    sft_cursor cursor;
    ilr_trainer trainer;
    long total_steps;
} sft_run;

/* ---- evaluation ---- */

/* Mean negative log-likelihood per response token over the whole eval set. */
static double eval_loss(sft_run *r) {
    sft_cursor cur = {0, 0};
    double sum = 0;
    long count = 0;
    int rows;
    while ((rows = sft_batch_fill(&r->eval, &r->batch, &cur, r->o->batch, r->o->pack, 0, 0, 0)) > 0) {
        if (ilr_train_state_forward(&r->ts, r->batch.tokens, r->batch.lengths, r->batch.positions, r->batch.targets,
                                    rows, r->batch.T, 1.0f))
            return NAN;
        for (long i = 0; i < (long)rows * r->batch.T; i++)
            if (r->batch.targets[i] >= 0) sum -= r->ts.logprob[i], count++;
    }
    return count ? sum / count : 0;
}

/* The response's gold answer: the record's "answer", else what the grader extracts from the response. */
static int answer_correct(const sft_example *e, const char *text) {
    char *gold = NULL, *pred = NULL;
    if (e->answer) gold = strdup(e->answer);
    else if (ilr_math_extract(e->response, strlen(e->response), ILR_MATH_EXTRACT_STRICT, &gold) != 0) gold = NULL;
    int ok;
    if (!gold) ok = strcmp(text, e->response) == 0; /* nothing to extract: the whole response must match */
    else {
        ilr_math_verdict v = {0};
        ok = ilr_math_extract(text, strlen(text), ILR_MATH_EXTRACT_STRICT, &pred) == 0 &&
             ilr_math_equal(pred, gold, NULL, &v) == 0 && v.equal;
    }
    ilr_error_clear();
    free(gold);
    free(pred);
    return ok;
}

/* Greedy answers to the first eval_max eval prompts, graded. */
static int eval_accuracy(sft_run *r, ilr_sft_eval *ev) {
    int n = r->o->eval_max > 0 && r->o->eval_max < r->eval.n ? r->o->eval_max : r->eval.n;
    int slots = n < 64 ? n : 64, max_prompt = 0;
    for (int i = 0; i < n; i++) max_prompt = r->eval.ex[i].prompt_len > max_prompt ? r->eval.ex[i].prompt_len : max_prompt;
    int new_tokens = r->o->eval_new_tokens > 0 ? r->o->eval_new_tokens : r->eval.max_response + 8;
    ilr_generator g;
    int rc = ilr_gen_init(&g, &r->model, slots, max_prompt + new_tokens);
    const int **prompts = malloc(sizeof(int *) * (size_t)slots);
    int *lens = malloc(sizeof(int) * (size_t)slots);
    ilr_gen_output *out = calloc((size_t)slots, sizeof *out);
    if (!rc && (!prompts || !lens || !out)) rc = ILR_FAIL(ILR_ENOMEM, "out of memory for evaluation");
    ilr_gen_options opt = {.sampler = {0.0f, 0, 1.0f, 0.0f}, .max_new_tokens = new_tokens, .seed = 1};
    for (int first = 0; !rc && first < n; first += slots) {
        int m = n - first < slots ? n - first : slots;
        for (int i = 0; i < m; i++) {
            const sft_example *e = &r->eval.ex[first + i];
            prompts[i] = r->eval.ids + e->offset;
            lens[i] = e->prompt_len;
        }
        rc = ilr_generate(&g, r->tok, prompts, lens, m, 1, &opt, out);
        for (int i = 0; !rc && i < m; i++) {
            const sft_example *e = &r->eval.ex[first + i];
            int ok = answer_correct(e, out[i].text ? out[i].text : "");
            ev->correct += ok;
            ev->total++;
            ev->level_correct[e->level] += ok;
            ev->level_total[e->level]++;
        }
        for (int i = 0; i < m; i++) ilr_gen_output_free(&out[i]);
    }
    free(prompts);
    free(lens);
    free(out);
    if (g.model) ilr_gen_free(&g);
    return rc;
}

static int evaluate(sft_run *r, ilr_sft_eval *ev) {
    memset(ev, 0, sizeof *ev);
    if (!r->eval.n) return 0;
    ev->loss = eval_loss(r);
    if (isnan(ev->loss)) return ilr_last_error_code();
    ev->evaluated = 1;
    int rc = ilr_train_state_sync_model(&r->ts); /* the generator reads the host weights */
    return rc ? rc : eval_accuracy(r, ev);
}

static json_t *eval_json(const ilr_sft_eval *ev) {
    json_t *j = json_object();
    json_object_set_new(j, "eval_loss", json_real(ev->loss));
    json_object_set_new(j, "eval_accuracy", json_real(ev->total ? (double)ev->correct / ev->total : 0));
    json_object_set_new(j, "eval_examples", json_integer(ev->total));
    json_object_set_new(j, "eval_accuracy_by_level", ilr_level_accuracy_json(ev->level_correct, ev->level_total));
    return j;
}

static void print_eval(const char *when, const ilr_sft_eval *ev) {
    printf("  eval %-6s loss %.4f  accuracy %.1f%% (%d/%d)", when, ev->loss,
           ev->total ? 100.0 * ev->correct / ev->total : 0.0, ev->correct, ev->total);
    ilr_level_accuracy_print(stdout, ev->level_correct, ev->level_total);
    printf("\n");
    fflush(stdout);
}

/* ---- logging and checkpoints ---- */

/* On every rank: rank 0 writes (every rank holds the same weights), the others send it their shares of the moments
 * (ZeRO-1; nothing otherwise). */
static int save_checkpoint(sft_run *r, long step) {
    if (!ilr_dist_is_root()) return ilr_train_state_send_moments(&r->ts);
    char dir[4200];
    ilr_trainer_checkpoint_dir(&r->trainer, step, dir, sizeof dir);
    json_t *state = json_object();
    json_object_set_new(state, "step", json_integer(step));
    json_object_set_new(state, "epoch", json_integer(r->cursor.epoch));
    json_object_set_new(state, "index", json_integer(r->cursor.index));
    json_object_set_new(state, "seed", json_integer((json_int_t)r->o->seed));
    json_object_set_new(state, "trainer", json_string("sft"));
    int rc = ilr_train_state_save_checkpoint(&r->ts, dir, r->o->resume_dir ? r->o->resume_dir : r->o->model_dir, state);
    json_decref(state);
    return rc ? rc : ilr_trainer_commit_checkpoint(&r->trainer, step);
}

/* ---- setup ---- */

static int sft_open(sft_run *r, const ilr_sft_options *o) {
    r->o = o;
    const char *from = o->resume_dir ? o->resume_dir : o->model_dir;
    int rc = ilr_model_load(&r->model, from);
    if (!rc) rc = ilr_tok_load(&r->tok, from);
    if (!rc && o->chat) rc = ilr_chat_template_load(&r->chat, from);
    if (rc) return ilr_error_prefix("%s", from);
    const ilr_model_config *c = &r->model.config;
    if (c->num_eos < 1) return ILR_FAIL(ILR_EINVAL, "%s: config.json names no eos_token_id to end responses with", from);
    if (ilr_tok_vocab_size(r->tok) > c->vocab_size)
        return ILR_FAIL(ILR_EMISMATCH, "%s: the tokenizer has %d tokens, the model's vocabulary %d", from,
                        ilr_tok_vocab_size(r->tok), c->vocab_size);
    rc = sft_data_load(&r->train, o->train_path, r->tok, r->chat, c->eos_token_ids[0], o->seq);
    if (!rc && o->eval_path) rc = sft_data_load(&r->eval, o->eval_path, r->tok, r->chat, c->eos_token_ids[0], o->seq);
    if (!rc && o->zero1 && o->device != ILR_DEVICE_CPU)
        rc = ILR_FAIL(ILR_EUNSUPPORTED, "sft: --zero1 shards the CPU training step's AdamW moments over MPI ranks "
                      "(--device cpu); the CUDA backend runs in one process");
    if (!rc) rc = ilr_train_state_init(&r->ts, &r->model, o->batch, o->seq, o->device, o->recompute);
    if (!rc && o->zero1) rc = ilr_train_state_shard_optimizer(&r->ts, NULL);
    if (!rc) rc = sft_batch_init(&r->batch, o->batch, o->seq);
    if (rc) return rc;
    if (o->resume_dir) {
        json_t *state = NULL;
        rc = ilr_train_state_load_checkpoint(&r->ts, o->resume_dir, &state);
        if (!rc) {
            r->cursor.epoch = (long)json_integer_value(json_object_get(state, "epoch"));
            r->cursor.index = (int)json_integer_value(json_object_get(state, "index"));
            if (r->cursor.index < 0 || r->cursor.index > r->train.n || r->cursor.epoch < 0)
                rc = ILR_FAIL(ILR_EFORMAT, "%s/trainer_state.json: data cursor (epoch %ld, index %d) does not fit %s",
                              o->resume_dir, r->cursor.epoch, r->cursor.index, o->train_path);
        }
        json_decref(state);
    }
    if (rc) return rc;
    if (o->steps > 0) r->total_steps = o->steps;
    else {
        /* tokens of an epoch over tokens per step, rounded up (packing fills rows nearly full) */
        double per_step = (double)o->batch * o->grad_accum * (o->pack ? o->seq * 0.95 : r->train.max_len);
        double tokens = (double)r->train.num_ids * o->epochs;
        r->total_steps = o->pack ? (long)ceil(tokens / per_step)
                                 : (long)ceil(r->train.n * o->epochs / ((double)o->batch * o->grad_accum));
        if (r->total_steps < 1) r->total_steps = 1;
    }
    return ilr_trainer_open(&r->trainer, o->out_dir, "sft_log.jsonl", o->resume_dir ? (long)ilr_train_state_step(&r->ts) : -1,
                            o->keep_checkpoints, 1 /* no progress bar: the step lines show progress */);
}

static void sft_close(sft_run *r) {
    ilr_trainer_close(&r->trainer);
    sft_batch_free(&r->batch);
    ilr_train_state_free(&r->ts);
    sft_data_free(&r->train);
    sft_data_free(&r->eval);
    ilr_chat_template_free(r->chat);
    ilr_tok_free(r->tok);
    ilr_model_free(&r->model);
}

/* ---- the loop ---- */

/* The learning rate of optimizer step `step`. */
static float sft_lr(const sft_run *r, long step) {
    const ilr_sft_options *o = r->o;
    ilr_lr_schedule sched = {o->lr, o->warmup_steps, r->total_steps, o->min_lr_ratio, o->schedule};
    return ilr_lr_at(&sched, step);
}

/* One optimizer step: grad_accum packed micro-batches; the mean loss per response token in *loss.  Over N ranks
 * (include/ilr/dist.h) every rank packs every micro-batch (the data cursor moves alike on all) and rank r trains
 * micro-batches r, r + N, ...; the gradients and losses are summed over the ranks before the optimizer step. */
static int train_step(sft_run *r, long step, double *loss, double *grad_norm, long *tokens) {
    const ilr_sft_options *o = r->o;
    ilr_train_state_zero_grad(&r->ts);
    *loss = 0;
    int rc = 0;
    for (int micro = 0; !rc && micro < o->grad_accum; micro++) {
        int rows = sft_batch_fill(&r->train, &r->batch, &r->cursor, o->batch, o->pack, o->seed, 1, 1);
        int N = rows * r->batch.T;
        if (micro % ilr_dist_size() != ilr_dist_rank()) {
            *tokens += r->batch.real_tokens;
            continue;
        }
        rc = ilr_train_state_forward(&r->ts, r->batch.tokens, r->batch.lengths, r->batch.positions, r->batch.targets,
                                     rows, r->batch.T, 1.0f);
        if (rc) break;
        *loss += ilr_sft_loss(r->batch.dlogprob, r->ts.logprob, r->batch.targets, N) / o->grad_accum;
        if (o->grad_accum > 1) ilr_scale(r->batch.dlogprob, (size_t)N, 1.0f / o->grad_accum);
        rc = ilr_train_state_backward(&r->ts, r->batch.dlogprob);
        *tokens += r->batch.real_tokens;
    }
    if (!rc) rc = ilr_train_state_sum_grads(&r->ts, NULL);
    if (!rc) rc = ilr_dist_sum_doubles(NULL, loss, 1);
    ilr_adamw_params hp = {sft_lr(r, step), o->beta1, o->beta2, 1e-8f, o->weight_decay};
    return rc ? rc : ilr_train_state_adamw_step(&r->ts, &hp, o->clip, grad_norm);
}

static int sft_loop(sft_run *r, ilr_sft_result *res) {
    const ilr_sft_options *o = r->o;
    long start = ilr_train_state_step(&r->ts);
    int rc = 0;
    if (!o->quiet)
        printf("sft: %d examples (%ld response tokens), %ld steps of %d x %d tokens%s, lr %g %s, warmup %d\n", r->train.n,
               r->train.response_tokens, r->total_steps, o->batch * o->grad_accum, o->seq, o->pack ? " packed" : "",
               o->lr, ilr_lr_shape_name(o->schedule), o->warmup_steps);
    if (!o->quiet && ilr_dist_size() > 1)
        printf("  data parallel: %d ranks share each step's %d micro-batches%s\n", ilr_dist_size(), o->grad_accum,
               o->grad_accum % ilr_dist_size() ? " (unevenly: make --grad-accum a multiple of the ranks)" : "");
    char zero1[200];
    ilr_train_state_describe_zero1(&r->ts, zero1, sizeof zero1);
    if (!o->quiet && *zero1) printf("  %s\n", zero1);
    if (r->eval.n && start == 0) {
        rc = evaluate(r, &res->before);
        if (!rc && !o->quiet) print_eval("before", &res->before);
    }
    ilr_trainer_begin(&r->trainer, "sft", start, r->total_steps);
    long tokens = 0;
    for (long step = start + 1; !rc && step <= r->total_steps; step++) {
        double norm = 0, loss = 0;
        rc = train_step(r, step, &loss, &norm, &tokens);
        if (rc) break;
        if (step == start + 1) res->first_loss = loss;
        res->last_loss = loss;
        res->steps = step;
        double secs = ilr_trainer_seconds(&r->trainer);
        int stop = ilr_trainer_stop_requested(); /* every rank of a job stops after the same step */
        if ((rc = ilr_dist_max_ints(&stop, 1))) break;
        int last = step == r->total_steps || stop;
        if (step % o->log_every == 0 || step == start + 1 || last) {
            json_t *line = json_object();
            json_object_set_new(line, "step", json_integer(step));
            json_object_set_new(line, "loss", json_real(loss));
            json_object_set_new(line, "learning_rate", json_real(sft_lr(r, step)));
            json_object_set_new(line, "grad_norm", json_real(norm));
            json_object_set_new(line, "epoch", json_real(r->cursor.epoch + (double)r->cursor.index / r->train.n));
            json_object_set_new(line, "tokens_per_second", json_real(tokens / (secs > 0 ? secs : 1)));
            json_object_set_new(line, "seconds", json_real(secs));
            ilr_trainer_log(&r->trainer, line);
            if (!o->quiet) {
                char eta[32];
                ilr_trainer_eta(&r->trainer, step, eta, sizeof eta);
                printf("  step %5ld/%ld  loss %.4f  lr %.2e  grad %.3f  %.0f tok/s  ETA %s\n", step, r->total_steps, loss,
                       sft_lr(r, step), norm, tokens / (secs > 0 ? secs : 1), eta);
                fflush(stdout);
            }
        }
        if (!last && o->eval_every > 0 && step % o->eval_every == 0 && r->eval.n) {
            ilr_sft_eval ev;
            rc = evaluate(r, &ev);
            if (!rc) {
                json_t *line = eval_json(&ev);
                json_object_set_new(line, "step", json_integer(step));
                ilr_trainer_log(&r->trainer, line);
                if (!o->quiet) print_eval("", &ev);
            }
        }
        if (!rc && ((o->save_every > 0 && step % o->save_every == 0) || stop)) rc = save_checkpoint(r, step);
        if (stop) {
            res->interrupted = 1;
            break;
        }
    }
    res->seconds = ilr_trainer_seconds(&r->trainer);
    ilr_trainer_end(&r->trainer);
    res->tokens_per_s = tokens / (res->seconds > 0 ? res->seconds : 1);
    if (rc || res->interrupted) return rc;
    if (r->eval.n) {
        rc = evaluate(r, &res->after);
        if (!rc) {
            json_t *line = eval_json(&res->after);
            json_object_set_new(line, "step", json_integer(res->steps));
            ilr_trainer_log(&r->trainer, line);
            if (!o->quiet) print_eval("after", &res->after);
        }
    }
    return rc;
}

int ilr_sft_run(const ilr_sft_options *o, ilr_sft_result *res) {
    memset(res, 0, sizeof *res);
    if (o->batch < 1 || o->seq < 2 || o->grad_accum < 1 || !(o->lr > 0) || o->log_every < 1 || !o->train_path ||
        !o->out_dir || (!o->model_dir && !o->resume_dir))
        return ILR_FAIL(ILR_EINVAL, "sft: needs a model, training data, an output directory, batch >= 1, seq >= 2, "
                        "grad_accum >= 1, lr > 0 and log_every >= 1");
    sft_run r;
    memset(&r, 0, sizeof r);
    int rc = sft_open(&r, o);
    if (!rc) rc = sft_loop(&r, res);
    if (!rc && !res->interrupted) rc = ilr_train_state_sync_model(&r.ts);
    if (!rc && !res->interrupted && ilr_dist_is_root()) {
        ilr_save_options save = {.dtype = ILR_DTYPE_F32};
        rc = ilr_model_save(&r.model, o->out_dir, &save);
        if (!rc) rc = ilr_tokenizer_files_copy(o->resume_dir ? o->resume_dir : o->model_dir, o->out_dir);
        if (!rc) {
            json_t *summary = json_object();
            json_object_set_new(summary, "steps", json_integer(res->steps));
            json_object_set_new(summary, "first_loss", json_real(res->first_loss));
            json_object_set_new(summary, "last_loss", json_real(res->last_loss));
            json_object_set_new(summary, "seconds", json_real(res->seconds));
            json_object_set_new(summary, "tokens_per_second", json_real(res->tokens_per_s));
            if (res->before.evaluated) json_object_set_new(summary, "before", eval_json(&res->before));
            if (res->after.evaluated) json_object_set_new(summary, "after", eval_json(&res->after));
            char path[4096];
            snprintf(path, sizeof path, "%s/sft_summary.json", o->out_dir);
            rc = ilr_json_save_file(path, summary);
            json_decref(summary);
        }
    }
    sft_close(&r);
    return rc;
}
