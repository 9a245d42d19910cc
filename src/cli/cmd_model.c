/* ilr init, ilr inspect, ilr convert: making, looking at and re-saving Hugging Face model directories. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "ilr/error.h"
#include "ilr/io.h"
#include "ilr/log.h"
#include "ilr/model.h"
#include "ilr/timer.h"
#include "ilr/tokenizer_files.h"

static int parse_dtype_option(const char *cmd, const char *text, ilr_dtype *out) {
    if (strcmp(text, "f32") == 0 || strcmp(text, "F32") == 0 || strcmp(text, "float32") == 0) *out = ILR_DTYPE_F32;
    else if (strcmp(text, "bf16") == 0 || strcmp(text, "BF16") == 0 || strcmp(text, "bfloat16") == 0)
        *out = ILR_DTYPE_BF16;
    else return ilr_cli_usage_error(cmd, "--dtype takes f32 or bf16, not '%s'", text);
    return 0;
}

static void print_saved(const char *dir, const ilr_model *m, const ilr_save_options *opt, double seconds) {
    char size[32], took[32];
    ilr_format_bytes((double)m->table.total * ilr_dtype_size(opt->dtype), size, sizeof size);
    ilr_format_duration(seconds, took, sizeof took);
    printf("wrote %s: %s %s, %zu parameters as %s (%s) in %s\n", dir, ilr_arch_name(m->config.arch),
           opt->max_shard_bytes ? "sharded" : "single file", m->table.total, ilr_dtype_name(opt->dtype), size, took);
}

/* ---- init ---- */

static const char init_help[] =
    "usage: ilr init --arch qwen2|llama --shape SHAPE -o DIR [options]\n\n"
    "Writes a random-initialised Hugging Face model directory (config.json, generation_config.json,\n"
    "model.safetensors) of a real architecture and shape.  Weights are drawn as transformers does:\n"
    "linear and embedding weights normal(0, initializer_range), biases 0, norm weights 1.\n"
    "The model is built in memory in fp32 first (4 bytes per parameter).\n\n"
    "  --arch A          qwen2 or llama (real-model shapes fix it; tiny and small need it)\n"
    "  --shape S         one of: %s\n"
    "  -o, --out DIR     the directory to write (created if missing)\n"
    "  --seed N          random seed (default 1234)\n"
    "  --dtype D         f32 or bf16 weights on disk (default f32)\n"
    "  --vocab-size N    override the shape's vocabulary size\n"
    "  --layers N        override the shape's number of layers (a real shape cut down to fit a machine's memory)\n"
    "  --tokenizer DIR   copy tokenizer.json and tokenizer_config.json from DIR and take bos/eos ids from\n"
    "                    them; the vocabulary must hold every token id of the tokenizer\n"
    "  --shard-size SZ   write shards of at most SZ bytes (e.g. 500M) with model.safetensors.index.json\n";

typedef struct {
    const char *arch, *shape, *out, *tokenizer;
    long long seed, vocab, shard, layers;
    ilr_dtype dtype;
} init_options;

static int parse_init(int argc, char **argv, init_options *o) {
    static const struct option longopts[] = {
        {"arch", required_argument, 0, 'a'},  {"shape", required_argument, 0, 's'},
        {"out", required_argument, 0, 'o'},   {"seed", required_argument, 0, 'S'},
        {"dtype", required_argument, 0, 'd'}, {"vocab-size", required_argument, 0, 'v'},
        {"tokenizer", required_argument, 0, 't'}, {"shard-size", required_argument, 0, 'z'},
        {"layers", required_argument, 0, 'L'},
        {"help", no_argument, 0, 'h'},        {0, 0, 0, 0}};
    *o = (init_options){.seed = 1234, .dtype = ILR_DTYPE_F32};
    optind = 0;
    opterr = 0;
    for (int c; (c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1;) {
        int rc = 0;
        switch (c) {
        case 'a': o->arch = optarg; break;
        case 's': o->shape = optarg; break;
        case 'o': o->out = optarg; break;
        case 't': o->tokenizer = optarg; break;
        case 'S': rc = ilr_cli_parse_long("init", "--seed", optarg, 0, INT64_MAX, &o->seed); break;
        case 'v': rc = ilr_cli_parse_long("init", "--vocab-size", optarg, 1, INT32_MAX, &o->vocab); break;
        case 'L': rc = ilr_cli_parse_long("init", "--layers", optarg, 1, 1024, &o->layers); break;
        case 'z': rc = ilr_cli_parse_size("init", "--shard-size", optarg, &o->shard); break;
        case 'd': rc = parse_dtype_option("init", optarg, &o->dtype); break;
        case 'h': printf(init_help, ilr_shape_list()); return -1;
        default: return ilr_cli_usage_error("init", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
        if (rc) return rc;
    }
    if (optind < argc) return ilr_cli_usage_error("init", "unexpected argument '%s'", argv[optind]);
    if (!o->shape) return ilr_cli_usage_error("init", "--shape is required (one of: %s)", ilr_shape_list());
    if (!o->out) return ilr_cli_usage_error("init", "-o DIR is required");
    return 0;
}

int ilr_cmd_init(int argc, char **argv) {
    init_options o;
    int rc = parse_init(argc, argv, &o);
    if (rc) return rc < 0 ? 0 : rc;
    ilr_arch arch = 0;
    if (o.arch && ilr_arch_parse(o.arch, &arch)) return ilr_cli_usage_error("init", "%s", ilr_last_error());
    ilr_model_config cfg;
    if (ilr_config_from_shape(o.shape, arch, &cfg)) return ilr_cli_usage_error("init", "%s", ilr_last_error());
    if (o.vocab) cfg.vocab_size = (int)o.vocab;
    if (o.layers) cfg.num_layers = (int)o.layers;
    if (o.tokenizer && ilr_tokenizer_files_apply(o.tokenizer, &cfg)) return ilr_cli_fail("init");
    snprintf(cfg.torch_dtype, sizeof cfg.torch_dtype, "%s", o.dtype == ILR_DTYPE_BF16 ? "bfloat16" : "float32");
    ilr_timer timer;
    ilr_timer_start(&timer);
    ilr_model m;
    if (ilr_model_create(&m, &cfg)) return ilr_cli_fail("init");
    ILR_LOG_I("initialising %zu parameters (%s, shape %s, seed %lld)", m.table.total, ilr_arch_name(cfg.arch),
              o.shape, o.seed);
    ilr_model_init_random(&m, (uint64_t)o.seed);
    m.generation_config = json_object();
    json_object_set_new(m.generation_config, "bos_token_id",
                        cfg.bos_token_id >= 0 ? json_integer(cfg.bos_token_id) : json_null());
    json_object_set_new(m.generation_config, "eos_token_id",
                        cfg.num_eos ? json_integer(cfg.eos_token_ids[0]) : json_null());
    ilr_save_options opt = {.dtype = o.dtype, .max_shard_bytes = (size_t)o.shard};
    rc = ilr_model_save(&m, o.out, &opt);
    if (!rc && o.tokenizer) rc = ilr_tokenizer_files_copy(o.tokenizer, o.out);
    if (!rc) print_saved(o.out, &m, &opt, ilr_timer_elapsed(&timer));
    ilr_model_free(&m);
    return rc ? ilr_cli_fail("init") : 0;
}

/* ---- inspect ---- */

static const char inspect_help[] =
    "usage: ilr inspect DIR [--seq N] [--json]\n\n"
    "Reads config.json and the safetensors headers of a Hugging Face model directory (no weights are\n"
    "loaded), checks every tensor's name, dtype and shape against the config, and prints the\n"
    "architecture, sizes, parameter count, dtypes and the memory needed for fp32 inference and for\n"
    "training with AdamW at batch 1 x N tokens.\n\n"
    "  --seq N   sequence length for the memory estimate (default 512)\n"
    "  --json    print one JSON object instead of text\n";

static void print_inspect_text(const char *dir, const ilr_model_dir_info *info, int seq) {
    const ilr_model_config *c = &info->config;
    ilr_memory_estimate mem;
    ilr_model_memory_estimate(c, seq, &mem);
    char b[6][32];
    int64_t params = ilr_config_param_count(c);
    printf("model         %s\n", dir);
    printf("architecture  %s (%s)\n", ilr_arch_name(c->arch), c->arch == ILR_ARCH_QWEN2 ? "Qwen2ForCausalLM" : "LlamaForCausalLM");
    printf("shape         vocab %d, hidden %d, intermediate %d, layers %d, heads %d, kv heads %d, head_dim %d\n",
           c->vocab_size, c->hidden_size, c->intermediate_size, c->num_layers, c->num_heads, c->num_kv_heads,
           c->head_dim);
    printf("attention     qkv bias %s, rope theta %g", c->qkv_bias ? "yes" : "no", c->rope_theta);
    if (c->has_rope_scaling)
        printf(", llama3 scaling (factor %g, low %g, high %g, original %d)", c->rope_factor, c->rope_low_freq_factor,
               c->rope_high_freq_factor, c->rope_original_max_position);
    printf(", max positions %d\n", c->max_position_embeddings);
    printf("norm          rms_norm_eps %g; embeddings %s\n", c->rms_norm_eps, c->tie_word_embeddings ? "tied" : "untied");
    if (c->bos_token_id >= 0) printf("tokens        bos %d, eos", c->bos_token_id);
    else printf("tokens        bos none, eos");
    for (int i = 0; i < c->num_eos; i++) printf(" %d", c->eos_token_ids[i]);
    printf("%s\n", c->num_eos ? "" : " none");
    printf("parameters    %lld (%.3f B)\n", (long long)params, params / 1e9);
    ilr_format_bytes((double)info->file_bytes, b[0], sizeof b[0]);
    printf("weights       %d file%s, %s, %d tensors:", info->num_files, info->num_files == 1 ? "" : "s", b[0],
           info->num_tensors);
    for (int d = 0; d < ILR_DTYPE_COUNT; d++)
        if (info->dtype_counts[d]) printf(" %s x%lld", ilr_dtype_name((ilr_dtype)d), (long long)info->dtype_counts[d]);
    printf(" (config torch_dtype %s)\n", c->torch_dtype);
    ilr_format_bytes((double)mem.inference, b[1], sizeof b[1]);
    ilr_format_bytes((double)mem.kv_cache_per_token, b[2], sizeof b[2]);
    ilr_format_bytes((double)mem.training, b[3], sizeof b[3]);
    ilr_format_bytes((double)mem.training_state, b[4], sizeof b[4]);
    ilr_format_bytes((double)mem.activations_per_token, b[5], sizeof b[5]);
    printf("memory fp32   inference %s at %d tokens (KV cache %s/token)\n", b[1], seq, b[2]);
    printf("              training with AdamW %s at 1 x %d tokens (weights+grads+m+v %s, activations %s/token)\n",
           b[3], seq, b[4], b[5]);
}

static void print_inspect_json(const char *dir, const ilr_model_dir_info *info, int seq) {
    const ilr_model_config *c = &info->config;
    ilr_memory_estimate mem;
    ilr_model_memory_estimate(c, seq, &mem);
    json_t *dtypes = json_object();
    for (int d = 0; d < ILR_DTYPE_COUNT; d++)
        if (info->dtype_counts[d])
            json_object_set_new(dtypes, ilr_dtype_name((ilr_dtype)d), json_integer(info->dtype_counts[d]));
    json_t *o = json_pack("{s:s, s:s, s:o, s:I, s:i, s:i, s:I, s:o, s:{s:i, s:I, s:I, s:I, s:I, s:I}}", "dir", dir,
                          "arch", ilr_arch_name(c->arch), "config", ilr_config_to_json(c), "parameters",
                          (json_int_t)ilr_config_param_count(c), "files", info->num_files, "tensors",
                          info->num_tensors, "file_bytes", (json_int_t)info->file_bytes, "dtypes", dtypes, "memory",
                          "seq", seq, "weights", (json_int_t)mem.params, "kv_cache_per_token",
                          (json_int_t)mem.kv_cache_per_token, "inference", (json_int_t)mem.inference,
                          "training_state", (json_int_t)mem.training_state, "training", (json_int_t)mem.training);
    char *text = json_dumps(o, JSON_INDENT(2) | JSON_REAL_PRECISION(16));
    printf("%s\n", text);
    free(text);
    json_decref(o);
}

int ilr_cmd_inspect(int argc, char **argv) {
    static const struct option longopts[] = {
        {"json", no_argument, 0, 'j'}, {"seq", required_argument, 0, 's'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    int as_json = 0;
    long long seq = 512;
    optind = 0;
    opterr = 0;
    for (int c; (c = getopt_long(argc, argv, "h", longopts, NULL)) != -1;) {
        if (c == 'h') return printf("%s", inspect_help), 0;
        if (c == 'j') as_json = 1;
        else if (c == 's') {
            if (ilr_cli_parse_long("inspect", "--seq", optarg, 1, 1 << 24, &seq)) return 2;
        } else return ilr_cli_usage_error("inspect", "unknown or incomplete option '%s'", argv[optind - 1]);
    }
    if (optind != argc - 1) return ilr_cli_usage_error("inspect", "expected one model directory");
    ilr_model_dir_info info;
    if (ilr_model_dir_inspect(argv[optind], &info)) return ilr_cli_fail("inspect");
    if (as_json) print_inspect_json(argv[optind], &info, (int)seq);
    else print_inspect_text(argv[optind], &info, (int)seq);
    return 0;
}

/* ---- convert ---- */

static const char convert_help[] =
    "usage: ilr convert IN_DIR OUT_DIR [--dtype f32|bf16] [--shard-size SZ]\n\n"
    "Loads a Hugging Face model directory (F32, F16 or BF16 weights, single file or sharded) and saves\n"
    "it again: config.json (torch_dtype updated, every other key kept), generation_config.json, and\n"
    "the weights.  BF16 rounds to nearest even; F32 is lossless.  Tokenizer files are copied too.\n\n"
    "  --dtype D         f32 or bf16 (default f32)\n"
    "  --shard-size SZ   shards of at most SZ bytes (e.g. 2G); default one model.safetensors\n";

int ilr_cmd_convert(int argc, char **argv) {
    static const struct option longopts[] = {{"dtype", required_argument, 0, 'd'},
                                              {"shard-size", required_argument, 0, 'z'},
                                              {"help", no_argument, 0, 'h'},
                                              {0, 0, 0, 0}};
    ilr_save_options opt = {.dtype = ILR_DTYPE_F32};
    long long shard = 0;
    optind = 0;
    opterr = 0;
    for (int c; (c = getopt_long(argc, argv, "h", longopts, NULL)) != -1;) {
        int rc = 0;
        if (c == 'h') return printf("%s", convert_help), 0;
        if (c == 'd') rc = parse_dtype_option("convert", optarg, &opt.dtype);
        else if (c == 'z') rc = ilr_cli_parse_size("convert", "--shard-size", optarg, &shard);
        else return ilr_cli_usage_error("convert", "unknown or incomplete option '%s'", argv[optind - 1]);
        if (rc) return rc;
    }
    if (optind != argc - 2) return ilr_cli_usage_error("convert", "expected IN_DIR and OUT_DIR");
    opt.max_shard_bytes = (size_t)shard;
    const char *in = argv[optind], *out = argv[optind + 1];
    ilr_timer timer;
    ilr_timer_start(&timer);
    ilr_model m;
    if (ilr_model_load(&m, in)) return ilr_cli_fail("convert");
    int rc = ilr_model_save(&m, out, &opt);
    if (!rc) rc = ilr_tokenizer_files_copy(in, out);
    if (!rc) print_saved(out, &m, &opt, ilr_timer_elapsed(&timer));
    ilr_model_free(&m);
    return rc ? ilr_cli_fail("convert") : 0;
}
