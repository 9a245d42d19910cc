/* The HTTP side of `ilr serve` (ilr/serve.h): libmicrohttpd with a thread per connection, the models it
 * serves, and the OpenAI response shapes.  A request's life: its body is gathered (413 past max_body), parsed
 * (src/serve/request.c; 400), its model found (404), admitted against max_queue (503), its prompt encoded and
 * checked against the context (400), then handed to its model's scheduler thread (src/serve/scheduler.c), which
 * batches it with the other requests in flight (continuous batching), and answered as one JSON object or, with
 * "stream": true, as server-sent events.  A discussion model (idea3:A+B) goes to src/serve/discussion.c. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ilr/error.h"
#include "ilr/generate.h"
#include "ilr/log.h"
#include "serve_internal.h"

typedef struct {
    char *body;
    size_t len, cap;
    size_t discarded; /* body bytes read past max_body (read to the end, so that the 413 reaches the client) */
    int too_large, admitted;
} connection_state;

/* ---- responses ---- */

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned status, char *text, const char *type) {
    if (!text) return MHD_NO;
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (!r) return free(text), MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    if (!strcmp(type, "text/event-stream")) MHD_add_response_header(r, "Cache-Control", "no-cache");
    enum MHD_Result ok = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ok;
}

enum MHD_Result ilr_serve_send_json(struct MHD_Connection *c, unsigned status, json_t *j) {
    char *text = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(7)) : NULL;
    json_decref(j);
    return send_text(c, status, text, "application/json");
}

enum MHD_Result ilr_serve_send_error(struct MHD_Connection *c, unsigned status, const char *message, const char *param,
                                     const char *code) {
    const char *type = status == 404 && code && !strcmp(code, "model_not_found") ? "invalid_request_error"
                       : status >= 500                                          ? "server_error"
                                                                                : "invalid_request_error";
    return send_text(c, status, ilr_serve_error_json(message, type, param, code), "application/json");
}

/* ---- one generation request ---- */

served_model *ilr_serve_find_model(ilr_server *s, const char *name) {
    for (int i = 0; i < s->num_models; i++)
        if (!strcmp(s->models[i].name, name)) return &s->models[i];
    return NULL;
}

int ilr_serve_encode(const served_model *m, const ilr_serve_request *req, int **out, int *count) {
    ilr_tok_ids ids = {0};
    int rc;
    if (req->kind == ILR_SERVE_CHAT) {
        if (!m->tmpl) return ILR_FAIL(ILR_EUNSUPPORTED, "model '%s' has no chat template: use /v1/completions", m->name);
        char *text;
        size_t len;
        rc = ilr_chat_render(m->tmpl, req->messages, req->num_messages, ILR_CHAT_GENERATION, &text, &len);
        if (!rc) rc = ilr_tok_encode(m->tok, text, len, ILR_TOK_SPECIAL, &ids), free(text);
    } else {
        rc = ilr_tok_encode(m->tok, req->prompt, req->prompt_len, ILR_TOK_SPECIAL | ILR_TOK_ADD_SPECIAL, &ids);
    }
    if (!rc && ids.count == 0) rc = ILR_FAIL(ILR_EINVAL, "the prompt is empty");
    if (rc) return ilr_tok_ids_free(&ids), rc;
    *out = ids.ids, *count = ids.count;
    return 0;
}


static const char *finish_reason(const ilr_gen_output *o) { return o->reason == ILR_STOP_LENGTH ? "length" : "stop"; }

static json_t *token_text(const served_model *m, int id) {
    char *t = NULL;
    size_t n = 0;
    json_t *s = ilr_tok_decode(m->tok, &id, 1, ILR_TOK_NO_CLEANUP, &t, &n) ? NULL : json_stringn(t, n);
    free(t);
    return s ? s : json_string("");
}

static json_t *choice_logprobs(const job *j, const ilr_gen_output *o) {
    if (!j->req->logprobs) return json_null();
    json_t *tokens = json_array(), *lps = json_array(), *content = json_array();
    for (int i = 0; i < o->count; i++) {
        json_t *t = token_text(j->m, o->ids[i]);
        json_array_append_new(content, json_pack("{s:O, s:f, s:[]}", "token", t, "logprob", (double)o->logprobs[i],
                                                 "top_logprobs"));
        json_array_append_new(tokens, t);
        json_array_append_new(lps, json_real(o->logprobs[i]));
    }
    if (j->req->kind == ILR_SERVE_CHAT) return json_decref(tokens), json_decref(lps), json_pack("{s:o}", "content", content);
    json_decref(content);
    return json_pack("{s:o, s:o, s:n}", "tokens", tokens, "token_logprobs", lps, "top_logprobs");
}

static json_t *usage(const job *j) {
    int completion = 0;
    for (int i = 0; i < j->req->n; i++) completion += j->out[i].count;
    return json_pack("{s:i, s:i, s:i}", "prompt_tokens", j->prompt_len, "completion_tokens", completion, "total_tokens",
                     j->prompt_len + completion);
}

static json_t *text_value(const ilr_gen_output *o) {
    json_t *t = json_stringn(o->text ? o->text : "", o->text ? o->text_len : 0);
    return t ? t : json_string("");
}

static json_t *full_response(const job *j) {
    int chat = j->req->kind == ILR_SERVE_CHAT;
    json_t *choices = json_array();
    for (int i = 0; i < j->req->n; i++) {
        const ilr_gen_output *o = &j->out[i];
        json_t *c = chat ? json_pack("{s:i, s:{s:s, s:o}, s:o, s:s}", "index", i, "message", "role", "assistant", "content",
                                     text_value(o), "logprobs", choice_logprobs(j, o), "finish_reason", finish_reason(o))
                         : json_pack("{s:i, s:o, s:o, s:s}", "index", i, "text", text_value(o), "logprobs",
                                     choice_logprobs(j, o), "finish_reason", finish_reason(o));
        json_array_append_new(choices, c);
    }
    return json_pack("{s:s, s:s, s:I, s:s, s:o, s:o}", "id", j->id, "object", chat ? "chat.completion" : "text_completion",
                     "created", (json_int_t)j->created, "model", j->req->model, "choices", choices, "usage", usage(j));
}

/* Appends "data: <json>\n\n" to the event text. */
static int add_event(char **text, size_t *len, json_t *event) {
    char *data = event ? json_dumps(event, JSON_COMPACT | JSON_REAL_PRECISION(7)) : NULL;
    json_decref(event);
    if (!data) return ILR_FAIL(ILR_ENOMEM, "out of memory");
    size_t n = strlen(data);
    char *grown = realloc(*text, *len + n + 9);
    if (!grown) return free(data), ILR_FAIL(ILR_ENOMEM, "out of memory");
    *text = grown;
    *len += (size_t)sprintf(grown + *len, "data: %s\n\n", data);
    free(data);
    return 0;
}

static json_t *chunk(const job *j, int index, json_t *delta_or_text, const char *finish) {
    int chat = j->req->kind == ILR_SERVE_CHAT;
    json_t *choice = chat ? json_pack("{s:i, s:o, s:n, s:s?}", "index", index, "delta", delta_or_text, "logprobs",
                                      "finish_reason", finish)
                          : json_pack("{s:i, s:o, s:n, s:s?}", "index", index, "text", delta_or_text, "logprobs",
                                      "finish_reason", finish);
    if (choice && !finish) json_object_set_new(choice, "finish_reason", json_null());
    return json_pack("{s:s, s:s, s:I, s:s, s:[o]}", "id", j->id, "object", chat ? "chat.completion.chunk" : "text_completion",
                     "created", (json_int_t)j->created, "model", j->req->model, "choices", choice);
}

static int add_text_event(const job *j, int k, const char *text, size_t len) {
    struct stream_state *st = j->stream;
    json_t *t = json_stringn(text, len);
    if (!t) return 0;
    return add_event(&st->pending, &st->pending_len, chunk(j, k, j->req->kind == ILR_SERVE_CHAT ? json_pack("{s:o}", "content", t) : t, NULL));
}

/* How much of choice k's text may go out before the sequence stops: not the last (longest stop - 1) bytes, nor
 * anything from a stop string on (the final text is cut there), nor half a UTF-8 character. */
static size_t safe_length(const job *j, const stream_choice *c) {
    size_t hold = 0, safe;
    for (int i = 0; i < j->req->num_stop; i++)
        if (strlen(j->req->stop[i]) > hold + 1) hold = strlen(j->req->stop[i]) - 1;
    safe = c->len > hold ? c->len - hold : 0;
    for (int i = 0; i < j->req->num_stop; i++) {
        const char *at = c->acc ? memmem(c->acc, c->len, j->req->stop[i], strlen(j->req->stop[i])) : NULL;
        if (at && (size_t)(at - c->acc) < safe) safe = (size_t)(at - c->acc);
    }
    while (safe > c->sent && safe < c->len && ((unsigned char)c->acc[safe] & 0xC0) == 0x80) safe--;
    return safe;
}

/* Decodes choice k's tokens [seen, count) into its text (as the engine's sampling loop decodes them). */
static int decode_new(const job *j, stream_choice *c, const ilr_gen_output *o, int count) {
    char piece[1024];
    for (; c->seen < count; c->seen++) {
        int id = o->ids[c->seen];
        if (!ilr_tok_piece(j->m->tok, id)) continue;
        int n = ilr_tok_stream_push(j->m->tok, &c->ts, id, piece, sizeof piece);
        if (n < 0) return n;
        char *grown = realloc(c->acc, c->len + (size_t)n + 1);
        if (!grown) return ILR_FAIL(ILR_ENOMEM, "out of memory");
        c->acc = grown;
        memcpy(c->acc + c->len, piece, (size_t)n);
        c->len += (size_t)n;
    }
    return 0;
}

/* Waits for the scheduler's next step and turns what it drew into events: a text event per choice that has new
 * safe text, its finish event when it has stopped, and at the end the usage (if asked) and [DONE]. */
static int stream_advance(job *j) {
    struct stream_state *st = j->stream;
    int n = j->req->n, chat = j->req->kind == ILR_SERVE_CHAT, rc = 0, done, count[ILR_SERVE_MAX_N], stopped[ILR_SERVE_MAX_N];
    pthread_mutex_lock(&j->m->lock);
    for (;;) {
        int news = 0;
        done = j->done;
        for (int k = 0; k < n; k++) {
            count[k] = done ? j->out[k].count : j->published[k];
            stopped[k] = done || j->stopped[k];
            news |= count[k] > st->choice[k].seen || (stopped[k] && !st->choice[k].finished);
        }
        if (done || news || !st->started) break;
        pthread_cond_wait(&j->m->done, &j->m->lock);
    }
    pthread_mutex_unlock(&j->m->lock);
    if (!st->started && chat)
        for (int k = 0; k < n && !rc; k++)
            rc = add_event(&st->pending, &st->pending_len, chunk(j, k, json_pack("{s:s, s:s}", "role", "assistant", "content", ""), NULL));
    st->started = 1;
    if (done && j->rc) {
        rc = add_event(&st->pending, &st->pending_len, json_pack("{s:{s:s, s:s, s:n, s:n}}", "error", "message",
                                                                 "generation failed", "type", "server_error", "param", "code"));
        for (int k = 0; k < n; k++) st->choice[k].finished = 1;
    }
    for (int k = 0; k < n && !rc; k++) {
        stream_choice *c = &st->choice[k];
        const ilr_gen_output *o = &j->out[k];
        if (c->finished) continue;
        if (stopped[k]) { /* its text is final: the rest of it, then its finish */
            if (o->text_len > c->sent) rc = add_text_event(j, k, o->text + c->sent, o->text_len - c->sent);
            c->sent = o->text_len, c->finished = 1;
            if (!rc) rc = add_event(&st->pending, &st->pending_len, chunk(j, k, chat ? json_object() : json_string(""), finish_reason(o)));
            continue;
        }
        if ((rc = decode_new(j, c, o, count[k]))) break;
        size_t safe = safe_length(j, c);
        if (safe > c->sent) rc = add_text_event(j, k, c->acc + c->sent, safe - c->sent), c->sent = safe;
    }
    if (!rc && done) {
        json_t *last = j->req->include_usage && !j->rc ? chunk(j, 0, chat ? json_object() : json_string(""), NULL) : NULL;
        if (last) json_object_set_new(last, "choices", json_array()), json_object_set_new(last, "usage", usage(j));
        if (last) rc = add_event(&st->pending, &st->pending_len, last);
        char *grown = rc ? NULL : realloc(st->pending, st->pending_len + 15);
        if (!grown) return ILR_FAIL(ILR_ENOMEM, "out of memory");
        memcpy(grown + st->pending_len, "data: [DONE]\n\n", 15);
        st->pending = grown, st->pending_len += 14, st->ended = 1;
    }
    return rc;
}

/* libmicrohttpd's reader of a streamed answer (the connection's thread: it may wait). */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    job *j = cls;
    struct stream_state *st = j->stream;
    while (st->pending_pos == st->pending_len) {
        if (st->ended) return MHD_CONTENT_READER_END_OF_STREAM;
        st->pending_len = st->pending_pos = 0;
        if (stream_advance(j)) return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    size_t n = st->pending_len - st->pending_pos < max ? st->pending_len - st->pending_pos : max;
    memcpy(buf, st->pending + st->pending_pos, n);
    st->pending_pos += n;
    return (ssize_t)n;
}

/* The stream is over (sent, or the client went away): the job is freed once the scheduler is done with it. */
static void stream_free(void *cls) {
    job *j = cls;
    ilr_serve_job_wait(j);
    ilr_serve_job_free(j);
}

/* Answers j as server-sent events as its tokens are drawn; on success the response owns j. */
static enum MHD_Result start_stream(struct MHD_Connection *c, job *j, int *owned) {
    if (!(j->stream = calloc(1, sizeof *j->stream)) || !(j->stream->choice = calloc((size_t)j->req->n, sizeof *j->stream->choice)))
        return MHD_NO;
    for (int k = 0; k < j->req->n; k++) ilr_tok_stream_init(&j->stream->choice[k].ts);
    struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, stream_read, j, stream_free);
    if (!r) return MHD_NO;
    *owned = 1;
    MHD_add_response_header(r, "Content-Type", "text/event-stream");
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    enum MHD_Result ok = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return ok;
}

/* Encodes, checks the context, generates and answers an admitted request. */
static enum MHD_Result answer_job(struct MHD_Connection *c, job *j, int *owned) {
    if (ilr_serve_encode(j->m, j->req, &j->prompt, &j->prompt_len)) return ilr_serve_send_error(c, 400, ilr_last_error(), j->req->kind == ILR_SERVE_CHAT ? "messages" : "prompt", NULL);
    int room = j->m->context - j->prompt_len;
    char message[256];
    if (room < 1 || (j->req->max_tokens && j->req->max_tokens > room)) {
        snprintf(message, sizeof message,
                 "this model's context is %d tokens; the prompt has %d and max_tokens asks for %d more", j->m->context,
                 j->prompt_len, j->req->max_tokens ? j->req->max_tokens : 1);
        return ilr_serve_send_error(c, 400, message, j->req->max_tokens ? "max_tokens" : "prompt", "context_length_exceeded");
    }
    int max_new = j->req->max_tokens ? j->req->max_tokens : (room < 256 ? room : 256);
    ilr_gen_options opt = {.sampler = {(float)j->req->temperature, 0, (float)j->req->top_p, 0.0f},
                           .max_new_tokens = max_new,
                           .stop_strings = j->req->stop,
                           .num_stop_strings = j->req->num_stop,
                           .seed = j->req->has_seed ? j->req->seed : (uint64_t)time(NULL) ^ (uint64_t)j->created};
    j->out = calloc((size_t)j->req->n, sizeof *j->out);
    if (!j->out || ilr_serve_job_submit(j, &opt)) return ilr_serve_send_error(c, 500, "out of memory", NULL, NULL);
    if (j->req->stream) return start_stream(c, j, owned);
    if (ilr_serve_job_wait(j)) {
        snprintf(message, sizeof message, "generation failed: %s", ilr_last_error());
        return ilr_serve_send_error(c, 500, message, NULL, NULL);
    }
    return ilr_serve_send_json(c, 200, full_response(j));
}

int ilr_serve_admit(ilr_server *s, ilr_serve_kind kind, char id[48]) {
    pthread_mutex_lock(&s->lock);
    int admitted = s->in_flight < s->opt.max_queue;
    unsigned long long n = s->next_id++;
    s->in_flight += admitted;
    pthread_mutex_unlock(&s->lock);
    snprintf(id, 48, "%s-%llu", kind == ILR_SERVE_CHAT ? "chatcmpl" : "cmpl", n);
    return admitted;
}

enum MHD_Result ilr_serve_send_busy(struct MHD_Connection *c, const ilr_server *s) {
    char message[160];
    snprintf(message, sizeof message, "the server is busy: %d requests are queued or running; retry later", s->opt.max_queue);
    return ilr_serve_send_error(c, 503, message, NULL, "queue_full");
}

static enum MHD_Result answer_generation(ilr_server *s, struct MHD_Connection *c, connection_state *cs, ilr_serve_kind kind) {
    job *j = calloc(1, sizeof *j);
    const char *param;
    if (!j) return MHD_NO;
    j->req = &j->req_store, j->s = s, j->created = time(NULL);
    if (ilr_serve_request_parse(j->req, kind, cs->body ? cs->body : "", cs->len, &param)) {
        enum MHD_Result ok = ilr_serve_send_error(c, 400, ilr_last_error(), param, NULL);
        free(j);
        return ok;
    }
    enum MHD_Result ok;
    char message[256];
    int owned = 0; /* by a streamed response */
    if (!ilr_serve_find_model(s, j->req->model) && ilr_serve_is_discussion(j->req->model)) {
        ok = ilr_serve_answer_discussion(s, c, j->req, &cs->admitted);
    } else if (!(j->m = ilr_serve_find_model(s, j->req->model))) {
        snprintf(message, sizeof message, "the model '%.200s' does not exist (GET /v1/models lists them)", j->req->model);
        ok = ilr_serve_send_error(c, 404, message, "model", "model_not_found");
    } else if (j->req->n > s->opt.slots) {
        snprintf(message, sizeof message, "'n' must be at most %d on this server (--slots)", s->opt.slots);
        ok = ilr_serve_send_error(c, 400, message, "n", NULL);
    } else {
        ok = (cs->admitted = ilr_serve_admit(s, kind, j->id)) ? answer_job(c, j, &owned) : ilr_serve_send_busy(c, s);
    }
    if (!owned) {
        if (j->submitted) ilr_serve_job_wait(j); /* the answer failed: wait until the scheduler lets go of it */
        ilr_serve_job_free(j);
    }
    return ok;
}

static enum MHD_Result answer_models(ilr_server *s, struct MHD_Connection *c) {
    json_t *data = json_array();
    for (int i = 0; i < s->num_models; i++)
        json_array_append_new(data, json_pack("{s:s, s:s, s:I, s:s, s:i}", "id", s->models[i].name, "object", "model",
                                              "created", (json_int_t)s->created, "owned_by", "ilr", "context_length",
                                              s->models[i].context));
    return ilr_serve_send_json(c, 200, json_pack("{s:s, s:o}", "object", "list", "data", data));
}

/* ---- libmicrohttpd callbacks ---- */

/* -1 ends the connection: out of memory, or a body past 16 times the limit (not worth reading to answer) */
static int gather_body(ilr_server *s, connection_state *cs, const char *data, size_t n) {
    if (cs->too_large || cs->len + n > s->opt.max_body) {
        cs->too_large = 1;
        cs->discarded += n;
        return cs->discarded > 16 * s->opt.max_body ? -1 : 0;
    }
    if (cs->len + n + 1 > cs->cap) {
        size_t cap = (cs->len + n + 1) * 2;
        char *grown = realloc(cs->body, cap);
        if (!grown) return -1;
        cs->body = grown, cs->cap = cap;
    }
    memcpy(cs->body + cs->len, data, n);
    cs->body[cs->len += n] = 0;
    return 0;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *upload_data, size_t *upload_size, void **con_cls) {
    (void)version;
    ilr_server *s = cls;
    connection_state *cs = *con_cls;
    int post = !strcmp(method, "POST");
    if (!cs) {
        if (!(cs = calloc(1, sizeof *cs))) return MHD_NO;
        *con_cls = cs;
        const char *length = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (post && length && strtoull(length, NULL, 10) > s->opt.max_body) cs->too_large = 1;
        else return MHD_YES;
    }
    if (post && *upload_size) {
        if (gather_body(s, cs, upload_data, *upload_size)) return MHD_NO;
        *upload_size = 0;
        return MHD_YES;
    }
    char message[160];
    if (cs->too_large) {
        snprintf(message, sizeof message, "the request body is over this server's limit of %zu bytes", s->opt.max_body);
        return ilr_serve_send_error(c, 413, message, NULL, "request_too_large");
    }
    int chat = !strcmp(url, "/v1/chat/completions"), completions = !strcmp(url, "/v1/completions");
    int models = !strcmp(url, "/v1/models"), health = !strcmp(url, "/health");
    if ((chat || completions) && post) return answer_generation(s, c, cs, chat ? ILR_SERVE_CHAT : ILR_SERVE_COMPLETIONS);
    if (models && !strcmp(method, "GET")) return answer_models(s, c);
    if (health && !strcmp(method, "GET")) return ilr_serve_send_json(c, 200, json_pack("{s:s}", "status", "ok"));
    if (chat || completions || models || health) {
        snprintf(message, sizeof message, "%s is not allowed on %s", method, url);
        return ilr_serve_send_error(c, 405, message, NULL, "method_not_allowed");
    }
    snprintf(message, sizeof message, "no such endpoint: %.100s", url);
    return ilr_serve_send_error(c, 404, message, NULL, "not_found");
}

/* A request is over (answered, or its connection dropped): it leaves the queue. */
static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode why) {
    (void)c, (void)why;
    ilr_server *s = cls;
    connection_state *cs = *con_cls;
    if (!cs) return;
    if (cs->admitted) {
        pthread_mutex_lock(&s->lock);
        s->in_flight--;
        pthread_mutex_unlock(&s->lock);
    }
    free(cs->body);
    free(cs);
    *con_cls = NULL;
}

/* ---- start and stop ---- */

static int load_model(served_model *m, const ilr_serve_model_spec *spec, const ilr_serve_options *opt) {
    if (!(m->name = strdup(spec->name))) return ILR_FAIL(ILR_ENOMEM, "out of memory");
    int rc = ilr_model_load(&m->model, spec->dir);
    if (rc) return ilr_error_prefix("model '%s'", spec->name);
    m->gen.model = NULL;
    if ((rc = ilr_tok_load(&m->tok, spec->dir))) return ilr_error_prefix("model '%s' needs tokenizer.json", spec->name);
    if (ilr_chat_template_load(&m->tmpl, spec->dir)) {
        ILR_LOG_W("model '%s': no chat template (%s): /v1/chat/completions refuses it", spec->name, ilr_last_error());
        ilr_error_clear();
        m->tmpl = NULL;
    }
    int ctx = m->model.config.max_position_embeddings;
    m->context = opt->context ? opt->context : (ctx > 0 && ctx < 4096 ? ctx : 4096);
    if ((rc = ilr_gen_init(&m->gen, &m->model, opt->slots, m->context))) return ilr_error_prefix("model '%s'", spec->name);
    ilr_gen_hold_weights(&m->gen); /* a served model's weights never change */
    pthread_mutex_init(&m->lock, NULL);
    pthread_cond_init(&m->wake, NULL);
    pthread_cond_init(&m->done, NULL);
    if (pthread_create(&m->scheduler, NULL, ilr_serve_schedule, m)) return ILR_FAIL(ILR_ENOMEM, "model '%s': no thread", spec->name);
    m->scheduler_running = 1;
    return 0;
}

static void free_model(served_model *m) {
    if (m->scheduler_running) {
        pthread_mutex_lock(&m->lock);
        m->stopping = 1;
        pthread_cond_signal(&m->wake);
        pthread_mutex_unlock(&m->lock);
        pthread_join(m->scheduler, NULL);
        pthread_mutex_destroy(&m->lock), pthread_cond_destroy(&m->wake), pthread_cond_destroy(&m->done);
    }
    if (m->gen.model) ilr_gen_free(&m->gen);
    if (m->model.params) ilr_model_free(&m->model);
    ilr_chat_template_free(m->tmpl);
    ilr_tok_free(m->tok);
    free(m->name);
}

static void free_server(ilr_server *s) {
    for (int i = 0; i < s->num_models; i++) free_model(&s->models[i]);
    free(s->models);
    ilr_serve_discussion_free(s);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

int ilr_serve_start(ilr_server **out, const ilr_serve_model_spec *models, int num_models, const ilr_serve_options *opt) {
    *out = NULL;
    if (num_models < 1) return ILR_FAIL(ILR_EINVAL, "serve: no model given");
    ilr_server *s = calloc(1, sizeof *s);
    if (!s || !(s->models = calloc((size_t)num_models, sizeof *s->models))) return free(s), ILR_FAIL(ILR_ENOMEM, "out of memory");
    pthread_mutex_init(&s->lock, NULL);
    s->opt = *opt;
    if (!s->opt.host) s->opt.host = "127.0.0.1";
    if (s->opt.max_queue <= 0) s->opt.max_queue = 64;
    if (!s->opt.max_body) s->opt.max_body = 1 << 20;
    if (s->opt.timeout_s <= 0) s->opt.timeout_s = 15;
    if (s->opt.max_connections <= 0) s->opt.max_connections = 256;
    if (s->opt.slots <= 0) s->opt.slots = 8;
    s->created = time(NULL);
    int rc = 0;
    for (int i = 0; !rc && i < num_models; i++) {
        for (int k = 0; k < i; k++)
            if (!strcmp(models[k].name, models[i].name)) rc = ILR_FAIL(ILR_EINVAL, "serve: two models named '%s'", models[i].name);
        if (!rc) rc = load_model(&s->models[i], &models[i], &s->opt);
        s->num_models = i + 1;
    }
    if (!rc) rc = ilr_serve_discussion_init(s);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->opt.port)};
    if (!rc && inet_pton(AF_INET, s->opt.host, &addr.sin_addr) != 1)
        rc = ILR_FAIL(ILR_EINVAL, "serve: --host must be an IPv4 address such as 127.0.0.1, not '%s'", s->opt.host);
    if (!rc) {
        s->daemon = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC,
                                     0, NULL, NULL, handle, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                                     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)s->opt.timeout_s,
                                     MHD_OPTION_CONNECTION_LIMIT, (unsigned)s->opt.max_connections,
                                     MHD_OPTION_NOTIFY_COMPLETED, completed, s, MHD_OPTION_END);
        if (!s->daemon) rc = ILR_FAIL(ILR_EIO, "serve: cannot listen on %s:%d (in use, or not an address of this machine)",
                                      s->opt.host, s->opt.port);
    }
    if (rc) return free_server(s), rc;
    *out = s;
    return 0;
}

int ilr_serve_port(const ilr_server *s) {
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    return info ? info->port : -1;
}

void ilr_serve_stop(ilr_server *s) {
    if (!s) return;
    /* no new connections; the requests in flight run to their answer (at most a minute), then everything stops */
    int fd = MHD_quiesce_daemon(s->daemon);
    for (int waited = 0; waited < 6000; waited++) {
        pthread_mutex_lock(&s->lock);
        int busy = s->in_flight;
        pthread_mutex_unlock(&s->lock);
        if (!busy) break;
        usleep(10000);
    }
    MHD_stop_daemon(s->daemon);
    if (fd >= 0) close(fd);
    free_server(s);
}
