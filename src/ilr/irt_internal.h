/* Shared by the IRT files (src/ilr/irt*.c): name tables and fit allocation. */
#ifndef ILR_IRT_INTERNAL_H
#define ILR_IRT_INTERNAL_H

#include <stddef.h>

#include "ilr/hashmap.h"
#include "ilr/irt.h"

/* The index of name (len bytes) in names[count], appending a copy when new (growing names to *cap and
 * indexing it in index, which may still be zeroed).  *out gets the index; ILR_ENOMEM on failure. */
int ilr_irt_intern(char ***names, int *count, int *cap, ilr_strmap *index, const char *name, size_t len, int *out);
void ilr_irt_names_free(char **names, int count);

/* Sizes an empty fit for num_agents x num_questions: parameter arrays zeroed, names empty with room for
 * those counts.  ILR_ENOMEM on failure (fit is then empty again). */
int ilr_irt_fit_alloc(ilr_irt_fit *fit, int num_agents, int num_questions);

#endif
