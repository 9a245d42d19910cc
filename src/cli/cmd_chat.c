/* ilr chat: talk to a model in the terminal, the reply streamed token by token. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "ilr/chat.h"
#include "ilr/error.h"
#include "ilr/generate.h"
#include "ilr/rng.h"

static const char chat_help[] =
    "usage: ilr chat --model DIR [--system TEXT] [--chat-template FILE] [--temperature T] [--top-k K]\n"
    "                [--top-p P] [--min-p M] [--max-new-tokens N] [--context N] [--seed S]\n\n"
    "Reads one user message per line from standard input and streams the model's reply as it is\n"
    "generated (never a broken character).  The whole conversation is rendered with the chat template\n"
    "each turn.  /reset starts over; an empty line or end of input ends the chat.\n\n"
    "  --context N   tokens of conversation kept (default: min(max_position_embeddings, 4096))\n"
    "  (other options as for `ilr generate`; defaults: temperature 0.7, top-p 0.95, 512 new tokens)\n";

typedef struct {
    ilr_chat_message *messages;
    int count, cap;
} conversation;

static int add_message(conversation *c, const char *role, const char *content) {
    if (c->count == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 16;
        ilr_chat_message *m = realloc(c->messages, sizeof *m * (size_t)c->cap);
        if (!m) return ILR_FAIL(ILR_ENOMEM, "out of memory");
        c->messages = m;
    }
    char *copy = strdup(content);
    if (!copy) return ILR_FAIL(ILR_ENOMEM, "out of memory");
    c->messages[c->count++] = (ilr_chat_message){role, copy, NULL};
    return 0;
}

static void clear_conversation(conversation *c, int keep) {
    for (int i = keep; i < c->count; i++) free((char *)c->messages[i].content);
    c->count = keep;
}

/* Renders and prefills the conversation, then samples and prints the reply; appends it to c. */
static int reply(ilr_generator *g, const ilr_tokenizer *tok, const ilr_chat_template *tmpl, conversation *c,
                 const ilr_sampler_params *sp, int max_new, ilr_rng *rng, ilr_sampler_scratch *scratch, float *logits) {
    char *prompt;
    size_t len;
    int rc = ilr_chat_render(tmpl, c->messages, c->count, ILR_CHAT_GENERATION, &prompt, &len);
    ilr_tok_ids ids = {0};
    if (!rc) rc = ilr_tok_encode(tok, prompt, len, ILR_TOK_SPECIAL, &ids);
    free(prompt);
    if (!rc && ids.count + max_new > g->max_len)
        rc = ILR_FAIL(ILR_EINVAL, "the conversation (%d tokens) no longer fits the context of %d; /reset", ids.count, g->max_len);
    ilr_gen_reset_slot(g, 0);
    if (!rc) rc = ilr_gen_prefill(g, 0, ids.ids, ids.count, logits);
    ilr_tok_ids_free(&ids);
    char *text = calloc(1, 1), piece[1024];
    size_t text_len = 0;
    ilr_tok_stream stream;
    ilr_tok_stream_init(&stream);
    for (int step = 0; !rc && step < max_new; step++) {
        int id = ilr_sample(logits, g->model->config.vocab_size, sp, rng, scratch, NULL), slot = 0;
        if (ilr_model_is_eos(g->model, id) || ilr_tok_is_special(tok, id)) break;
        int n = ilr_tok_stream_push(tok, &stream, id, piece, sizeof piece);
        if (n < 0) rc = n;
        char *grown = n > 0 ? realloc(text, text_len + (size_t)n + 1) : text;
        if (!grown) rc = ILR_FAIL(ILR_ENOMEM, "out of memory");
        if (rc) break;
        text = grown;
        memcpy(text + text_len, piece, (size_t)n);
        text[text_len += (size_t)n] = 0;
        fwrite(piece, 1, (size_t)n, stdout);
        fflush(stdout);
        if (step + 1 < max_new) rc = ilr_gen_forward(g, &slot, &id, 1, NULL, logits);
    }
    printf("\n");
    if (!rc) rc = add_message(c, "assistant", text);
    free(text);
    return rc;
}

int ilr_cmd_chat(int argc, char **argv) {
    static const struct option longopts[] = {
        {"model", required_argument, 0, 'm'}, {"system", required_argument, 0, 'S'}, {"chat-template", required_argument, 0, 'C'},
        {"temperature", required_argument, 0, 't'}, {"top-k", required_argument, 0, 'k'}, {"top-p", required_argument, 0, 'q'},
        {"min-p", required_argument, 0, 'M'}, {"max-new-tokens", required_argument, 0, 'x'}, {"context", required_argument, 0, 'c'},
        {"seed", required_argument, 0, 'e'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *model = NULL, *system = NULL, *template_file = NULL;
    ilr_sampler_params sp = {0.7f, 0, 0.95f, 0.0f};
    long long max_new = 512, context = 0, seed = 1, v;
    optind = 0;
    opterr = 0;
    for (int c; (c = getopt_long(argc, argv, "h", longopts, NULL)) != -1;) {
        int rc = 0;
        char *end = NULL;
        switch (c) {
        case 'h': return printf("%s", chat_help), 0;
        case 'm': model = optarg; break;
        case 'S': system = optarg; break;
        case 'C': template_file = optarg; break;
        case 't': sp.temperature = strtof(optarg, &end), rc = *end ? 2 : 0; break;
        case 'q': sp.top_p = strtof(optarg, &end), rc = *end ? 2 : 0; break;
        case 'M': sp.min_p = strtof(optarg, &end), rc = *end ? 2 : 0; break;
        case 'k': rc = ilr_cli_parse_long("chat", "--top-k", optarg, 0, 1 << 24, &v), sp.top_k = (int)v; break;
        case 'x': rc = ilr_cli_parse_long("chat", "--max-new-tokens", optarg, 1, 1 << 20, &max_new); break;
        case 'c': rc = ilr_cli_parse_long("chat", "--context", optarg, 16, 1 << 20, &context); break;
        case 'e': rc = ilr_cli_parse_long("chat", "--seed", optarg, 0, INT64_MAX, &seed); break;
        default: return ilr_cli_usage_error("chat", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
        if (rc) return rc == 2 ? ilr_cli_usage_error("chat", "'%s' is not a number", optarg) : rc;
    }
    if (!model) return ilr_cli_usage_error("chat", "--model DIR is required");
    if (ilr_sampler_params_check(&sp)) return ilr_cli_usage_error("chat", "%s", ilr_last_error());
    ilr_model m;
    if (ilr_model_load(&m, model)) return ilr_cli_fail("chat");
    ilr_tokenizer *tok = NULL;
    ilr_chat_template *tmpl = NULL;
    ilr_generator g = {0};
    ilr_sampler_scratch scratch = {0};
    int V = m.config.vocab_size, rc = ilr_tok_load(&tok, model);
    if (!rc) rc = template_file ? ilr_chat_template_parse_file(&tmpl, template_file) : ilr_chat_template_load(&tmpl, model);
    if (!context) context = m.config.max_position_embeddings < 4096 ? m.config.max_position_embeddings : 4096;
    if (!rc) rc = ilr_gen_init(&g, &m, 1, (int)context);
    float *logits = malloc(sizeof(float) * (size_t)V);
    if (!rc) rc = ilr_sampler_scratch_init(&scratch, V);
    conversation c = {0};
    if (!rc && system) rc = add_message(&c, "system", system);
    int keep = c.count, interactive = isatty(STDIN_FILENO);
    ilr_rng rng;
    ilr_rng_init(&rng, (uint64_t)seed, 0);
    char *line = NULL;
    size_t cap = 0;
    while (!rc) {
        if (interactive) fprintf(stderr, "> "), fflush(stderr);
        ssize_t n = getline(&line, &cap, stdin);
        if (n <= 0) break;
        line[strcspn(line, "\r\n")] = 0;
        if (!line[0]) break;
        if (!strcmp(line, "/reset")) {
            clear_conversation(&c, keep);
            continue;
        }
        rc = add_message(&c, "user", line);
        if (!rc) rc = reply(&g, tok, tmpl, &c, &sp, (int)max_new, &rng, &scratch, logits);
    }
    free(line);
    clear_conversation(&c, 0);
    free(c.messages);
    free(logits);
    ilr_sampler_scratch_free(&scratch);
    if (g.model) ilr_gen_free(&g);
    ilr_chat_template_free(tmpl);
    ilr_tok_free(tok);
    ilr_model_free(&m);
    return rc ? ilr_cli_fail("chat") : 0;
}
