/* `ilr experiment EXP.yaml`: a grid of training runs (methods x seeds x agents) and the evaluation of every
 * resulting model alone, as one resumable job (src/cli/cmd_experiment.c runs it; this module reads the file
 * and plans the cells).
 *
 * The file (a YAML mapping; `ilr experiment --help-config` lists every key):
 *
 *   name: world                      # for the report's title
 *   output_dir: runs/experiment-world
 *   seeds: 1 2 3                     # one training run per seed (a list of integers, spaces or commas)
 *   baseline: grpo-matched           # the method the report's paired differences are against
 *   set: train.steps=60 ...          # KEY=VALUE overrides for every cell's train config (space-separated)
 *   agents:                          # the starting models
 *     - {name: agent-a, model: build/agents/agent-a}
 *     - {name: agent-b, model: build/agents/agent-b}
 *   methods:
 *     - {name: ilr, config: configs/world-ilr.yaml}                     # multi-agent: one cell per seed
 *     - {name: grpo-matched, config: configs/world-grpo-a.yaml, match: ilr}  # one cell per seed and agent
 *   eval: {bench: world-test, samples: 4, max: 500, max_new_tokens: 96}
 *
 * Cells.  A method whose config (with the overrides) is an ILR method trains every agent in one run per
 * seed, cell "METHOD-sSEED"; a GRPO method trains each agent alone, cell "METHOD-AGENT-sSEED".  With
 * eval.base, cell "base" evaluates the starting models untrained.  A cell's train command is
 *   ilr train CONFIG seed=SEED data.test=null <the agents> <set> <the method's set> [budget.match=DIR]
 *       output_dir=OUT/cells/ID
 * where <the agents> is model=MODEL for a GRPO cell, and agents.I.name / agents.I.model for every agent of an
 * ILR cell (agents=[] first when the config lists a different number of agents); data.test=null because
 * the experiment evaluates each trained model itself, with ilr eval into OUT/cells/ID/eval-AGENT.  A method
 * with match: M gets budget.match = the directory of M's cell of the same seed (compute-matched GRPO), so
 * it runs after that cell.  Cells run in the order planned: base, then methods in file order, seeds inner,
 * agents innermost. */
#ifndef ILR_EXPERIMENT_H
#define ILR_EXPERIMENT_H

#include <jansson.h>

#include "ilr/config_yaml.h"

#define ILR_EXPERIMENT_MAX_SEEDS 64

typedef struct {
    char *name, *model;
} ilr_experiment_agent;

typedef struct {
    char *name, *config, *set, *match;
} ilr_experiment_method;

typedef struct {
    char *name, *output_dir, *seeds, *baseline, *set;
    long jobs, threads;
    ilr_cfg_list agents;  /* ilr_experiment_agent */
    ilr_cfg_list methods; /* ilr_experiment_method */
    char *eval_bench;
    long eval_samples, eval_max, eval_max_new_tokens, eval_seed, eval_batch;
    double eval_temperature;
    int eval_greedy, eval_base;
} ilr_experiment_config;

const ilr_cfg_schema *ilr_experiment_schema(void);

/* Defaults, the file, then each top-level KEY=VALUE override; then the checks (at least one agent and one
 * method, names unique and usable in file names, seeds parse, match names an earlier multi-agent
 * method, baseline names a method or "base").  Messages name the file (and line where the YAML has one). */
int ilr_experiment_load(ilr_experiment_config *c, const char *path, char *const *overrides, int num_overrides);
/* The same for len bytes of YAML; name stands for the file in messages. */
int ilr_experiment_load_text(ilr_experiment_config *c, const char *text, size_t len, const char *name);
void ilr_experiment_free(ilr_experiment_config *c);

/* The seeds of c->seeds; returns how many (at most cap), or -1 with the error set. */
int ilr_experiment_seeds(const ilr_experiment_config *c, long *seeds, int cap);

typedef struct {
    char id[160];
    int method;     /* index into c->methods; -1: the base cell (evaluation only) */
    long seed;      /* 0 for the base cell */
    int agent;      /* the one agent a single-agent cell trains; -1: every agent */
    int multi;      /* the method's config is an ILR method */
    int depends_on; /* the cell this one's budget matches (it must finish first); -1: none */
    int num_args;
    char **args;    /* after `ilr train`: CONFIG and the overrides, output_dir last (none for base) */
    char dir[4096]; /* OUT/cells/ID */
} ilr_experiment_cell;

typedef struct {
    ilr_experiment_cell *cells;
    int num_cells;
} ilr_experiment_plan;

/* Every cell of c, each train config loaded once with its overrides (so a bad key or value in any cell is
 * reported before anything runs, naming the cell). */
int ilr_experiment_plan_make(const ilr_experiment_config *c, ilr_experiment_plan *plan);
void ilr_experiment_plan_free(ilr_experiment_plan *plan);

/* The trained model of agent a in a cell (the starting model for the base cell): OUT/cells/ID for a GRPO
 * cell, OUT/cells/ID/AGENT for an ILR cell. */
void ilr_experiment_cell_model(const ilr_experiment_config *c, const ilr_experiment_cell *cell, int a, char *out,
                               size_t cap);
/* Whether the cell trains (or, for base, evaluates) agent a. */
int ilr_experiment_cell_has_agent(const ilr_experiment_cell *cell, int a);

/* The experiment.json object (schema in README, "Experiments"): the settings, and each cell's entry as its
 * OUT/cells/ID/cell.json holds it ({"id", "method", "seed", "status": "pending"} for one without);
 * "seconds" sums the cells' own times (over every run of the experiment), "wall_seconds" is the caller's. */
int ilr_experiment_json(const ilr_experiment_config *c, const ilr_experiment_plan *plan, double wall_seconds,
                        json_t **out);

#endif
