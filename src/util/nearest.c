/* util/nearest.c — see nearest.h. Levenshtein distance over two rows of at
 * most NEAREST_NAME_MAX + 1 cells on the stack: names are short, and the
 * lists compared (handlers, config keys) have tens of entries. */
#include "util/nearest.h"

#include <ctype.h>
#include <stdint.h>
#include <string.h>

static size_t min3(size_t a, size_t b, size_t c)
{
    size_t m = a < b ? a : b;
    return m < c ? m : c;
}

size_t nearest_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > NEAREST_NAME_MAX || lb > NEAREST_NAME_MAX)
        return SIZE_MAX;
    size_t rows[2][NEAREST_NAME_MAX + 1];
    size_t *prev = rows[0], *cur = rows[1];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        int ca = tolower((unsigned char)a[i - 1]);
        for (size_t j = 1; j <= lb; j++) {
            size_t subst = prev[j - 1] + (ca != tolower((unsigned char)b[j - 1]));
            cur[j] = min3(prev[j] + 1, cur[j - 1] + 1, subst);
        }
        size_t *t = prev;
        prev = cur;
        cur = t;
    }
    return prev[lb];
}

const char *nearest_name(const char *word, const char *const *names, size_t n)
{
    size_t len = strlen(word);
    size_t limit = len <= 4 ? 1 : (len + 2) / 3;
    const char *best = NULL;
    size_t best_d = SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
        if (!names[i])
            continue;
        size_t d = nearest_distance(word, names[i]);
        if (d <= limit && d < best_d) {
            best = names[i];
            best_d = d;
        }
    }
    return best;
}
