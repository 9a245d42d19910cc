/* A fitted IRT model (see ilr/irt.h): lookups by name, mean difficulty per level, and irt.json. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ilr/error.h"
#include "ilr/irt.h"
#include "ilr/json.h"
#include "irt_internal.h"

int ilr_irt_fit_alloc(ilr_irt_fit *fit, int num_agents, int num_questions) {
    memset(fit, 0, sizeof *fit);
    size_t m = num_agents > 0 ? (size_t)num_agents : 1, q = num_questions > 0 ? (size_t)num_questions : 1;
    fit->gamma = calloc(m, sizeof(double)), fit->gamma_se = calloc(m, sizeof(double));
    fit->difficulty = calloc(q, sizeof(double)), fit->difficulty_se = calloc(q, sizeof(double));
    fit->log_likelihood = fit->log_posterior = NAN;
    fit->prior_sd_gamma = fit->prior_sd_difficulty = NAN;
    if (fit->gamma && fit->gamma_se && fit->difficulty && fit->difficulty_se) return 0;
    ilr_irt_fit_free(fit);
    return ILR_FAIL(ILR_ENOMEM, "irt: out of memory for %d agents and %d questions", num_agents, num_questions);
}

void ilr_irt_fit_free(ilr_irt_fit *fit) {
    ilr_irt_names_free(fit->agents, fit->num_agents);
    ilr_irt_names_free(fit->questions, fit->num_questions);
    free(fit->gamma), free(fit->gamma_se), free(fit->difficulty), free(fit->difficulty_se);
    ilr_strmap_free(&fit->agent_index);
    ilr_strmap_free(&fit->question_index);
    memset(fit, 0, sizeof *fit);
}

/* The value and standard error of name in one of the fit's tables. */
static int lookup(const ilr_strmap *index, const double *values, const double *se, const char *kind,
                  const char *name, double *value, double *se_out) {
    int32_t at = ilr_strmap_get(index, name, strlen(name));
    if (at < 0) return ILR_FAIL(ILR_ENOTFOUND, "the IRT fit has no %s '%s'", kind, name);
    *value = values[at];
    if (se_out) *se_out = se[at];
    return 0;
}

int ilr_irt_fit_gamma(const ilr_irt_fit *fit, const char *agent, double *gamma, double *se) {
    return lookup(&fit->agent_index, fit->gamma, fit->gamma_se, "agent", agent, gamma, se);
}

int ilr_irt_fit_difficulty(const ilr_irt_fit *fit, const char *question, double *difficulty, double *se) {
    return lookup(&fit->question_index, fit->difficulty, fit->difficulty_se, "question", question, difficulty, se);
}

int ilr_irt_mean_difficulty_by_level(const ilr_irt_fit *fit, const char *const *ids, const int *levels, int n,
                                     int num_levels, double *mean, int *count) {
    for (int k = 0; k < n; k++)
        if (levels[k] < 0 || levels[k] >= num_levels)
            return ILR_FAIL(ILR_EINVAL, "irt: question '%s' has level %d, outside [0, %d)", ids[k], levels[k],
                            num_levels);
    for (int l = 0; l < num_levels; l++) mean[l] = 0;
    if (count) memset(count, 0, sizeof(int) * num_levels);
    int *seen = calloc(num_levels ? (size_t)num_levels : 1, sizeof(int));
    if (!seen) return ILR_FAIL(ILR_ENOMEM, "irt: out of memory");
    for (int k = 0; k < n; k++) {
        int32_t at = ilr_strmap_get(&fit->question_index, ids[k], strlen(ids[k]));
        if (at < 0) continue;
        mean[levels[k]] += fit->difficulty[at];
        seen[levels[k]]++;
    }
    for (int l = 0; l < num_levels; l++) {
        mean[l] = seen[l] ? mean[l] / seen[l] : NAN;
        if (count) count[l] = seen[l];
    }
    free(seen);
    return 0;
}

/* ---- irt.json ---- */

/* {name: value} for the finite values; NULL when one is not (a loaded fit without standard errors). */
static json_t *name_table(char *const *names, const double *values, int n) {
    json_t *obj = json_object();
    for (int i = 0; obj && i < n; i++) {
        if (!isfinite(values[i])) return json_decref(obj), NULL;
        json_object_set_new(obj, names[i], json_real(values[i]));
    }
    return obj;
}

static void set_finite(json_t *root, const char *key, double value) {
    if (isfinite(value)) json_object_set_new(root, key, json_real(value));
}

int ilr_irt_fit_save(const ilr_irt_fit *fit, const char *path) {
    json_t *root = json_object(), *prior = json_object(), *se;
    json_object_set_new(root, "model", json_string("1PL"));
    json_object_set_new(root, "scale", json_real(ILR_IRT_SCALE));
    json_object_set_new(root, "gamma", name_table(fit->agents, fit->gamma, fit->num_agents));
    if ((se = name_table(fit->agents, fit->gamma_se, fit->num_agents))) json_object_set_new(root, "gamma_se", se);
    json_object_set_new(root, "difficulty", name_table(fit->questions, fit->difficulty, fit->num_questions));
    if ((se = name_table(fit->questions, fit->difficulty_se, fit->num_questions)))
        json_object_set_new(root, "difficulty_se", se);
    set_finite(root, "log_likelihood", fit->log_likelihood);
    set_finite(root, "log_posterior", fit->log_posterior);
    set_finite(prior, "gamma", fit->prior_sd_gamma);
    set_finite(prior, "difficulty", fit->prior_sd_difficulty);
    if (json_object_size(prior)) json_object_set(root, "prior_sd", prior);
    json_object_set_new(root, "responses", json_integer(fit->responses));
    json_object_set_new(root, "iterations", json_integer(fit->iterations));
    int rc = json_object_get(root, "gamma") && json_object_get(root, "difficulty")
                 ? ilr_json_save_file(path, root)
                 : ILR_FAIL(ILR_EINVAL, "%s: the fit has a non-finite gamma or difficulty", path);
    json_decref(prior);
    json_decref(root);
    return rc;
}

/* The names (keys) of the required table at key into names / index. */
static int load_names(const json_t *root, const char *key, const char *kind, const char *path, char ***names,
                      int *count, ilr_strmap *index) {
    const json_t *table = json_object_get(root, key);
    if (!table) return ILR_FAIL(ILR_EFORMAT, "%s: missing key '%s' (an object of %s -> number)", path, key, kind);
    if (!json_is_object(table) || !json_object_size(table))
        return ILR_FAIL(ILR_EFORMAT, "%s: key '%s': expected a non-empty object of %s -> number, got %s%s", path,
                        key, kind, json_is_object(table) ? "an empty " : "", ilr_json_type_name(table));
    const char *name;
    const json_t *v;
    int cap = 0, at, rc;
    json_object_foreach((json_t *)table, name, v) {
        if (!name[0]) return ILR_FAIL(ILR_EFORMAT, "%s: key '%s': an empty %s", path, key, kind);
        if ((rc = ilr_irt_intern(names, count, &cap, index, name, strlen(name), &at))) return rc;
    }
    return 0;
}

/* values[i] = table[names[i]] for the table at key; when optional and absent, NaN throughout. */
static int load_values(const json_t *root, const char *key, int required, char *const *names, int n,
                       const char *path, double lo, double *values) {
    const json_t *table = json_object_get(root, key);
    for (int i = 0; i < n; i++) values[i] = NAN;
    if (!table && !required) return 0;
    if (!json_is_object(table))
        return ILR_FAIL(ILR_EFORMAT, "%s: key '%s': expected an object, got %s", path, key, ilr_json_type_name(table));
    if (json_object_size(table) != (size_t)n)
        return ILR_FAIL(ILR_EFORMAT, "%s: key '%s' has %zu entries, but the parameters have %d", path, key,
                        json_object_size(table), n);
    for (int i = 0; i < n; i++) {
        const json_t *v = json_object_get(table, names[i]);
        if (!v) return ILR_FAIL(ILR_EFORMAT, "%s: key '%s' lacks '%s'", path, key, names[i]);
        if (!json_is_number(v) || !(json_number_value(v) >= lo))
            return ILR_FAIL(ILR_EFORMAT, "%s: %s['%s']: expected a number%s", path, key, names[i],
                            lo > -INFINITY ? " >= 0" : "");
        values[i] = json_number_value(v);
    }
    return 0;
}

/* model, scale and the optional scalars. */
static int load_header(const json_t *root, const char *path, ilr_irt_fit *fit) {
    const char *model = "1PL";
    double scale = ILR_IRT_SCALE;
    int64_t responses = 0, iterations = 0;
    const json_t *prior = json_object_get(root, "prior_sd");
    int rc;
    if ((rc = ilr_json_get_string(root, "model", 0, path, &model)) < 0 ||
        (rc = ilr_json_get_number(root, "scale", 0, path, &scale)) < 0 ||
        (rc = ilr_json_get_number(root, "log_likelihood", 0, path, &fit->log_likelihood)) < 0 ||
        (rc = ilr_json_get_number(root, "log_posterior", 0, path, &fit->log_posterior)) < 0 ||
        (rc = ilr_json_get_int(root, "responses", 0, path, 0, INT64_MAX, &responses)) < 0 ||
        (rc = ilr_json_get_int(root, "iterations", 0, path, 0, INT32_MAX, &iterations)) < 0 ||
        (prior && (rc = ilr_json_get_number(prior, "gamma", 0, path, &fit->prior_sd_gamma)) < 0) ||
        (prior && (rc = ilr_json_get_number(prior, "difficulty", 0, path, &fit->prior_sd_difficulty)) < 0))
        return rc;
    if (strcmp(model, "1PL") != 0)
        return ILR_FAIL(ILR_EUNSUPPORTED, "%s: model '%s' (ilr fits the 1PL model only)", path, model);
    if (fabs(scale - ILR_IRT_SCALE) > 1e-12)
        return ILR_FAIL(ILR_EUNSUPPORTED, "%s: scale %g (ilr's 1PL model uses 1.7)", path, scale);
    fit->responses = responses, fit->iterations = (int)iterations;
    return 0;
}

static int load_root(const json_t *root, const char *path, ilr_irt_fit *fit) {
    if (!json_is_object(root)) return ILR_FAIL(ILR_EFORMAT, "%s: expected a JSON object", path);
    const json_t *g = json_object_get(root, "gamma"), *d = json_object_get(root, "difficulty");
    int rc = ilr_irt_fit_alloc(fit, json_is_object(g) ? (int)json_object_size(g) : 0,
                               json_is_object(d) ? (int)json_object_size(d) : 0);
    if (rc) return rc;
    if ((rc = load_header(root, path, fit)) ||
        (rc = load_names(root, "gamma", "agent name", path, &fit->agents, &fit->num_agents, &fit->agent_index)) ||
        (rc = load_names(root, "difficulty", "question id", path, &fit->questions, &fit->num_questions,
                         &fit->question_index)) ||
        (rc = load_values(root, "gamma", 1, fit->agents, fit->num_agents, path, -INFINITY, fit->gamma)) ||
        (rc = load_values(root, "gamma_se", 0, fit->agents, fit->num_agents, path, 0, fit->gamma_se)) ||
        (rc = load_values(root, "difficulty", 1, fit->questions, fit->num_questions, path, -INFINITY,
                          fit->difficulty)) ||
        (rc = load_values(root, "difficulty_se", 0, fit->questions, fit->num_questions, path, 0, fit->difficulty_se)))
        return rc;
    fit->has_se = json_object_get(root, "gamma_se") && json_object_get(root, "difficulty_se");
    return 0;
}

int ilr_irt_fit_load(const char *path, ilr_irt_fit *out) {
    memset(out, 0, sizeof *out);
    json_t *root;
    int rc = ilr_json_load_file(path, &root);
    if (rc) return rc;
    if ((rc = load_root(root, path, out))) ilr_irt_fit_free(out);
    json_decref(root);
    return rc;
}

int ilr_irt_fit_parse(const char *text, size_t len, const char *name, ilr_irt_fit *out) {
    memset(out, 0, sizeof *out);
    json_error_t err;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
    if (!root) return ILR_FAIL(ILR_EFORMAT, "%s:%d:%d: %s", name, err.line, err.column, err.text);
    int rc = load_root(root, name, out);
    if (rc) ilr_irt_fit_free(out);
    json_decref(root);
    return rc;
}
