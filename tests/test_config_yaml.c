/* YAML experiment configs: defaults, nested and flat keys, command-line overrides, every kind of error with
 * where it happened, and the dump reading back to the same struct. */
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
    {"steps", ILR_CFG_INT, offsetof(opts, steps), "100", "optimizer steps", NULL, 1, 1e6},
    {"rollout.num_generations", ILR_CFG_INT, offsetof(opts, num_generations), "8", "samples per question", NULL, 1, 64},
    {"optim.lr", ILR_CFG_FLOAT, offsetof(opts, lr), "1e-4", "peak learning rate", NULL, 0, 1},
    {"rollout.sampling.temperature", ILR_CFG_FLOAT, offsetof(opts, temperature), "1.0", "sampling temperature", NULL,
     0, 10},
    {"optim.schedule", ILR_CFG_ENUM, offsetof(opts, schedule), "cosine", "learning-rate schedule",
     "constant|cosine|linear", 0, -1},
    {"rollout.sampling.greedy", ILR_CFG_BOOL, offsetof(opts, greedy), "false", "greedy decoding", NULL, 0, -1},
    {"out_dir", ILR_CFG_STRING, offsetof(opts, out_dir), "out/run", "where checkpoints go", NULL, 0, -1},
    {"rollout.note", ILR_CFG_STRING, offsetof(opts, note), "null", "free text for the log", NULL, 0, -1},
    {"seed", ILR_CFG_INT, offsetof(opts, seed), "-1", "random seed (-1: from the clock)", NULL, 0, -1},
    {"kl_coef", ILR_CFG_FLOAT, offsetof(opts, kl_coef), "0.04", "KL penalty", NULL, 0, -1},
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

static void expect_load_errors(const load_error *cases, size_t n) {
    for (size_t i = 0; i < n; i++) {
        opts o;
        ILR_EXPECT_ERROR(load(&o, cases[i].text), cases[i].code, cases[i].want);
        ilr_cfg_free(&schema, &o);
    }
}
#define EXPECT_LOAD_ERRORS(cases) expect_load_errors((cases), sizeof(cases) / sizeof((cases)[0]))

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
    EXPECT_LOAD_ERRORS(cases);
    /* From a file: the message names its path. */
    char dir[256], path[256];
    ilr_test_tmpdir(dir, "cfg");
    static const char text[] = "optim:\n  lr: 1e-3x\n";
    ilr_test_write_file(path, dir, "bad.yaml", text, strlen(text));
    opts o;
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
    EXPECT_LOAD_ERRORS(cases);
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
    EXPECT_LOAD_ERRORS(cases);
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
    EXPECT_LOAD_ERRORS(cases);
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
        assert_int_equal(ilr_cfg_save(&schema, &a, path), 0);
        ilr_cfg_defaults(&schema, &b);
        assert_int_equal(ilr_cfg_load_file(&schema, &b, path), 0);
        assert_same_opts(&a, &b);
        /* dumping what was loaded gives the same text */
        char *first, *second;
        assert_int_equal(ilr_cfg_dump(&schema, &a, &first), 0);
        assert_int_equal(ilr_cfg_dump(&schema, &b, &second), 0);
        assert_string_equal(first, second);
        free(first);
        free(second);
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
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    assert_non_null(f);
    assert_int_equal(ilr_cfg_print_help(&schema, f), 0);
    fclose(f);
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
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        if (!strstr(text, lines[i])) print_error("help lacks \"%s\":\n%s", lines[i], text);
        assert_non_null(strstr(text, lines[i]));
    }
    free(text);
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
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        opts o;
        int rc = load(&o, texts[i]);
        assert_true(rc < 0);
        ilr_cfg_free(&schema, &o);
    }
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
};

ILR_TEST_GROUP(config_yaml, tests)
