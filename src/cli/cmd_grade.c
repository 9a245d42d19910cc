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
    "Extracts the final answer of each prediction (the last \\boxed{}, \"the answer is ...\", \"#### ...\",\n"
    "\"Answer: ...\", optionally the last number) and compares it with the gold answer: normalised strings,\n"
    "numbers, expressions by value, and structures (tuples, intervals, sets, lists, matrices).  Prints one\n"
    "JSON line per pair:\n"
    "  {\"line\": L, \"equal\": true, \"rule\": \"number\", \"extracted\": \"...\", \"pred_norm\": \"...\",\n"
    "   \"gold_norm\": \"...\"}\n"
    "and a summary {\"total\": N, \"equal\": K, \"accuracy\": K/N} on standard error.\n\n"
    "  --pred TEXT         a model's output (the answer is extracted from it)\n"
    "  --gold TEXT         the gold answer\n"
    "  --input FILE        JSON lines with \"pred\" and \"gold\" strings (`-` reads standard input)\n"
    "  --raw               the prediction is already an answer: compare it without extraction\n"
    "  --last-number       fall back to the last number when the text has no marked answer\n"
    "  --percent-fraction  a percent also equals its fraction (10\\% == 0.1; default only 10\\% == 10)\n"
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
    ilr_math_verdict v = {0};
    if (extracted && (rc = ilr_math_equal(extracted, gold, &g->opt, &v)) < 0) return free(extracted), rc;
    json_t *out = json_object();
    if (line > 0) json_object_set_new(out, "line", json_integer(line));
    json_object_set_new(out, "equal", json_boolean(v.equal));
    json_object_set_new(out, "rule", json_string(ilr_math_rule_name(v.rule)));
    json_object_set_new(out, "extracted", extracted ? json_string(extracted) : json_null());
    json_object_set_new(out, "pred_norm", json_string(v.pred_norm));
    json_object_set_new(out, "gold_norm", json_string(v.gold_norm));
    char *text = json_dumps(out, JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
    if (text) printf("%s\n", text);
    free(text);
    json_decref(out);
    free(extracted);
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

int ilr_cmd_grade(int argc, char **argv) {
    static const struct option longopts[] = {
        {"pred", required_argument, 0, 'p'},      {"gold", required_argument, 0, 'g'},
        {"input", required_argument, 0, 'i'},     {"raw", no_argument, 0, 'r'},
        {"last-number", no_argument, 0, 'l'},     {"percent-fraction", no_argument, 0, 'f'},
        {"tol", required_argument, 0, 't'},       {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *pred = NULL, *gold = NULL, *input = NULL;
    grade_state g = {.mode = ILR_MATH_EXTRACT_STRICT};
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
        else if (c == 'f') g.opt.percent_as_fraction = 1;
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
    int rc = input ? ilr_jsonl_read(strcmp(input, "-") == 0 ? "/dev/stdin" : input, grade_line, &g)
                   : grade_one(&g, pred, strlen(pred), gold, 0);
    fflush(stdout);
    if (rc) return ilr_cli_fail("grade");
    if (input)
        fprintf(stderr, "{\"total\": %d, \"equal\": %d, \"accuracy\": %.6f}\n", g.total, g.equal,
                g.total ? (double)g.equal / g.total : 0.0);
    return 0;
}
