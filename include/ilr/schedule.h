/* Learning-rate schedules shared by SFT and GRPO: linear warmup from 0, then constant or cosine decay to
 * min_ratio * lr at total_steps (Hugging Face's get_cosine_schedule_with_warmup with a floor). */
#ifndef ILR_SCHEDULE_H
#define ILR_SCHEDULE_H

typedef enum { ILR_LR_CONSTANT = 0, ILR_LR_COSINE = 1, ILR_LR_LINEAR = 2 } ilr_lr_shape;

typedef struct {
    float lr;          /* peak */
    int warmup_steps;  /* lr * step / warmup_steps for step <= warmup_steps */
    long total_steps;  /* end of the decay (cosine, linear); ignored by constant */
    float min_ratio;   /* floor of the decay as a fraction of lr (default 0) */
    ilr_lr_shape shape;
} ilr_lr_schedule;

/* The learning rate of optimizer step `step` (counted from 1). */
float ilr_lr_at(const ilr_lr_schedule *s, long step);
/* "constant", "cosine", "linear" -> shape; ILR_EINVAL naming the choices otherwise. */
int ilr_lr_shape_parse(const char *name, ilr_lr_shape *out);
const char *ilr_lr_shape_name(ilr_lr_shape shape);

#endif
