/* The key table of `ilr train` configs (see include/ilr/train_config.h). */
#include "ilr/train_config.h"

#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ilr/error.h"
#include "ilr/train_state.h"

/* (the trailing NULL, 0: no item schema, which only LIST keys have) */
#define KEY(name, type, field, def, doc) {name, type, offsetof(ilr_train_config, field), def, doc, NULL, 1, 0, NULL, 0}
#define NUM(name, type, field, def, lo, hi, doc) \
    {name, type, offsetof(ilr_train_config, field), def, doc, NULL, lo, hi, NULL, 0}
#define ENUM(name, field, def, choices, doc) \
    {name, ILR_CFG_ENUM, offsetof(ilr_train_config, field), def, doc, choices, 1, 0, NULL, 0}

#define AKEY(name, type, field, def, doc) {name, type, offsetof(ilr_agent_config, field), def, doc, NULL, 1, 0, NULL, 0}
#define ANUM(name, type, field, def, lo, hi, doc) \
    {name, type, offsetof(ilr_agent_config, field), def, doc, NULL, lo, hi, NULL, 0}

static const ilr_cfg_key agent_keys[] = {
    AKEY("name", ILR_CFG_STRING, name, "null", "the agent's name in logs, checkpoints and irt.json (default: the model directory's name)"),
    AKEY("model", ILR_CFG_STRING, model, "null", "Hugging Face model directory to start from (its tokenizer files too)"),
    ANUM("optim.lr", ILR_CFG_FLOAT, lr, "1e-6", 1e-12, 10, "this agent's peak learning rate (default: the top-level optim.lr)"),
    ANUM("optim.weight_decay", ILR_CFG_FLOAT, weight_decay, "0.0", 0, 10, "this agent's weight decay (default: optim.weight_decay)"),
    ANUM("optim.max_grad_norm", ILR_CFG_FLOAT, max_grad_norm, "1.0", 0, 1e9, "this agent's clipping norm (default: optim.max_grad_norm)"),
    ANUM("optim.min_lr_ratio", ILR_CFG_FLOAT, min_lr_ratio, "0.0", 0, 1, "this agent's decay floor (default: optim.min_lr_ratio)"),
    ANUM("optim.warmup_steps", ILR_CFG_INT, warmup_steps, "0", 0, 1e9, "this agent's warmup (default: optim.warmup_steps)"),
    ANUM("ranks", ILR_CFG_INT, ranks, "0", 0, 1e6,
         "agent-parallel under mpirun: this agent's own ranks, which alone hold, run and train it (the agents take the "
         "job's ranks in order; set it for every agent or none, adding up to mpirun -np; 0: every rank serves every agent, "
         "data-parallel)"),
};

static const ilr_cfg_schema agent_schema = {agent_keys, (int)(sizeof agent_keys / sizeof agent_keys[0]), "train"};

static const ilr_cfg_key train_keys[] = {
    ENUM("method", method, "grpo", "grpo|ilr|ilr-coop|ilr-comp|ilr-random|ilr-no-calibration",
         "grpo: one agent alone; ilr: agents co-learning (the ilr.* keys); the others are ilr with one ablation"),
    KEY("model", ILR_CFG_STRING, model, "null", "GRPO: the Hugging Face model directory to start from (its tokenizer files too)"),
    {"agents", ILR_CFG_LIST, offsetof(ilr_train_config, agents), "[]",
     "ILR: the agents, two or more, each {name, model, optim.*}; unset optim keys take the top-level ones", NULL, 1, 0,
     &agent_schema, sizeof(ilr_agent_config)},
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
    NUM("rollout.temperature", ILR_CFG_FLOAT, temperature, "1.0", 0, 100,
        "sampling temperature (> 0); the loss takes log-probs at it, as the sampler did"),
    NUM("rollout.top_p", ILR_CFG_FLOAT, top_p, "1.0", 1e-9, 1, "nucleus sampling mass (1: off)"),
    NUM("rollout.top_k", ILR_CFG_INT, top_k, "0", 0, 1e9, "top-k sampling (0: off)"),
    NUM("rollout.min_p", ILR_CFG_FLOAT, min_p, "0.0", 0, 0.999999, "min-p sampling (0: off)"),
    ENUM("rollout.weights", rollout_weights, "f32", "f32|bf16|bf16-act",
         "weights the CPU rollouts read: bf16 decodes faster from a copy remade after every optimizer step; the "
         "update's ratio then starts from the bf16 rollout log-probs (README: bf16 weights)"),

    NUM("reward.format_weight", ILR_CFG_FLOAT, format_weight, "0.1", 0, 1,
        "reward = correct + format_weight * well_formed (0: correctness only)"),
    ENUM("reward.math_extract", math_extract, "strict", "strict|last_number|boxed|auto",
         "how a math answer is found in a completion (ilr grade --help; auto: Math-Verify's precedence)"),

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
    KEY("grpo.share_prompt", ILR_CFG_BOOL, share_prompt, "true",
        "the policy update runs a prompt once for the completions that follow it in a training row instead of once "
        "per completion, and packs several prompts' documents in a row (rows of 2 x (max prompt + max_new_tokens), "
        "optim.micro_batch / 4 of them: the same attention memory): the same loss to float rounding, fewer FLOPs "
        "(CPU training step; the GPU's keeps one completion per row)"),

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
        "sequences per forward/backward pass (grpo.share_prompt: a quarter as many rows of twice the length); the "
        "step's gradient accumulates over all of them"),

    ENUM("ilr.interaction", interaction, "dynamic", "dynamic|coop|comp|random",
         "dynamic: cooperate or compete per question by the agents' IRT probabilities (ilr.rule); or always one, or at random"),
    ENUM("ilr.rule", rule, "mean", "mean|any|all",
         "dynamic: cooperate when the mean P < 0.5 (mean), when any agent's P < 0.5 (any), or when every P < 0.5 (all)"),
    NUM("ilr.coop_probability", ILR_CFG_FLOAT, coop_probability, "0.5", 0, 1, "random: the chance to cooperate on a question"),
    KEY("ilr.calibration", ILR_CFG_BOOL, calibration, "true", "Perception Calibration of the fused rewards by the peers' (paper Eq. 5)"),
    ENUM("ilr.train_stages", train_stages, "all", "fuse|share+fuse|all",
         "whose tokens each agent trains on: its final (fused) answers; also its solo (shared) answers; also its critiques "
         "(all, the default: best alone over 3 seeds on the world, README)"),
    NUM("ilr.analyse_max_new_tokens", ILR_CFG_INT, analyse_max_new_tokens, "0", 0, 1e6,
        "length limit of a critique (0: rollout.max_new_tokens)"),
    NUM("ilr.fuse_max_new_tokens", ILR_CFG_INT, fuse_max_new_tokens, "0", 0, 1e6,
        "length limit of a final solution (0: rollout.max_new_tokens)"),
    NUM("ilr.max_peer_tokens", ILR_CFG_INT, max_peer_tokens, "512", 1, 1e6,
        "a peer's text longer than this (in the reader's tokens) keeps its last tokens behind \"[...] \""),
    NUM("ilr.max_prompt_tokens", ILR_CFG_INT, discussion_max_prompt_tokens, "2048", 1, 1e6,
        "a critique or fusion prompt longer than this is an error naming the agent and question"),
    KEY("ilr.prompts", ILR_CFG_STRING, idea3_prompts, "null",
        "the Idea3 templates' folder (null: prompts/world for world-arith, prompts/idea3/math or prompts/idea3/code)"),
    KEY("irt.file", ILR_CFG_STRING, irt_file, "null",
        "an irt.json naming every agent (ilr irt fit); null: collect answers on irt.data and fit at the start"),
    KEY("irt.data", ILR_CFG_STRING, irt_data, "null", "the calibration questions each agent answers irt.samples times"),
    NUM("irt.data_max", ILR_CFG_INT, irt_data_max, "300", 0, 1e9, "calibration questions used (0: all)"),
    NUM("irt.samples", ILR_CFG_INT, irt_samples, "4", 1, 1024, "answers per agent and question, sampled at rollout.temperature"),
    ENUM("irt.difficulty", irt_difficulty, "level", "fit|level|self_rating",
         "a training question's D: fitted from answers to it, the mean D of its level, or the agents' own rating"),
    NUM("irt.refit_every", ILR_CFG_INT, irt_refit_every, "0", 0, 1e9,
        "refit the abilities every N steps with the agents' solo answers so far (0: never)"),
    NUM("irt.prior_sd", ILR_CFG_FLOAT, irt_prior_sd, "3.0", 1e-3, 1e3, "sd of the normal prior on abilities and difficulties"),
    NUM("budget.generated_tokens", ILR_CFG_INT, budget_generated_tokens, "0", 0, 9e18,
        "grpo: stop once this many completion tokens were sampled (0: no budget)"),
    KEY("budget.match", ILR_CFG_STRING, budget_match, "null",
        "grpo: an ILR run directory; the budget is its per-agent generated tokens (of the agent named by `model`)"),
    NUM("train.steps", ILR_CFG_INT, steps, "100", 1, 1e9, "rollout batches (each one num_iterations optimizer steps)"),
    ENUM("train.device", device, "cpu", "cpu|cuda",
         "where each policy's training step and rollouts run (cuda: an ilr built with make CUDA=1; the rollouts "
         "read the training weights on the GPU; the reference model stays on the CPU)"),
    KEY("train.recompute", ILR_CFG_BOOL, recompute, "false",
        "keep only each layer's input through the forward pass and recompute the rest in backward: the same "
        "gradients bit for bit, a fraction of the activation memory, about 12 % more time (CPU only)"),
    KEY("train.zero1", ILR_CFG_BOOL, zero1, "false",
        "ZeRO-1 under mpirun: each rank that trains a policy keeps the AdamW moments of its 1/N of the parameters "
        "only (8P/N bytes instead of 8P) and updates that share, then the ranks exchange the updated weights; the same "
        "weights bit for bit, and the same checkpoint files (the writing rank receives the shares as it writes them); "
        "a run resumes with or without it over any number of ranks; nothing in one process (CPU only)"),
    NUM("train.max_minutes", ILR_CFG_FLOAT, max_minutes, "0", 0, 1e9,
        "stop (with a checkpoint and the final evaluation) after this many minutes of training (0: no limit)"),
    NUM("train.log_every", ILR_CFG_INT, log_every, "1", 1, 1e9, "steps between lines on stdout (the JSONL log has every step)"),
    NUM("train.eval_every", ILR_CFG_INT, eval_every, "0", 0, 1e9, "steps between evaluations on data.eval (0: start and end only)"),
    NUM("train.save_every", ILR_CFG_INT, save_every, "0", 0, 1e9, "steps between checkpoints (0: only on a signal)"),
    NUM("train.keep_checkpoints", ILR_CFG_INT, keep_checkpoints, "2", 1, 1e6, "newest checkpoints kept"),
    KEY("train.quiet", ILR_CFG_BOOL, quiet, "false", "no per-step lines or progress bar (the JSONL log is still written)"),
    KEY("train.print_config", ILR_CFG_BOOL, print_config, "true",
        "print the resolved config at the start (it is saved as config.yaml either way)"),
    KEY("train.save_rollouts", ILR_CFG_BOOL, save_rollouts, "false",
        "ILR: write every completion with its mode, P, rewards and advantage to rollouts.jsonl"),
};

static const ilr_cfg_schema train_schema = {train_keys, (int)(sizeof train_keys / sizeof train_keys[0]), "train"};

const ilr_cfg_schema *ilr_train_config_schema(void) { return &train_schema; }
const ilr_cfg_schema *ilr_train_agent_schema(void) { return &agent_schema; }

int ilr_train_is_ilr(const ilr_train_config *c) { return c->method != ILR_METHOD_GRPO; }

void ilr_train_agent_resolve(const ilr_train_config *c, int i, ilr_agent_config *out) {
    *out = ((const ilr_agent_config *)c->agents.items)[i];
    const ilr_cfg_list *l = &c->agents;
    if (!ilr_cfg_item_is_set(&agent_schema, l, i, "optim.lr")) out->lr = c->lr;
    if (!ilr_cfg_item_is_set(&agent_schema, l, i, "optim.weight_decay")) out->weight_decay = c->weight_decay;
    if (!ilr_cfg_item_is_set(&agent_schema, l, i, "optim.max_grad_norm")) out->max_grad_norm = c->max_grad_norm;
    if (!ilr_cfg_item_is_set(&agent_schema, l, i, "optim.min_lr_ratio")) out->min_lr_ratio = c->min_lr_ratio;
    if (!ilr_cfg_item_is_set(&agent_schema, l, i, "optim.warmup_steps")) out->warmup_steps = c->warmup_steps;
}

/* The default name of an agent: its model directory's last component ("build/agents/agent-a/" -> "agent-a"). */
static void default_name(const char *model, char *out, size_t cap) {
    size_t len = strlen(model);
    while (len > 1 && model[len - 1] == '/') len--;
    size_t start = len;
    while (start > 0 && model[start - 1] != '/') start--;
    snprintf(out, cap, "%.*s", (int)(len - start), model + start);
}

static int valid_name(const char *s) {
    if (!*s || strlen(s) > 48) return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("_.-", *s)) return 0;
    return 1;
}

/* The ILR methods' checks: two or more agents with models and distinct names; the method and ilr.* agree. */
static int check_ilr(ilr_train_config *c) {
    if (c->agents.count < 2 || c->agents.count > ILR_MAX_AGENTS)
        return ILR_FAIL(ILR_EINVAL, "train: the ILR methods need 2 to %d agents (agents: a list of {model: DIR}), not %ld",
                        ILR_MAX_AGENTS, c->agents.count);
    if (c->model) return ILR_FAIL(ILR_EINVAL, "train: `model` is for method grpo; an ILR run names its models in agents:");
    ilr_agent_config *a = c->agents.items;
    for (long i = 0; i < c->agents.count; i++) {
        if (!a[i].model) return ILR_FAIL(ILR_EINVAL, "train: agents[%ld] has no model", i);
        if (!a[i].name) {
            char name[64];
            default_name(a[i].model, name, sizeof name);
            if (!(a[i].name = strdup(name))) return ILR_FAIL(ILR_ENOMEM, "out of memory");
        }
        if (!valid_name(a[i].name))
            return ILR_FAIL(ILR_EINVAL, "train: agents[%ld].name '%s' must be 1-48 letters, digits, '_', '.' or '-' "
                            "(it names files)", i, a[i].name);
        for (long j = 0; j < i; j++)
            if (!strcmp(a[i].name, a[j].name))
                return ILR_FAIL(ILR_EINVAL, "train: agents[%ld] and agents[%ld] are both named '%s' (set name: for one)", j, i,
                                a[i].name);
    }
    /* agent-parallel: every agent has its own ranks, or none has (the job's size is checked when the run starts) */
    for (long i = 1; i < c->agents.count; i++)
        if ((a[i].ranks > 0) != (a[0].ranks > 0))
            return ILR_FAIL(ILR_EINVAL, "train: agents[%ld].ranks is %ld and agents[%ld].ranks is %ld: give every agent at "
                            "least one rank (agent-parallel), or none (0, the default: every rank serves every agent)", 0L,
                            a[0].ranks, i, a[i].ranks);
    /* the ablation methods are ilr with one key fixed */
    int mode = c->method == ILR_METHOD_ILR_COOP ? 1 : c->method == ILR_METHOD_ILR_COMP ? 2 : c->method == ILR_METHOD_ILR_RANDOM ? 3 : -1;
    if (mode >= 0) {
        if (c->interaction != 0 && c->interaction != mode)
            return ILR_FAIL(ILR_EINVAL, "train: method %s contradicts ilr.interaction (leave it unset)",
                            mode == 1 ? "ilr-coop" : mode == 2 ? "ilr-comp" : "ilr-random");
        c->interaction = mode;
    }
    if (c->method == ILR_METHOD_ILR_NO_CALIBRATION) c->calibration = 0;
    if (c->budget_generated_tokens || c->budget_match)
        return ILR_FAIL(ILR_EINVAL, "train: budget.* matches a GRPO baseline to an ILR run; it is for method grpo");
    return 0;
}

void ilr_train_config_free(ilr_train_config *c) { ilr_cfg_free(&train_schema, c); }

static int check(ilr_train_config *c) {
    int rc = ilr_train_is_ilr(c) ? check_ilr(c) : 0;
    if (rc) return rc;
    if (!ilr_train_is_ilr(c) && c->agents.count)
        return ILR_FAIL(ILR_EINVAL, "train: agents: is for the ILR methods; method grpo trains `model`");
    if (!ilr_train_is_ilr(c) && !c->model) return ILR_FAIL(ILR_EINVAL, "train: no model (set model: in the config or model=DIR)");
    if (!c->output_dir) return ILR_FAIL(ILR_EINVAL, "train: no output directory (set output_dir: or output_dir=DIR)");
    if (!c->train_data) return ILR_FAIL(ILR_EINVAL, "train: no training data (set data.train: or data.train=FILE)");
    if (c->epsilon_high < 0 || c->epsilon < 0) return ILR_FAIL(ILR_EINVAL, "train: clip ranges must be >= 0");
    if (c->recompute && c->device != ILR_DEVICE_CPU)
        return ILR_FAIL(ILR_EUNSUPPORTED, "train: train.recompute is for the CPU training step (train.device: cpu)");
    if (c->zero1 && c->device != ILR_DEVICE_CPU)
        return ILR_FAIL(ILR_EUNSUPPORTED, "train: train.zero1 shards the CPU training step's AdamW moments over MPI "
                        "ranks (train.device: cpu); the CUDA backend runs in one process");
    if (!(c->temperature > 0))
        return ILR_FAIL(ILR_EINVAL, "train: rollout.temperature must be > 0 (0 is greedy: a group's completions would all "
                        "be the same, and there is no distribution for the ratio)");
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
