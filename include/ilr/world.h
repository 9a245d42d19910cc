/* The synthetic reasoning world "arith": multi-step integer arithmetic with exact answers and graded
 * difficulty, on which the whole of ILR runs on a CPU with tiny models trained from scratch.
 *
 * A problem is an expression over non-negative integer literals with + - * and parentheses, asked as
 * "Compute (12+7)*3-5."  Levels 1-5 set the number of operations, the operand size and the parentheses
 * (the knob table at the top of src/data/world_arith.c).  Every value a solution writes, intermediate or
 * final, is an integer in [0, ILR_WORLD_MAX_VALUE]; there is no division; a * has at least one operand of
 * at most 12.
 *
 * A worked solution restates the expression, then does one operation per line, rewriting what remains
 * ("=" and the new expression, no spaces), and ends with the answer boxed:
 *     (12+7)*3-5
 *     =19*3-5
 *     =57-5
 *     =52
 *     \boxed{52}
 * Order: the leftmost innermost parentheses first; within them (or without any) the leftmost * first,
 * else the leftmost + or -.  Parentheses around a single number are dropped in the step that makes it.
 * Step k is the k-th "=" line (the restated expression is line 0).
 *
 * Flawed solutions plant one mistake that propagates to the end: a slip (the result of step k off by a
 * little, or one digit wrong) or a skip (step k drops the operation it should do, keeping one operand).
 * An analysis of a solution reads "All steps are correct.", "Step 2 is wrong: 19*3=57." (the operation
 * step 2 should do and its value) or, when every step is right but the box is not, "The answer is 52."
 *
 * Datasets (ilr world gen, ilr_world_gen_file) are split by construction: a problem belongs to the one
 * split whose bucket range holds ilr_world_bucket(expression), whatever the seed, so splits never share a
 * problem.  Prompts are the templates prompts/world/{solve,coop_analyse,comp_analyse,coop_fuse,comp_fuse}.txt
 * with the placeholders {{question}}, {{peer_solution}}, {{own_solution}}, {{peer_solutions}}, {{review}}.
 * With several peers, {{peer_solutions}} is their solutions in order separated by a blank line, and
 * {{review}} their analyses of your solution, one per line. */
#ifndef ILR_WORLD_H
#define ILR_WORLD_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "ilr/rng.h"

#define ILR_WORLD_LEVELS 5
#define ILR_WORLD_MAX_VALUE 9999
#define ILR_WORLD_EXPR_CAP 96 /* a problem's expression, NUL included */

typedef struct {
    int level; /* 1..ILR_WORLD_LEVELS; 0 for a problem parsed from a question */
    int ops;   /* operations, which is the number of solution steps */
    int depth; /* deepest nesting of parentheses */
    char expr[ILR_WORLD_EXPR_CAP]; /* canonical: digits + - * ( ), no spaces */
    long long answer;
} ilr_world_problem;

/* ---- problems ---- */
/* A level's knobs (the table in src/data/world_arith.c).  Problems of the level have `ops` operations;
 * + and - operands are drawn from [0, operand]; a literal next to a * from [2, factor] (0: no *), and at
 * every step a * has an operand <= factor; an operator is * with mul_percent % chance; a term is a
 * parenthesised group with paren_percent % chance while the nesting stays within depth. */
typedef struct {
    int ops, operand, factor, mul_percent, paren_percent, depth;
} ilr_world_level_knobs;

/* The knobs of level 1..ILR_WORLD_LEVELS, NULL for another. */
const ilr_world_level_knobs *ilr_world_level(int level);
/* Draws a problem of level 1..ILR_WORLD_LEVELS from rng (ILR_EINVAL for another level). */
int ilr_world_generate(ilr_rng *rng, int level, ilr_world_problem *out);
/* The question: "Compute EXPR." (ILR_EINVAL when cap is too small). */
int ilr_world_question(const ilr_world_problem *p, char *out, size_t cap);
/* Reads a question ("Compute EXPR." or a bare EXPR, spaces allowed) and evaluates it exactly.  Its values
 * may exceed the generator's bounds but not go below 0 (the world has no negative numbers) or beyond 1e15.
 * ILR_EFORMAT naming the question when it is not one. */
int ilr_world_parse_question(const char *question, ilr_world_problem *out);

/* ---- splits ---- */
typedef struct {
    const char *name;
    int lo, hi; /* the buckets [lo, hi) of 100 that the split owns */
} ilr_world_split;

/* The split called name (sft, train, calib, val, test); ILR_EINVAL listing them when there is none. */
int ilr_world_split_find(const char *name, const ilr_world_split **out);
/* The bucket 0..99 of an expression: a fixed hash (FNV-1a 64, then a mixer) of its text, modulo 100. */
int ilr_world_bucket(const char *expr);
/* ilr_world_generate until the problem's bucket lies in split (ILR_EUNSUPPORTED if none after many tries). */
int ilr_world_generate_in_split(ilr_rng *rng, int level, const ilr_world_split *split, ilr_world_problem *out);

/* ---- solutions ---- */
/* The worked solution (format above); *text is malloc'ed. */
int ilr_world_solution(const ilr_world_problem *p, char **text);

typedef enum { ILR_WORLD_SLIP = 0, ILR_WORLD_SKIP = 1 } ilr_world_flaw_kind;

typedef struct {
    ilr_world_flaw_kind kind;
    int step;                      /* the first wrong step, 1..ops */
    char op[ILR_WORLD_EXPR_CAP];   /* the operation that step should do: "19*3" */
    long long value;               /* its correct value: 57 */
    long long answer;              /* the flawed solution's final answer (never the right one) */
} ilr_world_flaw;

/* A well-formed solution with one planted mistake of the given kind at a step drawn from rng; every later
 * step is done correctly on the wrong values, and the final answer is never the right one.  When no skip
 * can change the answer (0+0) a slip is planted instead: flaw->kind says which.  *text is malloc'ed. */
int ilr_world_flawed_solution(const ilr_world_problem *p, ilr_world_flaw_kind kind, ilr_rng *rng, char **text,
                              ilr_world_flaw *flaw);

/* ---- checking model text ---- */
typedef struct {
    int correct;      /* the last \boxed{} holds exactly the answer (an integer, optional spaces) */
    int well_formed;  /* an expression line, one or more "=EXPR" lines, then \boxed{N} as the last line,
                         and no other \boxed */
    int steps;        /* "=" lines read before the first line that is not one */
    int first_wrong;  /* -1 when every line has the right value; else the first line that does not (or is
                         not an expression): 0 the restated expression, k step k */
    int has_answer;   /* the last \boxed{} holds an integer; then given is it */
    long long given;
} ilr_world_verdict;

/* Checks a model's text against the problem.  Never fails on any text bytes (len bytes, NUL or not). */
int ilr_world_check_problem(const ilr_world_problem *p, const char *text, size_t len, ilr_world_verdict *v);
/* The same from the question text (ilr_world_parse_question); ILR_EFORMAT when the question is not one. */
int ilr_world_check(const char *question, const char *text, size_t len, ilr_world_verdict *v);

/* The analysis of a solution text (format above), as the Idea Analysis stage should write it; *out is
 * malloc'ed.  For a flawed solution it names flaw.step, flaw.op and flaw.value. */
int ilr_world_analyse(const ilr_world_problem *p, const char *text, size_t len, char **out);

/* ---- datasets ---- */
typedef enum { ILR_WORLD_PROBLEMS = 0, ILR_WORLD_SFT = 1, ILR_WORLD_IDEA3 = 2 } ilr_world_kind;
enum { ILR_WORLD_STAGE_SOLVE = 0, ILR_WORLD_STAGE_ANALYSE = 1, ILR_WORLD_STAGE_FUSE = 2 };

typedef struct {
    const ilr_world_split *split;
    uint64_t seed;
    long long n;                    /* records */
    int levels[ILR_WORLD_LEVELS];   /* drawn uniformly from these */
    int num_levels;
    ilr_world_kind kind;
    int mix[3];                     /* idea3: weights of solve, analyse, fuse records */
    int flawed_percent;             /* sft, idea3: the share of solve answers with a planted mistake */
    int progress;                   /* a progress bar on stderr */
} ilr_world_gen_options;

/* The five prompt templates (prompts/world/), loaded once. */
typedef struct {
    char *solve;
    char *analyse[2]; /* [0] coop, [1] comp */
    char *fuse[2];
} ilr_world_prompts;

int ilr_world_prompts_load(ilr_world_prompts *pr);
void ilr_world_prompts_free(ilr_world_prompts *pr);

/* Parses a level list "1-5", "1,3,5" or "2" into opt->levels. */
int ilr_world_parse_levels(const char *text, ilr_world_gen_options *opt);

/* Record i of a dataset: its problem (from the rng stream of (seed, split, i), so record i has the same
 * problem whatever the kind) and the JSON object written for it (a new reference). */
int ilr_world_gen_record(const ilr_world_gen_options *opt, const ilr_world_prompts *pr, long long i,
                         ilr_world_problem *problem, json_t **record);
/* Writes opt->n records as JSON lines to path atomically ("-": standard output). */
int ilr_world_gen_file(const ilr_world_gen_options *opt, const char *path);

#endif
