/* ilr world gen: datasets of the synthetic reasoning world "arith" (problems, SFT records, Idea3 material). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ilr/error.h"
#include "ilr/world.h"

static const char world_help[] =
    "usage: ilr world gen --n N --split NAME -o FILE [OPTIONS]\n\n"
    "The synthetic reasoning world in which ilr runs the whole paper on a CPU.  Subcommands:\n"
    "  gen       write problems, SFT records or Idea3 material as JSON lines (`ilr world gen --help`)\n";

static const char gen_help_head[] =
    "usage: ilr world gen --n N --split NAME -o FILE [--task arith] [--levels 1-5] [--seed S]\n"
    "                     [--kind problems|sft|idea3] [--mix SOLVE:ANALYSE:FUSE]\n"
    "                     [--flawed P]\n\n"
    "Writes N records of the world \"arith\": multi-step integer arithmetic (\"Compute (12+7)*3-5.\") with\n"
    "worked solutions, one operation per line, ending in \\boxed{N}.  Every value is an integer in [0, 9999].\n\n"
    "  --task arith      the world (arith is the only one)\n"
    "  --n N             records to write (required)\n"
    "  --split NAME      sft, train, calib, val or test (required; see below)\n"
    "  -o FILE           the output, written atomically (- for standard output)\n"
    "  --levels L        levels drawn uniformly: a range 1-5 (default), a list 1,3,5, or both: 1-2,5\n"
    "  --seed S          the seed (default 1); the same arguments give a byte-identical file\n"
    "  --kind K          problems (default): {\"id\", \"question\", \"answer\", \"level\", \"solution\"}\n"
    "                    sft: {\"prompt\", \"response\", \"level\", \"stage\": \"solve\"}\n"
    "                    idea3: {\"prompt\", \"response\", \"level\", \"stage\", \"mode\"}, stage solve, analyse\n"
    "                    or fuse, mode coop or comp (half each); prompts from prompts/world/*.txt\n"
    "  --mix A:B:C       idea3: relative weights of solve, analyse and fuse records (default 2:1:1)\n"
    "  --flawed P        sft, idea3: P % of solve answers carry a planted mistake (a slip or a skip, half\n"
    "                    each), as the noisy solutions a pretrained model imitates (default 0; fuse answers\n"
    "                    are always right)\n\n"
    "Splits never share a problem, whatever the seeds: a problem belongs to the split that owns its bucket,\n"
    "a fixed hash of the expression's text modulo 100 (sft 0-39, train 40-69, calib 70-79, val 80-84,\n"
    "test 85-99), and each split draws until a problem is its own.  Record i of (seed, split) comes from\n"
    "its own random stream, so the three kinds with the same arguments hold the same problems in order.\n\n"
    "Levels (the table at the top of src/data/world_arith.c):\n";

static void print_gen_help(void) {
    printf("%s", gen_help_head);
    printf("  level  ops  +/- operands  * factor  * share  parentheses\n");
    for (int l = 1; l <= ILR_WORLD_LEVELS; l++) {
        const ilr_world_level_knobs *k = ilr_world_level(l);
        char factor[16] = "-", parens[48] = "none";
        if (k->factor) snprintf(factor, sizeof factor, "2-%d", k->factor);
        if (k->depth) snprintf(parens, sizeof parens, "%d%% a term, %d deep", k->paren_percent, k->depth);
        printf("  %5d  %3d  0-%-11d %-9s %6d%%  %s\n", l, k->ops, k->operand, factor, k->factor ? k->mul_percent : 0, parens);
    }
    printf("\nexample: ilr world gen --n 20000 --split sft --kind idea3 --seed 1 -o out/world/sft.jsonl\n");
}

static int parse_mix(const char *cmd, const char *text, int mix[3]) {
    char *end;
    const char *p = text;
    for (int i = 0; i < 3; i++) {
        long v = strtol(p, &end, 10);
        if (end == p || v < 0 || v > 1000000 || *end != (i < 2 ? ':' : '\0')) goto bad;
        mix[i] = (int)v;
        p = end + 1;
    }
    if (mix[0] + mix[1] + mix[2] > 0) return 0;
bad:
    return ilr_cli_usage_error(cmd, "--mix takes three weights SOLVE:ANALYSE:FUSE, not all 0, like 2:1:1, not '%s'", text);
}

static int world_gen(int argc, char **argv) {
    static const struct option longopts[] = {
        {"task", required_argument, 0, 't'}, {"n", required_argument, 0, 'n'},    {"split", required_argument, 0, 's'},
        {"levels", required_argument, 0, 'l'}, {"seed", required_argument, 0, 'S'}, {"kind", required_argument, 0, 'k'},
        {"mix", required_argument, 0, 'm'},  {"flawed", required_argument, 0, 'f'}, {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *cmd = "world gen", *out = NULL;
    ilr_world_gen_options opt = {.seed = 1, .n = -1, .kind = ILR_WORLD_PROBLEMS, .mix = {2, 1, 1}};
    ilr_world_parse_levels("1-5", &opt);
    long long v;
    int rc = 0;
    optind = 0;
    opterr = 0;
    for (int c; !rc && (c = getopt_long(argc, argv, "ho:", longopts, NULL)) != -1;) {
        switch (c) {
        case 'h': return print_gen_help(), 0;
        case 't':
            if (strcmp(optarg, "arith") != 0) rc = ilr_cli_usage_error(cmd, "no task '%s' (the only one is arith)", optarg);
            break;
        case 'n':
            if (!(rc = ilr_cli_parse_long(cmd, "--n", optarg, 1, 1000000000LL, &v))) opt.n = v;
            break;
        case 's':
            if (ilr_world_split_find(optarg, &opt.split)) rc = ilr_cli_usage_error(cmd, "%s", ilr_last_error());
            break;
        case 'l':
            if (ilr_world_parse_levels(optarg, &opt)) rc = ilr_cli_usage_error(cmd, "%s", ilr_last_error());
            break;
        case 'S':
            if (!(rc = ilr_cli_parse_long(cmd, "--seed", optarg, 0, INT64_MAX, &v))) opt.seed = (uint64_t)v;
            break;
        case 'k':
            if (strcmp(optarg, "problems") == 0) opt.kind = ILR_WORLD_PROBLEMS;
            else if (strcmp(optarg, "sft") == 0) opt.kind = ILR_WORLD_SFT;
            else if (strcmp(optarg, "idea3") == 0) opt.kind = ILR_WORLD_IDEA3;
            else rc = ilr_cli_usage_error(cmd, "--kind takes problems, sft or idea3, not '%s'", optarg);
            break;
        case 'm': rc = parse_mix(cmd, optarg, opt.mix); break;
        case 'f':
            if (!(rc = ilr_cli_parse_long(cmd, "--flawed", optarg, 0, 100, &v))) opt.flawed_percent = (int)v;
            break;
        case 'o': out = optarg; break;
        default: rc = ilr_cli_usage_error(cmd, "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (rc) return rc;
    if (optind != argc) return ilr_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (opt.n < 0) return ilr_cli_usage_error(cmd, "--n N is required");
    if (!opt.split) return ilr_cli_usage_error(cmd, "--split NAME is required (sft, train, calib, val or test)");
    if (!out) return ilr_cli_usage_error(cmd, "-o FILE is required");
    if (opt.flawed_percent > 0 && opt.kind == ILR_WORLD_PROBLEMS)
        return ilr_cli_usage_error(cmd, "--flawed plants mistakes in solve answers: it needs --kind sft or idea3");
    opt.progress = opt.n >= 10000;
    if (ilr_world_gen_file(&opt, out)) return ilr_cli_fail(cmd);
    if (strcmp(out, "-") != 0)
        fprintf(stderr, "wrote %lld %s records of split %s (seed %llu) to %s\n", opt.n,
                opt.kind == ILR_WORLD_PROBLEMS ? "problem" : opt.kind == ILR_WORLD_SFT ? "sft" : "idea3",
                opt.split->name, (unsigned long long)opt.seed, out);
    return 0;
}

int ilr_cmd_world(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "gen") == 0) return world_gen(argc - 1, argv + 1);
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) return printf("%s", world_help), 0;
    return ilr_cli_usage_error("world", "expected a subcommand: gen");
}
