/* Math answer grading: extract the final answer from a model's text and decide whether it equals a gold
 * answer (the reward for math RL), in the spirit of Math-Verify, the PRM800K grader and Qwen2.5-Math's
 * grader, hand-written in C.
 *
 * Pipeline (ilr_math_equal):
 *   1. normalise both strings (ilr_math_normalize): strip $ and \( \), \left/\right, spacing commands,
 *      \dfrac/\tfrac -> \frac, \text{..}/\mathrm{..}/\mbox{..} unwrapped (dropped when it is a unit after
 *      a value), degree signs, \$ and unit words after a number, thousands separators (1,000), numeric
 *      literals made canonical (0.50 -> 0.5, -0 -> 0, 3. -> 3), a leading name on the left of '=' or \in
 *      removed ("x =", "f(x) =", "(p,q) =", "|AB| =", "A:B =", "x \in"), \boxed{..} unwrapped; relations
 *      written \ge \geq >= (and \le, \ne, \lt, \gt) made one form; "A \approx B" is A (B when A is a bare
 *      name); the words "and" / "or" between answers become list commas; a doubled backslash before a known
 *      command ("\\frac", from escaped strings) read as one.  Equal strings -> rule "string".  When both
 *      sides had such a left side, the names must agree (y_1 and y_{1} are one name): "x = 3" == "3" ==
 *      "x=3", but "a = 3" != "b = 3" (so the list "a=2, b=3" does not equal "a=3, b=2").  When only one side
 *      is an equation, the other keeps its left side too ("y = -x/2 + 3/4" == "2x + 4y - 3 = 0").
 *   2. structures: \begin{pmatrix}..\end{pmatrix} (and bmatrix, matrix, [\begin{array}{cc}..\end{array}];
 *      element-wise, shape must match), sets \{a, b\} (unordered), tuples and intervals (a, b), [a, b), ...
 *      (ordered; bracket characters must match, so [1,2] != (1,2)), unions A \cup B (ordered), a \pm b (the
 *      unordered pair a+b, a-b), and bare lists "3, 5" (UNORDERED: "3, 5" == "5, 3", and == \{3, 5\}).
 *      Unordered collections are sets: a repeat counts once.  Items are separated by ';' when the list has
 *      one at its top level ("-12;-11", "(0;0;6)", "p=5,q=2;p=7,q=2"), else by ','.  A bare list equals a
 *      parenthesised tuple in order ("1, 3" == (1, 3); "p=5, q=2" == (5, 2)).  Braces that only group
 *      ("{1,3}", TeX's grouping) are dropped.  An inequality about one name equals the interval it states
 *      ("-793 < a < 10" == (-793, 10); "x >= 5" == [5, \infty)).  Rule "structure".
 *   3. atoms: both sides parsed as LaTeX expressions (ilr_math_expr_parse).  Without free variables and
 *      without constants/functions/roots the rule is "number", else "expression"; values are compared
 *      with a relative tolerance (opt.rel_tol, default 1e-6).  With free variables both sides are
 *      evaluated at opt.points seeded random points (variables in [0.5, 2.5] and [2.5, 12.5] alternately);
 *      points where either side is NaN are skipped (up to 4 x opt.points tries), at least one point must
 *      remain and every remaining point must agree.
 *      Two integer literals compare exactly (as canonical strings, any length).  Equations L = R (left
 *      side not a bare name, which step 1 strips) are equal when L - R is a constant non-zero multiple
 *      of the other's (4x - 5y = -50 == 8x - 10y + 100 = 0).  Relations L op R likewise, with the operator
 *      mirrored for a negative multiple and strictness kept (5 >= x == x <= 5; -x > -1 == x < 1).  A run
 *      of 4 or more letters is a word, not a product of variables, so "No solution" never equals
 *      "solution No" by value.
 *   Percent: a side with a percent sign matches its value and, with opt.percent_as_fraction (the default,
 *   as Math-Verify and Qwen2.5-Math's grader do), its value / 100: 10\% == 10 == 0.1... but 0.28 != 28.
 *   Limits: inputs over ILR_MATH_MAX_LEN bytes are compared as normalised strings only; expressions over
 *   ILR_MATH_MAX_NODES nodes or nested deeper than ILR_MATH_MAX_DEPTH, and lists over ILR_MATH_MAX_ITEMS
 *   items, fall back to string equality, and one call makes at most 16 * ILR_MATH_MAX_ITEMS atom comparisons
 *   (identical list items are matched first, for free), so every comparison is bounded in time.
 * Never aborts on any input bytes; functions return 0 or a negative ILR_E* code with a message. */
#ifndef ILR_MATH_GRADER_H
#define ILR_MATH_GRADER_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define ILR_MATH_MAX_LEN 4096
#define ILR_MATH_MAX_NODES 512
#define ILR_MATH_MAX_DEPTH 64
#define ILR_MATH_MAX_VARS 16
#define ILR_MATH_MAX_ITEMS 64
#define ILR_MATH_NORM_CAP 256 /* the normalised forms kept in a verdict (truncated) */

/* ---- extraction ---- */
typedef enum {
    ILR_MATH_EXTRACT_STRICT = 0,      /* last \boxed{}/\fbox{}, then "the (final) answer is", "####", "Answer:" */
    ILR_MATH_EXTRACT_LAST_NUMBER = 1, /* STRICT, falling back to the last number in the text */
    ILR_MATH_EXTRACT_BOXED = 2,       /* only the last \boxed{}/\fbox{} (MATH / Minerva gold solutions) */
    ILR_MATH_EXTRACT_AUTO = 3,        /* Math-Verify's precedence, below */
} ilr_math_extract_mode;

/* ILR_MATH_EXTRACT_AUTO finds the answer of free text as Math-Verify 0.9 does by default, in rule order (the
 * first rule with a candidate decides; within a rule the candidate that ends last wins):
 *   1. the last \boxed{} (with every other \boxed{} of the math environment it sits in, as a list; repeats once),
 *      or "final answer ... is" (within 100 bytes of one line) followed by math or a number;
 *   2. "answer:" followed within 50 bytes by math or a number;  3. the same after "answer";
 *   4. the last math environment or plain number.
 * Math environments: $$..$$ and \[..\] (may span lines), $..$ (not opened right after a digit: "99$" is a
 * price) and \(..\) (one line); environments joined by ",", "and", "or" form one list answer ("$3$ and $5$"
 * is "3, 5"); a chain "a = b = c" answers its last side; a percent sign or word after one makes it a percent.
 * Plain numbers start the text or follow white space or '=' (so "XDY2K" holds none), may carry a currency
 * sign and a percent, and read thousands groups (1,234 or 1 234) and a decimal comma (2,74 = 2.74); plain
 * arithmetic (1/3, 2 + 5) counts as a number.  When no rule finds anything, STRICT's phrases are tried, so a
 * text answer after "The answer is" is still found. */

/* Finds the final answer in text[0..len).  Returns 0 with *answer a malloc'ed NUL-terminated string,
 * 1 with *answer = NULL when the text has no answer of that mode, or a negative ILR_E* code. */
int ilr_math_extract(const char *text, size_t len, ilr_math_extract_mode mode, char **answer);

/* The answer a gold string states: a string holding \boxed{} or math delimiters ($, \(, \[) is read with
 * ILR_MATH_EXTRACT_AUTO ("$\frac{1}{2}$", "the answer is $9$"), any other is the answer as it stands ("x^2+1").
 * Returns 0 with *answer malloc'ed, or a negative ILR_E* code. */
int ilr_math_gold_text(const char *gold, char **answer);

/* The gold answer of a benchmark record: "final_answer" (OlympiadBench: a list, joined with ", "),
 * "expected_answer" (AIME 2025), "answer" (MATH-500, AIME 2024; a number for AMC 2023; a GSM8K solution
 * ending in "#### N"), else the last \boxed{} of "solution" (MATH, Minerva).  Returns 0 with *answer
 * malloc'ed, or ILR_ENOTFOUND / ILR_EFORMAT naming name. */
int ilr_math_gold_answer(const json_t *record, const char *name, char **answer);

/* ---- normalisation ---- */
/* Writes the normalised form of s[0..len) to out (cap bytes, NUL-terminated).  It grows the text by at most
 * one byte (".5" -> "0.5", done only when cap has room), so cap = len + 2 gives the full form; cap must be
 * at least len + 1.  Returns 0, or ILR_EINVAL when cap is too small. */
int ilr_math_normalize(const char *s, size_t len, char *out, size_t cap);

/* ---- expressions ---- */
typedef enum {
    ILR_MX_NUM, ILR_MX_VAR, ILR_MX_ADD, ILR_MX_SUB, ILR_MX_MUL, ILR_MX_DIV, ILR_MX_POW, ILR_MX_NEG,
    ILR_MX_FUNC, ILR_MX_FACT, ILR_MX_BINOM, ILR_MX_ROOT,
} ilr_math_node_kind;

typedef struct {
    uint8_t kind;  /* ilr_math_node_kind */
    uint8_t func;  /* for ILR_MX_FUNC: which function */
    int16_t a, b;  /* children (node indices), -1 if none */
    double value;  /* ILR_MX_NUM: the number; ILR_MX_VAR: the variable index */
} ilr_math_node;

typedef struct {
    ilr_math_node nodes[ILR_MATH_MAX_NODES];
    int count, root;
    int nvars;
    char vars[ILR_MATH_MAX_VARS][24];
    int symbolic; /* uses a constant (\pi, e), a function, a root or a variable: rule "expression" */
    int percent;  /* ends in a percent sign */
} ilr_math_expr;

/* Parses LaTeX math (already normalised or not) into e: + - * / ^, \frac, \sqrt{}, \sqrt[n]{}, \pi, e,
 * \cdot, \times, \div, implicit multiplication (2x, 2\pi, (a)(b)), mixed numbers 3\frac{1}{2}, scientific
 * notation (1.5e3, 1.5\times 10^{3}), trig / inverse trig / hyperbolic, \log, \log_b, \ln, \exp, n!,
 * \binom{n}{k}, \lfloor..\rfloor, \lceil..\rceil, |x|, \infty.  Letters and \alpha-style commands are
 * variables (x_1 and x_{12} are single variables).  Returns 0, or ILR_EFORMAT / ILR_EUNSUPPORTED with a
 * message (syntax, over the node or depth limit, too many variables). */
int ilr_math_expr_parse(ilr_math_expr *e, const char *s, size_t len);
/* Evaluates e with vars[i] the value of e->vars[i] (NaN where undefined). */
double ilr_math_expr_eval(const ilr_math_expr *e, const double *vars);

/* ---- equality ---- */
typedef struct {
    double rel_tol;          /* relative tolerance for values (default 1e-6) */
    int percent_as_fraction; /* 10\% == 0.1 as well as 10 (default 1; 0: 10\% == 10 only) */
    int points;              /* random points for expressions with variables (default 5, at most 32) */
    uint64_t seed;           /* seeds the points (default 0x5eed) */
    int values_only;         /* skip the string rule: equal only by value or structure (diagnostics: a gold
                                answer that does not equal itself this way is compared as a string) */
} ilr_math_options;

void ilr_math_options_default(ilr_math_options *opt);

typedef enum {
    ILR_MATH_RULE_NONE = 0, /* not equal (or nothing matched) */
    ILR_MATH_RULE_STRING,
    ILR_MATH_RULE_NUMBER,
    ILR_MATH_RULE_EXPRESSION,
    ILR_MATH_RULE_STRUCTURE,
} ilr_math_rule;

typedef struct {
    int equal;
    ilr_math_rule rule; /* the rule that decided equality; NONE when not equal */
    char pred_norm[ILR_MATH_NORM_CAP], gold_norm[ILR_MATH_NORM_CAP];
} ilr_math_verdict;

const char *ilr_math_rule_name(ilr_math_rule rule); /* "none", "string", "number", "expression", "structure" */

/* Compares answer pred with gold.  opt may be NULL (defaults).  Returns 0 with *v filled, or ILR_EINVAL
 * for NULL arguments. */
int ilr_math_equal(const char *pred, const char *gold, const ilr_math_options *opt, ilr_math_verdict *v);

#endif
