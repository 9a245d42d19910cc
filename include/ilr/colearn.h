/* ILR co-learning (`ilr train` with method ilr and its ablations): m agents, possibly of different
 * architectures, sizes and tokenizers, trained together.  Per step, for each of prompts_per_step questions:
 *
 *   1. Dynamic Interaction (include/ilr/interaction.h): cooperate or compete, from each agent's IRT
 *      probability P = sigmoid(1.7 (gamma_i - D_q)) of answering alone (include/ilr/irt.h: the fit comes
 *      from irt.file, or is collected and fitted at the start and saved as irt.json in the run directory).
 *   2. Idea3 (include/ilr/idea3.h), in num_generations discussion threads: Sharing (each agent answers
 *      alone, with the task's own prompt), Analysis (each agent critiques each peer's shared answer of the
 *      thread), Fusion (each agent writes its final solution from its answer, the peers' answers and their
 *      critiques of its own).  Each stage is one batched generation per agent over every question and thread.
 *   3. Rewards: the task scores every answer (fused and shared: correct + format term); critiques are
 *      scored by whether their verdict on the peer's answer is right (the world: the exact first wrong step).
 *   4. Perception Calibration (include/ilr/calibration.h) of each agent's G fused rewards by its peers'.
 *   5. GRPO per agent (include/ilr/grpo.h): groups of G per question and stage, the trained stages chosen by
 *      ilr.train_stages, mu optimizer steps.
 *
 * The run directory holds what a GRPO run's does (include/ilr/grpo.h), with per-agent keys in the log
 * ("AGENT/loss", "AGENT/fuse/accuracy", ...), checkpoint-STEP/AGENT/ model directories (with their AdamW
 * state) under one trainer_state.json, the final models in AGENT/, irt.json (and responses.jsonl when it was
 * collected here), and with train.save_rollouts rollouts.jsonl: one line per completion with everything
 * that decided its advantage.  A resumed run ends with the same weights, bit for bit, for every agent. */
#ifndef ILR_COLEARN_H
#define ILR_COLEARN_H

#include "ilr/train_config.h"
#include "ilr/trainer.h"

typedef struct {
    long steps;                    /* the last step done */
    int interrupted, timed_out;
    double seconds;
    int num_agents;
    long generated_tokens[ILR_MAX_AGENTS], trained_tokens[ILR_MAX_AGENTS]; /* over the whole run */
    long coop_questions, questions;                                      /* this process's steps */
} ilr_colearn_result;

/* Runs (or, with resume != 0, continues) the ILR run c describes; hooks (may be NULL) evaluate each agent. */
int ilr_colearn_run(const ilr_train_config *c, int resume, const ilr_train_hooks *hooks, ilr_colearn_result *res);

#endif
