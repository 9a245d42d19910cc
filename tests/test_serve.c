/* `ilr serve` over a real socket on loopback: a tiny random Llama (the trained qwen2 test tokenizer, a ChatML
 * template) served in-process on an ephemeral port, read back with a plain HTTP client.  Greedy and seeded
 * outputs equal the engine's (ilr_generate) for the same prompt; every error case has its status and OpenAI
 * shape; oversized, truncated and slow requests leave the server answering; SIGTERM lets a request in flight
 * finish (the CLI in a child process). */
#include <arpa/inet.h>
#include <pthread.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "ilr/chat.h"
#include "ilr/error.h"
#include "ilr/generate.h"
#include "ilr/serve.h"
#include "serve_client.h"
#include "test_util.h"

typedef struct {
    char dir[256], model[300];
    ilr_server *server;
    int port;
} fixture;

static fixture fx;

static int setup(void **state) {
    (void)state;
    char out[4096];
    ilr_test_tmpdir(fx.dir, "serve");
    snprintf(fx.model, sizeof fx.model, "%s/m", fx.dir);
    assert_int_equal(ilr_test_cli(out, sizeof out, "init", "--arch", "llama", "--shape", "tiny", "-o", fx.model, "--tokenizer",
                                  "tests/data/tokenizer/trained/qwen2", "--vocab-size", "1024", "--seed", "7", NULL), 0);
    serve_add_chat_template(fx.model);
    ilr_serve_model_spec spec = {"tiny", fx.model};
    ilr_serve_options opt = {.port = 0, .slots = 4, .context = 96, .max_body = 4096, .timeout_s = 1, .max_queue = 1};
    assert_int_equal(ilr_serve_start(&fx.server, &spec, 1, &opt), 0);
    fx.port = ilr_serve_port(fx.server);
    assert_true(fx.port > 0);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    return serve_stop_and_remove(fx.server, fx.dir);
}

/* POSTs body to the fixture's server and parses the JSON answer, asserting the status. */
static json_t *post(const char *path, const char *body, int want_status) { return serve_post(fx.port, path, body, want_status); }

/* ---- what the engine says for the same request ---- */

static void engine(const char *prompt, const ilr_chat_message *chat, int n, float temperature, uint64_t seed, int max_new,
                   const char *stop, ilr_gen_output *out) {
    ilr_model m;
    ilr_tokenizer *tok;
    assert_int_equal(ilr_model_load(&m, fx.model), 0);
    assert_int_equal(ilr_tok_load(&tok, fx.model), 0);
    ilr_tok_ids ids = {0};
    if (chat) {
        ilr_chat_template *t;
        char *text;
        size_t len;
        assert_int_equal(ilr_chat_template_load(&t, fx.model), 0);
        assert_int_equal(ilr_chat_render(t, chat, 1, ILR_CHAT_GENERATION, &text, &len), 0);
        assert_int_equal(ilr_tok_encode(tok, text, len, ILR_TOK_SPECIAL, &ids), 0);
        free(text);
        ilr_chat_template_free(t);
    } else {
        assert_non_null(prompt);
        assert_int_equal(ilr_tok_encode(tok, prompt, strlen(prompt), ILR_TOK_SPECIAL | ILR_TOK_ADD_SPECIAL, &ids), 0);
    }
    ilr_generator g;
    assert_int_equal(ilr_gen_init(&g, &m, n, 96), 0);
    const int *prompts[1] = {ids.ids};
    const char *stops[1] = {stop};
    ilr_gen_options opt = {.sampler = {temperature, 0, 1.0f, 0.0f}, .max_new_tokens = max_new, .seed = seed,
                           .stop_strings = stops, .num_stop_strings = stop ? 1 : 0};
    assert_int_equal(ilr_generate(&g, tok, prompts, &ids.count, 1, n, &opt, out), 0);
    ilr_gen_free(&g);
    ilr_tok_ids_free(&ids);
    ilr_tok_free(tok);
    ilr_model_free(&m);
}

static const char *choice_text(json_t *resp, int i, int chat) {
    json_t *c = json_array_get(json_object_get(resp, "choices"), (size_t)i);
    const char *t = chat ? json_string_value(json_object_get(json_object_get(c, "message"), "content"))
                         : json_string_value(json_object_get(c, "text"));
    assert_non_null(t);
    return t;
}

static const char *choice_finish(json_t *resp, int i) {
    return json_string_value(json_object_get(json_array_get(json_object_get(resp, "choices"), (size_t)i), "finish_reason"));
}

static void test_health_and_models(void **state) {
    (void)state;
    int status;
    char *r = serve_http(fx.port, "GET", "/health", NULL, &status);
    assert_int_equal(status, 200);
    ilr_test_expect_contains(r, "{\"status\":\"ok\"}");
    free(r);
    r = serve_http(fx.port, "GET", "/v1/models", NULL, &status);
    assert_int_equal(status, 200);
    ilr_test_expect_contains(r, "\"id\":\"tiny\"");
    ilr_test_expect_contains(r, "\"context_length\":96");
    free(r);
    r = serve_http(fx.port, "GET", "/v1/nothing", NULL, &status);
    assert_int_equal(status, 404);
    ilr_test_expect_contains(r, "\"code\":\"not_found\"");
    free(r);
    r = serve_http(fx.port, "GET", "/v1/completions", NULL, &status);
    assert_int_equal(status, 405);
    free(r);
}

/* Greedy completions and chat equal the engine's, token for token (the usage counts them). */
static void test_greedy_equals_engine(void **state) {
    (void)state;
    ilr_gen_output want;
    engine("The sum of 3 and 4 is", NULL, 1, 0, 1, 20, NULL, &want);
    json_t *r = post("/v1/completions", "{\"model\": \"tiny\", \"prompt\": \"The sum of 3 and 4 is\", \"max_tokens\": 20, "
                     "\"temperature\": 0, \"logprobs\": 1}", 200);
    print_message("greedy completion: engine \"%s\" (%d tokens), server \"%s\"\n", want.text, want.count, choice_text(r, 0, 0));
    assert_string_equal(choice_text(r, 0, 0), want.text);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "usage"), "completion_tokens")), want.count);
    json_t *lps = json_object_get(json_object_get(json_array_get(json_object_get(r, "choices"), 0), "logprobs"), "token_logprobs");
    assert_int_equal(json_array_size(lps), (size_t)want.count);
    for (int i = 0; i < want.count; i++) assert_float_equal(json_real_value(json_array_get(lps, (size_t)i)), want.logprobs[i], 1e-5);
    assert_string_equal(json_string_value(json_object_get(r, "object")), "text_completion");
    json_decref(r);
    ilr_gen_output_free(&want);

    ilr_chat_message m = {"user", "What is 3 + 4?", NULL};
    engine(NULL, &m, 1, 0, 1, 16, NULL, &want);
    r = post("/v1/chat/completions", "{\"model\": \"tiny\", \"messages\": [{\"role\": \"user\", \"content\": \"What is 3 + 4?\"}], "
             "\"max_tokens\": 16, \"temperature\": 0}", 200);
    assert_string_equal(choice_text(r, 0, 1), want.text);
    assert_string_equal(json_string_value(json_object_get(r, "object")), "chat.completion");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "usage"), "completion_tokens")), want.count);
    json_decref(r);
    ilr_gen_output_free(&want);
}

/* n > 1 with a seed: each choice is the engine's sample k of the same seed. */
static void test_sampled_n_equals_engine(void **state) {
    (void)state;
    ilr_gen_output want[3];
    engine("Once upon", NULL, 3, 0.9f, 42, 12, NULL, want);
    json_t *r = post("/v1/completions", "{\"model\": \"tiny\", \"prompt\": \"Once upon\", \"max_tokens\": 12, \"n\": 3, "
                     "\"temperature\": 0.9, \"seed\": 42}", 200);
    assert_int_equal(json_array_size(json_object_get(r, "choices")), 3);
    for (int k = 0; k < 3; k++) {
        json_t *text = json_object_get(json_array_get(json_object_get(r, "choices"), (size_t)k), "text");
        assert_int_equal(json_string_length(text), want[k].text_len);
        assert_memory_equal(json_string_value(text), want[k].text, want[k].text_len);
    }
    assert_true(want[0].text_len != want[1].text_len || memcmp(want[0].text, want[1].text, want[0].text_len));
    for (int k = 0; k < 3; k++) ilr_gen_output_free(&want[k]);
    json_decref(r);
}

/* A stop string cuts the text before it, with finish_reason "stop"; without it the same prompt runs to length. */
static void test_stop_string(void **state) {
    (void)state;
    ilr_gen_output free_run;
    engine("hello world", NULL, 1, 0, 1, 24, NULL, &free_run);
    assert_true(free_run.text_len > 6);
    char stop[3] = {free_run.text[4], free_run.text[5], 0};
    const char *first = strstr(free_run.text, stop);
    char body[256];
    snprintf(body, sizeof body, "{\"model\": \"tiny\", \"prompt\": \"hello world\", \"max_tokens\": 24, \"temperature\": 0, "
             "\"stop\": [\"%s\"]}", stop);
    json_t *r = post("/v1/completions", body, 200);
    print_message("stop \"%s\" in \"%s\": \"%s\"\n", stop, free_run.text, choice_text(r, 0, 0));
    assert_int_equal(strlen(choice_text(r, 0, 0)), (size_t)(first - free_run.text));
    assert_memory_equal(choice_text(r, 0, 0), free_run.text, (size_t)(first - free_run.text));
    assert_string_equal(choice_finish(r, 0), "stop");
    json_decref(r);
    r = post("/v1/completions", "{\"model\": \"tiny\", \"prompt\": \"hello world\", \"max_tokens\": 24, \"temperature\": 0}", 200);
    assert_string_equal(choice_finish(r, 0), free_run.reason == ILR_STOP_LENGTH ? "length" : "stop");
    json_decref(r);
    ilr_gen_output_free(&free_run);
}

/* Adds up the texts of a streamed answer's events: the chat deltas' content or the completions' text. */
static void stream_text(const char *path, const char *body, char *text, size_t cap, int *events, int *finished, int *usage) {
    int status;
    char *r = serve_http(fx.port, "POST", path, body, &status);
    assert_int_equal(status, 200);
    ilr_test_expect_contains(r, "Content-Type: text/event-stream");
    ilr_test_expect_contains(r, "data: [DONE]\n\n");
    text[0] = 0;
    *events = *finished = *usage = 0;
    for (char *at = strstr(r, "data: "); at; at = strstr(at + 1, "\ndata: ")) {
        at += at[0] == '\n';
        if (!strncmp(at, "data: [DONE]", 12)) break;
        json_t *e = json_loads(at + 6, JSON_DISABLE_EOF_CHECK, NULL);
        assert_non_null(e);
        json_t *c = json_array_get(json_object_get(e, "choices"), 0);
        const char *piece = json_string_value(json_object_get(json_object_get(c, "delta"), "content"));
        if (!piece) piece = json_string_value(json_object_get(c, "text"));
        if (piece) strncat(text, piece, cap - strlen(text) - 1);
        *finished += json_is_string(json_object_get(c, "finish_reason"));
        *usage += json_is_object(json_object_get(e, "usage"));
        (*events)++;
        json_decref(e);
    }
    free(r);
}

/* The same request whole and streamed ("stream": true and `extra` added): the streamed pieces add up to the
 * whole answer's text, which goes to text. */
static void stream_vs_whole(const char *path, const char *fields, const char *extra, char *text, size_t cap, int *events,
                            int *finished, int *usage) {
    char body[512];
    snprintf(body, sizeof body, "{%s}", fields);
    json_t *whole = post(path, body, 200);
    snprintf(body, sizeof body, "{%s, \"stream\": true%s}", fields, extra);
    stream_text(path, body, text, cap, events, finished, usage);
    assert_string_equal(text, choice_text(whole, 0, strstr(path, "chat") != NULL));
    assert_int_equal(*finished, 1);
    json_decref(whole);
}

/* stream: true answers server-sent events whose pieces add up to the non-streamed text, then [DONE]. */
static void test_stream(void **state) {
    (void)state;
    char text[4096];
    int events, finished, usage;
    stream_vs_whole("/v1/chat/completions", "\"model\": \"tiny\", \"messages\": [{\"role\": \"user\", \"content\": \"Tell "
                    "me a story\"}], \"max_tokens\": 14, \"temperature\": 0", ", \"stream_options\": {\"include_usage\": true}",
                    text, sizeof text, &events, &finished, &usage);
    assert_int_equal(usage, 1);
    assert_true(events >= 3); /* the role, the text as it was drawn (a step's tokens per event), the finish */
    const char *sum = "\"model\": \"tiny\", \"prompt\": \"The sum of 3 and 4 is\", \"max_tokens\": 20, \"temperature\": 0";
    stream_vs_whole("/v1/completions", sum, "", text, sizeof text, &events, &finished, &usage);
    print_message("stream: %d events, text \"%s\"\n", events, text);
    assert_true(strlen(text) > 10);
    assert_true(events >= 2);
    assert_int_equal(usage, 0);
    /* a stop string: the stream holds back what may turn out to be one, and ends where the whole text is cut */
    char fields[300];
    snprintf(fields, sizeof fields, "%s, \"stop\": [\"s is i\", \"xyz\"]", sum);
    stream_vs_whole("/v1/completions", fields, "", text, sizeof text, &events, &finished, &usage);
    print_message("stream with a stop string: %d events, text \"%s\"\n", events, text);
    assert_string_equal(text, " i");
}

/* Every bad request: its status, OpenAI's error shape, the parameter named. */
static void test_errors(void **state) {
    (void)state;
    static const struct {
        const char *path, *body;
        int status;
        const char *param, *code;
    } cases[] = {
        {"/v1/completions", "{\"model\": \"tiny\", \"prompt\": ", 400, NULL, NULL},
        {"/v1/completions", "[1, 2]", 400, NULL, NULL},
        /* found by fuzz/serve_request.c: the parser's message quotes bytes that are not UTF-8 */
        {"/v1/chat/completions", "{\"model\":\"a\",\"messages\":[],\"top\":\"\\\xd3\x91\xdd\x82", 400, NULL, NULL},
        {"/v1/completions", "{\"model\": \"nope\", \"prompt\": \"a\"}", 404, "model", "model_not_found"},
        {"/v1/completions", "{\"prompt\": \"a\"}", 400, "model", NULL},
        {"/v1/completions", "{\"model\": \"tiny\"}", 400, "prompt", NULL},
        {"/v1/completions", "{\"model\": \"tiny\", \"prompt\": \"a\", \"temperature\": -1}", 400, "temperature", NULL},
        {"/v1/completions", "{\"model\": \"tiny\", \"prompt\": \"a\", \"temperature\": \"hot\"}", 400, "temperature", NULL},
        {"/v1/completions", "{\"model\": \"tiny\", \"prompt\": \"a\", \"top_p\": 0}", 400, "top_p", NULL},
        {"/v1/completions", "{\"model\": \"tiny\", \"prompt\": \"a\", \"max_tokens\": 0}", 400, "max_tokens", NULL},
        {"/v1/completions", "{\"model\": \"tiny\", \"prompt\": \"a\", \"n\": 0}", 400, "n", NULL},
        {"/v1/completions", "{\"model\": \"tiny\", \"prompt\": \"a\", \"n\": 5}", 400, "n", NULL},
        {"/v1/completions", "{\"model\": \"tiny\", \"prompt\": \"a\", \"logprobs\": 9}", 400, "logprobs", NULL},
        {"/v1/completions", "{\"model\": \"tiny\", \"prompt\": \"a\", \"stream\": \"yes\"}", 400, "stream", NULL},
        {"/v1/completions", "{\"model\": \"tiny\", \"prompt\": \"a\", \"stop\": [\"a\",\"b\",\"c\",\"d\",\"e\"]}", 400, "stop", NULL},
        {"/v1/completions", "{\"model\": \"tiny\", \"prompt\": \"a\", \"stop\": [\"\"]}", 400, "stop", NULL},
        {"/v1/completions", "{\"model\": \"tiny\", \"prompt\": [\"a\", \"b\"]}", 400, "prompt", NULL},
        {"/v1/completions", "{\"model\": \"tiny\", \"prompt\": \"a\", \"max_tokens\": 500}", 400, "max_tokens", "context_length_exceeded"},
        {"/v1/chat/completions", "{\"model\": \"tiny\", \"messages\": []}", 400, "messages", NULL},
        {"/v1/chat/completions", "{\"model\": \"tiny\", \"messages\": [{\"role\": \"wizard\", \"content\": \"a\"}]}", 400, "messages", NULL},
        {"/v1/chat/completions", "{\"model\": \"tiny\", \"messages\": [{\"role\": \"user\", \"content\": \"a\"}], \"logprobs\": 2}", 400, "logprobs", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        json_t *r = post(cases[i].path, cases[i].body, cases[i].status);
        json_t *e = json_object_get(r, "error");
        const char *message = json_string_value(json_object_get(e, "message"));
        assert_non_null(message);
        assert_string_equal(json_string_value(json_object_get(e, "type")), "invalid_request_error");
        const char *param = json_string_value(json_object_get(e, "param")), *code = json_string_value(json_object_get(e, "code"));
        if (cases[i].param) assert_non_null(param), assert_string_equal(param, cases[i].param);
        else assert_null(param);
        if (cases[i].code) assert_non_null(code), assert_string_equal(code, cases[i].code);
        json_decref(r);
    }
    /* a prompt longer than the context (96 tokens) */
    char body[2048] = "{\"model\": \"tiny\", \"prompt\": \"";
    for (int i = 0; i < 150; i++) strcat(body, "word ");
    strcat(body, "\"}");
    json_t *r = post("/v1/completions", body, 400);
    assert_string_equal(json_string_value(json_object_get(json_object_get(r, "error"), "code")), "context_length_exceeded");
    json_decref(r);
    print_message("%zu bad requests answered with their status and error, and a prompt over the context\n",
                  sizeof cases / sizeof *cases);
}

/* A body over the limit (4096 bytes here) gets 413, announced or not; the server answers the next request. */
static void test_oversized_and_truncated(void **state) {
    (void)state;
    char *big = malloc(10000);
    memset(big, ' ', 9999);
    big[9999] = 0;
    memcpy(big, "{\"model\": \"tiny\", \"prompt\": \"a\"", 31);
    big[9998] = '}';
    json_t *r = post("/v1/completions", big, 413);
    assert_string_equal(json_string_value(json_object_get(json_object_get(r, "error"), "code")), "request_too_large");
    json_decref(r);
    /* chunked, so no Content-Length announces it */
    int fd = serve_connect(fx.port), status;
    const char *head = "POST /v1/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n";
    send(fd, head, strlen(head), MSG_NOSIGNAL);
    for (int i = 0; i < 3; i++) {
        char size[16];
        snprintf(size, sizeof size, "%x\r\n", 3000);
        send(fd, size, strlen(size), MSG_NOSIGNAL), send(fd, big, 3000, MSG_NOSIGNAL), send(fd, "\r\n", 2, MSG_NOSIGNAL);
    }
    send(fd, "0\r\n\r\n", 5, MSG_NOSIGNAL);
    char *resp = serve_read_all(fd, &status);
    assert_int_equal(status, 413);
    free(resp);
    free(big);
    /* truncated: Content-Length 100, 10 bytes sent, then the client goes away */
    fd = serve_connect(fx.port);
    head = "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"model\": ";
    send(fd, head, strlen(head), MSG_NOSIGNAL);
    close(fd);
    /* slow loris: half a request line, then nothing; the server closes it after its 1 s timeout */
    fd = serve_connect(fx.port);
    send(fd, "GET /heal", 9, MSG_NOSIGNAL);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    resp = serve_read_all(fd, &status);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double waited = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    print_message("a slow client was cut off after %.2f s (timeout 1 s)\n", waited);
    assert_true(waited >= 0.5 && waited < 10);
    free(resp);
    resp = serve_http(fx.port, "GET", "/health", NULL, &status);
    assert_int_equal(status, 200);
    free(resp);
}

typedef struct {
    const char *body;
    int status;
} bg_request;

static void *bg_post(void *arg) {
    bg_request *b = arg;
    free(serve_http(fx.port, "POST", "/v1/completions", b->body, &b->status));
    return NULL;
}

/* With max_queue 1, a request that comes while another runs gets 503 at once; afterwards requests go through. */
static void test_queue_full(void **state) {
    (void)state;
    bg_request long_one = {"{\"model\": \"tiny\", \"prompt\": \"a\", \"max_tokens\": 90, \"n\": 4, \"temperature\": 1, \"seed\": 1}", 0};
    int busy = 0;
    for (int attempt = 0; attempt < 5 && !busy; attempt++) {
        pthread_t t;
        pthread_create(&t, NULL, bg_post, &long_one);
        usleep(20000);
        busy = serve_completion_refused(fx.port, "{\"model\": \"tiny\", \"prompt\": \"b\", \"max_tokens\": 1}");
        pthread_join(t, NULL);
        assert_int_equal(long_one.status, 200);
    }
    assert_true(busy);
    json_decref(post("/v1/completions", "{\"model\": \"tiny\", \"prompt\": \"b\", \"max_tokens\": 1}", 200));
}

typedef struct {
    int port, n, max_tokens, status;
    char body[256], *resp;
} concurrent_request;

static void *post_concurrent(void *arg) {
    concurrent_request *c = arg;
    c->resp = serve_http(c->port, "POST", "/v1/completions", c->body, &c->status);
    return NULL;
}

/* Requests that arrive together are decoded in one batch (4 slots for 9 sequences: some wait for slots, join
 * the running batch and leave it), and each gets the answer ilr_generate gives it alone. */
static void test_concurrent_equals_alone(void **state) {
    (void)state;
    ilr_serve_model_spec spec = {"tiny", fx.model};
    ilr_serve_options opt = {.port = 0, .slots = 4, .context = 96};
    ilr_server *server;
    assert_int_equal(ilr_serve_start(&server, &spec, 1, &opt), 0);
    enum { R = 6 };
    concurrent_request c[R];
    pthread_t t[R];
    for (int i = 0; i < R; i++) {
        c[i] = (concurrent_request){.port = ilr_serve_port(server), .n = 1 + i % 2, .max_tokens = 8 + 5 * i};
        snprintf(c[i].body, sizeof c[i].body, "{\"model\": \"tiny\", \"prompt\": \"Request %d: once\", \"max_tokens\": %d, "
                 "\"n\": %d, \"temperature\": 0.9, \"seed\": %d}", i, c[i].max_tokens, c[i].n, 100 + i);
        pthread_create(&t[i], NULL, post_concurrent, &c[i]);
    }
    for (int i = 0; i < R; i++) pthread_join(t[i], NULL);
    /* a streaming client that goes away after its first bytes: its request runs out, the server stops cleanly */
    int fd = serve_connect(ilr_serve_port(server));
    const char *req = "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 86\r\n\r\n"
                      "{\"model\": \"tiny\", \"prompt\": \"go\", \"max_tokens\": 90, \"n\": 4, \"stream\": true, \"seed\": 1}";
    assert_int_equal(strlen(strstr(req, "{")), 86);
    send(fd, req, strlen(req), MSG_NOSIGNAL);
    char first[64];
    assert_true(recv(fd, first, sizeof first, 0) > 0);
    close(fd);
    ilr_serve_stop(server);
    int compared = 0;
    for (int i = 0; i < R; i++) {
        assert_int_equal(c[i].status, 200);
        json_t *r = json_loads(strstr(c[i].resp, "\r\n\r\n") + 4, JSON_ALLOW_NUL, NULL);
        assert_non_null(r);
        char prompt[64];
        snprintf(prompt, sizeof prompt, "Request %d: once", i);
        ilr_gen_output want[2];
        engine(prompt, NULL, c[i].n, 0.9f, (uint64_t)(100 + i), c[i].max_tokens, NULL, want);
        for (int k = 0; k < c[i].n; k++, compared++) {
            json_t *text = json_object_get(json_array_get(json_object_get(r, "choices"), (size_t)k), "text");
            assert_int_equal(json_string_length(text), want[k].text_len);
            assert_memory_equal(json_string_value(text), want[k].text, want[k].text_len);
            ilr_gen_output_free(&want[k]);
        }
        json_decref(r);
        free(c[i].resp);
    }
    print_message("%d concurrent requests (%d sequences on 4 slots): each equals ilr_generate alone\n", R, compared);
}

static int free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t len = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    return ntohs(a.sin_port);
}

typedef struct {
    int port, status;
    char *resp;
} bg_child_request;

static void *bg_child_post(void *arg) {
    bg_child_request *b = arg;
    b->resp = serve_http(b->port, "POST", "/v1/completions",
                   "{\"model\": \"tiny\", \"prompt\": \"a\", \"max_tokens\": 90, \"n\": 4, \"temperature\": 1, \"seed\": 3}", &b->status);
    return NULL;
}

/* `ilr serve` as a child: SIGTERM while a request runs lets it finish with its answer, then the process exits 0. */
static void test_sigterm_graceful(void **state) {
    (void)state;
    const char *bin = getenv("ILR_BIN");
    if (!bin) {
        print_message("skipped: ILR_BIN is not set (make test sets it)\n");
        skip();
    }
    char spec[400], port[16];
    snprintf(spec, sizeof spec, "tiny=%s", fx.model);
    bg_child_request b = {.port = free_port()};
    snprintf(port, sizeof port, "%d", b.port);
    char *argv[] = {(char *)bin, "serve", "--model", spec, "--port", port, "--slots", "4", "--context", "96", NULL};
    pid_t pid = ilr_test_spawn(bin, argv);
    int up = 0;
    for (int i = 0; i < 600 && !up; i++) {
        int fd = serve_connect(b.port);
        if (fd >= 0) close(fd), up = 1;
        else usleep(50000);
    }
    assert_true(up);
    pthread_t t;
    pthread_create(&t, NULL, bg_child_post, &b);
    usleep(30000);
    kill(pid, SIGTERM);
    pthread_join(t, NULL);
    int status = 0;
    waitpid(pid, &status, 0);
    print_message("a request in flight at SIGTERM: status %d; the server exited with %d\n", b.status,
                  WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    assert_int_equal(b.status, 200);
    ilr_test_expect_contains(b.resp, "\"finish_reason\"");
    free(b.resp);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_true(serve_connect(b.port) < 0);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_health_and_models),      cmocka_unit_test(test_greedy_equals_engine),
    cmocka_unit_test(test_sampled_n_equals_engine), cmocka_unit_test(test_stop_string),
    cmocka_unit_test(test_stream),                 cmocka_unit_test(test_errors),
    cmocka_unit_test(test_oversized_and_truncated), cmocka_unit_test(test_queue_full),
    cmocka_unit_test(test_concurrent_equals_alone), cmocka_unit_test(test_sigterm_graceful),
};

ILR_TEST_GROUP_SETUP(serve, tests, setup, teardown)
