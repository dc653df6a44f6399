/* producer/producer.h — the inside of a gregor_producer, shared by its
 * files:
 *
 *   producer.c     creation, configuration, produce, flush, destroy
 *   partitioner.c  murmur2 / consistent / round-robin / sticky choices
 *   accumulator.c  per-partition batch queues, memory accounting, reports
 *   sender.c       the loop-thread side: drain ready batches, one Produce
 *                  request per broker, responses, retries, timeouts
 *   idempotence.c  InitProducerId and sequence bookkeeping
 *
 * Data layout: topics (array, looked up by name) own partitions (array of
 * pointers, grows when the topic gains partitions); each partition owns a
 * FIFO of batches not in flight (`head..tail`). A batch drained by the
 * sender leaves the FIFO and belongs to one request until its response;
 * a retried batch goes back to the front of its FIFO, in sequence order.
 * Messages for topics without metadata wait in the topic's `pending` list.
 *
 * Locking: `lock` guards every field marked (L); produce runs under it on
 * the caller's thread, the sender takes it on the loop thread. Fields
 * marked (loop) belong to the loop thread. Delivery callbacks run with the
 * lock released.
 */
#ifndef GREGOR_PRODUCER_PRODUCER_H
#define GREGOR_PRODUCER_PRODUCER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client/client.h"
#include "client/gate.h"
#include "gregor/producer.h"
#include "net/loop.h"
#include "protocol/records.h"

typedef enum prod_partitioner {
    PROD_PART_MURMUR2,    /* Java: murmur2(key); null key sticky */
    PROD_PART_CONSISTENT, /* librdkafka consistent_random: crc32(key); null/empty sticky */
    PROD_PART_ROUNDROBIN  /* every message to the next partition */
} prod_partitioner;

typedef struct prod_config {
    int16_t acks;               /* -1 (all), 0, 1 */
    int32_t linger_ms;
    size_t batch_bytes;
    size_t max_request_bytes;
    size_t buffer_bytes;
    int32_t block_ms;
    int32_t delivery_timeout_ms;
    int32_t request_timeout_ms;
    int32_t retries;
    int32_t retry_backoff_ms;
    int32_t retry_backoff_max_ms;
    int32_t max_in_flight;
    bool idempotence;
    bool idempotence_required;  /* enable_idempotence=true set explicitly */
    proto_codec codec;
    int level;
    prod_partitioner partitioner;
    int magic;                  /* record format: 2, or 0 for pre-0.10 brokers */
} prod_config;

struct prod_partition;
struct prod_topic;

/* What a delivery report needs of each record. */
typedef struct prod_rec {
    void *opaque;
    int64_t timestamp_ms;
    uint64_t gen;         /* the flush generation it was accepted in */
} prod_rec;

/* A batch of one partition. */
typedef struct prod_batch {
    struct prod_batch *next;
    struct prod_partition *part;
    proto_batch rb;
    struct prod_rec *recs; /* per record: opaque and timestamp */
    int32_t recs_cap;
    int64_t first_ms;     /* net_now_ms() of the first record */
    int64_t deadline_ms;  /* first_ms + delivery_timeout_ms */
    int64_t retry_at_ms;  /* not before (backoff) */
    size_t mem;           /* bytes charged to the producer's memory */
    int64_t pid;          /* producer id/epoch/sequence stamped at first drain */
    int16_t epoch;
    int32_t base_seq;     /* on the wire: seq64 modulo 2^31; -1: not stamped */
    int64_t seq64;        /* (L) the partition's count of records before this batch under
                             pid/epoch (never wraps); -1: not stamped */
    struct prod_batch *s_prev, *s_next; /* (L) the partition's stamped batches not
                             yet completed, in sequence order (idempotence.c) */
    int attempts;         /* sends so far */
    bool full;            /* no more appends */
    gregor_err last_err;
    buf_slice wire;       /* finished bytes (loop, while in a request) */
} prod_batch;

typedef struct prod_partition {
    struct prod_topic *topic;
    int32_t id;
    int32_t leader;       /* (L) -1 unknown */
    prod_batch *head, *tail; /* (L) batches not in flight, oldest first */
    int32_t in_flight;    /* (L) batches in requests */
    /* (L) idempotence, per partition as the broker keeps it (idempotence.c) */
    int64_t pid;          /* the id and epoch this partition's sequences run under; -1 none */
    int16_t epoch;
    int64_t next_seq64;   /* the next batch's seq64 */
    prod_batch *s_head, *s_tail; /* stamped batches not completed (in flight or queued) */
    bool rewrite;         /* a hole in the sequence: renumber under a new epoch */
    int64_t rewrite_from; /* outstanding batches from this seq64 on are renumbered */
} prod_partition;

/* A message waiting for its topic's metadata. */
typedef struct prod_msg {
    struct prod_msg *next;
    struct prod_topic *topic;
    gregor_err err;       /* why it failed, once it has */
    int32_t partition;
    int64_t timestamp_ms;
    int64_t deadline_ms;
    void *opaque;
    uint64_t gen;         /* the flush generation it was accepted in */
    size_t mem;
    int32_t key_len;      /* -1 null */
    int32_t value_len;    /* -1 null */
    size_t n_headers;
    proto_header *headers; /* into `data` */
    uint8_t *data;        /* key, value, header names and values */
} prod_msg;

typedef struct prod_topic {
    char *name;
    int32_t n_parts;              /* (L) 0 until metadata names the topic */
    prod_partition **parts;       /* (L) */
    int32_t sticky;               /* (L) sticky partition for keyless messages, -1 none */
    uint32_t rr;                  /* (L) round-robin position */
    prod_msg *pending, *pending_tail; /* (L) waiting for metadata */
    gregor_err meta_err;          /* (L) last topic error from metadata */
} prod_topic;

typedef enum prod_pid_state {
    PROD_PID_OFF,      /* not idempotent */
    PROD_PID_NEED,     /* an InitProducerId is to be sent */
    PROD_PID_WAIT,     /* one is in flight */
    PROD_PID_READY,
    PROD_PID_FATAL     /* explicitly required idempotence is impossible: fatal_err */
} prod_pid_state;

struct gregor_producer {
    gregor_client *client;        /* a reference (client_ref) */
    bool own_client;              /* made by gregor_producer_new, not shared */
    client_gate gate;             /* our requests in flight on the client's connections */
    prod_config cfg;
    gregor_delivery_fn on_delivery;
    void *dr_arg;
    gregor_partitioner_fn user_part;
    void *user_part_arg;

    pthread_mutex_t lock;
    pthread_cond_t cond;          /* memory freed, messages reported */
    prod_topic **topics;          /* (L) */
    size_t n_topics, cap_topics;
    size_t mem_used;              /* (L) */
    size_t outstanding;           /* (L) accepted, not reported */
    int flushing;                 /* (L) flush calls in progress */
    /* (L) Flush generations: each flush starts a new one and waits until
     * every message of the older ones is reported. gen_counts[i] counts the
     * unreported messages of generation gen_base + i; the last entry is the
     * current generation `gen`, entries before it are dropped once zero. */
    uint64_t gen, gen_base;
    size_t *gen_counts;
    size_t gen_n, gen_cap;
    bool closing;                 /* (L) destroy has begun */
    int64_t pid;                  /* (L) */
    int16_t epoch;                /* (L) */
    int64_t old_pid;              /* (L) the id being replaced (KIP-360), -1 none */
    int16_t old_epoch;            /* (L) */
    prod_pid_state pid_state;     /* (L) */
    gregor_err fatal_err;         /* (L) PROD_PID_FATAL: what every produce fails with */
    char fatal_msg[192];          /* (L) and why */
    uint64_t rng;                 /* (L) xorshift state for random partitions */

    atomic_bool wake_posted;
    /* For metrics (prod_stats_get): relaxed atomics, any thread. */
    struct {
        atomic_uint_fast64_t delivered, failed;                 /* messages reported, by outcome */
        atomic_uint_fast64_t batches, batch_records, batch_bytes; /* batches written into requests (retries too) */
    } stats;
    /* loop thread */
    net_timer timer;
    net_timer pid_timer;
    uint64_t snap_generation;
    bool stopped;
};

/* A producer's counters and gauges, for metrics: the public struct. */
typedef gregor_producer_stats prod_stats;

/* Fills *out (gregor_producer_stats_get). Any thread; takes the lock to
 * walk the partitions. */
void prod_stats_get(gregor_producer *p, prod_stats *out);

/* ------------------------------------------------------------ partitioner.c */

/* The partition for a keyed or keyless message of topic `t` with
 * `n_parts` partitions, per the configured partitioner (or the user's).
 * Sticky choices for keyless messages live in `t`. Under the lock.
 * INVALID_ARG when a user partitioner answers out of range. */
gregor_err prod_partition_choose(gregor_producer *p, prod_topic *t, const void *key, size_t key_len,
                                 bool null_key, int32_t *out) GREGOR_MUST_CHECK;
/* A uniformly random partition other than `avoid` (when n > 1). Under the
 * lock (the generator state is the producer's). */
int32_t prod_partition_random(gregor_producer *p, int32_t n, int32_t avoid);

/* ------------------------------------------------------------ accumulator.c */

/* Appends one message (accepted in flush generation `gen`) to partition
 * `part`, opening a new batch when the tail is full. Under the lock. *wake
 * says whether a batch was opened (the sender must learn its linger
 * deadline) or one filled up. The caller counts the message (prod_count).
 * Errors: TOO_LARGE (alone it exceeds batch_bytes), UNSUPPORTED (headers on
 * magic 0/1), NOMEM. */
gregor_err prod_append(gregor_producer *p, prod_partition *part, int64_t ts, buf_slice key,
                       buf_slice value, const proto_header *h, size_t nh, void *opaque, uint64_t gen,
                       bool *wake) GREGOR_MUST_CHECK;
/* Counts one accepted message as outstanding in the current generation.
 * Under the lock. */
void prod_count(gregor_producer *p);
/* Starts a new flush generation and returns the one to wait for, or
 * returns false on NOMEM. Under the lock. */
bool prod_gen_next(gregor_producer *p, uint64_t *gen);
/* Whether every message of generation `gen` and older has been reported.
 * Under the lock. */
bool prod_gen_done(const gregor_producer *p, uint64_t gen);
/* Room kept in a Produce request for everything but one batch's records. */
#define PROD_REQUEST_OVERHEAD_BYTES 1024

/* The largest record encoding a batch may hold: what a request carries
 * (max_request_bytes) less the overhead. A record larger than batch_bytes
 * goes in a batch of its own up to this. */
size_t prod_record_bytes_max(const gregor_producer *p);
/* Splits a batch the broker found too large (MESSAGE_TOO_LARGE) into two
 * halves, re-encoded from its finished bytes, keeping attempts, deadline,
 * and sequences (the first half takes the batch's, the second follows),
 * as Java's split does. On success `b` is freed and the halves, linked
 * nowhere, are returned; on failure (NOMEM) `b` is left as it was. Under
 * the lock. */
gregor_err prod_batch_split(gregor_producer *p, prod_batch *b, prod_batch **first,
                            prod_batch **second) GREGOR_MUST_CHECK;
/* A partition object for `t` (allocated; NULL on OOM). */
prod_partition *prod_partition_new(prod_topic *t, int32_t id);
/* Frees a batch (its bytes and itself). No lock needed: the caller owns it. */
void prod_batch_free(prod_batch *b);
/* Reports every record of `b` with `err` (and `base_offset` when OK), then
 * releases its memory charge and frees it. Not under the lock. */
void prod_batch_report(gregor_producer *p, prod_batch *b, gregor_err err, int64_t base_offset,
                       int64_t log_append_ms);
/* Reports a pending message failed and frees it. Not under the lock. */
void prod_msg_report(gregor_producer *p, prod_msg *m, gregor_err err);
/* Copies a message for the pending list. NULL on OOM. */
prod_msg *prod_msg_new(const gregor_produce_message *m, int64_t ts, const proto_header *h, size_t nh, size_t mem);
/* Bytes a message is charged when queued. */
size_t prod_msg_cost(const gregor_produce_message *m);

/* ------------------------------------------------------------ downconvert.c */

/* (loop) Rewrites the finished batch `b` (b->wire) in record format `magic`
 * when it is newer, keeping its records, and finishes it again (b->wire).
 * On failure `b` is unchanged and *why says why in words: UNSUPPORTED
 * (record headers before magic 2, zstd before magic 2), TOO_LARGE, NOMEM,
 * MALFORMED (an internal inconsistency). */
gregor_err prod_batch_downconvert(const gregor_producer *p, prod_batch *b, int magic,
                                  const char **why) GREGOR_MUST_CHECK;

/* ------------------------------------------------------------ sender.c */

/* Asks the loop thread to run the sender soon (coalesced). Any thread. */
void prod_wake(gregor_producer *p);
/* (loop) Drains what is ready, sends, arms the timer. */
void prod_sender_run(gregor_producer *p);
/* Sets up the sender's timers (before the first wake). */
void prod_sender_init(gregor_producer *p);
/* (loop) Cancels timers; further runs do nothing. */
void prod_sender_stop(gregor_producer *p);
/* Fails everything queued or pending with `err` (destroy, after the loop
 * has stopped; or the loop thread, when idempotence the user required is
 * impossible). Any thread; takes the lock. */
void prod_fail_all(gregor_producer *p, gregor_err err);

/* ------------------------------------------------------------ idempotence.c */

/* (loop) Sends InitProducerId when one is needed. */
void prod_pid_maintain(gregor_producer *p);

/* Sequences, per partition, the way Java's TransactionManager keeps them.
 * Every function below runs under the lock and does nothing for a batch
 * without a sequence (idempotence off, or not stamped yet).
 *
 * Whether the head batch of `part` may be drained as far as sequences go:
 * not while the producer id is being fetched, not while a hole in the
 * partition's sequence waits for its in-flight batches to come back (then
 * the queued batches are renumbered under the next epoch, here), and no
 * new batch while batches of an older id are outstanding. */
bool prod_seq_may_drain(gregor_producer *p, prod_partition *part);
/* Gives a batch being drained its producer id, epoch and sequence, the
 * first time it goes out (a retry keeps its own). */
void prod_seq_stamp(gregor_producer *p, prod_batch *b);
/* The batch was written (or the broker says it already was). */
void prod_seq_acked(prod_batch *b);
/* The batch fails for good with `err`. When the broker refused it (it was
 * not written), the partition's later batches get new sequences under the
 * next epoch once none of them is in flight; when its fate is unknown
 * (a timeout), the next batch's answer tells (success, or
 * OUT_OF_ORDER_SEQUENCE, see prod_seq_out_of_order). */
void prod_seq_failed(prod_batch *b, gregor_err err);
/* `b` was split into `h1` and `h2`: they take its place and its sequences. */
void prod_seq_split(prod_batch *b, prod_batch *h1, prod_batch *h2);
/* OUT_OF_ORDER_SEQUENCE (or UNKNOWN_PRODUCER_ID) for `b`: when a batch with
 * a lower sequence is outstanding, its answer will settle it; when none
 * is, there is a real hole before `b` and the partition is renumbered
 * under the next epoch from `b` on. The batch is retried either way. */
void prod_seq_out_of_order(prod_batch *b);

#endif
