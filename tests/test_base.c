/* The base library: rng, arena, io, json, progress, timer, log. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ilr/arena.h"
#include "ilr/error.h"
#include "ilr/io.h"
#include "ilr/json.h"
#include "ilr/log.h"
#include "ilr/progress.h"
#include "ilr/rng.h"
#include "ilr/template.h"
#include "ilr/timer.h"
#include "test_util.h"

/* ---- rng ---- */

/* pcg32_srandom_r(&rng, 42, 54) followed by pcg32_random_r, as printed by pcg-c's pcg32-demo. */
static void test_rng_pcg_reference(void **state) {
    (void)state;
    static const uint32_t want[6] = {0xa15c02b7, 0x7b47f409, 0xba1d3330, 0x83d2f293, 0xbfa4784b, 0xcbed606e};
    ilr_rng r;
    ilr_rng_init(&r, 42, 54);
    for (int i = 0; i < 6; i++) assert_int_equal(ilr_rng_u32(&r), want[i]);
}

static void test_rng_streams_and_determinism(void **state) {
    (void)state;
    ilr_rng a, b, c;
    ilr_rng_init(&a, 7, 1);
    ilr_rng_init(&b, 7, 1);
    ilr_rng_init(&c, 7, 2);
    int same_stream_equal = 0, other_stream_equal = 0;
    for (int i = 0; i < 1000; i++) {
        uint32_t x = ilr_rng_u32(&a);
        same_stream_equal += x == ilr_rng_u32(&b);
        other_stream_equal += x == ilr_rng_u32(&c);
    }
    assert_int_equal(same_stream_equal, 1000);
    assert_true(other_stream_equal < 5);
    ilr_rng_init(&a, 7, 1);
    ilr_rng_init(&b, 7, 1);
    uint64_t hi = ilr_rng_u32(&b), lo = ilr_rng_u32(&b);
    assert_true(ilr_rng_u64(&a) == (hi << 32 | lo));
}

static void test_rng_normal_moments(void **state) {
    (void)state;
    enum { N = 1000000 };
    ilr_rng r;
    ilr_rng_init(&r, 1234, 0);
    double sum = 0, sq = 0;
    for (int i = 0; i < N; i++) {
        double x = ilr_rng_normal(&r);
        assert_true(isfinite(x));
        sum += x;
        sq += x * x;
    }
    double mean = sum / N, std = sqrt(sq / N - mean * mean);
    print_message("normal: mean %.5f std %.5f over %d samples\n", mean, std, N);
    assert_true(fabs(mean) < 0.005 && fabs(std - 1.0) < 0.005);

    float *buf = malloc(sizeof(float) * N);
    assert_non_null(buf);
    ilr_rng_fill_normal(&r, buf, N - 1, 3.0f, 0.5f); /* odd n exercises the unpaired tail */
    sum = sq = 0;
    for (int i = 0; i < N - 1; i++) sum += buf[i], sq += (double)buf[i] * buf[i];
    mean = sum / (N - 1);
    std = sqrt(sq / (N - 1) - mean * mean);
    print_message("fill_normal(3, 0.5): mean %.5f std %.5f\n", mean, std);
    assert_true(fabs(mean - 3.0) < 0.003 && fabs(std - 0.5) < 0.003);
    free(buf);
}

static void test_rng_below_and_uniform(void **state) {
    (void)state;
    enum { K = 10, DRAWS = 200000 };
    ilr_rng r;
    ilr_rng_init(&r, 99, 3);
    int counts[K] = {0};
    for (int i = 0; i < DRAWS; i++) {
        uint32_t v = ilr_rng_below(&r, K);
        assert_true(v < K);
        counts[v]++;
    }
    for (int k = 0; k < K; k++) assert_true(abs(counts[k] - DRAWS / K) < DRAWS / K / 20);
    for (int i = 0; i < 1000; i++) assert_int_equal(ilr_rng_below(&r, 1), 0);
    /* n = 3 * 2^30: a plain multiply-shift without rejection maps 2 of every 4 inputs to v % 3 == 0,
     * so that share would be 1/2 instead of 1/3. */
    int zero_mod3 = 0;
    for (int i = 0; i < 30000; i++) zero_mod3 += ilr_rng_below(&r, 0xC0000000u) % 3 == 0;
    print_message("below(3 * 2^30): share of v %% 3 == 0 is %.4f (unbiased 0.3333)\n", zero_mod3 / 30000.0);
    assert_true(fabs(zero_mod3 / 30000.0 - 1.0 / 3.0) < 0.02);
    for (int i = 0; i < 100000; i++) {
        float u = ilr_rng_uniform(&r);
        double d = ilr_rng_uniform_f64(&r);
        assert_true(u >= 0.0f && u < 1.0f && u * 16777216.0f == floorf(u * 16777216.0f));
        assert_true(d >= 0.0 && d < 1.0);
    }
}

/* ---- arena ---- */

static void test_arena_alignment_peak_exhaustion(void **state) {
    (void)state;
    ilr_arena a;
    assert_int_equal(ilr_arena_init(&a, 1000), 0);
    assert_int_equal(a.capacity, 1024);
    unsigned char *p1 = ilr_arena_alloc(&a, 1);
    unsigned char *p2 = ilr_arena_calloc(&a, 100);
    assert_non_null(p1);
    assert_non_null(p2);
    assert_int_equal((uintptr_t)p1 % ILR_ALIGN, 0);
    assert_int_equal((uintptr_t)p2 % ILR_ALIGN, 0);
    assert_ptr_equal(p2, p1 + 64);
    for (int i = 0; i < 100; i++) assert_int_equal(p2[i], 0);
    assert_int_equal(a.used, 64 + 128);
    assert_null(ilr_arena_alloc(&a, 1000));
    ILR_EXPECT_ERROR(ilr_last_error_code(), ILR_ENOMEM, "arena", "1000", "832 of 1024");
    ilr_arena_reset(&a);
    assert_int_equal(a.used, 0);
    assert_int_equal(a.peak, 192);
    assert_non_null(ilr_arena_alloc(&a, 1024));
    assert_int_equal(a.peak, 1024);
    ilr_arena_free(&a);
    assert_null(a.base);

    float *big = ilr_aligned_alloc(1000 * sizeof(float), "weights");
    assert_non_null(big);
    assert_int_equal((uintptr_t)big % ILR_ALIGN, 0);
    ilr_aligned_free(big);
    assert_null(ilr_aligned_alloc(SIZE_MAX - 8, "gradients")); /* rounding up overflows: no allocator call */
    ILR_EXPECT_ERROR(ilr_last_error_code(), ILR_ENOMEM, "gradients", "16.00 EiB");
}

/* ---- io ---- */

static int count_entries(const char *dir) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

static void expect_file(const char *path, const char *want) {
    char *data;
    size_t size;
    assert_int_equal(ilr_file_read_all(path, &data, &size), 0);
    assert_int_equal(size, strlen(want));
    assert_string_equal(data, want);
    free(data);
}

static void test_atomic_commit_and_abort(void **state) {
    (void)state;
    char dir[256], path[512];
    ilr_test_tmpdir(dir, "atomic");
    snprintf(path, sizeof path, "%s/out.txt", dir);
    assert_int_equal(ilr_file_write_atomic(path, "old\n", 4), 0);
    expect_file(path, "old\n");
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);

    ilr_atomic_file f;
    assert_int_equal(ilr_atomic_open(&f, path), 0);
    assert_int_equal(strncmp(f.tmp_path, path, strlen(path)), 0); /* beside the target */
    assert_int_equal(ilr_atomic_write(&f, "new", 3), 0);
    ilr_atomic_abort(&f);
    assert_null(f.fp);
    assert_null(f.tmp_path);
    ilr_atomic_abort(&f); /* safe twice */
    expect_file(path, "old\n");
    assert_int_equal(count_entries(dir), 1);

    assert_int_equal(ilr_atomic_open(&f, path), 0);
    assert_int_equal(ilr_atomic_write(&f, "new", 3), 0);
    assert_int_equal(ilr_atomic_write(&f, "er", 2), 0);
    assert_int_equal(ilr_atomic_commit(&f), 0);
    assert_null(f.target);
    ilr_atomic_abort(&f); /* safe after commit */
    expect_file(path, "newer");
    assert_int_equal(count_entries(dir), 1);
    ilr_test_rmtree(dir);
}

static void test_atomic_missing_dir(void **state) {
    (void)state;
    char dir[256], path[512];
    ilr_test_tmpdir(dir, "atomic-missing");
    snprintf(path, sizeof path, "%s/nope/x.bin", dir);
    ILR_EXPECT_ERROR(ilr_file_write_atomic(path, "x", 1), ILR_EIO, path, "No such file or directory");
    assert_false(ilr_file_exists(path));
    ilr_test_rmtree(dir);
}

/* A write that failed (simulated: the disk filled up) makes commit refuse and keep the old target. */
static void test_atomic_failed_write_refused(void **state) {
    (void)state;
    char dir[256], path[256];
    ilr_test_tmpdir(dir, "atomic-failed");
    ilr_test_write_file(path, dir, "keep.txt", "old", 3);
    ilr_atomic_file f;
    assert_int_equal(ilr_atomic_open(&f, path), 0);
    assert_int_equal(ilr_atomic_write(&f, "partial", 7), 0);
    f.failed = ENOSPC;
    ILR_EXPECT_ERROR(ilr_atomic_write(&f, "more", 4), ILR_EIO, path, "No space left");
    ILR_EXPECT_ERROR(ilr_atomic_commit(&f), ILR_EIO, path, "earlier write failed", "No space left");
    assert_null(f.tmp_path);
    expect_file(path, "old");
    assert_int_equal(count_entries(dir), 1);
    ilr_test_rmtree(dir);
}

static void test_file_map_and_read(void **state) {
    (void)state;
    char dir[256], path[256], missing[512];
    ilr_test_tmpdir(dir, "map");
    ilr_mapped_file m;
    ilr_test_write_file(path, dir, "empty.bin", "", 0);
    assert_int_equal(ilr_file_map(path, &m), 0);
    assert_null(m.data);
    assert_int_equal(m.size, 0);
    ilr_file_unmap(&m);

    ilr_test_write_file(path, dir, "abc.bin", "abc", 3);
    assert_int_equal(ilr_file_map(path, &m), 0);
    assert_int_equal(m.size, 3);
    assert_memory_equal(m.data, "abc", 3);
    ilr_file_unmap(&m);
    assert_null(m.data);
    expect_file(path, "abc");

    snprintf(missing, sizeof missing, "%s/missing.bin", dir);
    ILR_EXPECT_ERROR(ilr_file_map(missing, &m), ILR_ENOTFOUND, missing, "No such file");
    char *data;
    size_t size;
    ILR_EXPECT_ERROR(ilr_file_read_all(missing, &data, &size), ILR_ENOTFOUND, missing);
    ILR_EXPECT_ERROR(ilr_file_map(dir, &m), ILR_EIO, dir, "directory");
    ILR_EXPECT_ERROR(ilr_file_read_all(dir, &data, &size), ILR_EIO, dir, "directory");
    ilr_test_rmtree(dir);
}

static void test_mkdir_p_and_paths(void **state) {
    (void)state;
    char dir[256], nested[512], file[256], out[16];
    ilr_test_tmpdir(dir, "mkdir");
    snprintf(nested, sizeof nested, "%s/a/b//c/", dir);
    assert_int_equal(ilr_mkdir_p(nested), 0);
    assert_true(ilr_dir_exists(nested));
    assert_int_equal(ilr_mkdir_p(nested), 0); /* already there */
    ilr_test_write_file(file, dir, "f", "x", 1);
    assert_true(ilr_file_exists(file));
    assert_false(ilr_dir_exists(file));
    assert_false(ilr_file_exists(dir));
    snprintf(nested, sizeof nested, "%s/f/g", dir);
    ILR_EXPECT_ERROR(ilr_mkdir_p(nested), ILR_EIO, nested);

    assert_int_equal(ilr_path_join(out, sizeof out, "a/", "b.json"), 0);
    assert_string_equal(out, "a/b.json");
    assert_int_equal(ilr_path_join(out, sizeof out, "/", "b"), 0);
    assert_string_equal(out, "/b");
    ILR_EXPECT_ERROR(ilr_path_join(out, sizeof out, "checkpoints", "model.bin"), ILR_EINVAL, "model.bin",
                     "needs 22 bytes, have 16");
    ilr_test_rmtree(dir);
}

/* ---- json ---- */

/* ILR_HOME wins; without it the project root above build/<kind>/ is found (the test binary lives there). */
static void test_resource_path(void **state) {
    (void)state;
    char dir[256], path[512], out[1024];
    ilr_test_tmpdir(dir, "resource");
    snprintf(path, sizeof path, "%s/prompts", dir);
    assert_int_equal(ilr_mkdir_p(path), 0);
    setenv("ILR_HOME", dir, 1);
    assert_int_equal(ilr_resource_path(out, sizeof out, "prompts"), 0);
    assert_string_equal(out, path);
    assert_int_equal(ilr_resource_path(out, sizeof out, "no-such-file"), ILR_ENOTFOUND);
    assert_non_null(strstr(ilr_last_error(), "ILR_HOME"));
    unsetenv("ILR_HOME");
    assert_int_equal(ilr_resource_path(out, sizeof out, "include/ilr/io.h"), 0);
    assert_int_equal(access(out, R_OK), 0);
    assert_int_equal(ilr_resource_path(out, sizeof out, "no-such-file"), ILR_ENOTFOUND);
    assert_non_null(strstr(ilr_last_error(), "set ILR_HOME"));
    ilr_test_rmtree(dir);
}

static void test_template_render(void **state) {
    (void)state;
    ilr_template_var vars[] = {{"question", "What is 2 + 3?"}, {"peer", "5"}};
    char *out;
    assert_int_equal(ilr_template_render("Q: {{question}}\nPut it in \\boxed{}. Peer: {{peer}}{{peer}}", "t", vars, 2, &out), 0);
    assert_string_equal(out, "Q: What is 2 + 3?\nPut it in \\boxed{}. Peer: 55");
    free(out);
    assert_int_equal(ilr_template_render("a\nb {{own}}", "prompts/x.txt", vars, 2, &out), ILR_EFORMAT);
    assert_null(out);
    assert_string_equal(ilr_last_error(),
                        "prompts/x.txt:2: unknown placeholder {{own}}; this template can use {{question}}, {{peer}}");
    assert_int_equal(ilr_template_render("{{ question}}", "t", vars, 2, &out), ILR_EFORMAT);
    assert_non_null(strstr(ilr_last_error(), "t:1: '{{' must be followed by a name"));
    assert_int_equal(ilr_template_render("{{question", "t", vars, 2, &out), ILR_EFORMAT);
    assert_int_equal(ilr_template_render("", "t", NULL, 0, &out), 0);
    assert_string_equal(out, "");
    free(out);
    char dir[256], path[512];
    ilr_test_tmpdir(dir, "template");
    snprintf(path, sizeof path, "%s/bad.txt", dir);
    assert_int_equal(ilr_file_write_atomic(path, "ok {{x}}\n{{bad", 14), 0);
    assert_int_equal(ilr_template_load(path, &out), ILR_EFORMAT);
    assert_non_null(strstr(ilr_last_error(), "bad.txt:2:"));
    assert_int_equal(ilr_file_write_atomic(path, "ok {{x}}\n", 9), 0);
    assert_int_equal(ilr_template_load(path, &out), 0);
    assert_string_equal(out, "ok {{x}}\n");
    free(out);
    ilr_test_rmtree(dir);
}

static void test_json_syntax_errors(void **state) {
    (void)state;
    json_t *root;
    const char *bad = "{\n  \"a\": 1,\n  \"b\": }";
    ILR_EXPECT_ERROR(ilr_json_parse(bad, strlen(bad), "x.json", &root), ILR_EFORMAT, "x.json:3:");
    assert_null(root);
    const char *dup = "{\"a\": 1, \"a\": 2}";
    ILR_EXPECT_ERROR(ilr_json_parse(dup, strlen(dup), "d.json", &root), ILR_EFORMAT, "d.json:1:",
                     "duplicate");
    const char *trailing = "{\"a\": 1} x";
    ILR_EXPECT_ERROR(ilr_json_parse(trailing, strlen(trailing), "t.json", &root), ILR_EFORMAT, "t.json:1:");
    const char *good = "{\"a\": 1}";
    assert_int_equal(ilr_json_parse(good, strlen(good), "g.json", &root), 0);
    assert_int_equal(json_integer_value(json_object_get(root, "a")), 1);
    json_decref(root);
}

static void test_json_save_and_load(void **state) {
    (void)state;
    char dir[256], path[512];
    ilr_test_tmpdir(dir, "json");
    snprintf(path, sizeof path, "%s/c.json", dir);
    json_t *root;
    ILR_EXPECT_ERROR(ilr_json_load_file(path, &root), ILR_ENOTFOUND, path);
    root = json_pack("{s:i, s:s, s:[i,i]}", "zeta", 1, "alpha", "x", "list", 2, 3);
    assert_int_equal(ilr_json_save_file(path, root), 0);
    json_decref(root);
    expect_file(path, "{\n  \"zeta\": 1,\n  \"alpha\": \"x\",\n  \"list\": [\n    2,\n    3\n  ]\n}\n");
    assert_int_equal(ilr_json_load_file(path, &root), 0);
    const char *s;
    assert_int_equal(ilr_json_get_string(root, "alpha", 1, path, &s), 0);
    assert_string_equal(s, "x");
    json_decref(root);
    ilr_test_rmtree(dir);
}

static void test_json_getters(void **state) {
    (void)state;
    const char *text =
        "{\"n\": 12, \"big\": 1e6, \"half\": 2.5, \"name\": \"q\", \"flag\": true, \"x\": 0.25}";
    json_t *o;
    assert_int_equal(ilr_json_parse(text, strlen(text), "config.json", &o), 0);
    int64_t i = -1;
    assert_int_equal(ilr_json_get_int(o, "n", 1, "config.json", 0, 100, &i), 0);
    assert_int_equal(i, 12);
    assert_int_equal(ilr_json_get_int(o, "big", 1, "config.json", 0, 10000000, &i), 0);
    assert_int_equal(i, 1000000);
    ILR_EXPECT_ERROR(ilr_json_get_int(o, "n", 1, "config.json", 0, 10, &i), ILR_EFORMAT, "config.json",
                     "'n'", "12", "[0, 10]");
    ILR_EXPECT_ERROR(ilr_json_get_int(o, "half", 1, "config.json", 0, 10, &i), ILR_EFORMAT, "'half'", "2.5");
    ILR_EXPECT_ERROR(ilr_json_get_int(o, "name", 1, "config.json", 0, 10, &i), ILR_EFORMAT,
                     "config.json: key 'name': expected an integer, got string");
    i = 77;
    assert_int_equal(ilr_json_get_int(o, "absent", 0, "config.json", 0, 10, &i), 1);
    assert_int_equal(i, 77);
    ILR_EXPECT_ERROR(ilr_json_get_int(o, "absent", 1, "config.json", 0, 10, &i), ILR_ENOTFOUND, "'absent'");

    double d;
    assert_int_equal(ilr_json_get_number(o, "x", 1, "config.json", &d), 0);
    assert_true(d == 0.25);
    assert_int_equal(ilr_json_get_number(o, "n", 1, "config.json", &d), 0);
    assert_true(d == 12.0);
    ILR_EXPECT_ERROR(ilr_json_get_number(o, "flag", 1, "config.json", &d), ILR_EFORMAT, "'flag'", "boolean");
    int b = 0;
    assert_int_equal(ilr_json_get_bool(o, "flag", 1, "config.json", &b), 0);
    assert_int_equal(b, 1);
    ILR_EXPECT_ERROR(ilr_json_get_bool(o, "n", 1, "config.json", &b), ILR_EFORMAT, "'n'", "integer");
    const char *s;
    ILR_EXPECT_ERROR(ilr_json_get_string(o, "x", 1, "config.json", &s), ILR_EFORMAT, "'x'", "real");
    json_t *arr = json_array();
    ILR_EXPECT_ERROR(ilr_json_get_string(arr, "x", 1, "list.json", &s), ILR_EFORMAT, "list.json", "object",
                     "array");
    json_decref(arr);
    json_decref(o);
}

/* ---- progress, timer, log ---- */

static void test_progress_format(void **state) {
    (void)state;
    ilr_progress p;
    char line[256];
    ilr_progress_begin(&p, "train", 200, "tok");
    p.start = 100.0;
    p.done = 50;
    ilr_progress_format(&p, 110.0, line, sizeof line);
    assert_string_equal(line, "train: 50/200 tok (25%), 5.00 tok/s, ETA 30.0 s");
    ilr_progress_begin(&p, "eta", 66, "");
    p.start = 0;
    p.done = 1;
    ilr_progress_format(&p, 1.0, line, sizeof line);
    assert_string_equal(line, "eta: 1/66 (1%), 1.00/s, ETA 1m05s");
    ilr_progress_begin(&p, "read", 0, "B");
    p.start = 0;
    p.done = 1234;
    ilr_progress_format(&p, 10.0, line, sizeof line);
    assert_string_equal(line, "read: 1234 B, 123 B/s");
}

static void test_progress_output(void **state) {
    (void)state;
    ilr_progress p;
    char buf[512] = {0};
    ilr_progress_begin(&p, "load", 4, "files");
    p.stream = tmpfile();
    assert_non_null(p.stream);
    p.quiet = 0;
    p.is_tty = 1;
    p.last_draw = -1e9; /* due at once */
    ilr_progress_update(&p, 2);
    ilr_progress_add(&p, 2);   /* within 0.1 s of the last draw: no redraw */
    p.is_tty = 0;
    ilr_progress_end(&p);
    rewind(p.stream);
    size_t n = fread(buf, 1, sizeof buf - 1, p.stream);
    fclose(p.stream);
    print_message("progress output: %zu bytes\n", n);
    assert_true(strncmp(buf, "\rload: 2/4 files (50%)", 22) == 0);
    assert_non_null(strstr(buf, "\033[Kload: 4/4 files (100%)"));
    assert_non_null(strstr(buf, ", elapsed "));
    assert_int_equal(buf[n - 1], '\n');
}

static void test_format_duration_and_bytes(void **state) {
    (void)state;
    static const struct { double v; const char *want; } durations[] = {
        {0.85, "850 ms"}, {0.9996, "1.0 s"}, {12.34, "12.3 s"}, {59.97, "1m00s"},
        {245, "4m05s"}, {7980, "2h13m"}, {-1, "0 ms"},
    };
    static const struct { double v; const char *want; } sizes[] = {
        {512, "512 B"}, {1536, "1.50 KiB"}, {3.25 * 1048576, "3.25 MiB"},
        {2.0 * 1073741824, "2.00 GiB"}, {1048575, "1.00 MiB"},
    };
    char out[32];
    for (size_t i = 0; i < sizeof durations / sizeof durations[0]; i++) {
        ilr_format_duration(durations[i].v, out, sizeof out);
        assert_string_equal(out, durations[i].want);
    }
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        ilr_format_bytes(sizes[i].v, out, sizeof out);
        assert_string_equal(out, sizes[i].want);
    }
    ilr_timer t;
    ilr_timer_start(&t);
    double e = ilr_timer_elapsed(&t);
    assert_true(e >= 0 && e < 1.0);
}

static void test_log_levels(void **state) {
    (void)state;
    ilr_log_level level;
    assert_int_equal(ilr_log_parse_level("debug", &level), 0);
    assert_int_equal(level, ILR_LOG_DEBUG);
    ILR_EXPECT_ERROR(ilr_log_parse_level("loud", &level), ILR_EINVAL, "loud");
    ilr_log_level saved = ilr_log_get_level();
    ilr_log_set_level(ILR_LOG_WARN);
    assert_int_equal(ilr_log_get_level(), ILR_LOG_WARN);
    ILR_LOG_D("not shown at level warn");
    ilr_log_set_level(saved);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_rng_pcg_reference),
    cmocka_unit_test(test_rng_streams_and_determinism),
    cmocka_unit_test(test_rng_normal_moments),
    cmocka_unit_test(test_rng_below_and_uniform),
    cmocka_unit_test(test_arena_alignment_peak_exhaustion),
    cmocka_unit_test(test_atomic_commit_and_abort),
    cmocka_unit_test(test_atomic_missing_dir),
    cmocka_unit_test(test_atomic_failed_write_refused),
    cmocka_unit_test(test_file_map_and_read),
    cmocka_unit_test(test_mkdir_p_and_paths),
    cmocka_unit_test(test_resource_path),
    cmocka_unit_test(test_template_render),
    cmocka_unit_test(test_json_syntax_errors),
    cmocka_unit_test(test_json_save_and_load),
    cmocka_unit_test(test_json_getters),
    cmocka_unit_test(test_progress_format),
    cmocka_unit_test(test_progress_output),
    cmocka_unit_test(test_format_duration_and_bytes),
    cmocka_unit_test(test_log_levels),
};

ILR_TEST_GROUP(base, tests)
