/* Inference-time discussion (`ilr interact`): agents answer questions together, without training, by one of
 * three protocols, and each agent's final answer is graded:
 *     single   each agent answers alone (its final answer is its own)
 *     idea3    Sharing, Analysis, Fusion (include/ilr/idea3.h), in one stance for all questions or by the IRT
 *              rule; the final answer is the fused one
 *     debate   Du et al. (2023): each answers alone, then for R rounds each reads the others' latest answers
 *              and gives an updated one (the templates' debate.txt); the final answer is the last round's
 * Decoding is greedy, so a run is exactly reproducible.  The paper found that debate drags the stronger model
 * down while Idea3 does not: this is how that is measured. */
#ifndef ILR_DISCUSS_H
#define ILR_DISCUSS_H

#include <stdio.h>

#include "ilr/generate.h"
#include "ilr/idea3.h"
#include "ilr/task.h"

#define ILR_DISCUSS_MAX_AGENTS 16

typedef enum { ILR_PROTOCOL_SINGLE = 0, ILR_PROTOCOL_IDEA3 = 1, ILR_PROTOCOL_DEBATE = 2 } ilr_protocol;

/* How an agent generates in place of ilr_generate(gen, ...): greedy answers to n prompts, out[k] for prompt k
 * (a server hands them to the scheduler thread that owns the model's generator; src/serve/discussion.c). */
typedef int (*ilr_discuss_generate_fn)(void *ctx, const int *const *prompts, const int *lens, int n,
                                       const ilr_gen_options *opt, ilr_gen_output *out);

typedef struct {
    const char *name;
    ilr_generator *gen;              /* NULL when generate is set */
    const ilr_tokenizer *tok;
    const ilr_chat_template *chat;   /* NULL: plain prompts */
    const ilr_question_set *q;       /* the questions in this agent's tokens (ilr_discuss only) */
    ilr_discuss_generate_fn generate; /* NULL: ilr_generate on gen */
    void *generate_ctx;
    int max_len;                     /* tokens per sequence when gen is NULL */
} ilr_discuss_agent;

typedef struct {
    ilr_protocol protocol;
    int rounds;                  /* debate */
    const ilr_stance *stance;    /* idea3: per question of the set (NULL: cooperate on all) */
    int max_new_tokens;
    int max_peer_tokens;         /* peer texts are cut as in training (ilr_idea3_clip) */
    int wave;                    /* questions discussed at once (each agent's generator needs that many slots) */
} ilr_discuss_options;

typedef struct {
    int questions;
    int alone[ILR_DISCUSS_MAX_AGENTS], final[ILR_DISCUSS_MAX_AGENTS];    /* per agent: right answers alone (the first answer) and at the end */
} ilr_discuss_result;

/* Discusses every question of the agents' sets (m <= 16; the sets are over one dataset).  prompts: the Idea3
 * templates; debate: the debate template's text (debate only).  transcripts (may be NULL) receives one JSON
 * line per question: {"question", "protocol", "answers": {AGENT: [every message in order]}, "correct": {AGENT:
 * [alone, final]}}. */
int ilr_discuss(const ilr_discuss_agent *agents, int m, const ilr_task *t, const ilr_idea3_prompts *prompts,
                const char *debate, const ilr_discuss_options *o, ilr_discuss_result *res, FILE *transcripts);

const char *ilr_protocol_name(ilr_protocol p); /* "single", "idea3", "debate" */

/* ---- one question, no dataset (`ilr serve`'s discussion models) ---- */

enum { ILR_DISCUSS_DEBATE = 3 }; /* a message's stage after ILR_STAGE_SHARE/ANALYSE/FUSE: a debate round */

typedef struct {
    int agent;  /* who said it (an index into the agents) */
    int stage;  /* ILR_STAGE_SHARE, ILR_STAGE_ANALYSE, ILR_STAGE_FUSE or ILR_DISCUSS_DEBATE */
    int about;  /* analyse: the agent critiqued; debate: the round (1..R); else -1 */
    char *text;
} ilr_discuss_message;

typedef struct {
    ilr_discuss_message *messages; /* in the order they were said */
    int count;
    int *final;                    /* per agent: its last message (an index into messages) */
} ilr_discuss_transcript;

/* Discusses one question exactly as ilr_discuss discusses an item of its set: share_ids[i] (share_lens[i]
 * tokens) is agent i's Sharing prompt (ilr_discuss: its question set's prompt), question the text the later
 * stages quote, stance idea3's (o->stance is ignored).  Nothing is graded.  out is the caller's to free. */
int ilr_discuss_one(const ilr_discuss_agent *agents, int m, const char *question, const int *const *share_ids,
                    const int *share_lens, ilr_stance stance, const ilr_idea3_prompts *prompts, const char *debate,
                    const ilr_discuss_options *o, ilr_discuss_transcript *out);
void ilr_discuss_transcript_free(ilr_discuss_transcript *t);

#endif
