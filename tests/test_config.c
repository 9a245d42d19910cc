/* config.json: real configurations parse to the right fields, bad ones are rejected by name, the named
 * shapes match the published parameter counts of the real models. */
#include <string.h>

#include "ilr/error.h"
#include "ilr/model.h"
#include "test_util.h"

/* Qwen/Qwen2.5-0.5B's config.json as published. */
static const char qwen25_05b[] =
    "{\"architectures\": [\"Qwen2ForCausalLM\"], \"attention_dropout\": 0.0, \"bos_token_id\": 151643,\n"
    " \"eos_token_id\": 151643, \"hidden_act\": \"silu\", \"hidden_size\": 896, \"initializer_range\": 0.02,\n"
    " \"intermediate_size\": 4864, \"max_position_embeddings\": 32768, \"max_window_layers\": 24,\n"
    " \"model_type\": \"qwen2\", \"num_attention_heads\": 14, \"num_hidden_layers\": 24, \"num_key_value_heads\": 2,\n"
    " \"rms_norm_eps\": 1e-06, \"rope_theta\": 1000000.0, \"sliding_window\": 32768, \"tie_word_embeddings\": true,\n"
    " \"torch_dtype\": \"bfloat16\", \"transformers_version\": \"4.40.1\", \"use_cache\": true, \"use_mrope\": false,\n"
    " \"use_sliding_window\": false, \"vocab_size\": 151936}\n";

/* meta-llama/Llama-3.1-8B-Instruct's config.json as published (eos is a list). */
static const char llama31_8b[] =
    "{\"architectures\": [\"LlamaForCausalLM\"], \"attention_bias\": false, \"attention_dropout\": 0.0,\n"
    " \"bos_token_id\": 128000, \"eos_token_id\": [128001, 128008, 128009], \"hidden_act\": \"silu\",\n"
    " \"hidden_size\": 4096, \"initializer_range\": 0.02, \"intermediate_size\": 14336,\n"
    " \"max_position_embeddings\": 131072, \"mlp_bias\": false, \"model_type\": \"llama\", \"num_attention_heads\": 32,\n"
    " \"num_hidden_layers\": 32, \"num_key_value_heads\": 8, \"pretraining_tp\": 1, \"rms_norm_eps\": 1e-05,\n"
    " \"rope_scaling\": {\"factor\": 8.0, \"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0,\n"
    " \"original_max_position_embeddings\": 8192, \"rope_type\": \"llama3\"}, \"rope_theta\": 500000.0,\n"
    " \"tie_word_embeddings\": false, \"torch_dtype\": \"bfloat16\", \"transformers_version\": \"4.42.3\",\n"
    " \"use_cache\": true, \"vocab_size\": 128256}\n";

static void test_config_qwen25(void **state) {
    (void)state;
    ilr_model_config c;
    assert_int_equal(ilr_config_parse(qwen25_05b, strlen(qwen25_05b), "config.json", &c), 0);
    assert_int_equal(c.arch, ILR_ARCH_QWEN2);
    assert_int_equal(c.vocab_size, 151936);
    assert_int_equal(c.hidden_size, 896);
    assert_int_equal(c.num_heads, 14);
    assert_int_equal(c.num_kv_heads, 2);
    assert_int_equal(c.head_dim, 64);
    assert_true(c.qkv_bias && c.tie_word_embeddings && !c.has_rope_scaling);
    assert_true(c.rope_theta == 1e6 && c.rms_norm_eps == 1e-6);
    assert_int_equal(c.bos_token_id, 151643);
    assert_int_equal(c.num_eos, 1);
    assert_string_equal(c.torch_dtype, "bfloat16");
    /* The named shape is the same model. */
    ilr_model_config s;
    assert_int_equal(ilr_config_from_shape("qwen2.5-0.5b", 0, &s), 0);
    assert_int_equal(ilr_config_param_count(&s), ilr_config_param_count(&c));
}

static void test_config_llama31(void **state) {
    (void)state;
    ilr_model_config c;
    assert_int_equal(ilr_config_parse(llama31_8b, strlen(llama31_8b), "config.json", &c), 0);
    assert_int_equal(c.arch, ILR_ARCH_LLAMA);
    assert_true(!c.qkv_bias && !c.tie_word_embeddings && c.has_rope_scaling);
    assert_true(c.rope_factor == 8.0 && c.rope_low_freq_factor == 1.0 && c.rope_high_freq_factor == 4.0);
    assert_int_equal(c.rope_original_max_position, 8192);
    assert_int_equal(c.num_eos, 3);
    assert_int_equal(c.eos_token_ids[2], 128009);
    assert_int_equal(c.head_dim, 128);
}

/* Published parameter counts of the real models (Hugging Face model cards / num_parameters()). */
static void test_shapes_match_published_parameter_counts(void **state) {
    (void)state;
    static const struct { const char *shape; long long params; } known[] = {
        {"qwen2.5-0.5b", 494032768LL},  {"qwen2.5-1.5b", 1543714304LL}, {"qwen2.5-7b", 7615616512LL},
        {"qwen2.5-14b", 14770033664LL}, {"llama3.2-1b", 1235814400LL},  {"llama3.1-8b", 8030261248LL},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        ilr_model_config c;
        assert_int_equal(ilr_config_from_shape(known[i].shape, 0, &c), 0);
        assert_int_equal(ilr_config_param_count(&c), known[i].params);
    }
    ilr_model_config c;
    assert_int_equal(ilr_config_from_shape("tiny", ILR_ARCH_QWEN2, &c), 0);
    assert_true(c.vocab_size == 4096 && c.hidden_size == 128 && c.intermediate_size == 352 && c.num_layers == 4 &&
                c.num_heads == 4 && c.num_kv_heads == 2 && c.tie_word_embeddings && c.rope_theta == 1e4);
    assert_int_equal(ilr_config_from_shape("small", ILR_ARCH_LLAMA, &c), 0);
    assert_true(c.vocab_size == 32000 && c.hidden_size == 512 && c.intermediate_size == 1408 && c.num_layers == 8 &&
                c.num_heads == 8 && c.num_kv_heads == 2 && !c.tie_word_embeddings && c.has_rope_scaling);
    ILR_EXPECT_ERROR(ilr_config_from_shape("tiny", 0, &c), ILR_EINVAL, "needs an architecture");
    ILR_EXPECT_ERROR(ilr_config_from_shape("qwen2.5-7b", ILR_ARCH_LLAMA, &c), ILR_EINVAL, "is a qwen2 model");
    ILR_EXPECT_ERROR(ilr_config_from_shape("huge", ILR_ARCH_LLAMA, &c), ILR_EINVAL, "unknown shape 'huge'");
}

/* A config written by ilr parses back to the same configuration. */
static void test_config_json_round_trip(void **state) {
    (void)state;
    const char *shapes[] = {"tiny", "small", "llama3.1-8b", "qwen2.5-7b"};
    for (int i = 0; i < 4; i++) {
        for (int a = ILR_ARCH_QWEN2; a <= ILR_ARCH_LLAMA; a++) {
            ilr_model_config c, back;
            if (ilr_config_from_shape(shapes[i], (ilr_arch)a, &c)) continue; /* real shapes fix the arch */
            json_t *j = ilr_config_to_json(&c);
            assert_int_equal(ilr_config_from_json(j, "config.json", &back), 0);
            json_decref(j);
            assert_memory_equal(&c, &back, sizeof c);
        }
    }
}

typedef struct {
    const char *text;
    int code;
    const char *phrase;
} bad_config;

static void test_bad_configs_rejected(void **state) {
    (void)state;
    static const bad_config cases[] = {
        {"{\n \"hidden_size\": 8,\n \"vocab_size\": }", ILR_EFORMAT, "config.json:3:"},
        {"{\"architectures\": [\"Qwen3ForCausalLM\"]}", ILR_EUNSUPPORTED, "Qwen3ForCausalLM"},
        {"{\"model_type\": \"qwen2\", \"vocab_size\": \"many\"}", ILR_EFORMAT, "'vocab_size'"},
        {"{\"model_type\": \"qwen2\", \"vocab_size\": 10}", ILR_ENOTFOUND, "'hidden_size'"},
        {"{\"model_type\": \"llama\", \"vocab_size\": 10, \"hidden_size\": 12, \"intermediate_size\": 8,"
         " \"num_hidden_layers\": 1, \"num_attention_heads\": 3, \"num_key_value_heads\": 2}",
         ILR_EFORMAT, "not a multiple of num_key_value_heads"},
        {"{\"model_type\": \"llama\", \"vocab_size\": 10, \"hidden_size\": 12, \"intermediate_size\": 8,"
         " \"num_hidden_layers\": 1, \"num_attention_heads\": 5}", ILR_EFORMAT, "not a multiple of num_attention_heads"},
        {"{\"model_type\": \"llama\", \"vocab_size\": 10, \"hidden_size\": 8, \"intermediate_size\": 8,"
         " \"num_hidden_layers\": 1, \"num_attention_heads\": 2, \"rope_scaling\": {\"rope_type\": \"yarn\"}}",
         ILR_EUNSUPPORTED, "rope_scaling type 'yarn'"},
        {"{\"model_type\": \"llama\", \"vocab_size\": 10, \"hidden_size\": 8, \"intermediate_size\": 8,"
         " \"num_hidden_layers\": 1, \"num_attention_heads\": 2, \"hidden_act\": \"gelu\"}", ILR_EUNSUPPORTED, "gelu"},
        {"{\"model_type\": \"llama\", \"vocab_size\": 10, \"hidden_size\": 8, \"intermediate_size\": 8,"
         " \"num_hidden_layers\": 1, \"num_attention_heads\": 2, \"attention_bias\": true}", ILR_EUNSUPPORTED,
         "attention_bias"},
        {"{\"model_type\": \"llama\", \"vocab_size\": 10, \"hidden_size\": 8, \"intermediate_size\": 8,"
         " \"num_hidden_layers\": 0, \"num_attention_heads\": 2}", ILR_EFORMAT, "'num_hidden_layers'"},
        {"{\"model_type\": \"llama\", \"vocab_size\": 10, \"hidden_size\": 8, \"intermediate_size\": 8,"
         " \"num_hidden_layers\": 1, \"num_attention_heads\": 2, \"rms_norm_eps\": -1}", ILR_EFORMAT, "rms_norm_eps"},
        {"{\"model_type\": \"llama\", \"vocab_size\": 10, \"hidden_size\": 8, \"intermediate_size\": 8,"
         " \"num_hidden_layers\": 1, \"num_attention_heads\": 2, \"torch_dtype\": \"int8\"}", ILR_EUNSUPPORTED, "int8"},
        {"[1, 2]", ILR_EFORMAT, "config.json"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ilr_model_config c;
        int rc = ilr_config_parse(cases[i].text, strlen(cases[i].text), "config.json", &c);
        ILR_EXPECT_ERROR(rc, cases[i].code, cases[i].phrase);
    }
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_config_qwen25),
    cmocka_unit_test(test_config_llama31),
    cmocka_unit_test(test_shapes_match_published_parameter_counts),
    cmocka_unit_test(test_config_json_round_trip),
    cmocka_unit_test(test_bad_configs_rejected),
};

ILR_TEST_GROUP(config, tests)
