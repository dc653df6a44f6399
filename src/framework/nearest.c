/* framework/nearest.c — optimal string alignment distance over bytes, with
 * a bound so that long or very different words cost little. Config keys are
 * short ASCII names; a bound of 64 bytes keeps the table on the stack. */
#include <string.h>

#include "framework/nearest.h"

#define WORD_MAX 64

static size_t min3(size_t a, size_t b, size_t c)
{
    size_t m = a < b ? a : b;
    return m < c ? m : c;
}

size_t fw_edit_distance(const char *a, const char *b, size_t limit)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > WORD_MAX || lb > WORD_MAX || (la > lb ? la - lb : lb - la) > limit)
        return limit + 1;
    /* Three rows: i-2 (for swaps), i-1 and i. */
    size_t rows[3][WORD_MAX + 1];
    for (size_t j = 0; j <= lb; j++)
        rows[1][j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t *cur = rows[(i + 1) % 3], *prev = rows[i % 3], *prev2 = rows[(i + 2) % 3];
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = a[i - 1] != b[j - 1];
            cur[j] = min3(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost);
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && prev2[j - 2] + 1 < cur[j])
                cur[j] = prev2[j - 2] + 1;
        }
    }
    size_t d = rows[(la + 1) % 3][lb];
    return d > limit ? limit + 1 : d;
}

const char *fw_nearest(const char *word, const char *const *names, size_t n)
{
    size_t len = strlen(word);
    size_t limit = len <= 4 ? 1 : len <= 8 ? 2 : 3;
    const char *best = NULL;
    size_t best_d = limit + 1;
    for (size_t i = 0; i < n; i++) {
        size_t d = fw_edit_distance(word, names[i], limit);
        if (d < best_d) {
            best_d = d;
            best = names[i];
        }
    }
    if (best || len < 4)
        return best;
    /* A name missing its tail, as 'linger' for 'linger_ms': the first
     * known name that starts with the word and a '_' or '.'. */
    for (size_t i = 0; i < n; i++)
        if (!strncmp(names[i], word, len) && (names[i][len] == '_' || names[i][len] == '.'))
            return names[i];
    return NULL;
}
