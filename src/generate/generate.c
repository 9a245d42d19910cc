/* The sampling loop: prefill each prompt once, copy it to its G slots, decode all live sequences together,
 * stop on eos (config.json's and generation_config.json's) / stop tokens / stop strings / length (see
 * ilr/generate.h). */
#include <stdlib.h>
#include <string.h>

#include "ilr/error.h"
#include "ilr/generate.h"
#include "ilr/rng.h"

const char *ilr_stop_reason_name(ilr_stop_reason reason) {
    static const char *const names[] = {"eos", "stop_token", "stop_string", "length"};
    return (unsigned)reason < 4 ? names[reason] : "?";
}

void ilr_gen_output_free(ilr_gen_output *out) {
    free(out->ids);
    free(out->logprobs);
    free(out->text);
    memset(out, 0, sizeof *out);
}

/* Appends text of the new token and checks the stop strings; returns 1 when one now occurs. */
static int append_text(const ilr_tokenizer *tok, ilr_gen_seq *s, ilr_gen_output *o, int id, const ilr_gen_options *opt) {
    char piece[1024];
    /* an id the tokenizer lacks (a model's vocabulary padded past the tokenizer's, as Qwen2.5's is) decodes to
     * nothing, as Hugging Face's decode skips it */
    if (!ilr_tok_piece(tok, id)) return 0;
    int n = ilr_tok_stream_push(tok, &s->stream, id, piece, sizeof piece);
    if (n < 0) return -1;
    char *grown = realloc(o->text, o->text_len + (size_t)n + 1);
    if (!grown) return ILR_FAIL(ILR_ENOMEM, "generate: out of memory"), -1;
    o->text = grown;
    memcpy(o->text + o->text_len, piece, (size_t)n);
    size_t before = o->text_len;
    o->text_len += (size_t)n;
    o->text[o->text_len] = 0;
    for (int k = 0; k < opt->num_stop_strings; k++) {
        size_t len = strlen(opt->stop_strings[k]);
        /* only a match that ends in the new text is new */
        size_t from = before >= len ? before - len + 1 : 0;
        char *at = len ? strstr(o->text + from, opt->stop_strings[k]) : NULL;
        if (at) {
            o->text_len = (size_t)(at - o->text);
            o->text[o->text_len] = 0;
            return 1;
        }
    }
    return 0;
}

static int alloc_output(ilr_gen_output *o, int max_new) {
    memset(o, 0, sizeof *o);
    o->ids = malloc(sizeof(int) * (size_t)max_new);
    o->logprobs = malloc(sizeof(float) * (size_t)max_new);
    return o->ids && o->logprobs ? 0 : ILR_FAIL(ILR_ENOMEM, "generate: out of memory");
}

int ilr_gen_seq_start(ilr_gen_seq *s, int slot, uint64_t stream, const ilr_gen_options *opt, ilr_gen_output *out) {
    memset(s, 0, sizeof *s);
    s->slot = slot;
    s->live = 1;
    ilr_rng_init(&s->rng, opt->seed, opt->stream_offset + stream);
    ilr_tok_stream_init(&s->stream);
    return alloc_output(out, opt->max_new_tokens);
}

/* Records token id (drawn with its log-probability) for sequence s; returns 1 when s stops. */
static int take_token(ilr_generator *g, const ilr_tokenizer *tok, ilr_gen_seq *s, ilr_gen_output *o, int id, float lp,
                      const ilr_gen_options *opt) {
    o->ids[o->count] = id;
    o->logprobs[o->count++] = lp;
    int stop_id = 0;
    for (int k = 0; k < opt->num_stop_ids; k++) stop_id |= opt->stop_ids[k] == id;
    if (!opt->ignore_eos && ilr_model_is_eos(g->model, id)) return o->reason = ILR_STOP_EOS, 1;
    if (stop_id) return o->reason = ILR_STOP_TOKEN, 1;
    if (tok) {
        int hit = append_text(tok, s, o, id, opt);
        if (hit < 0) return -1;
        if (hit) return o->reason = ILR_STOP_STRING, 1;
    }
    if (o->count >= opt->max_new_tokens) return o->reason = ILR_STOP_LENGTH, 1;
    return 0;
}

int ilr_gen_seq_draw(ilr_generator *g, const ilr_tokenizer *tok, ilr_gen_seq *s, const float *logits,
                     const ilr_gen_options *opt, ilr_sampler_scratch *scratch, ilr_gen_output *out) {
    float lp;
    int id = ilr_sample(logits, g->model->config.vocab_size, &opt->sampler, &s->rng, scratch, &lp);
    int stop = take_token(g, tok, s, out, id, lp, opt);
    if (stop < 0) return ilr_last_error_code();
    s->live = !stop;
    return stop;
}

/* One wave: prompts [first, first + count) with G samples each, all in slots at once. */
static int run_wave(ilr_generator *g, const ilr_tokenizer *tok, const int *const *prompts, const int *lens, int first,
                    int count, int G, const ilr_gen_options *opt, ilr_gen_output *out, float *logits,
                    ilr_sampler_scratch *scratch) {
    int V = g->model->config.vocab_size, n = count * G, rc = 0;
    ilr_gen_seq *seq = calloc((size_t)n, sizeof *seq);
    int *index = malloc(sizeof(int) * (size_t)n); /* sequence i's output: out[index[i]] */
    int *slots = malloc(sizeof(int) * (size_t)n), *tokens = malloc(sizeof(int) * (size_t)n);
    int on_device = ilr_gen_samples_on_device(g, &opt->sampler);
    int *drawn = malloc(sizeof(int) * (size_t)n);
    float *drawn_lp = malloc(sizeof(float) * (size_t)n);
    double *uniforms = malloc(sizeof(double) * (size_t)n);
    if (!seq || !index || !slots || !tokens || !drawn || !drawn_lp || !uniforms) rc = ILR_FAIL(ILR_ENOMEM, "generate: out of memory");
    for (int p = 0, q; p < count && !rc; p = q) {
        /* prompts [p, q) prefilled in one call where they fit, on the CPU (a small model's threads share such a
         * call; an empty prompt, which has no logits row, goes alone) */
        int rows = lens[first + p];
        for (q = p + 1; !g->gpu && rows > 0 && q < count && lens[first + q] > 0 && rows + lens[first + q] <= g->max_tokens;)
            rows += lens[first + q++];
        for (int k = p; k < q && !rc; k++) {
            ilr_gen_reset_slot(g, k * G);
            if (lens[first + k] + opt->max_new_tokens > g->max_len)
                rc = ILR_FAIL(ILR_EINVAL, "generate: prompt %d has %d tokens; with %d new ones that exceeds the %d of a slot",
                              first + k, lens[first + k], opt->max_new_tokens, g->max_len);
        }
        if (!rc && q - p == 1) {
            rc = ilr_gen_prefill(g, p * G, prompts[first + p], lens[first + p], logits);
        } else if (!rc) {
            int *prompt_slots = malloc(sizeof(int) * (size_t)rows), *prompt_tokens = malloc(sizeof(int) * (size_t)rows);
            rc = prompt_slots && prompt_tokens ? 0 : ILR_FAIL(ILR_ENOMEM, "generate: out of memory");
            for (int k = p, r = 0; k < q && !rc; k++)
                for (int t = 0; t < lens[first + k]; t++, r++) prompt_slots[r] = k * G, prompt_tokens[r] = prompts[first + k][t];
            if (!rc) rc = ilr_gen_forward(g, prompt_slots, prompt_tokens, rows, NULL, logits); /* a row a prompt */
            free(prompt_slots);
            free(prompt_tokens);
        }
        for (int k = p; k < q && !rc; k++) {
            int base = k * G;
            for (int j = 0; j < G && !rc; j++) {
                ilr_gen_seq *s = &seq[base + j];
                index[base + j] = (first + k) * G + j;
                if (j) ilr_gen_copy_slot(g, base, base + j);
                if ((rc = ilr_gen_seq_start(s, base + j, (uint64_t)index[base + j], opt, &out[index[base + j]]))) break;
                int stop = ilr_gen_seq_draw(g, tok, s, logits + (size_t)(k - p) * V, opt, scratch, &out[index[base + j]]);
                if (stop < 0) rc = stop;
            }
        }
    }
    while (!rc) {
        int live = 0;
        for (int i = 0; i < n; i++)
            if (seq[i].live) slots[live] = seq[i].slot, tokens[live] = out[index[i]].ids[out[index[i]].count - 1], live++;
        if (!live) break;
        if (on_device) { /* the device draws: each live sequence's uniform from its own stream, as ilr_sample would */
            for (int i = 0, k = 0; i < n; i++)
                if (seq[i].live) uniforms[k++] = opt->sampler.temperature > 0.0f ? ilr_rng_uniform_f64(&seq[i].rng) : 0.0;
            rc = ilr_gen_forward_sample(g, slots, tokens, live, opt->sampler.temperature, uniforms, drawn, drawn_lp);
        } else {
            rc = ilr_gen_forward(g, slots, tokens, live, NULL, logits);
        }
        if (rc) break;
        for (int i = 0, k = 0; i < n && !rc; i++) {
            if (!seq[i].live) continue;
            int stop;
            if (on_device) {
                stop = take_token(g, tok, &seq[i], &out[index[i]], drawn[k], drawn_lp[k], opt);
                if (stop < 0) stop = ilr_last_error_code();
                else seq[i].live = !stop;
            } else {
                stop = ilr_gen_seq_draw(g, tok, &seq[i], logits + (size_t)k * V, opt, scratch, &out[index[i]]);
            }
            k++;
            if (stop < 0) rc = stop;
        }
    }
    free(seq);
    free(index);
    free(slots);
    free(tokens);
    free(drawn);
    free(drawn_lp);
    free(uniforms);
    return rc;
}

int ilr_generate(ilr_generator *g, const ilr_tokenizer *tok, const int *const *prompts, const int *prompt_lens,
                 int num_prompts, int G, const ilr_gen_options *opt, ilr_gen_output *out) {
    if (G < 1 || G > g->slots)
        return ILR_FAIL(ILR_EINVAL, "generate: %d samples per prompt, but the generator has %d slots", G, g->slots);
    if (opt->max_new_tokens < 1) return ILR_FAIL(ILR_EINVAL, "generate: max_new_tokens must be at least 1");
    if (opt->num_stop_strings && !tok) return ILR_FAIL(ILR_EINVAL, "generate: stop strings need a tokenizer");
    int rc = ilr_sampler_params_check(&opt->sampler);
    if (rc) return rc;
    int V = g->model->config.vocab_size, per_wave = g->slots / G;
    if (per_wave > g->max_tokens / G) per_wave = g->max_tokens / G;
    float *logits = malloc(sizeof(float) * (size_t)V * (size_t)per_wave * G);
    ilr_sampler_scratch scratch;
    if (!logits || ilr_sampler_scratch_init(&scratch, V)) {
        free(logits);
        return ILR_FAIL(ILR_ENOMEM, "generate: out of memory for logits");
    }
    memset(out, 0, sizeof *out * (size_t)num_prompts * G);
    ilr_gen_hold_weights(g);
    for (int first = 0; first < num_prompts && !rc; first += per_wave) {
        int count = num_prompts - first < per_wave ? num_prompts - first : per_wave;
        rc = run_wave(g, tok, prompts, prompt_lens, first, count, G, opt, out, logits, &scratch);
    }
    ilr_gen_release_weights(g);
    free(logits);
    ilr_sampler_scratch_free(&scratch);
    return rc;
}
