/* ilr eval: one model alone on benchmarks, with every answer recorded, metrics with intervals, resumable;
 * and the paired comparison of two evaluations. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ilr/chat.h"
#include "ilr/dist.h"
#include "ilr/error.h"
#include "ilr/eval_run.h"
#include "ilr/io.h"
#include "ilr/json.h"
#include "ilr/model.h"
#include "ilr/timer.h"

static const char eval_help[] =
    "usage: ilr eval --model DIR --bench LIST -o OUT [options]\n"
    "       ilr eval -o OUT --compare OTHER_OUT            (two finished evaluations, question by question)\n\n"
    "Evaluates one model alone: every question of each benchmark answered greedily and/or K times sampled,\n"
    "graded by the task (math: the math grader with Math-Verify's extraction; code: the sandbox; world-test:\n"
    "the world's checker).  Writes OUT/samples.jsonl (one line per answer: bench, question, sample, prompt,\n"
    "completion, answer, correct, rule), OUT/summary.json and OUT/summary.md (greedy, avg@K, pass@K, maj@K,\n"
    "each with a 95 % bootstrap interval over the questions; by level; the paper's five-benchmark average).\n"
    "A killed evaluation continues where it stopped when run again with the same OUT.\n\n"
    "  --model DIR            a model directory (config.json, model.safetensors, tokenizer.json)\n"
    "  --bench LIST           comma-separated: registry names (ilr data ls: gsm8k, math500, minerva_math,\n"
    "                         olympiadbench, aime24, aime25, amc23, humaneval, mbpp, ...), world-test (the\n"
    "                         synthetic world's test set, from make agents) or JSONL paths\n"
    "  -o OUT                 the output directory\n"
    "  --samples K            sampled answers per question (default 0: only the greedy answer)\n"
    "  --no-greedy            no greedy answer (needs --samples)\n"
    "  --temperature T        sampling temperature (default 1.0: the model's own distribution)\n"
    "  --top-p P              nucleus sampling mass (default 1.0)\n"
    "  --max-new-tokens N     per answer (default 1024)\n"
    "  --max N                the first N questions of each benchmark (default all)\n"
    "  --chat / --no-chat     prompts through the model's chat template (default: when tokenizer_config.json\n"
    "                         has one, as instruct models do)\n"
    "  --prompt FILE          the math prompt template (default prompts/tasks/math.txt: the question, then\n"
    "                         \"Please reason step by step, and put your final answer within \\boxed{}.\")\n"
    "  --seed S               sampling seed (default 1)\n"
    "  --batch B              sequences generated at once (default 64)\n"
    "  --device D             cpu (default) or cuda: generation on the GPU (a build with make CUDA=1)\n"
    "  --weights W            f32 (default) or bf16: CPU generation reads a bf16 copy of the weights (faster\n"
    "                         decoding; logits within ~1e-2 of f32's); bf16-act: activations of products\n"
    "                         over 16 rows rounded to bf16 too (faster prefill with AVX512_BF16)\n"
    "  --bootstrap B          resamples for the intervals (default 1000)\n"
    "  --compare OTHER_OUT    print the paired difference OUT - OTHER_OUT per benchmark with its interval\n"
    "                         (after evaluating, or alone on a finished OUT)\n\n"
    "Example: ilr eval --model build/agents/agent-a --bench world-test --max 500 --samples 4 -o runs/eval-a\n"
    "Over several processes (an MPI build): mpirun -np N build/mpi/ilr eval ... answers a share of the questions on\n"
    "each rank; rank 0 writes the same files one process would\n";

typedef struct {
    const char *model, *bench, *out, *compare, *prompt;
    long long samples, max, max_new, seed, batch, bootstrap;
    double temperature, top_p;
    int greedy, chat; /* chat: -1 auto */
    ilr_device device;
    ilr_gen_weights weights;
} eval_args;

static int parse_args(int argc, char **argv, eval_args *a) {
    static const struct option longopts[] = {
        {"model", required_argument, 0, 'M'},     {"bench", required_argument, 0, 'b'},
        {"samples", required_argument, 0, 'k'},   {"no-greedy", no_argument, 0, 'G'},
        {"temperature", required_argument, 0, 'T'}, {"top-p", required_argument, 0, 'P'},
        {"max-new-tokens", required_argument, 0, 'n'}, {"max", required_argument, 0, 'm'},
        {"chat", no_argument, 0, 'c'},            {"no-chat", no_argument, 0, 'C'},
        {"prompt", required_argument, 0, 'p'},    {"seed", required_argument, 0, 's'},
        {"batch", required_argument, 0, 'B'},     {"bootstrap", required_argument, 0, 'R'},
        {"compare", required_argument, 0, 'x'},   {"device", required_argument, 0, 'D'},
        {"weights", required_argument, 0, 'W'},   {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *cmd = "eval";
    *a = (eval_args){.max_new = 1024, .seed = 1, .batch = 64, .bootstrap = 1000, .temperature = 1.0, .top_p = 1.0,
                     .greedy = 1, .chat = -1};
    optind = 0;
    opterr = 0;
    for (int c; (c = getopt_long(argc, argv, "ho:", longopts, NULL)) != -1;) {
        int bad = 0;
        if (c == 'h') return printf("%s", eval_help), -1;
        if (c == 'M') a->model = optarg;
        else if (c == 'b') a->bench = optarg;
        else if (c == 'o') a->out = optarg;
        else if (c == 'x') a->compare = optarg;
        else if (c == 'p') a->prompt = optarg;
        else if (c == 'G') a->greedy = 0;
        else if (c == 'c') a->chat = 1;
        else if (c == 'C') a->chat = 0;
        else if (c == 'k') bad = ilr_cli_parse_long(cmd, "--samples", optarg, 0, 1024, &a->samples);
        else if (c == 'm') bad = ilr_cli_parse_long(cmd, "--max", optarg, 0, 1000000000, &a->max);
        else if (c == 'n') bad = ilr_cli_parse_long(cmd, "--max-new-tokens", optarg, 1, 1000000, &a->max_new);
        else if (c == 's') bad = ilr_cli_parse_long(cmd, "--seed", optarg, 0, (1LL << 62), &a->seed);
        else if (c == 'B') bad = ilr_cli_parse_long(cmd, "--batch", optarg, 1, 65536, &a->batch);
        else if (c == 'R') bad = ilr_cli_parse_long(cmd, "--bootstrap", optarg, 10, 1000000, &a->bootstrap);
        else if (c == 'T') bad = ilr_cli_parse_double(cmd, "--temperature", optarg, 1e-6, 100, &a->temperature);
        else if (c == 'P') bad = ilr_cli_parse_double(cmd, "--top-p", optarg, 1e-9, 1, &a->top_p);
        else if (c == 'D' && ilr_device_parse(optarg, &a->device)) bad = ilr_cli_usage_error(cmd, "--device: %s", ilr_last_error());
        else if (c == 'W' && ilr_gen_weights_parse(optarg, &a->weights))
            bad = ilr_cli_usage_error(cmd, "--weights: %s", ilr_last_error());
        else if (c == 'D' || c == 'W') continue;
        else bad = ilr_cli_usage_error(cmd, "unknown or incomplete option '%s'", argv[optind - 1]);
        if (bad) return bad;
    }
    if (optind != argc) return ilr_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (!a->out) return ilr_cli_usage_error(cmd, "-o OUT is required");
    if (!a->model && !a->compare) return ilr_cli_usage_error(cmd, "give --model and --bench, or --compare");
    if (!a->model != !a->bench) return ilr_cli_usage_error(cmd, "--model and --bench go together");
    if (!a->greedy && a->samples < 1) return ilr_cli_usage_error(cmd, "--no-greedy needs --samples K");
    if (a->samples > a->batch)
        return ilr_cli_usage_error(cmd, "--samples %lld is over --batch %lld (a question's samples are generated together)",
                                   a->samples, a->batch);
    return 0;
}

/* The benchmark names of the list that differ from the registry's, and the world's test set. */
static const char *resolve_bench(const char *name, ilr_task_type *type) {
    *type = ILR_TASK_TYPE_AUTO;
    if (!strcmp(name, "minerva_math")) return "minerva";
    if (!strcmp(name, "math-500")) return "math500";
    if (!strcmp(name, "world-test")) {
        *type = ILR_TASK_TYPE_WORLD;
        return "build/agents/data/test.jsonl";
    }
    return name;
}

typedef struct {
    char name[128];
    ilr_bench_summary s;
    double seconds;
    int asked; /* questions answered in this run (the rest were done before) */
} bench_result;

/* One benchmark: open, resume, answer, summarise. */
static int run_bench(const eval_args *a, const char *name, ilr_model *model, const ilr_tokenizer *tok,
                     const ilr_chat_template *chat, const char *records_path, FILE *records, bench_result *res) {
    ilr_task_type type;
    const char *spec = resolve_bench(name, &type);
    if (type == ILR_TASK_TYPE_WORLD && !ilr_file_exists(spec))
        return ILR_FAIL(ILR_ENOTFOUND, "world-test: %s is missing; run make agents first", spec);
    ilr_task task = {0};
    ilr_dataset ds = {0};
    ilr_question_set q = {0};
    ilr_generator gen = {0};
    ilr_eval_question *verdicts = NULL;
    unsigned char *done = NULL;
    int rc = ilr_task_init(&task, type, spec, 0.0, (int)ILR_MATH_EXTRACT_AUTO, NULL);
    if (!rc) rc = ilr_task_open_dataset(&task, spec, task.type == ILR_TASK_TYPE_MATH ? a->prompt : NULL, &ds);
    if (!rc) rc = ilr_question_set_build(&q, &ds, a->max, &task, tok, chat, model->config.max_position_embeddings);
    if (!rc && !(verdicts = calloc((size_t)q.n, sizeof *verdicts))) rc = ILR_FAIL(ILR_ENOMEM, "out of memory");
    if (!rc && !(done = calloc((size_t)q.n, 1))) rc = ILR_FAIL(ILR_ENOMEM, "out of memory");
    if (!rc) rc = ilr_eval_records_load(records_path, name, &task, &q, a->greedy, (int)a->samples, done, verdicts);
    int todo = 0;
    for (int i = 0; !rc && i < q.n; i++) todo += !done[i];
    /* answers stop at the model's context: max_new_tokens shrinks for a model with a short one */
    int ctx = model->config.max_position_embeddings, max_new = (int)a->max_new;
    if (!rc && q.max_prompt + max_new > ctx) {
        max_new = ctx - q.max_prompt;
        fprintf(stderr, "eval %s: at most %d new tokens (the longest prompt has %d of the model's %d)\n", name, max_new,
                q.max_prompt, ctx);
        if (max_new < 1) rc = ILR_FAIL(ILR_EINVAL, "the longest prompt (%d tokens) fills the model's context", q.max_prompt);
    }
    if (!rc && todo) rc = ilr_gen_init_on(&gen, model, (int)a->batch, q.max_prompt + max_new, a->device);
    if (!rc && todo) rc = ilr_gen_set_weights(&gen, a->weights);
    ilr_progress progress;
    double t0 = ilr_time_now();
    if (!rc && todo) {
        char label[48];
        snprintf(label, sizeof label, "eval %s", name);
        ilr_progress_begin(&progress, label, todo, "questions");
        ilr_eval_run r = {name, &task, &q, &gen, tok, a->greedy, (int)a->samples, (float)a->temperature, (float)a->top_p,
                          max_new, (uint64_t)a->seed, records, done, &progress};
        rc = ilr_eval_run_bench(&r, verdicts);
        ilr_progress_end(&progress);
    }
    snprintf(res->name, sizeof res->name, "%s", name);
    res->seconds = ilr_time_now() - t0;
    res->asked = todo;
    if (!rc) rc = ilr_bench_summarize(verdicts, q.n, (int)a->bootstrap, (uint64_t)a->seed + 99, &res->s);
    if (gen.model) ilr_gen_free(&gen);
    free(done);
    free(verdicts);
    ilr_question_set_free(&q);
    ilr_dataset_free(&ds);
    ilr_task_free(&task);
    return rc;
}

/* The paper's average over GSM8K, MATH-500, Minerva, OlympiadBench and AIME 2024+2025 (one benchmark of 60),
 * when the run has all six; *ok = 0 otherwise. */
static double paper_average(const bench_result *r, int n, int sampled, int *ok) {
    const char *names[] = {"gsm8k", "math500", "minerva", "olympiadbench", "aime24", "aime25"};
    const bench_result *found[6] = {0};
    for (int i = 0; i < n; i++) {
        ilr_task_type t;
        const char *canon = resolve_bench(r[i].name, &t);
        for (int k = 0; k < 6; k++)
            if (!strcmp(canon, names[k])) found[k] = &r[i];
    }
    *ok = 1;
    for (int k = 0; k < 6; k++)
        if (!found[k] || (sampled ? !found[k]->s.samples : !found[k]->s.has_greedy)) *ok = 0;
    if (!*ok) return 0;
    double v[6];
    for (int k = 0; k < 6; k++) v[k] = sampled ? found[k]->s.avg.mean : found[k]->s.greedy.mean;
    double aime = (v[4] * found[4]->s.questions + v[5] * found[5]->s.questions) / (found[4]->s.questions + found[5]->s.questions);
    return (v[0] + v[1] + v[2] + v[3] + aime) / 5;
}

static void cell(FILE *f, int have, const ilr_ci95 *c) {
    if (have) fprintf(f, " %5.1f [%4.1f, %4.1f] |", 100 * c->mean, 100 * c->lo, 100 * c->hi);
    else fprintf(f, " %-19s |", "-");
}

/* The Markdown table (also printed). */
static void write_table(FILE *f, const eval_args *a, const bench_result *r, int n) {
    int k = (int)a->samples;
    fprintf(f, "| benchmark | questions | greedy [95%% CI] | avg@%d [95%% CI] | pass@%d [95%% CI] | maj@%d [95%% CI] |\n", k, k, k);
    fprintf(f, "|---|---:|---:|---:|---:|---:|\n");
    for (int i = 0; i < n; i++) {
        fprintf(f, "| %s | %d |", r[i].name, r[i].s.questions);
        cell(f, r[i].s.has_greedy, &r[i].s.greedy);
        cell(f, r[i].s.samples > 0, &r[i].s.avg);
        cell(f, r[i].s.samples > 0, &r[i].s.pass);
        cell(f, r[i].s.samples > 0, &r[i].s.maj);
        fprintf(f, "\n");
    }
    int ok_g, ok_s;
    double g = paper_average(r, n, 0, &ok_g), s = paper_average(r, n, 1, &ok_s);
    if (ok_g || ok_s) {
        fprintf(f, "| **five-benchmark average** (GSM8K, MATH-500, Minerva, OlympiadBench, AIME 24+25) | |");
        if (ok_g) fprintf(f, " %5.1f |", 100 * g);
        else fprintf(f, " - |");
        if (ok_s) fprintf(f, " %5.1f | | |\n", 100 * s);
        else fprintf(f, " - | | |\n");
    }
}

static int write_summary(const eval_args *a, const bench_result *r, int n) {
    json_t *s = json_object(), *benches = json_object(), *settings = json_object();
    json_object_set_new(s, "model", json_string(a->model));
    json_object_set_new(settings, "samples", json_integer(a->samples));
    json_object_set_new(settings, "greedy", json_boolean(a->greedy));
    json_object_set_new(settings, "temperature", json_real(a->temperature));
    json_object_set_new(settings, "top_p", json_real(a->top_p));
    json_object_set_new(settings, "max_new_tokens", json_integer(a->max_new));
    json_object_set_new(settings, "max_questions", json_integer(a->max));
    json_object_set_new(settings, "seed", json_integer(a->seed));
    json_object_set_new(settings, "bootstrap", json_integer(a->bootstrap));
    json_object_set_new(s, "settings", settings);
    for (int i = 0; i < n; i++) {
        json_t *b = ilr_bench_summary_json(&r[i].s);
        json_object_set_new(b, "seconds", json_real(r[i].seconds));
        json_object_set_new(benches, r[i].name, b);
    }
    json_object_set_new(s, "benchmarks", benches);
    int ok;
    double g = paper_average(r, n, 0, &ok);
    if (ok) json_object_set_new(s, "five_benchmark_average_greedy", json_real(g));
    g = paper_average(r, n, 1, &ok);
    if (ok) {
        char key[64];
        snprintf(key, sizeof key, "five_benchmark_average_avg@%lld", a->samples);
        json_object_set_new(s, key, json_real(g));
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/summary.json", a->out);
    int rc = ilr_json_save_file(path, s);
    json_decref(s);
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = rc ? NULL : open_memstream(&buf, &len);
    if (!rc && !mem) rc = ILR_FAIL(ILR_ENOMEM, "out of memory");
    if (mem) {
        fprintf(mem, "# Evaluation of %s\n\n", a->model);
        fprintf(mem, "%lld sampled answers per question at temperature %g, top-p %g; %lld new tokens at most; seed %lld; "
                     "intervals: %lld bootstrap resamples of the questions.\n\n",
                a->samples, a->temperature, a->top_p, a->max_new, a->seed, a->bootstrap);
        write_table(mem, a, r, n);
        fclose(mem);
        snprintf(path, sizeof path, "%s/summary.md", a->out);
        rc = ilr_file_write_atomic(path, buf, len);
    }
    free(buf);
    return rc;
}

static int print_compare(const eval_args *a) {
    json_t *cmp = NULL;
    int rc = ilr_eval_compare(a->out, a->compare, (int)a->bootstrap, (uint64_t)a->seed + 5, &cmp);
    if (rc) return rc;
    printf("paired difference %s - %s (95 %% interval, %lld bootstrap resamples of the shared questions):\n", a->out,
           a->compare, a->bootstrap);
    printf("  %-16s %9s  %-32s %-32s\n", "benchmark", "questions", "greedy: a - b [CI]", "avg@k: a - b [CI]");
    const char *bench;
    json_t *e;
    json_object_foreach(cmp, bench, e) {
        char g[64] = "-", s[64] = "-";
        json_t *gd = json_object_get(e, "greedy_diff"), *sd = json_object_get(e, "avg_diff");
        if (gd) {
            json_t *ci = json_object_get(e, "greedy_diff_ci95");
            snprintf(g, sizeof g, "%+.1f [%+.1f, %+.1f] (%.1f vs %.1f)", 100 * json_real_value(gd),
                     100 * json_real_value(json_array_get(ci, 0)), 100 * json_real_value(json_array_get(ci, 1)),
                     100 * json_real_value(json_object_get(e, "greedy_a")), 100 * json_real_value(json_object_get(e, "greedy_b")));
        }
        if (sd) {
            json_t *ci = json_object_get(e, "avg_diff_ci95");
            snprintf(s, sizeof s, "%+.1f [%+.1f, %+.1f] (%.1f vs %.1f)", 100 * json_real_value(sd),
                     100 * json_real_value(json_array_get(ci, 0)), 100 * json_real_value(json_array_get(ci, 1)),
                     100 * json_real_value(json_object_get(e, "avg_a")), 100 * json_real_value(json_object_get(e, "avg_b")));
        }
        printf("  %-16s %9lld  %-32s %-32s\n", bench, (long long)json_integer_value(json_object_get(e, "questions")), g, s);
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/compare.json", a->out);
    rc = ilr_json_save_file(path, cmp);
    json_decref(cmp);
    return rc;
}

int ilr_cmd_eval(int argc, char **argv) {
    eval_args a;
    int status = parse_args(argc, argv, &a);
    if (status) return status < 0 ? 0 : status;
    if (!a.model) return print_compare(&a) ? ilr_cli_fail("eval") : 0;
    ilr_model model = {0};
    ilr_tokenizer *tok = NULL;
    ilr_chat_template *chat = NULL;
    bench_result *res = NULL;
    FILE *records = NULL;
    char records_path[4200];
    snprintf(records_path, sizeof records_path, "%s/samples.jsonl", a.out);
    int rc = ilr_model_load(&model, a.model), n = 0, cap = 1;
    if (!rc) rc = ilr_tok_load(&tok, a.model);
    if (!rc && a.chat != 0) {
        char config[4200];
        snprintf(config, sizeof config, "%s/tokenizer_config.json", a.model);
        int has_config = ilr_file_exists(config);
        rc = has_config || a.chat > 0 ? ilr_chat_template_load(&chat, a.model) : ILR_ENOTFOUND;
        if (rc == ILR_ENOTFOUND && a.chat < 0) rc = 0, chat = NULL, ilr_error_clear(); /* auto: a base model has none */
        else if (rc) ilr_error_prefix("the chat template (--no-chat evaluates without it)");
    }
    for (const char *p = a.bench; *p; p++) cap += *p == ',';
    if (!rc && !(res = calloc((size_t)cap, sizeof *res))) rc = ILR_FAIL(ILR_ENOMEM, "out of memory");
    /* over several ranks (mpirun, an MPI build) each answers its share of every benchmark and rank 0 alone
     * writes and prints (src/eval/bench_run.c) */
    int root = ilr_dist_is_root();
    if (!rc && root && ilr_mkdir_p(a.out)) rc = ilr_last_error_code();
    if (!rc && root) rc = ilr_eval_records_repair(records_path);
    if (!rc && root && !(records = fopen(records_path, "a")))
        rc = ILR_FAIL(ILR_EIO, "cannot open %s for appending", records_path);
    if (ilr_dist_size() > 1 && ilr_dist_barrier() && !rc) rc = ilr_last_error_code(); /* all read what rank 0 repaired */
    if (!rc && root)
        printf("eval: %s on %s (%s chat template; %s%lld sampled answers per question)\n", a.model, a.bench,
               chat ? "with its" : "without a", a.greedy ? "greedy + " : "", a.samples);
    fflush(stdout);
    char *list = strdup(a.bench);
    if (!list && !rc) rc = ILR_FAIL(ILR_ENOMEM, "out of memory");
    for (char *save = NULL, *name = list ? strtok_r(list, ",", &save) : NULL; !rc && name; name = strtok_r(NULL, ",", &save)) {
        rc = run_bench(&a, name, &model, tok, chat, records_path, records, &res[n]);
        if (rc) break;
        const ilr_bench_summary *s = &res[n].s;
        if (!root) {
            n++;
            continue;
        }
        printf("  %-16s %5d questions", name, s->questions);
        if (s->has_greedy) printf("  greedy %5.1f%% [%.1f, %.1f]", 100 * s->greedy.mean, 100 * s->greedy.lo, 100 * s->greedy.hi);
        if (s->samples)
            printf("  avg@%d %5.1f%%  pass@%d %5.1f%%  maj@%d %5.1f%%", s->samples, 100 * s->avg.mean, s->samples,
                   100 * s->pass.mean, s->samples, 100 * s->maj.mean);
        printf("  (%d asked, %.0f s)\n", res[n].asked, res[n].seconds);
        n++;
    }
    free(list);
    if (records && fclose(records) && !rc) rc = ILR_FAIL(ILR_EIO, "cannot write %s", records_path);
    if (!rc && root) rc = write_summary(&a, res, n);
    if (!rc && root) {
        printf("\n");
        write_table(stdout, &a, res, n);
        printf("\nrecords in %s/samples.jsonl; summary.json and summary.md beside them\n", a.out);
    }
    if (!rc && root && a.compare) rc = print_compare(&a);
    free(res);
    ilr_chat_template_free(chat);
    ilr_tok_free(tok);
    ilr_model_free(&model);
    return rc ? ilr_cli_fail("eval") : 0;
}
