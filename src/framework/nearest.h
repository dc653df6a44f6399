/* framework/nearest.h — "did you mean": the known name closest to a
 * misspelt one, by edit distance (insertions, deletions, substitutions and
 * swaps of neighbours each cost 1). Pure functions, any thread. */
#ifndef GREGOR_FRAMEWORK_NEAREST_H
#define GREGOR_FRAMEWORK_NEAREST_H

#include <stddef.h>

/* The edit distance of a and b, or a value above `limit` (limit + 1) when
 * it is larger or either string is longer than 64 bytes. */
size_t fw_edit_distance(const char *a, const char *b, size_t limit);

/* The name among `names` (n entries, borrowed) nearest to `word`, or NULL
 * when none is near enough to be a likely typo: at most 1 edit for words
 * of up to 4 bytes, 2 up to 8, 3 beyond; failing that, a name that is the
 * word (4 bytes or more) and a tail after '_' or '.' ("linger" for
 * "linger_ms"). Ties go to the first. */
const char *fw_nearest(const char *word, const char *const *names, size_t n);

#endif
