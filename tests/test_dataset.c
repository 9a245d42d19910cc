/* Datasets and the benchmark registry: every bundled benchmark in data/benchmarks/ loads with its record
 * count and non-empty gold answers; hand-picked items have the gold answers the files hold; bad input is
 * refused with a message naming file:line; prompts render from prompts/tasks/; `ilr data ls | show`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ilr/dataset.h"
#include "ilr/error.h"
#include "test_util.h"

/* The counts of the bundled files (SOURCES.md), and the standard splits of MBPP. */
static const struct {
    const char *name;
    int count;
} expected_counts[] = {
    {"gsm8k", 1319}, {"gsm8k-train", 7473}, {"math", 5000},        {"math-train", 7498}, /* 7500 less 2 with \boxed{} */
    {"math500", 500}, {"aime24", 30},        {"aime25", 30},       {"amc23", 40},
    {"minerva", 272}, {"olympiadbench", 675}, {"humaneval", 164},  {"mbpp", 500},
    {"mbpp-train", 464},
};
#define NUM_EXPECTED ((int)(sizeof expected_counts / sizeof *expected_counts))

static void open_ok(const char *name, ilr_dataset *ds) {
    int rc = ilr_dataset_open(name, ds);
    if (rc) print_error("%s: %s\n", name, ilr_last_error());
    assert_int_equal(rc, 0);
}

static void test_registry_counts(void **state) {
    (void)state;
    assert_int_equal(ilr_dataset_registry_count(), NUM_EXPECTED);
    for (int i = 0; i < NUM_EXPECTED; i++) {
        const ilr_dataset_info *info = ilr_dataset_registry_find(expected_counts[i].name);
        assert_non_null(info);
        assert_ptr_equal(info, ilr_dataset_registry_get(i));
        ilr_dataset ds;
        open_ok(info->name, &ds);
        int empty = 0, levels = 0, tests = 0;
        for (int k = 0; k < ds.count; k++) {
            const ilr_dataset_item *it = &ds.items[k];
            assert_true(it->id[0] && it->question[0]);
            if (ds.kind == ILR_TASK_MATH) empty += !it->gold || !it->gold[0];
            else {
                assert_null(it->gold);
                tests += it->num_tests + (it->test != NULL);
                assert_non_null(it->code); /* every code task ships a reference solution */
            }
            levels += it->level > 0;
        }
        print_message("  %-14s %5d items (expected %d), %s, %d with a level, %s\n", info->name, ds.count,
                      expected_counts[i].count, ds.kind == ILR_TASK_CODE ? "code" : "math", levels,
                      ds.kind == ILR_TASK_MATH ? (empty ? "SOME EMPTY GOLD ANSWERS" : "every gold answer non-empty")
                                               : "tests on every item");
        assert_int_equal(ds.count, expected_counts[i].count);
        assert_int_equal(ds.count, info->expected_count);
        assert_int_equal(empty, 0);
        if (ds.kind == ILR_TASK_CODE) assert_true(tests >= ds.count);
        ilr_dataset_free(&ds);
    }
    assert_null(ilr_dataset_registry_get(NUM_EXPECTED));
    assert_null(ilr_dataset_registry_find("gsm8k-test"));
}

static const ilr_dataset_item *item(const ilr_dataset *ds, int i) {
    assert_true(i < ds->count);
    return &ds->items[i];
}

static void test_known_items(void **state) {
    (void)state;
    ilr_dataset ds;
    open_ok("gsm8k", &ds); /* line 147 ends "#### 2,125": separator removed */
    assert_string_equal(item(&ds, 146)->gold, "2125");
    assert_string_equal(item(&ds, 146)->id, "gsm8k/test.jsonl:147");
    assert_string_equal(item(&ds, 0)->gold, "18");
    assert_int_equal(item(&ds, 0)->level, 0);
    assert_null(item(&ds, 0)->subject);
    ilr_dataset_free(&ds);
    open_ok("amc23", &ds); /* "answer": 27.0 */
    assert_string_equal(item(&ds, 0)->gold, "27");
    assert_string_equal(item(&ds, 0)->id, "0");
    ilr_dataset_free(&ds);
    open_ok("minerva", &ds); /* "\boxed{1.6} \mathrm{~cm}" and "\boxed{300} \mathrm{~km} / \mathrm{s}": units outside */
    assert_string_equal(item(&ds, 0)->gold, "1.6");
    assert_string_equal(item(&ds, 11)->gold, "300");
    assert_string_equal(item(&ds, 0)->subject, "Introduction to Astronomy (8.282J Spring 2006)");
    ilr_dataset_free(&ds);
    open_ok("olympiadbench", &ds); /* final_answer ["$(1,8,19), (2,7,13), (4,5,7)$"]: $..$ dropped */
    assert_string_equal(item(&ds, 5)->id, "1618");
    assert_string_equal(item(&ds, 5)->gold, "(1,8,19), (2,7,13), (4,5,7)");
    assert_string_equal(item(&ds, 0)->gold, "2");
    assert_string_equal(item(&ds, 0)->subject, "Combinatorics");
    ilr_dataset_free(&ds);
    open_ok("math", &ds); /* "level": "Level 3", "\boxed{2}$ vertical asymptotes" */
    assert_string_equal(item(&ds, 0)->id, "test/algebra/1.json");
    assert_int_equal(item(&ds, 0)->level, 3);
    assert_string_equal(item(&ds, 0)->subject, "Algebra");
    assert_string_equal(item(&ds, 0)->gold, "2");
    ilr_dataset_free(&ds);
    open_ok("math500", &ds); /* "level": 2 (an integer) */
    assert_int_equal(item(&ds, 0)->level, 2);
    assert_string_equal(item(&ds, 0)->gold, "\\left( 3, \\frac{\\pi}{2} \\right)");
    ilr_dataset_free(&ds);
    open_ok("aime25", &ds);
    assert_string_equal(item(&ds, 0)->id, "aime25-0");
    assert_string_equal(item(&ds, 0)->gold, "70");
    ilr_dataset_free(&ds);
    open_ok("aime24", &ds);
    assert_string_equal(item(&ds, 0)->id, "60");
    assert_string_equal(item(&ds, 0)->gold, "204");
    ilr_dataset_free(&ds);
    open_ok("humaneval", &ds);
    assert_string_equal(item(&ds, 0)->id, "HumanEval/0");
    assert_string_equal(item(&ds, 0)->entry_point, "has_close_elements");
    assert_string_equal(item(&ds, 0)->question, item(&ds, 0)->prompt);
    assert_non_null(strstr(item(&ds, 0)->test, "def check(candidate)"));
    ilr_dataset_free(&ds);
    open_ok("mbpp", &ds); /* the test split starts at task 11 */
    assert_string_equal(item(&ds, 0)->id, "11");
    assert_int_equal(item(&ds, 0)->num_tests, 3);
    assert_string_equal(item(&ds, 0)->test_list[0], "assert remove_Occ(\"hello\",\"l\") == \"heo\"");
    assert_string_equal(item(&ds, 0)->test_setup_code, "");
    assert_string_equal(item(&ds, 499)->id, "510");
    ilr_dataset_free(&ds);
    open_ok("mbpp-train", &ds);
    assert_string_equal(item(&ds, 0)->id, "511");
    assert_string_equal(item(&ds, 463)->id, "974");
    ilr_dataset_free(&ds);
    open_ok("math-train", &ds); /* the two empty \boxed{} problems are left out */
    for (int i = 0; i < ds.count; i++) assert_null(strstr(ds.items[i].id, "number_theory/7115.json"));
    ilr_dataset_free(&ds);
}

/* ---- files of our own ---- */

typedef struct {
    char dir[256], path[256];
} tmp_file;

static const char *write_tmp(tmp_file *t, const char *name, const char *text) {
    ilr_test_write_file(t->path, t->dir, name, text, strlen(text));
    return t->path;
}

static void test_default_mapping(void **state) {
    (void)state;
    tmp_file t;
    ilr_test_tmpdir(t.dir, "dataset");
    const char *path = write_tmp(&t, "world.jsonl",
                                 "{\"question\": \"2 + 3 = ?\", \"answer\": \"5\"}\n"
                                 "\n"
                                 "{\"id\": \"w-7\", \"question\": \"q\", \"answer\": 2.50, \"level\": 4, \"subject\": \"sums\"}\n"
                                 "{\"id\": 12, \"question\": \"q\", \"answer\": \" x \", \"level\": \"Level 2\", \"subject\": null}\n"
                                 "{\"question\": \"q\", \"answer\": -3, \"level\": \"Level ?\", \"extra\": [1]}\n");
    ilr_dataset ds;
    int rc = ilr_dataset_load(path, NULL, &ds);
    if (rc) print_error("%s\n", ilr_last_error());
    assert_int_equal(rc, 0);
    assert_int_equal(ds.count, 4);
    assert_int_equal(ds.kind, ILR_TASK_MATH);
    char want[512];
    snprintf(want, sizeof want, "%s:1", path);
    assert_string_equal(ds.items[0].id, want);
    assert_string_equal(ds.items[0].gold, "5");
    assert_string_equal(ds.items[1].id, "w-7");
    assert_string_equal(ds.items[1].gold, "2.5");
    assert_int_equal(ds.items[1].level, 4);
    assert_int_equal(ds.items[1].line, 3);
    assert_string_equal(ds.items[1].subject, "sums");
    assert_string_equal(ds.items[2].id, "12");
    assert_string_equal(ds.items[2].gold, "x");
    assert_int_equal(ds.items[2].level, 2);
    assert_null(ds.items[2].subject);
    assert_string_equal(ds.items[3].gold, "-3");
    assert_int_equal(ds.items[3].level, 0);
    char *prompt;
    assert_int_equal(ilr_dataset_prompt(&ds, 0, &prompt), 0);
    assert_string_equal(prompt, "2 + 3 = ?\nPlease reason step by step, and put your final answer within \\boxed{}.");
    free(prompt);
    assert_int_equal(ilr_dataset_prompt(&ds, 4, &prompt), ILR_EINVAL);
    ilr_dataset_free(&ds);
    /* the same through ilr_dataset_open with a path */
    assert_int_equal(ilr_dataset_open(path, &ds), 0);
    assert_int_equal(ds.count, 4);
    ilr_dataset_free(&ds);
    /* an empty file on disk */
    path = write_tmp(&t, "empty.jsonl", "");
    assert_int_equal(ilr_dataset_load(path, NULL, &ds), ILR_EFORMAT);
    snprintf(want, sizeof want, "%s:1: the file is empty (expected one JSON object per line)", path);
    assert_string_equal(ilr_last_error(), want);
    assert_int_equal(ds.count, 0);
    ilr_test_rmtree(t.dir);
}

static void test_formats(void **state) {
    (void)state;
    const char *text = "{\"q\": \"a\", \"s\": \"So 1,000 + 234,567 = 235,567.\\n#### 1,234,567\"}\n"
                       "{\"q\": \"b\", \"s\": \"#### (1,000, 2)\"}\n";
    ilr_dataset_mapping m = {.question = "q", .answer = "s", .format = ILR_GOLD_GSM8K};
    ilr_dataset ds;
    assert_int_equal(ilr_dataset_parse(text, strlen(text), "g.jsonl", &m, &ds), 0);
    assert_string_equal(ds.items[0].gold, "1234567");
    assert_string_equal(ds.items[1].gold, "(1000, 2)");
    assert_string_equal(ds.items[1].id, "g.jsonl:2");
    ilr_dataset_free(&ds);
    text = "{\"q\": \"a\", \"s\": \"\\\\boxed{1} then \\\\boxed{\\\\frac{1}{2}} \\\\mathrm{m}\"}\n";
    m.format = ILR_GOLD_BOXED;
    assert_int_equal(ilr_dataset_parse(text, strlen(text), "b.jsonl", &m, &ds), 0);
    assert_string_equal(ds.items[0].gold, "\\frac{1}{2}");
    ilr_dataset_free(&ds);
    text = "{\"q\": \"a\", \"s\": [\"$3$\", \"$5$\"]}\n";
    m.format = ILR_GOLD_LIST;
    assert_int_equal(ilr_dataset_parse(text, strlen(text), "l.jsonl", &m, &ds), 0);
    assert_string_equal(ds.items[0].gold, "3, 5");
    ilr_dataset_free(&ds);
    /* format names round-trip */
    for (int f = ILR_GOLD_PLAIN; f <= ILR_GOLD_CODE_MBPP; f++) {
        ilr_gold_format back;
        assert_int_equal(ilr_gold_format_parse(ilr_gold_format_name((ilr_gold_format)f), &back), 0);
        assert_int_equal(back, f);
    }
    ilr_gold_format back;
    ILR_EXPECT_ERROR(ilr_gold_format_parse("latex", &back), ILR_EINVAL, "unknown answer format 'latex'");
    assert_int_equal(ilr_gold_format_kind(ILR_GOLD_CODE_MBPP), ILR_TASK_CODE);
    assert_int_equal(ilr_gold_format_kind(ILR_GOLD_BOXED), ILR_TASK_MATH);
}

/* Parses text and expects failure code want with exactly message msg. */
static void expect_bad(const char *text, const ilr_dataset_mapping *m, int want, const char *msg) {
    ilr_dataset ds;
    int rc = ilr_dataset_parse(text, strlen(text), "bad.jsonl", m, &ds);
    if (rc != want || strcmp(ilr_last_error(), msg) != 0)
        print_error("expected %s \"%s\"\n     got %s \"%s\"\n", ilr_error_name(want), msg, ilr_error_name(rc), ilr_last_error());
    assert_int_equal(rc, want);
    assert_string_equal(ilr_last_error(), msg);
    assert_int_equal(ds.count, 0);
    assert_null(ds.items);
}

static void test_bad_input(void **state) {
    (void)state;
    const char *ok = "{\"question\": \"q\", \"answer\": \"1\"}\n";
    char text[512];
    snprintf(text, sizeof text, "%s{\"question\": \"q\", \"answer\": \"1\"\n", ok);
    expect_bad(text, NULL, ILR_EFORMAT, "bad.jsonl:2:1:31: '}' expected near end of file");
    snprintf(text, sizeof text, "%s%s{\"question\": \"q\"}\n", ok, ok);
    expect_bad(text, NULL, ILR_ENOTFOUND, "bad.jsonl:3: missing required key 'answer'");
    expect_bad("{\"answer\": \"1\"}\n", NULL, ILR_ENOTFOUND, "bad.jsonl:1: missing required key 'question'");
    snprintf(text, sizeof text, "%s{\"question\": 7, \"answer\": \"1\"}\n", ok);
    expect_bad(text, NULL, ILR_EFORMAT, "bad.jsonl:2: key 'question': expected a string, got integer");
    expect_bad("{\"question\": \"q\", \"answer\": [1]}\n", NULL, ILR_EFORMAT,
               "bad.jsonl:1: key 'answer': expected a string or a number, got array");
    expect_bad("{\"question\": \"q\", \"answer\": \"  \"}\n", NULL, ILR_EFORMAT, "bad.jsonl:1: key 'answer': the gold answer is empty");
    expect_bad("{\"question\": \"q\", \"answer\": \"1\", \"id\": [2]}\n", NULL, ILR_EFORMAT,
               "bad.jsonl:1: key 'id': expected a string or an integer, got array");
    expect_bad("{\"question\": \"q\", \"answer\": \"1\", \"level\": -1}\n", NULL, ILR_EFORMAT,
               "bad.jsonl:1: key 'level': value -1 is out of range [0, 1000000]");
    expect_bad("{\"question\": \"q\", \"answer\": \"1\", \"level\": {}}\n", NULL, ILR_EFORMAT,
               "bad.jsonl:1: key 'level': expected an integer or a string \"Level N\", got object");
    expect_bad("[1, 2]\n", NULL, ILR_EFORMAT, "bad.jsonl:1: expected a JSON object");
    expect_bad("", NULL, ILR_EFORMAT, "bad.jsonl:1: the file is empty (expected one JSON object per line)");
    expect_bad("\n  \n", NULL, ILR_EFORMAT, "bad.jsonl:1: the file is empty (expected one JSON object per line)");

    ilr_dataset_mapping m = {.question = "q", .answer = "s", .format = ILR_GOLD_GSM8K};
    expect_bad("{\"q\": \"a\", \"s\": \"the answer is 4\"}\n", &m, ILR_EFORMAT,
               "bad.jsonl:1: key 's': expected a solution ending in \"#### answer\", found no ####");
    m.format = ILR_GOLD_BOXED;
    expect_bad("{\"q\": \"a\", \"s\": \"no box\"}\n", &m, ILR_EFORMAT,
               "bad.jsonl:1: key 's': expected a solution with a \\boxed{} answer, found none");
    expect_bad("{\"q\": \"a\", \"s\": \"\\\\boxed{}\"}\n", &m, ILR_EFORMAT, "bad.jsonl:1: key 's': the gold answer is empty");
    m.format = ILR_GOLD_LIST;
    expect_bad("{\"q\": \"a\", \"s\": \"3\"}\n", &m, ILR_EFORMAT, "bad.jsonl:1: key 's': expected an array of strings, got string");
    expect_bad("{\"q\": \"a\", \"s\": [3]}\n", &m, ILR_EFORMAT, "bad.jsonl:1: \"final_answer\"[0] is not a string");

    m = (ilr_dataset_mapping){.question = "text", .format = ILR_GOLD_CODE_MBPP, .id = "task_id", .id_min = 2, .id_max = 3};
    expect_bad("{\"text\": \"t\", \"task_id\": 2, \"test_list\": [\"assert f()\", 5]}\n", &m, ILR_EFORMAT,
               "bad.jsonl:1: key 'test_list': item 1: expected a string, got integer");
    expect_bad("{\"text\": \"t\", \"task_id\": 2, \"test_list\": []}\n", &m, ILR_EFORMAT,
               "bad.jsonl:1: key 'test_list': expected 1 to 100000 tests, got 0");
    expect_bad("{\"text\": \"t\", \"task_id\": \"2\", \"test_list\": [\"assert f()\"]}\n", &m, ILR_EFORMAT,
               "bad.jsonl:1: key 'task_id': expected an integer, got string");
    expect_bad("{\"text\": \"t\", \"task_id\": 9, \"test_list\": [\"assert f()\"]}\n", &m, ILR_EFORMAT,
               "bad.jsonl: none of its 1 lines has 'task_id' in [2, 3]");
    m = (ilr_dataset_mapping){.question = "prompt", .format = ILR_GOLD_CODE_HUMANEVAL};
    expect_bad("{\"prompt\": \"def f():\\n\", \"entry_point\": \"f\"}\n", &m, ILR_ENOTFOUND,
               "bad.jsonl:1: missing required key 'test'");
    m = (ilr_dataset_mapping){.question = "q", .format = ILR_GOLD_PLAIN};
    expect_bad("{\"q\": \"a\"}\n", &m, ILR_EINVAL, "bad.jsonl: the mapping names no answer field");

    /* a missing file names itself; an unknown name lists the registry */
    ilr_dataset ds;
    ILR_EXPECT_ERROR(ilr_dataset_load("/nonexistent/x.jsonl", NULL, &ds), ILR_ENOTFOUND, "/nonexistent/x.jsonl");
    ILR_EXPECT_ERROR(ilr_dataset_open("gsm9k", &ds), ILR_ENOTFOUND, "'gsm9k' is neither a dataset name (gsm8k, ",
                     "mbpp-train) nor a file");
}

static void test_prompts(void **state) {
    (void)state;
    ilr_dataset ds;
    char *p;
    open_ok("aime24", &ds);
    assert_int_equal(ilr_dataset_prompt(&ds, 0, &p), 0);
    char want[4096];
    snprintf(want, sizeof want, "%s\nPlease reason step by step, and put your final answer within \\boxed{}.",
             ds.items[0].question);
    assert_string_equal(p, want);
    free(p);
    ilr_dataset_free(&ds);
    open_ok("humaneval", &ds);
    assert_int_equal(ilr_dataset_prompt(&ds, 3, &p), 0);
    snprintf(want, sizeof want, "```python\n%s```", ds.items[3].prompt);
    assert_non_null(strstr(p, want));
    assert_int_equal(strlen(strstr(p, want)), strlen(want)); /* it ends the prompt */
    free(p);
    ilr_dataset_free(&ds);
    open_ok("mbpp", &ds);
    assert_int_equal(ilr_dataset_prompt(&ds, 0, &p), 0);
    assert_non_null(strstr(p, "Task: Write a python function to remove first and last occurrence of a given character"));
    assert_non_null(strstr(p, "assert remove_Occ(\"hello\",\"l\") == \"heo\"\nassert remove_Occ(\"abcda\",\"a\") == \"bcd\"\n"));
    free(p);
    /* a template naming a placeholder this kind of task does not have */
    tmp_file t;
    ilr_test_tmpdir(t.dir, "dataset-prompt");
    write_tmp(&t, "t.txt", "{{question}} {{gold}}\n");
    assert_int_equal(ilr_dataset_set_template(&ds, t.path), 0);
    ILR_EXPECT_ERROR(ilr_dataset_prompt(&ds, 0, &p), ILR_EFORMAT, "unknown placeholder {{gold}}", "{{question}}, {{tests}}");
    assert_null(p);
    ilr_dataset_free(&ds);
    ilr_test_rmtree(t.dir);
}

/* ---- the command line ---- */

static void test_cli_data(void **state) {
    (void)state;
    static char out[1 << 16];
    char *ls[] = {"ilr", "data", "ls", NULL};
    assert_int_equal(ilr_test_run_cli(out, sizeof out, 3, ls), 0);
    assert_non_null(strstr(out, "name           kind   items  file"));
    assert_non_null(strstr(out, "gsm8k          math    1319  data/benchmarks/gsm8k/test.jsonl           prompts/tasks/math.txt"));
    assert_non_null(strstr(out, "mbpp-train     code     464  data/benchmarks/mbpp/mbpp.jsonl"));
    char *show[] = {"ilr", "data", "show", "gsm8k", "--index", "146", NULL};
    assert_int_equal(ilr_test_run_cli(out, sizeof out, 6, show), 0);
    assert_non_null(strstr(out, "id        gsm8k/test.jsonl:147\n"));
    assert_non_null(strstr(out, "gold      2125\n"));
    assert_non_null(strstr(out, "question:\nJohnny is picking up the toys"));
    char *json[] = {"ilr", "data", "show", "amc23", "--json", "--prompt", NULL};
    assert_int_equal(ilr_test_run_cli(out, sizeof out, 6, json), 0);
    json_error_t err;
    json_t *j = json_loads(out, 0, &err);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "gold")), "27");
    assert_string_equal(json_string_value(json_object_get(j, "id")), "0");
    assert_non_null(strstr(json_string_value(json_object_get(j, "rendered_prompt")), "within \\boxed{}."));
    json_decref(j);
    char *code[] = {"ilr", "data", "show", "mbpp", "--prompt", NULL};
    assert_int_equal(ilr_test_run_cli(out, sizeof out, 5, code), 0);
    assert_non_null(strstr(out, "tests:\nassert remove_Occ("));
    assert_non_null(strstr(out, "prompt (prompts/tasks/mbpp.txt):\nSolve the following"));

    /* a file of our own with a mapping */
    tmp_file t;
    ilr_test_tmpdir(t.dir, "dataset-cli");
    const char *path = write_tmp(&t, "mine.jsonl", "{\"problem\": \"p\", \"solution\": \"so \\\\boxed{42}\"}\n");
    char *mine[] = {"ilr", "data", "show", (char *)path, "--question", "problem", "--answer", "solution", "--format", "boxed", NULL};
    assert_int_equal(ilr_test_run_cli(out, sizeof out, 10, mine), 0);
    assert_non_null(strstr(out, "gold      42\n"));
    char *nomap[] = {"ilr", "data", "show", (char *)path, NULL};
    assert_int_equal(ilr_test_run_cli(out, sizeof out, 4, nomap), 1);
    assert_non_null(strstr(out, "mine.jsonl:1: missing required key 'question'"));
    char *badfmt[] = {"ilr", "data", "show", (char *)path, "--format", "latex", NULL};
    assert_int_equal(ilr_test_run_cli(out, sizeof out, 6, badfmt), 2);
    ilr_test_rmtree(t.dir);

    char *past[] = {"ilr", "data", "show", "aime24", "--index", "30", NULL};
    assert_int_equal(ilr_test_run_cli(out, sizeof out, 6, past), 2);
    assert_non_null(strstr(out, "--index 30 is past the last item (aime24 has 30)"));
    char *unknown[] = {"ilr", "data", "show", "gsm9k", NULL};
    assert_int_equal(ilr_test_run_cli(out, sizeof out, 4, unknown), 1);
    assert_non_null(strstr(out, "'gsm9k' is neither a dataset name"));
    char *help[] = {"ilr", "data", "show", "--help", NULL};
    assert_int_equal(ilr_test_run_cli(out, sizeof out, 4, help), 0);
    assert_non_null(strstr(out, "usage: ilr data ls"));
    char *lshelp[] = {"ilr", "data", "ls", "--help", NULL};
    assert_int_equal(ilr_test_run_cli(out, sizeof out, 4, lshelp), 0);
    assert_non_null(strstr(out, "--format F"));
    char *none[] = {"ilr", "data", NULL};
    assert_int_equal(ilr_test_run_cli(out, sizeof out, 2, none), 2);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_registry_counts), cmocka_unit_test(test_known_items), cmocka_unit_test(test_default_mapping),
    cmocka_unit_test(test_formats),         cmocka_unit_test(test_bad_input),   cmocka_unit_test(test_prompts),
    cmocka_unit_test(test_cli_data),
};

ILR_TEST_GROUP(dataset, tests)
