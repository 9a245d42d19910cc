/* A plain HTTP client for the `ilr serve` tests (test_serve.c, test_serve_discussion.c): real sockets on loopback. */
#ifndef ILR_TEST_SERVE_CLIENT_H
#define ILR_TEST_SERVE_CLIENT_H

#include <jansson.h>

#include "ilr/serve.h"

/* A connected socket to 127.0.0.1:port (60 s receive timeout), or -1. */
int serve_connect(int port);
/* Reads until the server closes: the whole response, NUL-terminated (malloc'ed); its status in *status. */
char *serve_read_all(int fd, int *status);
/* One request (Connection: close): the whole response, as serve_read_all. */
char *serve_http(int port, const char *method, const char *path, const char *body, int *status);
/* POSTs body and parses the JSON answer, asserting the status. */
json_t *serve_post(int port, const char *path, const char *body, int want_status);
/* POSTs body to /v1/completions: 1 when the server refused it with 503 queue_full, 0 when it answered 200. */
int serve_completion_refused(int port, const char *body);
/* Gives the model directory's tokenizer_config.json a ChatML chat template. */
void serve_add_chat_template(const char *dir);
/* A group's teardown: stops the server, removes the test's directory; 0. */
int serve_stop_and_remove(ilr_server *server, const char *dir);

#endif
