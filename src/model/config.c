/* config.json of Qwen2/Qwen2.5 and Llama-3/3.1 models: parse, check, write (see ilr/model.h). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ilr/error.h"
#include "ilr/json.h"
#include "ilr/model.h"

const char *ilr_arch_name(ilr_arch arch) {
    return arch == ILR_ARCH_QWEN2 ? "qwen2" : arch == ILR_ARCH_LLAMA ? "llama" : "?";
}

int ilr_arch_parse(const char *name, ilr_arch *out) {
    if (strcmp(name, "qwen2") == 0 || strcmp(name, "qwen2.5") == 0) *out = ILR_ARCH_QWEN2;
    else if (strcmp(name, "llama") == 0 || strcmp(name, "llama3") == 0) *out = ILR_ARCH_LLAMA;
    else return ILR_FAIL(ILR_EINVAL, "unknown architecture '%s' (expected qwen2 or llama)", name);
    return 0;
}

/* The architecture from "architectures" (preferred) or "model_type". */
static int parse_arch(const json_t *root, const char *name, ilr_arch *out) {
    const json_t *archs = json_object_get(root, "architectures");
    const char *arch = NULL;
    if (archs && !json_is_null(archs)) {
        if (!json_is_array(archs) || json_array_size(archs) != 1 || !json_is_string(json_array_get(archs, 0)))
            return ILR_FAIL(ILR_EFORMAT, "%s: key 'architectures': expected a list of one string", name);
        arch = json_string_value(json_array_get(archs, 0));
        if (strcmp(arch, "Qwen2ForCausalLM") == 0) return *out = ILR_ARCH_QWEN2, 0;
        if (strcmp(arch, "LlamaForCausalLM") == 0) return *out = ILR_ARCH_LLAMA, 0;
        return ILR_FAIL(ILR_EUNSUPPORTED, "%s: architecture '%s' is not supported (Qwen2ForCausalLM or "
                        "LlamaForCausalLM)", name, arch);
    }
    const char *model_type = NULL;
    int rc = ilr_json_get_string(root, "model_type", 1, name, &model_type);
    if (rc) return ilr_error_prefix("no 'architectures' either");
    if (strcmp(model_type, "qwen2") == 0) return *out = ILR_ARCH_QWEN2, 0;
    if (strcmp(model_type, "llama") == 0) return *out = ILR_ARCH_LLAMA, 0;
    return ILR_FAIL(ILR_EUNSUPPORTED, "%s: model_type '%s' is not supported (qwen2 or llama)", name, model_type);
}

static int get_int_field(const json_t *root, const char *key, int required, const char *name, int64_t lo,
                         int64_t hi, int *out) {
    int64_t v = *out;
    int rc = ilr_json_get_int(root, key, required, name, lo, hi, &v);
    if (rc < 0) return rc;
    *out = (int)v;
    return 0;
}

/* An optional number: absent leaves *out, a non-number is an error. */
static int get_number_field(const json_t *root, const char *key, const char *name, double *out) {
    int rc = ilr_json_get_number(root, key, 0, name, out);
    return rc < 0 ? rc : 0;
}

/* rope_scaling: null, absent, {"rope_type": "default"} or llama3. */
static int parse_rope_scaling(const json_t *root, const char *name, ilr_model_config *c) {
    const json_t *rs = json_object_get(root, "rope_scaling");
    c->has_rope_scaling = 0;
    if (!rs || json_is_null(rs)) return 0;
    if (!json_is_object(rs)) return ILR_FAIL(ILR_EFORMAT, "%s: key 'rope_scaling': expected an object or null", name);
    const char *type = NULL;
    int rc = ilr_json_get_string(rs, "rope_type", 0, name, &type);
    if (rc == 1) rc = ilr_json_get_string(rs, "type", 0, name, &type);
    if (rc < 0) return rc;
    if (!type) return ILR_FAIL(ILR_EFORMAT, "%s: 'rope_scaling' has neither 'rope_type' nor 'type'", name);
    if (strcmp(type, "default") == 0) return 0;
    if (strcmp(type, "llama3") != 0)
        return ILR_FAIL(ILR_EUNSUPPORTED, "%s: rope_scaling type '%s' is not supported (llama3 or default)", name,
                        type);
    c->has_rope_scaling = 1;
    const char *keys[] = {"factor", "low_freq_factor", "high_freq_factor"};
    double *dst[] = {&c->rope_factor, &c->rope_low_freq_factor, &c->rope_high_freq_factor};
    for (int i = 0; i < 3; i++) {
        rc = ilr_json_get_number(rs, keys[i], 1, name, dst[i]);
        if (rc) return ilr_error_prefix("rope_scaling");
        if (!(*dst[i] > 0)) return ILR_FAIL(ILR_EFORMAT, "%s: rope_scaling '%s' must be positive", name, keys[i]);
    }
    if (c->rope_high_freq_factor <= c->rope_low_freq_factor)
        return ILR_FAIL(ILR_EFORMAT, "%s: rope_scaling high_freq_factor must exceed low_freq_factor", name);
    rc = get_int_field(rs, "original_max_position_embeddings", 1, name, 1, INT32_MAX, &c->rope_original_max_position);
    return rc ? ilr_error_prefix("rope_scaling") : 0;
}

int ilr_config_parse_eos(const json_t *root, const char *name, int *ids, int *count) {
    const char *key = "eos_token_id";
    const json_t *v = json_object_get(root, key);
    *count = 0;
    if (!v || json_is_null(v)) return 0;
    if (json_is_integer(v)) v = json_pack("[O]", v);
    else if (json_is_array(v)) json_incref((json_t *)v);
    else return ILR_FAIL(ILR_EFORMAT, "%s: key '%s': expected an integer or a list of integers", name, key);
    int rc = 0;
    *count = 0;
    for (size_t i = 0; i < json_array_size(v) && !rc; i++) {
        const json_t *id = json_array_get(v, i);
        if (!json_is_integer(id) || json_integer_value(id) < 0 || json_integer_value(id) > INT32_MAX)
            rc = ILR_FAIL(ILR_EFORMAT, "%s: key '%s': item %zu is not a token id", name, key, i);
        else if (*count == ILR_MAX_EOS)
            rc = ILR_FAIL(ILR_EUNSUPPORTED, "%s: key '%s': more than %d ids", name, key, ILR_MAX_EOS);
        else
            ids[(*count)++] = (int)json_integer_value(id);
    }
    json_decref((json_t *)v);
    return rc;
}

static int parse_dtype(const json_t *root, const char *name, ilr_model_config *c) {
    const char *dtype = "float32";
    int rc = ilr_json_get_string(root, "torch_dtype", 0, name, &dtype);
    if (rc == 1) rc = ilr_json_get_string(root, "dtype", 0, name, &dtype); /* transformers >= 4.56 */
    if (rc < 0) return rc;
    if (strcmp(dtype, "float32") && strcmp(dtype, "bfloat16") && strcmp(dtype, "float16"))
        return ILR_FAIL(ILR_EUNSUPPORTED, "%s: torch_dtype '%s' is not supported (float32, bfloat16, float16)", name,
                        dtype);
    snprintf(c->torch_dtype, sizeof c->torch_dtype, "%s", dtype);
    return 0;
}

/* What the engine relies on, beyond types: divisibility, supported options. */
static int check_config(const json_t *root, const char *name, ilr_model_config *c) {
    if (c->num_heads % c->num_kv_heads)
        return ILR_FAIL(ILR_EFORMAT, "%s: num_attention_heads %d is not a multiple of num_key_value_heads %d", name,
                        c->num_heads, c->num_kv_heads);
    if (c->head_dim % 2) return ILR_FAIL(ILR_EFORMAT, "%s: head_dim %d must be even for rotary embeddings", name, c->head_dim);
    const char *act = "silu";
    int rc = ilr_json_get_string(root, "hidden_act", 0, name, &act);
    if (rc < 0) return rc;
    if (strcmp(act, "silu"))
        return ILR_FAIL(ILR_EUNSUPPORTED, "%s: hidden_act '%s' is not supported (silu)", name, act);
    int bias = 0, mlp_bias = 0;
    if ((rc = ilr_json_get_bool(root, "attention_bias", 0, name, &bias)) < 0) return rc;
    if ((rc = ilr_json_get_bool(root, "mlp_bias", 0, name, &mlp_bias)) < 0) return rc;
    if (c->arch == ILR_ARCH_LLAMA && (bias || mlp_bias))
        return ILR_FAIL(ILR_EUNSUPPORTED, "%s: Llama with %s=true is not supported", name,
                        bias ? "attention_bias" : "mlp_bias");
    c->qkv_bias = c->arch == ILR_ARCH_QWEN2; /* Qwen2Attention always has q/k/v bias */
    return 0;
}

int ilr_config_from_json(const json_t *root, const char *name, ilr_model_config *c) {
    memset(c, 0, sizeof *c);
    if (!json_is_object(root)) return ILR_FAIL(ILR_EFORMAT, "%s: expected a JSON object", name);
    int rc = parse_arch(root, name, &c->arch);
    const int64_t big = 1 << 24, huge = INT32_MAX;
    if (!rc) rc = get_int_field(root, "vocab_size", 1, name, 1, huge, &c->vocab_size);
    if (!rc) rc = get_int_field(root, "hidden_size", 1, name, 1, big, &c->hidden_size);
    if (!rc) rc = get_int_field(root, "intermediate_size", 1, name, 1, big, &c->intermediate_size);
    if (!rc) rc = get_int_field(root, "num_hidden_layers", 1, name, 1, 4096, &c->num_layers);
    if (!rc) rc = get_int_field(root, "num_attention_heads", 1, name, 1, 4096, &c->num_heads);
    if (rc) return rc;
    c->num_kv_heads = c->num_heads;
    rc = get_int_field(root, "num_key_value_heads", 0, name, 1, 4096, &c->num_kv_heads);
    if (!rc && c->hidden_size % c->num_heads && !json_object_get(root, "head_dim"))
        rc = ILR_FAIL(ILR_EFORMAT, "%s: hidden_size %d is not a multiple of num_attention_heads %d", name,
                      c->hidden_size, c->num_heads);
    c->head_dim = c->hidden_size / c->num_heads;
    const json_t *hd = json_object_get(root, "head_dim");
    if (!rc && hd && !json_is_null(hd)) rc = get_int_field(root, "head_dim", 1, name, 1, 65536, &c->head_dim);
    c->max_position_embeddings = 2048;
    if (!rc) rc = get_int_field(root, "max_position_embeddings", 0, name, 1, huge, &c->max_position_embeddings);
    c->rope_theta = 10000.0;
    c->rms_norm_eps = 1e-6;
    c->initializer_range = 0.02;
    c->tie_word_embeddings = 0; /* Qwen2Config's and LlamaConfig's default when the key is absent */
    if (!rc) rc = get_number_field(root, "rope_theta", name, &c->rope_theta);
    if (!rc) rc = get_number_field(root, "rms_norm_eps", name, &c->rms_norm_eps);
    if (!rc) rc = get_number_field(root, "initializer_range", name, &c->initializer_range);
    if (!rc && !(c->rope_theta > 0)) rc = ILR_FAIL(ILR_EFORMAT, "%s: rope_theta must be positive", name);
    if (!rc && !(c->rms_norm_eps > 0)) rc = ILR_FAIL(ILR_EFORMAT, "%s: rms_norm_eps must be positive", name);
    if (!rc && !(c->initializer_range >= 0))
        rc = ILR_FAIL(ILR_EFORMAT, "%s: initializer_range must not be negative", name);
    if (!rc && ilr_json_get_bool(root, "tie_word_embeddings", 0, name, &c->tie_word_embeddings) < 0)
        rc = ilr_last_error_code();
    if (!rc) rc = parse_rope_scaling(root, name, c);
    if (!rc) rc = parse_dtype(root, name, c);
    c->bos_token_id = -1;
    if (!rc) {
        const json_t *bos = json_object_get(root, "bos_token_id");
        if (bos && !json_is_null(bos)) rc = get_int_field(root, "bos_token_id", 1, name, 0, huge, &c->bos_token_id);
    }
    if (!rc) rc = ilr_config_parse_eos(root, name, c->eos_token_ids, &c->num_eos);
    if (!rc) rc = check_config(root, name, c);
    return rc;
}

int ilr_config_parse(const char *text, size_t len, const char *name, ilr_model_config *out) {
    json_t *root = NULL;
    int rc = ilr_json_parse(text, len, name, &root);
    if (rc) return rc;
    rc = ilr_config_from_json(root, name, out);
    json_decref(root);
    return rc;
}

int ilr_config_load(const char *path, ilr_model_config *out) {
    json_t *root = NULL;
    int rc = ilr_json_load_file(path, &root);
    if (rc) return rc;
    rc = ilr_config_from_json(root, path, out);
    json_decref(root);
    return rc;
}

static json_t *eos_json(const ilr_model_config *c) {
    if (c->num_eos == 0) return json_null();
    if (c->num_eos == 1) return json_integer(c->eos_token_ids[0]);
    json_t *list = json_array();
    for (int i = 0; i < c->num_eos; i++) json_array_append_new(list, json_integer(c->eos_token_ids[i]));
    return list;
}

json_t *ilr_config_to_json(const ilr_model_config *c) {
    int qwen = c->arch == ILR_ARCH_QWEN2;
    json_t *o = json_object();
    json_object_set_new(o, "architectures", json_pack("[s]", qwen ? "Qwen2ForCausalLM" : "LlamaForCausalLM"));
    json_object_set_new(o, "model_type", json_string(qwen ? "qwen2" : "llama"));
    if (!qwen) {
        json_object_set_new(o, "attention_bias", json_false());
        json_object_set_new(o, "mlp_bias", json_false());
    }
    json_object_set_new(o, "attention_dropout", json_real(0.0));
    json_object_set_new(o, "bos_token_id", c->bos_token_id >= 0 ? json_integer(c->bos_token_id) : json_null());
    json_object_set_new(o, "eos_token_id", eos_json(c));
    json_object_set_new(o, "head_dim", json_integer(c->head_dim));
    json_object_set_new(o, "hidden_act", json_string("silu"));
    json_object_set_new(o, "hidden_size", json_integer(c->hidden_size));
    json_object_set_new(o, "initializer_range", json_real(c->initializer_range));
    json_object_set_new(o, "intermediate_size", json_integer(c->intermediate_size));
    json_object_set_new(o, "max_position_embeddings", json_integer(c->max_position_embeddings));
    json_object_set_new(o, "num_attention_heads", json_integer(c->num_heads));
    json_object_set_new(o, "num_hidden_layers", json_integer(c->num_layers));
    json_object_set_new(o, "num_key_value_heads", json_integer(c->num_kv_heads));
    json_object_set_new(o, "rms_norm_eps", json_real(c->rms_norm_eps));
    if (c->has_rope_scaling)
        json_object_set_new(o, "rope_scaling",
                            json_pack("{s:f, s:f, s:f, s:i, s:s}", "factor", c->rope_factor, "low_freq_factor",
                                      c->rope_low_freq_factor, "high_freq_factor", c->rope_high_freq_factor,
                                      "original_max_position_embeddings", c->rope_original_max_position,
                                      "rope_type", "llama3"));
    else
        json_object_set_new(o, "rope_scaling", json_null());
    json_object_set_new(o, "rope_theta", json_real(c->rope_theta));
    json_object_set_new(o, "tie_word_embeddings", json_boolean(c->tie_word_embeddings));
    json_object_set_new(o, "torch_dtype", json_string(c->torch_dtype[0] ? c->torch_dtype : "float32"));
    if (qwen) json_object_set_new(o, "use_sliding_window", json_false());
    json_object_set_new(o, "use_cache", json_true());
    json_object_set_new(o, "vocab_size", json_integer(c->vocab_size));
    return o;
}
