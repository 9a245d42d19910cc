/* Chat templates: a list of system/user/assistant messages rendered to the exact text transformers'
 * apply_chat_template produces, for the template families ilr recognises in tokenizer_config.json's
 * chat_template (Jinja is not interpreted: each family is implemented and tested against references):
 *   qwen3    ChatML with Qwen3's <think> handling of assistant turns after the last user query
 *   qwen2.5  ChatML with Qwen2.5's default system prompt
 *   chatml   plain ChatML (<|im_start|>role\ncontent<|im_end|>\n)
 *   llama3   Llama-3 headers (<|start_header_id|>role<|end_header_id|>\n\n content.strip() <|eot_id|>)
 * Any other template is refused with a message naming --chat-template FILE: a template file of ilr's own
 * (see ilr_chat_template_parse_file) that covers what these families have in common. */
#ifndef ILR_CHAT_H
#define ILR_CHAT_H

#include <stddef.h>

typedef struct {
    const char *role;    /* "system", "user" or "assistant" */
    const char *content;
    const char *reasoning_content; /* an assistant turn's reasoning (Qwen3's <think> block), or NULL */
} ilr_chat_message;

enum {
    ILR_CHAT_GENERATION = 1,  /* end with the assistant header the model continues from */
    ILR_CHAT_NO_THINKING = 2, /* Qwen3's enable_thinking=false: an empty <think> block after that header */
};

typedef struct ilr_chat_template ilr_chat_template;

/* From a model or tokenizer directory's tokenizer_config.json (chat_template and bos_token). */
int ilr_chat_template_load(ilr_chat_template **out, const char *dir);
/* From a template's Jinja text (family detection only) and the bos token ("" when none). */
int ilr_chat_template_from_jinja(ilr_chat_template **out, const char *jinja, const char *bos_token, const char *name);
/* ilr's own format, one directive per line (\n, \t and \\ escapes; {content} is the message text):
 *   bos: TEXT              put once before everything
 *   system: TEXT           a system message, e.g. <|im_start|>system\n{content}<|im_end|>\n
 *   user: TEXT / assistant: TEXT
 *   generation: TEXT       appended when a generation prompt is asked for
 *   default_system: TEXT   content of a system message inserted when the conversation has none
 *   strip: yes             strip whitespace around each message's content
 * Lines starting with # are comments. */
int ilr_chat_template_parse_file(ilr_chat_template **out, const char *path);
/* The same format from text in memory (name is used in messages). */
int ilr_chat_template_parse(ilr_chat_template **out, const char *text, size_t len, const char *name);
void ilr_chat_template_free(ilr_chat_template *t);
const char *ilr_chat_template_family(const ilr_chat_template *t);

/* Renders messages with ILR_CHAT_* flags; *text is malloc'ed and NUL-terminated. */
int ilr_chat_render(const ilr_chat_template *t, const ilr_chat_message *messages, int n, unsigned flags, char **text,
                    size_t *len);

#endif
