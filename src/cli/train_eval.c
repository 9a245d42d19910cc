/* Evaluation hooks for the trainers and the training curve (see src/cli/train_eval.h). */
#include "train_eval.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ilr/colearn.h"
#include "ilr/dist.h"
#include "ilr/error.h"
#include "ilr/grpo.h"
#include "ilr/plot.h"

int train_eval_init(train_eval *e, const ilr_train_config *c, int multi) {
    memset(e, 0, sizeof *e);
    e->c = c;
    e->multi = multi;
    if (!c->eval_data && !c->test_data) return 0; /* nothing to evaluate (and no data to open) */
    int rc = ilr_task_init(&e->task, (ilr_task_type)c->task, c->train_data, c->format_weight, c->math_extract, c->template_path);
    if (!rc && c->eval_data) rc = ilr_task_open_dataset(&e->task, c->eval_data, c->template_path, &e->eval_ds);
    if (!rc && c->test_data) rc = ilr_task_open_dataset(&e->task, c->test_data, c->template_path, &e->test_ds);
    return rc;
}

void train_eval_free(train_eval *e) {
    for (int i = 0; i < ILR_MAX_AGENTS; i++) ilr_question_set_free(&e->eval_q[i]), ilr_question_set_free(&e->test_q[i]);
    ilr_dataset_free(&e->eval_ds);
    ilr_dataset_free(&e->test_ds);
    ilr_task_free(&e->task);
}

/* Each agent reads the questions with its own tokenizer. */
static int prepare(void *ctx, int agent, ilr_policy *p, int *max_prompt) {
    train_eval *e = ctx;
    const ilr_train_config *c = e->c;
    if (agent < 0 || agent >= ILR_MAX_AGENTS) return ILR_FAIL(ILR_EINVAL, "evaluation: agent %d of at most %d", agent, ILR_MAX_AGENTS);
    int rc = 0;
    if (e->eval_ds.items)
        rc = ilr_question_set_build(&e->eval_q[agent], &e->eval_ds, c->eval_max, &e->task, p->tok, p->chat, c->max_prompt_tokens);
    if (!rc && e->test_ds.items)
        rc = ilr_question_set_build(&e->test_q[agent], &e->test_ds, c->test_max, &e->task, p->tok, p->chat, c->max_prompt_tokens);
    if (e->eval_q[agent].max_prompt > *max_prompt) *max_prompt = e->eval_q[agent].max_prompt;
    if (e->test_q[agent].max_prompt > *max_prompt) *max_prompt = e->test_q[agent].max_prompt;
    return rc;
}

/* One evaluation: logged as [AGENT/]PREFIX_*, printed, and copied to *keep when given. */
static int run_one(train_eval *e, ilr_trainer *t, ilr_policy *p, const ilr_question_set *q, const char *prefix, int samples,
                   const char *when, long step, ilr_eval_result *keep) {
    const ilr_train_config *c = e->c;
    ilr_eval_options o = {samples, (float)c->temperature, (int)c->max_new_tokens, (uint64_t)c->seed + 7777};
    ilr_eval_result ev;
    int rc = ilr_eval_questions(&p->gen, p->tok, &e->task, q, &o, &ev);
    if (rc) return rc;
    char key[128];
    snprintf(key, sizeof key, "%s%s%s", e->multi ? p->name : "", e->multi ? "/" : "", prefix);
    ilr_trainer_log(t, ilr_eval_result_json(key, &ev, step));
    if (!c->quiet) ilr_eval_result_print(stdout, key, when, &ev);
    if (keep) *keep = ev;
    return 0;
}

static int evaluate(void *ctx, ilr_trainer *t, int agent, ilr_policy *p, const char *when, long step, json_t *summary) {
    train_eval *e = ctx;
    train_eval_results *res = &e->results[agent];
    int before = !strcmp(when, "before"), after = !strcmp(when, "after"), rc = 0;
    int k = (int)e->c->eval_samples;
    ilr_eval_result *eval_keep = before ? &res->eval_before : &res->eval_after; /* periodic ones: the latest */
    if (e->eval_q[agent].n) rc = run_one(e, t, p, &e->eval_q[agent], "eval", 0, when, step, eval_keep);
    if (!rc && e->eval_q[agent].n && k > 0) rc = run_one(e, t, p, &e->eval_q[agent], "eval_sampled", k, when, step, NULL);
    if (!rc && e->test_q[agent].n && (before || after)) {
        rc = run_one(e, t, p, &e->test_q[agent], "test", 0, when, step, before ? &res->test_before : &res->test_after);
        if (!rc && k > 0)
            rc = run_one(e, t, p, &e->test_q[agent], "test_sampled", k, when, step,
                         before ? &res->test_sampled_before : &res->test_sampled_after);
    }
    if (rc || !summary || !(before || after)) return rc;
    const struct { const char *name; const ilr_eval_result *ev; } parts[] = {
        {"eval", eval_keep}, {"test", before ? &res->test_before : &res->test_after},
        {"test_sampled", before ? &res->test_sampled_before : &res->test_sampled_after}};
    for (int i = 0; i < 3; i++) {
        if (!parts[i].ev->evaluated) continue;
        char key[64];
        snprintf(key, sizeof key, "%s_%s", parts[i].name, when);
        json_object_set_new(summary, key, ilr_eval_result_json("", parts[i].ev, -1));
    }
    return 0;
}

ilr_train_hooks train_eval_hooks(train_eval *e) { return (ilr_train_hooks){e, prepare, evaluate}; }

int train_write_curve(const ilr_train_config *c, const char *const *agent_names, int num_agents) {
    char log[4200], svg_path[4200];
    snprintf(log, sizeof log, "%s/train_log.jsonl", c->output_dir);
    snprintf(svg_path, sizeof svg_path, "%s/curve.svg", c->output_dir);
    enum { PER_AGENT = 4 };
    char keys[ILR_MAX_AGENTS * PER_AGENT][128], names[ILR_MAX_AGENTS * PER_AGENT][160];
    const char *key_ptr[ILR_MAX_AGENTS * PER_AGENT], *name_ptr[ILR_MAX_AGENTS * PER_AGENT];
    char sampled[64];
    snprintf(sampled, sizeof sampled, "held-out accuracy (sampled, avg@%ld)", c->eval_samples);
    const char *base_keys[PER_AGENT] = {"reward", "accuracy", "eval_accuracy", "eval_sampled_accuracy"};
    const char *base_names[PER_AGENT] = {"mean reward (training samples)", "accuracy (training samples)",
                                         "held-out accuracy (greedy)", sampled};
    int per = !c->eval_data ? 2 : c->eval_samples > 0 ? 4 : 3, n = 0; /* no empty legend entries */
    for (int a = 0; a < (num_agents > 0 ? num_agents : 1); a++)
        for (int k = 0; k < per; k++, n++) {
            int multi = num_agents > 1;
            snprintf(keys[n], sizeof keys[n], "%s%s%s", multi ? agent_names[a] : "", multi ? "/" : "", base_keys[k]);
            snprintf(names[n], sizeof names[n], "%s%s%s", multi ? agent_names[a] : "", multi ? ": " : "", base_names[k]);
            key_ptr[n] = keys[n], name_ptr[n] = names[n];
        }
    ilr_plot_options opt = ilr_plot_default_options();
    opt.title = num_agents > 1 ? "ILR: reward and accuracy per step" : "GRPO: reward and accuracy per step";
    opt.x_label = "step";
    opt.y_label = "reward / accuracy";
    opt.markers = 0;
    return ilr_plot_log_svg(log, "step", key_ptr, name_ptr, n, &opt, svg_path);
}

int train_run(const ilr_train_config *c, int resume, train_run_outcome *out) {
    memset(out, 0, sizeof *out);
    int multi = ilr_train_is_ilr(c), m = multi ? (int)c->agents.count : 1;
    train_eval *ev = calloc(1, sizeof *ev);
    if (!ev) return ILR_FAIL(ILR_ENOMEM, "out of memory");
    int rc = train_eval_init(ev, c, multi);
    ilr_train_hooks hooks = train_eval_hooks(ev);
    if (!rc && multi) {
        ilr_colearn_result res;
        rc = ilr_colearn_run(c, resume, &hooks, &res);
        out->steps = res.steps, out->interrupted = res.interrupted, out->seconds = res.seconds;
    } else if (!rc) {
        ilr_grpo_result res;
        rc = ilr_grpo_run(c, resume, &hooks, &res);
        out->steps = res.steps, out->interrupted = res.interrupted, out->seconds = res.seconds;
    }
    const char *names[ILR_MAX_AGENTS];
    for (int i = 0; i < m; i++) {
        ilr_agent_config a;
        if (multi) ilr_train_agent_resolve(c, i, &a);
        names[i] = multi ? a.name : "policy";
        out->results[i] = ev->results[i];
    }
    if (!rc && !out->interrupted && ilr_dist_is_root()) rc = train_write_curve(c, names, m);
    train_eval_free(ev);
    free(ev);
    return rc;
}
