/* Supervised fine-tuning: a model learns the responses of prompt/response pairs (the loss is on response
 * tokens only), on a real Hugging Face model directory as on a tiny one.
 *
 * Data: JSONL lines {"prompt": text, "response": text} plus optional "level" (an integer, for accuracy by
 * level) and "answer" (the gold final answer; else the response's last \boxed{} or "answer is" is used).
 * Each example is the prompt's ids (with the tokenizer's BOS when its post-processor adds one; or, with
 * chat, the prompt rendered as one user turn by the chat template) followed by the response's ids and the
 * model's first eos id.  Examples are packed, next-fit in a shuffled order, into rows of seq tokens; each
 * attends only to itself (ilr_transformer_forward_packed).  An epoch is every example once, reshuffled per
 * epoch from the seed, so the data order depends only on (seed, epoch).
 *
 * Each step: grad_accum micro-batches of batch rows, the mean negative log-likelihood per response token
 * (averaged over micro-batches), global-norm clipping, AdamW with linear warmup and cosine (or constant)
 * decay.  Every eval_every steps and at the end: the loss on the eval file and the greedy answers' accuracy
 * (the final answer extracted and compared by the math grader), overall and by level.  Every save_every
 * steps and on SIGINT/SIGTERM a checkpoint out/checkpoint-STEP (ilr/checkpoint.h; the last keep_checkpoints
 * are kept); at the end the model itself is saved into out/ with its tokenizer, so out/ is a model
 * directory.  One JSON line per logged step goes to out/sft_log.jsonl. */
#ifndef ILR_SFT_H
#define ILR_SFT_H

#include "ilr/train_state.h"

#include <stdint.h>

#include "ilr/level_accuracy.h"
#include "ilr/schedule.h"

typedef struct {
    const char *model_dir;  /* the model to fine-tune (its tokenizer files must be there) */
    const char *train_path; /* JSONL of prompt/response */
    const char *eval_path;  /* NULL: no evaluation */
    const char *out_dir;
    const char *resume_dir; /* a checkpoint to continue from (NULL: start at step 0) */
    int chat;               /* render prompts with the model's chat template */
    int pack;               /* pack several examples per row (default 1) */
    int batch, seq, grad_accum;
    long steps;             /* optimizer steps (0: from epochs) */
    double epochs;          /* when steps is 0 (default 1) */
    float lr, weight_decay, beta1, beta2, clip, min_lr_ratio;
    int warmup_steps;
    ilr_lr_shape schedule;
    int log_every, eval_every, save_every, keep_checkpoints;
    int eval_max;           /* eval examples generated for accuracy (0: all) */
    int eval_new_tokens;    /* 0: the longest eval response + 8 */
    uint64_t seed;
    int quiet;              /* no per-step lines on stdout */
    ilr_device device;      /* where the training step runs (cpu, the default, or cuda; evaluation's generation
                               runs on the CPU either way) */
    int recompute;          /* recompute each layer's activations in backward (less memory, more time; CPU) */
    int zero1;              /* shard the AdamW moments over the job's ranks (ZeRO-1; CPU) */
} ilr_sft_options;

/* Sensible defaults (everything not yet set). */
void ilr_sft_options_default(ilr_sft_options *o);

typedef struct {
    int evaluated;
    double loss;                     /* mean per response token */
    int correct, total;              /* greedy answers */
    int level_correct[ILR_MAX_LEVEL + 1], level_total[ILR_MAX_LEVEL + 1]; /* level 0: none given */
} ilr_sft_eval;

typedef struct {
    long steps;
    double first_loss, last_loss;    /* training loss of the first and of the last step */
    double seconds, tokens_per_s;    /* wall clock of the training steps; real tokens per second */
    ilr_sft_eval before, after;      /* eval before the first step and after the last */
    int interrupted;                 /* stopped by SIGINT/SIGTERM (a checkpoint was written) */
} ilr_sft_result;

int ilr_sft_run(const ilr_sft_options *o, ilr_sft_result *res);

#endif
