/* workers/wordcount.c — the two stages of the word count (conf/wordcount.yaml):
 *
 * split_words  each word of a message's value to output 0 as key=word,
 *              value="1"; a word is a maximal run of ASCII letters and
 *              digits, lower-cased (anything else separates words).
 * count_words  per partition, a count per word (the input key); emits
 *              key=word, value=the word's running count in decimal. The
 *              words topic is keyed by word, so each word's messages are
 *              in one partition and the last count per key is the total.
 *
 * count_words keeps its counts in memory, per partition (partition_init /
 * partition_fini): they do not survive the partition moving to another
 * process, and a retried or re-consumed message is counted again
 * (at-least-once). The table is jansson's hash table (a json object of
 * integers; keys of any bytes through the *n_nocheck calls), behind a
 * mutex because with ordering `key` or `none` calls of one partition run
 * concurrently; with `partition` the mutex is never contended.
 */
#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "copy.h"

/* ------------------------------------------------------------ split_words */

static bool word_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static char lower(unsigned char c)
{
    return (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
}

static gregor_result split_words(gregor_ctx *ctx, const gregor_message *m)
{
    if (!m->value || m->value_len <= 0)
        return GREGOR_DONE;
    const unsigned char *v = m->value;
    size_t len = (size_t)m->value_len;
    /* Lower-cased words are written over a copy, one word at a time. */
    char small[256];
    char *word = len <= sizeof small ? small : malloc(len);
    if (!word) {
        gregor_ctx_set_error(ctx, "split_words: out of memory for a %zu-byte value", len);
        return GREGOR_RETRY;
    }
    gregor_result res = GREGOR_DONE;
    for (size_t i = 0; i < len;) {
        if (!word_byte(v[i])) {
            i++;
            continue;
        }
        size_t n = 0;
        for (; i < len && word_byte(v[i]); i++)
            word[n++] = lower(v[i]);
        gregor_err err = gregor_emit(ctx, NULL, word, n, "1", 1);
        if (err) {
            res = worker_emit_failed(err);
            break;
        }
    }
    if (word != small)
        free(word);
    return res;
}

static const gregor_handler split_words_handler = {
    .name = "split_words",
    .handle = split_words,
    .description = "emits each word of a line (letters and digits, lower-cased) as key=word, value=\"1\"",
};
GREGOR_HANDLER_DEFINE(split_words_handler)

/* ------------------------------------------------------------ count_words */

typedef struct counts {
    pthread_mutex_t lock;
    json_t *words; /* (lock) object: word -> integer */
} counts;

static gregor_err counts_init(void *state, const char *topic, int32_t partition, void **pstate)
{
    (void)state, (void)topic, (void)partition;
    counts *c = calloc(1, sizeof *c);
    if (!c)
        return GREGOR_ERR_NOMEM;
    c->words = json_object();
    if (!c->words) {
        free(c);
        return GREGOR_ERR_NOMEM;
    }
    pthread_mutex_init(&c->lock, NULL);
    *pstate = c;
    return GREGOR_OK;
}

static void counts_fini(gregor_ctx *ctx, void *pstate)
{
    (void)ctx;
    counts *c = pstate;
    if (!c)
        return;
    json_decref(c->words);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

/* Adds `delta` to the count of key (len bytes); the new count, or -1 when
 * out of memory. */
static json_int_t count_add(counts *c, const char *key, size_t len, json_int_t delta)
{
    json_int_t n = -1;
    pthread_mutex_lock(&c->lock);
    json_t *cur = json_object_getn(c->words, key, len);
    if (cur) {
        n = json_integer_value(cur) + delta;
        json_integer_set(cur, n);
    } else if (!json_object_setn_new_nocheck(c->words, key, len, json_integer(delta))) {
        n = delta;
    }
    pthread_mutex_unlock(&c->lock);
    return n;
}

static gregor_result count_words(gregor_ctx *ctx, const gregor_message *m)
{
    counts *c = gregor_ctx_partition_state(ctx);
    if (!c) {
        gregor_ctx_set_error(ctx, "count_words: no partition state (partition_init did not run)");
        return GREGOR_FAIL;
    }
    if (!m->key || m->key_len < 0) {
        gregor_ctx_set_error(ctx, "count_words: %s [%d] offset %lld has a null key (the word)", m->topic,
                             (int)m->partition, (long long)m->offset);
        return GREGOR_FAIL;
    }
    json_int_t n = count_add(c, m->key, (size_t)m->key_len, 1);
    if (n < 0) {
        gregor_ctx_set_error(ctx, "count_words: out of memory counting a word");
        return GREGOR_RETRY;
    }
    char value[24];
    int vlen = snprintf(value, sizeof value, "%lld", (long long)n);
    gregor_err err = gregor_emit(ctx, NULL, m->key, (size_t)m->key_len, value, (size_t)vlen);
    if (!err)
        return GREGOR_DONE;
    /* Not emitted: the retry (or the dead letter) must not count it twice. */
    (void)count_add(c, m->key, (size_t)m->key_len, -1);
    return worker_emit_failed(err);
}

static const gregor_handler count_words_handler = {
    .name = "count_words",
    .handle = count_words,
    .partition_init = counts_init,
    .partition_fini = counts_fini,
    .description = "counts each key (word) per partition; emits key=word, value=running count",
};
GREGOR_HANDLER_DEFINE(count_words_handler)
