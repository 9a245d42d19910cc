/* libFuzzer target: chat templates from outside input — ilr's template file format, and family detection
 * of a Jinja chat_template — each then rendering a fixed conversation.  The first byte picks which.
 * Seeds: fuzz/corpus/chat_template. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ilr/chat.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    ilr_chat_template *t = NULL;
    if (data[0] & 1) {
        ilr_chat_template_parse(&t, (const char *)data + 1, size - 1, "fuzz.txt");
    } else {
        char *jinja = malloc(size);
        memcpy(jinja, data + 1, size - 1);
        jinja[size - 1] = 0;
        ilr_chat_template_from_jinja(&t, jinja, "<s>", "fuzz.json");
        free(jinja);
    }
    if (!t) return 0;
    ilr_chat_message m[4] = {{"system", "Be brief.", NULL}, {"user", "Hi", NULL},
                             {"assistant", "<think>\nr\n</think>\n\nHello", NULL}, {"user", "Bye", NULL}};
    char *text;
    size_t len;
    if (ilr_chat_render(t, m, 4, ILR_CHAT_GENERATION | ILR_CHAT_NO_THINKING, &text, &len) == 0) free(text);
    ilr_chat_template_free(t);
    return 0;
}
