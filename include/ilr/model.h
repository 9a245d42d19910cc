/* Models: the configuration of a Qwen2/Qwen2.5 or Llama-3/3.1 decoder (config.json), its parameters in
 * one contiguous fp32 buffer with a table of named views (Hugging Face tensor names), and Hugging Face
 * model directories: load (single or sharded safetensors, F32/F16/BF16) and save (F32 or BF16), random
 * initialisation, and the named shapes used everywhere (tests, benchmarks, `ilr init`). */
#ifndef ILR_MODEL_H
#define ILR_MODEL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "ilr/safetensors.h"

typedef enum { ILR_ARCH_QWEN2 = 1, ILR_ARCH_LLAMA = 2 } ilr_arch;

#define ILR_MAX_EOS 8

typedef struct {
    ilr_arch arch;
    int vocab_size;
    int hidden_size;
    int intermediate_size;
    int num_layers;
    int num_heads;
    int num_kv_heads;
    int head_dim;
    int max_position_embeddings;
    double rope_theta;
    double rms_norm_eps;
    double initializer_range;
    int tie_word_embeddings;
    int qkv_bias; /* Qwen2: always; Llama: attention_bias (only false is supported) */
    int has_rope_scaling; /* llama3 rope scaling */
    double rope_factor, rope_low_freq_factor, rope_high_freq_factor;
    int rope_original_max_position;
    char torch_dtype[16]; /* "bfloat16", "float32", "float16" */
    int bos_token_id;     /* -1 when none */
    int num_eos;
    int eos_token_ids[ILR_MAX_EOS];
} ilr_model_config;

const char *ilr_arch_name(ilr_arch arch);           /* "qwen2", "llama" */
int ilr_arch_parse(const char *name, ilr_arch *out); /* "qwen2" (or "qwen2.5"), "llama" */

/* Parses config.json text (name is used in messages) and checks it is a model ilr runs. */
int ilr_config_parse(const char *text, size_t len, const char *name, ilr_model_config *out);
int ilr_config_from_json(const json_t *root, const char *name, ilr_model_config *out);
int ilr_config_load(const char *path, ilr_model_config *out);
/* The eos_token_id of a config object (config.json or generation_config.json; name is used in messages): an
 * integer, a list of at most ILR_MAX_EOS integers, or null / absent (*count 0).  ILR_EFORMAT for another
 * type or an item that is not a token id, ILR_EUNSUPPORTED for a longer list; both name the file and key. */
int ilr_config_parse_eos(const json_t *root, const char *name, int *ids, int *count);
/* A config.json object Hugging Face transformers loads unchanged. */
json_t *ilr_config_to_json(const ilr_model_config *cfg);

/* Named shapes: tiny, small, and the exact shapes of real models (qwen2.5-0.5b, ..., llama3.1-8b).
 * tiny and small take the architecture from arch; real shapes fix it (a conflicting arch is an error,
 * 0 accepts theirs). */
int ilr_config_from_shape(const char *shape, ilr_arch arch, ilr_model_config *out);
/* The shape names, comma separated, for help texts. */
const char *ilr_shape_list(void);

/* Parameter kinds, in their order within a layer. */
typedef enum {
    ILR_P_EMBED, ILR_P_ATTN_NORM, ILR_P_Q_W, ILR_P_Q_B, ILR_P_K_W, ILR_P_K_B, ILR_P_V_W, ILR_P_V_B,
    ILR_P_O_W, ILR_P_MLP_NORM, ILR_P_GATE_W, ILR_P_UP_W, ILR_P_DOWN_W, ILR_P_FINAL_NORM, ILR_P_LM_HEAD,
    ILR_P_KIND_COUNT
} ilr_param_kind;

typedef struct {
    char name[96];   /* Hugging Face tensor name */
    ilr_param_kind kind;
    int layer;       /* -1 for embedding, final norm, LM head */
    int ndim;
    int64_t shape[2];
    size_t offset;   /* in floats, within the contiguous buffer */
    size_t numel;
} ilr_param_view;

/* The layout of all parameters in one buffer: embedding, then each layer's tensors in kind order, then
 * the final norm and (untied only) the LM head.  A tied LM head is the embedding. */
typedef struct {
    int count;
    ilr_param_view *views;
    size_t total;   /* floats */
    int num_layers;
    int *lookup;    /* (num_layers + 1) * ILR_P_KIND_COUNT view indices, -1 where absent */
} ilr_param_table;

int ilr_param_table_build(ilr_param_table *t, const ilr_model_config *cfg);
void ilr_param_table_free(ilr_param_table *t);
/* The view of kind in layer (layer ignored for global kinds), NULL when the model has none (a bias of a
 * Llama, the LM head of a tied model). */
const ilr_param_view *ilr_param_get(const ilr_param_table *t, ilr_param_kind kind, int layer);
const ilr_param_view *ilr_param_find(const ilr_param_table *t, const char *hf_name);
/* Parameter count as Hugging Face counts it (a tied head counted once). */
int64_t ilr_config_param_count(const ilr_model_config *cfg);

typedef struct {
    ilr_model_config config;
    ilr_param_table table;
    float *params;                 /* table.total floats */
    json_t *config_json;           /* config.json as loaded (kept to save it back unchanged), or NULL */
    json_t *generation_config;     /* generation_config.json as loaded, or NULL */
    /* generation_config.json's eos_token_id(s) that config.json's lack (an instruct model's end-of-turn ids,
     * e.g. Llama-3-Instruct's <|eot_id|>), parsed at load; config.json's stay in config.eos_token_ids, whose
     * first is the eos SFT appends.  Together at most ILR_MAX_EOS. */
    int num_gen_eos;
    int gen_eos_ids[ILR_MAX_EOS];
    char weights_dtype[16];        /* dtype of the loaded weights: "BF16", "F32", "mixed" */
} ilr_model;

/* Whether id ends generation: one of config.json's eos ids or generation_config.json's (their union). */
int ilr_model_is_eos(const ilr_model *m, int id);

/* Allocates the parameter buffer for cfg.  Its values are undefined until ilr_model_init_random or a load
 * fills it (not zeroing saves touching every page twice: ~1 s for the 0.5B shape). */
int ilr_model_create(ilr_model *m, const ilr_model_config *cfg);
/* Hugging Face's init: linear and embedding weights normal(0, initializer_range), biases 0, norms 1.
 * Each tensor draws from its own RNG stream, so the result does not depend on threads. */
void ilr_model_init_random(ilr_model *m, uint64_t seed);
/* Loads a Hugging Face model directory: config.json, generation_config.json if present (its eos_token_id
 * joins config.json's as ids that end generation), and model.safetensors or model.safetensors.index.json
 * with its shards. */
int ilr_model_load(ilr_model *m, const char *dir);
void ilr_model_free(ilr_model *m);

typedef struct {
    ilr_dtype dtype;          /* ILR_DTYPE_F32 or ILR_DTYPE_BF16 */
    size_t max_shard_bytes;   /* 0: one model.safetensors; else shards of at most this many bytes */
} ilr_save_options;

/* Writes config.json, generation_config.json (when the model has one) and the weights into dir
 * (created if missing), each file atomically; weight files of an earlier save that the new one does not
 * use are removed. */
int ilr_model_save(const ilr_model *m, const char *dir, const ilr_save_options *opt);

/* Header-only look at a model directory (no weights loaded): tensor count and dtypes per file. */
typedef struct {
    ilr_model_config config;
    int num_files;
    int num_tensors;
    int64_t dtype_counts[ILR_DTYPE_COUNT]; /* tensors per dtype */
    int64_t file_bytes;                    /* weights on disk */
} ilr_model_dir_info;

int ilr_model_dir_inspect(const char *dir, ilr_model_dir_info *out);

/* Memory estimates in bytes, fp32 on the CPU. */
typedef struct {
    int64_t params;         /* weights */
    int64_t kv_cache_per_token;
    int64_t inference;      /* weights + KV cache for max(seq) tokens of batch 1 */
    int64_t training_state; /* weights + gradients + AdamW m and v */
    int64_t activations_per_token; /* what a training state for 1 x seq reserves, per token */
    int64_t training;       /* state + activations for batch 1 x seq */
} ilr_memory_estimate;

/* (src/model/transformer.c: sized with the training state's own layout) */
void ilr_model_memory_estimate(const ilr_model_config *cfg, int seq, ilr_memory_estimate *out);

#endif
