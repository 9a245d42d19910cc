/* ilr interact: agents discuss questions at inference time (ilr/discuss.h) and each is graded. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_agents.h"
#include "ilr/discuss.h"
#include "ilr/error.h"
#include "ilr/io.h"
#include "ilr/irt.h"
#include "ilr/json.h"
#include "ilr/template.h"
#include "ilr/timer.h"

static const char interact_help[] =
    "usage: ilr interact --agent NAME=DIR --agent NAME=DIR [...] --data FILE --protocol single|idea3|debate\n"
    "                    -o OUT [--rounds R] [--mode coop|comp|dynamic] [--irt irt.json] [--task T] [--max N]\n"
    "                    [--max-new-tokens N] [--max-peer-tokens N] [--chat] [--prompts DIR]\n\n"
    "Agents answer every question of FILE together, greedily, without training, and each agent's final answer\n"
    "is graded, next to its answer alone:\n"
    "  single   each answers alone\n"
    "  idea3    Idea Sharing, Analysis and Fusion, as in ILR's training (the final answer is the fused one)\n"
    "  debate   Du et al.: each answers alone, then for R rounds reads the others' latest answers and updates\n"
    "           its own (prompts: debate.txt beside the Idea3 templates)\n\n"
    "  --agent NAME=DIR     an agent (two or more for idea3 and debate)\n"
    "  --data FILE          the questions: a JSONL path or a registry name (ilr data ls)\n"
    "  -o OUT               a directory: transcripts.jsonl (every message of every question) and summary.json\n"
    "  --rounds R           debate rounds after the first answers (default 2)\n"
    "  --mode M             idea3's stance: coop (default), comp, or dynamic (the IRT rule: cooperate when the\n"
    "                       agents' mean P < 0.5; needs --irt naming the agents; a question the fit lacks has D 0)\n"
    "  --task T             auto (default), world-arith, math or code: how answers are graded and prompted\n"
    "  --max N              the first N questions (default all)\n"
    "  --max-new-tokens N   per message (default 256)\n"
    "  --max-peer-tokens N  a peer's text longer than this keeps its last tokens (default 512)\n"
    "  --chat               prompts through each model's chat template\n"
    "  --prompts DIR        the Idea3 templates (default: prompts/world, prompts/idea3/math or .../code)\n"
    "  --device D           cpu (default) or cuda: each agent's generation on the GPU (make CUDA=1)\n\n"
    "Example (the world's base agents; make agents first):\n"
    "  ilr interact --agent agent-a=build/agents/agent-a --agent agent-b=build/agents/agent-b \\\n"
    "      --data build/agents/data/test.jsonl --max 500 --task world-arith --protocol debate -o runs/debate\n";

typedef struct {
    const char *data, *out, *irt, *prompts;
    ilr_protocol protocol;
    int have_protocol, chat, mode; /* mode: 0 coop, 1 comp, 2 dynamic */
    long long rounds, max, max_new, max_peer;
    ilr_task_type task;
    ilr_device device;
} interact_args;

static int parse_args(int argc, char **argv, interact_args *a, cli_agent *agents, int *m) {
    static const struct option longopts[] = {
        {"agent", required_argument, 0, 'a'},       {"data", required_argument, 0, 'd'},
        {"protocol", required_argument, 0, 'p'},    {"rounds", required_argument, 0, 'r'},
        {"mode", required_argument, 0, 'M'},        {"irt", required_argument, 0, 'i'},
        {"task", required_argument, 0, 't'},        {"max", required_argument, 0, 'm'},
        {"max-new-tokens", required_argument, 0, 'n'}, {"max-peer-tokens", required_argument, 0, 'P'},
        {"chat", no_argument, 0, 'c'},              {"prompts", required_argument, 0, 'D'},
        {"device", required_argument, 0, 'G'},      {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *cmd = "interact";
    *a = (interact_args){.rounds = 2, .max_new = 256, .max_peer = 512};
    optind = 0;
    opterr = 0;
    for (int c; (c = getopt_long(argc, argv, "ho:", longopts, NULL)) != -1;) {
        int bad = 0;
        if (c == 'h') return printf("%s", interact_help), -1;
        if (c == 'a') bad = cli_agent_parse(cmd, optarg, agents, m);
        else if (c == 'd') a->data = optarg;
        else if (c == 'o') a->out = optarg;
        else if (c == 'i') a->irt = optarg;
        else if (c == 'D') a->prompts = optarg;
        else if (c == 'c') a->chat = 1;
        else if (c == 't') bad = cli_parse_task(cmd, optarg, &a->task);
        else if (c == 'G') bad = cli_parse_device(cmd, optarg, &a->device);
        else if (c == 'r') bad = ilr_cli_parse_long(cmd, "--rounds", optarg, 1, 100, &a->rounds);
        else if (c == 'm') bad = ilr_cli_parse_long(cmd, "--max", optarg, 0, 1000000000, &a->max);
        else if (c == 'n') bad = ilr_cli_parse_long(cmd, "--max-new-tokens", optarg, 1, 1000000, &a->max_new);
        else if (c == 'P') bad = ilr_cli_parse_long(cmd, "--max-peer-tokens", optarg, 1, 1000000, &a->max_peer);
        else if (c == 'p') {
            const char *names[] = {"single", "idea3", "debate"};
            a->have_protocol = 0;
            for (int i = 0; i < 3; i++)
                if (!strcmp(optarg, names[i])) a->protocol = (ilr_protocol)i, a->have_protocol = 1;
            if (!a->have_protocol) bad = ilr_cli_usage_error(cmd, "--protocol takes single, idea3 or debate, not '%s'", optarg);
        } else if (c == 'M') {
            a->mode = !strcmp(optarg, "coop") ? 0 : !strcmp(optarg, "comp") ? 1 : !strcmp(optarg, "dynamic") ? 2 : -1;
            if (a->mode < 0) bad = ilr_cli_usage_error(cmd, "--mode takes coop, comp or dynamic, not '%s'", optarg);
        } else bad = ilr_cli_usage_error(cmd, "unknown or incomplete option '%s'", argv[optind - 1]);
        if (bad) return bad;
    }
    if (optind != argc) return ilr_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (!*m || !a->data || !a->out || !a->have_protocol)
        return ilr_cli_usage_error(cmd, "--agent, --data, --protocol and -o are required");
    if (a->protocol != ILR_PROTOCOL_SINGLE && *m < 2) return ilr_cli_usage_error(cmd, "%s needs two agents or more",
                                                                                 a->protocol == ILR_PROTOCOL_IDEA3 ? "idea3" : "debate");
    if (a->mode == 2 && !a->irt) return ilr_cli_usage_error(cmd, "--mode dynamic needs --irt irt.json");
    return 0;
}

/* --mode dynamic: the stance of every question from the agents' P under irt.json (the mean rule). */
static int dynamic_stances(const char *path, const cli_agent *agents, int m, const ilr_question_set *q, ilr_stance *out) {
    ilr_irt_fit fit;
    int rc = ilr_irt_fit_load(path, &fit);
    double gamma[CLI_MAX_AGENTS];
    for (int i = 0; !rc && i < m; i++)
        if (ilr_irt_fit_gamma(&fit, agents[i].name, &gamma[i], NULL))
            rc = ILR_FAIL(ILR_ENOTFOUND, "%s does not name agent %s", path, agents[i].name);
    ilr_interaction in = {ILR_MODE_DYNAMIC, ILR_RULE_MEAN, 0};
    for (int k = 0; !rc && k < q->n; k++) {
        double d = 0, p[CLI_MAX_AGENTS];
        if (ilr_irt_fit_difficulty(&fit, q->ds->items[k].id, &d, NULL)) d = 0, ilr_error_clear();
        for (int i = 0; i < m; i++) p[i] = ilr_irt_probability(gamma[i], d);
        out[k] = ilr_interaction_decide(&in, p, m, NULL);
    }
    if (!rc || fit.agents) ilr_irt_fit_free(&fit);
    return rc;
}

static int write_summary(const interact_args *a, const cli_agent *agents, int m, const ilr_discuss_result *res, double secs) {
    json_t *s = json_object(), *per = json_object();
    json_object_set_new(s, "protocol", json_string(ilr_protocol_name(a->protocol)));
    json_object_set_new(s, "data", json_string(a->data));
    json_object_set_new(s, "questions", json_integer(res->questions));
    if (a->protocol == ILR_PROTOCOL_DEBATE) json_object_set_new(s, "rounds", json_integer(a->rounds));
    if (a->protocol == ILR_PROTOCOL_IDEA3) json_object_set_new(s, "mode", json_string(a->mode == 0 ? "coop" : a->mode == 1 ? "comp" : "dynamic"));
    for (int i = 0; i < m; i++)
        json_object_set_new(per, agents[i].name,
                            json_pack("{s:s, s:f, s:f}", "model", agents[i].dir, "alone", (double)res->alone[i] / res->questions,
                                      "final", (double)res->final[i] / res->questions));
    json_object_set_new(s, "agents", per);
    json_object_set_new(s, "seconds", json_real(secs));
    char path[4200];
    snprintf(path, sizeof path, "%s/summary.json", a->out);
    int rc = ilr_json_save_file(path, s);
    json_decref(s);
    return rc;
}

int ilr_cmd_interact(int argc, char **argv) {
    cli_agent *agents = calloc(CLI_MAX_AGENTS, sizeof *agents);
    interact_args a;
    int m = 0, status = agents ? parse_args(argc, argv, &a, agents, &m) : ilr_cli_usage_error("interact", "out of memory");
    if (status) return free(agents), status < 0 ? 0 : status;
    ilr_task task = {0};
    ilr_dataset ds = {0};
    ilr_idea3_prompts prompts = {0};
    char *debate = NULL, *buf = NULL, path[4200];
    size_t len = 0;
    ilr_stance *stance = NULL;
    FILE *mem = NULL;
    enum { WAVE = 64 };
    int rc = ilr_task_init(&task, a.task, a.data, 0.0, 0, NULL);
    if (!rc) rc = ilr_task_open_dataset(&task, a.data, NULL, &ds);
    const char *dir = a.prompts ? a.prompts : ilr_idea3_default_dir(ilr_task_type_name(task.type));
    if (!rc) rc = ilr_idea3_prompts_load(&prompts, dir, task.type == ILR_TASK_TYPE_WORLD);
    snprintf(path, sizeof path, "%s/debate.txt", dir);
    if (!rc && a.protocol == ILR_PROTOCOL_DEBATE) rc = ilr_template_load(path, &debate);
    /* a discussion prompt holds the question and up to 2m - 1 peer texts beside the own answer */
    int extra = a.protocol == ILR_PROTOCOL_SINGLE ? 0 : (int)(2 * m * a.max_peer) + 256;
    for (int i = 0; !rc && i < m; i++)
        rc = cli_agent_open(&agents[i], a.chat, &ds, a.max, &task, WAVE * (m > 1 ? m - 1 : 1), (int)a.max_new, extra,
                            a.device);
    if (!rc && a.mode == 2 && !(stance = malloc(sizeof *stance * (size_t)agents[0].q.n))) rc = ILR_FAIL(ILR_ENOMEM, "out of memory");
    if (!rc && a.mode == 2) rc = dynamic_stances(a.irt, agents, m, &agents[0].q, stance);
    if (!rc && a.mode == 1 && !(stance = malloc(sizeof *stance * (size_t)agents[0].q.n))) rc = ILR_FAIL(ILR_ENOMEM, "out of memory");
    for (int k = 0; !rc && a.mode == 1 && k < agents[0].q.n; k++) stance[k] = ILR_COMPETE;
    if (!rc) rc = ilr_mkdir_p(a.out) ? ilr_last_error_code() : 0;
    if (!rc && !(mem = open_memstream(&buf, &len))) rc = ILR_FAIL(ILR_ENOMEM, "out of memory");
    ilr_discuss_agent da[CLI_MAX_AGENTS];
    for (int i = 0; i < m; i++)
        da[i] = (ilr_discuss_agent){.name = agents[i].name, .gen = &agents[i].gen, .tok = agents[i].tok, .chat = agents[i].chat,
                                    .q = &agents[i].q};
    ilr_discuss_options o = {a.protocol, (int)a.rounds, stance, (int)a.max_new, (int)a.max_peer, WAVE};
    ilr_discuss_result res;
    double t0 = ilr_time_now();
    if (!rc) rc = ilr_discuss(da, m, &task, &prompts, debate, &o, &res, mem);
    if (mem && fclose(mem) != 0 && !rc) rc = ILR_FAIL(ILR_ENOMEM, "out of memory");
    snprintf(path, sizeof path, "%s/transcripts.jsonl", a.out);
    if (!rc) rc = ilr_file_write_atomic(path, buf, len);
    if (!rc) rc = write_summary(&a, agents, m, &res, ilr_time_now() - t0);
    if (!rc) {
        printf("interact: %s, %d agents, %d questions of %s (%.1f s)\n", ilr_protocol_name(a.protocol), m, res.questions,
               a.data, ilr_time_now() - t0);
        printf("  %-20s %8s %8s %8s\n", "agent", "alone", "final", "change");
        for (int i = 0; i < m; i++)
            printf("  %-20s %7.1f%% %7.1f%% %+7.1f\n", agents[i].name, 100.0 * res.alone[i] / res.questions,
                   100.0 * res.final[i] / res.questions, 100.0 * (res.final[i] - res.alone[i]) / res.questions);
        printf("  transcripts and summary in %s/\n", a.out);
    }
    free(buf);
    free(debate);
    free(stance);
    for (int i = 0; i < m; i++) cli_agent_close(&agents[i]);
    free(agents);
    ilr_idea3_prompts_free(&prompts);
    ilr_dataset_free(&ds);
    ilr_task_free(&task);
    return rc ? ilr_cli_fail("interact") : 0;
}
