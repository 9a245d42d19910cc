/* ilr tokenizer train: learn a byte-level BPE tokenizer from text files. */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ilr/error.h"
#include "ilr/json.h"
#include "ilr/timer.h"
#include "ilr/tokenizer_train.h"

static const char tokenizer_help[] =
    "usage: ilr tokenizer train --vocab-size N --out DIR [OPTIONS] CORPUS...\n\n"
    "Tokenizer tools.  Subcommands:\n"
    "  train     learn a byte-level BPE tokenizer from text files (`ilr tokenizer train --help`)\n";

static const char train_help[] =
    "usage: ilr tokenizer train --vocab-size N --out DIR [--min-frequency F] [--special TOKEN]...\n"
    "                           [--regex qwen2|llama3|gpt2] [--nfc] [--max-token-bytes B]\n"
    "                           [--jsonl FIELD[,FIELD...]] CORPUS...\n\n"
    "Learns a byte-level BPE tokenizer from the CORPUS files (each read as one UTF-8 text) as Hugging Face\n"
    "tokenizers' BpeTrainer does, and writes DIR/tokenizer.json and DIR/tokenizer_config.json, which ilr and\n"
    "Hugging Face loaders read with identical ids.  The vocabulary starts with the 256 bytes and grows by\n"
    "merging the most frequent adjacent pair of tokens (ties: the smaller ids first) until it has N entries\n"
    "or no pair occurs F times.  Special tokens get the ids after the vocabulary; where they appear in the\n"
    "corpus they separate the text and are not learned.\n\n"
    "  --vocab-size N       the whole vocabulary: 256 bytes + merges + special tokens (required)\n"
    "  --out DIR            where to write the files (created if missing; existing files are replaced)\n"
    "  --min-frequency F    merge only pairs that occur at least F times (default 2)\n"
    "  --special TOKEN      a special token, e.g. <|endoftext|>; repeat for more; the first is the EOS token\n"
    "  --regex NAME         the pre-tokenizer: qwen2 (the default; digits one at a time), llama3 (digits in\n"
    "                       groups of up to 3) or gpt2\n"
    "  --nfc                normalise text to NFC first (as Qwen2/Qwen3 do)\n"
    "  --max-token-bytes B  no token longer than B bytes (default 256, at most 500)\n"
    "  --jsonl FIELDS       the CORPUS files are JSONL: learn from these string fields of each line (e.g.\n"
    "                       prompt,response), each a text of its own; a line without one is an error\n\n"
    "example: ilr tokenizer train --vocab-size 8192 --special '<|endoftext|>' --special '<|im_start|>' \\\n"
    "           --special '<|im_end|>' --nfc --out tok/ data/*.txt\n";

static void print_summary(const ilr_tok_train_stats *st, const ilr_tok_train_options *opt, const char *out) {
    char count_time[32], merge_time[32], size[32];
    ilr_format_duration(st->count_seconds, count_time, sizeof count_time);
    ilr_format_duration(st->merge_seconds, merge_time, sizeof merge_time);
    ilr_format_bytes((double)st->bytes, size, sizeof size);
    printf("counted %lld words (%lld distinct) in %s of text in %s (%.1f MB/s)\n", (long long)st->words,
           (long long)st->distinct_words, size, count_time,
           st->count_seconds > 0 ? (double)st->bytes / st->count_seconds / 1e6 : 0.0);
    printf("learned %d merges in %s (%.0f merges/s); the last merged pair occurred %lld times\n", st->merges,
           merge_time, st->merge_seconds > 0 ? st->merges / st->merge_seconds : 0.0, (long long)st->last_count);
    if (st->stopped_by_frequency)
        printf("stopped early: no pair occurs %lld times or more (vocabulary %d of the %d asked for)\n",
               (long long)(opt->min_frequency ? opt->min_frequency : 2), st->vocab_size, opt->vocab_size);
    printf("vocabulary: %d tokens (256 bytes + %d merged + %d special); wrote %s/tokenizer.json and "
           "%s/tokenizer_config.json\n",
           st->vocab_size, st->vocab_size - 256 - opt->num_specials, opt->num_specials, out, out);
}

typedef struct {
    ilr_tok_trainer *trainer;
    char fields[8][64];
    int num_fields;
} jsonl_feed;

static int feed_line(json_t *line, int line_number, const char *name, void *user) {
    jsonl_feed *f = user;
    (void)line_number;
    for (int i = 0; i < f->num_fields; i++) {
        const char *text;
        if (ilr_json_get_string(line, f->fields[i], 1, name, &text)) return ilr_last_error_code();
        int rc = ilr_tok_trainer_feed(f->trainer, text, strlen(text));
        if (rc) return rc;
    }
    return 0;
}

/* "a,b" into f->fields; usage error when empty or too many. */
static int parse_fields(const char *cmd, const char *list, jsonl_feed *f) {
    f->num_fields = 0;
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ",");
        if (n == 0 || n >= sizeof f->fields[0] || f->num_fields == 8)
            return ilr_cli_usage_error(cmd, "--jsonl takes 1 to 8 comma-separated field names, not '%s'", list);
        memcpy(f->fields[f->num_fields], p, n);
        f->fields[f->num_fields++][n] = 0;
        p += n + (p[n] == ',');
    }
    return f->num_fields ? 0 : ilr_cli_usage_error(cmd, "--jsonl needs at least one field name");
}

static int feed_corpus(ilr_tok_trainer *t, const char *const *files, int n, jsonl_feed *jsonl) {
    if (!jsonl->num_fields) return ilr_tok_trainer_feed_files(t, files, n);
    jsonl->trainer = t;
    for (int i = 0; i < n; i++) {
        int rc = ilr_jsonl_read(files[i], feed_line, jsonl);
        if (rc) return rc;
    }
    return 0;
}

static int tokenizer_train(int argc, char **argv) {
    static const struct option longopts[] = {
        {"vocab-size", required_argument, 0, 'v'}, {"out", required_argument, 0, 'o'},
        {"min-frequency", required_argument, 0, 'f'}, {"special", required_argument, 0, 's'},
        {"regex", required_argument, 0, 'r'}, {"nfc", no_argument, 0, 'n'},
        {"max-token-bytes", required_argument, 0, 'b'}, {"jsonl", required_argument, 0, 'j'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    jsonl_feed jsonl = {0};
    const char *cmd = "tokenizer train", *out = NULL;
    ilr_tok_train_options opt = {.min_frequency = 2, .progress = 1};
    const char **specials = calloc((size_t)argc + 1, sizeof *specials);
    long long v = 0;
    int have_vocab = 0, rc = specials ? 0 : (fprintf(stderr, "ilr %s: out of memory\n", cmd), 1);
    optind = 0;
    opterr = 0;
    for (int c; !rc && (c = getopt_long(argc, argv, "h", longopts, NULL)) != -1;) {
        switch (c) {
        case 'h': free(specials); return printf("%s", train_help), 0;
        case 'v':
            if (!(rc = ilr_cli_parse_long(cmd, "--vocab-size", optarg, 1, 1 << 24, &v)))
                opt.vocab_size = (int)v, have_vocab = 1;
            break;
        case 'o': out = optarg; break;
        case 'f':
            if (!(rc = ilr_cli_parse_long(cmd, "--min-frequency", optarg, 1, INT64_MAX, &v))) opt.min_frequency = v;
            break;
        case 's': specials[opt.num_specials++] = optarg; break;
        case 'r':
            if (ilr_tok_regex_parse(optarg, &opt.regex)) rc = ilr_cli_usage_error(cmd, "%s", ilr_last_error());
            break;
        case 'n': opt.nfc = 1; break;
        case 'j': rc = parse_fields(cmd, optarg, &jsonl); break;
        case 'b':
            if (!(rc = ilr_cli_parse_long(cmd, "--max-token-bytes", optarg, 2, 500, &v))) opt.max_token_bytes = (int)v;
            break;
        default: rc = ilr_cli_usage_error(cmd, "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (!rc && !have_vocab) rc = ilr_cli_usage_error(cmd, "--vocab-size N is required");
    if (!rc && !out) rc = ilr_cli_usage_error(cmd, "--out DIR is required");
    if (!rc && optind >= argc) rc = ilr_cli_usage_error(cmd, "give at least one CORPUS file");
    opt.specials = specials;
    ilr_tok_trainer *t = NULL;
    ilr_tok_train_stats st;
    const char *const *corpus = (const char *const *)argv + optind;
    if (!rc && (ilr_tok_trainer_new(&t, &opt) || feed_corpus(t, corpus, argc - optind, &jsonl) ||
                ilr_tok_trainer_run(t, &st) || ilr_tok_trainer_save(t, out)))
        rc = ilr_cli_fail(cmd);
    if (!rc) print_summary(&st, &opt, out);
    ilr_tok_trainer_free(t);
    free(specials);
    return rc;
}

int ilr_cmd_tokenizer(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "train") == 0) return tokenizer_train(argc - 1, argv + 1);
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) return printf("%s", tokenizer_help), 0;
    return ilr_cli_usage_error("tokenizer", "expected a subcommand: train");
}
