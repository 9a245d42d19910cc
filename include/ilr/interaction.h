/* Dynamic Interaction: per question, whether the agents cooperate or compete.
 *
 * Each agent i has probability P_i = 1 / (1 + exp(-1.7 (gamma_i - D_q))) of answering question q alone
 * (include/ilr/irt.h).  In the paper an agent cooperates on a question it is likely to fail (P < 0.5) and
 * competes on one it is likely to solve (P >= 0.5).  For a discussion of m agents ilr decides once per
 * question, by a rule over the agents' P:
 *     mean   cooperate when the mean of the P_i is < 0.5 (the default)
 *     any    cooperate when any agent's P_i is < 0.5 (someone needs help)
 *     all    cooperate when every agent's P_i is < 0.5
 * The ablations fix the mode instead: always cooperate, always compete, or cooperate with probability p
 * (drawn from the run's seeded stream, so a resumed run decides the same). */
#ifndef ILR_INTERACTION_H
#define ILR_INTERACTION_H

#include "ilr/rng.h"

typedef enum { ILR_MODE_DYNAMIC = 0, ILR_MODE_COOP = 1, ILR_MODE_COMP = 2, ILR_MODE_RANDOM = 3 } ilr_interaction_mode;
typedef enum { ILR_RULE_MEAN = 0, ILR_RULE_ANY = 1, ILR_RULE_ALL = 2 } ilr_interaction_rule;
typedef enum { ILR_COOPERATE = 0, ILR_COMPETE = 1 } ilr_stance;

typedef struct {
    ilr_interaction_mode mode;
    ilr_interaction_rule rule;     /* dynamic mode */
    double coop_probability;       /* random mode */
} ilr_interaction;

/* The stance on a question whose m agents answer alone with probabilities p[0..m); rng is drawn from in
 * random mode only. */
ilr_stance ilr_interaction_decide(const ilr_interaction *in, const double *p, int m, ilr_rng *rng);

const char *ilr_stance_name(ilr_stance s); /* "coop", "comp" */
const char *ilr_interaction_mode_name(ilr_interaction_mode mode); /* "dynamic", "coop", "comp", "random" */
const char *ilr_interaction_rule_name(ilr_interaction_rule rule); /* "mean", "any", "all" */

#endif
