/* ilr_sandbox_run_many: a pool of threads, each running one program at a time and waiting on its child. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ilr/error.h"
#include "ilr/sandbox.h"

typedef struct {
    const char *const *sources;
    const size_t *lens;
    const ilr_sandbox_options *opt;
    ilr_sandbox_result *results;
    int n, next, ran, first_error;
    char first_message[512];
    pthread_mutex_t lock;
} pool;

static void *worker(void *arg) {
    pool *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->lock);
        int i = p->next < p->n ? p->next++ : -1;
        pthread_mutex_unlock(&p->lock);
        if (i < 0) return NULL;
        ilr_sandbox_result *r = &p->results[i];
        int rc = ilr_sandbox_run(p->sources[i], p->lens[i], p->opt, r);
        pthread_mutex_lock(&p->lock);
        if (rc == 0) p->ran++;
        else if (!p->first_error) {
            p->first_error = rc;
            strncpy(p->first_message, ilr_last_error(), sizeof p->first_message - 1);
        }
        pthread_mutex_unlock(&p->lock);
        if (rc) {
            memset(r, 0, sizeof *r);
            r->status = ILR_SANDBOX_ERROR;
            r->exit_code = -1;
            r->out = calloc(1, 1);
            r->err = strdup(ilr_last_error());
            r->err_len = r->err_total = strlen(r->err);
        }
    }
}

int ilr_sandbox_run_many(const char *const *sources, const size_t *lens, int n, int workers,
                         const ilr_sandbox_options *opt, ilr_sandbox_result *results) {
    if (n < 0 || workers < 1) return ILR_FAIL(ILR_EINVAL, "sandbox: %d programs on %d workers", n, workers);
    if (workers > ILR_SANDBOX_MAX_WORKERS) workers = ILR_SANDBOX_MAX_WORKERS;
    if (workers > n) workers = n;
    pool p = {.sources = sources, .lens = lens, .opt = opt, .results = results, .n = n};
    pthread_mutex_init(&p.lock, NULL);
    pthread_t *threads = malloc(sizeof(pthread_t) * (size_t)(workers ? workers : 1));
    int started = 0;
    for (int t = 0; t < workers; t++)
        if (pthread_create(&threads[t], NULL, worker, &p) == 0) started++;
        else break;
    if (started == 0 && n > 0) worker(&p); /* no threads to be had: run them here */
    for (int t = 0; t < started; t++) pthread_join(threads[t], NULL);
    free(threads);
    pthread_mutex_destroy(&p.lock);
    if (n > 0 && p.ran == 0) return ILR_FAIL(p.first_error, "%s", p.first_message);
    return 0;
}
