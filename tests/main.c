/* Test runner: runs every group in tests/groups.h (or those whose name contains argv[1]) and ends with
 * "N passed, N failed". */
#include <stdio.h>
#include <string.h>

#include "test_util.h"

#define ILR_GROUP(name) int ilr_test_group_##name(int *count);
#include "groups.h"
#undef ILR_GROUP

typedef struct {
    const char *name;
    int (*run)(int *count);
} group_entry;

static const group_entry groups[] = {
#define ILR_GROUP(name) {#name, ilr_test_group_##name},
#include "groups.h"
#undef ILR_GROUP
};

int main(int argc, char **argv) {
    const char *filter = argc > 1 && argv[1][0] ? argv[1] : NULL;
    int total = 0, failed = 0, ran = 0;
    for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++) {
        if (filter && !strstr(groups[i].name, filter)) continue;
        int count = 0;
        int group_failed = groups[i].run(&count);
        total += count;
        failed += group_failed;
        ran++;
    }
    if (filter && ran == 0) {
        fprintf(stderr, "no test group matches '%s'\n", filter);
        return 2;
    }
    printf("\n%d groups: %d passed, %d failed\n", ran, total - failed, failed);
    return failed ? 1 : 0;
}
