/* Dynamic Interaction (see include/ilr/interaction.h). */
#include "ilr/interaction.h"

ilr_stance ilr_interaction_decide(const ilr_interaction *in, const double *p, int m, ilr_rng *rng) {
    switch (in->mode) {
    case ILR_MODE_COOP: return ILR_COOPERATE;
    case ILR_MODE_COMP: return ILR_COMPETE;
    case ILR_MODE_RANDOM: return ilr_rng_uniform_f64(rng) < in->coop_probability ? ILR_COOPERATE : ILR_COMPETE;
    default: break;
    }
    int below = 0;
    double sum = 0;
    for (int i = 0; i < m; i++) sum += p[i], below += p[i] < 0.5;
    int coop = in->rule == ILR_RULE_ANY ? below > 0 : in->rule == ILR_RULE_ALL ? below == m : sum / m < 0.5;
    return coop ? ILR_COOPERATE : ILR_COMPETE;
}

const char *ilr_stance_name(ilr_stance s) { return s == ILR_COOPERATE ? "coop" : "comp"; }

const char *ilr_interaction_mode_name(ilr_interaction_mode mode) {
    static const char *const names[] = {"dynamic", "coop", "comp", "random"};
    return (unsigned)mode < 4 ? names[mode] : "?";
}

const char *ilr_interaction_rule_name(ilr_interaction_rule rule) {
    static const char *const names[] = {"mean", "any", "all"};
    return (unsigned)rule < 3 ? names[rule] : "?";
}
