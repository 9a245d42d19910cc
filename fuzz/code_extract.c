/* libFuzzer target: arbitrary bytes as a model's completion through code extraction and the HumanEval / MBPP
 * program builders (and the math reward's format check), and as the prompt, tests and entry point those
 * builders take from a benchmark file.
 * Seeds: fuzz/corpus/code_extract. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ilr/code_program.h"
#include "ilr/reward.h"

static const char prompt[] = "from typing import List\n\n\ndef helper(a):\n    return a\n\n\ndef f(x: List[int]) -> int:\n"
                             "    \"\"\"Doc.\"\"\"\n";
static const char test[] = "def check(candidate):\n    assert candidate([1]) == 1\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 16384) return 0;
    const char *text = (const char *)data;
    char *code = NULL, *program = NULL;
    size_t len;
    ilr_code_source source;
    if (ilr_code_extract(text, size, &code, &len, &source) == 0 && len) {
        volatile char sink = code[len - 1];
        (void)sink;
    }
    free(code);
    ilr_code_program_humaneval(prompt, text, size, test, "f", &program, &len, &source);
    free(program);
    /* the same bytes as the benchmark's side: prompt, entry point, setup and asserts */
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = 0;
    char entry[17] = {0};
    memcpy(entry, s, size < 16 ? size : 16);
    static const char chat[] = "```python\ndef f(x):\n    return 1\n```";
    ilr_code_program_humaneval(s, chat, sizeof chat - 1, s, entry, &program, &len, NULL);
    free(program);
    ilr_code_program_humaneval(s, chat, sizeof chat - 1, test, "f", &program, &len, NULL);
    free(program);
    const char *asserts[] = {s, "assert True", s};
    ilr_code_program_mbpp(text, size, s, asserts, (int)(size % 4), &program, &len, NULL);
    free(program);
    ilr_reward_math_result r;
    ilr_reward_math(text, size, "1", NULL, &r);
    free(s);
    return 0;
}
