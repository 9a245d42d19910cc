/* libFuzzer target: arbitrary bytes through the math grader: answer extraction (every mode, and as a gold
 * answer), normalisation,
 * the expression parser and equality against fixed gold answers.  Seeds: fuzz/corpus/math_parse. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ilr/math_grader.h"

static const char *const golds[] = {"\\frac{1}{2}", "(x+1)^2", "\\{1, 2\\}", "[1, 2)", "3 \\pm \\sqrt{2}",
                                    "\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}", "50\\%", "1,000"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 8192) return 0;
    const char *text = (const char *)data;
    for (int mode = 0; mode <= ILR_MATH_EXTRACT_AUTO; mode++) {
        char *answer = NULL;
        if (ilr_math_extract(text, size, (ilr_math_extract_mode)mode, &answer) == 0) {
            ilr_math_verdict v;
            ilr_math_equal(answer, golds[size % 8], NULL, &v);
        }
        free(answer);
    }
    char *s = malloc(size + 1), *norm = malloc(size + 2);
    if (!s || !norm) return free(s), free(norm), 0;
    memcpy(s, data, size);
    s[size] = 0;
    char *gold = NULL;
    if (ilr_math_gold_text(s, &gold) == 0) {
        ilr_math_verdict gv;
        ilr_math_equal(golds[size % 8], gold, NULL, &gv);
    }
    free(gold);
    ilr_math_normalize(s, size, norm, size + 2);
    ilr_math_expr *e = malloc(sizeof *e);
    if (e && ilr_math_expr_parse(e, s, size) == 0) {
        double vars[ILR_MATH_MAX_VARS] = {1.5, 2, 3};
        volatile double sink = ilr_math_expr_eval(e, vars);
        (void)sink;
    }
    free(e);
    ilr_math_options opt;
    ilr_math_options_default(&opt);
    opt.percent_as_fraction = (int)(size & 1);
    ilr_math_verdict v;
    ilr_math_equal(s, golds[(size / 8) % 8], &opt, &v);
    ilr_math_equal(s, s, &opt, &v); /* the string against itself: structures on both sides */
    free(s);
    free(norm);
    return 0;
}
