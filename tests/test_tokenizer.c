/* The tokenizer against reference ids from an independent implementation (@lenml/tokenizers, a port of
 * transformers.js; tests/fixtures/tokenizer/ writes them) for Qwen3 (= Qwen2.5 + 4 added tokens) and
 * Llama-3, plus round-trip properties and streaming decode.  Needs ../shared/data/tokenizers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "ilr/error.h"
#include "ilr/json.h"
#include "ilr/rng.h"
#include "ilr/tokenizer.h"
#include "test_util.h"

static ilr_tokenizer *tokenizers[2];
static const char *const names[2] = {"qwen3", "llama3"};

static int load_tokenizers(void **state) {
    (void)state;
    const char *shared = ilr_test_shared_data();
    if (!shared) return 0;
    for (int i = 0; i < 2; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/tokenizers/%s", shared, names[i]);
        if (ilr_tok_load(&tokenizers[i], path)) {
            print_error("%s\n", ilr_last_error());
            return -1;
        }
    }
    return 0;
}

static int free_tokenizers(void **state) {
    (void)state;
    for (int i = 0; i < 2; i++) ilr_tok_free(tokenizers[i]), tokenizers[i] = NULL;
    return 0;
}

#define NEED_TOKENIZERS()                                                                                  \
    do {                                                                                                   \
        if (!tokenizers[0]) {                                                                              \
            print_message("skipped: ../shared/data/tokenizers not found (set ILR_SHARED_DATA)\n");        \
            skip();                                                                                        \
        }                                                                                                  \
    } while (0)

typedef struct {
    int lines, mismatches[2], compared[2];
    const char *key_suffix;
    unsigned flags;
} encode_check;

static int check_encode_line(json_t *line, int line_number, const char *name, void *user) {
    encode_check *c = user;
    const char *text = json_string_value(json_object_get(line, "text"));
    if (!text) return 0;
    c->lines++;
    for (int i = 0; i < 2; i++) {
        char key[64];
        snprintf(key, sizeof key, "%s%s", names[i], c->key_suffix);
        int *want, n;
        if (!json_object_get(line, key) || json_is_true(json_object_get(line, "add_special_tokens"))) continue;
        if (ilr_json_get_token_ids(line, key, name, 1 << 24, &want, &n)) return -1;
        ilr_tok_ids got = {0};
        int rc = ilr_tok_encode(tokenizers[i], text, json_string_length(json_object_get(line, "text")), c->flags, &got);
        c->compared[i]++;
        if (rc || got.count != n || (n && memcmp(got.ids, want, sizeof(int) * (size_t)n) != 0)) {
            if (c->mismatches[i]++ < 5) {
                print_error("%s %s line %d: \"%.60s\": %d ids, want %d;", names[i], key, line_number, text, got.count, n);
                for (int k = 0; k < got.count && k < 12; k++) print_error(" %d", got.ids[k]);
                print_error(" | want");
                for (int k = 0; k < n && k < 12; k++) print_error(" %d", want[k]);
                print_error("\n");
            }
        }
        ilr_tok_ids_free(&got);
        free(want);
    }
    return 0;
}

static void check_encode_fixtures(const char *file, const char *suffix, unsigned flags) {
    encode_check c = {.key_suffix = suffix, .flags = flags};
    int rc = ilr_jsonl_read(file, check_encode_line, &c);
    if (rc) print_error("%s\n", ilr_last_error());
    assert_int_equal(rc, 0);
    for (int i = 0; i < 2; i++)
        print_message("encode %s%s: %d of %d reference strings match exactly\n", names[i], suffix,
                      c.compared[i] - c.mismatches[i], c.compared[i]);
    assert_int_equal(c.mismatches[0] + c.mismatches[1], 0);
    if (!suffix[0]) assert_true(c.compared[0] >= 300 && c.compared[1] >= 300);
    else assert_true(c.compared[0] >= 15 && c.compared[1] >= 15);
}

static void test_encode_matches_reference(void **state) {
    (void)state;
    NEED_TOKENIZERS();
    check_encode_fixtures("tests/data/tokenizer/encode.jsonl", "", ILR_TOK_SPECIAL);
}

static void test_encode_without_special_matches_reference(void **state) {
    (void)state;
    NEED_TOKENIZERS();
    check_encode_fixtures("tests/data/tokenizer/encode_nospecial_emulated.jsonl", "_nospecial", 0);
}

typedef struct {
    int compared, mismatches;
} text_check;

/* Strings where JavaScript's regex and Hugging Face's (Oniguruma) disagree (U+0085 and U+FEFF as \s, 'ſ under
 * (?i)): PCRE2 with Unicode properties behaves as Oniguruma; the fixture emulates Oniguruma for these. */
static void test_encode_matches_oniguruma_semantics(void **state) {
    (void)state;
    NEED_TOKENIZERS();
    check_encode_fixtures("tests/data/tokenizer/encode_divergent.jsonl", "_oniguruma_emulated", ILR_TOK_SPECIAL);
}

/* decode.jsonl: {"ids", "skip_special_tokens", "qwen3" | "llama3": text}. */
static int check_decode_line(json_t *line, int line_number, const char *name, void *user) {
    text_check *c = user;
    int skip = json_is_true(json_object_get(line, "skip_special_tokens"));
    for (int i = 0; i < 2; i++) {
        const json_t *want = json_object_get(line, names[i]);
        if (!json_is_string(want)) continue;
        int *ids, n;
        if (ilr_json_get_token_ids(line, "ids", name, 1 << 24, &ids, &n)) return -1;
        char *text = NULL;
        size_t len = 0;
        int rc = ilr_tok_decode(tokenizers[i], ids, n, skip ? ILR_TOK_SKIP_SPECIAL : 0, &text, &len);
        c->compared++;
        if (rc || len != json_string_length(want) || memcmp(text, json_string_value(want), len) != 0) {
            if (c->mismatches++ < 5)
                print_error("%s decode line %d: got \"%s\", want \"%s\"\n", names[i], line_number, text ? text : "(error)",
                            json_string_value(want));
        }
        free(text);
        free(ids);
    }
    return 0;
}

static void test_decode_matches_reference(void **state) {
    (void)state;
    NEED_TOKENIZERS();
    text_check c = {0};
    int rc = ilr_jsonl_read("tests/data/tokenizer/decode.jsonl", check_decode_line, &c);
    if (rc) print_error("%s\n", ilr_last_error());
    assert_int_equal(rc, 0);
    print_message("decode: %d of %d reference id lists give exactly the reference text\n", c.compared - c.mismatches,
                  c.compared);
    assert_true(c.compared >= 50);
    assert_int_equal(c.mismatches, 0);
}

/* decode(encode(s)) == s for random valid UTF-8 (NFC(s) for Qwen, whose normaliser is NFC). */
static void random_utf8(ilr_rng *rng, char *out, int max_chars, size_t *len) {
    static const uint32_t ranges[][2] = {{0x20, 0x7e}, {0x09, 0x0d}, {0xa0, 0x2ff}, {0x370, 0x52f}, {0x600, 0x6ff},
                                         {0x900, 0x97f}, {0x3040, 0x30ff}, {0x4e00, 0x9fff}, {0xac00, 0xd7a3},
                                         {0x1f300, 0x1faff}, {0x200d, 0x200d}, {0xfe0f, 0xfe0f}, {0x10000, 0x10ffff}};
    int n = (int)ilr_rng_below(rng, (uint32_t)max_chars) + 1;
    size_t o = 0;
    for (int i = 0; i < n; i++) {
        const uint32_t *r = ranges[ilr_rng_below(rng, sizeof ranges / sizeof ranges[0])];
        uint32_t cp = r[0] + ilr_rng_below(rng, r[1] - r[0] + 1);
        if (cp >= 0xd800 && cp <= 0xdfff) cp = 'x';
        o += (size_t)utf8proc_encode_char((utf8proc_int32_t)cp, (utf8proc_uint8_t *)out + o);
    }
    out[o] = 0;
    *len = o;
}

static void test_round_trip_random_text(void **state) {
    (void)state;
    NEED_TOKENIZERS();
    ilr_rng rng;
    ilr_rng_init(&rng, 2026, 4);
    char text[4 * 64 + 1];
    int failures = 0;
    for (int k = 0; k < 10000; k++) {
        size_t len;
        random_utf8(&rng, text, 64, &len);
        for (int i = 0; i < 2; i++) {
            ilr_tok_ids ids = {0};
            char *back = NULL;
            size_t back_len;
            assert_int_equal(ilr_tok_encode(tokenizers[i], text, len, ILR_TOK_SPECIAL, &ids), 0);
            assert_int_equal(ilr_tok_decode(tokenizers[i], ids.ids, ids.count, ILR_TOK_NO_CLEANUP, &back, &back_len), 0);
            char *want = i == 0 ? (char *)utf8proc_NFC((const utf8proc_uint8_t *)text) : text;
            if (strcmp(back, want) != 0 && failures++ < 3) print_error("%s: round trip differs for \"%s\"\n", names[i], text);
            if (i == 0) free(want);
            free(back);
            ilr_tok_ids_free(&ids);
        }
    }
    print_message("decode(encode(s)) == s for 10000 random UTF-8 strings x 2 tokenizers: %d failures\n", failures);
    assert_int_equal(failures, 0);
}

/* Invalid UTF-8 never crashes: invalid subparts encode as U+FFFD; arbitrary ids decode to valid UTF-8. */
static void test_invalid_utf8(void **state) {
    (void)state;
    NEED_TOKENIZERS();
    const char bad[] = "ok \xff\xfe \xe2\x82 \xf0\x9f\x98 end \xc0\xaf";
    ilr_tok_ids ids = {0}, want = {0};
    assert_int_equal(ilr_tok_encode(tokenizers[1], bad, sizeof bad - 1, 0, &ids), 0);
    const char replaced[] = "ok \xef\xbf\xbd\xef\xbf\xbd \xef\xbf\xbd \xef\xbf\xbd end \xef\xbf\xbd\xef\xbf\xbd";
    assert_int_equal(ilr_tok_encode(tokenizers[1], replaced, sizeof replaced - 1, 0, &want), 0);
    assert_int_equal(ids.count, want.count);
    assert_memory_equal(ids.ids, want.ids, sizeof(int) * (size_t)ids.count);
    ilr_tok_ids_free(&ids);
    ilr_tok_ids_free(&want);
    ilr_rng rng;
    ilr_rng_init(&rng, 7, 0);
    for (int k = 0; k < 200; k++) {
        int random_ids[16];
        for (int j = 0; j < 16; j++) random_ids[j] = (int)ilr_rng_below(&rng, (uint32_t)ilr_tok_vocab_size(tokenizers[0]));
        char *text;
        size_t len;
        if (ilr_tok_decode(tokenizers[0], random_ids, 16, 0, &text, &len) == 0) {
            assert_true(utf8proc_decompose((const utf8proc_uint8_t *)text, (utf8proc_ssize_t)len, NULL, 0, 0) >= 0);
            free(text);
        }
    }
    int out_of_range = 1 << 30;
    char *text;
    size_t len;
    ILR_EXPECT_ERROR(ilr_tok_decode(tokenizers[0], &out_of_range, 1, 0, &text, &len), ILR_EINVAL, "not a token");
}

/* Streaming: the pieces are always complete UTF-8 and join to the whole decode. */
static void test_stream_decode(void **state) {
    (void)state;
    NEED_TOKENIZERS();
    const char text[] = "Emoji 👩‍👩‍👧‍👦 and 你好, é e\xcc\x81 🏳️‍🌈!";
    for (int i = 0; i < 2; i++) {
        ilr_tok_ids ids = {0};
        assert_int_equal(ilr_tok_encode(tokenizers[i], text, sizeof text - 1, 0, &ids), 0);
        char *whole;
        size_t whole_len;
        assert_int_equal(ilr_tok_decode(tokenizers[i], ids.ids, ids.count, ILR_TOK_NO_CLEANUP, &whole, &whole_len), 0);
        char joined[512] = "", piece[256];
        size_t at = 0;
        int held_back = 0;
        ilr_tok_stream s;
        ilr_tok_stream_init(&s);
        for (int k = 0; k < ids.count; k++) {
            int n = ilr_tok_stream_push(tokenizers[i], &s, ids.ids[k], piece, sizeof piece);
            assert_true(n >= 0);
            held_back += s.npending > 0;
            assert_true(utf8proc_decompose((const utf8proc_uint8_t *)piece, n, NULL, 0, 0) >= 0);
            memcpy(joined + at, piece, (size_t)n);
            at += (size_t)n;
        }
        at += (size_t)ilr_tok_stream_flush(&s, joined + at, sizeof joined - at);
        assert_int_equal(at, whole_len);
        assert_memory_equal(joined, whole, at);
        print_message("%s: streamed %d tokens, %d of them ended mid-character and were held back\n", names[i],
                      ids.count, held_back);
        assert_true(held_back > 0); /* the emoji are split across tokens */
        free(whole);
        ilr_tok_ids_free(&ids);
    }
}

static void test_lookups(void **state) {
    (void)state;
    NEED_TOKENIZERS();
    assert_int_equal(ilr_tok_vocab_size(tokenizers[0]), 151669);
    assert_int_equal(ilr_tok_vocab_size(tokenizers[1]), 128256);
    assert_int_equal(ilr_tok_id(tokenizers[0], "<|im_end|>"), 151645);
    assert_string_equal(ilr_tok_piece(tokenizers[1], 128000), "<|begin_of_text|>");
    assert_true(ilr_tok_is_special(tokenizers[1], 128009) && !ilr_tok_is_special(tokenizers[1], 9906));
    assert_int_equal(ilr_tok_id(tokenizers[0], "no such piece"), -1);
    assert_null(ilr_tok_piece(tokenizers[0], -3));
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_lookups),
    cmocka_unit_test(test_encode_matches_reference),
    cmocka_unit_test(test_encode_without_special_matches_reference),
    cmocka_unit_test(test_encode_matches_oniguruma_semantics),
    cmocka_unit_test(test_decode_matches_reference),
    cmocka_unit_test(test_round_trip_random_text),
    cmocka_unit_test(test_invalid_utf8),
    cmocka_unit_test(test_stream_decode),
};

int ilr_test_group_tokenizer(int *count) {
    *count = (int)(sizeof(tests) / sizeof(tests[0]));
    return cmocka_run_group_tests_name("tokenizer", tests, load_tokenizers, free_tokenizers);
}
