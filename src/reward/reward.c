/* Rewards for RL: math answers against gold answers, code against tests in the sandbox, each with a small
 * format term.  See include/ilr/reward.h. */
#include "ilr/reward.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ilr/error.h"

/* ---- math ---- */

void ilr_reward_math_options_default(ilr_reward_math_options *o) {
    o->format_weight = ILR_REWARD_FORMAT_WEIGHT;
    o->mode = ILR_MATH_EXTRACT_STRICT;
    ilr_math_options_default(&o->math);
}

static size_t count_of(const char *text, size_t len, const char *needle) {
    size_t n = strlen(needle), count = 0;
    for (const char *p = text, *end = text + len; (p = memmem(p, (size_t)(end - p), needle, n)); p += n) count++;
    return count;
}

/* The format term (see the header): 1, 0, or a negative ILR_E*. */
static int math_formatted(const char *text, size_t len, ilr_math_extract_mode mode) {
    char *answer = NULL;
    int rc;
    if (mode == ILR_MATH_EXTRACT_LAST_NUMBER) {
        rc = ilr_math_extract(text, len, ILR_MATH_EXTRACT_STRICT, &answer);
        free(answer);
        return rc < 0 ? rc : rc == 0;
    }
    if (count_of(text, len, "\\boxed") + count_of(text, len, "\\fbox") != 1) return 0;
    if ((rc = ilr_math_extract(text, len, ILR_MATH_EXTRACT_BOXED, &answer)) < 0) return rc;
    int formatted = rc == 0 && answer[0] != 0;
    free(answer);
    return formatted;
}

int ilr_reward_math(const char *completion, size_t len, const char *gold, const ilr_reward_math_options *opt,
                    ilr_reward_math_result *result) {
    if (!result) return ILR_FAIL(ILR_EINVAL, "ilr_reward_math: result is NULL");
    memset(result, 0, sizeof *result);
    if ((!completion && len) || !gold) return ILR_FAIL(ILR_EINVAL, "ilr_reward_math: NULL completion or gold");
    ilr_reward_math_options defaults;
    if (!opt) ilr_reward_math_options_default(&defaults), opt = &defaults;
    if (!completion) completion = "";
    char *answer = NULL;
    int rc = ilr_math_extract(completion, len, opt->mode, &answer);
    if (rc < 0) return rc;
    if (answer) {
        ilr_math_verdict v;
        snprintf(result->answer, sizeof result->answer, "%s", answer);
        rc = ilr_math_equal(answer, gold, &opt->math, &v);
        free(answer);
        if (rc < 0) return rc;
        result->correct = v.equal;
        result->rule = v.rule;
    }
    if ((rc = math_formatted(completion, len, opt->mode)) < 0) return rc;
    result->formatted = rc;
    result->reward = result->correct + opt->format_weight * result->formatted;
    return 0;
}

/* ---- code ---- */

void ilr_reward_code_options_default(ilr_reward_code_options *o) {
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    o->format_weight = ILR_REWARD_FORMAT_WEIGHT;
    o->workers = cores < 2 ? 4 : (int)(2 * cores < ILR_SANDBOX_MAX_WORKERS ? 2 * cores : ILR_SANDBOX_MAX_WORKERS);
    memset(&o->sandbox, 0, sizeof o->sandbox);
    ilr_sandbox_options_default(&o->sandbox);
}

static int build_program(const ilr_code_tests *t, const char *completion, size_t len, char **program,
                         size_t *program_len, ilr_code_source *source) {
    if (t->kind == ILR_CODE_TESTS_HUMANEVAL)
        return ilr_code_program_humaneval(t->prompt, completion, len, t->test, t->entry_point, program, program_len,
                                          source);
    if (t->kind == ILR_CODE_TESTS_MBPP)
        return ilr_code_program_mbpp(completion, len, t->setup, t->asserts, t->n_asserts, program, program_len, source);
    return ILR_FAIL(ILR_EINVAL, "code reward: unknown test kind %d", (int)t->kind);
}

/* The last non-blank line of a program's stderr, or why it did not pass. */
static void set_detail(ilr_reward_code_result *r, const ilr_sandbox_result *s) {
    if (s->status == ILR_SANDBOX_PASSED) return;
    if (s->status == ILR_SANDBOX_TIMEOUT) {
        snprintf(r->detail, sizeof r->detail, "timeout after %.1f s", s->seconds);
        return;
    }
    size_t end = s->err ? s->err_len : 0;
    while (end && (s->err[end - 1] == '\n' || s->err[end - 1] == ' ' || s->err[end - 1] == '\r')) end--;
    size_t start = end;
    while (start && s->err[start - 1] != '\n') start--;
    if (end > start) snprintf(r->detail, sizeof r->detail, "%.*s", (int)(end - start), s->err + start);
    else if (s->signal) snprintf(r->detail, sizeof r->detail, "killed by signal %d", s->signal);
    else snprintf(r->detail, sizeof r->detail, "exit status %d", s->exit_code);
}

static int check_code_arguments(const char *const *completions, const size_t *lens, const ilr_code_tests *const *tests,
                                int n, ilr_reward_code_result *results) {
    if (n < 0 || (n > 0 && (!completions || !lens || !tests || !results)))
        return ILR_FAIL(ILR_EINVAL, "ilr_reward_code_many: %d completions with a NULL array", n);
    for (int i = 0; i < n; i++)
        if (!tests[i] || (!completions[i] && lens[i]))
            return ILR_FAIL(ILR_EINVAL, "ilr_reward_code_many: completion %d has NULL tests or text", i);
    return 0;
}

int ilr_reward_code_many(const char *const *completions, const size_t *lens, const ilr_code_tests *const *tests,
                         int n, const ilr_reward_code_options *opt, ilr_reward_code_result *results) {
    int rc = check_code_arguments(completions, lens, tests, n, results);
    if (rc || n == 0) return rc;
    ilr_reward_code_options defaults;
    if (!opt) ilr_reward_code_options_default(&defaults), opt = &defaults;
    char **programs = calloc((size_t)n, sizeof(char *));
    size_t *program_lens = calloc((size_t)n, sizeof(size_t));
    int *which = calloc((size_t)n, sizeof(int)); /* the completion of each program that runs */
    ilr_sandbox_result *runs = calloc((size_t)n, sizeof *runs);
    int count = 0;
    if (!programs || !program_lens || !which || !runs) rc = ILR_FAIL(ILR_ENOMEM, "code reward: out of memory");
    for (int i = 0; i < n && !rc; i++) {
        ilr_reward_code_result *r = &results[i];
        memset(r, 0, sizeof *r);
        char *program;
        size_t len;
        if ((rc = build_program(tests[i], completions[i] ? completions[i] : "", lens[i], &program, &len, &r->source)))
            break;
        r->formatted = r->source == ILR_CODE_FENCED || r->source == ILR_CODE_FENCED_PYTHON;
        if (r->source == ILR_CODE_NONE) {
            free(program);
            snprintf(r->detail, sizeof r->detail, "no code");
            continue;
        }
        programs[count] = program, program_lens[count] = len, which[count++] = i;
    }
    if (!rc && count > 0)
        rc = ilr_sandbox_run_many((const char *const *)programs, program_lens, count, opt->workers > 0 ? opt->workers : 1,
                                  &opt->sandbox, runs);
    for (int k = 0; k < count; k++) {
        ilr_reward_code_result *r = &results[which[k]];
        if (!rc) {
            r->ran = 1, r->status = runs[k].status, r->seconds = runs[k].seconds;
            r->correct = runs[k].status == ILR_SANDBOX_PASSED;
            set_detail(r, &runs[k]);
        }
        ilr_sandbox_result_free(&runs[k]);
        free(programs[k]);
    }
    for (int i = 0; i < n && !rc; i++) results[i].reward = results[i].correct + opt->format_weight * results[i].formatted;
    free(programs), free(program_lens), free(which), free(runs);
    return rc;
}
