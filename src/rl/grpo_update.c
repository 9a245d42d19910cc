/* GRPO's policy update (see include/ilr/grpo.h): mu optimizer steps over a rollout batch. */
#include <stdlib.h>
#include <string.h>

#include "ilr/dist.h"
#include "ilr/error.h"
#include "ilr/grpo.h"

void ilr_grpo_update_params_from_config(ilr_grpo_update_params *hp, const ilr_train_config *c) {
    memset(hp, 0, sizeof *hp);
    hp->loss = (ilr_grpo_loss_params){(float)c->epsilon, (float)c->epsilon_high, (float)c->beta};
    hp->num_iterations = (int)c->num_iterations;
    hp->micro_batch = (int)c->micro_batch;
    hp->temperature = (float)c->temperature;
    hp->lr = (ilr_lr_schedule){(float)c->lr, (int)c->warmup_steps, c->steps * c->num_iterations, (float)c->min_lr_ratio,
                               (ilr_lr_shape)c->lr_schedule};
    hp->adam_beta1 = (float)c->adam_beta1;
    hp->adam_beta2 = (float)c->adam_beta2;
    hp->adam_eps = (float)c->adam_eps;
    hp->weight_decay = (float)c->weight_decay;
    hp->max_grad_norm = (float)c->max_grad_norm;
}

/* Fills a transformer batch with completions idx[0..B): prompt + completion, the completion's tokens as
 * targets.  Returns the padded length T. */
static int fill_batch(const ilr_rollout_batch *b, const int *idx, int B, int *tokens, int *lengths, int *targets) {
    int T = 1;
    for (int r = 0; r < B; r++) {
        int len = b->prompt_len[idx[r]] + b->out[idx[r]].count;
        if (len > T) T = len;
    }
    for (int r = 0; r < B; r++) {
        int k = idx[r], pl = b->prompt_len[k], n = b->out[k].count;
        int *tok = tokens + (long)r * T, *tgt = targets + (long)r * T;
        memcpy(tok, b->prompt[k], sizeof(int) * (size_t)pl);
        memcpy(tok + pl, b->out[k].ids, sizeof(int) * (size_t)n);
        for (int t = pl + n; t < T; t++) tok[t] = 0;
        for (int t = 0; t < T; t++) tgt[t] = -1;
        for (int j = 0; j < n; j++) tgt[pl - 1 + j] = b->out[k].ids[j];
        lengths[r] = pl + n;
    }
    return T;
}

typedef struct {
    int *tokens, *targets, *lengths;
    float *dlogp;
    int *active;      /* completions that carry a gradient */
    int num_active;
    float **ref_lp;   /* (S) reference log-probs of active completions (beta > 0) */
} update_scratch;

static void scratch_free(update_scratch *w, int S) {
    free(w->tokens);
    free(w->targets);
    free(w->lengths);
    free(w->dlogp);
    free(w->active);
    for (int k = 0; w->ref_lp && k < S; k++) free(w->ref_lp[k]);
    free(w->ref_lp);
}

/* Longest first, then by index: micro-batches of similar lengths waste little on padding. */
static int longer_first(const void *a, const void *b) {
    const int *x = a, *y = b;
    return x[0] != y[0] ? (x[0] < y[0]) - (x[0] > y[0]) : (x[1] > y[1]) - (x[1] < y[1]);
}

/* Orders the active completions by length (prompt + completion), longest first. */
static int sort_by_length(update_scratch *w, const ilr_rollout_batch *b) {
    int (*pairs)[2] = malloc(sizeof *pairs * (size_t)(w->num_active ? w->num_active : 1));
    if (!pairs) return ILR_FAIL(ILR_ENOMEM, "out of memory");
    for (int i = 0; i < w->num_active; i++) pairs[i][0] = b->prompt_len[w->active[i]] + b->out[w->active[i]].count, pairs[i][1] = w->active[i];
    qsort(pairs, (size_t)w->num_active, sizeof *pairs, longer_first);
    for (int i = 0; i < w->num_active; i++) w->active[i] = pairs[i][1];
    free(pairs);
    return 0;
}

/* The completions whose loss has a gradient: weight > 0 and, without a KL term, a non-zero advantage (a
 * group of equal rewards contributes exactly nothing then, so it is not run at all). */
static int scratch_init(update_scratch *w, const ilr_policy *p, const ilr_rollout_batch *b, const ilr_grpo_update_params *hp) {
    memset(w, 0, sizeof *w);
    size_t cells = (size_t)hp->micro_batch * p->ts.max_T;
    w->tokens = malloc(sizeof(int) * cells);
    w->targets = malloc(sizeof(int) * cells);
    w->lengths = malloc(sizeof(int) * (size_t)hp->micro_batch);
    w->dlogp = malloc(sizeof(float) * cells);
    w->active = malloc(sizeof(int) * (size_t)(b->S ? b->S : 1));
    int beta = hp->loss.beta > 0 && p->has_ref;
    if (beta) w->ref_lp = calloc((size_t)(b->S ? b->S : 1), sizeof *w->ref_lp);
    if (!w->tokens || !w->targets || !w->lengths || !w->dlogp || !w->active || (beta && !w->ref_lp))
        return ILR_FAIL(ILR_ENOMEM, "out of memory for the policy update");
    for (int k = 0; k < b->S; k++) {
        if (!(b->weight[k] > 0) || (!beta && b->adv[k] == 0)) continue;
        w->active[w->num_active++] = k;
        if (beta && !(w->ref_lp[k] = malloc(sizeof(float) * (size_t)b->out[k].count)))
            return ILR_FAIL(ILR_ENOMEM, "out of memory for reference log-probs");
    }
    return sort_by_length(w, b);
}

/* Over the N ranks that train the policy (p->group, include/ilr/dist.h) rank r trains the active completions r,
 * r + N, r + 2N, ... of the list sorted by length, so that the ranks get similar work; their gradients are summed
 * before each optimizer step. */
static void keep_rank_share(update_scratch *w, const ilr_dist_group *group) {
    int N = ilr_dist_group_size(group), n = 0;
    if (N == 1) return;
    for (int i = ilr_dist_group_rank(group); i < w->num_active; i += N) w->active[n++] = w->active[i];
    w->num_active = n;
}

/* The step's statistics summed over the policy's ranks (each holds its share's). */
static int sum_stats(ilr_grpo_update_stats *st, const ilr_dist_group *group) {
    double v[7] = {st->loss, st->entropy, st->entropy_tokens, st->tok.tokens, st->tok.kl, st->tok.low_clip, st->tok.high_clip};
    int rc = ilr_dist_sum_doubles(group, v, 7);
    st->loss = v[0], st->entropy = v[1], st->entropy_tokens = v[2];
    st->tok = (ilr_grpo_token_stats){v[3], v[4], v[5], v[6]};
    return rc;
}

/* Log-probabilities of the active completions under the frozen reference. */
static void reference_logprobs(ilr_policy *p, const ilr_rollout_batch *b, const ilr_grpo_update_params *hp, update_scratch *w) {
    for (int first = 0; first < w->num_active; first += hp->micro_batch) {
        int B = w->num_active - first < hp->micro_batch ? w->num_active - first : hp->micro_batch;
        int T = fill_batch(b, w->active + first, B, w->tokens, w->lengths, w->targets);
        ilr_transformer_forward(&p->ref_tr, w->tokens, w->lengths, w->targets, B, T);
        for (int r = 0; r < B; r++) {
            int k = w->active[first + r], n = b->out[k].count;
            long at = (long)r * T + w->lengths[r] - n - 1;
            memcpy(w->ref_lp[k], p->ref_tr.logprob + at, sizeof(float) * (size_t)n);
        }
    }
}

/* One pass over the active completions: forward, token losses, backward (gradients accumulate). */
static double loss_pass(ilr_policy *p, const ilr_rollout_batch *b, const ilr_grpo_update_params *hp, update_scratch *w,
                        ilr_grpo_update_stats *st, int *error) {
    double loss = 0;
    for (int first = 0; first < w->num_active; first += hp->micro_batch) {
        int B = w->num_active - first < hp->micro_batch ? w->num_active - first : hp->micro_batch;
        int T = fill_batch(b, w->active + first, B, w->tokens, w->lengths, w->targets);
        int rc = ilr_train_state_forward(&p->ts, w->tokens, w->lengths, NULL, w->targets, B, T, hp->temperature);
        if (rc) return *error = rc, loss;
        memset(w->dlogp, 0, sizeof(float) * (size_t)B * T);
        for (int r = 0; r < B; r++) {
            int k = w->active[first + r], n = b->out[k].count;
            long at = (long)r * T + w->lengths[r] - n - 1; /* the completion's first target position */
            for (int j = 0; j < n; j++) st->entropy += p->ts.entropy[at + j];
            st->entropy_tokens += n;
            loss += ilr_grpo_token_loss(w->dlogp + at, p->ts.logprob + at, b->out[k].logprobs,
                                        w->ref_lp ? w->ref_lp[k] : NULL, n, b->adv[k], b->weight[k], &hp->loss, &st->tok);
        }
        if ((rc = ilr_train_state_backward(&p->ts, w->dlogp))) return *error = rc, loss;
    }
    return loss;
}

int ilr_grpo_update(ilr_policy *p, const ilr_rollout_batch *b, const ilr_grpo_update_params *hp,
                    ilr_grpo_update_stats *st) {
    memset(st, 0, sizeof *st);
    /* the ratio, the KL and the gradient are those of the distribution sampled from: log softmax(logits / T),
     * as the generator recorded the rollout's log-probs (TRL divides the logits by T the same way) */
    if (p->has_ref) p->ref_tr.temperature = hp->temperature;
    update_scratch w;
    int rc = scratch_init(&w, p, b, hp);
    for (int i = 0; i < w.num_active; i++) st->trained_tokens += b->out[w.active[i]].count;
    keep_rank_share(&w, p->group);
    if (!rc && w.ref_lp) reference_logprobs(p, b, hp, &w);
    for (int it = 0; !rc && it < hp->num_iterations; it++) {
        ilr_train_state_zero_grad(&p->ts);
        st->loss += loss_pass(p, b, hp, &w, st, &rc) / hp->num_iterations;
        if (!rc) rc = ilr_train_state_sum_grads(&p->ts, p->group);
        if (rc) break;
        st->learning_rate = ilr_lr_at(&hp->lr, ilr_train_state_step(&p->ts) + 1);
        ilr_adamw_params adam = {(float)st->learning_rate, hp->adam_beta1, hp->adam_beta2, hp->adam_eps, hp->weight_decay};
        rc = ilr_train_state_adamw_step(&p->ts, &adam, hp->max_grad_norm, &st->grad_norm);
    }
    /* a CPU generator reads the host weights: bring the GPU's back, and remake its bf16 copy when it reads one (a
     * GPU generator reads the device's own; the final save syncs then) */
    if (!rc) rc = sum_stats(st, p->group);
    if (!rc && !p->gen.gpu) rc = ilr_train_state_sync_model(&p->ts);
    if (!rc && !p->gen.gpu) rc = ilr_gen_weights_changed(&p->gen);
    scratch_free(&w, b->S);
    return rc;
}
