/* Stages of `ilr demo` that live in their own files. */
#ifndef ILR_CLI_DEMO_H
#define ILR_CLI_DEMO_H

#include "train_eval.h"

/* Loads the YAML config (a path) with KEY=VALUE overrides and runs it to the end (stages 4 and 5). */
int ilr_demo_train(const char *config, char **overrides, int num_overrides, train_run_outcome *res);

/* Stage 3: the base agents built by `make agents` under root (a note when they are not built).  Adds to
 * *failures when an agent cannot do an Idea3 stage at all. */
int ilr_demo_agents(const char *root, int *failures);

/* Stage 4: GRPO from base agent A (configs/world-grpo-a.yaml, shortened), its run written to out/grpo-a
 * (a note when the agents are not built).  Adds to *failures when the sampled held-out accuracy does not
 * rise. */
int ilr_demo_grpo(const char *root, const char *out, int *failures);

/* Stage 5: ILR from base agents A and B (configs/world-ilr.yaml, shortened), its run in out/ilr, each agent
 * evaluated alone before and after; then the base agents discussing test problems by debate and by Idea3
 * (`ilr interact`).  Adds to *failures when the agents' mean sampled accuracy alone does not rise. */
int ilr_demo_ilr(const char *root, const char *out, int *failures);

#endif
