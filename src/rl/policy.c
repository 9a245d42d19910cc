/* A trainable agent (see include/ilr/policy.h). */
#include "ilr/policy.h"

#include <stdio.h>
#include <string.h>

#include "ilr/checkpoint.h"
#include "ilr/error.h"

int ilr_policy_open(ilr_policy *p, const char *name, const char *model_dir, const char *resume_dir,
                    const ilr_policy_options *o) {
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    snprintf(p->start, sizeof p->start, "%s", model_dir);
    snprintf(p->from, sizeof p->from, "%s", resume_dir ? resume_dir : model_dir);
    p->resumed = resume_dir != NULL;
    p->device = o->device;
    p->gen_weights = o->gen_weights;
    p->recompute = o->recompute;
    p->zero1 = o->zero1;
    p->share_prompt = o->share_prompt;
    p->text_only = o->text_only;
    int rc = o->text_only ? 0 : ilr_model_load(&p->model, p->from);
    if (!rc) rc = ilr_tok_load(&p->tok, p->from);
    if (!rc && o->chat) rc = ilr_chat_template_load(&p->chat, p->from);
    if (rc) return ilr_error_prefix("%s", p->from);
    if (o->text_only) return 0;
    if (ilr_tok_vocab_size(p->tok) > p->model.config.vocab_size)
        return ILR_FAIL(ILR_EMISMATCH, "%s: the tokenizer has %d tokens, the model's vocabulary %d", p->from,
                        ilr_tok_vocab_size(p->tok), p->model.config.vocab_size);
    if (o->reference) {
        if ((rc = ilr_model_load(&p->ref_model, model_dir))) return ilr_error_prefix("reference model %s", model_dir);
        p->has_ref = 1;
    }
    return 0;
}

int ilr_policy_prepare(ilr_policy *p, int gen_slots, int max_len, int micro_batch) {
    if (p->text_only) return 0;
    if (max_len > p->model.config.max_position_embeddings)
        return ILR_FAIL(ILR_EINVAL, "%s: sequences of up to %d tokens (prompt + completion) exceed the model's "
                        "max_position_embeddings %d", p->from, max_len, p->model.config.max_position_embeddings);
    /* shared prompts: rows twice as long, a quarter as many (world-grpo-a's update: 20 % less CPU time than one
     * completion per row, where rows of max_len gave 8 %; README, Measured) */
    int rows = micro_batch, row_len = max_len;
    if (p->share_prompt && p->device == ILR_DEVICE_CPU && micro_batch >= 4) rows = micro_batch / 4, row_len = 2 * max_len;
    int rc = ilr_train_state_init(&p->ts, &p->model, rows, row_len, p->device, p->recompute);
    if (!rc && p->zero1) rc = ilr_train_state_shard_optimizer(&p->ts, p->group);
    /* on the GPU the rollouts read the training state's weights: no copy, and each update is seen at once */
    const float *f32;
    const void *bf16;
    if (!rc && ilr_train_state_device_params(&p->ts, &f32, &bf16) == 0)
        rc = ilr_gen_init_cuda_shared(&p->gen, &p->model, gen_slots, max_len, f32, bf16);
    else if (!rc)
        rc = ilr_gen_init(&p->gen, &p->model, gen_slots, max_len);
    if (!rc) rc = ilr_gen_set_weights(&p->gen, p->gen_weights);
    if (!rc && p->has_ref) rc = ilr_transformer_init_forward_only(&p->ref_tr, &p->ref_model, rows, row_len);
    if (!rc && p->resumed) rc = ilr_train_state_load_checkpoint(&p->ts, p->from, NULL);
    return rc;
}

void ilr_policy_close(ilr_policy *p) {
    ilr_train_state_free(&p->ts);
    if (p->ref_tr.model) ilr_transformer_free(&p->ref_tr);
    if (p->gen.model) ilr_gen_free(&p->gen);
    ilr_chat_template_free(p->chat);
    ilr_tok_free(p->tok);
    if (p->has_ref) ilr_model_free(&p->ref_model);
    ilr_model_free(&p->model);
    memset(p, 0, sizeof *p);
}

int ilr_policy_checkpoint(ilr_policy *p, const char *dir, const json_t *state) {
    return ilr_train_state_write_checkpoint(&p->ts, dir, p->from, state);
}
