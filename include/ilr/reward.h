/* Rewards for RL: what the GRPO trainer calls on each completion.  Every reward is
 *     reward = correct + format_weight * formatted        correct, formatted in {0, 1}
 * so it has four levels (0, w, 1, 1 + w): correctness dominates and the format term, small, separates the
 * completions of a group that are all wrong (or all right) by whether they answered in the asked-for form,
 * which gives GRPO a signal where correctness alone gives none.  format_weight defaults to 0.1: below 1 so
 * that a well-formatted wrong answer never outranks a correct one, large enough to matter after GRPO
 * divides by the group's standard deviation; 0 turns the term off.
 *
 * Math (ilr_reward_math): correct = the answer extracted by opt.mode (ilr_math_extract) equals the gold
 * answer (ilr_math_equal).  formatted, in modes STRICT and BOXED (prompts that ask for \boxed{}) = the
 * completion holds exactly one \boxed / \fbox (so a completion that boxes several candidates is not
 * well-formed) and its argument is not blank; in mode LAST_NUMBER (prompts that ask for no particular form,
 * such as GSM8K's) = the answer is marked (found by STRICT extraction: \boxed, "the answer is", "####",
 * "Answer:"), not only a last number in the text.
 *
 * Code (ilr_reward_code_many): each completion's program (ilr_code_program_humaneval / _mbpp) runs in the
 * sandbox; correct = it exited 0 (every test passed); failed, timeout and error all give 0.  formatted = the
 * code came from a fenced block (```python ... ```, or any fence).  A completion with no code is not run.
 * Never aborts on any input; functions return 0 or a negative ILR_E* with a message. */
#ifndef ILR_REWARD_H
#define ILR_REWARD_H

#include <stddef.h>

#include "ilr/code_program.h"
#include "ilr/math_grader.h"
#include "ilr/sandbox.h"

#define ILR_REWARD_FORMAT_WEIGHT 0.1

/* ---- math ---- */
typedef struct {
    double format_weight;       /* default ILR_REWARD_FORMAT_WEIGHT */
    ilr_math_extract_mode mode; /* default STRICT */
    ilr_math_options math;      /* the grader's options (ilr_math_options_default) */
} ilr_reward_math_options;

void ilr_reward_math_options_default(ilr_reward_math_options *o); /* sets every field */

typedef struct {
    double reward;
    int correct, formatted;
    ilr_math_rule rule;                /* the rule that decided equality (NONE when not equal) */
    char answer[ILR_MATH_NORM_CAP];    /* the extracted answer, truncated; "" when there was none */
} ilr_reward_math_result;

/* Grades completion[0..len) against gold (NUL-terminated).  opt may be NULL (defaults). */
int ilr_reward_math(const char *completion, size_t len, const char *gold, const ilr_reward_math_options *opt,
                    ilr_reward_math_result *result);

/* ---- code ---- */
typedef enum {
    ILR_CODE_TESTS_HUMANEVAL = 0, /* prompt, test, entry_point */
    ILR_CODE_TESTS_MBPP = 1,      /* setup (may be NULL), asserts[n_asserts] */
} ilr_code_tests_kind;

/* The tests of one problem; the strings stay owned by the caller. */
typedef struct {
    ilr_code_tests_kind kind;
    const char *prompt, *test, *entry_point;
    const char *setup;
    const char *const *asserts;
    int n_asserts;
} ilr_code_tests;

typedef struct {
    double format_weight;         /* default ILR_REWARD_FORMAT_WEIGHT */
    int workers;                  /* programs at once; default 2 per online core, at least 4 */
    ilr_sandbox_options sandbox;  /* fields left 0 take the sandbox's defaults */
} ilr_reward_code_options;

void ilr_reward_code_options_default(ilr_reward_code_options *o); /* sets every field */

typedef struct {
    double reward;
    int correct, formatted;
    ilr_code_source source;     /* where the code came from (NONE: no code, nothing run) */
    int ran;                    /* the program ran (status, seconds valid) */
    ilr_sandbox_status status;
    double seconds;
    char detail[160];           /* why it did not pass: the last line of stderr ("AssertionError",
                                   "NameError: name 'poly' is not defined"), "timeout", "no code"; "" if passed */
} ilr_reward_code_result;

/* Rewards n completions (completions[i] of lens[i] bytes) against tests[i] (several may point at the same
 * problem), running their programs on opt->workers threads.  opt may be NULL (defaults).  Returns 0 with
 * results[0..n) filled; ILR_EINVAL for bad arguments (a NULL array, an entry point that is not an identifier)
 * before anything runs; the sandbox's error when no program could be run at all (no bubblewrap: a reward of
 * 0 would be a lie). */
int ilr_reward_code_many(const char *const *completions, const size_t *lens, const ilr_code_tests *const *tests,
                         int n, const ilr_reward_code_options *opt, ilr_reward_code_result *results);

#endif
