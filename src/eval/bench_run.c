/* One benchmark of ilr eval: answers, grades, records and resumes (see include/ilr/eval_run.h). */
#include "ilr/eval_run.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ilr/dist.h"
#include "ilr/error.h"
#include "ilr/hashmap.h"
#include "ilr/io.h"
#include "ilr/math_grader.h"

int ilr_eval_same_answer(const ilr_task *t, const char *a, const char *b) {
    if (t->type != ILR_TASK_TYPE_MATH) return strcmp(a, b) == 0;
    ilr_math_verdict v;
    return ilr_math_equal(a, b, &t->math.math, &v) == 0 && v.equal;
}

static int same_answer(const char *a, const char *b, void *ctx) { return ilr_eval_same_answer(ctx, a, b); }

/* The verdict of question i from its k sampled scores. */
static void tally(const ilr_task *t, const ilr_task_score *greedy, const ilr_task_score *s, int k, int level,
                  ilr_eval_question *out) {
    const char *answers[1024];
    *out = (ilr_eval_question){greedy ? greedy->correct : -1, k, 0, -1, level, greedy ? greedy->reward : 0, 0};
    for (int j = 0; j < k; j++) out->correct += s[j].correct, out->sampled_reward += s[j].reward;
    if (k < 1 || k > 1024) return;
    for (int j = 0; j < k; j++) answers[j] = s[j].answer[0] ? s[j].answer : NULL;
    int m = ilr_majority(answers, k, same_answer, (void *)t);
    out->majority = m >= 0 && s[m].correct;
}

/* One answer's line, appended to buf. */
static int record_line(FILE *buf, const ilr_eval_run *r, int i, int sample, const char *prompt, const ilr_gen_output *g,
                       const ilr_task_score *s) {
    json_t *j = json_object();
    json_object_set_new(j, "bench", json_string(r->bench));
    json_object_set_new(j, "question", json_string(r->q->ds->items[i].id));
    json_object_set_new(j, "sample", sample < 0 ? json_string("greedy") : json_integer(sample));
    json_object_set_new(j, "prompt", json_string(prompt));
    json_object_set_new(j, "completion", json_stringn(g->text ? g->text : "", g->text ? g->text_len : 0));
    json_object_set_new(j, "answer", json_string(s->answer));
    json_object_set_new(j, "correct", json_boolean(s->correct));
    json_object_set_new(j, "rule", json_string(s->rule ? s->rule : "none"));
    char *text = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(j);
    if (!text) return ILR_FAIL(ILR_ENOMEM, "eval: out of memory for a record");
    fputs(text, buf);
    fputc('\n', buf);
    free(text);
    return 0;
}

/* Writes one question's lines to sink with a single write and flushes them. */
static int write_question(const ilr_eval_run *r, FILE *sink, int i, const ilr_gen_output *greedy,
                          const ilr_task_score *gs, const ilr_gen_output *samples, const ilr_task_score *ss) {
    char *prompt = NULL, *buf = NULL;
    size_t plen = 0, len = 0;
    int rc = ilr_tok_decode(r->tok, r->q->ids[i], r->q->lens[i], 0, &prompt, &plen);
    FILE *mem = rc ? NULL : open_memstream(&buf, &len);
    if (!rc && !mem) rc = ILR_FAIL(ILR_ENOMEM, "eval: out of memory");
    if (!rc && greedy) rc = record_line(mem, r, i, -1, prompt, greedy, gs);
    for (int j = 0; !rc && j < r->samples; j++) rc = record_line(mem, r, i, j, prompt, &samples[j], &ss[j]);
    if (mem && fclose(mem) && !rc) rc = ILR_FAIL(ILR_ENOMEM, "eval: out of memory");
    if (!rc && (fwrite(buf, 1, len, sink) != len || fflush(sink)))
        rc = ILR_FAIL(ILR_EIO, "eval: cannot write samples.jsonl (disk full?)");
    free(buf);
    free(prompt);
    return rc;
}

/* Answers questions [first, first + m) (none done) and records them in sink (NULL: no records). */
static int run_wave(const ilr_eval_run *r, FILE *sink, int first, int m, ilr_eval_question *out) {
    int k = r->samples, rc = 0;
    size_t n_greedy = r->greedy ? (size_t)m : 0, n_sampled = (size_t)m * (size_t)k;
    ilr_gen_output *g = calloc(n_greedy + n_sampled + 1, sizeof *g), *sampled = g + n_greedy;
    ilr_task_score *score = calloc(n_greedy + n_sampled + 1, sizeof *score), *sampled_score = score + n_greedy;
    int *item = malloc(sizeof(int) * (n_greedy + n_sampled + 1));
    const char **texts = malloc(sizeof(char *) * (n_greedy + n_sampled + 1));
    size_t *lens = malloc(sizeof(size_t) * (n_greedy + n_sampled + 1));
    if (!g || !score || !item || !texts || !lens) rc = ILR_FAIL(ILR_ENOMEM, "eval: out of memory for %d questions", m);
    const int *const *ids = (const int *const *)r->q->ids + first;
    if (!rc && r->greedy) {
        ilr_gen_options o = {.sampler = {0.0f, 0, 1.0f, 0.0f}, .max_new_tokens = r->max_new_tokens, .seed = r->seed};
        rc = ilr_generate(r->gen, r->tok, ids, r->q->lens + first, m, 1, &o, g);
    }
    if (!rc && k > 0) {
        ilr_gen_options o = {.sampler = {r->temperature, 0, r->top_p, 0.0f}, .max_new_tokens = r->max_new_tokens,
                             .seed = r->seed, .stream_offset = (uint64_t)first * (uint64_t)k};
        rc = ilr_generate(r->gen, r->tok, ids, r->q->lens + first, m, k, &o, sampled);
    }
    size_t n = n_greedy + n_sampled;
    for (size_t x = 0; x < n; x++) {
        item[x] = first + (int)(x < n_greedy ? x : (x - n_greedy) / (size_t)k);
        texts[x] = g[x].text, lens[x] = g[x].text_len;
    }
    if (!rc) rc = ilr_task_score_many(r->task, r->q->ds, item, texts, lens, (int)n, score);
    for (int p = 0; !rc && p < m; p++) {
        int i = first + p;
        if (sink)
            rc = write_question(r, sink, i, r->greedy ? &g[p] : NULL, &score[p], sampled + (size_t)p * k,
                                sampled_score + (size_t)p * k);
        tally(r->task, r->greedy ? &score[p] : NULL, sampled_score + (size_t)p * k, k, r->q->ds->items[i].level, &out[i]);
        if (!rc && r->progress && ilr_dist_size() == 1) ilr_progress_add(r->progress, 1);
    }
    for (size_t x = 0; g && x < n; x++) ilr_gen_output_free(&g[x]);
    free(g);
    free(score);
    free(item);
    free(texts);
    free(lens);
    return rc;
}

/* What a rank sends for its wave of a round: this header (its first question, count, status and the length of
 * its lines), the wave's samples.jsonl lines, then its m verdicts. */
typedef struct {
    int first, m, rc;
    size_t lines;
} wave_header;

/* Over N ranks (ilr/dist.h) the waves are dealt round-robin: in round j rank r answers wave j * N + r, then every
 * rank receives every wave's verdicts, and rank 0 appends the lines in wave order — the same file and verdicts
 * as one process (a question's greedy answer does not depend on its batch, sample j of question i draws from
 * stream i * k + j).  A rank that fails still takes part in the round's gather, with its status. */
static int run_waves_over_ranks(const ilr_eval_run *r, const int (*waves)[2], int num_waves, ilr_eval_question *out) {
    int N = ilr_dist_size(), me = ilr_dist_rank(), rc = 0;
    size_t *counts = calloc((size_t)N, sizeof *counts);
    for (int round = 0; !rc && round * N < num_waves; round++) {
        int w = round * N + me;
        wave_header h = {w < num_waves ? waves[w][0] : 0, w < num_waves ? waves[w][1] : 0, 0, 0};
        char *msg = NULL;
        size_t msg_len = 0;
        FILE *sink = counts ? open_memstream(&msg, &msg_len) : NULL;
        if (!sink) h.rc = ILR_FAIL(ILR_ENOMEM, "eval: out of memory");
        if (sink) fwrite(&h, sizeof h, 1, sink); /* filled in below */
        if (!h.rc && h.m) h.rc = run_wave(r, sink, h.first, h.m, out);
        if (sink) {
            h.lines = (size_t)ftell(sink) - sizeof h;
            if (!h.rc) fwrite(out + h.first, sizeof *out, (size_t)h.m, sink);
            if (fclose(sink) && !h.rc) h.rc = ILR_FAIL(ILR_ENOMEM, "eval: out of memory");
        }
        if (h.rc) h.m = 0, h.lines = 0, msg_len = sizeof h;
        if (msg) memcpy(msg, &h, sizeof h);
        void *all = NULL;
        size_t all_len = 0;
        rc = ilr_dist_allgather(NULL, msg ? msg : (char *)&h, msg_len, &all, &all_len, counts);
        free(msg);
        size_t at = 0;
        for (int k = 0; !rc && k < N; at += counts[k++]) { /* rank order = wave order */
            const char *m = (const char *)all + at;
            wave_header o;
            memcpy(&o, m, sizeof o);
            if (o.rc) rc = k == me ? o.rc : ILR_FAIL(o.rc, "eval: rank %d failed (its message is above)", k);
            if (rc || !o.m) continue;
            memcpy(out + o.first, m + sizeof o + o.lines, sizeof *out * (size_t)o.m);
            if (r->records && (fwrite(m + sizeof o, 1, o.lines, r->records) != o.lines || fflush(r->records)))
                rc = ILR_FAIL(ILR_EIO, "eval: cannot write samples.jsonl (disk full?)");
            if (r->progress) ilr_progress_add(r->progress, o.m);
        }
        free(all);
    }
    free(counts);
    return rc;
}

int ilr_eval_run_bench(const ilr_eval_run *r, ilr_eval_question *out) {
    if (!r->greedy && r->samples < 1) return ILR_FAIL(ILR_EINVAL, "eval: neither a greedy answer nor samples asked for");
    if (r->samples > 1024) return ILR_FAIL(ILR_EINVAL, "eval: %d samples per question; at most 1024", r->samples);
    int per_call = r->samples > 0 ? r->samples : 1, per_wave = r->gen->slots / per_call;
    if (per_wave < 1)
        return ILR_FAIL(ILR_EINVAL, "eval: %d samples per question, but the generator has %d slots", r->samples, r->gen->slots);
    int (*waves)[2] = malloc(sizeof *waves * (size_t)(r->q->n + 1)), num_waves = 0, rc = 0;
    if (!waves) return ILR_FAIL(ILR_ENOMEM, "eval: out of memory");
    for (int i = 0; i < r->q->n;) {
        if (r->done && r->done[i]) {
            i++;
            continue;
        }
        int m = 0; /* a run of consecutive questions not done, so streams stay i * k + j */
        while (m < per_wave && i + m < r->q->n && !(r->done && r->done[i + m])) m++;
        waves[num_waves][0] = i, waves[num_waves][1] = m, num_waves++;
        i += m;
    }
    if (ilr_dist_size() > 1) rc = run_waves_over_ranks(r, (const int (*)[2])waves, num_waves, out);
    for (int w = 0; !rc && ilr_dist_size() == 1 && w < num_waves; w++)
        rc = run_wave(r, r->records, waves[w][0], waves[w][1], out);
    free(waves);
    return rc ? ilr_error_prefix("%s", r->bench) : 0;
}

/* ---- reading back ---- */

int ilr_eval_records_repair(const char *path) {
    if (!ilr_file_exists(path)) return 0;
    FILE *f = fopen(path, "r+");
    if (!f) return ILR_FAIL(ILR_EIO, "cannot open %s", path);
    long keep = 0, at = 0;
    for (int c; (c = fgetc(f)) != EOF;) {
        at++;
        if (c == '\n') keep = at;
    }
    int rc = 0;
    if (keep != at && ftruncate(fileno(f), keep)) rc = ILR_FAIL(ILR_EIO, "cannot cut the unfinished last line of %s", path);
    fclose(f);
    return rc;
}

int ilr_eval_records_read(const char *path, int (*fn)(const ilr_eval_record *r, void *user), void *user) {
    char *data = NULL;
    size_t size = 0;
    int rc = ilr_file_read_all(path, &data, &size);
    if (!rc) rc = ilr_eval_records_parse(data, size, path, fn, user);
    free(data);
    return rc;
}

int ilr_eval_records_parse(const char *data, size_t size, const char *path,
                           int (*fn)(const ilr_eval_record *r, void *user), void *user) {
    int rc = 0, line = 0;
    for (size_t at = 0; !rc && at < size;) {
        const char *nl = memchr(data + at, '\n', size - at);
        size_t end = nl ? (size_t)(nl - data) : size;
        line++;
        json_error_t err;
        json_t *j = end > at ? json_loadb(data + at, end - at, 0, &err) : NULL;
        if (!j && end > at && nl) rc = ILR_FAIL(ILR_EFORMAT, "%s:%d: not a JSON line (%s)", path, line, err.text);
        at = end + 1;
        if (!j) continue; /* an empty line, or the cut last line of a killed run */
        json_t *sample = json_object_get(j, "sample"), *correct = json_object_get(j, "correct");
        ilr_eval_record r = {json_string_value(json_object_get(j, "bench")), json_string_value(json_object_get(j, "question")),
                             json_string_value(json_object_get(j, "answer")), -1, json_is_true(correct)};
        int greedy = json_is_string(sample) && !strcmp(json_string_value(sample), "greedy");
        if (json_is_integer(sample) && json_integer_value(sample) >= 0 && json_integer_value(sample) < (1 << 30))
            r.sample = (int)json_integer_value(sample);
        if (!r.bench || !r.question || !r.answer || !json_is_boolean(correct) || (!greedy && r.sample < 0))
            rc = ILR_FAIL(ILR_EFORMAT, "%s:%d: a record needs bench, question, sample (an index or \"greedy\"), answer "
                                       "and correct", path, line);
        else if (fn(&r, user)) rc = ilr_last_error_code() ? ilr_last_error_code() : ILR_EINVAL;
        json_decref(j);
    }
    return rc;
}

typedef struct {
    signed char greedy;     /* -1 not seen */
    int seen;               /* samples seen (distinct indices) */
    unsigned char *have;    /* per sample index < k */
    unsigned char *correct; /* per sample index */
    char **answers;         /* per sample index (owned) */
} question_lines;

typedef struct {
    const char *bench;
    int samples;
    ilr_strmap ids;
    question_lines *ql;
} load_state;

static int load_record(const ilr_eval_record *r, void *user) {
    load_state *st = user;
    int i = strcmp(r->bench, st->bench) ? -1 : ilr_strmap_get(&st->ids, r->question, strlen(r->question));
    if (i < 0) return 0;
    question_lines *x = &st->ql[i];
    if (r->sample < 0) {
        x->greedy = (signed char)r->correct;
        return 0;
    }
    if (r->sample >= st->samples) return 0;
    if (!x->have) {
        x->have = calloc((size_t)st->samples, 1), x->correct = calloc((size_t)st->samples, 1);
        x->answers = calloc((size_t)st->samples, sizeof *x->answers);
        if (!x->have || !x->correct || !x->answers) return ILR_FAIL(ILR_ENOMEM, "eval: out of memory reading records");
    }
    x->seen += !x->have[r->sample];
    x->have[r->sample] = 1, x->correct[r->sample] = (unsigned char)r->correct;
    free(x->answers[r->sample]);
    if (!(x->answers[r->sample] = strdup(r->answer))) return ILR_FAIL(ILR_ENOMEM, "eval: out of memory reading records");
    return 0;
}

int ilr_eval_records_load(const char *path, const char *bench, const ilr_task *t, const ilr_question_set *q, int greedy,
                          int samples, unsigned char *done, ilr_eval_question *out) {
    memset(done, 0, (size_t)q->n);
    if (!ilr_file_exists(path)) return 0;
    load_state st = {bench, samples, {0}, calloc((size_t)q->n, sizeof(question_lines))};
    if (!st.ql || ilr_strmap_init(&st.ids, (size_t)q->n * 2 + 16)) {
        free(st.ql);
        return ILR_FAIL(ILR_ENOMEM, "eval: out of memory reading %s", path);
    }
    int rc = 0;
    for (int i = 0; !rc && i < q->n; i++) {
        st.ql[i].greedy = -1;
        rc = ilr_strmap_put(&st.ids, q->ds->items[i].id, strlen(q->ds->items[i].id), i);
    }
    if (!rc) rc = ilr_eval_records_read(path, load_record, &st);
    for (int i = 0; !rc && i < q->n; i++) {
        question_lines *x = &st.ql[i];
        if ((greedy && x->greedy < 0) || (samples > 0 && x->seen < samples)) continue;
        done[i] = 1;
        out[i] = (ilr_eval_question){greedy ? x->greedy : -1, samples, 0, -1, q->ds->items[i].level, 0, 0};
        const char *answers[1024];
        for (int s = 0; s < samples && s < 1024; s++) {
            out[i].correct += x->correct[s];
            answers[s] = x->answers[s][0] ? x->answers[s] : NULL;
        }
        if (samples > 0 && samples <= 1024) {
            int m = ilr_majority(answers, samples, same_answer, (void *)t);
            out[i].majority = m >= 0 && x->correct[m];
        }
    }
    for (int i = 0; i < q->n; i++) {
        for (int s = 0; st.ql[i].answers && s < samples; s++) free(st.ql[i].answers[s]);
        free(st.ql[i].answers), free(st.ql[i].have), free(st.ql[i].correct);
    }
    free(st.ql);
    ilr_strmap_free(&st.ids);
    return rc;
}
