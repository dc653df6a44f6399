/* consumer/offsets_int.h — the committer shared by consumer/offsets.c
 * (requests to the group coordinator) and consumer/committer.c (the thread
 * for asynchronous and automatic commits, and the callback queue).
 *
 * Threading: `lock` guards the fields marked (lock); the rest is set at
 * creation.
 */
#ifndef GREGOR_CONSUMER_OFFSETS_INT_H
#define GREGOR_CONSUMER_OFFSETS_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "consumer/consumer_int.h"

/* One queued asynchronous commit, with its own copy of the offsets. */
typedef struct commit_job {
    struct commit_job *next;
    gregor_topic_offset *offs; /* strings copied into `strings` */
    int32_t *epochs;           /* NULL: unknown */
    size_t n;
    char *metadata;
    char *strings;
    gregor_commit_cb cb;
    void *opaque;
    gregor_err err;
} commit_job;

/* The committer of one consumer's group. */
struct offset_mgr {
    gregor_consumer *c;
    char *group;
    bool auto_commit;
    int32_t interval_ms;
    int32_t timeout_ms;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    /* (lock) */
    int32_t coordinator; /* -1: unknown */
    /* the group member commits are made for (offsets_set_member) */
    int32_t generation;  /* -1: none (a simple consumer) */
    char member_id[256];
    char instance_id[256];
    uint32_t find_turn;  /* which broker FindCoordinator asks next */
    commit_job *jobs, *jobs_tail;
    commit_job *done, *done_tail;
    bool stop;
    bool resolve;        /* consumer_resolve_committed() is wanted */
    pthread_t thread;
    /* committed() metadata strings, the caller's until the next call */
    char **meta;
    size_t n_meta;
};

/* Frees the committed() metadata strings. (offsets.c) */
void offsets_free_meta(offset_mgr *o);

#endif
