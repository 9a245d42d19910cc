/* Training a byte-level BPE tokenizer from text, as Hugging Face tokenizers' BpeTrainer does, and writing
 * it as a tokenizer.json + tokenizer_config.json pair that ilr_tok_load and Hugging Face loaders read with
 * identical ids.
 *
 * Each text fed is split on the special tokens (they are never learned as text), each span normalised
 * (NFC when asked) and split by the pre-tokenizer regex exactly as ilr_tok_encode does; the words are
 * counted.  The vocabulary starts with the 256 bytes (ids 0..255, in the order of their ByteLevel
 * characters' code points, as GPT-2's vocabulary has them) and grows by merging, again and again, the
 * adjacent pair of tokens that occurs most often over all words (ties: the pair with the smaller left id,
 * then the smaller right id, as Hugging Face orders them); the merged token takes the next id.  Training
 * stops when the vocabulary (special tokens included) has vocab_size entries or no pair occurs
 * min_frequency times.  The special tokens get the ids after the vocabulary.
 *
 * Usage: ilr_tok_trainer_new, ilr_tok_trainer_feed / _feed_file for every text, ilr_tok_trainer_run once,
 * then ilr_tok_trainer_save (or _json), ilr_tok_trainer_free. */
#ifndef ILR_TOKENIZER_TRAIN_H
#define ILR_TOKENIZER_TRAIN_H

#include <stddef.h>
#include <stdint.h>

/* The pre-tokenizer regexes: Qwen2's (digits one at a time), Llama-3's (digits in groups of up to 3),
 * GPT-2's. */
typedef enum { ILR_TOK_REGEX_QWEN2 = 0, ILR_TOK_REGEX_LLAMA3 = 1, ILR_TOK_REGEX_GPT2 = 2 } ilr_tok_regex;

/* The regex's name ("qwen2") and pattern (as written into tokenizer.json). */
const char *ilr_tok_regex_name(ilr_tok_regex regex);
const char *ilr_tok_regex_pattern(ilr_tok_regex regex);
/* Parses "qwen2", "llama3" or "gpt2"; ILR_EINVAL otherwise. */
int ilr_tok_regex_parse(const char *name, ilr_tok_regex *out);

typedef struct {
    int vocab_size;               /* the whole vocabulary: 256 bytes + merges + special tokens */
    int64_t min_frequency;        /* a pair is merged only if it occurs at least this often; 0 means 2 */
    const char *const *specials;  /* special tokens (e.g. "<|endoftext|>"); the first is the EOS token */
    int num_specials;
    ilr_tok_regex regex;
    int nfc;                      /* normalise to NFC before splitting */
    int max_token_bytes;          /* no token longer than this many bytes; 0 means 256 (at most 500) */
    int progress;                 /* show progress on stderr */
} ilr_tok_train_options;

typedef struct {
    int64_t bytes;          /* bytes of text fed */
    int64_t words;          /* words (pre-tokenizer pieces) counted */
    int64_t distinct_words;
    int merges;             /* merges learned */
    int vocab_size;         /* the resulting vocabulary, special tokens included */
    int stopped_by_frequency; /* 1: no pair reached min_frequency before the vocabulary was full */
    int64_t last_count;     /* how often the last merged pair occurred */
    double count_seconds, merge_seconds;
} ilr_tok_train_stats;

typedef struct ilr_tok_trainer ilr_tok_trainer;

/* Checks the options (vocab_size at least 256 + the special tokens, distinct non-empty valid UTF-8 special
 * tokens) and compiles the regex. */
int ilr_tok_trainer_new(ilr_tok_trainer **out, const ilr_tok_train_options *opt);
void ilr_tok_trainer_free(ilr_tok_trainer *t);
/* Counts the words of one text (invalid UTF-8 is replaced by U+FFFD first, as ilr_tok_encode does). */
int ilr_tok_trainer_feed(ilr_tok_trainer *t, const char *text, size_t len);
/* Feeds the whole file at path as one text. */
int ilr_tok_trainer_feed_file(ilr_tok_trainer *t, const char *path);
/* Feeds n files, each as one text, after checking that all of them exist (with a progress bar when the
 * options ask for one). */
int ilr_tok_trainer_feed_files(ilr_tok_trainer *t, const char *const *paths, int n);
/* Learns the merges from the words counted so far (once); ILR_EINVAL when nothing was fed. */
int ilr_tok_trainer_run(ilr_tok_trainer *t, ilr_tok_train_stats *stats);
/* The merges learned, in order: left and right token ids, and the merged token's id. */
int ilr_tok_trainer_num_merges(const ilr_tok_trainer *t);
void ilr_tok_trainer_merge(const ilr_tok_trainer *t, int i, int *left, int *right, int *merged);
/* A token's text as tokenizer.json has it (ByteLevel characters, or a special token's content). */
const char *ilr_tok_trainer_piece(const ilr_tok_trainer *t, int id);
/* tokenizer.json's text (malloc'ed, NUL-terminated, ending with a newline). */
int ilr_tok_trainer_json(const ilr_tok_trainer *t, char **text, size_t *len);
/* Writes dir/tokenizer.json and dir/tokenizer_config.json atomically, creating dir if needed. */
int ilr_tok_trainer_save(const ilr_tok_trainer *t, const char *dir);

#endif
