/* The decoder's training forward and backward and the AdamW step on an NVIDIA GPU (built with `make CUDA=1`):
 * the same computation as ilr/transformer.h, layer for layer, in the CUDA backend's precision (ilr/cuda.h):
 * fp32 master weights, gradients and AdamW moments on the device, bf16 weight copies and bf16 activations,
 * fp32 log-probabilities.  Inputs and outputs are host arrays, as for the CPU transformer, so a trainer drives
 * either one the same way: tokens, lengths, positions and targets in; log-probabilities and entropies out;
 * d(loss)/d(logprob) in for backward.
 *
 * The model's host parameters are uploaded at init; ilr_cuda_transformer_download_params writes the device's
 * master weights back (checkpoints, the final model). */
#ifndef ILR_TRANSFORMER_CUDA_H
#define ILR_TRANSFORMER_CUDA_H

#include "ilr/cuda.h"
#include "ilr/model.h"

typedef struct {
    ilr_bf16 *resid, *ln1, *q, *k, *v, *atty, *resid_mid, *ln2, *gate, *up, *act;
    float *ln1_rstd, *ln2_rstd, *lse; /* lse: the attention rows' log-sum-exp (B, NH, T) */
} ilr_cuda_layer_acts;

typedef struct {
    ilr_model *model; /* host weights and configuration, not owned */
    int max_B, max_T, B, T, packed, vocab_chunk;
    float temperature, last_temperature; /* as in ilr_transformer */
    size_t n_params;
    float *params, *grads, *adam_m, *adam_v; /* device, fp32, laid out like model->params */
    ilr_bf16 *params_bf16;                   /* device: the bf16 copy the kernels read */
    int adam_step;
    void *arena;                  /* device: every activation and buffer below, one allocation */
    size_t arena_bytes;
    ilr_cuda_layer_acts *layers;  /* host array of device pointers */
    ilr_bf16 *resid_out, *lnf;
    float *lnf_rstd, *rope_cos, *rope_sin;
    int *tokens, *targets, *pos, *lengths;
    float *logprob_d, *entropy_d, *lse_d, *dlogprob_d;
    ilr_bf16 *d_resid, *d_ln, *d_lnf, *d_q, *d_k, *d_v, *d_atty, *d_gate, *d_up, *d_act;
    float *scratch;
    size_t scratch_floats;
    float *logprob, *entropy; /* host: the last forward's results (max_B * max_T) */
    int *host_ints;           /* host staging for the integer inputs */
} ilr_cuda_transformer;

/* Uploads model's parameters and sizes everything for batches up to B x T (ilr_cuda_init first). */
int ilr_cuda_transformer_init(ilr_cuda_transformer *tr, ilr_model *model, int B, int T);
void ilr_cuda_transformer_free(ilr_cuda_transformer *tr);
/* Device bytes this state holds (parameters, gradients, moments, activations, scratch). */
size_t ilr_cuda_transformer_bytes(const ilr_cuda_transformer *tr);

/* As ilr_transformer_forward_packed (positions may be NULL); fills tr->logprob and tr->entropy (host). */
int ilr_cuda_transformer_forward(ilr_cuda_transformer *tr, const int *tokens, const int *lengths, const int *positions,
                                 const int *targets, int B, int T);
/* As ilr_transformer_backward: accumulates into the device gradients from dlogprob (host, B*T). */
int ilr_cuda_transformer_backward(ilr_cuda_transformer *tr, const float *dlogprob);
void ilr_cuda_transformer_zero_grad(ilr_cuda_transformer *tr);
/* As ilr_transformer_adamw_step (global-norm clipping, then AdamW); the bf16 copy follows the update. */
int ilr_cuda_transformer_adamw_step(ilr_cuda_transformer *tr, const ilr_adamw_params *hp, float max_grad_norm,
                                    double *grad_norm);
/* Device fp32 master weights -> model->params; device gradients -> grads (host, n_params floats). */
int ilr_cuda_transformer_download_params(ilr_cuda_transformer *tr);
int ilr_cuda_transformer_download_grads(const ilr_cuda_transformer *tr, float *grads);
/* The AdamW moments (host arrays of n_params floats) out of the device, and into it with the step count they
 * belong to (a resume). */
int ilr_cuda_transformer_download_moments(const ilr_cuda_transformer *tr, float *m, float *v);
int ilr_cuda_transformer_upload_moments(ilr_cuda_transformer *tr, const float *m, const float *v, int step);

#endif
