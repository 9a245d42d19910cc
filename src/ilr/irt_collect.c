/* Collecting IRT responses (see include/ilr/irt_collect.h). */
#include "ilr/irt_collect.h"

#include <stdlib.h>
#include <string.h>

#include "ilr/error.h"
#include "ilr/progress.h"

/* One wave: questions items[first..first+count) of agent a, k answers each. */
static int collect_wave(const ilr_irt_collect_agent *a, const ilr_task *t, const int *items, int first, int count,
                        const ilr_irt_collect_options *o, ilr_irt_responses *r, FILE *out, long *tokens) {
    int k = o->samples, n = count * k, rc = 0;
    const int **prompts = malloc(sizeof(int *) * (size_t)count);
    int *lens = malloc(sizeof(int) * (size_t)count), *item_of = malloc(sizeof(int) * (size_t)n);
    ilr_gen_output *gen = calloc((size_t)n, sizeof *gen);
    const char **texts = malloc(sizeof(char *) * (size_t)n);
    size_t *text_lens = malloc(sizeof(size_t) * (size_t)n);
    ilr_task_score *score = malloc(sizeof *score * (size_t)n);
    if (!prompts || !lens || !item_of || !gen || !texts || !text_lens || !score)
        rc = ILR_FAIL(ILR_ENOMEM, "irt collect: out of memory");
    for (int i = 0; !rc && i < count; i++) {
        int q = items ? items[first + i] : first + i;
        prompts[i] = a->q->ids[q];
        lens[i] = a->q->lens[q];
        for (int j = 0; j < k; j++) item_of[i * k + j] = q;
    }
    /* a wave's streams follow from the seed and its first question: the same seed and slot count give the same answers */
    ilr_gen_options go = {.sampler = {o->temperature, 0, 1.0f, 0.0f}, .max_new_tokens = o->max_new_tokens,
                          .seed = o->seed + (uint64_t)first * 0x9e3779b97f4a7c15ULL};
    if (!rc) rc = ilr_generate(a->gen, a->tok, prompts, lens, count, k, &go, gen);
    for (int i = 0; !rc && i < n; i++) texts[i] = gen[i].text, text_lens[i] = gen[i].text_len, *tokens += gen[i].count;
    if (!rc) rc = ilr_task_score_many(t, a->q->ds, item_of, texts, text_lens, n, score);
    for (int i = 0; !rc && i < n; i++) {
        const char *id = a->q->ds->items[item_of[i]].id;
        rc = ilr_irt_responses_add(r, a->name, id, score[i].correct);
        if (!rc && out) {
            json_t *line = json_pack("{s:s, s:s, s:i}", "agent", a->name, "question", id, "correct", score[i].correct);
            char *text = line ? json_dumps(line, JSON_COMPACT) : NULL;
            if (!text || fprintf(out, "%s\n", text) < 0) rc = ILR_FAIL(ILR_EIO, "irt collect: cannot write a response line");
            free(text);
            json_decref(line);
        }
    }
    for (int i = 0; gen && i < n; i++) ilr_gen_output_free(&gen[i]);
    free(prompts);
    free(lens);
    free(item_of);
    free(gen);
    free(texts);
    free(text_lens);
    free(score);
    return rc;
}

int ilr_irt_collect(const ilr_irt_collect_agent *agents, int m, const ilr_task *t, const int *items, int n,
                    const ilr_irt_collect_options *o, ilr_irt_responses *r, FILE *out, long *generated_tokens) {
    ilr_progress bar;
    ilr_progress_begin(&bar, "irt collect", (int64_t)m * n, "questions");
    bar.quiet = o->quiet;
    int rc = 0;
    for (int a = 0; !rc && a < m; a++) {
        int wave = agents[a].gen->slots / o->samples;
        if (wave < 1)
            return ILR_FAIL(ILR_EINVAL, "irt collect: %d answers per question, but %s's generator has %d slots", o->samples,
                            agents[a].name, agents[a].gen->slots);
        long tokens = 0;
        for (int first = 0; !rc && first < n; first += wave) {
            int count = n - first < wave ? n - first : wave;
            rc = collect_wave(&agents[a], t, items, first, count, o, r, out, &tokens);
            ilr_progress_add(&bar, count);
        }
        if (generated_tokens) generated_tokens[a] = tokens;
    }
    ilr_progress_end(&bar);
    return rc;
}
