/* The scheduler of `ilr serve` (src/serve/serve_internal.h): each model's generator belongs to one thread, which
 * takes the jobs that connection threads hand it (a request's n sequences, or one prompt of a discussion) and
 * decodes every live sequence of every job together. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ilr/error.h"
#include "serve_internal.h"

int ilr_serve_job_submit(job *j, const ilr_gen_options *opt) {
    j->opt = *opt;
    int n = j->req->n;
    j->seqs = calloc((size_t)n, sizeof *j->seqs);
    j->published = calloc((size_t)n, sizeof(int));
    j->stopped = calloc((size_t)n, sizeof(int));
    if (!j->seqs || !j->published || !j->stopped) return ILR_FAIL(ILR_ENOMEM, "out of memory");
    served_model *m = j->m;
    pthread_mutex_lock(&m->lock);
    if (m->pending_tail) m->pending_tail->next = j;
    else m->pending = j;
    m->pending_tail = j;
    j->submitted = 1;
    pthread_cond_signal(&m->wake);
    pthread_mutex_unlock(&m->lock);
    return 0;
}

int ilr_serve_job_wait(job *j) {
    pthread_mutex_lock(&j->m->lock);
    while (!j->done) pthread_cond_wait(&j->m->done, &j->m->lock);
    pthread_mutex_unlock(&j->m->lock);
    return j->rc ? ILR_FAIL(j->rc, "%s", j->error[0] ? j->error : ilr_error_name(j->rc)) : 0;
}

void ilr_serve_job_free(job *j) {
    if (!j) return;
    for (int i = 0; j->out && i < j->req->n; i++) ilr_gen_output_free(&j->out[i]);
    if (j->stream) {
        for (int i = 0; j->stream->choice && i < j->req->n; i++) free(j->stream->choice[i].acc);
        free(j->stream->choice), free(j->stream->pending), free(j->stream);
    }
    free(j->out), free(j->prompt), free(j->seqs), free(j->published), free(j->stopped);
    ilr_serve_request_free(&j->req_store);
    free(j);
}

/* ---- the scheduler: continuous batching ----
 * Every step it admits the pending jobs that fit in the free slots (a job's n sequences share one prefill, as
 * ilr_generate's do), then decodes every live sequence of every job in one forward; a job whose sequences
 * have all stopped leaves, its slots free for the next.  Sequence k of a job draws from RNG stream k of its
 * seed, and the CPU forward of a row does not depend on the others in the batch, so a request's answer is
 * the one ilr_generate gives for it alone. */

typedef struct {
    job **owner; /* slot -> its job, NULL when free */
    int *seq;    /* slot -> the sequence of that job */
    int *slots, *tokens, free_slots, active;
    float *logits;
    ilr_sampler_scratch scratch;
} batch;

static void finish_job(served_model *m, batch *b, job *j, int rc) {
    for (int slot = 0; slot < m->gen.slots; slot++)
        if (b->owner[slot] == j) b->owner[slot] = NULL, b->free_slots++;
    b->active--;
    pthread_mutex_lock(&m->lock);
    if (rc) snprintf(j->error, sizeof j->error, "%s", ilr_last_error());
    j->rc = rc, j->done = 1;
    pthread_cond_broadcast(&m->done);
    pthread_mutex_unlock(&m->lock);
}

/* Prefills j's prompt into its first slot, copies it to the others and draws every sequence's first token. */
static void start_job(served_model *m, batch *b, job *j) {
    int n = j->req->n, first = -1, rc = 0;
    j->live = n;
    for (int slot = 0, k = 0; slot < m->gen.slots && k < n; slot++) {
        if (b->owner[slot]) continue;
        b->owner[slot] = j, b->seq[slot] = k, b->free_slots--;
        ilr_gen_reset_slot(&m->gen, slot);
        if (first < 0) first = slot, rc = ilr_gen_prefill(&m->gen, slot, j->prompt, j->prompt_len, b->logits);
        else ilr_gen_copy_slot(&m->gen, first, slot);
        if (!rc) rc = ilr_gen_seq_start(&j->seqs[k], slot, (uint64_t)k, &j->opt, &j->out[k]);
        int stop = rc ? 0 : ilr_gen_seq_draw(&m->gen, m->tok, &j->seqs[k], b->logits, &j->opt, &b->scratch, &j->out[k]);
        if (stop < 0) rc = stop;
        j->live -= stop == 1;
        k++;
    }
    b->active++;
    if (rc || !j->live) finish_job(m, b, j, rc);
}

/* One decode step of every live sequence; finished jobs leave. */
static void decode_step(served_model *m, batch *b) {
    int live = 0, V = m->model.config.vocab_size;
    for (int slot = 0; slot < m->gen.slots; slot++) {
        job *j = b->owner[slot];
        if (!j || !j->seqs[b->seq[slot]].live) continue;
        const ilr_gen_output *o = &j->out[b->seq[slot]];
        b->slots[live] = slot, b->tokens[live++] = o->ids[o->count - 1];
    }
    if (!live) return;
    int rc = ilr_gen_forward(&m->gen, b->slots, b->tokens, live, NULL, b->logits);
    for (int k = 0; k < live; k++) {
        int slot = b->slots[k];
        job *j = b->owner[slot];
        if (!j) continue; /* its job failed this step */
        int stop = rc ? rc : ilr_gen_seq_draw(&m->gen, m->tok, &j->seqs[b->seq[slot]], b->logits + (size_t)k * V, &j->opt,
                                              &b->scratch, &j->out[b->seq[slot]]);
        if (stop < 0) finish_job(m, b, j, stop);
        else if (stop && --j->live == 0) finish_job(m, b, j, 0);
    }
}

void *ilr_serve_schedule(void *arg) {
    served_model *m = arg;
    int S = m->gen.slots;
    batch b = {.owner = calloc((size_t)S, sizeof *b.owner), .seq = calloc((size_t)S, sizeof(int)),
               .slots = malloc(sizeof(int) * (size_t)S), .tokens = malloc(sizeof(int) * (size_t)S), .free_slots = S,
               .logits = malloc(sizeof(float) * (size_t)S * (size_t)m->model.config.vocab_size)};
    int ok = b.owner && b.seq && b.slots && b.tokens && b.logits &&
             !ilr_sampler_scratch_init(&b.scratch, m->model.config.vocab_size);
    for (;;) {
        pthread_mutex_lock(&m->lock);
        while (!m->pending && !b.active && !m->stopping) pthread_cond_wait(&m->wake, &m->lock);
        if (m->stopping && !m->pending && !b.active) {
            pthread_mutex_unlock(&m->lock);
            break;
        }
        job *admitted = NULL, **tail = &admitted;
        while (m->pending && (!ok || m->pending->req->n <= b.free_slots)) {
            job *j = m->pending;
            if (!(m->pending = j->next)) m->pending_tail = NULL;
            j->next = NULL, *tail = j, tail = &j->next;
            if (ok) b.free_slots -= j->req->n; /* held for it until start_job places it */
        }
        pthread_mutex_unlock(&m->lock);
        for (job *j = admitted, *next; j; j = next) {
            next = j->next;
            if (!ok) {
                pthread_mutex_lock(&m->lock);
                snprintf(j->error, sizeof j->error, "out of memory for the scheduler's batch of %d slots", S);
                j->rc = ILR_ENOMEM, j->done = 1;
                pthread_cond_broadcast(&m->done);
                pthread_mutex_unlock(&m->lock);
                continue;
            }
            b.free_slots += j->req->n;
            start_job(m, &b, j);
        }
        if (ok) decode_step(m, &b);
        /* what streams may send now */
        pthread_mutex_lock(&m->lock);
        for (int slot = 0; slot < S; slot++) {
            job *j = b.owner[slot];
            if (j) j->published[b.seq[slot]] = j->out[b.seq[slot]].count, j->stopped[b.seq[slot]] = !j->seqs[b.seq[slot]].live;
        }
        pthread_cond_broadcast(&m->done);
        pthread_mutex_unlock(&m->lock);
    }
    free(b.owner), free(b.seq), free(b.slots), free(b.tokens), free(b.logits);
    ilr_sampler_scratch_free(&b.scratch);
    return NULL;
}
