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
    hp->share_prompt = c->share_prompt;
    hp->temperature = (float)c->temperature;
    hp->lr = (ilr_lr_schedule){(float)c->lr, (int)c->warmup_steps, c->steps * c->num_iterations, (float)c->min_lr_ratio,
                               (ilr_lr_shape)c->lr_schedule};
    hp->adam_beta1 = (float)c->adam_beta1;
    hp->adam_beta2 = (float)c->adam_beta2;
    hp->adam_eps = (float)c->adam_eps;
    hp->weight_decay = (float)c->weight_decay;
    hp->max_grad_norm = (float)c->max_grad_norm;
}

/* The active completions packed in rows (see ilr_grpo_update in include/ilr/grpo.h): row r holds the completions
 * seg_k[row_first[r] .. row_first[r + 1]), completion seg_k[i]'s segment starting at seg_at[i] (the position of
 * its prompt's last token; its j-th token's log-probability is at seg_at[i] + j), after its prompt's first P - 1
 * tokens when seg_opens[i] (the first segment of a piece: a copy of a prompt and the completions that share it),
 * row_len[r] tokens in all. */
typedef struct {
    int *seg_k, *seg_at, *seg_opens;
    int *row_first, *row_len, *order; /* order: the rows, longest first (then by index) */
    int num_segs, num_rows;
} update_rows;

typedef struct {
    int *tokens, *targets, *lengths, *positions;
    float *dlogp;
    int *active;      /* completions that carry a gradient */
    int num_active;
    int share;        /* rows hold several completions of one prompt (positions passed to the forward) */
    int rows_per_pass; /* micro_batch, at most the training state's rows */
    update_rows rows;
    float **ref_lp;   /* (S) reference log-probs of active completions (beta > 0) */
} update_scratch;

static void scratch_free(update_scratch *w, int S) {
    free(w->tokens);
    free(w->targets);
    free(w->lengths);
    free(w->positions);
    free(w->dlogp);
    free(w->active);
    free(w->rows.seg_k);
    free(w->rows.seg_at);
    free(w->rows.seg_opens);
    free(w->rows.row_first);
    free(w->rows.row_len);
    free(w->rows.order);
    for (int k = 0; w->ref_lp && k < S; k++) free(w->ref_lp[k]);
    free(w->ref_lp);
}

/* Fills a transformer batch with the rows order[0..B): per piece its prompt's first P - 1 tokens (positions 0..P-2),
 * then each of its completions' segments (the prompt's last token and the completion, whose tokens are its targets;
 * positions P-1, P, ...).  Returns the padded length T. */
static int fill_batch(const ilr_rollout_batch *b, const update_rows *rw, const int *order, int B, int *tokens,
                      int *positions, int *lengths, int *targets) {
    int T = 1;
    for (int r = 0; r < B; r++) T = rw->row_len[order[r]] > T ? rw->row_len[order[r]] : T;
    for (int r = 0; r < B; r++) {
        int row = order[r], *tok = tokens + (long)r * T, *tgt = targets + (long)r * T, *pos = positions + (long)r * T;
        for (int t = 0; t < T; t++) tok[t] = 0, tgt[t] = -1, pos[t] = t;
        for (int i = rw->row_first[row]; i < rw->row_first[row + 1]; i++) {
            int k = rw->seg_k[i], n = b->out[k].count, at = rw->seg_at[i], pl = b->prompt_len[k];
            if (rw->seg_opens[i]) {
                memcpy(tok + at - (pl - 1), b->prompt[k], sizeof(int) * (size_t)(pl - 1));
                for (int j = 0; j < pl - 1; j++) pos[at - (pl - 1) + j] = j;
            }
            tok[at] = b->prompt[k][pl - 1];
            memcpy(tok + at + 1, b->out[k].ids, sizeof(int) * (size_t)n);
            memcpy(tgt + at, b->out[k].ids, sizeof(int) * (size_t)n);
            for (int j = 0; j <= n; j++) pos[at + j] = pl - 1 + j;
        }
        lengths[r] = rw->row_len[row];
    }
    return T;
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

/* The same prompt (ids), then longer completions first (then by index). */
static _Thread_local const ilr_rollout_batch *sorting_batch; /* qsort has no context argument */
static int same_prompt_longer_first(const void *a, const void *b) {
    const ilr_rollout_batch *rb = sorting_batch;
    int x = *(const int *)a, y = *(const int *)b, lx = rb->prompt_len[x], ly = rb->prompt_len[y];
    if (lx != ly) return (lx > ly) - (lx < ly);
    int c = memcmp(rb->prompt[x], rb->prompt[y], sizeof(int) * (size_t)lx);
    if (c) return c;
    int nx = rb->out[x].count, ny = rb->out[y].count;
    return nx != ny ? (nx < ny) - (nx > ny) : (x > y) - (x < y);
}

static int same_prompt(const ilr_rollout_batch *b, int x, int y) {
    return b->prompt_len[x] == b->prompt_len[y] &&
           !memcmp(b->prompt[x], b->prompt[y], sizeof(int) * (size_t)b->prompt_len[x]);
}

/* Cuts the active completions (in order) into pieces: one completion after its prompt, or (share) the completions
 * of one prompt one after another behind its first P - 1 tokens, a new piece whenever the next would make it longer
 * than max_T.  Piece p holds the completions ks[first[p] .. first[p + 1]), ks[j]'s segment at at[j] in the
 * piece, len[p] tokens in all.  A completion with no tokens has no loss and takes no place.  Returns the pieces. */
static int cut_pieces(const update_scratch *w, const ilr_rollout_batch *b, int max_T, int *ks, int *at, int *first,
                      int *len) {
    int np = 0, ns = 0;
    for (int i = 0; i < w->num_active; i++) {
        int k = w->active[i], seg = b->out[k].count + 1;
        if (seg == 1) continue;
        if (!(w->share && np > 0 && same_prompt(b, ks[ns - 1], k) && len[np - 1] + seg <= max_T))
            first[np] = ns, len[np++] = b->prompt_len[k] - 1;
        ks[ns] = k, at[ns++] = len[np - 1];
        len[np - 1] += seg;
    }
    first[np] = ns;
    return np;
}

/* Orders pairs (key, index) by key, largest first, then by index; order[i] = pairs[i]'s index. */
static void order_longest_first(int (*pairs)[2], int n, int *order) {
    qsort(pairs, (size_t)n, sizeof *pairs, longer_first);
    for (int i = 0; i < n; i++) order[i] = pairs[i][1];
}

/* Places the np pieces (their lengths len, placed in order) into rows of at most max_T tokens: each a row of its
 * own, or (share) into the first row it fits (first-fit decreasing when order is longest first).  row[p], off[p]:
 * piece p's row and offset; fills rw->row_len and rw->num_rows. */
static void place_pieces(update_rows *rw, const int *order, const int *len, int np, int share, int max_T, int *row,
                         int *off) {
    rw->num_rows = 0;
    for (int i = 0; i < np; i++) {
        int p = order[i], r = share ? 0 : rw->num_rows;
        while (r < rw->num_rows && rw->row_len[r] + len[p] > max_T) r++;
        if (r == rw->num_rows) rw->row_len[rw->num_rows++] = 0;
        row[p] = r, off[p] = rw->row_len[r];
        rw->row_len[r] += len[p];
    }
}

/* Packs the active completions into rows of at most max_T tokens: the pieces of cut_pieces, longest first, placed
 * by place_pieces; then the segments grouped by row (each row's pieces in the order they were placed) and the rows
 * ordered longest first. */
static int pack_rows(update_scratch *w, const ilr_rollout_batch *b, int max_T) {
    update_rows *rw = &w->rows;
    size_t n = (size_t)(w->num_active ? w->num_active : 1);
    rw->seg_k = malloc(sizeof(int) * n), rw->seg_at = malloc(sizeof(int) * n), rw->seg_opens = malloc(sizeof(int) * n);
    rw->row_first = malloc(sizeof(int) * (n + 1)), rw->row_len = malloc(sizeof(int) * n);
    rw->order = malloc(sizeof(int) * n);
    int *ks = malloc(sizeof(int) * n), *at = malloc(sizeof(int) * n), *first = malloc(sizeof(int) * (n + 1));
    int *len = malloc(sizeof(int) * n), *row = malloc(sizeof(int) * n), *off = malloc(sizeof(int) * n);
    int *next = malloc(sizeof(int) * n), *order = malloc(sizeof(int) * n), (*pairs)[2] = malloc(sizeof *pairs * n);
    int rc = 0;
    if (!rw->seg_k || !rw->seg_at || !rw->seg_opens || !rw->row_first || !rw->row_len || !rw->order || !ks || !at ||
        !first || !len || !row || !off || !next || !order || !pairs) {
        rc = ILR_FAIL(ILR_ENOMEM, "out of memory for the policy update's rows");
        goto done;
    }
    if (w->share) {
        sorting_batch = b;
        qsort(w->active, (size_t)w->num_active, sizeof(int), same_prompt_longer_first);
    }
    int np = cut_pieces(w, b, max_T, ks, at, first, len);
    for (int p = 0; p < np; p++) pairs[p][0] = len[p], pairs[p][1] = p;
    order_longest_first(pairs, np, order);
    place_pieces(rw, order, len, np, w->share, max_T, row, off);
    memset(rw->row_first, 0, sizeof(int) * (size_t)(rw->num_rows + 1));
    for (int p = 0; p < np; p++) rw->row_first[row[p] + 1] += first[p + 1] - first[p];
    for (int r = 0; r < rw->num_rows; r++) rw->row_first[r + 1] += rw->row_first[r], next[r] = rw->row_first[r];
    for (int i = 0; i < np; i++)
        for (int p = order[i], j = first[p]; j < first[p + 1]; j++) {
            int s = next[row[p]]++;
            rw->seg_k[s] = ks[j], rw->seg_at[s] = off[p] + at[j], rw->seg_opens[s] = j == first[p];
        }
    rw->num_segs = first[np];
    for (int r = 0; r < rw->num_rows; r++) pairs[r][0] = rw->row_len[r], pairs[r][1] = r;
    order_longest_first(pairs, rw->num_rows, rw->order);
done:
    free(ks), free(at), free(first), free(len), free(row), free(off), free(next), free(order), free(pairs);
    return rc;
}

/* The completions whose loss has a gradient: weight > 0 and, without a KL term, a non-zero advantage (a
 * group of equal rewards contributes exactly nothing then, so it is not run at all). */
static int scratch_init(update_scratch *w, const ilr_policy *p, const ilr_rollout_batch *b, const ilr_grpo_update_params *hp) {
    memset(w, 0, sizeof *w);
    w->rows_per_pass = hp->micro_batch < p->ts.max_B ? hp->micro_batch : p->ts.max_B;
    size_t cells = (size_t)w->rows_per_pass * p->ts.max_T;
    w->tokens = malloc(sizeof(int) * cells);
    w->targets = malloc(sizeof(int) * cells);
    w->positions = malloc(sizeof(int) * cells);
    w->lengths = malloc(sizeof(int) * (size_t)w->rows_per_pass);
    w->dlogp = malloc(sizeof(float) * cells);
    w->active = malloc(sizeof(int) * (size_t)(b->S ? b->S : 1));
    /* the GPU's attention knows packed documents, not shared prefixes */
    w->share = hp->share_prompt && !p->ts.gpu;
    int beta = hp->loss.beta > 0 && p->has_ref;
    if (beta) w->ref_lp = calloc((size_t)(b->S ? b->S : 1), sizeof *w->ref_lp);
    if (!w->tokens || !w->targets || !w->positions || !w->lengths || !w->dlogp || !w->active || (beta && !w->ref_lp))
        return ILR_FAIL(ILR_ENOMEM, "out of memory for the policy update");
    for (int k = 0; k < b->S; k++) {
        if (!(b->weight[k] > 0) || (!beta && b->adv[k] == 0)) continue;
        w->active[w->num_active++] = k;
        if (beta && !(w->ref_lp[k] = malloc(sizeof(float) * (size_t)(b->out[k].count ? b->out[k].count : 1))))
            return ILR_FAIL(ILR_ENOMEM, "out of memory for reference log-probs");
    }
    int rc = sort_by_length(w, b);
    return rc ? rc : pack_rows(w, b, p->ts.max_T);
}

/* Over the N ranks that train the policy (p->group, include/ilr/dist.h) rank r trains the rows r, r + N, r + 2N,
 * ... of the list sorted by length (a shared prompt's row stays whole), so that the ranks get similar work; their
 * gradients are summed before each optimizer step. */
static void keep_rank_share(update_scratch *w, const ilr_dist_group *group) {
    int N = ilr_dist_group_size(group), n = 0;
    if (N == 1) return;
    for (int i = ilr_dist_group_rank(group); i < w->rows.num_rows; i += N) w->rows.order[n++] = w->rows.order[i];
    w->rows.num_rows = n;
}

/* The step's statistics summed over the policy's ranks (each holds its share's). */
static int sum_stats(ilr_grpo_update_stats *st, const ilr_dist_group *group) {
    double v[7] = {st->loss, st->entropy, st->entropy_tokens, st->tok.tokens, st->tok.kl, st->tok.low_clip, st->tok.high_clip};
    int rc = ilr_dist_sum_doubles(group, v, 7);
    st->loss = v[0], st->entropy = v[1], st->entropy_tokens = v[2];
    st->tok = (ilr_grpo_token_stats){v[3], v[4], v[5], v[6]};
    return rc;
}

/* The rows of micro-batch `first`: fills the batch and returns its row count (*T: its padded length). */
static int micro_batch_fill(const ilr_rollout_batch *b, update_scratch *w, int first, int *T) {
    int B = w->rows.num_rows - first < w->rows_per_pass ? w->rows.num_rows - first : w->rows_per_pass;
    *T = fill_batch(b, &w->rows, w->rows.order + first, B, w->tokens, w->positions, w->lengths, w->targets);
    return B;
}

/* Log-probabilities of the active completions under the frozen reference. */
static void reference_logprobs(ilr_policy *p, const ilr_rollout_batch *b, update_scratch *w) {
    for (int first = 0, T; first < w->rows.num_rows; first += w->rows_per_pass) {
        int B = micro_batch_fill(b, w, first, &T);
        ilr_transformer_forward_packed(&p->ref_tr, w->tokens, w->lengths, w->share ? w->positions : NULL, w->targets, B,
                                       T);
        for (int r = 0; r < B; r++) {
            int row = w->rows.order[first + r];
            for (int i = w->rows.row_first[row]; i < w->rows.row_first[row + 1]; i++) {
                int k = w->rows.seg_k[i];
                long at = (long)r * T + w->rows.seg_at[i];
                memcpy(w->ref_lp[k], p->ref_tr.logprob + at, sizeof(float) * (size_t)b->out[k].count);
            }
        }
    }
}

/* One pass over the active completions: forward, token losses, backward (gradients accumulate). */
static double loss_pass(ilr_policy *p, const ilr_rollout_batch *b, const ilr_grpo_update_params *hp, update_scratch *w,
                        ilr_grpo_update_stats *st, int *error) {
    double loss = 0;
    for (int first = 0, T; first < w->rows.num_rows; first += w->rows_per_pass) {
        int B = micro_batch_fill(b, w, first, &T);
        const int *positions = w->share ? w->positions : NULL;
        int rc = ilr_train_state_forward(&p->ts, w->tokens, w->lengths, positions, w->targets, B, T, hp->temperature);
        if (rc) return *error = rc, loss;
        memset(w->dlogp, 0, sizeof(float) * (size_t)B * T);
        for (int r = 0; r < B; r++) {
            int row = w->rows.order[first + r];
            for (int i = w->rows.row_first[row]; i < w->rows.row_first[row + 1]; i++) {
                int k = w->rows.seg_k[i], n = b->out[k].count;
                long at = (long)r * T + w->rows.seg_at[i]; /* the completion's first target position */
                for (int j = 0; j < n; j++) st->entropy += p->ts.entropy[at + j];
                st->entropy_tokens += n;
                loss += ilr_grpo_token_loss(w->dlogp + at, p->ts.logprob + at, b->out[k].logprobs,
                                            w->ref_lp ? w->ref_lp[k] : NULL, n, b->adv[k], b->weight[k], &hp->loss, &st->tok);
            }
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
    if (!rc && w.ref_lp) reference_logprobs(p, b, &w);
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
