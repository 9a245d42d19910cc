/* A plain HTTP client for the `ilr serve` tests (serve_client.h). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "serve_client.h"
#include "test_util.h"

int serve_connect(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct timeval tv = {60, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof a)) return close(fd), -1;
    return fd;
}

char *serve_read_all(int fd, int *status) {
    size_t len = 0, cap = 1 << 16;
    char *buf = malloc(cap);
    for (ssize_t n; (n = recv(fd, buf + len, cap - len - 1, 0)) > 0;) {
        len += (size_t)n;
        if (cap - len < 4096) buf = realloc(buf, cap *= 2);
    }
    buf[len] = 0;
    close(fd);
    *status = 0;
    sscanf(buf, "HTTP/1.1 %d", status);
    return buf;
}

char *serve_http(int port, const char *method, const char *path, const char *body, int *status) {
    int fd = serve_connect(port);
    assert_true(fd >= 0);
    char head[512];
    size_t blen = body ? strlen(body) : 0;
    int n = snprintf(head, sizeof head, "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\n"
                                        "Content-Length: %zu\r\n\r\n", method, path, blen);
    assert_int_equal(send(fd, head, (size_t)n, MSG_NOSIGNAL), n);
    if (blen) assert_int_equal(send(fd, body, blen, MSG_NOSIGNAL), (ssize_t)blen);
    return serve_read_all(fd, status);
}

json_t *serve_post(int port, const char *path, const char *body, int want_status) {
    int status;
    char *resp = serve_http(port, "POST", path, body, &status);
    const char *json = strstr(resp, "\r\n\r\n");
    if (status != want_status || !json) print_error("status %d, wanted %d:\n%s\n", status, want_status, resp);
    assert_int_equal(status, want_status);
    json_error_t err;
    json_t *j = json_loads(json + 4, JSON_ALLOW_NUL, &err);
    if (!j) print_error("not JSON (%s):\n%s\n", err.text, json + 4);
    assert_non_null(j);
    free(resp);
    return j;
}

int serve_completion_refused(int port, const char *body) {
    int status;
    char *r = serve_http(port, "POST", "/v1/completions", body, &status);
    if (status == 503) ilr_test_expect_contains(r, "\"code\":\"queue_full\"");
    else assert_int_equal(status, 200);
    free(r);
    return status == 503;
}

void serve_add_chat_template(const char *dir) {
    static const char chatml[] =
        "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + "
        "'\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
    char path[400];
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    json_t *cfg = json_load_file(path, 0, NULL);
    assert_non_null(cfg);
    json_object_set_new(cfg, "chat_template", json_string(chatml));
    assert_int_equal(json_dump_file(cfg, path, 0), 0);
    json_decref(cfg);
}

int serve_stop_and_remove(ilr_server *server, const char *dir) {
    ilr_serve_stop(server);
    ilr_test_rmtree(dir);
    return 0;
}
