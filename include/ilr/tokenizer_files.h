/* Tokenizer files beside a model: copying them into a model directory and taking the vocabulary size
 * and bos/eos ids from them.  (Only the JSON is read here; the tokenizer itself is src/tokenizer/.) */
#ifndef ILR_TOKENIZER_FILES_H
#define ILR_TOKENIZER_FILES_H

#include "ilr/model.h"

/* Reads dir/tokenizer.json and dir/tokenizer_config.json (optional): checks every token id fits in
 * cfg->vocab_size and sets cfg's bos/eos ids from the config's bos_token/eos_token. */
int ilr_tokenizer_files_apply(const char *dir, ilr_model_config *cfg);
/* Copies the tokenizer files src has (tokenizer.json, tokenizer_config.json, special_tokens_map.json,
 * vocab.json, merges.txt) into dst, atomically; none is fine; src == dst is a no-op. */
int ilr_tokenizer_files_copy(const char *src, const char *dst);

#endif
