/* Stages of `ilr demo` that live in their own files. */
#ifndef ILR_CLI_DEMO_H
#define ILR_CLI_DEMO_H

/* Stage 3: the base agents built by `make agents` under root (a note when they are not built).  Adds to
 * *failures when an agent cannot do an Idea3 stage at all. */
int ilr_demo_agents(const char *root, int *failures);

/* Stage 4: GRPO from base agent A (configs/world-grpo-a.yaml, shortened), its run written to out/grpo-a
 * (a note when the agents are not built).  Adds to *failures when the sampled held-out accuracy does not
 * rise. */
int ilr_demo_grpo(const char *root, const char *out, int *failures);

#endif
