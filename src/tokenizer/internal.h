/* The tokenizer's private state, shared by its files (load, encode, decode, utf8). */
#ifndef ILR_TOKENIZER_INTERNAL_H
#define ILR_TOKENIZER_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stddef.h>
#include <stdint.h>

#include "ilr/hashmap.h"
#include "ilr/tokenizer.h"

typedef struct {
    char *content;
    size_t len;
    int id;
    int special, lstrip, rstrip, single_word;
} ilr_added_token;

/* Pieces and their bytes live in 1 MiB chunks: 300k separate mallocs cost a page fault every few. */
typedef struct ilr_tok_chunk {
    struct ilr_tok_chunk *next;
    size_t used, cap;
    char data[];
} ilr_tok_chunk;

struct ilr_tokenizer {
    ilr_tok_chunk *chunks;
    int vocab_size;           /* max id + 1 */
    char **pieces;            /* id -> piece as in tokenizer.json, NULL for holes */
    unsigned char **bytes;    /* id -> the bytes it decodes to */
    uint32_t *byte_len;
    unsigned char *special;   /* id -> 1 for special added tokens */
    ilr_strmap piece_ids;     /* piece -> id (vocabulary and added tokens) */
    ilr_strmap bpe_ids;       /* a BPE token's bytes -> id (vocabulary only) */
    int byte_token[256];      /* the id of each single byte, -1 when the vocabulary lacks it */
    ilr_u64map merges;        /* (left id << 32 | right id) -> (rank << 32 | merged id) */
    ilr_added_token *added;   /* sorted by length, longest first */
    int num_added;
    int normalize_nfc;
    int ignore_merges;
    int add_prefix_space;
    pcre2_code *split;        /* the pre-tokenizer regex, NULL: the whole span is one word */
    int *prefix, nprefix;     /* post-processor template around the text (ILR_TOK_ADD_SPECIAL) */
    int *suffix, nsuffix;
    size_t max_piece_bytes;
    int cleanup_spaces;       /* tokenizer_config.json's clean_up_tokenization_spaces */
};

/* GPT-2's byte <-> unicode map used by ByteLevel: byte b is shown as code point byte_char[b]. */
void ilr_bytelevel_tables(uint32_t byte_char[256]);
/* Decodes a piece written in ByteLevel characters to bytes (out: at least strlen(piece) bytes).  Returns the
 * byte count, or -1 when a character is not a ByteLevel character. */
int ilr_bytelevel_decode(const char *piece, size_t len, unsigned char *out);

/* Length of the valid UTF-8 character at s[0..n), or -(length of the maximal invalid subpart) when there
 * is none (Unicode's "maximal subpart" rule, which Rust's from_utf8_lossy and WHATWG decoders follow).
 * *complete is 0 when the subpart is a valid but unfinished prefix cut by the end of the input. */
int ilr_utf8_next(const unsigned char *s, size_t n, int *complete);
/* Copies src to a new buffer with every invalid subpart replaced by U+FFFD. */
char *ilr_utf8_sanitize(const char *src, size_t len, size_t *out_len);

#endif
