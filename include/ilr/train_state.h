/* The training state of one model on the device a run chose: the CPU transformer (ilr/transformer.h) or, in a
 * build with the CUDA backend (make CUDA=1), the GPU one (ilr/transformer_cuda.h).  Trainers drive it the same
 * way on either: forward (log-probabilities and entropies come back to the host), backward from
 * d(loss)/d(logprob), AdamW, checkpoints.
 *
 * On the GPU the master weights live on the device: ilr_train_state_sync_model copies them into the host
 * model before anything on the host reads it (the generation engine, saving); checkpoints bring the AdamW
 * moments through host memory for the write (and back for a resume), so a checkpoint is the same files
 * whichever device wrote it, and either device resumes it. */
#ifndef ILR_TRAIN_STATE_H
#define ILR_TRAIN_STATE_H

#include <jansson.h>

#include "ilr/device.h"
#include "ilr/dist.h"
#include "ilr/model.h"
#include "ilr/transformer.h"

/* The most lanes a CPU training state splits its rows between (ILR_TRAIN_LANES may ask for fewer). */
#define ILR_TRAIN_MAX_LANES 8

typedef struct {
    ilr_device device;
    ilr_model *model;             /* not owned */
    int max_B, max_T;             /* the sizes it was made for */
    ilr_transformer cpu;          /* the CPU state (unused on the GPU) */
    void *gpu;                    /* an ilr_cuda_transformer on the GPU */
    const float *logprob, *entropy; /* the last forward's, on the host (B * T) */
    int zero1;                    /* the AdamW moments are sharded over zero1_group (ilr_train_state_shard_optimizer) */
    /* A small model's CPU state splits each batch's rows between `lanes` transformers (cpu is the first, the
     * others in lane[]), each running its rows' forward and backward with its kernels alone, the lanes on the
     * threads at once; their gradients are added into cpu's, in lane order, before the gradient is used.  The
     * lane count does not depend on the thread count, so neither do the results. */
    int lanes;
    ilr_transformer *lane;        /* lanes - 1 of them */
    int lane_rows[ILR_TRAIN_MAX_LANES + 1]; /* the last forward's: lane j ran rows [lane_rows[j], lane_rows[j + 1]) */
    float *lane_logprob, *lane_entropy; /* the lanes' outputs together (max_B * max_T) */
    int lane_T;                   /* the last forward's T */
    int lane_grads_pending;       /* lanes other than the first hold gradients not yet added into cpu's */
    const ilr_dist_group *zero1_group; /* not owned; NULL: the job */
} ilr_train_state;

/* Sizes the state for batches up to B x T on device (starting the GPU when it is cuda).  recompute: keep only
 * each layer's input through the forward pass and recompute the rest in backward (ilr_transformer_init_recompute;
 * the CPU only: ILR_EUNSUPPORTED on cuda). */
int ilr_train_state_init(ilr_train_state *s, ilr_model *model, int B, int T, ilr_device device, int recompute);
void ilr_train_state_free(ilr_train_state *s);

/* As ilr_transformer_forward_packed (positions may be NULL), at temperature (> 0). */
int ilr_train_state_forward(ilr_train_state *s, const int *tokens, const int *lengths, const int *positions,
                            const int *targets, int B, int T, float temperature);
int ilr_train_state_backward(ilr_train_state *s, const float *dlogprob);
void ilr_train_state_zero_grad(ilr_train_state *s);
/* The gradient summed over the ranks of group (include/ilr/dist.h; NULL: the job; nothing in one process), the
 * same bits on each of them: before ilr_train_state_adamw_step, each rank having accumulated its share of the
 * batch.  The CPU state only (ILR_EUNSUPPORTED on the GPU over several ranks). */
int ilr_train_state_sum_grads(ilr_train_state *s, const ilr_dist_group *group);
int ilr_train_state_adamw_step(ilr_train_state *s, const ilr_adamw_params *hp, float max_grad_norm, double *grad_norm);
/* ZeRO-1: the AdamW moments sharded over the ranks of group (NULL: the job), the ones that train this state: each
 * rank holds and updates the moments of its share of the parameters (ilr_dist_share), and each optimizer step
 * ends with an allgather of the updated weights, so that every rank holds all of them again, the same bits as
 * without sharding (AdamW is elementwise; the clipping norm is the whole summed gradient's, on every rank).  Call
 * it after init and before a resume loads the moments (it then reads its share).  Nothing to do over one rank;
 * ILR_EUNSUPPORTED on the GPU over several. */
int ilr_train_state_shard_optimizer(ilr_train_state *s, const ilr_dist_group *group);
/* Bytes the AdamW moments take on this rank, and in *whole (may be NULL) those of every parameter's. */
size_t ilr_train_state_moments_bytes(const ilr_train_state *s, size_t *whole);
/* "ZeRO-1: AdamW moments 1.4 MiB on this rank instead of 2.8 MiB (parameters [0, 175000) of 350000)" into
 * buf (for a run's header); "" when the state is not sharded. */
void ilr_train_state_describe_zero1(const ilr_train_state *s, char *buf, size_t cap);
/* A checkpoint of a sharded state is written by its group's first rank (ilr_train_state_save_checkpoint or
 * _write_checkpoint) while each other rank of the group calls this: their shares of the moments reach the writer
 * one moment at a time, into its gradient buffer (unused between optimizer steps), as it writes them, so that the
 * files are those of an unsharded run and no rank ever holds every parameter's moments.  Nothing to do on a state
 * that is not sharded. */
int ilr_train_state_send_moments(ilr_train_state *s);
/* Optimizer steps taken (resumed ones included). */
int ilr_train_state_step(const ilr_train_state *s);
/* On the GPU: the device's fp32 master weights and their bf16 copy (laid out like model->params), for a generator
 * that reads them (ilr_gen_init_cuda_shared); ILR_EUNSUPPORTED (no error recorded) on the CPU. */
int ilr_train_state_device_params(const ilr_train_state *s, const float **params_f32, const void **params_bf16);
/* The device's weights into the host model (nothing to do on the CPU). */
int ilr_train_state_sync_model(ilr_train_state *s);

/* ilr_checkpoint_save / ilr_checkpoint_load_state for this state (the host model synced first).  A sharded state
 * is written by its group's first rank, between optimizer steps, while the others ilr_train_state_send_moments;
 * each rank loads its own share. */
int ilr_train_state_save_checkpoint(ilr_train_state *s, const char *dir, const char *tokenizer_dir, const json_t *state);
int ilr_train_state_load_checkpoint(ilr_train_state *s, const char *dir, json_t **state);
/* ilr_checkpoint_write's twin (one part of a checkpoint of several). */
int ilr_train_state_write_checkpoint(ilr_train_state *s, const char *dir, const char *tokenizer_dir, const json_t *state);

#endif
