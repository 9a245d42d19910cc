#include "ilr/tokenizer_files.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ilr/error.h"
#include "ilr/io.h"
#include "ilr/json.h"

static const char *const tokenizer_file_names[] = {"tokenizer.json", "tokenizer_config.json",
                                                   "special_tokens_map.json", "vocab.json", "merges.txt"};

/* A token's id by its text: added tokens first, then the model's vocabulary; -1 when absent. */
static int64_t token_id(const json_t *tok, const char *text) {
    size_t i;
    json_t *added;
    json_array_foreach(json_object_get(tok, "added_tokens"), i, added) {
        const char *content = json_string_value(json_object_get(added, "content"));
        if (content && strcmp(content, text) == 0) return json_integer_value(json_object_get(added, "id"));
    }
    const json_t *id = json_object_get(json_object_get(json_object_get(tok, "model"), "vocab"), text);
    return json_is_integer(id) ? json_integer_value(id) : -1;
}

/* The largest id of the vocabulary and the added tokens. */
static int64_t max_token_id(const json_t *tok) {
    int64_t max = -1;
    const char *key;
    json_t *v;
    json_object_foreach(json_object_get(json_object_get(tok, "model"), "vocab"), key, v)
        if (json_integer_value(v) > max) max = json_integer_value(v);
    size_t i;
    json_array_foreach(json_object_get(tok, "added_tokens"), i, v)
        if (json_integer_value(json_object_get(v, "id")) > max) max = json_integer_value(json_object_get(v, "id"));
    return max;
}

/* bos_token / eos_token in tokenizer_config.json: a string, {"content": ...}, or null. */
static const char *special_token_text(const json_t *config, const char *key) {
    const json_t *v = json_object_get(config, key);
    if (json_is_object(v)) v = json_object_get(v, "content");
    return json_string_value(v);
}

static int apply_special(const json_t *tok, const json_t *config, const char *path, ilr_model_config *cfg) {
    const char *bos = special_token_text(config, "bos_token"), *eos = special_token_text(config, "eos_token");
    cfg->bos_token_id = -1;
    if (bos && (cfg->bos_token_id = (int)token_id(tok, bos)) < 0)
        return ILR_FAIL(ILR_EMISMATCH, "%s: bos_token '%s' is not a token of tokenizer.json", path, bos);
    cfg->num_eos = 0;
    if (eos) {
        int64_t id = token_id(tok, eos);
        if (id < 0) return ILR_FAIL(ILR_EMISMATCH, "%s: eos_token '%s' is not a token of tokenizer.json", path, eos);
        cfg->eos_token_ids[cfg->num_eos++] = (int)id;
    }
    return 0;
}

int ilr_tokenizer_files_apply(const char *dir, ilr_model_config *cfg) {
    char path[4096], config_path[4096];
    json_t *tok = NULL, *config = NULL;
    int rc = ilr_path_join(path, sizeof path, dir, "tokenizer.json");
    if (!rc) rc = ilr_json_load_file(path, &tok);
    if (!rc && !json_is_object(json_object_get(json_object_get(tok, "model"), "vocab")))
        rc = ILR_FAIL(ILR_EFORMAT, "%s: no \"model\".\"vocab\" object", path);
    int64_t max = rc ? 0 : max_token_id(tok);
    if (!rc && max >= cfg->vocab_size)
        rc = ILR_FAIL(ILR_EMISMATCH, "%s: token ids go up to %lld but the model's vocabulary has %d entries; pass "
                      "--vocab-size %lld or more", path, (long long)max, cfg->vocab_size, (long long)max + 1);
    if (!rc) rc = ilr_path_join(config_path, sizeof config_path, dir, "tokenizer_config.json");
    if (!rc && ilr_file_exists(config_path)) {
        rc = ilr_json_load_file_flags(config_path, JSON_DECODE_INT_AS_REAL, &config);
        if (!rc) rc = apply_special(tok, config, config_path, cfg);
    }
    json_decref(tok);
    json_decref(config);
    return rc;
}

static int same_directory(const char *a, const char *b) {
    char ra[PATH_MAX], rb[PATH_MAX];
    return realpath(a, ra) && realpath(b, rb) && strcmp(ra, rb) == 0;
}

int ilr_tokenizer_files_copy(const char *src, const char *dst) {
    if (same_directory(src, dst)) return 0;
    int rc = 0;
    for (size_t i = 0; i < sizeof tokenizer_file_names / sizeof *tokenizer_file_names && !rc; i++) {
        char from[4096], to[4096], *data = NULL;
        size_t size = 0;
        rc = ilr_path_join(from, sizeof from, src, tokenizer_file_names[i]);
        if (rc || !ilr_file_exists(from)) continue;
        rc = ilr_path_join(to, sizeof to, dst, tokenizer_file_names[i]);
        if (!rc) rc = ilr_file_read_all(from, &data, &size);
        if (!rc) rc = ilr_file_write_atomic(to, data, size);
        free(data);
    }
    return rc;
}
