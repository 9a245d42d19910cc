/* Inference-time discussion (see include/ilr/discuss.h). */
#include "ilr/discuss.h"

#include <stdlib.h>
#include <string.h>

#include "ilr/error.h"
#include "ilr/template.h"

#define MAX_AGENTS ILR_DISCUSS_MAX_AGENTS

const char *ilr_protocol_name(ilr_protocol p) {
    static const char *const names[] = {"single", "idea3", "debate"};
    return (unsigned)p < 3 ? names[p] : "?";
}

static int peer_slot(int i, int l) { return l < i ? l : l - 1; }

/* Greedy answers of agent a to n prompts: token ids (ids != NULL), or texts encoded here; out[k] malloc'ed. */
static int answer(const ilr_discuss_agent *a, const ilr_discuss_options *o, const int *const *ids, const int *lens,
                  char *const *texts, int n, char **out) {
    if (n < 1) return 0;
    ilr_tok_ids *enc = texts ? calloc((size_t)n, sizeof *enc) : NULL;
    const int **p = malloc(sizeof(int *) * (size_t)n);
    int *l = malloc(sizeof(int) * (size_t)n), rc = 0;
    ilr_gen_output *gen = calloc((size_t)n, sizeof *gen);
    if ((texts && !enc) || !p || !l || !gen) rc = ILR_FAIL(ILR_ENOMEM, "out of memory");
    for (int k = 0; !rc && k < n; k++) {
        if (texts) {
            rc = ilr_task_encode_prompt(a->tok, a->chat, texts[k], &enc[k]);
            p[k] = enc[k].ids, l[k] = enc[k].count;
        } else {
            p[k] = ids[k], l[k] = lens[k];
        }
        int max_len = a->gen ? a->gen->max_len : a->max_len;
        if (!rc && l[k] + o->max_new_tokens > max_len)
            rc = ILR_FAIL(ILR_EINVAL, "%s: a discussion prompt of %d tokens and %d new ones exceed its %d-token context "
                          "(lower --max-peer-tokens)", a->name, l[k], o->max_new_tokens, max_len);
    }
    ilr_gen_options go = {.sampler = {0.0f, 0, 1.0f, 0.0f}, .max_new_tokens = o->max_new_tokens, .seed = 1};
    if (!rc) rc = a->generate ? a->generate(a->generate_ctx, p, l, n, &go, gen) : ilr_generate(a->gen, a->tok, p, l, n, 1, &go, gen);
    for (int k = 0; k < n; k++) {
        if (!rc && !(out[k] = strdup(gen[k].text ? gen[k].text : ""))) rc = ILR_FAIL(ILR_ENOMEM, "out of memory");
        ilr_gen_output_free(&gen[k]);
        if (enc) ilr_tok_ids_free(&enc[k]);
    }
    free(enc);
    free(p);
    free(l);
    free(gen);
    return rc;
}

/* The wave's state: what is discussed (each question's text, each agent's Sharing prompt, the stance) and every
 * message of every agent on every question, in order. */
typedef struct {
    int W, m, items[256];
    const char *question[256];
    const int *share_ids[MAX_AGENTS][256];
    int share_lens[MAX_AGENTS][256];
    ilr_stance stance[256];
    char **said[MAX_AGENTS][256]; /* said[i][w][0..count) */
    int count[MAX_AGENTS][256];
    int alone[MAX_AGENTS][256], final[MAX_AGENTS][256]; /* graded: the first answer, the last */
} wave_state;

static int say(wave_state *s, int i, int w, char *text) {
    char **grown = realloc(s->said[i][w], sizeof(char *) * (size_t)(s->count[i][w] + 1));
    if (!grown) return free(text), ILR_FAIL(ILR_ENOMEM, "out of memory");
    s->said[i][w] = grown;
    grown[s->count[i][w]++] = text;
    return 0;
}

static int clip(const ilr_discuss_agent *reader, const ilr_discuss_options *o, const char *text, char **out) {
    int clipped;
    return ilr_idea3_clip(reader->tok, text, o->max_peer_tokens, out, &clipped);
}

static int share(const ilr_discuss_agent *ag, const ilr_discuss_options *o, wave_state *s) {
    int rc = 0;
    for (int i = 0; !rc && i < s->m; i++) {
        const int *ids[256];
        int lens[256];
        char *out[256] = {0};
        for (int w = 0; w < s->W; w++) ids[w] = s->share_ids[i][w], lens[w] = s->share_lens[i][w];
        rc = answer(&ag[i], o, ids, lens, NULL, s->W, out);
        for (int w = 0; w < s->W; w++) {
            if (!rc) rc = say(s, i, w, out[w]);
            else free(out[w]);
        }
    }
    return rc;
}

/* Idea3 after sharing: critiques of each peer, then the fused answer (the last message). */
static int idea3(const ilr_discuss_agent *ag, const ilr_idea3_prompts *pr, const ilr_discuss_options *o, wave_state *s) {
    int m = s->m, n = m - 1, rc = 0;
    char **prompts = calloc((size_t)s->W * n, sizeof *prompts), **out = calloc((size_t)s->W * n, sizeof *out);
    if (!prompts || !out) rc = ILR_FAIL(ILR_ENOMEM, "out of memory");
    for (int i = 0; !rc && i < m; i++) {
        for (int w = 0; !rc && w < s->W; w++)
            for (int l = 0; !rc && l < m; l++) {
                if (l == i) continue;
                char *peer = NULL;
                rc = clip(&ag[i], o, s->said[l][w][0], &peer);
                if (!rc) rc = ilr_idea3_analyse_prompt(pr, s->stance[w], s->question[w], peer,
                                                       &prompts[w * n + peer_slot(i, l)]);
                free(peer);
            }
        if (!rc) rc = answer(&ag[i], o, NULL, NULL, prompts, s->W * n, out);
        for (int k = 0; k < s->W * n; k++) {
            free(prompts[k]), prompts[k] = NULL;
            if (!rc) rc = say(s, i, k / n, out[k]); /* critiques of peers in order, after the own answer */
            else free(out[k]);
            out[k] = NULL;
        }
    }
    for (int i = 0; !rc && i < m; i++) {
        for (int w = 0; !rc && w < s->W; w++) {
            char *own = NULL, *peers[MAX_AGENTS] = {0}, *reviews[MAX_AGENTS] = {0};
            rc = clip(&ag[i], o, s->said[i][w][0], &own);
            for (int l = 0; !rc && l < m; l++) {
                if (l == i) continue;
                rc = clip(&ag[i], o, s->said[l][w][0], &peers[peer_slot(i, l)]);
                if (!rc) rc = clip(&ag[i], o, s->said[l][w][1 + peer_slot(l, i)], &reviews[peer_slot(i, l)]);
            }
            if (!rc) rc = ilr_idea3_fuse_prompt(pr, s->stance[w], s->question[w], own,
                                                (const char *const *)peers, (const char *const *)reviews, n, &prompts[w]);
            free(own);
            for (int k = 0; k < n; k++) free(peers[k]), free(reviews[k]);
        }
        if (!rc) rc = answer(&ag[i], o, NULL, NULL, prompts, s->W, out);
        for (int w = 0; w < s->W; w++) {
            free(prompts[w]), prompts[w] = NULL;
            if (!rc) rc = say(s, i, w, out[w]);
            else free(out[w]);
            out[w] = NULL;
        }
    }
    free(prompts);
    free(out);
    return rc;
}

/* Debate after sharing: R rounds, each agent reading the others' answers of the round before. */
static int debate(const ilr_discuss_agent *ag, const char *tmpl, const ilr_discuss_options *o, wave_state *s) {
    int m = s->m, rc = 0;
    char **prompts = calloc((size_t)s->W * m, sizeof *prompts), **out = calloc((size_t)s->W, sizeof *out);
    if (!prompts || !out) rc = ILR_FAIL(ILR_ENOMEM, "out of memory");
    for (int round = 1; !rc && round <= o->rounds; round++) {
        for (int i = 0; !rc && i < m; i++)
            for (int w = 0; !rc && w < s->W; w++) {
                char *own = NULL, *peers[MAX_AGENTS] = {0}, *joined = NULL;
                size_t len = 1;
                rc = clip(&ag[i], o, s->said[i][w][round - 1], &own);
                for (int l = 0; !rc && l < m; l++)
                    if (l != i && !(rc = clip(&ag[i], o, s->said[l][w][round - 1], &peers[peer_slot(i, l)])))
                        len += strlen(peers[peer_slot(i, l)]) + 2;
                if (!rc && !(joined = calloc(len, 1))) rc = ILR_FAIL(ILR_ENOMEM, "out of memory");
                for (int k = 0; !rc && k < m - 1; k++) strcat(strcat(joined, k ? "\n\n" : ""), peers[k]);
                ilr_template_var v[3] = {{"question", s->question[w]}, {"own_solution", own},
                                         {"peer_solutions", joined}};
                if (!rc) rc = ilr_template_render(tmpl, "debate.txt", v, 3, &prompts[i * s->W + w]);
                free(own), free(joined);
                for (int k = 0; k < m - 1; k++) free(peers[k]);
            }
        for (int i = 0; !rc && i < m; i++) { /* every prompt of the round is built before anyone speaks */
            rc = answer(&ag[i], o, NULL, NULL, prompts + i * s->W, s->W, out);
            for (int w = 0; w < s->W; w++) {
                if (!rc) rc = say(s, i, w, out[w]);
                else free(out[w]);
                out[w] = NULL;
            }
        }
        for (int k = 0; k < s->W * m; k++) free(prompts[k]), prompts[k] = NULL;
    }
    free(prompts);
    free(out);
    return rc;
}

static int score(const ilr_discuss_agent *ag, const ilr_task *t, const wave_state *s, int i, int which, int *correct) {
    const char *texts[256];
    size_t lens[256];
    ilr_task_score sc[256];
    for (int w = 0; w < s->W; w++) {
        texts[w] = s->said[i][w][which < 0 ? s->count[i][w] - 1 : which];
        lens[w] = strlen(texts[w]);
    }
    int rc = ilr_task_score_many(t, ag[0].q->ds, s->items, texts, lens, s->W, sc);
    for (int w = 0; !rc && w < s->W; w++) correct[w] = sc[w].correct;
    return rc;
}

static int write_transcripts(const ilr_discuss_agent *ag, const ilr_discuss_options *o, const wave_state *s, FILE *f) {
    for (int w = 0; w < s->W; w++) {
        json_t *line = json_object(), *answers = json_object(), *correct = json_object();
        json_object_set_new(line, "question", json_string(ag[0].q->ds->items[s->items[w]].id));
        json_object_set_new(line, "protocol", json_string(ilr_protocol_name(o->protocol)));
        if (o->protocol == ILR_PROTOCOL_IDEA3)
            json_object_set_new(line, "mode", json_string(ilr_stance_name(s->stance[w])));
        for (int i = 0; i < s->m; i++) {
            json_t *said = json_array();
            for (int k = 0; k < s->count[i][w]; k++) json_array_append_new(said, json_string(s->said[i][w][k]));
            json_object_set_new(answers, ag[i].name, said);
            json_object_set_new(correct, ag[i].name, json_pack("[bb]", s->alone[i][w], s->final[i][w]));
        }
        json_object_set_new(line, "answers", answers);
        json_object_set_new(line, "correct", correct);
        char *text = json_dumps(line, JSON_COMPACT);
        int bad = !text || fprintf(f, "%s\n", text) < 0;
        free(text);
        json_decref(line);
        if (bad) return ILR_FAIL(ILR_EIO, "interact: cannot write a transcript line");
    }
    return 0;
}

static void wave_free(wave_state *s) {
    for (int i = 0; i < s->m; i++)
        for (int w = 0; w < s->W; w++) {
            for (int k = 0; k < s->count[i][w]; k++) free(s->said[i][w][k]);
            free(s->said[i][w]);
            s->said[i][w] = NULL, s->count[i][w] = 0;
        }
}

/* The protocol's stages after sharing, on the wave in s. */
static int discuss_wave(const ilr_discuss_agent *agents, const ilr_idea3_prompts *prompts, const char *debate_template,
                        const ilr_discuss_options *o, wave_state *s) {
    int rc = share(agents, o, s);
    if (!rc && o->protocol == ILR_PROTOCOL_IDEA3) rc = idea3(agents, prompts, o, s);
    if (!rc && o->protocol == ILR_PROTOCOL_DEBATE) rc = debate(agents, debate_template, o, s);
    return rc;
}

static int check_agents(int m, ilr_protocol protocol) {
    if (m < 1 || m > MAX_AGENTS) return ILR_FAIL(ILR_EINVAL, "interact: 1 to %d agents, not %d", MAX_AGENTS, m);
    if (protocol != ILR_PROTOCOL_SINGLE && m < 2) return ILR_FAIL(ILR_EINVAL, "interact: a discussion needs 2 agents or more");
    return 0;
}

int ilr_discuss(const ilr_discuss_agent *agents, int m, const ilr_task *t, const ilr_idea3_prompts *prompts,
                const char *debate_template, const ilr_discuss_options *o, ilr_discuss_result *res, FILE *transcripts) {
    memset(res, 0, sizeof *res);
    int rc = check_agents(m, o->protocol);
    wave_state *s = rc ? NULL : calloc(1, sizeof *s);
    if (rc || !s) return rc ? rc : ILR_FAIL(ILR_ENOMEM, "out of memory");
    s->m = m;
    int n = agents[0].q->n, wave = o->wave < 1 ? 1 : o->wave > 256 ? 256 : o->wave;
    for (int first = 0; !rc && first < n; first += wave) {
        s->W = n - first < wave ? n - first : wave;
        for (int w = 0; w < s->W; w++) {
            int item = s->items[w] = first + w;
            s->question[w] = agents[0].q->ds->items[item].question;
            s->stance[w] = o->stance ? o->stance[item] : ILR_COOPERATE;
            for (int i = 0; i < m; i++) s->share_ids[i][w] = agents[i].q->ids[item], s->share_lens[i][w] = agents[i].q->lens[item];
        }
        rc = discuss_wave(agents, prompts, debate_template, o, s);
        for (int i = 0; !rc && i < m; i++) {
            rc = score(agents, t, s, i, 0, s->alone[i]);
            if (!rc) rc = score(agents, t, s, i, -1, s->final[i]);
            for (int w = 0; !rc && w < s->W; w++) res->alone[i] += s->alone[i][w], res->final[i] += s->final[i][w];
        }
        if (!rc && transcripts) rc = write_transcripts(agents, o, s, transcripts);
        res->questions += s->W;
        wave_free(s);
    }
    wave_free(s);
    free(s);
    return rc;
}

/* ---- one question ---- */

/* Moves agent i's message k (said at stage, about) into t. */
static void take(ilr_discuss_transcript *t, wave_state *s, int i, int k, int stage, int about) {
    t->messages[t->count++] = (ilr_discuss_message){i, stage, about, s->said[i][0][k]};
    s->said[i][0][k] = NULL;
    t->final[i] = t->count - 1;
}

/* The messages of a one-question wave in the order they were said (share, then each agent's critiques, then the
 * fusions; or share, then each debate round). */
static int collect(const ilr_discuss_options *o, wave_state *s, ilr_discuss_transcript *t) {
    int total = 0, m = s->m;
    for (int i = 0; i < m; i++) total += s->count[i][0];
    t->messages = calloc((size_t)total, sizeof *t->messages);
    t->final = calloc((size_t)m, sizeof *t->final);
    if (!t->messages || !t->final) return ILR_FAIL(ILR_ENOMEM, "out of memory");
    for (int i = 0; i < m; i++) take(t, s, i, 0, ILR_STAGE_SHARE, -1);
    if (o->protocol == ILR_PROTOCOL_IDEA3) {
        for (int i = 0; i < m; i++)
            for (int l = 0; l < m; l++)
                if (l != i) take(t, s, i, 1 + peer_slot(i, l), ILR_STAGE_ANALYSE, l);
        for (int i = 0; i < m; i++) take(t, s, i, m, ILR_STAGE_FUSE, -1);
    }
    for (int round = 1; o->protocol == ILR_PROTOCOL_DEBATE && round <= o->rounds; round++)
        for (int i = 0; i < m; i++) take(t, s, i, round, ILR_DISCUSS_DEBATE, round);
    return 0;
}

int ilr_discuss_one(const ilr_discuss_agent *agents, int m, const char *question, const int *const *share_ids,
                    const int *share_lens, ilr_stance stance, const ilr_idea3_prompts *prompts, const char *debate_template,
                    const ilr_discuss_options *o, ilr_discuss_transcript *out) {
    memset(out, 0, sizeof *out);
    int rc = check_agents(m, o->protocol);
    wave_state *s = rc ? NULL : calloc(1, sizeof *s);
    if (rc || !s) return rc ? rc : ILR_FAIL(ILR_ENOMEM, "out of memory");
    s->m = m, s->W = 1, s->question[0] = question, s->stance[0] = stance;
    for (int i = 0; i < m; i++) s->share_ids[i][0] = share_ids[i], s->share_lens[i][0] = share_lens[i];
    rc = discuss_wave(agents, prompts, debate_template, o, s);
    if (!rc) rc = collect(o, s, out);
    if (rc) ilr_discuss_transcript_free(out);
    wave_free(s);
    free(s);
    return rc;
}

void ilr_discuss_transcript_free(ilr_discuss_transcript *t) {
    for (int k = 0; t->messages && k < t->count; k++) free(t->messages[k].text);
    free(t->messages);
    free(t->final);
    memset(t, 0, sizeof *t);
}
