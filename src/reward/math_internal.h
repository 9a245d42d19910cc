/* Shared inside src/reward: the extraction modes' building blocks. */
#ifndef ILR_REWARD_MATH_INTERNAL_H
#define ILR_REWARD_MATH_INTERNAL_H

#include <stddef.h>

/* ILR_MATH_EXTRACT_AUTO's rules (math_extract_auto.c): 0 with *answer malloc'ed, 1 when the text holds no
 * answer by them, or a negative ILR_E* code. */
int ilr_math_extract_auto(const char *text, size_t len, char **answer);

/* ilr_math_normalize, keeping a name on the left of '=' when keep_lhs ("y = 2x" stays an equation). */
int ilr_math_normalize_lhs(const char *s, size_t len, char *out, size_t cap, int keep_lhs);

/* The brace group at t[i..) after optional spaces and tabs: 0 with its inside [*a, *b); 1 when it is not
 * closed; 2 when there is no '{'.  A backslash escapes the next byte. */
int ilr_math_braced(const char *t, size_t len, size_t i, size_t *a, size_t *b);

#endif
