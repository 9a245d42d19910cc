/* `ilr serve`'s discussion models (idea3:A+B, debate:A+B) over a real socket on loopback: three tiny random
 * models (two Llamas and a Qwen2, the trained qwen2 test tokenizer, a ChatML template) served in-process.  A
 * discussion's transcript and final messages equal what ilr_discuss (`ilr interact`) says for the same question
 * and agents; every refused request has its status and OpenAI shape; a discussion running together with
 * ordinary requests on the same models changes no one's answer; a discussion counts against --max-queue. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "ilr/discuss.h"
#include "ilr/error.h"
#include "ilr/serve.h"
#include "ilr/template.h"
#include "serve_client.h"
#include "test_util.h"

enum { CONTEXT = 512, MAX_NEW = 6, MAX_PEER = 24 };

static struct {
    char dir[256], model[3][300];
    ilr_server *server;
    int port;
} fx;

static const char *const names[3] = {"a", "b", "c"};

static int setup(void **state) {
    (void)state;
    char out[4096];
    const char *arch[3] = {"llama", "qwen2", "llama"}, *seed[3] = {"7", "8", "9"};
    char dir[256]; /* a copy: gcc -O1 takes fx.dir for an overlap with fx.model */
    ilr_test_tmpdir(dir, "serve-discussion");
    memcpy(fx.dir, dir, sizeof dir);
    ilr_serve_model_spec spec[3];
    for (int i = 0; i < 3; i++) {
        snprintf(fx.model[i], sizeof fx.model[i], "%s/%s", dir, names[i]);
        assert_int_equal(ilr_test_cli(out, sizeof out, "init", "--arch", arch[i], "--shape", "tiny", "-o", fx.model[i],
                                      "--tokenizer", "tests/data/tokenizer/trained/qwen2", "--vocab-size", "1024", "--seed",
                                      seed[i], NULL), 0);
        serve_add_chat_template(fx.model[i]);
        spec[i] = (ilr_serve_model_spec){names[i], fx.model[i]};
    }
    ilr_serve_options opt = {.port = 0, .slots = 4, .context = CONTEXT, .max_queue = 8};
    assert_int_equal(ilr_serve_start(&fx.server, spec, 3, &opt), 0);
    fx.port = ilr_serve_port(fx.server);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    return serve_stop_and_remove(fx.server, fx.dir);
}

/* ---- what ilr_discuss says: a one-question dataset whose prompt is the question itself ---- */

typedef struct {
    ilr_model model;
    ilr_tokenizer *tok;
    ilr_chat_template *chat;
    ilr_question_set q;
    ilr_generator gen;
} local_agent;

/* Every message of each agent in order, as ilr_discuss's transcript line has them: {AGENT: [messages]}. */
static json_t *interact(const int *agents, int m, int chat, ilr_protocol protocol, int rounds, ilr_stance stance,
                        const char *question) {
    char data[256], tmpl[256];
    json_t *line = json_pack("{s:s, s:s, s:s}", "id", "q", "question", question, "answer", "5");
    char *text = json_dumps(line, JSON_COMPACT);
    json_decref(line);
    ilr_test_write_file(data, fx.dir, "q.jsonl", text, strlen(text));
    free(text);
    ilr_test_write_file(tmpl, fx.dir, "question.txt", "{{question}}", 12);
    ilr_dataset ds;
    ilr_task task;
    ilr_idea3_prompts prompts;
    char *debate = NULL;
    assert_int_equal(ilr_dataset_load(data, NULL, &ds), 0);
    assert_int_equal(ilr_dataset_set_template(&ds, tmpl), 0);
    assert_int_equal(ilr_task_init(&task, ILR_TASK_TYPE_MATH, data, 0.0, 0, NULL), 0);
    assert_int_equal(ilr_idea3_prompts_load(&prompts, "prompts/idea3/math", 0), 0);
    assert_int_equal(ilr_template_load("prompts/idea3/math/debate.txt", &debate), 0);
    local_agent *la = calloc((size_t)m, sizeof *la);
    ilr_discuss_agent da[3];
    for (int i = 0; i < m; i++) {
        const char *dir = fx.model[agents[i]];
        assert_int_equal(ilr_model_load(&la[i].model, dir), 0);
        assert_int_equal(ilr_tok_load(&la[i].tok, dir), 0);
        if (chat) assert_int_equal(ilr_chat_template_load(&la[i].chat, dir), 0);
        assert_int_equal(ilr_question_set_build(&la[i].q, &ds, 0, &task, la[i].tok, la[i].chat, CONTEXT), 0);
        assert_int_equal(ilr_gen_init(&la[i].gen, &la[i].model, 4, CONTEXT), 0);
        da[i] = (ilr_discuss_agent){.name = names[agents[i]], .gen = &la[i].gen, .tok = la[i].tok, .chat = la[i].chat, .q = &la[i].q};
    }
    ilr_discuss_options o = {protocol, rounds, &stance, MAX_NEW, MAX_PEER, 1};
    ilr_discuss_result res;
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    assert_int_equal(ilr_discuss(da, m, &task, &prompts, debate, &o, &res, mem), 0);
    fclose(mem);
    json_t *t = json_loads(buf, 0, NULL);
    assert_non_null(t);
    json_t *answers = json_incref(json_object_get(t, "answers"));
    json_decref(t);
    free(buf);
    for (int i = 0; i < m; i++) {
        ilr_gen_free(&la[i].gen);
        ilr_question_set_free(&la[i].q);
        ilr_chat_template_free(la[i].chat);
        ilr_tok_free(la[i].tok);
        ilr_model_free(&la[i].model);
    }
    free(la);
    free(debate);
    ilr_idea3_prompts_free(&prompts);
    ilr_task_free(&task);
    ilr_dataset_free(&ds);
    return answers;
}

/* The server's discussion equals ilr_discuss's: each agent's messages in the transcript, in order, and its choice
 * the last of them.  Returns the number of messages compared. */
static int expect_same(json_t *resp, json_t *answers, const int *agents, int m, int chat) {
    json_t *transcript = json_object_get(json_object_get(resp, "discussion"), "transcript");
    json_t *choices = json_object_get(resp, "choices");
    assert_int_equal(json_array_size(choices), (size_t)m);
    size_t total = 0;
    for (int i = 0; i < m; i++) {
        const char *name = names[agents[i]];
        json_t *said = json_object_get(answers, name), *c = json_array_get(choices, (size_t)i);
        assert_true(json_array_size(said) >= 2);
        size_t k = 0;
        for (size_t e = 0; e < json_array_size(transcript); e++) {
            json_t *entry = json_array_get(transcript, e);
            if (strcmp(json_string_value(json_object_get(entry, "agent")), name)) continue;
            assert_true(k < json_array_size(said));
            assert_string_equal(json_string_value(json_object_get(entry, "content")), json_string_value(json_array_get(said, k)));
            k++;
        }
        assert_int_equal(k, json_array_size(said));
        total += k;
        const char *final = chat ? json_string_value(json_object_get(json_object_get(c, "message"), "content"))
                                 : json_string_value(json_object_get(c, "text"));
        assert_string_equal(final, json_string_value(json_array_get(said, k - 1)));
        assert_string_equal(json_string_value(json_object_get(c, "agent")), name);
        assert_int_equal(json_integer_value(json_object_get(c, "index")), i);
    }
    assert_int_equal(json_array_size(transcript), total);
    json_t *usage = json_object_get(resp, "usage");
    json_int_t completion = json_integer_value(json_object_get(usage, "completion_tokens"));
    assert_true(completion >= (json_int_t)total && completion <= (json_int_t)total * MAX_NEW);
    assert_true(json_integer_value(json_object_get(usage, "prompt_tokens")) > completion);
    return (int)total;
}

/* A discussion request (chat: one user message, as ilr interact's --chat prompts are one user turn). */
static char *discussion_body(const char *model, int chat, const char *question, const char *extra) {
    static char body[1024];
    if (chat)
        snprintf(body, sizeof body, "{\"model\": \"%s\", \"messages\": [{\"role\": \"user\", \"content\": \"%s\"}], "
                 "\"max_tokens\": %d, \"temperature\": 0, \"discussion\": {\"max_peer_tokens\": %d%s}}", model, question,
                 MAX_NEW, MAX_PEER, extra);
    else
        snprintf(body, sizeof body, "{\"model\": \"%s\", \"prompt\": \"%s\", \"max_tokens\": %d, \"discussion\": "
                 "{\"max_peer_tokens\": %d%s}}", model, question, MAX_NEW, MAX_PEER, extra);
    return body;
}

/* idea3 with two agents (chat), idea3 with three in competition (completions), debate of two in the other order
 * (chat). */
static void test_discussion_equals_interact(void **state) {
    (void)state;
    static const struct {
        const char *model, *extra, *question;
        int agents[3], m, chat, rounds;
        ilr_protocol protocol;
        ilr_stance stance;
    } cases[] = {
        {"idea3:a+b", "", "What is 2 + 3?", {0, 1}, 2, 1, 2, ILR_PROTOCOL_IDEA3, ILR_COOPERATE},
        {"idea3:a+b+c", ", \"mode\": \"comp\"", "Compute 7 * 6.", {0, 1, 2}, 3, 0, 2, ILR_PROTOCOL_IDEA3, ILR_COMPETE},
        {"debate:b+a", ", \"rounds\": 2", "Is 9 prime?", {1, 0}, 2, 1, 2, ILR_PROTOCOL_DEBATE, ILR_COOPERATE},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        json_t *resp = serve_post(fx.port, cases[k].chat ? "/v1/chat/completions" : "/v1/completions",
                                  discussion_body(cases[k].model, cases[k].chat, cases[k].question, cases[k].extra), 200);
        json_t *disc = json_object_get(resp, "discussion");
        assert_string_equal(json_string_value(json_object_get(disc, "protocol")), ilr_protocol_name(cases[k].protocol));
        assert_int_equal(json_array_size(json_object_get(disc, "agents")), (size_t)cases[k].m);
        if (cases[k].protocol == ILR_PROTOCOL_IDEA3)
            assert_string_equal(json_string_value(json_object_get(disc, "mode")), cases[k].stance == ILR_COMPETE ? "comp" : "coop");
        json_t *want = interact(cases[k].agents, cases[k].m, cases[k].chat, cases[k].protocol, cases[k].rounds,
                                cases[k].stance, cases[k].question);
        int compared = expect_same(resp, want, cases[k].agents, cases[k].m, cases[k].chat);
        int m = cases[k].m;
        assert_int_equal(compared, cases[k].protocol == ILR_PROTOCOL_IDEA3 ? m + m * (m - 1) + m : m * (1 + cases[k].rounds));
        print_message("%s (%s): %d messages equal ilr_discuss's\n", cases[k].model, cases[k].chat ? "chat" : "completions",
                      compared);
        json_decref(want);
        json_decref(resp);
    }
}

/* Every refused discussion: its status, OpenAI's error shape, the parameter named. */
static void test_discussion_errors(void **state) {
    (void)state;
    static const struct {
        const char *path, *body;
        int status;
        const char *param, *code, *says;
    } cases[] = {
        {"/v1/completions", "{\"model\": \"idea3:a+zz\", \"prompt\": \"q\"}", 404, "model", "model_not_found", "no model 'zz'"},
        {"/v1/completions", "{\"model\": \"vote:a+b\", \"prompt\": \"q\"}", 404, "model", "model_not_found", "idea3:A+B"},
        {"/v1/completions", "{\"model\": \"idea3:a\", \"prompt\": \"q\"}", 400, "model", NULL, "two agents or more"},
        {"/v1/completions", "{\"model\": \"debate:a+b+a\", \"prompt\": \"q\"}", 400, "model", NULL, "'a' twice"},
        {"/v1/completions", "{\"model\": \"idea3:a+\", \"prompt\": \"q\"}", 400, "model", NULL, "non-empty"},
        {"/v1/completions", "{\"model\": \"idea3:a+b\", \"prompt\": \"q\", \"stream\": true}", 400, "stream", NULL, "greedily"},
        {"/v1/completions", "{\"model\": \"idea3:a+b\", \"prompt\": \"q\", \"n\": 2}", 400, "n", NULL, "greedily"},
        {"/v1/completions", "{\"model\": \"idea3:a+b\", \"prompt\": \"q\", \"temperature\": 0.7}", 400, "temperature", NULL, "or 0"},
        {"/v1/completions", "{\"model\": \"idea3:a+b\", \"prompt\": \"q\", \"logprobs\": 1}", 400, "logprobs", NULL, "greedily"},
        {"/v1/completions", "{\"model\": \"idea3:a+b\", \"prompt\": \"q\", \"stop\": \"x\"}", 400, "stop", NULL, "greedily"},
        {"/v1/completions", "{\"model\": \"idea3:a+b\", \"prompt\": \"q\", \"discussion\": 3}", 400, "discussion", NULL, "object"},
        {"/v1/completions", "{\"model\": \"idea3:a+b\", \"prompt\": \"q\", \"discussion\": {\"mode\": \"war\"}}", 400, "mode", NULL, "coop"},
        {"/v1/completions", "{\"model\": \"debate:a+b\", \"prompt\": \"q\", \"discussion\": {\"rounds\": 0}}", 400, "rounds", NULL, "1 to 16"},
        {"/v1/chat/completions", "{\"model\": \"idea3:a+b\", \"messages\": [{\"role\": \"system\", \"content\": \"s\"}]}", 400,
         "messages", NULL, "user message"},
        {"/v1/completions", "{\"model\": \"idea3:a+b\", \"prompt\": \"q\", \"max_tokens\": 500}", 400, "max_tokens",
         "context_length_exceeded", "context"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        json_t *r = serve_post(fx.port, cases[i].path, cases[i].body, cases[i].status);
        json_t *e = json_object_get(r, "error");
        const char *message = json_string_value(json_object_get(e, "message"));
        assert_non_null(message);
        if (!strstr(message, cases[i].says)) print_error("case %zu: '%s' does not say '%s'\n", i, message, cases[i].says);
        assert_non_null(strstr(message, cases[i].says));
        assert_string_equal(json_string_value(json_object_get(e, "type")), "invalid_request_error");
        assert_string_equal(json_string_value(json_object_get(e, "param")), cases[i].param);
        const char *code = json_string_value(json_object_get(e, "code"));
        if (cases[i].code) assert_non_null(code), assert_string_equal(code, cases[i].code);
        else assert_null(code);
        json_decref(r);
    }
    print_message("%zu refused discussions answered with their status, error and parameter\n", sizeof cases / sizeof *cases);
}

typedef struct {
    const char *path;
    char body[1024];
    int port, status;
    json_t *resp;
} request;

static void *send_request(void *arg) {
    request *r = arg;
    char *text = serve_http(r->port, "POST", r->path, r->body, &r->status);
    const char *json = strstr(text, "\r\n\r\n");
    r->resp = json ? json_loads(json + 4, 0, NULL) : NULL;
    free(text);
    return NULL;
}

/* What a response says, without its id and time: choices, usage and the discussion. */
static json_t *answer_of(json_t *resp) {
    return json_pack("{s:O, s:O, s:O*}", "choices", json_object_get(resp, "choices"), "usage", json_object_get(resp, "usage"),
                     "discussion", json_object_get(resp, "discussion"));
}

/* A discussion of a and b while ordinary requests (greedy and sampled, n 2) run on a and b: everyone gets the
 * answer it gets alone, twice over. */
static void test_discussion_concurrent_equals_alone(void **state) {
    (void)state;
    enum { R = 4 };
    request reqs[R] = {{.path = "/v1/chat/completions"}, {.path = "/v1/completions"}, {.path = "/v1/completions"},
                       {.path = "/v1/chat/completions"}};
    snprintf(reqs[0].body, sizeof reqs[0].body, "%s", discussion_body("idea3:a+b", 1, "What is 2 + 3?", ""));
    snprintf(reqs[1].body, sizeof reqs[1].body, "{\"model\": \"a\", \"prompt\": \"Once upon\", \"max_tokens\": 40, \"temperature\": 0}");
    snprintf(reqs[2].body, sizeof reqs[2].body, "{\"model\": \"b\", \"prompt\": \"Twice\", \"max_tokens\": 30, \"n\": 2, "
             "\"temperature\": 0.9, \"seed\": 5}");
    snprintf(reqs[3].body, sizeof reqs[3].body, "{\"model\": \"b\", \"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}], "
             "\"max_tokens\": 25, \"temperature\": 0}");
    json_t *alone[R];
    for (int i = 0; i < R; i++) {
        reqs[i].port = fx.port;
        send_request(&reqs[i]);
        assert_int_equal(reqs[i].status, 200);
        alone[i] = answer_of(reqs[i].resp);
        json_decref(reqs[i].resp);
    }
    for (int round = 0; round < 2; round++) {
        pthread_t t[R];
        for (int i = 0; i < R; i++) pthread_create(&t[i], NULL, send_request, &reqs[i]);
        for (int i = 0; i < R; i++) pthread_join(t[i], NULL);
        for (int i = 0; i < R; i++) {
            assert_int_equal(reqs[i].status, 200);
            json_t *got = answer_of(reqs[i].resp);
            if (!json_equal(got, alone[i])) print_error("request %d differs when run with the others\n", i);
            assert_true(json_equal(got, alone[i]));
            json_decref(got);
            json_decref(reqs[i].resp);
        }
    }
    for (int i = 0; i < R; i++) json_decref(alone[i]);
    print_message("a discussion and %d ordinary requests at once, twice: each answer equals its answer alone\n", R - 1);
}

/* With --max-queue 1, a discussion in flight fills the queue: an ordinary request gets 503, and a discussion
 * that comes while another request runs gets 503 too. */
static void test_discussion_counts_against_queue(void **state) {
    (void)state;
    ilr_serve_model_spec spec[2] = {{"a", fx.model[0]}, {"b", fx.model[1]}};
    ilr_serve_options opt = {.port = 0, .slots = 4, .context = CONTEXT, .max_queue = 1};
    ilr_server *server;
    assert_int_equal(ilr_serve_start(&server, spec, 2, &opt), 0);
    request disc = {.path = "/v1/completions", .port = ilr_serve_port(server)};
    snprintf(disc.body, sizeof disc.body, "{\"model\": \"debate:a+b\", \"prompt\": \"q\", \"max_tokens\": 60, \"discussion\": "
             "{\"rounds\": 4, \"max_peer_tokens\": 60}}");
    int refused = 0, refused_discussion = 0;
    for (int attempt = 0; attempt < 5 && !(refused && refused_discussion); attempt++) {
        pthread_t t;
        pthread_create(&t, NULL, send_request, &disc);
        usleep(30000);
        refused |= serve_completion_refused(disc.port, "{\"model\": \"a\", \"prompt\": \"b\", \"max_tokens\": 1}");
        refused_discussion |= serve_completion_refused(disc.port, "{\"model\": \"idea3:a+b\", \"prompt\": \"b\", \"max_tokens\": 1}");
        pthread_join(t, NULL);
        assert_int_equal(disc.status, 200);
        json_decref(disc.resp);
    }
    assert_true(refused && refused_discussion);
    json_decref(serve_post(disc.port, "/v1/completions", "{\"model\": \"idea3:a+b\", \"prompt\": \"b\", \"max_tokens\": 1}", 200));
    ilr_serve_stop(server);
    print_message("max_queue 1: a request and a discussion beside a running discussion got 503; afterwards 200\n");
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_discussion_equals_interact), cmocka_unit_test(test_discussion_errors),
    cmocka_unit_test(test_discussion_concurrent_equals_alone), cmocka_unit_test(test_discussion_counts_against_queue),
};

ILR_TEST_GROUP_SETUP(serve_discussion, tests, setup, teardown)
