/* ilr score: the log-probability of every token of each input line given the tokens before it. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ilr/error.h"
#include "ilr/io.h"
#include "ilr/json.h"
#include "ilr/tokenizer.h"
#include "ilr/transformer.h"

static const char score_help[] =
    "usage: ilr score --model DIR --input FILE.jsonl [--batch N]\n\n"
    "For each line {\"ids\": [token ids]} or {\"text\": \"...\"} of FILE.jsonl prints one JSON line\n"
    "  {\"line\": L, \"tokens\": n, \"sum\": S, \"mean\": S/(n-1), \"logprobs\": [n-1 values]}\n"
    "where logprobs[i] = log p(ids[i+1] | ids[0..i]) under the model (fp32, CPU).  Use it for perplexity\n"
    "(exp(-mean)), answer scoring, or to check ilr against another implementation.\n"
    "Text is encoded with DIR's tokenizer.json as transformers' tokenizer(text) does (special tokens in\n"
    "the text recognised, the post-processor's BOS added if the tokenizer has one).\n\n"
    "  --model DIR    a Hugging Face model directory (Qwen2/Qwen2.5 or Llama-3)\n"
    "  --input FILE   JSON lines; `-` reads standard input\n"
    "  --batch N      sequences per forward pass (default 8)\n";

typedef struct {
    int **ids;
    int *counts, *line_numbers;
    int n, cap, vocab, max_len;
    const char *model_dir;
    ilr_tokenizer *tokenizer; /* loaded at the first "text" line */
} score_lines;

static int encode_text_line(score_lines *s, const json_t *text, const char *name, int **ids, int *count) {
    if (!json_is_string(text)) return ILR_FAIL(ILR_EFORMAT, "%s: \"text\" is not a string", name);
    if (!s->tokenizer) {
        char path[4096];
        if (ilr_path_join(path, sizeof path, s->model_dir, "tokenizer.json")) return ilr_last_error_code();
        if (!ilr_file_exists(path))
            return ILR_FAIL(ILR_ENOTFOUND, "%s: \"text\" needs a tokenizer, and %s has no tokenizer.json (give \"ids\")",
                            name, s->model_dir);
        if (ilr_tok_load(&s->tokenizer, s->model_dir)) return ilr_last_error_code();
    }
    ilr_tok_ids out = {0};
    int rc = ilr_tok_encode(s->tokenizer, json_string_value(text), json_string_length(text),
                            ILR_TOK_SPECIAL | ILR_TOK_ADD_SPECIAL, &out);
    for (int i = 0; !rc && i < out.count; i++)
        if (out.ids[i] >= s->vocab)
            rc = ILR_FAIL(ILR_EMISMATCH, "%s: the tokenizer gives id %d but the model's vocabulary has %d entries", name,
                          out.ids[i], s->vocab);
    if (rc) return ilr_tok_ids_free(&out), rc;
    *ids = out.ids;
    *count = out.count;
    return 0;
}

static int collect_line(json_t *line, int line_number, const char *name, void *user) {
    score_lines *s = user;
    int *ids, count;
    const json_t *text = json_object_get(line, "text");
    int rc = text && !json_object_get(line, "ids") ? encode_text_line(s, text, name, &ids, &count)
                                                   : ilr_json_get_token_ids(line, "ids", name, s->vocab, &ids, &count);
    if (rc) return rc;
    if (count < 1) return ILR_FAIL(ILR_EFORMAT, "%s: \"ids\" is empty", name);
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 64;
        s->ids = realloc(s->ids, sizeof(int *) * (size_t)s->cap);
        s->counts = realloc(s->counts, sizeof(int) * (size_t)s->cap);
        s->line_numbers = realloc(s->line_numbers, sizeof(int) * (size_t)s->cap);
    }
    s->ids[s->n] = ids;
    s->counts[s->n] = count;
    s->line_numbers[s->n++] = line_number;
    if (count > s->max_len) s->max_len = count;
    return 0;
}

static void print_scores(const ilr_transformer *tr, const score_lines *s, int first, int b, int T) {
    int n = s->counts[first + b];
    double sum = 0;
    printf("{\"line\": %d, \"tokens\": %d, ", s->line_numbers[first + b], n);
    for (int t = 0; t + 1 < n; t++) sum += tr->logprob[b * T + t];
    printf("\"sum\": %.9g, \"mean\": %.9g, \"logprobs\": [", sum, n > 1 ? sum / (n - 1) : 0.0);
    for (int t = 0; t + 1 < n; t++) printf("%s%.9g", t ? ", " : "", tr->logprob[b * T + t]);
    printf("]}\n");
}

static int score_all(ilr_model *m, const score_lines *s, int batch) {
    ilr_transformer tr;
    int B = batch < s->n ? batch : s->n, T = s->max_len;
    int rc = ilr_transformer_init_forward_only(&tr, m, B, T); /* no backward: one layer's activations, no gradients */
    if (rc) return rc;
    int *tokens = calloc((size_t)B * T, sizeof(int)), *targets = malloc(sizeof(int) * (size_t)B * T);
    int *lengths = malloc(sizeof(int) * (size_t)B);
    for (int first = 0; first < s->n; first += B) {
        int nb = s->n - first < B ? s->n - first : B;
        for (int b = 0; b < nb; b++) {
            lengths[b] = s->counts[first + b];
            memcpy(tokens + (size_t)b * T, s->ids[first + b], sizeof(int) * (size_t)lengths[b]);
        }
        ilr_next_token_targets(targets, tokens, lengths, nb, T);
        ilr_transformer_forward(&tr, tokens, lengths, targets, nb, T);
        for (int b = 0; b < nb; b++) print_scores(&tr, s, first, b, T);
        fflush(stdout);
    }
    free(tokens);
    free(targets);
    free(lengths);
    ilr_transformer_free(&tr);
    return 0;
}

int ilr_cmd_score(int argc, char **argv) {
    static const struct option longopts[] = {{"model", required_argument, 0, 'm'}, {"input", required_argument, 0, 'i'},
                                              {"batch", required_argument, 0, 'b'}, {"help", no_argument, 0, 'h'},
                                              {0, 0, 0, 0}};
    const char *model_dir = NULL, *input = NULL;
    long long batch = 8;
    optind = 0;
    opterr = 0;
    for (int c; (c = getopt_long(argc, argv, "h", longopts, NULL)) != -1;) {
        if (c == 'h') return printf("%s", score_help), 0;
        if (c == 'm') model_dir = optarg;
        else if (c == 'i') input = optarg;
        else if (c == 'b') {
            if (ilr_cli_parse_long("score", "--batch", optarg, 1, 4096, &batch)) return 2;
        } else return ilr_cli_usage_error("score", "unknown or incomplete option '%s'", argv[optind - 1]);
    }
    if (!model_dir || !input) return ilr_cli_usage_error("score", "--model and --input are required");
    if (optind != argc) return ilr_cli_usage_error("score", "unexpected argument '%s'", argv[optind]);
    ilr_model m;
    if (ilr_model_load(&m, model_dir)) return ilr_cli_fail("score");
    score_lines s = {.vocab = m.config.vocab_size, .model_dir = model_dir};
    int rc = ilr_jsonl_read(strcmp(input, "-") == 0 ? "/dev/stdin" : input, collect_line, &s);
    if (!rc && s.n == 0) rc = ILR_FAIL(ILR_EFORMAT, "%s: no lines to score", input);
    if (!rc) rc = score_all(&m, &s, (int)batch);
    for (int i = 0; i < s.n; i++) free(s.ids[i]);
    free(s.ids);
    free(s.counts);
    free(s.line_numbers);
    ilr_tok_free(s.tokenizer);
    ilr_model_free(&m);
    return rc ? ilr_cli_fail("score") : 0;
}
