/* `ilr serve`: models behind an OpenAI-compatible HTTP API (libmicrohttpd).
 *
 * Two halves: the request parser (src/serve/request.c), which turns the body of a POST /v1/completions or
 * /v1/chat/completions into an ilr_serve_request or an OpenAI-shaped error (status, type, param), and knows
 * nothing of HTTP; and the server (src/serve/server.c), which owns the models and answers GET /health,
 * GET /v1/models and the two POST endpoints, streaming as server-sent events when asked.
 *
 * Each model has one generator, owned by a scheduler thread that decodes the requests in flight together
 * (continuous batching: a request joins the running batch when it has slots for its n sequences, and leaves it
 * when they stop); requests beyond max_queue waiting or running get 503 at once. */
#ifndef ILR_SERVE_H
#define ILR_SERVE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "ilr/chat.h"

typedef enum { ILR_SERVE_COMPLETIONS, ILR_SERVE_CHAT } ilr_serve_kind;

#define ILR_SERVE_MAX_STOP 4 /* OpenAI's limit on "stop" strings */
#define ILR_SERVE_MAX_N 128  /* the largest "n" */

typedef struct {
    ilr_serve_kind kind;
    json_t *root;               /* the parsed body: owns every string below */
    const char *model;
    const char *prompt;         /* completions */
    size_t prompt_len;
    ilr_chat_message *messages; /* chat (malloc'ed array; strings in root) */
    int num_messages;
    double temperature;         /* default 1 */
    double top_p;               /* default 1 */
    int max_tokens;             /* 0: not given */
    int n;                      /* default 1 */
    int has_seed;
    uint64_t seed;
    int logprobs;               /* completions: 0..5 (the chosen token's log-probability when > 0); chat: 0/1 */
    int stream;
    int include_usage;          /* stream_options.include_usage: a last event with the usage */
    const char *stop[ILR_SERVE_MAX_STOP];
    int num_stop;
    int has_temperature;        /* "temperature" was given (a discussion model refuses one above 0) */
    /* "discussion": {"rounds", "mode", "max_peer_tokens"}, the options of a discussion model (idea3:A+B) */
    int rounds;                 /* debate: rounds after the first answers, 1..16 (default 2) */
    int compete;                /* idea3: "mode" "coop" (0, the default) or "comp" (1) */
    int max_peer_tokens;        /* a peer's text longer than this keeps its last tokens, >= 1 (default 512) */
} ilr_serve_request;

/* Parses a request body of `kind`.  On failure returns ILR_EINVAL (or ILR_ENOMEM) with a message for the client
 * in ilr_last_error() and *param naming the offending field (NULL when it is the body as a whole); r is then
 * empty.  Values are checked against OpenAI's ranges: temperature [0, 2], top_p (0, 1], max_tokens >= 1,
 * n [1, 128], logprobs [0, 5], stop: a string or up to 4 non-empty strings; discussion: an object. */
int ilr_serve_request_parse(ilr_serve_request *r, ilr_serve_kind kind, const char *body, size_t len,
                            const char **param);
void ilr_serve_request_free(ilr_serve_request *r);

/* The error body OpenAI clients read: {"error": {"message", "type", "param", "code"}}, malloc'ed text. */
char *ilr_serve_error_json(const char *message, const char *type, const char *param, const char *code);

/* ---- the server ---- */

typedef struct {
    const char *name; /* what clients put in "model" */
    const char *dir;  /* a model directory with tokenizer.json (tokenizer_config.json's chat template for chat) */
} ilr_serve_model_spec;

typedef struct {
    const char *host;     /* default 127.0.0.1 */
    int port;             /* 0: an ephemeral port (ilr_serve_port says which) */
    int max_queue;        /* requests waiting or running at once; more get 503 (default 64) */
    size_t max_body;      /* request body limit in bytes; larger get 413 (default 1 MiB) */
    int timeout_s;        /* a connection idle this long is closed (slow clients; default 15) */
    int max_connections;  /* default 256 */
    int context;          /* tokens per sequence (prompt + completion); 0: the model's, at most 4096 */
    int slots;            /* sequences a model decodes together = the largest n (default 8) */
    const char *discuss_task;    /* the discussion models' task family: math (default), code or world-arith */
    const char *discuss_prompts; /* their templates (Idea3's and debate.txt); NULL: the family's (ilr_idea3_default_dir) */
} ilr_serve_options;

typedef struct ilr_server ilr_server;

/* Loads the models and starts listening (threads of its own); returns at once. */
int ilr_serve_start(ilr_server **out, const ilr_serve_model_spec *models, int num_models, const ilr_serve_options *opt);
int ilr_serve_port(const ilr_server *s);
/* Stops accepting connections, lets the requests in flight finish, frees everything. */
void ilr_serve_stop(ilr_server *s);

#endif
