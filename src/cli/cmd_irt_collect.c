/* ilr irt collect: the response matrix of `irt fit`, answered by the agents themselves (ilr/irt_collect.h). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_agents.h"
#include "ilr/error.h"
#include "ilr/io.h"
#include "ilr/irt_collect.h"
#include "ilr/timer.h"

static const char collect_help[] =
    "usage: ilr irt collect --agent NAME=DIR [--agent NAME=DIR ...] --data FILE -o responses.jsonl\n"
    "                       [--samples K] [--max N] [--task auto|world-arith|math|code] [--temperature T]\n"
    "                       [--max-new-tokens N] [--chat] [--seed S] [--fit irt.json]\n\n"
    "Every agent answers every question of FILE K times, sampled as in training, through its generation\n"
    "engine; every answer is graded by the task (the world's checker, the math grader or the code sandbox).\n"
    "Writes one JSON line per answer, {\"agent\": NAME, \"question\": ID, \"correct\": 0|1}: the input of\n"
    "`ilr irt fit` (and what `ilr train` collects itself when a config gives irt.data but no irt.file).\n\n"
    "  --agent NAME=DIR     an agent: its name (as in the run's agents: list) and model directory\n"
    "  --data FILE          the calibration questions: a JSONL path or a registry name (ilr data ls)\n"
    "  -o FILE              the responses, written atomically\n"
    "  --samples K          answers per agent and question (default 4)\n"
    "  --max N              the first N questions only (default: all)\n"
    "  --task T             how answers are graded (default auto: code for code datasets, else math)\n"
    "  --temperature T      sampling temperature (default 1; > 0)\n"
    "  --max-new-tokens N   answer length limit (default 256)\n"
    "  --chat               prompts as a user turn of each model's chat template\n"
    "  --seed S             the sampling seed (default 1)\n"
    "  --fit FILE           also fit the answers and write irt.json there (prior sd 3)\n"
    "  --device D           cpu (default) or cuda: each agent's generation on the GPU (make CUDA=1)\n";

int ilr_cmd_irt_collect(int argc, char **argv) {
    static const struct option longopts[] = {
        {"agent", required_argument, 0, 'a'},       {"data", required_argument, 0, 'd'},
        {"samples", required_argument, 0, 'k'},     {"max", required_argument, 0, 'm'},
        {"task", required_argument, 0, 't'},        {"temperature", required_argument, 0, 'T'},
        {"max-new-tokens", required_argument, 0, 'n'}, {"chat", no_argument, 0, 'c'},
        {"seed", required_argument, 0, 's'},        {"fit", required_argument, 0, 'f'},
        {"device", required_argument, 0, 'G'},      {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *cmd = "irt collect", *data = NULL, *out = NULL, *fit_path = NULL;
    cli_agent *agents = calloc(CLI_MAX_AGENTS, sizeof *agents);
    long long k = 4, max = 0, max_new = 256, seed = 1;
    double temperature = 1;
    int m = 0, chat = 0, status = 2;
    ilr_device device = ILR_DEVICE_CPU;
    ilr_task_type type = ILR_TASK_TYPE_AUTO;
    if (!agents) return ilr_cli_usage_error(cmd, "out of memory");
    optind = 0;
    opterr = 0;
    for (int c; (c = getopt_long(argc, argv, "ho:", longopts, NULL)) != -1;) {
        int bad = 0;
        if (c == 'h') {
            printf("%s", collect_help);
            status = 0;
            goto done;
        } else if (c == 'a') {
            bad = cli_agent_parse(cmd, optarg, agents, &m);
        } else if (c == 'd') data = optarg;
        else if (c == 'o') out = optarg;
        else if (c == 'f') fit_path = optarg;
        else if (c == 'c') chat = 1;
        else if (c == 'k') bad = ilr_cli_parse_long(cmd, "--samples", optarg, 1, 1024, &k);
        else if (c == 'm') bad = ilr_cli_parse_long(cmd, "--max", optarg, 0, 1000000000, &max);
        else if (c == 'n') bad = ilr_cli_parse_long(cmd, "--max-new-tokens", optarg, 1, 1000000, &max_new);
        else if (c == 's') bad = ilr_cli_parse_long(cmd, "--seed", optarg, 0, 1LL << 62, &seed);
        else if (c == 'T') bad = ilr_cli_parse_double(cmd, "--temperature", optarg, 1e-6, 100, &temperature);
        else if (c == 't') bad = cli_parse_task(cmd, optarg, &type);
        else if (c == 'G') bad = cli_parse_device(cmd, optarg, &device);
        else bad = ilr_cli_usage_error(cmd, "unknown or incomplete option '%s'", argv[optind - 1]);
        if (bad) goto done;
    }
    if (optind != argc) { status = ilr_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]); goto done; }
    if (!m || !data || !out) { status = ilr_cli_usage_error(cmd, "--agent, --data and -o are required"); goto done; }
    ilr_task task = {0};
    ilr_dataset ds = {0};
    ilr_irt_responses resp;
    ilr_irt_responses_init(&resp);
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = NULL;
    int rc = ilr_task_init(&task, type, data, 0.0, 0, NULL);
    if (!rc) rc = ilr_task_open_dataset(&task, data, NULL, &ds);
    int slots = (int)(64 * k);
    for (int i = 0; !rc && i < m; i++) rc = cli_agent_open(&agents[i], chat, &ds, max, &task, slots, (int)max_new, 0, device);
    if (!rc && !(mem = open_memstream(&buf, &len))) rc = ILR_FAIL(ILR_ENOMEM, "out of memory");
    ilr_irt_collect_agent ca[CLI_MAX_AGENTS];
    for (int i = 0; i < m; i++) ca[i] = (ilr_irt_collect_agent){agents[i].name, &agents[i].gen, agents[i].tok, &agents[i].q};
    ilr_irt_collect_options o = {(int)k, (float)temperature, (int)max_new, (uint64_t)seed, 0};
    double t0 = ilr_time_now();
    if (!rc) rc = ilr_irt_collect(ca, m, &task, NULL, agents[0].q.n, &o, &resp, mem, NULL);
    if (mem && fclose(mem) != 0 && !rc) rc = ILR_FAIL(ILR_ENOMEM, "out of memory");
    if (!rc) rc = ilr_file_write_atomic(out, buf, len);
    if (!rc) {
        printf("irt collect: %d agents x %d questions x %lld answers of %s in %.1f s -> %s\n", m, agents[0].q.n, k, data,
               ilr_time_now() - t0, out);
        for (int c = 0, i = 0; i < m; i++) {
            long long answers = 0, right = 0;
            for (c = 0; c < resp.num_cells; c++)
                if (!strcmp(resp.agents[resp.cells[c].agent], agents[i].name))
                    answers += resp.cells[c].answers, right += resp.cells[c].correct;
            printf("  %-20s %5.1f%% right (%lld of %lld)\n", agents[i].name, answers ? 100.0 * right / answers : 0, right, answers);
        }
    }
    if (!rc && fit_path) {
        ilr_irt_options fo = ilr_irt_options_default();
        ilr_irt_fit fit;
        rc = ilr_irt_fit_run(&resp, &fo, &fit);
        if (!rc) rc = ilr_irt_fit_save(&fit, fit_path);
        for (int i = 0; !rc && i < fit.num_agents; i++) printf("  gamma %-14s %+.3f +- %.3f\n", fit.agents[i], fit.gamma[i], fit.gamma_se[i]);
        if (!rc) printf("  fit written to %s\n", fit_path), ilr_irt_fit_free(&fit);
    }
    free(buf);
    for (int i = 0; i < m; i++) cli_agent_close(&agents[i]);
    ilr_irt_responses_free(&resp);
    ilr_dataset_free(&ds);
    ilr_task_free(&task);
    status = rc ? ilr_cli_fail(cmd) : 0;
done:
    free(agents);
    return status;
}
