/* The IRT fit (see ilr/irt.h): joint MAP of abilities and difficulties under mean D = 0, by Newton's
 * method on the arrow-shaped Hessian, with standard errors from the constrained inverse Hessian.
 *
 * Notation: m agents, Q questions, s = 1.7, eta = s (gamma_i - D_q), p = 1 / (1 + exp(-eta)).  For the
 * log posterior f, per cell of n answers with c right, w = n s^2 p (1 - p) is the cell's information:
 *   df/dgamma_i = sum_q s (c - n p) - gamma_i / sg^2      -d2f/dgamma_i^2 = A_i = sum_q w + 1 / sg^2
 *   df/dD_q     = -sum_i s (c - n p) - D_q / sd^2        -d2f/dD_q^2     = C_q = sum_i w + 1 / sd^2
 *   -d2f/dgamma_i dD_q = -w   (no gamma-gamma or D-D cross terms)
 * The Newton step under sum D = 0 solves the KKT system with unknowns (dgamma, mu | dD):
 *   [ K11   K12 ] [x1]   [b1]     K11 = diag(A_1..A_m, 0), K12 column q = k_q = (-w_1q .. -w_mq, 1),
 *   [ K12^T C   ] [dD] = [g_D]    b1 = (g_gamma, -sum D)
 * C is diagonal, so dD = C^-1 (g_D - K12^T x1) and x1 solves the (m + 1)-square Schur complement
 * S x1 = b1 - K12 C^-1 g_D, S = K11 - sum_q k_q k_q^T / C_q.  The inverse of the KKT matrix gives the
 * constrained covariance: Var gamma_i = (S^-1)_ii, Var D_q = 1 / C_q + k_q^T S^-1 k_q / C_q^2. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ilr/error.h"
#include "ilr/irt.h"
#include "irt_internal.h"

double ilr_irt_probability(double gamma, double difficulty) {
    return 1.0 / (1.0 + exp(-ILR_IRT_SCALE * (gamma - difficulty)));
}

ilr_irt_options ilr_irt_options_default(void) {
    return (ilr_irt_options){ILR_IRT_DEFAULT_PRIOR_SD, ILR_IRT_DEFAULT_PRIOR_SD, 100, 1e-10};
}

/* log(1 + exp(x)) without overflow. */
static double softplus(double x) { return (x > 0 ? x : 0) + log1p(exp(-fabs(x))); }

typedef struct {
    const ilr_irt_responses *r;
    int m, Q, k;                /* agents, questions, k = m + 1 (the Schur block) */
    double inv_var_g, inv_var_d; /* prior precisions */
    double log_norm;            /* the prior's normalising constants, summed */
    int *order, *qstart;        /* cells grouped by question: order[qstart[q] .. qstart[q + 1]) */
    double *theta, *trial;      /* [m + Q]: gamma then D */
    double *grad, *curv, *step; /* [m + Q]: gradient, diagonal A then C, Newton step */
    double *w;                  /* [cells] */
    double *S, *Sinv, *rhs;     /* [k * k], [k * k], [k] */
    int *piv;                   /* [k] */
} newton;

static void newton_free(newton *nw) {
    free(nw->order), free(nw->qstart), free(nw->theta), free(nw->trial), free(nw->grad), free(nw->curv);
    free(nw->step), free(nw->w), free(nw->S), free(nw->Sinv), free(nw->rhs), free(nw->piv);
}

/* Groups the cells by question (a counting sort). */
static void group_cells(newton *nw) {
    const ilr_irt_responses *r = nw->r;
    for (int c = 0; c < r->num_cells; c++) nw->qstart[r->cells[c].question + 1]++;
    for (int q = 0; q < nw->Q; q++) nw->qstart[q + 1] += nw->qstart[q];
    for (int c = 0; c < r->num_cells; c++) nw->order[nw->qstart[r->cells[c].question]++] = c;
    for (int q = nw->Q; q > 0; q--) nw->qstart[q] = nw->qstart[q - 1];
    nw->qstart[0] = 0;
}

static int newton_init(newton *nw, const ilr_irt_responses *r, const ilr_irt_options *opt) {
    memset(nw, 0, sizeof *nw);
    nw->r = r, nw->m = r->num_agents, nw->Q = r->num_questions, nw->k = r->num_agents + 1;
    nw->inv_var_g = 1 / (opt->prior_sd_gamma * opt->prior_sd_gamma);
    nw->inv_var_d = 1 / (opt->prior_sd_difficulty * opt->prior_sd_difficulty);
    nw->log_norm = -0.5 * nw->m * log(2 * M_PI / nw->inv_var_g) - 0.5 * nw->Q * log(2 * M_PI / nw->inv_var_d);
    size_t n = (size_t)nw->m + nw->Q, kk = (size_t)nw->k * nw->k;
    nw->order = malloc(sizeof(int) * r->num_cells), nw->qstart = calloc((size_t)nw->Q + 1, sizeof(int));
    nw->theta = calloc(n, sizeof(double)), nw->trial = malloc(sizeof(double) * n);
    nw->grad = malloc(sizeof(double) * n), nw->curv = malloc(sizeof(double) * n);
    nw->step = malloc(sizeof(double) * n), nw->w = malloc(sizeof(double) * r->num_cells);
    nw->S = malloc(sizeof(double) * kk), nw->Sinv = malloc(sizeof(double) * kk);
    nw->rhs = malloc(sizeof(double) * nw->k), nw->piv = malloc(sizeof(int) * nw->k);
    if (!nw->order || !nw->qstart || !nw->theta || !nw->trial || !nw->grad || !nw->curv || !nw->step || !nw->w ||
        !nw->S || !nw->Sinv || !nw->rhs || !nw->piv) {
        newton_free(nw);
        return ILR_FAIL(ILR_ENOMEM, "irt fit: out of memory for %d agents x %d questions", nw->m, nw->Q);
    }
    group_cells(nw);
    return 0;
}

/* The log posterior at theta; *ll gets the log-likelihood. */
static double log_posterior(const newton *nw, const double *theta, double *ll) {
    const double *gamma = theta, *D = theta + nw->m;
    double like = 0, prior = nw->log_norm;
    for (int c = 0; c < nw->r->num_cells; c++) {
        const ilr_irt_cell *cell = &nw->r->cells[c];
        double eta = ILR_IRT_SCALE * (gamma[cell->agent] - D[cell->question]);
        like -= cell->correct * softplus(-eta) + (double)(cell->answers - cell->correct) * softplus(eta);
    }
    for (int i = 0; i < nw->m; i++) prior -= 0.5 * nw->inv_var_g * gamma[i] * gamma[i];
    for (int q = 0; q < nw->Q; q++) prior -= 0.5 * nw->inv_var_d * D[q] * D[q];
    *ll = like;
    return like + prior;
}

/* grad, curv (A then C) and the cells' w at theta. */
static void derivatives(newton *nw) {
    const double *gamma = nw->theta, *D = nw->theta + nw->m;
    for (int i = 0; i < nw->m; i++) nw->grad[i] = -nw->inv_var_g * gamma[i], nw->curv[i] = nw->inv_var_g;
    for (int q = 0; q < nw->Q; q++) nw->grad[nw->m + q] = -nw->inv_var_d * D[q], nw->curv[nw->m + q] = nw->inv_var_d;
    const double s = ILR_IRT_SCALE;
    for (int c = 0; c < nw->r->num_cells; c++) {
        const ilr_irt_cell *cell = &nw->r->cells[c];
        int i = cell->agent, q = nw->m + cell->question;
        double p = 1 / (1 + exp(-s * (gamma[i] - D[cell->question])));
        double g = s * (cell->correct - cell->answers * p), w = cell->answers * s * s * p * (1 - p);
        nw->grad[i] += g, nw->grad[q] -= g;
        nw->curv[i] += w, nw->curv[q] += w;
        nw->w[c] = w;
    }
}

/* S = K11 - sum_q k_q k_q^T / C_q (row-major k x k; row m is the constraint's multiplier). */
static void schur_build(newton *nw) {
    int m = nw->m, k = nw->k;
    memset(nw->S, 0, sizeof(double) * k * k);
    for (int i = 0; i < m; i++) nw->S[i * k + i] = nw->curv[i];
    for (int q = 0; q < nw->Q; q++) {
        double inv_c = 1 / nw->curv[m + q];
        for (int a = nw->qstart[q]; a < nw->qstart[q + 1]; a++) {
            int ca = nw->order[a], ia = nw->r->cells[ca].agent;
            double wa = nw->w[ca] * inv_c;
            for (int b = nw->qstart[q]; b < nw->qstart[q + 1]; b++) {
                int cb = nw->order[b];
                nw->S[ia * k + nw->r->cells[cb].agent] -= wa * nw->w[cb];
            }
            nw->S[ia * k + m] += wa, nw->S[m * k + ia] += wa;
        }
        nw->S[m * k + m] -= inv_c;
    }
}

/* LU factorisation with partial pivoting of the k x k matrix a, in place.  S is small (agents + 1) and
 * symmetric indefinite (the multiplier's row), so plain Gaussian elimination with pivoting is enough. */
static int lu_factor(double *a, int *piv, int k) {
    for (int j = 0; j < k; j++) {
        int p = j;
        for (int i = j + 1; i < k; i++)
            if (fabs(a[i * k + j]) > fabs(a[p * k + j])) p = i;
        if (a[p * k + j] == 0 || !isfinite(a[p * k + j]))
            return ILR_FAIL(ILR_EUNSUPPORTED, "irt fit: singular Newton system (pivot %d)", j);
        piv[j] = p;
        for (int c = 0; p != j && c < k; c++) {
            double t = a[j * k + c];
            a[j * k + c] = a[p * k + c], a[p * k + c] = t;
        }
        for (int i = j + 1; i < k; i++) {
            double f = a[i * k + j] /= a[j * k + j];
            for (int c = j + 1; c < k; c++) a[i * k + c] -= f * a[j * k + c];
        }
    }
    return 0;
}

/* Solves in place; the factorisation swapped whole rows, so the swaps all come first. */
static void lu_solve(const double *lu, const int *piv, int k, double *x) {
    for (int j = 0; j < k; j++) {
        double t = x[j];
        x[j] = x[piv[j]], x[piv[j]] = t;
    }
    for (int j = 0; j < k; j++)
        for (int i = j + 1; i < k; i++) x[i] -= lu[i * k + j] * x[j];
    for (int i = k - 1; i >= 0; i--) {
        for (int c = i + 1; c < k; c++) x[i] -= lu[i * k + c] * x[c];
        x[i] /= lu[i * k + i];
    }
}

/* The constrained Newton step at theta into step (needs derivatives and a factorised S); returns its
 * largest component. */
static double newton_step(newton *nw) {
    int m = nw->m;
    const double *gD = nw->grad + m, *C = nw->curv + m;
    double sum_d = 0;
    for (int q = 0; q < nw->Q; q++) sum_d += nw->theta[m + q];
    for (int i = 0; i < m; i++) nw->rhs[i] = nw->grad[i];
    nw->rhs[m] = -sum_d;
    for (int c = 0; c < nw->r->num_cells; c++) {
        int q = nw->r->cells[c].question;
        nw->rhs[nw->r->cells[c].agent] += nw->w[c] * gD[q] / C[q];
    }
    for (int q = 0; q < nw->Q; q++) nw->rhs[m] -= gD[q] / C[q];
    lu_solve(nw->S, nw->piv, nw->k, nw->rhs);
    double *dD = nw->step + m, largest = 0;
    for (int i = 0; i < m; i++) nw->step[i] = nw->rhs[i];
    for (int q = 0; q < nw->Q; q++) dD[q] = gD[q] - nw->rhs[m];
    for (int c = 0; c < nw->r->num_cells; c++) dD[nw->r->cells[c].question] += nw->w[c] * nw->rhs[nw->r->cells[c].agent];
    for (int q = 0; q < nw->Q; q++) dD[q] /= C[q];
    for (int j = 0; j < m + nw->Q; j++) largest = fmax(largest, fabs(nw->step[j]));
    return largest;
}

/* Backtracking (Armijo) along step from theta, whose log posterior is f; moves theta and returns the new f.
 * Returns NAN when no step length increases f (beyond rounding). */
static double line_search(newton *nw, double f) {
    int n = nw->m + nw->Q;
    double slope = 0, ll;
    for (int j = 0; j < n; j++) slope += nw->grad[j] * nw->step[j];
    double slack = 1e-13 * (1 + fabs(f)); /* f's rounding: near the optimum a step's gain is below it */
    for (double t = 1; t > 1e-12; t *= 0.5) {
        for (int j = 0; j < n; j++) nw->trial[j] = nw->theta[j] + t * nw->step[j];
        double f_new = log_posterior(nw, nw->trial, &ll);
        if (f_new >= f + 1e-4 * t * slope - slack) {
            memcpy(nw->theta, nw->trial, sizeof(double) * n);
            return f_new;
        }
    }
    return NAN;
}

/* max |projected gradient|: the gradient with its component along the constraint's normal removed. */
static double projected_gradient_norm(const newton *nw) {
    double mean = 0, largest = 0;
    for (int q = 0; q < nw->Q; q++) mean += nw->grad[nw->m + q] / nw->Q;
    for (int i = 0; i < nw->m; i++) largest = fmax(largest, fabs(nw->grad[i]));
    for (int q = 0; q < nw->Q; q++) largest = fmax(largest, fabs(nw->grad[nw->m + q] - mean));
    return largest;
}

/* Newton iterations from theta = 0 until a step moves nothing by more than the tolerance. */
static int newton_run(newton *nw, const ilr_irt_options *opt, int *iterations) {
    double ll, f = log_posterior(nw, nw->theta, &ll);
    for (*iterations = 0; *iterations < opt->max_iterations;) {
        derivatives(nw);
        schur_build(nw);
        int rc = lu_factor(nw->S, nw->piv, nw->k);
        if (rc) return rc;
        double largest = newton_step(nw);
        ++*iterations;
        if (!isfinite(largest)) break;
        if (largest <= opt->tolerance) {
            for (int j = 0; j < nw->m + nw->Q; j++) nw->theta[j] += nw->step[j];
            return 0;
        }
        if (isnan(f = line_search(nw, f))) break;
    }
    derivatives(nw);
    return ILR_FAIL(ILR_EUNSUPPORTED,
                    "irt fit: Newton's method did not converge in %d iterations (max |projected gradient| %.3g)",
                    *iterations, projected_gradient_norm(nw));
}

/* S^-1 from the factorised S, column by column. */
static void schur_inverse(newton *nw) {
    int k = nw->k;
    for (int j = 0; j < k; j++) {
        for (int i = 0; i < k; i++) nw->rhs[i] = i == j;
        lu_solve(nw->S, nw->piv, k, nw->rhs);
        for (int i = 0; i < k; i++) nw->Sinv[i * k + j] = nw->rhs[i];
    }
}

/* Standard errors at the final theta (derivatives and factorised S current). */
static void standard_errors(newton *nw, ilr_irt_fit *fit) {
    int m = nw->m, k = nw->k;
    const double *Si = nw->Sinv;
    schur_inverse(nw);
    for (int i = 0; i < m; i++) fit->gamma_se[i] = sqrt(fmax(Si[i * k + i], 0));
    for (int q = 0; q < nw->Q; q++) {
        double quad = Si[m * k + m], inv_c = 1 / nw->curv[m + q];
        for (int a = nw->qstart[q]; a < nw->qstart[q + 1]; a++) {
            int ca = nw->order[a], ia = nw->r->cells[ca].agent;
            quad -= 2 * nw->w[ca] * Si[ia * k + m];
            for (int b = nw->qstart[q]; b < nw->qstart[q + 1]; b++)
                quad += nw->w[ca] * nw->w[nw->order[b]] * Si[ia * k + nw->r->cells[nw->order[b]].agent];
        }
        fit->difficulty_se[q] = sqrt(fmax(inv_c + quad * inv_c * inv_c, 0));
    }
}

/* Copies the names and the final point into fit, with mean D = 0 exactly. */
static int fit_fill(newton *nw, const ilr_irt_options *opt, ilr_irt_fit *fit) {
    const ilr_irt_responses *r = nw->r;
    int rc = ilr_irt_fit_alloc(fit, nw->m, nw->Q), cap = 0, at;
    for (int i = 0; !rc && i < nw->m; i++)
        rc = ilr_irt_intern(&fit->agents, &fit->num_agents, &cap, &fit->agent_index, r->agents[i],
                            strlen(r->agents[i]), &at);
    cap = 0;
    for (int q = 0; !rc && q < nw->Q; q++)
        rc = ilr_irt_intern(&fit->questions, &fit->num_questions, &cap, &fit->question_index, r->questions[q],
                            strlen(r->questions[q]), &at);
    if (rc) return ilr_irt_fit_free(fit), rc;
    double mean = 0;
    for (int q = 0; q < nw->Q; q++) mean += nw->theta[nw->m + q] / nw->Q;
    for (int q = 0; q < nw->Q; q++) nw->theta[nw->m + q] -= mean;
    memcpy(fit->gamma, nw->theta, sizeof(double) * nw->m);
    memcpy(fit->difficulty, nw->theta + nw->m, sizeof(double) * nw->Q);
    fit->log_posterior = log_posterior(nw, nw->theta, &fit->log_likelihood);
    fit->prior_sd_gamma = opt->prior_sd_gamma, fit->prior_sd_difficulty = opt->prior_sd_difficulty;
    fit->responses = r->responses;
    return 0;
}

/* The gradient norm and standard errors at the final point; frees fit on failure. */
static int fit_uncertainty(newton *nw, ilr_irt_fit *fit) {
    derivatives(nw);
    fit->gradient_norm = projected_gradient_norm(nw);
    schur_build(nw);
    int rc = lu_factor(nw->S, nw->piv, nw->k);
    if (rc) return ilr_irt_fit_free(fit), rc;
    standard_errors(nw, fit);
    fit->has_se = 1;
    return 0;
}

int ilr_irt_fit_run(const ilr_irt_responses *r, const ilr_irt_options *opt, ilr_irt_fit *out) {
    memset(out, 0, sizeof *out);
    if (!r->num_cells) return ILR_FAIL(ILR_EINVAL, "irt fit: no responses to fit");
    if (!(opt->prior_sd_gamma > 0 && opt->prior_sd_difficulty > 0 && isfinite(opt->prior_sd_gamma) &&
          isfinite(opt->prior_sd_difficulty)))
        return ILR_FAIL(ILR_EINVAL, "irt fit: the prior sds must be positive and finite (gamma %g, difficulty %g)",
                        opt->prior_sd_gamma, opt->prior_sd_difficulty);
    newton nw;
    int iterations = 0, rc = newton_init(&nw, r, opt);
    if (rc) return rc;
    rc = newton_run(&nw, opt, &iterations);
    if (!rc) rc = fit_fill(&nw, opt, out);
    if (!rc) rc = fit_uncertainty(&nw, out);
    out->iterations = rc ? 0 : iterations;
    newton_free(&nw);
    return rc;
}
