/* ilr grade: extract a model's final answer and compare it with a gold answer (the math reward). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ilr/error.h"
#include "ilr/json.h"
#include "ilr/math_grader.h"

static const char grade_help[] =
    "usage: ilr grade --pred TEXT --gold TEXT [options]\n"
    "       ilr grade --input FILE.jsonl [options]\n\n"
    "Extracts the final answer of each prediction (by default with Math-Verify's precedence: the last\n"
    "\\boxed{} or \"final answer is ...\", then math or a number after \"answer\", then the last math\n"
    "environment ($..$, $$..$$, \\(..\\), \\[..\\]) or plain number) and of a gold answer written as text\n"
    "or LaTeX with delimiters, and compares them: normalised strings, numbers, expressions by value, and\n"
    "structures (tuples, intervals, sets, lists, matrices).  Prints one JSON line per pair:\n"
    "  {\"line\": L, \"equal\": true, \"rule\": \"number\", \"extracted\": \"...\", \"pred_norm\": \"...\",\n"
    "   \"gold_norm\": \"...\"}\n"
    "and a summary {\"total\": N, \"equal\": K, \"accuracy\": K/N} on standard error.\n\n"
    "  --pred TEXT         a model's output (the answer is extracted from it)\n"
    "  --gold TEXT         the gold answer\n"
    "  --input FILE        JSON lines with \"pred\" and \"gold\" strings (`-` reads standard input, a pipe too)\n"
    "  --raw               prediction and gold are answers already: compare them without extraction\n"
    "  --extract MODE      auto (default; Math-Verify's precedence), strict (\\boxed{}, then \"the answer is\",\n"
    "                      \"####\", \"Answer:\"), last-number (strict, then the last number), boxed\n"
    "  --last-number       the same as --extract last-number\n"
    "  --percent-exact     a percent equals its number only (10\\% == 10; by default also 10\\% == 0.1)\n"
    "  --tol X             relative tolerance for numbers and expressions (default 1e-6)\n";

typedef struct {
    int raw, total, equal;
    ilr_math_extract_mode mode;
    ilr_math_options opt;
} grade_state;

static int grade_one(grade_state *g, const char *pred, size_t pred_len, const char *gold, int line) {
    char *extracted = NULL;
    int rc = 0;
    if (g->raw) {
        extracted = malloc(pred_len + 1);
        if (!extracted) return ILR_FAIL(ILR_ENOMEM, "out of memory");
        memcpy(extracted, pred, pred_len);
        extracted[pred_len] = 0;
    } else if ((rc = ilr_math_extract(pred, pred_len, g->mode, &extracted)) < 0) return rc;
    char *gold_answer = NULL;
    if ((rc = g->raw ? ((gold_answer = strdup(gold)) ? 0 : ILR_FAIL(ILR_ENOMEM, "out of memory"))
                     : ilr_math_gold_text(gold, &gold_answer)) < 0)
        return free(extracted), rc;
    ilr_math_verdict v = {0};
    if (extracted && (rc = ilr_math_equal(extracted, gold_answer, &g->opt, &v)) < 0)
        return free(extracted), free(gold_answer), rc;
    json_t *out = json_object();
    if (line > 0) json_object_set_new(out, "line", json_integer(line));
    json_object_set_new(out, "equal", json_boolean(v.equal));
    json_object_set_new(out, "rule", json_string(ilr_math_rule_name(v.rule)));
    json_object_set_new(out, "extracted", extracted ? json_string(extracted) : json_null());
    json_object_set_new(out, "gold_extracted", json_string(gold_answer));
    json_object_set_new(out, "pred_norm", json_string(v.pred_norm));
    json_object_set_new(out, "gold_norm", json_string(v.gold_norm));
    char *text = json_dumps(out, JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
    if (text) printf("%s\n", text);
    free(text);
    json_decref(out);
    free(extracted);
    free(gold_answer);
    g->total++;
    g->equal += v.equal;
    return 0;
}

static int grade_line(json_t *line, int line_number, const char *name, void *user) {
    const char *pred, *gold;
    if (ilr_json_get_string(line, "pred", 1, name, &pred) || ilr_json_get_string(line, "gold", 1, name, &gold))
        return ilr_last_error_code();
    return grade_one(user, pred, json_string_length(json_object_get(line, "pred")), gold, line_number);
}

/* --input -: standard input, a pipe or a file, read to its end first. */
static int grade_stdin(grade_state *g) {
    char *text = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 65536 > cap) {
            char *p = realloc(text, cap = 2 * cap + 65536);
            if (!p) return free(text), ILR_FAIL(ILR_ENOMEM, "standard input: out of memory");
            text = p;
        }
        size_t n = fread(text + len, 1, cap - len, stdin);
        len += n;
        if (n == 0) break;
    }
    int rc = ferror(stdin) ? ILR_FAIL(ILR_EIO, "cannot read standard input") : ilr_jsonl_parse(text, len, "<stdin>", grade_line, g);
    free(text);
    return rc;
}

int ilr_cmd_grade(int argc, char **argv) {
    static const struct option longopts[] = {
        {"pred", required_argument, 0, 'p'},      {"gold", required_argument, 0, 'g'},
        {"input", required_argument, 0, 'i'},     {"raw", no_argument, 0, 'r'},
        {"last-number", no_argument, 0, 'l'},     {"percent-exact", no_argument, 0, 'f'},
        {"tol", required_argument, 0, 't'},       {"extract", required_argument, 0, 'e'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *pred = NULL, *gold = NULL, *input = NULL;
    grade_state g = {.mode = ILR_MATH_EXTRACT_AUTO};
    ilr_math_options_default(&g.opt);
    optind = 0;
    opterr = 0;
    for (int c; (c = getopt_long(argc, argv, "h", longopts, NULL)) != -1;) {
        if (c == 'h') return printf("%s", grade_help), 0;
        if (c == 'p') pred = optarg;
        else if (c == 'g') gold = optarg;
        else if (c == 'i') input = optarg;
        else if (c == 'r') g.raw = 1;
        else if (c == 'l') g.mode = ILR_MATH_EXTRACT_LAST_NUMBER;
        else if (c == 'e') {
            static const char *const modes[] = {"strict", "last-number", "boxed", "auto"};
            int m = 0;
            while (m < 4 && strcmp(optarg, modes[m]) != 0) m++;
            if (m == 4)
                return ilr_cli_usage_error("grade", "--extract takes auto, strict, last-number or boxed, not '%s'", optarg);
            g.mode = (ilr_math_extract_mode)m;
        }
        else if (c == 'f') g.opt.percent_as_fraction = 0;
        else if (c == 't') {
            char *end;
            g.opt.rel_tol = strtod(optarg, &end);
            if (*end || !(g.opt.rel_tol >= 0 && g.opt.rel_tol < 1))
                return ilr_cli_usage_error("grade", "--tol takes a number in [0, 1), not '%s'", optarg);
        } else return ilr_cli_usage_error("grade", "unknown or incomplete option '%s'", argv[optind - 1]);
    }
    if (optind != argc) return ilr_cli_usage_error("grade", "unexpected argument '%s'", argv[optind]);
    if (!input && (!pred || !gold)) return ilr_cli_usage_error("grade", "give --pred and --gold, or --input");
    if (input && (pred || gold)) return ilr_cli_usage_error("grade", "--input does not go with --pred / --gold");
    int rc = input && strcmp(input, "-") == 0 ? grade_stdin(&g)
             : input                          ? ilr_jsonl_read(input, grade_line, &g)
                                              : grade_one(&g, pred, strlen(pred), gold, 0);
    fflush(stdout);
    if (rc) return ilr_cli_fail("grade");
    if (input)
        fprintf(stderr, "{\"total\": %d, \"equal\": %d, \"accuracy\": %.6f}\n", g.total, g.equal,
                g.total ? (double)g.equal / g.total : 0.0);
    return 0;
}
