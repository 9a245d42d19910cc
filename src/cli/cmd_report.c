/* ilr report: report.json, report.md and report.html of a run, an eval or an experiment (src/eval/report*.c). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "ilr/error.h"
#include "ilr/report.h"

static const char report_help[] =
    "usage: ilr report DIR [-o OUTDIR]\n\n"
    "Writes OUTDIR/report.html (one self-contained page: inline CSS and SVG charts, no scripts, nothing\n"
    "fetched), OUTDIR/report.md (the same tables) and OUTDIR/report.json (every number either page shows).\n"
    "DIR is one of:\n"
    "  an experiment (ilr experiment: experiment.json): per method, agent and benchmark the greedy and avg@K\n"
    "      accuracy as the mean over seeds with a 95 % interval (Student's t over seeds; one seed: the\n"
    "      evaluation's bootstrap over questions), the paired differences to the baseline and to the base\n"
    "      models (same agent and seed; one seed: the paired bootstrap over questions), training curves\n"
    "      (reward, accuracy, KL where logged, completion length; mean over seeds), for ILR the coop share,\n"
    "      the difficulty histogram with the agents' abilities and the calibration shift, and compute\n"
    "      (generated and trained tokens, train and eval seconds).  Cells not done are listed, not counted.\n"
    "  a training run (ilr train: train_summary.json and/or train_log.jsonl): the run's own test accuracy\n"
    "      before and after (no intervals: use ilr eval for them), its curves, ILR's interaction and\n"
    "      calibration, its compute.\n"
    "  an evaluation (ilr eval: summary.json): the table of each benchmark with its bootstrap intervals.\n\n"
    "  -o, --out OUTDIR  where to write (default: DIR itself)\n";

int ilr_cmd_report(int argc, char **argv) {
    static const struct option longopts[] = {{"out", required_argument, 0, 'o'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *out = NULL;
    optind = 0;
    opterr = 0;
    for (int c; (c = getopt_long(argc, argv, "ho:", longopts, NULL)) != -1;) {
        if (c == 'h') return printf("%s", report_help), 0;
        if (c == 'o') out = optarg;
        else return ilr_cli_usage_error("report", "unknown or incomplete option '%s'", argv[optind - 1]);
    }
    if (optind != argc - 1) return ilr_cli_usage_error("report", "expected one directory (a run, an eval or an experiment)");
    const char *dir = argv[optind];
    json_t *rep = NULL;
    if (ilr_report_write(dir, out, &rep)) return ilr_cli_fail("report");
    const char *where = out ? out : dir;
    printf("%s report of %s: %s/report.html, report.md, report.json\n", json_string_value(json_object_get(rep, "kind")),
           dir, where);
    size_t n = json_array_size(json_object_get(rep, "missing"));
    if (n) printf("not done (left out): %zu cell%s, listed in the report\n", n, n == 1 ? "" : "s");
    json_decref(rep);
    return 0;
}
