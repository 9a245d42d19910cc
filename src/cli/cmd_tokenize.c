/* ilr tokenize: text to ids or pieces, and ids back to text. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ilr/error.h"
#include "ilr/io.h"
#include "ilr/tokenizer.h"

static const char tokenize_help[] =
    "usage: ilr tokenize --model DIR [--ids | --pieces] [--special] [--add-special] (TEXT | --file F)\n"
    "       ilr tokenize --model DIR --decode [--skip-special] ID...\n\n"
    "Encodes TEXT (or the whole file F as one text) with the model's tokenizer.json and prints the ids,\n"
    "space-separated on one line (--ids, the default), or one piece per line with its id (--pieces).\n"
    "--decode turns ids back into text.  DIR may be a model directory or one holding only tokenizer files.\n\n"
    "  --special        recognise special tokens written in the text (e.g. <|im_end|>), as Hugging Face\n"
    "                   does by default; without it they are encoded as ordinary text\n"
    "  --add-special    add the tokens the tokenizer's post-processor template adds (e.g. a BOS token)\n"
    "  --skip-special   with --decode: leave special tokens out of the text\n";

static int print_pieces(const ilr_tokenizer *t, const ilr_tok_ids *ids) {
    for (int i = 0; i < ids->count; i++) printf("%d\t%s\n", ids->ids[i], ilr_tok_piece(t, ids->ids[i]));
    return 0;
}

static int decode_args(const ilr_tokenizer *t, char **args, int n, int skip_special) {
    int *ids = malloc(sizeof(int) * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++) {
        long long v;
        if (ilr_cli_parse_long("tokenize", "--decode", args[i], 0, INT32_MAX, &v)) return free(ids), 2;
        ids[i] = (int)v;
    }
    char *text;
    size_t len;
    int rc = ilr_tok_decode(t, ids, n, skip_special ? ILR_TOK_SKIP_SPECIAL : 0, &text, &len);
    free(ids);
    if (rc) return ilr_cli_fail("tokenize");
    fwrite(text, 1, len, stdout);
    printf("\n");
    free(text);
    return 0;
}

int ilr_cmd_tokenize(int argc, char **argv) {
    static const struct option longopts[] = {
        {"model", required_argument, 0, 'm'}, {"file", required_argument, 0, 'f'}, {"ids", no_argument, 0, 'i'},
        {"pieces", no_argument, 0, 'p'}, {"special", no_argument, 0, 's'}, {"add-special", no_argument, 0, 'a'},
        {"decode", no_argument, 0, 'd'}, {"skip-special", no_argument, 0, 'k'}, {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *model = NULL, *file = NULL;
    int pieces = 0, decode = 0, skip_special = 0;
    unsigned flags = 0;
    optind = 0;
    opterr = 0;
    for (int c; (c = getopt_long(argc, argv, "h", longopts, NULL)) != -1;) {
        switch (c) {
        case 'h': return printf("%s", tokenize_help), 0;
        case 'm': model = optarg; break;
        case 'f': file = optarg; break;
        case 'i': pieces = 0; break;
        case 'p': pieces = 1; break;
        case 's': flags |= ILR_TOK_SPECIAL; break;
        case 'a': flags |= ILR_TOK_ADD_SPECIAL; break;
        case 'd': decode = 1; break;
        case 'k': skip_special = 1; break;
        default: return ilr_cli_usage_error("tokenize", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (!model) return ilr_cli_usage_error("tokenize", "--model DIR is required");
    if (!decode && !file && optind != argc - 1) return ilr_cli_usage_error("tokenize", "give one TEXT or --file F");
    ilr_tokenizer *t;
    if (ilr_tok_load(&t, model)) return ilr_cli_fail("tokenize");
    int rc = 0;
    if (decode) {
        rc = decode_args(t, argv + optind, argc - optind, skip_special);
    } else {
        char *text = NULL;
        size_t len = 0;
        if (file && ilr_file_read_all(file, &text, &len)) rc = ilr_cli_fail("tokenize");
        ilr_tok_ids ids = {0};
        const char *src = file ? text : argv[optind];
        if (!rc && ilr_tok_encode(t, src, file ? len : strlen(src), flags, &ids)) rc = ilr_cli_fail("tokenize");
        if (!rc && pieces) print_pieces(t, &ids);
        for (int i = 0; !rc && !pieces && i < ids.count; i++) printf("%s%d", i ? " " : "", ids.ids[i]);
        if (!rc && !pieces) printf("\n");
        ilr_tok_ids_free(&ids);
        free(text);
    }
    ilr_tok_free(t);
    return rc;
}
