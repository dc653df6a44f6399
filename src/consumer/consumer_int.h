/* consumer/consumer_int.h — the inside of a gregor_consumer, shared by the
 * files of src/consumer/.
 *
 * Layout: the consumer holds one `cpart` per assigned partition (never
 * freed before the consumer, so in-flight requests may point at them), a
 * FIFO of decoded batches ready for poll(), and the settings read from the
 * config at creation.
 *
 *   application thread          loop thread (fetcher.c, list_offsets.c)
 *   ------------------          ---------------------------------------
 *   assign / seek: gen++,        kick: picks partitions to fetch or to
 *     state, offsets, kick         resolve, one Fetch per leader at a time
 *   poll: pops batches whose     responses: records -> batches (chunk.c),
 *     gen is current, advances     fetch_offset advances, errors set state
 *     position                     or back off and refresh metadata
 *
 * `gen` counts seeks: whatever was requested or decoded under an older
 * generation is dropped, so a seek is never followed by stale messages.
 *
 * Threading: every field of the consumer and of its cparts marked (lock) is
 * read and written under `lock`; (loop) fields only on the loop thread;
 * the rest is set at creation. The committer (offsets.c) has its own lock.
 */
#ifndef GREGOR_CONSUMER_CONSUMER_INT_H
#define GREGOR_CONSUMER_CONSUMER_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client/client.h"
#include "client/gate.h"
#include "gregor/consumer.h"
#include "net/loop.h"
#include "protocol/gen/fetch.h"
#include "protocol/tp_groups.h"

/* ------------------------------------------------------- fetch memory */

/* The account of fetched bytes held in memory (fetch_mem.c): what
 * prefetch_bytes bounds. Reference counted; any thread. */
typedef struct fetch_mem {
    atomic_int refs;
    atomic_size_t held;
    size_t limit;             /* prefetch_bytes */
    pthread_mutex_t lock;     /* guards owner; never held while taking the consumer's lock */
    gregor_consumer *owner;   /* NULL once the consumer is being destroyed */
} fetch_mem;

/* A new account (one reference, the consumer's); NULL on NOMEM. */
fetch_mem *fetch_mem_new(gregor_consumer *owner, size_t limit);
fetch_mem *fetch_mem_ref(fetch_mem *m);     /* NULL stays NULL */
void fetch_mem_unref(fetch_mem *m);         /* NULL does nothing */
/* The consumer is going: no more kicks. */
void fetch_mem_disown(fetch_mem *m);
/* Counts bytes now held / freed (NULL does nothing). A release that brings
 * the total below the limit posts a kick to the owner's loop. */
void fetch_mem_add(fetch_mem *m, size_t bytes);
void fetch_mem_release(fetch_mem *m, size_t bytes);
/* True when the total is at or above the limit: no new Fetch. */
bool fetch_mem_full(fetch_mem *m);
size_t fetch_mem_held(fetch_mem *m);

/* ------------------------------------------------------- fetch buffers */

/* One Fetch response frame, shared by the batches decoded from it. */
typedef struct fetch_buf {
    atomic_int refs;
    uint8_t *frame;  /* malloc'd */
    size_t bytes;    /* counted in `mem` until the frame is freed */
    fetch_mem *mem;  /* a reference, or NULL (tests) */
} fetch_buf;

/* Takes `frame` (frame_bytes long) and counts it in `mem` (referenced; may
 * be NULL). NULL on NOMEM (the frame is then not taken). */
fetch_buf *fetch_buf_new(uint8_t *frame, size_t frame_bytes, fetch_mem *mem);
fetch_buf *fetch_buf_ref(fetch_buf *b);
/* Drops a reference; frees the frame on the last. NULL does nothing. */
void fetch_buf_unref(fetch_buf *b);

/* A batch: the messages of one partition from one Fetch response. It is
 * what poll() hands out; while queued it is linked through `next`. */
struct gregor_batch {
    struct gregor_batch *next;
    uint64_t gen;         /* the partition's generation it was fetched under */
    int64_t next_offset;  /* the position after this batch */
    int32_t next_epoch;   /* leader epoch of the last record read (the one before next_offset), -1: none */
    size_t held;          /* bytes of its own (arrays, decompression buffers) counted in buf->mem */
    struct cpart *part;   /* only while queued: the consumer may be gone later */
    fetch_buf *buf;
    uint8_t **zbufs;      /* decompression buffers the messages point into */
    size_t n_zbufs, cap_zbufs;
    gregor_message *msgs;
    size_t n_msgs, cap_msgs;
    gregor_header *hdrs;
    size_t n_hdrs, cap_hdrs;
    int32_t partition;
    char topic[];         /* NUL-terminated copy: the batch may outlive the consumer */
};

/* What chunk_build() needs to know about the partition and the response. */
typedef struct chunk_input {
    const char *topic;
    int32_t partition;
    int64_t fetch_offset;
    const uint8_t *records;
    size_t records_len;
    bool read_committed;
    bool check_crcs;
    const proto_fetch_response_aborted_transaction *aborted; /* any order; may be NULL */
    int32_t n_aborted;
} chunk_input;

/* Decodes the records of one partition into a new batch (returned owned,
 * referencing `buf`): messages at or above fetch_offset, control records
 * and (read_committed) aborted transactional records left out.
 * *next_offset gets the offset to fetch next; *partial_size the size a
 * fetch must allow to get a partial trailing entry whole (0: none).
 * Errors: NOMEM, or the reader's error (CRC, MALFORMED, UNSUPPORTED,
 * COMPRESSION, TOO_LARGE) with `what` and the offset at fault. Loop thread
 * or tests; no locks. */
gregor_err chunk_build(const chunk_input *in, fetch_buf *buf, gregor_batch **out, int64_t *next_offset,
                       size_t *partial_size, const char **what, int64_t *err_offset) GREGOR_MUST_CHECK;

/* --------------------------------------------------------- partitions */

typedef enum cpart_state {
    CPART_NEED_OFFSET, /* resolve `reset_ts` with ListOffsets */
    CPART_READY,       /* fetch from fetch_offset */
    CPART_VALIDATE,    /* ask the leader whether fetch_offset survived (OffsetForLeaderEpoch) */
    CPART_FAILED,      /* stopped until seeked: err/errstr say why */
    CPART_NEED_COMMITTED /* assign_list(COMMITTED): the committer thread asks OffsetFetch (assign_list.c) */
} cpart_state;

typedef struct cpart {
    char *topic;
    int32_t partition;
    /* (lock) */
    uint64_t gen;
    cpart_state state;
    int64_t reset_ts;      /* NEED_OFFSET: -2 earliest, -1 latest, else a timestamp */
    int64_t fetch_offset;  /* next offset to fetch */
    int64_t position;      /* next offset poll returns */
    int64_t consumed;      /* position when the latest poll() began: what auto-commit stores */
    /* KIP-320 leader epochs of the records before those offsets (-1: unknown) */
    int32_t fetch_epoch, position_epoch, consumed_epoch;
    int32_t leader_epoch;  /* the highest leader epoch seen in the metadata, -1: none */
    bool validate_oor;     /* VALIDATE after OFFSET_OUT_OF_RANGE: reset unless truncated */
    int64_t high_watermark;
    int64_t log_start_offset;
    int64_t committed;     /* last offset committed (auto-commit skips unchanged) */
    int64_t stored;        /* gregor_consumer_store_offset(), -1: none since assigned */
    int32_t stored_epoch;
    bool assigned;
    bool paused;
    bool in_flight;        /* a Fetch or ListOffsets for it is outstanding */
    bool err_reported;
    int64_t retry_at_ms;   /* no request before this time (backoff) */
    size_t fetch_size_min; /* a partial entry was this large (Fetch v0-2) */
    gregor_err err;
    int64_t err_offset;    /* the offset `err` concerns, -1 when none */
    char errstr[256];
} cpart;

/* ----------------------------------------------------------- consumer */

typedef struct offset_mgr offset_mgr; /* offsets.c */

struct gregor_consumer {
    gregor_client *client;   /* a reference (client_ref) */
    bool own_client;         /* made by gregor_consumer_new, not shared */
    client_gate gate;        /* our requests in flight on the client's connections */
    /* settings */
    int32_t fetch_min_bytes;
    int32_t fetch_max_wait_ms;
    int32_t fetch_max_bytes;
    int32_t part_max_bytes;
    size_t prefetch_bytes;
    int32_t backoff_ms;
    int32_t request_timeout_ms;
    int64_t reset_policy; /* GREGOR_OFFSET_BEGINNING, _END, or 0 for "error" */
    bool read_committed;
    bool check_crcs;
    bool auto_offset_store;  /* false: commits without offsets take `stored`, not positions */
    offset_mgr *offs;        /* NULL without group_id */
    /* Serializes OffsetFetch calls (application and committer threads):
     * offsets.c keeps the metadata strings of the latest answer. */
    pthread_mutex_t fetch_lock;
    char **committed_meta;   /* (fetch_lock) committed()'s metadata strings, the caller's until the next call */
    size_t n_committed_meta;
    fetch_mem *mem;          /* fetched bytes held, queued or handed out */

    pthread_mutex_t lock;
    pthread_cond_t cond;  /* poll waits: a batch, an error or a commit result */
    /* (lock) */
    cpart **parts;
    size_t n_parts, cap_parts;
    gregor_batch *q_head, *q_tail;
    bool kick_posted;
    bool closing;
    bool wakeup;          /* gregor_consumer_wakeup(): the next wait in poll returns at once */
    /* application thread: what the latest poll reported */
    gregor_consumer_error poll_err;
    char poll_errstr[256];
    /* (loop) */
    int32_t *busy_nodes;  /* leaders with a Fetch in flight */
    size_t n_busy, cap_busy;
    net_timer retry_timer;
};

/* Waits up to request_timeout_ms until the metadata lists `topic` with
 * `partition`; UNKNOWN_TOPIC when two fresh answers say it does not exist.
 * Application thread. */
gregor_err consumer_wait_partition(gregor_consumer *c, const char *topic, int32_t partition, char *errstr,
                                   size_t n) GREGOR_MUST_CHECK;

/* The assigned (or formerly assigned) cpart, or NULL. (lock) */
cpart *consumer_find_part(gregor_consumer *c, const char *topic, int32_t partition);
/* Marks `partition` of `topic` (copied) assigned and not paused, creating
 * its cpart when new; what was stored for a partition not assigned until
 * now is forgotten. The caller then gives it a start position. NULL on
 * NOMEM. (lock) */
cpart *consumer_assign_part_locked(gregor_consumer *c, const char *topic, int32_t partition);
/* Removes a partition from the assignment: its queued batches are dropped
 * and answers in flight for it ignored. UNKNOWN_TOPIC when not assigned.
 * (lock; assign_list.c) */
gregor_err consumer_unassign_locked(gregor_consumer *c, const char *topic, int32_t partition) GREGOR_MUST_CHECK;
/* OK for an offset >= 0 or a GREGOR_OFFSET_* value (TIMESTAMP with
 * timestamp_ms >= 0); INVALID_ARG with errstr otherwise. */
gregor_err consumer_check_offset(int64_t offset, int64_t timestamp_ms, char *errstr, size_t n) GREGOR_MUST_CHECK;
/* Drops queued batches of `p` (all of them when p is NULL); the memory
 * freed may let other partitions fetch again. (lock) */
void consumer_drop_queued_locked(gregor_consumer *c, const cpart *p);

/* Bytes of fetched data held (fetch_mem_held), queued or handed out: for
 * tests. Any thread. */
size_t consumer_prefetch_held(gregor_consumer *c);

/* Asks the loop thread to look for work (fetches, ListOffsets). Any
 * thread; call with `lock` held. Coalesces: one job queued at a time. */
void consumer_kick_locked(gregor_consumer *c);

/* Fails a partition with a message and the offset at fault (-1: none)
 * (lock held); poll reports it once. */
void consumer_fail_part_locked(gregor_consumer *c, cpart *p, gregor_err err, int64_t offset, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* (loop) The job consumer_kick_locked() posts: sends the Fetch and
 * ListOffsets requests that can go now, arms the retry timer for the rest. */
void fetcher_kick(net_loop *l, void *arg);
/* (loop) The retry timer's callback: the same as a kick. */
void fetcher_timer_fired(net_loop *l, void *arg);

/* (loop) Sends one ListOffsets per leader for the given partitions (taken
 * under the lock by fetcher_kick, marked in_flight). */
typedef struct offset_item {
    cpart *p;
    uint64_t gen;
    int64_t timestamp;
    int32_t leader_epoch; /* the leader's epoch in the metadata, -1: unknown */
    int32_t last_epoch;   /* validation: the epoch of the record before the offset */
} offset_item;
void list_offsets_send(gregor_consumer *c, int32_t leader, offset_item *items, size_t n);
/* (loop) Sends one OffsetForLeaderEpoch for partitions in CPART_VALIDATE
 * (validate.c); items carry the fetch offset in `timestamp`. */
void validate_send(gregor_consumer *c, int32_t leader, offset_item *items, size_t n);

/* (part_req.c) Groups `n` items by topic into *g (fini it): items is an
 * array of structs of `stride` bytes whose first member is a cpart *.
 * NOMEM leaves *g empty. */
gregor_err consumer_group_parts(proto_tp_groups *g, const void *items, size_t n, size_t stride) GREGOR_MUST_CHECK;

/* A ListOffsets or OffsetForLeaderEpoch request to one leader: the request
 * opaque of the net_request. */
typedef struct part_req {
    gregor_consumer *c;
    int32_t node;
    offset_item *items; /* owned */
    size_t n;
    proto_tp_groups tps; /* items grouped by topic, and the lookup of the answer */
} part_req;

/* (loop) Sends `req` (its opaque becomes the part_req) to `leader` for
 * `items` (taken, marked in_flight by the caller); when it cannot be sent
 * the partitions back off. */
void part_req_send(gregor_consumer *c, int32_t leader, offset_item *items, size_t n, net_request req);
/* (loop) The end of a done callback, after the answer was applied: clears
 * in_flight, backs off partitions still in `waiting` (unanswered or
 * failed), kicks, frees `r`. With `unsupported` set, an UNSUPPORTED
 * request calls it instead for each partition still waiting (lock held). */
void part_req_finish(part_req *r, gregor_err err, cpart_state waiting,
                     void (*unsupported)(gregor_consumer *c, cpart *p, const offset_item *it));

/* Points `p` at a start position (an offset >= 0 or a GREGOR_OFFSET_*
 * value), with the leader epoch of the record before it (-1: unknown);
 * drops what was fetched for it. GREGOR_OFFSET_COMMITTED leaves it in
 * CPART_NEED_COMMITTED for consumer_resolve_committed(). Lock held. */
void consumer_start_at_locked(gregor_consumer *c, cpart *p, int64_t offset, int64_t timestamp_ms, int32_t epoch);
/* OFFSET_OUT_OF_RANGE at `offset`, no truncation: auto_offset_reset, or
 * the partition fails (lock held). */
void consumer_out_of_range_locked(gregor_consumer *c, cpart *p, int64_t offset);

/* Backs a partition off after a retriable error (lock held). */
void consumer_backoff_locked(gregor_consumer *c, cpart *p);

/* ------------------------------------------------------------ offsets */

/* Creates the committer for `group_id` (copied); NULL on NOMEM. */
offset_mgr *offsets_new(gregor_consumer *c, const char *group_id, bool auto_commit, int32_t interval_ms,
                     int32_t timeout_ms);
/* Stops the committer thread after its queued commits; frees. */
void offsets_destroy(offset_mgr *o);
/* Runs the callbacks of finished asynchronous commits. Application thread. */
void offsets_run_callbacks(offset_mgr *o);
/* Blocking commit / fetch of committed offsets (any thread but the loop).
 * `epochs` (may be NULL: all unknown) are the leader epochs stored with
 * the commit (OffsetCommit v6+), or filled from OffsetFetch (v5+; -1 when
 * none is stored). */
gregor_err offsets_commit_sync(offset_mgr *o, gregor_topic_offset *offs, size_t n, const char *metadata,
                               const int32_t *epochs, char *errstr, size_t errstr_size) GREGOR_MUST_CHECK;
gregor_err offsets_fetch_sync(offset_mgr *o, gregor_topic_offset *offs, size_t n, int32_t *epochs, char *errstr,
                              size_t errstr_size) GREGOR_MUST_CHECK;
/* The group coordinator's node id, found first when unknown (deadline on
 * the net_now_ms clock); retriable failures ask the next broker until the
 * deadline. Any thread but the loop's. */
gregor_err offsets_coordinator(offset_mgr *o, int64_t deadline, int32_t *node, char *errstr,
                               size_t n) GREGOR_MUST_CHECK;
/* Forgets `node` as the coordinator (unless already moved on) and asks for
 * fresh metadata. */
void offsets_forget_coordinator(offset_mgr *o, int32_t node, gregor_err why);
/* True for errors after which the coordinator must be found again. */
bool offsets_coordinator_lost(gregor_err err);
/* Commits from now on are made for this group member (generation -1 and
 * NULL ids: a simple consumer). Any thread. */
void offsets_set_member(offset_mgr *o, int32_t generation, const char *member_id, const char *instance_id);
/* Queues an asynchronous commit; `offs` and `epochs` (may be NULL) are copied. */
gregor_err offsets_commit_async(offset_mgr *o, const gregor_topic_offset *offs, size_t n, const int32_t *epochs,
                                const char *metadata, gregor_commit_cb cb, void *opaque) GREGOR_MUST_CHECK;
/* Which offsets consumer_positions() reports. */
typedef enum consumer_pos_kind {
    CONSUMER_POS_CURRENT,  /* after everything poll has returned (commit(NULL), close) */
    CONSUMER_POS_CONSUMED, /* as of the latest poll() call's start (auto-commit) */
} consumer_pos_kind;

/* The positions of assigned partitions as commit entries (malloc'd array,
 * topics borrowed from the cparts) and their leader epochs (*epochs, a
 * malloc'd array of n, -1 where unknown); `changed_only` skips those
 * already committed. With enable_auto_offset_store=false the stored
 * offsets instead, whatever `kind`, and only those not yet committed.
 * Takes the lock. */
gregor_err consumer_positions(gregor_consumer *c, consumer_pos_kind kind, bool changed_only,
                              gregor_topic_offset **out, int32_t **epochs, size_t *n) GREGOR_MUST_CHECK;
/* (committer thread) Resolves the partitions assign_list() left in
 * CPART_NEED_COMMITTED, with one OffsetFetch for all of them
 * (assign_list.c). Takes the locks. */
void consumer_resolve_committed(gregor_consumer *c);
/* Asks the committer thread to run consumer_resolve_committed(). Any
 * thread. (committer.c) */
void offsets_request_resolve(offset_mgr *o);

/* Records that offsets were committed (for changed_only). Takes the lock. */
void consumer_mark_committed(gregor_consumer *c, const gregor_topic_offset *offs, size_t n);

#endif
