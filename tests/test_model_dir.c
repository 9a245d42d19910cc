/* Hugging Face model directories: initialisation, the F32 -> BF16 -> sharded round trip bit for bit,
 * and every way a directory can disagree with its config.json, each rejected by name. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ilr/error.h"
#include "ilr/io.h"
#include "ilr/json.h"
#include "ilr/model.h"
#include "test_util.h"

static void make_tiny(ilr_model *m, ilr_arch arch, int tied, uint64_t seed) {
    ilr_model_config c;
    assert_int_equal(ilr_config_from_shape("tiny", arch, &c), 0);
    c.tie_word_embeddings = tied;
    assert_int_equal(ilr_model_create(m, &c), 0);
    ilr_model_init_random(m, seed);
}

static size_t bitwise_differences(const float *a, const float *b, size_t n, int round_a_to_bf16) {
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        float want = round_a_to_bf16 ? ilr_bf16_to_f32(ilr_f32_to_bf16(a[i])) : a[i];
        bad += memcmp(&want, &b[i], 4) != 0;
    }
    return bad;
}

static void test_param_table_layout(void **state) {
    (void)state;
    ilr_model m;
    make_tiny(&m, ILR_ARCH_QWEN2, 1, 1);
    /* embed + 4 layers x 12 (norms, q/k/v weight+bias, o, gate, up, down) + final norm; tied: no head */
    assert_int_equal(m.table.count, 1 + 4 * 12 + 1);
    assert_int_equal(m.table.total, (size_t)ilr_config_param_count(&m.config));
    assert_null(ilr_param_get(&m.table, ILR_P_LM_HEAD, -1));
    const ilr_param_view *k = ilr_param_get(&m.table, ILR_P_K_W, 2);
    assert_string_equal(k->name, "model.layers.2.self_attn.k_proj.weight");
    assert_true(k->shape[0] == 64 && k->shape[1] == 128); /* 2 kv heads x 32, hidden 128 */
    assert_ptr_equal(ilr_param_find(&m.table, "model.layers.2.self_attn.k_proj.weight"), k);
    /* Views tile the buffer in order. */
    size_t at = 0;
    for (int i = 0; i < m.table.count; i++) {
        assert_int_equal(m.table.views[i].offset, at);
        at += m.table.views[i].numel;
    }
    ilr_model_free(&m);
    make_tiny(&m, ILR_ARCH_LLAMA, 0, 1);
    assert_null(ilr_param_get(&m.table, ILR_P_Q_B, 0));
    assert_string_equal(ilr_param_get(&m.table, ILR_P_LM_HEAD, -1)->name, "lm_head.weight");
    assert_int_equal(m.table.count, 1 + 4 * 9 + 2);
    ilr_model_free(&m);
}

/* Hugging Face's init: weights normal(0, 0.02), biases 0, norms 1; the seed decides everything. */
static void test_init_random(void **state) {
    (void)state;
    ilr_model a, b, c;
    make_tiny(&a, ILR_ARCH_QWEN2, 1, 7);
    make_tiny(&b, ILR_ARCH_QWEN2, 1, 7);
    make_tiny(&c, ILR_ARCH_QWEN2, 1, 8);
    assert_memory_equal(a.params, b.params, a.table.total * 4);
    assert_true(memcmp(a.params, c.params, a.table.total * 4) != 0);
    const ilr_param_view *e = ilr_param_get(&a.table, ILR_P_EMBED, -1);
    double sum = 0, sq = 0;
    for (size_t i = 0; i < e->numel; i++) sum += a.params[e->offset + i], sq += (double)a.params[e->offset + i] * a.params[e->offset + i];
    double mean = sum / e->numel, std = sqrt(sq / e->numel - mean * mean);
    print_message("init: embedding mean %.2e std %.5f over %zu values (want 0, 0.02)\n", mean, std, e->numel);
    assert_true(fabs(mean) < 2e-4 && fabs(std - 0.02) < 2e-4);
    const ilr_param_view *n = ilr_param_get(&a.table, ILR_P_MLP_NORM, 3), *bias = ilr_param_get(&a.table, ILR_P_V_B, 1);
    for (size_t i = 0; i < n->numel; i++) assert_true(a.params[n->offset + i] == 1.0f);
    for (size_t i = 0; i < bias->numel; i++) assert_true(a.params[bias->offset + i] == 0.0f);
    ilr_model_free(&a);
    ilr_model_free(&b);
    ilr_model_free(&c);
}

static int count_files(const char *dir, const char *suffix) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "ls %s | grep -c '%s$'", dir, suffix);
    FILE *p = popen(cmd, "r");
    int n = -1;
    assert_int_equal(fscanf(p, "%d", &n), 1);
    pclose(p);
    return n;
}

/* init -> save F32 -> load: bit-identical; -> save BF16 -> load: each value its RNE bf16; -> save
 * sharded -> load: identical to the single-file load; config.json and generation_config.json kept. */
static void test_round_trip(void **state) {
    (void)state;
    for (int arch = ILR_ARCH_QWEN2; arch <= ILR_ARCH_LLAMA; arch++) {
        char dir[256], f32_dir[300], bf16_dir[300], shard_dir[300];
        ilr_test_tmpdir(dir, "rt");
        snprintf(f32_dir, sizeof f32_dir, "%s/f32", dir);
        snprintf(bf16_dir, sizeof bf16_dir, "%s/bf16", dir);
        snprintf(shard_dir, sizeof shard_dir, "%s/sharded", dir);
        ilr_model init, f32, bf16, sharded;
        make_tiny(&init, (ilr_arch)arch, arch == ILR_ARCH_QWEN2, 42);
        init.generation_config = json_pack("{s:i, s:f}", "eos_token_id", 2, "temperature", 0.7);
        size_t n = init.table.total;
        ilr_save_options as_f32 = {ILR_DTYPE_F32, 0}, as_bf16 = {ILR_DTYPE_BF16, 0};
        ilr_save_options as_shards = {ILR_DTYPE_BF16, n * 2 / 4};
        assert_int_equal(ilr_model_save(&init, f32_dir, &as_f32), 0);
        assert_int_equal(ilr_model_load(&f32, f32_dir), 0);
        assert_string_equal(f32.weights_dtype, "F32");
        assert_memory_equal(&f32.config, &init.config, sizeof init.config);
        assert_int_equal(bitwise_differences(init.params, f32.params, n, 0), 0);
        assert_int_equal(ilr_model_save(&f32, bf16_dir, &as_bf16), 0);
        assert_int_equal(ilr_model_load(&bf16, bf16_dir), 0);
        assert_string_equal(bf16.weights_dtype, "BF16");
        assert_string_equal(bf16.config.torch_dtype, "bfloat16");
        size_t rounded_away = bitwise_differences(init.params, bf16.params, n, 0);
        assert_int_equal(bitwise_differences(init.params, bf16.params, n, 1), 0);
        assert_true(rounded_away > n / 2); /* bf16 really did drop bits */
        assert_int_equal(ilr_model_save(&bf16, shard_dir, &as_shards), 0);
        assert_true(count_files(shard_dir, "safetensors") >= 4);
        assert_int_equal(ilr_model_load(&sharded, shard_dir), 0);
        assert_memory_equal(sharded.params, bf16.params, n * 4);
        assert_true(json_real_value(json_object_get(sharded.generation_config, "temperature")) == 0.7);
        print_message("round trip %s: %zu values, F32 exact, BF16 RNE exact (%zu rounded), sharded same\n",
                      ilr_arch_name((ilr_arch)arch), n, rounded_away);
        /* Saving single-file into the sharded directory removes the shards and the index. */
        assert_int_equal(ilr_model_save(&sharded, shard_dir, &as_bf16), 0);
        assert_int_equal(count_files(shard_dir, "safetensors"), 1);
        assert_int_equal(count_files(shard_dir, "index.json"), 0);
        ilr_model_free(&init);
        ilr_model_free(&f32);
        ilr_model_free(&bf16);
        ilr_model_free(&sharded);
        ilr_test_rmtree(dir);
    }
}

/* ---- directories that disagree with their config.json ---- */

typedef struct {
    ilr_model model;
    char root[256];
    ilr_st_entry *entries;
} dir_fixture;

static void fixture_setup(dir_fixture *f) {
    make_tiny(&f->model, ILR_ARCH_QWEN2, 1, 3);
    ilr_test_tmpdir(f->root, "baddir");
    f->entries = calloc((size_t)f->model.table.count + 1, sizeof *f->entries);
    for (int i = 0; i < f->model.table.count; i++) {
        const ilr_param_view *v = &f->model.table.views[i];
        f->entries[i] = (ilr_st_entry){v->name, f->model.params + v->offset, v->ndim, {v->shape[0], v->shape[1]}};
    }
}

static void fixture_teardown(dir_fixture *f) {
    ilr_test_rmtree(f->root);
    free(f->entries);
    ilr_model_free(&f->model);
}

/* A directory named case_name holding the fixture's config.json and the given entries. */
static const char *write_case(dir_fixture *f, const char *case_name, const ilr_st_entry *entries, int n) {
    static char dir[512];
    char path[600];
    snprintf(dir, sizeof dir, "%s/%s", f->root, case_name);
    ilr_save_options opt = {ILR_DTYPE_F32, 0};
    assert_int_equal(ilr_model_save(&f->model, dir, &opt), 0);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (entries) assert_int_equal(ilr_st_write(path, entries, n, ILR_DTYPE_F32, NULL), 0);
    return dir;
}

static void expect_load_error(const char *dir, int code, const char *phrase) {
    ilr_model m;
    ILR_EXPECT_ERROR(ilr_model_load(&m, dir), code, phrase);
    ilr_model_dir_info info;
    ILR_EXPECT_ERROR(ilr_model_dir_inspect(dir, &info), code, phrase); /* inspect checks the same */
}

static void test_directory_errors(void **state) {
    (void)state;
    dir_fixture f;
    fixture_setup(&f);
    int n = f.model.table.count;
    const char *dir;

    ilr_st_entry *e = malloc(sizeof *e * (size_t)(n + 1));
    memcpy(e, f.entries, sizeof *e * (size_t)n);
    int k_index = (int)(ilr_param_find(&f.model.table, "model.layers.0.self_attn.k_proj.weight") - f.model.table.views);
    e[k_index].shape[0] = 32, e[k_index].shape[1] = 256; /* [64, 128] written as [32, 256] */
    dir = write_case(&f, "shape", e, n);
    expect_load_error(dir, ILR_EMISMATCH, "'model.layers.0.self_attn.k_proj.weight' has shape [32, 256] but "
                                          "config.json implies [64, 128]");

    dir = write_case(&f, "missing", f.entries, n - 1);
    expect_load_error(dir, ILR_ENOTFOUND, "missing tensor 'model.norm.weight'");

    memcpy(e, f.entries, sizeof *e * (size_t)n);
    e[n] = (ilr_st_entry){"model.layers.9.mlp.up_proj.weight", f.model.params, 1, {4}};
    dir = write_case(&f, "unexpected", e, n + 1);
    expect_load_error(dir, ILR_EMISMATCH, "unexpected tensor 'model.layers.9.mlp.up_proj.weight'");

    /* A tied model may carry lm_head.weight (transformers ties it anyway); it is ignored. */
    e[n] = (ilr_st_entry){"lm_head.weight", f.entries[0].data, 2, {4096, 128}};
    dir = write_case(&f, "tied_head", e, n + 1);
    ilr_model ok;
    assert_int_equal(ilr_model_load(&ok, dir), 0);
    ilr_model_free(&ok);

    dir = write_case(&f, "no_weights", NULL, 0);
    char path[700];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    unlink(path);
    expect_load_error(dir, ILR_ENOTFOUND, "no model.safetensors or model.safetensors.index.json");

    snprintf(path, sizeof path, "%s/config.json", dir);
    unlink(path);
    expect_load_error(dir, ILR_ENOTFOUND, "config.json");

    /* A non-float dtype: the embedding stored as I32 (same byte size). */
    dir = write_case(&f, "int_weights", NULL, 0);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    ilr_mapped_file map;
    assert_int_equal(ilr_file_map(path, &map), 0);
    size_t size = map.size;
    char *copy = malloc(size);
    memcpy(copy, map.data, size);
    ilr_file_unmap(&map);
    char *at = strstr(copy + 8, "\"F32\""); /* the first tensor's dtype: the embedding's */
    memcpy(at, "\"I32\"", 5);
    assert_int_equal(ilr_file_write_atomic(path, copy, size), 0);
    free(copy);
    expect_load_error(dir, ILR_EUNSUPPORTED, "'model.embed_tokens.weight' has dtype I32");

    free(e);
    fixture_teardown(&f);
}

/* Edits a sharded directory's index with a one-line sed expression. */
static void edit_index(const char *dir, const char *sed) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "sed -i '%s' %s/model.safetensors.index.json", sed, dir);
    assert_int_equal(system(cmd), 0);
}

static void test_sharded_directory_errors(void **state) {
    (void)state;
    dir_fixture f;
    fixture_setup(&f);
    ilr_save_options shards = {ILR_DTYPE_BF16, f.model.table.total * 2 / 3 + 1};
    char dir[512], path[600];
    const char *cases[] = {"missing_shard", "wrong_shard", "slash", "bad_json"};
    for (int i = 0; i < 4; i++) {
        snprintf(dir, sizeof dir, "%s/%s", f.root, cases[i]);
        assert_int_equal(ilr_model_save(&f.model, dir, &shards), 0);
    }
    snprintf(dir, sizeof dir, "%s/missing_shard", f.root);
    snprintf(path, sizeof path, "%s/model-00002-of-00003.safetensors", dir);
    assert_int_equal(unlink(path), 0);
    expect_load_error(dir, ILR_ENOTFOUND, "model-00002-of-00003.safetensors: file does not exist (named by "
                                          "model.safetensors.index.json)");

    snprintf(dir, sizeof dir, "%s/wrong_shard", f.root);
    edit_index(dir, "s/\"model.norm.weight\": \"model-00003-of-00003/\"model.norm.weight\": \"model-00001-of-00003/");
    expect_load_error(dir, ILR_EFORMAT, "'model.norm.weight' is in this shard but model.safetensors.index.json maps "
                                        "it to model-00001-of-00003.safetensors");

    snprintf(dir, sizeof dir, "%s/slash", f.root);
    edit_index(dir, "s/\"model.norm.weight\": \"model-00003/\"model.norm.weight\": \"..\\/model-00003/");
    expect_load_error(dir, ILR_EFORMAT, "shard name '../model-00003-of-00003.safetensors' is not a plain file name");

    snprintf(dir, sizeof dir, "%s/bad_json", f.root);
    edit_index(dir, "3s/$/,,/");
    expect_load_error(dir, ILR_EFORMAT, "model.safetensors.index.json:");
    fixture_teardown(&f);
}

static void test_vocab_disagrees_with_config(void **state) {
    (void)state;
    dir_fixture f;
    fixture_setup(&f);
    const char *dir = write_case(&f, "vocab", NULL, 0);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "sed -i 's/\"vocab_size\": 4096/\"vocab_size\": 5000/' %s/config.json", dir);
    assert_int_equal(system(cmd), 0);
    expect_load_error(dir, ILR_EMISMATCH, "'model.embed_tokens.weight' has shape [4096, 128] but config.json "
                                          "implies [5000, 128]");
    fixture_teardown(&f);
}

static void test_memory_estimate(void **state) {
    (void)state;
    ilr_model_config c;
    assert_int_equal(ilr_config_from_shape("qwen2.5-0.5b", 0, &c), 0);
    ilr_memory_estimate mem;
    ilr_model_memory_estimate(&c, 512, &mem);
    assert_int_equal(mem.params, 494032768LL * 4);
    assert_int_equal(mem.training_state, 494032768LL * 16);
    assert_int_equal(mem.kv_cache_per_token, 2 * 24 * 2 * 64 * 4); /* K and V, 24 layers, 2 kv heads x 64 */
    assert_true(mem.training > mem.training_state && mem.training < 12LL << 30); /* issue #3: within 12 GiB */
}

/* generation_config.json's eos ids join config.json's as ids that end generation (Llama-3-Instruct adds
 * <|eot_id|> there); config.json's own list, whose first id SFT appends, is kept as is.
 * A malformed entry, or more than ILR_MAX_EOS ids in all, is refused naming the file and key. */
static void test_generation_config_eos(void **state) {
    (void)state;
    dir_fixture f;
    fixture_setup(&f);
    f.model.config.num_eos = 1;
    f.model.config.eos_token_ids[0] = 2;
    struct {
        const char *name, *eos; /* generation_config.json's eos_token_id, as JSON */
        int code;
        const char *phrase;
    } cases[] = {
        {"list", "[2, 7, 9, 7]", 0, NULL},
        {"int", "7", 0, NULL},
        {"null", "null", 0, NULL},
        {"string", "\"</s>\"", ILR_EFORMAT, "expected an integer or a list of integers"},
        {"negative", "[7, -3]", ILR_EFORMAT, "item 1 is not a token id"},
        {"long_list", "[10, 11, 12, 13, 14, 15, 16, 17, 18]", ILR_EUNSUPPORTED, "more than 8 ids"},
        {"union", "[10, 11, 12, 13, 14, 15, 16, 17]", ILR_EUNSUPPORTED, "with config.json's, more than 8 distinct"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[128], path[700];
        snprintf(text, sizeof text, "{\"eos_token_id\": %s, \"temperature\": 0.7}", cases[i].eos);
        json_decref(f.model.generation_config);
        assert_int_equal(ilr_json_parse(text, strlen(text), "test", &f.model.generation_config), 0);
        const char *dir = write_case(&f, cases[i].name, NULL, 0);
        ilr_model m;
        if (cases[i].code) {
            snprintf(path, sizeof path, "%s/generation_config.json", dir);
            ILR_EXPECT_ERROR(ilr_model_load(&m, dir), cases[i].code, path, "'eos_token_id'", cases[i].phrase);
            continue;
        }
        assert_int_equal(ilr_model_load(&m, dir), 0);
        assert_int_equal(m.config.num_eos, 1); /* config.json's, for SFT */
        assert_int_equal(m.config.eos_token_ids[0], 2);
        int extra = strcmp(cases[i].name, "list") == 0 ? 2 : strcmp(cases[i].name, "int") == 0 ? 1 : 0;
        assert_int_equal(m.num_gen_eos, extra);
        assert_true(ilr_model_is_eos(&m, 2));
        assert_int_equal(ilr_model_is_eos(&m, 7), extra >= 1);
        assert_int_equal(ilr_model_is_eos(&m, 9), extra == 2);
        assert_false(ilr_model_is_eos(&m, 5));
        ilr_model_free(&m);
    }
    print_message("generation_config.json eos_token_id: list, int and null join config.json's eos (which stays "
                  "first); %zu cases, malformed and too many refused by file and key\n",
                  sizeof cases / sizeof cases[0]);
    fixture_teardown(&f);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_param_table_layout),
    cmocka_unit_test(test_init_random),
    cmocka_unit_test(test_round_trip),
    cmocka_unit_test(test_directory_errors),
    cmocka_unit_test(test_sharded_directory_errors),
    cmocka_unit_test(test_vocab_disagrees_with_config),
    cmocka_unit_test(test_generation_config_eos),
    cmocka_unit_test(test_memory_estimate),
};

ILR_TEST_GROUP(model_dir, tests)
