/* The `ilr` command line: exit codes, help for every command, and init/inspect/convert end to end. */
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../src/cli/cli.h"
#include "ilr/json.h"
#include "ilr/model.h"
#include "test_util.h"

static char output[1 << 16];

/* Runs `ilr args...` (NULL-terminated) in this process with its output captured into output. */
#define run_cli(...) ilr_test_cli(output, sizeof output, __VA_ARGS__)

static void expect_output(const char *phrase) {
    if (!strstr(output, phrase)) {
        print_error("output lacks \"%s\":\n%s\n", phrase, output);
        fail();
    }
}

static void test_help_for_every_command(void **state) {
    (void)state;
    const char *commands[] = {"init", "inspect", "convert", "tokenize", "tokenizer", "generate", "chat", "score",
                              "data", "grade", "sandbox", "sft", "train", "eval", "experiment", "interact", "serve", "world", "irt", "report", "plot",
                              "bench", "demo"};
    enum { N = sizeof commands / sizeof *commands };
    assert_int_equal(run_cli("--help", NULL), 0);
    for (int i = 0; i < N; i++) expect_output(commands[i]);
    for (int i = 0; i < N; i++) {
        assert_int_equal(run_cli(commands[i], "--help", NULL), 0);
        expect_output("usage: ilr ");
        assert_int_equal(run_cli("help", commands[i], NULL), 0);
        expect_output("usage: ilr ");
    }
    assert_int_equal(run_cli("frobnicate", NULL), 2);
    expect_output("no command 'frobnicate'");
}

static void test_usage_errors(void **state) {
    (void)state;
    assert_int_equal(run_cli("init", "--shape", "tiny", NULL), 2);
    expect_output("-o DIR is required");
    assert_int_equal(run_cli("init", "--shape", "tiny", "-o", "/tmp/x", NULL), 2);
    expect_output("needs an architecture");
    assert_int_equal(run_cli("init", "--arch", "gpt2", "--shape", "tiny", "-o", "/tmp/x", NULL), 2);
    expect_output("unknown architecture 'gpt2'");
    assert_int_equal(run_cli("init", "--arch", "qwen2", "--shape", "tiny", "--seed", "abc", "-o", "/tmp/x", NULL), 2);
    expect_output("--seed takes an integer");
    assert_int_equal(run_cli("init", "--bogus", NULL), 2);
    expect_output("unknown or incomplete option '--bogus'");
    /* --device: cpu or cuda; cuda only in a build with the CUDA backend */
    assert_int_equal(run_cli("sft", "--device", "gpu", "--model", "m", "--data", "d", "-o", "o", NULL), 2);
    expect_output("device must be cpu or cuda, not 'gpu'");
    assert_int_equal(run_cli("bench", "train", "--device", "tpu", NULL), 2);
    expect_output("--device must be cpu or cuda, not 'tpu'");
    assert_int_equal(run_cli("bench", "train", "--arch", "llama", "--recompute", "--device", "cuda", NULL), 2);
    expect_output("--recompute is for the CPU training step");
    assert_int_equal(run_cli("bench", "generate", "--shape", "tiny", "--peak", "0", NULL), 2);
    expect_output("--peak must be a GFLOP/s figure above 0, not '0'");
    assert_int_equal(run_cli("bench", "train", "--peak", "12x", NULL), 2);
    expect_output("--peak must be a GFLOP/s figure above 0, not '12x'");
#ifndef ILR_CUDA
    assert_int_equal(run_cli("sft", "--device", "cuda", "--model", "m", "--data", "d", "-o", "o", NULL), 2);
    expect_output("built without the CUDA backend (make CUDA=1)");
    assert_int_equal(run_cli("bench", "matmul", "--device", "cuda", NULL), 2);
    expect_output("built without the CUDA backend (make CUDA=1)");
    assert_int_equal(run_cli("bench", "generate", "--shape", "qwen2.5-0.5b", "--device", "cuda", NULL), 2);
    expect_output("built without the CUDA backend (make CUDA=1)");
    const char *takes_device[][2] = {{"generate", "--prompt"}, {"eval", "--model"}, {"interact", "--data"},
                                     {"irt", "collect"}};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(run_cli(takes_device[i][0], takes_device[i][1], "x", "--device", "cuda", NULL), 2);
        expect_output("built without the CUDA backend (make CUDA=1)");
    }
#endif
    assert_int_equal(run_cli("generate", "--device", "gpu", NULL), 2);
    expect_output("device must be cpu or cuda, not 'gpu'");
    assert_int_equal(run_cli("eval", "--device", "gpu", NULL), 2);
    expect_output("device must be cpu or cuda, not 'gpu'");
    /* a valid --device is taken, not an unknown option (ilr eval once fell through to that) */
    assert_int_equal(run_cli("eval", "--device", "cpu", NULL), 2);
    expect_output("-o OUT is required");
    assert_int_equal(run_cli("generate", "--device", "cpu", "--model", "/nonexistent", "--prompt", "x", NULL), 1);
    expect_output("/nonexistent");
    assert_int_equal(run_cli("convert", "a", "b", "--dtype", "f8", NULL), 2);
    expect_output("--dtype takes f32 or bf16");
    assert_int_equal(run_cli("convert", "a", "b", "--shard-size", "lots", NULL), 2);
    expect_output("--shard-size takes a positive size");
    assert_int_equal(run_cli("--log-level", "loud", "inspect", "x", NULL), 2);
    expect_output("--log-level takes");
}

static void test_init_inspect_convert(void **state) {
    (void)state;
    char dir[256], model[300], converted[300];
    ilr_test_tmpdir(dir, "cli");
    snprintf(model, sizeof model, "%s/llama", dir);
    snprintf(converted, sizeof converted, "%s/llama-bf16", dir);
    assert_int_equal(run_cli("init", "--arch", "llama", "--shape", "tiny", "--vocab-size", "1000", "--seed", "5",
                             "-o", model, NULL), 0);
    expect_output("wrote ");
    assert_int_equal(run_cli("inspect", model, NULL), 0);
    expect_output("architecture  llama (LlamaForCausalLM)");
    expect_output("vocab 1000, hidden 128, intermediate 352, layers 4, heads 4, kv heads 2, head_dim 32");
    expect_output("llama3 scaling (factor 8, low 1, high 4, original 512)");
    expect_output("F32 x38");
    assert_int_equal(run_cli("convert", model, converted, "--dtype", "bf16", "--shard-size", "300K", NULL), 0);
    assert_int_equal(run_cli("inspect", "--json", converted, NULL), 0);
    expect_output("\"BF16\": 38");
    expect_output("\"files\": 7"); /* 1.7 MB of BF16 in shards of at most 300 KiB */
    ilr_model a, b;
    assert_int_equal(ilr_model_load(&a, model), 0);
    assert_int_equal(ilr_model_load(&b, converted), 0);
    for (size_t i = 0; i < a.table.total; i++)
        assert_true(ilr_bf16_to_f32(ilr_f32_to_bf16(a.params[i])) == b.params[i]);
    ilr_model_free(&a);
    ilr_model_free(&b);
    assert_int_equal(run_cli("inspect", dir, NULL), 1);
    expect_output("ilr inspect: error: ");
    expect_output("config.json");
    ilr_test_rmtree(dir);
}

/* ilr score: one JSON line per input line; bad lines are refused with the file and line. */
static void test_score(void **state) {
    (void)state;
    char dir[256], model[300], input[300];
    ilr_test_tmpdir(dir, "score");
    snprintf(model, sizeof model, "%s/m", dir);
    assert_int_equal(run_cli("init", "--arch", "qwen2", "--shape", "tiny", "-o", model, NULL), 0);
    const char good[] = "{\"ids\": [1, 2, 3, 4]}\n\n{\"ids\": [7, 7]}\n";
    ilr_test_write_file(input, dir, "in.jsonl", good, sizeof good - 1);
    assert_int_equal(run_cli("score", "--model", model, "--input", input, NULL), 0);
    expect_output("{\"line\": 1, \"tokens\": 4, \"sum\": ");
    expect_output("{\"line\": 3, \"tokens\": 2, \"sum\": ");
    /* A random tiny model is near uniform over 4096 tokens: log-probabilities near -log(4096) = -8.318. */
    double mean = 0;
    const char *key = "\"mean\": ";
    assert_int_equal(sscanf(strstr(output, key) + strlen(key), "%lf", &mean), 1);
    assert_true(fabs(mean + log(4096.0)) < 0.5);
    const char bad[] = "{\"ids\": [1, 2]}\n{\"ids\": [1, 5000]}\n";
    ilr_test_write_file(input, dir, "bad.jsonl", bad, sizeof bad - 1);
    assert_int_equal(run_cli("score", "--model", model, "--input", input, NULL), 1);
    expect_output("bad.jsonl:2: key 'ids': item 1 is not a token id in [0, 4096)");
    const char text[] = "{\"text\": \"hello\"}\n";
    ilr_test_write_file(input, dir, "text.jsonl", text, sizeof text - 1);
    assert_int_equal(run_cli("score", "--model", model, "--input", input, NULL), 1);
    expect_output("text.jsonl:1: \"text\" needs a tokenizer");
    ilr_test_rmtree(dir);
}

/* The ids of `ilr generate`'s first JSON line in output; returns their count. */
static int generated_ids(int *ids, int cap) {
    json_t *line = NULL;
    assert_int_equal(ilr_json_parse(output, strcspn(output, "\n"), "generate output", &line), 0);
    const json_t *list = json_object_get(line, "ids");
    int n = (int)json_array_size(list);
    assert_true(n > 0 && n <= cap);
    for (int i = 0; i < n; i++) ids[i] = (int)json_integer_value(json_array_get(list, (size_t)i));
    json_decref(line);
    return n;
}

/* `ilr generate` stops on an end-of-turn id that only generation_config.json names, with "stop": "eos". */
static void test_generate_stops_on_generation_config_eos(void **state) {
    (void)state;
    char dir[256], model[300], input[300], path[256];
    ilr_test_tmpdir(dir, "clieos");
    snprintf(model, sizeof model, "%s/m", dir);
    assert_int_equal(run_cli("init", "--arch", "qwen2", "--shape", "tiny", "-o", model, NULL), 0);
    const char prompts[] = "{\"ids\": [5, 6, 7]}\n";
    ilr_test_write_file(input, dir, "prompts.jsonl", prompts, sizeof prompts - 1);
    char *args[] = {"ilr", "generate", "--model", model, "--prompts", input, "--temperature", "1", "--seed", "3",
                    "--max-new-tokens", "16", NULL};
    const int argc = (int)(sizeof args / sizeof args[0]) - 1;
    assert_int_equal(ilr_test_run_cli(output, sizeof output, argc, args), 0);
    expect_output("\"stop\":\"length\"");
    int free_ids[16], stopped[16];
    assert_int_equal(generated_ids(free_ids, 16), 16);
    int turn_end = free_ids[5], first = 0;
    while (free_ids[first] != turn_end) first++;
    char gc[64];
    int len = snprintf(gc, sizeof gc, "{\"eos_token_id\": [%d]}\n", turn_end);
    ilr_test_write_file(path, model, "generation_config.json", gc, (size_t)len);
    assert_int_equal(ilr_test_run_cli(output, sizeof output, argc, args), 0);
    expect_output("\"stop\":\"eos\"");
    int n = generated_ids(stopped, 16);
    print_message("ilr generate with generation_config.json eos [%d]: %d tokens, \"stop\":\"eos\" (16 without)\n",
                  turn_end, n);
    assert_int_equal(n, first + 1);
    assert_memory_equal(stopped, free_ids, sizeof(int) * (size_t)n);
    ilr_test_rmtree(dir);
}

/* With a real tokenizer: its files are copied, bos/eos come from it, and a vocabulary too small for it is
 * refused with the size to use. */
static void test_init_with_tokenizer(void **state) {
    (void)state;
    const char *shared = ilr_test_shared_data();
    if (!shared) {
        print_message("skipped: ../shared/data not found (set ILR_SHARED_DATA)\n");
        skip();
    }
    char tok[512], dir[256], model[300];
    snprintf(tok, sizeof tok, "%s/tokenizers/llama3", shared);
    ilr_test_tmpdir(dir, "clitok");
    snprintf(model, sizeof model, "%s/m", dir);
    assert_int_equal(run_cli("init", "--arch", "llama", "--shape", "tiny", "--tokenizer", tok, "-o", model, NULL), 1);
    expect_output("pass --vocab-size 128256 or more");
    assert_int_equal(run_cli("init", "--arch", "llama", "--shape", "tiny", "--tokenizer", tok, "--vocab-size",
                             "128256", "-o", model, NULL), 0);
    ilr_model_config c;
    char path[400];
    snprintf(path, sizeof path, "%s/config.json", model);
    assert_int_equal(ilr_config_load(path, &c), 0);
    assert_int_equal(c.bos_token_id, 128000); /* <|begin_of_text|> */
    assert_int_equal(c.num_eos, 1);
    snprintf(path, sizeof path, "%s/tokenizer.json", model);
    assert_true(access(path, R_OK) == 0);
    /* score takes text through the copied tokenizer: "Hello world" is Llama-3's [9906, 1917] */
    char input[300];
    const char lines[] = "{\"text\": \"Hello world\"}\n{\"ids\": [9906, 1917]}\n";
    ilr_test_write_file(input, dir, "in.jsonl", lines, sizeof lines - 1);
    assert_int_equal(run_cli("score", "--model", model, "--input", input, NULL), 0);
    char *first = strstr(output, "\"line\": 1"), *second = strstr(output, "\"line\": 2");
    assert_non_null(first);
    assert_non_null(second);
    assert_true(strncmp(strchr(first, ','), strchr(second, ','), (size_t)(strchr(second, '}') - strchr(second, ','))) == 0);
    /* generate: JSON lines per completion; a bad prompt line is refused with its file and line */
    assert_int_equal(run_cli("generate", "--model", model, "--prompt", "Hello", "--n", "2", "--max-new-tokens", "3",
                             "--ignore-eos", "--seed", "4", NULL), 0);
    expect_output("{\"prompt\":0,\"sample\":1,\"ids\":[");
    expect_output("\"stop\":\"length\"");
    const char prompts_bad[] = "{\"text\": \"ok\"}\n{\"ids\": [1, -5]}\n";
    ilr_test_write_file(input, dir, "prompts.jsonl", prompts_bad, sizeof prompts_bad - 1);
    assert_int_equal(run_cli("generate", "--model", model, "--prompts", input, NULL), 1);
    expect_output("prompts.jsonl:2");
    /* chat: two user lines in, two streamed replies out (one line each), then end of input */
    const char turns[] = "Hello\nAnd again\n";
    ilr_test_write_file(input, dir, "turns.txt", turns, sizeof turns - 1);
    int saved_in = dup(0), fd = open(input, O_RDONLY);
    dup2(fd, 0);
    close(fd);
    int rc = run_cli("chat", "--model", model, "--max-new-tokens", "4", "--system", "Be brief.", NULL);
    dup2(saved_in, 0);
    close(saved_in);
    clearerr(stdin);
    assert_int_equal(rc, 0);
    int newlines = 0;
    for (const char *p = output; *p; p++) newlines += *p == '\n';
    assert_true(newlines >= 2); /* a reply may itself hold newlines */
    ilr_test_rmtree(dir);
}

/* A command that prints its config and then fails: the error comes after what was printed before it, also
 * where stdout is buffered and both streams go to one log (stdout is flushed before an error is written). */
static void test_error_after_printed_config(void **state) {
    (void)state;
    assert_int_equal(run_cli("train", "configs/world-grpo-a.yaml", "model=/nonexistent-ilr-model",
                             "output_dir=/tmp/ilr-test-never-written", NULL), 1);
    const char *config = strstr(output, "save_rollouts:"), *error = strstr(output, "ilr train: error: ");
    assert_non_null(config); /* the config's last key */
    assert_non_null(error);
    assert_true(config < error);
    const char *end = strchr(error, '\n');
    assert_non_null(end);
    assert_int_equal(end[1], 0); /* the error is the last line */
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_help_for_every_command),
    cmocka_unit_test(test_error_after_printed_config),
    cmocka_unit_test(test_usage_errors),
    cmocka_unit_test(test_init_inspect_convert),
    cmocka_unit_test(test_score),
    cmocka_unit_test(test_generate_stops_on_generation_config_eos),
    cmocka_unit_test(test_init_with_tokenizer),
};

ILR_TEST_GROUP(cli, tests)
