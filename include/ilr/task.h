/* Tasks: how a question is put to a model and how its answer is scored, for the three kinds of question ilr
 * trains and evaluates on: the synthetic world's arithmetic (its exact checker), math (the math grader) and
 * code (the program run with the task's tests in the sandbox).  Every trainer and the evaluation score
 * answers here, so a reward means the same everywhere: correct + format_weight * well_formed.
 *
 * A question set is a dataset's questions as one model reads them: each prompt rendered (the world's solve
 * template or the dataset's template, then, for chat models, one user turn of the model's chat template)
 * and tokenised.  Agents with different tokenizers each have their own set over one shared dataset. */
#ifndef ILR_TASK_H
#define ILR_TASK_H

#include <stddef.h>

#include "ilr/chat.h"
#include "ilr/dataset.h"
#include "ilr/reward.h"
#include "ilr/tokenizer.h"

typedef enum { ILR_TASK_TYPE_AUTO = 0, ILR_TASK_TYPE_WORLD = 1, ILR_TASK_TYPE_MATH = 2, ILR_TASK_TYPE_CODE = 3 } ilr_task_type;

typedef struct {
    ilr_task_type type;          /* never AUTO once initialised */
    double format_weight;
    ilr_reward_math_options math;
    ilr_reward_code_options code;
    char *world_template;        /* world: the solve prompt ({{question}}) */
} ilr_task;

/* "world-arith", "math", "code". */
const char *ilr_task_type_name(ilr_task_type type);

/* type AUTO becomes code when the dataset `data` (a path or registry name) holds code tasks, else math.
 * math_extract: 0 strict, 1 last number, 2 boxed, 3 auto (ilr grade --help).  world_template: the solve prompt
 * file (NULL: prompts/world/solve.txt). */
int ilr_task_init(ilr_task *t, ilr_task_type type, const char *data, double format_weight, int math_extract,
                  const char *world_template);
void ilr_task_free(ilr_task *t);

/* ILR_EINVAL when the dataset's kind does not fit the task (code questions for a math task or the reverse). */
int ilr_task_check_dataset(const ilr_task *t, const ilr_dataset *ds);

/* The prompt text of item i before any chat template (malloc'ed). */
int ilr_task_prompt(const ilr_task *t, const ilr_dataset *ds, int i, char **text);

typedef struct {
    float reward;
    int correct, formatted;
    const char *rule;               /* what decided: the math grader's rule ("none" when not equal, "no answer"
                                       when none was found), "checker" (world), the sandbox's status (code) */
    char answer[ILR_MATH_NORM_CAP]; /* the answer found (truncated): math as extracted, world the boxed integer;
                                       "" for code and when there was none */
} ilr_task_score;

/* Scores n answers: texts[k] (lens[k] bytes) answers item item_of[k] of ds. */
int ilr_task_score_many(const ilr_task *t, const ilr_dataset *ds, const int *item_of, const char *const *texts,
                        const size_t *lens, int n, ilr_task_score *out);

/* Text as a model reads it: with a chat template, one user turn ending in the assistant header; without, the
 * text with the tokenizer's special-token template (a BOS).  ids is the caller's to free. */
int ilr_task_encode_prompt(const ilr_tokenizer *tok, const ilr_chat_template *chat, const char *text, ilr_tok_ids *ids);

/* ---- question sets ---- */
typedef struct {
    const ilr_dataset *ds; /* not owned */
    int n;                 /* items used: the first n of ds */
    int **ids;             /* prompt ids per item */
    int *lens;
    int max_prompt;
} ilr_question_set;

/* Renders and tokenises the first max_items items of ds (0: all).  A prompt over max_prompt_tokens is
 * ILR_EINVAL naming the item. */
int ilr_question_set_build(ilr_question_set *q, const ilr_dataset *ds, long max_items, const ilr_task *t,
                           const ilr_tokenizer *tok, const ilr_chat_template *chat, long max_prompt_tokens);
void ilr_question_set_free(ilr_question_set *q);

/* Opens a dataset (path or registry name) for task t: its template replaced by template_path when given
 * (non-world tasks), its kind checked against the task. */
int ilr_task_open_dataset(const ilr_task *t, const char *spec, const char *template_path, ilr_dataset *ds);

#endif
