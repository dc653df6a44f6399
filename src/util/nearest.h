/* util/nearest.h — the known name nearest to a misspelt one, for "unknown
 * X 'splitwords'; did you mean 'split_words'?" messages.
 * Threading: pure (reads only its arguments). */
#ifndef GREGOR_UTIL_NEAREST_H
#define GREGOR_UTIL_NEAREST_H

#include <stddef.h>

/* Names longer than this are never proposed (nor compared). */
#define NEAREST_NAME_MAX 128

/* The edit distance (insertions, deletions, substitutions; ASCII letters
 * compared case-insensitively) between a and b, or SIZE_MAX when either is
 * longer than NEAREST_NAME_MAX. */
size_t nearest_distance(const char *a, const char *b);

/* Of the n names (borrowed; NULL entries skipped), the one nearest to
 * `word`, when it is close: at most 1 edit for words of up to 4 bytes,
 * else at most a third of the word's length (rounded up) (an exact match counts too).
 * The first of equally near names wins. NULL when none is close. */
const char *nearest_name(const char *word, const char *const *names, size_t n);

#endif
