/* The key table of `ilr train` configs (see include/ilr/train_config.h). */
#include "ilr/train_config.h"

#include <stddef.h>
#include <string.h>

#include "ilr/error.h"

/* (the trailing NULL, 0: no item schema, which only LIST keys have) */
#define KEY(name, type, field, def, doc) {name, type, offsetof(ilr_train_config, field), def, doc, NULL, 1, 0, NULL, 0}
#define NUM(name, type, field, def, lo, hi, doc) \
    {name, type, offsetof(ilr_train_config, field), def, doc, NULL, lo, hi, NULL, 0}
#define ENUM(name, field, def, choices, doc) \
    {name, ILR_CFG_ENUM, offsetof(ilr_train_config, field), def, doc, choices, 1, 0, NULL, 0}

static const ilr_cfg_key train_keys[] = {
    ENUM("method", method, "grpo", "grpo", "training method (grpo: single-agent GRPO; the ILR methods come later)"),
    KEY("model", ILR_CFG_STRING, model, "null", "Hugging Face model directory to start from (its tokenizer files too)"),
    KEY("output_dir", ILR_CFG_STRING, output_dir, "null",
        "run directory: config.yaml, train_log.jsonl, checkpoint-STEP/, the final model"),
    NUM("seed", ILR_CFG_INT, seed, "42", 0, 9.2e18, "fixes data order, sampling and everything random"),

    KEY("data.train", ILR_CFG_STRING, train_data, "null",
        "training questions: a JSONL path (question, answer) or a registry name (ilr data ls)"),
    KEY("data.eval", ILR_CFG_STRING, eval_data, "null", "held-out questions for periodic evaluation (null: none)"),
    KEY("data.test", ILR_CFG_STRING, test_data, "null",
        "questions evaluated before the first and after the last step only (null: none)"),
    KEY("data.template", ILR_CFG_STRING, template_path, "null",
        "prompt template with {{question}} (null: the task's own; prompts/world/solve.txt for world-arith)"),
    ENUM("data.task", task, "auto", "auto|world-arith|math|code",
         "how completions are rewarded: auto is code for code datasets, else math"),
    NUM("data.eval_max", ILR_CFG_INT, eval_max, "200", 0, 1e9, "questions of data.eval used (0: all)"),
    NUM("data.test_max", ILR_CFG_INT, test_max, "0", 0, 1e9, "questions of data.test used (0: all)"),
    NUM("data.eval_samples", ILR_CFG_INT, eval_samples, "0", 0, 1024,
        "besides greedy accuracy, avg@k of k answers per question sampled at rollout.temperature (0: greedy only)"),
    KEY("data.chat", ILR_CFG_BOOL, chat, "false", "render each prompt as a user turn with the model's chat template"),

    NUM("rollout.prompts_per_step", ILR_CFG_INT, prompts_per_step, "16", 1, 1e6,
        "questions per step; each gets num_generations completions"),
    NUM("rollout.num_generations", ILR_CFG_INT, num_generations, "8", 2, 1024, "completions per question (G)"),
    NUM("rollout.max_new_tokens", ILR_CFG_INT, max_new_tokens, "256", 1, 1e6,
        "completion length limit (TRL max_completion_length); also dr_grpo's constant"),
    NUM("rollout.max_prompt_tokens", ILR_CFG_INT, max_prompt_tokens, "512", 1, 1e6,
        "longer prompts are an error naming the question"),
    NUM("rollout.temperature", ILR_CFG_FLOAT, temperature, "1.0", 0, 100, "sampling temperature (0: greedy)"),
    NUM("rollout.top_p", ILR_CFG_FLOAT, top_p, "1.0", 1e-9, 1, "nucleus sampling mass (1: off)"),
    NUM("rollout.top_k", ILR_CFG_INT, top_k, "0", 0, 1e9, "top-k sampling (0: off)"),
    NUM("rollout.min_p", ILR_CFG_FLOAT, min_p, "0.0", 0, 0.999999, "min-p sampling (0: off)"),

    NUM("reward.format_weight", ILR_CFG_FLOAT, format_weight, "0.1", 0, 1,
        "reward = correct + format_weight * well_formed (0: correctness only)"),
    ENUM("reward.math_extract", math_extract, "strict", "strict|last_number|boxed",
         "how a math answer is found in a completion (ilr grade --help)"),

    ENUM("grpo.scale_rewards", scale_rewards, "group", "group|batch|none",
         "advantage = (r - group mean) / (std + 1e-4) over the group or the batch; none: mean-only (Dr. GRPO)"),
    ENUM("grpo.loss_type", loss_type, "dapo", "dapo|grpo|dr_grpo",
         "aggregation: token mean (dapo), per-sequence mean (grpo), token sum / (S * max_new_tokens) (dr_grpo)"),
    NUM("grpo.epsilon", ILR_CFG_FLOAT, epsilon, "0.2", 0, 1, "lower clip: ratio >= 1 - epsilon"),
    NUM("grpo.epsilon_high", ILR_CFG_FLOAT, epsilon_high, "0.2", 0, 100, "upper clip: ratio <= 1 + epsilon_high (DAPO: 0.28)"),
    NUM("grpo.beta", ILR_CFG_FLOAT, beta, "0.0", 0, 1e6, "KL coefficient (k3 estimator); 0 loads no reference model"),
    NUM("grpo.num_iterations", ILR_CFG_INT, num_iterations, "1", 1, 1000,
        "policy updates per rollout batch (mu), each against the stored rollout log-probs"),
    KEY("grpo.mask_truncated_completions", ILR_CFG_BOOL, mask_truncated, "false",
        "completions cut at max_new_tokens get no loss (they still count in their group's advantages)"),

    NUM("optim.lr", ILR_CFG_FLOAT, lr, "1e-6", 1e-12, 10, "peak learning rate (AdamW)"),
    NUM("optim.weight_decay", ILR_CFG_FLOAT, weight_decay, "0.0", 0, 10, "AdamW decoupled weight decay"),
    NUM("optim.adam_beta1", ILR_CFG_FLOAT, adam_beta1, "0.9", 0, 0.999999, "AdamW beta1"),
    NUM("optim.adam_beta2", ILR_CFG_FLOAT, adam_beta2, "0.999", 0, 0.999999999, "AdamW beta2"),
    NUM("optim.adam_eps", ILR_CFG_FLOAT, adam_eps, "1e-8", 1e-30, 1, "AdamW epsilon"),
    NUM("optim.max_grad_norm", ILR_CFG_FLOAT, max_grad_norm, "1.0", 0, 1e9, "global-norm gradient clipping (0: off)"),
    ENUM("optim.lr_schedule", lr_schedule, "linear", "constant|cosine|linear", "decay after warmup"),
    NUM("optim.warmup_steps", ILR_CFG_INT, warmup_steps, "0", 0, 1e9, "linear warmup from 0"),
    NUM("optim.min_lr_ratio", ILR_CFG_FLOAT, min_lr_ratio, "0.0", 0, 1, "the decay ends at lr * min_lr_ratio"),
    NUM("optim.micro_batch", ILR_CFG_INT, micro_batch, "16", 1, 1e6,
        "sequences per forward/backward pass; the step's gradient accumulates over all of them"),

    NUM("train.steps", ILR_CFG_INT, steps, "100", 1, 1e9, "rollout batches (each one num_iterations optimizer steps)"),
    NUM("train.max_minutes", ILR_CFG_FLOAT, max_minutes, "0", 0, 1e9,
        "stop (with a checkpoint and the final evaluation) after this many minutes of training (0: no limit)"),
    NUM("train.log_every", ILR_CFG_INT, log_every, "1", 1, 1e9, "steps between lines on stdout (the JSONL log has every step)"),
    NUM("train.eval_every", ILR_CFG_INT, eval_every, "0", 0, 1e9, "steps between evaluations on data.eval (0: start and end only)"),
    NUM("train.save_every", ILR_CFG_INT, save_every, "0", 0, 1e9, "steps between checkpoints (0: only on a signal)"),
    NUM("train.keep_checkpoints", ILR_CFG_INT, keep_checkpoints, "2", 1, 1e6, "newest checkpoints kept"),
    KEY("train.quiet", ILR_CFG_BOOL, quiet, "false", "no per-step lines or progress bar (the JSONL log is still written)"),
};

static const ilr_cfg_schema train_schema = {train_keys, (int)(sizeof train_keys / sizeof train_keys[0]), "train"};

const ilr_cfg_schema *ilr_train_config_schema(void) { return &train_schema; }

void ilr_train_config_free(ilr_train_config *c) { ilr_cfg_free(&train_schema, c); }

static int check(const ilr_train_config *c) {
    if (!c->model) return ILR_FAIL(ILR_EINVAL, "train: no model (set model: in the config or model=DIR)");
    if (!c->output_dir) return ILR_FAIL(ILR_EINVAL, "train: no output directory (set output_dir: or output_dir=DIR)");
    if (!c->train_data) return ILR_FAIL(ILR_EINVAL, "train: no training data (set data.train: or data.train=FILE)");
    if (c->epsilon_high < 0 || c->epsilon < 0) return ILR_FAIL(ILR_EINVAL, "train: clip ranges must be >= 0");
    return 0;
}

int ilr_train_config_load(ilr_train_config *c, const char *path, char *const *overrides, int num_overrides) {
    memset(c, 0, sizeof *c);
    ilr_cfg_defaults(&train_schema, c);
    int rc = path ? ilr_cfg_load_file(&train_schema, c, path) : 0;
    for (int i = 0; !rc && i < num_overrides; i++) rc = ilr_cfg_override(&train_schema, c, overrides[i]);
    if (!rc) rc = check(c);
    if (rc) ilr_train_config_free(c);
    return rc;
}
