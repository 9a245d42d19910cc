/* Evaluation of one model alone (see include/ilr/evaluate.h). */
#include "ilr/evaluate.h"

#include <stdlib.h>
#include <string.h>

#include "ilr/error.h"
#include "ilr/eval_run.h"

/* The trainers' evaluations are ilr eval's runs without records: one place computes every accuracy. */
int ilr_eval_questions(ilr_generator *gen, const ilr_tokenizer *tok, const ilr_task *t, const ilr_question_set *q,
                       const ilr_eval_options *o, ilr_eval_result *ev) {
    memset(ev, 0, sizeof *ev);
    if (!q->n) return 0;
    ilr_eval_question *v = calloc((size_t)q->n, sizeof *v);
    if (!v) return ILR_FAIL(ILR_ENOMEM, "out of memory for evaluation");
    int k = o->samples > 0 ? o->samples : 0;
    ilr_eval_run r = {q->ds->name, t, q, gen, tok, k == 0, k, o->temperature, 1.0f, o->max_new_tokens, o->seed, NULL,
                      NULL, NULL};
    int rc = ilr_eval_run_bench(&r, v);
    for (int i = 0; !rc && i < q->n; i++) {
        int level = v[i].level >= 0 && v[i].level <= ILR_MAX_LEVEL ? v[i].level : 0;
        int right = k ? v[i].correct : v[i].greedy > 0, answers = k ? k : 1;
        ev->correct += right, ev->total += answers;
        ev->level_correct[level] += right, ev->level_total[level] += answers;
        ev->reward += k ? v[i].sampled_reward : v[i].greedy_reward;
    }
    ev->reward = ev->total ? ev->reward / ev->total : 0;
    ev->evaluated = !rc;
    free(v);
    return rc;
}

double ilr_eval_accuracy(const ilr_eval_result *ev) { return ev->total ? (double)ev->correct / ev->total : 0; }

/* "PREFIX_name", or "name" when prefix is empty. */
static void eval_key(char *key, size_t cap, const char *prefix, const char *name) {
    snprintf(key, cap, "%s%s%s", prefix, *prefix ? "_" : "", name);
}

json_t *ilr_eval_result_json(const char *prefix, const ilr_eval_result *ev, long step) {
    json_t *j = json_object();
    char key[96];
    if (step >= 0) json_object_set_new(j, "step", json_integer(step));
    eval_key(key, sizeof key, prefix, "accuracy");
    json_object_set_new(j, key, json_real(ilr_eval_accuracy(ev)));
    eval_key(key, sizeof key, prefix, "reward");
    json_object_set_new(j, key, json_real(ev->reward));
    eval_key(key, sizeof key, prefix, "examples");
    json_object_set_new(j, key, json_integer(ev->total));
    eval_key(key, sizeof key, prefix, "accuracy_by_level");
    json_object_set_new(j, key, ilr_level_accuracy_json(ev->level_correct, ev->level_total));
    return j;
}

void ilr_eval_result_print(FILE *out, const char *what, const char *when, const ilr_eval_result *ev) {
    fprintf(out, "  %s %-6s accuracy %5.1f%% (%d/%d)  reward %.3f", what, when, 100 * ilr_eval_accuracy(ev), ev->correct,
            ev->total, ev->reward);
    ilr_level_accuracy_print(out, ev->level_correct, ev->level_total);
    fprintf(out, "\n");
    fflush(out);
}
