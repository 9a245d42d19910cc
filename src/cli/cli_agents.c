/* Agents given on the command line (see src/cli/cli_agents.h). */
#include "cli_agents.h"

#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "ilr/error.h"

int cli_agent_parse(const char *cmd, const char *spec, cli_agent *agents, int *m) {
    const char *eq = strchr(spec, '=');
    if (*m == CLI_MAX_AGENTS) return ilr_cli_usage_error(cmd, "at most %d agents", CLI_MAX_AGENTS);
    if (!eq || eq == spec || !eq[1] || (size_t)(eq - spec) >= sizeof agents[0].name)
        return ilr_cli_usage_error(cmd, "--agent takes NAME=DIR, not '%s'", spec);
    cli_agent *a = &agents[*m];
    snprintf(a->name, sizeof a->name, "%.*s", (int)(eq - spec), spec);
    for (int j = 0; j < *m; j++)
        if (!strcmp(agents[j].name, a->name)) return ilr_cli_usage_error(cmd, "two agents are named '%s'", a->name);
    a->dir = eq + 1;
    ++*m;
    return 0;
}

int cli_agent_open(cli_agent *a, int chat, const ilr_dataset *ds, long max, const ilr_task *t, int slots, int max_new,
                   int extra, ilr_device device) {
    int rc = ilr_model_load(&a->model, a->dir);
    if (!rc) rc = ilr_tok_load(&a->tok, a->dir);
    if (!rc && chat) rc = ilr_chat_template_load(&a->chat, a->dir);
    if (!rc) rc = ilr_question_set_build(&a->q, ds, max, t, a->tok, a->chat, a->model.config.max_position_embeddings);
    int len = a->q.max_prompt + max_new + extra;
    if (len > a->model.config.max_position_embeddings) len = a->model.config.max_position_embeddings;
    if (!rc) rc = ilr_gen_init_on(&a->gen, &a->model, slots, len, device);
    return rc ? ilr_error_prefix("agent %s (%s)", a->name, a->dir) : 0;
}

void cli_agent_close(cli_agent *a) {
    if (a->gen.model) ilr_gen_free(&a->gen);
    ilr_question_set_free(&a->q);
    ilr_chat_template_free(a->chat);
    ilr_tok_free(a->tok);
    ilr_model_free(&a->model);
}

int cli_parse_task(const char *cmd, const char *text, ilr_task_type *out) {
    const char *names[] = {"auto", "world-arith", "math", "code"};
    for (int i = 0; i < 4; i++)
        if (!strcmp(text, names[i])) return *out = (ilr_task_type)i, 0;
    return ilr_cli_usage_error(cmd, "--task takes auto, world-arith, math or code, not '%s'", text);
}

int cli_parse_device(const char *cmd, const char *text, ilr_device *device) {
    return ilr_device_parse(text, device) ? ilr_cli_usage_error(cmd, "--device: %s", ilr_last_error()) : 0;
}
