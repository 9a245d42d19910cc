/* `ilr`: dispatch to subcommands, global help, shared option parsing. */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ilr/error.h"
#include "ilr/log.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"init", ilr_cmd_init, "write a random-initialised Hugging Face model directory of a real shape"},
    {"inspect", ilr_cmd_inspect, "show a model directory's architecture, sizes, dtypes and memory needs"},
    {"convert", ilr_cmd_convert, "re-save a model directory as F32 or BF16, single file or sharded"},
    {"tokenize", ilr_cmd_tokenize, "text to token ids or pieces with a model's tokenizer, and ids back to text"},
    {"tokenizer", ilr_cmd_tokenizer, "tokenizer tools: `tokenizer train` learns a byte-level BPE tokenizer from text"},
    {"generate", ilr_cmd_generate, "sample completions for prompts (KV cache, batched, shared prefill) as JSON lines"},
    {"chat", ilr_cmd_chat, "talk to a model in the terminal, replies streamed as they are generated"},
    {"score", ilr_cmd_score, "log-probability of every token of each line of a JSONL file under a model"},
    {"data", ilr_cmd_data, "the bundled benchmarks and JSONL datasets: `data ls` lists them, `data show` one item"},
    {"grade", ilr_cmd_grade, "extract final answers and grade them against gold math answers (JSON lines)"},
    {"sandbox", ilr_cmd_sandbox, "run a Python file in the code-execution sandbox (bubblewrap, rlimits, timeout)"},
    {"sft", ilr_cmd_sft, "supervised fine-tuning on prompt/response JSONL (packed, loss on responses only)"},
    {"train", ilr_cmd_train, "reinforcement learning from a YAML config: GRPO alone, or ILR co-learning of 2+ agents"},
    {"eval", ilr_cmd_eval, "one model alone on benchmarks: every answer recorded, greedy/avg@k/pass@k/maj@k with intervals"},
    {"experiment", ilr_cmd_experiment, "a grid of runs (methods x seeds x agents) and every model evaluated alone; resumable"},
    {"interact", ilr_cmd_interact, "agents answer together at inference time (single, idea3, debate); each graded"},
    {"serve", ilr_cmd_serve, "models behind an OpenAI-compatible HTTP API (/v1/completions, /v1/chat/completions)"},
    {"world", ilr_cmd_world, "the synthetic reasoning world: `world gen` writes problems, SFT and Idea3 data (JSON lines)"},
    {"irt", ilr_cmd_irt, "item response theory: `irt collect` gathers answers, `irt fit` fits abilities and difficulties (1PL)"},
    {"report", ilr_cmd_report, "report.html (inline SVG), report.md and report.json of a run, an eval or an experiment"},
    {"plot", ilr_cmd_plot, "line charts of JSONL training logs (reward, loss, accuracy per step) as SVG"},
    {"bench", ilr_cmd_bench, "measure sgemm peak (bench matmul) and training throughput (bench train)"},
    {"demo", ilr_cmd_demo, "the end-to-end demo: the engine, the base agents, GRPO and ILR co-learning on the world"},
};

static void print_help(FILE *out) {
    fprintf(out,
            "ilr %s — Interactive Learning for LLM Reasoning (arXiv 2509.26306), in C\n\n"
            "usage: ilr [--log-level error|warn|info|debug] COMMAND [OPTIONS]\n\ncommands:\n",
            ILR_VERSION);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "  %-10s %s\n", "help", "this text, or `ilr help COMMAND` for one command's options");
    fprintf(out, "\nEvery command takes --help.  The log level can also be set with ILR_LOG=debug.\n");
}

int ilr_cli_main(int argc, char **argv) {
    int i = 1;
    while (i < argc && strncmp(argv[i], "--log-level", 11) == 0) {
        const char *value = argv[i][11] == '=' ? argv[i] + 12 : (i + 1 < argc ? argv[++i] : "");
        ilr_log_level level;
        if (ilr_log_parse_level(value, &level) != 0)
            return ilr_cli_usage_error("ilr", "--log-level takes error, warn, info or debug, not '%s'", value);
        ilr_log_set_level(level);
        i++;
    }
    if (i >= argc) {
        print_help(stderr);
        return 2;
    }
    const char *name = argv[i];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
        print_help(stdout);
        return 0;
    }
    if (strcmp(name, "--version") == 0) {
        printf("ilr %s\n", ILR_VERSION);
        return 0;
    }
    if (strcmp(name, "help") == 0) {
        if (i + 1 >= argc) {
            print_help(stdout);
            return 0;
        }
        name = argv[i + 1];
        for (size_t c = 0; c < sizeof commands / sizeof commands[0]; c++) {
            if (strcmp(commands[c].name, name) == 0) {
                char *help_argv[] = {(char *)name, "--help", NULL};
                return commands[c].run(2, help_argv);
            }
        }
        return ilr_cli_usage_error("ilr", "no command '%s'", name);
    }
    for (size_t c = 0; c < sizeof commands / sizeof commands[0]; c++)
        if (strcmp(commands[c].name, name) == 0) return commands[c].run(argc - i, argv + i);
    fprintf(stderr, "ilr: no command '%s'\n\n", name);
    print_help(stderr);
    return 2;
}

int ilr_cli_fail(const char *cmd) {
    fflush(stdout); /* what was printed before the error (the config, progress) comes first in a shared log */
    fprintf(stderr, "ilr %s: error: %s\n", cmd, ilr_last_error());
    ILR_LOG_D("raised at %s", ilr_last_error_source());
    return 1;
}

int ilr_cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    fflush(stdout);
    fprintf(stderr, "ilr %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(see `ilr %s --help`)\n", strcmp(cmd, "ilr") == 0 ? "" : cmd);
    return 2;
}

int ilr_cli_parse_long(const char *cmd, const char *option, const char *text, long long lo, long long hi,
                       long long *out) {
    char *end = NULL;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || end == text || *end || v < lo || v > hi)
        return ilr_cli_usage_error(cmd, "%s takes an integer in [%lld, %lld], not '%s'", option, lo, hi, text);
    *out = v;
    return 0;
}

int ilr_cli_parse_double(const char *cmd, const char *option, const char *text, double lo, double hi, double *out) {
    char *end = NULL;
    double v = strtod(text, &end);
    if (end == text || *end || !(v >= lo && v <= hi))
        return ilr_cli_usage_error(cmd, "%s takes a number in [%g, %g], not '%s'", option, lo, hi, text);
    *out = v;
    return 0;
}

int ilr_cli_parse_size(const char *cmd, const char *option, const char *text, long long *out) {
    char *end = NULL;
    errno = 0;
    double v = strtod(text, &end);
    double unit = 1;
    if (end && (*end == 'K' || *end == 'k')) unit = 1024.0, end++;
    else if (end && (*end == 'M' || *end == 'm')) unit = 1024.0 * 1024, end++;
    else if (end && (*end == 'G' || *end == 'g')) unit = 1024.0 * 1024 * 1024, end++;
    if (end && (*end == 'B' || *end == 'b')) end++;
    if (errno || end == text || *end || !(v > 0) || v * unit > 1e15)
        return ilr_cli_usage_error(cmd, "%s takes a positive size like 500M or 2G, not '%s'", option, text);
    *out = (long long)(v * unit);
    return 0;
}
