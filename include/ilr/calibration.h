/* Perception Calibration (ILR paper, Eq. 5): each agent's reward is shifted by how it compares with its
 * peers' rewards on the same question, so an agent learns from where it stands among them.
 *
 * For agent i, rollout k of a question, and m agents whose peers l != i each have G rewards R_l on the
 * same question (their fused answers):
 *     Rbar_ik = R_ik + sum_{l != i} clip((R_ik - mean R_l) / (max R_l - min R_l), -1/(m-1), +1/(m-1))
 * When max R_l = min R_l the fraction is undefined; the term is then +1/(m-1) when R_ik > mean R_l,
 * -1/(m-1) when R_ik < mean R_l and 0 when they are equal (the limit of the clipped fraction as the spread
 * goes to 0), and it counts as clipped when it is not 0.  The shift lies in [-1, +1] whatever m.
 *
 * Note: the shift is a non-decreasing function of R_ik, so with a reward of two levels (right/wrong) and
 * advantages normalised by the group's own std it changes no advantage at all (a two-valued variable
 * normalises to the same values whatever its two levels are).  It acts through a reward of more levels (the
 * format term), mean-only advantages (grpo.scale_rewards: none) or batch-wide normalisation (batch); which
 * one a run uses
 * is printed in its header. */
#ifndef ILR_CALIBRATION_H
#define ILR_CALIBRATION_H

typedef struct {
    double shift_abs_sum;  /* sum over every (i, k) of |Rbar_ik - R_ik| */
    long shifts;           /* (i, k) pairs */
    long terms, clipped;   /* peer terms (i, k, l), and those whose fraction the clip bounded */
} ilr_calibration_stats;

/* rewards, out: m x G, agent-major (agent i's G rewards at i * G).  m >= 2, G >= 1.  stats (may be NULL)
 * accumulate.  out may not alias rewards. */
void ilr_calibrate(float *out, const float *rewards, int m, int G, ilr_calibration_stats *stats);

/* The peer term of one reward x against a peer's G rewards r (bound = 1/(m-1)); *clipped is set to 1 when
 * the clip bounded it. */
double ilr_calibration_term(double x, const float *r, int G, double bound, int *clipped);

#endif
