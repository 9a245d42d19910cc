/* The GRPO trainer's question side (see src/rl/grpo_internal.h): loading and tokenising questions, rewarding
 * completions with the task's grader, and greedy evaluation. */
#include <stdlib.h>
#include <string.h>

#include "grpo_internal.h"
#include "ilr/error.h"
#include "ilr/template.h"
#include "ilr/world.h"

/* The prompt text of item i: the world's solve template, or the dataset's template; then, with chat, one
 * user turn of the model's chat template. */
static int prompt_text(grpo_run *r, const ilr_dataset *ds, int i, char **text, unsigned *flags) {
    char *plain = NULL;
    int rc;
    if (r->task == ILR_TRAIN_TASK_WORLD_ARITH) {
        ilr_template_var v = {"question", ds->items[i].question};
        rc = ilr_template_render(r->world_template, "world solve template", &v, 1, &plain);
    } else {
        rc = ilr_dataset_prompt(ds, i, &plain);
    }
    if (rc) return rc;
    if (!r->chat) {
        *text = plain;
        *flags = ILR_TOK_SPECIAL | ILR_TOK_ADD_SPECIAL;
        return 0;
    }
    ilr_chat_message m = {"user", plain, NULL};
    size_t len;
    *flags = ILR_TOK_SPECIAL;
    rc = ilr_chat_render(r->chat, &m, 1, ILR_CHAT_GENERATION, text, &len);
    free(plain);
    return rc;
}

int grpo_data_load(grpo_run *r, grpo_data *d, const char *spec, long max_items) {
    memset(d, 0, sizeof *d);
    int rc = ilr_dataset_open(spec, &d->ds);
    if (!rc && r->c->template_path && r->task != ILR_TRAIN_TASK_WORLD_ARITH) rc = ilr_dataset_set_template(&d->ds, r->c->template_path);
    if (rc) return rc;
    if (r->task == ILR_TRAIN_TASK_CODE) {
        if (d->ds.kind != ILR_TASK_CODE)
            return ILR_FAIL(ILR_EINVAL, "%s: data.task is code but the dataset holds math questions", spec);
    } else if (d->ds.kind == ILR_TASK_CODE) {
        return ILR_FAIL(ILR_EINVAL, "%s: a code dataset, but data.task is %s", spec,
                        r->task == ILR_TRAIN_TASK_WORLD_ARITH ? "world-arith" : "math");
    }
    d->n = max_items > 0 && max_items < d->ds.count ? (int)max_items : d->ds.count;
    d->ids = calloc((size_t)d->n, sizeof *d->ids);
    d->lens = calloc((size_t)d->n, sizeof *d->lens);
    if (!d->ids || !d->lens) return ILR_FAIL(ILR_ENOMEM, "out of memory for %d prompts", d->n);
    for (int i = 0; i < d->n && !rc; i++) {
        char *text = NULL;
        unsigned flags = 0;
        ilr_tok_ids ids = {0};
        rc = prompt_text(r, &d->ds, i, &text, &flags);
        if (!rc) rc = ilr_tok_encode(r->tok, text, strlen(text), flags, &ids);
        free(text);
        if (rc) return ilr_error_prefix("%s item %s", spec, d->ds.items[i].id);
        if (ids.count > r->c->max_prompt_tokens || ids.count < 1) {
            ilr_tok_ids_free(&ids);
            return ILR_FAIL(ILR_EINVAL, "%s item %s: the prompt has %d tokens, rollout.max_prompt_tokens is %ld", spec,
                            d->ds.items[i].id, ids.count, r->c->max_prompt_tokens);
        }
        d->ids[i] = ids.ids; /* keep the array, drop the wrapper */
        d->lens[i] = ids.count;
        if (ids.count > d->max_prompt) d->max_prompt = ids.count;
    }
    return rc;
}

void grpo_data_free(grpo_data *d) {
    for (int i = 0; d->ids && i < d->n; i++) free(d->ids[i]);
    free(d->ids);
    free(d->lens);
    ilr_dataset_free(&d->ds);
    memset(d, 0, sizeof *d);
}

/* ---- rewards ---- */

static int code_rewards(grpo_run *r, const grpo_data *d, const int *item_of, const ilr_gen_output *out, int n,
                        float *reward, int *correct, int *formatted) {
    const char **texts = calloc((size_t)n, sizeof *texts);
    size_t *lens = calloc((size_t)n, sizeof *lens);
    ilr_code_tests *tests = calloc((size_t)n, sizeof *tests);
    const ilr_code_tests **tp = calloc((size_t)n, sizeof *tp);
    ilr_reward_code_result *res = calloc((size_t)n, sizeof *res);
    int rc = texts && lens && tests && tp && res ? 0 : ILR_FAIL(ILR_ENOMEM, "out of memory for %d rewards", n);
    for (int k = 0; !rc && k < n; k++) {
        const ilr_dataset_item *it = &d->ds.items[item_of[k]];
        texts[k] = out[k].text ? out[k].text : "";
        lens[k] = out[k].text ? out[k].text_len : 0;
        if (d->ds.format == ILR_GOLD_CODE_HUMANEVAL)
            tests[k] = (ilr_code_tests){.kind = ILR_CODE_TESTS_HUMANEVAL, .prompt = it->prompt, .test = it->test,
                                        .entry_point = it->entry_point};
        else
            tests[k] = (ilr_code_tests){.kind = ILR_CODE_TESTS_MBPP, .setup = it->test_setup_code,
                                        .asserts = (const char *const *)it->test_list, .n_asserts = it->num_tests};
        tp[k] = &tests[k];
    }
    if (!rc) rc = ilr_reward_code_many(texts, lens, tp, n, &r->code_opt, res);
    for (int k = 0; !rc && k < n; k++) {
        reward[k] = (float)res[k].reward;
        correct[k] = res[k].correct;
        formatted[k] = res[k].formatted;
    }
    free(texts);
    free(lens);
    free(tests);
    free(tp);
    free(res);
    return rc;
}

int grpo_rewards(grpo_run *r, const grpo_data *d, const int *item_of, const ilr_gen_output *out, int n, float *reward,
                 int *correct, int *formatted) {
    if (r->task == ILR_TRAIN_TASK_CODE) return code_rewards(r, d, item_of, out, n, reward, correct, formatted);
    for (int k = 0; k < n; k++) {
        const ilr_dataset_item *it = &d->ds.items[item_of[k]];
        const char *text = out[k].text ? out[k].text : "";
        size_t len = out[k].text ? out[k].text_len : 0;
        if (r->task == ILR_TRAIN_TASK_WORLD_ARITH) {
            ilr_world_verdict v;
            int rc = ilr_world_check(it->question, text, len, &v);
            if (rc) return ilr_error_prefix("%s item %s", d->ds.name, it->id);
            correct[k] = v.correct;
            formatted[k] = v.well_formed;
            reward[k] = (float)(v.correct + r->c->format_weight * v.well_formed);
        } else {
            ilr_reward_math_result m;
            int rc = ilr_reward_math(text, len, it->gold, &r->math_opt, &m);
            if (rc) return ilr_error_prefix("%s item %s", d->ds.name, it->id);
            correct[k] = m.correct;
            formatted[k] = m.formatted;
            reward[k] = (float)m.reward;
        }
    }
    return 0;
}

/* ---- evaluation ---- */

int grpo_evaluate(grpo_run *r, const grpo_data *d, int samples, float temperature, ilr_grpo_eval *ev) {
    memset(ev, 0, sizeof *ev);
    if (!d->n) return 0;
    int k = samples > 0 ? samples : 1, per_wave = r->gen.slots / k, rc = 0;
    if (per_wave < 1) return ILR_FAIL(ILR_EINVAL, "evaluation: %d samples per question, but only %d generation slots", k, r->gen.slots);
    size_t cap = (size_t)per_wave * k;
    ilr_gen_output *out = calloc(cap, sizeof *out);
    int *item = malloc(sizeof(int) * cap), *correct = malloc(sizeof(int) * cap), *formatted = malloc(sizeof(int) * cap);
    float *reward = malloc(sizeof(float) * cap);
    if (!out || !item || !correct || !formatted || !reward) rc = ILR_FAIL(ILR_ENOMEM, "out of memory for evaluation");
    /* greedy, or k samples per question from a fixed seed (the same draws at every evaluation) */
    ilr_gen_options opt = {.sampler = {samples > 0 ? temperature : 0.0f, 0, 1.0f, 0.0f},
                           .max_new_tokens = (int)r->c->max_new_tokens, .seed = (uint64_t)r->c->seed + 7777};
    double reward_sum = 0;
    for (int first = 0; !rc && first < d->n; first += per_wave) {
        int m = d->n - first < per_wave ? d->n - first : per_wave;
        for (int i = 0; i < m * k; i++) item[i] = first + i / k;
        rc = ilr_generate(&r->gen, r->tok, (const int *const *)d->ids + first, d->lens + first, m, k, &opt, out);
        if (!rc) rc = grpo_rewards(r, d, item, out, m * k, reward, correct, formatted);
        for (int i = 0; !rc && i < m * k; i++) {
            int level = d->ds.items[item[i]].level;
            if (level < 0 || level > ILR_MAX_LEVEL) level = 0;
            ev->correct += correct[i];
            ev->total++;
            ev->level_correct[level] += correct[i];
            ev->level_total[level]++;
            reward_sum += reward[i];
        }
        for (int i = 0; i < m * k; i++) ilr_gen_output_free(&out[i]);
    }
    ev->reward = ev->total ? reward_sum / ev->total : 0;
    ev->evaluated = !rc;
    free(out);
    free(item);
    free(correct);
    free(formatted);
    free(reward);
    return rc;
}
