/* The parts of `ilr serve` (include/ilr/serve.h) and what they share: the HTTP side and the OpenAI response
 * shapes (server.c), the scheduler that owns each model's generator and batches the requests in flight
 * (scheduler.c), and the discussion models idea3:A+B / debate:A+B (discussion.c).  Not public. */
#ifndef ILR_SERVE_INTERNAL_H
#define ILR_SERVE_INTERNAL_H

#include <microhttpd.h>
#include <pthread.h>
#include <time.h>

#include "ilr/generate.h"
#include "ilr/idea3.h"
#include "ilr/serve.h"

typedef struct {
    char *name;
    ilr_model model;
    ilr_tokenizer *tok;
    ilr_chat_template *tmpl; /* NULL: chat requests get 400 */
    ilr_generator gen;
    int context;
    /* the scheduler thread owns the generator; connection threads hand it jobs through `pending` */
    pthread_t scheduler;
    int scheduler_running;
    pthread_mutex_t lock;   /* guards pending, stopping and every job's done */
    pthread_cond_t wake;    /* a job is pending, or stop */
    pthread_cond_t done;    /* a job is done */
    struct job *pending, *pending_tail;
    int stopping;
} served_model;

struct ilr_server {
    struct MHD_Daemon *daemon;
    served_model *models;
    int num_models;
    ilr_serve_options opt;
    pthread_mutex_t lock; /* guards in_flight and next_id */
    int in_flight;        /* admitted requests not yet answered */
    unsigned long long next_id;
    time_t created;
    /* the discussion models' prompts, read-only once started (loaded: 0 when they could not be) */
    ilr_idea3_prompts idea3;
    char *debate;
    int discuss_loaded;
};

/* ---- one generation request ---- */

typedef struct job {
    ilr_server *s;
    served_model *m;
    ilr_serve_request *req;
    int *prompt, prompt_len;
    ilr_gen_output *out;   /* req->n */
    ilr_gen_seq *seqs;     /* req->n, the scheduler's */
    ilr_gen_options opt;
    int live, done, rc;    /* sequences still generating; done and rc under the model's lock */
    char error[256];       /* rc's message, copied on the scheduler's thread (messages are per thread) */
    int submitted;         /* handed to the scheduler (which then owns it until done) */
    int *published;        /* per sequence: tokens the scheduler has drawn, under the model's lock */
    int *stopped;          /* per sequence: it has stopped (its output is final), under the model's lock */
    struct job *next;
    char id[48];
    time_t created;
    ilr_serve_request req_store;
    struct stream_state *stream; /* stream: true */
} job;

/* What the connection thread has sent of a streamed job: per choice, the text decoded from the tokens seen so
 * far (acc) and how much of it went out; the events not yet read by libmicrohttpd (pending). */
typedef struct {
    ilr_tok_stream ts;
    char *acc;
    size_t len, sent;
    int seen, finished;
} stream_choice;

struct stream_state {
    stream_choice *choice;
    char *pending;
    size_t pending_len, pending_pos;
    int started, ended;
};

/* scheduler.c: hands j (its prompt, req->n and out set) to its model's scheduler to generate with opt. */
int ilr_serve_job_submit(job *j, const ilr_gen_options *opt);
/* Waits until the scheduler is done with j: 0, or its failure. */
int ilr_serve_job_wait(job *j);
void ilr_serve_job_free(job *j);
/* The scheduler thread of a served_model (pthread_create's start routine). */
void *ilr_serve_schedule(void *model);

/* server.c */
served_model *ilr_serve_find_model(ilr_server *s, const char *name);
/* req's prompt in m's tokens: the chat template's rendering of the messages, or the text as `ilr generate`
 * encodes it (*ids malloc'ed). */
int ilr_serve_encode(const served_model *m, const ilr_serve_request *req, int **ids, int *count);
enum MHD_Result ilr_serve_send_json(struct MHD_Connection *c, unsigned status, json_t *j);
enum MHD_Result ilr_serve_send_error(struct MHD_Connection *c, unsigned status, const char *message, const char *param,
                                     const char *code);
/* Counts a request in against max_queue and names it (chatcmpl-N, cmpl-N): 1, or 0 when the queue is full (then
 * ilr_serve_send_busy answers 503).  The connection's end counts an admitted request out. */
int ilr_serve_admit(ilr_server *s, ilr_serve_kind kind, char id[48]);
enum MHD_Result ilr_serve_send_busy(struct MHD_Connection *c, const ilr_server *s);

/* discussion.c: whether model names a discussion ("idea3:..." or "debate:..."), and its answer (*admitted set
 * when it was counted in). */
int ilr_serve_is_discussion(const char *model);
enum MHD_Result ilr_serve_answer_discussion(ilr_server *s, struct MHD_Connection *c, const ilr_serve_request *req,
                                            int *admitted);
/* Loads the discussion prompts at start (a warning, not a failure, when the default ones are missing). */
int ilr_serve_discussion_init(ilr_server *s);
void ilr_serve_discussion_free(ilr_server *s);

#endif
