/* GRPO's rollout batch and step metrics (see include/ilr/grpo.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ilr/error.h"
#include "ilr/grpo.h"

void ilr_rollout_batch_init(ilr_rollout_batch *b) { memset(b, 0, sizeof *b); }

void ilr_rollout_batch_free(ilr_rollout_batch *b) {
    for (int s = 0; s < b->S; s++) {
        free(b->prompt[s]);
        ilr_gen_output_free(&b->out[s]);
    }
    free(b->prompt);
    free(b->prompt_len);
    free(b->out);
    free(b->reward);
    free(b->correct);
    free(b->formatted);
    free(b->adv);
    free(b->weight);
    free(b->masked);
    free(b->group_start);
    memset(b, 0, sizeof *b);
}

#define GROW(ptr, n) do { void *g_ = realloc((ptr), sizeof *(ptr) * (size_t)(n)); if (!g_) ok = 0; else (ptr) = g_; } while (0)

static int grow(ilr_rollout_batch *b) {
    int cap = b->cap ? 2 * b->cap : 64, ok = 1;
    GROW(b->prompt, cap);
    GROW(b->prompt_len, cap);
    GROW(b->out, cap);
    GROW(b->reward, cap);
    GROW(b->correct, cap);
    GROW(b->formatted, cap);
    GROW(b->adv, cap);
    GROW(b->weight, cap);
    GROW(b->masked, cap);
    if (!ok) return ILR_FAIL(ILR_ENOMEM, "out of memory for a rollout batch of %d", cap);
    b->cap = cap;
    return 0;
}

int ilr_rollout_batch_group(ilr_rollout_batch *b) {
    if (b->num_groups + 2 > b->group_cap) {
        int cap = b->group_cap ? 2 * b->group_cap : 32, ok = 1;
        GROW(b->group_start, cap);
        if (!ok) return ILR_FAIL(ILR_ENOMEM, "out of memory for rollout groups");
        b->group_cap = cap;
    }
    b->group_start[b->num_groups++] = b->S;
    b->group_start[b->num_groups] = b->S;
    return 0;
}

int ilr_rollout_batch_add(ilr_rollout_batch *b, const int *prompt, int prompt_len, ilr_gen_output *out,
                          const ilr_task_score *score) {
    if (!b->num_groups) return ILR_FAIL(ILR_EINVAL, "rollout batch: a completion before any group");
    if (b->S == b->cap && grow(b)) return ilr_last_error_code();
    int s = b->S;
    if (!(b->prompt[s] = malloc(sizeof(int) * (size_t)prompt_len))) return ILR_FAIL(ILR_ENOMEM, "out of memory");
    memcpy(b->prompt[s], prompt, sizeof(int) * (size_t)prompt_len);
    b->prompt_len[s] = prompt_len;
    b->out[s] = *out;
    memset(out, 0, sizeof *out);
    b->reward[s] = score->reward;
    b->correct[s] = score->correct;
    b->formatted[s] = score->formatted;
    b->adv[s] = b->weight[s] = 0;
    b->masked[s] = 0;
    b->S++;
    b->group_start[b->num_groups] = b->S;
    return 0;
}

void ilr_rollout_batch_finish(ilr_rollout_batch *b, ilr_grpo_scale scale, ilr_grpo_loss_type loss_type,
                              int max_new_tokens, int mask_truncated, int *zero_std) {
    ilr_grpo_group_advantages(b->adv, b->reward, b->group_start, b->num_groups, scale, zero_std);
    int *len = malloc(sizeof(int) * (size_t)(b->S ? b->S : 1));
    for (int s = 0; s < b->S; s++) {
        b->masked[s] = mask_truncated && b->out[s].reason == ILR_STOP_LENGTH;
        if (len) len[s] = b->out[s].count;
    }
    if (len) ilr_grpo_sequence_weights(b->weight, len, b->masked, b->S, loss_type, max_new_tokens);
    else memset(b->weight, 0, sizeof(float) * (size_t)b->S); /* out of memory: no loss rather than a wrong one */
    free(len);
}

/* ---- metrics ---- */

void ilr_grpo_metrics_compute(ilr_grpo_metrics *m, const ilr_rollout_batch *b, int zero_std) {
    memset(m, 0, sizeof *m);
    double sum = 0, sq = 0, correct = 0, formatted = 0, len_sum = 0, term_sum = 0, term = 0, clipped = 0, group_std = 0;
    m->min_length = b->S ? b->out[0].count : 0;
    for (int s = 0; s < b->S; s++) {
        int len = b->out[s].count;
        sum += b->reward[s], sq += (double)b->reward[s] * b->reward[s];
        correct += b->correct[s], formatted += b->formatted[s], len_sum += len;
        if (len < m->min_length) m->min_length = len;
        if (len > m->max_length) m->max_length = len;
        if (b->out[s].reason == ILR_STOP_LENGTH) clipped++;
        else term++, term_sum += len;
    }
    for (int g = 0; g < b->num_groups; g++) {
        int at = b->group_start[g], n = b->group_start[g + 1] - at;
        double mean = 0, var = 0;
        for (int k = 0; k < n; k++) mean += b->reward[at + k];
        mean /= n > 0 ? n : 1;
        for (int k = 0; k < n; k++) var += (b->reward[at + k] - mean) * (b->reward[at + k] - mean);
        group_std += n > 1 ? sqrt(var / (n - 1)) : 0;
    }
    double S = b->S ? b->S : 1;
    m->reward = sum / S;
    m->reward_std = b->num_groups ? group_std / b->num_groups : 0;
    m->reward_std_all = b->S > 1 ? sqrt(fmax(0, (sq - b->S * m->reward * m->reward) / (b->S - 1))) : 0;
    m->accuracy = correct / S;
    m->format_rate = formatted / S;
    m->frac_reward_zero_std = b->num_groups ? (double)zero_std / b->num_groups : 0;
    m->mean_length = len_sum / S;
    m->clipped_ratio = clipped / S;
    m->mean_terminated_length = term ? term_sum / term : 0;
}

static void put(json_t *j, const char *prefix, const char *name, double v) {
    char key[160];
    snprintf(key, sizeof key, "%s%s", prefix, name);
    json_object_set_new(j, key, json_real(v));
}

static void put_int(json_t *j, const char *prefix, const char *name, long v) {
    char key[160];
    snprintf(key, sizeof key, "%s%s", prefix, name);
    json_object_set_new(j, key, json_integer(v));
}

void ilr_grpo_metrics_json(json_t *j, const ilr_grpo_metrics *m, const char *prefix, const char *task) {
    char name[96];
    put(j, prefix, "reward", m->reward);
    put(j, prefix, "reward_std", m->reward_std);
    snprintf(name, sizeof name, "rewards/%s/mean", task);
    put(j, prefix, name, m->reward);
    snprintf(name, sizeof name, "rewards/%s/std", task);
    put(j, prefix, name, m->reward_std_all);
    put(j, prefix, "accuracy", m->accuracy);
    put(j, prefix, "format_rate", m->format_rate);
    put(j, prefix, "frac_reward_zero_std", m->frac_reward_zero_std);
    put(j, prefix, "completions/mean_length", m->mean_length);
    put_int(j, prefix, "completions/min_length", m->min_length);
    put_int(j, prefix, "completions/max_length", m->max_length);
    put(j, prefix, "completions/clipped_ratio", m->clipped_ratio);
    put(j, prefix, "completions/mean_terminated_length", m->mean_terminated_length);
}

void ilr_grpo_update_json(json_t *j, const ilr_grpo_update_stats *st, const char *prefix, int has_kl) {
    double ntok = st->tok.tokens > 0 ? st->tok.tokens : 1;
    put(j, prefix, "loss", st->loss);
    put(j, prefix, "grad_norm", st->grad_norm);
    put(j, prefix, "learning_rate", st->learning_rate);
    put(j, prefix, "entropy", st->entropy_tokens ? st->entropy / st->entropy_tokens : 0);
    if (has_kl) put(j, prefix, "kl", st->tok.kl / ntok);
    put(j, prefix, "clip_ratio/low_mean", st->tok.low_clip / ntok);
    put(j, prefix, "clip_ratio/high_mean", st->tok.high_clip / ntok);
    put(j, prefix, "clip_ratio/region_mean", (st->tok.low_clip + st->tok.high_clip) / ntok);
    put_int(j, prefix, "trained_tokens", st->trained_tokens);
}
