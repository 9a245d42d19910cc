/* ilr data ls | show: the bundled benchmarks and any JSONL dataset, item by item. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "ilr/dataset.h"
#include "ilr/error.h"

static const char data_help[] =
    "usage: ilr data ls\n"
    "       ilr data show NAME|FILE [--index I] [--prompt] [--json] [mapping options]\n\n"
    "Datasets are JSON-lines files, one question per line: the benchmarks bundled in data/benchmarks/ by\n"
    "name (`ilr data ls` lists them; sources and licenses in data/benchmarks/SOURCES.md), or any JSONL file\n"
    "with \"question\" and \"answer\" fields (and optionally \"id\", \"level\", \"subject\").\n\n"
    "  ls                 a table of the bundled datasets: name, kind, items, file, prompt template\n"
    "  show NAME|FILE     one item: id, level, subject, question, gold answer (math) or tests (code)\n"
    "    --index I        which item, from 0 (default 0)\n"
    "    --prompt         also the prompt the item is posed with (its template rendered)\n"
    "    --json           one JSON object instead of text\n"
    "    --template FILE  render with this template ({{question}}, code: {{prompt}} {{entry_point}} {{tests}})\n"
    "  mapping options, for a FILE only (defaults: question, answer, plain, id, level, subject):\n"
    "    --question KEY   the field holding the question\n"
    "    --answer KEY     the field holding the gold answer\n"
    "    --format F       how the answer is written: plain (a string or number as is), gsm8k (after the\n"
    "                     last ####), boxed (last \\boxed{} of a solution), list (array joined with \", \"),\n"
    "                     code-humaneval, code-mbpp\n"
    "    --id KEY, --level KEY, --subject KEY   the fields holding those (absent fields are fine)\n";

static const char *kind_name(ilr_task_kind kind) { return kind == ILR_TASK_CODE ? "code" : "math"; }

static int data_ls(void) {
    printf("%-14s %-5s %6s  %-42s %s\n", "name", "kind", "items", "file", "prompt template");
    for (int i = 0; i < ilr_dataset_registry_count(); i++) {
        const ilr_dataset_info *info = ilr_dataset_registry_get(i);
        ilr_dataset ds;
        if (ilr_dataset_open(info->name, &ds)) return ilr_cli_fail("data ls");
        printf("%-14s %-5s %6d  %-42s %s\n", info->name, kind_name(ds.kind), ds.count, info->file,
               info->template_file);
        ilr_dataset_free(&ds);
    }
    return 0;
}

static void set_str(json_t *obj, const char *key, const char *value) {
    if (value) json_object_set_new(obj, key, json_string(value));
}

static json_t *item_json(const ilr_dataset *ds, int index, const char *prompt) {
    const ilr_dataset_item *it = &ds->items[index];
    json_t *o = json_object();
    set_str(o, "dataset", ds->name);
    json_object_set_new(o, "index", json_integer(index));
    json_object_set_new(o, "line", json_integer(it->line));
    set_str(o, "id", it->id);
    set_str(o, "kind", kind_name(ds->kind));
    json_object_set_new(o, "level", json_integer(it->level));
    json_object_set_new(o, "subject", it->subject ? json_string(it->subject) : json_null());
    set_str(o, "question", it->question);
    set_str(o, "gold", it->gold);
    set_str(o, "entry_point", it->entry_point);
    set_str(o, "test", it->test);
    if (it->test_list) {
        json_t *tests = json_array();
        for (int t = 0; t < it->num_tests; t++) json_array_append_new(tests, json_string(it->test_list[t]));
        json_object_set_new(o, "test_list", tests);
    }
    set_str(o, "test_setup_code", it->test_setup_code);
    set_str(o, "code", it->code);
    set_str(o, "rendered_prompt", prompt);
    return o;
}

static void print_block(const char *label, const char *text) {
    if (!text) return;
    size_t n = strlen(text);
    printf("%s:\n%s%s", label, text, n && text[n - 1] == '\n' ? "" : "\n");
}

static void item_text(const ilr_dataset *ds, int index, const char *prompt) {
    const ilr_dataset_item *it = &ds->items[index];
    printf("dataset   %s: %d items, %s, %s\n", ds->name, ds->count, kind_name(ds->kind), ds->path);
    printf("item      %d (line %d)\nid        %s\n", index, it->line, it->id);
    if (it->level) printf("level     %d\n", it->level);
    else printf("level     unknown\n");
    printf("subject   %s\n", it->subject ? it->subject : "-");
    if (it->gold) printf("gold      %s\n", it->gold);
    if (it->entry_point) printf("entry     %s\n", it->entry_point);
    print_block("question", it->question);
    for (int t = 0; t < it->num_tests; t++) printf("%s%s\n", t ? "" : "tests:\n", it->test_list[t]);
    if (it->test_setup_code && it->test_setup_code[0]) print_block("test setup", it->test_setup_code);
    print_block("test", it->test);
    print_block("reference solution", it->code);
    if (prompt) printf("prompt (%s):\n%s\n", ds->template_path, prompt);
}

typedef struct {
    int index, want_prompt, json, has_mapping;
    const char *template_file;
    ilr_dataset_mapping mapping;
} show_options;

static int open_for_show(const char *what, show_options *o, ilr_dataset *ds) {
    if (o->has_mapping && ilr_dataset_registry_find(what))
        return ILR_FAIL(ILR_EINVAL, "'%s' is a bundled dataset with its own mapping; mapping options are for files", what);
    int rc = o->has_mapping ? ilr_dataset_load(what, &o->mapping, ds) : ilr_dataset_open(what, ds);
    if (!rc && o->template_file && (rc = ilr_dataset_set_template(ds, o->template_file))) ilr_dataset_free(ds);
    return rc;
}

static int data_show(int argc, char **argv) {
    static const struct option longopts[] = {
        {"index", required_argument, 0, 'i'},   {"prompt", no_argument, 0, 'p'},      {"json", no_argument, 0, 'j'},
        {"template", required_argument, 0, 't'}, {"question", required_argument, 0, 'q'}, {"answer", required_argument, 0, 'a'},
        {"format", required_argument, 0, 'f'},  {"id", required_argument, 0, 'I'},    {"level", required_argument, 0, 'l'},
        {"subject", required_argument, 0, 's'}, {"help", no_argument, 0, 'h'},        {0, 0, 0, 0}};
    show_options o = {0};
    ilr_dataset_mapping_default(&o.mapping);
    long long v;
    optind = 0;
    opterr = 0;
    for (int c; (c = getopt_long(argc, argv, "h", longopts, NULL)) != -1;) {
        if (c == 'h') return printf("%s", data_help), 0;
        if (c == 'i') {
            if (ilr_cli_parse_long("data show", "--index", optarg, 0, 1 << 30, &v)) return 2;
            o.index = (int)v;
        } else if (c == 'p') o.want_prompt = 1;
        else if (c == 'j') o.json = 1;
        else if (c == 't') o.template_file = optarg;
        else if (c == 'f') {
            if (ilr_gold_format_parse(optarg, &o.mapping.format)) return ilr_cli_usage_error("data show", "%s", ilr_last_error());
            o.has_mapping = 1;
        } else if (strchr("qaIls", c)) {
            const char **field = c == 'q' ? &o.mapping.question : c == 'a' ? &o.mapping.answer : c == 'I' ? &o.mapping.id
                                 : c == 'l' ? &o.mapping.level : &o.mapping.subject;
            *field = optarg;
            o.has_mapping = 1;
        } else return ilr_cli_usage_error("data show", "unknown or incomplete option '%s'", argv[optind - 1]);
    }
    if (optind + 1 != argc) return ilr_cli_usage_error("data show", "expected one dataset name or file");
    ilr_dataset ds;
    if (open_for_show(argv[optind], &o, &ds)) return ilr_cli_fail("data show");
    if (o.index >= ds.count) {
        ilr_cli_usage_error("data show", "--index %d is past the last item (%s has %d)", o.index, ds.name, ds.count);
        return ilr_dataset_free(&ds), 2;
    }
    char *prompt = NULL;
    if (o.want_prompt && ilr_dataset_prompt(&ds, o.index, &prompt)) return ilr_dataset_free(&ds), ilr_cli_fail("data show");
    if (o.json) {
        json_t *j = item_json(&ds, o.index, prompt);
        char *text = json_dumps(j, JSON_PRESERVE_ORDER);
        if (text) printf("%s\n", text);
        free(text);
        json_decref(j);
    } else item_text(&ds, o.index, prompt);
    free(prompt);
    ilr_dataset_free(&ds);
    return 0;
}

int ilr_cmd_data(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "ls") == 0) {
        if (argc > 2 && (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0)) return printf("%s", data_help), 0;
        if (argc > 2) return ilr_cli_usage_error("data ls", "unexpected argument '%s'", argv[2]);
        return data_ls();
    }
    if (argc >= 2 && strcmp(argv[1], "show") == 0) return data_show(argc - 1, argv + 1);
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) return printf("%s", data_help), 0;
    return ilr_cli_usage_error("data", "expected a subcommand: ls or show");
}
