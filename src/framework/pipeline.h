/* framework/pipeline.h — one pipeline at run time: its group member thread,
 * its assigned partitions (each with an offset ledger and key lanes), the
 * worker pool running the handler, and the emit path to the producer pool.
 *
 * How a message travels (FRAMEWORK.md):
 *   member thread: gregor_group_poll() -> a batch is copied into one chunk
 *     (fw_chunk: messages and their bytes in one allocation; the consumer's
 *     batch is destroyed at once so fetch memory never waits on a slow
 *     handler) -> each message is pushed to its partition's ledger and to a
 *     lane (ordering partition: one lane; key: lane = hash(key) mod lanes;
 *     none: round robin) -> a lane with work joins the ready queue.
 *   worker (pool.c): takes the first ready lane, takes its head message (or
 *     up to batch_size for a batch handler), runs the handler without any
 *     lock, then DONE releases the handler's reference, RETRY puts the
 *     message back at the lane's head with a backoff (the lane waits, the
 *     others go on), FAIL/exhausted produces it to the dead-letter topic.
 *   emit (emit.c): every emit adds 1 to the message's `pending`; the
 *     delivery report (producer I/O thread) subtracts it.
 *   pending reaching 0: the message is finished in the ledger (or retried,
 *     when an emit failed) and freed.
 *   member thread: every commit_interval_ms commits each ledger's
 *     committable offset that moved; pauses a partition whose held messages
 *     or bytes reach max_in_flight and resumes it below half.
 *   revoke (rebalance callback on the member thread): queued messages of
 *     the partition are dropped, in-flight ones waited for (drain_timeout_ms),
 *     partition_fini runs, the committable offset is committed, then the
 *     partition is given up; work finishing later changes no ledger.
 *
 * Locking: one mutex per pipeline (`lock`) guards partitions, lanes,
 * ledgers, the ready queue and every message field but `pending` (atomic,
 * so delivery reports only lock when a message finishes). Handlers and
 * producer calls never run under it. Fields are marked (lock), (member:
 * the member thread only), (const: set before threads start).
 */
#ifndef GREGOR_FRAMEWORK_PIPELINE_H
#define GREGOR_FRAMEWORK_PIPELINE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "framework/config.h"
#include "framework/ctx.h"
#include "framework/fwlog.h"
#include "framework/ledger.h"
#include "framework/metrics.h"
#include "framework/supervisor.h"
#include "gregor/group.h"
#include "gregor/producer.h"
#include "gregor/worker.h"

typedef struct fw_pipeline fw_pipeline;
typedef struct fw_part fw_part;
typedef struct fw_lane fw_lane;
typedef struct fw_chunk fw_chunk;

/* One input message in flight. */
typedef struct fw_msg {
    gregor_message m;      /* views into the chunk (const) */
    fw_chunk *chunk;       /* (const) */
    fw_lane *lane;         /* its lane; NULL for partition_fini's emits (const) */
    struct fw_msg *next;   /* lane queue link (lock) */
    atomic_int pending;    /* 1 for the handler until it is done, +1 per emit in flight */
    uint64_t seq;          /* its ledger entry (const) */
    int attempt;           /* handler calls so far (lock) */
    bool in_worker;        /* taken from its lane by a worker (lock) */
    bool dropped;          /* its partition was revoked or lost: finish nothing (lock) */
    bool emit_failed;      /* an emit's delivery failed: retry when pending reaches 0 (lock) */
    bool to_dead_letter;   /* its next turn produces it to the dead-letter topic (lock) */
    char *error;           /* why the last attempt failed (malloc'd; lock) */
} fw_msg;

/* A copied consumer batch: `n` messages of one partition and their bytes. */
struct fw_chunk {
    fw_part *part;
    size_t live;           /* messages not yet freed (lock) */
    size_t bytes;          /* the allocation's size, counted in part->held_bytes */
    fw_msg msgs[];
};

struct fw_lane {
    fw_part *part;
    fw_msg *head, *tail;   /* queued messages (lock) */
    bool busy;             /* a worker runs one of its messages (lock) */
    bool ready;            /* in the pipeline's ready queue (lock) */
    bool delayed;          /* waiting for not_before_ms (lock) */
    int64_t not_before_ms; /* a retry's backoff (lock) */
    fw_lane *next_ready;   /* (lock) */
    /* For metrics, per message: written only by the worker that has the
     * lane busy (the lock hands it over), so a relaxed load and store
     * (fw_counter_add_1w) with no locked instruction; read by any thread. */
    atomic_uint_fast64_t processed, emitted;
};

typedef enum fw_part_state { FW_PART_ACTIVE, FW_PART_REVOKING, FW_PART_GONE } fw_part_state;

struct fw_part {
    fw_pipeline *pl;
    char *topic;
    int32_t partition;
    fw_part_state state;   /* (lock) */
    fw_ledger ledger;      /* (lock) */
    fw_lane *lanes;        /* pl->n_lanes of them */
    uint32_t rr;           /* round-robin lane of ordering none (lock) */
    size_t held_msgs;      /* messages not yet freed (lock) */
    size_t held_bytes;     /* bytes of their chunks (lock) */
    size_t outstanding;    /* messages taken by workers and not finished (lock) */
    bool paused;           /* fetching paused by us (lock; changed by the member) */
    bool stopped;          /* a message could not be processed and there is no dead letter (lock) */
    bool fini_done;        /* partition_fini ran (lock) */
    int64_t committed;     /* the last offset committed, -1 none (lock) */
    int64_t commit_ms;     /* clock_mono_ms() of the last commit that succeeded, 0 none (lock) */
    /* For metrics (metrics.c); processed and emitted are the lanes'. */
    struct {
        uint64_t consumed, failed, retried, dead_lettered; /* (lock) */
        atomic_uint_fast64_t fini_emitted;                 /* partition_fini's emits (no lock) */
    } stats;
    void *pstate;          /* partition_init's */
    fw_part *next;         /* the pipeline's list (lock) */
};

/* An output at run time. */
typedef struct fw_output_rt {
    const fw_output *conf;
    gregor_producer *producer;
} fw_output_rt;

struct fw_pipeline {
    const fw_pipeline_conf *conf;          /* (const) */
    const gregor_handler *handler;         /* (const) */
    fw_supervisor *sup;                    /* (const) */
    void *state;                           /* init's (const after init) */
    bool state_inited;                     /* init ran and succeeded: fini runs (const) */
    gregor_params params;                  /* (const) */
    fw_output_rt *outputs;                 /* (const) */
    gregor_producer *dlq_producer;         /* (const) NULL without dead letter */
    gregor_group *group;                   /* (member) */
    size_t n_lanes;                        /* (const) */

    pthread_mutex_t lock;
    pthread_cond_t work_cv;                /* workers wait for a ready lane */
    pthread_cond_t drain_cv;               /* the member waits for outstanding work */
    fw_part *parts;                        /* (lock) */
    fw_lane *ready_head, *ready_tail;      /* (lock) */
    size_t n_delayed;                      /* lanes waiting for a backoff (lock) */
    bool workers_stop;                     /* (lock) */
    bool resume_wanted;                    /* a paused partition drained (lock) */

    pthread_t member_thread;
    pthread_t *workers;
    size_t n_workers;                      /* started */
    bool member_started;
    atomic_bool stopping;
    atomic_bool finished;                  /* the member thread is done */
    gregor_err fatal;                      /* (lock) */
    char fatal_text[512];                  /* (lock) */

    struct {
        atomic_uint_fast64_t consumed, processed, emitted, delivered, retried, dead_lettered, commits,
            stopped_partitions, partitions, held_bytes;
        atomic_uint_fast64_t failed;      /* handler attempts that failed (each message of a batch) */
        atomic_uint_fast64_t rebalances;  /* assignment callbacks: assigned, revoked or lost */
        atomic_int_fast64_t commit_ms;    /* clock_mono_ms() of the last successful commit, 0 none */
    } stats;
    fw_latency *latency;                   /* handler calls, one histogram per worker (metrics.h; const) */
    size_t n_latency;                      /* conf->threads of them (const) */
    atomic_size_t latency_slots;           /* handed out to workers as they start */
};

/* pipeline.c */
gregor_err fw_pipeline_init(fw_pipeline *pl, fw_supervisor *sup, const fw_pipeline_conf *conf,
                            gregor_client *client, char *errstr, size_t errstr_size) GREGOR_MUST_CHECK;
gregor_err fw_pipeline_start(fw_pipeline *pl, char *errstr, size_t errstr_size) GREGOR_MUST_CHECK;
void fw_pipeline_stop(fw_pipeline *pl);
void fw_pipeline_join(fw_pipeline *pl);
void fw_pipeline_fini(fw_pipeline *pl);

/* The partition `topic` / `partition` of the pipeline, or NULL. (lock, or
 * the member thread, which alone changes the list) */
fw_part *fw_part_find_locked(fw_pipeline *pl, const char *topic, int32_t partition);

/* rebalance.c */
/* The group's rebalance callback (opaque: the pipeline). (member) */
void fw_on_rebalance(gregor_group *g, gregor_rebalance_kind kind, const gregor_topic_offset *tps, size_t n,
                     void *opaque);
/* Commits the committable offset of every partition in `only` (or of every
 * active one when only is NULL) that moved. Synchronous when sync. (member) */
void fw_commit_ledgers(fw_pipeline *pl, fw_part **only, size_t n_only, bool sync);
/* Drops a leaving partition's queued messages and takes its lanes out of
 * the ready queue. (lock) */
void fw_part_drop_queued_locked(fw_pipeline *pl, fw_part *p);

/* pool.c: the worker threads and the ready queue. */
gregor_err fw_pool_start(fw_pipeline *pl) GREGOR_MUST_CHECK;
void fw_pool_stop(fw_pipeline *pl);
/* Puts a lane with work in the ready queue unless it is busy, delayed or
 * already there. (lock) */
void fw_lane_schedule(fw_pipeline *pl, fw_lane *lane);

/* message.c: message lifetime. */
/* Drops the handler's reference (or an emit's) of a message; the last one
 * finishes it (lock NOT held: takes it when it reaches 0). Any thread. */
void fw_msg_unref(fw_pipeline *pl, fw_msg *msg);
/* Finishes a message whose pending reached 0. (lock) */
void fw_msg_finished_locked(fw_pipeline *pl, fw_msg *msg);
/* Frees a message (its chunk when it was the last) and, when its partition
 * is gone and held nothing more, the partition. (lock) */
void fw_msg_free_locked(fw_pipeline *pl, fw_msg *msg);
/* A message left its worker (finished, or put back in its lane): the
 * partition's outstanding count drops, waking a drain at 0. (lock) */
void fw_msg_left_worker_locked(fw_pipeline *pl, fw_msg *msg);
/* Sets msg->error to the text (replacing it). (lock) */
void fw_msg_set_error(fw_msg *msg, const char *text);
/* Frees a partition that is gone and holds no message: partition_fini
 * (if not done yet) with the lock released around it. (lock) */
void fw_part_maybe_free_locked(fw_pipeline *pl, fw_part *part);
/* Whether the member thread should be woken to resume a paused partition. (lock) */
void fw_part_note_drained_locked(fw_pipeline *pl, fw_part *part);

/* emit.c */
gregor_err fw_emit(gregor_ctx *ctx, int output_index, const gregor_emit_message *m, char *errstr,
                   size_t errstr_size);
/* Produces `msg` to the dead-letter topic with the gregor.* headers. */
gregor_err fw_dead_letter(fw_pipeline *pl, fw_msg *msg, char *errstr, size_t errstr_size) GREGOR_MUST_CHECK;
/* The producer pool's delivery callback (arg: unused). */
void fw_on_delivery(const gregor_delivery *d, void *arg);

/* The emit context's argument: the message an emit is charged to. */
typedef struct fw_emit_target {
    fw_pipeline *pl;
    fw_msg *msg;           /* NULL for partition_fini's emits */
    fw_part *part;
} fw_emit_target;

/* fwlog_events.c: log events (fwlog.h) with the pipeline's fields: its
 * name and group (fw_pl_ev), a partition (fw_part_ev), a message's topic,
 * partition, offset, attempt and, with log_payloads, its value (fw_msg_ev;
 * borrows the message: emit before it can be freed). Any thread; read
 * msg->attempt under the lock. */
fw_log_event fw_pl_ev(const fw_pipeline *pl, gregor_log_level level, const char *event);
fw_log_event fw_part_ev(const fw_pipeline *pl, const char *topic, int32_t partition, gregor_log_level level,
                        const char *event);
fw_log_event fw_msg_ev(const fw_pipeline *pl, const fw_msg *msg, gregor_log_level level, const char *event);

/* supervisor.c: a pipeline's fatal error stops the supervisor (and is
 * logged); a member thread that ended says so; fw_supervisor_event() logs
 * an event with no fields but its text (prefer fw_log_emit with fw_pl_ev).
 * Any thread. */
void fw_supervisor_fatal(fw_supervisor *s, const char *pipeline, gregor_err err, const char *text);
void fw_supervisor_member_done(fw_supervisor *s);
void fw_supervisor_note_unclean(fw_supervisor *s);
void fw_supervisor_event(fw_supervisor *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The producer named `name` (validated at load), or NULL. */
gregor_producer *fw_supervisor_producer(fw_supervisor *s, const char *name);
const fw_config *fw_supervisor_config(fw_supervisor *s);
/* The pipelines (n of them, in config order), for metrics.c. Any thread
 * while the supervisor exists. */
fw_pipeline *fw_supervisor_pipelines(fw_supervisor *s, size_t *n);
/* The i-th named producer (its name, and the producer to *out), or NULL
 * past the last; the group members' client (producers false) or the
 * producers' (true). For metrics.c; any thread while the supervisor
 * exists. */
const char *fw_supervisor_producer_at(fw_supervisor *s, size_t i, gregor_producer **out);
gregor_client *fw_supervisor_client(fw_supervisor *s, bool producers);

/* pool.c: requeues messages (in order) at the head of their lane after a
 * failed attempt, to run again in `delay_ms`; they are no longer in a
 * worker. (lock) */
void fw_requeue_locked(fw_pipeline *pl, fw_msg **msgs, size_t n, int64_t delay_ms);
/* The backoff before attempt `attempt + 1`. */
int64_t fw_backoff_ms(const fw_pipeline *pl, int attempt);
/* Decides what happens to messages whose attempt `attempt` failed with
 * `why`: retry (backoff), dead letter, or stop the partition. Called with
 * the lock held and the messages out of their lane. (lock) */
void fw_failed_locked(fw_pipeline *pl, fw_msg **msgs, size_t n, bool retryable, const char *why);

#endif
