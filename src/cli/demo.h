/* Stages of `ilr demo` that live in their own files. */
#ifndef ILR_CLI_DEMO_H
#define ILR_CLI_DEMO_H

/* Stage 3: the base agents built by `make agents` under root (a note when they are not built).  Adds to
 * *failures when an agent cannot do an Idea3 stage at all. */
int ilr_demo_agents(const char *root, int *failures);

#endif
