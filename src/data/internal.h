/* Shared between the dataset loader and the registry; not part of the public API. */
#ifndef ILR_DATA_INTERNAL_H
#define ILR_DATA_INTERNAL_H

#include "ilr/dataset.h"

/* Loads path with mapping (NULL: default); ids of lines without an id field say "display:line"; the prompt
 * template is template_rel, or the format's standard one when NULL. */
int ilr_dataset_load_named(const char *path, const char *display, const ilr_dataset_mapping *mapping,
                           const char *template_rel, ilr_dataset *out);

#endif
