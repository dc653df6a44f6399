/* framework/ledger.h — the offset ledger of one assigned partition: which
 * input offsets were handed to the pipeline and which of them are finished
 * (handler done and every emit acknowledged), so that the offset committed
 * is never above an unfinished message.
 *
 * Layout: a ring of entries in offset order (messages of a partition
 * arrive in offset order), each the offset and a finished flag, addressed
 * by a sequence number the caller keeps with its message. The committable
 * offset is the offset of the first unfinished entry; with none unfinished,
 * the position after the last batch pushed (which may lie past its last
 * message: compacted logs, transaction markers). Finished entries at the
 * head are dropped as they finish, so the ring holds at most the messages
 * in flight (the pipeline pauses fetching at max_in_flight; the ring grows
 * by doubling only while a single fetched batch overshoots that).
 *
 * Threading: none of its own; the pipeline's lock guards it.
 */
#ifndef GREGOR_FRAMEWORK_LEDGER_H
#define GREGOR_FRAMEWORK_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gregor/error.h"

typedef struct fw_ledger_entry {
    int64_t offset;
    bool finished;
} fw_ledger_entry;

typedef struct fw_ledger {
    fw_ledger_entry *ring;
    size_t cap;         /* a power of two */
    uint64_t head_seq;  /* sequence number of ring[head] (the oldest entry kept) */
    uint64_t tail_seq;  /* the next sequence number to hand out */
    int64_t end_offset; /* the position after the last batch pushed; -1 before any */
} fw_ledger;

void fw_ledger_init(fw_ledger *l);
void fw_ledger_fini(fw_ledger *l);

/* Records `offset` (greater than every offset pushed before) as handed out;
 * its sequence number goes to *seq. NOMEM (nothing recorded). */
gregor_err fw_ledger_push(fw_ledger *l, int64_t offset, uint64_t *seq) GREGOR_MUST_CHECK;

/* The position after a batch whose messages were all pushed: the offset
 * to commit once they are finished (moves forward only). */
void fw_ledger_set_end(fw_ledger *l, int64_t next_offset);

/* Marks entry `seq` finished. A sequence number not in the ledger (already
 * dropped, or from before a reset) is ignored. */
void fw_ledger_finish(fw_ledger *l, uint64_t seq);

/* The offset to commit: the first unfinished entry's, or end_offset when
 * none is unfinished; -1 when nothing was ever pushed. */
int64_t fw_ledger_committable(const fw_ledger *l);

/* Entries handed out and not finished. */
size_t fw_ledger_unfinished(const fw_ledger *l);

#endif
