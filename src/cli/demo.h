/* Stages of `ilr demo` that live in their own files. */
#ifndef ILR_CLI_DEMO_H
#define ILR_CLI_DEMO_H

/* Stage 1: the base agents under root (make agents, or the shipped ones: make demo).  Adds to *failures
 * when an agent cannot do an Idea3 stage at all. */
int ilr_demo_agents(const char *root, int *failures);

/* Stages 2-4 (src/cli/demo_experiment.c): ILR vs compute-matched GRPO through `ilr experiment
 * configs/experiment-demo.yaml` into out/experiment, each agent evaluated alone; the base agents discussing
 * by debate and by Idea3; `ilr report` of the experiment and its headline table.  Adds to *failures when
 * ILR or GRPO does not raise the agents' mean avg@4 alone. */
int ilr_demo_experiment(const char *root, const char *out, int *failures);

#endif
