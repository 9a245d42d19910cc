/* ilr sft: supervised fine-tuning on prompt/response JSONL (src/rl/sft.c does the work). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ilr/dist.h"
#include "ilr/error.h"
#include "ilr/sft.h"

static const char sft_help[] =
    "usage: ilr sft --model DIR --data FILE.jsonl -o OUT [options]\n\n"
    "Supervised fine-tuning: the model learns the responses of prompt/response pairs (the loss is on the\n"
    "response tokens only).  Works on any model directory ilr loads (a real Qwen2.5/Llama-3 checkpoint or\n"
    "one made by `ilr init`); its tokenizer files must be in DIR.\n\n"
    "Data: JSONL lines {\"prompt\": ..., \"response\": ...}, optionally \"level\" (0-9: accuracy by level) and\n"
    "\"answer\" (the gold final answer; else the response's last \\boxed{} or \"the answer is\").  Each example\n"
    "is prompt ids (+ BOS when the tokenizer adds one), response ids and the model's eos id; examples are\n"
    "packed into rows of --seq tokens, each attending only to itself.  A malformed line stops with its\n"
    "file and line.\n\n"
    "Output: OUT/ becomes a model directory (the final weights + tokenizer files); OUT/sft_log.jsonl has one\n"
    "JSON line per logged step and per evaluation; OUT/sft_summary.json the before/after evaluation;\n"
    "OUT/checkpoint-STEP/ (with --save-every, and on Ctrl-C / SIGTERM) can be resumed with --resume.\n\n"
    "  --model DIR          the model to fine-tune\n"
    "  --data FILE          training examples (JSONL)\n"
    "  -o, --out DIR        output directory\n"
    "  --eval FILE          held-out examples: loss and greedy accuracy before, every --eval-every, after\n"
    "  --steps N            optimizer steps (default: --epochs worth)\n"
    "  --epochs E           passes over the data when --steps is not given (default 1)\n"
    "  --batch B            rows per micro-batch (default 8)\n"
    "  --seq T              tokens per row (default 512); longer examples are truncated\n"
    "  --grad-accum K       micro-batches per optimizer step (default 1)\n"
    "  --lr LR              peak learning rate (default 2e-5, transformers' default; ~1e-3 from scratch)\n"
    "  --warmup N           linear warmup steps (default 0)\n"
    "  --schedule S         cosine, linear or constant after warmup (default cosine)\n"
    "  --min-lr-ratio R     floor of the decay, as a fraction of --lr (default 0)\n"
    "  --weight-decay W     AdamW weight decay (default 0)\n"
    "  --beta2 B            AdamW beta2 (default 0.999)\n"
    "  --clip C             global gradient-norm clipping (default 1; 0 = off)\n"
    "  --no-pack            one example per row (padding) instead of packing\n"
    "  --chat               render prompts as a user turn with the model's chat template\n"
    "  --eval-every N       evaluate every N steps (default: only before and after)\n"
    "  --eval-max N         eval examples answered greedily for accuracy (default 200; 0 = all)\n"
    "  --eval-new-tokens N  answer length limit (default: longest eval response + 8)\n"
    "  --save-every N       checkpoint every N steps (default: none but the final model)\n"
    "  --keep N             checkpoints kept (default 2)\n"
    "  --log-every N        print and log every N steps (default 10)\n"
    "  --resume CKPT        continue from OUT/checkpoint-STEP (model, optimizer, data position)\n"
    "  --seed S             data order (default 42)\n"
    "  --device D           cpu (default) or cuda: where the training step runs (cuda: a build with make CUDA=1;\n"
    "                       bf16 compute with fp32 master weights; evaluation's generation stays on the CPU)\n"
    "  --recompute          keep only each layer's input through the forward pass and recompute the rest in\n"
    "                       backward: the same weights bit for bit in less memory, about 12 % more time (CPU)\n"
    "  --zero1              under mpirun, each rank keeps and updates the AdamW moments of its 1/N of the\n"
    "                       parameters only (ZeRO-1): the same weights bit for bit in 8P/N bytes of moments\n"
    "                       instead of 8P; checkpoints as without it (CPU)\n"
    "  --quiet              no per-step lines\n";

enum { O_EVAL = 256, O_STEPS, O_EPOCHS, O_BATCH, O_SEQ, O_ACCUM, O_LR, O_WARMUP, O_SCHEDULE, O_MINLR, O_WD, O_BETA2,
       O_CLIP, O_NOPACK, O_CHAT, O_EVERY, O_EVALMAX, O_EVALNEW, O_SAVE, O_KEEP, O_LOG, O_RESUME, O_SEED, O_QUIET,
       O_MODEL, O_DATA, O_DEVICE, O_RECOMPUTE, O_ZERO1 };

static int parse_float(const char *opt, const char *text, double lo, double hi, double *out) {
    char *end;
    double v = strtod(text, &end);
    if (end == text || *end || !(v >= lo && v <= hi))
        return ilr_cli_usage_error("sft", "%s takes a number in [%g, %g], not '%s'", opt, lo, hi, text);
    *out = v;
    return 0;
}

static int parse_option(ilr_sft_options *o, int c, const char *arg) {
    long long v = 0;
    double f = 0;
    switch (c) {
    case O_MODEL: o->model_dir = arg; return 0;
    case O_DATA: o->train_path = arg; return 0;
    case 'o': o->out_dir = arg; return 0;
    case O_EVAL: o->eval_path = arg; return 0;
    case O_RESUME: o->resume_dir = arg; return 0;
    case O_DEVICE: return ilr_device_parse(arg, &o->device) ? ilr_cli_usage_error("sft", "--device: %s", ilr_last_error()) : 0;
    case O_NOPACK: o->pack = 0; return 0;
    case O_CHAT: o->chat = 1; return 0;
    case O_RECOMPUTE: o->recompute = 1; return 0;
    case O_ZERO1: o->zero1 = 1; return 0;
    case O_QUIET: o->quiet = 1; return 0;
    case O_SCHEDULE:
        if (ilr_lr_shape_parse(arg, &o->schedule)) return ilr_cli_usage_error("sft", "%s", ilr_last_error());
        return 0;
    case O_STEPS: if (ilr_cli_parse_long("sft", "--steps", arg, 1, 100000000, &v)) return 2; o->steps = v; return 0;
    case O_BATCH: if (ilr_cli_parse_long("sft", "--batch", arg, 1, 4096, &v)) return 2; o->batch = (int)v; return 0;
    case O_SEQ: if (ilr_cli_parse_long("sft", "--seq", arg, 2, 1 << 20, &v)) return 2; o->seq = (int)v; return 0;
    case O_ACCUM: if (ilr_cli_parse_long("sft", "--grad-accum", arg, 1, 4096, &v)) return 2; o->grad_accum = (int)v; return 0;
    case O_WARMUP: if (ilr_cli_parse_long("sft", "--warmup", arg, 0, 100000000, &v)) return 2; o->warmup_steps = (int)v; return 0;
    case O_EVERY: if (ilr_cli_parse_long("sft", "--eval-every", arg, 0, 100000000, &v)) return 2; o->eval_every = (int)v; return 0;
    case O_EVALMAX: if (ilr_cli_parse_long("sft", "--eval-max", arg, 0, 100000000, &v)) return 2; o->eval_max = (int)v; return 0;
    case O_EVALNEW: if (ilr_cli_parse_long("sft", "--eval-new-tokens", arg, 1, 1 << 20, &v)) return 2; o->eval_new_tokens = (int)v; return 0;
    case O_SAVE: if (ilr_cli_parse_long("sft", "--save-every", arg, 0, 100000000, &v)) return 2; o->save_every = (int)v; return 0;
    case O_KEEP: if (ilr_cli_parse_long("sft", "--keep", arg, 1, 1000, &v)) return 2; o->keep_checkpoints = (int)v; return 0;
    case O_LOG: if (ilr_cli_parse_long("sft", "--log-every", arg, 1, 100000000, &v)) return 2; o->log_every = (int)v; return 0;
    case O_SEED: if (ilr_cli_parse_long("sft", "--seed", arg, 0, (1LL << 62), &v)) return 2; o->seed = (uint64_t)v; return 0;
    case O_EPOCHS: if (parse_float("--epochs", arg, 1e-6, 1e6, &f)) return 2; o->epochs = f; return 0;
    case O_LR: if (parse_float("--lr", arg, 1e-12, 10, &f)) return 2; o->lr = (float)f; return 0;
    case O_MINLR: if (parse_float("--min-lr-ratio", arg, 0, 1, &f)) return 2; o->min_lr_ratio = (float)f; return 0;
    case O_WD: if (parse_float("--weight-decay", arg, 0, 10, &f)) return 2; o->weight_decay = (float)f; return 0;
    case O_BETA2: if (parse_float("--beta2", arg, 0, 0.999999, &f)) return 2; o->beta2 = (float)f; return 0;
    case O_CLIP: if (parse_float("--clip", arg, 0, 1e9, &f)) return 2; o->clip = (float)f; return 0;
    }
    return ilr_cli_usage_error("sft", "unknown or incomplete option");
}

int ilr_cmd_sft(int argc, char **argv) {
    static const struct option longopts[] = {
        {"model", required_argument, 0, O_MODEL}, {"data", required_argument, 0, O_DATA},
        {"out", required_argument, 0, 'o'}, {"eval", required_argument, 0, O_EVAL},
        {"steps", required_argument, 0, O_STEPS}, {"epochs", required_argument, 0, O_EPOCHS},
        {"batch", required_argument, 0, O_BATCH}, {"seq", required_argument, 0, O_SEQ},
        {"grad-accum", required_argument, 0, O_ACCUM}, {"lr", required_argument, 0, O_LR},
        {"warmup", required_argument, 0, O_WARMUP}, {"schedule", required_argument, 0, O_SCHEDULE},
        {"min-lr-ratio", required_argument, 0, O_MINLR}, {"weight-decay", required_argument, 0, O_WD},
        {"beta2", required_argument, 0, O_BETA2}, {"clip", required_argument, 0, O_CLIP},
        {"no-pack", no_argument, 0, O_NOPACK}, {"chat", no_argument, 0, O_CHAT},
        {"eval-every", required_argument, 0, O_EVERY}, {"eval-max", required_argument, 0, O_EVALMAX},
        {"eval-new-tokens", required_argument, 0, O_EVALNEW}, {"save-every", required_argument, 0, O_SAVE},
        {"keep", required_argument, 0, O_KEEP}, {"log-every", required_argument, 0, O_LOG},
        {"resume", required_argument, 0, O_RESUME}, {"seed", required_argument, 0, O_SEED},
        {"device", required_argument, 0, O_DEVICE}, {"recompute", no_argument, 0, O_RECOMPUTE},
        {"zero1", no_argument, 0, O_ZERO1}, {"quiet", no_argument, 0, O_QUIET}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    ilr_sft_options o;
    ilr_sft_options_default(&o);
    optind = 0;
    opterr = 0;
    for (int c; (c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1;) {
        if (c == 'h') return printf("%s", sft_help), 0;
        if (c == '?' || c == ':') return ilr_cli_usage_error("sft", "unknown or incomplete option '%s'", argv[optind - 1]);
        if (parse_option(&o, c, optarg)) return 2;
    }
    if (optind != argc) return ilr_cli_usage_error("sft", "unexpected argument '%s'", argv[optind]);
    if ((!o.model_dir && !o.resume_dir) || !o.train_path || !o.out_dir)
        return ilr_cli_usage_error("sft", "--model (or --resume), --data and -o are required");
    if (!ilr_dist_is_root()) o.quiet = 1; /* under mpirun rank 0 alone prints */
    ilr_sft_result res;
    if (ilr_sft_run(&o, &res)) return ilr_cli_fail("sft");
    if (res.interrupted) {
        printf("sft: interrupted at step %ld; checkpoint written to %s/checkpoint-%06ld (continue with --resume)\n",
               res.steps, o.out_dir, res.steps);
        return 130;
    }
    if (!o.quiet)
        printf("sft: %ld steps in %.1f s (%.0f tokens/s), loss %.4f -> %.4f; model saved to %s\n", res.steps, res.seconds,
               res.tokens_per_s, res.first_loss, res.last_loss, o.out_dir);
    return 0;
}
