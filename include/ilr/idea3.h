/* Idea3, ILR's discussion protocol, as prompts: Idea Sharing (each agent answers alone, with the task's own
 * prompt), Idea Analysis (each agent critiques each peer's shared answer) and Idea Fusion (each agent reads
 * its own answer, its peers' answers and their critiques of its own, and writes its final solution).  This
 * module owns the stage templates of a task family (prompts/world/, prompts/idea3/math/, prompts/idea3/code/;
 * prompts/idea3/README.md) and assembles each stage's prompt text from the discussion so far.  Cooperative and
 * competitive discussions differ only in these templates' framing.
 *
 * Text passes between agents, never token ids: agents may have different tokenizers.  A peer text longer
 * than max_peer_tokens tokens of the reading agent's tokenizer keeps its last tokens, after a "[...] "
 * marker (the end holds the final answer); ilr_idea3_clip does it. */
#ifndef ILR_IDEA3_H
#define ILR_IDEA3_H

#include "ilr/interaction.h"
#include "ilr/tokenizer.h"

enum { ILR_STAGE_SHARE = 0, ILR_STAGE_ANALYSE = 1, ILR_STAGE_FUSE = 2 };

typedef struct {
    char dir[1024];
    char *analyse[2], *fuse[2];  /* indexed by ilr_stance */
    const char *review_separator; /* between peers' critiques in {{review}}: "\n" (world) or "\n\n" */
} ilr_idea3_prompts;

const char *ilr_idea3_stage_name(int stage); /* "share", "analyse", "fuse" */

/* Loads DIR/{coop,comp}_{analyse,fuse}.txt (DIR found with ilr_resource_path when relative).  world: the
 * world's templates, whose critiques are one line each. */
int ilr_idea3_prompts_load(ilr_idea3_prompts *p, const char *dir, int world);
void ilr_idea3_prompts_free(ilr_idea3_prompts *p);
/* The templates of a task type ("world-arith" -> prompts/world, "math", "code" -> prompts/idea3/TYPE). */
const char *ilr_idea3_default_dir(const char *task_type_name);

/* Idea Analysis: the critique prompt of a peer's solution (*out malloc'ed). */
int ilr_idea3_analyse_prompt(const ilr_idea3_prompts *p, ilr_stance s, const char *question, const char *peer_solution,
                             char **out);
/* Idea Fusion: the final-solution prompt (*out malloc'ed); peers[0..n) and reviews[0..n) in peer order. */
int ilr_idea3_fuse_prompt(const ilr_idea3_prompts *p, ilr_stance s, const char *question, const char *own_solution,
                          const char *const *peer_solutions, const char *const *reviews, int n, char **out);

/* A critique's verdict on a peer's answer, in free text (math and code; the world's critiques are checked
 * exactly): 1 when the last of "correct" and of "incorrect", "not correct", "wrong", "mistake", "error" that it
 * says is "correct" (right), 0 when it is one of the others (wrong), -1 when it says neither. */
int ilr_idea3_verdict(const char *text);

/* text as a peer reads it: unchanged when it has at most max_tokens tokens of tok, else "[...] " and the text
 * of its last max_tokens tokens (*out malloc'ed; *clipped set to whether it was cut). */
int ilr_idea3_clip(const ilr_tokenizer *tok, const char *text, int max_tokens, char **out, int *clipped);

#endif
