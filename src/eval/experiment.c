/* The experiment file and its cells (see include/ilr/experiment.h). */
#include "ilr/experiment.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ilr/error.h"
#include "ilr/io.h"
#include "ilr/json.h"
#include "ilr/train_config.h"

#define KEY(name, type, field, def, doc) {name, type, offsetof(ilr_experiment_config, field), def, doc, NULL, 1, 0, NULL, 0}
#define NUM(name, type, field, def, lo, hi, doc) \
    {name, type, offsetof(ilr_experiment_config, field), def, doc, NULL, lo, hi, NULL, 0}

static const ilr_cfg_key agent_keys[] = {
    {"name", ILR_CFG_STRING, offsetof(ilr_experiment_agent, name), "null",
     "the agent's name: in cell ids, eval directories and reports (default: the model directory's name)", NULL, 1, 0,
     NULL, 0},
    {"model", ILR_CFG_STRING, offsetof(ilr_experiment_agent, model), "null", "the model directory it starts from", NULL,
     1, 0, NULL, 0},
};
static const ilr_cfg_schema agent_schema = {agent_keys, 2, "experiment"};

static const ilr_cfg_key method_keys[] = {
    {"name", ILR_CFG_STRING, offsetof(ilr_experiment_method, name), "null",
     "the method's name in cell ids and reports (ilr, grpo, grpo-matched, ...)", NULL, 1, 0, NULL, 0},
    {"config", ILR_CFG_STRING, offsetof(ilr_experiment_method, config), "null",
     "an `ilr train` config: an ILR method trains every agent in one run, GRPO each agent alone", NULL, 1, 0, NULL, 0},
    {"set", ILR_CFG_STRING, offsetof(ilr_experiment_method, set), "null",
     "KEY=VALUE overrides of the train config for this method (space-separated), after the top-level set", NULL, 1, 0,
     NULL, 0},
    {"match", ILR_CFG_STRING, offsetof(ilr_experiment_method, match), "null",
     "an earlier ILR method: each cell's budget.match is that method's cell of the same seed (compute-matched GRPO)",
     NULL, 1, 0, NULL, 0},
};
static const ilr_cfg_schema method_schema = {method_keys, 4, "experiment"};

static const ilr_cfg_key experiment_keys[] = {
    KEY("name", ILR_CFG_STRING, name, "null", "the experiment's name, for reports (default: the file's name)"),
    KEY("output_dir", ILR_CFG_STRING, output_dir, "null",
        "where cells/, experiment.yaml and experiment.json go (default: runs/NAME)"),
    KEY("seeds", ILR_CFG_STRING, seeds, "1", "training seeds, spaces or commas between (\"1 2 3\")"),
    KEY("baseline", ILR_CFG_STRING, baseline, "null", "the method the report's paired differences are against"),
    KEY("set", ILR_CFG_STRING, set, "null", "KEY=VALUE overrides of every cell's train config (space-separated)"),
    NUM("jobs", ILR_CFG_INT, jobs, "1", 1, 256, "cells run at once (each a process of its own)"),
    NUM("threads", ILR_CFG_INT, threads, "0", 0, 1024,
        "OMP_NUM_THREADS of each cell (0: the environment's, else cores / jobs; keep jobs x threads <= cores)"),
    {"agents", ILR_CFG_LIST, offsetof(ilr_experiment_config, agents), "[]",
     "the starting models, each {name, model}", NULL, 1, 0, &agent_schema, sizeof(ilr_experiment_agent)},
    {"methods", ILR_CFG_LIST, offsetof(ilr_experiment_config, methods), "[]",
     "the methods, each {name, config, set, match}", NULL, 1, 0, &method_schema, sizeof(ilr_experiment_method)},
    KEY("eval.bench", ILR_CFG_STRING, eval_bench, "world-test",
        "benchmarks every trained model is evaluated on alone (ilr eval --bench: names or JSONL paths, commas)"),
    NUM("eval.samples", ILR_CFG_INT, eval_samples, "4", 0, 1024, "sampled answers per question (avg@k, pass@k, maj@k)"),
    KEY("eval.greedy", ILR_CFG_BOOL, eval_greedy, "true", "a greedy answer per question too"),
    NUM("eval.max", ILR_CFG_INT, eval_max, "0", 0, 1e9, "the first N questions of each benchmark (0: all)"),
    NUM("eval.max_new_tokens", ILR_CFG_INT, eval_max_new_tokens, "1024", 1, 1e6, "per answer"),
    NUM("eval.temperature", ILR_CFG_FLOAT, eval_temperature, "1.0", 0, 100, "sampling temperature"),
    NUM("eval.seed", ILR_CFG_INT, eval_seed, "1", 0, 9.2e18,
        "sampling seed of every evaluation (the same for all, so the paired differences pair the same streams)"),
    NUM("eval.batch", ILR_CFG_INT, eval_batch, "64", 1, 1e6, "sequences generated at once"),
    KEY("eval.base", ILR_CFG_BOOL, eval_base, "true", "evaluate the starting models too (cell \"base\")"),
};

static const ilr_cfg_schema experiment_schema = {experiment_keys, (int)(sizeof experiment_keys / sizeof experiment_keys[0]),
                                                 "experiment"};

const ilr_cfg_schema *ilr_experiment_schema(void) { return &experiment_schema; }

void ilr_experiment_free(ilr_experiment_config *c) { ilr_cfg_free(&experiment_schema, c); }

static ilr_experiment_agent *agent_at(const ilr_experiment_config *c, int i) {
    return (ilr_experiment_agent *)c->agents.items + i;
}
static ilr_experiment_method *method_at(const ilr_experiment_config *c, int i) {
    return (ilr_experiment_method *)c->methods.items + i;
}

/* Names end up in directory names: letters, digits and . _ + - only, not starting with '.'. */
static int check_name(const char *what, const char *name) {
    if (!name || !*name) return ILR_FAIL(ILR_EINVAL, "%s has no name", what);
    if (name[0] == '.') return ILR_FAIL(ILR_EINVAL, "%s: the name '%s' may not start with '.'", what, name);
    for (const char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("._+-", *p))
            return ILR_FAIL(ILR_EINVAL, "%s: the name '%s' may hold letters, digits and . _ + - only", what, name);
    return 0;
}

int ilr_experiment_seeds(const ilr_experiment_config *c, long *seeds, int cap) {
    int n = 0;
    const char *p = c->seeds ? c->seeds : "";
    while (*p) {
        if (isspace((unsigned char)*p) || *p == ',') {
            p++;
            continue;
        }
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 0 || (*end && !isspace((unsigned char)*end) && *end != ','))
            return ILR_FAIL(ILR_EINVAL, "seeds: '%s' is not a list of non-negative integers (\"1 2 3\")", c->seeds), -1;
        for (int i = 0; i < n; i++)
            if (seeds[i] == v) return ILR_FAIL(ILR_EINVAL, "seeds: %ld appears twice", v), -1;
        if (n == cap) return ILR_FAIL(ILR_EINVAL, "seeds: more than %d", cap), -1;
        seeds[n++] = v;
        p = end;
    }
    if (!n) return ILR_FAIL(ILR_EINVAL, "seeds: none given"), -1;
    return n;
}

/* The last path component of a model directory, as a default agent name. */
static char *base_name(const char *path) {
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/') len--;
    size_t start = len;
    while (start && path[start - 1] != '/') start--;
    return strndup(path + start, len - start);
}

static int check(ilr_experiment_config *c, const char *path) {
    if (!c->agents.count) return ILR_FAIL(ILR_EINVAL, "%s: agents: none listed (each {name, model})", path);
    if (!c->methods.count) return ILR_FAIL(ILR_EINVAL, "%s: methods: none listed (each {name, config})", path);
    long seeds[ILR_EXPERIMENT_MAX_SEEDS];
    if (ilr_experiment_seeds(c, seeds, ILR_EXPERIMENT_MAX_SEEDS) < 0) return ilr_error_prefix("%s", path);
    for (int i = 0; i < c->agents.count; i++) {
        ilr_experiment_agent *a = agent_at(c, i);
        if (!a->model) return ILR_FAIL(ILR_EINVAL, "%s: agents[%d] has no model", path, i);
        if (!a->name && !(a->name = base_name(a->model))) return ILR_FAIL(ILR_ENOMEM, "out of memory");
        char what[64];
        snprintf(what, sizeof what, "%s: agents[%d]", path, i);
        if (check_name(what, a->name)) return ilr_last_error_code();
        for (int j = 0; j < i; j++)
            if (!strcmp(agent_at(c, j)->name, a->name))
                return ILR_FAIL(ILR_EINVAL, "%s: agents[%d] and agents[%d] are both named '%s'", path, j, i, a->name);
    }
    for (int i = 0; i < c->methods.count; i++) {
        ilr_experiment_method *m = method_at(c, i);
        char what[64];
        snprintf(what, sizeof what, "%s: methods[%d]", path, i);
        if (check_name(what, m->name)) return ilr_last_error_code();
        if (!strcmp(m->name, "base"))
            return ILR_FAIL(ILR_EINVAL, "%s: methods[%d]: 'base' names the untrained models; choose another name", path, i);
        if (!m->config) return ILR_FAIL(ILR_EINVAL, "%s: methods[%d] (%s) has no config", path, i, m->name);
        for (int j = 0; j < i; j++)
            if (!strcmp(method_at(c, j)->name, m->name))
                return ILR_FAIL(ILR_EINVAL, "%s: methods[%d] and methods[%d] are both named '%s'", path, j, i, m->name);
        if (m->match) {
            int found = 0;
            for (int j = 0; j < i; j++) found |= !strcmp(method_at(c, j)->name, m->match);
            if (!found)
                return ILR_FAIL(ILR_EINVAL, "%s: methods[%d] (%s): match: '%s' is not a method listed before it", path, i,
                                m->name, m->match);
        }
    }
    if (c->baseline && strcmp(c->baseline, "base")) {
        int found = 0;
        for (int j = 0; j < c->methods.count; j++) found |= !strcmp(method_at(c, j)->name, c->baseline);
        if (!found) return ILR_FAIL(ILR_EINVAL, "%s: baseline: '%s' is not one of the methods (or base)", path, c->baseline);
    }
    if (!c->name && !(c->name = base_name(path))) return ILR_FAIL(ILR_ENOMEM, "out of memory");
    char *dot = strrchr(c->name, '.');
    if (dot && (!strcmp(dot, ".yaml") || !strcmp(dot, ".yml"))) *dot = 0;
    if (!c->output_dir) {
        char dir[4096];
        snprintf(dir, sizeof dir, "runs/%s", c->name);
        if (!(c->output_dir = strdup(dir))) return ILR_FAIL(ILR_ENOMEM, "out of memory");
    }
    return 0;
}

int ilr_experiment_load(ilr_experiment_config *c, const char *path, char *const *overrides, int num_overrides) {
    ilr_cfg_defaults(&experiment_schema, c);
    int rc = ilr_cfg_load_file(&experiment_schema, c, path);
    for (int i = 0; !rc && i < num_overrides; i++) rc = ilr_cfg_override(&experiment_schema, c, overrides[i]);
    if (!rc) rc = check(c, path);
    if (rc) ilr_experiment_free(c);
    return rc;
}

int ilr_experiment_load_text(ilr_experiment_config *c, const char *text, size_t len, const char *name) {
    ilr_cfg_defaults(&experiment_schema, c);
    int rc = ilr_cfg_load_text(&experiment_schema, c, text, len, name);
    if (!rc) rc = check(c, name);
    if (rc) ilr_experiment_free(c);
    return rc;
}

/* ---- the plan ---- */

typedef struct {
    char **items;
    int n, cap;
} arg_list;

static int arg_push(arg_list *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int arg_push(arg_list *l, const char *fmt, ...) {
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 16;
        char **items = realloc(l->items, (size_t)cap * sizeof *items);
        if (!items) return ILR_FAIL(ILR_ENOMEM, "out of memory");
        l->items = items, l->cap = cap;
    }
    va_list ap;
    va_start(ap, fmt);
    int rc = vasprintf(&l->items[l->n], fmt, ap);
    va_end(ap);
    if (rc < 0) return ILR_FAIL(ILR_ENOMEM, "out of memory");
    l->n++;
    return 0;
}

static void arg_free(arg_list *l) {
    for (int i = 0; i < l->n; i++) free(l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

/* The space-separated KEY=VALUE words of set (NULL: none), each checked to hold '='. */
static int push_words(arg_list *l, const char *set, const char *what) {
    for (const char *p = set ? set : ""; *p;) {
        if (isspace((unsigned char)*p)) {
            p++;
            continue;
        }
        const char *end = p;
        while (*end && !isspace((unsigned char)*end)) end++;
        if (!memchr(p, '=', (size_t)(end - p)))
            return ILR_FAIL(ILR_EINVAL, "%s: '%.*s' is not KEY=VALUE", what, (int)(end - p), p);
        if (arg_push(l, "%.*s", (int)(end - p), p)) return ilr_last_error_code();
        p = end;
    }
    return 0;
}

void ilr_experiment_plan_free(ilr_experiment_plan *plan) {
    for (int i = 0; i < plan->num_cells; i++) {
        for (int j = 0; j < plan->cells[i].num_args; j++) free(plan->cells[i].args[j]);
        free(plan->cells[i].args);
    }
    free(plan->cells);
    memset(plan, 0, sizeof *plan);
}

static ilr_experiment_cell *new_cell(ilr_experiment_plan *plan) {
    ilr_experiment_cell *cells = realloc(plan->cells, (size_t)(plan->num_cells + 1) * sizeof *cells);
    if (!cells) return ILR_FAIL(ILR_ENOMEM, "out of memory"), NULL;
    plan->cells = cells;
    ilr_experiment_cell *cell = &cells[plan->num_cells++];
    memset(cell, 0, sizeof *cell);
    cell->method = -1, cell->agent = -1, cell->depends_on = -1;
    return cell;
}

static void set_dir(const ilr_experiment_config *c, ilr_experiment_cell *cell) {
    snprintf(cell->dir, sizeof cell->dir, "%s/cells/%s", c->output_dir, cell->id);
}

/* Whether method m (with the top-level and its own overrides) is an ILR method, and how many agents its
 * config lists. */
static int method_kind(const ilr_experiment_config *c, int m, int *multi, long *config_agents) {
    const ilr_experiment_method *me = method_at(c, m);
    arg_list sets = {0};
    char what[300];
    snprintf(what, sizeof what, "method %s: set", me->name);
    int rc = push_words(&sets, c->set, "set");
    if (!rc) rc = push_words(&sets, me->set, what);
    /* the config as written, before the cross-key checks (the cells' own overrides complete it) */
    const ilr_cfg_schema *schema = ilr_train_config_schema();
    ilr_train_config tc;
    memset(&tc, 0, sizeof tc);
    ilr_cfg_defaults(schema, &tc);
    if (!rc) rc = ilr_cfg_load_file(schema, &tc, me->config);
    for (int i = 0; !rc && i < sets.n; i++) rc = ilr_cfg_override(schema, &tc, sets.items[i]);
    if (!rc) {
        *multi = ilr_train_is_ilr(&tc);
        *config_agents = tc.agents.count;
    } else {
        rc = ilr_error_prefix("method %s", me->name);
    }
    ilr_cfg_free(schema, &tc);
    arg_free(&sets);
    return rc;
}

static int cell_args(const ilr_experiment_config *c, const ilr_experiment_plan *plan, ilr_experiment_cell *cell,
                     long config_agents) {
    const ilr_experiment_method *me = method_at(c, cell->method);
    arg_list l = {0};
    char what[300];
    snprintf(what, sizeof what, "method %s: set", me->name);
    int rc = arg_push(&l, "%s", me->config);
    if (!rc) rc = arg_push(&l, "seed=%ld", cell->seed);
    if (!rc) rc = arg_push(&l, "data.test=null");
    if (!rc && cell->multi) {
        if (config_agents != c->agents.count) rc = arg_push(&l, "agents=[]");
        for (int a = 0; !rc && a < c->agents.count; a++) {
            rc = arg_push(&l, "agents.%d.name=%s", a, agent_at(c, a)->name);
            if (!rc) rc = arg_push(&l, "agents.%d.model=%s", a, agent_at(c, a)->model);
        }
    } else if (!rc) {
        rc = arg_push(&l, "model=%s", agent_at(c, cell->agent)->model);
    }
    if (!rc) rc = push_words(&l, c->set, "set");
    if (!rc) rc = push_words(&l, me->set, what);
    if (!rc && cell->depends_on >= 0) rc = arg_push(&l, "budget.match=%s", plan->cells[cell->depends_on].dir);
    if (!rc) rc = arg_push(&l, "output_dir=%s", cell->dir);
    ilr_train_config tc;
    if (!rc && !(rc = ilr_train_config_load(&tc, l.items[0], l.items + 1, l.n - 1))) ilr_train_config_free(&tc);
    else if (rc) rc = ilr_error_prefix("cell %s", cell->id);
    if (rc) {
        arg_free(&l);
        return rc;
    }
    cell->args = l.items;
    cell->num_args = l.n;
    return 0;
}

int ilr_experiment_plan_make(const ilr_experiment_config *c, ilr_experiment_plan *plan) {
    memset(plan, 0, sizeof *plan);
    long seeds[ILR_EXPERIMENT_MAX_SEEDS];
    int num_seeds = ilr_experiment_seeds(c, seeds, ILR_EXPERIMENT_MAX_SEEDS);
    if (num_seeds < 0) return ilr_last_error_code();
    int rc = 0;
    if (c->eval_base) {
        ilr_experiment_cell *cell = new_cell(plan);
        if (!cell) return ilr_last_error_code();
        snprintf(cell->id, sizeof cell->id, "base");
        set_dir(c, cell);
    }
    for (int m = 0; !rc && m < c->methods.count; m++) {
        const ilr_experiment_method *me = method_at(c, m);
        int multi = 0;
        long config_agents = 0;
        if ((rc = method_kind(c, m, &multi, &config_agents))) break;
        if (multi && c->agents.count < 2) {
            rc = ILR_FAIL(ILR_EINVAL, "method %s is an ILR method: it needs two or more agents (the experiment lists %ld)",
                          me->name, c->agents.count);
            break;
        }
        for (int s = 0; !rc && s < num_seeds; s++) {
            for (int a = 0; !rc && a < (multi ? 1 : (int)c->agents.count); a++) {
                ilr_experiment_cell *cell = new_cell(plan);
                if (!cell) return ilr_experiment_plan_free(plan), ilr_last_error_code();
                cell->method = m, cell->seed = seeds[s], cell->multi = multi, cell->agent = multi ? -1 : a;
                if (multi) snprintf(cell->id, sizeof cell->id, "%s-s%ld", me->name, seeds[s]);
                else snprintf(cell->id, sizeof cell->id, "%s-%s-s%ld", me->name, agent_at(c, a)->name, seeds[s]);
                set_dir(c, cell);
                if (me->match) {
                    for (int j = 0; j < plan->num_cells - 1; j++) {
                        const ilr_experiment_cell *o = &plan->cells[j];
                        if (o->method >= 0 && !strcmp(method_at(c, o->method)->name, me->match) && o->seed == seeds[s])
                            cell->depends_on = j;
                    }
                    if (cell->depends_on < 0 || !plan->cells[cell->depends_on].multi)
                        rc = ILR_FAIL(ILR_EINVAL, "method %s: match: %s is not an ILR method (budget.match reads the "
                                      "generated tokens of an ILR run's agents)", me->name, me->match);
                }
                if (!rc) rc = cell_args(c, plan, cell, config_agents);
            }
        }
    }
    if (rc) ilr_experiment_plan_free(plan);
    return rc;
}

int ilr_experiment_cell_has_agent(const ilr_experiment_cell *cell, int a) { return cell->agent < 0 || cell->agent == a; }

void ilr_experiment_cell_model(const ilr_experiment_config *c, const ilr_experiment_cell *cell, int a, char *out,
                               size_t cap) {
    if (cell->method < 0) snprintf(out, cap, "%s", agent_at(c, a)->model);
    else if (cell->multi) snprintf(out, cap, "%s/%s", cell->dir, agent_at(c, a)->name);
    else snprintf(out, cap, "%s", cell->dir);
}

/* ---- experiment.json ---- */

int ilr_experiment_json(const ilr_experiment_config *c, const ilr_experiment_plan *plan, double wall_seconds, json_t **out) {
    json_t *root = json_object(), *agents = json_array(), *methods = json_array(), *cells = json_array(),
           *seeds_json = json_array(), *bench = json_array();
    long seeds[ILR_EXPERIMENT_MAX_SEEDS];
    int num_seeds = ilr_experiment_seeds(c, seeds, ILR_EXPERIMENT_MAX_SEEDS);
    for (int s = 0; s < num_seeds; s++) json_array_append_new(seeds_json, json_integer(seeds[s]));
    for (int a = 0; a < c->agents.count; a++)
        json_array_append_new(agents, json_pack("{s:s, s:s}", "name", agent_at(c, a)->name, "model", agent_at(c, a)->model));
    for (int m = 0; m < c->methods.count; m++) {
        const ilr_experiment_method *me = method_at(c, m);
        int multi = 0;
        for (int i = 0; i < plan->num_cells; i++)
            if (plan->cells[i].method == m) multi = plan->cells[i].multi;
        json_t *set = json_array();
        arg_list words = {0};
        push_words(&words, me->set, "set");
        for (int i = 0; i < words.n; i++) json_array_append_new(set, json_string(words.items[i]));
        arg_free(&words);
        json_array_append_new(methods, json_pack("{s:s, s:s, s:b, s:o, s:s?}", "name", me->name, "config", me->config,
                                                 "multi_agent", multi, "set", set, "match", me->match));
    }
    for (const char *p = c->eval_bench; p && *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len) json_array_append_new(bench, json_stringn(p, len));
        p += len + (end != NULL);
    }
    int complete = 1;
    double cell_seconds = 0;
    for (int i = 0; i < plan->num_cells; i++) {
        const ilr_experiment_cell *cell = &plan->cells[i];
        char path[4300];
        snprintf(path, sizeof path, "%s/cell.json", cell->dir);
        json_t *entry = NULL;
        if (ilr_file_exists(path) && ilr_json_load_file(path, &entry)) {
            json_decref(root), json_decref(agents), json_decref(methods), json_decref(cells);
            json_decref(seeds_json), json_decref(bench);
            return ilr_last_error_code();
        }
        if (!entry)
            entry = json_pack("{s:s, s:s, s:o, s:s, s:s}", "id", cell->id, "method",
                              cell->method < 0 ? "base" : method_at(c, cell->method)->name, "seed",
                              cell->method < 0 ? json_null() : json_integer(cell->seed), "status", "pending", "dir",
                              cell->dir + strlen(c->output_dir) + 1);
        const char *status = json_string_value(json_object_get(entry, "status"));
        complete &= status && !strcmp(status, "done");
        cell_seconds += json_number_value(json_object_get(entry, "seconds"));
        json_array_append_new(cells, entry);
    }
    json_object_set_new(root, "name", json_string(c->name));
    json_object_set_new(root, "output_dir", json_string(c->output_dir));
    json_object_set_new(root, "baseline", c->baseline ? json_string(c->baseline) : json_null());
    json_object_set_new(root, "seeds", seeds_json);
    json_object_set_new(root, "agents", agents);
    json_object_set_new(root, "methods", methods);
    json_object_set_new(root, "eval", json_pack("{s:o, s:I, s:b, s:f, s:I, s:I, s:I}", "bench", bench, "samples",
                                                (json_int_t)c->eval_samples, "greedy", c->eval_greedy, "temperature",
                                                c->eval_temperature, "max_new_tokens", (json_int_t)c->eval_max_new_tokens,
                                                "max_questions", (json_int_t)c->eval_max, "seed", (json_int_t)c->eval_seed));
    json_object_set_new(root, "complete", json_boolean(complete));
    json_object_set_new(root, "seconds", json_real(cell_seconds));
    json_object_set_new(root, "wall_seconds", json_real(wall_seconds));
    json_object_set_new(root, "cells", cells);
    *out = root;
    return 0;
}
