/* Idea3's prompts (see include/ilr/idea3.h). */
#include "ilr/idea3.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ilr/error.h"
#include "ilr/template.h"

const char *ilr_idea3_stage_name(int stage) {
    static const char *const names[] = {"share", "analyse", "fuse"};
    return stage >= 0 && stage < 3 ? names[stage] : "?";
}

const char *ilr_idea3_default_dir(const char *task_type_name) {
    if (!strcmp(task_type_name, "world-arith")) return "prompts/world";
    if (!strcmp(task_type_name, "code")) return "prompts/idea3/code";
    return "prompts/idea3/math";
}

int ilr_idea3_prompts_load(ilr_idea3_prompts *p, const char *dir, int world) {
    memset(p, 0, sizeof *p);
    snprintf(p->dir, sizeof p->dir, "%s", dir);
    p->review_separator = world ? "\n" : "\n\n";
    const char *names[4] = {"coop_analyse.txt", "comp_analyse.txt", "coop_fuse.txt", "comp_fuse.txt"};
    char **slots[4] = {&p->analyse[ILR_COOPERATE], &p->analyse[ILR_COMPETE], &p->fuse[ILR_COOPERATE], &p->fuse[ILR_COMPETE]};
    for (int i = 0; i < 4; i++) {
        char path[1200];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        int rc = ilr_template_load(path, slots[i]);
        if (rc) {
            ilr_idea3_prompts_free(p);
            return ilr_error_prefix("Idea3 prompts (ilr.prompts = %s)", dir);
        }
    }
    return 0;
}

void ilr_idea3_prompts_free(ilr_idea3_prompts *p) {
    for (int s = 0; s < 2; s++) free(p->analyse[s]), free(p->fuse[s]);
    memset(p->analyse, 0, sizeof p->analyse);
    memset(p->fuse, 0, sizeof p->fuse);
}

int ilr_idea3_analyse_prompt(const ilr_idea3_prompts *p, ilr_stance s, const char *question, const char *peer_solution,
                             char **out) {
    char name[1200];
    snprintf(name, sizeof name, "%s/%s_analyse.txt", p->dir, ilr_stance_name(s));
    ilr_template_var v[2] = {{"question", question}, {"peer_solution", peer_solution}};
    return ilr_template_render(p->analyse[s], name, v, 2, out);
}

/* parts[0..n) joined by sep (*out malloc'ed). */
static int join(const char *const *parts, int n, const char *sep, char **out) {
    size_t len = 1;
    for (int i = 0; i < n; i++) len += strlen(parts[i]) + strlen(sep);
    char *s = malloc(len), *at = s;
    if (!s) return ILR_FAIL(ILR_ENOMEM, "out of memory");
    *s = 0;
    for (int i = 0; i < n; i++) at += sprintf(at, "%s%s", i ? sep : "", parts[i]);
    *out = s;
    return 0;
}

int ilr_idea3_fuse_prompt(const ilr_idea3_prompts *p, ilr_stance s, const char *question, const char *own_solution,
                          const char *const *peer_solutions, const char *const *reviews, int n, char **out) {
    char *peers = NULL, *review = NULL, name[1200];
    int rc = join(peer_solutions, n, "\n\n", &peers);
    if (!rc) rc = join(reviews, n, p->review_separator, &review);
    snprintf(name, sizeof name, "%s/%s_fuse.txt", p->dir, ilr_stance_name(s));
    ilr_template_var v[4] = {{"question", question}, {"own_solution", own_solution}, {"peer_solutions", peers},
                             {"review", review}};
    if (!rc) rc = ilr_template_render(p->fuse[s], name, v, 4, out);
    free(peers);
    free(review);
    return rc;
}

int ilr_idea3_clip(const ilr_tokenizer *tok, const char *text, int max_tokens, char **out, int *clipped) {
    ilr_tok_ids ids = {0};
    *out = NULL;
    *clipped = 0;
    int rc = ilr_tok_encode(tok, text, strlen(text), 0, &ids);
    if (!rc && ids.count <= max_tokens) {
        *out = strdup(text);
        rc = *out ? 0 : ILR_FAIL(ILR_ENOMEM, "out of memory");
    } else if (!rc) {
        char *tail = NULL;
        size_t len;
        rc = ilr_tok_decode(tok, ids.ids + ids.count - max_tokens, max_tokens, ILR_TOK_NO_CLEANUP, &tail, &len);
        if (!rc && !(*out = malloc(len + 7))) rc = ILR_FAIL(ILR_ENOMEM, "out of memory");
        if (!rc) sprintf(*out, "[...] %s", tail), *clipped = 1;
        free(tail);
    }
    ilr_tok_ids_free(&ids);
    return rc;
}

int ilr_idea3_verdict(const char *text) {
    static const char *const neg[] = {"incorrect", "not correct", "wrong", "mistake", "error"};
    long last_pos = -1, last_neg = -1;
    size_t len = strlen(text);
    char *low = malloc(len + 1);
    if (!low) return -1;
    for (size_t k = 0; k <= len; k++) low[k] = (char)tolower((unsigned char)text[k]);
    for (const char *at = low; (at = strstr(at, "correct")); at++) {
        int negated = (at - low >= 2 && !strncmp(at - 2, "in", 2)) || (at - low >= 4 && !strncmp(at - 4, "not ", 4));
        if (!negated) last_pos = at - low;
    }
    for (size_t k = 0; k < sizeof neg / sizeof neg[0]; k++)
        for (const char *at = low; (at = strstr(at, neg[k])); at++)
            if (at - low > last_neg) last_neg = at - low;
    free(low);
    return last_pos < 0 && last_neg < 0 ? -1 : last_pos > last_neg;
}
