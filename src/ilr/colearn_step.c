/* One co-learning step (see include/ilr/colearn.h): stances, the Idea3 discussion in three batched
 * generations per agent, rewards, Perception Calibration, rollout records, and each agent's GRPO update. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "colearn_internal.h"
#include "ilr/error.h"
#include "ilr/rng.h"
#include "ilr/timer.h"
#include "ilr/world.h"

/* What one agent said and earned in a step.  Threads: completion (q, j) is thread j of question q at q * G + j;
 * critiques: agent i's critique of peer l's answer in (q, j) at (q * G + j) * (m - 1) + slot(i, l). */
typedef struct {
    ilr_gen_output *out[3];          /* per stage */
    ilr_task_score *score[3];
    char **prompt[3];                /* analyse, fuse: the prompt text (share: NULL, it is the task's) */
    ilr_tok_ids *ids[3];             /* analyse, fuse: the prompt ids */
    float *calibrated;               /* (P * G) the fused rewards after calibration */
    int *at[3];                      /* index in the agent's batch, -1 when not trained */
    int n[3];
    ilr_rollout_batch batch;
    ilr_grpo_update_stats update;
    int zero_std;
} agent_step;

typedef struct {
    int P, G, m;
    int *item;
    ilr_stance *stance;
    double *p;                       /* (P * m) */
    agent_step a[ILR_MAX_AGENTS];
} step_data;

static int peer_slot(int i, int l) { return l < i ? l : l - 1; }

static const char *text_of(const ilr_gen_output *o) { return o->text ? o->text : ""; }

static uint64_t stage_seed(long seed, long step, int agent, int stage) {
    return ilr_grpo_step_seed(seed, step) ^ (0x9e3779b97f4a7c15ULL * (uint64_t)(1 + agent * 3 + stage));
}

static void step_free(step_data *d) {
    for (int i = 0; i < d->m; i++) {
        agent_step *a = &d->a[i];
        for (int s = 0; s < 3; s++) {
            for (int k = 0; k < a->n[s]; k++) {
                if (a->out[s]) ilr_gen_output_free(&a->out[s][k]);
                if (a->prompt[s]) free(a->prompt[s][k]);
                if (a->ids[s]) ilr_tok_ids_free(&a->ids[s][k]);
            }
            free(a->out[s]);
            free(a->score[s]);
            free(a->prompt[s]);
            free(a->ids[s]);
            free(a->at[s]);
        }
        free(a->calibrated);
        ilr_rollout_batch_free(&a->batch);
    }
    free(d->item);
    free(d->stance);
    free(d->p);
}

static int step_alloc(step_data *d, int P, int G, int m) {
    memset(d, 0, sizeof *d);
    d->P = P, d->G = G, d->m = m;
    d->item = malloc(sizeof(int) * (size_t)P);
    d->stance = malloc(sizeof(ilr_stance) * (size_t)P);
    d->p = malloc(sizeof(double) * (size_t)P * m);
    int ok = d->item && d->stance && d->p;
    for (int i = 0; ok && i < m; i++) {
        agent_step *a = &d->a[i];
        a->n[ILR_STAGE_SHARE] = a->n[ILR_STAGE_FUSE] = P * G;
        a->n[ILR_STAGE_ANALYSE] = P * G * (m - 1);
        for (int s = 0; s < 3; s++) {
            a->out[s] = calloc((size_t)a->n[s], sizeof *a->out[s]);
            a->score[s] = calloc((size_t)a->n[s], sizeof *a->score[s]);
            a->at[s] = malloc(sizeof(int) * (size_t)a->n[s]);
            if (s != ILR_STAGE_SHARE) {
                a->prompt[s] = calloc((size_t)a->n[s], sizeof *a->prompt[s]);
                a->ids[s] = calloc((size_t)a->n[s], sizeof *a->ids[s]);
                ok &= a->prompt[s] && a->ids[s];
            }
            ok &= a->out[s] && a->score[s] && a->at[s];
            for (int k = 0; a->at[s] && k < a->n[s]; k++) a->at[s][k] = -1;
        }
        a->calibrated = malloc(sizeof(float) * (size_t)P * G);
        ok &= a->calibrated != NULL;
        ilr_rollout_batch_init(&a->batch);
    }
    return ok ? 0 : ILR_FAIL(ILR_ENOMEM, "out of memory for an ILR step of %d questions x %d threads", P, G);
}

/* ---- questions and stances ---- */

static void choose_questions(colearn_run *r, long step, step_data *d, colearn_step_stats *st) {
    ilr_rng rng; /* random mode: a stream per step, so a resumed step decides the same */
    ilr_rng_init(&rng, (uint64_t)r->c->seed, 0x6d6f6465ULL + (uint64_t)step);
    for (int q = 0; q < d->P; q++) {
        d->item[q] = ilr_data_order_next(&r->order);
        for (int i = 0; i < d->m; i++)
            d->p[q * d->m + i] = ilr_irt_probability(r->agents[i].gamma, r->difficulty[d->item[q]]);
        d->stance[q] = ilr_interaction_decide(&r->interaction, &d->p[q * d->m], d->m, &rng);
        st->coop += d->stance[q] == ILR_COOPERATE;
    }
}

/* ---- generation ---- */

/* Tokenises agent i's prompts of a stage; one over ilr.max_prompt_tokens is an error naming where it is. */
static int encode_prompts(colearn_run *r, step_data *d, int i, int stage) {
    agent_step *a = &d->a[i];
    colearn_agent *ag = &r->agents[i];
    long limit = r->c->discussion_max_prompt_tokens;
    int per_q = a->n[stage] / d->P;
    for (int k = 0; k < a->n[stage]; k++) {
        int rc = ilr_task_encode_prompt(ag->policy.tok, ag->policy.chat, a->prompt[stage][k], &a->ids[stage][k]);
        if (rc) return rc;
        if (a->ids[stage][k].count > limit)
            return ILR_FAIL(ILR_EINVAL, "%s's %s prompt for question %s has %d tokens, over ilr.max_prompt_tokens %ld (peer "
                            "texts are already cut to ilr.max_peer_tokens %ld: lower that, or raise the limit)", ag->cfg.name,
                            ilr_idea3_stage_name(stage), r->ds.items[d->item[k / per_q]].id, a->ids[stage][k].count, limit,
                            r->c->max_peer_tokens);
    }
    return 0;
}

/* Agent i's prompts of a stage: the training questions' (share, G samples each) or its encoded ones (1 each). */
static int stage_prompts(colearn_run *r, step_data *d, int i, int stage, const int **prompts, int *lens) {
    agent_step *a = &d->a[i];
    if (stage == ILR_STAGE_SHARE) {
        const ilr_question_set *q = &r->agents[i].train;
        for (int k = 0; k < d->P; k++) prompts[k] = q->ids[d->item[k]], lens[k] = q->lens[d->item[k]];
        return 0;
    }
    int rc = encode_prompts(r, d, i, stage);
    for (int k = 0; !rc && k < a->n[stage]; k++) prompts[k] = a->ids[stage][k].ids, lens[k] = a->ids[stage][k].count;
    return rc;
}

/* A stage's generation, every agent's: the stage's outputs, scored later.  Each rank first generates its share of
 * the prompts of each agent it serves (agent-parallel: the agents' ranks generate at once, each for its own agent;
 * data-parallel: every rank for every agent), then every agent's outputs are gathered on every rank
 * (ilr_rollout_allgather): the rest of the step runs alike on every rank, and each agent's update trains
 * data-parallel over its ranks (ilr_grpo_update). */
static int generate_stage(colearn_run *r, long step, step_data *d, int stage) {
    const ilr_train_config *c = r->c;
    int G = stage == ILR_STAGE_SHARE ? d->G : 1, rc = 0, mine_n[ILR_MAX_AGENTS] = {0};
    ilr_gen_output *mine[ILR_MAX_AGENTS] = {0};
    int n_max = d->P; /* prompts per agent: P (share) or n[stage] */
    for (int i = 0; i < d->m; i++) n_max = d->a[i].n[stage] > n_max ? d->a[i].n[stage] : n_max;
    const int **prompts = malloc(sizeof(int *) * (size_t)n_max);
    int *lens = malloc(sizeof(int) * (size_t)n_max);
    if (!prompts || !lens) rc = ILR_FAIL(ILR_ENOMEM, "out of memory");
    for (int i = 0; !rc && i < d->m; i++) {
        int n = stage == ILR_STAGE_SHARE ? d->P : d->a[i].n[stage];
        rc = stage_prompts(r, d, i, stage, prompts, lens); /* on every rank: the ids are trained on too */
        if (rc || !colearn_serves(r, i)) continue;
        colearn_agent *ag = &r->agents[i];
        ilr_gen_options opt = {.sampler = {(float)c->temperature, (int)c->top_k, (float)c->top_p, (float)c->min_p},
                               .max_new_tokens = r->max_new[stage], .seed = stage_seed(c->seed, step, i, stage)};
        rc = ilr_generate_share(&ag->policy.gen, ag->policy.tok, prompts, lens, n, G, &opt, ag->policy.group, &mine[i],
                                &mine_n[i]);
    }
    /* a rank that failed skips the gathers and returns its error, and main.c ends the job (ilr_dist_abort) */
    for (int i = 0; !rc && i < d->m; i++) {
        agent_step *a = &d->a[i];
        rc = ilr_rollout_allgather(mine[i], NULL, mine_n[i], a->out[stage], NULL, a->n[stage]);
        for (int k = 0; !rc && k < a->n[stage]; k++) r->agents[i].generated_tokens += a->out[stage][k].count;
    }
    for (int i = 0; i < d->m; i++) {
        for (int k = 0; k < mine_n[i]; k++) ilr_gen_output_free(&mine[i][k]);
        free(mine[i]);
    }
    free(prompts);
    free(lens);
    return rc;
}

/* A peer's text as agent i reads it (cut to ilr.max_peer_tokens of i's tokenizer). */
static int peer_text(colearn_run *r, int i, const char *text, char **out) {
    int clipped;
    return ilr_idea3_clip(r->agents[i].policy.tok, text, (int)r->c->max_peer_tokens, out, &clipped);
}

/* Idea Analysis: agent i critiques each peer's shared answer, thread by thread. */
static int analyse_prompts(colearn_run *r, step_data *d, int i) {
    agent_step *a = &d->a[i];
    int rc = 0;
    for (int q = 0; !rc && q < d->P; q++)
        for (int j = 0; !rc && j < d->G; j++)
            for (int l = 0; !rc && l < d->m; l++) {
                if (l == i) continue;
                char *peer = NULL;
                int k = (q * d->G + j) * (d->m - 1) + peer_slot(i, l);
                rc = peer_text(r, i, text_of(&d->a[l].out[ILR_STAGE_SHARE][q * d->G + j]), &peer);
                if (!rc) rc = ilr_idea3_analyse_prompt(&r->prompts, d->stance[q], r->ds.items[d->item[q]].question, peer,
                                                       &a->prompt[ILR_STAGE_ANALYSE][k]);
                free(peer);
            }
    return rc;
}

/* Idea Fusion: agent i's final-solution prompt of each thread: its answer, the peers' answers, the peers'
 * critiques of its answer. */
static int fuse_prompts(colearn_run *r, step_data *d, int i) {
    agent_step *a = &d->a[i];
    int rc = 0, n = d->m - 1;
    char *texts[2 * ILR_MAX_AGENTS + 1] = {0};
    for (int q = 0; !rc && q < d->P; q++)
        for (int j = 0; !rc && j < d->G; j++) {
            int t = q * d->G + j, at = 0;
            rc = peer_text(r, i, text_of(&a->out[ILR_STAGE_SHARE][t]), &texts[at++]);
            for (int l = 0; !rc && l < d->m; l++)
                if (l != i) rc = peer_text(r, i, text_of(&d->a[l].out[ILR_STAGE_SHARE][t]), &texts[at++]);
            for (int l = 0; !rc && l < d->m; l++)
                if (l != i)
                    rc = peer_text(r, i, text_of(&d->a[l].out[ILR_STAGE_ANALYSE][t * n + peer_slot(l, i)]), &texts[at++]);
            if (!rc)
                rc = ilr_idea3_fuse_prompt(&r->prompts, d->stance[q], r->ds.items[d->item[q]].question, texts[0],
                                           (const char *const *)texts + 1, (const char *const *)texts + 1 + n, n,
                                           &a->prompt[ILR_STAGE_FUSE][t]);
            for (int k = 0; k < at; k++) free(texts[k]), texts[k] = NULL;
        }
    return rc;
}

/* ---- rewards ---- */

static int score_outputs(colearn_run *r, const step_data *d, const ilr_gen_output *out, int n, int per_question,
                         ilr_task_score *score) {
    int *item_of = malloc(sizeof(int) * (size_t)n);
    const char **texts = malloc(sizeof(char *) * (size_t)n);
    size_t *lens = malloc(sizeof(size_t) * (size_t)n);
    int rc = item_of && texts && lens ? 0 : ILR_FAIL(ILR_ENOMEM, "out of memory");
    for (int k = 0; !rc && k < n; k++) item_of[k] = d->item[k / per_question], texts[k] = out[k].text, lens[k] = out[k].text_len;
    if (!rc) rc = ilr_task_score_many(&r->task, &r->ds, item_of, texts, lens, n, score);
    free(item_of);
    free(texts);
    free(lens);
    return rc;
}

/* A critique of a peer's answer: right when it says what the world's checker knows (the exact first wrong
 * step, or that all is right), or, for math and code, when its verdict matches the peer's correctness;
 * formatted when it is a critique of the expected form. */
static int score_critique(colearn_run *r, int item, const char *peer, int peer_correct, const char *critique,
                          ilr_task_score *s) {
    int right = 0, formatted = 0;
    if (r->task.type == ILR_TASK_TYPE_WORLD) {
        ilr_world_problem p;
        char *want = NULL;
        int rc = ilr_world_parse_question(r->ds.items[item].question, &p);
        if (!rc) rc = ilr_world_analyse(&p, peer, strlen(peer), &want);
        if (rc) return rc;
        size_t n = strlen(critique);
        while (n && isspace((unsigned char)critique[n - 1])) n--;
        right = strlen(want) == n && !strncmp(want, critique, n);
        formatted = !strncmp(critique, "All steps are correct.", 22) || !strncmp(critique, "Step ", 5) ||
                    !strncmp(critique, "The answer is ", 14);
        free(want);
    } else {
        int verdict = ilr_idea3_verdict(critique);
        formatted = verdict >= 0;
        right = verdict == peer_correct;
    }
    *s = (ilr_task_score){(float)(right + r->task.format_weight * formatted), right, formatted, "critique", ""};
    return 0;
}

static int score_critiques(colearn_run *r, step_data *d, int i) {
    agent_step *a = &d->a[i];
    int n = d->m - 1, rc = 0;
    for (int t = 0; !rc && t < d->P * d->G; t++)
        for (int l = 0; !rc && l < d->m; l++) {
            if (l == i) continue;
            int k = t * n + peer_slot(i, l);
            rc = score_critique(r, d->item[t / d->G], text_of(&d->a[l].out[ILR_STAGE_SHARE][t]),
                                d->a[l].score[ILR_STAGE_SHARE][t].correct, text_of(&a->out[ILR_STAGE_ANALYSE][k]),
                                &a->score[ILR_STAGE_ANALYSE][k]);
        }
    return rc;
}

/* Perception Calibration of each question's fused rewards (or a copy, when it is off). */
static void calibrate(colearn_run *r, step_data *d, colearn_step_stats *st) {
    int G = d->G, m = d->m;
    float raw[ILR_MAX_AGENTS * 64], cal[ILR_MAX_AGENTS * 64], *rw = raw, *cl = cal;
    if (m * G > ILR_MAX_AGENTS * 64) rw = malloc(sizeof(float) * (size_t)m * G), cl = malloc(sizeof(float) * (size_t)m * G);
    for (int q = 0; q < d->P; q++) {
        for (int i = 0; i < m; i++)
            for (int j = 0; j < G; j++) rw[i * G + j] = d->a[i].score[ILR_STAGE_FUSE][q * G + j].reward;
        if (r->c->calibration && rw && cl) ilr_calibrate(cl, rw, m, G, &st->calib);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < G; j++) d->a[i].calibrated[q * G + j] = r->c->calibration && cl ? cl[i * G + j] : rw[i * G + j];
    }
    if (rw != raw) free(rw), free(cl);
}

/* ---- batches, records, updates ---- */

static int add_group(ilr_rollout_batch *b, agent_step *a, int stage, int first, int count, const ilr_question_set *q,
                     int item, const float *reward) {
    int rc = ilr_rollout_batch_group(b);
    for (int k = first; !rc && k < first + count; k++) {
        ilr_task_score s = a->score[stage][k];
        if (reward) s.reward = reward[k];
        a->at[stage][k] = b->S;
        if (stage == ILR_STAGE_SHARE)
            rc = ilr_rollout_batch_add(b, q->ids[item], q->lens[item], &a->out[stage][k], &s);
        else
            rc = ilr_rollout_batch_add(b, a->ids[stage][k].ids, a->ids[stage][k].count, &a->out[stage][k], &s);
    }
    return rc;
}

/* Agent i's batch: per question, its G solo answers (share+fuse, all), its G fused answers with calibrated
 * rewards, and its G x (m - 1) critiques (all); each a group with its own baseline. */
static int build_batch(colearn_run *r, step_data *d, int i) {
    const ilr_train_config *c = r->c;
    agent_step *a = &d->a[i];
    int G = d->G, n = d->m - 1, rc = 0;
    for (int q = 0; !rc && q < d->P; q++) {
        if (c->train_stages != ILR_TRAIN_FUSE)
            rc = add_group(&a->batch, a, ILR_STAGE_SHARE, q * G, G, &r->agents[i].train, d->item[q], NULL);
        if (!rc) rc = add_group(&a->batch, a, ILR_STAGE_FUSE, q * G, G, NULL, d->item[q], a->calibrated);
        if (!rc && c->train_stages == ILR_TRAIN_ALL)
            rc = add_group(&a->batch, a, ILR_STAGE_ANALYSE, q * G * n, G * n, NULL, d->item[q], NULL);
    }
    if (!rc)
        ilr_rollout_batch_finish(&a->batch, (ilr_grpo_scale)c->scale_rewards, (ilr_grpo_loss_type)c->loss_type,
                                 (int)c->max_new_tokens, c->mask_truncated, &a->zero_std);
    return rc;
}

/* One rollouts.jsonl line: everything that decided this completion's advantage. */
static int record(colearn_run *r, const step_data *d, long step, int i, int stage, int k) {
    const agent_step *a = &d->a[i];
    int per_q = a->n[stage] / d->P, q = k / per_q, at = a->at[stage][k];
    const ilr_gen_output *o = at >= 0 ? &a->batch.out[at] : &a->out[stage][k];
    json_t *line = json_object(), *p = json_object();
    json_object_set_new(line, "step", json_integer(step));
    json_object_set_new(line, "question", json_string(r->ds.items[d->item[q]].id));
    json_object_set_new(line, "thread", json_integer(stage == ILR_STAGE_ANALYSE ? (k / (d->m - 1)) % d->G : k % d->G));
    json_object_set_new(line, "stage", json_string(ilr_idea3_stage_name(stage)));
    json_object_set_new(line, "agent", json_string(r->agents[i].cfg.name));
    if (stage == ILR_STAGE_ANALYSE) {
        int slot = k % (d->m - 1), peer = slot < i ? slot : slot + 1;
        json_object_set_new(line, "peer", json_string(r->agents[peer].cfg.name));
    }
    json_object_set_new(line, "mode", json_string(ilr_stance_name(d->stance[q])));
    for (int l = 0; l < d->m; l++) json_object_set_new(p, r->agents[l].cfg.name, json_real(d->p[q * d->m + l]));
    json_object_set_new(line, "p", p);
    char *share_prompt = NULL;
    if (stage == ILR_STAGE_SHARE && ilr_task_prompt(&r->task, &r->ds, d->item[q], &share_prompt)) return ilr_last_error_code();
    json_object_set_new(line, "prompt", json_string(stage == ILR_STAGE_SHARE ? share_prompt : a->prompt[stage][k]));
    free(share_prompt);
    json_object_set_new(line, "completion", json_string(o->text ? o->text : ""));
    json_object_set_new(line, "correct", json_boolean(a->score[stage][k].correct));
    json_object_set_new(line, "reward", json_real(a->score[stage][k].reward));
    json_object_set_new(line, "calibrated_reward",
                        stage == ILR_STAGE_FUSE ? json_real(a->calibrated[k]) : json_real(a->score[stage][k].reward));
    json_object_set_new(line, "advantage", at >= 0 ? json_real(a->batch.adv[at]) : json_null());
    json_object_set_new(line, "trained", json_boolean(at >= 0 && a->batch.weight[at] > 0));
    char *text = json_dumps(line, JSON_COMPACT | JSON_REAL_PRECISION(9));
    int rc = text && fprintf(r->rollouts, "%s\n", text) >= 0 ? 0 : ILR_FAIL(ILR_EIO, "rollouts.jsonl: cannot write");
    free(text);
    json_decref(line);
    return rc;
}

static int write_records(colearn_run *r, const step_data *d, long step) {
    int rc = 0;
    for (int i = 0; !rc && i < d->m; i++)
        for (int s = 0; !rc && s < 3; s++)
            for (int k = 0; !rc && k < d->a[i].n[s]; k++) rc = record(r, d, step, i, s, k);
    if (!rc && fflush(r->rollouts) != 0) rc = ILR_FAIL(ILR_EIO, "rollouts.jsonl: cannot write");
    return rc;
}

/* ---- the step's log line ---- */

static double mean_of(const ilr_task_score *s, int n, int field) {
    double sum = 0;
    for (int k = 0; k < n; k++) sum += field == 0 ? s[k].reward : field == 1 ? s[k].correct : s[k].formatted;
    return n ? sum / n : 0;
}

static void put(json_t *j, const char *agent, const char *name, double v) {
    char key[160];
    snprintf(key, sizeof key, "%s%s%s", agent ? agent : "", agent ? "/" : "", name);
    json_object_set_new(j, key, json_real(v));
}

static json_t *step_line(colearn_run *r, const step_data *d, long step, const colearn_step_stats *st) {
    json_t *j = json_object();
    json_object_set_new(j, "step", json_integer(step));
    json_object_set_new(j, "epoch", json_real(ilr_data_order_progress(&r->order)));
    put(j, NULL, "coop_share", (double)st->coop / d->P);
    if (r->c->calibration) {
        put(j, NULL, "calibration/mean_abs_shift", st->calib.shifts ? st->calib.shift_abs_sum / st->calib.shifts : 0);
        put(j, NULL, "calibration/clipped_share", st->calib.terms ? (double)st->calib.clipped / st->calib.terms : 0);
    }
    for (int i = 0; i < d->m; i++) {
        const agent_step *a = &d->a[i];
        colearn_agent *ag = &r->agents[i];
        const char *name = ag->cfg.name;
        double p = 0, cal = 0;
        for (int q = 0; q < d->P; q++) p += d->p[q * d->m + i] / d->P;
        for (int k = 0; k < d->P * d->G; k++) cal += a->calibrated[k] / (d->P * d->G);
        put(j, name, "p", p);
        put(j, name, "reward", mean_of(a->score[ILR_STAGE_FUSE], a->n[ILR_STAGE_FUSE], 0));
        put(j, name, "accuracy", mean_of(a->score[ILR_STAGE_SHARE], a->n[ILR_STAGE_SHARE], 1)); /* alone */
        put(j, name, "calibrated_reward", cal);
        for (int s = 0; s < 3; s++) {
            char key[64];
            snprintf(key, sizeof key, "%s/accuracy", ilr_idea3_stage_name(s));
            put(j, name, key, mean_of(a->score[s], a->n[s], 1));
            snprintf(key, sizeof key, "%s/format_rate", ilr_idea3_stage_name(s));
            put(j, name, key, mean_of(a->score[s], a->n[s], 2));
            snprintf(key, sizeof key, "%s/mean_length", ilr_idea3_stage_name(s));
            double len = 0;
            for (int k = 0; k < a->n[s]; k++) len += a->at[s][k] >= 0 ? a->batch.out[a->at[s][k]].count : a->out[s][k].count;
            put(j, name, key, a->n[s] ? len / a->n[s] : 0);
        }
        char prefix[80];
        snprintf(prefix, sizeof prefix, "%s/", name);
        ilr_grpo_update_json(j, &a->update, prefix, ag->policy.has_ref);
        put(j, name, "frac_reward_zero_std", a->batch.num_groups ? (double)a->zero_std / a->batch.num_groups : 0);
        json_object_set_new(j, (snprintf(prefix, sizeof prefix, "%s/generated_tokens", name), prefix),
                            json_integer(ag->generated_tokens));
        json_object_set_new(j, (snprintf(prefix, sizeof prefix, "%s/trained_tokens_total", name), prefix),
                            json_integer(ag->trained_tokens));
    }
    for (int s = 0; s < 3; s++) {
        char key[64];
        snprintf(key, sizeof key, "time/%s", ilr_idea3_stage_name(s));
        put(j, NULL, key, st->seconds[s]);
    }
    put(j, NULL, "time/training", st->update_seconds);
    return j;
}

/* ---- the step ---- */

static int discuss(colearn_run *r, long step, step_data *d, colearn_step_stats *st) {
    ilr_timer t;
    ilr_timer_start(&t);
    int rc = generate_stage(r, step, d, ILR_STAGE_SHARE); /* Idea Sharing: every agent answers alone, G times */
    for (int i = 0; !rc && i < d->m; i++)
        rc = score_outputs(r, d, d->a[i].out[ILR_STAGE_SHARE], d->P * d->G, d->G, d->a[i].score[ILR_STAGE_SHARE]);
    st->seconds[ILR_STAGE_SHARE] = ilr_timer_elapsed(&t);
    ilr_timer_start(&t);
    for (int i = 0; !rc && i < d->m; i++) rc = analyse_prompts(r, d, i);
    if (!rc) rc = generate_stage(r, step, d, ILR_STAGE_ANALYSE);
    for (int i = 0; !rc && i < d->m; i++) rc = score_critiques(r, d, i);
    st->seconds[ILR_STAGE_ANALYSE] = ilr_timer_elapsed(&t);
    ilr_timer_start(&t);
    for (int i = 0; !rc && i < d->m; i++) rc = fuse_prompts(r, d, i);
    if (!rc) rc = generate_stage(r, step, d, ILR_STAGE_FUSE);
    for (int i = 0; !rc && i < d->m; i++)
        rc = score_outputs(r, d, d->a[i].out[ILR_STAGE_FUSE], d->P * d->G, d->G, d->a[i].score[ILR_STAGE_FUSE]);
    st->seconds[ILR_STAGE_FUSE] = ilr_timer_elapsed(&t);
    return rc;
}

int colearn_step(colearn_run *r, long step, json_t **line, colearn_step_stats *st) {
    const ilr_train_config *c = r->c;
    step_data d;
    memset(st, 0, sizeof *st);
    *line = NULL;
    int rc = step_alloc(&d, (int)c->prompts_per_step, (int)c->num_generations, r->m);
    if (!rc) {
        choose_questions(r, step, &d, st);
        rc = discuss(r, step, &d, st);
    }
    if (!rc) calibrate(r, &d, st);
    for (int i = 0; !rc && i < d.m; i++) rc = build_batch(r, &d, i);
    if (!rc && r->rollouts) rc = write_records(r, &d, step);
    if (!rc && c->irt_refit_every > 0) {
        ilr_task_score *shares[ILR_MAX_AGENTS];
        for (int i = 0; i < d.m; i++) shares[i] = d.a[i].score[ILR_STAGE_SHARE];
        rc = colearn_irt_observe(r, step, d.item, d.P, d.G, shares);
    }
    ilr_timer t;
    ilr_timer_start(&t);
    for (int i = 0; !rc && i < d.m; i++)
        if (colearn_serves(r, i)) rc = ilr_grpo_update(&r->agents[i].policy, &d.a[i].batch, &r->agents[i].hp, &d.a[i].update);
    /* agent-parallel: the other agents' statistics from their leaders (data-parallel, every rank has them all) */
    for (int i = 0; !rc && r->mine >= 0 && i < d.m; i++) rc = ilr_dist_bcast(colearn_leader(r, i), &d.a[i].update, sizeof d.a[i].update);
    for (int i = 0; !rc && i < d.m; i++) r->agents[i].trained_tokens += d.a[i].update.trained_tokens;
    st->update_seconds = ilr_timer_elapsed(&t);
    if (!rc) *line = step_line(r, &d, step, st);
    step_free(&d);
    return rc;
}
