/* Datasets of the world "arith" (ilr world gen): problems, SFT records and Idea3 material for every stage,
 * split by construction (see include/ilr/world.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ilr/error.h"
#include "ilr/io.h"
#include "ilr/progress.h"
#include "ilr/template.h"
#include "ilr/world.h"

/* Idea3 material: the share of analyse records whose peer solution is right (the others hold a slip or a
 * skip, equally often).  Fuse records take the four cases (own right or flawed x peer right or flawed)
 * equally often; the review they show is always the accurate analysis of the own solution. */
#define ANALYSE_RIGHT_PERCENT 34

static const char *const PROMPT_FILES[5] = {
    "prompts/world/solve.txt",     "prompts/world/coop_analyse.txt", "prompts/world/comp_analyse.txt",
    "prompts/world/coop_fuse.txt", "prompts/world/comp_fuse.txt",
};
static const char *const STAGE_NAMES[3] = {"solve", "analyse", "fuse"};
static const char *const MODE_NAMES[2] = {"coop", "comp"};

int ilr_world_prompts_load(ilr_world_prompts *pr) {
    memset(pr, 0, sizeof *pr);
    char **slots[5] = {&pr->solve, &pr->analyse[0], &pr->analyse[1], &pr->fuse[0], &pr->fuse[1]};
    for (int i = 0; i < 5; i++) {
        if (ilr_template_load(PROMPT_FILES[i], slots[i])) {
            ilr_world_prompts_free(pr);
            return ilr_last_error_code();
        }
    }
    return 0;
}

void ilr_world_prompts_free(ilr_world_prompts *pr) {
    free(pr->solve);
    for (int m = 0; m < 2; m++) free(pr->analyse[m]), free(pr->fuse[m]);
    memset(pr, 0, sizeof *pr);
}

/* Items "a" or "a-b" separated by commas; every level at most once. */
int ilr_world_parse_levels(const char *text, ilr_world_gen_options *opt) {
    int seen[ILR_WORLD_LEVELS + 1] = {0};
    opt->num_levels = 0;
    for (const char *p = text; p && *p;) {
        int a = 0, b;
        if (*p < '1' || *p > '0' + ILR_WORLD_LEVELS) goto bad;
        a = *p++ - '0';
        b = a;
        if (*p == '-') {
            p++;
            if (*p < '1' || *p > '0' + ILR_WORLD_LEVELS || *p - '0' < a) goto bad;
            b = *p++ - '0';
        }
        if (*p && *p != ',') goto bad;
        if (*p == ',' && !*++p) goto bad;
        for (int l = a; l <= b; l++) {
            if (seen[l]++) return ILR_FAIL(ILR_EINVAL, "levels '%s': level %d is given twice", text, l);
            opt->levels[opt->num_levels++] = l;
        }
    }
    if (opt->num_levels == 0) goto bad;
    return 0;
bad:
    return ILR_FAIL(ILR_EINVAL, "levels '%s': expected levels 1..%d as a range 1-5, a list 1,3,5 or both (1-2,5)",
                    text ? text : "", ILR_WORLD_LEVELS);
}

/* splitmix64's finaliser: spreads (split, i) over PCG's 63-bit stream space. */
static uint64_t mix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static uint64_t name_hash(const char *s) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    return h;
}

/* The strings one record owns, freed together. */
typedef struct {
    char *s[8];
    int n;
} owned;

static char *own(owned *o, char *s) {
    if (s) o->s[o->n++] = s;
    return s;
}

static void owned_free(owned *o) {
    for (int i = 0; i < o->n; i++) free(o->s[i]);
    o->n = 0;
}

static int render(owned *o, const char *tmpl, const char *source, const ilr_template_var *vars, int n, char **out) {
    int rc = ilr_template_render(tmpl, source, vars, n, out);
    own(o, *out);
    return rc;
}

/* A flawed solution, a slip or a skip equally often. */
static int flawed(owned *o, const ilr_world_problem *p, ilr_rng *rng, char **text) {
    ilr_world_flaw flaw;
    ilr_world_flaw_kind kind = ilr_rng_below(rng, 2) ? ILR_WORLD_SKIP : ILR_WORLD_SLIP;
    int rc = ilr_world_flawed_solution(p, kind, rng, text, &flaw);
    own(o, *text);
    return rc;
}

static int analyse(owned *o, const ilr_world_problem *p, const char *text, char **out) {
    int rc = ilr_world_analyse(p, text, strlen(text), out);
    own(o, *out);
    return rc;
}

static int stage_pick(const ilr_world_gen_options *opt, ilr_rng *rng) {
    int total = opt->mix[0] + opt->mix[1] + opt->mix[2];
    int r = (int)ilr_rng_below(rng, (uint32_t)total);
    return r < opt->mix[0] ? ILR_WORLD_STAGE_SOLVE : r < opt->mix[0] + opt->mix[1] ? ILR_WORLD_STAGE_ANALYSE : ILR_WORLD_STAGE_FUSE;
}

/* The prompt and response of an Idea3 record of the given stage and mode.  A solve answer carries a
 * planted mistake flawed_percent % of the time (no draw at 0, so such files are what they were before the
 * option); a fuse answer is always the worked solution. */
static int idea3_texts(owned *o, const ilr_world_prompts *pr, const ilr_world_problem *p, const char *question,
                       const char *solution, int stage, int mode, int flawed_percent, ilr_rng *rng, char **prompt,
                       const char **response) {
    int rc;
    if (stage == ILR_WORLD_STAGE_SOLVE) {
        ilr_template_var vars[] = {{"question", question}};
        char *answer = (char *)solution;
        if (flawed_percent > 0 && (int)ilr_rng_below(rng, 100) < flawed_percent && (rc = flawed(o, p, rng, &answer)))
            return rc;
        *response = answer;
        return render(o, pr->solve, PROMPT_FILES[0], vars, 1, prompt);
    }
    if (stage == ILR_WORLD_STAGE_ANALYSE) {
        char *peer = (char *)solution, *review;
        if ((int)ilr_rng_below(rng, 100) >= ANALYSE_RIGHT_PERCENT && (rc = flawed(o, p, rng, &peer))) return rc;
        if ((rc = analyse(o, p, peer, &review))) return rc;
        ilr_template_var vars[] = {{"question", question}, {"peer_solution", peer}};
        *response = review;
        return render(o, pr->analyse[mode], PROMPT_FILES[1 + mode], vars, 2, prompt);
    }
    uint32_t which = ilr_rng_below(rng, 4); /* bit 0: own flawed, bit 1: peer flawed */
    char *own_text = (char *)solution, *peer = (char *)solution, *review;
    if ((which & 1) && (rc = flawed(o, p, rng, &own_text))) return rc;
    if ((which & 2) && (rc = flawed(o, p, rng, &peer))) return rc;
    if ((rc = analyse(o, p, own_text, &review))) return rc;
    ilr_template_var vars[] = {{"question", question}, {"own_solution", own_text}, {"peer_solutions", peer}, {"review", review}};
    *response = solution;
    return render(o, pr->fuse[mode], PROMPT_FILES[3 + mode], vars, 4, prompt);
}

static int check_options(const ilr_world_gen_options *opt) {
    if (!opt->split) return ILR_FAIL(ILR_EINVAL, "world gen: no split given");
    if (opt->num_levels < 1 || opt->num_levels > ILR_WORLD_LEVELS) return ILR_FAIL(ILR_EINVAL, "world gen: no levels given");
    for (int i = 0; i < opt->num_levels; i++)
        if (!ilr_world_level(opt->levels[i])) return ILR_FAIL(ILR_EINVAL, "world gen: level %d is not one of 1..%d", opt->levels[i], ILR_WORLD_LEVELS);
    if (opt->kind < ILR_WORLD_PROBLEMS || opt->kind > ILR_WORLD_IDEA3) return ILR_FAIL(ILR_EINVAL, "world gen: unknown kind %d", (int)opt->kind);
    if (opt->kind == ILR_WORLD_IDEA3) {
        long total = 0;
        for (int i = 0; i < 3; i++) {
            if (opt->mix[i] < 0 || opt->mix[i] > 1000000) return ILR_FAIL(ILR_EINVAL, "world gen: mix weight %d is not in [0, 1000000]", opt->mix[i]);
            total += opt->mix[i];
        }
        if (total == 0) return ILR_FAIL(ILR_EINVAL, "world gen: the mix weights are all 0");
    }
    if (opt->n < 0) return ILR_FAIL(ILR_EINVAL, "world gen: %lld records", opt->n);
    if (opt->flawed_percent < 0 || opt->flawed_percent > 100)
        return ILR_FAIL(ILR_EINVAL, "world gen: flawed percent %d is not in [0, 100]", opt->flawed_percent);
    return 0;
}

int ilr_world_gen_record(const ilr_world_gen_options *opt, const ilr_world_prompts *pr, long long i,
                         ilr_world_problem *problem, json_t **record) {
    *record = NULL;
    int rc = check_options(opt);
    if (rc) return rc;
    if (opt->kind != ILR_WORLD_PROBLEMS && (!pr || !pr->solve)) return ILR_FAIL(ILR_EINVAL, "world gen: prompts not loaded");
    ilr_rng rng;
    ilr_rng_init(&rng, opt->seed, mix64(name_hash(opt->split->name) + (uint64_t)i));
    int level = opt->levels[ilr_rng_below(&rng, (uint32_t)opt->num_levels)];
    if ((rc = ilr_world_generate_in_split(&rng, level, opt->split, problem))) return rc;
    char question[ILR_WORLD_EXPR_CAP + 16], *solution = NULL, *prompt = NULL;
    const char *response = NULL;
    owned o = {0};
    ilr_world_question(problem, question, sizeof question);
    if ((rc = ilr_world_solution(problem, &solution))) return rc;
    own(&o, solution);
    json_t *r = json_object();
    if (opt->kind == ILR_WORLD_PROBLEMS) {
        char id[96], answer[32];
        snprintf(id, sizeof id, "arith-%s-%llu-%lld", opt->split->name, (unsigned long long)opt->seed, i);
        snprintf(answer, sizeof answer, "%lld", problem->answer);
        json_object_set_new(r, "id", json_string(id));
        json_object_set_new(r, "question", json_string(question));
        json_object_set_new(r, "answer", json_string(answer));
        json_object_set_new(r, "level", json_integer(level));
        json_object_set_new(r, "solution", json_string(solution));
    } else {
        int stage = opt->kind == ILR_WORLD_IDEA3 ? stage_pick(opt, &rng) : ILR_WORLD_STAGE_SOLVE;
        int mode = opt->kind == ILR_WORLD_IDEA3 ? (int)ilr_rng_below(&rng, 2) : 0;
        rc = idea3_texts(&o, pr, problem, question, solution, stage, mode, opt->flawed_percent, &rng, &prompt, &response);
        if (!rc) {
            json_object_set_new(r, "prompt", json_string(prompt));
            json_object_set_new(r, "response", json_string(response));
            json_object_set_new(r, "level", json_integer(level));
            json_object_set_new(r, "stage", json_string(STAGE_NAMES[stage]));
            if (opt->kind == ILR_WORLD_IDEA3) json_object_set_new(r, "mode", json_string(MODE_NAMES[mode]));
        }
    }
    owned_free(&o);
    if (rc) return json_decref(r), rc;
    *record = r;
    return 0;
}

static int write_all(ilr_atomic_file *f, FILE *out, const char *s, size_t n) {
    if (f) return ilr_atomic_write(f, s, n);
    if (fwrite(s, 1, n, out) != n) return ILR_FAIL(ILR_EIO, "world gen: writing to standard output failed");
    return 0;
}

int ilr_world_gen_file(const ilr_world_gen_options *opt, const char *path) {
    int rc = check_options(opt);
    if (rc) return rc;
    ilr_world_prompts pr = {0};
    if (opt->kind != ILR_WORLD_PROBLEMS && (rc = ilr_world_prompts_load(&pr))) return rc;
    int to_stdout = strcmp(path, "-") == 0;
    ilr_atomic_file f = {0};
    if (!to_stdout && (rc = ilr_atomic_open(&f, path))) return ilr_world_prompts_free(&pr), rc;
    ilr_progress bar;
    if (opt->progress) ilr_progress_begin(&bar, "world gen", opt->n, "records");
    for (long long i = 0; i < opt->n && !rc; i++) {
        ilr_world_problem p;
        json_t *r;
        if ((rc = ilr_world_gen_record(opt, &pr, i, &p, &r))) break;
        char *line = json_dumps(r, JSON_PRESERVE_ORDER);
        json_decref(r);
        if (!line) {
            rc = ILR_FAIL(ILR_ENOMEM, "world gen: out of memory");
            break;
        }
        size_t n = strlen(line);
        line[n] = '\n'; /* json_dumps's NUL becomes the line end */
        rc = write_all(to_stdout ? NULL : &f, stdout, line, n + 1);
        free(line);
        if (opt->progress) ilr_progress_update(&bar, i + 1);
    }
    if (opt->progress) ilr_progress_end(&bar);
    ilr_world_prompts_free(&pr);
    if (to_stdout) return rc ? rc : (fflush(stdout) ? ILR_FAIL(ILR_EIO, "world gen: writing to standard output failed") : 0);
    if (rc) {
        ilr_atomic_abort(&f);
        return ilr_error_prefix("%s", path);
    }
    return ilr_atomic_commit(&f);
}
