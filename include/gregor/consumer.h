/* gregor/consumer.h — the SimpleConsumer: reads explicitly assigned
 * topic-partitions from the positions the caller chooses, and stores
 * consumer positions in Kafka through the group coordinator.
 *
 * Fetching runs in the background on the client's I/O thread: one long-poll
 * Fetch at a time to each partition leader (fetch_min_bytes,
 * fetch_max_wait_ms, max_partition_fetch_bytes, fetch_max_bytes), records
 * decoded there and queued for poll(). When the topic is idle the broker
 * holds the Fetch; nothing spins.
 *
 * Memory bound: `prefetch_bytes` counts everything fetched data keeps in
 * memory (Fetch response frames, decompression buffers, message arrays)
 * until the last batch pointing into it is destroyed, whether it is still
 * queued or already returned by poll. No Fetch is sent while the count is
 * at or above the limit, so the total stays below prefetch_bytes plus the
 * responses in flight (one per leader, at most fetch_max_bytes each, or
 * one whole record batch when that is larger) and their decompressed size.
 * An application that keeps batches past the limit stops fetching until it
 * destroys some.
 *
 * Messages are views into the fetch response (or into the batch's
 * decompression buffer): nothing is copied, and the bytes stay valid until
 * the batch that returned them is destroyed. Batches may outlive later
 * polls, seeks and even the consumer.
 *
 * Offsets: with `group_id` set, commits and fetches of committed offsets
 * go to the group's coordinator (FindCoordinator; OffsetCommit v1+ and
 * OffsetFetch v1+, never the ZooKeeper-backed v0). The consumer is not a
 * group member: it commits with generation -1 and an empty member id, as
 * simple consumers do. NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE and
 * COORDINATOR_LOAD_IN_PROGRESS are retried until `commit_timeout_ms`.
 *
 * Auto-commit (enable_auto_commit, every auto_commit_interval_ms, in the
 * background) stores, for each partition, its position as of the start of
 * the latest gregor_consumer_poll() call: a batch counts as processed once
 * the application calls poll again, as in the Java client. A crash while a
 * batch is being processed therefore delivers it again (at-least-once),
 * never loses it. gregor_consumer_destroy() commits the final positions:
 * everything poll returned counts as processed by then.
 *
 * Offset store (enable_auto_offset_store=false, librdkafka's option): an
 * application whose worker threads process batches after poll returned them
 * stores what is processed with gregor_consumer_store_offset(); auto-commit,
 * commit(NULL) and the commit at destroy then commit the stored offsets
 * (of partitions whose stored offset is not the last one committed)
 * instead of the positions.
 *
 * Leader epochs (KIP-320, brokers 2.1 and later): the consumer sends the
 * leader epoch it knows with Fetch and ListOffsets (a broker with another
 * view answers FENCED/UNKNOWN_LEADER_EPOCH and the metadata is refreshed),
 * ignores metadata with an older epoch than it has seen, and stores the
 * epoch of the consumed records with commits of its own positions. When a
 * partition's leader epoch grows, or a Fetch answers OFFSET_OUT_OF_RANGE,
 * it asks the leader (OffsetForLeaderEpoch) whether the log it read from
 * was cut back, as an unclean leader election does. If so the partition
 * resumes at the first offset that diverges, with a warning, or, with
 * auto_offset_reset=error, poll reports OFFSET_OUT_OF_RANGE naming the
 * truncation; it is never reset to the beginning or end silently.
 *
 * Threading: a gregor_consumer is used by one application thread at a time
 * (calls need no locks of their own, but must not run concurrently), except
 * gregor_consumer_wakeup(), gregor_consumer_store_offset() and
 * gregor_consumer_commit(), which any thread may call at any time (not
 * after or during destroy). Its background work runs on internal threads.
 * Asynchronous commit callbacks run on the thread that polls, from inside
 * gregor_consumer_poll() and gregor_consumer_destroy(), whichever thread
 * asked for the commit. A gregor_batch may be read and destroyed on any
 * thread, one thread at a time.
 */
#ifndef GREGOR_CONSUMER_H
#define GREGOR_CONSUMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gregor/client.h"
#include "gregor/error.h"
#include "gregor/message.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gregor_consumer gregor_consumer;
typedef struct gregor_batch gregor_batch;

/* Start positions for gregor_consumer_assign() and gregor_consumer_seek()
 * (values >= 0 are offsets). */
#define GREGOR_OFFSET_BEGINNING (-2) /* the log start offset */
#define GREGOR_OFFSET_END (-1)       /* the log end offset: only new messages */
#define GREGOR_OFFSET_COMMITTED (-1001) /* the group's committed offset, else auto_offset_reset */
#define GREGOR_OFFSET_TIMESTAMP (-1002) /* the first offset at or after `timestamp_ms` */

/* gregor_header (a record header) is in gregor/message.h. */

/* One message. Pointers are views valid until the batch is destroyed;
 * key/value are NULL with length -1 when null (a null value is a
 * tombstone), non-NULL with length 0 when empty. */
typedef struct gregor_message {
    const char *topic; /* NUL-terminated */
    int32_t partition;
    int64_t offset;
    int64_t timestamp_ms;  /* -1 when the format has none (v0) */
    int8_t timestamp_type; /* 0 create time, 1 log-append time, -1 none */
    const void *key;
    int32_t key_len;
    const void *value;
    int32_t value_len;
    const gregor_header *headers;
    size_t header_count;
} gregor_message;

/* Messages of one partition, in offset order. */
size_t gregor_batch_count(const gregor_batch *b);
/* Message `i` (< count); borrowed from the batch. */
const gregor_message *gregor_batch_message(const gregor_batch *b, size_t i);
/* The partition the batch is of: its topic (NUL-terminated, borrowed from
 * the batch) and partition number. */
const char *gregor_batch_topic(const gregor_batch *b);
int32_t gregor_batch_partition(const gregor_batch *b);
/* The position after the batch: the offset to commit (or store, see
 * gregor_consumer_store_offset()) once it is processed. It lies past the
 * batch's last message when the same fetch also read transaction markers
 * or aborted records after it, so that a commit never points at them. */
int64_t gregor_batch_next_offset(const gregor_batch *b);
/* Bytes of the messages' keys, values and header keys and values (null
 * ones count 0); not the memory the batch holds. O(messages + headers). */
size_t gregor_batch_bytes(const gregor_batch *b);
/* The leader epoch (KIP-320) of the batch's last record, to commit with
 * next_offset; -1 when unknown (message formats before v2). */
int32_t gregor_batch_leader_epoch(const gregor_batch *b);
/* Releases the batch and the fetch buffers it alone still holds (the
 * memory counted against prefetch_bytes). NULL does nothing. Any thread. */
void gregor_batch_destroy(gregor_batch *b);

/* Creates a consumer with its own client (the config is copied). Options
 * read here: fetch_*, max_partition_fetch_bytes, prefetch_bytes,
 * auto_offset_reset, isolation, check_crcs, group_id, enable_auto_commit,
 * enable_auto_offset_store, auto_commit_interval_ms, commit_timeout_ms,
 * plus every client option.
 * CONFIG with errstr for bad settings. */
gregor_err gregor_consumer_new(const gregor_config *cfg, gregor_consumer **out, char *errstr,
                               size_t errstr_size) GREGOR_MUST_CHECK;

/* Creates a consumer on `client` (borrowed; a reference is kept, see
 * gregor/client.h), which may also run producers and other consumers: they
 * share its I/O thread, connections and metadata. The consumer's own
 * options are read from `cfg` (copied) as gregor_consumer_new() reads them;
 * the connection options (bootstrap, client_id, timeouts of connections,
 * broker_version, ...) are the client's, and those in `cfg` are not used.
 * With group_id the consumer has its committer thread, as with
 * gregor_consumer_new(). The client may be destroyed before the consumer:
 * it lives on until the last producer or consumer on it is destroyed.
 * CONFIG with errstr for bad settings. Any thread. */
gregor_err gregor_consumer_new_on(gregor_client *client, const gregor_config *cfg, gregor_consumer **out,
                                  char *errstr, size_t errstr_size) GREGOR_MUST_CHECK;

/* With a group and enable_auto_commit, commits the final positions (after
 * everything poll returned; with enable_auto_offset_store=false the stored
 * offsets; waiting up to commit_timeout_ms), runs the pending commit callbacks,
 * stops fetching and frees. Outstanding batches stay valid. On a shared
 * client (gregor_consumer_new_on) it waits for its requests in flight to
 * end (a long-poll Fetch: up to fetch_max_wait_ms) and leaves the
 * connections to the others. NULL does nothing. */
void gregor_consumer_destroy(gregor_consumer *c);

/* Adds partition `partition` of `topic` (copied) to the assignment,
 * starting at `offset` (>= 0, or a GREGOR_OFFSET_* value; timestamp_ms is
 * used with GREGOR_OFFSET_TIMESTAMP). Assigning an assigned partition again
 * is a seek. Waits up to request_timeout_ms for the topic's metadata (and,
 * for GREGOR_OFFSET_COMMITTED, for the committed offset).
 * Errors: UNKNOWN_TOPIC (the cluster does not have the topic or partition),
 * INVALID_ARG (a bad offset, or COMMITTED without group_id), TIMED_OUT or a
 * broker error, with errstr. */
gregor_err gregor_consumer_assign(gregor_consumer *c, const char *topic, int32_t partition, int64_t offset,
                                  int64_t timestamp_ms, char *errstr, size_t errstr_size) GREGOR_MUST_CHECK;

/* Removes a partition from the assignment; messages not yet polled are
 * dropped. UNKNOWN_TOPIC when it was not assigned. */
gregor_err gregor_consumer_unassign(gregor_consumer *c, const char *topic, int32_t partition) GREGOR_MUST_CHECK;

/* Moves an assigned partition to `offset` (as in assign; COMMITTED is
 * resolved before returning). Messages fetched from the old position are
 * dropped: the next message of this partition that poll returns is the
 * one at the new position. UNKNOWN_TOPIC when not assigned. */
gregor_err gregor_consumer_seek(gregor_consumer *c, const char *topic, int32_t partition, int64_t offset,
                                int64_t timestamp_ms, char *errstr, size_t errstr_size) GREGOR_MUST_CHECK;

/* Stops (pause) or restarts (resume) fetching a partition; the position is
 * kept. Messages fetched but not yet returned are dropped at pause (a paused
 * partition holds no prefetch memory) and fetched again after resume, from
 * the position. UNKNOWN_TOPIC when not assigned. */
gregor_err gregor_consumer_pause(gregor_consumer *c, const char *topic, int32_t partition) GREGOR_MUST_CHECK;
gregor_err gregor_consumer_resume(gregor_consumer *c, const char *topic, int32_t partition) GREGOR_MUST_CHECK;

/* Waits up to timeout_ms (0: do not wait, -1: forever) for messages and
 * returns one batch of one partition in *out (the caller destroys it), or
 * *out = NULL with GREGOR_OK when the time ran out. Runs due commit
 * callbacks first. A partition that failed (OFFSET_OUT_OF_RANGE with
 * auto_offset_reset=error, authorization, corrupt data) makes poll return
 * that error once, with errstr naming topic, partition and offset
 * (gregor_consumer_poll_error() gives them as fields); the partition then
 * stops until it is seeked. */
gregor_err gregor_consumer_poll(gregor_consumer *c, int32_t timeout_ms, gregor_batch **out, char *errstr,
                                size_t errstr_size) GREGOR_MUST_CHECK;

/* Makes the poll blocked now, or else the next poll that would wait,
 * return at once with GREGOR_OK and *out NULL, as when its time runs out.
 * Any thread; several wakeups before a poll count as one. */
void gregor_consumer_wakeup(gregor_consumer *c);

/* What the error the latest gregor_consumer_poll() returned concerns. */
typedef struct gregor_consumer_error {
    gregor_err err;      /* as poll returned it; GREGOR_OK when it returned no error */
    const char *topic;   /* NULL when no partition is concerned; valid until the consumer is destroyed */
    int32_t partition;   /* -1 when no partition is concerned */
    int64_t offset;      /* the offset at fault, -1 when not known */
    const char *message; /* poll's errstr text ("" when none); valid until the next poll */
} gregor_consumer_error;

/* Fills *out with the details of the latest poll's error (err GREGOR_OK
 * when it returned none). Application thread, like poll. */
void gregor_consumer_poll_error(const gregor_consumer *c, gregor_consumer_error *out);

/* Where a partition stands. `position` is the offset of the next message
 * poll will return (-1 until the start position is resolved);
 * `high_watermark` the log end (or last stable offset under read_committed)
 * the last fetch saw (-1 before any); `lag` = high_watermark - position,
 * or -1 when either is unknown. */
typedef struct gregor_partition_state {
    int64_t position;
    int64_t high_watermark;
    int64_t log_start_offset; /* -1 when the broker does not report it */
    int64_t lag;
    bool paused;
} gregor_partition_state;

gregor_err gregor_consumer_position(gregor_consumer *c, const char *topic, int32_t partition,
                                    gregor_partition_state *out) GREGOR_MUST_CHECK;

/* The log start and end offsets of a partition, asked of its leader now
 * with ListOffsets (the partition need not be assigned; under
 * read_committed the end is the last stable offset). Blocks up to
 * request_timeout_ms. UNKNOWN_TOPIC, TIMED_OUT or a broker error, with
 * errstr. */
gregor_err gregor_consumer_watermarks(gregor_consumer *c, const char *topic, int32_t partition, int64_t *low,
                                      int64_t *high, char *errstr, size_t errstr_size) GREGOR_MUST_CHECK;

/* ------------------------------------------------------------- offsets */

/* One partition's offset for commit / committed. */
typedef struct gregor_topic_offset {
    const char *topic;
    int32_t partition;
    int64_t offset;       /* next offset to consume; -1 from committed(): none stored */
    const char *metadata; /* commit: NULL for none; committed(): owned by the list */
    gregor_err err;       /* per-partition result */
} gregor_topic_offset;

/* Called with the result of an asynchronous commit: the offsets as they
 * were sent (borrowed for the call) with per-partition errors, and the
 * first error (or OK). */
typedef void (*gregor_commit_cb)(gregor_err err, const gregor_topic_offset *offsets, size_t n, void *opaque);

/* Commits offsets to the group (group_id must be set). `offsets` NULL
 * (n 0) commits the current positions of every assigned partition that has
 * one (enable_auto_offset_store=false: the stored offsets not yet
 * committed). `metadata` (may be NULL) is stored with every offset that has none of
 * its own. Synchronous when cb is NULL: waits up to commit_timeout_ms and
 * returns the first error (per-partition errors in offsets[i].err);
 * otherwise queues the commit, returns at once, and cb runs later on the
 * thread that polls (see the threading rule). STATE without group_id.
 * Any thread; `offsets` is borrowed for the call. */
gregor_err gregor_consumer_commit(gregor_consumer *c, gregor_topic_offset *offsets, size_t n,
                                  const char *metadata, gregor_commit_cb cb, void *opaque, char *errstr,
                                  size_t errstr_size) GREGOR_MUST_CHECK;

/* Records that the application has processed partition `partition` of
 * `topic` up to `next_offset` (the offset of the next message to process,
 * e.g. gregor_batch_next_offset()), with the leader epoch of the record
 * before it (gregor_batch_leader_epoch(); -1 unknown). Needs
 * enable_auto_offset_store=false; later commits without offsets commit it
 * (see the introduction). A later store replaces an earlier one, larger or
 * not. Assigning a partition that was not assigned forgets what was stored
 * for it. `topic` is borrowed. Any thread, also while another thread polls.
 * Errors: INVALID_ARG (next_offset < 0), STATE (the partition is not
 * assigned, e.g. unassigned after its batch was polled, or
 * enable_auto_offset_store is true); nothing is stored then. */
gregor_err gregor_consumer_store_offset(gregor_consumer *c, const char *topic, int32_t partition,
                                        int64_t next_offset, int32_t leader_epoch) GREGOR_MUST_CHECK;

/* ------------------------------------------------ list-based assignment */

/* Adds the `n` partitions of `tps` (borrowed; topic, partition and offset
 * read) to the assignment, each starting at its offset (>= 0,
 * GREGOR_OFFSET_BEGINNING, _END or _COMMITTED; not _TIMESTAMP). Partitions
 * already assigned are seeked; the others keep theirs. Does not block:
 * metadata and start offsets are resolved in the background, the committed
 * offsets of the whole list with one OffsetFetch (on the committer thread;
 * a partition with none stored starts at auto_offset_reset). A partition
 * whose committed offset cannot be read (after retrying for
 * commit_timeout_ms), or that has none with auto_offset_reset=error, fails:
 * poll reports it once, as other partition errors, and it stays stopped
 * until seeked. Until resolved a partition's position is -1, and a commit
 * of positions leaves it out.
 * Errors: INVALID_ARG naming the first bad entry (nothing is assigned
 * then), NOMEM (some may be assigned). Application thread. */
gregor_err gregor_consumer_assign_list(gregor_consumer *c, const gregor_topic_offset *tps, size_t n, char *errstr,
                                       size_t errstr_size) GREGOR_MUST_CHECK;

/* Removes the `n` partitions of `tps` (borrowed; topic and partition read)
 * from the assignment, as gregor_consumer_unassign() does for each: their
 * queued messages are dropped (releasing their prefetch memory), answers
 * in flight for them are ignored and they are not fetched again; what was
 * stored for them is not committed. Returns UNKNOWN_TOPIC when one was not
 * assigned (the others are unassigned all the same). Application thread. */
gregor_err gregor_consumer_unassign_list(gregor_consumer *c, const gregor_topic_offset *tps,
                                         size_t n) GREGOR_MUST_CHECK;

/* The current assignment: *out gets a malloc'd array of *n entries (NULL
 * and 0 when nothing is assigned or on failure), each with its topic (a
 * copy owned by the array), partition, position in `offset` (-1 while its
 * start is resolved) and `err` the error that stopped it (OK when none).
 * Free it with gregor_topic_offsets_free(). NOMEM. Application thread. */
gregor_err gregor_consumer_assignment(gregor_consumer *c, gregor_topic_offset **out, size_t *n) GREGOR_MUST_CHECK;

/* Frees an array of `n` entries whose topic and metadata strings it owns
 * (as gregor_consumer_assignment() returns). NULL does nothing. */
void gregor_topic_offsets_free(gregor_topic_offset *tps, size_t n);

/* Reads the group's committed offsets of `n` partitions into offsets[i]
 * (topic and partition set by the caller; offset -1 when none is stored;
 * metadata strings are owned by the consumer until the next call).
 * Blocks up to commit_timeout_ms. */
gregor_err gregor_consumer_committed(gregor_consumer *c, gregor_topic_offset *offsets, size_t n, char *errstr,
                                     size_t errstr_size) GREGOR_MUST_CHECK;

/* The client the consumer runs on (for metadata), borrowed: valid until the
 * consumer is destroyed (with gregor_consumer_new_on(), the caller's). */
gregor_client *gregor_consumer_client(gregor_consumer *c);

#ifdef __cplusplus
}
#endif
#endif
