/* Two evaluations' samples.jsonl side by side: the paired difference per benchmark (see
 * include/ilr/eval_run.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ilr/error.h"
#include "ilr/eval_metrics.h"
#include "ilr/eval_run.h"
#include "ilr/hashmap.h"

typedef struct {
    char *bench, *question;
    int greedy;             /* -1 none */
    int samples, correct;
    unsigned char seen[128]; /* sample indices 0..1023 already counted (a resumed run may repeat a line) */
} tally_entry;

typedef struct {
    tally_entry *v;
    int n, cap;
    ilr_strmap index; /* "bench\x1fquestion" -> entry */
} tally_set;

static int tally_add(tally_set *t, const char *bench, const char *question, int sample, int correct) {
    char key[1024];
    int len = snprintf(key, sizeof key, "%s\x1f%s", bench, question);
    if (len < 0 || len >= (int)sizeof key) return ILR_FAIL(ILR_EFORMAT, "a record's bench and question are too long");
    int32_t i = ilr_strmap_get(&t->index, key, (size_t)len);
    if (i < 0) {
        if (t->n == t->cap) {
            int cap = t->cap ? 2 * t->cap : 256;
            tally_entry *v = realloc(t->v, sizeof *v * (size_t)cap);
            if (!v) return ILR_FAIL(ILR_ENOMEM, "out of memory");
            t->v = v, t->cap = cap;
        }
        i = t->n++;
        t->v[i] = (tally_entry){strdup(bench), strdup(question), -1, 0, 0, {0}};
        if (!t->v[i].bench || !t->v[i].question || ilr_strmap_put(&t->index, key, (size_t)len, i))
            return ILR_FAIL(ILR_ENOMEM, "out of memory");
    }
    tally_entry *e = &t->v[i];
    if (sample < 0) e->greedy = correct;
    else if (sample < 1024 && !(e->seen[sample / 8] & (1u << (sample % 8)))) {
        e->seen[sample / 8] |= (unsigned char)(1u << (sample % 8));
        e->samples++, e->correct += correct;
    }
    return 0;
}

static void tally_free(tally_set *t) {
    for (int i = 0; i < t->n; i++) free(t->v[i].bench), free(t->v[i].question);
    free(t->v);
    ilr_strmap_free(&t->index);
}

static int tally_record(const ilr_eval_record *r, void *user) {
    return tally_add(user, r->bench, r->question, r->sample, r->correct);
}

/* Reads dir/samples.jsonl (an answer repeated by a resumed run counts once). */
static int tally_load(const char *dir, tally_set *t) {
    char path[4200];
    snprintf(path, sizeof path, "%s/samples.jsonl", dir);
    int rc = ilr_strmap_init(&t->index, 1024);
    return rc ? rc : ilr_eval_records_read(path, tally_record, t);
}

/* "NAME_a", "NAME_b", "NAME_diff" (a - b) and "NAME_diff_ci95" of the n pairs (x, y) into e. */
static int add_difference(json_t *e, const char *name, const double *x, const double *y, int n, int resamples,
                          uint64_t seed) {
    ilr_ci95 d;
    int rc = ilr_bootstrap_paired(x, y, n, resamples, seed, &d);
    if (rc) return rc;
    double sa = 0, sb = 0;
    for (int k = 0; k < n; k++) sa += x[k], sb += y[k];
    char key[64];
    snprintf(key, sizeof key, "%s_a", name);
    json_object_set_new(e, key, json_real(sa / n));
    snprintf(key, sizeof key, "%s_b", name);
    json_object_set_new(e, key, json_real(sb / n));
    snprintf(key, sizeof key, "%s_diff", name);
    json_object_set_new(e, key, json_real(d.mean));
    snprintf(key, sizeof key, "%s_diff_ci95", name);
    json_object_set_new(e, key, json_pack("[f, f]", d.lo, d.hi));
    return 0;
}

int ilr_eval_compare(const char *dir_a, const char *dir_b, int resamples, uint64_t seed, json_t **out) {
    *out = NULL;
    tally_set a = {0}, b = {0};
    int rc = tally_load(dir_a, &a);
    if (!rc) rc = tally_load(dir_b, &b);
    json_t *res = json_object();
    /* benchmarks in a's order of first appearance */
    for (int i = 0; !rc && i < a.n; i++) {
        const char *bench = a.v[i].bench;
        if (json_object_get(res, bench)) continue;
        int n = 0;
        double *x = malloc(sizeof(double) * (size_t)a.n * 4), *y = x + a.n, *xs = y + a.n, *ys = xs + a.n;
        if (!x) {
            rc = ILR_FAIL(ILR_ENOMEM, "out of memory");
            break;
        }
        int greedy_pairs = 1, sample_pairs = 1, ns = 0;
        for (int k = i; k < a.n; k++) {
            if (strcmp(a.v[k].bench, bench)) continue;
            char key[1024];
            int len = snprintf(key, sizeof key, "%s\x1f%s", bench, a.v[k].question);
            int32_t m = ilr_strmap_get(&b.index, key, (size_t)len);
            if (m < 0) continue;
            const tally_entry *p = &a.v[k], *q = &b.v[m];
            if (p->greedy < 0 || q->greedy < 0) greedy_pairs = 0;
            else x[n] = p->greedy, y[n] = q->greedy;
            if (p->samples < 1 || q->samples < 1) sample_pairs = 0;
            else xs[ns] = (double)p->correct / p->samples, ys[ns] = (double)q->correct / q->samples, ns++;
            n++;
        }
        json_t *e = json_object();
        json_object_set_new(e, "questions", json_integer(n));
        if (n > 0 && greedy_pairs) rc = add_difference(e, "greedy", x, y, n, resamples, seed);
        if (!rc && ns > 0 && sample_pairs) rc = add_difference(e, "avg", xs, ys, ns, resamples, seed + 1);
        json_object_set_new(res, bench, e);
        free(x);
    }
    tally_free(&a);
    tally_free(&b);
    if (rc) return json_decref(res), rc;
    *out = res;
    return 0;
}
