/* Datasets: JSON-lines files of questions with gold answers (math) or tests (code), and the registry of the
 * benchmarks bundled under data/benchmarks/.
 *
 * A field mapping says which JSON field of a line holds the question, which the gold answer and in which
 * format the answer is written (ilr_gold_format); ilr_dataset_load turns every line into an ilr_dataset_item
 * that owns its strings.  The default mapping (a NULL mapping) reads the files ilr writes itself and any
 * JSONL with "question" and "answer": {"id", "question", "answer" (plain), "level", "subject"}, where only
 * "question" and "answer" are required.
 *
 * The registry names the bundled benchmarks (ilr_dataset_registry_find("gsm8k")), each with its file, its
 * mapping, its kind and its prompt template, a file under prompts/tasks/ with {{placeholders}}
 * (include/ilr/template.h).  ilr_dataset_open takes a registry name or a path to a JSONL file.
 *
 * Bad input (a malformed line, a missing required field, a value of the wrong type, an answer that cannot be
 * extracted, an empty file) is ILR_EFORMAT / ILR_ENOTFOUND with a message that names "file:line" and the
 * field; nothing is kept then. */
#ifndef ILR_DATASET_H
#define ILR_DATASET_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    ILR_TASK_MATH = 0, /* a question with a gold answer, graded by the math grader */
    ILR_TASK_CODE = 1, /* a programming task with tests, run in the sandbox */
} ilr_task_kind;

/* How the gold answer is written in the answer field. */
typedef enum {
    ILR_GOLD_PLAIN = 0,      /* a string as is (trimmed), or a number (AMC's 27.0 -> "27") */
    ILR_GOLD_GSM8K,          /* the text after the last "####" of a solution, thousands separators removed */
    ILR_GOLD_BOXED,          /* the last \boxed{}/\fbox{} of a solution (MATH, Minerva) */
    ILR_GOLD_LIST,           /* an array of strings, each without its $..$, joined with ", " (OlympiadBench) */
    ILR_GOLD_CODE_HUMANEVAL, /* no gold answer: fields prompt, entry_point, test, canonical_solution */
    ILR_GOLD_CODE_MBPP,      /* no gold answer: fields test_list, test_setup_code, code */
} ilr_gold_format;

/* "plain", "gsm8k", "boxed", "list", "code-humaneval", "code-mbpp". */
const char *ilr_gold_format_name(ilr_gold_format format);
/* ILR_EINVAL naming the formats when name is none of them. */
int ilr_gold_format_parse(const char *name, ilr_gold_format *out);
/* ILR_TASK_CODE for the code formats, else ILR_TASK_MATH. */
ilr_task_kind ilr_gold_format_kind(ilr_gold_format format);

typedef struct {
    const char *question; /* the field with the question text (required; a string) */
    const char *answer;   /* the field with the gold answer (required for math formats; unused for code) */
    ilr_gold_format format;
    const char *id;      /* the field with the item's id (a string or an integer), NULL: ids are "file:line" */
    const char *level;   /* an integer field, or a string "Level N"; NULL or absent: level 0 (unknown) */
    const char *subject; /* a string field; NULL, absent or null: no subject */
    /* Row filter: keep only lines whose id field is an integer in [id_min, id_max].  Off when both are 0. */
    int64_t id_min, id_max;
    /* Lines whose id field (a string, or an integer as decimal) is one of these are left out: known defects of
     * a source file.  NULL-terminated; NULL for none. */
    const char *const *exclude_ids;
} ilr_dataset_mapping;

/* The default mapping: question "question", answer "answer" (plain), id "id", level "level",
 * subject "subject". */
void ilr_dataset_mapping_default(ilr_dataset_mapping *m);

typedef struct {
    char *id;       /* the id field's value (integers printed), else "file:line" */
    char *question; /* the question text (HumanEval: the prompt, a signature with its docstring) */
    char *gold;     /* math: the gold answer, never empty; code: NULL */
    int level;      /* 0 when unknown */
    char *subject;  /* NULL when none */
    int line;       /* the line in the file */
    /* code tasks (NULL / 0 otherwise) */
    char *prompt;          /* HumanEval: the prompt the completion continues */
    char *entry_point;     /* HumanEval: the function the tests call */
    char *test;            /* HumanEval: the test program defining check(candidate) */
    char **test_list;      /* MBPP: assert statements */
    int num_tests;         /* MBPP: entries of test_list */
    char *test_setup_code; /* MBPP: code run before the tests ("" when none) */
    char *code;            /* the reference solution: MBPP "code", HumanEval "canonical_solution" (a body that
                              completes prompt); NULL when the file has none */
} ilr_dataset_item;

typedef struct {
    char *name;  /* the registry name, or the path as given */
    char *path;  /* the file read */
    ilr_task_kind kind;
    ilr_gold_format format;
    char *template_path; /* the prompt template as named (prompts/tasks/math.txt), NULL when none is set */
    char *template_text; /* its text, without one final newline */
    ilr_dataset_item *items;
    int count;
} ilr_dataset;

/* Loads path with mapping (NULL: the default mapping) and sets the standard prompt template of the format,
 * prompts/tasks/math.txt, humaneval.txt or mbpp.txt (found with ilr_resource_path; failing when it is not
 * there).  *out is zeroed on failure. */
int ilr_dataset_load(const char *path, const ilr_dataset_mapping *mapping, ilr_dataset *out);
/* The same over text in memory (tests, fuzzing); path names it in ids and errors.  No template is set. */
int ilr_dataset_parse(const char *text, size_t len, const char *path, const ilr_dataset_mapping *mapping,
                      ilr_dataset *out);
void ilr_dataset_free(ilr_dataset *ds);

/* Reads a template file (an existing path, else a name under the project root such as
 * prompts/tasks/math.txt) for ilr_dataset_prompt, replacing the one set.  Its final newline is dropped. */
int ilr_dataset_set_template(ilr_dataset *ds, const char *rel);
/* Renders the prompt of item i into *out (malloc'ed).  Placeholders: {{question}} always; HumanEval also
 * {{prompt}} and {{entry_point}}; MBPP also {{tests}} (test_list, one per line).  ILR_EINVAL when i is out
 * of range or no template is set; ILR_EFORMAT when the template names another placeholder. */
int ilr_dataset_prompt(const ilr_dataset *ds, int i, char **out);

/* ---- the registry of bundled benchmarks ---- */
typedef struct {
    const char *name;        /* "gsm8k" */
    const char *file;        /* relative to the project root: "data/benchmarks/gsm8k/test.jsonl" */
    const char *template_file; /* "prompts/tasks/math.txt" */
    const char *description; /* "GSM8K test split" */
    int expected_count;      /* items it holds */
    ilr_dataset_mapping mapping;
} ilr_dataset_info;

int ilr_dataset_registry_count(void);
/* The i-th entry (0 <= i < count), NULL otherwise. */
const ilr_dataset_info *ilr_dataset_registry_get(int i);
/* The entry called name, or NULL. */
const ilr_dataset_info *ilr_dataset_registry_find(const char *name);

/* Opens a registry name (its file found with ilr_resource_path, its template set) or else a path to a JSONL
 * file (default mapping, standard template).  ILR_ENOTFOUND naming the registry when it is neither. */
int ilr_dataset_open(const char *name_or_path, ilr_dataset *out);

#endif
