/* GRPO's arithmetic (see include/ilr/grpo_loss.h): advantages, token loss, aggregation weights. */
#include "ilr/grpo_loss.h"

#include <math.h>
#include <stddef.h>

/* Bessel-corrected standard deviation of n values (0 for n < 2), in double. */
static double std_dev(const float *x, int n, double *mean_out) {
    double mean = 0, var = 0;
    for (int i = 0; i < n; i++) mean += x[i];
    mean /= n > 0 ? n : 1;
    for (int i = 0; i < n; i++) var += (x[i] - mean) * (x[i] - mean);
    if (mean_out) *mean_out = mean;
    return n > 1 ? sqrt(var / (n - 1)) : 0;
}

/* One group's advantages; returns 1 when its rewards are all equal (then every advantage is exactly 0,
 * whatever rounding the mean picked up). */
static int group_advantages(float *adv, const float *r, int n, ilr_grpo_scale scale, double batch_std) {
    double mean, sd = std_dev(r, n, &mean);
    int all_equal = 1;
    for (int k = 1; k < n; k++) all_equal &= r[k] == r[0];
    double denom = scale == ILR_GRPO_SCALE_GROUP ? sd + ILR_GRPO_STD_EPS
                 : scale == ILR_GRPO_SCALE_BATCH ? batch_std + ILR_GRPO_STD_EPS : 1.0;
    for (int k = 0; k < n; k++) adv[k] = all_equal ? 0.0f : (float)((r[k] - mean) / denom);
    return all_equal;
}

void ilr_grpo_advantages(float *adv, const float *rewards, int num_groups, int G, ilr_grpo_scale scale,
                         int *zero_std_groups) {
    double batch_std = scale == ILR_GRPO_SCALE_BATCH ? std_dev(rewards, num_groups * G, NULL) : 0;
    int zero = 0;
    for (int g = 0; g < num_groups; g++)
        zero += group_advantages(adv + (long)g * G, rewards + (long)g * G, G, scale, batch_std);
    if (zero_std_groups) *zero_std_groups = zero;
}

void ilr_grpo_group_advantages(float *adv, const float *rewards, const int *group_start, int num_groups,
                               ilr_grpo_scale scale, int *zero_std_groups) {
    int S = num_groups ? group_start[num_groups] - group_start[0] : 0;
    double batch_std = scale == ILR_GRPO_SCALE_BATCH ? std_dev(rewards + (num_groups ? group_start[0] : 0), S, NULL) : 0;
    int zero = 0;
    for (int g = 0; g < num_groups; g++) {
        int at = group_start[g], n = group_start[g + 1] - at;
        zero += group_advantages(adv + at, rewards + at, n, scale, batch_std);
    }
    if (zero_std_groups) *zero_std_groups = zero;
}

void ilr_grpo_sequence_weights(float *weight, const int *len, const unsigned char *masked, int S,
                               ilr_grpo_loss_type type, int max_completion_len) {
    long tokens = 0;
    for (int s = 0; s < S; s++)
        if (!(masked && masked[s]) && len[s] > 0) tokens += len[s];
    for (int s = 0; s < S; s++) {
        if ((masked && masked[s]) || len[s] <= 0) {
            weight[s] = 0;
            continue;
        }
        /* grpo and dr_grpo divide by every sequence, masked ones included (TRL's mean over the batch);
         * dapo by the tokens that have a loss */
        switch (type) {
        case ILR_GRPO_LOSS_GRPO: weight[s] = (float)(1.0 / ((double)S * len[s])); break;
        case ILR_GRPO_LOSS_DR_GRPO: weight[s] = (float)(1.0 / ((double)S * max_completion_len)); break;
        default: weight[s] = (float)(1.0 / (double)tokens); break;
        }
    }
}

double ilr_grpo_kl_k3(double logp, double ref_logp, double *dkl_dlogp) {
    double d = ref_logp - logp, e = exp(d);
    if (dkl_dlogp) *dkl_dlogp = 1.0 - e;
    return e - d - 1.0;
}

double ilr_grpo_token_loss(float *dlogp, const float *logp, const float *old_logp, const float *ref_logp, int n,
                           float advantage, float weight, const ilr_grpo_loss_params *p, ilr_grpo_token_stats *stats) {
    double sum = 0, A = advantage;
    double lo = 1.0 - p->eps_low, hi = 1.0 + p->eps_high;
    for (int t = 0; t < n; t++) {
        double rho = exp((double)logp[t] - old_logp[t]);
        double clipped = rho < lo ? lo : rho > hi ? hi : rho;
        double unclipped_term = rho * A, clipped_term = clipped * A;
        /* -min(rho A, clip(rho) A): the gradient flows through rho A unless the clipped term is strictly smaller */
        double loss, grad;
        if (clipped_term < unclipped_term) loss = -clipped_term, grad = 0;
        else loss = -unclipped_term, grad = -rho * A;
        double kl = 0;
        if (p->beta != 0) {
            double dkl;
            kl = ilr_grpo_kl_k3(logp[t], ref_logp[t], &dkl);
            loss += p->beta * kl;
            grad += p->beta * dkl;
        }
        sum += loss;
        dlogp[t] = (float)(weight * grad);
        if (stats) {
            stats->tokens += 1;
            stats->kl += kl;
            stats->low_clip += rho < lo && A < 0;
            stats->high_clip += rho > hi && A > 0;
        }
    }
    return weight * sum;
}
