/* YAML experiment configs: defaults, nested and flat keys, command-line overrides, every kind of error with
 * where it happened, and the dump reading back to the same struct; then lists of mappings (the co-learning
 * trainer's agents): loading, what each item set, overrides by index, errors, the dump and the help. */
#include <stdlib.h>
#include <string.h>

#include "ilr/config_yaml.h"
#include "ilr/error.h"
#include "test_util.h"

typedef struct {
    long steps, num_generations, seed;
    double lr, temperature, kl_coef;
    int schedule, greedy;
    char *out_dir, *note;
} opts;

/* Sections interleaved on purpose: the dump must still write each one once. */
static const ilr_cfg_key keys[] = {
    {"steps", ILR_CFG_INT, offsetof(opts, steps), "100", "optimizer steps", NULL, 1, 1e6, NULL, 0},
    {"rollout.num_generations", ILR_CFG_INT, offsetof(opts, num_generations), "8", "samples per question", NULL, 1, 64,
     NULL, 0},
    {"optim.lr", ILR_CFG_FLOAT, offsetof(opts, lr), "1e-4", "peak learning rate", NULL, 0, 1, NULL, 0},
    {"rollout.sampling.temperature", ILR_CFG_FLOAT, offsetof(opts, temperature), "1.0", "sampling temperature", NULL,
     0, 10, NULL, 0},
    {"optim.schedule", ILR_CFG_ENUM, offsetof(opts, schedule), "cosine", "learning-rate schedule",
     "constant|cosine|linear", 0, -1, NULL, 0},
    {"rollout.sampling.greedy", ILR_CFG_BOOL, offsetof(opts, greedy), "false", "greedy decoding", NULL, 0, -1, NULL, 0},
    {"out_dir", ILR_CFG_STRING, offsetof(opts, out_dir), "out/run", "where checkpoints go", NULL, 0, -1, NULL, 0},
    {"rollout.note", ILR_CFG_STRING, offsetof(opts, note), "null", "free text for the log", NULL, 0, -1, NULL, 0},
    {"seed", ILR_CFG_INT, offsetof(opts, seed), "-1", "random seed (-1: from the clock)", NULL, 0, -1, NULL, 0},
    {"kl_coef", ILR_CFG_FLOAT, offsetof(opts, kl_coef), "0.04", "KL penalty", NULL, 0, -1, NULL, 0},
};
static const ilr_cfg_schema schema = {keys, (int)(sizeof keys / sizeof keys[0]), "train"};

static void assert_same_string(const char *a, const char *b) {
    if (a && b) assert_string_equal(a, b);
    else assert_true(a == b);
}

static void assert_same_opts(const opts *a, const opts *b) {
    assert_int_equal(a->steps, b->steps);
    assert_int_equal(a->num_generations, b->num_generations);
    assert_int_equal(a->seed, b->seed);
    assert_true(a->lr == b->lr && a->temperature == b->temperature && a->kl_coef == b->kl_coef);
    assert_int_equal(a->schedule, b->schedule);
    assert_int_equal(a->greedy, b->greedy);
    assert_same_string(a->out_dir, b->out_dir);
    assert_same_string(a->note, b->note);
}

/* Loads text onto fresh defaults in *o; returns the load's code. */
static int load(opts *o, const char *text) {
    ilr_cfg_defaults(&schema, o);
    return ilr_cfg_load_text(&schema, o, text, strlen(text), "cfg.yaml");
}

/* A text that must fail to load with code, the message containing want. */
typedef struct {
    const char *text;
    int code;
    const char *want;
} load_error;

/* Loads each case onto fresh defaults in obj (a struct of s), expecting its error. */
static void expect_load_errors(const ilr_cfg_schema *s, void *obj, const load_error *cases, size_t n) {
    for (size_t i = 0; i < n; i++) {
        ilr_cfg_defaults(s, obj);
        ILR_EXPECT_ERROR(ilr_cfg_load_text(s, obj, cases[i].text, strlen(cases[i].text), "cfg.yaml"), cases[i].code,
                         cases[i].want);
        ilr_cfg_free(s, obj);
    }
}
#define EXPECT_LOAD_ERRORS(s, obj, cases) expect_load_errors((s), (obj), (cases), sizeof(cases) / sizeof((cases)[0]))

/* The same for texts that must fail in any way: ASan's leak check at exit is the assertion. */
static void expect_load_failures(const ilr_cfg_schema *s, void *obj, const char *const *texts, size_t n) {
    for (size_t i = 0; i < n; i++) {
        ilr_cfg_defaults(s, obj);
        assert_true(ilr_cfg_load_text(s, obj, texts[i], strlen(texts[i]), "cfg.yaml") < 0);
        ilr_cfg_free(s, obj);
    }
}

/* Saves a (a struct of s) to path and loads it onto fresh defaults in b; dumping b must give a's dump again.
 * The caller compares the structs and frees both. */
static void save_and_reload(const ilr_cfg_schema *s, const void *a, void *b, const char *path) {
    assert_int_equal(ilr_cfg_save(s, a, path), 0);
    ilr_cfg_defaults(s, b);
    assert_int_equal(ilr_cfg_load_file(s, b, path), 0);
    char *first, *second;
    assert_int_equal(ilr_cfg_dump(s, a, &first), 0);
    assert_int_equal(ilr_cfg_dump(s, b, &second), 0);
    assert_string_equal(first, second);
    free(first);
    free(second);
}

/* Asserts that s's --help-config text contains each of the n texts. */
static void expect_help(const ilr_cfg_schema *s, const char *const *texts, size_t n) {
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    assert_non_null(f);
    assert_int_equal(ilr_cfg_print_help(s, f), 0);
    fclose(f);
    for (size_t i = 0; i < n; i++) {
        if (!strstr(text, texts[i])) print_error("help lacks \"%s\":\n%s", texts[i], text);
        assert_non_null(strstr(text, texts[i]));
    }
    free(text);
}

static void test_defaults_are_the_schema_texts(void **state) {
    (void)state;
    opts o;
    memset(&o, 0xff, sizeof o); /* defaults overwrite whatever the struct held */
    ilr_cfg_defaults(&schema, &o);
    assert_int_equal(o.steps, 100);
    assert_int_equal(o.num_generations, 8);
    assert_int_equal(o.seed, -1);
    assert_true(o.lr == 1e-4 && o.temperature == 1.0 && o.kl_coef == 0.04);
    assert_int_equal(o.schedule, 1);
    assert_int_equal(o.greedy, 0);
    assert_string_equal(o.out_dir, "out/run");
    assert_null(o.note);
    ilr_cfg_free(&schema, &o);
    assert_null(o.out_dir);
    assert_ptr_equal(ilr_cfg_find(&schema, "optim.lr"), &keys[2]);
    assert_null(ilr_cfg_find(&schema, "optim"));
}

static void test_nested_keys_equal_flat_keys(void **state) {
    (void)state;
    static const char nested[] =
        "# a comment\n"
        "steps: 500\n"
        "rollout:\n"
        "  num_generations: 16\n"
        "  sampling:\n"
        "    temperature: 0.7\n"
        "    greedy: yes\n"
        "  note: 'first try'\n"
        "optim: {lr: 3e-5, schedule: linear}\n"
        "out_dir: ~\n";
    static const char flat[] =
        "steps: 500\n"
        "rollout.num_generations: 16\n"
        "rollout.sampling.temperature: 0.7\n"
        "rollout:\n"
        "  sampling.greedy: ON\n"
        "rollout.note: first try\n"
        "optim.lr: 0.00003\n"
        "optim.schedule: \"linear\"\n"
        "out_dir:\n";
    opts a, b;
    assert_int_equal(load(&a, nested), 0);
    assert_int_equal(load(&b, flat), 0);
    assert_int_equal(a.steps, 500);
    assert_int_equal(a.num_generations, 16);
    assert_true(a.temperature == 0.7 && a.lr == 3e-5 && a.greedy == 1 && a.schedule == 2);
    assert_string_equal(a.note, "first try");
    assert_null(a.out_dir);
    assert_int_equal(a.seed, -1); /* not in the file: the default */
    assert_same_opts(&a, &b);
    ilr_cfg_free(&schema, &a);
    ilr_cfg_free(&schema, &b);
}

static void test_empty_files_and_empty_sections_set_nothing(void **state) {
    (void)state;
    static const char *const texts[] = {"", "# only a comment\n", "---\n", "---\n...\n", "rollout:\n", "{}\n"};
    opts d, o;
    ilr_cfg_defaults(&schema, &d);
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        assert_int_equal(load(&o, texts[i]), 0);
        assert_same_opts(&o, &d);
        ilr_cfg_free(&schema, &o);
    }
    ilr_cfg_free(&schema, &d);
}

static void test_override_sets_and_replaces(void **state) {
    (void)state;
    opts o;
    ilr_cfg_defaults(&schema, &o);
    assert_int_equal(ilr_cfg_override(&schema, &o, "rollout.num_generations=+12"), 0);
    assert_int_equal(ilr_cfg_override(&schema, &o, "rollout.note=a=b: #c"), 0); /* split at the first '=' */
    assert_int_equal(ilr_cfg_override(&schema, &o, "rollout.note=second"), 0); /* replaces (ASan: frees) */
    assert_int_equal(ilr_cfg_override(&schema, &o, "out_dir="), 0);
    assert_int_equal(ilr_cfg_override(&schema, &o, "rollout.sampling.greedy=True"), 0);
    assert_int_equal(ilr_cfg_override(&schema, &o, "optim.lr=1e-6"), 0);
    assert_int_equal(ilr_cfg_set(&schema, &o, "seed", "-7", "command line"), 0);
    assert_int_equal(o.num_generations, 12);
    assert_string_equal(o.note, "second");
    assert_null(o.out_dir);
    assert_true(o.greedy == 1 && o.lr == 1e-6 && o.seed == -7);

    ILR_EXPECT_ERROR(ilr_cfg_override(&schema, &o, "steps"), ILR_EINVAL, "command line", "'steps'", "KEY=VALUE",
                     "steps=100");
    ILR_EXPECT_ERROR(ilr_cfg_override(&schema, &o, "=5"), ILR_EINVAL, "KEY=VALUE");
    ILR_EXPECT_ERROR(ilr_cfg_override(&schema, &o, "steps="), ILR_EINVAL,
                     "command line: 'steps' expects an integer, found nothing");
    ILR_EXPECT_ERROR(ilr_cfg_override(&schema, &o, "steps= 5"), ILR_EINVAL, "found ' 5'"); /* nothing trimmed */
    ILR_EXPECT_ERROR(ilr_cfg_override(&schema, &o, "optim.lr=nan"), ILR_EINVAL, "'optim.lr' expects a number",
                     "found 'nan'");
    ILR_EXPECT_ERROR(ilr_cfg_override(&schema, &o, "rollout=3"), ILR_EINVAL,
                     "'rollout' is a section of keys such as 'rollout.num_generations'");
    ILR_EXPECT_ERROR(ilr_cfg_override(&schema, &o, "num_generation=3"), ILR_EINVAL,
                     "command line: unknown key 'num_generation' (did you mean 'rollout.num_generations'?)");
    ILR_EXPECT_ERROR(ilr_cfg_set(&schema, &o, "kl_coef", "1e999", "command line"), ILR_EINVAL,
                     "'kl_coef' is out of range (a finite number), found '1e999'");
    ILR_EXPECT_ERROR(ilr_cfg_set(&schema, &o, "seed", "99999999999999999999", "command line"), ILR_EINVAL,
                     "'seed' is out of range (a 64-bit integer)");
    assert_int_equal(o.seed, -7); /* failed settings change nothing */
    ilr_cfg_free(&schema, &o);
}

static void test_bad_type_names_file_line_column_key_and_value(void **state) {
    (void)state;
    static const load_error cases[] = {
        {"steps: 5\nrollout:\n  num_generations: eight\n", ILR_EINVAL,
         "cfg.yaml:3:20: 'rollout.num_generations' expects an integer, found 'eight'"},
        {"rollout:\n  num_generations: 8.0\n", ILR_EINVAL,
         "cfg.yaml:2:20: 'rollout.num_generations' expects an integer, found '8.0'"},
        {"optim.lr: fast\n", ILR_EINVAL, "cfg.yaml:1:11: 'optim.lr' expects a number, found 'fast'"},
        {"rollout.sampling.greedy: maybe\n", ILR_EINVAL,
         "cfg.yaml:1:26: 'rollout.sampling.greedy' expects true or false"},
        {"steps: null\n", ILR_EINVAL, "cfg.yaml:1:8: 'steps' expects an integer, found 'null'"},
        {"steps:\n  a: 1\n", ILR_EINVAL, "cfg.yaml:2:3: 'steps' expects an integer, found a mapping"},
    };
    opts o;
    EXPECT_LOAD_ERRORS(&schema, &o, cases);
    /* From a file: the message names its path. */
    char dir[256], path[256];
    ilr_test_tmpdir(dir, "cfg");
    static const char text[] = "optim:\n  lr: 1e-3x\n";
    ilr_test_write_file(path, dir, "bad.yaml", text, strlen(text));
    ilr_cfg_defaults(&schema, &o);
    ILR_EXPECT_ERROR(ilr_cfg_load_file(&schema, &o, path), ILR_EINVAL, path, ":2:7: 'optim.lr' expects a number");
    ilr_test_write_file(path, dir, "empty.yaml", "", 0);
    assert_int_equal(ilr_cfg_load_file(&schema, &o, path), 0);
    ILR_EXPECT_ERROR(ilr_cfg_load_file(&schema, &o, "/nonexistent/cfg.yaml"), ILR_ENOTFOUND, "/nonexistent/cfg.yaml");
    ilr_cfg_free(&schema, &o);
    ilr_test_rmtree(dir);
}

static void test_unknown_key_suggests_the_nearest(void **state) {
    (void)state;
    static const load_error cases[] = {
        /* a typo in the whole key, nested and flat */
        {"steps: 5\nrollout:\n  num_generation: 8\n", ILR_EINVAL,
         "cfg.yaml:3:3: unknown key 'rollout.num_generation' (did you mean 'rollout.num_generations'?)"},
        {"rollout.num_generation: 8\n", ILR_EINVAL, "(did you mean 'rollout.num_generations'?)"},
        /* the last component alone, or under the wrong section */
        {"num_generations: 8\n", ILR_EINVAL,
         "cfg.yaml:1:1: unknown key 'num_generations' (did you mean 'rollout.num_generations'?)"},
        {"sampling:\n  temperature: 0.5\n", ILR_EINVAL,
         "cfg.yaml:2:3: unknown key 'sampling.temperature' (did you mean 'rollout.sampling.temperature'?)"},
        /* a typo in a section name: the suggestion fixes the whole path */
        {"rolout:\n  num_generations: 8\n", ILR_EINVAL,
         "cfg.yaml:2:3: unknown key 'rolout.num_generations' (did you mean 'rollout.num_generations'?)"},
        {"zzzzzz: 1\n", ILR_EINVAL, "cfg.yaml:1:1: unknown key 'zzzzzz'; `ilr train --help-config` lists the keys"},
    };
    opts o;
    EXPECT_LOAD_ERRORS(&schema, &o, cases);
    assert_string_equal(ilr_cfg_nearest(&schema, "optim.shedule"), "optim.schedule");
    assert_string_equal(ilr_cfg_nearest(&schema, "greedy"), "rollout.sampling.greedy");
    assert_string_equal(ilr_cfg_nearest(&schema, "stpes"), "steps");
    assert_null(ilr_cfg_nearest(&schema, "batch_size"));
    assert_null(ilr_cfg_nearest(&schema, ""));
}

static void test_enum_error_lists_the_choices(void **state) {
    (void)state;
    opts o;
    ILR_EXPECT_ERROR(load(&o, "optim:\n  schedule: Cosine\n"), ILR_EINVAL,
                     "cfg.yaml:2:13: 'optim.schedule' expects one of constant|cosine|linear, found 'Cosine'");
    ILR_EXPECT_ERROR(ilr_cfg_override(&schema, &o, "optim.schedule=cos"), ILR_EINVAL, "constant|cosine|linear");
    assert_int_equal(ilr_cfg_override(&schema, &o, "optim.schedule=constant"), 0);
    assert_int_equal(o.schedule, 0);
    ilr_cfg_free(&schema, &o);
}

static void test_out_of_range_names_the_range(void **state) {
    (void)state;
    opts o;
    ILR_EXPECT_ERROR(load(&o, "rollout.num_generations: 65\n"), ILR_EINVAL,
                     "cfg.yaml:1:26: 'rollout.num_generations' must be from 1 to 64, found '65'");
    ilr_cfg_free(&schema, &o);
    ILR_EXPECT_ERROR(load(&o, "optim.lr: -1e-3\n"), ILR_EINVAL, "'optim.lr' must be from 0 to 1, found '-1e-3'");
    ilr_cfg_free(&schema, &o);
    ILR_EXPECT_ERROR(load(&o, "steps: 0\n"), ILR_EINVAL, "'steps' must be from 1 to 1000000, found '0'");
    assert_int_equal(ilr_cfg_override(&schema, &o, "rollout.num_generations=64"), 0); /* inclusive */
    assert_int_equal(ilr_cfg_override(&schema, &o, "optim.lr=0"), 0);
    ilr_cfg_free(&schema, &o);
}

static void test_duplicate_keys_are_refused(void **state) {
    (void)state;
    static const load_error cases[] = {
        {"steps: 1\nseed: 2\nsteps: 3\n", ILR_EFORMAT, "cfg.yaml:3:1: duplicate key 'steps' (first given at line 1)"},
        {"rollout:\n  num_generations: 4\nrollout.num_generations: 4\n", ILR_EFORMAT,
         "cfg.yaml:3:1: duplicate key 'rollout.num_generations' (first given at line 2)"},
        {"rollout:\n  note: a\nrollout:\n  sampling.greedy: true\n", ILR_EFORMAT,
         "cfg.yaml:3:1: duplicate key 'rollout' (first given at line 1)"},
        {"optim: {lr: 0.1, lr: 0.2}\n", ILR_EFORMAT, "cfg.yaml:1:18: duplicate key 'optim.lr'"},
    };
    opts o;
    EXPECT_LOAD_ERRORS(&schema, &o, cases);
}

static void test_lists_aliases_and_other_shapes_are_refused(void **state) {
    (void)state;
    static const load_error cases[] = {
        {"steps: 5\nout_dir: [a, b]\n", ILR_EUNSUPPORTED, "cfg.yaml:2:10: 'out_dir': lists are not supported here"},
        {"rollout:\n  note:\n    - a\n", ILR_EUNSUPPORTED,
         "cfg.yaml:3:5: 'rollout.note': lists are not supported here"},
        {"- steps: 5\n", ILR_EUNSUPPORTED, "cfg.yaml:1:1: lists are not supported here"},
        {"steps: &n 5\nseed: *n\n", ILR_EUNSUPPORTED, "cfg.yaml:2:7: 'seed': aliases (*name) are not supported"},
        {"? [a]\n: 1\n", ILR_EUNSUPPORTED, "cfg.yaml:1:3: a key must be a name"},
        {"just text\n", ILR_EFORMAT,
         "cfg.yaml:1:1: a config is a mapping of keys (key: value), found the scalar 'just text'"},
        {"steps: 5\n---\nsteps: 6\n", ILR_EFORMAT, "cfg.yaml:2:1: a config is one YAML document"},
    };
    opts o;
    EXPECT_LOAD_ERRORS(&schema, &o, cases);
}

static void test_syntax_errors_give_libyaml_problem_and_position(void **state) {
    (void)state;
    static const struct { const char *text; const char *want[3]; } cases[] = {
        {"steps: 5\nrollout:\n  note: a\n bad\n",
         {"cfg.yaml:4:2:", "YAML syntax error: did not find expected key", "(while parsing a block mapping at 1:1)"}},
        {"optim: {lr: 0.1\n", {"cfg.yaml:2:1:", "YAML syntax error", "did not find expected ',' or '}'"}},
        {"out_dir: \"open\n", {"cfg.yaml:2:1:", "YAML syntax error", "found unexpected end of stream"}},
        {"steps: 5\n\tseed: 1\n",
         {"cfg.yaml:2:1:", "YAML syntax error", "found a tab character that violates indentation"}},
        {"note: \xff\n", {"cfg.yaml:1:7: not YAML text", "invalid leading UTF-8 octet", "0xff"}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        opts o;
        ILR_EXPECT_ERROR(load(&o, cases[i].text), ILR_EFORMAT, cases[i].want[0], cases[i].want[1], cases[i].want[2]);
        ilr_cfg_free(&schema, &o);
    }
}

static void test_dump_loads_back_to_the_same_struct(void **state) {
    (void)state;
    static const char *const notes[] = {
        "key: value # not a comment",
        "say \"hi\"\nnext line\ttab \\ back\\slash 'single'",
        "null",            /* the string, not null */
        "  spaces kept  ", /* leading and trailing */
        "- dash, [bracket], {brace}, &anchor *alias !tag %pct @at `tick` |pipe >gt",
        "h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x99\x82",      /* UTF-8: é, a check mark, an emoji */
        "ctl \x01\x1f\x7f cr\r nel\xc2\x85 ls\xe2\x80\xa8 bom\xef\xbb\xbf", /* what YAML must escape */
        "8",
    };
    char dir[256], path[512];
    ilr_test_tmpdir(dir, "cfg");
    snprintf(path, sizeof path, "%s/resolved.yaml", dir);
    for (size_t i = 0; i < sizeof notes / sizeof notes[0]; i++) {
        opts a, b;
        ilr_cfg_defaults(&schema, &a);
        assert_int_equal(ilr_cfg_set(&schema, &a, "rollout.note", notes[i], "test"), 0);
        assert_int_equal(ilr_cfg_set(&schema, &a, "out_dir", i % 2 ? "null" : "o: #1", "test"), 0);
        a.lr = 0.1 * (double)i + 1e-7; /* needs 17 digits */
        a.temperature = 2.0;
        a.kl_coef = i ? 1e-300 : -0.0;
        a.steps = 1000000;
        a.seed = i % 2 ? -9223372036854775807L - 1 : 9223372036854775807L;
        a.greedy = (int)(i % 2);
        a.schedule = (int)(i % 3);
        save_and_reload(&schema, &a, &b, path);
        assert_same_opts(&a, &b);
        ilr_cfg_free(&schema, &a);
        ilr_cfg_free(&schema, &b);
    }
    ilr_test_rmtree(dir);
}

static void test_dump_groups_sections_with_doc_comments(void **state) {
    (void)state;
    opts o;
    ilr_cfg_defaults(&schema, &o);
    char *text;
    assert_int_equal(ilr_cfg_dump(&schema, &o, &text), 0);
    static const char want[] =
        "# ilr train configuration\n"
        "steps: 100                              # optimizer steps\n"
        "rollout:\n"
        "  num_generations: 8                    # samples per question\n"
        "  sampling:\n"
        "    temperature: 1.0                    # sampling temperature\n"
        "    greedy: false                       # greedy decoding\n"
        "  note: null                            # free text for the log\n"
        "optim:\n"
        "  lr: 0.0001                            # peak learning rate\n"
        "  schedule: cosine                      # learning-rate schedule\n"
        "out_dir: \"out/run\"                      # where checkpoints go\n"
        "seed: -1                                # random seed (-1: from the clock)\n"
        "kl_coef: 0.04                           # KL penalty\n";
    assert_string_equal(text, want);
    free(text);
    o.schedule = 7; /* set behind the module's back */
    ILR_EXPECT_ERROR(ilr_cfg_dump(&schema, &o, &text), ILR_EINVAL, "'optim.schedule' holds choice 7");
    assert_null(text);
    ilr_cfg_free(&schema, &o);
}

static void test_help_lists_every_key_type_default_and_doc(void **state) {
    (void)state;
    static const char *const lines[] = {
        "KEY                           TYPE                    DEFAULT  MEANING",
        "rollout.num_generations       int 1..64               8        samples per question",
        "optim.lr                      float 0..1              1e-4     peak learning rate",
        "optim.schedule                constant|cosine|linear  cosine   learning-rate schedule",
        "rollout.sampling.greedy       bool                    false    greedy decoding",
        "rollout.note                  string                  null     free text for the log",
        "seed                          int                     -1       random seed (-1: from the clock)",
        "`ilr train`",
    };
    expect_help(&schema, lines, sizeof lines / sizeof lines[0]);
}

/* Errors after a string was set, inside nested sections and in the middle of flow mappings: ASan's leak
 * check at exit is the assertion. */
static void test_errors_leak_nothing(void **state) {
    (void)state;
    static const char *const texts[] = {
        "out_dir: a\nrollout: {note: b, num_generations: x}\n",
        "rollout:\n  note: b\n  sampling: {temperature: 0.5, greedy: [1]}\n",
        "rollout:\n  note: b\n  sampling:\n    nope: 1\n",
        "out_dir: a\nrolout: {x: 1}\n",
        "out_dir: a\nout_dir: b\n",
        "out_dir: a\nsteps: [\n",
        "out_dir: \"a\\0b\"\n",
    };
    opts o;
    expect_load_failures(&schema, &o, texts, sizeof texts / sizeof texts[0]);
}

/* ---- Lists: the co-learning trainer's agents, each a mapping of its own keys ---- */

typedef struct {
    char *name, *model;
    double lr;
    int schedule, greedy;
} agent_opts;

static const ilr_cfg_key agent_keys[] = {
    {"name", ILR_CFG_STRING, offsetof(agent_opts, name), "null", "shown in logs", NULL, 0, -1, NULL, 0},
    {"model", ILR_CFG_STRING, offsetof(agent_opts, model), "null", "model directory", NULL, 0, -1, NULL, 0},
    {"optim.lr", ILR_CFG_FLOAT, offsetof(agent_opts, lr), "1e-4", "learning rate (unset: the top-level optim.lr)", NULL,
     0, 1, NULL, 0},
    {"optim.schedule", ILR_CFG_ENUM, offsetof(agent_opts, schedule), "cosine", "learning-rate schedule",
     "constant|cosine", 0, -1, NULL, 0},
    {"greedy", ILR_CFG_BOOL, offsetof(agent_opts, greedy), "false", "greedy decoding", NULL, 0, -1, NULL, 0},
};
static const ilr_cfg_schema agent_schema = {agent_keys, (int)(sizeof agent_keys / sizeof agent_keys[0]), "colearn"};

typedef struct {
    long steps;
    ilr_cfg_list agents, judges;
    double lr;
    char *out_dir;
} colearn_opts;

static const ilr_cfg_key colearn_keys[] = {
    {"steps", ILR_CFG_INT, offsetof(colearn_opts, steps), "100", "optimizer steps", NULL, 1, 1e6, NULL, 0},
    {"agents", ILR_CFG_LIST, offsetof(colearn_opts, agents), "[]", "the agents trained together", NULL, 0, -1,
     &agent_schema, sizeof(agent_opts)},
    {"optim.lr", ILR_CFG_FLOAT, offsetof(colearn_opts, lr), "1e-4", "peak learning rate", NULL, 0, 1, NULL, 0},
    {"out_dir", ILR_CFG_STRING, offsetof(colearn_opts, out_dir), "out/run", "where checkpoints go", NULL, 0, -1, NULL,
     0},
    {"eval.judges", ILR_CFG_LIST, offsetof(colearn_opts, judges), "null", "models that grade", NULL, 0, -1,
     &agent_schema, sizeof(agent_opts)},
};
static const ilr_cfg_schema colearn = {colearn_keys, (int)(sizeof colearn_keys / sizeof colearn_keys[0]), "colearn"};

static const agent_opts *agent(const ilr_cfg_list *list, long i) { return (const agent_opts *)list->items + i; }

static int is_set(const ilr_cfg_list *list, long i, const char *key) {
    return ilr_cfg_item_is_set(&agent_schema, list, i, key);
}

static void assert_same_list(const ilr_cfg_list *a, const ilr_cfg_list *b) {
    assert_int_equal(a->count, b->count);
    for (long i = 0; i < a->count; i++) {
        const agent_opts *x = agent(a, i), *y = agent(b, i);
        assert_same_string(x->name, y->name);
        assert_same_string(x->model, y->model);
        assert_true(x->lr == y->lr);
        assert_int_equal(x->schedule, y->schedule);
        assert_int_equal(x->greedy, y->greedy);
        for (int k = 0; k < agent_schema.n; k++)
            assert_int_equal(is_set(a, i, agent_keys[k].key), is_set(b, i, agent_keys[k].key));
    }
}

static void assert_same_colearn(const colearn_opts *a, const colearn_opts *b) {
    assert_int_equal(a->steps, b->steps);
    assert_true(a->lr == b->lr);
    assert_same_string(a->out_dir, b->out_dir);
    assert_same_list(&a->agents, &b->agents);
    assert_same_list(&a->judges, &b->judges);
}

static int load_colearn(colearn_opts *o, const char *text) {
    ilr_cfg_defaults(&colearn, o);
    return ilr_cfg_load_text(&colearn, o, text, strlen(text), "cfg.yaml");
}

static void test_list_items_load_with_what_each_set(void **state) {
    (void)state;
    static const char block[] =
        "agents:\n"
        "  - name: a                       # optional per item keys\n"
        "    model: build/agents/agent-a\n"
        "    optim: {lr: 2.0e-4}           # differs from the top-level optim.lr\n"
        "  - model: build/agents/agent-b   # takes the top-level optim.* values\n"
        "    optim:\n"
        "      schedule: cosine            # the default, but set\n"
        "optim:\n"
        "  lr: 1.0e-4\n";
    static const char flow[] =
        "optim.lr: 0.0001\n"
        "agents: [{name: a, model: build/agents/agent-a, optim.lr: 0.0002},\n"
        "         {model: \"build/agents/agent-b\", optim: {schedule: cosine}}]\n"
        "eval:\n"
        "  judges: []\n";
    colearn_opts a, b;
    assert_int_equal(load_colearn(&a, block), 0);
    assert_int_equal(load_colearn(&b, flow), 0);
    assert_int_equal(a.agents.count, 2);
    assert_string_equal(agent(&a.agents, 0)->name, "a");
    assert_string_equal(agent(&a.agents, 0)->model, "build/agents/agent-a");
    assert_true(agent(&a.agents, 0)->lr == 2e-4);
    assert_null(agent(&a.agents, 1)->name);
    assert_string_equal(agent(&a.agents, 1)->model, "build/agents/agent-b");
    assert_true(agent(&a.agents, 1)->lr == 1e-4 && agent(&a.agents, 1)->schedule == 1); /* item defaults */
    assert_true(is_set(&a.agents, 0, "name") && is_set(&a.agents, 0, "model") && is_set(&a.agents, 0, "optim.lr"));
    assert_false(is_set(&a.agents, 0, "optim.schedule") || is_set(&a.agents, 0, "greedy"));
    assert_true(is_set(&a.agents, 1, "model") && is_set(&a.agents, 1, "optim.schedule"));
    assert_false(is_set(&a.agents, 1, "name") || is_set(&a.agents, 1, "optim.lr"));
    assert_int_equal(a.judges.count, 0);
    assert_same_colearn(&a, &b);
    ilr_cfg_free(&colearn, &a);
    assert_true(a.agents.count == 0 && !a.agents.items && !a.agents.set);
    ilr_cfg_free(&colearn, &b);
}

static void test_empty_lists_and_replaced_lists(void **state) {
    (void)state;
    static const char *const texts[] = {"agents: []\n", "agents:\n", "agents: ~\n", "steps: 3\n",
                                        "eval: {judges: []}\n"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        colearn_opts o;
        assert_int_equal(load_colearn(&o, texts[i]), 0);
        assert_int_equal(o.agents.count, 0);
        assert_int_equal(o.judges.count, 0);
        /* a file's list replaces the items the struct held (ASan: they are freed) */
        assert_int_equal(ilr_cfg_override(&colearn, &o, "agents.0.model=old"), 0);
        assert_int_equal(ilr_cfg_load_text(&colearn, &o, texts[i], strlen(texts[i]), "cfg.yaml"), 0);
        assert_int_equal(o.agents.count, strncmp(texts[i], "agents", 6) == 0 ? 0 : 1);
        static const char two[] = "agents: [{model: x}, {}]\n";
        assert_int_equal(ilr_cfg_load_text(&colearn, &o, two, strlen(two), "cfg.yaml"), 0);
        assert_int_equal(o.agents.count, 2);
        assert_string_equal(agent(&o.agents, 0)->model, "x");
        assert_false(is_set(&o.agents, 1, "model"));
        ilr_cfg_free(&colearn, &o);
    }
}

static void test_list_errors_name_where_item_key_and_what(void **state) {
    (void)state;
    static const load_error cases[] = {
        {"agents: 5\n", ILR_EINVAL, "cfg.yaml:1:9: 'agents' expects a list of mappings (- key: value), found '5'"},
        {"agents: {model: x}\n", ILR_EINVAL,
         "cfg.yaml:1:9: 'agents' expects a list of mappings (- key: value), found a mapping"},
        {"agents: [a, b]\n", ILR_EINVAL,
         "cfg.yaml:1:10: 'agents[0]' expects a mapping of keys (- key: value), found 'a'"},
        {"agents:\n  - model: x\n  - plain\n", ILR_EINVAL,
         "cfg.yaml:3:5: 'agents[1]' expects a mapping of keys (- key: value), found 'plain'"},
        {"agents:\n  - model: x\n  -\n", ILR_EINVAL,
         "cfg.yaml:3:4: 'agents[1]' expects a mapping of keys (- key: value; {} for none), found nothing"},
        {"agents: [[model]]\n", ILR_EINVAL,
         "cfg.yaml:1:10: 'agents[0]' expects a mapping of keys (- key: value), found a list"},
        {"agents:\n  - model: [a, b]\n", ILR_EUNSUPPORTED,
         "cfg.yaml:2:12: 'agents[0].model': lists are not supported here"},
        {"agents:\n  - model: x\n  - modle: y\n", ILR_EINVAL,
         "cfg.yaml:3:5: unknown key 'agents[1].modle' (did you mean 'agents[1].model'?)"},
        {"agents:\n  - optm: {lr: 1e-3}\n", ILR_EINVAL,
         "cfg.yaml:2:12: unknown key 'agents[0].optm.lr' (did you mean 'agents[0].optim.lr'?)"},
        {"agents:\n  - zzzzzz: 1\n", ILR_EINVAL, "unknown key 'agents[0].zzzzzz'; `ilr colearn --help-config`"},
        {"agents:\n  - optim:\n      lr: fast\n", ILR_EINVAL,
         "cfg.yaml:3:11: 'agents[0].optim.lr' expects a number, found 'fast'"},
        {"agents: [{}, {optim.lr: 2}]\n", ILR_EINVAL,
         "cfg.yaml:1:25: 'agents[1].optim.lr' must be from 0 to 1, found '2'"},
        {"agents: [{optim.schedule: linear}]\n", ILR_EINVAL,
         "'agents[0].optim.schedule' expects one of constant|cosine, found 'linear'"},
        {"agents: [{optim: 3}]\n", ILR_EINVAL,
         "cfg.yaml:1:11: 'agents[0].optim' is a section of keys such as 'agents[0].optim.lr', not a value"},
        {"agents:\n  - model: a\n    model: b\n", ILR_EFORMAT,
         "cfg.yaml:3:5: duplicate key 'agents[0].model' (first given at line 2)"},
        {"agents: []\nagents: [{}]\n", ILR_EFORMAT, "cfg.yaml:2:1: duplicate key 'agents' (first given at line 1)"},
        {"agents.0.model: x\n", ILR_EINVAL,
         "cfg.yaml:1:1: 'agents.0.model' is inside the list 'agents': a file gives its items as a sequence"},
        {"agents:\n  - &a {model: x}\n  - *a\n", ILR_EUNSUPPORTED,
         "cfg.yaml:3:5: 'agents[1]': aliases (*name) are not supported here"},
        {"eval:\n  judges: [{greedy: maybe}]\n", ILR_EINVAL,
         "cfg.yaml:2:21: 'eval.judges[0].greedy' expects true or false, found 'maybe'"},
    };
    colearn_opts o;
    EXPECT_LOAD_ERRORS(&colearn, &o, cases);
}

static void test_list_overrides_set_append_and_refuse(void **state) {
    (void)state;
    colearn_opts o;
    ilr_cfg_defaults(&colearn, &o);
    assert_int_equal(ilr_cfg_override(&colearn, &o, "agents.0.model=build/agents/agent-a"), 0); /* appends */
    assert_int_equal(ilr_cfg_override(&colearn, &o, "agents.0.optim.lr=3e-4"), 0);
    assert_int_equal(ilr_cfg_override(&colearn, &o, "agents.1.name=b"), 0);
    assert_int_equal(ilr_cfg_override(&colearn, &o, "agents.1.model=B"), 0);
    assert_int_equal(ilr_cfg_override(&colearn, &o, "agents.1.model=build/agents/agent-b"), 0); /* replaces */
    assert_int_equal(ilr_cfg_override(&colearn, &o, "eval.judges.0.greedy=yes"), 0);
    assert_int_equal(o.agents.count, 2);
    assert_string_equal(agent(&o.agents, 0)->model, "build/agents/agent-a");
    assert_true(agent(&o.agents, 0)->lr == 3e-4);
    assert_null(agent(&o.agents, 0)->name);
    assert_string_equal(agent(&o.agents, 1)->name, "b");
    assert_string_equal(agent(&o.agents, 1)->model, "build/agents/agent-b");
    assert_true(is_set(&o.agents, 0, "model") && is_set(&o.agents, 0, "optim.lr") && !is_set(&o.agents, 0, "name"));
    assert_true(is_set(&o.agents, 1, "name") && is_set(&o.agents, 1, "model") && !is_set(&o.agents, 1, "optim.lr"));
    assert_true(o.judges.count == 1 && agent(&o.judges, 0)->greedy == 1 && is_set(&o.judges, 0, "greedy"));

    ILR_EXPECT_ERROR(ilr_cfg_override(&colearn, &o, "agents.3.model=x"), ILR_EINVAL,
                     "command line: 'agents.3.model': '3' is not an item of 'agents', which has 2 items",
                     "(index 0 to 1, or 2 to add one)");
    ILR_EXPECT_ERROR(ilr_cfg_override(&colearn, &o, "agents.x.model=x"), ILR_EINVAL,
                     "command line: 'agents.x.model': 'x' is not an item of 'agents', which has 2 items");
    ILR_EXPECT_ERROR(ilr_cfg_override(&colearn, &o, "agents.-1.model=x"), ILR_EINVAL, "'-1' is not an item");
    ILR_EXPECT_ERROR(ilr_cfg_override(&colearn, &o, "agents.99999999999999999999.model=x"), ILR_EINVAL,
                     "is not an item of 'agents'");
    ILR_EXPECT_ERROR(ilr_cfg_override(&colearn, &o, "agents..model=x"), ILR_EINVAL, "'' is not an item");
    ILR_EXPECT_ERROR(ilr_cfg_override(&colearn, &o, "agents.1=x"), ILR_EINVAL,
                     "command line: 'agents.1' is an item of 'agents', not a value; set one of its keys: "
                     "agents.1.KEY=VALUE");
    ILR_EXPECT_ERROR(ilr_cfg_override(&colearn, &o, "agents.2.modle=x"), ILR_EINVAL,
                     "command line: unknown key 'agents.2.modle' (did you mean 'agents.2.model'?)");
    ILR_EXPECT_ERROR(ilr_cfg_override(&colearn, &o, "agents.2.optim.lr=5"), ILR_EINVAL,
                     "command line: 'agents.2.optim.lr' must be from 0 to 1, found '5'");
    ILR_EXPECT_ERROR(ilr_cfg_override(&colearn, &o, "agents.0.optim.schedule=linear"), ILR_EINVAL,
                     "'agents.0.optim.schedule' expects one of constant|cosine");
    ILR_EXPECT_ERROR(ilr_cfg_override(&colearn, &o, "agents=x"), ILR_EINVAL,
                     "command line: 'agents' expects a list of mappings (- key: value), found 'x'");
    /* failed settings change nothing: no item appended, no flag set */
    assert_int_equal(o.agents.count, 2);
    assert_false(is_set(&o.agents, 0, "optim.schedule"));

    assert_int_equal(ilr_cfg_override(&colearn, &o, "agents=[]"), 0); /* empties the list */
    assert_int_equal(o.agents.count, 0);
    ILR_EXPECT_ERROR(ilr_cfg_override(&colearn, &o, "agents.1.model=x"), ILR_EINVAL,
                     "'agents', which has 0 items (index 0 to add one)");
    assert_int_equal(ilr_cfg_override(&colearn, &o, "agents.0.name=only"), 0);
    assert_int_equal(o.agents.count, 1);
    ilr_cfg_free(&colearn, &o);
}

static void test_list_dump_loads_back_with_the_same_set_flags(void **state) {
    (void)state;
    static const char text[] =
        "agents:\n"
        "  - name: a\n"
        "    model: build/agents/agent-a\n"
        "    optim: {lr: 2.0e-4}\n"
        "  - model: build/agents/agent-b\n"
        "  - {}\n"
        "optim:\n"
        "  lr: 1.0e-4\n";
    colearn_opts a, b;
    assert_int_equal(load_colearn(&a, text), 0);
    char *first;
    assert_int_equal(ilr_cfg_dump(&colearn, &a, &first), 0);
    static const char want[] =
        "# ilr colearn configuration\n"
        "steps: 100                              # optimizer steps\n"
        "agents:                                 # the agents trained together\n"
        "  - name: \"a\"                           # shown in logs\n"
        "    model: \"build/agents/agent-a\"       # model directory\n"
        "    optim:\n"
        "      lr: 0.0002                        # learning rate (unset: the top-level optim.lr)\n"
        "  - model: \"build/agents/agent-b\"       # model directory\n"
        "  - {}\n"
        "optim:\n"
        "  lr: 0.0001                            # peak learning rate\n"
        "out_dir: \"out/run\"                      # where checkpoints go\n"
        "eval:\n"
        "  judges: []                            # models that grade\n";
    assert_string_equal(first, want);
    free(first);

    /* Everything an item can hold, set in a file and by overrides, round trips with its set flags. */
    static const char *const overrides[] = {
        "agents.1.optim.schedule=cosine", /* the default, but set: written */
        "agents.2.name=say \"hi\"\nnext line: #1",
        "agents.2.greedy=on",
        "agents.3.optim.lr=0.30000000000000004",
        "eval.judges.0.model=h\xc3\xa9llo \xe2\x9c\x93",
        "eval.judges.1.optim.schedule=constant",
    };
    for (size_t i = 0; i < sizeof overrides / sizeof overrides[0]; i++)
        assert_int_equal(ilr_cfg_override(&colearn, &a, overrides[i]), 0);
    char dir[256], path[512];
    ilr_test_tmpdir(dir, "cfg");
    snprintf(path, sizeof path, "%s/resolved.yaml", dir);
    save_and_reload(&colearn, &a, &b, path);
    assert_same_colearn(&a, &b);
    assert_true(is_set(&b.agents, 1, "optim.schedule") && !is_set(&b.agents, 1, "optim.lr"));
    ilr_cfg_free(&colearn, &a);
    ilr_cfg_free(&colearn, &b);
    ilr_test_rmtree(dir);
}

static void test_list_dump_names_the_item_of_a_bad_value(void **state) {
    (void)state;
    colearn_opts o;
    ilr_cfg_defaults(&colearn, &o);
    assert_int_equal(ilr_cfg_override(&colearn, &o, "agents.0.name=a"), 0);
    assert_int_equal(ilr_cfg_override(&colearn, &o, "agents.1.optim.schedule=constant"), 0);
    ((agent_opts *)o.agents.items)[1].schedule = 9; /* set behind the module's back */
    char *text;
    ILR_EXPECT_ERROR(ilr_cfg_dump(&colearn, &o, &text), ILR_EINVAL, "agents[1]: 'optim.schedule' holds choice 9");
    assert_null(text);
    ilr_cfg_free(&colearn, &o);
}

static void test_help_lists_item_keys_after_their_list(void **state) {
    (void)state;
    static const char *const lines[] = {
        "LIST.INDEX.KEY=VALUE sets a key of item INDEX",
        "  KEY                           TYPE             DEFAULT  MEANING\n",
        "  agents                        list             []       the agents trained together\n"
        "  agents[].name                 string           null     shown in logs\n"
        "  agents[].model                string           null     model directory\n"
        "  agents[].optim.lr             float 0..1       1e-4     learning rate (unset: the top-level optim.lr)\n"
        "  agents[].optim.schedule       constant|cosine  cosine   learning-rate schedule\n"
        "  agents[].greedy               bool             false    greedy decoding\n"
        "  optim.lr                      float 0..1       1e-4     peak learning rate\n",
        "  eval.judges                   list             null     models that grade\n"
        "  eval.judges[].name            string           null     shown in logs\n",
        "  eval.judges[].optim.schedule  constant|cosine  cosine   learning-rate schedule\n",
    };
    expect_help(&colearn, lines, sizeof lines / sizeof lines[0]);
}

/* Errors inside items after strings were set: ASan's leak check at exit is the assertion. */
static void test_list_errors_leak_nothing(void **state) {
    (void)state;
    static const char *const texts[] = {
        "agents: [{name: a, model: b}, {name: c, optim.lr: x}]\n",
        "agents:\n  - name: a\n    model: [1]\n",
        "out_dir: o\nagents:\n  - name: a\n  - name: b\n    nope: 1\n",
        "agents: [{name: a}, {name: b, name: c}]\n",
        "agents: [{name: a}, {model: b\n",
        "agents: [{name: a}]\nagents: []\n",
    };
    colearn_opts o;
    expect_load_failures(&colearn, &o, texts, sizeof texts / sizeof texts[0]);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_defaults_are_the_schema_texts),
    cmocka_unit_test(test_nested_keys_equal_flat_keys),
    cmocka_unit_test(test_empty_files_and_empty_sections_set_nothing),
    cmocka_unit_test(test_override_sets_and_replaces),
    cmocka_unit_test(test_bad_type_names_file_line_column_key_and_value),
    cmocka_unit_test(test_unknown_key_suggests_the_nearest),
    cmocka_unit_test(test_enum_error_lists_the_choices),
    cmocka_unit_test(test_out_of_range_names_the_range),
    cmocka_unit_test(test_duplicate_keys_are_refused),
    cmocka_unit_test(test_lists_aliases_and_other_shapes_are_refused),
    cmocka_unit_test(test_syntax_errors_give_libyaml_problem_and_position),
    cmocka_unit_test(test_dump_loads_back_to_the_same_struct),
    cmocka_unit_test(test_dump_groups_sections_with_doc_comments),
    cmocka_unit_test(test_help_lists_every_key_type_default_and_doc),
    cmocka_unit_test(test_errors_leak_nothing),
    cmocka_unit_test(test_list_items_load_with_what_each_set),
    cmocka_unit_test(test_empty_lists_and_replaced_lists),
    cmocka_unit_test(test_list_errors_name_where_item_key_and_what),
    cmocka_unit_test(test_list_overrides_set_append_and_refuse),
    cmocka_unit_test(test_list_dump_loads_back_with_the_same_set_flags),
    cmocka_unit_test(test_list_dump_names_the_item_of_a_bad_value),
    cmocka_unit_test(test_help_lists_item_keys_after_their_list),
    cmocka_unit_test(test_list_errors_leak_nothing),
};

ILR_TEST_GROUP(config_yaml, tests)
