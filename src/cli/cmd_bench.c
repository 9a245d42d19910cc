/* ilr bench matmul | train | tokenize | generate: the machine's fp32 sgemm peak, training-step throughput with
 * MFU against it, tokenizer and generation speed.  grade | sandbox (the rewards) are in cmd_bench_reward.c. */
#include <cblas.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "cli.h"
#include "ilr/error.h"
#include "ilr/generate.h"
#include "ilr/io.h"
#include "ilr/rng.h"
#include "ilr/tokenizer.h"
#include "ilr/timer.h"
#include "ilr/train_state.h"
#include "ilr/transformer.h"

static const char bench_help[] =
    "usage: ilr bench matmul [--size N] [--seconds S] [--device cpu|cuda]\n"
    "       ilr bench train --arch A --shape S [--batch B] [--seq T] [--steps K] [--recompute]\n"
    "                       [--device cpu|cuda] [--peak GFLOPS]\n"
    "       ilr bench tokenize --model DIR FILE\n"
    "       ilr bench generate --arch A --shape S [--batch B] [--prompt P] [--new N] [--weights f32|bf16|bf16-act]\n"
    "                          [--device cpu|cuda] [--peak GFLOPS]\n"
    "       ilr bench grade [--input FILE.jsonl] [--seconds S]\n"
    "       ilr bench sandbox [--input HumanEval.jsonl] [--workers N] [--timeout S]\n\n"
    "matmul: fp32 sgemm (N x N x N, default 2048) through OpenBLAS on all configured threads for about S\n"
    "        seconds (default 2); prints the best 0.25 s window's GFLOP/s and the kernel set OpenBLAS chose.\n"
    "        --device cuda: bf16 products through cuBLAS on the GPU (default N 8192), in TFLOP/s.\n"
    "        train and generate measure this peak (2048, about 2 and 1 s) for their MFU unless --peak gives it.\n"
    "train:  forward + backward + AdamW on random tokens for a random-initialised model of a named shape\n"
    "        (default batch 4, seq 256, 5 timed steps after one warm-up); prints tokens/s, GFLOP/s\n"
    "        (6 x matmul parameters x tokens + causal attention), MFU against the sgemm peak measured in\n"
    "        the same run, and peak RSS; on the CPU through the training state GRPO and SFT use (a model of at\n"
    "        most 2 M parameters splits its rows into lanes run at once: ILR_TRAIN_LANES=1 turns that off).\n"
    "        --recompute: with activation recomputation (each layer's input kept,\n"
    "        the rest recomputed in backward; CPU only).  --device cuda: the step on the GPU (make CUDA=1), MFU\n"
    "        against the bf16 cuBLAS peak measured in the same run, the step split into forward / backward /\n"
    "        AdamW, and device memory.\n"
    "tokenize: loads DIR's tokenizer, encodes FILE as one text and decodes the ids; prints the load time and\n"
    "        MB/s of text for encode and decode (bench/compare_tokenize.sh runs the reference beside it).\n"
    "generate: a random-initialised model of a named shape; B sequences of a P-token prompt (default 1 x 128)\n"
    "        prefilled, then N greedy decode steps (default 64); prints prefill and decode tokens/s, the\n"
    "        memory read bandwidth measured in the same run and the batch-1 decode bound it implies\n"
    "        (bandwidth / weight bytes per token), GFLOP/s and MFU of each phase against the sgemm peak\n"
    "        measured in the same run (2 x body parameters a token, 2 x vocab x hidden a logits row: one a\n"
    "        sequence in prefill, each row in decode; attention over the positions seen), the size of the\n"
    "        KV cache the batch fills, and peak RSS.\n"
    "        --device cuda: the GPU engine (bf16 weights\n"
    "        and cache, greedy tokens drawn on the device), against the bound of the device bandwidth measured\n"
    "        in the same run (weights and every sequence's cache read once a step).\n"
    "grade:  math answer comparisons (ilr_math_equal, no extraction) per second on one thread for about S\n"
    "        seconds (default 2), over lines {\"pred\", \"gold\"} of FILE (default: the grader's verdict cases,\n"
    "        tests/data/math_grader/cases.jsonl) or a benchmark's records (each gold answer against itself);\n"
    "        prints comparisons/s and the time per comparison by the rule that decided it.\n"
    "sandbox: HumanEval's canonical solutions (prompt + solution + test + check(entry_point)) through the\n"
    "        sandbox on N workers (default 2 per core), each with a wall-clock limit of S seconds (default 10);\n"
    "        FILE defaults to data/benchmarks/humaneval/HumanEval.jsonl.  Prints how many passed, programs/s\n"
    "        and the mean, p50 and p95 seconds per program.\n";

int ilr_bench_help(void) { return printf("%s", bench_help), 0; }

/* Best GFLOP/s of n x n x n sgemm over windows of about 0.25 s within `seconds`: on a shared or virtual
 * machine the best window is the stable figure (the mean moves with whatever else runs). */
static double measure_sgemm(int n, double seconds) {
    float *a = malloc(sizeof(float) * (size_t)n * n), *b = malloc(sizeof(float) * (size_t)n * n);
    float *c = malloc(sizeof(float) * (size_t)n * n);
    for (size_t i = 0; i < (size_t)n * n; i++) a[i] = b[i] = 1.0f / (float)(1 + i % 7);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n); /* warm-up */
    double best = 0, start = ilr_time_now();
    while (ilr_time_now() - start < seconds || best == 0) {
        int reps = 0;
        double window = ilr_time_now(), now = window;
        while (now - window < 0.25 || reps < 2) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
            reps++;
            now = ilr_time_now();
        }
        double rate = 2.0 * n * n * (double)n * reps / (now - window) / 1e9;
        if (rate > best) best = rate;
    }
    free(a);
    free(b);
    free(c);
    return best;
}

static double peak_rss_gib(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1048576.0;
}

void ilr_bench_batch_make(ilr_bench_batch *bb, int vocab, int B, int T) {
    size_t N = (size_t)B * T;
    bb->tokens = malloc(sizeof(int) * N), bb->targets = malloc(sizeof(int) * N);
    bb->lengths = malloc(sizeof(int) * (size_t)B), bb->dlogprob = malloc(sizeof(float) * N);
    if (!bb->tokens || !bb->targets || !bb->lengths || !bb->dlogprob) abort(); /* a few MB at most */
    ilr_rng rng;
    ilr_rng_init(&rng, 1, 0);
    for (size_t i = 0; i < N; i++) bb->tokens[i] = (int)ilr_rng_below(&rng, (uint32_t)vocab);
    for (int b = 0; b < B; b++) bb->lengths[b] = T;
    ilr_next_token_targets(bb->targets, bb->tokens, bb->lengths, B, T);
}

void ilr_bench_batch_free(ilr_bench_batch *bb) {
    free(bb->tokens), free(bb->targets), free(bb->lengths), free(bb->dlogprob);
}

/* The configuration of a named shape (--arch, --shape); prints a usage error when there is none. */
static int config_for(const char *arch_name, const char *shape, ilr_model_config *cfg) {
    ilr_arch arch = 0;
    if ((arch_name && ilr_arch_parse(arch_name, &arch)) || ilr_config_from_shape(shape, arch, cfg))
        return ilr_cli_usage_error("bench", "%s", ilr_last_error());
    return 0;
}

/* --device: cpu (the default) or cuda. */
static int parse_device(const char *value, int *cuda) {
    if (strcmp(value, "cpu") && strcmp(value, "cuda"))
        return ilr_cli_usage_error("bench", "--device must be cpu or cuda, not '%s'", value);
    *cuda = strcmp(value, "cuda") == 0;
    return 0;
}

/* --peak G: the sgemm peak (GFLOP/s) MFU is against, as `ilr bench matmul` measured it, instead of measuring
 * it again (bench/compare_all.py measures it once a run, and its profiles then see only the benchmark). */
static int parse_peak(const char *value, double *peak) {
    char *end;
    errno = 0;
    double v = strtod(value, &end);
    if (errno || end == value || *end || !(v > 0 && v < 1e9))
        return ilr_cli_usage_error("bench", "--peak must be a GFLOP/s figure above 0, not '%s'", value);
    *peak = v;
    return 0;
}

static int bench_matmul(int argc, char **argv) {
    static const struct option longopts[] = {{"size", required_argument, 0, 'n'}, {"seconds", required_argument, 0, 's'},
                                              {"device", required_argument, 0, 'd'}, {"help", no_argument, 0, 'h'},
                                              {0, 0, 0, 0}};
    long long n = 0, seconds = 2;
    int cuda = 0;
    optind = 0;
    opterr = 0;
    for (int c; (c = getopt_long(argc, argv, "h", longopts, NULL)) != -1;) {
        if (c == 'h') return printf("%s", bench_help), 0;
        if (c == 'n' && ilr_cli_parse_long("bench", "--size", optarg, 16, 16384, &n)) return 2;
        if (c == 's' && ilr_cli_parse_long("bench", "--seconds", optarg, 1, 600, &seconds)) return 2;
        if (c == 'd' && parse_device(optarg, &cuda)) return 2;
        if (c != 'n' && c != 's' && c != 'd') return ilr_cli_usage_error("bench", "unknown option '%s'", argv[optind - 1]);
    }
    if (cuda) return ilr_bench_matmul_cuda(n ? n : 8192, (double)seconds);
    if (!n) n = 2048;
    double gflops = measure_sgemm((int)n, (double)seconds);
    const char *coretype = getenv("OPENBLAS_CORETYPE");
    printf("matmul: sgemm %lld x %lld x %lld fp32: %.1f GFLOP/s on %d threads (OpenBLAS kernels: %s%s%s)\n", n, n, n,
           gflops, openblas_get_num_threads(), openblas_get_corename(), coretype ? ", OPENBLAS_CORETYPE=" : "",
           coretype ? coretype : "");
    return 0;
}

static int bench_train(int argc, char **argv) {
    static const struct option longopts[] = {
        {"arch", required_argument, 0, 'a'}, {"shape", required_argument, 0, 's'}, {"batch", required_argument, 0, 'b'},
        {"seq", required_argument, 0, 't'}, {"steps", required_argument, 0, 'k'}, {"device", required_argument, 0, 'd'},
        {"recompute", no_argument, 0, 'r'}, {"peak", required_argument, 0, 'P'}, {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *arch_name = NULL, *shape = "small";
    long long B = 4, T = 256, steps = 5;
    int cuda = 0, recompute = 0;
    double peak = 0;
    optind = 0;
    opterr = 0;
    for (int c; (c = getopt_long(argc, argv, "h", longopts, NULL)) != -1;) {
        int rc = 0;
        if (c == 'h') return printf("%s", bench_help), 0;
        else if (c == 'a') arch_name = optarg;
        else if (c == 's') shape = optarg;
        else if (c == 'b') rc = ilr_cli_parse_long("bench", "--batch", optarg, 1, 1024, &B);
        else if (c == 't') rc = ilr_cli_parse_long("bench", "--seq", optarg, 2, 65536, &T);
        else if (c == 'k') rc = ilr_cli_parse_long("bench", "--steps", optarg, 1, 100000, &steps);
        else if (c == 'd') rc = parse_device(optarg, &cuda) ? 2 : 0;
        else if (c == 'r') recompute = 1;
        else if (c == 'P') rc = parse_peak(optarg, &peak);
        else return ilr_cli_usage_error("bench", "unknown or incomplete option '%s'", argv[optind - 1]);
        if (rc) return rc;
    }
    ilr_model_config cfg;
    if (config_for(arch_name, shape, &cfg)) return 2;
    if (cuda && recompute) return ilr_cli_usage_error("bench", "--recompute is for the CPU training step");
    if (cuda) return ilr_bench_train_cuda(&cfg, shape, B, T, steps);
    if (peak == 0) peak = measure_sgemm(2048, 2.0);
    ilr_model m;
    ilr_train_state ts; /* the training path GRPO and SFT take (a small model's rows split into lanes) */
    if (ilr_model_create(&m, &cfg)) return ilr_cli_fail("bench");
    ilr_model_init_random(&m, 1);
    if (ilr_train_state_init(&ts, &m, (int)B, (int)T, ILR_DEVICE_CPU, recompute)) return ilr_cli_fail("bench");
    int N = (int)(B * T);
    ilr_bench_batch bb;
    ilr_bench_batch_make(&bb, cfg.vocab_size, (int)B, (int)T);
    int *tokens = bb.tokens, *targets = bb.targets, *lengths = bb.lengths;
    float *dlogprob = bb.dlogprob;
    ilr_adamw_params hp = {1e-4f, 0.9f, 0.95f, 1e-8f, 0.0f};
    double start = 0;
    for (int step = 0; step <= steps; step++) {
        if (step == 1) start = ilr_time_now(); /* step 0 warms up */
        ilr_train_state_zero_grad(&ts);
        ilr_train_state_forward(&ts, tokens, lengths, NULL, targets, (int)B, (int)T, 1.0f);
        ilr_sft_loss(dlogprob, ts.logprob, targets, N);
        if (ilr_train_state_backward(&ts, dlogprob) || ilr_train_state_adamw_step(&ts, &hp, 1.0f, NULL))
            return ilr_cli_fail("bench");
    }
    double seconds = (ilr_time_now() - start) / steps;
    double flops = ilr_transformer_train_flops(&cfg, (double)N, (double)T) / seconds / 1e9;
    size_t arena = ts.cpu.arena.capacity;
    for (int j = 1; j < ts.lanes; j++) arena += ts.lane[j - 1].arena.capacity;
    char lanes[64] = "";
    if (ts.lanes > 1) snprintf(lanes, sizeof lanes, ", rows in %d lanes", ts.lanes);
    printf("train: %s %s, %zu parameters, batch %lld x %lld%s: %.3f s/step, %.0f tokens/s, %.1f GFLOP/s, "
           "MFU %.1f%% of %.1f GFLOP/s sgemm peak, peak RSS %.2f GiB (activations %.2f GiB%s)\n",
           ilr_arch_name(cfg.arch), shape, m.table.total, B, T, recompute ? " recomputing activations" : "", seconds,
           N / seconds, flops, 100 * flops / peak, peak, peak_rss_gib(), arena / 1073741824.0,
           lanes);
    ilr_bench_batch_free(&bb);
    ilr_train_state_free(&ts);
    ilr_model_free(&m);
    return 0;
}

static int bench_tokenize(int argc, char **argv) {
    const char *model = NULL, *file = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help")) return printf("%s", bench_help), 0;
        if (!strcmp(argv[i], "--model") && i + 1 < argc) model = argv[++i];
        else if (!file && argv[i][0] != '-') file = argv[i];
        else return ilr_cli_usage_error("bench", "unexpected argument '%s'", argv[i]);
    }
    if (!model || !file) return ilr_cli_usage_error("bench", "tokenize needs --model DIR and a text FILE");
    char *text;
    size_t len;
    if (ilr_file_read_all(file, &text, &len)) return ilr_cli_fail("bench");
    ilr_tokenizer *t;
    double start = ilr_time_now();
    if (ilr_tok_load(&t, model)) return free(text), ilr_cli_fail("bench");
    double load = ilr_time_now() - start;
    ilr_tok_ids ids = {0};
    start = ilr_time_now();
    int rc = ilr_tok_encode(t, text, len, ILR_TOK_SPECIAL, &ids);
    double encode = ilr_time_now() - start;
    char *back = NULL;
    size_t back_len = 0;
    start = ilr_time_now();
    if (!rc) rc = ilr_tok_decode(t, ids.ids, ids.count, 0, &back, &back_len);
    double decode = ilr_time_now() - start;
    if (!rc)
        printf("tokenize: ilr %s: load %.3f s, encode %.2f MB/s, decode %.2f MB/s (%.2f MB, %d tokens)\n", model, load,
               len / encode / 1e6, len / decode / 1e6, len / 1e6, ids.count);
    free(back);
    free(text);
    ilr_tok_ids_free(&ids);
    ilr_tok_free(t);
    return rc ? ilr_cli_fail("bench") : 0;
}

/* Read bandwidth in GB/s: summing a 256 MiB buffer on all threads (a vectorised float sum, so the loads and
 * not the adds are the limit), best of 3. */
static double measure_read_bandwidth(void) {
    size_t n = (size_t)1 << 26; /* 256 MiB: far beyond the caches, and little added to peak RSS */
    float *buf = ilr_aligned_alloc(n * sizeof(float), "bandwidth buffer");
    if (!buf) return 0;
#pragma omp parallel for
    for (size_t i = 0; i < n; i++) buf[i] = 1.0f;
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        double start = ilr_time_now();
        float sum = 0;
#pragma omp parallel for simd reduction(+ : sum)
        for (size_t i = 0; i < n; i++) sum += buf[i];
        double rate = n * sizeof(float) / (ilr_time_now() - start) / 1e9;
        if (rate > best && sum > 0) best = rate;
    }
    ilr_aligned_free(buf);
    return best;
}

static int bench_generate(int argc, char **argv) {
    static const struct option longopts[] = {
        {"arch", required_argument, 0, 'a'}, {"shape", required_argument, 0, 's'}, {"batch", required_argument, 0, 'b'},
        {"prompt", required_argument, 0, 'p'}, {"new", required_argument, 0, 'n'}, {"device", required_argument, 0, 'd'},
        {"weights", required_argument, 0, 'w'}, {"peak", required_argument, 0, 'P'}, {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *arch_name = NULL, *shape = "small";
    long long B = 1, P = 128, N = 64;
    ilr_gen_weights weights = ILR_GEN_WEIGHTS_F32;
    int cuda = 0;
    double peak = 0;
    optind = 0;
    opterr = 0;
    for (int c; (c = getopt_long(argc, argv, "h", longopts, NULL)) != -1;) {
        int rc = 0;
        if (c == 'h') return printf("%s", bench_help), 0;
        else if (c == 'a') arch_name = optarg;
        else if (c == 's') shape = optarg;
        else if (c == 'b') rc = ilr_cli_parse_long("bench", "--batch", optarg, 1, 1024, &B);
        else if (c == 'p') rc = ilr_cli_parse_long("bench", "--prompt", optarg, 1, 65536, &P);
        else if (c == 'n') rc = ilr_cli_parse_long("bench", "--new", optarg, 1, 65536, &N);
        else if (c == 'd') rc = parse_device(optarg, &cuda) ? 2 : 0;
        else if (c == 'w' && ilr_gen_weights_parse(optarg, &weights))
            return ilr_cli_usage_error("bench", "--weights: %s", ilr_last_error());
        else if (c == 'P') rc = parse_peak(optarg, &peak);
        else if (c != 'w') return ilr_cli_usage_error("bench", "unknown or incomplete option '%s'", argv[optind - 1]);
        if (rc) return rc;
    }
    ilr_model_config cfg;
    if (config_for(arch_name, shape, &cfg)) return 2;
    if (cuda) return ilr_bench_generate_cuda(&cfg, shape, B, P, N);
    double bandwidth = measure_read_bandwidth();
    if (peak == 0) peak = measure_sgemm(2048, 1.0);
    ilr_model m;
    ilr_generator g;
    if (ilr_model_create(&m, &cfg)) return ilr_cli_fail("bench");
    ilr_model_init_random(&m, 1);
    if (ilr_gen_init(&g, &m, (int)B, (int)(P + N)) || ilr_gen_set_weights(&g, weights)) return ilr_cli_fail("bench");
    int V = cfg.vocab_size, *prompt = malloc(sizeof(int) * (size_t)P), *slots = malloc(sizeof(int) * (size_t)B);
    int *tokens = malloc(sizeof(int) * (size_t)B);
    float *logits = malloc(sizeof(float) * (size_t)V * (size_t)B);
    for (int i = 0; i < P; i++) prompt[i] = (i * 7919) % V;
    double start = ilr_time_now();
    for (int b = 0; b < B; b++)
        if (ilr_gen_prefill(&g, b, prompt, (int)P, logits)) return ilr_cli_fail("bench");
    double prefill = ilr_time_now() - start;
    for (int b = 0; b < B; b++) slots[b] = b, tokens[b] = b % V;
    ilr_gen_hold_weights(&g); /* as ilr_generate does */
    start = ilr_time_now();
    for (int step = 0; step < N; step++) {
        if (ilr_gen_forward(&g, slots, tokens, (int)B, NULL, logits)) return ilr_cli_fail("bench");
        for (int b = 0; b < B; b++) {
            int best = 0;
            for (int v = 1; v < V; v++) best = logits[(size_t)b * V + v] > logits[(size_t)b * V + best] ? v : best;
            tokens[b] = best;
        }
    }
    double decode = ilr_time_now() - start;
    double weight_bytes = (double)m.table.total * (weights == ILR_GEN_WEIGHTS_F32 ? 4 : 2);
    double bound = bandwidth * 1e9 / weight_bytes;
    /* keys and values of every sequence's P + N positions, fp32 (what a decode step reads besides the weights) */
    double kv_bytes = 2.0 * B * (double)(P + N) * cfg.num_layers * cfg.num_kv_heads * cfg.head_dim * sizeof(float);
    /* positions seen: prompt rows 1..P; decode rows P+1..P+N; per sequence */
    double prefill_gf = ilr_transformer_infer_flops(&cfg, (double)(B * P), (double)B, B * P * (P + 1) / 2.0) / prefill / 1e9;
    double decode_gf = ilr_transformer_infer_flops(&cfg, (double)(B * N), (double)(B * N),
                                                   B * (N * P + N * (N + 1) / 2.0)) / decode / 1e9;
    printf("generate: %s %s, %zu parameters (%s), batch %lld, prompt %lld, %lld new: prefill %.0f tokens/s, decode "
           "%.1f tokens/s (%.1f per sequence); read bandwidth %.1f GB/s, batch-1 decode bound %.1f tokens/s (%.0f%% of "
           "it per sequence); prefill %.1f GFLOP/s = MFU %.1f%%, decode %.1f GFLOP/s = MFU %.1f%% of %.1f GFLOP/s "
           "sgemm peak; KV cache %.1f MiB; peak RSS %.2f GiB\n",
           ilr_arch_name(cfg.arch), shape, m.table.total, ilr_gen_weights_name(weights), B, P, N, B * P / prefill,
           B * N / decode, N / decode, bandwidth, bound, 100 * (N / decode) / bound, prefill_gf, 100 * prefill_gf / peak,
           decode_gf, 100 * decode_gf / peak, peak, kv_bytes / 1048576.0, peak_rss_gib());
    free(prompt), free(slots), free(tokens), free(logits);
    ilr_gen_free(&g);
    ilr_model_free(&m);
    return 0;
}

int ilr_cmd_bench(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "generate") == 0) return bench_generate(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "tokenize") == 0) return bench_tokenize(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "matmul") == 0) return bench_matmul(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "train") == 0) return bench_train(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "grade") == 0) return ilr_cmd_bench_grade(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "sandbox") == 0) return ilr_cmd_bench_sandbox(argc - 1, argv + 1);
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) return printf("%s", bench_help), 0;
    return ilr_cli_usage_error("bench", "expected matmul, train, tokenize, generate, grade or sandbox");
}
