/* libFuzzer target: arbitrary bytes as an evaluation's samples.jsonl (what `ilr eval` resumes from and
 * `ilr eval --compare` reads from another directory).  Every record handed on has its strings and a sample
 * index of -1 (greedy) or more.  Seeds: fuzz/corpus/eval_records. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ilr/eval_run.h"

static int check(const ilr_eval_record *r, void *user) {
    (void)user;
    if (!r->bench || !r->question || !r->answer || r->sample < -1) abort();
    volatile size_t n = strlen(r->bench) + strlen(r->question) + strlen(r->answer);
    (void)n;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ilr_eval_records_parse((const char *)data, size, "samples.jsonl", check, NULL);
    return 0;
}
