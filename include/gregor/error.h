/* gregor/error.h — the one result type of the gregor API.
 *
 * Threading: every function here is pure and may be called from any thread.
 *
 * A gregor_err is either GREGOR_OK (0), a local error (negative, below), or a
 * Kafka broker error code (positive, the broker's own number: 6 is
 * NOT_LEADER_OR_FOLLOWER, 35 is UNSUPPORTED_VERSION, ...). The broker's
 * UNKNOWN_SERVER_ERROR (-1 on the wire) maps to GREGOR_ERR_UNKNOWN_SERVER.
 * gregor_err_from_broker() is the one place broker codes are converted.
 */
#ifndef GREGOR_ERROR_H
#define GREGOR_ERROR_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define GREGOR_MUST_CHECK __attribute__((warn_unused_result))
#else
#define GREGOR_MUST_CHECK
#endif

typedef enum gregor_err {
    GREGOR_OK = 0,
    GREGOR_ERR_NOMEM = -1,          /* an allocation failed */
    GREGOR_ERR_INVALID_ARG = -2,    /* the caller passed something out of range */
    GREGOR_ERR_TRUNCATED = -3,      /* input ended before the structure did */
    GREGOR_ERR_MALFORMED = -4,      /* bytes violate the wire format */
    GREGOR_ERR_TOO_LARGE = -5,      /* a length, count or size exceeds a limit */
    GREGOR_ERR_CRC = -6,            /* a checksum does not match */
    GREGOR_ERR_UNSUPPORTED = -7,    /* version, codec or feature not supported */
    GREGOR_ERR_COMPRESSION = -8,    /* a codec library reported an error */
    GREGOR_ERR_TIMED_OUT = -9,      /* a request or operation timed out */
    GREGOR_ERR_CONNECT = -10,       /* a connection could not be established */
    GREGOR_ERR_DISCONNECTED = -11,  /* the connection was lost with the request in flight */
    GREGOR_ERR_RESOLVE = -12,       /* a host name did not resolve */
    GREGOR_ERR_CONFIG = -13,        /* unknown option or invalid value */
    GREGOR_ERR_STATE = -14,         /* the object is not in a state that allows this */
    GREGOR_ERR_DESTROYED = -15,     /* the object is shutting down */
    GREGOR_ERR_NO_BROKERS = -16,    /* no broker could be reached */
    GREGOR_ERR_UNKNOWN_TOPIC = -17, /* the topic is not in the cluster metadata */
    GREGOR_ERR_QUEUE_FULL = -18,    /* a bounded queue is full */
    GREGOR_ERR_IO = -19,            /* an operating-system call failed */
    GREGOR_ERR_UNKNOWN_SERVER = -20, /* broker code -1, UNKNOWN_SERVER_ERROR */
    GREGOR_ERR_MAX_POLL_EXCEEDED = -21, /* a group member was not polled in time and left its group */
    GREGOR_ERR_NOT_ASSIGNED = -22   /* a group member does not own the partition (any more) */
} gregor_err;

/* Converts a broker error code from a response into a gregor_err.
 * 0 -> GREGOR_OK, -1 -> GREGOR_ERR_UNKNOWN_SERVER, n > 0 -> n. */
gregor_err gregor_err_from_broker(int16_t code);

/* A static, never NULL, upper-case name: "NOT_LEADER_OR_FOLLOWER", "ERR_TIMED_OUT".
 * Unknown values give "UNKNOWN_ERROR". */
const char *gregor_err_name(gregor_err err);

/* A static, never NULL, one-line English description. */
const char *gregor_err_str(gregor_err err);

/* True for broker errors after which a retry can succeed (Kafka's
 * RetriableException family), and for local transient errors (timeouts,
 * disconnects). */
bool gregor_err_is_retriable(gregor_err err);

/* True for broker errors that mean the client's metadata is stale
 * (Kafka's InvalidMetadataException family): refresh, then retry. */
bool gregor_err_invalidates_metadata(gregor_err err);

#ifdef __cplusplus
}
#endif
#endif
