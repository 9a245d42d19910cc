/* The discussion models of `ilr serve`: "idea3:A+B" and "debate:A+B" (up to ILR_DISCUSS_MAX_AGENTS agents,
 * each a served model) on /v1/chat/completions and /v1/completions run the inference-time protocol of
 * `ilr interact` (ilr/discuss.h) on the request's question and answer with each agent's final message (choice i
 * is agent i) and the whole transcript in an extra top-level field, "discussion".
 *
 * Who owns the generators.  Each model's generator belongs to its scheduler thread alone (scheduler.c), and a
 * discussion must not touch it.  ilr_discuss_one runs in the connection's thread and asks for every agent's
 * answers through a hook (ilr_discuss_agent.generate) that hands each prompt to that agent's scheduler as a job
 * of one sequence, like an ordinary request's, and waits for them.  So no generator is shared or locked, no
 * discussion needs a KV cache of its own, and a discussion's generations join the running batch with the other
 * requests (continuous batching) instead of stopping them.  Greedy decoding, and a row's forward that does not
 * depend on the rest of the batch, make every message the one ilr_generate gives for it: the transcript is
 * `ilr interact`'s.  A discussion counts as one request against --max-queue while it runs.
 *
 * The question: chat, the last user message (the Sharing prompt is the request's messages through each
 * agent's chat template; later prompts are one user turn); completions, the prompt (plain prompts throughout).
 * Decoding is greedy as in ilr interact: temperature above 0, n > 1, stream, logprobs and stop are refused. */
#include <stdlib.h>
#include <string.h>

#include "ilr/discuss.h"
#include "ilr/error.h"
#include "ilr/log.h"
#include "ilr/template.h"
#include "serve_internal.h"

typedef struct {
    ilr_protocol protocol;
    int m;
    served_model *agent[ILR_DISCUSS_MAX_AGENTS];
} discussion;

/* The hook's state for one agent: its model, and what its generations cost. */
typedef struct {
    ilr_server *s;
    served_model *m;
    ilr_serve_kind kind;
    long prompt_tokens, completion_tokens;
    ilr_stop_reason last; /* of its latest message (its final one once the discussion is over) */
} agent_door;

static int protocol_of(const char *model, ilr_protocol *p, const char **names) {
    if (!strncmp(model, "idea3:", 6)) return *p = ILR_PROTOCOL_IDEA3, *names = model + 6, 1;
    if (!strncmp(model, "debate:", 7)) return *p = ILR_PROTOCOL_DEBATE, *names = model + 7, 1;
    return 0;
}

int ilr_serve_is_discussion(const char *model) {
    ilr_protocol p;
    const char *names;
    return protocol_of(model, &p, &names) || strchr(model, '+') != NULL;
}

/* "PROTOCOL:A+B[+C...]" -> d, or an error to answer (status, param, code in *code, message). */
static unsigned parse_model(ilr_server *s, const char *model, discussion *d, const char **code, char *message, size_t cap) {
    const char *names;
    *code = NULL;
    if (!protocol_of(model, &d->protocol, &names)) {
        snprintf(message, cap, "the model '%.200s' does not exist; a discussion is named idea3:A+B or debate:A+B (A, B: "
                 "models of GET /v1/models)", model);
        return *code = "model_not_found", 404;
    }
    d->m = 0;
    for (const char *at = names;;) {
        const char *end = strchr(at, '+');
        size_t len = end ? (size_t)(end - at) : strlen(at);
        char name[256];
        if (len == 0 || len >= sizeof name) {
            snprintf(message, cap, "'%.200s': agent names between '+' must be non-empty (idea3:A+B)", model);
            return 400;
        }
        memcpy(name, at, len), name[len] = 0;
        served_model *a = ilr_serve_find_model(s, name);
        if (!a) {
            snprintf(message, cap, "'%.200s': there is no model '%.200s' (GET /v1/models lists them)", model, name);
            return *code = "model_not_found", 404;
        }
        for (int i = 0; i < d->m; i++)
            if (d->agent[i] == a) {
                snprintf(message, cap, "'%.200s' names the agent '%.200s' twice: each agent of a discussion is another model",
                         model, name);
                return 400;
            }
        if (d->m == ILR_DISCUSS_MAX_AGENTS) {
            snprintf(message, cap, "'%.200s': a discussion has at most %d agents", model, ILR_DISCUSS_MAX_AGENTS);
            return 400;
        }
        d->agent[d->m++] = a;
        if (!end) break;
        at = end + 1;
    }
    if (d->m < 2) {
        snprintf(message, cap, "'%.200s': a discussion needs two agents or more (idea3:A+B)", model);
        return 400;
    }
    return 0;
}

/* What a discussion cannot do, as the parameter to name (NULL: nothing). */
static const char *refused(const ilr_serve_request *r, char *message, size_t cap) {
    const char *why = r->stream ? "stream" : r->n > 1 ? "n" : r->has_temperature && r->temperature > 0 ? "temperature"
                      : r->logprobs ? "logprobs" : r->num_stop ? "stop" : NULL;
    if (why)
        snprintf(message, cap, "a discussion model answers greedily in one piece, as ilr interact does: '%s' must be left out%s",
                 why, !strcmp(why, "temperature") ? " or 0" : !strcmp(why, "n") ? " or 1" : "");
    return why;
}

/* The question the later stages quote: the last user message, or the prompt. */
static const char *question_of(const ilr_serve_request *r) {
    if (r->kind == ILR_SERVE_COMPLETIONS) return r->prompt;
    for (int i = r->num_messages - 1; i >= 0; i--)
        if (!strcmp(r->messages[i].role, "user")) return r->messages[i].content;
    return NULL;
}

/* ilr_discuss_agent.generate: the n prompts as n jobs of the agent's scheduler; waits for all of them. */
static int through_scheduler(void *ctx, const int *const *prompts, const int *lens, int n, const ilr_gen_options *opt,
                             ilr_gen_output *out) {
    agent_door *d = ctx;
    job **jobs = calloc((size_t)n, sizeof *jobs);
    int rc = jobs ? 0 : ILR_FAIL(ILR_ENOMEM, "out of memory");
    for (int k = 0; !rc && k < n; k++) {
        job *j = jobs[k] = calloc(1, sizeof *j);
        if (!j || !(j->prompt = malloc(sizeof(int) * (size_t)lens[k])) || !(j->out = calloc(1, sizeof *j->out))) {
            rc = ILR_FAIL(ILR_ENOMEM, "out of memory");
            break;
        }
        j->req = &j->req_store, j->req_store.kind = d->kind, j->req_store.n = 1, j->s = d->s, j->m = d->m;
        memcpy(j->prompt, prompts[k], sizeof(int) * (size_t)lens[k]);
        j->prompt_len = lens[k];
        ilr_gen_options o = *opt;
        o.stream_offset = opt->stream_offset + (uint64_t)k; /* prompt k draws as ilr_generate's k-th sequence */
        rc = ilr_serve_job_submit(j, &o);
    }
    for (int k = 0; jobs && k < n; k++) {
        job *j = jobs[k];
        if (j && j->submitted) {
            int failed = ilr_serve_job_wait(j);
            if (!rc) rc = failed;
            if (!failed) {
                out[k] = j->out[0], memset(&j->out[0], 0, sizeof j->out[0]);
                d->prompt_tokens += lens[k], d->completion_tokens += out[k].count, d->last = out[k].reason;
            }
        }
        ilr_serve_job_free(j);
    }
    free(jobs);
    return rc;
}

static const char *stage_name(int stage) { return stage == ILR_DISCUSS_DEBATE ? "debate" : ilr_idea3_stage_name(stage); }

static json_t *transcript_json(const discussion *d, const ilr_discuss_transcript *t) {
    json_t *a = json_array();
    for (int k = 0; k < t->count; k++) {
        const ilr_discuss_message *msg = &t->messages[k];
        json_t *e = json_pack("{s:s, s:s, s:s}", "agent", d->agent[msg->agent]->name, "stage", stage_name(msg->stage),
                              "content", msg->text);
        if (e && msg->stage == ILR_STAGE_ANALYSE) json_object_set_new(e, "about", json_string(d->agent[msg->about]->name));
        if (e && msg->stage == ILR_DISCUSS_DEBATE) json_object_set_new(e, "round", json_integer(msg->about));
        json_array_append_new(a, e ? e : json_null());
    }
    return a;
}

static json_t *response(const discussion *d, const ilr_serve_request *r, const char *id, const ilr_discuss_transcript *t,
                        const agent_door *doors) {
    int chat = r->kind == ILR_SERVE_CHAT;
    long prompt = 0, completion = 0;
    json_t *choices = json_array(), *agents = json_array();
    for (int i = 0; i < d->m; i++) {
        const char *name = d->agent[i]->name, *text = t->messages[t->final[i]].text;
        const char *finish = doors[i].last == ILR_STOP_LENGTH ? "length" : "stop";
        json_t *c = chat ? json_pack("{s:i, s:{s:s, s:s, s:s}, s:n, s:s, s:s}", "index", i, "message", "role", "assistant",
                                     "content", text, "name", name, "logprobs", "finish_reason", finish, "agent", name)
                         : json_pack("{s:i, s:s, s:n, s:s, s:s}", "index", i, "text", text, "logprobs", "finish_reason", finish,
                                     "agent", name);
        json_array_append_new(choices, c ? c : json_null());
        json_array_append_new(agents, json_string(name));
        prompt += doors[i].prompt_tokens, completion += doors[i].completion_tokens;
    }
    json_t *disc = json_pack("{s:s, s:o, s:o}", "protocol", ilr_protocol_name(d->protocol), "agents", agents, "transcript",
                             transcript_json(d, t));
    if (disc && d->protocol == ILR_PROTOCOL_IDEA3) json_object_set_new(disc, "mode", json_string(r->compete ? "comp" : "coop"));
    if (disc && d->protocol == ILR_PROTOCOL_DEBATE) json_object_set_new(disc, "rounds", json_integer(r->rounds));
    return json_pack("{s:s, s:s, s:I, s:s, s:o, s:{s:I, s:I, s:I}, s:o}", "id", id, "object",
                     chat ? "chat.completion" : "text_completion", "created", (json_int_t)time(NULL), "model", r->model,
                     "choices", choices, "usage", "prompt_tokens", (json_int_t)prompt, "completion_tokens",
                     (json_int_t)completion, "total_tokens", (json_int_t)(prompt + completion), "discussion", disc);
}

/* An error run() answers with. */
typedef struct {
    unsigned status;
    const char *param, *code;
} run_error;

/* Runs the admitted discussion d on r: 0 with the transcript in *t, or the error to send in *e. */
static int run(ilr_server *s, const discussion *d, const ilr_serve_request *r, const char *question, agent_door *doors,
               ilr_discuss_transcript *t, run_error *e) {
    int *ids[ILR_DISCUSS_MAX_AGENTS] = {0}, lens[ILR_DISCUSS_MAX_AGENTS], rc = 0, context = 1 << 30;
    ilr_discuss_agent da[ILR_DISCUSS_MAX_AGENTS];
    *e = (run_error){400, "messages", NULL}; /* a question an agent cannot encode */
    for (int i = 0; !rc && i < d->m; i++) {
        served_model *m = d->agent[i];
        doors[i] = (agent_door){.s = s, .m = m, .kind = r->kind};
        da[i] = (ilr_discuss_agent){.name = m->name, .tok = m->tok, .chat = r->kind == ILR_SERVE_CHAT ? m->tmpl : NULL,
                                    .generate = through_scheduler, .generate_ctx = &doors[i], .max_len = m->context};
        if (m->context < context) context = m->context;
        if ((rc = ilr_serve_encode(m, r, &ids[i], &lens[i]))) ilr_error_prefix("agent '%s'", m->name);
    }
    int max_new = r->max_tokens ? r->max_tokens : 256;
    if (!r->max_tokens && max_new > context / 2) max_new = context / 2; /* leave room for the peers' texts */
    ilr_discuss_options o = {d->protocol, r->rounds, NULL, max_new, r->max_peer_tokens, 1};
    if (!rc) {
        rc = ilr_discuss_one(da, d->m, question, (const int *const *)ids, lens, r->compete ? ILR_COMPETE : ILR_COOPERATE,
                             &s->idea3, s->debate, &o, t);
        /* the agents and options were checked before: an invalid argument now is a prompt over an agent's context */
        if (rc == ILR_EINVAL) *e = (run_error){400, "max_tokens", "context_length_exceeded"};
        else if (rc) *e = (run_error){500, NULL, NULL};
    }
    for (int i = 0; i < d->m; i++) free(ids[i]);
    return rc;
}

enum MHD_Result ilr_serve_answer_discussion(ilr_server *s, struct MHD_Connection *c, const ilr_serve_request *r,
                                            int *admitted) {
    discussion d;
    char message[1024], id[48];
    const char *code, *param;
    unsigned status = parse_model(s, r->model, &d, &code, message, sizeof message);
    if (status) return ilr_serve_send_error(c, status, message, "model", code);
    if ((param = refused(r, message, sizeof message))) return ilr_serve_send_error(c, 400, message, param, NULL);
    const char *question = question_of(r);
    if (!question) return ilr_serve_send_error(c, 400, "a discussion needs a user message: its question", "messages", NULL);
    if (!s->discuss_loaded)
        return ilr_serve_send_error(c, 500, "this server could not load the discussion prompts (ilr serve --discuss-prompts)",
                                    NULL, NULL);
    if (!(*admitted = ilr_serve_admit(s, r->kind, id))) return ilr_serve_send_busy(c, s);
    agent_door doors[ILR_DISCUSS_MAX_AGENTS];
    ilr_discuss_transcript t;
    run_error e;
    if (run(s, &d, r, question, doors, &t, &e)) {
        snprintf(message, sizeof message, "%s%s", e.status >= 500 ? "the discussion failed: " : "", ilr_last_error());
        return ilr_serve_send_error(c, e.status, message, e.param, e.code);
    }
    json_t *answer = response(&d, r, id, &t, doors);
    ilr_discuss_transcript_free(&t);
    return ilr_serve_send_json(c, 200, answer);
}

int ilr_serve_discussion_init(ilr_server *s) {
    const char *task = s->opt.discuss_task ? s->opt.discuss_task : "math";
    if (strcmp(task, "math") && strcmp(task, "code") && strcmp(task, "world-arith"))
        return ILR_FAIL(ILR_EINVAL, "serve: the discussion task is math, code or world-arith, not '%s'", task);
    const char *dir = s->opt.discuss_prompts ? s->opt.discuss_prompts : ilr_idea3_default_dir(task);
    char path[1200];
    snprintf(path, sizeof path, "%s/debate.txt", dir);
    int rc = ilr_idea3_prompts_load(&s->idea3, dir, !strcmp(task, "world-arith"));
    if (!rc && (rc = ilr_template_load(path, &s->debate))) ilr_idea3_prompts_free(&s->idea3);
    if (!rc) return s->discuss_loaded = 1, 0;
    if (s->opt.discuss_prompts) return rc; /* asked for by name: a failure */
    ILR_LOG_W("serve: no discussion models (idea3:A+B, debate:A+B): %s", ilr_last_error());
    ilr_error_clear();
    return 0;
}

void ilr_serve_discussion_free(ilr_server *s) {
    if (s->discuss_loaded) ilr_idea3_prompts_free(&s->idea3);
    free(s->debate);
    s->debate = NULL, s->discuss_loaded = 0;
}
