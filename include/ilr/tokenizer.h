/* Byte-level BPE tokenizers from Hugging Face tokenizer.json files (Qwen2/Qwen2.5/Qwen3, Llama-3), giving
 * exactly the ids Hugging Face's tokenizers give.
 *
 * Encoding: the text is split on added tokens (leftmost-longest; special ones only when asked), each
 * remaining span is normalised (NFC or none, as the file says), split by the pre-tokenizer regex (PCRE2,
 * Unicode properties, JIT), mapped to bytes, and merged by BPE rank.  Decoding concatenates the tokens'
 * bytes; the streaming decoder holds back bytes that do not yet form complete UTF-8.  Input that is not
 * valid UTF-8 is encoded with each invalid byte replaced by U+FFFD (Hugging Face accepts only valid text). */
#ifndef ILR_TOKENIZER_H
#define ILR_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

typedef struct ilr_tokenizer ilr_tokenizer;

/* Loads path: a tokenizer.json file, or a directory holding tokenizer.json (and tokenizer_config.json). */
int ilr_tok_load(ilr_tokenizer **out, const char *path);
/* Parses tokenizer.json text held in memory (name is used in messages). */
int ilr_tok_parse(ilr_tokenizer **out, const char *json, size_t len, const char *name);
void ilr_tok_free(ilr_tokenizer *t);

/* One more than the largest id (vocabulary and added tokens). */
int ilr_tok_vocab_size(const ilr_tokenizer *t);
/* A token's text as stored in tokenizer.json ("Ġthe", "<|im_end|>"), or NULL for an unknown id. */
const char *ilr_tok_piece(const ilr_tokenizer *t, int id);
/* The id of a piece (as stored in tokenizer.json), or -1. */
int ilr_tok_id(const ilr_tokenizer *t, const char *piece);
/* 1 when id is an added token marked special. */
int ilr_tok_is_special(const ilr_tokenizer *t, int id);

typedef struct {
    int *ids;
    int count, cap;
} ilr_tok_ids;

void ilr_tok_ids_free(ilr_tok_ids *ids);

enum {
    ILR_TOK_SPECIAL = 1,     /* recognise special tokens written in the text (Hugging Face's default) */
    ILR_TOK_ADD_SPECIAL = 2, /* apply the post-processor's template (e.g. a BOS token), if the file has one */
};

/* Appends the ids of text[len] to out (out->count is not reset, so callers can build sequences). */
int ilr_tok_encode(const ilr_tokenizer *t, const char *text, size_t len, unsigned flags, ilr_tok_ids *out);

enum {
    ILR_TOK_SKIP_SPECIAL = 1, /* decode: leave special tokens out */
    ILR_TOK_NO_CLEANUP = 2,   /* decode: ignore tokenizer_config.json's clean_up_tokenization_spaces */
};

/* The text of ids; *text is malloc'ed and NUL-terminated.  Byte sequences that are not valid UTF-8 become
 * U+FFFD, and (when the tokenizer's config asks for it) " ." becomes "." and so on, as Hugging Face's
 * decode does.  With ILR_TOK_NO_CLEANUP, decode(encode(s)) == s for every valid (normalised) s. */
int ilr_tok_decode(const ilr_tokenizer *t, const int *ids, int n, unsigned flags, char **text, size_t *len);

/* Streaming decode: push one id at a time; what is returned is always complete UTF-8. */
typedef struct {
    unsigned char pending[8];
    int npending;
} ilr_tok_stream;

void ilr_tok_stream_init(ilr_tok_stream *s);
/* Writes the newly completed text for id into out (cap >= 4 + the token's length; 256 always suffices
 * for the files ilr knows, ilr_tok_max_piece_bytes tells) and returns its length, or a negative ILR_E*. */
int ilr_tok_stream_push(const ilr_tokenizer *t, ilr_tok_stream *s, int id, char *out, size_t cap);
/* At the end: whatever is still held back, as U+FFFD per invalid byte.  Returns its length. */
int ilr_tok_stream_flush(ilr_tok_stream *s, char *out, size_t cap);
size_t ilr_tok_max_piece_bytes(const ilr_tokenizer *t);

#endif
