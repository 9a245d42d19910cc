/* Checkpoints: model directory + optimizer moments + trainer state, renamed into place whole
 * (see include/ilr/checkpoint.h). */
#define _XOPEN_SOURCE 700
#include "ilr/checkpoint.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ilr/error.h"
#include "ilr/io.h"
#include "ilr/json.h"
#include "ilr/safetensors.h"
#include "ilr/tokenizer_files.h"

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

int ilr_remove_tree(const char *path) {
    if (access(path, F_OK) != 0) return 0;
    if (nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
        return ILR_FAIL(ILR_EIO, "%s: cannot remove: %s", path, strerror(errno));
    return 0;
}

static int write_optimizer(const char *dir, size_t n, const ilr_checkpoint_moments *mo) {
    char path[4096];
    if (ilr_path_join(path, sizeof path, dir, "optimizer.safetensors")) return ilr_last_error_code();
    ilr_st_entry e[2] = {{"adam_m", NULL, 1, {(int64_t)n}}, {"adam_v", NULL, 1, {(int64_t)n}}};
    return ilr_st_write_fetched(path, e, 2, ILR_DTYPE_F32, NULL, mo->fetch, mo->ctx);
}

static int write_state(const char *dir, int step, const json_t *state) {
    char path[4096];
    if (ilr_path_join(path, sizeof path, dir, "trainer_state.json")) return ilr_last_error_code();
    json_t *root = state ? json_deep_copy(state) : json_object();
    json_object_set_new(root, "optimizer_step", json_integer(step));
    int rc = ilr_json_save_file(path, root);
    json_decref(root);
    return rc;
}

/* A transformer's whole moments as a checkpoint's (its own arrays, no copy). */
static int whole_moment(void *ctx, int k, const float **values) {
    const ilr_transformer *tr = ctx;
    *values = k ? tr->adam_v : tr->adam_m;
    return 0;
}

static int moments_of(const char *dir, const ilr_transformer *tr, ilr_checkpoint_moments *mo) {
    *mo = (ilr_checkpoint_moments){tr ? tr->adam_step : 0, tr && tr->adam_m ? whole_moment : NULL, (void *)tr};
    if (!mo->fetch) return 0;
    size_t lo, hi;
    ilr_transformer_moments_range(tr, &lo, &hi);
    if (lo != 0 || hi != tr->model->table.total)
        return ILR_FAIL(ILR_EINVAL, "%s: the optimizer state to write holds moments for parameters [%zu, %zu) of %zu; a "
                        "checkpoint keeps all of them (ZeRO-1: the ranks' shares are gathered as the file is written)",
                        dir, lo, hi, tr->model->table.total);
    return 0;
}

int ilr_checkpoint_begin(const char *dir, char *tmp, size_t cap) {
    if (snprintf(tmp, cap, "%s.tmp.%d", dir, (int)getpid()) >= (int)cap)
        return ILR_FAIL(ILR_EINVAL, "%s: path too long", dir);
    int rc = ilr_remove_tree(tmp);
    return rc ? rc : ilr_mkdir_p(tmp);
}

int ilr_checkpoint_write_fetched(const char *dir, const ilr_model *m, const ilr_checkpoint_moments *mo,
                                 const char *tokenizer_dir, const json_t *state) {
    ilr_save_options opt = {.dtype = ILR_DTYPE_F32};
    int rc = ilr_model_save(m, dir, &opt);
    if (!rc && tokenizer_dir) rc = ilr_tokenizer_files_copy(tokenizer_dir, dir);
    if (!rc && mo && mo->fetch && mo->step > 0) rc = write_optimizer(dir, m->table.total, mo);
    if (!rc) rc = write_state(dir, mo ? mo->step : 0, state);
    return rc;
}

int ilr_checkpoint_write(const char *dir, const ilr_model *m, const ilr_transformer *tr, const char *tokenizer_dir,
                         const json_t *state) {
    ilr_checkpoint_moments mo;
    int rc = moments_of(dir, tr, &mo);
    return rc ? rc : ilr_checkpoint_write_fetched(dir, m, &mo, tokenizer_dir, state);
}

int ilr_checkpoint_commit(const char *dir, const char *tmp) {
    char old[4096];
    if (snprintf(old, sizeof old, "%s.old.%d", dir, (int)getpid()) >= (int)sizeof old)
        return ILR_FAIL(ILR_EINVAL, "%s: path too long", dir);
    int rc = 0;
    if (access(dir, F_OK) == 0 && rename(dir, old) != 0)
        rc = ILR_FAIL(ILR_EIO, "%s: cannot move the previous checkpoint aside: %s", dir, strerror(errno));
    if (!rc && rename(tmp, dir) != 0) rc = ILR_FAIL(ILR_EIO, "%s: cannot rename %s into place: %s", dir, tmp, strerror(errno));
    return rc ? rc : ilr_remove_tree(old);
}

void ilr_checkpoint_abort(const char *tmp) {
    int code = ilr_last_error_code();
    char message[1024];
    snprintf(message, sizeof message, "%s", ilr_last_error());
    ilr_remove_tree(tmp);
    ILR_FAIL(code, "%s", message); /* the error that made us abort, not one of the cleanup */
}

int ilr_checkpoint_save(const char *dir, const ilr_model *m, const ilr_transformer *tr, const char *tokenizer_dir,
                        const json_t *state) {
    ilr_checkpoint_moments mo;
    int rc = moments_of(dir, tr, &mo);
    return rc ? rc : ilr_checkpoint_save_fetched(dir, m, &mo, tokenizer_dir, state);
}

int ilr_checkpoint_save_fetched(const char *dir, const ilr_model *m, const ilr_checkpoint_moments *mo,
                                const char *tokenizer_dir, const json_t *state) {
    char tmp[4096];
    int rc = ilr_checkpoint_begin(dir, tmp, sizeof tmp);
    if (!rc) rc = ilr_checkpoint_write_fetched(tmp, m, mo, tokenizer_dir, state);
    if (!rc) rc = ilr_checkpoint_commit(dir, tmp);
    if (rc) {
        int code = ilr_last_error_code();
        ilr_checkpoint_abort(tmp);
        return ilr_error_prefix("checkpoint %s", dir), code;
    }
    return 0;
}

int ilr_checkpoint_load_state(const char *dir, ilr_transformer *tr, json_t **state) {
    char path[4096];
    if (state) *state = NULL;
    if (ilr_path_join(path, sizeof path, dir, "trainer_state.json")) return ilr_last_error_code();
    json_t *root = NULL;
    int rc = ilr_json_load_file(path, &root);
    if (rc) return rc;
    json_int_t step = json_integer_value(json_object_get(root, "optimizer_step"));
    if (!json_is_object(root) || step < 0 || step > 1000000000) {
        json_decref(root);
        return ILR_FAIL(ILR_EFORMAT, "%s: expected an object with a non-negative \"optimizer_step\"", path);
    }
    if (ilr_path_join(path, sizeof path, dir, "optimizer.safetensors")) return json_decref(root), ilr_last_error_code();
    if (step > 0 && access(path, F_OK) == 0) {
        ilr_st_file f;
        rc = ilr_st_open(&f, path);
        if (!rc) {
            const ilr_st_tensor *tm = ilr_st_find(&f, "adam_m"), *tv = ilr_st_find(&f, "adam_v");
            size_t n = tr->model->table.total;
            if (!tm || !tv || (size_t)tm->numel != n || (size_t)tv->numel != n)
                rc = ILR_FAIL(ILR_EMISMATCH, "%s: expected adam_m and adam_v of %zu values each (the model's parameters)",
                              path, n);
            size_t lo, hi; /* the file holds every parameter's moments; a ZeRO-1 shard reads its own */
            ilr_transformer_moments_range(tr, &lo, &hi);
            if (!rc) rc = ilr_transformer_alloc_moments(tr);
            if (!rc) rc = ilr_st_read_f32_range(&f, tm, (int64_t)lo, (int64_t)hi, tr->adam_m);
            if (!rc) rc = ilr_st_read_f32_range(&f, tv, (int64_t)lo, (int64_t)hi, tr->adam_v);
            ilr_st_close(&f);
        }
        if (!rc) tr->adam_step = (int)step;
    }
    if (!rc && state) *state = root;
    else json_decref(root);
    return rc;
}
