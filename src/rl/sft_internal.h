/* SFT's data side, shared by src/rl/sft.c and src/rl/sft_data.c (not a public header). */
#ifndef ILR_SFT_INTERNAL_H
#define ILR_SFT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "ilr/chat.h"
#include "ilr/sft.h"
#include "ilr/tokenizer.h"

typedef struct {
    size_t offset;   /* into sft_data.ids */
    int len;         /* prompt + response + eos (or truncated to seq) */
    int prompt_len;
    int level;
    char *prompt, *response, *answer; /* answer may be NULL */
} sft_example;

typedef struct {
    sft_example *ex;
    int n;
    int *ids;
    size_t num_ids;
    long response_tokens;
    int max_len, max_response, skipped, truncated;
    int *order;       /* the current epoch's permutation */
    long order_epoch;
} sft_data;

typedef struct {
    long epoch;
    int index; /* into the epoch's order */
} sft_cursor;

typedef struct {
    int T;
    int *tokens, *targets, *positions, *lengths;
    float *dlogprob;
    long target_count, real_tokens;
} sft_batch;

int sft_data_load(sft_data *d, const char *path, const ilr_tokenizer *tok, const ilr_chat_template *chat, int eos,
                  int seq);
void sft_data_free(sft_data *d);
int sft_batch_init(sft_batch *b, int rows, int T);
void sft_batch_free(sft_batch *b);
int sft_batch_fill(sft_data *d, sft_batch *b, sft_cursor *cur, int rows, int pack, uint64_t seed, int shuffle, int wrap);

#endif
