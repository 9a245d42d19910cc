/* Learning-rate schedules (see include/ilr/schedule.h). */
#include "ilr/schedule.h"

#include <math.h>
#include <string.h>

#include "ilr/error.h"

static const char *const shape_names[] = {"constant", "cosine", "linear"};

/* Hugging Face's lr_lambda(current_step) of get_{constant,linear,cosine}_schedule_with_warmup (cosine with
 * its min_lr_rate as get_cosine_with_min_lr_schedule_with_warmup; the same floor for linear), current_step
 * counted from 0. */
static double hf_lambda(const ilr_lr_schedule *s, long current) {
    long w = s->warmup_steps;
    if (current < w) return (double)current / (double)(w > 1 ? w : 1);
    if (s->shape == ILR_LR_CONSTANT) return 1.0;
    long span = s->total_steps - w;
    double progress = (double)(current - w) / (double)(span > 1 ? span : 1);
    if (progress > 1) progress = 1; /* past the end the floor holds (HF's cosine would rise again) */
    double decay = s->shape == ILR_LR_COSINE ? 0.5 * (1.0 + cos(M_PI * progress)) : 1.0 - progress;
    return s->min_ratio + (1.0 - s->min_ratio) * decay;
}

float ilr_lr_at(const ilr_lr_schedule *s, long step) {
    if (step < 1) step = 1;
    return (float)(s->lr * hf_lambda(s, step - 1));
}

int ilr_lr_shape_parse(const char *name, ilr_lr_shape *out) {
    for (int i = 0; i < 3; i++)
        if (strcmp(name, shape_names[i]) == 0) return *out = (ilr_lr_shape)i, 0;
    return ILR_FAIL(ILR_EINVAL, "unknown learning-rate schedule '%s' (constant, cosine or linear)", name);
}

const char *ilr_lr_shape_name(ilr_lr_shape shape) {
    return shape >= 0 && shape <= 2 ? shape_names[shape] : "?";
}
