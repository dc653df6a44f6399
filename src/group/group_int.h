/* group/group_int.h — the inside of a gregor_group, shared by the files of
 * src/group/.
 *
 * Two threads meet here:
 *
 *   application thread (group.c, steps.c)   member thread (classic.c or
 *                                             consumer_proto.c, helpers in
 *                                             member.c)
 *   -------------------------------------   ------------------------------
 *   poll: runs queued steps (revoke,        joins, syncs, heartbeats; turns
 *     lost, assign) on the consumer and       each new assignment into steps
 *     the callbacks, then polls the           and, before giving partitions
 *     consumer                                away, waits for their revoke
 *   subscribe / close: tell the member        step to be done
 *     thread through `lock` + `cond`
 *
 * Steps run in the order they were posted; `steps_done` counts them, so the
 * member thread waits for "everything up to step N". `owned` is what the
 * application side has assigned in the consumer: only steps change it, and
 * only on the application thread (under `lock`, so the member thread may
 * read it).
 *
 * Threading: fields marked (lock) under `lock`; (member) only on the member
 * thread; the rest is set at creation.
 */
#ifndef GREGOR_GROUP_GROUP_INT_H
#define GREGOR_GROUP_GROUP_INT_H

#include <pthread.h>
#include <regex.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "consumer/consumer_int.h"
#include "gregor/group.h"
#include "group/assignor.h"

#define GROUP_MAX_ASSIGNORS 4

/* The generation of a step that belongs to none in particular (KIP-848:
 * the member epoch moves on while the application catches up). Steps run
 * whatever g->generation is by then: a fence posts its LOST step after
 * them, and steps run in order. */
#define GROUP_GENERATION_ANY INT32_MIN

/* A membership protocol (group_protocol): its member thread and what close
 * does before joining that thread. */
typedef struct group_protocol {
    const char *name;
    void *(*main)(void *g); /* the member thread; returns once g->stop is set */
    /* Application thread, at close, after g->stop is set and before the
     * member thread is joined (NULL: the thread leaves the group itself). */
    void (*leave)(gregor_group *g);
} group_protocol;

extern const group_protocol group_protocol_classic;  /* classic.c */
extern const group_protocol group_protocol_consumer; /* consumer_proto.c (KIP-848) */

typedef enum group_step_kind {
    GROUP_STEP_REVOKE, /* commit (auto-commit), callback, unassign */
    GROUP_STEP_LOST,   /* callback, unassign: no commit */
    GROUP_STEP_ASSIGN, /* assign at the committed offsets, callback */
} group_step_kind;

/* One rebalance step for the application thread; topics owned by it. */
typedef struct group_step {
    struct group_step *next;
    group_step_kind kind;
    group_tp_list tps; /* topic strings malloc'd, freed with the step */
    int32_t generation; /* ASSIGN: the generation the assignment belongs to */
} group_step;

/* The subscription: topic names or one pattern. */
typedef struct group_sub {
    char **topics; /* sorted, unique */
    size_t n_topics;
    bool has_pattern;
    regex_t pattern;
    char *pattern_text;
} group_sub;

struct gregor_group {
    gregor_consumer *consumer; /* the fetcher, positions and committer; owned */
    gregor_client *client;     /* the consumer's */
    const group_protocol *proto;
    offset_mgr *offs;          /* the consumer's committer */
    cluster_conn_kind conn_kind; /* the member's own connection to the coordinator (cluster_new_member_kind) */
    /* settings */
    char *group_id;
    char *instance_id; /* NULL: dynamic membership */
    char *rack;        /* NULL: none */
    char *remote_assignor; /* KIP-848 ServerAssignor; NULL: the broker's default */
    char *client_id;
    int32_t session_timeout_ms;
    int32_t heartbeat_interval_ms;
    int32_t max_poll_interval_ms; /* also the rebalance timeout */
    int32_t request_timeout_ms;
    int32_t commit_timeout_ms;
    int32_t retry_backoff_ms;
    bool auto_commit;
    const group_assignor *assignors[GROUP_MAX_ASSIGNORS];
    size_t n_assignors;
    bool cooperative; /* every listed assignor is cooperative: incremental rebalances */
    gregor_rebalance_cb cb;
    void *cb_opaque;

    pthread_mutex_t lock;
    pthread_cond_t cond; /* the member thread waits: steps done, subscribe, poll, close */
    /* (lock) */
    group_sub sub;
    uint64_t sub_version;     /* bumped by every subscribe: the member rejoins */
    uint64_t sub_md_generation; /* metadata snapshot current at the subscribe (older ones lack its topics) */
    char member_id[256];
    int32_t generation;       /* -1: not in a generation */
    char protocol[64];        /* the assignor the group chose */
    group_tp_list owned;      /* topics malloc'd */
    group_step *steps, *steps_tail;
    uint64_t steps_posted, steps_done;
    int64_t last_poll_ms;     /* net_now_ms of the latest poll's start */
    bool poll_expired;        /* the member left: max_poll_interval_ms passed without a poll */
    bool poll_expired_report; /* the next poll reports MAX_POLL_EXCEEDED */
    gregor_err fatal;         /* membership failed for good: poll reports it */
    char fatal_str[256];
    bool fatal_reported;
    bool stop;                /* close: the member thread ends */
    bool left;                /* LeaveGroup was sent (or is not to be sent) */
    bool closed;
    uint64_t heartbeats;      /* Heartbeat / ConsumerGroupHeartbeat requests sent (for tests and, later, metrics) */
    bool thread_started;
    pthread_t thread;
    /* application thread */
    bool in_callback;
};

/* Posts a step (takes `tps`, whose topic strings it copies; the list is
 * left empty) and wakes the application's poll. Returns the number the
 * step will have in steps_done, 0 on NOMEM. Takes the lock. */
uint64_t group_post_step(gregor_group *g, group_step_kind kind, group_tp_list *tps, int32_t generation);

/* Runs every queued step (application thread; lock not held). `closing`:
 * ASSIGN steps are dropped. */
void group_run_steps(gregor_group *g, bool closing);

/* Copies `src` with malloc'd topic strings into `dst` (initialized). */
gregor_err group_tp_list_copy(group_tp_list *dst, const group_tp *src, size_t n) GREGOR_MUST_CHECK;
/* Frees the topic strings of a list made by group_tp_list_copy, then the list. */
void group_tp_list_free_strings(group_tp_list *l);

/* The subscribed topics that exist in `md`, with their partition counts
 * (topics borrowed from `md`), sorted by name. (lock) */
gregor_err group_sub_resolve(const group_sub *sub, const gregor_metadata *md, assignor_topic **out,
                             size_t *n) GREGOR_MUST_CHECK;
void group_sub_fini(group_sub *sub);
/* True when `topic` is subscribed (by name or pattern). */
bool group_sub_matches(const group_sub *sub, const char *topic);

/* ---- member.c: shared by the member threads (member thread; each takes
 * g->lock itself) */

/* Records a fatal membership error for poll to report: errstr is `fmt`
 * formatted with the group id, `what` and the error's name (three %s).
 * Returns err. */
gregor_err group_fatal(gregor_group *g, gregor_err err, const char *fmt, const char *what);
/* Gives up `owned` without a handover (a LOST step; the list is emptied,
 * its strings freed) and leaves the generation: g->generation and the
 * committer's become -1. */
void group_lose(gregor_group *g, group_tp_list *owned, const char *member_id, const char *why);
/* Heartbeats when due; returns when it wants to be called next
 * (net_now_ms() clock). */
typedef int64_t (*group_beat_fn)(void *opaque);
/* Waits until the application has run every step up to `id`, calling
 * `beat` when due meanwhile. False when the member stops or the
 * application stopped polling (max_poll_interval_ms). */
bool group_wait_steps(gregor_group *g, uint64_t id, group_beat_fn beat, void *opaque);
/* Waits `ms` on g->cond: close, a new subscription or a step end it early. */
void group_sleep(gregor_group *g, int32_t ms);
/* The member left because the application stopped polling: poll reports
 * MAX_POLL_EXCEEDED once, and the member waits for that poll. */
void group_note_poll_expired(gregor_group *g);
/* One blocking request to the coordinator `node` on the connection `kind`
 * (versions 0..max_version). */
gregor_err group_call(gregor_group *g, int32_t node, cluster_conn_kind kind, int16_t api, int16_t max_version,
                      net_encode_fn encode, void *opaque, int32_t timeout_ms, cluster_reply *reply) GREGOR_MUST_CHECK;

/* The coordinator of the group (FindCoordinator when not known, up to
 * request_timeout_ms); an error that retrying cannot cure is made fatal
 * (group_fatal). */
gregor_err group_coordinator(gregor_group *g, int32_t *node) GREGOR_MUST_CHECK;

static inline buf_slice group_str_slice(const char *s) { return s ? buf_slice_of(s, strlen(s)) : BUF_SLICE_NULL; }

#endif
