/* Training checkpoints.  A checkpoint is a Hugging Face model directory (config.json, model.safetensors,
 * generation_config.json, the tokenizer files) that transformers loads unchanged, plus the trainer's state:
 * optimizer.safetensors (the AdamW moments, fp32) and trainer_state.json (the step count of the optimizer
 * and whatever the trainer adds: data cursor, RNG streams, metrics).
 *
 * The directory is written whole under a temporary name beside its final one and renamed into place, so a
 * checkpoint is either complete or absent, whenever the process dies. */
#ifndef ILR_CHECKPOINT_H
#define ILR_CHECKPOINT_H

#include <jansson.h>

#include "ilr/transformer.h"

/* Writes dir (replacing an existing one).  tr: the optimizer state to keep (NULL: none, or no step taken
 * yet; moments for every parameter, not a ZeRO-1 shard); tokenizer_dir: where to copy the tokenizer files from
 * (NULL: none); state: a JSON object merged into trainer_state.json (NULL: none). */
int ilr_checkpoint_save(const char *dir, const ilr_model *m, const ilr_transformer *tr, const char *tokenizer_dir,
                        const json_t *state);

/* A checkpoint of several parts (ILR: one model directory per agent, and the run's state at the top) is
 * written the same way in steps: ilr_checkpoint_begin makes an empty temporary directory beside dir (its
 * path in tmp), the parts are written into it (ilr_checkpoint_write for each model, any other files), and
 * ilr_checkpoint_commit renames it into place; on a failure ilr_checkpoint_abort removes it, keeping the
 * error message. */
int ilr_checkpoint_begin(const char *dir, char *tmp, size_t cap);
/* Writes a model directory with its optimizer and trainer state into dir (created if needed), not atomically. */
int ilr_checkpoint_write(const char *dir, const ilr_model *m, const ilr_transformer *tr, const char *tokenizer_dir,
                         const json_t *state);
int ilr_checkpoint_commit(const char *dir, const char *tmp);
void ilr_checkpoint_abort(const char *tmp);

/* A checkpoint's AdamW state given piecewise (ZeRO-1: the moments gathered from the ranks' shares, one at a time,
 * into one buffer, as the file is written): step, the optimizer steps taken (0: no moments to keep), and fetch,
 * which gives every parameter's moment k (0: adam_m, 1: adam_v) in *values, valid until its next call. */
typedef struct {
    int step;
    int (*fetch)(void *ctx, int k, const float **values);
    void *ctx;
} ilr_checkpoint_moments;
/* ilr_checkpoint_save and ilr_checkpoint_write with the moments from mo (NULL: none) instead of a transformer's. */
int ilr_checkpoint_save_fetched(const char *dir, const ilr_model *m, const ilr_checkpoint_moments *mo,
                                const char *tokenizer_dir, const json_t *state);
int ilr_checkpoint_write_fetched(const char *dir, const ilr_model *m, const ilr_checkpoint_moments *mo,
                                 const char *tokenizer_dir, const json_t *state);

/* Reads a checkpoint's trainer state into tr (the model itself loads with ilr_model_load): the AdamW
 * moments (of tr's ZeRO-1 shard only when it has one: ilr_transformer_shard_moments) and step.  *state (may be
 * NULL) receives trainer_state.json's object (caller decrefs).  A checkpoint without optimizer.safetensors leaves
 * tr's moments untouched. */
int ilr_checkpoint_load_state(const char *dir, ilr_transformer *tr, json_t **state);

/* Removes a directory tree (checkpoint pruning); a missing one is fine. */
int ilr_remove_tree(const char *path);

#endif
