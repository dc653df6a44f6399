/* gregor/group.h — the BalancedConsumer: a member of a consumer group
 * coordinated by the brokers. Members in many processes share the
 * partitions of the topics they subscribe to and hand them over when
 * members come and go, with no ZooKeeper.
 *
 * A gregor_group is built on a gregor_consumer (its fetcher, positions and
 * commits; gregor/consumer.h) and adds membership:
 *
 * - The classic protocol (group_protocol=classic, every broker from 0.9):
 *   FindCoordinator, JoinGroup, the elected leader assigns with a
 *   client-side assignor (partition_assignment_strategy: range,
 *   roundrobin, cooperative-sticky), SyncGroup, Heartbeat every
 *   heartbeat_interval_ms, LeaveGroup on close. The embedded consumer
 *   protocol is Kafka's standard one, so gregor, Java, librdkafka and
 *   kafka-python members share a group. With only cooperative assignors
 *   listed, rebalances are incremental (KIP-429): only partitions that move
 *   are revoked; the rest are consumed throughout.
 * - The consumer protocol (group_protocol=consumer, KIP-848, Kafka 4.0+):
 *   ConsumerGroupHeartbeat every interval the broker asks for (its
 *   group.consumer.heartbeat.interval.ms, 5 s by default; the broker's
 *   session timeout applies, and partition_assignment_strategy is not
 *   used), the broker computes the assignment (group_remote_assignor:
 *   uniform or range; empty: the broker's default) and moves partitions one
 *   by one: a member revokes what it loses (commit, callback), then the
 *   broker gives it to the new owner; nothing else pauses. The member id is
 *   a random UUID the client makes; the "generation" is the member epoch,
 *   which commits carry (OffsetCommit v9). Brokers without it (before 4.0,
 *   or the group.version feature off) make poll fail with UNSUPPORTED,
 *   naming group_protocol=classic as the way out. Java, librdkafka and
 *   gregor members with group.protocol=consumer share a group.
 *
 * Membership runs on the member's own thread: heartbeats keep going while
 * the application is busy between polls, up to max_poll_interval_ms. A
 * member whose application has not polled for that long leaves the group on
 * purpose (its partitions go to others); its next poll returns
 * GREGOR_ERR_MAX_POLL_EXCEEDED once and the member then joins again.
 *
 * Rebalances take effect inside gregor_group_poll() (and close), on the
 * application thread, in this order: partitions revoked (with
 * enable_auto_commit, their consumed positions are committed first; then
 * the callback runs, and may commit), then partitions assigned (they start
 * at the group's committed offset, else auto_offset_reset; then the
 * callback runs, and may seek). A partition is handed over only after its
 * revocation finished here, so the next owner starts right after the last
 * commit. Partitions "lost" (the member was fenced out of the group: session
 * expired, coordinator says unknown member) are dropped without a commit:
 * another member may already own them.
 *
 * Commits carry the member's id and generation: a commit for a partition
 * this member no longer owns is refused (GREGOR_ERR_NOT_ASSIGNED), never
 * written with a stale generation.
 *
 * Threading: a gregor_group is used by one application thread at a time
 * (poll, commit, pause, close), except gregor_group_wakeup(), which any
 * thread may call. Rebalance and commit callbacks run on the application
 * thread, inside gregor_group_poll(), gregor_group_commit() and
 * gregor_group_close(). Batches follow gregor/consumer.h's rules.
 */
#ifndef GREGOR_GROUP_H
#define GREGOR_GROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gregor/client.h"
#include "gregor/consumer.h"
#include "gregor/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gregor_group gregor_group;

typedef enum gregor_rebalance_kind {
    GREGOR_REBALANCE_ASSIGNED, /* the member owns these partitions from now on */
    GREGOR_REBALANCE_REVOKED,  /* it gives them up; commits still succeed during the callback */
    GREGOR_REBALANCE_LOST,     /* it lost them without a handover; commits would be refused */
} gregor_rebalance_kind;

/* Called on the application thread from poll or close. `tps` (topic and
 * partition; offset -1) are borrowed for the call. The callback may call
 * gregor_group_commit(), gregor_group_pause/resume() and, for ASSIGNED,
 * gregor_consumer_seek() on gregor_group_consumer(); not poll or close. */
typedef void (*gregor_rebalance_cb)(gregor_group *g, gregor_rebalance_kind kind, const gregor_topic_offset *tps,
                                    size_t n, void *opaque);

/* Creates a member (the config is copied; group_id must be set). Options
 * read here: group_id, group_protocol, partition_assignment_strategy,
 * session_timeout_ms, heartbeat_interval_ms, max_poll_interval_ms,
 * group_instance_id, client_rack, plus every consumer and client option.
 * Nothing is joined until a subscription is set. CONFIG with errstr for bad
 * settings (an unknown assignor, heartbeat_interval_ms not below
 * session_timeout_ms). */
gregor_err gregor_group_new(const gregor_config *cfg, gregor_group **out, char *errstr,
                            size_t errstr_size) GREGOR_MUST_CHECK;

/* Creates a member on `client` (borrowed; a reference is kept, see
 * gregor/client.h), sharing its I/O thread, connections and metadata with
 * the producers, consumers and other members on it; the member still has a
 * connection of its own to the coordinator for JoinGroup and heartbeats, so
 * that one member's rebalance never delays another's heartbeat. Group and
 * consumer options are read from `cfg` as gregor_group_new() reads them;
 * connection options are the client's. Any thread. */
gregor_err gregor_group_new_on(gregor_client *client, const gregor_config *cfg, gregor_group **out, char *errstr,
                               size_t errstr_size) GREGOR_MUST_CHECK;

/* The callback for assignments, revocations and losses (NULL: none). Set it
 * before subscribing. */
void gregor_group_set_rebalance_cb(gregor_group *g, gregor_rebalance_cb cb, void *opaque);

/* Subscribes to `n` topics (copied), replacing the previous subscription;
 * the member joins (or rejoins) the group. Topics that do not exist yet are
 * assigned once they appear. */
gregor_err gregor_group_subscribe(gregor_group *g, const char *const *topics, size_t n, char *errstr,
                                  size_t errstr_size) GREGOR_MUST_CHECK;

/* Subscribes to every topic whose whole name matches the POSIX extended
 * regular expression `regex`, now and as topics appear and disappear
 * (checked at each metadata refresh, metadata_max_age_ms). Internal topics
 * (names starting with "__") never match. CONFIG with errstr for a bad
 * expression. With group_protocol=consumer the expression is passed to the
 * broker, which matches it (RE2/J syntax, whole names): keep to what both
 * dialects read alike (literals, ., [], *, +, ?, |, (), {m,n}); the broker
 * answers INVALID_REGULAR_EXPRESSION (a fatal poll error) for what it
 * cannot read. */
gregor_err gregor_group_subscribe_pattern(gregor_group *g, const char *regex, char *errstr,
                                          size_t errstr_size) GREGOR_MUST_CHECK;

/* As gregor_consumer_poll(): one batch of one owned partition, or *out NULL
 * when timeout_ms (0: no wait, -1: forever) ran out or gregor_group_wakeup()
 * was called. Runs pending rebalance steps and callbacks first. Errors:
 * those of gregor_consumer_poll(), MAX_POLL_EXCEEDED (see above), and
 * fatal membership errors (e.g. GROUP_AUTHORIZATION_FAILED,
 * FENCED_INSTANCE_ID: another process uses this group_instance_id), with
 * errstr. */
gregor_err gregor_group_poll(gregor_group *g, int32_t timeout_ms, gregor_batch **out, char *errstr,
                             size_t errstr_size) GREGOR_MUST_CHECK;

/* Commits offsets for owned partitions, as gregor_consumer_commit() (NULL
 * offsets: the positions of every owned partition; cb NULL: synchronous).
 * Partitions not owned by this member fail with NOT_ASSIGNED (in
 * offsets[i].err; nothing of the request is sent when any is not owned).
 * A rebalance that fences the commit gives ILLEGAL_GENERATION,
 * UNKNOWN_MEMBER_ID or REBALANCE_IN_PROGRESS from the broker (KIP-848:
 * STALE_MEMBER_EPOCH when the member epoch moved on meanwhile; commit
 * again). */
gregor_err gregor_group_commit(gregor_group *g, gregor_topic_offset *offsets, size_t n, const char *metadata,
                               gregor_commit_cb cb, void *opaque, char *errstr, size_t errstr_size) GREGOR_MUST_CHECK;

/* Pauses / resumes fetching an owned partition (gregor_consumer_pause).
 * A rebalance that revokes and assigns it again resumes it. NOT_ASSIGNED
 * when not owned. */
gregor_err gregor_group_pause(gregor_group *g, const char *topic, int32_t partition) GREGOR_MUST_CHECK;
gregor_err gregor_group_resume(gregor_group *g, const char *topic, int32_t partition) GREGOR_MUST_CHECK;

/* The partitions the member owns now: a malloc'd array (free() it; the
 * topic strings live in the same allocation), offsets -1. */
gregor_err gregor_group_assignment(gregor_group *g, gregor_topic_offset **out, size_t *n) GREGOR_MUST_CHECK;

/* The member id the coordinator gave ("" before the first join; KIP-848:
 * the client's own), copied to buf (NUL-terminated, truncated to size);
 * returns the generation (KIP-848: the member epoch; -1 when not in one).
 * Any thread. */
int32_t gregor_group_member_id(gregor_group *g, char *buf, size_t size);

/* Makes a blocked (or the next) gregor_group_poll() return at once. Any
 * thread. */
void gregor_group_wakeup(gregor_group *g);

/* Leaves the group cleanly: revokes every owned partition (committing with
 * enable_auto_commit, running the callback), sends LeaveGroup (a static
 * member does not leave: its partitions wait session_timeout_ms for it;
 * KIP-848: a heartbeat with member epoch -1, a static member's -2) and
 * stops fetching. Waits at most commit_timeout_ms for the commit. Returns
 * the first error (the member is closed regardless). */
gregor_err gregor_group_close(gregor_group *g, char *errstr, size_t errstr_size) GREGOR_MUST_CHECK;

/* Closes the member if not closed yet, then frees it. Outstanding batches
 * stay valid. NULL does nothing. */
void gregor_group_destroy(gregor_group *g);

/* The consumer underneath (positions, watermarks, seek of owned
 * partitions); owned by the group. Do not assign, unassign or poll it. */
gregor_consumer *gregor_group_consumer(gregor_group *g);

#ifdef __cplusplus
}
#endif
#endif
