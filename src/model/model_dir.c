/* Hugging Face model directories: load and check (config.json + safetensors, single or sharded), save
 * (F32 or BF16, optionally sharded), random initialisation (see ilr/model.h). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ilr/arena.h"
#include "ilr/error.h"
#include "ilr/io.h"
#include "ilr/json.h"
#include "ilr/log.h"
#include "ilr/model.h"
#include "ilr/rng.h"

#define PATH_CAP 4096

int ilr_model_create(ilr_model *m, const ilr_model_config *cfg) {
    memset(m, 0, sizeof *m);
    m->config = *cfg;
    int rc = ilr_param_table_build(&m->table, cfg);
    if (rc) return rc;
    m->params = ilr_aligned_alloc(m->table.total * sizeof(float), "model parameters");
    if (!m->params) {
        ilr_param_table_free(&m->table);
        return ILR_ENOMEM;
    }
    snprintf(m->weights_dtype, sizeof m->weights_dtype, "F32");
    return 0;
}

void ilr_model_free(ilr_model *m) {
    ilr_aligned_free(m->params);
    ilr_param_table_free(&m->table);
    json_decref(m->config_json);
    json_decref(m->generation_config);
    memset(m, 0, sizeof *m);
}

/* Normal draws are cut into chunks of 2^20 values, each from its own RNG stream (tensor index, chunk), so
 * big tensors spread over threads and the values do not depend on the thread count. */
#define INIT_CHUNK (1u << 20)

static void init_view(const ilr_param_view *v, int index, float *p, float std, uint64_t seed, size_t chunk) {
    ilr_param_kind k = v->kind;
    size_t begin = chunk * INIT_CHUNK, n = v->numel - begin < INIT_CHUNK ? v->numel - begin : INIT_CHUNK;
    if (k == ILR_P_ATTN_NORM || k == ILR_P_MLP_NORM || k == ILR_P_FINAL_NORM) {
        for (size_t j = 0; j < n; j++) p[begin + j] = 1.0f;
    } else if (k == ILR_P_Q_B || k == ILR_P_K_B || k == ILR_P_V_B) {
        memset(p + begin, 0, n * sizeof(float));
    } else {
        ilr_rng rng;
        ilr_rng_init(&rng, seed, (uint64_t)index << 32 | chunk);
        ilr_rng_fill_normal(&rng, p + begin, (long)n, 0.0f, std);
    }
}

void ilr_model_init_random(ilr_model *m, uint64_t seed) {
    const ilr_param_table *t = &m->table;
    float std = (float)m->config.initializer_range;
    size_t jobs = 0;
    for (int i = 0; i < t->count; i++) jobs += (t->views[i].numel + INIT_CHUNK - 1) / INIT_CHUNK;
#pragma omp parallel for schedule(dynamic, 1)
    for (size_t job = 0; job < jobs; job++) {
        size_t first = 0; /* find the view this job belongs to */
        for (int i = 0; i < t->count; i++) {
            size_t chunks = (t->views[i].numel + INIT_CHUNK - 1) / INIT_CHUNK;
            if (job < first + chunks) {
                init_view(&t->views[i], i, m->params + t->views[i].offset, std, seed, job - first);
                break;
            }
            first += chunks;
        }
    }
}

/* ---- loading ---- */

typedef struct {
    const char *dir;
    const ilr_model_config *cfg;
    const ilr_param_table *table;
    float *params;         /* NULL: check only */
    json_t *weight_map;    /* the shard index's weight_map, or NULL for a single file */
    unsigned char *seen;   /* per view */
    ilr_model_dir_info *info;
} load_ctx;

static int check_shape(const ilr_st_file *f, const ilr_st_tensor *t, const ilr_param_view *v) {
    int same = t->ndim == v->ndim && t->shape[0] == v->shape[0] && (v->ndim == 1 || t->shape[1] == v->shape[1]);
    if (same) return 0;
    char got[96] = "[", want[64];
    for (int d = 0; d < t->ndim; d++)
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", d ? ", " : "", (long long)t->shape[d]);
    snprintf(got + strlen(got), sizeof got - strlen(got), "]");
    if (v->ndim == 1) snprintf(want, sizeof want, "[%lld]", (long long)v->shape[0]);
    else snprintf(want, sizeof want, "[%lld, %lld]", (long long)v->shape[0], (long long)v->shape[1]);
    return ILR_FAIL(ILR_EMISMATCH, "%s: tensor '%s' has shape %s but config.json implies %s", f->name, t->name, got,
                    want);
}

/* Tensors a checkpoint may carry that ilr does not need: the tied head's copy, rotary caches. */
static int is_ignorable(const load_ctx *c, const char *name) {
    size_t n = strlen(name), s = strlen("rotary_emb.inv_freq");
    if (n >= s && strcmp(name + n - s, "rotary_emb.inv_freq") == 0) return 1;
    return c->cfg->tie_word_embeddings && strcmp(name, "lm_head.weight") == 0;
}

static int load_tensor(load_ctx *c, const ilr_st_file *f, const ilr_st_tensor *t, const char *file_name) {
    if (c->weight_map) {
        const char *listed = json_string_value(json_object_get(c->weight_map, t->name));
        if (!listed || strcmp(listed, file_name) != 0)
            return ILR_FAIL(ILR_EFORMAT, "%s: tensor '%s' is in this shard but model.safetensors.index.json %s%s",
                            f->name, t->name, listed ? "maps it to " : "does not list it", listed ? listed : "");
    }
    const ilr_param_view *v = ilr_param_find(c->table, t->name);
    if (!v) {
        if (is_ignorable(c, t->name)) return 0;
        return ILR_FAIL(ILR_EMISMATCH, "%s: unexpected tensor '%s': not part of a %s model with this config.json",
                        f->name, t->name, ilr_arch_name(c->cfg->arch));
    }
    if (!ilr_dtype_is_float_weight(t->dtype))
        return ILR_FAIL(ILR_EUNSUPPORTED, "%s: tensor '%s' has dtype %s; weights must be F32, F16 or BF16", f->name,
                        t->name, ilr_dtype_name(t->dtype));
    int rc = check_shape(f, t, v);
    if (rc) return rc;
    int index = (int)(v - c->table->views);
    if (c->seen[index])
        return ILR_FAIL(ILR_EFORMAT, "%s: tensor '%s' appears in more than one shard", f->name, t->name);
    c->seen[index] = 1;
    c->info->dtype_counts[t->dtype]++;
    c->info->num_tensors++;
    return c->params ? ilr_st_read_f32(f, t, c->params + v->offset) : 0;
}

static int load_file(load_ctx *c, const char *file_name) {
    char path[PATH_CAP];
    if (ilr_path_join(path, sizeof path, c->dir, file_name)) return ilr_last_error_code();
    if (!ilr_file_exists(path))
        return ILR_FAIL(ILR_ENOTFOUND, "%s: file does not exist%s", path,
                        c->weight_map ? " (named by model.safetensors.index.json)" : "");
    ilr_st_file f;
    int rc = ilr_st_open(&f, path);
    if (rc) return rc;
    c->info->num_files++;
    c->info->file_bytes += (int64_t)f.map.size;
    for (int i = 0; i < f.num_tensors && !rc; i++) rc = load_tensor(c, &f, &f.tensors[i], file_name);
    ilr_st_close(&f);
    return rc;
}

/* The shard files an index names, each once, in order of first mention; every name a plain file name. */
static int list_shards(const json_t *weight_map, const char *index_path, json_t *files) {
    const char *name;
    json_t *file;
    json_object_foreach((json_t *)weight_map, name, file) {
        const char *shard = json_string_value(file);
        if (!shard) return ILR_FAIL(ILR_EFORMAT, "%s: weight_map entry '%s' is not a file name", index_path, name);
        if (!shard[0] || strchr(shard, '/') || strcmp(shard, "..") == 0 || strcmp(shard, ".") == 0)
            return ILR_FAIL(ILR_EFORMAT, "%s: shard name '%s' is not a plain file name", index_path, shard);
        if (!json_object_get(files, shard)) json_array_append_new(json_object_get(files, ""), json_string(shard));
        json_object_set_new(files, shard, json_true());
    }
    return 0;
}

static int load_sharded(load_ctx *c, json_t *index, const char *index_path) {
    if (!json_is_object(index) || !json_is_object(json_object_get(index, "weight_map")))
        return ILR_FAIL(ILR_EFORMAT, "%s: expected an object with a \"weight_map\" object", index_path);
    c->weight_map = json_object_get(index, "weight_map");
    json_t *files = json_pack("{s:[]}", ""); /* "" holds the ordered list; other keys mark names seen */
    int rc = list_shards(c->weight_map, index_path, files);
    size_t i;
    json_t *shard;
    json_array_foreach(json_object_get(files, ""), i, shard) {
        if (rc) break;
        rc = load_file(c, json_string_value(shard));
    }
    json_decref(files);
    if (rc) return rc;
    const char *name;
    json_object_foreach(c->weight_map, name, shard) {
        const ilr_param_view *v = ilr_param_find(c->table, name);
        if (v && !c->seen[v - c->table->views])
            return ILR_FAIL(ILR_EFORMAT, "%s: lists tensor '%s' in %s, which does not contain it", index_path, name,
                            json_string_value(shard));
    }
    return 0;
}

static int check_all_seen(const load_ctx *c) {
    int missing = 0, first = -1;
    for (int i = 0; i < c->table->count; i++)
        if (!c->seen[i] && missing++ == 0) first = i;
    if (!missing) return 0;
    return ILR_FAIL(ILR_ENOTFOUND, "%s: missing tensor '%s'%s (%d of %d missing)", c->dir,
                    c->table->views[first].name, missing > 1 ? " and others" : "", missing, c->table->count);
}

static int scan_weights(load_ctx *c) {
    char path[PATH_CAP];
    c->seen = calloc((size_t)c->table->count, 1);
    if (!c->seen) return ILR_FAIL(ILR_ENOMEM, "out of memory");
    int rc = ilr_path_join(path, sizeof path, c->dir, "model.safetensors.index.json");
    if (!rc && ilr_file_exists(path)) {
        json_t *index = NULL;
        rc = ilr_json_load_file(path, &index);
        if (!rc) rc = load_sharded(c, index, path);
        json_decref(index);
    } else if (!rc) {
        rc = ilr_path_join(path, sizeof path, c->dir, "model.safetensors");
        if (!rc && !ilr_file_exists(path))
            rc = ILR_FAIL(ILR_ENOTFOUND, "%s: no model.safetensors or model.safetensors.index.json", c->dir);
        if (!rc) rc = load_file(c, "model.safetensors");
    }
    if (!rc) rc = check_all_seen(c);
    free(c->seen);
    return rc;
}

static int load_config(const char *dir, ilr_model_config *cfg, json_t **root) {
    char path[PATH_CAP];
    if (!ilr_dir_exists(dir)) return ILR_FAIL(ILR_ENOTFOUND, "%s: not a directory", dir);
    int rc = ilr_path_join(path, sizeof path, dir, "config.json");
    if (!rc) rc = ilr_json_load_file(path, root);
    if (!rc) rc = ilr_config_from_json(*root, path, cfg);
    if (rc) {
        json_decref(*root);
        *root = NULL;
    }
    return rc;
}

/* generation_config.json's eos ids that config.json lacks, into m->gen_eos_ids (the union at most
 * ILR_MAX_EOS). */
static int load_generation_eos(ilr_model *m, const char *path) {
    int ids[ILR_MAX_EOS], n;
    int rc = ilr_config_parse_eos(m->generation_config, path, ids, &n);
    for (int i = 0; i < n && !rc; i++) {
        int known = 0;
        for (int j = 0; j < m->config.num_eos; j++) known |= m->config.eos_token_ids[j] == ids[i];
        for (int j = 0; j < m->num_gen_eos; j++) known |= m->gen_eos_ids[j] == ids[i];
        if (known) continue;
        if (m->config.num_eos + m->num_gen_eos == ILR_MAX_EOS)
            return ILR_FAIL(ILR_EUNSUPPORTED, "%s: key 'eos_token_id': with config.json's, more than %d distinct "
                            "eos ids", path, ILR_MAX_EOS);
        m->gen_eos_ids[m->num_gen_eos++] = ids[i];
    }
    return rc;
}

int ilr_model_is_eos(const ilr_model *m, int id) {
    for (int i = 0; i < m->config.num_eos; i++)
        if (m->config.eos_token_ids[i] == id) return 1;
    for (int i = 0; i < m->num_gen_eos; i++)
        if (m->gen_eos_ids[i] == id) return 1;
    return 0;
}

static void weights_dtype_name(const ilr_model_dir_info *info, char *out, size_t cap) {
    int kinds = 0, last = 0;
    for (int d = 0; d < ILR_DTYPE_COUNT; d++)
        if (info->dtype_counts[d]) kinds++, last = d;
    snprintf(out, cap, "%s", kinds == 1 ? ilr_dtype_name((ilr_dtype)last) : "mixed");
}

int ilr_model_load(ilr_model *m, const char *dir) {
    ilr_model_config cfg;
    json_t *root = NULL;
    memset(m, 0, sizeof *m);
    int rc = load_config(dir, &cfg, &root);
    if (rc) return rc;
    rc = ilr_model_create(m, &cfg);
    if (rc) {
        json_decref(root);
        return rc;
    }
    m->config_json = root;
    char path[PATH_CAP];
    rc = ilr_path_join(path, sizeof path, dir, "generation_config.json");
    if (!rc && ilr_file_exists(path)) {
        rc = ilr_json_load_file(path, &m->generation_config);
        if (!rc && !json_is_object(m->generation_config))
            rc = ILR_FAIL(ILR_EFORMAT, "%s: expected a JSON object", path);
        if (!rc) rc = load_generation_eos(m, path);
    }
    ilr_model_dir_info info;
    memset(&info, 0, sizeof info);
    load_ctx c = {.dir = dir, .cfg = &m->config, .table = &m->table, .params = m->params, .info = &info};
    if (!rc) rc = scan_weights(&c);
    if (rc) {
        ilr_model_free(m);
        return rc;
    }
    weights_dtype_name(&info, m->weights_dtype, sizeof m->weights_dtype);
    return 0;
}

int ilr_model_dir_inspect(const char *dir, ilr_model_dir_info *out) {
    json_t *root = NULL;
    memset(out, 0, sizeof *out);
    int rc = load_config(dir, &out->config, &root);
    json_decref(root);
    if (rc) return rc;
    ilr_param_table table;
    rc = ilr_param_table_build(&table, &out->config);
    if (rc) return rc;
    load_ctx c = {.dir = dir, .cfg = &out->config, .table = &table, .info = out};
    rc = scan_weights(&c);
    ilr_param_table_free(&table);
    return rc;
}

/* ---- saving ---- */

static int is_weight_file(const char *name) {
    size_t n = strlen(name);
    if (strcmp(name, "model.safetensors") == 0 || strcmp(name, "model.safetensors.index.json") == 0) return 1;
    return strncmp(name, "model-", 6) == 0 && strstr(name, "-of-") && n > 12 &&
           strcmp(name + n - 12, ".safetensors") == 0;
}

/* Removes weight files in dir that the save just made does not use (keep: NULL-terminated names). */
static int remove_stale(const char *dir, char **keep) {
    DIR *d = opendir(dir);
    if (!d) return ILR_FAIL(ILR_EIO, "%s: cannot list directory", dir);
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d)) && !rc) {
        if (!is_weight_file(e->d_name)) continue;
        int kept = 0;
        for (int i = 0; keep[i]; i++) kept |= strcmp(keep[i], e->d_name) == 0;
        char path[PATH_CAP];
        if (kept || ilr_path_join(path, sizeof path, dir, e->d_name)) continue;
        if (unlink(path) != 0) rc = ILR_FAIL(ILR_EIO, "%s: cannot remove stale weight file", path);
    }
    closedir(d);
    return rc;
}

static json_t *config_for_save(const ilr_model *m, ilr_dtype dtype) {
    const char *torch_dtype = dtype == ILR_DTYPE_BF16 ? "bfloat16" : "float32";
    json_t *o;
    if (m->config_json) {
        o = json_deep_copy(m->config_json);
        if (json_object_get(o, "dtype")) json_object_set_new(o, "dtype", json_string(torch_dtype));
    } else {
        o = ilr_config_to_json(&m->config);
    }
    json_object_set_new(o, "torch_dtype", json_string(torch_dtype));
    return o;
}

/* Splits entries into shards of at most max bytes (a tensor bigger than max gets a shard of its own);
 * shard_of[i] is entry i's shard; returns the shard count. */
static int plan_shards(const ilr_st_entry *entries, int n, ilr_dtype dtype, size_t max, int *shard_of) {
    int shard = 0;
    size_t used = 0;
    for (int i = 0; i < n; i++) {
        size_t bytes = ilr_st_data_bytes(&entries[i], 1, dtype);
        if (used > 0 && used + bytes > max) shard++, used = 0;
        shard_of[i] = shard;
        used += bytes;
    }
    return n ? shard + 1 : 1;
}

static int save_sharded(const char *dir, const ilr_st_entry *entries, int n, ilr_dtype dtype, size_t max,
                        char ***kept) {
    int *shard_of = malloc(sizeof(int) * (size_t)n);
    if (!shard_of) return ILR_FAIL(ILR_ENOMEM, "out of memory");
    int shards = plan_shards(entries, n, dtype, max, shard_of), rc = 0;
    char **names = calloc((size_t)shards + 2, sizeof(char *));
    json_t *weight_map = json_object();
    for (int s = 0, first = 0; s < shards && !rc; s++) {
        int last = first;
        while (last < n && shard_of[last] == s) last++;
        char name[64], path[PATH_CAP];
        snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", s + 1, shards);
        names[s] = strdup(name);
        for (int i = first; i < last; i++) json_object_set_new(weight_map, entries[i].name, json_string(name));
        rc = ilr_path_join(path, sizeof path, dir, name);
        if (!rc) rc = ilr_st_write(path, entries + first, last - first, dtype, NULL);
        first = last;
    }
    if (!rc) {
        char path[PATH_CAP];
        json_t *index = json_pack("{s:{s:I}, s:O}", "metadata", "total_size",
                                  (json_int_t)ilr_st_data_bytes(entries, n, dtype), "weight_map", weight_map);
        names[shards] = strdup("model.safetensors.index.json");
        rc = ilr_path_join(path, sizeof path, dir, "model.safetensors.index.json");
        if (!rc) rc = ilr_json_save_file(path, index);
        json_decref(index);
    }
    json_decref(weight_map);
    free(shard_of);
    *kept = names;
    return rc;
}

int ilr_model_save(const ilr_model *m, const char *dir, const ilr_save_options *opt) {
    ilr_dtype dtype = opt ? opt->dtype : ILR_DTYPE_F32;
    size_t max_shard = opt ? opt->max_shard_bytes : 0;
    if (dtype != ILR_DTYPE_F32 && dtype != ILR_DTYPE_BF16)
        return ILR_FAIL(ILR_EUNSUPPORTED, "%s: models are saved as F32 or BF16, not %s", dir, ilr_dtype_name(dtype));
    int rc = ilr_mkdir_p(dir);
    if (rc) return rc;
    const ilr_param_table *t = &m->table;
    ilr_st_entry *entries = calloc((size_t)t->count, sizeof *entries);
    if (!entries) return ILR_FAIL(ILR_ENOMEM, "out of memory");
    for (int i = 0; i < t->count; i++) {
        const ilr_param_view *v = &t->views[i];
        entries[i] = (ilr_st_entry){.name = v->name, .data = m->params + v->offset, .ndim = v->ndim,
                                    .shape = {v->shape[0], v->shape[1]}};
    }
    char path[PATH_CAP], **kept = NULL;
    if (max_shard == 0 || ilr_st_data_bytes(entries, t->count, dtype) <= max_shard) {
        kept = calloc(2, sizeof(char *));
        kept[0] = strdup("model.safetensors");
        rc = ilr_path_join(path, sizeof path, dir, "model.safetensors");
        if (!rc) rc = ilr_st_write(path, entries, t->count, dtype, NULL);
    } else {
        rc = save_sharded(dir, entries, t->count, dtype, max_shard, &kept);
    }
    if (!rc) rc = remove_stale(dir, kept);
    for (int i = 0; kept && kept[i]; i++) free(kept[i]);
    free(kept);
    free(entries);
    json_t *config = config_for_save(m, dtype);
    if (!rc) rc = ilr_path_join(path, sizeof path, dir, "config.json");
    if (!rc) rc = ilr_json_save_file(path, config);
    json_decref(config);
    if (!rc && m->generation_config) {
        rc = ilr_path_join(path, sizeof path, dir, "generation_config.json");
        if (!rc) rc = ilr_json_save_file(path, m->generation_config);
    }
    return rc;
}
