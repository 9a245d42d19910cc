/* libFuzzer target: arbitrary bytes as an experiment config (YAML) for a small schema of every type (a list
 * of agents with keys of their own among them), and as a command-line override.  What loads must dump to
 * YAML that loads again and dumps to the same text (the same items, values and set keys).
 * Seeds: fuzz/corpus/config_yaml. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ilr/config_yaml.h"

typedef struct {
    char *model;
    double lr;
    long max_tokens;
    int mode, greedy;
} fuzz_agent;

static const ilr_cfg_key agent_keys[] = {
    {"model", ILR_CFG_STRING, offsetof(fuzz_agent, model), "null", "model directory", NULL, 0, -1, NULL, 0},
    {"optim.lr", ILR_CFG_FLOAT, offsetof(fuzz_agent, lr), "1e-6", "learning rate", NULL, 0, 1, NULL, 0},
    {"rollout.max_tokens", ILR_CFG_INT, offsetof(fuzz_agent, max_tokens), "256", "completion length", NULL, 1, 4096,
     NULL, 0},
    {"mode", ILR_CFG_ENUM, offsetof(fuzz_agent, mode), "dynamic", "cooperate or compete", "dynamic|coop|comp", 0, -1,
     NULL, 0},
    {"rollout.greedy", ILR_CFG_BOOL, offsetof(fuzz_agent, greedy), "false", "greedy decoding", NULL, 0, -1, NULL, 0},
};
static const ilr_cfg_schema agent_schema = {agent_keys, (int)(sizeof agent_keys / sizeof agent_keys[0]), "train"};

typedef struct {
    long group_size, seed;
    double lr, beta;
    int mode, mask_truncated;
    char *run_name, *prompt;
    ilr_cfg_list agents;
} fuzz_opts;

static const ilr_cfg_key keys[] = {
    {"rollout.group_size", ILR_CFG_INT, offsetof(fuzz_opts, group_size), "8", "completions per question", NULL, 1, 64,
     NULL, 0},
    {"optim.lr", ILR_CFG_FLOAT, offsetof(fuzz_opts, lr), "1e-6", "learning rate", NULL, 0, 1, NULL, 0},
    {"rollout.mask_truncated", ILR_CFG_BOOL, offsetof(fuzz_opts, mask_truncated), "true", "mask cut-off answers",
     NULL, 0, -1, NULL, 0},
    {"ilr.interaction.mode", ILR_CFG_ENUM, offsetof(fuzz_opts, mode), "dynamic", "cooperate or compete",
     "dynamic|coop|comp|random", 0, -1, NULL, 0},
    {"run_name", ILR_CFG_STRING, offsetof(fuzz_opts, run_name), "null", "name of the run", NULL, 0, -1, NULL, 0},
    {"ilr.interaction.prompt", ILR_CFG_STRING, offsetof(fuzz_opts, prompt), "prompts/idea3", "prompt dir", NULL, 0,
     -1, NULL, 0},
    {"seed", ILR_CFG_INT, offsetof(fuzz_opts, seed), "1", "random seed", NULL, 0, -1, NULL, 0},
    {"optim.kl.beta", ILR_CFG_FLOAT, offsetof(fuzz_opts, beta), "0.04", "KL coefficient", NULL, 0, -1, NULL, 0},
    {"agents", ILR_CFG_LIST, offsetof(fuzz_opts, agents), "[]", "the agents", NULL, 0, -1, &agent_schema,
     sizeof(fuzz_agent)},
};
static const ilr_cfg_schema schema = {keys, (int)(sizeof keys / sizeof keys[0]), "train"};

/* Dumps o, loads the dump onto fresh defaults and dumps that: the two texts must be equal. */
static void check_round_trip(const fuzz_opts *o) {
    char *first, *second;
    if (ilr_cfg_dump(&schema, o, &first) != 0) abort(); /* everything the module stored can be dumped */
    fuzz_opts back;
    ilr_cfg_defaults(&schema, &back);
    if (ilr_cfg_load_text(&schema, &back, first, strlen(first), "dump") != 0) abort();
    if (ilr_cfg_dump(&schema, &back, &second) != 0 || strcmp(first, second) != 0) abort();
    free(first);
    free(second);
    ilr_cfg_free(&schema, &back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_opts o;
    ilr_cfg_defaults(&schema, &o);
    if (ilr_cfg_load_text(&schema, &o, (const char *)data, size, "fuzz.yaml") == 0) check_round_trip(&o);
    ilr_cfg_free(&schema, &o);

    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    ilr_cfg_defaults(&schema, &o);
    if (ilr_cfg_override(&schema, &o, text) == 0) check_round_trip(&o);
    ilr_cfg_nearest(&schema, text);
    ilr_cfg_free(&schema, &o);
    free(text);
    return 0;
}
