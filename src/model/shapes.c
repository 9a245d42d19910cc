/* Named model shapes: two small ones for tests and benchmarks, and the exact shapes of real models
 * (from their Hugging Face config.json). */
#include <stdio.h>
#include <string.h>

#include "ilr/error.h"
#include "ilr/model.h"

typedef struct {
    const char *name;
    ilr_arch arch; /* 0: the caller's choice */
    int vocab, hidden, intermediate, layers, heads, kv_heads, head_dim, max_pos;
    double rope_theta, rms_eps;
    int tied;
    double rope_factor; /* llama3 rope scaling factor, 0 for none */
    int rope_original;
    int bos, eos;
} shape_def;

static const shape_def shapes[] = {
    /* name           arch            vocab   hidden inter  L   H   KV  hd   maxpos  theta  eps  tied factor orig  bos     eos */
    {"tiny",          0,              4096,   128,   352,   4,  4,  2,  32,  2048,   1e4,   0,    1,  0,    0,    -1,     -1},
    {"small",         0,              32000,  512,   1408,  8,  8,  2,  64,  2048,   1e4,   0,    0,  0,    0,    -1,     -1},
    /* the two base agents of the synthetic world (make agents): a Qwen2 and a Llama 2.7x its size */
    {"world-a",       ILR_ARCH_QWEN2, 512,    96,    256,   3,  3,  1,  32,  1024,   1e4,   1e-6, 1,  0,    0,    -1,     -1},
    {"world-b",       ILR_ARCH_LLAMA, 512,    128,   384,   4,  4,  2,  32,  1024,   1e4,   1e-5, 0,  0,    0,    -1,     -1},
    {"qwen2.5-0.5b",  ILR_ARCH_QWEN2, 151936, 896,   4864,  24, 14, 2,  64,  32768,  1e6,   1e-6, 1,  0,    0,    151643, 151643},
    {"qwen2.5-1.5b",  ILR_ARCH_QWEN2, 151936, 1536,  8960,  28, 12, 2,  128, 131072, 1e6,   1e-6, 1,  0,    0,    151643, 151643},
    {"qwen2.5-7b",    ILR_ARCH_QWEN2, 152064, 3584,  18944, 28, 28, 4,  128, 131072, 1e6,   1e-6, 0,  0,    0,    151643, 151643},
    {"qwen2.5-14b",   ILR_ARCH_QWEN2, 152064, 5120,  13824, 48, 40, 8,  128, 131072, 1e6,   1e-5, 0,  0,    0,    151643, 151643},
    {"llama3.2-1b",   ILR_ARCH_LLAMA, 128256, 2048,  8192,  16, 32, 8,  64,  131072, 5e5,   1e-5, 1,  32,   8192, 128000, 128001},
    {"llama3.1-8b",   ILR_ARCH_LLAMA, 128256, 4096,  14336, 32, 32, 8,  128, 131072, 5e5,   1e-5, 0,  8,    8192, 128000, 128001},
};

const char *ilr_shape_list(void) {
    return "tiny, small, world-a, world-b, qwen2.5-0.5b, qwen2.5-1.5b, qwen2.5-7b, qwen2.5-14b, llama3.2-1b, llama3.1-8b";
}

/* tiny and small follow the architecture's conventions: Qwen2's eps 1e-6; Llama's eps 1e-5 and llama3
 * rope scaling (factor 8 over a quarter of the context), so both code paths are exercised. */
static void fill_small_shape(ilr_model_config *c, const shape_def *s, ilr_arch arch) {
    c->arch = arch;
    c->rms_norm_eps = arch == ILR_ARCH_QWEN2 ? 1e-6 : 1e-5;
    if (arch == ILR_ARCH_LLAMA) {
        c->has_rope_scaling = 1;
        c->rope_factor = 8.0;
        c->rope_original_max_position = s->max_pos / 4;
    }
}

int ilr_config_from_shape(const char *shape, ilr_arch arch, ilr_model_config *c) {
    const shape_def *s = NULL;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        if (strcmp(shapes[i].name, shape) == 0) s = &shapes[i];
    if (!s) return ILR_FAIL(ILR_EINVAL, "unknown shape '%s' (known: %s)", shape, ilr_shape_list());
    if (s->arch && arch && s->arch != arch)
        return ILR_FAIL(ILR_EINVAL, "shape '%s' is a %s model, not %s", shape, ilr_arch_name(s->arch),
                        ilr_arch_name(arch));
    if (!s->arch && !arch) return ILR_FAIL(ILR_EINVAL, "shape '%s' needs an architecture (qwen2 or llama)", shape);
    memset(c, 0, sizeof *c);
    *c = (ilr_model_config){
        .arch = s->arch ? s->arch : arch, .vocab_size = s->vocab, .hidden_size = s->hidden,
        .intermediate_size = s->intermediate, .num_layers = s->layers, .num_heads = s->heads,
        .num_kv_heads = s->kv_heads, .head_dim = s->head_dim, .max_position_embeddings = s->max_pos,
        .rope_theta = s->rope_theta, .rms_norm_eps = s->rms_eps, .initializer_range = 0.02,
        .tie_word_embeddings = s->tied, .has_rope_scaling = s->rope_factor > 0, .rope_factor = s->rope_factor,
        .rope_original_max_position = s->rope_original, .bos_token_id = s->bos,
    };
    if (s->eos >= 0) c->eos_token_ids[c->num_eos++] = s->eos;
    if (!s->arch) fill_small_shape(c, s, arch);
    if (c->has_rope_scaling) c->rope_low_freq_factor = 1.0, c->rope_high_freq_factor = 4.0;
    c->qkv_bias = c->arch == ILR_ARCH_QWEN2;
    snprintf(c->torch_dtype, sizeof c->torch_dtype, "%s", s->arch ? "bfloat16" : "float32");
    return 0;
}
