/* Error reporting: message, code, source location, prefixing, clearing. */
#include <stdio.h>
#include <string.h>

#include "ilr/error.h"
#include "test_util.h"

static void test_error_set_and_read(void **state) {
    (void)state;
    int line = __LINE__ + 1;
    int rc = ILR_FAIL(ILR_EFORMAT, "%s: tensor '%s': bad", "m.safetensors", "w");
    assert_int_equal(rc, ILR_EFORMAT);
    assert_int_equal(ilr_last_error_code(), ILR_EFORMAT);
    assert_string_equal(ilr_last_error(), "m.safetensors: tensor 'w': bad");
    char where[64];
    snprintf(where, sizeof where, "tests/test_error.c:%d", line);
    assert_string_equal(ilr_last_error_source(), where);
    assert_string_equal(ilr_error_name(rc), "ILR_EFORMAT");
}

static void test_error_prefix_and_clear(void **state) {
    (void)state;
    ILR_FAIL(ILR_ENOTFOUND, "missing tensor 'x'");
    assert_int_equal(ilr_error_prefix("loading %s", "dir"), ILR_ENOTFOUND);
    assert_string_equal(ilr_last_error(), "loading dir: missing tensor 'x'");
    /* a message that already starts with the context is not prefixed again ("models/x: models/x: ...") */
    assert_int_equal(ilr_error_prefix("loading %s", "dir"), ILR_ENOTFOUND);
    assert_string_equal(ilr_last_error(), "loading dir: missing tensor 'x'");
    assert_int_equal(ilr_error_prefix("loading"), ILR_ENOTFOUND);
    assert_string_equal(ilr_last_error(), "loading: loading dir: missing tensor 'x'");
    ilr_error_clear();
    assert_int_equal(ilr_last_error_code(), 0);
    assert_string_equal(ilr_last_error(), "");
}

static void test_error_long_message_truncates(void **state) {
    (void)state;
    char big[3000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    ILR_FAIL(ILR_EINVAL, "%s", big);
    ilr_error_prefix("%s", big);
    assert_int_equal(strlen(ilr_last_error()), 1023);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_error_set_and_read),
    cmocka_unit_test(test_error_prefix_and_clear),
    cmocka_unit_test(test_error_long_message_truncates),
};

ILR_TEST_GROUP(error, tests)
