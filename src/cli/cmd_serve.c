/* ilr serve: models behind an OpenAI-compatible HTTP API until SIGTERM or SIGINT (ilr/serve.h). */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "ilr/error.h"
#include "ilr/serve.h"

static const char serve_help[] =
    "usage: ilr serve --model NAME=DIR [--model NAME=DIR ...] [--port P] [--host ADDR] [options]\n\n"
    "Serves model directories over an OpenAI-compatible HTTP API until SIGTERM or SIGINT (the requests in\n"
    "flight are answered first):\n"
    "  GET  /health                 {\"status\": \"ok\"}\n"
    "  GET  /v1/models              the NAMEs\n"
    "  POST /v1/completions         {\"model\", \"prompt\", ...}: the prompt encoded as `ilr generate` does\n"
    "  POST /v1/chat/completions    {\"model\", \"messages\", ...}: rendered with the model's chat template\n"
    "Parameters: temperature [0, 2] (0 = greedy; default 1), top_p (0, 1], max_tokens (default: 256 or what\n"
    "the context leaves), stop (a string or up to 4), n (at most --slots), seed, logprobs (completions: 0-5,\n"
    "the chosen token's only; chat: true/false), stream (server-sent events).  Errors are OpenAI's\n"
    "{\"error\": {\"message\", \"type\", \"param\", \"code\"}} with status 400, 404, 405, 413, 500 or 503.\n\n"
    "Discussion models: \"model\": \"idea3:A+B\" or \"debate:A+B\" (2 to 16 NAMEs joined by '+') runs `ilr interact`'s\n"
    "protocol on the question (chat: the last user message; completions: the prompt), greedily, through each\n"
    "model's scheduler: choice i is agent i's final message, \"discussion\" the transcript; max_tokens is per\n"
    "message; optional \"discussion\": {\"rounds\" (debate, default 2), \"mode\" (idea3: coop or comp),\n"
    "\"max_peer_tokens\" (default 512)}.  stream, n > 1, temperature > 0, logprobs and stop get 400.\n\n"
    "  --model NAME=DIR       a model directory (tokenizer.json needed) served as NAME (repeatable)\n"
    "  --host ADDR            IPv4 address to listen on (default 127.0.0.1)\n"
    "  --port P               default 8080; 0 picks a free port (printed)\n"
    "  --slots S              sequences a model decodes together, over all requests in flight (continuous\n"
    "                         batching); also the largest n (default 8)\n"
    "  --context N            tokens per sequence, prompt included (default: the model's, at most 4096)\n"
    "  --max-queue Q          requests queued or running at once; more get 503 (default 64)\n"
    "  --max-body BYTES       request body limit; larger get 413 (default 1048576)\n"
    "  --timeout S            close connections idle this long (slow clients; default 15)\n"
    "  --discuss-task T       the discussion models' prompts: math (default), code or world-arith\n"
    "  --discuss-prompts DIR  their templates (Idea3's and debate.txt; default: the task's, as ilr interact)\n";

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig) {
    (void)sig;
    stop_requested = 1;
}

int ilr_cmd_serve(int argc, char **argv) {
    static const struct option longopts[] = {
        {"model", required_argument, 0, 'm'}, {"host", required_argument, 0, 'H'}, {"port", required_argument, 0, 'p'},
        {"slots", required_argument, 0, 's'}, {"context", required_argument, 0, 'c'}, {"max-queue", required_argument, 0, 'q'},
        {"max-body", required_argument, 0, 'b'}, {"timeout", required_argument, 0, 't'}, {"help", no_argument, 0, 'h'},
        {"discuss-task", required_argument, 0, 'T'}, {"discuss-prompts", required_argument, 0, 'P'},
        {0, 0, 0, 0}};
    ilr_serve_model_spec models[16];
    char names[16][256];
    int num_models = 0;
    ilr_serve_options opt = {.port = 8080};
    long long v;
    optind = 0;
    opterr = 0;
    for (int c; (c = getopt_long(argc, argv, "h", longopts, NULL)) != -1;) {
        int rc = 0;
        const char *eq;
        switch (c) {
        case 'h': return printf("%s", serve_help), 0;
        case 'm':
            eq = strchr(optarg, '=');
            if (!eq || eq == optarg || !eq[1] || eq - optarg >= 256)
                return ilr_cli_usage_error("serve", "--model takes NAME=DIR, not '%s'", optarg);
            if (num_models == 16) return ilr_cli_usage_error("serve", "at most 16 --model");
            snprintf(names[num_models], sizeof names[0], "%.*s", (int)(eq - optarg), optarg);
            models[num_models].name = names[num_models], models[num_models].dir = eq + 1;
            num_models++;
            break;
        case 'H': opt.host = optarg; break;
        case 'T': opt.discuss_task = optarg; break;
        case 'P': opt.discuss_prompts = optarg; break;
        case 'p': rc = ilr_cli_parse_long("serve", "--port", optarg, 0, 65535, &v), opt.port = (int)v; break;
        case 's': rc = ilr_cli_parse_long("serve", "--slots", optarg, 1, 256, &v), opt.slots = (int)v; break;
        case 'c': rc = ilr_cli_parse_long("serve", "--context", optarg, 16, 1 << 20, &v), opt.context = (int)v; break;
        case 'q': rc = ilr_cli_parse_long("serve", "--max-queue", optarg, 1, 1 << 20, &v), opt.max_queue = (int)v; break;
        case 'b': rc = ilr_cli_parse_long("serve", "--max-body", optarg, 64, 1LL << 30, &v), opt.max_body = (size_t)v; break;
        case 't': rc = ilr_cli_parse_long("serve", "--timeout", optarg, 1, 3600, &v), opt.timeout_s = (int)v; break;
        default: return ilr_cli_usage_error("serve", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
        if (rc) return rc;
    }
    if (optind != argc) return ilr_cli_usage_error("serve", "unexpected argument '%s'", argv[optind]);
    if (!num_models) return ilr_cli_usage_error("serve", "--model NAME=DIR is required");
    /* the handlers only set a flag: this thread stops the server */
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    ilr_server *s;
    if (ilr_serve_start(&s, models, num_models, &opt)) return ilr_cli_fail("serve");
    printf("ilr serve: listening on http://%s:%d (%d model%s); SIGTERM or Ctrl-C stops\n", opt.host ? opt.host : "127.0.0.1",
           ilr_serve_port(s), num_models, num_models == 1 ? "" : "s");
    fflush(stdout);
    while (!stop_requested) usleep(50000);
    fprintf(stderr, "ilr serve: stopping (answering the requests in flight)\n");
    ilr_serve_stop(s);
    return 0;
}
