/* gregor/message.h — what producers take and consumers give back: record
 * headers share one type, so a consumed message's headers can be produced
 * again as they are.
 *
 * Threading: plain data.
 */
#ifndef GREGOR_MESSAGE_H
#define GREGOR_MESSAGE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A record header. `key` is not NUL-terminated (key_len bytes); `value`
 * NULL or value_len -1 is a null value. As consumer output: views valid as
 * long as their message. As producer input: borrowed for the call. */
typedef struct gregor_header {
    const char *key;
    size_t key_len;
    const void *value;
    int32_t value_len;
} gregor_header;

#ifdef __cplusplus
}
#endif
#endif
