/* protocol/error.c — names, descriptions and classes of gregor_err values
 * (gregor/error.h): gregor's local errors, and broker codes through the
 * table generated from Kafka's error list (protocol/gen/errors.c). */
#include "gregor/error.h"

#include <stddef.h>

#include "protocol/error_table.h"

typedef struct local_error {
    gregor_err err;
    const char *name;
    const char *desc;
    bool retriable;
} local_error;

static const local_error locals[] = {
    {GREGOR_OK, "OK", "success", false},
    {GREGOR_ERR_NOMEM, "ERR_NOMEM", "out of memory", false},
    {GREGOR_ERR_INVALID_ARG, "ERR_INVALID_ARG", "invalid argument", false},
    {GREGOR_ERR_TRUNCATED, "ERR_TRUNCATED", "input ended before the structure did", false},
    {GREGOR_ERR_MALFORMED, "ERR_MALFORMED", "bytes violate the wire format", false},
    {GREGOR_ERR_TOO_LARGE, "ERR_TOO_LARGE", "a length, count or size exceeds a limit", false},
    {GREGOR_ERR_CRC, "ERR_CRC", "checksum mismatch", false},
    {GREGOR_ERR_UNSUPPORTED, "ERR_UNSUPPORTED", "version, codec or feature not supported", false},
    {GREGOR_ERR_COMPRESSION, "ERR_COMPRESSION", "compression codec error", false},
    {GREGOR_ERR_TIMED_OUT, "ERR_TIMED_OUT", "timed out", true},
    {GREGOR_ERR_CONNECT, "ERR_CONNECT", "connection failed", true},
    {GREGOR_ERR_DISCONNECTED, "ERR_DISCONNECTED", "connection lost with the request in flight", true},
    {GREGOR_ERR_RESOLVE, "ERR_RESOLVE", "host name did not resolve", true},
    {GREGOR_ERR_CONFIG, "ERR_CONFIG", "unknown option or invalid value", false},
    {GREGOR_ERR_STATE, "ERR_STATE", "not allowed in the current state", false},
    {GREGOR_ERR_DESTROYED, "ERR_DESTROYED", "the object is shutting down", false},
    {GREGOR_ERR_NO_BROKERS, "ERR_NO_BROKERS", "no broker could be reached", true},
    {GREGOR_ERR_UNKNOWN_TOPIC, "ERR_UNKNOWN_TOPIC", "topic not in the cluster metadata", true},
    {GREGOR_ERR_QUEUE_FULL, "ERR_QUEUE_FULL", "a bounded queue is full", true},
    {GREGOR_ERR_IO, "ERR_IO", "an operating-system call failed", false},
    {GREGOR_ERR_UNKNOWN_SERVER, "UNKNOWN_SERVER_ERROR", "unexpected error on the broker", false},
    {GREGOR_ERR_MAX_POLL_EXCEEDED, "ERR_MAX_POLL_EXCEEDED",
     "the application did not poll within max_poll_interval_ms: the member left its group", false},
    {GREGOR_ERR_NOT_ASSIGNED, "ERR_NOT_ASSIGNED", "the partition is not assigned to this group member", false},
};

static const local_error *find_local(gregor_err err)
{
    for (size_t i = 0; i < sizeof locals / sizeof locals[0]; i++)
        if (locals[i].err == err)
            return &locals[i];
    return NULL;
}

static const proto_error_info *find_broker(gregor_err err)
{
    if ((int)err <= 0 || (int)err >= proto_error_table_size || !proto_error_table[err].name)
        return NULL;
    return &proto_error_table[err];
}

gregor_err gregor_err_from_broker(int16_t code)
{
    if (code == 0)
        return GREGOR_OK;
    if (code == -1)
        return GREGOR_ERR_UNKNOWN_SERVER;
    if (code < 0) /* not a code Kafka defines */
        return GREGOR_ERR_MALFORMED;
    return (gregor_err)code;
}

const char *gregor_err_name(gregor_err err)
{
    const local_error *l = find_local(err);
    if (l)
        return l->name;
    const proto_error_info *b = find_broker(err);
    return b ? b->name : "UNKNOWN_ERROR";
}

const char *gregor_err_str(gregor_err err)
{
    const local_error *l = find_local(err);
    if (l)
        return l->desc;
    /* Broker errors are best described by Kafka's own names, which the
     * Kafka documentation and every client's logs use too. */
    const proto_error_info *b = find_broker(err);
    return b ? b->name : "unknown error code";
}

bool gregor_err_is_retriable(gregor_err err)
{
    const local_error *l = find_local(err);
    if (l)
        return l->retriable;
    const proto_error_info *b = find_broker(err);
    return b && b->retriable;
}

bool gregor_err_invalidates_metadata(gregor_err err)
{
    if (err == GREGOR_ERR_DISCONNECTED || err == GREGOR_ERR_CONNECT)
        return true;
    const proto_error_info *b = find_broker(err);
    return b && b->invalid_metadata;
}
