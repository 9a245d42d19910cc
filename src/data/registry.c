/* The bundled benchmarks by name (data/benchmarks/, sources and licenses in its SOURCES.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ilr/dataset.h"
#include "ilr/error.h"
#include "ilr/io.h"
#include "internal.h"

#define MATH_PROMPT "prompts/tasks/math.txt"
#define BENCH "data/benchmarks/"

/* question field, answer field, format, then optional designators (id, level, subject, id range). */
#define MAP(q, a, f, ...) {.question = q, .answer = a, .format = ILR_GOLD_##f, __VA_ARGS__}

/* MATH training problems whose solution ends in an empty \boxed{} (both "the answer is 0" problems): no gold. */
static const char *const math_train_defects[] = {"train/number_theory/7115.json", "train/number_theory/7117.json", NULL};

static const ilr_dataset_info registry[] = {
    {"gsm8k", BENCH "gsm8k/test.jsonl", MATH_PROMPT, "GSM8K test split (grade-school word problems)", 1319,
     MAP("question", "answer", GSM8K)},
    {"gsm8k-train", BENCH "gsm8k/train.jsonl", MATH_PROMPT, "GSM8K training split", 7473,
     MAP("question", "answer", GSM8K)},
    {"math", BENCH "math/test.jsonl", MATH_PROMPT, "MATH test split (Hendrycks et al.), levels 1-5", 5000,
     MAP("problem", "solution", BOXED, .id = "unique_id", .level = "level", .subject = "type")},
    {"math-train", BENCH "math/train.jsonl", MATH_PROMPT, "MATH training split (2 with no gold answer left out)", 7498,
     MAP("problem", "solution", BOXED, .id = "unique_id", .level = "level", .subject = "type",
         .exclude_ids = math_train_defects)},
    {"math500", BENCH "math500/test.jsonl", MATH_PROMPT, "MATH-500 (PRM800K's test subset of MATH)", 500,
     MAP("problem", "answer", PLAIN, .id = "unique_id", .level = "level", .subject = "subject")},
    {"aime24", BENCH "aime24/test.jsonl", MATH_PROMPT, "AIME 2024 I and II", 30, MAP("problem", "answer", PLAIN, .id = "id")},
    {"aime25", BENCH "aime25/test.jsonl", MATH_PROMPT, "AIME 2025 I and II", 30,
     MAP("problem", "expected_answer", PLAIN, .id = "id")},
    {"amc23", BENCH "amc23/test.jsonl", MATH_PROMPT, "AMC 2023 (12A/12B)", 40, MAP("problem", "answer", PLAIN, .id = "id")},
    {"minerva", BENCH "minerva_math/test.jsonl", MATH_PROMPT, "Minerva Math (MIT OCW science problems)", 272,
     MAP("problem", "solution", BOXED, .id = "idx", .subject = "type")},
    {"olympiadbench", BENCH "olympiadbench/test.jsonl", MATH_PROMPT, "OlympiadBench, English open-ended text-only math",
     675, MAP("question", "final_answer", LIST, .id = "id", .subject = "subfield")},
    {"humaneval", BENCH "humaneval/HumanEval.jsonl", "prompts/tasks/humaneval.txt", "HumanEval (complete a function)",
     164, MAP("prompt", NULL, CODE_HUMANEVAL, .id = "task_id")},
    {"mbpp", BENCH "mbpp/mbpp.jsonl", "prompts/tasks/mbpp.txt", "MBPP test split (task_id 11-510)", 500,
     MAP("text", NULL, CODE_MBPP, .id = "task_id", .id_min = 11, .id_max = 510)},
    {"mbpp-train", BENCH "mbpp/mbpp.jsonl", "prompts/tasks/mbpp.txt", "MBPP training + validation (task_id 511-974)",
     464, MAP("text", NULL, CODE_MBPP, .id = "task_id", .id_min = 511, .id_max = 974)},
};

#define REGISTRY_SIZE ((int)(sizeof registry / sizeof *registry))

int ilr_dataset_registry_count(void) { return REGISTRY_SIZE; }

const ilr_dataset_info *ilr_dataset_registry_get(int i) { return i >= 0 && i < REGISTRY_SIZE ? &registry[i] : NULL; }

const ilr_dataset_info *ilr_dataset_registry_find(const char *name) {
    for (int i = 0; i < REGISTRY_SIZE; i++)
        if (strcmp(registry[i].name, name) == 0) return &registry[i];
    return NULL;
}

int ilr_dataset_open(const char *name_or_path, ilr_dataset *out) {
    const ilr_dataset_info *info = ilr_dataset_registry_find(name_or_path);
    if (!info) {
        if (ilr_file_exists(name_or_path)) return ilr_dataset_load(name_or_path, NULL, out);
        char names[512] = "";
        for (int i = 0; i < REGISTRY_SIZE; i++) {
            size_t k = strlen(names);
            snprintf(names + k, sizeof names - k, "%s%s", i ? ", " : "", registry[i].name);
        }
        memset(out, 0, sizeof *out);
        return ILR_FAIL(ILR_ENOTFOUND, "'%s' is neither a dataset name (%s) nor a file", name_or_path, names);
    }
    char path[4096];
    int rc = ilr_resource_path(path, sizeof path, info->file);
    if (rc) return memset(out, 0, sizeof *out), rc;
    rc = ilr_dataset_load_named(path, info->file + strlen(BENCH), &info->mapping, info->template_file, out);
    if (rc) return rc;
    free(out->name);
    if (!(out->name = strdup(info->name))) {
        ilr_dataset_free(out);
        return ILR_FAIL(ILR_ENOMEM, "%s: out of memory", info->name);
    }
    return 0;
}
