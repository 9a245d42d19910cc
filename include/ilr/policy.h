/* A policy: one agent that reinforcement learning trains — its weights and tokenizer (a Hugging Face model
 * directory), the chat template it reads prompts through, a generation engine for its rollouts, a
 * training state (activations, gradients, AdamW moments) and, when the KL penalty is on, the frozen model it
 * started from.  GRPO trains one; ILR trains m of them side by side. */
#ifndef ILR_POLICY_H
#define ILR_POLICY_H

#include <jansson.h>

#include "ilr/chat.h"
#include "ilr/generate.h"
#include "ilr/model.h"
#include "ilr/tokenizer.h"
#include "ilr/train_state.h"
#include "ilr/transformer.h"

typedef struct {
    char name[64];
    char start[4096];        /* the model directory training started from (the reference) */
    char from[4096];         /* where these weights were loaded: start, or a checkpoint being resumed */
    ilr_model model, ref_model;
    ilr_train_state ts;      /* the training state, on the CPU or the GPU */
    ilr_transformer ref_tr;  /* the reference's forward passes (CPU) */
    int has_ref;
    int resumed;             /* from is a checkpoint: prepare reads its AdamW state */
    ilr_device device;       /* where the training step runs (ilr_policy_options) */
    ilr_gen_weights gen_weights;
    int recompute;           /* the training step recomputes activations in backward (ilr_policy_options) */
    int zero1;               /* the AdamW moments are sharded over group's ranks (ilr_policy_options) */
    int share_prompt;        /* the training rows pack a prompt's completions behind one copy of it (options) */
    ilr_tokenizer *tok;
    ilr_chat_template *chat; /* NULL: prompts are plain text */
    ilr_generator gen;
    int text_only;           /* only tok and chat are loaded (ilr_policy_options.text_only) */
    const ilr_dist_group *group; /* the ranks that generate for and train it (NULL: the whole job; not owned) */
} ilr_policy;

typedef struct {
    int chat;            /* read prompts through the model's chat template */
    int reference;       /* keep the starting model frozen beside (KL penalty) */
    ilr_device device;   /* where the training step runs */
    ilr_gen_weights gen_weights; /* what a CPU generator reads (its bf16 copy is remade after each update) */
    int recompute;       /* keep only each layer's input through the forward pass (train.recompute) */
    int zero1;           /* shard the AdamW moments over the ranks that train it (train.zero1; ZeRO-1) */
    int share_prompt;    /* the update packs completions behind shared prompts (grpo.share_prompt): on the CPU,
                          * size the training rows for it (ilr_policy_prepare) */
    int text_only;       /* load the tokenizer and chat template only: a rank that reads and writes this agent's
                          * texts but neither runs nor trains it (agent-parallel ILR); prepare then sizes nothing */
} ilr_policy_options;

/* Loads the policy's weights and tokenizer from model_dir, or, when resume_dir is given, from that checkpoint
 * directory (the reference still from model_dir), and checks that the tokenizer fits the model.  Nothing is
 * sized yet: the longest prompt is known once the questions are tokenised with the policy's tokenizer. */
int ilr_policy_open(ilr_policy *p, const char *name, const char *model_dir, const char *resume_dir,
                    const ilr_policy_options *o);
/* Sizes the generation engine (gen_slots sequences of up to max_len tokens, prompt + completion) and the
 * training state (and the reference's): micro_batch rows of max_len tokens, or, with share_prompt on the CPU and
 * micro_batch >= 4, micro_batch / 4 rows of 2 * max_len tokens (the same attention-probability memory, B x T x T,
 * half the other activations), where a prompt's completions pack longer and the documents of several prompts pack
 * with less padding; its AdamW moments sharded over p->group with zero1; and, when resuming, reads the AdamW
 * state.  ILR_EINVAL when max_len exceeds the model's max_position_embeddings. */
int ilr_policy_prepare(ilr_policy *p, int gen_slots, int max_len, int micro_batch);
void ilr_policy_close(ilr_policy *p);

/* Writes the policy (model directory, tokenizer files, AdamW moments, state merged into trainer_state.json)
 * into dir, not atomically (see ilr_checkpoint_begin).  With zero1, on the group's first rank, while the group's
 * other ranks ilr_train_state_send_moments(&p->ts). */
int ilr_policy_checkpoint(ilr_policy *p, const char *dir, const json_t *state);

#endif
