/* Evaluation of one model alone (see include/ilr/evaluate.h). */
#include "ilr/evaluate.h"

#include <stdlib.h>
#include <string.h>

#include "ilr/error.h"

static void tally(ilr_eval_result *ev, int level, const ilr_task_score *s) {
    if (level < 0 || level > ILR_MAX_LEVEL) level = 0;
    ev->correct += s->correct;
    ev->total++;
    ev->level_correct[level] += s->correct;
    ev->level_total[level]++;
    ev->reward += s->reward; /* a sum until the end */
}

int ilr_eval_questions(ilr_generator *gen, const ilr_tokenizer *tok, const ilr_task *t, const ilr_question_set *q,
                       const ilr_eval_options *o, ilr_eval_result *ev) {
    memset(ev, 0, sizeof *ev);
    if (!q->n) return 0;
    int k = o->samples > 0 ? o->samples : 1, per_wave = gen->slots / k, rc = 0;
    if (per_wave < 1) return ILR_FAIL(ILR_EINVAL, "evaluation: %d samples per question, but only %d generation slots", k, gen->slots);
    size_t cap = (size_t)per_wave * k;
    ilr_gen_output *out = calloc(cap, sizeof *out);
    int *item = malloc(sizeof(int) * cap);
    const char **texts = malloc(sizeof(char *) * cap);
    size_t *lens = malloc(sizeof(size_t) * cap);
    ilr_task_score *score = malloc(sizeof *score * cap);
    if (!out || !item || !texts || !lens || !score) rc = ILR_FAIL(ILR_ENOMEM, "out of memory for evaluation");
    ilr_gen_options opt = {.sampler = {o->samples > 0 ? o->temperature : 0.0f, 0, 1.0f, 0.0f},
                           .max_new_tokens = o->max_new_tokens, .seed = o->seed};
    for (int first = 0; !rc && first < q->n; first += per_wave) {
        int m = q->n - first < per_wave ? q->n - first : per_wave;
        rc = ilr_generate(gen, tok, (const int *const *)q->ids + first, q->lens + first, m, k, &opt, out);
        for (int i = 0; i < m * k; i++) {
            item[i] = first + i / k;
            texts[i] = out[i].text;
            lens[i] = out[i].text_len;
        }
        if (!rc) rc = ilr_task_score_many(t, q->ds, item, texts, lens, m * k, score);
        for (int i = 0; !rc && i < m * k; i++) tally(ev, q->ds->items[item[i]].level, &score[i]);
        for (int i = 0; i < m * k; i++) ilr_gen_output_free(&out[i]);
    }
    ev->reward = ev->total ? ev->reward / ev->total : 0;
    ev->evaluated = !rc;
    free(out);
    free(item);
    free(texts);
    free(lens);
    free(score);
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
