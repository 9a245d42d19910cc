/* Rewards without running anything: the code in a model's completion (fences, several blocks, an unterminated
 * fence, no code), the HumanEval and MBPP program texts (the base-model and the chat-model forms), and the
 * math reward's correctness and format terms, and the reward benches' command lines.  The code reward, which runs programs, is tested with the
 * sandbox (tests/test_sandbox.c). */
#include <stdlib.h>
#include <string.h>

#include "ilr/code_program.h"
#include "ilr/error.h"
#include "ilr/reward.h"
#include "test_util.h"

static void expect_code_n(const char *text, size_t len, const char *want, ilr_code_source want_source) {
    char *code = (char *)"unset";
    size_t code_len = 99;
    ilr_code_source source;
    int rc = ilr_code_extract(text, len, &code, &code_len, &source);
    if (!want) {
        if (rc != 1) print_error("extract \"%.*s\": got \"%s\", want no code\n", (int)len, text, code);
        assert_int_equal(rc, 1);
        assert_null(code);
        assert_int_equal(code_len, 0);
        assert_int_equal(source, ILR_CODE_NONE);
        return;
    }
    assert_int_equal(rc, 0);
    if (strcmp(code, want) != 0 || source != want_source)
        print_error("extract \"%.*s\": got \"%s\" (%s), want \"%s\" (%s)\n", (int)len, text, code,
                    ilr_code_source_name(source), want, ilr_code_source_name(want_source));
    assert_string_equal(code, want);
    assert_int_equal(code_len, strlen(want));
    assert_int_equal(source, want_source);
    free(code);
}

static void expect_code(const char *text, const char *want, ilr_code_source want_source) {
    expect_code_n(text, strlen(text), want, want_source);
}

static void test_extract(void **state) {
    (void)state;
    /* unfenced: the whole text, indentation and all (a base model continuing a prompt) */
    expect_code("    return sorted(x)\n", "    return sorted(x)\n", ILR_CODE_TEXT);
    expect_code("use ```python x``` inline\n", "use ```python x``` inline\n", ILR_CODE_TEXT); /* not a fence */
    /* one fenced block, with prose around it */
    expect_code("Sure:\n```python\nprint(1)\n```\nThat prints 1.", "print(1)\n", ILR_CODE_FENCED_PYTHON);
    expect_code("```Python3\nx = 1\n```", "x = 1\n", ILR_CODE_FENCED_PYTHON);
    expect_code("```py \t\nx = 1\n```  \n", "x = 1\n", ILR_CODE_FENCED_PYTHON);
    expect_code("```python\r\nx = 1\r\n```\r\n", "x = 1\r\n", ILR_CODE_FENCED_PYTHON);
    /* several blocks: the last Python one, else the last of any tag */
    expect_code("```python\na = 1\n```\nthen\n```\noutput\n```\n```py\nb = 2\n```\n```text\nzzz\n```\n", "b = 2\n",
                ILR_CODE_FENCED_PYTHON);
    expect_code("```\nx = 1\n```\n```js\ny;\n```\nend", "y;\n", ILR_CODE_FENCED);
    expect_code("```\nx = 1\n```\n```python\n\n   \n```\n", "x = 1\n", ILR_CODE_FENCED); /* blank blocks skipped */
    /* an unterminated final fence runs to the end (cut at max tokens) */
    expect_code("```python\ndef f():\n    return 1", "def f():\n    return 1", ILR_CODE_FENCED_PYTHON);
    expect_code("```python\na = 1\n```\nand better:\n```python\nb = 2\n", "b = 2\n", ILR_CODE_FENCED_PYTHON);
    expect_code("```python", NULL, ILR_CODE_NONE);
    /* a fence inside a markdown list: its indentation comes off every line */
    expect_code("1. The code:\n   ```python\n   def f():\n       return 1\n   ```\n", "def f():\n    return 1\n",
                ILR_CODE_FENCED_PYTHON);
    /* a longer fence holds a shorter one; a closing fence needs at least as many backticks */
    expect_code("````python\ns = '''\n```\n'''\n````\n", "s = '''\n```\n'''\n", ILR_CODE_FENCED_PYTHON);
    expect_code("```python\nx = 1\n``\n```\n", "x = 1\n``\n", ILR_CODE_FENCED_PYTHON);
    /* no code */
    expect_code("", NULL, ILR_CODE_NONE);
    expect_code(" \n\t\n", NULL, ILR_CODE_NONE);
    expect_code("Here:\n```python\n```\nnothing", NULL, ILR_CODE_NONE);
    expect_code_n(NULL, 0, NULL, ILR_CODE_NONE);
    /* bytes are bytes: a NUL inside, and a length shorter than the string */
    expect_code_n("```python\nx = 1\n```\n```python\ny = 2\n```", 19, "x = 1\n", ILR_CODE_FENCED_PYTHON);
    char *code;
    size_t code_len;
    assert_int_equal(ilr_code_extract("```python\nx\0y\n```", 17, &code, &code_len, NULL), 0);
    assert_int_equal(code_len, 4);
    assert_memory_equal(code, "x\0y\n", 5);
    free(code);
    ILR_EXPECT_ERROR(ilr_code_extract("x", 1, NULL, NULL, NULL), ILR_EINVAL, "code is NULL");
    ILR_EXPECT_ERROR(ilr_code_extract(NULL, 3, &code, NULL, NULL), ILR_EINVAL, "text is NULL");
    assert_string_equal(ilr_code_source_name(ILR_CODE_FENCED_PYTHON), "fenced-python");
}

static const char prompt[] = "from typing import List\nimport math\n\n\ndef helper(a):\n    return a\n\n\n"
                             "def total(x: List[int]) -> int:\n    \"\"\"Sum of x.\"\"\"\n";
static const char test[] = "def check(candidate):\n    assert candidate([1, 2]) == 3\n";

static void expect_humaneval(const char *p, const char *completion, const char *entry, const char *want,
                             ilr_code_source want_source) {
    size_t len;
    char *program = ilr_test_humaneval_program(p, completion, test, entry, (int)want_source, &len);
    if (strcmp(program, want) != 0) print_error("program:\n%s\nwant:\n%s\n", program, want);
    assert_string_equal(program, want);
    free(program);
}

static void test_programs(void **state) {
    (void)state;
    /* a base model's body: prompt + completion + "\n" + test + "\n" + check(entry) (openai/human-eval) */
    char want[1024];
    snprintf(want, sizeof want, "%s    return sum(x)\n\n%s\ncheck(total)\n", prompt, test);
    expect_humaneval(prompt, "    return sum(x)\n", "total", want, ILR_CODE_TEXT);
    /* a body in a fence is still a body */
    expect_humaneval(prompt, "```python\n    return sum(x)\n```", "total", want, ILR_CODE_FENCED_PYTHON);
    /* a chat model's whole function: the prompt's head (imports, helpers) + the code */
    snprintf(want, sizeof want,
             "from typing import List\nimport math\n\n\ndef helper(a):\n    return a\n\n\n"
             "def total(x):\n    return helper(sum(x))\n\n%s\ncheck(total)\n", test);
    expect_humaneval(prompt, "Here you go:\n```python\ndef total(x):\n    return helper(sum(x))\n```\nDone.", "total", want,
                     ILR_CODE_FENCED_PYTHON);
    snprintf(want, sizeof want,
             "from typing import List\nimport math\n\n\ndef helper(a):\n    return a\n\n\n"
             "def  total (x):\n    return sum(x)\n\n%s\ncheck(total)\n", test);
    expect_humaneval(prompt, "def  total (x):\n    return sum(x)\n", "total", want, ILR_CODE_TEXT);
    /* a prompt without the function's def line: only its import lines go first */
    snprintf(want, sizeof want, "from typing import List\nimport os\ndef total(x):\n    return sum(x)\n\n%s\ncheck(total)\n",
             test);
    expect_humaneval("from typing import List\nX = 1\nimport os\n", "```python\ndef total(x):\n    return sum(x)\n```",
                     "total", want, ILR_CODE_FENCED_PYTHON);
    /* other names, or a def that is not at top level, do not count as the function */
    snprintf(want, sizeof want, "%sdef totals(x):\n    return 0\n\n%s\ncheck(total)\n", prompt, test);
    expect_humaneval(prompt, "def totals(x):\n    return 0\n", "total", want, ILR_CODE_TEXT);
    snprintf(want, sizeof want, "%s    def total(y):\n        return 0\n    return total(x)\n\n%s\ncheck(total)\n", prompt,
             test);
    expect_humaneval(prompt, "    def total(y):\n        return 0\n    return total(x)\n", "total", want, ILR_CODE_TEXT);
    /* no code: the prompt's function keeps only its docstring (returns None: the tests fail) */
    snprintf(want, sizeof want, "%s\n%s\ncheck(total)\n", prompt, test);
    expect_humaneval(prompt, "", "total", want, ILR_CODE_NONE);

    char *program = (char *)"unset";
    size_t len;
    ILR_EXPECT_ERROR(ilr_code_program_humaneval(prompt, "x", 1, test, "f(x)", &program, &len, NULL), ILR_EINVAL,
                     "not a Python identifier");
    assert_null(program);
    ILR_EXPECT_ERROR(ilr_code_program_humaneval(prompt, "x", 1, test, NULL, &program, &len, NULL), ILR_EINVAL, "(null)");
    ILR_EXPECT_ERROR(ilr_code_program_humaneval(NULL, "x", 1, test, "f", &program, &len, NULL), ILR_EINVAL, "NULL");

    /* MBPP: code, setup, asserts (setup after the code: it may use the code's classes) */
    const char *asserts[] = {"assert sq(3) == 9", "assert sq(-2) == 4"};
    ilr_code_source source;
    assert_int_equal(ilr_code_program_mbpp("```python\ndef sq(x):\n    return x * x\n```", 41, "import math", asserts, 2,
                                           &program, &len, &source), 0);
    assert_string_equal(program, "def sq(x):\n    return x * x\n\nimport math\nassert sq(3) == 9\nassert sq(-2) == 4\n");
    assert_int_equal(len, strlen(program));
    assert_int_equal(source, ILR_CODE_FENCED_PYTHON);
    free(program);
    assert_int_equal(ilr_code_program_mbpp("x = 1", 5, NULL, NULL, 0, &program, &len, &source), 0);
    assert_string_equal(program, "x = 1\n\n");
    free(program);
    ILR_EXPECT_ERROR(ilr_code_program_mbpp("x", 1, NULL, NULL, 2, &program, &len, NULL), ILR_EINVAL, "2 tests");
    const char *with_null[] = {"assert 1", NULL};
    ILR_EXPECT_ERROR(ilr_code_program_mbpp("x", 1, NULL, with_null, 2, &program, &len, NULL), ILR_EINVAL, "test 1");
}

static void expect_math(const char *completion, const char *gold, const ilr_reward_math_options *opt, int correct,
                        int formatted, double reward) {
    ilr_reward_math_result r;
    assert_int_equal(ilr_reward_math(completion, strlen(completion), gold, opt, &r), 0);
    print_message("math reward %-42s gold %-6s: correct %d formatted %d reward %.2f (answer \"%s\", rule %s)\n",
                  completion, gold, r.correct, r.formatted, r.reward, r.answer, ilr_math_rule_name(r.rule));
    assert_int_equal(r.correct, correct);
    assert_int_equal(r.formatted, formatted);
    assert_true(r.reward > reward - 1e-12 && r.reward < reward + 1e-12);
}

static void test_math_reward(void **state) {
    (void)state;
    expect_math("so \\boxed{\\frac{1}{2}}", "0.5", NULL, 1, 1, 1.1);
    expect_math("Thus the answer is $\\boxed{5}$.", "6", NULL, 0, 1, 0.1);
    expect_math("The answer is 7.", "7", NULL, 1, 0, 1.0);             /* right, but not boxed */
    expect_math("\\boxed{3} or maybe \\boxed{4}", "4", NULL, 1, 0, 1.0); /* two boxes: not well-formed */
    expect_math("\\boxed{}", "6", NULL, 0, 0, 0.0);
    expect_math("\\boxed{ }", "6", NULL, 0, 0, 0.0);
    expect_math("\\fbox{6}", "6", NULL, 1, 1, 1.1);
    expect_math("no answer here 7", "7", NULL, 0, 0, 0.0);
    expect_math("", "7", NULL, 0, 0, 0.0);
    ilr_reward_math_options o;
    ilr_reward_math_options_default(&o);
    assert_true(o.format_weight == ILR_REWARD_FORMAT_WEIGHT);
    o.mode = ILR_MATH_EXTRACT_LAST_NUMBER; /* GSM8K-style: any marked answer is well-formed */
    expect_math("no answer here 7", "7", &o, 1, 0, 1.0);
    expect_math("so #### 7", "7", &o, 1, 1, 1.1);
    expect_math("The answer is 8.", "7", &o, 0, 1, 0.1);
    o.mode = ILR_MATH_EXTRACT_BOXED;
    expect_math("The answer is 7.", "7", &o, 0, 0, 0.0);
    expect_math("\\boxed{7}", "7", &o, 1, 1, 1.1);
    o.format_weight = 0;
    expect_math("\\boxed{7}", "7", &o, 1, 1, 1.0);
    o.format_weight = 0.5, o.math.percent_as_fraction = 1;
    expect_math("\\boxed{10\\%}", "0.1", &o, 1, 1, 1.5);

    ilr_reward_math_result r;
    ILR_EXPECT_ERROR(ilr_reward_math("x", 1, NULL, NULL, &r), ILR_EINVAL, "NULL");
    ILR_EXPECT_ERROR(ilr_reward_math(NULL, 1, "1", NULL, &r), ILR_EINVAL, "NULL");
    ILR_EXPECT_ERROR(ilr_reward_math("x", 1, "1", NULL, NULL), ILR_EINVAL, "result");
    assert_int_equal(ilr_reward_math(NULL, 0, "1", NULL, &r), 0);
    assert_int_equal(r.correct, 0);
    /* an answer longer than the result keeps is truncated there, and still graded in full */
    char long_text[1200] = "\\boxed{", gold[1001];
    memset(gold, '1', 1000);
    gold[1000] = 0;
    strcat(strcat(long_text, gold), "}");
    assert_int_equal(ilr_reward_math(long_text, strlen(long_text), gold, NULL, &r), 0);
    assert_int_equal(strlen(r.answer), sizeof r.answer - 1);
    assert_int_equal(r.correct, 1);
}

/* ilr bench grade runs over the grader's cases; bench sandbox refuses a missing file by name (running it is
 * left to the sandbox group, which forks while the process is small) */
static void test_cli_bench(void **state) {
    (void)state;
    char out[8192];
    char *grade[] = {"ilr", "bench", "grade", "--seconds", "1", NULL};
    assert_int_equal(ilr_test_run_cli(out, sizeof out, 5, grade), 0);
    print_message("%s", out);
    assert_non_null(strstr(out, "tests/data/math_grader/cases.jsonl"));
    assert_non_null(strstr(out, "comparisons/s"));
    assert_non_null(strstr(out, "expression"));
    char *missing[] = {"ilr", "bench", "sandbox", "--input", "/nonexistent/HumanEval.jsonl", NULL};
    assert_int_equal(ilr_test_run_cli(out, sizeof out, 5, missing), 1);
    assert_non_null(strstr(out, "/nonexistent/HumanEval.jsonl"));
    char *bad[] = {"ilr", "bench", "sandbox", "--workers", "0", NULL};
    assert_int_equal(ilr_test_run_cli(out, sizeof out, 5, bad), 2);
    assert_non_null(strstr(out, "--workers"));
    char *help[] = {"ilr", "bench", "grade", "--help", NULL};
    assert_int_equal(ilr_test_run_cli(out, sizeof out, 4, help), 0);
    assert_non_null(strstr(out, "ilr bench sandbox [--input HumanEval.jsonl]"));
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_extract),
    cmocka_unit_test(test_programs),
    cmocka_unit_test(test_math_reward),
    cmocka_unit_test(test_cli_bench),
};

ILR_TEST_GROUP(reward, tests)
