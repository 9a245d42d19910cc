/* Agents given on the command line as NAME=DIR (ilr irt collect, ilr interact): each a model with its
 * tokenizer, chat template (optional), the questions in its tokens and a generation engine. */
#ifndef ILR_CLI_AGENTS_H
#define ILR_CLI_AGENTS_H

#include "ilr/chat.h"
#include "ilr/dataset.h"
#include "ilr/generate.h"
#include "ilr/model.h"
#include "ilr/task.h"
#include "ilr/tokenizer.h"

#define CLI_MAX_AGENTS 16

typedef struct {
    char name[64];
    const char *dir;
    ilr_model model;
    ilr_tokenizer *tok;
    ilr_chat_template *chat;
    ilr_generator gen;
    ilr_question_set q;
} cli_agent;

/* Adds "NAME=DIR" to agents[*m] (a usage error, returning 2, when it is not that, a name repeats or there are
 * too many). */
int cli_agent_parse(const char *cmd, const char *spec, cli_agent *agents, int *m);
/* Loads the model, tokenizer (and chat template), tokenises the first max questions of ds (0: all) and sizes
 * a generator of `slots` sequences for the longest prompt + max_new + extra tokens on device. */
int cli_agent_open(cli_agent *a, int chat, const ilr_dataset *ds, long max, const ilr_task *t, int slots, int max_new,
                   int extra, ilr_device device);
/* --device's value into *device (a usage error, returning 2, when it is neither cpu nor cuda in this build). */
int cli_parse_device(const char *cmd, const char *text, ilr_device *device);
void cli_agent_close(cli_agent *a);
/* "auto", "world-arith", "math", "code" -> the task type (a usage error otherwise). */
int cli_parse_task(const char *cmd, const char *text, ilr_task_type *out);

#endif
