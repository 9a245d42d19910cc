/* Prompt templates: text files with {{name}} placeholders (double braces, so that LaTeX such as \boxed{}
 * stays literal).  A template names its placeholders; rendering fills each from a list of variables and
 * refuses a placeholder it has no value for, naming the template, the line and the names it does have.
 * Prompts live in files under prompts/ (found with ilr_resource_path), never as string literals in code. */
#ifndef ILR_TEMPLATE_H
#define ILR_TEMPLATE_H

#include <stddef.h>

typedef struct {
    const char *name;
    const char *value;
} ilr_template_var;

/* Renders tmpl (NUL-terminated) into *out (malloc'ed, NUL-terminated).  source names the template in
 * errors (a file path).  ILR_EFORMAT on "{{" without "}}", on a name that is not [A-Za-z0-9_]+, or on a
 * name missing from vars; *out is NULL then. */
int ilr_template_render(const char *tmpl, const char *source, const ilr_template_var *vars, int num_vars,
                        char **out);

/* Reads a template file: rel is looked up with ilr_resource_path (prompts/world/solve.txt) unless it is an
 * existing path as given.  Checks its syntax (not its names).  *text is malloc'ed. */
int ilr_template_load(const char *rel, char **text);

#endif
