/* Tasks and question sets (see include/ilr/task.h). */
#include "ilr/task.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ilr/error.h"
#include "ilr/template.h"
#include "ilr/world.h"

const char *ilr_task_type_name(ilr_task_type type) {
    return type == ILR_TASK_TYPE_WORLD ? "world-arith" : type == ILR_TASK_TYPE_CODE ? "code" : "math";
}

int ilr_task_init(ilr_task *t, ilr_task_type type, const char *data, double format_weight, int math_extract,
                  const char *world_template) {
    memset(t, 0, sizeof *t);
    t->format_weight = format_weight;
    ilr_reward_math_options_default(&t->math);
    t->math.format_weight = format_weight;
    t->math.mode = math_extract == 1   ? ILR_MATH_EXTRACT_LAST_NUMBER
                 : math_extract == 2 ? ILR_MATH_EXTRACT_BOXED
                 : math_extract == 3 ? ILR_MATH_EXTRACT_AUTO
                                     : ILR_MATH_EXTRACT_STRICT;
    ilr_reward_code_options_default(&t->code);
    t->code.format_weight = format_weight;
    if (type == ILR_TASK_TYPE_AUTO) {
        ilr_dataset probe;
        int rc = ilr_dataset_open(data, &probe);
        if (rc) return rc;
        type = probe.kind == ILR_TASK_CODE ? ILR_TASK_TYPE_CODE : ILR_TASK_TYPE_MATH;
        ilr_dataset_free(&probe);
    }
    t->type = type;
    if (type == ILR_TASK_TYPE_WORLD)
        return ilr_template_load(world_template ? world_template : "prompts/world/solve.txt", &t->world_template);
    return 0;
}

void ilr_task_free(ilr_task *t) {
    free(t->world_template);
    memset(t, 0, sizeof *t);
}

int ilr_task_check_dataset(const ilr_task *t, const ilr_dataset *ds) {
    if (t->type == ILR_TASK_TYPE_CODE && ds->kind != ILR_TASK_CODE)
        return ILR_FAIL(ILR_EINVAL, "%s: data.task is code but the dataset holds math questions", ds->name);
    if (t->type != ILR_TASK_TYPE_CODE && ds->kind == ILR_TASK_CODE)
        return ILR_FAIL(ILR_EINVAL, "%s: a code dataset, but data.task is %s", ds->name, ilr_task_type_name(t->type));
    return 0;
}

int ilr_task_open_dataset(const ilr_task *t, const char *spec, const char *template_path, ilr_dataset *ds) {
    int rc = ilr_dataset_open(spec, ds);
    if (!rc && template_path && t->type != ILR_TASK_TYPE_WORLD) rc = ilr_dataset_set_template(ds, template_path);
    if (!rc) rc = ilr_task_check_dataset(t, ds);
    if (rc) ilr_dataset_free(ds);
    return rc;
}

int ilr_task_prompt(const ilr_task *t, const ilr_dataset *ds, int i, char **text) {
    if (t->type != ILR_TASK_TYPE_WORLD) return ilr_dataset_prompt(ds, i, text);
    ilr_template_var v = {"question", ds->items[i].question};
    return ilr_template_render(t->world_template, "world solve template", &v, 1, text);
}

int ilr_task_encode_prompt(const ilr_tokenizer *tok, const ilr_chat_template *chat, const char *text, ilr_tok_ids *ids) {
    memset(ids, 0, sizeof *ids);
    if (!chat) return ilr_tok_encode(tok, text, strlen(text), ILR_TOK_SPECIAL | ILR_TOK_ADD_SPECIAL, ids);
    ilr_chat_message m = {"user", text, NULL};
    char *rendered = NULL;
    size_t len;
    int rc = ilr_chat_render(chat, &m, 1, ILR_CHAT_GENERATION, &rendered, &len);
    if (!rc) rc = ilr_tok_encode(tok, rendered, len, ILR_TOK_SPECIAL, ids);
    free(rendered);
    return rc;
}

/* ---- scoring ---- */

static int score_code(const ilr_task *t, const ilr_dataset *ds, const int *item_of, const char *const *texts,
                      const size_t *lens, int n, ilr_task_score *out) {
    ilr_code_tests *tests = calloc((size_t)n, sizeof *tests);
    const ilr_code_tests **tp = calloc((size_t)n, sizeof *tp);
    ilr_reward_code_result *res = calloc((size_t)n, sizeof *res);
    int rc = tests && tp && res ? 0 : ILR_FAIL(ILR_ENOMEM, "out of memory for %d rewards", n);
    for (int k = 0; !rc && k < n; k++) {
        const ilr_dataset_item *it = &ds->items[item_of[k]];
        if (ds->format == ILR_GOLD_CODE_HUMANEVAL)
            tests[k] = (ilr_code_tests){.kind = ILR_CODE_TESTS_HUMANEVAL, .prompt = it->prompt, .test = it->test,
                                        .entry_point = it->entry_point};
        else
            tests[k] = (ilr_code_tests){.kind = ILR_CODE_TESTS_MBPP, .setup = it->test_setup_code,
                                        .asserts = (const char *const *)it->test_list, .n_asserts = it->num_tests};
        tp[k] = &tests[k];
    }
    if (!rc) rc = ilr_reward_code_many(texts, lens, tp, n, &t->code, res);
    for (int k = 0; !rc && k < n; k++)
        out[k] = (ilr_task_score){(float)res[k].reward, res[k].correct, res[k].formatted,
                                  res[k].ran ? ilr_sandbox_status_name(res[k].status) : "no code", ""};
    free(tests);
    free(tp);
    free(res);
    return rc;
}

int ilr_task_score_many(const ilr_task *t, const ilr_dataset *ds, const int *item_of, const char *const *texts,
                        const size_t *lens, int n, ilr_task_score *out) {
    if (t->type == ILR_TASK_TYPE_CODE) return score_code(t, ds, item_of, texts, lens, n, out);
    for (int k = 0; k < n; k++) {
        const ilr_dataset_item *it = &ds->items[item_of[k]];
        const char *text = texts[k] ? texts[k] : "";
        size_t len = texts[k] ? lens[k] : 0;
        if (t->type == ILR_TASK_TYPE_WORLD) {
            ilr_world_verdict v;
            if (ilr_world_check(it->question, text, len, &v)) return ilr_error_prefix("%s item %s", ds->name, it->id);
            out[k] = (ilr_task_score){(float)(v.correct + t->format_weight * v.well_formed), v.correct, v.well_formed,
                                      "checker", ""};
            if (v.has_answer) snprintf(out[k].answer, sizeof out[k].answer, "%lld", v.given);
        } else {
            ilr_reward_math_result m;
            if (ilr_reward_math(text, len, it->gold, &t->math, &m)) return ilr_error_prefix("%s item %s", ds->name, it->id);
            out[k] = (ilr_task_score){(float)m.reward, m.correct, m.formatted,
                                      m.answer[0] ? ilr_math_rule_name(m.rule) : "no answer", ""};
            memcpy(out[k].answer, m.answer, sizeof m.answer);
        }
    }
    return 0;
}

/* ---- question sets ---- */

int ilr_question_set_build(ilr_question_set *q, const ilr_dataset *ds, long max_items, const ilr_task *t,
                           const ilr_tokenizer *tok, const ilr_chat_template *chat, long max_prompt_tokens) {
    memset(q, 0, sizeof *q);
    q->ds = ds;
    q->n = max_items > 0 && max_items < ds->count ? (int)max_items : ds->count;
    q->ids = calloc((size_t)q->n, sizeof *q->ids);
    q->lens = calloc((size_t)q->n, sizeof *q->lens);
    if (!q->ids || !q->lens) return ILR_FAIL(ILR_ENOMEM, "out of memory for %d prompts", q->n);
    for (int i = 0; i < q->n; i++) {
        char *text = NULL;
        ilr_tok_ids ids = {0};
        int rc = ilr_task_prompt(t, ds, i, &text);
        if (!rc) rc = ilr_task_encode_prompt(tok, chat, text, &ids);
        free(text);
        if (rc) return ilr_error_prefix("%s item %s", ds->name, ds->items[i].id);
        if (ids.count > max_prompt_tokens || ids.count < 1) {
            int count = ids.count; /* freeing the ids zeroes it */
            ilr_tok_ids_free(&ids);
            return ILR_FAIL(ILR_EINVAL, "%s item %s: the prompt has %d tokens, rollout.max_prompt_tokens is %ld", ds->name,
                            ds->items[i].id, count, max_prompt_tokens);
        }
        q->ids[i] = ids.ids; /* keep the array, drop the wrapper */
        q->lens[i] = ids.count;
        if (ids.count > q->max_prompt) q->max_prompt = ids.count;
    }
    return 0;
}

void ilr_question_set_free(ilr_question_set *q) {
    for (int i = 0; q->ids && i < q->n; i++) free(q->ids[i]);
    free(q->ids);
    free(q->lens);
    memset(q, 0, sizeof *q);
}
