/* ilr generate: sample completions for prompts with the KV-cache engine, as JSON lines. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ilr/chat.h"
#include "ilr/error.h"
#include "ilr/generate.h"
#include "ilr/json.h"

static const char generate_help[] =
    "usage: ilr generate --model DIR (--prompt TEXT | --prompts FILE.jsonl) [options]\n\n"
    "Samples --n completions per prompt and prints one JSON line per completion:\n"
    "  {\"prompt\": i, \"sample\": j, \"ids\": [...], \"text\": \"...\", \"logprobs\": [...], \"stop\": \"eos\"}\n"
    "logprobs are log p(token) under softmax(logits / T) at the sampling temperature T (1 when greedy), not\n"
    "filtered by top-k/top-p/min-p, as training computes them at that temperature.  Generation stops on the\n"
    "eos ids of config.json and generation_config.json.\n"
    "A --prompts line gives \"text\", chat \"messages\" ([{\"role\", \"content\"}...]) or raw \"ids\".\n\n"
    "  --chat                 render text prompts as one user message with the chat template\n"
    "  --system TEXT          with --chat: a system message first\n"
    "  --chat-template FILE   a template in ilr's format instead of tokenizer_config.json's\n"
    "  --n G                  completions per prompt (default 1); the prompt is prefilled once\n"
    "  --temperature T        0 = greedy (default: generation_config.json's, else 1)\n"
    "  --top-k K, --top-p P, --min-p M   filters (defaults: generation_config.json's, else off)\n"
    "  --max-new-tokens N     default 256\n"
    "  --stop STR             stop when the text contains STR (repeatable); eos ids always stop\n"
    "  --ignore-eos           eos ids do not stop generation (--stop strings still do)\n"
    "  --seed S               default 1; completion k uses RNG stream k, whatever the batch\n"
    "  --device D             cpu (default) or cuda: the GPU engine (a build with make CUDA=1; bf16 weights and\n"
    "                         KV cache, fp32 logits; it draws tokens itself unless top-k/top-p/min-p are set)\n"
    "  --weights W            f32 (default) or bf16: the CPU engine's matmuls and LM head read a bf16 copy of\n"
    "                         the weights (about 1.5-2x the batch-1 decode rate; logits within ~1e-2);\n"
    "                         bf16-act: also rounds the activations of products over 16 rows (prefill) to\n"
    "                         bf16, as llama.cpp does (about 2x bf16's prefill on a CPU with AVX512_BF16)\n";

typedef struct {
    const char *model, *prompt, *prompts, *system, *template_file;
    int chat, n;
    ilr_device device;
    ilr_gen_weights weights;
    const char *stops[16];
    int num_stops;
    ilr_gen_options gen;
    int have_temperature, have_top_k, have_top_p;
} generate_options;

static int parse_float(const char *option, const char *text, float *out) {
    char *end;
    *out = strtof(text, &end);
    return *end || end == text ? ilr_cli_usage_error("generate", "%s takes a number, not '%s'", option, text) : 0;
}

static int parse_generate(int argc, char **argv, generate_options *o) {
    static const struct option longopts[] = {
        {"model", required_argument, 0, 'm'}, {"prompt", required_argument, 0, 'p'}, {"prompts", required_argument, 0, 'P'},
        {"chat", no_argument, 0, 'c'}, {"system", required_argument, 0, 'S'}, {"chat-template", required_argument, 0, 'C'},
        {"n", required_argument, 0, 'n'}, {"temperature", required_argument, 0, 't'}, {"top-k", required_argument, 0, 'k'},
        {"top-p", required_argument, 0, 'q'}, {"min-p", required_argument, 0, 'M'},
        {"max-new-tokens", required_argument, 0, 'x'}, {"stop", required_argument, 0, 's'},
        {"ignore-eos", no_argument, 0, 'i'}, {"seed", required_argument, 0, 'e'}, {"device", required_argument, 0, 'D'},
        {"weights", required_argument, 0, 'W'}, {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    long long v;
    optind = 0;
    opterr = 0;
    for (int c; (c = getopt_long(argc, argv, "h", longopts, NULL)) != -1;) {
        int rc = 0;
        switch (c) {
        case 'h': return printf("%s", generate_help), -1;
        case 'm': o->model = optarg; break;
        case 'p': o->prompt = optarg; break;
        case 'P': o->prompts = optarg; break;
        case 'c': o->chat = 1; break;
        case 'S': o->system = optarg; break;
        case 'C': o->template_file = optarg; break;
        case 'n': rc = ilr_cli_parse_long("generate", "--n", optarg, 1, 4096, &v), o->n = (int)v; break;
        case 't': rc = parse_float("--temperature", optarg, &o->gen.sampler.temperature), o->have_temperature = 1; break;
        case 'k': rc = ilr_cli_parse_long("generate", "--top-k", optarg, 0, 1 << 24, &v), o->gen.sampler.top_k = (int)v, o->have_top_k = 1; break;
        case 'q': rc = parse_float("--top-p", optarg, &o->gen.sampler.top_p), o->have_top_p = 1; break;
        case 'M': rc = parse_float("--min-p", optarg, &o->gen.sampler.min_p); break;
        case 'x': rc = ilr_cli_parse_long("generate", "--max-new-tokens", optarg, 1, 1 << 20, &v), o->gen.max_new_tokens = (int)v; break;
        case 's':
            if (o->num_stops == 16) return ilr_cli_usage_error("generate", "at most 16 --stop strings");
            o->stops[o->num_stops++] = optarg;
            break;
        case 'i': o->gen.ignore_eos = 1; break;
        case 'D':
            if (ilr_device_parse(optarg, &o->device)) rc = ilr_cli_usage_error("generate", "--device: %s", ilr_last_error());
            break;
        case 'W':
            if (ilr_gen_weights_parse(optarg, &o->weights)) rc = ilr_cli_usage_error("generate", "--weights: %s", ilr_last_error());
            break;
        case 'e': rc = ilr_cli_parse_long("generate", "--seed", optarg, 0, INT64_MAX, &v), o->gen.seed = (uint64_t)v; break;
        default: return ilr_cli_usage_error("generate", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
        if (rc) return rc;
    }
    if (optind != argc) return ilr_cli_usage_error("generate", "unexpected argument '%s'", argv[optind]);
    if (!o->model) return ilr_cli_usage_error("generate", "--model DIR is required");
    if (!o->prompt == !o->prompts) return ilr_cli_usage_error("generate", "give exactly one of --prompt and --prompts");
    return 0;
}

/* Sampling defaults from generation_config.json, where the command line did not set them. */
static void apply_generation_config(const ilr_model *m, generate_options *o) {
    const json_t *gc = m->generation_config;
    if (!o->have_temperature && json_is_number(json_object_get(gc, "temperature")))
        o->gen.sampler.temperature = (float)json_number_value(json_object_get(gc, "temperature"));
    if (!o->have_temperature && json_is_false(json_object_get(gc, "do_sample"))) o->gen.sampler.temperature = 0;
    if (!o->have_top_k && json_is_integer(json_object_get(gc, "top_k")))
        o->gen.sampler.top_k = (int)json_integer_value(json_object_get(gc, "top_k"));
    if (!o->have_top_p && json_is_number(json_object_get(gc, "top_p")))
        o->gen.sampler.top_p = (float)json_number_value(json_object_get(gc, "top_p"));
}

typedef struct {
    const generate_options *opt;
    const ilr_tokenizer *tok;
    const ilr_chat_template *tmpl;
    int vocab;
    int **ids;
    int *lens, n, cap;
} prompt_list;

static int add_prompt(prompt_list *p, int *ids, int len) {
    if (p->n == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 16;
        p->ids = realloc(p->ids, sizeof(int *) * (size_t)p->cap);
        p->lens = realloc(p->lens, sizeof(int) * (size_t)p->cap);
        if (!p->ids || !p->lens) return ILR_FAIL(ILR_ENOMEM, "out of memory");
    }
    p->ids[p->n] = ids;
    p->lens[p->n++] = len;
    return 0;
}

/* Renders messages with the chat template (and a generation prompt) and encodes them. */
static int encode_messages(prompt_list *p, const ilr_chat_message *m, int n, const char *name) {
    if (!p->tmpl) return ILR_FAIL(ILR_ENOTFOUND, "%s: chat messages need a chat template (tokenizer_config.json or --chat-template)", name);
    char *text;
    size_t len;
    int rc = ilr_chat_render(p->tmpl, m, n, ILR_CHAT_GENERATION, &text, &len);
    ilr_tok_ids ids = {0};
    if (!rc) rc = ilr_tok_encode(p->tok, text, len, ILR_TOK_SPECIAL, &ids);
    if (!rc) rc = add_prompt(p, ids.ids, ids.count);
    else ilr_tok_ids_free(&ids);
    free(text);
    return rc;
}

static int add_text_prompt(prompt_list *p, const char *text, size_t len, const char *name) {
    if (!p->tok) return ILR_FAIL(ILR_ENOTFOUND, "%s: a text prompt needs the model's tokenizer.json", name);
    if (p->opt->chat) {
        ilr_chat_message m[2] = {{"system", p->opt->system, NULL}, {"user", text, NULL}};
        return p->opt->system ? encode_messages(p, m, 2, name) : encode_messages(p, m + 1, 1, name);
    }
    ilr_tok_ids ids = {0};
    int rc = ilr_tok_encode(p->tok, text, len, ILR_TOK_SPECIAL | ILR_TOK_ADD_SPECIAL, &ids);
    if (!rc && ids.count == 0) rc = ILR_FAIL(ILR_EINVAL, "%s: the prompt is empty", name);
    if (!rc) rc = add_prompt(p, ids.ids, ids.count);
    else ilr_tok_ids_free(&ids);
    return rc;
}

static int prompt_line(json_t *line, int line_number, const char *name, void *user) {
    (void)line_number;
    prompt_list *p = user;
    const json_t *text = json_object_get(line, "text"), *msgs = json_object_get(line, "messages");
    if (json_is_string(text)) return add_text_prompt(p, json_string_value(text), json_string_length(text), name);
    if (json_is_array(msgs)) {
        int n = (int)json_array_size(msgs);
        ilr_chat_message *m = calloc((size_t)n + 1, sizeof *m);
        for (int i = 0; i < n; i++) {
            m[i].role = json_string_value(json_object_get(json_array_get(msgs, (size_t)i), "role"));
            m[i].content = json_string_value(json_object_get(json_array_get(msgs, (size_t)i), "content"));
        }
        int rc = encode_messages(p, m, n, name);
        free(m);
        return rc;
    }
    int *ids, n;
    int rc = ilr_json_get_token_ids(line, "ids", name, p->vocab, &ids, &n);
    if (!rc && n == 0) rc = ILR_FAIL(ILR_EINVAL, "%s: \"ids\" is empty", name);
    return rc ? ilr_error_prefix("expected \"text\", \"messages\" or \"ids\"") : add_prompt(p, ids, n);
}

static void print_output(int prompt, int sample, const ilr_gen_output *o) {
    json_t *ids = json_array(), *lps = json_array();
    for (int i = 0; i < o->count; i++) {
        json_array_append_new(ids, json_integer(o->ids[i]));
        json_array_append_new(lps, json_real(o->logprobs[i]));
    }
    json_t *line = json_pack("{s:i, s:i, s:o, s:s%, s:o, s:s}", "prompt", prompt, "sample", sample, "ids", ids, "text",
                             o->text ? o->text : "", o->text ? o->text_len : (size_t)0, "logprobs", lps, "stop",
                             ilr_stop_reason_name(o->reason));
    char *s = json_dumps(line, JSON_COMPACT | JSON_REAL_PRECISION(7));
    printf("%s\n", s);
    free(s);
    json_decref(line);
}

int ilr_cmd_generate(int argc, char **argv) {
    generate_options o = {.n = 1, .gen = {.sampler = {1.0f, 0, 1.0f, 0.0f}, .max_new_tokens = 256, .seed = 1}};
    int rc = parse_generate(argc, argv, &o);
    if (rc) return rc < 0 ? 0 : rc;
    ilr_model m;
    if (ilr_model_load(&m, o.model)) return ilr_cli_fail("generate");
    apply_generation_config(&m, &o);
    o.gen.stop_strings = o.stops;
    o.gen.num_stop_strings = o.num_stops;
    ilr_tokenizer *tok = NULL;
    ilr_chat_template *tmpl = NULL;
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer.json", o.model);
    FILE *probe = fopen(path, "r");
    if (probe) fclose(probe), rc = ilr_tok_load(&tok, o.model);
    if (!rc && o.template_file) rc = ilr_chat_template_parse_file(&tmpl, o.template_file);
    else if (!rc && tok && o.chat) rc = ilr_chat_template_load(&tmpl, o.model);
    if (!rc && !tmpl && tok) ilr_chat_template_load(&tmpl, o.model), ilr_error_clear(); /* for "messages" lines */
    prompt_list prompts = {.opt = &o, .tok = tok, .tmpl = tmpl, .vocab = m.config.vocab_size};
    if (!rc && o.prompt) rc = add_text_prompt(&prompts, o.prompt, strlen(o.prompt), "--prompt");
    if (!rc && o.prompts) rc = ilr_jsonl_read(o.prompts, prompt_line, &prompts);
    int max_len = 0;
    for (int i = 0; i < prompts.n; i++) max_len = prompts.lens[i] > max_len ? prompts.lens[i] : max_len;
    ilr_generator g;
    int wave = o.device == ILR_DEVICE_CUDA ? 64 : 8; /* prompts decoded together */
    int slots = o.n * (prompts.n < wave ? prompts.n : wave);
    ilr_gen_output *out = rc ? NULL : calloc((size_t)prompts.n * o.n, sizeof *out);
    if (!rc) rc = ilr_gen_init_on(&g, &m, slots ? slots : 1, max_len + o.gen.max_new_tokens, o.device);
    if (!rc && (rc = ilr_gen_set_weights(&g, o.weights))) ilr_gen_free(&g);
    if (!rc) {
        rc = ilr_generate(&g, tok, (const int *const *)prompts.ids, prompts.lens, prompts.n, o.n, &o.gen, out);
        for (int i = 0; !rc && i < prompts.n * o.n; i++) print_output(i / o.n, i % o.n, &out[i]);
        ilr_gen_free(&g);
    }
    for (int i = 0; out && i < prompts.n * o.n; i++) ilr_gen_output_free(&out[i]);
    for (int i = 0; i < prompts.n; i++) free(prompts.ids[i]);
    free(out), free(prompts.ids), free(prompts.lens);
    ilr_chat_template_free(tmpl);
    ilr_tok_free(tok);
    ilr_model_free(&m);
    return rc ? ilr_cli_fail("generate") : 0;
}
