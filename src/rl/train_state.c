/* One model's training state on the CPU or the GPU (see ilr/train_state.h). */
#include "ilr/train_state.h"

#include <assert.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ilr/checkpoint.h"
#include "ilr/dist.h"
#include "ilr/error.h"
#ifdef ILR_CUDA
#include "ilr/cuda.h"
#include "ilr/transformer_cuda.h"
#endif

/* ---- lanes: a small model's rows split between transformers that run at once ---- */

/* Models whose training step is ~25 kernels a layer of tens of microseconds: an OpenMP region around each cost
 * a tenth of the step at 2 threads (the world's agents trained 1.8x as fast on 2 threads as on 1). */
#define LANES_MAX_PARAMS (2u << 20)
#define LANES_DEFAULT 4

/* ILR_TRAIN_LANES (1 to ILR_TRAIN_MAX_LANES; 1 turns lanes off) or, for a small model, LANES_DEFAULT or one a
 * thread where there are more threads (so up to LANES_DEFAULT threads give the same bits), at most B. */
static int lane_count(const ilr_model *model, int B) {
    const char *e = getenv("ILR_TRAIN_LANES");
    int threads = omp_get_max_threads();
    int lanes = model->table.total > LANES_MAX_PARAMS ? 1 : threads > LANES_DEFAULT ? threads : LANES_DEFAULT;
    if (e && *e) lanes = atoi(e);
    lanes = lanes < 1 ? 1 : lanes > ILR_TRAIN_MAX_LANES ? ILR_TRAIN_MAX_LANES : lanes;
    return lanes < B ? lanes : B;
}

static ilr_transformer *lane_of(ilr_train_state *s, int j) { return j ? &s->lane[j - 1] : &s->cpu; }

static int cpu_init(ilr_train_state *s, ilr_model *model, int B, int T, int recompute) {
    s->lanes = lane_count(model, B);
    int rows = (B + s->lanes - 1) / s->lanes, rc = 0;
    if (s->lanes > 1) {
        s->lane = calloc((size_t)s->lanes - 1, sizeof *s->lane);
        s->lane_logprob = malloc(sizeof(float) * (size_t)B * T);
        s->lane_entropy = malloc(sizeof(float) * (size_t)B * T);
        if (!s->lane || !s->lane_logprob || !s->lane_entropy) return ILR_FAIL(ILR_ENOMEM, "out of memory for the lanes");
    }
    for (int j = 0; j < s->lanes && !rc; j++)
        rc = recompute ? ilr_transformer_init_recompute(lane_of(s, j), model, rows, T)
                       : ilr_transformer_init(lane_of(s, j), model, rows, T);
    s->logprob = s->lanes > 1 ? s->lane_logprob : s->cpu.logprob;
    s->entropy = s->lanes > 1 ? s->lane_entropy : s->cpu.entropy;
    return rc;
}

/* The lanes' gradients added into the first's, in lane order, each lane's then zero again. */
static void add_lane_grads(ilr_train_state *s) {
    if (!s->lane_grads_pending) return;
    size_t n = s->model->table.total;
    float *g = s->cpu.grads;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++)
        for (int j = 1; j < s->lanes; j++) g[i] += s->lane[j - 1].grads[i], s->lane[j - 1].grads[i] = 0.0f;
    s->lane_grads_pending = 0;
}

static void lanes_forward(ilr_train_state *s, const int *tokens, const int *lengths, const int *positions,
                          const int *targets, int B, int T, float temperature) {
    int used = s->lanes < B ? s->lanes : B;
    for (int j = 0; j <= s->lanes; j++) s->lane_rows[j] = (int)((long)B * (j < used ? j : used) / used);
    /* one row: the first lane alone, its kernels with every thread */
#pragma omp parallel for schedule(static) if (used > 1)
    for (int j = 0; j < used; j++) {
        ilr_transformer *tr = lane_of(s, j);
        int lo = s->lane_rows[j], n = s->lane_rows[j + 1] - lo;
        size_t at = (size_t)lo * T;
        tr->temperature = temperature;
        ilr_transformer_forward_packed(tr, tokens + at, lengths + lo, positions ? positions + at : NULL, targets + at, n, T);
        memcpy(s->lane_logprob + at, tr->logprob, sizeof(float) * (size_t)n * T);
        memcpy(s->lane_entropy + at, tr->entropy, sizeof(float) * (size_t)n * T);
    }
    s->lane_T = T;
}

static void lanes_backward(ilr_train_state *s, const float *dlogprob) {
#pragma omp parallel for schedule(static) if (s->lane_rows[2] > s->lane_rows[1])
    for (int j = 0; j < s->lanes; j++) {
        int lo = s->lane_rows[j], n = s->lane_rows[j + 1] - lo;
        if (n > 0) ilr_transformer_backward(lane_of(s, j), dlogprob + (size_t)lo * s->lane_T);
    }
    s->lane_grads_pending = 1;
}

int ilr_train_state_init(ilr_train_state *s, ilr_model *model, int B, int T, ilr_device device, int recompute) {
    memset(s, 0, sizeof *s);
    s->device = device;
    s->model = model;
    s->max_B = B, s->max_T = T;
    s->lanes = 1;
    if (device == ILR_DEVICE_CPU) return cpu_init(s, model, B, T, recompute);
    if (recompute)
        return ILR_FAIL(ILR_EUNSUPPORTED, "activation recomputation is for the CPU training step; the GPU's keeps every "
                        "layer's activations (in bf16)");
#ifdef ILR_CUDA
    ilr_cuda_transformer *g = calloc(1, sizeof *g);
    if (!g) return ILR_FAIL(ILR_ENOMEM, "out of memory");
    int rc = ilr_cuda_init(0);
    if (!rc) rc = ilr_cuda_transformer_init(g, model, B, T);
    if (rc) return free(g), rc;
    s->gpu = g;
    s->logprob = g->logprob, s->entropy = g->entropy;
    return 0;
#else
    return ILR_FAIL(ILR_EUNSUPPORTED, "device cuda: this ilr was built without the CUDA backend (make CUDA=1)");
#endif
}

void ilr_train_state_free(ilr_train_state *s) {
    if (s->cpu.model) ilr_transformer_free(&s->cpu);
    for (int j = 1; s->lane && j < s->lanes; j++)
        if (s->lane[j - 1].model) ilr_transformer_free(&s->lane[j - 1]);
    free(s->lane);
    free(s->lane_logprob);
    free(s->lane_entropy);
#ifdef ILR_CUDA
    if (s->gpu) ilr_cuda_transformer_free(s->gpu);
#endif
    free(s->gpu);
    memset(s, 0, sizeof *s);
}

#ifdef ILR_CUDA
#define GPU(s) ((ilr_cuda_transformer *)(s)->gpu)
#endif

int ilr_train_state_forward(ilr_train_state *s, const int *tokens, const int *lengths, const int *positions,
                            const int *targets, int B, int T, float temperature) {
#ifdef ILR_CUDA
    if (s->gpu) {
        GPU(s)->temperature = temperature;
        return ilr_cuda_transformer_forward(GPU(s), tokens, lengths, positions, targets, B, T);
    }
#endif
    if (s->lanes > 1) {
        lanes_forward(s, tokens, lengths, positions, targets, B, T, temperature);
        return 0;
    }
    s->cpu.temperature = temperature;
    ilr_transformer_forward_packed(&s->cpu, tokens, lengths, positions, targets, B, T);
    return 0;
}

int ilr_train_state_backward(ilr_train_state *s, const float *dlogprob) {
#ifdef ILR_CUDA
    if (s->gpu) return ilr_cuda_transformer_backward(GPU(s), dlogprob);
#endif
    if (s->lanes > 1) lanes_backward(s, dlogprob);
    else ilr_transformer_backward(&s->cpu, dlogprob);
    return 0;
}

void ilr_train_state_zero_grad(ilr_train_state *s) {
#ifdef ILR_CUDA
    if (s->gpu) return ilr_cuda_transformer_zero_grad(GPU(s));
#endif
    ilr_transformer_zero_grad(&s->cpu);
    for (int j = 1; s->lane_grads_pending && j < s->lanes; j++) ilr_transformer_zero_grad(&s->lane[j - 1]);
    s->lane_grads_pending = 0;
}

int ilr_train_state_sum_grads(ilr_train_state *s, const ilr_dist_group *group) {
    add_lane_grads(s);
    int n = ilr_dist_group_size(group);
    if (n == 1) return 0;
    if (s->gpu) return ILR_FAIL(ILR_EUNSUPPORTED, "data-parallel training over %d ranks is for the CPU training step", n);
    return ilr_dist_sum_floats(group, s->cpu.grads, (size_t)s->model->table.total);
}

int ilr_train_state_adamw_step(ilr_train_state *s, const ilr_adamw_params *hp, float max_grad_norm, double *grad_norm) {
#ifdef ILR_CUDA
    if (s->gpu) return ilr_cuda_transformer_adamw_step(GPU(s), hp, max_grad_norm, grad_norm);
#endif
    add_lane_grads(s);
    int rc = ilr_transformer_adamw_step(&s->cpu, hp, max_grad_norm, grad_norm);
    /* ZeRO-1: each rank has updated its share of the weights */
    return rc || !s->zero1 ? rc : ilr_dist_allgather_shares(s->zero1_group, s->model->params, s->model->table.total);
}

int ilr_train_state_shard_optimizer(ilr_train_state *s, const ilr_dist_group *group) {
    int n = ilr_dist_group_size(group);
    if (n == 1) return 0;
    if (s->gpu) return ILR_FAIL(ILR_EUNSUPPORTED, "ZeRO-1 over %d ranks is for the CPU training step", n);
    long total = (long)s->model->table.total, lo, hi;
    ilr_dist_share(total, ilr_dist_group_rank(group), n, &lo, &hi);
    if (lo == hi) return ILR_FAIL(ILR_EINVAL, "ZeRO-1: %ld parameters over %d ranks leave a rank none", total, n);
    ilr_transformer_shard_moments(&s->cpu, (size_t)lo, (size_t)hi);
    s->zero1 = 1, s->zero1_group = group;
    return 0;
}

size_t ilr_train_state_moments_bytes(const ilr_train_state *s, size_t *whole) {
    size_t lo = 0, hi = s->model->table.total;
    if (whole) *whole = 2 * sizeof(float) * hi;
    if (s->zero1) ilr_transformer_moments_range(&s->cpu, &lo, &hi);
    return 2 * sizeof(float) * (hi - lo);
}

void ilr_train_state_describe_zero1(const ilr_train_state *s, char *buf, size_t cap) {
    if (!s->zero1) {
        snprintf(buf, cap, "%s", "");
        return;
    }
    size_t whole, mine = ilr_train_state_moments_bytes(s, &whole), lo, hi;
    ilr_transformer_moments_range(&s->cpu, &lo, &hi);
    snprintf(buf, cap, "ZeRO-1: AdamW moments %.1f MiB on this rank instead of %.1f MiB (parameters [%zu, %zu) of %zu)",
             mine / 1048576.0, whole / 1048576.0, lo, hi, (size_t)s->model->table.total);
}

int ilr_train_state_send_moments(ilr_train_state *s) {
    if (!s->zero1 || !s->cpu.adam_m) return 0; /* no step taken yet: nothing to keep (alike on every rank) */
    size_t n = s->model->table.total;
    int rc = ilr_dist_gather_shares(s->zero1_group, s->cpu.adam_m, NULL, n);
    return rc ? rc : ilr_dist_gather_shares(s->zero1_group, s->cpu.adam_v, NULL, n);
}

/* The writer's side of ilr_train_state_send_moments: every parameter's moment k gathered into the gradients. */
static int gather_moment(void *ctx, int k, const float **values) {
    ilr_train_state *s = ctx;
    *values = s->cpu.grads;
    return ilr_dist_gather_shares(s->zero1_group, k ? s->cpu.adam_v : s->cpu.adam_m, s->cpu.grads,
                                  s->model->table.total);
}

int ilr_train_state_step(const ilr_train_state *s) {
#ifdef ILR_CUDA
    if (s->gpu) return GPU(s)->adam_step;
#endif
    return s->cpu.adam_step;
}

int ilr_train_state_device_params(const ilr_train_state *s, const float **params_f32, const void **params_bf16) {
#ifdef ILR_CUDA
    if (s->gpu) return *params_f32 = GPU(s)->params, *params_bf16 = GPU(s)->params_bf16, 0;
#endif
    (void)s, (void)params_f32, (void)params_bf16;
    return ILR_EUNSUPPORTED;
}

int ilr_train_state_sync_model(ilr_train_state *s) {
#ifdef ILR_CUDA
    if (s->gpu) return ilr_cuda_transformer_download_params(GPU(s));
#endif
    return 0;
}

#ifdef ILR_CUDA
/* The checkpoint code reads and writes an ilr_transformer's moments (host arrays); on the GPU a transformer
 * holding only those (no activations) carries them through host memory. */
static int host_moments(ilr_train_state *s, ilr_transformer *view) {
    memset(view, 0, sizeof *view);
    view->model = s->model;
    view->adam_step = GPU(s)->adam_step;
    return ilr_transformer_alloc_moments(view);
}
static void free_host_moments(ilr_transformer *view) {
    ilr_aligned_free(view->adam_m);
    ilr_aligned_free(view->adam_v);
}
#endif

/* ilr_checkpoint_save (atomic) or ilr_checkpoint_write (a part), with the state's moments on the host. */
static int checkpoint(ilr_train_state *s, const char *dir, const char *tokenizer_dir, const json_t *state, int atomic) {
    int (*write)(const char *, const ilr_model *, const ilr_transformer *, const char *, const json_t *) =
        atomic ? ilr_checkpoint_save : ilr_checkpoint_write;
#ifdef ILR_CUDA
    if (s->gpu) {
        ilr_transformer view;
        int rc = ilr_train_state_sync_model(s);
        if (!rc) rc = host_moments(s, &view);
        if (!rc && GPU(s)->adam_m) rc = ilr_cuda_transformer_download_moments(GPU(s), view.adam_m, view.adam_v);
        if (!rc) rc = write(dir, s->model, GPU(s)->adam_m ? &view : NULL, tokenizer_dir, state);
        free_host_moments(&view);
        return rc;
    }
#endif
    if (!s->zero1) return write(dir, s->model, &s->cpu, tokenizer_dir, state);
    assert(ilr_dist_group_rank(s->zero1_group) == 0 && "a sharded state's checkpoint is its group's first rank's");
    ilr_checkpoint_moments mo = {s->cpu.adam_step, s->cpu.adam_m ? gather_moment : NULL, s};
    return (atomic ? ilr_checkpoint_save_fetched : ilr_checkpoint_write_fetched)(dir, s->model, &mo, tokenizer_dir, state);
}

int ilr_train_state_save_checkpoint(ilr_train_state *s, const char *dir, const char *tokenizer_dir, const json_t *state) {
    return checkpoint(s, dir, tokenizer_dir, state, 1);
}

int ilr_train_state_write_checkpoint(ilr_train_state *s, const char *dir, const char *tokenizer_dir, const json_t *state) {
    return checkpoint(s, dir, tokenizer_dir, state, 0);
}

int ilr_train_state_load_checkpoint(ilr_train_state *s, const char *dir, json_t **state) {
#ifdef ILR_CUDA
    if (s->gpu) {
        ilr_transformer view;
        int rc = host_moments(s, &view);
        if (!rc) rc = ilr_checkpoint_load_state(dir, &view, state);
        if (!rc && view.adam_step > 0)
            rc = ilr_cuda_transformer_upload_moments(GPU(s), view.adam_m, view.adam_v, view.adam_step);
        free_host_moments(&view);
        return rc;
    }
#endif
    return ilr_checkpoint_load_state(dir, &s->cpu, state);
}
