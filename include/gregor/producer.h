/* gregor/producer.h — the producer: batches messages per partition and
 * delivers them to the partition leaders, reporting each message's fate.
 *
 * Threading: gregor_producer_produce(), _flush() and _outstanding() are
 * thread-safe: any number of threads may produce through one producer.
 * gregor_producer_set_partitioner() must be called before the first
 * produce. gregor_producer_destroy() must not race with other calls on the
 * same producer. The delivery callback runs on the producer's I/O thread
 * (one thread, so reports of one partition arrive in order), except for the
 * messages that destroy() fails, which are reported on the destroying
 * thread. The callback must not block and must not call flush or destroy;
 * it may call produce, which then never blocks (QUEUE_FULL instead).
 *
 * Delivery guarantee: every message accepted by produce (GREGOR_OK) gets
 * exactly one delivery report: success with its partition and offset, or
 * the error that ended it (the last broker error, GREGOR_ERR_TIMED_OUT
 * after delivery_timeout_ms, GREGOR_ERR_DESTROYED at destroy).
 *
 * Memory: queued messages are bounded by the `buffer_bytes` option (plus at
 * most one growing batch buffer); when it is reached, produce waits up to
 * `block_ms` for room, then fails with GREGOR_ERR_QUEUE_FULL.
 *
 * Brokers: with broker_version "auto" the producer builds RecordBatch v2
 * (Produce v3+, brokers 0.11 and later) and rewrites a batch as MessageSet
 * v1 (0.10.x) or v0 (0.8.x, 0.9.x) when the broker it goes to speaks only
 * an older Produce version (its release negotiated or detected per
 * broker); messages with headers, or compressed with zstd, then fail with
 * GREGOR_ERR_UNSUPPORTED and a log line saying why. Setting broker_version
 * to an older release (0.8.2, 0.9.0, 0.10.2) builds that format directly.
 *
 * Options (see `gregor config list`): acks, linger_ms, batch_bytes,
 * max_request_bytes, buffer_bytes, block_ms, delivery_timeout_ms, retries,
 * retry_backoff_ms, retry_backoff_max_ms, enable_idempotence, compression,
 * compression_level, partitioner, plus the client's connection options
 * (bootstrap, request_timeout_ms, max_in_flight, broker_version, ...).
 */
#ifndef GREGOR_PRODUCER_H
#define GREGOR_PRODUCER_H

#include <stddef.h>
#include <stdint.h>

#include "gregor/client.h"
#include "gregor/error.h"
#include "gregor/message.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gregor_producer gregor_producer;

/* Partition "any": the partitioner chooses. */
#define GREGOR_PARTITION_ANY (-1)

/* Record headers are gregor_header (gregor/message.h): key and key_len,
 * value NULL (or value_len -1) for a null value. */

/* A message to produce. Every pointer is borrowed for the duration of the
 * call only: the producer copies what it keeps. `key` NULL is a null key
 * (key_len ignored), `value` NULL a null value (a tombstone). */
typedef struct gregor_produce_message {
    const char *topic;
    int32_t partition;   /* 0..n-1, or GREGOR_PARTITION_ANY */
    const void *key;
    size_t key_len;
    const void *value;
    size_t value_len;
    const gregor_header *headers;
    size_t n_headers;
    int64_t timestamp_ms; /* ms since the epoch; 0: now */
    void *opaque;         /* handed back in the delivery report */
} gregor_produce_message;

/* What happened to one message. Valid during the callback only. */
typedef struct gregor_delivery {
    gregor_err err;      /* GREGOR_OK: written (and replicated as acks asks) */
    const char *topic;
    int32_t partition;   /* -1 when the message never got one */
    int64_t offset;      /* -1 when unknown (acks=0, errors) */
    int64_t timestamp_ms; /* the message's timestamp (the broker's with LogAppendTime) */
    void *opaque;
} gregor_delivery;

typedef void (*gregor_delivery_fn)(const gregor_delivery *d, void *arg);

/* A partitioner: returns a partition in [0, n_partitions) for a message;
 * an out-of-range answer fails the produce call with INVALID_ARG. Runs on
 * the producing thread, under the producer's lock: it must be quick and
 * must not call the producer. `key` is NULL for a null key. */
typedef int32_t (*gregor_partitioner_fn)(const char *topic, const void *key, size_t key_len,
                                         int32_t n_partitions, void *arg);

/* Creates a producer (with its own client, connections and I/O thread;
 * `cfg` is copied). `on_delivery` (may be NULL) receives every report with
 * `arg`. CONFIG with errstr for bad option values. Unreachable brokers are
 * not an error here: messages fail after delivery_timeout_ms. */
gregor_err gregor_producer_new(const gregor_config *cfg, gregor_delivery_fn on_delivery, void *arg,
                               gregor_producer **out, char *errstr, size_t errstr_size) GREGOR_MUST_CHECK;

/* Creates a producer on `client` (borrowed; a reference is kept, see
 * gregor/client.h), sharing its I/O thread, connections and metadata with
 * the other producers and consumers on it. The producer's own options are
 * read from `cfg` (copied); the connection and metadata options are the
 * client's (including allow_auto_create_topics, which gregor_producer_new
 * turns on for its own client unless set). The client may be destroyed
 * before the producer. Otherwise as gregor_producer_new(). Any thread. */
gregor_err gregor_producer_new_on(gregor_client *client, const gregor_config *cfg, gregor_delivery_fn on_delivery,
                                  void *arg, gregor_producer **out, char *errstr,
                                  size_t errstr_size) GREGOR_MUST_CHECK;

/* Replaces the configured partitioner for messages produced with
 * GREGOR_PARTITION_ANY. Call before the first produce. */
void gregor_producer_set_partitioner(gregor_producer *p, gregor_partitioner_fn fn, void *arg);

/* Queues one message without waiting for the network. Errors (nothing is
 * queued and no report will come):
 *   GREGOR_ERR_QUEUE_FULL   buffer_bytes reached (after block_ms)
 *   GREGOR_ERR_TOO_LARGE    the message alone exceeds max_request_bytes
 *                           (less 1 KiB for the request) or buffer_bytes;
 *                           one larger than batch_bytes goes in a batch of
 *                           its own. (A batch the broker refuses with
 *                           MESSAGE_TOO_LARGE is split and retried; a
 *                           single message it refuses is reported with 10,
 *                           MESSAGE_TOO_LARGE.)
 *   GREGOR_ERR_INVALID_ARG  no topic, a header without a name, a bad
 *                           partitioner answer
 *   3 (UNKNOWN_TOPIC_OR_PARTITION)  an explicit partition the topic lacks
 *   GREGOR_ERR_UNSUPPORTED  headers on the legacy (pre-0.11) format; or
 *                           enable_idempotence=true was set explicitly and
 *                           the broker has no producer ids (the default
 *                           falls back to a non-idempotent producer)
 *   GREGOR_ERR_DESTROYED    the producer is being destroyed
 *   GREGOR_ERR_NOMEM */
gregor_err gregor_producer_produce(gregor_producer *p, const gregor_produce_message *m) GREGOR_MUST_CHECK;

/* Sends everything queued without waiting for linger_ms and waits until
 * every message accepted before the call has been reported, for at most
 * timeout_ms (negative: no limit); messages other threads produce in the
 * meantime are sent too but not waited for (as Java's flush). Returns
 * GREGOR_ERR_TIMED_OUT if some of those are still pending. Any thread,
 * several at once; not from the delivery callback. */
gregor_err gregor_producer_flush(gregor_producer *p, int32_t timeout_ms) GREGOR_MUST_CHECK;

/* Messages accepted and not yet reported. */
size_t gregor_producer_outstanding(gregor_producer *p);

/* A producer's counters (since it was created; they never go down) and
 * gauges (now), with the names and meanings of its gregor_producer_*
 * series in docs/METRICS.md. */
typedef struct gregor_producer_stats {
    uint64_t delivered;         /* messages the brokers acknowledged */
    uint64_t failed;            /* messages reported with an error */
    uint64_t batches;           /* record batches written into Produce requests (a retried batch again) */
    uint64_t batch_records;     /* records in those batches (/ batches: the mean batch size) */
    uint64_t batch_bytes;       /* their bytes on the wire, compressed */
    uint64_t queued;            /* gauge: messages accepted and not reported yet (in flight included) */
    uint64_t in_flight_batches; /* gauge: batches in Produce requests now */
    uint64_t buffer_bytes;      /* gauge: memory charged to queued messages (bounded by buffer_bytes) */
} gregor_producer_stats;

/* Fills *out: cheap (atomics and one short hold of the producer's lock),
 * so a program can read it as often as it exports metrics. Any thread. */
void gregor_producer_stats_get(gregor_producer *p, gregor_producer_stats *out);

/* The client the producer runs on (its connections: gregor_client_broker_stats),
 * borrowed: valid until the producer is destroyed (with
 * gregor_producer_new_on(), the caller's). */
gregor_client *gregor_producer_client(gregor_producer *p);

/* Flushes for at most timeout_ms, then stops: messages still queued or in
 * flight are reported failed (GREGOR_ERR_DESTROYED, or their last error)
 * before it returns. On a shared client (gregor_producer_new_on) requests
 * in flight are waited for (until their answer or request_timeout_ms) and
 * reported with their result, and the connections stay for the client's
 * other users. NULL does nothing. */
void gregor_producer_destroy(gregor_producer *p, int32_t timeout_ms);

#ifdef __cplusplus
}
#endif
#endif
