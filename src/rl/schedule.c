/* Learning-rate schedules (see include/ilr/schedule.h). */
#include "ilr/schedule.h"

#include <math.h>
#include <string.h>

#include "ilr/error.h"

static const char *const shape_names[] = {"constant", "cosine", "linear"};

float ilr_lr_at(const ilr_lr_schedule *s, long step) {
    if (step < 1) step = 1;
    if (s->warmup_steps > 0 && step <= s->warmup_steps) return s->lr * (float)step / (float)s->warmup_steps;
    if (s->shape == ILR_LR_CONSTANT || s->total_steps <= s->warmup_steps) return s->lr;
    double progress = (double)(step - s->warmup_steps) / (double)(s->total_steps - s->warmup_steps);
    if (progress > 1) progress = 1;
    double decay = s->shape == ILR_LR_COSINE ? 0.5 * (1.0 + cos(M_PI * progress)) : 1.0 - progress;
    return (float)(s->lr * (s->min_ratio + (1.0 - s->min_ratio) * decay));
}

int ilr_lr_shape_parse(const char *name, ilr_lr_shape *out) {
    for (int i = 0; i < 3; i++)
        if (strcmp(name, shape_names[i]) == 0) return *out = (ilr_lr_shape)i, 0;
    return ILR_FAIL(ILR_EINVAL, "unknown learning-rate schedule '%s' (constant, cosine or linear)", name);
}

const char *ilr_lr_shape_name(ilr_lr_shape shape) {
    return shape >= 0 && shape <= 2 ? shape_names[shape] : "?";
}
