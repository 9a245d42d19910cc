/* Item response theory (IRT) for ILR: how able each agent is and how hard each question is.
 *
 * ILR picks cooperation or competition per question from the probability that an agent answers it right.
 * This module owns that probability: a response matrix (who answered what, how often right), its fit,
 * the fit's file (irt.json), and lookups by agent name and question id.
 *
 * Model (one-parameter logistic, "1PL", with the normal-ogive constant 1.7), agent i, question q:
 *
 *     P(q, i) = 1 / (1 + exp(-1.7 (gamma_i - D_q)))          gamma: ability, D: difficulty
 *
 * Data: per (agent, question) cell, n answers of which c right.  log_likelihood = sum over cells of
 * c log P + (n - c) log(1 - P) (the answers as a Bernoulli sequence, no binomial coefficient).
 * Prior: gamma_i ~ Normal(0, prior_sd_gamma^2), D_q ~ Normal(0, prior_sd_difficulty^2), independent;
 * log_posterior = log_likelihood + the sum of the prior's log densities (normalising constants included;
 * the evidence is not subtracted).  Default sd 3 on both: on the 1.7 scale a gap of 3 is P = 0.994, so the
 * prior barely moves parameters in the range data can resolve (its precision 1/9 is about 2 % of the
 * information of 8 answers at P = 0.5), yet keeps questions and agents with all answers right or all wrong
 * finite (their likelihood alone grows without bound).
 * Identification: the likelihood depends on gamma - D only; the fit imposes mean D = 0 over the questions
 * of the matrix exactly (a constraint, not a shift after the fact), so gamma is measured against the
 * average question of the calibration set.
 *
 * The fit is the joint maximum a posteriori (MAP) point under that constraint, by Newton's method with a
 * backtracking line search on the log posterior, which is strictly concave: each step solves the
 * constrained (KKT) Newton system, whose Hessian is arrow-shaped (agents x questions; no agent-agent or
 * question-question terms), by eliminating the questions' diagonal block and solving the small
 * (agents + 1)-square Schur complement densely: O(cells x agents + questions x agents^2) per step.  Standard
 * errors are the square roots of the diagonal of the constrained inverse of the negative Hessian at the
 * MAP (the Laplace approximation; under the constraint the errors of the D's are correlated and sum to 0).
 *
 * What it cannot do: more than one parameter per question (no discrimination or guessing), abilities that
 * change over time, or a Hessian with many agents cheaply (the dense block is agents^2; fine below ~1000).
 */
#ifndef ILR_IRT_H
#define ILR_IRT_H

#include <stddef.h>

#include "ilr/hashmap.h"

#define ILR_IRT_SCALE 1.7
#define ILR_IRT_DEFAULT_PRIOR_SD 3.0

/* One (agent, question) cell of the response matrix. */
typedef struct {
    int agent, question; /* indices into the names */
    int answers, correct;
} ilr_irt_cell;

/* A sparse response matrix built incrementally: agents and questions are interned in the order first seen. */
typedef struct {
    int num_agents, num_questions, num_cells;
    char **agents, **questions;      /* names / ids, owned */
    ilr_irt_cell *cells;             /* in the order first seen */
    long long responses;             /* sum of answers */
    ilr_strmap agent_index, question_index;
    ilr_u64map cell_index;           /* agent << 32 | question -> cell */
    int agents_cap, questions_cap, cells_cap;
} ilr_irt_responses;

void ilr_irt_responses_init(ilr_irt_responses *r);
void ilr_irt_responses_free(ilr_irt_responses *r);
/* Records one answer; agent and question must be non-empty strings.  ILR_ENOMEM, or ILR_EINVAL for an
 * empty name or a cell past 2^31 - 1 answers. */
int ilr_irt_responses_add(ilr_irt_responses *r, const char *agent, const char *question, int correct);
/* Adds every line of a JSONL file: {"agent": NAME, "question": ID, "correct": 0|1} (correct may be true or
 * false; the question a string or an integer, 42 and "42" being one question; other keys are ignored).
 * A bad line fails with ILR_EFORMAT naming file:line and what was expected; a file without a response
 * (empty or blank) fails too.  On failure r holds the lines before the bad one. */
int ilr_irt_responses_read(const char *path, ilr_irt_responses *r);
/* The same over text in memory; name is what messages call it (fuzzing, tests). */
int ilr_irt_responses_parse(const char *text, size_t len, const char *name, ilr_irt_responses *r);

typedef struct {
    double prior_sd_gamma, prior_sd_difficulty; /* > 0 */
    int max_iterations;                         /* Newton steps before giving up (default 100) */
    double tolerance;   /* converged when a Newton step moves no parameter by more than this (default 1e-10;
                           Newton converges quadratically, so the step taken then leaves an error far below) */
} ilr_irt_options;

ilr_irt_options ilr_irt_options_default(void);

/* A fitted (or loaded) model. */
typedef struct {
    int num_agents, num_questions;
    char **agents, **questions;           /* owned */
    double *gamma, *gamma_se;             /* [num_agents] */
    double *difficulty, *difficulty_se;   /* [num_questions] */
    int has_se;                           /* 0 when loaded from a file without gamma_se / difficulty_se */
    double log_likelihood, log_posterior; /* NaN when loaded from a file without them */
    double prior_sd_gamma, prior_sd_difficulty;
    long long responses;
    int iterations;
    double gradient_norm; /* max |projected gradient| at the end (0 when loaded) */
    ilr_strmap agent_index, question_index;
} ilr_irt_fit;

/* P(q, i) = 1 / (1 + exp(-1.7 (gamma - difficulty))). */
double ilr_irt_probability(double gamma, double difficulty);

/* Joint MAP fit of r (see above).  ILR_EINVAL for an empty matrix or a non-positive prior sd;
 * ILR_EUNSUPPORTED when Newton has not converged within max_iterations (the message gives the gradient).
 * out is owned by the caller on success (ilr_irt_fit_free) and left empty on failure. */
int ilr_irt_fit_run(const ilr_irt_responses *r, const ilr_irt_options *opt, ilr_irt_fit *out);
void ilr_irt_fit_free(ilr_irt_fit *fit);

/* An agent's ability / a question's difficulty (and standard error, NaN when the fit has none; se may be
 * NULL).  ILR_ENOTFOUND, with a message naming it, when the fit does not hold it. */
int ilr_irt_fit_gamma(const ilr_irt_fit *fit, const char *agent, double *gamma, double *se);
int ilr_irt_fit_difficulty(const ilr_irt_fit *fit, const char *question, double *difficulty, double *se);

/* Writes irt.json atomically:
 *   {"model": "1PL", "scale": 1.7, "gamma": {NAME: x}, "gamma_se": {NAME: x}, "difficulty": {ID: x},
 *    "difficulty_se": {ID: x}, "log_likelihood": x, "log_posterior": x,
 *    "prior_sd": {"gamma": x, "difficulty": x}, "responses": N, "iterations": N}
 * (the _se objects only when the fit has them, the log densities only when known). */
int ilr_irt_fit_save(const ilr_irt_fit *fit, const char *path);
/* Reads irt.json: gamma and difficulty are required (objects of finite numbers), the rest optional;
 * gamma_se / difficulty_se, when present, must name the same agents / questions; keys it does not know are
 * ignored; a model other than 1PL or a scale other than 1.7 is ILR_EUNSUPPORTED. */
int ilr_irt_fit_load(const char *path, ilr_irt_fit *out);
/* The same over text in memory; name is what messages call it (fuzzing, tests). */
int ilr_irt_fit_parse(const char *text, size_t len, const char *name, ilr_irt_fit *out);

/* Mean difficulty per level over the questions ids[k] (at levels[k], in [0, num_levels)) that the fit
 * holds; ids it does not hold are skipped.  mean[l] is NaN and count[l] 0 for a level without any (count
 * may be NULL).  Gives questions outside the calibration fit the mean D of their dataset level.
 * ILR_EINVAL for a level out of range. */
int ilr_irt_mean_difficulty_by_level(const ilr_irt_fit *fit, const char *const *ids, const int *levels, int n,
                                     int num_levels, double *mean, int *count);

#endif
