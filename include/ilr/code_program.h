/* Programs from model completions: the code a model wrote, and the Python program that checks it against a
 * benchmark's tests (HumanEval, MBPP), ready for ilr_sandbox_run.
 *
 * Extraction (ilr_code_extract), on lines of the completion:
 *   - A fence opens on a line whose first non-blank characters are three or more backticks; the rest of the
 *     line is the info string, whose first word is the tag ("python", "py", "python3" count as Python, in any
 *     case).  It closes on a later line holding only backticks (at least as many as opened it) and
 *     blanks; a fence left open runs to the end of the text (a completion cut at max tokens).  The block is
 *     the lines between; spaces up to the opening fence's indentation are removed from each (a block inside a
 *     markdown list).  Backticks that do not start a line (inline `code`, ``` inside a line) are text.
 *   - The code is the LAST non-blank block tagged Python; else the last non-blank block of any tag (untagged
 *     included); else, when the text has no fence at all, the whole text unchanged (a base model continuing a
 *     HumanEval prompt writes bare code, its indentation significant).
 *   - There is no code when the text is blank, or when it has fences but every block is blank.
 *
 * Programs (the harness conventions, so that pass rates compare with published ones):
 *   - HumanEval (openai/human-eval): prompt + code + "\n" + test + "\n" + "check(entry_point)\n".  When the
 *     code itself defines the function at top level ("def <entry_point>(" at the start of a line) — what chat
 *     models write — the prompt's signature would come first and the code's body would not continue it, so
 *     the program is instead the prompt's text before its own "def <entry_point>(" line (its imports and the
 *     helper functions a few prompts define, such as poly in HumanEval/32: evalplus keeps both; keeping only
 *     import lines would fail a correct solution that calls the helper) + "\n" + code, then the tests.  A
 *     prompt without that line contributes its top-level import lines only.
 *   - MBPP: code + "\n" + test_setup_code + "\n" + each assert of test_list on its own line.  The setup comes
 *     after the code because it may use what the code defines (task 367's setup builds trees of the code's
 *     Node class).
 * Never aborts on any bytes; returns 0, or a negative ILR_E* with a message. */
#ifndef ILR_CODE_PROGRAM_H
#define ILR_CODE_PROGRAM_H

#include <stddef.h>

typedef enum {
    ILR_CODE_NONE = 0,          /* no code (see above) */
    ILR_CODE_TEXT = 1,          /* the whole text: no fence */
    ILR_CODE_FENCED = 2,        /* a fenced block not tagged Python */
    ILR_CODE_FENCED_PYTHON = 3, /* a fenced block tagged python / py / python3 */
} ilr_code_source;

const char *ilr_code_source_name(ilr_code_source s); /* "none", "text", "fenced", "fenced-python" */

/* The code in text[0..len) by the rule above.  Returns 0 with *code malloc'ed and NUL-terminated (*code_len
 * bytes, may be NULL), 1 with *code = NULL when there is no code, or a negative ILR_E*.  source (may be
 * NULL) says where the code came from. */
int ilr_code_extract(const char *text, size_t len, char **code, size_t *code_len, ilr_code_source *source);

/* The HumanEval program for a completion (extracted first; a completion without code leaves the prompt's
 * function without a body, a program that fails).  prompt, test and entry_point are NUL-terminated; an
 * entry_point that is not a Python identifier is ILR_EINVAL.  *program is malloc'ed, NUL-terminated;
 * source as for ilr_code_extract. */
int ilr_code_program_humaneval(const char *prompt, const char *completion, size_t completion_len, const char *test,
                               const char *entry_point, char **program, size_t *program_len, ilr_code_source *source);

/* The MBPP program for a completion: the code, test_setup_code (may be NULL or ""), then the n asserts. */
int ilr_code_program_mbpp(const char *completion, size_t completion_len, const char *test_setup_code,
                          const char *const *test_list, int n, char **program, size_t *program_len,
                          ilr_code_source *source);

#endif
