/* Learning-rate schedules shared by the trainers, step for step those of Hugging Face's Trainer
 * (get_{constant,linear,cosine}_schedule_with_warmup; the floor as get_cosine_with_min_lr_schedule_with_warmup's
 * min_lr_rate): optimizer step k (counted from 1) uses lr * lambda(k - 1), because the Trainer steps its
 * scheduler after the optimizer.  So with warmup w the first update has lr 0 and step k <= w has
 * lr * (k - 1) / w; a linear decay's last update (k = total) has lr / (total - w), never 0. */
#ifndef ILR_SCHEDULE_H
#define ILR_SCHEDULE_H

typedef enum { ILR_LR_CONSTANT = 0, ILR_LR_COSINE = 1, ILR_LR_LINEAR = 2 } ilr_lr_shape;

typedef struct {
    float lr;          /* peak */
    int warmup_steps;  /* lr * (step - 1) / warmup_steps for step <= warmup_steps */
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
