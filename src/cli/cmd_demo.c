/* ilr demo: the most complete real thing ilr does so far, end to end.
 *
 * 1. Model directories: for a Qwen2 and a Llama model of the `tiny` shape, create a random-initialised
 *    Hugging Face model directory, inspect it, and prove the weight round trips exact:
 *      init -> save F32 -> load            bit-identical to the initialised weights
 *           -> save BF16 -> load           every value is the round-to-nearest-even bf16 of the original
 *           -> save BF16 sharded -> load   bit-identical to the single-file BF16 load
 * 2. Learning: the pieces working together on a small task, sums of numbers below 50 ("37 + 48 = 85"): a BPE
 *    tokenizer trained on the problems, a tiny Llama trained from scratch by supervised fine-tuning on the
 *    answers, and its greedy answers to held-out problems graded before and after.
 * 3. The base agents of the synthetic world (make agents): their held-out accuracy by level, how well each
 *    follows each Idea3 stage, and one question discussed by both (src/cli/demo_agents.c).
 * 4. GRPO from base agent A for a few minutes, held-out accuracy before and after (src/cli/demo_grpo.c).
 * 5. ILR from base agents A and B for a few minutes, each agent alone before and after, and the base agents
 *    discussing test problems by debate and by Idea3 (src/cli/demo_ilr.c). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "demo.h"
#include "ilr/error.h"
#include "ilr/io.h"
#include "ilr/model.h"
#include "ilr/generate.h"
#include "ilr/rng.h"
#include "ilr/timer.h"
#include "ilr/tokenizer_train.h"
#include "ilr/transformer.h"

static const char demo_help[] =
    "usage: ilr demo [--out DIR] [--shape S] [--agents DIR]\n\n"
    "Runs the end-to-end demo.  Today: (1) model-directory round trips: for a Qwen2 and a Llama model it\n"
    "writes a random-initialised Hugging Face directory, inspects it, and checks that F32, BF16 and sharded\n"
    "saves load back bit for bit as specified; (2) learning sums: a BPE tokenizer trained on the\n"
    "problems, a tiny Llama trained from scratch on the answers, its greedy answers to held-out problems\n"
    "graded before and after; (3) the base agents of the synthetic world (built by `make agents`): their\n"
    "held-out accuracy by level, each Idea3 stage measured, and one question discussed by both; (4) GRPO\n"
    "from agent A for 150 steps (about 3 minutes), held-out accuracy before and after; (5) ILR: agents A and B\n"
    "learn together for 30 steps of 16 questions x 8 threads, each evaluated alone before and after, then\n"
    "discuss test problems by debate and by Idea3.  Exit status 0 only when every check holds and every\n"
    "training improved accuracy.\n\n"
    "  --out DIR   where the model directories go (default out/demo)\n"
    "  --shape S   model shape (default tiny; see `ilr init --help`)\n"
    "  --agents DIR  where `make agents` put the base agents (default build/agents)\n";

/* Values of a that differ bitwise from b after rounding a to bf16 (when round_bf16). */
static size_t count_mismatches(const ilr_model *a, const ilr_model *b, int round_bf16) {
    size_t bad = 0;
    for (size_t i = 0; i < a->table.total; i++) {
        float want = round_bf16 ? ilr_bf16_to_f32(ilr_f32_to_bf16(a->params[i])) : a->params[i];
        bad += memcmp(&want, &b->params[i], sizeof(float)) != 0;
    }
    return bad;
}

typedef struct {
    const char *out;
    const char *shape;
    const char *agents;
    int failures;
} demo_state;

static int report(demo_state *s, const char *step, size_t mismatches, size_t total, double seconds) {
    char took[32];
    ilr_format_duration(seconds, took, sizeof took);
    printf("  %-42s %s  (%zu of %zu values differ, %s)\n", step, mismatches ? "FAIL" : "ok", mismatches, total, took);
    s->failures += mismatches != 0;
    return 0;
}

/* One save + load + compare step. */
static int round_trip(demo_state *s, const ilr_model *src, const ilr_model *reference, const char *dir,
                      const ilr_save_options *opt, int round_bf16, const char *step, ilr_model *loaded) {
    ilr_timer t;
    ilr_timer_start(&t);
    if (ilr_model_save(src, dir, opt) || ilr_model_load(loaded, dir)) return -1;
    return report(s, step, count_mismatches(reference, loaded, round_bf16), reference->table.total,
                  ilr_timer_elapsed(&t));
}

static int demo_arch(demo_state *s, ilr_arch arch) {
    ilr_model_config cfg;
    ilr_model init, f32, bf16, sharded;
    char dir[3][1024];
    const char *name = ilr_arch_name(arch);
    snprintf(dir[0], sizeof dir[0], "%s/%s-f32", s->out, name);
    snprintf(dir[1], sizeof dir[1], "%s/%s-bf16", s->out, name);
    snprintf(dir[2], sizeof dir[2], "%s/%s-bf16-sharded", s->out, name);
    if (ilr_config_from_shape(s->shape, arch, &cfg) || ilr_model_create(&init, &cfg)) return -1;
    printf("\n%s, shape %s: %zu parameters\n", name, s->shape, init.table.total);
    ilr_model_init_random(&init, 1234);
    ilr_save_options as_f32 = {.dtype = ILR_DTYPE_F32}, as_bf16 = {.dtype = ILR_DTYPE_BF16};
    size_t bf16_bytes = init.table.total * 2;
    ilr_save_options as_shards = {.dtype = ILR_DTYPE_BF16, .max_shard_bytes = bf16_bytes / 3 + 1};
    int rc = round_trip(s, &init, &init, dir[0], &as_f32, 0, "init -> F32 -> load: bit-identical", &f32);
    if (!rc) rc = round_trip(s, &f32, &init, dir[1], &as_bf16, 1, "-> BF16 -> load: rounded to nearest even", &bf16);
    if (!rc) rc = round_trip(s, &bf16, &bf16, dir[2], &as_shards, 0, "-> BF16 sharded -> load: same as single", &sharded);
    ilr_model_dir_info info;
    if (!rc) rc = ilr_model_dir_inspect(dir[2], &info);
    if (!rc) printf("  sharded directory: %d files, %d tensors, checked against config.json by `ilr inspect`\n",
                    info.num_files, info.num_tensors);
    ilr_model_free(&init);
    ilr_model_free(&f32);
    ilr_model_free(&bf16);
    ilr_model_free(&sharded);
    return rc;
}

/* ---- stage 2: learning sums ---- */

/* All 2,500 problems a + b with a, b < 50, shuffled: the first DEMO_TRAIN train, the rest are held out. */
enum { DEMO_MAX = 50, DEMO_HELD_OUT = 200, DEMO_TRAIN = DEMO_MAX * DEMO_MAX - DEMO_HELD_OUT };
enum { DEMO_BATCH = 32, DEMO_STEPS = 1500, DEMO_T = 16 };

typedef struct {
    int a[DEMO_MAX * DEMO_MAX], b[DEMO_MAX * DEMO_MAX];
} sums;

static void make_sums(sums *p) {
    ilr_rng rng;
    ilr_rng_init(&rng, 2026, 11);
    for (int i = 0; i < DEMO_MAX * DEMO_MAX; i++) p->a[i] = i / DEMO_MAX, p->b[i] = i % DEMO_MAX;
    for (int i = DEMO_MAX * DEMO_MAX - 1; i > 0; i--) { /* Fisher-Yates */
        int j = (int)ilr_rng_below(&rng, (uint32_t)i + 1), a = p->a[i], b = p->b[i];
        p->a[i] = p->a[j], p->b[i] = p->b[j], p->a[j] = a, p->b[j] = b;
    }
}

/* A BPE tokenizer learned from the training problems, saved beside the models and loaded back. */
static int demo_tokenizer(const demo_state *s, const sums *p, ilr_tokenizer **tok) {
    const char *specials[1] = {"<|endoftext|>"};
    ilr_tok_train_options opt = {.vocab_size = 300, .specials = specials, .num_specials = 1, .regex = ILR_TOK_REGEX_QWEN2};
    ilr_tok_trainer *trainer;
    int rc = ilr_tok_trainer_new(&trainer, &opt);
    char line[64], dir[1024];
    for (int i = 0; !rc && i < DEMO_TRAIN; i++) {
        int n = snprintf(line, sizeof line, "%d + %d = %d\n", p->a[i], p->b[i], p->a[i] + p->b[i]);
        rc = ilr_tok_trainer_feed(trainer, line, (size_t)n);
    }
    ilr_tok_train_stats stats;
    snprintf(dir, sizeof dir, "%s/sums-tokenizer", s->out);
    if (!rc) rc = ilr_tok_trainer_run(trainer, &stats);
    if (!rc) rc = ilr_tok_trainer_save(trainer, dir);
    ilr_tok_trainer_free(trainer);
    if (!rc) rc = ilr_tok_load(tok, dir);
    if (!rc) printf("  tokenizer: byte-level BPE, %d merges learned from %d problems, saved to %s\n", stats.merges, DEMO_TRAIN, dir);
    return rc;
}

/* Prompt "a + b =" and answer " c<|endoftext|>" as ids; returns the prompt length. */
static int encode_problem(const ilr_tokenizer *tok, int a, int b, int *ids, int *len) {
    char text[64];
    ilr_tok_ids out = {0};
    snprintf(text, sizeof text, "%d + %d =", a, b);
    int rc = ilr_tok_encode(tok, text, strlen(text), 0, &out), prompt = out.count;
    snprintf(text, sizeof text, " %d<|endoftext|>", a + b);
    if (!rc) rc = ilr_tok_encode(tok, text, strlen(text), ILR_TOK_SPECIAL, &out);
    if (!rc && out.count > DEMO_T) rc = ILR_FAIL(ILR_EINVAL, "demo: a problem takes %d tokens", out.count);
    if (!rc) memcpy(ids, out.ids, sizeof(int) * (size_t)out.count), *len = out.count;
    ilr_tok_ids_free(&out);
    return rc ? rc : -prompt; /* negative: the prompt length, so 0 stays "no tokens" */
}

/* Greedy answers to the held-out problems; returns the share answered exactly. */
static double demo_accuracy(ilr_model *m, const ilr_tokenizer *tok, const sums *p) {
    ilr_generator g;
    if (ilr_gen_init(&g, m, 64, DEMO_T + 8)) return -1;
    int ids[DEMO_HELD_OUT][DEMO_T], lens[DEMO_HELD_OUT], correct = 0;
    const int *prompts[DEMO_HELD_OUT];
    for (int i = 0; i < DEMO_HELD_OUT; i++) {
        int len, k = DEMO_TRAIN + i;
        lens[i] = -encode_problem(tok, p->a[k], p->b[k], ids[i], &len);
        prompts[i] = ids[i];
    }
    ilr_gen_options opt = {.sampler = {0.0f, 0, 1.0f, 0.0f}, .max_new_tokens = 6, .seed = 1};
    ilr_gen_output *out = calloc(DEMO_HELD_OUT, sizeof *out);
    if (ilr_generate(&g, tok, prompts, lens, DEMO_HELD_OUT, 1, &opt, out) == 0)
        for (int i = 0; i < DEMO_HELD_OUT; i++) {
            char want[32];
            snprintf(want, sizeof want, " %d", p->a[DEMO_TRAIN + i] + p->b[DEMO_TRAIN + i]);
            correct += out[i].text && strncmp(out[i].text, want, strlen(want)) == 0 &&
                       (out[i].text[strlen(want)] == 0 || out[i].reason != ILR_STOP_EOS);
        }
    for (int i = 0; i < DEMO_HELD_OUT; i++) ilr_gen_output_free(&out[i]);
    free(out);
    ilr_gen_free(&g);
    return (double)correct / DEMO_HELD_OUT;
}

/* Supervised fine-tuning on the answers (loss on " c<|endoftext|>" only), batches drawn at random. */
static int demo_train(ilr_model *m, const ilr_tokenizer *tok, const sums *p) {
    ilr_transformer tr;
    int rc = ilr_transformer_init(&tr, m, DEMO_BATCH, DEMO_T);
    int tokens[DEMO_BATCH * DEMO_T], targets[DEMO_BATCH * DEMO_T], lengths[DEMO_BATCH];
    float dlogprob[DEMO_BATCH * DEMO_T];
    ilr_adamw_params hp = {3e-3f, 0.9f, 0.95f, 1e-8f, 0.01f};
    ilr_rng rng;
    ilr_rng_init(&rng, 7, 0);
    ilr_timer timer;
    ilr_timer_start(&timer);
    for (int step = 1; step <= DEMO_STEPS && !rc; step++) {
        memset(tokens, 0, sizeof tokens);
        for (int b = 0; b < DEMO_BATCH && !rc; b++) {
            int k = (int)ilr_rng_below(&rng, DEMO_TRAIN), prompt = -encode_problem(tok, p->a[k], p->b[k], tokens + b * DEMO_T, &lengths[b]);
            for (int t = 0; t < DEMO_T; t++)
                targets[b * DEMO_T + t] = t >= prompt - 1 && t + 1 < lengths[b] ? tokens[b * DEMO_T + t + 1] : -1;
        }
        ilr_transformer_zero_grad(&tr);
        ilr_transformer_forward(&tr, tokens, lengths, targets, DEMO_BATCH, DEMO_T);
        float loss = ilr_sft_loss(dlogprob, tr.logprob, targets, DEMO_BATCH * DEMO_T);
        ilr_transformer_backward(&tr, dlogprob);
        rc = ilr_transformer_adamw_step(&tr, &hp, 1.0f, NULL);
        if (step == 1 || step % 300 == 0)
            printf("  step %3d  answer loss %.3f  (%.1f s)\n", step, loss, ilr_timer_elapsed(&timer));
    }
    ilr_transformer_free(&tr);
    return rc;
}

static int demo_learning(demo_state *s) {
    printf("\nlearning sums: tokenizer, training and generation together\n");
    sums *p = malloc(sizeof *p);
    make_sums(p);
    ilr_tokenizer *tok = NULL;
    int rc = demo_tokenizer(s, p, &tok);
    ilr_model_config cfg;
    ilr_model m = {0};
    if (!rc) rc = ilr_config_from_shape("tiny", ILR_ARCH_LLAMA, &cfg);
    if (!rc) {
        cfg.vocab_size = ilr_tok_vocab_size(tok);
        cfg.num_eos = 1;
        cfg.eos_token_ids[0] = ilr_tok_id(tok, "<|endoftext|>");
        rc = ilr_model_create(&m, &cfg);
    }
    if (!rc) {
        ilr_model_init_random(&m, 1);
        printf("  model: Llama, tiny shape with the tokenizer's %d-token vocabulary, %zu parameters\n", cfg.vocab_size,
               m.table.total);
        double before = demo_accuracy(&m, tok, p);
        rc = demo_train(&m, tok, p);
        double after = rc ? 0 : demo_accuracy(&m, tok, p);
        if (!rc) {
            printf("  held-out accuracy (greedy, %d problems never trained on): %.1f%% before, %.1f%% after\n",
                   DEMO_HELD_OUT, 100 * before, 100 * after);
            s->failures += after <= before;
            if (after <= before) printf("  FAIL: training did not improve the answers\n");
        }
    }
    ilr_model_free(&m);
    ilr_tok_free(tok);
    free(p);
    return rc;
}

int ilr_cmd_demo(int argc, char **argv) {
    static const struct option longopts[] = {
        {"out", required_argument, 0, 'o'}, {"shape", required_argument, 0, 's'}, {"agents", required_argument, 0, 'a'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    demo_state s = {.out = "out/demo", .shape = "tiny", .agents = "build/agents"};
    optind = 0;
    opterr = 0;
    for (int c; (c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1;) {
        if (c == 'h') return printf("%s", demo_help), 0;
        if (c == 'o') s.out = optarg;
        else if (c == 's') s.shape = optarg;
        else if (c == 'a') s.agents = optarg;
        else return ilr_cli_usage_error("demo", "unknown or incomplete option '%s'", argv[optind - 1]);
    }
    if (optind != argc) return ilr_cli_usage_error("demo", "unexpected argument '%s'", argv[optind]);
    printf("ilr demo: model directory round trips, tokenizer + training + generation on a small task, the\n"
           "synthetic world's base agents, GRPO from one of them, and ILR co-learning of both\n");
    if (demo_arch(&s, ILR_ARCH_QWEN2) || demo_arch(&s, ILR_ARCH_LLAMA) || demo_learning(&s) ||
        ilr_demo_agents(s.agents, &s.failures) || ilr_demo_grpo(s.agents, s.out, &s.failures) ||
        ilr_demo_ilr(s.agents, s.out, &s.failures))
        return ilr_cli_fail("demo");
    printf("\n%s: %d check%s failed; model directories are in %s/ (try `ilr inspect %s/qwen2-bf16`)\n",
           s.failures ? "FAILED" : "all checks passed", s.failures, s.failures == 1 ? "" : "s", s.out, s.out);
    return s.failures ? 1 : 0;
}
