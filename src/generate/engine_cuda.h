/* The generation engine's GPU side (src/generate/engine_cuda.c, built with make CUDA=1), called by engine.c,
 * which keeps the slots' lengths and the rows' positions on the host for both devices. */
#ifndef ILR_ENGINE_CUDA_H
#define ILR_ENGINE_CUDA_H

#include "ilr/generate.h"

/* Makes g->gpu: the cache and activations on the device, and the weights: a bf16 copy of g->model's (shared
 * NULL), or the shared device arrays (see ilr_gen_init_cuda_shared). */
int ilr_cuda_gen_create(ilr_generator *g, const float *shared_f32, const void *shared_bf16);
void ilr_cuda_gen_destroy(ilr_generator *g);
/* Uploads g->model's weights into the generator's own copy (nothing when shared). */
int ilr_cuda_gen_upload_weights(ilr_generator *g);
void ilr_cuda_gen_copy_slot(ilr_generator *g, int from, int to, int tokens);
/* The forward of n new tokens at positions g->pos; the hidden states of rows rows[0..m) go through the final
 * norm and the LM head.  logits (host, m x V) non-NULL: they come back; else row k's token is drawn on the
 * device (temperature, uniforms[k]) into ids[k] and logprobs[k] (host). */
int ilr_cuda_gen_forward(ilr_generator *g, const int *slots, const int *tokens, int n, const int *rows, int m,
                         float *logits, float temperature, const double *uniforms, int *ids, float *logprobs);

#endif
