/* BPE training (ilr/tokenizer_train.h, `ilr tokenizer train`): the merges on hand-made corpora, Hugging
 * Face's tie order, byte-identical re-training of the committed tokenizers in tests/data/tokenizer/trained/
 * (made by tests/fixtures/tokenizer/check_trained.mjs), ilr's ids against the reference ids of an
 * independent implementation (@lenml/tokenizers) on strings not in the corpus, round trips, compression,
 * special tokens, options and errors. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <utf8proc.h>

#include "../src/cli/cli.h"
#include "ilr/error.h"
#include "ilr/io.h"
#include "ilr/json.h"
#include "ilr/tokenizer.h"
#include "ilr/tokenizer_train.h"
#include "test_util.h"

#define TRAINED "tests/data/tokenizer/trained"

static const char *const configs[3] = {"qwen2", "llama3", "gpt2"};

/* Trains on text with the options; returns the trainer (after run). */
static ilr_tok_trainer *train_text(const ilr_tok_train_options *opt, const char *text, ilr_tok_train_stats *st) {
    ilr_tok_trainer *t;
    assert_int_equal(ilr_tok_trainer_new(&t, opt), 0);
    assert_int_equal(ilr_tok_trainer_feed(t, text, strlen(text)), 0);
    assert_int_equal(ilr_tok_trainer_run(t, st), 0);
    return t;
}

/* Asserts that the merges learned are exactly want ("left right" strings, pieces as in tokenizer.json). */
static void expect_merges(const ilr_tok_trainer *t, const char *const *want, int n) {
    if (ilr_tok_trainer_num_merges(t) != n) print_error("%d merges, want %d\n", ilr_tok_trainer_num_merges(t), n);
    assert_int_equal(ilr_tok_trainer_num_merges(t), n);
    for (int i = 0; i < n; i++) {
        int a, b, z;
        char got[256];
        ilr_tok_trainer_merge(t, i, &a, &b, &z);
        snprintf(got, sizeof got, "%s %s", ilr_tok_trainer_piece(t, a), ilr_tok_trainer_piece(t, b));
        if (strcmp(got, want[i])) print_error("merge %d: \"%s\", want \"%s\"\n", i, got, want[i]);
        assert_string_equal(got, want[i]);
        assert_int_equal(z, 256 + i); /* each merge made a new token, in order */
    }
}

/* "aaab" once, " aaab" twice, " ab" twice: (a,a) 6, (a,b) 5, then (aa,ab) 3, then (Ġ,ab) and (Ġ,aaab) tie at
 * 2.  Hugging Face breaks the tie by ids, (Ġ=220, ab=257) before (Ġ, aaab=258), although "Ġaaab" < "Ġab" as
 * strings.  (Hugging Face's own BpeTrainer gives exactly this list.) */
static void test_first_merges_by_hand(void **state) {
    (void)state;
    ilr_tok_train_options opt = {.vocab_size = 300};
    ilr_tok_train_stats st;
    ilr_tok_trainer *t = train_text(&opt, "aaab aaab aaab ab ab", &st);
    static const char *const want[] = {"a a", "a b", "aa ab", "Ġ ab", "Ġ aaab"};
    expect_merges(t, want, 5);
    assert_int_equal(st.words, 5);
    assert_int_equal(st.distinct_words, 3);
    assert_int_equal(st.merges, 5);
    assert_int_equal(st.vocab_size, 261);
    assert_int_equal(st.last_count, 2);
    assert_true(st.stopped_by_frequency); /* nothing left to merge: every word is one token */
    ilr_tok_trainer_free(t);

    opt.min_frequency = 3; /* (Ġ, ab) occurs twice: stop after the first three */
    t = train_text(&opt, "aaab aaab aaab ab ab", &st);
    expect_merges(t, want, 3);
    assert_true(st.stopped_by_frequency);
    ilr_tok_trainer_free(t);

    opt.min_frequency = 0, opt.vocab_size = 258; /* the vocabulary size stops it first */
    t = train_text(&opt, "aaab aaab aaab ab ab", &st);
    expect_merges(t, want, 2);
    assert_false(st.stopped_by_frequency);
    ilr_tok_trainer_free(t);
}

/* Three pairs with the same count: ordered by (left id, right id), a=64 b=65 x=87 y=88 Ġ=220. */
static void test_ties_by_id(void **state) {
    (void)state;
    ilr_tok_train_options opt = {.vocab_size = 259, .regex = ILR_TOK_REGEX_GPT2};
    ilr_tok_train_stats st;
    ilr_tok_trainer *t = train_text(&opt, "xy ab xy ab xy ab", &st);
    static const char *const want[] = {"a b", "x y", "Ġ ab"};
    expect_merges(t, want, 3);
    ilr_tok_trainer_free(t);
}

/* Ids 0..255 are the bytes in GPT-2's vocabulary order; digits stay apart under the Qwen2 regex and group
 * under Llama-3's; overlapping pairs ("aaaa": (a,a) three times) count as Hugging Face counts them. */
static void test_alphabet_and_regexes(void **state) {
    (void)state;
    ilr_tok_train_options opt = {.vocab_size = 400};
    ilr_tok_train_stats st;
    ilr_tok_trainer *t = train_text(&opt, "12 12 12 12", &st);
    assert_string_equal(ilr_tok_trainer_piece(t, 0), "!");
    assert_string_equal(ilr_tok_trainer_piece(t, 16), "1");
    assert_string_equal(ilr_tok_trainer_piece(t, 93), "~");
    assert_string_equal(ilr_tok_trainer_piece(t, 94), "¡");
    assert_string_equal(ilr_tok_trainer_piece(t, 188), "Ā"); /* byte 0 */
    assert_string_equal(ilr_tok_trainer_piece(t, 220), "Ġ"); /* space */
    assert_string_equal(ilr_tok_trainer_piece(t, 255), "Ń"); /* byte 0xad */
    assert_null(ilr_tok_trainer_piece(t, 5000));
    assert_int_equal(st.words, 11); /* 1 2 ␠ 1 2 ␠ ...: one digit per word, so nothing to merge */
    assert_int_equal(st.merges, 0);
    assert_true(st.stopped_by_frequency);
    ilr_tok_trainer_free(t);

    opt.regex = ILR_TOK_REGEX_LLAMA3;
    t = train_text(&opt, "12 12 12 12", &st);
    static const char *const llama[] = {"1 2"};
    assert_int_equal(st.words, 7); /* 12 ␠ 12 ␠ 12 ␠ 12 */
    expect_merges(t, llama, 1);
    ilr_tok_trainer_free(t);

    opt.regex = ILR_TOK_REGEX_GPT2, opt.min_frequency = 1;
    t = train_text(&opt, "aaaa", &st);
    static const char *const gpt2[] = {"a a", "aa aa"};
    expect_merges(t, gpt2, 2);
    assert_int_equal(st.last_count, 1);
    ilr_tok_trainer_free(t);
}

/* Parses the trainer's tokenizer.json with ilr's loader. */
static ilr_tokenizer *as_tokenizer(const ilr_tok_trainer *t) {
    char *json;
    size_t len;
    ilr_tokenizer *tok;
    assert_int_equal(ilr_tok_trainer_json(t, &json, &len), 0);
    assert_int_equal(json[len - 1], '\n');
    if (ilr_tok_parse(&tok, json, len, "trained")) print_error("%s\n", ilr_last_error());
    free(json);
    assert_non_null(tok);
    return tok;
}

/* Special tokens split the corpus and are never learned as text; they get the ids after the vocabulary. */
static void test_special_tokens(void **state) {
    (void)state;
    char text[4096] = "";
    for (int i = 0; i < 100; i++) strcat(text, i % 2 ? "hello<|endoftext|>" : "world<|im_end|>");
    const char *specials[] = {"<|endoftext|>", "<|im_end|>"};
    ilr_tok_train_options opt = {.vocab_size = 300, .specials = specials, .num_specials = 2};
    ilr_tok_train_stats st;
    ilr_tok_trainer *t = train_text(&opt, text, &st);
    ilr_tokenizer *tok = as_tokenizer(t);
    assert_int_equal(st.vocab_size, 256 + 8 + 2); /* hello and world take 4 merges each */
    assert_int_equal(ilr_tok_vocab_size(tok), 266);
    assert_int_equal(ilr_tok_id(tok, "<|endoftext|>"), 264);
    assert_int_equal(ilr_tok_id(tok, "<|im_end|>"), 265);
    assert_true(ilr_tok_is_special(tok, 264) && ilr_tok_is_special(tok, 265) && !ilr_tok_is_special(tok, 263));
    assert_string_equal(ilr_tok_trainer_piece(t, 265), "<|im_end|>");
    assert_int_equal(ilr_tok_id(tok, "endoftext"), -1); /* never seen as text */
    assert_int_equal(ilr_tok_id(tok, "im"), -1);
    int hello = ilr_tok_id(tok, "hello"), world = ilr_tok_id(tok, "world");
    assert_true(hello >= 256 && world >= 256 && hello < 264 && world < 264);
    const char *s = "hello<|endoftext|>world<|im_end|>";
    ilr_tok_ids ids = {0};
    assert_int_equal(ilr_tok_encode(tok, s, strlen(s), ILR_TOK_SPECIAL, &ids), 0);
    int want[] = {hello, 264, world, 265};
    assert_int_equal(ids.count, 4);
    assert_memory_equal(ids.ids, want, sizeof want);
    ilr_tok_ids_free(&ids);
    ilr_tok_free(tok);
    ilr_tok_trainer_free(t);

    opt.num_specials = 0; /* without them, the markers' text is learned */
    opt.vocab_size = 1000;
    t = train_text(&opt, text, &st);
    tok = as_tokenizer(t);
    assert_true(ilr_tok_id(tok, "endoftext") >= 256);
    ilr_tok_free(tok);
    ilr_tok_trainer_free(t);
}

/* No token grows past max_token_bytes. */
static void test_max_token_bytes(void **state) {
    (void)state;
    char text[8192] = "";
    for (int i = 0; i < 50; i++) strcat(text, " abcdefghijklmnopqrstuvwxyz");
    ilr_tok_train_options opt = {.vocab_size = 1000, .max_token_bytes = 5};
    ilr_tok_train_stats st;
    ilr_tok_trainer *t = train_text(&opt, text, &st);
    assert_in_range(st.merges, 10, 100);
    for (int id = 256; id < 256 + st.merges; id++) {
        size_t len = strlen(ilr_tok_trainer_piece(t, id)); /* ASCII letters and Ġ (2 bytes) */
        size_t bytes = len - (strncmp(ilr_tok_trainer_piece(t, id), "Ġ", 2) == 0);
        assert_in_range(bytes, 2, 5);
    }
    ilr_tok_trainer_free(t);
}

/* Invalid UTF-8 is counted as U+FFFD (as encoding treats it), NFC composes before counting. */
static void test_invalid_utf8_and_nfc(void **state) {
    (void)state;
    ilr_tok_train_options opt = {.vocab_size = 300, .nfc = 1};
    ilr_tok_train_stats st;
    ilr_tok_trainer *t = train_text(&opt, "\xff\xff \xff\xff caf" "e\xcc\x81 caf\xc3\xa9", &st);
    ilr_tokenizer *tok = as_tokenizer(t);
    assert_true(ilr_tok_id(tok, "ï¿½ï¿½") >= 256); /* U+FFFD U+FFFD as ByteLevel text, twice */
    assert_true(ilr_tok_id(tok, "ĠcafÃ©") >= 256);  /* " café", once composed and once written composed */
    ilr_tok_free(tok);
    ilr_tok_trainer_free(t);
}

/* Two runs on the same text give byte-identical tokenizer.json. */
static void test_deterministic(void **state) {
    (void)state;
    char *corpus, *json[2];
    size_t corpus_len, len[2];
    assert_int_equal(ilr_file_read_all(TRAINED "/corpus.txt", &corpus, &corpus_len), 0);
    const char *specials[] = {"<|endoftext|>"};
    ilr_tok_train_options opt = {.vocab_size = 2000, .specials = specials, .num_specials = 1, .nfc = 1};
    for (int run = 0; run < 2; run++) {
        ilr_tok_trainer *t;
        assert_int_equal(ilr_tok_trainer_new(&t, &opt), 0);
        assert_int_equal(ilr_tok_trainer_feed(t, corpus, corpus_len / 2), 0);
        assert_int_equal(ilr_tok_trainer_feed(t, corpus + corpus_len / 2, corpus_len - corpus_len / 2), 0);
        assert_int_equal(ilr_tok_trainer_run(t, NULL), 0);
        assert_int_equal(ilr_tok_trainer_json(t, &json[run], &len[run]), 0);
        ilr_tok_trainer_free(t);
    }
    assert_int_equal(len[0], len[1]);
    assert_memory_equal(json[0], json[1], len[0]);
    free(json[0]), free(json[1]), free(corpus);
}

/* ------------------------------------------------------------ the CLI ---- */

static char output[1 << 16];

/* Runs `ilr argv...` in this process with stdout and stderr captured into output. */
static int run_cli(int argc, char **argv) { return ilr_test_run_cli(output, sizeof output, argc, argv); }

/* RUN("tokenizer", "train", ...) */
#define RUN(...) ilr_test_cli(output, sizeof output, __VA_ARGS__, (const char *)NULL)

static void expect_output(const char *phrase) {
    if (!strstr(output, phrase)) print_error("output lacks \"%s\":\n%s\n", phrase, output);
    assert_non_null(strstr(output, phrase));
}

static void expect_same_file(const char *a, const char *b) {
    char *x, *y;
    size_t nx, ny;
    assert_int_equal(ilr_file_read_all(a, &x, &nx), 0);
    assert_int_equal(ilr_file_read_all(b, &y, &ny), 0);
    if (nx != ny || memcmp(x, y, nx)) print_error("%s differs from %s\n", a, b);
    assert_true(nx == ny && memcmp(x, y, nx) == 0);
    free(x), free(y);
}

/* Re-training each committed tokenizer on corpus.txt with the options meta.json records gives the committed
 * files byte for byte (so the reference ids below are ids of what this build trains). */
static void test_retrain_matches_committed(void **state) {
    (void)state;
    json_t *meta;
    assert_int_equal(ilr_json_load_file(TRAINED "/meta.json", &meta), 0);
    char dir[256];
    ilr_test_tmpdir(dir, "tok-train");
    for (int c = 0; c < 3; c++) {
        const json_t *args = json_object_get(json_object_get(json_object_get(meta, "tokenizers"), configs[c]), "args");
        assert_true(json_is_array(args) && json_array_size(args) < 20);
        char *argv[32] = {"ilr", "tokenizer", "train"}, out[300], mine[400], committed[400];
        int argc = 3;
        for (size_t i = 0; i < json_array_size(args); i++) argv[argc++] = (char *)json_string_value(json_array_get(args, i));
        snprintf(out, sizeof out, "%s/%s", dir, configs[c]);
        argv[argc++] = "--out", argv[argc++] = out, argv[argc++] = TRAINED "/corpus.txt", argv[argc] = NULL;
        if (run_cli(argc, argv) != 0) print_error("%s\n", output);
        expect_output("learned ");
        for (int f = 0; f < 2; f++) {
            const char *name = f ? "tokenizer_config.json" : "tokenizer.json";
            snprintf(mine, sizeof mine, "%s/%s", out, name);
            snprintf(committed, sizeof committed, TRAINED "/%s/%s", configs[c], name);
            expect_same_file(mine, committed);
        }
    }
    ilr_test_rmtree(dir);
    json_decref(meta);
}

typedef struct {
    const ilr_tokenizer *tok;
    int nfc, lines, mismatches, round_trip_failures;
    long long heldout_bytes, heldout_tokens;
} reference_check;

static int check_reference_line(json_t *line, int line_number, const char *name, void *user) {
    reference_check *c = user;
    const char *text = json_string_value(json_object_get(line, "text"));
    size_t len = json_string_length(json_object_get(line, "text"));
    int *want, n;
    if (!text || ilr_json_get_token_ids(line, "ids", name, 1 << 24, &want, &n)) return -1;
    ilr_tok_ids got = {0};
    int rc = ilr_tok_encode(c->tok, text, len, ILR_TOK_SPECIAL, &got);
    c->lines++;
    if (rc || got.count != n || (n && memcmp(got.ids, want, sizeof(int) * (size_t)n) != 0)) {
        if (c->mismatches++ < 5) {
            print_error("line %d \"%.50s\": %d ids, want %d;", line_number, text, got.count, n);
            for (int k = 0; k < got.count && k < 12; k++) print_error(" %d", got.ids[k]);
            print_error(" | want");
            for (int k = 0; k < n && k < 12; k++) print_error(" %d", want[k]);
            print_error("\n");
        }
    }
    char *back;
    size_t back_len;
    utf8proc_uint8_t *normal = NULL;
    utf8proc_ssize_t normal_len = c->nfc ? utf8proc_map((const utf8proc_uint8_t *)text, (utf8proc_ssize_t)len, &normal,
                                                        UTF8PROC_STABLE | UTF8PROC_COMPOSE) : (utf8proc_ssize_t)len;
    const char *expect = c->nfc ? (const char *)normal : text;
    if (ilr_tok_decode(c->tok, got.ids, got.count, ILR_TOK_NO_CLEANUP, &back, &back_len) ||
        back_len != (size_t)normal_len || memcmp(back, expect, back_len) != 0) {
        if (c->round_trip_failures++ < 3) print_error("line %d: decode(encode(s)) != s for \"%.50s\"\n", line_number, text);
    } else {
        free(back);
    }
    if (strcmp(json_string_value(json_object_get(line, "cat")), "heldout") == 0)
        c->heldout_bytes += (long long)len, c->heldout_tokens += got.count;
    free(normal);
    free(want);
    ilr_tok_ids_free(&got);
    return 0;
}

/* ilr's ids for ~120 strings not in the corpus (tokenizer fixtures, held-out documents, special tokens, edge
 * cases) equal @lenml/tokenizers' for all three committed tokenizers; decode(encode(s)) == s (NFC(s) for
 * the NFC one); held-out text takes well under one token per byte. */
static void test_reference_ids(void **state) {
    (void)state;
    static const int vocab[3] = {1024, 768, 600};
    static const double max_tokens_per_byte[3] = {0.40, 0.45, 0.50};
    for (int c = 0; c < 3; c++) {
        char dir[128], path[256];
        snprintf(dir, sizeof dir, TRAINED "/%s", configs[c]);
        snprintf(path, sizeof path, "%s/reference.jsonl", dir);
        ilr_tokenizer *tok;
        int rc = ilr_tok_load(&tok, dir);
        if (rc) print_error("%s\n", ilr_last_error());
        assert_int_equal(rc, 0);
        assert_int_equal(ilr_tok_vocab_size(tok), vocab[c]);
        reference_check check = {.tok = tok, .nfc = c == 0};
        assert_int_equal(ilr_jsonl_read(path, check_reference_line, &check), 0);
        double per_byte = (double)check.heldout_tokens / (double)check.heldout_bytes;
        print_message("%s: %d strings, %d mismatches, %d round-trip failures; held-out text %.3f tokens/byte\n",
                      configs[c], check.lines, check.mismatches, check.round_trip_failures, per_byte);
        assert_true(check.lines >= 100);
        assert_int_equal(check.mismatches, 0);
        assert_int_equal(check.round_trip_failures, 0);
        assert_true(check.heldout_bytes > 5000 && per_byte < max_tokens_per_byte[c]);
        ilr_tok_free(tok);
    }
}

/* --jsonl: the named string fields of each line are the texts; the same text as a plain corpus (one text per
 * field, so no pair spans two) gives the same merges. */
static void test_cli_jsonl_fields(void **state) {
    (void)state;
    char dir[256], jsonl[256], bad[256], a[300], b[300], tok_a[400], tok_b[400];
    ilr_test_tmpdir(dir, "tok-train-jsonl");
    const char *lines = "{\"prompt\": \"Compute 12+7.\\n\", \"response\": \"=19\\n\\\\boxed{19}\", \"level\": 1}\n"
                        "{\"prompt\": \"Compute 12+8.\\n\", \"response\": \"=20\\n\\\\boxed{20}\", \"level\": 1}\n";
    ilr_test_write_file(jsonl, dir, "data.jsonl", lines, strlen(lines));
    const char *texts[4] = {"Compute 12+7.\n", "=19\n\\boxed{19}", "Compute 12+8.\n", "=20\n\\boxed{20}"};
    char name[32];
    char *files[4];
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof name, "t%d.txt", i);
        files[i] = malloc(256);
        ilr_test_write_file(files[i], dir, name, texts[i], strlen(texts[i]));
    }
    snprintf(a, sizeof a, "%s/from-jsonl", dir);
    snprintf(b, sizeof b, "%s/from-text", dir);
    assert_int_equal(RUN("tokenizer", "train", "--vocab-size", "280", "--jsonl", "prompt,response", "--out", a, jsonl), 0);
    assert_int_equal(RUN("tokenizer", "train", "--vocab-size", "280", "--out", b, files[0], files[1], files[2], files[3]), 0);
    snprintf(tok_a, sizeof tok_a, "%s/tokenizer.json", a);
    snprintf(tok_b, sizeof tok_b, "%s/tokenizer.json", b);
    expect_same_file(tok_a, tok_b);
    const char *bad_lines = "{\"prompt\": \"x\", \"response\": \"y\"}\n{\"prompt\": \"x\"}\n";
    ilr_test_write_file(bad, dir, "bad.jsonl", bad_lines, strlen(bad_lines));
    assert_int_equal(RUN("tokenizer", "train", "--vocab-size", "280", "--jsonl", "prompt,response", "--out", a, bad), 1);
    expect_output("bad.jsonl:2");
    expect_output("'response'");
    assert_int_equal(RUN("tokenizer", "train", "--vocab-size", "280", "--jsonl", "prompt,,x", "--out", a, bad), 2);
    expect_output("--jsonl takes 1 to 8 comma-separated field names");
    for (int i = 0; i < 4; i++) free(files[i]);
    ilr_test_rmtree(dir);
}

static void test_cli_help_and_errors(void **state) {
    (void)state;
    assert_int_equal(RUN("tokenizer", "train", "--help"), 0);
    expect_output("usage: ilr tokenizer train");
    expect_output("--vocab-size");
    assert_int_equal(RUN("tokenizer", "--help"), 0);
    expect_output("train");
    assert_int_equal(RUN("help", "tokenizer"), 0);
    expect_output("usage: ilr tokenizer");
    assert_int_equal(RUN("tokenizer"), 2);
    expect_output("expected a subcommand");
    assert_int_equal(RUN("tokenizer", "train", "--out", "/tmp/x", "a.txt"), 2);
    expect_output("--vocab-size N is required");
    assert_int_equal(RUN("tokenizer", "train", "--vocab-size", "300", "a.txt"), 2);
    expect_output("--out DIR is required");
    assert_int_equal(RUN("tokenizer", "train", "--vocab-size", "300", "--out", "/tmp/x"), 2);
    expect_output("at least one CORPUS");
    assert_int_equal(RUN("tokenizer", "train", "--vocab-size", "lots", "--out", "/tmp/x", "a.txt"), 2);
    expect_output("--vocab-size takes an integer");
    assert_int_equal(RUN("tokenizer", "train", "--vocab-size", "300", "--regex", "bert", "--out", "/tmp/x", "a.txt"), 2);
    expect_output("unknown pre-tokenizer regex 'bert'");
    assert_int_equal(RUN("tokenizer", "train", "--vocab-size", "300", "--bogus", "--out", "/tmp/x", "a.txt"), 2);
    expect_output("unknown or incomplete option");

    char dir[256], corpus[256], empty[256], out[300];
    ilr_test_tmpdir(dir, "tok-train-cli");
    ilr_test_write_file(corpus, dir, "corpus.txt", "hello hello hello world world", 29);
    ilr_test_write_file(empty, dir, "empty.txt", "<|endoftext|>", 13);
    snprintf(out, sizeof out, "%s/tok", dir);
    assert_int_equal(RUN("tokenizer", "train", "--vocab-size", "257", "--special", "<|endoftext|>", "--special",
                         "<|im_end|>", "--out", out, corpus), 1);
    expect_output("vocabulary size 257 is below the 258 it needs at least (256 bytes + 2 special tokens)");
    assert_int_equal(RUN("tokenizer", "train", "--vocab-size", "300", "--out", out, corpus, "/no/such/corpus.txt"), 1);
    expect_output("corpus file '/no/such/corpus.txt' does not exist");
    assert_int_equal(RUN("tokenizer", "train", "--vocab-size", "300", "--out", out, dir), 1);
    expect_output("is a directory");
    assert_int_equal(RUN("tokenizer", "train", "--vocab-size", "300", "--special", "<|endoftext|>", "--out", out, empty), 1);
    expect_output("the corpus is empty");
    assert_int_equal(RUN("tokenizer", "train", "--vocab-size", "300", "--special", "x", "--special", "x", "--out", out,
                         corpus), 1);
    expect_output("special token 'x' is given twice");
    assert_false(ilr_file_exists(out)); /* nothing written on failure */

    assert_int_equal(RUN("tokenizer", "train", "--vocab-size", "300", "--special", "<|endoftext|>", "--out", out,
                         corpus), 0);
    /* "hello", " hello" x2, " world" x2: 4 merges make hello, 1 makes Ġhello, 5 make Ġworld */
    expect_output("counted 5 words (3 distinct)");
    expect_output("learned 10 merges");
    expect_output("stopped early");
    expect_output("vocabulary: 267 tokens (256 bytes + 10 merged + 1 special)");
    ilr_tokenizer *tok;
    assert_int_equal(ilr_tok_load(&tok, out), 0);
    assert_int_equal(ilr_tok_vocab_size(tok), 267);
    assert_int_equal(ilr_tok_id(tok, "<|endoftext|>"), 266);
    assert_int_equal(ilr_tok_id(tok, "hello"), 259);
    assert_true(ilr_tok_id(tok, "Ġworld") >= 256);
    ilr_tok_free(tok);
    ilr_test_rmtree(dir);
}

static void test_api_errors(void **state) {
    (void)state;
    ilr_tok_trainer *t;
    const char *bad_utf8[] = {"\xc3("}, *empty[] = {""};
    ilr_tok_train_options opt = {.vocab_size = 300, .specials = bad_utf8, .num_specials = 1};
    ILR_EXPECT_ERROR(ilr_tok_trainer_new(&t, &opt), ILR_EINVAL, "not valid UTF-8");
    opt.specials = empty;
    ILR_EXPECT_ERROR(ilr_tok_trainer_new(&t, &opt), ILR_EINVAL, "special token 1 is empty");
    opt.num_specials = 0, opt.max_token_bytes = 501;
    ILR_EXPECT_ERROR(ilr_tok_trainer_new(&t, &opt), ILR_EINVAL, "maximum token length 501");
    opt.max_token_bytes = 0, opt.vocab_size = (1 << 24) + 1;
    ILR_EXPECT_ERROR(ilr_tok_trainer_new(&t, &opt), ILR_EINVAL, "above the limit");
    opt.vocab_size = 300, opt.min_frequency = -1;
    ILR_EXPECT_ERROR(ilr_tok_trainer_new(&t, &opt), ILR_EINVAL, "negative");
    ilr_tok_regex regex;
    ILR_EXPECT_ERROR(ilr_tok_regex_parse("bpe", &regex), ILR_EINVAL, "qwen2, llama3 or gpt2");
    assert_int_equal(ilr_tok_regex_parse("llama3", &regex), 0);
    assert_int_equal(regex, ILR_TOK_REGEX_LLAMA3);
    assert_string_equal(ilr_tok_regex_name(ILR_TOK_REGEX_GPT2), "gpt2");

    opt.min_frequency = 0;
    assert_int_equal(ilr_tok_trainer_new(&t, &opt), 0);
    char *json;
    size_t len;
    ILR_EXPECT_ERROR(ilr_tok_trainer_json(t, &json, &len), ILR_EINVAL, "no merges learned yet");
    ILR_EXPECT_ERROR(ilr_tok_trainer_run(t, NULL), ILR_EINVAL, "the corpus is empty");
    ILR_EXPECT_ERROR(ilr_tok_trainer_feed_file(t, "/no/such/file.txt"), ILR_ENOTFOUND, "/no/such/file.txt");
    assert_int_equal(ilr_tok_trainer_feed(t, "abc abc", 7), 0);
    assert_int_equal(ilr_tok_trainer_run(t, NULL), 0);
    ILR_EXPECT_ERROR(ilr_tok_trainer_run(t, NULL), ILR_EINVAL, "already learned");
    ILR_EXPECT_ERROR(ilr_tok_trainer_feed(t, "x", 1), ILR_EINVAL, "feed after");
    ilr_tok_trainer_free(t);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_first_merges_by_hand),
    cmocka_unit_test(test_ties_by_id),
    cmocka_unit_test(test_alphabet_and_regexes),
    cmocka_unit_test(test_special_tokens),
    cmocka_unit_test(test_max_token_bytes),
    cmocka_unit_test(test_invalid_utf8_and_nfc),
    cmocka_unit_test(test_deterministic),
    cmocka_unit_test(test_retrain_matches_committed),
    cmocka_unit_test(test_reference_ids),
    cmocka_unit_test(test_cli_help_and_errors),
    cmocka_unit_test(test_cli_jsonl_fields),
    cmocka_unit_test(test_api_errors),
};

ILR_TEST_GROUP(tokenizer_train, tests)
