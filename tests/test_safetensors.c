/* safetensors: the corrupted-file corpus (each rejected with its own message), valid files read back
 * exactly, number conversions, and the writer. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ilr/error.h"
#include "ilr/safetensors.h"
#include "test_util.h"

#define CORPUS "tests/data/safetensors"

static int code_from_name(const char *name) {
    for (int c = 0; c >= -7; c--)
        if (strcmp(ilr_error_name(c), name) == 0) return c;
    return 1;
}

/* Every file in bad/ fails to open with the code and phrase EXPECTED lists, and the message names the
 * file.  (The corpus is written by tests/data/safetensors/make_corpus.py.) */
static void test_corrupt_corpus_rejected(void **state) {
    (void)state;
    FILE *manifest = fopen(CORPUS "/bad/EXPECTED", "r");
    assert_non_null(manifest);
    char line[512];
    int checked = 0;
    while (fgets(line, sizeof line, manifest)) {
        if (line[0] == '#') continue;
        line[strcspn(line, "\n")] = 0;
        char *file = strtok(line, "\t"), *code = strtok(NULL, "\t"), *phrase = strtok(NULL, "\t");
        assert_non_null(phrase);
        char path[256];
        snprintf(path, sizeof path, CORPUS "/bad/%s", file);
        ilr_st_file f;
        int rc = ilr_st_open(&f, path);
        ILR_EXPECT_ERROR(rc, code_from_name(code), phrase, path);
        checked++;
    }
    fclose(manifest);
    print_message("safetensors corpus: %d corrupted files, each rejected with its own message\n", checked);
    assert_true(checked >= 15);
}

static void test_good_files_read_exactly(void **state) {
    (void)state;
    ilr_st_file f;
    assert_int_equal(ilr_st_open(&f, CORPUS "/good/mixed_dtypes.safetensors"), 0);
    assert_int_equal(f.num_tensors, 3);
    const ilr_st_tensor *w = ilr_st_find(&f, "w"), *h = ilr_st_find(&f, "h"), *s = ilr_st_find(&f, "f");
    assert_non_null(w);
    assert_int_equal(w->dtype, ILR_DTYPE_BF16);
    assert_int_equal(w->ndim, 2);
    float out[4];
    assert_int_equal(ilr_st_read_f32(&f, w, out), 0);
    float want_w[4] = {1.0f, -2.0f, 1.5f, 0.0f};
    assert_memory_equal(out, want_w, sizeof want_w);
    assert_int_equal(ilr_st_read_f32(&f, h, out), 0);
    assert_true(out[0] == 1.0f && out[1] == -ldexpf(1.0f, -24)); /* 0x8001: the smallest negative subnormal */
    assert_int_equal(ilr_st_read_f32(&f, s, out), 0);
    assert_true(out[0] == 0.25f);
    assert_null(ilr_st_find(&f, "nope"));
    ilr_st_close(&f);

    assert_int_equal(ilr_st_open(&f, CORPUS "/good/two_f32.safetensors"), 0);
    assert_string_equal(json_string_value(json_object_get(f.metadata, "format")), "pt");
    ilr_st_close(&f);
    assert_int_equal(ilr_st_open(&f, CORPUS "/good/empty.safetensors"), 0);
    assert_int_equal(f.num_tensors, 0);
    ilr_st_close(&f);
    assert_int_equal(ilr_st_open(&f, CORPUS "/good/scalar_and_zero_size.safetensors"), 0);
    assert_int_equal(ilr_st_find(&f, "s")->ndim, 0);
    assert_int_equal(ilr_st_find(&f, "z")->numel, 0);
    ilr_st_close(&f);
}

static void test_non_float_dtype_not_read_as_weights(void **state) {
    (void)state;
    /* A valid I32 tensor parses, but reading it as weights is refused by name. */
    const char header[] = "{\"ids\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
    uint8_t buf[8 + sizeof header - 1 + 4] = {0};
    buf[0] = (uint8_t)(sizeof header - 1);
    memcpy(buf + 8, header, sizeof header - 1);
    ilr_st_file f;
    assert_int_equal(ilr_st_parse(&f, buf, sizeof buf, "ids.safetensors"), 0);
    float out[1];
    ILR_EXPECT_ERROR(ilr_st_read_f32(&f, &f.tensors[0], out), ILR_EUNSUPPORTED, "ids.safetensors", "'ids'", "I32");
    ilr_st_close(&f);
}

static uint32_t bits_of(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float float_of(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static void test_bf16_rounds_to_nearest_even(void **state) {
    (void)state;
    static const struct { uint32_t in; uint16_t out; } cases[] = {
        {0x3f800000, 0x3f80}, /* 1.0 exact */
        {0x3f808000, 0x3f80}, /* halfway, even below: stays */
        {0x3f818000, 0x3f82}, /* halfway, odd below: rounds up to even */
        {0x3f807fff, 0x3f80}, /* just under half: down */
        {0x3f808001, 0x3f81}, /* just over half: up */
        {0xbf808001, 0xbf81}, /* negative, magnitude rounds the same */
        {0x7f7fffff, 0x7f80}, /* FLT_MAX rounds to infinity */
        {0x7f800000, 0x7f80}, /* +inf */
        {0xff800000, 0xff80}, /* -inf */
        {0x00000001, 0x0000}, /* tiny subnormal to zero */
        {0x80000000, 0x8000}, /* -0 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(ilr_f32_to_bf16(float_of(cases[i].in)), cases[i].out);
    uint16_t nan = ilr_f32_to_bf16(float_of(0x7f800001)); /* a NaN whose payload is in the low bits only */
    assert_true(isnan(ilr_bf16_to_f32(nan)));
    assert_int_equal(bits_of(ilr_bf16_to_f32(0xc040)), 0xc0400000);
}

static void test_f16_to_f32(void **state) {
    (void)state;
    assert_true(ilr_f16_to_f32(0x3c00) == 1.0f);
    assert_true(ilr_f16_to_f32(0xc000) == -2.0f);
    assert_true(ilr_f16_to_f32(0x7bff) == 65504.0f);
    assert_true(ilr_f16_to_f32(0x0001) == ldexpf(1.0f, -24));
    assert_true(ilr_f16_to_f32(0x03ff) == ldexpf(1023.0f, -24)); /* largest subnormal */
    assert_true(ilr_f16_to_f32(0x0400) == ldexpf(1.0f, -14));   /* smallest normal */
    assert_true(isinf(ilr_f16_to_f32(0xfc00)) && ilr_f16_to_f32(0xfc00) < 0);
    assert_true(isnan(ilr_f16_to_f32(0x7e00)));
    assert_int_equal(bits_of(ilr_f16_to_f32(0x8000)), 0x80000000);
}

static void test_write_then_read(void **state) {
    (void)state;
    char dir[256], path[300];
    ilr_test_tmpdir(dir, "st");
    snprintf(path, sizeof path, "%s/w.safetensors", dir);
    float a[6] = {1.0f, -0.5f, 3.14159265f, 1e-30f, -7e20f, 0.0f}, b[3] = {2.0f, 1.00390625f, 1.01171875f};
    ilr_st_entry entries[2] = {{.name = "a", .data = a, .ndim = 2, .shape = {2, 3}},
                               {.name = "b.bias", .data = b, .ndim = 1, .shape = {3}}};
    const char *meta[] = {"written_by", "ilr tests", NULL};
    for (int pass = 0; pass < 2; pass++) {
        ilr_dtype dtype = pass ? ILR_DTYPE_BF16 : ILR_DTYPE_F32;
        assert_int_equal(ilr_st_write(path, entries, 2, dtype, meta), 0);
        ilr_st_file f;
        assert_int_equal(ilr_st_open(&f, path), 0);
        assert_int_equal((f.data - f.map.data) % 8, 0); /* data section 8-byte aligned */
        assert_string_equal(json_string_value(json_object_get(f.metadata, "format")), "pt");
        assert_string_equal(json_string_value(json_object_get(f.metadata, "written_by")), "ilr tests");
        const ilr_st_tensor *ta = ilr_st_find(&f, "a"), *tb = ilr_st_find(&f, "b.bias");
        assert_int_equal(ta->dtype, dtype);
        assert_true(ta->shape[0] == 2 && ta->shape[1] == 3 && tb->shape[0] == 3);
        float got[6];
        assert_int_equal(ilr_st_read_f32(&f, ta, got), 0);
        for (int i = 0; i < 6; i++) {
            float want = pass ? ilr_bf16_to_f32(ilr_f32_to_bf16(a[i])) : a[i];
            assert_int_equal(bits_of(got[i]), bits_of(want));
        }
        assert_int_equal(ilr_st_read_f32(&f, tb, got), 0);
        if (pass) assert_true(got[1] == 1.0f && got[2] == 1.015625f); /* ties to even: down, then up */
        ilr_st_close(&f);
    }
    ILR_EXPECT_ERROR(ilr_st_write(path, entries, 2, ILR_DTYPE_F16, NULL), ILR_EUNSUPPORTED, "F16");
    ilr_test_rmtree(dir);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_corrupt_corpus_rejected),
    cmocka_unit_test(test_good_files_read_exactly),
    cmocka_unit_test(test_non_float_dtype_not_read_as_weights),
    cmocka_unit_test(test_bf16_rounds_to_nearest_even),
    cmocka_unit_test(test_f16_to_f32),
    cmocka_unit_test(test_write_then_read),
};

ILR_TEST_GROUP(safetensors, tests)
