/* group/consumer_protocol.h — the embedded consumer protocol: the bytes a
 * member puts in JoinGroup (its Subscription, one per assignor it offers)
 * and the bytes the leader hands each member in SyncGroup (its Assignment),
 * as every Kafka client writes them (protocol type "consumer").
 *
 * Layout: an int16 version, then ConsumerProtocolSubscription or
 * ConsumerProtocolAssignment of that version (protocol/gen/). gregor writes
 * version 3 of both, as the Java client 4.x does. It reads every version:
 * 0 (librdkafka before 1.x of KIP-429, kafka-python), 1 (owned partitions),
 * 2 (generation), 3 (rack), and, as Java does, a version above 3 as
 * version 3 (the format only ever appends fields) and ignores bytes after
 * the last field it knows (some clients pad v0).
 *
 * Decoding is input from other clients: bad bytes give TRUNCATED, MALFORMED,
 * TOO_LARGE or UNSUPPORTED and a message in `error` naming the field and
 * the byte offset; never a crash. Allocation is bounded by a multiple of the
 * input length.
 *
 * Ownership: a decoded consumer_subscription / consumer_assignment owns
 * everything it points to (strings are NUL-terminated copies in its arena,
 * the owned/assigned list is malloc'd); nothing points into the input bytes,
 * which the caller may free right after decoding. *_fini() frees it all.
 *
 * Threading: pure functions; a decoded value belongs to one thread at a time.
 */
#ifndef GREGOR_GROUP_CONSUMER_PROTOCOL_H
#define GREGOR_GROUP_CONSUMER_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gregor/error.h"
#include "group/assignor.h"
#include "util/arena.h"
#include "util/buf.h"

/* The version gregor writes, Java 4.x's (Subscription and Assignment). */
#define CONSUMER_PROTOCOL_VERSION 3

/* A decoded Subscription. `member` holds topics, owned (topics in the
 * arena), generation and rack; its member_id and instance_id are NULL for the
 * caller to set (from JoinGroup's member list; borrowed, they must outlive
 * any use of `member`). */
typedef struct consumer_subscription {
    assignor_member member;
    int16_t version;          /* as sent (may be above 3) */
    const uint8_t *user_data; /* NULL: null user data */
    size_t user_data_len;
    arena arena;              /* owns topics, rack, user data, owned topic names */
    char error[192];          /* why decoding failed ("" on success) */
} consumer_subscription;

/* A decoded Assignment: what the leader gave this member. */
typedef struct consumer_assignment {
    group_tp_list partitions; /* topic strings in the arena; malloc'd array */
    int16_t version;
    const uint8_t *user_data; /* NULL: null user data */
    size_t user_data_len;
    arena arena;
    char error[192];
} consumer_assignment;

/* Appends member `m`'s Subscription, version prefix included, to `w`:
 * m->topics (sorted, as Java sends them), m->owned (sorted, grouped by
 * topic), m->generation, m->rack (NULL: null), and the user data
 * (`user_data` NULL: null; borrowed). m->member_id and m->instance_id are not
 * part of it. Returns the writer's error (TOO_LARGE past its max, NOMEM), or
 * INVALID_ARG for a NULL topic. */
gregor_err consumer_protocol_subscription_encode(buf_writer *w, const assignor_member *m, const uint8_t *user_data,
                                                 size_t user_data_len) GREGOR_MUST_CHECK;

/* Decodes `len` bytes at `data` (borrowed, only during the call) into `out`
 * (initialized here; call consumer_subscription_fini() whatever the result).
 * `assignor` is the protocol name the bytes were sent for: for
 * "cooperative-sticky" a member without a generation field (v0, v1, or -1)
 * has its generation read from the user data, as Java's
 * CooperativeStickyAssignor does (a big-endian int32; -1 when shorter), or
 * from the end of librdkafka's StickyAssignor-format user data. */
gregor_err consumer_protocol_subscription_decode(const uint8_t *data, size_t len, const char *assignor,
                                                 consumer_subscription *out) GREGOR_MUST_CHECK;
void consumer_subscription_fini(consumer_subscription *s);

/* Appends an Assignment (version prefix included) of `assigned` (borrowed;
 * grouped by topic in (topic, partition) order) and the user data
 * (`user_data` NULL: null). Returns the writer's error, INVALID_ARG for a
 * NULL topic or a negative partition. */
gregor_err consumer_protocol_assignment_encode(buf_writer *w, const group_tp_list *assigned, const uint8_t *user_data,
                                               size_t user_data_len) GREGOR_MUST_CHECK;

/* Decodes an Assignment as the subscription decoder does. An empty input is
 * an empty assignment (what the coordinator sends a member the leader gave
 * nothing, and what some leaders send for "no partitions"). */
gregor_err consumer_protocol_assignment_decode(const uint8_t *data, size_t len,
                                               consumer_assignment *out) GREGOR_MUST_CHECK;
void consumer_assignment_fini(consumer_assignment *a);

#endif
