/* The IRT response matrix (see ilr/irt.h): agents and questions interned by name, one cell per
 * (agent, question) pair that has answers, and the JSONL reader. */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ilr/error.h"
#include "ilr/irt.h"
#include "ilr/json.h"
#include "irt_internal.h"

/* Grows *array (of size elements, capacity *cap) to hold need elements. */
static int grow(void **array, int *cap, int need, size_t size) {
    if (need <= *cap) return 0;
    if (need == INT_MAX) return ILR_FAIL(ILR_EINVAL, "irt: more than %d names or cells", INT_MAX - 1);
    int cap2 = *cap < 16 ? 16 : (*cap > INT_MAX / 2 ? INT_MAX - 1 : *cap * 2);
    void *p = realloc(*array, (size_t)cap2 * size);
    if (!p) return ILR_FAIL(ILR_ENOMEM, "irt: out of memory for %d entries", cap2);
    *array = p;
    *cap = cap2;
    return 0;
}

int ilr_irt_intern(char ***names, int *count, int *cap, ilr_strmap *index, const char *name, size_t len, int *out) {
    int rc;
    if (!index->cap && (rc = ilr_strmap_init(index, 16))) return rc;
    int32_t found = ilr_strmap_get(index, name, len);
    if (found >= 0) return *out = found, 0;
    if ((rc = grow((void **)names, cap, *count + 1, sizeof **names))) return rc;
    char *copy = malloc(len + 1);
    if (!copy) return ILR_FAIL(ILR_ENOMEM, "irt: out of memory for a name");
    memcpy(copy, name, len);
    copy[len] = 0;
    if ((rc = ilr_strmap_put(index, copy, len, *count))) return free(copy), rc;
    (*names)[*count] = copy;
    *out = (*count)++;
    return 0;
}

void ilr_irt_names_free(char **names, int count) {
    for (int i = 0; i < count; i++) free(names[i]);
    free(names);
}

void ilr_irt_responses_init(ilr_irt_responses *r) { memset(r, 0, sizeof *r); }

void ilr_irt_responses_free(ilr_irt_responses *r) {
    ilr_irt_names_free(r->agents, r->num_agents);
    ilr_irt_names_free(r->questions, r->num_questions);
    free(r->cells);
    ilr_strmap_free(&r->agent_index);
    ilr_strmap_free(&r->question_index);
    ilr_u64map_free(&r->cell_index);
    memset(r, 0, sizeof *r);
}

/* The cell of (agent, question), created empty when new. */
static int cell_of(ilr_irt_responses *r, int agent, int question, ilr_irt_cell **out) {
    uint64_t key = (uint64_t)agent << 32 | (uint32_t)question, at;
    if (r->cell_index.cap && ilr_u64map_get(&r->cell_index, key, &at)) return *out = &r->cells[at], 0;
    int rc;
    if (!r->cell_index.cap && (rc = ilr_u64map_init(&r->cell_index, 64))) return rc;
    if ((rc = grow((void **)&r->cells, &r->cells_cap, r->num_cells + 1, sizeof *r->cells))) return rc;
    if ((rc = ilr_u64map_put(&r->cell_index, key, (uint64_t)r->num_cells))) return rc;
    r->cells[r->num_cells] = (ilr_irt_cell){agent, question, 0, 0};
    *out = &r->cells[r->num_cells++];
    return 0;
}

int ilr_irt_responses_add(ilr_irt_responses *r, const char *agent, const char *question, int correct) {
    if (!agent[0] || !question[0]) return ILR_FAIL(ILR_EINVAL, "irt: an agent name or question id is empty");
    int a, q, rc;
    ilr_irt_cell *cell;
    if ((rc = ilr_irt_intern(&r->agents, &r->num_agents, &r->agents_cap, &r->agent_index, agent, strlen(agent), &a)) ||
        (rc = ilr_irt_intern(&r->questions, &r->num_questions, &r->questions_cap, &r->question_index, question,
                             strlen(question), &q)) ||
        (rc = cell_of(r, a, q, &cell)))
        return rc;
    if (cell->answers == INT_MAX)
        return ILR_FAIL(ILR_EINVAL, "irt: agent '%s' has answered question '%s' %d times, the most ilr counts", agent,
                        question, INT_MAX);
    cell->answers++;
    cell->correct += correct != 0;
    r->responses++;
    return 0;
}

/* ---- JSONL ---- */

#define LINE_FORMAT "a line is {\"agent\": NAME, \"question\": ID, \"correct\": 0|1}"

typedef struct {
    ilr_irt_responses *r;
    long lines;
} reader;

static int missing(const char *name, const char *key) {
    return ILR_FAIL(ILR_EFORMAT, "%s: missing key '%s' (" LINE_FORMAT ")", name, key);
}

/* A non-empty string without NUL bytes at key, or (ids) an integer written in decimal into buf. */
static int read_name(json_t *line, const char *key, int integer_ok, const char *name, char *buf, size_t cap,
                     const char **out) {
    const json_t *v = json_object_get(line, key);
    if (!v) return missing(name, key);
    if (json_is_integer(v) && integer_ok) {
        snprintf(buf, cap, "%lld", (long long)json_integer_value(v));
        return *out = buf, 0;
    }
    const char *want = integer_ok ? "a non-empty string or an integer" : "a non-empty string";
    if (!json_is_string(v))
        return ILR_FAIL(ILR_EFORMAT, "%s: key '%s': expected %s, got %s", name, key, want, ilr_json_type_name(v));
    *out = json_string_value(v);
    if (!**out) return ILR_FAIL(ILR_EFORMAT, "%s: key '%s': expected %s, got \"\"", name, key, want);
    if (strlen(*out) != json_string_length(v))
        return ILR_FAIL(ILR_EFORMAT, "%s: key '%s': the string holds a NUL byte (\\u0000)", name, key);
    return 0;
}

static int read_correct(json_t *line, const char *name, int *out) {
    const json_t *v = json_object_get(line, "correct");
    if (!v) return missing(name, "correct");
    if (json_is_boolean(v)) return *out = json_is_true(v), 0;
    if (json_is_integer(v) && (json_integer_value(v) == 0 || json_integer_value(v) == 1))
        return *out = (int)json_integer_value(v), 0;
    if (json_is_integer(v))
        return ILR_FAIL(ILR_EFORMAT, "%s: key 'correct': expected 0, 1, true or false, got %lld", name,
                        (long long)json_integer_value(v));
    return ILR_FAIL(ILR_EFORMAT, "%s: key 'correct': expected 0, 1, true or false, got %s", name,
                    ilr_json_type_name(v));
}

static int read_line(json_t *line, int line_number, const char *name, void *user) {
    (void)line_number;
    reader *rd = user;
    char id[32];
    const char *agent = NULL, *question = NULL;
    int correct = 0, rc;
    if ((rc = read_name(line, "agent", 0, name, NULL, 0, &agent)) ||
        (rc = read_name(line, "question", 1, name, id, sizeof id, &question)) || (rc = read_correct(line, name, &correct)))
        return rc;
    if ((rc = ilr_irt_responses_add(rd->r, agent, question, correct))) return ilr_error_prefix("%s", name);
    rd->lines++;
    return 0;
}

/* The outcome of reading name: rc, or an error when no line was a response. */
static int finish(int rc, const reader *rd, const char *name) {
    if (rc || rd->lines) return rc;
    return ILR_FAIL(ILR_EFORMAT, "%s: no responses (the file is empty; " LINE_FORMAT ")", name);
}

int ilr_irt_responses_parse(const char *text, size_t len, const char *name, ilr_irt_responses *r) {
    reader rd = {r, 0};
    return finish(ilr_jsonl_parse(text, len, name, read_line, &rd), &rd, name);
}

int ilr_irt_responses_read(const char *path, ilr_irt_responses *r) {
    reader rd = {r, 0};
    return finish(ilr_jsonl_read(path, read_line, &rd), &rd, path);
}
