/* The GRPO trainer (`ilr train` with method grpo): one agent learns from the rewards of its own sampled
 * completions, on a real Hugging Face model as on the synthetic world's agents.
 *
 * A step: prompts_per_step questions in the data order (shuffled per epoch from the seed), num_generations
 * completions each from the generation engine (sampling streams from (seed, step), so a step's rollouts
 * depend only on the weights, the seed and the step), rewards from the task's grader (the world's checker,
 * the math grader or the code sandbox, plus format_weight for a well-formed answer), group advantages, then
 * num_iterations optimizer steps over the whole rollout batch in micro-batches of micro_batch sequences, each
 * with the clipped-ratio loss against the stored rollout log-probs (ilr/grpo_loss.h) and, when beta > 0, the
 * k3 KL to the frozen starting model.
 *
 * The run directory (output_dir) holds:
 *   config.yaml          the resolved config (every key), written before the first step
 *   train_log.jsonl      one line per step, with TRL's metric names where one exists, and one per evaluation
 *   checkpoint-STEP/     every save_every steps and on SIGINT/SIGTERM: a model directory + trainer state
 *   latest               the name of the newest complete checkpoint
 *   the final model      config.json, model.safetensors and tokenizer files, after the last step
 *   train_summary.json   evaluations before and after, time, steps
 *   curve.svg            held-out accuracy and mean reward per step
 * Resuming (ilr_grpo_run with resume) continues from the newest checkpoint: the weights, AdamW moments and
 * step, the data cursor; the sampling streams follow from the step.  On the same build and thread count a
 * resumed run ends with the same weights, bit for bit, as one that never stopped. */
#ifndef ILR_GRPO_H
#define ILR_GRPO_H

#include "ilr/level_accuracy.h"
#include "ilr/train_config.h"


typedef struct {
    int evaluated;
    int correct, total;
    double reward;                 /* mean */
    int level_correct[ILR_MAX_LEVEL + 1], level_total[ILR_MAX_LEVEL + 1]; /* level 0: none given */
} ilr_grpo_eval;

typedef struct {
    long steps;                    /* the last step done */
    int interrupted;               /* stopped by SIGINT/SIGTERM (a checkpoint was written) */
    int timed_out;                 /* stopped by train.max_minutes */
    double seconds;                /* wall clock of the steps of this process */
    double first_reward, last_reward;
    ilr_grpo_eval eval_before, eval_after; /* data.eval, greedy */
    ilr_grpo_eval test_before, test_after; /* data.test, greedy */
    ilr_grpo_eval test_sampled_before, test_sampled_after; /* data.test, avg@data.eval_samples (when > 0) */
} ilr_grpo_result;

/* Runs (or, with resume != 0, continues) the run c describes.  0 when it finished or was interrupted
 * cleanly; a negative ILR_E* with a message otherwise. */
int ilr_grpo_run(const ilr_train_config *c, int resume, ilr_grpo_result *res);

#endif
