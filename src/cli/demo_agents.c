/* ilr demo, stage 3: the synthetic world's two base agents (make agents) at work.
 *
 * For each agent: its held-out accuracy by level (from its SFT summary), then, measured here on 100
 * held-out Idea3 records per stage (split "val", never trained on), how well it follows each stage's
 * format: solve (answer correct), analyse (the check names exactly the right step and value, or rightly
 * confirms) and fuse (the final solution's answer correct).  Then one problem discussed through Idea3:
 * both agents solve it, each checks the other's solution, each writes a final solution. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "demo.h"
#include "ilr/error.h"
#include "ilr/generate.h"
#include "ilr/io.h"
#include "ilr/json.h"
#include "ilr/template.h"
#include "ilr/world.h"

enum { STAGE_SAMPLES = 100, MAX_NEW = 192 };

typedef struct {
    const char *name, *label;
    char dir[1024];
    ilr_model model;
    ilr_tokenizer *tok;
    ilr_generator gen;
} agent;

static int agent_open(agent *a, const char *root, const char *name, const char *label) {
    memset(a, 0, sizeof *a);
    a->name = name;
    a->label = label;
    snprintf(a->dir, sizeof a->dir, "%s/%s", root, name);
    int rc = ilr_model_load(&a->model, a->dir);
    if (!rc) rc = ilr_tok_load(&a->tok, a->dir);
    if (!rc) rc = ilr_gen_init(&a->gen, &a->model, STAGE_SAMPLES, 640);
    return rc;
}

static void agent_close(agent *a) {
    if (a->gen.model) ilr_gen_free(&a->gen);
    ilr_tok_free(a->tok);
    ilr_model_free(&a->model);
}

/* Greedy completions of n text prompts; texts[i] malloc'ed (NULL on failure). */
static int agent_answer(agent *a, const char *const *prompts, int n, char **texts) {
    ilr_tok_ids *ids = calloc((size_t)n, sizeof *ids);
    const int **p = calloc((size_t)n, sizeof *p);
    int *lens = calloc((size_t)n, sizeof *lens), rc = ids && p && lens ? 0 : ILR_FAIL(ILR_ENOMEM, "demo: out of memory");
    for (int i = 0; !rc && i < n; i++) {
        rc = ilr_tok_encode(a->tok, prompts[i], strlen(prompts[i]), ILR_TOK_SPECIAL | ILR_TOK_ADD_SPECIAL, &ids[i]);
        p[i] = ids[i].ids;
        lens[i] = ids[i].count;
    }
    ilr_gen_output *out = rc ? NULL : calloc((size_t)n, sizeof *out);
    ilr_gen_options opt = {.sampler = {0.0f, 0, 1.0f, 0.0f}, .max_new_tokens = MAX_NEW, .seed = 1};
    if (!rc && !out) rc = ILR_FAIL(ILR_ENOMEM, "demo: out of memory");
    if (!rc) rc = ilr_generate(&a->gen, a->tok, p, lens, n, 1, &opt, out);
    for (int i = 0; i < n; i++) {
        texts[i] = !rc && out[i].text ? strdup(out[i].text) : NULL;
        if (out) ilr_gen_output_free(&out[i]);
        ilr_tok_ids_free(&ids[i]);
    }
    free(out);
    free(ids);
    free(p);
    free(lens);
    return rc;
}

/* The held-out accuracy table the agent's SFT wrote (sft_summary.json, "after"). */
static void print_accuracy(const agent *a) {
    char path[1200];
    snprintf(path, sizeof path, "%s/sft_summary.json", a->dir);
    json_t *s = NULL;
    if (ilr_json_load_file(path, &s)) {
        printf("  %s: no %s (%s)\n", a->name, path, ilr_last_error());
        return;
    }
    json_t *after = json_object_get(s, "after"), *levels = json_object_get(after, "eval_accuracy_by_level");
    printf("  %-8s %-28s %5.1f%%", a->name, a->label, 100 * json_number_value(json_object_get(after, "eval_accuracy")));
    for (int l = 1; l <= ILR_WORLD_LEVELS; l++) {
        char key[16];
        snprintf(key, sizeof key, "%d", l);
        printf("  %5.1f%%", 100 * json_number_value(json_object_get(levels, key)));
    }
    printf("   %6.0f s\n", json_number_value(json_object_get(s, "seconds")));
    json_decref(s);
}

/* Stage accuracy on STAGE_SAMPLES held-out records of one Idea3 stage. */
static int stage_score(agent *a, const ilr_world_prompts *pr, int stage, double *score) {
    ilr_world_gen_options o = {.seed = 7, .n = STAGE_SAMPLES, .num_levels = ILR_WORLD_LEVELS, .kind = ILR_WORLD_IDEA3};
    for (int l = 0; l < ILR_WORLD_LEVELS; l++) o.levels[l] = l + 1;
    o.mix[stage] = 1;
    int rc = ilr_world_split_find("val", &o.split), correct = 0;
    json_t *rec[STAGE_SAMPLES] = {0};
    const char *prompts[STAGE_SAMPLES];
    char *texts[STAGE_SAMPLES] = {0}, questions[STAGE_SAMPLES][ILR_WORLD_EXPR_CAP + 16];
    for (int i = 0; !rc && i < STAGE_SAMPLES; i++) {
        ilr_world_problem p;
        rc = ilr_world_gen_record(&o, pr, i, &p, &rec[i]);
        if (!rc) prompts[i] = json_string_value(json_object_get(rec[i], "prompt"));
        if (!rc) ilr_world_question(&p, questions[i], sizeof questions[i]);
    }
    if (!rc) rc = agent_answer(a, prompts, STAGE_SAMPLES, texts);
    for (int i = 0; !rc && i < STAGE_SAMPLES; i++) {
        const char *want = json_string_value(json_object_get(rec[i], "response")), *got = texts[i] ? texts[i] : "";
        if (stage == ILR_WORLD_STAGE_ANALYSE) correct += strcmp(got, want) == 0;
        else {
            ilr_world_verdict v;
            correct += ilr_world_check(questions[i], got, strlen(got), &v) == 0 && v.correct;
        }
    }
    for (int i = 0; i < STAGE_SAMPLES; i++) json_decref(rec[i]), free(texts[i]);
    *score = (double)correct / STAGE_SAMPLES;
    return rc;
}

static void print_indented(const char *who, const char *what, const char *text) {
    printf("    %s %s:\n", who, what);
    for (const char *p = text; *p;) {
        size_t n = strcspn(p, "\n");
        printf("      | %.*s\n", (int)n, p);
        p += n + (p[n] == '\n');
    }
}

/* The agent's greedy answer to a template rendered with vars; *answer malloc'ed. */
static int ask(agent *a, const char *tmpl, const char *name, const ilr_template_var *vars, int n, char **answer) {
    char *prompt = NULL;
    int rc = ilr_template_render(tmpl, name, vars, n, &prompt);
    if (!rc) rc = agent_answer(a, (const char *const *)&prompt, 1, answer);
    free(prompt);
    return rc;
}

/* One question discussed by both agents through Idea3 (cooperative prompts). */
static int discussion(agent *ag, const ilr_world_prompts *pr) {
    ilr_rng rng;
    ilr_rng_init(&rng, 2026, 4);
    const ilr_world_split *split;
    ilr_world_problem p;
    char q[ILR_WORLD_EXPR_CAP + 16], *solve[2] = {0}, *analyse[2] = {0}, *fuse[2] = {0};
    int rc = ilr_world_split_find("test", &split);
    if (!rc) rc = ilr_world_generate_in_split(&rng, 3, split, &p);
    if (rc) return rc;
    ilr_world_question(&p, q, sizeof q);
    printf("\n  one test question through Idea3 (cooperative): %s  (answer %lld)\n", q, p.answer);
    ilr_template_var v[1] = {{"question", q}};
    for (int i = 0; i < 2 && !rc; i++) rc = ask(&ag[i], pr->solve, "prompts/world/solve.txt", v, 1, &solve[i]);
    for (int i = 0; i < 2 && !rc; i++) { /* i checks the other's solution */
        ilr_template_var va[2] = {{"question", q}, {"peer_solution", solve[1 - i] ? solve[1 - i] : ""}};
        rc = ask(&ag[i], pr->analyse[0], "prompts/world/coop_analyse.txt", va, 2, &analyse[i]);
    }
    for (int i = 0; i < 2 && !rc; i++) {
        ilr_template_var vf[4] = {{"question", q}, {"own_solution", solve[i] ? solve[i] : ""},
                                  {"peer_solutions", solve[1 - i] ? solve[1 - i] : ""},
                                  {"review", analyse[1 - i] ? analyse[1 - i] : ""}};
        rc = ask(&ag[i], pr->fuse[0], "prompts/world/coop_fuse.txt", vf, 4, &fuse[i]);
    }
    for (int i = 0; i < 2 && !rc; i++) {
        ilr_world_verdict vs, vf2;
        ilr_world_check(q, solve[i] ? solve[i] : "", solve[i] ? strlen(solve[i]) : 0, &vs);
        print_indented(ag[i].name, vs.correct ? "shares (correct)" : "shares (wrong)", solve[i] ? solve[i] : "");
        print_indented(ag[1 - i].name, "checks it", analyse[1 - i] ? analyse[1 - i] : "");
        ilr_world_check(q, fuse[i] ? fuse[i] : "", fuse[i] ? strlen(fuse[i]) : 0, &vf2);
        print_indented(ag[i].name, vf2.correct ? "fuses (correct)" : "fuses (wrong)", fuse[i] ? fuse[i] : "");
    }
    for (int i = 0; i < 2; i++) free(solve[i]), free(analyse[i]), free(fuse[i]);
    return rc;
}

int ilr_demo_agents(const char *root, int *failures) {
    char path[1200];
    snprintf(path, sizeof path, "%s/agent-b/sft_summary.json", root);
    printf("\n1. the base agents of the synthetic world (%s)\n", root);
    if (!ilr_file_exists(path)) {
        printf("  not built: run `make agents` (about 15 minutes on 2 cores), then `ilr demo` again\n");
        return 0;
    }
    agent ag[2];
    int rc = agent_open(&ag[0], root, "agent-a", "qwen2, world-a, 0.35M");
    if (!rc) rc = agent_open(&ag[1], root, "agent-b", "llama, world-b, 0.92M");
    ilr_world_prompts pr = {0};
    if (!rc) rc = ilr_world_prompts_load(&pr);
    if (!rc) {
        printf("  held-out accuracy (500 val problems, greedy):\n");
        printf("  %-8s %-28s %6s  %6s  %6s  %6s  %6s  %6s   %8s\n", "agent", "model", "all", "L1", "L2", "L3", "L4", "L5",
               "SFT time");
        print_accuracy(&ag[0]);
        print_accuracy(&ag[1]);
        printf("  Idea3 stages on %d held-out records each: solve (answer right), analyse (check exactly right), "
               "fuse (answer right)\n", STAGE_SAMPLES);
    }
    for (int i = 0; i < 2 && !rc; i++) {
        double s[3];
        for (int stage = 0; stage < 3 && !rc; stage++) rc = stage_score(&ag[i], &pr, stage, &s[stage]);
        if (!rc) printf("  %-8s solve %5.1f%%   analyse %5.1f%%   fuse %5.1f%%\n", ag[i].name, 100 * s[0], 100 * s[1], 100 * s[2]);
        if (!rc && s[1] == 0) ++*failures, printf("  FAIL: %s never analyses a solution right\n", ag[i].name);
    }
    if (!rc) rc = discussion(ag, &pr);
    ilr_world_prompts_free(&pr);
    agent_close(&ag[0]);
    agent_close(&ag[1]);
    return rc;
}
