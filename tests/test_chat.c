/* Chat templates against transformers-style references (tests/data/tokenizer/chat.jsonl, rendered from each
 * tokenizer_config.json's Jinja template by @lenml/tokenizers / @huggingface/jinja), and ilr's own template
 * file format.  Needs ../shared/data/tokenizers for the reference part. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ilr/chat.h"
#include "ilr/error.h"
#include "ilr/json.h"
#include "ilr/tokenizer.h"
#include "test_util.h"

static const char *const names[2] = {"qwen3", "llama3"};

typedef struct {
    ilr_chat_template *tmpl[2];
    ilr_tokenizer *tok[2];
    int compared, mismatches, ids_compared, skipped;
} chat_check;

/* Tool calls and tool results are not rendered by ilr yet (ILR's prompts use none). */
static int uses_tools(const json_t *line) {
    size_t i;
    json_t *msg;
    if (json_object_get(line, "tools")) return 1;
    json_array_foreach(json_object_get(line, "messages"), i, msg) {
        if (json_object_get(msg, "tool_calls") || !strcmp(json_string_value(json_object_get(msg, "role")), "tool")) return 1;
    }
    return 0;
}

static int check_chat_line(json_t *line, int line_number, const char *name, void *user) {
    chat_check *c = user;
    const json_t *msgs = json_object_get(line, "messages");
    if (uses_tools(line)) return c->skipped++, 0;
    int n = (int)json_array_size(msgs);
    unsigned flags = json_is_true(json_object_get(line, "add_generation_prompt")) ? ILR_CHAT_GENERATION : 0;
    if (json_is_false(json_object_get(json_object_get(line, "kwargs"), "enable_thinking"))) flags |= ILR_CHAT_NO_THINKING;
    ilr_chat_message *m = calloc((size_t)n + 1, sizeof *m);
    for (int k = 0; k < n; k++) {
        m[k].role = json_string_value(json_object_get(json_array_get(msgs, (size_t)k), "role"));
        m[k].content = json_string_value(json_object_get(json_array_get(msgs, (size_t)k), "content"));
        m[k].reasoning_content = json_string_value(json_object_get(json_array_get(msgs, (size_t)k), "reasoning_content"));
    }
    for (int i = 0; i < 2; i++) {
        const json_t *want = json_object_get(line, names[i]);
        if (!json_is_string(want)) continue;
        char *text = NULL;
        size_t len = 0;
        int rc = ilr_chat_render(c->tmpl[i], m, n, flags, &text, &len);
        c->compared++;
        if (rc || len != json_string_length(want) || memcmp(text, json_string_value(want), len) != 0) {
            if (c->mismatches++ < 5)
                print_error("%s %s line %d: got\n%s\nwant\n%s\n", names[i], name, line_number, rc ? ilr_last_error() : text,
                            json_string_value(want));
        }
        char key[32];
        snprintf(key, sizeof key, "%s_ids", names[i]);
        int *ids, nids;
        if (!rc && json_object_get(line, key) && ilr_json_get_token_ids(line, key, name, 1 << 24, &ids, &nids) == 0) {
            ilr_tok_ids got = {0};
            ilr_tok_encode(c->tok[i], text, len, ILR_TOK_SPECIAL, &got);
            c->ids_compared++;
            if (got.count != nids || memcmp(got.ids, ids, sizeof(int) * (size_t)nids)) {
                if (c->mismatches++ < 5) print_error("%s line %d: token ids of the rendered chat differ\n", names[i], line_number);
            }
            ilr_tok_ids_free(&got);
            free(ids);
        }
        free(text);
    }
    free(m);
    return 0;
}

static void test_chat_templates_match_reference(void **state) {
    (void)state;
    const char *shared = ilr_test_shared_data();
    if (!shared) {
        print_message("skipped: ../shared/data/tokenizers not found (set ILR_SHARED_DATA)\n");
        skip();
    }
    chat_check c = {0};
    for (int i = 0; i < 2; i++) {
        char dir[512];
        snprintf(dir, sizeof dir, "%s/tokenizers/%s", shared, names[i]);
        assert_int_equal(ilr_chat_template_load(&c.tmpl[i], dir), 0);
        assert_int_equal(ilr_tok_load(&c.tok[i], dir), 0);
    }
    assert_string_equal(ilr_chat_template_family(c.tmpl[0]), "qwen3");
    assert_string_equal(ilr_chat_template_family(c.tmpl[1]), "llama3");
    int rc = ilr_jsonl_read("tests/data/tokenizer/chat.jsonl", check_chat_line, &c);
    if (rc) print_error("%s\n", ilr_last_error());
    assert_int_equal(rc, 0);
    print_message("chat: %d of %d reference renderings match exactly (%d also compared as token ids); %d with "
                  "tool calls skipped\n", c.compared - c.mismatches, c.compared, c.ids_compared, c.skipped);
    assert_true(c.compared >= 20);
    assert_int_equal(c.mismatches, 0);
    for (int i = 0; i < 2; i++) ilr_chat_template_free(c.tmpl[i]), ilr_tok_free(c.tok[i]);
}

static void test_template_families_and_errors(void **state) {
    (void)state;
    ilr_chat_template *t;
    assert_int_equal(ilr_chat_template_from_jinja(&t, "{{ '<|im_start|>' }} You are Qwen, created by Alibaba Cloud. "
                                                      "You are a helpful assistant. add_generation_prompt", "", "x"), 0);
    assert_string_equal(ilr_chat_template_family(t), "qwen2.5");
    ilr_chat_message m[2] = {{"user", "Hi", NULL}, {"assistant", "Hello!", NULL}};
    char *text;
    size_t len;
    assert_int_equal(ilr_chat_render(t, m, 1, ILR_CHAT_GENERATION, &text, &len), 0);
    assert_string_equal(text, "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
                              "assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
    free(text);
    ilr_chat_message tool = {"tool", "{}", NULL};
    ILR_EXPECT_ERROR(ilr_chat_render(t, &tool, 1, 0, &text, &len), ILR_EUNSUPPORTED, "role 'tool'");
    ilr_chat_template_free(t);
    ILR_EXPECT_ERROR(ilr_chat_template_from_jinja(&t, "{{ bos_token }}[INST] {{ m }} [/INST]", "<s>", "cfg.json"),
                     ILR_EUNSUPPORTED, "cfg.json", "--chat-template FILE");
}

static void test_template_file(void **state) {
    (void)state;
    char dir[256], path[300];
    ilr_test_tmpdir(dir, "chat");
    const char file[] = "# Llama-2 style\nbos: <s>\nsystem: [SYS]{content}[/SYS]\\n\nuser: [INST] {content} [/INST]\n"
                        "assistant: {content}</s>\ngeneration: \nstrip: yes\n";
    ilr_test_write_file(path, dir, "t.txt", file, sizeof file - 1);
    ilr_chat_template *t;
    assert_int_equal(ilr_chat_template_parse_file(&t, path), 0);
    ilr_chat_message m[3] = {{"system", " Be brief. ", NULL}, {"user", "Hi", NULL}, {"assistant", "Hello", NULL}};
    char *text;
    size_t len;
    assert_int_equal(ilr_chat_render(t, m, 3, ILR_CHAT_GENERATION, &text, &len), 0);
    assert_string_equal(text, "<s>[SYS]Be brief.[/SYS]\n[INST] Hi [/INST]Hello</s>");
    free(text);
    ilr_chat_template_free(t);
    const char bad[] = "user: x\nwhat is this\n";
    ilr_test_write_file(path, dir, "bad.txt", bad, sizeof bad - 1);
    ILR_EXPECT_ERROR(ilr_chat_template_parse_file(&t, path), ILR_EFORMAT, "bad.txt:2", "expected 'directive: text'");
    ilr_test_rmtree(dir);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_chat_templates_match_reference),
    cmocka_unit_test(test_template_families_and_errors),
    cmocka_unit_test(test_template_file),
};

ILR_TEST_GROUP(chat, tests)
